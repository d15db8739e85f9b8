// SPDX-License-Identifier: MIT
/*
 * The mock kernel's IOMMU side: the VFIO type1 / no-IOMMU container
 * (/dev/vfio/vfio), VFIO groups (/dev/vfio/N) and iommufd (/dev/iommu) with
 * IOAS objects and the vfio cdev bind/attach ioctls.
 *
 * Behaviour and error codes follow Linux 6.12 (drivers/vfio/container.c,
 * group.c, vfio_iommu_type1.c, drivers/iommu/iommufd/ioas.c, io_pagetable.c,
 * main.c, drivers/vfio/device_cdev.c), written from reading them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock_internal.h"

#define OFFSETOFEND(t, m) (offsetof(t, m) + sizeof(((t *)0)->m))
#define PAGE_4K 4096ull

/* ---- DMA sets -------------------------------------------------------- */

void mdma_set_free(struct mdma_set *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
	s->bytes = 0;
}

/* Index of the first mapping ending at or after @iova (binary search: the
 * mappings are sorted and disjoint, so their ends are sorted too). */
static size_t mdma_lower(const struct mdma_set *s, uint64_t iova)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct mdma *d = &s->v[mid];
		if (d->iova + d->size - 1 < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t mdma_find(const struct mdma_set *s, uint64_t iova, uint64_t last)
{
	size_t i = mdma_lower(s, iova);

	if (i < s->n && s->v[i].iova <= last)
		return i;
	return s->n;
}

uint64_t mdma_set_bytes(const struct mdma_set *s)
{
	return s->bytes;
}

static int mdma_insert(struct mdma_set *s, const struct mdma *d)
{
	size_t i;

	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct mdma *n = realloc(s->v, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->v = n;
		s->cap = ncap;
	}
	i = mdma_lower(s, d->iova);
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*d));
	s->v[i] = *d;
	s->n++;
	s->bytes += d->size;
	return 0;
}

/* Remove mappings [i, j). */
static void mdma_remove_range(struct mdma_set *s, size_t i, size_t j)
{
	for (size_t k = i; k < j; k++)
		s->bytes -= s->v[k].size;
	memmove(&s->v[i], &s->v[j], (s->n - j) * sizeof(s->v[0]));
	s->n -= j - i;
}

/* ---- geometry -------------------------------------------------------- */

struct resv {
	uint64_t start, last;
};

/* The reserved regions the kernel takes out of the IOVA ranges: all but
 * direct-relaxable ones, which type1 (vfio_iommu_resv_exclude()) and
 * iommufd (iopt_table_enforce_dev_resv_regions()) both skip. */
static size_t parse_resv(const char *text, struct resv *out, size_t max)
{
	size_t n = 0;
	const char *p = text;

	while (p && *p && n < max) {
		unsigned long long a, b;
		char type[24];

		if (sscanf(p, "%llx %llx %23s", &a, &b, type) == 3 && b >= a &&
		    strcmp(type, "direct-relaxable") != 0) {
			out[n].start = a;
			out[n].last = b;
			n++;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

size_t mock_iova_ranges(const struct mock_kernel *mk, const int *groups,
			size_t ngroups, uint64_t (*out)[2], size_t max)
{
	uint64_t r[MOCK_MAX_RANGES * 4][2];
	size_t n = 0;
	struct resv resv[64];
	size_t nresv = 0;

	for (size_t i = 0; i < mk->naperture && n < ARRAY_SIZE(r); i++) {
		r[n][0] = mk->aperture[i][0];
		r[n][1] = mk->aperture[i][1];
		n++;
	}
	for (size_t g = 0; g < ngroups; g++) {
		for (size_t i = 0; i < MOCK_MAX_GROUPS; i++) {
			const struct mgroup *grp = &mk->groups[i];
			if (grp->exists && grp->id == groups[g] && grp->reserved)
				nresv += parse_resv(grp->reserved,
						    resv + nresv,
						    ARRAY_SIZE(resv) - nresv);
		}
	}
	/* Subtract every reserved region from the aperture. */
	for (size_t k = 0; k < nresv; k++) {
		for (size_t i = 0; i < n;) {
			uint64_t s = r[i][0], l = r[i][1];
			if (resv[k].last < s || resv[k].start > l) {
				i++;
				continue;
			}
			bool lo = resv[k].start > s, hi = resv[k].last < l;
			if (lo && hi) {
				if (n == ARRAY_SIZE(r)) {
					i++;
					continue;
				}
				memmove(&r[i + 1], &r[i],
					(n - i) * sizeof(r[0]));
				n++;
				r[i][1] = resv[k].start - 1;
				r[i + 1][0] = resv[k].last + 1;
				i += 2;
			} else if (lo) {
				r[i][1] = resv[k].start - 1;
				i++;
			} else if (hi) {
				r[i][0] = resv[k].last + 1;
				i++;
			} else {
				memmove(&r[i], &r[i + 1],
					(n - i - 1) * sizeof(r[0]));
				n--;
			}
		}
	}
	for (size_t i = 0; i < n && i < max; i++) {
		out[i][0] = r[i][0];
		out[i][1] = r[i][1];
	}
	return n;
}

bool mock_range_inside(const uint64_t (*r)[2], size_t n, uint64_t start,
		       uint64_t last)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (start >= r[i][0] && last <= r[i][1])
			return true;
	return false;
}

uint64_t mock_min_pgsize(const struct mock_kernel *mk)
{
	uint64_t p = mk->pgsizes;

	return p ? p & -p : PAGE_4K;
}

/* Does [vaddr, vaddr + size) lie in mapped memory of this process? */
static bool user_range_mapped(uint64_t vaddr, uint64_t size)
{
	unsigned char vec[256];
	uint64_t step = sizeof(vec) * PAGE_4K;

	if (vaddr & (PAGE_4K - 1))
		return false;
	for (uint64_t off = 0; off < size; off += step) {
		uint64_t len = size - off < step ? size - off : step;
		if (mincore((void *)(uintptr_t)(vaddr + off), (size_t)len,
			    vec) < 0)
			return false;
	}
	return true;
}

static void container_groups(const struct mock_kernel *mk,
			     const struct mcontainer *c, int *ids, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++)
		if (mk->groups[i].exists && mk->groups[i].container == c)
			ids[(*n)++] = mk->groups[i].id;
}

/* ---- capability chains ----------------------------------------------- */

/* Append a capability the way vfio_info_cap_add() does: 8-byte aligned
 * size, zeroed, linked from the previous one; offsets relative to the start
 * of the chain until mock_cap_shift(). */
void *mock_cap_add(struct capbuf *cb, size_t size, uint16_t id,
		   uint16_t version)
{
	struct vfio_info_cap_header *h;

	size = (size + 7) & ~(size_t)7;
	if (cb->size + size > sizeof(cb->buf))
		return NULL;
	h = (void *)(cb->buf + cb->size);
	memset(h, 0, size);
	h->id = id;
	h->version = version;
	if (cb->size) {
		struct vfio_info_cap_header *p = (void *)cb->buf;
		while (p->next)
			p = (void *)(cb->buf + p->next);
		p->next = (uint32_t)cb->size;
	}
	cb->size += size;
	return h;
}

void mock_cap_shift(struct capbuf *cb, size_t offset)
{
	struct vfio_info_cap_header *p = (void *)cb->buf;

	if (!cb->size)
		return;
	while (p->next) {
		uint32_t nx = p->next;
		p->next += (uint32_t)offset;
		p = (void *)(cb->buf + nx);
	}
}

/* ---- container ------------------------------------------------------- */

int mock_open_container(struct mock_kernel *mk)
{
	struct mcontainer *c = mock_zalloc(sizeof(*c));
	int fd;

	if (!c)
		return -ENOMEM;
	c->refs = 1;
	if (mock_register_container(mk, c) < 0) {
		free(c);
		return -ENOMEM;
	}
	fd = mock_fd_new(mk, MFD_CONTAINER, c);
	if (fd < 0) {
		mock_unregister_container(mk, c);
		free(c);
	}
	return fd;
}

void mock_container_put(struct mock_kernel *mk, struct mcontainer *c)
{
	if (--c->refs)
		return;
	mock_unregister_container(mk, c);
	mdma_set_free(&c->dma);
	free(c->dirty.v);
	free(c);
}

static int type1_check_ext(struct mock_kernel *mk, struct mcontainer *c,
			   unsigned long ext)
{
	switch (ext) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_UNMAP_ALL:
		return 1;
	case VFIO_TYPE1v2_IOMMU:
		return mk->type1v2 ? 1 : 0;
	case VFIO_UPDATE_VADDR:
		return 1;
	case VFIO_DMA_CC_IOMMU:
		return c && c->iommu_set ? 1 : 0;
	default:
		return 0;
	}
}

