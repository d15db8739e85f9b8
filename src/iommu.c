// SPDX-License-Identifier: MIT
/*
 * The IOMMU object, backend independent: backend choice, device
 * attachment, geometry, and the library's own table of DMA mappings with
 * every check made before the kernel sees a request.
 *
 * The mapping table is an AVL tree of non-overlapping mappings keyed by
 * IOVA (iova_tree.c): lookup, insertion and removal are O(log n).
 * The kernel backends (iommu_type1.c, iommu_iommufd.c) are reached through
 * struct iommu_backend (iommu_priv.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "iommu_priv.h"

#define RESV_FILE_MAX (64 * 1024)

uint64_t iommu_host_page_size(void)
{
	long v = sysconf(_SC_PAGESIZE);

	return v > 0 ? (uint64_t)v : 4096;
}

static bool is_noiommu(const struct assign_iommu *iommu)
{
	return iommu->ops && iommu->ops->kind == ASSIGN_IOMMU_NOIOMMU;
}

static const char *backend_name(enum assign_iommu_backend b)
{
	switch (b) {
	case ASSIGN_IOMMU_AUTO:
		return "auto";
	case ASSIGN_IOMMU_TYPE1:
		return "type1";
	case ASSIGN_IOMMU_IOMMUFD:
		return "iommufd";
	case ASSIGN_IOMMU_NOIOMMU:
		return "no-IOMMU";
	}
	return "?";
}

/* ---------------------------------------------------------------------- */
/* Construction and lifetime */

ASSIGN_EXPORT int assign_iommu_new(struct assign_ctx *ctx,
				   const struct assign_iommu_opts *opts,
				   struct assign_iommu **ret)
{
	struct assign_iommu_opts o = { .size = sizeof(o) };
	struct assign_iommu *iommu;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	if (opts) {
		/* Accept older (shorter) structs; a newer one must be zero
		 * past what this library knows. */
		if (opts->size < offsetof(struct assign_iommu_opts, flags) +
					 sizeof(opts->flags) ||
		    opts->size > 4096)
			return set_error(ctx, -EINVAL,
					 "assign_iommu_new: opts->size %zu is not "
					 "sizeof(struct assign_iommu_opts) (%zu)",
					 opts->size, sizeof(o));
		if (opts->size > sizeof(o)) {
			const unsigned char *p = (const unsigned char *)opts;
			for (size_t i = sizeof(o); i < opts->size; i++)
				if (p[i])
					return set_error(ctx, -EINVAL,
							 "assign_iommu_new: opts has "
							 "fields this library does not "
							 "know (size %zu > %zu)",
							 opts->size, sizeof(o));
		}
		memcpy(&o, opts, MIN(opts->size, sizeof(o)));
		o.size = sizeof(o);
	}
	if (o.flags & ~ASSIGN_IOMMU_F_ALLOW_NOIOMMU)
		return set_error(ctx, -EINVAL,
				 "assign_iommu_new: unknown flags 0x%x",
				 o.flags & ~ASSIGN_IOMMU_F_ALLOW_NOIOMMU);
	switch (o.backend) {
	case ASSIGN_IOMMU_AUTO:
	case ASSIGN_IOMMU_TYPE1:
	case ASSIGN_IOMMU_IOMMUFD:
		break;
	case ASSIGN_IOMMU_NOIOMMU:
		if (!(o.flags & ASSIGN_IOMMU_F_ALLOW_NOIOMMU))
			return set_error(ctx, -EPERM,
					 "no-IOMMU mode refused: it gives the "
					 "device DMA access to all host memory; "
					 "pass ASSIGN_IOMMU_F_ALLOW_NOIOMMU to "
					 "accept that");
		break;
	default:
		return set_error(ctx, -EINVAL,
				 "assign_iommu_new: unknown backend %d",
				 (int)o.backend);
	}

