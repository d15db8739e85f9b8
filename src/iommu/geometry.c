// SPDX-License-Identifier: MIT
/*
 * IOMMU geometry: the IOVA ranges, page sizes, reserved regions and
 * interrupt remapping read from the kernel once a device is attached, the
 * checks of a proposed IOVA range against them, and the layout check that
 * reports every conflict of a set of ranges.
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

#define RESV_FILE_MAX (64 * 1024)

/* ---------------------------------------------------------------------- */
/* Geometry */

static int cmp_range(const void *a, const void *b)
{
	const struct assign_iova_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->last < y->last ? -1 : x->last > y->last;
}

/* Sort and merge overlapping or adjacent ranges. */
static void normalize_ranges(struct assign_iova_range *r, size_t *n)
{
	size_t out = 0;

	if (*n == 0)
		return;
	qsort(r, *n, sizeof(*r), cmp_range);
	for (size_t i = 1; i < *n; i++) {
		if (r[out].last == UINT64_MAX ||
		    r[i].start <= r[out].last + 1) {
			if (r[i].last > r[out].last)
				r[out].last = r[i].last;
		} else {
			r[++out] = r[i];
		}
	}
	*n = out + 1;
}

/* Reserved regions by start, then end. */
static int cmp_region(const void *a, const void *b)
{
	const struct assign_reserved_region *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->last < y->last ? -1 : x->last > y->last;
}

/* cmp_region(), then by type: equal only for the same window. */
static int cmp_resv(const void *a, const void *b)
{
	const struct assign_reserved_region *x = a, *y = b;
	int c = cmp_region(a, b);

	return c ? c : strcmp(x->type, y->type);
}

/* Find the first line parse_reserved_regions() rejects, for the message. */
static int bad_resv_line(const char *text)
{
	const char *p = text;
	int line = 1;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char *one = strndup(p, len);
		struct assign_reserved_region *v = NULL;
		size_t n = 0;
		int r;

		if (!one)
			return line;
		r = parse_reserved_regions(one, &v, &n);
		free(one);
		free(v);
		if (r == -EIO)
			return line;
		if (!eol)
			break;
		p = eol + 1;
		line++;
	}
	return line;
}

/* The reserved regions of group @gid into *v (*n entries, malloc'ed);
 * none when the kernel has no such file. @text is RESV_FILE_MAX bytes. */
static int read_group_resv(struct assign_iommu *iommu, int gid, char *text,
			   struct assign_reserved_region **v, size_t *n)
{
	struct assign_ctx *ctx = iommu->ctx;
	char path[96];
	int r;

	snprintf(path, sizeof(path), "kernel/iommu_groups/%d/reserved_regions",
		 gid);
	r = sysfs_read(ctx, path, text, RESV_FILE_MAX);
	if (r == -ENOENT) {
		/* Kernels before 4.11 have no such file. */
		dbg(ctx, "no /sys/%s, assuming no reserved regions", path);
		return 0;
	}
	if (r < 0)
		return set_error(ctx, r, "cannot read /sys/%s: %s", path,
				 strerror(-r));
	r = parse_reserved_regions(text, v, n);
	if (r == -EIO)
		return set_error(ctx, -EIO,
				 "/sys/%s line %d cannot be parsed (expected "
				 "\"0xSTART 0xEND TYPE\")",
				 path, bad_resv_line(text));
	if (r < 0)
		return set_error(ctx, r, "cannot parse /sys/%s: %s", path,
				 strerror(-r));
	return 0;
}

/* Append the @n regions @v to *all (*nall entries). */
static int resv_append(struct assign_ctx *ctx,
		       struct assign_reserved_region **all, size_t *nall,
		       const struct assign_reserved_region *v, size_t n)
{
	struct assign_reserved_region *nv;

	if (!n)
		return 0;
	nv = realloc(*all, (*nall + n) * sizeof(*nv));
	if (!nv)
		return set_error(ctx, -ENOMEM, "out of memory");
	memcpy(nv + *nall, v, n * sizeof(*v));
	*all = nv;
	*nall += n;
	return 0;
}

