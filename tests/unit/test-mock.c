// SPDX-License-Identifier: MIT
/*
 * Tests of the mock kernel itself, through raw calls on its seam: argsz
 * negotiation, capability chain layout, the DMA map errors, group
 * viability, eventfds, hot reset, iommufd, fault injection and the leak
 * counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include <libassign/device.h>
#include <libassign/iommu.h>

#include "core/sys.h"
#include "pci/pci.h"
#include "mock.h"

#define DEV0 "0000:00:03.0"
#define DEV1 "0000:00:04.0"
#define DEV2 "0000:01:00.0"

struct fx {
	struct mock_kernel *mk;
	const struct assign_sys_ops *ops;
	int root;
};

static struct fx *F;

static int sopen(const char *p)
{
	return F->ops->open(F->mk, p, O_RDWR);
}
static int sclose(int fd)
{
	return F->ops->close(F->mk, fd);
}
static int sioctl(int fd, unsigned long req, void *arg)
{
	return F->ops->ioctl(F->mk, fd, req, arg);
}
static int sioctl_v(int fd, unsigned long req, unsigned long v)
{
	return F->ops->ioctl(F->mk, fd, req, (void *)(uintptr_t)v);
}

static int setup(void **state)
{
	struct mock_device_cfg cfg;
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(mock_kernel_new(&fx->mk), 0);
	fx->ops = mock_sys_ops();
	mock_device_cfg_default(&cfg, DEV0, 7);
	assert_int_equal(mock_add_device(fx->mk, &cfg), 0);
	mock_device_cfg_default(&cfg, DEV1, 7);
	assert_int_equal(mock_add_device(fx->mk, &cfg), 0);
	mock_device_cfg_default(&cfg, DEV2, 9);
	assert_int_equal(mock_add_device(fx->mk, &cfg), 0);
	fx->root = open(mock_sysfs_root(fx->mk), O_PATH | O_DIRECTORY);
	assert_true(fx->root >= 0);
	F = fx;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(mock_open_fds(fx->mk), 0);
	assert_int_equal(mock_dma_count(fx->mk), 0);
	assert_int_equal(mock_mmaps(fx->mk), 0);
	close(fx->root);
	mock_kernel_free(fx->mk);
	free(fx);
	return 0;
}

/* A container with group 7 attached and TYPE1v2 set. */
static void type1_open(int *container, int *group)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };

	*container = sopen("/dev/vfio/vfio");
	assert_true(*container >= 0);
	*group = sopen("/dev/vfio/7");
	assert_true(*group >= 0);
	assert_int_equal(sioctl(*group, VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	assert_int_equal(sioctl(*group, VFIO_GROUP_SET_CONTAINER, container), 0);
	assert_int_equal(sioctl_v(*container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
			 0);
}

static void test_sysfs_layout(void **state)
{
	struct fx *fx = *state;
	char buf[256];
	ssize_t n;
	int fd;

	n = readlinkat(fx->root, "bus/pci/devices/" DEV0 "/iommu_group", buf,
		       sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_string_equal(buf, "../../../kernel/iommu_groups/7");
	n = readlinkat(fx->root, "bus/pci/devices/" DEV0 "/driver", buf,
		       sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_string_equal(buf, "../../../bus/pci/drivers/vfio-pci");
	assert_int_equal(faccessat(fx->root, "kernel/iommu_groups/7/devices/" DEV1,
				   F_OK, 0), 0);
	assert_int_equal(faccessat(fx->root,
				   "bus/pci/devices/" DEV0 "/vfio-dev/vfio0/dev",
				   F_OK, 0), 0);
	fd = openat(fx->root, "kernel/iommu_groups/7/reserved_regions", O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	assert_string_equal(buf, "0x00000000fee00000 0x00000000feefffff msi\n");
	fd = openat(fx->root, "bus/pci/devices/" DEV0 "/vendor", O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	assert_string_equal(buf, "0x8086\n");
}

static void test_sysfs_through_seam(void **state)
{
	struct fx *fx = *state;
	char buf[64];
	ssize_t n;
	int fd;

	fd = fx->ops->openat(fx->mk, fx->root, "bus/pci/devices/" DEV2 "/driver/unbind",
			     O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(mock_open_fds(fx->mk), 1);
	assert_int_equal(fx->ops->pwrite(fx->mk, fd, DEV2, strlen(DEV2), 0),
			 (ssize_t)strlen(DEV2));
	assert_int_equal(sclose(fd), 0);
	assert_int_equal(faccessat(fx->root, "bus/pci/devices/" DEV2 "/driver",
				   F_OK, AT_SYMLINK_NOFOLLOW), -1);
	/* driver_override + drivers_probe binds it back. */
	fd = fx->ops->openat(fx->mk, fx->root,
			     "bus/pci/devices/" DEV2 "/driver_override", O_WRONLY);
	assert_int_equal(fx->ops->pwrite(fx->mk, fd, "vfio-pci\n", 9, 0), 9);
	sclose(fd);
	fd = fx->ops->openat(fx->mk, fx->root,
			     "bus/pci/devices/" DEV2 "/driver_override", O_RDONLY);
	n = fx->ops->pread(fx->mk, fd, buf, sizeof(buf) - 1, 0);
	sclose(fd);
	buf[n > 0 ? n : 0] = 0;
	assert_string_equal(buf, "vfio-pci\n");
	fd = fx->ops->openat(fx->mk, fx->root, "bus/pci/drivers_probe", O_WRONLY);
	assert_int_equal(fx->ops->pwrite(fx->mk, fd, DEV2, strlen(DEV2), 0),
			 (ssize_t)strlen(DEV2));
	sclose(fd);
	n = readlinkat(fx->root, "bus/pci/devices/" DEV2 "/driver", buf,
		       sizeof(buf) - 1);
	assert_true(n > 0);
	assert_true(mock_calls(fx->mk, MOCK_OPENAT) == 4);
}

static void test_container_basics(void **state)
{
	struct fx *fx = *state;
	int c = sopen("/dev/vfio/vfio"), g;

	assert_true(c >= 0);
	assert_int_equal(sioctl(c, VFIO_GET_API_VERSION, NULL), VFIO_API_VERSION);
	assert_int_equal(sioctl_v(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 1);
	assert_int_equal(sioctl_v(c, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), 0);
	/* SET_IOMMU needs a group first. */
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), -EINVAL);
	assert_int_equal(sioctl(c, VFIO_IOMMU_GET_INFO, NULL), -EINVAL);
	assert_int_equal(sopen("/dev/vfio/8"), -ENOENT);
	assert_int_equal(sopen("/dev/vfio/noiommu-7"), -ENOENT);
	assert_int_equal(sopen("/dev/nonexistent"), -ENOENT);
	g = sopen("/dev/vfio/7");
	assert_true(g >= 0);
	assert_int_equal(sopen("/dev/vfio/7"), -EBUSY);
	assert_int_equal(sopen("/dev/vfio/devices/vfio0"), -EBUSY);
	assert_int_equal(sioctl(g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EINVAL);
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), -EINVAL);
	/* No device fd before the IOMMU type is set. */
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV0), -EINVAL);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, 42), -ENODEV);
	mock_set_type1v2(fx->mk, false);
	assert_int_equal(sioctl_v(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 0);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), -ENODEV);
	mock_set_type1v2(fx->mk, true);
	/* No interrupt remapping and no allow_unsafe_interrupts. */
	mock_set_irq_remap(fx->mk, false);
	mock_set_allow_unsafe_interrupts(fx->mk, false);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), -EPERM);
	mock_set_allow_unsafe_interrupts(fx->mk, true);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	mock_set_irq_remap(fx->mk, true);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), -EINVAL);
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_DEVICE_FD, "00:03.0"), -ENODEV);
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_DEVICE_FD, DEV2), -ENODEV);
	assert_int_equal(mock_open_fds(fx->mk), 2);
	/* Closing the container keeps it alive through the group. */
	assert_int_equal(sclose(c), 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	assert_int_equal(sclose(g), 0);
}

