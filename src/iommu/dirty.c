// SPDX-License-Identifier: MIT
/*
 * Dirty tracking done by the IOMMU side (the public tracker is
 * device/dirty.c, which also does the devices' own DMA logging):
 *
 * - type1: VFIO_IOMMU_DIRTY_PAGES on the container. The kernel cannot
 *   see the writes of a device behind a real IOMMU, so while such a
 *   group is in the container it reports every mapped page dirty at
 *   every fetch; only containers of emulated groups (mdevs, whose vendor
 *   driver pins what its device writes) report real dirt. The bitmap is
 *   at the smallest IOMMU page size, per whole mapping.
 * - iommufd: an HWPT allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING from
 *   the IOAS (so it has the IOAS's mappings, and follows them), the
 *   devices attached to it in place of the IOAS's automatic one, and
 *   IOMMU_HWPT_SET_DIRTY_TRACKING; the IOMMU's dirty bits then say which
 *   pages DMA wrote. Stopping puts the devices back on the IOAS.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "iommu/iommu.h"

size_t iommu_attached_devices(const struct assign_iommu *iommu)
{
	return iommu->ndevices;
}

bool iommu_dirty_busy(const struct assign_iommu *iommu)
{
	return iommu->dirty_busy;
}

void iommu_dirty_set_busy(struct assign_iommu *iommu, bool busy)
{
	iommu->dirty_busy = busy;
}

/* ---- ranges ----------------------------------------------------------- */

int iommu_dirty_check_range(struct assign_iommu *iommu, uint64_t iova,
			    uint64_t length, bool whole)
{
	uint64_t last = iova + length - 1, cur = iova;
	const struct iommu_mapping *m = iommu_mapping_first(iommu, iova, last);

	if (whole && m && m->node.start < iova)
		return set_error(iommu->ctx, -EINVAL,
				 "type1 reports dirty pages of whole mappings: "
				 "0x%" PRIx64
				 " is inside the mapping 0x%" PRIx64
				 "-0x%" PRIx64 "; start at 0x%" PRIx64,
				 iova, m->node.start, m->node.last,
				 m->node.start);
	for (;;) {
		if (!m || m->node.start > cur) {
			uint64_t end = m && m->node.start - 1 < last ?
					       m->node.start - 1 :
					       last;

			return set_error(
				iommu->ctx, -ENOENT,
				"0x%" PRIx64 "-0x%" PRIx64 " is not "
				"mapped: dirty bitmaps cover the "
				"memory the IOMMU object maps, ask for "
				"mapped ranges only",
				cur, end);
		}
		if (m->node.last >= last)
			break;
		cur = m->node.last + 1;
		m = iommu_mapping_next(m);
	}
	if (whole && m->node.last > last)
		return set_error(iommu->ctx, -EINVAL,
				 "type1 reports dirty pages of whole mappings: "
				 "0x%" PRIx64
				 " is inside the mapping 0x%" PRIx64
				 "-0x%" PRIx64 "; end at 0x%" PRIx64,
				 last, m->node.start, m->node.last,
				 m->node.last);
	return 0;
}

/* ---- type1 ------------------------------------------------------------ */

/* The type1 migration capability: page sizes and the bitmap limit. */
static int type1_migration_cap(struct assign_iommu *iommu, uint64_t *pgsizes,
			       uint64_t *max_bitmap)
{
	struct vfio_iommu_type1_info init = { 0 }, info;
	struct vfio_iommu_type1_info_cap_migration cap;
	size_t len;
	void *buf;
	int r, off = -ENOENT;

	r = vfio_info_ioctl(iommu->ctx, iommu->fd, VFIO_IOMMU_GET_INFO, &init,
			    sizeof(init), &buf, &len);
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "VFIO_IOMMU_GET_INFO on the container failed: "
				 "%s",
				 strerror(-r));
	memcpy(&info, buf, sizeof(info));
	if ((info.flags & VFIO_IOMMU_INFO_CAPS) && info.cap_offset)
		off = vfio_cap_find(buf, len, sizeof(info), info.cap_offset,
				    VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
				    sizeof(cap));
	if (off >= 0)
		memcpy(&cap, (uint8_t *)buf + off, sizeof(cap));
	free(buf);
	if (off == -EPROTO)
		return set_error(iommu->ctx, -EPROTO,
				 "the kernel's type1 info capability chain is "
				 "malformed");
	if (off < 0)
		return set_error(iommu->ctx, -EOPNOTSUPP,
				 "the type1 container has no dirty page "
				 "tracking (no migration capability in "
				 "VFIO_IOMMU_GET_INFO: Linux 5.8 or later has "
				 "it)");
	*pgsizes = cap.pgsize_bitmap;
	*max_bitmap = cap.max_dirty_bitmap_size;
	return 0;
}

