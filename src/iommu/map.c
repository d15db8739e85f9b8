// SPDX-License-Identifier: MIT
/*
 * The one table of DMA mappings of an IOMMU object, and map/unmap through
 * it: every request is checked (geometry.c) before the kernel sees it, the
 * kernel call goes to the backend, and the table records what was made.
 * The table is an AVL tree of non-overlapping mappings keyed by IOVA
 * (core/iova_tree.c): lookup, insertion and removal are O(log n). It holds
 * the caller's mappings and the guest memory policy's alike, each record
 * saying who made it (enum iommu_map_kind); the policy reads it through
 * the functions of iommu.h and keeps no table of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/sys.h"
#include "iommu/iommu.h"

/* ---------------------------------------------------------------------- */
/* The mapping table */

const struct iommu_mapping *iommu_mapping_find(const struct assign_iommu *iommu,
					       uint64_t iova)
{
	return iommu_mapping_of(iova_tree_find(&iommu->maps, iova));
}

const struct iommu_mapping *
iommu_mapping_first(const struct assign_iommu *iommu, uint64_t start,
		    uint64_t last)
{
	return iommu_mapping_of(
		iova_tree_first_overlap(&iommu->maps, start, last));
}

const struct iommu_mapping *iommu_mapping_next(const struct iommu_mapping *m)
{
	return iommu_mapping_of(iova_tree_next(&m->node));
}

void iommu_mapping_count(const struct assign_iommu *iommu,
			 enum iommu_map_kind kind, uint64_t *mappings,
			 uint64_t *bytes)
{
	*mappings = iommu->by_kind[kind].mappings;
	*bytes = iommu->by_kind[kind].bytes;
}

void iommu_disown_mappings(struct assign_iommu *iommu)
{
	struct iova_node *n;

	for (n = iova_tree_first(&iommu->maps); n; n = iova_tree_next(n)) {
		struct iommu_mapping *m = iommu_mapping_of(n);

		if (m->kind == IOMMU_MAP_DIRECT)
			continue;
		iommu->by_kind[m->kind].mappings--;
		iommu->by_kind[m->kind].bytes -= iommu_mapping_size(m);
		m->kind = IOMMU_MAP_DIRECT;
		m->gpa = 0;
		iommu->by_kind[IOMMU_MAP_DIRECT].mappings++;
		iommu->by_kind[IOMMU_MAP_DIRECT].bytes += iommu_mapping_size(m);
	}
}

/* A node for one mapping, not in the table yet; NULL when out of memory
 * (no message). Give it back with map_free() if it is not inserted. */
static struct iommu_mapping *map_alloc(struct assign_iommu *iommu)
{
	struct iommu_mapping *m = iommu->spare;

	if (m) {
		iommu->spare = NULL;
		return m;
	}
	return malloc(sizeof(*m));
}

static void map_free(struct assign_iommu *iommu, struct iommu_mapping *m)
{
	if (!iommu->spare)
		iommu->spare = m;
	else
		free(m);
}

/* Fill @m and put it in the table; the request was checked, so it
 * overlaps nothing there. */
static void map_insert(struct assign_iommu *iommu, struct iommu_mapping *m,
		       void *vaddr, uint64_t iova, uint64_t size,
		       uint32_t flags, enum iommu_map_kind kind, uint64_t gpa)
{
	int r;

	m->node.start = iova;
	m->node.last = iova + (size - 1);
	m->vaddr = vaddr;
	m->gpa = gpa;
	m->flags = flags;
	m->kind = kind;
	r = iova_tree_insert(&iommu->maps, &m->node);
	(void)r; /* 0: check_request() excluded every overlap */
	iommu->mapped_bytes += size;
	iommu->by_kind[kind].mappings++;
	iommu->by_kind[kind].bytes += size;
}

/* Kernel unmap of @m, then drop it from the table and free it. */
static int unmap_mapping(struct assign_iommu *iommu, struct iommu_mapping *m)
{
	uint64_t size = iommu_mapping_size(m);
	int r;

	r = iommu->ops->unmap(iommu, m->node.start, size);
	if (r < 0)
		return r;
	iova_tree_remove(&iommu->maps, &m->node);
	iommu->mapped_bytes -= size;
	iommu->by_kind[m->kind].mappings--;
	iommu->by_kind[m->kind].bytes -= size;
	map_free(iommu, m);
	return 0;
}

