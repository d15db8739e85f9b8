// SPDX-License-Identifier: MIT
/*
 * Regression tests for the known classes of bugs that hostile input causes
 * in device-assignment code (docs/reliability.md): a guest, a device or a
 * kernel that lies. Each test names the class it pins down:
 *
 *  - capability chains (VFIO info and PCI config space) that loop, point
 *    into the fixed header, run out of the buffer or are misaligned;
 *  - MSI-X BIR above 5; MSI-X tables larger than their BAR and PBAs that
 *    share the table's page (the library reports them exactly so that a
 *    VMM can refuse or trap them; checked here);
 *  - 64-bit BARs in slot 5, their high halves, reserved BAR types,
 *    sizes that are not powers of two;
 *  - zero-sized and unaligned regions; region reads and writes that end
 *    past the region or wrap around; mmap of unaligned sparse areas;
 *  - DMA maps at wrap-around IOVAs, zero sizes, unaligned addresses, in
 *    the MSI window, above the IOVA ranges;
 *  - a host group report over a sysfs whose driver link is not a link;
 *  - a guest IOMMU unmap whose second kernel unmap fails, a map-all whose
 *    rollback unmap fails;
 *  - replays of every input the fuzzers have saved (fuzz/corpus/fuzz-device
 *    seeds and fuzz/reproducers/fuzz-device crashers) through the hostile
 *    fuzz kernel, in this ordinary (non-libFuzzer) build.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <libassign/guestmem.h>
#include <libassign/host.h>
#include <libassign/libassign.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock.h"

/* The hostile kernel and the device driver script of the fuzz target,
 * compiled into this test so its saved inputs replay without libFuzzer. */
#include "../../fuzz/fuzz-kernel.c"
#include "../../fuzz/fuzz-device.c"

#define ADDR "0000:00:03.0"
#define GROUP 7

/* ---- VFIO capability chains ------------------------------------------- */

#define FIXED 32 /* sizeof(struct vfio_region_info) */

static void put_cap(uint8_t *b, size_t off, uint16_t id, uint32_t next)
{
	struct vfio_info_cap_header h = { .id = id, .version = 1, .next = next };

	memcpy(b + off, &h, sizeof(h));
}

static int count_cb(const void *cap, size_t off, size_t avail, void *data)
{
	(*(unsigned *)data)++;
	return 0;
}

static void test_vfio_chain_loops(void **state)
{
	uint8_t b[128] = { 0 };
	unsigned n = 0;

	/* A capability pointing at itself. */
	put_cap(b, 32, 1, 32);
	assert_int_equal(vfio_cap_foreach(b, sizeof(b), FIXED, 32, count_cb, &n),
			 -EPROTO);
	assert_int_equal(n, 1);
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 32, 9, 8), -EPROTO);
	/* Two capabilities pointing at each other. */
	put_cap(b, 32, 1, 48);
	put_cap(b, 48, 2, 32);
	n = 0;
	assert_int_equal(vfio_cap_foreach(b, sizeof(b), FIXED, 32, count_cb, &n),
			 -EPROTO);
	assert_int_equal(n, 2);
	/* A later capability pointing back, not at the first. */
	put_cap(b, 48, 2, 64);
	put_cap(b, 64, 3, 48);
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 32, 7, 8), -EPROTO);
	/* But the chain up to the loop is still searchable. */
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 32, 2, 8), 48);
}

static void test_vfio_chain_bounds(void **state)
{
	uint8_t b[64] = { 0 };

	/* Into the fixed part, misaligned, past the end, header straddling
	 * the end, at the far end of the offset space. */
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 8, 1, 8), -EPROTO);
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 34, 1, 8), -EPROTO);
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 64, 1, 8), -EPROTO);
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 60, 1, 8), -EPROTO);
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 0xfffffffc, 1, 8),
			 -EPROTO);
	/* A header that fits but a body that does not: a 16-byte type
	 * capability whose header sits in the last 8 bytes. */
	put_cap(b, 56, VFIO_REGION_INFO_CAP_TYPE, 0);
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 56,
				       VFIO_REGION_INFO_CAP_TYPE, 16),
			 -EPROTO);
	assert_int_equal(vfio_cap_find(b, sizeof(b), FIXED, 56,
				       VFIO_REGION_INFO_CAP_TYPE, 8),
			 56);
	/* A fixed part longer than the buffer. */
	assert_int_equal(vfio_cap_find(b, 16, FIXED, 32, 1, 8), -EINVAL);
	assert_int_equal(vfio_cap_find(NULL, 0, 0, 32, 1, 8), -EINVAL);
}

