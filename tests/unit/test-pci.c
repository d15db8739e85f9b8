// SPDX-License-Identifier: MIT
/* Unit tests of the pure PCI config-space helpers (include/libassign/pci.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libassign/libassign.h>

#include "pci/pci.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN_LEN(a, b) ((a) < (b) ? (a) : (b))

static void wr16(uint8_t *c, size_t off, uint16_t v)
{
	c[off] = (uint8_t)v;
	c[off + 1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *c, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		c[off + (size_t)i] = (uint8_t)(v >> (8 * i));
}

/* A type 0 header with a capability list bit and pointer @first. */
static void header(uint8_t *c, size_t len, uint8_t first)
{
	memset(c, 0, len);
	wr16(c, 0, 0x8086);
	wr16(c, 2, 0x10d3);
	if (first) {
		wr16(c, 6, 0x10);
		c[0x34] = first;
	}
}

static void std_cap(uint8_t *c, size_t off, uint8_t id, uint8_t next)
{
	c[off] = id;
	c[off + 1] = next;
}

static void ext_cap(uint8_t *c, size_t off, uint16_t id, uint8_t ver,
		    uint16_t next)
{
	wr32(c, off, id | ((uint32_t)ver << 16) | ((uint32_t)next << 20));
}

/* A device like the mock's default: PM 0x40 -> MSI 0x50 -> MSI-X 0x70 ->
 * PCIe 0xa0; AER 0x100 -> SR-IOV 0x140 (v1). */
static void nic(uint8_t *c, size_t len)
{
	header(c, len, 0x40);
	std_cap(c, 0x40, 0x01, 0x50);
	std_cap(c, 0x50, 0x05, 0x70);
	std_cap(c, 0x70, 0x11, 0xa0);
	std_cap(c, 0xa0, 0x10, 0x00);
	if (len >= 0x200) {
		ext_cap(c, 0x100, 0x0001, 2, 0x140);
		ext_cap(c, 0x140, 0x0010, 1, 0);
	}
}

static void test_list_caps(void **state)
{
	uint8_t c[4096];
	struct assign_pci_cap caps[8] = { { .size = sizeof(caps[0]) } };
	size_t n = 0;

	(void)state;
	nic(c, sizeof(c));
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), caps, 8, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(caps[0].id, 0x01);
	assert_int_equal(caps[0].offset, 0x40);
	assert_false(caps[0].extended);
	assert_int_equal(caps[1].id, 0x05);
	assert_int_equal(caps[2].id, 0x11);
	assert_int_equal(caps[3].id, 0x10);
	assert_int_equal(caps[3].offset, 0xa0);
	assert_int_equal(caps[4].id, 0x0001);
	assert_int_equal(caps[4].version, 2);
	assert_int_equal(caps[4].offset, 0x100);
	assert_true(caps[4].extended);
	assert_int_equal(caps[5].id, 0x0010);
	assert_int_equal(caps[5].offset, 0x140);
	assert_int_equal(caps[5].version, 1);

	/* Counting only, and a short array. */
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), 0);
	assert_int_equal(n, 6);
	memset(caps, 0xee, sizeof(caps));
	caps[0].size = sizeof(caps[0]);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), caps, 2, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(caps[1].id, 0x05);
	assert_int_equal(caps[2].id, 0xeeee); /* untouched */

	/* 256 bytes: extended capabilities are not walked. */
	assert_int_equal(assign_pci_list_caps(c, 256, caps, 8, &n), 0);
	assert_int_equal(n, 4);
}

static void test_list_caps_args(void **state)
{
	uint8_t c[256];
	struct assign_pci_cap caps[2] = { { .size = sizeof(caps[0]) } };
	size_t n;

	(void)state;
	nic(c, sizeof(c));
	assert_int_equal(assign_pci_list_caps(NULL, 256, caps, 2, &n), -EINVAL);
	assert_int_equal(assign_pci_list_caps(c, 63, caps, 2, &n), -EINVAL);
	assert_int_equal(assign_pci_list_caps(c, 256, caps, 2, NULL), -EINVAL);
	assert_int_equal(assign_pci_list_caps(c, 256, NULL, 2, &n), -EINVAL);
	assert_int_equal(assign_pci_find_cap(NULL, 256, 5), -EINVAL);
	assert_int_equal(assign_pci_find_cap(c, 10, 5), -EINVAL);
	assert_int_equal(assign_pci_find_ext_cap(NULL, 4096, 1), -EINVAL);
	assert_int_equal(assign_pci_find_ext_cap(c, 10, 1), -EINVAL);
}

