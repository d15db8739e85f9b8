/* SPDX-License-Identifier: MIT */
/*
 * libassign virtual PCI functions: the guest's view of an assigned device.
 *
 * Every VMM that assigns a device writes the same device model around it:
 * a config space where the BARs hold *guest* addresses, BAR placement
 * (which parts of a BAR the guest may touch directly, which must trap), the
 * MSI and MSI-X capabilities and the MSI-X table and PBA emulated so the
 * guest never programs the host's interrupt messages, and INTx wired to
 * eventfds. struct assign_vpci is that model, independent of any VMM or
 * hypervisor: the VMM forwards the guest's config-space and trapped BAR
 * accesses to it and learns through callbacks where BARs go and which
 * eventfd each interrupt vector signals (see docs/vpci.md).
 *
 * Threads (the rule of <libassign/libassign.h>, docs/errors.md): every
 * function taking a struct assign_vpci, the config-space and BAR accesses
 * among them, may be called from several threads (vCPUs) at once; a lock
 * inside the object serializes them. Callbacks run with that lock held and
 * must not call back into the same object. The object uses its device
 * under that lock: while it is in use, do not call the device from another
 * thread. The last error is per thread.
 */
#ifndef LIBASSIGN_VPCI_H
#define LIBASSIGN_VPCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libassign/libassign.h>

