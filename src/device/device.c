// SPDX-License-Identifier: MIT
/*
 * VFIO devices: open through an IOMMU object (by name, or from a cdev fd
 * another process opened), info, VF token, feature probe.
 * Regions are in region.c, interrupts in irq.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "device/device.h"

/* Sanity bounds on what a kernel reports (vfio-pci: 9 regions + device
 * specific ones, 5 irq indexes). */
#define MAX_REGIONS 256
#define MAX_IRQS 64

/* The options, with the VF token parsed into @req. */
static int check_opts(struct assign_ctx *ctx,
		      const struct assign_device_opts *opts,
		      struct iommu_dev_req *req)
{
	struct assign_device_opts o;
	int r;

	r = SIZED_IN(ctx, &o, opts, "assign_device_opts");
	if (r < 0)
		return r;
	if (o.flags)
		return set_error(
			ctx, -EINVAL,
			"assign_device_opts.flags 0x%x has unknown bits; pass 0",
			o.flags);
	if (o.vf_token) {
		if (devpath_parse_uuid(o.vf_token, req->token) < 0)
			return set_error(ctx, -EINVAL,
					 "assign_device_opts.vf_token is not a "
					 "UUID (8-4-4-4-12 hex digits)");
		req->has_token = true;
	}
	return 0;
}

static enum assign_device_bus bus_of(const char *bus)
{
	if (!bus[0])
		return ASSIGN_DEVICE_BUS_UNKNOWN;
	if (!strcmp(bus, "pci"))
		return ASSIGN_DEVICE_BUS_PCI;
	if (!strcmp(bus, "mdev"))
		return ASSIGN_DEVICE_BUS_MDEV;
	if (!strcmp(bus, "platform"))
		return ASSIGN_DEVICE_BUS_PLATFORM;
	return ASSIGN_DEVICE_BUS_OTHER;
}

static int device_query_info(struct assign_device *dev)
{
	struct vfio_device_info req = { 0 }, *vi;
	size_t minsz = offsetof(struct vfio_device_info, num_irqs) +
		       sizeof(req.num_irqs);
	size_t len;
	void *buf;
	int r;

	r = vfio_info_ioctl(dev->ctx, dev->att.devfd, VFIO_DEVICE_GET_INFO,
			    &req, minsz, &buf, &len);
	if (r < 0)
		return set_error(dev->ctx, r,
				 "VFIO_DEVICE_GET_INFO on %s failed: %s", dev->addr,
				 strerror(-r));
	vi = buf;
	if (vi->num_regions > MAX_REGIONS || vi->num_irqs > MAX_IRQS) {
		r = set_error(dev->ctx, -EPROTO,
			      "%s: the kernel reports %u regions and %u interrupt indexes, more than libassign accepts (%u/%u)",
			      dev->addr, vi->num_regions, vi->num_irqs,
			      MAX_REGIONS, MAX_IRQS);
		free(buf);
		return r;
	}
	dev->info.size = sizeof(dev->info);
	dev->info.flags = 0;
	if (vi->flags & VFIO_DEVICE_FLAGS_PCI)
		dev->info.flags |= ASSIGN_DEVICE_F_PCI;
	if (vi->flags & VFIO_DEVICE_FLAGS_PLATFORM)
		dev->info.flags |= ASSIGN_DEVICE_F_PLATFORM;
	if (vi->flags & VFIO_DEVICE_FLAGS_RESET)
		dev->info.flags |= ASSIGN_DEVICE_F_RESET;
	dev->info.num_regions = vi->num_regions;
	dev->info.num_irqs = vi->num_irqs;
	free(buf);
	return 0;
}

