/* SPDX-License-Identifier: MIT */
/*
 * An assigned host PCI device, seen by the guest as a PCI device in one of
 * our slots. libassign does all of the VFIO work and the device model:
 * the IOMMU, the device fd, DMA mapping of guest RAM (map-all policy), and
 * struct assign_vpci, the guest's view of the device (a config space whose
 * BARs hold guest addresses, MSI/MSI-X capability and table emulation,
 * INTx eventfds). What is left here is the part that depends on the
 * hypervisor, KVM, and libassign's KVM glue (<libassign/kvm.h>, the
 * VM's vm->kvm) does most of that too:
 *
 *  - the guest's config accesses (from pci.c) and its trapped BAR accesses
 *    (KVM_EXIT_MMIO / KVM_EXIT_IO through io.c) go to assign_vpci_*();
 *  - when the guest enables a BAR, the bar_map callback turns the parts of
 *    it that libassign mmap'ed into KVM memory slots (the guest reaches
 *    those registers without exits) and traps the rest (the MSI-X table
 *    and PBA pages, I/O BARs, what VFIO does not let us mmap);
 *  - interrupts never pass through the VMM: the vector_update callback
 *    hands each MSI/MSI-X vector to assign_kvm_vector_update(), which
 *    points a GSI route at the guest's message and attaches the vector's
 *    eventfd as a KVM irqfd while the vector is unmasked. A masked vector
 *    has no irqfd: signals wait in the eventfd and KVM delivers a pending
 *    one when the irqfd is attached again on unmask (and libassign reports
 *    it in the PBA). The routes of one guest access reach KVM in one
 *    update, and go with the device. INTx is an irqfd with resampling on a
 *    level-triggered IOAPIC pin (assign_kvm_irqfd()): KVM raises the line,
 *    and on the guest's EOI signals the resample eventfd, which VFIO uses
 *    to unmask the device's interrupt;
 *  - the KVM-VFIO device learns about each device
 *    (assign_kvm_add_device());
 *  - guest RAM is mapped for DMA on a thread of its own while the guest
 *    boots; a device's Bus Master Enable waits for it (see "guest RAM for
 *    DMA" below).
 *
 * Like firmware, the VMM places the BARs (and writes the interrupt line)
 * before the guest runs: 32-bit BARs in the PCI hole below 4 GiB, 64-bit
 * memory BARs above guest RAM (pci.c's 64-bit window, which the ACPI
 * tables describe); the guest may move them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <libassign/kvm.h>
#include <libassign/libassign.h>
#include <libassign/vpci.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define MAX_BAR_SLOTS 8

struct bar_trap {                    /* opaque of a BAR's trap handler */
	struct assigned *owner;
	uint32_t bar;
};

struct bar_map {
	int slots[MAX_BAR_SLOTS];    /* KVM memory slots of direct parts */
	int nslots;
	uint64_t last_logged;
};

struct assigned {
	struct vm *vm;
	struct assign_device *dev;
	struct assign_vpci *vpci;
	char name[ASSIGN_PCI_ADDR_LEN];
	int slot;
	struct bar_trap traps[ASSIGN_VPCI_NUM_BARS];
	struct bar_map bars[ASSIGN_VPCI_NUM_BARS];
	struct assign_vpci_intx intx;
	uint32_t intx_gsi;
	bool intx_attached;
	/* added to KVM's VFIO device; a vector failure already logged */
	bool kvm_vfio, vector_error_seen;
	bool bme_seen;               /* first Bus Master Enable logged */
};

/* one IOMMU context for all devices: one DMA address space for the guest */
static struct assign_iommu *iommu;
static struct assign_guestmem *guestmem;

/* ---- callbacks from libassign's virtual function ------------------- */
/* They run with the vpci's lock held, on the vCPU thread whose config or
 * BAR access caused them, and must not call back into the vpci. */

static void bar_trap_access(void *opaque, uint64_t off, void *data,
			    unsigned len, bool is_write)
{
	struct bar_trap *t = opaque;
	if (is_write)
		assign_vpci_bar_write(t->owner->vpci, t->bar, off, data, len);
	else
		assign_vpci_bar_read(t->owner->vpci, t->bar, off, data, len);
}

