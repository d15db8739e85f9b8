/* SPDX-License-Identifier: MIT */
/*
 * An assigned host PCI device, seen by the guest as a PCI device in one of
 * our slots. libassign does the VFIO work (container or iommufd, groups,
 * the device fd, regions, interrupts, DMA mapping of guest RAM); this file
 * is the part every VMM writes: the guest's view of the device.
 *
 * Config space. Reads come from the device through VFIO (vfio-pci already
 * virtualizes what must not reach the hardware) except for the registers
 * emulated here: the BARs and ROM BAR (the guest places BARs in *guest*
 * physical space), the interrupt line, and the MSI and MSI-X capabilities
 * (the guest programs messages for its own APIC; we turn them into KVM
 * routes). Writes to emulated bytes update our shadow, the rest go to the
 * device.
 *
 * BARs. When the guest enables decoding and a BAR holds a sane address,
 * the mmap'ed parts of the region become KVM memory slots at that address,
 * so the guest touches the device without exits. The pages holding the
 * MSI-X table and PBA, and whatever the kernel does not let us mmap, trap
 * (KVM_EXIT_MMIO) and are emulated or forwarded with pread/pwrite on the
 * device fd. I/O BARs always trap and are forwarded.
 *
 * Interrupts never pass through the VMM. Each MSI-X vector (and the MSI
 * vector) gets an eventfd that VFIO signals and a GSI whose KVM route is
 * the guest's message; KVM_IRQFD joins the two. A masked vector has its
 * irqfd detached: signals wait in the eventfd counter, and KVM delivers a
 * pending one when the irqfd is attached again on unmask, which is what
 * the MSI-X pending bit means. INTx uses a resampling irqfd: KVM raises the
 * level-triggered IOAPIC pin, and on the guest's EOI signals the resample
 * eventfd, which VFIO uses to unmask the line.
 *
 * DMA: all guest RAM is mapped at IOVA = GPA (libassign's map-all policy)
 * before the first vCPU runs. A KVM-VFIO device tells KVM about the groups
 * (needed for coherent DMA and for some platforms' interrupt posting).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <libassign/libassign.h>
#include <linux/kvm.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm.h"

#define PCI_COMMAND       0x04
#define CMD_IO            0x0001
#define CMD_MEM           0x0002
#define PCI_BAR0          0x10
#define PCI_ROM           0x30
#define PCI_INT_LINE      0x3c
#define PCI_INT_PIN       0x3d
#define MSIX_CTRL_ENABLE  0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 0x1
#define MSI_CTRL_ENABLE   0x0001
#define PAGE              4096ULL
#define MAX_BAR_SLOTS     8

struct vbar {
	struct assigned *owner;
	int index;
	bool present, io, mem64, prefetch;
	uint64_t size;
	uint64_t mapped_at;          /* guest address while mapped, else 0 */
	uint64_t last_logged;
	void *host;                  /* mmap of the region, or NULL */
	int slots[MAX_BAR_SLOTS];
	int nslots;
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct vector {                      /* one MSI or MSI-X vector */
	uint32_t gsi;
	int efd;
	bool attached;               /* irqfd assigned in KVM */
};

struct assigned {
	struct vm *vm;
	struct assign_device *dev;
	pthread_mutex_t lock;
	char name[ASSIGN_PCI_ADDR_LEN];
	int slot;

	uint8_t vcfg[256];           /* shadow of the emulated bytes */
	uint8_t emu[256];            /* 1: byte emulated here */
	uint16_t command;            /* last command written by the guest */
	struct vbar bars[6];

	bool has_msix;
	struct assign_pci_msix msix;
	struct msix_entry *table;
	struct vector *msix_vec;
	bool msix_on;

	bool has_msi;
	struct assign_pci_msi msi;
	unsigned msi_len;
	struct vector msi_vec;
	bool msi_on;

	int intx_pin;                /* 1-4, or 0 for none */
	uint32_t intx_gsi;
	int intx_efd, intx_resample;
	bool intx_on;
};

/* one IOMMU context for all devices: one DMA address space for the guest */
static struct assign_ctx *ctx;
static struct assign_iommu *iommu;
static struct assign_guestmem *guestmem;
static int kvm_vfio_fd = -1;
static struct assign_group *groups[8];
static int ngroups;

