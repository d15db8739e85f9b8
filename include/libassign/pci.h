/* SPDX-License-Identifier: MIT */
/*
 * libassign PCI configuration-space helpers.
 *
 * Pure functions over a buffer holding (part of) a device's configuration
 * space, so a VMM can use them on the host device's config space (read with
 * assign_device_config_read()) and on its own virtual config space alike.
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

/*
 * Constants of the PCI specifications, with the names Linux gives them in
 * <linux/pci_regs.h> behind an ASSIGN_ prefix. The library, its examples
 * and its tests take them from here, their one home.
 */

/* The type 0 configuration header */
#define ASSIGN_PCI_VENDOR_ID 0x00
#define ASSIGN_PCI_DEVICE_ID 0x02
/** ASSIGN_PCI_COMMAND - the command register (16 bits) */
#define ASSIGN_PCI_COMMAND 0x04
#define ASSIGN_PCI_COMMAND_IO 0x0001       /* I/O space decoding */
#define ASSIGN_PCI_COMMAND_MEMORY 0x0002   /* memory space decoding */
#define ASSIGN_PCI_COMMAND_MASTER 0x0004   /* Bus Master Enable: DMA, MSI */
#define ASSIGN_PCI_COMMAND_INTX_DISABLE 0x0400
#define ASSIGN_PCI_STATUS 0x06
#define ASSIGN_PCI_STATUS_CAP_LIST 0x0010  /* capability list present */
#define ASSIGN_PCI_CLASS_REVISION 0x08
#define ASSIGN_PCI_HEADER_TYPE 0x0e
#define ASSIGN_PCI_HEADER_TYPE_MASK 0x7f
#define ASSIGN_PCI_BASE_ADDRESS_0 0x10
#define ASSIGN_PCI_BASE_ADDRESS_SPACE_IO 0x01
#define ASSIGN_PCI_BASE_ADDRESS_MEM_TYPE_64 0x04
#define ASSIGN_PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define ASSIGN_PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define ASSIGN_PCI_SUBSYSTEM_ID 0x2e
#define ASSIGN_PCI_ROM_ADDRESS 0x30
#define ASSIGN_PCI_ROM_ADDRESS_ENABLE 0x01
#define ASSIGN_PCI_CAPABILITY_LIST 0x34
#define ASSIGN_PCI_INTERRUPT_LINE 0x3c
#define ASSIGN_PCI_INTERRUPT_PIN 0x3d
#define ASSIGN_PCI_STD_HEADER_SIZE 0x40
/* First extended capability (PCI Express) */
#define ASSIGN_PCI_EXT_CAP_START 0x100

/* Capability IDs */
#define ASSIGN_PCI_CAP_ID_PM 0x01
#define ASSIGN_PCI_CAP_ID_MSI 0x05
#define ASSIGN_PCI_CAP_ID_VNDR 0x09
#define ASSIGN_PCI_CAP_ID_EXP 0x10
#define ASSIGN_PCI_CAP_ID_MSIX 0x11
/* Extended capability IDs */
#define ASSIGN_PCI_EXT_CAP_ID_ERR 0x0001   /* AER */
#define ASSIGN_PCI_EXT_CAP_ID_SRIOV 0x0010

/* MSI capability: offsets from its header, and the flags register */
#define ASSIGN_PCI_MSI_FLAGS 0x02
#define ASSIGN_PCI_MSI_FLAGS_ENABLE 0x0001
#define ASSIGN_PCI_MSI_FLAGS_QMASK 0x000e  /* Multiple Message Capable */
#define ASSIGN_PCI_MSI_FLAGS_QSIZE 0x0070  /* Multiple Message Enable */
#define ASSIGN_PCI_MSI_FLAGS_64BIT 0x0080
#define ASSIGN_PCI_MSI_FLAGS_MASKBIT 0x0100 /* per-vector masking */
#define ASSIGN_PCI_MSI_ADDRESS_LO 0x04

