// SPDX-License-Identifier: MIT
/*
 * Dirty tracking (assign_dirty_*, include/libassign/migration.h) against
 * the mock kernel: the type1 tracker and its every-mapped-page answer, an
 * emulated group's real dirt, the iommufd HWPT tracker and its clear
 * error on an IOMMU without dirty bits (the lab's case), the devices' DMA
 * logging with ranges mapped after the start and more mappings than the
 * kernel takes ranges, AUTO's choice, every bad request (unmapped,
 * misaligned, cutting a mapping, bitmaps too small), and a
 * fault-injection sweep over start, fetch and stop of each tracker.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include <libassign/libassign.h>

#include "mock.h"

#define DEVA "0000:00:03.0"
#define DEVB "0000:00:04.0"
#define DEVC "0000:00:05.0"
#define MEM (8u << 20)
#define PG 4096u

struct fx {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *a, *b;
	uint8_t *mem;
};

static const char *err(struct fx *f)
{
	return assign_ctx_get_last_error(f->ctx);
}

#define assert_err_contains(f, s)                                          \
	do {                                                               \
		if (!strstr(err(f), (s)))                                  \
			fail_msg("last error \"%s\" lacks \"%s\"", err(f), \
				 (s));                                     \
	} while (0)

static void add(struct mock_kernel *mk, const char *addr, int group,
		bool logging)
{
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, addr, group);
	cfg.dma_logging = logging;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
}

static int setup_backend(void **state, enum assign_iommu_backend be)
{
	struct assign_iommu_opts o = { .size = sizeof(o), .backend = be };
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mock_kernel_new(&f->mk), 0);
	add(f->mk, DEVA, 3, true);
	add(f->mk, DEVB, 4, true);
	add(f->mk, DEVC, 5, false);
	assert_int_equal(mock_ctx_new(f->mk, &f->ctx), 0);
	assert_int_equal(assign_iommu_new(f->ctx, &o, &f->iommu), 0);
	assert_int_equal(assign_device_open(f->iommu, DEVA, NULL, &f->a), 0);
	assert_int_equal(assign_device_open(f->iommu, DEVB, NULL, &f->b), 0);
	f->mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->mem != MAP_FAILED);
	*state = f;
	return 0;
}

static int setup_type1(void **state)
{
	return setup_backend(state, ASSIGN_IOMMU_TYPE1);
}

static int setup_iommufd(void **state)
{
	return setup_backend(state, ASSIGN_IOMMU_IOMMUFD);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	size_t tracking;

	assign_device_unref(f->a);
	assign_device_unref(f->b);
	assign_iommu_unref(f->iommu);
	assign_ctx_unref(f->ctx);
	assert_int_equal(mock_open_fds(f->mk), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(mock_hwpts(f->mk, &tracking), 0);
	assert_int_equal(mock_bad_fd_calls(f->mk), 0);
	mock_kernel_free(f->mk);
	munmap(f->mem, MEM);
	free(f);
	return 0;
}

static void map(struct fx *f, uint64_t iova, uint64_t off, uint64_t size)
{
	assert_int_equal(assign_iommu_map(f->iommu, iova, f->mem + off, size,
					  ASSIGN_DMA_F_RW),
			 0);
}

static struct assign_dirty *start(struct fx *f, enum assign_dirty_tracker t,
				  bool devices)
{
	struct assign_device *devs[2] = { f->a, f->b };
	struct assign_dirty_opts o = { .size = sizeof(o), .tracker = t };
	struct assign_dirty *d = NULL;

	if (devices) {
		o.devices = devs;
		o.ndevices = 2;
	}
	if (assign_dirty_new(f->iommu, &o, &d) < 0)
		fail_msg("assign_dirty_new: %s", err(f));
	return d;
}

static void get_info(struct assign_dirty *d, struct assign_dirty_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	assert_int_equal(assign_dirty_get_info(d, info), 0);
	assert_int_equal(info->size, sizeof(*info));
}

static unsigned popcount(const uint64_t *bm, size_t words)
{
	unsigned n = 0;

	for (size_t i = 0; i < words; i++)
		n += (unsigned)__builtin_popcountll(bm[i]);
	return n;
}

/* ---- type1 ----------------------------------------------------------- */

