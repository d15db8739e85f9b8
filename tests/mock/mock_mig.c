// SPDX-License-Identifier: MIT
/*
 * The mock kernel's migration driver: VFIO migration v2 on a mock device
 * (VFIO_DEVICE_FEATURE_MIGRATION, MIG_DEVICE_STATE, MIG_DATA_SIZE, the
 * migration data fds with VFIO_MIG_GET_PRECOPY_INFO) and device DMA
 * logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*).
 *
 * Written from reading Linux 6.12: drivers/vfio/vfio_main.c (the feature
 * ioctls, the rules of the state machine in vfio.h and
 * vfio_mig_get_next_state()) and samples/vfio-mdev/mtty.c (a driver that
 * implements it with PRE_COPY). The state machine below is derived from
 * the arcs vfio.h lists, not copied from the kernel's table; the unit
 * tests check that the library's own walk agrees with it.
 *
 * The data stream is the mock device's own format, as every driver's is:
 *   header  u64 magic, u32 version, u32 state size
 *   chunk   u32 offset, u32 length, then length bytes of state
 *   end     u32 0xffffffff, u32 0
 * PRE_COPY streams the whole state (read live: a block changed before it
 * was read needs no resend), then chunks of the 4 KiB blocks changed after
 * they were read; STOP_COPY what is still dirty and the end mark.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "mock_internal.h"

#define OFFSETOFEND(t, m) (offsetof(t, m) + sizeof(((t *)0)->m))
#define MIG_MAGIC 0x2147494d4b434f4dull /* "MOCKMIG!" */
#define MIG_VERSION 1u
#define MIG_HDR 16u
#define MIG_CHUNK 8u
#define MIG_END 0xffffffffu
#define BLOCK 4096u
#define LOG_MAX_RANGES 256u
#define NSTATES 8u

enum {
	S_ERROR = VFIO_DEVICE_STATE_ERROR,
	S_STOP = VFIO_DEVICE_STATE_STOP,
	S_RUNNING = VFIO_DEVICE_STATE_RUNNING,
	S_STOP_COPY = VFIO_DEVICE_STATE_STOP_COPY,
	S_RESUMING = VFIO_DEVICE_STATE_RESUMING,
	S_RUNNING_P2P = VFIO_DEVICE_STATE_RUNNING_P2P,
	S_PRE_COPY = VFIO_DEVICE_STATE_PRE_COPY,
	S_PRE_COPY_P2P = VFIO_DEVICE_STATE_PRE_COPY_P2P,
};

/* The resuming side parses the stream as it arrives. */
struct mresume {
	uint8_t part[MIG_HDR]; /* a header being received */
	size_t have; /* bytes of it */
	bool got_header, ended;
	uint32_t chunk_off, chunk_left; /* a chunk's payload being received */
	bool in_chunk;
	uint8_t *staging; /* the state being built */
	bool failed;
};

static void put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* ---- the state machine ----------------------------------------------- */

static bool state_supported(uint32_t s, uint32_t flags)
{
	switch (s) {
	case S_STOP:
	case S_RUNNING:
	case S_STOP_COPY:
	case S_RESUMING:
		return flags & VFIO_MIGRATION_STOP_COPY;
	case S_RUNNING_P2P:
		return (flags & VFIO_MIGRATION_STOP_COPY) &&
		       (flags & VFIO_MIGRATION_P2P);
	case S_PRE_COPY:
		return (flags & VFIO_MIGRATION_STOP_COPY) &&
		       (flags & VFIO_MIGRATION_PRE_COPY);
	case S_PRE_COPY_P2P:
		return (flags & VFIO_MIGRATION_STOP_COPY) &&
		       (flags & VFIO_MIGRATION_PRE_COPY) &&
		       (flags & VFIO_MIGRATION_P2P);
	default:
		return false;
	}
}

/*
 * One hop from @cur towards @to on the full state machine (every optional
 * state supported), from the arcs vfio.h describes: STOP reaches
 * STOP_COPY and RESUMING directly and everything else through
 * RUNNING_P2P; RUNNING reaches PRE_COPY directly and everything else
 * through RUNNING_P2P; PRE_COPY keeps saving through PRE_COPY_P2P and
 * leaves through RUNNING; PRE_COPY_P2P reaches PRE_COPY and STOP_COPY
 * directly and leaves through RUNNING_P2P; STOP_COPY and RESUMING leave
 * through STOP (STOP_COPY cannot go back to PRE_COPY*); RUNNING_P2P goes
 * up through RUNNING, to PRE_COPY_P2P directly, down through STOP.
 */