static void test_vfio_chain_long(void **state)
{
	/* The longest legal chain (every 8 bytes) still ends. */
	size_t len = 1 << 16;
	uint8_t *b = calloc(1, len);
	unsigned n = 0;

	assert_non_null(b);
	for (size_t off = FIXED; off + 8 <= len; off += 8)
		put_cap(b, off, 0x55, off + 8 + 8 <= len ? (uint32_t)(off + 8) : 0);
	assert_int_equal(vfio_cap_foreach(b, len, FIXED, FIXED, count_cb, &n), 0);
	assert_int_equal(n, (len - FIXED) / 8);
	free(b);
}

/* ---- PCI capability lists -------------------------------------------- */

static void cfg_init(uint8_t *c, size_t len)
{
	memset(c, 0, len);
	c[0] = 0x86, c[1] = 0x80;
	c[0x06] = 0x10; /* status: capability list */
}

static void test_pci_std_chain(void **state)
{
	uint8_t c[256];
	size_t n = 0;

	/* Loop of two. */
	cfg_init(c, sizeof(c));
	c[0x34] = 0x40;
	c[0x40] = 0x01, c[0x41] = 0x50;
	c[0x50] = 0x05, c[0x51] = 0x40;
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), -EPROTO);
	assert_int_equal(n, 2);
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x11), -EPROTO);
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x05), 0x50);
	/* Into the standard header, misaligned, last byte. */
	c[0x51] = 0x3c;
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x11), -EPROTO);
	c[0x51] = 0x62;
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x11), -EPROTO);
	c[0x51] = 0xff;
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x11), -EPROTO);
	/* A config space cut short: the list points past the bytes given. */
	c[0x51] = 0x00;
	assert_int_equal(assign_pci_find_cap(c, 64, 0x05), -EPROTO);
	assert_int_equal(assign_pci_find_cap(c, 63, 0x05), -EINVAL);
	/* Status says there is no list: the pointer is ignored. */
	c[0x06] = 0;
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x05), -ENOENT);
}

static void put_ext(uint8_t *c, size_t off, uint16_t id, uint16_t next)
{
	uint32_t h = id | (1u << 16) | ((uint32_t)next << 20);

	memcpy(c + off, &h, 4);
}

static void test_pci_ext_chain(void **state)
{
	uint8_t *c = malloc(4096);
	size_t n = 0;

	assert_non_null(c);
	cfg_init(c, 4096);
	put_ext(c, 0x100, 0x0001, 0x140);
	put_ext(c, 0x140, 0x0003, 0x100); /* back to the start */
	assert_int_equal(assign_pci_list_caps(c, 4096, NULL, 0, &n), -EPROTO);
	assert_int_equal(assign_pci_find_ext_cap(c, 4096, 0x0010), -EPROTO);
	put_ext(c, 0x140, 0x0003, 0x0c0); /* below 0x100 */
	assert_int_equal(assign_pci_find_ext_cap(c, 4096, 0x0010), -EPROTO);
	put_ext(c, 0x140, 0x0003, 0xffd); /* past 4096 - 4, misaligned */
	assert_int_equal(assign_pci_find_ext_cap(c, 4096, 0x0010), -EPROTO);
	put_ext(c, 0x140, 0x0003, 0xffc); /* the last dword: legal */
	put_ext(c, 0xffc, 0x0010, 0);
	assert_int_equal(assign_pci_find_ext_cap(c, 4096, 0x0010), 0xffc);
	/* Only 0x104 bytes given: the second header is outside them. */
	assert_int_equal(assign_pci_find_ext_cap(c, 0x104, 0x0010), -EPROTO);
	free(c);
}

/* ---- MSI-X ------------------------------------------------------------ */

static void put_msix(uint8_t *c, uint8_t at, uint16_t n, uint32_t table,
		     uint32_t pba)
{
	uint16_t ctl = (uint16_t)(n - 1);

	c[0x34] = at;
	c[at] = 0x11, c[at + 1] = 0;
	memcpy(c + at + 2, &ctl, 2);
	memcpy(c + at + 4, &table, 4);
	memcpy(c + at + 8, &pba, 4);
}