static void test_type1(void **state)
{
	struct fx *f = *state;
	struct assign_dirty_opts o = { .size = sizeof(o) };
	struct assign_dirty_info info;
	struct assign_dirty *d, *d2 = (void *)&d2;
	uint64_t bm[4];
	int c = assign_iommu_get_fd(f->iommu);

	map(f, 0x100000, 0, 0x20000);
	map(f, 0x120000, 0x20000, 0x20000);
	/* AUTO without devices: type1. */
	assert_int_equal(assign_dirty_new(f->iommu, NULL, &d), 0);
	assert_int_equal(mock_type1_dirty_tracking(f->mk, c), 1);
	get_info(d, &info);
	assert_int_equal(info.tracker, ASSIGN_DIRTY_TRACKER_TYPE1);
	assert_int_equal(info.precision, ASSIGN_DIRTY_PRECISION_ALL_MAPPED);
	assert_int_equal(info.page_size, PG);
	assert_true(info.max_length >= (1ull << 40));
	/* One tracker at a time. */
	assert_int_equal(assign_dirty_new(f->iommu, NULL, &d2), -EBUSY);
	assert_err_contains(f, "already runs");
	assert_ptr_equal(d2, (void *)&d2);
	/* Every mapped page, twice: the kernel cannot see the writes. */
	memset(bm, 0xa5, sizeof(bm));
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x40000, bm, 8),
			 0);
	assert_int_equal(bm[0], UINT64_MAX);
	assert_int_equal(bm[1], 0xa5a5a5a5a5a5a5a5ull); /* beyond: untouched */
	assert_int_equal(assign_dirty_get_bitmap(d, 0x120000, 0x20000, bm, 8),
			 0);
	assert_int_equal(bm[0], 0xffffffffull);
	/* Bad requests. */
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100800, 0x1000, bm, 8),
			 -EINVAL);
	assert_err_contains(f, "is not aligned to the tracker's 4096-byte "
			       "pages");
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0, bm, 8),
			 -EINVAL);
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x41000, bm, 16),
			 -ENOENT);
	assert_err_contains(f, "0x140000-0x140fff is not mapped");
	assert_int_equal(assign_dirty_get_bitmap(d, 0x80000, 0x80000, bm, 16),
			 -ENOENT);
	assert_err_contains(f, "0x80000-0xfffff is not mapped");
	assert_int_equal(assign_dirty_get_bitmap(d, 0x101000, 0x1f000, bm, 8),
			 -EINVAL);
	assert_err_contains(f, "whole mappings: 0x101000 is inside the mapping "
			       "0x100000-0x11ffff; start at 0x100000");
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x21000, bm, 8),
			 -EINVAL);
	assert_err_contains(f, "end at 0x13ffff");
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x40000, bm, 4),
			 -EINVAL);
	assert_err_contains(f, "a bitmap of 4 bytes is too small for 64 pages: "
			       "give 8 bytes");
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x40000, NULL, 8),
			 -EINVAL);
	assert_int_equal(
		assign_dirty_get_bitmap(d, 0x100000, 0x40000,
					(uint64_t *)((uint8_t *)bm + 4), 8),
		-EINVAL);
	assert_int_equal(assign_dirty_get_bitmap(d, UINT64_MAX - 0xfff, 0x2000,
						 bm, 8),
			 -EINVAL);
	assert_err_contains(f, "wraps around");
	assert_int_equal(assign_dirty_get_bitmap(NULL, 0, PG, bm, 8), -EINVAL);
	/* Stop, twice; then no fetch. */
	assert_int_equal(assign_dirty_stop(d), 0);
	assert_int_equal(mock_type1_dirty_tracking(f->mk, c), 0);
	assert_int_equal(assign_dirty_stop(d), 0);
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x40000, bm, 8),
			 -EINVAL);
	assert_err_contains(f, "was stopped");
	assert_null(assign_dirty_unref(d));
	/* type1 has one page size. */
	o.page_size = 2 * PG;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	assert_err_contains(f, "type1 tracks dirty pages at 4096 bytes only");
	/* An explicit tracker of the other backend. */
	o.page_size = 0;
	o.tracker = ASSIGN_DIRTY_TRACKER_IOMMUFD;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EOPNOTSUPP);
	assert_err_contains(f, "the iommufd tracker needs the iommufd backend");
	assert_int_equal(mock_type1_dirty_tracking(f->mk, c), 0);
	/* The last unref stops a running tracker. */
	assert_int_equal(assign_dirty_new(f->iommu, NULL, &d), 0);
	assert_ptr_equal(assign_dirty_ref(d), d);
	assert_null(assign_dirty_unref(d));
	assert_int_equal(mock_type1_dirty_tracking(f->mk, c), 1);
	assert_null(assign_dirty_unref(d));
	assert_int_equal(mock_type1_dirty_tracking(f->mk, c), 0);
	assert_null(assign_dirty_ref(NULL));
	assert_null(assign_dirty_unref(NULL));
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

