// SPDX-License-Identifier: MIT
/*
 * IOMMU objects and groups made from descriptors another process opened
 * (a privileged helper, a management stack): what an fd is, told by the
 * kernel (fstat and its /sys/dev/char link), and the constructors that
 * take a container, an iommufd (with or without its IOAS) or a group fd.
 * The vfio cdev fd of a device is taken by assign_device_open_fd()
 * (device layer); a whole handoff over a socket by handoff.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "iommu/iommu.h"

static const char *file_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a pipe";
	case S_IFSOCK:
		return "a socket";
	case S_IFBLK:
		return "a block device";
	case S_IFLNK:
		return "a symbolic link";
	case 0:
		return "an anonymous inode (a VFIO device fd from "
		       "VFIO_GROUP_GET_DEVICE_FD is one: hand over its group "
		       "instead)";
	default:
		return "not a character device";
	}
}

/* What the device directory @dir of a cdev is: name and bus. */
static int cdev_device(struct assign_ctx *ctx, const char *dir,
		       struct devpath *dev)
{
	char path[DEVPATH_DIR_MAX + 16], bus[DEVPATH_BUS_MAX];
	const char *base = strrchr(dir, '/');

	base = base ? base + 1 : dir;
	memset(dev, 0, sizeof(*dev));
	dev->kind = DEVPATH_PATH;
	if (strlen(base) >= sizeof(dev->name) ||
	    strlen(dir) >= sizeof(dev->dir))
		return -ENAMETOOLONG;
	strcpy(dev->name, base);
	strcpy(dev->dir, dir);
	snprintf(path, sizeof(path), "%s/subsystem", dir);
	if (sysfs_link_name(ctx, path, bus, sizeof(bus)) == 0)
		strcpy(dev->bus, bus);
	return 0;
}

int iommu_fd_identify(struct assign_ctx *ctx, int fd, struct iommu_fd_id *id)
{
	char link[32], canon[DEVPATH_DIR_MAX];
	struct stat st;
	const char *p;
	int r;

	memset(id, 0, sizeof(id[0]));
	id->kind = IOMMU_FD_OTHER;
	id->group = -1;
	if (fd < 0)
		return set_error(ctx, -EBADF, "fd %d is not a file descriptor",
				 fd);
	r = sys_fstat(ctx, fd, &st);
	if (r == -EBADF)
		return set_error(ctx, -EBADF,
				 "fd %d is not open (closed already, or never "
				 "received)",
				 fd);
	if (r < 0)
		return set_error(ctx, r, "cannot tell what fd %d is: %s", fd,
				 strerror(-r));
	if (!S_ISCHR(st.st_mode)) {
		snprintf(id->what, sizeof(id->what), "%s",
			 file_type(st.st_mode));
		return 0;
	}
	snprintf(link, sizeof(link), "dev/char/%u:%u", major(st.st_rdev),
		 minor(st.st_rdev));
	r = sysfs_canonical(ctx, link, canon, sizeof(canon));
	if (r < 0) {
		id->unknown = true;
		snprintf(id->what, sizeof(id->what),
			 "character device %u:%u, which /sys/dev/char does not "
			 "know (%s)",
			 major(st.st_rdev), minor(st.st_rdev), strerror(-r));
		return 0;
	}
	if (!strcmp(canon, "devices/virtual/misc/vfio")) {
		id->kind = IOMMU_FD_CONTAINER;
		strcpy(id->what, "the VFIO container (/dev/vfio/vfio)");
	} else if (!strcmp(canon, "devices/virtual/misc/iommu")) {
		id->kind = IOMMU_FD_IOMMUFD;
		strcpy(id->what, "an iommufd (/dev/iommu)");
	} else if (!strncmp(canon, "devices/virtual/vfio/", 21)) {
		p = canon + 21;
		id->noiommu = !strncmp(p, "noiommu-", 8);
		if (id->noiommu)
			p += 8;
		id->kind = IOMMU_FD_GROUP;
		id->group = atoi(p);
		snprintf(id->what, sizeof(id->what), "VFIO group %s%d",
			 id->noiommu ? "noiommu-" : "", id->group);
	} else if ((p = strstr(canon, "/vfio-dev/vfio")) &&
		   !strchr(p + 10, '/')) {
		char dir[DEVPATH_DIR_MAX];

		memcpy(dir, canon, (size_t)(p - canon));
		dir[p - canon] = '\0';
		r = cdev_device(ctx, dir, &id->dev);
		if (r < 0)
			return set_error(ctx, r, "/sys/%s: %s", canon,
					 strerror(-r));
		id->kind = IOMMU_FD_CDEV;
		snprintf(id->what, sizeof(id->what), "the vfio cdev of %s",
			 id->dev.name);
	} else {
		snprintf(id->what, sizeof(id->what), "/sys/%s (char %u:%u)",
			 canon, major(st.st_rdev), minor(st.st_rdev));
	}
	return 0;
}

/* The backend an adopted fd of kind @kind gives, checked against what the
 * caller asked for. */
