/* SPDX-License-Identifier: MIT */
/*
 * libassign IOMMU: one DMA address space shared by a set of devices.
 *
 * An assign_iommu is a VFIO type1 container (with its groups), an iommufd
 * IOAS (with its bound vfio cdevs), or a no-IOMMU container. Devices are
 * opened on it with assign_device_open(); DMA mappings made on it apply to
 * every device attached to it. Its geometry (valid IOVA ranges, page sizes,
 * DMA entries left, reserved regions, interrupt remapping) is known once the
 * first device is attached.
 */
#ifndef LIBASSIGN_IOMMU_H
#define LIBASSIGN_IOMMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct assign_ctx;
struct assign_iommu;
struct assign_group;

/**
 * enum assign_iommu_backend - how the DMA address space is made
 * @ASSIGN_IOMMU_AUTO: iommufd + vfio cdev when /dev/iommu and the device's
 *                     cdev exist, else type1
 * @ASSIGN_IOMMU_TYPE1: /dev/vfio/vfio container with VFIO_TYPE1v2 (or the
 *                      best type1 variant the kernel offers) and groups
 * @ASSIGN_IOMMU_IOMMUFD: /dev/iommu IOAS, devices through
 *                        /dev/vfio/devices/vfioN
 * @ASSIGN_IOMMU_NOIOMMU: VFIO no-IOMMU mode: NO DMA PROTECTION, taints the
 *                        kernel; only with %ASSIGN_IOMMU_F_ALLOW_NOIOMMU
 */
enum assign_iommu_backend {
	ASSIGN_IOMMU_AUTO = 0,
	ASSIGN_IOMMU_TYPE1 = 1,
	ASSIGN_IOMMU_IOMMUFD = 2,
	ASSIGN_IOMMU_NOIOMMU = 3,
};

/**
 * assign_iommu_backend_get_name() - the name of a backend
 * @backend: an enum assign_iommu_backend value
 *
 * For messages and tools: "auto", "type1", "iommufd", "no-IOMMU".
 *
 * Return: a static string, or NULL for an unknown value.
 */
const char *assign_iommu_backend_get_name(enum assign_iommu_backend backend);

/**
 * ASSIGN_IOMMU_F_ALLOW_NOIOMMU - explicit opt-in to no-IOMMU mode
 *
 * Without it, %ASSIGN_IOMMU_NOIOMMU is refused. With it, the library logs a
 * warning that the device can DMA anywhere in host memory. DMA mapping calls
 * on a no-IOMMU backend fail with -EPERM: there is no IOMMU to program.
 */
#define ASSIGN_IOMMU_F_ALLOW_NOIOMMU (1u << 0)

/**
 * ASSIGN_IOMMU_DEFAULT_MAX_MAPPINGS - the default mapping limit on iommufd
 *
 * 65535, the default of vfio_iommu_type1's dma_entry_limit: the kernel
 * bounds the mappings of a type1 container, not those of an IOAS.
 */
#define ASSIGN_IOMMU_DEFAULT_MAX_MAPPINGS 65535u

/**
 * struct assign_iommu_opts - options for assign_iommu_new() and
 *                            assign_iommu_new_from_fd()
 * @size: sizeof(struct assign_iommu_opts), so the struct can grow
 * @backend: which backend to use
 * @flags: ASSIGN_IOMMU_F_* flags
 * @ioas_id: assign_iommu_new_from_fd() with an iommufd: an IOAS that
 *           exists in it, to use instead of allocating one; 0 (the
 *           default) allocates one (iommufd never gives out id 0)
 * @max_mappings: the most DMA mappings the object holds at once, its own
 *                and its guest memory policy's alike (each pins memory;
 *                a guest that maps one page at many IOVAs would otherwise
 *                grow the pinned memory without bound). 0: on iommufd
 *                %ASSIGN_IOMMU_DEFAULT_MAX_MAPPINGS, on type1 none of the
 *                library's own (the kernel's dma_entry_limit applies).
 *                Past it, maps fail with -ENOSPC.
 */
