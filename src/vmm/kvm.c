// SPDX-License-Identifier: MIT
/*
 * KVM glue (include/libassign/kvm.h, docs/vpci.md): the object and the
 * KVM-VFIO device. The GSI routing table, irqfds and the vectors followed
 * for vpci are in kvm_irq.c. Every ioctl goes through the kernel seam, so
 * the unit tests can play KVM.
 *
 * Uses the build host's <linux/kvm.h> (stable for what is used here:
 * KVM_CREATE_DEVICE, KVM_SET_DEVICE_ATTR), with the KVM-VFIO "file" names
 * of newer kernels defined from the group ones they alias.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "core/sys.h"
#include "vmm/vmm.h"
#include <libassign/kvm.h>

#ifndef KVM_DEV_VFIO_FILE
#define KVM_DEV_VFIO_FILE KVM_DEV_VFIO_GROUP
#define KVM_DEV_VFIO_FILE_ADD KVM_DEV_VFIO_GROUP_ADD
#define KVM_DEV_VFIO_FILE_DEL KVM_DEV_VFIO_GROUP_DEL
#endif

static size_t cap_for(size_t n)
{
	size_t cap = 4;
	while (cap < n)
		cap *= 2;
	return cap;
}

/* Make room in *arrp (n elements of size sz) for one more. */
int kvm_grow(void *arrp, size_t n, size_t sz)
{
	void **arr = arrp;
	void *p;

	if (*arr && cap_for(n) >= n + 1)
		return 0;
	p = realloc(*arr, cap_for(n + 1) * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

ASSIGN_EXPORT int assign_kvm_new(struct assign_ctx *ctx, int vm_fd,
				 const struct assign_kvm_opts *opts,
				 struct assign_kvm **ret)
{
	struct assign_kvm_opts o;
	struct assign_kvm *k;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	if (vm_fd < 0)
		return set_error(ctx, -EINVAL, "assign_kvm_new: vm_fd %d is not an fd",
				 vm_fd);
	r = SIZED_IN(ctx, &o, opts, "assign_kvm_opts");
	if (r < 0)
		return r;
	if (o.flags)
		return set_error(ctx, -EINVAL,
				 "assign_kvm_opts.flags 0x%x has unknown bits; pass 0",
				 o.flags);
	if (!o.gsi_base)
		o.gsi_base = 24;
	if (!o.gsi_limit)
		o.gsi_limit = 1024;
	if (o.gsi_limit <= o.gsi_base)
		return set_error(ctx, -EINVAL,
				 "assign_kvm_opts: empty GSI range [%u, %u)",
				 o.gsi_base, o.gsi_limit);
	if (o.gsi_limit > GSI_ROUTES_MAX)
		return set_error(
			ctx, -EINVAL,
			"assign_kvm_opts.gsi_limit %u is above KVM's %u GSIs",
			o.gsi_limit, GSI_ROUTES_MAX);
	k = calloc(1, sizeof(*k));
	if (k)
		k->gsi_map = calloc((o.gsi_limit - o.gsi_base + 63) / 64,
				    sizeof(*k->gsi_map));
	if (!k || !k->gsi_map) {
		free(k);
		return set_error(ctx, -ENOMEM, "out of memory");
	}
	k->refcount = 1;
	pthread_mutex_init(&k->lock, NULL);
	k->ctx = assign_ctx_ref(ctx);
	k->vm_fd = vm_fd;
	k->vfio_fd = -1;
	k->gsi_base = o.gsi_base;
	k->gsi_limit = o.gsi_limit;
	*ret = k;
	return 0;
}

ASSIGN_EXPORT struct assign_kvm *assign_kvm_ref(struct assign_kvm *kvm)
{
	if (kvm)
		__atomic_add_fetch(&kvm->refcount, 1, __ATOMIC_RELAXED);
	return kvm;
}

static int vfio_file(struct assign_kvm *k, int fd, bool add)
{
	int32_t f = fd;
	struct kvm_device_attr a = {
		.group = KVM_DEV_VFIO_FILE,
		.attr = add ? KVM_DEV_VFIO_FILE_ADD : KVM_DEV_VFIO_FILE_DEL,
		.addr = (uint64_t)(uintptr_t)&f,
	};
	return sys_ioctl(k->ctx, k->vfio_fd, KVM_SET_DEVICE_ATTR, &a);
}

ASSIGN_EXPORT struct assign_kvm *assign_kvm_unref(struct assign_kvm *kvm)
{
	if (!kvm || __atomic_sub_fetch(&kvm->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	kvm_irq_release(kvm);
	for (size_t i = 0; i < kvm->nfiles; i++) {
		bool last = true;
		for (size_t j = i + 1; j < kvm->nfiles; j++)
			if (kvm->files[j].fd == kvm->files[i].fd)
				last = false;
		if (last && kvm->vfio_fd >= 0)
			vfio_file(kvm, kvm->files[i].fd, false);
		assign_device_unref(kvm->files[i].dev);
	}
	if (kvm->vfio_fd >= 0)
		sys_close(kvm->ctx, kvm->vfio_fd);
	free(kvm->gsi_map);
	free(kvm->files);
	assign_ctx_unref(kvm->ctx);
	pthread_mutex_destroy(&kvm->lock);
	free(kvm);
	return NULL;
}

/* ---- KVM-VFIO device ------------------------------------------------ */

static int device_file(struct assign_kvm *k, struct assign_device *dev)
{
	struct assign_group *g = NULL;
	int gid = assign_device_get_group_id(dev), fd;

	/* iommufd has no groups: a miss is an answer, not a failure. */
	if (gid >= 0 &&
	    (g = iommu_find_group(assign_device_get_iommu(dev), gid))) {
		fd = assign_group_get_fd(g);
		assign_group_unref(g);  /* the device holds its group */
		if (fd >= 0)
			return fd;
	}
	(void)k;
	return assign_device_get_fd(dev);   /* iommufd: the vfio cdev */
}

static int kvm_add_device(struct assign_kvm *kvm,
					struct assign_device *dev)
{
	bool known = false;
	int fd, r;

	if (!kvm || !dev)
		return -EINVAL;
	for (size_t i = 0; i < kvm->nfiles; i++)
		if (kvm->files[i].dev == dev)
			return set_error(
				kvm->ctx, -EEXIST,
				"%s is already added to the KVM-VFIO device",
				assign_device_get_name(dev));
	fd = device_file(kvm, dev);
	if (fd < 0)
		return set_error(kvm->ctx, -EINVAL, "%s has no VFIO fd",
				 assign_device_get_name(dev));
	if (kvm->vfio_fd < 0) {
		struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
		r = sys_ioctl(kvm->ctx, kvm->vm_fd, KVM_CREATE_DEVICE, &cd);
		if (r < 0)
			return set_error(kvm->ctx, r == -ENODEV ? -ENODEV : r,
					 "cannot create the KVM-VFIO device: %s (is the kvm module built with VFIO support?)",
					 strerror(-r));
		kvm->vfio_fd = (int)cd.fd;
	}
	for (size_t i = 0; i < kvm->nfiles; i++)
		if (kvm->files[i].fd == fd)
			known = true;
	if (kvm_grow(&kvm->files, kvm->nfiles, sizeof(*kvm->files)) < 0)
		return set_error(kvm->ctx, -ENOMEM, "out of memory");
	if (!known) {
		r = vfio_file(kvm, fd, true);
		if (r < 0)
			return set_error(
				kvm->ctx, r,
				"adding %s to the KVM-VFIO device failed: %s",
				assign_device_get_name(dev), strerror(-r));
	}
	kvm->files[kvm->nfiles].dev = assign_device_ref(dev);
	kvm->files[kvm->nfiles].fd = fd;
	kvm->nfiles++;
	return 0;
}

static int kvm_remove_device(struct assign_kvm *kvm,
					   struct assign_device *dev)
{
	size_t i;
	bool shared = false;
	int r = 0;

	if (!kvm || !dev)
		return -EINVAL;
	for (i = 0; i < kvm->nfiles && kvm->files[i].dev != dev; i++)
		;
	if (i == kvm->nfiles)
		return set_error(kvm->ctx, -ENOENT,
				 "%s was not added to the KVM-VFIO device",
				 assign_device_get_name(dev));
	for (size_t j = 0; j < kvm->nfiles; j++)
		if (j != i && kvm->files[j].fd == kvm->files[i].fd)
			shared = true;
	if (!shared) {
		r = vfio_file(kvm, kvm->files[i].fd, false);
		if (r < 0)
			return set_error(
				kvm->ctx, r,
				"removing %s from the KVM-VFIO device failed: %s",
				assign_device_get_name(dev), strerror(-r));
	}
	assign_device_unref(kvm->files[i].dev);
	kvm->files[i] = kvm->files[--kvm->nfiles];
	return 0;
}

/* ---- exported, locked ------------------------------------------------ */

ASSIGN_EXPORT int assign_kvm_add_device(struct assign_kvm *kvm,
                                        struct assign_device *dev)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = kvm_add_device(kvm, dev);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}

ASSIGN_EXPORT int assign_kvm_remove_device(struct assign_kvm *kvm,
                                           struct assign_device *dev)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = kvm_remove_device(kvm, dev);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}
