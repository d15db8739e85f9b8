// SPDX-License-Identifier: MIT
/*
 * Unit tests of devices, regions and interrupts (include/libassign/device.h)
 * against the mock kernel, on the type1 and iommufd backends. A small spy
 * sits between the library and the mock to log SET_IRQS calls, count
 * accesses and forge malformed kernel answers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <libassign/libassign.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock.h"

#define ADDR "0000:00:03.0"
#define ADDR2 "0000:00:04.0"
#define GROUP 7
#define GROUP2 8
/* VFIO_REGION_TYPE_PCI_VENDOR_TYPE is (1 << 31): undefined in an int. */
#define VENDOR_TYPE_INTEL (0x80000000u | 0x8086u)

/* ---- the spy ----------------------------------------------------------- */

struct set_log {
	uint32_t flags, index, start, count;
};

enum forge {
	FORGE_NONE,
	FORGE_LOOP,        /* capability pointing at itself */
	FORGE_OUTSIDE,     /* cap_offset beyond the buffer */
	FORGE_MISALIGNED,  /* cap_offset not 4-byte aligned */
	FORGE_IN_HEADER,   /* cap_offset inside the fixed part */
	FORGE_NR_AREAS,    /* sparse area count runs past the buffer */
	FORGE_AREA_OUT,    /* sparse area outside the region */
	FORGE_TRUNC_TYPE,  /* type capability cut short */
	FORGE_DUP_SPARSE,  /* two sparse-mmap capabilities */
	FORGE_GOOD,        /* well-formed: sparse + type + msix mappable */
	FORGE_GROW,        /* argsz keeps growing */
};

struct spy {
	const struct assign_sys_ops *real;
	void *data;
	struct set_log sets[64];
	size_t nsets;
	unsigned preads, pwrites;
	size_t last_rw_len;
	ssize_t short_rw;          /* > 0: transfer at most this many bytes */
	enum forge forge;
	uint32_t forge_index;
	bool hot_reset_seen;
	uint32_t hot_reset_count;  /* group fds passed */
	bool eof_rw;               /* pread/pwrite return 0 */
	/* Bits of the PCI command register that a config write cannot
	 * change (as a device that does not implement them). */
	uint16_t cmd_stuck;
	/* Called after the mock answered an ioctl; may change the answer. */
	int (*after)(struct spy *s, unsigned long req, void *arg, int r);
};

static struct spy *the_spy;

static int sp_open(void *d, const char *p, int f)
{
	struct spy *s = d;
	return s->real->open(s->data, p, f);
}
static int sp_openat(void *d, int dfd, const char *p, int f)
{
	struct spy *s = d;
	return s->real->openat(s->data, dfd, p, f);
}
static int sp_close(void *d, int fd)
{
	struct spy *s = d;
	return s->real->close(s->data, fd);
}

#define FORGE_SIZE 0x1000u

static int forge_region(struct spy *s, struct vfio_region_info *ri)
{
	const size_t fixed = sizeof(*ri);
	size_t need = 256;
	unsigned char *b = (unsigned char *)ri;
	struct vfio_info_cap_header h = { 0 };
	struct vfio_region_info_cap_sparse_mmap sp = { 0 };
	struct vfio_region_sparse_mmap_area ar;
	struct vfio_region_info_cap_type ty = { 0 };

	if (s->forge == FORGE_GROW) {
		ri->argsz += 64;
		return 0;
	}
	ri->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		    VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
	ri->size = FORGE_SIZE;
	ri->offset = (uint64_t)ri->index << 40;
	if (ri->argsz < need) {
		ri->argsz = (uint32_t)need;
		ri->cap_offset = 0;
		return 0;
	}
	memset(b + fixed, 0, need - fixed);
	ri->cap_offset = (uint32_t)fixed;
	switch (s->forge) {
	case FORGE_LOOP:
		h.id = VFIO_REGION_INFO_CAP_TYPE;
		h.version = 1;
		h.next = (uint32_t)fixed;
		memcpy(b + fixed, &h, sizeof(h));
		break;
	case FORGE_OUTSIDE:
		ri->cap_offset = 0x10000;
		break;
	case FORGE_MISALIGNED:
		ri->cap_offset = (uint32_t)fixed + 2;
		break;
	case FORGE_IN_HEADER:
		ri->cap_offset = 8;
		break;
	case FORGE_NR_AREAS:
		sp.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
		sp.header.version = 1;
		sp.nr_areas = 1000;
		memcpy(b + fixed, &sp, sizeof(sp));
		break;
	case FORGE_AREA_OUT:
		sp.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
		sp.header.version = 1;
		sp.nr_areas = 1;
		memcpy(b + fixed, &sp, sizeof(sp));
		ar.offset = 0x800;
		ar.size = FORGE_SIZE;
		memcpy(b + fixed + sizeof(sp), &ar, sizeof(ar));
		break;
	case FORGE_TRUNC_TYPE:
		h.id = VFIO_REGION_INFO_CAP_TYPE;
		h.version = 1;
		memcpy(b + need - sizeof(h), &h, sizeof(h));
		ri->cap_offset = (uint32_t)(need - sizeof(h));
		break;
	case FORGE_DUP_SPARSE:
		sp.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
		sp.header.version = 1;
		sp.header.next = (uint32_t)(fixed + sizeof(sp));
		memcpy(b + fixed, &sp, sizeof(sp));
		sp.header.next = 0;
		memcpy(b + fixed + sizeof(sp), &sp, sizeof(sp));
		break;
	case FORGE_GOOD: {
		size_t off = fixed;

		sp.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
		sp.header.version = 1;
		sp.nr_areas = 3;
		sp.header.next = (uint32_t)(off + sizeof(sp) + 3 * sizeof(ar));
		memcpy(b + off, &sp, sizeof(sp));
		ar.offset = 0;
		ar.size = 0x400;
		memcpy(b + off + sizeof(sp), &ar, sizeof(ar));
		ar.offset = 0x800; /* empty: dropped */
		ar.size = 0;
		memcpy(b + off + sizeof(sp) + sizeof(ar), &ar, sizeof(ar));
		ar.offset = 0xc00;
		ar.size = 0x400;
		memcpy(b + off + sizeof(sp) + 2 * sizeof(ar), &ar, sizeof(ar));
		off = sp.header.next;
		ty.header.id = VFIO_REGION_INFO_CAP_TYPE;
		ty.header.version = 1;
		ty.type = VENDOR_TYPE_INTEL;
		ty.subtype = 3;
		ty.header.next = (uint32_t)(off + sizeof(ty));
		memcpy(b + off, &ty, sizeof(ty));
		off += sizeof(ty);
		h.id = 0x7777; /* unknown: skipped */
		h.version = 1;
		h.next = (uint32_t)(off + 8);
		memcpy(b + off, &h, sizeof(h));
		off += 8;
		h.id = VFIO_REGION_INFO_CAP_MSIX_MAPPABLE;
		h.next = 0;
		memcpy(b + off, &h, sizeof(h));
		break;
	}
	default:
		break;
	}
	return 0;
}

