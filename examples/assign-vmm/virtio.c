/* SPDX-License-Identifier: MIT */
/*
 * A virtio 1.x device on the VMM's PCI bus (modern virtio-pci only): the
 * PCI function, its BAR of virtio structures and the split virtqueues. The
 * device model above it (viommu.c) says what the device is; this file is
 * the transport every virtio device shares.
 *
 * PCI function (vendor 0x1af4, device 0x1040 + virtio device ID, revision
 * 1), one 32-bit memory BAR of 16 KiB and five vendor capabilities that
 * point into it:
 *
 *   BAR0 + 0x0000  common configuration (struct virtio_pci_common_cfg)
 *   BAR0 + 0x1000  ISR status: bit 0 queue interrupt, bit 1 config change;
 *                  reading it clears it and lowers INTx
 *   BAR0 + 0x2000  device-specific configuration (the model's)
 *   BAR0 + 0x3000  notifications: every queue at offset 0
 *                  (notify_off_multiplier 0), the value written is the
 *                  queue index
 *   config 0x84    the PCI configuration access capability
 *                  (VIRTIO_PCI_CAP_PCI_CFG), a window onto the BAR
 *
 * Interrupts are INTx (pin A, routed by the MP table like any slot); no
 * MSI-X. A driver that asks for no interrupts on a queue
 * (VRING_AVAIL_F_NO_INTERRUPT, as Linux's virtio-iommu request queue does)
 * never gets one.
 *
 * The guest is untrusted. Ring addresses must be guest RAM when a queue is
 * enabled, or the queue stays dead. Every descriptor is copied out of guest
 * memory once before it is used; a chain that loops, is longer than the
 * queue, points outside guest RAM, uses indirect descriptors (not
 * offered) or puts a device-readable buffer after a device-writable one is
 * returned to the driver unused (used length 0), which is what the virtio
 * spec says a device does with a request it cannot parse. An index in the
 * available ring outside the queue breaks the device (DEVICE_NEEDS_RESET)
 * until the driver resets it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define BAR_SIZE 0x4000u
#define COMMON_OFF 0x0000u
#define ISR_OFF 0x1000u
#define DEVCFG_OFF 0x2000u
#define NOTIFY_OFF 0x3000u
#define ISR_QUEUE 0x1 /* ISR bit: a used buffer */

#define CAP_COMMON 0x40u
#define CAP_ISR 0x50u
#define CAP_DEVCFG 0x60u
#define CAP_NOTIFY 0x70u
#define CAP_PCICFG 0x84u
#define CAP_END 0x98u

#define VIRTIO_VENDOR 0x1af4u
#define VIRTIO_PCI_DEVICE_BASE 0x1040u

struct vq {
	uint16_t size;
	bool enabled;
	bool dead; /* rings not in guest RAM */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc; /* host pointers, valid when enabled */
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail; /* next available entry to take */
	uint16_t used_idx; /* next used entry to fill */
};

struct virtio_dev {
	struct vm *vm;
	const struct virtio_model *model;
	void *opaque;
	pthread_mutex_t lock; /* everything here; the model's
					 callbacks run with it held */
	int slot;
	unsigned gsi;

	uint8_t cfg[256]; /* PCI config space */
	uint32_t bar; /* BAR0 as the guest wrote it */
	uint64_t bar_mapped; /* where it is registered, 0: not */

	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint8_t status;
	uint8_t isr;
	uint8_t generation;
	uint16_t qselect;
	bool broken; /* DEVICE_NEEDS_RESET until reset */
	struct vq q[VIRTIO_MAX_QUEUES];
};

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* ---- interrupts ---------------------------------------------------------- */

static void raise_isr(struct virtio_dev *d, uint8_t bits)
{
	/* INTx Disable (command bit 10) keeps the line low */
	d->isr |= bits;
	if (!(get16(d->cfg + 4) & (1u << 10)))
		vm_set_irq(d->vm, d->gsi, 1);
}

/* With the lock held (from a model callback). */
void virtio_config_changed(struct virtio_dev *d)
{
	d->generation++;
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_isr(d, VIRTIO_PCI_ISR_CONFIG);
}