int iommu_unmap_mapping(struct assign_iommu *iommu,
			const struct iommu_mapping *m)
{
	uint64_t iova = m->node.start, last = m->node.last;
	int r;

	/* The record is this table's own: writable here. */
	r = unmap_mapping(iommu, (struct iommu_mapping *)m);
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "unmapping IOVA 0x%" PRIx64 "-0x%" PRIx64
				 " failed: %s",
				 iova, last, strerror(-r));
	return 0;
}

void iommu_forget_mappings(struct assign_iommu *iommu)
{
	while (iommu->maps.root) {
		struct iommu_mapping *m = iommu_mapping_of(iommu->maps.root);

		iova_tree_remove(&iommu->maps, &m->node);
		free(m);
	}
	iommu->mapped_bytes = 0;
	memset(iommu->by_kind, 0, sizeof(iommu->by_kind));
}

int iommu_unmap_everything(struct assign_iommu *iommu)
{
	struct iova_node *n, *prev;
	int err = 0;

	if (!iommu->maps.count)
		return 0;
	dbg(iommu->ctx, "unmapping %zu DMA mappings (%" PRIu64 " bytes)",
	    iommu->maps.count, iommu->mapped_bytes);
	/* From the highest IOVA down, as before. Failed ones stay. */
	for (n = iova_tree_last(&iommu->maps); n; n = prev) {
		int r;

		prev = iova_tree_prev(n);
		r = unmap_mapping(iommu, iommu_mapping_of(n));
		if (r < 0 && !err)
			err = r;
	}
	return err;
}

/*
 * The object's own limit on mappings (assign_iommu_opts.max_mappings):
 * -ENOSPC when @n more would pass it.
 */
static int check_max_mappings(const struct assign_iommu *iommu, const char *pfx,
			      size_t n)
{
	if (!iommu->max_mappings ||
	    n <= iommu->max_mappings -
			    MIN(iommu->maps.count, (size_t)iommu->max_mappings))
		return 0;
	return set_error(iommu->ctx, -ENOSPC,
			 "%sthis IOMMU object's limit of %" PRIu32 " DMA "
			 "mappings is reached (%zu made, %zu more asked): "
			 "each pins memory, and the limit keeps a guest from "
			 "pinning without bound; use fewer, larger mappings "
			 "or raise assign_iommu_opts.max_mappings",
			 pfx, iommu->max_mappings, iommu->maps.count, n);
}

/*
 * Check one request. @pfx names it in messages ("" or "request 3: ").
 */