static int sp_ioctl(void *d, int fd, unsigned long req, void *arg)
{
	struct spy *s = d;
	int r;

	if (req == VFIO_DEVICE_GET_REGION_INFO && s->forge != FORGE_NONE) {
		struct vfio_region_info *ri = arg;
		if (ri->index == s->forge_index)
			return forge_region(s, ri);
	}
	if (req == VFIO_DEVICE_SET_IRQS && s->nsets < 64) {
		struct vfio_irq_set *is = arg;
		s->sets[s->nsets++] = (struct set_log){ is->flags, is->index,
							is->start, is->count };
	}
	if (req == VFIO_DEVICE_PCI_HOT_RESET) {
		struct vfio_pci_hot_reset *hr = arg;
		s->hot_reset_seen = true;
		s->hot_reset_count = hr->count;
	}
	r = s->real->ioctl(s->data, fd, req, arg);
	if (s->after)
		r = s->after(s, req, arg, r);
	return r;
}
static ssize_t sp_pread(void *d, int fd, void *b, size_t n, uint64_t off)
{
	struct spy *s = d;
	s->preads++;
	s->last_rw_len = n;
	if (s->eof_rw)
		return 0;
	if (s->short_rw > 0 && n > (size_t)s->short_rw)
		n = (size_t)s->short_rw;
	return s->real->pread(s->data, fd, b, n, off);
}
static ssize_t sp_pwrite(void *d, int fd, const void *b, size_t n,
			 uint64_t off)
{
	struct spy *s = d;
	s->pwrites++;
	s->last_rw_len = n;
	if (s->eof_rw)
		return 0;
	if (s->short_rw > 0 && n > (size_t)s->short_rw)
		n = (size_t)s->short_rw;
	if (s->cmd_stuck && n == 2 &&
	    off == ((uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << 40) + 4) {
		uint16_t old, cmd;

		if (s->real->pread(s->data, fd, &old, 2, off) != 2)
			return -EIO;
		memcpy(&cmd, b, 2);
		cmd = (uint16_t)((cmd & ~s->cmd_stuck) | (old & s->cmd_stuck));
		return s->real->pwrite(s->data, fd, &cmd, 2, off);
	}
	return s->real->pwrite(s->data, fd, b, n, off);
}
static ssize_t sp_read(void *d, int fd, void *b, size_t n)
{
	struct spy *s = d;
	return s->real->read(s->data, fd, b, n);
}
static ssize_t sp_write(void *d, int fd, const void *b, size_t n)
{
	struct spy *s = d;
	return s->real->write(s->data, fd, b, n);
}
static int sp_mmap(void *d, void *a, size_t l, int p, int f, int fd,
		   uint64_t off, void **ret)
{
	struct spy *s = d;
	return s->real->mmap(s->data, a, l, p, f, fd, off, ret);
}
static int sp_munmap(void *d, void *a, size_t l)
{
	struct spy *s = d;
	return s->real->munmap(s->data, a, l);
}
static int sp_madvise(void *d, void *a, size_t l, int adv)
{
	struct spy *s = d;
	return s->real->madvise(s->data, a, l, adv);
}
static ssize_t sp_readlinkat(void *d, int dfd, const char *p, char *b,
			     size_t n)
{
	struct spy *s = d;
	return s->real->readlinkat(s->data, dfd, p, b, n);
}
static int sp_faccessat(void *d, int dfd, const char *p, int m)
{
	struct spy *s = d;
	return s->real->faccessat(s->data, dfd, p, m);
}
static int sp_list_dir(void *d, int dfd, const char *p, char ***names,
		       size_t *n)
{
	struct spy *s = d;
	return s->real->list_dir(s->data, dfd, p, names, n);
}
static int sp_getrlimit(void *d, int res, struct rlimit *rl)
{
	struct spy *s = d;
	return s->real->getrlimit(s->data, res, rl);
}

static int sp_fstat(void *d, int fd, struct stat *st)
{
	struct spy *s = d;
	return s->real->fstat(s->data, fd, st);
}
static ssize_t sp_sendmsg(void *d, int sock, const void *buf, size_t len,
			  const int *fds, size_t nfds)
{
	struct spy *s = d;
	return s->real->sendmsg(s->data, sock, buf, len, fds, nfds);
}
static ssize_t sp_recvmsg(void *d, int sock, void *buf, size_t len, int *fds,
			  size_t maxfds, size_t *nfds)
{
	struct spy *s = d;
	return s->real->recvmsg(s->data, sock, buf, len, fds, maxfds, nfds);
}

static const struct assign_sys_ops spy_ops = {
	.open = sp_open,
	.openat = sp_openat,
	.close = sp_close,
	.ioctl = sp_ioctl,
	.pread = sp_pread,
	.pwrite = sp_pwrite,
	.read = sp_read,
	.write = sp_write,
	.mmap = sp_mmap,
	.munmap = sp_munmap,
	.madvise = sp_madvise,
	.readlinkat = sp_readlinkat,
	.faccessat = sp_faccessat,
	.list_dir = sp_list_dir,
	.getrlimit = sp_getrlimit,
	.fstat = sp_fstat,
	.sendmsg = sp_sendmsg,
	.recvmsg = sp_recvmsg,
};

/* ---- fixtures ---------------------------------------------------------- */

struct fx {
	enum assign_iommu_backend backend;
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
	struct spy spy;
	struct mock_device_cfg cfg;
};

static struct fx fx_type1 = { .backend = ASSIGN_IOMMU_TYPE1 };
static struct fx fx_iommufd = { .backend = ASSIGN_IOMMU_IOMMUFD };

static int fx_kernel(struct fx *f)
{
	struct assign_iommu_opts io = { .size = sizeof(io),
					.backend = f->backend };

	memset(&f->spy, 0, sizeof(f->spy));
	f->dev = NULL;
	f->iommu = NULL;
	if (mock_kernel_new(&f->mk) < 0)
		return -1;
	if (mock_ctx_new(f->mk, &f->ctx) < 0)
		return -1;
	f->spy.real = f->ctx->sys;
	f->spy.data = f->ctx->sys_data;
	the_spy = &f->spy;
	if (assign_ctx_set_sys(f->ctx, &spy_ops, &f->spy, f->ctx->sysfs_fd) < 0)
		return -1;
	if (assign_iommu_new(f->ctx, &io, &f->iommu) < 0)
		return -1;
	return 0;
}

/* A device with @cfg tweaks applied by the caller, then opened. */
static int fx_open_default(struct fx *f)
{
	mock_device_cfg_default(&f->cfg, ADDR, GROUP);
	if (mock_add_device(f->mk, &f->cfg) < 0)
		return -1;
	return assign_device_open(f->iommu, ADDR, NULL, &f->dev) < 0 ? -1 : 0;
}

static int setup(void **state)
{
	struct fx *f = *state;

	if (fx_kernel(f) < 0 || fx_open_default(f) < 0) {
		fprintf(stderr, "setup: %s\n",
			f->ctx ? assign_ctx_get_last_error(f->ctx) : "no ctx");
		return -1;
	}
	return 0;
}

/* Kernel only, no device: the test adds its own. */
static int setup_bare(void **state)
{
	return fx_kernel(*state) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	f->dev = assign_device_unref(f->dev);
	f->iommu = assign_iommu_unref(f->iommu);
	f->ctx = assign_ctx_unref(f->ctx);
	/* Nothing leaks: every fd and mapping is gone. */
	assert_int_equal(mock_mmaps(f->mk), 0);
	assert_int_equal(mock_open_fds(f->mk), 0);
	mock_kernel_free(f->mk);
	f->mk = NULL;
	return 0;
}

static const struct mock_region_cfg *cfg_region(const struct mock_device_cfg *c,
						uint32_t index)
{
	for (size_t i = 0; i < c->nregions; i++)
		if (c->regions[i].index == index)
			return &c->regions[i];
	return NULL;
}

static const struct mock_irq_cfg *cfg_irq(const struct mock_device_cfg *c,
					  uint32_t index)
{
	for (size_t i = 0; i < c->nirqs; i++)
		if (c->irqs[i].index == index)
			return &c->irqs[i];
	return NULL;
}

static int efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(fd >= 0);
	return fd;
}

/* Read an eventfd: the counter, or 0 if it was not signalled. */
static uint64_t efd_read(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* ---- open, refs, info -------------------------------------------------- */

static void test_open_info(void **state)
{
	struct fx *f = *state;
	struct assign_device_info info = { .size = sizeof(info) };

	assert_string_equal(assign_device_get_address(f->dev), ADDR);
	assert_ptr_equal(assign_device_get_iommu(f->dev), f->iommu);
	assert_true(assign_device_get_fd(f->dev) >= 0);
	if (f->backend == ASSIGN_IOMMU_TYPE1)
		assert_int_equal(assign_device_get_group_id(f->dev), GROUP);
	assert_int_equal(assign_device_get_info(f->dev, &info), 0);
	assert_true(info.flags & ASSIGN_DEVICE_F_PCI);
	assert_false(info.flags & ASSIGN_DEVICE_F_PLATFORM);
	assert_true(info.flags & ASSIGN_DEVICE_F_RESET);
	assert_int_equal(info.num_regions, VFIO_PCI_NUM_REGIONS);
	assert_int_equal(info.num_irqs, VFIO_PCI_NUM_IRQS);
	assert_int_equal(assign_device_get_info(f->dev, NULL), -EINVAL);
	assert_int_equal(assign_device_get_info(NULL, &info), -EINVAL);
	assert_int_equal(assign_device_get_fd(NULL), -EINVAL);
	assert_int_equal(assign_device_get_group_id(NULL), -EINVAL);
	assert_null(assign_device_get_address(NULL));
	assert_null(assign_device_get_iommu(NULL));
}

static void test_open_short_address(void **state)
{
	struct fx *f = *state;
	struct assign_device *d = NULL;

	mock_device_cfg_default(&f->cfg, ADDR, GROUP);
	assert_int_equal(mock_add_device(f->mk, &f->cfg), 0);
	/* bb:dd.f, upper case: normalised. */
	assert_int_equal(assign_device_open(f->iommu, "00:03.0", NULL, &d), 0);
	assert_string_equal(assign_device_get_address(d), ADDR);
	assign_device_unref(d);
	assert_int_equal(assign_device_open(f->iommu, "0000:00:03.0", NULL, &d), 0);
	assert_string_equal(assign_device_get_address(d), ADDR);
	assign_device_unref(d);
}

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct assign_device *d = (struct assign_device *)0x1;
	struct {
		struct assign_device_opts o;
		uint64_t extra;
	} big;
	struct assign_device_opts o;

	mock_device_cfg_default(&f->cfg, ADDR, GROUP);
	assert_int_equal(mock_add_device(f->mk, &f->cfg), 0);

	assert_int_equal(assign_device_open(NULL, ADDR, NULL, &d), -EINVAL);
	assert_int_equal(assign_device_open(f->iommu, NULL, NULL, &d), -EINVAL);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, NULL), -EINVAL);
	assign_ctx_clear_last_error(f->ctx);
	assert_int_equal(assign_device_open(f->iommu, "0000:00:20.0", NULL, &d),
			 -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "PCI address"));
	assert_int_equal(assign_device_open(f->iommu, "junk", NULL, &d), -EINVAL);

	/* Options. */
	memset(&o, 0, sizeof(o));
	o.size = 2;
	assert_int_equal(assign_device_open(f->iommu, ADDR, &o, &d), -EINVAL);
	o.size = sizeof(o);
	o.flags = 1;
	assert_int_equal(assign_device_open(f->iommu, ADDR, &o, &d), -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "flags"));
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.extra = 1;
	assert_int_equal(assign_device_open(f->iommu, ADDR, &big.o, &d), -EINVAL);
	assert_ptr_equal(d, (struct assign_device *)0x1); /* untouched */

	/* A newer caller's zeroed extra fields, an older caller's short struct. */
	big.extra = 0;
	d = NULL;
	assert_int_equal(assign_device_open(f->iommu, ADDR, &big.o, &d), 0);
	d = assign_device_unref(d);
	o.size = sizeof(size_t);
	o.flags = 0xff; /* beyond size: not read */
	assert_int_equal(assign_device_open(f->iommu, ADDR, &o, &d), 0);
	d = assign_device_unref(d);

	/* No such device; wrong driver. */
	d = (struct assign_device *)0x1;
	assert_int_equal(assign_device_open(f->iommu, "0000:00:05.0", NULL, &d),
			 -ENODEV);
	assert_true(strlen(assign_ctx_get_last_error(f->ctx)) > 0);
	mock_set_driver(f->mk, ADDR, "e1000e");
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &d), -ENODEV);
	assert_ptr_equal(d, (struct assign_device *)0x1);
	mock_set_driver(f->mk, ADDR, "vfio-pci");

	/* GET_INFO fails: the fd is given back. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_GET_INFO, 1, -EIO);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &d), -EIO);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "VFIO_DEVICE_GET_INFO"));
	assert_ptr_equal(d, (struct assign_device *)0x1);
	mock_fail_clear(f->mk);
	d = NULL;
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &d), 0);
	assign_device_unref(d);
}

static void test_refs(void **state)
{
	struct fx *f = *state;
	const struct assign_region_info *ri;

	assert_null(assign_device_ref(NULL));
	assert_null(assign_device_unref(NULL));
	assert_ptr_equal(assign_device_ref(f->dev), f->dev);
	assert_null(assign_device_unref(f->dev));
	/* Still alive. */
	assert_int_equal(assign_device_get_region(f->dev, 0, &ri), 0);
	/* The child holds its parent: drop the IOMMU first. */
	f->iommu = assign_iommu_unref(f->iommu);
	assert_int_equal(
		assign_device_config_read(f->dev, 0, &(uint16_t){ 0 }, 2), 0);
	f->dev = assign_device_unref(f->dev);
	assert_int_equal(mock_open_fds(f->mk), 0);
}

