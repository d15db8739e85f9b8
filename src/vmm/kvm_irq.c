// SPDX-License-Identifier: MIT
/*
 * KVM glue, interrupts (include/libassign/kvm.h, docs/vpci.md): the GSI
 * routing table KVM gets whole, irqfds, and the MSI/MSI-X vectors of a
 * vpci object followed into routes and irqfds. Every ioctl goes through
 * the kernel seam, so the unit tests can play KVM.
 *
 * Uses the build host's <linux/kvm.h> (stable for what is used here:
 * KVM_SET_GSI_ROUTING, KVM_IRQFD).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "core/sys.h"
#include "vmm/vmm.h"
#include <libassign/kvm.h>
#include <libassign/vpci.h>

static int irqfd_ioctl(struct assign_kvm *k, int efd, uint32_t gsi,
		       int resample_fd, bool assign)
{
	struct kvm_irqfd f;

	memset(&f, 0, sizeof(f));
	f.fd = (uint32_t)efd;
	f.gsi = gsi;
	if (!assign)
		f.flags = KVM_IRQFD_FLAG_DEASSIGN;
	else if (resample_fd >= 0) {
		f.flags = KVM_IRQFD_FLAG_RESAMPLE;
		f.resamplefd = (uint32_t)resample_fd;
	}
	return sys_ioctl(k->ctx, k->vm_fd, KVM_IRQFD, &f);
}

/* ---- routing --------------------------------------------------------
 *
 * k->routes is the table as it should be; KVM has the one of the last
 * push. Changes only edit k->routes and set k->dirty; the table goes to
 * KVM (one KVM_SET_GSI_ROUTING, never when nothing changed) when a
 * caller commits, before an irqfd is attached (its GSI must be routed
 * when it fires, or a pending signal is lost), when a route that an
 * attached irqfd uses changed or a route was freed (k->must_push: at
 * once for the direct calls, at the end of the batch for vectors).
 */

static bool gsi_in_msi_range(const struct assign_kvm *k, uint32_t gsi)
{
	return gsi >= k->gsi_base && gsi < k->gsi_limit;
}

static bool gsi_used(const struct assign_kvm *k, uint32_t gsi)
{
	uint32_t i = gsi - k->gsi_base;

	return k->gsi_map[i / 64] & (1ull << (i % 64));
}

static void gsi_mark(struct assign_kvm *k, uint32_t gsi, bool used)
{
	uint32_t i = gsi - k->gsi_base;

	if (used)
		k->gsi_map[i / 64] |= 1ull << (i % 64);
	else
		k->gsi_map[i / 64] &= ~(1ull << (i % 64));
}

static bool gsi_has_irqfd(const struct assign_kvm *k, uint32_t gsi)
{
	for (size_t i = 0; i < k->nirqfds; i++)
		if (k->irqfds[i].gsi == gsi)
			return true;
	return false;
}

static int push_routes(struct assign_kvm *k)
{
	struct kvm_irq_routing *t;
	int r;

	t = calloc(1, sizeof(*t) + k->nroutes * sizeof(t->entries[0]));
	if (!t)
		return -ENOMEM;
	t->nr = (uint32_t)k->nroutes;
	for (size_t i = 0; i < k->nroutes; i++) {
		const struct route *rt = &k->routes[i];
		struct kvm_irq_routing_entry *e = &t->entries[i];
		e->gsi = rt->gsi;
		if (rt->msi) {
			e->type = KVM_IRQ_ROUTING_MSI;
			e->u.msi.address_lo = (uint32_t)rt->addr;
			e->u.msi.address_hi = (uint32_t)(rt->addr >> 32);
			e->u.msi.data = rt->data;
		} else {
			e->type = KVM_IRQ_ROUTING_IRQCHIP;
			e->u.irqchip.irqchip = rt->irqchip;
			e->u.irqchip.pin = rt->pin;
		}
	}
	r = sys_ioctl(k->ctx, k->vm_fd, KVM_SET_GSI_ROUTING, t);
	free(t);
	return r < 0 ? r : 0;
}

/* Bring KVM's table up to date, if it is not. On failure KVM keeps the
 * previous table and the object the new one: the next commit retries. */
static int commit(struct assign_kvm *k)
{
	int r;

	if (!k->dirty)
		return 0;
	r = push_routes(k);
	if (r < 0)
		return set_error(
			k->ctx, r,
			"KVM_SET_GSI_ROUTING with %zu routes failed: %s",
			k->nroutes, strerror(-r));
	k->dirty = false;
	k->must_push = false;
	++k->pushes;
	dbg_limited(k->ctx, &k->log_push,
		    "GSI routing table to KVM: %zu routes (update %lu)",
		    k->nroutes, k->pushes);
	return 0;
}

