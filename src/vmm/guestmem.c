// SPDX-License-Identifier: MIT
/*
 * Guest memory policy (include/libassign/guestmem.h, docs/guestmem.md).
 *
 * State: the registered RAM regions (a sorted array, binary-searched by
 * guest physical address) and the host DMA mappings this object made (an
 * AVL tree keyed by IOVA, iova_tree.c). Under map-all the mappings are the
 * aligned chunks of every region at IOVA = GPA; under the guest-IOMMU policy
 * they are the shadows of the guest's own mappings. Only one policy's
 * mappings exist at a time, so one tree serves both.
 *
 * Everything goes through the assign_iommu_* API: the IOMMU object does
 * the argument checks, the kernel calls and the accounting. Maps use its
 * internal iommu_map_prepared() (internal.h), which skips the per-mapping
 * madvise(MADV_DONTFORK): every registered region is marked once, whole
 * (dontfork_region()), before anything in it is mapped.
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

struct gm_region {
	uint64_t gpa;
	uint64_t length;
	uint8_t *vaddr;
	int fd;
	uint64_t fd_offset;
	uint64_t page_size;
	uint32_t flags;
};

/* One host DMA mapping made by this object. */
struct gm_map {
	struct iova_node node; /* [iova, iova + size - 1] */
	uint8_t *vaddr;
	uint64_t gpa;
	uint32_t perms;
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

	struct iova_tree maps; /* struct gm_map, by IOVA */
	uint64_t mapped_bytes;
	/* The last node freed by a guest unmap, kept for the next guest map:
	 * a map+unmap pair in steady state allocates nothing. */
	struct gm_map *spare;

	uint64_t pgsizes;  /* 0 until read from the IOMMU */
	uint64_t min_page; /* lowest bit of pgsizes */

	struct assign_guestmem_stats stats;
};

/* ---------------------------------------------------------------------- */
/* Helpers */

static inline uint64_t map_size(const struct gm_map *m)
{
	return m->node.last - m->node.start + 1;
}

static inline struct gm_map *to_map(struct iova_node *n)
{
	return n ? iova_container_of(n, struct gm_map, node) : NULL;
}

static inline bool aligned(uint64_t v, uint64_t a)
{
	return (v & (a - 1)) == 0;
}

/* Keep an error message set by a lower layer, prefixed with what we were
 * doing. */
static int wrap_error(struct assign_ctx *ctx, int err, const char *fmt, ...)
	ASSIGN_PRINTF(3, 4);
