// SPDX-License-Identifier: MIT
/* The hostile fuzz "kernel" behind the syscall seam: see fuzz-kernel.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/kvm.h>
#include <linux/vfio.h>

#include "fuzz-kernel.h"
#include "fuzz.h"

enum {
	FD_FREE,
	FD_CONTAINER,
	FD_GROUP,
	FD_DEVICE,
	FD_IOMMUFD,
	FD_FILE,
	FD_KVM_VM,
	FD_KVM_VFIO,
};
#define FD_BASE 1000

static const int fk_errnos[8] = { EINVAL, ENOTTY, ENOSPC, EIO,
				  EPERM,  EBUSY,  ENOMEM, EFAULT };

/* Address-space reservations made through the seam. */
#define FK_MAX_MAPS 64
static struct {
	void *addr;
	size_t len;
} fk_maps[FK_MAX_MAPS];

void fk_init(struct fuzz_kernel *k, const uint8_t *data, size_t size)
{
	struct fuzz_in in;

	memset(k, 0, sizeof(*k));
	/* KVM's default routing table: the irqchips' GSIs 0-23 */
	k->kvm_routed[0] = k->kvm_routed[1] = k->kvm_routed[2] = 0xff;
	fuzz_in_init(&in, data, size);
	while (in.left >= 5 && k->nrec < FK_MAX_RECORDS) {
		struct fk_record *r = &k->rec[k->nrec++];
		size_t len;

		r->kind = fuzz_u8(&in);
		r->index = fuzz_u8(&in);
		r->ctl = fuzz_u8(&in);
		len = fuzz_u16(&in);
		if (len > in.left)
			len = in.left;
		r->data = in.p;
		r->len = len;
		in.p += len;
		in.left -= len;
	}
	for (size_t i = 0; i < k->nrec; i++) {
		const struct fk_record *r = &k->rec[i];

		if (r->kind == FK_SETUP && r->len)
			k->iommufd = r->data[0] & 1;
		/* FUZZ_NO_IOMMUFD=1: explore type1 only, e.g. while a known
		 * iommufd crash is not fixed yet (scripts/fuzz.sh never sets
		 * it). */
		if (getenv("FUZZ_NO_IOMMUFD"))
			k->iommufd = 0;
		k->avoid_known = getenv("FUZZ_AVOID_KNOWN") != NULL;
		if (r->kind == FK_RESV_TEXT && !k->resv_text) {
			k->resv_text = malloc(r->len + 1);
			if (!k->resv_text)
				abort();
			memcpy(k->resv_text, r->data, r->len);
			k->resv_text[r->len] = '\0';
		}
		if (r->kind == FK_CONFIG && !k->mem) {
			k->mem = r->data;
			k->memlen = r->len;
		}
	}
}

void fk_fini(struct fuzz_kernel *k)
{
	free(k->resv_text);
	k->resv_text = NULL;
	for (size_t i = 0; i < FK_MAX_MAPS; i++) {
		if (fk_maps[i].addr) {
			munmap(fk_maps[i].addr, fk_maps[i].len);
			fk_maps[i].addr = NULL;
		}
	}
}

const struct fk_record *fk_nth(const struct fuzz_kernel *k, int kind, size_t i)
{
	for (size_t j = 0; j < k->nrec; j++)
		if (k->rec[j].kind == kind && i-- == 0)
			return &k->rec[j];
	return NULL;
}

const struct fk_record *fk_next(struct fuzz_kernel *k, int kind, int index)
{
	const struct fk_record *last = NULL;
	unsigned want = k->calls[kind][index & 0xff]++, seen = 0;

	for (size_t j = 0; j < k->nrec; j++) {
		const struct fk_record *r = &k->rec[j];

		if (r->kind != kind || r->index != (uint8_t)index)
			continue;
		if (seen++ == want)
			return r;
		last = r;
	}
	return last;
}

static int fk_err(uint8_t ctl)
{
	return -fk_errnos[ctl & 7];
}

