// SPDX-License-Identifier: MIT
/*
 * Discovery of PCI devices: libudev enumerates on the real system and
 * supplies vendor/model names from its hardware database; every attribute
 * is read through the sysfs seam (relative to ctx->sysfs_fd) so that tests
 * can run against a fake tree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libudev.h>

#include "core/sys.h"
#include "host/host.h"

int host_canon_addr(struct assign_ctx *ctx, const char *address,
		    char buf[ASSIGN_PCI_ADDR_LEN])
{
	struct assign_pci_addr a;

	if (!address || assign_pci_addr_parse(address, &a) < 0)
		return set_error(ctx, -EINVAL,
				 "'%s' is not a PCI address; use the form "
				 "dddd:bb:dd.f as printed by lspci -D",
				 address ? address : "(null)");
	return assign_pci_addr_format(&a, buf, ASSIGN_PCI_ADDR_LEN);
}

int host_check_exists(struct assign_ctx *ctx, const char *addr)
{
	char path[128];

	snprintf(path, sizeof(path), "bus/pci/devices/%s", addr);
	if (sysfs_exists(ctx, path) < 0)
		return set_error(ctx, -ENODEV,
				 "no PCI device %s; list the devices with "
				 "lspci -D or assign-host list",
				 addr);
	return 0;
}

void host_read_override(struct assign_ctx *ctx, const char *addr, char *buf,
			size_t size)
{
	char path[160];

	snprintf(path, sizeof(path), "bus/pci/devices/%s/driver_override",
		 addr);
	if (sysfs_read(ctx, path, buf, size) < 0 || !strcmp(buf, "(null)"))
		buf[0] = '\0';
}

static int netdevs_in(struct assign_ctx *ctx, const char *dir,
		      char names[][16], unsigned max, unsigned *n)
{
	char path[192], **ents = NULL;
	size_t cnt = 0;
	int r;

	snprintf(path, sizeof(path), "%s/net", dir);
	r = sysfs_list(ctx, path, &ents, &cnt);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	if (r < 0)
		return r;
	for (size_t i = 0; i < cnt && *n < max; i++) {
		if (strlen(ents[i]) >= 16)
			continue;
		strcpy(names[(*n)++], ents[i]);
	}
	strv_free(ents, cnt);
	return 0;
}

int host_netdevs(struct assign_ctx *ctx, const char *addr, char names[][16],
		 unsigned max, unsigned *n)
{
	char dir[96], sub[160], **ents = NULL;
	size_t cnt = 0;
	int r;

	*n = 0;
	snprintf(dir, sizeof(dir), "bus/pci/devices/%s", addr);
	r = netdevs_in(ctx, dir, names, max, n);
	if (r < 0)
		return r;
	/* virtio-pci puts the interface one level down (virtioN/net). */
	if (sysfs_list(ctx, dir, &ents, &cnt) < 0)
		return 0;
	for (size_t i = 0; i < cnt && r >= 0; i++) {
		if (strncmp(ents[i], "virtio", 6))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, ents[i]);
		r = netdevs_in(ctx, sub, names, max, n);
	}
	strv_free(ents, cnt);
	return r;
}

static int read_hex(struct assign_ctx *ctx, const char *addr, const char *attr,
		    uint64_t *val)
{
	char path[160];

	snprintf(path, sizeof(path), "bus/pci/devices/%s/%s", addr, attr);
	return sysfs_read_u64(ctx, path, val);
}

/* N of a "virtfnN" entry of a PF's directory, -1 for any other name. */
static long virtfn_index(const char *name)
{
	char *end;
	long v;

	if (strncmp(name, "virtfn", 6))
		return -1;
	v = strtol(name + 6, &end, 10);
	if (end == name + 6 || *end || v < 0 || v > 65535)
		return -1;
	return v;
}

static int read_vfs(struct assign_ctx *ctx, struct assign_host_device *d)
{
	char path[160], **ents = NULL;
	size_t cnt = 0, nvf = 0;
	int r;

	snprintf(path, sizeof(path), "bus/pci/devices/%s", d->address);
	r = sysfs_list(ctx, path, &ents, &cnt);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cnt; i++) {
		long idx = virtfn_index(ents[i]);

		if (idx >= 0 && (size_t)idx + 1 > nvf)
			nvf = (size_t)idx + 1;
	}
	if (nvf) {
		d->vfs = calloc(nvf, sizeof(*d->vfs));
		if (!d->vfs) {
			strv_free(ents, cnt);
			return -ENOMEM;
		}
		d->n_vfs = nvf;
		for (size_t i = 0; i < nvf; i++) {
			snprintf(path, sizeof(path),
				 "bus/pci/devices/%s/virtfn%zu", d->address, i);
			if (sysfs_link_name(ctx, path, d->vfs[i],
					    sizeof(d->vfs[i])) < 0)
				d->vfs[i][0] = '\0';
		}
	}
	strv_free(ents, cnt);
	return 0;
}

