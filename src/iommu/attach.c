// SPDX-License-Identifier: MIT
/*
 * Attaching devices to an IOMMU object (iommu/iommu.h): the checks that
 * explain why a device cannot be opened, in the order of the causes (a
 * bridge, which VFIO never assigns; VFIO missing; no IOMMU group; a
 * driver other than VFIO's), the backend choice of AUTO, and the attach
 * and detach through the backend. Devices come by sysfs location (any
 * bus), by a cdev fd the caller handed over, or by name from a handoff.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sys.h"
#include "iommu/iommu.h"

/* ---------------------------------------------------------------------- */
/* The checks */

/* A PCI bridge, host bridge included (class 0x06xxxx): VFIO has nothing
 * to give a guest there, and telling anyone to bind one to vfio-pci is
 * wrong advice. */
static int refuse_bridge(struct assign_ctx *ctx, const struct devpath *loc)
{
	char path[DEVPATH_DIR_MAX + 8];
	uint64_t cls;

	if (strcmp(loc->bus, "pci"))
		return 0;
	snprintf(path, sizeof(path), "%s/class", loc->dir);
	if (sysfs_read_u64(ctx, path, &cls) < 0 || (cls >> 16) != 0x06)
		return 0;
	return set_error(ctx, -ENODEV,
			 "%s is a %s (class 0x%06" PRIx64
			 "): VFIO does not assign bridges; assign the "
			 "devices behind it instead",
			 loc->name,
			 ((cls >> 8) & 0xff) == 0x00 ? "host bridge" :
			 ((cls >> 8) & 0xff) == 0x04 ? "PCI-to-PCI bridge" :
						       "bridge",
			 cls);
}

/* AUTO before its choice: is there any VFIO at all? An open that is
 * refused (EACCES) still says the node exists. */
static int vfio_present(struct assign_iommu *iommu)
{
	static const char *const nodes[] = { "/dev/vfio/vfio", "/dev/iommu" };
	struct assign_ctx *ctx = iommu->ctx;

	if (iommu->ops)
		return 0; /* the backend's fd was opened */
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		int fd = sys_open(ctx, nodes[i], O_RDWR);

		if (fd >= 0) {
			sys_close(ctx, fd);
			return 0;
		}
		if (fd != -ENOENT && fd != -ENODEV && fd != -ENXIO)
			return 0;
	}
	return set_error(ctx, -ENOENT,
			 "VFIO is not available on this host: neither "
			 "/dev/vfio/vfio nor /dev/iommu exists; load vfio-pci "
			 "(modprobe vfio-pci) on a kernel built with "
			 "CONFIG_VFIO");
}

/* The IOMMU group of the device at @loc into *gid (-1 when none). A device
 * without one cannot be isolated: that comes before its driver, which
 * cannot fix it. No-IOMMU mode makes the group when vfio-pci binds the
 * device, so there a missing group waits for the driver check. */
static int read_group(struct assign_iommu *iommu, const struct devpath *loc,
		      int *gid)
{
	struct assign_ctx *ctx = iommu->ctx;
	char path[DEVPATH_DIR_MAX + 16], name[32], *end;
	long v;
	int r;

	*gid = -1;
	snprintf(path, sizeof(path), "%s/iommu_group", loc->dir);
	r = sysfs_link_name(ctx, path, name, sizeof(name));
	if (r == 0) {
		v = strtol(name, &end, 10);
		if (end == name || *end || v < 0 || v > INT32_MAX)
			return set_error(ctx, -EIO,
					 "/sys/%s names group \"%s\", not a "
					 "number",
					 path, name);
		*gid = (int)v;
		return 0;
	}
	if (r != -ENOENT)
		return set_error(ctx, r,
				 "cannot read the IOMMU group of %s: %s",
				 loc->name, strerror(-r));
	if (iommu_is_noiommu(iommu))
		return 0;
	return set_error(ctx, -ENODEV,
			 "%s has no IOMMU group: the IOMMU is off or absent; "
			 "enable it (VT-d/AMD-Vi in firmware, intel_iommu=on "
			 "or amd_iommu=on), or, with no isolation at all, use "
			 "no-IOMMU mode",
			 loc->name);
}

/* The driver of the device at @loc into @drv ("" when none). */
static int read_driver(struct assign_ctx *ctx, const struct devpath *loc,
		       char *drv, size_t size)
{
	char path[DEVPATH_DIR_MAX + 16];
	int r;

	snprintf(path, sizeof(path), "%s/driver", loc->dir);
	r = sysfs_link_name(ctx, path, drv, size);
	if (r == -ENOENT) {
		drv[0] = '\0';
		return 0;
	}
	if (r < 0)
		return set_error(ctx, -ENODEV,
				 "cannot read the driver of %s: %s", loc->name,
				 strerror(-r));
	return 0;
}

