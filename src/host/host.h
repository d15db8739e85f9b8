/* SPDX-License-Identifier: MIT */
/*
 * The host layer's internal header (docs/architecture.md), shared by the
 * sources of libassign-host: discovery, viability, binding and netlink.
 * Never installed.
 */
#ifndef LIBASSIGN_HOST_INTERNAL_H
#define LIBASSIGN_HOST_INTERNAL_H

#include <sys/types.h>

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

/* bind.c: the effective options: defaults filled in, the caller's
 * struct assign_host_opts copied up to its size. */
struct host_opts {
	uint32_t flags;
	const char *driver;
	int timeout_ms;
	const char *state_dir;
	const char *dev_dir;
	const char *owner; /* group binding: the device members are moved for */
	int state_fd; /* the state directory, checked; -1: none */
};

int host_opts_get(struct assign_ctx *ctx, const struct assign_host_opts *opts,
		  struct host_opts *out);
/* bind.c: the canonical form of @address and the effective options. */
int host_addr_opts(struct assign_ctx *ctx, const char *address,
		   const struct assign_host_opts *opts,
		   char addr[ASSIGN_PCI_ADDR_LEN], struct host_opts *o);

/* records.c: a device's state record, <state_dir>/<address>: the driver
 * and driver_override it goes back to, and the device it was moved for
 * by a group binding ("" for none). */
struct host_record {
	char driver[ASSIGN_HOST_NAME_LEN];
	char override[ASSIGN_HOST_NAME_LEN];
	char owner[ASSIGN_PCI_ADDR_LEN]; /* "for=": moved for this device */
};

/* records.c: open the state directory o->state_dir into *dfd (-1, and
 * 0 returned, when it does not exist and @create is false), made first
 * with @create. Refused with -EPERM and a message when it could have been
 * written by someone else: not owned by this process's user or root,
 * writable by group or others, a symbolic link, or below a directory
 * someone else could rename entries in. Other errors (-EACCES: cannot
 * create it) with a message too. */
int host_state_open(struct assign_ctx *ctx, const struct host_opts *o,
		    bool create, int *dfd);
void host_state_close(int dfd);
/* records.c: the check host_state_open() makes of the state directory
 * @path (@up 0) or of the directory @up levels above it, whose status is
 * @st: 0, or -EPERM (-ENOTDIR) with the message. For tests. */
struct stat;
int host_state_check(struct assign_ctx *ctx, const char *path, int up,
		     const struct stat *st);

/* records.c: whether @s may be a driver name in a record. */
bool host_valid_driver_name(const char *s);
/* records.c: parse the @len bytes of @addr's record at @text; -EIO with
 * *why saying what is wrong. No message. For tests and fuzzing too. */
int host_record_parse(const char *addr, const char *text, size_t len,
		      struct host_record *rec, const char **why);
/* records.c: read @addr's record from o->state_fd; -ENOENT when there is
 * none (or no state directory), -EIO when it is not a valid record,
 * another negative errno when it cannot be read. Sets no error message. */
int host_record_read(const struct host_opts *o, const char *addr,
		     struct host_record *rec);
/* records.c: host_record_read() with a message for every error but
 * -ENOENT, ending with @fix. */
int host_record_read_msg(struct assign_ctx *ctx, const struct host_opts *o,
			 const char *addr, struct host_record *rec,
			 const char *fix);
/* records.c: the first record of @addr in o->state_fd: it goes back to
 * @driver with @override, and was moved for o->owner. */
int host_record_create(struct assign_ctx *ctx, const struct host_opts *o,
		       const char *addr, const char *driver,
		       const char *override);
/* records.c: remove @addr's record, if there is one. */
void host_record_remove(const struct host_opts *o, const char *addr);
/* records.c: the addresses with a record in o->state_fd, sorted. */
int host_record_list(struct assign_ctx *ctx, const struct host_opts *o,
		     struct assign_host_record_list **ret);

/* records.c: an exclusive lock on the state directory o->state_fd, held
 * until host_state_unlock(); -1 when there is none (the operation then
 * goes ahead unlocked). */
int host_state_lock(const struct host_opts *o);
void host_state_unlock(int fd);

/* bind.c: the pid of another process that holds @node (a path under
 * /dev) open, and its name in @comm; 0 when none. */
pid_t host_node_user(const char *node, char *comm, size_t size);

/* Whether the context talks to the real /sys (libudev can be used). */
static inline bool host_real_sysfs(const struct assign_ctx *ctx)
{
	return ctx->own_sysfs_fd;
}

#endif
