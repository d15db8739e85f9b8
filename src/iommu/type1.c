// SPDX-License-Identifier: MIT
/*
 * The VFIO type1 backend (a /dev/vfio/vfio container with /dev/vfio/N
 * groups) and its no-IOMMU variant (VFIO_NOIOMMU_IOMMU with
 * /dev/vfio/noiommu-N groups), plus the public assign_group_* functions.
 *
 * A group is opened when the first of its devices is attached, checked for
 * viability, added to the container; the first group also sets the IOMMU
 * type (TYPE1v2 preferred, else TYPE1). The group object is reference
 * counted: one reference per attached device plus the caller's own. When
 * the last reference goes, the group leaves the container; when the last
 * group leaves, the kernel drops the container's IOMMU and every mapping in
 * it, so the library unmaps its mappings first and forgets the geometry.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "iommu/iommu.h"

#define VFIO_CONTAINER_PATH "/dev/vfio/vfio"

static int check_ext(struct assign_iommu *iommu, unsigned long ext)
{
	return sys_ioctl(iommu->ctx, iommu->fd, VFIO_CHECK_EXTENSION,
			 (void *)(uintptr_t)ext);
}

/* The container in iommu->fd speaks our API version (and, for no-IOMMU,
 * offers it). On failure iommu->fd is left to the caller. */
int type1_setup(struct assign_iommu *iommu)
{
	struct assign_ctx *ctx = iommu->ctx;
	int fd = iommu->fd, r;

	r = sys_ioctl(ctx, fd, VFIO_GET_API_VERSION, NULL);
	if (r < 0)
		return set_error(ctx, r,
				 "VFIO_GET_API_VERSION on %s failed: %s",
				 VFIO_CONTAINER_PATH, strerror(-r));
	if (r != VFIO_API_VERSION)
		return set_error(ctx, -EPROTO,
				 "%s speaks VFIO API version %d, this library "
				 "knows version %d",
				 VFIO_CONTAINER_PATH, r, VFIO_API_VERSION);
	if (iommu_is_noiommu(iommu)) {
		r = check_ext(iommu, VFIO_NOIOMMU_IOMMU);
		if (r <= 0)
			return set_error(ctx, -ENOENT,
					 "VFIO no-IOMMU mode is not enabled: "
					 "load vfio with "
					 "enable_unsafe_noiommu_mode=1 (kernel "
					 "built with CONFIG_VFIO_NOIOMMU)");
	}
	return 0;
}

static int type1_open(struct assign_iommu *iommu)
{
	struct assign_ctx *ctx = iommu->ctx;
	int fd, r;

	fd = sys_open(ctx, VFIO_CONTAINER_PATH, O_RDWR);
	if (fd == -ENOENT || fd == -ENODEV || fd == -ENXIO)
		return set_error(ctx, -ENOENT,
				 "%s does not exist: load the VFIO modules "
				 "(modprobe vfio-pci) or build the kernel with "
				 "CONFIG_VFIO",
				 VFIO_CONTAINER_PATH);
	if (fd == -EACCES || fd == -EPERM)
		return set_error(ctx, -EACCES,
				 "permission denied opening %s: run as root or "
				 "grant access to it with a udev rule",
				 VFIO_CONTAINER_PATH);
	if (fd < 0)
		return set_error(ctx, fd, "cannot open %s: %s",
				 VFIO_CONTAINER_PATH, strerror(-fd));
	iommu->fd = fd;
	r = type1_setup(iommu);
	if (r < 0) {
		sys_close(ctx, fd);
		iommu->fd = -1;
	}
	return r;
}

static void type1_close(struct assign_iommu *iommu)
{
	sys_close(iommu->ctx, iommu->fd);
	iommu->fd = -1;
}

/* ---------------------------------------------------------------------- */
/* Groups */

/* "group 7 is not viable: 0000:00:1f.3 is bound to i801_smbus; bind it to
 * vfio-pci or unbind it". With @only_if_found, returns 0 and sets nothing
 * when no device of the group is bound to a blocking driver. */
