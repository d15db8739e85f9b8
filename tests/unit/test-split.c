// SPDX-License-Identifier: MIT
/*
 * Unit test of the two shared libraries as a program links them, public
 * API only. libassign-host.so carries its own hidden copy of the core
 * (src/meson.build), error store code included: a failure recorded by
 * host code must still be what libassign.so's assign_ctx_get_last_error()
 * returns, on the thread that failed (docs/errors.md).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <libassign/host.h>
#include <libassign/libassign.h>

#define NOT_PCI(a)                                                            \
	"'" a "' is not a PCI address; use the form dddd:bb:dd.f as printed " \
	"by lspci -D"

struct other {
	struct assign_ctx *ctx;
	int r;
	char msg[256];
};

static void *other_thread(void *arg)
{
	struct other *o = arg;

	o->r = assign_host_check_device(o->ctx, "bogus");
	snprintf(o->msg, sizeof(o->msg), "%s",
		 assign_ctx_get_last_error(o->ctx));
	return NULL;
}

static void test_host_error_in_libassign(void **state)
{
	struct other o = { 0 };
	struct assign_ctx *ctx;
	pthread_t t;
	int r;

	(void)state;
	r = assign_ctx_new(&ctx);
	if (r == -ENOENT)
		skip(); /* no /sys */
	assert_int_equal(r, 0);
	/* libassign-host's code fails, libassign's getter tells. */
	assert_int_equal(assign_host_check_device(ctx, "not-a-device"),
			 -EINVAL);
	assert_string_equal(assign_ctx_get_last_error(ctx),
			    NOT_PCI("not-a-device"));
	/* Another thread: its own failure, ours untouched. */
	o.ctx = ctx;
	assert_int_equal(pthread_create(&t, NULL, other_thread, &o), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(o.r, -EINVAL);
	assert_string_equal(o.msg, NOT_PCI("bogus"));
	assert_string_equal(assign_ctx_get_last_error(ctx),
			    NOT_PCI("not-a-device"));
	assign_ctx_clear_last_error(ctx);
	assert_string_equal(assign_ctx_get_last_error(ctx), "");
	assert_null(assign_ctx_unref(ctx));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_error_in_libassign),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