/* ---- virtqueues -----------------------------------------------------------
 * Indices in the rings are free-running 16-bit counters; entries are at
 * index % size. The driver's avail->idx is read with acquire ordering
 * before the entries it publishes; our used->idx is stored with release
 * ordering after the used entry. */

static void vq_reset(struct vq *q)
{
	memset(q, 0, sizeof(*q));
	q->size = VIRTIO_QUEUE_SIZE;
}

/* The driver enabled queue i: its rings must be guest RAM, aligned as the
 * spec says (16, 2, 4). */
static void vq_enable(struct virtio_dev *d, struct vq *q)
{
	uint64_t n = q->size;

	q->enabled = true;
	q->dead = true;
	if (!n || (n & (n - 1)) || (q->desc_gpa & 15) || (q->avail_gpa & 1) ||
	    (q->used_gpa & 3))
		return;
	q->desc = gpa_to_host(d->vm, q->desc_gpa, 16 * n);
	q->avail = gpa_to_host(d->vm, q->avail_gpa, 6 + 2 * n);
	q->used = gpa_to_host(d->vm, q->used_gpa, 6 + 8 * n);
	if (q->desc && q->avail && q->used)
		q->dead = false;
}

/* Break the device: the driver sees DEVICE_NEEDS_RESET and must reset. */
static void vq_break(struct virtio_dev *d)
{
	if (d->broken)
		return;
	d->broken = true;
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK)
		raise_isr(d, VIRTIO_PCI_ISR_CONFIG);
}

/* Follow the chain starting at @head into @req; false when it is
 * malformed (the caller returns it unused). */
static bool walk_chain(struct virtio_dev *d, struct vq *q, uint16_t head,
		       struct virtq_req *req)
{
	uint16_t i = head;
	bool writing = false;

	for (unsigned n = 0;; n++) {
		struct vring_desc desc;
		void *host;

		if (n >= q->size || req->nseg >= VIRTQ_MAX_SEGS)
			return false; /* a loop, or too long */
		/* one copy of the guest's descriptor, then only the copy */
		memcpy(&desc, (const void *)&q->desc[i], sizeof(desc));
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (desc.flags & VRING_DESC_F_INDIRECT)
			return false; /* not negotiated */
		if (desc.flags & VRING_DESC_F_WRITE)
			writing = true;
		else if (writing)
			return false; /* readable after writable */
		if (desc.len) {
			host = gpa_to_host(d->vm, desc.addr, desc.len);
			if (!host)
				return false;
			req->seg[req->nseg].host = host;
			req->seg[req->nseg].len = desc.len;
			req->seg[req->nseg].write = writing;
			req->nseg++;
			if (writing)
				req->wlen += desc.len;
			else
				req->rlen += desc.len;
		}
		if (!(desc.flags & VRING_DESC_F_NEXT))
			return true;
		if (desc.next >= q->size)
			return false;
		i = desc.next;
	}
}

int virtq_pop(struct virtio_dev *d, uint16_t qi, struct virtq_req *req)
{
	struct vq *q;
	uint16_t avail_idx, head;

	memset(req, 0, sizeof(*req));
	if (qi >= d->model->nqueues)
		return 0;
	q = &d->q[qi];
	if (!q->enabled || q->dead || d->broken ||
	    !(d->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return 0;
	avail_idx = __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size) {
		vq_break(d); /* more entries than the ring */
		return 0;
	}
	head = __atomic_load_n(&q->avail->ring[q->last_avail % q->size],
			       __ATOMIC_RELAXED);
	if (head >= q->size) {
		vq_break(d);
		return 0;
	}
	q->last_avail++;
	req->head = head;
	if (!walk_chain(d, q, head, req)) {
		req->nseg = 0;
		req->rlen = req->wlen = 0;
		return -EINVAL;
	}
	return 1;
}

void virtq_push(struct virtio_dev *d, uint16_t qi, const struct virtq_req *req,
		uint32_t written)
{
	struct vq *q = &d->q[qi];
	struct vring_used_elem *e;

	if (qi >= d->model->nqueues || q->dead || !q->enabled)
		return;
	e = &q->used->ring[q->used_idx % q->size];
	e->id = req->head;
	e->len = written;
	q->used_idx++;
	/* The driver's flags are read after the index is out (a store,
	 * then a load: only sequential consistency orders the two; on x86
	 * the store is an xchg, a full barrier) */
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(&q->avail->flags, __ATOMIC_SEQ_CST) &
	      VRING_AVAIL_F_NO_INTERRUPT))
		raise_isr(d, ISR_QUEUE);
}