static int check_request(const struct assign_iommu *iommu, const char *pfx,
			 const void *vaddr, uint64_t iova, uint64_t size,
			 uint32_t flags)
{
	struct assign_ctx *ctx = iommu->ctx;
	const struct assign_reserved_region *rr;
	const struct iommu_mapping *m;
	uint64_t last, align = iommu->align, cur, ps, pl;
	bool done = false;

	if (!flags || (flags & ~(uint32_t)ASSIGN_DMA_F_RW))
		return set_error(ctx, -EINVAL,
				 "%sDMA flags 0x%x: use ASSIGN_DMA_F_READ and/or "
				 "ASSIGN_DMA_F_WRITE",
				 pfx, flags);
	if (!size)
		return set_error(ctx, -EINVAL, "%sDMA mapping of size 0", pfx);
	if (size - 1 > UINT64_MAX - iova)
		return set_error(ctx, -EINVAL,
				 "%sIOVA 0x%" PRIx64 " + size 0x%" PRIx64
				 " wraps around the address space",
				 pfx, iova, size);
	if ((uintptr_t)vaddr > UINTPTR_MAX - (size - 1) ||
	    size - 1 > (uint64_t)UINTPTR_MAX)
		return set_error(ctx, -EINVAL,
				 "%shost range %p + size 0x%" PRIx64
				 " wraps around the address space",
				 pfx, vaddr, size);
	if ((iova | size | (uint64_t)(uintptr_t)vaddr) & (align - 1))
		return set_error(ctx, -EINVAL,
				 "%sDMA mapping vaddr %p IOVA 0x%" PRIx64
				 " size 0x%" PRIx64 " is not aligned to the "
				 "IOMMU page size 0x%" PRIx64,
				 pfx, vaddr, iova, size, align);
	last = iova + (size - 1);
	/* Reserved regions first: the kernel also removes them from the IOVA
	 * ranges, and "reserved region msi ..." says more than "outside". */
	rr = iommu_blocking_resv(iommu, iova, last);
	if (rr)
		return set_error(ctx, -ERANGE,
				 "%sIOVA 0x%" PRIx64 "-0x%" PRIx64
				 " overlaps reserved region %s 0x%" PRIx64
				 "-0x%" PRIx64 "; place memory around it",
				 pfx, iova, last, rr->type, rr->start,
				 rr->last);
	cur = iova;
	if (iommu_next_uncovered(iommu, &cur, last, &done, &ps, &pl)) {
		char rbuf[200];

		iommu_fmt_ranges(iommu, rbuf, sizeof(rbuf));
		return set_error(ctx, -ERANGE,
				 "%sIOVA 0x%" PRIx64 "-0x%" PRIx64
				 " is outside the IOVA ranges the IOMMU accepts "
				 "(0x%" PRIx64 "-0x%" PRIx64 " is not in any; "
				 "valid: %s)",
				 pfx, iova, last, ps, pl, rbuf);
	}
	if (last > iommu->dma_limit)
		return set_error(ctx, -ERANGE,
				 "%sIOVA 0x%" PRIx64 "-0x%" PRIx64
				 " is above the DMA limit 0x%" PRIx64
				 " set with assign_iommu_set_dma_limit()",
				 pfx, iova, last, iommu->dma_limit);
	m = iommu_mapping_first(iommu, iova, last);
	if (m)
		return set_error(ctx, -EEXIST,
				 "%sIOVA 0x%" PRIx64 "-0x%" PRIx64
				 " overlaps the existing mapping 0x%" PRIx64
				 "-0x%" PRIx64 " (vaddr %p); unmap it first",
				 pfx, iova, last, m->node.start, m->node.last,
				 m->vaddr);
	return 0;
}

int iommu_explain_map(const struct assign_iommu *iommu, uint64_t iova,
		      const void *vaddr, uint64_t size, uint32_t flags)
{
	return check_request(iommu, "", vaddr, iova, size, flags);
}

static int memlock_message(const struct assign_iommu *iommu, int err,
			   const char *pfx, uint64_t more)
{
	struct assign_ctx *ctx = iommu->ctx;
	struct rlimit rl;
	uint64_t need = more > UINT64_MAX - iommu->mapped_bytes
				? UINT64_MAX
				: iommu->mapped_bytes + more;
	char lim[48];
	int r;

	r = sys_getrlimit(ctx, RLIMIT_MEMLOCK, &rl);
	if (r < 0)
		snprintf(lim, sizeof(lim), "unknown (%s)", strerror(-r));
	else if (rl.rlim_cur == RLIM_INFINITY)
		snprintf(lim, sizeof(lim), "unlimited");
	else
		snprintf(lim, sizeof(lim), "%" PRIu64 " bytes",
			 (uint64_t)rl.rlim_cur);
	return set_error(ctx, err,
			 "%spinning %" PRIu64 " more bytes for DMA needs %"
			 PRIu64 " bytes of locked memory (RLIMIT_MEMLOCK is %s, "
			 "shared with other pinned and mlock'ed memory of the "
			 "process); raise it with ulimit -l, LimitMEMLOCK= in "
			 "the systemd unit or memlock in "
			 "/etc/security/limits.conf, or give the process "
			 "CAP_IPC_LOCK (outside any user namespace)",
			 pfx, more, need, lim);
}

static bool has_cap_ipc_lock(struct assign_ctx *ctx);

/*
 * ENOMEM from a kernel map: the memlock limit when it applies; when it
 * does not (RLIMIT_MEMLOCK unlimited, or CAP_IPC_LOCK), the kernel ran out
 * of memory itself (pinning, IOMMU page tables).
 */
