/* SPDX-License-Identifier: MIT */
/*
 * The host layer's internal header (docs/architecture.md), shared by the
 * sources of libassign-host: discovery, viability, binding and netlink.
 * Never installed.
 */
#ifndef LIBASSIGN_HOST_INTERNAL_H
#define LIBASSIGN_HOST_INTERNAL_H

#include <libassign/host.h>

#include "pci/pci.h"

/* Canonical "dddd:bb:dd.f" of @address into @buf; -EINVAL with a message
 * when @address is not a PCI address. */
int host_canon_addr(struct assign_ctx *ctx, const char *address,
		    char buf[ASSIGN_PCI_ADDR_LEN]);

/* -ENODEV with the fix when there is no PCI device @addr (canonical). */
int host_check_exists(struct assign_ctx *ctx, const char *addr);

/* @addr's driver_override into @buf, "" when none is set or it cannot be
 * read. */
void host_read_override(struct assign_ctx *ctx, const char *addr, char *buf,
			size_t size);

/* The network namespace-local interface names of a device's net/ dir. */
int host_netdevs(struct assign_ctx *ctx, const char *addr,
		 char names[][16], unsigned max, unsigned *n);

/* Whether the context talks to the real /sys (libudev can be used). */
static inline bool host_real_sysfs(const struct assign_ctx *ctx)
{
	return ctx->own_sysfs_fd;
}

#endif