/* [a, a + alen) and [b, b + blen) meet; both ends known not to wrap */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* Where a guest may not put a BAR: NULL when the placement is fine, else
 * what it would cover. Overlaps with other BARs and the VMM's own ports
 * are io_register()'s to refuse. */
static const char *bar_refusal(const struct vm *vm,
			       const struct assign_vpci_bar_event *ev)
{
	if (!ev->size || ev->gpa + ev->size < ev->gpa)
		return "wraps around the end of the address space";
	if (ev->io)
		return ev->gpa + ev->size > 0x10000
		       ? "runs past the 64 KiB port space" : NULL;
	if (ev->gpa + ev->size > pci_guest_phys_limit())
		return "ends beyond the guest's physical address width";
	if (overlaps(ev->gpa, ev->size, 0, vm->low_size))
		return "overlaps low guest RAM";
	if (overlaps(ev->gpa, ev->size, HIGH_RAM_START, vm->high_size))
		return "overlaps high guest RAM";
	if (overlaps(ev->gpa, ev->size, IOAPIC_ADDR, HIGH_RAM_START - IOAPIC_ADDR))
		return "overlaps the IOAPIC, the local APIC or KVM's pages "
		       "below 4 GiB";
	return NULL;
}

static int on_bar_map(void *data, const struct assign_vpci_bar_event *ev)
{
	struct assigned *d = data;
	struct bar_map *b = &d->bars[ev->bar];
	enum io_space space = ev->io ? IO_PORT : IO_MMIO;
	const char *why = bar_refusal(d->vm, ev);
	if (why) {
		/* refused: the BAR stays unmapped (reads all ones) until the
		 * guest moves it somewhere sane */
		vmm_err("%s: guest put BAR%u (%llu bytes) at %#llx, which %s; "
			"not mapped", d->name, ev->bar,
			(unsigned long long)ev->size,
			(unsigned long long)ev->gpa, why);
		return -EINVAL;
	}
	int r = io_register(space, ev->gpa, ev->size, bar_trap_access,
			    &d->traps[ev->bar]);
	if (r < 0) {
		vmm_err("%s: BAR%u at %#llx overlaps another device; not "
			"mapped", d->name, ev->bar,
			(unsigned long long)ev->gpa);
		return r;
	}
	/* direct parts become memory slots; KVM looks them up before it
	 * exits, so the trap handler only sees the other parts */
	b->nslots = 0;
	for (size_t i = 0; i < ev->nparts && !ev->io; i++) {
		const struct assign_vpci_bar_part *p = &ev->parts[i];
		if (!p->host || b->nslots == MAX_BAR_SLOTS)
			continue;
		int s = vm_map_memory(d->vm, ev->gpa + p->offset, p->size,
				      p->host, false);
		if (s >= 0)
			b->slots[b->nslots++] = s;
	}
	if (ev->gpa != b->last_logged)  /* decoding toggles a lot at probe */
		vmm_info("%s: BAR%u (%s, %llu bytes) at %#llx, %d direct "
			 "slot(s)", d->name, ev->bar, ev->io ? "I/O" : "MMIO",
			 (unsigned long long)ev->size,
			 (unsigned long long)ev->gpa, b->nslots);
	b->last_logged = ev->gpa;
	return 0;
}

static void on_bar_unmap(void *data, const struct assign_vpci_bar_event *ev)
{
	struct assigned *d = data;
	struct bar_map *b = &d->bars[ev->bar];
	for (int i = 0; i < b->nslots; i++)
		vm_unmap_memory(d->vm, b->slots[i]);
	b->nslots = 0;
	io_unregister(ev->io ? IO_PORT : IO_MMIO, ev->gpa, &d->traps[ev->bar]);
}

/* MSI and MSI-X: libassign's KVM glue routes the vector and attaches its
 * eventfd as an irqfd; the vector updates of one guest access are
 * collected and reach KVM's routing table in one update. */