/* MSI-X capability: offsets from its header, and its registers' fields */
#define ASSIGN_PCI_MSIX_FLAGS 0x02
#define ASSIGN_PCI_MSIX_FLAGS_QSIZE 0x07ff /* table size - 1 */
#define ASSIGN_PCI_MSIX_FLAGS_MASKALL 0x4000
#define ASSIGN_PCI_MSIX_FLAGS_ENABLE 0x8000
#define ASSIGN_PCI_MSIX_TABLE 0x04
#define ASSIGN_PCI_MSIX_PBA 0x08
#define ASSIGN_PCI_MSIX_BIR 0x00000007     /* BAR of the table / PBA */
#define ASSIGN_PCI_MSIX_OFFSET 0xfffffff8
/* An MSI-X table entry */
#define ASSIGN_PCI_MSIX_ENTRY_SIZE 16
#define ASSIGN_PCI_MSIX_ENTRY_LOWER_ADDR 0x0
#define ASSIGN_PCI_MSIX_ENTRY_UPPER_ADDR 0x4
#define ASSIGN_PCI_MSIX_ENTRY_DATA 0x8
#define ASSIGN_PCI_MSIX_ENTRY_VECTOR_CTRL 0xc
#define ASSIGN_PCI_MSIX_ENTRY_CTRL_MASKBIT 0x1

/** Size of conventional PCI config space. */
#define ASSIGN_PCI_CONFIG_SIZE 256
/** Size of PCI Express extended config space. */
#define ASSIGN_PCI_CONFIG_EXT_SIZE 4096

/**
 * struct assign_pci_cap - one capability found in config space
 * @size: the caller sets the first element's @size to
 *        sizeof(struct assign_pci_cap): the library steps through the
 *        array by it and sets each filled element's @size
 * @id: capability ID (standard: 8 bits; extended: 16 bits)
 * @version: extended capability version (0 for standard ones)
 * @offset: offset of its header in config space
 * @extended: it is a PCIe extended capability (offset >= 0x100)
 */
struct assign_pci_cap {
	size_t size;
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
 * @caps: array to fill (@caps[0].size set), may be NULL if @max is 0
 * @max: its capacity
 * @n: where to store the total number found (may exceed @max)
 *
 * The standard list is followed only if the status register says it exists.
 * A pointer outside the buffer, inside the header, misaligned, or seen
 * before ends the walk with -EPROTO (the entries found so far are kept).
 *
 * Return: 0; -EINVAL (@len < 64, NULL arguments, @caps[0].size not set);
 * -EPROTO (malformed or looping list).
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
 * @size: the caller sets the first element's @size to
 *        sizeof(struct assign_pci_bar): the library steps through the
 *        array by it and sets each filled element's @size
 * @index: BAR number 0-5
 * @present: the BAR exists (non-zero length)
 * @io: I/O space BAR
 * @mem64: 64-bit memory BAR (uses this and the next register)
 * @prefetchable: prefetchable memory
 * @addr: address programmed in the register(s)
 * @length: length of the BAR in bytes
 */
struct assign_pci_bar {
	size_t size;
	uint32_t index;
	bool present;
	bool io;
	bool mem64;
	bool prefetchable;
	uint64_t addr;
	uint64_t length;
};

/**
 * assign_pci_decode_bars() - decode the six BARs of a type 0 header
 * @cfg: config space bytes (at least 64)
 * @len: their number
 * @sizes: size of each BAR as known from elsewhere (VFIO region sizes); a
 *         64-bit BAR's size is taken from its low index
 * @bars: array of 6 entries to fill (@bars[0].size set by the caller);
 *        the upper half of a 64-bit BAR is reported as not present
 *
 * Return: 0; -EINVAL (@len < 64, header type is not 0, @bars[0].size not
 * set); -EPROTO (a 64-bit BAR in slot 5, a size that is not a power of
 * two).
 */
int assign_pci_decode_bars(const uint8_t *cfg, size_t len,
			   const uint64_t sizes[6],
			   struct assign_pci_bar *bars);

/**
 * struct assign_pci_msi - a parsed MSI capability
 * @size: set by the caller to sizeof(struct assign_pci_msi); the library
 *        sets it to the bytes it filled
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
	size_t size;
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
 * @msi: where to store the result, with @msi->size set by the caller
 *
 * Return: 0; -ENOENT (no MSI capability); -EPROTO (it runs past @len or
 * the capability list is malformed); -EINVAL (NULL or short arguments,
 * @msi->size not set).
 */
int assign_pci_parse_msi(const uint8_t *cfg, size_t len,
			 struct assign_pci_msi *msi);

/**
 * struct assign_pci_msix - a parsed MSI-X capability
 * @size: set by the caller to sizeof(struct assign_pci_msix); the library
 *        sets it to the bytes it filled
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
	size_t size;
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
 * @msix: where to store the result, with @msix->size set by the caller
 *
 * Return: 0; -ENOENT (no MSI-X capability); -EPROTO (BIR above 5, runs
 * past @len, malformed list); -EINVAL (NULL or short arguments,
 * @msix->size not set).
 */
int assign_pci_parse_msix(const uint8_t *cfg, size_t len,
			  struct assign_pci_msix *msix);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_PCI_H */