static int container_check_ext(struct mock_kernel *mk, struct mcontainer *c,
			       unsigned long ext)
{
	int ngroups = 0;

	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++)
		if (mk->groups[i].exists && mk->groups[i].container == c)
			ngroups++;
	if (c->iommu_set) {
		if (c->noiommu)
			return ext == VFIO_NOIOMMU_IOMMU ? 1 : 0;
		return type1_check_ext(mk, c, ext);
	}
	/* No driver yet: ask every driver the container may still use. */
	if (!ngroups || !c->noiommu) {
		int r = type1_check_ext(mk, NULL, ext);
		if (r)
			return r;
	}
	if (!ngroups || c->noiommu)
		return mk->noiommu && ext == VFIO_NOIOMMU_IOMMU ? 1 : 0;
	return 0;
}

static int container_set_iommu(struct mock_kernel *mk, struct mcontainer *c,
			       unsigned long type)
{
	int ngroups = 0;

	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++)
		if (mk->groups[i].exists && mk->groups[i].container == c)
			ngroups++;
	if (!ngroups || c->iommu_set)
		return -EINVAL;
	if (c->noiommu) {
		if (type != VFIO_NOIOMMU_IOMMU || !mk->noiommu)
			return -ENODEV;
	} else {
		if (type != VFIO_TYPE1_IOMMU &&
		    !(type == VFIO_TYPE1v2_IOMMU && mk->type1v2))
			return -ENODEV;
		/* vfio_iommu_type1_attach_group(): no MSI isolation. */
		if (!mk->irq_remap && !mk->allow_unsafe)
			return -EPERM;
	}
	c->iommu_set = true;
	c->type = (uint32_t)type;
	return 0;
}

static int type1_get_info(struct mock_kernel *mk, struct mcontainer *c,
			  struct vfio_iommu_type1_info *uinfo)
{
	struct vfio_iommu_type1_info info;
	size_t minsz = OFFSETOFEND(struct vfio_iommu_type1_info, iova_pgsizes);
	struct capbuf *cb;
	uint64_t ranges[MOCK_MAX_RANGES * 4][2];
	int groups[MOCK_MAX_GROUPS];
	size_t ngroups, nr;

	memcpy(&info, uinfo, minsz);
	if (info.argsz < minsz)
		return -EINVAL;
	minsz = info.argsz < sizeof(info) ? info.argsz : sizeof(info);
	info.flags = VFIO_IOMMU_INFO_PGSIZES;
	info.iova_pgsizes = mk->pgsizes;
	info.cap_offset = 0;
	info.pad = 0;

