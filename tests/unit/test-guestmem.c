// SPDX-License-Identifier: MIT
/*
 * Unit tests: guest memory policy (include/libassign/guestmem.h) against
 * the mock kernel. Map-all chunking, layout conflicts, budgets, rollback,
 * prefault; guest-IOMMU translation, splits, merges, failures; policy
 * switches; the one table shared with the IOMMU object and mappings made
 * beside the policy; a randomized model test; the AVL tree on its own.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock.h"
#include "core/core.h"
#include "iommu/iommu.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PG (4 * KiB)

#define DEV "0000:00:03.0"
#define GROUP 7

struct fx {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
	struct assign_guestmem *gm;
	/* reserved host address space, aligned to 1 GiB */
	void *resv;
	size_t resv_len;
	uint8_t *host;
};

/* Host memory: 3 GiB of address space (4 reserved), NORESERVE, aligned
 * to 1 GiB so tests can pick any congruence. Only touched pages cost
 * memory. */
static uint8_t *reserve_host(struct fx *f)
{
	size_t len = 4 * GiB;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	f->resv = p;
	f->resv_len = len;
	return (uint8_t *)(((uintptr_t)p + GiB - 1) & ~(uintptr_t)(GiB - 1));
}

static int setup_backend(void **state, enum assign_iommu_backend be,
			 uint64_t pgsizes)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mock_device_cfg cfg;
	struct assign_iommu_opts io = { .size = sizeof(io), .backend = be };

	assert_non_null(f);
	assert_int_equal(mock_kernel_new(&f->mk), 0);
	mock_device_cfg_default(&cfg, DEV, GROUP);
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	if (pgsizes)
		mock_set_pgsizes(f->mk, pgsizes);
	assert_int_equal(mock_ctx_new(f->mk, &f->ctx), 0);
	/* Many calls fail on purpose; their messages are checked through
	 * assign_ctx_get_last_error(). GM_TEST_VERBOSE=1 shows them. */
	if (!getenv("GM_TEST_VERBOSE"))
		assign_ctx_set_log_priority(f->ctx, LOG_CRIT);
	assert_int_equal(assign_iommu_new(f->ctx, &io, &f->iommu), 0);
	assert_int_equal(assign_device_open(f->iommu, DEV, NULL, &f->dev), 0);
	f->host = reserve_host(f);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_backend(state, ASSIGN_IOMMU_TYPE1, 0);
}

static int setup_no1g(void **state)
{
	return setup_backend(state, ASSIGN_IOMMU_TYPE1, PG | 2 * MiB);
}

static int setup_iommufd(void **state)
{
	return setup_backend(state, ASSIGN_IOMMU_IOMMUFD, 0);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assign_guestmem_unref(f->gm);
	/* Everything the policy mapped is gone with it. */
	assert_int_equal(mock_dma_count(f->mk), 0);
	assign_device_unref(f->dev);
	assign_iommu_unref(f->iommu);
	assign_ctx_unref(f->ctx);
	assert_int_equal(mock_open_fds(f->mk), 0);
	mock_kernel_free(f->mk);
	munmap(f->resv, f->resv_len);
	free(f);
	return 0;
}

static void new_gm(struct fx *f, enum assign_guestmem_policy policy,
		   uint32_t flags)
{
	struct assign_guestmem_opts o = {
		.size = sizeof(o), .policy = policy, .flags = flags,
	};

	assert_int_equal(assign_guestmem_new(f->iommu, &o, &f->gm), 0);
}

static struct assign_guestmem_region region(uint64_t gpa, uint64_t len,
					    void *vaddr)
{
	return (struct assign_guestmem_region){
		.size = sizeof(struct assign_guestmem_region),
		.gpa = gpa, .length = len, .vaddr = vaddr, .fd = -1,
	};
}

static int add1(struct fx *f, uint64_t gpa, uint64_t len, void *vaddr)
{
	struct assign_guestmem_region r = region(gpa, len, vaddr);

	return assign_guestmem_add_regions(f->gm, &r, 1, NULL, 0, NULL);
}

static struct assign_guestmem_stats stats(struct fx *f)
{
	struct assign_guestmem_stats s = { .size = sizeof(s) };

	assert_int_equal(assign_guestmem_get_stats(f->gm, &s), 0);
	return s;
}

/* The mock maps @iova to @vaddr (or nothing when @vaddr is NULL). */
static void expect_dma(struct fx *f, uint64_t iova, const void *vaddr)
{
	void *va = NULL;
	uint32_t fl;
	int r = mock_dma_lookup(f->mk, iova, &va, &fl);

	if (!vaddr) {
		assert_int_equal(r, -ENOENT);
		return;
	}
	assert_int_equal(r, 0);
	assert_ptr_equal(va, vaddr);
}

/* ------------------------------------------------------------------ */
/* Lifetime */

static void test_new_args(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_opts o = { .size = 4 };
	struct assign_guestmem *gm = NULL;

	assert_int_equal(assign_guestmem_new(NULL, NULL, &gm), -EINVAL);
	assert_int_equal(assign_guestmem_new(f->iommu, NULL, NULL), -EINVAL);
	assert_int_equal(assign_guestmem_new(f->iommu, &o, &gm), -EINVAL);
	o.size = sizeof(o);
	o.policy = 7;
	assert_int_equal(assign_guestmem_new(f->iommu, &o, &gm), -EINVAL);
	o.policy = ASSIGN_GUESTMEM_MAP_ALL;
	o.flags = 1u << 30;
	assert_int_equal(assign_guestmem_new(f->iommu, &o, &gm), -EINVAL);
	assert_null(gm);
	assert_null(assign_guestmem_unref(NULL));
	assert_null(assign_guestmem_ref(NULL));
}

static void test_one_per_iommu(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem *other = NULL;

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(assign_guestmem_new(f->iommu, NULL, &other), -EBUSY);
	assert_null(other);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "share"));
	assert_ptr_equal(assign_guestmem_get_iommu(f->gm), f->iommu);
	assert_ptr_equal(assign_guestmem_ref(f->gm), f->gm);
	assign_guestmem_unref(f->gm); /* still one left */
	assert_int_equal(assign_guestmem_get_policy(f->gm),
			 ASSIGN_GUESTMEM_MAP_ALL);
	f->gm = assign_guestmem_unref(f->gm);
	/* Released: a new one may be made. */
	assert_int_equal(assign_guestmem_new(f->iommu, NULL, &f->gm), 0);
}

/* A larger opts struct from a newer caller is fine when its tail is 0. */
static void test_opts_growth(void **state)
{
	struct fx *f = *state;
	struct {
		struct assign_guestmem_opts o;
		uint64_t future;
	} big = { .o = { .size = sizeof(big) } };

	assert_int_equal(assign_guestmem_new(f->iommu, &big.o, &f->gm), 0);
	f->gm = assign_guestmem_unref(f->gm);
	big.future = 1;
	assert_int_equal(assign_guestmem_new(f->iommu, &big.o, &f->gm),
			 -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Map-all */

static void test_mapall_basic(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[2] = {
		region(0, 64 * MiB, f->host),
		region(1 * GiB, 32 * MiB, f->host + 64 * MiB),
	};
	struct assign_guestmem_mapping m = { .size = sizeof(m) };
	struct assign_guestmem_stats s = { .size = sizeof(s) };

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 2, NULL, 0,
						     NULL),
			 0);
	expect_dma(f, 0, f->host);
	expect_dma(f, 64 * MiB - PG, f->host + 64 * MiB - PG);
	expect_dma(f, 64 * MiB, NULL);
	expect_dma(f, 1 * GiB + 5 * PG, f->host + 64 * MiB + 5 * PG);
	s = stats(f);
	assert_int_equal(s.regions, 2);
	assert_int_equal(s.ram_bytes, 96 * MiB);
	assert_int_equal(s.mapped_bytes, 96 * MiB);
	assert_int_equal(mock_dma_bytes(f->mk), 96 * MiB);
	assert_int_equal(assign_guestmem_lookup(f->gm, 1 * GiB + PG, &m), 0);
	assert_int_equal(m.gpa, m.iova);
	assert_int_equal(m.flags, ASSIGN_DMA_F_RW);
	assert_int_equal(assign_guestmem_lookup(f->gm, 100 * MiB, &m),
			 -ENOENT);
	/* Guest IOMMU operations are refused while the guest has none. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0, 0, PG,
						   ASSIGN_DMA_F_RW),
			 -EPERM);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, 0, PG), -EPERM);
	/* Remove it all again. */
	assert_int_equal(assign_guestmem_remove(f->gm, 0, 2 * GiB), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(stats(f).regions, 0);
	assert_int_equal(assign_guestmem_remove(f->gm, 0, 2 * GiB), -ENOENT);
}

/*
 * A caller built against an older header whose struct
 * assign_guestmem_region ended before page_size and flags: the library
 * steps through the array by the caller's element size, and the fields
 * the caller does not have read as 0. A newer caller's fields this
 * library does not know must be zero.
 */
static void test_regions_other_sizes(void **state)
{
	struct fx *f = *state;
	struct old_region {
		size_t size;
		uint64_t gpa;
		uint64_t length;
		void *vaddr;
		int fd;
		uint64_t fd_offset;
	} old[2] = {
		{ sizeof(old[0]), 0, 8 * MiB, f->host, -1, 0 },
		{ sizeof(old[0]), 1 * GiB, 4 * MiB, f->host + 8 * MiB, -1, 0 },
	};
	struct new_region {
		struct assign_guestmem_region r;
		uint64_t newer;
	} nr = { region(2 * GiB, 2 * MiB, f->host + 12 * MiB), 0 };

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(
		assign_guestmem_add_regions(
			f->gm,
			(const struct assign_guestmem_region *)(void *)old, 2,
			NULL, 0, NULL),
		0);
	expect_dma(f, 0, f->host);
	expect_dma(f, 1 * GiB + 4 * MiB - PG, f->host + 12 * MiB - PG);
	assert_int_equal(stats(f).ram_bytes, 12 * MiB);
	/* A newer caller: fine while its extra field is zero... */
	nr.r.size = sizeof(nr);
	nr.newer = 1;
	assert_int_equal(assign_guestmem_add_regions(f->gm, &nr.r, 1, NULL, 0,
						     NULL),
			 -EINVAL);
	assert_non_null(
		strstr(assign_ctx_get_last_error(f->ctx), "does not know"));
	nr.newer = 0;
	assert_int_equal(
		assign_guestmem_add_regions(f->gm, &nr.r, 1, NULL, 0, NULL), 0);
	expect_dma(f, 2 * GiB, f->host + 12 * MiB);
	assert_int_equal(stats(f).regions, 3);
}

/*
 * IOVA and host address congruent modulo 1 GiB, region starting 2 MiB +
 * 4 KiB below a 1 GiB boundary and ending 2 MiB + 4 KiB past the next:
 * 4K, 2M, 1G, 2M, 4K chunks, each aligned to its page size.
 */
static void test_mapall_chunks(void **state)
{
	struct fx *f = *state;
	uint64_t gpa = 5 * GiB - 2 * MiB - PG;
	uint64_t len = PG + 2 * MiB + 1 * GiB + 2 * MiB + PG;
	uint8_t *va = f->host + (gpa & (GiB - 1));
	const struct {
		uint64_t iova, size;
	} want[] = {
		{ gpa, PG },
		{ 5 * GiB - 2 * MiB, 2 * MiB },
		{ 5 * GiB, 1 * GiB },
		{ 6 * GiB, 2 * MiB },
		{ 6 * GiB + 2 * MiB, PG },
	};
	struct assign_guestmem_mapping m = { .size = sizeof(m) };

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(add1(f, gpa, len, va), 0);
	assert_int_equal(stats(f).host_mappings, ARRAY_SIZE(want));
	assert_int_equal(mock_dma_count(f->mk), ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_int_equal(assign_guestmem_lookup(f->gm, want[i].iova,
							&m),
				 0);
		assert_int_equal(m.iova, want[i].iova);
		assert_int_equal(m.length, want[i].size);
		assert_ptr_equal(m.vaddr, va + (want[i].iova - gpa));
		expect_dma(f, want[i].iova, va + (want[i].iova - gpa));
	}
}

/* Not congruent beyond 4 KiB: one chunk, small pages are all there is. */
static void test_mapall_chunks_skewed(void **state)
{
	struct fx *f = *state;

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(add1(f, 1 * GiB, 1 * GiB, f->host + PG), 0);
	assert_int_equal(stats(f).host_mappings, 1);
	expect_dma(f, 1 * GiB, f->host + PG);
}

/* Only 4K|2M supported: the 1 GiB body becomes 2 MiB-aligned chunks. */
static void test_mapall_chunks_pgsizes(void **state)
{
	struct fx *f = *state;
	uint64_t gpa = 5 * GiB - 2 * MiB - PG;
	uint64_t len = PG + 2 * MiB + 1 * GiB + 2 * MiB + PG;
	struct assign_guestmem_mapping m = { .size = sizeof(m) };

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(add1(f, gpa, len, f->host + (gpa & (GiB - 1))), 0);
	/* 4K head, one 2M-aligned body, 4K tail */
	assert_int_equal(stats(f).host_mappings, 3);
	assert_int_equal(assign_guestmem_lookup(f->gm, 5 * GiB, &m), 0);
	assert_int_equal(m.iova, 5 * GiB - 2 * MiB);
	assert_int_equal(m.length, 1 * GiB + 4 * MiB);
}

/* chunk_max splits the body at aligned points. */
static void test_mapall_chunk_max(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_opts o = { .size = sizeof(o),
					  .chunk_max = 256 * MiB };

	assert_int_equal(assign_guestmem_new(f->iommu, &o, &f->gm), 0);
	assert_int_equal(add1(f, 4 * GiB, 1 * GiB, f->host), 0);
	assert_int_equal(stats(f).host_mappings, 4);
	for (int i = 0; i < 4; i++)
		expect_dma(f, 4 * GiB + (uint64_t)i * 256 * MiB,
			   f->host + (uint64_t)i * 256 * MiB);
}

static void test_mapall_invalid(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[3] = {
		region(0, 0, f->host),
		region(PG + 1, PG, f->host),
		region(8 * MiB, 2 * MiB, f->host),
	};
	struct assign_conflict c[4] = { { .size = sizeof(c[0]) } };
	size_t n = 0;

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	r[2].flags = 0x80;
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 3, c, 4, &n),
			 -EINVAL);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(c[i].kind, ASSIGN_CONFLICT_INVALID);
		assert_int_equal(c[i].index, i);
	}
	r[0] = region(0, PG, NULL);
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 1, NULL, 0, NULL),
			 -EINVAL);
	r[0] = region(0, 2 * MiB, f->host + PG);
	r[0].page_size = 2 * MiB; /* host address not 2M aligned */
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 1, NULL, 0, NULL),
			 -EINVAL);
	r[0].size = 8;
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 1, NULL, 0, NULL),
			 -EINVAL);
	assert_int_equal(assign_guestmem_add_regions(f->gm, NULL, 1, NULL, 0,
						     NULL),
			 -EINVAL);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(stats(f).regions, 0);
}