static int adopt_backend(struct assign_ctx *ctx, int fd,
			 const struct iommu_fd_id *id,
			 const struct assign_iommu_opts *o,
			 const struct iommu_backend **ops)
{
	if (id->kind == IOMMU_FD_CONTAINER) {
		if (o->backend == ASSIGN_IOMMU_IOMMUFD)
			return set_error(ctx, -EINVAL,
					 "fd %d is %s, not an iommufd: ask for "
					 "the type1 backend or hand over "
					 "/dev/iommu",
					 fd, id->what);
		*ops = o->backend == ASSIGN_IOMMU_NOIOMMU ?
			       &iommu_backend_noiommu :
			       &iommu_backend_type1;
		return 0;
	}
	if (id->kind == IOMMU_FD_IOMMUFD) {
		if (o->backend != ASSIGN_IOMMU_AUTO &&
		    o->backend != ASSIGN_IOMMU_IOMMUFD)
			return set_error(ctx, -EINVAL,
					 "fd %d is %s, not a VFIO container: "
					 "ask for the iommufd backend or hand "
					 "over /dev/vfio/vfio",
					 fd, id->what);
		*ops = &iommu_backend_iommufd;
		return 0;
	}
	return set_error(ctx, -EINVAL,
			 "fd %d is %s, not a VFIO container or an iommufd%s",
			 fd, id->what,
			 id->kind == IOMMU_FD_GROUP ?
				 ": adopt it with assign_group_new_from_fd() "
				 "on an IOMMU object made from the container" :
			 id->kind == IOMMU_FD_CDEV ?
				 ": open it with assign_device_open_fd() on "
				 "an IOMMU object made from the iommufd" :
				 "");
}

/* A container handed over must be fresh: libassign adds the groups and
 * sets the IOMMU type itself. Until then the kernel answers every IOMMU
 * ioctl with -EINVAL. */
static int check_fresh_container(struct assign_iommu *iommu)
{
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	int r;

	r = sys_ioctl(iommu->ctx, iommu->fd, VFIO_IOMMU_GET_INFO, &info);
	if (r == -EINVAL || r == -ENOTTY)
		return 0;
	return set_error(iommu->ctx, -EBUSY,
			 "the VFIO container fd %d has an IOMMU set already "
			 "(groups were added to it): hand it over before "
			 "VFIO_GROUP_SET_CONTAINER and VFIO_SET_IOMMU",
			 iommu->fd);
}

ASSIGN_EXPORT int assign_iommu_new_from_fd(struct assign_ctx *ctx, int fd,
					   const struct assign_iommu_opts *opts,
					   struct assign_iommu **ret)
{
	struct assign_iommu_opts o;
	struct assign_iommu *iommu;
	struct iommu_fd_id id;
	const struct iommu_backend *ops = NULL;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	r = SIZED_IN(ctx, &o, opts, "assign_iommu_opts");
	if (r == 0)
		r = iommu_check_opts(ctx, &o);
	if (r == 0)
		r = iommu_fd_identify(ctx, fd, &id);
	if (r == 0)
		r = adopt_backend(ctx, fd, &id, &o, &ops);
	if (r < 0)
		return r;
	if (o.ioas_id && ops != &iommu_backend_iommufd)
		return set_error(ctx, -EINVAL,
				 "assign_iommu_opts.ioas_id %u names an IOAS, "
				 "and fd %d is no iommufd",
				 o.ioas_id, fd);
	iommu = iommu_alloc(ctx, ops);
	if (!iommu)
		return set_error(ctx, -ENOMEM, "out of memory");
	iommu->fd = fd;
	iommu->adopted = true;
	if (ops == &iommu_backend_iommufd)
		r = ifd_setup_ioas(iommu, o.ioas_id);
	else
		r = type1_setup(iommu);
	if (r == 0 && ops != &iommu_backend_iommufd)
		r = check_fresh_container(iommu);
	if (r < 0) {
		/* The fd stays the caller's. */
		free(iommu);
		return r;
	}
	iommu_opened(iommu, &o);
	*ret = iommu;
	return 0;
}

ASSIGN_EXPORT int assign_group_new_from_fd(struct assign_iommu *iommu, int fd,
					   struct assign_group **ret)
{
	struct assign_ctx *ctx;
	struct iommu_fd_id id;
	int r;

	if (!iommu || !ret)
		return -EINVAL;
	ctx = iommu->ctx;
	if (!iommu->ops || iommu->ops->kind == ASSIGN_IOMMU_IOMMUFD)
		return set_error(ctx, -EOPNOTSUPP,
				 "groups belong to a VFIO container: the IOMMU "
				 "object is %s",
				 iommu->ops ? "an iommufd one" :
					      "AUTO and has no container yet");
	r = iommu_fd_identify(ctx, fd, &id);
	if (r < 0)
		return r;
	if (id.kind != IOMMU_FD_GROUP)
		return set_error(ctx, -EINVAL, "fd %d is %s, not a VFIO group",
				 fd, id.what);
	if (id.noiommu != iommu_is_noiommu(iommu))
		return set_error(ctx, -EINVAL,
				 "fd %d is %s, and the container is %s", fd,
				 id.what,
				 iommu_is_noiommu(iommu) ?
					 "a no-IOMMU one" :
					 "not a no-IOMMU one");
	return type1_group_adopt(iommu, fd, id.group, ret);
}
