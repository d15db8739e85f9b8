// SPDX-License-Identifier: MIT
/*
 * Unit tests of the virtual PCI function (include/libassign/vpci.h) against
 * the mock kernel: BAR sizing (32/64-bit, I/O, ROM), placement events and
 * the direct/trapped split, MSI-X table and PBA emulation with vector
 * updates, MSI, INTx with resample, hostile guest input, and that the
 * host's MSI/MSI-X registers are never written.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include <libassign/libassign.h>
#include <linux/kvm.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock.h"
#include "vmm/vmm.h"

#define ADDR "0000:00:03.0"
#define GROUP 7
#define CFG_REGION 7

/* ---- callback recorder ------------------------------------------------- */

struct ev {
	struct assign_vpci_bar_event e;
	struct assign_vpci_bar_part parts[8];
};

struct rec {
	struct ev maps[64], unmaps[64];
	size_t nmaps, nunmaps;
	struct assign_vpci_vector vec[512];
	size_t nvec;
	bool intx[32];
	size_t nintx;
	int refuse;                 /* returned by bar_map when non-zero */
};

static void copy_ev(struct ev *d, const struct assign_vpci_bar_event *e)
{
	d->e = *e;
	assert_true(e->nparts >= 1 && e->nparts <= 8);
	memcpy(d->parts, e->parts, e->nparts * sizeof(*e->parts));
	d->e.parts = d->parts;
	/* parts are sorted and cover the BAR exactly */
	uint64_t at = 0;
	for (size_t i = 0; i < e->nparts; i++) {
		assert_int_equal(e->parts[i].offset, at);
		assert_true(e->parts[i].size > 0);
		at += e->parts[i].size;
	}
	assert_int_equal(at, e->size);
}

static int cb_map(void *data, const struct assign_vpci_bar_event *e)
{
	struct rec *r = data;
	if (r->refuse)
		return r->refuse;
	if (r->nmaps < 64)
		copy_ev(&r->maps[r->nmaps++], e);
	return 0;
}

static void cb_unmap(void *data, const struct assign_vpci_bar_event *e)
{
	struct rec *r = data;
	if (r->nunmaps < 64)
		copy_ev(&r->unmaps[r->nunmaps++], e);
}

static void cb_vec(void *data, const struct assign_vpci_vector *v)
{
	struct rec *r = data;
	if (r->nvec < 512)
		r->vec[r->nvec++] = *v;
}

static void cb_intx(void *data, bool on)
{
	struct rec *r = data;
	if (r->nintx < 32)
		r->intx[r->nintx++] = on;
}

static const struct assign_vpci_ops ops = {
	.size = sizeof(ops),
	.bar_map = cb_map,
	.bar_unmap = cb_unmap,
	.vector_update = cb_vec,
	.intx_update = cb_intx,
};

/* Last update reported for a vector, or NULL. */
static const struct assign_vpci_vector *last_vec(const struct rec *r,
						 uint32_t index, uint32_t vec)
{
	for (size_t i = r->nvec; i-- > 0;)
		if (r->vec[i].index == index && r->vec[i].vector == vec)
			return &r->vec[i];
	return NULL;
}

/* ---- a fake KVM behind the seam ---------------------------------------
 *
 * The mock kernel has no KVM: this spy answers the KVM ioctls on two fd
 * numbers the mock never hands out and passes everything else through.
 */
#define FAKE_VM 9000
#define FAKE_KVM_VFIO 9001

struct fake_kvm {
	const struct assign_sys_ops *real;
	void *data;
	unsigned create_device;
	int files[16];
	size_t nfiles;
	struct kvm_irq_routing_entry routes[256];
	size_t nroutes;
	unsigned pushes;
	int fail_routing;            /* next KVM_SET_GSI_ROUTING fails */
	struct kvm_irqfd irqfds[64];
	size_t nirqfds;
	unsigned unrouted; /* irqfds attached to a GSI KVM had no
	                                route for: a waiting signal is lost */
	bool vfio_closed;
	/* When set: count the device reads made without this vpci's lock. */
	struct assign_vpci *lock_probe;
	unsigned reads_locked, reads_unlocked;
};

static struct fake_kvm fk;

static int fk_open(void *d, const char *p, int f)
{
	return fk.real->open(d, p, f);
}
static int fk_openat(void *d, int dfd, const char *p, int f)
{
	return fk.real->openat(d, dfd, p, f);
}
static int fk_close(void *d, int fd)
{
	if (fd == FAKE_KVM_VFIO) {
		fk.vfio_closed = true;
		return 0;
	}
	return fk.real->close(d, fd);
}

static const struct kvm_irq_routing_entry *fk_route(uint32_t gsi);

static int fk_kvm_ioctl(int fd, unsigned long req, void *arg)
{
	if (fd == FAKE_VM && req == KVM_CREATE_DEVICE) {
		struct kvm_create_device *cd = arg;
		if (cd->type != KVM_DEV_TYPE_VFIO)
			return -ENODEV;
		fk.create_device++;
		cd->fd = FAKE_KVM_VFIO;
		return 0;
	}
	if (fd == FAKE_KVM_VFIO && req == KVM_SET_DEVICE_ATTR) {
		struct kvm_device_attr *a = arg;
		int32_t f;
		memcpy(&f, (void *)(uintptr_t)a->addr, sizeof(f));
		if (a->group != KVM_DEV_VFIO_GROUP)
			return -ENXIO;
		if (a->attr == KVM_DEV_VFIO_GROUP_ADD) {
			for (size_t i = 0; i < fk.nfiles; i++)
				if (fk.files[i] == f)
					return -EEXIST;
			fk.files[fk.nfiles++] = f;
			return 0;
		}
		for (size_t i = 0; i < fk.nfiles; i++)
			if (fk.files[i] == f) {
				fk.files[i] = fk.files[--fk.nfiles];
				return 0;
			}
		return -ENOENT;
	}
	if (fd == FAKE_VM && req == KVM_SET_GSI_ROUTING) {
		struct kvm_irq_routing *t = arg;
		if (fk.fail_routing) {
			int e = fk.fail_routing;
			fk.fail_routing = 0;
			return e;
		}
		if (t->nr > 256)
			return -EINVAL;
		memcpy(fk.routes, t->entries, t->nr * sizeof(t->entries[0]));
		fk.nroutes = t->nr;
		fk.pushes++;
		return 0;
	}
	if (fd == FAKE_VM && req == KVM_IRQFD) {
		struct kvm_irqfd *f = arg;
		if (f->flags & KVM_IRQFD_FLAG_DEASSIGN) {
			for (size_t i = 0; i < fk.nirqfds; i++)
				if (fk.irqfds[i].fd == f->fd &&
				    fk.irqfds[i].gsi == f->gsi) {
					fk.irqfds[i] = fk.irqfds[--fk.nirqfds];
					return 0;
				}
			return -ENOENT;
		}
		for (size_t i = 0; i < fk.nirqfds; i++)
			if (fk.irqfds[i].fd == f->fd)
				return -EBUSY;
		/* before the first push, KVM's default table: GSIs 0-23 */
		if (fk.pushes ? !fk_route(f->gsi) : f->gsi >= 24)
			fk.unrouted++;
		fk.irqfds[fk.nirqfds++] = *f;
		return 0;
	}
	return -ENOTTY;
}

static int fk_ioctl(void *d, int fd, unsigned long req, void *arg)
{
	if (fd == FAKE_VM || fd == FAKE_KVM_VFIO)
		return fk_kvm_ioctl(fd, req, arg);
	return fk.real->ioctl(d, fd, req, arg);
}
static ssize_t fk_pread(void *d, int fd, void *b, size_t n, uint64_t o)
{
	if (fk.lock_probe) {
		/* A lock this thread holds cannot be taken again. */
		if (pthread_mutex_trylock(&fk.lock_probe->lock) == 0) {
			pthread_mutex_unlock(&fk.lock_probe->lock);
			fk.reads_unlocked++;
		} else {
			fk.reads_locked++;
		}
	}
	return fk.real->pread(d, fd, b, n, o);
}
static ssize_t fk_pwrite(void *d, int fd, const void *b, size_t n, uint64_t o)
{
	return fk.real->pwrite(d, fd, b, n, o);
}
static ssize_t fk_read(void *d, int fd, void *b, size_t n)
{
	return fk.real->read(d, fd, b, n);
}
static ssize_t fk_write(void *d, int fd, const void *b, size_t n)
{
	return fk.real->write(d, fd, b, n);
}
static int fk_mmap(void *d, void *a, size_t l, int p, int f, int fd,
		   uint64_t o, void **r)
{
	return fk.real->mmap(d, a, l, p, f, fd, o, r);
}
static int fk_munmap(void *d, void *a, size_t l)
{
	return fk.real->munmap(d, a, l);
}
static int fk_madvise(void *d, void *a, size_t l, int adv)
{
	return fk.real->madvise(d, a, l, adv);
}
static ssize_t fk_readlinkat(void *d, int dfd, const char *p, char *b, size_t n)
{
	return fk.real->readlinkat(d, dfd, p, b, n);
}
static int fk_faccessat(void *d, int dfd, const char *p, int m)
{
	return fk.real->faccessat(d, dfd, p, m);
}
static int fk_list_dir(void *d, int dfd, const char *p, char ***names,
		       size_t *n)
{
	return fk.real->list_dir(d, dfd, p, names, n);
}
static int fk_getrlimit(void *d, int res, struct rlimit *rl)
{
	return fk.real->getrlimit(d, res, rl);
}

static int fk_fstat(void *d, int fd, struct stat *st)
{
	return fk.real->fstat(d, fd, st);
}
static ssize_t fk_sendmsg(void *d, int sock, const void *buf, size_t len,
			  const int *fds, size_t nfds)
{
	return fk.real->sendmsg(d, sock, buf, len, fds, nfds);
}
static ssize_t fk_recvmsg(void *d, int sock, void *buf, size_t len, int *fds,
			  size_t maxfds, size_t *nfds)
{
	return fk.real->recvmsg(d, sock, buf, len, fds, maxfds, nfds);
}

static const struct assign_sys_ops fk_ops = {
	.open = fk_open,
	.openat = fk_openat,
	.close = fk_close,
	.ioctl = fk_ioctl,
	.pread = fk_pread,
	.pwrite = fk_pwrite,
	.read = fk_read,
	.write = fk_write,
	.mmap = fk_mmap,
	.munmap = fk_munmap,
	.madvise = fk_madvise,
	.readlinkat = fk_readlinkat,
	.faccessat = fk_faccessat,
	.list_dir = fk_list_dir,
	.getrlimit = fk_getrlimit,
	.fstat = fk_fstat,
	.sendmsg = fk_sendmsg,
	.recvmsg = fk_recvmsg,
};

static const struct kvm_irq_routing_entry *fk_route(uint32_t gsi)
{
	for (size_t i = 0; i < fk.nroutes; i++)
		if (fk.routes[i].gsi == gsi)
			return &fk.routes[i];
	return NULL;
}

static const struct kvm_irqfd *fk_irqfd(int efd)
{
	for (size_t i = 0; i < fk.nirqfds; i++)
		if ((int)fk.irqfds[i].fd == efd)
			return &fk.irqfds[i];
	return NULL;
}

/* ---- fixture ----------------------------------------------------------- */

struct fx {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
	struct assign_vpci *vpci;
	struct rec rec;
	uint8_t host_cfg[4096];     /* config region at creation */
	int msi, msix;              /* capability offsets */
};

static struct fx the_fx;

/*
 * A custom device: BAR0 64-bit prefetchable 128K, mmap-able around the page
 * holding both the MSI-X table (8 entries, 4 vectors in VFIO) and the PBA
 * right behind it; BAR2 I/O 32 bytes; BAR4 32-bit 8K mmap-able; ROM 32K.
 * MSI 64-bit with per-vector masking at 0x40, MSI-X at 0x60.
 */
static const struct mock_region_cfg custom_regions[] = {
	{ .index = 0, .size = 0x20000,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		   VFIO_REGION_INFO_FLAG_MMAP,
	  .nsparse = 2, .sparse = { { 0, 0x10000 }, { 0x11000, 0xf000 } } },
	{ .index = 2, .size = 0x20,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE },
	{ .index = 4, .size = 0x2000,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		   VFIO_REGION_INFO_FLAG_MMAP },
	{ .index = 6, .size = 0x8000, .flags = VFIO_REGION_INFO_FLAG_READ },
	{ .index = 7, .size = 4096,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE },
};

