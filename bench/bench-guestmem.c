// SPDX-License-Identifier: MIT
/*
 * Benchmarks of the guest memory policy against the raw kernel floor, in
 * the same run (docs/benchmarks.md has the commands and the results).
 *
 *   mapall        map-all of guest RAM vs one MAP_DMA per region, warm RAM
 *   mapall-cold   the same on freshly mmap'ed RAM, with and without
 *                 parallel prefault
 *   pairs         guest-IOMMU map+unmap pairs per second vs raw ioctls
 *   guest-loop    N guest map+unmap pairs, nothing else: for callgrind
 *                 (bench/callgrind.sh)
 *
 * Against the mock kernel by default (--mock); with --device BDF against the
 * real VFIO of the running kernel (the lab guest). The raw floor calls the
 * same syscall seam the library uses, so under the mock both sides pay the
 * mock's cost and the difference is the library's.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PG (4 * KiB)

struct env {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
	enum assign_iommu_backend backend;
	int fd;         /* container or iommufd */
	uint32_t ioas;  /* iommufd */
};

static struct {
	bool mock;
	const char *device;
	enum assign_iommu_backend backend;
	uint64_t ram_mib;
	unsigned int regions;
	unsigned int reps;
	unsigned int threads;
	unsigned long ops;
	unsigned long resident;
	bool hugepages;
	bool raw_dontfork;
} opt = {
	.mock = true,
	.backend = ASSIGN_IOMMU_TYPE1,
	.ram_mib = 512,
	.regions = 1,
	.reps = 5,
	.threads = 0,
	.ops = 20000,
	.resident = 1000,
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int r, struct env *e)
{
	fprintf(stderr, "bench-guestmem: %s: %s (%s)\n", what, strerror(-r),
		e && e->ctx ? assign_ctx_get_last_error(e->ctx) : "");
	exit(1);
}

static void env_open(struct env *e)
{
	struct assign_iommu_opts io = { .size = sizeof(io),
					 .backend = opt.backend };
	const char *addr = opt.device;
	int r;

	memset(e, 0, sizeof(*e));
	if (opt.mock) {
		struct mock_device_cfg cfg;

		r = mock_kernel_new(&e->mk);
		if (r < 0)
			die("mock_kernel_new", r, NULL);
		addr = "0000:00:03.0";
		mock_device_cfg_default(&cfg, addr, 7);
		r = mock_add_device(e->mk, &cfg);
		if (r < 0)
			die("mock_add_device", r, NULL);
		r = mock_ctx_new(e->mk, &e->ctx);
	} else {
		r = assign_ctx_new(&e->ctx);
	}
	if (r < 0)
		die("context", r, NULL);
	r = assign_iommu_new(e->ctx, &io, &e->iommu);
	if (r < 0)
		die("assign_iommu_new", r, e);
	r = assign_device_open(e->iommu, addr, NULL, &e->dev);
	if (r < 0)
		die("assign_device_open", r, e);
	e->backend = assign_iommu_get_backend(e->iommu);
	e->fd = assign_iommu_get_fd(e->iommu);
	if (e->backend == ASSIGN_IOMMU_IOMMUFD)
		assign_iommu_get_ioas_id(e->iommu, &e->ioas);
}

static void env_close(struct env *e)
{
	assign_device_unref(e->dev);
	assign_iommu_unref(e->iommu);
	assign_ctx_unref(e->ctx);
	if (e->mk)
		mock_kernel_free(e->mk);
}

/* The floor: one raw kernel call, through the same seam. */
static int raw_map(struct env *e, void *va, uint64_t iova, uint64_t size)
{
	if (e->backend == ASSIGN_IOMMU_IOMMUFD) {
		struct iommu_ioas_map m = {
			.size = sizeof(m),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA |
				 IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = e->ioas,
			.user_va = (uintptr_t)va,
			.length = size,
			.iova = iova,
		};

		return sys_ioctl(e->ctx, e->fd, IOMMU_IOAS_MAP, &m);
	} else {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)va,
			.iova = iova,
			.size = size,
		};

		return sys_ioctl(e->ctx, e->fd, VFIO_IOMMU_MAP_DMA, &m);
	}
}

static int raw_unmap(struct env *e, uint64_t iova, uint64_t size)
{
	if (e->backend == ASSIGN_IOMMU_IOMMUFD) {
		struct iommu_ioas_unmap u = {
			.size = sizeof(u),
			.ioas_id = e->ioas,
			.iova = iova,
			.length = size,
		};

		return sys_ioctl(e->ctx, e->fd, IOMMU_IOAS_UNMAP, &u);
	} else {
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u),
			.iova = iova,
			.size = size,
		};

		return sys_ioctl(e->ctx, e->fd, VFIO_IOMMU_UNMAP_DMA, &u);
	}
}

