// SPDX-License-Identifier: MIT
/*
 * The iommufd backend: /dev/iommu with one IOAS (I/O address space);
 * devices come through their vfio cdev /dev/vfio/devices/vfioN, are bound
 * to the iommufd (VFIO_DEVICE_BIND_IOMMUFD) and attached to the IOAS
 * (VFIO_DEVICE_ATTACH_IOMMUFD_PT). Unlike a type1 container, the IOAS and
 * its mappings outlive the devices.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "iommu/iommu.h"

#define IOMMUFD_PATH "/dev/iommu"

int ifd_setup_ioas(struct assign_iommu *iommu, uint32_t ioas_id)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	struct iommu_ioas_iova_ranges q = { .size = sizeof(q) };
	struct assign_ctx *ctx = iommu->ctx;
	int r;

	if (!ioas_id) {
		r = sys_ioctl(ctx, iommu->fd, IOMMU_IOAS_ALLOC, &a);
		if (r < 0)
			return set_error(ctx, r, "IOMMU_IOAS_ALLOC failed: %s",
					 strerror(-r));
		iommu->ioas_id = a.out_ioas_id;
		return 0;
	}
	/* An IOAS of the caller's: the one query every IOAS answers (with
	 * no room for ranges: -EMSGSIZE or 0). */
	q.ioas_id = ioas_id;
	r = sys_ioctl(ctx, iommu->fd, IOMMU_IOAS_IOVA_RANGES, &q);
	if (r < 0 && r != -EMSGSIZE)
		return set_error(ctx, r == -ENOENT ? -ENOENT : r,
				 "IOAS %u is not in iommufd fd %d (%s): give "
				 "the id IOMMU_IOAS_ALLOC returned in it, or 0 "
				 "to make one",
				 ioas_id, iommu->fd, strerror(-r));
	iommu->ioas_id = ioas_id;
	iommu->ioas_adopted = true;
	return 0;
}

static int ifd_open(struct assign_iommu *iommu)
{
	struct assign_ctx *ctx = iommu->ctx;
	int fd, r;

	fd = sys_open(ctx, IOMMUFD_PATH, O_RDWR);
	if (fd == -ENOENT || fd == -ENODEV || fd == -ENXIO)
		return set_error(ctx, -ENOENT,
				 "%s does not exist: the kernel has no iommufd "
				 "(CONFIG_IOMMUFD, modprobe iommufd); use the "
				 "type1 backend",
				 IOMMUFD_PATH);
	if (fd == -EACCES || fd == -EPERM)
		return set_error(ctx, -EACCES,
				 "permission denied opening %s: run as root or "
				 "grant access with a udev rule",
				 IOMMUFD_PATH);
	if (fd < 0)
		return set_error(ctx, fd, "cannot open %s: %s", IOMMUFD_PATH,
				 strerror(-fd));
	iommu->fd = fd;
	r = ifd_setup_ioas(iommu, 0);
	if (r < 0) {
		sys_close(ctx, fd);
		iommu->fd = -1;
	}
	return r;
}

static void ifd_close(struct assign_iommu *iommu)
{
	/* Closing the iommufd destroys the IOAS with it. */
	sys_close(iommu->ctx, iommu->fd);
	iommu->fd = -1;
}

int iommu_vfio_cdev(struct assign_ctx *ctx, const char *dir, char *buf,
		    size_t size)
{
	char path[DEVPATH_DIR_MAX + 16], **names = NULL;
	size_t n = 0;
	int r;

	snprintf(path, sizeof(path), "%s/vfio-dev", dir);
	r = sysfs_list(ctx, path, &names, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n && r < 0; i++) {
		if (strncmp(names[i], "vfio", 4) == 0 &&
		    strlen(names[i]) < size) {
			strcpy(buf, names[i]);
			r = 0;
		}
	}
	strv_free(names, n);
	return r;
}

/*
 * iommu_vfio_cdev() with messages: -ENODEV when there is no cdev (the
 * directory missing or empty: the kernel lacks CONFIG_VFIO_DEVICE_CDEV);
 * another error listing the directory (EIO, ENOMEM, EACCES) is returned
 * as is.
 */