/* Every conflict comes back at once: the MSI window, outside the IOVA
 * ranges, overlaps with each other and with registered RAM. */
static void test_mapall_layout_conflicts(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[4] = {
		region(3 * GiB, 1 * GiB, f->host),             /* MSI window */
		region(1ull << 48, 2 * MiB, f->host),           /* too high */
		region(64 * MiB, 4 * MiB, f->host),             /* overlaps r[3] */
		region(66 * MiB, 4 * MiB, f->host + 4 * MiB),
	};
	struct assign_guestmem_region ok = region(0, 64 * MiB, f->host);
	struct assign_conflict c[16] = { { .size = sizeof(c[0]) } };
	size_t n = 0;
	bool seen_resv = false, seen_out = false, seen_ovl = false;

	mock_set_reserved_regions(f->mk, GROUP,
				  "0x00000000fee00000 0x00000000feefffff msi\n");
	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(assign_guestmem_add_regions(f->gm, &ok, 1, NULL, 0,
						     NULL),
			 0);
	/* Dry run and real add report the same. */
	assert_int_equal(assign_guestmem_check_layout(f->gm, r, 4, c, 16, &n),
			 -ERANGE);
	assert_true(n >= 3);
	for (size_t i = 0; i < MIN(n, ARRAY_SIZE(c)); i++) {
		if (c[i].index == 0 && (c[i].kind == ASSIGN_CONFLICT_RESERVED ||
					c[i].kind == ASSIGN_CONFLICT_OUTSIDE_IOVA)) {
			assert_true(c[i].start <= 0xfee00000);
			assert_true(c[i].last >= 0xfeefffff);
			seen_resv = true;
		}
		if (c[i].index == 1 && c[i].kind == ASSIGN_CONFLICT_OUTSIDE_IOVA)
			seen_out = true;
		if (c[i].kind == ASSIGN_CONFLICT_OVERLAP) {
			assert_true(c[i].index == 3);
			assert_int_equal(c[i].start, 66 * MiB);
			assert_int_equal(c[i].last, 68 * MiB - 1);
			seen_ovl = true;
		}
	}
	assert_true(seen_resv && seen_out && seen_ovl);
	n = 0;
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 4, c, 16, &n),
			 -ERANGE);
	assert_true(n >= 3);
	/* Nothing new mapped or registered. */
	assert_int_equal(stats(f).regions, 1);
	assert_int_equal(mock_dma_bytes(f->mk), 64 * MiB);
	/* Overlap with registered RAM. */
	r[0] = region(32 * MiB, 64 * MiB, f->host);
	assert_int_equal(assign_guestmem_check_layout(f->gm, r, 1, c, 16, &n),
			 -ERANGE);
	assert_int_equal(c[0].kind, ASSIGN_CONFLICT_OVERLAP);
	assert_int_equal(c[0].start, 32 * MiB);
	assert_int_equal(c[0].last, 64 * MiB - 1);
	/* With too small an array the count is still right. */
	r[0] = region(3 * GiB, 1 * GiB, f->host);
	r[1] = region(1ull << 48, 2 * MiB, f->host);
	{
		size_t full = 0;

		assert_int_equal(assign_guestmem_check_layout(f->gm, r, 2, c,
							      16, &full),
				 -ERANGE);
		assert_true(full >= 2);
		assert_int_equal(assign_guestmem_check_layout(f->gm, r, 2, c, 1,
							      &n),
				 -ERANGE);
		assert_int_equal(n, full);
		assert_int_equal(assign_guestmem_check_layout(f->gm, r, 2, NULL,
							      0, &n),
				 -ERANGE);
		assert_int_equal(n, full);
		/* The message names the first conflict even without an
		 * array. */
		assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
				       "first: region 0"));
	}
	/* A RAM layout placed around the window passes. */
	r[0] = region(3 * GiB, 0xfee00000 - 3 * GiB, f->host);
	r[1] = region(0xfef00000, 4 * GiB - 0xfef00000, f->host);
	assert_int_equal(assign_guestmem_check_layout(f->gm, r, 2, c, 16, &n),
			 0);
	assert_int_equal(n, 0);
}

static void test_mapall_memlock(void **state)
{
	struct fx *f = *state;

	mock_set_memlock(f->mk, 16 * MiB);
	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(add1(f, 0, 8 * MiB, f->host), 0);
	assert_int_equal(add1(f, 1 * GiB, 16 * MiB, f->host + 8 * MiB),
			 -ENOMEM);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "guest RAM"));
	assert_int_equal(stats(f).regions, 1);
	assert_int_equal(mock_dma_bytes(f->mk), 8 * MiB);
}

static void test_mapall_dma_entries(void **state)
{
	struct fx *f = *state;
	uint64_t gpa = 5 * GiB - 2 * MiB - PG;
	uint64_t len = PG + 2 * MiB + 1 * GiB + 2 * MiB + PG; /* 5 chunks */

	mock_set_dma_entry_limit(f->mk, 4);
	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(add1(f, gpa, len, f->host + (gpa & (GiB - 1))),
			 -ENOSPC);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "dma_entry_limit"));
	assert_int_equal(mock_dma_count(f->mk), 0);
	mock_set_dma_entry_limit(f->mk, 5);
	assert_int_equal(add1(f, gpa, len, f->host + (gpa & (GiB - 1))), 0);
	assert_int_equal(mock_dma_count(f->mk), 5);
}

/* The k-th MAP_DMA fails: everything made is undone, for every k. */
static void test_mapall_rollback_sweep(void **state)
{
	struct fx *f = *state;
	uint64_t gpa = 5 * GiB - 2 * MiB - PG;
	uint64_t len = PG + 2 * MiB + 1 * GiB + 2 * MiB + PG;
	struct assign_guestmem_region r[2] = {
		region(gpa, len, f->host + (gpa & (GiB - 1))),
		region(0, 16 * MiB, f->host + 1536 * MiB),
	};
	unsigned long k;

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	for (k = 1;; k++) {
		int r1;

		mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, k, -EFAULT);
		r1 = assign_guestmem_add_regions(f->gm, r, 2, NULL, 0, NULL);
		mock_fail_clear(f->mk);
		if (r1 == 0)
			break;
		assert_true(r1 < 0);
		assert_int_equal(mock_dma_count(f->mk), 0);
		assert_int_equal(stats(f).regions, 0);
		assert_int_equal(stats(f).host_mappings, 0);
	}
	assert_int_equal(k, 7); /* 6 chunks: the 7th call never came */
	assert_int_equal(mock_dma_count(f->mk), 6);
}

/* Finding 6: a map-all chunk fails and the rollback's unmap of an earlier
 * chunk fails too. The chunk the kernel still holds stays tracked (and
 * is unmapped with the object), the map-all's own error comes back with
 * a note of what the rollback left. */
static void test_mapall_rollback_unmap_failure(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[2] = {
		region(0, 2 * MiB, f->host),
		region(4 * GiB, 2 * MiB, f->host + 2 * MiB),
	};
	struct assign_guestmem_mapping m = { .size = sizeof(m) };
	struct assign_dma_stats ds = { .size = sizeof(ds) };
	const char *msg;
	int r1;

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 2, -EIO);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_UNMAP_DMA, 1, -ENOSPC);
	r1 = assign_guestmem_add_regions(f->gm, r, 2, NULL, 0, NULL);
	mock_fail_clear(f->mk);
	assert_int_equal(r1, -EIO);
	msg = assign_ctx_get_last_error(f->ctx);
	assert_non_null(strstr(msg, "chunk 2 of 2"));
	assert_non_null(strstr(msg, "rollback could not unmap 1 chunk"));
	assert_int_equal(stats(f).regions, 0);
	assert_int_equal(mock_dma_count(f->mk), 1);
	assert_int_equal(stats(f).host_mappings, 1);
	assert_int_equal(stats(f).mapped_bytes, mock_dma_bytes(f->mk));
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &ds), 0);
	assert_int_equal(ds.mappings, 1);
	assert_int_equal(ds.bytes, 2 * MiB);
	assert_int_equal(assign_guestmem_lookup(f->gm, 0, &m), 0);
	assert_ptr_equal(m.vaddr, f->host);
	expect_dma(f, 0, f->host);
	/* Adding the RAM again replaces the leftover. */
	r1 = assign_guestmem_add_regions(f->gm, r, 2, NULL, 0, NULL);
	if (r1)
		print_message("%s\n", assign_ctx_get_last_error(f->ctx));
	assert_int_equal(r1, 0);
	assert_int_equal(mock_dma_count(f->mk), 2);
	assert_int_equal(stats(f).host_mappings, 2);
	assert_int_equal(stats(f).mapped_bytes, 4 * MiB);

	/* Rollback unmaps that succeed: nothing left, the map's message. */
	assign_guestmem_unref(f->gm);
	f->gm = NULL;
	assert_int_equal(mock_dma_count(f->mk), 0);
	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 2, -EIO);
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 2, NULL, 0, NULL),
			 -EIO);
	mock_fail_clear(f->mk);
	msg = assign_ctx_get_last_error(f->ctx);
	assert_non_null(strstr(msg, "chunk 2 of 2"));
	assert_null(strstr(msg, "rollback"));
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(stats(f).host_mappings, 0);
}