static void test_no_cap_list(void **state)
{
	uint8_t c[256];
	size_t n = 99;

	(void)state;
	nic(c, sizeof(c));
	wr16(c, 6, 0); /* status says: no list, whatever 0x34 holds */
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x05), -ENOENT);
	/* Empty list: bit set, pointer 0. */
	header(c, sizeof(c), 0);
	wr16(c, 6, 0x10);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), 0);
	assert_int_equal(n, 0);
}

static void test_std_loops(void **state)
{
	uint8_t c[256];
	struct assign_pci_cap caps[8] = { { .size = sizeof(caps[0]) } };
	size_t n;

	(void)state;
	/* 0x40 -> 0x50 -> 0x40 */
	header(c, sizeof(c), 0x40);
	std_cap(c, 0x40, 0x01, 0x50);
	std_cap(c, 0x50, 0x05, 0x40);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), caps, 8, &n), -EPROTO);
	assert_int_equal(n, 2); /* the ones found are kept */
	assert_int_equal(caps[1].id, 0x05);
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x11), -EPROTO);
	/* Found before the loop is reached. */
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x05), 0x50);

	/* Self loop. */
	header(c, sizeof(c), 0x40);
	std_cap(c, 0x40, 0x01, 0x40);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), caps, 8, &n), -EPROTO);
	assert_int_equal(n, 1);

	/* Longest possible loop-free walk, then a loop at the end. */
	header(c, sizeof(c), 0x40);
	for (size_t off = 0x40; off < 0x100; off += 4)
		std_cap(c, off, 0x09, off + 4 < 0x100 ? (uint8_t)(off + 4) : 0x40);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), -EPROTO);
	assert_int_equal(n, 48);
}

static void test_std_bad_pointers(void **state)
{
	uint8_t c[256];
	size_t n;

	(void)state;
	/* Into the header. */
	header(c, sizeof(c), 0x20);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), -EPROTO);
	assert_int_equal(n, 0);
	header(c, sizeof(c), 0x40);
	std_cap(c, 0x40, 0x01, 0x3c);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), -EPROTO);
	assert_int_equal(n, 1);
	/* Misaligned. */
	header(c, sizeof(c), 0x41);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), -EPROTO);
	header(c, sizeof(c), 0x40);
	std_cap(c, 0x40, 0x01, 0x52);
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x05), -EPROTO);
	/* Outside a short buffer. */
	header(c, sizeof(c), 0x40);
	std_cap(c, 0x40, 0x01, 0x80);
	assert_int_equal(assign_pci_list_caps(c, 64, NULL, 0, &n), -EPROTO);
	assert_int_equal(assign_pci_list_caps(c, 0x80, NULL, 0, &n), -EPROTO);
	assert_int_equal(n, 1);
	/* All ones: a device that fell off the bus. */
	memset(c, 0xff, sizeof(c));
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), -EPROTO);
}

static void test_find_caps(void **state)
{
	uint8_t c[4096];

	(void)state;
	nic(c, sizeof(c));
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x05), 0x50);
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x11), 0x70);
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x10), 0xa0);
	assert_int_equal(assign_pci_find_cap(c, sizeof(c), 0x09), -ENOENT);
	assert_int_equal(assign_pci_find_ext_cap(c, sizeof(c), 0x0001), 0x100);
	assert_int_equal(assign_pci_find_ext_cap(c, sizeof(c), 0x0010), 0x140);
	assert_int_equal(assign_pci_find_ext_cap(c, sizeof(c), 0x000b), -ENOENT);
	assert_int_equal(assign_pci_find_ext_cap(c, 256, 0x0001), -ENOENT);
	assert_int_equal(assign_pci_find_ext_cap(c, 0x103, 0x0001), -ENOENT);
	/* The extended header itself must fit. */
	assert_int_equal(assign_pci_find_ext_cap(c, 0x104, 0x0001), 0x100);
	assert_int_equal(assign_pci_find_ext_cap(c, 0x104, 0x0010), -EPROTO);
}