/* Containers of emulated groups (mdevs) report what was written. */
static void test_type1_pinned(void **state)
{
	struct fx *f = *state;
	struct assign_dirty_info info;
	struct assign_dirty *d;
	uint64_t bm[1];

	mock_set_group_emulated(f->mk, 3, true);
	mock_set_group_emulated(f->mk, 4, true);
	map(f, 0x100000, 0, 0x40000);
	d = start(f, ASSIGN_DIRTY_TRACKER_TYPE1, false);
	get_info(d, &info);
	assert_int_equal(info.precision, ASSIGN_DIRTY_PRECISION_PINNED);
	assert_int_equal(mock_dma_write(f->mk, DEVA, 0x105000, "z", 1), 0);
	assert_int_equal(mock_dma_write(f->mk, DEVB, 0x13f000, "y", 1), 0);
	assert_int_equal(f->mem[0x5000], 'z');
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x40000, bm, 8),
			 0);
	assert_int_equal(bm[0], (1ull << 5) | (1ull << 63));
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x40000, bm, 8),
			 0);
	assert_int_equal(bm[0], 0);
	/* One IOMMU-backed group is enough to spoil it. */
	assign_dirty_unref(d);
	mock_set_group_emulated(f->mk, 4, false);
	d = start(f, ASSIGN_DIRTY_TRACKER_AUTO, false);
	get_info(d, &info);
	assert_int_equal(info.precision, ASSIGN_DIRTY_PRECISION_ALL_MAPPED);
	assign_dirty_unref(d);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

/* ---- iommufd --------------------------------------------------------- */

