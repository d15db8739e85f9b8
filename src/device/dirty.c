// SPDX-License-Identifier: MIT
/*
 * Dirty tracking of guest memory, one object over the kernel's three
 * trackers (include/libassign/migration.h, docs/migration.md): type1's
 * and iommufd's live in iommu/dirty.c; the devices' own DMA logging
 * (VFIO_DEVICE_FEATURE_DMA_LOGGING_*) is here, since it talks to device
 * fds. The object says which tracker runs and what its bits mean, and
 * refuses clearly where none is available.
 *
 * DMA logging watches the IOVA ranges it is given when it starts. Those
 * are the mappings of the IOMMU object at that time, merged (at most 256
 * ranges: the number the kernel guarantees to accept, one page of them);
 * pages outside them (mapped later) are reported dirty, since no device
 * logs them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "device/device.h"

#define LOG_MAX_RANGES 256u
#define LOG_MIN_PAGE 4096u

struct assign_dirty {
	int refcount;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu; /* reference held */
	struct assign_device **devs; /* references held */
	struct iommu_dirty_dev *idevs; /* the same, for iommu/dirty.c */
	bool *stopped; /* DEVICE: its logging was stopped */
	size_t ndevs;
	size_t attached; /* devices on the IOMMU at start */
	bool running;
	struct assign_dirty_info info;
	struct iommu_dirty id; /* TYPE1, IOMMUFD */
	uint64_t (*ranges)[2]; /* DEVICE: logged [start, last] */
	size_t nranges;
	uint64_t *scratch; /* DEVICE: a report not at a word */
	size_t scratch_words;
};

static const char *tracker_name(enum assign_dirty_tracker t)
{
	switch (t) {
	case ASSIGN_DIRTY_TRACKER_TYPE1:
		return "type1";
	case ASSIGN_DIRTY_TRACKER_IOMMUFD:
		return "iommufd";
	case ASSIGN_DIRTY_TRACKER_DEVICE:
		return "device DMA logging";
	default:
		return "auto";
	}
}

static uint64_t host_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (uint64_t)ps : 4096;
}

/* ---- the devices' DMA logging ----------------------------------------- */

/* VFIO_DEVICE_FEATURE with @len bytes of @data (in and out). */
static int dev_feature(struct assign_device *dev, uint32_t flags, void *data,
		       size_t len)
{
	uint8_t buf[sizeof(struct vfio_device_feature) + 32]
		__attribute__((aligned(8)));
	struct vfio_device_feature *f = (void *)buf;
	int r;

	memset(buf, 0, sizeof(buf));
	f->argsz = (uint32_t)(sizeof(*f) + len);
	f->flags = flags;
	if (len)
		memcpy(f->data, data, len);
	r = sys_ioctl(dev->ctx, dev->att.devfd, VFIO_DEVICE_FEATURE, f);
	if (len)
		memcpy(data, f->data, len);
	return r;
}

static int log_stop_dev(struct assign_device *dev)
{
	return dev_feature(dev,
			   VFIO_DEVICE_FEATURE_SET |
				   VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			   NULL, 0);
}

