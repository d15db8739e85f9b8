// SPDX-License-Identifier: MIT
/*
 * Guest memory policy (include/libassign/guestmem.h, docs/guestmem.md).
 *
 * State: the registered RAM regions (a sorted array, binary-searched by
 * guest physical address) and counters. The host DMA mappings the policy
 * makes are records of the IOMMU object's one table, tagged with the
 * policy's kind and the guest physical address (iommu/iommu.h); this
 * object keeps no table of them. Under map-all they are the aligned chunks
 * of every region at IOVA = GPA (IOMMU_MAP_CHUNK), under the guest-IOMMU
 * policy the shadows of the guest's own mappings (IOMMU_MAP_SHADOW). The
 * policy finds its records with gm_first()/gm_next(), which pass over the
 * mappings the caller made beside it with assign_iommu_map()
 * (IOMMU_MAP_DIRECT), and never touches those.
 *
 * Maps use the IOMMU layer's internal iommu_map_prepared(), which skips
 * the per-mapping madvise(MADV_DONTFORK): every registered region is
 * marked once, whole (dontfork_region()), before anything in it is mapped.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/sys.h"
#include "vmm/vmm.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define GM_KNOWN_FLAGS (ASSIGN_GUESTMEM_F_PREFAULT | ASSIGN_GUESTMEM_F_MERGE)
#define GM_REGION_KNOWN_FLAGS (ASSIGN_GUESTMEM_REGION_F_READONLY)
/* Prefault work unit: one MADV_POPULATE_* call, made with the mmap lock
 * held for reading all along. Small enough that a VMM thread wanting the
 * lock for writing (mmap of a vCPU's run area, of a BAR) waits a few
 * milliseconds, not the whole prefault, and that cancellation through the
 * progress callback is prompt; large enough that the call costs nothing. */
#define PREFAULT_BLOCK (8ull << 20)
#define PREFAULT_MAX_THREADS 16

/* One registered range of guest RAM. */
struct gm_region {
	uint64_t gpa;
	uint64_t length;
	uint8_t *vaddr;
	int fd;
	uint64_t fd_offset;
	uint64_t page_size;
	uint32_t flags;
};

struct assign_guestmem {
	int refcount;
	pthread_mutex_t lock;
	struct assign_iommu *iommu;
	struct assign_ctx *ctx;
	enum assign_guestmem_policy policy;
	uint32_t flags;
	unsigned int prefault_threads;
	int (*progress)(void *data, uint64_t done, uint64_t total);
	void *progress_data;
	uint64_t chunk_max;

	struct gm_region *regions; /* sorted by gpa, disjoint */
	size_t nregions, cap_regions;

	uint64_t pgsizes;  /* 0 until read from the IOMMU */
	uint64_t min_page; /* lowest bit of pgsizes */

	/* ram_bytes and the operation counters; the mapping counts are the
	 * IOMMU table's (assign_guestmem_get_stats()). */
	struct assign_guestmem_stats stats;
};

/* A mapping of the policy by value: what it takes to map it again after
 * its record is gone. */
struct gm_span {
	uint64_t iova;
	uint64_t size;
	uint64_t gpa;
	uint8_t *vaddr;
	uint32_t perms;
	enum iommu_map_kind kind;
};

/* Progress of one map-all, prefault and mapping together. */
struct gm_progress {
	struct assign_guestmem *gm;
	uint64_t done, total;
};

/* ---------------------------------------------------------------------- */
/* Helpers */

static inline bool gm_aligned(uint64_t v, uint64_t a)
{
	return (v & (a - 1)) == 0;
}

static inline uint32_t gm_region_perms(const struct gm_region *r)
{
	return (r->flags & ASSIGN_GUESTMEM_REGION_F_READONLY) ?
		       ASSIGN_DMA_F_READ :
		       ASSIGN_DMA_F_RW;
}

/* The policy's lowest mapping overlapping [start, last], or NULL; the
 * caller's own mappings are passed over. */
static inline const struct iommu_mapping *
gm_first(const struct assign_guestmem *gm, uint64_t start, uint64_t last)
{
	const struct iommu_mapping *m =
		iommu_mapping_first(gm->iommu, start, last);

	while (m && !iommu_mapping_is_policy(m)) {
		m = iommu_mapping_next(m);
		if (m && m->node.start > last)
			return NULL;
	}
	return m;
}