/* Answer an argsz-sized info ioctl from a record: never past argsz. */
static int fk_answer(struct fuzz_kernel *k, int kind, int index, void *arg,
		     size_t minsz)
{
	const struct fk_record *r = fk_next(k, kind, index);
	uint32_t argsz;

	memcpy(&argsz, arg, sizeof(argsz));
	/* The kernel rejects argsz below the fixed part of the struct. */
	if (argsz < minsz)
		return -EINVAL;
	if (!r)
		return -ENOTTY;
	memcpy(arg, r->data, MIN(r->len, (size_t)argsz));
	return (r->ctl & 0x80) ? fk_err(r->ctl) : 0;
}

static int fk_other(struct fuzz_kernel *k)
{
	const struct fk_record *r = fk_nth(k, FK_OTHER, k->other_calls++);

	return r && (r->ctl & 0x80) ? fk_err(r->ctl) : 0;
}

static void fk_dma_drop(struct fuzz_kernel *k)
{
	k->ndma = 0;
	k->dma_bytes = 0;
}

static int fk_newfd(struct fuzz_kernel *k, int kind, const char *content)
{
	for (int i = 0; i < FK_MAX_FDS; i++) {
		if (k->fds[i].kind == FD_FREE) {
			k->fds[i].kind = kind;
			k->fds[i].content = content;
			k->fds[i].len = content ? strlen(content) : 0;
			k->open_fds++;
			return FD_BASE + i;
		}
	}
	return -EMFILE;
}

static struct fk_file *fk_fd(struct fuzz_kernel *k, int fd)
{
	if (fd < FD_BASE || fd >= FD_BASE + FK_MAX_FDS ||
	    k->fds[fd - FD_BASE].kind == FD_FREE)
		return NULL;
	return &k->fds[fd - FD_BASE];
}

static int fk_open(void *data, const char *path, int flags)
{
	struct fuzz_kernel *k = data;
	char group[32];

	snprintf(group, sizeof(group), "/dev/vfio/%d", FK_GROUP);
	if (strcmp(path, "/dev/vfio/vfio") == 0)
		return fk_newfd(k, FD_CONTAINER, NULL);
	if (strcmp(path, group) == 0)
		return fk_newfd(k, FD_GROUP, NULL);
	if (strcmp(path, "/dev/iommu") == 0)
		return k->iommufd ? fk_newfd(k, FD_IOMMUFD, NULL) : -ENOENT;
	if (strcmp(path, "/dev/vfio/devices/vfio0") == 0)
		return fk_newfd(k, FD_DEVICE, NULL);
	return -ENOENT;
}

/* The device's directory, and the bus link the library follows to it. */
#define DEVPATH "devices/pci0000:00/" FK_ADDR
#define BUSLINK "bus/pci/devices/" FK_ADDR
#define GRPPATH "kernel/iommu_groups/7"

static int fk_openat(void *data, int dirfd, const char *path, int flags)
{
	struct fuzz_kernel *k = data;

	if (strcmp(path, GRPPATH "/reserved_regions") == 0)
		return k->resv_text ? fk_newfd(k, FD_FILE, k->resv_text)
				    : -ENOENT;
	if (strstr(path, "allow_unsafe_interrupts"))
		return fk_newfd(k, FD_FILE, "N\n");
	return -ENOENT;
}

static int fk_close(void *data, int fd)
{
	struct fuzz_kernel *k = data;
	struct fk_file *f = fk_fd(k, fd);

	/* Closing an fd that is not open is a library bug (double close). */
	FUZZ_CHECK(f != NULL);
	/* KVM's VFIO device holds the files added to it: the library
	 * removes them before it closes them */
	for (size_t i = 0; i < k->kvm_nfiles; i++)
		FUZZ_CHECK(k->kvm_files[i] != fd);
	/* As in the kernel: the container's (or IOAS's) mappings go with its
	 * last reference, and closing the only group detaches it. */
	if (f->kind == FD_CONTAINER || f->kind == FD_IOMMUFD ||
	    f->kind == FD_GROUP)
		fk_dma_drop(k);
	f->kind = FD_FREE;
	k->open_fds--;
	return 0;
}

