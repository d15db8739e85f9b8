// SPDX-License-Identifier: MIT
/*
 * Mediated devices (mdev): the types their parents offer
 * (/sys/class/mdev_bus/PARENT/mdev_supported_types/TYPE), the instances
 * that exist (/sys/bus/mdev/devices/UUID), making and removing them. All
 * through sysfs, as the mdev core lays it out
 * (Documentation/driver-api/vfio-mediated-device.rst).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/sys.h"
#include "host/host.h"

#define MDEV_BUS "bus/mdev/devices"
#define MDEV_PARENTS "class/mdev_bus"

static int cmp_type(const void *a, const void *b)
{
	const struct assign_host_mdev_type *x = a, *y = b;
	int c = strcmp(x->parent, y->parent);

	return c ? c : strcmp(x->type, y->type);
}

static int cmp_mdev(const void *a, const void *b)
{
	return strcmp(((const struct assign_host_mdev *)a)->uuid,
		      ((const struct assign_host_mdev *)b)->uuid);
}

/* A small attribute into @buf, "" when it is not there. */
static void read_opt(struct assign_ctx *ctx, const char *path, char *buf,
		     size_t size)
{
	if (sysfs_read(ctx, path, buf, size) < 0)
		buf[0] = '\0';
}

/* Type @type of @parent into @t. */
static int read_type(struct assign_ctx *ctx, const char *parent,
		     const char *type, struct assign_host_mdev_type *t)
{
	char dir[256], path[320], **names = NULL;
	uint64_t avail = 0;
	size_t n = 0;
	int r;

	memset(t, 0, sizeof(*t));
	snprintf(t->parent, sizeof(t->parent), "%s", parent);
	snprintf(t->type, sizeof(t->type), "%s", type);
	snprintf(dir, sizeof(dir), MDEV_PARENTS "/%s/mdev_supported_types/%s",
		 parent, type);
	snprintf(path, sizeof(path), "%s/name", dir);
	read_opt(ctx, path, t->name, sizeof(t->name));
	snprintf(path, sizeof(path), "%s/device_api", dir);
	read_opt(ctx, path, t->device_api, sizeof(t->device_api));
	snprintf(path, sizeof(path), "%s/description", dir);
	read_opt(ctx, path, t->description, sizeof(t->description));
	snprintf(path, sizeof(path), "%s/available_instances", dir);
	r = sysfs_read_u64(ctx, path, &avail);
	if (r < 0)
		return set_error(ctx, r, "cannot read /sys/%s: %s", path,
				 strerror(-r));
	t->available = avail > 0xffffffffu ? 0xffffffffu : (unsigned)avail;
	snprintf(path, sizeof(path), "%s/devices", dir);
	if (sysfs_list(ctx, path, &names, &n) == 0) {
		t->n_instances = (unsigned)n;
		strv_free(names, n);
	}
	return 0;
}