struct assign_iommu_opts {
	size_t size;
	enum assign_iommu_backend backend;
	uint32_t flags;
	uint32_t ioas_id;
	uint32_t max_mappings;
};

/**
 * assign_iommu_new() - create a DMA address space
 * @ctx: the library context
 * @opts: options, or NULL for the defaults (AUTO, no flags)
 * @ret: where to store the new object, with one reference
 *
 * For type1 and no-IOMMU this opens /dev/vfio/vfio and checks the API
 * version; for iommufd it opens /dev/iommu and allocates an IOAS. For AUTO
 * the choice is made when the first device is opened.
 *
 * Return: 0; -EINVAL for a bad argument or @opts->size; -EPERM for
 * no-IOMMU without %ASSIGN_IOMMU_F_ALLOW_NOIOMMU; -ENOENT when the kernel
 * has no such interface (message says which module or config option);
 * -EACCES; -ENOMEM; -EPROTO for an unknown VFIO API version.
 */
int assign_iommu_new(struct assign_ctx *ctx,
		     const struct assign_iommu_opts *opts,
		     struct assign_iommu **ret);

/**
 * assign_iommu_new_from_fd() - make an IOMMU object of a container or an
 *                              iommufd another process opened
 * @ctx: the library context
 * @fd: a VFIO container (/dev/vfio/vfio) no group was added to yet, or an
 *      iommufd (/dev/iommu), as a privileged helper or a management stack
 *      opened and handed it over
 * @opts: options, or NULL: @opts->backend AUTO takes what @fd is; TYPE1
 *        or NOIOMMU (with %ASSIGN_IOMMU_F_ALLOW_NOIOMMU) want a container,
 *        IOMMUFD an iommufd; @opts->ioas_id names an IOAS in the iommufd
 *        to use, 0 allocates one
 * @ret: where to store the new object, with one reference
 *
 * What @fd is comes from the kernel (fstat() and /sys/dev/char), not from
 * its number. Then the library does everything as with assign_iommu_new():
 * groups are added with assign_group_new_from_fd() (type1), devices opened
 * with assign_device_open_fd() (a vfio cdev) or assign_device_open() (a
 * device of a group on the object). No privilege is needed beyond the fds:
 * a process with no access to /dev/vfio or /dev/iommu can use them.
 *
 * On success the object owns @fd and closes it with its last reference;
 * on failure @fd stays the caller's, untouched.
 *
 * Return: 0; -EBADF (@fd is not open); -EINVAL (@fd is not a container or
 * an iommufd, or not the kind @opts asks for: the message says what it
 * is; @opts->ioas_id without an iommufd; bad @opts); -EBUSY (the
 * container has an IOMMU set already: groups were added to it); -ENOENT
 * (@opts->ioas_id is not an IOAS of the iommufd; no-IOMMU not enabled);
 * -EPERM (no-IOMMU without the flag); -EPROTO (unknown VFIO API version);
 * -ENOMEM; other kernel errors.
 */
int assign_iommu_new_from_fd(struct assign_ctx *ctx, int fd,
			     const struct assign_iommu_opts *opts,
			     struct assign_iommu **ret);

/**
 * assign_group_new_from_fd() - add a VFIO group another process opened
 * @iommu: a type1 or no-IOMMU IOMMU object
 * @fd: the group (/dev/vfio/N), not in a container yet
 * @ret: where to store the group, with a reference for the caller
 *
 * Checks the group is viable, adds it to @iommu's container (setting the
 * IOMMU type with the first group, as opening a device does) and keeps it
 * open while the caller holds @ret or a device of the group is open:
 * assign_device_open() then opens its devices through it, by name, without
 * touching /dev/vfio.
 *
 * On success the group object owns @fd; on failure @fd stays the caller's,
 * as it was (out of the container).
 *
 * Return: 0; -EBADF (@fd is not open); -EINVAL (@fd is not a VFIO group,
 * or a no-IOMMU group on a type1 object or the other way round: the
 * message says what it is); -EOPNOTSUPP (@iommu is iommufd, or AUTO with
 * no backend chosen yet); -EEXIST (the group is open on @iommu already);
 * -EBUSY (not viable: the message names the devices and drivers; or in a
 * container already); -EPERM (interrupts not isolated); -ENOMEM; kernel
 * errors.
 */
