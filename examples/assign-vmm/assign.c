/* SPDX-License-Identifier: MIT */
/*
 * An assigned host PCI device, seen by the guest as a PCI device in one of
 * our slots. libassign does all of the VFIO work and the device model:
 * the IOMMU, the device fd, DMA mapping of guest RAM (the guest memory
 * policy, driven by dma.c), and struct assign_vpci, the guest's view of
 * the device (a config space whose BARs hold guest addresses, MSI/MSI-X
 * capability and table emulation, INTx eventfds). What is left here is
 * the part that depends on the hypervisor, KVM, and libassign's KVM glue
 * (<libassign/kvm.h>, the VM's vm->kvm) does most of that too:
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
 *    level-triggered IOAPIC pin (assign_kvm_irqfd_add()): KVM raises the line,
 *    and on the guest's EOI signals the resample eventfd, which VFIO uses
 *    to unmask the device's interrupt;
 *  - the KVM-VFIO device learns about each device
 *    (assign_kvm_add_device());
 *  - each device's DMA goes through a host address space of dma.c (one
 *    for all devices, or one each with --viommu); its Bus Master Enable
 *    waits for guest RAM to be mapped there when the space is in
 *    identity.
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
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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
	struct dma_space *space; /* its host DMA address space */
	struct assign_device *dev;
	struct assign_vpci *vpci;
	char name[64]; /* PCI address or mdev UUID */
	int slot;
	struct bar_trap traps[ASSIGN_VPCI_NUM_BARS];
	struct bar_map bars[ASSIGN_VPCI_NUM_BARS];
	struct assign_vpci_intx intx;
	uint32_t intx_gsi;
	bool intx_attached;
	/* added to KVM's VFIO device; a vector failure already logged */
	bool kvm_vfio, vector_error_seen;
	bool bme_seen;               /* first Bus Master Enable logged */
	/* eventfds of VFIO's device request and error interrupts, or -1 */
	int req_fd, err_fd;
	/* what the guest makes us say, as often as it likes: bounded */
	struct vmm_ratelimit log_bar_refused, log_bar_busy, log_bar_placed;
	struct vmm_ratelimit log_intx;
};

