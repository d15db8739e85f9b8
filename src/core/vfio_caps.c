// SPDX-License-Identifier: MIT
/* VFIO info ioctls (argsz negotiation) and capability-chain walking. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "core/sys.h"

/* A kernel never needs more than this for one info structure. */
#define VFIO_INFO_MAX (1u << 20)

int vfio_info_ioctl(struct assign_ctx *ctx, int fd, unsigned long req,
		    const void *init, size_t minsz, void **ret, size_t *len)
{
	size_t size = minsz;
	void *buf = NULL;
	int r;

	if (minsz < sizeof(uint32_t) || minsz > VFIO_INFO_MAX)
		return -EINVAL;
	/* Grow at most a few times: a kernel asking more each time is broken. */
	for (int tries = 0; tries < 4; tries++) {
		uint32_t argsz;
		void *nb = realloc(buf, size);

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		memset(buf, 0, size);
		memcpy(buf, init, minsz);
		argsz = (uint32_t)size;
		memcpy(buf, &argsz, sizeof(argsz));
		r = sys_ioctl(ctx, fd, req, buf);
		if (r < 0) {
			free(buf);
			return r;
		}
		memcpy(&argsz, buf, sizeof(argsz));
		if (argsz <= size) {
			*ret = buf;
			*len = size;
			return 0;
		}
		if (argsz > VFIO_INFO_MAX) {
			free(buf);
			return -EPROTO;
		}
		size = argsz;
	}
	free(buf);
	return -EPROTO;
}

/* Validate the header at @off; 0 if it is usable. */
static int cap_check(size_t len, size_t minsz, size_t off, size_t prev)
{
	if (off < minsz || off % 4 || off <= prev)
		return -EPROTO;
	if (off > len || len - off < sizeof(struct vfio_info_cap_header))
		return -EPROTO;
	return 0;
}

int vfio_cap_foreach(const void *buf, size_t len, size_t minsz, uint32_t first,
		     int (*fn)(const void *cap, size_t off, size_t avail,
			       void *data),
		     void *data)
{
	const unsigned char *b = buf;
	size_t off = first, prev = 0;

	if (!buf || minsz > len)
		return -EINVAL;
	while (off) {
		struct vfio_info_cap_header h;
		int r;

		if (cap_check(len, minsz, off, prev) < 0)
			return -EPROTO;
		memcpy(&h, b + off, sizeof(h));
		r = fn(b + off, off, len - off, data);
		if (r)
			return r;
		prev = off;
		off = h.next;
	}
	return 0;
}

struct find_arg {
	uint16_t id;
	size_t cap_size;
	size_t found;
	bool short_cap;
};

static int find_cb(const void *cap, size_t off, size_t avail, void *data)
{
	struct find_arg *a = data;
	struct vfio_info_cap_header h;

	memcpy(&h, cap, sizeof(h));
	if (h.id != a->id)
		return 0;
	if (avail < a->cap_size) {
		a->short_cap = true;
		return 1;
	}
	a->found = off;
	return 1;
}

int vfio_cap_find(const void *buf, size_t len, size_t minsz, uint32_t first,
		  uint16_t id, size_t cap_size)
{
	struct find_arg a = { .id = id, .cap_size = cap_size };
	int r;

	if (cap_size < sizeof(struct vfio_info_cap_header))
		a.cap_size = sizeof(struct vfio_info_cap_header);
	r = vfio_cap_foreach(buf, len, minsz, first, find_cb, &a);
	if (r < 0)
		return r;
	if (a.short_cap)
		return -EPROTO;
	if (!a.found || a.found > INT32_MAX)
		return -ENOENT;
	return (int)a.found;
}