int assign_group_new_from_fd(struct assign_iommu *iommu, int fd,
			     struct assign_group **ret);

/**
 * assign_iommu_ref() - take a reference
 * @iommu: the object, or NULL
 *
 * Return: @iommu.
 */
struct assign_iommu *assign_iommu_ref(struct assign_iommu *iommu);

/**
 * assign_iommu_unref() - drop a reference
 * @iommu: the object, or NULL
 *
 * The last reference unmaps every DMA mapping still made through it and
 * closes its groups, container or iommufd.
 *
 * Return: NULL.
 */
struct assign_iommu *assign_iommu_unref(struct assign_iommu *iommu);

/**
 * assign_iommu_get_ctx() - the context of an IOMMU object
 * @iommu: the object
 *
 * Return: the context (no reference taken).
 */
struct assign_ctx *assign_iommu_get_ctx(const struct assign_iommu *iommu);

/**
 * assign_iommu_get_backend() - the backend in use
 * @iommu: the object
 *
 * Return: the backend; %ASSIGN_IOMMU_AUTO while AUTO has not chosen yet.
 */
enum assign_iommu_backend
assign_iommu_get_backend(const struct assign_iommu *iommu);

/**
 * assign_iommu_get_fd() - escape hatch: the container fd or the iommufd
 * @iommu: the object
 *
 * The fd stays owned by the library. Mappings made on it directly are not
 * known to the library's accounting.
 *
 * Return: the fd, or -ENODEV while AUTO has not chosen a backend.
 */
int assign_iommu_get_fd(const struct assign_iommu *iommu);

/**
 * assign_iommu_get_ioas_id() - escape hatch: the iommufd IOAS id
 * @iommu: the object
 * @id: where to store the id
 *
 * Return: 0, or -EOPNOTSUPP when the backend is not iommufd.
 */
int assign_iommu_get_ioas_id(const struct assign_iommu *iommu, uint32_t *id);

/**
 * assign_iommu_get_group() - a VFIO group open on this IOMMU
 * @iommu: the object (type1 or no-IOMMU backend)
 * @group_id: the IOMMU group number
 * @ret: where to store the group, with a new reference
 *
 * Groups are opened when the first device of the group is opened.
 *
 * Return: 0, -ENOENT if no device of that group is open here, -EOPNOTSUPP
 * for the iommufd backend.
 */
int assign_iommu_get_group(struct assign_iommu *iommu, int group_id,
			   struct assign_group **ret);

/**
 * assign_group_ref() - take a reference on a group
 * @group: the group, or NULL
 *
 * Return: @group.
 */
struct assign_group *assign_group_ref(struct assign_group *group);

/**
 * assign_group_unref() - drop a reference on a group
 * @group: the group, or NULL
 *
 * Return: NULL.
 */
struct assign_group *assign_group_unref(struct assign_group *group);

/**
 * assign_group_get_id() - the IOMMU group number
 * @group: the group
 *
 * Return: the number (>= 0).
 */
int assign_group_get_id(const struct assign_group *group);

/**
 * assign_group_get_fd() - escape hatch: the /dev/vfio/N fd (e.g. for KVM-VFIO)
 * @group: the group
 *
 * Return: the fd, owned by the library.
 */
int assign_group_get_fd(const struct assign_group *group);

/**
 * struct assign_iova_range - an inclusive range of IO virtual addresses
 * @start: first address
 * @last: last address (inclusive, so the full 64-bit space is expressible)
 */
struct assign_iova_range {
	uint64_t start;
	uint64_t last;
};

