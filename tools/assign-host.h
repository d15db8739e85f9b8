/* SPDX-License-Identifier: MIT */
/*
 * assign-host's parts: assign-host.c (PCI devices, the command line),
 * mdev.c (mediated devices), handoff.c (the helper that hands opened
 * VFIO fds to an unprivileged VMM). Public API only.
 */
#ifndef ASSIGN_HOST_TOOL_H
#define ASSIGN_HOST_TOOL_H

#include <stdbool.h>

struct assign_ctx;

/* Exit codes (documented in docs/assign-host.1). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1, /* the operation failed */
	EXIT_USAGE = 2, /* bad command line */
	EXIT_NOT_READY = 3, /* explain/check: cannot be assigned as it stands */
	EXIT_NODEV = 4, /* no such device, driver or record */
	EXIT_BUSY = 5, /* in use: interface up with addresses, VFs busy */
	EXIT_PERM = 6, /* permission denied: run as root */
	EXIT_TIMEOUT = 7, /* /dev/vfio/N did not appear in time */
};

struct global {
	const char *state_dir;
	const char *color;
	int verbose;
	bool json;
};

extern const char *prog;

/* The exit code of a negative errno. */
int exit_code(int err);
/* "assign-host: WHAT: the library's message" on stderr; the exit code. */
int fail(struct assign_ctx *ctx, int err, const char *what);
/* A usage error on stderr; EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* mdev.c */
/* Whether @name names an mdev rather than a PCI device: a UUID or a path
 * in /sys. */
bool is_mdev_name(const char *name);
int explain_mdev(struct assign_ctx *ctx, const struct global *g,
		 const char *name, bool probe);
int cmd_mdev(struct assign_ctx *ctx, const struct global *g, const char *cmd,
	     int argc, char **argv);

/* handoff.c */
int cmd_handoff(struct assign_ctx *ctx, int argc, char **argv);

#endif