static void test_msix_bir(void **state)
{
	struct assign_pci_msix x = { .size = sizeof(x) };
	uint8_t c[256];

	for (uint32_t bir = 0; bir < 8; bir++) {
		cfg_init(c, sizeof(c));
		put_msix(c, 0x40, 4, 0x2000 | bir, 0x3000);
		assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x),
				 bir <= 5 ? 0 : -EPROTO);
		cfg_init(c, sizeof(c));
		put_msix(c, 0x40, 4, 0x2000, 0x3000 | bir);
		assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x),
				 bir <= 5 ? 0 : -EPROTO);
	}
	/* The capability itself cut off by the end of config space. */
	cfg_init(c, sizeof(c));
	c[0x34] = 0xf8;
	c[0xf8] = 0x11;
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), -EPROTO);
}

/*
 * The library cannot know a BAR's size from config space, so it reports the
 * table and PBA exactly; the VMM compares them with the VFIO region sizes.
 * These pin down that the numbers a VMM needs for those checks are right at
 * the extremes (2048 vectors, offsets near 4 GiB, PBA in the table's page).
 */
static void test_msix_table_vs_bar(void **state)
{
	struct assign_pci_msix x = { .size = sizeof(x) };
	uint8_t c[256];
	uint64_t bar_size = 0x4000, table_end, pba_end;

	cfg_init(c, sizeof(c));
	put_msix(c, 0x40, 2048, 0x0 | 3, 0x2000 | 3);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), 0);
	assert_int_equal(x.table_size, 2048);
	table_end = (uint64_t)x.table_offset + 16ull * x.table_size;
	assert_true(table_end > bar_size); /* 32 KiB table in a 16 KiB BAR */
	/* Offsets near 4 GiB do not wrap in 64-bit arithmetic. */
	cfg_init(c, sizeof(c));
	put_msix(c, 0x40, 2048, 0xfffffff8 | 2, 0xfffffff8 | 2);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), 0);
	assert_int_equal(x.table_offset, 0xfffffff8u);
	table_end = (uint64_t)x.table_offset + 16ull * x.table_size;
	assert_true(table_end > UINT32_MAX);
	/* A PBA in the same 4 KiB page as the table: both reported, same BAR,
	 * so a VMM must trap the whole page. */
	cfg_init(c, sizeof(c));
	put_msix(c, 0x40, 5, 0x0 | 3, 0x800 | 3);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), 0);
	assert_int_equal(x.table_bar, x.pba_bar);
	pba_end = x.pba_offset + (x.table_size + 63u) / 64u * 8u;
	assert_int_equal(x.table_offset / 4096, x.pba_offset / 4096);
	assert_true(pba_end <= 4096);
	/* A PBA overlapping the table itself. */
	cfg_init(c, sizeof(c));
	put_msix(c, 0x40, 64, 0x0 | 0, 0x200 | 0);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), 0);
	assert_true(x.pba_offset < x.table_offset + 16u * x.table_size);
}

/* ---- BARs ------------------------------------------------------------- */

static void put_bar(uint8_t *c, int i, uint32_t v)
{
	memcpy(c + 0x10 + 4 * i, &v, 4);
}

static void test_bars_64bit(void **state)
{
	uint64_t sizes[6] = { 0x20000, 0, 0, 0x4000, 0x100000000ull, 0 };
	struct assign_pci_bar b[6] = { { .size = sizeof(b[0]) } };
	uint8_t c[64];

	cfg_init(c, sizeof(c));
	put_bar(c, 0, 0xfebc0000);
	put_bar(c, 3, 0xfebe0000);
	put_bar(c, 4, 0x0000000c);     /* 64-bit prefetchable, low half */
	put_bar(c, 5, 0x00000038);     /* high half */
	assert_int_equal(assign_pci_decode_bars(c, sizeof(c), sizes, b), 0);
	assert_true(b[4].mem64 && b[4].prefetchable && b[4].present);
	assert_true(b[4].addr == 0x3800000000ull);
	assert_true(b[4].length == 0x100000000ull);
	assert_false(b[5].present); /* the high half is not a BAR */
	assert_false(b[5].mem64);
	/* The high half's bits are not decoded as a BAR type even when they
	 * look like one (0x...4 would be "64-bit" in slot 5). */
	put_bar(c, 5, 0xfffffff4);
	assert_int_equal(assign_pci_decode_bars(c, sizeof(c), sizes, b), 0);
	assert_true(b[4].addr == 0xfffffff400000000ull);
	/* A 64-bit BAR in slot 5 has no high half: refused. */
	put_bar(c, 4, 0);
	put_bar(c, 5, 0x00000004);
	sizes[4] = 0, sizes[5] = 0x1000;
	assert_int_equal(assign_pci_decode_bars(c, sizeof(c), sizes, b), -EPROTO);
	/* Reserved memory type (bits 2:1 = 11). */
	put_bar(c, 5, 0x00000006);
	assert_int_equal(assign_pci_decode_bars(c, sizeof(c), sizes, b), -EPROTO);
	/* A size that is not a power of two. */
	put_bar(c, 5, 0);
	sizes[5] = 0x3000;
	assert_int_equal(assign_pci_decode_bars(c, sizeof(c), sizes, b), -EPROTO);
	/* Not a type 0 header (a bridge). */
	sizes[5] = 0;
	c[0x0e] = 0x01;
	assert_int_equal(assign_pci_decode_bars(c, sizeof(c), sizes, b), -EINVAL);
}

