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
#include <stdint.h>

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

/*
 * Where a device lives in sysfs (pci/devpath.c): the kernel's name of it
 * (a PCI address, an mdev UUID, a platform device's name), its bus
 * ("pci", "mdev", "platform", ...) and its directory relative to the
 * sysfs root.
 */
#define DEVPATH_NAME_MAX 64
#define DEVPATH_BUS_MAX 32
#define DEVPATH_DIR_MAX 256
enum devpath_kind {
	DEVPATH_PCI, /* a PCI address */
	DEVPATH_UUID, /* an mdev's UUID */
	DEVPATH_NAME, /* a platform device's name */
	DEVPATH_PATH, /* a path in /sys */
};
struct devpath {
	enum devpath_kind kind;
	char name[DEVPATH_NAME_MAX];
	char bus[DEVPATH_BUS_MAX];
	char dir[DEVPATH_DIR_MAX];
};
/*
 * What @spec names, from its text alone: @loc's kind, name (normalised:
 * "0000:03:00.0", a UUID in lower case), bus when the text says it, and
 * the sysfs path to follow. -EINVAL with *why saying what is wrong (no
 * path outside /sys, no "..", no control characters).
 */
int devpath_parse(const char *spec, struct devpath *loc, const char **why);
/*
 * devpath_parse(), then follow the path in sysfs: @loc gets the device's
 * canonical directory (under devices/), its name and its bus. -EINVAL
 * for a malformed name, -ENODEV when it leads nowhere, outside /sys,
 * somewhere that is not a device on a bus (an mdev parent, a class
 * device), or to another device than it names. With a message.
 */
int devpath_locate(struct assign_ctx *ctx, const char *spec,
		   struct devpath *loc);
/* A UUID's text form (8-4-4-4-12 hex digits) into 16 bytes, and back
 * (lower case). */
int devpath_parse_uuid(const char *s, uint8_t out[16]);
void devpath_format_uuid(const uint8_t uuid[16], char out[37]);

#endif /* LIBASSIGN_PCI_INTERNAL_H */
