// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the library's guest-facing virtual PCI function
 * (src/vpci, include/libassign/vpci.h) driven by a hostile guest, over a
 * device described by the hostile fuzz kernel (fuzz-kernel.h).
 *
 * Input: fuzz-kernel records; the first FK_SETUP byte's bits 1-3 become
 * ASSIGN_VPCI_F_* flags; FK_GUEST records are guest operations:
 *   u8 op, then
 *   op 0/1: config write/read: u16 offset, u8 length, u32 value
 *           (length and alignment as given: invalid ones must be refused)
 *   op 2/3: BAR write/read: u8 bar, u64 offset, u8 length, u64 value
 *   op 4:   reset;  op 5: u8 bar: query BAR;  op 6: u8: set how the VMM
 *           answers bar_map (bit 0: refuse the next one)
 *
 * Checked besides the sanitizers:
 *  - placement events: BAR number valid, no wrap-around, parts sorted and
 *    covering the BAR exactly, direct parts page aligned, inside memory the
 *    library mapped, never over the MSI-X table or PBA pages, never for an
 *    I/O BAR; a BAR is never mapped twice nor unmapped unless mapped, and
 *    assign_vpci_get_bar() agrees with the events after every operation;
 *  - vector events: index MSI or MSI-X, vector inside the table, eventfd
 *    open;
 *  - no guest access reaches the device's MSI control/address/data, MSI-X
 *    control, MSI-X table or PBA (watched at the fuzz kernel's pwrite);
 *  - at the end every BAR was unmapped, every eventfd closed, every fd and
 *    mapping released.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fuzz-kernel.h"
#include "fuzz.h"
#include <libassign/libassign.h>
#include <libassign/vpci.h>

static struct fuzz_kernel fk;

static struct {
	bool mapped;
	uint64_t gpa, size;
} bars[ASSIGN_VPCI_NUM_BARS];
static bool refuse_next;
static struct assign_vpci *cur;

/* What the guest must not reach on the device (fd offsets). */
static struct {
	bool valid;          /* region offsets do not overlap: checks apply */
	uint64_t cfg_base, cfg_size;
	bool msi, msix;
	struct assign_pci_msi m;
	struct assign_pci_msix x;
	uint64_t table_base, pba_base;  /* fd offsets of their BARs */
	uint64_t table_bar_size, pba_bar_size;
} dev_guard;

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

static void rw_hook(void *arg, bool write, uint64_t off, size_t len)
{
	if (!write || !dev_guard.valid)
		return;
	if (off >= dev_guard.cfg_base &&
	    off - dev_guard.cfg_base < dev_guard.cfg_size) {
		uint64_t x = off - dev_guard.cfg_base;

		if (dev_guard.msi)
			FUZZ_CHECK(!overlaps(x, len, dev_guard.m.offset + 2u,
					     dev_guard.m.data_offset -
						     dev_guard.m.offset));
		if (dev_guard.msix)
			FUZZ_CHECK(!overlaps(x, len, dev_guard.x.offset + 2u, 2));
	}
	if (dev_guard.msix) {
		FUZZ_CHECK(!overlaps(off, len,
				     dev_guard.table_base + dev_guard.x.table_offset,
				     16ull * dev_guard.x.table_size));
		FUZZ_CHECK(!overlaps(off, len,
				     dev_guard.pba_base + dev_guard.x.pba_offset,
				     (dev_guard.x.table_size + 63u) / 64u * 8u));
	}
}

static void setup_guard(struct assign_device *dev)
{
	const struct assign_region_info *ri[9] = { 0 };
	uint8_t cfg[256];

	memset(&dev_guard, 0, sizeof(dev_guard));
	for (uint32_t i = 0; i < 9; i++)
		if (assign_device_get_region(dev, i, &ri[i]) < 0)
			ri[i] = NULL;
	if (!ri[7] || assign_device_config_read(dev, 0, cfg, sizeof(cfg)) < 0)
		return;
	/* With overlapping fd ranges a write cannot be attributed. */
	for (int i = 0; i < 9; i++)
		for (int j = i + 1; j < 9; j++)
			if (ri[i] && ri[j] &&
			    overlaps(ri[i]->fd_offset, ri[i]->size,
				     ri[j]->fd_offset, ri[j]->size))
				return;
	dev_guard.cfg_base = ri[7]->fd_offset;
	dev_guard.cfg_size = ri[7]->size;
	dev_guard.m.size = sizeof(dev_guard.m);
	dev_guard.x.size = sizeof(dev_guard.x);
	dev_guard.msi = assign_pci_parse_msi(cfg, sizeof(cfg), &dev_guard.m) == 0;
	dev_guard.msix = assign_pci_parse_msix(cfg, sizeof(cfg),
					       &dev_guard.x) == 0;
	if (dev_guard.msix) {
		if (!ri[dev_guard.x.table_bar] || !ri[dev_guard.x.pba_bar])
			dev_guard.msix = false;
		else {
			dev_guard.table_base = ri[dev_guard.x.table_bar]->fd_offset;
			dev_guard.pba_base = ri[dev_guard.x.pba_bar]->fd_offset;
			dev_guard.table_bar_size = ri[dev_guard.x.table_bar]->size;
			dev_guard.pba_bar_size = ri[dev_guard.x.pba_bar]->size;
		}
	}
	dev_guard.valid = true;
}

/* Pages of BAR @bar that hold the MSI-X table or PBA: [*lo, *hi). */
static bool msix_pages(uint32_t bar, bool pba, uint64_t *lo, uint64_t *hi)
{
	uint64_t off, len;

	if (!dev_guard.valid || !dev_guard.msix)
		return false;
	if (pba) {
		if (bar != dev_guard.x.pba_bar)
			return false;
		off = dev_guard.x.pba_offset;
		len = (dev_guard.x.table_size + 63u) / 64u * 8u;
	} else {
		if (bar != dev_guard.x.table_bar)
			return false;
		off = dev_guard.x.table_offset;
		len = 16ull * dev_guard.x.table_size;
	}
	*lo = off & ~4095ull;
	*hi = (off + len + 4095) & ~4095ull;
	return true;
}

static int on_bar_map(void *data, const struct assign_vpci_bar_event *ev)
{
	uint64_t at = 0;

	FUZZ_CHECK(ev->bar < ASSIGN_VPCI_NUM_BARS);
	FUZZ_CHECK(!bars[ev->bar].mapped);
	FUZZ_CHECK(ev->size && ev->gpa + (ev->size - 1) >= ev->gpa);
	if (ev->io)
		FUZZ_CHECK(ev->gpa + (ev->size - 1) <= 0xffff);
	FUZZ_CHECK(ev->nparts && ev->parts);
	for (size_t i = 0; i < ev->nparts; i++) {
		const struct assign_vpci_bar_part *p = &ev->parts[i];
		uint64_t lo, hi;

		FUZZ_CHECK(p->offset == at && p->size);
		FUZZ_CHECK(p->size <= ev->size - p->offset);
		at = p->offset + p->size;
		if (!p->host)
			continue;
		FUZZ_CHECK(!ev->io && ev->bar != ASSIGN_VPCI_ROM_BAR);
		FUZZ_CHECK(p->offset % 4096 == 0 && p->size % 4096 == 0);
		FUZZ_CHECK(fk_mapped(p->host, p->size));
		for (int pba = 0; pba < 2; pba++)
			if (msix_pages(ev->bar, pba, &lo, &hi))
				FUZZ_CHECK(!overlaps(p->offset, p->size, lo,
						     hi - lo));
	}
	FUZZ_CHECK(at == ev->size);
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "bar_map BAR%u %s at %#llx size %#llx, %zu parts\n",
			ev->bar, ev->io ? "io" : "mem",
			(unsigned long long)ev->gpa,
			(unsigned long long)ev->size, ev->nparts);
	if (refuse_next) {
		refuse_next = false;
		return -EBUSY;
	}
	bars[ev->bar].mapped = true;
	bars[ev->bar].gpa = ev->gpa;
	bars[ev->bar].size = ev->size;
	return 0;
}

