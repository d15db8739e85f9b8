/* SPDX-License-Identifier: MIT */
/*
 * libassign KVM glue: what a KVM-based VMM does with an assigned device
 * besides the device model. The KVM-VFIO pseudo device (KVM learns which
 * VFIO groups or devices the VM uses: coherent DMA, interrupt posting),
 * the GSI routing table (KVM_SET_GSI_ROUTING replaces the whole table, so
 * one owner must keep it), and irqfds, with resample for INTx.
 *
 * Every call goes through the context's kernel seam like the rest of the
 * library. The VM fd is the caller's; the object never closes it.
 *
 * Threads (the rule of <libassign/libassign.h>, docs/errors.md): every
 * function taking a struct assign_kvm may be called from several threads
 * at once (a lock inside the object serializes them), so vpci callbacks
 * running on several vCPU threads may share one object. The last error is
 * per thread.
 */
#ifndef LIBASSIGN_KVM_H
#define LIBASSIGN_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libassign/libassign.h>

#ifdef __cplusplus
extern "C" {
#endif

struct assign_ctx;
struct assign_device;
struct assign_kvm;
struct assign_vpci_vector;

/**
 * struct assign_kvm_opts - options for assign_kvm_new()
 * @size: sizeof(struct assign_kvm_opts)
 * @flags: reserved, must be 0
 * @gsi_base: first GSI the object may give to MSI routes (0: 24, above
 *            the IOAPIC's pins)
 * @gsi_limit: one past the last such GSI (0: 1024)
 */
struct assign_kvm_opts {
	size_t size;
	uint32_t flags;
	uint32_t gsi_base;
	uint32_t gsi_limit;
};

/**
 * assign_kvm_new() - KVM glue for one VM
 * @ctx: the library context
 * @vm_fd: the VM's fd (from KVM_CREATE_VM), borrowed: it must stay open as
 *         long as the object
 * @opts: options, or NULL
 * @ret: where to store the new object, with one reference
 *
 * Nothing is asked of KVM yet: the KVM-VFIO device is created on the first
 * assign_kvm_add_device(), the routing table pushed on the first route.
 *
 * Return: 0; -EINVAL (NULL arguments, negative @vm_fd, bad opts, an empty
 * GSI range); -ENOMEM.
 */
int assign_kvm_new(struct assign_ctx *ctx, int vm_fd,
		   const struct assign_kvm_opts *opts, struct assign_kvm **ret);

/**
 * assign_kvm_ref() - take a reference
 * @kvm: the object, or NULL
 *
 * Return: @kvm.
 */
struct assign_kvm *assign_kvm_ref(struct assign_kvm *kvm);

/**
 * assign_kvm_unref() - drop a reference
 * @kvm: the object, or NULL
 *
 * The last reference deassigns the irqfds the object assigned, removes the
 * groups and devices it added to the KVM-VFIO device and closes that
 * device. The routing table is left as it was last pushed.
 *
 * Return: NULL.
 */
struct assign_kvm *assign_kvm_unref(struct assign_kvm *kvm);

/**
 * assign_kvm_add_device() - tell KVM the VM uses a VFIO device
 * @kvm: the object
 * @dev: the device
 *
 * Adds the device's group fd (type1, no-IOMMU) or its device fd (iommufd
 * cdev) to the KVM-VFIO device, creating that device first if needed. A
 * group shared by several devices is added once and removed with the last.
 *
 * Return: 0; -ENODEV (KVM has no VFIO device type); kernel errors.
 */
int assign_kvm_add_device(struct assign_kvm *kvm, struct assign_device *dev);

/**
 * assign_kvm_remove_device() - undo assign_kvm_add_device()
 * @kvm: the object
 * @dev: the device
 *
 * Return: 0; -ENOENT (not added); kernel errors.
 */
int assign_kvm_remove_device(struct assign_kvm *kvm, struct assign_device *dev);

/** IRQ chip numbers of x86 KVM (as KVM_IRQCHIP_*). */
#define ASSIGN_KVM_IRQCHIP_PIC_MASTER 0
#define ASSIGN_KVM_IRQCHIP_PIC_SLAVE 1
#define ASSIGN_KVM_IRQCHIP_IOAPIC 2

/**
 * assign_kvm_route_irqchip() - add an interrupt-controller pin route
 * @kvm: the object
 * @gsi: the GSI
 * @irqchip: ASSIGN_KVM_IRQCHIP_*
 * @pin: pin of that chip
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, so the VMM's own routes
 * (the IOAPIC and PIC pins for the default table) are given here once and
 * pushed with the MSI routes every time. A GSI may have one route per chip.
 *
 * Return: 0; -EINVAL (@gsi inside the MSI range); -EEXIST; -ENOSPC (4096
 * routes); kernel errors (the route is not kept then).
 */
int assign_kvm_route_irqchip(struct assign_kvm *kvm, uint32_t gsi,
			     uint32_t irqchip, uint32_t pin);

/**
 * assign_kvm_msi_route_new() - allocate a GSI routed to an MSI message
 * @kvm: the object
 * @addr: message address
 * @data: message data
 * @gsi: where to store the GSI
 *
 * Return: 0; -ENOSPC (no free GSI in the range); kernel errors.
 */
int assign_kvm_msi_route_new(struct assign_kvm *kvm, uint64_t addr,
			     uint32_t data, uint32_t *gsi);

/**
 * assign_kvm_msi_route_set() - change the message of an MSI route
 * @kvm: the object
 * @gsi: a GSI from assign_kvm_msi_route_new()
 * @addr: message address
 * @data: message data
 *
 * Return: 0 (also when nothing changed: then KVM is not asked); -ENOENT;
 * kernel errors (the previous message is kept).
 */
int assign_kvm_msi_route_set(struct assign_kvm *kvm, uint32_t gsi,
			     uint64_t addr, uint32_t data);

/**
 * assign_kvm_route_remove() - remove the routes of a GSI
 * @kvm: the object
 * @gsi: the GSI (MSI or irqchip)
 *
 * Return: 0; -ENOENT; kernel errors.
 */
int assign_kvm_route_remove(struct assign_kvm *kvm, uint32_t gsi);

/**
 * assign_kvm_irqfd() - inject @gsi when @eventfd is signalled
 * @kvm: the object
 * @eventfd: the eventfd (e.g. a vector's, from vpci)
 * @gsi: the GSI
 * @resample_fd: for a level-triggered GSI (INTx), the eventfd KVM signals
 *               when the guest acknowledges the interrupt
 *               (KVM_IRQFD_FLAG_RESAMPLE), or -1
 *
 * Return: 0; -EEXIST (@eventfd already assigned by this object); kernel
 * errors.
 */
int assign_kvm_irqfd(struct assign_kvm *kvm, int eventfd, uint32_t gsi,
		     int resample_fd);

/**
 * assign_kvm_irqfd_remove() - undo assign_kvm_irqfd()
 * @kvm: the object
 * @eventfd: the eventfd
 *
 * Return: 0; -ENOENT (not assigned by this object); kernel errors.
 */
int assign_kvm_irqfd_remove(struct assign_kvm *kvm, int eventfd);

/**
 * assign_kvm_vector_update() - follow a vpci vector with a route and irqfd
 * @kvm: the object
 * @v: the state reported by vpci's vector_update callback
 *
 * Call it from the callback. An enabled vector gets a GSI routed to its
 * message, with its eventfd attached as an irqfd while it is unmasked and
 * its address non-zero; a masked one has its irqfd detached, so signals
 * wait in the eventfd (vpci's pending bit) and are delivered when it is
 * attached again. A disabled vector loses its irqfd and GSI.
 *
 * Return: 0; -EINVAL; -ENOSPC; kernel errors.
 */
int assign_kvm_vector_update(struct assign_kvm *kvm,
			     const struct assign_vpci_vector *v);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_KVM_H */
