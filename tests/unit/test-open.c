// SPDX-License-Identifier: MIT
/*
 * The ways to get a device (docs/device.md): by name (PCI address, mdev
 * UUID, platform device name, sysfs path) with the checks that explain a
 * refusal in the order of its causes; from descriptors another process
 * opened (a container and groups, an iommufd, a cdev); from a handoff over
 * a unix socket; and with a VF token. Against the mock kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include <libassign/libassign.h>

#include "core/sys.h"
#include "iommu/iommu.h"
#include "mock.h"

#define DEV0 "0000:00:03.0"
#define DEV1 "0000:00:04.0"
#define MDEV0 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define MDEV0_UP "83B8F4F2-509F-382F-3C1E-E6BFE0FA1001"
#define PLAT "fff51000.ethernet"
#define PF "0000:05:00.0"
#define VF "0000:05:00.1"
#define TOKEN "bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3"
#define TOKEN2 "bd8d9d2b-5a5f-4f5a-a211-f591514ba1f4"

struct fx {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	const struct assign_sys_ops *ops;
	char warned[512];
};

__attribute__((format(printf, 6, 0))) static void
capture(struct assign_ctx *ctx, int priority, const char *file, int line,
	const char *fn, const char *format, va_list args)
{
	struct fx *f = assign_ctx_get_log_data(ctx);

	(void)file;
	(void)line;
	(void)fn;
	if (priority <= LOG_WARNING)
		vsnprintf(f->warned, sizeof(f->warned), format, args);
}

static void add_devices(struct mock_kernel *mk)
{
	struct mock_device_cfg cfg;
	static const struct mock_region_cfg prg[] = {
		{ .index = 0,
		  .size = 0x1000,
		  .flags = VFIO_REGION_INFO_FLAG_READ |
			   VFIO_REGION_INFO_FLAG_WRITE |
			   VFIO_REGION_INFO_FLAG_MMAP },
	};
	static const struct mock_irq_cfg pirq[] = {
		{ .index = 0, .count = 1, .flags = VFIO_IRQ_INFO_EVENTFD },
	};

	mock_device_cfg_default(&cfg, DEV0, 3);
	assert_int_equal(mock_add_device(mk, &cfg), 0);
	mock_device_cfg_default(&cfg, DEV1, 4);
	assert_int_equal(mock_add_device(mk, &cfg), 0);
	mock_device_cfg_default(&cfg, MDEV0, 20);
	cfg.bus = "mdev";
	cfg.driver = "mtty";
	cfg.no_reset = true;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
	mock_device_cfg_default(&cfg, PLAT, 21);
	cfg.bus = "platform";
	cfg.driver = "vfio-platform";
	cfg.regions = prg;
	cfg.nregions = 1;
	cfg.num_regions = 1;
	cfg.irqs = pirq;
	cfg.nirqs = 1;
	cfg.num_irqs = 1;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mock_kernel_new(&f->mk), 0);
	add_devices(f->mk);
	assert_int_equal(mock_ctx_new(f->mk, &f->ctx), 0);
	assign_ctx_set_log_fn(f->ctx, capture, f);
	assign_ctx_set_log_priority(f->ctx, LOG_WARNING);
	f->ops = mock_sys_ops();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assign_ctx_unref(f->ctx);
	assert_int_equal(mock_open_fds(f->mk), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(mock_mmaps(f->mk), 0);
	assert_int_equal(mock_bad_fd_calls(f->mk), 0);
	mock_kernel_free(f->mk);
	free(f);
	return 0;
}

static const char *err(struct fx *f)
{
	return assign_ctx_get_last_error(f->ctx);
}

#define assert_err_contains(f, s)                                          \
	do {                                                               \
		if (!strstr(err(f), (s)))                                  \
			fail_msg("last error \"%s\" lacks \"%s\"", err(f), \
				 (s));                                     \
	} while (0)
#define assert_err_lacks(f, s)                                                 \
	do {                                                                   \
		if (strstr(err(f), (s)))                                       \
			fail_msg("last error \"%s\" has \"%s\"", err(f), (s)); \
	} while (0)

static struct assign_iommu *new_iommu(struct fx *f, enum assign_iommu_backend b)
{
	struct assign_iommu_opts o = { .size = sizeof(o), .backend = b };
	struct assign_iommu *iommu = NULL;

	assert_int_equal(assign_iommu_new(f->ctx, &o, &iommu), 0);
	return iommu;
}

/* A raw open through the mock's seam, as a helper process would. */
static int raw_open(struct fx *f, const char *path)
{
	int fd = f->ops->open(f->mk, path, O_RDWR);

	assert_true(fd >= 0);
	return fd;
}

static int raw_close(struct fx *f, int fd)
{
	return f->ops->close(f->mk, fd);
}

static int raw_ioctl(struct fx *f, int fd, unsigned long req, void *arg)
{
	return f->ops->ioctl(f->mk, fd, req, arg);
}

/* ---- by name ------------------------------------------------------------ */

