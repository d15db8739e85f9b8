/* SPDX-License-Identifier: MIT */
/*
 * Just enough ACPI for the guest to power itself off, find its PCI host
 * bridge with ECAM, and (with --viommu) the virtio-iommu. The MP table
 * (mptable.c) still describes the IOAPIC and the routing of every
 * interrupt; boot the guest with acpi=noirq so Linux takes them from there
 * and uses ACPI for the rest.
 *
 * At ACPI_START (0xe0000, where Linux scans for the RSDP, reserved in the
 * e820 map):
 *
 *   RSDP (ACPI 1.0, 20 bytes) -> RSDT -> FADT -> DSDT and FACS
 *                                     -> MADT
 *                                     -> MCFG
 *                                     -> VIOT (--viommu)
 *
 * The MADT lists the CPUs' local APICs and nothing else: Linux drops the
 * MP table when ACPI is on without a MADT ("No APIC-table, disabling
 * MPS": one CPU), while with a MADT of local APICs only and acpi=noirq it
 * takes the CPUs from the MADT and the IOAPIC, ISA and PCI interrupts from
 * the MP table. No PM timer, no GPEs and no SMI command port (the
 * "hardware" is always in ACPI mode). The FADT points at:
 *
 *   PM1a event block    PM_BASE + 0..3  status (write 1 to clear), enable
 *   PM1a control block  PM_BASE + 4..5  SCI_EN reads 1; writing SLP_EN
 *                                        with SLP_TYP = PM_S5_SLP_TYP ends
 *                                        the VM with exit code 0
 *   reset register      port 0xcf9, value 6 (pci.c ends the VM)
 *   SCI                 ISA IRQ 9 (never raised)
 *
 * The DSDT's AML:
 *
 *   Name (_S5, Package () { 5, 5, 0, 0 })
 *   Scope (\_SB) {
 *     Device (PCI0) {             the host bridge of bus 0
 *       _HID PNP0A08, _CID PNP0A03, _UID 0, _SEG 0, _BBN 0
 *       _CRS: bus 0; ports 0xcf8-0xcff (consumed); port windows
 *             0-0xcf7 and 0xd00-0xffff; memory windows: the 32-bit
 *             BAR hole and the 64-bit BAR window (pci.c)
 *     }
 *     Device (MRES) {             motherboard resources: the ECAM
 *       _HID PNP0C02, _UID 1, _CRS: Memory32Fixed ECAM
 *     }
 *   }
 *
 * Linux needs the ACPI host bridge for the VIOT (it configures DMA of a
 * PCI device through the ACPI companion of its host bridge), and the ECAM
 * reserved both in e820 (boot.c; the early check) and by a PNP0C02
 * device (the late one). The MCFG gives the ECAM of bus 0.
 *
 * The VIOT (Virtual I/O Translation Table, ACPI 6.4) names the
 * virtio-iommu by its PCI address and gives one PCI range node per
 * assigned device, endpoint ID = requester ID, so exactly those are
 * translated (not the host bridge, not the virtio-iommu itself).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vmm.h"

#define RSDP_ADDR  (ACPI_START + 0x000)
#define RSDT_ADDR (ACPI_START + 0x040) /* up to 36 + 4 * 4 bytes */
#define FADT_ADDR  (ACPI_START + 0x080)
#define FACS_ADDR  (ACPI_START + 0x180)   /* 64-byte aligned */
#define DSDT_ADDR (ACPI_START + 0x200) /* up to DSDT_MAX bytes */
#define DSDT_MAX 0x400
#define MADT_ADDR (ACPI_START + 0x600) /* up to 44 + 8 * 255 bytes */
#define MCFG_ADDR (ACPI_START + 0xe40) /* 60 bytes */
#define VIOT_ADDR (ACPI_START + 0xe80) /* up to 64 + 24 * 8 bytes */
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

/* ---- AML ----------------------------------------------------------------
 * A byte buffer that the DSDT's few objects are written into; packages
 * (Scope, Device, Buffer) are built in a buffer of their own and then
 * emitted behind their opcode and PkgLength. */

struct aml {
	uint8_t b[DSDT_MAX];
	size_t n;
	bool full;
};