static int map_enomem_message(const struct assign_iommu *iommu,
			      const char *pfx, uint64_t size)
{
	struct assign_ctx *ctx = iommu->ctx;
	struct rlimit rl;
	const char *why = NULL;

	if (sys_getrlimit(ctx, RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur == RLIM_INFINITY)
		why = "RLIMIT_MEMLOCK is unlimited";
	else if (has_cap_ipc_lock(ctx))
		why = "the process has CAP_IPC_LOCK";
	if (!why)
		return memlock_message(iommu, -ENOMEM, pfx, size);
	return set_error(ctx, -ENOMEM,
			 "%sthe kernel ran out of memory pinning %" PRIu64
			 " more bytes for DMA (%" PRIu64 " already pinned "
			 "through this object; the memlock limit does not "
			 "apply: %s); free host memory or map less",
			 pfx, size, iommu->mapped_bytes, why);
}

/* Explain a kernel error from a map call. */
static int map_kernel_error(const struct assign_iommu *iommu, int r,
			    const char *pfx, void *vaddr, uint64_t iova,
			    uint64_t size)
{
	struct assign_ctx *ctx = iommu->ctx;
	uint64_t last = iova + (size - 1);

	switch (r) {
	case -ENOMEM:
		return map_enomem_message(iommu, pfx, size);
	case -ENOSPC:
		return set_error(ctx, r,
				 "%sthe kernel's DMA entry limit is reached "
				 "(%zu library mappings); use fewer, larger "
				 "mappings (hugepages) or raise "
				 "vfio_iommu_type1's dma_entry_limit module "
				 "parameter",
				 pfx, iommu->maps.count);
	case -EEXIST:
		return set_error(ctx, r,
				 "%sIOVA 0x%" PRIx64 "-0x%" PRIx64
				 " is already mapped in the kernel by a mapping "
				 "the library did not make (escape hatch fd?)",
				 pfx, iova, last);
	case -EFAULT:
		return set_error(ctx, r,
				 "%sthe kernel cannot pin host memory %p-%p: "
				 "is it mapped, and writable if the device "
				 "writes?",
				 pfx, vaddr, (char *)vaddr + (size - 1));
	default:
		return set_error(ctx, r,
				 "%smapping IOVA 0x%" PRIx64 "-0x%" PRIx64
				 " (vaddr %p) failed: %s",
				 pfx, iova, last, vaddr, strerror(-r));
	}
}

static int dontfork(struct assign_iommu *iommu, const char *pfx, void *vaddr,
		    uint64_t size)
{
	int r = sys_madvise(iommu->ctx, vaddr, (size_t)size, MADV_DONTFORK);

	if (r == -ENOMEM)
		return set_error(iommu->ctx, -EFAULT,
				 "%shost memory %p-%p is not mapped in this "
				 "process",
				 pfx, vaddr, (char *)vaddr + (size - 1));
	if (r == -EINVAL) {
		/* The address and length are page aligned (checked), so
		 * this is a VM_IO area (a BAR mmap, for peer-to-peer DMA):
		 * the kernel refuses MADV_DONTFORK there, and such an area
		 * is shared device memory, never copied-on-write into a
		 * child. */
		dbg(iommu->ctx, "madvise(%p, MADV_DONTFORK): %s", vaddr,
		    strerror(-r));
		return 0;
	}
	if (r < 0)
		/* Not marked: a fork() could copy-on-write pages the device
		 * has pinned. Refused before the kernel sees the map. */
		return set_error(iommu->ctx, r,
				 "%scannot mark host memory %p-%p "
				 "MADV_DONTFORK (%s): a fork() could then "
				 "break the DMA pinning; not mapped",
				 pfx, vaddr, (char *)vaddr + (size - 1),
				 strerror(-r));
	return 0;
}

/* Map one already checked request in the kernel, then put @m (allocated
 * by the caller) in the table. On failure @m is untouched and not in the
 * table. With @dontfork false the caller guarantees MADV_DONTFORK. */
static int map_one(struct assign_iommu *iommu, const char *pfx,
		   struct iommu_mapping *m, void *vaddr, uint64_t iova,
		   uint64_t size, uint32_t flags, bool dontfork_it,
		   enum iommu_map_kind kind, uint64_t gpa)
{
	int r;

	if (dontfork_it) {
		r = dontfork(iommu, pfx, vaddr, size);
		if (r < 0)
			return r;
	}
	r = iommu->ops->map(iommu, vaddr, iova, size, flags);
	if (r < 0)
		return map_kernel_error(iommu, r, pfx, vaddr, iova, size);
	map_insert(iommu, m, vaddr, iova, size, flags, kind, gpa);
	return 0;
}

ASSIGN_EXPORT int assign_iommu_map(struct assign_iommu *iommu, uint64_t iova,
				   void *vaddr, uint64_t size, uint32_t flags)
{
	struct iommu_mapping *m;
	int r;

	if (!iommu)
		return -EINVAL;
	r = iommu_need_iommu_geometry(iommu, "DMA map");
	if (r < 0)
		return r;
	r = check_request(iommu, "", vaddr, iova, size, flags);
	if (r == 0)
		r = check_max_mappings(iommu, "", 1);
	if (r < 0)
		return r;
	m = map_alloc(iommu);
	if (!m)
		return set_error(iommu->ctx, -ENOMEM, "out of memory");
	r = map_one(iommu, "", m, vaddr, iova, size, flags, true,
		    IOMMU_MAP_DIRECT, 0);
	if (r < 0)
		map_free(iommu, m);
	return r;
}

/*
 * The guest memory policy's map, on the guest-IOMMU hot path (one call per
 * guest map). The kernel itself refuses an IOVA outside the ranges it
 * reported (this object's ranges are the kernel's, or all of the space when
 * a kernel reports none and so enforces none) and one overlapping a mapping
 * (this object's table mirrors the kernel's). So those two lookups are left
 * to the kernel, and check_request() runs only to explain a refusal, with
 * the error and message assign_iommu_map() gives before the call. What the
 * kernel may not enforce stays in front: form, alignment, the DMA limit and
 * the reserved regions (read from sysfs; a kernel without IOVA ranges does
 * not keep mappings out of them). The condition below repeats the cheap
 * part of check_request() on purpose: calling check_request() with those
 * two lookups switched off cost 60 more instructions per guest map
 * (bench/callgrind.sh), an eighth of the library's share.
 */
int iommu_map_prepared(struct assign_iommu *iommu, uint64_t iova, void *vaddr,
		       uint64_t size, uint32_t flags, enum iommu_map_kind kind,
		       uint64_t gpa)
{
	struct iommu_mapping *m;
	uint64_t align;
	int r, why;

	if (!iommu)
		return -EINVAL;
	r = iommu_need_iommu_geometry(iommu, "DMA map");
	if (r < 0)
		return r;
	align = iommu->align;
	if (!flags || (flags & ~(uint32_t)ASSIGN_DMA_F_RW) || !size ||
	    size - 1 > UINT64_MAX - iova ||
	    (uintptr_t)vaddr > UINTPTR_MAX - (size - 1) ||
	    size - 1 > (uint64_t)UINTPTR_MAX ||
	    ((iova | size | (uint64_t)(uintptr_t)vaddr) & (align - 1)) ||
	    iova + (size - 1) > iommu->dma_limit ||
	    iommu_blocking_resv(iommu, iova, iova + (size - 1)))
		return check_request(iommu, "", vaddr, iova, size, flags);
	if (iommu->max_mappings && iommu->maps.count >= iommu->max_mappings)
		return check_max_mappings(iommu, "", 1);
	m = map_alloc(iommu);
	if (!m)
		return set_error(iommu->ctx, -ENOMEM, "out of memory");
	r = iommu->ops->map(iommu, vaddr, iova, size, flags);
	if (r < 0) {
		map_free(iommu, m);
		why = check_request(iommu, "", vaddr, iova, size, flags);
		return why < 0 ? why
			       : map_kernel_error(iommu, r, "", vaddr, iova,
						  size);
	}
	map_insert(iommu, m, vaddr, iova, size, flags, kind, gpa);
	return 0;
}

static int cmp_req_iova(const void *a, const void *b, void *data)
{
	const struct assign_dma_map *maps = data;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (maps[x].iova != maps[y].iova)
		return maps[x].iova < maps[y].iova ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Each request checked as assign_iommu_map() would check it. */
static int check_requests(const struct assign_iommu *iommu,
			  const struct assign_dma_map *maps, size_t n)
{
	char pfx[40];
	int r;

	for (size_t i = 0; i < n; i++) {
		snprintf(pfx, sizeof(pfx), "request %zu: ", i);
		r = check_request(iommu, pfx, maps[i].vaddr, maps[i].iova,
				  maps[i].size, maps[i].flags);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The requests must not overlap each other either: sorted by IOVA, each
 * must start after the one before ends. */
static int check_overlaps(const struct assign_iommu *iommu,
			  const struct assign_dma_map *maps, size_t n)
{
	size_t *order;

	order = malloc(n * sizeof(*order));
	if (!order)
		return set_error(iommu->ctx, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_req_iova, (void *)maps);
	for (size_t k = 1; k < n; k++) {
		const struct assign_dma_map *a = &maps[order[k - 1]];
		const struct assign_dma_map *b = &maps[order[k]];

		if (b->iova <= a->iova + (a->size - 1)) {
			size_t hi = MAX(order[k - 1], order[k]);
			size_t lo = MIN(order[k - 1], order[k]);

			free(order);
			return set_error(iommu->ctx, -EEXIST,
					 "request %zu: IOVA 0x%" PRIx64
					 "-0x%" PRIx64 " overlaps request "
					 "%zu (0x%" PRIx64 "-0x%" PRIx64 ")",
					 hi, maps[hi].iova,
					 maps[hi].iova + (maps[hi].size - 1),
					 lo, maps[lo].iova,
					 maps[lo].iova + (maps[lo].size - 1));
		}
	}
	free(order);
	return 0;
}

/* A node for each request, all or none. */
static int alloc_nodes(struct assign_iommu *iommu, struct iommu_mapping **nodes,
		       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		nodes[i] = map_alloc(iommu);
		if (!nodes[i]) {
			while (i-- > 0)
				map_free(iommu, nodes[i]);
			return set_error(iommu->ctx, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

/* Unmap the first @done requests, newest first; keep the message of the
 * failure that made us. */
static void rollback(struct assign_iommu *iommu,
		     const struct assign_dma_map *maps,
		     struct iommu_mapping **nodes, size_t done)
{
	struct assign_ctx *ctx = iommu->ctx;
	char msg[ASSIGN_ERROR_MAX];

	assign_error_save(ctx, msg);
	while (done-- > 0) {
		int e = unmap_mapping(iommu, nodes[done]);

		if (e < 0)
			warn(ctx,
			     "rollback: unmapping IOVA 0x%" PRIx64
			     " failed: %s; it stays mapped and "
			     "accounted",
			     maps[done].iova, strerror(-e));
	}
	assign_error_restore(ctx, msg);
}

/* Map the checked requests in order, each with its node: all or nothing.
 * On a failure the nodes not used go back and what was made is undone. */
static int map_requests(struct assign_iommu *iommu,
			const struct assign_dma_map *maps, size_t n,
			struct iommu_mapping **nodes, bool dontfork_it,
			enum iommu_map_kind kind, const uint64_t *gpas)
{
	char pfx[40];
	size_t done;
	int r = 0;

	for (done = 0; done < n; done++) {
		snprintf(pfx, sizeof(pfx), "request %zu: ", done);
		r = map_one(iommu, pfx, nodes[done], maps[done].vaddr,
			    maps[done].iova, maps[done].size, maps[done].flags,
			    dontfork_it, kind, gpas ? gpas[done] : 0);
		if (r < 0)
			break;
	}
	if (r == 0)
		return 0;
	for (size_t i = done; i < n; i++)
		map_free(iommu, nodes[i]);
	rollback(iommu, maps, nodes, done);
	return r;
}

static int do_map_many(struct assign_iommu *iommu,
		       const struct assign_dma_map *maps, size_t n,
		       bool dontfork_it, enum iommu_map_kind kind,
		       const uint64_t *gpas)
{
	struct iommu_mapping *one, **nodes = &one;
	int r;

	if (!iommu || (!maps && n))
		return -EINVAL;
	if (n == 0)
		return 0;
	r = iommu_need_iommu_geometry(iommu, "DMA map");
	if (r < 0)
		return r;
	r = check_requests(iommu, maps, n);
	if (r == 0 && n > 1)
		r = check_overlaps(iommu, maps, n);
	if (r == 0)
		r = check_max_mappings(iommu, "", n);
	if (r < 0)
		return r;
	/* Every node before the first kernel call: out of memory then
	 * leaves nothing to undo. */
	if (n > 1) {
		nodes = calloc(n, sizeof(*nodes));
		if (!nodes)
			return set_error(iommu->ctx, -ENOMEM, "out of memory");
	}
	r = alloc_nodes(iommu, nodes, n);
	if (r == 0)
		r = map_requests(iommu, maps, n, nodes, dontfork_it, kind,
				 gpas);
	if (nodes != &one)
		free(nodes);
	return r;
}

ASSIGN_EXPORT int assign_iommu_map_many(struct assign_iommu *iommu,
					const struct assign_dma_map *maps,
					size_t n)
{
	return do_map_many(iommu, maps, n, true, IOMMU_MAP_DIRECT, NULL);
}

int iommu_map_many_prepared(struct assign_iommu *iommu,
			    const struct assign_dma_map *maps, size_t n,
			    enum iommu_map_kind kind, const uint64_t *gpas)
{
	return do_map_many(iommu, maps, n, false, kind, gpas);
}

ASSIGN_EXPORT int assign_iommu_unmap(struct assign_iommu *iommu, uint64_t iova,
				     uint64_t size)
{
	struct assign_ctx *ctx;
	struct iommu_mapping *first, *end, *m;
	uint64_t last, align;
	int r;

	if (!iommu)
		return -EINVAL;
	ctx = iommu->ctx;
	if (iommu_is_noiommu(iommu))
		return iommu_refuse_noiommu(iommu, "DMA unmap");
	align = iommu->align ? iommu->align : iommu_host_page_size();
	if (!size || ((iova | size) & (align - 1)) ||
	    size - 1 > UINT64_MAX - iova)
		return set_error(ctx, -EINVAL,
				 "DMA unmap of IOVA 0x%" PRIx64 " size 0x%" PRIx64
				 ": must be non-zero, not wrap, and aligned to "
				 "0x%" PRIx64,
				 iova, size, align);
	last = iova + (size - 1);
	first = iommu_mapping_of(iova_tree_first_overlap(&iommu->maps, iova, last));
	if (!first)
		return set_error(ctx, -ENOENT,
				 "nothing is mapped at IOVA 0x%" PRIx64
				 "-0x%" PRIx64,
				 iova, last);
	/* The last mapping starting within the range: @first itself when it
	 * reaches @last (the usual single-mapping unmap, one lookup). */
	end = first->node.last >= last
		      ? first
		      : iommu_mapping_of(iova_tree_last_overlap(&iommu->maps, iova,
							  last));
	if (first->node.start < iova || end->node.last > last) {
		m = first->node.start < iova ? first : end;
		return set_error(ctx, -EBUSY,
				 "unmap of IOVA 0x%" PRIx64 "-0x%" PRIx64
				 " cuts through the mapping 0x%" PRIx64
				 "-0x%" PRIx64 "; mappings can only be removed "
				 "whole",
				 iova, last, m->node.start, m->node.last);
	}
	/* Whole mappings first..end; from the end so a failure leaves the
	 * table exact. */
	for (m = end;;) {
		struct iommu_mapping *prev =
			m == first ? NULL : iommu_mapping_of(iova_tree_prev(&m->node));
		uint64_t mi = m->node.start, ml = m->node.last;

		r = unmap_mapping(iommu, m);
		if (r < 0)
			return set_error(ctx, r,
					 "unmapping IOVA 0x%" PRIx64 "-0x%" PRIx64
					 " failed: %s",
					 mi, ml, strerror(-r));
		if (!prev)
			break;
		m = prev;
	}
	return 0;
}

ASSIGN_EXPORT int assign_iommu_unmap_all(struct assign_iommu *iommu)
{
	int r;

	if (!iommu)
		return -EINVAL;
	if (!iommu->maps.count)
		return 0;
	r = iommu_unmap_everything(iommu);
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "unmapping every DMA mapping failed: %s; %zu "
				 "remain",
				 strerror(-r), iommu->maps.count);
	return 0;
}

ASSIGN_EXPORT int assign_iommu_get_dma_stats(const struct assign_iommu *iommu,
					     struct assign_dma_stats *stats)
{
	struct assign_dma_stats s = { .size = sizeof(s) };
	int r;

	if (!iommu)
		return -EINVAL;
	r = sized_out_check(iommu->ctx, stats, "assign_dma_stats");
	if (r < 0)
		return r;
	s.mappings = iommu->maps.count;
	s.bytes = iommu->mapped_bytes;
	SIZED_OUT_FILL(stats, &s);
	return 0;
}

/*
 * Whether the process runs in the initial user namespace, where the
 * kernel's capable() checks are made. A child namespace has a partial
 * /proc/self/uid_map; the initial one maps all of it ("0 0 4294967295").
 * A kernel without user namespaces (no uid_map) has only the initial one.
 */
static bool in_initial_userns(struct assign_ctx *ctx)
{
	unsigned long long in, out, count;
	char buf[256];
	int k = 0;

	if (proc_read(ctx, "/proc/self/uid_map", buf, sizeof(buf)) < 0)
		return true;
	return sscanf(buf, "%llu %llu %llu %n", &in, &out, &count, &k) == 3 &&
	       in == 0 && out == 0 && count == 4294967295ull && !buf[k];
}

/*
 * Whether CAP_IPC_LOCK lifts RLIMIT_MEMLOCK for DMA pinning: type1 and
 * iommufd skip the limit when capable(CAP_IPC_LOCK), i.e. the capability
 * in the effective set and held in the initial user namespace (inside a
 * container's user namespace it does not count). Read from /proc through
 * the seam (a kernel that cannot say, such as the mock, means no).
 */
static bool has_cap_ipc_lock(struct assign_ctx *ctx)
{
	enum { CAP_IPC_LOCK_BIT = 14 };
	char buf[8192], *p, *end;
	unsigned long long caps;

	if (proc_read(ctx, "/proc/self/status", buf, sizeof(buf)) < 0)
		return false;
	p = strstr(buf, "\nCapEff:");
	if (!p)
		return false;
	p += strlen("\nCapEff:");
	errno = 0;
	caps = strtoull(p, &end, 16);
	if (errno || end == p || !(caps & (1ull << CAP_IPC_LOCK_BIT)))
		return false;
	if (!in_initial_userns(ctx)) {
		dbg(ctx, "CAP_IPC_LOCK is held inside a user namespace: it "
			 "does not lift RLIMIT_MEMLOCK for DMA pinning");
		return false;
	}
	return true;
}

ASSIGN_EXPORT int assign_iommu_check_memlock(const struct assign_iommu *iommu,
					     uint64_t bytes)
{
	struct rlimit rl;
	int r;

	if (!iommu)
		return -EINVAL;
	r = sys_getrlimit(iommu->ctx, RLIMIT_MEMLOCK, &rl);
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "cannot read RLIMIT_MEMLOCK: %s", strerror(-r));
	if (rl.rlim_cur == RLIM_INFINITY)
		return 0;
	if (bytes <= UINT64_MAX - iommu->mapped_bytes &&
	    iommu->mapped_bytes + bytes <= (uint64_t)rl.rlim_cur)
		return 0;
	if (has_cap_ipc_lock(iommu->ctx)) {
		dbg(iommu->ctx,
		    "memlock: %" PRIu64 " more bytes exceed RLIMIT_MEMLOCK, "
		    "but CAP_IPC_LOCK lifts the limit",
		    bytes);
		return 0;
	}
	return memlock_message(iommu, -ENOMEM, "", bytes);
}

ASSIGN_EXPORT int assign_iommu_set_dma_limit(struct assign_iommu *iommu,
					     uint64_t last_iova)
{
	const struct iommu_mapping *m;

	if (!iommu)
		return -EINVAL;
	/* Sorted and disjoint: the last mapping ends highest. */
	m = iommu_mapping_of(iova_tree_last(&iommu->maps));
	if (m && m->node.last > last_iova)
		return set_error(iommu->ctx, -EEXIST,
				 "the mapping 0x%" PRIx64 "-0x%" PRIx64
				 " lies above the new DMA limit 0x%" PRIx64
				 "; unmap it first",
				 m->node.start, m->node.last, last_iova);
	iommu->dma_limit = last_iova;
	return 0;
}