/* The parent of an mdev: the directory its own lies in. */
static const char *mdev_parent(const struct devpath *loc, char *buf,
			       size_t size)
{
	const char *end = strrchr(loc->dir, '/'), *start = end;

	while (start && start > loc->dir && start[-1] != '/')
		start--;
	if (!end || !start || (size_t)(end - start) >= size)
		return "its parent";
	memcpy(buf, start, (size_t)(end - start));
	buf[end - start] = '\0';
	return buf;
}

/* The device must be bound to a VFIO driver: vfio-pci (or a variant) for
 * PCI; for an mdev, its parent's driver registers it with VFIO; for a
 * platform device, vfio-platform or vfio-amba. */
static int check_bound(struct assign_ctx *ctx, const struct devpath *loc)
{
	char drv[64], parent[64];
	int r;

	r = read_driver(ctx, loc, drv, sizeof(drv));
	if (r < 0)
		return r;
	if (!strcmp(loc->bus, "pci")) {
		if (pci_driver_kind(drv) == PCI_DRIVER_VFIO)
			return 0;
		if (!drv[0])
			return set_error(ctx, -ENODEV,
					 "%s is not bound to any driver; bind "
					 "it to vfio-pci: assign-host bind %s",
					 loc->name, loc->name);
		return set_error(ctx, -ENODEV,
				 "%s is bound to %s, not vfio-pci; bind it to "
				 "vfio-pci: assign-host bind %s",
				 loc->name, drv, loc->name);
	}
	if (!strcmp(loc->bus, "mdev")) {
		if (drv[0])
			return 0;
		return set_error(ctx, -ENODEV,
				 "mdev %s has no driver: the driver of %s, "
				 "which makes it a VFIO device, is not loaded",
				 loc->name,
				 mdev_parent(loc, parent, sizeof(parent)));
	}
	if (!strncmp(drv, "vfio", 4))
		return 0;
	if (!strcmp(loc->bus, "platform"))
		return set_error(ctx, -ENODEV,
				 "%s is %s%s, not vfio-platform; bind it: echo "
				 "vfio-platform > /sys/bus/platform/devices/%s/"
				 "driver_override, unbind its driver and echo "
				 "%s > /sys/bus/platform/drivers_probe",
				 loc->name, drv[0] ? "bound to " : "unbound",
				 drv, loc->name, loc->name);
	return set_error(ctx, -ENODEV, "%s (bus %s) is %s%s, not a VFIO driver",
			 loc->name, loc->bus, drv[0] ? "bound to " : "unbound",
			 drv);
}

/* 1 if the device in @dir has a vfio cdev, 0 if not, -errno if sysfs
 * cannot say. */
static int has_cdev(struct assign_ctx *ctx, const char *dir)
{
	char name[NAME_MAX + 1];
	int r;

	r = iommu_vfio_cdev(ctx, dir, name, sizeof(name));
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : 1;
}

/* AUTO: iommufd when /dev/iommu opens and the device has a vfio cdev (or
 * is one, handed over). */
static int choose_backend(struct assign_iommu *iommu,
			  const struct iommu_dev_req *req)
{
	struct assign_ctx *ctx = iommu->ctx;
	const struct iommu_backend *ops = &iommu_backend_type1;
	int fd, r;

	fd = sys_open(ctx, "/dev/iommu", O_RDWR);
	if (fd >= 0) {
		sys_close(ctx, fd);
		r = req->fd >= 0 ? 1 : has_cdev(ctx, req->loc.dir);
		if (r > 0)
			ops = &iommu_backend_iommufd;
		else if (r == 0)
			dbg(ctx, "%s has no vfio cdev, using type1",
			    req->loc.name);
		else
			warn(ctx,
			     "cannot list %s's vfio cdevs (%s), using type1",
			     req->loc.name, strerror(-r));
	} else {
		dbg(ctx, "/dev/iommu: %s, using type1", strerror(-fd));
	}
	if (req->fd >= 0 && ops != &iommu_backend_iommufd)
		return set_error(ctx, -ENOENT,
				 "a vfio cdev fd needs iommufd, and /dev/iommu "
				 "cannot be opened (%s): hand over the iommufd "
				 "too (assign_iommu_new_from_fd())",
				 strerror(-fd));
	iommu->ops = ops;
	r = ops->open(iommu);
	if (r < 0) {
		iommu->ops = NULL;
		return r;
	}
	iommu_set_max_mappings(iommu);
	info(ctx, "IOMMU backend chosen for %s: %s", req->loc.name, ops->name);
	return 0;
}

