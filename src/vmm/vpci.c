// SPDX-License-Identifier: MIT
/*
 * Virtual PCI function for an assigned device (include/libassign/vpci.h,
 * docs/vpci.md): virtual config space, BAR placement, MSI/MSI-X emulation
 * with library-owned eventfds, INTx.
 *
 * Lifted from the example VMM's device model (examples/assign-vmm) and made
 * VMM-agnostic. Everything a guest writes is untrusted: config accesses are
 * checked for size and alignment, BAR accesses for bounds, MSI-X table
 * accesses are done byte by byte against the table's bounds, and the bytes
 * of the MSI and MSI-X capabilities are never written to the device.
 *
 * Layering note: the eventfds (and the poll() that reads their pending
 * state) are made here with eventfd(2)/poll(2) directly; the sys seam has
 * no eventfd entry yet. They are not VFIO objects, so the mock kernel is
 * not bypassed: it takes real eventfds.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/sys.h"
#include "vmm/vmm.h"
#include <libassign/vpci.h>

#define EMU_SIZE 256u

/* The MSI-X control bits in the control word's high byte */
#define MSIX_CTRL_ENABLE (ASSIGN_PCI_MSIX_FLAGS_ENABLE >> 8)
#define MSIX_CTRL_MASKALL (ASSIGN_PCI_MSIX_FLAGS_MASKALL >> 8)

struct vbar {
	bool present, io, mem64, prefetch;
	uint64_t size;
	void *host;                      /* assign_region_mmap() base or NULL */
	struct assign_vpci_bar_part *parts;
	size_t nparts;
	bool mapped;
	uint64_t gpa;
};

struct vvec {
	int efd;
	bool reported;
	struct assign_vpci_vector last;
};

struct assign_vpci {
	int refcount;
	struct assign_ctx *ctx;
	struct assign_device *dev;
	pthread_mutex_t lock;
	struct assign_vpci_ops ops;
	void *data;
	uint32_t flags;
	size_t cfg_size;
	uint64_t page;

	uint8_t shadow[EMU_SIZE];        /* emulated bytes */
	uint8_t init[EMU_SIZE];          /* shadow at creation, for reset */
	uint8_t emu[EMU_SIZE];           /* 1: byte emulated */
	uint8_t wmask[EMU_SIZE];         /* guest-writable bits of emulated bytes */
	uint16_t command;                /* the guest's command register */
	struct vbar bars[ASSIGN_VPCI_NUM_BARS];

	bool has_msix;
	struct assign_pci_msix msix;
	uint32_t msix_nvec;              /* vectors the kernel offers */
	uint8_t *table;                  /* table_size * 16 bytes */
	struct vvec *msix_vec;           /* msix_nvec entries */
	bool msix_on;

	bool has_msi;
	struct assign_pci_msi msi;
	uint16_t msi_end;                /* end of the emulated MSI bytes */
	struct vvec msi_vec;
	bool msi_on;

	uint8_t pin;
	int intx_efd, intx_resample;
	bool intx_on;

	/* the last vector update, not given yet (see report()) */
	struct assign_vpci_vector held;
	bool holding;
};

/* ---- little helpers ------------------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static bool touches(uint32_t off, size_t len, uint32_t start, uint32_t n)
{
	return off < (uint64_t)start + n && start < (uint64_t)off + len;
}

static void emulate(struct assign_vpci *v, uint32_t off, uint32_t len,
		    uint8_t wmask)
{
	for (uint32_t i = off; i < off + len && i < EMU_SIZE; i++) {
		v->emu[i] = 1;
		v->wmask[i] = wmask;
	}
}

static int new_eventfd(struct assign_vpci *v, int *fd)
{
	int r = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r < 0)
		return set_error(v->ctx, -errno,
				 "%s: cannot create an eventfd: %s",
				 assign_device_get_address(v->dev),
				 strerror(errno));
	*fd = r;
	return 0;
}

static bool efd_pending(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- INTx ------------------------------------------------------------ */

static int intx_set(struct assign_vpci *v, bool on, bool notify)
{
	int r;

	if (!v->pin || v->intx_on == on)
		return 0;
	if (on) {
		r = assign_irq_set_eventfds(v->dev, ASSIGN_IRQ_INTX, 0, 1,
					    &v->intx_efd);
		if (r < 0)
			return r;
		r = assign_irq_set_unmask_eventfd(v->dev, ASSIGN_IRQ_INTX,
						  v->intx_resample);
		if (r < 0) {
			assign_irq_disable(v->dev, ASSIGN_IRQ_INTX);
			return r;
		}
	} else {
		assign_irq_disable(v->dev, ASSIGN_IRQ_INTX);
	}
	v->intx_on = on;
	if (notify && v->ops.intx_update)
		v->ops.intx_update(v->data, on);
	return 0;
}

/* INTx is live when neither MSI nor MSI-X is. */
static void intx_follow(struct assign_vpci *v)
{
	int r = intx_set(v, !v->msi_on && !v->msix_on, true);
	if (r < 0)
		warn(v->ctx, "%s: re-arming INTx failed: %s",
		     assign_device_get_address(v->dev), strerror(-r));
}

/* ---- vectors ---------------------------------------------------------- */

