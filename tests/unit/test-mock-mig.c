// SPDX-License-Identifier: MIT
/*
 * Tests of the mock kernel's migration and dirty-tracking model
 * (tests/mock/mock_mig.c, mock_dirty.c), through raw calls on its seam:
 * the migration features and the arcs of the state machine, the data
 * fds (PRE_COPY's temporary end, precopy info, STOP_COPY's end of
 * stream, a resuming device refusing a bad stream), the ERROR state and
 * resets, device DMA logging, type1's VFIO_IOMMU_DIRTY_PAGES, the
 * iommufd dirty-tracking HWPT, DMA writes by a device, and the fds a test
 * passes through read() and write().
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock.h"

#define SRC "0000:00:03.0"
#define DST "0000:00:04.0"
#define PLAIN "0000:00:05.0"
#define ALLMIG                                           \
	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | \
	 VFIO_MIGRATION_PRE_COPY)

struct fx {
	struct mock_kernel *mk;
	const struct assign_sys_ops *ops;
};

static struct fx *F;

static int sopen(const char *p)
{
	return F->ops->open(F->mk, p, O_RDWR);
}
static int sclose(int fd)
{
	return F->ops->close(F->mk, fd);
}
static int sioctl(int fd, unsigned long req, void *arg)
{
	return F->ops->ioctl(F->mk, fd, req, arg);
}
static ssize_t sread(int fd, void *b, size_t n)
{
	return F->ops->read(F->mk, fd, b, n);
}
static ssize_t swrite(int fd, const void *b, size_t n)
{
	return F->ops->write(F->mk, fd, b, n);
}

static void add(struct mock_kernel *mk, const char *addr, int group,
		uint32_t migflags, bool logging)
{
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, addr, group);
	cfg.migration_flags = migflags;
	cfg.mig_state_size = 3 * 4096 + 100;
	cfg.dma_logging = logging;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(mock_kernel_new(&fx->mk), 0);
	fx->ops = mock_sys_ops();
	add(fx->mk, SRC, 3, ALLMIG, true);
	add(fx->mk, DST, 4, ALLMIG, true);
	add(fx->mk, PLAIN, 5, 0, false);
	F = fx;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(mock_open_fds(fx->mk), 0);
	assert_int_equal(mock_dma_count(fx->mk), 0);
	assert_int_equal(mock_bad_fd_calls(fx->mk), 0);
	mock_kernel_free(fx->mk);
	free(fx);
	return 0;
}

/* Container + group @gid set to type1v2, device fd of @addr. */
static void open_type1(int gid, const char *addr, int *c, int *g, int *d)
{
	char path[32];

	*c = sopen("/dev/vfio/vfio");
	assert_true(*c >= 0);
	snprintf(path, sizeof(path), "/dev/vfio/%d", gid);
	*g = sopen(path);
	assert_true(*g >= 0);
	assert_int_equal(sioctl(*g, VFIO_GROUP_SET_CONTAINER, c), 0);
	assert_int_equal(sioctl(*c, VFIO_SET_IOMMU,
				(void *)(uintptr_t)VFIO_TYPE1v2_IOMMU),
			 0);
	*d = sioctl(*g, VFIO_GROUP_GET_DEVICE_FD, (void *)addr);
	assert_true(*d >= 0);
}

static void close3(int c, int g, int d)
{
	assert_int_equal(sclose(d), 0);
	assert_int_equal(sclose(g), 0);
	assert_int_equal(sclose(c), 0);
}

struct feat {
	struct vfio_device_feature f;
	uint8_t data[64];
};

static int feature(int d, uint32_t flags, void *data, size_t len)
{
	struct feat ft;
	int r;

	memset(&ft, 0, sizeof(ft));
	ft.f.argsz = (uint32_t)(sizeof(ft.f) + len);
	ft.f.flags = flags;
	if (data)
		memcpy(ft.f.data, data, len);
	r = sioctl(d, VFIO_DEVICE_FEATURE, &ft);
	if (data)
		memcpy(data, ft.f.data, len);
	return r;
}