static void open_mdev_on(struct fx *f, enum assign_iommu_backend b)
{
	static const char *const names[] = {
		MDEV0,
		MDEV0_UP,
		"/sys/bus/mdev/devices/" MDEV0,
		"/sys/devices/virtual/mtty/mtty/" MDEV0,
		"/sys//bus/mdev/./devices/" MDEV0 "/",
	};
	struct assign_iommu *iommu = new_iommu(f, b);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct assign_device_info info = { .size = sizeof(info) };
		struct assign_device *dev = NULL;
		uint16_t vendor = 0;

		if (assign_device_open(iommu, names[i], NULL, &dev) != 0)
			fail_msg("%s: %s", names[i], err(f));
		assert_int_equal(assign_device_get_info(dev, &info), 0);
		assert_int_equal(info.bus, ASSIGN_DEVICE_BUS_MDEV);
		assert_true(info.flags & ASSIGN_DEVICE_F_PCI);
		assert_null(assign_device_get_address(dev));
		assert_string_equal(assign_device_get_name(dev), MDEV0);
		assert_int_equal(assign_device_get_group_id(dev), 20);
		assert_int_equal(assign_device_config_read(dev, 0, &vendor, 2),
				 0);
		assert_int_equal(vendor, 0x8086);
		assign_device_unref(dev);
	}
	assert_int_equal(assign_iommu_get_backend(iommu), b);
	assign_iommu_unref(iommu);
}

static void test_open_mdev(void **state)
{
	open_mdev_on(*state, ASSIGN_IOMMU_TYPE1);
	open_mdev_on(*state, ASSIGN_IOMMU_IOMMUFD);
}

static void test_open_mdev_auto(void **state)
{
	struct fx *f = *state;
	struct assign_iommu *iommu = new_iommu(f, ASSIGN_IOMMU_AUTO);
	struct assign_device *dev = NULL;

	assert_int_equal(assign_device_open(iommu, MDEV0, NULL, &dev), 0);
	assert_int_equal(assign_iommu_get_backend(iommu), ASSIGN_IOMMU_IOMMUFD);
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
}

static void test_open_platform(void **state)
{
	struct fx *f = *state;
	struct assign_iommu *iommu = new_iommu(f, ASSIGN_IOMMU_TYPE1);
	struct assign_device_info info = { .size = sizeof(info) };
	const struct assign_region_info *ri;
	struct assign_device *dev = NULL, *dev2 = NULL;
	uint32_t v = 0x12345678, back = 0;

	assert_int_equal(assign_device_open(iommu, PLAT, NULL, &dev), 0);
	assert_int_equal(assign_device_get_info(dev, &info), 0);
	assert_int_equal(info.bus, ASSIGN_DEVICE_BUS_PLATFORM);
	assert_int_equal(info.flags & (ASSIGN_DEVICE_F_PCI |
				       ASSIGN_DEVICE_F_PLATFORM),
			 ASSIGN_DEVICE_F_PLATFORM);
	assert_int_equal(info.num_regions, 1);
	assert_null(assign_device_get_address(dev));
	assert_string_equal(assign_device_get_name(dev), PLAT);
	/* Regions and interrupts need no PCI config space. */
	assert_int_equal(assign_device_get_region(dev, 0, &ri), 0);
	assert_int_equal(ri->size, 0x1000);
	assert_int_equal(assign_region_write(dev, 0, 8, &v, 4), 0);
	assert_int_equal(assign_region_read(dev, 0, 8, &back, 4), 0);
	assert_int_equal(back, v);
	{
		struct assign_irq_info ii = { .size = sizeof(ii) };

		assert_int_equal(assign_device_get_irq_info(dev, 0, &ii), 0);
		assert_int_equal(ii.count, 1);
	}
	/* The same device by its path, on another IOMMU object: busy. */
	{
		struct assign_iommu *other = new_iommu(f, ASSIGN_IOMMU_TYPE1);

		assert_int_equal(
			assign_device_open(other,
					   "/sys/bus/platform/devices/" PLAT,
					   NULL, &dev2),
			-EBUSY);
		assign_iommu_unref(other);
	}
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
}

/* What a name leads to, when it leads nowhere a device VFIO opens is: the
 * error, its words, and nothing opened but the container. */
static void expect_refused(struct fx *f, struct assign_iommu *iommu,
			   const char *name, int want, const char *words)
{
	struct assign_device *dev = NULL;
	size_t fds = mock_open_fds(f->mk);
	int r = assign_device_open(iommu, name, NULL, &dev);

	if (r != want)
		fail_msg("%s: %d (%s), wanted %d", name, r, err(f), want);
	assert_null(dev);
	assert_err_contains(f, words);
	assert_int_equal(mock_open_fds(f->mk), fds);
}

