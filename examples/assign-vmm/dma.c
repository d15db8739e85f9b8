/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM for the devices' DMA: host address spaces and libassign's
 * guest memory policy.
 *
 * A DMA space is one host IOMMU address space (a struct assign_iommu: a
 * type1 container or an iommufd IOAS) with its guest memory policy (a
 * struct assign_guestmem, which owns every mapping made in it). Without
 * --viommu all devices share one space, always in identity: all guest
 * RAM at IOVA = guest physical address (libassign's map-all). With
 * --viommu each device has a space of its own, whose policy follows what
 * the guest does with the device's endpoint on the virtio-iommu
 * (viommu.c):
 *
 *   endpoint in bypass (not attached and the bypass config set, or
 *   attached to a bypass domain)        identity: map-all
 *   attached to a translated domain     translated: the guest-IOMMU
 *                                       policy, only what the domain maps
 *   not attached, bypass config clear   translated with nothing mapped
 *
 * The switch happens while the device runs. Leaving identity removes every
 * identity mapping before anything of the domain is mapped, so in a
 * translated space nothing of guest RAM is reachable but what the guest
 * mapped there.
 *
 * Pinning and mapping all guest RAM (identity) is the slowest step of
 * starting a VM with a device, and it grows with --mem; the guest needs it
 * only once it lets a device master the bus. So (--dma-map):
 *
 *  - Before any vCPU runs, dma_start() checks everything that fails
 *    because of what the user asked for: the RAM layout against each
 *    IOMMU (IOVA ranges, reserved regions such as the MSI window, DMA
 *    address limit), the memlock budget and the DMA entries left. Bad
 *    input still ends the VMM with one line, before the guest runs and
 *    with nothing pinned. The RAM is registered with every space, which
 *    maps nothing yet.
 *  - Identity is then made (assign_guestmem_set_policy() to map-all) on a
 *    thread of its own while the vCPUs boot the guest ("background", the
 *    default), or on the vCPU thread of the first Bus Master Enable
 *    ("on-demand": nothing is pinned for a guest that never lets a device
 *    master the bus), or at once ("before-boot"). In the background the
 *    pinning also faults in the pages the booting guest is about to
 *    touch; on demand the guest faults every page in itself first, which
 *    in the lab made its boot slower than the background pinning did
 *    (README.md). A space that turns translated before its turn is
 *    skipped; one that turns translated while it is mapped has its
 *    mapping cancelled (through libassign's progress callback).
 *  - The gate is Bus Master Enable (bit 2 of the PCI Command register).
 *    A function without it issues no memory requests upstream: no DMA
 *    reads or writes, and no MSI or MSI-X either, since those are memory
 *    writes too (PCI Local Bus 3.0 6.2.2, PCIe Base 7.5.1.1.3). When a
 *    device is added it is reset and the bit made sure to be clear
 *    (assign.c); then only the guest sets it, through a config write that
 *    calls dma_bus_master() before it goes on to the device. In an
 *    identity space that waits for the mapping (or makes it, on demand);
 *    in a translated space there is nothing to wait for. If the mapping
 *    failed, the write is dropped, so the device never masters the bus,
 *    and the VM stops with the library's error. A space that was ever
 *    mastered is mapped at once when it turns identity again.
 *
 * Locking: each space has a lock that serializes its policy calls and its
 * state: the mapping thread, the gate (vCPU threads, under pci.c's bus
 * lock) and the virtio-iommu (vCPU threads, under the device's lock) take
 * it, and nothing is taken while it is held. The IOMMU objects are not
 * thread-safe: after dma_start() only their guestmem calls them, under
 * that lock. Any stop request (power-off, Ctrl-C, error) cancels a
 * mapping in progress, and every exit path joins the thread before
 * releasing the devices and the IOMMUs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <libassign/libassign.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

struct dma_space {
	struct vm *vm;
	struct assign_iommu *iommu;
	struct assign_guestmem *gm;
	pthread_mutex_t lock;
	char name[48]; /* for messages */
	bool translated; /* the guest translates: no identity */
	bool identity; /* map-all in force */
	bool master; /* bus mastering was enabled: identity
				       cannot wait for the gate */
	int cancel; /* stop a map-all on it (atomic) */
	unsigned switches; /* logged, the guest causes them */
	int result; /* of the last map-all */
	char error[512]; /* its message on failure */
	double t_start, t_end; /* of the last map-all */
};

static struct {
	pthread_mutex_t lock; /* the thread's start and join */
	struct vm *vm;
	struct dma_space *spaces[VMM_MAX_DEVICES];
	size_t nspaces;
	struct assign_guestmem_region reg[2];
	size_t nreg;
	bool started; /* dma_start() done */
	bool deferred; /* on-demand: identity at the gate */
	bool background; /* dma_run_background() starts the thread */
	const char *how; /* for the log: "in the background"... */
	pthread_t thread;
	bool running; /* created and not joined yet */
	int stop; /* teardown: stop mapping (atomic) */
} dma = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- one space ----------------------------------------------------------- */

int dma_space_adopt(struct vm *vm, struct assign_iommu *iommu, const char *name,
		    struct dma_space **ret)
{
	struct dma_space *s;

	if (dma.nspaces == VMM_MAX_DEVICES) {
		assign_iommu_unref(iommu);
		return -ENOSPC;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		assign_iommu_unref(iommu);
		return -ENOMEM;
	}
	s->vm = vm;
	s->iommu = iommu;
	s->result = -EAGAIN;
	snprintf(s->name, sizeof(s->name), "%s", name);
	pthread_mutex_init(&s->lock, NULL);
	dma.vm = vm;
	dma.spaces[dma.nspaces++] = s;
	*ret = s;
	return 0;
}

int dma_space_new(struct vm *vm, const char *name, struct dma_space **ret)
{
	struct assign_iommu *iommu;
	int r = assign_iommu_new(vm->ctx, NULL, &iommu);

	if (r < 0) {
		vmm_err("cannot set up VFIO: %s",
			assign_ctx_get_last_error(vm->ctx));
		return r;
	}
	return dma_space_adopt(vm, iommu, name, ret);
}

struct assign_iommu *dma_space_iommu(const struct dma_space *s)
{
	return s->iommu;
}

struct assign_guestmem *dma_space_guestmem(const struct dma_space *s)
{
	return s->gm;
}

static int progress(void *data, uint64_t done, uint64_t total)
{
	struct dma_space *s = data;

	(void)done;
	(void)total;
	return __atomic_load_n(&s->cancel, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&dma.stop, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&s->vm->exit_code, __ATOMIC_RELAXED) != -1;
}

static bool stopping(const struct dma_space *s)
{
	return __atomic_load_n(&dma.stop, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&s->vm->exit_code, __ATOMIC_RELAXED) != -1;
}

/* Identity now, on this thread, with the space's lock held: map all guest
 * RAM (libassign's map-all). Says how it went. */
static int identity_locked(struct dma_space *s, const char *how)
{
	int r;

	if (s->identity)
		return 0;
	s->t_start = vmm_elapsed();
	r = assign_guestmem_set_policy(s->gm, ASSIGN_GUESTMEM_MAP_ALL);
	s->t_end = vmm_elapsed();
	s->result = r;
	if (r == 0) {
		s->identity = true;
		vmm_info("%sguest RAM (%llu MiB) mapped for DMA at IOVA = GPA "
			 "in %.3f s, %s (done %.3f s after start)",
			 s->name, (unsigned long long)(s->vm->ram_size >> 20),
			 s->t_end - s->t_start, how, s->t_end);
		return 0;
	}
	/* the context's message is per thread: copy it for the gate */
	snprintf(s->error, sizeof(s->error), "%s",
		 assign_ctx_get_last_error(s->vm->ctx));
	if (r == -ECANCELED && stopping(s))
		vmm_info("%sDMA mapping of guest RAM cancelled: the VM is "
			 "stopping",
			 s->name);
	else if (r == -ECANCELED)
		vmm_info("%sDMA mapping of guest RAM cancelled: the guest "
			 "turned translation on",
			 s->name);
	else
		vmm_err("%scannot map guest RAM for DMA: %s", s->name,
			s->error);
	return r;
}

/* Take the space's lock, cancelling a map-all that holds it. */
static void grab(struct dma_space *s)
{
	if (pthread_mutex_trylock(&s->lock) == 0)
		return;
	__atomic_store_n(&s->cancel, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->cancel, 0, __ATOMIC_RELAXED);
}

/* Remove every mapping the guest made in a translated space. */
static int drop_guest_mappings(struct dma_space *s)
{
	uint64_t pg = 4096, all;

	assign_iommu_get_pgsizes(s->iommu, &pg);
	pg &= -pg;
	all = -pg; /* [0, 2^64 - pg): everything mappable */
	return assign_guestmem_guest_unmap(s->gm, 0, all);
}

int dma_space_set_translated(struct dma_space *s, bool on)
{
	int r = 0;

	grab(s);
	if (!s->gm) { /* before dma_start(): nothing mapped */
		s->translated = on;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (s->switches < 64 && s->translated != on)
		vmm_info("%sthe guest %s at %.3f s%s", s->name,
			 on ? "translates: only what it maps is reachable" :
			      "bypasses its IOMMU: all guest RAM",
			 vmm_elapsed(),
			 ++s->switches == 64 ? " (no more such messages)" : "");
	if (on) {
		/* identity goes first: nothing of guest RAM stays reachable
		 * but what the guest maps next */
		if (assign_guestmem_get_policy(s->gm) ==
		    ASSIGN_GUESTMEM_MAP_ALL)
			r = assign_guestmem_set_policy(
				s->gm, ASSIGN_GUESTMEM_GUEST_IOMMU);
		else
			r = drop_guest_mappings(s);
		s->identity = false;
		s->translated = true;
	} else {
		if (assign_guestmem_get_policy(s->gm) ==
		    ASSIGN_GUESTMEM_GUEST_IOMMU)
			r = drop_guest_mappings(s);
		s->translated = false;
		/* a device that masters the bus needs its RAM now; one that
		 * does not gets it at the gate (or from the thread) */
		if (r == 0 && s->master)
			r = identity_locked(s, "when the guest chose bypass");
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int dma_space_map(struct dma_space *s, uint64_t iova, uint64_t gpa,
		  uint64_t size, uint32_t flags)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = s->translated ?
		    assign_guestmem_guest_map(s->gm, iova, gpa, size, flags) :
		    -EPERM;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int dma_space_unmap(struct dma_space *s, uint64_t iova, uint64_t size)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = s->translated ? assign_guestmem_guest_unmap(s->gm, iova, size) :
			    -EPERM;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int dma_space_get_stats(struct dma_space *s, struct assign_guestmem_stats *st)
{
	int r = -ENODEV;

	pthread_mutex_lock(&s->lock);
	if (s->gm)
		r = assign_guestmem_get_stats(s->gm, st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* The spaces as the host side of virtio-iommu endpoints (viommu.c) */
static int vo_set_translated(void *ep, bool on)
{
	return dma_space_set_translated(ep, on);
}

static int vo_map(void *ep, uint64_t iova, uint64_t gpa, uint64_t size,
		  uint32_t flags)
{
	return dma_space_map(ep, iova, gpa, size, flags);
}

static int vo_unmap(void *ep, uint64_t iova, uint64_t size)
{
	return dma_space_unmap(ep, iova, size);
}

const struct viommu_host_ops dma_viommu_ops = {
	.set_translated = vo_set_translated,
	.map = vo_map,
	.unmap = vo_unmap,
};

/* ---- the mapping thread -------------------------------------------------- */

static void *dma_thread(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < dma.nspaces; i++) {
		struct dma_space *s = dma.spaces[i];
		int r = 0;

		pthread_mutex_lock(&s->lock);
		if (!s->translated && !s->identity && !stopping(s))
			r = identity_locked(s, dma.how);
		pthread_mutex_unlock(&s->lock);
		if (r < 0 && r != -ECANCELED) {
			vm_request_stop(s->vm, 1, "DMA mapping failed");
			break;
		}
	}
	return NULL;
}

/* Join the mapping thread if it runs; with dma.lock held. */
static void join_locked(void)
{
	if (!dma.running)
		return;
	pthread_join(dma.thread, NULL);
	dma.running = false;
}

void dma_stop(void)
{
	__atomic_store_n(&dma.stop, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&dma.lock);
	join_locked();
	pthread_mutex_unlock(&dma.lock);
}

/* ---- the gate ------------------------------------------------------------ */

bool dma_bus_master(struct dma_space *s, const char *dev, bool *seen)
{
	double t = vmm_elapsed();
	bool waited = false, translated = false;
	int r = 0;

	if (!s->gm) /* never started: no mapping, no master */
		r = -ENODEV;
	if (r == 0 && pthread_mutex_trylock(&s->lock) != 0) {
		waited = true; /* the thread maps it right now */
		pthread_mutex_lock(&s->lock);
	}
	if (r == 0) {
		s->master = true;
		translated = s->translated;
		if (!translated && !s->identity) {
			waited = true;
			r = identity_locked(
				s, dma.deferred ?
					   "on demand, at the first Bus Master "
					   "Enable" :
					   "at the first Bus Master "
					   "Enable");
		}
		pthread_mutex_unlock(&s->lock);
		if (!*seen && translated)
			vmm_info("%s: bus master enabled at %.3f s: the "
				 "guest's IOMMU translates, no wait",
				 dev, t);
		else if (!*seen && waited)
			vmm_info("%s: bus master enabled at %.3f s: waited "
				 "%.3f s for the DMA mapping",
				 dev, t, vmm_elapsed() - t);
		else if (!*seen)
			vmm_info("%s: bus master enabled at %.3f s: DMA "
				 "mapping was ready (since %.3f s), no wait",
				 dev, t, s->t_end);
		*seen = true;
	}
	if (r < 0) {
		vm_request_stop(s->vm, 1,
				"bus master enable without a DMA "
				"mapping");
		return false;
	}
	return true;
}

/* ---- setup --------------------------------------------------------------- */

static int check_memlock(struct dma_space *s)
{
	/* the library also knows that CAP_IPC_LOCK held inside a user
	 * namespace does not lift the kernel's limit */
	int r = assign_iommu_check_memlock(s->iommu, s->vm->ram_size);
	if (r < 0)
		vmm_err("cannot map guest RAM for DMA: %s",
			assign_ctx_get_last_error(s->vm->ctx));
	return r;
}

/* All guest RAM is pinned for DMA, so all of it must be in host memory at
 * once (in every space: the same pages). Without this check a --mem beyond what the host has boots the
 * guest, and the pinning, or the guest later, wakes the OOM killer. The
 * memlock limit does not catch it: root, CAP_IPC_LOCK or "ulimit -l
 * unlimited" lift it. MemAvailable is the kernel's estimate of what can
 * be had without swapping; unreadable (no /proc), the check is skipped. */
static int check_host_memory(struct vm *vm)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kib = 0;
	bool found = false;
	char line[128];
	while (f && !found && fgets(line, sizeof line, f))
		found = sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
	if (f)
		fclose(f);
	if (!found || vm->ram_size <= (uint64_t)kib << 10)
		return 0;
	vmm_err("cannot map guest RAM for DMA: all %llu MiB of it would be "
		"pinned, but the host has %llu MiB available (MemAvailable "
		"in /proc/meminfo); lower --mem to at most %lluM or free host "
		"memory",
		(unsigned long long)(vm->ram_size >> 20), kib >> 10, kib >> 10);
	return -ENOMEM;
}

/* Everything that can fail for bad input, then the RAM registered (the
 * space maps nothing yet). */
static int space_prepare(struct dma_space *s)
{
	struct assign_guestmem_opts o = {
		.size = sizeof o,
		.policy = ASSIGN_GUESTMEM_GUEST_IOMMU,
		/* No ASSIGN_GUESTMEM_F_PREFAULT: prefaulting spreads the
		 * page faults over every CPU to shorten a mapping that the
		 * caller waits for; this one runs beside the booting guest,
		 * whose vCPUs need those CPUs. One thread pinning is off the
		 * critical path (measured in the lab: inner init 3.0-3.2 s
		 * after start without prefault, 4.1-4.9 s with it). */
		.flags = 0,
		.progress = progress,
		.progress_data = s,
	};
	struct vm *vm = s->vm;
	uint32_t avail;
	int r = assign_guestmem_new(s->iommu, &o, &s->gm);

	if (r == 0)
		r = assign_guestmem_check_layout(s->gm, dma.reg, dma.nreg, NULL,
						 0, NULL);
	if (r < 0) {
		vmm_err("cannot map guest RAM for DMA: %s",
			assign_ctx_get_last_error(vm->ctx));
		return r;
	}
	r = check_memlock(s);
	if (r < 0)
		return r;
	if (assign_iommu_get_dma_avail(s->iommu, &avail) == 0 &&
	    avail < dma.nreg) {
		vmm_err("cannot map guest RAM for DMA: the kernel allows only "
			"%u more DMA mappings; raise vfio_iommu_type1's "
			"dma_entry_limit",
			avail);
		return -ENOSPC;
	}
	r = assign_guestmem_add_regions(s->gm, dma.reg, dma.nreg, NULL, 0,
					NULL);
	if (r < 0)
		vmm_err("cannot register guest RAM for DMA: %s",
			assign_ctx_get_last_error(vm->ctx));
	return r;
}

int dma_start(struct vm *vm, enum vmm_dma_mode mode)
{
	int r;

	if (!dma.nspaces || dma.started) /* no device, or already started */
		return 0;
	dma.started = true;
	dma.reg[0] = (struct assign_guestmem_region){ .size = sizeof dma.reg[0],
						      .gpa = 0,
						      .length = vm->low_size,
						      .vaddr = vm->ram,
						      .fd = -1 };
	dma.reg[1] = (struct assign_guestmem_region){ .size = sizeof dma.reg[1],
						      .gpa = HIGH_RAM_START,
						      .length = vm->high_size,
						      .vaddr = vm->ram +
							       vm->low_size,
						      .fd = -1 };
	dma.nreg = vm->high_size ? 2 : 1;
	r = check_host_memory(vm);
	if (r < 0)
		return r;
	for (size_t i = 0; i < dma.nspaces; i++) {
		r = space_prepare(dma.spaces[i]);
		if (r < 0)
			return r;
	}

	if (mode == VMM_DMA_ON_DEMAND) {
		dma.deferred = true;
		dma.how = "on demand, at the first Bus Master Enable";
		vmm_info("guest RAM will be mapped for DMA when a device first "
			 "enables bus mastering");
		return 0;
	}
	if (mode == VMM_DMA_BACKGROUND) {
		/* the thread starts in dma_run_background(), once the vCPU
		 * threads exist */
		dma.how = "in the background";
		dma.background = true;
		return 0;
	}
	dma.how = "before boot";
	for (size_t i = 0; i < dma.nspaces; i++) {
		struct dma_space *s = dma.spaces[i];

		pthread_mutex_lock(&s->lock);
		r = s->translated ? 0 : identity_locked(s, dma.how);
		pthread_mutex_unlock(&s->lock);
		if (r < 0)
			return r;
	}
	return 0;
}

void dma_run_background(void)
{
	if (!dma.background)
		return;
	dma.background = false;
	pthread_mutex_lock(&dma.lock);
	if (pthread_create(&dma.thread, NULL, dma_thread, NULL) == 0) {
		dma.running = true;
		vmm_info("mapping guest RAM for DMA in the background from "
			 "%.3f s",
			 vmm_elapsed());
	} else {
		/* the gate maps it then, as with --dma-map on-demand */
		vmm_info("cannot start the DMA mapping thread: guest RAM will "
			 "be mapped when a device first enables bus mastering");
	}
	pthread_mutex_unlock(&dma.lock);
}

/* The devices are gone: unpin guest RAM, release the IOMMUs. */
void dma_cleanup(void)
{
	dma_stop();
	for (size_t i = 0; i < dma.nspaces; i++) {
		struct dma_space *s = dma.spaces[i];

		s->gm = assign_guestmem_unref(s->gm);
		s->iommu = assign_iommu_unref(s->iommu);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	dma.nspaces = 0;
}