static void on_bar_unmap(void *data, const struct assign_vpci_bar_event *ev)
{
	FUZZ_CHECK(ev->bar < ASSIGN_VPCI_NUM_BARS);
	FUZZ_CHECK(bars[ev->bar].mapped);
	FUZZ_CHECK(bars[ev->bar].gpa == ev->gpa &&
		   bars[ev->bar].size == ev->size);
	bars[ev->bar].mapped = false;
}

static void on_vector(void *data, const struct assign_vpci_vector *v)
{
	FUZZ_CHECK(v->index == ASSIGN_IRQ_MSI || v->index == ASSIGN_IRQ_MSIX);
	if (v->index == ASSIGN_IRQ_MSIX && dev_guard.valid && dev_guard.msix)
		FUZZ_CHECK(v->vector < dev_guard.x.table_size);
	if (v->index == ASSIGN_IRQ_MSI)
		FUZZ_CHECK(v->vector < 32);
	if (v->enabled)
		FUZZ_CHECK(v->eventfd >= 0 && fcntl(v->eventfd, F_GETFD) >= 0);
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "vector %u.%u %s%s addr %#llx data %#x\n",
			v->index, v->vector, v->enabled ? "on" : "off",
			v->masked ? " masked" : "", (unsigned long long)v->addr,
			v->data);
}