/* The lab's emulated Intel IOMMU has no dirty bits: a clear refusal. */
static void test_iommufd_unsupported(void **state)
{
	struct fx *f = *state;
	struct assign_device *devs[2] = { f->a, f->b };
	struct assign_dirty_opts o = { .size = sizeof(o),
				       .tracker = ASSIGN_DIRTY_TRACKER_IOMMUFD,
				       .devices = devs,
				       .ndevices = 2 };
	struct assign_device *c;
	struct assign_dirty *d = (void *)&d;
	size_t tracking;

	map(f, 0x100000, 0, 0x40000);
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EOPNOTSUPP);
	assert_err_contains(f, "the IOMMU of " DEVA " cannot track dirty pages "
			       "(IOMMU_GET_HW_INFO reports no "
			       "IOMMU_HW_CAP_DIRTY_TRACKING");
	assert_err_contains(f, "use the devices' DMA logging");
	assert_int_equal(mock_hwpts(f->mk, &tracking), 0);
	/* AUTO with a device that does not log: nothing is left. */
	assert_int_equal(assign_device_open(f->iommu, DEVC, NULL, &c), 0);
	o.tracker = ASSIGN_DIRTY_TRACKER_AUTO;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EOPNOTSUPP);
	assert_err_contains(f, "no dirty tracker for this IOMMU object: device "
			       "DMA logging needs every device");
	{
		struct assign_device *all[3] = { f->a, f->b, c };

		o.devices = all;
		o.ndevices = 3;
		assert_int_equal(assign_dirty_new(f->iommu, &o, &d),
				 -EOPNOTSUPP);
		assert_err_contains(f, DEVC " has no DMA logging");
		assert_err_contains(f, "cannot track dirty pages");
		o.tracker = ASSIGN_DIRTY_TRACKER_DEVICE;
		assert_int_equal(assign_dirty_new(f->iommu, &o, &d),
				 -EOPNOTSUPP);
		assert_err_contains(f, DEVC " has no DMA logging");
	}
	o.devices = devs;
	o.ndevices = 2;
	o.tracker = ASSIGN_DIRTY_TRACKER_TYPE1;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EOPNOTSUPP);
	assert_err_contains(f, "the type1 tracker needs the type1 backend; "
			       "this IOMMU object uses iommufd");
	assert_ptr_equal(d, (void *)&d);
	assert_int_equal(mock_dma_logging(f->mk, DEVA), 0);
	assign_device_unref(c);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

static void test_iommufd_hwpt(void **state)
{
	struct fx *f = *state;
	struct assign_device *one[1] = { f->a };
	struct assign_dirty_opts o = { .size = sizeof(o),
				       .tracker = ASSIGN_DIRTY_TRACKER_IOMMUFD,
				       .devices = one,
				       .ndevices = 1 };
	struct assign_dirty_info info;
	struct assign_dirty *d;
	struct assign_device *c;
	size_t tracking;
	uint64_t bm[1];

	mock_set_dirty_tracking(f->mk, true);
	map(f, 0x100000, 0, 0x40000);
	/* Every device of the IOMMU object, or none is tracked. */
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	assert_err_contains(f, "needs every device attached to the IOMMU "
			       "object in assign_dirty_opts.devices (2 "
			       "attached, 1 given)");
	d = start(f, ASSIGN_DIRTY_TRACKER_AUTO, true);
	get_info(d, &info);
	/* Both devices log: AUTO prefers the devices; ask for iommufd. */
	assert_int_equal(info.tracker, ASSIGN_DIRTY_TRACKER_DEVICE);
	assign_dirty_unref(d);
	d = start(f, ASSIGN_DIRTY_TRACKER_IOMMUFD, true);
	get_info(d, &info);
	assert_int_equal(info.tracker, ASSIGN_DIRTY_TRACKER_IOMMUFD);
	assert_int_equal(info.precision, ASSIGN_DIRTY_PRECISION_WRITTEN);
	assert_int_equal(info.page_size, PG);
	assert_int_equal(mock_hwpts(f->mk, &tracking), 1);
	assert_int_equal(tracking, 1);
	assert_int_equal(mock_dma_write(f->mk, DEVA, 0x101000, "a", 1), 0);
	assert_int_equal(mock_dma_write(f->mk, DEVB, 0x13e000, "b", 2), 0);
	/* Any aligned mapped range, not whole mappings only. */
	assert_int_equal(assign_dirty_get_bitmap(d, 0x101000, 0x3e000, bm, 8),
			 0);
	assert_int_equal(bm[0], (1ull << 0) | (1ull << 61));
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x40000, bm, 8),
			 0);
	assert_int_equal(bm[0], 0);
	/* A device attached since the start would go unseen. */
	assert_int_equal(assign_device_open(f->iommu, DEVC, NULL, &c), 0);
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x40000, bm, 8),
			 -EBUSY);
	assert_err_contains(f, "attached to or detached from");
	assign_device_unref(c);
	assert_int_equal(assign_dirty_stop(d), 0);
	assert_int_equal(mock_hwpts(f->mk, &tracking), 0);
	/* Back on the IOAS: DMA still reaches memory. */
	assert_int_equal(mock_dma_write(f->mk, DEVA, 0x102000, "c", 1), 0);
	assert_int_equal(f->mem[0x2000], 'c');
	assign_dirty_unref(d);
	/* A page size of the caller's. */
	o.devices = (struct assign_device *const[]){ f->a, f->b };
	o.ndevices = 2;
	o.page_size = 3 * PG;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	o.page_size = 4 * PG;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), 0);
	assert_int_equal(mock_dma_write(f->mk, DEVA, 0x10d000, "a", 1), 0);
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x40000, bm, 8),
			 0);
	assert_int_equal(bm[0], 1ull << 3);
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x1000, bm, 8),
			 -EINVAL);
	assign_dirty_unref(d);
	assert_int_equal(mock_hwpts(f->mk, NULL), 0);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