int iommu_not_viable_error(struct assign_iommu *iommu, int gid,
			   bool only_if_found)
{
	struct assign_ctx *ctx = iommu->ctx;
	char path[128], drv[64], list[320];
	char **names = NULL;
	size_t n = 0, nbad = 0, off = 0;
	int r;

	snprintf(path, sizeof(path), "kernel/iommu_groups/%d/devices", gid);
	r = sysfs_list(ctx, path, &names, &n);
	if (r < 0 && only_if_found)
		return 0;
	if (r < 0)
		return set_error(ctx, -EBUSY,
				 "group %d is not viable: some device in it is "
				 "bound to a host driver (cannot list /sys/%s: "
				 "%s); bind every device of the group to "
				 "vfio-pci or unbind it",
				 gid, path, strerror(-r));
	list[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char dpath[192];

		snprintf(dpath, sizeof(dpath),
			 "kernel/iommu_groups/%d/devices/%s/driver", gid,
			 names[i]);
		if (sysfs_link_name(ctx, dpath, drv, sizeof(drv)) < 0)
			drv[0] = '\0';
		if (pci_driver_kind(drv) != PCI_DRIVER_HOST)
			continue;
		if (off < sizeof(list)) {
			int k = snprintf(list + off, sizeof(list) - off,
					 "%s%s is bound to %s",
					 nbad ? ", " : "", names[i], drv);
			if (k > 0)
				off += (size_t)k;
		}
		nbad++;
	}
	strv_free(names, n);
	if (!nbad && only_if_found)
		return 0;
	if (!nbad)
		return set_error(ctx, -EBUSY,
				 "group %d is not viable: a device in it is "
				 "used by a host driver; bind every device in "
				 "/sys/kernel/iommu_groups/%d/devices to "
				 "vfio-pci or unbind it",
				 gid, gid);
	return set_error(ctx, -EBUSY,
			 "group %d is not viable: %s; bind %s to vfio-pci or "
			 "unbind %s",
			 gid, list, nbad > 1 ? "them" : "it",
			 nbad > 1 ? "them" : "it");
}

static int unsafe_interrupts_error(struct assign_iommu *iommu, int gid)
{
	return set_error(iommu->ctx, -EPERM,
			 "group %d refused by vfio_iommu_type1: its interrupts "
			 "are not remapped (no MSI isolation), so the device "
			 "could inject host interrupts; enable interrupt "
			 "remapping (intremap=on, x2APIC/IR in firmware) or, "
			 "accepting the risk, load vfio_iommu_type1 with "
			 "allow_unsafe_interrupts=1",
			 gid);
}

static int choose_type(struct assign_iommu *iommu, int gid)
{
	int r;

	if (iommu_is_noiommu(iommu))
		return VFIO_NOIOMMU_IOMMU;
	r = check_ext(iommu, VFIO_TYPE1v2_IOMMU);
	if (r > 0)
		return VFIO_TYPE1v2_IOMMU;
	/* Only "0: not offered" may fall back to type1 v1 (other unmap
	 * rules): an error is no answer. */
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "VFIO_CHECK_EXTENSION(TYPE1v2) on the container "
				 "of group %d failed: %s",
				 gid, strerror(-r));
	r = check_ext(iommu, VFIO_TYPE1_IOMMU);
	if (r > 0)
		return VFIO_TYPE1_IOMMU;
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "VFIO_CHECK_EXTENSION(TYPE1) on the container "
				 "of group %d failed: %s",
				 gid, strerror(-r));
	return set_error(iommu->ctx, -ENOENT,
			 "the kernel offers no type1 IOMMU for group %d: "
			 "modprobe vfio_iommu_type1 (CONFIG_VFIO_IOMMU_TYPE1)",
			 gid);
}

static const char *type1_name(int type)
{
	switch (type) {
	case VFIO_TYPE1v2_IOMMU:
		return "TYPE1v2";
	case VFIO_TYPE1_IOMMU:
		return "TYPE1";
	default:
		return "NOIOMMU";
	}
}

