/* SPDX-License-Identifier: MIT */
/*
 * A hostile "kernel" for fuzzing, behind the library's syscall seam
 * (src/core/sys.h, struct assign_sys_ops). It plays a host with one PCI
 * device, FK_ADDR, in IOMMU group FK_GROUP, bound to vfio-pci, reachable
 * through type1 (/dev/vfio/vfio + /dev/vfio/N) and iommufd (/dev/iommu +
 * /dev/vfio/devices/vfio0). Setting up the container, group, IOAS and
 * device fd always works; every answer that describes the device or the
 * IOMMU comes from the fuzz input:
 *
 *   VFIO_IOMMU_GET_INFO, VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO,
 *   VFIO_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
 *   IOMMU_IOAS_IOVA_RANGES, the reserved_regions sysfs file, the bytes and
 *   byte counts of pread/pwrite on the device fd, and the result of
 *   every other device/IOMMU ioctl.
 *
 * Like the real kernel it never writes past the argsz (or array size) the
 * caller gave, so any out-of-bounds access ASan reports is the library's;
 * but within that, every byte may lie, including argsz and counts.
 *
 * The input is a list of records: u8 kind, u8 index, u8 ctl, u16 length,
 * then length bytes. The n-th call of an ioctl kind with an index (region
 * or irq index) gets the n-th record of that kind and index, or the last
 * one when there are fewer. ctl bit 7 makes the call fail with
 * -fk_errnos[ctl & 7] (after writing the bytes, so an -ENOSPC answer can
 * carry a count); ctl bit 6 (IOVA ranges) breaks the array-size rule the
 * way a buggy kernel would report it: a count above the caller's room
 * with success.
 *
 * The fake counts its open fds and live mappings: at the end of a run
 * both must be zero, or the library leaked a kernel object.
 *
 * For fuzz-vmm it also plays KVM on a VM fd from fk_vm_fd(): the GSI
 * routing table (every table the library sends must be one KVM takes),
 * irqfds (attached only to a GSI KVM has a route for, or a signal
 * waiting in the eventfd is lost; deassigned only when assigned) and the
 * KVM-VFIO device (only open VFIO group or device fds, removed only when
 * added, none closed while KVM holds it). FK_KVM records make the n-th
 * KVM ioctl fail.
 */
#ifndef LIBASSIGN_FUZZ_KERNEL_H
#define LIBASSIGN_FUZZ_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/sys.h"

#define FK_ADDR "0000:00:03.0"
#define FK_GROUP 7

enum fk_kind {
	/* bytes[0]: bit 0 iommufd backend */
	FK_SETUP = 0,
	/* VFIO_IOMMU_GET_INFO answer */
	FK_IOMMU_INFO = 1,
	/* VFIO_DEVICE_GET_INFO answer */
	FK_DEV_INFO = 2,
	/* VFIO_DEVICE_GET_REGION_INFO, index = region */
	FK_REGION_INFO = 3,
	/* VFIO_DEVICE_GET_IRQ_INFO, index = irq index */
	FK_IRQ_INFO = 4,
	/* VFIO_DEVICE_GET_PCI_HOT_RESET_INFO answer */
	FK_HOT_RESET = 5,
	/* u32 num_iovas, u64 alignment, ranges[] */
	FK_IOVA_RANGES = 6,
	/* reserved_regions file content */
	FK_RESV_TEXT = 7,
	/* device memory: pread on the device fd reads byte (offset %
	 * length); config space at 0 */
	FK_CONFIG = 8,
	/* a library call to make (the driver's script) */
	FK_ACTION = 9,
	/* n-th device pread/pwrite: ctl & 3: 0 full, 1 short (bytes[0]
	 * bytes), 2 error, 3 claims one byte more than asked */
	FK_RW = 10,
	/* result of other device/IOMMU ioctls, in order: ctl bit 7 fails it */
	FK_OTHER = 11,
	/* fuzz-vmm: a guest access (config or MMIO) */
	FK_GUEST = 12,
	/* fuzz-vmm: the n-th KVM ioctl: ctl bit 7 fails it */
	FK_KVM = 13,
	FK_NKINDS
};