/* ---- device DMA logging ---------------------------------------------- */

static void test_device_logging(void **state)
{
	struct fx *f = *state;
	struct assign_dirty_opts o = {
		.size = sizeof(o),
		.tracker = ASSIGN_DIRTY_TRACKER_DEVICE,
		.devices = (struct assign_device *const[]){ f->a, f->b },
		.ndevices = 2
	};
	struct assign_dirty_info info;
	struct assign_dirty *d;
	uint64_t bm[2];

	/* Nothing mapped: nothing to log. */
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	assert_err_contains(f, "nothing is mapped");
	o.page_size = 2048;
	map(f, 0x105000, 0x5000, 0x10000);
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	assert_err_contains(f, "4096 bytes or more");
	o.page_size = 0;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), 0);
	get_info(d, &info);
	assert_int_equal(info.tracker, ASSIGN_DIRTY_TRACKER_DEVICE);
	assert_int_equal(info.precision, ASSIGN_DIRTY_PRECISION_WRITTEN);
	assert_int_equal(mock_dma_logging(f->mk, DEVA), 1);
	assert_int_equal(mock_dma_logging(f->mk, DEVB), 1);
	/* Mapped after the start: no device logs it. */
	map(f, 0x100000, 0, 0x5000);
	map(f, 0x115000, 0x15000, 0x4000);
	assert_int_equal(mock_dma_write(f->mk, DEVA, 0x106000, "a", 1), 0);
	assert_int_equal(mock_dma_write(f->mk, DEVB, 0x114000, "b", 1), 0);
	assert_int_equal(mock_dma_write(f->mk, DEVB, 0x100000, "x", 1), 0);
	/* Bit 0 is 0x100000: the logged range starts at bit 5. */
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x19000, bm, 8),
			 0);
	assert_int_equal(bm[0],
			 0x1full | (1ull << 6) | (1ull << 20) | (0xfull << 21));
	/* Read and cleared: only the unlogged pages come again. */
	assert_int_equal(assign_dirty_get_bitmap(d, 0x100000, 0x19000, bm, 8),
			 0);
	assert_int_equal(bm[0], 0x1full | (0xfull << 21));
	/* Inside the logged range, at word 0: no copy. */
	assert_int_equal(mock_dma_write(f->mk, DEVA, 0x107000, "a", 1), 0);
	assert_int_equal(assign_dirty_get_bitmap(d, 0x105000, 0x10000, bm, 8),
			 0);
	assert_int_equal(bm[0], 1ull << 2);
	assert_int_equal(assign_dirty_stop(d), 0);
	assert_int_equal(mock_dma_logging(f->mk, DEVA), 0);
	assert_int_equal(mock_dma_logging(f->mk, DEVB), 0);
	assign_dirty_unref(d);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

