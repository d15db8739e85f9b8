/* SPDX-License-Identifier: MIT */
/*
 * libassign KVM glue: what a KVM-based VMM does with an assigned device
 * besides the device model. The KVM-VFIO pseudo device (KVM learns which
 * VFIO groups or devices the VM uses: coherent DMA, interrupt posting),
 * the GSI routing table (KVM_SET_GSI_ROUTING replaces the whole table, so
 * one owner must keep it), and irqfds, with resample for INTx.
 *
 * When KVM gets the routing table. The route calls only edit the object's
 * table; KVM gets it whole, with one KVM_SET_GSI_ROUTING and never when
 * it did not change, at these points:
 *  - assign_kvm_route_commit();
 *  - before assign_kvm_irqfd_add() attaches an irqfd, so its GSI is routed
 *    before the eventfd can fire (a signal waiting in it is not lost);
 *  - at once when assign_kvm_msi_route_set() or assign_kvm_route_remove()
 *    changes a GSI that an irqfd of this object is attached to;
 *  - for vpci vectors, at the end of each guest access
 *    (assign_kvm_vector_update()), and only when a route that an attached
 *    irqfd uses changed, a route was freed, or a vector's irqfd is to be
 *    attached. A guest that writes the messages of N vectors while they
 *    are masked and then unmasks them costs one push, not N; one that
 *    rewrites each message just before unmasking that vector (Linux on
 *    x86 does as it activates each vector) costs one per vector, the
 *    least that keeps a signal waiting in the eventfd from meeting a
 *    stale route.
 * A VMM that raises GSIs itself (KVM_IRQ_LINE on its interrupt
 * controller routes, or an in-kernel PIT on GSI 0) commits after giving
 * them, before the first vCPU runs.
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
 *            the IOAPIC's pins); interrupt-controller routes must stay
 *            below it or at @gsi_limit and above, so the two never meet
 * @gsi_limit: one past the last such GSI (0: 1024; at most 4096, KVM's
 *             number of GSIs)
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
 * GSI range or one past GSI 4095); -ENOMEM.
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
 * assign_kvm_irqchip_route_add() - add an interrupt-controller pin route
 * @kvm: the object
 * @gsi: the GSI
 * @irqchip: ASSIGN_KVM_IRQCHIP_*
 * @pin: pin of that chip
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, so the VMM's own routes
 * (the IOAPIC and PIC pins for the default table) are given here once and
 * pushed with the MSI routes every time. A GSI may have one route per chip.
 * KVM gets the route with the next push: call assign_kvm_route_commit()
 * once the VMM's routes are given.
 *
 * Return: 0; -EINVAL (no such @irqchip or @pin: the PICs have pins 0-7,
 * the IOAPIC 0-23; @gsi above 4095 or inside the MSI range); -EEXIST (a
 * route from @gsi to @irqchip exists); -ENOSPC (4096 routes); -ENOMEM.
 */
int assign_kvm_irqchip_route_add(struct assign_kvm *kvm, uint32_t gsi,
				 uint32_t irqchip, uint32_t pin);

/**
 * assign_kvm_msi_route_add() - allocate a GSI routed to an MSI message
 * @kvm: the object
 * @addr: message address
 * @data: message data
 * @gsi: where to store the GSI
 *
 * The GSI is the lowest free one of the MSI range; one freed by
 * assign_kvm_route_remove() is given again. KVM gets the route with the
 * next push (assign_kvm_route_commit(), or assign_kvm_irqfd_add() on it).
 *
 * Return: 0; -EINVAL (NULL arguments); -ENOSPC (every GSI of the range is
 * in use: the last error says so and how to raise the limit); -ENOMEM.
 */
int assign_kvm_msi_route_add(struct assign_kvm *kvm, uint64_t addr,
			     uint32_t data, uint32_t *gsi);