/* SET the state; the data fd (or -1) in *fd. */
static int set_state(int d, uint32_t to, int *fd)
{
	struct vfio_device_feature_mig_state ms = { .device_state = to };
	int r;

	r = feature(d,
		    VFIO_DEVICE_FEATURE_SET |
			    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		    &ms, sizeof(ms));
	if (fd)
		*fd = r == 0 ? ms.data_fd : -1;
	return r;
}

static uint32_t get_state(int d)
{
	struct vfio_device_feature_mig_state ms = { 0 };

	assert_int_equal(feature(d,
				 VFIO_DEVICE_FEATURE_GET |
					 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				 &ms, sizeof(ms)),
			 0);
	assert_int_equal(ms.data_fd, -1);
	return ms.device_state;
}

static void test_features(void **state)
{
	struct vfio_device_feature_migration mg = { 0 };
	struct vfio_device_feature_mig_data_size ds = { 0 };
	int c, g, d;

	(void)state;
	open_type1(5, PLAIN, &c, &g, &d);
	assert_int_equal(feature(d,
				 VFIO_DEVICE_FEATURE_GET |
					 VFIO_DEVICE_FEATURE_MIGRATION,
				 &mg, sizeof(mg)),
			 -ENOTTY);
	assert_int_equal(feature(d,
				 VFIO_DEVICE_FEATURE_PROBE |
					 VFIO_DEVICE_FEATURE_SET |
					 VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 NULL, 0),
			 -ENOTTY);
	close3(c, g, d);

	open_type1(3, SRC, &c, &g, &d);
	assert_int_equal(feature(d,
				 VFIO_DEVICE_FEATURE_GET |
					 VFIO_DEVICE_FEATURE_MIGRATION,
				 &mg, sizeof(mg)),
			 0);
	assert_int_equal(mg.flags, ALLMIG);
	/* MIGRATION is GET only; a short argsz is refused. */
	assert_int_equal(feature(d,
				 VFIO_DEVICE_FEATURE_SET |
					 VFIO_DEVICE_FEATURE_MIGRATION,
				 &mg, sizeof(mg)),
			 -EINVAL);
	assert_int_equal(feature(d,
				 VFIO_DEVICE_FEATURE_GET |
					 VFIO_DEVICE_FEATURE_MIGRATION,
				 &mg, 4),
			 -EINVAL);
	assert_int_equal(feature(d,
				 VFIO_DEVICE_FEATURE_PROBE |
					 VFIO_DEVICE_FEATURE_SET |
					 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				 NULL, 0),
			 0);
	assert_int_equal(feature(d,
				 VFIO_DEVICE_FEATURE_GET |
					 VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
				 &ds, sizeof(ds)),
			 0);
	/* header 16, chunk 8 + state, end 8 */
	assert_int_equal(ds.stop_copy_length, 16 + 8 + 3 * 4096 + 100 + 8);
	assert_int_equal(get_state(d), VFIO_DEVICE_STATE_RUNNING);
	close3(c, g, d);
}

/* Read the whole stream that is there now; returns the bytes read. */
static size_t drain(int fd, uint8_t *buf, size_t max, ssize_t *last)
{
	size_t n = 0;
	ssize_t r;

	while ((r = sread(fd, buf + n, max - n > 1000 ? 1000 : max - n)) > 0)
		n += (size_t)r;
	*last = r;
	return n;
}