static const struct mock_irq_cfg custom_irqs[] = {
	{ VFIO_PCI_INTX_IRQ_INDEX, 1,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
		  VFIO_IRQ_INFO_AUTOMASKED },
	{ VFIO_PCI_MSI_IRQ_INDEX, 1,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
	{ VFIO_PCI_MSIX_IRQ_INDEX, 4, VFIO_IRQ_INFO_EVENTFD },
};

static void p16(uint8_t *c, size_t o, uint16_t v)
{
	c[o] = (uint8_t)v;
	c[o + 1] = (uint8_t)(v >> 8);
}

static void p32(uint8_t *c, size_t o, uint32_t v)
{
	p16(c, o, (uint16_t)v);
	p16(c, o + 2, (uint16_t)(v >> 16));
}

static uint32_t g32(const uint8_t *c, size_t o)
{
	return (uint32_t)c[o] | (uint32_t)c[o + 1] << 8 |
	       (uint32_t)c[o + 2] << 16 | (uint32_t)c[o + 3] << 24;
}

static uint8_t custom_cfg[4096];

static void build_custom_cfg(void)
{
	uint8_t *c = custom_cfg;

	memset(c, 0, sizeof(custom_cfg));
	p16(c, 0x00, 0x8086);
	p16(c, 0x02, 0x10d3);
	p16(c, 0x06, 0x0010);
	c[0x0b] = 0x02;
	p32(c, 0x10, 0xe000000c);          /* 64-bit prefetchable */
	p32(c, 0x14, 0x00000001);          /* upper half: host address */
	p32(c, 0x18, 0x0000e001);          /* I/O */
	p32(c, 0x20, 0xf0100000);          /* 32-bit */
	p32(c, 0x30, 0xf0200000);          /* ROM */
	c[0x34] = 0x40;
	c[0x3d] = 1;
	/* MSI: 64-bit, per-vector mask, 1 vector; host registers hold
	 * recognisable values */
	c[0x40] = 0x05;
	c[0x41] = 0x60;
	p16(c, 0x42, 0x0180);
	p32(c, 0x44, 0xfee01004);
	p32(c, 0x48, 0x00000000);
	p16(c, 0x4c, 0x4041);
	p32(c, 0x50, 0);
	/* MSI-X: 8 entries, table BAR0 + 0x10000, PBA BAR0 + 0x10080 */
	c[0x60] = 0x11;
	c[0x61] = 0x70;
	p16(c, 0x62, 0x0007);
	p32(c, 0x64, 0x10000 | 0);
	p32(c, 0x68, 0x10080 | 0);
	/* PCIe endpoint */
	c[0x70] = 0x10;
	c[0x71] = 0x00;
	p16(c, 0x72, 0x0002);
}

static int open_vpci(struct fx *f, uint32_t flags)
{
	struct assign_vpci_opts o = { .size = sizeof(o), .flags = flags,
				      .ops = &ops, .data = &f->rec };
	int r;

	r = assign_device_open(f->iommu, ADDR, NULL, &f->dev);
	if (r < 0)
		return r;
	memcpy(f->host_cfg, mock_region_mem(f->mk, ADDR, CFG_REGION), 4096);
	r = assign_vpci_new(f->dev, &o, &f->vpci);
	if (r < 0)
		return r;
	f->msi = assign_pci_find_cap(f->host_cfg, 256, 0x05);
	f->msix = assign_pci_find_cap(f->host_cfg, 256, 0x11);
	return 0;
}

static int fx_kernel(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	if (mock_kernel_new(&f->mk) < 0 || mock_ctx_new(f->mk, &f->ctx) < 0)
		return -1;
	memset(&fk, 0, sizeof(fk));
	fk.real = f->ctx->sys;
	fk.data = f->ctx->sys_data;
	if (assign_ctx_set_sys(f->ctx, &fk_ops, fk.data, f->ctx->sysfs_fd) < 0)
		return -1;
	return assign_iommu_new(f->ctx, NULL, &f->iommu) < 0 ? -1 : 0;
}

static int setup_default(void **state)
{
	struct fx *f = &the_fx;
	struct mock_device_cfg cfg;

	*state = f;
	if (fx_kernel(f) < 0)
		return -1;
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	if (mock_add_device(f->mk, &cfg) < 0 || open_vpci(f, 0) < 0) {
		fprintf(stderr, "setup: %s\n", assign_ctx_get_last_error(f->ctx));
		return -1;
	}
	return 0;
}

/* A device as the kernel's mtty sample is: a config region of 255 bytes
 * without capabilities, an 8-byte I/O BAR, INTx that takes no unmask
 * eventfd. */
static const struct mock_region_cfg mtty_regions[] = {
	{ .index = 0,
	  .size = 8,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE },
	{ .index = 7,
	  .size = 255,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE },
};
static const struct mock_irq_cfg mtty_irqs[] = {
	{ VFIO_PCI_INTX_IRQ_INDEX, 1,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
		  VFIO_IRQ_INFO_AUTOMASKED },
	{ VFIO_PCI_MSI_IRQ_INDEX, 1,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
};
static uint8_t mtty_cfg[255];

static int setup_mtty(void **state)
{
	struct fx *f = &the_fx;
	struct mock_device_cfg cfg;

	*state = f;
	if (fx_kernel(f) < 0)
		return -1;
	memset(mtty_cfg, 0, sizeof(mtty_cfg));
	p32(mtty_cfg, 0x00, 0x32534348);
	p16(mtty_cfg, 0x04, 0x0001);
	p16(mtty_cfg, 0x06, 0x0200);
	mtty_cfg[0x09] = 0x02;
	mtty_cfg[0x0b] = 0x07;
	p32(mtty_cfg, 0x10, 0x00000001); /* I/O */
	mtty_cfg[0x3d] = 1;
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	cfg.config = mtty_cfg;
	cfg.config_len = sizeof(mtty_cfg);
	cfg.regions = mtty_regions;
	cfg.nregions = 2;
	cfg.irqs = mtty_irqs;
	cfg.nirqs = 2;
	cfg.intx_no_unmask_fd = true;
	cfg.no_reset = true;
	if (mock_add_device(f->mk, &cfg) < 0 || open_vpci(f, 0) < 0) {
		fprintf(stderr, "setup: %s\n",
			assign_ctx_get_last_error(f->ctx));
		return -1;
	}
	return 0;
}

/* A device whose INTx takes no unmask eventfd, as the kernel's mtty. */
static int setup_mtty_intx(void **state)
{
	struct fx *f = &the_fx;
	struct mock_device_cfg cfg;

	*state = f;
	if (fx_kernel(f) < 0)
		return -1;
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	cfg.intx_no_unmask_fd = true;
	if (mock_add_device(f->mk, &cfg) < 0 || open_vpci(f, 0) < 0) {
		fprintf(stderr, "setup: %s\n",
			assign_ctx_get_last_error(f->ctx));
		return -1;
	}
	return 0;
}

static int setup_custom(void **state)
{
	struct fx *f = &the_fx;
	struct mock_device_cfg cfg;

	*state = f;
	if (fx_kernel(f) < 0)
		return -1;
	build_custom_cfg();
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	cfg.config = custom_cfg;
	cfg.config_len = sizeof(custom_cfg);
	cfg.regions = custom_regions;
	cfg.nregions = sizeof(custom_regions) / sizeof(custom_regions[0]);
	cfg.irqs = custom_irqs;
	cfg.nirqs = sizeof(custom_irqs) / sizeof(custom_irqs[0]);
	if (mock_add_device(f->mk, &cfg) < 0 || open_vpci(f, 0) < 0) {
		fprintf(stderr, "setup: %s\n", assign_ctx_get_last_error(f->ctx));
		return -1;
	}
	return 0;
}

/* The custom device with MSI capable of 8 vectors (MMC 3) of which VFIO
 * offers 4. */
static const struct mock_irq_cfg multi_msi_irqs[] = {
	{ VFIO_PCI_INTX_IRQ_INDEX, 1,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
		  VFIO_IRQ_INFO_AUTOMASKED },
	{ VFIO_PCI_MSI_IRQ_INDEX, 4,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
	{ VFIO_PCI_MSIX_IRQ_INDEX, 4, VFIO_IRQ_INFO_EVENTFD },
};

static int setup_multi_msi(void **state)
{
	struct fx *f = &the_fx;
	struct mock_device_cfg cfg;

	*state = f;
	if (fx_kernel(f) < 0)
		return -1;
	build_custom_cfg();
	p16(custom_cfg, 0x42, 0x0186); /* 64-bit, mask, MMC 3 */
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	cfg.config = custom_cfg;
	cfg.config_len = sizeof(custom_cfg);
	cfg.regions = custom_regions;
	cfg.nregions = sizeof(custom_regions) / sizeof(custom_regions[0]);
	cfg.irqs = multi_msi_irqs;
	cfg.nirqs = sizeof(multi_msi_irqs) / sizeof(multi_msi_irqs[0]);
	if (mock_add_device(f->mk, &cfg) < 0 || open_vpci(f, 0) < 0) {
		fprintf(stderr, "setup: %s\n",
			assign_ctx_get_last_error(f->ctx));
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	f->vpci = assign_vpci_unref(f->vpci);
	f->dev = assign_device_unref(f->dev);
	f->iommu = assign_iommu_unref(f->iommu);
	f->ctx = assign_ctx_unref(f->ctx);
	assert_int_equal(mock_mmaps(f->mk), 0);
	assert_int_equal(mock_open_fds(f->mk), 0);
	mock_kernel_free(f->mk);
	f->mk = NULL;
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static uint32_t cr(struct fx *f, uint32_t off, size_t len)
{
	uint32_t v = 0;
	assert_int_equal(assign_vpci_config_read(f->vpci, off, &v, len), 0);
	return v;
}

static void cw(struct fx *f, uint32_t off, size_t len, uint32_t v)
{
	assert_int_equal(assign_vpci_config_write(f->vpci, off, &v, len), 0);
}

static void bw(struct fx *f, uint32_t bar, uint64_t off, size_t len,
	       uint64_t v)
{
	assert_int_equal(assign_vpci_bar_write(f->vpci, bar, off, &v, len), 0);
}

static uint64_t br(struct fx *f, uint32_t bar, uint64_t off, size_t len)
{
	uint64_t v = 0;
	assert_int_equal(assign_vpci_bar_read(f->vpci, bar, off, &v, len), 0);
	return v;
}

static bool fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static void drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* The host's MSI and MSI-X capability bytes are what they were. */
static void check_host_caps(struct fx *f)
{
	const uint8_t *now = mock_region_mem(f->mk, ADDR, CFG_REGION);
	if (f->msi > 0)
		assert_memory_equal(now + f->msi, f->host_cfg + f->msi, 0x18);
	if (f->msix > 0)
		assert_memory_equal(now + f->msix, f->host_cfg + f->msix, 12);
}

/* The device's own MSI-X table and PBA were never written. */
static void check_host_table(struct fx *f)
{
	struct assign_pci_msix x = { .size = sizeof(x) };
	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	const uint8_t *t = mock_region_mem(f->mk, ADDR, x.table_bar);
	const uint8_t *p = mock_region_mem(f->mk, ADDR, x.pba_bar);
	for (unsigned i = 0; i < 16u * x.table_size; i++)
		assert_int_equal(t[x.table_offset + i], 0);
	for (unsigned i = 0; i < (x.table_size + 63u) / 64 * 8; i++)
		assert_int_equal(p[x.pba_offset + i], 0);
}

/* ---- BAR sizing ------------------------------------------------------- */

static void test_sizing_default(void **state)
{
	struct fx *f = *state;
	struct assign_vpci_bar b = { .size = sizeof(b) };

	/* unplaced at first; the type bits of a 32-bit memory BAR */
	assert_int_equal(cr(f, 0x10, 4), 0);
	cw(f, 0x10, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x10, 4), 0xfffe0000);
	cw(f, 0x1c, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x1c, 4), 0xffffc000);
	/* absent BARs and ROM read 0 whatever is written */
	cw(f, 0x14, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x14, 4), 0);
	cw(f, 0x30, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x30, 4), 0);
	/* byte writes merge */
	cw(f, 0x10, 4, 0);
	cw(f, 0x13, 1, 0xc0);
	assert_int_equal(cr(f, 0x10, 4), 0xc0000000);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 0, &b), 0);
	assert_true(b.present && !b.io && !b.mem64 && !b.mapped);
	assert_int_equal(b.length, 0x20000);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 7, &b), -EINVAL);
	assert_int_equal(assign_vpci_get_config_size(f->vpci), 4096);
	assert_ptr_equal(assign_vpci_get_device(f->vpci), f->dev);
	/* the host's BARs were never touched */
	assert_int_equal(g32(mock_region_mem(f->mk, ADDR, CFG_REGION), 0x10),
			 g32(f->host_cfg, 0x10));
}

static void test_sizing_custom(void **state)
{
	struct fx *f = *state;
	struct assign_vpci_bar b = { .size = sizeof(b) };

	cw(f, 0x10, 4, 0xffffffff);
	cw(f, 0x14, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x10, 4), 0xfffe000c);
	assert_int_equal(cr(f, 0x14, 4), 0xffffffff);
	cw(f, 0x18, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x18, 4), 0xffffffe1);
	cw(f, 0x20, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x20, 4), 0xffffe000);
	cw(f, 0x30, 4, 0xfffffffe);
	assert_int_equal(cr(f, 0x30, 4), 0xffff8000);
	cw(f, 0x30, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x30, 4), 0xffff8001);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 0, &b), 0);
	assert_true(b.present && b.mem64 && b.prefetchable);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 1, &b), 0);
	assert_false(b.present);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 2, &b), 0);
	assert_true(b.present && b.io);
	assert_int_equal(b.length, 0x20);
	assert_int_equal(assign_vpci_get_bar(f->vpci, ASSIGN_VPCI_ROM_BAR, &b), 0);
	assert_true(b.present);
	assert_int_equal(b.length, 0x8000);
	/* a 64-bit BAR above 4 GiB */
	cw(f, 0x10, 4, 0x00000000);
	cw(f, 0x14, 4, 0x00000008);
	f->rec.nmaps = 0;
	cw(f, 0x04, 2, 0x0002);
	assert_int_equal(f->rec.nmaps, 2);    /* BAR0 and BAR4... */
	bool seen = false;
	for (size_t i = 0; i < f->rec.nmaps; i++)
		if (f->rec.maps[i].e.bar == 0) {
			assert_int_equal(f->rec.maps[i].e.gpa, 0x800000000ull);
			seen = true;
		}
	assert_true(seen);
}