/* ALL_MAPPED unless every group of the container is an emulated one
 * (sysfs type "unknown": no IOMMU domain, an mdev's). */
static enum assign_dirty_precision type1_precision(struct assign_iommu *iommu)
{
	char path[64], type[32];

	if (!iommu->ngroups)
		return ASSIGN_DIRTY_PRECISION_ALL_MAPPED;
	for (size_t i = 0; i < iommu->ngroups; i++) {
		snprintf(path, sizeof(path), "kernel/iommu_groups/%d/type",
			 iommu->groups[i]->id);
		if (sysfs_read(iommu->ctx, path, type, sizeof(type)) < 0 ||
		    strcmp(type, "unknown"))
			return ASSIGN_DIRTY_PRECISION_ALL_MAPPED;
	}
	return ASSIGN_DIRTY_PRECISION_PINNED;
}

static int type1_op(struct assign_iommu *iommu, uint32_t flag)
{
	struct vfio_iommu_type1_dirty_bitmap db = { .argsz = sizeof(db),
						    .flags = flag };

	return sys_ioctl(iommu->ctx, iommu->fd, VFIO_IOMMU_DIRTY_PAGES, &db);
}

int iommu_dirty_type1_start(struct assign_iommu *iommu, uint64_t page_size,
			    struct iommu_dirty *d)
{
	char saved[ASSIGN_ERROR_MAX];
	uint64_t pgsizes = 0, max_bitmap = 0, pg;
	int r;

	r = type1_migration_cap(iommu, &pgsizes, &max_bitmap);
	if (r < 0)
		return r;
	pg = pgsizes & -pgsizes;
	if (!pg)
		return set_error(iommu->ctx, -EPROTO,
				 "the type1 migration capability has no page "
				 "size");
	if (page_size && page_size != pg)
		return set_error(iommu->ctx, -EINVAL,
				 "type1 tracks dirty pages at %" PRIu64
				 " bytes "
				 "only; ask for that page size (or 0)",
				 pg);
	r = type1_op(iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
	if (r == -EACCES)
		return set_error(iommu->ctx, -EOPNOTSUPP,
				 "type1 dirty tracking needs a type1v2 "
				 "container; this kernel set type1 (v1)");
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "VFIO_IOMMU_DIRTY_PAGES (start) failed: %s",
				 strerror(-r));
	assign_error_save(iommu->ctx, saved);
	d->precision = type1_precision(iommu);
	assign_error_restore(iommu->ctx, saved);
	d->kind = ASSIGN_DIRTY_TRACKER_TYPE1;
	d->page_size = pg;
	/* Bits the kernel's bitmap may hold, each one page. */
	d->max_length = max_bitmap > UINT64_MAX / 8 / pg ? UINT64_MAX :
							   max_bitmap * 8 * pg;
	return 0;
}

static int type1_bitmap(struct assign_iommu *iommu, const struct iommu_dirty *d,
			uint64_t iova, uint64_t length, uint64_t *bitmap)
{
	struct {
		struct vfio_iommu_type1_dirty_bitmap h;
		struct vfio_iommu_type1_dirty_bitmap_get g;
	} q;
	uint64_t pages = length / d->page_size;

	memset(&q, 0, sizeof(q));
	q.h.argsz = sizeof(q);
	q.h.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	q.g.iova = iova;
	q.g.size = length;
	q.g.bitmap.pgsize = d->page_size;
	q.g.bitmap.size = (pages + 63) / 64 * 8;
	q.g.bitmap.data = (__u64 *)bitmap;
	return sys_ioctl(iommu->ctx, iommu->fd, VFIO_IOMMU_DIRTY_PAGES, &q);
}

/* ---- iommufd ---------------------------------------------------------- */

