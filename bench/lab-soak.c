// SPDX-License-Identifier: MIT
/*
 * lab-soak: the issue-7 soak loop, run inside the lab guest (not in CI).
 *
 * For --seconds N (default 600) it repeats one full life cycle:
 *   new context and IOMMU object, open the edu and the nvme, map a buffer,
 *   edu DMA RAM -> device -> RAM with the bytes checked, an edu MSI into an
 *   eventfd, a reset of the nvme, unmap, close everything.
 * Before the first and after the last cycle it records the process's open
 * fds (/proc/self/fd), its pinned and locked memory (VmPin, VmLck in
 * /proc/self/status) and, through a fresh IOMMU object, the kernel's count
 * of DMA mappings left (type1 dma_entry_limit accounting). Every one must
 * be equal at the end: a leak of one fd, one pinned page or one DMA entry
 * per cycle would show after a few hundred cycles.
 *
 * Output: LAB-RESULT lines (tests/lab/run-lab.sh protocol) and a BENCH
 * line with the cycle rate. Uses the public API only.
 *
 *   bench/lab-soak.sh [BUILD_DIR] [SECONDS]      boots the lab and runs it
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libassign/libassign.h>

#include "../tests/lab/tests/labtest.h"

#define PAGE 4096u
#define BUF_SIZE (16 * PAGE)
#define IOVA 0x400000ull
#define XFER 2048u

struct snapshot {
	long fds;
	long vmpin_kb;
	long vmlck_kb;
	long dma_avail; /* -1: the backend does not report it */
};

struct soak {
	enum assign_iommu_backend backend;
	const char *edu_addr, *nvme_addr;
	uint8_t *buf;
	char err[256];
	unsigned long cycles, dma_bytes, msis, resets;
};

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static long status_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static int fail(struct soak *S, struct assign_ctx *ctx, const char *what, int r)
{
	snprintf(S->err, sizeof(S->err), "cycle %lu: %s: %s%s%s", S->cycles,
		 what, strerror(-r), ctx && assign_ctx_get_last_error(ctx)[0] ? ": " : "",
		 ctx ? assign_ctx_get_last_error(ctx) : "");
	return r;
}

static int open_all(struct soak *S, struct assign_ctx **ctx,
		    struct assign_iommu **iommu, struct assign_device **edu,
		    struct assign_device **nvme)
{
	struct assign_iommu_opts o = { .size = sizeof(o), .backend = S->backend };
	int r;

	*ctx = NULL;
	*iommu = NULL;
	*edu = *nvme = NULL;
	if ((r = assign_ctx_new(ctx)) < 0)
		return fail(S, NULL, "assign_ctx_new", r);
	if ((r = assign_iommu_new(*ctx, &o, iommu)) < 0)
		return fail(S, *ctx, "assign_iommu_new", r);
	if ((r = assign_device_open(*iommu, S->edu_addr, NULL, edu)) < 0)
		return fail(S, *ctx, "open edu", r);
	if (S->nvme_addr &&
	    (r = assign_device_open(*iommu, S->nvme_addr, NULL, nvme)) < 0)
		return fail(S, *ctx, "open nvme", r);
	return 0;
}

static void close_all(struct assign_ctx *ctx, struct assign_iommu *iommu,
		      struct assign_device *edu, struct assign_device *nvme)
{
	assign_device_unref(nvme);
	assign_device_unref(edu);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
}

static int snapshot(struct soak *S, struct snapshot *s)
{
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *edu, *nvme;
	uint32_t avail = 0;
	int r;

	/* The probe's own objects are closed before the process is counted. */
	r = open_all(S, &ctx, &iommu, &edu, &nvme);
	if (r == 0) {
		r = assign_iommu_get_dma_avail(iommu, &avail);
		s->dma_avail = r == 0 ? (long)avail : -1;
		r = 0;
	}
	close_all(ctx, iommu, edu, nvme);
	s->fds = count_fds();
	s->vmpin_kb = status_kb("VmPin");
	s->vmlck_kb = status_kb("VmLck");
	return r;
}

static int edu_dma(struct assign_device *edu, uint64_t src, uint64_t dst,
		   bool to_ram)
{
	uint32_t cmd = EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0), v;
	uint64_t t0 = lab_now_ms();
	int r;

	if ((r = lab_wr32(edu, 0, EDU_DMA_SRC, (uint32_t)src)) < 0 ||
	    (r = lab_wr32(edu, 0, EDU_DMA_DST, (uint32_t)dst)) < 0 ||
	    (r = lab_wr32(edu, 0, EDU_DMA_CNT, XFER)) < 0 ||
	    (r = lab_wr32(edu, 0, EDU_DMA_CMD, cmd)) < 0)
		return r;
	do {
		if ((r = lab_rd32(edu, 0, EDU_DMA_CMD, &v)) < 0)
			return r;
		if (lab_now_ms() - t0 > 30000)
			return -ETIMEDOUT;
	} while (v & EDU_DMA_START);
	return 0;
}

