// SPDX-License-Identifier: MIT
/*
 * The mock kernel's dirty tracking: type1's VFIO_IOMMU_DIRTY_PAGES, the
 * iommufd HWPTs (IOMMU_GET_HW_INFO in mock_iommu.c reports the
 * capability; IOMMU_HWPT_ALLOC with
 * IOMMU_HWPT_ALLOC_DIRTY_TRACKING, IOMMU_HWPT_SET_DIRTY_TRACKING,
 * IOMMU_HWPT_GET_DIRTY_BITMAP), and the device DMA writes that dirty
 * memory (mock_dma_write()). The device's own DMA logging is in
 * mock_mig.c.
 *
 * Written from reading Linux 6.12: drivers/vfio/vfio_iommu_type1.c
 * (vfio_iommu_type1_dirty_pages(), vfio_iova_dirty_bitmap(): a range may
 * not cut a mapping; every mapped page is reported dirty while an
 * IOMMU-backed group is in the container, only the pages its driver
 * pinned otherwise) and drivers/iommu/iommufd/hw_pagetable.c,
 * io_pagetable.c and device.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock_internal.h"

#define OFFSETOFEND(t, m) (offsetof(t, m) + sizeof(((t *)0)->m))
#define PG 4096ull
/* The kernel's DIRTY_BITMAP_SIZE_MAX: INT_MAX bits, rounded to u64s. */
#define TYPE1_BITMAP_MAX (((uint64_t)INT32_MAX + 63) / 64 * 8)

/* ---- page sets ------------------------------------------------------- */

static size_t mpages_lower(const struct mpages *s, uint64_t page)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid] < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int mpages_add(struct mpages *s, uint64_t page)
{
	size_t i = mpages_lower(s, page);

	if (i < s->n && s->v[i] == page)
		return 0;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		uint64_t *nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof(*s->v));
	s->v[i] = page;
	s->n++;
	return 0;
}

void mpages_take(struct mpages *s, uint64_t iova, uint64_t last,
		 void (*fn)(void *arg, uint64_t page), void *arg)
{
	size_t i = mpages_lower(s, iova), j = i;

	while (j < s->n && s->v[j] <= last) {
		if (fn)
			fn(arg, s->v[j]);
		j++;
	}
	if (j == i)
		return;
	memmove(s->v + i, s->v + j, (s->n - j) * sizeof(*s->v));
	s->n -= j - i;
}

void mpages_clear(struct mpages *s)
{
	s->n = 0;
}

/* Set the bits of a bitmap starting at @iova, one per @pgsize. */
struct bits {
	uint64_t *map;
	uint64_t iova, pgsize, nbits;
};

static void set_bit_of(void *arg, uint64_t page)
{
	struct bits *b = arg;
	uint64_t first = page < b->iova ? b->iova : page;
	uint64_t bit = (first - b->iova) / b->pgsize;

	if (bit < b->nbits)
		b->map[bit / 64] |= 1ull << (bit % 64);
}

/* ---- type1 ----------------------------------------------------------- */

/* The container has a group that is not an emulated one: its device can
 * write anywhere it is mapped, unseen. */
static bool has_iommu_group(const struct mock_kernel *mk,
			    const struct mcontainer *c)
{
	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++)
		if (mk->groups[i].exists && mk->groups[i].container == c &&
		    !mk->groups[i].emulated)
			return true;
	return false;
}