static void test_save_resume(void **state)
{
	struct fx *fx = *state;
	struct vfio_precopy_info pi = { .argsz = sizeof(pi) };
	uint8_t *src, *dst, *stream = malloc(1 << 16);
	size_t size, n = 0, k;
	int c, g, d, c2, g2, d2, fd, rfd;
	ssize_t last;

	src = mock_mig_state(fx->mk, SRC, &size);
	dst = mock_mig_state(fx->mk, DST, NULL);
	for (size_t i = 0; i < size; i++)
		src[i] = (uint8_t)(i * 13 + 1);
	open_type1(3, SRC, &c, &g, &d);
	open_type1(4, DST, &c2, &g2, &d2);

	/* PRE_COPY: the whole state is initial data. */
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &fd), 0);
	assert_true(fd >= 0);
	assert_int_equal(mock_mig_arcs(fx->mk, SRC, VFIO_DEVICE_STATE_RUNNING,
				       VFIO_DEVICE_STATE_PRE_COPY),
			 1);
	assert_int_equal(sioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &pi), 0);
	assert_int_equal(pi.initial_bytes, 16 + 8 + size);
	assert_int_equal(pi.dirty_bytes, 0);
	n = drain(fd, stream, 1 << 16, &last);
	assert_int_equal(n, 16 + 8 + size);
	assert_int_equal(last, -ENOMSG); /* the temporary end */
	assert_int_equal(sioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &pi), 0);
	assert_int_equal(pi.initial_bytes, 0);
	/* The device changes a block already read: it is dirty. */
	assert_int_equal(mock_mig_state_write(fx->mk, SRC, 5000, "xyz", 3), 0);
	assert_int_equal(sioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &pi), 0);
	assert_int_equal(pi.dirty_bytes, 8 + 4096);
	k = drain(fd, stream + n, (1 << 16) - n, &last);
	assert_int_equal(k, 8 + 4096);
	n += k;
	/* A write to the resuming fd only; no write to the saving one. */
	assert_int_equal(swrite(fd, stream, 4), -EINVAL);
	/* STOP_COPY through PRE_COPY_P2P; the same fd goes on. */
	assert_int_equal(mock_mig_state_write(fx->mk, SRC, 0, "abc", 3), 0);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &rfd), 0);
	assert_int_equal(rfd, -1);
	assert_int_equal(mock_mig_arcs(fx->mk, SRC, VFIO_DEVICE_STATE_PRE_COPY,
				       VFIO_DEVICE_STATE_PRE_COPY_P2P),
			 1);
	assert_int_equal(sioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &pi), -EINVAL);
	k = drain(fd, stream + n, (1 << 16) - n, &last);
	assert_int_equal(k, 8 + 4096 + 8);
	assert_int_equal(last, 0); /* the end of the stream */
	n += k;
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP, NULL), 0);
	/* The session ended with STOP_COPY -> STOP. */
	assert_int_equal(sread(fd, stream, 16), -ENODEV);
	assert_int_equal(sclose(fd), 0);

	/* RUNNING -> RESUMING walks RUNNING_P2P and STOP. */
	assert_int_equal(set_state(d2, VFIO_DEVICE_STATE_RESUMING, &rfd), 0);
	assert_int_equal(mock_mig_arcs_total(fx->mk, DST), 3);
	assert_true(rfd >= 0);
	assert_int_equal(sread(rfd, stream, 4), -EINVAL);
	for (size_t off = 0; off < n; off += 777)
		assert_int_equal(swrite(rfd, stream + off,
					n - off < 777 ? n - off : 777),
				 (ssize_t)(n - off < 777 ? n - off : 777));
	assert_int_equal(set_state(d2, VFIO_DEVICE_STATE_RUNNING, NULL), 0);
	assert_memory_equal(src, dst, size);
	assert_int_equal(memcmp(dst, "abc", 3), 0);
	assert_int_equal(memcmp(dst + 5000, "xyz", 3), 0);
	assert_int_equal(sclose(rfd), 0);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL), 0);
	close3(c, g, d);
	close3(c2, g2, d2);
	free(stream);
}