/*
 * Vector updates are given one behind, so the last of an access can say
 * that no more follow (@more false): report() gives the one it held with
 * @more true and holds the new one; reports_end(), at the end of every
 * access that may report, gives the held one with @more false.
 */
static void report(struct assign_vpci *v, struct vvec *vv,
		   const struct assign_vpci_vector *now)
{
	if (vv->reported && !memcmp(&vv->last, now, sizeof(*now)))
		return;
	memcpy(&vv->last, now, sizeof(*now));   /* padding included */
	vv->reported = true;
	if (!v->ops.vector_update)
		return;
	if (v->holding) {
		v->held.more = true;
		v->ops.vector_update(v->data, &v->held);
	}
	v->held = *now;
	v->holding = true;
}

static void reports_end(struct assign_vpci *v)
{
	if (!v->holding)
		return;
	v->holding = false;
	v->held.more = false;
	v->ops.vector_update(v->data, &v->held);
}

static bool msix_fmasked(const struct assign_vpci *v)
{
	return v->shadow[v->msix.offset + 3] & MSIX_CTRL_MASKALL;
}

static bool msix_entry_masked(const struct assign_vpci *v, uint32_t i)
{
	return msix_fmasked(v) || (v->table[i * ASSIGN_PCI_MSIX_ENTRY_SIZE + 12] & 1);
}

static void msix_report(struct assign_vpci *v, uint32_t i)
{
	struct assign_vpci_vector now;
	const uint8_t *e = v->table + (size_t)i * ASSIGN_PCI_MSIX_ENTRY_SIZE;

	if (i >= v->msix_nvec || !v->msix_vec)
		return;
	memset(&now, 0, sizeof(now));
	now.index = ASSIGN_IRQ_MSIX;
	now.vector = i;
	now.enabled = v->msix_on;
	now.masked = msix_entry_masked(v, i);
	now.addr = (uint64_t)get32(e + 4) << 32 | get32(e);
	now.data = get32(e + 8);
	now.eventfd = v->msix_vec[i].efd;
	report(v, &v->msix_vec[i], &now);
}

static void msix_report_all(struct assign_vpci *v)
{
	for (uint32_t i = 0; i < v->msix_nvec; i++)
		msix_report(v, i);
}

static bool msi_masked(const struct assign_vpci *v)
{
	return v->msi.per_vector_mask && (v->shadow[v->msi.mask_offset] & 1);
}

static void msi_report(struct assign_vpci *v)
{
	struct assign_vpci_vector now;
	const struct assign_pci_msi *m = &v->msi;

	if (v->msi_vec.efd < 0)
		return;
	memset(&now, 0, sizeof(now));
	now.index = ASSIGN_IRQ_MSI;
	now.enabled = v->msi_on;
	now.masked = msi_masked(v);
	now.addr = get32(v->shadow + m->offset + 4);
	if (m->addr64)
		now.addr |= (uint64_t)get32(v->shadow + m->offset + 8) << 32;
	now.data = (uint32_t)v->shadow[m->data_offset] |
		   (uint32_t)v->shadow[m->data_offset + 1] << 8;
	now.eventfd = v->msi_vec.efd;
	report(v, &v->msi_vec, &now);
}

static int msix_disable(struct assign_vpci *v)
{
	int r;

	if (!v->msix_on)
		return 0;
	r = assign_irq_disable(v->dev, ASSIGN_IRQ_MSIX);
	v->msix_on = false;
	msix_report_all(v);
	return r;
}

static int msi_disable(struct assign_vpci *v)
{
	int r;

	if (!v->msi_on)
		return 0;
	r = assign_irq_disable(v->dev, ASSIGN_IRQ_MSI);
	v->msi_on = false;
	msi_report(v);
	return r;
}

static int msix_enable(struct assign_vpci *v)
{
	int *fds, r;

	if (!v->msix_nvec)
		return set_error(v->ctx, -ENODEV,
				 "%s: the guest enabled MSI-X but the kernel offers no MSI-X vectors",
				 assign_device_get_address(v->dev));
	if (!v->msix_vec) {
		v->msix_vec = calloc(v->msix_nvec, sizeof(*v->msix_vec));
		if (!v->msix_vec)
			return set_error(v->ctx, -ENOMEM, "out of memory");
		for (uint32_t i = 0; i < v->msix_nvec; i++)
			v->msix_vec[i].efd = -1;
	}
	fds = calloc(v->msix_nvec, sizeof(*fds));
	if (!fds)
		return set_error(v->ctx, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < v->msix_nvec; i++) {
		if (v->msix_vec[i].efd < 0) {
			r = new_eventfd(v, &v->msix_vec[i].efd);
			if (r < 0) {
				free(fds);
				return r;
			}
		}
		fds[i] = v->msix_vec[i].efd;
	}
	msi_disable(v);
	intx_set(v, false, true);
	r = assign_irq_set_eventfds(v->dev, ASSIGN_IRQ_MSIX, 0, v->msix_nvec,
				    fds);
	free(fds);
	if (r < 0) {
		intx_follow(v);
		return r;
	}
	v->msix_on = true;
	return 0;
}

static int msi_enable(struct assign_vpci *v)
{
	int r;

	if (v->msi_vec.efd < 0) {
		r = new_eventfd(v, &v->msi_vec.efd);
		if (r < 0)
			return r;
	}
	msix_disable(v);
	intx_set(v, false, true);
	r = assign_irq_set_eventfds(v->dev, ASSIGN_IRQ_MSI, 0, 1,
				    &v->msi_vec.efd);
	if (r < 0) {
		intx_follow(v);
		return r;
	}
	v->msi_on = true;
	return 0;
}

