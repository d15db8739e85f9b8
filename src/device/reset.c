// SPDX-License-Identifier: MIT
/*
 * Resets: the function reset the kernel picked for the device, and the hot
 * (secondary bus) reset of its slot or bus, which resets every device
 * there and so needs all of them owned by the caller.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "device/device.h"

/* A bus never holds more than 256 functions; allow bridges below it. */
#define MAX_HOT_RESET_DEPS 4096

ASSIGN_EXPORT int assign_device_reset(struct assign_device *dev)
{
	int r;

	if (!dev)
		return -EINVAL;
	if (!(dev->info.flags & ASSIGN_DEVICE_F_RESET))
		return set_error(dev->ctx, -ENOTTY,
				 "%s has no function reset (no FLR or PM reset, and not alone on its bus); use assign_device_hot_reset()",
				 dev->addr);
	/*
	 * A reset puts MSI/MSI-X/INTx enables back to their defaults in the
	 * device; disable them in vfio first so the kernel's state follows.
	 */
	r = dev_irqs_disable_all(dev, true);
	if (r < 0)
		return r;
	r = sys_ioctl(dev->ctx, dev->att.devfd, VFIO_DEVICE_RESET, NULL);
	if (r < 0) {
		if (r == -ENOTTY || r == -EINVAL)
			return set_error(dev->ctx, -ENOTTY,
					 "the kernel refused VFIO_DEVICE_RESET on %s: %s; use assign_device_hot_reset()",
					 dev->addr, strerror(-r));
		return set_error(dev->ctx, r, "VFIO_DEVICE_RESET on %s failed: %s",
				 dev->addr, strerror(-r));
	}
	dev_irqs_forget(dev);
	dbg(dev->ctx, "%s: reset", dev->addr);
	return 0;
}

/* Read the dependent-device list; *info is malloc'ed. */
static int hot_reset_info(struct assign_device *dev,
			  struct vfio_pci_hot_reset_info **out)
{
	struct vfio_pci_hot_reset_info *hi = NULL;
	uint32_t count = 0;
	int r;

	for (int tries = 0; tries < 4; tries++) {
		size_t sz = sizeof(*hi) + (size_t)count * sizeof(hi->devices[0]);
		struct vfio_pci_hot_reset_info *n = realloc(hi, sz);

		if (!n) {
			free(hi);
			return set_error(dev->ctx, -ENOMEM,
					 "out of memory reading hot reset info of %s",
					 dev->addr);
		}
		hi = n;
		memset(hi, 0, sz);
		hi->argsz = (uint32_t)sz;
		r = sys_ioctl(dev->ctx, dev->att.devfd,
			      VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hi);
		if (r == -ENOSPC) {
			if (hi->count <= count || hi->count > MAX_HOT_RESET_DEPS)
				break;
			count = hi->count;
			continue;
		}
		if (r < 0) {
			free(hi);
			if (r == -ENODEV || r == -ENOTTY || r == -EINVAL)
				return set_error(dev->ctx, -ENOTTY,
						 "%s cannot be hot reset: neither its slot nor its bus can be reset (%s); try assign_device_reset()",
						 dev->addr, strerror(-r));
			return set_error(dev->ctx, r,
					 "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO on %s failed: %s",
					 dev->addr, strerror(-r));
		}
		if (hi->count > count) {
			/* Success yet more entries than room: broken kernel. */
			break;
		}
		*out = hi;
		return 0;
	}
	free(hi);
	return set_error(dev->ctx, -EPROTO,
			 "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO on %s: the kernel's device count does not settle (kernel bug?)",
			 dev->addr);
}

/*
 * The group @gid if it is open on our IOMMU (a new reference), else NULL.
 * A miss is an answer here, not a failure: no error is set.
 */
static struct assign_group *group_lookup(struct assign_device *dev,
					 uint32_t gid)
{
	if (gid > INT32_MAX)
		return NULL;
	return iommu_find_group(dev->iommu, (int)gid);
}

static bool group_owned(struct assign_device *dev, uint32_t gid)
{
	struct assign_group *g;

	if (dev->att.group && (int)gid == dev->att.group_id)
		return true;
	g = group_lookup(dev, gid);
	assign_group_unref(g);
	return g != NULL;
}

/*
 * The driver bound to the affected device @a into @drv ("" for none), and
 * whether it is a vfio one: only those are in the kernel's set of devices
 * a hot reset may reset (vfio_pci_dev_set_resettable()). -1 when sysfs
 * cannot say (then the group decides, and the kernel has the last word).
 */
static int dep_driver(struct assign_device *dev,
		      const struct assign_pci_addr *a, char *drv, size_t size)
{
	char addr[ASSIGN_PCI_ADDR_LEN];

	drv[0] = '\0';
	if (assign_pci_addr_format(a, addr, sizeof(addr)) < 0 ||
	    pci_dev_driver(dev->ctx, addr, drv, size) < 0)
		return -1;
	return pci_driver_kind(drv) == PCI_DRIVER_VFIO;
}