static void test_resume_refuses(void **state)
{
	struct fx *fx = *state;
	uint8_t hdr[16] = { 0 }, end[8];
	uint64_t magic = 0x2147494d4b434f4dull;
	uint32_t ver = 1, sz = 3 * 4096 + 100, e = 0xffffffffu, z = 0;
	int c, g, d, rfd;

	open_type1(4, DST, &c, &g, &d);
	memcpy(hdr, &magic, 8);
	memcpy(hdr + 8, &ver, 4);
	memcpy(end, &e, 4);
	memcpy(end + 4, &z, 4);
	/* A stream for another state size. */
	sz += 1;
	memcpy(hdr + 12, &sz, 4);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_RESUMING, &rfd), 0);
	assert_int_equal(swrite(rfd, hdr, 16), -EINVAL);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP, NULL), -EINVAL);
	assert_int_equal(get_state(d), VFIO_DEVICE_STATE_RESUMING);
	/* Aborting a RESUMING session takes a reset. */
	assert_int_equal(sioctl(d, VFIO_DEVICE_RESET, NULL), 0);
	assert_int_equal(get_state(d), VFIO_DEVICE_STATE_RUNNING);
	assert_int_equal(swrite(rfd, hdr, 16), -ENODEV);
	assert_int_equal(sclose(rfd), 0);
	/* A stream without its end mark. */
	sz -= 1;
	memcpy(hdr + 12, &sz, 4);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_RESUMING, &rfd), 0);
	assert_int_equal(swrite(rfd, hdr, 16), 16);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP, NULL), -EINVAL);
	assert_int_equal(swrite(rfd, end, 8), 8);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP, NULL), 0);
	assert_int_equal(sclose(rfd), 0);
	(void)fx;
	close3(c, g, d);
}

static void test_arcs_and_error(void **state)
{
	struct fx *fx = *state;
	uint8_t buf[64];
	int c, g, d, fd;

	open_type1(3, SRC, &c, &g, &d);
	/* ERROR is no target; states out of range neither. */
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_ERROR, NULL), -EINVAL);
	assert_int_equal(set_state(d, 9, NULL), -EINVAL);
	/* STOP_COPY cannot go back to PRE_COPY. */
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd), 0);
	assert_int_equal(mock_mig_arcs(fx->mk, SRC, VFIO_DEVICE_STATE_STOP,
				       VFIO_DEVICE_STATE_STOP_COPY),
			 1);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_PRE_COPY, NULL),
			 -EINVAL);
	assert_int_equal(get_state(d), VFIO_DEVICE_STATE_STOP_COPY);
	/* An arc that fails into ERROR. */
	mock_mig_fail_arc(fx->mk, SRC, VFIO_DEVICE_STATE_STOP_COPY,
			  VFIO_DEVICE_STATE_STOP, -EIO, true);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP, NULL), -EIO);
	assert_int_equal(get_state(d), VFIO_DEVICE_STATE_ERROR);
	assert_int_equal(sread(fd, buf, sizeof(buf)), -ENODEV);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL),
			 -EINVAL);
	assert_int_equal(sioctl(d, VFIO_DEVICE_RESET, NULL), 0);
	assert_int_equal(get_state(d), VFIO_DEVICE_STATE_RUNNING);
	assert_int_equal(sclose(fd), 0);
	/* An arc that fails and leaves the device where it was. */
	mock_mig_fail_arc(fx->mk, SRC, MOCK_MIG_ANY, VFIO_DEVICE_STATE_STOP,
			  -EBUSY, false);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP, NULL), -EBUSY);
	assert_int_equal(get_state(d), VFIO_DEVICE_STATE_RUNNING_P2P);
	/* The last close puts the device back in RUNNING. */
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP, NULL), 0);
	close3(c, g, d);
	assert_int_equal(mock_mig_get_state(fx->mk, SRC),
			 VFIO_DEVICE_STATE_RUNNING);
}

static void test_no_p2p_no_precopy(void **state)
{
	struct fx *fx = *state;
	int c, g, d;

	add(fx->mk, "0000:00:06.0", 6, VFIO_MIGRATION_STOP_COPY, false);
	open_type1(6, "0000:00:06.0", &c, &g, &d);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_PRE_COPY, NULL),
			 -EINVAL);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_RUNNING_P2P, NULL),
			 -EINVAL);
	/* Without P2P the driver sees RUNNING -> STOP directly. */
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_STOP, NULL), 0);
	assert_int_equal(mock_mig_arcs(fx->mk, "0000:00:06.0",
				       VFIO_DEVICE_STATE_RUNNING,
				       VFIO_DEVICE_STATE_STOP),
			 1);
	assert_int_equal(set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL), 0);
	assert_int_equal(mock_mig_arcs_total(fx->mk, "0000:00:06.0"), 2);
	close3(c, g, d);
}