static void test_ext_malformed(void **state)
{
	uint8_t c[4096];
	size_t n;

	(void)state;
	/* No extended space: header 0 or all ones. */
	nic(c, sizeof(c));
	wr32(c, 0x100, 0);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), 0);
	assert_int_equal(n, 4);
	wr32(c, 0x100, 0xffffffff);
	assert_int_equal(assign_pci_find_ext_cap(c, sizeof(c), 0xffff), -ENOENT);

	/* Loop 0x100 -> 0x140 -> 0x100. */
	nic(c, sizeof(c));
	ext_cap(c, 0x140, 0x0010, 1, 0x100);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), -EPROTO);
	assert_int_equal(n, 6);
	assert_int_equal(assign_pci_find_ext_cap(c, sizeof(c), 0x0002), -EPROTO);
	/* Self loop. */
	nic(c, sizeof(c));
	ext_cap(c, 0x100, 0x0001, 1, 0x100);
	assert_int_equal(assign_pci_find_ext_cap(c, sizeof(c), 0x0010), -EPROTO);
	/* Pointer back into conventional space. */
	nic(c, sizeof(c));
	ext_cap(c, 0x140, 0x0010, 1, 0x040);
	assert_int_equal(assign_pci_find_ext_cap(c, sizeof(c), 0x0002), -EPROTO);
	/* Misaligned. */
	nic(c, sizeof(c));
	ext_cap(c, 0x100, 0x0001, 1, 0x142);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), -EPROTO);
	assert_int_equal(n, 5);
	/* Beyond the buffer. */
	nic(c, sizeof(c));
	ext_cap(c, 0x140, 0x0010, 1, 0x300);
	assert_int_equal(assign_pci_list_caps(c, 0x200, NULL, 0, &n), -EPROTO);
	assert_int_equal(n, 6);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), 0);
	assert_int_equal(n, 7);
	/* A malformed standard list still lets the extended one be walked. */
	nic(c, sizeof(c));
	std_cap(c, 0xa0, 0x10, 0x41);
	assert_int_equal(assign_pci_list_caps(c, sizeof(c), NULL, 0, &n), -EPROTO);
	assert_int_equal(n, 6);
	/* The longest chain: every dword of extended space. */
	memset(c + 0x100, 0, 0xf00);
	for (size_t off = 0x100; off < 0x1000; off += 4)
		ext_cap(c, off, 0x000b, 1, off + 4 < 0x1000 ? (uint16_t)(off + 4) : 0);
	assert_int_equal(assign_pci_find_ext_cap(c, sizeof(c), 0x000c), -ENOENT);
}

static const uint64_t bar_sizes[6] = { 0x20000, 0x100, 0x100000, 0, 0, 0 };

static void test_decode_bars(void **state)
{
	uint8_t c[256];
	struct assign_pci_bar b[6] = { { .size = sizeof(b[0]) } };

	(void)state;
	header(c, sizeof(c), 0);
	wr32(c, 0x10, 0xfe000000);              /* BAR0 mem32 */
	wr32(c, 0x14, 0x0000c001);              /* BAR1 io */
	wr32(c, 0x18, 0x2000000c);              /* BAR2 mem64 prefetchable */
	wr32(c, 0x1c, 0x00000001);              /* BAR3 upper half */
	assert_int_equal(assign_pci_decode_bars(c, sizeof(c), bar_sizes, b), 0);
	assert_true(b[0].present);
	assert_false(b[0].io);
	assert_false(b[0].mem64);
	assert_false(b[0].prefetchable);
	assert_int_equal(b[0].addr, 0xfe000000);
	assert_int_equal(b[0].length, 0x20000);
	assert_true(b[1].present);
	assert_true(b[1].io);
	assert_int_equal(b[1].addr, 0xc000);
	assert_int_equal(b[1].length, 0x100);
	assert_true(b[2].present);
	assert_true(b[2].mem64);
	assert_true(b[2].prefetchable);
	assert_int_equal(b[2].addr, 0x120000000ull);
	assert_int_equal(b[2].length, 0x100000);
	assert_int_equal(b[3].index, 3);
	assert_false(b[3].present);
	assert_false(b[4].present);
	assert_false(b[5].present);
	assert_int_equal(b[5].index, 5);
}