static int cmp_u64(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* The mappings, page-aligned, merged, at most LOG_MAX_RANGES. */
static int log_ranges(struct assign_dirty *d)
{
	struct assign_iommu *iommu = d->iommu;
	uint64_t ps = d->info.page_size, (*v)[2], *gaps;
	const struct iommu_mapping *m;
	size_t n = 0, cap = 0;

	for (int k = 0; k < IOMMU_MAP_KINDS; k++) {
		uint64_t maps, bytes;

		iommu_mapping_count(iommu, k, &maps, &bytes);
		cap += (size_t)maps;
	}
	if (!cap)
		return set_error(d->ctx, -EINVAL,
				 "device DMA logging watches the ranges mapped "
				 "when it starts, and nothing is mapped: map "
				 "guest RAM first");
	v = calloc(cap, sizeof(*v));
	if (!v)
		return set_error(d->ctx, -ENOMEM, "out of memory");
	for (m = iommu_mapping_first(iommu, 0, UINT64_MAX); m;
	     m = iommu_mapping_next(m)) {
		uint64_t s = m->node.start & ~(ps - 1);
		uint64_t e = m->node.last | (ps - 1);

		if (n && s <= v[n - 1][1] + 1) {
			if (e > v[n - 1][1])
				v[n - 1][1] = e;
			continue;
		}
		v[n][0] = s;
		v[n][1] = e;
		n++;
	}
	if (n > LOG_MAX_RANGES) {
		/* Close the smallest gaps until few enough remain. */
		size_t k = 0, remaining = n;
		uint64_t limit;

		gaps = calloc(n - 1, sizeof(*gaps));
		if (!gaps) {
			free(v);
			return set_error(d->ctx, -ENOMEM, "out of memory");
		}
		for (size_t i = 1; i < n; i++)
			gaps[i - 1] = v[i][0] - v[i - 1][1];
		qsort(gaps, n - 1, sizeof(*gaps), cmp_u64);
		limit = gaps[n - LOG_MAX_RANGES - 1];
		free(gaps);
		/* v[i - 1] is still the original range i - 1: merging
		 * writes v[k] with k < i, and v[k][1] = v[i - 1][1] when
		 * k = i - 1. */
		for (size_t i = 1; i < n; i++) {
			uint64_t gap = v[i][0] - v[i - 1][1];

			if (gap <= limit && remaining > LOG_MAX_RANGES) {
				v[k][1] = v[i][1];
				remaining--;
			} else {
				k++;
				v[k][0] = v[i][0];
				v[k][1] = v[i][1];
			}
		}
		n = k + 1;
	}
	d->ranges = v;
	d->nranges = n;
	return 0;
}

static int log_start(struct assign_dirty *d)
{
	struct vfio_device_feature_dma_logging_range *rv;
	int r = 0;
	size_t i;

	r = log_ranges(d);
	if (r < 0)
		return r;
	rv = calloc(d->nranges, sizeof(*rv));
	if (!rv)
		return set_error(d->ctx, -ENOMEM, "out of memory");
	for (i = 0; i < d->nranges; i++) {
		rv[i].iova = d->ranges[i][0];
		rv[i].length = d->ranges[i][1] - d->ranges[i][0] + 1;
	}
	for (i = 0; i < d->ndevs; i++) {
		struct vfio_device_feature_dma_logging_control c = {
			.page_size = d->info.page_size,
			.num_ranges = (uint32_t)d->nranges,
			.ranges = (uintptr_t)rv,
		};

		r = dev_feature(d->devs[i],
				VFIO_DEVICE_FEATURE_SET |
					VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				&c, sizeof(c));
		if (r < 0) {
			set_error(d->ctx, r,
				  "starting DMA logging on %s (%zu ranges of "
				  "%" PRIu64 "-byte pages) failed: %s",
				  d->devs[i]->addr, d->nranges,
				  d->info.page_size, strerror(-r));
			break;
		}
	}
	free(rv);
	if (r < 0) {
		while (i-- > 0)
			log_stop_dev(d->devs[i]);
		return r;
	}
	d->info.tracker = ASSIGN_DIRTY_TRACKER_DEVICE;
	d->info.precision = ASSIGN_DIRTY_PRECISION_WRITTEN;
	d->info.max_length = UINT64_MAX;
	return 0;
}

static int log_report_dev(struct assign_device *dev, uint64_t iova,
			  uint64_t length, uint64_t ps, uint64_t *bitmap)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = length,
		.page_size = ps,
		.bitmap = (uintptr_t)bitmap,
	};

	return dev_feature(dev,
			   VFIO_DEVICE_FEATURE_GET |
				   VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			   &rep, sizeof(rep));
}

