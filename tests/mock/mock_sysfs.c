// SPDX-License-Identifier: MIT
/*
 * The mock kernel's sysfs: a real temporary directory laid out as Linux
 * lays out /sys for PCI devices, drivers and IOMMU groups
 * (Documentation/ABI/testing/sysfs-bus-pci, sysfs-kernel-iommu_groups):
 *
 *   devices/pciDDDD:BB/DDDD:BB:DD.F/{vendor,device,class,config,...}
 *       driver       -> ../../../bus/pci/drivers/NAME
 *       iommu_group  -> ../../../kernel/iommu_groups/N
 *       subsystem    -> ../../../bus/pci
 *       vfio-dev/vfioN/dev            (bound to vfio-pci, cdev enabled)
 *   bus/pci/devices/ADDR -> ../../../devices/pciDDDD:BB/ADDR
 *   bus/pci/drivers/NAME/{bind,unbind,new_id,remove_id,ADDR -> device}
 *   bus/pci/{drivers_probe,drivers_autoprobe}
 *   kernel/iommu_groups/N/{devices/ADDR -> device,reserved_regions,type}
 *   class/vfio-dev/vfioN -> ../../devices/.../vfio-dev/vfioN
 *   module/vfio/parameters/enable_unsafe_noiommu_mode
 *   module/vfio_iommu_type1/parameters/{dma_entry_limit,
 *                                       allow_unsafe_interrupts}
 *   module/iommufd/parameters/allow_unsafe_interrupts
 *   devices/virtual/iommu/dmar0/intel-iommu/{cap,ecap}, and
 *   class/iommu/dmar0 -> it, devices/.../ADDR/iommu -> it
 *   kernel/irq/{0,9,24}/chip_name
 *
 * Writes made through the seam to bind, unbind, drivers_probe and
 * driver_override are acted on as the kernel would.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "mock_internal.h"

#define DEFAULT_RESV "0x00000000fee00000 0x00000000feefffff msi\n"

static int pathf(const struct mock_kernel *mk, char *buf, size_t size,
		 const char *fmt, va_list ap) ASSIGN_PRINTF(4, 0);
static int pathf(const struct mock_kernel *mk, char *buf, size_t size,
		 const char *fmt, va_list ap)
{
	int n = snprintf(buf, size, "%s/", mk->root);
	int m;

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	if (m < 0 || (size_t)(n + m) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int mkdir_p(const struct mock_kernel *mk, const char *fmt, ...)
	ASSIGN_PRINTF(2, 3);
static int mkdir_p(const struct mock_kernel *mk, const char *fmt, ...)
{
	char path[PATH_MAX];
	size_t rl = strlen(mk->root);
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = pathf(mk, path, sizeof(path), fmt, ap);
	va_end(ap);
	if (r < 0)
		return r;
	for (char *p = path + rl + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_file(const struct mock_kernel *mk, const void *data,
		      size_t len, const char *fmt, ...) ASSIGN_PRINTF(4, 5);
static int write_file(const struct mock_kernel *mk, const void *data,
		      size_t len, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	int fd, r;

	va_start(ap, fmt);
	r = pathf(mk, path, sizeof(path), fmt, ap);
	va_end(ap);
	if (r < 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (len && write(fd, data, len) != (ssize_t)len) {
		r = -EIO;
	}
	close(fd);
	return r;
}

static int write_str(const struct mock_kernel *mk, const char *text,
		     const char *fmt, ...) ASSIGN_PRINTF(3, 4);
static int write_str(const struct mock_kernel *mk, const char *text,
		     const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = pathf(mk, path, sizeof(path), fmt, ap);
	va_end(ap);
	if (r < 0)
		return r;
	return write_file(mk, text, strlen(text), "%s",
			  path + strlen(mk->root) + 1);
}

static int symlink_f(const struct mock_kernel *mk, const char *target,
		     const char *fmt, ...) ASSIGN_PRINTF(3, 4);
static int symlink_f(const struct mock_kernel *mk, const char *target,
		     const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = pathf(mk, path, sizeof(path), fmt, ap);
	va_end(ap);
	if (r < 0)
		return r;
	unlink(path);
	return symlink(target, path) < 0 ? -errno : 0;
}

static void unlink_f(const struct mock_kernel *mk, const char *fmt, ...)
	ASSIGN_PRINTF(2, 3);
static void unlink_f(const struct mock_kernel *mk, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = pathf(mk, path, sizeof(path), fmt, ap);
	va_end(ap);
	if (r == 0 && unlink(path) < 0 && errno == EISDIR)
		rmdir(path);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *bus_name(const struct mdev *dev)
{
	switch (dev->bus) {
	case MBUS_MDEV:
		return "mdev";
	case MBUS_PLATFORM:
		return "platform";
	default:
		return "pci";
	}
}

/* The directory of a device below devices/: "pciDDDD:BB/ADDR" for PCI,
 * "virtual/PARENT/PARENT/UUID" for an mdev (the mtty sample's parent is a
 * class device of class mtty), "platform/NAME". */