/* iommu_attach() with the IOMMU side's own messages (and a fallback). */
static int device_attach(struct assign_iommu *iommu, struct assign_device *dev,
			 const struct iommu_dev_req *req)
{
	struct assign_ctx *ctx = dev->ctx;
	char saved[ASSIGN_ERROR_MAX];
	int r;

	assign_error_save(ctx, saved);
	assign_ctx_clear_last_error(ctx);
	r = iommu_attach(iommu, req, &dev->att);
	if (r < 0) {
		if (!assign_error_get(ctx)[0])
			set_error(ctx, r, "cannot attach %s to its IOMMU: %s",
				  req->loc.name, strerror(-r));
		return r;
	}
	assign_error_restore(ctx, saved);
	return 0;
}

/* The caches of regions and interrupt indexes the device info sizes. */
static int device_alloc_caches(struct assign_device *dev)
{
	if (dev->info.num_regions) {
		dev->regions =
			calloc(dev->info.num_regions, sizeof(*dev->regions));
		if (!dev->regions)
			return set_error(dev->ctx, -ENOMEM,
					 "out of memory opening %s", dev->addr);
	}
	if (dev->info.num_irqs) {
		dev->irqs = calloc(dev->info.num_irqs, sizeof(*dev->irqs));
		if (!dev->irqs)
			return set_error(dev->ctx, -ENOMEM,
					 "out of memory opening %s", dev->addr);
	}
	return 0;
}

/* Open the device @req describes on @iommu: attach, info, caches. */
static int device_new(struct assign_iommu *iommu,
		      const struct iommu_dev_req *req,
		      struct assign_device **ret)
{
	struct assign_ctx *ctx = assign_iommu_get_ctx(iommu);
	struct assign_device *dev;
	int r;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return set_error(ctx, -ENOMEM, "out of memory opening %s",
				 req->loc.name);
	dev->refcount = 1;
	dev->ctx = ctx;
	snprintf(dev->addr, sizeof(dev->addr), "%s", req->loc.name);
	dev->has_pci_addr = !strcmp(req->loc.bus, "pci");
	dev->att.devfd = -1;
	dev->att.group_id = -1;
	r = device_attach(iommu, dev, req);
	if (r < 0) {
		free(dev);
		return r;
	}
	r = device_query_info(dev);
	if (r == 0)
		r = device_alloc_caches(dev);
	if (r < 0) {
		char msg[ASSIGN_ERROR_MAX];

		assign_error_save(ctx, msg);
		/* A caller's fd is theirs again on failure. */
		if (req->fd >= 0 && dev->att.devfd == req->fd)
			dev->att.devfd = -1;
		iommu_detach_device(iommu, &dev->att);
		assign_error_restore(ctx, msg);
		free(dev->regions);
		free(dev->irqs);
		free(dev);
		return r;
	}
	dev->info.bus = bus_of(req->loc.bus);
	dev->iommu = assign_iommu_ref(iommu);
	dbg(ctx, "%s: opened, fd %d, group %d, %u regions, %u irq indexes",
	    dev->addr, dev->att.devfd, dev->att.group_id,
	    dev->info.num_regions, dev->info.num_irqs);
	*ret = dev;
	return 0;
}

ASSIGN_EXPORT int assign_device_open(struct assign_iommu *iommu,
				     const char *name,
				     const struct assign_device_opts *opts,
				     struct assign_device **ret)
{
	struct iommu_dev_req req = { .fd = -1 };
	struct assign_ctx *ctx;
	const char *why;
	int r;

	if (!iommu)
		return -EINVAL;
	ctx = assign_iommu_get_ctx(iommu);
	if (!ctx)
		return -EINVAL;
	if (!name || !ret)
		return set_error(ctx, -EINVAL, "assign_device_open: %s is NULL",
				 !name ? "name" : "ret");
	r = check_opts(ctx, opts, &req);
	if (r < 0)
		return r;
	/* A device handed over with the IOMMU object is opened by name,
	 * without sysfs; any other is found there. */
	if (devpath_parse(name, &req.loc, &why) < 0 ||
	    !iommu_handed_lookup(iommu, &req.loc)) {
		r = devpath_locate(ctx, name, &req.loc);
		if (r < 0)
			return r;
	}
	return device_new(iommu, &req, ret);
}