/* Append @t to the list's array, growing it. */
static int push_type(struct assign_host_mdev_type_list *l,
		     const struct assign_host_mdev_type *t)
{
	struct assign_host_mdev_type *nt;

	nt = realloc(l->types, (l->count + 1) * sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	l->types = nt;
	l->types[l->count++] = *t;
	return 0;
}

/* The types of one parent onto @l. */
static int parent_types(struct assign_ctx *ctx, const char *parent,
			struct assign_host_mdev_type_list *l)
{
	char path[256], **types = NULL;
	size_t n = 0;
	int r;

	snprintf(path, sizeof(path), MDEV_PARENTS "/%s/mdev_supported_types",
		 parent);
	r = sysfs_list(ctx, path, &types, &n);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return set_error(ctx, r, "cannot list /sys/%s: %s", path,
				 strerror(-r));
	for (size_t i = 0; i < n && r == 0; i++) {
		struct assign_host_mdev_type t;

		r = read_type(ctx, parent, types[i], &t);
		if (r == 0 && push_type(l, &t) < 0)
			r = set_error(ctx, -ENOMEM, "out of memory");
	}
	strv_free(types, n);
	return r;
}

ASSIGN_EXPORT int
assign_host_mdev_types(struct assign_ctx *ctx,
		       struct assign_host_mdev_type_list **ret)
{
	struct assign_host_mdev_type_list *l;
	char **parents = NULL;
	size_t n = 0;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return set_error(ctx, -ENOMEM, "out of memory");
	r = sysfs_list(ctx, MDEV_PARENTS, &parents, &n);
	if (r == -ENOENT) { /* no mdev core: no types */
		*ret = l;
		return 0;
	}
	if (r < 0) {
		free(l);
		return set_error(ctx, r,
				 "cannot list /sys/" MDEV_PARENTS ": %s",
				 strerror(-r));
	}
	for (size_t i = 0; i < n && r == 0; i++)
		r = parent_types(ctx, parents[i], l);
	strv_free(parents, n);
	if (r < 0) {
		assign_host_mdev_type_list_free(l);
		return r;
	}
	if (l->count)
		qsort(l->types, l->count, sizeof(*l->types), cmp_type);
	*ret = l;
	return 0;
}

ASSIGN_EXPORT struct assign_host_mdev_type_list *
assign_host_mdev_type_list_free(struct assign_host_mdev_type_list *list)
{
	if (list) {
		free(list->types);
		free(list);
	}
	return NULL;
}

/* The mdev at canonical sysfs directory @dir (named @uuid) into @m. */
static void read_mdev(struct assign_ctx *ctx, const char *dir, const char *uuid,
		      struct assign_host_mdev *m)
{
	char path[DEVPATH_DIR_MAX + 32], name[64], **cdevs = NULL;
	const char *end = strrchr(dir, '/'), *start = end;
	size_t n = 0;

	memset(m, 0, sizeof(*m));
	snprintf(m->uuid, sizeof(m->uuid), "%s", uuid);
	/* Its parent is the directory it sits in. */
	while (start && start > dir && start[-1] != '/')
		start--;
	if (end && start && (size_t)(end - start) < sizeof(m->parent)) {
		memcpy(m->parent, start, (size_t)(end - start));
		m->parent[end - start] = '\0';
	}
	snprintf(path, sizeof(path), "%s/mdev_type", dir);
	if (sysfs_link_name(ctx, path, m->type, sizeof(m->type)) < 0)
		m->type[0] = '\0';
	snprintf(path, sizeof(path), "%s/driver", dir);
	if (sysfs_link_name(ctx, path, m->driver, sizeof(m->driver)) < 0)
		m->driver[0] = '\0';
	snprintf(path, sizeof(path), "%s/iommu_group", dir);
	m->iommu_group = sysfs_link_name(ctx, path, name, sizeof(name)) == 0 ?
				 atoi(name) :
				 -1;
	snprintf(path, sizeof(path), "%s/vfio-dev", dir);
	if (sysfs_list(ctx, path, &cdevs, &n) == 0 && n)
		snprintf(m->vfio_cdev, sizeof(m->vfio_cdev), "%s", cdevs[0]);
	strv_free(cdevs, n);
}

ASSIGN_EXPORT int assign_host_mdev_list(struct assign_ctx *ctx,
					struct assign_host_mdev_list **ret)
{
	struct assign_host_mdev_list *l;
	char **uuids = NULL;
	size_t n = 0;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return set_error(ctx, -ENOMEM, "out of memory");
	r = sysfs_list(ctx, MDEV_BUS, &uuids, &n);
	if (r < 0 && r != -ENOENT) {
		free(l);
		return set_error(ctx, r, "cannot list /sys/" MDEV_BUS ": %s",
				 strerror(-r));
	}
	if (n) {
		l->mdevs = calloc(n, sizeof(*l->mdevs));
		if (!l->mdevs) {
			strv_free(uuids, n);
			free(l);
			return set_error(ctx, -ENOMEM, "out of memory");
		}
	}
	for (size_t i = 0; i < n; i++) {
		char link[300], dir[DEVPATH_DIR_MAX];

		snprintf(link, sizeof(link), MDEV_BUS "/%s", uuids[i]);
		if (sysfs_canonical(ctx, link, dir, sizeof(dir)) < 0)
			continue; /* went away meanwhile */
		read_mdev(ctx, dir, uuids[i], &l->mdevs[l->count++]);
	}
	strv_free(uuids, n);
	if (l->count)
		qsort(l->mdevs, l->count, sizeof(*l->mdevs), cmp_mdev);
	*ret = l;
	return 0;
}

ASSIGN_EXPORT struct assign_host_mdev_list *
assign_host_mdev_list_free(struct assign_host_mdev_list *list)
{
	if (list) {
		free(list->mdevs);
		free(list);
	}
	return NULL;
}

/* @name (a UUID or a path) located, and an mdev. */
static int locate_mdev(struct assign_ctx *ctx, const char *name,
		       struct devpath *loc)
{
	int r;

	if (!name)
		return set_error(ctx, -EINVAL, "no mdev named");
	r = devpath_locate(ctx, name, loc);
	if (r < 0)
		return r;
	if (strcmp(loc->bus, "mdev"))
		return set_error(ctx, -ENODEV,
				 "%s is a device of bus %s, not an mdev", name,
				 loc->bus);
	return 0;
}

ASSIGN_EXPORT int assign_host_mdev_get(struct assign_ctx *ctx, const char *name,
				       struct assign_host_mdev **ret)
{
	struct assign_host_mdev *m;
	struct devpath loc;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	r = locate_mdev(ctx, name, &loc);
	if (r < 0)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m)
		return set_error(ctx, -ENOMEM, "out of memory");
	read_mdev(ctx, loc.dir, loc.name, m);
	*ret = m;
	return 0;
}