/* RAM -> device, wipe, device -> RAM at another offset, compare. */
static int dma_round_trip(struct soak *S, struct assign_ctx *ctx,
			  struct assign_device *edu)
{
	int r;

	for (unsigned i = 0; i < XFER; i++)
		S->buf[i] = (uint8_t)(S->cycles * 131 + i * 7);
	memset(S->buf + 8 * PAGE, 0, XFER);
	if ((r = edu_dma(edu, IOVA, EDU_BUF, false)) < 0 ||
	    (r = edu_dma(edu, EDU_BUF, IOVA + 8 * PAGE, true)) < 0)
		return fail(S, ctx, "edu DMA", r);
	if (memcmp(S->buf, S->buf + 8 * PAGE, XFER))
		return fail(S, ctx, "edu DMA round trip: bytes differ", -EIO);
	S->dma_bytes += 2 * XFER;
	return 0;
}

/* An MSI through an eventfd; *efd is the caller's to close. */
static int msi_round_trip(struct soak *S, struct assign_ctx *ctx,
			  struct assign_device *edu, int *efd)
{
	int64_t got;
	int r;

	if ((*efd = lab_eventfd()) < 0)
		return fail(S, ctx, "eventfd", *efd);
	if ((r = assign_irq_set_eventfds(edu, ASSIGN_IRQ_MSI, 0, 1, efd)) < 0)
		return fail(S, ctx, "assign_irq_set_eventfds", r);
	lab_wr32(edu, 0, EDU_IRQ_RAISE, 1);
	got = lab_eventfd_wait(*efd, 10000);
	lab_wr32(edu, 0, EDU_IRQ_ACK, 1);
	if (got <= 0)
		return fail(S, ctx, "edu MSI did not arrive",
			    got < 0 ? (int)got : -ETIMEDOUT);
	S->msis++;
	if ((r = assign_irq_disable(edu, ASSIGN_IRQ_MSI)) < 0)
		return fail(S, ctx, "assign_irq_disable", r);
	return 0;
}

/* With the buffer mapped: DMA, an MSI, a reset of the nvme. */
static int cycle_work(struct soak *S, struct assign_ctx *ctx,
		      struct assign_device *edu, struct assign_device *nvme,
		      int *efd)
{
	int r;

	if ((r = dma_round_trip(S, ctx, edu)) < 0 ||
	    (r = msi_round_trip(S, ctx, edu, efd)) < 0)
		return r;
	if (nvme) {
		if ((r = assign_device_reset(nvme)) < 0)
			return fail(S, ctx, "nvme reset", r);
		S->resets++;
	}
	return 0;
}

/* The library must count the one mapping made, then it goes. Returns @r,
 * or the first failure here when @r is 0. */
static int unmap_checked(struct soak *S, struct assign_ctx *ctx,
			 struct assign_iommu *iommu, int r)
{
	struct assign_dma_stats st = { .size = sizeof(st) };
	int u;

	if (assign_iommu_get_dma_stats(iommu, &st) == 0 && st.mappings != 1 &&
	    r == 0)
		r = fail(S, ctx,
			 "library counts a mapping other than the one made",
			 -EPROTO);
	u = assign_iommu_unmap(iommu, IOVA, BUF_SIZE);
	if (u < 0 && r == 0)
		r = fail(S, ctx, "assign_iommu_unmap", u);
	return r;
}

static int one_cycle(struct soak *S)
{
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *edu, *nvme;
	int r, efd = -1;

	r = open_all(S, &ctx, &iommu, &edu, &nvme);
	if (r < 0)
		goto out;
	if ((r = lab_enable_bus_master(edu)) < 0) {
		fail(S, ctx, "bus master", r);
		goto out;
	}
	r = assign_iommu_map(iommu, IOVA, S->buf, BUF_SIZE, ASSIGN_DMA_F_RW);
	if (r < 0) {
		fail(S, ctx, "assign_iommu_map", r);
		goto out;
	}
	r = cycle_work(S, ctx, edu, nvme, &efd);
	r = unmap_checked(S, ctx, iommu, r);
out:
	if (efd >= 0)
		close(efd);
	close_all(ctx, iommu, edu, nvme);
	return r;
}

/* The backend called @name; type1 for any other name. */
static enum assign_iommu_backend backend_named(const char *name)
{
	if (!strcmp(name, "iommufd"))
		return ASSIGN_IOMMU_IOMMUFD;
	if (!strcmp(name, "auto"))
		return ASSIGN_IOMMU_AUTO;
	return ASSIGN_IOMMU_TYPE1;
}