static void test_open_bad_names(void **state)
{
	struct fx *f = *state;
	struct assign_iommu *iommu = new_iommu(f, ASSIGN_IOMMU_TYPE1);
	char path[512];

	expect_refused(f, iommu, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1099",
		       -ENODEV, "no mdev 83b8f4f2-509f-382f-3c1e-e6bfe0fa1099");
	expect_refused(f, iommu, "junk", -EINVAL, "no platform device");
	expect_refused(f, iommu, "0000:00:zz.9", -EINVAL, "not a PCI address");
	expect_refused(f, iommu, "/tmp/" MDEV0, -EINVAL, "outside /sys");
	expect_refused(f, iommu, "/sys/bus/mdev/../mdev/devices/" MDEV0,
		       -EINVAL, "\"..\"");
	expect_refused(f, iommu, "/sys/bus/pci/devices/" DEV0 "\n", -EINVAL,
		       "character");
	expect_refused(f, iommu, "/sys", -EINVAL, "/sys itself, not a device");
	/* Links that lead elsewhere than to a device VFIO opens. */
	expect_refused(f, iommu, "/sys/class/mdev_bus/mtty", -ENODEV,
		       "an mdev parent");
	expect_refused(f, iommu, "/sys/bus/pci/devices/" DEV0 "/driver",
		       -ENODEV, "outside /sys/devices");
	expect_refused(f, iommu, "/sys/bus/pci/devices/" DEV0 "/iommu_group",
		       -ENODEV, "outside /sys/devices");
	expect_refused(f, iommu, "/sys/devices/virtual/mtty", -ENODEV,
		       "no subsystem");
	/* A sysfs link that points at another device, or out of sysfs. */
	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:07.0",
		 mock_sysfs_root(f->mk));
	assert_int_equal(symlink("../../../devices/pci0000:00/" DEV0, path), 0);
	expect_refused(f, iommu, "0000:00:07.0", -ENODEV, "another device");
	snprintf(path, sizeof(path),
		 "%s/bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1002",
		 mock_sysfs_root(f->mk));
	assert_int_equal(symlink("/etc", path), 0);
	expect_refused(f, iommu, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002",
		       -ENODEV, "leads outside /sys");
	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:08.0",
		 mock_sysfs_root(f->mk));
	assert_int_equal(symlink("../../../../../../../../../..", path), 0);
	expect_refused(f, iommu, "0000:00:08.0", -ENODEV, "leads outside /sys");
	snprintf(path, sizeof(path), "%s/bus/pci/devices/0000:00:09.0",
		 mock_sysfs_root(f->mk));
	assert_int_equal(symlink("0000:00:09.0", path), 0);
	expect_refused(f, iommu, "0000:00:09.0", -ENODEV, "cannot follow");
	assign_iommu_unref(iommu);
}

/* Issue 13: on a host without VFIO or without an IOMMU, the message names
 * that, not the driver; a bridge is never to be bound to vfio-pci. */
static void test_open_diagnosis_order(void **state)
{
	struct fx *f = *state;
	struct mock_device_cfg cfg;
	struct assign_iommu *iommu;

	mock_device_cfg_default(&cfg, "0000:00:05.0", -1);
	cfg.driver = "virtio-pci";
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	mock_device_cfg_default(&cfg, "0000:00:06.0", 6);
	cfg.driver = "virtio-pci";
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	mock_device_cfg_default(&cfg, "0000:00:00.0", 0);
	cfg.driver = NULL;
	cfg.class_code = 0x060000;
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	mock_device_cfg_default(&cfg, "0000:00:1c.0", 9);
	cfg.driver = "pcieport";
	cfg.class_code = 0x060400;
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);

	/* No VFIO at all: that first. */
	mock_set_vfio(f->mk, false);
	iommu = new_iommu(f, ASSIGN_IOMMU_AUTO);
	expect_refused(f, iommu, "0000:00:05.0", -ENOENT,
		       "VFIO is not available");
	assert_err_lacks(f, "bind");
	assert_err_lacks(f, "echo");
	/* A bridge is refused as one before anything else. */
	expect_refused(f, iommu, "0000:00:00.0", -ENODEV,
		       "0000:00:00.0 is a host bridge (class 0x060000)");
	assert_err_lacks(f, "bind");
	expect_refused(f, iommu, "0000:00:1c.0", -ENODEV, "PCI-to-PCI bridge");
	assert_err_lacks(f, "bind");
	/* VFIO, but no IOMMU: the group, not the driver. */
	mock_set_vfio(f->mk, true);
	expect_refused(f, iommu, "0000:00:05.0", -ENODEV, "has no IOMMU group");
	assert_err_lacks(f, "virtio-pci");
	assert_err_lacks(f, "bind");
	/* An IOMMU group: now the driver, and the tool that rebinds it. */
	expect_refused(
		f, iommu, "0000:00:06.0", -ENODEV,
		"0000:00:06.0 is bound to virtio-pci, not vfio-pci; bind "
		"it to vfio-pci: assign-host bind 0000:00:06.0");
	/* AUTO chose nothing on the way. */
	assert_int_equal(assign_iommu_get_backend(iommu), ASSIGN_IOMMU_AUTO);
	assign_iommu_unref(iommu);
	/* An mdev without its parent's driver. */
	mock_set_driver(f->mk, MDEV0, NULL);
	iommu = new_iommu(f, ASSIGN_IOMMU_TYPE1);
	expect_refused(f, iommu, MDEV0, -ENODEV, "the driver of mtty");
	/* A platform device on another driver. */
	mock_set_driver(f->mk, PLAT, "macb");
	expect_refused(f, iommu, PLAT, -ENODEV,
		       "bound to macb, not vfio-platform");
	assign_iommu_unref(iommu);
}

/* ---- adopting descriptors ----------------------------------------------- */

