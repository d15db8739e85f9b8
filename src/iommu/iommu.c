// SPDX-License-Identifier: MIT
/*
 * The IOMMU object, backend independent: construction and lifetime.
 * Attaching devices (and choosing the backend for AUTO) is in attach.c,
 * the geometry in geometry.c, the mapping table in map.c, the kernel
 * backends in type1.c and iommufd.c (reached through struct
 * iommu_backend, iommu/iommu.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/sys.h"
#include "iommu/iommu.h"


uint64_t iommu_host_page_size(void)
{
	long v = sysconf(_SC_PAGESIZE);

	return v > 0 ? (uint64_t)v : 4096;
}

ASSIGN_EXPORT const char *
assign_iommu_backend_get_name(enum assign_iommu_backend backend)
{
	switch (backend) {
	case ASSIGN_IOMMU_AUTO:
		return "auto";
	case ASSIGN_IOMMU_TYPE1:
		return "type1";
	case ASSIGN_IOMMU_IOMMUFD:
		return "iommufd";
	case ASSIGN_IOMMU_NOIOMMU:
		return "no-IOMMU";
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Construction and lifetime */

int iommu_check_opts(struct assign_ctx *ctx, const struct assign_iommu_opts *o)
{
	if (o->flags & ~ASSIGN_IOMMU_F_ALLOW_NOIOMMU)
		return set_error(ctx, -EINVAL,
				 "assign_iommu_new: unknown flags 0x%x",
				 o->flags & ~ASSIGN_IOMMU_F_ALLOW_NOIOMMU);
	switch (o->backend) {
	case ASSIGN_IOMMU_AUTO:
	case ASSIGN_IOMMU_TYPE1:
	case ASSIGN_IOMMU_IOMMUFD:
		return 0;
	case ASSIGN_IOMMU_NOIOMMU:
		if (!(o->flags & ASSIGN_IOMMU_F_ALLOW_NOIOMMU))
			return set_error(ctx, -EPERM,
					 "no-IOMMU mode refused: it gives the "
					 "device DMA access to all host memory; "
					 "pass ASSIGN_IOMMU_F_ALLOW_NOIOMMU to "
					 "accept that");
		return 0;
	default:
		return set_error(ctx, -EINVAL,
				 "assign_iommu_new: unknown backend %d",
				 (int)o->backend);
	}
}

/*
 * The kernel bounds a type1 container's mappings (dma_entry_limit, 65535
 * by default) but not an IOAS's: there, a guest mapping one page at ever
 * more IOVAs through a shadowed IOMMU would grow the pinned memory (and
 * the kernel's tracking) without bound. So iommufd gets type1's default
 * unless the caller chose a limit; type1 keeps the kernel's alone.
 */
void iommu_set_max_mappings(struct assign_iommu *iommu)
{
	iommu->max_mappings = iommu->max_mappings_opt;
	if (!iommu->max_mappings && iommu->ops &&
	    iommu->ops->kind == ASSIGN_IOMMU_IOMMUFD)
		iommu->max_mappings = ASSIGN_IOMMU_DEFAULT_MAX_MAPPINGS;
}

/* The backend asked for, NULL for AUTO (chosen at the first attach). */
const struct iommu_backend *iommu_backend_ops(enum assign_iommu_backend b)
{
	switch (b) {
	case ASSIGN_IOMMU_TYPE1:
		return &iommu_backend_type1;
	case ASSIGN_IOMMU_IOMMUFD:
		return &iommu_backend_iommufd;
	case ASSIGN_IOMMU_NOIOMMU:
		return &iommu_backend_noiommu;
	default:
		return NULL;
	}
}

ASSIGN_EXPORT int assign_iommu_new(struct assign_ctx *ctx,
				   const struct assign_iommu_opts *opts,
				   struct assign_iommu **ret)
{
	struct assign_iommu_opts o;
	struct assign_iommu *iommu;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	r = SIZED_IN(ctx, &o, opts, "assign_iommu_opts");
	if (r < 0)
		return r;
	r = iommu_check_opts(ctx, &o);
	if (r < 0)
		return r;
	if (o.ioas_id)
		return set_error(ctx, -EINVAL,
				 "assign_iommu_opts.ioas_id names an IOAS of "
				 "an iommufd handed over: it is for "
				 "assign_iommu_new_from_fd()");
	iommu = iommu_alloc(ctx, iommu_backend_ops(o.backend));
	if (!iommu)
		return set_error(ctx, -ENOMEM, "out of memory");
	if (iommu->ops) {
		r = iommu->ops->open(iommu);
		if (r < 0) {
			free(iommu);
			return r;
		}
	}
	iommu_opened(iommu, &o);
	*ret = iommu;
	return 0;
}