/* Discard the middle of a region, unplug its head, then add RAM back. */
static void test_mapall_remove_split(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_opts o = { .size = sizeof(o),
					  .chunk_max = 16 * MiB };

	assert_int_equal(assign_guestmem_new(f->iommu, &o, &f->gm), 0);
	assert_int_equal(add1(f, 1 * GiB, 64 * MiB, f->host), 0);
	assert_int_equal(mock_dma_count(f->mk), 4);
	/* A 2 MiB hole inside the second 16 MiB chunk. */
	assert_int_equal(assign_guestmem_remove(f->gm, 1 * GiB + 20 * MiB,
						2 * MiB),
			 0);
	expect_dma(f, 1 * GiB + 20 * MiB, NULL);
	expect_dma(f, 1 * GiB + 22 * MiB - PG, NULL);
	expect_dma(f, 1 * GiB + 20 * MiB - PG, f->host + 20 * MiB - PG);
	expect_dma(f, 1 * GiB + 22 * MiB, f->host + 22 * MiB);
	expect_dma(f, 1 * GiB + 40 * MiB, f->host + 40 * MiB);
	assert_int_equal(stats(f).regions, 2);
	assert_int_equal(stats(f).ram_bytes, 62 * MiB);
	assert_int_equal(mock_dma_bytes(f->mk), 62 * MiB);
	assert_true(stats(f).splits >= 1);
	/* Unplug the first 4 KiB page of the RAM (split of a chunk's head). */
	assert_int_equal(assign_guestmem_remove(f->gm, 1 * GiB, PG), 0);
	expect_dma(f, 1 * GiB, NULL);
	expect_dma(f, 1 * GiB + PG, f->host + PG);
	/* Plug the hole back. */
	assert_int_equal(add1(f, 1 * GiB + 20 * MiB, 2 * MiB,
			      f->host + 20 * MiB),
			 0);
	expect_dma(f, 1 * GiB + 21 * MiB, f->host + 21 * MiB);
	assert_int_equal(mock_dma_bytes(f->mk), 64 * MiB - PG);
	assert_int_equal(assign_guestmem_remove(f->gm, 1, PG), -EINVAL);
	assert_int_equal(assign_guestmem_remove(f->gm, 0, 0), -EINVAL);
}

/* The region's MADV_DONTFORK (which stands in for the per-map one) fails
 * with anything but EINVAL: the region is refused before any map. */
static void test_region_dontfork_failure(void **state)
{
	struct fx *f = *state;

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	mock_fail_nth(f->mk, MOCK_MADVISE, 0, 1, -EAGAIN);
	assert_int_equal(add1(f, 0, 2 * MiB, f->host), -EAGAIN);
	mock_fail_clear(f->mk);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "MADV_DONTFORK"));
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(stats(f).regions, 0);
	/* EINVAL (VM_IO memory) is accepted. */
	mock_fail_nth(f->mk, MOCK_MADVISE, 0, 1, -EINVAL);
	assert_int_equal(add1(f, 0, 2 * MiB, f->host), 0);
	mock_fail_clear(f->mk);
	assert_int_equal(stats(f).regions, 1);
	assert_int_equal(mock_dma_count(f->mk), 1);
}

/* A read-only region is mapped without write permission. */
static void test_mapall_readonly(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r = region(0xfffc0000, 256 * KiB,
						 f->host);
	void *va;
	uint32_t fl = 0;

	r.flags = ASSIGN_GUESTMEM_REGION_F_READONLY;
	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(assign_guestmem_add_regions(f->gm, &r, 1, NULL, 0,
						     NULL),
			 0);
	assert_int_equal(mock_dma_lookup(f->mk, 0xfffc0000, &va, &fl), 0);
	assert_int_equal(fl & VFIO_DMA_MAP_FLAG_WRITE, 0);
	assert_true(fl & VFIO_DMA_MAP_FLAG_READ);
}

/* ------------------------------------------------------------------ */
/* Prefault */

struct progress_log {
	uint64_t calls, last_done, total;
	uint64_t cancel_after; /* 0: never */
};

static int progress_cb(void *data, uint64_t done, uint64_t total)
{
	struct progress_log *p = data;

	assert_true(done >= p->last_done);
	assert_true(done <= total);
	p->calls++;
	p->last_done = done;
	p->total = total;
	return p->cancel_after && p->calls >= p->cancel_after;
}

static size_t resident_pages(void *addr, size_t len)
{
	size_t n = len / (size_t)sysconf(_SC_PAGESIZE), count = 0;
	unsigned char *vec = calloc(n, 1);

	assert_non_null(vec);
	assert_int_equal(mincore(addr, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

static void prefault_case(struct fx *f, unsigned int threads, bool no_madv)
{
	struct progress_log log = { 0 };
	struct assign_guestmem_opts o = {
		.size = sizeof(o),
		.flags = ASSIGN_GUESTMEM_F_PREFAULT,
		.prefault_threads = threads,
		.progress = progress_cb,
		.progress_data = &log,
	};
	size_t len = 200 * MiB; /* several 64 MiB blocks, a short last one */
	uint8_t *va = f->host + 2 * GiB;

	assert_int_equal(assign_guestmem_new(f->iommu, &o, &f->gm), 0);
	assert_int_equal(resident_pages(va, len), 0);
	va[5 * PG] = 0x5a; /* contents are kept */
	if (no_madv)
		/* The kernel lacks MADV_POPULATE_WRITE: the first prefault
		 * madvise fails with EINVAL, pages are touched instead. */
		mock_fail_nth(f->mk, MOCK_MADVISE, 0, 1, -EINVAL);
	assert_int_equal(add1(f, 0, len, va), 0);
	assert_int_equal(resident_pages(va, len),
			 len / (size_t)sysconf(_SC_PAGESIZE));
	assert_int_equal(va[5 * PG], 0x5a);
	assert_true(log.calls >= 3);
	assert_int_equal(log.total, 2 * len); /* prefault + mapping */
	assert_int_equal(log.last_done, log.total);
	expect_dma(f, 0, va);
	assert_int_equal(assign_guestmem_remove(f->gm, 0, len), 0);
	munmap(va, len); /* give the memory back */
	assert_true(mmap(va, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
			 -1, 0) == va);
}

static void test_prefault_parallel(void **state)
{
	prefault_case(*state, 4, false);
}

static void test_prefault_single(void **state)
{
	prefault_case(*state, 1, false);
}

static void test_prefault_fallback(void **state)
{
	prefault_case(*state, 3, true);
}

static void test_prefault_cancel(void **state)
{
	struct fx *f = *state;
	struct progress_log log = { .cancel_after = 2 };
	struct assign_guestmem_opts o = {
		.size = sizeof(o),
		.flags = ASSIGN_GUESTMEM_F_PREFAULT,
		.prefault_threads = 1,
		.progress = progress_cb,
		.progress_data = &log,
	};

	assert_int_equal(assign_guestmem_new(f->iommu, &o, &f->gm), 0);
	assert_int_equal(add1(f, 0, 256 * MiB, f->host + 2 * GiB),
			 -ECANCELED);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(stats(f).regions, 0);
	/* Cancel during mapping (after prefault): rolled back too. */
	log = (struct progress_log){ .cancel_after = 6 };
	assert_int_equal(add1(f, 0, 256 * MiB, f->host + 2 * GiB),
			 -ECANCELED);
	assert_int_equal(mock_dma_count(f->mk), 0);
	munmap(f->host + 2 * GiB, 256 * MiB);
	assert_true(mmap(f->host + 2 * GiB, 256 * MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
			 -1, 0) == f->host + 2 * GiB);
}

/* Memory that cannot be populated: a clear error, nothing mapped. */
static void test_prefault_error(void **state)
{
	struct fx *f = *state;
	uint8_t *va = f->host + 2 * GiB;

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, ASSIGN_GUESTMEM_F_PREFAULT);
	assert_int_equal(mprotect(va, 4 * MiB, PROT_NONE), 0);
	assert_true(add1(f, 0, 4 * MiB, va) < 0);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "prefault"));
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(mprotect(va, 4 * MiB, PROT_READ | PROT_WRITE), 0);
}

/* ------------------------------------------------------------------ */
/* Guest IOMMU */

/* Two adjacent regions whose host memory is not contiguous, a hole, and a
 * read-only region. */
static void guest_layout(struct fx *f, uint32_t flags)
{
	struct assign_guestmem_region r[3] = {
		region(0, 1 * MiB, f->host),
		region(1 * MiB, 1 * MiB, f->host + 8 * MiB),
		region(4 * MiB, 64 * KiB, f->host + 16 * MiB),
	};

	r[2].flags = ASSIGN_GUESTMEM_REGION_F_READONLY;
	new_gm(f, ASSIGN_GUESTMEM_GUEST_IOMMU, flags);
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 3, NULL, 0,
						     NULL),
			 0);
	assert_int_equal(mock_dma_count(f->mk), 0); /* nothing until mapped */
}

static void test_guest_map_translate(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_mapping m = { .size = sizeof(m) };
	uint64_t iova = 0x80000000ull;

	guest_layout(f, 0);
	/* Within one region. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova, 0x3000, 2 * PG,
						   ASSIGN_DMA_F_RW),
			 0);
	expect_dma(f, iova, f->host + 0x3000);
	expect_dma(f, iova + PG, f->host + 0x4000);
	expect_dma(f, iova + 2 * PG, NULL);
	assert_int_equal(assign_guestmem_lookup(f->gm, iova + PG, &m), 0);
	assert_int_equal(m.iova, iova);
	assert_int_equal(m.length, 2 * PG);
	assert_int_equal(m.gpa, 0x3000);
	/* Spanning two adjacent regions: two host mappings. */
	iova = 0x90000000ull;
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova, 1 * MiB - PG,
						   3 * PG, ASSIGN_DMA_F_READ),
			 0);
	expect_dma(f, iova, f->host + 1 * MiB - PG);
	expect_dma(f, iova + PG, f->host + 8 * MiB);
	expect_dma(f, iova + 2 * PG, f->host + 8 * MiB + PG);
	assert_int_equal(assign_guestmem_lookup(f->gm, iova + PG, &m), 0);
	assert_int_equal(m.iova, iova + PG);
	assert_int_equal(m.gpa, 1 * MiB);
	assert_int_equal(m.flags, ASSIGN_DMA_F_READ);
	assert_int_equal(stats(f).host_mappings, 3);
	assert_int_equal(stats(f).guest_maps, 2);
	/* Many IOVAs may map the same guest page. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x1000, 0x3000, PG,
						   ASSIGN_DMA_F_RW),
			 0);
	expect_dma(f, 0x1000, f->host + 0x3000);
	/* Read-only region: reads fine, writes refused. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x2000, 4 * MiB, PG,
						   ASSIGN_DMA_F_READ),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x3000, 4 * MiB, PG,
						   ASSIGN_DMA_F_RW),
			 -EACCES);
}

/*
 * A guest that maps one page at ever more IOVAs through its IOMMU pins
 * it again each time. type1 stops it at dma_entry_limit; on iommufd the
 * IOMMU object's own limit does (by default 65535, here 16).
 */
static void test_guest_map_bounded(void **state)
{
	struct fx *f = *state;
	struct assign_iommu_opts io = { .size = sizeof(io),
					.backend = ASSIGN_IOMMU_IOMMUFD,
					.max_mappings = 16 };
	uint32_t i;
	int r = 0;

	f->dev = assign_device_unref(f->dev);
	f->iommu = assign_iommu_unref(f->iommu);
	assert_int_equal(assign_iommu_new(f->ctx, &io, &f->iommu), 0);
	assert_int_equal(assign_device_open(f->iommu, DEV, NULL, &f->dev), 0);
	guest_layout(f, 0);
	for (i = 0; i < 100; i++) {
		r = assign_guestmem_guest_map(f->gm, 0x40000000ull + i * PG,
					      0x3000, PG, ASSIGN_DMA_F_RW);
		if (r < 0)
			break;
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(i, 16);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "limit of 16 DMA mappings"));
	assert_int_equal(mock_dma_count(f->mk), 16);
	assert_int_equal(stats(f).host_mappings, 16);
	/* Room again once the guest unmaps. */
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, 0x40000000ull, PG),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm,
						   0x40000000ull + 200 * PG,
						   0x3000, PG, ASSIGN_DMA_F_RW),
			 0);
}

