/* SPDX-License-Identifier: MIT */
/*
 * libassign handoff: VFIO descriptors a privileged process opens and
 * checks, handed to an unprivileged VMM over a unix socket (SCM_RIGHTS).
 *
 * The helper (assign-host handoff, or a management stack in C) makes a
 * handoff with assign_handoff_new() and assign_handoff_add_device(), and
 * sends it with assign_handoff_send(). The VMM receives it with
 * assign_handoff_recv(), makes its IOMMU object with
 * assign_iommu_new_from_handoff() and opens the devices by name with
 * assign_device_open(), as it would otherwise: it needs no access to
 * /dev/vfio or /dev/iommu. docs/device.md describes the message.
 */
#ifndef LIBASSIGN_HANDOFF_H
#define LIBASSIGN_HANDOFF_H

#include <stddef.h>

#include <libassign/iommu.h>

#ifdef __cplusplus
extern "C" {
#endif

struct assign_ctx;
/*
 * struct assign_handoff - VFIO descriptors to hand over, or handed over
 *
 * Not reference counted: made by assign_handoff_new() or
 * assign_handoff_recv(), freed with assign_handoff_free(), which closes
 * every fd not taken by assign_iommu_new_from_handoff().
 */
struct assign_handoff;

/**
 * assign_handoff_new() - start a handoff (the privileged side)
 * @ctx: the library context
 * @opts: the backend: TYPE1 (a container and group fds), IOMMUFD (an
 *        iommufd and vfio cdev fds) or AUTO (iommufd when /dev/iommu
 *        opens, else type1); NULL for AUTO
 * @ret: where to store the handoff
 *
 * Opens the container or iommufd to hand over.
 *
 * Return: 0; -EINVAL (bad @opts, @opts->ioas_id set); -EOPNOTSUPP
 * (no-IOMMU: VFIO asks its user for CAP_SYS_RAWIO anyway); -ENOENT (no
 * such interface); -EACCES (not privileged); -ENOMEM.
 */
int assign_handoff_new(struct assign_ctx *ctx,
		       const struct assign_iommu_opts *opts,
		       struct assign_handoff **ret);

/**
 * assign_handoff_add_device() - check a device and add its fds
 * @h: a handoff made by assign_handoff_new()
 * @name: the device, as assign_device_open() takes it: a PCI address, an
 *        mdev UUID, a platform device's name or a sysfs path
 *
 * Checks the device as opening it would (it must be bound to its VFIO
 * driver, its group viable, its interrupts isolated: the first device of a
 * group is opened once and closed again), then opens fresh for the VMM its
 * vfio cdev (iommufd) or its group (type1, once per group).
 *
 * Return: 0; -EINVAL (a malformed @name, a received @h); -ENODEV (no such
 * device, not bound to VFIO, no IOMMU group, a bridge); -EBUSY (group not
 * viable, device in use); -EEXIST (added already); -ENOSPC (64 devices
 * already); -EPERM; -EACCES; kernel errors. The message says which.
 */
int assign_handoff_add_device(struct assign_handoff *h, const char *name);

/**
 * assign_handoff_send() - send a handoff over a unix socket
 * @h: the handoff
 * @sock: a connected unix socket, best SOCK_SEQPACKET
 *
 * One message: the description and every fd as SCM_RIGHTS. @h keeps its
 * fds (the kernel passes copies); free it afterwards.
 *
 * Return: 0; -EINVAL (nothing to send); -EIO (cut short: not a
 * SOCK_SEQPACKET socket); -ENOSPC; socket errors (-ENOTSOCK, -EPIPE...).
 */
int assign_handoff_send(struct assign_handoff *h, int sock);

/**
 * assign_handoff_recv() - receive a handoff from a unix socket
 * @ctx: the library context
 * @sock: a connected unix socket
 * @ret: where to store the handoff
 *
 * Receives one message and checks it: the description, the number of fds
 * against it, and each fd against what it says it is (the kernel's word,
 * through fstat() and /sys/dev/char, when sysfs is there). On failure
 * every fd that came is closed.
 *
 * Return: 0; -ECONNRESET (the helper closed without sending: it refused);
 * -EPROTO (no fds, too many fds or bytes, a message that is not a
 * handoff, fds that are not what it says: the message says which);
 * -EBADF, -ENOTSOCK and other socket errors; -ENOMEM.
 */
int assign_handoff_recv(struct assign_ctx *ctx, int sock,
			struct assign_handoff **ret);

/**
 * assign_handoff_free() - close what is left and free
 * @h: the handoff, or NULL
 *
 * Return: NULL.
 */
struct assign_handoff *assign_handoff_free(struct assign_handoff *h);

/**
 * assign_handoff_get_backend() - the backend of a handoff
 * @h: the handoff
 *
 * Return: %ASSIGN_IOMMU_TYPE1 or %ASSIGN_IOMMU_IOMMUFD.
 */
enum assign_iommu_backend
assign_handoff_get_backend(const struct assign_handoff *h);

/**
 * assign_handoff_get_count() - how many devices a handoff holds
 * @h: the handoff
 *
 * Return: the number of devices.
 */
size_t assign_handoff_get_count(const struct assign_handoff *h);

/**
 * assign_handoff_get_device() - the name of a device of a handoff
 * @h: the handoff
 * @i: index, below assign_handoff_get_count()
 *
 * Return: the name (a PCI address, a UUID, a platform device's name), as
 * long as @h lives; NULL past the end.
 */
const char *assign_handoff_get_device(const struct assign_handoff *h, size_t i);

/**
 * assign_iommu_new_from_handoff() - make an IOMMU object of a handoff
 * @ctx: the library context
 * @h: a received handoff
 * @ret: where to store the new object, with one reference
 *
 * Takes every fd of @h: the container or iommufd becomes the object's
 * (as assign_iommu_new_from_fd() makes it; iommufd: a new IOAS), the
 * groups and cdevs wait in it until assign_device_open() opens their
 * devices by name, with no sysfs lookup and no /dev access. What no device
 * takes is closed with the object. @h keeps the names and is freed by the
 * caller.
 *
 * Return: 0; -EINVAL (@h was taken already); the errors of
 * assign_iommu_new_from_fd(), with @h untouched.
 */
int assign_iommu_new_from_handoff(struct assign_ctx *ctx,
				  struct assign_handoff *h,
				  struct assign_iommu **ret);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_HANDOFF_H */
