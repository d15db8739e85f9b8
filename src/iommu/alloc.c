// SPDX-License-Identifier: MIT
/*
 * Placing DMA memory: a free IOVA range where the IOMMU allows one
 * (assign_iommu_iova_find()), and DMA buffers that are allocated, mapped,
 * unmapped and freed together (assign_dma_buf_new(), assign_dma_buf_free()).
 *
 * The allocator keeps no state of its own: the one table of mappings
 * (map.c) says what is taken, the geometry (geometry.c) what is allowed.
 * A range it finds is free until something is mapped there; the buffer
 * helper maps it at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/sys.h"
#include "iommu/iommu.h"

/* @v rounded up to a multiple of the power of two @a; false on overflow. */
static bool align_up(uint64_t v, uint64_t a, uint64_t *out)
{
	if (v > UINT64_MAX - (a - 1))
		return false;
	*out = (v + (a - 1)) & ~(a - 1);
	return true;
}

/*
 * The lowest IOVA in [lo, hi] aligned to @align where @size bytes fit
 * outside every blocking reserved region and every mapping; false when
 * there is none. Each step moves past one obstacle, so the walk ends.
 */
static bool find_in(const struct assign_iommu *iommu, uint64_t lo, uint64_t hi,
		    uint64_t size, uint64_t align, uint64_t *out)
{
	const struct assign_reserved_region *rr;
	const struct iommu_mapping *m;
	uint64_t cur = lo, cand, last;

	for (;;) {
		if (!align_up(cur, align, &cand) || cand > hi ||
		    size - 1 > hi - cand)
			return false;
		last = cand + (size - 1);
		rr = iommu_blocking_resv(iommu, cand, last);
		if (rr) {
			if (rr->last >= hi)
				return false;
			cur = rr->last + 1;
			continue;
		}
		m = iommu_mapping_first(iommu, cand, last);
		if (m) {
			if (m->node.last >= hi)
				return false;
			cur = m->node.last + 1;
			continue;
		}
		*out = cand;
		return true;
	}
}

ASSIGN_EXPORT int assign_iommu_iova_find(const struct assign_iommu *iommu,
					 uint64_t size, uint64_t align,
					 uint64_t *iova)
{
	struct assign_ctx *ctx;
	uint64_t a, sz;
	char rbuf[200];
	int r;

	if (!iommu || !iova)
		return -EINVAL;
	ctx = iommu->ctx;
	r = iommu_need_iommu_geometry(iommu, "IOVA allocation");
	if (r < 0)
		return r;
	a = align > iommu->align ? align : iommu->align;
	if (!size || (a & (a - 1)) || !align_up(size, iommu->align, &sz))
		return set_error(
			ctx, -EINVAL,
			"assign_iommu_iova_find: size 0x%" PRIx64
			" align 0x%" PRIx64 ": the size must be "
			"non-zero and the alignment 0 or a power of two",
			size, align);
	/* Never IOVA 0, which devices and drivers often take for "none":
	 * the search starts one alignment unit up. */
	for (size_t i = 0; i < iommu->nranges; i++) {
		uint64_t lo = iommu->ranges[i].start,
			 hi = iommu->ranges[i].last;

		if (lo < a)
			lo = a;
		if (hi > iommu->dma_limit)
			hi = iommu->dma_limit;
		if (lo > hi)
			continue;
		if (find_in(iommu, lo, hi, sz, a, iova))
			return 0;
	}
	iommu_fmt_ranges(iommu, rbuf, sizeof(rbuf));
	return set_error(ctx, -ENOSPC,
			 "no free IOVA range of 0x%" PRIx64 " bytes aligned "
			 "to 0x%" PRIx64 " in the IOVA ranges (%s) below the "
			 "DMA limit 0x%" PRIx64 ", outside the reserved "
			 "regions and the %zu mappings; unmap something or "
			 "ask for less",
			 sz, a, rbuf, iommu->dma_limit, iommu->maps.count);
}

/* ---------------------------------------------------------------------- */
/* DMA buffers */

/* What the caller sees first (so a pointer to it is one to the whole);
 * what the library keeps behind it. */
struct dma_buf {
	struct assign_dma_buf pub;
	struct assign_iommu *iommu; /* reference held */
};

/* Anonymous memory of @len bytes whose start is aligned to @align (a power
 * of two): a mapping larger by the alignment, trimmed to @len. */