/* ---- regions and DMA through the mock kernel --------------------------- */

struct fx {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
};

static const struct mock_region_cfg odd_regions[] = {
	/* BAR0: 64K, sparse area at an unaligned offset (a kernel bug). */
	{ .index = 0, .size = 0x10000,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		   VFIO_REGION_INFO_FLAG_MMAP,
	  .nsparse = 1, .sparse = { { 0x800, 0x1000 } } },
	/* BAR1: present in name only (size 0). */
	{ .index = 1, .size = 0,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE },
	/* BAR2: 0x100 bytes, not a page: read/write only. */
	{ .index = 2, .size = 0x100,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE },
	/* BAR3: 16K, read-only. */
	{ .index = 3, .size = 0x4000, .flags = VFIO_REGION_INFO_FLAG_READ },
	{ .index = 7, .size = 4096,
	  .flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE },
};

static int fx_setup(void **state)
{
	struct assign_iommu_opts io = { .size = sizeof(io),
					.backend = ASSIGN_IOMMU_TYPE1 };
	struct mock_device_cfg cfg;
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || mock_kernel_new(&f->mk) < 0 ||
	    mock_ctx_new(f->mk, &f->ctx) < 0 ||
	    assign_iommu_new(f->ctx, &io, &f->iommu) < 0)
		return -1;
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	cfg.regions = odd_regions;
	cfg.nregions = ARRAY_SIZE(odd_regions);
	if (mock_add_device(f->mk, &cfg) < 0 ||
	    assign_device_open(f->iommu, ADDR, NULL, &f->dev) < 0) {
		fprintf(stderr, "setup: %s\n", assign_ctx_get_last_error(f->ctx));
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	assign_device_unref(f->dev);
	assign_iommu_unref(f->iommu);
	assign_ctx_unref(f->ctx);
	/* Nothing the library opened, mapped or pinned is left behind. */
	assert_int_equal(mock_open_fds(f->mk), 0);
	assert_int_equal(mock_mmaps(f->mk), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	mock_kernel_free(f->mk);
	free(f);
	return 0;
}

static void test_region_zero_sized(void **state)
{
	struct fx *f = *state;
	const struct assign_region_info *ri;
	uint8_t b[4];
	void *p;

	assert_int_equal(assign_device_get_region(f->dev, 1, &ri), 0);
	assert_true(ri->size == 0);
	assert_int_equal(ri->nareas, 0);
	assert_int_equal(assign_region_read(f->dev, 1, 0, b, 1), -EINVAL);
	assert_int_equal(assign_region_write(f->dev, 1, 0, b, 1), -EINVAL);
	assert_int_equal(assign_region_read(f->dev, 1, 0, b, 0), -EINVAL);
	assert_int_equal(assign_region_mmap(f->dev, 1, &p), -EINVAL);
	/* Indexes the device does not have. */
	assert_int_equal(assign_device_get_region(f->dev, 9, &ri), -EINVAL);
	assert_int_equal(assign_device_get_region(f->dev, UINT32_MAX, &ri),
			 -EINVAL);
	assert_int_equal(assign_region_read(f->dev, 200, 0, b, 1), -EINVAL);
}

static void test_region_rw_bounds(void **state)
{
	struct fx *f = *state;
	uint8_t b[16] = { 0 };

	/* Exactly the last byte: fine. One past it, straddling it, far past
	 * it, and offsets that wrap when the length is added: refused. */
	assert_int_equal(assign_region_read(f->dev, 2, 0xff, b, 1), 0);
	assert_int_equal(assign_region_read(f->dev, 2, 0x100, b, 1), -EINVAL);
	assert_int_equal(assign_region_read(f->dev, 2, 0xfc, b, 8), -EINVAL);
	assert_int_equal(assign_region_write(f->dev, 2, 0xfc, b, 8), -EINVAL);
	assert_int_equal(assign_region_read(f->dev, 2, UINT64_MAX, b, 1),
			 -EINVAL);
	assert_int_equal(assign_region_write(f->dev, 2, UINT64_MAX - 3, b, 8),
			 -EINVAL);
	assert_int_equal(assign_region_read(f->dev, 2, 8, b, SIZE_MAX),
			 -EINVAL);
	/* Config space: 4096 bytes; a write at 4095 of 2 bytes is refused. */
	assert_int_equal(assign_device_config_write(f->dev, 4095, b, 2),
			 -EINVAL);
	assert_int_equal(assign_device_config_read(f->dev, UINT32_MAX, b, 1),
			 -EINVAL);
	/* A read-only region refuses writes. */
	assert_int_equal(assign_region_write(f->dev, 3, 0, b, 4), -EINVAL);
	assert_int_equal(assign_region_read(f->dev, 3, 0, b, 4), 0);
}

static void test_region_unaligned_mmap(void **state)
{
	struct fx *f = *state;
	const struct assign_region_info *ri;
	void *p = NULL;

	/* The sparse area at 0x800 cannot be mapped on its own page: the
	 * library refuses instead of mapping the wrong bytes. */
	assert_int_equal(assign_device_get_region(f->dev, 0, &ri), 0);
	assert_int_equal(ri->nareas, 1);
	assert_int_equal(assign_region_mmap(f->dev, 0, &p), -EPROTO);
	assert_null(p);
	assert_int_equal(mock_mmaps(f->mk), 0);
	/* A region without MMAP has no areas. */
	assert_int_equal(assign_region_mmap(f->dev, 2, &p), -EINVAL);
	assert_int_equal(assign_region_munmap(f->dev, 2), -ENOENT);
}

static void test_dma_wraparound(void **state)
{
	struct fx *f = *state;
	size_t len = 2u << 20;
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct assign_dma_map many[2];

	assert_true(mem != MAP_FAILED);
	/* Wraps past 2^64. */
	assert_int_equal(assign_iommu_map(f->iommu, UINT64_MAX - 0xfff, mem,
					  0x2000, ASSIGN_DMA_F_RW),
			 -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, 0x1000, mem,
					  UINT64_MAX & ~0xfffull,
					  ASSIGN_DMA_F_RW),
			 -EINVAL);
	/* Ends exactly at 2^64 - 1: no wrap, but outside the 48-bit ranges. */
	assert_int_equal(assign_iommu_map(f->iommu, UINT64_MAX - 0xfff, mem,
					  0x1000, ASSIGN_DMA_F_RW),
			 -ERANGE);
	/* Zero size, unaligned IOVA, unaligned size, no direction. */
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem, 0,
					  ASSIGN_DMA_F_RW),
			 -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, 0x100800, mem, 0x1000,
					  ASSIGN_DMA_F_RW),
			 -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem, 0x1800,
					  ASSIGN_DMA_F_RW),
			 -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem, 0x1000, 0),
			 -EINVAL);
	/* Straddling the MSI doorbell window. */
	assert_int_equal(assign_iommu_map(f->iommu, 0xfed00000, mem, len,
					  ASSIGN_DMA_F_RW),
			 -ERANGE);
	/* All or nothing: a good map followed by a wrapping one. */
	many[0] = (struct assign_dma_map){ 0x100000, mem, 0x1000,
					   ASSIGN_DMA_F_RW };
	many[1] = (struct assign_dma_map){ UINT64_MAX - 0xfff, mem, 0x2000,
					   ASSIGN_DMA_F_RW };
	assert_int_equal(assign_iommu_map_many(f->iommu, many, 2), -EINVAL);
	assert_int_equal(mock_dma_count(f->mk), 0);
	/* Unmap with a wrapping range. */
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem, 0x1000,
					  ASSIGN_DMA_F_RW),
			 0);
	assert_true(assign_iommu_unmap(f->iommu, UINT64_MAX - 0xfff, 0x2000) < 0);
	assert_int_equal(mock_dma_count(f->mk), 1);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x100000, 0x1000), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	munmap(mem, len);
}

