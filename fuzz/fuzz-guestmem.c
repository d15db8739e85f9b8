// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the guest memory policy (src/vmm/guestmem*.c) under the
 * guest-IOMMU policy, where a guest drives the host IOMMU through its own
 * IOMMU's map and unmap operations (the VMM forwards them; the guest
 * chooses every IOVA, GPA, size and permission), mixed with VMM-side
 * region removal and policy switches.
 *
 * The device and IOMMU come from the hostile fuzz kernel (fuzz-kernel.h),
 * which keeps the DMA mappings the way the kernel does (EEXIST on overlap,
 * no bisecting unmaps) and may fail any map/unmap (FK_OTHER records).
 *
 * Input: fuzz-kernel records; FK_GUEST records are the operations:
 *   u8 op, then u64 a, u64 b, u64 c, u8 perms (sizes and addresses are
 *   taken modulo a 64 MiB window and rounded to pages unless op bit 7 is
 *   set, which passes them raw: unaligned, wrapping, huge).
 *   op 0 guest map (iova a, gpa b, size c), 1 guest unmap (iova a, size
 *   c), 2 lookup (a), 3 remove RAM (gpa a, length c), 4 switch policy.
 *
 * Checked after every operation: the library's count of host mappings
 * and bytes equals the fake kernel's; a lookup result contains the IOVA
 * and translates it to a host address inside the registered RAM that
 * matches the region table; a successful guest map is visible at both
 * ends, a successful unmap leaves both ends unmapped; at the end nothing
 * stays mapped in the kernel.
 */
#include <errno.h>

#include "fuzz-kernel.h"
#include "fuzz.h"
#include <libassign/guestmem.h>
#include <libassign/libassign.h>

#define WINDOW (64ull << 20)
#define PAGE 4096ull

static struct fuzz_kernel fk;
static uint8_t *ram;
/* Guest RAM: [0, 8M) and [16M, 24M) backed by ram[0..16M). */
#define RAM_SIZE (16u << 20)
static const struct {
	uint64_t gpa, len, off;
} layout[2] = { { 0, 8u << 20, 0 }, { 16u << 20, 8u << 20, 8u << 20 } };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setenv("ASSIGN_LOG", "0", 1);
	/* Never touched by the library under the guest-IOMMU policy (no
	 * prefault), and the fake kernel does not pin: address space only. */
	ram = aligned_alloc(PAGE, RAM_SIZE);
	if (!ram)
		abort();
	return 0;
}

static void check_consistent(struct assign_guestmem *gm,
			     struct assign_iommu *iommu)
{
	struct assign_guestmem_stats st = { .size = sizeof(st) };
	struct assign_dma_stats ds = { .size = sizeof(ds) };

	FUZZ_CHECK(assign_guestmem_get_stats(gm, &st) == 0);
	FUZZ_CHECK(assign_iommu_get_dma_stats(iommu, &ds) == 0);
	if (st.host_mappings != fk.ndma || st.mapped_bytes != fk.dma_bytes ||
	    ds.mappings != fk.ndma || ds.bytes != fk.dma_bytes)
		fprintf(stderr,
			"guestmem: %llu mappings/%llu bytes, iommu: %llu/%llu, "
			"kernel: %zu/%llu\n",
			(unsigned long long)st.host_mappings,
			(unsigned long long)st.mapped_bytes,
			(unsigned long long)ds.mappings,
			(unsigned long long)ds.bytes, fk.ndma,
			(unsigned long long)fk.dma_bytes);
	/* Only this object maps, so all three views agree. */
	FUZZ_CHECK(st.host_mappings == fk.ndma);
	FUZZ_CHECK(st.mapped_bytes == fk.dma_bytes);
	FUZZ_CHECK(ds.mappings == fk.ndma && ds.bytes == fk.dma_bytes);
}

