/* SPDX-License-Identifier: MIT */
/*
 * The VMM layer's internal header (docs/architecture.md): what a VMM
 * builds on top of an assigned device, each piece public in its own
 * header: the guest memory policy (guestmem*.c, <libassign/guestmem.h>),
 * the guest-facing virtual PCI function (vpci*.c, <libassign/vpci.h>) and
 * the KVM glue (kvm*.c, <libassign/kvm.h>). Never installed.
 */
#ifndef LIBASSIGN_VMM_INTERNAL_H
#define LIBASSIGN_VMM_INTERNAL_H

#include <pthread.h>

#include <libassign/guestmem.h>
#include <libassign/kvm.h>
#include <libassign/vpci.h>

#include "device/device.h"
#include "iommu/iommu.h"

/* ---------------------------------------------------------------------- */
/* The guest memory policy (docs/guestmem.md)
 *
 * guestmem.c          the object, its registered RAM, policy switches,
 *                     lookup and counters
 * guestmem_layout.c   checks of proposed RAM: form, overlaps, geometry
 * guestmem_mapall.c   map-all: chunking, mapping all RAM, discard
 * guestmem_prefault.c populating RAM on several threads before map-all
 * guestmem_shadow.c   the guest IOMMU: shadowing its maps and unmaps
 *
 * The policy keeps no table of DMA mappings: its mappings are records of
 * the IOMMU object's one table (iommu/iommu.h), made with
 * iommu_map_prepared() as IOMMU_MAP_CHUNK (map-all) or IOMMU_MAP_SHADOW
 * (guest IOMMU) with their guest physical address, and found again with
 * gm_first()/gm_next(), which pass over the caller's own mappings
 * (IOMMU_MAP_DIRECT). What only the policy knows stays here: the
 * registered RAM and the operation counters.
 */

#define GM_KNOWN_FLAGS (ASSIGN_GUESTMEM_F_PREFAULT | ASSIGN_GUESTMEM_F_MERGE)
#define GM_REGION_KNOWN_FLAGS (ASSIGN_GUESTMEM_REGION_F_READONLY)

/* One registered range of guest RAM. */
struct gm_region {
	uint64_t gpa;
	uint64_t length;
	uint8_t *vaddr;
	int fd;
	uint64_t fd_offset;
	uint64_t page_size;
	uint32_t flags;
};

struct assign_guestmem {
	int refcount;
	pthread_mutex_t lock;
	struct assign_iommu *iommu;
	struct assign_ctx *ctx;
	enum assign_guestmem_policy policy;
	uint32_t flags;
	unsigned int prefault_threads;
	int (*progress)(void *data, uint64_t done, uint64_t total);
	void *progress_data;
	uint64_t chunk_max;

	struct gm_region *regions; /* sorted by gpa, disjoint */
	size_t nregions, cap_regions;

	uint64_t pgsizes; /* 0 until read from the IOMMU */
	uint64_t min_page; /* lowest bit of pgsizes */

	/* ram_bytes and the operation counters; the mapping counts are the
	 * IOMMU table's (assign_guestmem_get_stats()). */
	struct assign_guestmem_stats stats;
};

/* A mapping of the policy by value: what it takes to map it again after
 * its record is gone. */
struct gm_span {
	uint64_t iova;
	uint64_t size;
	uint64_t gpa;
	uint8_t *vaddr;
	uint32_t perms;
	enum iommu_map_kind kind;
};

/* Progress of one map-all, prefault and mapping together. */
struct gm_progress {
	struct assign_guestmem *gm;
	uint64_t done, total;
};

/* The policy's requests to the IOMMU layer, counted (host_maps and
 * host_unmaps of the stats): each is one kernel call, a map-many one per
 * mapping. */
static inline int gm_map(struct assign_guestmem *gm, uint64_t iova, void *vaddr,
			 uint64_t size, uint32_t flags,
			 enum iommu_map_kind kind, uint64_t gpa)
{
	gm->stats.host_maps++;
	return iommu_map_prepared(gm->iommu, iova, vaddr, size, flags, kind,
				  gpa);
}

