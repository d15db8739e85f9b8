// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the VFIO capability-chain walker (src/core/vfio_caps.c) on
 * arbitrary buffers, as a hostile or buggy kernel could hand back from any
 * info ioctl (region, device, IOMMU info).
 *
 * Input: u8 minsz, u32 first, u16 id, u8 cap_size, then the info buffer.
 * Checked: the walk ends; each capability it reports lies after the fixed
 * part with its 8-byte header inside the buffer, at strictly increasing
 * 4-byte aligned offsets; a capability found by vfio_cap_find() has its id
 * and cap_size bytes inside the buffer. AddressSanitizer watches every
 * read (the buffer is a heap block of exactly its length).
 */
#include <errno.h>

#include <linux/vfio.h>

#include "fuzz.h"
#include "core/sys.h"

struct walk {
	size_t len, minsz, prev, count;
	int stop_at;
};

static int walk_cb(const void *cap, size_t off, size_t avail, void *data)
{
	struct walk *w = data;
	struct vfio_info_cap_header h;

	FUZZ_CHECK(off >= w->minsz);
	FUZZ_CHECK(off % 4 == 0);
	FUZZ_CHECK(w->count == 0 || off > w->prev);
	FUZZ_CHECK(off <= w->len && avail == w->len - off);
	FUZZ_CHECK(avail >= sizeof(h));
	memcpy(&h, cap, sizeof(h)); /* ASan: the header is really there */
	w->prev = off;
	w->count++;
	/* Strictly increasing 4-aligned offsets bound the walk. */
	FUZZ_CHECK(w->count <= w->len / 4 + 1);
	if (w->stop_at >= 0 && (int)w->count == w->stop_at)
		return 7;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in;
	size_t minsz, cap_size, len;
	uint32_t first;
	uint16_t id;
	uint8_t *buf;
	int r;

	fuzz_in_init(&in, data, size);
	minsz = fuzz_u8(&in) % 64;
	first = fuzz_u32(&in);
	id = fuzz_u16(&in);
	cap_size = fuzz_u8(&in);
	buf = fuzz_bytes(&in, SIZE_MAX, &len);

	/* Full walk, then a walk stopped early by the callback. */
	for (int pass = 0; pass < 2; pass++) {
		struct walk w = { .len = len, .minsz = minsz,
				  .stop_at = pass ? (int)(cap_size % 4) : -1 };

		r = vfio_cap_foreach(buf, len, minsz, first, walk_cb, &w);
		if (minsz > len) {
			FUZZ_CHECK(r == -EINVAL && w.count == 0);
			continue;
		}
		FUZZ_CHECK(r == 0 || r == -EPROTO || r == 7);
		FUZZ_CHECK(r != 7 || (w.stop_at > 0 &&
				      (int)w.count == w.stop_at));
		if (first == 0)
			FUZZ_CHECK(r == 0 && w.count == 0);
	}

	r = vfio_cap_find(buf, len, minsz, first, id, cap_size);
	FUZZ_CHECK(r > 0 || r == -ENOENT || r == -EPROTO || r == -EINVAL);
	if (r > 0) {
		struct vfio_info_cap_header h;
		size_t need = MAX(cap_size, sizeof(h));

		FUZZ_CHECK((size_t)r >= minsz && (size_t)r % 4 == 0);
		FUZZ_CHECK((size_t)r <= len && len - (size_t)r >= need);
		memcpy(&h, buf + r, sizeof(h));
		FUZZ_CHECK(h.id == id);
		/* Touch the whole claimed body: ASan checks it is inside. */
		volatile uint8_t sink = 0;
		for (size_t i = 0; i < need; i++)
			sink ^= buf[(size_t)r + i];
		(void)sink;
	}
	/* NULL buffer must be refused, not dereferenced. */
	FUZZ_CHECK(vfio_cap_foreach(NULL, len, minsz, first, walk_cb,
				    &(struct walk){ 0 }) == -EINVAL);
	free(buf);
	return 0;
}