static void aml_bytes(struct aml *a, const void *p, size_t len)
{
	if (a->full || len > sizeof a->b - a->n) {
		a->full = true;
		return;
	}
	memcpy(a->b + a->n, p, len);
	a->n += len;
}

static void aml_byte(struct aml *a, uint8_t v)
{
	aml_bytes(a, &v, 1);
}

/* Opcode(s), PkgLength (which counts itself), then the body. */
static void aml_pkg(struct aml *a, const uint8_t *op, size_t oplen,
		    const struct aml *body)
{
	size_t n = body->n;
	uint8_t l[3];

	a->full |= body->full;
	aml_bytes(a, op, oplen);
	if (n + 1 < 0x40) {
		l[0] = (uint8_t)(n + 1);
		aml_bytes(a, l, 1);
	} else if (n + 2 < 0x1000) {
		l[0] = (uint8_t)(0x40 | ((n + 2) & 0xf));
		l[1] = (uint8_t)((n + 2) >> 4);
		aml_bytes(a, l, 2);
	} else {
		l[0] = (uint8_t)(0x80 | ((n + 3) & 0xf));
		l[1] = (uint8_t)((n + 3) >> 4);
		l[2] = (uint8_t)((n + 3) >> 12);
		aml_bytes(a, l, 3);
	}
	aml_bytes(a, body->b, n);
}

/* Name (NAME, DWordConst) */
static void aml_name_dword(struct aml *a, const char *name, uint32_t v)
{
	uint8_t b[4];

	aml_byte(a, 0x08); /* NameOp */
	aml_bytes(a, name, 4);
	aml_byte(a, 0x0c); /* DWordPrefix */
	memcpy(b, &v, 4);
	aml_bytes(a, b, 4);
}

/* Name (NAME, Zero / One) */
static void aml_name_small(struct aml *a, const char *name, uint8_t v)
{
	aml_byte(a, 0x08);
	aml_bytes(a, name, 4);
	aml_byte(a, v ? 0x01 : 0x00); /* OneOp, ZeroOp */
}

/* EISA ID "PNPxxxx" in its compressed form, as an integer */
static uint32_t eisa_id(const char *id)
{
	uint16_t c = (uint16_t)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) |
				(id[2] - 0x40));
	uint32_t hex = 0;

	for (int i = 3; i < 7; i++)
		hex = hex << 4 |
		      (uint32_t)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	/* bytes: the three letters big-endian, then the four hex digits */
	return (uint32_t)(c >> 8) | (uint32_t)(c & 0xff) << 8 |
	       (hex >> 8 & 0xff) << 16 | (hex & 0xff) << 24;
}

/* Name (_CRS, ResourceTemplate () { @res, EndTag }) */
static void aml_crs(struct aml *a, const struct aml *res)
{
	static const uint8_t buffer_op = 0x11;
	struct aml body = { .n = 0 };
	uint16_t len = (uint16_t)(res->n + 2);
	uint8_t l[2];

	aml_byte(&body, 0x0b); /* WordPrefix: the buffer size */
	memcpy(l, &len, 2);
	aml_bytes(&body, l, 2);
	aml_bytes(&body, res->b, res->n);
	aml_byte(&body, 0x79); /* End Tag, checksum 0 */
	aml_byte(&body, 0x00);
	body.full |= res->full;
	aml_byte(a, 0x08);
	aml_bytes(a, "_CRS", 4);
	aml_pkg(a, &buffer_op, 1, &body);
}

/* Word Address Space Descriptor: bus numbers (type 2) or I/O (type 1) */
static void res_word(struct aml *r, uint8_t type, uint16_t min, uint16_t max)
{
	uint8_t d[16] = { 0x88, 13, 0, type, 0x0c, type == 1 ? 0x03 : 0 };
	uint16_t len = (uint16_t)(max - min + 1);

	/* producer, min and max fixed; I/O: ISA and non-ISA ranges */
	memcpy(d + 8, &min, 2);
	memcpy(d + 10, &max, 2);
	memcpy(d + 14, &len, 2);
	aml_bytes(r, d, sizeof d);
}

