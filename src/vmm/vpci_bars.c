// SPDX-License-Identifier: MIT
/*
 * The BARs of a virtual PCI function (docs/vpci.md): the BAR registers the
 * guest programs, their placement in the guest (the bar_map and bar_unmap
 * callbacks), the cut of each BAR into direct (mmap'ed) and trapped parts,
 * and the trapped accesses, which go to the device or, for the MSI-X table
 * and PBA, to vpci_irq.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"
#include <libassign/vpci.h>

/* ---- placement -------------------------------------------------------- */

static uint64_t bar_reg_addr(const struct assign_vpci *v, uint32_t i)
{
	const struct vbar *b = &v->bars[i];
	uint32_t lo;

	if (i == ASSIGN_VPCI_ROM_BAR)
		return vpci_get32(v->shadow + ASSIGN_PCI_ROM_ADDRESS) & ~0x7ffu;
	lo = vpci_get32(v->shadow + ASSIGN_PCI_BASE_ADDRESS_0 + 4 * i);
	if (b->io)
		return lo & ~0x3u;
	if (b->mem64)
		return (uint64_t)vpci_get32(v->shadow +
					    ASSIGN_PCI_BASE_ADDRESS_0 + 4 * i +
					    4)
			       << 32 |
		       (lo & ~0xfu);
	return lo & ~0xfu;
}

/* Where the guest wants BAR i decoded, 0 for nowhere. */
static uint64_t bar_wanted(const struct assign_vpci *v, uint32_t i)
{
	const struct vbar *b = &v->bars[i];
	uint64_t a, last;

	if (!b->present)
		return 0;
	if (b->io ? !(v->command & ASSIGN_PCI_COMMAND_IO) :
		    !(v->command & ASSIGN_PCI_COMMAND_MEMORY))
		return 0;
	if (i == ASSIGN_VPCI_ROM_BAR &&
	    !(v->shadow[ASSIGN_PCI_ROM_ADDRESS] & 1))
		return 0;
	a = bar_reg_addr(v, i);
	if (!a)
		return 0; /* unplaced: firmware's convention */
	if (a > UINT64_MAX - b->size)
		return 0; /* gpa + size wraps (even to exactly 0) */
	last = a + b->size - 1;
	if (b->io && last > 0xffff)
		return 0;
	if (!b->io && !b->mem64 && last > 0xffffffffull)
		return 0;
	return a;
}

static void bar_event(const struct assign_vpci *v, uint32_t i, uint64_t gpa,
		      struct assign_vpci_bar_event *ev)
{
	const struct vbar *b = &v->bars[i];

	memset(ev, 0, sizeof(*ev));
	ev->bar = i;
	ev->io = b->io;
	ev->gpa = gpa;
	ev->size = b->size;
	ev->nparts = b->nparts;
	ev->parts = b->parts;
}

void vpci_bar_unmap(struct assign_vpci *v, uint32_t i)
{
	struct assign_vpci_bar_event ev;
	struct vbar *b = &v->bars[i];

	if (!b->mapped)
		return;
	bar_event(v, i, b->gpa, &ev);
	b->mapped = false;
	b->gpa = 0;
	if (v->ops.bar_unmap)
		v->ops.bar_unmap(v->data, &ev);
}

static bool overlaps_mapped(const struct assign_vpci *v, uint32_t i, uint64_t a)
{
	const struct vbar *b = &v->bars[i];

	for (uint32_t j = 0; j < ASSIGN_VPCI_NUM_BARS; j++) {
		const struct vbar *o = &v->bars[j];
		if (j == i || !o->mapped || o->io != b->io)
			continue;
		if (a <= o->gpa + (o->size - 1) && o->gpa <= a + (b->size - 1))
			return true;
	}
	return false;
}

/* Bring the mappings in line with the command register and the BARs. */
void vpci_bars_update(struct assign_vpci *v)
{
	uint64_t want[ASSIGN_VPCI_NUM_BARS];
	struct assign_vpci_bar_event ev;

	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		want[i] = bar_wanted(v, i);
		if (v->bars[i].mapped && v->bars[i].gpa != want[i])
			vpci_bar_unmap(v, i);
	}
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		struct vbar *b = &v->bars[i];
		if (b->mapped || !want[i])
			continue;
		if (overlaps_mapped(v, i, want[i])) {
			dbg_limited(
				v->ctx, &v->log_bar_overlap,
				"%s: BAR%u at %#llx overlaps another of its BARs; left unmapped",
				assign_device_get_name(v->dev), i,
				(unsigned long long)want[i]);
			continue;
		}
		bar_event(v, i, want[i], &ev);
		if (v->ops.bar_map && v->ops.bar_map(v->data, &ev) < 0)
			continue;
		b->mapped = true;
		b->gpa = want[i];
	}
}

