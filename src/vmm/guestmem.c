// SPDX-License-Identifier: MIT
/*
 * Guest memory policy (include/libassign/guestmem.h, docs/guestmem.md):
 * the object, its registered RAM, policy switches, lookup and counters.
 * Map-all, the guest IOMMU, prefault and layout checks have their own
 * files (vmm/vmm.h lists them).
 *
 * State: the registered RAM regions (a sorted array, binary-searched by
 * guest physical address) and counters. The host DMA mappings the policy
 * makes are records of the IOMMU object's one table, tagged with the
 * policy's kind and the guest physical address (iommu/iommu.h); this
 * object keeps no table of them. Under map-all they are the aligned chunks
 * of every region at IOVA = GPA, under the guest-IOMMU policy the shadows
 * of the guest's own mappings.
 *
 * Maps use the IOMMU layer's internal iommu_map_prepared(), which skips
 * the per-mapping madvise(MADV_DONTFORK): every registered region is
 * marked once, whole (dontfork_region()), before anything in it is mapped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/sys.h"
#include "vmm/vmm.h"

/* ---------------------------------------------------------------------- */
/* Helpers shared by the policy's files */

int gm_wrap_error(struct assign_ctx *ctx, int err, const char *fmt, ...)
{
	char prev[ASSIGN_ERROR_MAX], what[192];
	va_list ap;

	assign_error_save(ctx, prev);
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (prev[0])
		return set_error(ctx, err, "%s: %s", what, prev);
	return set_error(ctx, err, "%s: %s", what, strerror(-err));
}

int gm_load_pgsizes(struct assign_guestmem *gm)
{
	uint64_t pg;
	int r;

	if (gm->pgsizes)
		return 0;
	r = assign_iommu_get_pgsizes(gm->iommu, &pg);
	if (r < 0)
		return gm_wrap_error(
			gm->ctx, r,
			"guest memory: cannot read the IOMMU page sizes (open a device on the IOMMU first)");
	if (!pg)
		pg = 4096;
	gm->pgsizes = pg;
	gm->min_page = pg & -pg;
	if (gm->min_page < 4096)
		gm->min_page = 4096;
	return 0;
}

int gm_span_map(struct assign_guestmem *gm, const struct gm_span *s)
{
	return gm_map(gm, s->iova, s->vaddr, s->size, s->perms, s->kind,
		      s->gpa);
}

/*
 * Remove every mapping this object made. Returns the first error.
 *
 * One kernel unmap per mapping, each of a record of the IOMMU table: a
 * mapping the kernel refuses to drop stays in the table (mapped, counted,
 * unmapped later), and nothing else does.
 */
static int unmap_all(struct assign_guestmem *gm)
{
	const struct iommu_mapping *m = gm_first(gm, 0, UINT64_MAX);
	int err = 0;

	while (m) {
		const struct iommu_mapping *next = gm_next(m, UINT64_MAX);
		int r = gm_unmap(gm, m);

		if (r < 0 && !err)
			err = r;
		m = next;
	}
	return err;
}

/* ---------------------------------------------------------------------- */
/* Public: lifetime */

/* Copy the caller's options into @o, checking them. */
static int read_opts(struct assign_ctx *ctx,
		     const struct assign_guestmem_opts *opts,
		     struct assign_guestmem_opts *o)
{
	int r = SIZED_IN(ctx, o, opts, "assign_guestmem_opts");

	if (r < 0)
		return r;
	if (o->policy != ASSIGN_GUESTMEM_MAP_ALL &&
	    o->policy != ASSIGN_GUESTMEM_GUEST_IOMMU)
		return set_error(ctx, -EINVAL,
				 "guest memory: unknown policy %d",
				 (int)o->policy);
	if (o->flags & ~GM_KNOWN_FLAGS)
		return set_error(ctx, -EINVAL,
				 "guest memory: unknown flags 0x%x",
				 o->flags & ~GM_KNOWN_FLAGS);
	return 0;
}

ASSIGN_EXPORT int assign_guestmem_new(struct assign_iommu *iommu,
				      const struct assign_guestmem_opts *opts,
				      struct assign_guestmem **ret)
{
	struct assign_guestmem_opts o = { .size = sizeof(o) };
	struct assign_guestmem *gm;
	struct assign_ctx *ctx;
	int r;

