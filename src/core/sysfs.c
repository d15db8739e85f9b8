// SPDX-License-Identifier: MIT
/* sysfs and /proc reads and writes through the seam (core/core.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
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

/* The components of a path still to walk: a string consumed from the
 * front, links' targets pushed in front of it. */
struct walk {
	char buf[1024];
	size_t pos; /* next component starts here */
};

static int walk_push(struct walk *w, const char *front)
{
	size_t rest = strlen(w->buf + w->pos), n = strlen(front);

	if (n + 1 + rest + 1 > sizeof(w->buf))
		return -ENAMETOOLONG;
	memmove(w->buf + n + 1, w->buf + w->pos, rest + 1);
	memcpy(w->buf, front, n);
	w->buf[n] = '/';
	w->pos = 0;
	return 0;
}

/* The next component into @c (NUL-terminated), false at the end. */
static bool walk_next(struct walk *w, char *c, size_t size)
{
	size_t n = 0;

	while (w->buf[w->pos] == '/')
		w->pos++;
	if (!w->buf[w->pos])
		return false;
	while (w->buf[w->pos] && w->buf[w->pos] != '/') {
		if (n + 1 < size)
			c[n++] = w->buf[w->pos];
		else
			c[0] = '\0', n = 0, size = 0; /* too long: empty */
		w->pos++;
	}
	c[n] = '\0';
	return true;
}

int sysfs_canonical(struct assign_ctx *ctx, const char *path, char *out,
		    size_t size)
{
	struct walk *w;
	char c[256], target[512];
	size_t len = 0;
	int hops = 0, r = 0;

	if (!size)
		return -ENAMETOOLONG;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (strlen(path) >= sizeof(w->buf)) {
		free(w);
		return -ENAMETOOLONG;
	}
	strcpy(w->buf, path);
	out[0] = '\0';
	while (walk_next(w, c, sizeof(c))) {
		ssize_t n;

		if (!c[0]) {
			r = -ENAMETOOLONG;
			break;
		}
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			char *slash = strrchr(out, '/');

			if (!len) {
				r = -EXDEV;
				break;
			}
			len = slash ? (size_t)(slash - out) : 0;
			out[len] = '\0';
			continue;
		}
		if (len + !!len + strlen(c) + 1 > size) {
			r = -ENAMETOOLONG;
			break;
		}
		if (len)
			out[len++] = '/';
		strcpy(out + len, c);
		n = ctx->sys->readlinkat(ctx->sys_data, ctx->sysfs_fd, out,
					 target, sizeof(target) - 1);
		if (n == -EINVAL) { /* not a link: keep it */
			len += strlen(c);
			continue;
		}
		if (n < 0) {
			r = (int)n;
			break;
		}
		if (n == 0 || target[0] == '/') {
			r = -EXDEV;
			break;
		}
		if (++hops > 40) {
			r = -ELOOP;
			break;
		}
		target[n] = '\0';
		/* The link is resolved against its own directory. */
		out[len ? len - 1 : 0] = '\0';
		len = len ? len - 1 : 0;
		r = walk_push(w, target);
		if (r < 0)
			break;
	}
	free(w);
	if (r < 0)
		out[0] = '\0';
	return r;
}

void strv_free(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