static inline int gm_map_many(struct assign_guestmem *gm,
			      const struct assign_dma_map *maps, size_t n,
			      enum iommu_map_kind kind, const uint64_t *gpas)
{
	gm->stats.host_maps += n;
	return iommu_map_many_prepared(gm->iommu, maps, n, kind, gpas);
}

static inline int gm_unmap(struct assign_guestmem *gm,
			   const struct iommu_mapping *m)
{
	gm->stats.host_unmaps++;
	return iommu_unmap_mapping(gm->iommu, m);
}

static inline bool gm_aligned(uint64_t v, uint64_t a)
{
	return (v & (a - 1)) == 0;
}

static inline uint32_t gm_region_perms(const struct gm_region *r)
{
	return (r->flags & ASSIGN_GUESTMEM_REGION_F_READONLY) ?
		       ASSIGN_DMA_F_READ :
		       ASSIGN_DMA_F_RW;
}

/* Index of the region containing @gpa (*hit), or of the first region
 * after it. Binary search: on the guest-IOMMU path of every map. */
static inline size_t gm_region_search(const struct assign_guestmem *gm,
				      uint64_t gpa, bool *hit)
{
	size_t lo = 0, hi = gm->nregions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct gm_region *r = &gm->regions[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->length)
			lo = mid + 1;
		else {
			*hit = true;
			return mid;
		}
	}
	*hit = false;
	return lo;
}

/* The policy's lowest mapping overlapping [start, last], or NULL; the
 * caller's own mappings are passed over. */
static inline const struct iommu_mapping *
gm_first(const struct assign_guestmem *gm, uint64_t start, uint64_t last)
{
	const struct iommu_mapping *m =
		iommu_mapping_first(gm->iommu, start, last);

	while (m && !iommu_mapping_is_policy(m)) {
		m = iommu_mapping_next(m);
		if (m && m->node.start > last)
			return NULL;
	}
	return m;
}

/* The policy's next mapping after @m starting at or before @last, or
 * NULL. */
static inline const struct iommu_mapping *gm_next(const struct iommu_mapping *m,
						  uint64_t last)
{
	do {
		/* Disjoint: nothing after a mapping reaching @last is in
		 * range. */
		if (m->node.last >= last)
			return NULL;
		m = iommu_mapping_next(m);
		if (!m || m->node.start > last)
			return NULL;
	} while (!iommu_mapping_is_policy(m));
	return m;
}

static inline struct gm_span gm_span_of(const struct iommu_mapping *m)
{
	return (struct gm_span){
		.iova = m->node.start,
		.size = iommu_mapping_size(m),
		.gpa = m->gpa,
		.vaddr = m->vaddr,
		.perms = m->flags,
		.kind = m->kind,
	};
}

/* guestmem.c */
/* Keep the message a lower layer set, prefixed with what we were doing. */
int gm_wrap_error(struct assign_ctx *ctx, int err, const char *fmt, ...)
	ASSIGN_PRINTF(3, 4);
/* Read the IOMMU page sizes (once a device is attached). */
int gm_load_pgsizes(struct assign_guestmem *gm);
/* Map @s again (same IOVA, host address, GPA, permissions and kind). */
int gm_span_map(struct assign_guestmem *gm, const struct gm_span *s);

/* guestmem_layout.c: form and overlap checks of proposed regions, then,
 * if @geometry, the IOMMU's layout check for IOVA = GPA. Up to @max
 * conflicts go to @conflicts, their number to *count. */
int gm_check_regions(struct assign_guestmem *gm,
		     const struct assign_guestmem_region *regs, size_t n,
		     bool geometry, struct assign_conflict *conflicts,
		     size_t max, size_t *count);
/* guestmem_layout.c: the caller's array of regions (stepped through by
 * its first element's size) copied into *@out, an array of this
 * library's struct (free() it), each element's size set to
 * sizeof(struct assign_guestmem_region) when it is well formed, to
 * something else when gm_check_regions() must refuse it. */