static uint32_t hop(uint32_t cur, uint32_t to)
{
	if (cur == to)
		return cur;
	switch (cur) {
	case S_STOP:
		return to == S_STOP_COPY || to == S_RESUMING ? to :
							       S_RUNNING_P2P;
	case S_RUNNING:
		return to == S_PRE_COPY ? to : S_RUNNING_P2P;
	case S_PRE_COPY:
		return to == S_PRE_COPY_P2P || to == S_STOP_COPY ?
			       S_PRE_COPY_P2P :
			       S_RUNNING;
	case S_PRE_COPY_P2P:
		return to == S_PRE_COPY || to == S_STOP_COPY ? to :
							       S_RUNNING_P2P;
	case S_STOP_COPY:
		return to == S_PRE_COPY || to == S_PRE_COPY_P2P ? S_ERROR :
								  S_STOP;
	case S_RESUMING:
		return S_STOP;
	case S_RUNNING_P2P:
		if (to == S_RUNNING || to == S_PRE_COPY)
			return S_RUNNING;
		return to == S_PRE_COPY_P2P ? to : S_STOP;
	default:
		return S_ERROR;
	}
}

/* The next state the driver sees: optional states the device lacks are
 * passed over, as the kernel does. */
static uint32_t next_state(uint32_t cur, uint32_t to, uint32_t flags)
{
	uint32_t n = hop(cur, to);

	while (n != S_ERROR && n != to && !state_supported(n, flags))
		n = hop(n, to);
	return n;
}

/* ---- data sessions --------------------------------------------------- */

static struct mmigfile *file_new(struct mdev *dev, bool saving)
{
	struct mmigfile *mf = mock_zalloc(sizeof(*mf));

	if (!mf)
		return NULL;
	mf->dev = dev;
	mf->saving = saving;
	mf->refs = 1; /* the device's */
	if (!saving) {
		struct mresume *rs = mock_zalloc(sizeof(*rs));

		if (rs)
			rs->staging = mock_zalloc(dev->mig.size);
		if (!rs || !rs->staging) {
			if (rs)
				free(rs->staging);
			free(rs);
			free(mf);
			return NULL;
		}
		mf->buf = (uint8_t *)rs;
	}
	return mf;
}

void mock_migfile_put(struct mmigfile *mf)
{
	if (--mf->refs)
		return;
	if (!mf->saving && mf->buf) {
		struct mresume *rs = (struct mresume *)mf->buf;

		free(rs->staging);
		free(rs);
		mf->buf = NULL;
	}
	free(mf->buf);
	free(mf);
}

/* The device ends a session: its fd stays open but reads -ENODEV. */
static void file_disable(struct mmigfile **slot)
{
	struct mmigfile *mf = *slot;

	if (!mf)
		return;
	*slot = NULL;
	mf->dev = NULL;
	mock_migfile_put(mf);
}

static void end_sessions(struct mdev *dev)
{
	file_disable(&dev->mig.saving);
	file_disable(&dev->mig.resuming);
}

/* Bytes of the saving stream's prefix: header, chunk header, state. */
static size_t prefix_len(const struct mdev *dev)
{
	return MIG_HDR + MIG_CHUNK + dev->mig.size;
}

static int tail_append(struct mmigfile *mf, const void *p, size_t n)
{
	if (mf->len + n > mf->cap) {
		size_t ncap = mf->cap ? mf->cap : 4096;
		uint8_t *nb;

		while (ncap < mf->len + n)
			ncap *= 2;
		nb = realloc(mf->buf, ncap);
		if (!nb)
			return -ENOMEM;
		mf->buf = nb;
		mf->cap = ncap;
	}
	memcpy(mf->buf + mf->len, p, n);
	mf->len += n;
	return 0;
}

static size_t nblocks(const struct mdev *dev)
{
	return (dev->mig.size + BLOCK - 1) / BLOCK;
}