static int find_cdev(struct assign_ctx *ctx, const struct devpath *loc,
		     char *buf, size_t size)
{
	int r;

	r = iommu_vfio_cdev(ctx, loc->dir, buf, size);
	if (r < 0 && r != -ENOENT)
		return set_error(ctx, r,
				 "cannot list /sys/%s/vfio-dev to find the "
				 "vfio cdev of %s: %s",
				 loc->dir, loc->name, strerror(-r));
	if (r < 0)
		return set_error(
			ctx, -ENODEV,
			"%s has no vfio cdev (/sys/%s/vfio-dev is "
			"missing or empty): the kernel lacks "
			"CONFIG_VFIO_DEVICE_CDEV; use the type1 backend",
			loc->name, loc->dir);
	return 0;
}

/* Open the vfio cdev @path of @addr; the fd, or an error with a message. */
static int cdev_open(struct assign_ctx *ctx, const char *path, const char *addr)
{
	int fd;

	fd = sys_open(ctx, path, O_RDWR);
	if (fd >= 0)
		return fd;
	switch (fd) {
	case -ENOENT:
		return set_error(ctx, fd,
				 "%s does not exist although sysfs "
				 "lists it: is devtmpfs/udev running?",
				 path);
	case -EACCES:
	case -EPERM:
		return set_error(ctx, -EACCES,
				 "permission denied opening %s: run as "
				 "root or give the user access to it",
				 path);
	case -EBUSY:
		return set_error(ctx, fd,
				 "%s is busy: %s is in use (its group "
				 "is open through /dev/vfio?)",
				 path, addr);
	default:
		return set_error(ctx, fd, "cannot open %s: %s", path,
				 strerror(-fd));
	}
}

/*
 * VFIO_DEVICE_BIND_IOMMUFD as Linux 6.17 extends it: a VF token after
 * out_devid, with VFIO_DEVICE_BIND_FLAG_TOKEN (the vendored 6.12 header
 * predates both; the layout is the kernel's, the names ours).
 */
struct ifd_bind_token {
	struct vfio_device_bind_iommufd bind;
	uint64_t token_uuid_ptr;
};
#define IFD_BIND_FLAG_TOKEN (1u << 0)

/* The bind with @req's VF token. A kernel before 6.17 knows no flag and
 * checks no token on the cdev path: -EINVAL, and the bind is retried
 * without it, with a warning that the token was not checked. */
static int bind_with_token(struct assign_iommu *iommu, int fd,
			   const struct iommu_dev_req *req, uint32_t *devid)
{
	struct ifd_bind_token b = { .bind = { .argsz = sizeof(b),
					      .flags = IFD_BIND_FLAG_TOKEN } };
	struct vfio_device_bind_iommufd plain = { .argsz = sizeof(plain) };
	struct assign_ctx *ctx = iommu->ctx;
	int r;

	b.bind.iommufd = iommu->fd;
	b.token_uuid_ptr = (uintptr_t)req->token;
	r = sys_ioctl(ctx, fd, VFIO_DEVICE_BIND_IOMMUFD, &b);
	if (r >= 0)
		*devid = b.bind.out_devid;
	if (r != -EINVAL)
		return r;
	plain.iommufd = iommu->fd;
	r = sys_ioctl(ctx, fd, VFIO_DEVICE_BIND_IOMMUFD, &plain);
	if (r >= 0)
		*devid = plain.out_devid;
	if (r >= 0)
		warn(ctx,
		     "%s: the kernel took no VF token on the vfio cdev (it "
		     "predates VFIO_DEVICE_BIND_FLAG_TOKEN, Linux 6.17, or the "
		     "device takes none): opened without the token's check",
		     req->loc.name);
	return r;
}