int gm_regions_in(struct assign_guestmem *gm,
		  const struct assign_guestmem_region *in, size_t n,
		  struct assign_guestmem_region **out);
/* guestmem_layout.c: the registered RAM against the geometry, for a
 * switch to map-all. */
int gm_check_registered(struct assign_guestmem *gm);

/* guestmem_mapall.c: map @regs at IOVA = GPA in aligned chunks, all or
 * nothing; the caller checked the layout. */
int gm_mapall_regions(struct assign_guestmem *gm, const struct gm_region *regs,
		      size_t n);
/* guestmem_mapall.c: unmap the chunks overlapping [gpa, last] and map
 * what remains of them again. */
int gm_mapall_remove(struct assign_guestmem *gm, uint64_t gpa, uint64_t last);
/* guestmem_mapall.c: tell the progress callback; -ECANCELED if it asks
 * to stop. */
int gm_progress_report(struct gm_progress *pr);

/* guestmem_prefault.c: populate @regs before they are mapped. */
int gm_prefault_regions(struct assign_guestmem *gm,
			const struct gm_region *regs, size_t n,
			struct gm_progress *pr);

/* guestmem_shadow.c: cut every guest mapping that translates into
 * [gpa, last] (RAM taken away under the guest-IOMMU policy). */
int gm_shadow_remove(struct assign_guestmem *gm, uint64_t gpa, uint64_t last);

/* ---------------------------------------------------------------------- */
/* The virtual PCI function (docs/vpci.md)
 *
 * vpci.c       the object, its construction and reset, and the virtual
 *              config space: which bytes are emulated, what the guest may
 *              write in them, what a write changes
 * vpci_bars.c  the BARs: their registers, placement in the guest
 *              (bar_map/bar_unmap), the direct and trapped parts, and
 *              trapped BAR accesses
 * vpci_irq.c   the interrupts: INTx, the MSI and MSI-X capabilities, the
 *              virtual MSI-X table and PBA, and vector updates
 *
 * The functions below run with the object's lock held, or while no other
 * thread can reach the object (construction, the last unref); the one
 * exception is vpci_region_access() for a ROM read, which touches no
 * state of the object.
 */

/* The emulated part of config space: the bytes below it may be emulated. */
#define VPCI_EMU_SIZE 256u
#define VPCI_MSI_MAX 32u /* MSI vectors a function can have */

struct vbar {
	bool present, io, mem64, prefetch;
	uint64_t size;
	void *host; /* assign_region_mmap() base or NULL */
	struct assign_vpci_bar_part *parts;
	size_t nparts;
	bool mapped;
	uint64_t gpa;
};

struct vvec {
	int efd;
	bool reported;
	struct assign_vpci_vector last;
};

struct assign_vpci {
	int refcount;
	struct assign_ctx *ctx;
	struct assign_device *dev;
	pthread_mutex_t lock;
	struct assign_vpci_ops ops;
	void *data;
	uint32_t flags;
	size_t cfg_size;
	/* The device's own config region: shorter than cfg_size for the
	 * kernel's mtty (255 bytes); past it, reads are 0 and writes
	 * dropped, as for registers a function does not implement. */
	uint64_t dev_cfg_len;
	uint64_t page;

	uint8_t shadow[VPCI_EMU_SIZE]; /* emulated bytes */
	uint8_t init[VPCI_EMU_SIZE]; /* shadow at creation, for reset */
	uint8_t emu[VPCI_EMU_SIZE]; /* 1: byte emulated */
	uint8_t wmask[VPCI_EMU_SIZE]; /* guest-writable bits of emulated bytes */
	uint16_t command; /* the guest's command register */
	struct vbar bars[ASSIGN_VPCI_NUM_BARS];

	bool has_msix;
	struct assign_pci_msix msix;
	uint32_t msix_nvec; /* vectors the kernel offers */
	uint8_t *table; /* table_size * 16 bytes */
	struct vvec *msix_vec; /* msix_nvec entries */
	bool msix_on;