/* Set @n bits of @map from bit @at (to mark what nobody logs). */
static void set_bits(uint64_t *map, uint64_t at, uint64_t n)
{
	for (; n && at % 64; at++, n--)
		map[at / 64] |= 1ull << (at % 64);
	for (; n >= 64; at += 64, n -= 64)
		map[at / 64] = UINT64_MAX;
	for (; n; at++, n--)
		map[at / 64] |= 1ull << (at % 64);
}

/* OR @n bits of @src into @map from bit @at. */
static void or_bits(uint64_t *map, uint64_t at, const uint64_t *src, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (src[i / 64] & (1ull << (i % 64)))
			map[(at + i) / 64] |= 1ull << ((at + i) % 64);
}

/* Every device's log of [a, b] into @bitmap, whose bit 0 is @iova. */
static int log_report_range(struct assign_dirty *d, uint64_t iova, uint64_t a,
			    uint64_t b, uint64_t *bitmap)
{
	uint64_t ps = d->info.page_size, bit = (a - iova) / ps;
	uint64_t nbits = (b - a + 1) / ps, *dst = bitmap + bit / 64;
	int r;

	if (bit % 64) {
		size_t words = (size_t)((nbits + 63) / 64);

		if (words > d->scratch_words) {
			uint64_t *s = realloc(d->scratch, words * 8);

			if (!s)
				return set_error(d->ctx, -ENOMEM,
						 "out of memory");
			d->scratch = s;
			d->scratch_words = words;
		}
		dst = d->scratch;
		memset(dst, 0, words * 8);
	}
	for (size_t i = 0; i < d->ndevs; i++) {
		r = log_report_dev(d->devs[i], a, b - a + 1, ps, dst);
		if (r < 0)
			return set_error(d->ctx, r,
					 "reading the DMA log of %s for "
					 "0x%" PRIx64 "-0x%" PRIx64
					 " failed: %s; "
					 "its bits are lost: consider every "
					 "page of it dirty",
					 d->devs[i]->addr, a, b, strerror(-r));
	}
	if (bit % 64)
		or_bits(bitmap, bit, dst, nbits);
	return 0;
}

static int log_report(struct assign_dirty *d, uint64_t iova, uint64_t length,
		      uint64_t *bitmap)
{
	uint64_t ps = d->info.page_size, last = iova + length - 1, cur = iova;
	int r;

	for (size_t i = 0; i < d->nranges && cur <= last; i++) {
		uint64_t s = d->ranges[i][0], e = d->ranges[i][1];

		if (e < cur)
			continue;
		if (s > last)
			break;
		if (s > cur) /* nobody logs [cur, s - 1] */
			set_bits(bitmap, (cur - iova) / ps, (s - cur) / ps);
		s = MAX(s, cur);
		e = MIN(e, last);
		r = log_report_range(d, iova, s, e, bitmap);
		if (r < 0)
			return r;
		if (e == last)
			return 0;
		cur = e + 1;
	}
	if (cur <= last)
		set_bits(bitmap, (cur - iova) / ps, (last - cur + 1) / ps);
	return 0;
}

/* ---- choosing and starting ------------------------------------------- */

static int check_opts(struct assign_ctx *ctx,
		      const struct assign_dirty_opts *in,
		      struct assign_dirty_opts *o)
{
	int r;

	r = SIZED_IN(ctx, o, in, "assign_dirty_opts");
	if (r < 0)
		return r;
	if (o->flags)
		return set_error(ctx, -EINVAL,
				 "assign_dirty_opts.flags 0x%x has unknown "
				 "bits; pass 0",
				 o->flags);
	if ((unsigned)o->tracker > ASSIGN_DIRTY_TRACKER_DEVICE)
		return set_error(ctx, -EINVAL,
				 "assign_dirty_opts.tracker %u is not an "
				 "enum assign_dirty_tracker",
				 (unsigned)o->tracker);
	if (o->page_size & (o->page_size - 1))
		return set_error(ctx, -EINVAL,
				 "assign_dirty_opts.page_size %" PRIu64
				 " is not a power of two",
				 o->page_size);
	if (o->ndevices && !o->devices)
		return set_error(ctx, -EINVAL,
				 "assign_dirty_opts.devices is NULL for %zu "
				 "devices",
				 o->ndevices);
	return 0;
}