static void test_decode_bars_bad(void **state)
{
	uint8_t c[256];
	struct assign_pci_bar b[6] = { { .size = sizeof(b[0]) } };
	uint64_t sizes[6] = { 0x20000, 0, 0, 0, 0, 0x1000 };

	(void)state;
	header(c, sizeof(c), 0);
	assert_int_equal(assign_pci_decode_bars(NULL, 256, sizes, b), -EINVAL);
	assert_int_equal(assign_pci_decode_bars(c, 63, sizes, b), -EINVAL);
	assert_int_equal(assign_pci_decode_bars(c, 256, NULL, b), -EINVAL);
	assert_int_equal(assign_pci_decode_bars(c, 256, sizes, NULL), -EINVAL);
	/* Bridge header. */
	c[0x0e] = 0x01;
	assert_int_equal(assign_pci_decode_bars(c, 256, sizes, b), -EINVAL);
	/* Multi-function bit alone is fine. */
	c[0x0e] = 0x80;
	assert_int_equal(assign_pci_decode_bars(c, 256, sizes, b), 0);
	c[0x0e] = 0;
	/* 64-bit BAR in slot 5. */
	wr32(c, 0x24, 0x00000004);
	assert_int_equal(assign_pci_decode_bars(c, 256, sizes, b), -EPROTO);
	/* Reserved memory type. */
	wr32(c, 0x24, 0);
	wr32(c, 0x10, 0x00000006);
	assert_int_equal(assign_pci_decode_bars(c, 256, sizes, b), -EPROTO);
	/* Size not a power of two. */
	wr32(c, 0x10, 0);
	sizes[0] = 0x3000;
	assert_int_equal(assign_pci_decode_bars(c, 256, sizes, b), -EPROTO);
	/* 64 bytes are enough. */
	sizes[0] = 0x1000;
	assert_int_equal(assign_pci_decode_bars(c, 64, sizes, b), 0);
	assert_true(b[0].present);
	assert_true(b[5].present);
}

static void msi_cap(uint8_t *c, size_t off, uint16_t ctl)
{
	std_cap(c, off, 0x05, 0);
	wr16(c, off + 2, ctl);
}

static void test_parse_msi(void **state)
{
	uint8_t c[256];
	struct assign_pci_msi m = { .size = sizeof(m) };

	(void)state;
	header(c, sizeof(c), 0x50);
	msi_cap(c, 0x50, 0x0000); /* 32-bit, 1 vector, no mask */
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), &m), 0);
	assert_int_equal(m.offset, 0x50);
	assert_int_equal(m.max_vectors, 1);
	assert_int_equal(m.enabled_vectors, 1);
	assert_false(m.enabled);
	assert_false(m.addr64);
	assert_false(m.per_vector_mask);
	assert_int_equal(m.data_offset, 0x58);
	assert_int_equal(m.mask_offset, 0);

	/* 64-bit, per-vector mask, 32 capable, 8 enabled, enabled. */
	msi_cap(c, 0x50, 0x0100 | 0x0080 | (3 << 4) | (5 << 1) | 1);
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), &m), 0);
	assert_int_equal(m.max_vectors, 32);
	assert_int_equal(m.enabled_vectors, 8);
	assert_true(m.enabled);
	assert_true(m.addr64);
	assert_true(m.per_vector_mask);
	assert_int_equal(m.data_offset, 0x5c);
	assert_int_equal(m.mask_offset, 0x60);

	/* 32-bit with mask. */
	msi_cap(c, 0x50, 0x0100);
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), &m), 0);
	assert_int_equal(m.data_offset, 0x58);
	assert_int_equal(m.mask_offset, 0x5c);
}