/* The guest wrote the MSI-X control word. */
static int msix_control(struct assign_vpci *v)
{
	bool on = v->shadow[v->msix.offset + 3] & MSIX_CTRL_ENABLE;
	int r = 0;

	if (on && !v->msix_on)
		r = msix_enable(v);
	else if (!on && v->msix_on) {
		r = msix_disable(v);
		intx_follow(v);
		return r;
	}
	msix_report_all(v);
	return r;
}

/* The guest wrote somewhere in the MSI capability. */
static int msi_changed(struct assign_vpci *v)
{
	bool on = v->shadow[v->msi.offset + 2] & ASSIGN_PCI_MSI_FLAGS_ENABLE;
	int r = 0;

	if (on && !v->msi_on)
		r = msi_enable(v);
	else if (!on && v->msi_on) {
		r = msi_disable(v);
		intx_follow(v);
		return r;
	}
	msi_report(v);
	return r;
}

/* ---- BARs -------------------------------------------------------------- */

static uint64_t bar_reg_addr(const struct assign_vpci *v, uint32_t i)
{
	const struct vbar *b = &v->bars[i];
	uint32_t lo;

	if (i == ASSIGN_VPCI_ROM_BAR)
		return get32(v->shadow + ASSIGN_PCI_ROM_ADDRESS) & ~0x7ffu;
	lo = get32(v->shadow + ASSIGN_PCI_BASE_ADDRESS_0 + 4 * i);
	if (b->io)
		return lo & ~0x3u;
	if (b->mem64)
		return (uint64_t)get32(v->shadow + ASSIGN_PCI_BASE_ADDRESS_0 + 4 * i + 4) << 32 |
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
	if (b->io ? !(v->command & ASSIGN_PCI_COMMAND_IO) : !(v->command & ASSIGN_PCI_COMMAND_MEMORY))
		return 0;
	if (i == ASSIGN_VPCI_ROM_BAR && !(v->shadow[ASSIGN_PCI_ROM_ADDRESS] & 1))
		return 0;
	a = bar_reg_addr(v, i);
	if (!a)
		return 0;              /* unplaced: firmware's convention */
	if (a > UINT64_MAX - b->size)
		return 0;              /* gpa + size wraps (even to exactly 0) */
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

static void bar_unmap(struct assign_vpci *v, uint32_t i)
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

static bool overlaps_mapped(const struct assign_vpci *v, uint32_t i,
			    uint64_t a)
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
static void bars_update(struct assign_vpci *v)
{
	uint64_t want[ASSIGN_VPCI_NUM_BARS];
	struct assign_vpci_bar_event ev;

	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		want[i] = bar_wanted(v, i);
		if (v->bars[i].mapped && v->bars[i].gpa != want[i])
			bar_unmap(v, i);
	}
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		struct vbar *b = &v->bars[i];
		if (b->mapped || !want[i])
			continue;
		if (overlaps_mapped(v, i, want[i])) {
			dbg(v->ctx, "%s: BAR%u at %#llx overlaps another of its BARs; left unmapped",
			    assign_device_get_address(v->dev), i,
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

/* A write landed on BAR register r (0-5): keep the address bits only. */
static void bar_reg_fixup(struct assign_vpci *v, uint32_t r)
{
	uint8_t *reg = v->shadow + ASSIGN_PCI_BASE_ADDRESS_0 + 4 * r;
	const struct vbar *b = &v->bars[r];
	uint32_t val = get32(reg);

	if (b->present && b->io)
		val = (val & ~(uint32_t)(b->size - 1) & ~0x3u) | 0x1u;
	else if (b->present)
		val = (val & ~(uint32_t)(b->size - 1) & ~0xfu) |
		      (b->mem64 ? 0x4u : 0) | (b->prefetch ? 0x8u : 0);
	else if (r > 0 && v->bars[r - 1].present && v->bars[r - 1].mem64)
		val &= (uint32_t)(~(v->bars[r - 1].size - 1) >> 32);
	else
		val = 0;
	put32(reg, val);
}

static void rom_reg_fixup(struct assign_vpci *v)
{
	const struct vbar *b = &v->bars[ASSIGN_VPCI_ROM_BAR];
	uint32_t val = get32(v->shadow + ASSIGN_PCI_ROM_ADDRESS);

	if (b->present)
		val = (val & ~(uint32_t)(b->size - 1) & ~0x7ffu) | (val & 1u);
	else
		val = 0;
	put32(v->shadow + ASSIGN_PCI_ROM_ADDRESS, val);
}

struct piece {
	uint64_t s, e;
};

static int piece_cmp(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	return x->s < y->s ? -1 : x->s > y->s;
}

/* Cut [s, e) minus @ex (n intervals) into @out; returns the count. */
static size_t subtract(uint64_t s, uint64_t e, const struct piece *ex,
		       size_t n, struct piece *out)
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
				next[nn++] = (struct piece){ cur[c].s, ex[x].s };
			if (ex[x].e < cur[c].e)
				next[nn++] = (struct piece){ ex[x].e, cur[c].e };
		}
		memcpy(cur, next, nn * sizeof(*next));
		ncur = nn;
	}
	for (size_t c = 0; c < ncur; c++)
		out[k++] = cur[c];
	return k;
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
	if (v->has_msix && v->msix.table_bar == i) {
		uint64_t t = v->msix.table_offset;
		ex[nex].s = t / pg * pg;
		ex[nex].e = (t + (uint64_t)v->msix.table_size * ASSIGN_PCI_MSIX_ENTRY_SIZE +
			     pg - 1) / pg * pg;
		nex++;
	}
	if (v->has_msix && v->msix.pba_bar == i) {
		uint64_t t = v->msix.pba_offset;
		ex[nex].s = t / pg * pg;
		ex[nex].e = (t + ((uint64_t)v->msix.table_size + 63) / 64 * 8 +
			     pg - 1) / pg * pg;
		nex++;
	}
	p = calloc((size_t)ri->nareas * 3, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (uint32_t a = 0; a < ri->nareas; a++) {
		uint64_t s = ri->areas[a].offset, e;
		if (s >= b->size)
			continue;
		e = ri->areas[a].size > b->size - s ? b->size
						    : s + ri->areas[a].size;
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
			info(v->ctx, "%s: BAR%u cannot be mmap'ed (%s); it traps",
			     assign_device_get_address(v->dev), i,
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
			b->parts[k++] = (struct assign_vpci_bar_part){
				at, d[j].s - at, NULL };
		b->parts[k++] = (struct assign_vpci_bar_part){
			d[j].s, d[j].e - d[j].s, (uint8_t *)b->host + d[j].s };
		at = d[j].e;
	}
	if (at < b->size)
		b->parts[k++] = (struct assign_vpci_bar_part){
			at, b->size - at, NULL };
	b->nparts = k;
	free(d);
	return 0;
}

/* ---- construction ------------------------------------------------------ */

/* The options and callbacks, checked and copied (unknown fields zero). */
static int read_opts(struct assign_ctx *ctx, const struct assign_vpci_opts *in,
		     struct assign_vpci_opts *o, struct assign_vpci_ops *ops)
{
	const uint32_t known = ASSIGN_VPCI_F_NO_ROM | ASSIGN_VPCI_F_NO_MMAP |
			       ASSIGN_VPCI_F_NO_INTX;
	int r;

	r = SIZED_IN(ctx, o, in, "assign_vpci_opts");
	if (r < 0)
		return r;
	if (o->flags & ~known)
		return set_error(ctx, -EINVAL,
				 "assign_vpci_opts.flags 0x%x has unknown bits",
				 o->flags);
	return SIZED_IN(ctx, ops, o->ops, "assign_vpci_ops");
}

static int setup_msix(struct assign_vpci *v, const uint8_t *cfg)
{
	const char *name = assign_device_get_address(v->dev);
	struct assign_pci_msix *x = &v->msix;
	struct assign_irq_info ii = { .size = sizeof(ii) };
	const struct vbar *tb, *pb;
	int r;

	x->size = sizeof(*x);
	r = assign_pci_parse_msix(cfg, EMU_SIZE, x);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return set_error(v->ctx, -EPROTO,
				 "%s: malformed MSI-X capability", name);
	tb = &v->bars[x->table_bar];
	pb = &v->bars[x->pba_bar];
	if (!tb->present || tb->io ||
	    x->table_offset + (uint64_t)x->table_size * ASSIGN_PCI_MSIX_ENTRY_SIZE > tb->size)
		return set_error(v->ctx, -EPROTO,
				 "%s: the MSI-X table (BAR%u + %#x, %u entries) lies outside its BAR",
				 name, x->table_bar, x->table_offset,
				 x->table_size);
	if (!pb->present || pb->io ||
	    x->pba_offset + ((uint64_t)x->table_size + 63) / 64 * 8 > pb->size)
		return set_error(v->ctx, -EPROTO,
				 "%s: the MSI-X PBA (BAR%u + %#x) lies outside its BAR",
				 name, x->pba_bar, x->pba_offset);
	v->has_msix = true;
	if (assign_device_get_irq_info(v->dev, ASSIGN_IRQ_MSIX, &ii) == 0 &&
	    (ii.flags & ASSIGN_IRQ_F_EVENTFD))
		v->msix_nvec = MIN(ii.count, (uint32_t)x->table_size);
	v->table = calloc(x->table_size, ASSIGN_PCI_MSIX_ENTRY_SIZE);
	if (!v->table)
		return set_error(v->ctx, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < x->table_size; i++)
		v->table[i * ASSIGN_PCI_MSIX_ENTRY_SIZE + 12] = 1;     /* masked */
	/* header, control, table and PBA registers: only the control
	 * word's Enable and Function Mask bits are the guest's */
	emulate(v, x->offset, 12, 0);
	memcpy(v->shadow + x->offset, cfg + x->offset, 12);
	v->wmask[x->offset + 3] = MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL;
	v->shadow[x->offset + 3] &= (uint8_t)~(MSIX_CTRL_ENABLE |
					       MSIX_CTRL_MASKALL);
	return 0;
}

static int setup_msi(struct assign_vpci *v, const uint8_t *cfg)
{
	struct assign_pci_msi *m = &v->msi;
	struct assign_irq_info ii = { .size = sizeof(ii) };
	uint32_t end;
	int r;

	m->size = sizeof(*m);
	r = assign_pci_parse_msi(cfg, EMU_SIZE, m);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return set_error(v->ctx, -EPROTO, "%s: malformed MSI capability",
				 assign_device_get_address(v->dev));
	if (assign_device_get_irq_info(v->dev, ASSIGN_IRQ_MSI, &ii) < 0 ||
	    !ii.count || !(ii.flags & ASSIGN_IRQ_F_EVENTFD))
		info(v->ctx, "%s: MSI capability without MSI vectors in VFIO",
		     assign_device_get_address(v->dev));
	/* the (extended) data dword, and the mask and pending registers */
	end = m->per_vector_mask ? m->mask_offset + 8u : m->data_offset + 4u;
	v->msi_end = (uint16_t)MIN(end, EMU_SIZE);
	emulate(v, m->offset, v->msi_end - m->offset, 0);
	memset(v->shadow + m->offset, 0, v->msi_end - m->offset);
	v->shadow[m->offset] = cfg[m->offset];
	v->shadow[m->offset + 1] = cfg[m->offset + 1];
	/* one vector: MMC = MME = 0; keep 64-bit and per-vector masking;
	 * no extended message data */
	v->shadow[m->offset + 2] = cfg[m->offset + 2] & 0x80;
	v->shadow[m->offset + 3] = cfg[m->offset + 3] & 0x01;
	v->wmask[m->offset + 2] = ASSIGN_PCI_MSI_FLAGS_ENABLE;
	v->wmask[m->offset + 4] = 0xfc;
	memset(v->wmask + m->offset + 5, 0xff, 3);
	if (m->addr64)
		memset(v->wmask + m->offset + 8, 0xff, 4);
	memset(v->wmask + m->data_offset, 0xff, 2);
	if (m->per_vector_mask)
		v->wmask[m->mask_offset] = 0x01;
	v->has_msi = true;
	return 0;
}

static int setup_bars(struct assign_vpci *v, const uint8_t *cfg)
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
	emulate(v, ASSIGN_PCI_BASE_ADDRESS_0, 24, 0xff);
	emulate(v, ASSIGN_PCI_ROM_ADDRESS, 4, 0xff);
	for (uint32_t i = 0; i < 6; i++)
		bar_reg_fixup(v, i);
	rom_reg_fixup(v);
	(void)cfg;
	return 0;
}

static int vpci_setup(struct assign_vpci *v)
{
	const char *name = assign_device_get_address(v->dev);
	struct assign_device_info di = { .size = sizeof(di) };
	const struct assign_region_info *ri;
	struct assign_irq_info ii = { .size = sizeof(ii) };
	uint8_t cfg[EMU_SIZE];
	int r;

	if (assign_device_get_info(v->dev, &di) < 0 ||
	    !(di.flags & ASSIGN_DEVICE_F_PCI))
		return set_error(v->ctx, -EINVAL,
				 "%s is not a PCI device: vpci emulates PCI functions only",
				 name);
	r = assign_device_get_region(v->dev, ASSIGN_PCI_CONFIG_REGION, &ri);
	if (r < 0)
		return r;
	if (ri->size < EMU_SIZE)
		return set_error(v->ctx, -EINVAL,
				 "%s: config space of %llu bytes is too small",
				 name, (unsigned long long)ri->size);
	v->cfg_size = ri->size >= 4096 ? 4096 : EMU_SIZE;
	r = assign_device_read_config(v->dev, 0, cfg, sizeof(cfg));
	if (r < 0)
		return r;
	if (cfg[ASSIGN_PCI_HEADER_TYPE] & 0x7f)
		return set_error(v->ctx, -EINVAL,
				 "%s has header type %u (a bridge?): assign endpoints only",
				 name, cfg[ASSIGN_PCI_HEADER_TYPE] & 0x7f);
	r = setup_bars(v, cfg);
	if (r < 0)
		return r;
	r = setup_msix(v, cfg);
	if (r < 0)
		return r;
	r = setup_msi(v, cfg);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		if (!v->bars[i].present)
			continue;
		r = bar_setup_parts(v, i);
		if (r < 0)
			return r;
	}

	emulate(v, ASSIGN_PCI_INTERRUPT_LINE, 1, 0xff);
	emulate(v, ASSIGN_PCI_INTERRUPT_PIN, 1, 0);
	if (!(v->flags & ASSIGN_VPCI_F_NO_INTX) && cfg[ASSIGN_PCI_INTERRUPT_PIN] >= 1 &&
	    cfg[ASSIGN_PCI_INTERRUPT_PIN] <= 4 &&
	    assign_device_get_irq_info(v->dev, ASSIGN_IRQ_INTX, &ii) == 0 &&
	    ii.count && (ii.flags & ASSIGN_IRQ_F_EVENTFD)) {
		v->pin = cfg[ASSIGN_PCI_INTERRUPT_PIN];
		v->shadow[ASSIGN_PCI_INTERRUPT_PIN] = v->pin;
		r = new_eventfd(v, &v->intx_efd);
		if (r < 0)
			return r;
		r = new_eventfd(v, &v->intx_resample);
		if (r < 0)
			return r;
		r = intx_set(v, true, false);
		if (r < 0)
			return r;
	}
	memcpy(v->init, v->shadow, sizeof(v->init));
	return 0;
}