/* ---- regions ----------------------------------------------------------- */

static void test_region_info(void **state)
{
	struct fx *f = *state;
	const struct assign_region_info *ri, *again;

	for (uint32_t i = 0; i < VFIO_PCI_NUM_REGIONS; i++) {
		const struct mock_region_cfg *rc = cfg_region(&f->cfg, i);

		assert_int_equal(assign_device_get_region(f->dev, i, &ri), 0);
		assert_int_equal(ri->index, i);
		assert_int_equal(ri->size, rc ? rc->size : 0);
		if (!rc || !rc->size)
			continue;
		assert_int_equal(!!(ri->flags & ASSIGN_REGION_F_READ),
				 !!(rc->flags & VFIO_REGION_INFO_FLAG_READ));
		assert_int_equal(!!(ri->flags & ASSIGN_REGION_F_MMAP),
				 !!(rc->flags & VFIO_REGION_INFO_FLAG_MMAP));
		if (rc->flags & VFIO_REGION_INFO_FLAG_MMAP) {
			uint32_t want = rc->nsparse ? 0 : 1;
			for (uint32_t k = 0; k < rc->nsparse; k++)
				want += rc->sparse[k].size ? 1 : 0;
			assert_int_equal(ri->nareas, want);
			if (!rc->nsparse) {
				assert_int_equal(ri->areas[0].offset, 0);
				assert_int_equal(ri->areas[0].size, rc->size);
			}
		} else {
			assert_int_equal(ri->nareas, 0);
		}
		assert_int_equal(ri->msix_mappable, rc->msix_mappable);
		assert_int_equal(ri->has_type, rc->has_type);
	}
	/* Config space: 4096 bytes, read/write, not mmap-able. */
	assert_int_equal(assign_device_get_region(f->dev, ASSIGN_PCI_CONFIG_REGION, &ri), 0);
	assert_true(ri->size >= 256);
	assert_true(ri->flags & ASSIGN_REGION_F_READ);
	assert_true(ri->flags & ASSIGN_REGION_F_WRITE);
	assert_false(ri->flags & ASSIGN_REGION_F_MMAP);
	/* Cached: same pointer, no second ioctl needed. */
	assert_int_equal(assign_device_get_region(f->dev, ASSIGN_PCI_CONFIG_REGION, &again), 0);
	assert_ptr_equal(ri, again);

	assert_int_equal(assign_device_get_region(f->dev, 9, &ri), -EINVAL);
	assert_int_equal(assign_device_get_region(f->dev, 0, NULL), -EINVAL);
	assert_int_equal(assign_device_get_region(NULL, 0, &ri), -EINVAL);
}

static void test_region_caps_from_mock(void **state)
{
	struct fx *f = *state;
	struct mock_region_cfg regs[3];
	const struct assign_region_info *ri;
	struct mock_device_cfg c;

	mock_device_cfg_default(&c, ADDR, GROUP);
	memset(regs, 0, sizeof(regs));
	regs[0].index = 0;
	regs[0].size = 0x4000;
	regs[0].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			VFIO_REGION_INFO_FLAG_MMAP;
	regs[0].msix_mappable = true;
	regs[1].index = 7;
	regs[1].size = 4096;
	regs[1].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	regs[2].index = 9;
	regs[2].size = 0x2000;
	regs[2].flags = VFIO_REGION_INFO_FLAG_READ;
	regs[2].has_type = true;
	regs[2].type = VENDOR_TYPE_INTEL;
	regs[2].subtype = VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION;
	c.regions = regs;
	c.nregions = 3;
	c.num_regions = 10;
	assert_int_equal(mock_add_device(f->mk, &c), 0);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);

	assert_int_equal(assign_device_get_region(f->dev, 0, &ri), 0);
	assert_true(ri->msix_mappable);
	assert_int_equal(ri->nareas, 1);
	assert_int_equal(ri->areas[0].size, 0x4000);
	assert_int_equal(assign_device_get_region(f->dev, 9, &ri), 0);
	assert_true(ri->has_type);
	assert_int_equal(ri->type, VENDOR_TYPE_INTEL);
	assert_int_equal(ri->subtype, VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION);
	assert_false(ri->flags & ASSIGN_REGION_F_WRITE);
	assert_int_equal(assign_region_write(f->dev, 9, 0, "x", 1), -EINVAL);
	/* A region index beyond the PCI ones. */
	assert_int_equal(assign_device_get_region(f->dev, 10, &ri), -EINVAL);
}

static void test_region_caps_forged(void **state)
{
	struct fx *f = *state;
	const struct assign_region_info *ri;
	void *p;
	static const enum forge bad[] = {
		FORGE_LOOP, FORGE_OUTSIDE, FORGE_MISALIGNED, FORGE_IN_HEADER,
		FORGE_NR_AREAS, FORGE_AREA_OUT, FORGE_TRUNC_TYPE,
		FORGE_DUP_SPARSE,
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f->spy.forge = bad[i];
		f->spy.forge_index = 2;
		assign_ctx_clear_last_error(f->ctx);
		assert_int_equal(assign_device_get_region(f->dev, 2, &ri), -EPROTO);
		assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "malformed"));
	}
	f->spy.forge = FORGE_GROW;
	assert_int_equal(assign_device_get_region(f->dev, 2, &ri), -EPROTO);

	f->spy.forge = FORGE_GOOD;
	assert_int_equal(assign_device_get_region(f->dev, 2, &ri), 0);
	f->spy.forge = FORGE_NONE;
	assert_int_equal(ri->size, FORGE_SIZE);
	assert_true(ri->flags & ASSIGN_REGION_F_MMAP);
	assert_int_equal(ri->nareas, 2);
	assert_int_equal(ri->areas[0].offset, 0);
	assert_int_equal(ri->areas[0].size, 0x400);
	assert_int_equal(ri->areas[1].offset, 0xc00);
	assert_true(ri->has_type);
	assert_int_equal(ri->subtype, 3);
	assert_true(ri->msix_mappable);
	assert_int_equal(ri->fd_offset, (uint64_t)2 << 40);
	/* The area at 0xc00 is not page aligned: refuse to map it. */
	assert_int_equal(assign_region_mmap(f->dev, 2, &p), -EPROTO);
	assert_int_equal(mock_mmaps(f->mk), 0);
}

/* ---- other malformed kernel answers ------------------------------------ */

static int huge_info(struct spy *s, unsigned long req, void *arg, int r)
{
	(void)s;
	if (req == VFIO_DEVICE_GET_INFO && r == 0)
		((struct vfio_device_info *)arg)->num_regions = 100000;
	if (req == VFIO_DEVICE_GET_IRQ_INFO && r == 0)
		((struct vfio_irq_info *)arg)->count = 5000;
	return r;
}

static int restless_hot_reset(struct spy *s, unsigned long req, void *arg,
			      int r)
{
	(void)s;
	if (req == VFIO_DEVICE_GET_PCI_HOT_RESET_INFO) {
		struct vfio_pci_hot_reset_info *hi = arg;
		/* Always one more than there is room for. */
		hi->count = (hi->argsz - (uint32_t)sizeof(*hi)) /
				    (uint32_t)sizeof(hi->devices[0]) + 1;
		return -ENOSPC;
	}
	return r;
}

static void test_kernel_nonsense(void **state)
{
	struct fx *f = *state;
	struct assign_device *d = (struct assign_device *)0x1;
	struct assign_irq_info ii = { .size = sizeof(ii) };
	struct assign_reset_dep deps[2] = { { .size = sizeof(deps[0]) } };
	size_t n;
	uint32_t v;

	mock_device_cfg_default(&f->cfg, ADDR, GROUP);
	assert_int_equal(mock_add_device(f->mk, &f->cfg), 0);
	f->spy.after = huge_info;
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &d), -EPROTO);
	assert_ptr_equal(d, (struct assign_device *)0x1);
	f->spy.after = NULL;
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);
	f->spy.after = huge_info;
	assert_int_equal(assign_device_get_irq_info(f->dev, 2, &ii), -EPROTO);
	f->spy.after = restless_hot_reset;
	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, deps, 2, &n), -EPROTO);
	assert_int_equal(assign_device_hot_reset(f->dev), -EPROTO);
	f->spy.after = NULL;
	/* A read that returns nothing. */
	f->spy.eof_rw = true;
	assert_int_equal(assign_region_read(f->dev, 0, 0, &v, 4), -EIO);
	assert_int_equal(assign_device_config_write(f->dev, 0x40, &v, 4), -EIO);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "short"));
	f->spy.eof_rw = false;
	assert_int_equal(assign_region_read(f->dev, 0, 0, &v, 4), 0);
}

