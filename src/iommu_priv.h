/* SPDX-License-Identifier: MIT */
/*
 * Private to src/iommu*.c: the IOMMU object, VFIO groups and the backend
 * ops table. device.c and the rest of the library use only the public API
 * and the iommu_* functions of internal.h.
 *
 * iommu.c is generic: argument checks, backend choice, geometry caching,
 * the library's table of DMA mappings and every check made before the
 * kernel sees a mapping. A backend (iommu_type1.c for type1 and no-IOMMU,
 * iommu_iommufd.c for iommufd) only talks to the kernel.
 */
#ifndef LIBASSIGN_IOMMU_PRIV_H
#define LIBASSIGN_IOMMU_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "iova_tree.h"

struct assign_iommu;

/* What a backend reads from the kernel after a device was attached. */
struct iommu_geometry {
	struct assign_iova_range *ranges; /* malloc'ed, sorted */
	size_t nranges;
	uint64_t pgsizes;                 /* bit N: 2^N-byte pages */
};

struct iommu_backend {
	enum assign_iommu_backend kind;
	const char *name;
	/* Open the container or iommufd (+ IOAS); sets iommu->fd. */
	int (*open)(struct assign_iommu *iommu);
	/* Release what open() made. Mappings are already gone. */
	void (*close)(struct assign_iommu *iommu);
	/* Give a device fd for @addr (normalized, bound to a vfio driver). */
	int (*attach)(struct assign_iommu *iommu, const char *addr,
		      struct assign_attach *out);
	void (*detach)(struct assign_iommu *iommu, struct assign_attach *att);
	/* Read IOVA ranges and page sizes; NULL for no-IOMMU. */
	int (*geometry)(struct assign_iommu *iommu, struct iommu_geometry *g);
	/* DMA entries left; NULL when the backend has no such limit. */
	int (*dma_avail)(const struct assign_iommu *iommu, uint32_t *avail);
	/* 1, 0 or -EOPNOTSUPP; see the comments at the implementations. */
	int (*irq_remapping)(const struct assign_iommu *iommu);
	/* Kernel map/unmap of exactly one mapping; NULL for no-IOMMU. */
	int (*map)(struct assign_iommu *iommu, void *vaddr, uint64_t iova,
		   uint64_t size, uint32_t flags);
	int (*unmap)(struct assign_iommu *iommu, uint64_t iova, uint64_t size);
};

extern const struct iommu_backend iommu_backend_type1;
extern const struct iommu_backend iommu_backend_noiommu;
extern const struct iommu_backend iommu_backend_iommufd;

/* A VFIO group open on a type1/no-IOMMU container. */
struct assign_group {
	int refcount;
	int id;
	int fd;                     /* /dev/vfio/N or /dev/vfio/noiommu-N */
	bool in_container;          /* VFIO_GROUP_SET_CONTAINER done */
	struct assign_iommu *iommu; /* reference held */
};

/* One DMA mapping made through the library: a node of assign_iommu.maps,
 * malloc'ed, [node.start, node.last] = [iova, iova + size - 1]. */
struct iommu_mapping {
	struct iova_node node;
	void *vaddr;
	uint32_t flags;
};

struct assign_iommu {
	int refcount;
	struct assign_ctx *ctx;            /* reference held */
	enum assign_iommu_backend requested;
	uint32_t flags;
	const struct iommu_backend *ops;   /* NULL while AUTO has not chosen */
	int fd;                            /* container or iommufd, -1 */

	/* type1 / no-IOMMU */
	int type1_type;                    /* VFIO_*_IOMMU set, 0 if none */
	struct assign_group **groups;      /* weak: a group removes itself */
	size_t ngroups;

	/* iommufd */
	uint32_t ioas_id;

	/* Group numbers of the attached devices, one entry per device. */
	int *dev_groups;
	size_t ndevices;

	/* Geometry, valid while has_geometry(). */
	bool geometry_valid;
	struct assign_iova_range *ranges;
	size_t nranges;
	uint64_t pgsizes;
	uint64_t align;                    /* smallest page size */
	struct assign_reserved_region *resv;
	size_t nresv;
	uint64_t dma_limit;                /* highest IOVA allowed */

	/* The library's mappings (struct iommu_mapping), an AVL tree by
	 * IOVA, never overlapping: O(log n) lookup, insert and removal.
	 * maps.count is the number of mappings. */
	struct iova_tree maps;
	uint64_t mapped_bytes;
	/* One freed mapping kept for the next map (a guest's map+unmap
	 * pairs then need no malloc/free), or NULL. */
	struct iommu_mapping *spare;

	/* The policy object that owns the mapping state (the guest memory
	 * object of this IOMMU), NULL if none: iommu_claim_owner(). */
	void *owner;
};

/* iommu.c: drop every library mapping (kernel unmap), keep going on
 * errors; returns the first error. */
int iommu_unmap_everything(struct assign_iommu *iommu);
/* iommu.c: drop every mapping from the table without a kernel call (the
 * kernel dropped them itself, or the object goes). */
void iommu_forget_mappings(struct assign_iommu *iommu);
/* iommu.c: forget the geometry (type1 container lost its IOMMU). */
void iommu_geometry_invalidate(struct assign_iommu *iommu);

/* iommu_type1.c */
void type1_group_release(struct assign_group *group);
/* -EBUSY with "group N is not viable: ADDR is bound to DRV; ..." naming
 * the devices of group @gid bound to host drivers. With @only_if_found,
 * 0 (and no message) when there is none. */
int iommu_not_viable_error(struct assign_iommu *iommu, int gid,
			   bool only_if_found);
/* 1 if @module's allow_unsafe_interrupts is off (the kernel then checked
 * MSI isolation when the device was attached), else -EOPNOTSUPP. */
int iommu_irq_remap_from_param(const struct assign_iommu *iommu,
			       const char *module);

/* Host page size (sysconf), never 0. */
uint64_t iommu_host_page_size(void);

#endif /* LIBASSIGN_IOMMU_PRIV_H */
