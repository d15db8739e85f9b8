// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the library's device and IOMMU objects over a hostile
 * kernel (fuzz-kernel.h). Opens FK_ADDR on a type1 or iommufd IOMMU
 * object, then makes the library calls the input's FK_ACTION records ask
 * for (region info, reads/writes, mmap, BAR decode, irq info and eventfd
 * setup, hot-reset deps, IOVA ranges, reserved regions, DMA map/unmap),
 * and releases everything.
 *
 * Checked beyond the sanitizers: every info the library returns is
 * self-consistent (mmap areas inside their region, IOVA ranges sorted
 * and well-formed, reserved regions well-formed, DMA stats that add up
 * and equal the mappings the kernel holds after every call, including
 * failed and rolled-back ones);
 * successful DMA maps lie inside the reported IOVA ranges and outside
 * the reserved regions; at the end the fake kernel has no fd open and no
 * mapping left (the library leaked nothing).
 */
#include <errno.h>
#include <sys/mman.h>

#include "fuzz-kernel.h"
#include "fuzz.h"
#include <libassign/libassign.h>

#define MAX_ACTIONS 48

static struct fuzz_kernel fk;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Quiet: the library explains every failure, and fuzzing fails a
	 * lot. The messages are still formatted (into last_error). */
	setenv("ASSIGN_LOG", "0", 1);
	return 0;
}

static void check_region(const struct assign_region_info *ri, uint32_t index)
{
	FUZZ_CHECK(ri->index == index);
	FUZZ_CHECK(ri->nareas == 0 || ri->areas != NULL);
	FUZZ_CHECK(!ri->nareas || (ri->flags & ASSIGN_REGION_F_MMAP));
	for (uint32_t i = 0; i < ri->nareas; i++) {
		const struct assign_mmap_area *a = &ri->areas[i];

		FUZZ_CHECK(a->offset <= ri->size);
		FUZZ_CHECK(a->size <= ri->size - a->offset);
	}
}

static void check_geometry(struct assign_iommu *iommu)
{
	const struct assign_iova_range *rg;
	const struct assign_reserved_region *rv;
	uint64_t pgsizes;
	uint32_t avail;
	size_t n;

	if (assign_iommu_get_iova_ranges(iommu, &rg, &n) == 0) {
		FUZZ_CHECK(n == 0 || rg != NULL);
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(rg[i].start <= rg[i].last);
			if (i)
				FUZZ_CHECK(rg[i - 1].last < rg[i].start);
		}
	}
	if (assign_iommu_get_reserved_regions(iommu, &rv, &n) == 0) {
		FUZZ_CHECK(n == 0 || rv != NULL);
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(rv[i].start <= rv[i].last);
			FUZZ_CHECK(memchr(rv[i].type, 0, sizeof(rv[i].type)));
		}
	}
	if (assign_iommu_get_pgsizes(iommu, &pgsizes) == 0)
		FUZZ_CHECK(pgsizes != 0);
	(void)assign_iommu_get_dma_avail(iommu, &avail);
	(void)assign_iommu_get_irq_remapping(iommu);
}

