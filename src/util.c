// SPDX-License-Identifier: MIT
/* PCI addresses, sysfs access through the seam, sysfs text parsers. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Parse exactly @maxdigits or fewer hex digits (at least one). */
static const char *parse_hex(const char *s, unsigned maxdigits, unsigned *out)
{
	unsigned v = 0, i = 0;

	while (i < maxdigits && isxdigit((unsigned char)s[i])) {
		char c = (char)tolower((unsigned char)s[i]);
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		i++;
	}
	if (i == 0 || isxdigit((unsigned char)s[i]))
		return NULL;
	*out = v;
	return s + i;
}

ASSIGN_EXPORT int assign_pci_addr_parse(const char *str,
					struct assign_pci_addr *addr)
{
	unsigned a, b, d, fn;
	const char *p;

	if (!str || !addr)
		return -EINVAL;
	p = parse_hex(str, 4, &a);
	if (!p || *p != ':')
		return -EINVAL;
	p = parse_hex(p + 1, 2, &b);
	if (!p)
		return -EINVAL;
	if (*p == ':') {
		/* domain:bus:dev.fn (a = domain, b = bus) */
		p = parse_hex(p + 1, 2, &d);
		if (!p || *p != '.')
			return -EINVAL;
		p = parse_hex(p + 1, 1, &fn);
		if (!p || *p || d > 0x1f || fn > 7)
			return -EINVAL;
		addr->domain = (uint16_t)a;
		addr->bus = (uint8_t)b;
		addr->dev = (uint8_t)d;
		addr->fn = (uint8_t)fn;
		return 0;
	}
	if (*p != '.')
		return -EINVAL;
	/* bus:dev.fn */
	if (a > 0xff || b > 0x1f)
		return -EINVAL;
	p = parse_hex(p + 1, 1, &fn);
	if (!p || *p || fn > 7)
		return -EINVAL;
	addr->domain = 0;
	addr->bus = (uint8_t)a;
	addr->dev = (uint8_t)b;
	addr->fn = (uint8_t)fn;
	return 0;
}

ASSIGN_EXPORT int assign_pci_addr_format(const struct assign_pci_addr *addr,
					 char *buf, size_t len)
{
	int n;

	if (!addr || !buf)
		return -EINVAL;
	if (addr->dev > 0x1f || addr->fn > 7) {
		if (len)
			buf[0] = '\0';
		return -EINVAL;
	}
	n = snprintf(buf, len, "%04x:%02x:%02x.%x", addr->domain, addr->bus,
		     addr->dev, addr->fn);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

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

int pci_dev_group(struct assign_ctx *ctx, const char *addr)
{
	char path[128], name[32], *end;
	long v;
	int r;

	snprintf(path, sizeof(path), "bus/pci/devices/%s/iommu_group", addr);
	r = sysfs_link_name(ctx, path, name, sizeof(name));
	if (r < 0)
		return r;
	errno = 0;
	v = strtol(name, &end, 10);
	if (errno || end == name || *end || v < 0 || v > INT32_MAX)
		return -EIO;
	return (int)v;
}

int pci_dev_driver(struct assign_ctx *ctx, const char *addr, char *buf,
		   size_t size)
{
	char path[128];
	int r;

	snprintf(path, sizeof(path), "bus/pci/devices/%s/driver", addr);
	r = sysfs_link_name(ctx, path, buf, size);
	if (r == -ENOENT) {
		if (size)
			buf[0] = '\0';
		return 0;
	}
	return r;
}

static int cmp_region(const void *a, const void *b)
{
	const struct assign_reserved_region *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->last < y->last ? -1 : x->last > y->last;
}

int parse_reserved_regions(const char *text,
			   struct assign_reserved_region **out, size_t *n)
{
	struct assign_reserved_region *v = NULL;
	size_t cnt = 0, cap = 0;
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t linelen = eol ? (size_t)(eol - p) : strlen(p);
		char line[160], type[24];
		unsigned long long s, e;
		int consumed = 0;

		if (linelen == 0) {
			p += eol ? 1 : 0;
			continue;
		}
		if (linelen >= sizeof(line))
			goto bad;
		memcpy(line, p, linelen);
		line[linelen] = '\0';
		if (sscanf(line, "0x%llx 0x%llx %23s %n", &s, &e, type,
			   &consumed) != 3 ||
		    line[consumed] != '\0' || e < s)
			goto bad;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct assign_reserved_region *nv =
				realloc(v, ncap * sizeof(*nv));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[cnt].start = s;
		v[cnt].last = e;
		snprintf(v[cnt].type, sizeof(v[cnt].type), "%s", type);
		cnt++;
		p += linelen + (eol ? 1 : 0);
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_region);
	*out = v;
	*n = cnt;
	return 0;
bad:
	free(v);
	return -EIO;
}