/* VFIO_DEVICE_BIND_IOMMUFD: the device's DMA goes through our iommufd. */
static int ifd_bind(struct assign_iommu *iommu, int fd,
		    const struct iommu_dev_req *req, int group_id,
		    uint32_t *devid)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct assign_ctx *ctx = iommu->ctx;
	const char *addr = req->loc.name;
	int r;

	bind.iommufd = iommu->fd;
	if (req->has_token) {
		r = bind_with_token(iommu, fd, req, devid);
	} else {
		r = sys_ioctl(ctx, fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
		if (r >= 0)
			*devid = bind.out_devid; /* for IOMMU_GET_HW_INFO */
	}
	if (r >= 0)
		return 0;
	if (r == -EACCES && iommu_vf_token_error(iommu, req, r) < 0)
		return r;
	/*
	 * EPERM has two causes: another device of the group is used by a
	 * host driver (the kernel refuses to hand over DMA ownership: the
	 * group is not viable), or MSIs are not isolated. Tell them apart by
	 * looking at the group.
	 */
	if ((r == -EPERM || r == -EBUSY) && group_id >= 0 &&
	    iommu_not_viable_error(iommu, group_id, true) < 0)
		return -EBUSY;
	if (r == -EPERM)
		return set_error(ctx, r,
				 "binding %s to iommufd was refused: its "
				 "interrupts are not remapped (no MSI "
				 "isolation); enable interrupt remapping or, "
				 "accepting the risk, load iommufd with "
				 "allow_unsafe_interrupts=1",
				 addr);
	if (r == -EBUSY)
		return set_error(ctx, r,
				 "binding %s to iommufd failed: the device is "
				 "in use (opened through its VFIO group or "
				 "another iommufd)",
				 addr);
	if (r == -EINVAL && req->fd >= 0)
		return set_error(ctx, r,
				 "binding %s to iommufd failed: the cdev fd %d "
				 "is already bound (to another iommufd); hand "
				 "it over before VFIO_DEVICE_BIND_IOMMUFD",
				 addr, req->fd);
	return set_error(ctx, r, "VFIO_DEVICE_BIND_IOMMUFD for %s: %s", addr,
			 strerror(-r));
}

/* VFIO_DEVICE_ATTACH_IOMMUFD_PT: the device joins our IOAS. */
static int ifd_attach_ioas(struct assign_iommu *iommu, int fd, const char *addr)
{
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct assign_ctx *ctx = iommu->ctx;
	int r;

	at.pt_id = iommu->ioas_id;
	r = sys_ioctl(ctx, fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);
	if (r >= 0)
		return 0;
	if (r == -EPERM)
		return set_error(ctx, r,
				 "attaching %s to IOAS %u was refused: its "
				 "interrupts are not remapped (no MSI "
				 "isolation); enable interrupt remapping or, "
				 "accepting the risk, load iommufd with "
				 "allow_unsafe_interrupts=1",
				 addr, iommu->ioas_id);
	if (r == -EADDRINUSE || r == -EINVAL)
		return set_error(ctx, r,
				 "attaching %s to IOAS %u failed: %s; existing "
				 "mappings may lie where this device cannot "
				 "reach (reserved regions)",
				 addr, iommu->ioas_id, strerror(-r));
	return set_error(ctx, r, "attaching %s to IOAS %u failed: %s", addr,
			 iommu->ioas_id, strerror(-r));
}

/* The device's fd: the handed one, or its cdev, opened. */
static int ifd_open_cdev(struct assign_iommu *iommu,
			 const struct iommu_dev_req *req)
{
	struct assign_ctx *ctx = iommu->ctx;
	char cdev[32], path[64];
	int r;

	if (req->fd >= 0)
		return req->fd;
	for (size_t i = 0; i < iommu->nhanded; i++)
		if (!strcmp(iommu->handed[i].name, req->loc.name)) {
			if (iommu->handed[i].fd < 0)
				return set_error(ctx, -EBUSY,
						 "%s is open already: its "
						 "handed cdev is in use",
						 req->loc.name);
			return iommu->handed[i].fd;
		}
	r = find_cdev(ctx, &req->loc, cdev, sizeof(cdev));
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", cdev);
	return cdev_open(ctx, path, req->loc.name);
}