	bool has_msi;
	struct assign_pci_msi msi;
	uint16_t msi_end; /* end of the emulated MSI bytes */
	uint8_t msi_mmc; /* log2 of the vectors offered (Multiple Message
			    Capable): the device's and VFIO's least */
	uint32_t msi_nvec; /* vectors enabled: 2^MME when MSI went on */
	struct vvec msi_vec[VPCI_MSI_MAX];
	bool msi_on;

	uint8_t pin;
	int intx_efd, intx_resample;
	bool intx_on;
	/* The device takes no unmask eventfd (the kernel's mtty sample):
	 * the resample eventfd is read at every access the vpci sees and
	 * INTx unmasked then (vpci_intx_poll()). */
	bool intx_unmask_by_access;

	/* the last vector update, not given yet (report(), vpci_irq.c) */
	struct assign_vpci_vector held;
	bool holding;

	/* messages the guest can repeat at will (core.h) */
	struct assign_log_limit log_bar_overlap, log_intx;
};

/* Little-endian dwords of config space and of the MSI-X table. */
static inline uint32_t vpci_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void vpci_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* The bytes of the MSI-X table and of its PBA (one bit a vector, in
 * qwords). */
static inline uint64_t vpci_msix_table_bytes(const struct assign_pci_msix *x)
{
	return (uint64_t)x->table_size * ASSIGN_PCI_MSIX_ENTRY_SIZE;
}

static inline uint64_t vpci_msix_pba_bytes(const struct assign_pci_msix *x)
{
	return ((uint64_t)x->table_size + 63) / 64 * 8;
}

/* vpci.c: config bytes [off, off + len) are emulated, the guest may write
 * the bits of @wmask in them. */
void vpci_emulate(struct assign_vpci *v, uint32_t off, uint32_t len,
		  uint8_t wmask);

/* vpci_bars.c: the BARs as the device has them (sizes, types, the ROM),
 * their registers emulated. */
int vpci_bars_setup(struct assign_vpci *v);
/* vpci_bars.c: every present BAR cut into direct and trapped parts; after
 * the MSI-X capability is known (its table and PBA pages trap). */
int vpci_bars_setup_parts(struct assign_vpci *v);
/* vpci_bars.c: the mmaps and parts go (after vpci_bar_unmap()). */
void vpci_bars_free(struct assign_vpci *v);
/* vpci_bars.c: a write landed on BAR register @r (0-5), or on the ROM
 * BAR: keep the address bits only. */
void vpci_bar_reg_fixup(struct assign_vpci *v, uint32_t r);
void vpci_rom_reg_fixup(struct assign_vpci *v);
/* vpci_bars.c: bring the mappings in line with the command register and
 * the BARs (bar_map/bar_unmap callbacks). */
void vpci_bars_update(struct assign_vpci *v);
/* vpci_bars.c: take BAR @i out of the guest, if it is mapped. */
void vpci_bar_unmap(struct assign_vpci *v, uint32_t i);
/* vpci_bars.c: a trapped access the device answers: region @index at
 * @off; a failed read reads all-ones. */
int vpci_region_access(struct assign_vpci *v, uint32_t index, uint64_t off,
		       uint8_t *p, size_t len, bool is_write);

/* vpci_irq.c: the capabilities, parsed from @cfg, emulated. */
int vpci_msix_setup(struct assign_vpci *v, const uint8_t *cfg);
int vpci_msi_setup(struct assign_vpci *v, const uint8_t *cfg);
/* vpci_irq.c: the interrupt line and pin emulated; INTx armed when the
 * device has a pin with eventfds. */
int vpci_intx_setup(struct assign_vpci *v, const uint8_t *cfg);
/* vpci_irq.c: INTx on or off; @notify: tell intx_update. */
int vpci_intx_set(struct assign_vpci *v, bool on, bool notify);
/* vpci_irq.c: with the lock held, at a guest access: unmask INTx if the
 * guest ended its interrupt (the resample eventfd fired) and the device
 * could not be told to unmask on that eventfd itself. */
