/* SPDX-License-Identifier: MIT */
/*
 * Just enough ACPI for the guest to power itself off. The MP table
 * (mptable.c) still describes the IOAPIC and the routing of every
 * interrupt; boot the guest with acpi=noirq so Linux takes them from there
 * and uses ACPI for the CPUs and for power-off only.
 *
 * At ACPI_START (0xe0000, where Linux scans for the RSDP, reserved in the
 * e820 map):
 *
 *   RSDP (ACPI 1.0, 20 bytes) -> RSDT -> FADT -> DSDT and FACS
 *                                     -> MADT
 *
 * The MADT lists the CPUs' local APICs and nothing else: Linux drops the
 * MP table when ACPI is on without a MADT ("No APIC-table, disabling
 * MPS": one CPU), while with a MADT of local APICs only and acpi=noirq it
 * takes the CPUs from the MADT and the IOAPIC, ISA and PCI interrupts from
 * the MP table. There is no PCI root bridge in the DSDT (so Linux scans
 * bus 0 through ports 0xcf8/0xcfc as before), no PM timer, no GPEs and no
 * SMI command port (the "hardware" is always in ACPI mode). The FADT
 * points at:
 *
 *   PM1a event block    PM_BASE + 0..3  status (write 1 to clear), enable
 *   PM1a control block  PM_BASE + 4..5  SCI_EN reads 1; writing SLP_EN
 *                                        with SLP_TYP = PM_S5_SLP_TYP ends
 *                                        the VM with exit code 0
 *   reset register      port 0xcf9, value 6 (pci.c ends the VM)
 *   SCI                 ISA IRQ 9 (never raised)
 *
 * The DSDT's only AML is Name (_S5, Package () { 5, 5, 0, 0 }).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vmm.h"

#define RSDP_ADDR  (ACPI_START + 0x000)
#define RSDT_ADDR  (ACPI_START + 0x040)
#define FADT_ADDR  (ACPI_START + 0x080)
#define FACS_ADDR  (ACPI_START + 0x180)   /* 64-byte aligned */
#define DSDT_ADDR  (ACPI_START + 0x200)
#define MADT_ADDR  (ACPI_START + 0x300)   /* up to 44 + 8 * 255 bytes */
#define ACPI_HDR   36
#define FADT_LEN   244                    /* revision 3 */
#define FACS_LEN   64
#define SCI_IRQ    9

#define PM1_SCI_EN     (1u << 0)
#define PM1_SLP_TYP(v) (((v) >> 10) & 7u)
#define PM1_SLP_EN     (1u << 13)

static void put8(uint8_t *p, unsigned off, uint8_t v) { p[off] = v; }
static void put16(uint8_t *p, unsigned off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, unsigned off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, unsigned off, uint64_t v) { memcpy(p + off, &v, 8); }

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

/* the common 36-byte header; the checksum is set when the table is done */
static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t, 4, len);
	put8(t, 8, rev);
	memcpy(t + 10, "LIBASG", 6);          /* OEM ID */
	memcpy(t + 16, "ASSIGNVM", 8);        /* OEM table ID */
	put32(t, 24, 1);                      /* OEM revision */
	memcpy(t + 28, "LASG", 4);            /* creator ID */
	put32(t, 32, 1);                      /* creator revision */
}

static void finish(uint8_t *t)
{
	uint32_t len;
	memcpy(&len, t + 4, 4);
	t[9] = 0;
	t[9] = checksum(t, len);
}

/* The DSDT's AML: Name (_S5, Package () { 5, 5, 0, 0 }):
 * NameOp, NameSeg "_S5_", PackageOp, PkgLength (one byte: itself and what
 * follows), NumElements, BytePrefix 5, BytePrefix 5, ZeroOp, ZeroOp. */
static const uint8_t dsdt_aml[] = {
	0x08, '_', 'S', '5', '_',
	0x12, 0x08, 0x04,
	0x0a, PM_S5_SLP_TYP, 0x0a, PM_S5_SLP_TYP, 0x00, 0x00,
};

/* ---- the PM1a registers -------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	struct vm *vm;
	uint8_t regs[PM_LEN];   /* status, enable, control (little-endian) */
} pm = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void pm_io(void *opaque, uint64_t off, void *data, unsigned len,
		  bool is_write)
{
	(void)opaque;
	uint8_t *b = data;
	bool power_off = false;

	pthread_mutex_lock(&pm.lock);
	if (!is_write) {
		for (unsigned i = 0; i < len; i++)
			b[i] = pm.regs[off + i];
		if (off <= 4 && off + len > 4)          /* always ACPI mode */
			b[4 - off] |= PM1_SCI_EN;
		pthread_mutex_unlock(&pm.lock);
		return;
	}
	for (unsigned i = 0; i < len; i++) {
		if (off + i < 2)
			pm.regs[off + i] &= (uint8_t)~b[i];   /* write 1 to clear */
		else
			pm.regs[off + i] = b[i];
	}
	if (off + len > 4) {                             /* control touched */
		uint16_t cnt = (uint16_t)(pm.regs[4] | pm.regs[5] << 8);
		if (cnt & PM1_SLP_EN) {
			power_off = PM1_SLP_TYP(cnt) == PM_S5_SLP_TYP;
			cnt &= (uint16_t)~PM1_SLP_EN;   /* reads back as 0 */
			put16(pm.regs, 4, cnt);
		}
	}
	pthread_mutex_unlock(&pm.lock);
	/* other sleep states are not in the DSDT; a request for one is
	 * ignored, and the guest finds itself still awake */
	if (power_off)
		vm_request_stop(pm.vm, 0, "guest power-off (ACPI S5)");
}

/* ---- the tables ------------------------------------------------------- */