	if (!iommu || !ret)
		return -EINVAL;
	ctx = assign_iommu_get_ctx(iommu);
	r = read_opts(ctx, opts, &o);
	if (r < 0)
		return r;

	gm = calloc(1, sizeof(*gm));
	if (!gm)
		return set_error(ctx, -ENOMEM, "guest memory: out of memory");
	if (pthread_mutex_init(&gm->lock, NULL) != 0) {
		free(gm);
		return set_error(ctx, -ENOMEM, "guest memory: out of memory");
	}
	/* One assign_guestmem per assign_iommu: the IOMMU object's owner
	 * slot. */
	r = iommu_claim_owner(iommu, gm);
	if (r < 0) {
		pthread_mutex_destroy(&gm->lock);
		free(gm);
		if (r == -EBUSY)
			return set_error(ctx, r,
					 "guest memory: this IOMMU already has a guest memory object; devices sharing an IOMMU share one mapping state, so use that object");
		return set_error(ctx, r, "guest memory: out of memory");
	}
	gm->refcount = 1;
	gm->iommu = assign_iommu_ref(iommu);
	gm->ctx = ctx;
	gm->policy = o.policy;
	gm->flags = o.flags;
	gm->prefault_threads = o.prefault_threads;
	gm->progress = o.progress;
	gm->progress_data = o.progress_data;
	gm->chunk_max = o.chunk_max;
	*ret = gm;
	return 0;
}

ASSIGN_EXPORT struct assign_guestmem *
assign_guestmem_ref(struct assign_guestmem *gm)
{
	if (gm)
		__atomic_add_fetch(&gm->refcount, 1, __ATOMIC_RELAXED);
	return gm;
}

