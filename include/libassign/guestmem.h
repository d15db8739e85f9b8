/* SPDX-License-Identifier: MIT */
/*
 * libassign guest memory policy: which guest memory the assigned devices
 * may reach by DMA, and at which IO virtual addresses.
 *
 * The VMM registers its guest RAM (guest physical address, host address,
 * length) on an assign_guestmem made on an assign_iommu, and picks a policy:
 *
 *  - %ASSIGN_GUESTMEM_MAP_ALL: the guest has no IOMMU of its own (or has
 *    one that is switched off), so it programs its devices with guest
 *    physical addresses. All RAM is mapped at IOVA = GPA, checked against
 *    the IOMMU's geometry first, in few large aligned chunks.
 *  - %ASSIGN_GUESTMEM_GUEST_IOMMU: the guest has a visible IOMMU and uses
 *    it. Nothing is mapped until the guest maps it; the VMM forwards the
 *    guest IOMMU's map and unmap operations, which the library translates
 *    through the registered RAM and shadows into the host IOMMU.
 *
 * Every device attached to the assign_iommu shares the one mapping state,
 * so there is at most one assign_guestmem per assign_iommu.
 * See docs/guestmem.md.
 *
 * Threads (the rule of <libassign/libassign.h>, docs/errors.md): every
 * function taking a struct assign_guestmem may be called from several
 * threads at once; a lock inside the object serializes them, so vCPU
 * threads may forward guest IOMMU operations directly, beside the vpci and
 * kvm objects of the same context. The object uses its assign_iommu under
 * that lock: while it is in use, do not call the IOMMU object from another
 * thread. The last error is per thread.
 */
#ifndef LIBASSIGN_GUESTMEM_H
#define LIBASSIGN_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libassign/iommu.h>