static int wrap_error(struct assign_ctx *ctx, int err, const char *fmt, ...)
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
static int load_pgsizes(struct assign_guestmem *gm)
{
	uint64_t pg;
	int r;

	if (gm->pgsizes)
		return 0;
	r = assign_iommu_get_pgsizes(gm->iommu, &pg);
	if (r < 0)
		return wrap_error(gm->ctx, r,
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
static size_t region_search(const struct assign_guestmem *gm, uint64_t gpa,
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
	size_t i = region_search(gm, r->gpa, &hit);

	memmove(&gm->regions[i + 1], &gm->regions[i],
		(gm->nregions - i) * sizeof(*r));
	gm->regions[i] = *r;
	gm->nregions++;
}

static uint32_t region_perms(const struct gm_region *r)
{
	return (r->flags & ASSIGN_GUESTMEM_REGION_F_READONLY) ? ASSIGN_DMA_F_READ
							    : ASSIGN_DMA_F_RW;
}

/* Host mapping bookkeeping. */
static struct gm_map *map_new(struct assign_guestmem *gm, uint64_t iova,
			      uint64_t size, uint8_t *vaddr, uint64_t gpa,
			      uint32_t perms)
{
	struct gm_map *m = gm->spare;

	if (m)
		gm->spare = NULL;
	else if (!(m = malloc(sizeof(*m))))
		return NULL;
	m->node.start = iova;
	m->node.last = iova + size - 1;
	m->vaddr = vaddr;
	m->gpa = gpa;
	m->perms = perms;
	return m;
}

/* Free a node no longer tracked, keeping one for the next map_new(). */
static void map_put(struct assign_guestmem *gm, struct gm_map *m)
{
	if (!gm->spare)
		gm->spare = m;
	else
		free(m);
}

static void track(struct assign_guestmem *gm, struct gm_map *m)
{
	/* Cannot fail: the kernel accepted the mapping, so it overlaps
	 * nothing we track. */
	(void)iova_tree_insert(&gm->maps, &m->node);
	gm->mapped_bytes += map_size(m);
}

static void untrack(struct assign_guestmem *gm, struct gm_map *m)
{
	iova_tree_remove(&gm->maps, &m->node);
	gm->mapped_bytes -= map_size(m);
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
	bool count_only;
};

static int chunk_push(struct chunk_list *l, uint64_t iova, uint64_t size,
		      uint64_t page)
{
	if (!l->count_only) {
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			struct chunk *p = realloc(l->v, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			l->v = p;
			l->cap = cap;
		}
		l->v[l->n] = (struct chunk){ iova, size, page };
	}
	l->n++;
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

/* Progress accounting across prefault and mapping. */
struct progress {
	struct assign_guestmem *gm;
	uint64_t done, total;
};

static int progress_report(struct progress *pr)
{
	if (pr->gm->progress &&
	    pr->gm->progress(pr->gm->progress_data, pr->done, pr->total))
		return set_error(pr->gm->ctx, -ECANCELED,
				 "guest memory: mapping cancelled by the progress callback after %" PRIu64
				 " of %" PRIu64 " bytes; everything done is undone",
				 pr->done, pr->total);
	return 0;
}

static int prefault_regions(struct assign_guestmem *gm,
			    const struct gm_region *regs, size_t n,
			    struct progress *pr)
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
	r = progress_report(pr);
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
		if (progress_report(pr) < 0) {
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
		r = progress_report(pr);
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

/*
 * Undo of a partial map-all: unmap and forget every mapping in @list,
 * newest first. A mapping the kernel refuses to unmap is still in the
 * IOMMU table and the kernel: it stays tracked (unmapped later, with the
 * object or the region) and is counted in the return value. The error
 * @err of the failed map-all and its message are kept, with a note of
 * what the rollback left behind.
 */
static int unmap_list(struct assign_guestmem *gm, struct gm_map **list,
		      size_t n, int err)
{
	char msg[ASSIGN_ERROR_MAX];
	uint64_t kept_bytes = 0;
	size_t kept = 0;

	assign_error_save(gm->ctx, msg);
	for (size_t i = n; i-- > 0;) {
		struct gm_map *m = list[i];
		int r = assign_iommu_unmap(gm->iommu, m->node.start,
					   map_size(m));

		if (r < 0 && r != -ENOENT) {
			warn(gm->ctx,
			     "guest memory: rollback could not unmap IOVA 0x%" PRIx64
			     "+0x%" PRIx64 " (%s); it stays mapped and tracked",
			     m->node.start, map_size(m), strerror(-r));
			kept++;
			kept_bytes += map_size(m);
			continue;
		}
		untrack(gm, m);
		free(m);
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
 * Unmap the mappings still tracked in the IOVA ranges of @regs, about to
 * be mapped again. Only a mapping a failed rollback could not remove is
 * there (regions never overlap, and their chunks are untracked before
 * they are mapped again); left alone, it would make the new map fail
 * with -EEXIST.
 */
static int drop_leftovers(struct assign_guestmem *gm,
			  const struct gm_region *regs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t last = regs[i].gpa + regs[i].length - 1;
		struct iova_node *nd;

		while ((nd = iova_tree_first_overlap(&gm->maps, regs[i].gpa,
						     last))) {
			struct gm_map *m = to_map(nd);
			int r = assign_iommu_unmap(gm->iommu, nd->start,
						   map_size(m));

			if (r < 0 && r != -ENOENT)
				return wrap_error(gm->ctx, r,
						  "guest memory: cannot unmap IOVA 0x%" PRIx64
						  "-0x%" PRIx64
						  ", left mapped by an earlier failed rollback",
						  nd->start, nd->last);
			untrack(gm, m);
			free(m);
		}
	}
	return 0;
}

/*
 * Map the chunks of @regs at IOVA = GPA, all or nothing. Budgets are
 * checked first. Layout checks are the caller's.
 */
static int mapall_regions(struct assign_guestmem *gm,
			  const struct gm_region *regs, size_t n)
{
	struct chunk_list cl = { 0 };
	struct progress pr = { .gm = gm };
	struct gm_map **made = NULL;
	size_t nmade = 0, *reg_of = NULL, nreg_of = 0;
	uint64_t bytes = 0;
	uint32_t avail;
	int r;

	if (!n)
		return 0;
	r = drop_leftovers(gm, regs, n);
	if (r < 0)
		return r;
	/* Re-read: a device attached since may have narrowed the sizes. */
	gm->pgsizes = 0;
	r = load_pgsizes(gm);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		size_t before = cl.n;

		r = plan_region(gm, &cl, regs[i].gpa, regs[i].length,
				regs[i].vaddr);
		if (r < 0)
			goto nomem;
		bytes += regs[i].length;
		if (cl.n > before) {
			size_t *p = realloc(reg_of, cl.n * sizeof(*p));

			if (!p)
				goto nomem;
			reg_of = p;
			while (nreg_of < cl.n)
				reg_of[nreg_of++] = i;
		}
	}

	r = assign_iommu_check_memlock(gm->iommu, bytes);
	if (r < 0) {
		r = wrap_error(gm->ctx, r,
			       "guest memory: cannot map %" PRIu64
			       " bytes of guest RAM",
			       bytes);
		goto out;
	}
	r = assign_iommu_get_dma_avail(gm->iommu, &avail);
	if (r == 0 && cl.n > avail) {
		r = set_error(gm->ctx, -ENOSPC,
			      "guest memory: mapping guest RAM needs %zu DMA mappings but the kernel allows only %" PRIu32
			      " more; raise vfio_iommu_type1's dma_entry_limit module parameter, or use fewer regions or a larger chunk_max",
			      cl.n, avail);
		goto out;
	}

	pr.total = bytes * ((gm->flags & ASSIGN_GUESTMEM_F_PREFAULT) ? 2 : 1);
	if (gm->flags & ASSIGN_GUESTMEM_F_PREFAULT) {
		r = prefault_regions(gm, regs, n, &pr);
		if (r < 0)
			goto out;
	}

	made = calloc(cl.n, sizeof(*made));
	if (!made)
		goto nomem;
	for (size_t i = 0; i < cl.n; i++) {
		const struct chunk *c = &cl.v[i];
		const struct gm_region *g = &regs[reg_of[i]];
		uint8_t *va = g->vaddr + (c->iova - g->gpa);
		uint32_t perms = region_perms(g);
		struct gm_map *m = map_new(gm, c->iova, c->size, va, c->iova,
					   perms);

		if (!m) {
			r = set_error(gm->ctx, -ENOMEM,
				      "guest memory: out of memory");
			goto undo;
		}
		r = iommu_map_prepared(gm->iommu, c->iova, va, c->size, perms);
		if (r < 0) {
			free(m);
			r = wrap_error(gm->ctx, r,
				       "guest memory: mapping guest RAM 0x%" PRIx64
				       "+0x%" PRIx64 " (chunk %zu of %zu) failed",
				       c->iova, c->size, i + 1, cl.n);
			goto undo;
		}
		track(gm, m);
		made[nmade++] = m;
		pr.done += c->size;
		r = progress_report(&pr);
		if (r < 0)
			goto undo;
	}
	dbg(gm->ctx, "guest memory: mapped %" PRIu64 " bytes in %zu chunks",
	    bytes, cl.n);
	r = 0;
	goto out;

undo:
	r = unmap_list(gm, made, nmade, r);
	goto out;
nomem:
	r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
out:
	free(made);
	free(reg_of);
	free(cl.v);
	return r;
}

/*
 * Remove every mapping this object made. Returns the first error.
 *
 * One host mapping per assign_iommu_unmap() (the IOMMU layer makes one
 * kernel call per mapping anyway): a range unmap that fails partway has
 * already dropped some of the range's mappings from the IOMMU table, and
 * guestmem could not tell which. Unmapped one by one, a mapping the
 * kernel refuses to drop stays tracked here and there, and nothing else.
 */
static int unmap_everything(struct assign_guestmem *gm)
{
	struct iova_node *n = iova_tree_first(&gm->maps);
	int err = 0;

	while (n) {
		struct iova_node *next = iova_tree_next(n);
		struct gm_map *m = to_map(n);
		int r;

		r = assign_iommu_unmap(gm->iommu, n->start, map_size(m));
		if (r < 0 && r != -ENOENT) {
			if (!err)
				err = r;
		} else {
			untrack(gm, m);
			free(m);
		}
		n = next;
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
	if (!aligned(r->gpa, page) || !aligned(r->length, page) ||
	    !aligned(va, page))
		return "gpa, length or host address not aligned to the page size";
	return NULL;
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
 * Form and overlap checks of proposed regions (among themselves and with
 * the registered ones), then, if @geometry, the IOMMU's layout check for
 * IOVA = GPA. Up to @max conflicts are stored in @conflicts and their total
 * in *count; returns 0, -ERANGE, -EINVAL (form) or another error.
 */
/*
 * Whether the IOMMU mapping in conflict with a proposed region over
 * [start, last] is one of ours that the map goes past: under the
 * guest-IOMMU policy a guest mapping (those go before map-all maps), under
 * map-all a chunk a failed rollback left mapped (outside every registered
 * region; drop_leftovers() removes it before the map).
 */
static bool own_mapping(const struct assign_guestmem *gm, uint64_t start,
			uint64_t last)
{
	bool hit;
	size_t k;

	if (!iova_tree_first_overlap(&gm->maps, start, last))
		return false;
	if (gm->policy == ASSIGN_GUESTMEM_GUEST_IOMMU)
		return true;
	k = region_search(gm, start, &hit);
	return !(hit || (k < gm->nregions && gm->regions[k].gpa <= last));
}

static int check_regions(struct assign_guestmem *gm,
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
		r = load_pgsizes(gm);
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
		k = region_search(gm, g->gpa, &hit);
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
	iova_tree_init(&gm->maps);
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
	if (unmap_everything(gm) < 0)
		warn(gm->ctx, "guest memory: some mappings could not be removed: %s",
		     assign_ctx_get_last_error(gm->ctx));
	/* Whatever the kernel refused to unmap is forgotten here; the IOMMU
	 * object unmaps it when it goes. */
	while (gm->maps.root) {
		struct gm_map *m = to_map(gm->maps.root);

		untrack(gm, m);
		free(m);
	}
	free(gm->spare);
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
	r = check_regions(gm, regions, n, true, conflicts, max, &count);
	pthread_mutex_unlock(&gm->lock);
	if (nconflicts)
		*nconflicts = count;
	return r;
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
	r = check_regions(gm, regions, n, mapall, conflicts, max, &count);
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
		r = mapall_regions(gm, regs, n);
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

/*
 * Cut [start, last] (IOVA) out of the mapping @m: unmap it whole, then map
 * the parts outside again. On return @m is either shrunk, replaced by two
 * mappings, or gone. The cut always takes effect when the unmap succeeds;
 * a remainder that cannot be mapped again is dropped and its error
 * returned.
 */
static int cut_map(struct assign_guestmem *gm, struct gm_map *m, uint64_t start,
		   uint64_t last)
{
	uint64_t ms = m->node.start, ml = m->node.last;
	struct gm_map *right = NULL;
	int r, err = 0;

	r = assign_iommu_unmap(gm->iommu, ms, ml - ms + 1);
	if (r < 0)
		return wrap_error(gm->ctx, r,
				  "guest memory: cannot unmap IOVA 0x%" PRIx64
				  "-0x%" PRIx64,
				  ms, ml);
	untrack(gm, m);
	if (start <= ms && last >= ml) {
		free(m);
		return 0;
	}
	gm->stats.splits++;
	if (last < ml) {
		uint64_t off = last + 1 - ms;

		right = map_new(gm, last + 1, ml - last, m->vaddr + off,
				m->gpa + off, m->perms);
		if (!right)
			err = set_error(gm->ctx, -ENOMEM,
					"guest memory: out of memory; IOVA 0x%" PRIx64
					"-0x%" PRIx64 " is no longer mapped",
					last + 1, ml);
	}
	if (start > ms) {
		m->node.last = start - 1;
		r = iommu_map_prepared(gm->iommu, ms, m->vaddr, start - ms,
				       m->perms);
		if (r < 0) {
			err = wrap_error(gm->ctx, r,
					 "guest memory: IOVA 0x%" PRIx64
					 "-0x%" PRIx64
					 " lost: it could not be mapped again after splitting",
					 ms, start - 1);
			free(m);
		} else {
			track(gm, m);
		}
	} else {
		free(m);
	}
	if (right) {
		r = iommu_map_prepared(gm->iommu, right->node.start,
				       right->vaddr, map_size(right),
				       right->perms);
		if (r < 0) {
			err = wrap_error(gm->ctx, r,
					 "guest memory: IOVA 0x%" PRIx64
					 "-0x%" PRIx64
					 " lost: it could not be mapped again after splitting",
					 right->node.start, right->node.last);
			free(right);
		} else {
			track(gm, right);
		}
	}
	return err;
}

/*
 * Remove every mapping in [start, last] (IOVA), cutting partial ones.
 *
 * Whole mappings go one assign_iommu_unmap() each, never a run of
 * adjacent ones in one call: when the kernel fails one of a run's unmaps,
 * the IOMMU layer has already dropped the others from its table, and
 * guestmem would keep (count, look up) mappings that no longer exist
 * (finding 5 of docs/reliability.md). One by one, a failed unmap leaves
 * exactly that mapping in both tables. It costs no kernel call: the IOMMU
 * layer unmaps a run one mapping at a time too.
 */
static int unmap_iova_range(struct assign_guestmem *gm, uint64_t start,
			    uint64_t last)
{
	struct iova_node *n = iova_tree_first_overlap(&gm->maps, start, last);
	int err = 0;

	while (n && n->start <= last) {
		/* Mappings are disjoint: none after one reaching @last. */
		struct iova_node *next = n->last < last ? iova_tree_next(n)
							: NULL;
		struct gm_map *m = to_map(n);
		int r;

		if (n->start < start || n->last > last) {
			r = cut_map(gm, m, start, last);
			if (r < 0 && !err)
				err = r;
			n = next;
			continue;
		}
		r = assign_iommu_unmap(gm->iommu, n->start, map_size(m));
		if (r < 0) {
			/* Still mapped in the IOMMU table and the kernel:
			 * it stays tracked. */
			if (!err)
				err = wrap_error(gm->ctx, r,
						 "guest memory: cannot unmap IOVA 0x%" PRIx64
						 "-0x%" PRIx64,
						 n->start, n->last);
			n = next;
			continue;
		}
		untrack(gm, m);
		map_put(gm, m);
		n = next;
	}
	return err;
}

/* Take [gpa, last] out of the region array, splitting regions. */
static int regions_cut(struct assign_guestmem *gm, uint64_t gpa, uint64_t last)
{
	bool hit;
	size_t i = region_search(gm, gpa, &hit);

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

/* Map-all: unmap the chunks overlapping [gpa, last], map their remainders
 * again in aligned chunks. */
static int mapall_remove(struct assign_guestmem *gm, uint64_t gpa,
			 uint64_t last)
{
	struct iova_node *n = iova_tree_first_overlap(&gm->maps, gpa, last);
	int err = 0;

	while (n && n->start <= last) {
		struct iova_node *next = iova_tree_next(n);
		struct gm_map *m = to_map(n);
		struct gm_region rem[2];
		size_t nrem = 0;
		int r;

		r = assign_iommu_unmap(gm->iommu, n->start,
				       n->last - n->start + 1);
		if (r < 0) {
			if (!err)
				err = wrap_error(gm->ctx, r,
						 "guest memory: cannot unmap guest RAM 0x%" PRIx64
						 "-0x%" PRIx64,
						 n->start, n->last);
			n = next;
			continue;
		}
		untrack(gm, m);
		if (m->node.start < gpa)
			rem[nrem++] = (struct gm_region){
				.gpa = m->node.start,
				.length = gpa - m->node.start,
				.vaddr = m->vaddr,
				.flags = m->perms & ASSIGN_DMA_F_WRITE
						 ? 0
						 : ASSIGN_GUESTMEM_REGION_F_READONLY,
			};
		if (m->node.last > last)
			rem[nrem++] = (struct gm_region){
				.gpa = last + 1,
				.length = m->node.last - last,
				.vaddr = m->vaddr + (last + 1 - m->node.start),
				.flags = m->perms & ASSIGN_DMA_F_WRITE
						 ? 0
						 : ASSIGN_GUESTMEM_REGION_F_READONLY,
			};
		free(m);
		if (nrem) {
			uint32_t saved = gm->flags;

			gm->stats.splits++;
			/* Remainders were populated already. */
			gm->flags &= ~ASSIGN_GUESTMEM_F_PREFAULT;
			r = mapall_regions(gm, rem, nrem);
			gm->flags = saved;
			if (r < 0 && !err)
				err = wrap_error(gm->ctx, r,
						 "guest memory: guest RAM next to the removed range could not be mapped again (DMA there now faults)");
		}
		n = next;
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
	if (!length || last < gpa || !aligned(gpa, 4096) ||
	    !aligned(length, 4096))
		return set_error(gm->ctx, -EINVAL,
				 "guest memory: remove 0x%" PRIx64 "+0x%" PRIx64
				 ": length must be non-zero and both page aligned",
				 gpa, length);
	pthread_mutex_lock(&gm->lock);
	i = region_search(gm, gpa, &hit);
	if (i >= gm->nregions || gm->regions[i].gpa > last) {
		r = set_error(gm->ctx, -ENOENT,
			      "guest memory: no registered RAM in 0x%" PRIx64
			      "-0x%" PRIx64,
			      gpa, last);
		goto out;
	}
	if (gm->policy == ASSIGN_GUESTMEM_MAP_ALL) {
		r = mapall_remove(gm, gpa, last);
	} else {
		/* Guest mappings translating into the range: collect the IOVA
		 * sub-ranges first (the tree changes while cutting). */
		struct assign_iova_range *cuts = NULL;
		size_t ncuts = 0, cap = 0;

		for (struct iova_node *n = iova_tree_first(&gm->maps); n;
		     n = iova_tree_next(n)) {
			struct gm_map *m = to_map(n);
			uint64_t ml = m->gpa + map_size(m) - 1;
			uint64_t cs, cl;

			if (m->gpa > last || ml < gpa)
				continue;
			cs = MAX(gpa, m->gpa);
			cl = MIN(last, ml);
			if (ncuts == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct assign_iova_range *p =
					realloc(cuts, nc * sizeof(*p));

				if (!p) {
					free(cuts);
					r = set_error(gm->ctx, -ENOMEM,
						      "guest memory: out of memory");
					goto out;
				}
				cuts = p;
				cap = nc;
			}
			cuts[ncuts].start = n->start + (cs - m->gpa);
			cuts[ncuts].last = n->start + (cl - m->gpa);
			ncuts++;
		}
		for (size_t k = 0; k < ncuts; k++) {
			int e = unmap_iova_range(gm, cuts[k].start,
						 cuts[k].last);

			if (e < 0 && !r)
				r = e;
		}
		free(cuts);
	}
	if (regions_cut(gm, gpa, last) < 0 && !r)
		r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
out:
	pthread_mutex_unlock(&gm->lock);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Public: policy switch */

/* Detach every mapping from the tree into a list (kernel untouched). */
static struct gm_map **detach_all(struct assign_guestmem *gm, size_t *n)
{
	struct gm_map **list;
	size_t k = 0;

	list = calloc(gm->maps.count ? gm->maps.count : 1, sizeof(*list));
	if (!list)
		return NULL;
	for (struct iova_node *it = iova_tree_first(&gm->maps); it;
	     it = iova_tree_next(it))
		list[k++] = to_map(it);
	*n = k;
	return list;
}

/* Check the registered RAM against the IOMMU geometry for map-all. */
static int check_registered(struct assign_guestmem *gm)
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
	r = check_regions(gm, probe, keep, true, NULL, 0, &count);
	gm->nregions = keep;
	free(probe);
	return r;
}

ASSIGN_EXPORT int assign_guestmem_set_policy(struct assign_guestmem *gm,
					     enum assign_guestmem_policy policy)
{
	struct gm_map **saved = NULL;
	size_t nsaved = 0, nun = 0;
	int r = 0;

	if (!gm)
		return -EINVAL;
	if (policy != ASSIGN_GUESTMEM_MAP_ALL &&
	    policy != ASSIGN_GUESTMEM_GUEST_IOMMU)
		return set_error(gm->ctx, -EINVAL,
				 "guest memory: unknown policy %d", (int)policy);
	pthread_mutex_lock(&gm->lock);
	if (policy == gm->policy)
		goto out;
	if (policy == ASSIGN_GUESTMEM_GUEST_IOMMU) {
		/* The guest turned its IOMMU on: it sees nothing until it
		 * maps it. */
		r = unmap_everything(gm);
		if (r < 0) {
			r = wrap_error(gm->ctx, r,
				       "guest memory: cannot remove the map-all mappings");
			goto out;
		}
		gm->policy = policy;
		goto out;
	}

	/* The guest turned its IOMMU off: identity map all RAM. Keep the
	 * guest mappings aside so they can be restored on failure. */
	r = load_pgsizes(gm);
	if (r < 0)
		goto out;
	saved = detach_all(gm, &nsaved);
	if (!saved) {
		r = set_error(gm->ctx, -ENOMEM, "guest memory: out of memory");
		goto out;
	}
	for (; nun < nsaved; nun++) {
		struct gm_map *m = saved[nun];
		int e = assign_iommu_unmap(gm->iommu, m->node.start,
					   map_size(m));

		if (e < 0 && e != -ENOENT) {
			/* Still mapped: it stays tracked; undo the switch. */
			r = wrap_error(gm->ctx, e,
				       "guest memory: cannot remove guest mapping IOVA 0x%" PRIx64
				       "+0x%" PRIx64 " to switch to map-all",
				       m->node.start, map_size(m));
			goto restore;
		}
		untrack(gm, m);
	}
	gm->policy = policy;
	r = check_registered(gm);
	if (r < 0)
		goto restore;
	r = mapall_regions(gm, gm->regions, gm->nregions);
	if (r < 0)
		goto restore;
	for (size_t i = 0; i < nsaved; i++)
		free(saved[i]);
	goto out;

restore:
	gm->policy = ASSIGN_GUESTMEM_GUEST_IOMMU;
	for (size_t i = 0; i < nun; i++) {
		struct gm_map *m = saved[i];
		int e = iommu_map_prepared(gm->iommu, m->node.start, m->vaddr,
					   map_size(m), m->perms);

		if (e < 0) {
			warn(gm->ctx,
			     "guest memory: guest mapping IOVA 0x%" PRIx64
			     "+0x%" PRIx64 " lost while undoing the switch (%d)",
			     m->node.start, map_size(m), e);
			free(m);
			continue;
		}
		track(gm, m);
	}
out:
	free(saved);
	pthread_mutex_unlock(&gm->lock);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Public: guest IOMMU */

static int guest_checks(struct assign_guestmem *gm, const char *op,
			uint64_t iova, uint64_t size)
{
	int r;

	if (gm->policy != ASSIGN_GUESTMEM_GUEST_IOMMU)
		return set_error(gm->ctx, -EPERM,
				 "guest memory: guest IOMMU %s while the policy is map-all; call assign_guestmem_set_policy(GUEST_IOMMU) when the guest enables its IOMMU",
				 op);
	if (!gm->min_page) {
		r = load_pgsizes(gm);
		if (r < 0)
			return r;
	}
	if (!size || iova + size - 1 < iova ||
	    ((iova | size) & (gm->min_page - 1)))
		return set_error(gm->ctx, -EINVAL,
				 "guest memory: guest IOMMU %s of IOVA 0x%" PRIx64
				 "+0x%" PRIx64
				 ": size must be non-zero and both aligned to 0x%" PRIx64,
				 op, iova, size, gm->min_page);
	return 0;
}

/* Re-map a mapping taken out of the kernel during a failed merge. */
static void merge_restore(struct assign_guestmem *gm, struct gm_map *m)
{
	int e = iommu_map_prepared(gm->iommu, m->node.start, m->vaddr,
				   map_size(m), m->perms);

	if (e < 0) {
		warn(gm->ctx,
		     "guest memory: IOVA 0x%" PRIx64 "+0x%" PRIx64
		     " lost after a failed merge (%d)",
		     m->node.start, map_size(m), e);
		free(m);
		return;
	}
	track(gm, m);
}

/*
 * Map [iova, iova + size) merged with its neighbours @prev and/or @next
 * (tracked, compatible): unmap them, map the union. On failure the
 * neighbours are mapped again as they were.
 */
static int merge_map(struct assign_guestmem *gm, struct gm_map *prev,
		     struct gm_map *next, uint64_t iova, uint64_t size,
		     uint8_t *vaddr, uint64_t gpa, uint32_t perms)
{
	uint64_t ns = prev ? prev->node.start : iova;
	uint64_t nl = next ? next->node.last : iova + size - 1;
	uint8_t *nva = prev ? prev->vaddr : vaddr;
	uint64_t ngpa = prev ? prev->gpa : gpa;
	struct gm_map *keep = prev ? prev : next;
	int r;

	if (prev) {
		r = assign_iommu_unmap(gm->iommu, prev->node.start,
				       map_size(prev));
		if (r < 0)
			return r;
		untrack(gm, prev);
	}
	if (next) {
		r = assign_iommu_unmap(gm->iommu, next->node.start,
				       map_size(next));
		if (r < 0) {
			if (prev)
				merge_restore(gm, prev);
			return r;
		}
		untrack(gm, next);
	}
	r = iommu_map_prepared(gm->iommu, ns, nva, nl - ns + 1, perms);
	if (r < 0) {
		if (prev)
			merge_restore(gm, prev);
		if (next)
			merge_restore(gm, next);
		return r;
	}
	if (prev && next) {
		free(next);
		gm->stats.merges++;
	}
	keep->node.start = ns;
	keep->node.last = nl;
	keep->vaddr = nva;
	keep->gpa = ngpa;
	track(gm, keep);
	gm->stats.merges++;
	return 0;
}

static bool mergeable(const struct gm_map *m, uint64_t iova, uint64_t size,
		      const uint8_t *vaddr, uint64_t gpa, uint32_t perms,
		      const struct gm_region *g)
{
	uint64_t msz;

	if (!m || m->perms != perms)
		return false;
	msz = map_size(m);
	/* Both must lie in region @g so the union translates through it. */
	if (m->gpa < g->gpa || m->gpa + msz > g->gpa + g->length)
		return false;
	if (m->node.last + 1 == iova)
		return m->vaddr + msz == vaddr && m->gpa + msz == gpa;
	if (iova + size == m->node.start)
		return vaddr + size == m->vaddr && gpa + size == m->gpa;
	return false;
}

ASSIGN_EXPORT int assign_guestmem_guest_map(struct assign_guestmem *gm,
					    uint64_t iova, uint64_t gpa,
					    uint64_t size, uint32_t perms)
{
	struct assign_dma_map small[4], *maps = small;
	struct gm_map *nodes_small[4], **nodes = nodes_small;
	const struct gm_region *first = NULL;
	size_t npieces = 0, cap = ARRAY_SIZE(small);
	uint64_t at, left;
	bool hit;
	size_t ri;
	int r;

	if (!gm)
		return -EINVAL;
	pthread_mutex_lock(&gm->lock);
	r = guest_checks(gm, "map", iova, size);
	if (r < 0)
		goto out;
	if ((gpa & (gm->min_page - 1)) || gpa + size - 1 < gpa) {
		r = set_error(gm->ctx, -EINVAL,
			      "guest memory: guest IOMMU map of gpa 0x%" PRIx64
			      "+0x%" PRIx64 ": not aligned to 0x%" PRIx64
			      " or wraps around",
			      gpa, size, gm->min_page);
		goto out;
	}
	if (!perms || (perms & ~ASSIGN_DMA_F_RW)) {
		r = set_error(gm->ctx, -EINVAL,
			      "guest memory: guest IOMMU map: bad permissions 0x%x (ASSIGN_DMA_F_READ and/or ASSIGN_DMA_F_WRITE)",
			      perms);
		goto out;
	}
	{
		struct iova_node *o = iova_tree_first_overlap(
			&gm->maps, iova, iova + size - 1);

		if (o) {
			r = set_error(gm->ctx, -EEXIST,
				      "guest memory: guest IOMMU map of IOVA 0x%" PRIx64
				      "+0x%" PRIx64
				      " overlaps its mapping 0x%" PRIx64 "-0x%" PRIx64
				      "; the guest must unmap it first",
				      iova, size, o->start, o->last);
			goto out;
		}
	}

	/* Translate, one piece per region. */
	ri = region_search(gm, gpa, &hit);
	at = gpa;
	left = size;
	while (left) {
		const struct gm_region *g;
		uint64_t len;

		if (!hit) {
			r = set_error(gm->ctx, -EFAULT,
				      "guest memory: guest IOMMU map IOVA 0x%" PRIx64
				      " -> gpa 0x%" PRIx64 "+0x%" PRIx64
				      ": gpa 0x%" PRIx64
				      " is not guest RAM; the guest pointed its IOMMU outside RAM, or the VMM has not registered that memory",
				      iova, gpa, size, at);
			goto out;
		}
		g = &gm->regions[ri];
		if ((perms & ASSIGN_DMA_F_WRITE) &&
		    (g->flags & ASSIGN_GUESTMEM_REGION_F_READONLY)) {
			r = set_error(gm->ctx, -EACCES,
				      "guest memory: guest IOMMU map of gpa 0x%" PRIx64
				      " with write permission: the region at 0x%" PRIx64
				      " is read-only",
				      at, g->gpa);
			goto out;
		}
		len = MIN(left, g->gpa + g->length - at);
		if (npieces == cap) {
			size_t nc = cap * 2;
			struct assign_dma_map *pm =
				malloc(nc * sizeof(*pm));
			struct gm_map **pn = malloc(nc * sizeof(*pn));

			if (!pm || !pn) {
				free(pm);
				free(pn);
				r = set_error(gm->ctx, -ENOMEM,
					      "guest memory: out of memory");
				goto out;
			}
			memcpy(pm, maps, npieces * sizeof(*pm));
			if (maps != small)
				free(maps);
			if (nodes != nodes_small)
				free(nodes);
			maps = pm;
			nodes = pn;
			cap = nc;
		}
		if (!first)
			first = g;
		maps[npieces++] = (struct assign_dma_map){
			.vaddr = g->vaddr + (at - g->gpa),
			.iova = iova + (at - gpa),
			.size = len,
			.flags = perms,
		};
		at += len;
		left -= len;
		/* The next piece must start exactly where this region ends. */
		if (left) {
			ri++;
			hit = ri < gm->nregions && gm->regions[ri].gpa == at;
		}
	}

	if (npieces == 1 && (gm->flags & ASSIGN_GUESTMEM_F_MERGE)) {
		struct gm_map *prev = NULL, *next = NULL;

		if (iova) {
			prev = to_map(iova_tree_find(&gm->maps, iova - 1));
			if (prev && !mergeable(prev, iova, size, maps[0].vaddr,
					       gpa, perms, first))
				prev = NULL;
		}
		if (iova + size) {
			next = to_map(iova_tree_find(&gm->maps, iova + size));
			if (next && !mergeable(next, iova, size, maps[0].vaddr,
					       gpa, perms, first))
				next = NULL;
		}
		if (prev || next) {
			r = merge_map(gm, prev, next, iova, size,
				      maps[0].vaddr, gpa, perms);
			if (r == 0) {
				gm->stats.guest_maps++;
				goto out;
			}
			if (r == -ENOMEM || r == -ENOSPC) {
				r = wrap_error(gm->ctx, r,
					       "guest memory: guest IOMMU map IOVA 0x%" PRIx64
					       " -> gpa 0x%" PRIx64 "+0x%" PRIx64
					       " (merged with its neighbours)",
					       iova, gpa, size);
				goto out;
			}
			/* Neighbours are as before: try a separate mapping. */
		}
	}

	for (size_t i = 0; i < npieces; i++) {
		nodes[i] = map_new(gm, maps[i].iova, maps[i].size,
				   maps[i].vaddr,
				   gpa + (maps[i].iova - iova), perms);
		if (!nodes[i]) {
			while (i-- > 0)
				free(nodes[i]);
			r = set_error(gm->ctx, -ENOMEM,
				      "guest memory: out of memory");
			goto out;
		}
	}
	if (npieces == 1)
		r = iommu_map_prepared(gm->iommu, maps[0].iova, maps[0].vaddr,
				       maps[0].size, perms);
	else
		r = iommu_map_many_prepared(gm->iommu, maps, npieces);
	if (r < 0) {
		size_t kept = 0;

		/* A piece the rollback could not unmap is still in the
		 * IOMMU table and the kernel (the pieces overlap no other
		 * mapping, checked): it stays tracked, unmappable later. */
		for (size_t i = 0; i < npieces; i++) {
			if (npieces > 1 &&
			    iommu_has_mapping(gm->iommu, maps[i].iova,
					      maps[i].size, maps[i].vaddr)) {
				track(gm, nodes[i]);
				kept++;
			} else {
				free(nodes[i]);
			}
		}
		if (kept)
			r = wrap_error(gm->ctx, r,
				       "guest memory: guest IOMMU map IOVA 0x%" PRIx64
				       " -> gpa 0x%" PRIx64 "+0x%" PRIx64
				       " (%zu of its %zu pieces could not be unmapped again and stay mapped)",
				       iova, gpa, size, kept, npieces);
		else
			r = wrap_error(gm->ctx, r,
				       "guest memory: guest IOMMU map IOVA 0x%" PRIx64
				       " -> gpa 0x%" PRIx64 "+0x%" PRIx64,
				       iova, gpa, size);
		goto out;
	}
	for (size_t i = 0; i < npieces; i++)
		track(gm, nodes[i]);
	gm->stats.guest_maps++;
out:
	pthread_mutex_unlock(&gm->lock);
	if (maps != small)
		free(maps);
	if (nodes != nodes_small)
		free(nodes);
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

ASSIGN_EXPORT int assign_guestmem_lookup(struct assign_guestmem *gm,
					 uint64_t iova,
					 struct assign_guestmem_mapping *mapping)
{
	struct assign_guestmem_mapping x = { .size = sizeof(x) };
	struct gm_map *m;
	int r = 0;

	if (!gm || sized_out_check(gm->ctx, mapping, "assign_guestmem_mapping"))
		return -EINVAL;
	pthread_mutex_lock(&gm->lock);
	m = to_map(iova_tree_find(&gm->maps, iova));
	if (m) {
		x.iova = m->node.start;
		x.gpa = m->gpa;
		x.vaddr = m->vaddr;
		x.length = map_size(m);
		x.flags = m->perms;
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
	struct assign_guestmem_stats x;

	if (!gm || sized_out_check(gm->ctx, stats, "assign_guestmem_stats"))
		return -EINVAL;
	pthread_mutex_lock(&gm->lock);
	x = gm->stats;
	x.regions = gm->nregions;
	x.host_mappings = gm->maps.count;
	x.mapped_bytes = gm->mapped_bytes;
	pthread_mutex_unlock(&gm->lock);
	SIZED_OUT_FILL(stats, &x);
	return 0;
}