/* ---- placement -------------------------------------------------------- */

static void test_placement(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	struct assign_vpci_bar b = { .size = sizeof(b) };
	uint8_t *mem = mock_region_mem(f->mk, ADDR, 0);

	cw(f, 0x10, 4, 0xc0000000);
	cw(f, 0x1c, 4, 0xc0020000);
	assert_int_equal(r->nmaps, 0);        /* decoding is off */
	cw(f, 0x04, 2, 0x0006);               /* memory + bus master */
	/* the command register reached the device */
	assert_int_equal(mock_region_mem(f->mk, ADDR, CFG_REGION)[4], 0x06);
	assert_int_equal(r->nmaps, 2);
	const struct ev *e0 = &r->maps[0], *e3 = &r->maps[1];
	assert_int_equal(e0->e.bar, 0);
	assert_int_equal(e0->e.gpa, 0xc0000000);
	assert_false(e0->e.io);
	/* BAR0: direct, the MSI-X page (table and PBA) trapped, direct */
	assert_int_equal(e0->e.nparts, 3);
	assert_non_null(e0->parts[0].host);
	assert_int_equal(e0->parts[1].offset, 0x10000);
	assert_int_equal(e0->parts[1].size, 0x1000);
	assert_null(e0->parts[1].host);
	assert_non_null(e0->parts[2].host);
	assert_int_equal(e0->parts[2].offset, 0x11000);
	/* the host pointers reach the device */
	((volatile uint8_t *)e0->parts[2].host)[0x10] = 0x5a;
	assert_int_equal(mem[0x11010], 0x5a);
	assert_int_equal(e3->e.bar, 3);
	assert_int_equal(e3->e.nparts, 1);
	assert_non_null(e3->parts[0].host);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 3, &b), 0);
	assert_true(b.mapped);
	assert_int_equal(b.gpa, 0xc0020000);

	/* move BAR3: unmap then map */
	cw(f, 0x1c, 4, 0xc0040000);
	assert_int_equal(r->nunmaps, 1);
	assert_int_equal(r->unmaps[0].e.gpa, 0xc0020000);
	assert_int_equal(r->nmaps, 3);
	assert_int_equal(r->maps[2].e.gpa, 0xc0040000);
	/* over BAR0: refused, stays unmapped */
	cw(f, 0x1c, 4, 0xc0010000);
	assert_int_equal(r->nmaps, 3);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 3, &b), 0);
	assert_false(b.mapped);
	/* BAR0 moves away: BAR3 gets its place */
	cw(f, 0x10, 4, 0xd0000000);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 3, &b), 0);
	assert_true(b.mapped);
	assert_int_equal(b.gpa, 0xc0010000);
	/* the VMM refuses: not mapped, offered again later */
	r->refuse = -EBUSY;
	cw(f, 0x10, 4, 0xe0000000);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 0, &b), 0);
	assert_false(b.mapped);
	r->refuse = 0;
	cw(f, 0x04, 2, 0x0006);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 0, &b), 0);
	assert_true(b.mapped);
	assert_int_equal(b.gpa, 0xe0000000);
	/* decoding off: everything goes */
	size_t before = r->nunmaps;
	cw(f, 0x04, 2, 0x0000);
	assert_int_equal(r->nunmaps, before + 2);
	/* sizing with decoding on maps nowhere silly: an all-ones 32-bit
	 * BAR ends at 4 GiB exactly and is offered; the VMM decides */
	cw(f, 0x04, 2, 0x0002);
	cw(f, 0x10, 4, 0xffffffff);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 0, &b), 0);
	assert_int_equal(b.gpa, 0xfffe0000);
}

/* Trapped BAR reads reach the device under the vpci's lock, the ROM's
 * too (they once did not: a vCPU reading the ROM raced another using
 * the device). */
static void test_bar_reads_locked(void **state)
{
	struct fx *f = *state;
	uint8_t *rom = mock_region_mem(f->mk, ADDR, 6);

	rom[0x20] = 0x77;
	fk.lock_probe = f->vpci;
	fk.reads_locked = fk.reads_unlocked = 0;
	assert_int_equal(br(f, ASSIGN_VPCI_ROM_BAR, 0x20, 1), 0x77);
	br(f, 2, 0, 4);
	br(f, 0, 0x1000, 4);
	fk.lock_probe = NULL;
	assert_int_equal(fk.reads_unlocked, 0);
	assert_int_equal(fk.reads_locked, 3);
}

static void test_placement_custom(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	uint8_t *io = mock_region_mem(f->mk, ADDR, 2);
	uint8_t *rom = mock_region_mem(f->mk, ADDR, 6);

	cw(f, 0x10, 4, 0xc0000000);
	cw(f, 0x14, 4, 0);
	cw(f, 0x18, 4, 0xc000);
	cw(f, 0x20, 4, 0xc0100000);
	cw(f, 0x30, 4, 0xc0200001);
	cw(f, 0x04, 2, 0x0003);
	assert_int_equal(r->nmaps, 4);
	for (size_t i = 0; i < r->nmaps; i++) {
		const struct ev *e = &r->maps[i];
		switch (e->e.bar) {
		case 0:
			assert_int_equal(e->e.nparts, 3);
			assert_null(e->parts[1].host);
			break;
		case 2:
			assert_true(e->e.io);
			assert_int_equal(e->e.gpa, 0xc000);
			assert_int_equal(e->e.nparts, 1);
			assert_null(e->parts[0].host);
			break;
		case 4:
			assert_int_equal(e->e.nparts, 1);
			assert_non_null(e->parts[0].host);
			break;
		case ASSIGN_VPCI_ROM_BAR:
			assert_int_equal(e->e.gpa, 0xc0200000);
			assert_null(e->parts[0].host);
			break;
		default:
			fail();
		}
	}
	/* I/O and ROM accesses go to the regions; the ROM ignores writes */
	bw(f, 2, 4, 4, 0x11223344);
	assert_int_equal(g32(io, 4), 0x11223344);
	rom[0x10] = 0x55;
	assert_int_equal(br(f, ASSIGN_VPCI_ROM_BAR, 0x10, 1), 0x55);
	bw(f, ASSIGN_VPCI_ROM_BAR, 0x10, 1, 0xaa);
	assert_int_equal(rom[0x10], 0x55);
	/* a 64-bit BAR whose end would be 2^64: gpa + size must not wrap,
	 * so a VMM computing the exclusive end is safe */
	cw(f, 0x10, 4, 0xfffe0000);
	cw(f, 0x14, 4, 0xffffffff);
	struct assign_vpci_bar b0 = { .size = sizeof(b0) };
	assert_int_equal(assign_vpci_get_bar(f->vpci, 0, &b0), 0);
	assert_false(b0.mapped);
	cw(f, 0x10, 4, 0xfffc0000);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 0, &b0), 0);
	assert_true(b0.mapped);
	assert_int_equal(b0.gpa, 0xfffffffffffc0000ull);
	/* an I/O BAR above 64K is not decoded */
	cw(f, 0x18, 4, 0xfffffff0);
	struct assign_vpci_bar b = { .size = sizeof(b) };
	assert_int_equal(assign_vpci_get_bar(f->vpci, 2, &b), 0);
	assert_false(b.mapped);
}

/* ---- MSI-X -------------------------------------------------------------- */

static void msix_on(struct fx *f)
{
	cw(f, (uint32_t)f->msix + 2, 2, 0x8000);
}

static void test_msix(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	struct assign_pci_msix x = { .size = sizeof(x) };
	const struct assign_vpci_vector *v;
	int ntab;

	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	ntab = x.table_size;
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 1);
	/* table starts masked */
	for (int i = 0; i < ntab; i++)
		assert_int_equal(br(f, x.table_bar, x.table_offset + 16u * i + 12, 4), 1);
	msix_on(f);
	assert_int_equal(cr(f, (uint32_t)f->msix + 2, 2) & 0xc000, 0x8000);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 5);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 0);
	assert_int_equal(r->nintx, 1);
	assert_false(r->intx[0]);
	for (uint32_t i = 0; i < 5; i++) {
		v = last_vec(r, ASSIGN_IRQ_MSIX, i);
		assert_non_null(v);
		assert_true(v->enabled && v->masked);
		assert_true(v->eventfd >= 0);
	}
	/* program entry 2 as a guest does: address, data, unmask */
	uint64_t e2 = x.table_offset + 32;
	bw(f, x.table_bar, e2, 4, 0xfee00000);
	bw(f, x.table_bar, e2 + 4, 4, 0);
	bw(f, x.table_bar, e2 + 8, 4, 0x4021);
	v = last_vec(r, ASSIGN_IRQ_MSIX, 2);
	assert_true(v->masked);
	size_t n = r->nvec;
	bw(f, x.table_bar, e2 + 12, 4, 0);
	assert_int_equal(r->nvec, n + 1);
	v = last_vec(r, ASSIGN_IRQ_MSIX, 2);
	assert_false(v->masked);
	assert_int_equal(v->addr, 0xfee00000);
	assert_int_equal(v->data, 0x4021);
	/* the same write again reports nothing */
	bw(f, x.table_bar, e2 + 12, 4, 0);
	assert_int_equal(r->nvec, n + 1);
	/* 8-byte write of address and upper address */
	bw(f, x.table_bar, e2, 8, 0x00000001fee01000ull);
	v = last_vec(r, ASSIGN_IRQ_MSIX, 2);
	assert_int_equal(v->addr, 0x1fee01000ull);
	assert_int_equal(br(f, x.table_bar, e2, 8), 0x00000001fee01000ull);
	/* the device fires vector 2: its eventfd */
	int efd2 = v->eventfd;
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_MSIX, 2), 0);
	assert_true(fd_readable(efd2));
	drain(efd2);
	/* unmasked vectors are never pending; masked and signalled ones are */
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_MSIX, 2), 0);
	assert_int_equal(br(f, x.pba_bar, x.pba_offset, 8), 0);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_MSIX, 4), 0);
	assert_int_equal(br(f, x.pba_bar, x.pba_offset, 8), 1u << 4);
	assert_int_equal(br(f, x.pba_bar, x.pba_offset, 1), 1u << 4);
	/* PBA writes are ignored */
	bw(f, x.pba_bar, x.pba_offset, 8, 0);
	assert_int_equal(br(f, x.pba_bar, x.pba_offset, 8), 1u << 4);
	/* function mask: every vector masked, entry 2 pending now */
	cw(f, (uint32_t)f->msix + 2, 2, 0xc000);
	v = last_vec(r, ASSIGN_IRQ_MSIX, 2);
	assert_true(v->masked);
	assert_int_equal(br(f, x.pba_bar, x.pba_offset, 4), (1u << 4) | (1u << 2));
	cw(f, (uint32_t)f->msix + 2, 2, 0x8000);
	v = last_vec(r, ASSIGN_IRQ_MSIX, 2);
	assert_false(v->masked);
	assert_int_equal(v->eventfd, efd2);
	/* disable: vectors reported disabled, INTx back */
	cw(f, (uint32_t)f->msix + 2, 2, 0x0000);
	v = last_vec(r, ASSIGN_IRQ_MSIX, 2);
	assert_false(v->enabled);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 0);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 1);
	assert_true(r->intx[r->nintx - 1]);
	assert_int_equal(br(f, x.pba_bar, x.pba_offset, 8), 0);
	/* re-enable: the same eventfds */
	msix_on(f);
	v = last_vec(r, ASSIGN_IRQ_MSIX, 2);
	assert_true(v->enabled);
	assert_int_equal(v->eventfd, efd2);
	check_host_caps(f);
}

/* The updates of one access come in a row, the last with more false. */
static void test_vector_batches(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	struct assign_pci_msix x = { .size = sizeof(x) };
	size_t n;

	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	n = r->nvec;
	msix_on(f); /* five vectors enabled */
	assert_int_equal(r->nvec - n, 5);
	for (size_t i = n; i < r->nvec; i++)
		assert_int_equal(r->vec[i].more, i + 1 < r->nvec);
	/* one entry: one update */
	n = r->nvec;
	bw(f, x.table_bar, x.table_offset + 16, 4, 0xfee00000);
	assert_int_equal(r->nvec - n, 1);
	assert_false(r->vec[n].more);
	/* an 8-byte write over two entries' edges: two, the last closing */
	n = r->nvec;
	bw(f, x.table_bar, x.table_offset + 16 + 12, 8, 0xfee01000ull << 32);
	assert_int_equal(r->nvec - n, 2);
	assert_true(r->vec[n].more);
	assert_false(r->vec[n + 1].more);
	/* reset: disabled in a row */
	n = r->nvec;
	assert_int_equal(assign_vpci_reset(f->vpci), 0);
	assert_true(r->nvec - n >= 5);
	for (size_t i = n; i < r->nvec; i++)
		assert_int_equal(r->vec[i].more, i + 1 < r->nvec);
	/* unref: the same */
	msix_on(f);
	n = r->nvec;
	f->vpci = assign_vpci_unref(f->vpci);
	assert_int_equal(r->nvec - n, 5);
	for (size_t i = n; i < r->nvec; i++) {
		assert_false(r->vec[i].enabled);
		assert_int_equal(r->vec[i].more, i + 1 < r->nvec);
	}
}

