// SPDX-License-Identifier: MIT
/*
 * What sysfs says about a PCI device that the IOMMU and host layers both
 * need: its IOMMU group, its driver, and what that driver means for VFIO
 * (pci_driver_kind(), the one answer every caller uses).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci.h"

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

enum pci_driver_kind pci_driver_kind(const char *driver)
{
	/* The drivers that set driver_managed_dma (Linux >= 5.19) and the
	 * list vfio allowed before that: they never use the DMA API on the
	 * device, so they do not claim the group's DMA ownership. */
	static const char *const dma_safe[] = { "pci-stub", "pcieport" };

	if (!driver || !*driver)
		return PCI_DRIVER_NONE;
	/* vfio-pci, and the variant drivers built on vfio-pci-core:
	 * mlx5_vfio_pci, hisi_acc_vfio_pci, pds_vfio_pci,
	 * nvgrace_gpu_vfio_pci, virtio_vfio_pci, ... */
	if (!strcmp(driver, "vfio-pci") || has_suffix(driver, "_vfio_pci") ||
	    has_suffix(driver, "-vfio-pci"))
		return PCI_DRIVER_VFIO;
	for (size_t i = 0; i < ARRAY_SIZE(dma_safe); i++)
		if (!strcmp(driver, dma_safe[i]))
			return PCI_DRIVER_DMA_SAFE;
	return PCI_DRIVER_HOST;
}

int pci_dev_group(struct assign_ctx *ctx, const char *addr)
{
	char path[128], name[32], *end;
	long v;
	int r;

	snprintf(path, sizeof(path), "bus/pci/devices/%s/iommu_group", addr);
	r = sysfs_link_name(ctx, path, name, sizeof(name));
	if (r < 0)
		return r;
	errno = 0;
	v = strtol(name, &end, 10);
	if (errno || end == name || *end || v < 0 || v > INT32_MAX)
		return -EIO;
	return (int)v;
}

int pci_dev_driver(struct assign_ctx *ctx, const char *addr, char *buf,
		   size_t size)
{
	char path[128];
	int r;

	snprintf(path, sizeof(path), "bus/pci/devices/%s/driver", addr);
	r = sysfs_link_name(ctx, path, buf, size);
	if (r == -ENOENT) {
		if (size)
			buf[0] = '\0';
		return 0;
	}
	return r;
}