static void on_vector_update(void *data, const struct assign_vpci_vector *v)
{
	struct assigned *d = data;
	int r = assign_kvm_vector_update(d->vm->kvm, v);
	/* a guest can repeat what failed (say, no GSI left) at will: say it
	 * once per device */
	if (r < 0 && !d->vector_error_seen) {
		d->vector_error_seen = true;
		vmm_err("%s: cannot wire %s vector %u to KVM: %s", d->name,
			v->index == ASSIGN_IRQ_MSIX ? "MSI-X" : "MSI",
			v->vector, assign_ctx_get_last_error(d->vm->ctx));
	}
}

/* INTx: a resampling irqfd on the slot's IOAPIC pin while INTx is live */
static void intx_attach(struct assigned *d, bool on)
{
	if (d->intx.pin == 0 || d->intx_attached == on)
		return;
	int r = on ? assign_kvm_irqfd(d->vm->kvm, d->intx.trigger_fd,
				      d->intx_gsi, d->intx.resample_fd) :
		     assign_kvm_irqfd_remove(d->vm->kvm, d->intx.trigger_fd);
	if (r == 0)
		d->intx_attached = on;
	else
		vmm_err("%s: INTx irqfd: %s", d->name,
			assign_ctx_get_last_error(d->vm->ctx));
}

static void on_intx_update(void *data, bool enabled)
{
	intx_attach(data, enabled);
}

static const struct assign_vpci_ops vpci_ops = {
	.size = sizeof vpci_ops,
	.bar_map = on_bar_map,
	.bar_unmap = on_bar_unmap,
	.vector_update = on_vector_update,
	.intx_update = on_intx_update,
};

/* ---- guest RAM for DMA: before boot, in the background or on demand ---
 *
 * Pinning and mapping all guest RAM for DMA (map-all: IOVA = guest
 * physical address) is the slowest step of starting a VM with a device,
 * and it grows with --mem. The guest does not need it to boot; only the
 * device needs it, and only once the guest lets the device master the
 * bus. So (--dma-map):
 *
 *  - Before any vCPU runs, assign_dma_start() checks everything that fails
 *    because of what the user asked for: the RAM layout against the
 *    IOMMU (IOVA ranges, reserved regions such as the MSI window, DMA
 *    address limit), the memlock budget and the DMA entries left. Bad
 *    input still ends the VMM with one line, before the guest runs and
 *    with nothing pinned.
 *  - assign_guestmem_add_regions() then runs on a thread of its own while
 *    the vCPUs boot the guest ("background", the default), or on the vCPU
 *    thread of the first Bus Master Enable ("on-demand": nothing is pinned
 *    for a guest that never lets a device master the bus), or at once
 *    ("before-boot"). In the background the pinning also faults in the
 *    pages the booting guest is about to touch; on demand the guest
 *    faults every page in itself first, which in the lab made its boot
 *    slower than the background pinning did (README.md).
 *  - The gate is Bus Master Enable (bit 2 of the PCI Command register).
 *    A function without it issues no memory requests upstream: no DMA
 *    reads or writes, and no MSI or MSI-X either, since those are memory
 *    writes too (PCI Local Bus 3.0 6.2.2, PCIe Base 7.5.1.1.3). When the
 *    device is added it is reset and the bit made sure to be clear
 *    (bus_master_off()); then only the guest sets it, through
 *    cfg_write() (the VMM's own config writes, place_bars(), leave the
 *    Command register alone). The first config write that sets it, for
 *    any assigned device (all of them share the one guestmem), joins the
 *    mapping thread before the write goes on to the device; later writes
 *    find it joined. If the mapping failed, the write is dropped, so the
 *    device never masters the bus, and the VM stops with the library's
 *    error (the thread has already asked for that stop).
 *
 * The IOMMU object is not thread-safe, so while the thread runs nothing
 * else calls into it: every device is opened and reset before it starts,
 * and teardown joins it before releasing them. vCPU threads only use the
 * vpci (config, BARs, interrupts), which does not touch the IOMMU. Any
 * stop request (power-off, Ctrl-C, error) cancels the mapping through
 * the progress callback, so stopping does not wait for the pinning to
 * finish; what was mapped is undone by the library.
 */