/* Append a chunk for every dirty block and clean them. */
static int emit_dirty(struct mdev *dev, struct mmigfile *mf)
{
	for (size_t b = 0; b < nblocks(dev); b++) {
		uint8_t h[MIG_CHUNK];
		size_t off = b * BLOCK;
		size_t len = MIN((size_t)BLOCK, dev->mig.size - off);

		if (!dev->mig.dirty[b])
			continue;
		put_u32(h, (uint32_t)off);
		put_u32(h + 4, (uint32_t)len);
		if (tail_append(mf, h, sizeof(h)) < 0 ||
		    tail_append(mf, dev->mig.data + off, len) < 0)
			return -ENOMEM;
		dev->mig.dirty[b] = 0;
	}
	return 0;
}

static int emit_end(struct mmigfile *mf)
{
	uint8_t h[MIG_CHUNK];

	put_u32(h, MIG_END);
	put_u32(h + 4, 0);
	return tail_append(mf, h, sizeof(h));
}

static size_t dirty_blocks(const struct mdev *dev)
{
	size_t n = 0;

	for (size_t b = 0; b < nblocks(dev); b++)
		n += dev->mig.dirty[b] != 0;
	return n;
}

/* Total bytes the saving stream holds now. */
static size_t saving_total(const struct mmigfile *mf)
{
	return prefix_len(mf->dev) + mf->len;
}

static ssize_t saving_read(struct mmigfile *mf, uint8_t *buf, size_t n)
{
	struct mdev *dev = mf->dev;
	size_t done = 0;

	if (!dev)
		return -ENODEV;
	for (;;) {
		size_t pre = prefix_len(dev), total = saving_total(mf);

		while (done < n && mf->pos < total) {
			size_t p = mf->pos, k;

			if (p < MIG_HDR + MIG_CHUNK) {
				uint8_t h[MIG_HDR + MIG_CHUNK];

				put_u64(h, MIG_MAGIC);
				put_u32(h + 8, MIG_VERSION);
				put_u32(h + 12, (uint32_t)dev->mig.size);
				put_u32(h + 16, 0);
				put_u32(h + 20, (uint32_t)dev->mig.size);
				k = MIN(n - done, sizeof(h) - p);
				memcpy(buf + done, h + p, k);
			} else if (p < pre) {
				k = MIN(n - done, pre - p);
				memcpy(buf + done,
				       dev->mig.data +
					       (p - MIG_HDR - MIG_CHUNK),
				       k);
			} else {
				k = MIN(n - done, total - p);
				memcpy(buf + done, mf->buf + (p - pre), k);
			}
			done += k;
			mf->pos += k;
		}
		if (done)
			return (ssize_t)done;
		if (dev->mig.state == S_STOP_COPY)
			return 0; /* the real end of the stream */
		/* PRE_COPY: more once the device dirties something. */
		if (!dirty_blocks(dev))
			return dev->mig.precopy_zero ? 0 : -ENOMSG;
		if (emit_dirty(dev, mf) < 0)
			return -ENOMEM;
	}
}

static int resume_fail(struct mresume *rs)
{
	rs->failed = true;
	return -EINVAL;
}

/* Parse @n bytes of the stream into the staging state. */
static ssize_t resuming_write(struct mmigfile *mf, const uint8_t *p, size_t n)
{
	struct mdev *dev = mf->dev;
	struct mresume *rs = (struct mresume *)mf->buf;
	size_t i = 0;

	if (!dev)
		return -ENODEV;
	if (rs->failed)
		return -EINVAL;
	while (i < n) {
		if (rs->in_chunk) {
			size_t k = MIN(n - i, (size_t)rs->chunk_left);

			memcpy(rs->staging + rs->chunk_off, p + i, k);
			rs->chunk_off += (uint32_t)k;
			rs->chunk_left -= (uint32_t)k;
			i += k;
			if (!rs->chunk_left)
				rs->in_chunk = false;
			continue;
		}
		if (rs->ended)
			return resume_fail(rs); /* data after the end */
		{
			size_t want = rs->got_header ? MIG_CHUNK : MIG_HDR;
			size_t k = MIN(n - i, want - rs->have);
			uint32_t a, b;

			memcpy(rs->part + rs->have, p + i, k);
			rs->have += k;
			i += k;
			if (rs->have < want)
				continue;
			rs->have = 0;
			if (!rs->got_header) {
				uint64_t magic;
				uint32_t ver, size;

				memcpy(&magic, rs->part, 8);
				memcpy(&ver, rs->part + 8, 4);
				memcpy(&size, rs->part + 12, 4);
				if (magic != MIG_MAGIC || ver != MIG_VERSION ||
				    size != dev->mig.size)
					return resume_fail(rs);
				rs->got_header = true;
				continue;
			}
			memcpy(&a, rs->part, 4);
			memcpy(&b, rs->part + 4, 4);
			if (a == MIG_END) {
				if (b)
					return resume_fail(rs);
				rs->ended = true;
				continue;
			}
			if ((uint64_t)a + b > dev->mig.size)
				return resume_fail(rs);
			rs->chunk_off = a;
			rs->chunk_left = b;
			rs->in_chunk = b != 0;
		}
	}
	mf->len += n;
	return (ssize_t)n;
}