/* ---- host preparation over a hostile sysfs ------------------------------ */

#ifdef LIBASSIGN_WITH_HOST

/*
 * A group member whose "driver" is not a symlink (or whose target is too
 * long) cannot be judged: the report fails with the member named, and
 * nothing freed is touched on the way (finding 3 of docs/reliability.md,
 * fuzz/reproducers/fuzz-host/group-report-driver-error-uaf).
 */
static void host_driver_unreadable(void)
{
	struct assign_host_group_report *rep = NULL;
	struct mock_device_cfg cfg;
	struct mock_kernel *mk = NULL;
	struct assign_ctx *ctx = NULL;
	char path[512];
	FILE *fp;
	int r;

	if (mock_kernel_new(&mk) < 0 || mock_ctx_new(mk, &ctx) < 0)
		_exit(90);
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	cfg.driver = "e1000e";
	if (mock_add_device(mk, &cfg) < 0)
		_exit(91);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver",
		 mock_sysfs_root(mk), ADDR);
	if (unlink(path) < 0 || !(fp = fopen(path, "w")))
		_exit(92);
	fputs("e1000e\n", fp);
	fclose(fp);
	r = assign_host_group_report(ctx, GROUP, &rep);
	if (r >= 0 || rep != NULL)
		_exit(93);
	if (!strstr(assign_ctx_get_last_error(ctx), ADDR))
		_exit(94);
	assign_ctx_unref(ctx);
	mock_kernel_free(mk);
	_exit(0);
}