static void changed(struct assign_kvm *k, bool urgent)
{
	k->dirty = true;
	k->must_push |= urgent;
}

static int route_add(struct assign_kvm *k, const struct route *rt)
{
	if (k->nroutes >= GSI_ROUTES_MAX)
		return set_error(
			k->ctx, -ENOSPC,
			"the GSI routing table is full (%u routes, KVM's limit)",
			GSI_ROUTES_MAX);
	if (kvm_grow(&k->routes, k->nroutes, sizeof(*k->routes)) < 0)
		return set_error(k->ctx, -ENOMEM, "out of memory");
	k->routes[k->nroutes++] = *rt;
	if (rt->msi)
		gsi_mark(k, rt->gsi, true);
	changed(k, false);
	return 0;
}

static struct route *msi_route(struct assign_kvm *k, uint32_t gsi)
{
	for (size_t i = 0; i < k->nroutes; i++)
		if (k->routes[i].gsi == gsi && k->routes[i].msi)
			return &k->routes[i];
	return NULL;
}

/* How many pins each x86 KVM irqchip has: PIC master, PIC slave, IOAPIC */
static const uint32_t irqchip_pins[] = { 8, 8, 24 };

static int kvm_route_irqchip(struct assign_kvm *kvm, uint32_t gsi,
			     uint32_t irqchip, uint32_t pin)
{
	struct route rt = { .gsi = gsi, .irqchip = irqchip, .pin = pin };

	if (!kvm)
		return -EINVAL;
	if (irqchip > ASSIGN_KVM_IRQCHIP_IOAPIC || pin >= irqchip_pins[irqchip])
		return set_error(
			kvm->ctx, -EINVAL,
			"irqchip %u pin %u does not exist (PICs have pins 0-7, the IOAPIC 0-23)",
			irqchip, pin);
	if (gsi >= GSI_ROUTES_MAX)
		return set_error(kvm->ctx, -EINVAL,
				 "GSI %u is beyond KVM's last GSI, %u", gsi,
				 GSI_ROUTES_MAX - 1);
	if (gsi_in_msi_range(kvm, gsi))
		return set_error(
			kvm->ctx, -EINVAL,
			"GSI %u is in the MSI range [%u, %u): move assign_kvm_opts.gsi_base above the interrupt controllers' GSIs",
			gsi, kvm->gsi_base, kvm->gsi_limit);
	for (size_t i = 0; i < kvm->nroutes; i++)
		if (kvm->routes[i].gsi == gsi &&
		    kvm->routes[i].irqchip == irqchip)
			return set_error(
				kvm->ctx, -EEXIST,
				"GSI %u already has a route to irqchip %u", gsi,
				irqchip);
	return route_add(kvm, &rt);
}

static int kvm_msi_route_new(struct assign_kvm *kvm, uint64_t addr,
			     uint32_t data, uint32_t *gsi)
{
	struct route rt = { .msi = true, .addr = addr, .data = data };
	int r;

	if (!kvm || !gsi)
		return -EINVAL;
	for (rt.gsi = kvm->gsi_base; rt.gsi < kvm->gsi_limit; rt.gsi++)
		if (!gsi_used(kvm, rt.gsi))
			break;
	if (rt.gsi >= kvm->gsi_limit)
		return set_error(
			kvm->ctx, -ENOSPC,
			"no free GSI for an MSI route: all %u of [%u, %u) are in use; raise assign_kvm_opts.gsi_limit or give the guest fewer vectors",
			kvm->gsi_limit - kvm->gsi_base, kvm->gsi_base,
			kvm->gsi_limit);
	r = route_add(kvm, &rt);
	if (r < 0)
		return r;
	*gsi = rt.gsi;
	return 0;
}

/* Change an MSI route; urgent when an irqfd is attached to it. */
static int msi_route_change(struct assign_kvm *k, struct route *rt,
			    uint64_t addr, uint32_t data)
{
	if (rt->addr == addr && rt->data == data)
		return 0;
	rt->addr = addr;
	rt->data = data;
	changed(k, gsi_has_irqfd(k, rt->gsi));
	return 1;
}

static int kvm_msi_route_set(struct assign_kvm *kvm, uint32_t gsi,
			     uint64_t addr, uint32_t data)
{
	struct route *rt;

	if (!kvm)
		return -EINVAL;
	rt = msi_route(kvm, gsi);
	if (!rt)
		return set_error(kvm->ctx, -ENOENT, "GSI %u has no MSI route",
				 gsi);
	msi_route_change(kvm, rt, addr, data);
	return kvm->must_push ? commit(kvm) : 0;
}