/**
 * assign_iommu_get_iova_ranges() - the IOVA ranges DMA may be mapped in
 * @iommu: the object, with at least one device attached
 * @ranges: where to store a pointer to the array (owned by @iommu, valid
 *          until the next device is attached or @iommu is freed)
 * @n: where to store the number of ranges
 *
 * Read from the type1 IOVA-range capability or IOMMU_IOAS_IOVA_RANGES. A
 * kernel that reports none gives one range covering the whole 64-bit space.
 *
 * Return: 0, -ENODEV when no device is attached yet (the kernel knows the
 * geometry only then), -EPERM for no-IOMMU.
 */
int assign_iommu_get_iova_ranges(const struct assign_iommu *iommu,
				 const struct assign_iova_range **ranges,
				 size_t *n);

/**
 * assign_iommu_get_pgsizes() - IOMMU page sizes supported
 * @iommu: the object, with at least one device attached
 * @pgsizes: where to store the bitmap (bit N set: 2^N-byte pages)
 *
 * Return: 0, -ENODEV when no device is attached, -EPERM for no-IOMMU.
 */
int assign_iommu_get_pgsizes(const struct assign_iommu *iommu,
			     uint64_t *pgsizes);

/**
 * assign_iommu_get_dma_avail() - DMA mappings still allowed
 * @iommu: the object, with at least one device attached
 * @avail: where to store the count: the smaller of what the type1 kernel
 *         still allows (dma_entry_limit minus its mappings) and what the
 *         object's own limit (assign_iommu_opts.max_mappings) leaves
 *
 * Return: 0, -ENODEV when no device is attached, -EOPNOTSUPP when there
 * is no limit to report (no-IOMMU).
 */
int assign_iommu_get_dma_avail(const struct assign_iommu *iommu,
			       uint32_t *avail);

/**
 * struct assign_reserved_region - an IOVA range the IOMMU reserves
 * @start: first address
 * @last: last address, inclusive
 * @type: the kernel's name for it: "msi", "reserved", "direct",
 *        "direct-relaxable"
 */
struct assign_reserved_region {
	uint64_t start;
	uint64_t last;
	char type[24];
};

/**
 * assign_iommu_get_reserved_regions() - reserved IOVA regions of all groups
 * @iommu: the object, with at least one device attached
 * @regions: where to store a pointer to the array (owned by @iommu, valid
 *           until the next device is attached or @iommu is freed)
 * @n: where to store the count
 *
 * The union of /sys/kernel/iommu_groups/N/reserved_regions over the groups
 * of the attached devices, sorted, e.g. the x86 MSI doorbell window
 * 0xfee00000-0xfeefffff.
 *
 * Return: 0, -ENODEV when no device is attached, -EIO (message names the
 * file and line) when sysfs has an entry that cannot be parsed.
 */
int assign_iommu_get_reserved_regions(const struct assign_iommu *iommu,
				      const struct assign_reserved_region **regions,
				      size_t *n);

/**
 * assign_iommu_get_irq_remapping() - whether interrupts are remapped
 * @iommu: the object, with at least one device attached
 *
 * Without interrupt remapping, a device that may DMA can also write MSI
 * doorbells and inject arbitrary interrupts into the host: assignment is not
 * isolated. The kernel refuses such groups unless vfio_iommu_type1's (or
 * iommufd's) allow_unsafe_interrupts is set: when it is not, the kernel's
 * check is the answer. When it is, each attached group's IOMMU
 * capabilities (IOMMU_GET_HW_INFO, or sysfs) and the kernel's interrupt
 * chips decide (docs/iommu.md).
 *
 * Return: 1 if remapped (or the platform isolates MSIs), 0 if not, -ENODEV
 * when no device is attached, -EOPNOTSUPP when it cannot be told (the
 * message says what was looked at).
 */
int assign_iommu_get_irq_remapping(const struct assign_iommu *iommu);

/**
 * assign_iommu_set_dma_limit() - the highest IOVA the devices can address
 * @iommu: the object
 * @last_iova: highest usable IOVA, e.g. (1ull << 28) - 1 for a device with a
 *             28-bit DMA mask; UINT64_MAX for no limit
 *
 * Mappings and layout checks above the limit are refused before the kernel
 * sees them (the kernel cannot know a device's DMA mask).
 *
 * Return: 0, or -EEXIST if a mapping already lies above the new limit.
 */