static int alloc_aligned(struct assign_ctx *ctx, size_t len, size_t align,
			 void **out)
{
	uint64_t host = iommu_host_page_size();
	size_t extra = align > host ? align - host : 0, total;
	uintptr_t p, start;
	void *mem;
	int r;

	if (len > SIZE_MAX - extra)
		return set_error(ctx, -ENOMEM,
				 "a DMA buffer of 0x%zx bytes does not fit in "
				 "the address space",
				 len);
	total = len + extra;
	r = sys_mmap(ctx, NULL, total, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &mem);
	if (r < 0)
		return set_error(ctx, r,
				 "cannot allocate a DMA buffer of 0x%zx bytes: "
				 "%s",
				 len, strerror(-r));
	p = (uintptr_t)mem;
	start = (p + (align - 1)) & ~(uintptr_t)(align - 1);
	/* Give back the head and the tail the alignment did not need. */
	if (start > p)
		sys_munmap(ctx, mem, start - p);
	if (p + total > start + len)
		sys_munmap(ctx, (void *)(start + len),
			   p + total - (start + len));
	*out = (void *)start;
	return 0;
}

ASSIGN_EXPORT int assign_dma_buf_new(struct assign_iommu *iommu,
				     uint64_t length, uint32_t flags,
				     struct assign_dma_buf **ret)
{
	struct assign_ctx *ctx;
	struct dma_buf *b;
	uint64_t len, iova;
	void *mem = NULL;
	int r;

	if (!iommu || !ret)
		return -EINVAL;
	ctx = iommu->ctx;
	r = iommu_need_iommu_geometry(iommu, "DMA buffer");
	if (r < 0)
		return r;
	if (!length || !align_up(length, iommu->align, &len) || len > SIZE_MAX)
		return set_error(ctx, -EINVAL,
				 "assign_dma_buf_new: length 0x%" PRIx64
				 " must be non-zero and fit in the address "
				 "space",
				 length);
	if (!flags || (flags & ~(uint32_t)ASSIGN_DMA_F_RW))
		return set_error(ctx, -EINVAL,
				 "assign_dma_buf_new: DMA flags 0x%x: use "
				 "ASSIGN_DMA_F_READ and/or ASSIGN_DMA_F_WRITE",
				 flags);
	r = assign_iommu_iova_find(iommu, len, 0, &iova);
	if (r < 0)
		return r;
	b = calloc(1, sizeof(*b));
	if (!b)
		return set_error(ctx, -ENOMEM, "out of memory");
	r = alloc_aligned(ctx, (size_t)len, (size_t)iommu->align, &mem);
	if (r < 0) {
		free(b);
		return r;
	}
	r = assign_iommu_map(iommu, iova, mem, len, flags);
	if (r < 0) {
		sys_munmap(ctx, mem, (size_t)len);
		free(b);
		return r;
	}
	b->pub.vaddr = mem;
	b->pub.iova = iova;
	b->pub.length = len;
	b->pub.flags = flags;
	b->iommu = assign_iommu_ref(iommu);
	*ret = &b->pub;
	return 0;
}

ASSIGN_EXPORT struct assign_dma_buf *
assign_dma_buf_free(struct assign_dma_buf *buf)
{
	struct dma_buf *b;
	const struct iommu_mapping *m;
	struct assign_iommu *iommu;
	char saved[ASSIGN_ERROR_MAX];
	int r;

	if (!buf)
		return NULL;
	b = (struct dma_buf *)buf;
	iommu = b->iommu;
	/* Unmap only our own mapping: the caller may have unmapped it (say,
	 * with assign_iommu_unmap_all()) and mapped something else there. */
	m = iommu_mapping_find(iommu, buf->iova);
	if (m && m->node.start == buf->iova && m->vaddr == buf->vaddr &&
	    iommu_mapping_size(m) == buf->length) {
		assign_error_save(iommu->ctx, saved);
		r = iommu_unmap_mapping(iommu, m);
		assign_error_restore(iommu->ctx, saved);
		/* The pages stay pinned by the kernel while mapped, so the
		 * device cannot reach memory reused after the munmap. */
		if (r < 0)
			warn(iommu->ctx,
			     "DMA buffer at IOVA 0x%" PRIx64
			     ": unmapping failed (%s); the mapping stays and "
			     "goes with the IOMMU object",
			     buf->iova, strerror(-r));
	}
	sys_munmap(iommu->ctx, buf->vaddr, (size_t)buf->length);
	free(b);
	assign_iommu_unref(iommu);
	return NULL;
}