static struct {
	pthread_mutex_t lock;       /* serializes the join */
	struct vm *vm;
	struct assign_guestmem_region reg[2];
	size_t nreg;
	pthread_t thread;
	bool running;               /* created and not joined yet */
	bool deferred;              /* on-demand, not started yet */
	const char *how;            /* for the log: "in the background"... */
	int finished;               /* thread done (atomic) */
	int cancel;                 /* teardown: stop mapping (atomic) */
	int result;                 /* thread's result: read after the join */
	double t_start, t_end;      /* seconds since the VMM started */
	char error[512];            /* the library's message on failure */
} dma = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int dma_progress(void *data, uint64_t done, uint64_t total)
{
	(void)data; (void)done; (void)total;
	return __atomic_load_n(&dma.cancel, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&dma.vm->exit_code, __ATOMIC_RELAXED) != -1;
}

/* Map guest RAM now, on this thread; sets dma.result and dma.finished,
 * says how it went. */
static int dma_map_now(void)
{
	dma.t_start = vmm_elapsed();
	int r = assign_guestmem_add_regions(guestmem, dma.reg, dma.nreg,
					    NULL, 0, NULL);
	dma.t_end = vmm_elapsed();
	if (r < 0) {
		/* the context's message is shared with the vCPU threads'
		 * vpci calls: copy it before one of them fails too */
		snprintf(dma.error, sizeof dma.error, "%s",
			 assign_ctx_get_last_error(dma.vm->ctx));
	} else {
		vmm_info("guest RAM (%llu MiB) mapped for DMA at IOVA = GPA "
			 "in %.3f s, %s (done %.3f s after start)",
			 (unsigned long long)(dma.vm->ram_size >> 20),
			 dma.t_end - dma.t_start, dma.how, dma.t_end);
	}
	dma.result = r;
	__atomic_store_n(&dma.finished, 1, __ATOMIC_RELEASE);
	if (r == -ECANCELED && dma_progress(NULL, 0, 0))
		vmm_info("DMA mapping of guest RAM cancelled: the VM is "
			 "stopping");
	else if (r < 0)
		vmm_err("cannot map guest RAM for DMA: %s", dma.error);
	return r;
}

static void *dma_thread(void *arg)
{
	(void)arg;
	int r = dma_map_now();
	if (r < 0 && !(r == -ECANCELED && dma_progress(NULL, 0, 0)))
		vm_request_stop(dma.vm, 1, "DMA mapping failed");
	return NULL;
}

/* Join the mapping thread if it runs; with dma.lock held. */
static void dma_join_locked(void)
{
	if (!dma.running)
		return;
	pthread_join(dma.thread, NULL);
	dma.running = false;
}

/* Teardown: stop the mapping and wait for it. Idempotent. */
static void dma_stop(void)
{
	__atomic_store_n(&dma.cancel, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&dma.lock);
	dma_join_locked();
	pthread_mutex_unlock(&dma.lock);
}

/* The gate, on a vCPU thread: the guest is setting Bus Master Enable on
 * d. True when the write may go on to the device. A wait holds pci.c's
 * bus lock too, so other vCPUs' config accesses wait with it; the
 * mapping thread takes no lock of theirs, so it always finishes. */
static bool dma_wait_for_bus_master(struct assigned *d)
{
	pthread_mutex_lock(&dma.lock);
	double t = vmm_elapsed();
	bool waited = dma.deferred || (dma.running &&
		      !__atomic_load_n(&dma.finished, __ATOMIC_ACQUIRE));
	if (dma.deferred) {             /* on-demand: now is when */
		dma.deferred = false;
		dma_map_now();          /* a failure is handled below */
	}
	dma_join_locked();
	int r = guestmem ? dma.result : -ENODEV;   /* never started: no */
	if (!d->bme_seen) {
		d->bme_seen = true;
		if (waited)
			vmm_info("%s: bus master enabled at %.3f s: waited "
				 "%.3f s for the DMA mapping", d->name, t,
				 vmm_elapsed() - t);
		else
			vmm_info("%s: bus master enabled at %.3f s: DMA "
				 "mapping was ready (since %.3f s), no wait",
				 d->name, t, dma.t_end);
	}
	pthread_mutex_unlock(&dma.lock);
	if (r < 0) {
		vm_request_stop(d->vm, 1, "bus master enable without a DMA "
				"mapping");
		return false;
	}
	return true;
}