void vpci_intx_poll(struct assign_vpci *v);
/* vpci_irq.c: MSI-X or MSI off in the device (vectors reported). */
int vpci_msix_disable(struct assign_vpci *v);
int vpci_msi_disable(struct assign_vpci *v);
/* vpci_irq.c: the guest wrote the MSI-X control word, or somewhere in the
 * MSI capability: enable, disable, report. */
int vpci_msix_control(struct assign_vpci *v);
int vpci_msi_changed(struct assign_vpci *v);
/* vpci_irq.c: MSI's pending bit: enabled, masked and signalled. */
/* The MSI pending bits: vector i is masked and was signalled */
uint32_t vpci_msi_pending(const struct assign_vpci *v);
/* vpci_irq.c: give the vector update held back (report()), at the end
 * of every access that may report. */
void vpci_reports_end(struct assign_vpci *v);
/* vpci_irq.c: [off, off + len) of BAR @bar touches the MSI-X table or
 * PBA, and then vpci_msix_access() does the access. */
bool vpci_msix_touches(const struct assign_vpci *v, uint32_t bar, uint64_t off,
		       size_t len);
int vpci_msix_access(struct assign_vpci *v, uint32_t bar, uint64_t off,
		     uint8_t *p, size_t len, bool is_write);
/* vpci_irq.c: after a device reset (config space back to its first
 * state): the MSI-X table cleared and masked, the vectors reported, INTx
 * re-armed. */
int vpci_irq_reset(struct assign_vpci *v);
/* vpci_irq.c: every interrupt off (callbacks told), eventfds closed, the
 * table and vectors freed. */
void vpci_irq_free(struct assign_vpci *v);

/* ---------------------------------------------------------------------- */
/* The KVM glue (docs/vpci.md)
 *
 * kvm.c      the object and the KVM-VFIO device
 * kvm_irq.c  the GSI routing table, irqfds, and following vpci vectors
 *
 * The functions below run with the object's lock held, or from its last
 * unref.
 */

/* KVM_MAX_IRQ_ROUTES: KVM takes GSIs 0-4095 and at most that many routes */
#define GSI_ROUTES_MAX 4096u

struct route {
	uint32_t gsi;
	bool msi;
	uint32_t irqchip, pin;
	uint64_t addr;
	uint32_t data;
};

struct irqfd {
	int efd;
	uint32_t gsi;
};

struct vfile {
	struct assign_device *dev; /* reference held */
	int fd; /* group fd or device fd */
};

struct vtrack { /* a vpci vector followed */
	int efd;
	uint32_t gsi;
	bool have_gsi;
	bool attached;
	/* unmasked in this batch: attached at its end, after the push */
	bool pending;
};

struct assign_kvm {
	int refcount;
	pthread_mutex_t lock;
	struct assign_ctx *ctx;
	int vm_fd;
	int vfio_fd; /* KVM-VFIO device, -1 until needed */
	uint32_t gsi_base, gsi_limit;
	/* MSI GSIs in use: bit n is gsi_base + n */
	uint64_t *gsi_map;
	/* The table as it should be; dirty: KVM has another one; must_push:
	 * KVM must get it by the end of the batch (see "routing" below) */
	struct route *routes;
	size_t nroutes;
	bool dirty;
	bool must_push;
	unsigned long pushes; /* for the debug log */
	struct irqfd *irqfds;
	size_t nirqfds;
	struct vfile *files;
	size_t nfiles;
	struct vtrack *vt;
	size_t nvt;
	/* vt entries with pending set */
	size_t npending;
	/* table pushes follow guest vector changes (core.h) */
	struct assign_log_limit log_push;
};

/* kvm.c: make room in *arrp (n elements of size sz) for one more. */
int kvm_grow(void *arrp, size_t n, size_t sz);

/* kvm_irq.c: from the last unref: every irqfd deassigned; the routes,
 * irqfds and followed vectors freed. */
void kvm_irq_release(struct assign_kvm *k);

#endif /* LIBASSIGN_VMM_INTERNAL_H */