/* The VF's index: the PF's virtfnN that points at it. */
static int vf_index(struct assign_ctx *ctx, const char *pf, const char *vf)
{
	char path[160], **ents = NULL, name[ASSIGN_PCI_ADDR_LEN + 8];
	size_t cnt = 0;
	int r, idx = -ENOENT;

	snprintf(path, sizeof(path), "bus/pci/devices/%s", pf);
	r = sysfs_list(ctx, path, &ents, &cnt);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cnt && idx < 0; i++) {
		long v = virtfn_index(ents[i]);

		if (v < 0)
			continue;
		snprintf(path, sizeof(path), "bus/pci/devices/%s/%s", pf,
			 ents[i]);
		if (sysfs_link_name(ctx, path, name, sizeof(name)) == 0 &&
		    !strcmp(name, vf))
			idx = (int)v;
	}
	strv_free(ents, cnt);
	return idx;
}

static void hwdb_names(struct assign_host_device *d, struct udev_hwdb *hwdb)
{
	struct udev_list_entry *e;
	char modalias[64];

	if (!hwdb)
		return;
	snprintf(modalias, sizeof(modalias), "pci:v%08Xd%08X", d->vendor,
		 d->device);
	udev_list_entry_foreach(e, udev_hwdb_get_properties_list_entry(
					   hwdb, modalias, 0))
	{
		const char *k = udev_list_entry_get_name(e);
		const char *v = udev_list_entry_get_value(e);

		if (!v)
			continue;
		if (!strcmp(k, "ID_VENDOR_FROM_DATABASE"))
			snprintf(d->vendor_name, sizeof(d->vendor_name), "%s",
				 v);
		else if (!strcmp(k, "ID_MODEL_FROM_DATABASE"))
			snprintf(d->device_name, sizeof(d->device_name), "%s",
				 v);
	}
}

/* Vendor, device and class (required), subsystem ids (optional). */
static int read_ids(struct assign_ctx *ctx, struct assign_host_device *d)
{
	const char *addr = d->address;
	uint64_t v;
	int r;

	r = read_hex(ctx, addr, "vendor", &v);
	if (r < 0)
		return r;
	d->vendor = (uint16_t)v;
	r = read_hex(ctx, addr, "device", &v);
	if (r < 0)
		return r;
	d->device = (uint16_t)v;
	r = read_hex(ctx, addr, "class", &v);
	if (r < 0)
		return r;
	d->class_code = (uint32_t)v & 0xffffff;
	if (read_hex(ctx, addr, "subsystem_vendor", &v) == 0)
		d->subsystem_vendor = (uint16_t)v;
	if (read_hex(ctx, addr, "subsystem_device", &v) == 0)
		d->subsystem_device = (uint16_t)v;
	d->is_bridge = (d->class_code >> 16) == 0x06;
	return 0;
}

/* The driver, driver_override and IOMMU group. */
static int read_binding(struct assign_ctx *ctx, struct assign_host_device *d)
{
	const char *addr = d->address;
	int r;

	r = pci_dev_driver(ctx, addr, d->driver, sizeof(d->driver));
	if (r < 0)
		return r;
	d->is_vfio = pci_driver_kind(d->driver) == PCI_DRIVER_VFIO;
	host_read_override(ctx, addr, d->driver_override,
			   sizeof(d->driver_override));
	r = pci_dev_group(ctx, addr);
	d->iommu_group = r >= 0 ? r : -1;
	return 0;
}

/* A PF's VF counts and VFs; a VF's PF and index. */
static int read_sriov(struct assign_ctx *ctx, struct assign_host_device *d)
{
	const char *addr = d->address;
	char path[160];
	uint64_t v;
	int r;

	if (read_hex(ctx, addr, "sriov_totalvfs", &v) == 0)
		d->sriov_totalvfs = (uint32_t)v;
	if (read_hex(ctx, addr, "sriov_numvfs", &v) == 0)
		d->sriov_numvfs = (uint32_t)v;
	if (d->sriov_totalvfs) {
		r = read_vfs(ctx, d);
		if (r < 0)
			return r;
	}
	snprintf(path, sizeof(path), "bus/pci/devices/%s/physfn", addr);
	if (sysfs_link_name(ctx, path, d->physfn, sizeof(d->physfn)) == 0) {
		r = vf_index(ctx, d->physfn, addr);
		d->vf_index = r >= 0 ? r : -1;
	} else {
		d->physfn[0] = '\0';
	}
	return 0;
}