ssize_t mock_migfile_rw(struct mmigfile *mf, void *buf, size_t n, bool write)
{
	if (!buf && n)
		return -EFAULT;
	if (mf->saving != !write)
		return -EINVAL; /* no read on the resuming fd, and so on */
	if (mf->saving)
		return saving_read(mf, buf, n);
	return resuming_write(mf, buf, n);
}

int mock_migfile_ioctl(struct mmigfile *mf, unsigned long req, void *arg)
{
	struct vfio_precopy_info *info = arg;
	size_t minsz = OFFSETOFEND(struct vfio_precopy_info, dirty_bytes);
	struct mdev *dev = mf->dev;
	size_t pre, done_pre;

	if (req != VFIO_MIG_GET_PRECOPY_INFO || !mf->saving)
		return -ENOTTY;
	if (!arg)
		return -EFAULT;
	if (info->argsz < minsz)
		return -EINVAL;
	if (!dev)
		return -ENODEV;
	if (dev->mig.state != S_PRE_COPY && dev->mig.state != S_PRE_COPY_P2P)
		return -EINVAL;
	pre = prefix_len(dev);
	done_pre = MIN(mf->pos, pre);
	info->initial_bytes = pre - done_pre;
	info->dirty_bytes = (saving_total(mf) - MAX(mf->pos, pre)) +
			    dirty_blocks(dev) * (MIG_CHUNK + BLOCK);
	return 0;
}

/* ---- arcs ------------------------------------------------------------ */

/* Carry out the arc dev's state -> @to; *file gets a new session. */
static int step(struct mdev *dev, uint32_t to, struct mmigfile **file)
{
	struct mmig *m = &dev->mig;
	uint32_t cur = m->state;

	*file = NULL;
	if (m->fail_armed && m->fail_to == to &&
	    (m->fail_from == MOCK_MIG_ANY || m->fail_from == cur)) {
		m->fail_armed = false;
		if (m->fail_to_error) {
			m->state = S_ERROR;
			end_sessions(dev);
		}
		return m->fail_err;
	}
	/* Arcs that change nothing the mock models. */
	if ((cur == S_RUNNING && (to == S_RUNNING_P2P || to == S_STOP)) ||
	    (cur == S_RUNNING_P2P && (to == S_RUNNING || to == S_STOP)) ||
	    (cur == S_STOP && (to == S_RUNNING_P2P || to == S_RUNNING)) ||
	    (cur == S_PRE_COPY && to == S_PRE_COPY_P2P) ||
	    (cur == S_PRE_COPY_P2P && to == S_PRE_COPY))
		return 0;
	/* Arcs that end a session; RESUMING -> STOP loads first. */
	if (cur == S_RESUMING && to == S_STOP) {
		struct mresume *rs;

		if (!m->resuming)
			return -EINVAL;
		rs = (struct mresume *)m->resuming->buf;
		if (rs->failed || !rs->ended || rs->in_chunk)
			return -EINVAL; /* incomplete or invalid: still RESUMING */
		memcpy(m->data, rs->staging, m->size);
		file_disable(&m->resuming);
		return 0;
	}
	if ((cur == S_PRE_COPY && to == S_RUNNING) ||
	    (cur == S_PRE_COPY_P2P && to == S_RUNNING_P2P) ||
	    (cur == S_STOP_COPY && to == S_STOP)) {
		file_disable(&m->saving);
		return 0;
	}
	/* Arcs that start a session. */
	if ((cur == S_RUNNING && to == S_PRE_COPY) ||
	    (cur == S_RUNNING_P2P && to == S_PRE_COPY_P2P) ||
	    (cur == S_STOP && to == S_STOP_COPY)) {
		struct mmigfile *mf = file_new(dev, true);

		if (!mf)
			return -ENOMEM;
		memset(m->dirty, 0, nblocks(dev));
		if (to == S_STOP_COPY && emit_end(mf) < 0) {
			mock_migfile_put(mf);
			return -ENOMEM;
		}
		m->saving = mf;
		*file = mf;
		return 0;
	}
	if ((cur == S_PRE_COPY_P2P || cur == S_PRE_COPY) && to == S_STOP_COPY) {
		/* The session goes on: what is dirty, then the end. */
		if (!m->saving || emit_dirty(dev, m->saving) < 0 ||
		    emit_end(m->saving) < 0)
			return -ENOMEM;
		return 0;
	}
	if (cur == S_STOP && to == S_RESUMING) {
		struct mmigfile *mf = file_new(dev, false);

		if (!mf)
			return -ENOMEM;
		m->resuming = mf;
		*file = mf;
		return 0;
	}
	return -EINVAL;
}