static void on_intx(void *data, bool enabled)
{
}

static const struct assign_vpci_ops ops = {
	.size = sizeof(ops),
	.bar_map = on_bar_map,
	.bar_unmap = on_bar_unmap,
	.vector_update = on_vector,
	.intx_update = on_intx,
};

static void check_bars(void)
{
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		struct assign_vpci_bar b = { .size = sizeof(b) };

		FUZZ_CHECK(assign_vpci_get_bar(cur, i, &b) == 0);
		FUZZ_CHECK(b.mapped == bars[i].mapped);
		if (b.mapped)
			FUZZ_CHECK(b.gpa == bars[i].gpa &&
				   b.length == bars[i].size);
	}
}

static void guest_op(const struct fk_record *g)
{
	struct fuzz_in in;
	uint8_t op;

	fuzz_in_init(&in, g->data, g->len);
	op = fuzz_u8(&in) % 7;
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "guest op %u (%zu bytes)\n", op, g->len);
	switch (op) {
	case 0:
	case 1: {
		uint32_t off = fuzz_u16(&in);
		size_t len = fuzz_u8(&in) % 9;
		uint32_t val = fuzz_u32(&in);
		uint8_t *buf = malloc(len ? len : 1);

		if (!buf)
			abort();
		memcpy(buf, &val, MIN(len, sizeof(val)));
		if (op == 0)
			(void)assign_vpci_config_write(cur, off, buf, len);
		else
			(void)assign_vpci_config_read(cur, off, buf, len);
		free(buf);
		break;
	}
	case 2:
	case 3: {
		uint32_t bar = fuzz_u8(&in) % (ASSIGN_VPCI_NUM_BARS + 1);
		uint64_t off = fuzz_u64(&in);
		size_t len = fuzz_u8(&in) % 10;
		uint64_t val = fuzz_u64(&in);
		uint8_t *buf = malloc(len ? len : 1);

		if (!buf)
			abort();
		memcpy(buf, &val, MIN(len, sizeof(val)));
		(void)(op == 2 ? assign_vpci_bar_write(cur, bar, off, buf, len) : assign_vpci_bar_read(cur, bar, off, buf, len));
		free(buf);
		break;
	}
	case 4:
		(void)assign_vpci_reset(cur);
		break;
	case 5: {
		struct assign_vpci_bar b = { .size = sizeof(b) };
		struct assign_vpci_intx ix = { .size = sizeof(ix) };
		uint32_t bar = fuzz_u8(&in);

		if (assign_vpci_get_bar(cur, bar, &b) == 0 && b.present)
			FUZZ_CHECK(b.length && !(b.length & (b.length - 1)));
		if (assign_vpci_get_intx(cur, &ix) == 0 && ix.pin)
			FUZZ_CHECK(ix.pin <= 4 && ix.trigger_fd >= 0);
		break;
	}
	default:
		refuse_next = fuzz_u8(&in) & 1;
		break;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setenv("ASSIGN_LOG", "0", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assign_vpci_opts vo = { .size = sizeof(vo), .ops = &ops };
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	struct assign_ctx *ctx = NULL;
	const struct fk_record *setup;
	int efds = fk_count_eventfds();

	fk_init(&fk, data, size);
	memset(bars, 0, sizeof(bars));
	refuse_next = false;
	cur = NULL;
	memset(&dev_guard, 0, sizeof(dev_guard));
	if (fk_open_iommu(&fk, &ctx, &iommu) < 0 ||
	    assign_device_open(iommu, FK_ADDR, NULL, &dev) < 0)
		goto out;
	setup_guard(dev);
	fk.rw_hook = rw_hook;
	setup = fk_nth(&fk, FK_SETUP, 0);
	if (setup && setup->len)
		vo.flags = (setup->data[0] >> 1) & 7;
	if (assign_vpci_new(dev, &vo, &cur) < 0)
		goto out;
	check_bars();
	for (size_t i = 0; i < 128; i++) {
		const struct fk_record *g = fk_nth(&fk, FK_GUEST, i);

		if (!g)
			break;
		guest_op(g);
		check_bars();
	}
out:
	cur = assign_vpci_unref(cur);
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++)
		FUZZ_CHECK(!bars[i].mapped);
	fk.rw_hook = NULL;
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	FUZZ_CHECK(fk.open_fds == 0);
	FUZZ_CHECK(fk.live_maps == 0);
	FUZZ_CHECK(fk_count_eventfds() == efds);
	fk_fini(&fk);
	return 0;
}