static void vpci_free(struct assign_vpci *v)
{
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++)
		bar_unmap(v, i);
	msix_disable(v);
	msi_disable(v);
	reports_end(v); /* before the eventfds go */
	intx_set(v, false, true);
	for (uint32_t i = 0; v->msix_vec && i < v->msix_nvec; i++)
		close_fd(&v->msix_vec[i].efd);
	close_fd(&v->msi_vec.efd);
	close_fd(&v->intx_efd);
	close_fd(&v->intx_resample);
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++) {
		if (v->bars[i].host)
			assign_region_munmap(v->dev, i);
		free(v->bars[i].parts);
	}
	free(v->table);
	free(v->msix_vec);
	assign_device_unref(v->dev);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

ASSIGN_EXPORT int assign_vpci_new(struct assign_device *dev,
				  const struct assign_vpci_opts *opts,
				  struct assign_vpci **ret)
{
	struct assign_vpci_opts o;
	struct assign_vpci_ops ops;
	char saved[ASSIGN_ERROR_MAX];
	struct assign_ctx *ctx;
	struct assign_vpci *v;
	long ps;
	int r;

	if (!dev || !ret)
		return -EINVAL;
	ctx = assign_iommu_get_ctx(assign_device_get_iommu(dev));
	r = read_opts(ctx, opts, &o, &ops);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return set_error(ctx, -ENOMEM, "out of memory");
	v->refcount = 1;
	v->ctx = ctx;
	v->dev = assign_device_ref(dev);
	v->msi_vec.efd = v->intx_efd = v->intx_resample = -1;
	ps = sysconf(_SC_PAGESIZE);
	v->page = ps > 0 ? (uint64_t)ps : 4096;
	pthread_mutex_init(&v->lock, NULL);
	v->flags = o.flags;
	v->data = o.data;
	v->ops = ops;
	assign_error_save(ctx, saved);
	r = vpci_setup(v);
	if (r < 0) {
		/* no callbacks for an object the caller never saw */
		memset(&v->ops, 0, sizeof(v->ops));
		vpci_free(v);
		return r;
	}
	/* Probes of optional parts (a ROM, MSI vectors, a BAR's mmap) may
	 * have failed on the way; the call did not. */
	assign_error_restore(ctx, saved);
	*ret = v;
	return 0;
}