struct fk_record {
	uint8_t kind, index, ctl;
	const uint8_t *data;
	size_t len;
};

#define FK_MAX_RECORDS 512
#define FK_MAX_FDS 64

struct fk_file {
	int kind; /* 0: free */
	const char *content;
	size_t len;
};

#define FK_MAX_DMA 256
#define FK_KVM_GSIS 4096 /* KVM_MAX_IRQ_ROUTES */
#define FK_MAX_IRQFDS 64

/* A DMA mapping the fake kernel holds (type1 MAP_DMA / iommufd IOAS_MAP). */
struct fk_dma {
	uint64_t iova, size, vaddr;
};

struct fuzz_kernel {
	struct fk_record rec[FK_MAX_RECORDS];
	size_t nrec;
	/* calls made so far per (kind, index) */
	uint16_t calls[FK_NKINDS][256];
	unsigned rw_calls, other_calls;
	struct fk_file fds[FK_MAX_FDS];
	size_t open_fds;
	size_t live_maps;
	uint64_t mapped_bytes;
	char *resv_text;
	const uint8_t *mem;
	size_t memlen;
	int iommufd; /* backend selected by FK_SETUP */
	bool avoid_known; /* FUZZ_AVOID_KNOWN set */
	/* DMA mappings, as the kernel keeps them (EEXIST on overlap; type1
	 * v2 unmap removes whole mappings inside the range and refuses to
	 * bisect one) */
	struct fk_dma dma[FK_MAX_DMA];
	size_t ndma;
	uint64_t dma_bytes;
	/* KVM: the GSIs of the table KVM has (its default table, GSIs 0-23,
	 * until the first push), attached irqfds, KVM-VFIO files */
	unsigned kvm_calls, kvm_pushes;
	uint8_t kvm_routed[FK_KVM_GSIS / 8];
	struct {
		int efd;
		uint32_t gsi;
	} kvm_irqfd[FK_MAX_IRQFDS];
	size_t kvm_nirqfds;
	int kvm_files[FK_MAX_FDS];
	size_t kvm_nfiles;
	/* Optional: told about every pread/pwrite on a device fd. */
	void (*rw_hook)(void *arg, bool write, uint64_t offset, size_t len);
	void *rw_hook_arg;
};

/* Whether [p, p + len) lies inside memory mapped through the seam. */
bool fk_mapped(const void *p, size_t len);

extern const struct assign_sys_ops fk_ops;

/* Parse @data into records; keeps pointers into @data. */
void fk_init(struct fuzz_kernel *k, const uint8_t *data, size_t size);
/* Free what fk_init() allocated. */
void fk_fini(struct fuzz_kernel *k);
/* The record answering the next call of (kind, index), or NULL. */
const struct fk_record *fk_next(struct fuzz_kernel *k, int kind, int index);
/* The i-th record of a kind, in input order, or NULL. */
const struct fk_record *fk_nth(const struct fuzz_kernel *k, int kind,
			       size_t i);

/*
 * A context on kernel @k (the library's log shown with FUZZ_DEBUG=1) in
 * *@ctx, and an IOMMU object on the backend the input chose in *@iommu.
 * Aborts if the context cannot be made; returns assign_iommu_new()'s
 * result.
 */
int fk_open_iommu(struct fuzz_kernel *k, struct assign_ctx **ctx,
		  struct assign_iommu **iommu);
/* A KVM VM fd (with its in-kernel irqchip) on kernel @k, counted among
 * its open fds: close it with fk_ops.close(). */
int fk_vm_fd(struct fuzz_kernel *k);
/* Eventfds open in the process (counting all fds would race with
 * libFuzzer's own threads). */
int fk_count_eventfds(void);

#endif /* LIBASSIGN_FUZZ_KERNEL_H */
