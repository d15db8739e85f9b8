// SPDX-License-Identifier: MIT
/* sysfs and /proc reads and writes through the seam (core/core.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sys.h"

/* Read @fd (a negative @fd is an open error, passed on) to its end, or
 * size - 1 bytes, into @buf, NUL-terminated, and close it. Returns the
 * length read, or -errno. */
static ssize_t read_text_fd(struct assign_ctx *ctx, int fd, char *buf,
			    size_t size)
{
	ssize_t r;
	size_t got = 0;

	if (fd < 0)
		return fd;
	while (got < size - 1) {
		r = sys_pread(ctx, fd, buf + got, size - 1 - got, got);
		if (r < 0) {
			sys_close(ctx, fd);
			return r;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	sys_close(ctx, fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

int sysfs_read(struct assign_ctx *ctx, const char *path, char *buf,
	       size_t size)
{
	ssize_t got;

	if (size == 0)
		return -EINVAL;
	got = read_text_fd(ctx, sys_openat(ctx, ctx->sysfs_fd, path, O_RDONLY),
			   buf, size);
	if (got < 0)
		return (int)got;
	while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == ' '))
		buf[--got] = '\0';
	return 0;
}

int proc_read(struct assign_ctx *ctx, const char *path, char *buf,
	      size_t size)
{
	ssize_t got;

	if (size == 0)
		return -EINVAL;
	got = read_text_fd(ctx, sys_open(ctx, path, O_RDONLY), buf, size);
	return got < 0 ? (int)got : 0;
}

int sysfs_read_u64(struct assign_ctx *ctx, const char *path, uint64_t *val)
{
	char buf[64], *end;
	unsigned long long v;
	int r;

	r = sysfs_read(ctx, path, buf, sizeof(buf));
	if (r < 0)
		return r;
	errno = 0;
	v = strtoull(buf, &end, 0);
	if (errno || end == buf || *end)
		return -EIO;
	*val = v;
	return 0;
}

int sysfs_write(struct assign_ctx *ctx, const char *path, const char *val)
{
	size_t len = strlen(val);
	ssize_t r;
	int fd;

	fd = sys_openat(ctx, ctx->sysfs_fd, path, O_WRONLY);
	if (fd < 0)
		return fd;
	r = sys_pwrite(ctx, fd, val, len, 0);
	sys_close(ctx, fd);
	if (r < 0)
		return (int)r;
	return (size_t)r == len ? 0 : -EIO;
}

int sysfs_link_name(struct assign_ctx *ctx, const char *path, char *buf,
		    size_t size)
{
	char target[512];
	const char *base;
	ssize_t r;

	r = ctx->sys->readlinkat(ctx->sys_data, ctx->sysfs_fd, path, target,
				 sizeof(target) - 1);
	if (r < 0)
		return (int)r;
	target[r] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, base);
	return 0;
}

int sysfs_exists(struct assign_ctx *ctx, const char *path)
{
	return ctx->sys->faccessat(ctx->sys_data, ctx->sysfs_fd, path, F_OK);
}

int sysfs_list(struct assign_ctx *ctx, const char *path, char ***names,
	       size_t *n)
{
	return ctx->sys->list_dir(ctx->sys_data, ctx->sysfs_fd, path, names,
				  n);
}

void strv_free(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