static void test_type1_info_caps(void **state)
{
	struct fx *fx = *state;
	struct vfio_iommu_type1_info *info;
	const struct vfio_info_cap_header *h;
	uint32_t off, prev = 0, seen = 0;
	int c, g;

	type1_open(&c, &g);
	info = calloc(1, 4096);
	info->argsz = sizeof(*info);
	assert_int_equal(sioctl(c, VFIO_IOMMU_GET_INFO, info), 0);
	assert_true(info->flags & VFIO_IOMMU_INFO_PGSIZES);
	assert_true(info->flags & VFIO_IOMMU_INFO_CAPS);
	assert_int_equal(info->cap_offset, 0);
	assert_int_equal(info->iova_pgsizes, 0x40201000ull);
	/* 24 + migration 32 + dma_avail 16 + iova 16 + 2 * 16 */
	assert_int_equal(info->argsz, sizeof(*info) + 32 + 16 + 16 + 32);
	/* Too small even for the fixed part. */
	info->argsz = 8;
	assert_int_equal(sioctl(c, VFIO_IOMMU_GET_INFO, info), -EINVAL);
	info->argsz = 4096;
	assert_int_equal(sioctl(c, VFIO_IOMMU_GET_INFO, info), 0);
	assert_int_equal(info->argsz, 4096);
	assert_int_equal(info->cap_offset, sizeof(*info));
	for (off = info->cap_offset; off; off = h->next) {
		assert_true(off > prev);
		assert_int_equal(off % 8, 0);
		prev = off;
		h = (const void *)((const uint8_t *)info + off);
		seen |= 1u << h->id;
		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			const struct vfio_iommu_type1_info_cap_iova_range *r =
				(const void *)h;
			assert_int_equal(r->nr_iovas, 2);
			assert_int_equal(r->iova_ranges[0].start, 0);
			assert_int_equal(r->iova_ranges[0].end, 0xfedfffffull);
			assert_int_equal(r->iova_ranges[1].start, 0xfef00000ull);
			assert_int_equal(r->iova_ranges[1].end, (1ull << 48) - 1);
		} else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
			const struct vfio_iommu_type1_info_dma_avail *a =
				(const void *)h;
			assert_int_equal(a->avail, 65535);
		}
	}
	assert_int_equal(seen, (1u << VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) |
				       (1u << VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION) |
				       (1u << VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL));
	/* Reserved regions of the groups shape the ranges. */
	mock_set_reserved_regions(fx->mk, 7, "0x0 0xfff direct\n");
	assert_int_equal(sioctl(c, VFIO_IOMMU_GET_INFO, info), 0);
	h = (const void *)((const uint8_t *)info + info->cap_offset);
	while (h->id != VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE)
		h = (const void *)((const uint8_t *)info + h->next);
	assert_int_equal(((const struct vfio_iommu_type1_info_cap_iova_range *)h)
				 ->iova_ranges[0].start,
			 0x1000);
	free(info);
	sclose(g);
	sclose(c);
}

static int map(int c, void *va, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va,
		.iova = iova,
		.size = size,
	};
	return sioctl(c, VFIO_IOMMU_MAP_DMA, &m);
}

static int unmap(int c, uint64_t iova, uint64_t size, uint64_t *done)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u), .iova = iova, .size = size,
	};
	int r = sioctl(c, VFIO_IOMMU_UNMAP_DMA, &u);
	if (done)
		*done = u.size;
	return r;
}

static void test_type1_dma(void **state)
{
	struct fx *fx = *state;
	size_t len = 1 << 20;
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vfio_iommu_type1_dma_unmap all = {
		.argsz = sizeof(all), .flags = VFIO_DMA_UNMAP_FLAG_ALL,
	};
	uint64_t done;
	void *va;
	int c, g;

	type1_open(&c, &g);
	assert_int_equal(map(c, mem, 0x100000, 0x10000), 0);
	assert_int_equal(mock_dma_count(fx->mk), 1);
	assert_int_equal(mock_dma_bytes(fx->mk), 0x10000);
	assert_int_equal(mock_dma_lookup(fx->mk, 0x100010, &va, NULL), 0);
	assert_ptr_equal(va, mem + 0x10);
	assert_int_equal(mock_dma_lookup(fx->mk, 0x200000, &va, NULL), -ENOENT);
	assert_int_equal(map(c, mem, 0x108000, 0x10000), -EEXIST);
	assert_int_equal(map(c, mem + 1, 0x200000, 0x1000), -EINVAL);
	assert_int_equal(map(c, mem, 0x200800, 0x1000), -EINVAL);
	assert_int_equal(map(c, mem, 0x200000, 0), -EINVAL);
	/* The MSI window is not a valid IOVA. */
	assert_int_equal(map(c, mem, 0xfee00000, 0x1000), -EINVAL);
	/* Unmapped memory cannot be pinned. */
	assert_int_equal(map(c, (void *)0x1000, 0x400000, 0x1000), -EFAULT);
	/* memlock */
	mock_set_memlock(fx->mk, 0x18000);
	assert_int_equal(map(c, mem, 0x200000, 0x10000), -ENOMEM);
	assert_int_equal(map(c, mem, 0x200000, 0x8000), 0);
	mock_set_memlock(fx->mk, UINT64_MAX);
	/* CAP_IPC_LOCK lifts the limit, and /proc/self/status says so. */
	mock_set_cap_ipc_lock(fx->mk, true);
	assert_int_equal(map(c, mem, 0x280000, 0x10000), 0);
	assert_int_equal(unmap(c, 0x280000, 0x10000, NULL), 0);
	{
		char st[512] = "";
		int sfd = sopen("/proc/self/status");
		assert_true(sfd >= 0);
		assert_true(F->ops->pread(F->mk, sfd, st, sizeof(st) - 1, 0) > 0);
		assert_non_null(strstr(st, "\nCapEff:\t0000000000004000\n"));
		sclose(sfd);
	}
	mock_set_cap_ipc_lock(fx->mk, false);
	/* dma_entry_limit */
	mock_set_dma_entry_limit(fx->mk, 3);
	assert_int_equal(map(c, mem, 0x300000, 0x1000), 0);
	assert_int_equal(map(c, mem, 0x400000, 0x1000), -ENOSPC);
	mock_set_dma_entry_limit(fx->mk, 65535);
	/* type1 v2: no bisecting an existing mapping. */
	assert_int_equal(unmap(c, 0x104000, 0x1000, NULL), -EINVAL);
	assert_int_equal(unmap(c, 0x100000, 0x1000, NULL), -EINVAL);
	assert_int_equal(unmap(c, 0x500000, 0x1000, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(unmap(c, 0x100000, 0x110000, &done), 0);
	assert_int_equal(done, 0x18000);
	assert_int_equal(mock_dma_count(fx->mk), 1);
	assert_int_equal(sioctl(c, VFIO_IOMMU_UNMAP_DMA, &all), 0);
	assert_int_equal(all.size, 0x1000);
	assert_int_equal(mock_dma_count(fx->mk), 0);
	/* Mappings go with the last group. */
	assert_int_equal(map(c, mem, 0x100000, 0x1000), 0);
	sclose(g);
	assert_int_equal(mock_dma_count(fx->mk), 0);
	sclose(c);
	munmap(mem, len);
}

/* A new group or device cannot join while a mapping sits in one of its
 * reserved regions. */
static void test_attach_conflicts(void **state)
{
	struct fx *fx = *state;
	uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE,
		.user_va = (uintptr_t)mem,
		.length = 0x1000,
		.iova = 0x3000,
	};
	int c, g, g9, ifd, d;

	mock_set_reserved_regions(fx->mk, 9, "0x2000 0x3fff reserved\n");
	type1_open(&c, &g);
	assert_int_equal(map(c, mem, 0x3000, 0x1000), 0);
	g9 = sopen("/dev/vfio/9");
	assert_int_equal(sioctl(g9, VFIO_GROUP_SET_CONTAINER, &c), -EINVAL);
	sclose(g9);
	sclose(g);
	sclose(c);

	ifd = sopen("/dev/iommu");
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_ALLOC, &alloc), 0);
	m.ioas_id = alloc.out_ioas_id;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_MAP, &m), 0);
	d = sopen("/dev/vfio/devices/vfio2");
	bind.iommufd = ifd;
	assert_int_equal(sioctl(d, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	at.pt_id = alloc.out_ioas_id;
	assert_int_equal(sioctl(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at),
			 -EADDRINUSE);
	sclose(d);
	sclose(ifd);
	munmap(mem, 0x1000);
}

static void test_viability(void **state)
{
	struct fx *fx = *state;
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int c = sopen("/dev/vfio/vfio"), g;

	mock_set_driver(fx->mk, DEV1, "e1000e");
	g = sopen("/dev/vfio/7");
	assert_true(g >= 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(st.flags, 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), -EPERM);
	mock_set_driver(fx->mk, DEV1, NULL);
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	mock_set_driver(fx->mk, DEV1, "pcieport");
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	mock_set_driver(fx->mk, DEV1, "mlx5_vfio_pci");
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	mock_set_driver(fx->mk, DEV1, "pci-stub");
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(st.flags, VFIO_GROUP_FLAGS_VIABLE |
					   VFIO_GROUP_FLAGS_CONTAINER_SET);
	sclose(g);
	sclose(c);
	/* With no device bound to vfio-pci there is no group node. */
	mock_set_driver(fx->mk, DEV2, "nvme");
	assert_int_equal(sopen("/dev/vfio/9"), -ENOENT);
	assert_int_equal(sopen("/dev/vfio/devices/vfio2"), -ENOENT);
}

static int get_dev(int g, const char *name)
{
	return sioctl(g, VFIO_GROUP_GET_DEVICE_FD, (void *)name);
}

static void test_device_regions(void **state)
{
	struct fx *fx = *state;
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_region_info *ri = calloc(1, 512);
	const struct vfio_region_info_cap_sparse_mmap *sp;
	uint32_t v, want;
	void *p;
	int c, g, d, d2;

	type1_open(&c, &g);
	d = get_dev(g, DEV0);
	assert_true(d >= 0);
	/* The group path lets a device be opened more than once. */
	d2 = get_dev(g, DEV0);
	assert_true(d2 >= 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EBUSY);
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_INFO, &di), 0);
	assert_int_equal(di.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	assert_int_equal(di.num_regions, VFIO_PCI_NUM_REGIONS);
	assert_int_equal(di.num_irqs, VFIO_PCI_NUM_IRQS);
	di.argsz = 8;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_INFO, &di), -EINVAL);

	ri->argsz = sizeof(*ri);
	ri->index = VFIO_PCI_BAR0_REGION_INDEX;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), 0);
	assert_int_equal(ri->size, 0x20000);
	assert_int_equal(ri->offset, 0ull);
	assert_true(ri->flags & VFIO_REGION_INFO_FLAG_CAPS);
	assert_int_equal(ri->argsz, sizeof(*ri) + 16 + 2 * 16);
	assert_int_equal(ri->cap_offset, 0);
	ri->argsz = 512;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), 0);
	assert_int_equal(ri->cap_offset, sizeof(*ri));
	sp = (const void *)((const uint8_t *)ri + ri->cap_offset);
	assert_int_equal(sp->header.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	assert_int_equal(sp->header.next, 0);
	assert_int_equal(sp->nr_areas, 2);
	assert_int_equal(sp->areas[1].offset, 0x11000);
	ri->index = VFIO_PCI_CONFIG_REGION_INDEX;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), 0);
	assert_int_equal(ri->offset, 7ull << 40);
	assert_int_equal(ri->size, 4096);
	assert_false(ri->flags & VFIO_REGION_INFO_FLAG_MMAP);
	ri->index = VFIO_PCI_BAR1_REGION_INDEX;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), 0);
	assert_int_equal(ri->size, 0);
	assert_int_equal(ri->flags, 0);
	ri->index = VFIO_PCI_VGA_REGION_INDEX;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), -EINVAL);
	ri->index = 9;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), -EINVAL);

	/* pread/pwrite and mmap reach the same bytes. */
	v = 0xdeadbeef;
	assert_int_equal(F->ops->pwrite(F->mk, d, &v, 4, 0x100), 4);
	assert_int_equal(*(uint32_t *)(mock_region_mem(fx->mk, DEV0, 0) + 0x100),
			 0xdeadbeef);
	assert_int_equal(F->ops->mmap(F->mk, NULL, 0x10000, PROT_READ | PROT_WRITE,
				      MAP_SHARED, d, 0, &p), 0);
	assert_int_equal(mock_mmaps(fx->mk), 1);
	assert_int_equal(((uint32_t *)p)[0x40], 0xdeadbeef);
	assert_int_equal(F->ops->munmap(F->mk, p, 0x10000), 0);
	assert_int_equal(mock_mmaps(fx->mk), 0);
	/* The MSI-X table page is not mappable (no MSIX_MAPPABLE). */
	assert_int_equal(F->ops->mmap(F->mk, NULL, 0x1000, PROT_READ, MAP_SHARED,
				      d, 0x10000, &p), -EINVAL);
	assert_int_equal(F->ops->mmap(F->mk, NULL, 0x1000, PROT_READ, MAP_PRIVATE,
				      d, 0, &p), -EINVAL);
	assert_int_equal(F->ops->mmap(F->mk, NULL, 0x1000, PROT_READ, MAP_SHARED,
				      d, 7ull << 40, &p), -EINVAL);
	assert_int_equal(F->ops->pread(F->mk, d, &v, 4, 0x20000), -EINVAL);
	/* Config space: the generated header and BAR sizing. */
	assert_int_equal(F->ops->pread(F->mk, d, &v, 4, 7ull << 40), 4);
	assert_int_equal(v, 0x10d38086);
	v = 0xffffffff;
	assert_int_equal(F->ops->pwrite(F->mk, d, &v, 4, (7ull << 40) + 0x10), 4);
	assert_int_equal(F->ops->pread(F->mk, d, &v, 4, (7ull << 40) + 0x10), 4);
	want = ~(0x20000u - 1);
	assert_int_equal(v, want);
	assert_int_equal(sclose(d2), 0);
	assert_int_equal(sclose(d), 0);
	sclose(g);
	sclose(c);
	free(ri);
}