/* Entries beyond the kernel's vector count, PBA on the table's page. */
static void test_msix_custom(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;

	msix_on(f);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 4);
	/* entry 6 exists in the table but has no vector */
	bw(f, 0, 0x10000 + 6 * 16, 4, 0xfee00000);
	bw(f, 0, 0x10000 + 6 * 16 + 12, 4, 0);
	assert_int_equal(br(f, 0, 0x10000 + 6 * 16, 4), 0xfee00000);
	assert_null(last_vec(r, ASSIGN_IRQ_MSIX, 6));
	/* the PBA right after the table, in the same page */
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_MSIX, 1), 0);
	assert_int_equal(br(f, 0, 0x10080, 8), 2);
	/* an access straddling the table's end and the PBA */
	/* (entry 7 vector control: masked; then the PBA) */
	assert_int_equal(br(f, 0, 0x1007c, 8), (uint64_t)2 << 32 | 1);
	/* past the PBA, on the same trapped page: the device */
	uint8_t *mem = mock_region_mem(f->mk, ADDR, 0);
	bw(f, 0, 0x10100, 4, 0xdeadbeef);
	assert_int_equal(g32(mem, 0x10100), 0xdeadbeef);
	/* the device's own table was never written */
	for (unsigned i = 0; i < 0x88; i++)
		assert_int_equal(mem[0x10000 + i], 0);
	check_host_caps(f);
}

static void test_msix_hostile(void **state)
{
	struct fx *f = *state;
	struct assign_pci_msix x = { .size = sizeof(x) };
	uint64_t v = 0;
	uint8_t big[16];

	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	msix_on(f);
	/* sizes and bounds */
	assert_int_equal(assign_vpci_bar_read(f->vpci, x.table_bar, 0, &v, 0), -EINVAL);
	assert_int_equal(assign_vpci_bar_write(f->vpci, x.table_bar, 0, big, 9), -EINVAL);
	assert_int_equal(assign_vpci_bar_read(f->vpci, x.table_bar, 0x20000, &v, 4), -EINVAL);
	assert_int_equal(v, 0xffffffff);
	assert_int_equal(assign_vpci_bar_write(f->vpci, x.table_bar, 0x1fffe, &v, 4), -EINVAL);
	assert_int_equal(assign_vpci_bar_write(f->vpci, x.table_bar, UINT64_MAX - 1, &v, 4), -EINVAL);
	assert_int_equal(assign_vpci_bar_write(f->vpci, 1, 0, &v, 4), -EINVAL);
	assert_int_equal(assign_vpci_bar_write(f->vpci, 7, 0, &v, 4), -EINVAL);
	assert_int_equal(assign_vpci_bar_write(f->vpci, 99, 0, &v, 4), -EINVAL);
	/* just past the last entry: not the table */
	uint64_t end = x.table_offset + 16u * x.table_size;
	bw(f, x.table_bar, end, 4, 0x12345678);
	/* unaligned writes across two entries, into reserved bits */
	bw(f, x.table_bar, x.table_offset + 12, 8, UINT64_MAX);
	assert_int_equal(br(f, x.table_bar, x.table_offset + 12, 4), 1);
	assert_int_equal(br(f, x.table_bar, x.table_offset + 16, 4), 0xfffffffc);
	bw(f, x.table_bar, x.table_offset + 1, 3, 0xffffff);
	assert_int_equal(br(f, x.table_bar, x.table_offset, 4), 0xffffff00);
	/* last entry's last byte, straddling the end */
	bw(f, x.table_bar, end - 1, 2, 0xffff);
	assert_int_equal(br(f, x.table_bar, end - 4, 4), 1);
	check_host_caps(f);
}

/* ---- MSI and the host's registers -------------------------------------- */

/* Several MSI vectors: as many as the device and VFIO both offer, the
 * vector number in the low bits of each vector's data, a mask and pending
 * bit each, and a new count while enabled taking effect. */
static void test_msi_multi(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	const struct assign_vpci_vector *v;
	uint32_t m = (uint32_t)f->msi;
	int efd[4];

	/* 8 capable, VFIO has 4: the guest is offered 4 (MMC 2) */
	assert_int_equal(cr(f, m + 2, 2), 0x0184);
	cw(f, m + 4, 4, 0xfee01000);
	cw(f, m + 8, 4, 0);
	cw(f, m + 0xc, 2, 0x4020);
	/* asks for 8 (MME 3), gets 4 */
	cw(f, m + 2, 2, 0x0031);
	assert_int_equal(cr(f, m + 2, 2), 0x01a5);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSI), 4);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 0);
	for (uint32_t i = 0; i < 4; i++) {
		v = last_vec(r, ASSIGN_IRQ_MSI, i);
		assert_non_null(v);
		assert_true(v->enabled);
		assert_false(v->masked);
		assert_int_equal(v->addr, 0xfee01000);
		assert_int_equal(v->data, 0x4020 | i);
		efd[i] = v->eventfd;
		for (uint32_t j = 0; j < i; j++)
			assert_int_not_equal(efd[i], efd[j]);
	}
	assert_null(last_vec(r, ASSIGN_IRQ_MSI, 4));
	/* one mask bit per vector offered; pending per vector */
	cw(f, m + 0x10, 4, 0xffffffff);
	assert_int_equal(cr(f, m + 0x10, 4), 0xf);
	assert_true(last_vec(r, ASSIGN_IRQ_MSI, 3)->masked);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_MSI, 2), 0);
	assert_int_equal(cr(f, m + 0x14, 4), 0x4);
	assert_int_equal(cr(f, m + 0x16, 1), 0);
	cw(f, m + 0x10, 4, 0xb); /* vector 2 unmasked */
	assert_false(last_vec(r, ASSIGN_IRQ_MSI, 2)->masked);
	assert_true(last_vec(r, ASSIGN_IRQ_MSI, 1)->masked);
	assert_int_equal(cr(f, m + 0x14, 4), 0);
	/* data written after enabling: every vector follows */
	cw(f, m + 0xc, 2, 0x5544);
	assert_int_equal(last_vec(r, ASSIGN_IRQ_MSI, 3)->data, 0x5547);
	assert_int_equal(last_vec(r, ASSIGN_IRQ_MSI, 0)->data, 0x5544);
	/* one vector now (MME 0) while enabled: on again with one */
	cw(f, m + 2, 2, 0x0001);
	assert_int_equal(cr(f, m + 2, 2), 0x0185);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSI), 1);
	assert_true(last_vec(r, ASSIGN_IRQ_MSI, 0)->enabled);
	assert_int_equal(last_vec(r, ASSIGN_IRQ_MSI, 0)->data, 0x5544);
	for (uint32_t i = 1; i < 4; i++)
		assert_false(last_vec(r, ASSIGN_IRQ_MSI, i)->enabled);
	/* the same eventfds come back with the vectors */
	cw(f, m + 2, 2, 0x0021);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSI), 4);
	for (uint32_t i = 0; i < 4; i++) {
		assert_true(last_vec(r, ASSIGN_IRQ_MSI, i)->enabled);
		assert_int_equal(last_vec(r, ASSIGN_IRQ_MSI, i)->eventfd,
				 efd[i]);
	}
	cw(f, m + 2, 2, 0x0000);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSI), 0);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 1);
	for (uint32_t i = 0; i < 4; i++)
		assert_false(last_vec(r, ASSIGN_IRQ_MSI, i)->enabled);
	check_host_caps(f);
}

static void test_msi(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	const struct assign_vpci_vector *v;
	uint32_t m = (uint32_t)f->msi;

	/* one vector, 64-bit, per-vector mask, disabled */
	assert_int_equal(cr(f, m + 2, 2), 0x0180);
	/* the guest sees its own (empty) registers, not the host's */
	assert_int_equal(cr(f, m + 4, 4), 0);
	assert_int_equal(cr(f, m + 0xc, 2), 0);
	cw(f, m + 4, 4, 0xfee0100f);
	assert_int_equal(cr(f, m + 4, 4), 0xfee0100c);
	cw(f, m + 8, 4, 0);
	cw(f, m + 0xc, 4, 0xffff4022);
	assert_int_equal(cr(f, m + 0xc, 4), 0x4022);
	/* MME cannot ask for more than one vector */
	cw(f, m + 2, 2, 0x0071);
	assert_int_equal(cr(f, m + 2, 2), 0x0181);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSI), 1);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 0);
	v = last_vec(r, ASSIGN_IRQ_MSI, 0);
	assert_non_null(v);
	assert_true(v->enabled);
	assert_false(v->masked);
	assert_int_equal(v->addr, 0xfee0100c);
	assert_int_equal(v->data, 0x4022);
	/* mask, fire: pending bit */
	cw(f, m + 0x10, 4, 0xffffffff);
	assert_int_equal(cr(f, m + 0x10, 4), 1);
	v = last_vec(r, ASSIGN_IRQ_MSI, 0);
	assert_true(v->masked);
	assert_int_equal(cr(f, m + 0x14, 4), 0);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_MSI, 0), 0);
	assert_int_equal(cr(f, m + 0x14, 4), 1);
	cw(f, m + 0x14, 4, 0);                /* pending is read-only */
	assert_int_equal(cr(f, m + 0x14, 4), 1);
	cw(f, m + 0x10, 4, 0);
	assert_int_equal(cr(f, m + 0x14, 4), 0);
	/* MSI-X enable switches MSI off */
	cw(f, (uint32_t)f->msix + 2, 2, 0x8000);
	v = last_vec(r, ASSIGN_IRQ_MSI, 0);
	assert_false(v->enabled);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSI), 0);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 4);
	check_host_caps(f);
}

/* Whatever the guest writes, the host's MSI/MSI-X registers stay. */
static void test_host_caps_untouched(void **state)
{
	struct fx *f = *state;

	/* MSI at 0x40, MSI-X at 0x60 (the PCIe capability at 0x70 is the
	 * device's, written through) */
	for (uint32_t off = 0x40; off < 0x70; off++) {
		cw(f, off, 1, 0xff);
		cw(f, off, 1, 0x00);
		cw(f, off, 1, 0x5a);
	}
	for (uint32_t off = 0x40; off < 0x70; off += 4)
		cw(f, off, 4, 0xffffffff);
	check_host_caps(f);
	/* the capability list the guest sees is the device's */
	uint8_t cfg[256];
	for (uint32_t off = 0; off < 256; off += 4) {
		uint32_t v = cr(f, off, 4);
		memcpy(cfg + off, &v, 4);
	}
	assert_int_equal(assign_pci_find_cap(cfg, 256, 0x05), f->msi);
	assert_int_equal(assign_pci_find_cap(cfg, 256, 0x11), f->msix);
	assert_int_equal(assign_pci_find_cap(cfg, 256, 0x10), 0x70);
	/* and its MSI-X table location */
	assert_int_equal(g32(cfg, (size_t)f->msix + 4), 0x10000);
}

/* ---- INTx ------------------------------------------------------------ */

static void test_intx(void **state)
{
	struct fx *f = *state;
	struct assign_vpci_intx in = { .size = sizeof(in) };
	uint64_t one = 1;

	assert_int_equal(assign_vpci_get_intx(f->vpci, &in), 0);
	assert_int_equal(in.pin, 1);
	assert_true(in.enabled);
	assert_true(in.trigger_fd >= 0 && in.resample_fd >= 0);
	assert_int_equal(cr(f, 0x3d, 1), 1);
	cw(f, 0x3d, 1, 3);                    /* pin is read-only */
	assert_int_equal(cr(f, 0x3d, 1), 1);
	cw(f, 0x3c, 1, 11);
	assert_int_equal(cr(f, 0x3c, 1), 11);
	assert_int_equal(mock_region_mem(f->mk, ADDR, CFG_REGION)[0x3c],
			 f->host_cfg[0x3c]);
	/* the device asserts INTx: trigger fd, line masked until resample */
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_INTX, 0), 0);
	assert_true(fd_readable(in.trigger_fd));
	drain(in.trigger_fd);
	assert_true(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));
	assert_int_equal(write(in.resample_fd, &one, sizeof(one)), sizeof(one));
	assert_false(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_INTX, 0), 0);
	assert_true(fd_readable(in.trigger_fd));
	drain(in.trigger_fd);
	/* MSI on: INTx off, and back */
	cw(f, (uint32_t)f->msi + 2, 2, 0x0001);
	assert_int_equal(assign_vpci_get_intx(f->vpci, &in), 0);
	assert_false(in.enabled);
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_INTX, 0), -ENOENT);
	cw(f, (uint32_t)f->msi + 2, 2, 0x0000);
	assert_int_equal(assign_vpci_get_intx(f->vpci, &in), 0);
	assert_true(in.enabled);
	assert_int_equal(f->rec.nintx, 2);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 1);
}