/* DWord / QWord Memory Address Space Descriptor: a read-write window */
static void res_mem(struct aml *r, uint64_t min, uint64_t len)
{
	uint64_t max = min + len - 1;

	if (max >> 32) {
		uint8_t d[46] = { 0x8a, 43, 0, 0, 0x0c, 0x01 };

		memcpy(d + 14, &min, 8);
		memcpy(d + 22, &max, 8);
		memcpy(d + 38, &len, 8);
		aml_bytes(r, d, sizeof d);
	} else {
		uint8_t d[26] = { 0x87, 23, 0, 0, 0x0c, 0x01 };
		uint32_t v;

		v = (uint32_t)min;
		memcpy(d + 10, &v, 4);
		v = (uint32_t)max;
		memcpy(d + 14, &v, 4);
		v = (uint32_t)len;
		memcpy(d + 22, &v, 4);
		aml_bytes(r, d, sizeof d);
	}
}

/* Device (NAME) { @body } */
static void aml_device(struct aml *a, const char *name, const struct aml *body)
{
	static const uint8_t device_op[2] = { 0x5b, 0x82 };
	struct aml d = { .n = 0 };

	aml_bytes(&d, name, 4);
	aml_bytes(&d, body->b, body->n);
	d.full |= body->full;
	aml_pkg(a, device_op, 2, &d);
}

static void aml_pci0(struct aml *a)
{
	struct aml dev = { .n = 0 }, res = { .n = 0 };
	static const uint8_t cf8[8] = { 0x47, 1, 0xf8, 0x0c, 0xf8, 0x0c, 1, 8 };
	uint64_t base64, size64;

	aml_name_dword(&dev, "_HID", eisa_id("PNP0A08"));
	aml_name_dword(&dev, "_CID", eisa_id("PNP0A03"));
	aml_name_small(&dev, "_UID", 0);
	aml_name_small(&dev, "_SEG", 0);
	aml_name_small(&dev, "_BBN", 0);
	res_word(&res, 2, 0, 0); /* bus 0 */
	aml_bytes(&res, cf8, sizeof cf8); /* IO 0xcf8, 8 */
	res_word(&res, 1, 0x0000, 0x0cf7);
	res_word(&res, 1, 0x0d00, 0xffff);
	res_mem(&res, PCI_MMIO_START, PCI_MMIO_END - PCI_MMIO_START);
	pci_mmio64_window(&base64, &size64);
	if (size64)
		res_mem(&res, base64, size64);
	aml_crs(&dev, &res);
	aml_device(a, "PCI0", &dev);
}

static void aml_mres(struct aml *a)
{
	struct aml dev = { .n = 0 }, res = { .n = 0 };
	uint8_t m[12] = { 0x86, 9, 0, 1 }; /* read-write */
	uint32_t base = (uint32_t)PCI_ECAM_BASE, len = (uint32_t)PCI_ECAM_SIZE;

	memcpy(m + 4, &base, 4);
	memcpy(m + 8, &len, 4);
	aml_name_dword(&dev, "_HID", eisa_id("PNP0C02"));
	aml_name_small(&dev, "_UID", 1);
	aml_bytes(&res, m, sizeof m);
	aml_crs(&dev, &res);
	aml_device(a, "MRES", &dev);
}

/* Name (_S5, Package () { 5, 5, 0, 0 }): NameOp, NameSeg "_S5_",
 * PackageOp, PkgLength (one byte: itself and what follows), NumElements,
 * BytePrefix 5, BytePrefix 5, ZeroOp, ZeroOp. */
