/* SPDX-License-Identifier: MIT */
/*
 * libassign devices: a VFIO device fd and everything reached through it.
 *
 * Every region (BARs, config space, ROM, VGA, device-specific regions) is
 * reached at an offset on the device fd; the library reads the offsets from
 * the kernel and hides them. Interrupts are wired to eventfds the caller
 * owns (so they can be handed to KVM as irqfds).
 */
#ifndef LIBASSIGN_DEVICE_H
#define LIBASSIGN_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libassign/libassign.h>

#ifdef __cplusplus
extern "C" {
#endif

struct assign_ctx;
struct assign_iommu;
struct assign_device;
struct assign_pci_bar;

/**
 * struct assign_device_opts - options for assign_device_open() and
 *                             assign_device_open_fd()
 * @size: sizeof(struct assign_device_opts)
 * @flags: reserved, must be 0
 * @vf_token: the VF token, a UUID ("bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3"),
 *            or NULL. vfio-pci asks for it to open a VF whose PF is driven
 *            through vfio-pci (the PF's user set it with
 *            assign_device_set_vf_token()), and to open such a PF while
 *            its VFs are in use; given for a PF whose VFs are not in use,
 *            it sets the token. On the group path it goes with the device's
 *            name ("ADDR vf_token=UUID"); on the cdev path with
 *            VFIO_DEVICE_BIND_FLAG_TOKEN (Linux 6.17), and a kernel before
 *            that, which asks no token there, opens the device without it
 *            (a warning is logged)
 */
struct assign_device_opts {
	size_t size;
	uint32_t flags;
	const char *vf_token;
};

/**
 * assign_device_open() - open a VFIO device on an IOMMU
 * @iommu: the DMA address space the device joins
 * @name: the device: a PCI address ("dddd:bb:dd.f" or "bb:dd.f"); an
 *        mdev's UUID; a platform device's name ("fff51000.ethernet"); or
 *        its path in sysfs (/sys/bus/mdev/devices/UUID, /sys/devices/...).
 *        On an IOMMU object made from a handoff, the name of a device
 *        handed over
 * @opts: options, or NULL
 * @ret: where to store the device, with one reference
 *
 * Finds the device in sysfs and checks, in the order of the causes, that
 * VFIO can have it: not a bridge; VFIO present; an IOMMU group; bound to
 * its VFIO driver (vfio-pci or a variant for PCI, its parent's driver for
 * an mdev, vfio-platform). Type1/no-IOMMU: opens /dev/vfio/N (once per
 * group per IOMMU, or the group handed over), checks it is viable, adds it
 * to the container (setting the IOMMU type on the first group) and gets
 * the device fd. iommufd: opens /dev/vfio/devices/vfioN (or the cdev
 * handed over), binds it to the iommufd and attaches it to the IOAS.
 *
 * Return: 0; -EINVAL (a malformed name, a path outside /sys or with "..",
 * bad opts or VF token); -ENODEV (no such device, a bridge, no IOMMU
 * group, not bound to its VFIO driver, not a device VFIO opens (an mdev
 * parent, a class device): the message names the cause and the fix);
 * -ENOENT (no VFIO on this host); -EBUSY (group not viable: the message
 * names each blocking device and its driver; or the device is already
 * open elsewhere); -EACCES (permission denied, or the VF token is missing
 * or wrong: the message says which); -ENOMEM; other kernel errors.
 */
int assign_device_open(struct assign_iommu *iommu, const char *name,
		       const struct assign_device_opts *opts,
		       struct assign_device **ret);

/**
 * assign_device_open_fd() - open a device whose vfio cdev another process
 *                           opened
 * @iommu: an iommufd IOMMU object (assign_iommu_new_from_fd() of the
 *         iommufd handed over with it, or any iommufd one)
 * @fd: the device's vfio cdev (/dev/vfio/devices/vfioN), not bound to an
 *      iommufd yet
 * @name: the device it is expected to be (as assign_device_open() takes
 *        names), or NULL to take the one sysfs says @fd belongs to
 * @opts: options, or NULL
 * @ret: where to store the device, with one reference
 *
 * What @fd is comes from the kernel (fstat() and /sys/dev/char); without
 * sysfs, @name is taken as given. The library binds @fd to the iommufd
 * and attaches it to the IOAS, then it is a device like any other.
 *
 * On success the device owns @fd and closes it with its last reference;
 * on failure @fd stays the caller's to close (a cdev the kernel bound
 * before a later step failed stays bound until it is closed).
 *
 * Return: 0; -EBADF (@fd is not open); -EINVAL (@fd is not a vfio cdev,
 * but a group, a container, an iommufd or another file: the message says
 * which and what to do; it belongs to another device than @name; it is
 * bound already; @iommu is type1); -ENOENT (@iommu is AUTO and /dev/iommu
 * cannot be opened); -EACCES (VF token); -EPERM; -EBUSY; -ENOMEM; kernel
 * errors.
 */
int assign_device_open_fd(struct assign_iommu *iommu, int fd, const char *name,
			  const struct assign_device_opts *opts,
			  struct assign_device **ret);

/**
 * assign_device_set_vf_token() - set the VF token of an SR-IOV PF
 * @dev: a PF driven through vfio-pci
 * @uuid: the token, a UUID in its text form
 *
 * VFIO_DEVICE_FEATURE_PCI_VF_TOKEN: from now on its VFs open only with
 * this token (assign_device_opts.vf_token). vfio-pci gives a PF a random
 * token, so no VF opens before the PF's user sets one.
 *
 * Return: 0; -EINVAL (not a UUID); -EOPNOTSUPP (@dev is not an SR-IOV PF
 * driven through vfio-pci); kernel errors.
 */
int assign_device_set_vf_token(struct assign_device *dev, const char *uuid);

/**
 * assign_device_ref() - take a reference
 * @dev: the device, or NULL
 *
 * Return: @dev.
 */
struct assign_device *assign_device_ref(struct assign_device *dev);

/**
 * assign_device_unref() - drop a reference
 * @dev: the device, or NULL
 *
 * The last reference disables its interrupts, unmaps its regions and closes
 * the device fd (and the group when it was the group's last device).
 *
 * Return: NULL.
 */
struct assign_device *assign_device_unref(struct assign_device *dev);

/**
 * assign_device_get_iommu() - the IOMMU object the device is attached to
 * @dev: the device
 *
 * Return: the object (no reference taken).
 */
struct assign_iommu *assign_device_get_iommu(const struct assign_device *dev);

/**
 * assign_device_get_address() - the device's PCI address
 * @dev: the device
 *
 * Return: "dddd:bb:dd.f", valid as long as @dev; NULL for a device that
 * has no PCI address (an mdev, a platform device: see
 * assign_device_get_name()).
 */
const char *assign_device_get_address(const struct assign_device *dev);

/**
 * assign_device_get_name() - the kernel's name of the device
 * @dev: the device
 *
 * Return: its PCI address, mdev UUID or platform device name, valid as
 * long as @dev.
 */
const char *assign_device_get_name(const struct assign_device *dev);

/**
 * assign_device_get_fd() - escape hatch: the VFIO device fd
 * @dev: the device
 *
 * Return: the fd, owned by the library.
 */
int assign_device_get_fd(const struct assign_device *dev);

/**
 * assign_device_get_group_id() - the IOMMU group number of the device
 * @dev: the device
 *
 * Return: the group number, or -ENOENT if unknown.
 */
int assign_device_get_group_id(const struct assign_device *dev);

/** Device is PCI (regions and irqs follow the VFIO_PCI_* indexes). */
#define ASSIGN_DEVICE_F_PCI (1u << 0)
/** Device is a platform device. */
#define ASSIGN_DEVICE_F_PLATFORM (1u << 1)
/** VFIO_DEVICE_RESET does something useful for this device. */
#define ASSIGN_DEVICE_F_RESET (1u << 2)

/**
 * enum assign_device_bus - the bus a device sits on
 * @ASSIGN_DEVICE_BUS_UNKNOWN: sysfs did not say (a handed fd without
 *                             sysfs), or a library older than this field
 * @ASSIGN_DEVICE_BUS_PCI: a PCI function (it has a PCI address)
 * @ASSIGN_DEVICE_BUS_MDEV: a mediated device (it has a UUID; it may
 *                          still speak the PCI API: %ASSIGN_DEVICE_F_PCI)
 * @ASSIGN_DEVICE_BUS_PLATFORM: a platform device (device tree, ACPI)
 * @ASSIGN_DEVICE_BUS_OTHER: another bus VFIO drives (fsl-mc, ccw, ap...)
 *
 * The bus is where the device is; %ASSIGN_DEVICE_F_PCI and
 * %ASSIGN_DEVICE_F_PLATFORM are the API its regions and interrupts
 * follow: the kernel's mtty mdev, for one, is an mdev that speaks PCI.
 */
enum assign_device_bus {
	ASSIGN_DEVICE_BUS_UNKNOWN = 0,
	ASSIGN_DEVICE_BUS_PCI = 1,
	ASSIGN_DEVICE_BUS_MDEV = 2,
	ASSIGN_DEVICE_BUS_PLATFORM = 3,
	ASSIGN_DEVICE_BUS_OTHER = 4,
};

/**
 * struct assign_device_info - what the kernel says about the device
 * @size: set by the caller to sizeof(struct assign_device_info); the
 *        library sets it to the bytes it filled
 * @flags: ASSIGN_DEVICE_F_*
 * @num_regions: number of region indexes
 * @num_irqs: number of interrupt indexes
 * @bus: the bus it sits on
 */
struct assign_device_info {
	size_t size;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
	enum assign_device_bus bus;
};

/**
 * assign_device_get_info() - device flags and counts
 * @dev: the device
 * @info: where to store them, with @info->size set by the caller
 *
 * Return: 0; -EINVAL (NULL argument, @info->size not set).
 */
int assign_device_get_info(const struct assign_device *dev,
			   struct assign_device_info *info);

/**
 * assign_device_reset() - function-level reset
 * @dev: the device
 *
 * Uses whatever reset the kernel picked (FLR, PM, bus reset restricted to
 * this device...). INTx, MSI and MSI-X are disabled by the reset; the
 * library forgets their eventfds. ERR and REQ stay armed.
 *
 * Return: 0; -ENOTTY when the device has no function reset (try
 * assign_device_hot_reset()); other kernel errors.
 */
int assign_device_reset(struct assign_device *dev);

/**
 * struct assign_reset_dep - a device affected by a hot (bus) reset
 * @size: the caller sets the first element's @size to
 *        sizeof(struct assign_reset_dep): the library steps through the
 *        array by it and sets each filled element's @size
 * @addr: its PCI address
 * @group_id: its IOMMU group, or -1 if the kernel gave a device id instead
 * @devid: iommufd device id, or 0
 * @owned: whether it is open on the same IOMMU object (needed for the reset)
 */
struct assign_reset_dep {
	size_t size;
	struct assign_pci_addr addr;
	int group_id;
	uint32_t devid;
	bool owned;
};

/**
 * assign_device_get_hot_reset_deps() - devices a hot reset would reset too
 * @dev: the device
 * @deps: array to fill (@deps[0].size set by the caller), may be NULL if
 *        @max is 0
 * @max: its capacity
 * @n: where to store the total number of affected devices
 *
 * Return: 0; -ENOTTY when the device cannot be hot reset; -EINVAL (NULL
 * @n, @deps[0].size not set).
 */
int assign_device_get_hot_reset_deps(struct assign_device *dev,
				     struct assign_reset_dep *deps, size_t max,
				     size_t *n);

/**
 * assign_device_hot_reset() - secondary bus reset of the device's slot/bus
 * @dev: the device
 *
 * Every affected device must be open on the same IOMMU object.
 *
 * Return: 0; -ENOTTY (not supported); -EPERM (an affected device is not
 * owned: the message lists them and says to open them first); other kernel
 * errors.
 */
int assign_device_hot_reset(struct assign_device *dev);

/** Probe a feature for VFIO_DEVICE_FEATURE_GET. */
#define ASSIGN_DEVICE_FEATURE_F_GET (1u << 0)
/** Probe a feature for VFIO_DEVICE_FEATURE_SET. */
#define ASSIGN_DEVICE_FEATURE_F_SET (1u << 1)

/**
 * assign_device_feature_probe() - does the device support a VFIO feature?
 * @dev: the device
 * @feature: a VFIO_DEVICE_FEATURE_* number from the kernel uAPI
 * @flags: %ASSIGN_DEVICE_FEATURE_F_GET and/or %ASSIGN_DEVICE_FEATURE_F_SET:
 *         the directions that must be supported
 *
 * Return: 1 if supported in every direction asked, 0 if not, -EINVAL for
 * a feature number above 16 bits or flags that are 0 or unknown, a
 * negative errno on other failures.
 */
int assign_device_feature_probe(struct assign_device *dev, uint32_t feature,
				uint32_t flags);

/* Region indexes of a PCI device (same numbers as VFIO_PCI_*_REGION_INDEX). */
#define ASSIGN_PCI_BAR0_REGION 0
#define ASSIGN_PCI_BAR1_REGION 1
#define ASSIGN_PCI_BAR2_REGION 2
#define ASSIGN_PCI_BAR3_REGION 3
#define ASSIGN_PCI_BAR4_REGION 4
#define ASSIGN_PCI_BAR5_REGION 5
#define ASSIGN_PCI_ROM_REGION 6
#define ASSIGN_PCI_CONFIG_REGION 7
#define ASSIGN_PCI_VGA_REGION 8

/**
 * assign_pci_region_get_name() - the name of a PCI region index
 * @index: an ASSIGN_PCI_*_REGION index
 *
 * For messages and tools: "BAR0" to "BAR5", "ROM", "config", "VGA".
 * Device-specific regions (index 9 and up) have no fixed name: their
 * assign_region_info.type and .subtype say what they are.
 *
 * Return: a static string, or NULL for an index without a fixed name.
 */
const char *assign_pci_region_get_name(uint32_t index);

/** Region can be read. */
#define ASSIGN_REGION_F_READ (1u << 0)
/** Region can be written. */
#define ASSIGN_REGION_F_WRITE (1u << 1)
/** Some or all of the region can be mmap'ed (see @areas). */
#define ASSIGN_REGION_F_MMAP (1u << 2)

/**
 * struct assign_mmap_area - a part of a region that can be mmap'ed
 * @offset: offset within the region
 * @size: length
 */
struct assign_mmap_area {
	uint64_t offset;
	uint64_t size;
};

/**
 * struct assign_region_info - a region and its capabilities
 * @index: region index
 * @flags: ASSIGN_REGION_F_*
 * @size: size in bytes (0: the region does not exist)
 * @fd_offset: offset of the region on the device fd (escape hatch)
 * @nareas: number of entries in @areas
 * @areas: mmap-able parts: the sparse-mmap capability's areas, or one area
 *         covering the whole region when it is mmap-able without one
 * @has_type: the region carries a type capability
 * @type: VFIO_REGION_TYPE_* when @has_type
 * @subtype: VFIO_REGION_SUBTYPE_* when @has_type
 * @msix_mappable: the kernel lets the MSI-X table's page be mmap'ed
 *                 (VFIO_REGION_INFO_CAP_MSIX_MAPPABLE)
 */
struct assign_region_info {
	uint32_t index;
	uint32_t flags;
	uint64_t size;
	uint64_t fd_offset;
	uint32_t nareas;
	const struct assign_mmap_area *areas;
	bool has_type;
	uint32_t type;
	uint32_t subtype;
	bool msix_mappable;
};

/**
 * assign_device_get_region() - information about one region
 * @dev: the device
 * @index: region index, below assign_device_info.num_regions
 * @info: where to store a pointer to the information (owned by @dev, valid
 *        as long as @dev)
 *
 * The capability chain is read and bounds-checked once; a malformed chain
 * (an offset outside the buffer, a loop) fails with -EPROTO.
 *
 * Return: 0; -EINVAL (index out of range); -EPROTO; kernel errors.
 */
int assign_device_get_region(struct assign_device *dev, uint32_t index,
			     const struct assign_region_info **info);

/**
 * assign_region_read() - read from a region through the device fd
 * @dev: the device
 * @index: region index
 * @offset: offset within the region
 * @buf: destination
 * @len: bytes to read
 *
 * The whole range must lie inside the region. Register reads of 1, 2, 4 or
 * 8 bytes at aligned offsets are done in one access of that width.
 *
 * Return: 0 when all @len bytes were read; -EINVAL (outside the region or
 * not readable); -EIO (short read); kernel errors.
 */
int assign_region_read(struct assign_device *dev, uint32_t index,
		       uint64_t offset, void *buf, size_t len);

/**
 * assign_region_write() - write to a region through the device fd
 * @dev: the device
 * @index: region index
 * @offset: offset within the region
 * @buf: source
 * @len: bytes to write
 *
 * Return: as assign_region_read().
 */
int assign_region_write(struct assign_device *dev, uint32_t index,
			uint64_t offset, const void *buf, size_t len);

/**
 * assign_region_mmap() - map the mmap-able parts of a region
 * @dev: the device
 * @index: region index
 * @addr: where to store the base address
 *
 * Reserves address space for the whole region and maps each mmap-able area
 * at its offset from the base; the rest stays PROT_NONE, so a stray access
 * to a trapped part (such as the MSI-X table) faults instead of reaching
 * the wrong place. A second call returns the same base.
 *
 * Return: 0; -EINVAL (no mmap-able area); -ENOMEM; kernel errors.
 */
int assign_region_mmap(struct assign_device *dev, uint32_t index,
		       void **addr);

/**
 * assign_region_munmap() - undo assign_region_mmap()
 * @dev: the device
 * @index: region index
 *
 * Return: 0, or -ENOENT if the region is not mapped.
 */
int assign_region_munmap(struct assign_device *dev, uint32_t index);

/**
 * assign_device_config_read() - read PCI configuration space
 * @dev: the device
 * @offset: offset in config space
 * @buf: destination
 * @len: bytes
 *
 * Return: as assign_region_read() on %ASSIGN_PCI_CONFIG_REGION.
 */
int assign_device_config_read(struct assign_device *dev, uint32_t offset,
			      void *buf, size_t len);

/**
 * assign_device_config_write() - write PCI configuration space
 * @dev: the device
 * @offset: offset in config space
 * @buf: source
 * @len: bytes
 *
 * vfio-pci virtualizes parts of config space (BARs, MSI/MSI-X control...).
 *
 * Return: as assign_region_write() on %ASSIGN_PCI_CONFIG_REGION.
 */
int assign_device_config_write(struct assign_device *dev, uint32_t offset,
			       const void *buf, size_t len);

/**
 * assign_device_command_update() - set and clear bits of the PCI command
 * register
 * @dev: the device
 * @set: ASSIGN_PCI_COMMAND_* bits to set, e.g. %ASSIGN_PCI_COMMAND_MASTER
 * @clear: ASSIGN_PCI_COMMAND_* bits to clear
 *
 * vfio-pci opens a device with Bus Master Enable off, and a device without
 * it can neither DMA nor send MSI or MSI-X messages: a userspace driver
 * sets %ASSIGN_PCI_COMMAND_MASTER before it starts the device (a VMM
 * passes the guest's own command-register writes on instead). The
 * register is read, changed and written only if that changes it, then
 * read back: a bit that did not take is an error rather than a device
 * that silently does nothing.
 *
 * Return: the command register as read back (0 to 0xffff); -EINVAL (a
 * bit both in @set and @clear); -EIO (a bit did not take: the message
 * names it); errors of assign_region_read() and assign_region_write().
 */
int assign_device_command_update(struct assign_device *dev, uint16_t set,
				 uint16_t clear);

/**
 * assign_device_get_bars() - decode the BARs of an open PCI device
 * @dev: the device
 * @bars: array of 6 entries to fill, @bars[0].size set by the caller
 *
 * Reads config space and the region sizes from the kernel and calls
 * assign_pci_decode_bars().
 *
 * Return: as assign_pci_decode_bars(), plus kernel errors.
 */
int assign_device_get_bars(struct assign_device *dev,
			   struct assign_pci_bar *bars);

/* Interrupt indexes of a PCI device (same numbers as VFIO_PCI_*_IRQ_INDEX). */
#define ASSIGN_IRQ_INTX 0
#define ASSIGN_IRQ_MSI 1
#define ASSIGN_IRQ_MSIX 2
#define ASSIGN_IRQ_ERR 3
#define ASSIGN_IRQ_REQ 4

/**
 * assign_pci_irq_get_name() - the name of a PCI interrupt index
 * @index: an ASSIGN_IRQ_* index
 *
 * For messages and tools: "INTx", "MSI", "MSI-X", "ERR", "REQ".
 *
 * Return: a static string, or NULL for an unknown index.
 */
const char *assign_pci_irq_get_name(uint32_t index);

/** Can be signalled through an eventfd. */
#define ASSIGN_IRQ_F_EVENTFD (1u << 0)
/** Can be masked and unmasked. */
#define ASSIGN_IRQ_F_MASKABLE (1u << 1)
/** Masks itself when it fires (level-triggered INTx): needs unmasking. */
#define ASSIGN_IRQ_F_AUTOMASKED (1u << 2)
/** Vectors cannot be added while enabled: the set must be re-made. */
#define ASSIGN_IRQ_F_NORESIZE (1u << 3)

/**
 * struct assign_irq_info - one interrupt index
 * @size: set by the caller to sizeof(struct assign_irq_info); the library
 *        sets it to the bytes it filled
 * @index: the index
 * @flags: ASSIGN_IRQ_F_*
 * @count: number of vectors (0: the device has none of this kind)
 */
struct assign_irq_info {
	size_t size;
	uint32_t index;
	uint32_t flags;
	uint32_t count;
};

/**
 * assign_device_get_irq_info() - information about an interrupt index
 * @dev: the device
 * @index: ASSIGN_IRQ_*
 * @info: where to store it, with @info->size set by the caller
 *
 * An index the device does not have reads as a count of 0, in particular
 * %ASSIGN_IRQ_ERR on a conventional PCI device (AER is PCI Express only;
 * vfio-pci answers -EINVAL there, which the library turns into 0).
 *
 * Return: 0; -EINVAL (index out of range, @info->size not set); kernel
 * errors.
 */
int assign_device_get_irq_info(struct assign_device *dev, uint32_t index,
			       struct assign_irq_info *info);

/**
 * assign_irq_set_eventfds() - signal vectors through eventfds
 * @dev: the device
 * @index: ASSIGN_IRQ_* index
 * @start: first vector
 * @count: number of vectors
 * @fds: @count eventfds (owned by the caller; -1 leaves that vector without
 *       an eventfd)
 *
 * Enables the index if needed. Vectors can be added later: where the kernel
 * allows it (no %ASSIGN_IRQ_F_NORESIZE) only the new ones are set, otherwise
 * the library disables and re-enables the whole set with every eventfd it
 * was given. MSI and MSI-X exclude each other and INTx.
 *
 * Return: 0; -EINVAL (range beyond the count); -EBUSY (another index is
 * enabled: disable it first); kernel errors.
 */
int assign_irq_set_eventfds(struct assign_device *dev, uint32_t index,
			    uint32_t start, uint32_t count, const int *fds);

/**
 * assign_irq_set_unmask_eventfd() - unmask INTx when an eventfd is written
 * @dev: the device
 * @index: %ASSIGN_IRQ_INTX
 * @fd: eventfd (e.g. a KVM irqfd resample fd), or -1 to remove it
 *
 * Return: 0; -EINVAL; kernel errors.
 */
int assign_irq_set_unmask_eventfd(struct assign_device *dev, uint32_t index,
				  int fd);

/**
 * assign_irq_mask() - mask vectors
 * @dev: the device
 * @index: ASSIGN_IRQ_* index (must be %ASSIGN_IRQ_F_MASKABLE)
 * @start: first vector
 * @count: number of vectors
 *
 * Return: 0; -EINVAL; -EOPNOTSUPP (not maskable); kernel errors.
 */
int assign_irq_mask(struct assign_device *dev, uint32_t index, uint32_t start,
		    uint32_t count);

/**
 * assign_irq_unmask() - unmask vectors
 * @dev: the device
 * @index: ASSIGN_IRQ_* index
 * @start: first vector
 * @count: number of vectors
 *
 * Return: as assign_irq_mask().
 */
int assign_irq_unmask(struct assign_device *dev, uint32_t index,
		      uint32_t start, uint32_t count);

/**
 * assign_irq_trigger() - make the kernel signal vectors (loopback test)
 * @dev: the device
 * @index: ASSIGN_IRQ_* index
 * @start: first vector
 * @count: number of vectors
 *
 * Return: 0; -EINVAL; kernel errors.
 */
int assign_irq_trigger(struct assign_device *dev, uint32_t index,
		       uint32_t start, uint32_t count);

/**
 * assign_irq_disable() - disable an interrupt index
 * @dev: the device
 * @index: ASSIGN_IRQ_* index
 *
 * Return: 0 (also when it was not enabled); kernel errors.
 */
int assign_irq_disable(struct assign_device *dev, uint32_t index);

/**
 * assign_irq_get_enabled_count() - vectors the library has enabled on an index
 * @dev: the device
 * @index: ASSIGN_IRQ_* index
 *
 * Return: the number of vectors (0 when disabled), -EINVAL for a bad index.
 */
int assign_irq_get_enabled_count(const struct assign_device *dev, uint32_t index);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_DEVICE_H */