/* The policy's next mapping after @m starting at or before @last, or
 * NULL. */
static inline const struct iommu_mapping *gm_next(const struct iommu_mapping *m,
						  uint64_t last)
{
	do {
		/* Disjoint: nothing after a mapping reaching @last is in
		 * range. */
		if (m->node.last >= last)
			return NULL;
		m = iommu_mapping_next(m);
		if (!m || m->node.start > last)
			return NULL;
	} while (!iommu_mapping_is_policy(m));
	return m;
}

static inline struct gm_span gm_span_of(const struct iommu_mapping *m)
{
	return (struct gm_span){
		.iova = m->node.start,
		.size = iommu_mapping_size(m),
		.gpa = m->gpa,
		.vaddr = m->vaddr,
		.perms = m->flags,
		.kind = m->kind,
	};
}

/* Keep the message a lower layer set, prefixed with what we were doing. */
static int gm_wrap_error(struct assign_ctx *ctx, int err, const char *fmt, ...)
	ASSIGN_PRINTF(3, 4);
static int gm_wrap_error(struct assign_ctx *ctx, int err, const char *fmt, ...)
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

/* Read the IOMMU page sizes once a device is attached. */
static int gm_load_pgsizes(struct assign_guestmem *gm)
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

/* Index of the region containing @gpa, or of the first region after it
 * (then *hit is false). */
static size_t gm_region_search(const struct assign_guestmem *gm, uint64_t gpa,
			       bool *hit)
{
	size_t lo = 0, hi = gm->nregions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct gm_region *r = &gm->regions[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->length)
			lo = mid + 1;
		else {
			*hit = true;
			return mid;
		}
	}
	*hit = false;
	return lo;
}

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
static void regions_insert(struct assign_guestmem *gm, const struct gm_region *r)
{
	bool hit;
	size_t i = gm_region_search(gm, r->gpa, &hit);

	memmove(&gm->regions[i + 1], &gm->regions[i],
		(gm->nregions - i) * sizeof(*r));
	gm->regions[i] = *r;
	gm->nregions++;
}

/* Map @s again (same IOVA, host address, GPA, permissions and kind). */
static int gm_span_map(struct assign_guestmem *gm, const struct gm_span *s)
{
	return iommu_map_prepared(gm->iommu, s->iova, s->vaddr, s->size,
				  s->perms, s->kind, s->gpa);
}

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
/* Prefault */

struct pf_block {
	uint8_t *addr;
	uint64_t len;
	uint64_t step; /* host page size of the region, for touching */
	bool write;
};

struct prefault {
	struct assign_ctx *ctx;
	struct pf_block *blocks;
	size_t nblocks;
	size_t next;      /* next block to take, under lock */
	uint64_t done;    /* bytes done, under lock */
	int err;          /* first error, under lock */
	size_t err_block;
	bool use_touch;   /* MADV_POPULATE_* unsupported: touch pages */
	bool cancel;
	long pagesz;
	pthread_mutex_t lock;
};

static void touch_pages(uint8_t *p, uint64_t len, long pagesz, bool write)
{
	for (uint64_t off = 0; off < len; off += (uint64_t)pagesz) {
		if (write)
			/* Atomic read-modify-write of the same value: faults
			 * the page in writable without changing the data, even
			 * if something else writes it concurrently. */
			__atomic_fetch_add(p + off, 0, __ATOMIC_RELAXED);
		else
			(void)*(volatile uint8_t *)(p + off);
	}
}