size_t virtq_read(const struct virtq_req *req, size_t off, void *buf,
		  size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < req->nseg && done < len; i++) {
		const struct virtq_seg *s = &req->seg[i];
		size_t n;

		if (s->write)
			break;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off < len - done ? s->len - off : len - done;
		memcpy((uint8_t *)buf + done, s->host + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t virtq_write(const struct virtq_req *req, size_t off, const void *buf,
		   size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < req->nseg && done < len; i++) {
		const struct virtq_seg *s = &req->seg[i];
		size_t n;

		if (!s->write)
			continue;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off < len - done ? s->len - off : len - done;
		memcpy(s->host + off, (const uint8_t *)buf + done, n);
		done += n;
		off = 0;
	}
	return done;
}

/* ---- the device reset ---------------------------------------------------- */

static void device_reset(struct virtio_dev *d)
{
	d->dfselect = d->gfselect = 0;
	d->driver_features = 0;
	d->status = 0;
	d->isr = 0;
	d->qselect = 0;
	d->broken = false;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vq_reset(&d->q[i]);
}

/* ---- the common configuration -------------------------------------------- */

static struct vq *selected(struct virtio_dev *d)
{
	return d->qselect < d->model->nqueues ? &d->q[d->qselect] : NULL;
}

static uint32_t common_read(struct virtio_dev *d, uint32_t off)
{
	struct vq *q = selected(d);
	uint64_t f = d->model->features;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return d->dfselect;
	case VIRTIO_PCI_COMMON_DF:
		return d->dfselect == 0 ? (uint32_t)f :
		       d->dfselect == 1 ? (uint32_t)(f >> 32) :
					  0;
	case VIRTIO_PCI_COMMON_GFSELECT:
		return d->gfselect;
	case VIRTIO_PCI_COMMON_GF:
		return d->gfselect == 0 ? (uint32_t)d->driver_features :
		       d->gfselect == 1 ? (uint32_t)(d->driver_features >> 32) :
					  0;
	case VIRTIO_PCI_COMMON_MSIX:
		return VIRTIO_MSI_NO_VECTOR;
	case VIRTIO_PCI_COMMON_NUMQ:
		return d->model->nqueues;
	case VIRTIO_PCI_COMMON_STATUS:
		return d->status |
		       (d->broken ? VIRTIO_CONFIG_S_NEEDS_RESET : 0);
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return d->generation;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return d->qselect;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return q ? q->size : 0;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return VIRTIO_MSI_NO_VECTOR;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return q ? q->enabled : 0;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 0;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		return q ? (uint32_t)q->desc_gpa : 0;
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		return q ? (uint32_t)(q->desc_gpa >> 32) : 0;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		return q ? (uint32_t)q->avail_gpa : 0;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		return q ? (uint32_t)(q->avail_gpa >> 32) : 0;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		return q ? (uint32_t)q->used_gpa : 0;
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return q ? (uint32_t)(q->used_gpa >> 32) : 0;
	default:
		return 0;
	}
}

static void set_lo(uint64_t *v, uint32_t lo)
{
	*v = (*v & ~0xffffffffull) | lo;
}

static void set_hi(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffull) | (uint64_t)hi << 32;
}

/* The driver writes the status: 0 resets; FEATURES_OK stays set only for
 * a subset of what was offered that includes VERSION_1. */
