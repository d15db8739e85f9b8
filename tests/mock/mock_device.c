// SPDX-License-Identifier: MIT
/*
 * The mock kernel's device side: VFIO device fds as vfio-pci makes them
 * (regions at index << 40 backed by memfds, region and irq info with argsz
 * negotiation and capability chains, SET_IRQS with real eventfds, resets,
 * hot reset, device features), opened through a group or a cdev.
 *
 * Behaviour and error codes follow Linux 6.12 drivers/vfio/vfio_main.c,
 * group.c, device_cdev.c, pci/vfio_pci_core.c and pci/vfio_pci_intrs.c,
 * written from reading them.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "mock_internal.h"

#define OFFSETOFEND(t, m) (offsetof(t, m) + sizeof(((t *)0)->m))
#define PAGE_4K 4096ull
#define REGION_MASK ((1ull << MOCK_REGION_SHIFT) - 1)

/* ---- default device -------------------------------------------------- */

static const struct mock_region_cfg default_regions[] = {
	{
		.index = VFIO_PCI_BAR0_REGION_INDEX,
		.size = 0x20000,
		.flags = VFIO_REGION_INFO_FLAG_READ |
			 VFIO_REGION_INFO_FLAG_WRITE |
			 VFIO_REGION_INFO_FLAG_MMAP,
		.nsparse = 2,
		.sparse = { { 0, 0x10000 }, { 0x11000, 0xf000 } },
	},
	{
		.index = VFIO_PCI_BAR3_REGION_INDEX,
		.size = 0x4000,
		.flags = VFIO_REGION_INFO_FLAG_READ |
			 VFIO_REGION_INFO_FLAG_WRITE |
			 VFIO_REGION_INFO_FLAG_MMAP,
	},
	{
		.index = VFIO_PCI_CONFIG_REGION_INDEX,
		.size = 4096,
		.flags = VFIO_REGION_INFO_FLAG_READ |
			 VFIO_REGION_INFO_FLAG_WRITE,
	},
};

