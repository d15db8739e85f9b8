/* SPDX-License-Identifier: MIT */
/*
 * The device layer's internal header (docs/architecture.md): the VFIO
 * device object, its cached regions and interrupt state, shared by
 * device.c (open, info, features), region.c, irq.c, reset.c and bars.c.
 * The layers above (vmm) use the public API and what is declared here.
 * Never installed.
 */
#ifndef LIBASSIGN_DEVICE_LAYER_H
#define LIBASSIGN_DEVICE_LAYER_H

#include <libassign/device.h>

#include "iommu/iommu.h"

/* A cached region: the public info plus what the library keeps. */
struct dev_region {
	bool loaded;                  /* info read from the kernel */
	struct assign_region_info info;
	struct assign_mmap_area *areas; /* malloc'ed, info.areas points here */
	void *map;                    /* base of the reservation, or NULL */
	size_t map_len;               /* length of the reservation */
};

/* What the library enabled on an interrupt index. */
struct dev_irq {
	bool info_loaded;
	struct assign_irq_info info;
	uint32_t nvec;                /* vectors enabled (0: disabled) */
	int *fds; /* info.count eventfds given, -1 if none */
};

struct assign_device {
	int refcount;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;   /* reference held */
	char addr[DEVPATH_NAME_MAX]; /* its name: PCI address, UUID... */
	bool has_pci_addr; /* @addr is a PCI address */
	struct assign_attach att;
	struct assign_device_info info;
	struct dev_region *regions;   /* info.num_regions entries */
	struct dev_irq *irqs;         /* info.num_irqs entries */
};

/* region.c */
void dev_regions_release(struct assign_device *dev);
/* irq.c */
/* Disable what the library enabled; @device_only: INTx/MSI/MSI-X only,
 * leaving the ERR and REQ notifications armed (a reset does not touch
 * them). Returns the first error. */
int dev_irqs_disable_all(struct assign_device *dev, bool device_only);
/* Forget INTx/MSI/MSI-X state after a reset. */
void dev_irqs_forget(struct assign_device *dev);
void dev_irqs_release(struct assign_device *dev);

#endif /* LIBASSIGN_DEVICE_LAYER_H */