static void status_write(struct virtio_dev *d, uint8_t v)
{
	if (!v) {
		device_reset(d);
		vm_set_irq(d->vm, d->gsi, 0);
		d->model->reset(d->opaque);
		return;
	}
	if ((v & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(d->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((d->driver_features & ~d->model->features) ||
	     !(d->driver_features & (1ull << VIRTIO_F_VERSION_1))))
		v &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	if ((v & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(d->status & VIRTIO_CONFIG_S_DRIVER_OK))
		d->model->set_features(d->opaque, d->driver_features);
	d->status = v;
}

static void common_write(struct virtio_dev *d, uint32_t off, uint32_t v)
{
	struct vq *q = selected(d);
	bool q_writable = q && !q->enabled;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		d->dfselect = v;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		d->gfselect = v;
		break;
	case VIRTIO_PCI_COMMON_GF:
		if (d->status & VIRTIO_CONFIG_S_FEATURES_OK)
			break; /* too late to change them */
		if (d->gfselect == 0)
			set_lo(&d->driver_features, v);
		else if (d->gfselect == 1)
			set_hi(&d->driver_features, v);
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		status_write(d, (uint8_t)v);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		d->qselect = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		/* a power of two up to what we offer */
		if (q_writable && v && v <= VIRTIO_QUEUE_SIZE && !(v & (v - 1)))
			q->size = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (q_writable && v == 1)
			vq_enable(d, q);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
		if (q_writable)
			set_lo(&q->desc_gpa, v);
		break;
	case VIRTIO_PCI_COMMON_Q_DESCHI:
		if (q_writable)
			set_hi(&q->desc_gpa, v);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
		if (q_writable)
			set_lo(&q->avail_gpa, v);
		break;
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
		if (q_writable)
			set_hi(&q->avail_gpa, v);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		if (q_writable)
			set_lo(&q->used_gpa, v);
		break;
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (q_writable)
			set_hi(&q->used_gpa, v);
		break;
	default: /* read-only or MSI-X: ignored */
		break;
	}
}

/* Accesses are of the field's own width in the spec; we accept any width
 * up to 4 at a field's start and treat 64-bit fields as two dwords. */
static void common_access(struct virtio_dev *d, uint32_t off, uint8_t *data,
			  unsigned len, bool is_write)
{
	uint32_t v = 0;

	if (len > 4)
		len = 4;
	if (is_write) {
		memcpy(&v, data, len);
		common_write(d, off, v);
	} else {
		v = common_read(d, off);
		memcpy(data, &v, len);
	}
}

/* ---- the BAR ------------------------------------------------------------- */

static void notify(struct virtio_dev *d, uint16_t qi)
{
	if (qi >= d->model->nqueues)
		return;
	d->model->notify(d->opaque, d, qi);
}

/* An access to the BAR, with the lock held. */
static void bar_access_locked(struct virtio_dev *d, uint64_t off, uint8_t *b,
			      unsigned len, bool is_write)
{
	uint16_t qi;

	if (off >= NOTIFY_OFF) {
		if (!is_write) {
			memset(b, 0, len);
			return;
		}
		qi = 0;
		memcpy(&qi, b, len < 2 ? len : 2);
		notify(d, qi);
		return;
	}
	if (off >= DEVCFG_OFF) {
		off -= DEVCFG_OFF;
		if (off >= d->model->config_len ||
		    len > d->model->config_len - off) {
			if (!is_write)
				memset(b, 0, len);
			return;
		}
		if (is_write)
			d->model->config_write(d->opaque, (uint32_t)off, b,
					       len);
		else
			d->model->config_read(d->opaque, (uint32_t)off, b, len);
		return;
	}
	if (off >= ISR_OFF) {
		if (!is_write) {
			memset(b, 0, len);
			if (off == ISR_OFF) {
				b[0] = d->isr;
				d->isr = 0;
				vm_set_irq(d->vm, d->gsi, 0);
			}
		}
	} else if (off < sizeof(struct virtio_pci_common_cfg)) {
		common_access(d, (uint32_t)off, b, len, is_write);
	} else if (!is_write) {
		memset(b, 0, len);
	}
}

static void bar_access(void *opaque, uint64_t off, void *data, unsigned len,
		       bool is_write)
{
	struct virtio_dev *d = opaque;

	pthread_mutex_lock(&d->lock);
	bar_access_locked(d, off, data, len, is_write);
	pthread_mutex_unlock(&d->lock);
}

/* ---- PCI configuration space --------------------------------------------- */

static void add_cap(struct virtio_dev *d, uint8_t at, uint8_t next, uint8_t len,
		    uint8_t type, uint32_t off, uint32_t length)
{
	uint8_t *c = d->cfg + at;

	c[0] = 0x09; /* vendor-specific */
	c[1] = next;
	c[2] = len;
	c[3] = type;
	c[4] = 0; /* BAR0 */
	put32(c + 8, off);
	put32(c + 12, length);
}

static void build_config(struct virtio_dev *d)
{
	uint8_t *c = d->cfg;

	memset(c, 0, sizeof(d->cfg));
	put16(c + 0x00, VIRTIO_VENDOR);
	put16(c + 0x02,
	      (uint16_t)(VIRTIO_PCI_DEVICE_BASE + d->model->device_id));
	put16(c + 0x06, 0x0010); /* status: capability list */
	put32(c + 0x08, 1u | d->model->class_code << 8); /* revision 1 */
	put16(c + 0x2c, VIRTIO_VENDOR);
	put16(c + 0x2e, 0x1100); /* subsystem: >= 0x40 for modern */
	c[0x34] = CAP_COMMON;
	c[0x3d] = 1; /* INTA */
	add_cap(d, CAP_COMMON, CAP_ISR, 16, VIRTIO_PCI_CAP_COMMON_CFG,
		COMMON_OFF, sizeof(struct virtio_pci_common_cfg));
	add_cap(d, CAP_ISR, CAP_DEVCFG, 16, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFF, 1);
	add_cap(d, CAP_DEVCFG, CAP_NOTIFY, 16, VIRTIO_PCI_CAP_DEVICE_CFG,
		DEVCFG_OFF, d->model->config_len);
	add_cap(d, CAP_NOTIFY, CAP_PCICFG, 20, VIRTIO_PCI_CAP_NOTIFY_CFG,
		NOTIFY_OFF, 2);
	put32(c + CAP_NOTIFY + 16, 0); /* notify_off_multiplier */
	add_cap(d, CAP_PCICFG, 0, 20, VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
}

/* Where the guest may not put the BAR: NULL when the placement is fine. */
static const char *bar_refusal(const struct virtio_dev *d, uint64_t at)
{
	const struct vm *vm = d->vm;

	if (at < vm->low_size || at + BAR_SIZE > IOAPIC_ADDR)
		return "is not in the PCI hole below the IOAPIC";
	return NULL;
}

/* Register the BAR with the MMIO dispatcher while memory decoding is on,
 * at the address the guest wrote. With the transport lock held. */
static void bar_follow(struct virtio_dev *d)
{
	bool on = get16(d->cfg + 4) & 0x2;
	uint64_t at = d->bar & ~(uint64_t)(BAR_SIZE - 1);

	if (!on || !at || bar_refusal(d, at))
		at = 0;
	if (at == d->bar_mapped)
		return;
	if (d->bar_mapped)
		io_unregister(IO_MMIO, d->bar_mapped, d);
	d->bar_mapped = 0;
	if (at && io_register(IO_MMIO, at, BAR_SIZE, bar_access, d) == 0)
		d->bar_mapped = at;
	else if (at)
		vmm_err("virtio 00:%02x.0: BAR0 at %#llx overlaps another "
			"device; not mapped",
			d->slot, (unsigned long long)at);
}

/* The PCI configuration access capability: cap.bar, cap.offset and
 * cap.length select a window of the BAR that pci_cfg_data reads and
 * writes. */
static void pcicfg_access(struct virtio_dev *d, unsigned off, uint8_t *v,
			  unsigned len, bool is_write)
{
	uint8_t *cap = d->cfg + CAP_PCICFG;
	uint32_t boff = get32(cap + 8), blen = get32(cap + 12);

	if (off < CAP_PCICFG + 16) { /* the cap itself: bar, offset, length */
		if (!is_write) {
			memcpy(v, d->cfg + off, len);
			return;
		}
		for (unsigned i = 0; i < len; i++) {
			unsigned o = off + i - CAP_PCICFG;
			if (o == 4 || (o >= 8 && o < 16))
				d->cfg[off + i] = v[i];
		}
		return;
	}
	/* pci_cfg_data: an access of cap.length bytes inside the BAR */
	if (cap[4] != 0 || (blen != 1 && blen != 2 && blen != 4) ||
	    boff >= BAR_SIZE || blen > BAR_SIZE - boff || len < blen) {
		if (!is_write)
			memset(v, 0, len);
		return;
	}
	bar_access_locked(d, boff, v, blen, is_write);
}

static uint32_t cfg_read(void *opaque, unsigned off, unsigned size)
{
	struct virtio_dev *d = opaque;
	uint32_t v = 0;

	if (off >= sizeof(d->cfg))
		return 0;
	pthread_mutex_lock(&d->lock);
	if (off >= CAP_PCICFG && off < CAP_END)
		pcicfg_access(d, off, (uint8_t *)&v, size, false);
	else if (off == 0x10 && size == 4)
		v = d->bar;
	else
		memcpy(&v, d->cfg + off, size);
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void cfg_write(void *opaque, unsigned off, unsigned size, uint32_t val)
{
	struct virtio_dev *d = opaque;
	uint8_t b[4];

	if (off >= sizeof(d->cfg))
		return;
	memcpy(b, &val, 4);
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;

		if (o == 0x04) /* memory space, bus master */
			d->cfg[o] = b[i] & 0x06;
		else if (o == 0x05) /* INTx disable */
			d->cfg[o] = b[i] & 0x04;
		else if (o >= 0x10 && o < 0x14)
			((uint8_t *)&d->bar)[o - 0x10] = b[i];
		else if (o == 0x3c) /* interrupt line */
			d->cfg[o] = b[i];
	}
	if (off >= CAP_PCICFG && off < CAP_END)
		pcicfg_access(d, off, b, size, true);
	/* BAR0: 32-bit memory, size BAR_SIZE, type bits read 0 */
	d->bar &= ~(uint32_t)(BAR_SIZE - 1);
	memcpy(d->cfg + 0x10, &d->bar, 4);
	if (get16(d->cfg + 4) & (1u << 10))
		vm_set_irq(d->vm, d->gsi, 0);
	else if (d->isr)
		vm_set_irq(d->vm, d->gsi, 1);
	bar_follow(d);
	pthread_mutex_unlock(&d->lock);
}

static const struct pci_device_ops virtio_pci_ops = {
	.cfg_read = cfg_read,
	.cfg_write = cfg_write,
};

/* ---- life ---------------------------------------------------------------- */

int virtio_pci_add(struct vm *vm, const struct virtio_model *model,
		   void *opaque, struct virtio_dev **ret)
{
	struct virtio_dev *d;
	uint64_t at;

	if (model->nqueues > VIRTIO_MAX_QUEUES ||
	    model->config_len > NOTIFY_OFF - DEVCFG_OFF)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vm = vm;
	d->model = model;
	d->opaque = opaque;
	pthread_mutex_init(&d->lock, NULL);
	build_config(d);
	device_reset(d);
	d->slot = pci_add_device(&virtio_pci_ops, d);
	if (d->slot < 0) {
		int r = d->slot;

		free(d);
		return r;
	}
	d->gsi = pci_intx_gsi(d->slot, 1);
	d->cfg[0x3c] = (uint8_t)d->gsi;
	/* like firmware: BAR placed, decoding off until the guest's driver */
	at = pci_alloc_mmio(BAR_SIZE);
	if (!at)
		return -ENOSPC; /* the slot stays taken; the VMM exits */
	d->bar = (uint32_t)at;
	memcpy(d->cfg + 0x10, &d->bar, 4);
	*ret = d;
	return 0;
}

int virtio_pci_slot(const struct virtio_dev *d)
{
	return d->slot;
}

/* The VM is stopped: no vCPU calls in any more. */
void virtio_pci_free(struct virtio_dev *d)
{
	if (!d)
		return;
	if (d->bar_mapped)
		io_unregister(IO_MMIO, d->bar_mapped, d);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
