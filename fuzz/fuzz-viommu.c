// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the example VMM's virtio-iommu (examples/assign-vmm/
 * viommu.c, included here so its state can be checked, and virtio.c,
 * linked unchanged): the request parser and its domains, driven by a
 * hostile guest, both directly and through the virtio-pci transport (BAR
 * accesses, virtqueues built in guest RAM).
 *
 * Three endpoints (requester IDs 0x08, 0x10, 0x18) sit on fake host
 * address spaces that record what they are asked: translated (only what
 * is mapped), identity (all RAM) or nothing. Their calls are checked as
 * they come: a map only into a translated space, never over a mapping it
 * has, only of whole guest RAM pages; an unmap only of exactly what it
 * mapped. After every operation the device's state must match the host's:
 *  - an endpoint attached to a translated domain: its host space is
 *    translated and holds exactly the domain's mappings (those with a
 *    permission), nothing else of guest RAM;
 *  - an endpoint attached to a bypass domain, or not attached: nothing
 *    mapped, and identity only when bypass says so (or the domain does);
 *  - every domain has the endpoints that point to it, at least one, and
 *    no more mappings than its budget.
 * Host calls fail on request (map, mode switch), as a kernel out of DMA
 * entries or memory would; the checks hold then too. Everything is freed
 * at the end (LeakSanitizer).
 *
 * Input: records of a u8 op:
 *   0 request: u8 readable length (<= 96), u16 writable length (<= 1200),
 *     the readable bytes -> viommu_request(); the answer must be 0 or the
 *     writable length, with a status 0-8 in its last byte
 *   1 fail: u8 mask: bit 0 the next map, bit 1 the next mode switch
 *   2 features: u8 (bit 0 PROBE, bit 1 BYPASS_CONFIG negotiated)
 *   3 config write: u8 offset, u8 value (bypass is at 36)
 *   4 device reset
 *   5 BAR access: u8 write?, u16 offset, u8 size (1, 2, 4), u32 value
 *   6 guest RAM write: u16 offset, u8 length, the bytes
 *   7 PCI config access: u8 write?, u8 offset, u8 size, u32 value
 */
#include <errno.h>
#include <stdarg.h>

#include "fuzz.h"
#include "viommu.c"

#define RAM_SIZE (64u << 10)
#define NEP 3
#define MAXMAP 4096

/* ---- the rest of the VMM, as viommu.c and virtio.c see it ---------------- */

int vmm_verbose;

void vmm_err(const char *fmt, ...)
{
	(void)fmt;
}

void vmm_info(const char *fmt, ...)
{
	(void)fmt;
}

static uint8_t *ram;
static struct vm the_vm;

void *gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa || gpa + len > RAM_SIZE)
		return NULL;
	return ram + gpa;
}

static unsigned intx_gsi;

void vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	FUZZ_CHECK(gsi == intx_gsi);
	FUZZ_CHECK(level == 0 || level == 1);
}

static io_handler bar_fn;
static void *bar_opaque;
static uint64_t bar_base;

int io_register(enum io_space space, uint64_t base, uint64_t len, io_handler fn,
		void *opaque)
{
	FUZZ_CHECK(space == IO_MMIO && !bar_fn && len == 0x4000);
	FUZZ_CHECK(base >= RAM_SIZE && base + len <= IOAPIC_ADDR);
	bar_fn = fn;
	bar_opaque = opaque;
	bar_base = base;
	return 0;
}

void io_unregister(enum io_space space, uint64_t base, void *opaque)
{
	FUZZ_CHECK(bar_fn && base == bar_base && opaque == bar_opaque);
	bar_fn = NULL;
}

static const struct pci_device_ops *pci_ops;
static void *pci_opaque;

int pci_add_device(const struct pci_device_ops *ops, void *opaque)
{
	pci_ops = ops;
	pci_opaque = opaque;
	return 3;
}

unsigned pci_intx_gsi(int slot, int pin)
{
	return PCI_IRQ_BASE + (unsigned)((slot - 1 + pin - 1) & 7);
}

uint64_t pci_alloc_mmio(uint64_t size)
{
	return PCI_MMIO_START;
}

/* viommu_setup() is the VMM's: not called here */
const struct viommu_host_ops dma_viommu_ops;

struct assign_iommu *dma_space_iommu(const struct dma_space *s)
{
	return NULL;
}

struct dma_space *assign_device_space(const struct assigned *d)
{
	return NULL;
}

int assign_device_slot(const struct assigned *d)
{
	return 0;
}

const char *assign_device_name(const struct assigned *d)
{
	return "";
}

int dma_space_get_stats(struct dma_space *s, struct assign_guestmem_stats *st)
{
	return -ENODEV;
}