/* ---- BAR registers ---------------------------------------------------- */

/* A write landed on BAR register r (0-5): keep the address bits only. */
void vpci_bar_reg_fixup(struct assign_vpci *v, uint32_t r)
{
	uint8_t *reg = v->shadow + ASSIGN_PCI_BASE_ADDRESS_0 + 4 * r;
	const struct vbar *b = &v->bars[r];
	uint32_t val = vpci_get32(reg);

	if (b->present && b->io)
		val = (val & ~(uint32_t)(b->size - 1) & ~0x3u) | 0x1u;
	else if (b->present)
		val = (val & ~(uint32_t)(b->size - 1) & ~0xfu) |
		      (b->mem64 ? 0x4u : 0) | (b->prefetch ? 0x8u : 0);
	else if (r > 0 && v->bars[r - 1].present && v->bars[r - 1].mem64)
		val &= (uint32_t)(~(v->bars[r - 1].size - 1) >> 32);
	else
		val = 0;
	vpci_put32(reg, val);
}

void vpci_rom_reg_fixup(struct assign_vpci *v)
{
	const struct vbar *b = &v->bars[ASSIGN_VPCI_ROM_BAR];
	uint32_t val = vpci_get32(v->shadow + ASSIGN_PCI_ROM_ADDRESS);

	if (b->present)
		val = (val & ~(uint32_t)(b->size - 1) & ~0x7ffu) | (val & 1u);
	else
		val = 0;
	vpci_put32(v->shadow + ASSIGN_PCI_ROM_ADDRESS, val);
}

/* The BARs as the device has them; their registers emulated. */
int vpci_bars_setup(struct assign_vpci *v)
{
	struct assign_pci_bar bars[6] = { { .size = sizeof(bars[0]) } };
	const struct assign_region_info *ri;
	int r;

	r = assign_device_get_bars(v->dev, bars);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < 6; i++) {
		struct vbar *b = &v->bars[i];
		b->present = bars[i].present;
		b->io = bars[i].io;
		b->mem64 = bars[i].mem64;
		b->prefetch = bars[i].prefetchable;
		b->size = bars[i].length;
	}
	if (!(v->flags & ASSIGN_VPCI_F_NO_ROM) &&
	    assign_device_get_region(v->dev, ASSIGN_PCI_ROM_REGION, &ri) == 0 &&
	    ri->size && !(ri->size & (ri->size - 1)) && ri->size <= 1u << 31 &&
	    (ri->flags & ASSIGN_REGION_F_READ)) {
		v->bars[ASSIGN_VPCI_ROM_BAR].present = true;
		v->bars[ASSIGN_VPCI_ROM_BAR].size = MAX(ri->size, 2048u);
	}
	vpci_emulate(v, ASSIGN_PCI_BASE_ADDRESS_0, 24, 0xff);
	vpci_emulate(v, ASSIGN_PCI_ROM_ADDRESS, 4, 0xff);
	for (uint32_t i = 0; i < 6; i++)
		vpci_bar_reg_fixup(v, i);
	vpci_rom_reg_fixup(v);
	return 0;
}

/* ---- direct and trapped parts ------------------------------------------ */

struct piece {
	uint64_t s, e;
};

static int piece_cmp(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	return x->s < y->s ? -1 : x->s > y->s;
}

/* Cut [s, e) minus @ex (n intervals) into @out; returns the count. */
static size_t subtract(uint64_t s, uint64_t e, const struct piece *ex, size_t n,
		       struct piece *out)
{
	size_t k = 0;
	struct piece cur[4];
	size_t ncur = 1;

	cur[0].s = s;
	cur[0].e = e;
	for (size_t x = 0; x < n; x++) {
		struct piece next[4];
		size_t nn = 0;
		for (size_t c = 0; c < ncur; c++) {
			if (ex[x].e <= cur[c].s || cur[c].e <= ex[x].s) {
				next[nn++] = cur[c];
				continue;
			}
			if (cur[c].s < ex[x].s)
				next[nn++] =
					(struct piece){ cur[c].s, ex[x].s };
			if (ex[x].e < cur[c].e)
				next[nn++] =
					(struct piece){ ex[x].e, cur[c].e };
		}
		memcpy(cur, next, nn * sizeof(*next));
		ncur = nn;
	}
	for (size_t c = 0; c < ncur; c++)
		out[k++] = cur[c];
	return k;
}

/* The pages holding [off, off + len). */
static struct piece pages_of(uint64_t off, uint64_t len, uint64_t pg)
{
	return (struct piece){ off / pg * pg, (off + len + pg - 1) / pg * pg };
}