	cb = mock_zalloc(sizeof(*cb));
	if (!cb)
		return -ENOMEM;
	{
		struct vfio_iommu_type1_info_cap_migration *m;
		m = mock_cap_add(cb, sizeof(*m),
				 VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 1);
		m->flags = 0;
		m->pgsize_bitmap = mock_min_pgsize(mk);
		m->max_dirty_bitmap_size = 256ull << 20;
	}
	{
		struct vfio_iommu_type1_info_dma_avail *a;
		a = mock_cap_add(cb, sizeof(*a),
				 VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1);
		a->avail = c->dma.n >= mk->dma_entry_limit
				   ? 0
				   : mk->dma_entry_limit - (uint32_t)c->dma.n;
	}
	container_groups(mk, c, groups, &ngroups);
	nr = mock_iova_ranges(mk, groups, ngroups, ranges, ARRAY_SIZE(ranges));
	if (nr) {
		struct vfio_iommu_type1_info_cap_iova_range *r;
		r = mock_cap_add(cb, sizeof(*r) + nr * sizeof(r->iova_ranges[0]),
				 VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1);
		if (!r) {
			free(cb);
			return -ENOMEM;
		}
		r->nr_iovas = (uint32_t)nr;
		for (size_t i = 0; i < nr; i++) {
			r->iova_ranges[i].start = ranges[i][0];
			r->iova_ranges[i].end = ranges[i][1];
		}
	}
	if (cb->size) {
		info.flags |= VFIO_IOMMU_INFO_CAPS;
		if (info.argsz < sizeof(info) + cb->size) {
			info.argsz = (uint32_t)(sizeof(info) + cb->size);
		} else {
			mock_cap_shift(cb, sizeof(info));
			memcpy((uint8_t *)uinfo + sizeof(info), cb->buf,
			       cb->size);
			info.cap_offset = sizeof(info);
		}
	}
	free(cb);
	memcpy(uinfo, &info, minsz);
	return 0;
}

static int type1_map(struct mock_kernel *mk, struct mcontainer *c,
		     struct vfio_iommu_type1_dma_map *map)
{
	size_t minsz = OFFSETOFEND(struct vfio_iommu_type1_dma_map, size);
	uint32_t mask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE |
			VFIO_DMA_MAP_FLAG_VADDR;
	uint64_t ranges[MOCK_MAX_RANGES * 4][2];
	int groups[MOCK_MAX_GROUPS];
	size_t ngroups, nr, i;
	bool set_vaddr, prot;
	uint64_t pg = mock_min_pgsize(mk);
	struct mdma d;

	if (map->argsz < minsz || (map->flags & ~mask))
		return -EINVAL;
	set_vaddr = map->flags & VFIO_DMA_MAP_FLAG_VADDR;
	prot = map->flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	if ((prot && set_vaddr) || (!prot && !set_vaddr))
		return -EINVAL;
	if (!map->size || ((map->size | map->iova | map->vaddr) & (pg - 1)))
		return -EINVAL;
	if (map->iova + map->size - 1 < map->iova ||
	    map->vaddr + map->size - 1 < map->vaddr)
		return -EINVAL;
	i = mdma_find(&c->dma, map->iova, map->iova + map->size - 1);
	if (set_vaddr) {
		/* Only an exact existing mapping can get a new vaddr. */
		if (i == c->dma.n || c->dma.v[i].iova != map->iova ||
		    c->dma.v[i].size != map->size)
			return -EINVAL;
		c->dma.v[i].vaddr = map->vaddr;
		return 0;
	}
	if (i != c->dma.n)
		return -EEXIST;
	if (c->dma.n >= mk->dma_entry_limit)
		return -ENOSPC;
	container_groups(mk, c, groups, &ngroups);
	nr = mock_iova_ranges(mk, groups, ngroups, ranges, ARRAY_SIZE(ranges));
	if (!mock_range_inside(ranges, nr, map->iova,
			       map->iova + map->size - 1))
		return -EINVAL;
	if (mk->memlock != RLIM_INFINITY && !mk->cap_ipc_lock &&
	    mock_total_pinned(mk) + map->size > mk->memlock)
		return -ENOMEM;
	if (!user_range_mapped(map->vaddr, map->size))
		return -EFAULT;
	d.iova = map->iova;
	d.size = map->size;
	d.vaddr = map->vaddr;
	d.flags = map->flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	return mdma_insert(&c->dma, &d);
}

static int type1_unmap(struct mock_kernel *mk, struct mcontainer *c,
		       struct vfio_iommu_type1_dma_unmap *un)
{
	size_t minsz = OFFSETOFEND(struct vfio_iommu_type1_dma_unmap, size);
	uint32_t mask = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP |
			VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR;
	bool all, v2 = c->type == VFIO_TYPE1v2_IOMMU;
	uint64_t pg = mock_min_pgsize(mk), iova, last, unmapped = 0;

	if (un->argsz < minsz || (un->flags & ~mask))
		return -EINVAL;
	all = un->flags & VFIO_DMA_UNMAP_FLAG_ALL;
	if ((un->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) &&
	    (un->flags & (VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR)))
		return -EINVAL;
	if (un->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP)
		return -EINVAL; /* dirty tracking is not modelled */
	iova = un->iova;
	if (iova & (pg - 1))
		return -EINVAL;
	if (all) {
		if (iova || un->size)
			return -EINVAL;
		last = UINT64_MAX;
	} else {
		if (!un->size || (un->size & (pg - 1)))
			return -EINVAL;
		last = iova + un->size - 1;
		if (last < iova)
			return -EINVAL;
	}
	if (v2 && !all) {
		size_t i = mdma_find(&c->dma, iova, iova);
		if (i < c->dma.n && c->dma.v[i].iova != iova)
			return -EINVAL;
		i = mdma_find(&c->dma, last, last);
		if (i < c->dma.n &&
		    c->dma.v[i].iova + c->dma.v[i].size - 1 != last)
			return -EINVAL;
	}
	{
		/* The mappings removed are consecutive: only v1 can skip the
		 * first one (it starts before @iova). */
		size_t i = mdma_lower(&c->dma, iova), j;
		if (!v2 && i < c->dma.n && c->dma.v[i].iova < iova)
			i++;
		for (j = i; j < c->dma.n && c->dma.v[j].iova <= last; j++)
			unmapped += c->dma.v[j].size;
		if (!(un->flags & VFIO_DMA_UNMAP_FLAG_VADDR)) {
			mdma_remove_range(&c->dma, i, j);
			/* Their dirty bits go with them. */
			mpages_take(&c->dirty, iova, last, NULL, NULL);
		}
	}
	un->size = unmapped;
	return 0;
}