static void test_region_rw(void **state)
{
	struct fx *f = *state;
	const struct assign_region_info *ri;
	uint8_t *mem = mock_region_mem(f->mk, ADDR, 0);
	uint32_t v32 = 0xdeadbeef, r32 = 0;
	uint64_t v64 = 0x1122334455667788ull, r64 = 0;
	uint8_t big[300], back[300];

	assert_non_null(mem);
	assert_int_equal(assign_device_get_region(f->dev, 0, &ri), 0);
	assert_int_equal(assign_region_write(f->dev, 0, 0x10, &v32, 4), 0);
	assert_int_equal(f->spy.last_rw_len, 4);
	assert_memory_equal(mem + 0x10, &v32, 4);
	f->spy.preads = 0;
	assert_int_equal(assign_region_read(f->dev, 0, 0x10, &r32, 4), 0);
	assert_int_equal(r32, v32);
	assert_int_equal(f->spy.preads, 1); /* one access of that width */
	assert_int_equal(f->spy.last_rw_len, 4);
	assert_int_equal(assign_region_write(f->dev, 0, 0x18, &v64, 8), 0);
	assert_int_equal(assign_region_read(f->dev, 0, 0x18, &r64, 8), 0);
	assert_int_equal(r64, v64);
	assert_int_equal(f->spy.last_rw_len, 8);

	/* Bulk, at the very end of the region. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	assert_int_equal(assign_region_write(f->dev, 0, ri->size - sizeof(big),
					     big, sizeof(big)), 0);
	assert_int_equal(assign_region_read(f->dev, 0, ri->size - sizeof(big),
					    back, sizeof(back)), 0);
	assert_memory_equal(big, back, sizeof(big));
	/* Bulk transfers survive short transfers; registers do not. */
	f->spy.short_rw = 64;
	memset(back, 0, sizeof(back));
	assert_int_equal(assign_region_read(f->dev, 0, ri->size - sizeof(big),
					    back, sizeof(back)), 0);
	assert_memory_equal(big, back, sizeof(big));
	f->spy.short_rw = 2;
	assert_int_equal(assign_region_read(f->dev, 0, 0x10, &r32, 4), -EIO);
	assert_int_equal(assign_region_write(f->dev, 0, 0x10, &v32, 4), -EIO);
	f->spy.short_rw = 0;

	/* Bounds. */
	assert_int_equal(assign_region_read(f->dev, 0, ri->size - 2, &r32, 4), -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "outside"));
	assert_int_equal(assign_region_read(f->dev, 0, ri->size, &r32, 1), -EINVAL);
	assert_int_equal(assign_region_read(f->dev, 0, UINT64_MAX - 1, &r32, 4), -EINVAL);
	assert_int_equal(assign_region_write(f->dev, 0, UINT64_MAX, &r32, 4), -EINVAL);
	assert_int_equal(assign_region_read(f->dev, 99, 0, &r32, 4), -EINVAL);
	assert_int_equal(assign_region_read(f->dev, 0, 0, NULL, 4), -EINVAL);
	assert_int_equal(assign_region_read(NULL, 0, 0, &r32, 4), -EINVAL);
	assert_int_equal(assign_region_write(NULL, 0, 0, &r32, 4), -EINVAL);
	/* A region of size 0 (BAR5 of the default device). */
	assert_int_equal(assign_device_get_region(f->dev, 5, &ri), 0);
	if (ri->size == 0)
		assert_int_equal(assign_region_read(f->dev, 5, 0, &r32, 4), -EINVAL);
	/* Kernel errors pass through. */
	mock_fail_nth(f->mk, MOCK_PREAD, 0, 1, -EIO);
	assert_int_equal(assign_region_read(f->dev, 0, 0, &r32, 4), -EIO);
	mock_fail_nth(f->mk, MOCK_PWRITE, 0, 1, -EFAULT);
	assert_int_equal(assign_region_write(f->dev, 0, 0, &r32, 4), -EFAULT);
	mock_fail_clear(f->mk);
	/* Region info fails: nothing cached, the next call asks again. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_GET_REGION_INFO, 1, -EIO);
	assert_int_equal(assign_region_read(f->dev, 3, 0, &r32, 4), -EIO);
	assert_int_equal(assign_region_read(f->dev, 3, 0, &r32, 4), 0);
}

static void test_config_rw(void **state)
{
	struct fx *f = *state;
	uint16_t vid = 0, did = 0, cmd = 0x0006, back = 0;
	uint8_t cfg[256];

	assert_int_equal(assign_device_config_read(f->dev, 0, &vid, 2), 0);
	assert_int_equal(assign_device_config_read(f->dev, 2, &did, 2), 0);
	assert_int_equal(vid, f->cfg.vendor);
	assert_int_equal(did, f->cfg.device);
	assert_int_equal(assign_device_config_write(f->dev, 4, &cmd, 2), 0);
	assert_int_equal(assign_device_config_read(f->dev, 4, &back, 2), 0);
	assert_int_equal(back & 0x6, 0x6);
	assert_int_equal(assign_device_config_read(f->dev, 0, cfg, sizeof(cfg)),
			 0);
	assert_int_equal(assign_pci_find_cap(cfg, sizeof(cfg), 0x11) > 0, 1);
	assert_int_equal(assign_device_config_read(f->dev, 4095, &vid, 2),
			 -EINVAL);
	assert_int_equal(assign_device_config_read(NULL, 0, &vid, 2), -EINVAL);
	assert_int_equal(assign_device_config_write(NULL, 0, &vid, 2), -EINVAL);
}

/* The permissions of the mapping holding @p, from /proc/self/maps. */
static void perms_at(const void *p, char out[5])
{
	FILE *fp = fopen("/proc/self/maps", "r");
	char line[512];
	uintptr_t a = (uintptr_t)p;

	strcpy(out, "none");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		unsigned long s, e;
		char perm[5];
		if (sscanf(line, "%lx-%lx %4s", &s, &e, perm) == 3 && a >= s &&
		    a < e) {
			memcpy(out, perm, 5);
			break;
		}
	}
	fclose(fp);
}

static void test_command_update(void **state)
{
	struct fx *f = *state;
	uint16_t cmd = 0;
	unsigned pw;
	int r;

	/* Bus Master on, Memory Space on; INTx Disable off. (Config space
	 * through assign_region_*, whose names main's renames keep.) */
	assert_int_equal(assign_region_write(f->dev, ASSIGN_PCI_CONFIG_REGION,
					     4, &cmd, 2),
			 0);
	r = assign_device_command_update(
		f->dev, ASSIGN_PCI_COMMAND_MASTER | ASSIGN_PCI_COMMAND_MEMORY,
		ASSIGN_PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(r,
			 ASSIGN_PCI_COMMAND_MASTER | ASSIGN_PCI_COMMAND_MEMORY);
	assert_int_equal(assign_region_read(f->dev, ASSIGN_PCI_CONFIG_REGION, 4,
					    &cmd, 2),
			 0);
	assert_int_equal(cmd,
			 ASSIGN_PCI_COMMAND_MASTER | ASSIGN_PCI_COMMAND_MEMORY);
	/* Nothing to change: read, no write, read back. */
	pw = f->spy.pwrites;
	assert_int_equal(assign_device_command_update(
				 f->dev, ASSIGN_PCI_COMMAND_MASTER, 0),
			 cmd);
	assert_int_equal(f->spy.pwrites, pw);
	/* Off again; other bits stay. */
	assert_int_equal(assign_device_command_update(
				 f->dev, 0, ASSIGN_PCI_COMMAND_MASTER),
			 ASSIGN_PCI_COMMAND_MEMORY);
	assert_int_equal(f->spy.pwrites, pw + 1);

	/* A bit both set and cleared. */
	assert_int_equal(
		assign_device_command_update(f->dev, ASSIGN_PCI_COMMAND_MASTER,
					     ASSIGN_PCI_COMMAND_MASTER),
		-EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "both set and cleared"));
	assert_int_equal(assign_device_command_update(NULL, 0, 0), -EINVAL);

	/* A device that ignores Bus Master: said, not silently accepted. */
	f->spy.cmd_stuck = ASSIGN_PCI_COMMAND_MASTER | 0x0200;
	assert_int_equal(assign_device_command_update(
				 f->dev, ASSIGN_PCI_COMMAND_MASTER | 0x0200, 0),
			 -EIO);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "Bus Master, 0x0200 did not take"));
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), ADDR));
	f->spy.cmd_stuck = 0;

	/* Config space errors come through. */
	mock_fail_nth(f->mk, MOCK_PREAD, 0, 1, -EIO);
	assert_int_equal(assign_device_command_update(
				 f->dev, ASSIGN_PCI_COMMAND_MASTER, 0),
			 -EIO);
	mock_fail_nth(f->mk, MOCK_PWRITE, 0, 1, -ENODEV);
	assert_int_equal(assign_device_command_update(
				 f->dev, ASSIGN_PCI_COMMAND_MASTER, 0),
			 -ENODEV);
	mock_fail_nth(f->mk, MOCK_PREAD, 0, 2, -EIO);
	assert_int_equal(assign_device_command_update(
				 f->dev, ASSIGN_PCI_COMMAND_MASTER, 0),
			 -EIO);
	mock_fail_clear(f->mk);
}

static void test_mmap_sparse(void **state)
{
	struct fx *f = *state;
	const struct assign_region_info *ri;
	struct assign_pci_msix msix = { .size = sizeof(msix) };
	uint8_t cfg[256];
	uint8_t *base = NULL, *again = NULL;
	uint8_t *mem = mock_region_mem(f->mk, ADDR, 0);
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	char perm[5];

	assert_int_equal(assign_device_config_read(f->dev, 0, cfg, sizeof(cfg)),
			 0);
	assert_int_equal(assign_pci_parse_msix(cfg, sizeof(cfg), &msix), 0);
	assert_int_equal(assign_device_get_region(f->dev, msix.table_bar, &ri), 0);
	assert_true(ri->nareas >= 1);
	mem = mock_region_mem(f->mk, ADDR, msix.table_bar);

	assert_int_equal(assign_region_mmap(f->dev, msix.table_bar, (void **)&base), 0);
	assert_non_null(base);
	assert_true(mock_mmaps(f->mk) >= 1);
	assert_int_equal(assign_region_mmap(f->dev, msix.table_bar, (void **)&again), 0);
	assert_ptr_equal(base, again);

	/* Each area: writes through the mapping reach the device (pread). */
	for (uint32_t i = 0; i < ri->nareas; i++) {
		uint64_t off = ri->areas[i].offset + ri->areas[i].size - 4;
		uint32_t v = 0xa5a50000u | i, r = 0;

		memcpy(base + off, &v, 4);
		assert_int_equal(assign_region_read(f->dev, msix.table_bar, off, &r, 4), 0);
		assert_int_equal(r, v);
		assert_memory_equal(mem + off, &v, 4);
		/* And the other way. */
		v ^= 0xffff;
		assert_int_equal(assign_region_write(f->dev, msix.table_bar,
						     ri->areas[i].offset, &v, 4), 0);
		assert_memory_equal(base + ri->areas[i].offset, &v, 4);
		perms_at(base + ri->areas[i].offset, perm);
		assert_int_equal(perm[0], 'r');
		assert_int_equal(perm[1], 'w');
		assert_int_equal(perm[3], 's');
	}
	/* The MSI-X table page is not in any area and is PROT_NONE. */
	if (!ri->msix_mappable) {
		uint64_t tpage = msix.table_offset / ps * ps;
		for (uint32_t i = 0; i < ri->nareas; i++)
			assert_false(tpage >= ri->areas[i].offset &&
				     tpage < ri->areas[i].offset + ri->areas[i].size);
		perms_at(base + msix.table_offset, perm);
		assert_string_equal(perm, "---p");
	}

	assert_int_equal(assign_region_munmap(f->dev, msix.table_bar), 0);
	assert_int_equal(mock_mmaps(f->mk), 0);
	perms_at(base, perm);
	assert_string_equal(perm, "none");
	assert_int_equal(assign_region_munmap(f->dev, msix.table_bar), -ENOENT);
	assert_int_equal(assign_region_munmap(f->dev, 99), -ENOENT);
	assert_int_equal(assign_region_munmap(NULL, 0), -EINVAL);

	/* Mapped again after an unmap: a fresh mapping. */
	assert_int_equal(assign_region_mmap(f->dev, msix.table_bar, (void **)&base), 0);
	/* Left mapped: the last unref unmaps (teardown checks). */
}