static struct vfio_irq_set *irqset(uint32_t flags, uint32_t index,
				   uint32_t start, uint32_t count,
				   const int32_t *fds)
{
	struct vfio_irq_set *s = calloc(1, sizeof(*s) + 4 * (count + 1));

	s->argsz = (uint32_t)(sizeof(*s) + ((flags & VFIO_IRQ_SET_DATA_EVENTFD)
						    ? 4 * count
						    : (flags & VFIO_IRQ_SET_DATA_BOOL) ? count : 0));
	s->flags = flags;
	s->index = index;
	s->start = start;
	s->count = count;
	if (fds)
		memcpy(s->data, fds, 4 * count);
	return s;
}

static int set_irqs(int d, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count, const int32_t *fds)
{
	struct vfio_irq_set *s = irqset(flags, index, start, count, fds);
	int r = sioctl(d, VFIO_DEVICE_SET_IRQS, s);
	free(s);
	return r;
}

static bool fired(int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, 0) != 1)
		return false;
	return read(efd, &v, sizeof(v)) == sizeof(v);
}

#define EFD (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)
#define NONE_TRIG (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER)

static void test_irqs(void **state)
{
	struct fx *fx = *state;
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };
	int32_t e[5];
	int c, g, d;

	for (int i = 0; i < 5; i++)
		e[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	type1_open(&c, &g);
	d = get_dev(g, DEV0);
	ii.index = VFIO_PCI_MSIX_IRQ_INDEX;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	assert_int_equal(ii.count, 5);
	assert_int_equal(ii.flags, VFIO_IRQ_INFO_EVENTFD);
	ii.index = 5;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL);

	/* MSI-X: two vectors, then grow to four (dynamic allocation). */
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, e), 0);
	assert_int_equal(mock_irq_enabled(fx->mk, DEV0, VFIO_PCI_MSIX_IRQ_INDEX), 2);
	assert_int_equal(mock_fire_irq(fx->mk, DEV0, VFIO_PCI_MSIX_IRQ_INDEX, 1), 0);
	assert_true(fired(e[1]));
	assert_false(fired(e[0]));
	assert_int_equal(mock_fire_irq(fx->mk, DEV0, VFIO_PCI_MSIX_IRQ_INDEX, 3),
			 -ENOENT);
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSIX_IRQ_INDEX, 2, 2, e + 2), 0);
	assert_int_equal(mock_irq_enabled(fx->mk, DEV0, VFIO_PCI_MSIX_IRQ_INDEX), 4);
	assert_int_equal(mock_fire_irq(fx->mk, DEV0, VFIO_PCI_MSIX_IRQ_INDEX, 3), 0);
	assert_true(fired(e[3]));
	/* Loopback trigger from userspace. */
	assert_int_equal(set_irqs(d, NONE_TRIG, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL),
			 0);
	assert_true(fired(e[0]));
	/* Beyond the table, MSI while MSI-X, masking MSI-X, bad fds. */
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSIX_IRQ_INDEX, 4, 2, e), -EINVAL);
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, e), -EINVAL);
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, e), -EINVAL);
	assert_int_equal(set_irqs(d, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
				  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL),
			 -ENOTTY);
	{
		int32_t bad[1] = { 1000 }, notev[1] = { F->root };
		assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSIX_IRQ_INDEX, 4, 1, bad),
				 -EBADF);
		assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSIX_IRQ_INDEX, 4, 1, notev),
				 -EINVAL);
	}
	/* -1 unassigns one vector. */
	{
		int32_t none[1] = { -1 };
		assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1, none), 0);
		assert_int_equal(mock_fire_irq(fx->mk, DEV0, VFIO_PCI_MSIX_IRQ_INDEX, 1),
				 -ENOENT);
	}
	assert_int_equal(set_irqs(d, NONE_TRIG, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL), 0);
	assert_int_equal(mock_irq_enabled(fx->mk, DEV0, VFIO_PCI_MSIX_IRQ_INDEX), 0);

	/* MSI cannot grow (NORESIZE). */
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, e), 0);
	assert_int_equal(set_irqs(d, NONE_TRIG, VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL), 0);

	/* INTx: automasked on fire, pending while masked, unmask eventfd. */
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, e), 0);
	assert_int_equal(set_irqs(d, VFIO_IRQ_SET_DATA_EVENTFD |
					     VFIO_IRQ_SET_ACTION_UNMASK,
				  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, e + 4),
			 0);
	assert_int_equal(mock_fire_irq(fx->mk, DEV0, VFIO_PCI_INTX_IRQ_INDEX, 0), 0);
	assert_true(fired(e[0]));
	assert_true(mock_irq_masked(fx->mk, DEV0, VFIO_PCI_INTX_IRQ_INDEX, 0));
	assert_int_equal(mock_fire_irq(fx->mk, DEV0, VFIO_PCI_INTX_IRQ_INDEX, 0),
			 -EBUSY);
	assert_false(fired(e[0]));
	{
		uint64_t one = 1;
		assert_int_equal(write(e[4], &one, 8), 8);
	}
	/* Still asserted: fires again on unmask and stays masked. */
	assert_true(mock_irq_masked(fx->mk, DEV0, VFIO_PCI_INTX_IRQ_INDEX, 0));
	assert_true(fired(e[0]));
	assert_int_equal(set_irqs(d, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
				  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL),
			 0);
	assert_false(mock_irq_masked(fx->mk, DEV0, VFIO_PCI_INTX_IRQ_INDEX, 0));
	assert_int_equal(set_irqs(d, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
				  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL),
			 0);
	assert_true(mock_irq_masked(fx->mk, DEV0, VFIO_PCI_INTX_IRQ_INDEX, 0));
	/* ERR and REQ are independent of the others. */
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, e + 1), 0);
	assert_int_equal(mock_fire_irq(fx->mk, DEV0, VFIO_PCI_REQ_IRQ_INDEX, 0), 0);
	assert_true(fired(e[1]));
	/* Bad argsz / flags. */
	{
		struct vfio_irq_set *s = irqset(EFD, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, e);
		s->argsz -= 4;
		assert_int_equal(sioctl(d, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
		s->argsz += 4;
		s->flags |= 1u << 10;
		assert_int_equal(sioctl(d, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
		free(s);
	}
	/* Reset counts; closing the device disables everything. */
	assert_int_equal(sioctl(d, VFIO_DEVICE_RESET, NULL), 0);
	assert_int_equal(mock_reset_count(fx->mk, DEV0), 1);
	sclose(d);
	assert_int_equal(mock_irq_enabled(fx->mk, DEV0, VFIO_PCI_INTX_IRQ_INDEX), 0);
	assert_int_equal(mock_irq_enabled(fx->mk, DEV0, VFIO_PCI_REQ_IRQ_INDEX), 0);
	sclose(g);
	sclose(c);
	for (int i = 0; i < 5; i++)
		close(e[i]);
}

static void test_hot_reset(void **state)
{
	struct fx *fx = *state;
	struct vfio_pci_hot_reset_info *hi = calloc(1, 256);
	struct vfio_pci_hot_reset *hr = calloc(1, 64);
	int c, g, d;

	type1_open(&c, &g);
	d = get_dev(g, DEV0);
	hi->argsz = sizeof(*hi);
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hi), -ENOSPC);
	assert_int_equal(hi->count, 2);
	hi->argsz = 256;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hi), 0);
	assert_int_equal(hi->flags, 0);
	assert_int_equal(hi->devices[0].group_id, 7);
	assert_int_equal(hi->devices[1].devfn, 4 << 3);
	hr->argsz = sizeof(*hr) + 4;
	hr->count = 0;
	assert_int_equal(sioctl(d, VFIO_DEVICE_PCI_HOT_RESET, hr), -EINVAL);
	hr->count = 1;
	hr->group_fds[0] = c;
	assert_int_equal(sioctl(d, VFIO_DEVICE_PCI_HOT_RESET, hr), -EINVAL);
	hr->group_fds[0] = g;
	assert_int_equal(sioctl(d, VFIO_DEVICE_PCI_HOT_RESET, hr), 0);
	assert_int_equal(mock_hot_reset_count(fx->mk, DEV0), 1);
	assert_int_equal(mock_hot_reset_count(fx->mk, DEV1), 1);
	assert_int_equal(mock_hot_reset_count(fx->mk, DEV2), 0);
	sclose(d);
	sclose(g);
	sclose(c);
	free(hi);
	free(hr);
}

