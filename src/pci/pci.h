/* SPDX-License-Identifier: MIT */
/*
 * The PCI layer's internal header (docs/architecture.md): PCI addresses,
 * config-space parsing (pure functions, public in <libassign/pci.h>) and
 * what sysfs says about a PCI device. The constants of the PCI spec live
 * in <libassign/pci.h>, their one home. Never installed.
 */
#ifndef LIBASSIGN_PCI_INTERNAL_H
#define LIBASSIGN_PCI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libassign/pci.h>

#include "core/core.h"

/**
 * enum pci_driver_kind - what a bound driver means for VFIO
 * @PCI_DRIVER_NONE: no driver
 * @PCI_DRIVER_VFIO: vfio-pci or a vfio-pci variant driver
 * @PCI_DRIVER_DMA_SAFE: a driver that never uses the DMA API on the device
 *                       (driver_managed_dma: pci-stub, pcieport); the
 *                       group stays viable
 * @PCI_DRIVER_HOST: any other driver: it owns the device's DMA, so the
 *                   group is not viable while it is bound
 */
enum pci_driver_kind {
	PCI_DRIVER_NONE,
	PCI_DRIVER_VFIO,
	PCI_DRIVER_DMA_SAFE,
	PCI_DRIVER_HOST,
};

/* The one answer to "is this driver vfio / does it block the group"
 * (pci/sysfs.c); the IOMMU and host layers both ask it. */
enum pci_driver_kind pci_driver_kind(const char *driver);

/* The device's IOMMU group number, from bus/pci/devices/ADDR/iommu_group. */
int pci_dev_group(struct assign_ctx *ctx, const char *addr);
/* Name of the driver bound to a PCI device, "" when none. */
int pci_dev_driver(struct assign_ctx *ctx, const char *addr, char *buf,
		   size_t size);

#endif /* LIBASSIGN_PCI_INTERNAL_H */
