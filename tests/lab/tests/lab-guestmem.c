/* SPDX-License-Identifier: MIT */
/*
 * lab-guestmem: the guest memory policy against the real vfio-pci driver
 * and an emulated Intel IOMMU, with QEMU's edu device doing real DMA. Runs
 * inside the lab guest (tests/lab/run-lab.sh); public API only.
 *
 *   lab-guestmem [--backend type1|iommufd|auto] [--ops N] [--ram MiB]
 *                [--hugetlb]
 *
 * --hugetlb backs the RAM with 2 MiB hugetlbfs pages (boot the lab guest
 * with --append hugepages=N) and registers it with page_size = 2 MiB.
 * 1. map-all: RAM of --ram MiB (default 512) at GPA 0, prefaulted and
 *    mapped by policy; edu copies a pattern into the last page of it.
 *    Needs the edu's DMA mask widened to 32 bits: run with
 *    --qemu-arg=-global --qemu-arg=edu.dma_mask=0xffffffff (else the last
 *    page lies beyond edu's 28 bits and the test says so).
 * 2. guest IOMMU: --ops random map/unmap operations (default 10000) on a
 *    window of IOVA space, checked against a model after each one, with
 *    edu DMA every 25 operations into a random page of the window: the
 *    pattern must land in the guest page the model says is mapped there,
 *    and must land nowhere when the model says nothing is.
 * 3. switch back to map-all (the guest turned its IOMMU off): the last
 *    page is reachable again.
 *
 * edu facts (QEMU's docs/specs/edu.txt): BAR0 0x80 DMA source, 0x88 DMA
 * destination, 0x90 count, 0x98 command (1 start, 2 edu->RAM); its buffer
 * is at device address 0x40000.
 */
#include "labtest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#define PAGE 4096u
#define MiB (1ull << 20)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

#define PATLEN 64u

/* Guest-IOMMU window: 256 pages of IOVA at 1 MiB, below edu's 28 bits;
 * the source page the pattern comes from is mapped at SRC_IOVA. */
#define WIN_IOVA 0x100000ull
#define WIN_PAGES 256u
#define SRC_IOVA 0x80000ull

static struct {
	enum assign_iommu_backend backend;
	unsigned long ops;
	uint64_t ram_mib;
	bool hugetlb; /* 2 MiB hugetlbfs pages, regions with page_size */
} opt = { ASSIGN_IOMMU_TYPE1, 10000, 512, false };

static struct assign_ctx *ctx;
static struct assign_iommu *iommu;
static struct assign_device *edu;
static struct assign_guestmem *gm;
static uint8_t *ram;
static uint64_t ram_len;

static const char *err(int r)
{
	return strerror(r < 0 ? -r : r);
}

static const char *last(void)
{
	const char *m = assign_ctx_get_last_error(ctx);

	return m && *m ? m : "(no message)";
}

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 2685821657736338717ull;
}

static int edu_dma(uint64_t src, uint64_t dst, uint32_t cnt, bool to_ram)
{
	uint64_t t0 = lab_now_ms();
	uint32_t cmd = EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0);
	int r;

	if ((r = lab_wr32(edu, 0, EDU_DMA_SRC, (uint32_t)src)) < 0 ||
	    (r = lab_wr32(edu, 0, EDU_DMA_DST, (uint32_t)dst)) < 0 ||
	    (r = lab_wr32(edu, 0, EDU_DMA_CNT, cnt)) < 0 ||
	    (r = lab_wr32(edu, 0, EDU_DMA_CMD, cmd)) < 0)
		return r;
	for (;;) {
		uint32_t v;

		if ((r = lab_rd32(edu, 0, EDU_DMA_CMD, &v)) < 0)
			return r;
		if (!(v & EDU_DMA_START))
			return 0;
		if (lab_now_ms() - t0 > 10000)
			return -ETIMEDOUT;
		lab_sleep_ms(1);
	}
}

/* Put a fresh pattern into edu's buffer from the host page @src (mapped
 * at IOVA @src_iova). */
static int load_pattern(uint8_t *src, uint64_t src_iova, uint8_t *pat,
			uint32_t seed)
{
	for (unsigned i = 0; i < PATLEN; i++)
		pat[i] = (uint8_t)(seed * 131 + i * 7 + 1);
	memcpy(src, pat, PATLEN);
	return edu_dma(src_iova, EDU_BUF, PATLEN, false);
}

