// SPDX-License-Identifier: MIT
/*
 * A program using libassign-host, built against an installed libassign with
 * `pkg-config --cflags --libs libassign-host` alone (tests/install-check.sh,
 * scripts/deb-check.sh). It prints the library's message for a malformed
 * address, which names the address.
 */
#include <stdio.h>
#include <libassign/host.h>

int main(void)
{
	struct assign_ctx *ctx;

	if (assign_ctx_new(&ctx) < 0)
		return 1;
	/* A malformed address fails in the library, with a message. */
	if (assign_host_check_device(ctx, "not-an-address") != -22)
		return 2;
	printf("%s\n", assign_ctx_get_last_error(ctx));
	assign_ctx_unref(ctx);
	return 0;
}