static void fill_dep(struct assign_device *dev, uint32_t hflags,
		     const struct vfio_pci_dependent_device *d,
		     struct assign_reset_dep *out)
{
	char drv[64];

	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->addr.domain = d->segment;
	out->addr.bus = d->bus;
	out->addr.dev = (uint8_t)((d->devfn >> 3) & 0x1f);
	out->addr.fn = (uint8_t)(d->devfn & 7);
	if (hflags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID) {
		out->group_id = -1;
		out->owned = d->devid != (uint32_t)VFIO_PCI_DEVID_NOT_OWNED;
		out->devid = out->owned ? d->devid : 0;
	} else {
		/* Its group open here, and the device bound to vfio-pci: a
		 * device of an open group left without a driver (or on
		 * pci-stub) keeps the group viable but is not the caller's
		 * to reset, and the kernel refuses with -EINVAL. */
		out->group_id = d->group_id > INT32_MAX ? -1 : (int)d->group_id;
		out->devid = 0;
		out->owned = group_owned(dev, d->group_id) &&
			     dep_driver(dev, &out->addr, drv, sizeof(drv)) != 0;
	}
}

ASSIGN_EXPORT int assign_device_get_hot_reset_deps(struct assign_device *dev,
						   struct assign_reset_dep *deps,
						   size_t max, size_t *n)
{
	struct vfio_pci_hot_reset_info *hi;
	size_t stride;
	int r;

	if (!dev)
		return -EINVAL;
	if (!n || (max && !deps))
		return set_error(dev->ctx, -EINVAL,
				 "assign_device_get_hot_reset_deps: %s is NULL",
				 !n ? "n" : "deps");
	r = sized_array_stride(dev->ctx, deps, max, "assign_reset_dep",
			       &stride);
	if (r < 0)
		return r;
	if (!(dev->info.flags & ASSIGN_DEVICE_F_PCI))
		return set_error(dev->ctx, -ENOTTY,
				 "%s is not a PCI device: no hot reset",
				 dev->addr);
	r = hot_reset_info(dev, &hi);
	if (r < 0)
		return r;
	for (size_t i = 0; i < hi->count && i < max; i++) {
		struct assign_reset_dep d, *out = sized_elem(deps, stride, i);

		fill_dep(dev, hi->flags, &hi->devices[i], &d);
		out->size = stride;
		sized_out_fill(out, &d, sizeof(d));
	}
	*n = hi->count;
	free(hi);
	return 0;
}

/* Append @d to @buf, the list of affected devices not open, while it
 * fits, with its group and driver (@drv, "" for none, NULL unknown). */
static void missing_add(char *buf, size_t size, size_t *len,
			const struct assign_reset_dep *d, const char *drv)
{
	char a[ASSIGN_PCI_ADDR_LEN], grp[24] = "", how[80] = "";
	int w;

	if (assign_pci_addr_format(&d->addr, a, sizeof(a)) < 0)
		strcpy(a, "?");
	if (*len >= size - 1)
		return;
	if (d->group_id >= 0)
		snprintf(grp, sizeof(grp), "group %d", d->group_id);
	if (drv)
		snprintf(how, sizeof(how), "%s%s%s", grp[0] ? ", " : "",
			 drv[0] ? "bound to " : "no driver", drv);
	if (grp[0] || how[0])
		w = snprintf(buf + *len, size - *len, "%s%s (%s%s)",
			     *len ? ", " : "", a, grp, how);
	else
		w = snprintf(buf + *len, size - *len, "%s%s", *len ? ", " : "",
			     a);
	if (w > 0)
		*len = MIN(*len + (size_t)w, size - 1);
}

/* A hot reset resets every affected device: all of them must be bound to
 * vfio-pci and open on @dev's IOMMU object, else -EPERM naming those that
 * are not. */
static int hot_reset_check_owned(struct assign_device *dev,
				 const struct vfio_pci_hot_reset_info *hi)
{
	char missing[320] = "", drv[64];
	size_t nmissing = 0, mlen = 0;
	bool unbound = false;

	for (uint32_t i = 0; i < hi->count; i++) {
		struct assign_reset_dep d;
		int vfio;

		fill_dep(dev, hi->flags, &hi->devices[i], &d);
		if (d.owned)
			continue;
		nmissing++;
		vfio = dep_driver(dev, &d.addr, drv, sizeof(drv));
		if (vfio == 0)
			unbound = true;
		missing_add(missing, sizeof(missing), &mlen, &d,
			    vfio < 0 ? NULL : drv);
	}
	if (!nmissing)
		return 0;
	return set_error(dev->ctx, -EPERM,
			 "hot reset of %s would also reset %zu device(s) not "
			 "open on the same IOMMU object: %s; %sopen them with "
			 "assign_device_open() on it first",
			 dev->addr, nmissing, missing,
			 unbound ? "bind them to vfio-pci (assign-host bind "
				   "ADDRESS) and " :
				   "");
}

/* The group fds a type1 hot reset proves ownership with, and the
 * references that keep them open meanwhile. */