static int set_state(struct mock_kernel *mk, struct mdev *dev, uint32_t to,
		     int32_t *data_fd)
{
	struct mmig *m = &dev->mig;
	struct mmigfile *file = NULL;
	int r;

	*data_fd = -1;
	if (to >= NSTATES || to == S_ERROR || !state_supported(to, m->flags))
		return -EINVAL;
	if (m->state == S_ERROR)
		return -EINVAL;
	while (m->state != to) {
		uint32_t n = next_state(m->state, to, m->flags);

		if (n == S_ERROR)
			return -EINVAL; /* a blocked arc */
		r = step(dev, n, &file);
		if (r)
			return r;
		m->arcs[m->state][n]++;
		m->state = n;
		if (file && n != to)
			return -EINVAL; /* the kernel warns: never happens */
	}
	if (file) {
		int fd;

		file->refs++; /* the fd's */
		fd = mock_fd_new(mk, MFD_MIGFILE, file);
		if (fd < 0) {
			mock_migfile_put(file);
			return fd;
		}
		*data_fd = fd;
	}
	return 0;
}

/* ---- DMA logging ----------------------------------------------------- */

static void log_stop(struct mdev *dev)
{
	struct mmig *m = &dev->mig;

	m->logging = false;
	free(m->log_ranges);
	m->log_ranges = NULL;
	m->log_nranges = 0;
	mpages_clear(&m->log);
}

static int log_start(struct mdev *dev,
		     struct vfio_device_feature_dma_logging_control *c)
{
	struct vfio_device_feature_dma_logging_range *r;
	struct mmig *m = &dev->mig;
	uint64_t(*v)[2];

	if (!c->num_ranges)
		return -EINVAL;
	if (c->num_ranges > LOG_MAX_RANGES)
		return -E2BIG;
	if (!c->page_size || (c->page_size & (c->page_size - 1)))
		return -EINVAL;
	r = (void *)(uintptr_t)c->ranges;
	if (!r)
		return -EFAULT;
	v = calloc(c->num_ranges, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->num_ranges; i++) {
		uint64_t last;

		if ((r[i].iova | r[i].length) & (c->page_size - 1) ||
		    !r[i].length) {
			free(v);
			return -EINVAL;
		}
		if (r[i].iova + r[i].length < r[i].iova) {
			free(v);
			return -EOVERFLOW;
		}
		last = r[i].iova + r[i].length - 1;
		for (uint32_t k = 0; k < i; k++)
			if (r[i].iova <= v[k][1] && last >= v[k][0]) {
				free(v);
				return -EINVAL; /* overlapping ranges */
			}
		v[i][0] = r[i].iova;
		v[i][1] = last;
	}
	if (m->logging) {
		free(v);
		return -EBUSY; /* one start, then a stop */
	}
	m->logging = true;
	m->log_ranges = v;
	m->log_nranges = c->num_ranges;
	/* The device tracks at 4 KiB at best. */
	if (c->page_size < BLOCK)
		c->page_size = BLOCK;
	m->log_pgsize = c->page_size;
	return 0;
}

struct report_ctx {
	uint64_t *bitmap;
	uint64_t iova, pgsize;
};

static void report_bit(void *arg, uint64_t page)
{
	struct report_ctx *rc = arg;
	uint64_t first = MAX(page, rc->iova);
	uint64_t bit = (first - rc->iova) / rc->pgsize;

	rc->bitmap[bit / 64] |= 1ull << (bit % 64);
}

