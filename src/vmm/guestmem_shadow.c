// SPDX-License-Identifier: MIT
/*
 * Guest memory policy: the guest IOMMU (docs/guestmem.md, "Guest IOMMU").
 * Each map the guest makes in its IOMMU is translated through the
 * registered RAM and shadowed into the host IOMMU, one host mapping per
 * region it crosses; each unmap removes the shadows in its range, cutting
 * those it goes through. The shadows are records of the IOMMU table of kind
 * IOMMU_MAP_SHADOW, with the guest physical address they translate.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"

/* The host mappings one guest map becomes: one piece per region the GPA
 * range crosses, with its GPA. Up to four without malloc. */
struct pieces {
	struct assign_dma_map *maps;
	uint64_t *gpas;
	size_t n, cap;
	const struct gm_region *first; /* the region of piece 0 */
	struct assign_dma_map small[4];
	uint64_t small_gpas[4];
};

static void pieces_init(struct pieces *p)
{
	p->maps = p->small;
	p->gpas = p->small_gpas;
	p->n = 0;
	p->cap = ARRAY_SIZE(p->small);
	p->first = NULL;
}

static void pieces_fini(struct pieces *p)
{
	if (p->maps != p->small)
		free(p->maps);
	if (p->gpas != p->small_gpas)
		free(p->gpas);
}

static int pieces_push(struct pieces *p, const struct assign_dma_map *m,
		       uint64_t gpa)
{
	if (p->n == p->cap) {
		size_t nc = p->cap * 2;
		struct assign_dma_map *pm = malloc(nc * sizeof(*pm));
		uint64_t *pg = malloc(nc * sizeof(*pg));

		if (!pm || !pg) {
			free(pm);
			free(pg);
			return -ENOMEM;
		}
		memcpy(pm, p->maps, p->n * sizeof(*pm));
		memcpy(pg, p->gpas, p->n * sizeof(*pg));
		pieces_fini(p);
		p->maps = pm;
		p->gpas = pg;
		p->cap = nc;
	}
	p->maps[p->n] = *m;
	p->gpas[p->n] = gpa;
	p->n++;
	return 0;
}