static void test_feature(void **state)
{
	struct vfio_device_feature f = { .argsz = sizeof(f) };
	int c, g, d;

	(void)state;
	type1_open(&c, &g);
	d = get_dev(g, DEV0);
	f.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
		  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
	assert_int_equal(sioctl(d, VFIO_DEVICE_FEATURE, &f), 0);
	f.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
		  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
	assert_int_equal(sioctl(d, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	f.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
		  VFIO_DEVICE_FEATURE_MIGRATION;
	assert_int_equal(sioctl(d, VFIO_DEVICE_FEATURE, &f), -ENOTTY);
	f.flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_GET |
		  VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
	assert_int_equal(sioctl(d, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	sclose(d);
	sclose(g);
	sclose(c);
}

static void test_iommufd(void **state)
{
	struct fx *fx = *state;
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_iova_range ranges[4];
	struct iommu_ioas_iova_ranges rq = { .size = sizeof(rq) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };
	struct iommu_destroy des = { .size = sizeof(des) };
	struct vfio_pci_hot_reset_info *hi = calloc(1, 256);
	struct vfio_pci_hot_reset hr = { .argsz = sizeof(hr) };
	uint8_t *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.user_va = (uintptr_t)mem,
		.length = 0x10000,
		.iova = 0x100000,
	};
	struct iommu_ioas_unmap um = { .size = sizeof(um) };
	int ifd, d, d1, g;

	ifd = sopen("/dev/iommu");
	assert_true(ifd >= 0);
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_ALLOC, &alloc), 0);
	assert_true(alloc.out_ioas_id > 0);
	d = sopen("/dev/vfio/devices/vfio0");
	assert_true(d >= 0);
	/* The group cannot be opened while a cdev is. */
	assert_int_equal(sopen("/dev/vfio/7"), -EBUSY);
	/* Nothing works before bind. */
	{
		struct vfio_device_info di = { .argsz = sizeof(di) };
		assert_int_equal(sioctl(d, VFIO_DEVICE_GET_INFO, &di), -EINVAL);
	}
	bind.iommufd = d;
	assert_int_equal(sioctl(d, VFIO_DEVICE_BIND_IOMMUFD, &bind), -EBADFD);
	bind.iommufd = ifd;
	mock_set_irq_remap(fx->mk, false);
	mock_set_allow_unsafe_interrupts(fx->mk, false);
	assert_int_equal(sioctl(d, VFIO_DEVICE_BIND_IOMMUFD, &bind), -EPERM);
	mock_set_irq_remap(fx->mk, true);
	assert_int_equal(sioctl(d, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	assert_true(bind.out_devid > 0);
	assert_int_equal(sioctl(d, VFIO_DEVICE_BIND_IOMMUFD, &bind), -EINVAL);
	/* Before attach, the IOAS allows everything. */
	rq.ioas_id = alloc.out_ioas_id;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_IOVA_RANGES, &rq), -EMSGSIZE);
	assert_int_equal(rq.num_iovas, 1);
	at.pt_id = 999;
	assert_int_equal(sioctl(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), -ENOENT);
	at.pt_id = alloc.out_ioas_id;
	assert_int_equal(sioctl(d, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), 0);
	assert_true(at.pt_id != alloc.out_ioas_id);
	rq.num_iovas = 1;
	rq.allowed_iovas = (uintptr_t)ranges;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_IOVA_RANGES, &rq), -EMSGSIZE);
	assert_int_equal(rq.num_iovas, 2);
	rq.num_iovas = 4;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_IOVA_RANGES, &rq), 0);
	assert_int_equal(rq.num_iovas, 2);
	assert_int_equal(ranges[0].last, 0xfedfffffull);
	assert_int_equal(rq.out_iova_alignment, 4096);

	m.ioas_id = alloc.out_ioas_id;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_MAP, &m), 0);
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_MAP, &m), -EEXIST);
	assert_int_equal(mock_dma_count(fx->mk), 1);
	m.iova = 0xfee00000;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_MAP, &m), -EINVAL);
	m.flags &= ~IOMMU_IOAS_MAP_FIXED_IOVA;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_MAP, &m), 0);
	assert_int_equal(m.iova, 0);
	mock_set_memlock(fx->mk, 0x20000);
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_MAP, &m), -ENOMEM);
	mock_set_memlock(fx->mk, UINT64_MAX);
	um.ioas_id = alloc.out_ioas_id;
	um.iova = 0x104000;
	um.length = 0x1000;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_UNMAP, &um), -ENOENT);
	um.iova = 0x200000;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_UNMAP, &um), -ENOENT);
	um.iova = 0x100000;
	um.length = 0x10000;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_UNMAP, &um), 0);
	assert_int_equal(um.length, 0x10000);
	assert_int_equal(mock_dma_count(fx->mk), 1);

	/* Hot reset through the cdev: devids, zero-length fd array. */
	d1 = sopen("/dev/vfio/devices/vfio1");
	hi->argsz = 256;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hi), 0);
	assert_int_equal(hi->flags, VFIO_PCI_HOT_RESET_FLAG_DEV_ID |
					    VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED);
	assert_int_equal(hi->devices[0].devid, bind.out_devid);
	assert_int_equal(hi->devices[1].devid, VFIO_PCI_DEVID_OWNED);
	assert_int_equal(sioctl(d, VFIO_DEVICE_PCI_HOT_RESET, &hr), 0);
	assert_int_equal(mock_hot_reset_count(fx->mk, DEV1), 1);
	sclose(d1);

	des.id = alloc.out_ioas_id;
	assert_int_equal(sioctl(ifd, IOMMU_DESTROY, &des), -EBUSY);
	assert_int_equal(sioctl(d, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt), 0);
	assert_int_equal(sioctl(ifd, IOMMU_DESTROY, &des), 0);
	assert_int_equal(mock_dma_count(fx->mk), 0);
	assert_int_equal(sioctl(ifd, IOMMU_DESTROY, &des), -ENOENT);
	/* Closing the iommufd first: the bound device keeps it alive. */
	sclose(ifd);
	sclose(d);
	g = sopen("/dev/vfio/7");
	assert_true(g >= 0);
	sclose(g);
	mock_set_iommufd(fx->mk, false);
	assert_int_equal(sopen("/dev/iommu"), -ENOENT);
	munmap(mem, 0x10000);
	free(hi);
}