/* Sort, drop exact duplicates (the same window seen from two groups). */
static void resv_sort_unique(struct assign_reserved_region *all, size_t *n)
{
	size_t w = 0;

	if (!*n)
		return;
	qsort(all, *n, sizeof(*all), cmp_resv);
	for (size_t i = 1; i < *n; i++)
		if (cmp_resv(&all[w], &all[i]) != 0)
			all[++w] = all[i];
	*n = w + 1;
}

static bool gid_listed_before(const int *gids, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (gids[j] == gids[i])
			return true;
	return false;
}

/* Union of the reserved regions of the groups in @gids. */
static int read_reserved(struct assign_iommu *iommu, const int *gids,
			 size_t ngids, struct assign_reserved_region **out,
			 size_t *nout)
{
	struct assign_reserved_region *all = NULL;
	size_t nall = 0;
	char *text;
	int r = 0;

	text = malloc(RESV_FILE_MAX);
	if (!text)
		return set_error(iommu->ctx, -ENOMEM, "out of memory");
	for (size_t i = 0; i < ngids && r == 0; i++) {
		struct assign_reserved_region *v = NULL;
		size_t n = 0;

		if (gids[i] < 0 || gid_listed_before(gids, i))
			continue;
		r = read_group_resv(iommu, gids[i], text, &v, &n);
		if (r == 0)
			r = resv_append(iommu->ctx, &all, &nall, v, n);
		free(v);
	}
	free(text);
	if (r < 0) {
		free(all);
		return r;
	}
	resv_sort_unique(all, &nall);
	*out = all;
	*nout = nall;
	return 0;
}

void iommu_geometry_invalidate(struct assign_iommu *iommu)
{
	/* The arrays stay allocated: pointers handed out remain valid until
	 * the next attach or the end of the object, as documented. */
	iommu->geometry_valid = false;
}

/* Read the geometry again after a device was attached; @gids are the groups
 * of all attached devices including the new one. Nothing changes on
 * failure. */
int iommu_refresh_geometry(struct assign_iommu *iommu, const int *gids,
			    size_t ngids)
{
	struct iommu_geometry g = { 0 };
	struct assign_reserved_region *resv = NULL;
	size_t nresv = 0;
	uint64_t align;
	int r;

	if (iommu->ops->geometry) {
		r = iommu->ops->geometry(iommu, &g);
		if (r < 0)
			return r;
	}
	r = read_reserved(iommu, gids, ngids, &resv, &nresv);
	if (r < 0) {
		free(g.ranges);
		return r;
	}
	normalize_ranges(g.ranges, &g.nranges);
	free(iommu->ranges);
	iommu->ranges = g.ranges;
	iommu->nranges = g.nranges;
	free(iommu->resv);
	iommu->resv = resv;
	iommu->nresv = nresv;
	iommu->pgsizes = g.pgsizes;
	align = g.pgsizes ? g.pgsizes & -g.pgsizes : iommu_host_page_size();
	iommu->align = align;
	iommu->geometry_valid = true;
	return 0;
}

static int iommu_need_geometry(const struct assign_iommu *iommu,
			       const char *what)
{
	if (!iommu->ops || !iommu->geometry_valid)
		return set_error(iommu->ctx, -ENODEV,
				 "%s: no device is attached to this IOMMU yet; "
				 "the kernel knows the geometry only once one "
				 "is (open a device first)",
				 what);
	return 0;
}

int iommu_refuse_noiommu(const struct assign_iommu *iommu, const char *what)
{
	return set_error(iommu->ctx, -EPERM,
			 "%s: not available in no-IOMMU mode: there is no "
			 "IOMMU to program, the device reaches host physical "
			 "memory directly",
			 what);
}