/*
 * The direct (mmap-able) pieces of BAR i: the region's mmap areas, trimmed
 * to whole pages inside the BAR, minus the pages holding the MSI-X table
 * and PBA. *out is malloc'ed (NULL when there are none).
 */
static int direct_pieces(struct assign_vpci *v, uint32_t i,
			 const struct assign_region_info *ri,
			 struct piece **out, size_t *n)
{
	const struct vbar *b = &v->bars[i];
	const uint64_t pg = v->page;
	struct piece ex[2], *p;
	size_t nex = 0, k = 0;

	*out = NULL;
	*n = 0;
	if (!ri->nareas || !(ri->flags & ASSIGN_REGION_F_MMAP))
		return 0;
	if (v->has_msix && v->msix.table_bar == i)
		ex[nex++] = pages_of(v->msix.table_offset,
				     vpci_msix_table_bytes(&v->msix), pg);
	if (v->has_msix && v->msix.pba_bar == i)
		ex[nex++] = pages_of(v->msix.pba_offset,
				     vpci_msix_pba_bytes(&v->msix), pg);
	p = calloc((size_t)ri->nareas * 3, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (uint32_t a = 0; a < ri->nareas; a++) {
		uint64_t s = ri->areas[a].offset, e;
		if (s >= b->size)
			continue;
		e = ri->areas[a].size > b->size - s ? b->size :
						      s + ri->areas[a].size;
		s = (s + pg - 1) / pg * pg;
		e = e / pg * pg;
		if (s >= e)
			continue;
		k += subtract(s, e, ex, nex, p + k);
	}
	if (!k) {
		free(p);
		return 0;
	}
	qsort(p, k, sizeof(*p), piece_cmp);
	/* merge overlapping and adjacent pieces */
	size_t m = 0;
	for (size_t j = 1; j < k; j++) {
		if (p[j].s <= p[m].e) {
			if (p[j].e > p[m].e)
				p[m].e = p[j].e;
		} else {
			p[++m] = p[j];
		}
	}
	*out = p;
	*n = m + 1;
	return 0;
}

/* Cut BAR i into direct and trapped parts, mmapping it if worth it. */
static int bar_setup_parts(struct assign_vpci *v, uint32_t i)
{
	struct vbar *b = &v->bars[i];
	const struct assign_region_info *ri;
	struct piece *d = NULL;
	size_t nd = 0, k = 0;
	uint64_t at = 0;
	int r;

	if (!b->io && i != ASSIGN_VPCI_ROM_BAR &&
	    !(v->flags & ASSIGN_VPCI_F_NO_MMAP) &&
	    assign_device_get_region(v->dev, i, &ri) == 0) {
		r = direct_pieces(v, i, ri, &d, &nd);
		if (r < 0)
			return set_error(v->ctx, r, "out of memory");
		if (nd && assign_region_mmap(v->dev, i, &b->host) < 0) {
			info(v->ctx,
			     "%s: BAR%u cannot be mmap'ed (%s); it traps",
			     assign_device_get_name(v->dev), i,
			     assign_ctx_get_last_error(v->ctx));
			b->host = NULL;
			nd = 0;
		}
	}
	b->parts = calloc(2 * nd + 1, sizeof(*b->parts));
	if (!b->parts) {
		free(d);
		return set_error(v->ctx, -ENOMEM, "out of memory");
	}
	for (size_t j = 0; j < nd; j++) {
		if (d[j].s > at)
			b->parts[k++] =
				(struct assign_vpci_bar_part){ at, d[j].s - at,
							       NULL };
		b->parts[k++] = (struct assign_vpci_bar_part){
			d[j].s, d[j].e - d[j].s, (uint8_t *)b->host + d[j].s
		};
		at = d[j].e;
	}
	if (at < b->size)
		b->parts[k++] =
			(struct assign_vpci_bar_part){ at, b->size - at, NULL };
	b->nparts = k;
	free(d);
	return 0;
}

/* Every present BAR cut, after the MSI-X table and PBA are known. */
int vpci_bars_setup_parts(struct assign_vpci *v)
{
	int r;

	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		if (!v->bars[i].present)
			continue;
		r = bar_setup_parts(v, i);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The mmaps and parts, once the BARs are out of the guest. */
void vpci_bars_free(struct assign_vpci *v)
{
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		if (v->bars[i].host)
			assign_region_munmap(v->dev, i);
		free(v->bars[i].parts);
	}
}

/* ---- trapped BAR accesses ---------------------------------------------- */

/* A trapped access the device answers; a failed read reads all-ones. */
int vpci_region_access(struct assign_vpci *v, uint32_t index, uint64_t off,
		       uint8_t *p, size_t len, bool is_write)
{
	int r = is_write ? assign_region_write(v->dev, index, off, p, len) :
			   assign_region_read(v->dev, index, off, p, len);

	if (r < 0 && !is_write)
		memset(p, 0xff, len);
	return r;
}

/* An access the caller should not have passed on: say which; a read of a
 * BAR reads all-ones. */
static int bar_check(const struct assign_vpci *vpci, uint32_t bar,
		     uint64_t offset, void *data, size_t len, bool is_write)
{
	const struct vbar *b;

	if (bar >= ASSIGN_VPCI_NUM_BARS || !len || len > 8)
		return set_error(vpci->ctx, -EINVAL,
				 "%s: BAR %u %s of %zu bytes: no such BAR, or "
				 "not 1 to 8 bytes",
				 assign_device_get_name(vpci->dev), bar,
				 is_write ? "write" : "read", len);
	b = &vpci->bars[bar];
	if (b->present && offset < b->size && len <= b->size - offset)
		return 0;
	if (!is_write)
		memset(data, 0xff, len);
	if (!b->present)
		return set_error(vpci->ctx, -EINVAL,
				 "%s: BAR %u %s: the BAR is not present",
				 assign_device_get_name(vpci->dev), bar,
				 is_write ? "write" : "read");
	return set_error(vpci->ctx, -EINVAL,
			 "%s: BAR %u %s of %zu bytes at 0x%" PRIx64
			 ": outside the BAR (0x%" PRIx64 " bytes)",
			 assign_device_get_name(vpci->dev), bar,
			 is_write ? "write" : "read", len, offset, b->size);
}

/* The ROM is read-only; the MSI-X table and PBA are emulated; the rest
 * is the device's. Every access to the device is made under the lock,
 * the ROM's too: the device object is used by one thread at a time
 * (docs/errors.md), and vCPU threads reach it only through this object. */
static int bar_access(struct assign_vpci *vpci, uint32_t bar, uint64_t offset,
		      void *data, size_t len, bool is_write)
{
	int r;

	if (!vpci || !data)
		return -EINVAL;
	r = bar_check(vpci, bar, offset, data, len, is_write);
	if (r < 0)
		return r;
	if (bar == ASSIGN_VPCI_ROM_BAR && is_write)
		return 0; /* read-only memory */
	pthread_mutex_lock(&vpci->lock);
	vpci_intx_poll(vpci);
	if (bar == ASSIGN_VPCI_ROM_BAR)
		r = vpci_region_access(vpci, ASSIGN_PCI_ROM_REGION, offset,
				       data, len, false);
	else if (vpci_msix_touches(vpci, bar, offset, len))
		r = vpci_msix_access(vpci, bar, offset, data, len, is_write);
	else
		r = vpci_region_access(vpci, bar, offset, data, len, is_write);
	pthread_mutex_unlock(&vpci->lock);
	return r;
}

ASSIGN_EXPORT int assign_vpci_bar_read(struct assign_vpci *vpci, uint32_t bar,
				       uint64_t offset, void *data, size_t len)
{
	return bar_access(vpci, bar, offset, data, len, false);
}

ASSIGN_EXPORT int assign_vpci_bar_write(struct assign_vpci *vpci, uint32_t bar,
					uint64_t offset, const void *data,
					size_t len)
{
	/* Written, never modified: bar_access() only reads @data here. */
	return bar_access(vpci, bar, offset, (void *)(uintptr_t)data, len,
			  true);
}

/* ---- queries ---------------------------------------------------------- */

ASSIGN_EXPORT int assign_vpci_get_bar(const struct assign_vpci *vpci,
				      uint32_t bar,
				      struct assign_vpci_bar *info)
{
	struct assign_vpci_bar x = { .size = sizeof(x) };
	const struct vbar *b;

	if (!vpci || bar >= ASSIGN_VPCI_NUM_BARS ||
	    sized_out_check(vpci->ctx, info, "assign_vpci_bar") < 0)
		return -EINVAL;
	b = &vpci->bars[bar];
	pthread_mutex_lock((pthread_mutex_t *)&vpci->lock);
	x.present = b->present;
	x.io = b->io;
	x.mem64 = b->mem64;
	x.prefetchable = b->prefetch;
	x.length = b->present ? b->size : 0;
	x.mapped = b->mapped;
	x.gpa = b->gpa;
	pthread_mutex_unlock((pthread_mutex_t *)&vpci->lock);
	SIZED_OUT_FILL(info, &x);
	return 0;
}
