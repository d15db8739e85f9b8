/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables: how the guest finds its
 * CPUs, the IOAPIC and the routing of ISA and PCI interrupts (the ACPI
 * tables of acpi.c have no MADT; boot with acpi=noirq, or acpi=off).
 * Linux scans 0xf0000-0xfffff for the "_MP_" floating pointer.
 *
 * Interrupt wiring described here, and routed in KVM by main.c's
 * routing_init() through libassign's KVM glue:
 *   ISA IRQ 0 (PIT)      -> IOAPIC pin 2, ISA IRQ n -> pin n (edge, high)
 *   PCI slot s, pin p    -> IOAPIC pin pci_intx_gsi(s, p) (level, high)
 *   LINT0 = ExtINT (the 8259 PIC), LINT1 = NMI on every CPU
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cpuid.h>
#include <errno.h>
#include <string.h>

#include "vmm.h"

struct __attribute__((packed)) mpf {          /* floating pointer */
	char sig[4];
	uint32_t config;
	uint8_t length;     /* in 16-byte units */
	uint8_t rev;
	uint8_t checksum;
	uint8_t feature[5];
};

struct __attribute__((packed)) mpc {          /* configuration table header */
	char sig[4];
	uint16_t length;
	uint8_t rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t count;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
};

struct __attribute__((packed)) mpc_cpu {
	uint8_t type;       /* 0 */
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;      /* 1 enabled, 2 bootstrap processor */
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
};

struct __attribute__((packed)) mpc_bus {
	uint8_t type;       /* 1 */
	uint8_t id;
	char name[6];
};

struct __attribute__((packed)) mpc_ioapic {
	uint8_t type;       /* 2 */
	uint8_t id;
	uint8_t ver;
	uint8_t flags;
	uint32_t addr;
};

struct __attribute__((packed)) mpc_intsrc {   /* I/O (3) and local (4) */
	uint8_t type;
	uint8_t irq_type;   /* 0 INT, 1 NMI, 3 ExtINT */
	uint16_t flags;     /* polarity bits 0-1, trigger bits 2-3 */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic;
	uint8_t dst_pin;
};

enum { BUS_PCI = 0, BUS_ISA = 1 };
#define MP_IRQ_LEVEL_HIGH  (0x1 | (0x3 << 2))  /* active high, level */

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return (uint8_t)-sum;
}

/* The entries of the configuration table, written one after the other */
struct mp_entries {
	uint8_t *p; /* where the next one goes */
	uint16_t count;
	uint8_t ioapic_id; /* the IOAPIC's ID: after the CPUs' */
};

static void add_entry(struct mp_entries *e, const void *entry, size_t len)
{
	memcpy(e->p, entry, len);
	e->p += len;
	e->count++;
}

/* One processor entry per vCPU, the first the bootstrap processor, with
 * the host's CPUID signature and features (KVM passes them through) */
static void add_cpus(struct mp_entries *e, int ncpus)
{
	unsigned eax = 0, ebx, ecx, edx = 0;
	__get_cpuid(1, &eax, &ebx, &ecx, &edx);
	for (int i = 0; i < ncpus; i++) {
		struct mpc_cpu c = {
			.type = 0, .apic_id = (uint8_t)i, .apic_ver = 0x14,
			.flags = 1 | (i == 0 ? 2 : 0),
			.signature = eax, .features = edx,
		};
		add_entry(e, &c, sizeof c);
	}
}

/* The buses the interrupt entries name, and the IOAPIC */
static void add_buses_and_ioapic(struct mp_entries *e)
{
	struct mpc_bus pci = { .type = 1, .id = BUS_PCI };
	memcpy(pci.name, "PCI   ", 6);
	struct mpc_bus isa = { .type = 1, .id = BUS_ISA };
	memcpy(isa.name, "ISA   ", 6);
	add_entry(e, &pci, sizeof pci);
	add_entry(e, &isa, sizeof isa);

	struct mpc_ioapic io = { .type = 2,
				 .id = e->ioapic_id,
				 .ver = 0x11,
				 .flags = 1,
				 .addr = (uint32_t)IOAPIC_ADDR };
	add_entry(e, &io, sizeof io);
}