/* Take the devices: each on this IOMMU object, none twice. */
static int take_devices(struct assign_dirty *d,
			const struct assign_dirty_opts *o)
{
	if (!o->ndevices)
		return 0;
	d->devs = calloc(o->ndevices, sizeof(*d->devs));
	d->idevs = calloc(o->ndevices, sizeof(*d->idevs));
	d->stopped = calloc(o->ndevices, sizeof(*d->stopped));
	if (!d->devs || !d->idevs || !d->stopped)
		return set_error(d->ctx, -ENOMEM, "out of memory");
	for (size_t i = 0; i < o->ndevices; i++) {
		struct assign_device *dev = o->devices[i];

		if (!dev || dev->iommu != d->iommu)
			return set_error(
				d->ctx, -EINVAL,
				"assign_dirty_opts.devices[%zu] %s: "
				"give the devices of this IOMMU object",
				i,
				!dev ? "is NULL" :
				       "is on another IOMMU object");
		for (size_t k = 0; k < i; k++)
			if (d->devs[k] == dev)
				return set_error(d->ctx, -EINVAL,
						 "assign_dirty_opts.devices "
						 "has %s twice",
						 dev->addr);
		d->devs[i] = assign_device_ref(dev);
		d->idevs[i].att = &dev->att;
		d->idevs[i].addr = dev->addr;
		d->ndevs++;
	}
	return 0;
}

/* The devices list covers every device of the IOMMU object: 0, or an
 * error (with @why for AUTO's message when @why is not NULL). */
static int need_all_devices(struct assign_dirty *d, const char *tracker,
			    char *why, size_t size)
{
	if (d->ndevs == d->attached)
		return 0;
	if (why) {
		snprintf(why, size,
			 "%s needs every device of the IOMMU object in "
			 "assign_dirty_opts.devices (%zu attached, %zu given)",
			 tracker, d->attached, d->ndevs);
		return -EOPNOTSUPP;
	}
	return set_error(d->ctx, -EINVAL,
			 "the %s tracker needs every device attached to the "
			 "IOMMU object in assign_dirty_opts.devices (%zu "
			 "attached, %zu given): a device left out would "
			 "write guest memory unseen",
			 tracker, d->attached, d->ndevs);
}

/* 1 when every device logs its DMA, 0 when one does not (why in @why),
 * or the probe's error (with its message). */
static int devices_log(struct assign_dirty *d, char *why, size_t size)
{
	for (size_t i = 0; i < d->ndevs; i++) {
		int r = assign_device_feature_probe(
			d->devs[i], VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			ASSIGN_DEVICE_FEATURE_F_SET);

		if (r < 0)
			return r;
		if (r == 0) {
			snprintf(why, size,
				 "%s has no DMA logging "
				 "(VFIO_DEVICE_FEATURE_DMA_LOGGING_START)",
				 d->devs[i]->addr);
			return 0;
		}
	}
	return 1;
}

static int start_device(struct assign_dirty *d)
{
	char why[160];
	int r;

	r = need_all_devices(d, "device DMA logging", NULL, 0);
	if (r < 0)
		return r;
	if (!d->ndevs)
		return set_error(d->ctx, -EINVAL,
				 "the device tracker needs the devices in "
				 "assign_dirty_opts.devices");
	if (d->info.page_size < LOG_MIN_PAGE)
		return set_error(d->ctx, -EINVAL,
				 "device DMA logging reports pages of 4096 "
				 "bytes or more; page size %" PRIu64 " is too "
				 "small",
				 d->info.page_size);
	r = devices_log(d, why, sizeof(why));
	if (r < 0)
		return r;
	if (r == 0)
		return set_error(d->ctx, -EOPNOTSUPP, "%s", why);
	return log_start(d);
}