/* ---- helpers --------------------------------------------------------- */

static void lib_log(struct assign_ctx *c, int prio, const char *file,
		    int line, const char *fn, const char *fmt, va_list ap)
{
	(void)c; (void)prio; (void)file; (void)line; (void)fn;
	if (!vmm_verbose)
		return;             /* errors are reported via last_error */
	char buf[512];
	vsnprintf(buf, sizeof buf, fmt, ap);
	vmm_info("libassign: %s", buf);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static int kvm_irqfd(struct vm *vm, int efd, uint32_t gsi, bool assign,
		     int resample_fd)
{
	struct kvm_irqfd f = { .fd = (uint32_t)efd, .gsi = gsi };
	if (!assign)
		f.flags = KVM_IRQFD_FLAG_DEASSIGN;
	else if (resample_fd >= 0) {
		f.flags = KVM_IRQFD_FLAG_RESAMPLE;
		f.resamplefd = (uint32_t)resample_fd;
	}
	return ioctl(vm->vm_fd, KVM_IRQFD, &f) < 0 ? -errno : 0;
}

static int vector_init(struct vm *vm, struct vector *v)
{
	if (v->efd > 0)
		return 0;
	int r = vm_msi_route_alloc(vm, &v->gsi);
	if (r < 0)
		return r;
	v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return v->efd < 0 ? -errno : 0;
}

/* attach or detach a vector's irqfd; the route must be set before */
static void vector_attach(struct vm *vm, struct vector *v, bool on)
{
	if (v->efd <= 0 || v->attached == on)
		return;
	if (kvm_irqfd(vm, v->efd, v->gsi, on, -1) == 0)
		v->attached = on;
}

static void vector_release(struct vm *vm, struct vector *v)
{
	vector_attach(vm, v, false);
	if (v->efd > 0) {
		vm_msi_route_set(vm, v->gsi, 0, 0);
		close(v->efd);
	}
	v->efd = -1;
}

/* ---- INTx ---------------------------------------------------------- */

static void intx_enable(struct assigned *d, bool on)
{
	if (!d->intx_pin || d->intx_on == on)
		return;
	if (on) {
		if (kvm_irqfd(d->vm, d->intx_efd, d->intx_gsi, true,
			      d->intx_resample) < 0)
			return;
		if (assign_irq_set_eventfds(d->dev, ASSIGN_IRQ_INTX, 0, 1,
					    &d->intx_efd) < 0 ||
		    assign_irq_set_unmask_eventfd(d->dev, ASSIGN_IRQ_INTX,
						  d->intx_resample) < 0) {
			vmm_err("%s: INTx setup failed: %s", d->name,
				assign_ctx_last_error(ctx));
			assign_irq_disable(d->dev, ASSIGN_IRQ_INTX);
			kvm_irqfd(d->vm, d->intx_efd, d->intx_gsi, false, -1);
			return;
		}
	} else {
		assign_irq_disable(d->dev, ASSIGN_IRQ_INTX);
		kvm_irqfd(d->vm, d->intx_efd, d->intx_gsi, false, -1);
	}
	d->intx_on = on;
}

/* ---- MSI-X --------------------------------------------------------- */

static bool msix_masked(struct assigned *d, unsigned i)
{
	uint16_t ctrl;
	memcpy(&ctrl, d->vcfg + d->msix.offset + 2, 2);
	return (ctrl & MSIX_CTRL_MASKALL) ||
	       (d->table[i].ctrl & MSIX_ENTRY_MASKED);
}

/* bring vector i's route and irqfd in line with the guest's table */
static void msix_update(struct assigned *d, unsigned i)
{
	if (!d->msix_on)
		return;
	struct msix_entry *e = &d->table[i];
	struct vector *v = &d->msix_vec[i];
	uint64_t addr = ((uint64_t)e->addr_hi << 32) | e->addr_lo;
	if (msix_masked(d, i)) {
		vector_attach(d->vm, v, false);
		return;
	}
	vm_msi_route_set(d->vm, v->gsi, addr, e->data);
	vector_attach(d->vm, v, addr != 0);
}

static void msix_set_enable(struct assigned *d, bool on)
{
	unsigned n = d->msix.table_size;
	if (on == d->msix_on)
		goto update;
	if (on) {
		intx_enable(d, false);
		int *fds = calloc(n, sizeof *fds);
		if (!fds)
			return;
		for (unsigned i = 0; i < n; i++) {
			if (vector_init(d->vm, &d->msix_vec[i]) < 0) {
				free(fds);
				return;
			}
			fds[i] = d->msix_vec[i].efd;
		}
		int r = assign_irq_set_eventfds(d->dev, ASSIGN_IRQ_MSIX, 0, n,
						fds);
		free(fds);
		if (r < 0) {
			vmm_err("%s: enabling MSI-X failed: %s", d->name,
				assign_ctx_last_error(ctx));
			return;
		}
		d->msix_on = true;
		vmm_info("%s: MSI-X on, %u vectors, GSI %u-%u", d->name, n,
			 d->msix_vec[0].gsi, d->msix_vec[n - 1].gsi);
	} else {
		for (unsigned i = 0; i < n; i++)
			vector_attach(d->vm, &d->msix_vec[i], false);
		assign_irq_disable(d->dev, ASSIGN_IRQ_MSIX);
		d->msix_on = false;
		intx_enable(d, true);
		return;
	}
update:
	for (unsigned i = 0; i < n; i++)
		msix_update(d, i);
}

static bool in_range(uint64_t off, unsigned len, uint64_t start,
		     uint64_t size)
{
	return off >= start && off + len <= start + size;
}

static void msix_table_access(struct assigned *d, uint64_t off, void *data,
			      unsigned len, bool is_write)
{
	unsigned i = (unsigned)(off / 16), field = (unsigned)(off % 16);
	if (field + len > 16)
		len = 16 - field;       /* no access spans two entries */
	uint8_t *e = (uint8_t *)&d->table[i];
	if (!is_write) {
		memcpy(data, e + field, len);
		return;
	}
	memcpy(e + field, data, len);
	msix_update(d, i);
}

static void msix_pba_read(struct assigned *d, uint64_t off, void *data,
			  unsigned len)
{
	uint8_t *out = data;
	memset(out, 0, len);
	for (unsigned b = 0; b < len * 8; b++) {
		unsigned i = (unsigned)(off * 8) + b;
		if (i >= d->msix.table_size || !d->msix_on)
			break;
		struct pollfd p = { .fd = d->msix_vec[i].efd, .events = POLLIN };
		if (msix_masked(d, i) && poll(&p, 1, 0) == 1)
			out[b / 8] |= (uint8_t)(1u << (b % 8));
	}
}

/* ---- MSI ----------------------------------------------------------- */

static void msi_update(struct assigned *d)
{
	const struct assign_pci_msi *m = &d->msi;
	uint16_t ctrl;
	memcpy(&ctrl, d->vcfg + m->offset + 2, 2);
	bool on = ctrl & MSI_CTRL_ENABLE;
	if (on && !d->msi_on) {
		intx_enable(d, false);
		if (vector_init(d->vm, &d->msi_vec) < 0)
			return;
		if (assign_irq_set_eventfds(d->dev, ASSIGN_IRQ_MSI, 0, 1,
					    &d->msi_vec.efd) < 0) {
			vmm_err("%s: enabling MSI failed: %s", d->name,
				assign_ctx_last_error(ctx));
			return;
		}
		d->msi_on = true;
	} else if (!on && d->msi_on) {
		vector_attach(d->vm, &d->msi_vec, false);
		assign_irq_disable(d->dev, ASSIGN_IRQ_MSI);
		d->msi_on = false;
		intx_enable(d, true);
		return;
	}
	if (!d->msi_on)
		return;
	uint64_t addr = get32(d->vcfg + m->offset + 4);
	if (m->addr64)
		addr |= (uint64_t)get32(d->vcfg + m->offset + 8) << 32;
	uint16_t data;
	memcpy(&data, d->vcfg + m->data_offset, 2);
	bool masked = m->per_vector_mask &&
		      (get32(d->vcfg + m->mask_offset) & 1);
	if (masked) {
		vector_attach(d->vm, &d->msi_vec, false);
		return;
	}
	vm_msi_route_set(d->vm, d->msi_vec.gsi, addr, data);
	vector_attach(d->vm, &d->msi_vec, addr != 0);
}

/* ---- BARs ---------------------------------------------------------- */

static uint64_t bar_addr(struct assigned *d, struct vbar *b)
{
	uint32_t lo = get32(d->vcfg + PCI_BAR0 + 4 * b->index);
	if (b->io)
		return lo & ~0x3u;
	uint64_t a = lo & ~0xfu;
	if (b->mem64)
		a |= (uint64_t)get32(d->vcfg + PCI_BAR0 + 4 * b->index + 4)
		     << 32;
	return a;
}

static void bar_access(void *opaque, uint64_t off, void *data, unsigned len,
		       bool is_write)
{
	struct vbar *b = opaque;
	struct assigned *d = b->owner;
	pthread_mutex_lock(&d->lock);
	const struct assign_pci_msix *x = &d->msix;
	uint64_t tsize = (uint64_t)x->table_size * 16;
	uint64_t psize = ((x->table_size + 63u) / 64u) * 8u;
	if (d->has_msix && b->index == x->table_bar &&
	    in_range(off, len, x->table_offset, tsize)) {
		msix_table_access(d, off - x->table_offset, data, len,
				  is_write);
	} else if (d->has_msix && b->index == x->pba_bar &&
		   in_range(off, len, x->pba_offset, psize)) {
		if (!is_write)
			msix_pba_read(d, off - x->pba_offset, data, len);
	} else if (is_write) {
		assign_region_write(d->dev, (uint32_t)b->index, off, data, len);
	} else if (assign_region_read(d->dev, (uint32_t)b->index, off, data,
				      len) < 0) {
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&d->lock);
}

/* may page p of BAR b be a KVM slot straight onto the device? */
static bool page_direct(struct assigned *d, struct vbar *b, uint64_t p,
			const struct assign_region_info *ri)
{
	uint64_t start = p * PAGE, end = start + PAGE;
	if (!b->host)
		return false;
	if (d->has_msix) {
		const struct assign_pci_msix *x = &d->msix;
		uint64_t t0 = x->table_offset & ~(PAGE - 1);
		uint64_t t1 = x->table_offset + x->table_size * 16ULL;
		uint64_t p0 = x->pba_offset & ~(PAGE - 1);
		uint64_t p1 = x->pba_offset + ((x->table_size + 63u) / 64u) * 8u;
		if (b->index == x->table_bar && start < t1 && t0 < end)
			return false;
		if (b->index == x->pba_bar && start < p1 && p0 < end)
			return false;
	}
	for (uint32_t i = 0; i < ri->nareas; i++)
		if (start >= ri->areas[i].offset &&
		    end <= ri->areas[i].offset + ri->areas[i].size)
			return true;
	return false;
}

static void bar_unmap(struct assigned *d, struct vbar *b)
{
	if (!b->mapped_at)
		return;
	for (int i = 0; i < b->nslots; i++)
		vm_unmap_memory(d->vm, b->slots[i]);
	b->nslots = 0;
	io_unregister(b->io ? IO_PORT : IO_MMIO, b->mapped_at, b);
	b->mapped_at = 0;
}

static void bar_map(struct assigned *d, struct vbar *b, uint64_t at)
{
	if (io_register(b->io ? IO_PORT : IO_MMIO, at, b->size, bar_access,
			b) < 0) {
		vmm_err("%s: BAR%d at %#llx overlaps another device; not "
			"mapped", d->name, b->index, (unsigned long long)at);
		return;
	}
	b->mapped_at = at;
	const struct assign_region_info *ri;
	if (b->io || !b->host ||
	    assign_device_get_region(d->dev, (uint32_t)b->index, &ri) < 0)
		goto done;
	uint64_t pages = b->size / PAGE;
	for (uint64_t p = 0; p < pages;) {
		if (!page_direct(d, b, p, ri)) {
			p++;
			continue;
		}
		uint64_t q = p;
		while (q < pages && page_direct(d, b, q, ri))
			q++;
		if (b->nslots < MAX_BAR_SLOTS) {
			int s = vm_map_memory(d->vm, at + p * PAGE,
					      (q - p) * PAGE,
					      (uint8_t *)b->host + p * PAGE,
					      false);
			if (s >= 0)
				b->slots[b->nslots++] = s;
		}
		p = q;
	}
done:
	if (at != b->last_logged)     /* decoding toggles a lot at probe */
		vmm_info("%s: BAR%d (%s, %llu bytes) at %#llx, %d direct "
			 "slot(s)", d->name, b->index, b->io ? "I/O" : "MMIO",
			 (unsigned long long)b->size, (unsigned long long)at,
			 b->nslots);
	b->last_logged = at;
}

/* map every BAR whose decoding is on and whose address is sane */
static void bars_update(struct assigned *d)
{
	for (int i = 0; i < 6; i++) {
		struct vbar *b = &d->bars[i];
		if (!b->present)
			continue;
		uint64_t a = bar_addr(d, b), want = 0;
		if (b->io) {
			if ((d->command & CMD_IO) && a >= 0x1000 &&
			    a + b->size <= 0x10000)
				want = a;
		} else if ((d->command & CMD_MEM) && a >= PCI_MMIO_START &&
			   a + b->size <= PCI_MMIO_END) {
			want = a;
		}
		if (want == b->mapped_at)
			continue;
		bar_unmap(d, b);
		if (want)
			bar_map(d, b, want);
	}
}

/* a write landed on BAR register r (0-5): keep only the address bits */
static void bar_reg_fixup(struct assigned *d, int r)
{
	uint8_t *reg = d->vcfg + PCI_BAR0 + 4 * r;
	struct vbar *b = &d->bars[r];
	if (b->present) {
		uint32_t v = get32(reg);
		if (b->io)
			v = (v & ~(uint32_t)(b->size - 1) & ~0x3u) | 0x1;
		else
			v = (v & ~(uint32_t)(b->size - 1) & ~0xfu) |
			    (b->mem64 ? 0x4 : 0) | (b->prefetch ? 0x8 : 0);
		put32(reg, v);
	} else if (r > 0 && d->bars[r - 1].present && d->bars[r - 1].mem64) {
		uint64_t size = d->bars[r - 1].size;   /* upper half */
		put32(reg, get32(reg) & (uint32_t)(~(size - 1) >> 32));
	} else {
		put32(reg, 0);
	}
}

/* ---- config space -------------------------------------------------- */

static uint32_t cfg_read(void *opaque, unsigned off, unsigned size)
{
	struct assigned *d = opaque;
	uint8_t buf[4] = { 0 };
	pthread_mutex_lock(&d->lock);
	bool any_real = false;
	for (unsigned i = 0; i < size; i++)
		any_real |= !d->emu[off + i];
	if (any_real &&
	    assign_device_read_config(d->dev, off, buf, size) < 0)
		memset(buf, 0xff, sizeof buf);
	for (unsigned i = 0; i < size; i++)
		if (d->emu[off + i])
			buf[i] = d->vcfg[off + i];
	pthread_mutex_unlock(&d->lock);
	uint32_t v = 0;
	memcpy(&v, buf, size);
	return v;
}

static bool touches(unsigned off, unsigned size, unsigned start,
		    unsigned len)
{
	return off < start + len && start < off + size;
}

static void cfg_write(void *opaque, unsigned off, unsigned size, uint32_t val)
{
	struct assigned *d = opaque;
	uint8_t buf[4];
	memcpy(buf, &val, 4);
	pthread_mutex_lock(&d->lock);

	/* forward the bytes that are the device's own */
	bool all_real = true;
	for (unsigned i = 0; i < size; i++)
		all_real &= !d->emu[off + i];
	if (all_real) {
		assign_device_write_config(d->dev, off, buf, size);
	} else {
		for (unsigned i = 0; i < size; i++) {
			if (d->emu[off + i])
				d->vcfg[off + i] = buf[i];
			else
				assign_device_write_config(d->dev, off + i,
							   &buf[i], 1);
		}
	}

	if (touches(off, size, PCI_COMMAND, 2)) {
		uint8_t c[2];
		memcpy(c, &d->command, 2);
		for (unsigned i = 0; i < size; i++)
			if (off + i >= PCI_COMMAND && off + i < PCI_COMMAND + 2)
				c[off + i - PCI_COMMAND] = buf[i];
		memcpy(&d->command, c, 2);
		bars_update(d);
	}
	if (touches(off, size, PCI_BAR0, 24)) {
		for (int r = 0; r < 6; r++)
			if (touches(off, size, PCI_BAR0 + 4u * r, 4))
				bar_reg_fixup(d, r);
		bars_update(d);
	}
	if (touches(off, size, PCI_ROM, 4))
		put32(d->vcfg + PCI_ROM, 0);       /* no option ROM */
	if (d->has_msix && touches(off, size, d->msix.offset + 2, 2)) {
		uint16_t ctrl;
		memcpy(&ctrl, d->vcfg + d->msix.offset + 2, 2);
		msix_set_enable(d, ctrl & MSIX_CTRL_ENABLE);
	}
	if (d->has_msi && touches(off, size, d->msi.offset + 2,
				  d->msi_len - 2))
		msi_update(d);
	pthread_mutex_unlock(&d->lock);
}

static const struct pci_device_ops assigned_ops = {
	.cfg_read = cfg_read,
	.cfg_write = cfg_write,
};

/* ---- setup and teardown -------------------------------------------- */

static void emulate(struct assigned *d, unsigned off, unsigned len)
{
	memset(d->emu + off, 1, len);
}

static int lib_init(struct vm *vm)
{
	if (ctx)
		return 0;
	int r = assign_ctx_new(&ctx);
	if (r < 0) {
		vmm_err("libassign: cannot create a context: %s", strerror(-r));
		return r;
	}
	assign_ctx_set_log_fn(ctx, lib_log, NULL);
	r = assign_iommu_new(ctx, NULL, &iommu);
	if (r < 0) {
		vmm_err("cannot set up VFIO: %s", assign_ctx_last_error(ctx));
		return r;
	}
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd) == 0)
		kvm_vfio_fd = (int)cd.fd;
	else
		vmm_info("no KVM-VFIO device (%s); going on without it",
			 strerror(errno));
	return 0;
}

