// SPDX-License-Identifier: MIT
/*
 * The only file that talks to the kernel. Everything above goes through
 * struct assign_sys_ops so the unit tests can put the mock kernel here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/sys.h"

static int lx_open(void *data, const char *path, int flags)
{
	(void)data;
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int lx_openat(void *data, int dirfd, const char *path, int flags)
{
	(void)data;
	int fd = openat(dirfd, path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int lx_close(void *data, int fd)
{
	(void)data;
	/* Linux releases the fd even when close() reports an error. */
	return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

static int lx_ioctl(void *data, int fd, unsigned long request, void *arg)
{
	(void)data;
	int r = ioctl(fd, request, arg);
	return r < 0 ? -errno : r;
}

static ssize_t lx_pread(void *data, int fd, void *buf, size_t count,
			uint64_t offset)
{
	(void)data;
	ssize_t r;
	do
		r = pread(fd, buf, count, (off_t)offset);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static ssize_t lx_pwrite(void *data, int fd, const void *buf, size_t count,
			 uint64_t offset)
{
	(void)data;
	ssize_t r;
	do
		r = pwrite(fd, buf, count, (off_t)offset);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static ssize_t lx_read(void *data, int fd, void *buf, size_t count)
{
	(void)data;
	ssize_t r;
	do
		r = read(fd, buf, count);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static ssize_t lx_write(void *data, int fd, const void *buf, size_t count)
{
	(void)data;
	ssize_t r;
	do
		r = write(fd, buf, count);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static int lx_mmap(void *data, void *addr, size_t length, int prot, int flags,
		   int fd, uint64_t offset, void **ret)
{
	(void)data;
	void *p = mmap(addr, length, prot, flags, fd, (off_t)offset);
	if (p == MAP_FAILED)
		return -errno;
	*ret = p;
	return 0;
}

static int lx_munmap(void *data, void *addr, size_t length)
{
	(void)data;
	return munmap(addr, length) < 0 ? -errno : 0;
}

static int lx_madvise(void *data, void *addr, size_t length, int advice)
{
	(void)data;
	return madvise(addr, length, advice) < 0 ? -errno : 0;
}

static ssize_t lx_readlinkat(void *data, int dirfd, const char *path,
			     char *buf, size_t size)
{
	(void)data;
	ssize_t r = readlinkat(dirfd, path, buf, size);
	return r < 0 ? -errno : r;
}

static int lx_faccessat(void *data, int dirfd, const char *path, int mode)
{
	(void)data;
	return faccessat(dirfd, path, mode, 0) < 0 ? -errno : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int lx_list_dir(void *data, int dirfd, const char *path, char ***names,
		       size_t *n)
{
	(void)data;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, err = 0;

	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nv = realloc(v, ncap * sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[cnt] = strdup(de->d_name);
		if (!v[cnt]) {
			err = -ENOMEM;
			break;
		}
		cnt++;
	}
	closedir(d);
	if (err) {
		strv_free(v, cnt);
		return err;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_str);
	*names = v;
	*n = cnt;
	return 0;
}

static int lx_getrlimit(void *data, int resource, struct rlimit *rlim)
{
	(void)data;
	return getrlimit(resource, rlim) < 0 ? -errno : 0;
}

static int lx_fstat(void *data, int fd, struct stat *st)
{
	(void)data;
	return fstat(fd, st) < 0 ? -errno : 0;
}

/* Room for the SCM_RIGHTS of the most fds a message may carry. */
#define LX_MAX_FDS 253

static ssize_t lx_sendmsg(void *data, int sock, const void *buf, size_t len,
			  const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * LX_MAX_FDS)];
	} c;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	(void)data;
	if (nfds > LX_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *h;

		memset(&c, 0, sizeof(c));
		m.msg_control = c.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
	}
	do
		r = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static ssize_t lx_recvmsg(void *data, int sock, void *buf, size_t len, int *fds,
			  size_t maxfds, size_t *nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * LX_MAX_FDS)];
	} c;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *h;
	size_t n = 0;
	bool extra = false;
	ssize_t r;

	(void)data;
	if (maxfds > LX_MAX_FDS)
		maxfds = LX_MAX_FDS;
	m.msg_control = c.buf;
	/* Room for one fd more than wanted: a message that fills it carries
	 * too many. */
	m.msg_controllen = CMSG_SPACE(sizeof(int) * (maxfds + 1));
	do
		r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
		size_t k;

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			if (n < maxfds)
				fds[n++] = fd;
			else {
				close(fd);
				extra = true;
			}
		}
	}
	if (extra || (m.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
		for (size_t i = 0; i < n; i++)
			close(fds[i]);
		return -EMSGSIZE;
	}
	*nfds = n;
	return r;
}

const struct assign_sys_ops assign_sys_linux = {
	.open = lx_open,
	.openat = lx_openat,
	.close = lx_close,
	.ioctl = lx_ioctl,
	.pread = lx_pread,
	.pwrite = lx_pwrite,
	.read = lx_read,
	.write = lx_write,
	.mmap = lx_mmap,
	.munmap = lx_munmap,
	.madvise = lx_madvise,
	.readlinkat = lx_readlinkat,
	.faccessat = lx_faccessat,
	.list_dir = lx_list_dir,
	.getrlimit = lx_getrlimit,
	.fstat = lx_fstat,
	.sendmsg = lx_sendmsg,
	.recvmsg = lx_recvmsg,
};