/* Geometry queries and DMA need a real IOMMU whose geometry is known. */
int iommu_need_iommu_geometry(const struct assign_iommu *iommu,
			       const char *what)
{
	if (iommu_is_noiommu(iommu))
		return iommu_refuse_noiommu(iommu, what);
	return iommu_need_geometry(iommu, what);
}

ASSIGN_EXPORT int
assign_iommu_get_iova_ranges(const struct assign_iommu *iommu,
			     const struct assign_iova_range **ranges, size_t *n)
{
	int r;

	if (!iommu || !ranges || !n)
		return -EINVAL;
	r = iommu_need_iommu_geometry(iommu, "IOVA ranges");
	if (r < 0)
		return r;
	*ranges = iommu->ranges;
	*n = iommu->nranges;
	return 0;
}

ASSIGN_EXPORT int assign_iommu_get_pgsizes(const struct assign_iommu *iommu,
					   uint64_t *pgsizes)
{
	int r;

	if (!iommu || !pgsizes)
		return -EINVAL;
	r = iommu_need_iommu_geometry(iommu, "IOMMU page sizes");
	if (r < 0)
		return r;
	*pgsizes = iommu->pgsizes;
	return 0;
}

ASSIGN_EXPORT int assign_iommu_get_dma_avail(const struct assign_iommu *iommu,
					     uint32_t *avail)
{
	uint32_t own = UINT32_MAX, kernel = UINT32_MAX;
	char saved[ASSIGN_ERROR_MAX];
	int r;

	if (!iommu || !avail)
		return -EINVAL;
	r = iommu_need_geometry(iommu, "DMA entries left");
	if (r < 0)
		return r;
	if (iommu->max_mappings) {
		size_t n = iommu->maps.count;

		own = n < iommu->max_mappings ?
			      iommu->max_mappings - (uint32_t)n :
			      0;
	}
	if (!iommu->ops->dma_avail) {
		if (!iommu->max_mappings)
			return set_error(iommu->ctx, -EOPNOTSUPP,
					 "the %s backend has no DMA entry "
					 "limit to report",
					 iommu->ops->name);
		*avail = own;
		return 0;
	}
	if (iommu->max_mappings)
		assign_error_save(iommu->ctx, saved);
	r = iommu->ops->dma_avail(iommu, &kernel);
	if (r == -EOPNOTSUPP && iommu->max_mappings) {
		/* A kernel too old to say: our own limit is the answer. */
		assign_error_restore(iommu->ctx, saved);
		r = 0;
	}
	if (r < 0)
		return r;
	*avail = own < kernel ? own : kernel;
	return 0;
}

ASSIGN_EXPORT int assign_iommu_get_reserved_regions(
	const struct assign_iommu *iommu,
	const struct assign_reserved_region **regions, size_t *n)
{
	int r;

	if (!iommu || !regions || !n)
		return -EINVAL;
	r = iommu_need_geometry(iommu, "reserved regions");
	if (r < 0)
		return r;
	*regions = iommu->resv;
	*n = iommu->nresv;
	return 0;
}

ASSIGN_EXPORT int assign_iommu_get_irq_remapping(const struct assign_iommu *iommu)
{
	int r;

	if (!iommu)
		return -EINVAL;
	r = iommu_need_geometry(iommu, "interrupt remapping");
	if (r < 0)
		return r;
	return iommu->ops->irq_remapping(iommu);
}

int parse_reserved_regions(const char *text,
			   struct assign_reserved_region **out, size_t *n)
{
	struct assign_reserved_region *v = NULL;
	size_t cnt = 0, cap = 0;
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t linelen = eol ? (size_t)(eol - p) : strlen(p);
		char line[160], type[24];
		unsigned long long s, e;
		int consumed = 0;