static void test_guest_map_errors(void **state)
{
	struct fx *f = *state;
	size_t before;

	guest_layout(f, 0);
	/* Outside RAM: the hole between 2 MiB and 4 MiB, beyond the end,
	 * running off the end of RAM. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 2 * MiB, PG,
						   ASSIGN_DMA_F_RW),
			 -EFAULT);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "not guest RAM"));
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 1ull << 40,
						   PG, ASSIGN_DMA_F_RW),
			 -EFAULT);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000,
						   2 * MiB - PG, 2 * PG,
						   ASSIGN_DMA_F_RW),
			 -EFAULT);
	/* Arguments. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10001, 0, PG,
						   ASSIGN_DMA_F_RW),
			 -EINVAL);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 1, PG,
						   ASSIGN_DMA_F_RW),
			 -EINVAL);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 0, 0,
						   ASSIGN_DMA_F_RW),
			 -EINVAL);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 0, PG, 0),
			 -EINVAL);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 0, PG, 8),
			 -EINVAL);
	assert_int_equal(assign_guestmem_guest_map(f->gm, UINT64_MAX - PG + 1,
						   0, 2 * PG, ASSIGN_DMA_F_RW),
			 -EINVAL);
	assert_int_equal(assign_guestmem_guest_map(NULL, 0, 0, PG, 1), -EINVAL);
	/* Overlap with an existing guest mapping. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 0, 4 * PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x12000, 0, 4 * PG,
						   ASSIGN_DMA_F_RW),
			 -EEXIST);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0xe000, 0, 3 * PG,
						   ASSIGN_DMA_F_RW),
			 -EEXIST);
	/* In the MSI window: refused by the IOMMU checks. */
	before = mock_dma_count(f->mk);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0xfee00000, 0, PG,
						   ASSIGN_DMA_F_RW),
			 -ERANGE);
	assert_int_equal(mock_dma_count(f->mk), before);
	assert_int_equal(stats(f).host_mappings, 1);
	/* Beyond the IOVA ranges (the mock's aperture ends at 2^48): the
	 * kernel refuses it and the library explains with the ranges. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, 1ull << 48, 0, PG,
						   ASSIGN_DMA_F_RW),
			 -ERANGE);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "outside the IOVA ranges"));
	assert_int_equal(mock_dma_count(f->mk), before);
	/* Over a mapping made beside the policy through the IOMMU object:
	 * -EEXIST naming that mapping, nothing tracked or mapped. */
	assert_int_equal(assign_iommu_map(f->iommu, 0x7000000,
					  f->host + 32 * MiB, 2 * PG, ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x7001000, 0, 2 * PG,
						   ASSIGN_DMA_F_RW),
			 -EEXIST);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "overlaps the existing mapping 0x7000000-0x7001fff"));
	assert_int_equal(mock_dma_count(f->mk), before + 1);
	assert_int_equal(stats(f).host_mappings, 1);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x7000000, 2 * PG), 0);
	/* Unmapping nothing is fine; bad arguments are not. */
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, 0x40000000, PG), 0);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, 0x40000001, PG),
			 -EINVAL);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, 0, 0), -EINVAL);
}

/* A map over more adjacent regions than a guest map's pieces hold
 * without malloc: one host mapping per region, all translated. */
static void test_guest_map_many_pieces(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[6];
	struct assign_guestmem_mapping m = { .size = sizeof(m) };
	uint64_t iova = 0x80000000ull;

	for (int i = 0; i < 6; i++)
		r[i] = region((uint64_t)i * 64 * KiB, 64 * KiB,
			      f->host + (uint64_t)i * MiB);
	new_gm(f, ASSIGN_GUESTMEM_GUEST_IOMMU, 0);
	assert_int_equal(
		assign_guestmem_add_regions(f->gm, r, 6, NULL, 0, NULL), 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova, 64 * KiB - PG,
						   4 * 64 * KiB + 2 * PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(stats(f).host_mappings, 6);
	assert_int_equal(mock_dma_count(f->mk), 6);
	expect_dma(f, iova, f->host + 64 * KiB - PG);
	for (int i = 1; i <= 4; i++)
		expect_dma(f, iova + PG + (uint64_t)(i - 1) * 64 * KiB,
			   f->host + (uint64_t)i * MiB);
	expect_dma(f, iova + PG + 4 * 64 * KiB, f->host + 5 * MiB);
	assert_int_equal(
		assign_guestmem_lookup(f->gm, iova + PG + 64 * KiB, &m), 0);
	assert_int_equal(m.gpa, 2 * 64 * KiB);
	assert_int_equal(m.length, 64 * KiB);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, iova, 1 * MiB), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
}

/* A map spanning two regions whose second MAP_DMA fails: none remains. */
static void test_guest_map_partial_failure(void **state)
{
	struct fx *f = *state;

	guest_layout(f, 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 2, -ENOMEM);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x100000,
						   1 * MiB - PG, 2 * PG,
						   ASSIGN_DMA_F_RW),
			 -ENOMEM);
	mock_fail_clear(f->mk);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(stats(f).host_mappings, 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x100000,
						   1 * MiB - PG, 2 * PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(mock_dma_count(f->mk), 2);
}

static void test_guest_budget(void **state)
{
	struct fx *f = *state;

	guest_layout(f, 0);
	mock_set_dma_entry_limit(f->mk, 2);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0, 0, PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, PG, PG, PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 2 * PG, 2 * PG, PG,
						   ASSIGN_DMA_F_RW),
			 -ENOSPC);
	assert_int_equal(stats(f).host_mappings, 2);
	mock_set_memlock(f->mk, 2 * PG);
	mock_set_dma_entry_limit(f->mk, 100);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 2 * PG, 2 * PG, PG,
						   ASSIGN_DMA_F_RW),
			 -ENOMEM);
	assert_int_equal(stats(f).host_mappings, 2);
}

static void test_guest_unmap_split(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_mapping m = { .size = sizeof(m) };
	uint64_t iova = 0x40000000;

	guest_layout(f, 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova, 0, 16 * PG,
						   ASSIGN_DMA_F_RW),
			 0);
	/* Cut pages 4..7 out of the middle: two pieces remain. */
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, iova + 4 * PG,
						     4 * PG),
			 0);
	assert_int_equal(mock_dma_count(f->mk), 2);
	for (int i = 0; i < 16; i++)
		expect_dma(f, iova + (uint64_t)i * PG,
			   i >= 4 && i < 8 ? NULL : f->host + i * PG);
	assert_int_equal(assign_guestmem_lookup(f->gm, iova + 9 * PG, &m), 0);
	assert_int_equal(m.iova, iova + 8 * PG);
	assert_int_equal(m.length, 8 * PG);
	assert_int_equal(m.gpa, 8 * PG);
	assert_int_equal(stats(f).splits, 1);
	/* the kernel calls: the map; the unmap of the whole, two remaps */
	assert_int_equal(stats(f).host_maps, 3);
	assert_int_equal(stats(f).host_unmaps, 1);
	/* Cut the head of the second piece and the tail of the first in one
	 * unmap that also covers the hole. */
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, iova + 2 * PG,
						     8 * PG),
			 0);
	for (int i = 0; i < 16; i++)
		expect_dma(f, iova + (uint64_t)i * PG,
			   i >= 2 && i < 10 ? NULL : f->host + i * PG);
	/* Unmap covering whole mappings and more. */
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, 0, 1ull << 40), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(stats(f).host_mappings, 0);
}

/* The remainder cannot be mapped again: the unmap still takes effect and
 * the lost remainder is reported and forgotten. */
static void test_guest_unmap_remap_failure(void **state)
{
	struct fx *f = *state;
	uint64_t iova = 0x40000000;

	guest_layout(f, 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova, 0, 8 * PG,
						   ASSIGN_DMA_F_RW),
			 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 2, -ENOMEM);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, iova + 2 * PG, PG),
			 -ENOMEM);
	mock_fail_clear(f->mk);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "lost"));
	for (int i = 0; i < 8; i++)
		expect_dma(f, iova + (uint64_t)i * PG,
			   i < 2 ? f->host + i * PG : NULL);
	assert_int_equal(stats(f).host_mappings, 1);
	/* The kernel refuses the unmap itself: nothing changes. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_UNMAP_DMA, 1, -EIO);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, iova, PG), -EIO);
	mock_fail_clear(f->mk);
	expect_dma(f, iova, f->host);
	expect_dma(f, iova + PG, f->host + PG);
}

/* guestmem's view is the IOMMU layer's and the kernel's: same count,
 * same bytes, and every IOVA it resolves is mapped (and vice versa). */
static void expect_agree(struct fx *f, uint64_t iova, unsigned npages)
{
	struct assign_guestmem_stats s = stats(f);
	struct assign_dma_stats ds = { .size = sizeof(ds) };

	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &ds), 0);
	assert_int_equal(s.host_mappings, mock_dma_count(f->mk));
	assert_int_equal(s.mapped_bytes, mock_dma_bytes(f->mk));
	assert_int_equal(ds.mappings, mock_dma_count(f->mk));
	assert_int_equal(ds.bytes, mock_dma_bytes(f->mk));
	for (unsigned i = 0; i < npages; i++) {
		struct assign_guestmem_mapping m = { .size = sizeof(m) };
		void *va;
		uint32_t fl;
		uint64_t a = iova + (uint64_t)i * PG;

		assert_int_equal(assign_guestmem_lookup(f->gm, a, &m),
				 mock_dma_lookup(f->mk, a, &va, &fl));
	}
}

/* Finding 5: a guest unmap over several adjacent host mappings, the
 * kernel failing one of the host unmaps. The mapping the kernel kept
 * stays tracked, the others are gone from guestmem as from the IOMMU
 * layer and the kernel; for every position of the failure. */
static void test_guest_unmap_kernel_failure(void **state)
{
	struct fx *f = *state;
	uint64_t iova = 0x40000000;
	static const int errs[] = { -EIO, -ENOMEM, -ENOSPC };
	unsigned long req = assign_iommu_get_backend(f->iommu) ==
					    ASSIGN_IOMMU_IOMMUFD
				    ? IOMMU_IOAS_UNMAP
				    : VFIO_IOMMU_UNMAP_DMA;

	guest_layout(f, 0);
	for (unsigned k = 1; k <= 4; k++) {
		int err = errs[k % 3], r;

		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(assign_guestmem_guest_map(
						 f->gm, iova + i * PG, i * PG, PG,
						 ASSIGN_DMA_F_RW),
					 0);
		assert_int_equal(mock_dma_count(f->mk), 4);
		mock_fail_nth(f->mk, MOCK_IOCTL, req, k, err);
		r = assign_guestmem_guest_unmap(f->gm, iova, 4 * PG);
		mock_fail_clear(f->mk);
		assert_int_equal(r, err);
		assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
				       "cannot unmap"));
		assert_int_equal(mock_dma_count(f->mk), 1);
		expect_agree(f, iova, 4);
		/* The survivor is still unmappable through guestmem. */
		assert_int_equal(assign_guestmem_guest_unmap(f->gm, iova, 4 * PG),
				 0);
		assert_int_equal(mock_dma_count(f->mk), 0);
		expect_agree(f, iova, 4);
	}
}

/* A guest map over two regions (two host mappings): the second fails and
 * so does the rollback's unmap of the first. guestmem tracks the piece
 * the IOMMU and the kernel still hold; the guest can unmap it. */
static void test_guest_map_rollback_unmap_failure(void **state)
{
	struct fx *f = *state;
	uint64_t iova = 0x40000000;

	guest_layout(f, 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 2, -EIO);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_UNMAP_DMA, 1, -ENOSPC);
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova, 1 * MiB - PG,
						   2 * PG, ASSIGN_DMA_F_RW),
			 -EIO);
	mock_fail_clear(f->mk);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "1 of its 2 pieces"));
	assert_int_equal(mock_dma_count(f->mk), 1);
	expect_dma(f, iova, f->host + 1 * MiB - PG);
	expect_agree(f, iova, 2);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, iova, 2 * PG), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	expect_agree(f, iova, 2);
	/* A plain rollback leaves nothing. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 2, -EIO);
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova, 1 * MiB - PG,
						   2 * PG, ASSIGN_DMA_F_RW),
			 -EIO);
	mock_fail_clear(f->mk);
	assert_null(strstr(assign_ctx_get_last_error(f->ctx), "pieces"));
	assert_int_equal(mock_dma_count(f->mk), 0);
	expect_agree(f, iova, 2);
}

static void test_guest_merge(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_mapping m = { .size = sizeof(m) };
	uint64_t iova = 0x40000000;

	guest_layout(f, ASSIGN_GUESTMEM_F_MERGE);
	for (int i = 0; i < 3; i++)
		assert_int_equal(assign_guestmem_guest_map(
					 f->gm, iova + (uint64_t)i * PG,
					 (uint64_t)i * PG, PG, ASSIGN_DMA_F_RW),
				 0);
	assert_int_equal(mock_dma_count(f->mk), 1);
	/* Page 4, then page 3 joins both sides. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova + 4 * PG, 4 * PG,
						   PG, ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(mock_dma_count(f->mk), 2);
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova + 3 * PG, 3 * PG,
						   PG, ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(mock_dma_count(f->mk), 1);
	assert_int_equal(assign_guestmem_lookup(f->gm, iova + 2 * PG, &m), 0);
	assert_int_equal(m.iova, iova);
	assert_int_equal(m.length, 5 * PG);
	for (int i = 0; i < 5; i++)
		expect_dma(f, iova + (uint64_t)i * PG, f->host + i * PG);
	/* Incompatible neighbours stay apart: other permissions, a GPA that
	 * does not continue, another region. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova + 5 * PG, 5 * PG,
						   PG, ASSIGN_DMA_F_READ),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova + 6 * PG,
						   100 * PG, PG, ASSIGN_DMA_F_READ),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova - PG, 1 * MiB,
						   PG, ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(mock_dma_count(f->mk), 4);
	assert_true(stats(f).merges >= 3);
	/* A merge whose map fails leaves the neighbour as it was and maps
	 * the page on its own... unless the kernel is out of resources. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 1, -EFAULT);
	assert_int_equal(assign_guestmem_guest_map(f->gm, iova + 7 * PG,
						   101 * PG, PG, ASSIGN_DMA_F_READ),
			 0);
	mock_fail_clear(f->mk);
	expect_dma(f, iova + 6 * PG, f->host + 100 * PG);
	expect_dma(f, iova + 7 * PG, f->host + 101 * PG);
	/* Splitting a merged mapping works as for any other. */
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, iova + 2 * PG, PG),
			 0);
	expect_dma(f, iova + 2 * PG, NULL);
	expect_dma(f, iova + PG, f->host + PG);
	expect_dma(f, iova + 3 * PG, f->host + 3 * PG);
}