#endif /* LIBASSIGN_WITH_HOST */

static bool known_open(const char *name);

/* Run @fn in a child (it _exit()s 0 on success); a crash of a bug listed
 * in KNOWN-OPEN is reported and tolerated. */
static void run_isolated(void (*fn)(void), const char *known)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		fn();
		_exit(0);
	}
	assert_true(waitpid(pid, &st, 0) == pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	if (known && known_open(known)) {
		printf("# known open bug, still fails: %s (status 0x%x)\n",
		       known, st);
		return;
	}
	fail_msg("child failed: status 0x%x", st);
}

#ifdef LIBASSIGN_WITH_HOST
static void test_host_driver_unreadable(void **state)
{
	run_isolated(host_driver_unreadable, "group-report-driver-error-uaf");
}
#endif

/* ---- guest IOMMU shadowing when the kernel fails ------------------------ */

/*
 * A guest unmap that covers two host mappings, the kernel failing the
 * second unmap: whatever the library then reports, its view of what is
 * mapped must be the kernel's (finding 5 of docs/reliability.md,
 * fuzz/reproducers/fuzz-guestmem/guest-unmap-kernel-failure-accounting).
 */
static void guest_unmap_half_fails(void)
{
	struct assign_iommu_opts io = { .size = sizeof(io),
					.backend = ASSIGN_IOMMU_TYPE1 };
	struct assign_guestmem_opts go = { .size = sizeof(go),
					   .policy = ASSIGN_GUESTMEM_GUEST_IOMMU };
	struct assign_guestmem_region reg = { .size = sizeof(reg), .fd = -1 };
	struct assign_guestmem_stats st = { .size = sizeof(st) };
	struct assign_guestmem *gm = NULL;
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	struct assign_ctx *ctx = NULL;
	struct mock_device_cfg cfg;
	struct mock_kernel *mk = NULL;
	uint64_t iova = 0x40000000;
	size_t len = 1u << 20;
	void *mem;
	int r;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || mock_kernel_new(&mk) < 0 ||
	    mock_ctx_new(mk, &ctx) < 0 ||
	    assign_iommu_new(ctx, &io, &iommu) < 0)
		_exit(80);
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	if (mock_add_device(mk, &cfg) < 0 ||
	    assign_device_open(iommu, ADDR, NULL, &dev) < 0 ||
	    assign_guestmem_new(iommu, &go, &gm) < 0)
		_exit(81);
	reg.gpa = 0;
	reg.length = len;
	reg.vaddr = mem;
	if (assign_guestmem_add_regions(gm, &reg, 1, NULL, 0, NULL) < 0 ||
	    assign_guestmem_guest_map(gm, iova, 0, 0x1000, ASSIGN_DMA_F_RW) < 0 ||
	    assign_guestmem_guest_map(gm, iova + 0x1000, 0x1000, 0x1000,
				      ASSIGN_DMA_F_RW) < 0)
		_exit(82);
	if (mock_dma_count(mk) != 2)
		_exit(83);
	mock_fail_nth(mk, MOCK_IOCTL, VFIO_IOMMU_UNMAP_DMA, 2, -EIO);
	r = assign_guestmem_guest_unmap(gm, iova, 0x2000);
	mock_fail_clear(mk);
	if (r != -EIO)
		_exit(84);
	if (assign_guestmem_get_stats(gm, &st) < 0)
		_exit(85);
	/* Exactly what the kernel still holds. */
	if (st.host_mappings != mock_dma_count(mk) ||
	    st.mapped_bytes != mock_dma_bytes(mk))
		_exit(86);
	assign_guestmem_unref(gm);
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	if (mock_dma_count(mk) != 0)
		_exit(87);
	mock_kernel_free(mk);
	munmap(mem, len);
	_exit(0);
}