/* Remove the routes of a GSI from the table; -ENOENT if it had none. */
static int routes_drop(struct assign_kvm *k, uint32_t gsi)
{
	size_t n = 0, before = k->nroutes;

	for (size_t i = 0; i < before; i++)
		if (k->routes[i].gsi != gsi)
			k->routes[n++] = k->routes[i];
	if (n == before)
		return -ENOENT;
	k->nroutes = n;
	if (gsi_in_msi_range(k, gsi))
		gsi_mark(k, gsi, false);
	changed(k, true);
	return 0;
}

static int kvm_route_remove(struct assign_kvm *kvm, uint32_t gsi)
{
	if (!kvm)
		return -EINVAL;
	if (routes_drop(kvm, gsi) < 0)
		return set_error(kvm->ctx, -ENOENT, "GSI %u has no route", gsi);
	/* an irqfd still attached must stop reaching the old target now */
	return gsi_has_irqfd(kvm, gsi) ? commit(kvm) : 0;
}

/* ---- irqfds ----------------------------------------------------------- */

static int kvm_irqfd(struct assign_kvm *kvm, int eventfd, uint32_t gsi,
		     int resample_fd)
{
	int r;

	if (!kvm || eventfd < 0)
		return -EINVAL;
	for (size_t i = 0; i < kvm->nirqfds; i++)
		if (kvm->irqfds[i].efd == eventfd)
			return set_error(
				kvm->ctx, -EEXIST,
				"eventfd %d is already an irqfd (GSI %u)",
				eventfd, kvm->irqfds[i].gsi);
	if (kvm_grow(&kvm->irqfds, kvm->nirqfds, sizeof(*kvm->irqfds)) < 0)
		return set_error(kvm->ctx, -ENOMEM, "out of memory");
	/* the GSI's route must be in KVM before the eventfd can fire */
	r = commit(kvm);
	if (r < 0)
		return r;
	r = irqfd_ioctl(kvm, eventfd, gsi, resample_fd, true);
	if (r < 0)
		return set_error(kvm->ctx, r, "KVM_IRQFD on GSI %u failed: %s",
				 gsi, strerror(-r));
	kvm->irqfds[kvm->nirqfds].efd = eventfd;
	kvm->irqfds[kvm->nirqfds].gsi = gsi;
	kvm->nirqfds++;
	return 0;
}

static int kvm_irqfd_remove(struct assign_kvm *kvm, int eventfd)
{
	int r;

	if (!kvm)
		return -EINVAL;
	for (size_t i = 0; i < kvm->nirqfds; i++) {
		if (kvm->irqfds[i].efd != eventfd)
			continue;
		r = irqfd_ioctl(kvm, eventfd, kvm->irqfds[i].gsi, -1, false);
		if (r < 0)
			return set_error(kvm->ctx, r,
					 "KVM_IRQFD deassign failed: %s",
					 strerror(-r));
		kvm->irqfds[i] = kvm->irqfds[--kvm->nirqfds];
		return 0;
	}
	return set_error(kvm->ctx, -ENOENT, "eventfd %d is not an irqfd here",
			 eventfd);
}

/* ---- following vpci vectors --------------------------------------------
 *
 * A vector gets a GSI as soon as it is enabled with a message (masked or
 * not), so a guest that writes its messages while the entries are masked
 * and then unmasks them one by one costs one push, at the first unmask:
 * the others find their routes in KVM already. The irqfd of a vector
 * unmasked during a batch is attached at its end, after the push.
 */

static struct vtrack *vtrack_find(struct assign_kvm *k, int efd)
{
	for (size_t i = 0; i < k->nvt; i++)
		if (k->vt[i].efd == efd)
			return &k->vt[i];
	return NULL;
}

static int vtrack_detach(struct assign_kvm *k, struct vtrack *t)
{
	int r;

	if (t->pending) {
		t->pending = false;
		k->npending--;
	}
	if (!t->attached)
		return 0;
	r = kvm_irqfd_remove(k, t->efd);
	if (r < 0)
		return r;
	t->attached = false;
	return 0;
}

/* A disabled vector: its irqfd now, its GSI freed (pushed at the end). */
static int vtrack_release(struct assign_kvm *k, struct vtrack *t)
{
	int r = vtrack_detach(k, t);

	if (t->have_gsi)
		routes_drop(k, t->gsi);
	*t = k->vt[--k->nvt];
	return r;
}