/* map all guest RAM at IOVA = GPA, once the first device is attached */
static int dma_map_guest_ram(struct vm *vm)
{
	struct assign_guestmem_opts o = {
		.size = sizeof o,
		.policy = ASSIGN_GUESTMEM_MAP_ALL,
		.flags = ASSIGN_GUESTMEM_F_PREFAULT,
	};
	int r = assign_guestmem_new(iommu, &o, &guestmem);
	if (r < 0)
		goto fail;
	struct assign_guestmem_region reg[2] = {
		{ .size = sizeof reg[0], .gpa = 0, .length = vm->low_size,
		  .vaddr = vm->ram, .fd = -1 },
		{ .size = sizeof reg[1], .gpa = HIGH_RAM_START,
		  .length = vm->high_size, .vaddr = vm->ram + vm->low_size,
		  .fd = -1 },
	};
	double t = vmm_elapsed();
	r = assign_guestmem_add_regions(guestmem, reg, vm->high_size ? 2 : 1,
					NULL, 0, NULL);
	if (r < 0)
		goto fail;
	vmm_info("guest RAM (%llu MiB) mapped for DMA at IOVA = GPA in "
		 "%.3f s", (unsigned long long)(vm->ram_size >> 20),
		 vmm_elapsed() - t);
	return 0;
fail:
	vmm_err("cannot map guest RAM for DMA: %s", assign_ctx_last_error(ctx));
	return r;
}