/* The first group of a container sets its IOMMU type. */
static int container_set_iommu(struct assign_iommu *iommu, int gid)
{
	int type, r;

	type = choose_type(iommu, gid);
	if (type < 0)
		return type;
	r = sys_ioctl(iommu->ctx, iommu->fd, VFIO_SET_IOMMU,
		      (void *)(uintptr_t)type);
	if (r == -EPERM && type != VFIO_NOIOMMU_IOMMU)
		return unsafe_interrupts_error(iommu, gid);
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "VFIO_SET_IOMMU(%s) for group %d failed: %s",
				 type1_name(type), gid, strerror(-r));
	dbg(iommu->ctx, "container IOMMU type %d set with group %d", type, gid);
	return 0;
}

/* A group object for @gid, with room for it in iommu->groups. */
static int group_alloc(struct assign_iommu *iommu, int gid,
		       struct assign_group **ret)
{
	struct assign_group *g, **ng;

	ng = realloc(iommu->groups, (iommu->ngroups + 1) * sizeof(*ng));
	if (!ng)
		return set_error(iommu->ctx, -ENOMEM, "out of memory");
	iommu->groups = ng;
	g = calloc(1, sizeof(*g));
	if (!g)
		return set_error(iommu->ctx, -ENOMEM, "out of memory");
	g->refcount = 1;
	g->id = gid;
	g->fd = -1;
	*ret = g;
	return 0;
}

/* Open the group's device node @path. */
static int group_open_node(struct assign_iommu *iommu, struct assign_group *g,
			   const char *path)
{
	struct assign_ctx *ctx = iommu->ctx;
	int r;

	r = sys_open(ctx, path, O_RDWR);
	if (r >= 0) {
		g->fd = r;
		return 0;
	}
	switch (r) {
	case -ENOENT:
		return set_error(ctx, r,
				 "%s does not exist: is the device bound to "
				 "vfio-pci%s?",
				 path,
				 iommu_is_noiommu(iommu) ?
					 " with no-IOMMU mode enabled" :
					 "");
	case -EACCES:
	case -EPERM:
		return set_error(ctx, -EACCES,
				 "permission denied opening %s: run as "
				 "root or give the user access to it "
				 "(udev rule, chown)",
				 path);
	case -EBUSY:
		return set_error(ctx, r,
				 "%s is busy: group %d is already open in "
				 "another process or container (or its "
				 "devices are bound to iommufd)",
				 path, g->id);
	default:
		return set_error(ctx, r, "cannot open %s: %s", path,
				 strerror(-r));
	}
}

/* The group must be viable and in no container yet. */
static int group_check_status(struct assign_iommu *iommu,
			      struct assign_group *g, const char *path)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int r;

	r = sys_ioctl(iommu->ctx, g->fd, VFIO_GROUP_GET_STATUS, &st);
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "VFIO_GROUP_GET_STATUS on %s failed: %s", path,
				 strerror(-r));
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		return iommu_not_viable_error(iommu, g->id, false);
	if (st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET)
		return set_error(iommu->ctx, -EBUSY,
				 "group %d is already in a container: whoever "
				 "opened it added it to one (libassign adds it "
				 "itself: hand the group fd over before "
				 "VFIO_GROUP_SET_CONTAINER)",
				 g->id);
	return 0;
}

static int group_set_container(struct assign_iommu *iommu,
			       struct assign_group *g, bool first)
{
	int r;

	r = sys_ioctl(iommu->ctx, g->fd, VFIO_GROUP_SET_CONTAINER, &iommu->fd);
	if (r >= 0) {
		g->in_container = true;
		return 0;
	}
	if (r == -EPERM && !first)
		return unsafe_interrupts_error(iommu, g->id);
	if (r == -EINVAL && iommu->maps.count)
		/* type1 refuses a group whose reserved regions or IOVA
		 * aperture would cut an existing mapping. */
		return set_error(iommu->ctx, r,
				 "adding group %d to the VFIO container "
				 "failed: its reserved regions or IOVA limits "
				 "conflict with the %zu existing DMA mappings; "
				 "check /sys/kernel/iommu_groups/%d/"
				 "reserved_regions, or open its devices "
				 "before mapping",
				 g->id, iommu->maps.count, g->id);
	return set_error(iommu->ctx, r,
			 "adding group %d to the VFIO container failed: %s",
			 g->id, strerror(-r));
}