static const struct mock_irq_cfg default_irqs[] = {
	{ VFIO_PCI_INTX_IRQ_INDEX, 1,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
		  VFIO_IRQ_INFO_AUTOMASKED },
	{ VFIO_PCI_MSI_IRQ_INDEX, 1,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
	{ VFIO_PCI_MSIX_IRQ_INDEX, 5, VFIO_IRQ_INFO_EVENTFD },
	{ VFIO_PCI_ERR_IRQ_INDEX, 1,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
	{ VFIO_PCI_REQ_IRQ_INDEX, 1,
	  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
};

void mock_device_cfg_default(struct mock_device_cfg *cfg, const char *addr,
			     int group)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->addr = addr;
	cfg->group = group;
	cfg->driver = "vfio-pci";
	cfg->vendor = 0x8086;
	cfg->device = 0x10d3;
	cfg->class_code = 0x020000;
	cfg->config = NULL;
	cfg->config_len = 4096;
	cfg->regions = default_regions;
	cfg->nregions = ARRAY_SIZE(default_regions);
	cfg->irqs = default_irqs;
	cfg->nirqs = ARRAY_SIZE(default_irqs);
}

/* ---- building -------------------------------------------------------- */

static void put16(uint8_t *c, size_t off, uint16_t v)
{
	c[off] = (uint8_t)v;
	c[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *c, size_t off, uint32_t v)
{
	put16(c, off, (uint16_t)v);
	put16(c, off + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *c, size_t off)
{
	return (uint32_t)c[off] | (uint32_t)c[off + 1] << 8 |
	       (uint32_t)c[off + 2] << 16 | (uint32_t)c[off + 3] << 24;
}

static uint32_t irq_count(const struct mdev *dev, uint32_t index)
{
	return index < dev->num_irqs ? dev->irqs[index].count : 0;
}

/* Where the MSI-X table goes: the first hole between sparse areas of a BAR,
 * else offset 0 of the first BAR. */
static void msix_place(const struct mdev *dev, uint32_t n, uint32_t *bir,
		       uint32_t *table, uint32_t *pba)
{
	uint32_t tsize = (n * 16 + 7) & ~7u;

	for (uint32_t b = 0; b < 6 && b < dev->num_regions; b++) {
		const struct mregion *r = &dev->regions[b];
		uint64_t hole = 0;
		if (!r->size || !r->nsparse)
			continue;
		for (uint32_t i = 0; i < r->nsparse; i++) {
			if (r->sparse[i].offset > hole)
				break;
			hole = r->sparse[i].offset + r->sparse[i].size;
		}
		if (hole >= r->size)
			continue;
		*bir = b;
		*table = (uint32_t)hole;
		*pba = (uint32_t)hole + (tsize > 0x800 ? tsize : 0x800);
		if (*pba + ((n + 63) / 64) * 8 > r->size)
			*pba = (uint32_t)hole + tsize;
		return;
	}
	for (uint32_t b = 0; b < 6 && b < dev->num_regions; b++)
		if (dev->regions[b].size) {
			*bir = b;
			*table = 0;
			*pba = tsize;
			return;
		}
	*bir = 0;
	*table = 0;
	*pba = tsize;
}

static void gen_config(struct mdev *dev, uint8_t *c, size_t len)
{
	uint32_t addr = 0xf0000000u;
	uint8_t *prev = &c[0x34];
	uint8_t pos = 0x40;

	put16(c, 0x00, dev->vendor);
	put16(c, 0x02, dev->device);
	put16(c, 0x06, 0x0010); /* capabilities list */
	c[0x08] = 0x01;
	c[0x09] = (uint8_t)dev->class_code;
	c[0x0a] = (uint8_t)(dev->class_code >> 8);
	c[0x0b] = (uint8_t)(dev->class_code >> 16);
	put16(c, 0x2c, dev->subsys_vendor);
	put16(c, 0x2e, dev->subsys_device);
	for (uint32_t b = 0; b < 6 && b < dev->num_regions; b++) {
		uint64_t sz = dev->regions[b].size;
		if (!sz || sz > 0x10000000)
			continue;
		addr = (uint32_t)((addr + sz - 1) & ~(sz - 1));
		put32(c, 0x10 + 4 * b, addr);
		addr += (uint32_t)sz;
	}
	if (dev->num_regions > VFIO_PCI_ROM_REGION_INDEX &&
	    dev->regions[VFIO_PCI_ROM_REGION_INDEX].size) {
		uint64_t sz = dev->regions[VFIO_PCI_ROM_REGION_INDEX].size;
		addr = (uint32_t)((addr + sz - 1) & ~(sz - 1));
		put32(c, 0x30, addr);
	}
	c[0x3d] = irq_count(dev, VFIO_PCI_INTX_IRQ_INDEX) ? 1 : 0;
	if (irq_count(dev, VFIO_PCI_MSI_IRQ_INDEX)) {
		uint32_t n = irq_count(dev, VFIO_PCI_MSI_IRQ_INDEX), mmc = 0;
		while ((1u << mmc) < n && mmc < 5)
			mmc++;
		*prev = pos;
		c[pos] = 0x05;
		put16(c, pos + 2, (uint16_t)(0x0080 | mmc << 1));
		prev = &c[pos + 1];
		pos += 0x10;
	}
	if (irq_count(dev, VFIO_PCI_MSIX_IRQ_INDEX)) {
		uint32_t n = irq_count(dev, VFIO_PCI_MSIX_IRQ_INDEX);
		uint32_t bir, table, pba;
		msix_place(dev, n, &bir, &table, &pba);
		*prev = pos;
		c[pos] = 0x11;
		put16(c, pos + 2, (uint16_t)((n - 1) & 0x7ff));
		put32(c, pos + 4, table | bir);
		put32(c, pos + 8, pba | bir);
		prev = &c[pos + 1];
		pos += 0x10;
	}
	if (len > 256 || irq_count(dev, VFIO_PCI_ERR_IRQ_INDEX)) {
		*prev = pos;
		c[pos] = 0x10;
		put16(c, pos + 2, 0x0002); /* version 2, endpoint */
		prev = &c[pos + 1];
		pos += 0x3c;
	}
	*prev = 0;
	if (len > 256)
		put32(c, 0x100, 0x00010001); /* AER, version 1, end of list */
	if (c[0x34] == 0)
		put16(c, 0x06, 0);
}

static int region_backing(struct mregion *r)
{
	size_t len = (size_t)((r->size + PAGE_4K - 1) & ~(PAGE_4K - 1));

	r->memfd = memfd_create("mock-region", MFD_CLOEXEC);
	if (r->memfd < 0)
		return -errno;
	if (ftruncate(r->memfd, (off_t)len) < 0)
		return -errno;
	r->mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd,
		      0);
	if (r->mem == MAP_FAILED) {
		r->mem = NULL;
		return -errno;
	}
	return 0;
}

int mock_device_build(struct mock_kernel *mk, struct mdev *dev,
		      const struct mock_device_cfg *cfg)
{
	uint32_t maxidx = 0, maxirq = 0, ntrig = 1;
	struct mregion *cr;
	int r;

	(void)mk;
	snprintf(dev->home_driver, sizeof(dev->home_driver), "%s",
		 cfg->driver ? cfg->driver : "");
	dev->driver[0] = '\0';
	dev->vendor = cfg->vendor;
	dev->device = cfg->device;
	dev->class_code = cfg->class_code;
	dev->no_reset = cfg->no_reset;
	dev->no_cdev = cfg->no_cdev;
	dev->no_hot_reset = cfg->no_hot_reset;
	dev->intx_no_unmask_fd = cfg->intx_no_unmask_fd;
	dev->atomic_comp = cfg->pci_atomic_comp;
	dev->subsys_vendor = cfg->subsystem ? cfg->subsystem[0] : cfg->vendor;
	dev->subsys_device = cfg->subsystem ? cfg->subsystem[1] : cfg->device;
	mock_mig_init(dev, cfg);
	if (cfg->migration_flags && !dev->mig.data)
		return -ENOMEM;
	dev->config_len = cfg->config_len ? cfg->config_len : 4096;
	if (cfg->config && cfg->config_len == 0)
		return -EINVAL;
	for (size_t i = 0; i < cfg->nregions; i++)
		if (cfg->regions[i].index + 1 > maxidx)
			maxidx = cfg->regions[i].index + 1;
	dev->num_regions = cfg->num_regions ? cfg->num_regions
					    : VFIO_PCI_NUM_REGIONS;
	if (dev->num_regions < maxidx ||
	    (dev->bus != MBUS_PLATFORM && dev->num_regions <= 7))
		return -EINVAL;
	for (size_t i = 0; i < cfg->nirqs; i++)
		if (cfg->irqs[i].index + 1 > maxirq)
			maxirq = cfg->irqs[i].index + 1;
	dev->num_irqs = cfg->num_irqs ? cfg->num_irqs : VFIO_PCI_NUM_IRQS;
	if (dev->num_irqs < maxirq)
		return -EINVAL;
	dev->regions = calloc(dev->num_regions, sizeof(*dev->regions));
	dev->irqs = calloc(dev->num_irqs ? dev->num_irqs : 1,
			   sizeof(*dev->irqs));
	if (!dev->regions || !dev->irqs)
		return -ENOMEM;
	for (uint32_t i = 0; i < dev->num_regions; i++)
		dev->regions[i].memfd = -1;
	for (size_t i = 0; i < cfg->nregions; i++) {
		const struct mock_region_cfg *rc = &cfg->regions[i];
		struct mregion *rg = &dev->regions[rc->index];
		rg->size = rc->size;
		rg->flags = rc->flags;
		rg->nsparse = rc->nsparse > 4 ? 4 : rc->nsparse;
		for (uint32_t k = 0; k < rg->nsparse; k++) {
			rg->sparse[k].offset = rc->sparse[k].offset;
			rg->sparse[k].size = rc->sparse[k].size;
		}
		rg->msix_mappable = rc->msix_mappable;
		rg->has_type = rc->has_type;
		rg->type = rc->type;
		rg->subtype = rc->subtype;
	}
	for (size_t i = 0; i < cfg->nirqs; i++) {
		dev->irqs[cfg->irqs[i].index].count = cfg->irqs[i].count;
		dev->irqs[cfg->irqs[i].index].flags = cfg->irqs[i].flags;
		if (cfg->irqs[i].count > ntrig)
			ntrig = cfg->irqs[i].count;
	}
	if (dev->bus == MBUS_PLATFORM) {
		/* No config space, no BAR registers: the regions are what
		 * the device tree or ACPI describes. */
		dev->config_len = 0;
		for (uint32_t i = 0; i < dev->num_regions; i++) {
			if (!dev->regions[i].size)
				continue;
			r = region_backing(&dev->regions[i]);
			if (r < 0)
				return r;
		}
		goto irqs;
	}
	cr = &dev->regions[VFIO_PCI_CONFIG_REGION_INDEX];
	if (!cr->size) {
		cr->size = dev->config_len;
		cr->flags = VFIO_REGION_INFO_FLAG_READ |
			    VFIO_REGION_INFO_FLAG_WRITE;
	}
	dev->config_len = (size_t)cr->size;
	for (uint32_t i = 0; i < dev->num_regions; i++) {
		if (!dev->regions[i].size)
			continue;
		r = region_backing(&dev->regions[i]);
		if (r < 0)
			return r;
	}
	if (cfg->config)
		memcpy(cr->mem, cfg->config,
		       cfg->config_len < cr->size ? cfg->config_len
						  : (size_t)cr->size);
	else
		gen_config(dev, cr->mem, (size_t)cr->size);
	for (uint32_t b = 0; b < 6 && b < dev->num_regions; b++)
		dev->regions[b].bar_init = get32(cr->mem, 0x10 + 4 * b);
	if (dev->num_regions > VFIO_PCI_ROM_REGION_INDEX)
		dev->regions[VFIO_PCI_ROM_REGION_INDEX].bar_init =
			get32(cr->mem, 0x30);
irqs:
	dev->ntrig = ntrig;
	dev->trig = malloc(ntrig * sizeof(int));
	if (!dev->trig)
		return -ENOMEM;
	for (uint32_t i = 0; i < ntrig; i++)
		dev->trig[i] = -1;
	dev->irq_type = MOCK_IRQ_NONE;
	dev->intx_unmask_fd = -1;
	dev->err_trig = -1;
	dev->req_trig = -1;
	return 0;
}

void mock_device_free(struct mdev *dev)
{
	if (!dev)
		return;
	if (dev->trig)
		mock_irq_disable_all(dev);
	for (uint32_t i = 0; dev->regions && i < dev->num_regions; i++) {
		struct mregion *r = &dev->regions[i];
		if (r->mem)
			munmap(r->mem, (size_t)((r->size + PAGE_4K - 1) &
						~(PAGE_4K - 1)));
		if (r->memfd >= 0)
			close(r->memfd);
	}
	free(dev->regions);
	free(dev->irqs);
	free(dev->trig);
	mock_mig_free(dev);
	free(dev);
}

/* ---- interrupts ------------------------------------------------------ */

static void fd_put(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* counter overflow: as the kernel, drop it */
	}
}

/* eventfd_ctx_fdget(): -EBADF for a bad fd, -EINVAL for another file. */
static int eventfd_get(int fd, int *out)
{
	char link[64], target[64];
	ssize_t r;
	int d;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	r = readlink(link, target, sizeof(target) - 1);
	if (r < 0)
		return -EBADF;
	target[r] = '\0';
	if (strcmp(target, "anon_inode:[eventfd]"))
		return -EINVAL;
	d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (d < 0)
		return -errno;
	*out = d;
	return 0;
}

static void intx_do_unmask(struct mdev *dev)
{
	if (!dev->intx_masked)
		return;
	if (dev->intx_pending) {
		/* Still asserted: it fires again and stays masked. */
		dev->intx_pending = false;
		signal_fd(dev->trig[0]);
		return;
	}
	dev->intx_masked = false;
}

/* The unmask eventfd works asynchronously in the kernel; here it is
 * looked at whenever the INTx state is observed. */
static void intx_poll_unmask(struct mdev *dev)
{
	struct pollfd p;
	uint64_t v;

	if (dev->intx_unmask_fd < 0)
		return;
	p.fd = dev->intx_unmask_fd;
	p.events = POLLIN;
	p.revents = 0;
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN) &&
	    read(dev->intx_unmask_fd, &v, sizeof(v)) == sizeof(v))
		intx_do_unmask(dev);
}