/* RAM taken away is taken from the guest's mappings too. */
static void test_guest_remove_region(void **state)
{
	struct fx *f = *state;

	guest_layout(f, 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x40000000,
						   1 * MiB - 2 * PG, 4 * PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x50000000, 0x5000,
						   PG, ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_remove(f->gm, 1 * MiB, 1 * MiB), 0);
	expect_dma(f, 0x40000000, f->host + 1 * MiB - 2 * PG);
	expect_dma(f, 0x40000000 + PG, f->host + 1 * MiB - PG);
	expect_dma(f, 0x40000000 + 2 * PG, NULL);
	expect_dma(f, 0x40000000 + 3 * PG, NULL);
	expect_dma(f, 0x50000000, f->host + 0x5000);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x60000000, 1 * MiB,
						   PG, ASSIGN_DMA_F_RW),
			 -EFAULT);
	/* Part of a mapping inside one region. */
	assert_int_equal(assign_guestmem_remove(f->gm, 0x5000, PG), 0);
	expect_dma(f, 0x50000000, NULL);
	assert_int_equal(stats(f).regions, 3);
}


/* Host memory that is not mapped is refused before anything happens. */
static void test_region_unmapped_host(void **state)
{
	struct fx *f = *state;
	uint8_t *va = f->host + 2 * GiB;

	new_gm(f, ASSIGN_GUESTMEM_GUEST_IOMMU, 0);
	assert_int_equal(munmap(va, 4 * MiB), 0);
	assert_int_equal(add1(f, 0, 4 * MiB, va), -EFAULT);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "not mapped"));
	assert_int_equal(stats(f).regions, 0);
	assert_true(mmap(va, 4 * MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
			 -1, 0) == va);
}

/* Every syscall of a map-all add fails in turn: each run is all or
 * nothing. */
static void test_mapall_fault_sweep(void **state)
{
	struct fx *f = *state;
	uint64_t gpa = 5 * GiB - 2 * MiB - PG;
	uint64_t len = PG + 2 * MiB + 1 * GiB + 2 * MiB + PG;
	struct assign_guestmem_region r[2] = {
		region(gpa, len, f->host + (gpa & (GiB - 1))),
		region(0, 16 * MiB, f->host + 1536 * MiB),
	};
	unsigned long k, failures = 0;

	/* One prefault thread: the mock's fault counter is not atomic. */
	struct assign_guestmem_opts o = { .size = sizeof(o),
					  .flags = ASSIGN_GUESTMEM_F_PREFAULT,
					  .prefault_threads = 1 };

	unsigned long ncalls, before;

	assert_int_equal(assign_guestmem_new(f->iommu, &o, &f->gm), 0);
	/* A clean run counts the calls. */
	before = mock_calls(f->mk, MOCK_ANY);
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 2, NULL, 0, NULL),
			 0);
	ncalls = mock_calls(f->mk, MOCK_ANY) - before;
	assert_int_equal(assign_guestmem_remove(f->gm, 0, 8 * GiB), 0);
	for (k = 1; k <= ncalls; k++) {
		int ret;

		mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
		ret = assign_guestmem_add_regions(f->gm, r, 2, NULL, 0, NULL);
		mock_fail_clear(f->mk);
		if (ret == 0) {
			/* An advisory call failed (MADV_DONTFORK): fine. */
			assert_int_equal(mock_dma_count(f->mk), 6);
			assert_int_equal(stats(f).regions, 2);
			assert_int_equal(assign_guestmem_remove(f->gm, 0,
								8 * GiB),
					 0);
			continue;
		}
		failures++;
		assert_int_equal(mock_dma_count(f->mk), 0);
		assert_int_equal(stats(f).regions, 0);
		assert_int_equal(stats(f).host_mappings, 0);
	}
	print_message("map-all fault sweep: %lu calls, %lu failed the add\n",
		      ncalls, failures);
	assert_true(failures >= 6);
	/* The prefault populated 1 GiB and more of the host reservation. */
	assert_int_equal(madvise(f->host, 2 * GiB, MADV_DONTNEED), 0);
}

/* The library's view and the mock's agree, page by page. */
static void check_window(struct fx *f, uint64_t iova, unsigned int pages)
{
	for (unsigned int i = 0; i < pages; i++) {
		struct assign_guestmem_mapping m = { .size = sizeof(m) };
		uint64_t a = iova + (uint64_t)i * PG;
		void *va = NULL;
		uint32_t fl;
		int lr = assign_guestmem_lookup(f->gm, a, &m);
		int dr = mock_dma_lookup(f->mk, a, &va, &fl);

		assert_int_equal(lr, dr);
		if (lr == 0)
			assert_ptr_equal((uint8_t *)m.vaddr + (a - m.iova), va);
	}
}

/* Every syscall of a spanning map, a split and a merge fails in turn: the
 * library's mappings always match the kernel's. */
static void test_guest_fault_sweep(void **state)
{
	struct fx *f = *state;
	uint64_t iova = 0x40000000;
	unsigned long k, ncalls = 0, failures = 0;

	guest_layout(f, ASSIGN_GUESTMEM_F_MERGE);
	for (k = 0; k <= ncalls; k++) {
		unsigned long before = mock_calls(f->mk, MOCK_ANY);
		int r1, r2, r3;

		if (k)
			mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
		/* 8 pages over the two adjacent regions, then a split in the
		 * first region's part, then a page continuing the tail
		 * (a merge). */
		r1 = assign_guestmem_guest_map(f->gm, iova, 1 * MiB - 4 * PG,
					       8 * PG, ASSIGN_DMA_F_RW);
		r2 = assign_guestmem_guest_unmap(f->gm, iova + PG, PG);
		r3 = assign_guestmem_guest_map(f->gm, iova + 8 * PG,
					       1 * MiB + 4 * PG, PG,
					       ASSIGN_DMA_F_RW);
		mock_fail_clear(f->mk);
		if (!k) {
			/* The clean run counts the calls. */
			assert_true(r1 == 0 && r2 == 0 && r3 == 0);
			ncalls = mock_calls(f->mk, MOCK_ANY) - before;
		} else if (r1 || r2 || r3) {
			failures++;
		}
		check_window(f, iova - PG, 12);
		assert_int_equal(mock_dma_count(f->mk), stats(f).host_mappings);
		/* Clean slate for the next round. */
		assert_int_equal(assign_guestmem_guest_unmap(f->gm, 0,
							     1ull << 40),
				 0);
		assert_int_equal(mock_dma_count(f->mk), 0);
	}
	print_message("guest fault sweep: %lu calls, %lu runs failed\n", ncalls,
		      failures);
	assert_true(failures >= 5);
}


/* Under the guest IOMMU, a map-all layout check ignores the guest's own
 * mappings (they go on the switch) but not mappings made by others. */
static void test_guest_check_layout(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r = region(16 * MiB, 16 * MiB,
						 f->host + 64 * MiB);
	struct assign_conflict c[4] = { { .size = sizeof(c[0]) } };
	size_t n = 9;

	guest_layout(f, 0);
	assert_int_equal(assign_guestmem_add_regions(f->gm, NULL, 0, NULL, 0,
						     &n),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 16 * MiB, 0, PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_check_layout(f->gm, &r, 1, c, 4, &n),
			 0);
	assert_int_equal(n, 0);
	/* A mapping made directly on the IOMMU is a real conflict. */
	assert_int_equal(assign_iommu_map(f->iommu, 20 * MiB, f->host, PG,
					  ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_check_layout(f->gm, &r, 1, c, 4, &n),
			 -ERANGE);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].kind, ASSIGN_CONFLICT_MAPPED);
	assert_int_equal(c[0].index, 0);
	assert_int_equal(assign_iommu_unmap(f->iommu, 20 * MiB, PG), 0);
}

/* ------------------------------------------------------------------ */
/* The one table: the policy's mappings are records of the IOMMU's */

static unsigned long map_req(struct fx *f)
{
	return assign_iommu_get_backend(f->iommu) == ASSIGN_IOMMU_IOMMUFD ?
		       IOMMU_IOAS_MAP :
		       VFIO_IOMMU_MAP_DMA;
}

static unsigned long unmap_req(struct fx *f)
{
	return assign_iommu_get_backend(f->iommu) == ASSIGN_IOMMU_IOMMUFD ?
		       IOMMU_IOAS_UNMAP :
		       VFIO_IOMMU_UNMAP_DMA;
}

/*
 * The IOMMU table is a sound tree holding what the kernel holds; the
 * policy counts and finds exactly its own records of it, and @ndirect
 * mappings made beside it with assign_iommu_map() are not among them.
 */
static void expect_table(struct fx *f, size_t ndirect)
{
	struct assign_guestmem_stats s = stats(f);
	struct assign_dma_stats ds = { .size = sizeof(ds) };
	uint64_t own_bytes = 0;
	size_t own = 0, direct = 0;

	assert_int_equal(iova_tree_check(&f->iommu->maps), 0);
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &ds), 0);
	assert_int_equal(ds.mappings, mock_dma_count(f->mk));
	assert_int_equal(ds.bytes, mock_dma_bytes(f->mk));
	for (const struct iova_node *n = iova_tree_first(&f->iommu->maps); n;
	     n = iova_tree_next(n)) {
		const struct iommu_mapping *m = iommu_mapping_of(n);
		struct assign_guestmem_mapping gm_m = { .size = sizeof(gm_m) };
		void *va = NULL;
		uint32_t fl;
		int lr = assign_guestmem_lookup(f->gm, n->last, &gm_m);

		assert_int_equal(mock_dma_lookup(f->mk, n->start, &va, &fl), 0);
		assert_ptr_equal(va, m->vaddr);
		if (!iommu_mapping_is_policy(m)) {
			assert_int_equal(lr, -ENOENT);
			direct++;
			continue;
		}
		assert_int_equal(lr, 0);
		assert_int_equal(gm_m.iova, n->start);
		assert_int_equal(gm_m.length, n->last - n->start + 1);
		assert_ptr_equal(gm_m.vaddr, m->vaddr);
		assert_int_equal(gm_m.gpa, m->gpa);
		assert_int_equal(gm_m.flags, m->flags);
		own++;
		own_bytes += gm_m.length;
	}
	assert_int_equal(direct, ndirect);
	assert_int_equal(own, s.host_mappings);
	assert_int_equal(own_bytes, s.mapped_bytes);
	assert_int_equal(own + direct, ds.mappings);
}

/* A mapping made with assign_iommu_map() beside a map-all guestmem is
 * not the policy's: not counted, not looked up, a conflict for RAM over
 * it, and never unmapped by removing RAM, switching policy or the end of
 * the object. */