static int fk_dma_map(struct fuzz_kernel *k, uint64_t vaddr, uint64_t iova,
		      uint64_t size)
{
	int r = fk_other(k);

	if (r < 0)
		return r;
	if (!size || iova + size - 1 < iova)
		return -EINVAL;
	for (size_t i = 0; i < k->ndma; i++)
		if (iova <= k->dma[i].iova + k->dma[i].size - 1 &&
		    k->dma[i].iova <= iova + size - 1)
			return -EEXIST;
	if (k->ndma == FK_MAX_DMA)
		return -ENOSPC;
	k->dma[k->ndma++] = (struct fk_dma){ iova, size, vaddr };
	k->dma_bytes += size;
	return 0;
}

/* Unmap every mapping inside [iova, iova + size); *done: bytes unmapped. */
static int fk_dma_unmap(struct fuzz_kernel *k, uint64_t iova, uint64_t size,
			uint64_t *done)
{
	uint64_t last = iova + size - 1;
	int r = fk_other(k);

	*done = 0;
	if (r < 0)
		return r;
	if (!size || last < iova)
		return -EINVAL;
	for (size_t i = 0; i < k->ndma; i++) {
		uint64_t s = k->dma[i].iova, e = s + k->dma[i].size - 1;

		/* v2: a range that cuts a mapping is refused */
		if (s <= last && iova <= e && (s < iova || e > last))
			return -EINVAL;
	}
	for (size_t i = 0; i < k->ndma;) {
		if (k->dma[i].iova >= iova && k->dma[i].iova <= last) {
			*done += k->dma[i].size;
			k->dma_bytes -= k->dma[i].size;
			k->dma[i] = k->dma[--k->ndma];
		} else {
			i++;
		}
	}
	return 0;
}

static int fk_iova_ranges(struct fuzz_kernel *k, struct iommu_ioas_iova_ranges *q)
{
	const struct fk_record *r = fk_next(k, FK_IOVA_RANGES, 0);
	struct fuzz_in in;
	uint32_t n, room = q->num_iovas;
	struct iommu_iova_range *out =
		(struct iommu_iova_range *)(uintptr_t)q->allowed_iovas;

	if (q->size < sizeof(*q))
		return -EINVAL;
	if (!r)
		return -ENOTTY;
	fuzz_in_init(&in, r->data, r->len);
	n = fuzz_u32(&in);
	q->out_iova_alignment = fuzz_u64(&in);
	/* FUZZ_AVOID_KNOWN=1: stay clear of the open iommufd findings
	 * (inverted ranges, huge counts) to explore the rest of the
	 * backend; scripts/fuzz.sh never sets it. */
	if (k->avoid_known && n > 64)
		n = 64;
	for (uint32_t i = 0; i < n && i < room && in.left; i++) {
		out[i].start = fuzz_u64(&in);
		out[i].last = fuzz_u64(&in);
		if (k->avoid_known && out[i].last < out[i].start)
			out[i].last = out[i].start;
	}
	q->num_iovas = n;
	if (r->ctl & 0x80)
		return fk_err(r->ctl);
	if (n > room && !(r->ctl & 0x40))
		return -EMSGSIZE;
	return 0;
}

/* ---- KVM, for fuzz-vmm -------------------------------------------------- */

static int fk_kvm_result(struct fuzz_kernel *k)
{
	const struct fk_record *r = fk_nth(k, FK_KVM, k->kvm_calls++);

	return r && (r->ctl & 0x80) ? fk_err(r->ctl) : 0;
}

static bool fk_gsi_routed(const struct fuzz_kernel *k, uint32_t gsi)
{
	return gsi < FK_KVM_GSIS &&
	       (k->kvm_routed[gsi / 8] & (1u << (gsi % 8)));
}

/* Every table the library sends must be one KVM takes (virt/kvm/
 * irqchip.c, arch/x86/kvm/irq_comm.c): flags 0, GSIs below 4096, known
 * chips and pins, an MSI GSI alone, one route per chip per GSI. */