static void kvm_vfio_add(struct assigned *d)
{
	if (kvm_vfio_fd < 0)
		return;
	int fd = -1;
	struct assign_group *g = NULL;
	int gid = assign_device_group_id(d->dev);
	if (gid >= 0 && assign_iommu_get_group(iommu, gid, &g) == 0) {
		for (int i = 0; i < ngroups; i++)
			if (groups[i] == g) {      /* already known to KVM */
				assign_group_unref(g);
				return;
			}
		fd = assign_group_fd(g);
	} else {
		fd = assign_device_fd(d->dev);  /* iommufd: the vfio cdev */
	}
	struct kvm_device_attr a = {
		.group = KVM_DEV_VFIO_GROUP,
		.attr = KVM_DEV_VFIO_GROUP_ADD,
		.addr = (uintptr_t)&fd,
	};
	if (ioctl(kvm_vfio_fd, KVM_SET_DEVICE_ATTR, &a) < 0)
		vmm_info("%s: KVM-VFIO add failed: %s", d->name,
			 strerror(errno));
	if (g && ngroups < (int)(sizeof groups / sizeof groups[0]))
		groups[ngroups++] = g;
	else
		assign_group_unref(g);
}

static int setup_config(struct assigned *d)
{
	uint8_t cfg[256];
	int r = assign_device_read_config(d->dev, 0, cfg, sizeof cfg);
	if (r < 0)
		return r;
	if (cfg[0x0e] & 0x7f) {
		vmm_err("%s is a PCI bridge (header type %u); assign endpoint "
			"devices only", d->name, cfg[0x0e] & 0x7f);
		return -EINVAL;
	}

	struct assign_pci_bar bars[6];
	r = assign_device_get_bars(d->dev, bars);
	if (r < 0)
		return r;
	emulate(d, PCI_BAR0, 24);
	emulate(d, PCI_ROM, 4);
	emulate(d, PCI_INT_LINE, 1);
	for (int i = 0; i < 6; i++) {
		struct vbar *b = &d->bars[i];
		b->owner = d;
		b->index = i;
		b->present = bars[i].present;
		b->io = bars[i].io;
		b->mem64 = bars[i].mem64;
		b->prefetch = bars[i].prefetchable;
		b->size = bars[i].size;
		if (!b->present)
			continue;
		/* like firmware, place the BAR; the guest may move it */
		uint64_t at = b->io ? pci_alloc_io((uint32_t)b->size)
				    : pci_alloc_mmio(b->size);
		if (!at) {
			vmm_err("%s: no room for BAR%d (%llu bytes) in the "
				"guest's PCI hole", d->name, i,
				(unsigned long long)b->size);
			return -ENOSPC;
		}
		put32(d->vcfg + PCI_BAR0 + 4 * i, (uint32_t)at);
		bar_reg_fixup(d, i);
		if (!b->io && b->size >= PAGE &&
		    assign_region_mmap(d->dev, (uint32_t)i, &b->host) < 0)
			b->host = NULL;   /* not mmap-able: trap everything */
	}

	d->intx_pin = cfg[PCI_INT_PIN];
	if (d->intx_pin > 4)
		d->intx_pin = 0;
	if (d->intx_pin) {
		d->intx_gsi = pci_intx_gsi(d->slot, d->intx_pin);
		d->vcfg[PCI_INT_LINE] = (uint8_t)d->intx_gsi;
	}

	if (assign_pci_parse_msix(cfg, sizeof cfg, &d->msix) == 0) {
		d->has_msix = true;
		emulate(d, d->msix.offset + 2, 2);
		memcpy(d->vcfg + d->msix.offset + 2, cfg + d->msix.offset + 2,
		       2);
		d->vcfg[d->msix.offset + 3] &= 0x3f;  /* off, unmasked */
		d->table = calloc(d->msix.table_size, sizeof *d->table);
		d->msix_vec = calloc(d->msix.table_size, sizeof *d->msix_vec);
		if (!d->table || !d->msix_vec)
			return -ENOMEM;
		for (unsigned i = 0; i < d->msix.table_size; i++) {
			d->table[i].ctrl = MSIX_ENTRY_MASKED;
			d->msix_vec[i].efd = -1;
		}
	}
	if (assign_pci_parse_msi(cfg, sizeof cfg, &d->msi) == 0) {
		d->has_msi = true;
		d->msi_len = d->msi.addr64 ? 14 : 10;
		if (d->msi.per_vector_mask)
			d->msi_len = d->msi.addr64 ? 24 : 20;
		emulate(d, d->msi.offset + 2, d->msi_len - 2);
		memcpy(d->vcfg + d->msi.offset, cfg + d->msi.offset,
		       d->msi_len);
		/* one vector only: Multiple Message Capable/Enable = 0 */
		d->vcfg[d->msi.offset + 2] &= (uint8_t)~0x7f;
		d->vcfg[d->msi.offset + 2] &= (uint8_t)~MSI_CTRL_ENABLE;
		d->msi_vec.efd = -1;
	}
	return 0;
}