static uint64_t *zbitmap(size_t words)
{
	uint64_t *b = calloc(words, 8);

	assert_non_null(b);
	return b;
}

static void test_dma_logging(void **state)
{
	struct fx *fx = *state;
	struct vfio_device_feature_dma_logging_range ranges[2] = {
		{ .iova = 0x100000, .length = 0x10000 },
		{ .iova = 0x200000, .length = 0x10000 },
	};
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = 4096,
		.num_ranges = 2,
		.ranges = (uintptr_t)ranges,
	};
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = 0x100000,
		.length = 0x10000,
		.page_size = 4096,
	};
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };
	uint8_t *mem = mmap(NULL, 0x20000, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *bm = zbitmap(1);
	const uint32_t start = VFIO_DEVICE_FEATURE_SET |
			       VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
	const uint32_t report = VFIO_DEVICE_FEATURE_GET |
				VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
	int c, g, d;

	open_type1(3, SRC, &c, &g, &d);
	m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	m.vaddr = (uintptr_t)mem;
	m.iova = 0x100000;
	m.size = 0x20000;
	assert_int_equal(sioctl(c, VFIO_IOMMU_MAP_DMA, &m), 0);
	/* Reports need logging on. */
	rep.bitmap = (uintptr_t)bm;
	assert_int_equal(feature(d, report, &rep, sizeof(rep)), -EINVAL);
	/* Bad starts. */
	ctl.num_ranges = 0;
	assert_int_equal(feature(d, start, &ctl, sizeof(ctl)), -EINVAL);
	ctl.num_ranges = 257;
	assert_int_equal(feature(d, start, &ctl, sizeof(ctl)), -E2BIG);
	ctl.num_ranges = 2;
	ranges[1].iova = 0x108000; /* overlaps the first */
	assert_int_equal(feature(d, start, &ctl, sizeof(ctl)), -EINVAL);
	ranges[1].iova = 0x200800; /* misaligned */
	assert_int_equal(feature(d, start, &ctl, sizeof(ctl)), -EINVAL);
	ranges[1].iova = 0x200000;
	assert_int_equal(feature(d, start, &ctl, sizeof(ctl)), 0);
	assert_int_equal(mock_dma_logging(fx->mk, SRC), 1);
	assert_int_equal(feature(d, start, &ctl, sizeof(ctl)), -EBUSY);
	/* The device writes two pages inside and one outside the ranges. */
	assert_int_equal(mock_dma_write(fx->mk, SRC, 0x101010, "a", 1), 0);
	assert_int_equal(mock_dma_write(fx->mk, SRC, 0x10f000, "b", 1), 0);
	assert_int_equal(mock_dma_write(fx->mk, SRC, 0x110000, "c", 1), 0);
	assert_int_equal(mem[0x1010], 'a');
	assert_int_equal(mem[0x10000], 'c');
	/* A write outside every mapping is an IOMMU fault. */
	assert_int_equal(mock_dma_write(fx->mk, SRC, 0x500000, "d", 1),
			 -EFAULT);
	rep.page_size = 2048;
	assert_int_equal(feature(d, report, &rep, sizeof(rep)), -EINVAL);
	rep.page_size = 4096;
	assert_int_equal(feature(d, report, &rep, sizeof(rep)), 0);
	assert_int_equal(bm[0], (1ull << 1) | (1ull << 15));
	/* Reading clears. */
	bm[0] = 0;
	assert_int_equal(feature(d, report, &rep, sizeof(rep)), 0);
	assert_int_equal(bm[0], 0);
	/* A coarser report page folds the bits. */
	assert_int_equal(mock_dma_write(fx->mk, SRC, 0x10f000, "e", 1), 0);
	rep.page_size = 0x8000;
	assert_int_equal(feature(d, report, &rep, sizeof(rep)), 0);
	assert_int_equal(bm[0], 1ull << 1);
	assert_int_equal(feature(d,
				 VFIO_DEVICE_FEATURE_SET |
					 VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
				 NULL, 0),
			 0);
	assert_int_equal(mock_dma_logging(fx->mk, SRC), 0);
	{
		struct vfio_iommu_type1_dma_unmap um = { .argsz = sizeof(um) };

		um.iova = 0x100000;
		um.size = 0x20000;
		assert_int_equal(sioctl(c, VFIO_IOMMU_UNMAP_DMA, &um), 0);
	}
	close3(c, g, d);
	munmap(mem, 0x20000);
	free(bm);
}