ASSIGN_EXPORT struct assign_host_mdev *
assign_host_mdev_free(struct assign_host_mdev *mdev)
{
	free(mdev);
	return NULL;
}

/* A random (version 4) UUID in its text form. */
static int random_uuid(struct assign_ctx *ctx, char out[ASSIGN_HOST_UUID_LEN])
{
	uint8_t u[16];

	if (getrandom(u, sizeof(u), 0) != sizeof(u))
		return set_error(ctx, -EIO,
				 "cannot make a UUID: getrandom "
				 "failed");
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	devpath_format_uuid(u, out);
	return 0;
}

/* The one parent that offers @type (or @want), into @t. */
static int find_type(struct assign_ctx *ctx, const char *type, const char *want,
		     struct assign_host_mdev_type *t)
{
	struct assign_host_mdev_type_list *l = NULL;
	char all[256];
	size_t found = 0, off = 0;
	int r;

	r = assign_host_mdev_types(ctx, &l);
	if (r < 0)
		return r;
	all[0] = '\0';
	for (size_t i = 0; i < l->count; i++) {
		const struct assign_host_mdev_type *x = &l->types[i];

		if (off < sizeof(all)) {
			int k = snprintf(all + off, sizeof(all) - off, "%s%s",
					 off ? ", " : "", x->type);
			if (k > 0)
				off += (size_t)k;
		}
		if (strcmp(x->type, type) || (want && strcmp(x->parent, want)))
			continue;
		if (found++)
			r = set_error(ctx, -ENOTUNIQ,
				      "mdev type %s is offered by %s and %s: "
				      "name the parent (--parent)",
				      type, t->parent, x->parent);
		else
			*t = *x;
	}
	assign_host_mdev_type_list_free(l);
	if (r < 0)
		return r;
	if (!found)
		return set_error(ctx, -ENOENT,
				 "no parent%s%s offers mdev type %s (the types "
				 "there are: %s)",
				 want ? " " : "", want ? want : "", type,
				 all[0] ? all :
					  "none: is the parent's driver "
					  "loaded?");
	return 0;
}

ASSIGN_EXPORT int
assign_host_mdev_create(struct assign_ctx *ctx, const char *type,
			const struct assign_host_mdev_opts *opts,
			struct assign_host_mdev **ret)
{
	struct assign_host_mdev_opts o;
	struct assign_host_mdev_type t;
	char uuid[ASSIGN_HOST_UUID_LEN], path[300];
	uint8_t bin[16];
	int r;

