// SPDX-License-Identifier: MIT
/*
 * Guest memory policy: checks of proposed RAM (docs/guestmem.md, "Map-all",
 * steps 1 and 2). Each region's form; overlaps among the proposed regions
 * and with the registered ones; and, for IOVA = GPA, the IOMMU's layout
 * check (IOVA ranges, reserved regions, DMA limit, existing mappings),
 * less the conflicts with the policy's own mappings that the map would
 * replace. Every conflict is reported, with its region and exact range.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"

/* Conflicts found so far, in order. */
struct conflict_list {
	struct assign_conflict *v;
	size_t n, cap;
	bool nomem;
};

static void add_conflict(struct conflict_list *l,
			 enum assign_conflict_kind kind, size_t index,
			 uint64_t start, uint64_t last, const char *fmt, ...)
	ASSIGN_PRINTF(6, 7);
static void add_conflict(struct conflict_list *l,
			 enum assign_conflict_kind kind, size_t index,
			 uint64_t start, uint64_t last, const char *fmt, ...)
{
	struct assign_conflict *e;
	va_list ap;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct assign_conflict *p = realloc(l->v, cap * sizeof(*p));

		if (!p) {
			l->nomem = true;
			return;
		}
		l->v = p;
		l->cap = cap;
	}
	e = &l->v[l->n++];
	e->kind = kind;
	e->index = index;
	e->start = start;
	e->last = last;
	va_start(ap, fmt);
	vsnprintf(e->what, sizeof(e->what), fmt, ap);
	va_end(ap);
}

/* Form of one region; NULL if fine, else why not. */
static const char *region_invalid(const struct assign_guestmem *gm,
				  const struct assign_guestmem_region *r)
{
	uint64_t page = gm->min_page ? gm->min_page : 4096;
	uint64_t va = (uint64_t)(uintptr_t)r->vaddr;

	if (r->size != sizeof(*r))
		return r->size ?
			       "size is not the array's element size, or fields this libassign does not know are set" :
			       "size not set (set it to sizeof(struct assign_guestmem_region))";
	if (r->flags & ~GM_REGION_KNOWN_FLAGS)
		return "unknown flags";
	if (!r->length)
		return "zero length";
	if (r->gpa + r->length - 1 < r->gpa || va + r->length - 1 < va)
		return "wraps around the address space";
	if (!r->vaddr)
		return "no host address";
	if (r->page_size && (r->page_size & (r->page_size - 1)))
		return "page_size is not a power of two";
	if (r->page_size > page)
		page = r->page_size;
	if (!gm_aligned(r->gpa, page) || !gm_aligned(r->length, page) ||
	    !gm_aligned(va, page))
		return "gpa, length or host address not aligned to the page size";
	return NULL;
}

/*
 * Whether the IOMMU mapping in conflict with a proposed region at @start
 * is one of the policy's that the map goes past: under the guest-IOMMU
 * policy a guest mapping (those go before map-all maps), under map-all a
 * chunk a failed rollback left mapped (outside every registered region;
 * the map-all removes it first). A conflict covers part of exactly one
 * mapping, the one holding @start.
 */
static bool own_mapping(const struct assign_guestmem *gm, uint64_t start,
			uint64_t last)
{
	const struct iommu_mapping *m = iommu_mapping_find(gm->iommu, start);
	bool hit;
	size_t k;

	if (!m || !iommu_mapping_is_policy(m))
		return false;
	if (gm->policy == ASSIGN_GUESTMEM_GUEST_IOMMU)
		return true;
	k = gm_region_search(gm, start, &hit);
	return !(hit || (k < gm->nregions && gm->regions[k].gpa <= last));
}

/* Form of each proposed region, and overlaps with the other proposed
 * regions and with registered RAM. Counts the malformed ones. */