static int ifd_attach(struct assign_iommu *iommu,
		      const struct iommu_dev_req *req,
		      struct assign_attach *out)
{
	struct assign_ctx *ctx = iommu->ctx;
	uint32_t devid = 0;
	bool mine;
	int fd, r;

	fd = ifd_open_cdev(iommu, req);
	if (fd < 0)
		return fd;
	mine = fd != req->fd;
	r = ifd_bind(iommu, fd, req, out->group_id, &devid);
	if (r == 0)
		r = ifd_attach_ioas(iommu, fd, req->loc.name);
	/* A handed cdev is the device's now, or gone with the failure. */
	if (mine)
		iommu_handed_forget(iommu, fd);
	if (r < 0) {
		/* Closing the cdev also unbinds it; a caller's fd is
		 * theirs to close. */
		if (mine)
			sys_close(ctx, fd);
		return r;
	}
	out->devfd = fd;
	out->group = NULL;
	out->devid = devid;
	return 0;
}

static void ifd_detach(struct assign_iommu *iommu, struct assign_attach *att)
{
	if (att->devfd >= 0)
		sys_close(iommu->ctx, att->devfd);
}

/* Far more IOVA ranges than any IOMMU reports (each is a hole between
 * reserved regions); bounds what a kernel can make us allocate. */
#define IFD_MAX_IOVA_RANGES 4096u

/*
 * IOMMU_IOAS_IOVA_RANGES: *ret is a malloc'ed array of *n ranges. The
 * kernel fills what fits and says -EMSGSIZE with the number it has; the
 * count can change between calls, so retry a few times.
 */
static int ifd_query_ranges(struct assign_iommu *iommu,
			    struct iommu_iova_range **ret, uint32_t *n,
			    uint64_t *align)
{
	struct assign_ctx *ctx = iommu->ctx;
	struct iommu_iova_range *v = NULL, *nv;
	uint32_t cap = 8;
	int r;

	for (int tries = 0; tries < 4; tries++) {
		struct iommu_ioas_iova_ranges q = {
			.size = sizeof(q),
			.ioas_id = iommu->ioas_id,
			.num_iovas = cap,
		};

		nv = realloc(v, (cap ? cap : 1) * sizeof(*v));
		if (!nv) {
			free(v);
			return set_error(ctx, -ENOMEM, "out of memory");
		}
		v = nv;
		q.allowed_iovas = (uintptr_t)v;
		r = sys_ioctl(ctx, iommu->fd, IOMMU_IOAS_IOVA_RANGES, &q);
		if (r == -EMSGSIZE && q.num_iovas > cap) {
			/* A real IOAS has a handful of holes (reserved
			 * regions); a count in the millions is a broken or
			 * hostile kernel, not a reason to allocate gigabytes. */
			if (q.num_iovas > IFD_MAX_IOVA_RANGES) {
				free(v);
				return set_error(ctx, -EPROTO,
						 "IOMMU_IOAS_IOVA_RANGES on IOAS "
						 "%u reported %u ranges (more than "
						 "%u): refusing",
						 iommu->ioas_id, q.num_iovas,
						 IFD_MAX_IOVA_RANGES);
			}
			cap = q.num_iovas;
			continue;
		}
		if (r < 0) {
			free(v);
			return set_error(ctx, r,
					 "IOMMU_IOAS_IOVA_RANGES on IOAS %u: %s",
					 iommu->ioas_id, strerror(-r));
		}
		if (q.num_iovas > cap) {
			free(v);
			return set_error(ctx, -EPROTO,
					 "IOMMU_IOAS_IOVA_RANGES reported %u "
					 "ranges for an array of %u",
					 q.num_iovas, cap);
		}
		*ret = v;
		*n = q.num_iovas;
		*align = q.out_iova_alignment;
		return 0;
	}
	free(v);
	return set_error(ctx, -EPROTO,
			 "IOMMU_IOAS_IOVA_RANGES kept growing; giving up");
}