/* ---- fake host address spaces -------------------------------------------- */

enum hmode { H_NOTHING, H_IDENTITY, H_TRANSLATED };

struct hmap {
	uint64_t iova, size, gpa;
	uint32_t flags;
};

struct host {
	enum hmode mode;
	struct hmap *maps;
	size_t n;
} hosts[NEP];

static uint8_t fail_next;

static int h_set_translated(void *ep, bool on)
{
	struct host *h = ep;

	h->n = 0; /* the old mappings go first */
	if (fail_next & 2) {
		fail_next &= (uint8_t)~2;
		h->mode = on ? H_TRANSLATED : H_NOTHING;
		return on ? -EIO : -ENOMEM;
	}
	h->mode = on ? H_TRANSLATED : H_IDENTITY;
	return 0;
}

static int h_map(void *ep, uint64_t iova, uint64_t gpa, uint64_t size,
		 uint32_t flags)
{
	struct host *h = ep;

	FUZZ_CHECK(h->mode == H_TRANSLATED);
	FUZZ_CHECK(size && !(iova & 0xfff) && !(size & 0xfff) &&
		   !(gpa & 0xfff) && iova + size - 1 >= iova);
	FUZZ_CHECK(flags && !(flags & ~(uint32_t)ASSIGN_DMA_F_RW));
	for (size_t i = 0; i < h->n; i++)
		FUZZ_CHECK(iova + size <= h->maps[i].iova ||
			   h->maps[i].iova + h->maps[i].size <= iova);
	if (fail_next & 1) {
		fail_next &= (uint8_t)~1;
		return -ENOSPC;
	}
	if (gpa + size < gpa || gpa + size > RAM_SIZE)
		return -EFAULT; /* not guest RAM, as guestmem says */
	if (h->n == MAXMAP)
		return -ENOSPC;
	h->maps[h->n++] = (struct hmap){ iova, size, gpa, flags };
	return 0;
}

static int h_unmap(void *ep, uint64_t iova, uint64_t size)
{
	struct host *h = ep;

	FUZZ_CHECK(h->mode == H_TRANSLATED);
	for (size_t i = 0; i < h->n; i++) {
		if (h->maps[i].iova == iova && h->maps[i].size == size) {
			h->maps[i] = h->maps[--h->n];
			return 0;
		}
	}
	FUZZ_CHECK(!"unmap of something never mapped");
	return -ENOENT;
}

static const struct viommu_host_ops host_ops = {
	.set_translated = h_set_translated,
	.map = h_map,
	.unmap = h_unmap,
};

/* ---- checks -------------------------------------------------------------- */

static size_t dom_count, dom_with_perm;
static struct host *host_check;

/* every mapping of the domain: well formed, counted, and when it has a
 * permission, in the host space being checked */
static void domain_one(const void *node, VISIT which, void *data)
{
	const struct vmapping *m = *(struct vmapping *const *)node;
	bool found = false;

	(void)data;
	if (which != postorder && which != leaf)
		return;
	dom_count++;
	FUZZ_CHECK(m->iova <= m->last);
	if (!m->flags)
		return;
	dom_with_perm++;
	if (!host_check)
		return;
	for (size_t i = 0; i < host_check->n; i++)
		found |= host_check->maps[i].iova == m->iova &&
			 host_check->maps[i].size == m->last - m->iova + 1 &&
			 host_check->maps[i].gpa == m->gpa &&
			 host_check->maps[i].flags == m->flags;
	FUZZ_CHECK(found);
}

static void walk_domain(struct vdomain *d, struct host *h)
{
	dom_count = dom_with_perm = 0;
	host_check = h;
	twalk_r(d->tree, domain_one, NULL);
}

static void check(struct viommu *v)
{
	for (struct vdomain *d = v->domains; d; d = d->next) {
		unsigned n = 0;

		for (size_t i = 0; i < v->neps; i++)
			n += v->eps[i].domain == d;
		FUZZ_CHECK(n && n == d->nendpoints);
		FUZZ_CHECK(d->nmappings <= VIOMMU_MAX_MAPPINGS);
		FUZZ_CHECK(!d->bypass || !d->nmappings);
		walk_domain(d, NULL);
		FUZZ_CHECK(dom_count == d->nmappings);
		for (struct vdomain *o = d->next; o; o = o->next)
			FUZZ_CHECK(o->id != d->id);
	}
	for (size_t i = 0; i < v->neps; i++) {
		const struct vendpoint *e = &v->eps[i];
		struct host *h = e->ep;
		struct vdomain *d = e->domain;

		if (d && !d->bypass) {
			/* exactly the domain's mappings: each of the
			 * domain's is there, and there are no others */
			FUZZ_CHECK(h->mode == H_TRANSLATED);
			walk_domain(d, h);
			FUZZ_CHECK(h->n == dom_with_perm);
		} else {
			FUZZ_CHECK(h->n == 0);
			if (h->mode == H_IDENTITY)
				FUZZ_CHECK(d ? d->bypass : v->bypass);
		}
	}
}