/* The message for @r, a failure reading @addr's attributes. */
static int attr_error(struct assign_ctx *ctx, const char *addr, int r)
{
	if (r == -ENOMEM)
		return set_error(ctx, r, "out of memory");
	if (r == -ENOENT)
		return set_error(ctx, -ENODEV, "PCI device %s disappeared",
				 addr);
	return set_error(ctx, r < 0 ? r : -EIO,
			 "cannot read the sysfs attributes of %s: %s", addr,
			 strerror(r < 0 ? -r : EIO));
}

/* Read everything about one device; @addr is canonical. */
static int device_read(struct assign_ctx *ctx, const char *addr,
		       struct udev_hwdb *hwdb, struct assign_host_device **ret)
{
	struct assign_host_device *d;
	char path[160];
	int r;

	snprintf(path, sizeof(path), "bus/pci/devices/%s", addr);
	r = sysfs_exists(ctx, path);
	if (r == -ENOENT)
		return set_error(ctx, -ENODEV,
				 "no PCI device %s; list the devices with "
				 "lspci -D or assign-host list",
				 addr);
	if (r < 0)
		return set_error(ctx, r, "cannot read sysfs for %s: %s", addr,
				 strerror(-r));

	d = calloc(1, sizeof(*d));
	if (!d)
		return set_error(ctx, -ENOMEM, "out of memory");
	snprintf(d->address, sizeof(d->address), "%s", addr);
	assign_pci_addr_parse(addr, &d->addr);
	d->iommu_group = -1;
	d->vf_index = -1;
	r = read_ids(ctx, d);
	if (r == 0)
		r = read_binding(ctx, d);
	if (r == 0)
		r = host_netdevs(ctx, addr, d->netdevs, ASSIGN_HOST_MAX_NETDEVS,
				 &d->n_netdevs);
	if (r == 0)
		r = read_sriov(ctx, d);
	if (r < 0) {
		assign_host_device_free(d);
		return attr_error(ctx, addr, r);
	}
	hwdb_names(d, hwdb);
	*ret = d;
	return 0;
}

static struct udev_hwdb *hwdb_open(struct udev **udev)
{
	*udev = udev_new();
	if (!*udev)
		return NULL;
	return udev_hwdb_new(*udev);
}

static void hwdb_close(struct udev *udev, struct udev_hwdb *hwdb)
{
	udev_hwdb_unref(hwdb);
	udev_unref(udev);
}

ASSIGN_EXPORT int assign_host_device_get(struct assign_ctx *ctx,
					 const char *address,
					 struct assign_host_device **ret)
{
	char addr[ASSIGN_PCI_ADDR_LEN];
	struct udev *udev;
	struct udev_hwdb *hwdb;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	r = host_canon_addr(ctx, address, addr);
	if (r < 0)
		return r;
	hwdb = hwdb_open(&udev);
	r = device_read(ctx, addr, hwdb, ret);
	hwdb_close(udev, hwdb);
	return r;
}

ASSIGN_EXPORT struct assign_host_device *
assign_host_device_free(struct assign_host_device *dev)
{
	if (dev) {
		free(dev->vfs);
		free(dev);
	}
	return NULL;
}

ASSIGN_EXPORT struct assign_host_device_list *
assign_host_device_list_free(struct assign_host_device_list *list)
{
	if (!list)
		return NULL;
	for (size_t i = 0; i < list->count; i++)
		assign_host_device_free(list->devices[i]);
	free(list->devices);
	free(list);
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Addresses of the PCI devices through libudev (real system only). */
static int udev_addresses(struct udev *udev, char ***names, size_t *n)
{
	struct udev_enumerate *en;
	struct udev_list_entry *e;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	int r;

	en = udev_enumerate_new(udev);
	if (!en)
		return -ENOMEM;
	r = udev_enumerate_add_match_subsystem(en, "pci");
	if (r >= 0)
		r = udev_enumerate_scan_devices(en);
	if (r < 0) {
		udev_enumerate_unref(en);
		return r;
	}
	udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en))
	{
		const char *syspath = udev_list_entry_get_name(e);
		const char *base = strrchr(syspath, '/');
		struct assign_pci_addr a;

		base = base ? base + 1 : syspath;
		if (assign_pci_addr_parse(base, &a) < 0)
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **nv = realloc(v, ncap * sizeof(*nv));
			if (!nv)
				goto nomem;
			v = nv;
			cap = ncap;
		}
		v[cnt] = strdup(base);
		if (!v[cnt])
			goto nomem;
		cnt++;
	}
	udev_enumerate_unref(en);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_str);
	*names = v;
	*n = cnt;
	return 0;