static void check_form_and_overlaps(const struct assign_guestmem *gm,
				    const struct assign_guestmem_region *regs,
				    size_t n, struct conflict_list *cl,
				    size_t *ninvalid)
{
	for (size_t i = 0; i < n; i++) {
		const struct assign_guestmem_region *g = &regs[i];
		const char *why = region_invalid(gm, g);
		uint64_t last = g->gpa + g->length - 1;
		bool hit;
		size_t k;

		if (why) {
			add_conflict(cl, ASSIGN_CONFLICT_INVALID, i, g->gpa,
				     g->length ? last : g->gpa, "%s", why);
			(*ninvalid)++;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const struct assign_guestmem_region *o = &regs[j];

			if (region_invalid(gm, o))
				continue;
			if (o->gpa <= last && g->gpa <= o->gpa + o->length - 1)
				add_conflict(cl, ASSIGN_CONFLICT_OVERLAP, i,
					     MAX(g->gpa, o->gpa),
					     MIN(last, o->gpa + o->length - 1),
					     "overlaps proposed region %zu", j);
		}
		k = gm_region_search(gm, g->gpa, &hit);
		for (; k < gm->nregions && gm->regions[k].gpa <= last; k++) {
			const struct gm_region *o = &gm->regions[k];

			add_conflict(cl, ASSIGN_CONFLICT_OVERLAP, i,
				     MAX(g->gpa, o->gpa),
				     MIN(last, o->gpa + o->length - 1),
				     "overlaps registered RAM 0x%" PRIx64
				     "-0x%" PRIx64,
				     o->gpa, o->gpa + o->length - 1);
		}
	}
}

/*
 * The IOMMU's layout check of the well-formed regions at IOVA = GPA, its
 * conflicts added to @cl with the caller's region indexes. Overlaps
 * between proposed regions (reported already) and "mapped" conflicts with
 * the policy's own mappings that the map replaces are left out.
 */
static int check_geometry(struct assign_guestmem *gm,
			  const struct assign_guestmem_region *regs, size_t n,
			  struct conflict_list *cl)
{
	struct assign_iova_range *ranges = calloc(n, sizeof(*ranges));
	size_t *idx = calloc(n, sizeof(*idx));
	struct assign_conflict *sub = NULL;
	size_t nr = 0, nsub = 0, got = 0;
	int r;

	if (!ranges || !idx) {
		r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (region_invalid(gm, &regs[i]))
			continue;
		ranges[nr].start = regs[i].gpa;
		ranges[nr].last = regs[i].gpa + regs[i].length - 1;
		idx[nr++] = i;
	}
	/* Count first, then fetch them all: they are filtered. */
	r = assign_iommu_check_layout(gm->iommu, ranges, nr, NULL, 0, &nsub);
	if (r < 0 && r != -ERANGE)
		goto out;
	r = 0;
	if (!nsub)
		goto out;
	sub = calloc(nsub, sizeof(*sub));
	if (!sub) {
		r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
		goto out;
	}
	sub[0].size = sizeof(sub[0]);
	r = assign_iommu_check_layout(gm->iommu, ranges, nr, sub, nsub, &got);
	if (r < 0 && r != -ERANGE)
		goto out;
	r = 0;
	for (size_t i = 0; i < MIN(got, nsub); i++) {
		const struct assign_conflict *c = &sub[i];

		if (c->kind == ASSIGN_CONFLICT_OVERLAP)
			continue;
		if (c->kind == ASSIGN_CONFLICT_MAPPED &&
		    own_mapping(gm, c->start, c->last))
			continue;
		add_conflict(cl, c->kind,
			     c->index < nr ? idx[c->index] : c->index, c->start,
			     c->last, "%s", c->what);
	}
out:
	free(sub);
	free(ranges);
	free(idx);
	return r;
}