static int start_iommu(struct assign_dirty *d, enum assign_dirty_tracker t,
		       uint64_t page_size)
{
	int r;

	if (t == ASSIGN_DIRTY_TRACKER_IOMMUFD) {
		r = need_all_devices(d, "iommufd", NULL, 0);
		if (r == 0)
			r = iommu_dirty_hwpt_start(d->iommu, d->idevs, d->ndevs,
						   page_size, &d->id);
	} else {
		r = iommu_dirty_type1_start(d->iommu, page_size, &d->id);
	}
	if (r < 0)
		return r;
	d->info.tracker = d->id.kind;
	d->info.precision = d->id.precision;
	d->info.page_size = d->id.page_size;
	d->info.max_length = d->id.max_length;
	return 0;
}

/* AUTO: the most precise tracker there is, or why there is none. */
static int start_auto(struct assign_dirty *d, uint64_t page_size)
{
	enum assign_iommu_backend be = assign_iommu_get_backend(d->iommu);
	char why_dev[200] = "", why_iommu[400] = "";
	char saved[ASSIGN_ERROR_MAX];
	int r;

	if (!d->ndevs) {
		snprintf(why_dev, sizeof(why_dev),
			 "device DMA logging needs the devices in "
			 "assign_dirty_opts.devices");
	} else if (need_all_devices(d, "device DMA logging", why_dev,
				    sizeof(why_dev)) == 0) {
		r = devices_log(d, why_dev, sizeof(why_dev));
		if (r < 0)
			return r;
		if (r == 1) {
			if (!d->info.page_size)
				d->info.page_size = host_page_size();
			return start_device(d);
		}
	}
	if (be == ASSIGN_IOMMU_TYPE1)
		return start_iommu(d, ASSIGN_DIRTY_TRACKER_TYPE1, page_size);
	if (!d->ndevs ||
	    need_all_devices(d, "iommufd", why_iommu, sizeof(why_iommu)) < 0) {
		if (!d->ndevs)
			snprintf(why_iommu, sizeof(why_iommu),
				 "iommufd needs the devices in "
				 "assign_dirty_opts.devices");
	} else {
		assign_error_save(d->ctx, saved);
		r = iommu_dirty_hwpt_probe(d->iommu, d->idevs, d->ndevs);
		if (r == 0)
			return start_iommu(d, ASSIGN_DIRTY_TRACKER_IOMMUFD,
					   page_size);
		snprintf(why_iommu, sizeof(why_iommu), "%s",
			 assign_error_get(d->ctx));
		assign_error_restore(d->ctx, saved);
		if (r != -EOPNOTSUPP)
			return set_error(d->ctx, r, "%s", why_iommu);
	}
	return set_error(d->ctx, -EOPNOTSUPP,
			 "no dirty tracker for this IOMMU object: %s; %s",
			 why_dev, why_iommu);
}

static int start(struct assign_dirty *d, const struct assign_dirty_opts *o)
{
	enum assign_iommu_backend be = assign_iommu_get_backend(d->iommu);

	if (be == ASSIGN_IOMMU_NOIOMMU)
		return set_error(d->ctx, -EPERM,
				 "dirty tracking: not available in no-IOMMU "
				 "mode: there is no IOMMU, and no tracker");
	if (!d->attached)
		return set_error(d->ctx, -ENODEV,
				 "no device is attached to the IOMMU object: "
				 "nothing does DMA to track");
	switch (o->tracker) {
	case ASSIGN_DIRTY_TRACKER_DEVICE:
		if (!d->info.page_size)
			d->info.page_size = host_page_size();
		return start_device(d);
	case ASSIGN_DIRTY_TRACKER_TYPE1:
	case ASSIGN_DIRTY_TRACKER_IOMMUFD:
		if ((o->tracker == ASSIGN_DIRTY_TRACKER_TYPE1) !=
		    (be == ASSIGN_IOMMU_TYPE1))
			return set_error(d->ctx, -EOPNOTSUPP,
					 "the %s tracker needs the %s backend; "
					 "this IOMMU object uses %s",
					 tracker_name(o->tracker),
					 tracker_name(o->tracker),
					 be == ASSIGN_IOMMU_TYPE1 ? "type1" :
								    "iommufd");
		return start_iommu(d, o->tracker, o->page_size);
	default:
		return start_auto(d, o->page_size);
	}
}