/*
 * Map-all over two regions: the second chunk's map fails, and so does the
 * rollback's unmap of the first. guestmem must not forget a mapping the
 * kernel still holds (finding 6,
 * fuzz/reproducers/fuzz-guestmem/mapall-rollback-unmap-failure-accounting).
 */
static void mapall_rollback_fails(void)
{
	struct assign_iommu_opts io = { .size = sizeof(io),
					.backend = ASSIGN_IOMMU_TYPE1 };
	struct assign_guestmem_opts go = { .size = sizeof(go),
					   .policy = ASSIGN_GUESTMEM_MAP_ALL };
	struct assign_guestmem_region reg[2];
	struct assign_guestmem_stats st = { .size = sizeof(st) };
	struct assign_guestmem *gm = NULL;
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	struct assign_ctx *ctx = NULL;
	struct mock_device_cfg cfg;
	struct mock_kernel *mk = NULL;
	size_t len = 2u << 20;
	uint8_t *mem;
	int r;

	mem = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || mock_kernel_new(&mk) < 0 ||
	    mock_ctx_new(mk, &ctx) < 0 ||
	    assign_iommu_new(ctx, &io, &iommu) < 0)
		_exit(70);
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	if (mock_add_device(mk, &cfg) < 0 ||
	    assign_device_open(iommu, ADDR, NULL, &dev) < 0 ||
	    assign_guestmem_new(iommu, &go, &gm) < 0)
		_exit(71);
	for (int i = 0; i < 2; i++)
		reg[i] = (struct assign_guestmem_region){
			.size = sizeof(reg[i]),
			.gpa = (uint64_t)i << 32,
			.length = len,
			.vaddr = mem + (size_t)i * len,
			.fd = -1,
		};
	mock_fail_nth(mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 2, -EIO);
	mock_fail_nth(mk, MOCK_IOCTL, VFIO_IOMMU_UNMAP_DMA, 1, -ENOSPC);
	r = assign_guestmem_add_regions(gm, reg, 2, NULL, 0, NULL);
	mock_fail_clear(mk);
	if (r >= 0)
		_exit(72);
	if (assign_guestmem_get_stats(gm, &st) < 0)
		_exit(73);
	if (st.host_mappings != mock_dma_count(mk) ||
	    st.mapped_bytes != mock_dma_bytes(mk))
		_exit(74);
	assign_guestmem_unref(gm);
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	if (mock_dma_count(mk) != 0)
		_exit(75);
	mock_kernel_free(mk);
	munmap(mem, 2 * len);
	_exit(0);
}

static void test_mapall_rollback_fails(void **state)
{
	run_isolated(mapall_rollback_fails,
		     "mapall-rollback-unmap-failure-accounting");
}

static void test_guest_unmap_half_fails(void **state)
{
	run_isolated(guest_unmap_half_fails,
		     "guest-unmap-kernel-failure-accounting");
}

/* ---- saved fuzz inputs through the hostile kernel ---------------------- */