	iommu = calloc(1, sizeof(*iommu));
	if (!iommu)
		return set_error(ctx, -ENOMEM, "out of memory");
	iommu->refcount = 1;
	iommu->ctx = ctx;
	iommu->requested = o.backend;
	iommu->flags = o.flags;
	iommu->fd = -1;
	iommu->dma_limit = UINT64_MAX;
	switch (o.backend) {
	case ASSIGN_IOMMU_TYPE1:
		iommu->ops = &iommu_backend_type1;
		break;
	case ASSIGN_IOMMU_IOMMUFD:
		iommu->ops = &iommu_backend_iommufd;
		break;
	case ASSIGN_IOMMU_NOIOMMU:
		iommu->ops = &iommu_backend_noiommu;
		break;
	default:
		break;
	}
	if (iommu->ops) {
		r = iommu->ops->open(iommu);
		if (r < 0) {
			free(iommu);
			return r;
		}
	}
	if (o.backend == ASSIGN_IOMMU_NOIOMMU)
		/* Loud on purpose: logged at LOG_ERR so the default log level
		 * shows it, without being a failure (last error untouched). */
		assign_log_cond(ctx, LOG_ERR,
				"WARNING: VFIO no-IOMMU mode: devices opened on "
				"this object can DMA to any host memory, there is "
				"no isolation, and the kernel is tainted");
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

ASSIGN_EXPORT int assign_iommu_fd(const struct assign_iommu *iommu)
{
	if (!iommu)
		return -EINVAL;
	if (!iommu->ops || iommu->fd < 0)
		return -ENODEV;
	return iommu->fd;
}

ASSIGN_EXPORT int assign_iommu_ioas_id(const struct assign_iommu *iommu,
				       uint32_t *id)
{
	if (!iommu || !id)
		return -EINVAL;
	if (!iommu->ops || iommu->ops->kind != ASSIGN_IOMMU_IOMMUFD)
		return set_error(iommu->ctx, -EOPNOTSUPP,
				 "no IOAS: the IOMMU backend is %s, not iommufd",
				 backend_name(assign_iommu_get_backend(iommu)));
	*id = iommu->ioas_id;
	return 0;
}

ASSIGN_EXPORT int assign_iommu_get_group(struct assign_iommu *iommu,
					 int group_id, struct assign_group **ret)
{
	if (!iommu || !ret)
		return -EINVAL;
	if (iommu->ops && iommu->ops->kind == ASSIGN_IOMMU_IOMMUFD)
		return set_error(iommu->ctx, -EOPNOTSUPP,
				 "the iommufd backend has no VFIO groups");
	for (size_t i = 0; i < iommu->ngroups; i++) {
		if (iommu->groups[i]->id == group_id) {
			*ret = assign_group_ref(iommu->groups[i]);
			return 0;
		}
	}
	return set_error(iommu->ctx, -ENOENT,
			 "group %d is not open on this IOMMU: open one of its "
			 "devices first",
			 group_id);
}

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

static int cmp_resv(const void *a, const void *b)
{
	const struct assign_reserved_region *x = a, *y = b;
	int c;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->last != y->last)
		return x->last < y->last ? -1 : 1;
	c = strcmp(x->type, y->type);
	return c;
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

/* Union of the reserved regions of the groups in @gids. */
static int read_reserved(struct assign_iommu *iommu, const int *gids,
			 size_t ngids, struct assign_reserved_region **out,
			 size_t *nout)
{
	struct assign_ctx *ctx = iommu->ctx;
	struct assign_reserved_region *all = NULL;
	size_t nall = 0, w;
	char *text;
	int r = 0;

	text = malloc(RESV_FILE_MAX);
	if (!text)
		return set_error(ctx, -ENOMEM, "out of memory");
	for (size_t i = 0; i < ngids; i++) {
		struct assign_reserved_region *v = NULL, *nv;
		char path[96];
		size_t n = 0;
		bool seen = false;

		if (gids[i] < 0)
			continue;
		for (size_t j = 0; j < i; j++)
			if (gids[j] == gids[i])
				seen = true;
		if (seen)
			continue;
		snprintf(path, sizeof(path),
			 "kernel/iommu_groups/%d/reserved_regions", gids[i]);
		r = sysfs_read(ctx, path, text, RESV_FILE_MAX);
		if (r == -ENOENT) {
			/* Kernels before 4.11 have no such file. */
			dbg(ctx, "no /sys/%s, assuming no reserved regions",
			    path);
			r = 0;
			continue;
		}
		if (r < 0) {
			set_error(ctx, r, "cannot read /sys/%s: %s", path,
				  strerror(-r));
			goto out;
		}
		r = parse_reserved_regions(text, &v, &n);
		if (r == -EIO) {
			set_error(ctx, -EIO,
				  "/sys/%s line %d cannot be parsed (expected "
				  "\"0xSTART 0xEND TYPE\")",
				  path, bad_resv_line(text));
			goto out;
		}
		if (r < 0) {
			set_error(ctx, r, "cannot parse /sys/%s: %s", path,
				  strerror(-r));
			goto out;
		}
		if (n) {
			nv = realloc(all, (nall + n) * sizeof(*all));
			if (!nv) {
				free(v);
				r = set_error(ctx, -ENOMEM, "out of memory");
				goto out;
			}
			all = nv;
			memcpy(all + nall, v, n * sizeof(*v));
			nall += n;
		}
		free(v);
	}
	/* Sort, drop exact duplicates (the same window seen from two
	 * groups). */
	if (nall) {
		qsort(all, nall, sizeof(*all), cmp_resv);
		w = 0;
		for (size_t i = 1; i < nall; i++)
			if (cmp_resv(&all[w], &all[i]) != 0)
				all[++w] = all[i];
		nall = w + 1;
	}
	*out = all;
	*nout = nall;
	all = NULL;
out:
	free(all);
	free(text);
	return r;
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
static int refresh_geometry(struct assign_iommu *iommu, const int *gids,
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

static int need_geometry(const struct assign_iommu *iommu, const char *what)
{
	if (!iommu->ops || !iommu->geometry_valid)
		return set_error(iommu->ctx, -ENODEV,
				 "%s: no device is attached to this IOMMU yet; "
				 "the kernel knows the geometry only once one "
				 "is (open a device first)",
				 what);
	return 0;
}

static int refuse_noiommu(const struct assign_iommu *iommu, const char *what)
{
	return set_error(iommu->ctx, -EPERM,
			 "%s: not available in no-IOMMU mode: there is no "
			 "IOMMU to program, the device reaches host physical "
			 "memory directly",
			 what);
}

/* Geometry queries and DMA need a real IOMMU whose geometry is known. */
static int need_iommu_geometry(const struct assign_iommu *iommu,
			       const char *what)
{
	if (is_noiommu(iommu))
		return refuse_noiommu(iommu, what);
	return need_geometry(iommu, what);
}

ASSIGN_EXPORT int
assign_iommu_get_iova_ranges(const struct assign_iommu *iommu,
			     const struct assign_iova_range **ranges, size_t *n)
{
	int r;

	if (!iommu || !ranges || !n)
		return -EINVAL;
	r = need_iommu_geometry(iommu, "IOVA ranges");
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
	r = need_iommu_geometry(iommu, "IOMMU page sizes");
	if (r < 0)
		return r;
	*pgsizes = iommu->pgsizes;
	return 0;
}

ASSIGN_EXPORT int assign_iommu_get_dma_avail(const struct assign_iommu *iommu,
					     uint32_t *avail)
{
	int r;

	if (!iommu || !avail)
		return -EINVAL;
	r = need_geometry(iommu, "DMA entries left");
	if (r < 0)
		return r;
	if (!iommu->ops->dma_avail)
		return set_error(iommu->ctx, -EOPNOTSUPP,
				 "the %s backend has no DMA entry limit to "
				 "report",
				 iommu->ops->name);
	return iommu->ops->dma_avail(iommu, avail);
}

ASSIGN_EXPORT int assign_iommu_get_reserved_regions(
	const struct assign_iommu *iommu,
	const struct assign_reserved_region **regions, size_t *n)
{
	int r;

	if (!iommu || !regions || !n)
		return -EINVAL;
	r = need_geometry(iommu, "reserved regions");
	if (r < 0)
		return r;
	*regions = iommu->resv;
	*n = iommu->nresv;
	return 0;
}

ASSIGN_EXPORT int assign_iommu_irq_remapping(const struct assign_iommu *iommu)
{
	int r;

	if (!iommu)
		return -EINVAL;
	r = need_geometry(iommu, "interrupt remapping");
	if (r < 0)
		return r;
	return iommu->ops->irq_remapping(iommu);
}

/* ---------------------------------------------------------------------- */
/* Attaching devices (internal.h) */

static bool is_vfio_driver(const char *drv)
{
	/* vfio-pci and its variant drivers (mlx5_vfio_pci, ...). */
	return strcmp(drv, "vfio-pci") == 0 || strstr(drv, "vfio") != NULL;
}

/* 1 if @addr has a vfio cdev, 0 if not, -errno if sysfs cannot say. */
static int has_cdev(struct assign_ctx *ctx, const char *addr)
{
	char path[128], **names = NULL;
	size_t n = 0;
	bool found = false;
	int r;

	snprintf(path, sizeof(path), "bus/pci/devices/%s/vfio-dev", addr);
	r = sysfs_list(ctx, path, &names, &n);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (strncmp(names[i], "vfio", 4) == 0)
			found = true;
	strv_free(names, n);
	return found;
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
	info(ctx, "IOMMU backend chosen for %s: %s", addr, ops->name);
	return 0;
}

int iommu_attach_device(struct assign_iommu *iommu, const char *address,
			struct assign_attach *out)
{
	struct assign_ctx *ctx;
	struct assign_attach att = { .devfd = -1, .group_id = -1 };
	struct assign_pci_addr pa;
	char addr[ASSIGN_PCI_ADDR_LEN], path[128], drv[64];
	int *ng, r;

	if (!iommu || !address || !out)
		return -EINVAL;
	ctx = iommu->ctx;
	if (assign_pci_addr_parse(address, &pa) < 0 ||
	    assign_pci_addr_format(&pa, addr, sizeof(addr)) < 0)
		return set_error(ctx, -EINVAL,
				 "\"%s\" is not a PCI address (dddd:bb:dd.f)",
				 address);
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
	if (!is_vfio_driver(drv))
		return set_error(ctx, -ENODEV,
				 "%s is bound to %s, not vfio-pci; rebind it: "
				 "echo %s > /sys/bus/pci/devices/%s/driver/unbind; "
				 "echo vfio-pci > /sys/bus/pci/devices/%s/"
				 "driver_override; echo %s > "
				 "/sys/bus/pci/drivers_probe",
				 addr, drv, addr, addr, addr, addr);

	r = pci_dev_group(ctx, addr);
	if (r >= 0) {
		att.group_id = r;
	} else if (iommu->requested != ASSIGN_IOMMU_IOMMUFD &&
		   !(iommu->ops && iommu->ops->kind == ASSIGN_IOMMU_IOMMUFD)) {
		if (r == -ENOENT)
			return set_error(ctx, -ENODEV,
					 "%s has no IOMMU group: the IOMMU is "
					 "off or absent; enable it (VT-d/AMD-Vi "
					 "in firmware, intel_iommu=on or "
					 "amd_iommu=on), or, with no isolation "
					 "at all, use no-IOMMU mode",
					 addr);
		return set_error(ctx, r, "cannot read the IOMMU group of %s: %s",
				 addr, strerror(-r));
	}

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

	ng = realloc(iommu->dev_groups,
		     (iommu->ndevices + 1) * sizeof(*iommu->dev_groups));
	if (!ng)
		return set_error(ctx, -ENOMEM, "out of memory");
	iommu->dev_groups = ng;

	r = iommu->ops->attach(iommu, addr, &att);
	if (r < 0)
		return r;
	iommu->dev_groups[iommu->ndevices] = att.group_id;
	r = refresh_geometry(iommu, iommu->dev_groups, iommu->ndevices + 1);
	if (r < 0) {
		char msg[sizeof(ctx->last_error)];

		memcpy(msg, ctx->last_error, sizeof(msg));
		iommu->ops->detach(iommu, &att);
		memcpy(ctx->last_error, msg, sizeof(msg));
		return r;
	}
	iommu->ndevices++;
	if (is_noiommu(iommu))
		assign_log_cond(ctx, LOG_ERR,
				"WARNING: %s opened in no-IOMMU mode: it can DMA "
				"anywhere in host memory",
				addr);
	*out = att;
	return 0;
}

void iommu_detach_device(struct assign_iommu *iommu, const char *addr,
			 struct assign_attach *att)
{
	if (!iommu || !att || !iommu->ops)
		return;
	if (att->devfd < 0 && !att->group)
		return; /* never attached, or detached already */
	(void)addr;
	/* Dropping the group may drop the last reference on us (a group
	 * holds one): keep the object alive until we are done. */
	assign_iommu_ref(iommu);
	for (size_t i = 0; i < iommu->ndevices; i++) {
		if (iommu->dev_groups[i] == att->group_id) {
			memmove(&iommu->dev_groups[i], &iommu->dev_groups[i + 1],
				(iommu->ndevices - i - 1) *
					sizeof(*iommu->dev_groups));
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
	 * when the last group leaves the container (iommu_type1.c). */
	if (iommu->ndevices == 0 && iommu->ops->kind == ASSIGN_IOMMU_IOMMUFD)
		iommu_geometry_invalidate(iommu);
	assign_iommu_unref(iommu);
}

int iommu_group_fds(struct assign_iommu *iommu, int **fds, size_t *n)
{
	int *v = NULL;

	if (!iommu || !fds || !n)
		return -EINVAL;
	if (iommu->ngroups) {
		v = malloc(iommu->ngroups * sizeof(*v));
		if (!v)
			return set_error(iommu->ctx, -ENOMEM, "out of memory");
		for (size_t i = 0; i < iommu->ngroups; i++)
			v[i] = iommu->groups[i]->fd;
	}
	*fds = v;
	*n = iommu->ngroups;
	return 0;
}

int iommu_iommufd(const struct assign_iommu *iommu)
{
	if (!iommu || !iommu->ops ||
	    iommu->ops->kind != ASSIGN_IOMMU_IOMMUFD)
		return -1;
	return iommu->fd;
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

/* ---------------------------------------------------------------------- */
/* The mapping table */

static inline struct iommu_mapping *to_mapping(const struct iova_node *n)
{
	return n ? iova_container_of(n, struct iommu_mapping, node) : NULL;
}

static inline uint64_t map_last(const struct iommu_mapping *m)
{
	return m->node.last;
}

bool iommu_has_mapping(const struct assign_iommu *iommu, uint64_t iova,
		       uint64_t size, const void *vaddr)
{
	struct iommu_mapping *m;

	if (!iommu || !size || size - 1 > UINT64_MAX - iova)
		return false;
	m = to_mapping(iova_tree_find(&iommu->maps, iova));
	return m && m->node.start == iova && map_last(m) == iova + (size - 1) &&
	       m->vaddr == vaddr;
}

static inline uint64_t map_size(const struct iommu_mapping *m)
{
	return m->node.last - m->node.start + 1;
}

/* First mapping overlapping [start, last], or NULL. */
static const struct iommu_mapping *
map_find_overlap(const struct assign_iommu *iommu, uint64_t start,
		 uint64_t last)
{
	return to_mapping(iova_tree_first_overlap(&iommu->maps, start, last));
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
		       void *vaddr, uint64_t iova, uint64_t size, uint32_t flags)
{
	int r;

	m->node.start = iova;
	m->node.last = iova + (size - 1);
	m->vaddr = vaddr;
	m->flags = flags;
	r = iova_tree_insert(&iommu->maps, &m->node);
	(void)r; /* 0: check_request() excluded every overlap */
	iommu->mapped_bytes += size;
}

/* Kernel unmap of @m, then drop it from the table and free it. */
static int unmap_mapping(struct assign_iommu *iommu, struct iommu_mapping *m)
{
	uint64_t size = map_size(m);
	int r;

	r = iommu->ops->unmap(iommu, m->node.start, size);
	if (r < 0)
		return r;
	iova_tree_remove(&iommu->maps, &m->node);
	iommu->mapped_bytes -= size;
	map_free(iommu, m);
	return 0;
}

void iommu_forget_mappings(struct assign_iommu *iommu)
{
	while (iommu->maps.root) {
		struct iommu_mapping *m = to_mapping(iommu->maps.root);

		iova_tree_remove(&iommu->maps, &m->node);
		free(m);
	}
	iommu->mapped_bytes = 0;
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
		r = unmap_mapping(iommu, to_mapping(n));
		if (r < 0 && !err)
			err = r;
	}
	return err;
}

/* ---------------------------------------------------------------------- */
/* Checks made before the kernel sees a mapping */

/* The first piece of [*cur, last] not covered by the IOVA ranges. Returns
 * false when the rest is covered. */
static bool next_uncovered(const struct assign_iommu *iommu, uint64_t *cur,
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

static bool resv_blocks(const struct assign_reserved_region *rr)
{
	/* The kernel lets relaxable direct-mapped regions (RMRRs for USB and
	 * graphics) be used for DMA of an assigned device; every other kind
	 * (msi, reserved, direct) must stay free. */
	return strcmp(rr->type, "direct-relaxable") != 0;
}

static void fmt_ranges(const struct assign_iommu *iommu, char *buf,
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
static bool covered_by_resv(const struct assign_iommu *iommu, uint64_t start,
			    uint64_t last)
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
			if (rr->last < cur || !resv_blocks(rr))
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
static const struct assign_reserved_region *
blocking_resv(const struct assign_iommu *iommu, uint64_t iova, uint64_t last)
{
	for (size_t i = 0; i < iommu->nresv; i++) {
		const struct assign_reserved_region *rr = &iommu->resv[i];

		if (rr->start > last)
			break;
		if (rr->last >= iova && resv_blocks(rr))
			return rr;
	}
	return NULL;
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

	if (!flags || (flags & ~(uint32_t)ASSIGN_DMA_RW))
		return set_error(ctx, -EINVAL,
				 "%sDMA flags 0x%x: use ASSIGN_DMA_READ and/or "
				 "ASSIGN_DMA_WRITE",
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
	rr = blocking_resv(iommu, iova, last);
	if (rr)
		return set_error(ctx, -ERANGE,
				 "%sIOVA 0x%" PRIx64 "-0x%" PRIx64
				 " overlaps reserved region %s 0x%" PRIx64
				 "-0x%" PRIx64 "; place memory around it",
				 pfx, iova, last, rr->type, rr->start,
				 rr->last);
	cur = iova;
	if (next_uncovered(iommu, &cur, last, &done, &ps, &pl)) {
		char rbuf[200];

		fmt_ranges(iommu, rbuf, sizeof(rbuf));
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
	m = map_find_overlap(iommu, iova, last);
	if (m)
		return set_error(ctx, -EEXIST,
				 "%sIOVA 0x%" PRIx64 "-0x%" PRIx64
				 " overlaps the existing mapping 0x%" PRIx64
				 "-0x%" PRIx64 " (vaddr %p); unmap it first",
				 pfx, iova, last, m->node.start, map_last(m),
				 m->vaddr);
	return 0;
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

static int map_prepare(const struct assign_iommu *iommu, const char *what)
{
	int r;

	r = need_iommu_geometry(iommu, what);
	if (r < 0)
		return r;
	return 0;
}

/* Map one already checked request in the kernel, then put @m (allocated
 * by the caller) in the table. On failure @m is untouched and not in the
 * table. With @dontfork false the caller guarantees MADV_DONTFORK. */
static int map_one(struct assign_iommu *iommu, const char *pfx,
		   struct iommu_mapping *m, void *vaddr, uint64_t iova,
		   uint64_t size, uint32_t flags, bool dontfork_it)
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
	map_insert(iommu, m, vaddr, iova, size, flags);
	return 0;
}

ASSIGN_EXPORT int assign_iommu_map(struct assign_iommu *iommu, void *vaddr,
				   uint64_t iova, uint64_t size, uint32_t flags)
{
	struct iommu_mapping *m;
	int r;

	if (!iommu)
		return -EINVAL;
	r = map_prepare(iommu, "DMA map");
	if (r < 0)
		return r;
	r = check_request(iommu, "", vaddr, iova, size, flags);
	if (r < 0)
		return r;
	m = map_alloc(iommu);
	if (!m)
		return set_error(iommu->ctx, -ENOMEM, "out of memory");
	r = map_one(iommu, "", m, vaddr, iova, size, flags, true);
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
int iommu_map_prepared(struct assign_iommu *iommu, void *vaddr, uint64_t iova,
		       uint64_t size, uint32_t flags)
{
	struct iommu_mapping *m;
	uint64_t align;
	int r, why;

	if (!iommu)
		return -EINVAL;
	r = map_prepare(iommu, "DMA map");
	if (r < 0)
		return r;
	align = iommu->align;
	if (!flags || (flags & ~(uint32_t)ASSIGN_DMA_RW) || !size ||
	    size - 1 > UINT64_MAX - iova ||
	    (uintptr_t)vaddr > UINTPTR_MAX - (size - 1) ||
	    size - 1 > (uint64_t)UINTPTR_MAX ||
	    ((iova | size | (uint64_t)(uintptr_t)vaddr) & (align - 1)) ||
	    iova + (size - 1) > iommu->dma_limit ||
	    blocking_resv(iommu, iova, iova + (size - 1)))
		return check_request(iommu, "", vaddr, iova, size, flags);
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
	map_insert(iommu, m, vaddr, iova, size, flags);
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

static int do_map_many(struct assign_iommu *iommu,
		       const struct assign_dma_map *maps, size_t n,
		       bool dontfork_it)
{
	struct iommu_mapping *one, **nodes = &one;
	char pfx[40];
	size_t *order = NULL, done = 0;
	int r;

	if (!iommu || (!maps && n))
		return -EINVAL;
	if (n == 0)
		return 0;
	r = map_prepare(iommu, "DMA map");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		snprintf(pfx, sizeof(pfx), "request %zu: ", i);
		r = check_request(iommu, pfx, maps[i].vaddr, maps[i].iova,
				  maps[i].size, maps[i].flags);
		if (r < 0)
			return r;
	}
	/* The requests must not overlap each other either. */
	if (n > 1) {
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
						 "%zu (0x%" PRIx64 "-0x%" PRIx64
						 ")",
						 hi, maps[hi].iova,
						 maps[hi].iova + (maps[hi].size - 1),
						 lo, maps[lo].iova,
						 maps[lo].iova + (maps[lo].size - 1));
			}
		}
		free(order);
	}
	/* Every node before the first kernel call: out of memory then
	 * leaves nothing to undo. */
	if (n > 1) {
		nodes = calloc(n, sizeof(*nodes));
		if (!nodes)
			return set_error(iommu->ctx, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		nodes[i] = map_alloc(iommu);
		if (!nodes[i]) {
			while (i-- > 0)
				map_free(iommu, nodes[i]);
			if (nodes != &one)
				free(nodes);
			return set_error(iommu->ctx, -ENOMEM, "out of memory");
		}
	}
	for (done = 0; done < n; done++) {
		snprintf(pfx, sizeof(pfx), "request %zu: ", done);
		r = map_one(iommu, pfx, nodes[done], maps[done].vaddr,
			    maps[done].iova, maps[done].size, maps[done].flags,
			    dontfork_it);
		if (r < 0)
			break;
	}
	if (r == 0)
		goto out;
	/* Nodes of the requests not made go back. */
	for (size_t i = done; i < n; i++)
		map_free(iommu, nodes[i]);
	/* Roll back what was made, newest first; keep the message. */
	{
		struct assign_ctx *ctx = iommu->ctx;
		char msg[sizeof(ctx->last_error)];

		memcpy(msg, ctx->last_error, sizeof(msg));
		while (done-- > 0) {
			int e = unmap_mapping(iommu, nodes[done]);

			if (e < 0)
				assign_log_cond(ctx, LOG_ERR,
						"rollback: unmapping IOVA 0x%"
						PRIx64 " failed: %s; it stays "
						"mapped and accounted",
						maps[done].iova, strerror(-e));
		}
		memcpy(ctx->last_error, msg, sizeof(msg));
	}
out:
	if (nodes != &one)
		free(nodes);
	return r;
}

ASSIGN_EXPORT int assign_iommu_map_many(struct assign_iommu *iommu,
					const struct assign_dma_map *maps,
					size_t n)
{
	return do_map_many(iommu, maps, n, true);
}

int iommu_map_many_prepared(struct assign_iommu *iommu,
			    const struct assign_dma_map *maps, size_t n)
{
	return do_map_many(iommu, maps, n, false);
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
	if (is_noiommu(iommu))
		return refuse_noiommu(iommu, "DMA unmap");
	align = iommu->align ? iommu->align : iommu_host_page_size();
	if (!size || ((iova | size) & (align - 1)) ||
	    size - 1 > UINT64_MAX - iova)
		return set_error(ctx, -EINVAL,
				 "DMA unmap of IOVA 0x%" PRIx64 " size 0x%" PRIx64
				 ": must be non-zero, not wrap, and aligned to "
				 "0x%" PRIx64,
				 iova, size, align);
	last = iova + (size - 1);
	first = to_mapping(iova_tree_first_overlap(&iommu->maps, iova, last));
	if (!first)
		return set_error(ctx, -ENOENT,
				 "nothing is mapped at IOVA 0x%" PRIx64
				 "-0x%" PRIx64,
				 iova, last);
	/* The last mapping starting within the range: @first itself when it
	 * reaches @last (the usual single-mapping unmap, one lookup). */
	end = first->node.last >= last
		      ? first
		      : to_mapping(iova_tree_last_overlap(&iommu->maps, iova,
							  last));
	if (first->node.start < iova || map_last(end) > last) {
		m = first->node.start < iova ? first : end;
		return set_error(ctx, -EBUSY,
				 "unmap of IOVA 0x%" PRIx64 "-0x%" PRIx64
				 " cuts through the mapping 0x%" PRIx64
				 "-0x%" PRIx64 "; mappings can only be removed "
				 "whole",
				 iova, last, m->node.start, map_last(m));
	}
	/* Whole mappings first..end; from the end so a failure leaves the
	 * table exact. */
	for (m = end;;) {
		struct iommu_mapping *prev =
			m == first ? NULL : to_mapping(iova_tree_prev(&m->node));
		uint64_t mi = m->node.start, ml = map_last(m);

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
	if (!iommu || !stats)
		return -EINVAL;
	stats->mappings = iommu->maps.count;
	stats->bytes = iommu->mapped_bytes;
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
	m = to_mapping(iova_tree_last(&iommu->maps));
	if (m && map_last(m) > last_iova)
		return set_error(iommu->ctx, -EEXIST,
				 "the mapping 0x%" PRIx64 "-0x%" PRIx64
				 " lies above the new DMA limit 0x%" PRIx64
				 "; unmap it first",
				 m->node.start, map_last(m), last_iova);
	iommu->dma_limit = last_iova;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Layout checks */

struct conflicts {
	struct assign_conflict *v;
	size_t max, n;
	struct assign_conflict first;
};

ASSIGN_PRINTF(6, 7)
static void add_conflict(struct conflicts *c, enum assign_conflict_kind kind,
			 size_t index, uint64_t start, uint64_t last,
			 const char *fmt, ...)
{
	struct assign_conflict x = {
		.kind = kind, .index = index, .start = start, .last = last
	};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x.what, sizeof(x.what), fmt, ap);
	va_end(ap);
	if (c->n == 0)
		c->first = x;
	if (c->n < c->max)
		c->v[c->n] = x;
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

ASSIGN_EXPORT int assign_iommu_check_layout(
	const struct assign_iommu *iommu, const struct assign_iova_range *ranges,
	size_t n, struct assign_conflict *conflicts, size_t max,
	size_t *nconflicts)
{
	struct conflicts c = { .v = conflicts, .max = conflicts ? max : 0 };
	uint64_t align;
	size_t *order = NULL;
	int r;

	if (!iommu || (!ranges && n) || (!conflicts && max) || !nconflicts)
		return -EINVAL;
	r = map_prepare(iommu, "layout check");
	if (r < 0)
		return r;
	align = iommu->align;
	for (size_t i = 0; i < n; i++) {
		uint64_t s = ranges[i].start, l = ranges[i].last, cur, ps, pl;
		bool done = false;
		size_t k;

		if (l < s) {
			add_conflict(&c, ASSIGN_CONFLICT_INVALID, i, s, l,
				     "last 0x%" PRIx64 " is below start 0x%"
				     PRIx64, l, s);
			continue;
		}
		if ((s & (align - 1)) || ((l + 1) & (align - 1)))
			add_conflict(&c, ASSIGN_CONFLICT_INVALID, i, s, l,
				     "not aligned to the IOMMU page size 0x%"
				     PRIx64, align);
		cur = s;
		while (next_uncovered(iommu, &cur, l, &done, &ps, &pl)) {
			/* The kernel leaves reserved regions out of the IOVA
			 * ranges: report those once, as RESERVED. */
			if (covered_by_resv(iommu, ps, pl))
				continue;
			add_conflict(&c, ASSIGN_CONFLICT_OUTSIDE_IOVA, i, ps, pl,
				     "0x%" PRIx64 "-0x%" PRIx64
				     " is outside the IOVA ranges", ps, pl);
		}
		for (k = 0; k < iommu->nresv; k++) {
			const struct assign_reserved_region *rr =
				&iommu->resv[k];

			if (rr->start > l)
				break;
			if (rr->last < s || !resv_blocks(rr))
				continue;
			add_conflict(&c, ASSIGN_CONFLICT_RESERVED, i,
				     MAX(s, rr->start), MIN(l, rr->last),
				     "reserved region %s 0x%" PRIx64 "-0x%" PRIx64,
				     rr->type, rr->start, rr->last);
		}
		if (l > iommu->dma_limit)
			add_conflict(&c, ASSIGN_CONFLICT_DMA_LIMIT, i,
				     MAX(s, iommu->dma_limit + 1), l,
				     "above the DMA limit 0x%" PRIx64,
				     iommu->dma_limit);
		for (const struct iova_node *nd =
			     iova_tree_first_overlap(&iommu->maps, s, l);
		     nd && nd->start <= l; nd = iova_tree_next(nd)) {
			const struct iommu_mapping *m = to_mapping(nd);

			add_conflict(&c, ASSIGN_CONFLICT_MAPPED, i,
				     MAX(s, nd->start), MIN(l, nd->last),
				     "mapping 0x%" PRIx64 "-0x%" PRIx64
				     " (vaddr %p)",
				     nd->start, nd->last, m->vaddr);
		}
	}
	/* Proposed ranges against each other: sort by start, each one is
	 * compared with the following ones that begin before it ends. */
	if (n > 1) {
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
				const struct assign_iova_range *y =
					&ranges[order[b]];
				size_t hi = MAX(order[a], order[b]);
				size_t lo = MIN(order[a], order[b]);

				if (y->start > x->last)
					break;
				if (y->last < y->start)
					continue;
				add_conflict(&c, ASSIGN_CONFLICT_OVERLAP, hi,
					     y->start, MIN(x->last, y->last),
					     "overlaps proposed range %zu "
					     "0x%" PRIx64 "-0x%" PRIx64,
					     lo, ranges[lo].start,
					     ranges[lo].last);
			}
		}
		free(order);
	}
	*nconflicts = c.n;
	if (c.n == 0)
		return 0;
	return set_error(iommu->ctx, -ERANGE,
			 "the layout has %zu conflict%s; first: range %zu "
			 "(0x%" PRIx64 "-0x%" PRIx64 ") is %s: %s",
			 c.n, c.n == 1 ? "" : "s", c.first.index, c.first.start,
			 c.first.last, kind_name(c.first.kind), c.first.what);
}