/* Which device the cdev @fd is: from sysfs, checked against @name. */
static int locate_fd(struct assign_ctx *ctx, int fd, const char *name,
		     struct devpath *loc)
{
	struct iommu_fd_id id;
	const char *why;
	int r;

	r = iommu_fd_identify(ctx, fd, &id);
	if (r < 0)
		return r;
	if (id.kind == IOMMU_FD_CDEV) {
		struct devpath want;

		*loc = id.dev;
		if (!name)
			return 0;
		if (devpath_parse(name, &want, &why) < 0)
			return set_error(ctx, -EINVAL, "\"%.64s\" is %s", name,
					 why);
		if (!strcmp(want.name, id.dev.name))
			return 0;
		return set_error(ctx, -EINVAL,
				 "fd %d is the vfio cdev of %s, not of %s: it "
				 "belongs to another device",
				 fd, id.dev.name, want.name);
	}
	if (id.unknown && name) {
		/* No sysfs to ask (a VMM in a container without /sys): the
		 * kernel's bind tells whether it is a cdev. */
		if (devpath_parse(name, loc, &why) < 0)
			return set_error(ctx, -EINVAL, "\"%.64s\" is %s", name,
					 why);
		loc->dir[0] = '\0';
		return 0;
	}
	return set_error(ctx, -EINVAL, "fd %d is %s, not a vfio cdev%s", fd,
			 id.what,
			 id.kind == IOMMU_FD_GROUP ?
				 ": adopt it with assign_group_new_from_fd() "
				 "and open its devices by name" :
			 id.unknown ? ": pass the device's name to take it "
				      "on trust" :
				      "");
}

ASSIGN_EXPORT int assign_device_open_fd(struct assign_iommu *iommu, int fd,
					const char *name,
					const struct assign_device_opts *opts,
					struct assign_device **ret)
{
	struct iommu_dev_req req = { .fd = fd };
	struct assign_ctx *ctx;
	int r;

	if (!iommu)
		return -EINVAL;
	ctx = assign_iommu_get_ctx(iommu);
	if (!ctx)
		return -EINVAL;
	if (!ret)
		return set_error(ctx, -EINVAL,
				 "assign_device_open_fd: ret is NULL");
	r = check_opts(ctx, opts, &req);
	if (r == 0)
		r = locate_fd(ctx, fd, name, &req.loc);
	if (r < 0)
		return r;
	return device_new(iommu, &req, ret);
}

ASSIGN_EXPORT int assign_device_set_vf_token(struct assign_device *dev,
					     const char *uuid)
{
	struct {
		struct vfio_device_feature f;
		uint8_t uuid[16];
	} ft;
	int r;

	if (!dev)
		return -EINVAL;
	memset(&ft, 0, sizeof(ft));
	if (!uuid || devpath_parse_uuid(uuid, ft.uuid) < 0)
		return set_error(dev->ctx, -EINVAL,
				 "the VF token for %s is not a UUID "
				 "(8-4-4-4-12 hex digits)",
				 dev->addr);
	ft.f.argsz = sizeof(ft);
	ft.f.flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN;
	r = sys_ioctl(dev->ctx, dev->att.devfd, VFIO_DEVICE_FEATURE, &ft);
	if (r == -ENOTTY || r == -EOPNOTSUPP)
		return set_error(dev->ctx, -EOPNOTSUPP,
				 "%s has no VF token to set: it is not an "
				 "SR-IOV PF driven through vfio-pci",
				 dev->addr);
	if (r < 0)
		return set_error(dev->ctx, r,
				 "VFIO_DEVICE_FEATURE_PCI_VF_TOKEN on %s "
				 "failed: %s",
				 dev->addr, strerror(-r));
	return 0;
}