static int setup(void)
{
	struct assign_iommu_opts io = { .size = sizeof(io),
					 .backend = opt.backend };
	const char *a = lab_env("LAB_EDU");
	int r;

	if (!a) {
		lab_result("guestmem-setup", LAB_FAIL, "LAB_EDU not set: not in the lab?");
		return -ENODEV;
	}
	if ((r = assign_ctx_new(&ctx)) < 0 ||
	    (r = assign_iommu_new(ctx, &io, &iommu)) < 0 ||
	    (r = assign_device_open(iommu, a, NULL, &edu)) < 0 ||
	    (r = lab_enable_bus_master(edu)) < 0) {
		lab_result("guestmem-setup", LAB_FAIL, "edu %s: %s: %s", a,
			   err(r), ctx ? last() : "");
		return r;
	}
	ram_len = opt.ram_mib * MiB;
	/* Not populated: the policy's prefault does it. */
	ram = mmap(NULL, ram_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS |
			   (opt.hugetlb ? MAP_HUGETLB : MAP_NORESERVE),
		   -1, 0);
	if (ram == MAP_FAILED) {
		lab_result("guestmem-setup", LAB_FAIL, "mmap %" PRIu64 " MiB%s failed",
			   opt.ram_mib,
			   opt.hugetlb ? " of hugetlbfs (boot with hugepages=N)" : "");
		return -ENOMEM;
	}
	return 0;
}

static int progress_calls;

static int progress(void *data, uint64_t done, uint64_t total)
{
	(void)data;
	(void)done;
	(void)total;
	progress_calls++;
	return 0;
}

/* Copy a pattern into the last page of RAM by DMA at IOVA = GPA. */
static void check_last_page(const char *T)
{
	uint8_t pat[PATLEN];
	uint64_t lastpg = ram_len - PAGE;
	int r;

	memset(ram + lastpg, 0, PATLEN);
	r = load_pattern(ram, 0, pat, 0x5a);
	if (r == 0)
		r = edu_dma(EDU_BUF, lastpg, PATLEN, true);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "edu DMA: %s", err(r));
		return;
	}
	if (memcmp(ram + lastpg, pat, PATLEN) != 0) {
		uint32_t mask_probe;

		/* edu masks addresses to its dma_mask (28 bits by default). */
		lab_rd32(edu, 0, 0x0, &mask_probe);
		lab_result(T, lastpg >= (1ull << 28) ? LAB_SKIP : LAB_FAIL,
			   "pattern did not reach GPA 0x%" PRIx64 "%s", lastpg,
			   lastpg >= (1ull << 28)
				   ? " (beyond edu's default 28-bit DMA mask: run with -global edu.dma_mask=0xffffffff)"
				   : "");
		return;
	}
	lab_result(T, LAB_PASS,
		   "%" PRIu64 " MiB mapped by policy, edu DMA landed in the last page (GPA 0x%" PRIx64 ")",
		   opt.ram_mib, lastpg);
}

static void t_mapall(void)
{
	const char *T = "guestmem-mapall";
	struct assign_guestmem_opts o = {
		.size = sizeof(o),
		.policy = ASSIGN_GUESTMEM_MAP_ALL,
		.flags = ASSIGN_GUESTMEM_F_PREFAULT,
		.progress = progress,
	};
	struct assign_guestmem_region reg = {
		.size = sizeof(reg), .gpa = 0, .length = ram_len, .vaddr = ram,
		.fd = -1, .page_size = opt.hugetlb ? 2 * MiB : 0,
	};
	struct assign_conflict c[8] = { { .size = sizeof(c[0]) } };
	struct assign_guestmem_stats s = { .size = sizeof(s) };
	size_t n = 0;
	uint64_t t0;
	int r;

	r = assign_guestmem_new(iommu, &o, &gm);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "assign_guestmem_new: %s: %s", err(r), last());
		return;
	}
	t0 = lab_now_ms();
	r = assign_guestmem_add_regions(gm, &reg, 1, c, 8, &n);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "add_regions: %s: %s (%zu conflicts)",
			   err(r), last(), n);
		return;
	}
	assign_guestmem_get_stats(gm, &s);
	printf("map-all: %" PRIu64 " MiB%s in %" PRIu64 " host mapping(s), %" PRIu64
	       " ms with prefault, %d progress calls\n",
	       opt.ram_mib, opt.hugetlb ? " (hugetlbfs 2 MiB pages)" : "",
	       s.host_mappings, lab_now_ms() - t0, progress_calls);
	check_last_page(T);
}

/* The MSI window is refused with every conflict named. */
static void t_layout(void)
{
	const char *T = "guestmem-layout-msi-window";
	struct assign_guestmem_region reg = {
		.size = sizeof(reg), .gpa = 0xf0000000, .length = 0x20000000,
		.vaddr = ram, .fd = -1,
	};
	struct assign_conflict c[8] = { { .size = sizeof(c[0]) } };
	size_t n = 0;
	int r;

	if (ram_len < 0x20000000) {
		lab_result(T, LAB_SKIP, "needs --ram 512 or more");
		return;
	}
	r = assign_guestmem_check_layout(gm, &reg, 1, c, 8, &n);
	for (size_t i = 0; i < n && i < 8; i++)
		if (c[i].start <= 0xfee00000 && c[i].last >= 0xfee00000) {
			lab_result(T, LAB_PASS, "%d, %zu conflict(s), first: %s", r,
				   n, c[0].what);
			return;
		}
	lab_result(T, LAB_FAIL, "%d (%s), %zu conflict(s): MSI window not reported",
		   r, last(), n);
}