static int hw_caps(struct assign_iommu *iommu, uint32_t devid, uint64_t *caps,
		   uint32_t *type)
{
	struct iommu_hw_info hi = { .size = sizeof(hi), .dev_id = devid };
	int r;

	r = sys_ioctl(iommu->ctx, iommu->fd, IOMMU_GET_HW_INFO, &hi);
	if (r < 0)
		return r;
	*caps = hi.out_capabilities;
	*type = hi.out_data_type;
	return 0;
}

int iommu_dirty_hwpt_probe(struct assign_iommu *iommu,
			   const struct iommu_dirty_dev *devs, size_t n)
{
	uint64_t caps;
	uint32_t type;
	int r;

	for (size_t i = 0; i < n; i++) {
		r = hw_caps(iommu, devs[i].att->devid, &caps, &type);
		if (r < 0)
			return set_error(iommu->ctx, r,
					 "IOMMU_GET_HW_INFO for %s failed: %s",
					 devs[i].addr, strerror(-r));
		if (caps & IOMMU_HW_CAP_DIRTY_TRACKING)
			continue;
		return set_error(iommu->ctx, -EOPNOTSUPP,
				 "the IOMMU of %s cannot track dirty pages "
				 "(IOMMU_GET_HW_INFO reports no "
				 "IOMMU_HW_CAP_DIRTY_TRACKING%s); use the "
				 "devices' DMA logging if they have it, or "
				 "the type1 backend, whose tracker reports "
				 "every mapped page dirty",
				 devs[i].addr,
				 type == IOMMU_HW_INFO_TYPE_INTEL_VTD ?
					 ": Intel VT-d needs scalable mode "
					 "with second-stage access/dirty "
					 "bits, which QEMU's emulated "
					 "intel-iommu lacks" :
					 "");
	}
	return 0;
}

static int attach_pt(struct assign_iommu *iommu, int devfd, uint32_t pt)
{
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at),
						    .pt_id = pt };

	return sys_ioctl(iommu->ctx, devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);
}

static int destroy_id(struct assign_iommu *iommu, uint32_t id)
{
	struct iommu_destroy des = { .size = sizeof(des), .id = id };

	return sys_ioctl(iommu->ctx, iommu->fd, IOMMU_DESTROY, &des);
}

static int set_tracking(struct assign_iommu *iommu, uint32_t hwpt, bool on)
{
	struct iommu_hwpt_set_dirty_tracking sd = {
		.size = sizeof(sd),
		.flags = on ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = hwpt,
	};

	return sys_ioctl(iommu->ctx, iommu->fd, IOMMU_HWPT_SET_DIRTY_TRACKING,
			 &sd);
}

/* Put devs[0..n-1] back on the IOAS; the first error. */
static int back_to_ioas(struct assign_iommu *iommu,
			const struct iommu_dirty_dev *devs, size_t n)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		int r = attach_pt(iommu, devs[i].att->devfd, iommu->ioas_id);

		if (r < 0 && !first)
			first = r;
	}
	return first;
}

int iommu_dirty_hwpt_start(struct assign_iommu *iommu,
			   const struct iommu_dirty_dev *devs, size_t n,
			   uint64_t page_size, struct iommu_dirty *d)
{
	struct iommu_hwpt_alloc ha = {
		.size = sizeof(ha),
		.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
		.pt_id = iommu->ioas_id,
	};
	uint64_t align = iommu->align ? iommu->align : iommu_host_page_size();
	size_t done;
	int r;

	if (page_size && (page_size & (page_size - 1) || page_size < align))
		return set_error(
			iommu->ctx, -EINVAL,
			"page size %" PRIu64 " for iommufd dirty "
			"tracking: give a power of two of at least %" PRIu64
			" bytes (or 0)",
			page_size, align);
	r = iommu_dirty_hwpt_probe(iommu, devs, n);
	if (r < 0)
		return r;
	ha.dev_id = devs[0].att->devid;
	r = sys_ioctl(iommu->ctx, iommu->fd, IOMMU_HWPT_ALLOC, &ha);
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "IOMMU_HWPT_ALLOC with dirty tracking on IOAS "
				 "%u failed: %s",
				 iommu->ioas_id, strerror(-r));
	for (done = 0; done < n; done++) {
		r = attach_pt(iommu, devs[done].att->devfd, ha.out_hwpt_id);
		if (r < 0) {
			set_error(iommu->ctx, r,
				  "attaching %s to the dirty-tracking HWPT %u "
				  "failed: %s",
				  devs[done].addr, ha.out_hwpt_id,
				  strerror(-r));
			goto undo;
		}
	}
	r = set_tracking(iommu, ha.out_hwpt_id, true);
	if (r < 0) {
		set_error(iommu->ctx, r,
			  "IOMMU_HWPT_SET_DIRTY_TRACKING on HWPT %u failed: %s",
			  ha.out_hwpt_id, strerror(-r));
		goto undo;
	}
	d->kind = ASSIGN_DIRTY_TRACKER_IOMMUFD;
	d->precision = ASSIGN_DIRTY_PRECISION_WRITTEN;
	d->page_size = page_size ? page_size : align;
	d->max_length = UINT64_MAX;
	d->hwpt_id = ha.out_hwpt_id;
	return 0;