static int log_report(struct mdev *dev,
		      struct vfio_device_feature_dma_logging_report *rep)
{
	struct report_ctx rc;
	uint64_t last;

	if (!dev->mig.logging)
		return -EINVAL;
	if (rep->page_size < BLOCK || (rep->page_size & (rep->page_size - 1)))
		return -EINVAL;
	if (!rep->length)
		return -EINVAL;
	if (rep->iova + rep->length < rep->iova)
		return -EOVERFLOW;
	if (!rep->bitmap)
		return -EFAULT;
	last = rep->iova + rep->length - 1;
	rc.bitmap = (uint64_t *)(uintptr_t)rep->bitmap;
	rc.iova = rep->iova;
	rc.pgsize = rep->page_size;
	/* Pages starting before @iova but reaching into it count too. */
	mpages_take(&dev->mig.log, rep->iova & ~(uint64_t)(BLOCK - 1), last,
		    report_bit, &rc);
	return 0;
}

void mock_mig_log_dma(struct mdev *dev, uint64_t iova, uint64_t last)
{
	struct mmig *m = &dev->mig;

	if (!m->logging)
		return;
	for (uint64_t p = iova & ~(uint64_t)(BLOCK - 1); p <= last;
	     p += BLOCK) {
		for (uint32_t i = 0; i < m->log_nranges; i++)
			if (p + BLOCK - 1 >= m->log_ranges[i][0] &&
			    p <= m->log_ranges[i][1]) {
				mpages_add(&m->log, p);
				break;
			}
		if (p + BLOCK < p)
			break;
	}
}

/* ---- the feature ioctl ----------------------------------------------- */

/* vfio_check_feature(): 1 to go on, 0 for a probe, or an error. */
static int check(uint32_t flags, size_t argsz, uint32_t ops, size_t minsz)
{
	if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) &
	    ~ops)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (!(flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
		return -EINVAL;
	if (argsz < minsz)
		return -EINVAL;
	return 1;
}

int mock_mig_feature(struct mock_kernel *mk, struct mdev *dev,
		     struct vfio_device_feature *f)
{
	uint32_t feature = f->flags & VFIO_DEVICE_FEATURE_MASK;
	size_t argsz =
		f->argsz - OFFSETOFEND(struct vfio_device_feature, flags);
	struct mmig *m = &dev->mig;
	int r;

	switch (feature) {
	case VFIO_DEVICE_FEATURE_MIGRATION: {
		struct vfio_device_feature_migration *mg = (void *)f->data;

		if (!m->flags)
			return -ENOTTY;
		r = check(f->flags, argsz, VFIO_DEVICE_FEATURE_GET,
			  sizeof(*mg));
		if (r != 1)
			return r;
		mg->flags = m->flags;
		return 0;
	}
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: {
		struct vfio_device_feature_mig_state *ms = (void *)f->data;

		if (!m->flags)
			return -ENOTTY;
		r = check(f->flags, argsz,
			  VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET,
			  sizeof(*ms));
		if (r != 1)
			return r;
		if (f->flags & VFIO_DEVICE_FEATURE_GET) {
			ms->device_state = m->state;
			ms->data_fd = -1;
			return 0;
		}
		return set_state(mk, dev, ms->device_state, &ms->data_fd);
	}
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: {
		struct vfio_device_feature_mig_data_size *ds = (void *)f->data;

		if (!m->flags)
			return -ENOTTY;
		r = check(f->flags, argsz, VFIO_DEVICE_FEATURE_GET,
			  sizeof(*ds));
		if (r != 1)
			return r;
		ds->stop_copy_length = prefix_len(dev) + MIG_CHUNK;
		return 0;
	}
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		if (!m->log_ops)
			return -ENOTTY;
		r = check(
			f->flags, argsz, VFIO_DEVICE_FEATURE_SET,
			sizeof(struct vfio_device_feature_dma_logging_control));
		if (r != 1)
			return r;
		return log_start(dev, (void *)f->data);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		if (!m->log_ops)
			return -ENOTTY;
		r = check(f->flags, argsz, VFIO_DEVICE_FEATURE_SET, 0);
		if (r != 1)
			return r;
		log_stop(dev);
		return 0;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		if (!m->log_ops)
			return -ENOTTY;
		r = check(
			f->flags, argsz, VFIO_DEVICE_FEATURE_GET,
			sizeof(struct vfio_device_feature_dma_logging_report));
		if (r != 1)
			return r;
		return log_report(dev, (void *)f->data);
	default:
		return 1;
	}
}

/* ---- lifetime -------------------------------------------------------- */

void mock_mig_init(struct mdev *dev, const struct mock_device_cfg *cfg)
{
	struct mmig *m = &dev->mig;

	m->log_ops = cfg->dma_logging;
	m->state = S_RUNNING;
	m->flags = cfg->migration_flags;
	m->precopy_zero = cfg->mig_precopy_zero;
	if (!m->flags)
		return;
	m->size = cfg->mig_state_size ? cfg->mig_state_size : 4096;
	m->data = mock_zalloc(m->size);
	m->dirty = mock_zalloc(nblocks(dev));
	if (!m->data || !m->dirty) {
		free(m->data);
		free(m->dirty);
		m->data = NULL;
		m->dirty = NULL;
	}
}

void mock_mig_free(struct mdev *dev)
{
	end_sessions(dev);
	log_stop(dev);
	free(dev->mig.data);
	free(dev->mig.dirty);
	free(dev->mig.log.v);
}

void mock_mig_reset(struct mdev *dev)
{
	if (!dev->mig.flags)
		return;
	end_sessions(dev);
	dev->mig.state = S_RUNNING;
}

void mock_mig_last_close(struct mdev *dev)
{
	mock_mig_reset(dev);
	log_stop(dev);
}

/* ---- the test's side ------------------------------------------------- */

uint8_t *mock_mig_state(struct mock_kernel *mk, const char *addr, size_t *size)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	if (!dev || !dev->mig.flags)
		return NULL;
	if (size)
		*size = dev->mig.size;
	return dev->mig.data;
}