ASSIGN_EXPORT struct assign_device *assign_device_ref(struct assign_device *dev)
{
	if (dev)
		__atomic_add_fetch(&dev->refcount, 1, __ATOMIC_RELAXED);
	return dev;
}

ASSIGN_EXPORT struct assign_device *
assign_device_unref(struct assign_device *dev)
{
	struct assign_iommu *iommu;

	if (!dev || __atomic_sub_fetch(&dev->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	dev_irqs_disable_all(dev, false);
	dev_irqs_release(dev);
	dev_regions_release(dev);
	iommu = dev->iommu;
	iommu_detach_device(iommu, &dev->att);
	dbg(dev->ctx, "%s: closed", dev->addr);
	free(dev);
	assign_iommu_unref(iommu);
	return NULL;
}

ASSIGN_EXPORT struct assign_iommu *
assign_device_get_iommu(const struct assign_device *dev)
{
	return dev ? dev->iommu : NULL;
}

ASSIGN_EXPORT const char *
assign_device_get_address(const struct assign_device *dev)
{
	return dev && dev->has_pci_addr ? dev->addr : NULL;
}

ASSIGN_EXPORT const char *
assign_device_get_name(const struct assign_device *dev)
{
	return dev ? dev->addr : NULL;
}

ASSIGN_EXPORT int assign_device_get_fd(const struct assign_device *dev)
{
	return dev ? dev->att.devfd : -EINVAL;
}

ASSIGN_EXPORT int assign_device_get_group_id(const struct assign_device *dev)
{
	if (!dev)
		return -EINVAL;
	return dev->att.group_id >= 0 ? dev->att.group_id : -ENOENT;
}

ASSIGN_EXPORT int assign_device_get_info(const struct assign_device *dev,
					 struct assign_device_info *info)
{
	int r;

	if (!dev)
		return -EINVAL;
	r = sized_out_check(dev->ctx, info, "assign_device_info");
	if (r < 0)
		return r;
	SIZED_OUT_FILL(info, &dev->info);
	return 0;
}

ASSIGN_EXPORT int assign_device_feature_probe(struct assign_device *dev,
					      uint32_t feature, uint32_t flags)
{
	const uint32_t known =
		ASSIGN_DEVICE_FEATURE_F_GET | ASSIGN_DEVICE_FEATURE_F_SET;
	struct vfio_device_feature f;
	int r;

	if (!dev)
		return -EINVAL;
	if (feature & ~(uint32_t)VFIO_DEVICE_FEATURE_MASK)
		return set_error(dev->ctx, -EINVAL,
				 "feature 0x%x is not a VFIO_DEVICE_FEATURE_* number (16 bits)",
				 feature);
	if (!flags || (flags & ~known))
		return set_error(dev->ctx, -EINVAL,
				 "feature probe flags 0x%x: give ASSIGN_DEVICE_FEATURE_F_GET and/or _F_SET",
				 flags);
	memset(&f, 0, sizeof(f));
	f.argsz = sizeof(f);
	f.flags = feature | VFIO_DEVICE_FEATURE_PROBE;
	if (flags & ASSIGN_DEVICE_FEATURE_F_GET)
		f.flags |= VFIO_DEVICE_FEATURE_GET;
	if (flags & ASSIGN_DEVICE_FEATURE_F_SET)
		f.flags |= VFIO_DEVICE_FEATURE_SET;
	r = sys_ioctl(dev->ctx, dev->att.devfd, VFIO_DEVICE_FEATURE, &f);
	if (r >= 0)
		return 1;
	/* Unknown feature: -ENOTTY; known but not this direction: -EINVAL. */
	if (r == -ENOTTY || r == -EINVAL || r == -EOPNOTSUPP)
		return 0;
	return set_error(dev->ctx, r,
			 "VFIO_DEVICE_FEATURE probe of feature %u on %s failed: %s",
			 feature, dev->addr, strerror(-r));
}