/* Everything that can be told from sysfs before a VFIO node is opened, in
 * the order of the causes; *gid gets the device's group. */
int iommu_check_device(struct assign_iommu *iommu,
		       const struct iommu_dev_req *req, int *gid)
{
	struct assign_ctx *ctx = iommu->ctx;
	int r;

	r = refuse_bridge(ctx, &req->loc);
	if (r == 0)
		r = vfio_present(iommu);
	if (r == 0)
		r = read_group(iommu, &req->loc, gid);
	if (r == 0)
		r = check_bound(ctx, &req->loc);
	if (r == 0 && *gid < 0) /* no-IOMMU, bound, still no group */
		r = set_error(ctx, -ENODEV,
			      "%s has no IOMMU group although it is bound to "
			      "VFIO: VFIO's no-IOMMU mode was off when it was "
			      "bound; load vfio with "
			      "enable_unsafe_noiommu_mode=1 and bind it again",
			      req->loc.name);
	return r;
}

/* ---------------------------------------------------------------------- */
/* VF tokens */

/* Read link @name of the device at @loc into @buf: 0, or -errno. */
static int dev_link(struct assign_ctx *ctx, const struct devpath *loc,
		    const char *name, char *buf, size_t size)
{
	char path[DEVPATH_DIR_MAX + 32];

	if (!loc->dir[0])
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/%s", loc->dir, name);
	return sysfs_link_name(ctx, path, buf, size);
}

int iommu_vf_token_error(struct assign_iommu *iommu,
			 const struct iommu_dev_req *req, int err)
{
	struct assign_ctx *ctx = iommu->ctx;
	const char *name = req->loc.name;
	char pf[DEVPATH_NAME_MAX], drv[64], path[DEVPATH_DIR_MAX + 32];
	bool is_vf, is_pf;

	if (err != -EACCES && !(err == -EINVAL && req->has_token))
		return 0;
	is_vf = dev_link(ctx, &req->loc, "physfn", pf, sizeof(pf)) == 0;
	snprintf(path, sizeof(path), "%s/sriov_totalvfs", req->loc.dir);
	is_pf = !is_vf && req->loc.dir[0] && sysfs_exists(ctx, path) == 0;
	if (err == -EINVAL) {
		if (is_vf) {
			char pdir[DEVPATH_DIR_MAX + 64];

			snprintf(pdir, sizeof(pdir),
				 "bus/pci/devices/%s/driver", pf);
			if (sysfs_link_name(ctx, pdir, drv, sizeof(drv)) < 0)
				strcpy(drv, "no driver");
			return set_error(ctx, -EINVAL,
					 "%s takes no VF token: its PF %s is "
					 "not driven through vfio-pci (%s); "
					 "open it without one",
					 name, pf, drv);
		}
		return set_error(ctx, -EINVAL,
				 "%s takes no VF token: it is neither a VF "
				 "whose PF is driven through vfio-pci nor "
				 "such a PF; open it without one",
				 name);
	}
	if (is_vf)
		return set_error(ctx, -EACCES,
				 req->has_token ?
					 "the VF token given for %s is not "
					 "the one its PF %s was given; ask "
					 "the PF's owner for it" :
					 "%s is a VF whose PF %s is driven "
					 "through vfio-pci: opening it needs "
					 "the VF token the PF's owner set "
					 "(assign_device_opts.vf_token)",
				 name, pf);
	if (is_pf)
		return set_error(ctx, -EACCES,
				 req->has_token ?
					 "the VF token given for %s is not "
					 "the one its VFs in use were opened "
					 "with" :
					 "%s has VFs in use through VFIO: "
					 "opening the PF again needs the VF "
					 "token they were opened with",
				 name);
	return set_error(ctx, -EACCES,
			 req->has_token ?
				 "the VF token given for %s is wrong" :
				 "%s needs a VF token (a VF of a PF driven "
				 "through vfio-pci, or such a PF with VFs in "
				 "use): pass it in assign_device_opts.vf_token",
			 name);
}

/* ---------------------------------------------------------------------- */
/* Attach and detach */

/* The backend attaches; the geometry is read again with the new device,
 * and the device is detached if that fails. */