undo:
	/* Leave the devices as they were; the message stays the first. */
	{
		char saved[ASSIGN_ERROR_MAX];

		assign_error_save(iommu->ctx, saved);
		if (back_to_ioas(iommu, devs, done) < 0 ||
		    destroy_id(iommu, ha.out_hwpt_id) < 0)
			warn(iommu->ctx,
			     "could not put the devices back on IOAS %u after "
			     "a failed start of dirty tracking",
			     iommu->ioas_id);
		assign_error_restore(iommu->ctx, saved);
	}
	return r;
}

static int hwpt_bitmap(struct assign_iommu *iommu, const struct iommu_dirty *d,
		       uint64_t iova, uint64_t length, uint64_t *bitmap)
{
	struct iommu_hwpt_get_dirty_bitmap gb = {
		.size = sizeof(gb),
		.hwpt_id = d->hwpt_id,
		.iova = iova,
		.length = length,
		.page_size = d->page_size,
		.data = (uintptr_t)bitmap,
	};

	return sys_ioctl(iommu->ctx, iommu->fd, IOMMU_HWPT_GET_DIRTY_BITMAP,
			 &gb);
}

/* ---- both ------------------------------------------------------------- */

int iommu_dirty_stop(struct assign_iommu *iommu, const struct iommu_dirty *d,
		     const struct iommu_dirty_dev *devs, size_t n)
{
	int r, first = 0;

	if (d->kind == ASSIGN_DIRTY_TRACKER_TYPE1) {
		r = type1_op(iommu, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP);
		if (r < 0)
			return set_error(
				iommu->ctx, r,
				"VFIO_IOMMU_DIRTY_PAGES (stop) failed: "
				"%s",
				strerror(-r));
		return 0;
	}
	r = set_tracking(iommu, d->hwpt_id, false);
	if (r == -ENOENT)
		r = 0; /* destroyed in an earlier try */
	if (r < 0)
		first = set_error(iommu->ctx, r,
				  "IOMMU_HWPT_SET_DIRTY_TRACKING (off) on "
				  "HWPT %u failed: %s",
				  d->hwpt_id, strerror(-r));
	r = back_to_ioas(iommu, devs, n);
	if (r < 0 && !first)
		first = set_error(iommu->ctx, r,
				  "putting the devices back on IOAS %u "
				  "failed: %s",
				  iommu->ioas_id, strerror(-r));
	r = destroy_id(iommu, d->hwpt_id);
	if (r == -ENOENT)
		r = 0; /* gone in an earlier try */
	if (r < 0 && !first)
		first = set_error(iommu->ctx, r,
				  "destroying the dirty-tracking HWPT %u "
				  "failed: %s",
				  d->hwpt_id, strerror(-r));
	return first;
}

int iommu_dirty_bitmap(struct assign_iommu *iommu, const struct iommu_dirty *d,
		       uint64_t iova, uint64_t length, uint64_t *bitmap)
{
	int r;

	if (d->kind == ASSIGN_DIRTY_TRACKER_TYPE1)
		r = type1_bitmap(iommu, d, iova, length, bitmap);
	else
		r = hwpt_bitmap(iommu, d, iova, length, bitmap);
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "fetching the dirty bitmap of 0x%" PRIx64
				 "-0x%" PRIx64
				 " failed: %s; its bits are lost: "
				 "consider every page of it dirty",
				 iova, iova + length - 1, strerror(-r));
	return 0;
}