/* Undo what group_open() did with @g before it failed. */
static void group_free_failed(struct assign_ctx *ctx, struct assign_group *g)
{
	if (g->in_container)
		sys_ioctl(ctx, g->fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
	if (g->fd >= 0)
		sys_close(ctx, g->fd);
	free(g);
}

static int group_open(struct assign_iommu *iommu, int gid,
		      struct assign_group **ret)
{
	struct assign_group *g = NULL;
	char path[64];
	bool first = iommu->ngroups == 0;
	int r;

	r = group_alloc(iommu, gid, &g);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/dev/vfio/%s%d",
		 iommu_is_noiommu(iommu) ? "noiommu-" : "", gid);
	r = group_open_node(iommu, g, path);
	if (r == 0)
		r = group_check_status(iommu, g, path);
	if (r == 0)
		r = group_set_container(iommu, g, first);
	if (r == 0 && first)
		r = container_set_iommu(iommu, gid);
	if (r < 0) {
		group_free_failed(iommu->ctx, g);
		return r;
	}
	g->iommu = assign_iommu_ref(iommu);
	iommu->groups[iommu->ngroups++] = g;
	*ret = g;
	return 0;
}

int type1_group_adopt(struct assign_iommu *iommu, int fd, int gid,
		      struct assign_group **ret)
{
	struct assign_ctx *ctx = iommu->ctx;
	struct assign_group *g = NULL;
	bool first = iommu->ngroups == 0;
	char what[48];
	int r;

	for (size_t i = 0; i < iommu->ngroups; i++)
		if (iommu->groups[i]->id == gid)
			return set_error(
				ctx, -EEXIST,
				"group %d is open on this IOMMU object "
				"already; fd %d is another fd of it",
				gid, fd);
	r = group_alloc(iommu, gid, &g);
	if (r < 0)
		return r;
	g->fd = fd;
	snprintf(what, sizeof(what), "group fd %d", fd);
	r = group_check_status(iommu, g, what);
	if (r == 0)
		r = group_set_container(iommu, g, first);
	if (r == 0 && first)
		r = container_set_iommu(iommu, gid);
	if (r < 0) {
		/* The fd goes back to the caller as it came. */
		g->fd = -1;
		if (g->in_container)
			sys_ioctl(ctx, fd, VFIO_GROUP_UNSET_CONTAINER, NULL);
		free(g);
		return r;
	}
	g->iommu = assign_iommu_ref(iommu);
	iommu->groups[iommu->ngroups++] = g;
	*ret = g;
	return 0;
}

static void type1_group_release(struct assign_group *g)
{
	struct assign_iommu *iommu = g->iommu;
	struct assign_ctx *ctx = iommu->ctx;
	bool last;

	for (size_t i = 0; i < iommu->ngroups; i++) {
		if (iommu->groups[i] == g) {
			memmove(&iommu->groups[i], &iommu->groups[i + 1],
				(iommu->ngroups - i - 1) * sizeof(g));
			iommu->ngroups--;
			break;
		}
	}
	last = iommu->ngroups == 0;
	if (g->in_container) {
		if (last && iommu->maps.count) {
			/* The kernel drops every mapping with the container's
			 * IOMMU; do it ourselves so the accounting stays
			 * right. */
			notice(ctx, "last group left the container: "
				    "unmapping %zu DMA mappings",
			       iommu->maps.count);
			iommu_unmap_everything(iommu);
		}
		int r = sys_ioctl(ctx, g->fd, VFIO_GROUP_UNSET_CONTAINER,
				  NULL);
		if (r < 0)
			dbg(ctx, "VFIO_GROUP_UNSET_CONTAINER group %d: %s",
			    g->id, strerror(-r));
	}
	sys_close(ctx, g->fd);
	if (last) {
		if (iommu->maps.count) {
			/* Unmapping failed, but the kernel dropped them all
			 * with the container's IOMMU. */
			notice(ctx, "forgetting %zu DMA mappings the kernel "
				    "dropped with the container's IOMMU",
			       iommu->maps.count);
			iommu_forget_mappings(iommu);
		}
		iommu_geometry_invalidate(iommu);
	}
	free(g);
	assign_iommu_unref(iommu);
}