static void test_mmap_errors(void **state)
{
	struct fx *f = *state;
	void *p = (void *)0x1;
	const struct assign_region_info *ri;

	/* Config space is not mmap-able. */
	assert_int_equal(assign_region_mmap(f->dev, ASSIGN_PCI_CONFIG_REGION, &p), -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "mmap-able"));
	assert_ptr_equal(p, (void *)0x1);
	assert_int_equal(assign_region_mmap(f->dev, 99, &p), -EINVAL);
	assert_int_equal(assign_region_mmap(f->dev, 0, NULL), -EINVAL);
	assert_int_equal(assign_region_mmap(NULL, 0, &p), -EINVAL);

	assert_int_equal(assign_device_get_region(f->dev, 0, &ri), 0);
	/* The reservation fails; then the first area; then the last one. */
	for (unsigned k = 1; k <= ri->nareas + 1; k++) {
		mock_fail_nth(f->mk, MOCK_MMAP, 0, k, -ENOMEM);
		assert_int_equal(assign_region_mmap(f->dev, 0, &p), -ENOMEM);
		assert_int_equal(mock_mmaps(f->mk), 0);
		mock_fail_clear(f->mk);
	}
	assert_int_equal(assign_region_mmap(f->dev, 0, &p), 0);
	/* munmap reporting an error still releases. */
	mock_fail_nth(f->mk, MOCK_MUNMAP, 0, 1, -EINVAL);
	assert_int_equal(assign_region_munmap(f->dev, 0), -EINVAL);
	mock_fail_clear(f->mk);
	assert_int_equal(assign_region_munmap(f->dev, 0), -ENOENT);
}

/* A region smaller than a page, mmap-able without sparse areas. */
static void test_mmap_small_region(void **state)
{
	struct fx *f = *state;
	struct mock_region_cfg regs[2];
	struct mock_device_cfg c;
	uint32_t v = 0x12345678, r = 0;
	uint8_t *base;

	mock_device_cfg_default(&c, ADDR, GROUP);
	memset(regs, 0, sizeof(regs));
	regs[0].index = 2;
	regs[0].size = 0x100;
	regs[0].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			VFIO_REGION_INFO_FLAG_MMAP;
	regs[1].index = 7;
	regs[1].size = 256;
	regs[1].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	c.regions = regs;
	c.nregions = 2;
	c.config_len = 256;
	assert_int_equal(mock_add_device(f->mk, &c), 0);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);
	assert_int_equal(assign_region_mmap(f->dev, 2, (void **)&base), 0);
	memcpy(base + 0xfc, &v, 4);
	assert_int_equal(assign_region_read(f->dev, 2, 0xfc, &r, 4), 0);
	assert_int_equal(r, v);
}

/* A 4 MiB BAR: mapped at a 4 MiB-aligned base for huge page mappings. */
static void test_mmap_aligned(void **state)
{
	struct fx *f = *state;
	struct mock_region_cfg regs[2];
	struct mock_device_cfg c;
	uint8_t *base;
	uint32_t v = 0xfeedf00d, r = 0;

	mock_device_cfg_default(&c, ADDR, GROUP);
	memset(regs, 0, sizeof(regs));
	regs[0].index = 0;
	regs[0].size = 4u << 20;
	regs[0].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			VFIO_REGION_INFO_FLAG_MMAP;
	regs[1].index = 7;
	regs[1].size = 256;
	regs[1].flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	c.regions = regs;
	c.nregions = 2;
	c.config_len = 256;
	assert_int_equal(mock_add_device(f->mk, &c), 0);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);
	assert_int_equal(assign_region_mmap(f->dev, 0, (void **)&base), 0);
	assert_int_equal((uintptr_t)base % (4u << 20), 0);
	memcpy(base + (4u << 20) - 4, &v, 4);
	assert_int_equal(assign_region_read(f->dev, 0, (4u << 20) - 4, &r, 4), 0);
	assert_int_equal(r, v);
	assert_int_equal(assign_region_munmap(f->dev, 0), 0);

	/* No room for the padded reservation: any base will do. */
	mock_fail_nth(f->mk, MOCK_MMAP, 0, 1, -ENOMEM);
	assert_int_equal(assign_region_mmap(f->dev, 0, (void **)&base), 0);
	mock_fail_clear(f->mk);
	memcpy(base, &v, 4);
	assert_int_equal(assign_region_munmap(f->dev, 0), 0);
	/* Trimming fails: everything is released, the error returned. */
	for (unsigned k = 1; k <= 2; k++) {
		mock_fail_nth(f->mk, MOCK_MUNMAP, 0, k, -ENOMEM);
		r = (uint32_t)assign_region_mmap(f->dev, 0, (void **)&base);
		mock_fail_clear(f->mk);
		if ((int)r == 0) /* already aligned: nothing to trim */
			assert_int_equal(assign_region_munmap(f->dev, 0), 0);
		else
			assert_int_equal((int)r, -ENOMEM);
		assert_int_equal(mock_mmaps(f->mk), 0);
	}
}

/* ---- interrupts -------------------------------------------------------- */

static void test_irq_info(void **state)
{
	struct fx *f = *state;
	struct assign_irq_info ii = { .size = sizeof(ii) };

	for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		const struct mock_irq_cfg *ic = cfg_irq(&f->cfg, i);

		assert_int_equal(assign_device_get_irq_info(f->dev, i, &ii), 0);
		assert_int_equal(ii.index, i);
		assert_int_equal(ii.count, ic ? ic->count : 0);
		if (!ic)
			continue;
		assert_int_equal(!!(ii.flags & ASSIGN_IRQ_F_EVENTFD),
				 !!(ic->flags & VFIO_IRQ_INFO_EVENTFD));
		assert_int_equal(!!(ii.flags & ASSIGN_IRQ_F_MASKABLE),
				 !!(ic->flags & VFIO_IRQ_INFO_MASKABLE));
		assert_int_equal(!!(ii.flags & ASSIGN_IRQ_F_AUTOMASKED),
				 !!(ic->flags & VFIO_IRQ_INFO_AUTOMASKED));
		assert_int_equal(!!(ii.flags & ASSIGN_IRQ_F_NORESIZE),
				 !!(ic->flags & VFIO_IRQ_INFO_NORESIZE));
	}
	assert_int_equal(assign_device_get_irq_info(f->dev, VFIO_PCI_NUM_IRQS, &ii), -EINVAL);
	assert_int_equal(assign_device_get_irq_info(f->dev, 0, NULL), -EINVAL);
	assert_int_equal(assign_device_get_irq_info(NULL, 0, &ii), -EINVAL);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, 0), 0);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, 99), -EINVAL);
	assert_int_equal(assign_irq_get_enabled_count(NULL, 0), -EINVAL);
}

/*
 * A conventional PCI device: vfio-pci answers -EINVAL for the ERR index
 * (AER is PCI Express only). The library reports it as an index with no
 * vector, as the header says, and enabling it says why it cannot be.
 */
static void test_irq_info_err_conventional(void **state)
{
	struct fx *f = *state;
	struct mock_irq_cfg irqs[] = {
		{ VFIO_PCI_INTX_IRQ_INDEX, 1,
		  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
			  VFIO_IRQ_INFO_AUTOMASKED },
		{ VFIO_PCI_MSI_IRQ_INDEX, 1,
		  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
		{ VFIO_PCI_REQ_IRQ_INDEX, 1,
		  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
	};
	struct assign_irq_info ii = { .size = sizeof(ii) };
	int fd = efd();

	mock_device_cfg_default(&f->cfg, ADDR, GROUP);
	f->cfg.irqs = irqs;
	f->cfg.nirqs = sizeof(irqs) / sizeof(irqs[0]);
	assert_int_equal(mock_add_device(f->mk, &f->cfg), 0);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);
	assign_ctx_clear_last_error(f->ctx);
	assert_int_equal(
		assign_device_get_irq_info(f->dev, ASSIGN_IRQ_ERR, &ii), 0);
	assert_int_equal(ii.index, ASSIGN_IRQ_ERR);
	assert_int_equal(ii.count, 0);
	assert_int_equal(ii.flags, 0);
	assert_string_equal(assign_ctx_get_last_error(f->ctx), "");
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_ERR, 0, 1,
						 &fd),
			 -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "has no ERR interrupt (AER errors are reported "
			       "for PCI Express devices only)"));
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_ERR),
			 0);
	/* Other errors of the same call are still errors. */
	assert_int_equal(
		assign_device_get_irq_info(f->dev, ASSIGN_IRQ_MSIX, &ii), 0);
	assert_int_equal(ii.count, 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_GET_IRQ_INFO, 1, -EINVAL);
	assert_int_equal(assign_device_get_irq_info(f->dev, ASSIGN_IRQ_REQ,
						    &ii),
			 -EINVAL);
	mock_fail_clear(f->mk);
	close(fd);
}