int mock_container_ioctl(struct mock_kernel *mk, struct mcontainer *c,
			 unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return container_check_ext(mk, c, (unsigned long)(uintptr_t)arg);
	case VFIO_SET_IOMMU:
		return container_set_iommu(mk, c, (unsigned long)(uintptr_t)arg);
	}
	if (!c->iommu_set)
		return -EINVAL;
	if (c->noiommu)
		return -ENOTTY;
	switch (req) {
	case VFIO_IOMMU_GET_INFO:
		return type1_get_info(mk, c, arg);
	case VFIO_IOMMU_MAP_DMA:
		return type1_map(mk, c, arg);
	case VFIO_IOMMU_UNMAP_DMA:
		return type1_unmap(mk, c, arg);
	case VFIO_IOMMU_DIRTY_PAGES:
		return mock_type1_dirty_pages(mk, c, arg);
	case VFIO_IOMMU_ENABLE:
	case VFIO_IOMMU_DISABLE:
		return -ENOTTY;
	default:
		return -ENOTTY;
	}
}

/* ---- groups ---------------------------------------------------------- */

static bool group_has_vfio_device(const struct mock_kernel *mk, int id)
{
	for (size_t i = 0; i < mk->ndevs; i++)
		if (mk->devs[i]->group == id && mock_dev_is_vfio(mk->devs[i]))
			return true;
	return false;
}

int mock_open_group(struct mock_kernel *mk, int id, bool noiommu_name)
{
	struct mgroup *g = mock_group_get(mk, id, false);
	int fd;

	(void)noiommu_name;
	if (!g || !group_has_vfio_device(mk, id))
		return -ENOENT;
	if (g->opened)
		return -EBUSY;
	for (size_t i = 0; i < mk->ndevs; i++)
		if (mk->devs[i]->group == id && mk->devs[i]->cdev_open)
			return -EBUSY;
	fd = mock_fd_new(mk, MFD_GROUP, g);
	if (fd < 0)
		return fd;
	g->opened = true;
	g->file_refs = 1;
	return fd;
}

static void group_detach(struct mock_kernel *mk, struct mgroup *g)
{
	struct mcontainer *c = g->container;
	bool last = true;

	g->container = NULL;
	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++)
		if (mk->groups[i].exists && mk->groups[i].container == c)
			last = false;
	if (last) {
		/* The IOMMU driver is released with the last group: every
		 * mapping goes with it. */
		c->iommu_set = false;
		c->noiommu = false;
		c->type = 0;
		mdma_set_free(&c->dma);
	}
	mock_container_put(mk, c);
}

void mock_group_put(struct mock_kernel *mk, struct mgroup *g)
{
	if (--g->file_refs)
		return;
	g->opened = false;
	if (g->container)
		group_detach(mk, g);
}

static int group_set_container(struct mock_kernel *mk, struct mgroup *g,
			       const int *pfd)
{
	struct mfd *f;
	struct mcontainer *c;
	bool has_groups = false;

	if (!pfd)
		return -EFAULT;
	f = mock_fd_get(mk, *pfd);
	if (!f)
		return *pfd < 0 || fcntl(*pfd, F_GETFD) < 0 ? -EBADF : -EBADFD;
	if (f->kind != MFD_CONTAINER)
		return -EBADFD;
	if (g->container)
		return -EINVAL;
	c = f->u.container;
	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++)
		if (mk->groups[i].exists && mk->groups[i].container == c)
			has_groups = true;
	if (has_groups && c->noiommu != mk->noiommu)
		return -EPERM;
	if (!mk->noiommu && !mock_group_viable(mk, g->id))
		return -EPERM;
	if (c->iommu_set && !c->noiommu && !mk->irq_remap && !mk->allow_unsafe)
		return -EPERM;
	if (c->iommu_set && !c->noiommu && c->dma.n) {
		/* type1 attach_group: existing mappings must not fall in the
		 * new group's reserved regions (vfio_iommu_resv_conflict). */
		uint64_t ranges[MOCK_MAX_RANGES * 4][2];
		int groups[MOCK_MAX_GROUPS];
		size_t ngroups, nr;
		container_groups(mk, c, groups, &ngroups);
		groups[ngroups++] = g->id;
		nr = mock_iova_ranges(mk, groups, ngroups, ranges,
				      ARRAY_SIZE(ranges));
		for (size_t i = 0; i < c->dma.n; i++)
			if (!mock_range_inside(ranges, nr, c->dma.v[i].iova,
					       c->dma.v[i].iova +
						       c->dma.v[i].size - 1))
				return -EINVAL;
	}
	g->container = c;
	c->refs++;
	c->noiommu = mk->noiommu;
	return 0;
}

int mock_group_ioctl(struct mock_kernel *mk, struct mgroup *g,
		     unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_GROUP_GET_STATUS: {
		struct vfio_group_status *st = arg;
		if (st->argsz < OFFSETOFEND(struct vfio_group_status, flags))
			return -EINVAL;
		st->flags = 0;
		if (g->container)
			st->flags = VFIO_GROUP_FLAGS_VIABLE |
				    VFIO_GROUP_FLAGS_CONTAINER_SET;
		else if (mock_group_viable(mk, g->id))
			st->flags = VFIO_GROUP_FLAGS_VIABLE;
		return 0;
	}
	case VFIO_GROUP_SET_CONTAINER:
		return group_set_container(mk, g, arg);
	case VFIO_GROUP_UNSET_CONTAINER:
		if (!g->container)
			return -EINVAL;
		if (g->file_refs > 1)
			return -EBUSY;
		group_detach(mk, g);
		return 0;
	case VFIO_GROUP_GET_DEVICE_FD:
		if (!arg)
			return -EFAULT;
		return mock_device_open_group_path(mk, g, arg);
	default:
		return -ENOTTY;
	}
}