static int type1_get_bitmap(struct mock_kernel *mk, struct mcontainer *c,
			    const struct vfio_iommu_type1_dirty_bitmap_get *g)
{
	uint64_t pgsize = mock_min_pgsize(mk), npages, last;
	struct bits b;
	size_t i;

	if (g->iova + g->size < g->iova)
		return -EINVAL;
	if (!g->bitmap.pgsize || (g->bitmap.pgsize & (g->bitmap.pgsize - 1)))
		return -EINVAL;
	npages = g->size / g->bitmap.pgsize;
	if (!npages || !g->bitmap.size || g->bitmap.size > TYPE1_BITMAP_MAX ||
	    g->bitmap.size < (npages + 63) / 64 * 8)
		return -EINVAL;
	if (g->bitmap.pgsize != pgsize)
		return -EINVAL; /* only the smallest page size */
	if ((g->iova & (pgsize - 1)) || !g->size || (g->size & (pgsize - 1)))
		return -EINVAL;
	if (!c->dirty_tracking)
		return -EINVAL;
	last = g->iova + g->size - 1;
	/* The range may not cut a mapping, at either end. */
	i = mdma_find(&c->dma, g->iova, g->iova);
	if (i < c->dma.n && c->dma.v[i].iova != g->iova)
		return -EINVAL;
	i = mdma_find(&c->dma, last, last);
	if (i < c->dma.n && c->dma.v[i].iova + c->dma.v[i].size - 1 != last)
		return -EINVAL;
	if (!g->bitmap.data)
		return -EFAULT;
	b.map = (uint64_t *)g->bitmap.data;
	b.iova = g->iova;
	b.pgsize = pgsize;
	b.nbits = npages;
	if (has_iommu_group(mk, c)) {
		/* Every page of every mapping in the range. */
		for (i = mdma_find(&c->dma, g->iova, last);
		     i < c->dma.n && c->dma.v[i].iova <= last; i++)
			for (uint64_t o = 0; o < c->dma.v[i].size; o += pgsize)
				set_bit_of(&b, c->dma.v[i].iova + o);
		mpages_take(&c->dirty, g->iova, last, NULL, NULL);
	} else {
		mpages_take(&c->dirty, g->iova, last, set_bit_of, &b);
	}
	return 0;
}

int mock_type1_dirty_pages(struct mock_kernel *mk, struct mcontainer *c,
			   void *arg)
{
	struct vfio_iommu_type1_dirty_bitmap *d = arg;
	size_t minsz = OFFSETOFEND(struct vfio_iommu_type1_dirty_bitmap, flags);
	uint32_t mask = VFIO_IOMMU_DIRTY_PAGES_FLAG_START |
			VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP |
			VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;

	if (c->type != VFIO_TYPE1v2_IOMMU)
		return -EACCES;
	if (!arg)
		return -EFAULT;
	if (d->argsz < minsz || (d->flags & ~mask))
		return -EINVAL;
	/* Exactly one operation. */
	if (!d->flags || (d->flags & (d->flags - 1)))
		return -EINVAL;
	switch (d->flags) {
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_START:
		if (!c->dirty_tracking)
			mpages_clear(&c->dirty);
		c->dirty_tracking = true;
		return 0;
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP:
		c->dirty_tracking = false;
		mpages_clear(&c->dirty);
		return 0;
	default: {
		struct vfio_iommu_type1_dirty_bitmap_get g;

		if (d->argsz - minsz < sizeof(g))
			return -EINVAL;
		memcpy(&g, d->data, sizeof(g));
		return type1_get_bitmap(mk, c, &g);
	}
	}
}

/* ---- iommufd --------------------------------------------------------- */

struct mhwpt *mock_hwpt_get(struct mictx *ictx, uint32_t id)
{
	for (struct mhwpt *h = ictx->hwpts; h; h = h->next)
		if (h->id == id)
			return h;
	return NULL;
}

void mock_hwpts_free(struct mictx *ictx)
{
	while (ictx->hwpts) {
		struct mhwpt *h = ictx->hwpts;

		ictx->hwpts = h->next;
		free(h->dirty.v);
		free(h);
	}
}

static struct mdev *bound_dev(struct mock_kernel *mk, struct mictx *ictx,
			      uint32_t devid)
{
	for (size_t i = 0; i < mk->ndevs; i++)
		if (mk->devs[i]->bound_ictx == ictx &&
		    mk->devs[i]->devid == devid && devid)
			return mk->devs[i];
	return NULL;
}