/* The policy, and the alignment of the guest's IOVA range. */
static int guest_checks(struct assign_guestmem *gm, const char *op,
			uint64_t iova, uint64_t size)
{
	int r;

	if (gm->policy != ASSIGN_GUESTMEM_GUEST_IOMMU)
		return set_error(
			gm->ctx, -EPERM,
			"guest memory: guest IOMMU %s while the policy is map-all; call assign_guestmem_set_policy(GUEST_IOMMU) when the guest enables its IOMMU",
			op);
	if (!gm->min_page) {
		r = gm_load_pgsizes(gm);
		if (r < 0)
			return r;
	}
	if (!size || iova + size - 1 < iova ||
	    ((iova | size) & (gm->min_page - 1)))
		return set_error(
			gm->ctx, -EINVAL,
			"guest memory: guest IOMMU %s of IOVA 0x%" PRIx64
			"+0x%" PRIx64
			": size must be non-zero and both aligned to 0x%" PRIx64,
			op, iova, size, gm->min_page);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Unmapping, and cutting a mapping in two */

/*
 * Cut [start, last] (IOVA) out of the mapping @m: unmap it whole, then map
 * the parts outside again. On return @m is either shrunk, replaced by two
 * mappings, or gone (its record is invalid either way). The cut always
 * takes effect when the unmap succeeds; a remainder that cannot be mapped
 * again is dropped and its error returned.
 */
static int cut_map(struct assign_guestmem *gm, const struct iommu_mapping *m,
		   uint64_t start, uint64_t last)
{
	struct gm_span s = gm_span_of(m), left = s, right = s;
	uint64_t ml = s.iova + s.size - 1;
	int r, err = 0;

	r = gm_unmap(gm, m);
	if (r < 0)
		return gm_wrap_error(
			gm->ctx, r,
			"guest memory: cannot unmap IOVA 0x%" PRIx64
			"-0x%" PRIx64,
			s.iova, ml);
	if (start <= s.iova && last >= ml)
		return 0;
	gm->stats.splits++;
	if (start > s.iova) {
		left.size = start - s.iova;
		r = gm_span_map(gm, &left);
		if (r < 0)
			err = gm_wrap_error(
				gm->ctx, r,
				"guest memory: IOVA 0x%" PRIx64 "-0x%" PRIx64
				" lost: it could not be mapped again after splitting",
				s.iova, start - 1);
	}
	if (last < ml) {
		uint64_t off = last + 1 - s.iova;

		right.iova = last + 1;
		right.size = ml - last;
		right.vaddr = s.vaddr + off;
		right.gpa = s.gpa + off;
		r = gm_span_map(gm, &right);
		if (r < 0)
			err = gm_wrap_error(
				gm->ctx, r,
				"guest memory: IOVA 0x%" PRIx64 "-0x%" PRIx64
				" lost: it could not be mapped again after splitting",
				last + 1, ml);
	}
	return err;
}

/*
 * Remove every mapping of the policy in [start, last] (IOVA), cutting
 * partial ones; the caller's own mappings there stay.
 *
 * One kernel unmap per mapping, each of one record of the IOMMU table:
 * a mapping the kernel refuses to drop stays mapped and in the table
 * (counted, found by lookup, unmappable later), and nothing else does.
 */
static int unmap_iova_range(struct assign_guestmem *gm, uint64_t start,
			    uint64_t last)
{
	const struct iommu_mapping *m = gm_first(gm, start, last);
	int err = 0;

	while (m) {
		const struct iommu_mapping *next = gm_next(m, last);
		uint64_t ms = m->node.start, ml = m->node.last;
		int r;

		if (ms < start || ml > last) {
			r = cut_map(gm, m, start, last);
			if (r < 0 && !err)
				err = r;
		} else {
			r = gm_unmap(gm, m);
			if (r < 0 && !err)
				err = gm_wrap_error(
					gm->ctx, r,
					"guest memory: cannot unmap IOVA 0x%" PRIx64
					"-0x%" PRIx64,
					ms, ml);
		}
		m = next;
	}
	return err;
}

int gm_shadow_remove(struct assign_guestmem *gm, uint64_t gpa, uint64_t last)
{
	const struct iommu_mapping *m, *next;
	int r = 0;

	/* Cutting a mapping changes only the table between it and the next
	 * one, and what remains of it translates outside [gpa, last]. */
	for (m = gm_first(gm, 0, UINT64_MAX); m; m = next) {
		uint64_t ml = m->gpa + iommu_mapping_size(m) - 1, cs, cl;
		int e;

		next = gm_next(m, UINT64_MAX);
		if (m->gpa > last || ml < gpa)
			continue;
		cs = MAX(gpa, m->gpa);
		cl = MIN(last, ml);
		e = unmap_iova_range(gm, m->node.start + (cs - m->gpa),
				     m->node.start + (cl - m->gpa));
		if (e < 0 && !r)
			r = e;
	}
	return r;
}

ASSIGN_EXPORT int assign_guestmem_guest_unmap(struct assign_guestmem *gm,
					      uint64_t iova, uint64_t size)
{
	int r;

	if (!gm)
		return -EINVAL;
	pthread_mutex_lock(&gm->lock);
	r = guest_checks(gm, "unmap", iova, size);
	if (r == 0) {
		r = unmap_iova_range(gm, iova, iova + size - 1);
		gm->stats.guest_unmaps++;
	}
	pthread_mutex_unlock(&gm->lock);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Merging (ASSIGN_GUESTMEM_F_MERGE) */

/* Map again a neighbour taken out of the kernel for a merge that failed. */
static void merge_restore(struct assign_guestmem *gm, const struct gm_span *s)
{
	int e = gm_span_map(gm, s);

	if (e < 0)
		warn(gm->ctx,
		     "guest memory: IOVA 0x%" PRIx64 "+0x%" PRIx64
		     " lost after a failed merge (%d)",
		     s->iova, s->size, e);
}

/*
 * Map [iova, iova + size) merged with its neighbours @prev and/or @next
 * (the policy's, compatible): unmap them, map the union. On failure the
 * neighbours are mapped again as they were.
 */
static int merge_map(struct assign_guestmem *gm,
		     const struct iommu_mapping *prev,
		     const struct iommu_mapping *next, uint64_t iova,
		     uint64_t size, uint8_t *vaddr, uint64_t gpa,
		     uint32_t perms)
{
	struct gm_span ps = { 0 }, ns = { 0 };
	bool has_prev = prev != NULL, has_next = next != NULL;
	uint64_t start = prev ? prev->node.start : iova;
	uint64_t last = next ? next->node.last : iova + size - 1;
	uint8_t *va = prev ? prev->vaddr : vaddr;
	uint64_t g = prev ? prev->gpa : gpa;
	int r;

	if (has_prev) {
		ps = gm_span_of(prev);
		r = gm_unmap(gm, prev);
		if (r < 0)
			return r;
	}
	if (has_next) {
		ns = gm_span_of(next);
		r = gm_unmap(gm, next);
		if (r < 0) {
			if (has_prev)
				merge_restore(gm, &ps);
			return r;
		}
	}
	r = gm_map(gm, start, va, last - start + 1, perms, IOMMU_MAP_SHADOW, g);
	if (r < 0) {
		if (has_prev)
			merge_restore(gm, &ps);
		if (has_next)
			merge_restore(gm, &ns);
		return r;
	}
	if (has_prev && has_next)
		gm->stats.merges++;
	gm->stats.merges++;
	return 0;
}

/* Whether the mapping @m continues [iova, iova + size) of @vaddr and @gpa
 * in IOVA, host address and GPA, with the same permissions, and lies in
 * region @g (so the union translates through it). */
static bool mergeable(const struct iommu_mapping *m, uint64_t iova,
		      uint64_t size, const uint8_t *vaddr, uint64_t gpa,
		      uint32_t perms, const struct gm_region *g)
{
	const uint8_t *mva;
	uint64_t msz;

	if (!m || !iommu_mapping_is_policy(m) || m->flags != perms)
		return false;
	msz = iommu_mapping_size(m);
	mva = m->vaddr;
	if (m->gpa < g->gpa || m->gpa + msz > g->gpa + g->length)
		return false;
	if (m->node.last + 1 == iova)
		return mva + msz == vaddr && m->gpa + msz == gpa;
	if (iova + size == m->node.start)
		return vaddr + size == mva && gpa + size == m->gpa;
	return false;
}

/* A one-piece guest map next to compatible mappings: merge. Returns 0
 * when merged, 1 when the map is to be made on its own, or an error. */
static int try_merge(struct assign_guestmem *gm, const struct pieces *p,
		     uint64_t iova, uint64_t gpa, uint64_t size, uint32_t perms)
{
	const struct iommu_mapping *prev = NULL, *next = NULL;
	uint8_t *va = p->maps[0].vaddr;
	int r;

	if (iova) {
		prev = iommu_mapping_find(gm->iommu, iova - 1);
		if (!mergeable(prev, iova, size, va, gpa, perms, p->first))
			prev = NULL;
	}
	if (iova + size) {
		next = iommu_mapping_find(gm->iommu, iova + size);
		if (!mergeable(next, iova, size, va, gpa, perms, p->first))
			next = NULL;
	}
	if (!prev && !next)
		return 1;
	r = merge_map(gm, prev, next, iova, size, va, gpa, perms);
	if (r == 0)
		return 0;
	if (r == -ENOMEM || r == -ENOSPC)
		return gm_wrap_error(
			gm->ctx, r,
			"guest memory: guest IOMMU map IOVA 0x%" PRIx64
			" -> gpa 0x%" PRIx64 "+0x%" PRIx64
			" (merged with its neighbours)",
			iova, gpa, size);
	/* Neighbours are as before: try a separate mapping. */
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Mapping */

/* Arguments of a guest map beyond guest_checks(): the GPA and the
 * permissions. */
static int guest_map_checks(struct assign_guestmem *gm, uint64_t iova,
			    uint64_t gpa, uint64_t size, uint32_t perms)
{
	int r = guest_checks(gm, "map", iova, size);

	if (r < 0)
		return r;
	if ((gpa & (gm->min_page - 1)) || gpa + size - 1 < gpa)
		return set_error(
			gm->ctx, -EINVAL,
			"guest memory: guest IOMMU map of gpa 0x%" PRIx64
			"+0x%" PRIx64 ": not aligned to 0x%" PRIx64
			" or wraps around",
			gpa, size, gm->min_page);
	if (!perms || (perms & ~ASSIGN_DMA_F_RW))
		return set_error(
			gm->ctx, -EINVAL,
			"guest memory: guest IOMMU map: bad permissions 0x%x (ASSIGN_DMA_F_READ and/or ASSIGN_DMA_F_WRITE)",
			perms);
	return 0;
}

/*
 * The IOVA range must be free of guest mappings: -EEXIST (a guest IOMMU
 * changes a mapping by unmapping first). One made beside the policy with
 * assign_iommu_map() sets *beside; the IOMMU layer explains that one.
 */
static int check_overlap(struct assign_guestmem *gm, uint64_t iova,
			 uint64_t size, bool *beside)
{
	uint64_t last = iova + size - 1;
	const struct iommu_mapping *m =
		iommu_mapping_first(gm->iommu, iova, last);

	*beside = false;
	if (!m)
		return 0;
	if (!iommu_mapping_is_policy(m)) {
		*beside = true;
		m = gm_next(m, last);
		if (!m)
			return 0;
	}
	return set_error(gm->ctx, -EEXIST,
			 "guest memory: guest IOMMU map of IOVA 0x%" PRIx64
			 "+0x%" PRIx64 " overlaps its mapping 0x%" PRIx64
			 "-0x%" PRIx64 "; the guest must unmap it first",
			 iova, size, m->node.start, m->node.last);
}

/*
 * Translate [gpa, gpa + size) through the registered regions into @p, one
 * piece per region, by binary search. Every page must be guest RAM
 * (-EFAULT naming the first that is not) and, for a writable map, in a
 * writable region (-EACCES).
 */
static int translate(struct assign_guestmem *gm, uint64_t iova, uint64_t gpa,
		     uint64_t size, uint32_t perms, struct pieces *p)
{
	uint64_t at = gpa, left = size;
	bool hit;
	size_t ri = gm_region_search(gm, gpa, &hit);

	while (left) {
		const struct gm_region *g;
		uint64_t len;

		if (!hit)
			return set_error(
				gm->ctx, -EFAULT,
				"guest memory: guest IOMMU map IOVA 0x%" PRIx64
				" -> gpa 0x%" PRIx64 "+0x%" PRIx64
				": gpa 0x%" PRIx64
				" is not guest RAM; the guest pointed its IOMMU outside RAM, or the VMM has not registered that memory",
				iova, gpa, size, at);
		g = &gm->regions[ri];
		if ((perms & ASSIGN_DMA_F_WRITE) &&
		    (g->flags & ASSIGN_GUESTMEM_REGION_F_READONLY))
			return set_error(
				gm->ctx, -EACCES,
				"guest memory: guest IOMMU map of gpa 0x%" PRIx64
				" with write permission: the region at 0x%" PRIx64
				" is read-only",
				at, g->gpa);
		len = MIN(left, g->gpa + g->length - at);
		if (!p->first)
			p->first = g;
		if (pieces_push(p,
				&(struct assign_dma_map){
					.iova = iova + (at - gpa),
					.vaddr = g->vaddr + (at - g->gpa),
					.size = len,
					.flags = perms,
				},
				at) < 0)
			return set_error(gm->ctx, -ENOMEM,
					 "guest memory: out of memory");
		at += len;
		left -= len;
		/* The next piece must start exactly where this region ends. */
		if (left) {
			ri++;
			hit = ri < gm->nregions && gm->regions[ri].gpa == at;
		}
	}
	return 0;
}

/* The map overlaps a mapping made beside the policy: the IOMMU layer's
 * error for the first piece it refuses, as assign_iommu_map() gives it. */
static int explain_beside(struct assign_guestmem *gm, const struct pieces *p,
			  uint64_t iova, uint64_t gpa, uint64_t size)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct assign_dma_map *d = &p->maps[i];
		int r = iommu_explain_map(gm->iommu, d->iova, d->vaddr, d->size,
					  d->flags);

		if (r < 0)
			return gm_wrap_error(
				gm->ctx, r,
				"guest memory: guest IOMMU map IOVA 0x%" PRIx64
				" -> gpa 0x%" PRIx64 "+0x%" PRIx64,
				iova, gpa, size);
	}
	return 0;
}

/*
 * Map the pieces, all or none (assign_iommu_map_many()). A piece the
 * rollback could not unmap stays mapped and in the table as the policy's
 * (found by lookup, counted, unmappable by the guest); the message says
 * how many.
 */
static int map_pieces(struct assign_guestmem *gm, const struct pieces *p,
		      uint64_t iova, uint64_t gpa, uint64_t size)
{
	const struct iommu_mapping *m;
	size_t kept = 0;
	int r;

	if (p->n == 1)
		r = gm_map(gm, p->maps[0].iova, p->maps[0].vaddr,
			   p->maps[0].size, p->maps[0].flags, IOMMU_MAP_SHADOW,
			   p->gpas[0]);
	else
		r = gm_map_many(gm, p->maps, p->n, IOMMU_MAP_SHADOW, p->gpas);
	if (r == 0)
		return 0;
	/* Nothing of the policy's was in the range before (checked). */
	for (m = gm_first(gm, iova, iova + size - 1); m;
	     m = gm_next(m, iova + size - 1))
		kept++;
	if (kept)
		return gm_wrap_error(
			gm->ctx, r,
			"guest memory: guest IOMMU map IOVA 0x%" PRIx64
			" -> gpa 0x%" PRIx64 "+0x%" PRIx64
			" (%zu of its %zu pieces could not be unmapped again and stay mapped)",
			iova, gpa, size, kept, p->n);
	return gm_wrap_error(gm->ctx, r,
			     "guest memory: guest IOMMU map IOVA 0x%" PRIx64
			     " -> gpa 0x%" PRIx64 "+0x%" PRIx64,
			     iova, gpa, size);
}

ASSIGN_EXPORT int assign_guestmem_guest_map(struct assign_guestmem *gm,
					    uint64_t iova, uint64_t gpa,
					    uint64_t size, uint32_t perms)
{
	struct pieces p;
	bool beside;
	int r;

	if (!gm)
		return -EINVAL;
	pieces_init(&p);
	pthread_mutex_lock(&gm->lock);
	r = guest_map_checks(gm, iova, gpa, size, perms);
	if (r < 0)
		goto out;
	r = check_overlap(gm, iova, size, &beside);
	if (r < 0)
		goto out;
	r = translate(gm, iova, gpa, size, perms, &p);
	if (r < 0)
		goto out;
	if (beside) {
		r = explain_beside(gm, &p, iova, gpa, size);
		if (r < 0)
			goto out;
	}
	r = 1;
	if (p.n == 1 && !beside && (gm->flags & ASSIGN_GUESTMEM_F_MERGE)) {
		r = try_merge(gm, &p, iova, gpa, size, perms);
		if (r < 0)
			goto out;
	}
	if (r > 0)
		r = map_pieces(gm, &p, iova, gpa, size);
	if (r == 0)
		gm->stats.guest_maps++;
out:
	pthread_mutex_unlock(&gm->lock);
	pieces_fini(&p);
	return r;
}
