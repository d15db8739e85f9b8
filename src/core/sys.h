/* SPDX-License-Identifier: MIT */
/*
 * The syscall seam (docs/architecture.md, docs/mock.md): the only way the
 * library reaches the kernel. core/sys.c holds the real Linux
 * implementation; the unit tests put the mock kernel (tests/mock) in its
 * place with assign_ctx_set_sys(). Never installed.
 */
#ifndef LIBASSIGN_SYS_H
#define LIBASSIGN_SYS_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/core.h"

/*
 * The syscall seam. Every member returns a non-negative value on success
 * and a negative errno on failure (never -1 with errno). Paths given to
 * open() are absolute: device nodes (/dev/vfio/vfio, /dev/vfio/N,
 * /dev/iommu, /dev/vfio/devices/vfioN) and /proc/self/status (read for
 * CAP_IPC_LOCK by the memlock check); sysfs is only reached with the *at
 * calls relative to ctx->sysfs_fd. The library always adds O_CLOEXEC.
 * read() and write() move the streams of fds without a file position: a
 * device's migration data fd and the caller's stream fd (a pipe, a
 * socket, a file).
 */
struct assign_sys_ops {
	int (*open)(void *data, const char *path, int flags);
	int (*openat)(void *data, int dirfd, const char *path, int flags);
	int (*close)(void *data, int fd);
	int (*ioctl)(void *data, int fd, unsigned long request, void *arg);
	ssize_t (*pread)(void *data, int fd, void *buf, size_t count,
			 uint64_t offset);
	ssize_t (*pwrite)(void *data, int fd, const void *buf, size_t count,
			  uint64_t offset);
	/* One read()/write(), retried on EINTR; may move fewer bytes. */
	ssize_t (*read)(void *data, int fd, void *buf, size_t count);
	ssize_t (*write)(void *data, int fd, const void *buf, size_t count);
	/* On success stores the mapping in *ret and returns 0. */
	int (*mmap)(void *data, void *addr, size_t length, int prot, int flags,
		    int fd, uint64_t offset, void **ret);
	int (*munmap)(void *data, void *addr, size_t length);
	int (*madvise)(void *data, void *addr, size_t length, int advice);
	ssize_t (*readlinkat)(void *data, int dirfd, const char *path,
			      char *buf, size_t size);
	/* 0 if path (relative to dirfd) exists, -ENOENT etc. otherwise. */
	int (*faccessat)(void *data, int dirfd, const char *path, int mode);
	/*
	 * List the entries of a directory (without "." and ".."). On success
	 * *names is a malloc'ed array of *n malloc'ed strings, sorted.
	 */
	int (*list_dir)(void *data, int dirfd, const char *path, char ***names,
			size_t *n);
	int (*getrlimit)(void *data, int resource, struct rlimit *rlim);
	/* What an fd is: fstat(2). -EBADF for an fd that is not open. */
	int (*fstat)(void *data, int fd, struct stat *st);
	/*
	 * One message on a connected unix socket, with @nfds fds as
	 * SCM_RIGHTS. Returns the bytes sent.
	 */
	ssize_t (*sendmsg)(void *data, int sock, const void *buf, size_t len,
			   const int *fds, size_t nfds);
	/*
	 * One message from a unix socket into @buf, and the fds that came
	 * with it (close-on-exec) into @fds, their number into *nfds.
	 * Returns the bytes received (0: the peer closed). A message longer
	 * than @len, or with more than @maxfds fds, is -EMSGSIZE, and the
	 * fds that did arrive are closed.
	 */
	ssize_t (*recvmsg)(void *data, int sock, void *buf, size_t len,
			   int *fds, size_t maxfds, size_t *nfds);
};

/* The real Linux implementation (sys.c). */
extern const struct assign_sys_ops assign_sys_linux;

/* Thin wrappers over the seam. */
static inline int sys_open(struct assign_ctx *c, const char *path, int flags)
{
	return c->sys->open(c->sys_data, path, flags);
}
static inline int sys_openat(struct assign_ctx *c, int dirfd, const char *path,
			     int flags)
{
	return c->sys->openat(c->sys_data, dirfd, path, flags);
}
static inline int sys_close(struct assign_ctx *c, int fd)
{
	return c->sys->close(c->sys_data, fd);
}
static inline int sys_ioctl(struct assign_ctx *c, int fd, unsigned long req,
			    void *arg)
{
	return c->sys->ioctl(c->sys_data, fd, req, arg);
}
static inline ssize_t sys_pread(struct assign_ctx *c, int fd, void *buf,
				size_t n, uint64_t off)
{
	return c->sys->pread(c->sys_data, fd, buf, n, off);
}
static inline ssize_t sys_pwrite(struct assign_ctx *c, int fd, const void *buf,
				 size_t n, uint64_t off)
{
	return c->sys->pwrite(c->sys_data, fd, buf, n, off);
}
static inline ssize_t sys_read(struct assign_ctx *c, int fd, void *buf,
			       size_t n)
{
	return c->sys->read(c->sys_data, fd, buf, n);
}
static inline ssize_t sys_write(struct assign_ctx *c, int fd, const void *buf,
				size_t n)
{
	return c->sys->write(c->sys_data, fd, buf, n);
}
static inline int sys_mmap(struct assign_ctx *c, void *addr, size_t len,
			   int prot, int flags, int fd, uint64_t off, void **ret)
{
	return c->sys->mmap(c->sys_data, addr, len, prot, flags, fd, off, ret);
}
static inline int sys_munmap(struct assign_ctx *c, void *addr, size_t len)
{
	return c->sys->munmap(c->sys_data, addr, len);
}
static inline int sys_madvise(struct assign_ctx *c, void *addr, size_t len,
			      int advice)
{
	return c->sys->madvise(c->sys_data, addr, len, advice);
}
static inline int sys_getrlimit(struct assign_ctx *c, int res,
				struct rlimit *rl)
{
	return c->sys->getrlimit(c->sys_data, res, rl);
}
static inline int sys_fstat(struct assign_ctx *c, int fd, struct stat *st)
{
	return c->sys->fstat(c->sys_data, fd, st);
}
static inline ssize_t sys_sendmsg(struct assign_ctx *c, int sock,
				  const void *buf, size_t len, const int *fds,
				  size_t nfds)
{
	return c->sys->sendmsg(c->sys_data, sock, buf, len, fds, nfds);
}
static inline ssize_t sys_recvmsg(struct assign_ctx *c, int sock, void *buf,
				  size_t len, int *fds, size_t maxfds,
				  size_t *nfds)
{
	return c->sys->recvmsg(c->sys_data, sock, buf, len, fds, maxfds, nfds);
}

#endif /* LIBASSIGN_SYS_H */