/* Where a table at guest address gpa is in the ACPI area at base */
static uint8_t *table_at(uint8_t *base, uint64_t gpa)
{
	return base + (gpa - ACPI_START);
}

/* DSDT: header + AML */
static void write_dsdt(uint8_t *base)
{
	uint8_t *dsdt = table_at(base, DSDT_ADDR);
	header(dsdt, "DSDT", ACPI_HDR + sizeof dsdt_aml, 2);
	memcpy(dsdt + ACPI_HDR, dsdt_aml, sizeof dsdt_aml);
	finish(dsdt);
}

/* FACS: no checksum; the waking vector is never used (no S3) */
static void write_facs(uint8_t *base)
{
	uint8_t *facs = table_at(base, FACS_ADDR);
	memcpy(facs, "FACS", 4);
	put32(facs, 4, FACS_LEN);
	put8(facs, 32, 2);                        /* version */
}

/* FADT, revision 3 (ACPI 2.0); the X_ fields stay 0, so the OS uses the
 * 32-bit addresses */
static void write_fadt(uint8_t *base)
{
	uint8_t *fadt = table_at(base, FADT_ADDR);
	header(fadt, "FACP", FADT_LEN, 3);
	put32(fadt, 36, (uint32_t)FACS_ADDR);     /* FIRMWARE_CTRL */
	put32(fadt, 40, (uint32_t)DSDT_ADDR);     /* DSDT */
	put16(fadt, 46, SCI_IRQ);                 /* SCI_INT */
	put32(fadt, 48, 0);                       /* SMI_CMD: ACPI mode only */
	put32(fadt, 56, PM_BASE);                 /* PM1a_EVT_BLK */
	put32(fadt, 64, PM_BASE + 4);             /* PM1a_CNT_BLK */
	put8(fadt, 88, 4);                        /* PM1_EVT_LEN */
	put8(fadt, 89, 2);                        /* PM1_CNT_LEN */
	put16(fadt, 96, 101);                     /* P_LVL2_LAT: no C2 */
	put16(fadt, 98, 1001);                    /* P_LVL3_LAT: no C3 */
	put8(fadt, 108, 0x32);                    /* CENTURY: CMOS register */
	put16(fadt, 109, 1 << 0);                 /* IAPC_BOOT_ARCH: legacy
						     devices, no 8042 */
	put32(fadt, 112, (1u << 0) |              /* WBINVD works */
			 (1u << 4) |              /* no fixed power button */
			 (1u << 5) |              /* no fixed sleep button */
			 (1u << 10));             /* RESET_REG_SUP */
	put8(fadt, 116, 1);                       /* RESET_REG: system I/O */
	put8(fadt, 117, 8);                       /*   bit width */
	put8(fadt, 118, 0);                       /*   bit offset */
	put8(fadt, 119, 1);                       /*   byte access */
	put64(fadt, 120, 0xcf9);                  /*   port */
	put8(fadt, 128, 0x06);                    /* RESET_VALUE */
	finish(fadt);
}

/* MADT: the local APIC address, PCAT_COMPAT (there are 8259s), one
 * enabled local APIC per vCPU (processor UID = APIC ID = index); no
 * IOAPIC: that and the interrupt routing are the MP table's. -EINVAL
 * when the vCPUs do not fit. */
static int write_madt(uint8_t *base, int ncpus)
{
	uint8_t *madt = table_at(base, MADT_ADDR);
	uint32_t madt_len = ACPI_HDR + 8 + 8 * (uint32_t)ncpus;
	if (ncpus > 255 || MADT_ADDR + madt_len > ACPI_START + ACPI_LEN)
		return -EINVAL;
	header(madt, "APIC", madt_len, 3);
	put32(madt, ACPI_HDR, (uint32_t)LAPIC_ADDR);
	put32(madt, ACPI_HDR + 4, 1);             /* PCAT_COMPAT */
	for (int i = 0; i < ncpus; i++) {
		uint8_t *e = madt + ACPI_HDR + 8 + 8 * i;
		put8(e, 0, 0);                    /* processor local APIC */
		put8(e, 1, 8);
		put8(e, 2, (uint8_t)i);           /* ACPI processor UID */
		put8(e, 3, (uint8_t)i);           /* APIC ID */
		put32(e, 4, 1);                   /* enabled */
	}
	finish(madt);
	return 0;
}

/* RSDT: the FADT and the MADT */
static void write_rsdt(uint8_t *base)
{
	uint8_t *rsdt = table_at(base, RSDT_ADDR);
	header(rsdt, "RSDT", ACPI_HDR + 8, 1);
	put32(rsdt, ACPI_HDR, (uint32_t)FADT_ADDR);
	put32(rsdt, ACPI_HDR + 4, (uint32_t)MADT_ADDR);
	finish(rsdt);
}

/* RSDP, ACPI 1.0 form: checksum over its 20 bytes */
static void write_rsdp(uint8_t *base)
{
	uint8_t *rsdp = table_at(base, RSDP_ADDR);
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "LIBASG", 6);
	put8(rsdp, 15, 0);                        /* revision 0 */
	put32(rsdp, 16, (uint32_t)RSDT_ADDR);
	rsdp[8] = checksum(rsdp, 20);
}

int acpi_write(struct vm *vm)
{
	uint8_t *base = gpa_to_host(vm, ACPI_START, ACPI_LEN);
	if (!base)
		return -EINVAL;
	memset(base, 0, ACPI_LEN);
	write_dsdt(base);
	write_facs(base);
	write_fadt(base);
	if (write_madt(base, vm->ncpus) < 0)
		return -EINVAL;
	write_rsdt(base);
	write_rsdp(base);

	pm.vm = vm;
	return io_register(IO_PORT, PM_BASE, PM_LEN, pm_io, NULL);
}