/* ---- iommufd --------------------------------------------------------- */

int mock_open_iommufd(struct mock_kernel *mk)
{
	struct mictx *ictx = mock_zalloc(sizeof(*ictx));
	int fd;

	if (!ictx)
		return -ENOMEM;
	ictx->refs = 1;
	ictx->next_id = 1;
	if (mock_register_ictx(mk, ictx) < 0) {
		free(ictx);
		return -ENOMEM;
	}
	fd = mock_fd_new(mk, MFD_IOMMUFD, ictx);
	if (fd < 0) {
		mock_unregister_ictx(mk, ictx);
		free(ictx);
	}
	return fd;
}

void mock_ictx_put(struct mock_kernel *mk, struct mictx *ictx)
{
	if (--ictx->refs)
		return;
	mock_unregister_ictx(mk, ictx);
	mock_hwpts_free(ictx);
	while (ictx->ioas) {
		struct mioas *a = ictx->ioas;
		ictx->ioas = a->next;
		mdma_set_free(&a->dma);
		free(a);
	}
	free(ictx);
}

struct mioas *mock_ioas_get(struct mictx *ictx, uint32_t id)
{
	for (struct mioas *a = ictx->ioas; a; a = a->next)
		if (a->id == id)
			return a;
	return NULL;
}

static size_t ioas_ranges(const struct mock_kernel *mk, const struct mioas *a,
			  uint64_t (*out)[2], size_t max)
{
	int groups[MOCK_MAX_DEVICES];
	size_t ng = 0;

	if (!a->users) {
		if (max) {
			out[0][0] = 0;
			out[0][1] = UINT64_MAX;
		}
		return 1;
	}
	for (size_t i = 0; i < mk->ndevs; i++)
		if (mk->devs[i]->ioas == a)
			groups[ng++] = mk->devs[i]->group;
	return mock_iova_ranges(mk, groups, ng, out, max);
}

static int ioas_map(struct mock_kernel *mk, struct mictx *ictx,
		    struct iommu_ioas_map *cmd)
{
	uint32_t known = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_READABLE;
	uint64_t ranges[MOCK_MAX_RANGES * 4][2];
	uint64_t align, iova, last;
	struct mioas *a;
	struct mdma d;
	size_t nr;

	if ((cmd->flags & ~known) || cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->iova >= UINT64_MAX || cmd->length >= UINT64_MAX)
		return -EOVERFLOW;
	a = mock_ioas_get(ictx, cmd->ioas_id);
	if (!a)
		return -ENOENT;
	if (!(cmd->flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)))
		return -EINVAL;
	if (!cmd->length)
		return -EINVAL;
	align = a->users ? mock_min_pgsize(mk) : 1;
	if (align < PAGE_4K)
		align = PAGE_4K;
	nr = ioas_ranges(mk, a, ranges, ARRAY_SIZE(ranges));
	if (cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA) {
		iova = cmd->iova;
		if (iova & (align - 1))
			return -EINVAL;
		if (iova + (cmd->length - 1) < iova)
			return -EOVERFLOW;
		last = iova + cmd->length - 1;
		if (!mock_range_inside(ranges, nr, iova, last))
			return -EINVAL;
		if (mdma_find(&a->dma, iova, last) != a->dma.n)
			return -EEXIST;
	} else {
		/* Lowest free aligned hole that fits. */
		bool found = false;
		uint64_t len = (cmd->length + align - 1) & ~(align - 1);
		for (size_t i = 0; i < nr && !found; i++) {
			uint64_t s = (ranges[i][0] + align - 1) & ~(align - 1);
			while (s >= ranges[i][0] && s + len - 1 <= ranges[i][1] &&
			       s + len - 1 >= s) {
				size_t k = mdma_find(&a->dma, s, s + len - 1);
				if (k == a->dma.n) {
					found = true;
					break;
				}
				s = a->dma.v[k].iova + a->dma.v[k].size;
				s = (s + align - 1) & ~(align - 1);
				if (!s)
					break;
			}
			if (found)
				iova = s;
		}
		if (!found)
			return -ENOSPC;
		last = iova + cmd->length - 1;
	}
	if ((cmd->user_va ^ iova) & (PAGE_4K - 1))
		return -EINVAL;
	if (mk->memlock != RLIM_INFINITY && !mk->cap_ipc_lock &&
	    mock_total_pinned(mk) + cmd->length > mk->memlock)
		return -ENOMEM;
	if (!user_range_mapped(cmd->user_va & ~(PAGE_4K - 1),
			       ((cmd->user_va & (PAGE_4K - 1)) + cmd->length +
				PAGE_4K - 1) & ~(PAGE_4K - 1)))
		return -EFAULT;
	d.iova = iova;
	d.size = cmd->length;
	d.vaddr = cmd->user_va;
	d.flags = ((cmd->flags & IOMMU_IOAS_MAP_READABLE) ? VFIO_DMA_MAP_FLAG_READ
							   : 0) |
		  ((cmd->flags & IOMMU_IOAS_MAP_WRITEABLE)
			   ? VFIO_DMA_MAP_FLAG_WRITE
			   : 0);
	if (mdma_insert(&a->dma, &d) < 0)
		return -ENOMEM;
	cmd->iova = iova;
	(void)last;
	return 0;
}