struct assign_iommu *iommu_alloc(struct assign_ctx *ctx,
				 const struct iommu_backend *ops)
{
	struct assign_iommu *iommu = calloc(1, sizeof(*iommu));

	if (!iommu)
		return NULL;
	iommu->refcount = 1;
	iommu->ctx = ctx;
	iommu->fd = -1;
	iommu->dma_limit = UINT64_MAX;
	iommu->ops = ops;
	return iommu;
}

void iommu_opened(struct assign_iommu *iommu, const struct assign_iommu_opts *o)
{
	iommu->max_mappings_opt = o->max_mappings;
	iommu_set_max_mappings(iommu);
	if (o->backend == ASSIGN_IOMMU_NOIOMMU)
		/* Not a failure, and nothing the caller could see otherwise:
		 * a warning, which the default log priority shows. */
		warn(iommu->ctx,
		     "VFIO no-IOMMU mode: devices opened on this object "
		     "can DMA to any host memory, there is no isolation, "
		     "and the kernel is tainted");
	assign_ctx_ref(iommu->ctx);
}

ASSIGN_EXPORT struct assign_iommu *assign_iommu_ref(struct assign_iommu *iommu)
{
	if (iommu)
		__atomic_add_fetch(&iommu->refcount, 1, __ATOMIC_RELAXED);
	return iommu;
}

ASSIGN_EXPORT struct assign_iommu *
assign_iommu_unref(struct assign_iommu *iommu)
{
	struct assign_ctx *ctx;

	if (!iommu ||
	    __atomic_sub_fetch(&iommu->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	ctx = iommu->ctx;
	/* Groups hold a reference on us, so none is left here. */
	iommu_unmap_everything(iommu);
	if (iommu->ops && iommu->fd >= 0)
		iommu->ops->close(iommu);
	iommu_handed_release(iommu);
	free(iommu->groups);
	free(iommu->dev_groups);
	free(iommu->dev_ids);
	free(iommu->ranges);
	free(iommu->resv);
	/* Mappings the kernel refused to unmap are forgotten here. */
	iommu_forget_mappings(iommu);
	free(iommu->spare);
	free(iommu);
	assign_ctx_unref(ctx);
	return NULL;
}

ASSIGN_EXPORT struct assign_ctx *
assign_iommu_get_ctx(const struct assign_iommu *iommu)
{
	return iommu ? iommu->ctx : NULL;
}

ASSIGN_EXPORT enum assign_iommu_backend
assign_iommu_get_backend(const struct assign_iommu *iommu)
{
	if (!iommu || !iommu->ops)
		return ASSIGN_IOMMU_AUTO;
	return iommu->ops->kind;
}

ASSIGN_EXPORT int assign_iommu_get_fd(const struct assign_iommu *iommu)
{
	if (!iommu)
		return -EINVAL;
	if (!iommu->ops || iommu->fd < 0)
		return -ENODEV;
	return iommu->fd;
}

ASSIGN_EXPORT int assign_iommu_get_ioas_id(const struct assign_iommu *iommu,
				       uint32_t *id)
{
	if (!iommu || !id)
		return -EINVAL;
	if (!iommu->ops || iommu->ops->kind != ASSIGN_IOMMU_IOMMUFD)
		return set_error(
			iommu->ctx, -EOPNOTSUPP,
			"no IOAS: the IOMMU backend is %s, not iommufd",
			assign_iommu_backend_get_name(
				assign_iommu_get_backend(iommu)));
	*id = iommu->ioas_id;
	return 0;
}

struct assign_group *iommu_find_group(struct assign_iommu *iommu, int group_id)
{
	if (!iommu)
		return NULL;
	for (size_t i = 0; i < iommu->ngroups; i++)
		if (iommu->groups[i]->id == group_id)
			return assign_group_ref(iommu->groups[i]);
	return NULL;
}

ASSIGN_EXPORT int assign_iommu_get_group(struct assign_iommu *iommu,
					 int group_id, struct assign_group **ret)
{
	struct assign_group *g;

	if (!iommu || !ret)
		return -EINVAL;
	if (iommu->ops && iommu->ops->kind == ASSIGN_IOMMU_IOMMUFD)
		return set_error(iommu->ctx, -EOPNOTSUPP,
				 "the iommufd backend has no VFIO groups");
	g = iommu_find_group(iommu, group_id);
	if (!g)
		return set_error(iommu->ctx, -ENOENT,
				 "group %d is not open on this IOMMU: open one "
				 "of its devices first",
				 group_id);
	*ret = g;
	return 0;
}

int iommu_claim_owner(struct assign_iommu *iommu, void *owner)
{
	void *none = NULL;

	if (!iommu || !owner)
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&iommu->owner, &none, owner, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -EBUSY;
	return 0;
}

void iommu_release_owner(struct assign_iommu *iommu, void *owner)
{
	void *expected = owner;

	if (iommu && owner)
		__atomic_compare_exchange_n(&iommu->owner, &expected, NULL,
					    false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
}