/* No unmask eventfd: the guest's EOI (the resample eventfd) unmasks INTx
 * at its next access to the device. */
static void test_intx_unmask_by_access(void **state)
{
	struct fx *f = *state;
	struct assign_vpci_intx in = { .size = sizeof(in) };
	uint64_t one = 1;
	uint32_t v;

	assert_int_equal(assign_vpci_get_intx(f->vpci, &in), 0);
	assert_true(in.enabled);
	assert_string_equal(assign_ctx_get_last_error(f->ctx), "");
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_INTX, 0), 0);
	assert_true(fd_readable(in.trigger_fd));
	drain(in.trigger_fd);
	assert_true(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));
	/* An access before the EOI leaves it masked. */
	assert_int_equal(assign_vpci_bar_read(f->vpci, 0, 0, &v, 4), 0);
	assert_true(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));
	/* The EOI alone does not reach the device ... */
	assert_int_equal(write(in.resample_fd, &one, sizeof(one)), sizeof(one));
	assert_true(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));
	/* ... the next access does. */
	assert_int_equal(assign_vpci_bar_read(f->vpci, 0, 0, &v, 4), 0);
	assert_false(mock_irq_masked(f->mk, ADDR, ASSIGN_IRQ_INTX, 0));
	assert_false(fd_readable(in.resample_fd));
	assert_int_equal(mock_fire_irq(f->mk, ADDR, ASSIGN_IRQ_INTX, 0), 0);
	assert_true(fd_readable(in.trigger_fd));
	drain(in.trigger_fd);
}

/* A config space shorter than 256 bytes (mtty's 255): the guest sees 256,
 * the bytes past the device's end read 0 and take no writes. */
static void test_short_config(void **state)
{
	struct fx *f = *state;
	uint32_t v = 0xdeadbeef;
	uint8_t b = 0xaa;

	assert_int_equal(assign_vpci_get_config_size(f->vpci), 256);
	assert_int_equal(cr(f, 0x00, 4), 0x32534348);
	assert_int_equal(cr(f, 0x0b, 1), 0x07);
	assert_int_equal(assign_vpci_config_read(f->vpci, 0xfc, &v, 4), 0);
	assert_int_equal(v, 0);
	assert_int_equal(assign_vpci_config_write(f->vpci, 0xff, &b, 1), 0);
	assert_int_equal(assign_vpci_config_read(f->vpci, 0xfc, &v, 4), 0);
	assert_int_equal(v, 0);
	/* 0xfc..0xfe are the device's, 0xff is past it. */
	v = 0x00332211;
	assert_int_equal(assign_vpci_config_write(f->vpci, 0xfc, &v, 4), 0);
	assert_int_equal(mock_region_mem(f->mk, ADDR, CFG_REGION)[0xfe], 0x33);
	/* the I/O BAR sizes as 8 bytes */
	cw(f, 0x10, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x10, 4), 0xfffffff9);
}

/* ---- config-space bounds, reset, options --------------------------- */

static void test_config_bounds(void **state)
{
	struct fx *f = *state;
	uint32_t v;

	v = 0;
	assert_int_equal(assign_vpci_config_read(f->vpci, 1, &v, 2), -EINVAL);
	assert_int_equal(v, 0xffff);
	assert_int_equal(assign_vpci_config_read(f->vpci, 2, &v, 4), -EINVAL);
	assert_int_equal(assign_vpci_config_read(f->vpci, 0, &v, 3), -EINVAL);
	assert_int_equal(assign_vpci_config_read(f->vpci, 0, &v, 0), -EINVAL);
	assert_int_equal(assign_vpci_config_read(f->vpci, 4096, &v, 4), -EINVAL);
	assert_int_equal(assign_vpci_config_read(f->vpci, UINT32_MAX - 3, &v, 4), -EINVAL);
	assert_int_equal(assign_vpci_config_write(f->vpci, 4096, &v, 4), -EINVAL);
	assert_int_equal(assign_vpci_config_write(f->vpci, 0x11, &v, 2), -EINVAL);
	assert_int_equal(assign_vpci_config_write(NULL, 0, &v, 4), -EINVAL);
	/* extended config space is the device's */
	v = 0;
	assert_int_equal(assign_vpci_config_read(f->vpci, 0x100, &v, 4), 0);
	assert_int_equal(v, g32(f->host_cfg, 0x100));
	v = 0xabcd0000;
	assert_int_equal(assign_vpci_config_write(f->vpci, 0xffc, &v, 4), 0);
	assert_int_equal(g32(mock_region_mem(f->mk, ADDR, CFG_REGION), 0xffc),
			 0xabcd0000);
}

static void test_reset(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;
	struct assign_vpci_bar b = { .size = sizeof(b) };

	cw(f, 0x10, 4, 0xc0000000);
	cw(f, 0x04, 2, 0x0002);
	msix_on(f);
	unsigned resets = mock_reset_count(f->mk, ADDR);
	assert_int_equal(assign_vpci_reset(f->vpci), 0);
	assert_int_equal(mock_reset_count(f->mk, ADDR), resets + 1);
	assert_int_equal(r->nunmaps, 1);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 0, &b), 0);
	assert_false(b.mapped);
	assert_int_equal(cr(f, 0x10, 4), 0);
	assert_int_equal(cr(f, (uint32_t)f->msix + 2, 2) & 0xc000, 0);
	assert_false(last_vec(r, ASSIGN_IRQ_MSIX, 0)->enabled);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 0);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 1);
}

static void test_unref_callbacks(void **state)
{
	struct fx *f = *state;
	struct rec *r = &f->rec;

	cw(f, 0x10, 4, 0xc0000000);
	cw(f, 0x04, 2, 0x0002);
	msix_on(f);
	assert_non_null(assign_vpci_ref(f->vpci));
	assert_null(assign_vpci_unref(f->vpci));
	assert_int_equal(r->nunmaps, 0);      /* still referenced */
	f->vpci = assign_vpci_unref(f->vpci);
	assert_int_equal(r->nunmaps, 1);
	assert_false(last_vec(r, ASSIGN_IRQ_MSIX, 3)->enabled);
	assert_false(r->intx[r->nintx - 1]);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_MSIX), 0);
	assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 0);
	assert_null(assign_vpci_unref(NULL));
	assert_null(assign_vpci_ref(NULL));
}

static void test_opts(void **state)
{
	struct fx *f = *state;
	struct assign_vpci *v = NULL;
	struct assign_vpci_opts o = { .size = sizeof(o), .flags = 0x80 };
	struct assign_vpci_ops bad = { .size = 1 };
	struct {
		struct assign_vpci_opts o;
		uint64_t extra;
	} big = { { .size = sizeof(big) }, 1 };

	assert_int_equal(assign_vpci_new(f->dev, &o, &v), -EINVAL);
	o.flags = 0;
	o.ops = &bad;
	assert_int_equal(assign_vpci_new(f->dev, &o, &v), -EINVAL);
	assert_int_equal(assign_vpci_new(f->dev, &big.o, &v), -EINVAL);
	assert_int_equal(assign_vpci_new(NULL, NULL, &v), -EINVAL);
	assert_int_equal(assign_vpci_new(f->dev, NULL, NULL), -EINVAL);
	assert_null(v);

	/* a second function on the same device, everything trapped, no ROM,
	 * no INTx, no callbacks */
	f->vpci = assign_vpci_unref(f->vpci);
	o.ops = NULL;
	o.flags = ASSIGN_VPCI_F_NO_MMAP | ASSIGN_VPCI_F_NO_ROM |
		  ASSIGN_VPCI_F_NO_INTX;
	assert_int_equal(assign_vpci_new(f->dev, &o, &f->vpci), 0);
	struct assign_vpci_bar b = { .size = sizeof(b) };
	assert_int_equal(assign_vpci_get_bar(f->vpci, ASSIGN_VPCI_ROM_BAR, &b), 0);
	assert_false(b.present);
	cw(f, 0x30, 4, 0xffffffff);
	assert_int_equal(cr(f, 0x30, 4), 0);
	assert_int_equal(cr(f, 0x3d, 1), 0);
	struct assign_vpci_intx in = { .size = sizeof(in) };
	assert_int_equal(assign_vpci_get_intx(f->vpci, &in), 0);
	assert_int_equal(in.pin, 0);
	assert_int_equal(in.trigger_fd, -1);
	cw(f, 0x10, 4, 0xc0000000);
	cw(f, 0x04, 2, 0x0002);
	assert_int_equal(assign_vpci_get_bar(f->vpci, 0, &b), 0);
	assert_true(b.mapped);
	assert_int_equal(mock_mmaps(f->mk), 0);
	/* a trapped access to BAR4 reaches the device */
	bw(f, 4, 0x100, 4, 0xcafef00d);
	assert_int_equal(g32(mock_region_mem(f->mk, ADDR, 4), 0x100), 0xcafef00d);
}

/* ---- hostile guest: random input, invariants ------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int fuzz_map(void *data, const struct assign_vpci_bar_event *e)
{
	(void)data;
	uint64_t at = 0;
	for (size_t i = 0; i < e->nparts; i++) {
		assert_int_equal(e->parts[i].offset, at);
		at += e->parts[i].size;
	}
	assert_int_equal(at, e->size);
	return 0;
}

static void test_random_guest(void **state)
{
	struct fx *f = *state;
	static const size_t lens[] = { 1, 2, 4 };
	struct assign_vpci_ops fops = { .size = sizeof(fops),
					.bar_map = fuzz_map };
	struct assign_vpci_opts o = { .size = sizeof(o), .ops = &fops };

	f->vpci = assign_vpci_unref(f->vpci);
	assert_int_equal(assign_vpci_new(f->dev, &o, &f->vpci), 0);
	for (int it = 0; it < 20000; it++) {
		uint64_t x = rnd();
		size_t len = lens[x % 3];
		uint32_t off;
		uint64_t val = rnd(), buf = 0;
		switch ((x >> 8) % 4) {
		case 0: /* header, BARs, caps */
			off = (uint32_t)(rnd() % 0x80) & ~(uint32_t)(len - 1);
			if (off == 0x04)
				val |= 0x3;   /* keep decoding on often */
			assign_vpci_config_write(f->vpci, off, &val, len);
			break;
		case 1:
			off = (uint32_t)(rnd() % 0x1100);
			assign_vpci_config_read(f->vpci, off, &buf, len);
			assign_vpci_config_write(f->vpci, off, &val, len);
			break;
		default: { /* BAR accesses around the MSI-X page */
			uint32_t bar = (uint32_t)(rnd() % 8);
			uint64_t boff = 0x10000 - 16 + rnd() % 0x200;
			if (rnd() % 8 == 0)
				boff = rnd();
			size_t blen = (size_t)(rnd() % 10);
			(rnd() & 1 ? assign_vpci_bar_write(f->vpci, bar, boff, &buf, blen) : assign_vpci_bar_read(f->vpci, bar, boff, &buf, blen));
			break;
		}
		}
	}
	/* mapped BARs never overlap */
	struct assign_vpci_bar b[ASSIGN_VPCI_NUM_BARS];
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		b[i].size = sizeof(b[i]);
		assert_int_equal(assign_vpci_get_bar(f->vpci, i, &b[i]), 0);
	}
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++)
		for (uint32_t j = i + 1; j < ASSIGN_VPCI_NUM_BARS; j++)
			if (b[i].mapped && b[j].mapped && b[i].io == b[j].io)
				assert_true(b[i].gpa + b[i].length <=
						    b[j].gpa ||
					    b[j].gpa + b[j].length <= b[i].gpa);
	check_host_caps(f);
	check_host_table(f);
}

/* ---- construction failures ------------------------------------------- */

static void test_bad_devices(void **state)
{
	struct fx *f = *state;
	struct mock_device_cfg cfg;
	struct assign_device *dev;
	struct assign_vpci *v = NULL;
	uint8_t c[4096];

	/* a bridge header */
	build_custom_cfg();
	memcpy(c, custom_cfg, sizeof(c));
	c[0x0e] = 1;
	mock_device_cfg_default(&cfg, "0000:00:05.0", 9);
	cfg.config = c;
	cfg.config_len = sizeof(c);
	cfg.regions = custom_regions;
	cfg.nregions = sizeof(custom_regions) / sizeof(custom_regions[0]);
	cfg.irqs = custom_irqs;
	cfg.nirqs = sizeof(custom_irqs) / sizeof(custom_irqs[0]);
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	assert_int_equal(assign_device_open(f->iommu, "0000:00:05.0", NULL, &dev), 0);
	assert_int_equal(assign_vpci_new(dev, NULL, &v), -EINVAL);
	assert_null(v);
	assign_device_unref(dev);

	/* an MSI-X table past the end of its BAR */
	memcpy(c, custom_cfg, sizeof(c));
	p32(c, 0x64, 0x1fff8);
	mock_device_cfg_default(&cfg, "0000:00:06.0", 10);
	cfg.config = c;
	cfg.config_len = sizeof(c);
	cfg.regions = custom_regions;
	cfg.nregions = sizeof(custom_regions) / sizeof(custom_regions[0]);
	cfg.irqs = custom_irqs;
	cfg.nirqs = sizeof(custom_irqs) / sizeof(custom_irqs[0]);
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	assert_int_equal(assign_device_open(f->iommu, "0000:00:06.0", NULL, &dev), 0);
	assert_int_equal(assign_vpci_new(dev, NULL, &v), -EPROTO);
	assert_null(v);
	/* in a BAR that is the upper half of a 64-bit one */
	memcpy(c, custom_cfg, sizeof(c));
	p32(c, 0x64, 0x0 | 1);
	mock_region_mem(f->mk, "0000:00:06.0", CFG_REGION)[0x64] = 1;
	mock_region_mem(f->mk, "0000:00:06.0", CFG_REGION)[0x65] = 0;
	mock_region_mem(f->mk, "0000:00:06.0", CFG_REGION)[0x66] = 0;
	assert_int_equal(assign_vpci_new(dev, NULL, &v), -EPROTO);
	assign_device_unref(dev);
}