static int hwpt_alloc(struct mock_kernel *mk, struct mictx *ictx, void *arg)
{
	const uint32_t valid = IOMMU_HWPT_ALLOC_NEST_PARENT |
			       IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
	struct iommu_hwpt_alloc cmd;
	struct mioas *a;
	struct mhwpt *h;
	int r;

	r = mock_ucmd_in(&cmd, sizeof(cmd),
			 OFFSETOFEND(struct iommu_hwpt_alloc, __reserved), arg);
	if (r)
		return r;
	if (cmd.__reserved || cmd.__reserved2)
		return -EOPNOTSUPP;
	if (!bound_dev(mk, ictx, cmd.dev_id))
		return -ENOENT;
	if (cmd.flags & ~valid)
		return -EOPNOTSUPP;
	if (cmd.data_type != IOMMU_HWPT_DATA_NONE || cmd.data_len ||
	    cmd.data_uptr)
		return -EOPNOTSUPP; /* nesting is not modelled */
	a = mock_ioas_get(ictx, cmd.pt_id);
	if (!a)
		return -ENOENT;
	if ((cmd.flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) && !mk->dirty_hw)
		return -EOPNOTSUPP;
	h = mock_zalloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->id = ictx->next_id++;
	h->ioas = a;
	h->dirty_capable = cmd.flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
	h->next = ictx->hwpts;
	ictx->hwpts = h;
	cmd.out_hwpt_id = h->id;
	mock_ucmd_out(arg, &cmd, sizeof(cmd));
	return 0;
}