/* What the kernel says about interrupt remapping: the IOMMU unit's VT-d
 * registers in sysfs and through IOMMU_GET_HW_INFO, the interrupt chips'
 * names, the allow_unsafe_interrupts parameters. */
static void test_irq_remap_model(void **state)
{
	struct fx *fx = *state;
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct iommu_hw_info_vtd vtd[2];
	struct iommu_hw_info hi = { .size = sizeof(hi) };
	char buf[64];
	ssize_t n;
	int fd, ifd, d;

	n = readlinkat(fx->root, "bus/pci/devices/" DEV0 "/iommu", buf,
		       sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_string_equal(buf, "../../virtual/iommu/dmar0");
	fd = openat(fx->root, "class/iommu/dmar0/intel-iommu/ecap", O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	assert_true(strtoull(buf, NULL, 16) & 8); /* IR */
	fd = openat(fx->root, "kernel/irq/24/chip_name", O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	assert_string_equal(buf, "IR-PCI-MSIX-0000:00:03.0\n");
	mock_set_irq_remap(fx->mk, false);
	mock_set_ir_capable(fx->mk, false);
	fd = openat(fx->root, "kernel/irq/0/chip_name", O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	assert_string_equal(buf, "IO-APIC\n");
	fd = openat(
		fx->root,
		"module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
		O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	assert_string_equal(buf, "Y\n");
	mock_set_irq_remap(fx->mk, true);
	mock_set_unsafe_param(fx->mk, true);
	fd = openat(fx->root,
		    "module/iommufd/parameters/allow_unsafe_interrupts",
		    O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	assert_string_equal(buf, "Y\n");

	ifd = sopen("/dev/iommu");
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_ALLOC, &alloc), 0);
	d = sopen("/dev/vfio/devices/vfio0");
	bind.iommufd = ifd;
	assert_int_equal(sioctl(d, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	hi.dev_id = bind.out_devid + 1;
	assert_int_equal(sioctl(ifd, IOMMU_GET_HW_INFO, &hi), -ENOENT);
	hi.dev_id = bind.out_devid;
	hi.flags = 1;
	assert_int_equal(sioctl(ifd, IOMMU_GET_HW_INFO, &hi), -EOPNOTSUPP);
	hi.flags = 0;
	/* No buffer: only the type and the length. */
	assert_int_equal(sioctl(ifd, IOMMU_GET_HW_INFO, &hi), 0);
	assert_int_equal(hi.out_data_type, IOMMU_HW_INFO_TYPE_INTEL_VTD);
	assert_int_equal(hi.data_len, sizeof(vtd[0]));
	/* A larger buffer: the rest zeroed. */
	memset(vtd, 0xa5, sizeof(vtd));
	hi.data_uptr = (uintptr_t)vtd;
	hi.data_len = sizeof(vtd);
	assert_int_equal(sioctl(ifd, IOMMU_GET_HW_INFO, &hi), 0);
	assert_int_equal(hi.data_len, sizeof(vtd[0]));
	assert_int_equal(vtd[0].ecap_reg & 8, 0); /* capable cleared above */
	assert_int_equal(vtd[1].ecap_reg, 0);
	mock_set_ir_capable(fx->mk, true);
	assert_int_equal(sioctl(ifd, IOMMU_GET_HW_INFO, &hi), 0);
	assert_int_equal(vtd[0].ecap_reg & 8, 8);
	sclose(d);
	sclose(ifd);
}

static void test_noiommu(void **state)
{
	struct fx *fx = *state;
	int c, g, d;

	mock_set_noiommu(fx->mk, true);
	assert_int_equal(sopen("/dev/vfio/7"), -ENOENT);
	c = sopen("/dev/vfio/vfio");
	assert_int_equal(sioctl_v(c, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU), 1);
	g = sopen("/dev/vfio/noiommu-7");
	assert_true(g >= 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), -ENODEV);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU), 0);
	d = get_dev(g, DEV0);
	assert_true(d >= 0);
	assert_int_equal(map(c, &fx, 0, 0x1000), -ENOTTY);
	sclose(d);
	sclose(g);
	sclose(c);
	mock_set_noiommu(fx->mk, false);
}

static void test_faults(void **state)
{
	struct fx *fx = *state;
	unsigned long before;
	int c, g;

	before = mock_calls(fx->mk, MOCK_ANY);
	mock_fail_nth(fx->mk, MOCK_OPEN, 0, 2, -EACCES);
	c = sopen("/dev/vfio/vfio");
	assert_true(c >= 0);
	assert_int_equal(sopen("/dev/vfio/7"), -EACCES);
	g = sopen("/dev/vfio/7");
	assert_true(g >= 0);
	assert_int_equal(mock_calls(fx->mk, MOCK_OPEN), 3);
	/* Restricted to one ioctl request. */
	mock_fail_nth(fx->mk, MOCK_IOCTL, VFIO_GROUP_SET_CONTAINER, 1, -EIO);
	assert_int_equal(sioctl(c, VFIO_GET_API_VERSION, NULL), 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), -EIO);
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	/* A failing close still releases. */
	mock_fail_nth(fx->mk, MOCK_CLOSE, 0, 1, -EINTR);
	assert_int_equal(sclose(g), -EINTR);
	assert_int_equal(mock_open_fds(fx->mk), 1);
	mock_fail_nth(fx->mk, MOCK_ANY, 0, 1, -ENOMEM);
	mock_fail_clear(fx->mk);
	assert_int_equal(sclose(c), 0);
	/* A double close is refused and counted; the fd number is not ours
	 * any more and is left alone. */
	assert_int_equal(mock_bad_fd_calls(fx->mk), 0);
	assert_int_equal(sclose(c), -EBADF);
	assert_int_equal(mock_bad_fd_calls(fx->mk), 1);
	assert_int_equal(mock_calls(fx->mk, MOCK_ANY) - before, 9);
}

/* A device built from a custom configuration: given config space, a ROM, a
 * device-specific region with a type capability, an MSI-X BAR that may be
 * mapped whole, the atomic-completer device capability; BOOL data. */
static void test_custom_device(void **state)
{
	struct fx *fx = *state;
	static const struct mock_region_cfg regions[] = {
		{ .index = 0, .size = 0x4000,
		  .flags = VFIO_REGION_INFO_FLAG_READ |
			   VFIO_REGION_INFO_FLAG_WRITE |
			   VFIO_REGION_INFO_FLAG_MMAP,
		  .nsparse = 1, .sparse = { { 0, 0x2000 } },
		  .msix_mappable = true },
		{ .index = 6, .size = 0x8000,
		  .flags = VFIO_REGION_INFO_FLAG_READ },
		{ .index = 9, .size = 0x1000,
		  .flags = VFIO_REGION_INFO_FLAG_READ,
		  .has_type = true, .type = 3, .subtype = 1 },
	};
	static const struct mock_irq_cfg irqs[] = {
		{ VFIO_PCI_MSIX_IRQ_INDEX, 8,
		  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
		{ VFIO_PCI_ERR_IRQ_INDEX, 1,
		  VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE },
	};
	uint8_t config[256] = { 0x34, 0x12, 0x78, 0x56 };
	struct mock_device_cfg cfg = {
		.addr = "0000:02:00.0", .group = 12, .driver = "vfio-pci",
		.vendor = 0x1234, .device = 0x5678, .class_code = 0x010802,
		.config = config, .config_len = sizeof(config),
		.regions = regions, .nregions = 3, .num_regions = 10,
		.irqs = irqs, .nirqs = 2, .pci_atomic_comp = VFIO_PCI_ATOMIC_COMP64,
	};
	struct vfio_device_info *di = calloc(1, 256);
	struct vfio_region_info *ri = calloc(1, 256);
	const struct vfio_info_cap_header *h;
	int32_t e[2];
	uint8_t one = 1;
	void *p;
	int c, g, d;

	assert_int_equal(mock_add_device(fx->mk, &cfg), 0);
	assert_int_equal(mock_add_device(fx->mk, &cfg), -EEXIST);
	c = sopen("/dev/vfio/vfio");
	g = sopen("/dev/vfio/12");
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	d = get_dev(g, "0000:02:00.0");
	assert_true(d >= 0);

	di->argsz = sizeof(*di);
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_INFO, di), 0);
	assert_int_equal(di->num_regions, 10);
	assert_true(di->flags & VFIO_DEVICE_FLAGS_CAPS);
	assert_int_equal(di->argsz, sizeof(*di) + 16);
	di->argsz = 256;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_INFO, di), 0);
	h = (const void *)((const uint8_t *)di + di->cap_offset);
	assert_int_equal(h->id, VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP);
	assert_int_equal(((const struct vfio_device_info_cap_pci_atomic_comp *)h)
				 ->flags,
			 VFIO_PCI_ATOMIC_COMP64);

	/* BAR0: sparse area then MSIX_MAPPABLE, 8-byte aligned, chained. */
	ri->argsz = 256;
	ri->index = 0;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), 0);
	h = (const void *)((const uint8_t *)ri + ri->cap_offset);
	assert_int_equal(h->id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	assert_int_equal(h->next, sizeof(*ri) + 32);
	h = (const void *)((const uint8_t *)ri + h->next);
	assert_int_equal(h->id, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE);
	assert_int_equal(h->next, 0);
	/* MSIX_MAPPABLE: outside the sparse area may be mapped too. */
	assert_int_equal(F->ops->mmap(F->mk, NULL, 0x4000, PROT_READ, MAP_SHARED,
				      d, 0, &p), 0);
	assert_int_equal(F->ops->munmap(F->mk, p, 0x4000), 0);
	ri->index = 9;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), 0);
	assert_int_equal(ri->offset, 9ull << 40);
	h = (const void *)((const uint8_t *)ri + ri->cap_offset);
	assert_int_equal(h->id, VFIO_REGION_INFO_CAP_TYPE);
	assert_int_equal(((const struct vfio_region_info_cap_type *)h)->type, 3);
	ri->index = 6;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), 0);
	assert_int_equal(ri->flags, VFIO_REGION_INFO_FLAG_READ);
	assert_int_equal(F->ops->pwrite(F->mk, d, &one, 1, 6ull << 40), -EINVAL);
	/* The given config space, 256 bytes. */
	ri->index = 7;
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_REGION_INFO, ri), 0);
	assert_int_equal(ri->size, 256);
	{
		uint32_t v;
		assert_int_equal(F->ops->pread(F->mk, d, &v, 4, 7ull << 40), 4);
		assert_int_equal(v, 0x56781234);
		assert_int_equal(F->ops->pread(F->mk, d, &v, 4, (7ull << 40) + 0x100),
				 -EINVAL);
	}

	/* NORESIZE MSI-X cannot grow; BOOL triggers; ERR. */
	e[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, e), 0);
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1, e + 1),
			 -EINVAL);
	{
		struct vfio_irq_set *s = irqset(VFIO_IRQ_SET_DATA_BOOL |
							VFIO_IRQ_SET_ACTION_TRIGGER,
						VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL);
		s->data[0] = 1;
		assert_int_equal(sioctl(d, VFIO_DEVICE_SET_IRQS, s), 0);
		assert_true(fired(e[0]));
		s->data[0] = 0;
		assert_int_equal(sioctl(d, VFIO_DEVICE_SET_IRQS, s), 0);
		assert_false(fired(e[0]));
		free(s);
	}
	assert_int_equal(set_irqs(d, EFD, VFIO_PCI_ERR_IRQ_INDEX, 0, 1, e + 1), 0);
	assert_int_equal(mock_fire_irq(fx->mk, "0000:02:00.0",
				       VFIO_PCI_ERR_IRQ_INDEX, 0), 0);
	assert_true(fired(e[1]));
	assert_int_equal(set_irqs(d, NONE_TRIG, VFIO_PCI_ERR_IRQ_INDEX, 0, 0, NULL),
			 0);
	assert_int_equal(mock_irq_enabled(fx->mk, "0000:02:00.0",
					  VFIO_PCI_ERR_IRQ_INDEX), 0);
	/* No INTx on this device: index count 0, every start is out of range. */
	assert_int_equal(set_irqs(d, NONE_TRIG, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL),
			 -EINVAL);
	/* No reset (VFIO_DEVICE_FLAGS_RESET is set, the default). */
	assert_int_equal(sioctl(d, VFIO_DEVICE_RESET, NULL), 0);
	sclose(d);
	sclose(g);
	sclose(c);
	close(e[0]);
	close(e[1]);
	free(di);
	free(ri);
}

