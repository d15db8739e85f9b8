/* SPDX-License-Identifier: MIT */
/*
 * libassign PCI configuration-space helpers.
 *
 * Pure functions over a buffer holding (part of) a device's configuration
 * space, so a VMM can use them on the host device's config space (read with
 * assign_device_read_config()) and on its own virtual config space alike.
 * Every walk is bounded by the buffer length and safe against loops: a
 * device or a guest can put anything in these bytes.
 */
#ifndef LIBASSIGN_PCI_H
#define LIBASSIGN_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libassign/libassign.h>

#ifdef __cplusplus
extern "C" {
#endif

struct assign_device;

/** Size of conventional PCI config space. */
#define ASSIGN_PCI_CONFIG_SIZE 256
/** Size of PCI Express extended config space. */
#define ASSIGN_PCI_CONFIG_EXT_SIZE 4096

/**
 * struct assign_pci_cap - one capability found in config space
 * @id: capability ID (standard: 8 bits; extended: 16 bits)
 * @version: extended capability version (0 for standard ones)
 * @offset: offset of its header in config space
 * @extended: it is a PCIe extended capability (offset >= 0x100)
 */
struct assign_pci_cap {
	uint16_t id;
	uint8_t version;
	uint16_t offset;
	bool extended;
};

/**
 * assign_pci_list_caps() - list standard and extended capabilities
 * @cfg: config space bytes
 * @len: how many bytes @cfg holds (256 or 4096 typically; extended
 *       capabilities are only walked when @len > 256)
 * @caps: array to fill, may be NULL if @max is 0
 * @max: its capacity
 * @n: where to store the total number found (may exceed @max)
 *
 * The standard list is followed only if the status register says it exists.
 * A pointer outside the buffer, inside the header, misaligned, or seen
 * before ends the walk with -EPROTO (the entries found so far are kept).
 *
 * Return: 0; -EINVAL (@len < 64 or NULL arguments); -EPROTO (malformed or
 * looping list).
 */
int assign_pci_list_caps(const uint8_t *cfg, size_t len,
			 struct assign_pci_cap *caps, size_t max, size_t *n);

/**
 * assign_pci_find_cap() - offset of a standard capability
 * @cfg: config space bytes
 * @len: their number
 * @id: capability ID, e.g. 0x05 (MSI), 0x11 (MSI-X), 0x10 (PCIe)
 *
 * Return: the offset (> 0), -ENOENT if absent, -EPROTO if the list is
 * malformed before it is found, -EINVAL for bad arguments.
 */
int assign_pci_find_cap(const uint8_t *cfg, size_t len, uint8_t id);

/**
 * assign_pci_find_ext_cap() - offset of an extended capability
 * @cfg: config space bytes (at least 4096 for a useful answer)
 * @len: their number
 * @id: extended capability ID, e.g. 0x0001 (AER), 0x0010 (SR-IOV)
 *
 * Return: as assign_pci_find_cap().
 */
int assign_pci_find_ext_cap(const uint8_t *cfg, size_t len, uint16_t id);

/**
 * struct assign_pci_bar - a decoded base address register
 * @index: BAR number 0-5
 * @present: the BAR exists (non-zero size)
 * @io: I/O space BAR
 * @mem64: 64-bit memory BAR (uses this and the next register)
 * @prefetchable: prefetchable memory
 * @addr: address programmed in the register(s)
 * @size: size in bytes
 */
struct assign_pci_bar {
	uint32_t index;
	bool present;
	bool io;
	bool mem64;
	bool prefetchable;
	uint64_t addr;
	uint64_t size;
};

/**
 * assign_pci_decode_bars() - decode the six BARs of a type 0 header
 * @cfg: config space bytes (at least 64)
 * @len: their number
 * @sizes: size of each BAR as known from elsewhere (VFIO region sizes); a
 *         64-bit BAR's size is taken from its low index
 * @bars: array of 6 entries to fill; the upper half of a 64-bit BAR is
 *        reported as not present
 *
 * Return: 0; -EINVAL (@len < 64, header type is not 0); -EPROTO (a 64-bit
 * BAR in slot 5, a size that is not a power of two).
 */
int assign_pci_decode_bars(const uint8_t *cfg, size_t len,
			   const uint64_t sizes[6], struct assign_pci_bar bars[6]);

/**
 * assign_device_get_bars() - decode the BARs of an open PCI device
 * @dev: the device
 * @bars: array of 6 entries to fill
 *
 * Reads config space and the region sizes from the kernel and calls
 * assign_pci_decode_bars().
 *
 * Return: as assign_pci_decode_bars(), plus kernel errors.
 */
int assign_device_get_bars(struct assign_device *dev,
			   struct assign_pci_bar bars[6]);

/**
 * struct assign_pci_msi - a parsed MSI capability
 * @offset: capability offset
 * @max_vectors: vectors the device supports (1-32, from Multiple Message
 *               Capable)
 * @enabled_vectors: vectors enabled (from Multiple Message Enable)
 * @enabled: MSI Enable bit
 * @addr64: 64-bit message address
 * @per_vector_mask: mask and pending registers exist
 * @data_offset: offset of the message data register
 * @mask_offset: offset of the mask register (0 if none)
 */
struct assign_pci_msi {
	uint16_t offset;
	uint8_t max_vectors;
	uint8_t enabled_vectors;
	bool enabled;
	bool addr64;
	bool per_vector_mask;
	uint16_t data_offset;
	uint16_t mask_offset;
};

/**
 * assign_pci_parse_msi() - parse the MSI capability
 * @cfg: config space bytes
 * @len: their number
 * @msi: where to store the result
 *
 * Return: 0; -ENOENT (no MSI capability); -EPROTO (it runs past @len or
 * the capability list is malformed); -EINVAL.
 */
int assign_pci_parse_msi(const uint8_t *cfg, size_t len,
			 struct assign_pci_msi *msi);

/**
 * struct assign_pci_msix - a parsed MSI-X capability
 * @offset: capability offset
 * @table_size: number of vectors (1-2048)
 * @enabled: MSI-X Enable bit
 * @function_masked: Function Mask bit
 * @table_bar: BAR holding the table
 * @table_offset: offset of the table in that BAR
 * @pba_bar: BAR holding the pending bit array
 * @pba_offset: offset of the PBA in that BAR
 */
struct assign_pci_msix {
	uint16_t offset;
	uint16_t table_size;
	bool enabled;
	bool function_masked;
	uint8_t table_bar;
	uint32_t table_offset;
	uint8_t pba_bar;
	uint32_t pba_offset;
};

/**
 * assign_pci_parse_msix() - parse the MSI-X capability
 * @cfg: config space bytes
 * @len: their number
 * @msix: where to store the result
 *
 * Return: 0; -ENOENT (no MSI-X capability); -EPROTO (BIR above 5, runs
 * past @len, malformed list); -EINVAL.
 */
int assign_pci_parse_msix(const uint8_t *cfg, size_t len,
			  struct assign_pci_msix *msix);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_PCI_H */