static void intx_disable(struct mdev *dev)
{
	fd_put(&dev->intx_unmask_fd);
	fd_put(&dev->trig[0]);
	dev->intx_masked = false;
	dev->intx_pending = false;
	dev->irq_type = MOCK_IRQ_NONE;
}

static void msi_disable(struct mdev *dev)
{
	for (uint32_t i = 0; i < dev->ntrig; i++)
		fd_put(&dev->trig[i]);
	dev->nctx = 0;
	dev->irq_type = MOCK_IRQ_NONE;
}

void mock_irq_disable_all(struct mdev *dev)
{
	if (dev->irq_type == VFIO_PCI_INTX_IRQ_INDEX)
		intx_disable(dev);
	else if (dev->irq_type != MOCK_IRQ_NONE)
		msi_disable(dev);
	fd_put(&dev->err_trig);
	fd_put(&dev->req_trig);
}

static int intx_mask_unmask(struct mdev *dev, uint32_t action, uint32_t dt,
			    uint32_t start, uint32_t count, const void *data)
{
	if (dev->irq_type != VFIO_PCI_INTX_IRQ_INDEX || start != 0 ||
	    count != 1)
		return -EINVAL;
	if (action == VFIO_IRQ_SET_ACTION_MASK) {
		if (dt == VFIO_IRQ_SET_DATA_NONE ||
		    (dt == VFIO_IRQ_SET_DATA_BOOL && *(const uint8_t *)data))
			dev->intx_masked = true;
		else if (dt == VFIO_IRQ_SET_DATA_EVENTFD)
			return -ENOTTY;
		return 0;
	}
	if (dt == VFIO_IRQ_SET_DATA_NONE ||
	    (dt == VFIO_IRQ_SET_DATA_BOOL && *(const uint8_t *)data)) {
		intx_poll_unmask(dev);
		intx_do_unmask(dev);
	} else if (dt == VFIO_IRQ_SET_DATA_EVENTFD) {
		int32_t fd;
		int nfd, r;
		if (dev->intx_no_unmask_fd)
			return -ENOTTY;
		memcpy(&fd, data, sizeof(fd));
		if (fd >= 0) {
			r = eventfd_get(fd, &nfd);
			if (r < 0)
				return r;
			fd_put(&dev->intx_unmask_fd);
			dev->intx_unmask_fd = nfd;
		} else {
			fd_put(&dev->intx_unmask_fd);
		}
	}
	return 0;
}

static int intx_trigger(struct mdev *dev, uint32_t dt, uint32_t start,
			uint32_t count, const void *data)
{
	bool is_intx = dev->irq_type == VFIO_PCI_INTX_IRQ_INDEX;

	if (is_intx && !count && dt == VFIO_IRQ_SET_DATA_NONE) {
		intx_disable(dev);
		return 0;
	}
	if (!(is_intx || dev->irq_type == MOCK_IRQ_NONE) || start != 0 ||
	    count != 1)
		return -EINVAL;
	if (dt == VFIO_IRQ_SET_DATA_EVENTFD) {
		int32_t fd;
		int nfd = -1, r;
		memcpy(&fd, data, sizeof(fd));
		if (fd >= 0) {
			r = eventfd_get(fd, &nfd);
			if (r < 0)
				return r;
		}
		fd_put(&dev->trig[0]);
		dev->trig[0] = nfd;
		if (!is_intx) {
			dev->irq_type = VFIO_PCI_INTX_IRQ_INDEX;
			dev->intx_masked = false;
			dev->intx_pending = false;
		}
		return 0;
	}
	if (!is_intx)
		return -EINVAL;
	if (dt == VFIO_IRQ_SET_DATA_NONE ||
	    (dt == VFIO_IRQ_SET_DATA_BOOL && *(const uint8_t *)data))
		signal_fd(dev->trig[0]);
	return 0;
}