/* The caller's fd after a refusal: still open, still the caller's. */
static void assert_still_mine(struct fx *f, int fd)
{
	unsigned long bad = mock_bad_fd_calls(f->mk);

	assert_int_equal(raw_close(f, fd), 0);
	assert_int_equal(mock_bad_fd_calls(f->mk), bad);
}

static void test_adopt_type1(void **state)
{
	struct fx *f = *state;
	struct assign_iommu *iommu = NULL;
	struct assign_group *g3 = NULL, *g20 = NULL;
	struct assign_device *dev = NULL, *mdev = NULL;
	int c = raw_open(f, "/dev/vfio/vfio");
	int fd3 = raw_open(f, "/dev/vfio/3");
	int fd20 = raw_open(f, "/dev/vfio/20");
	void *buf;

	assert_int_equal(assign_iommu_new_from_fd(f->ctx, c, NULL, &iommu), 0);
	assert_int_equal(assign_iommu_get_backend(iommu), ASSIGN_IOMMU_TYPE1);
	assert_int_equal(assign_iommu_get_fd(iommu), c);
	assert_int_equal(assign_group_new_from_fd(iommu, fd3, &g3), 0);
	assert_int_equal(assign_group_get_id(g3), 3);
	assert_int_equal(assign_group_get_fd(g3), fd3);
	assert_int_equal(assign_group_new_from_fd(iommu, fd20, &g20), 0);
	/* A group nobody holds is closed: its devices cannot be opened. */
	assign_group_unref(g20);
	/* From here on the process may not open a VFIO node at all. */
	mock_set_dev_access(f->mk, false);
	assert_int_equal(assign_device_open(iommu, DEV0, NULL, &dev), 0);
	assert_int_equal(assign_device_open(iommu, MDEV0, NULL, &mdev),
			 -EACCES);
	assert_err_contains(f, "permission denied opening /dev/vfio/20");
	buf = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(buf != MAP_FAILED);
	assert_int_equal(assign_iommu_map(iommu, 1 << 20, buf, 1 << 20,
					  ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(mock_dma_count(f->mk), 1);
	assign_device_unref(dev);
	assign_group_unref(g3);
	assign_iommu_unref(iommu);
	mock_set_dev_access(f->mk, true);
	munmap(buf, 1 << 20);
}

static void test_adopt_type1_refused(void **state)
{
	struct fx *f = *state;
	struct assign_iommu_opts o = { .size = sizeof(o) };
	struct assign_iommu *iommu = NULL, *ti;
	struct assign_group *g = NULL;
	int c, c2, gr, i, p[2];

	/* Not open, not VFIO, not a container. */
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, 1000, NULL, &iommu),
			 -EBADF);
	assert_err_contains(f, "fd 1000 is not open");
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, p[0], NULL, &iommu),
			 -EINVAL);
	assert_err_contains(f, "is a pipe, not a VFIO container or an iommufd");
	close(p[0]);
	close(p[1]);
	gr = raw_open(f, "/dev/vfio/3");
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, gr, NULL, &iommu),
			 -EINVAL);
	assert_err_contains(f, "is VFIO group 3, not a VFIO container");
	assert_err_contains(f, "assign_group_new_from_fd()");
	/* A container of the wrong kind for the options. */
	i = raw_open(f, "/dev/iommu");
	o.backend = ASSIGN_IOMMU_TYPE1;
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, i, &o, &iommu),
			 -EINVAL);
	assert_err_contains(f, "is an iommufd (/dev/iommu), not a VFIO "
			       "container");
	assert_still_mine(f, i);
	c = raw_open(f, "/dev/vfio/vfio");
	o.backend = ASSIGN_IOMMU_IOMMUFD;
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, c, &o, &iommu),
			 -EINVAL);
	o.backend = ASSIGN_IOMMU_AUTO;
	o.ioas_id = 1;
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, c, &o, &iommu),
			 -EINVAL);
	assert_err_contains(f, "no iommufd");
	o.ioas_id = 0;
	/* A container someone set up already. */
	assert_int_equal(raw_ioctl(f, gr, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(raw_ioctl(f, c, VFIO_SET_IOMMU,
				   (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU),
			 0);
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, c, NULL, &iommu),
			 -EBUSY);
	assert_err_contains(f, "has an IOMMU set already");
	/* ... and a group in it. */
	c2 = raw_open(f, "/dev/vfio/vfio");
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, c2, NULL, &iommu), 0);
	assert_int_equal(assign_group_new_from_fd(iommu, gr, &g), -EBUSY);
	assert_err_contains(f, "already in a container");
	assert_int_equal(assign_group_new_from_fd(iommu, c, &g), -EINVAL);
	assert_err_contains(f, "is the VFIO container (/dev/vfio/vfio), not a "
			       "VFIO group");
	assert_still_mine(f, gr);
	assert_still_mine(f, c);
	/* A group that is not viable: the fd comes back out of the
	 * container. */
	{
		struct mock_device_cfg cfg;

		mock_device_cfg_default(&cfg, "0000:00:04.1", 4);
		cfg.driver = "snd_hda_intel";
		assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	}
	gr = raw_open(f, "/dev/vfio/4");
	assert_int_equal(assign_group_new_from_fd(iommu, gr, &g), -EBUSY);
	assert_err_contains(f, "group 4 is not viable: 0000:00:04.1 is bound "
			       "to snd_hda_intel");
	assert_still_mine(f, gr);
	/* The same group twice. */
	gr = raw_open(f, "/dev/vfio/3");
	assert_int_equal(assign_group_new_from_fd(iommu, gr, &g), 0);
	{
		struct assign_group *g2 = NULL;
		int again = raw_open(f, "/dev/vfio/20");

		assert_int_equal(assign_group_new_from_fd(iommu, again, &g2),
				 0);
		assign_group_unref(g2);
	}
	assign_group_unref(g);
	/* A group for an iommufd object: no. */
	ti = new_iommu(f, ASSIGN_IOMMU_IOMMUFD);
	gr = raw_open(f, "/dev/vfio/3");
	assert_int_equal(assign_group_new_from_fd(ti, gr, &g), -EOPNOTSUPP);
	assert_still_mine(f, gr);
	assign_iommu_unref(ti);
	assign_iommu_unref(iommu);
}