/* ---- the input ----------------------------------------------------------- */

static void op_request(struct viommu *v, struct fuzz_in *in)
{
	uint8_t inlen = fuzz_u8(in) % 97;
	uint16_t outlen = fuzz_u16(in) % 1201;
	size_t got, n;
	uint8_t *req = fuzz_bytes(in, inlen, &got);
	uint8_t *out = malloc(outlen ? outlen : 1);

	if (!out)
		abort();
	n = viommu_request(v, req, got, out, outlen);
	FUZZ_CHECK(n == 0 || n == outlen);
	if (n)
		FUZZ_CHECK(out[outlen - 4] <= VIRTIO_IOMMU_S_NOMEM);
	free(out);
	free(req);
}

static void op_bar(struct fuzz_in *in)
{
	bool w = fuzz_u8(in) & 1;
	uint16_t off = fuzz_u16(in) % 0x4000;
	unsigned size = 1u << (fuzz_u8(in) % 3);
	uint32_t val = fuzz_u32(in);

	if (!bar_fn || off + size > 0x4000)
		return;
	bar_fn(bar_opaque, off, &val, size, w);
}

static void op_ram(struct fuzz_in *in)
{
	uint16_t off = fuzz_u16(in);
	uint8_t len = fuzz_u8(in);
	size_t got;
	uint8_t *b = fuzz_bytes(in, len, &got);

	if (off + got <= RAM_SIZE)
		memcpy(ram + off, b, got);
	free(b);
}

static void op_cfg(struct fuzz_in *in)
{
	bool w = fuzz_u8(in) & 1;
	uint8_t off = fuzz_u8(in);
	unsigned size = 1u << (fuzz_u8(in) % 3);
	uint32_t val = fuzz_u32(in);

	off &= (uint8_t) ~(size - 1);
	if (w)
		pci_ops->cfg_write(pci_opaque, off, size, val);
	else
		pci_ops->cfg_read(pci_opaque, off, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct assign_iova_range ranges[] = {
		{ 0, 0xfedfffff },
		{ 0xfef00000, (1ull << 39) - 1 },
	};
	static const struct assign_reserved_region msi = { 0xfee00000,
							   0xfeefffff, "msi" };
	struct viommu_geometry g = { 0x40201000, ranges, 2, &msi, 1 };
	struct viommu *v;
	struct fuzz_in in;

	fuzz_in_init(&in, data, size);
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		abort();
	memset(hosts, 0, sizeof(hosts));
	for (int i = 0; i < NEP; i++) {
		hosts[i].maps = calloc(MAXMAP, sizeof(struct hmap));
		if (!hosts[i].maps)
			abort();
		hosts[i].mode = H_IDENTITY; /* bypass at boot */
	}
	fail_next = 0;
	bar_fn = NULL;
	the_vm.low_size = RAM_SIZE;
	FUZZ_CHECK(viommu_new(&the_vm, &host_ops, &v) == 0);
	for (int i = 0; i < NEP; i++)
		FUZZ_CHECK(viommu_add_endpoint(v, (uint32_t)(i + 1) << 3,
					       &hosts[i], &g) == 0);
	FUZZ_CHECK(viommu_plug(v) == 0);
	intx_gsi = pci_intx_gsi(3, 1);
	check(v);
	while (in.left) {
		switch (fuzz_u8(&in) % 8) {
		case 0:
			op_request(v, &in);
			break;
		case 1:
			fail_next = fuzz_u8(&in);
			break;
		case 2: {
			uint8_t f = fuzz_u8(&in);

			v->features =
				(f & 1 ? 1ull << VIRTIO_IOMMU_F_PROBE : 0) |
				(f & 2 ? 1ull << VIRTIO_IOMMU_F_BYPASS_CONFIG :
					 0);
			break;
		}
		case 3: {
			uint8_t off = fuzz_u8(&in) % 40, b = fuzz_u8(&in);

			config_write(v, off, &b, 1);
			break;
		}
		case 4:
			reset(v);
			break;
		case 5:
			op_bar(&in);
			break;
		case 6:
			op_ram(&in);
			break;
		case 7:
			op_cfg(&in);
			break;
		}
		check(v);
	}
	viommu_free(v);
	FUZZ_CHECK(!bar_fn);
	for (int i = 0; i < NEP; i++)
		free(hosts[i].maps);
	free(ram);
	return 0;
}