		if (linelen == 0) {
			p += eol ? 1 : 0;
			continue;
		}
		if (linelen >= sizeof(line))
			goto bad;
		memcpy(line, p, linelen);
		line[linelen] = '\0';
		if (sscanf(line, "0x%llx 0x%llx %23s %n", &s, &e, type,
			   &consumed) != 3 ||
		    line[consumed] != '\0' || e < s)
			goto bad;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct assign_reserved_region *nv =
				realloc(v, ncap * sizeof(*nv));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[cnt].start = s;
		v[cnt].last = e;
		snprintf(v[cnt].type, sizeof(v[cnt].type), "%s", type);
		cnt++;
		p += linelen + (eol ? 1 : 0);
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_region);
	*out = v;
	*n = cnt;
	return 0;
bad:
	free(v);
	return -EIO;
}

/* ---------------------------------------------------------------------- */
/* Checks made before the kernel sees a mapping */

/* The first piece of [*cur, last] not covered by the IOVA ranges. Returns
 * false when the rest is covered. */
bool iommu_next_uncovered(const struct assign_iommu *iommu, uint64_t *cur,
			   uint64_t last, bool *done, uint64_t *ps,
			   uint64_t *pl)
{
	const struct assign_iova_range *rg = iommu->ranges;
	size_t n = iommu->nranges;

	while (!*done) {
		size_t lo = 0, hi = n;

		/* First range whose last is >= *cur. */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (rg[mid].last < *cur)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n || rg[lo].start > *cur) {
			*ps = *cur;
			if (lo == n || rg[lo].start - 1 >= last) {
				*pl = last;
				*done = true;
			} else {
				*pl = rg[lo].start - 1;
				*cur = rg[lo].start;
			}
			return true;
		}
		if (rg[lo].last >= last) {
			*done = true;
			return false;
		}
		*cur = rg[lo].last + 1;
	}
	return false;
}

/* Whether a reserved region of this type keeps mappings out. */
static bool iommu_resv_blocks(const struct assign_reserved_region *rr)
{
	/* The kernel lets relaxable direct-mapped regions (RMRRs for USB and
	 * graphics) be used for DMA of an assigned device; every other kind
	 * (msi, reserved, direct) must stay free. */
	return strcmp(rr->type, "direct-relaxable") != 0;
}

void iommu_fmt_ranges(const struct assign_iommu *iommu, char *buf,
		       size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < iommu->nranges && off < size; i++) {
		int k = snprintf(buf + off, size - off, "%s0x%" PRIx64
				 "-0x%" PRIx64,
				 i ? ", " : "", iommu->ranges[i].start,
				 iommu->ranges[i].last);
		if (k < 0)
			break;
		off += (size_t)k;
		if (i == 3 && iommu->nranges > 4) {
			snprintf(buf + MIN(off, size - 1), size - MIN(off, size - 1),
				 ", ...");
			break;
		}
	}
	if (!iommu->nranges)
		snprintf(buf, size, "none");
}

/* Whether blocking reserved regions cover all of [start, last]. */
static bool iommu_covered_by_resv(const struct assign_iommu *iommu,
				  uint64_t start, uint64_t last)
{
	uint64_t cur = start;
	bool progress = true;

	while (progress) {
		progress = false;
		for (size_t i = 0; i < iommu->nresv; i++) {
			const struct assign_reserved_region *rr =
				&iommu->resv[i];

			if (rr->start > cur)
				break;
			if (rr->last < cur || !iommu_resv_blocks(rr))
				continue;
			if (rr->last >= last)
				return true;
			cur = rr->last + 1;
			progress = true;
		}
	}
	return false;
}