static int fk_set_routing(struct fuzz_kernel *k,
			  const struct kvm_irq_routing *t)
{
	static uint8_t msi[FK_KVM_GSIS / 8], chips[FK_KVM_GSIS];
	static const uint32_t pins[3] = { 8, 8, 24 };
	int r;

	FUZZ_CHECK(t->nr <= FK_KVM_GSIS && t->flags == 0);
	memset(msi, 0, sizeof(msi));
	memset(chips, 0, sizeof(chips));
	for (uint32_t i = 0; i < t->nr; i++) {
		const struct kvm_irq_routing_entry *e = &t->entries[i];

		FUZZ_CHECK(e->gsi < FK_KVM_GSIS && e->flags == 0);
		FUZZ_CHECK(!(msi[e->gsi / 8] & (1u << (e->gsi % 8))));
		if (e->type == KVM_IRQ_ROUTING_MSI) {
			FUZZ_CHECK(chips[e->gsi] == 0);
			msi[e->gsi / 8] |= 1u << (e->gsi % 8);
			continue;
		}
		FUZZ_CHECK(e->type == KVM_IRQ_ROUTING_IRQCHIP);
		FUZZ_CHECK(e->u.irqchip.irqchip < 3 &&
			   e->u.irqchip.pin < pins[e->u.irqchip.irqchip]);
		FUZZ_CHECK(!(chips[e->gsi] & (1u << e->u.irqchip.irqchip)));
		chips[e->gsi] |= 1u << e->u.irqchip.irqchip;
	}
	r = fk_kvm_result(k);
	if (r < 0)
		return r;
	memset(k->kvm_routed, 0, sizeof(k->kvm_routed));
	for (uint32_t i = 0; i < t->nr; i++)
		k->kvm_routed[t->entries[i].gsi / 8] |=
			1u << (t->entries[i].gsi % 8);
	k->kvm_pushes++;
	return 0;
}

static int fk_irqfd(struct fuzz_kernel *k, const struct kvm_irqfd *f)
{
	size_t i;
	int r;

	for (i = 0; i < k->kvm_nirqfds; i++)
		if (k->kvm_irqfd[i].efd == (int)f->fd)
			break;
	if (f->flags & KVM_IRQFD_FLAG_DEASSIGN) {
		/* only what was assigned, on the GSI it was assigned to */
		FUZZ_CHECK(i < k->kvm_nirqfds && k->kvm_irqfd[i].gsi == f->gsi);
		k->kvm_irqfd[i] = k->kvm_irqfd[--k->kvm_nirqfds];
		return 0;
	}
	FUZZ_CHECK((f->flags & ~KVM_IRQFD_FLAG_RESAMPLE) == 0);
	/* a GSI without a route drops the signal waiting in the eventfd */
	FUZZ_CHECK(fk_gsi_routed(k, f->gsi));
	if (i < k->kvm_nirqfds)
		return -EBUSY;
	r = fk_kvm_result(k);
	if (r < 0)
		return r;
	if (k->kvm_nirqfds == FK_MAX_IRQFDS)
		return -ENOSPC;
	k->kvm_irqfd[k->kvm_nirqfds].efd = (int)f->fd;
	k->kvm_irqfd[k->kvm_nirqfds].gsi = f->gsi;
	k->kvm_nirqfds++;
	return 0;
}

static int fk_kvm_vm_ioctl(struct fuzz_kernel *k, unsigned long req, void *arg)
{
	switch (req) {
	case KVM_CREATE_DEVICE: {
		struct kvm_create_device *cd = arg;
		int r, fd;

		if (cd->type != KVM_DEV_TYPE_VFIO)
			return -ENODEV;
		r = fk_kvm_result(k);
		if (r < 0)
			return r;
		fd = fk_newfd(k, FD_KVM_VFIO, NULL);
		if (fd < 0)
			return fd;
		cd->fd = (uint32_t)fd;
		return 0;
	}
	case KVM_SET_GSI_ROUTING:
		return fk_set_routing(k, arg);
	case KVM_IRQFD:
		return fk_irqfd(k, arg);
	default:
		return -ENOTTY;
	}
}