static void test_names(void **state)
{
	static const char *const regions[] = { "BAR0", "BAR1",	 "BAR2",
					       "BAR3", "BAR4",	 "BAR5",
					       "ROM",  "config", "VGA" };
	static const char *const irqs[] = { "INTx", "MSI", "MSI-X", "ERR",
					    "REQ" };

	(void)state;
	/* The constants are the kernel's indexes. */
	assert_int_equal(ASSIGN_PCI_BAR1_REGION, VFIO_PCI_BAR1_REGION_INDEX);
	assert_int_equal(ASSIGN_PCI_BAR2_REGION, VFIO_PCI_BAR2_REGION_INDEX);
	assert_int_equal(ASSIGN_PCI_BAR3_REGION, VFIO_PCI_BAR3_REGION_INDEX);
	assert_int_equal(ASSIGN_PCI_BAR4_REGION, VFIO_PCI_BAR4_REGION_INDEX);
	assert_int_equal(ASSIGN_PCI_BAR5_REGION, VFIO_PCI_BAR5_REGION_INDEX);
	assert_int_equal(ASSIGN_PCI_VGA_REGION, VFIO_PCI_VGA_REGION_INDEX);
	for (uint32_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
		assert_string_equal(assign_pci_region_get_name(i), regions[i]);
	assert_null(assign_pci_region_get_name(VFIO_PCI_NUM_REGIONS));
	assert_null(assign_pci_region_get_name(UINT32_MAX));
	for (uint32_t i = 0; i < sizeof(irqs) / sizeof(irqs[0]); i++)
		assert_string_equal(assign_pci_irq_get_name(i), irqs[i]);
	assert_int_equal(ASSIGN_IRQ_REQ + 1, VFIO_PCI_NUM_IRQS);
	assert_null(assign_pci_irq_get_name(VFIO_PCI_NUM_IRQS));
	assert_null(assign_pci_irq_get_name(UINT32_MAX));
}

static void test_irq_info_fail(void **state)
{
	struct fx *f = *state;
	struct assign_irq_info ii = { .size = sizeof(ii) };
	int fd = efd();

	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_GET_IRQ_INFO, 1, -EIO);
	assert_int_equal(assign_device_get_irq_info(f->dev, 2, &ii), -EIO);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_GET_IRQ_INFO, 1, -EIO);
	assert_int_equal(assign_irq_set_eventfds(f->dev, 2, 0, 1, &fd), -EIO);
	mock_fail_clear(f->mk);
	assert_int_equal(assign_device_get_irq_info(f->dev, 2, &ii), 0);
	close(fd);
}

/* A device whose MSI-X has 8 vectors, with or without NORESIZE. */
static void open_msix_dev(struct fx *f, bool noresize)
{
	struct mock_device_cfg c;
	static struct mock_irq_cfg irqs[5];

	mock_device_cfg_default(&c, ADDR, GROUP);
	memcpy(irqs, c.irqs, sizeof(irqs[0]) * (c.nirqs < 5 ? c.nirqs : 5));
	for (size_t i = 0; i < 5 && i < c.nirqs; i++)
		if (irqs[i].index == ASSIGN_IRQ_MSIX) {
			irqs[i].count = 8;
			irqs[i].flags = VFIO_IRQ_INFO_EVENTFD |
					(noresize ? VFIO_IRQ_INFO_NORESIZE : 0);
		}
	c.irqs = irqs;
	assert_int_equal(mock_add_device(f->mk, &c), 0);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);
}

static void check_fires(struct fx *f, uint32_t index, const int *fds,
			uint32_t n)
{
	for (uint32_t v = 0; v < n; v++) {
		if (fds[v] < 0) {
			assert_int_equal(mock_fire_irq(f->mk, ADDR, index, v), -ENOENT);
			continue;
		}
		assert_int_equal(efd_read(fds[v]), 0);
		assert_int_equal(mock_fire_irq(f->mk, ADDR, index, v), 0);
		assert_int_equal(efd_read(fds[v]), 1);
	}
}

static void msix_grow(struct fx *f, bool noresize)
{
	int fds[8];
	struct assign_irq_info ii = { .size = sizeof(ii) };

	open_msix_dev(f, noresize);
	assert_int_equal(assign_device_get_irq_info(f->dev, ASSIGN_IRQ_MSIX, &ii), 0);
	assert_int_equal(ii.count, 8);
	assert_int_equal(!!(ii.flags & ASSIGN_IRQ_F_NORESIZE), noresize);
	for (int i = 0; i < 8; i++)
		fds[i] = efd();
	fds[1] = -1; /* a hole */

	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 3, fds), 0);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 3);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 3);
	check_fires(f, ASSIGN_IRQ_MSIX, fds, 3);

	/* Grow to 6 vectors. */
	f->spy.nsets = 0;
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 3, 3, fds + 3), 0);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 6);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 6);
	if (noresize) {
		/* Disabled, then re-enabled with every remembered eventfd. */
		assert_int_equal(f->spy.nsets, 2);
		assert_int_equal(f->spy.sets[0].count, 0);
		assert_int_equal(f->spy.sets[0].flags,
				 VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER);
		assert_int_equal(f->spy.sets[1].start, 0);
		assert_int_equal(f->spy.sets[1].count, 6);
	} else {
		/* Only the new ones. */
		assert_int_equal(f->spy.nsets, 1);
		assert_int_equal(f->spy.sets[0].start, 3);
		assert_int_equal(f->spy.sets[0].count, 3);
	}
	assert_int_equal(f->spy.sets[f->spy.nsets - 1].flags,
			 VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER);
	check_fires(f, ASSIGN_IRQ_MSIX, fds, 6);

	/* Changing an enabled vector never re-makes the set. */
	f->spy.nsets = 0;
	fds[1] = fds[7];
	fds[7] = -1;
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 1, 1, fds + 1), 0);
	assert_int_equal(f->spy.nsets, 1);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 6);
	check_fires(f, ASSIGN_IRQ_MSIX, fds, 6);

	/* Growing fails in the kernel. */
	if (noresize) {
		/* Re-enable fails, the old set is put back. */
		mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 2, -ENOSPC);
		assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 6, 2, fds + 6), -ENOSPC);
		assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "still enabled"));
		mock_fail_clear(f->mk);
		assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 6);
		check_fires(f, ASSIGN_IRQ_MSIX, fds, 6);
		/* Disable fails: nothing changes. */
		mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 1, -EIO);
		assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 6, 2, fds + 6), -EIO);
		mock_fail_clear(f->mk);
		assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 6);
		/* Re-enable and restore both fail: disabled, and said so. */
		mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 2, -ENOSPC);
		mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 3, -ENOSPC);
		assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 6, 2, fds + 6), -ENOSPC);
		mock_fail_clear(f->mk);
		assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "disabled"));
		assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 0);
		assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 0);
	} else {
		mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 1, -EINVAL);
		assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 6, 2, fds + 6), -EINVAL);
		mock_fail_clear(f->mk);
		assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 6);
		/* All 8. */
		assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 6, 2, fds + 6), 0);
		assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 8);
	}
	assert_int_equal(assign_irq_disable(f->dev, ASSIGN_IRQ_MSIX), 0);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 0);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 0);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_MSIX, 0), -ENOENT);
	for (int i = 0; i < 8; i++)
		if (fds[i] >= 0 && i != 1)
			close(fds[i]);
}

static void test_msix_grow(void **state)
{
	msix_grow(*state, false);
}

static void test_msix_grow_noresize(void **state)
{
	msix_grow(*state, true);
}

static void test_irq_exclusive(void **state)
{
	struct fx *f = *state;
	int a = efd(), b = efd(), c = efd(), e = efd();

	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 1, &a), 0);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSI, 0, 1, &b), -EBUSY);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "MSI-X is enabled"));
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_INTX, 0, 1, &c), -EBUSY);
	/* ERR and REQ are independent. */
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_ERR, 0, 1, &e), 0);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_ERR, 0), 0);
	assert_int_equal(efd_read(e), 1);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_REQ, 0, 1, &c), 0);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_REQ, 0), 0);
	assert_int_equal(efd_read(c), 1);

	assert_int_equal(assign_irq_disable(f->dev, ASSIGN_IRQ_MSIX), 0);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSI, 0, 1, &b), 0);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_MSI, 0), 0);
	assert_int_equal(efd_read(b), 1);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 1, &a), -EBUSY);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "assign_irq_disable"));
	/* Disabling twice, or something never enabled, is fine. */
	assert_int_equal(assign_irq_disable(f->dev, ASSIGN_IRQ_MSI), 0);
	assert_int_equal(assign_irq_disable(f->dev, ASSIGN_IRQ_MSI), 0);
	assert_int_equal(assign_irq_disable(f->dev, ASSIGN_IRQ_INTX), 0);
	assert_int_equal(assign_irq_disable(f->dev, 99), -EINVAL);
	assert_int_equal(assign_irq_disable(NULL, 0), -EINVAL);
	/* Disable fails in the kernel: still enabled. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 1, -EIO);
	assert_int_equal(assign_irq_disable(f->dev, ASSIGN_IRQ_ERR), -EIO);
	mock_fail_clear(f->mk);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_ERR), 1);
	/* ERR and REQ left enabled: the last unref disables them. */
	close(a);
	close(b);
	close(e);
	close(c);
}

static void test_irq_set_errors(void **state)
{
	struct fx *f = *state;
	int fds[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
	struct assign_irq_info ii = { .size = sizeof(ii) };

	assert_int_equal(assign_device_get_irq_info(f->dev, ASSIGN_IRQ_MSIX, &ii), 0);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, ii.count + 1, fds), -EINVAL);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, ii.count, 1, fds), -EINVAL);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 1, UINT32_MAX, fds), -EINVAL);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 0, fds), -EINVAL);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 1, NULL), -EINVAL);
	assert_int_equal(assign_irq_set_eventfds(f->dev, 77, 0, 1, fds), -EINVAL);
	assert_int_equal(assign_irq_set_eventfds(NULL, 0, 0, 1, fds), -EINVAL);
	/* The kernel refuses: nothing is remembered. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 1, -EINVAL);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 1, fds), -EINVAL);
	mock_fail_clear(f->mk);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 0);
	/* All -1: enabled, no eventfd. */
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 2, fds), 0);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 2);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_MSIX, 0), -ENOENT);
}