struct page {
	bool mapped;
	uint64_t gpa;
	uint64_t last_gpa; /* what was last mapped here, for unmapped checks */
	bool had;
};

static void t_guest_iommu(void)
{
	const char *T = "guestmem-guest-iommu-random";
	static struct page model[WIN_PAGES];
	/* Two adjacent regions over the same host memory: maps may span. */
	uint64_t half = (ram_len / 2) & ~(uint64_t)(2 * MiB - 1);
	struct assign_guestmem_region regs[2] = {
		{ .size = sizeof(regs[0]), .gpa = 0, .length = half,
		  .vaddr = ram, .fd = -1,
		  .page_size = opt.hugetlb ? 2 * MiB : 0 },
		{ .size = sizeof(regs[1]), .gpa = half, .length = ram_len - half,
		  .vaddr = ram + half, .fd = -1,
		  .page_size = opt.hugetlb ? 2 * MiB : 0 },
	};
	uint64_t gpa_pages = MIN(ram_len, 64 * MiB) / PAGE;
	uint64_t src_gpa = 0; /* the source page */
	unsigned long maps = 0, unmaps = 0, refused = 0, dma_hit = 0,
		      dma_miss = 0;
	uint8_t pat[PATLEN];
	int r;

	/* The guest turns its IOMMU on: identity mappings go. */
	r = assign_guestmem_set_policy(gm, ASSIGN_GUESTMEM_GUEST_IOMMU);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "set_policy(GUEST_IOMMU): %s: %s", err(r),
			   last());
		return;
	}
	/* Re-register the RAM as two regions. */
	if ((r = assign_guestmem_remove(gm, 0, ram_len)) < 0 ||
	    (r = assign_guestmem_add_regions(gm, regs, 2, NULL, 0, NULL)) < 0 ||
	    (r = assign_guestmem_guest_map(gm, SRC_IOVA, src_gpa, PAGE,
					   ASSIGN_DMA_F_READ)) < 0) {
		lab_result(T, LAB_FAIL, "setup: %s: %s", err(r), last());
		return;
	}
	/* Identity IOVA 0 must now fault: the pattern must not land. */
	memset(ram + PAGE, 0, PATLEN);
	r = load_pattern(ram + src_gpa, SRC_IOVA, pat, 1);
	if (r == 0)
		r = edu_dma(EDU_BUF, PAGE, PATLEN, true);
	if (r < 0 || memcmp(ram + PAGE, pat, PATLEN) == 0) {
		lab_result(T, LAB_FAIL, "identity mapping still reachable after the switch (%s)",
			   err(r));
		return;
	}
	memset(model, 0, sizeof(model));
	for (unsigned long op = 1; op <= opt.ops; op++) {
		uint64_t p = rnd() % WIN_PAGES;
		uint64_t n = 1 + rnd() % 8;
		uint64_t iova;

		if (p + n > WIN_PAGES)
			n = WIN_PAGES - p;
		iova = WIN_IOVA + p * PAGE;
		if (rnd() % 100 < 55) {
			/* around the region boundary half the time */
			uint64_t g = rnd() % 2 ? (half / PAGE - 4 + rnd() % 8)
					       : 1 + rnd() % (gpa_pages - 16);
			uint32_t perms = rnd() % 4 ? ASSIGN_DMA_F_RW
						   : ASSIGN_DMA_F_READ;
			bool overlap = false;

			for (uint64_t i = p; i < p + n; i++)
				overlap |= model[i].mapped;
			r = assign_guestmem_guest_map(gm, iova, g * PAGE, n * PAGE,
						      perms);
			if (overlap ? r != -EEXIST : r != 0) {
				lab_result(T, LAB_FAIL,
					   "op %lu: map IOVA 0x%" PRIx64 " -> gpa 0x%" PRIx64
					   " x%" PRIu64 ": got %d (%s), model says %s",
					   op, iova, g * PAGE, n, r, last(),
					   overlap ? "EEXIST" : "0");
				return;
			}
			if (r == 0) {
				for (uint64_t i = 0; i < n; i++) {
					model[p + i].mapped = true;
					model[p + i].gpa = (g + i) * PAGE;
					/* write-only checks need write perms */
					model[p + i].had = perms & ASSIGN_DMA_F_WRITE;
				}
				maps++;
			} else {
				refused++;
			}
		} else {
			r = assign_guestmem_guest_unmap(gm, iova, n * PAGE);
			if (r < 0) {
				lab_result(T, LAB_FAIL, "op %lu: unmap: %s: %s", op,
					   err(r), last());
				return;
			}
			for (uint64_t i = p; i < p + n; i++) {
				if (model[i].mapped)
					model[i].last_gpa = model[i].gpa;
				model[i].mapped = false;
			}
			unmaps++;
		}
		/* The library's view agrees with the model. */
		for (uint64_t i = p; i < p + n; i++) {
			struct assign_guestmem_mapping m = {
				.size = sizeof(m),
			};
			uint64_t a = WIN_IOVA + i * PAGE;
			int lr = assign_guestmem_lookup(gm, a, &m);

			if ((lr == 0) != model[i].mapped ||
			    (lr == 0 && m.gpa + (a - m.iova) != model[i].gpa)) {
				lab_result(T, LAB_FAIL,
					   "op %lu: lookup IOVA 0x%" PRIx64
					   " disagrees with the model",
					   op, a);
				return;
			}
		}
		/* And the device agrees with both. */
		if (op % 25 == 0) {
			uint64_t q = rnd() % WIN_PAGES;
			uint64_t a = WIN_IOVA + q * PAGE;
			struct page *pg = &model[q];
			uint64_t target;

			if (pg->mapped && !pg->had)
				continue; /* read-only: edu cannot write it */
			/* Unmapped: the pattern must not reach the page last
			 * mapped there (or, never mapped, any page: take
			 * GPA 0x1000; GPA 0 is the source). */
			target = pg->mapped     ? pg->gpa
				 : pg->last_gpa ? pg->last_gpa
						: PAGE;
			memset(ram + target, 0, PATLEN);
			r = load_pattern(ram + src_gpa, SRC_IOVA, pat,
					 (uint32_t)op);
			if (r == 0)
				r = edu_dma(EDU_BUF, a, PATLEN, true);
			if (r < 0) {
				lab_result(T, LAB_FAIL, "op %lu: edu DMA: %s", op,
					   err(r));
				return;
			}
			if (pg->mapped != (memcmp(ram + target, pat, PATLEN) == 0)) {
				lab_result(T, LAB_FAIL,
					   "op %lu: edu DMA to IOVA 0x%" PRIx64
					   " %s gpa 0x%" PRIx64 " but the model says %s",
					   op, a,
					   pg->mapped ? "did not reach" : "reached",
					   target,
					   pg->mapped ? "mapped" : "unmapped");
				return;
			}
			if (pg->mapped)
				dma_hit++;
			else
				dma_miss++;
		}
	}
	{
		struct assign_guestmem_stats s = { .size = sizeof(s) };

		assign_guestmem_get_stats(gm, &s);
		lab_result(T, LAB_PASS,
			   "%lu ops: %lu maps, %lu refused as the model said, %lu unmaps, %" PRIu64
			   " splits; edu DMA landed %lu times where mapped and never in %lu unmapped pages",
			   opt.ops, maps, refused, unmaps, s.splits, dma_hit, dma_miss);
	}
}