#ifdef __cplusplus
extern "C" {
#endif

struct assign_device;
struct assign_vpci;

/** BAR number of the expansion ROM in struct assign_vpci_bar and events. */
#define ASSIGN_VPCI_ROM_BAR 6
/** Number of BAR numbers: 0-5 and %ASSIGN_VPCI_ROM_BAR. */
#define ASSIGN_VPCI_NUM_BARS 7

/**
 * struct assign_vpci_bar_part - a piece of a BAR, for placement events
 * @offset: offset within the BAR (page aligned for direct parts)
 * @size: length
 * @host: where this piece of the device is mapped in the process (give it
 *        to the hypervisor as guest memory at the BAR's address + @offset),
 *        or NULL: accesses must trap and go to assign_vpci_bar_read() and assign_vpci_bar_write()
 */
struct assign_vpci_bar_part {
	uint64_t offset;
	uint64_t size;
	void *host;
};

/**
 * struct assign_vpci_bar_event - a BAR appearing or disappearing
 * @bar: 0-5, or %ASSIGN_VPCI_ROM_BAR
 * @io: I/O space (port numbers) rather than memory space
 * @gpa: guest address (port number for I/O) of the BAR's first byte
 * @size: length of the BAR
 * @nparts: number of entries in @parts
 * @parts: the BAR cut in pieces, sorted, covering [0, @size) exactly;
 *         valid during the callback only. I/O BARs, the ROM, the pages
 *         holding the MSI-X table and PBA and whatever the kernel does not
 *         let the process mmap are trapped pieces.
 */
struct assign_vpci_bar_event {
	uint32_t bar;
	bool io;
	uint64_t gpa;
	uint64_t size;
	size_t nparts;
	const struct assign_vpci_bar_part *parts;
};

/**
 * struct assign_vpci_vector - state of one MSI or MSI-X vector
 * @index: %ASSIGN_IRQ_MSI or %ASSIGN_IRQ_MSIX
 * @vector: vector number (MSI-X table entry; 0 for MSI)
 * @enabled: MSI or MSI-X is enabled and the device signals @eventfd for
 *           this vector; false when the guest disabled it (or on reset)
 * @masked: the guest masked the vector (entry or function mask, MSI mask
 *          bit): do not deliver; signals wait in @eventfd and show in the
 *          pending bits until unmasked
 * @addr: the guest's message address
 * @data: the guest's message data
 * @eventfd: the eventfd the device signals for this vector, owned by the
 *           library, the same for the lifetime of the object (e.g. a KVM
 *           irqfd routed to @addr/@data, attached while !@masked)
 * @more: more vector updates of the same guest access (config write, BAR
 *        write, reset, unref) follow; false on the last one. A consumer
 *        may collect the changes and act once, on the last:
 *        assign_kvm_vector_update() pushes the routing table at most once
 *        per access this way.
 */
struct assign_vpci_vector {
	uint32_t index;
	uint32_t vector;
	bool enabled;
	bool masked;
	uint64_t addr;
	uint32_t data;
	int eventfd;
	bool more;
};

/**
 * struct assign_vpci_ops - callbacks from a virtual function to its VMM
 * @size: sizeof(struct assign_vpci_ops)
 * @bar_map: the guest enabled decoding of a BAR at an acceptable address;
 *           return 0 once the VMM routes it (maps the direct parts, traps
 *           the others), or a negative errno to refuse (e.g. it overlaps
 *           guest RAM or another device): the BAR then stays unmapped and
 *           is offered again after the next change of BARs or command
 *           register. May be NULL (every BAR accepted).
 * @bar_unmap: a BAR mapped with @bar_map goes away (decoding disabled,
 *             moved, reset or the object freed): remove it. May be NULL.
 * @vector_update: an MSI or MSI-X vector changed (enabled, masked,
 *                 address or data); called only when something changed,
 *                 the changes of one access in a row, the last with
 *                 @more false (@intx_update may come between them).
 *                 May be NULL.
 * @intx_update: INTx started (@enabled) or stopped being signalled on the
 *               trigger eventfd (it stops while MSI or MSI-X is enabled).
 *               May be NULL.
 */
struct assign_vpci_ops {
	size_t size;
	int (*bar_map)(void *data, const struct assign_vpci_bar_event *ev);
	void (*bar_unmap)(void *data, const struct assign_vpci_bar_event *ev);
	void (*vector_update)(void *data, const struct assign_vpci_vector *v);
	void (*intx_update)(void *data, bool enabled);
};

/** Hide the expansion ROM: the ROM BAR reads 0 and cannot be sized. */
#define ASSIGN_VPCI_F_NO_ROM (1u << 0)
/** Do not mmap BARs: every part of every BAR traps. */
#define ASSIGN_VPCI_F_NO_MMAP (1u << 1)
/** Do not wire INTx (the interrupt pin reads 0). */
#define ASSIGN_VPCI_F_NO_INTX (1u << 2)

/**
 * struct assign_vpci_opts - options for assign_vpci_new()
 * @size: sizeof(struct assign_vpci_opts)
 * @flags: ASSIGN_VPCI_F_*
 * @ops: callbacks, or NULL; copied
 * @data: handed to every callback
 */
struct assign_vpci_opts {
	size_t size;
	uint32_t flags;
	const struct assign_vpci_ops *ops;
	void *data;
};

/**
 * assign_vpci_new() - build a guest-facing virtual function for a device
 * @dev: an open PCI device (type 0 header); the object holds a reference
 * @opts: options, or NULL
 * @ret: where to store the new object, with one reference
 *
 * Reads the device's config space and regions, makes the virtual config
 * space (BARs unplaced at 0, nothing mapped until the guest turns decoding
 * on in the command register, MSI and MSI-X disabled, every MSI-X entry
 * masked), mmaps the BARs that can be mmap'ed
 * and, unless %ASSIGN_VPCI_F_NO_INTX, creates the INTx eventfds and wires
 * them to the device (no callback is made from here).
 *
 * Return: 0; -EINVAL (NULL arguments, bad opts, not a PCI device, a bridge
 * header); -EPROTO (an MSI-X table or PBA outside its BAR, a malformed
 * capability list); -ENOMEM; kernel errors.
 */
int assign_vpci_new(struct assign_device *dev,
		    const struct assign_vpci_opts *opts,
		    struct assign_vpci **ret);

/**
 * assign_vpci_ref() - take a reference
 * @vpci: the object, or NULL
 *
 * Return: @vpci.
 */
struct assign_vpci *assign_vpci_ref(struct assign_vpci *vpci);

/**
 * assign_vpci_unref() - drop a reference
 * @vpci: the object, or NULL
 *
 * The last reference unmaps every mapped BAR (@bar_unmap callbacks),
 * disables MSI or MSI-X (@vector_update with enabled false) and INTx
 * (@intx_update), closes the eventfds, unmaps the regions and drops the
 * device reference. The callbacks are where a VMM detaches its irqfds
 * before the eventfds are closed.
 *
 * Return: NULL.
 */
struct assign_vpci *assign_vpci_unref(struct assign_vpci *vpci);

/**
 * assign_vpci_get_device() - the device behind a virtual function
 * @vpci: the object
 *
 * Return: the device (no reference taken).
 */
struct assign_device *assign_vpci_get_device(const struct assign_vpci *vpci);

/**
 * assign_vpci_get_config_size() - size of the virtual config space
 * @vpci: the object
 *
 * Return: 256 or 4096 (PCI Express extended config space).
 */
size_t assign_vpci_get_config_size(const struct assign_vpci *vpci);

/**
 * assign_vpci_config_read() - a guest read of config space
 * @vpci: the object
 * @offset: offset in config space
 * @data: where to store @len bytes, little-endian
 * @len: 1, 2 or 4, with @offset a multiple of @len
 *
 * Emulated registers come from the virtual config space, the rest from the
 * device. On failure @data is filled with 0xff, what a guest sees for a
 * failed config read.
 *
 * Return: 0; -EINVAL (bad size, misaligned, beyond config space); kernel
 * errors.
 */
int assign_vpci_config_read(struct assign_vpci *vpci, uint32_t offset,
			    void *data, size_t len);

/**
 * assign_vpci_config_write() - a guest write of config space
 * @vpci: the object
 * @offset: offset in config space
 * @data: @len bytes, little-endian
 * @len: 1, 2 or 4, with @offset a multiple of @len
 *
 * Each byte goes through the write policy (docs/vpci.md): BARs, ROM BAR,
 * interrupt line, MSI and MSI-X capabilities are emulated (read-only bits
 * are kept, never written to the device); the other bytes are written to
 * the device. Side effects happen here: BAR placement callbacks when the
 * command register or a BAR changes, MSI/MSI-X enabling (and INTx
 * disabling) through the kernel with vector callbacks.
 *
 * Return: 0; -EINVAL (bad size, misaligned, beyond config space); errors
 * from wiring interrupts (the virtual register keeps the guest's value).
 */
int assign_vpci_config_write(struct assign_vpci *vpci, uint32_t offset,
			     const void *data, size_t len);

/**
 * assign_vpci_bar_read() - a trapped guest read of a BAR
 * @vpci: the object
 * @bar: 0-5 or %ASSIGN_VPCI_ROM_BAR
 * @offset: offset within the BAR
 * @data: where to store @len bytes, little-endian
 * @len: 1 to 8 bytes, not crossing the end of the BAR
 *
 * Reads of the MSI-X table come from the virtual copy the guest
 * programmed, reads of the PBA are computed from the vectors' mask and
 * pending state; the rest (and the ROM) is read from the device's region.
 * A failed read fills @data with 0xff, what a guest sees for a failed
 * read.
 *
 * Return: 0; -EINVAL (no such BAR, @len 0 or above 8, outside the BAR);
 * kernel errors.
 */
int assign_vpci_bar_read(struct assign_vpci *vpci, uint32_t bar,
			 uint64_t offset, void *data, size_t len);

/**
 * assign_vpci_bar_write() - a trapped guest write of a BAR
 * @vpci: the object
 * @bar: 0-5 or %ASSIGN_VPCI_ROM_BAR
 * @offset: offset within the BAR
 * @data: @len bytes, little-endian
 * @len: 1 to 8 bytes, not crossing the end of the BAR
 *
 * Writes to the MSI-X table go to the virtual copy (vector callbacks on
 * changes; the host's table is never written by the guest); writes to the
 * PBA and the ROM are ignored; the rest goes to the device's region.
 *
 * Return: 0; -EINVAL (no such BAR, @len 0 or above 8, outside the BAR);
 * kernel errors.
 */
int assign_vpci_bar_write(struct assign_vpci *vpci, uint32_t bar,
			  uint64_t offset, const void *data, size_t len);

/**
 * struct assign_vpci_bar - a virtual BAR
 * @size: set by the caller to sizeof(struct assign_vpci_bar); the library
 *        sets it to the bytes it filled
 * @present: the BAR exists
 * @io: I/O BAR
 * @mem64: 64-bit memory BAR (the next BAR number is its upper half)
 * @prefetchable: prefetchable memory
 * @length: length in bytes
 * @mapped: the BAR is currently mapped (accepted by @bar_map)
 * @gpa: where, when @mapped
 */
struct assign_vpci_bar {
	size_t size;
	bool present;
	bool io;
	bool mem64;
	bool prefetchable;
	uint64_t length;
	bool mapped;
	uint64_t gpa;
};

/**
 * assign_vpci_get_bar() - describe a virtual BAR
 * @vpci: the object
 * @bar: 0-5 or %ASSIGN_VPCI_ROM_BAR
 * @info: where to store the description, with @info->size set by the
 *        caller
 *
 * For a VMM acting as firmware: it can place the BARs by writing their
 * registers with assign_vpci_config_write().
 *
 * Return: 0; -EINVAL (bad @bar, NULL @info, @info->size not set).
 */
int assign_vpci_get_bar(const struct assign_vpci *vpci, uint32_t bar,
			struct assign_vpci_bar *info);

/**
 * struct assign_vpci_intx - INTx wiring
 * @size: set by the caller to sizeof(struct assign_vpci_intx); the library
 *        sets it to the bytes it filled
 * @pin: interrupt pin, 1-4 (INTA-INTD), 0 when the function has no INTx
 * @trigger_fd: eventfd the device signals when it asserts INTx (a KVM
 *              irqfd with resample), -1 without INTx
 * @resample_fd: eventfd to write once the guest has serviced the line
 *               (the irqfd's resample fd); the device is unmasked then
 * @enabled: INTx is currently signalled (no MSI or MSI-X enabled)
 */
struct assign_vpci_intx {
	size_t size;
	uint8_t pin;
	int trigger_fd;
	int resample_fd;
	bool enabled;
};

/**
 * assign_vpci_get_intx() - the INTx eventfds
 * @vpci: the object
 * @info: where to store them, with @info->size set by the caller; the fds
 *        are owned by the library and stay the same for the lifetime of
 *        @vpci
 *
 * Return: 0; -EINVAL (NULL argument, @info->size not set).
 */
int assign_vpci_get_intx(const struct assign_vpci *vpci,
			 struct assign_vpci_intx *info);

/**
 * assign_vpci_reset() - reset the function as a guest reset would
 * @vpci: the object
 *
 * Unmaps every BAR, disables MSI and MSI-X (vector callbacks), resets the
 * device (function reset if it has one), returns the virtual config space
 * to its initial state and re-arms INTx.
 *
 * Return: 0; kernel errors (the virtual state is reset anyway; -ENOTTY
 * when the device has no function reset is not an error here).
 */
int assign_vpci_reset(struct assign_vpci *vpci);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_VPCI_H */