static int prefault_block(struct prefault *pf, const struct pf_block *b)
{
	if (pf->use_touch) {
		touch_pages(b->addr, b->len,
			    (long)MAX(b->step, (uint64_t)pf->pagesz), b->write);
		return 0;
	}
	return sys_madvise(pf->ctx, b->addr, b->len,
			   b->write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

/* Take and do one block; false when none is left. */
static bool prefault_step(struct prefault *pf)
{
	size_t i;
	int r;

	pthread_mutex_lock(&pf->lock);
	if (pf->next >= pf->nblocks || pf->err || pf->cancel) {
		pthread_mutex_unlock(&pf->lock);
		return false;
	}
	i = pf->next++;
	pthread_mutex_unlock(&pf->lock);

	r = prefault_block(pf, &pf->blocks[i]);

	pthread_mutex_lock(&pf->lock);
	if (r < 0 && !pf->err) {
		pf->err = r;
		pf->err_block = i;
	}
	if (r >= 0)
		pf->done += pf->blocks[i].len;
	pthread_mutex_unlock(&pf->lock);
	return r >= 0;
}

static void *prefault_worker(void *arg)
{
	struct prefault *pf = arg;

	while (prefault_step(pf))
		;
	return NULL;
}

static int gm_progress_report(struct gm_progress *pr)
{
	if (pr->gm->progress &&
	    pr->gm->progress(pr->gm->progress_data, pr->done, pr->total))
		return set_error(pr->gm->ctx, -ECANCELED,
				 "guest memory: mapping cancelled by the progress callback after %" PRIu64
				 " of %" PRIu64 " bytes; everything done is undone",
				 pr->done, pr->total);
	return 0;
}

static int gm_prefault_regions(struct assign_guestmem *gm,
			       const struct gm_region *regs, size_t n,
			       struct gm_progress *pr)
{
	struct prefault pf = { .ctx = gm->ctx };
	pthread_t tids[PREFAULT_MAX_THREADS];
	unsigned int nthreads = gm->prefault_threads, started = 0;
	uint64_t base_done = pr->done;
	size_t nb = 0;
	int r = 0;

	pf.pagesz = sysconf(_SC_PAGESIZE);
	if (pf.pagesz <= 0)
		pf.pagesz = 4096;
	/* Blocks are whole host pages: hugetlbfs refuses a partial 1 GiB
	 * page. */
#define BLOCK_OF(g) MAX((uint64_t)PREFAULT_BLOCK, (g)->page_size)
	for (size_t i = 0; i < n; i++)
		nb += (regs[i].length + BLOCK_OF(&regs[i]) - 1) /
		      BLOCK_OF(&regs[i]);
	if (!nb)
		return 0;
	pf.blocks = calloc(nb, sizeof(*pf.blocks));
	if (!pf.blocks)
		return set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
	for (size_t i = 0; i < n; i++) {
		uint64_t bs = BLOCK_OF(&regs[i]);

		for (uint64_t off = 0; off < regs[i].length; off += bs) {
			struct pf_block *b = &pf.blocks[pf.nblocks++];

			b->addr = regs[i].vaddr + off;
			b->len = MIN(bs, regs[i].length - off);
			b->step = regs[i].page_size;
			b->write = !(regs[i].flags &
				     ASSIGN_GUESTMEM_REGION_F_READONLY);
		}
	}
#undef BLOCK_OF

	/* Does the kernel have the advice (Linux 5.14)? Ask it about a page of
	 * our own: EINVAL on the regions themselves may also mean memory that
	 * cannot be populated (PROT_NONE, VM_IO), which must be an error and
	 * not a reason to touch it. */
	{
		void *probe = aligned_alloc((size_t)pf.pagesz,
					    (size_t)pf.pagesz);

		if (!probe) {
			r = set_error(gm->ctx, -ENOMEM,
				      "guest memory: out of memory");
			goto out_free;
		}
		r = sys_madvise(gm->ctx, probe, (size_t)pf.pagesz,
				MADV_POPULATE_WRITE);
		free(probe);
		if (r == -EINVAL) {
			notice(gm->ctx,
			       "guest memory: the kernel lacks MADV_POPULATE_WRITE (Linux 5.14); prefaulting by touching pages");
			pf.use_touch = true;
		}
	}
	r = prefault_block(&pf, &pf.blocks[0]);
	if (r < 0) {
		pf.err = r;
		goto out;
	}
	pf.next = 1;
	pf.done = pf.blocks[0].len;
	pr->done = base_done + pf.done;
	r = gm_progress_report(pr);
	if (r < 0)
		goto out_free;

	if (pthread_mutex_init(&pf.lock, NULL) != 0) {
		r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
		goto out_free;
	}
	if (nthreads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = cpus > 0 ? (unsigned int)cpus : 1;
	}
	nthreads = MIN(nthreads, PREFAULT_MAX_THREADS);
	nthreads = (unsigned int)MIN((size_t)nthreads, pf.nblocks - 1);
	/* This thread works too: start nthreads - 1 others. */
	for (unsigned int i = 1; i < nthreads; i++) {
		if (pthread_create(&tids[started], NULL, prefault_worker, &pf))
			break; /* fewer threads, still correct */
		started++;
	}
	while (prefault_step(&pf)) {
		pthread_mutex_lock(&pf.lock);
		pr->done = base_done + pf.done;
		pthread_mutex_unlock(&pf.lock);
		if (gm_progress_report(pr) < 0) {
			pthread_mutex_lock(&pf.lock);
			pf.cancel = true;
			pthread_mutex_unlock(&pf.lock);
			break;
		}
	}
	for (unsigned int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&pf.lock);
	if (pf.cancel) {
		r = -ECANCELED;
		goto out_free;
	}
	pr->done = base_done + pf.done;
	if (!pf.err) {
		r = gm_progress_report(pr);
		goto out_free;
	}
out:
	if (pf.err) {
		const struct pf_block *b = &pf.blocks[pf.err_block];

		r = set_error(gm->ctx, pf.err,
			      "guest memory: prefault of host memory %p+0x%" PRIx64
			      " failed: %s; check that the region's memory is mapped and, for hugetlbfs, that the pool has enough free pages",
			      (void *)b->addr, b->len, strerror(-pf.err));
	}
out_free:
	free(pf.blocks);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Map-all */

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
			"guest memory: mapping guest RAM needs %zu DMA mappings but the kernel allows only %" PRIu32
			" more; raise vfio_iommu_type1's dma_entry_limit module parameter, or use fewer regions or a larger chunk_max",
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
		r = iommu_unmap_mapping(gm->iommu, m);
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
	return set_error(gm->ctx, err,
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
			int r = iommu_unmap_mapping(gm->iommu, m);

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

		r = iommu_map_prepared(gm->iommu, c->iova, va, c->size,
				       gm_region_perms(g), IOMMU_MAP_CHUNK,
				       c->iova);
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

static int gm_mapall_regions(struct assign_guestmem *gm,
			     const struct gm_region *regs, size_t n)
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
		int r = iommu_unmap_mapping(gm->iommu, m);

		if (r < 0 && !err)
			err = r;
		m = next;
	}
	return err;
}

/* ---------------------------------------------------------------------- */
/* Region checks */

/* Conflicts found so far, in order. */
struct conflict_list {
	struct assign_conflict *v;
	size_t n, cap;
	bool nomem;
};

static void add_conflict(struct conflict_list *l, enum assign_conflict_kind kind,
			 size_t index, uint64_t start, uint64_t last,
			 const char *fmt, ...) ASSIGN_PRINTF(6, 7);
static void add_conflict(struct conflict_list *l, enum assign_conflict_kind kind,
			 size_t index, uint64_t start, uint64_t last,
			 const char *fmt, ...)
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

	if (r->size < offsetof(struct assign_guestmem_region, flags) +
			      sizeof(r->flags))
		return "size field too small (set it to sizeof(struct assign_guestmem_region))";
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
 * Form and overlap checks of proposed regions (among themselves and with
 * the registered ones), then, if @geometry, the IOMMU's layout check for
 * IOVA = GPA. Up to @max conflicts are stored in @conflicts and their total
 * in *count; returns 0, -ERANGE, -EINVAL (form) or another error.
 */
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

static int gm_check_regions(struct assign_guestmem *gm,
			    const struct assign_guestmem_region *regs, size_t n,
			    bool geometry, struct assign_conflict *conflicts,
			    size_t max, size_t *count)
{
	struct conflict_list cl = { 0 };
	struct assign_iova_range *ranges = NULL;
	struct assign_conflict *sub = NULL;
	size_t *idx = NULL, nr = 0, ninvalid = 0;
	int r = 0;

	*count = 0;
	if (geometry) {
		r = gm_load_pgsizes(gm);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		const struct assign_guestmem_region *g = &regs[i];
		const char *why = region_invalid(gm, g);
		uint64_t last = g->gpa + g->length - 1;
		bool hit;
		size_t k;

		if (why) {
			add_conflict(&cl, ASSIGN_CONFLICT_INVALID, i, g->gpa,
				     g->length ? last : g->gpa, "%s", why);
			ninvalid++;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const struct assign_guestmem_region *o = &regs[j];

			if (region_invalid(gm, o))
				continue;
			if (o->gpa <= last && g->gpa <= o->gpa + o->length - 1)
				add_conflict(&cl, ASSIGN_CONFLICT_OVERLAP, i,
					     MAX(g->gpa, o->gpa),
					     MIN(last, o->gpa + o->length - 1),
					     "overlaps proposed region %zu", j);
		}
		k = gm_region_search(gm, g->gpa, &hit);
		for (; k < gm->nregions && gm->regions[k].gpa <= last; k++) {
			const struct gm_region *o = &gm->regions[k];

			add_conflict(&cl, ASSIGN_CONFLICT_OVERLAP, i,
				     MAX(g->gpa, o->gpa),
				     MIN(last, o->gpa + o->length - 1),
				     "overlaps registered RAM 0x%" PRIx64
				     "-0x%" PRIx64,
				     o->gpa, o->gpa + o->length - 1);
		}
	}

	if (geometry && n > ninvalid) {
		size_t nsub = 0;

		ranges = calloc(n, sizeof(*ranges));
		idx = calloc(n, sizeof(*idx));
		if (!ranges || !idx)
			goto nomem;
		for (size_t i = 0; i < n; i++) {
			if (region_invalid(gm, &regs[i]))
				continue;
			ranges[nr].start = regs[i].gpa;
			ranges[nr].last = regs[i].gpa + regs[i].length - 1;
			idx[nr++] = i;
		}
		/* Count first, then fetch them all: they are filtered. */
		r = assign_iommu_check_layout(gm->iommu, ranges, nr, NULL, 0,
					      &nsub);
		if (r < 0 && r != -ERANGE)
			goto out;
		if (nsub) {
			size_t got = 0;

			sub = calloc(nsub, sizeof(*sub));
			if (!sub)
				goto nomem;
			sub[0].size = sizeof(sub[0]);
			r = assign_iommu_check_layout(gm->iommu, ranges, nr, sub,
						      nsub, &got);
			if (r < 0 && r != -ERANGE)
				goto out;
			/*
			 * Translate indexes back; drop overlaps between
			 * proposed ranges (reported above already) and, under
			 * the guest-IOMMU policy, "mapped" conflicts with our
			 * own guest mappings (those go before map-all maps).
			 */
			for (size_t i = 0; i < MIN(got, nsub); i++) {
				const struct assign_conflict *c = &sub[i];

				if (c->kind == ASSIGN_CONFLICT_OVERLAP)
					continue;
				if (c->kind == ASSIGN_CONFLICT_MAPPED &&
				    own_mapping(gm, c->start, c->last))
					continue;
				add_conflict(&cl, c->kind,
					     c->index < nr ? idx[c->index]
							   : c->index,
					     c->start, c->last, "%s", c->what);
			}
		}
		r = 0;
	}
	if (cl.nomem)
		goto nomem;
	*count = cl.n;
	if (conflicts && max && cl.n)
		memcpy(conflicts, cl.v, MIN(max, cl.n) * sizeof(*cl.v));
	if (cl.n) {
		const struct assign_conflict *c = &cl.v[0];

		r = set_error(gm->ctx, ninvalid ? -EINVAL : -ERANGE,
			      "guest memory: %zu layout conflict(s); first: region %zu at 0x%" PRIx64
			      "-0x%" PRIx64 ": %s; %s",
			      cl.n, c->index, c->start, c->last, c->what,
			      ninvalid ? "fix the region description"
				       : "move the RAM around it");
	}
	goto out;
nomem:
	r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
out:
	free(cl.v);
	free(sub);
	free(ranges);
	free(idx);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Public: lifetime */

/* A newer caller's larger options struct is accepted when the fields this
 * version does not know are zero. */
static bool tail_is_zero(const void *p, size_t size, size_t known)
{
	const uint8_t *b = p;

	for (size_t i = known; i < size; i++)
		if (b[i])
			return false;
	return true;
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
	if (opts) {
		if (opts->size < offsetof(struct assign_guestmem_opts, flags) +
					 sizeof(opts->flags) ||
		    (opts->size > sizeof(o) &&
		     !tail_is_zero(opts, opts->size, sizeof(o))))
			return set_error(ctx, -EINVAL,
					 "guest memory: bad opts->size %zu; set it to sizeof(struct assign_guestmem_opts)",
					 opts->size);
		memcpy(&o, opts, MIN(opts->size, sizeof(o)));
	}
	if (o.policy != ASSIGN_GUESTMEM_MAP_ALL &&
	    o.policy != ASSIGN_GUESTMEM_GUEST_IOMMU)
		return set_error(ctx, -EINVAL,
				 "guest memory: unknown policy %d", (int)o.policy);
	if (o.flags & ~GM_KNOWN_FLAGS)
		return set_error(ctx, -EINVAL,
				 "guest memory: unknown flags 0x%x",
				 o.flags & ~GM_KNOWN_FLAGS);

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
/* Public: regions */

ASSIGN_EXPORT int
assign_guestmem_check_layout(struct assign_guestmem *gm,
			     const struct assign_guestmem_region *regions,
			     size_t n, struct assign_conflict *conflicts,
			     size_t max, size_t *nconflicts)
{
	size_t count = 0;
	int r;

	if (!gm)
		return -EINVAL;
	if ((!regions && n) || (!conflicts && max))
		return set_error(gm->ctx, -EINVAL,
				 "guest memory: NULL region or conflict array");
	pthread_mutex_lock(&gm->lock);
	r = gm_check_regions(gm, regions, n, true, conflicts, max, &count);
	pthread_mutex_unlock(&gm->lock);
	if (nconflicts)
		*nconflicts = count;
	return r;
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
static int dontfork_region(struct assign_guestmem *gm, const struct gm_region *g)
{
	int r = sys_madvise(gm->ctx, g->vaddr, (size_t)g->length, MADV_DONTFORK);

	if (r == -ENOMEM)
		return set_error(gm->ctx, -EFAULT,
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
		return set_error(gm->ctx, r,
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
	pthread_mutex_lock(&gm->lock);
	mapall = gm->policy == ASSIGN_GUESTMEM_MAP_ALL;
	r = gm_check_regions(gm, regions, n, mapall, conflicts, max, &count);
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
		regs[i] = to_region(&regions[i]);
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
	return r;
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

	r = iommu_unmap_mapping(gm->iommu, m);
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
			r = iommu_unmap_mapping(gm->iommu, m);
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

/* Cut every guest mapping that translates into [gpa, last] (RAM taken
 * away under the guest-IOMMU policy). */
static int gm_shadow_remove(struct assign_guestmem *gm, uint64_t gpa,
			    uint64_t last)
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
			memmove(g, g + 1,
				(gm->nregions - i - 1) * sizeof(*g));
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

/* Map-all: unmap the chunks overlapping [gpa, last], map what remains of
 * them again. */
static int gm_mapall_remove(struct assign_guestmem *gm, uint64_t gpa,
			    uint64_t last)
{
	const struct iommu_mapping *m = gm_first(gm, gpa, last);
	int err = 0;

	while (m) {
		const struct iommu_mapping *next = gm_next(m, last);
		struct gm_span s = gm_span_of(m);
		struct gm_region rem[2];
		size_t nrem;
		int r;

		r = iommu_unmap_mapping(gm->iommu, m);
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

/* Check the registered RAM against the IOMMU geometry for map-all. */
static int gm_check_registered(struct assign_guestmem *gm)
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
		r = iommu_unmap_mapping(gm->iommu, m);
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
/* Public: guest IOMMU */

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
		r = iommu_unmap_mapping(gm->iommu, prev);
		if (r < 0)
			return r;
	}
	if (has_next) {
		ns = gm_span_of(next);
		r = iommu_unmap_mapping(gm->iommu, next);
		if (r < 0) {
			if (has_prev)
				merge_restore(gm, &ps);
			return r;
		}
	}
	r = iommu_map_prepared(gm->iommu, start, va, last - start + 1, perms,
			       IOMMU_MAP_SHADOW, g);
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
		r = iommu_map_prepared(gm->iommu, p->maps[0].iova,
				       p->maps[0].vaddr, p->maps[0].size,
				       p->maps[0].flags, IOMMU_MAP_SHADOW,
				       p->gpas[0]);
	else
		r = iommu_map_many_prepared(gm->iommu, p->maps, p->n,
					    IOMMU_MAP_SHADOW, p->gpas);
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