static int ioas_unmap(struct mictx *ictx, struct iommu_ioas_unmap *cmd)
{
	struct mioas *a = mock_ioas_get(ictx, cmd->ioas_id);
	uint64_t unmapped = 0, last;
	bool all;

	if (!a)
		return -ENOENT;
	all = cmd->iova == 0 && cmd->length == UINT64_MAX;
	if (!all) {
		if (cmd->iova >= UINT64_MAX || cmd->length >= UINT64_MAX)
			return -EOVERFLOW;
		if (!cmd->length)
			return -EINVAL;
		last = cmd->iova + cmd->length - 1;
		if (last < cmd->iova)
			return -EOVERFLOW;
	} else {
		last = UINT64_MAX;
	}
	{
		/* In order, as iopt_unmap_iova_range(): a mapping cut by the
		 * range stops the walk with -ENOENT, those before it are gone. */
		size_t i = mdma_lower(&a->dma, cmd->iova), j;
		int rc = 0;
		for (j = i; j < a->dma.n && a->dma.v[j].iova <= last; j++) {
			const struct mdma *d = &a->dma.v[j];
			if (d->iova < cmd->iova || d->iova + d->size - 1 > last) {
				rc = -ENOENT;
				break;
			}
			unmapped += d->size;
		}
		mdma_remove_range(&a->dma, i, j);
		if (rc)
			return rc;
	}
	cmd->length = unmapped;
	if (!unmapped && !all)
		return -ENOENT;
	return 0;
}

/* iommufd ioctls pass a struct whose first u32 is its size; the kernel
 * accepts bigger (zero-padded) and smaller-but-above-minimum ones. */
int mock_ucmd_in(void *dst, size_t size, size_t minsz, const void *arg)
{
	uint32_t usize;

	if (!arg)
		return -EFAULT;
	memcpy(&usize, arg, sizeof(usize));
	if (usize < minsz)
		return -EINVAL;
	memset(dst, 0, size);
	if (usize > size) {
		const uint8_t *p = arg;
		for (size_t i = size; i < usize; i++)
			if (p[i])
				return -E2BIG;
		usize = (uint32_t)size;
	}
	memcpy(dst, arg, usize);
	return 0;
}

void mock_ucmd_out(void *arg, const void *src, size_t size)
{
	uint32_t usize;

	memcpy(&usize, arg, sizeof(usize));
	memcpy(arg, src, usize < size ? usize : size);
}