int assign_device_add(struct vm *vm, const char *address,
		      struct assigned **ret)
{
	int r = lib_init(vm);
	if (r < 0)
		return r;
	struct assigned *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->vm = vm;
	d->intx_efd = d->intx_resample = -1;
	pthread_mutex_init(&d->lock, NULL);

	r = assign_device_open(iommu, address, NULL, &d->dev);
	if (r < 0) {
		vmm_err("cannot assign %s: %s", address,
			assign_ctx_last_error(ctx));
		free(d);
		return r;
	}
	snprintf(d->name, sizeof d->name, "%s",
		 assign_device_get_address(d->dev));

	/* start from a clean device */
	r = assign_device_reset(d->dev);
	if (r < 0)
		vmm_info("%s: no function reset (%s); starting as found",
			 d->name, strerror(-r));

	if (!guestmem && (r = dma_map_guest_ram(vm)) < 0)
		goto fail;

	d->slot = pci_add_device(&assigned_ops, d);
	if (d->slot < 0) {
		vmm_err("cannot assign %s: no free PCI slot", address);
		r = d->slot;
		goto fail;
	}
	r = setup_config(d);
	if (r < 0) {
		if (r != -EINVAL && r != -ENOSPC)
			vmm_err("cannot assign %s: reading its config space "
				"failed: %s", address,
				assign_ctx_last_error(ctx));
		goto fail;
	}
	if (d->intx_pin) {
		d->intx_efd = eventfd(0, EFD_CLOEXEC);
		d->intx_resample = eventfd(0, EFD_CLOEXEC);
		if (d->intx_efd < 0 || d->intx_resample < 0) {
			r = -errno;
			goto fail;
		}
		intx_enable(d, true);
	}
	kvm_vfio_add(d);
	vmm_info("%s assigned at guest 00:%02x.0 (INTx pin %d -> GSI %u%s%s)",
		 d->name, d->slot, d->intx_pin, d->intx_gsi,
		 d->has_msix ? ", MSI-X" : "", d->has_msi ? ", MSI" : "");
	*ret = d;
	return 0;
fail:
	/* the slot stays taken by a dead device model; the VMM exits anyway */
	*ret = NULL;
	assign_device_remove(d);
	return r < 0 ? r : -EIO;
}