/* 0 if mapped (checking the translation), -ENOENT if not. */
static int probe(struct assign_guestmem *gm, uint64_t iova)
{
	struct assign_guestmem_mapping m = { .size = sizeof(m) };
	uint8_t *va;
	int r = assign_guestmem_lookup(gm, iova, &m);

	if (r == -ENOENT)
		return r;
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(m.length && m.iova <= iova && iova - m.iova < m.length);
	FUZZ_CHECK(m.flags && !(m.flags & ~(uint32_t)ASSIGN_DMA_F_RW));
	va = (uint8_t *)m.vaddr;
	FUZZ_CHECK(va >= ram && va < ram + RAM_SIZE);
	FUZZ_CHECK(m.length <= (uint64_t)(ram + RAM_SIZE - va));
	/* The host address is the region's backing of the GPA. */
	for (int i = 0; i < 2; i++) {
		if (m.gpa >= layout[i].gpa &&
		    m.gpa < layout[i].gpa + layout[i].len) {
			FUZZ_CHECK(va == ram + layout[i].off +
						 (m.gpa - layout[i].gpa));
			FUZZ_CHECK(m.gpa + m.length <=
				   layout[i].gpa + layout[i].len);
			return 0;
		}
	}
	FUZZ_CHECK(!"lookup translated to a GPA outside guest RAM");
	return 0;
}

static uint64_t shape(uint64_t v, bool raw)
{
	return raw ? v : (v % WINDOW) & ~(PAGE - 1);
}

static void run_op(struct assign_guestmem *gm, const struct fk_record *g)
{
	struct fuzz_in in;
	uint8_t op;
	bool raw;
	uint64_t a, b, c;
	uint32_t perms;
	int r;

	fuzz_in_init(&in, g->data, g->len);
	op = fuzz_u8(&in);
	raw = op & 0x80;
	a = shape(fuzz_u64(&in), raw);
	b = shape(fuzz_u64(&in), raw);
	c = shape(fuzz_u64(&in), raw);
	if (!raw && !c)
		c = PAGE;
	perms = fuzz_u8(&in) & 7;
	switch ((op & 0x7f) % 5) {
	case 0:
		r = assign_guestmem_guest_map(gm, a, b, c, perms);
		if (r == 0) {
			FUZZ_CHECK(probe(gm, a) == 0);
			FUZZ_CHECK(probe(gm, a + c - 1) == 0);
		}
		break;
	case 1:
		r = assign_guestmem_guest_unmap(gm, a, c);
		if (r == 0) {
			FUZZ_CHECK(probe(gm, a) == -ENOENT);
			FUZZ_CHECK(probe(gm, a + c - 1) == -ENOENT);
		}
		break;
	case 2:
		(void)probe(gm, a);
		break;
	case 3:
		(void)assign_guestmem_remove(gm, a, c);
		break;
	default:
		(void)assign_guestmem_set_policy(gm, perms & 1
						 ? ASSIGN_GUESTMEM_MAP_ALL
						 : ASSIGN_GUESTMEM_GUEST_IOMMU);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assign_guestmem_opts go = { .size = sizeof(go) };
	struct assign_guestmem_region reg[2];
	struct assign_guestmem *gm = NULL;
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	struct assign_ctx *ctx = NULL;

	fk_init(&fk, data, size);
	if (fk_open_iommu(&fk, &ctx, &iommu) < 0 ||
	    assign_device_open(iommu, FK_ADDR, NULL, &dev) < 0)
		goto out;
	go.policy = ASSIGN_GUESTMEM_GUEST_IOMMU;
	go.flags = fk.nrec && (fk.rec[0].ctl & 1) ? ASSIGN_GUESTMEM_F_MERGE : 0;
	if (assign_guestmem_new(iommu, &go, &gm) < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		reg[i] = (struct assign_guestmem_region){
			.size = sizeof(reg[i]),
			.gpa = layout[i].gpa,
			.length = layout[i].len,
			.vaddr = ram + layout[i].off,
			.fd = -1,
		};
	}
	if (assign_guestmem_add_regions(gm, reg, 2, NULL, 0, NULL) < 0)
		goto out;
	check_consistent(gm, iommu);
	for (size_t i = 0; i < 256; i++) {
		const struct fk_record *g = fk_nth(&fk, FK_GUEST, i);

		if (!g)
			break;
		run_op(gm, g);
		check_consistent(gm, iommu);
	}
out:
	assign_guestmem_unref(gm);
	if (gm && iommu) {
		struct assign_dma_stats ds = { .size = sizeof(ds) };

		/* Whatever the guestmem could not unmap is still accounted. */
		FUZZ_CHECK(assign_iommu_get_dma_stats(iommu, &ds) == 0);
		FUZZ_CHECK(ds.mappings == fk.ndma && ds.bytes == fk.dma_bytes);
	}
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	FUZZ_CHECK(fk.open_fds == 0);
	FUZZ_CHECK(fk.live_maps == 0);
	fk_fini(&fk);
	return 0;
}