/* The kernel's @n ranges @v as the library's, checked; *ret malloc'ed. */
static int ifd_convert_ranges(struct assign_ctx *ctx,
			      const struct iommu_iova_range *v, uint32_t n,
			      struct assign_iova_range **ret)
{
	struct assign_iova_range *ranges = NULL;

	if (n) {
		ranges = calloc(n, sizeof(*ranges));
		if (!ranges)
			return set_error(ctx, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < n; i++) {
		if (v[i].last < v[i].start) {
			free(ranges);
			return set_error(ctx, -EPROTO,
					 "IOMMU_IOAS_IOVA_RANGES "
					 "reported 0x%llx-0x%llx, "
					 "ending before it starts",
					 (unsigned long long)v[i].start,
					 (unsigned long long)v[i].last);
		}
		ranges[i].start = v[i].start;
		ranges[i].last = v[i].last;
	}
	*ret = ranges;
	return 0;
}

static int ifd_geometry(struct assign_iommu *iommu, struct iommu_geometry *g)
{
	struct assign_iova_range *ranges = NULL;
	struct iommu_iova_range *v = NULL;
	uint64_t align = 0, host = iommu_host_page_size();
	uint32_t n = 0;
	int r;

	r = ifd_query_ranges(iommu, &v, &n, &align);
	if (r < 0)
		return r;
	r = ifd_convert_ranges(iommu->ctx, v, n, &ranges);
	free(v);
	if (r < 0)
		return r;
	/*
	 * iommufd maps any multiple of out_iova_alignment (it picks the
	 * IOMMU page sizes itself), so the honest bitmap is every power of
	 * two from that alignment up. The library wants host pages at
	 * least: pinning works on pages.
	 */
	if (align < host || (align & (align - 1)))
		align = host;
	g->ranges = ranges;
	g->nranges = n;
	g->pgsizes = ~(align - 1);
	return 0;
}

/*
 * iommufd refuses to bind a device whose MSIs are not isolated with EPERM
 * unless its allow_unsafe_interrupts module parameter is set (the same rule
 * as vfio_iommu_type1), so the parameter tells whether the kernel checked;
 * IOMMU_GET_HW_INFO tells what the device's IOMMU can (irq_remap.c).
 */
static int ifd_irq_remapping(const struct assign_iommu *iommu)
{
	return iommu_irq_remapping(iommu, "iommufd");
}

static int ifd_map(struct assign_iommu *iommu, void *vaddr, uint64_t iova,
		   uint64_t size, uint32_t flags)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = iommu->ioas_id,
		.user_va = (uintptr_t)vaddr,
		.length = size,
		.iova = iova,
	};

	if (flags & ASSIGN_DMA_F_READ)
		m.flags |= IOMMU_IOAS_MAP_READABLE;
	if (flags & ASSIGN_DMA_F_WRITE)
		m.flags |= IOMMU_IOAS_MAP_WRITEABLE;
	return sys_ioctl(iommu->ctx, iommu->fd, IOMMU_IOAS_MAP, &m);
}

static int ifd_unmap(struct assign_iommu *iommu, uint64_t iova, uint64_t size)
{
	struct iommu_ioas_unmap u = {
		.size = sizeof(u),
		.ioas_id = iommu->ioas_id,
		.iova = iova,
		.length = size,
	};
	int r;

	r = sys_ioctl(iommu->ctx, iommu->fd, IOMMU_IOAS_UNMAP, &u);
	if (r == -ENOENT) {
		/* Already gone (escape hatch): nothing left to undo. */
		dbg(iommu->ctx, "IOMMU_IOAS_UNMAP 0x%" PRIx64 ": not mapped",
		    iova);
		return 0;
	}
	return r;
}

const struct iommu_backend iommu_backend_iommufd = {
	.kind = ASSIGN_IOMMU_IOMMUFD,
	.name = "iommufd",
	.open = ifd_open,
	.close = ifd_close,
	.attach = ifd_attach,
	.detach = ifd_detach,
	.geometry = ifd_geometry,
	.dma_avail = NULL,
	.irq_remapping = ifd_irq_remapping,
	.map = ifd_map,
	.unmap = ifd_unmap,
};