/* KVM_DEV_VFIO_GROUP_ADD/DEL (KVM_DEV_VFIO_FILE_* in newer headers) */
static int fk_kvm_vfio_ioctl(struct fuzz_kernel *k, unsigned long req,
			     const struct kvm_device_attr *a)
{
	struct fk_file *f;
	int32_t fd;
	size_t i;
	int r;

	if (req != KVM_SET_DEVICE_ATTR || a->group != KVM_DEV_VFIO_GROUP)
		return -ENXIO;
	memcpy(&fd, (const void *)(uintptr_t)a->addr, sizeof(fd));
	for (i = 0; i < k->kvm_nfiles && k->kvm_files[i] != fd; i++)
		;
	if (a->attr == KVM_DEV_VFIO_GROUP_DEL) {
		FUZZ_CHECK(i < k->kvm_nfiles);
		k->kvm_files[i] = k->kvm_files[--k->kvm_nfiles];
		return 0;
	}
	FUZZ_CHECK(a->attr == KVM_DEV_VFIO_GROUP_ADD);
	f = fk_fd(k, fd);
	FUZZ_CHECK(f && (f->kind == FD_GROUP || f->kind == FD_DEVICE));
	if (i < k->kvm_nfiles)
		return -EEXIST;
	FUZZ_CHECK(k->kvm_nfiles < FK_MAX_FDS);
	r = fk_kvm_result(k);
	if (r < 0)
		return r;
	k->kvm_files[k->kvm_nfiles++] = fd;
	return 0;
}

int fk_vm_fd(struct fuzz_kernel *k)
{
	return fk_newfd(k, FD_KVM_VM, NULL);
}

static int fk_ioctl(void *data, int fd, unsigned long req, void *arg)
{
	struct fuzz_kernel *k = data;
	struct fk_file *f = fk_fd(k, fd);

	FUZZ_CHECK(f != NULL); /* ioctl on an fd the library does not own */
	switch (f->kind) {
	case FD_CONTAINER:
		switch (req) {
		case VFIO_GET_API_VERSION:
			return VFIO_API_VERSION;
		case VFIO_CHECK_EXTENSION:
			return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU ||
			       (uintptr_t)arg == VFIO_TYPE1_IOMMU;
		case VFIO_SET_IOMMU:
			return 0;
		case VFIO_IOMMU_GET_INFO:
			return fk_answer(k, FK_IOMMU_INFO, 0, arg,
					 offsetof(struct vfio_iommu_type1_info,
						  iova_pgsizes) + 8);
		case VFIO_IOMMU_MAP_DMA: {
			struct vfio_iommu_type1_dma_map *m = arg;

			return fk_dma_map(k, m->vaddr, m->iova, m->size);
		}
		case VFIO_IOMMU_UNMAP_DMA: {
			struct vfio_iommu_type1_dma_unmap *u = arg;
			uint64_t done;
			int r = fk_dma_unmap(k, u->iova, u->size, &done);

			u->size = done;
			return r;
		}
		default:
			return fk_other(k);
		}
	case FD_GROUP:
		switch (req) {
		case VFIO_GROUP_GET_STATUS: {
			struct vfio_group_status *st = arg;

			st->flags = VFIO_GROUP_FLAGS_VIABLE;
			return 0;
		}
		case VFIO_GROUP_SET_CONTAINER:
			return 0;
		case VFIO_GROUP_UNSET_CONTAINER:
			/* the only group: the container loses its IOMMU */
			fk_dma_drop(k);
			return 0;
		case VFIO_GROUP_GET_DEVICE_FD:
			if (strcmp(arg, FK_ADDR) != 0)
				return -ENODEV;
			return fk_newfd(k, FD_DEVICE, NULL);
		default:
			return -ENOTTY;
		}
	case FD_IOMMUFD:
		switch (req) {
		case IOMMU_IOAS_ALLOC:
			((struct iommu_ioas_alloc *)arg)->out_ioas_id = 1;
			return 0;
		case IOMMU_IOAS_IOVA_RANGES:
			return fk_iova_ranges(k, arg);
		case IOMMU_IOAS_MAP: {
			struct iommu_ioas_map *m = arg;

			return fk_dma_map(k, m->user_va, m->iova, m->length);
		}
		case IOMMU_IOAS_UNMAP: {
			struct iommu_ioas_unmap *u = arg;
			uint64_t done;
			int r = fk_dma_unmap(k, u->iova, u->length, &done);

			u->length = done;
			return r;
		}
		default:
			return fk_other(k);
		}
	case FD_DEVICE:
		switch (req) {
		case VFIO_DEVICE_GET_INFO:
			return fk_answer(k, FK_DEV_INFO, 0, arg,
					 offsetof(struct vfio_device_info,
						  cap_offset));
		case VFIO_DEVICE_GET_REGION_INFO:
			return fk_answer(k, FK_REGION_INFO,
					 (int)((struct vfio_region_info *)arg)->index,
					 arg, offsetof(struct vfio_region_info,
						       offset) + 8);
		case VFIO_DEVICE_GET_IRQ_INFO:
			return fk_answer(k, FK_IRQ_INFO,
					 (int)((struct vfio_irq_info *)arg)->index,
					 arg, sizeof(struct vfio_irq_info));
		case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
			return fk_answer(k, FK_HOT_RESET, 0, arg,
					 sizeof(struct vfio_pci_hot_reset_info));
		case VFIO_DEVICE_BIND_IOMMUFD:
			((struct vfio_device_bind_iommufd *)arg)->out_devid = 1;
			return 0;
		case VFIO_DEVICE_ATTACH_IOMMUFD_PT:
			return 0;
		default:
			return fk_other(k);
		}
	case FD_KVM_VM:
		return fk_kvm_vm_ioctl(k, req, arg);
	case FD_KVM_VFIO:
		return fk_kvm_vfio_ioctl(k, req, arg);
	default:
		return -ENOTTY;
	}
}