/* Guest RAM: aligned to 1 GiB so the IOMMU can use large pages. */
static uint8_t *ram_alloc(uint64_t len, bool populate)
{
	uint64_t align = 1 * GiB;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	uint8_t *p, *a;

	if (opt.hugepages) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 flags | MAP_HUGETLB, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap(MAP_HUGETLB)");
			exit(1);
		}
		a = p;
	} else {
		p = mmap(NULL, len + align, PROT_READ | PROT_WRITE, flags, -1,
			 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			exit(1);
		}
		a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(align - 1));
		if (a > p)
			munmap(p, (size_t)(a - p));
		munmap(a + len, (size_t)(p + align - a));
		madvise(a, len, MADV_HUGEPAGE);
	}
	if (populate)
		memset(a, 0, len);
	return a;
}

/* The guest layout: RAM split into @regions pieces 4 GiB apart in GPA. */
static void layout(uint8_t *ram, uint64_t len,
		   struct assign_guestmem_region *r, unsigned int n)
{
	uint64_t piece = (len / n) & ~(2 * MiB - 1);

	for (unsigned int i = 0; i < n; i++)
		r[i] = (struct assign_guestmem_region){
			.size = sizeof(r[i]),
			.gpa = (uint64_t)i * 4 * GiB,
			.length = i + 1 == n ? len - piece * (n - 1) : piece,
			.vaddr = ram + piece * i,
			.fd = -1,
		};
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double minimum(const double *v, unsigned int n)
{
	double m = v[0];

	for (unsigned int i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median of a[i] / b[i]: each repetition's two sides ran back to back,
 * so a slow stretch of the host hits both sides of one ratio. Call before
 * median() sorts the arrays. */
static double paired_median(const double *a, const double *b, unsigned int n)
{
	double *q = calloc(n, sizeof(*q)), m;

	if (!q) {
		perror("calloc");
		exit(1);
	}
	for (unsigned int i = 0; i < n; i++)
		q[i] = a[i] / b[i];
	m = median(q, n);
	free(q);
	return m;
}

static double time_lib_mapall(struct env *e, struct assign_guestmem_region *r,
			      unsigned int n, uint32_t flags)
{
	struct assign_guestmem_opts o = { .size = sizeof(o),
					  .policy = ASSIGN_GUESTMEM_MAP_ALL,
					  .flags = flags,
					  .prefault_threads = opt.threads };
	struct assign_guestmem *gm;
	double t0, t1;
	int ret;

	ret = assign_guestmem_new(e->iommu, &o, &gm);
	if (ret < 0)
		die("assign_guestmem_new", ret, e);
	t0 = now();
	ret = assign_guestmem_add_regions(gm, r, n, NULL, 0, NULL);
	t1 = now();
	if (ret < 0)
		die("assign_guestmem_add_regions", ret, e);
	assign_guestmem_unref(gm);
	return t1 - t0;
}

static double time_raw_mapall(struct env *e, struct assign_guestmem_region *r,
			      unsigned int n)
{
	double t0, t1;
	int ret;

	t0 = now();
	for (unsigned int i = 0; i < n; i++) {
		ret = raw_map(e, r[i].vaddr, r[i].gpa, r[i].length);
		if (ret < 0)
			die("raw MAP_DMA", ret, e);
	}
	t1 = now();
	for (unsigned int i = 0; i < n; i++)
		raw_unmap(e, r[i].gpa, r[i].length);
	return t1 - t0;
}

static void bench_mapall(void)
{
	struct env e;
	uint64_t len = opt.ram_mib * MiB;
	struct assign_guestmem_region *r = calloc(opt.regions, sizeof(*r));
	double *lib = calloc(opt.reps, sizeof(double));
	double *raw = calloc(opt.reps, sizeof(double));
	uint8_t *ram;
	double ml, mr;

	env_open(&e);
	ram = ram_alloc(len, true);
	layout(ram, len, r, opt.regions);
	/* Warm-up: both paths once. */
	time_raw_mapall(&e, r, opt.regions);
	time_lib_mapall(&e, r, opt.regions, 0);
	for (unsigned int i = 0; i < opt.reps; i++) {
		/* Back to back so drifts hit both, and which side goes first
		 * alternates (the second could profit from the first). */
		if (i % 2) {
			lib[i] = time_lib_mapall(&e, r, opt.regions, 0);
			raw[i] = time_raw_mapall(&e, r, opt.regions);
		} else {
			raw[i] = time_raw_mapall(&e, r, opt.regions);
			lib[i] = time_lib_mapall(&e, r, opt.regions, 0);
		}
	}
	double pm = paired_median(lib, raw, opt.reps);
	double nl = minimum(lib, opt.reps), nr = minimum(raw, opt.reps);

	ml = median(lib, opt.reps);
	mr = median(raw, opt.reps);
	printf("mapall: %s %s, %" PRIu64 " MiB in %u region(s), %u reps (median)\n",
	       opt.mock ? "mock" : "kernel",
	       e.backend == ASSIGN_IOMMU_IOMMUFD ? "iommufd" : "type1",
	       opt.ram_mib, opt.regions, opt.reps);
	printf("  raw MAP_DMA loop : %10.3f ms\n", mr * 1e3);
	printf("  assign_guestmem  : %10.3f ms\n", ml * 1e3);
	printf("  ratio lib/raw    : %10.3f (target <= 1.05)\n", ml / mr);
	printf("  best of each     : %10.3f ms raw, %.3f ms lib, ratio %.3f\n",
	       nr * 1e3, nl * 1e3, nl / nr);
	printf("  paired ratio     : %10.3f (median of the per-repetition lib/raw)\n",
	       pm);
	munmap(ram, len);
	env_close(&e);
	free(r);
	free(lib);
	free(raw);
}

static void bench_mapall_cold(void)
{
	struct env e;
	uint64_t len = opt.ram_mib * MiB;
	struct assign_guestmem_region *r = calloc(opt.regions, sizeof(*r));
	double *raw = calloc(opt.reps, sizeof(double));
	double *lib = calloc(opt.reps, sizeof(double));
	double *pf = calloc(opt.reps, sizeof(double));

	env_open(&e);
	for (unsigned int i = 0; i < opt.reps; i++) {
		uint8_t *ram = ram_alloc(len, false);

		layout(ram, len, r, opt.regions);
		raw[i] = time_raw_mapall(&e, r, opt.regions);
		munmap(ram, len);
		ram = ram_alloc(len, false);
		layout(ram, len, r, opt.regions);
		lib[i] = time_lib_mapall(&e, r, opt.regions, 0);
		munmap(ram, len);
		ram = ram_alloc(len, false);
		layout(ram, len, r, opt.regions);
		pf[i] = time_lib_mapall(&e, r, opt.regions,
					ASSIGN_GUESTMEM_F_PREFAULT);
		munmap(ram, len);
	}
	printf("mapall-cold: %s %s, %" PRIu64 " MiB, %u reps (median), prefault threads %u (0 = CPUs)\n",
	       opt.mock ? "mock" : "kernel",
	       e.backend == ASSIGN_IOMMU_IOMMUFD ? "iommufd" : "type1",
	       opt.ram_mib, opt.reps, opt.threads);
	double mr = median(raw, opt.reps), ml = median(lib, opt.reps),
	       mp = median(pf, opt.reps);
	printf("  raw MAP_DMA, cold        : %10.3f ms\n", mr * 1e3);
	printf("  assign_guestmem, cold    : %10.3f ms (ratio %.3f)\n",
	       ml * 1e3, ml / mr);
	printf("  assign_guestmem+prefault : %10.3f ms (ratio %.3f, target < 1)\n",
	       mp * 1e3, mp / mr);
	env_close(&e);
	free(r);
	free(raw);
	free(lib);
	free(pf);
}

/* IOVA of pair @i: spread over 64 MiB of IOVA space above the resident
 * mappings, GPA over the first 32 MiB of RAM. */
static inline uint64_t pair_iova(unsigned long i)
{
	return 1 * GiB + (i % 16384) * PG;
}

static inline uint64_t pair_gpa(unsigned long i)
{
	return ((i * 7919) % 8192) * PG;
}

/* Resident mappings: half below the pairs' IOVAs, half above, every other
 * page (so none merges with another). */
static inline uint64_t resident_iova(unsigned long i)
{
	return (i % 2 ? 2 * GiB : 16 * MiB) + (i / 2) * 2 * PG;
}

static double time_raw_pairs(struct env *e, uint8_t *ram)
{
	double t0 = now();

	for (unsigned long i = 0; i < opt.ops; i++) {
		uint64_t iova = pair_iova(i);

		/* --raw-dontfork: what the IOMMU layer used to add per map */
		if (opt.raw_dontfork)
			sys_madvise(e->ctx, ram + pair_gpa(i), PG, MADV_DONTFORK);
		if (raw_map(e, ram + pair_gpa(i), iova, PG) < 0 ||
		    raw_unmap(e, iova, PG) < 0)
			die("raw pair", -EIO, e);
	}
	return now() - t0;
}

static double time_lib_pairs(struct env *e, struct assign_guestmem *gm)
{
	double t0 = now();
	int r;

	for (unsigned long i = 0; i < opt.ops; i++) {
		uint64_t iova = pair_iova(i);

		r = assign_guestmem_guest_map(gm, iova, pair_gpa(i), PG,
					      ASSIGN_DMA_F_RW);
		if (r < 0)
			die("guest map", r, e);
		r = assign_guestmem_guest_unmap(gm, iova, PG);
		if (r < 0)
			die("guest unmap", r, e);
	}
	return now() - t0;
}

static void bench_pairs(void)
{
	struct env e;
	struct assign_guestmem_opts o = { .size = sizeof(o),
					  .policy = ASSIGN_GUESTMEM_GUEST_IOMMU };
	struct assign_guestmem *gm;
	struct assign_guestmem_region reg;
	uint64_t len = 64 * MiB;
	double *lib = calloc(opt.reps, sizeof(double));
	double *raw = calloc(opt.reps, sizeof(double));
	uint8_t *ram;
	int r;

	env_open(&e);
	ram = ram_alloc(len, true);
	reg = (struct assign_guestmem_region){ .size = sizeof(reg), .gpa = 0,
					       .length = len, .vaddr = ram,
					       .fd = -1 };
	r = assign_guestmem_new(e.iommu, &o, &gm);
	if (r < 0)
		die("assign_guestmem_new", r, &e);
	r = assign_guestmem_add_regions(gm, &reg, 1, NULL, 0, NULL);
	if (r < 0)
		die("add_regions", r, &e);
	/* Resident guest mappings, as a running guest has. */
	for (unsigned long i = 0; i < opt.resident; i++) {
		r = assign_guestmem_guest_map(gm, resident_iova(i),
					      (i % 8192) * PG, PG,
					      ASSIGN_DMA_F_RW);
		if (r < 0)
			die("resident map", r, &e);
	}
	/* Warm-up: both sides once, untimed. */
	time_raw_pairs(&e, ram);
	time_lib_pairs(&e, gm);
	for (unsigned int rep = 0; rep < opt.reps; rep++) {
		/* Back to back, the side going first alternating. */
		if (rep % 2) {
			lib[rep] = time_lib_pairs(&e, gm);
			raw[rep] = time_raw_pairs(&e, ram);
		} else {
			raw[rep] = time_raw_pairs(&e, ram);
			lib[rep] = time_lib_pairs(&e, gm);
		}
	}
	double pm = paired_median(raw, lib, opt.reps);
	double nr = minimum(raw, opt.reps), nl = minimum(lib, opt.reps);
	double mr = median(raw, opt.reps), ml = median(lib, opt.reps);

	printf("pairs: %s %s, %lu map+unmap pairs of 4 KiB, %lu resident mappings, %u reps (median)%s\n",
	       opt.mock ? "mock" : "kernel",
	       e.backend == ASSIGN_IOMMU_IOMMUFD ? "iommufd" : "type1",
	       opt.ops, opt.resident, opt.reps,
	       opt.raw_dontfork ? ", raw floor with MADV_DONTFORK per map" : "");
	printf("  raw ioctls       : %12.0f pairs/s\n", (double)opt.ops / mr);
	printf("  assign_guestmem  : %12.0f pairs/s\n", (double)opt.ops / ml);
	printf("  ratio lib/raw    : %12.3f (target >= 0.9)\n", mr / ml);
	printf("  best of each     : %12.0f raw, %.0f lib, ratio %.3f\n",
	       (double)opt.ops / nr, (double)opt.ops / nl, nr / nl);
	printf("  paired ratio     : %12.3f (median of the per-repetition lib/raw pairs/s)\n",
	       pm);
	assign_guestmem_unref(gm);
	munmap(ram, len);
	env_close(&e);
	free(lib);
	free(raw);
}

/* For callgrind: only guest maps and unmaps after setup. */
static void guest_loop(void)
{
	struct env e;
	struct assign_guestmem_opts o = { .size = sizeof(o),
					  .policy = ASSIGN_GUESTMEM_GUEST_IOMMU };
	struct assign_guestmem *gm;
	struct assign_guestmem_region reg;
	uint64_t len = 64 * MiB;
	uint8_t *ram;
	int r;

	env_open(&e);
	ram = ram_alloc(len, false);
	reg = (struct assign_guestmem_region){ .size = sizeof(reg), .gpa = 0,
					       .length = len, .vaddr = ram,
					       .fd = -1 };
	if ((r = assign_guestmem_new(e.iommu, &o, &gm)) < 0 ||
	    (r = assign_guestmem_add_regions(gm, &reg, 1, NULL, 0, NULL)) < 0)
		die("setup", r, &e);
	for (unsigned long i = 0; i < opt.resident; i++)
		if ((r = assign_guestmem_guest_map(gm, resident_iova(i),
						   (i % 8192) * PG, PG,
						   ASSIGN_DMA_F_RW)) < 0)
			die("resident map", r, &e);
	for (unsigned long i = 0; i < opt.ops; i++) {
		uint64_t iova = pair_iova(i);

		if ((r = assign_guestmem_guest_map(gm, iova, pair_gpa(i), PG,
						   ASSIGN_DMA_F_RW)) < 0 ||
		    (r = assign_guestmem_guest_unmap(gm, iova, PG)) < 0)
			die("pair", r, &e);
	}
	/* The floor, for comparison in the same profile. */
	for (unsigned long i = 0; i < opt.ops; i++) {
		uint64_t iova = pair_iova(i);

		if (raw_map(&e, ram + pair_gpa(i), iova, PG) < 0 ||
		    raw_unmap(&e, iova, PG) < 0)
			die("raw pair", -EIO, &e);
	}
	printf("guest-loop: %lu pairs, %lu resident\n", opt.ops, opt.resident);
	assign_guestmem_unref(gm);
	munmap(ram, len);
	env_close(&e);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-guestmem [options] mapall|mapall-cold|pairs|guest-loop\n"
		"  --mock              use the mock kernel (default)\n"
		"  --device BDF        use the real kernel and this vfio-pci device\n"
		"  --backend B         type1 (default) or iommufd\n"
		"  --ram MiB           guest RAM for mapall (default 512)\n"
		"  --regions N         split it into N regions (default 1)\n"
		"  --hugepages         back it with MAP_HUGETLB\n"
		"  --reps N            repetitions, the median is shown (default 5)\n"
		"  --threads N         prefault threads (default 0: CPUs)\n"
		"  --ops N             map+unmap pairs (default 20000)\n"
		"  --resident N        guest mappings kept in place (default 1000)\n"
		"  --raw-dontfork      pairs: add MADV_DONTFORK per map to the raw floor\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mock", no_argument, NULL, 'm' },
		{ "device", required_argument, NULL, 'd' },
		{ "backend", required_argument, NULL, 'b' },
		{ "ram", required_argument, NULL, 'r' },
		{ "regions", required_argument, NULL, 'g' },
		{ "hugepages", no_argument, NULL, 'H' },
		{ "reps", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "ops", required_argument, NULL, 'o' },
		{ "resident", required_argument, NULL, 'R' },
		{ "raw-dontfork", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *test;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'm': opt.mock = true; break;
		case 'd': opt.device = optarg; opt.mock = false; break;
		case 'b':
			if (!strcmp(optarg, "iommufd"))
				opt.backend = ASSIGN_IOMMU_IOMMUFD;
			else if (!strcmp(optarg, "type1"))
				opt.backend = ASSIGN_IOMMU_TYPE1;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'r': opt.ram_mib = strtoull(optarg, NULL, 0); break;
		case 'g': opt.regions = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'H': opt.hugepages = true; break;
		case 'n': opt.reps = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 't': opt.threads = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'o': opt.ops = strtoul(optarg, NULL, 0); break;
		case 'R': opt.resident = strtoul(optarg, NULL, 0); break;
		case 'D': opt.raw_dontfork = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || !opt.reps || !opt.regions || !opt.ram_mib) {
		usage(stderr);
		return 2;
	}
	test = argv[optind];
	if (!strcmp(test, "mapall"))
		bench_mapall();
	else if (!strcmp(test, "mapall-cold"))
		bench_mapall_cold();
	else if (!strcmp(test, "pairs"))
		bench_pairs();
	else if (!strcmp(test, "guest-loop"))
		guest_loop();
	else {
		usage(stderr);
		return 2;
	}
	return 0;
}