/* More mappings than a device takes ranges: gaps are closed. */
static void test_device_logging_many(void **state)
{
	struct fx *f = *state;
	struct assign_dirty *d;
	uint64_t *bm;
	size_t pages = 700 * 2, words = (pages + 63) / 64;

	for (unsigned i = 0; i < 700; i++)
		map(f, 0x1000000 + 2ull * PG * i, (uint64_t)PG * i, PG);
	d = start(f, ASSIGN_DIRTY_TRACKER_DEVICE, true);
	for (unsigned i = 0; i < 700; i++)
		assert_int_equal(mock_dma_write(f->mk, i % 2 ? DEVA : DEVB,
						0x1000000 + 2ull * PG * i, "d",
						1),
				 0);
	bm = calloc(words, 8);
	assert_non_null(bm);
	/* Every mapping, one by one: each write was logged. */
	for (unsigned i = 0; i < 700; i++) {
		assert_int_equal(
			assign_dirty_get_bitmap(d, 0x1000000 + 2ull * PG * i,
						PG, bm, 8),
			0);
		assert_int_equal(bm[0], 1);
	}
	assert_int_equal(assign_dirty_get_bitmap(d, 0x1000000, PG, bm, 8), 0);
	assert_int_equal(popcount(bm, 1), 0);
	free(bm);
	assign_dirty_unref(d);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

/* ---- options ---------------------------------------------------------- */

static void test_opts(void **state)
{
	struct fx *f = *state;
	struct assign_dirty_opts o = { .size = sizeof(o) };
	struct assign_dirty *d = (void *)&d;
	struct assign_dirty_info info = { .size = 0 };
	struct assign_iommu *other;
	struct assign_device *devs[2] = { f->a, f->a };

	assert_int_equal(assign_dirty_new(NULL, NULL, &d), -EINVAL);
	assert_int_equal(assign_dirty_new(f->iommu, NULL, NULL), -EINVAL);
	o.flags = 1;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	assert_err_contains(f, "unknown bits");
	o.flags = 0;
	o.tracker = 9;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	assert_err_contains(f, "not an enum assign_dirty_tracker");
	o.tracker = 0;
	o.page_size = 12288;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	assert_err_contains(f, "not a power of two");
	o.page_size = 0;
	o.ndevices = 1;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	o.devices = devs;
	o.ndevices = 2;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	assert_err_contains(f, "has " DEVA " twice");
	assert_int_equal(assign_iommu_new(f->ctx, NULL, &other), 0);
	assert_int_equal(assign_dirty_new(other, NULL, &d), -ENODEV);
	assert_err_contains(f, "no device is attached");
	o.devices = (struct assign_device *const[]){ f->a };
	o.ndevices = 1;
	assert_int_equal(assign_dirty_new(other, &o, &d), -EINVAL);
	assert_err_contains(f, "is on another IOMMU object");
	assign_iommu_unref(other);
	o.size = 2;
	assert_int_equal(assign_dirty_new(f->iommu, &o, &d), -EINVAL);
	assert_ptr_equal(d, (void *)&d);
	/* get_info. */
	map(f, 0x100000, 0, PG);
	assert_int_equal(assign_dirty_new(f->iommu, NULL, &d), 0);
	assert_int_equal(assign_dirty_get_info(d, &info), -EINVAL);
	assert_int_equal(assign_dirty_get_info(NULL, &info), -EINVAL);
	assert_int_equal(assign_dirty_stop(NULL), -EINVAL);
	assign_dirty_unref(d);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

static void test_noiommu(void **state)
{
	struct assign_iommu_opts io = { .size = sizeof(io),
					.backend = ASSIGN_IOMMU_NOIOMMU,
					.flags = ASSIGN_IOMMU_F_ALLOW_NOIOMMU };
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
	struct assign_dirty *d;

	(void)state;
	assert_int_equal(mock_kernel_new(&mk), 0);
	mock_set_noiommu(mk, true);
	add(mk, DEVA, 3, true);
	assert_int_equal(mock_ctx_new(mk, &ctx), 0);
	assign_ctx_set_log_priority(ctx, 0);
	assert_int_equal(assign_iommu_new(ctx, &io, &iommu), 0);
	assert_int_equal(assign_device_open(iommu, DEVA, NULL, &dev), 0);
	assert_int_equal(assign_dirty_new(iommu, NULL, &d), -EPERM);
	assert_non_null(strstr(assign_ctx_get_last_error(ctx), "no-IOMMU"));
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	assert_int_equal(mock_open_fds(mk), 0);
	mock_kernel_free(mk);
}

/* ---- fault injection -------------------------------------------------- */

static int one_round(struct fx *f, enum assign_dirty_tracker t)
{
	struct assign_device *devs[2] = { f->a, f->b };
	struct assign_dirty_opts o = {
		.size = sizeof(o), .tracker = t, .devices = devs, .ndevices = 2
	};
	struct assign_dirty *d;
	uint64_t bm[1];
	int r;

	r = assign_dirty_new(f->iommu, &o, &d);
	if (r < 0)
		return r;
	r = assign_dirty_get_bitmap(d, 0x100000, 0x40000, bm, 8);
	if (r == 0)
		r = assign_dirty_stop(d);
	assign_dirty_unref(d);
	return r;
}

static void sweep(struct fx *f, enum assign_dirty_tracker t)
{
	unsigned long calls, k;
	size_t tracking;

	calls = mock_calls(f->mk, MOCK_ANY);
	assert_int_equal(one_round(f, t), 0);
	calls = mock_calls(f->mk, MOCK_ANY) - calls;
	assert_true(calls >= 3);
	for (k = 1; k <= calls; k++) {
		int r;

		assign_ctx_clear_last_error(f->ctx);
		mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
		r = one_round(f, t);
		mock_fail_clear(f->mk);
		if (r < 0 && !*err(f))
			fail_msg("call %lu failed (%d) without a message", k,
				 r);
		/* Nothing is left running, and a new round works. */
		assert_int_equal(mock_dma_logging(f->mk, DEVA), 0);
		assert_int_equal(mock_dma_logging(f->mk, DEVB), 0);
		assert_int_equal(one_round(f, t), 0);
	}
	assert_int_equal(mock_hwpts(f->mk, &tracking), 0);
	assert_int_equal(mock_bad_fd_calls(f->mk), 0);
}

static void test_fault_sweep_type1(void **state)
{
	struct fx *f = *state;

	map(f, 0x100000, 0, 0x40000);
	sweep(f, ASSIGN_DIRTY_TRACKER_TYPE1);
	sweep(f, ASSIGN_DIRTY_TRACKER_DEVICE);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

static void test_fault_sweep_iommufd(void **state)
{
	struct fx *f = *state;

	mock_set_dirty_tracking(f->mk, true);
	map(f, 0x100000, 0, 0x40000);
	sweep(f, ASSIGN_DIRTY_TRACKER_IOMMUFD);
	sweep(f, ASSIGN_DIRTY_TRACKER_AUTO);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_type1, setup_type1,
						teardown),
		cmocka_unit_test_setup_teardown(test_type1_pinned, setup_type1,
						teardown),
		cmocka_unit_test_setup_teardown(test_iommufd_unsupported,
						setup_iommufd, teardown),
		cmocka_unit_test_setup_teardown(test_iommufd_hwpt,
						setup_iommufd, teardown),
		cmocka_unit_test_setup_teardown(test_device_logging,
						setup_type1, teardown),
		cmocka_unit_test_setup_teardown(test_device_logging,
						setup_iommufd, teardown),
		cmocka_unit_test_setup_teardown(test_device_logging_many,
						setup_iommufd, teardown),
		cmocka_unit_test_setup_teardown(test_opts, setup_type1,
						teardown),
		cmocka_unit_test(test_noiommu),
		cmocka_unit_test_setup_teardown(test_fault_sweep_type1,
						setup_type1, teardown),
		cmocka_unit_test_setup_teardown(test_fault_sweep_iommufd,
						setup_iommufd, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