static void release(struct assign_dirty *d)
{
	for (size_t i = 0; i < d->ndevs; i++)
		assign_device_unref(d->devs[i]);
	free(d->devs);
	free(d->idevs);
	free(d->stopped);
	free(d->ranges);
	free(d->scratch);
	assign_iommu_unref(d->iommu);
	free(d);
}

ASSIGN_EXPORT int assign_dirty_new(struct assign_iommu *iommu,
				   const struct assign_dirty_opts *opts,
				   struct assign_dirty **ret)
{
	struct assign_dirty_opts o;
	struct assign_dirty *d;
	struct assign_ctx *ctx;
	int r;

	if (!iommu)
		return -EINVAL;
	ctx = assign_iommu_get_ctx(iommu);
	if (!ret)
		return set_error(ctx, -EINVAL, "assign_dirty_new: ret is NULL");
	r = check_opts(ctx, opts, &o);
	if (r < 0)
		return r;
	if (iommu_dirty_busy(iommu))
		return set_error(ctx, -EBUSY,
				 "a dirty tracker already runs on this IOMMU "
				 "object; stop it first (assign_dirty_stop())");
	d = calloc(1, sizeof(*d));
	if (!d)
		return set_error(ctx, -ENOMEM, "out of memory");
	d->refcount = 1;
	d->ctx = ctx;
	d->iommu = assign_iommu_ref(iommu);
	d->attached = iommu_attached_devices(iommu);
	d->info.size = sizeof(d->info);
	d->info.page_size = o.page_size;
	r = take_devices(d, &o);
	if (r == 0)
		r = start(d, &o);
	if (r < 0) {
		release(d);
		return r;
	}
	d->running = true;
	iommu_dirty_set_busy(iommu, true);
	if (d->info.precision == ASSIGN_DIRTY_PRECISION_ALL_MAPPED)
		info(ctx, "dirty tracking by type1: the kernel cannot see the "
			  "devices' writes, so every mapped page is reported "
			  "dirty at every fetch");
	else
		dbg(ctx, "dirty tracking by %s, %" PRIu64 "-byte pages",
		    tracker_name(d->info.tracker), d->info.page_size);
	*ret = d;
	return 0;
}

ASSIGN_EXPORT struct assign_dirty *assign_dirty_ref(struct assign_dirty *dirty)
{
	if (dirty)
		__atomic_add_fetch(&dirty->refcount, 1, __ATOMIC_RELAXED);
	return dirty;
}

ASSIGN_EXPORT int assign_dirty_stop(struct assign_dirty *dirty)
{
	struct assign_dirty *d = dirty;
	int r = 0;

	if (!d)
		return -EINVAL;
	if (!d->running)
		return 0;
	if (d->info.tracker == ASSIGN_DIRTY_TRACKER_DEVICE) {
		for (size_t i = 0; i < d->ndevs; i++) {
			int e;

			if (d->stopped[i])
				continue;
			e = log_stop_dev(d->devs[i]);
			if (e < 0 && !r)
				r = set_error(d->ctx, e,
					      "stopping DMA logging on %s "
					      "failed: %s; the tracker still "
					      "runs: stop it again",
					      d->devs[i]->addr, strerror(-e));
			d->stopped[i] = e == 0;
		}
	} else {
		r = iommu_dirty_stop(d->iommu, &d->id, d->idevs, d->ndevs);
	}
	if (r < 0)
		return r;
	d->running = false;
	iommu_dirty_set_busy(d->iommu, false);
	return 0;
}