static void test_intx(void **state)
{
	struct fx *f = *state;
	int trig = efd(), unmask = efd(), other = efd();
	struct assign_irq_info ii = { .size = sizeof(ii) };
	uint64_t one = 1;

	assert_int_equal(assign_device_get_irq_info(f->dev, ASSIGN_IRQ_INTX, &ii), 0);
	assert_true(ii.flags & ASSIGN_IRQ_F_MASKABLE);
	assert_true(ii.flags & ASSIGN_IRQ_F_AUTOMASKED);

	/* The unmask eventfd needs INTx enabled, and only exists for INTx. */
	assert_int_equal(assign_irq_set_unmask_eventfd(f->dev, ASSIGN_IRQ_INTX, unmask), -EINVAL);
	assert_int_equal(assign_irq_set_unmask_eventfd(f->dev, ASSIGN_IRQ_MSI, unmask), -EINVAL);
	assert_int_equal(assign_irq_set_unmask_eventfd(NULL, ASSIGN_IRQ_INTX, unmask), -EINVAL);

	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_INTX, 0, 1, &trig), 0);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_INTX), 1);
	assert_int_equal(assign_irq_set_unmask_eventfd(f->dev, ASSIGN_IRQ_INTX, unmask), 0);
	f->spy.nsets = 0;
	assert_int_equal(assign_irq_set_unmask_eventfd(f->dev, ASSIGN_IRQ_INTX, -1), 0);
	assert_int_equal(f->spy.sets[0].flags,
			 VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK);
	assert_int_equal(assign_irq_set_unmask_eventfd(f->dev, ASSIGN_IRQ_INTX, unmask), 0);

	/* Fires, then is automasked; the unmask eventfd unmasks it. */
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_INTX, 0), 0);
	assert_int_equal(efd_read(trig), 1);
	assert_true(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));
	assert_int_equal(write(unmask, &one, sizeof(one)), sizeof(one));
	/* Writing the unmask (resample) eventfd unmasked it. */
	assert_false(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));
	assert_int_equal(assign_irq_mask(f->dev, ASSIGN_IRQ_INTX, 0, 1), 0);
	assert_true(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));
	assert_int_equal(assign_irq_unmask(f->dev, ASSIGN_IRQ_INTX, 0, 1), 0);
	assert_false(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));

	/* Trigger: the kernel signals the eventfd. */
	assert_int_equal(assign_irq_trigger(f->dev, ASSIGN_IRQ_INTX, 0, 1), 0);
	assert_int_equal(efd_read(trig), 1);

	/* Mask errors. */
	assert_int_equal(assign_irq_mask(f->dev, ASSIGN_IRQ_INTX, 0, 2), -EINVAL);
	assert_int_equal(assign_irq_mask(f->dev, ASSIGN_IRQ_INTX, 1, 1), -EINVAL);
	assert_int_equal(assign_irq_mask(f->dev, 42, 0, 1), -EINVAL);
	assert_int_equal(assign_irq_mask(NULL, 0, 0, 1), -EINVAL);
	assert_int_equal(assign_irq_unmask(NULL, 0, 0, 1), -EINVAL);
	assert_int_equal(assign_irq_trigger(NULL, 0, 0, 1), -EINVAL);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 1, -EIO);
	assert_int_equal(assign_irq_mask(f->dev, ASSIGN_IRQ_INTX, 0, 1), -EIO);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 1, -EIO);
	assert_int_equal(assign_irq_set_unmask_eventfd(f->dev, ASSIGN_IRQ_INTX, unmask), -EIO);
	mock_fail_clear(f->mk);

	/* MSI-X cannot be masked through VFIO. */
	assert_int_equal(assign_device_get_irq_info(f->dev, ASSIGN_IRQ_MSIX, &ii), 0);
	if (!(ii.flags & ASSIGN_IRQ_F_MASKABLE)) {
		assert_int_equal(assign_irq_mask(f->dev, ASSIGN_IRQ_MSIX, 0, 1), -EOPNOTSUPP);
		assert_int_equal(assign_irq_unmask(f->dev, ASSIGN_IRQ_MSIX, 0, 1), -EOPNOTSUPP);
	}
	/* Trigger on a disabled index: the kernel refuses, we explain. */
	assert_int_equal(assign_irq_disable(f->dev, ASSIGN_IRQ_INTX), 0);
	assert_int_equal(assign_irq_trigger(f->dev, ASSIGN_IRQ_MSIX, 0, 1), -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "not enabled"));

	/* MSI-X trigger. */
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 1, &other), 0);
	assert_int_equal(assign_irq_trigger(f->dev, ASSIGN_IRQ_MSIX, 0, 1), 0);
	assert_int_equal(efd_read(other), 1);
	close(trig);
	close(unmask);
	close(other);
}

/* ---- resets ------------------------------------------------------------ */

static void test_reset(void **state)
{
	struct fx *f = *state;
	int fd = efd(), req = efd();

	assert_int_equal(mock_reset_count(f->mk, ADDR), 0);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 1, &fd), 0);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_REQ, 0, 1, &req), 0);
	assert_int_equal(assign_device_reset(f->dev), 0);
	assert_int_equal(mock_reset_count(f->mk, ADDR), 1);
	/* Device interrupts are off and forgotten. */
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 0);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 0);
	/* The REQ notification stays armed: a reset does not touch it. */
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_REQ), 1);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_REQ, 0), 0);
	assert_int_equal(efd_read(req), 1);
	/* INTx may be enabled now: nothing excludes it. */
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_INTX, 0, 1, &fd), 0);
	assert_int_equal(assign_device_reset(f->dev), 0);
	assert_int_equal(mock_reset_count(f->mk, ADDR), 2);

	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_RESET, 1, -EAGAIN);
	assert_int_equal(assign_device_reset(f->dev), -EAGAIN);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "VFIO_DEVICE_RESET"));
	mock_fail_clear(f->mk);
	assert_int_equal(mock_reset_count(f->mk, ADDR), 2);
	/* Disabling the interrupts fails: no reset. */
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 1, &fd), 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_SET_IRQS, 1, -EIO);
	assert_int_equal(assign_device_reset(f->dev), -EIO);
	mock_fail_clear(f->mk);
	assert_int_equal(mock_reset_count(f->mk, ADDR), 2);
	assert_int_equal(assign_device_reset(NULL), -EINVAL);
	close(fd);
	close(req);
}

static void test_reset_unsupported(void **state)
{
	struct fx *f = *state;
	struct mock_device_cfg c;
	struct assign_device_info info = { .size = sizeof(info) };

	mock_device_cfg_default(&c, ADDR, GROUP);
	c.no_reset = true;
	assert_int_equal(mock_add_device(f->mk, &c), 0);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);
	assert_int_equal(assign_device_get_info(f->dev, &info), 0);
	assert_false(info.flags & ASSIGN_DEVICE_F_RESET);
	assert_int_equal(assign_device_reset(f->dev), -ENOTTY);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "assign_device_hot_reset"));
	assert_int_equal(mock_reset_count(f->mk, ADDR), 0);
}

static void add_two(struct fx *f)
{
	struct mock_device_cfg c;

	mock_device_cfg_default(&c, ADDR, GROUP);
	assert_int_equal(mock_add_device(f->mk, &c), 0);
	mock_device_cfg_default(&c, ADDR2, GROUP2);
	assert_int_equal(mock_add_device(f->mk, &c), 0);
}

static void test_hot_reset(void **state)
{
	struct fx *f = *state;
	struct assign_device *d2 = NULL;
	struct assign_reset_dep deps[4] = { { .size = sizeof(deps[0]) } };
	size_t n = 0;
	bool saw1 = false, saw2 = false;
	int fd = efd();

	add_two(f);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);

	/* Count only, then the list. */
	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, NULL, 0, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, deps, 1, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, deps, 4, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		char a[ASSIGN_PCI_ADDR_LEN];
		assert_int_equal(assign_pci_addr_format(&deps[i].addr, a, sizeof(a)), 0);
		if (!strcmp(a, ADDR)) {
			saw1 = true;
			assert_true(deps[i].owned);
		} else if (!strcmp(a, ADDR2)) {
			saw2 = true;
			assert_false(deps[i].owned);
		}
		if (f->backend == ASSIGN_IOMMU_TYPE1) {
			assert_int_equal(deps[i].group_id, !strcmp(a, ADDR) ? GROUP : GROUP2);
			assert_int_equal(deps[i].devid, 0);
		} else {
			assert_int_equal(deps[i].group_id, -1);
		}
	}
	assert_true(saw1 && saw2);

	/* 00:04.0 is not ours: refused before the kernel is asked. */
	assign_ctx_clear_last_error(f->ctx);
	assert_int_equal(assign_device_hot_reset(f->dev), -EPERM);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), ADDR2));
	assert_false(f->spy.hot_reset_seen);
	assert_int_equal(mock_hot_reset_count(f->mk, ADDR), 0);

	/* Open it on the same IOMMU: now it is owned and the reset runs. */
	assert_int_equal(assign_device_open(f->iommu, ADDR2, NULL, &d2), 0);
	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, deps, 4, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_true(deps[i].owned);
	if (f->backend == ASSIGN_IOMMU_IOMMUFD)
		for (size_t i = 0; i < n; i++)
			assert_true(deps[i].devid != 0);
	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 1, &fd), 0);
	assert_int_equal(assign_device_hot_reset(f->dev), 0);
	assert_true(f->spy.hot_reset_seen);
	/* type1: both group fds as proof; iommufd: the empty array. */
	assert_int_equal(f->spy.hot_reset_count,
			 f->backend == ASSIGN_IOMMU_TYPE1 ? 2 : 0);
	assert_int_equal(mock_hot_reset_count(f->mk, ADDR), 1);
	assert_int_equal(assign_irq_get_enabled_count(f->dev, ASSIGN_IRQ_MSIX), 0);

	/* Kernel failures. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_PCI_HOT_RESET, 1, -EBUSY);
	assert_int_equal(assign_device_hot_reset(f->dev), -EBUSY);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 1, -ENODEV);
	assert_int_equal(assign_device_hot_reset(f->dev), -ENOTTY);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 1, -ENODEV);
	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, deps, 4, &n), -ENOTTY);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 2, -EIO);
	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, deps, 4, &n), -EIO);
	mock_fail_clear(f->mk);
	assert_int_equal(mock_hot_reset_count(f->mk, ADDR), 1);

	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, NULL, 4, &n), -EINVAL);
	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, deps, 4, NULL), -EINVAL);
	assert_int_equal(assign_device_get_hot_reset_deps(NULL, deps, 4, &n), -EINVAL);
	assert_int_equal(assign_device_hot_reset(NULL), -EINVAL);
	assign_device_unref(d2);
	close(fd);
}

/*
 * Groups open on the IOMMU object that the reset does not touch must not be
 * passed: the kernel refuses more group fds than affected devices.
 */