static int attach_and_refresh(struct assign_iommu *iommu,
			      const struct iommu_dev_req *req,
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

	r = iommu->ops->attach(iommu, req, att);
	if (r < 0)
		return r;
	iommu->dev_groups[iommu->ndevices] = att->group_id;
	iommu->dev_ids[iommu->ndevices] = att->devid;
	r = iommu_refresh_geometry(iommu, iommu->dev_groups,
				   iommu->ndevices + 1);
	if (r < 0) {
		char msg[ASSIGN_ERROR_MAX];
		int fd = req->fd;

		assign_error_save(ctx, msg);
		/* A handed fd stays the caller's: do not close it. */
		if (fd >= 0 && att->devfd == fd)
			att->devfd = -1;
		iommu->ops->detach(iommu, att);
		assign_error_restore(ctx, msg);
		return r;
	}
	iommu->ndevices++;
	return 0;
}

/* The group of a device whose fd was handed over: from sysfs when it
 * can say, else unknown (the iommufd backend needs none). */
static int handed_group(struct assign_iommu *iommu,
			const struct iommu_dev_req *req)
{
	char path[DEVPATH_DIR_MAX + 16], name[32];

	if (!req->loc.dir[0])
		return -1;
	snprintf(path, sizeof(path), "%s/iommu_group", req->loc.dir);
	if (sysfs_link_name(iommu->ctx, path, name, sizeof(name)) < 0)
		return -1;
	return atoi(name);
}

int iommu_attach(struct assign_iommu *iommu, const struct iommu_dev_req *req,
		 struct assign_attach *out)
{
	struct assign_attach att = { .devfd = -1, .group_id = -1 };
	struct assign_ctx *ctx;
	int r;

	if (!iommu || !req || !out)
		return -EINVAL;
	ctx = iommu->ctx;
	if (req->fd >= 0) {
		/* The caller opened it: no sysfs check can add anything the
		 * bind will not say, and sysfs may not be there. */
		att.group_id = handed_group(iommu, req);
		if (!iommu->ops) {
			r = choose_backend(iommu, req);
			if (r < 0)
				return r;
		}
	} else if (req->loc.dir[0]) {
		r = iommu_check_device(iommu, req, &att.group_id);
		if (r < 0)
			return r;
		if (!iommu->ops) {
			r = choose_backend(iommu, req);
			if (r < 0)
				return r;
		}
	} else {
		/* A device of a handoff: its group came with it. */
		struct devpath loc = req->loc;

		if (!iommu_handed_lookup(iommu, &loc))
			return set_error(ctx, -ENODEV, "%s was not handed over",
					 loc.name);
		for (size_t i = 0; i < iommu->nhanded; i++)
			if (!strcmp(iommu->handed[i].name, loc.name))
				att.group_id = iommu->handed[i].group;
	}
	if (iommu->ops->kind != ASSIGN_IOMMU_IOMMUFD && att.group_id < 0)
		return set_error(ctx, -ENODEV,
				 "%s has no IOMMU group; enable the IOMMU or "
				 "use no-IOMMU mode",
				 req->loc.name);
	r = attach_and_refresh(iommu, req, &att);
	if (r < 0)
		return r;
	if (iommu_is_noiommu(iommu))
		warn(ctx,
		     "%s opened in no-IOMMU mode: it can DMA anywhere in "
		     "host memory",
		     req->loc.name);
	*out = att;
	return 0;
}

int iommu_handed_lookup(const struct assign_iommu *iommu, struct devpath *loc)
{
	for (size_t i = 0; iommu && i < iommu->nhanded; i++) {
		if (strcmp(iommu->handed[i].name, loc->name))
			continue;
		memcpy(loc->bus, iommu->handed[i].bus, sizeof(loc->bus));
		loc->dir[0] = '\0';
		return 1;
	}
	return 0;
}

int iommu_attach_device(struct assign_iommu *iommu, const char *spec,
			struct assign_attach *out)
{
	struct iommu_dev_req req = { .fd = -1 };
	const char *why;
	int r;

	if (!iommu || !spec || !out)
		return -EINVAL;
	/* A device handed over by name needs no sysfs. */
	if (iommu->nhanded && devpath_parse(spec, &req.loc, &why) == 0 &&
	    iommu_handed_lookup(iommu, &req.loc))
		return iommu_attach(iommu, &req, out);
	r = devpath_locate(iommu->ctx, spec, &req.loc);
	if (r < 0)
		return r;
	return iommu_attach(iommu, &req, out);
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