static char *source_path(const char *rel)
{
	/*
	 * __FILE__ is this file's path as the compiler saw it: absolute, or
	 * relative to the build root (meson: "../tests/unit/..."). The build
	 * root is two levels above this executable (tests/unit/).
	 */
	const char *me = __FILE__, *cut = strstr(me, "tests/unit/test-hostile.c");
	size_t plen = cut ? (size_t)(cut - me) : 0;
	char exe[1024] = "", *p;
	ssize_t n = 0;

	if (me[0] != '/') {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		n = n < 0 ? 0 : n;
		exe[n] = '\0';
		for (int up = 0; up < 3 && n > 0; up++) {
			char *slash = strrchr(exe, '/');

			if (!slash)
				break;
			*slash = '\0';
		}
		strcat(exe, "/");
	}
	p = malloc(strlen(exe) + plen + strlen(rel) + 1);
	assert_non_null(p);
	strcpy(p, exe);
	memcpy(p + strlen(exe), me, plen);
	strcpy(p + strlen(exe) + plen, rel);
	return p;
}

/* Names listed in fuzz/reproducers/KNOWN-OPEN (bugs reported, not fixed). */
static bool known_open(const char *name)
{
	char *path = source_path("fuzz/reproducers/KNOWN-OPEN"), line[256];
	FILE *fp = fopen(path, "r");
	bool found = false;

	free(path);
	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp)) {
		line[strcspn(line, " \t\n")] = '\0';
		if (line[0] && line[0] != '#' && strcmp(line, name) == 0)
			found = true;
	}
	fclose(fp);
	return found;
}

/* Run one saved input in a child; true if it ran clean. */
static bool replay_one(const char *path, size_t size)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t *buf = malloc(size + 1);
		FILE *fp = fopen(path, "rb");

		/* Die of the signal: cmocka's handlers would carry on
		 * running the other tests in this child. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		if (!buf || !fp || fread(buf, 1, size, fp) != size)
			_exit(99);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, size);
		free(buf);
		_exit(0);
	}
	assert_true(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Replay every file of a directory; returns how many were replayed. */
static unsigned replay_dir(const char *rel, unsigned *failed)
{
	char *dir = source_path(rel);
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(dir);

	if (!d) {
		free(dir);
		return 0;
	}
	while ((de = readdir(d))) {
		char path[1024];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		n++;
		if (replay_one(path, (size_t)st.st_size))
			continue;
		if (known_open(de->d_name)) {
			printf("# known open bug, still crashes: %s/%s\n", rel,
			       de->d_name);
			continue;
		}
		printf("# CRASH replaying %s/%s\n", rel, de->d_name);
		(*failed)++;
	}
	closedir(d);
	free(dir);
	return n;
}

/*
 * Every seed and every saved crasher of the device fuzz target runs clean
 * through the hostile kernel: no abort from a broken invariant, no fd or
 * mapping left behind, no crash. (The ASan+UBSan CI build also catches
 * memory errors here; scripts/fuzz.sh replays them under libFuzzer.)
 */
static void test_replay_fuzz_inputs(void **state)
{
	unsigned seeds, failed = 0;

	LLVMFuzzerInitialize(NULL, NULL);
	seeds = replay_dir("fuzz/corpus/fuzz-device", &failed);
	replay_dir("fuzz/reproducers/fuzz-device", &failed);
	assert_int_equal(failed, 0);
	if (!seeds)
		skip(); /* source tree not reachable from here */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vfio_chain_loops),
		cmocka_unit_test(test_vfio_chain_bounds),
		cmocka_unit_test(test_vfio_chain_long),
		cmocka_unit_test(test_pci_std_chain),
		cmocka_unit_test(test_pci_ext_chain),
		cmocka_unit_test(test_msix_bir),
		cmocka_unit_test(test_msix_table_vs_bar),
		cmocka_unit_test(test_bars_64bit),
		cmocka_unit_test_setup_teardown(test_region_zero_sized,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_region_rw_bounds,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_region_unaligned_mmap,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_dma_wraparound,
						fx_setup, fx_teardown),
#ifdef LIBASSIGN_WITH_HOST
		cmocka_unit_test(test_host_driver_unreadable),
#endif
		cmocka_unit_test(test_guest_unmap_half_fails),
		cmocka_unit_test(test_mapall_rollback_fails),
		cmocka_unit_test(test_replay_fuzz_inputs),
	};

	return cmocka_run_group_tests_name("hostile", tests, NULL, NULL);
}