	if (!ctx)
		return -EINVAL;
	if (!type || !*type || strchr(type, '/'))
		return set_error(ctx, -EINVAL, "no mdev type named");
	r = SIZED_IN(ctx, &o, opts, "assign_host_mdev_opts");
	if (r < 0)
		return r;
	if (o.uuid) {
		if (devpath_parse_uuid(o.uuid, bin) < 0)
			return set_error(
				ctx, -EINVAL,
				"'%.40s' is not a UUID (8-4-4-4-12 hex "
				"digits)",
				o.uuid);
		devpath_format_uuid(bin, uuid);
	} else {
		r = random_uuid(ctx, uuid);
		if (r < 0)
			return r;
	}
	r = find_type(ctx, type, o.parent, &t);
	if (r < 0)
		return r;
	if (!t.available)
		return set_error(ctx, -ENOSPC,
				 "%s has no instance of %s left (%u made; "
				 "available_instances is 0)",
				 t.parent, type, t.n_instances);
	snprintf(path, sizeof(path),
		 MDEV_PARENTS "/%s/mdev_supported_types/%s/create", t.parent,
		 type);
	r = sysfs_write(ctx, path, uuid);
	if (r == -EEXIST)
		return set_error(ctx, r, "an mdev %s exists already", uuid);
	if (r == -EACCES || r == -EPERM)
		return set_error(ctx, -EACCES,
				 "permission denied writing /sys/%s: run as "
				 "root",
				 path);
	if (r < 0)
		return set_error(ctx, r,
				 "%s refused to make an mdev of type %s: %s "
				 "(see dmesg)",
				 t.parent, type, strerror(-r));
	snprintf(path, sizeof(path), MDEV_BUS "/%s", uuid);
	if (sysfs_exists(ctx, path) < 0)
		return set_error(
			ctx, -EIO,
			"%s took the UUID %s, but no mdev of that name "
			"appeared in /sys/" MDEV_BUS,
			t.parent, uuid);
	if (ret) {
		r = assign_host_mdev_get(ctx, uuid, ret);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Another process holding @m open through VFIO: its group node or its
 * cdev. -EBUSY naming it, 0 when none. */
static int check_mdev_users(struct assign_ctx *ctx, const struct host_opts *o,
			    const struct assign_host_mdev *m)
{
	char node[300], comm[64];
	pid_t pid = 0;

	if (m->iommu_group >= 0) {
		snprintf(node, sizeof(node), "%s/vfio/%d", o->dev_dir,
			 m->iommu_group);
		pid = host_node_user(node, comm, sizeof(comm));
	}
	if (!pid && m->vfio_cdev[0]) {
		snprintf(node, sizeof(node), "%s/vfio/devices/%s", o->dev_dir,
			 m->vfio_cdev);
		pid = host_node_user(node, comm, sizeof(comm));
	}
	if (!pid)
		return 0;
	return set_error(ctx, -EBUSY,
			 "mdev %s is in use: %s is open in process %ld (%s); "
			 "stop it first, or force (the kernel then waits for "
			 "it to let go)",
			 m->uuid, node, (long)pid, comm[0] ? comm : "?");
}

ASSIGN_EXPORT int assign_host_mdev_remove(struct assign_ctx *ctx,
					  const char *name,
					  const struct assign_host_opts *opts)
{
	struct assign_host_mdev m;
	struct host_opts o;
	struct devpath loc;
	char path[DEVPATH_DIR_MAX + 16];
	int r;

	if (!ctx)
		return -EINVAL;
	r = host_opts_get(ctx, opts, &o);
	if (r == 0)
		r = locate_mdev(ctx, name, &loc);
	if (r < 0)
		return r;
	read_mdev(ctx, loc.dir, loc.name, &m);
	if (!(o.flags & ASSIGN_HOST_F_FORCE)) {
		r = check_mdev_users(ctx, &o, &m);
		if (r < 0)
			return r;
	}
	snprintf(path, sizeof(path), "%s/remove", loc.dir);
	r = sysfs_write(ctx, path, "1");
	if (r == -EACCES || r == -EPERM)
		return set_error(ctx, -EACCES,
				 "permission denied writing /sys/%s: run as "
				 "root",
				 path);
	if (r == -EBUSY)
		return set_error(ctx, r, "mdev %s is in use: close it first",
				 m.uuid);
	if (r < 0)
		return set_error(ctx, r, "cannot remove mdev %s: %s", m.uuid,
				 strerror(-r));
	return 0;
}