/* type1 v1 unmap semantics, FLAG_VADDR, iommufd size rules and options. */
static void test_misc_semantics(void **state)
{
	struct fx *fx = *state;
	uint8_t *mem = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct vfio_iommu_type1_dma_map vm = {
		.argsz = sizeof(vm), .flags = VFIO_DMA_MAP_FLAG_VADDR,
		.vaddr = (uintptr_t)(mem + 0x1000), .iova = 0x10000, .size = 0x1000,
	};
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct {
		struct iommu_ioas_alloc a;
		uint32_t tail;
	} big = { { .size = sizeof(big) }, 0 };
	struct iommu_option opt = { .size = sizeof(opt) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	uint64_t done;
	void *va;
	int c, g, ifd;

	/* v1: an unmap range swallows whole mappings starting inside it. */
	c = sopen("/dev/vfio/vfio");
	g = sopen("/dev/vfio/7");
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), 0);
	assert_int_equal(map(c, mem, 0x10000, 0x2000), 0);
	assert_int_equal(unmap(c, 0x10000, 0x1000, &done), 0);
	assert_int_equal(done, 0x2000);
	/* FLAG_VADDR moves an exact mapping to new memory. */
	assert_int_equal(map(c, mem, 0x10000, 0x1000), 0);
	assert_int_equal(sioctl(c, VFIO_IOMMU_MAP_DMA, &vm), 0);
	assert_int_equal(mock_dma_lookup(fx->mk, 0x10000, &va, NULL), 0);
	assert_ptr_equal(va, mem + 0x1000);
	vm.size = 0x2000;
	assert_int_equal(sioctl(c, VFIO_IOMMU_MAP_DMA, &vm), -EINVAL);
	sclose(g);
	sclose(c);

	ifd = sopen("/dev/iommu");
	big.tail = 1;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_ALLOC, &big), -E2BIG);
	big.tail = 0;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_ALLOC, &big), 0);
	alloc.size = 8;
	assert_int_equal(sioctl(ifd, IOMMU_IOAS_ALLOC, &alloc), -EINVAL);
	opt.option_id = IOMMU_OPTION_HUGE_PAGES;
	opt.op = IOMMU_OPTION_OP_GET;
	opt.object_id = big.a.out_ioas_id;
	assert_int_equal(sioctl(ifd, IOMMU_OPTION, &opt), 0);
	assert_int_equal(opt.val64, 1);
	opt.object_id = 77;
	assert_int_equal(sioctl(ifd, IOMMU_OPTION, &opt), -ENOENT);
	opt.option_id = IOMMU_OPTION_RLIMIT_MODE;
	opt.object_id = 0;
	assert_int_equal(sioctl(ifd, IOMMU_OPTION, &opt), 0);
	assert_int_equal(sioctl(ifd, IOMMU_VFIO_IOAS, &opt), -ENOTTY);
	sclose(ifd);
	munmap(mem, 0x4000);
}