/* --seconds N, --backend type1|iommufd|auto; -1 for anything else. */
static int parse_args(int argc, char **argv, struct soak *S, unsigned *seconds)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			*seconds = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
			S->backend = backend_named(argv[++i]);
		else
			return -1;
	}
	return 0;
}

/* The devices from /lab/env and the DMA buffer; a LAB-RESULT on failure. */
static int soak_setup(struct soak *S)
{
	S->edu_addr = lab_env("LAB_EDU");
	S->nvme_addr = lab_env("LAB_NVME");
	if (!S->edu_addr) {
		lab_result("setup", LAB_FAIL, "no LAB_EDU in /lab/env");
		return -1;
	}
	S->buf = lab_alloc(BUF_SIZE);
	if (!S->buf) {
		lab_result("setup", LAB_FAIL, "out of memory");
		return -1;
	}
	return 0;
}

/* Cycles until @seconds have passed or one fails, and their LAB-RESULT;
 * *elapsed in ms. */
static int run_cycles(struct soak *S, unsigned seconds, uint64_t *elapsed)
{
	uint64_t t0 = lab_now_ms();
	uint64_t deadline = t0 + (uint64_t)seconds * 1000;
	int r = 0;

	S->cycles = S->dma_bytes = S->msis = S->resets = 0;
	while (lab_now_ms() < deadline) {
		if ((r = one_cycle(S)) < 0)
			break;
		S->cycles++;
		if (S->cycles % 100 == 0)
			printf("soak: %lu cycles, %lu s\n", S->cycles,
			       (unsigned long)((lab_now_ms() - t0) / 1000));
	}
	*elapsed = lab_now_ms() - t0;
	if (r < 0)
		lab_result("cycles", LAB_FAIL, "%s", S->err);
	else
		lab_result("cycles", LAB_PASS,
			   "%lu cycles in %" PRIu64 " s: %lu DMA round trips "
			   "checked (%lu bytes), %lu MSIs, %lu nvme resets",
			   S->cycles, *elapsed / 1000, S->cycles, S->dma_bytes,
			   S->msis, S->resets);
	return r;
}

/* What a leak would change between the snapshots. */
static void compare(const struct snapshot *a, const struct snapshot *b)
{
	lab_result("fds", a->fds == b->fds ? LAB_PASS : LAB_FAIL,
		   "open fds %ld at start, %ld at end", a->fds, b->fds);
	lab_result("pinned",
		   a->vmpin_kb == b->vmpin_kb && a->vmlck_kb == b->vmlck_kb ?
			   LAB_PASS :
			   LAB_FAIL,
		   "VmPin %ld kB -> %ld kB, VmLck %ld kB -> %ld kB",
		   a->vmpin_kb, b->vmpin_kb, a->vmlck_kb, b->vmlck_kb);
	if (a->dma_avail < 0)
		lab_result("dma-entries", LAB_SKIP,
			   "the backend does not report DMA entries left");
	else
		lab_result("dma-entries",
			   a->dma_avail == b->dma_avail ? LAB_PASS : LAB_FAIL,
			   "kernel DMA entries left %ld at start, %ld at end",
			   a->dma_avail, b->dma_avail);
}

int main(int argc, char **argv)
{
	struct soak S = { .backend = ASSIGN_IOMMU_TYPE1 };
	struct snapshot a, b;
	unsigned seconds = 600;
	uint64_t elapsed;

	if (parse_args(argc, argv, &S, &seconds) < 0) {
		fprintf(stderr,
			"usage: lab-soak [--seconds N] [--backend type1|iommufd|auto]\n");
		return 2;
	}
	lab_set_prefix("soak");
	if (soak_setup(&S) < 0)
		return 1;
	/* One warm-up cycle so lazily created process state (libc, first
	 * mappings) is not mistaken for a leak. */
	if (one_cycle(&S) < 0) {
		lab_result("warm-up", LAB_FAIL, "%s", S.err);
		return 1;
	}
	if (snapshot(&S, &a) < 0) {
		lab_result("snapshot", LAB_FAIL, "%s", S.err);
		return 1;
	}
	run_cycles(&S, seconds, &elapsed);
	if (snapshot(&S, &b) < 0) {
		lab_result("snapshot-end", LAB_FAIL, "%s", S.err);
		return 1;
	}
	compare(&a, &b);
	printf("BENCH soak cycles=%lu seconds=%.1f cycles_per_s=%.2f\n",
	       S.cycles, elapsed / 1000.0,
	       elapsed ? S.cycles * 1000.0 / elapsed : 0.0);
	lab_free(S.buf, BUF_SIZE);
	return lab_failures() ? 1 : 0;
}