struct reset_groups {
	struct assign_group **groups; /* references held */
	size_t ngroups;
	int *fds;
	size_t nfds;
};

static void reset_groups_release(struct reset_groups *rg)
{
	for (size_t i = 0; i < rg->ngroups; i++)
		assign_group_unref(rg->groups[i]);
	free(rg->groups);
	free(rg->fds);
}

/* Whether an earlier affected device than @i is in the same group. */
static bool group_listed_before(const struct vfio_pci_hot_reset_info *hi,
				uint32_t i)
{
	for (uint32_t k = 0; k < i; k++)
		if (hi->devices[k].group_id == hi->devices[i].group_id)
			return true;
	return false;
}

/*
 * type1: one fd per affected group as proof of ownership, and only those
 * (the kernel refuses more fds than affected devices).
 */
static int hot_reset_group_fds(struct assign_device *dev,
			       const struct vfio_pci_hot_reset_info *hi,
			       struct reset_groups *rg)
{
	size_t room = hi->count ? hi->count : 1;

	rg->groups = calloc(room, sizeof(*rg->groups));
	rg->fds = calloc(room, sizeof(*rg->fds));
	if (!rg->groups || !rg->fds)
		return set_error(dev->ctx, -ENOMEM,
				 "out of memory for a hot reset of %s",
				 dev->addr);
	for (uint32_t i = 0; i < hi->count; i++) {
		uint32_t gid = hi->devices[i].group_id;
		struct assign_group *g;

		if (group_listed_before(hi, i))
			continue;
		if (dev->att.group && (int)gid == dev->att.group_id) {
			rg->fds[rg->nfds++] =
				assign_group_get_fd(dev->att.group);
			continue;
		}
		g = group_lookup(dev, gid);
		if (!g)
			/* Closed since the check: say so. */
			return set_error(
				dev->ctx, -EPERM,
				"hot reset of %s: group %u is no longer open on its IOMMU object; open a device of it first",
				dev->addr, gid);
		rg->groups[rg->ngroups++] = g;
		rg->fds[rg->nfds++] = assign_group_get_fd(g);
	}
	return 0;
}

/* VFIO_DEVICE_PCI_HOT_RESET with @nfds group fds; *ret is malloc'ed. */
static int hot_reset_request(struct assign_device *dev, const int *fds,
			     size_t nfds, struct vfio_pci_hot_reset **ret)
{
	struct vfio_pci_hot_reset *hr;
	size_t sz = sizeof(*hr) + nfds * sizeof(hr->group_fds[0]);

	hr = calloc(1, sz);
	if (!hr)
		return set_error(dev->ctx, -ENOMEM,
				 "out of memory for a hot reset of %s",
				 dev->addr);
	hr->argsz = (uint32_t)sz;
	hr->count = (uint32_t)nfds;
	for (size_t i = 0; i < nfds; i++)
		hr->group_fds[i] = fds[i];
	*ret = hr;
	return 0;
}

static int hot_reset_do(struct assign_device *dev,
			struct vfio_pci_hot_reset *hr)
{
	int r;

	r = dev_irqs_disable_all(dev, true);
	if (r < 0)
		return r;
	r = sys_ioctl(dev->ctx, dev->att.devfd, VFIO_DEVICE_PCI_HOT_RESET, hr);
	if (r == -ENODEV || r == -ENOTTY)
		return set_error(dev->ctx, -ENOTTY,
				 "%s cannot be hot reset: %s", dev->addr,
				 strerror(-r));
	if (r < 0)
		return set_error(
			dev->ctx, r,
			"VFIO_DEVICE_PCI_HOT_RESET on %s failed: %s%s",
			dev->addr, strerror(-r),
			r == -EINVAL ?
				" (an affected device is not owned through this IOMMU object?)" :
				"");
	dev_irqs_forget(dev);
	dbg(dev->ctx, "%s: hot reset", dev->addr);
	return 0;
}

ASSIGN_EXPORT int assign_device_hot_reset(struct assign_device *dev)
{
	struct vfio_pci_hot_reset_info *hi;
	struct vfio_pci_hot_reset *hr = NULL;
	struct reset_groups rg = { 0 };
	int r;

	if (!dev)
		return -EINVAL;
	if (!(dev->info.flags & ASSIGN_DEVICE_F_PCI))
		return set_error(dev->ctx, -ENOTTY,
				 "%s is not a PCI device: no hot reset",
				 dev->addr);
	r = hot_reset_info(dev, &hi);
	if (r < 0)
		return r;
	r = hot_reset_check_owned(dev, hi);
	/* iommufd (DEV_ID): the zero-length form, ownership is the
	 * iommufd's. */
	if (r == 0 && !(hi->flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID))
		r = hot_reset_group_fds(dev, hi, &rg);
	if (r == 0)
		r = hot_reset_request(dev, rg.fds, rg.nfds, &hr);
	if (r == 0)
		r = hot_reset_do(dev, hr);
	reset_groups_release(&rg);
	free(hr);
	free(hi);
	return r;
}