static ssize_t fk_rw(struct fuzz_kernel *k, struct fk_file *f, void *rbuf,
		     size_t count, uint64_t offset)
{
	const struct fk_record *r;
	size_t n = count;

	if (f->kind == FD_FILE) {
		if (!rbuf)
			return -EBADF;
		if (offset >= f->len)
			return 0;
		n = MIN(count, f->len - (size_t)offset);
		memcpy(rbuf, f->content + offset, n);
		return (ssize_t)n;
	}
	if (f->kind != FD_DEVICE)
		return -EINVAL;
	if (k->rw_hook)
		k->rw_hook(k->rw_hook_arg, rbuf == NULL, offset, count);
	r = fk_nth(k, FK_RW, k->rw_calls++);
	if (r) {
		switch (r->ctl & 3) {
		case 1:
			n = r->len ? MIN(count, (size_t)r->data[0]) : 0;
			break;
		case 2:
			return fk_err(r->ctl);
		case 3:
			/* Claims more than asked; writes only what fits. */
			if (rbuf)
				memset(rbuf, 0xff, count);
			return (ssize_t)count + 1;
		}
	}
	if (rbuf) {
		uint8_t *b = rbuf;

		for (size_t i = 0; i < n; i++)
			b[i] = k->memlen ? k->mem[(offset + i) % k->memlen]
					 : 0xff;
	}
	return (ssize_t)n;
}

static ssize_t fk_pread(void *data, int fd, void *buf, size_t count,
			uint64_t offset)
{
	struct fuzz_kernel *k = data;
	struct fk_file *f = fk_fd(k, fd);

	FUZZ_CHECK(f != NULL);
	return fk_rw(k, f, buf, count, offset);
}

static ssize_t fk_pwrite(void *data, int fd, const void *buf, size_t count,
			 uint64_t offset)
{
	struct fuzz_kernel *k = data;
	struct fk_file *f = fk_fd(k, fd);
	volatile uint8_t sink = 0;

	FUZZ_CHECK(f != NULL);
	/* Read the whole source buffer: ASan checks the library's length. */
	for (size_t i = 0; i < count; i++)
		sink ^= ((const uint8_t *)buf)[i];
	(void)sink;
	if (f->kind == FD_FILE)
		return (ssize_t)count;
	return fk_rw(k, f, NULL, count, offset);
}

/* The lying kernel hands out no stream fds (no migration data fds): a
 * read() or write() is made on one of its fds, and is refused. */
static ssize_t fk_read(void *data, int fd, void *buf, size_t count)
{
	struct fuzz_kernel *k = data;

	FUZZ_CHECK(fk_fd(k, fd) != NULL);
	(void)buf;
	(void)count;
	return -EINVAL;
}