static int check_memlock(struct vm *vm)
{
	/* the library also knows that CAP_IPC_LOCK held inside a user
	 * namespace does not lift the kernel's limit */
	int r = assign_iommu_check_memlock(iommu, vm->ram_size);
	if (r < 0)
		vmm_err("cannot map guest RAM for DMA: %s",
			assign_ctx_get_last_error(vm->ctx));
	return r;
}

/* The DMA gate's starting point: Bus Master Enable clear in the device.
 * vfio-pci's reset and release leave it so; a device that could not be
 * reset is made so here. */
static int bus_master_off(struct assigned *d)
{
	uint16_t cmd;
	int r = assign_device_read_config(d->dev, ASSIGN_PCI_COMMAND, &cmd, 2);
	if (r == 0 && (cmd & ASSIGN_PCI_COMMAND_MASTER)) {
		cmd &= (uint16_t)~ASSIGN_PCI_COMMAND_MASTER;
		r = assign_device_write_config(d->dev, ASSIGN_PCI_COMMAND, &cmd,
					       2);
		if (r == 0)
			vmm_info("%s: bus mastering was on; turned off until "
				 "the guest turns it on", d->name);
	}
	if (r < 0)
		vmm_err("cannot assign %s: cannot clear bus mastering: %s",
			d->name, assign_ctx_get_last_error(d->vm->ctx));
	return r;
}

int assign_dma_start(struct vm *vm, enum vmm_dma_mode mode)
{
	if (!iommu || guestmem)         /* no device, or already started */
		return 0;
	struct assign_guestmem_opts o = {
		.size = sizeof o,
		.policy = ASSIGN_GUESTMEM_MAP_ALL,
		/* No ASSIGN_GUESTMEM_F_PREFAULT: prefaulting spreads the
		 * page faults over every CPU to shorten a mapping that the
		 * caller waits for; this one runs beside the booting guest,
		 * whose vCPUs need those CPUs. One thread pinning is off the
		 * critical path (measured in the lab: inner init 3.0-3.2 s
		 * after start without prefault, 4.1-4.9 s with it). */
		.flags = 0,
		.progress = dma_progress,
	};
	dma.vm = vm;
	dma.reg[0] = (struct assign_guestmem_region){
		.size = sizeof dma.reg[0], .gpa = 0, .length = vm->low_size,
		.vaddr = vm->ram, .fd = -1 };
	dma.reg[1] = (struct assign_guestmem_region){
		.size = sizeof dma.reg[1], .gpa = HIGH_RAM_START,
		.length = vm->high_size, .vaddr = vm->ram + vm->low_size,
		.fd = -1 };
	dma.nreg = vm->high_size ? 2 : 1;

	/* everything that can fail for bad input, before the guest runs */
	int r = assign_guestmem_new(iommu, &o, &guestmem);
	if (r == 0)
		r = assign_guestmem_check_layout(guestmem, dma.reg, dma.nreg,
						 NULL, 0, NULL);
	if (r < 0) {
		vmm_err("cannot map guest RAM for DMA: %s",
			assign_ctx_get_last_error(vm->ctx));
		return r;
	}
	r = check_memlock(vm);
	if (r < 0)
		return r;
	uint32_t avail;
	if (assign_iommu_get_dma_avail(iommu, &avail) == 0 &&
	    avail < dma.nreg) {
		vmm_err("cannot map guest RAM for DMA: the kernel allows only "
			"%u more DMA mappings; raise vfio_iommu_type1's "
			"dma_entry_limit", avail);
		return -ENOSPC;
	}

	if (mode == VMM_DMA_ON_DEMAND) {
		dma.deferred = true;
		dma.how = "on demand, at the first Bus Master Enable";
		vmm_info("guest RAM will be mapped for DMA when a device first "
			 "enables bus mastering");
		return 0;
	}
	if (mode == VMM_DMA_BACKGROUND) {
		dma.how = "in the background";
		dma.t_start = vmm_elapsed();
		if (pthread_create(&dma.thread, NULL, dma_thread, NULL) == 0) {
			dma.running = true;
			vmm_info("mapping guest RAM for DMA in the background "
				 "from %.3f s", dma.t_start);
			return 0;
		}
	}
	dma.how = "before boot";        /* or no thread could be made */
	return dma_map_now();
}