ASSIGN_EXPORT struct assign_dirty *
assign_dirty_unref(struct assign_dirty *dirty)
{
	char saved[ASSIGN_ERROR_MAX];

	if (!dirty ||
	    __atomic_sub_fetch(&dirty->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	if (dirty->running) {
		assign_error_save(dirty->ctx, saved);
		if (assign_dirty_stop(dirty) < 0)
			warn(dirty->ctx,
			     "dirty tracking could not be stopped: %s",
			     assign_error_get(dirty->ctx));
		assign_error_restore(dirty->ctx, saved);
	}
	release(dirty);
	return NULL;
}

ASSIGN_EXPORT int assign_dirty_get_info(const struct assign_dirty *dirty,
					struct assign_dirty_info *info)
{
	int r;

	if (!dirty)
		return -EINVAL;
	r = sized_out_check(dirty->ctx, info, "assign_dirty_info");
	if (r < 0)
		return r;
	SIZED_OUT_FILL(info, &dirty->info);
	return 0;
}

static int check_request(struct assign_dirty *d, uint64_t iova, uint64_t length,
			 const uint64_t *bitmap, size_t bitmap_size,
			 size_t *bytes)
{
	uint64_t ps = d->info.page_size, pages;

	if (!d->running)
		return set_error(d->ctx, -EINVAL,
				 "dirty tracking was stopped: start a new "
				 "tracker (assign_dirty_new())");
	if (!bitmap || ((uintptr_t)bitmap & 7))
		return set_error(d->ctx, -EINVAL,
				 "the dirty bitmap must be a non-NULL, 8-byte "
				 "aligned array of uint64_t");
	if (!length || (iova | length) & (ps - 1))
		return set_error(d->ctx, -EINVAL,
				 "dirty range 0x%" PRIx64 " + 0x%" PRIx64
				 " is not aligned to the tracker's %" PRIu64
				 "-byte pages (or is empty)",
				 iova, length, ps);
	if (iova + (length - 1) < iova)
		return set_error(d->ctx, -EINVAL,
				 "dirty range 0x%" PRIx64 " + 0x%" PRIx64
				 " wraps around",
				 iova, length);
	if (length > d->info.max_length)
		return set_error(d->ctx, -E2BIG,
				 "dirty range of 0x%" PRIx64 " bytes: the %s "
				 "tracker fetches at most 0x%" PRIx64 " per "
				 "call",
				 length, tracker_name(d->info.tracker),
				 d->info.max_length);
	pages = length / ps;
	if (pages / 64 >= SIZE_MAX / 8 ||
	    bitmap_size < (size_t)((pages + 63) / 64 * 8))
		return set_error(
			d->ctx, -EINVAL,
			"a bitmap of %zu bytes is too small for %" PRIu64
			" pages: give %" PRIu64 " bytes",
			bitmap_size, pages, (pages + 63) / 64 * 8);
	*bytes = (size_t)((pages + 63) / 64 * 8);
	if (d->info.tracker != ASSIGN_DIRTY_TRACKER_TYPE1 &&
	    iommu_attached_devices(d->iommu) != d->attached)
		return set_error(d->ctx, -EBUSY,
				 "a device was attached to or detached from "
				 "the IOMMU object since dirty tracking "
				 "started; stop it and start again with every "
				 "device");
	return iommu_dirty_check_range(d->iommu, iova, length,
				       d->info.tracker ==
					       ASSIGN_DIRTY_TRACKER_TYPE1);
}

ASSIGN_EXPORT int assign_dirty_get_bitmap(struct assign_dirty *dirty,
					  uint64_t iova, uint64_t length,
					  uint64_t *bitmap, size_t bitmap_size)
{
	size_t bytes = 0;
	int r;

	if (!dirty)
		return -EINVAL;
	r = check_request(dirty, iova, length, bitmap, bitmap_size, &bytes);
	if (r < 0)
		return r;
	memset(bitmap, 0, bytes);
	if (dirty->info.tracker == ASSIGN_DIRTY_TRACKER_DEVICE)
		return log_report(dirty, iova, length, bitmap);
	return iommu_dirty_bitmap(dirty->iommu, &dirty->id, iova, length,
				  bitmap);
}