int mock_iommufd_ioctl(struct mock_kernel *mk, struct mictx *ictx,
		       unsigned long req, void *arg)
{
	int r;

	switch (req) {
	case IOMMU_DESTROY: {
		struct iommu_destroy cmd;
		struct mioas **pp;
		r = mock_ucmd_in(&cmd, sizeof(cmd),
				 OFFSETOFEND(struct iommu_destroy, id), arg);
		if (r)
			return r;
		for (struct mhwpt **hp = &ictx->hwpts; *hp; hp = &(*hp)->next) {
			struct mhwpt *h = *hp;
			if (h->id != cmd.id)
				continue;
			if (h->users)
				return -EBUSY;
			*hp = h->next;
			free(h->dirty.v);
			free(h);
			return 0;
		}
		for (pp = &ictx->ioas; *pp; pp = &(*pp)->next) {
			struct mioas *a = *pp;
			if (a->id != cmd.id)
				continue;
			if (a->users)
				return -EBUSY;
			for (struct mhwpt *h = ictx->hwpts; h; h = h->next)
				if (h->ioas == a)
					return -EBUSY; /* an HWPT holds it */
			*pp = a->next;
			mdma_set_free(&a->dma);
			free(a);
			return 0;
		}
		for (size_t i = 0; i < mk->ndevs; i++) {
			struct mdev *d = mk->devs[i];
			if (d->bound_ictx == ictx &&
			    (d->devid == cmd.id || (d->ioas && d->hwpt_id == cmd.id)))
				return -EBUSY;
		}
		return -ENOENT;
	}
	case IOMMU_IOAS_ALLOC: {
		struct iommu_ioas_alloc cmd;
		struct mioas *a;
		r = mock_ucmd_in(
			&cmd, sizeof(cmd),
			OFFSETOFEND(struct iommu_ioas_alloc, out_ioas_id), arg);
		if (r)
			return r;
		if (cmd.flags)
			return -EOPNOTSUPP;
		a = mock_zalloc(sizeof(*a));
		if (!a)
			return -ENOMEM;
		a->id = ictx->next_id++;
		a->next = ictx->ioas;
		ictx->ioas = a;
		cmd.out_ioas_id = a->id;
		mock_ucmd_out(arg, &cmd, sizeof(cmd));
		return 0;
	}
	case IOMMU_IOAS_IOVA_RANGES: {
		struct iommu_ioas_iova_ranges cmd;
		struct iommu_iova_range *out;
		uint64_t ranges[MOCK_MAX_RANGES * 4][2];
		uint32_t max;
		struct mioas *a;
		size_t nr;
		r = mock_ucmd_in(&cmd, sizeof(cmd),
				 OFFSETOFEND(struct iommu_ioas_iova_ranges,
					     out_iova_alignment),
				 arg);
		if (r)
			return r;
		if (cmd.__reserved)
			return -EOPNOTSUPP;
		a = mock_ioas_get(ictx, cmd.ioas_id);
		if (!a)
			return -ENOENT;
		max = cmd.num_iovas;
		out = (void *)(uintptr_t)cmd.allowed_iovas;
		nr = ioas_ranges(mk, a, ranges, ARRAY_SIZE(ranges));
		for (size_t i = 0; i < nr && i < max; i++) {
			if (!out)
				return -EFAULT;
			out[i].start = ranges[i][0];
			out[i].last = ranges[i][1];
		}
		cmd.num_iovas = (uint32_t)nr;
		cmd.out_iova_alignment = a->users ? mock_min_pgsize(mk) : 1;
		mock_ucmd_out(arg, &cmd, sizeof(cmd));
		return nr > max ? -EMSGSIZE : 0;
	}
	case IOMMU_IOAS_MAP: {
		struct iommu_ioas_map cmd;
		r = mock_ucmd_in(&cmd, sizeof(cmd),
				 OFFSETOFEND(struct iommu_ioas_map, iova), arg);
		if (r)
			return r;
		r = ioas_map(mk, ictx, &cmd);
		if (r)
			return r;
		mock_ucmd_out(arg, &cmd, sizeof(cmd));
		return 0;
	}
	case IOMMU_IOAS_UNMAP: {
		struct iommu_ioas_unmap cmd;
		r = mock_ucmd_in(&cmd, sizeof(cmd),
				 OFFSETOFEND(struct iommu_ioas_unmap, length),
				 arg);
		if (r)
			return r;
		r = ioas_unmap(ictx, &cmd);
		if (r)
			return r;
		mock_ucmd_out(arg, &cmd, sizeof(cmd));
		return 0;
	}
	case IOMMU_GET_HW_INFO: {
		/* The VT-d registers of the device's IOMMU unit. */
		struct iommu_hw_info cmd;
		struct iommu_hw_info_vtd vtd = {
			.cap_reg = 0xd2008c40660462ull,
			.ecap_reg = MOCK_VTD_ECAP &
				    ~(mk->ir_capable ? 0ull : 8ull),
		};
		struct mdev *dev = NULL;
		r = mock_ucmd_in(&cmd, sizeof(cmd),
				 OFFSETOFEND(struct iommu_hw_info, __reserved),
				 arg);
		if (r)
			return r;
		if (cmd.flags || cmd.__reserved[0] || cmd.__reserved[1] ||
		    cmd.__reserved[2])
			return -EOPNOTSUPP;
		for (size_t i = 0; i < mk->ndevs && !dev; i++)
			if (mk->devs[i]->bound_ictx == ictx &&
			    mk->devs[i]->devid == cmd.dev_id)
				dev = mk->devs[i];
		if (!dev)
			return -ENOENT;
		if (cmd.data_len && !cmd.data_uptr)
			return -EFAULT;
		/* As the kernel: what fits of the data, zeros past it. */
		if (cmd.data_len)
			memcpy((void *)(uintptr_t)cmd.data_uptr, &vtd,
			       cmd.data_len < sizeof(vtd) ? cmd.data_len :
							    sizeof(vtd));
		if (cmd.data_len > sizeof(vtd))
			memset((uint8_t *)(uintptr_t)cmd.data_uptr +
				       sizeof(vtd),
			       0, cmd.data_len - sizeof(vtd));
		cmd.data_len = sizeof(vtd);
		cmd.out_data_type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
		cmd.out_capabilities =
			mk->dirty_hw ? IOMMU_HW_CAP_DIRTY_TRACKING : 0;
		cmd.out_max_pasid_log2 = 0;
		mock_ucmd_out(arg, &cmd, sizeof(cmd));
		return 0;
	}
	case IOMMU_OPTION: {
		struct iommu_option cmd;
		r = mock_ucmd_in(&cmd, sizeof(cmd),
				 OFFSETOFEND(struct iommu_option, val64), arg);
		if (r)
			return r;
		if (cmd.__reserved)
			return -EOPNOTSUPP;
		if (cmd.op != IOMMU_OPTION_OP_SET && cmd.op != IOMMU_OPTION_OP_GET)
			return -EOPNOTSUPP;
		switch (cmd.option_id) {
		case IOMMU_OPTION_RLIMIT_MODE:
			if (cmd.object_id)
				return -EOPNOTSUPP;
			if (cmd.op == IOMMU_OPTION_OP_GET)
				cmd.val64 = 0;
			else if (cmd.val64 > 1)
				return -EINVAL;
			break;
		case IOMMU_OPTION_HUGE_PAGES:
			if (!mock_ioas_get(ictx, cmd.object_id))
				return -ENOENT;
			if (cmd.op == IOMMU_OPTION_OP_GET)
				cmd.val64 = 1;
			else if (cmd.val64 > 1)
				return -EINVAL;
			break;
		default:
			return -EOPNOTSUPP;
		}
		mock_ucmd_out(arg, &cmd, sizeof(cmd));
		return 0;
	}
	default:
		/* The HWPT ioctls (mock_dirty.c). */
		r = mock_iommufd_dirty_ioctl(mk, ictx, req, arg);
		return r == 1 ? -ENOTTY : r;
	}
}

/* ---- vfio cdev: bind / attach / detach ------------------------------- */

static void cdev_detach(struct mdev *dev)
{
	if (!dev->ioas)
		return;
	if (dev->hwpt) {
		dev->hwpt->users--;
		dev->hwpt = NULL;
		dev->ioas->users--;
		dev->hwpt_id = 0;
	} else if (--dev->ioas->users == 0) {
		dev->hwpt_id = 0;
	}
	dev->ioas = NULL;
}

void mock_cdev_unbind(struct mock_kernel *mk, struct mdev *dev)
{
	struct mictx *ictx = dev->bound_ictx;

	cdev_detach(dev);
	dev->bound_ictx = NULL;
	dev->devid = 0;
	if (ictx)
		mock_ictx_put(mk, ictx);
}

/* iopt_table_enforce_dev_resv_regions(): a mapping of @a in one of
 * @dev's reserved regions blocks the attach. */
static bool resv_conflict(struct mock_kernel *mk, struct mdev *dev,
			  struct mioas *a)
{
	uint64_t ranges[MOCK_MAX_RANGES * 4][2];
	int groups[MOCK_MAX_DEVICES + 1];
	size_t ng = 0, nr;

