/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0 behind configuration mechanism #1: a dword address register at
 * 0xcf8 (enable bit 31, bus 23:16, device 15:11, function 10:8, register
 * 7:2) and the data window at 0xcfc-0xcff. Slot 0 is a host bridge, so
 * Linux's sanity check for type 1 access passes; devices plug into slots
 * 1, 2, ... through struct pci_device_ops and only function 0 exists.
 *
 * The byte port 0xcf9 inside the address dword is the PC reset control
 * register: writing bit 2 resets the machine, which ends the VM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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
	uint32_t io_next;
} bus = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* the host bridge: identity and class only, every register read-only */
static uint32_t bridge_read(void *opaque, unsigned off, unsigned size)
{
	(void)opaque;
	uint32_t v = 0;
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

static void cfg_access(uint64_t port_off, void *data, unsigned len,
		       bool is_write)
{
	uint32_t a = bus.addr;
	unsigned busno = (a >> 16) & 0xff, dev = (a >> 11) & 0x1f;
	unsigned fn = (a >> 8) & 7;
	unsigned off = (a & 0xfc) + (unsigned)port_off;
	struct slot *s = NULL;

	if ((a & 0x80000000u) && busno == 0 && fn == 0 &&
	    dev < PCI_MAX_SLOTS && bus.slots[dev].ops &&
	    off + len <= 256 && (off & (len - 1)) == 0)
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
	} else {                               /* 0xcfc-0xcff */
		cfg_access(off - 4, data, len, is_write);
	}
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
	put16(bus.bridge + 0x00, 0x1b36);     /* vendor: Red Hat (virtual) */
	put16(bus.bridge + 0x02, 0x0008);     /* generic PCIe host bridge */
	put16(bus.bridge + 0x04, 0x0006);     /* memory + bus master */
	put32(bus.bridge + 0x08, 0x06000000); /* class: host bridge, rev 0 */
	bus.bridge[0x0e] = 0x00;              /* header type 0 */
	pci_add_device(&bridge_ops, NULL);
	return io_register(IO_PORT, 0xcf8, 8, pci_io, NULL);
}