struct thr {
	int c;
	uint8_t *mem;
	uint64_t base;
	int err;
};

static void *thr_map(void *arg)
{
	struct thr *t = arg;

	for (int i = 0; i < 2000 && !t->err; i++) {
		uint64_t iova = t->base + (uint64_t)(i % 64) * 0x1000;
		if (map(t->c, t->mem, iova, 0x1000) ||
		    unmap(t->c, iova, 0x1000, NULL))
			t->err = 1;
	}
	return NULL;
}

/* The seam is used from two threads at once. */
static void test_threads(void **state)
{
	struct fx *fx = *state;
	struct thr t[2];
	pthread_t tid[2];
	int c, g;

	type1_open(&c, &g);
	for (int i = 0; i < 2; i++) {
		t[i].c = c;
		t[i].mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		t[i].base = 0x10000000ull * (uint64_t)(i + 1);
		t[i].err = 0;
		assert_int_equal(pthread_create(&tid[i], NULL, thr_map, &t[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(t[i].err, 0);
		munmap(t[i].mem, 0x1000);
	}
	assert_int_equal(mock_dma_count(fx->mk), 0);
	sclose(g);
	sclose(c);
}

static void test_library_attach(void **state)
{
	struct fx *fx = *state;
	struct assign_ctx *ctx;
	char name[32];

	assert_int_equal(mock_ctx_new(fx->mk, &ctx), 0);
	assert_int_equal(pci_dev_group(ctx, DEV0), 7);
	/* The knob as the library sees it: the kernel refuses the group. */
	{
		struct assign_iommu_opts o = { .size = sizeof(o),
					       .backend = ASSIGN_IOMMU_TYPE1 };
		struct assign_iommu *io;
		struct assign_device *dev = NULL;
		mock_set_irq_remap(fx->mk, false);
		mock_set_allow_unsafe_interrupts(fx->mk, false);
		assign_ctx_set_log_priority(ctx, 0);
		assert_int_equal(assign_iommu_new(ctx, &o, &io), 0);
		assert_int_equal(assign_device_open(io, DEV0, NULL, &dev), -EPERM);
		assert_non_null(strstr(assign_ctx_get_last_error(ctx),
				       "allow_unsafe_interrupts"));
		assign_iommu_unref(io);
		mock_set_irq_remap(fx->mk, true);
	}
	assert_int_equal(pci_dev_driver(ctx, DEV0, name, sizeof(name)), 0);
	assert_string_equal(name, "vfio-pci");
	assert_int_equal(mock_open_fds(fx->mk), 0);
	assert_ptr_equal(assign_ctx_unref(ctx), NULL);
}

/* ---- fds: what fstat says, and fds that travel over a socket --------- */

/* The /sys/dev/char link of @st's device number, resolved to its last
 * components. */
static void dev_char_link(const struct stat *st, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "dev/char/%u:%u", major(st->st_rdev),
		 minor(st->st_rdev));
	n = readlinkat(F->root, path, buf, size - 1);
	assert_true(n > 0);
	buf[n] = '\0';
}

static void test_fstat_nodes(void **state)
{
	struct fx *fx = *state;
	struct stat st;
	char link[256];
	int c, g, i, cd, d, p[2];

	(void)fx;
	type1_open(&c, &g);
	assert_int_equal(F->ops->fstat(F->mk, c, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	dev_char_link(&st, link, sizeof(link));
	assert_string_equal(link, "../../devices/virtual/misc/vfio");
	assert_int_equal(F->ops->fstat(F->mk, g, &st), 0);
	dev_char_link(&st, link, sizeof(link));
	assert_string_equal(link, "../../devices/virtual/vfio/7");
	/* A device fd of the group path is an anonymous inode. */
	d = sioctl(g, VFIO_GROUP_GET_DEVICE_FD, (void *)DEV0);
	assert_true(d >= 0);
	assert_int_equal(F->ops->fstat(F->mk, d, &st), 0);
	assert_int_equal(st.st_mode & S_IFMT, 0);
	i = sopen("/dev/iommu");
	assert_int_equal(F->ops->fstat(F->mk, i, &st), 0);
	dev_char_link(&st, link, sizeof(link));
	assert_string_equal(link, "../../devices/virtual/misc/iommu");
	cd = sopen("/dev/vfio/devices/vfio2");
	assert_true(cd >= 0);
	assert_int_equal(F->ops->fstat(F->mk, cd, &st), 0);
	dev_char_link(&st, link, sizeof(link));
	assert_non_null(strstr(link, "/" DEV2 "/vfio-dev/vfio2"));
	/* Real fds the mock never made are asked for real. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(F->ops->fstat(F->mk, p[0], &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	close(p[0]);
	close(p[1]);
	assert_int_equal(F->ops->fstat(F->mk, p[0], &st), -EBADF);
	sclose(cd);
	sclose(i);
	sclose(d);
	sclose(g);
	sclose(c);
	assert_int_equal(mock_bad_fd_calls(F->mk), 0);
}

static void test_fds_travel(void **state)
{
	struct fx *fx = *state;
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int sv[2], c, g, fds[4], got[4], p[2];
	size_t n = 0;
	char buf[16];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	c = sopen("/dev/vfio/vfio");
	g = sopen("/dev/vfio/7");
	fds[0] = c;
	fds[1] = g;
	assert_int_equal(F->ops->sendmsg(F->mk, sv[0], "cg", 2, fds, 2), 2);
	/* The sender closes its own: the files live on in flight. */
	sclose(c);
	sclose(g);
	assert_int_equal(
		F->ops->recvmsg(F->mk, sv[1], buf, sizeof(buf), got, 4, &n), 2);
	assert_int_equal(n, 2);
	assert_int_equal(mock_open_fds(fx->mk), 2);
	assert_int_equal(sioctl(got[1], VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(sioctl(got[1], VFIO_GROUP_SET_CONTAINER, &got[0]), 0);
	assert_int_equal(sioctl_v(got[0], VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
			 0);
	/* A second open of the group is busy while the received fd holds
	 * it. */
	assert_int_equal(sopen("/dev/vfio/7"), -EBUSY);
	sclose(got[1]);
	sclose(got[0]);
	g = sopen("/dev/vfio/7");
	assert_true(g >= 0);
	sclose(g);
	/* A file the mock does not model arrives as what it is. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(F->ops->sendmsg(F->mk, sv[0], "p", 1, &p[0], 1), 1);
	close(p[0]);
	assert_int_equal(
		F->ops->recvmsg(F->mk, sv[1], buf, sizeof(buf), got, 4, &n), 1);
	assert_int_equal(n, 1);
	{
		struct stat s;

		assert_int_equal(F->ops->fstat(F->mk, got[0], &s), 0);
		assert_true(S_ISFIFO(s.st_mode));
	}
	assert_int_equal(sioctl(got[0], VFIO_GROUP_GET_STATUS, &st), -ENOTTY);
	assert_int_equal(sclose(got[0]), 0);
	/* More fds than the receiver takes: none stays open. */
	fds[0] = fds[1] = fds[2] = p[1];
	assert_int_equal(F->ops->sendmsg(F->mk, sv[0], "x", 1, fds, 3), 1);
	assert_int_equal(F->ops->recvmsg(F->mk, sv[1], buf, sizeof(buf), got, 2,
					 &n),
			 -EMSGSIZE);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(mock_bad_fd_calls(F->mk), 0);
}

/* ---- mdev and platform devices ------------------------------------------ */

#define MDEV0 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"

static void add_mdev(struct mock_kernel *mk, const char *uuid, int group)
{
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, uuid, group);
	cfg.bus = "mdev";
	cfg.driver = "mtty";
	cfg.no_reset = true;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
}

static void test_mdev_platform(void **state)
{
	struct fx *fx = *state;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct mock_region_cfg rg = { .index = 0,
				      .size = 0x1000,
				      .flags = VFIO_REGION_INFO_FLAG_READ |
					       VFIO_REGION_INFO_FLAG_WRITE |
					       VFIO_REGION_INFO_FLAG_MMAP };
	struct mock_device_cfg cfg;
	char buf[256];
	ssize_t n;
	int c, g, d;

	add_mdev(fx->mk, MDEV0, 20);
	n = readlinkat(fx->root, "bus/mdev/devices/" MDEV0, buf,
		       sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_string_equal(buf, "../../../devices/virtual/mtty/mtty/" MDEV0);
	n = readlinkat(fx->root, "bus/mdev/devices/" MDEV0 "/subsystem", buf,
		       sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_string_equal(buf, "../../../../../bus/mdev");
	assert_int_equal(faccessat(fx->root,
				   "class/mdev_bus/mtty/mdev_supported_types/"
				   "mtty-1/create",
				   F_OK, 0),
			 0);
	assert_int_equal(faccessat(fx->root,
				   "bus/mdev/devices/" MDEV0 "/vfio-dev", F_OK,
				   0),
			 0);
	c = sopen("/dev/vfio/vfio");
	g = sopen("/dev/vfio/20");
	assert_true(g >= 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	d = sioctl(g, VFIO_GROUP_GET_DEVICE_FD, (void *)MDEV0);
	assert_true(d >= 0);
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_INFO, &info), 0);
	assert_true(info.flags & VFIO_DEVICE_FLAGS_PCI);
	sclose(d);
	sclose(g);
	sclose(c);

	mock_device_cfg_default(&cfg, "fff51000.ethernet", 21);
	cfg.bus = "platform";
	cfg.driver = "vfio-platform";
	cfg.regions = &rg;
	cfg.nregions = 1;
	cfg.num_regions = 1;
	cfg.num_irqs = 1;
	cfg.nirqs = 1;
	assert_int_equal(mock_add_device(fx->mk, &cfg), 0);
	assert_int_equal(faccessat(fx->root,
				   "bus/platform/devices/fff51000.ethernet/"
				   "iommu_group",
				   F_OK, 0),
			 0);
	c = sopen("/dev/vfio/vfio");
	g = sopen("/dev/vfio/21");
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	d = sioctl(g, VFIO_GROUP_GET_DEVICE_FD, (void *)"fff51000.ethernet");
	assert_true(d >= 0);
	info.argsz = sizeof(info);
	assert_int_equal(sioctl(d, VFIO_DEVICE_GET_INFO, &info), 0);
	assert_int_equal(info.flags & (VFIO_DEVICE_FLAGS_PCI |
				       VFIO_DEVICE_FLAGS_PLATFORM),
			 VFIO_DEVICE_FLAGS_PLATFORM);
	assert_int_equal(info.num_regions, 1);
	sclose(d);
	sclose(g);
	sclose(c);
}

/* ---- VF tokens --------------------------------------------------------- */

#define PF "0000:05:00.0"
#define VF "0000:05:00.1"
#define TOKEN "bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3"

static void add_pf_vf(struct mock_kernel *mk)
{
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, PF, 30);
	cfg.sriov_pf = true;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
	mock_device_cfg_default(&cfg, VF, 30);
	cfg.physfn = PF;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
}

static void test_vf_token(void **state)
{
	struct fx *fx = *state;
	static const uint8_t token[16] = { 0xbd, 0x8d, 0x9d, 0x2b, 0x5a, 0x5f,
					   0x4f, 0x5a, 0xa2, 0x11, 0xf5, 0x91,
					   0x51, 0x4b, 0xa1, 0xf3 };
	struct {
		struct vfio_device_feature f;
		uint8_t uuid[16];
	} ft = { .f = { .argsz = sizeof(ft),
			.flags = VFIO_DEVICE_FEATURE_SET |
				 VFIO_DEVICE_FEATURE_PCI_VF_TOKEN } };
	int c, g, pf, vf, d3;

	add_pf_vf(fx->mk);
	c = sopen("/dev/vfio/vfio");
	g = sopen("/dev/vfio/30");
	assert_int_equal(sioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(sioctl_v(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	/* The PF's token starts random: no VF opens without it. */
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_DEVICE_FD, (void *)VF),
			 -EACCES);
	pf = sioctl(g, VFIO_GROUP_GET_DEVICE_FD, (void *)PF);
	assert_true(pf >= 0);
	memcpy(ft.uuid, token, 16);
	assert_int_equal(sioctl(pf, VFIO_DEVICE_FEATURE, &ft), 0);
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_DEVICE_FD,
				(void *)VF " vf_token=bd8d9d2b-5a5f-4f5a-a211-"
					   "f591514ba1f4"),
			 -EACCES);
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_DEVICE_FD,
				(void *)VF " vf_token=nope"),
			 -EINVAL);
	vf = sioctl(g, VFIO_GROUP_GET_DEVICE_FD, (void *)VF " vf_token=" TOKEN);
	assert_true(vf >= 0);
	/* A second PF open now needs the token its VFs use. */
	assert_int_equal(sioctl(g, VFIO_GROUP_GET_DEVICE_FD, (void *)PF),
			 -EACCES);
	/* A device that is neither takes none, and has none to set. */
	d3 = sopen("/dev/vfio/7");
	assert_true(d3 >= 0);
	assert_int_equal(sioctl(d3, VFIO_GROUP_SET_CONTAINER, &c), 0);
	assert_int_equal(sioctl(d3, VFIO_GROUP_GET_DEVICE_FD,
				(void *)DEV0 " vf_token=" TOKEN),
			 -EINVAL);
	{
		int d = sioctl(d3, VFIO_GROUP_GET_DEVICE_FD, (void *)DEV0);

		assert_true(d >= 0);
		assert_int_equal(sioctl(d, VFIO_DEVICE_FEATURE, &ft), -ENOTTY);
		sclose(d);
	}
	sclose(d3);
	sclose(vf);
	sclose(pf);
	sclose(g);
	sclose(c);
}

static void test_vf_token_cdev(void **state)
{
	struct fx *fx = *state;
	struct {
		struct vfio_device_bind_iommufd b;
		uint64_t token_ptr;
	} bind = { .b = { .argsz = sizeof(bind), .flags = 1 } };
	static const uint8_t token[16] = { 1, 2, 3 };
	int i, vf;

	add_pf_vf(fx->mk);
	i = sopen("/dev/iommu");
	vf = sopen("/dev/vfio/devices/vfio4");
	assert_true(vf >= 0);
	bind.b.iommufd = i;
	bind.token_ptr = (uintptr_t)token;
	/* Linux 6.12: any flag is refused, and no token is asked for. */
	assert_int_equal(sioctl(vf, VFIO_DEVICE_BIND_IOMMUFD, &bind), -EINVAL);
	mock_set_bind_token(fx->mk, true);
	/* Linux 6.17: the token is checked (the PF's is still random). */
	assert_int_equal(sioctl(vf, VFIO_DEVICE_BIND_IOMMUFD, &bind), -EACCES);
	bind.b.flags = 0;
	bind.b.argsz = sizeof(bind.b);
	assert_int_equal(sioctl(vf, VFIO_DEVICE_BIND_IOMMUFD, &bind), -EACCES);
	mock_set_bind_token(fx->mk, false);
	assert_int_equal(sioctl(vf, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	sclose(vf);
	sclose(i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sysfs_layout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fstat_nodes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fds_travel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mdev_platform, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vf_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vf_token_cdev, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sysfs_through_seam, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_container_basics, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_type1_info_caps, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_type1_dma, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_attach_conflicts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_viability, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_regions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_irqs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hot_reset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_feature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iommufd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_remap_model, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_noiommu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custom_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_misc_semantics, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_library_attach, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