int assign_iommu_set_dma_limit(struct assign_iommu *iommu, uint64_t last_iova);

/** Device may read the memory (DMA to the device). */
#define ASSIGN_DMA_F_READ (1u << 0)
/** Device may write the memory (DMA from the device). */
#define ASSIGN_DMA_F_WRITE (1u << 1)
/** Both directions. */
#define ASSIGN_DMA_F_RW (ASSIGN_DMA_F_READ | ASSIGN_DMA_F_WRITE)

/**
 * struct assign_dma_map - one mapping request
 * @iova: IO virtual address, page aligned
 * @vaddr: host virtual address, page aligned
 * @size: length in bytes, page aligned, non-zero
 * @flags: ASSIGN_DMA_F_READ and/or ASSIGN_DMA_F_WRITE
 *
 * A frozen type (docs/api-conventions.md): it will never grow, so arrays
 * of it need no element size.
 */
struct assign_dma_map {
	uint64_t iova;
	void *vaddr;
	uint64_t size;
	uint32_t flags;
};

/**
 * assign_iommu_map() - map host memory for DMA at an IOVA
 * @iommu: the object, with at least one device attached
 * @iova: IO virtual address, page aligned
 * @vaddr: host virtual address, page aligned
 * @size: length, page aligned, non-zero
 * @flags: ASSIGN_DMA_F_READ and/or ASSIGN_DMA_F_WRITE (0 is -EINVAL)
 *
 * Checked before the kernel sees it: alignment against the smallest IOMMU
 * page size, the IOVA ranges, the reserved regions, the DMA limit and
 * overlap with the library's existing mappings. The memory is marked
 * MADV_DONTFORK so a fork() cannot break the pinning; if madvise() fails,
 * the map fails before the kernel sees it. The one exception is EINVAL,
 * which the kernel returns for VM_IO areas (a device BAR mmap'ed for
 * peer-to-peer DMA): such memory is shared device memory, never
 * copied-on-write into a child, so it is mapped unmarked.
 *
 * Return: 0; -EINVAL (alignment, zero size, flags, wrap-around); -ERANGE
 * (outside the IOVA ranges, in a reserved region or above the DMA limit;
 * the message names the range); -EEXIST (overlaps an existing mapping; the
 * message names it); -ENOMEM (memlock limit; the message gives the bytes
 * needed and RLIMIT_MEMLOCK, or says the kernel ran out of memory when
 * the limit does not apply); -EFAULT (@vaddr not mapped, or not pinnable);
 * -ENOSPC (the object's max_mappings or the type1 DMA entry limit
 * reached; the message says which); -ENODEV (no device attached);
 * -EPERM (no-IOMMU); an error of madvise(MADV_DONTFORK) other than
 * EINVAL; other kernel errors.
 */
int assign_iommu_map(struct assign_iommu *iommu, uint64_t iova, void *vaddr,
		     uint64_t size, uint32_t flags);

/**
 * assign_iommu_iova_find() - a free IOVA range where the IOMMU allows one
 * @iommu: the object, with at least one device attached
 * @size: bytes wanted; rounded up to the smallest IOMMU page size
 * @align: alignment of the IOVA, a power of two; 0 (or anything smaller)
 *         for the smallest IOMMU page size
 * @iova: where to store the IOVA found
 *
 * The lowest IOVA, aligned, never 0 (devices and drivers often take 0 for
 * "no address"), where the range lies in the IOVA ranges, outside every
 * reserved region that keeps mappings out, at or below the DMA limit
 * (assign_iommu_set_dma_limit()) and clear of every mapping made through
 * the library. Nothing is reserved: the range is free until something is
 * mapped there, so map it before looking for the next one (or use
 * assign_dma_buf_new(), which does both).
 *
 * Return: 0; -EINVAL (@size 0, @align not a power of two); -ENOSPC (no
 * such range: the message gives the ranges, the limit and the number of
 * mappings); -ENODEV (no device attached); -EPERM (no-IOMMU).
 */