static int dirty_pages(int c, uint32_t flags)
{
	struct vfio_iommu_type1_dirty_bitmap db = { .argsz = sizeof(db),
						    .flags = flags };

	return sioctl(c, VFIO_IOMMU_DIRTY_PAGES, &db);
}

static int dirty_get(int c, uint64_t iova, uint64_t size, uint64_t pgsize,
		     uint64_t *bm, uint64_t bmsize)
{
	struct {
		struct vfio_iommu_type1_dirty_bitmap h;
		struct vfio_iommu_type1_dirty_bitmap_get g;
	} q;

	memset(&q, 0, sizeof(q));
	q.h.argsz = sizeof(q);
	q.h.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	q.g.iova = iova;
	q.g.size = size;
	q.g.bitmap.pgsize = pgsize;
	q.g.bitmap.size = bmsize;
	q.g.bitmap.data = (void *)bm;
	return sioctl(c, VFIO_IOMMU_DIRTY_PAGES, &q);
}

static void test_type1_dirty(void **state)
{
	struct fx *fx = *state;
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };
	uint8_t *mem = mmap(NULL, 0x40000, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *bm = zbitmap(2);
	int c, g, d;

	open_type1(3, SRC, &c, &g, &d);
	m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	m.vaddr = (uintptr_t)mem;
	m.iova = 0x100000;
	m.size = 0x20000;
	assert_int_equal(sioctl(c, VFIO_IOMMU_MAP_DMA, &m), 0);
	m.vaddr += 0x20000;
	m.iova = 0x120000;
	assert_int_equal(sioctl(c, VFIO_IOMMU_MAP_DMA, &m), 0);
	/* Not started yet; only one operation at a time. */
	assert_int_equal(dirty_get(c, 0x100000, 0x40000, 4096, bm, 16),
			 -EINVAL);
	assert_int_equal(dirty_pages(c,
				     VFIO_IOMMU_DIRTY_PAGES_FLAG_START |
					     VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP),
			 -EINVAL);
	assert_int_equal(dirty_pages(c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	assert_int_equal(mock_type1_dirty_tracking(fx->mk, c), 1);
	/* The range may not cut a mapping; page size, bitmap size. */
	assert_int_equal(dirty_get(c, 0x101000, 0x1f000, 4096, bm, 16),
			 -EINVAL);
	assert_int_equal(dirty_get(c, 0x100000, 0x21000, 4096, bm, 16),
			 -EINVAL);
	assert_int_equal(dirty_get(c, 0x100000, 0x40000, 8192, bm, 16),
			 -EINVAL);
	assert_int_equal(dirty_get(c, 0x100000, 0x40000, 4096, bm, 4), -EINVAL);
	/* An IOMMU-backed group: every mapped page, every time. */
	assert_int_equal(dirty_get(c, 0x100000, 0x40000, 4096, bm, 16), 0);
	assert_int_equal(bm[0], UINT64_MAX);
	bm[0] = 0;
	assert_int_equal(dirty_get(c, 0x120000, 0x20000, 4096, bm, 8), 0);
	assert_int_equal(bm[0], 0xffffffffull);
	/* An emulated group: only what the device wrote. */
	mock_set_group_emulated(fx->mk, 3, true);
	assert_int_equal(mock_dma_write(fx->mk, SRC, 0x121000, "x", 1), 0);
	bm[0] = 0;
	assert_int_equal(dirty_get(c, 0x100000, 0x40000, 4096, bm, 16), 0);
	assert_int_equal(bm[0], 1ull << 33);
	bm[0] = 0;
	assert_int_equal(dirty_get(c, 0x100000, 0x40000, 4096, bm, 16), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(dirty_pages(c, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);
	assert_int_equal(mock_type1_dirty_tracking(fx->mk, c), 0);
	{
		struct vfio_iommu_type1_dma_unmap um = { .argsz = sizeof(um) };

		um.iova = 0x100000;
		um.size = 0x40000;
		assert_int_equal(sioctl(c, VFIO_IOMMU_UNMAP_DMA, &um), 0);
	}
	close3(c, g, d);
	munmap(mem, 0x40000);
	free(bm);
}

/* cdev of @addr bound to @ifd and attached to @pt; returns the fd. */
static int cdev_attach(int ifd, const char *path, uint32_t pt, uint32_t *devid)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	int d = sopen(path);

	assert_true(d >= 0);
	bind.iommufd = ifd;
	assert_int_equal(sioctl(d, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	*devid = bind.out_devid;
	at.pt_id = pt;
	assert_int_equal(sioctl(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), 0);
	return d;
}

static void test_iommufd_hwpt(void **state)
{
	struct fx *fx = *state;
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_hw_info hi = { .size = sizeof(hi) };
	struct iommu_hwpt_alloc ha = { .size = sizeof(ha) };
	struct iommu_hwpt_set_dirty_tracking sd = { .size = sizeof(sd) };
	struct iommu_hwpt_get_dirty_bitmap gb = { .size = sizeof(gb) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct iommu_destroy des = { .size = sizeof(des) };
	uint8_t *mem = mmap(NULL, 0x20000, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.user_va = (uintptr_t)mem,
		.length = 0x20000,
		.iova = 0x100000,
	};
	struct iommu_ioas_unmap um = { .size = sizeof(um) };
	uint64_t *bm = zbitmap(1);
	uint32_t devid;
	size_t tracking;
	int ifd, d;

	ifd = sopen("/dev/iommu");
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_ALLOC, &alloc), 0);
	d = cdev_attach(ifd, "/dev/vfio/devices/vfio0", alloc.out_ioas_id,
			&devid);
	m.ioas_id = alloc.out_ioas_id;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_MAP, &m), 0);
	/* No dirty tracking in this IOMMU (the lab's emulated VT-d). */
	hi.dev_id = devid;
	assert_int_equal(sioctl(ifd, IOMMU_GET_HW_INFO, &hi), 0);
	assert_int_equal(hi.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING, 0);
	assert_int_equal(hi.out_data_type, IOMMU_HW_INFO_TYPE_INTEL_VTD);
	hi.dev_id = 999;
	assert_int_equal(sioctl(ifd, IOMMU_GET_HW_INFO, &hi), -ENOENT);
	ha.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
	ha.dev_id = devid;
	ha.pt_id = alloc.out_ioas_id;
	assert_int_equal(sioctl(ifd, IOMMU_HWPT_ALLOC, &ha), -EOPNOTSUPP);
	/* With it. */
	mock_set_dirty_tracking(fx->mk, true);
	hi.dev_id = devid;
	assert_int_equal(hi.data_len, sizeof(struct iommu_hw_info_vtd));
	assert_int_equal(sioctl(ifd, IOMMU_GET_HW_INFO, &hi), -EFAULT);
	hi.data_len = 0;
	assert_int_equal(sioctl(ifd, IOMMU_GET_HW_INFO, &hi), 0);
	assert_int_equal(hi.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING,
			 IOMMU_HW_CAP_DIRTY_TRACKING);
	ha.pt_id = 4242;
	assert_int_equal(sioctl(ifd, IOMMU_HWPT_ALLOC, &ha), -ENOENT);
	ha.pt_id = alloc.out_ioas_id;
	assert_int_equal(sioctl(ifd, IOMMU_HWPT_ALLOC, &ha), 0);
	assert_int_equal(mock_hwpts(fx->mk, &tracking), 1);
	at.pt_id = ha.out_hwpt_id;
	assert_int_equal(sioctl(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), 0);
	assert_int_equal(at.pt_id, ha.out_hwpt_id);
	sd.hwpt_id = ha.out_hwpt_id;
	sd.flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
	assert_int_equal(sioctl(ifd, IOMMU_HWPT_SET_DIRTY_TRACKING, &sd), 0);
	assert_int_equal(mock_hwpts(fx->mk, &tracking), 1);
	assert_int_equal(tracking, 1);
	assert_int_equal(mock_dma_write(fx->mk, SRC, 0x102000, "q", 1), 0);
	assert_int_equal(mock_dma_write(fx->mk, SRC, 0x11f000, "r", 1), 0);
	gb.hwpt_id = ha.out_hwpt_id;
	gb.iova = 0x100000;
	gb.length = 0x20000;
	gb.page_size = 4096;
	gb.data = (uintptr_t)bm;
	gb.iova = 0x100800;
	assert_int_equal(sioctl(ifd, IOMMU_HWPT_GET_DIRTY_BITMAP, &gb),
			 -EINVAL);
	gb.iova = 0x100000;
	gb.flags = IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR;
	assert_int_equal(sioctl(ifd, IOMMU_HWPT_GET_DIRTY_BITMAP, &gb), 0);
	assert_int_equal(bm[0], (1ull << 2) | (1ull << 31));
	bm[0] = 0;
	gb.flags = 0;
	assert_int_equal(sioctl(ifd, IOMMU_HWPT_GET_DIRTY_BITMAP, &gb), 0);
	assert_int_equal(bm[0], (1ull << 2) | (1ull << 31));
	bm[0] = 0;
	assert_int_equal(sioctl(ifd, IOMMU_HWPT_GET_DIRTY_BITMAP, &gb), 0);
	assert_int_equal(bm[0], 0);
	/* The HWPT and its IOAS are busy while the device is on it. */
	des.id = ha.out_hwpt_id;
	assert_int_equal(sioctl(ifd, IOMMU_DESTROY, &des), -EBUSY);
	at.pt_id = alloc.out_ioas_id;
	assert_int_equal(sioctl(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), 0);
	assert_true(at.pt_id != ha.out_hwpt_id);
	des.id = alloc.out_ioas_id;
	assert_int_equal(sioctl(ifd, IOMMU_DESTROY, &des), -EBUSY);
	des.id = ha.out_hwpt_id;
	assert_int_equal(sioctl(ifd, IOMMU_DESTROY, &des), 0);
	assert_int_equal(mock_hwpts(fx->mk, NULL), 0);
	um.ioas_id = alloc.out_ioas_id;
	um.iova = 0x100000;
	um.length = 0x20000;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_UNMAP, &um), 0);
	assert_int_equal(sclose(d), 0);
	assert_int_equal(sclose(ifd), 0);
	munmap(mem, 0x20000);
	free(bm);
}