static ssize_t fk_write(void *data, int fd, const void *buf, size_t count)
{
	struct fuzz_kernel *k = data;

	FUZZ_CHECK(fk_fd(k, fd) != NULL);
	(void)buf;
	(void)count;
	return -EINVAL;
}

#define FK_MAP_LIMIT (64u << 20)

bool fk_mapped(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (size_t i = 0; i < FK_MAX_MAPS; i++) {
		uintptr_t b = (uintptr_t)fk_maps[i].addr;

		if (b && a >= b && len <= fk_maps[i].len &&
		    a - b <= fk_maps[i].len - len)
			return true;
	}
	return false;
}

/* Add an interval to the table of what the library has mapped. */
static int fk_track(struct fuzz_kernel *k, void *addr, size_t len)
{
	for (size_t i = 0; i < FK_MAX_MAPS; i++) {
		if (fk_maps[i].addr)
			continue;
		fk_maps[i].addr = addr;
		fk_maps[i].len = len;
		k->live_maps++;
		return 0;
	}
	return -ENOMEM;
}

static int fk_mmap(void *data, void *addr, size_t length, int prot, int flags,
		   int fd, uint64_t offset, void **ret)
{
	struct fuzz_kernel *k = data;
	void *p;

	if (!length || length > FK_MAP_LIMIT)
		return -ENOMEM;
	if (flags & MAP_FIXED) {
		bool inside = false;

		/* A fixed mapping must land inside the library's own
		 * reservation, or it would clobber someone else's memory. */
		for (size_t i = 0; i < FK_MAX_MAPS; i++) {
			uint8_t *b = fk_maps[i].addr;

			if (b && (uint8_t *)addr >= b &&
			    length <= fk_maps[i].len &&
			    (size_t)((uint8_t *)addr - b) <=
				    fk_maps[i].len - length)
				inside = true;
		}
		FUZZ_CHECK(inside);
		FUZZ_CHECK(fd == -1 || fk_fd(k, fd) != NULL);
		p = mmap(addr, length, prot,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
		*ret = p;
		return 0;
	}
	p = mmap(addr, length, prot,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (fk_track(k, p, length) < 0) {
		munmap(p, length);
		return -ENOMEM;
	}
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "fuzz kernel: reserve %p+%#zx\n", p, length);
	*ret = p;
	return 0;
}

static int fk_munmap(void *data, void *addr, size_t length)
{
	struct fuzz_kernel *k = data;
	uintptr_t a = (uintptr_t)addr, e = a + length;
	size_t covered = 0;

	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "fuzz kernel: munmap %p+%#zx\n", addr, length);
	FUZZ_CHECK(length && e > a);
	/* Cut [a, e) out of every interval it touches, keeping the rest. */
	for (size_t i = 0; i < FK_MAX_MAPS; i++) {
		uintptr_t b = (uintptr_t)fk_maps[i].addr;
		uintptr_t be = b + fk_maps[i].len;

		if (!b || be <= a || b >= e)
			continue;
		covered += MIN(be, e) - MAX(b, a);
		fk_maps[i].addr = NULL;
		k->live_maps--;
		if (b < a)
			FUZZ_CHECK(fk_track(k, (void *)b, a - b) == 0);
		if (be > e)
			FUZZ_CHECK(fk_track(k, (void *)e, be - e) == 0);
	}
	/* Unmapping memory the library never mapped through the seam. */
	FUZZ_CHECK(covered == length);
	munmap(addr, length);
	return 0;
}

static int fk_madvise(void *data, void *addr, size_t length, int advice)
{
	return 0;
}

static ssize_t fk_readlinkat(void *data, int dirfd, const char *path,
			     char *buf, size_t size)
{
	const char *target = NULL;
	size_t n;

	static const char *const dirs[] = { "bus",
					    "bus/pci",
					    "bus/pci/devices",
					    "devices",
					    "devices/pci0000:00",
					    DEVPATH };

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if (strcmp(path, dirs[i]) == 0)
			return -EINVAL; /* a directory, not a link */
	if (strcmp(path, BUSLINK) == 0)
		target = "../../../" DEVPATH;
	else if (strcmp(path, DEVPATH "/driver") == 0 ||
		 strcmp(path, GRPPATH "/devices/" FK_ADDR "/driver") == 0)
		target = "../../../bus/pci/drivers/vfio-pci";
	else if (strcmp(path, DEVPATH "/iommu_group") == 0)
		target = "../../../kernel/iommu_groups/7";
	else if (strcmp(path, DEVPATH "/subsystem") == 0)
		target = "../../../bus/pci";
	if (!target)
		return -ENOENT;
	n = MIN(strlen(target), size);
	memcpy(buf, target, n);
	return (ssize_t)n;
}