/* A successful map must respect the geometry the library reported. */
static void check_mapped(struct assign_iommu *iommu, uint64_t iova,
			 uint64_t size)
{
	const struct assign_iova_range *rg;
	const struct assign_reserved_region *rv;
	uint64_t last = iova + size - 1;
	bool inside = false;
	size_t n;

	FUZZ_CHECK(size != 0 && last >= iova);
	if (assign_iommu_get_iova_ranges(iommu, &rg, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (iova >= rg[i].start && last <= rg[i].last)
				inside = true;
		FUZZ_CHECK(inside);
	}
	if (assign_iommu_get_reserved_regions(iommu, &rv, &n) == 0)
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(last < rv[i].start || iova > rv[i].last);
}

/* The library's DMA accounting is what the kernel holds: no mapping is
 * lost or invented by a failed map, a rollback or an unmap. */
static void check_dma(struct assign_iommu *iommu)
{
	struct assign_dma_stats st = { .size = sizeof(st) };

	FUZZ_CHECK(assign_iommu_get_dma_stats(iommu, &st) == 0);
	FUZZ_CHECK(st.mappings == fk.ndma);
	FUZZ_CHECK(st.bytes == fk.dma_bytes);
}

static void run_action(struct assign_iommu *iommu, struct assign_device *dev,
		       const struct fk_record *a)
{
	const struct assign_device_info di_zero = { 0 };
	struct assign_device_info di = di_zero;
	struct fuzz_in in;
	uint8_t op;

	fuzz_in_init(&in, a->data, a->len);
	op = fuzz_u8(&in);
	assign_device_get_info(dev, &di);
	switch (op % 14) {
	case 0: { /* region info */
		uint32_t idx = fuzz_u8(&in);
		const struct assign_region_info *ri;

		if (assign_device_get_region(dev, idx, &ri) == 0)
			check_region(ri, idx);
		break;
	}
	case 1:   /* region read */
	case 2: { /* region write */
		uint32_t idx = fuzz_u8(&in) % 16;
		uint64_t off = fuzz_u64(&in);
		size_t len = fuzz_u16(&in) % 4097;
		uint8_t *buf = malloc(len ? len : 1);

		if (!buf)
			abort();
		memset(buf, 0x5a, len);
		if (op % 14 == 1)
			(void)assign_region_read(dev, idx, off, buf, len);
		else
			(void)assign_region_write(dev, idx, off, buf, len);
		free(buf);
		break;
	}
	case 3: { /* mmap, touch the mapped areas, maybe unmap */
		uint32_t idx = fuzz_u8(&in) % 16;
		const struct assign_region_info *ri;
		void *base;

		if (assign_region_mmap(dev, idx, &base) == 0 &&
		    assign_device_get_region(dev, idx, &ri) == 0) {
			check_region(ri, idx);
			for (uint32_t i = 0; i < ri->nareas; i++)
				if (ri->areas[i].size &&
				    (ri->flags & ASSIGN_REGION_F_READ))
					(void)*(volatile uint8_t *)((uint8_t *)base +
								    ri->areas[i].offset);
		}
		if (fuzz_u8(&in) & 1)
			(void)assign_region_munmap(dev, idx);
		break;
	}
	case 4: { /* config space */
		uint32_t off = fuzz_u16(&in);
		size_t len = fuzz_u16(&in) % 4097;
		uint8_t *buf = malloc(len ? len : 1);

		if (!buf)
			abort();
		memset(buf, 0, len);
		if (fuzz_u8(&in) & 1)
			(void)assign_device_config_write(dev, off, buf, len);
		else
			(void)assign_device_config_read(dev, off, buf, len);
		free(buf);
		break;
	}
	case 5: { /* BARs */
		struct assign_pci_bar bars[6] = { { .size = sizeof(bars[0]) } };

		if (assign_device_get_bars(dev, bars) == 0)
			for (int i = 0; i < 6; i++)
				FUZZ_CHECK(!bars[i].mem64 || i < 5);
		break;
	}
	case 6: { /* irq info */
		struct assign_irq_info ii = { .size = sizeof(ii) };
		uint32_t idx = fuzz_u8(&in);

		if (assign_device_get_irq_info(dev, idx, &ii) == 0)
			FUZZ_CHECK(ii.index == idx);
		break;
	}
	case 7: { /* eventfds (-1: "no eventfd" for each vector) */
		uint32_t idx = fuzz_u8(&in) % 6;
		uint32_t start = fuzz_u16(&in), count = fuzz_u16(&in) % 2100;
		int *fds = malloc((count ? count : 1) * sizeof(int));
		int n;

		if (!fds)
			abort();
		for (uint32_t i = 0; i < count; i++)
			fds[i] = -1;
		(void)assign_irq_set_eventfds(dev, idx, start, count, fds);
		free(fds);
		n = assign_irq_get_enabled_count(dev, idx);
		FUZZ_CHECK(n >= -EINVAL);
		if (fuzz_u8(&in) & 1)
			(void)assign_irq_disable(dev, idx);
		break;
	}
	case 8: { /* mask/unmask/trigger */
		uint32_t idx = fuzz_u8(&in) % 6;
		uint32_t start = fuzz_u32(&in), count = fuzz_u32(&in);

		switch (fuzz_u8(&in) % 3) {
		case 0: (void)assign_irq_mask(dev, idx, start, count); break;
		case 1: (void)assign_irq_unmask(dev, idx, start, count); break;
		default: (void)assign_irq_trigger(dev, idx, start, count); break;
		}
		break;
	}
	case 9: { /* hot reset deps */
		struct assign_reset_dep deps[8] = {
			{ .size = sizeof(deps[0]) },
		};
		size_t max = fuzz_u8(&in) % 9, n = 0;

		if (assign_device_get_hot_reset_deps(dev, deps, max, &n) == 0)
			for (size_t i = 0; i < MIN(n, max); i++)
				FUZZ_CHECK(deps[i].addr.dev <= 0x1f &&
					   deps[i].addr.fn <= 7);
		if (fuzz_u8(&in) & 1)
			(void)assign_device_hot_reset(dev);
		break;
	}
	case 10: /* geometry */
		check_geometry(iommu);
		break;
	case 11: { /* DMA map (the fake kernel never touches vaddr) */
		uint64_t va = fuzz_u64(&in) & ~0xfffull;
		uint64_t iova = fuzz_u64(&in), size = fuzz_u64(&in);
		uint32_t flags = fuzz_u8(&in) & 3;
		struct assign_dma_stats before = { .size = sizeof(before) };
		struct assign_dma_stats after = { .size = sizeof(after) };

		if (!va)
			va = 0x7f0000000000ull;
		assign_iommu_get_dma_stats(iommu, &before);
		if (assign_iommu_map(iommu, iova, (void *)(uintptr_t)va, size,
				     flags) == 0) {
			check_mapped(iommu, iova, size);
			assign_iommu_get_dma_stats(iommu, &after);
			FUZZ_CHECK(after.mappings == before.mappings + 1);
			FUZZ_CHECK(after.bytes == before.bytes + size);
		}
		break;
	}
	case 12: { /* DMA unmap, or an all-or-nothing batch of maps */
		if (fuzz_u8(&in) & 1) {
			struct assign_dma_map m[3];
			size_t n = 1 + fuzz_u8(&in) % 3;

			for (size_t i = 0; i < n; i++) {
				m[i].vaddr = (void *)(uintptr_t)(0x7f0000000000ull +
								 (i << 30));
				m[i].iova = fuzz_u64(&in);
				m[i].size = fuzz_u64(&in);
				m[i].flags = ASSIGN_DMA_F_RW;
			}
			(void)assign_iommu_map_many(iommu, m, n);
			break;
		}

		uint64_t iova = fuzz_u64(&in), size = fuzz_u64(&in);

		if (fuzz_u8(&in) & 1)
			(void)assign_iommu_unmap_all(iommu);
		else
			(void)assign_iommu_unmap(iommu, iova, size);
		break;
	}
	default: /* resets, feature probe */
		switch (fuzz_u8(&in) % 3) {
		case 0: (void)assign_device_reset(dev); break;
		case 1:
			(void)assign_device_feature_probe(
				dev, fuzz_u32(&in),
				fuzz_u8(&in) & 3); /* GET, SET, both */
			break;
		default:
			(void)assign_iommu_check_memlock(iommu, fuzz_u64(&in));
			break;
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	struct assign_ctx *ctx = NULL;

	fk_init(&fk, data, size);
	if (fk_open_iommu(&fk, &ctx, &iommu) < 0)
		goto out;
	if (assign_device_open(iommu, FK_ADDR, NULL, &dev) < 0)
		goto out;
	check_geometry(iommu);
	for (size_t i = 0; i < MAX_ACTIONS; i++) {
		const struct fk_record *a = fk_nth(&fk, FK_ACTION, i);

		if (!a)
			break;
		run_action(iommu, dev, a);
		check_dma(iommu);
	}
out:
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	/* Every fd and every mapping made through the seam is gone. */
	FUZZ_CHECK(fk.open_fds == 0);
	FUZZ_CHECK(fk.live_maps == 0);
	fk_fini(&fk);
	return 0;
}