#ifdef __cplusplus
extern "C" {
#endif

struct assign_guestmem;

/**
 * enum assign_guestmem_policy - how guest memory is exposed to devices
 * @ASSIGN_GUESTMEM_MAP_ALL: all registered RAM mapped at IOVA = GPA
 * @ASSIGN_GUESTMEM_GUEST_IOMMU: only what the guest maps through its own
 *                              IOMMU, at the IOVAs it chooses
 */
enum assign_guestmem_policy {
	ASSIGN_GUESTMEM_MAP_ALL = 0,
	ASSIGN_GUESTMEM_GUEST_IOMMU = 1,
};

/**
 * ASSIGN_GUESTMEM_F_PREFAULT - populate RAM before mapping it (map-all)
 *
 * Before each map-all mapping, fault in the pages with
 * MADV_POPULATE_WRITE (MADV_POPULATE_READ for read-only regions) on
 * @prefault_threads threads. The kernel pins page by page when mapping; pages
 * already present are pinned much faster, and the population itself runs in
 * parallel. Kernels before 5.14 lack the advice: the pages are then touched
 * one by one (an atomic add of zero, so contents never change).
 */
#define ASSIGN_GUESTMEM_F_PREFAULT (1u << 0)

/**
 * ASSIGN_GUESTMEM_F_MERGE - merge adjacent guest IOMMU mappings
 *
 * When the guest maps a range that continues an existing mapping (IOVA and
 * host address contiguous, same region, same permissions), replace both by
 * one host mapping, saving DMA entries (type1 allows 65535 by default). The
 * kernel cannot grow a mapping in place, so the neighbour is unmapped and
 * the union mapped: DMA to the neighbour faults for that moment. Set it only
 * when the guest's in-flight DMA can tolerate that (or when the device is
 * quiesced while mappings change). Off by default.
 */
#define ASSIGN_GUESTMEM_F_MERGE (1u << 1)

/**
 * struct assign_guestmem_opts - options for assign_guestmem_new()
 * @size: sizeof(struct assign_guestmem_opts), so the struct can grow
 * @policy: the initial policy
 * @flags: ASSIGN_GUESTMEM_F_* flags
 * @prefault_threads: threads for %ASSIGN_GUESTMEM_F_PREFAULT; 0 picks the
 *                    number of online CPUs, at most 16
 * @progress: called during map-all (prefault and mapping) with the bytes
 *            done and the total, from the calling thread; returning
 *            non-zero cancels the operation (which then rolls back and
 *            fails with -ECANCELED). May be NULL.
 * @progress_data: handed to @progress
 * @chunk_max: largest single host mapping made by map-all, in bytes; IOMMU
 *             page sizes above it are not used; 0 for no limit.
 *             Smaller chunks make later removal of part of a region (memory
 *             unplug, discard) remap less, at the cost of DMA entries.
 */
struct assign_guestmem_opts {
	size_t size;
	enum assign_guestmem_policy policy;
	uint32_t flags;
	unsigned int prefault_threads;
	int (*progress)(void *data, uint64_t done, uint64_t total);
	void *progress_data;
	uint64_t chunk_max;
};

/**
 * ASSIGN_GUESTMEM_REGION_F_READONLY - the region is mapped for device reads only
 *
 * For guest ROM: map-all maps it without DMA write permission, and a guest
 * IOMMU mapping with write permission onto it is refused.
 */
#define ASSIGN_GUESTMEM_REGION_F_READONLY (1u << 0)

/**
 * struct assign_guestmem_region - one range of guest RAM
 * @size: sizeof(struct assign_guestmem_region), so the struct can grow
 * @gpa: guest physical address of the first byte, page aligned
 * @length: length in bytes, page aligned, non-zero
 * @vaddr: host virtual address backing @gpa, page aligned; must stay mapped
 *         while the region is registered
 * @fd: file backing the memory (memfd, hugetlbfs), or -1. Recorded for
 *      backends that map by file; not used for mapping today.
 * @fd_offset: offset of @vaddr in @fd
 * @page_size: page size of the host backing (e.g. 2 MiB for hugetlbfs), or
 *             0 for the base page size; @gpa, @length and @vaddr must be
 *             aligned to it
 * @flags: ASSIGN_GUESTMEM_REGION_* flags
 */
struct assign_guestmem_region {
	size_t size;
	uint64_t gpa;
	uint64_t length;
	void *vaddr;
	int fd;
	uint64_t fd_offset;
	uint64_t page_size;
	uint32_t flags;
};

/**
 * assign_guestmem_new() - create the guest memory state of an IOMMU
 * @iommu: the DMA address space; the new object holds a reference on it
 * @opts: options, or NULL for map-all without prefault
 * @ret: where to store the new object, with one reference
 *
 * Nothing is mapped until regions are added. The IOMMU's geometry is read
 * when something is first mapped, so devices may be opened later, but
 * before the first region is added under map-all.
 *
 * Return: 0; -EINVAL for a bad argument, @opts->size or policy, or unknown
 * flags; -EBUSY when @iommu already has an assign_guestmem (devices sharing
 * one IOMMU share one mapping state: use that one); -ENOMEM.
 */
int assign_guestmem_new(struct assign_iommu *iommu,
			const struct assign_guestmem_opts *opts,
			struct assign_guestmem **ret);

/**
 * assign_guestmem_ref() - take a reference
 * @gm: the object, or NULL
 *
 * Return: @gm.
 */
struct assign_guestmem *assign_guestmem_ref(struct assign_guestmem *gm);

/**
 * assign_guestmem_unref() - drop a reference
 * @gm: the object, or NULL
 *
 * The last reference unmaps every mapping the object made (map-all chunks
 * and guest IOMMU mappings), frees it and releases the IOMMU, which may then
 * get a new assign_guestmem.
 *
 * Return: NULL.
 */
struct assign_guestmem *assign_guestmem_unref(struct assign_guestmem *gm);

/**
 * assign_guestmem_get_iommu() - the IOMMU of a guest memory object
 * @gm: the object
 *
 * Return: the IOMMU (no reference taken).
 */
struct assign_iommu *assign_guestmem_get_iommu(const struct assign_guestmem *gm);

/**
 * assign_guestmem_get_policy() - the policy in force
 * @gm: the object
 *
 * Return: the policy.
 */
enum assign_guestmem_policy
assign_guestmem_get_policy(const struct assign_guestmem *gm);

/**
 * assign_guestmem_check_layout() - check regions for map-all, mapping nothing
 * @gm: the object, whose IOMMU has a device attached
 * @regions: proposed regions (not yet added)
 * @n: how many
 * @conflicts: array to fill, may be NULL when @max is 0
 * @max: capacity of @conflicts
 * @nconflicts: where to store the number of conflicts found (may exceed
 *              @max); may be NULL
 *
 * Checks that each region is well formed, that the proposed regions
 * overlap neither each other nor the registered ones (%ASSIGN_CONFLICT_OVERLAP,
 * @index of the proposed region), and, through
 * assign_iommu_check_layout(), that IOVA = GPA lies inside the IOVA ranges,
 * outside the reserved regions (e.g. the MSI window), below the DMA limit
 * and clear of existing mappings. Every conflict is reported, so a VMM can
 * move RAM around the holes in one go. Works under either policy.
 *
 * Return: 0 when there is no conflict; -ERANGE when there are (the message
 * summarizes the first); -EINVAL for bad arguments; -ENODEV when no device
 * is attached to the IOMMU.
 */
int assign_guestmem_check_layout(struct assign_guestmem *gm,
				 const struct assign_guestmem_region *regions,
				 size_t n, struct assign_conflict *conflicts,
				 size_t max, size_t *nconflicts);

/**
 * assign_guestmem_add_regions() - register guest RAM, all or nothing
 * @gm: the object
 * @regions: the regions; their memory must stay mapped while registered
 * @n: how many
 * @conflicts: as for assign_guestmem_check_layout(), may be NULL
 * @max: capacity of @conflicts
 * @nconflicts: where to store the number of conflicts, may be NULL
 *
 * The host memory of each region is marked MADV_DONTFORK as a whole (so
 * the per-mapping marks of the IOMMU layer never split its VMA). Under
 * map-all, the regions are then checked as by
 * assign_guestmem_check_layout(), then against the memlock budget and the
 * DMA entries left, optionally prefaulted, and mapped at IOVA = GPA in the
 * fewest, largest aligned chunks (see docs/guestmem.md). If anything fails,
 * what was mapped is unmapped and no region is added (a chunk the kernel
 * refuses to unmap then stays mapped and tracked, the message says so; it
 * goes with the object, or when the same RAM is added again). Under the
 * guest-IOMMU policy the regions only become translatable (and are checked
 * for overlap and form).
 *
 * Context: pinning holds the process's mmap lock for reading, one batch
 * after another, for as long as the mapping runs. A VMM that calls this
 * (or switches to map-all) on a thread of its own while the guest runs
 * should make no other thread map, unmap or reprotect memory meanwhile
 * (a thread's stack, a malloc arena, a BAR mapping): such a call waits
 * for the pinning, and the vCPUs' page faults wait behind it.
 * examples/assign-vmm does so (its README, "The RTC stall").
 *
 * Return: 0; -EINVAL (alignment, zero length, wrap-around, @size, flags;
 * reported as %ASSIGN_CONFLICT_INVALID too); -EFAULT (the host memory of
 * a region is not mapped); -ERANGE (conflicts, see
 * above); -ENOMEM (memlock budget: the message gives the bytes needed and
 * the limit); -ENOSPC (more chunks than DMA entries left); -ECANCELED (the
 * progress callback asked to stop); -ENODEV (no device attached, map-all);
 * or an error of assign_iommu_map().
 */
int assign_guestmem_add_regions(struct assign_guestmem *gm,
				const struct assign_guestmem_region *regions,
				size_t n, struct assign_conflict *conflicts,
				size_t max, size_t *nconflicts);

/**
 * assign_guestmem_remove() - unregister guest RAM (unplug, discard)
 * @gm: the object
 * @gpa: first guest physical address, page aligned
 * @length: bytes, page aligned
 *
 * The range may cover whole regions, part of one (which is then split) or
 * several, and may include holes. Under map-all the affected chunks are
 * unmapped and what remains of them is mapped again (type1 cannot split a
 * mapping: DMA to the remainder faults for that moment; choose
 * @chunk_max to bound it). Under the guest-IOMMU policy every guest mapping
 * that translates into the range is unmapped (the guest must not reach
 * memory the VMM has taken away).
 *
 * Return: 0; -EINVAL (alignment, zero length); -ENOENT (no registered RAM
 * in the range); a kernel error when mapping a remainder failed (the
 * regions are updated anyway and the message names the lost range).
 */
int assign_guestmem_remove(struct assign_guestmem *gm, uint64_t gpa,
			   uint64_t length);

/**
 * assign_guestmem_set_policy() - switch policy, e.g. when the guest turns
 *                                its IOMMU on or off
 * @gm: the object
 * @policy: the new policy
 *
 * To %ASSIGN_GUESTMEM_GUEST_IOMMU (the guest enabled translation): all
 * map-all mappings are removed; the device reaches nothing until the guest
 * maps it. To %ASSIGN_GUESTMEM_MAP_ALL (the guest disabled translation, or
 * was reset): every guest mapping is removed and all registered RAM is
 * mapped as by assign_guestmem_add_regions(). If that fails, the previous
 * mappings are restored and the policy is unchanged. Switching to the
 * policy in force does nothing.
 *
 * Return: 0, -EINVAL for an unknown policy, or an error of
 * assign_guestmem_add_regions().
 */
int assign_guestmem_set_policy(struct assign_guestmem *gm,
			       enum assign_guestmem_policy policy);

/**
 * assign_guestmem_guest_map() - shadow a guest IOMMU map operation
 * @gm: the object, with the guest-IOMMU policy
 * @iova: IO virtual address the guest chose, page aligned
 * @gpa: guest physical address it maps, page aligned
 * @size: bytes, page aligned, non-zero
 * @flags: ASSIGN_DMA_F_READ and/or ASSIGN_DMA_F_WRITE
 *
 * Translates [@gpa, @gpa + @size) through the registered regions (a range
 * spanning adjacent regions becomes one host mapping per region) and maps
 * it at @iova, all or nothing.
 *
 * Return: 0; -EINVAL (alignment, zero size, wrap-around, @perms);
 * -EPERM (the policy is map-all: the guest's IOMMU is off);
 * -EFAULT (part of the range is not guest RAM; the message names the first
 * such address); -EACCES (write permission on a read-only region);
 * -EEXIST (the IOVA range overlaps a guest mapping: the guest must unmap
 * first); -ENOMEM, -ENOSPC, -ERANGE and other errors of assign_iommu_map().
 */
int assign_guestmem_guest_map(struct assign_guestmem *gm, uint64_t iova,
			      uint64_t gpa, uint64_t size, uint32_t flags);

/**
 * assign_guestmem_guest_unmap() - shadow a guest IOMMU unmap operation
 * @gm: the object, with the guest-IOMMU policy
 * @iova: first IO virtual address, page aligned
 * @size: bytes, page aligned, non-zero
 *
 * Removes every guest mapping in the range. A host mapping cut by the range
 * is unmapped whole and its parts outside the range are mapped again
 * (type1 cannot split a mapping). The guest's unmap always takes effect
 * first; if re-mapping a remainder then fails, the remainder stays
 * unmapped (and is forgotten) and the error is returned. Unmapping a range
 * where nothing is mapped succeeds.
 *
 * Return: 0; -EINVAL (alignment, zero size, wrap-around); -EPERM (map-all
 * policy); a kernel error (the message names the lost range).
 */
int assign_guestmem_guest_unmap(struct assign_guestmem *gm, uint64_t iova,
				uint64_t size);

/**
 * struct assign_guestmem_mapping - one host DMA mapping made by a guestmem
 * @size: set by the caller to sizeof(struct assign_guestmem_mapping); the
 *        library sets it to the bytes it filled
 * @iova: first IOVA of the host mapping
 * @gpa: guest physical address at @iova (= @iova under map-all)
 * @vaddr: host address at @iova
 * @length: its length in bytes
 * @flags: ASSIGN_DMA_F_* permissions
 */
struct assign_guestmem_mapping {
	size_t size;
	uint64_t iova;
	uint64_t gpa;
	void *vaddr;
	uint64_t length;
	uint32_t flags;
};

/**
 * assign_guestmem_lookup() - find the host mapping holding an IOVA
 * @gm: the object
 * @iova: any address
 * @mapping: where to store the host mapping containing @iova, with
 *           @mapping->size set by the caller
 *
 * Under map-all it finds the chunk of guest RAM at @iova; under the
 * guest-IOMMU policy the shadow of the guest's mapping. O(log n) in the
 * number of mappings.
 *
 * Return: 0; -ENOENT when this object has nothing mapped at @iova;
 * -EINVAL (NULL arguments, @mapping->size not set).
 */
int assign_guestmem_lookup(struct assign_guestmem *gm, uint64_t iova,
			   struct assign_guestmem_mapping *mapping);

/**
 * struct assign_guestmem_stats - counters of a guest memory object
 * @size: set by the caller to sizeof(struct assign_guestmem_stats); the
 *        library sets it to the bytes it filled
 * @regions: registered regions
 * @ram_bytes: bytes of registered RAM
 * @host_mappings: host DMA mappings made by this object now
 * @mapped_bytes: bytes they cover
 * @guest_maps: guest map operations shadowed so far
 * @guest_unmaps: guest unmap operations shadowed so far
 * @splits: host mappings split (unmapped and remapped in parts)
 * @merges: host mappings merged (%ASSIGN_GUESTMEM_F_MERGE)
 * @host_maps: host mappings requested so far, one kernel map call each
 *             (those the IOMMU layer refused before the kernel included)
 * @host_unmaps: host unmaps requested so far, one kernel unmap call each
 */
struct assign_guestmem_stats {
	size_t size;
	uint64_t regions;
	uint64_t ram_bytes;
	uint64_t host_mappings;
	uint64_t mapped_bytes;
	uint64_t guest_maps;
	uint64_t guest_unmaps;
	uint64_t splits;
	uint64_t merges;
	uint64_t host_maps;
	uint64_t host_unmaps;
};

/**
 * assign_guestmem_get_stats() - read the counters
 * @gm: the object
 * @stats: where to store them, with @stats->size set by the caller
 *
 * Return: 0, or -EINVAL (NULL arguments, @stats->size not set).
 */
int assign_guestmem_get_stats(struct assign_guestmem *gm,
			      struct assign_guestmem_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_GUESTMEM_H */