/* ---- config space: straight to the virtual function ------------------ */

static uint32_t cfg_read(void *opaque, unsigned off, unsigned size)
{
	struct assigned *d = opaque;
	uint32_t v = 0;
	assign_vpci_config_read(d->vpci, off, &v, size);  /* 0xff on error */
	return v;
}

/* Does a config write of size bytes at off set Bus Master Enable? */
static bool sets_bus_master(unsigned off, unsigned size, uint32_t val)
{
	if (off > ASSIGN_PCI_COMMAND || off + size <= ASSIGN_PCI_COMMAND)
		return false;
	return (val >> (8 * (ASSIGN_PCI_COMMAND - off))) &
	       ASSIGN_PCI_COMMAND_MASTER;
}

static void cfg_write(void *opaque, unsigned off, unsigned size, uint32_t val)
{
	struct assigned *d = opaque;
	/* the DMA gate: see "guest RAM for DMA" above */
	if (sets_bus_master(off, size, val) && !dma_wait_for_bus_master(d))
		return;     /* no mapping: the device never gets to master */
	assign_vpci_config_write(d->vpci, off, &val, size);
}

static const struct pci_device_ops assigned_ops = {
	.cfg_read = cfg_read,
	.cfg_write = cfg_write,
};

/* ---- setup and teardown -------------------------------------------- */

/* The IOMMU: one for all devices, one DMA address space for the guest.
 * The library context is the VM's (main.c). */
static int iommu_init(struct vm *vm)
{
	if (iommu)
		return 0;
	int r = assign_iommu_new(vm->ctx, NULL, &iommu);
	if (r < 0)
		vmm_err("cannot set up VFIO: %s",
			assign_ctx_get_last_error(vm->ctx));
	return r;
}

/* KVM learns which VFIO group (or iommufd device) the VM uses: it needs
 * that for coherent DMA and interrupt posting. Not having it is no
 * reason to stop. */
static void kvm_vfio_add(struct assigned *d)
{
	if (assign_kvm_add_device(d->vm->kvm, d->dev) == 0)
		d->kvm_vfio = true;
	else
		vmm_info("%s: not added to KVM's VFIO device (%s); going on "
			 "without it",
			 d->name, assign_ctx_get_last_error(d->vm->ctx));
}

static void cfg_put32(struct assigned *d, unsigned off, uint32_t v)
{
	assign_vpci_config_write(d->vpci, off, &v, 4);
}

/* Where firmware would put a BAR: I/O in the port window, 64-bit memory
 * above guest RAM (below 4 GiB when that window is full or missing),
 * 32-bit memory in the hole below 4 GiB. 0 when nothing fits. */
static uint64_t bar_place(const struct assign_vpci_bar *b)
{
	uint64_t at;

	if (b->io)
		return pci_alloc_io((uint32_t)b->length);
	if (b->mem64 && (at = pci_alloc_mmio64(b->length)) != 0)
		return at;
	return pci_alloc_mmio(b->length);
}

/* What firmware would do: place each BAR and write the interrupt line.
 * Decoding stays off until the guest's driver (or its PCI core) turns it
 * on, which maps the BARs through on_bar_map. */
static int place_bars(struct assigned *d)
{
	for (uint32_t i = 0; i < 6; i++) {
		struct assign_vpci_bar b = { .size = sizeof(b) };
		if (assign_vpci_get_bar(d->vpci, i, &b) < 0 || !b.present)
			continue;
		uint64_t at = bar_place(&b);
		if (!at) {
			vmm_err("%s: no room for BAR%u (%llu bytes) in the "
				"guest's PCI windows",
				d->name, i, (unsigned long long)b.length);
			return -ENOSPC;
		}
		cfg_put32(d, ASSIGN_PCI_BASE_ADDRESS_0 + 4 * i, (uint32_t)at);
		if (b.mem64)
			cfg_put32(d, ASSIGN_PCI_BASE_ADDRESS_0 + 4 * (i + 1),
				  (uint32_t)(at >> 32));
		if (at >> 32)
			vmm_info(
				"%s: 64-bit BAR%u (%llu bytes) at %#llx, above "
				"4 GiB",
				d->name, i, (unsigned long long)b.length,
				(unsigned long long)at);
	}
	if (d->intx.pin) {
		uint8_t line = (uint8_t)d->intx_gsi;
		assign_vpci_config_write(d->vpci, ASSIGN_PCI_INTERRUPT_LINE,
					 &line, 1);
	}
	return 0;
}