static int vtrack_route(struct assign_kvm *k, struct vtrack *t,
			const struct assign_vpci_vector *v)
{
	int r;

	if (t->have_gsi) {
		msi_route_change(k, msi_route(k, t->gsi), v->addr, v->data);
		return 0;
	}
	r = kvm_msi_route_new(k, v->addr, v->data, &t->gsi);
	if (r < 0)
		return r;
	t->have_gsi = true;
	return 0;
}

static int vector_apply(struct assign_kvm *k,
			const struct assign_vpci_vector *v)
{
	struct vtrack *t = vtrack_find(k, v->eventfd);
	bool deliver = !v->masked && v->addr;
	int r;

	if (!v->enabled)
		return t ? vtrack_release(k, t) : 0;
	if (!t) {
		if (kvm_grow(&k->vt, k->nvt, sizeof(*k->vt)) < 0)
			return set_error(k->ctx, -ENOMEM, "out of memory");
		t = &k->vt[k->nvt++];
		memset(t, 0, sizeof(*t));
		t->efd = v->eventfd;
	}
	if (!deliver) {
		r = vtrack_detach(k, t);
		if (r < 0)
			return r;
	}
	if (v->addr) {
		r = vtrack_route(k, t, v);
		if (r < 0)
			return r;
	}
	if (deliver && !t->attached && !t->pending) {
		t->pending = true;
		k->npending++;
	}
	return 0;
}

/* The end of a batch: push what must reach KVM, then attach the irqfds
 * of the vectors unmasked in it. */
static int vector_batch_end(struct assign_kvm *k)
{
	int r = 0;

	if (k->must_push || k->npending)
		r = commit(k);
	if (r < 0)
		return r; /* they stay pending, for the next batch */
	for (size_t i = 0; i < k->nvt && k->npending; i++) {
		struct vtrack *t = &k->vt[i];
		int e;

		if (!t->pending)
			continue;
		e = kvm_irqfd(k, t->efd, t->gsi, -1);
		if (e < 0) {
			r = r ? r : e;
			continue;
		}
		t->pending = false;
		k->npending--;
		t->attached = true;
	}
	return r;
}

static int kvm_vector_update(struct assign_kvm *kvm,
			     const struct assign_vpci_vector *v)
{
	int r, e;

	if (!kvm || !v || v->eventfd < 0)
		return -EINVAL;
	r = vector_apply(kvm, v);
	if (!v->more) {
		e = vector_batch_end(kvm);
		if (!r)
			r = e;
	}
	return r;
}

/* ---- the last unref ----------------------------------------------------- */

void kvm_irq_release(struct assign_kvm *k)
{
	for (size_t i = 0; i < k->nirqfds; i++)
		irqfd_ioctl(k, k->irqfds[i].efd, k->irqfds[i].gsi, -1, false);
	free(k->routes);
	free(k->irqfds);
	free(k->vt);
}

/* ---- exported, locked ---------------------------------------------------- */

ASSIGN_EXPORT int assign_kvm_irqchip_route_add(struct assign_kvm *kvm,
					       uint32_t gsi, uint32_t irqchip,
					       uint32_t pin)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = kvm_route_irqchip(kvm, gsi, irqchip, pin);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}

ASSIGN_EXPORT int assign_kvm_msi_route_add(struct assign_kvm *kvm,
					   uint64_t addr, uint32_t data,
					   uint32_t *gsi)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = kvm_msi_route_new(kvm, addr, data, gsi);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}

ASSIGN_EXPORT int assign_kvm_msi_route_set(struct assign_kvm *kvm, uint32_t gsi,
					   uint64_t addr, uint32_t data)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = kvm_msi_route_set(kvm, gsi, addr, data);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}

ASSIGN_EXPORT int assign_kvm_route_commit(struct assign_kvm *kvm)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = commit(kvm);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}

ASSIGN_EXPORT int assign_kvm_route_remove(struct assign_kvm *kvm, uint32_t gsi)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = kvm_route_remove(kvm, gsi);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}

ASSIGN_EXPORT int assign_kvm_irqfd_add(struct assign_kvm *kvm, int eventfd,
				       uint32_t gsi, int resample_fd)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = kvm_irqfd(kvm, eventfd, gsi, resample_fd);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}

ASSIGN_EXPORT int assign_kvm_irqfd_remove(struct assign_kvm *kvm, int eventfd)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = kvm_irqfd_remove(kvm, eventfd);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}

ASSIGN_EXPORT int assign_kvm_vector_update(struct assign_kvm *kvm,
					   const struct assign_vpci_vector *v)
{
	int r;

	if (!kvm)
		return -EINVAL;
	pthread_mutex_lock(&kvm->lock);
	r = kvm_vector_update(kvm, v);
	pthread_mutex_unlock(&kvm->lock);
	return r;
}