static void test_adopt_iommufd(void **state)
{
	struct fx *f = *state;
	struct assign_iommu_opts o = { .size = sizeof(o) };
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	struct assign_iommu *iommu = NULL, *t1;
	struct assign_device *dev = NULL, *mdev = NULL, *d2 = NULL;
	uint32_t id = 0;
	int i = raw_open(f, "/dev/iommu"), cd, cm, gr;

	/* An IOAS the helper made: named, used, not a new one. */
	assert_int_equal(raw_ioctl(f, i, IOMMU_IOAS_ALLOC, &a), 0);
	o.ioas_id = a.out_ioas_id + 7;
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, i, &o, &iommu),
			 -ENOENT);
	assert_err_contains(f, "is not in iommufd");
	o.ioas_id = a.out_ioas_id;
	assert_int_equal(assign_iommu_new_from_fd(f->ctx, i, &o, &iommu), 0);
	assert_int_equal(assign_iommu_get_backend(iommu), ASSIGN_IOMMU_IOMMUFD);
	assert_int_equal(assign_iommu_get_ioas_id(iommu, &id), 0);
	assert_int_equal(id, a.out_ioas_id);
	mock_set_dev_access(f->mk, true);
	cd = raw_open(f, "/dev/vfio/devices/vfio0"); /* DEV0 */
	cm = raw_open(f, "/dev/vfio/devices/vfio2"); /* MDEV0 */
	mock_set_dev_access(f->mk, false);
	/* The wrong device, and a group where a cdev belongs. */
	assert_int_equal(assign_device_open_fd(iommu, cd, DEV1, NULL, &dev),
			 -EINVAL);
	assert_err_contains(f, "is the vfio cdev of 0000:00:03.0, not of "
			       "0000:00:04.0");
	mock_set_dev_access(f->mk, true);
	gr = raw_open(f, "/dev/vfio/4");
	mock_set_dev_access(f->mk, false);
	assert_int_equal(assign_device_open_fd(iommu, gr, NULL, NULL, &dev),
			 -EINVAL);
	assert_err_contains(f, "is VFIO group 4, not a vfio cdev");
	assert_still_mine(f, gr);
	assert_int_equal(assign_device_open_fd(iommu, -1, NULL, NULL, &dev),
			 -EBADF);
	/* The right ones, by sysfs and by name. */
	assert_int_equal(assign_device_open_fd(iommu, cd, NULL, NULL, &dev), 0);
	assert_string_equal(assign_device_get_address(dev), DEV0);
	assert_int_equal(
		assign_device_open_fd(iommu, cm, MDEV0_UP, NULL, &mdev), 0);
	{
		struct assign_device_info info = { .size = sizeof(info) };

		assert_int_equal(assign_device_get_info(mdev, &info), 0);
		assert_int_equal(info.bus, ASSIGN_DEVICE_BUS_MDEV);
	}
	/* A cdev bound to another iommufd already. */
	mock_set_dev_access(f->mk, true);
	{
		struct vfio_device_bind_iommufd b = { .argsz = sizeof(b) };
		int other = raw_open(f, "/dev/iommu");
		int c1 = raw_open(f, "/dev/vfio/devices/vfio1");

		b.iommufd = other;
		assert_int_equal(raw_ioctl(f, c1, VFIO_DEVICE_BIND_IOMMUFD, &b),
				 0);
		assert_int_equal(assign_device_open_fd(iommu, c1, NULL, NULL,
						       &d2),
				 -EINVAL);
		assert_err_contains(f, "already bound");
		assert_still_mine(f, c1);
		raw_close(f, other);
	}
	/* A cdev on a type1 object. */
	t1 = new_iommu(f, ASSIGN_IOMMU_TYPE1);
	cd = raw_open(f, "/dev/vfio/devices/vfio1");
	assert_int_equal(assign_device_open_fd(t1, cd, NULL, NULL, &d2),
			 -EINVAL);
	assert_err_contains(f, "needs the iommufd backend");
	assert_still_mine(f, cd);
	assign_iommu_unref(t1);
	assign_device_unref(mdev);
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
}