static int hwpt_set_dirty(struct mictx *ictx, void *arg)
{
	struct iommu_hwpt_set_dirty_tracking cmd;
	struct mhwpt *h;
	int r;

	r = mock_ucmd_in(&cmd, sizeof(cmd),
			 OFFSETOFEND(struct iommu_hwpt_set_dirty_tracking,
				     __reserved),
			 arg);
	if (r)
		return r;
	if (cmd.flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		return -EOPNOTSUPP;
	h = mock_hwpt_get(ictx, cmd.hwpt_id);
	if (!h)
		return -ENOENT;
	if (!h->dirty_capable)
		return -EOPNOTSUPP;
	/* Enabling starts from a clean snapshot. */
	if (cmd.flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		mpages_clear(&h->dirty);
	h->tracking = cmd.flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
	return 0;
}

static int hwpt_get_bitmap(struct mock_kernel *mk, struct mictx *ictx,
			   void *arg)
{
	struct iommu_hwpt_get_dirty_bitmap cmd;
	uint64_t align = mock_min_pgsize(mk), last;
	struct mhwpt *h;
	struct bits b;
	int r;

	r = mock_ucmd_in(&cmd, sizeof(cmd),
			 OFFSETOFEND(struct iommu_hwpt_get_dirty_bitmap, data),
			 arg);
	if (r)
		return r;
	if ((cmd.flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) ||
	    cmd.__reserved)
		return -EOPNOTSUPP;
	h = mock_hwpt_get(ictx, cmd.hwpt_id);
	if (!h)
		return -ENOENT;
	if (!h->dirty_capable)
		return -EOPNOTSUPP;
	if (!cmd.length)
		return -EINVAL;
	if (cmd.iova + (cmd.length - 1) < cmd.iova)
		return -EOVERFLOW;
	last = cmd.iova + cmd.length - 1;
	if ((cmd.iova & (align - 1)) || ((last + 1) & (align - 1)))
		return -EINVAL;
	if (!cmd.page_size || (cmd.page_size & (cmd.page_size - 1)))
		return -EINVAL;
	if ((cmd.iova & (cmd.page_size - 1)) ||
	    ((last + 1) & (cmd.page_size - 1)))
		return -EINVAL;
	if (!cmd.data)
		return -EFAULT;
	b.map = (uint64_t *)(uintptr_t)cmd.data;
	b.iova = cmd.iova;
	b.pgsize = cmd.page_size;
	b.nbits = cmd.length / cmd.page_size;
	if (cmd.flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) {
		for (size_t i = 0; i < h->dirty.n; i++)
			if (h->dirty.v[i] + PG - 1 >= cmd.iova &&
			    h->dirty.v[i] <= last)
				set_bit_of(&b, h->dirty.v[i]);
	} else {
		mpages_take(&h->dirty, cmd.iova & ~(PG - 1), last, set_bit_of,
			    &b);
	}
	return 0;
}

int mock_iommufd_dirty_ioctl(struct mock_kernel *mk, struct mictx *ictx,
			     unsigned long req, void *arg)
{
	switch (req) {
	case IOMMU_HWPT_ALLOC:
		return hwpt_alloc(mk, ictx, arg);
	case IOMMU_HWPT_SET_DIRTY_TRACKING:
		return hwpt_set_dirty(ictx, arg);
	case IOMMU_HWPT_GET_DIRTY_BITMAP:
		return hwpt_get_bitmap(mk, ictx, arg);
	default:
		return 1;
	}
}

/* ---- DMA by a device ------------------------------------------------- */

static const struct mdma_set *
dev_dma_set(struct mock_kernel *mk, struct mdev *dev, struct mcontainer **c)
{
	struct mgroup *g;

	*c = NULL;
	if (dev->ioas)
		return &dev->ioas->dma;
	g = mock_group_get(mk, dev->group, false);
	if (g && g->container && g->container->iommu_set &&
	    !g->container->noiommu && dev->open_count) {
		*c = g->container;
		return &g->container->dma;
	}
	return NULL;
}

int mock_dma_write(struct mock_kernel *mk, const char *addr, uint64_t iova,
		   const void *buf, size_t len)
{
	const struct mdma_set *s;
	struct mcontainer *c;
	struct mdev *dev;
	uint64_t cur = iova, last;
	int r = 0;

	if (!len)
		return 0;
	mock_lock(mk);
	dev = mock_dev_find(mk, addr);
	s = dev ? dev_dma_set(mk, dev, &c) : NULL;
	if (!dev || !s) {
		r = -ENODEV;
		goto out;
	}
	last = iova + len - 1;
	if (last < iova) {
		r = -EFAULT;
		goto out;
	}
	/* Check the whole range first: a fault writes nothing. */
	while (cur <= last) {
		size_t i = mdma_find(s, cur, cur);

		if (i == s->n || !(s->v[i].flags & VFIO_DMA_MAP_FLAG_WRITE)) {
			r = -EFAULT;
			goto out;
		}
		if (s->v[i].iova + s->v[i].size - 1 >= last)
			break;
		cur = s->v[i].iova + s->v[i].size;
	}
	for (cur = iova; cur <= last;) {
		size_t i = mdma_find(s, cur, cur);
		uint64_t end = MIN(last, s->v[i].iova + s->v[i].size - 1);
		size_t n = (size_t)(end - cur + 1);

		memcpy((void *)(uintptr_t)(s->v[i].vaddr +
					   (cur - s->v[i].iova)),
		       (const uint8_t *)buf + (cur - iova), n);
		if (end == UINT64_MAX)
			break;
		cur = end + 1;
	}
	for (uint64_t p = iova & ~(PG - 1); p <= last; p += PG) {
		if (c && c->dirty_tracking)
			mpages_add(&c->dirty, p);
		if (dev->hwpt && dev->hwpt->tracking)
			mpages_add(&dev->hwpt->dirty, p);
		if (p + PG < p)
			break;
	}
	mock_mig_log_dma(dev, iova, last);
out:
	mock_unlock(mk);
	return r;
}

/* ---- knobs and inspection -------------------------------------------- */

void mock_set_dirty_tracking(struct mock_kernel *mk, bool on)
{
	mk->dirty_hw = on;
}

void mock_set_group_emulated(struct mock_kernel *mk, int group, bool on)
{
	struct mgroup *g = mock_group_get(mk, group, false);

	if (!g)
		return;
	g->emulated = on;
	mock_sysfs_write_group_file(mk, group, "type",
				    on ? "unknown\n" : "DMA\n");
}

int mock_type1_dirty_tracking(struct mock_kernel *mk, int fd)
{
	struct mfd *f;
	int r = -EBADF;

	mock_lock(mk);
	f = mock_fd_get(mk, fd);
	if (f && f->kind == MFD_CONTAINER)
		r = f->u.container->dirty_tracking;
	mock_unlock(mk);
	return r;
}

size_t mock_hwpts(const struct mock_kernel *mk, size_t *tracking)
{
	size_t n = 0, t = 0;

	mock_lock(mk);
	for (size_t i = 0; i < mk->nictxs; i++)
		for (struct mhwpt *h = mk->ictxs[i]->hwpts; h; h = h->next) {
			n++;
			t += h->tracking;
		}
	mock_unlock(mk);
	if (tracking)
		*tracking = t;
	return n;
}