	if (dev->ioas == a || !a->dma.n)
		return false;
	for (size_t i = 0; i < mk->ndevs; i++)
		if (mk->devs[i]->ioas == a)
			groups[ng++] = mk->devs[i]->group;
	groups[ng++] = dev->group;
	nr = mock_iova_ranges(mk, groups, ng, ranges, ARRAY_SIZE(ranges));
	for (size_t i = 0; i < a->dma.n; i++)
		if (!mock_range_inside(ranges, nr, a->dma.v[i].iova,
				       a->dma.v[i].iova + a->dma.v[i].size - 1))
			return true;
	return false;
}

/* Attach (or replace) @dev to the HWPT @h. */
static int attach_hwpt(struct mock_kernel *mk, struct mdev *dev,
		       struct mhwpt *h,
		       struct vfio_device_attach_iommufd_pt *at)
{
	if (resv_conflict(mk, dev, h->ioas))
		return -EADDRINUSE;
	if (dev->hwpt != h) {
		cdev_detach(dev);
		dev->ioas = h->ioas;
		h->ioas->users++;
		dev->hwpt = h;
		h->users++;
		dev->hwpt_id = h->id;
	}
	at->pt_id = h->id;
	return 0;
}

int mock_cdev_ioctl(struct mock_kernel *mk, struct mdevfile *df,
		    unsigned long req, void *arg)
{
	struct mdev *dev = df->dev;

	switch (req) {
	case VFIO_DEVICE_BIND_IOMMUFD: {
		struct vfio_device_bind_iommufd *b = arg;
		uint8_t token[16];
		bool has_token = false;
		struct mfd *f;
		int r;
		if (!df->cdev)
			return -EINVAL;
		if (b->argsz < OFFSETOFEND(struct vfio_device_bind_iommufd,
					   out_devid) ||
		    b->iommufd < 0)
			return -EINVAL;
		/* Linux 6.17 takes a VF token (VFIO_DEVICE_BIND_FLAG_TOKEN,
		 * a pointer after out_devid); 6.12 refuses every flag. */
		if (b->flags & ~(mk->bind_token ? 1u : 0u))
			return -EINVAL;
		if (b->flags) {
			uint64_t ptr;
			if (b->argsz < sizeof(*b) + sizeof(ptr))
				return -EINVAL;
			memcpy(&ptr, (uint8_t *)b + sizeof(*b), sizeof(ptr));
			if (!ptr)
				return -EFAULT;
			memcpy(token, (void *)(uintptr_t)ptr, sizeof(token));
			has_token = true;
		}
		if (df->bound)
			return -EINVAL;
		if (mk->bind_token) {
			r = mock_vf_token_check(mk, dev,
						has_token ? token : NULL);
			if (r < 0)
				return r;
		}
		f = mock_fd_get(mk, b->iommufd);
		if (!f)
			return fcntl(b->iommufd, F_GETFD) < 0 ? -EBADF : -EBADFD;
		if (f->kind != MFD_IOMMUFD)
			return -EBADFD;
		if (dev->open_count)
			return -EINVAL;
		/* iommufd_device_bind(): no MSI isolation. */
		if (!mk->irq_remap && !mk->allow_unsafe)
			return -EPERM;
		dev->bound_ictx = f->u.ictx;
		f->u.ictx->refs++;
		dev->devid = f->u.ictx->next_id++;
		dev->open_count = 1;
		mock_device_first_open(mk, dev);
		df->bound = true;
		b->out_devid = dev->devid;
		return 0;
	}
	case VFIO_DEVICE_ATTACH_IOMMUFD_PT: {
		struct vfio_device_attach_iommufd_pt *at = arg;
		struct mhwpt *h;
		struct mioas *a = NULL;
		if (!df->cdev || !df->bound)
			return -EINVAL;
		if (at->argsz < OFFSETOFEND(struct vfio_device_attach_iommufd_pt,
					    pt_id) ||
		    at->flags)
			return -EINVAL;
		/* An HWPT from IOMMU_HWPT_ALLOC (mock_dirty.c). */
		h = mock_hwpt_get(dev->bound_ictx, at->pt_id);
		if (h)
			return attach_hwpt(mk, dev, h, at);
		for (struct mioas *x = dev->bound_ictx->ioas; x; x = x->next)
			if (x->id == at->pt_id ||
			    (x->users && dev->ioas == x && !dev->hwpt &&
			     dev->hwpt_id == at->pt_id))
				a = x;
		if (!a) {
			/* An auto-created HWPT of another device's IOAS. */
			for (size_t i = 0; i < mk->ndevs && !a; i++)
				if (mk->devs[i]->bound_ictx ==
					    dev->bound_ictx &&
				    mk->devs[i]->ioas && !mk->devs[i]->hwpt &&
				    mk->devs[i]->hwpt_id == at->pt_id)
					a = mk->devs[i]->ioas;
		}
		if (!a)
			return -ENOENT;
		if (resv_conflict(mk, dev, a))
			return -EADDRINUSE;
		if (dev->ioas != a || dev->hwpt) {
			uint32_t hwpt = 0;
			for (size_t i = 0; i < mk->ndevs; i++)
				if (mk->devs[i]->ioas == a &&
				    !mk->devs[i]->hwpt)
					hwpt = mk->devs[i]->hwpt_id;
			cdev_detach(dev);
			dev->ioas = a;
			a->users++;
			dev->hwpt_id = hwpt ? hwpt : dev->bound_ictx->next_id++;
		}
		at->pt_id = dev->hwpt_id;
		return 0;
	}
	case VFIO_DEVICE_DETACH_IOMMUFD_PT: {
		struct vfio_device_detach_iommufd_pt *dt = arg;
		if (!df->cdev || !df->bound)
			return -EINVAL;
		if (dt->argsz < OFFSETOFEND(struct vfio_device_detach_iommufd_pt,
					    flags) ||
		    dt->flags)
			return -EINVAL;
		cdev_detach(dev);
		return 0;
	}
	}
	return -ENOTTY;
}