/* ---- handoff ------------------------------------------------------------ */

/* The helper's side, on its own context: a handoff of @names sent on
 * @sock. */
static void helper_send(struct fx *f, enum assign_iommu_backend b,
			const char *const *names, size_t n, int sock)
{
	struct assign_iommu_opts o = { .size = sizeof(o), .backend = b };
	struct assign_handoff *h = NULL;
	struct assign_ctx *hctx;

	assert_int_equal(mock_ctx_new(f->mk, &hctx), 0);
	assert_int_equal(assign_handoff_new(hctx, &o, &h), 0);
	for (size_t i = 0; i < n; i++)
		if (assign_handoff_add_device(h, names[i]) < 0)
			fail_msg("%s: %s", names[i],
				 assign_ctx_get_last_error(hctx));
	assert_int_equal(assign_handoff_send(h, sock), 0);
	assign_handoff_free(h);
	assign_ctx_unref(hctx);
}

static void handoff_on(struct fx *f, enum assign_iommu_backend b)
{
	static const char *const names[] = {
		DEV0,
		("/sys/bus/mdev/devices/" MDEV0),
		DEV1,
	};
	struct assign_handoff *h = NULL;
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev[3] = { NULL };
	int sv[2];
	void *buf;

	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	helper_send(f, b, names, 3, sv[0]);
	close(sv[0]);
	/* The VMM: no access to any VFIO node. */
	mock_set_dev_access(f->mk, false);
	assert_int_equal(assign_handoff_recv(f->ctx, sv[1], &h), 0);
	close(sv[1]);
	assert_int_equal(assign_handoff_get_backend(h), b);
	assert_int_equal(assign_handoff_get_count(h), 3);
	assert_string_equal(assign_handoff_get_device(h, 1), MDEV0);
	assert_null(assign_handoff_get_device(h, 3));
	assert_int_equal(assign_iommu_new_from_handoff(f->ctx, h, &iommu), 0);
	assert_int_equal(assign_iommu_new_from_handoff(f->ctx, h, &iommu),
			 -EINVAL);
	assign_handoff_free(h);
	assert_int_equal(assign_device_open(iommu, DEV0, NULL, &dev[0]), 0);
	assert_int_equal(assign_device_open(iommu,
					    "/sys/bus/mdev/devices/" MDEV0,
					    NULL, &dev[1]),
			 0);
	{
		struct assign_device_info info = { .size = sizeof(info) };

		assert_int_equal(assign_device_get_info(dev[1], &info), 0);
		assert_int_equal(info.bus, ASSIGN_DEVICE_BUS_MDEV);
	}
	/* A device not handed over is no device for this VMM. */
	assert_int_equal(assign_device_open(iommu, PLAT, NULL, &dev[2]),
			 -EACCES);
	/* DMA through what came over the socket. */
	buf = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(buf != MAP_FAILED);
	assert_int_equal(assign_iommu_map(iommu, 1 << 20, buf, 1 << 20,
					  ASSIGN_DMA_F_RW),
			 0);
	/* The process itself is refused /dev/vfio. */
	{
		struct assign_iommu_opts o = { .size = sizeof(o),
					       .backend = b };
		struct assign_iommu *own = NULL;

		assert_int_equal(assign_iommu_new(f->ctx, &o, &own), -EACCES);
		assert_err_contains(f, "permission denied");
	}
	assign_device_unref(dev[1]);
	assign_device_unref(dev[0]);
	/* DEV1 was never opened: its fds go with the object. */
	assign_iommu_unref(iommu);
	munmap(buf, 1 << 20);
	mock_set_dev_access(f->mk, true);
}

static void test_handoff_type1(void **state)
{
	handoff_on(*state, ASSIGN_IOMMU_TYPE1);
}

static void test_handoff_iommufd(void **state)
{
	handoff_on(*state, ASSIGN_IOMMU_IOMMUFD);
}

static void test_handoff_helper_refuses(void **state)
{
	struct fx *f = *state;
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = ASSIGN_IOMMU_TYPE1 };
	struct assign_handoff *h = NULL;
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, "0000:00:04.1", 4);
	cfg.driver = "snd_hda_intel";
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	assert_int_equal(assign_handoff_new(f->ctx, &o, &h), 0);
	assert_int_equal(assign_handoff_add_device(h, DEV1), -EBUSY);
	assert_err_contains(f, "group 4 is not viable");
	assert_int_equal(assign_handoff_add_device(h, "0000:00:04.1"), -ENODEV);
	assert_err_contains(f, "bound to snd_hda_intel");
	assert_int_equal(assign_handoff_add_device(h, DEV0), 0);
	assert_int_equal(assign_handoff_add_device(h, "00:03.0"), -EEXIST);
	assert_int_equal(assign_handoff_send(h, -1), -EBADF);
	assign_handoff_free(h);
	o.backend = ASSIGN_IOMMU_NOIOMMU;
	o.flags = ASSIGN_IOMMU_F_ALLOW_NOIOMMU;
	assert_int_equal(assign_handoff_new(f->ctx, &o, &h), -EOPNOTSUPP);
	/* Unprivileged, the helper says so. */
	o.backend = ASSIGN_IOMMU_IOMMUFD;
	o.flags = 0;
	mock_set_dev_access(f->mk, false);
	assert_int_equal(assign_handoff_new(f->ctx, &o, &h), -EACCES);
	mock_set_dev_access(f->mk, true);
}