/* ---- KVM glue ------------------------------------------------------------ */

static void test_kvm_vfio(void **state)
{
	struct fx *f = *state;
	struct assign_kvm *kvm = NULL;
	struct assign_iommu *t1;
	struct assign_iommu_opts io = { .size = sizeof(io),
					.backend = ASSIGN_IOMMU_TYPE1 };
	struct assign_device *a, *b;
	struct assign_group *g;
	struct mock_device_cfg cfg;

	assert_int_equal(assign_kvm_new(f->ctx, -1, NULL, &kvm), -EINVAL);
	assert_int_equal(assign_kvm_new(NULL, FAKE_VM, NULL, &kvm), -EINVAL);
	struct assign_kvm_opts ko = { .size = sizeof(ko), .gsi_base = 50,
				      .gsi_limit = 50 };
	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, &ko, &kvm), -EINVAL);
	assert_null(kvm);
	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, NULL, &kvm), 0);
	assert_int_equal(fk.create_device, 0);   /* lazily */

	/* the fixture's device (iommufd: its cdev fd) */
	assert_int_equal(assign_kvm_add_device(kvm, f->dev), 0);
	assert_int_equal(fk.create_device, 1);
	assert_int_equal(fk.nfiles, 1);
	assert_int_equal(assign_kvm_add_device(kvm, f->dev), -EEXIST);

	/* two devices of one type1 group: the group fd once */
	mock_device_cfg_default(&cfg, "0000:00:05.0", 9);
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	mock_device_cfg_default(&cfg, "0000:00:05.1", 9);
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	assert_int_equal(assign_iommu_new(f->ctx, &io, &t1), 0);
	assert_int_equal(assign_device_open(t1, "0000:00:05.0", NULL, &a), 0);
	assert_int_equal(assign_device_open(t1, "0000:00:05.1", NULL, &b), 0);
	assert_int_equal(assign_kvm_add_device(kvm, a), 0);
	assert_int_equal(assign_kvm_add_device(kvm, b), 0);
	assert_int_equal(fk.create_device, 1);
	assert_int_equal(fk.nfiles, 2);
	assert_int_equal(assign_iommu_get_group(t1, 9, &g), 0);
	assert_int_equal(fk.files[1], assign_group_get_fd(g));
	assign_group_unref(g);
	assert_int_equal(assign_kvm_remove_device(kvm, a), 0);
	assert_int_equal(fk.nfiles, 2);
	assert_int_equal(assign_kvm_remove_device(kvm, a), -ENOENT);
	assert_int_equal(assign_kvm_remove_device(kvm, b), 0);
	assert_int_equal(fk.nfiles, 1);
	/* the object holds what it added: drop ours first */
	assert_int_equal(assign_kvm_add_device(kvm, a), 0);
	assign_device_unref(a);
	assign_device_unref(b);
	assign_iommu_unref(t1);
	assert_int_equal(fk.nfiles, 2);
	assert_null(assign_kvm_unref(kvm));
	assert_int_equal(fk.nfiles, 0);
	assert_true(fk.vfio_closed);
}

/* The interrupt-controller routes of a PC (assign-vmm's), committed. */
static void kvm_pc_routes(struct assign_kvm *kvm)
{
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		assert_int_equal(assign_kvm_irqchip_route_add(
					 kvm, gsi, ASSIGN_KVM_IRQCHIP_IOAPIC,
					 gsi ? gsi : 2),
				 0);
		if (gsi < 16)
			assert_int_equal(
				assign_kvm_irqchip_route_add(
					kvm, gsi,
					gsi < 8 ?
						ASSIGN_KVM_IRQCHIP_PIC_MASTER :
						ASSIGN_KVM_IRQCHIP_PIC_SLAVE,
					gsi & 7),
				0);
	}
	assert_int_equal(assign_kvm_route_commit(kvm), 0);
}

#define PC_ROUTES 38 /* 23 IOAPIC + 15 PIC */

static void test_kvm_routes(void **state)
{
	struct fx *f = *state;
	struct assign_kvm *kvm;
	uint32_t g[3];
	int efd;

	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, NULL, &kvm), 0);
	/* interrupt-controller routes: checked, kept, pushed on commit */
	for (uint32_t gsi = 0; gsi < 24; gsi++)
		if (gsi != 2)
			assert_int_equal(assign_kvm_irqchip_route_add(
						 kvm, gsi,
						 ASSIGN_KVM_IRQCHIP_IOAPIC,
						 gsi),
					 0);
	assert_int_equal(assign_kvm_irqchip_route_add(
				 kvm, 4, ASSIGN_KVM_IRQCHIP_PIC_MASTER, 4),
			 0);
	assert_int_equal(assign_kvm_irqchip_route_add(
				 kvm, 4, ASSIGN_KVM_IRQCHIP_PIC_MASTER, 4),
			 -EEXIST);
	assert_int_equal(assign_kvm_irqchip_route_add(
				 kvm, 30, ASSIGN_KVM_IRQCHIP_IOAPIC, 1),
			 -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "MSI range"));
	assert_int_equal(assign_kvm_irqchip_route_add(
				 kvm, 5, ASSIGN_KVM_IRQCHIP_PIC_MASTER, 8),
			 -EINVAL);
	assert_int_equal(assign_kvm_irqchip_route_add(
				 kvm, 9, ASSIGN_KVM_IRQCHIP_IOAPIC, 24),
			 -EINVAL);
	assert_int_equal(assign_kvm_irqchip_route_add(kvm, 9, 3, 0), -EINVAL);
	assert_int_equal(assign_kvm_irqchip_route_add(
				 kvm, 4096, ASSIGN_KVM_IRQCHIP_IOAPIC, 1),
			 -EINVAL);
	assert_int_equal(fk.pushes, 0);
	assert_int_equal(assign_kvm_route_commit(kvm), 0);
	assert_int_equal(fk.pushes, 1);
	assert_int_equal(fk.nroutes, 24);
	assert_int_equal(assign_kvm_route_commit(kvm), 0); /* unchanged */
	assert_int_equal(fk.pushes, 1);

	/* MSI routes: the lowest free GSIs of the range, pushed on commit */
	for (int i = 0; i < 3; i++)
		assert_int_equal(assign_kvm_msi_route_add(
					 kvm,
					 0xfee00000u + 0x1000u * (uint32_t)i,
					 0x40 + (uint32_t)i, &g[i]),
				 0);
	assert_int_equal(g[0], 24);
	assert_int_equal(g[2], 26);
	assert_int_equal(fk.pushes, 1);
	assert_int_equal(assign_kvm_route_commit(kvm), 0);
	assert_int_equal(fk.nroutes, 27);
	const struct kvm_irq_routing_entry *e = fk_route(25);
	assert_int_equal(e->type, KVM_IRQ_ROUTING_MSI);
	assert_int_equal(e->u.msi.address_lo, 0xfee01000);
	assert_int_equal(e->u.msi.data, 0x41);
	/* a 64-bit address: no irqfd uses GSI 25, so KVM gets it on commit */
	assert_int_equal(assign_kvm_msi_route_set(kvm, 25, 0x1fee02000ull, 0x99), 0);
	assert_int_equal(fk_route(25)->u.msi.address_lo, 0xfee01000);
	assert_int_equal(assign_kvm_route_commit(kvm), 0);
	e = fk_route(25);
	assert_int_equal(e->u.msi.address_hi, 1);
	assert_int_equal(e->u.msi.address_lo, 0xfee02000);
	unsigned pushes = fk.pushes;
	assert_int_equal(assign_kvm_msi_route_set(kvm, 25, 0x1fee02000ull, 0x99), 0);
	assert_int_equal(assign_kvm_route_commit(kvm), 0);
	assert_int_equal(fk.pushes, pushes);
	assert_int_equal(assign_kvm_msi_route_set(kvm, 3, 0, 0), -ENOENT);

	/* with an irqfd on GSI 25 a change is pushed at once */
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	assert_int_equal(assign_kvm_irqfd_add(kvm, efd, 25, -1), 0);
	assert_int_equal(fk.pushes, pushes);
	assert_int_equal(assign_kvm_msi_route_set(kvm, 25, 0xfee03000, 0x9a),
			 0);
	assert_int_equal(fk.pushes, pushes + 1);
	assert_int_equal(fk_route(25)->u.msi.address_lo, 0xfee03000);
	/* a failing push: KVM keeps its table, the next push retries */
	fk.fail_routing = -ENOMEM;
	assert_int_equal(assign_kvm_msi_route_set(kvm, 25, 0xfee0f000, 1), -ENOMEM);
	assert_int_equal(fk_route(25)->u.msi.address_lo, 0xfee03000);
	assert_int_equal(assign_kvm_route_commit(kvm), 0);
	assert_int_equal(fk_route(25)->u.msi.address_lo, 0xfee0f000);

	/* removing: the GSI is free at once, KVM forgets it on commit */
	pushes = fk.pushes;
	assert_int_equal(assign_kvm_route_remove(kvm, 24), 0);
	assert_int_equal(fk.pushes, pushes);
	assert_int_equal(assign_kvm_route_remove(kvm, 24), -ENOENT);
	assert_int_equal(assign_kvm_route_commit(kvm), 0);
	assert_null(fk_route(24));
	assert_non_null(fk_route(26));
	assert_int_equal(assign_kvm_msi_route_add(kvm, 0xfee00000, 7, &g[0]),
			 0);
	assert_int_equal(g[0], 24);
	/* ... and at once when an irqfd still uses it */
	pushes = fk.pushes;
	assert_int_equal(assign_kvm_route_remove(kvm, 25), 0);
	assert_int_equal(fk.pushes, pushes + 1);
	assert_null(fk_route(25));
	assert_non_null(fk_route(24)); /* pushed with it */
	assert_int_equal(assign_kvm_irqfd_remove(kvm, efd), 0);
	assign_kvm_unref(kvm);
	close(efd);

	/* a small range runs out, and says so */
	struct assign_kvm_opts ko = { .size = sizeof(ko), .gsi_base = 100,
				      .gsi_limit = 102 };
	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, &ko, &kvm), 0);
	assert_int_equal(assign_kvm_irqchip_route_add(
				 kvm, 101, ASSIGN_KVM_IRQCHIP_IOAPIC, 1),
			 -EINVAL);
	assert_int_equal(assign_kvm_irqchip_route_add(
				 kvm, 102, ASSIGN_KVM_IRQCHIP_IOAPIC, 1),
			 0);
	assert_int_equal(assign_kvm_msi_route_add(kvm, 1, 1, &g[0]), 0);
	assert_int_equal(assign_kvm_msi_route_add(kvm, 1, 1, &g[1]), 0);
	assert_int_equal(assign_kvm_msi_route_add(kvm, 1, 1, &g[2]), -ENOSPC);
	assert_non_null(
		strstr(assign_ctx_get_last_error(f->ctx), "no free GSI"));
	assert_non_null(
		strstr(assign_ctx_get_last_error(f->ctx), "[100, 102)"));
	assert_int_equal(g[1], 101);
	assign_kvm_unref(kvm);
	/* beyond KVM's GSIs */
	ko.gsi_limit = 4097;
	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, &ko, &kvm), -EINVAL);
}

static void test_kvm_irqfd(void **state)
{
	struct fx *f = *state;
	struct assign_kvm *kvm;
	struct assign_vpci_intx in = { .size = sizeof(in) };

	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, NULL, &kvm), 0);
	assert_int_equal(assign_vpci_get_intx(f->vpci, &in), 0);
	/* INTx: a resampling irqfd */
	assert_int_equal(assign_kvm_irqfd_add(kvm, in.trigger_fd, 16,
					      in.resample_fd),
			 0);
	const struct kvm_irqfd *q = fk_irqfd(in.trigger_fd);
	assert_non_null(q);
	assert_int_equal(q->gsi, 16);
	assert_int_equal(q->flags, KVM_IRQFD_FLAG_RESAMPLE);
	assert_int_equal(q->resamplefd, (uint32_t)in.resample_fd);
	assert_int_equal(assign_kvm_irqfd_add(kvm, in.trigger_fd, 17, -1),
			 -EEXIST);
	assert_int_equal(assign_kvm_irqfd_add(kvm, -1, 17, -1), -EINVAL);
	assert_int_equal(assign_kvm_irqfd_remove(kvm, in.trigger_fd), 0);
	assert_null(fk_irqfd(in.trigger_fd));
	assert_int_equal(assign_kvm_irqfd_remove(kvm, in.trigger_fd), -ENOENT);
	/* what is left is deassigned by the last unref */
	assert_int_equal(assign_kvm_irqfd_add(kvm, in.trigger_fd, 16,
					      in.resample_fd),
			 0);
	assert_int_equal(fk.nirqfds, 1);
	assign_kvm_unref(kvm);
	assert_int_equal(fk.nirqfds, 0);
}