static void test_direct_beside_mapall(void **state)
{
	struct fx *f = *state;
	uint8_t *dva = f->host + 512 * MiB;
	uint64_t d = 2 * GiB;
	struct assign_guestmem_region over =
		region(d - 2 * MiB, 8 * MiB, f->host + 64 * MiB);
	struct assign_guestmem_mapping m = { .size = sizeof(m) };
	struct assign_conflict c[4] = { { .size = sizeof(c[0]) } };
	size_t n = 0;

	assert_int_equal(assign_iommu_map(f->iommu, d, dva, 2 * MiB,
					  ASSIGN_DMA_F_RW),
			 0);
	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(add1(f, 0, 64 * MiB, f->host), 0);
	assert_int_equal(stats(f).host_mappings, 1);
	assert_int_equal(stats(f).mapped_bytes, 64 * MiB);
	assert_int_equal(assign_guestmem_lookup(f->gm, d, &m), -ENOENT);
	expect_table(f, 1);
	/* RAM over it: a conflict naming it, and nothing replaces it. */
	assert_int_equal(assign_guestmem_check_layout(f->gm, &over, 1, c, 4,
						      &n),
			 -ERANGE);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].kind, ASSIGN_CONFLICT_MAPPED);
	assert_int_equal(c[0].start, d);
	assert_int_equal(c[0].last, d + 2 * MiB - 1);
	assert_int_equal(assign_guestmem_add_regions(f->gm, &over, 1, NULL, 0,
						     NULL),
			 -ERANGE);
	expect_dma(f, d, dva);
	/* Removing a range of RAM around it leaves it. */
	assert_int_equal(add1(f, d + 2 * MiB, 8 * MiB, f->host + 64 * MiB), 0);
	assert_int_equal(add1(f, d - 4 * MiB, 4 * MiB, f->host + 128 * MiB), 0);
	expect_table(f, 1);
	assert_int_equal(assign_guestmem_remove(f->gm, 1 * GiB, 2 * GiB), 0);
	expect_dma(f, d, dva);
	expect_dma(f, d + 2 * MiB, NULL);
	expect_dma(f, d - PG, NULL);
	expect_table(f, 1);
	/* Policy switches remove and make only the policy's mappings. */
	assert_int_equal(
		assign_guestmem_set_policy(f->gm, ASSIGN_GUESTMEM_GUEST_IOMMU),
		0);
	assert_int_equal(mock_dma_count(f->mk), 1);
	assert_int_equal(stats(f).host_mappings, 0);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, 0, 1ull << 40), 0);
	expect_dma(f, d, dva);
	assert_int_equal(
		assign_guestmem_set_policy(f->gm, ASSIGN_GUESTMEM_MAP_ALL), 0);
	assert_int_equal(stats(f).host_mappings, 1);
	expect_table(f, 1);
	/* The object goes; the caller's mapping stays. */
	f->gm = assign_guestmem_unref(f->gm);
	assert_int_equal(mock_dma_count(f->mk), 1);
	expect_dma(f, d, dva);
	assert_int_equal(assign_iommu_unmap(f->iommu, d, 2 * MiB), 0);
}

/* The same beside a guest-IOMMU guestmem: never merged with, cut,
 * unmapped or counted, and not taken over by a later object. */
static void test_direct_beside_guest_iommu(void **state)
{
	struct fx *f = *state;
	uint64_t d = 0x40000000;
	struct assign_guestmem_mapping m = { .size = sizeof(m) };

	guest_layout(f, ASSIGN_GUESTMEM_F_MERGE);
	/* Of the host memory behind gpa 0 (a caller's record has GPA 0):
	 * a guest map of gpa PG right after it continues it in IOVA, host
	 * address and GPA, and must still not be merged with it. */
	assert_int_equal(
		assign_iommu_map(f->iommu, d, f->host, PG, ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, d + PG, PG, PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(mock_dma_count(f->mk), 2);
	assert_int_equal(stats(f).merges, 0);
	assert_int_equal(stats(f).host_mappings, 1);
	assert_int_equal(assign_guestmem_lookup(f->gm, d, &m), -ENOENT);
	assert_int_equal(assign_guestmem_lookup(f->gm, d + PG, &m), 0);
	assert_int_equal(m.iova, d + PG);
	expect_table(f, 1);
	/* A guest unmap over both removes only the guest's. */
	assert_int_equal(
		assign_guestmem_guest_unmap(f->gm, d - 4 * PG, 16 * PG), 0);
	expect_dma(f, d, f->host);
	expect_dma(f, d + PG, NULL);
	expect_table(f, 1);
	/* One cutting through a guest mapping next to it: the guest's is
	 * split, the caller's stays whole. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, d + PG, 8 * PG,
						   4 * PG, ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, d, 2 * PG), 0);
	expect_dma(f, d, f->host);
	expect_dma(f, d + PG, NULL);
	expect_dma(f, d + 2 * PG, f->host + 9 * PG);
	assert_int_equal(stats(f).splits, 1);
	expect_table(f, 1);
	/* RAM behind it taken away: only guest mappings are cut. */
	assert_int_equal(assign_guestmem_remove(f->gm, 0, 1 * MiB), 0);
	expect_dma(f, d, f->host);
	expect_dma(f, d + 2 * PG, NULL);
	expect_table(f, 1);
	/* Switches: map-all and back leave it alone. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 1 * MiB, PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(
		assign_guestmem_set_policy(f->gm, ASSIGN_GUESTMEM_MAP_ALL), 0);
	expect_dma(f, d, f->host);
	expect_dma(f, 0x10000, NULL);
	expect_table(f, 1);
	assert_int_equal(
		assign_guestmem_set_policy(f->gm, ASSIGN_GUESTMEM_GUEST_IOMMU),
		0);
	assert_int_equal(mock_dma_count(f->mk), 1);
	expect_table(f, 1);
	/* A later object on the same IOMMU does not take it either. */
	assign_guestmem_unref(f->gm);
	expect_dma(f, d, f->host);
	new_gm(f, ASSIGN_GUESTMEM_GUEST_IOMMU, 0);
	assert_int_equal(stats(f).host_mappings, 0);
	assert_int_equal(assign_guestmem_lookup(f->gm, d, &m), -ENOENT);
	assert_int_equal(assign_guestmem_guest_unmap(f->gm, 0, 1ull << 40), 0);
	expect_dma(f, d, f->host);
	expect_table(f, 1);
	assert_int_equal(assign_iommu_unmap(f->iommu, d, PG), 0);
}

/* What the policy could not unmap goes to the IOMMU object with it: a
 * later object neither counts nor removes it, the caller can. */
static void test_leftovers_handed_over(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[2] = {
		region(0, 2 * MiB, f->host),
		region(4 * GiB, 2 * MiB, f->host + 2 * MiB),
	};
	struct assign_guestmem_mapping m = { .size = sizeof(m) };
	struct assign_dma_stats ds = { .size = sizeof(ds) };

	/* A chunk the rollback of a failed map-all could not unmap. */
	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, map_req(f), 2, -EIO);
	mock_fail_nth(f->mk, MOCK_IOCTL, unmap_req(f), 1, -EIO);
	assert_int_equal(
		assign_guestmem_add_regions(f->gm, r, 2, NULL, 0, NULL), -EIO);
	mock_fail_clear(f->mk);
	assert_int_equal(stats(f).host_mappings, 1);
	expect_table(f, 0);
	/* The object goes and the kernel refuses the unmap again. */
	mock_fail_nth(f->mk, MOCK_IOCTL, unmap_req(f), 1, -EIO);
	f->gm = assign_guestmem_unref(f->gm);
	mock_fail_clear(f->mk);
	assert_int_equal(mock_dma_count(f->mk), 1);
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &ds), 0);
	assert_int_equal(ds.mappings, 1);
	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(stats(f).host_mappings, 0);
	assert_int_equal(assign_guestmem_lookup(f->gm, 0, &m), -ENOENT);
	expect_table(f, 1);
	/* Now a mapping like any other: RAM over it is a conflict. */
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 2, NULL, 0,
						     NULL),
			 -ERANGE);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0, 2 * MiB), 0);
	assert_int_equal(
		assign_guestmem_add_regions(f->gm, r, 2, NULL, 0, NULL), 0);
	expect_table(f, 0);
}

/*
 * The kernel fails a map and then one of the unmaps of its rollback, for
 * every pair of positions, in a guest map spanning three regions and in a
 * map-all of three regions, with a mapping made beside the policy: the
 * table stays what the kernel holds, the policy counts and finds what it
 * left, and the caller's mapping is untouched.
 */
static void test_table_after_rollback_failures(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[3] = {
		region(0, 1 * MiB, f->host),
		region(1 * MiB, 1 * MiB, f->host + 8 * MiB),
		region(2 * MiB, 1 * MiB, f->host + 16 * MiB),
	};
	uint64_t iova = 0x40000000, d = 0x7000000, size = 1 * MiB + 2 * PG;
	unsigned long runs = 0;

	assert_int_equal(assign_iommu_map(f->iommu, d, f->host + 32 * MiB, PG,
					  ASSIGN_DMA_F_RW),
			 0);
	new_gm(f, ASSIGN_GUESTMEM_GUEST_IOMMU, 0);
	assert_int_equal(
		assign_guestmem_add_regions(f->gm, r, 3, NULL, 0, NULL), 0);
	/* gpa 1M - PG + 1M + 2 PG: one piece in each region. */
	for (unsigned long fm = 2; fm <= 3; fm++) {
		for (unsigned long fu = 1; fu < fm; fu++) {
			int ret;

			mock_fail_nth(f->mk, MOCK_IOCTL, map_req(f), fm, -EIO);
			mock_fail_nth(f->mk, MOCK_IOCTL, unmap_req(f), fu,
				      -EIO);
			ret = assign_guestmem_guest_map(f->gm, iova,
							1 * MiB - PG, size,
							ASSIGN_DMA_F_RW);
			mock_fail_clear(f->mk);
			assert_int_equal(ret, -EIO);
			assert_non_null(
				strstr(assign_ctx_get_last_error(f->ctx),
				       "1 of its 3 pieces"));
			assert_int_equal(stats(f).host_mappings, 1);
			expect_table(f, 1);
			expect_dma(f, d, f->host + 32 * MiB);
			/* The guest can unmap what was left. */
			assert_int_equal(
				assign_guestmem_guest_unmap(f->gm, iova, size),
				0);
			assert_int_equal(stats(f).host_mappings, 0);
			expect_table(f, 1);
			runs++;
		}
	}
	/* Map-all of the same RAM: one chunk per region (their host
	 * addresses are congruent to the GPA modulo 4 KiB only). */
	assert_int_equal(
		assign_guestmem_set_policy(f->gm, ASSIGN_GUESTMEM_MAP_ALL), 0);
	assert_int_equal(stats(f).host_mappings, 3);
	assert_int_equal(assign_guestmem_remove(f->gm, 0, 3 * MiB), 0);
	for (unsigned long fm = 2; fm <= 3; fm++) {
		for (unsigned long fu = 1; fu < fm; fu++) {
			int ret;

			mock_fail_nth(f->mk, MOCK_IOCTL, map_req(f), fm, -EIO);
			mock_fail_nth(f->mk, MOCK_IOCTL, unmap_req(f), fu,
				      -EIO);
			ret = assign_guestmem_add_regions(f->gm, r, 3, NULL, 0,
							  NULL);
			mock_fail_clear(f->mk);
			assert_int_equal(ret, -EIO);
			assert_int_equal(stats(f).regions, 0);
			assert_int_equal(stats(f).host_mappings, 1);
			expect_table(f, 1);
			/* Adding the RAM again replaces the leftover. */
			assert_int_equal(assign_guestmem_add_regions(
						 f->gm, r, 3, NULL, 0, NULL),
					 0);
			assert_int_equal(stats(f).host_mappings, 3);
			expect_table(f, 1);
			assert_int_equal(
				assign_guestmem_remove(f->gm, 0, 3 * MiB), 0);
			expect_table(f, 1);
			runs++;
		}
	}
	assert_int_equal(runs, 6);
	expect_dma(f, d, f->host + 32 * MiB);
	assert_int_equal(assign_iommu_unmap(f->iommu, d, PG), 0);
}

/* Policy switches that fail half way, the kernel refusing unmaps and
 * maps of their undo: the table stays what the kernel holds. */