int mock_mig_state_write(struct mock_kernel *mk, const char *addr,
			 size_t offset, const void *buf, size_t len)
{
	struct mdev *dev;
	int r = 0;

	mock_lock(mk);
	dev = mock_dev_find(mk, addr);
	if (!dev || !dev->mig.flags) {
		r = -ENOENT;
	} else if (offset > dev->mig.size || len > dev->mig.size - offset) {
		r = -EINVAL;
	} else {
		struct mmigfile *mf = dev->mig.saving;

		memcpy(dev->mig.data + offset, buf, len);
		/* Blocks already (partly) read must be sent again. */
		for (size_t b = offset / BLOCK; len && b * BLOCK < offset + len;
		     b++)
			if (mf && mf->pos > MIG_HDR + MIG_CHUNK + b * BLOCK)
				dev->mig.dirty[b] = 1;
	}
	mock_unlock(mk);
	return r;
}

int mock_mig_get_state(const struct mock_kernel *mk, const char *addr)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	return dev && dev->mig.flags ? (int)dev->mig.state : -ENOENT;
}

unsigned mock_mig_arcs(const struct mock_kernel *mk, const char *addr,
		       uint32_t from, uint32_t to)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	if (!dev || from >= NSTATES || to >= NSTATES)
		return 0;
	return dev->mig.arcs[from][to];
}

unsigned mock_mig_arcs_total(const struct mock_kernel *mk, const char *addr)
{
	struct mdev *dev = mock_dev_find(mk, addr);
	unsigned n = 0;

	for (uint32_t a = 0; dev && a < NSTATES; a++)
		for (uint32_t b = 0; b < NSTATES; b++)
			n += dev->mig.arcs[a][b];
	return n;
}

void mock_mig_fail_arc(struct mock_kernel *mk, const char *addr, uint32_t from,
		       uint32_t to, int err, bool to_error)
{
	struct mdev *dev;

	mock_lock(mk);
	dev = mock_dev_find(mk, addr);
	if (dev) {
		dev->mig.fail_armed = true;
		dev->mig.fail_from = from;
		dev->mig.fail_to = to;
		dev->mig.fail_err = err < 0 ? err : -err;
		dev->mig.fail_to_error = to_error;
	}
	mock_unlock(mk);
}

size_t mock_mig_open_files(const struct mock_kernel *mk)
{
	size_t n = 0;

	for (size_t i = 0; i < mk->nfds; i++)
		n += mk->fds[i].kind == MFD_MIGFILE;
	return n;
}

int mock_dma_logging(const struct mock_kernel *mk, const char *addr)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	return dev ? dev->mig.logging : -ENOENT;
}