static void test_hot_reset_unrelated_group(void **state)
{
	struct fx *f = *state;
	struct assign_device *d2 = NULL, *d3 = NULL;
	struct mock_device_cfg c;

	add_two(f);
	mock_device_cfg_default(&c, "0000:01:00.0", 9);
	assert_int_equal(mock_add_device(f->mk, &c), 0);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);
	assert_int_equal(assign_device_open(f->iommu, ADDR2, NULL, &d2), 0);
	assert_int_equal(assign_device_open(f->iommu, "0000:01:00.0", NULL, &d3), 0);
	assert_int_equal(assign_device_hot_reset(f->dev), 0);
	assert_int_equal(f->spy.hot_reset_count,
			 f->backend == ASSIGN_IOMMU_TYPE1 ? 2 : 0);
	assert_int_equal(mock_hot_reset_count(f->mk, ADDR), 1);
	/* The device alone on its bus. */
	assert_int_equal(assign_device_hot_reset(d3), 0);
	assert_int_equal(f->spy.hot_reset_count,
			 f->backend == ASSIGN_IOMMU_TYPE1 ? 1 : 0);
	assert_int_equal(mock_hot_reset_count(f->mk, "0000:01:00.0"), 1);
	assign_device_unref(d2);
	assign_device_unref(d3);
}

/*
 * A function of the same multifunction device, in the same group, left
 * without a driver (or on pci-stub): the group is viable, so the device
 * opens, but the kernel resets only vfio-pci devices it owns and refuses
 * with -EINVAL. The library names the function and what to do first.
 */
static void test_hot_reset_sibling_not_vfio(void **state)
{
	struct fx *f = *state;
	struct assign_reset_dep deps[4] = { { .size = sizeof(deps[0]) } };
	struct mock_device_cfg c;
	const char *m;
	size_t n = 0;

	mock_device_cfg_default(&c, ADDR, GROUP);
	assert_int_equal(mock_add_device(f->mk, &c), 0);
	mock_device_cfg_default(&c, "0000:00:03.1", GROUP);
	c.driver = NULL;
	assert_int_equal(mock_add_device(f->mk, &c), 0);
	assert_int_equal(assign_device_open(f->iommu, ADDR, NULL, &f->dev), 0);
	assert_int_equal(assign_device_get_hot_reset_deps(f->dev, deps, 4, &n),
			 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(deps[i].owned, deps[i].addr.fn == 0);
	assign_ctx_clear_last_error(f->ctx);
	assert_int_equal(assign_device_hot_reset(f->dev), -EPERM);
	m = assign_ctx_get_last_error(f->ctx);
	assert_non_null(strstr(m, "0000:00:03.1"));
	assert_non_null(strstr(m, "no driver"));
	assert_non_null(strstr(m, "bind them to vfio-pci"));
	assert_false(f->spy.hot_reset_seen);
	/* pci-stub keeps the group viable too, and is no better. */
	mock_set_driver(f->mk, "0000:00:03.1", "pci-stub");
	assert_int_equal(assign_device_hot_reset(f->dev), -EPERM);
	assert_non_null(
		strstr(assign_ctx_get_last_error(f->ctx), "bound to pci-stub"));
	/* On vfio-pci it is the caller's through the group (type1) or the
	 * iommufd owning its group. */
	mock_set_driver(f->mk, "0000:00:03.1", "vfio-pci");
	assert_int_equal(assign_device_hot_reset(f->dev), 0);
	assert_int_equal(mock_hot_reset_count(f->mk, "0000:00:03.1"), 1);
}

/* ---- features ---------------------------------------------------------- */

static void test_feature_probe(void **state)
{
	struct fx *f = *state;
	int r;

	/* Some feature vfio-pci has, if the mock models one: 0 or 1. */
	r = assign_device_feature_probe(f->dev, VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, ASSIGN_DEVICE_FEATURE_F_SET);
	assert_true(r == 0 || r == 1);
	/* An unknown feature number is "no", not an error. */
	assert_int_equal(assign_device_feature_probe(f->dev, 0xfffe, ASSIGN_DEVICE_FEATURE_F_GET), 0);
	/* Not a feature number at all. */
	assert_int_equal(assign_device_feature_probe(f->dev, 0x10000, ASSIGN_DEVICE_FEATURE_F_GET), -EINVAL);
	assert_int_equal(assign_device_feature_probe(NULL, 1, ASSIGN_DEVICE_FEATURE_F_GET), -EINVAL);
	/* Errors other than "unsupported" are errors. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_FEATURE, 1, -EIO);
	assert_int_equal(assign_device_feature_probe(f->dev, 1, ASSIGN_DEVICE_FEATURE_F_GET), -EIO);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_FEATURE, 1, -ENOTTY);
	assert_int_equal(assign_device_feature_probe(f->dev, 1, ASSIGN_DEVICE_FEATURE_F_GET), 0);
	mock_fail_clear(f->mk);
}

/* ---- BARs -------------------------------------------------------------- */

static void test_get_bars(void **state)
{
	struct fx *f = *state;
	struct assign_pci_bar bars[6] = { { .size = sizeof(bars[0]) } };

	assert_int_equal(assign_device_get_bars(f->dev, bars), 0);
	for (uint32_t i = 0; i < 6; i++) {
		const struct mock_region_cfg *rc = cfg_region(&f->cfg, i);
		uint64_t size = rc ? rc->size : 0;

		assert_int_equal(bars[i].index, i);
		if (i > 0 && bars[i - 1].mem64) {
			assert_false(bars[i].present);
			continue;
		}
		assert_int_equal(bars[i].present, size != 0);
		assert_int_equal(bars[i].length, size);
	}
	assert_true(bars[0].present);
	assert_int_equal(assign_device_get_bars(f->dev, NULL), -EINVAL);
	assert_int_equal(assign_device_get_bars(NULL, bars), -EINVAL);
	mock_fail_nth(f->mk, MOCK_PREAD, 0, 1, -EIO);
	assert_int_equal(assign_device_get_bars(f->dev, bars), -EIO);
	mock_fail_clear(f->mk);
}

/* ---- teardown behaviour and a fault sweep ------------------------------ */

static void test_unref_cleans_up(void **state)
{
	struct fx *f = *state;
	int fds[2] = { efd(), efd() };
	void *p;

	assert_int_equal(assign_irq_set_eventfds(f->dev, ASSIGN_IRQ_MSIX, 0, 2, fds), 0);
	assert_int_equal(assign_region_mmap(f->dev, 0, &p), 0);
	assert_true(mock_mmaps(f->mk) > 0);
	f->dev = assign_device_unref(f->dev);
	assert_int_equal(mock_mmaps(f->mk), 0);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 0);
	close(fds[0]);
	close(fds[1]);
}

/*
 * Open, map, enable MSI-X, reset, close once per syscall with that call
 * failing: every run either succeeds or returns a negative errno, and
 * nothing leaks.
 */
static int sequence(struct fx *f)
{
	struct assign_device *d = NULL;
	const struct assign_region_info *ri;
	int fds[2] = { efd(), efd() };
	uint32_t v = 0;
	void *p;
	int r;

	r = assign_device_open(f->iommu, ADDR, NULL, &d);
	if (r < 0)
		goto out;
	if ((r = assign_device_get_region(d, 0, &ri)) < 0 ||
	    (r = assign_region_mmap(d, 0, &p)) < 0 ||
	    (r = assign_region_read(d, 0, 0, &v, 4)) < 0 ||
	    (r = assign_irq_set_eventfds(d, ASSIGN_IRQ_MSIX, 0, 1, fds)) < 0 ||
	    (r = assign_irq_set_eventfds(d, ASSIGN_IRQ_MSIX, 1, 1, fds + 1)) < 0 ||
	    (r = assign_device_reset(d)) < 0 ||
	    (r = assign_region_munmap(d, 0)) < 0) {
		/* r holds the first error */
	}
	assign_device_unref(d);
out:
	close(fds[0]);
	close(fds[1]);
	return r;
}

static void test_fault_sweep(void **state)
{
	struct fx *f = *state;
	unsigned long before, total;
	size_t base_fds;

	mock_device_cfg_default(&f->cfg, ADDR, GROUP);
	assert_int_equal(mock_add_device(f->mk, &f->cfg), 0);
	before = mock_calls(f->mk, MOCK_ANY);
	assert_int_equal(sequence(f), 0);
	total = mock_calls(f->mk, MOCK_ANY) - before;
	assert_true(total > 5);
	assert_int_equal(mock_mmaps(f->mk), 0);
	base_fds = mock_open_fds(f->mk);
	for (unsigned long k = 1; k <= total; k++) {
		int r;

		mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
		r = sequence(f);
		mock_fail_clear(f->mk);
		assert_true(r <= 0);
		assert_int_equal(mock_mmaps(f->mk), 0);
		/* Only the IOMMU object's own fd (container/iommufd) stays. */
		assert_int_equal(mock_open_fds(f->mk), base_fds);
		assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 0);
	}
	/* And it still works afterwards. */
	assert_int_equal(sequence(f), 0);
}

#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, NULL)
#define TB(fn) cmocka_unit_test_prestate_setup_teardown(fn, setup_bare, teardown, NULL)

static int run(struct fx *f, const char *name)
{
	struct CMUnitTest tests[] = {
		T(test_open_info),
		TB(test_open_short_address),
		TB(test_open_errors),
		T(test_refs),
		T(test_region_info),
		TB(test_region_caps_from_mock),
		T(test_region_caps_forged),
		TB(test_kernel_nonsense),
		T(test_region_rw),
		T(test_config_rw),
		T(test_command_update),
		T(test_mmap_sparse),
		T(test_mmap_errors),
		TB(test_mmap_small_region),
		TB(test_mmap_aligned),
		T(test_irq_info),
		T(test_irq_info_fail),
		TB(test_names),
		TB(test_irq_info_err_conventional),
		TB(test_msix_grow),
		TB(test_msix_grow_noresize),
		T(test_irq_exclusive),
		T(test_irq_set_errors),
		T(test_intx),
		T(test_reset),
		TB(test_reset_unsupported),
		TB(test_hot_reset),
		TB(test_hot_reset_unrelated_group),
		TB(test_hot_reset_sibling_not_vfio),
		T(test_feature_probe),
		T(test_get_bars),
		T(test_unref_cleans_up),
		TB(test_fault_sweep),
	};

	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		tests[i].initial_state = f;
	return _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]),
				       NULL, NULL);
}

int main(void)
{
	int r = 0;

	r |= run(&fx_type1, "device-type1");
	r |= run(&fx_iommufd, "device-iommufd");
	return r;
}