ASSIGN_EXPORT struct assign_guestmem *
assign_guestmem_unref(struct assign_guestmem *gm)
{
	if (!gm || __atomic_sub_fetch(&gm->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	if (unmap_all(gm) < 0)
		warn(gm->ctx, "guest memory: some mappings could not be removed: %s",
		     assign_ctx_get_last_error(gm->ctx));
	/* What the kernel refused to unmap goes to the IOMMU object, which
	 * unmaps it when it goes; a later guest memory object on the same
	 * IOMMU does not take it for its own. */
	iommu_disown_mappings(gm->iommu);
	iommu_release_owner(gm->iommu, gm);
	assign_iommu_unref(gm->iommu);
	free(gm->regions);
	pthread_mutex_destroy(&gm->lock);
	free(gm);
	return NULL;
}

ASSIGN_EXPORT struct assign_iommu *
assign_guestmem_get_iommu(const struct assign_guestmem *gm)
{
	return gm ? gm->iommu : NULL;
}

ASSIGN_EXPORT enum assign_guestmem_policy
assign_guestmem_get_policy(const struct assign_guestmem *gm)
{
	enum assign_guestmem_policy p;

	if (!gm)
		return ASSIGN_GUESTMEM_MAP_ALL;
	pthread_mutex_lock((pthread_mutex_t *)&gm->lock);
	p = gm->policy;
	pthread_mutex_unlock((pthread_mutex_t *)&gm->lock);
	return p;
}

/* ---------------------------------------------------------------------- */
/* Registered RAM */

static int regions_reserve(struct assign_guestmem *gm, size_t more)
{
	size_t need = gm->nregions + more, cap;
	struct gm_region *p;

	if (need <= gm->cap_regions)
		return 0;
	cap = gm->cap_regions ? gm->cap_regions : 8;
	while (cap < need)
		cap *= 2;
	p = realloc(gm->regions, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	gm->regions = p;
	gm->cap_regions = cap;
	return 0;
}

/* Insert (regions_reserve() done before). */
static void regions_insert(struct assign_guestmem *gm,
			   const struct gm_region *r)
{
	bool hit;
	size_t i = gm_region_search(gm, r->gpa, &hit);

	memmove(&gm->regions[i + 1], &gm->regions[i],
		(gm->nregions - i) * sizeof(*r));
	gm->regions[i] = *r;
	gm->nregions++;
}

/* Take [gpa, last] out of the region array, splitting regions. */
static int regions_cut(struct assign_guestmem *gm, uint64_t gpa, uint64_t last)
{
	bool hit;
	size_t i = gm_region_search(gm, gpa, &hit);

	if (regions_reserve(gm, 1) < 0)
		return -ENOMEM;
	while (i < gm->nregions && gm->regions[i].gpa <= last) {
		struct gm_region *g = &gm->regions[i];
		uint64_t gl = g->gpa + g->length - 1;
		uint64_t cs = MAX(gpa, g->gpa), cl = MIN(last, gl);

		gm->stats.ram_bytes -= cl - cs + 1;
		if (cs == g->gpa && cl == gl) {
			memmove(g, g + 1, (gm->nregions - i - 1) * sizeof(*g));
			gm->nregions--;
			continue;
		}
		if (cs > g->gpa && cl < gl) {
			/* Hole in the middle: two regions. */
			struct gm_region tail = *g;
			uint64_t off = cl + 1 - g->gpa;

			tail.gpa = cl + 1;
			tail.length = gl - cl;
			tail.vaddr = g->vaddr + off;
			tail.fd_offset = g->fd_offset + off;
			g->length = cs - g->gpa;
			memmove(&gm->regions[i + 2], &gm->regions[i + 1],
				(gm->nregions - i - 1) * sizeof(*g));
			gm->regions[i + 1] = tail;
			gm->nregions++;
			return 0;
		}
		if (cs == g->gpa) {
			uint64_t off = cl + 1 - g->gpa;

			g->gpa = cl + 1;
			g->length -= off;
			g->vaddr += off;
			g->fd_offset += off;
		} else {
			g->length = cs - g->gpa;
		}
		i++;
	}
	return 0;
}

static struct gm_region to_region(const struct assign_guestmem_region *r)
{
	return (struct gm_region){
		.gpa = r->gpa,
		.length = r->length,
		.vaddr = r->vaddr,
		.fd = r->fd,
		.fd_offset = r->fd_offset,
		.page_size = r->page_size,
		.flags = r->flags,
	};
}

/*
 * Mark a whole region MADV_DONTFORK once. The IOMMU layer marks each range
 * it maps; for guest IOMMU mappings of scattered 4 KiB pages that would cut
 * the VMA into thousands of pieces (towards vm.max_map_count). With the
 * region marked as a whole, those later calls change nothing. It also
 * tells early whether the host memory is mapped at all.
 */
static int dontfork_region(struct assign_guestmem *gm,
			   const struct gm_region *g)
{
	int r = sys_madvise(gm->ctx, g->vaddr, (size_t)g->length,
			    MADV_DONTFORK);

	if (r == -ENOMEM)
		return set_error(
			gm->ctx, -EFAULT,
			"guest memory: host memory %p-%p of guest RAM 0x%" PRIx64
			" is not mapped in this process",
			(void *)g->vaddr, (void *)(g->vaddr + g->length - 1),
			g->gpa);
	if (r == -EINVAL) {
		/* VM_IO/VM_PFNMAP memory refuses it and is never copied on
		 * fork anyway. */
		dbg(gm->ctx, "guest memory: madvise(%p, MADV_DONTFORK): %s",
		    (void *)g->vaddr, strerror(-r));
		return 0;
	}
	if (r < 0)
		/* The maps of this region skip the per-map advice on the
		 * strength of this one: it must hold. */
		return set_error(
			gm->ctx, r,
			"guest memory: cannot mark host memory %p-%p of guest RAM 0x%" PRIx64
			" MADV_DONTFORK (%s): a fork() could then break its DMA pinning",
			(void *)g->vaddr, (void *)(g->vaddr + g->length - 1),
			g->gpa, strerror(-r));
	return 0;
}

ASSIGN_EXPORT int
assign_guestmem_add_regions(struct assign_guestmem *gm,
			    const struct assign_guestmem_region *regions,
			    size_t n, struct assign_conflict *conflicts,
			    size_t max, size_t *nconflicts)
{
	struct assign_guestmem_region *in = NULL;
	struct gm_region *regs = NULL;
	size_t count = 0;
	bool mapall;
	int r;

	if (!gm)
		return -EINVAL;
	if ((!regions && n) || (!conflicts && max))
		return set_error(gm->ctx, -EINVAL,
				 "guest memory: NULL region or conflict array");
	if (nconflicts)
		*nconflicts = 0;
	if (!n)
		return 0;
	r = gm_regions_in(gm, regions, n, &in);
	if (r < 0)
		return r;
	pthread_mutex_lock(&gm->lock);
	mapall = gm->policy == ASSIGN_GUESTMEM_MAP_ALL;
	r = gm_check_regions(gm, in, n, mapall, conflicts, max, &count);
	if (nconflicts)
		*nconflicts = count;
	if (r < 0)
		goto out;
	regs = calloc(n, sizeof(*regs));
	if (!regs || regions_reserve(gm, n) < 0) {
		r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		regs[i] = to_region(&in[i]);
		r = dontfork_region(gm, &regs[i]);
		if (r < 0)
			goto out;
	}
	if (mapall) {
		r = gm_mapall_regions(gm, regs, n);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		regions_insert(gm, &regs[i]);
		gm->stats.ram_bytes += regs[i].length;
	}
	r = 0;
out:
	pthread_mutex_unlock(&gm->lock);
	free(regs);
	free(in);
	return r;
}

ASSIGN_EXPORT int assign_guestmem_remove(struct assign_guestmem *gm,
					 uint64_t gpa, uint64_t length)
{
	uint64_t last;
	bool hit;
	size_t i;
	int r = 0;

	if (!gm)
		return -EINVAL;
	last = gpa + length - 1;
	if (!length || last < gpa || !gm_aligned(gpa, 4096) ||
	    !gm_aligned(length, 4096))
		return set_error(gm->ctx, -EINVAL,
				 "guest memory: remove 0x%" PRIx64 "+0x%" PRIx64
				 ": length must be non-zero and both page aligned",
				 gpa, length);
	pthread_mutex_lock(&gm->lock);
	i = gm_region_search(gm, gpa, &hit);
	if (i >= gm->nregions || gm->regions[i].gpa > last) {
		r = set_error(gm->ctx, -ENOENT,
			      "guest memory: no registered RAM in 0x%" PRIx64
			      "-0x%" PRIx64,
			      gpa, last);
		goto out;
	}
	if (gm->policy == ASSIGN_GUESTMEM_MAP_ALL)
		r = gm_mapall_remove(gm, gpa, last);
	else
		r = gm_shadow_remove(gm, gpa, last);
	if (regions_cut(gm, gpa, last) < 0 && !r)
		r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
out:
	pthread_mutex_unlock(&gm->lock);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Public: policy switch */

/* The guest turned its IOMMU on: it sees nothing until it maps it. */
static int switch_to_guest_iommu(struct assign_guestmem *gm)
{
	int r = unmap_all(gm);

	if (r < 0)
		return gm_wrap_error(
			gm->ctx, r,
			"guest memory: cannot remove the map-all mappings");
	gm->policy = ASSIGN_GUESTMEM_GUEST_IOMMU;
	return 0;
}

/* Undo a failed switch to map-all: the guest mappings in @saved come
 * back, the policy stays the guest IOMMU. */
static void restore_guest_mappings(struct assign_guestmem *gm,
				   const struct gm_span *saved, size_t n)
{
	gm->policy = ASSIGN_GUESTMEM_GUEST_IOMMU;
	for (size_t i = 0; i < n; i++) {
		const struct gm_span *s = &saved[i];
		int e = gm_span_map(gm, s);

		if (e < 0)
			warn(gm->ctx,
			     "guest memory: guest mapping IOVA 0x%" PRIx64
			     "+0x%" PRIx64
			     " lost while undoing the switch (%d)",
			     s->iova, s->size, e);
	}
}

/*
 * The guest turned its IOMMU off: remove its mappings, keeping them aside
 * so that they can be restored on failure, and identity map all RAM.
 */
static int switch_to_map_all(struct assign_guestmem *gm)
{
	const struct iommu_mapping *m, *next;
	struct gm_span *saved;
	uint64_t nchunk, nshadow, bytes;
	size_t nsaved = 0;
	int r;

	r = gm_load_pgsizes(gm);
	if (r < 0)
		return r;
	iommu_mapping_count(gm->iommu, IOMMU_MAP_CHUNK, &nchunk, &bytes);
	iommu_mapping_count(gm->iommu, IOMMU_MAP_SHADOW, &nshadow, &bytes);
	saved = calloc(nchunk + nshadow ? nchunk + nshadow : 1, sizeof(*saved));
	if (!saved)
		return set_error(gm->ctx, -ENOMEM,
				 "guest memory: out of memory");
	for (m = gm_first(gm, 0, UINT64_MAX); m; m = next) {
		struct gm_span s = gm_span_of(m);

		next = gm_next(m, UINT64_MAX);
		r = gm_unmap(gm, m);
		if (r < 0) {
			/* Still mapped, still in the table: undo the
			 * switch. */
			r = gm_wrap_error(
				gm->ctx, r,
				"guest memory: cannot remove guest mapping IOVA 0x%" PRIx64
				"+0x%" PRIx64 " to switch to map-all",
				s.iova, s.size);
			goto restore;
		}
		saved[nsaved++] = s;
	}
	gm->policy = ASSIGN_GUESTMEM_MAP_ALL;
	r = gm_check_registered(gm);
	if (r < 0)
		goto restore;
	r = gm_mapall_regions(gm, gm->regions, gm->nregions);
	if (r < 0)
		goto restore;
	free(saved);
	return 0;

restore:
	restore_guest_mappings(gm, saved, nsaved);
	free(saved);
	return r;
}

ASSIGN_EXPORT int assign_guestmem_set_policy(struct assign_guestmem *gm,
					     enum assign_guestmem_policy policy)
{
	int r = 0;

	if (!gm)
		return -EINVAL;
	if (policy != ASSIGN_GUESTMEM_MAP_ALL &&
	    policy != ASSIGN_GUESTMEM_GUEST_IOMMU)
		return set_error(gm->ctx, -EINVAL,
				 "guest memory: unknown policy %d",
				 (int)policy);
	pthread_mutex_lock(&gm->lock);
	if (policy != gm->policy)
		r = policy == ASSIGN_GUESTMEM_GUEST_IOMMU ?
			    switch_to_guest_iommu(gm) :
			    switch_to_map_all(gm);
	pthread_mutex_unlock(&gm->lock);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Public: lookup and counters */

ASSIGN_EXPORT int assign_guestmem_lookup(struct assign_guestmem *gm,
					 uint64_t iova,
					 struct assign_guestmem_mapping *mapping)
{
	struct assign_guestmem_mapping x = { .size = sizeof(x) };
	const struct iommu_mapping *m;
	int r = 0;

	if (!gm || sized_out_check(gm->ctx, mapping, "assign_guestmem_mapping"))
		return -EINVAL;
	pthread_mutex_lock(&gm->lock);
	m = iommu_mapping_find(gm->iommu, iova);
	if (m && iommu_mapping_is_policy(m)) {
		x.iova = m->node.start;
		x.gpa = m->gpa;
		x.vaddr = m->vaddr;
		x.length = iommu_mapping_size(m);
		x.flags = m->flags;
	} else {
		r = -ENOENT;
	}
	pthread_mutex_unlock(&gm->lock);
	if (!r)
		SIZED_OUT_FILL(mapping, &x);
	return r;
}

ASSIGN_EXPORT int assign_guestmem_get_stats(struct assign_guestmem *gm,
					    struct assign_guestmem_stats *stats)
{
	uint64_t nchunk, nshadow, bchunk, bshadow;
	struct assign_guestmem_stats x;

	if (!gm || sized_out_check(gm->ctx, stats, "assign_guestmem_stats"))
		return -EINVAL;
	pthread_mutex_lock(&gm->lock);
	iommu_mapping_count(gm->iommu, IOMMU_MAP_CHUNK, &nchunk, &bchunk);
	iommu_mapping_count(gm->iommu, IOMMU_MAP_SHADOW, &nshadow, &bshadow);
	x = gm->stats;
	x.regions = gm->nregions;
	x.host_mappings = nchunk + nshadow;
	x.mapped_bytes = bchunk + bshadow;
	pthread_mutex_unlock(&gm->lock);
	SIZED_OUT_FILL(stats, &x);
	return 0;
}
