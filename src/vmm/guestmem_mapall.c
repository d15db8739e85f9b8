// SPDX-License-Identifier: MIT
/*
 * Guest memory policy: map-all (docs/guestmem.md, "Map-all"). All
 * registered RAM at IOVA = GPA, in the fewest, largest aligned chunks,
 * after the budgets are checked and optionally the RAM is prefaulted; all
 * or nothing. Each chunk is one record of the IOMMU table of kind
 * IOMMU_MAP_CHUNK. Removing RAM unmaps the chunks it touches and maps what
 * remains of them again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"

/* ---------------------------------------------------------------------- */
/* Chunking: the fewest, largest aligned host mappings for a range */

/*
 * The page sizes worth aligning to. Some IOMMU drivers report every power
 * of two from 4 KiB up (the core splits for them); then only the sizes
 * hardware actually has are useful boundaries.
 */
static uint64_t useful_pgsizes(uint64_t pgsizes)
{
	if (__builtin_popcountll(pgsizes) > 6) {
		uint64_t min = pgsizes & -pgsizes;
		uint64_t real = pgsizes & ((1ull << 21) | (1ull << 30) |
					   (1ull << 29) | (1ull << 16));

		return min | real;
	}
	return pgsizes;
}

/*
 * Largest page size P in @pgsizes such that [start, end) holds at least one
 * whole P-aligned page and the IOVA and host address are congruent modulo
 * P (so the IOMMU can use P-pages there). 0 if none beyond @below.
 */
static uint64_t best_page(uint64_t pgsizes, uint64_t start, uint64_t end,
			  uint64_t skew, uint64_t below)
{
	uint64_t sizes = pgsizes;

	if (below)
		sizes &= below - 1;
	while (sizes) {
		int bit = 63 - __builtin_clzll(sizes);
		uint64_t p = 1ull << bit;
		uint64_t a = (start + p - 1) & ~(p - 1);

		sizes &= ~p;
		if (a < start) /* wrapped */
			continue;
		if ((skew & (p - 1)) == 0 && a < end && end - a >= p)
			return p;
	}
	return 0;
}

struct chunk {
	uint64_t iova;
	uint64_t size;
	uint64_t page;
};

struct chunk_list {
	struct chunk *v;
	size_t n, cap;
	size_t *region; /* region index of each chunk */
};

static int chunk_push(struct chunk_list *l, uint64_t iova, uint64_t size,
		      uint64_t page)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct chunk *p = realloc(l->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = (struct chunk){ iova, size, page };
	return 0;
}

/*
 * Split [start, end) (IOVA; host address = IOVA - skew... expressed as
 * skew = iova - vaddr, only its low bits matter) into chunks: a body
 * aligned to the largest usable page size P, and head and tail split the
 * same way with the smaller sizes. Bodies longer than @chunk_max are cut at
 * P-aligned points.
 */
static int plan_range(struct chunk_list *l, uint64_t pgsizes, uint64_t min_page,
		      uint64_t start, uint64_t end, uint64_t skew,
		      uint64_t below, uint64_t chunk_max)
{
	uint64_t p, a, b;
	int r;

	if (start >= end)
		return 0;
	p = best_page(pgsizes, start, end, skew, below);
	if (!p) {
		p = min_page;
		a = start;
		b = end;
	} else {
		a = (start + p - 1) & ~(p - 1);
		b = end & ~(p - 1);
		r = plan_range(l, pgsizes, min_page, start, a, skew, p,
			       chunk_max);
		if (r < 0)
			return r;
	}
	while (a < b) {
		uint64_t len = b - a;

		if (chunk_max && len > chunk_max) {
			len = chunk_max & ~(p - 1);
			if (len < p)
				len = p;
		}
		r = chunk_push(l, a, len, p);
		if (r < 0)
			return r;
		a += len;
	}
	if (b != end && p != min_page)
		return plan_range(l, pgsizes, min_page, b, end, skew, p,
				  chunk_max);
	return 0;
}

static int plan_region(struct assign_guestmem *gm, struct chunk_list *l,
		       uint64_t gpa, uint64_t length, const uint8_t *vaddr)
{
	uint64_t skew = gpa - (uint64_t)(uintptr_t)vaddr;
	uint64_t sizes = useful_pgsizes(gm->pgsizes);

	/* A chunk can use no page larger than itself. */
	if (gm->chunk_max) {
		int hb = 63 - __builtin_clzll(gm->chunk_max);
		uint64_t keep = hb == 63 ? ~0ull : (1ull << (hb + 1)) - 1;

		sizes = (sizes & keep) | gm->min_page;
	}
	return plan_range(l, sizes, gm->min_page, gpa, gpa + length, skew, 0,
			  gm->chunk_max);
}

/* The chunks of all of @regs, each with its region's index; *bytes is
 * their total. -ENOMEM (no message). */