/* The first reserved region that [iova, last] must stay out of, or NULL. */
const struct assign_reserved_region *
iommu_blocking_resv(const struct assign_iommu *iommu, uint64_t iova, uint64_t last)
{
	for (size_t i = 0; i < iommu->nresv; i++) {
		const struct assign_reserved_region *rr = &iommu->resv[i];

		if (rr->start > last)
			break;
		if (rr->last >= iova && iommu_resv_blocks(rr))
			return rr;
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Layout checks */

struct conflicts {
	struct assign_conflict *v;
	size_t stride, max, n;
	struct assign_conflict first;
};

ASSIGN_PRINTF(6, 7)
static void add_conflict(struct conflicts *c, enum assign_conflict_kind kind,
			 size_t index, uint64_t start, uint64_t last,
			 const char *fmt, ...)
{
	struct assign_conflict x = {
		.size = sizeof(x),
		.kind = kind,
		.index = index,
		.start = start,
		.last = last,
	};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x.what, sizeof(x.what), fmt, ap);
	va_end(ap);
	if (c->n == 0)
		c->first = x;
	if (c->n < c->max) {
		struct assign_conflict *e = sized_elem(c->v, c->stride, c->n);

		e->size = c->stride;
		sized_out_fill(e, &x, sizeof(x));
	}
	c->n++;
}

static int cmp_prop(const void *a, const void *b, void *data)
{
	const struct assign_iova_range *r = data;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (r[x].start != r[y].start)
		return r[x].start < r[y].start ? -1 : 1;
	return x < y ? -1 : x > y;
}

static const char *kind_name(enum assign_conflict_kind k)
{
	switch (k) {
	case ASSIGN_CONFLICT_INVALID:
		return "invalid";
	case ASSIGN_CONFLICT_OUTSIDE_IOVA:
		return "outside the IOVA ranges";
	case ASSIGN_CONFLICT_RESERVED:
		return "in a reserved region";
	case ASSIGN_CONFLICT_DMA_LIMIT:
		return "above the DMA limit";
	case ASSIGN_CONFLICT_OVERLAP:
		return "overlapping";
	case ASSIGN_CONFLICT_MAPPED:
		return "already mapped";
	}
	return "?";
}

/* The pieces of [s, l] outside the IOVA ranges. The kernel leaves
 * reserved regions out of the IOVA ranges: those are reported once, as
 * RESERVED. */
static void check_outside_iova(const struct assign_iommu *iommu,
			       struct conflicts *c, size_t i, uint64_t s,
			       uint64_t l)
{
	uint64_t cur = s, ps, pl;
	bool done = false;

	while (iommu_next_uncovered(iommu, &cur, l, &done, &ps, &pl)) {
		if (iommu_covered_by_resv(iommu, ps, pl))
			continue;
		add_conflict(c, ASSIGN_CONFLICT_OUTSIDE_IOVA, i, ps, pl,
			     "0x%" PRIx64 "-0x%" PRIx64
			     " is outside the IOVA ranges",
			     ps, pl);
	}
}

static void check_reserved(const struct assign_iommu *iommu,
			   struct conflicts *c, size_t i, uint64_t s,
			   uint64_t l)
{
	for (size_t k = 0; k < iommu->nresv; k++) {
		const struct assign_reserved_region *rr = &iommu->resv[k];

		if (rr->start > l)
			break;
		if (rr->last < s || !iommu_resv_blocks(rr))
			continue;
		add_conflict(c, ASSIGN_CONFLICT_RESERVED, i, MAX(s, rr->start),
			     MIN(l, rr->last),
			     "reserved region %s 0x%" PRIx64 "-0x%" PRIx64,
			     rr->type, rr->start, rr->last);
	}
}

static void check_mapped(const struct assign_iommu *iommu, struct conflicts *c,
			 size_t i, uint64_t s, uint64_t l)
{
	for (const struct iova_node *nd =
		     iova_tree_first_overlap(&iommu->maps, s, l);
	     nd && nd->start <= l; nd = iova_tree_next(nd)) {
		const struct iommu_mapping *m = iommu_mapping_of(nd);

		add_conflict(c, ASSIGN_CONFLICT_MAPPED, i, MAX(s, nd->start),
			     MIN(l, nd->last),
			     "mapping 0x%" PRIx64 "-0x%" PRIx64 " (vaddr %p)",
			     nd->start, nd->last, m->vaddr);
	}
}

/* Proposed range @i against the IOMMU object: its IOVA ranges, reserved
 * regions, DMA limit and mappings. */
static void check_range(const struct assign_iommu *iommu, struct conflicts *c,
			size_t i, const struct assign_iova_range *r)
{
	uint64_t s = r->start, l = r->last, align = iommu->align;

	if (l < s) {
		add_conflict(c, ASSIGN_CONFLICT_INVALID, i, s, l,
			     "last 0x%" PRIx64 " is below start 0x%" PRIx64, l,
			     s);
		return;
	}
	if ((s & (align - 1)) || ((l + 1) & (align - 1)))
		add_conflict(c, ASSIGN_CONFLICT_INVALID, i, s, l,
			     "not aligned to the IOMMU page size 0x%" PRIx64,
			     align);
	check_outside_iova(iommu, c, i, s, l);
	check_reserved(iommu, c, i, s, l);
	if (l > iommu->dma_limit)
		add_conflict(c, ASSIGN_CONFLICT_DMA_LIMIT, i,
			     MAX(s, iommu->dma_limit + 1), l,
			     "above the DMA limit 0x%" PRIx64,
			     iommu->dma_limit);
	check_mapped(iommu, c, i, s, l);
}

/* Proposed ranges against each other: sort by start, each one is compared
 * with the following ones that begin before it ends. */
static int check_overlaps(const struct assign_iommu *iommu, struct conflicts *c,
			  const struct assign_iova_range *ranges, size_t n)
{
	size_t *order;

	if (n <= 1)
		return 0;
	order = malloc(n * sizeof(*order));
	if (!order)
		return set_error(iommu->ctx, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_prop, (void *)ranges);
	for (size_t a = 0; a < n; a++) {
		const struct assign_iova_range *x = &ranges[order[a]];

		if (x->last < x->start)
			continue;
		for (size_t b = a + 1; b < n; b++) {
			const struct assign_iova_range *y = &ranges[order[b]];
			size_t hi = MAX(order[a], order[b]);
			size_t lo = MIN(order[a], order[b]);

			if (y->start > x->last)
				break;
			if (y->last < y->start)
				continue;
			add_conflict(c, ASSIGN_CONFLICT_OVERLAP, hi, y->start,
				     MIN(x->last, y->last),
				     "overlaps proposed range %zu "
				     "0x%" PRIx64 "-0x%" PRIx64,
				     lo, ranges[lo].start, ranges[lo].last);
		}
	}
	free(order);
	return 0;
}

ASSIGN_EXPORT int assign_iommu_check_layout(
	const struct assign_iommu *iommu, const struct assign_iova_range *ranges,
	size_t n, struct assign_conflict *conflicts, size_t max,
	size_t *nconflicts)
{
	struct conflicts c = { .v = conflicts, .max = conflicts ? max : 0 };
	int r;

	if (!iommu || (!ranges && n) || (!conflicts && max) || !nconflicts)
		return -EINVAL;
	r = sized_array_stride(iommu->ctx, conflicts, c.max, "assign_conflict",
			       &c.stride);
	if (r < 0)
		return r;
	r = iommu_need_iommu_geometry(iommu, "layout check");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		check_range(iommu, &c, i, &ranges[i]);
	r = check_overlaps(iommu, &c, ranges, n);
	if (r < 0)
		return r;
	*nconflicts = c.n;
	if (c.n == 0)
		return 0;
	return set_error(iommu->ctx, -ERANGE,
			 "the layout has %zu conflict%s; first: range %zu "
			 "(0x%" PRIx64 "-0x%" PRIx64 ") is %s: %s",
			 c.n, c.n == 1 ? "" : "s", c.first.index, c.first.start,
			 c.first.last, kind_name(c.first.kind), c.first.what);
}