/* A raw message with @n fds from @fds, then assign_handoff_recv(). */
static int recv_raw(struct fx *f, const char *msg, const int *fds, size_t n)
{
	struct assign_handoff *h = NULL;
	int sv[2], r;

	assert_int_equal(
		socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	if (msg)
		assert_true(f->ops->sendmsg(f->mk, sv[0], msg, strlen(msg), fds,
					    n) >= 0);
	close(sv[0]);
	r = assign_handoff_recv(f->ctx, sv[1], &h);
	close(sv[1]);
	assign_handoff_free(h);
	return r;
}

static void test_handoff_bad_messages(void **state)
{
	struct fx *f = *state;
	const char *good = "libassign-handoff 1\nbackend iommufd\n"
			   "device 0000:00:03.0 pci 3\nend\n";
	int fds[140], p[2], i, cd;
	size_t base;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	i = raw_open(f, "/dev/iommu");
	cd = raw_open(f, "/dev/vfio/devices/vfio0");
	base = mock_open_fds(f->mk);
	assert_int_equal(recv_raw(f, NULL, NULL, 0), -ECONNRESET);
	assert_err_contains(f, "closed the connection without handing");
	assert_int_equal(recv_raw(f, good, NULL, 0), -EPROTO);
	assert_err_contains(f, "without any fd");
	for (size_t k = 0; k < 140; k++)
		fds[k] = p[0];
	assert_int_equal(recv_raw(f, good, fds, 140), -EPROTO);
	assert_err_contains(f, "more than a handoff holds");
	fds[0] = i;
	fds[1] = cd;
	assert_int_equal(recv_raw(f, "hello\n", fds, 2), -EPROTO);
	assert_err_contains(f, "does not start with");
	assert_int_equal(recv_raw(f,
				  "libassign-handoff 1\nbackend iommufd\n"
				  "device 0000:00:03.0 pci 3\n",
				  fds, 2),
			 -EPROTO);
	assert_err_contains(f, "ends before \"end\"");
	assert_int_equal(recv_raw(f,
				  "libassign-handoff 1\nbackend type1\n"
				  "device 0000:00:03.0 pci 3\nend\n",
				  fds, 1),
			 -EPROTO);
	assert_err_contains(f, "group was not handed over");
	assert_int_equal(recv_raw(f, good, fds, 1), -EPROTO);
	assert_err_contains(f, "names 2 fds, and 1 came");
	assert_int_equal(recv_raw(f, good, fds, 3), -EPROTO);
	assert_err_contains(f, "names 2 fds, and 3 came");
	fds[0] = p[0];
	assert_int_equal(recv_raw(f, good, fds, 2), -EPROTO);
	assert_err_contains(f, "fd 0 of the handoff is a pipe");
	fds[0] = i;
	fds[1] = i;
	assert_int_equal(recv_raw(f, good, fds, 2), -EPROTO);
	assert_err_contains(f, "fd 1 of the handoff is an iommufd");
	/* The cdev of another device than the line says. */
	assert_int_equal(recv_raw(f,
				  "libassign-handoff 1\nbackend iommufd\n"
				  "device 0000:00:04.0 pci 4\nend\n",
				  (int[]){ i, cd }, 2),
			 -EPROTO);
	assert_err_contains(f, "the vfio cdev of 0000:00:03.0, not what");
	/* Whatever came was closed again. */
	assert_int_equal(mock_open_fds(f->mk), base);
	/* And the good one works. */
	fds[1] = cd;
	assert_int_equal(recv_raw(f, good, fds, 2), 0);
	assert_int_equal(mock_open_fds(f->mk), base);
	raw_close(f, cd);
	raw_close(f, i);
	close(p[0]);
	close(p[1]);
}

/* The VMM's side, every seam call failing in turn: it fails cleanly (or
 * recovers) and leaves nothing open. */
static void test_handoff_fault_sweep(void **state)
{
	static const char *const names[] = { DEV0, MDEV0 };
	struct fx *f = *state;

	for (int b = 0; b < 2; b++) {
		enum assign_iommu_backend be = b ? ASSIGN_IOMMU_IOMMUFD :
						   ASSIGN_IOMMU_TYPE1;
		unsigned long calls = 0;

		for (unsigned long k = 0; k <= calls + 1; k++) {
			struct assign_handoff *h = NULL;
			struct assign_iommu *iommu = NULL;
			struct assign_device *d0 = NULL, *d1 = NULL;
			unsigned long start;
			int sv[2], r;

			assert_int_equal(
				socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
			helper_send(f, be, names, 2, sv[0]);
			close(sv[0]);
			start = mock_calls(f->mk, MOCK_ANY);
			if (k)
				mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
			r = assign_handoff_recv(f->ctx, sv[1], &h);
			if (r == 0)
				r = assign_iommu_new_from_handoff(f->ctx, h,
								  &iommu);
			assign_handoff_free(h);
			if (r == 0)
				r = assign_device_open(iommu, DEV0, NULL, &d0);
			if (r == 0)
				r = assign_device_open(iommu, MDEV0, NULL, &d1);
			mock_fail_clear(f->mk);
			if (!k)
				calls = mock_calls(f->mk, MOCK_ANY) - start;
			if (r < 0)
				assert_true(err(f)[0]);
			assign_device_unref(d1);
			assign_device_unref(d0);
			assign_iommu_unref(iommu);
			close(sv[1]);
			mock_drop_inflight(f->mk);
			assert_int_equal(mock_open_fds(f->mk), 0);
		}
		assert_true(calls > 10);
	}
}

/* ---- VF tokens ---------------------------------------------------------- */

static void add_pf_vf(struct mock_kernel *mk)
{
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, PF, 30);
	cfg.sriov_pf = true;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
	mock_device_cfg_default(&cfg, VF, 31);
	cfg.physfn = PF;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
}

static int open_tok(struct assign_iommu *iommu, const char *name,
		    const char *token, struct assign_device **dev)
{
	struct assign_device_opts o = { .size = sizeof(o), .vf_token = token };

	return assign_device_open(iommu, name, &o, dev);
}

static void test_vf_token_type1(void **state)
{
	struct fx *f = *state;
	struct assign_iommu *iommu;
	struct assign_device *pf = NULL, *vf = NULL, *d = NULL;

	add_pf_vf(f->mk);
	iommu = new_iommu(f, ASSIGN_IOMMU_TYPE1);
	assert_int_equal(open_tok(iommu, PF, NULL, &pf), 0);
	assert_int_equal(open_tok(iommu, VF, NULL, &vf), -EACCES);
	assert_err_contains(f, "0000:05:00.1 is a VF whose PF 0000:05:00.0 is "
			       "driven through vfio-pci");
	assert_int_equal(assign_device_set_vf_token(pf, "nope"), -EINVAL);
	assert_int_equal(assign_device_set_vf_token(pf, TOKEN), 0);
	assert_int_equal(open_tok(iommu, VF, TOKEN2, &vf), -EACCES);
	assert_err_contains(f, "is not the one its PF 0000:05:00.0 was given");
	assert_int_equal(open_tok(iommu, VF, "not-a-uuid", &vf), -EINVAL);
	assert_err_contains(f, "vf_token is not a UUID");
	assert_int_equal(open_tok(iommu, VF, TOKEN, &vf), 0);
	/* Tokens are for PFs and VFs only. */
	assert_int_equal(open_tok(iommu, DEV0, TOKEN, &d), -EINVAL);
	assert_err_contains(f, "0000:00:03.0 takes no VF token");
	assert_int_equal(open_tok(iommu, DEV0, NULL, &d), 0);
	assert_int_equal(assign_device_set_vf_token(d, TOKEN), -EOPNOTSUPP);
	assert_err_contains(f, "not an SR-IOV PF");
	/* The PF again while its VF is open: the token is asked for. */
	assign_device_unref(pf);
	assert_int_equal(open_tok(iommu, PF, NULL, &pf), -EACCES);
	assert_err_contains(f, "has VFs in use through VFIO");
	assert_int_equal(open_tok(iommu, PF, TOKEN, &pf), 0);
	assign_device_unref(d);
	assign_device_unref(vf);
	assign_device_unref(pf);
	assign_iommu_unref(iommu);
}

static void test_vf_token_cdev(void **state)
{
	struct fx *f = *state;
	struct assign_iommu *iommu;
	struct assign_device *pf = NULL, *vf = NULL;

	add_pf_vf(f->mk);
	iommu = new_iommu(f, ASSIGN_IOMMU_IOMMUFD);
	assert_int_equal(open_tok(iommu, PF, NULL, &pf), 0);
	assert_int_equal(assign_device_set_vf_token(pf, TOKEN), 0);
	/* Linux 6.12: no token on the cdev path, the library says so. */
	f->warned[0] = '\0';
	assert_int_equal(open_tok(iommu, VF, TOKEN2, &vf), 0);
	assert_non_null(strstr(f->warned, "took no VF token"));
	assign_device_unref(vf);
	/* Linux 6.17: the token is checked. */
	mock_set_bind_token(f->mk, true);
	assert_int_equal(open_tok(iommu, VF, TOKEN2, &vf), -EACCES);
	assert_err_contains(f, "is not the one its PF");
	assert_int_equal(open_tok(iommu, VF, NULL, &vf), -EACCES);
	assert_err_contains(f, "needs the VF token");
	f->warned[0] = '\0';
	assert_int_equal(open_tok(iommu, VF, TOKEN, &vf), 0);
	assert_string_equal(f->warned, "");
	assign_device_unref(vf);
	assign_device_unref(pf);
	assign_iommu_unref(iommu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_mdev, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_mdev_auto, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_platform, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_bad_names, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_diagnosis_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_type1, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_adopt_type1_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_adopt_iommufd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handoff_type1, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handoff_iommufd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handoff_helper_refuses,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_handoff_bad_messages,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_handoff_fault_sweep, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vf_token_type1, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vf_token_cdev, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
