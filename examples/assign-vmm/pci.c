/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0 behind configuration mechanism #1: a dword address register at
 * 0xcf8 (enable bit 31, bus 23:16, device 15:11, function 10:8, register
 * 7:2) and the data window at 0xcfc-0xcff, for the first 256 bytes of
 * each function; and behind ECAM (PCIe enhanced configuration access, the
 * ACPI MCFG table of acpi.c) at PCI_ECAM_BASE, 4 KiB per function
 * (device 19:15, function 14:12, register 11:0), so the extended config
 * space and extended capabilities of assigned PCIe devices are visible.
 * Slot 0 is a host bridge, so Linux's sanity check for type 1 access
 * passes; devices plug into slots 1, 2, ... through struct pci_device_ops
 * and only function 0 exists.
 *
 * BARs are placed like firmware would: 32-bit memory in the hole from
 * PCI_MMIO_START up to the ECAM, I/O from PCI_IO_START, 64-bit memory in a
 * window above guest RAM (the host bridge's windows in the ACPI DSDT are
 * these three).
 *
 * The byte port 0xcf9 inside the address dword is the PC reset control
 * register: writing bit 2 resets the machine, which ends the VM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vmm.h"

struct slot {
	const struct pci_device_ops *ops;
	void *opaque;
};

static struct {
	pthread_mutex_t lock;
	struct vm *vm;
	uint32_t addr;                 /* the 0xcf8 register */
	struct slot slots[PCI_MAX_SLOTS];
	int nslots;                    /* slots in use, host bridge included */
	uint8_t bridge[256];           /* host bridge config space */
	uint64_t mmio_next;
	uint64_t mmio64_base, mmio64_end, mmio64_next;
	uint32_t io_next;
} bus = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* the host bridge: identity and class only, every register read-only,
 * no extended capabilities */
static uint32_t bridge_read(void *opaque, unsigned off, unsigned size)
{
	(void)opaque;
	uint32_t v = 0;
	if (off + size <= sizeof bus.bridge)
		memcpy(&v, bus.bridge + off, size);
	return v;
}

static void bridge_write(void *opaque, unsigned off, unsigned size,
			 uint32_t val)
{
	(void)opaque; (void)off; (void)size; (void)val;
}

static const struct pci_device_ops bridge_ops = {
	.cfg_read = bridge_read,
	.cfg_write = bridge_write,
};

/* One config access to bus 0, device @dev, function @fn, register @off;
 * with the bus lock held. */
static void cfg_access(unsigned dev, unsigned fn, unsigned off, void *data,
		       unsigned len, bool is_write)
{
	struct slot *s = NULL;

	if (fn == 0 && dev < PCI_MAX_SLOTS && bus.slots[dev].ops &&
	    (len == 1 || len == 2 || len == 4) && off + len <= 4096 &&
	    (off & (len - 1)) == 0)
		s = &bus.slots[dev];
	if (!s) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write) {
		uint32_t v = 0;
		memcpy(&v, data, len);
		s->ops->cfg_write(s->opaque, off, len, v);
	} else {
		uint32_t v = s->ops->cfg_read(s->opaque, off, len);
		memcpy(data, &v, len);
	}
}

static void pci_io(void *opaque, uint64_t off, void *data, unsigned len,
		   bool is_write)
{
	(void)opaque;
	pthread_mutex_lock(&bus.lock);
	if (off < 4) {                         /* 0xcf8-0xcfb */
		if (off == 0 && len == 4) {
			if (is_write)
				memcpy(&bus.addr, data, 4);
			else
				memcpy(data, &bus.addr, 4);
		} else if (off == 1 && len == 1) {   /* 0xcf9 reset control */
			if (is_write && (*(uint8_t *)data & 0x04)) {
				pthread_mutex_unlock(&bus.lock);
				vm_request_stop(bus.vm, 0, "guest reset (port "
						"0xcf9)");
				return;
			}
			if (!is_write)
				*(uint8_t *)data = 0;
		} else if (!is_write) {
			memset(data, 0xff, len);
		}
	} else if ((bus.addr & 0x80000000u) && !(bus.addr & 0xff0000)) {
		/* 0xcfc-0xcff, enabled, bus 0 */
		cfg_access((bus.addr >> 11) & 0x1f, (bus.addr >> 8) & 7,
			   (bus.addr & 0xfc) + (unsigned)(off - 4), data, len,
			   is_write);
	} else if (!is_write) {
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&bus.lock);
}

/* ECAM: bus 0 only, so the offset is device 19:15, function 14:12,
 * register 11:0 */