static void test_table_after_switch_failures(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[2] = {
		region(0, 8 * MiB, f->host),
		region(1 * GiB, 8 * MiB, f->host + 64 * MiB),
	};
	uint64_t d = 0x7000000;

	assert_int_equal(assign_iommu_map(f->iommu, d, f->host + 32 * MiB, PG,
					  ASSIGN_DMA_F_RW),
			 0);
	new_gm(f, ASSIGN_GUESTMEM_GUEST_IOMMU, 0);
	assert_int_equal(
		assign_guestmem_add_regions(f->gm, r, 2, NULL, 0, NULL), 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x30000000, 1 * GiB,
						   2 * PG, ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x20000000, 0, PG,
						   ASSIGN_DMA_F_READ),
			 0);
	/* The second guest mapping (by IOVA) cannot be removed: the first
	 * comes back, the policy stays. */
	mock_fail_nth(f->mk, MOCK_IOCTL, unmap_req(f), 2, -EIO);
	assert_int_equal(assign_guestmem_set_policy(f->gm,
						    ASSIGN_GUESTMEM_MAP_ALL),
			 -EIO);
	mock_fail_clear(f->mk);
	assert_int_equal(assign_guestmem_get_policy(f->gm),
			 ASSIGN_GUESTMEM_GUEST_IOMMU);
	assert_int_equal(stats(f).host_mappings, 2);
	expect_dma(f, 0x20000000, f->host);
	expect_dma(f, 0x30000000, f->host + 64 * MiB);
	expect_table(f, 1);
	/* Map-all fails at its second chunk, its rollback cannot unmap the
	 * first, and the first guest mapping cannot be mapped again: what
	 * the kernel holds is what the policy counts. */
	mock_fail_nth(f->mk, MOCK_IOCTL, map_req(f), 2, -ENOSPC);
	mock_fail_nth(f->mk, MOCK_IOCTL, unmap_req(f), 3, -EIO);
	mock_fail_nth(f->mk, MOCK_IOCTL, map_req(f), 3, -ENOMEM);
	assert_int_equal(assign_guestmem_set_policy(f->gm,
						    ASSIGN_GUESTMEM_MAP_ALL),
			 -ENOSPC);
	mock_fail_clear(f->mk);
	assert_int_equal(assign_guestmem_get_policy(f->gm),
			 ASSIGN_GUESTMEM_GUEST_IOMMU);
	expect_dma(f, 0x20000000, NULL); /* lost, as the warning said */
	expect_dma(f, 0x30000000, f->host + 64 * MiB); /* restored */
	expect_dma(f, 0, f->host); /* the chunk left by the rollback */
	assert_int_equal(stats(f).host_mappings, 2);
	expect_table(f, 1);
	/* Map-all for real (the chunk left over is replaced), then back to
	 * the guest IOMMU, the kernel refusing one chunk's unmap: the
	 * switch fails and the policy counts the chunk still mapped. */
	assert_int_equal(
		assign_guestmem_set_policy(f->gm, ASSIGN_GUESTMEM_MAP_ALL), 0);
	assert_int_equal(stats(f).host_mappings, 2);
	expect_table(f, 1);
	mock_fail_nth(f->mk, MOCK_IOCTL, unmap_req(f), 1, -EIO);
	assert_int_equal(
		assign_guestmem_set_policy(f->gm, ASSIGN_GUESTMEM_GUEST_IOMMU),
		-EIO);
	mock_fail_clear(f->mk);
	assert_int_equal(assign_guestmem_get_policy(f->gm),
			 ASSIGN_GUESTMEM_MAP_ALL);
	assert_int_equal(stats(f).host_mappings, 1);
	expect_table(f, 1);
	assert_int_equal(
		assign_guestmem_set_policy(f->gm, ASSIGN_GUESTMEM_GUEST_IOMMU),
		0);
	assert_int_equal(stats(f).host_mappings, 0);
	expect_table(f, 1);
	assert_int_equal(assign_iommu_unmap(f->iommu, d, PG), 0);
}

/* The caller unmaps the policy's mappings through the IOMMU object (or
 * the kernel drops them with the container): with one table the policy
 * sees at once that they are gone. */
static void test_policy_sees_iommu_unmap(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_mapping m = { .size = sizeof(m) };

	guest_layout(f, 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 0, 4 * PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x20000, 0, PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x10000, 4 * PG), 0);
	assert_int_equal(assign_guestmem_lookup(f->gm, 0x10000, &m), -ENOENT);
	assert_int_equal(stats(f).host_mappings, 1);
	expect_table(f, 0);
	/* The guest may map the range again. */
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, PG, PG,
						   ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
	assert_int_equal(stats(f).host_mappings, 0);
	assert_int_equal(stats(f).mapped_bytes, 0);
	expect_table(f, 0);
}

/* ------------------------------------------------------------------ */
/* Policy switches */

static void test_policy_switch(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[2] = {
		region(0, 8 * MiB, f->host),
		region(1 * GiB, 8 * MiB, f->host + 64 * MiB),
	};

	new_gm(f, ASSIGN_GUESTMEM_MAP_ALL, 0);
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 2, NULL, 0,
						     NULL),
			 0);
	assert_int_equal(mock_dma_bytes(f->mk), 16 * MiB);
	/* Same policy: nothing happens. */
	assert_int_equal(assign_guestmem_set_policy(f->gm,
						    ASSIGN_GUESTMEM_MAP_ALL),
			 0);
	assert_int_equal(assign_guestmem_set_policy(f->gm, 9), -EINVAL);
	/* The guest enables its IOMMU: everything goes. */
	assert_int_equal(assign_guestmem_set_policy(
				 f->gm, ASSIGN_GUESTMEM_GUEST_IOMMU),
			 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(assign_guestmem_get_policy(f->gm),
			 ASSIGN_GUESTMEM_GUEST_IOMMU);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0, 1 * GiB, PG,
						   ASSIGN_DMA_F_RW),
			 0);
	expect_dma(f, 0, f->host + 64 * MiB);
	/* The guest disables it (or reboots): identity map again. */
	assert_int_equal(assign_guestmem_set_policy(f->gm,
						    ASSIGN_GUESTMEM_MAP_ALL),
			 0);
	expect_dma(f, 0, f->host);
	expect_dma(f, 1 * GiB, f->host + 64 * MiB);
	assert_int_equal(mock_dma_bytes(f->mk), 16 * MiB);
	/* RAM added under the guest IOMMU policy is mapped on the switch. */
	assert_int_equal(assign_guestmem_set_policy(
				 f->gm, ASSIGN_GUESTMEM_GUEST_IOMMU),
			 0);
	assert_int_equal(add1(f, 2 * GiB, 4 * MiB, f->host + 128 * MiB), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(assign_guestmem_set_policy(f->gm,
						    ASSIGN_GUESTMEM_MAP_ALL),
			 0);
	expect_dma(f, 2 * GiB, f->host + 128 * MiB);
	assert_int_equal(mock_dma_bytes(f->mk), 20 * MiB);
}

/* Map-all fails during the switch: the guest's mappings come back and the
 * policy stays. */
static void test_policy_switch_rollback(void **state)
{
	struct fx *f = *state;
	struct assign_guestmem_region r[2] = {
		region(0, 8 * MiB, f->host),
		region(1 * GiB, 8 * MiB, f->host + 64 * MiB),
	};

	new_gm(f, ASSIGN_GUESTMEM_GUEST_IOMMU, 0);
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 2, NULL, 0,
						     NULL),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 0x10000, 1 * GiB,
						   2 * PG, ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_guestmem_guest_map(f->gm, 2 * MiB, 0, PG,
						   ASSIGN_DMA_F_READ),
			 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 2, -ENOSPC);
	assert_int_equal(assign_guestmem_set_policy(f->gm,
						    ASSIGN_GUESTMEM_MAP_ALL),
			 -ENOSPC);
	mock_fail_clear(f->mk);
	assert_int_equal(assign_guestmem_get_policy(f->gm),
			 ASSIGN_GUESTMEM_GUEST_IOMMU);
	assert_int_equal(mock_dma_count(f->mk), 2);
	expect_dma(f, 0x10000, f->host + 64 * MiB);
	expect_dma(f, 0x11000, f->host + 64 * MiB + PG);
	expect_dma(f, 2 * MiB, f->host);
	expect_dma(f, 0, NULL);
	/* A layout the geometry refuses: same outcome. */
	assert_int_equal(add1(f, 0xfec00000, 4 * MiB, f->host + 128 * MiB), 0);
	assert_int_equal(assign_guestmem_set_policy(f->gm,
						    ASSIGN_GUESTMEM_MAP_ALL),
			 -ERANGE);
	assert_int_equal(mock_dma_count(f->mk), 2);
	/* Remove the offending RAM: now it works. */
	assert_int_equal(assign_guestmem_remove(f->gm, 0xfec00000, 4 * MiB), 0);
	assert_int_equal(assign_guestmem_set_policy(f->gm,
						    ASSIGN_GUESTMEM_MAP_ALL),
			 0);
	assert_int_equal(mock_dma_bytes(f->mk), 16 * MiB);
	expect_dma(f, 0x10000, f->host + 0x10000);
}

/* ------------------------------------------------------------------ */
/* Randomized model test */

#define MODEL_PAGES 512 /* IOVA space [0, 2 MiB) in 4K pages */

struct model_page {
	bool mapped;
	uint64_t gpa;
	uint32_t perms;
};

/* Guest RAM: gpa [0, 1M) and [1M, 2M) adjacent but host-discontiguous,
 * a hole, then [4M, 4M + 256K). */
static void *model_host(struct fx *f, uint64_t gpa)
{
	if (gpa < 1 * MiB)
		return f->host + gpa;
	if (gpa < 2 * MiB)
		return f->host + 8 * MiB + (gpa - 1 * MiB);
	if (gpa >= 4 * MiB && gpa < 4 * MiB + 256 * KiB)
		return f->host + 16 * MiB + (gpa - 4 * MiB);
	return NULL;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible without touching the C library's
	 * global rand() state. */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 2685821657736338717ull;
}

static void model_run(struct fx *f, uint32_t flags, unsigned int ops)
{
	static struct model_page model[MODEL_PAGES];
	struct assign_guestmem_region r[3] = {
		region(0, 1 * MiB, f->host),
		region(1 * MiB, 1 * MiB, f->host + 8 * MiB),
		region(4 * MiB, 256 * KiB, f->host + 16 * MiB),
	};
	uint64_t base = 0x100000000ull;
	unsigned long maps_ok = 0, unmaps = 0, refused = 0;

	memset(model, 0, sizeof(model));
	new_gm(f, ASSIGN_GUESTMEM_GUEST_IOMMU, flags);
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 3, NULL, 0,
						     NULL),
			 0);
	for (unsigned int op = 0; op < ops; op++) {
		uint64_t p = rnd() % MODEL_PAGES;
		uint64_t n = 1 + rnd() % (rnd() % 4 == 0 ? 64 : 8);
		int ret;

		if (p + n > MODEL_PAGES)
			n = MODEL_PAGES - p;
		if (rnd() % 100 < 55) {
			/* gpa: mostly RAM, sometimes the hole or beyond */
			/* Half the time the GPA follows the IOVA (adjacent
			 * maps continue each other: merges, maps spanning the
			 * two adjacent regions); otherwise anywhere. */
			uint64_t g = rnd() % 2 ? p * PG : (rnd() % 1216) * PG;
			uint32_t perms = 1 + (uint32_t)(rnd() % 3);
			bool overlap = false, ram = true;

			for (uint64_t i = p; i < p + n; i++)
				overlap |= model[i].mapped;
			for (uint64_t i = 0; i < n; i++)
				ram &= model_host(f, g + i * PG) != NULL;
			ret = assign_guestmem_guest_map(f->gm, base + p * PG, g,
							n * PG, perms);
			if (overlap) {
				assert_int_equal(ret, -EEXIST);
			} else if (!ram) {
				assert_int_equal(ret, -EFAULT);
			} else {
				assert_int_equal(ret, 0);
				for (uint64_t i = 0; i < n; i++)
					model[p + i] = (struct model_page){
						true, g + i * PG, perms
					};
				maps_ok++;
			}
			if (ret)
				refused++;
		} else {
			ret = assign_guestmem_guest_unmap(f->gm, base + p * PG,
							  n * PG);
			assert_int_equal(ret, 0);
			for (uint64_t i = p; i < p + n; i++)
				model[i].mapped = false;
			unmaps++;
		}
		/* Check the touched window, and everything now and then. */
		uint64_t lo = p > 2 ? p - 2 : 0, hi = MIN(p + n + 2,
							  (uint64_t)MODEL_PAGES);

		if (op % 500 == 0) {
			lo = 0;
			hi = MODEL_PAGES;
		}
		for (uint64_t i = lo; i < hi; i++) {
			struct assign_guestmem_mapping m = {
				.size = sizeof(m),
			};
			uint64_t iova = base + i * PG;
			void *va = NULL;
			uint32_t fl = 0;
			int lr = assign_guestmem_lookup(f->gm, iova, &m);
			int dr = mock_dma_lookup(f->mk, iova, &va, &fl);

			if (!model[i].mapped) {
				assert_int_equal(lr, -ENOENT);
				assert_int_equal(dr, -ENOENT);
				continue;
			}
			assert_int_equal(lr, 0);
			assert_int_equal(dr, 0);
			assert_int_equal(m.gpa + (iova - m.iova), model[i].gpa);
			assert_int_equal(m.flags, model[i].perms);
			assert_ptr_equal(va, model_host(f, model[i].gpa));
			assert_ptr_equal((uint8_t *)m.vaddr + (iova - m.iova),
					 va);
			assert_int_equal(!!(fl & VFIO_DMA_MAP_FLAG_WRITE),
					 !!(model[i].perms & ASSIGN_DMA_F_WRITE));
		}
	}
	/* Mapped bytes agree three ways. */
	{
		uint64_t pages = 0;
		struct assign_guestmem_stats s = stats(f);

		for (int i = 0; i < MODEL_PAGES; i++)
			pages += model[i].mapped;
		assert_int_equal(s.mapped_bytes, pages * PG);
		assert_int_equal(mock_dma_bytes(f->mk), pages * PG);
		assert_int_equal(mock_dma_count(f->mk), s.host_mappings);
		if (flags & ASSIGN_GUESTMEM_F_MERGE)
			assert_true(s.merges > 0);
		assert_true(s.splits > 0);
		print_message("model: %lu maps, %lu refused, %lu unmaps, %" PRIu64
			      " splits, %" PRIu64 " merges, %" PRIu64
			      " host mappings at the end\n",
			      maps_ok, refused, unmaps, s.splits, s.merges,
			      s.host_mappings);
	}
}