int assign_iommu_iova_find(const struct assign_iommu *iommu, uint64_t size,
			   uint64_t align, uint64_t *iova);

/**
 * struct assign_dma_buf - host memory mapped for DMA, owned by the library
 * @vaddr: where the process reaches it; zero-filled when made
 * @iova: where the devices reach it
 * @length: its length in bytes, a multiple of the smallest IOMMU page
 * @flags: the device's access, ASSIGN_DMA_F_READ and/or ASSIGN_DMA_F_WRITE
 *
 * Made by assign_dma_buf_new() and read-only for the caller; it goes with
 * assign_dma_buf_free(). The library allocates it, so it may grow.
 */
struct assign_dma_buf {
	void *vaddr;
	uint64_t iova;
	uint64_t length;
	uint32_t flags;
};

/**
 * assign_dma_buf_new() - allocate memory and map it for DMA
 * @iommu: the object, with at least one device attached
 * @length: bytes wanted; rounded up to the smallest IOMMU page size
 * @flags: ASSIGN_DMA_F_READ and/or ASSIGN_DMA_F_WRITE
 * @ret: where to store the buffer
 *
 * Allocates zeroed anonymous memory aligned to the smallest IOMMU page
 * size, places it with assign_iommu_iova_find() and maps it with
 * assign_iommu_map() (so it is marked MADV_DONTFORK and counts against
 * RLIMIT_MEMLOCK). The buffer holds a reference on @iommu and is used
 * under @iommu's thread rule.
 *
 * Return: 0; -EINVAL (@length 0, bad @flags); the errors of
 * assign_iommu_iova_find() and assign_iommu_map(); -ENOMEM (no memory
 * for the buffer).
 */
int assign_dma_buf_new(struct assign_iommu *iommu, uint64_t length,
		       uint32_t flags, struct assign_dma_buf **ret);

/**
 * assign_dma_buf_free() - unmap and free a DMA buffer
 * @buf: the buffer, or NULL
 *
 * Unmaps the buffer (unless its mapping is gone already, say after
 * assign_iommu_unmap_all(): a mapping made there since is left alone),
 * frees its memory and drops its reference on the IOMMU object. An unmap
 * the kernel refuses is logged as a warning; the mapping then goes with
 * the IOMMU object.
 *
 * Return: NULL.
 */
struct assign_dma_buf *assign_dma_buf_free(struct assign_dma_buf *buf);

/**
 * assign_iommu_map_many() - map several ranges, all or nothing
 * @iommu: the object
 * @maps: the requests
 * @n: how many
 *
 * Each request is checked as by assign_iommu_map() before any is made; if
 * the kernel then fails one, those already made are unmapped again.
 *
 * Return: as assign_iommu_map(), the message naming the failing index.
 */
int assign_iommu_map_many(struct assign_iommu *iommu,
			  const struct assign_dma_map *maps, size_t n);

/**
 * assign_iommu_unmap() - remove DMA mappings
 * @iommu: the object
 * @iova: start, page aligned
 * @size: length, page aligned
 *
 * The range must cover whole mappings made through the library (the type1
 * kernel interface cannot split a mapping).
 *
 * Return: 0; -EINVAL (alignment); -ENOENT (nothing mapped there); -EBUSY
 * (the range cuts through a mapping; the message names it).
 */
int assign_iommu_unmap(struct assign_iommu *iommu, uint64_t iova,
		       uint64_t size);

/**
 * assign_iommu_unmap_all() - remove every DMA mapping made through the library
 * @iommu: the object
 *
 * Return: 0 or a negative errno from the kernel.
 */
int assign_iommu_unmap_all(struct assign_iommu *iommu);

/**
 * struct assign_dma_stats - what the library has mapped
 * @size: set by the caller to sizeof(struct assign_dma_stats); the library
 *        sets it to the bytes it filled
 * @mappings: number of mappings
 * @bytes: total bytes mapped
 */
struct assign_dma_stats {
	size_t size;
	uint64_t mappings;
	uint64_t bytes;
};