/* --handoff: the names of the devices the helper handed over */
static char *handed[VMM_MAX_DEVICES];
static int nhanded;

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
		vmm_err_limited(
			&d->log_bar_refused,
			"%s: guest put BAR%u (%llu bytes) at %#llx, which %s; "
			"not mapped",
			d->name, ev->bar, (unsigned long long)ev->size,
			(unsigned long long)ev->gpa, why);
		return -EINVAL;
	}
	int r = io_register(space, ev->gpa, ev->size, bar_trap_access,
			    &d->traps[ev->bar]);
	if (r < 0) {
		vmm_err_limited(
			&d->log_bar_busy,
			"%s: BAR%u at %#llx overlaps another device; not "
			"mapped",
			d->name, ev->bar, (unsigned long long)ev->gpa);
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
		vmm_info_limited(
			&d->log_bar_placed,
			"%s: BAR%u (%s, %llu bytes) at %#llx, %d direct "
			"slot(s)",
			d->name, ev->bar, ev->io ? "I/O" : "MMIO",
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
	int r = on ? assign_kvm_irqfd_add(d->vm->kvm, d->intx.trigger_fd,
					  d->intx_gsi, d->intx.resample_fd) :
		     assign_kvm_irqfd_remove(d->vm->kvm, d->intx.trigger_fd);
	if (r == 0)
		d->intx_attached = on;
	else
		vmm_err_limited(&d->log_intx, "%s: INTx irqfd: %s", d->name,
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

/* The DMA gate starts here: Bus Master Enable clear in the device (see
 * dma.c). vfio-pci's reset and release leave it so; a device that could
 * not be reset is made so here. */
static int bus_master_off(struct assigned *d)
{
	uint16_t cmd;
	int r = assign_device_config_read(d->dev, ASSIGN_PCI_COMMAND, &cmd, 2);
	if (r == 0 && (cmd & ASSIGN_PCI_COMMAND_MASTER)) {
		cmd &= (uint16_t)~ASSIGN_PCI_COMMAND_MASTER;
		r = assign_device_config_write(d->dev, ASSIGN_PCI_COMMAND, &cmd,
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
	/* the DMA gate: see dma.c */
	if (sets_bus_master(off, size, val) &&
	    !dma_bus_master(d->space, d->name, &d->bme_seen))
		return;     /* no mapping: the device never gets to master */
	assign_vpci_config_write(d->vpci, off, &val, size);
}

static const struct pci_device_ops assigned_ops = {
	.cfg_read = cfg_read,
	.cfg_write = cfg_write,
};

/* ---- the host's requests: device request and error interrupts ------
 *
 * VFIO tells the owner of a device two things through eventfds:
 *
 *  - REQ, the device request: something on the host wants the device
 *    back (an unbind from vfio-pci, a removal). The kernel's unbind waits
 *    until every fd of the device is closed, asking again every 10 s, so
 *    a VMM that ignores it leaves the unbind hanging for as long as the VM
 *    runs. This VMM's bus has no hotplug controller, so it cannot take the
 *    device away from a running guest; it stops the VM instead, cleanly:
 *    vCPUs stopped, the device reset and released, guest RAM unpinned,
 *    exit code VMM_EXIT_DEVICE_REQUEST (3) and one line that says why.
 *  - ERR, an uncorrectable error the host's AER driver saw on the device
 *    (vfio-pci's error_detected). The guest cannot be told (no AER is
 *    emulated) and what the device does next is unknown: like QEMU, the
 *    VMM stops the VM, with exit code VMM_EXIT_DEVICE_ERROR (4) and one
 *    line; the host's kernel log has the error itself.
 *
 * main.c's loop polls the eventfds (assign_device_event_fds()) and hands
 * the one that fired to assign_device_event(). A kernel without them
 * (count 0) leaves the fd at -1: the VMM then cannot hear the request. */

static int host_event_fd(struct assigned *d, uint32_t index, const char *what)
{
	struct assign_irq_info ii = { .size = sizeof ii };
	if (assign_device_get_irq_info(d->dev, index, &ii) < 0 || !ii.count ||
	    !(ii.flags & ASSIGN_IRQ_F_EVENTFD)) {
		vmm_info("%s: the kernel offers no %s interrupt: the VMM will "
			 "not hear it",
			 d->name, what);
		return -1;
	}
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd >= 0 && assign_irq_set_eventfds(d->dev, index, 0, 1, &fd) < 0) {
		vmm_info("%s: cannot take its %s interrupt (%s); going on "
			 "without it",
			 d->name, what, assign_ctx_get_last_error(d->vm->ctx));
		close(fd);
		fd = -1;
	}
	return fd;
}

int assign_device_event_fds(const struct assigned *d, int fds[2])
{
	int n = 0;
	if (d && d->req_fd >= 0)
		fds[n++] = d->req_fd;
	if (d && d->err_fd >= 0)
		fds[n++] = d->err_fd;
	return n;
}

void assign_device_event(struct assigned *d, int fd)
{
	uint64_t count;
	if (read(fd, &count, sizeof count) != sizeof count)
		return;
	if (fd == d->req_fd) {
		vmm_err("%s: the host wants this device back (VFIO device "
			"request: an unbind from vfio-pci or a removal); "
			"stopping the VM to release it",
			d->name);
		vm_request_stop(d->vm, VMM_EXIT_DEVICE_REQUEST,
				"device request");
	} else if (fd == d->err_fd) {
		vmm_err("%s: the device reported an uncorrectable error (AER, "
			"VFIO error interrupt); stopping the VM: the guest "
			"cannot be told and the device's state is unknown; see "
			"the host's kernel log",
			d->name);
		vm_request_stop(d->vm, VMM_EXIT_DEVICE_ERROR, "device error");
	}
}

/* ---- setup and teardown -------------------------------------------- */

/* The host DMA address space of a device: with --viommu one of its own,
 * whose policy follows the guest's IOMMU; without, the one all devices
 * share. The library context is the VM's (main.c). */
static struct dma_space *shared_space;

/* With --viommu two devices of one host IOMMU group cannot be followed:
 * the guest may put them in different domains, but they share one host
 * address space (a type1 group sits in one container). Refused before
 * anything is opened. */
static int group_check(const char *address)
{
	static char groups[VMM_MAX_DEVICES][256], addrs[VMM_MAX_DEVICES][128];
	static int n;
	char link[256], path[128];
	ssize_t len;

	snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/iommu_group",
		 address);
	len = readlink(path, link, sizeof link - 1);
	if (len <= 0 || n == VMM_MAX_DEVICES)
		return 0; /* the open will say what is wrong */
	link[len] = '\0';
	const char *g = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	for (int i = 0; i < n; i++) {
		if (strcmp(groups[i], g))
			continue;
		vmm_err("cannot assign %s with --viommu: it shares IOMMU group "
			"%s with %s, and the guest could put the two in "
			"different domains, which one host address space "
			"cannot follow; assign only one of them, or run "
			"without --viommu",
			address, g, addrs[i]);
		return -EBUSY;
	}
	snprintf(groups[n], sizeof groups[n], "%s", g);
	snprintf(addrs[n], sizeof addrs[n], "%s", address);
	n++;
	return 0;
}

static int space_init(struct vm *vm, const char *address,
		      struct dma_space **ret)
{
	char name[ASSIGN_PCI_ADDR_LEN + 4];
	int r;

	if (!vm->viommu && shared_space) {
		*ret = shared_space;
		return 0;
	}
	if (vm->viommu && (r = group_check(address)) < 0)
		return r;
	snprintf(name, sizeof name, "%s: ", address);
	r = dma_space_new(vm, vm->viommu ? name : "", ret);
	if (r == 0 && !vm->viommu)
		shared_space = *ret;
	return r;
}

/* KVM learns which VFIO group (or iommufd device) the VM uses: it needs
 * that for coherent DMA and interrupt posting. Not having it is no
 * reason to stop. */
static void kvm_vfio_add(struct assigned *d)
{
	bool cdev = assign_iommu_get_backend(dma_space_iommu(d->space)) ==
		    ASSIGN_IOMMU_IOMMUFD;

	if (assign_kvm_add_device(d->vm->kvm, d->dev) == 0) {
		d->kvm_vfio = true;
		vmm_info("%s: added to KVM's VFIO device (its %s)", d->name,
			 cdev ? "vfio cdev" : "group");
	} else
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
	struct dma_space *space;
	int r = space_init(vm, address, &space);
	if (r < 0)
		return r;
	struct assigned *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->vm = vm;
	d->space = space;
	d->req_fd = d->err_fd = -1;
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++)
		d->traps[i] = (struct bar_trap){ d, i };

	double t_open = vmm_elapsed();
	r = assign_device_open(dma_space_iommu(space), address, NULL, &d->dev);
	if (r < 0) {
		vmm_err("cannot assign %s: %s%s", address,
			assign_ctx_get_last_error(vm->ctx),
			nhanded ? " (not one the helper handed over?)" : "");
		goto fail;
	}
	snprintf(d->name, sizeof d->name, "%s", assign_device_get_name(d->dev));

	/* start from a clean device */
	double t_reset = vmm_elapsed();
	r = assign_device_reset(d->dev);
	if (r < 0)
		vmm_info("%s: no function reset (%s); starting as found",
			 d->name, strerror(-r));
	vmm_info("%s: opened on %s in %.3f s, reset in %.3f s (at %.3f s)",
		 d->name,
		 assign_iommu_get_backend(dma_space_iommu(space)) ==
				 ASSIGN_IOMMU_IOMMUFD ?
			 "iommufd" :
			 "type1",
		 t_reset - t_open, vmm_elapsed() - t_reset, vmm_elapsed());
	r = bus_master_off(d);
	if (r < 0)
		goto fail;
	/* resets keep them armed */
	d->req_fd = host_event_fd(d, ASSIGN_IRQ_REQ, "device request");
	d->err_fd = host_event_fd(d, ASSIGN_IRQ_ERR, "error");

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
	/* its last fd: a pending unbind completes now */
	assign_device_unref(d->dev);
	if (d->req_fd >= 0)
		close(d->req_fd);
	if (d->err_fd >= 0)
		close(d->err_fd);
	free(d);
}

int assign_device_slot(const struct assigned *d)
{
	return d->slot;
}

const char *assign_device_name(const struct assigned *d)
{
	return d->name;
}

struct dma_space *assign_device_space(const struct assigned *d)
{
	return d->space;
}

int assign_handoff_take(struct vm *vm, const char *path, const char **names,
			int max)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct assign_handoff *h = NULL;
	struct assign_iommu *iommu = NULL;
	int s, r;

	if (strlen(path) >= sizeof sa.sun_path) {
		vmm_err("--handoff %s: the socket path is too long", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		vmm_err("cannot reach the helper at %s: %s (is assign-host "
			"handoff listening there, for this user?)",
			path, strerror(errno));
		if (s >= 0)
			close(s);
		return -1;
	}
	/* the library checks the message and what each fd is */
	r = assign_handoff_recv(vm->ctx, s, &h);
	close(s);
	if (r == 0)
		r = assign_iommu_new_from_handoff(vm->ctx, h, &iommu);
	if (r == 0) {
		/* the devices share it, as without --handoff */
		r = dma_space_adopt(vm, iommu, "", &shared_space);
		iommu = NULL;
	}
	if (r < 0) {
		vmm_err("no devices from the helper at %s: %s", path,
			assign_ctx_get_last_error(vm->ctx));
		assign_iommu_unref(iommu);
		assign_handoff_free(h);
		return -1;
	}
	for (size_t i = 0; i < assign_handoff_get_count(h) && nhanded < max &&
			   nhanded < VMM_MAX_DEVICES;
	     i++) {
		handed[nhanded] = strdup(assign_handoff_get_device(h, i));
		if (!handed[nhanded])
			break;
		names[nhanded] = handed[nhanded];
		nhanded++;
	}
	vmm_info("%d device(s) handed over on %s (%s)", nhanded, path,
		 assign_handoff_get_backend(h) == ASSIGN_IOMMU_IOMMUFD ?
			 "iommufd" :
			 "type1");
	assign_handoff_free(h);
	return nhanded;
}

void assign_global_cleanup(void)
{
	for (int i = 0; i < nhanded; i++)
		free(handed[i]);
	nhanded = 0;
	/* unmaps guest RAM from the IOMMUs: nothing stays pinned */
	dma_cleanup();
	shared_space = NULL;
}