static void test_model_random(void **state)
{
	model_run(*state, 0, 10000);
}

static void test_model_random_merge(void **state)
{
	model_run(*state, ASSIGN_GUESTMEM_F_MERGE, 10000);
}


/*
 * The whole state machine at random: guest maps and unmaps, RAM removed
 * (discard, unplug) and added back, the guest IOMMU switched off (map-all)
 * and on again. After every operation the library and the mock kernel
 * agree with a model, page by page.
 */
#define FULL_GPA_PAGES 1216 /* the gpa space of model_host(), in pages */

static bool orig_ram(uint64_t page)
{
	uint64_t g = page * PG;

	return g < 2 * MiB || (g >= 4 * MiB && g < 4 * MiB + 256 * KiB);
}

/* First page of the original region holding @page, and its end. */
static void orig_bounds(uint64_t page, uint64_t *lo, uint64_t *hi)
{
	uint64_t g = page * PG;

	if (g < 1 * MiB) {
		*lo = 0;
		*hi = 1 * MiB / PG;
	} else if (g < 2 * MiB) {
		*lo = 1 * MiB / PG;
		*hi = 2 * MiB / PG;
	} else {
		*lo = 4 * MiB / PG;
		*hi = (4 * MiB + 256 * KiB) / PG;
	}
}

static void full_check(struct fx *f, const struct model_page *model,
		       const bool *ram, bool mapall)
{
	if (mapall) {
		for (uint64_t pg = 0; pg < FULL_GPA_PAGES; pg++) {
			void *va = NULL;
			uint32_t fl;
			int dr = mock_dma_lookup(f->mk, pg * PG, &va, &fl);

			if (!ram[pg]) {
				assert_int_equal(dr, -ENOENT);
				continue;
			}
			assert_int_equal(dr, 0);
			assert_ptr_equal(va, model_host(f, pg * PG));
		}
		return;
	}
	for (uint64_t i = 0; i < MODEL_PAGES; i++) {
		uint64_t iova = 0x100000000ull + i * PG;
		void *va = NULL;
		uint32_t fl;
		int dr = mock_dma_lookup(f->mk, iova, &va, &fl);

		if (!model[i].mapped) {
			assert_int_equal(dr, -ENOENT);
			continue;
		}
		assert_int_equal(dr, 0);
		assert_ptr_equal(va, model_host(f, model[i].gpa));
	}
}

static void test_model_full(void **state)
{
	struct fx *f = *state;
	static struct model_page model[MODEL_PAGES];
	static bool ram[FULL_GPA_PAGES];
	struct assign_guestmem_region r[3] = {
		region(0, 1 * MiB, f->host),
		region(1 * MiB, 1 * MiB, f->host + 8 * MiB),
		region(4 * MiB, 256 * KiB, f->host + 16 * MiB),
	};
	uint64_t base = 0x100000000ull;
	bool mapall = false;
	unsigned long removes = 0, adds = 0, switches = 0;

	memset(model, 0, sizeof(model));
	for (uint64_t pg = 0; pg < FULL_GPA_PAGES; pg++)
		ram[pg] = orig_ram(pg);
	new_gm(f, ASSIGN_GUESTMEM_GUEST_IOMMU, ASSIGN_GUESTMEM_F_MERGE);
	assert_int_equal(assign_guestmem_add_regions(f->gm, r, 3, NULL, 0,
						     NULL),
			 0);
	for (unsigned int op = 0; op < 4000; op++) {
		unsigned int what = (unsigned int)(rnd() % 100);
		int ret;

		if (what < 3) {
			/* The guest turns its IOMMU off or on. */
			ret = assign_guestmem_set_policy(
				f->gm, mapall ? ASSIGN_GUESTMEM_GUEST_IOMMU
					      : ASSIGN_GUESTMEM_MAP_ALL);
			assert_int_equal(ret, 0);
			mapall = !mapall;
			memset(model, 0, sizeof(model));
			switches++;
		} else if (what < 8) {
			/* Discard or unplug a random range. */
			uint64_t p = rnd() % FULL_GPA_PAGES;
			uint64_t n = 1 + rnd() % 64;
			bool any = false;

			if (p + n > FULL_GPA_PAGES)
				n = FULL_GPA_PAGES - p;
			for (uint64_t i = p; i < p + n; i++)
				any |= ram[i];
			ret = assign_guestmem_remove(f->gm, p * PG, n * PG);
			assert_int_equal(ret, any ? 0 : -ENOENT);
			for (uint64_t i = p; i < p + n; i++)
				ram[i] = false;
			for (uint64_t i = 0; i < MODEL_PAGES; i++)
				if (model[i].mapped &&
				    model[i].gpa / PG >= p &&
				    model[i].gpa / PG < p + n)
					model[i].mapped = false;
			removes++;
		} else if (what < 13) {
			/* Plug back a hole: the whole missing run around a
			 * random page, within its original region. */
			uint64_t p = rnd() % FULL_GPA_PAGES, lo, hi, a, b;
			struct assign_guestmem_region add;

			if (!orig_ram(p) || ram[p])
				continue;
			orig_bounds(p, &lo, &hi);
			for (a = p; a > lo && !ram[a - 1]; a--)
				;
			for (b = p + 1; b < hi && !ram[b]; b++)
				;
			add = region(a * PG, (b - a) * PG,
				     model_host(f, a * PG));
			ret = assign_guestmem_add_regions(f->gm, &add, 1, NULL,
							  0, NULL);
			assert_int_equal(ret, 0);
			for (uint64_t i = a; i < b; i++)
				ram[i] = true;
			adds++;
		} else if (!mapall) {
			uint64_t p = rnd() % MODEL_PAGES;
			uint64_t n = 1 + rnd() % 8;

			if (p + n > MODEL_PAGES)
				n = MODEL_PAGES - p;
			if (rnd() % 2) {
				uint64_t g = rnd() % 2 ? p
						       : rnd() % FULL_GPA_PAGES;
				bool overlap = false, isram = true;

				for (uint64_t i = p; i < p + n; i++)
					overlap |= model[i].mapped;
				for (uint64_t i = 0; i < n; i++)
					isram &= g + i < FULL_GPA_PAGES &&
						 ram[g + i];
				ret = assign_guestmem_guest_map(
					f->gm, base + p * PG, g * PG, n * PG,
					ASSIGN_DMA_F_RW);
				assert_int_equal(ret, overlap  ? -EEXIST
						      : !isram ? -EFAULT
							       : 0);
				if (ret == 0)
					for (uint64_t i = 0; i < n; i++)
						model[p + i] = (struct model_page){
							true, (g + i) * PG,
							ASSIGN_DMA_F_RW
						};
			} else {
				ret = assign_guestmem_guest_unmap(
					f->gm, base + p * PG, n * PG);
				assert_int_equal(ret, 0);
				for (uint64_t i = p; i < p + n; i++)
					model[i].mapped = false;
			}
		}
		if (op % 16 == 0 || what < 13)
			full_check(f, model, ram, mapall);
	}
	full_check(f, model, ram, mapall);
	assert_int_equal(mock_dma_count(f->mk), stats(f).host_mappings);
	print_message("full model: %lu removes, %lu adds, %lu switches\n",
		      removes, adds, switches);
	assert_true(removes > 50 && adds > 10 && switches > 10);
}

/* ------------------------------------------------------------------ */
/* The tree on its own */

static void test_iova_tree(void **state)
{
	enum { N = 2048 };
	static struct iova_node nodes[N];
	static bool in[N];
	struct iova_tree t;
	size_t count;

	(void)state;
	memset(in, 0, sizeof(in));
	iova_tree_init(&t);
	for (int it = 0; it < 100000; it++) {
		size_t i = rnd() % N;
		uint64_t a, b;
		struct iova_node *o;

		if (in[i]) {
			iova_tree_remove(&t, &nodes[i]);
			in[i] = false;
		} else {
			nodes[i].start = i * 16;
			nodes[i].last = nodes[i].start + rnd() % 16;
			assert_int_equal(iova_tree_insert(&t, &nodes[i]), 0);
			in[i] = true;
		}
		if (it % 997 == 0)
			assert_int_equal(iova_tree_check(&t), 0);
		a = rnd() % (N * 16);
		b = a + rnd() % 64;
		o = iova_tree_first_overlap(&t, a, b);
		{
			struct iova_node *want = NULL;

			for (size_t k = a / 16; k < N && k <= b / 16; k++)
				if (in[k] && nodes[k].last >= a &&
				    nodes[k].start <= b) {
					want = &nodes[k];
					break;
				}
			assert_ptr_equal(o, want);
		}
		o = iova_tree_find(&t, a);
		assert_ptr_equal(o, in[a / 16] && a <= nodes[a / 16].last
					    ? &nodes[a / 16]
					    : NULL);
	}
	assert_int_equal(iova_tree_check(&t), 0);
	count = 0;
	for (struct iova_node *n = iova_tree_first(&t); n; n = iova_tree_next(n))
		count++;
	assert_int_equal(count, t.count);
	count = 0;
	for (struct iova_node *n = iova_tree_last(&t); n; n = iova_tree_prev(n))
		count++;
	assert_int_equal(count, t.count);
	/* Overlaps and bad ranges are refused. */
	{
		struct iova_node x = { .start = 5, .last = 3 };
		struct iova_tree e;

		iova_tree_init(&e);
		assert_int_equal(iova_tree_insert(&e, &x), -EINVAL);
		x.start = 0;
		x.last = UINT64_MAX;
		assert_int_equal(iova_tree_insert(&e, &x), 0);
		{
			struct iova_node y = { .start = 7, .last = 7 };

			assert_int_equal(iova_tree_insert(&e, &y), -EEXIST);
		}
		assert_ptr_equal(iova_tree_find(&e, UINT64_MAX), &x);
		iova_tree_remove(&e, &x);
		assert_null(e.root);
	}
}

/* ------------------------------------------------------------------ */

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TFD(fn) cmocka_unit_test_setup_teardown(fn, setup_iommufd, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_new_args),
		T(test_one_per_iommu),
		T(test_opts_growth),
		T(test_mapall_basic),
		TFD(test_mapall_basic),
		T(test_mapall_chunks),
		T(test_mapall_chunks_skewed),
		cmocka_unit_test_setup_teardown(test_mapall_chunks_pgsizes,
						setup_no1g, teardown),
		T(test_mapall_chunk_max),
		T(test_regions_other_sizes),
		T(test_mapall_invalid),
		T(test_mapall_layout_conflicts),
		T(test_mapall_memlock),
		T(test_mapall_dma_entries),
		T(test_mapall_rollback_sweep),
		T(test_mapall_rollback_unmap_failure),
		T(test_mapall_remove_split),
		T(test_mapall_readonly),
		T(test_region_dontfork_failure),
		T(test_prefault_parallel),
		T(test_prefault_single),
		T(test_prefault_fallback),
		T(test_prefault_cancel),
		T(test_prefault_error),
		T(test_guest_map_translate),
		TFD(test_guest_map_translate),
		T(test_guest_map_errors),
		T(test_guest_map_bounded),
		T(test_guest_map_many_pieces),
		TFD(test_guest_map_many_pieces),
		T(test_guest_map_partial_failure),
		T(test_guest_budget),
		T(test_guest_unmap_split),
		TFD(test_guest_unmap_split),
		T(test_guest_unmap_remap_failure),
		T(test_guest_unmap_kernel_failure),
		T(test_guest_map_rollback_unmap_failure),
		TFD(test_guest_unmap_kernel_failure),
		T(test_guest_merge),
		T(test_guest_remove_region),
		T(test_guest_check_layout),
		T(test_region_unmapped_host),
		T(test_mapall_fault_sweep),
		T(test_guest_fault_sweep),
		TFD(test_guest_fault_sweep),
		T(test_direct_beside_mapall),
		TFD(test_direct_beside_mapall),
		T(test_direct_beside_guest_iommu),
		TFD(test_direct_beside_guest_iommu),
		T(test_leftovers_handed_over),
		TFD(test_leftovers_handed_over),
		T(test_table_after_rollback_failures),
		TFD(test_table_after_rollback_failures),
		T(test_table_after_switch_failures),
		TFD(test_table_after_switch_failures),
		T(test_policy_sees_iommu_unmap),
		T(test_policy_switch),
		T(test_policy_switch_rollback),
		T(test_model_random),
		T(test_model_random_merge),
		TFD(test_model_random),
		T(test_model_full),
		TFD(test_model_full),
		cmocka_unit_test(test_iova_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