int assign_device_add(struct vm *vm, const char *address,
		      struct assigned **ret)
{
	int r = iommu_init(vm);
	if (r < 0)
		return r;
	struct assigned *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->vm = vm;
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++)
		d->traps[i] = (struct bar_trap){ d, i };

	double t_open = vmm_elapsed();
	r = assign_device_open(iommu, address, NULL, &d->dev);
	if (r < 0) {
		vmm_err("cannot assign %s: %s", address,
			assign_ctx_get_last_error(vm->ctx));
		goto fail;
	}
	snprintf(d->name, sizeof d->name, "%s",
		 assign_device_get_address(d->dev));

	/* start from a clean device */
	double t_reset = vmm_elapsed();
	r = assign_device_reset(d->dev);
	if (r < 0)
		vmm_info("%s: no function reset (%s); starting as found",
			 d->name, strerror(-r));
	vmm_info("%s: opened in %.3f s, reset in %.3f s (at %.3f s)", d->name,
		 t_reset - t_open, vmm_elapsed() - t_reset, vmm_elapsed());
	r = bus_master_off(d);
	if (r < 0)
		goto fail;

	struct assign_vpci_opts o = {
		.size = sizeof o,
		.flags = ASSIGN_VPCI_F_NO_ROM,   /* no option ROMs: no firmware */
		.ops = &vpci_ops,
		.data = d,
	};
	r = assign_vpci_new(d->dev, &o, &d->vpci);
	if (r < 0) {
		vmm_err("cannot assign %s: %s", address,
			assign_ctx_get_last_error(vm->ctx));
		goto fail;
	}
	d->slot = pci_add_device(&assigned_ops, d);
	if (d->slot < 0) {
		vmm_err("cannot assign %s: no free PCI slot", address);
		r = d->slot;
		goto fail;
	}
	d->intx.size = sizeof d->intx;
	assign_vpci_get_intx(d->vpci, &d->intx);
	if (d->intx.pin)
		d->intx_gsi = pci_intx_gsi(d->slot, d->intx.pin);
	r = place_bars(d);
	if (r < 0)
		goto fail;
	intx_attach(d, d->intx.enabled);
	kvm_vfio_add(d);
	vmm_info("%s assigned at guest 00:%02x.0 (INTx pin %u -> GSI %u)",
		 d->name, d->slot, d->intx.pin, d->intx_gsi);
	*ret = d;
	return 0;
fail:
	/* a slot taken by a failed device stays dead; the VMM exits anyway */
	*ret = NULL;
	assign_device_remove(d);
	return r < 0 ? r : -EIO;
}

void assign_device_remove(struct assigned *d)
{
	if (!d)
		return;
	dma_stop();     /* the IOMMU is ours alone again */
	/* the irqfds go first: the eventfds belong to the vpci */
	intx_attach(d, false);
	/* unmaps the BARs (on_bar_unmap), disables the interrupts: the
	 * vectors' irqfds and routes go with them (on_vector_update) */
	d->vpci = assign_vpci_unref(d->vpci);
	if (d->kvm_vfio)
		assign_kvm_remove_device(d->vm->kvm, d->dev);
	/* leave the device quiet for whoever comes next */
	if (d->dev)
		assign_device_reset(d->dev);
	assign_device_unref(d->dev);
	free(d);
}

void assign_global_cleanup(void)
{
	dma_stop();
	/* unmaps guest RAM from the IOMMU: nothing stays pinned */
	guestmem = assign_guestmem_unref(guestmem);
	iommu = assign_iommu_unref(iommu);
}