static void t_switch_back(void)
{
	const char *T = "guestmem-switch-to-map-all";
	struct assign_guestmem_stats s = { .size = sizeof(s) };
	int r;

	r = assign_guestmem_set_policy(gm, ASSIGN_GUESTMEM_MAP_ALL);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "set_policy(MAP_ALL): %s: %s", err(r), last());
		return;
	}
	assign_guestmem_get_stats(gm, &s);
	printf("map-all again: %" PRIu64 " host mappings, %" PRIu64 " bytes\n",
	       s.host_mappings, s.mapped_bytes);
	check_last_page(T);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
			const char *b = argv[++i];

			opt.backend = !strcmp(b, "iommufd") ? ASSIGN_IOMMU_IOMMUFD
				      : !strcmp(b, "auto")  ? ASSIGN_IOMMU_AUTO
							    : ASSIGN_IOMMU_TYPE1;
		} else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
			opt.ops = strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--ram") && i + 1 < argc) {
			opt.ram_mib = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--hugetlb")) {
			opt.hugetlb = true;
		} else {
			fprintf(stderr,
				"usage: lab-guestmem [--backend type1|iommufd|auto] [--ops N] [--ram MiB] [--hugetlb]\n");
			return 2;
		}
	}
	lab_set_prefix(opt.backend == ASSIGN_IOMMU_IOMMUFD ? "iommufd" : "type1");
	if (setup() == 0) {
		t_mapall();
		if (gm) {
			t_layout();
			t_guest_iommu();
			t_switch_back();
		}
	}
	assign_guestmem_unref(gm);
	assign_device_unref(edu);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	return lab_failures() ? 1 : 0;
}