static int plan_regions(struct assign_guestmem *gm,
			const struct gm_region *regs, size_t n,
			struct chunk_list *cl, uint64_t *bytes)
{
	size_t nregion = 0;

	*bytes = 0;
	for (size_t i = 0; i < n; i++) {
		size_t before = cl->n;

		if (plan_region(gm, cl, regs[i].gpa, regs[i].length,
				regs[i].vaddr) < 0)
			return -ENOMEM;
		*bytes += regs[i].length;
		if (cl->n > before) {
			size_t *p = realloc(cl->region, cl->n * sizeof(*p));

			if (!p)
				return -ENOMEM;
			cl->region = p;
			while (nregion < cl->n)
				cl->region[nregion++] = i;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Map-all */

int gm_progress_report(struct gm_progress *pr)
{
	if (pr->gm->progress &&
	    pr->gm->progress(pr->gm->progress_data, pr->done, pr->total))
		return set_error(
			pr->gm->ctx, -ECANCELED,
			"guest memory: mapping cancelled by the progress callback after %" PRIu64
			" of %" PRIu64 " bytes; everything done is undone",
			pr->done, pr->total);
	return 0;
}

/* The memlock budget and the DMA entries left, for @nchunks chunks of
 * @bytes in all. */
static int check_budgets(struct assign_guestmem *gm, uint64_t bytes,
			 size_t nchunks)
{
	uint32_t avail;
	int r;

	r = assign_iommu_check_memlock(gm->iommu, bytes);
	if (r < 0)
		return gm_wrap_error(gm->ctx, r,
				     "guest memory: cannot map %" PRIu64
				     " bytes of guest RAM",
				     bytes);
	r = assign_iommu_get_dma_avail(gm->iommu, &avail);
	if (r == 0 && nchunks > avail)
		return set_error(
			gm->ctx, -ENOSPC,
			"guest memory: mapping guest RAM needs %zu DMA mappings but the IOMMU allows only %" PRIu32
			" more; raise vfio_iommu_type1's dma_entry_limit module parameter or assign_iommu_opts.max_mappings, or use fewer regions or a larger chunk_max",
			nchunks, avail);
	return 0;
}

/*
 * Undo of a partial map-all: unmap the first @n chunks of @cl, newest
 * first. A chunk the kernel refuses to unmap stays mapped and in the IOMMU
 * table, still the policy's (counted, unmapped later with the object or
 * when its RAM is added again). The error @err of the failed map-all and
 * its message are kept, with a note of what the rollback left behind.
 */
static int unmap_chunks(struct assign_guestmem *gm, const struct chunk_list *cl,
			size_t n, int err)
{
	char msg[ASSIGN_ERROR_MAX];
	uint64_t kept_bytes = 0;
	size_t kept = 0;

	assign_error_save(gm->ctx, msg);
	for (size_t i = n; i-- > 0;) {
		const struct chunk *c = &cl->v[i];
		const struct iommu_mapping *m =
			iommu_mapping_find(gm->iommu, c->iova);
		int r;

		if (!m || m->node.start != c->iova ||
		    m->kind != IOMMU_MAP_CHUNK)
			continue; /* gone already */
		r = gm_unmap(gm, m);
		if (r < 0) {
			warn(gm->ctx,
			     "guest memory: rollback could not unmap IOVA 0x%" PRIx64
			     "+0x%" PRIx64 " (%s); it stays mapped and tracked",
			     c->iova, c->size, strerror(-r));
			kept++;
			kept_bytes += c->size;
		}
	}
	if (!kept) {
		/* The failure's own message, not a rollback's warning. */
		assign_error_restore(gm->ctx, msg);
		return err;
	}
	return set_error(
		gm->ctx, err,
		"%s; the rollback could not unmap %zu chunk(s), 0x%" PRIx64
		" bytes: they stay mapped and are unmapped with the guest memory object",
		msg, kept, kept_bytes);
}

/*
 * Unmap the policy's mappings in the IOVA ranges of @regs, about to be
 * mapped again. Only a chunk a failed rollback could not remove is there
 * (regions never overlap, and the chunks of removed RAM are unmapped
 * before it is mapped again); left alone, it would make the new map fail
 * with -EEXIST. The caller's own mappings are conflicts the layout check
 * reported.
 */
static int drop_leftovers(struct assign_guestmem *gm,
			  const struct gm_region *regs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t last = regs[i].gpa + regs[i].length - 1;
		const struct iommu_mapping *m;

		while ((m = gm_first(gm, regs[i].gpa, last))) {
			uint64_t ms = m->node.start, ml = m->node.last;
			int r = gm_unmap(gm, m);

			if (r < 0)
				return gm_wrap_error(
					gm->ctx, r,
					"guest memory: cannot unmap IOVA 0x%" PRIx64
					"-0x%" PRIx64
					", left mapped by an earlier failed rollback",
					ms, ml);
		}
	}
	return 0;
}

/* Map the chunks of @cl, reporting progress after each; on failure (or
 * cancel) unmap those made. */
static int map_chunks(struct assign_guestmem *gm, const struct gm_region *regs,
		      const struct chunk_list *cl, struct gm_progress *pr)
{
	int r;

	for (size_t i = 0; i < cl->n; i++) {
		const struct chunk *c = &cl->v[i];
		const struct gm_region *g = &regs[cl->region[i]];
		uint8_t *va = g->vaddr + (c->iova - g->gpa);

		r = gm_map(gm, c->iova, va, c->size, gm_region_perms(g),
			   IOMMU_MAP_CHUNK, c->iova);
		if (r < 0) {
			r = gm_wrap_error(
				gm->ctx, r,
				"guest memory: mapping guest RAM 0x%" PRIx64
				"+0x%" PRIx64 " (chunk %zu of %zu) failed",
				c->iova, c->size, i + 1, cl->n);
			return unmap_chunks(gm, cl, i, r);
		}
		pr->done += c->size;
		r = gm_progress_report(pr);
		if (r < 0)
			return unmap_chunks(gm, cl, i + 1, r);
	}
	return 0;
}

int gm_mapall_regions(struct assign_guestmem *gm, const struct gm_region *regs,
		      size_t n)
{
	struct chunk_list cl = { 0 };
	struct gm_progress pr = { .gm = gm };
	uint64_t bytes;
	int r;

	if (!n)
		return 0;
	r = drop_leftovers(gm, regs, n);
	if (r < 0)
		return r;
	/* Re-read: a device attached since may have narrowed the sizes. */
	gm->pgsizes = 0;
	r = gm_load_pgsizes(gm);
	if (r < 0)
		return r;
	r = plan_regions(gm, regs, n, &cl, &bytes);
	if (r < 0) {
		r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
		goto out;
	}
	r = check_budgets(gm, bytes, cl.n);
	if (r < 0)
		goto out;
	pr.total = bytes * ((gm->flags & ASSIGN_GUESTMEM_F_PREFAULT) ? 2 : 1);
	if (gm->flags & ASSIGN_GUESTMEM_F_PREFAULT) {
		r = gm_prefault_regions(gm, regs, n, &pr);
		if (r < 0)
			goto out;
	}
	r = map_chunks(gm, regs, &cl, &pr);
	if (r == 0)
		dbg(gm->ctx,
		    "guest memory: mapped %" PRIu64 " bytes in %zu chunks",
		    bytes, cl.n);
out:
	free(cl.region);
	free(cl.v);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Removing RAM */

/* What remains of the chunk @s outside [gpa, last], as regions to map
 * again (at most two). */
static size_t remainders(const struct gm_span *s, uint64_t gpa, uint64_t last,
			 struct gm_region rem[2])
{
	uint32_t flags = s->perms & ASSIGN_DMA_F_WRITE ?
				 0 :
				 ASSIGN_GUESTMEM_REGION_F_READONLY;
	uint64_t sl = s->iova + s->size - 1;
	size_t n = 0;

	if (s->iova < gpa)
		rem[n++] = (struct gm_region){
			.gpa = s->iova,
			.length = gpa - s->iova,
			.vaddr = s->vaddr,
			.flags = flags,
		};
	if (sl > last)
		rem[n++] = (struct gm_region){
			.gpa = last + 1,
			.length = sl - last,
			.vaddr = s->vaddr + (last + 1 - s->iova),
			.flags = flags,
		};
	return n;
}

int gm_mapall_remove(struct assign_guestmem *gm, uint64_t gpa, uint64_t last)
{
	const struct iommu_mapping *m = gm_first(gm, gpa, last);
	int err = 0;

	while (m) {
		const struct iommu_mapping *next = gm_next(m, last);
		struct gm_span s = gm_span_of(m);
		struct gm_region rem[2];
		size_t nrem;
		int r;

		r = gm_unmap(gm, m);
		if (r < 0) {
			if (!err)
				err = gm_wrap_error(
					gm->ctx, r,
					"guest memory: cannot unmap guest RAM 0x%" PRIx64
					"-0x%" PRIx64,
					s.iova, s.iova + s.size - 1);
			m = next;
			continue;
		}
		nrem = remainders(&s, gpa, last, rem);
		if (nrem) {
			uint32_t saved = gm->flags;

			gm->stats.splits++;
			/* Remainders were populated already. */
			gm->flags &= ~ASSIGN_GUESTMEM_F_PREFAULT;
			r = gm_mapall_regions(gm, rem, nrem);
			gm->flags = saved;
			if (r < 0 && !err)
				err = gm_wrap_error(
					gm->ctx, r,
					"guest memory: guest RAM next to the removed range could not be mapped again (DMA there now faults)");
		}
		m = next;
	}
	return err;
}