int gm_check_regions(struct assign_guestmem *gm,
		     const struct assign_guestmem_region *regs, size_t n,
		     bool geometry, struct assign_conflict *conflicts,
		     size_t max, size_t *count)
{
	struct conflict_list cl = { 0 };
	size_t ninvalid = 0, stride = 0;
	int r = 0;

	*count = 0;
	if (!conflicts)
		max = 0;
	r = sized_array_stride(gm->ctx, conflicts, max, "assign_conflict",
			       &stride);
	if (r < 0)
		return r;
	if (geometry) {
		r = gm_load_pgsizes(gm);
		if (r < 0)
			return r;
	}
	check_form_and_overlaps(gm, regs, n, &cl, &ninvalid);
	if (geometry && n > ninvalid) {
		r = check_geometry(gm, regs, n, &cl);
		if (r < 0)
			goto out;
	}
	if (cl.nomem)
		goto nomem;
	*count = cl.n;
	for (size_t i = 0; i < MIN(max, cl.n); i++) {
		struct assign_conflict *c = sized_elem(conflicts, stride, i);

		c->size = stride;
		cl.v[i].size = sizeof(cl.v[i]);
		sized_out_fill(c, &cl.v[i], sizeof(cl.v[i]));
	}
	if (cl.n) {
		const struct assign_conflict *c = &cl.v[0];

		r = set_error(
			gm->ctx, ninvalid ? -EINVAL : -ERANGE,
			"guest memory: %zu layout conflict(s); first: region %zu at 0x%" PRIx64
			"-0x%" PRIx64 ": %s; %s",
			cl.n, c->index, c->start, c->last, c->what,
			ninvalid ? "fix the region description" :
				   "move the RAM around it");
	}
	goto out;
nomem:
	r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
out:
	free(cl.v);
	return r;
}

int gm_check_registered(struct assign_guestmem *gm)
{
	struct assign_guestmem_region *probe;
	size_t count = 0, keep = gm->nregions;
	int r;

	probe = calloc(keep ? keep : 1, sizeof(*probe));
	if (!probe)
		return set_error(gm->ctx, -ENOMEM,
				 "guest memory: out of memory");
	for (size_t i = 0; i < keep; i++) {
		const struct gm_region *g = &gm->regions[i];

		probe[i] = (struct assign_guestmem_region){
			.size = sizeof(probe[i]),
			.gpa = g->gpa,
			.length = g->length,
			.vaddr = g->vaddr,
			.fd = g->fd,
			.fd_offset = g->fd_offset,
			.page_size = g->page_size,
			.flags = g->flags,
		};
	}
	/* They are the registered ones: do not compare them with
	 * themselves. */
	gm->nregions = 0;
	r = gm_check_regions(gm, probe, keep, true, NULL, 0, &count);
	gm->nregions = keep;
	free(probe);
	return r;
}

ASSIGN_EXPORT int
assign_guestmem_check_layout(struct assign_guestmem *gm,
			     const struct assign_guestmem_region *regions,
			     size_t n, struct assign_conflict *conflicts,
			     size_t max, size_t *nconflicts)
{
	struct assign_guestmem_region *regs = NULL;
	size_t count = 0;
	int r;

	if (!gm)
		return -EINVAL;
	if ((!regions && n) || (!conflicts && max))
		return set_error(gm->ctx, -EINVAL,
				 "guest memory: NULL region or conflict array");
	r = gm_regions_in(gm, regions, n, &regs);
	if (r < 0)
		return r;
	pthread_mutex_lock(&gm->lock);
	r = gm_check_regions(gm, regs, n, true, conflicts, max, &count);
	pthread_mutex_unlock(&gm->lock);
	free(regs);
	if (nconflicts)
		*nconflicts = count;
	return r;
}

int gm_regions_in(struct assign_guestmem *gm,
		  const struct assign_guestmem_region *in, size_t n,
		  struct assign_guestmem_region **out)
{
	struct assign_guestmem_region *v;
	size_t stride;
	int r;

	*out = NULL;
	if (!n)
		return 0;
	r = sized_array_stride(gm->ctx, in, n, "assign_guestmem_region",
			       &stride);
	if (r < 0)
		return r;
	v = calloc(n, sizeof(*v));
	if (!v)
		return set_error(gm->ctx, -ENOMEM,
				 "guest memory: out of memory");
	for (size_t i = 0; i < n; i++) {
		const unsigned char *e =
			sized_elem((void *)(uintptr_t)in, stride, i);
		bool newer = false;

		memcpy(&v[i], e, MIN(stride, sizeof(v[i])));
		for (size_t b = sizeof(v[i]); b < stride; b++)
			newer |= e[b] != 0;
		/* Every element is its size; region_invalid() reports
		 * one that is not, or that sets what we do not know. */
		v[i].size = v[i].size == stride && !newer ? sizeof(v[i]) :
			    v[i].size == sizeof(v[i])	  ? 1 :
							    v[i].size;
	}
	*out = v;
	return 0;
}