static void ecam_io(void *opaque, uint64_t off, void *data, unsigned len,
		    bool is_write)
{
	(void)opaque;
	pthread_mutex_lock(&bus.lock);
	cfg_access((unsigned)(off >> 15) & 0x1f, (unsigned)(off >> 12) & 7,
		   (unsigned)off & 0xfff, data, len, is_write);
	pthread_mutex_unlock(&bus.lock);
}

int pci_add_device(const struct pci_device_ops *ops, void *opaque)
{
	pthread_mutex_lock(&bus.lock);
	int slot = bus.nslots;
	if (slot >= PCI_MAX_SLOTS) {
		pthread_mutex_unlock(&bus.lock);
		return -ENOSPC;
	}
	bus.slots[slot] = (struct slot){ ops, opaque };
	bus.nslots++;
	pthread_mutex_unlock(&bus.lock);
	return slot;
}

int pci_slot_count(void)
{
	return bus.nslots - 1;   /* without the host bridge */
}

unsigned pci_intx_gsi(int slot, int pin)
{
	return PCI_IRQ_BASE + (unsigned)((slot - 1 + pin - 1) & 7);
}

uint64_t pci_alloc_mmio(uint64_t size)
{
	if (size < 0x1000)
		size = 0x1000;       /* keep BARs on their own pages */
	uint64_t at = (bus.mmio_next + size - 1) & ~(size - 1);
	if (at + size > PCI_MMIO_END)
		return 0;
	bus.mmio_next = at + size;
	return at;
}

uint64_t pci_alloc_mmio64(uint64_t size)
{
	if (size < 0x1000)
		size = 0x1000;
	if (!bus.mmio64_end || size & (size - 1))
		return 0;
	uint64_t at = (bus.mmio64_next + size - 1) & ~(size - 1);
	if (at < bus.mmio64_next || at + size > bus.mmio64_end)
		return 0;
	bus.mmio64_next = at + size;
	return at;
}

void pci_mmio64_window(uint64_t *base, uint64_t *size)
{
	*base = bus.mmio64_base;
	*size = bus.mmio64_end - bus.mmio64_base;
}

/* The guest's physical address width (CPUID 0x80000008, which KVM
 * passes through) */
uint64_t pci_guest_phys_limit(void)
{
	unsigned eax = 0, ebx, ecx, edx;
	unsigned bits = 36;
	if (__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) &&
	    eax >= 0x80000008 &&
	    __get_cpuid(0x80000008, &eax, &ebx, &ecx, &edx) &&
	    (eax & 0xff) >= 32 && (eax & 0xff) <= 52)
		bits = eax & 0xff;
	return 1ULL << bits;
}

/* 64-bit BARs go above guest RAM, from the next GiB boundary, in a window
 * of PCI_MMIO64_SIZE (less if the guest's address width ends sooner; none
 * if it leaves no room). */
static void mmio64_init(const struct vm *vm)
{
	uint64_t top = HIGH_RAM_START + vm->high_size;
	uint64_t base = (top + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
	uint64_t end = base + PCI_MMIO64_SIZE, limit = pci_guest_phys_limit();

	if (end > limit)
		end = limit;
	if (end <= base)
		base = end = 0;
	bus.mmio64_base = bus.mmio64_next = base;
	bus.mmio64_end = end;
}

uint32_t pci_alloc_io(uint32_t size)
{
	uint32_t at = (bus.io_next + size - 1) & ~(size - 1);
	if (at + size > PCI_IO_END)
		return 0;
	bus.io_next = at + size;
	return at;
}

int pci_init(struct vm *vm)
{
	bus.vm = vm;
	bus.mmio_next = PCI_MMIO_START;
	bus.io_next = PCI_IO_START;
	mmio64_init(vm);
	put16(bus.bridge + 0x00, 0x1b36);     /* vendor: Red Hat (virtual) */
	put16(bus.bridge + 0x02, 0x0008);     /* generic PCIe host bridge */
	put16(bus.bridge + 0x04, 0x0006);     /* memory + bus master */
	put32(bus.bridge + 0x08, 0x06000000); /* class: host bridge, rev 0 */
	bus.bridge[0x0e] = 0x00;              /* header type 0 */
	pci_add_device(&bridge_ops, NULL);
	int r = io_register(IO_PORT, 0xcf8, 8, pci_io, NULL);
	if (r == 0)
		r = io_register(IO_MMIO, PCI_ECAM_BASE, PCI_ECAM_SIZE, ecam_io,
				NULL);
	return r;
}