/**
 * assign_kvm_msi_route_set() - change the message of an MSI route
 * @kvm: the object
 * @gsi: a GSI from assign_kvm_msi_route_add()
 * @addr: message address
 * @data: message data
 *
 * Pushed at once when an irqfd of this object is attached to @gsi (it must
 * reach the new target), otherwise with the next push.
 *
 * Return: 0 (also when nothing changed: then KVM is not asked); -ENOENT (no
 * MSI route on @gsi); kernel errors of the push (the object keeps the new
 * message, KVM the old one; the next push retries).
 */
int assign_kvm_msi_route_set(struct assign_kvm *kvm, uint32_t gsi,
			     uint64_t addr, uint32_t data);

/**
 * assign_kvm_route_remove() - remove the routes of a GSI
 * @kvm: the object
 * @gsi: the GSI (MSI or irqchip)
 *
 * An MSI GSI is free again at once. KVM forgets the route at once when an
 * irqfd of this object is still attached to @gsi, otherwise with the next
 * push.
 *
 * Return: 0; -ENOENT (no route on @gsi); kernel errors of the push (the
 * route is removed anyway; the next push retries).
 */
int assign_kvm_route_remove(struct assign_kvm *kvm, uint32_t gsi);

/**
 * assign_kvm_route_commit() - give KVM the routing table now
 * @kvm: the object
 *
 * One KVM_SET_GSI_ROUTING with every route of the object, or nothing when
 * KVM already has this table. Needed for routes the VMM uses without an
 * irqfd of this object (its interrupt-controller routes), before the
 * first vCPU runs; the other cases push by themselves (see above).
 *
 * Return: 0; -EINVAL (@kvm NULL); -ENOMEM; kernel errors (KVM keeps its
 * previous table, the object its own; the next push retries).
 */
int assign_kvm_route_commit(struct assign_kvm *kvm);

/**
 * assign_kvm_irqfd_add() - inject @gsi when @eventfd is signalled
 * @kvm: the object
 * @eventfd: the eventfd (e.g. a vector's, from vpci)
 * @gsi: the GSI
 * @resample_fd: for a level-triggered GSI (INTx), the eventfd KVM signals
 *               when the guest acknowledges the interrupt
 *               (KVM_IRQFD_FLAG_RESAMPLE), or -1
 *
 * Pushes the routing table first if KVM does not have it yet, so @gsi is
 * routed before @eventfd can fire.
 *
 * Return: 0; -EINVAL (@eventfd negative); -EEXIST (@eventfd already
 * assigned by this object); -ENOMEM; kernel errors (of the push or of
 * KVM_IRQFD: nothing is attached then).
 */
int assign_kvm_irqfd_add(struct assign_kvm *kvm, int eventfd, uint32_t gsi,
			 int resample_fd);

/**
 * assign_kvm_irqfd_remove() - undo assign_kvm_irqfd_add()
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
 * Call it from the callback. An enabled vector with a non-zero message
 * address gets a GSI routed to its message, masked or not; its eventfd is
 * attached as an irqfd while it is unmasked. A masked one has its irqfd
 * detached at once, so signals wait in the eventfd (vpci's pending bit)
 * and are delivered when it is attached again. A disabled vector loses
 * its irqfd at once and its GSI, which is free for the next vector.
 *
 * The updates of one guest access come as a batch, the last with
 * @v->more false: route changes are collected and pushed at its end (see
 * "When KVM gets the routing table" above), then the irqfds of the
 * vectors unmasked in it are attached. An update built by hand with @more
 * false is a batch of one.
 *
 * Return: 0; -EINVAL (NULL arguments, no eventfd); -ENOSPC (no free GSI:
 * the vector stays without a route and irqfd until it changes again);
 * -ENOMEM; kernel errors (a vector whose irqfd could not be attached is
 * tried again at the end of the next batch).
 */
int assign_kvm_vector_update(struct assign_kvm *kvm,
			     const struct assign_vpci_vector *v);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_KVM_H */