static void kvm_vec_cb(void *data, const struct assign_vpci_vector *v)
{
	assert_int_equal(assign_kvm_vector_update(data, v), 0);
}

static void test_kvm_vectors(void **state)
{
	struct fx *f = *state;
	struct assign_kvm *kvm;
	struct assign_pci_msix x = { .size = sizeof(x) };
	struct assign_vpci_ops kops = { .size = sizeof(kops),
					.vector_update = kvm_vec_cb };
	struct assign_vpci_opts o = { .size = sizeof(o), .ops = &kops };

	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, NULL, &kvm), 0);
	f->vpci = assign_vpci_unref(f->vpci);
	o.data = kvm;
	assert_int_equal(assign_vpci_new(f->dev, &o, &f->vpci), 0);
	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	msix_on(f);
	/* all masked: no route, no irqfd */
	assert_int_equal(fk.nroutes, 0);
	assert_int_equal(fk.nirqfds, 0);
	uint64_t e1 = x.table_offset + 16;
	bw(f, x.table_bar, e1, 4, 0xfee00000);
	bw(f, x.table_bar, e1 + 8, 4, 0x4031);
	bw(f, x.table_bar, e1 + 12, 4, 0);
	assert_int_equal(fk.nroutes, 1);
	assert_int_equal(fk.routes[0].u.msi.data, 0x4031);
	assert_int_equal(fk.nirqfds, 1);
	assert_int_equal(fk.irqfds[0].gsi, fk.routes[0].gsi);
	int efd = (int)fk.irqfds[0].fd;
	/* masked: detached, route kept; reprogrammed and unmasked */
	bw(f, x.table_bar, e1 + 12, 4, 1);
	assert_int_equal(fk.nirqfds, 0);
	bw(f, x.table_bar, e1 + 8, 4, 0x4032);
	assert_int_equal(fk.routes[0].u.msi.data, 0x4031);
	bw(f, x.table_bar, e1 + 12, 4, 0);
	assert_int_equal(fk.routes[0].u.msi.data, 0x4032);
	assert_non_null(fk_irqfd(efd));
	/* the function mask detaches too */
	cw(f, (uint32_t)f->msix + 2, 2, 0xc000);
	assert_int_equal(fk.nirqfds, 0);
	cw(f, (uint32_t)f->msix + 2, 2, 0x8000);
	assert_non_null(fk_irqfd(efd));
	/* MSI-X off: irqfd and route gone */
	cw(f, (uint32_t)f->msix + 2, 2, 0x0000);
	assert_int_equal(fk.nirqfds, 0);
	assert_int_equal(fk.nroutes, 0);
	f->vpci = assign_vpci_unref(f->vpci);
	assign_kvm_unref(kvm);
}

/* A vpci on the fixture's device whose vector updates go to @kvm. */
static void kvm_vpci(struct fx *f, struct assign_kvm *kvm)
{
	static struct assign_vpci_ops kops = { .size = sizeof(kops),
					       .vector_update = kvm_vec_cb };
	struct assign_vpci_opts o = { .size = sizeof(o),
				      .ops = &kops,
				      .data = kvm };

	f->vpci = assign_vpci_unref(f->vpci);
	assert_int_equal(assign_vpci_new(f->dev, &o, &f->vpci), 0);
}

/* Bring up MSI-X vectors 0..n-1 the way a driver does: MSI-X on with the
 * function masked, each entry's message written while the entry is
 * masked, the function unmasked, then each entry unmasked on its own. */
static void msix_bring_up(struct fx *f, const struct assign_pci_msix *x,
			  uint32_t n)
{
	uint32_t ctl = (uint32_t)f->msix + 2;

	cw(f, ctl, 2, 0xc000);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t e = x->table_offset + 16u * i;
		bw(f, x->table_bar, e, 4, 0xfee00000u | (i << 12));
		bw(f, x->table_bar, e + 4, 4, 0);
		bw(f, x->table_bar, e + 8, 4, 0x4020 + i);
	}
	cw(f, ctl, 2, 0x8000);
	for (uint32_t i = 0; i < n; i++)
		bw(f, x->table_bar, x->table_offset + 16u * i + 12, 4, 0);
}

/* How many times the routing table goes to KVM: once for the bring-up of
 * five vectors (it was five), once per real change after that. */
static void test_kvm_coalesce(void **state)
{
	struct fx *f = *state;
	struct assign_kvm *kvm;
	struct assign_pci_msix x = { .size = sizeof(x) };
	uint32_t ctl = (uint32_t)f->msix + 2;
	unsigned p0;

	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, NULL, &kvm), 0);
	kvm_pc_routes(kvm);
	assert_int_equal(fk.pushes, 1);
	kvm_vpci(f, kvm);

	p0 = fk.pushes;
	msix_bring_up(f, &x, 5);
	assert_int_equal(fk.pushes - p0, 1);
	assert_int_equal(fk.nroutes, PC_ROUTES + 5);
	assert_int_equal(fk.nirqfds, 5);
	for (uint32_t i = 0; i < 5; i++) {
		const struct kvm_irq_routing_entry *e =
			fk_route(fk.irqfds[i].gsi);
		assert_non_null(e);
		assert_int_equal(e->type, KVM_IRQ_ROUTING_MSI);
		assert_int_equal(e->u.msi.data & 0xfff0, 0x4020);
	}

	/* Linux moving vector 3 to another CPU: mask, message, unmask */
	uint64_t e3 = x.table_offset + 3 * 16;
	p0 = fk.pushes;
	bw(f, x.table_bar, e3 + 12, 4, 1);
	bw(f, x.table_bar, e3, 4, 0xfee05000);
	bw(f, x.table_bar, e3 + 8, 4, 0x4033);
	assert_int_equal(fk.pushes, p0);
	bw(f, x.table_bar, e3 + 12, 4, 0);
	assert_int_equal(fk.pushes - p0, 1);
	/* a message written while unmasked, in one 8-byte write: pushed */
	p0 = fk.pushes;
	bw(f, x.table_bar, e3, 8, 0xfee06000);
	assert_int_equal(fk.pushes - p0, 1);
	/* masking and unmasking, the function mask, unchanged writes: none */
	p0 = fk.pushes;
	bw(f, x.table_bar, e3 + 12, 4, 1);
	bw(f, x.table_bar, e3 + 12, 4, 0);
	cw(f, ctl, 2, 0xc000);
	cw(f, ctl, 2, 0x8000);
	bw(f, x.table_bar, e3 + 8, 4, 0x4033);
	assert_int_equal(fk.pushes, p0);
	assert_int_equal(fk.nirqfds, 5);
	/* MSI-X off: irqfds gone, the five routes freed in one push */
	p0 = fk.pushes;
	cw(f, ctl, 2, 0x0000);
	assert_int_equal(fk.pushes - p0, 1);
	assert_int_equal(fk.nirqfds, 0);
	assert_int_equal(fk.nroutes, PC_ROUTES);
	/* on again: the table still holds the messages; one push */
	p0 = fk.pushes;
	cw(f, ctl, 2, 0x8000);
	assert_int_equal(fk.pushes - p0, 1);
	assert_int_equal(fk.nirqfds, 5);
	assert_int_equal(fk.unrouted, 0);
	f->vpci = assign_vpci_unref(f->vpci);
	assign_kvm_unref(kvm);
}

/* ---- messages a guest can cause are bounded ------------------------- */

struct log_count {
	const char *what; /* substring counted */
	unsigned n; /* lines with it */
	char last[512]; /* the last of them */
};

__attribute__((format(printf, 6, 0))) static void
count_log(struct assign_ctx *ctx, int prio, const char *file, int line,
	  const char *fn, const char *fmt, va_list ap)
{
	struct log_count *c = assign_ctx_get_log_data(ctx);
	char msg[512];

	(void)prio;
	(void)file;
	(void)line;
	(void)fn;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!strstr(msg, c->what))
		return;
	c->n++;
	snprintf(c->last, sizeof(c->last), "%s", msg);
}

/*
 * A guest repeats at will what makes the library log (security 5 of
 * issue 13: a guest toggling Memory Space Enable flooded the host's log):
 * 1000 toggles with BAR3 over BAR0 and 200 vector reprogrammings cost
 * 10 lines each, then one at the 20th, 40th, 80th... occurrence, counted.
 */
static void test_guest_log_bounded(void **state)
{
	struct fx *f = *state;
	struct log_count c = { .what = "overlaps another of its BARs" };
	struct assign_pci_msix x = { .size = sizeof(x) };
	struct assign_kvm *kvm;

	assign_ctx_set_log_fn(f->ctx, count_log, &c);
	assign_ctx_set_log_priority(f->ctx, LOG_DEBUG);
	cw(f, 0x10, 4, 0xc0000000);
	cw(f, 0x1c, 4, 0xc0010000); /* inside BAR0 */
	for (int i = 0; i < 1000; i++) {
		cw(f, 0x04, 2, 0x0002); /* BAR0 maps, BAR3 refused */
		cw(f, 0x04, 2, 0x0000);
	}
	/* 1-10, 20, 40, 80, 160, 320, 640 */
	assert_int_equal(c.n, 16);
	assert_non_null(strstr(c.last, "(640 times)"));

	c = (struct log_count){ .what = "GSI routing table to KVM" };
	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, NULL, &kvm), 0);
	kvm_vpci(f, kvm);
	unsigned p0 = fk.pushes;
	msix_bring_up(f, &x, 1);
	for (uint32_t i = 0; i < 200; i++) { /* mask, new message, unmask */
		bw(f, x.table_bar, x.table_offset + 12, 4, 1);
		bw(f, x.table_bar, x.table_offset + 8, 4, 0x4020 + i % 2 + 1);
		bw(f, x.table_bar, x.table_offset + 12, 4, 0);
	}
	assert_int_equal(fk.pushes - p0, 201);
	/* 1-10, 20, 40, 80, 160 */
	assert_int_equal(c.n, 14);
	assert_non_null(strstr(c.last, "(160 times)"));
	f->vpci = assign_vpci_unref(f->vpci);
	assign_kvm_unref(kvm);
	assign_ctx_set_log_fn(f->ctx, NULL, NULL);
	assign_ctx_set_log_priority(f->ctx, LOG_ERR);
}

/* A vpci going away takes its routes and irqfds with it (one push), and
 * the next device gets the same GSIs again. */
static void test_kvm_vpci_gone(void **state)
{
	struct fx *f = *state;
	struct assign_kvm *kvm;
	struct assign_pci_msix x = { .size = sizeof(x) };
	uint32_t gsis[5];
	unsigned p0;

	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, NULL, &kvm), 0);
	kvm_pc_routes(kvm);
	for (int round = 0; round < 3; round++) {
		kvm_vpci(f, kvm);
		msix_bring_up(f, &x, 5);
		assert_int_equal(fk.nirqfds, 5);
		for (uint32_t i = 0; i < 5; i++) {
			if (round == 0)
				gsis[i] = fk.irqfds[i].gsi;
			assert_true(fk.irqfds[i].gsi >= 24 &&
				    fk.irqfds[i].gsi < 29);
			assert_int_equal(fk.irqfds[i].gsi, gsis[i]);
		}
		p0 = fk.pushes;
		f->vpci = assign_vpci_unref(f->vpci);
		assert_int_equal(fk.pushes - p0, 1);
		assert_int_equal(fk.nirqfds, 0);
		assert_int_equal(fk.nroutes, PC_ROUTES);
		for (uint32_t g = 24; g < 29; g++)
			assert_null(fk_route(g));
	}
	/* MSI too */
	kvm_vpci(f, kvm);
	cw(f, (uint32_t)f->msi + 4, 4, 0xfee00000);
	cw(f, (uint32_t)f->msi + 2, 2, 1);
	assert_int_equal(fk.nirqfds, 1);
	assert_int_equal(fk.irqfds[0].gsi, 24);
	f->vpci = assign_vpci_unref(f->vpci);
	assert_int_equal(fk.nirqfds, 0);
	assert_int_equal(fk.nroutes, PC_ROUTES);
	assert_int_equal(fk.unrouted, 0);
	assign_kvm_unref(kvm);
}

static int exhausted_errors, nomem_errors;

static void kvm_vec_count_cb(void *data, const struct assign_vpci_vector *v)
{
	int r = assign_kvm_vector_update(data, v);

	if (r == -ENOSPC)
		exhausted_errors++;
	else if (r == -ENOMEM)
		nomem_errors++;
	else
		assert_int_equal(r, 0);
}