static void test_parse_msi_bad(void **state)
{
	uint8_t c[256];
	struct assign_pci_msi m = { .size = sizeof(m) };

	(void)state;
	header(c, sizeof(c), 0x50);
	std_cap(c, 0x50, 0x11, 0);
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), &m), -ENOENT);
	assert_int_equal(assign_pci_parse_msi(NULL, sizeof(c), &m), -EINVAL);
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), NULL), -EINVAL);
	assert_int_equal(assign_pci_parse_msi(c, 32, &m), -EINVAL);
	/* Reserved Multiple Message Capable. */
	msi_cap(c, 0x50, 6 << 1);
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), &m), -EPROTO);
	msi_cap(c, 0x50, 7 << 4);
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), &m), -EPROTO);
	/* Runs past config space: 64-bit + mask at 0xf0 needs 0x18 bytes. */
	header(c, sizeof(c), 0xf0);
	msi_cap(c, 0xf0, 0x0180);
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), &m), -EPROTO);
	msi_cap(c, 0xf0, 0x0080); /* 0x0e bytes: fits */
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), &m), 0);
	/* ...but not in a 0xfc-byte buffer. */
	assert_int_equal(assign_pci_parse_msi(c, 0xfc, &m), -EPROTO);
	/* Malformed list before MSI. */
	header(c, sizeof(c), 0x40);
	std_cap(c, 0x40, 0x01, 0x40);
	assert_int_equal(assign_pci_parse_msi(c, sizeof(c), &m), -EPROTO);
}

static void msix_cap(uint8_t *c, size_t off, uint16_t ctl, uint32_t table,
		     uint32_t pba)
{
	std_cap(c, off, 0x11, 0);
	wr16(c, off + 2, ctl);
	wr32(c, off + 4, table);
	wr32(c, off + 8, pba);
}

static void test_parse_msix(void **state)
{
	uint8_t c[256];
	struct assign_pci_msix x = { .size = sizeof(x) };

	(void)state;
	header(c, sizeof(c), 0x70);
	msix_cap(c, 0x70, 4, 0x3000, 0x3800);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), 0);
	assert_int_equal(x.offset, 0x70);
	assert_int_equal(x.table_size, 5);
	assert_false(x.enabled);
	assert_false(x.function_masked);
	assert_int_equal(x.table_bar, 0);
	assert_int_equal(x.table_offset, 0x3000);
	assert_int_equal(x.pba_bar, 0);
	assert_int_equal(x.pba_offset, 0x3800);

	msix_cap(c, 0x70, 0xc000 | 0x7ff, 0x2003, 0x4005);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), 0);
	assert_int_equal(x.table_size, 2048);
	assert_true(x.enabled);
	assert_true(x.function_masked);
	assert_int_equal(x.table_bar, 3);
	assert_int_equal(x.table_offset, 0x2000);
	assert_int_equal(x.pba_bar, 5);
	assert_int_equal(x.pba_offset, 0x4000);
}

static void test_parse_msix_bad(void **state)
{
	uint8_t c[256];
	struct assign_pci_msix x = { .size = sizeof(x) };

	(void)state;
	header(c, sizeof(c), 0x70);
	msi_cap(c, 0x70, 0);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), -ENOENT);
	assert_int_equal(assign_pci_parse_msix(NULL, sizeof(c), &x), -EINVAL);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), NULL), -EINVAL);
	msix_cap(c, 0x70, 0, 0x3006, 0x3800);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), -EPROTO);
	msix_cap(c, 0x70, 0, 0x3000, 0x3807);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), -EPROTO);
	/* Runs past config space. */
	header(c, sizeof(c), 0xf8);
	std_cap(c, 0xf8, 0x11, 0);
	assert_int_equal(assign_pci_parse_msix(c, sizeof(c), &x), -EPROTO);
	header(c, sizeof(c), 0x70);
	msix_cap(c, 0x70, 0, 0, 0);
	assert_int_equal(assign_pci_parse_msix(c, 0x78, &x), -EPROTO);
}