ASSIGN_EXPORT struct assign_vpci *assign_vpci_ref(struct assign_vpci *vpci)
{
	if (vpci)
		__atomic_add_fetch(&vpci->refcount, 1, __ATOMIC_RELAXED);
	return vpci;
}

ASSIGN_EXPORT struct assign_vpci *assign_vpci_unref(struct assign_vpci *vpci)
{
	if (vpci && __atomic_sub_fetch(&vpci->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		vpci_free(vpci);
	return NULL;
}

ASSIGN_EXPORT struct assign_device *
assign_vpci_get_device(const struct assign_vpci *vpci)
{
	return vpci ? vpci->dev : NULL;
}

ASSIGN_EXPORT size_t assign_vpci_get_config_size(const struct assign_vpci *vpci)
{
	return vpci ? vpci->cfg_size : 0;
}

/* ---- config space -------------------------------------------------- */

/* A guest's access the caller should not have passed on: say which. */
static int cfg_check(const struct assign_vpci *v, const char *op, uint32_t off,
		     size_t len)
{
	if (len != 1 && len != 2 && len != 4)
		return set_error(v->ctx, -EINVAL,
				 "%s: config %s of %zu bytes at 0x%x: the size "
				 "must be 1, 2 or 4",
				 assign_device_get_address(v->dev), op, len,
				 off);
	if (off % len || off >= v->cfg_size || len > v->cfg_size - off)
		return set_error(
			v->ctx, -EINVAL,
			"%s: config %s of %zu bytes at 0x%x: %s",
			assign_device_get_address(v->dev), op, len, off,
			off % len ? "misaligned" : "beyond the config space");
	return 0;
}

ASSIGN_EXPORT int assign_vpci_config_read(struct assign_vpci *vpci,
					  uint32_t offset, void *data,
					  size_t len)
{
	uint8_t *out = data;
	bool any_real = false;
	int r = 0;

	if (!vpci || !data)
		return -EINVAL;
	r = cfg_check(vpci, "read", offset, len);
	if (r < 0) {
		memset(data, 0xff, len <= 8 ? len : 0);
		return r;
	}
	pthread_mutex_lock(&vpci->lock);
	for (size_t i = 0; i < len; i++)
		any_real |= offset + i >= EMU_SIZE || !vpci->emu[offset + i];
	if (any_real) {
		r = assign_device_read_config(vpci->dev, offset, out, len);
		if (r < 0)
			memset(out, 0xff, len);
	}
	for (size_t i = 0; i < len; i++) {
		uint32_t o = offset + (uint32_t)i;
		if (o >= EMU_SIZE || !vpci->emu[o])
			continue;
		out[i] = vpci->shadow[o];
		if (vpci->has_msi && vpci->msi.per_vector_mask &&
		    o == vpci->msi.mask_offset + 4u)
			out[i] = (vpci->msi_on && msi_masked(vpci) &&
				  efd_pending(vpci->msi_vec.efd)) ? 1 : 0;
	}
	pthread_mutex_unlock(&vpci->lock);
	return r;
}

ASSIGN_EXPORT int assign_vpci_config_write(struct assign_vpci *vpci,
					   uint32_t offset, const void *data,
					   size_t len)
{
	const uint8_t *in = data;
	bool all_real = true;
	int r = 0, e;

	if (!vpci || !data)
		return -EINVAL;
	r = cfg_check(vpci, "write", offset, len);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vpci->lock);
	for (size_t i = 0; i < len; i++)
		all_real &= offset + i >= EMU_SIZE || !vpci->emu[offset + i];
	if (all_real) {
		r = assign_device_write_config(vpci->dev, offset, in, len);
	} else {
		for (size_t i = 0; i < len; i++) {
			uint32_t o = offset + (uint32_t)i;
			if (o < EMU_SIZE && vpci->emu[o]) {
				uint8_t m = vpci->wmask[o];
				vpci->shadow[o] = (uint8_t)((vpci->shadow[o] & ~m) |
							    (in[i] & m));
			} else {
				e = assign_device_write_config(vpci->dev, o,
							       &in[i], 1);
				if (e < 0 && !r)
					r = e;
			}
		}
	}

	bool bars_changed = false;
	if (touches(offset, len, ASSIGN_PCI_COMMAND, 2)) {
		for (size_t i = 0; i < len; i++) {
			uint32_t o = offset + (uint32_t)i;
			if (o == ASSIGN_PCI_COMMAND)
				vpci->command = (uint16_t)((vpci->command & 0xff00) | in[i]);
			else if (o == ASSIGN_PCI_COMMAND + 1)
				vpci->command = (uint16_t)((vpci->command & 0x00ff) |
							   in[i] << 8);
		}
		bars_changed = true;
	}
	for (uint32_t b = 0; b < 6; b++)
		if (touches(offset, len, ASSIGN_PCI_BASE_ADDRESS_0 + 4 * b, 4)) {
			bar_reg_fixup(vpci, b);
			bars_changed = true;
		}
	if (touches(offset, len, ASSIGN_PCI_ROM_ADDRESS, 4)) {
		rom_reg_fixup(vpci);
		bars_changed = true;
	}
	if (bars_changed)
		bars_update(vpci);
	if (vpci->has_msix && touches(offset, len, vpci->msix.offset + 2, 2)) {
		e = msix_control(vpci);
		if (e < 0 && !r)
			r = e;
	}
	if (vpci->has_msi &&
	    touches(offset, len, vpci->msi.offset + 2,
		    vpci->msi_end - vpci->msi.offset - 2u)) {
		e = msi_changed(vpci);
		if (e < 0 && !r)
			r = e;
	}
	reports_end(vpci);
	pthread_mutex_unlock(&vpci->lock);
	return r;
}

/* ---- trapped BAR accesses ---------------------------------------------- */

static bool in_table(const struct assign_vpci *v, uint32_t bar, uint64_t off)
{
	return v->has_msix && bar == v->msix.table_bar &&
	       off >= v->msix.table_offset &&
	       off - v->msix.table_offset <
		       (uint64_t)v->msix.table_size * ASSIGN_PCI_MSIX_ENTRY_SIZE;
}

static bool in_pba(const struct assign_vpci *v, uint32_t bar, uint64_t off)
{
	return v->has_msix && bar == v->msix.pba_bar &&
	       off >= v->msix.pba_offset &&
	       off - v->msix.pba_offset <
		       ((uint64_t)v->msix.table_size + 63) / 64 * 8;
}

/* Writable bits of each byte of an MSI-X table entry. */
static const uint8_t msix_entry_wmask[ASSIGN_PCI_MSIX_ENTRY_SIZE] = {
	0xfc, 0xff, 0xff, 0xff,   /* message address, dword aligned */
	0xff, 0xff, 0xff, 0xff,   /* upper address */
	0xff, 0xff, 0xff, 0xff,   /* data */
	0x01, 0x00, 0x00, 0x00,   /* vector control: mask bit */
};

static uint8_t pba_byte(const struct assign_vpci *v, uint64_t byte)
{
	uint8_t out = 0;

	if (!v->msix_on)
		return 0;
	for (uint32_t bit = 0; bit < 8; bit++) {
		uint64_t i = byte * 8 + bit;
		if (i >= v->msix_nvec)
			break;
		if (msix_entry_masked(v, (uint32_t)i) &&
		    efd_pending(v->msix_vec[i].efd))
			out |= (uint8_t)(1u << bit);
	}
	return out;
}

static int bar_access(struct assign_vpci *vpci, uint32_t bar, uint64_t offset,
		      void *data, size_t len, bool is_write)
{
	uint8_t *p = data;
	const struct vbar *b;
	uint64_t first = UINT64_MAX, last = 0;
	bool emulated = false;
	int r = 0, e;

	if (!vpci || !data)
		return -EINVAL;
	if (bar >= ASSIGN_VPCI_NUM_BARS || !len || len > 8)
		return set_error(vpci->ctx, -EINVAL,
				 "%s: BAR %u %s of %zu bytes: no such BAR, or "
				 "not 1 to 8 bytes",
				 assign_device_get_address(vpci->dev), bar,
				 is_write ? "write" : "read", len);
	b = &vpci->bars[bar];
	if (!b->present || offset >= b->size || len > b->size - offset) {
		if (!is_write)
			memset(data, 0xff, len);
		if (!b->present)
			return set_error(
				vpci->ctx, -EINVAL,
				"%s: BAR %u %s: the BAR is not present",
				assign_device_get_address(vpci->dev), bar,
				is_write ? "write" : "read");
		return set_error(vpci->ctx, -EINVAL,
				 "%s: BAR %u %s of %zu bytes at 0x%" PRIx64
				 ": outside the BAR (0x%" PRIx64 " bytes)",
				 assign_device_get_address(vpci->dev), bar,
				 is_write ? "write" : "read", len, offset,
				 b->size);
	}
	if (bar == ASSIGN_VPCI_ROM_BAR) {
		if (is_write)
			return 0;       /* read-only memory */
		r = assign_region_read(vpci->dev, ASSIGN_PCI_ROM_REGION, offset,
				       data, len);
		if (r < 0)
			memset(data, 0xff, len);
		return r;
	}
	pthread_mutex_lock(&vpci->lock);
	for (size_t i = 0; i < len; i++)
		emulated |= in_table(vpci, bar, offset + i) ||
			    in_pba(vpci, bar, offset + i);
	if (!emulated) {
		r = is_write ? assign_region_write(vpci->dev, bar, offset, data,
						   len)
			     : assign_region_read(vpci->dev, bar, offset, data,
						  len);
		if (r < 0 && !is_write)
			memset(data, 0xff, len);
		pthread_mutex_unlock(&vpci->lock);
		return r;
	}
	/* Partly or wholly the table or PBA: byte by byte. */
	for (size_t i = 0; i < len; i++) {
		uint64_t o = offset + i;
		if (in_table(vpci, bar, o)) {
			uint64_t t = o - vpci->msix.table_offset;
			uint8_t *cell = vpci->table + t;
			if (is_write) {
				uint8_t m = msix_entry_wmask[t % ASSIGN_PCI_MSIX_ENTRY_SIZE];
				*cell = (uint8_t)((*cell & ~m) | (p[i] & m));
				first = MIN(first, t / ASSIGN_PCI_MSIX_ENTRY_SIZE);
				last = MAX(last, t / ASSIGN_PCI_MSIX_ENTRY_SIZE);
			} else {
				p[i] = *cell;
			}
		} else if (in_pba(vpci, bar, o)) {
			if (!is_write)
				p[i] = pba_byte(vpci, o - vpci->msix.pba_offset);
		} else {
			e = is_write ? assign_region_write(vpci->dev, bar, o,
							   &p[i], 1)
				     : assign_region_read(vpci->dev, bar, o,
							  &p[i], 1);
			if (e < 0) {
				if (!is_write)
					p[i] = 0xff;
				if (!r)
					r = e;
			}
		}
	}
	for (uint64_t i = first; first != UINT64_MAX && i <= last; i++)
		msix_report(vpci, (uint32_t)i);
	reports_end(vpci);
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
	return bar_access(vpci, bar, offset, (void *)(uintptr_t)data, len, true);
}

/* ---- queries and reset ---------------------------------------------- */

ASSIGN_EXPORT int assign_vpci_get_bar(const struct assign_vpci *vpci,
				      uint32_t bar, struct assign_vpci_bar *info)
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

ASSIGN_EXPORT int assign_vpci_get_intx(const struct assign_vpci *vpci,
				       struct assign_vpci_intx *info)
{
	struct assign_vpci_intx x = { .size = sizeof(x) };

	if (!vpci || sized_out_check(vpci->ctx, info, "assign_vpci_intx") < 0)
		return -EINVAL;
	pthread_mutex_lock((pthread_mutex_t *)&vpci->lock);
	x.pin = vpci->pin;
	x.trigger_fd = vpci->intx_efd;
	x.resample_fd = vpci->intx_resample;
	x.enabled = vpci->intx_on;
	pthread_mutex_unlock((pthread_mutex_t *)&vpci->lock);
	SIZED_OUT_FILL(info, &x);
	return 0;
}

ASSIGN_EXPORT int assign_vpci_reset(struct assign_vpci *vpci)
{
	int r;

	if (!vpci)
		return -EINVAL;
	pthread_mutex_lock(&vpci->lock);
	vpci->command = 0;
	bars_update(vpci);      /* decoding off: everything unmapped */
	msix_disable(vpci);
	msi_disable(vpci);
	intx_set(vpci, false, true);
	r = assign_device_reset(vpci->dev);
	if (r == -ENOTTY)
		r = 0;
	memcpy(vpci->shadow, vpci->init, sizeof(vpci->shadow));
	if (vpci->table)
		for (uint32_t i = 0; i < vpci->msix.table_size; i++) {
			memset(vpci->table + (size_t)i * ASSIGN_PCI_MSIX_ENTRY_SIZE, 0,
			       ASSIGN_PCI_MSIX_ENTRY_SIZE);
			vpci->table[(size_t)i * ASSIGN_PCI_MSIX_ENTRY_SIZE + 12] = 1;
		}
	msix_report_all(vpci);
	msi_report(vpci);
	reports_end(vpci);
	{
		int e = intx_set(vpci, true, true);
		if (e < 0 && !r)
			r = e;
	}
	pthread_mutex_unlock(&vpci->lock);
	return r;
}