/* KVM refuses the push at a vector's unmask: the vector stays detached
 * (its GSI is not routed in KVM), and the next access pushes and
 * attaches it with the others. */
static void test_kvm_push_retry(void **state)
{
	struct fx *f = *state;
	struct assign_kvm *kvm;
	struct assign_pci_msix x = { .size = sizeof(x) };
	struct assign_vpci_ops kops = { .size = sizeof(kops),
					.vector_update = kvm_vec_count_cb };
	struct assign_vpci_opts o = { .size = sizeof(o), .ops = &kops };
	uint32_t ctl = (uint32_t)f->msix + 2;

	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, NULL, &kvm), 0);
	kvm_pc_routes(kvm);
	o.data = kvm;
	f->vpci = assign_vpci_unref(f->vpci);
	assert_int_equal(assign_vpci_new(f->dev, &o, &f->vpci), 0);
	cw(f, ctl, 2, 0x8000);
	for (uint32_t i = 0; i < 2; i++) {
		bw(f, x.table_bar, x.table_offset + 16u * i, 4, 0xfee00000);
		bw(f, x.table_bar, x.table_offset + 16u * i + 8, 4, 0x4040 + i);
	}
	nomem_errors = 0;
	fk.fail_routing = -ENOMEM;
	bw(f, x.table_bar, x.table_offset + 12, 4, 0);
	assert_int_equal(nomem_errors, 1);
	assert_int_equal(fk.nirqfds, 0);
	assert_int_equal(fk.nroutes, PC_ROUTES);
	bw(f, x.table_bar, x.table_offset + 16 + 12, 4, 0);
	assert_int_equal(nomem_errors, 1);
	assert_int_equal(fk.nirqfds, 2);
	assert_int_equal(fk.nroutes, PC_ROUTES + 2);
	assert_int_equal(fk.unrouted, 0);
	f->vpci = assign_vpci_unref(f->vpci);
	assert_int_equal(fk.nirqfds, 0);
	assign_kvm_unref(kvm);
}

/* Three GSIs for five vectors: two vectors go without, with -ENOSPC and a
 * message that says what to do; a freed GSI serves the next vector. */
static void test_kvm_gsi_exhausted(void **state)
{
	struct fx *f = *state;
	struct assign_kvm *kvm;
	struct assign_pci_msix x = { .size = sizeof(x) };
	struct assign_kvm_opts ko = { .size = sizeof(ko),
				      .gsi_base = 24,
				      .gsi_limit = 27 };
	struct assign_vpci_ops kops = { .size = sizeof(kops),
					.vector_update = kvm_vec_count_cb };
	struct assign_vpci_opts o = { .size = sizeof(o), .ops = &kops };

	assert_int_equal(assign_pci_parse_msix(f->host_cfg, 256, &x), 0);
	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, &ko, &kvm), 0);
	kvm_pc_routes(kvm);
	o.data = kvm;
	f->vpci = assign_vpci_unref(f->vpci);
	assert_int_equal(assign_vpci_new(f->dev, &o, &f->vpci), 0);
	exhausted_errors = 0;
	msix_bring_up(f, &x, 5);
	assert_true(exhausted_errors >= 2);
	assert_non_null(
		strstr(assign_ctx_get_last_error(f->ctx), "no free GSI"));
	assert_int_equal(fk.nirqfds, 3);
	assert_int_equal(fk.nroutes, PC_ROUTES + 3);
	/* MSI-X off frees all three. On again, masked entries 0 and 1 take
	 * two (a masked vector with a message keeps its route ready for its
	 * unmask), unmasked entry 2 the third, entries 3 and 4 none */
	cw(f, (uint32_t)f->msix + 2, 2, 0);
	assert_int_equal(fk.nroutes, PC_ROUTES);
	bw(f, x.table_bar, x.table_offset + 12, 4, 1);
	bw(f, x.table_bar, x.table_offset + 16 + 12, 4, 1);
	exhausted_errors = 0;
	cw(f, (uint32_t)f->msix + 2, 2, 0x8000);
	assert_int_equal(fk.nroutes, PC_ROUTES + 3);
	assert_int_equal(fk.nirqfds, 1);
	assert_int_equal(exhausted_errors, 2);
	assert_int_equal(fk.unrouted, 0);
	f->vpci = assign_vpci_unref(f->vpci);
	assign_kvm_unref(kvm);
}

/* The same calls on the real KVM, when /dev/kvm can be opened: the
 * structures the glue builds are the ones KVM accepts. */
static void test_kvm_real(void **state)
{
	struct assign_ctx *ctx;
	struct assign_kvm *kvm;
	uint32_t gsi;
	int kfd, vm, efd, rfd;

	(void)state;
	kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kfd < 0) {
		skip();
		return;
	}
	vm = ioctl(kfd, KVM_CREATE_VM, 0);
	if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
		if (vm >= 0)
			close(vm);
		close(kfd);
		skip();
		return;
	}
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assert_int_equal(assign_kvm_new(ctx, vm, NULL, &kvm), 0);
	for (uint32_t g = 0; g < 24; g++) {
		if (g == 2)
			continue;
		assert_int_equal(assign_kvm_irqchip_route_add(
					 kvm, g, ASSIGN_KVM_IRQCHIP_IOAPIC, g),
				 0);
		if (g < 16)
			assert_int_equal(
				assign_kvm_irqchip_route_add(
					kvm, g,
					g < 8 ? ASSIGN_KVM_IRQCHIP_PIC_MASTER :
						ASSIGN_KVM_IRQCHIP_PIC_SLAVE,
					g & 7),
				0);
	}
	assert_int_equal(assign_kvm_route_commit(kvm), 0);
	assert_int_equal(
		assign_kvm_msi_route_add(kvm, 0xfee00000, 0x4041, &gsi), 0);
	assert_int_equal(assign_kvm_msi_route_set(kvm, gsi, 0xfee01000, 0x4042), 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0 && rfd >= 0);
	assert_int_equal(assign_kvm_irqfd_add(kvm, efd, gsi, -1), 0);
	assert_int_equal(assign_kvm_irqfd_remove(kvm, efd), 0);
	assert_int_equal(assign_kvm_irqfd_add(kvm, efd, 16, rfd), 0);
	assert_int_equal(assign_kvm_irqfd_remove(kvm, efd), 0);
	assert_int_equal(assign_kvm_route_remove(kvm, gsi), 0);
	assert_int_equal(assign_kvm_irqfd_add(kvm, efd, 17, rfd), 0);
	assign_kvm_unref(kvm);             /* deassigns it */
	assert_int_equal(assign_kvm_new(ctx, vm, NULL, &kvm), 0);
	assert_int_equal(assign_kvm_irqfd_add(kvm, efd, 17, rfd), 0);
	assign_kvm_unref(kvm);
	assign_ctx_unref(ctx);
	close(efd);
	close(rfd);
	close(vm);
	close(kfd);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Every kernel call made by assign_vpci_new() fails in turn: the
 * constructor fails cleanly (no mapping, no fd, no interrupt left). */
static void test_fault_sweep(void **state)
{
	struct fx *f = *state;
	struct assign_vpci_opts o = { .size = sizeof(o), .ops = &ops,
				      .data = &f->rec };
	unsigned long nth;

	f->vpci = assign_vpci_unref(f->vpci);
	int fds = count_fds();
	size_t open_fds = mock_open_fds(f->mk);
	for (nth = 1; nth < 500; nth++) {
		struct assign_vpci *v = NULL;
		unsigned long before = mock_calls(f->mk, MOCK_ANY);
		mock_fail_nth(f->mk, MOCK_ANY, 0, nth, -EIO);
		int r = assign_vpci_new(f->dev, &o, &v);
		unsigned long made = mock_calls(f->mk, MOCK_ANY) - before;
		mock_fail_clear(f->mk);
		if (r == 0) {
			assert_non_null(v);
			v = assign_vpci_unref(v);
			if (made < nth)
				break;       /* the injection was never reached */
		} else {
			assert_null(v);
		}
		assert_int_equal(mock_mmaps(f->mk), 0);
		assert_int_equal(mock_open_fds(f->mk), open_fds);
		assert_int_equal(count_fds(), fds);
		assert_int_equal(mock_irq_enabled(f->mk, ADDR, ASSIGN_IRQ_INTX), 0);
		assert_int_equal(f->rec.nmaps + f->rec.nvec, 0);
	}
	assert_true(nth > 3 && nth < 500);
}

/* vCPU threads hammering one function and one KVM glue object at once
 * (the lock; meant for TSan as much as for the result). */
struct hammer {
	struct fx *f;
	unsigned seed;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	struct assign_vpci *vpci = h->f->vpci;
	unsigned s = h->seed;

	for (int i = 0; i < 3000; i++) {
		s = s * 1103515245u + 12345u;
		uint32_t v = s, buf;
		uint64_t b64 = s;
		switch ((s >> 16) % 5) {
		case 0: /* MSI-X control: enable, mask, disable */
			v = (s >> 8) & 0xc000;
			assign_vpci_config_write(vpci, (uint32_t)h->f->msix + 2, &v, 2);
			break;
		case 1: /* a table entry */
			assign_vpci_bar_write(vpci, 0, 0x10000 + ((s >> 4) % 5) * 16 + ((s >> 2) & 3) * 4,
					       &b64, 4);
			break;
		case 2: /* the PBA */
			assign_vpci_bar_read(vpci, 0, 0x10800, &b64, 8);
			break;
		case 3: /* move BAR3 and toggle decoding */
			v = 0xc0100000u + ((s >> 8) & 0xf) * 0x4000;
			assign_vpci_config_write(vpci, 0x1c, &v, 4);
			v = (s >> 12) & 2;
			assign_vpci_config_write(vpci, 0x04, &v, 2);
			break;
		default:
			assign_vpci_config_read(vpci, (s >> 8) & 0xfc, &buf, 4);
			break;
		}
	}
	return NULL;
}

static struct assign_kvm *hammer_kvm;

static void hammer_vec(void *data, const struct assign_vpci_vector *v)
{
	(void)data;
	assert_int_equal(assign_kvm_vector_update(hammer_kvm, v), 0);
}

static int hammer_map(void *data, const struct assign_vpci_bar_event *e)
{
	(void)data;
	(void)e;
	return 0;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	struct assign_vpci_ops hops = { .size = sizeof(hops),
					.bar_map = hammer_map,
					.vector_update = hammer_vec };
	struct assign_vpci_opts o = { .size = sizeof(o), .ops = &hops };
	struct hammer h[4];
	pthread_t t[4];

	assert_int_equal(assign_kvm_new(f->ctx, FAKE_VM, NULL, &hammer_kvm), 0);
	f->vpci = assign_vpci_unref(f->vpci);
	assert_int_equal(assign_vpci_new(f->dev, &o, &f->vpci), 0);
	cw(f, 0x10, 4, 0xc0000000);
	for (unsigned i = 0; i < 4; i++) {
		h[i].f = f;
		h[i].seed = 77 + i;
		assert_int_equal(pthread_create(&t[i], NULL, hammer_thread, &h[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	f->vpci = assign_vpci_unref(f->vpci);
	/* every vector was disabled: no irqfd, no route left */
	assert_int_equal(fk.nirqfds, 0);
	assert_int_equal(fk.nroutes, 0);
	assert_int_equal(fk.unrouted, 0);
	hammer_kvm = assign_kvm_unref(hammer_kvm);
	check_host_caps(f);
}

int main(void)
{
#define TD(fn) cmocka_unit_test_setup_teardown(fn, setup_default, teardown)
#define TC(fn) cmocka_unit_test_setup_teardown(fn, setup_custom, teardown)
	const struct CMUnitTest tests[] = {
		TD(test_sizing_default),
		TC(test_sizing_custom),
		TD(test_placement),
		TC(test_placement_custom),
		TC(test_bar_reads_locked),
		TD(test_msix),
		TC(test_msix_custom),
		TD(test_msix_hostile),
		TD(test_vector_batches),
		TC(test_msix_hostile),
		TC(test_msi),
		cmocka_unit_test_setup_teardown(test_msi_multi, setup_multi_msi,
						teardown),
		TC(test_host_caps_untouched),
		TD(test_intx),
		TC(test_intx),
		cmocka_unit_test_setup_teardown(test_intx_unmask_by_access,
						setup_mtty_intx, teardown),
		cmocka_unit_test_setup_teardown(test_short_config, setup_mtty,
						teardown),
		cmocka_unit_test_setup_teardown(test_intx_unmask_by_access,
						setup_mtty, teardown),
		TD(test_config_bounds),
		TD(test_reset),
		TD(test_unref_callbacks),
		TC(test_opts),
		TD(test_random_guest),
		TC(test_random_guest),
		TC(test_bad_devices),
		TD(test_kvm_vfio),
		TD(test_kvm_routes),
		TD(test_kvm_irqfd),
		TD(test_kvm_vectors),
		TD(test_kvm_coalesce),
		TD(test_kvm_vpci_gone),
		TD(test_kvm_gsi_exhausted),
		TD(test_kvm_push_retry),
		TD(test_guest_log_bounded),
		cmocka_unit_test(test_kvm_real),
		TD(test_fault_sweep),
		TC(test_fault_sweep),
		TD(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
