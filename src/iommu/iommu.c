// SPDX-License-Identifier: MIT
/*
 * The IOMMU object, backend independent: construction and lifetime,
 * backend choice and attaching devices. The geometry is in geometry.c,
 * the mapping table in map.c, the kernel backends in type1.c and
 * iommufd.c (reached through struct iommu_backend, iommu/iommu.h).
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

static int check_opts(struct assign_ctx *ctx, const struct assign_iommu_opts *o)
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
static const struct iommu_backend *backend_ops(enum assign_iommu_backend b)
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
	r = check_opts(ctx, &o);
	if (r < 0)
		return r;
	iommu = calloc(1, sizeof(*iommu));
	if (!iommu)
		return set_error(ctx, -ENOMEM, "out of memory");
	iommu->refcount = 1;
	iommu->ctx = ctx;
	iommu->fd = -1;
	iommu->dma_limit = UINT64_MAX;
	iommu->max_mappings_opt = o.max_mappings;
	iommu->ops = backend_ops(o.backend);
	if (iommu->ops) {
		r = iommu->ops->open(iommu);
		if (r < 0) {
			free(iommu);
			return r;
		}
		iommu_set_max_mappings(iommu);
	}
	if (o.backend == ASSIGN_IOMMU_NOIOMMU)
		/* Not a failure, and nothing the caller could see otherwise:
		 * a warning, which the default log priority shows. */
		warn(ctx, "VFIO no-IOMMU mode: devices opened on this object "
			  "can DMA to any host memory, there is no isolation, "
			  "and the kernel is tainted");
	assign_ctx_ref(ctx);
	*ret = iommu;
	return 0;
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

/* ---------------------------------------------------------------------- */
/* Attaching devices (iommu/iommu.h) */

/* 1 if @addr has a vfio cdev, 0 if not, -errno if sysfs cannot say. */
static int has_cdev(struct assign_ctx *ctx, const char *addr)
{
	char name[NAME_MAX + 1];
	int r;

	r = iommu_vfio_cdev(ctx, addr, name, sizeof(name));
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : 1;
}

/* AUTO: iommufd when /dev/iommu opens and the device has a vfio cdev. */
static int choose_backend(struct assign_iommu *iommu, const char *addr)
{
	struct assign_ctx *ctx = iommu->ctx;
	const struct iommu_backend *ops = &iommu_backend_type1;
	int fd, r;

	fd = sys_open(ctx, "/dev/iommu", O_RDWR);
	if (fd >= 0) {
		sys_close(ctx, fd);
		r = has_cdev(ctx, addr);
		if (r > 0)
			ops = &iommu_backend_iommufd;
		else if (r == 0)
			dbg(ctx, "%s has no vfio cdev, using type1", addr);
		else
			warn(ctx, "cannot list %s's vfio cdevs (%s), using type1",
			    addr, strerror(-r));
	} else {
		dbg(ctx, "/dev/iommu: %s, using type1", strerror(-fd));
	}
	iommu->ops = ops;
	r = ops->open(iommu);
	if (r < 0) {
		iommu->ops = NULL;
		return r;
	}
	iommu_set_max_mappings(iommu);
	info(ctx, "IOMMU backend chosen for %s: %s", addr, ops->name);
	return 0;
}

/* @addr must be a PCI device bound to vfio-pci. */
static int check_vfio_bound(struct assign_ctx *ctx, const char *addr)
{
	char path[128], drv[64];
	int r;

	snprintf(path, sizeof(path), "bus/pci/devices/%s", addr);
	r = sysfs_exists(ctx, path);
	if (r < 0)
		return set_error(ctx, -ENODEV,
				 "no PCI device %s (/sys/%s: %s); check the "
				 "address with lspci -D",
				 addr, path, strerror(-r));
	r = pci_dev_driver(ctx, addr, drv, sizeof(drv));
	if (r < 0)
		return set_error(ctx, -ENODEV,
				 "cannot read the driver of %s: %s", addr,
				 strerror(-r));
	if (!drv[0])
		return set_error(ctx, -ENODEV,
				 "%s is not bound to any driver; bind it to "
				 "vfio-pci: echo vfio-pci > "
				 "/sys/bus/pci/devices/%s/driver_override; "
				 "echo %s > /sys/bus/pci/drivers_probe",
				 addr, addr, addr);
	if (pci_driver_kind(drv) != PCI_DRIVER_VFIO)
		return set_error(ctx, -ENODEV,
				 "%s is bound to %s, not vfio-pci; rebind it: "
				 "echo %s > /sys/bus/pci/devices/%s/driver/unbind; "
				 "echo vfio-pci > /sys/bus/pci/devices/%s/"
				 "driver_override; echo %s > "
				 "/sys/bus/pci/drivers_probe",
				 addr, drv, addr, addr, addr, addr);
	return 0;
}

/* @addr's IOMMU group into *gid; left -1 when it has none and the
 * backend is iommufd, which needs none. */