static int msi_set_vector(struct mdev *dev, uint32_t v, int32_t fd, bool msix)
{
	int nfd, r;

	fd_put(&dev->trig[v]);
	if (fd < 0)
		return 0;
	if (v >= dev->nctx) {
		/* Only MSI-X with dynamic allocation can grow. */
		if (!msix || (dev->irqs[VFIO_PCI_MSIX_IRQ_INDEX].flags &
			      VFIO_IRQ_INFO_NORESIZE))
			return -EINVAL;
		dev->nctx = v + 1;
	}
	r = eventfd_get(fd, &nfd);
	if (r < 0)
		return r;
	dev->trig[v] = nfd;
	return 0;
}

static int msi_set_block(struct mdev *dev, uint32_t start, uint32_t count,
			 const int32_t *fds, bool msix)
{
	uint32_t i, j;
	int r = 0;

	for (i = 0, j = start; i < count && !r; i++, j++) {
		int32_t fd = -1;
		if (fds)
			memcpy(&fd, &fds[i], sizeof(fd));
		r = msi_set_vector(dev, j, fd, msix);
	}
	if (r)
		for (i = start; i < j; i++)
			msi_set_vector(dev, i, -1, msix);
	return r;
}

static int msi_trigger(struct mdev *dev, uint32_t index, uint32_t dt,
		       uint32_t start, uint32_t count, const void *data)
{
	bool msix = index == VFIO_PCI_MSIX_IRQ_INDEX;
	int r;

	if (dev->irq_type == index && !count && dt == VFIO_IRQ_SET_DATA_NONE) {
		msi_disable(dev);
		return 0;
	}
	if (!(dev->irq_type == index || dev->irq_type == MOCK_IRQ_NONE))
		return -EINVAL;
	if (dt == VFIO_IRQ_SET_DATA_EVENTFD) {
		if (dev->irq_type == index)
			return msi_set_block(dev, start, count, data, msix);
		if (start + count == 0)
			return -EINVAL; /* pci_alloc_irq_vectors(1, 0) */
		dev->irq_type = index;
		dev->nctx = start + count;
		r = msi_set_block(dev, start, count, data, msix);
		if (r)
			msi_disable(dev);
		return r;
	}
	if (dev->irq_type != index)
		return -EINVAL;
	for (uint32_t i = start; i < start + count; i++) {
		if (i >= dev->nctx || dev->trig[i] < 0)
			continue;
		if (dt == VFIO_IRQ_SET_DATA_NONE ||
		    ((const uint8_t *)data)[i - start])
			signal_fd(dev->trig[i]);
	}
	return 0;
}

static int single_trigger(int *ctx, uint32_t dt, uint32_t start,
			  uint32_t count, const void *data)
{
	if (start != 0 || count > 1)
		return -EINVAL;
	if (dt == VFIO_IRQ_SET_DATA_NONE) {
		if (*ctx >= 0) {
			if (count)
				signal_fd(*ctx);
			else
				fd_put(ctx);
			return 0;
		}
	} else if (dt == VFIO_IRQ_SET_DATA_BOOL) {
		if (!count)
			return -EINVAL;
		if (*(const uint8_t *)data && *ctx >= 0)
			signal_fd(*ctx);
		return 0;
	} else if (dt == VFIO_IRQ_SET_DATA_EVENTFD) {
		int32_t fd;
		int nfd, r;
		if (!count)
			return -EINVAL;
		memcpy(&fd, data, sizeof(fd));
		if (fd == -1) {
			fd_put(ctx);
		} else if (fd >= 0) {
			r = eventfd_get(fd, &nfd);
			if (r < 0)
				return r;
			fd_put(ctx);
			*ctx = nfd;
		}
		return 0;
	}
	return -EINVAL;
}

