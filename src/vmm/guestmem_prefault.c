// SPDX-License-Identifier: MIT
/*
 * Guest memory policy: prefault (ASSIGN_GUESTMEM_F_PREFAULT,
 * docs/guestmem.md). Before map-all pins guest RAM, populate it with
 * MADV_POPULATE_WRITE (or _READ) in blocks taken by several threads, so
 * that page allocation and zeroing run in parallel instead of page by page
 * inside the kernel's pinning loop. Kernels without the advice get the
 * pages touched instead.
 */
#include <errno.h>
#include <inttypes.h>
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

/* Prefault work unit: one MADV_POPULATE_* call, made with the mmap lock
 * held for reading all along. Small enough that a VMM thread wanting the
 * lock for writing (mmap of a vCPU's run area, of a BAR) waits a few
 * milliseconds, not the whole prefault, and that cancellation through the
 * progress callback is prompt; large enough that the call costs nothing. */
#define PREFAULT_BLOCK (8ull << 20)
#define PREFAULT_MAX_THREADS 16

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
	size_t next; /* next block to take, under lock */
	uint64_t done; /* bytes done, under lock */
	int err; /* first error, under lock */
	size_t err_block;
	bool use_touch; /* MADV_POPULATE_* unsupported: touch pages */
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

/* Blocks are whole host pages: hugetlbfs refuses a partial 1 GiB page. */
static uint64_t block_size(const struct gm_region *g)
{
	return MAX((uint64_t)PREFAULT_BLOCK, g->page_size);
}

/* Cut @regs into blocks (pf->blocks, malloc'ed; none for empty input). */
static int plan_blocks(struct prefault *pf, const struct gm_region *regs,
		       size_t n)
{
	size_t nb = 0;

	for (size_t i = 0; i < n; i++)
		nb += (regs[i].length + block_size(&regs[i]) - 1) /
		      block_size(&regs[i]);
	if (!nb)
		return 0;
	pf->blocks = calloc(nb, sizeof(*pf->blocks));
	if (!pf->blocks)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t bs = block_size(&regs[i]);

		for (uint64_t off = 0; off < regs[i].length; off += bs) {
			struct pf_block *b = &pf->blocks[pf->nblocks++];

			b->addr = regs[i].vaddr + off;
			b->len = MIN(bs, regs[i].length - off);
			b->step = regs[i].page_size;
			b->write = !(regs[i].flags &
				     ASSIGN_GUESTMEM_REGION_F_READONLY);
		}
	}
	return 0;
}

/*
 * Does the kernel have the advice (Linux 5.14)? Ask it about a page of our
 * own: EINVAL on the regions themselves may also mean memory that cannot
 * be populated (PROT_NONE, VM_IO), which must be an error and not a reason
 * to touch it.
 */
static int probe_advice(struct assign_guestmem *gm, struct prefault *pf)
{
	void *probe = aligned_alloc((size_t)pf->pagesz, (size_t)pf->pagesz);
	int r;

	if (!probe)
		return set_error(gm->ctx, -ENOMEM,
				 "guest memory: out of memory");
	r = sys_madvise(gm->ctx, probe, (size_t)pf->pagesz,
			MADV_POPULATE_WRITE);
	free(probe);
	if (r == -EINVAL) {
		notice(gm->ctx,
		       "guest memory: the kernel lacks MADV_POPULATE_WRITE (Linux 5.14); prefaulting by touching pages");
		pf->use_touch = true;
	}
	return 0;
}

static unsigned int thread_count(const struct assign_guestmem *gm,
				 size_t nblocks)
{
	unsigned int nthreads = gm->prefault_threads;

	if (nthreads == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = cpus > 0 ? (unsigned int)cpus : 1;
	}
	nthreads = MIN(nthreads, PREFAULT_MAX_THREADS);
	return (unsigned int)MIN((size_t)nthreads, nblocks - 1);
}

static int prefault_error(struct assign_guestmem *gm, const struct prefault *pf)
{
	const struct pf_block *b = &pf->blocks[pf->err_block];

	return set_error(
		gm->ctx, pf->err,
		"guest memory: prefault of host memory %p+0x%" PRIx64
		" failed: %s; check that the region's memory is mapped and, for hugetlbfs, that the pool has enough free pages",
		(void *)b->addr, b->len, strerror(-pf->err));
}

/*
 * The blocks after the first, on this thread and up to prefault_threads - 1
 * others. Progress is reported from this thread only, after each of its
 * blocks; a cancel stops every thread after its current block.
 */
static int prefault_rest(struct assign_guestmem *gm, struct prefault *pf,
			 struct gm_progress *pr, uint64_t base_done)
{
	pthread_t tids[PREFAULT_MAX_THREADS];
	unsigned int nthreads, started = 0;

	if (pthread_mutex_init(&pf->lock, NULL) != 0)
		return set_error(gm->ctx, -ENOMEM,
				 "guest memory: out of memory");
	nthreads = thread_count(gm, pf->nblocks);
	/* This thread works too: start nthreads - 1 others. */
	for (unsigned int i = 1; i < nthreads; i++) {
		if (pthread_create(&tids[started], NULL, prefault_worker, pf))
			break; /* fewer threads, still correct */
		started++;
	}
	while (prefault_step(pf)) {
		pthread_mutex_lock(&pf->lock);
		pr->done = base_done + pf->done;
		pthread_mutex_unlock(&pf->lock);
		if (gm_progress_report(pr) < 0) {
			pthread_mutex_lock(&pf->lock);
			pf->cancel = true;
			pthread_mutex_unlock(&pf->lock);
			break;
		}
	}
	for (unsigned int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&pf->lock);
	if (pf->cancel)
		return -ECANCELED; /* the message is the callback's */
	pr->done = base_done + pf->done;
	if (pf->err)
		return prefault_error(gm, pf);
	return gm_progress_report(pr);
}

int gm_prefault_regions(struct assign_guestmem *gm,
			const struct gm_region *regs, size_t n,
			struct gm_progress *pr)
{
	struct prefault pf = { .ctx = gm->ctx };
	uint64_t base_done = pr->done;
	int r;

	pf.pagesz = sysconf(_SC_PAGESIZE);
	if (pf.pagesz <= 0)
		pf.pagesz = 4096;
	if (plan_blocks(&pf, regs, n) < 0)
		return set_error(gm->ctx, -ENOMEM,
				 "guest memory: out of memory");
	if (!pf.nblocks)
		return 0;
	r = probe_advice(gm, &pf);
	if (r < 0)
		goto out;
	/* The first block on this thread alone: memory that cannot be
	 * populated fails here, before any thread is started. */
	r = prefault_block(&pf, &pf.blocks[0]);
	if (r < 0) {
		pf.err = r;
		r = prefault_error(gm, &pf);
		goto out;
	}
	pf.next = 1;
	pf.done = pf.blocks[0].len;
	pr->done = base_done + pf.done;
	r = gm_progress_report(pr);
	if (r < 0)
		goto out;
	r = prefault_rest(gm, &pf, pr, base_done);
out:
	free(pf.blocks);
	return r;
}