/**
 * assign_iommu_get_dma_stats() - count the library's mappings
 * @iommu: the object
 * @stats: where to store the counts, with @stats->size set by the caller
 *
 * Return: 0; -EINVAL (NULL argument, @stats->size not set).
 */
int assign_iommu_get_dma_stats(const struct assign_iommu *iommu,
			       struct assign_dma_stats *stats);

/**
 * assign_iommu_check_memlock() - can @bytes more be pinned?
 * @iommu: the object
 * @bytes: how much more memory the caller intends to map
 *
 * Compares the bytes already mapped plus @bytes with RLIMIT_MEMLOCK
 * (type1 and iommufd both charge pinned pages to it). A process with
 * CAP_IPC_LOCK in its effective set, in the initial user namespace, is
 * not limited by the kernel, so it always fits; inside a container's user
 * namespace the capability does not lift the limit (the kernel asks
 * capable(), which looks at the initial namespace), and the limit holds.
 *
 * Return: 0 if it fits; -ENOMEM if not, with a message giving the bytes
 * needed, the current limit and the fix ("ulimit -l" or
 * /etc/security/limits.conf, or CAP_IPC_LOCK outside any user namespace).
 */
int assign_iommu_check_memlock(const struct assign_iommu *iommu,
			       uint64_t bytes);

/**
 * enum assign_conflict_kind - why a proposed range cannot be mapped
 * @ASSIGN_CONFLICT_INVALID: zero size, wrap-around or misalignment
 * @ASSIGN_CONFLICT_OUTSIDE_IOVA: part of it lies outside the IOVA ranges
 * @ASSIGN_CONFLICT_RESERVED: part of it lies in a reserved region
 * @ASSIGN_CONFLICT_DMA_LIMIT: part of it lies above the DMA limit
 * @ASSIGN_CONFLICT_OVERLAP: it overlaps another proposed range
 * @ASSIGN_CONFLICT_MAPPED: it overlaps an existing mapping
 */
enum assign_conflict_kind {
	ASSIGN_CONFLICT_INVALID = 1,
	ASSIGN_CONFLICT_OUTSIDE_IOVA,
	ASSIGN_CONFLICT_RESERVED,
	ASSIGN_CONFLICT_DMA_LIMIT,
	ASSIGN_CONFLICT_OVERLAP,
	ASSIGN_CONFLICT_MAPPED,
};

/**
 * struct assign_conflict - one problem in a proposed layout
 * @size: the caller sets the first element's @size to
 *        sizeof(struct assign_conflict): the library steps through the
 *        array by it and sets each filled element's @size
 * @kind: what is wrong
 * @index: index of the proposed range concerned
 * @start: first conflicting IOVA
 * @last: last conflicting IOVA, inclusive
 * @what: human-readable detail, e.g. "reserved region msi
 *        0xfee00000-0xfeefffff"
 */
struct assign_conflict {
	size_t size;
	enum assign_conflict_kind kind;
	size_t index;
	uint64_t start;
	uint64_t last;
	char what[96];
};

/**
 * assign_iommu_check_layout() - check a proposed set of IOVA ranges
 * @iommu: the object, with at least one device attached
 * @ranges: proposed ranges (start and last inclusive), e.g. guest RAM at
 *          IOVA = guest physical address
 * @n: how many
 * @conflicts: array to fill with problems (@conflicts[0].size set by the
 *             caller), may be NULL if @max is 0
 * @max: capacity of @conflicts
 * @nconflicts: where to store the total number of problems found (may be
 *              larger than @max)
 *
 * Nothing is mapped. Every conflict is reported, so a VMM can move RAM
 * around the MSI window in one go.
 *
 * Return: 0 when there is none, -ERANGE when there are conflicts (the
 * message summarizes the first), -ENODEV when no device is attached,
 * -EINVAL (NULL arguments, @conflicts[0].size not set).
 */
int assign_iommu_check_layout(const struct assign_iommu *iommu,
			      const struct assign_iova_range *ranges, size_t n,
			      struct assign_conflict *conflicts, size_t max,
			      size_t *nconflicts);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_IOMMU_H */