/* ISA interrupts: conforming polarity/trigger (flags 0) = edge/high */
static void add_isa_interrupts(struct mp_entries *e)
{
	for (int irq = 0; irq < 16; irq++) {
		if (irq == 2)       /* the PIC cascade, not wired to the IOAPIC */
			continue;
		struct mpc_intsrc s = {
			.type = 3,
			.irq_type = 0,
			.flags = 0,
			.src_bus = BUS_ISA,
			.src_irq = (uint8_t)irq,
			.dst_apic = e->ioapic_id,
			.dst_pin = (uint8_t)(irq == 0 ? 2 : irq),
		};
		add_entry(e, &s, sizeof s);
	}
}

/* PCI INTx: source irq is (slot << 2) | (pin - 1) */
static void add_pci_interrupts(struct mp_entries *e)
{
	for (int slot = 1; slot <= pci_slot_count(); slot++) {
		for (int pin = 1; pin <= 4; pin++) {
			struct mpc_intsrc s = {
				.type = 3,
				.irq_type = 0,
				.flags = MP_IRQ_LEVEL_HIGH,
				.src_bus = BUS_PCI,
				.src_irq = (uint8_t)((slot << 2) | (pin - 1)),
				.dst_apic = e->ioapic_id,
				.dst_pin = (uint8_t)pci_intx_gsi(slot, pin),
			};
			add_entry(e, &s, sizeof s);
		}
	}
}

/* Local interrupts: LINT0 from the PIC, LINT1 NMI, to all CPUs */
static void add_local_interrupts(struct mp_entries *e)
{
	struct mpc_intsrc l0 = { .type = 4, .irq_type = 3, .src_bus = BUS_ISA,
				 .dst_apic = 0xff, .dst_pin = 0 };
	struct mpc_intsrc l1 = { .type = 4, .irq_type = 1, .src_bus = BUS_ISA,
				 .dst_apic = 0xff, .dst_pin = 1 };
	add_entry(e, &l0, sizeof l0);
	add_entry(e, &l1, sizeof l1);
}

/* The configuration table's header, once its entries are written */
static void finish_config_table(struct mpc *mpc, const struct mp_entries *e)
{
	memcpy(mpc->sig, "PCMP", 4);
	mpc->length = (uint16_t)(e->p - (uint8_t *)mpc);
	mpc->rev = 4;
	memcpy(mpc->oem, "LIBASSGN", 8);
	memcpy(mpc->product, "ASSIGN-VMM  ", 12);
	mpc->count = e->count;
	mpc->lapic = (uint32_t)LAPIC_ADDR;
	mpc->checksum = checksum(mpc, mpc->length);
}

/* The floating pointer Linux finds first: where the table is */
static void write_floating_pointer(struct mpf *mpf)
{
	memcpy(mpf->sig, "_MP_", 4);
	mpf->config = (uint32_t)(BIOS_START + sizeof *mpf);
	mpf->length = 1;
	mpf->rev = 4;
	mpf->checksum = checksum(mpf, sizeof *mpf);
}

int mptable_write(struct vm *vm)
{
	uint8_t *base = gpa_to_host(vm, BIOS_START, 0x10000);
	if (!base)
		return -EINVAL;
	memset(base, 0, 0x10000);

	struct mpf *mpf = (struct mpf *)base;
	struct mpc *mpc = (struct mpc *)(base + sizeof *mpf);
	struct mp_entries e = { .p = (uint8_t *)(mpc + 1),
				.ioapic_id = (uint8_t)vm->ncpus };
	add_cpus(&e, vm->ncpus);
	add_buses_and_ioapic(&e);
	add_isa_interrupts(&e);
	add_pci_interrupts(&e);
	add_local_interrupts(&e);
	finish_config_table(mpc, &e);
	write_floating_pointer(mpf);
	return 0;
}