static int fk_faccessat(void *data, int dirfd, const char *path, int mode)
{
	if (strcmp(path, DEVPATH) == 0 || strcmp(path, BUSLINK) == 0 ||
	    strcmp(path, GRPPATH) == 0)
		return 0;
	return -ENOENT;
}

static int fk_list_dir(void *data, int dirfd, const char *path, char ***names,
		       size_t *n)
{
	const char *one;
	char **v;

	if (strcmp(path, GRPPATH "/devices") == 0)
		one = FK_ADDR;
	else if (strcmp(path, DEVPATH "/vfio-dev") == 0)
		one = "vfio0";
	else
		return -ENOENT;
	v = calloc(1, sizeof(*v));
	if (!v || !(v[0] = strdup(one)))
		abort();
	*names = v;
	*n = 1;
	return 0;
}

static int fk_getrlimit(void *data, int resource, struct rlimit *rlim)
{
	rlim->rlim_cur = rlim->rlim_max = RLIM_INFINITY;
	return 0;
}

/* Descriptors handed in and sockets are not what this kernel fuzzes. */
static int fk_fstat(void *data, int fd, struct stat *st)
{
	(void)data;
	(void)fd;
	(void)st;
	return -EBADF;
}

static ssize_t fk_sendmsg(void *data, int sock, const void *buf, size_t len,
			  const int *fds, size_t nfds)
{
	(void)data;
	(void)sock;
	(void)buf;
	(void)len;
	(void)fds;
	(void)nfds;
	return -ENOTSOCK;
}

static ssize_t fk_recvmsg(void *data, int sock, void *buf, size_t len, int *fds,
			  size_t maxfds, size_t *nfds)
{
	(void)data;
	(void)sock;
	(void)buf;
	(void)len;
	(void)fds;
	(void)maxfds;
	(void)nfds;
	return -ENOTSOCK;
}

const struct assign_sys_ops fk_ops = {
	.open = fk_open,
	.openat = fk_openat,
	.close = fk_close,
	.ioctl = fk_ioctl,
	.pread = fk_pread,
	.pwrite = fk_pwrite,
	.read = fk_read,
	.write = fk_write,
	.mmap = fk_mmap,
	.munmap = fk_munmap,
	.madvise = fk_madvise,
	.readlinkat = fk_readlinkat,
	.faccessat = fk_faccessat,
	.list_dir = fk_list_dir,
	.getrlimit = fk_getrlimit,
	.fstat = fk_fstat,
	.sendmsg = fk_sendmsg,
	.recvmsg = fk_recvmsg,
};

int fk_open_iommu(struct fuzz_kernel *k, struct assign_ctx **ctx,
		  struct assign_iommu **iommu)
{
	struct assign_iommu_opts io = { .size = sizeof(io) };

	if (assign_ctx_new(ctx) < 0)
		abort();
	/* FUZZ_DEBUG=1 shows the library's log while replaying an input. */
	assign_ctx_set_log_priority(*ctx, getenv("FUZZ_DEBUG") ? 7 : 0);
	if (assign_ctx_set_sys(*ctx, &fk_ops, k, 999) < 0)
		abort();
	io.backend = k->iommufd ? ASSIGN_IOMMU_IOMMUFD : ASSIGN_IOMMU_TYPE1;
	return assign_iommu_new(*ctx, &io, iommu);
}

int fk_count_eventfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		abort();
	while ((de = readdir(d))) {
		char link[300], what[64];
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		len = readlink(link, what, sizeof(what) - 1);
		if (len > 0) {
			what[len] = '\0';
			n += strstr(what, "[eventfd]") != NULL;
		}
	}
	closedir(d);
	return n;
}