ASSIGN_EXPORT struct assign_group *assign_group_ref(struct assign_group *group)
{
	if (group)
		__atomic_add_fetch(&group->refcount, 1, __ATOMIC_RELAXED);
	return group;
}

ASSIGN_EXPORT struct assign_group *
assign_group_unref(struct assign_group *group)
{
	if (group &&
	    __atomic_sub_fetch(&group->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		type1_group_release(group);
	return NULL;
}

ASSIGN_EXPORT int assign_group_get_id(const struct assign_group *group)
{
	return group ? group->id : -EINVAL;
}

ASSIGN_EXPORT int assign_group_get_fd(const struct assign_group *group)
{
	return group ? group->fd : -EINVAL;
}

/* ---------------------------------------------------------------------- */
/* Devices */

/* The name VFIO_GROUP_GET_DEVICE_FD takes: the device's, and for
 * vfio-pci its VF token ("0000:04:10.0 vf_token=UUID"). */
static void device_fd_name(const struct iommu_dev_req *req, char *buf,
			   size_t size)
{
	char uuid[37];

	if (!req->has_token) {
		snprintf(buf, size, "%s", req->loc.name);
		return;
	}
	devpath_format_uuid(req->token, uuid);
	snprintf(buf, size, "%s vf_token=%s", req->loc.name, uuid);
}

static int type1_attach(struct assign_iommu *iommu,
			const struct iommu_dev_req *req,
			struct assign_attach *out)
{
	struct assign_ctx *ctx = iommu->ctx;
	struct assign_group *g = NULL;
	const char *addr = req->loc.name;
	char name[DEVPATH_NAME_MAX + 48];
	int gid = out->group_id, fd;

	if (req->fd >= 0)
		return set_error(
			ctx, -EINVAL,
			"fd %d is a vfio cdev: it needs the iommufd "
			"backend; with type1, %s is opened through its "
			"group",
			req->fd, addr);

	for (size_t i = 0; i < iommu->ngroups; i++)
		if (iommu->groups[i]->id == gid)
			g = assign_group_ref(iommu->groups[i]);
	if (!g) {
		int hfd = iommu_handed_group_fd(iommu, gid), r;

		/* A group handed over waits for its first device. */
		if (hfd >= 0) {
			r = type1_group_adopt(iommu, hfd, gid, &g);
			if (r == 0)
				iommu_handed_forget(iommu, hfd);
		} else {
			r = group_open(iommu, gid, &g);
		}
		if (r < 0)
			return r;
	}
	device_fd_name(req, name, sizeof(name));
	fd = sys_ioctl(ctx, g->fd, VFIO_GROUP_GET_DEVICE_FD, name);
	if (fd < 0) {
		char msg[ASSIGN_ERROR_MAX];

		switch (fd) {
		case -EACCES:
		case -EINVAL:
			if (iommu_vf_token_error(iommu, req, fd) < 0)
				break;
			set_error(ctx, fd,
				  "VFIO_GROUP_GET_DEVICE_FD for %s (group %d) "
				  "failed: %s",
				  addr, gid, strerror(-fd));
			break;
		case -EBUSY:
			set_error(ctx, fd,
				  "%s is busy: already opened (by this "
				  "process or through its vfio cdev)",
				  addr);
			break;
		case -ENODEV:
			set_error(ctx, fd,
				  "%s is not in group %d or not bound to "
				  "vfio-pci any more",
				  addr, gid);
			break;
		default:
			set_error(ctx, fd,
				  "VFIO_GROUP_GET_DEVICE_FD for %s (group %d) "
				  "failed: %s",
				  addr, gid, strerror(-fd));
		}
		assign_error_save(ctx, msg);
		assign_group_unref(g);
		assign_error_restore(ctx, msg);
		return fd;
	}
	out->devfd = fd;
	out->group = g;
	return 0;
}

static void type1_detach(struct assign_iommu *iommu,
			 struct assign_attach *att)
{
	if (att->devfd >= 0)
		sys_close(iommu->ctx, att->devfd);
	assign_group_unref(att->group);
}

/* ---------------------------------------------------------------------- */
/* Geometry */

static int get_info(const struct assign_iommu *iommu, void **buf, size_t *len)
{
	struct vfio_iommu_type1_info init = { 0 };
	int r;

	r = vfio_info_ioctl(iommu->ctx, iommu->fd, VFIO_IOMMU_GET_INFO, &init,
			    sizeof(init), buf, len);
	if (r < 0)
		return set_error(iommu->ctx, r,
				 "VFIO_IOMMU_GET_INFO on the container failed: "
				 "%s",
				 strerror(-r));
	return 0;
}

/* Offset of capability @id in the type1 info @buf: > 0, -ENOENT when
 * absent, -EPROTO (with a message) when the chain is malformed. */
static int type1_info_cap(const struct assign_iommu *iommu, const void *buf,
			  size_t len, uint16_t id, size_t cap_size)
{
	struct vfio_iommu_type1_info info;
	int off;

	memcpy(&info, buf, sizeof(info));
	if (!(info.flags & VFIO_IOMMU_INFO_CAPS) || !info.cap_offset)
		return -ENOENT;
	off = vfio_cap_find(buf, len, sizeof(info), info.cap_offset, id,
			    cap_size);
	if (off == -EPROTO)
		return set_error(iommu->ctx, -EPROTO,
				 "the kernel's type1 info capability chain is "
				 "malformed");
	return off;
}

/* The IOVA ranges of the capability at @off of the type1 info @buf. */
static int type1_cap_ranges(struct assign_iommu *iommu, const void *buf,
			    size_t len, int off, struct iommu_geometry *g)
{
	struct vfio_iommu_type1_info_cap_iova_range cap;
	const unsigned char *p = (const unsigned char *)buf + off;
	size_t room = len - (size_t)off - sizeof(cap);
	struct assign_iova_range *ranges = NULL;

	memcpy(&cap, p, sizeof(cap));
	if (cap.nr_iovas > room / sizeof(struct vfio_iova_range))
		return set_error(iommu->ctx, -EPROTO,
				 "the kernel's IOVA range capability "
				 "claims %u ranges but has room for %zu",
				 cap.nr_iovas,
				 room / sizeof(struct vfio_iova_range));
	if (cap.nr_iovas) {
		ranges = calloc(cap.nr_iovas, sizeof(*ranges));
		if (!ranges)
			return set_error(iommu->ctx, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < cap.nr_iovas; i++) {
		struct vfio_iova_range vr;

		memcpy(&vr, p + sizeof(cap) + i * sizeof(vr), sizeof(vr));
		if (vr.end < vr.start) {
			free(ranges);
			return set_error(iommu->ctx, -EPROTO,
					 "the kernel reports an IOVA range "
					 "0x%llx-0x%llx ending before it "
					 "starts",
					 (unsigned long long)vr.start,
					 (unsigned long long)vr.end);
		}
		ranges[i].start = vr.start;
		ranges[i].last = vr.end;
	}
	g->ranges = ranges;
	g->nranges = cap.nr_iovas;
	return 0;
}

/* No capability (kernels before 5.4): no restriction known, the whole
 * 64-bit space. */
static int whole_iova_space(struct assign_iommu *iommu,
			    struct iommu_geometry *g)
{
	g->ranges = calloc(1, sizeof(*g->ranges));
	if (!g->ranges)
		return set_error(iommu->ctx, -ENOMEM, "out of memory");
	g->ranges[0].start = 0;
	g->ranges[0].last = UINT64_MAX;
	g->nranges = 1;
	return 0;
}

static int type1_geometry(struct assign_iommu *iommu, struct iommu_geometry *g)
{
	struct vfio_iommu_type1_info info;
	size_t len;
	void *buf;
	int off, r;

	r = get_info(iommu, &buf, &len);
	if (r < 0)
		return r;
	memcpy(&info, buf, sizeof(info));
	g->pgsizes = (info.flags & VFIO_IOMMU_INFO_PGSIZES)
			     ? info.iova_pgsizes
			     : iommu_host_page_size();
	if (!g->pgsizes)
		g->pgsizes = iommu_host_page_size();
	off = type1_info_cap(
		iommu, buf, len, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
		sizeof(struct vfio_iommu_type1_info_cap_iova_range));
	r = 0;
	if (off == -EPROTO)
		r = off;
	else if (off > 0)
		r = type1_cap_ranges(iommu, buf, len, off, g);
	if (r == 0 && !g->nranges)
		r = whole_iova_space(iommu, g);
	free(buf);
	return r;
}

static int type1_dma_avail(const struct assign_iommu *iommu, uint32_t *avail)
{
	struct vfio_iommu_type1_info_dma_avail cap;
	size_t len;
	void *buf;
	int off, r;

	r = get_info(iommu, &buf, &len);
	if (r < 0)
		return r;
	off = type1_info_cap(iommu, buf, len, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
			     sizeof(cap));
	if (off > 0) {
		memcpy(&cap, (const unsigned char *)buf + off, sizeof(cap));
		*avail = cap.avail;
		r = 0;
	} else if (off == -EPROTO) {
		r = off;
	} else {
		r = set_error(iommu->ctx, -EOPNOTSUPP,
			      "the kernel does not report DMA entries left "
			      "(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL needs Linux "
			      "5.10)");
	}
	free(buf);
	return r;
}

/*
 * vfio_iommu_type1 refuses to attach a group whose MSIs are not isolated
 * unless its allow_unsafe_interrupts is set; irq_remap.c reads that and,
 * when the kernel did not check, the IOMMU's capabilities in sysfs.
 */
static int type1_irq_remapping(const struct assign_iommu *iommu)
{
	return iommu_irq_remapping(iommu, "vfio_iommu_type1");
}

static int noiommu_irq_remapping(const struct assign_iommu *iommu)
{
	/* No IOMMU, no remapping: the device can write any MSI doorbell. */
	(void)iommu;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* DMA */

static int type1_map(struct assign_iommu *iommu, void *vaddr, uint64_t iova,
		     uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	if (flags & ASSIGN_DMA_F_READ)
		m.flags |= VFIO_DMA_MAP_FLAG_READ;
	if (flags & ASSIGN_DMA_F_WRITE)
		m.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	return sys_ioctl(iommu->ctx, iommu->fd, VFIO_IOMMU_MAP_DMA, &m);
}

static int type1_unmap(struct assign_iommu *iommu, uint64_t iova,
		       uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u),
		.iova = iova,
		.size = size,
	};
	int r;

	r = sys_ioctl(iommu->ctx, iommu->fd, VFIO_IOMMU_UNMAP_DMA, &u);
	if (r < 0)
		return r;
	if (u.size != size)
		/* Removed behind our back through the escape hatch: the
		 * kernel unmapped what was there. */
		dbg(iommu->ctx,
		    "VFIO_IOMMU_UNMAP_DMA 0x%" PRIx64 "+0x%" PRIx64
		    " unmapped 0x%llx bytes",
		    iova, size, (unsigned long long)u.size);
	return 0;
}

const struct iommu_backend iommu_backend_type1 = {
	.kind = ASSIGN_IOMMU_TYPE1,
	.name = "type1",
	.open = type1_open,
	.close = type1_close,
	.attach = type1_attach,
	.detach = type1_detach,
	.geometry = type1_geometry,
	.dma_avail = type1_dma_avail,
	.irq_remapping = type1_irq_remapping,
	.map = type1_map,
	.unmap = type1_unmap,
};

const struct iommu_backend iommu_backend_noiommu = {
	.kind = ASSIGN_IOMMU_NOIOMMU,
	.name = "no-IOMMU",
	.open = type1_open,
	.close = type1_close,
	.attach = type1_attach,
	.detach = type1_detach,
	.geometry = NULL,
	.dma_avail = NULL,
	.irq_remapping = noiommu_irq_remapping,
	.map = NULL,
	.unmap = NULL,
};