static int set_irqs(struct mdev *dev, struct vfio_irq_set *hdr)
{
	size_t minsz = OFFSETOFEND(struct vfio_irq_set, count);
	uint32_t max, dt, action;
	size_t size;

	if (hdr->argsz < minsz || hdr->index >= VFIO_PCI_NUM_IRQS ||
	    hdr->count >= UINT32_MAX - hdr->start ||
	    (hdr->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK |
			    VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return -EINVAL;
	max = irq_count(dev, hdr->index);
	if (hdr->start >= max || hdr->start + hdr->count > max)
		return -EINVAL;
	dt = hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	switch (dt) {
	case VFIO_IRQ_SET_DATA_NONE:
		size = 0;
		break;
	case VFIO_IRQ_SET_DATA_BOOL:
		size = 1;
		break;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		size = 4;
		break;
	default:
		return -EINVAL;
	}
	if (size && hdr->argsz - minsz < (uint64_t)hdr->count * size)
		return -EINVAL;
	action = hdr->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	switch (hdr->index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_MASK ||
		    action == VFIO_IRQ_SET_ACTION_UNMASK)
			return intx_mask_unmask(dev, action, dt, hdr->start,
						hdr->count, hdr->data);
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return intx_trigger(dev, dt, hdr->start, hdr->count,
					    hdr->data);
		break;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return msi_trigger(dev, hdr->index, dt, hdr->start,
					   hdr->count, hdr->data);
		break;
	case VFIO_PCI_ERR_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return single_trigger(&dev->err_trig, dt, hdr->start,
					      hdr->count, hdr->data);
		break;
	case VFIO_PCI_REQ_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return single_trigger(&dev->req_trig, dt, hdr->start,
					      hdr->count, hdr->data);
		break;
	}
	return -ENOTTY;
}

/* ---- info ioctls ----------------------------------------------------- */

static int get_device_info(struct mdev *dev, struct vfio_device_info *uinfo)
{
	size_t minsz = OFFSETOFEND(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;
	struct capbuf *cb;

	memset(&info, 0, sizeof(info));
	memcpy(&info, uinfo, minsz);
	if (info.argsz < minsz)
		return -EINVAL;
	minsz = info.argsz < sizeof(info) ? info.argsz : sizeof(info);
	info.flags = dev->bus == MBUS_PLATFORM ? VFIO_DEVICE_FLAGS_PLATFORM :
						 VFIO_DEVICE_FLAGS_PCI;
	if (!dev->no_reset)
		info.flags |= VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = dev->num_regions;
	info.num_irqs = dev->num_irqs;
	info.cap_offset = 0;
	cb = mock_zalloc(sizeof(*cb));
	if (!cb)
		return -ENOMEM;
	if (dev->atomic_comp) {
		struct vfio_device_info_cap_pci_atomic_comp *a;
		a = mock_cap_add(cb, sizeof(*a),
				 VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP, 1);
		a->flags = dev->atomic_comp;
	}
	if (cb->size) {
		info.flags |= VFIO_DEVICE_FLAGS_CAPS;
		if (info.argsz < sizeof(info) + cb->size) {
			info.argsz = (uint32_t)(sizeof(info) + cb->size);
		} else {
			mock_cap_shift(cb, sizeof(info));
			memcpy((uint8_t *)uinfo + sizeof(info), cb->buf,
			       cb->size);
			info.cap_offset = sizeof(info);
		}
	}
	free(cb);
	memcpy(uinfo, &info, minsz);
	return 0;
}

static int get_region_info(struct mdev *dev, struct vfio_region_info *uinfo)
{
	size_t minsz = OFFSETOFEND(struct vfio_region_info, offset);
	struct vfio_region_info info;
	struct mregion *r;
	struct capbuf *cb;

	memcpy(&info, uinfo, minsz);
	if (info.argsz < minsz)
		return -EINVAL;
	if (info.index >= dev->num_regions)
		return -EINVAL;
	r = &dev->regions[info.index];
	/* vfio-pci: no VGA region unless the device decodes VGA. */
	if (dev->bus != MBUS_PLATFORM &&
	    info.index == VFIO_PCI_VGA_REGION_INDEX && !r->size)
		return -EINVAL;
	if (dev->bus != MBUS_PLATFORM &&
	    info.index > VFIO_PCI_VGA_REGION_INDEX && !r->size)
		return -EINVAL;
	info.offset = MOCK_REGION_OFFSET(info.index);
	info.size = r->size;
	info.flags = r->size ? r->flags : 0;
	info.cap_offset = 0;
	cb = mock_zalloc(sizeof(*cb));
	if (!cb)
		return -ENOMEM;
	if (r->size && r->has_type) {
		struct vfio_region_info_cap_type *t;
		t = mock_cap_add(cb, sizeof(*t), VFIO_REGION_INFO_CAP_TYPE, 1);
		t->type = r->type;
		t->subtype = r->subtype;
	}
	if (r->size && r->nsparse && (r->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		struct vfio_region_info_cap_sparse_mmap *s;
		s = mock_cap_add(cb, sizeof(*s) + r->nsparse * sizeof(s->areas[0]),
				 VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1);
		s->nr_areas = r->nsparse;
		for (uint32_t i = 0; i < r->nsparse; i++) {
			s->areas[i].offset = r->sparse[i].offset;
			s->areas[i].size = r->sparse[i].size;
		}
	}
	if (r->size && r->msix_mappable)
		mock_cap_add(cb, sizeof(struct vfio_info_cap_header),
			     VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1);
	if (cb->size) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (info.argsz < sizeof(info) + cb->size) {
			info.argsz = (uint32_t)(sizeof(info) + cb->size);
			info.cap_offset = 0;
		} else {
			mock_cap_shift(cb, sizeof(info));
			memcpy((uint8_t *)uinfo + sizeof(info), cb->buf,
			       cb->size);
			info.cap_offset = sizeof(info);
		}
	}
	free(cb);
	memcpy(uinfo, &info, minsz);
	/* The kernel copies back minsz only; cap_offset lives before size. */
	return 0;
}

static int get_irq_info(struct mdev *dev, struct vfio_irq_info *info)
{
	if (info->argsz < OFFSETOFEND(struct vfio_irq_info, count) ||
	    info->index >= VFIO_PCI_NUM_IRQS || info->index >= dev->num_irqs)
		return -EINVAL;
	if (info->index == VFIO_PCI_ERR_IRQ_INDEX &&
	    !dev->irqs[info->index].count)
		return -EINVAL; /* not PCIe */
	info->flags = dev->irqs[info->index].flags;
	info->count = dev->irqs[info->index].count;
	return 0;
}

/* ---- hot reset ------------------------------------------------------- */

static bool same_bus(const struct mdev *a, const struct mdev *b)
{
	struct assign_pci_addr x, y;

	if (a->bus != MBUS_PCI || b->bus != MBUS_PCI ||
	    assign_pci_addr_parse(a->addr, &x) < 0 ||
	    assign_pci_addr_parse(b->addr, &y) < 0)
		return false;
	return x.domain == y.domain && x.bus == y.bus;
}

static bool is_vfio(const struct mdev *d)
{
	return mock_dev_is_vfio(d);
}

/* vfio_iommufd_get_dev_id(): devid if bound to @ictx, OWNED if a device of
 * its group is, else NOT_OWNED. */
static int32_t devid_for(const struct mock_kernel *mk, const struct mdev *d,
			 const struct mictx *ictx)
{
	if (!is_vfio(d))
		return VFIO_PCI_DEVID_NOT_OWNED;
	if (d->bound_ictx == ictx)
		return (int32_t)d->devid;
	for (size_t i = 0; i < mk->ndevs; i++)
		if (mk->devs[i]->group == d->group &&
		    mk->devs[i]->bound_ictx == ictx)
			return VFIO_PCI_DEVID_OWNED;
	return VFIO_PCI_DEVID_NOT_OWNED;
}

/* As Linux 6.12: entries are written while walking the bus, as many as
 * the array holds; count and flags always come back; -ENOSPC after that
 * when some did not fit. */
static int hot_reset_info(struct mock_kernel *mk, struct mdevfile *df,
			  struct vfio_pci_hot_reset_info *hdr)
{
	size_t minsz = OFFSETOFEND(struct vfio_pci_hot_reset_info, count);
	struct mdev *dev = df->dev;
	uint32_t count = 0, flags = 0;
	size_t room;

	if (hdr->argsz < minsz)
		return -EINVAL;
	if (dev->no_hot_reset)
		return -ENODEV;
	room = (hdr->argsz - sizeof(*hdr)) / sizeof(hdr->devices[0]);
	if (hdr->argsz < sizeof(*hdr))
		room = 0;
	if (df->cdev)
		flags = VFIO_PCI_HOT_RESET_FLAG_DEV_ID |
			VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED;
	for (size_t k = 0; k < mk->ndevs; k++) {
		struct mdev *d = mk->devs[k];
		struct vfio_pci_dependent_device e;
		struct assign_pci_addr a;
		if (!same_bus(d, dev))
			continue;
		assign_pci_addr_parse(d->addr, &a);
		memset(&e, 0, sizeof(e));
		if (df->cdev) {
			int32_t id = devid_for(mk, d, dev->bound_ictx);
			e.devid = (uint32_t)id;
			if (id == VFIO_PCI_DEVID_NOT_OWNED)
				flags &= ~VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED;
		} else {
			e.group_id = (uint32_t)d->group;
		}
		e.segment = a.domain;
		e.bus = a.bus;
		e.devfn = (uint8_t)(a.dev << 3 | a.fn);
		if (count < room)
			hdr->devices[count] = e;
		count++;
	}
	hdr->flags = flags;
	hdr->count = count;
	return count > room ? -ENOSPC : 0;
}

static int hot_reset(struct mock_kernel *mk, struct mdevfile *df,
		     struct vfio_pci_hot_reset *hdr)
{
	size_t minsz = OFFSETOFEND(struct vfio_pci_hot_reset, count);
	struct mdev *dev = df->dev;
	struct mgroup *groups[MOCK_MAX_GROUPS];
	uint32_t ngroups = 0, ndevs = 0;

	if (hdr->argsz < minsz || hdr->flags)
		return -EINVAL;
	if (!!hdr->count == df->cdev)
		return -EINVAL;
	if (dev->no_hot_reset)
		return -ENODEV;
	for (size_t k = 0; k < mk->ndevs; k++)
		if (same_bus(mk->devs[k], dev))
			ndevs++;
	if (!df->cdev) {
		if (hdr->argsz - minsz < (uint64_t)hdr->count * sizeof(int32_t))
			return -EINVAL;
		if (hdr->count > ndevs)
			return -EINVAL;
		for (uint32_t i = 0; i < hdr->count; i++) {
			struct mfd *f = mock_fd_get(mk, hdr->group_fds[i]);
			if (!f) {
				if (fcntl(hdr->group_fds[i], F_GETFD) < 0)
					return -EBADF;
				return -EINVAL;
			}
			if (f->kind != MFD_GROUP)
				return -EINVAL;
			groups[ngroups++] = f->u.group;
		}
	}
	/* Every affected device must be a vfio device owned by the caller. */
	for (size_t k = 0; k < mk->ndevs; k++) {
		struct mdev *d = mk->devs[k];
		bool owned = false;
		if (!same_bus(d, dev))
			continue;
		if (!is_vfio(d))
			return -EINVAL;
		if (df->cdev) {
			int32_t id = devid_for(mk, d, dev->bound_ictx);
			owned = id > 0 || id == VFIO_PCI_DEVID_OWNED;
		} else {
			for (uint32_t g = 0; g < ngroups; g++)
				if (groups[g]->id == d->group)
					owned = true;
		}
		if (!owned)
			return -EINVAL;
	}
	for (size_t k = 0; k < mk->ndevs; k++)
		if (same_bus(mk->devs[k], dev))
			mk->devs[k]->hot_reset_count++;
	return 0;
}

/* ---- device features ------------------------------------------------- */

static int check_feature(uint32_t flags, size_t argsz, uint32_t ops,
			 size_t minsz)
{
	if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) & ~ops)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (!(flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
		return -EINVAL;
	if (argsz < minsz)
		return -EINVAL;
	return 1;
}

static int device_feature(struct mock_kernel *mk, struct mdev *dev,
			  struct vfio_device_feature *f)
{
	size_t minsz = OFFSETOFEND(struct vfio_device_feature, flags);
	uint32_t known = VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_SET |
			 VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE;
	int r;

	if (f->argsz < minsz)
		return -EINVAL;
	if (f->flags & ~known)
		return -EINVAL;
	if (!(f->flags & VFIO_DEVICE_FEATURE_PROBE) &&
	    (f->flags & VFIO_DEVICE_FEATURE_SET) &&
	    (f->flags & VFIO_DEVICE_FEATURE_GET))
		return -EINVAL;
	r = mock_mig_feature(mk, dev, f);
	if (r != 1)
		return r;
	switch (f->flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY:
	case VFIO_DEVICE_FEATURE_LOW_POWER_EXIT:
		r = check_feature(f->flags, f->argsz - minsz,
				  VFIO_DEVICE_FEATURE_SET, 0);
		return r > 0 ? 0 : r;
	case VFIO_DEVICE_FEATURE_PCI_VF_TOKEN:
		/* vfio_pci_core_feature_token(): a PF only, SET only. */
		if (dev->bus != MBUS_PCI || !dev->sriov_pf)
			return -ENOTTY;
		r = check_feature(f->flags, f->argsz - minsz,
				  VFIO_DEVICE_FEATURE_SET, 16);
		if (r == 1)
			memcpy(dev->vf_token, f->data, 16);
		return r > 0 ? 0 : r;
	case VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP:
		r = check_feature(f->flags, f->argsz - minsz,
				  VFIO_DEVICE_FEATURE_SET,
				  sizeof(struct vfio_device_low_power_entry_with_wakeup));
		return r > 0 ? 0 : r;
	default:
		return -ENOTTY;
	}
}

/* ---- device fd ------------------------------------------------------- */

int mock_device_ioctl(struct mock_kernel *mk, struct mdevfile *df,
		      unsigned long req, void *arg)
{
	struct mdev *dev = df->dev;

	if (req == VFIO_DEVICE_BIND_IOMMUFD)
		return mock_cdev_ioctl(mk, df, req, arg);
	if (df->cdev && !df->bound)
		return -EINVAL;
	if (!arg && req != VFIO_DEVICE_RESET)
		return -EFAULT;
	switch (req) {
	case VFIO_DEVICE_ATTACH_IOMMUFD_PT:
	case VFIO_DEVICE_DETACH_IOMMUFD_PT:
		return mock_cdev_ioctl(mk, df, req, arg);
	case VFIO_DEVICE_FEATURE:
		return device_feature(mk, dev, arg);
	case VFIO_DEVICE_GET_INFO:
		return get_device_info(dev, arg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return get_region_info(dev, arg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return get_irq_info(dev, arg);
	case VFIO_DEVICE_SET_IRQS:
		return set_irqs(dev, arg);
	case VFIO_DEVICE_RESET:
		if (dev->no_reset)
			return -EINVAL;
		dev->reset_count++;
		mock_mig_reset(dev);
		return 0;
	case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
		return hot_reset_info(mk, df, arg);
	case VFIO_DEVICE_PCI_HOT_RESET:
		return hot_reset(mk, df, arg);
	default:
		return -ENOTTY;
	}
}

/* vfio-pci virtualizes the BAR registers: what a write leaves there reads
 * back masked by the BAR size, so sizing by writing ~0 works. */
static void bar_fixup(struct mdev *dev)
{
	uint8_t *c = dev->regions[VFIO_PCI_CONFIG_REGION_INDEX].mem;

	for (uint32_t b = 0; b < 6 && b < dev->num_regions; b++) {
		struct mregion *r = &dev->regions[b];
		uint32_t v = get32(c, 0x10 + 4 * b), init = r->bar_init;
		uint64_t sz = r->size;
		if (b > 0 && (dev->regions[b - 1].bar_init & 0x7) == 0x4 &&
		    !(dev->regions[b - 1].bar_init & 1)) {
			/* Upper half of a 64-bit BAR. */
			uint64_t psz = dev->regions[b - 1].size;
			uint32_t mask = psz ? (uint32_t)(~(psz - 1) >> 32) : 0;
			put32(c, 0x10 + 4 * b, v & mask);
			continue;
		}
		if (!sz) {
			put32(c, 0x10 + 4 * b, 0);
			continue;
		}
		if (init & 1)
			put32(c, 0x10 + 4 * b,
			      (v & ~(uint32_t)(sz - 1) & ~3u) | (init & 3u));
		else
			put32(c, 0x10 + 4 * b,
			      (v & ~(uint32_t)(sz - 1) & ~0xfu) | (init & 0xfu));
	}
	if (dev->num_regions > VFIO_PCI_ROM_REGION_INDEX) {
		uint64_t sz = dev->regions[VFIO_PCI_ROM_REGION_INDEX].size;
		uint32_t v = get32(c, 0x30);
		put32(c, 0x30, sz ? (v & ~(uint32_t)(sz - 1) & ~0x7feu) | (v & 1)
				  : 0);
	}
}

ssize_t mock_device_rw(struct mock_kernel *mk, struct mdevfile *df, void *buf,
		       size_t count, uint64_t off, bool write)
{
	struct mdev *dev = df->dev;
	uint64_t index = off >> MOCK_REGION_SHIFT, pos = off & REGION_MASK;
	struct mregion *r;
	size_t n;

	(void)mk;
	if (df->cdev && !df->bound)
		return -EINVAL;
	if (index >= dev->num_regions)
		return -EINVAL;
	r = &dev->regions[index];
	if (!r->size || !r->mem)
		return -EINVAL;
	if (!(r->flags & (write ? VFIO_REGION_INFO_FLAG_WRITE
				: VFIO_REGION_INFO_FLAG_READ)))
		return -EINVAL;
	if (pos >= r->size)
		return -EINVAL;
	n = count < r->size - pos ? count : (size_t)(r->size - pos);
	if (write) {
		memcpy(r->mem + pos, buf, n);
		if (dev->bus != MBUS_PLATFORM &&
		    index == VFIO_PCI_CONFIG_REGION_INDEX && pos < 0x34 &&
		    pos + n > 0x10)
			bar_fixup(dev);
	} else {
		memcpy(buf, r->mem + pos, n);
	}
	return (ssize_t)n;
}

int mock_device_mmap(struct mock_kernel *mk, struct mdevfile *df, void *addr,
		     size_t len, int prot, int flags, uint64_t off, void **ret)
{
	struct mdev *dev = df->dev;
	uint64_t index = off >> MOCK_REGION_SHIFT, pos = off & REGION_MASK;
	struct mregion *r;
	uint64_t phys;
	void *p;

	(void)mk;
	if (df->cdev && !df->bound)
		return -EINVAL;
	if (index >= dev->num_regions || !len)
		return -EINVAL;
	if (!(flags & MAP_SHARED))
		return -EINVAL;
	if (dev->bus != MBUS_PLATFORM && index >= VFIO_PCI_ROM_REGION_INDEX &&
	    index <= VFIO_PCI_VGA_REGION_INDEX)
		return -EINVAL;
	r = &dev->regions[index];
	if (!r->size || !(r->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -EINVAL;
	if (pos & (PAGE_4K - 1))
		return -EINVAL;
	phys = (r->size + PAGE_4K - 1) & ~(PAGE_4K - 1);
	if (pos + len > phys || pos + len < pos)
		return -EINVAL;
	if (r->nsparse && !r->msix_mappable) {
		bool inside = false;
		for (uint32_t i = 0; i < r->nsparse; i++) {
			uint64_t s = r->sparse[i].offset;
			uint64_t e = s + ((r->sparse[i].size + PAGE_4K - 1) &
					  ~(PAGE_4K - 1));
			if (pos >= s && pos + len <= e)
				inside = true;
		}
		if (!inside)
			return -EINVAL;
	}
	p = mmap(addr, len, prot, flags, r->memfd, (off_t)pos);
	if (p == MAP_FAILED)
		return -errno;
	*ret = p;
	return 0;
}

/* ---- VF tokens --------------------------------------------------------- */

/* A UUID in its text form (8-4-4-4-12 hex digits) into 16 bytes. */
static int parse_uuid(const char *s, uint8_t out[16])
{
	size_t k = 0;

	for (size_t i = 0; i < 36; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		if (!isxdigit((unsigned char)s[i]) ||
		    !isxdigit((unsigned char)s[i + 1]))
			return -EINVAL;
		hi = isdigit((unsigned char)s[i]) ? s[i] - '0' :
						    (tolower(s[i]) - 'a' + 10);
		lo = isdigit((unsigned char)s[i + 1]) ?
			     s[i + 1] - '0' :
			     (tolower(s[i + 1]) - 'a' + 10);
		out[k++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return 0;
}

/* vfio_pci_core_match_token_uuid(): @uuid NULL when none was given. A VF
 * whose PF is on vfio-pci needs the PF's token; a PF whose VFs are in use
 * needs it too, and one whose VFs are not sets it; any other device takes
 * none. */
int mock_vf_token_check(struct mock_kernel *mk, struct mdev *dev,
			const uint8_t *uuid)
{
	if (dev->bus != MBUS_PCI)
		return uuid ? -EINVAL : 0;
	if (dev->physfn[0]) {
		struct mdev *pf = mock_dev_find(mk, dev->physfn);

		if (!pf || !mock_dev_is_vfio(pf))
			return uuid ? -EINVAL : 0;
		if (!uuid || memcmp(uuid, pf->vf_token, 16))
			return -EACCES;
		return 0;
	}
	if (dev->sriov_pf && mock_dev_is_vfio(dev)) {
		if (dev->vf_users)
			return !uuid || memcmp(uuid, dev->vf_token, 16) ?
				       -EACCES :
				       0;
		if (uuid)
			memcpy(dev->vf_token, uuid, 16);
		return 0;
	}
	return uuid ? -EINVAL : 0;
}

/* vfio_pci_core_match(): "NAME" or "NAME vf_token=UUID". 1 for a match
 * whose token is right, 0 for another device, -errno for a match with a
 * bad option or token. Other buses compare the name only. */
static int match_name(struct mock_kernel *mk, struct mdev *dev, const char *buf)
{
	size_t n = strlen(dev->addr);
	uint8_t uuid[16];
	bool token = false;
	int r;

	if (dev->bus != MBUS_PCI)
		return !strcmp(buf, dev->addr);
	if (strncmp(buf, dev->addr, n))
		return 0;
	buf += n;
	if (*buf && *buf != ' ')
		return 0;
	while (*buf) {
		if (*buf == ' ') {
			buf++;
			continue;
		}
		if (token || strncmp(buf, "vf_token=", 9))
			return -EINVAL;
		buf += 9;
		if (strlen(buf) < 36 || parse_uuid(buf, uuid) < 0)
			return -EINVAL;
		token = true;
		buf += 36;
	}
	r = mock_vf_token_check(mk, dev, token ? uuid : NULL);
	return r < 0 ? r : 1;
}

/* ---- opening and closing --------------------------------------------- */

void mock_device_first_open(struct mock_kernel *mk, struct mdev *dev)
{
	struct mdev *pf = dev->physfn[0] ? mock_dev_find(mk, dev->physfn) :
					   NULL;

	mock_irq_disable_all(dev);
	/* vfio_pci_core_finish_enable(): a VF counts as a user of its PF's
	 * token. */
	if (pf && mock_dev_is_vfio(pf))
		pf->vf_users++;
}

void mock_device_last_close(struct mock_kernel *mk, struct mdev *dev)
{
	struct mdev *pf = dev->physfn[0] ? mock_dev_find(mk, dev->physfn) :
					   NULL;

	/* vfio_pci_core_disable(): interrupts off, eventfds released;
	 * the migration driver ends its sessions and logging. */
	mock_irq_disable_all(dev);
	mock_mig_last_close(dev);
	if (pf && pf->vf_users)
		pf->vf_users--;
}

int mock_device_open_group_path(struct mock_kernel *mk, struct mgroup *g,
				const char *name)
{
	struct mdevfile *df;
	struct mdev *dev = NULL;
	int fd, r;

	/* vfio_device_get_from_name(): the group's devices in turn; a match
	 * with a wrong token ends the search with its error. */
	for (size_t i = 0; i < mk->ndevs && !dev; i++) {
		if (mk->devs[i]->group != g->id || !is_vfio(mk->devs[i]))
			continue;
		r = match_name(mk, mk->devs[i], name);
		if (r < 0)
			return r;
		if (r > 0)
			dev = mk->devs[i];
	}
	if (!dev)
		return -ENODEV;
	if (!g->container || !g->container->iommu_set)
		return -EINVAL;
	df = mock_zalloc(sizeof(*df));
	if (!df)
		return -ENOMEM;
	df->dev = dev;
	df->group = g;
	fd = mock_fd_new(mk, MFD_DEVICE, df);
	if (fd < 0) {
		free(df);
		return fd;
	}
	if (dev->open_count++ == 0)
		mock_device_first_open(mk, dev);
	g->file_refs++;
	return fd;
}

int mock_open_cdev(struct mock_kernel *mk, int index)
{
	struct mdevfile *df;
	struct mdev *dev = NULL;
	struct mgroup *g;
	int fd;

	for (size_t i = 0; i < mk->ndevs; i++)
		if (mk->devs[i]->vfio_index == index && is_vfio(mk->devs[i]) &&
		    !mk->devs[i]->no_cdev)
			dev = mk->devs[i];
	if (!dev)
		return -ENOENT;
	g = mock_group_get(mk, dev->group, false);
	if (g && g->opened)
		return -EBUSY;
	df = mock_zalloc(sizeof(*df));
	if (!df)
		return -ENOMEM;
	df->dev = dev;
	df->cdev = true;
	fd = mock_fd_new(mk, MFD_DEVICE, df);
	if (fd < 0) {
		free(df);
		return fd;
	}
	dev->cdev_open++;
	return fd;
}

void mock_devfile_close(struct mock_kernel *mk, struct mdevfile *df)
{
	struct mdev *dev = df->dev;

	if (df->cdev) {
		dev->cdev_open--;
		if (df->bound) {
			if (--dev->open_count == 0)
				mock_device_last_close(mk, dev);
			mock_cdev_unbind(mk, dev);
		}
	} else {
		if (--dev->open_count == 0)
			mock_device_last_close(mk, dev);
		mock_group_put(mk, df->group);
	}
	free(df);
}

/* ---- inspection ------------------------------------------------------ */

unsigned mock_reset_count(const struct mock_kernel *mk, const char *addr)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	return dev ? dev->reset_count : 0;
}

unsigned mock_hot_reset_count(const struct mock_kernel *mk, const char *addr)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	return dev ? dev->hot_reset_count : 0;
}

uint8_t *mock_region_mem(struct mock_kernel *mk, const char *addr,
			 uint32_t index)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	if (!dev || index >= dev->num_regions)
		return NULL;
	return dev->regions[index].mem;
}

static int fire_irq(struct mock_kernel *mk, const char *addr, uint32_t index,
		    uint32_t vector)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	if (!dev)
		return -ENOENT;
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		if (dev->irq_type != index || vector != 0 || dev->trig[0] < 0)
			return -ENOENT;
		intx_poll_unmask(dev);
		if (dev->intx_masked) {
			dev->intx_pending = true;
			return -EBUSY;
		}
		signal_fd(dev->trig[0]);
		if (dev->irqs[index].flags & VFIO_IRQ_INFO_AUTOMASKED)
			dev->intx_masked = true;
		return 0;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		if (dev->irq_type != index || vector >= dev->nctx ||
		    dev->trig[vector] < 0)
			return -ENOENT;
		signal_fd(dev->trig[vector]);
		return 0;
	case VFIO_PCI_ERR_IRQ_INDEX:
		if (vector != 0 || dev->err_trig < 0)
			return -ENOENT;
		signal_fd(dev->err_trig);
		return 0;
	case VFIO_PCI_REQ_IRQ_INDEX:
		if (vector != 0 || dev->req_trig < 0)
			return -ENOENT;
		signal_fd(dev->req_trig);
		return 0;
	}
	return -ENOENT;
}

int mock_fire_irq(struct mock_kernel *mk, const char *addr, uint32_t index,
		  uint32_t vector)
{
	int r;

	mock_lock(mk);
	r = fire_irq(mk, addr, index, vector);
	mock_unlock(mk);
	return r;
}

static uint32_t irq_enabled(const struct mock_kernel *mk, const char *addr,
			    uint32_t index)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	if (!dev)
		return 0;
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return dev->irq_type == index ? 1 : 0;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return dev->irq_type == index ? dev->nctx : 0;
	case VFIO_PCI_ERR_IRQ_INDEX:
		return dev->err_trig >= 0 ? 1 : 0;
	case VFIO_PCI_REQ_IRQ_INDEX:
		return dev->req_trig >= 0 ? 1 : 0;
	}
	return 0;
}

uint32_t mock_irq_enabled(const struct mock_kernel *mk, const char *addr,
			  uint32_t index)
{
	uint32_t r;

	mock_lock(mk);
	r = irq_enabled(mk, addr, index);
	mock_unlock(mk);
	return r;
}

bool mock_irq_masked(const struct mock_kernel *mk, const char *addr,
		     uint32_t index, uint32_t vector)
{
	struct mdev *dev;
	bool r = false;

	mock_lock(mk);
	dev = mock_dev_find(mk, addr);
	if (dev && index == VFIO_PCI_INTX_IRQ_INDEX && vector == 0 &&
	    dev->irq_type == index) {
		intx_poll_unmask(dev);
		r = dev->intx_masked;
	}
	mock_unlock(mk);
	return r;
}