static void test_pass_fd(void **state)
{
	struct fx *fx = *state;
	char buf[8];
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(swrite(p[1], "abc", 3), -EBADF);
	assert_int_equal(mock_bad_fd_calls(fx->mk), 1);
	assert_int_equal(mock_pass_fd(fx->mk, p[0]), 0);
	assert_int_equal(mock_pass_fd(fx->mk, p[1]), 0);
	assert_int_equal(swrite(p[1], "abc", 3), 3);
	assert_int_equal(sread(p[0], buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(mock_calls(fx->mk, MOCK_READ), 1);
	assert_int_equal(mock_calls(fx->mk, MOCK_WRITE), 2);
	mock_fail_nth(fx->mk, MOCK_READ, 0, 1, -EIO);
	assert_int_equal(sread(p[0], buf, sizeof(buf)), -EIO);
	assert_int_equal(mock_open_fds(fx->mk), 0);
	mock_unpass_fd(fx->mk, p[0]);
	mock_unpass_fd(fx->mk, p[1]);
	assert_int_equal(sread(p[0], buf, sizeof(buf)), -EBADF);
	close(p[0]);
	close(p[1]);
	/* Reset the counter the teardown checks: both were deliberate. */
	assert_int_equal(mock_bad_fd_calls(fx->mk), 2);
	mock_kernel_free(fx->mk);
	assert_int_equal(mock_kernel_new(&fx->mk), 0);
	F = fx;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_resume, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resume_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_arcs_and_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_p2p_no_precopy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dma_logging, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_type1_dirty, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_iommufd_hwpt, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pass_fd, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