static int read_group(struct assign_iommu *iommu, const char *addr, int *gid)
{
	struct assign_ctx *ctx = iommu->ctx;
	int r;

	r = pci_dev_group(ctx, addr);
	if (r >= 0) {
		*gid = r;
		return 0;
	}
	if (iommu->ops && iommu->ops->kind == ASSIGN_IOMMU_IOMMUFD)
		return 0;
	if (r == -ENOENT)
		return set_error(ctx, -ENODEV,
				 "%s has no IOMMU group: the IOMMU is "
				 "off or absent; enable it (VT-d/AMD-Vi "
				 "in firmware, intel_iommu=on or "
				 "amd_iommu=on), or, with no isolation "
				 "at all, use no-IOMMU mode",
				 addr);
	return set_error(ctx, r, "cannot read the IOMMU group of %s: %s", addr,
			 strerror(-r));
}

/* The backend attaches; the geometry is read again with the new device,
 * and the device is detached if that fails. */
static int attach_and_refresh(struct assign_iommu *iommu, const char *addr,
			      struct assign_attach *att)
{
	struct assign_ctx *ctx = iommu->ctx;
	uint32_t *ni;
	int *ng, r;

	ng = realloc(iommu->dev_groups,
		     (iommu->ndevices + 1) * sizeof(*iommu->dev_groups));
	if (!ng)
		return set_error(ctx, -ENOMEM, "out of memory");
	iommu->dev_groups = ng;
	ni = realloc(iommu->dev_ids,
		     (iommu->ndevices + 1) * sizeof(*iommu->dev_ids));
	if (!ni)
		return set_error(ctx, -ENOMEM, "out of memory");
	iommu->dev_ids = ni;

	r = iommu->ops->attach(iommu, addr, att);
	if (r < 0)
		return r;
	iommu->dev_groups[iommu->ndevices] = att->group_id;
	iommu->dev_ids[iommu->ndevices] = att->devid;
	r = iommu_refresh_geometry(iommu, iommu->dev_groups, iommu->ndevices + 1);
	if (r < 0) {
		char msg[ASSIGN_ERROR_MAX];

		assign_error_save(ctx, msg);
		iommu->ops->detach(iommu, att);
		assign_error_restore(ctx, msg);
		return r;
	}
	iommu->ndevices++;
	return 0;
}

int iommu_attach_device(struct assign_iommu *iommu, const char *address,
			struct assign_attach *out)
{
	struct assign_ctx *ctx;
	struct assign_attach att = { .devfd = -1, .group_id = -1 };
	struct assign_pci_addr pa;
	char addr[ASSIGN_PCI_ADDR_LEN];
	int r;

	if (!iommu || !address || !out)
		return -EINVAL;
	ctx = iommu->ctx;
	if (assign_pci_addr_parse(address, &pa) < 0 ||
	    assign_pci_addr_format(&pa, addr, sizeof(addr)) < 0)
		return set_error(ctx, -EINVAL,
				 "\"%s\" is not a PCI address (dddd:bb:dd.f)",
				 address);
	r = check_vfio_bound(ctx, addr);
	if (r < 0)
		return r;
	r = read_group(iommu, addr, &att.group_id);
	if (r < 0)
		return r;
	if (!iommu->ops) {
		r = choose_backend(iommu, addr);
		if (r < 0)
			return r;
	}
	if (iommu->ops->kind != ASSIGN_IOMMU_IOMMUFD && att.group_id < 0)
		return set_error(ctx, -ENODEV,
				 "%s has no IOMMU group; enable the IOMMU or "
				 "use no-IOMMU mode",
				 addr);
	r = attach_and_refresh(iommu, addr, &att);
	if (r < 0)
		return r;
	if (iommu_is_noiommu(iommu))
		warn(ctx,
		     "%s opened in no-IOMMU mode: it can DMA anywhere in "
		     "host memory",
		     addr);
	*out = att;
	return 0;
}

void iommu_detach_device(struct assign_iommu *iommu, struct assign_attach *att)
{
	if (!iommu || !att || !iommu->ops)
		return;
	if (att->devfd < 0 && !att->group)
		return; /* never attached, or detached already */
	/* Dropping the group may drop the last reference on us (a group
	 * holds one): keep the object alive until we are done. */
	assign_iommu_ref(iommu);
	for (size_t i = 0; i < iommu->ndevices; i++) {
		if (iommu->dev_groups[i] == att->group_id &&
		    iommu->dev_ids[i] == att->devid) {
			size_t after = iommu->ndevices - i - 1;

			memmove(&iommu->dev_groups[i],
				&iommu->dev_groups[i + 1],
				after * sizeof(*iommu->dev_groups));
			memmove(&iommu->dev_ids[i], &iommu->dev_ids[i + 1],
				after * sizeof(*iommu->dev_ids));
			iommu->ndevices--;
			break;
		}
	}
	iommu->ops->detach(iommu, att);
	att->devfd = -1;
	att->group = NULL;
	att->devid = 0;
	/* iommufd: the IOAS and its mappings outlive the devices, but the
	 * geometry is only known with a device attached. type1 forgets it
	 * when the last group leaves the container (type1.c). */
	if (iommu->ndevices == 0 && iommu->ops->kind == ASSIGN_IOMMU_IOMMUFD)
		iommu_geometry_invalidate(iommu);
	assign_iommu_unref(iommu);
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