void mock_dev_dir(const struct mdev *dev, char *buf, size_t size)
{
	switch (dev->bus) {
	case MBUS_MDEV:
		snprintf(buf, size, "devices/virtual/%s/%s/%s", dev->parent,
			 dev->parent, dev->addr);
		break;
	case MBUS_PLATFORM:
		snprintf(buf, size, "devices/platform/%s", dev->addr);
		break;
	default:
		snprintf(buf, size, "devices/pci%.7s/%s", dev->addr, dev->addr);
		break;
	}
}

/* "../" as many times as @dir (relative to the root) has components: the
 * way back to the root from a link inside it. */
static void up_to_root(const char *dir, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (const char *p = dir; *p; p++)
		n += *p == '/';
	for (size_t i = 0; i <= n && strlen(buf) + 3 < size; i++)
		strcat(buf, "../");
}

bool mock_dev_is_vfio(const struct mdev *dev)
{
	switch (dev->bus) {
	case MBUS_MDEV:
		return dev->driver[0] != '\0';
	case MBUS_PLATFORM:
		return !strcmp(dev->driver, "vfio-platform") ||
		       !strcmp(dev->driver, "vfio-amba");
	default:
		return mock_driver_is_vfio(dev->driver);
	}
}

static int ensure_bus_driver(struct mock_kernel *mk, const char *bus,
			     const char *name)
{
	static const char *const files[] = { "bind", "unbind", "new_id",
					     "remove_id", "uevent" };
	int r;

	r = mkdir_p(mk, "bus/%s/drivers/%s", bus, name);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/bus/%s/drivers/%s/%s", mk->root, bus,
			 name, files[i]);
		if (access(p, F_OK) == 0)
			continue;
		r = write_file(mk, "", 0, "bus/%s/drivers/%s/%s", bus, name,
			       files[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int ensure_driver(struct mock_kernel *mk, const char *name)
{
	return ensure_bus_driver(mk, "pci", name);
}

/* A misc device (the VFIO container, /dev/iommu) and its dev/char link. */
static int add_misc(struct mock_kernel *mk, const char *name, unsigned minor)
{
	char buf[64];
	int r;

	r = mkdir_p(mk, "devices/virtual/misc/%s", name);
	if (r < 0)
		return r;
	snprintf(buf, sizeof(buf), "%u:%u\n", MOCK_MISC_MAJOR, minor);
	r = write_str(mk, buf, "devices/virtual/misc/%s/dev", name);
	if (r < 0)
		return r;
	snprintf(buf, sizeof(buf), "../../devices/virtual/misc/%s", name);
	return symlink_f(mk, buf, "dev/char/%u:%u", MOCK_MISC_MAJOR, minor);
}

int mock_sysfs_add_group_node(struct mock_kernel *mk, int group)
{
	char buf[64];
	int r;

	r = mkdir_p(mk, "devices/virtual/vfio/%d", group);
	if (r < 0)
		return r;
	snprintf(buf, sizeof(buf), "%u:%d\n", MOCK_GROUP_MAJOR, group);
	r = write_str(mk, buf, "devices/virtual/vfio/%d/dev", group);
	if (r < 0)
		return r;
	snprintf(buf, sizeof(buf), "../../devices/virtual/vfio/%d", group);
	return symlink_f(mk, buf, "dev/char/%u:%d", MOCK_GROUP_MAJOR, group);
}

int mock_sysfs_init(struct mock_kernel *mk)
{
	static const char *const dirs[] = {
		"bus/pci/devices",
		"bus/pci/drivers",
		"devices",
		"kernel/iommu_groups",
		"class/vfio-dev",
		"module/vfio/parameters",
		"module/vfio_iommu_type1/parameters",
		"module/vfio_pci/parameters",
		"module/iommufd/parameters",
		"devices/virtual/iommu/dmar0/intel-iommu",
		"class/iommu",
		"kernel/irq/0",
		"kernel/irq/9",
		"kernel/irq/24",
		"dev/char",
		"bus/mdev/devices",
		"bus/mdev/drivers",
		"bus/platform/devices",
		"bus/platform/drivers",
		"class/mdev_bus",
	};
	const char *tmp = getenv("TMPDIR");
	int r;

	/* A tmpfs is much faster for the thousands of trees a fault sweep
	 * makes; TMPDIR still wins. */
	if (!tmp || !*tmp)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(mk->root, sizeof(mk->root), "%s/libassign-mock-XXXXXX", tmp);
	if (!mkdtemp(mk->root))
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		r = mkdir_p(mk, "%s", dirs[i]);
		if (r < 0)
			goto fail;
	}
	r = symlink_f(mk, "../../devices/virtual/iommu/dmar0",
		      "class/iommu/dmar0");
	if (r == 0)
		r = write_str(mk, "\n", "bus/pci/drivers_probe");
	if (r == 0)
		r = write_str(mk, "1\n", "bus/pci/drivers_autoprobe");
	if (r == 0)
		r = write_str(mk, "\n", "bus/pci/rescan");
	if (r == 0)
		r = ensure_driver(mk, "vfio-pci");
	if (r == 0)
		r = ensure_bus_driver(mk, "platform", "vfio-platform");
	if (r == 0)
		r = add_misc(mk, "vfio", MOCK_VFIO_MINOR);
	if (r == 0)
		r = add_misc(mk, "iommu", MOCK_IOMMU_MINOR);
	if (r < 0)
		goto fail;
	mock_sysfs_update_params(mk);
	mk->root_fd = open(mk->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (mk->root_fd < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	rm_tree(mk->root);
	return r;
}

void mock_sysfs_cleanup(struct mock_kernel *mk)
{
	if (mk->root_fd >= 0)
		close(mk->root_fd);
	mk->root_fd = -1;
	if (mk->root[0])
		rm_tree(mk->root);
}

void mock_sysfs_update_params(struct mock_kernel *mk)
{
	char buf[32];
	bool unsafe;

	write_str(mk, mk->noiommu ? "Y\n" : "N\n",
		  "module/vfio/parameters/enable_unsafe_noiommu_mode");
	snprintf(buf, sizeof(buf), "%u\n", mk->dma_entry_limit);
	write_str(mk, buf, "module/vfio_iommu_type1/parameters/dma_entry_limit");
	/* Without interrupt remapping the kernel refuses groups unless the
	 * admin allowed it (mock_set_allow_unsafe_interrupts()). */
	unsafe = mk->unsafe_param || (!mk->irq_remap && mk->allow_unsafe);
	write_str(mk, unsafe ? "Y\n" : "N\n",
		  "module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");
	write_str(mk, unsafe ? "Y\n" : "N\n",
		  "module/iommufd/parameters/allow_unsafe_interrupts");
	/* The one IOMMU unit, with or without interrupt remapping in its
	 * extended capabilities (VT-d ecap bit 3), and the kernel's
	 * interrupt chips, named "IR-..." while it remaps. */
	write_str(mk, "d2008c40660462\n",
		  "devices/virtual/iommu/dmar0/intel-iommu/cap");
	snprintf(buf, sizeof(buf), "%llx\n",
		 MOCK_VTD_ECAP & ~(mk->ir_capable ? 0ull : 8ull));
	write_str(mk, buf, "devices/virtual/iommu/dmar0/intel-iommu/ecap");
	write_str(mk, mk->irq_remap ? "IR-IO-APIC\n" : "IO-APIC\n",
		  "kernel/irq/0/chip_name");
	write_str(mk, mk->irq_remap ? "IR-IO-APIC\n" : "IO-APIC\n",
		  "kernel/irq/9/chip_name");
	write_str(mk,
		  mk->irq_remap ? "IR-PCI-MSIX-0000:00:03.0\n" :
				  "PCI-MSIX-0000:00:03.0\n",
		  "kernel/irq/24/chip_name");
	write_str(mk, "N\n", "module/vfio_pci/parameters/disable_idle_d3");
	/* Group names change with no-IOMMU mode. */
	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++) {
		if (!mk->groups[i].exists)
			continue;
		if (mk->noiommu)
			write_str(mk, "vfio-noiommu\n",
				  "kernel/iommu_groups/%d/name",
				  mk->groups[i].id);
		else
			unlink_f(mk, "kernel/iommu_groups/%d/name",
				 mk->groups[i].id);
	}
}

int mock_sysfs_write_group_file(struct mock_kernel *mk, int group,
				const char *name, const char *text)
{
	int r = mkdir_p(mk, "kernel/iommu_groups/%d/devices", group);

	if (r < 0)
		return r;
	return write_str(mk, text, "kernel/iommu_groups/%d/%s", group, name);
}

/* The files only a PCI device has: ids, class, config, resources. */
static int add_pci_files(struct mock_kernel *mk, struct mdev *dev,
			 const char *dir)
{
	const uint8_t *cfg = dev->regions[VFIO_PCI_CONFIG_REGION_INDEX].mem;
	char buf[2048];
	size_t len = 0;
	int r;

#define DEVF(name, ...)                                  \
	do {                                             \
		snprintf(buf, sizeof(buf), __VA_ARGS__); \
		r = write_str(mk, buf, "%s/" name, dir); \
		if (r < 0)                               \
			return r;                        \
	} while (0)
	DEVF("vendor", "0x%04x\n", dev->vendor);
	DEVF("device", "0x%04x\n", dev->device);
	DEVF("subsystem_vendor", "0x%04x\n", cfg[0x2c] | cfg[0x2d] << 8);
	DEVF("subsystem_device", "0x%04x\n", cfg[0x2e] | cfg[0x2f] << 8);
	DEVF("class", "0x%06x\n", dev->class_code);
	DEVF("revision", "0x%02x\n", cfg[0x08]);
	DEVF("irq", "%d\n", 0);
	DEVF("numa_node", "%d\n", -1);
	DEVF("enable", "%d\n", 0);
	DEVF("driver_override", "%s\n", "(null)");
	DEVF("reset_method", "%s\n", dev->no_reset ? "" : "flr bus");
	DEVF("uevent", "PCI_SLOT_NAME=%s\n", dev->addr);
	DEVF("remove", "%s", "");
	DEVF("rescan", "%s", "");
	DEVF("reset", "%s", "");
	if (dev->sriov_pf) {
		DEVF("sriov_totalvfs", "%d\n", 2);
		DEVF("sriov_numvfs", "%d\n", 0);
	}
#undef DEVF
	/* resource: start end flags for the 6 BARs, ROM and 6 more. */
	for (uint32_t i = 0; i < 13; i++) {
		unsigned long long start = 0, end = 0, flags = 0;
		if (i < 7 && i < dev->num_regions && dev->regions[i].size) {
			uint32_t v = dev->regions[i].bar_init;
			start = v & (i == 6 ? ~0x7ffull : ((v & 1) ? ~3ull : ~0xfull));
			start &= 0xffffffffull;
			end = start + dev->regions[i].size - 1;
			flags = (v & 1) && i < 6 ? 0x101 : 0x40200;
		}
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"0x%016llx 0x%016llx 0x%016llx\n",
					start, end, flags);
	}
	r = write_str(mk, buf, "%s/resource", dir);
	if (r < 0)
		return r;
	r = write_file(mk, cfg, dev->config_len, "%s/config", dir);
	if (r < 0)
		return r;
	if (dev->physfn[0]) {
		snprintf(buf, sizeof(buf), "../%s", dev->physfn);
		r = symlink_f(mk, buf, "%s/physfn", dir);
	}
	return r;
}

/* An mdev's parent: its supported types, as the mdev core lays them out. */
static int add_mdev_parent(struct mock_kernel *mk, const struct mdev *dev)
{
	char t[PATH_MAX];
	int r;

	snprintf(t, sizeof(t), "devices/virtual/%s/%s/mdev_supported_types/%s",
		 dev->parent, dev->parent, dev->mdev_type);
	r = mkdir_p(mk, "%s/devices", t);
	if (r == 0)
		r = write_str(mk, "Single port serial\n", "%s/name", t);
	if (r == 0)
		r = write_str(mk, "vfio-pci\n", "%s/device_api", t);
	if (r == 0)
		r = write_str(mk, "23\n", "%s/available_instances", t);
	if (r == 0)
		r = write_str(mk, "", "%s/create", t);
	if (r == 0)
		r = mkdir_p(mk, "class/%s", dev->parent);
	if (r < 0)
		return r;
	snprintf(t, sizeof(t), "../../../../class/%s", dev->parent);
	r = symlink_f(mk, t, "devices/virtual/%s/%s/subsystem", dev->parent,
		      dev->parent);
	if (r < 0)
		return r;
	snprintf(t, sizeof(t), "../../devices/virtual/%s/%s", dev->parent,
		 dev->parent);
	return symlink_f(mk, t, "class/mdev_bus/%s", dev->parent);
}

/* The links that make @dir a device of its bus and of its IOMMU group. */
static int add_device_links(struct mock_kernel *mk, struct mdev *dev,
			    const char *dir)
{
	const char *bus = bus_name(dev);
	char up[128], target[PATH_MAX];
	int r;

	up_to_root(dir, up, sizeof(up));
	snprintf(target, sizeof(target), "../../../%s", dir);
	r = symlink_f(mk, target, "bus/%s/devices/%s", bus, dev->addr);
	if (r < 0)
		return r;
	snprintf(target, sizeof(target), "%sbus/%s", up, bus);
	r = symlink_f(mk, target, "%s/subsystem", dir);
	if (r < 0)
		return r;
	if (dev->group < 0)
		return 0;
	snprintf(target, sizeof(target), "%skernel/iommu_groups/%d", up,
		 dev->group);
	r = symlink_f(mk, target, "%s/iommu_group", dir);
	if (r < 0)
		return r;
	/* The device's IOMMU unit (its capability registers tell whether
	 * interrupts are remapped); a mediated device has none. */
	if (dev->bus == MBUS_PCI) {
		/* relative to devices/, as the kernel makes it */
		size_t n = 0;

		for (const char *c = strchr(dir, '/'); c;
		     c = strchr(c + 1, '/'))
			n += 3;
		snprintf(target, sizeof(target), "%.*svirtual/iommu/dmar0",
			 (int)n, "../../../../../../../../../../../../");
		r = symlink_f(mk, target, "%s/iommu", dir);
		if (r < 0)
			return r;
	}
	r = mkdir_p(mk, "kernel/iommu_groups/%d/devices", dev->group);
	if (r < 0)
		return r;
	snprintf(target, sizeof(target), "../../../../%s", dir);
	r = symlink_f(mk, target, "kernel/iommu_groups/%d/devices/%s",
		      dev->group, dev->addr);
	if (r < 0 || dev->bus != MBUS_MDEV)
		return r;
	snprintf(target, sizeof(target), "../mdev_supported_types/%s",
		 dev->mdev_type);
	r = symlink_f(mk, target, "%s/mdev_type", dir);
	if (r < 0)
		return r;
	snprintf(target, sizeof(target), "../../../../../../%s", dir);
	return symlink_f(mk, target,
			 "devices/virtual/%s/%s/mdev_supported_types/%s/"
			 "devices/%s",
			 dev->parent, dev->parent, dev->mdev_type, dev->addr);
}

int mock_sysfs_add_device(struct mock_kernel *mk, struct mdev *dev)
{
	struct mgroup *g =
		dev->group >= 0 ? mock_group_get(mk, dev->group, true) : NULL;
	char dir[256];
	int r;

	if (!g && dev->group >= 0)
		return -ENOSPC;
	mock_dev_dir(dev, dir, sizeof(dir));
	r = mkdir_p(mk, "%s", dir);
	if (r < 0)
		return r;
	if (dev->bus == MBUS_PCI)
		r = add_pci_files(mk, dev, dir);
	else if (dev->bus == MBUS_MDEV)
		r = add_mdev_parent(mk, dev);
	if (r == 0 && dev->bus != MBUS_PCI)
		r = write_str(mk, "", "%s/uevent", dir);
	if (r == 0 && dev->bus == MBUS_MDEV)
		r = write_str(mk, "", "%s/remove", dir);
	if (r == 0 && dev->bus == MBUS_PLATFORM)
		r = write_str(mk, "(null)\n", "%s/driver_override", dir);
	if (r == 0)
		r = add_device_links(mk, dev, dir);
	if (r < 0)
		return r;
	if (!g) { /* no IOMMU: no group */
		mock_sysfs_update_params(mk);
		return mock_sysfs_set_driver(mk, dev, dev->home_driver);
	}
	if (!g->reserved) {
		/* An mdev's group is the emulated one VFIO makes for it:
		 * no IOMMU, no reserved regions. */
		g->reserved =
			mock_strdup(dev->bus == MBUS_MDEV ? "" : DEFAULT_RESV);
		if (!g->reserved)
			return -ENOMEM;
	}
	r = mock_sysfs_write_group_file(mk, dev->group, "reserved_regions",
					g->reserved);
	if (r == 0)
		r = mock_sysfs_write_group_file(
			mk, dev->group, "type",
			dev->bus == MBUS_MDEV ? "unknown\n" : "DMA\n");
	if (r == 0)
		r = mock_sysfs_add_group_node(mk, dev->group);
	if (r < 0)
		return r;
	mock_sysfs_update_params(mk);
	return mock_sysfs_set_driver(mk, dev, dev->home_driver);
}

/* vfio-dev/vfioN of a device that VFIO has, and its dev/char link. */
static int add_cdev(struct mock_kernel *mk, const struct mdev *dev,
		    const char *dir)
{
	char buf[128], target[PATH_MAX];
	int r;

	r = mkdir_p(mk, "%s/vfio-dev/vfio%d", dir, dev->vfio_index);
	if (r < 0)
		return r;
	snprintf(buf, sizeof(buf), "%d:%d\n", MOCK_CDEV_MAJOR, dev->vfio_index);
	r = write_str(mk, buf, "%s/vfio-dev/vfio%d/dev", dir, dev->vfio_index);
	if (r < 0)
		return r;
	snprintf(buf, sizeof(buf),
		 "MAJOR=%d\nMINOR=%d\nDEVNAME=vfio/devices/vfio%d\n",
		 MOCK_CDEV_MAJOR, dev->vfio_index, dev->vfio_index);
	r = write_str(mk, buf, "%s/vfio-dev/vfio%d/uevent", dir,
		      dev->vfio_index);
	if (r < 0)
		return r;
	snprintf(target, sizeof(target), "../../%s/vfio-dev/vfio%d", dir,
		 dev->vfio_index);
	r = symlink_f(mk, target, "class/vfio-dev/vfio%d", dev->vfio_index);
	if (r < 0)
		return r;
	return symlink_f(mk, target, "dev/char/%d:%d", MOCK_CDEV_MAJOR,
			 dev->vfio_index);
}

int mock_sysfs_set_driver(struct mock_kernel *mk, struct mdev *dev,
			  const char *driver)
{
	const char *bus = bus_name(dev);
	char dir[256], up[128], target[PATH_MAX];
	int r;

	mock_dev_dir(dev, dir, sizeof(dir));
	up_to_root(dir, up, sizeof(up));
	if (dev->driver[0]) {
		if (mock_dev_is_vfio(dev)) {
			char p[PATH_MAX];
			unlink_f(mk, "class/vfio-dev/vfio%d", dev->vfio_index);
			unlink_f(mk, "dev/char/%d:%d", MOCK_CDEV_MAJOR,
				 dev->vfio_index);
			snprintf(p, sizeof(p), "%s/%s/vfio-dev", mk->root, dir);
			rm_tree(p);
		}
		unlink_f(mk, "%s/driver", dir);
		unlink_f(mk, "bus/%s/drivers/%s/%s", bus, dev->driver,
			 dev->addr);
		dev->driver[0] = '\0';
	}
	if (!driver || !*driver)
		return 0;
	r = ensure_bus_driver(mk, bus, driver);
	if (r < 0)
		return r;
	snprintf(target, sizeof(target), "%sbus/%s/drivers/%s", up, bus,
		 driver);
	r = symlink_f(mk, target, "%s/driver", dir);
	if (r < 0)
		return r;
	snprintf(target, sizeof(target), "../../../../%s", dir);
	r = symlink_f(mk, target, "bus/%s/drivers/%s/%s", bus, driver,
		      dev->addr);
	if (r < 0)
		return r;
	snprintf(dev->driver, sizeof(dev->driver), "%s", driver);
	if (mock_dev_is_vfio(dev) && !dev->no_cdev)
		r = add_cdev(mk, dev, dir);
	return r;
}

bool mock_driver_is_vfio(const char *driver)
{
	size_t n = strlen(driver);

	return !strcmp(driver, "vfio-pci") ||
	       (n > 9 && (!strcmp(driver + n - 9, "_vfio_pci") ||
			  !strcmp(driver + n - 9, "-vfio-pci")));
}

/* Since Linux 5.19 a group is viable when no bound driver claims the DMA
 * API for its device (iommu_group_dma_owner_claimed()); drivers that set
 * driver_managed_dma do not. */
bool mock_group_viable(const struct mock_kernel *mk, int group)
{
	for (size_t i = 0; i < mk->ndevs; i++) {
		const struct mdev *d = mk->devs[i];
		if (d->group != group || !d->driver[0])
			continue;
		if (!mock_dev_is_vfio(d) && strcmp(d->driver, "pci-stub") &&
		    strcmp(d->driver, "pcieport"))
			return false;
	}
	return true;
}

/* ---- writes through the seam ----------------------------------------- */

static void strip(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static bool driver_exists(const struct mock_kernel *mk, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/bus/pci/drivers/%s", mk->root, name);
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int do_bind(struct mock_kernel *mk, struct mdev *dev, const char *drv)
{
	if (dev->driver[0])
		return -EBUSY;
	if (dev->override[0] && strcmp(dev->override, drv))
		return -ENODEV;
	return mock_sysfs_set_driver(mk, dev, drv);
}

static int do_unbind(struct mock_kernel *mk, struct mdev *dev)
{
	/* The kernel waits for a vfio device's users to close it (and sends
	 * the REQ interrupt); the mock refuses instead of blocking. */
	if (mock_dev_is_vfio(dev) && (dev->open_count || dev->cdev_open)) {
		mock_fire_irq(mk, dev->addr, 4 /* VFIO_PCI_REQ_IRQ_INDEX */, 0);
		return -EBUSY;
	}
	return mock_sysfs_set_driver(mk, dev, NULL);
}

/* An mdev's sysfs entries go: its directory and every link to it. */
void mock_sysfs_remove_device(struct mock_kernel *mk, struct mdev *dev)
{
	char dir[256], p[PATH_MAX];

	mock_sysfs_set_driver(mk, dev, NULL);
	mock_dev_dir(dev, dir, sizeof(dir));
	unlink_f(mk, "bus/%s/devices/%s", bus_name(dev), dev->addr);
	if (dev->group >= 0)
		unlink_f(mk, "kernel/iommu_groups/%d/devices/%s", dev->group,
			 dev->addr);
	if (dev->bus == MBUS_MDEV)
		unlink_f(mk,
			 "devices/virtual/%s/%s/mdev_supported_types/%s/"
			 "devices/%s",
			 dev->parent, dev->parent, dev->mdev_type, dev->addr);
	snprintf(p, sizeof(p), "%s/%s", mk->root, dir);
	rm_tree(p);
}

/* mdev create and remove, as the mdev core does them. */
static int mdev_write(struct mock_kernel *mk, const char *path, const char *val,
		      ssize_t *ret)
{
	char parent[32], type[48], uuid[64], ap[160];
	struct mock_device_cfg cfg;
	struct mdev *dev;
	int n = 0, r;

	if (sscanf(path,
		   "class/mdev_bus/%31[^/]/mdev_supported_types/%47[^/]"
		   "/create%n",
		   parent, type, &n) == 2 &&
	    !path[n]) {
		char avail[16] = "";
		int fd;

		/* available_instances, as the test may have set it */
		snprintf(ap, sizeof(ap),
			 "class/mdev_bus/%s/mdev_supported_types/%s/"
			 "available_instances",
			 parent, type);
		fd = openat(mk->root_fd, ap, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (read(fd, avail, sizeof(avail) - 1) < 0)
				avail[0] = '\0';
			close(fd);
		}
		if (avail[0] == '0') {
			*ret = -ENOSPC;
			return 1;
		}
		if (strlen(val) != 36) {
			*ret = -EINVAL;
			return 1;
		}
		if (mock_dev_find(mk, val)) {
			*ret = -EEXIST;
			return 1;
		}
		mock_device_cfg_default(&cfg, val, 100 + (int)mk->ndevs);
		cfg.bus = "mdev";
		cfg.parent = parent;
		cfg.mdev_type = type;
		cfg.driver = parent;
		cfg.no_reset = true;
		r = mock_add_device(mk, &cfg);
		*ret = r < 0 ? r : (ssize_t)strlen(val);
		return 1;
	}
	n = 0;
	if (sscanf(path, "devices/virtual/%*[^/]/%*[^/]/%63[^/]/remove%n", uuid,
		   &n) == 1 &&
	    !path[n]) {
		dev = mock_dev_find(mk, uuid);
		if (!dev || dev->bus != MBUS_MDEV)
			return 0;
		/* The kernel waits for the device's users; the mock says
		 * busy. */
		if (dev->open_count || dev->cdev_open)
			*ret = -EBUSY;
		else
			*ret = mock_remove_device(mk, dev) < 0 ? -EIO : 2;
		return 1;
	}
	return 0;
}

int mock_sysfs_intercept_write(struct mock_kernel *mk, const char *path,
			       const void *buf, size_t count, ssize_t *ret)
{
	char val[128], name[128], addr[32], tail[64];
	struct mdev *dev;
	int r = 0;

	snprintf(val, sizeof(val), "%.*s", (int)(count < 127 ? count : 127),
		 (const char *)buf);
	strip(val);
	if (mdev_write(mk, path, val, ret)) {
		if (*ret > 0)
			*ret = (ssize_t)count;
		return 1;
	}
	if (strncmp(path, "bus/pci/", 8))
		return 0;
	if (sscanf(path, "bus/pci/drivers/%127[^/]/%63s", name, tail) == 2) {
		if (!strcmp(tail, "bind")) {
			dev = mock_dev_find(mk, val);
			r = dev ? do_bind(mk, dev, name) : -ENODEV;
		} else if (!strcmp(tail, "unbind")) {
			dev = mock_dev_find(mk, val);
			if (!dev || strcmp(dev->driver, name))
				r = -ENODEV;
			else
				r = do_unbind(mk, dev);
		} else if (!strcmp(tail, "new_id") || !strcmp(tail, "remove_id")) {
			r = 0;
		} else {
			return 0;
		}
	} else if (!strcmp(path, "bus/pci/drivers_probe")) {
		dev = mock_dev_find(mk, val);
		if (!dev)
			r = -ENODEV;
		else if (!dev->driver[0]) {
			const char *drv = dev->override[0] ? dev->override
							   : dev->home_driver;
			if (*drv && driver_exists(mk, drv))
				r = mock_sysfs_set_driver(mk, dev, drv);
		}
	} else if (sscanf(path, "bus/pci/devices/%31[^/]/%63s", addr, tail) ==
		   2) {
		dev = mock_dev_find(mk, addr);
		if (!dev)
			return 0;
		if (!strcmp(tail, "driver/unbind")) {
			r = dev->driver[0] ? do_unbind(mk, dev) : -ENODEV;
		} else if (!strcmp(tail, "driver_override")) {
			char dir[256];
			size_t vlen = strlen(val);

			/* Longer than any driver name: refuse rather than
			 * keep a truncated one. */
			if (vlen >= sizeof(dev->override)) {
				*ret = -EINVAL;
				return 1;
			}
			/* The attribute reads back "(null)" when cleared. */
			memcpy(dev->override, val, vlen + 1);
			mock_dev_dir(dev, dir, sizeof(dir));
			snprintf(name, sizeof(name), "%s\n",
				 dev->override[0] ? dev->override : "(null)");
			r = write_str(mk, name, "%s/driver_override", dir);
		} else if (!strcmp(tail, "reset") || !strcmp(tail, "remove") ||
			   !strcmp(tail, "rescan")) {
			r = 0;
		} else {
			return 0;
		}
	} else {
		return 0;
	}
	*ret = r < 0 ? r : (ssize_t)count;
	return 1;
}