void assign_device_remove(struct assigned *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->has_msix && d->msix_vec) {
		if (d->msix_on)
			assign_irq_disable(d->dev, ASSIGN_IRQ_MSIX);
		for (unsigned i = 0; i < d->msix.table_size; i++)
			vector_release(d->vm, &d->msix_vec[i]);
	}
	if (d->msi_on)
		assign_irq_disable(d->dev, ASSIGN_IRQ_MSI);
	if (d->has_msi)
		vector_release(d->vm, &d->msi_vec);
	intx_enable(d, false);
	if (d->intx_efd >= 0)
		close(d->intx_efd);
	if (d->intx_resample >= 0)
		close(d->intx_resample);
	for (int i = 0; i < 6; i++) {
		bar_unmap(d, &d->bars[i]);
		if (d->bars[i].host)
			assign_region_munmap(d->dev, (uint32_t)i);
	}
	/* leave the device quiet for whoever comes next */
	if (d->dev)
		assign_device_reset(d->dev);
	assign_device_unref(d->dev);
	pthread_mutex_unlock(&d->lock);
	free(d->table);
	free(d->msix_vec);
	free(d);
}

void assign_global_cleanup(void)
{
	/* unmaps guest RAM from the IOMMU: nothing stays pinned */
	guestmem = assign_guestmem_unref(guestmem);
	for (int i = 0; i < ngroups; i++) {
		if (kvm_vfio_fd >= 0) {
			int fd = assign_group_fd(groups[i]);
			struct kvm_device_attr a = {
				.group = KVM_DEV_VFIO_GROUP,
				.attr = KVM_DEV_VFIO_GROUP_DEL,
				.addr = (uintptr_t)&fd,
			};
			ioctl(kvm_vfio_fd, KVM_SET_DEVICE_ATTR, &a);
		}
		groups[i] = assign_group_unref(groups[i]);
	}
	ngroups = 0;
	if (kvm_vfio_fd >= 0)
		close(kvm_vfio_fd);
	kvm_vfio_fd = -1;
	iommu = assign_iommu_unref(iommu);
	ctx = assign_ctx_unref(ctx);
}