static const uint8_t s5_aml[] = {
	0x08, '_',  'S',	   '5',	 '_',		0x12, 0x08,
	0x04, 0x0a, PM_S5_SLP_TYP, 0x0a, PM_S5_SLP_TYP, 0x00, 0x00,
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
static int write_dsdt(uint8_t *base)
{
	static const uint8_t scope_op = 0x10;
	uint8_t *dsdt = table_at(base, DSDT_ADDR);
	struct aml aml = { .n = 0 }, sb = { .n = 0 };

	aml_bytes(&aml, s5_aml, sizeof s5_aml);
	aml_bytes(&sb, "\\_SB_", 5);
	aml_pci0(&sb);
	aml_mres(&sb);
	aml_pkg(&aml, &scope_op, 1, &sb);
	if (aml.full || ACPI_HDR + aml.n > DSDT_MAX)
		return -ENOSPC;
	header(dsdt, "DSDT", (uint32_t)(ACPI_HDR + aml.n), 2);
	memcpy(dsdt + ACPI_HDR, aml.b, aml.n);
	finish(dsdt);
	return 0;
}

/* MCFG: the ECAM of segment 0, bus 0 */
static void write_mcfg(uint8_t *base)
{
	uint8_t *mcfg = table_at(base, MCFG_ADDR);

	header(mcfg, "MCFG", ACPI_HDR + 8 + 16, 1);
	put64(mcfg, ACPI_HDR + 8, PCI_ECAM_BASE); /* base address */
	put16(mcfg, ACPI_HDR + 16, 0); /* segment */
	put8(mcfg, ACPI_HDR + 18, 0); /* start bus */
	put8(mcfg, ACPI_HDR + 19, 0); /* end bus */
	finish(mcfg);
}

/* VIOT: the virtio-iommu on PCI (node at offset 48), then a PCI range
 * node per endpoint, one requester ID each, endpoint ID = requester ID. */
static int write_viot(uint8_t *base, const struct acpi_viot *v)
{
	uint8_t *viot = table_at(base, VIOT_ADDR);
	uint32_t len = 48 + 16 + 24 * (uint32_t)v->nendpoints;
	uint8_t *n;

	if (VIOT_ADDR + len > ACPI_START + ACPI_LEN)
		return -ENOSPC;
	header(viot, "VIOT", len, 0);
	put16(viot, ACPI_HDR, (uint16_t)(1 + v->nendpoints)); /* nodes */
	put16(viot, ACPI_HDR + 2, 48); /* first node */
	n = viot + 48;
	put8(n, 0, 3); /* virtio-iommu PCI */
	put16(n, 2, 16);
	put16(n, 4, 0); /* segment */
	put16(n, 6, v->iommu_bdf);
	for (size_t i = 0; i < v->nendpoints; i++) {
		n = viot + 64 + 24 * i;
		put8(n, 0, 1); /* PCI range */
		put16(n, 2, 24);
		put32(n, 4, v->endpoints[i]); /* endpoint start */
		put16(n, 8, 0); /* segments 0-0 */
		put16(n, 10, 0);
		put16(n, 12, v->endpoints[i]); /* BDFs: this one */
		put16(n, 14, v->endpoints[i]);
		put16(n, 16, 48); /* output node */
	}
	finish(viot);
	return 0;
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
	if (ncpus > 255 || MADT_ADDR + madt_len > MCFG_ADDR)
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

/* RSDT: the FADT, the MADT, the MCFG and the VIOT */
static void write_rsdt(uint8_t *base, bool viot)
{
	uint8_t *rsdt = table_at(base, RSDT_ADDR);
	header(rsdt, "RSDT", ACPI_HDR + (viot ? 16 : 12), 1);
	put32(rsdt, ACPI_HDR, (uint32_t)FADT_ADDR);
	put32(rsdt, ACPI_HDR + 4, (uint32_t)MADT_ADDR);
	put32(rsdt, ACPI_HDR + 8, (uint32_t)MCFG_ADDR);
	if (viot)
		put32(rsdt, ACPI_HDR + 12, (uint32_t)VIOT_ADDR);
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

int acpi_write(struct vm *vm, const struct acpi_viot *viot)
{
	uint8_t *base = gpa_to_host(vm, ACPI_START, ACPI_LEN);
	if (!base)
		return -EINVAL;
	memset(base, 0, ACPI_LEN);
	if (write_dsdt(base) < 0)
		return -ENOSPC;
	write_facs(base);
	write_fadt(base);
	if (write_madt(base, vm->ncpus) < 0)
		return -EINVAL;
	write_mcfg(base);
	if (viot && write_viot(base, viot) < 0)
		return -ENOSPC;
	write_rsdt(base, viot != NULL);
	write_rsdp(base);

	pm.vm = vm;
	return io_register(IO_PORT, PM_BASE, PM_LEN, pm_io, NULL);
}