nomem:
	udev_enumerate_unref(en);
	strv_free(v, cnt);
	return -ENOMEM;
}

/* The PCI addresses: through libudev on the real system, else (or when
 * udev fails) from bus/pci/devices. */
static int pci_addresses(struct assign_ctx *ctx, struct udev *udev,
			 char ***names, size_t *cnt)
{
	int r = -ENOENT;

	if (host_real_sysfs(ctx) && udev)
		r = udev_addresses(udev, names, cnt);
	if (r >= 0 && host_real_sysfs(ctx))
		return 0;
	r = sysfs_list(ctx, "bus/pci/devices", names, cnt);
	if (r == -ENOENT)
		return set_error(ctx, r,
				 "no PCI bus in sysfs "
				 "(bus/pci/devices is missing)");
	if (r < 0)
		return set_error(ctx, r, "cannot list bus/pci/devices: %s",
				 strerror(-r));
	return 0;
}

/* device_read() each of the @cnt @names into @list; a device gone
 * meanwhile is left out. */
static int read_devices(struct assign_ctx *ctx, struct udev_hwdb *hwdb,
			char **names, size_t cnt,
			struct assign_host_device_list *list)
{
	if (cnt) {
		list->devices = calloc(cnt, sizeof(*list->devices));
		if (!list->devices)
			return set_error(ctx, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < cnt; i++) {
		struct assign_pci_addr a;
		char addr[ASSIGN_PCI_ADDR_LEN];
		int r;

		if (assign_pci_addr_parse(names[i], &a) < 0 ||
		    assign_pci_addr_format(&a, addr, sizeof(addr)) < 0)
			continue;
		r = device_read(ctx, addr, hwdb, &list->devices[list->count]);
		if (r == -ENODEV)
			continue; /* hot-unplugged meanwhile */
		if (r < 0)
			return r;
		list->count++;
	}
	return 0;
}

ASSIGN_EXPORT int assign_host_list(struct assign_ctx *ctx,
				   struct assign_host_device_list **ret)
{
	struct assign_host_device_list *list;
	struct udev *udev;
	struct udev_hwdb *hwdb;
	char **names = NULL;
	size_t cnt = 0;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	list = calloc(1, sizeof(*list));
	if (!list)
		return set_error(ctx, -ENOMEM, "out of memory");
	hwdb = hwdb_open(&udev);
	r = pci_addresses(ctx, udev, &names, &cnt);
	if (r == 0)
		r = read_devices(ctx, hwdb, names, cnt, list);
	strv_free(names, cnt);
	hwdb_close(udev, hwdb);
	if (r < 0) {
		assign_host_device_list_free(list);
		return r;
	}
	*ret = list;
	return 0;
}

ASSIGN_EXPORT int assign_host_sriov_set_numvfs(struct assign_ctx *ctx,
					       const char *pf_address,
					       unsigned numvfs)
{
	char addr[ASSIGN_PCI_ADDR_LEN], path[160], val[16];
	uint64_t total = 0, cur = 0;
	int r;

	if (!ctx)
		return -EINVAL;
	r = host_canon_addr(ctx, pf_address, addr);
	if (r < 0)
		return r;
	if (read_hex(ctx, addr, "sriov_totalvfs", &total) < 0 || total == 0)
		return set_error(ctx, -ENODEV,
				 "%s is not an SR-IOV physical function "
				 "(no sriov_totalvfs in sysfs)",
				 addr);
	if (numvfs > total)
		return set_error(ctx, -ERANGE,
				 "%s can make at most %llu VFs, not %u", addr,
				 (unsigned long long)total, numvfs);
	read_hex(ctx, addr, "sriov_numvfs", &cur);
	if (cur == numvfs)
		return 0;
	snprintf(path, sizeof(path), "bus/pci/devices/%s/sriov_numvfs", addr);
	if (cur && numvfs) {
		r = sysfs_write(ctx, path, "0");
		if (r < 0)
			goto fail;
	}
	snprintf(val, sizeof(val), "%u", numvfs);
	r = sysfs_write(ctx, path, val);
	if (r < 0)
		goto fail;
	return 0;
fail:
	if (r == -EBUSY)
		return set_error(ctx, r,
				 "cannot change the VFs of %s: VFs are in use "
				 "(bound to vfio-pci or assigned); release them "
				 "first",
				 addr);
	return set_error(ctx, r, "writing %u to %s failed: %s", numvfs, path,
			 strerror(-r));
}