/* Random bytes in exactly-sized heap buffers: ASan catches any overread. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static void test_random_bytes(void **state)
{
	static const size_t lens[] = { 64, 65, 100, 255, 256, 257, 260, 1000,
				       4095, 4096, 5000 };

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = lens[rnd() % ARRAY_LEN(lens)];
		uint8_t *c = malloc(len);
		struct assign_pci_cap caps[16] = { { .size = sizeof(caps[0]) } };
		struct assign_pci_bar b[6] = { { .size = sizeof(b[0]) } };
		struct assign_pci_msi m = { .size = sizeof(m) };
		struct assign_pci_msix x = { .size = sizeof(x) };
		uint64_t sizes[6];
		size_t n;
		int r;

		assert_non_null(c);
		for (size_t i = 0; i < len; i++)
			c[i] = (uint8_t)rnd();
		/* Bias toward plausible lists so the walks go deep. */
		if (iter % 2) {
			wr16(c, 6, 0x10);
			c[0x34] = (uint8_t)(0x40 + (rnd() % 48) * 4);
			for (size_t off = 0x40; off + 1 < MIN_LEN(len, 256); off += 4)
				c[off + 1] = (uint8_t)(rnd() % 3 ? 0x40 + (rnd() % 48) * 4 : 0);
		}
		for (int i = 0; i < 6; i++)
			sizes[i] = rnd() % 2 ? 1ull << (rnd() % 40) : rnd();
		r = assign_pci_list_caps(c, len, caps, ARRAY_LEN(caps), &n);
		assert_true(r == 0 || r == -EPROTO);
		r = assign_pci_find_cap(c, len, (uint8_t)rnd());
		assert_true(r > 0 || r == -ENOENT || r == -EPROTO);
		if (r > 0)
			assert_true(r >= 0x40 && r < 256 && (size_t)r + 2 <= len);
		r = assign_pci_find_ext_cap(c, len, (uint16_t)(rnd() % 0x30));
		assert_true(r > 0 || r == -ENOENT || r == -EPROTO);
		if (r > 0)
			assert_true(r >= 0x100 && (size_t)r + 4 <= len);
		r = assign_pci_decode_bars(c, len, sizes, b);
		assert_true(r == 0 || r == -EINVAL || r == -EPROTO);
		r = assign_pci_parse_msi(c, len, &m);
		assert_true(r == 0 || r == -ENOENT || r == -EPROTO);
		r = assign_pci_parse_msix(c, len, &x);
		assert_true(r == 0 || r == -ENOENT || r == -EPROTO);
		if (r == 0)
			assert_true(x.table_bar <= 5 && x.pba_bar <= 5);
		free(c);
	}
}

/* The one answer the IOMMU and host layers share: which drivers are vfio,
 * which leave the group viable, which block it. */
static void test_driver_kind(void **state)
{
	static const struct {
		const char *driver;
		enum pci_driver_kind kind;
	} cases[] = {
		{ "", PCI_DRIVER_NONE },
		{ "vfio-pci", PCI_DRIVER_VFIO },
		{ "mlx5_vfio_pci", PCI_DRIVER_VFIO },
		{ "hisi_acc_vfio_pci", PCI_DRIVER_VFIO },
		{ "pci-stub", PCI_DRIVER_DMA_SAFE },
		{ "pcieport", PCI_DRIVER_DMA_SAFE },
		{ "e1000e", PCI_DRIVER_HOST },
		{ "nvme", PCI_DRIVER_HOST },
		/* Names that merely contain "vfio" are not vfio-pci. */
		{ "vfio", PCI_DRIVER_HOST },
		{ "vfio-platform", PCI_DRIVER_HOST },
		{ "_vfio_pci", PCI_DRIVER_HOST },
		{ "vfio-pci-extra", PCI_DRIVER_HOST },
	};

	(void)state;
	assert_int_equal(pci_driver_kind(NULL), PCI_DRIVER_NONE);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (pci_driver_kind(cases[i].driver) != cases[i].kind)
			fail_msg("driver '%s': kind %d, expected %d",
				 cases[i].driver,
				 pci_driver_kind(cases[i].driver),
				 cases[i].kind);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_caps),
		cmocka_unit_test(test_list_caps_args),
		cmocka_unit_test(test_no_cap_list),
		cmocka_unit_test(test_std_loops),
		cmocka_unit_test(test_std_bad_pointers),
		cmocka_unit_test(test_find_caps),
		cmocka_unit_test(test_ext_malformed),
		cmocka_unit_test(test_decode_bars),
		cmocka_unit_test(test_decode_bars_bad),
		cmocka_unit_test(test_parse_msi),
		cmocka_unit_test(test_parse_msi_bad),
		cmocka_unit_test(test_parse_msix),
		cmocka_unit_test(test_parse_msix_bad),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_driver_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
