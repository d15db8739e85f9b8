// SPDX-License-Identifier: MIT
/*
 * Benchmarks of migration against the raw kernel floor, in the same run
 * (docs/benchmarks.md has the commands and the results):
 *
 *   stream   a device's STOP_COPY data moved by assign_migration_save()
 *            (records, CRC-32C) vs a plain read()/write() loop over the
 *            same data fd, into a pipe drained by another thread or into
 *            a file; mock kernel only (the lab has no migratable device
 *            the library can open yet)
 *   bitmap   assign_dirty_get_bitmap() over 1 GiB of mapped memory vs
 *            the raw VFIO_IOMMU_DIRTY_PAGES (or IOMMU_HWPT_GET_DIRTY_BITMAP)
 *            ioctl with the bitmap cleared first, as the kernel wants it;
 *            the time of one fetch, from 20 timed together
 *
 * Against the mock kernel by default (--mock); with --device BDF against
 * the real kernel (the lab guest; bitmap only). The floor calls the same
 * syscall seam the library uses, so under the mock both sides pay the
 * mock's cost. Repetitions alternate which side goes first; the paired
 * ratio (the median of per-repetition library/floor ratios) is the one
 * the targets are judged on. Nothing asserts a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
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

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PG 4096ull
#define MAXREPS 64
/* Bitmap fetches timed together (one is microseconds on the mock). */
#define FETCHES 20

static struct {
	bool mock;
	const char *device;
	enum assign_iommu_backend backend;
	uint64_t state_mib;
	uint64_t map_mib;
	unsigned reps;
	uint32_t record;
	const char *out;
	enum assign_dirty_tracker tracker;
	bool no_data_crc;
} opt = {
	.mock = true,
	.backend = ASSIGN_IOMMU_TYPE1,
	.state_mib = 256,
	.map_mib = 1024,
	.reps = 9,
	.record = 0,
	.out = "pipe",
	.tracker = ASSIGN_DIRTY_TRACKER_TYPE1,
};

struct env {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int r, struct env *e)
{
	fprintf(stderr, "bench-migration: %s: %s (%s)\n", what, strerror(-r),
		e && e->ctx ? assign_ctx_get_last_error(e->ctx) : "");
	exit(1);
}

static void env_open(struct env *e, bool migratable, bool logging)
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
		if (migratable) {
			cfg.migration_flags = VFIO_MIGRATION_STOP_COPY |
					      VFIO_MIGRATION_P2P |
					      VFIO_MIGRATION_PRE_COPY;
			cfg.mig_state_size = opt.state_mib * MiB;
		}
		cfg.dma_logging = logging;
		r = mock_add_device(e->mk, &cfg);
		if (r < 0)
			die("mock_add_device", r, NULL);
		mock_set_dirty_tracking(e->mk, true);
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
}

static void env_close(struct env *e)
{
	assign_device_unref(e->dev);
	assign_iommu_unref(e->iommu);
	assign_ctx_unref(e->ctx);
	if (e->mk)
		mock_kernel_free(e->mk);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The results of one benchmark: floor and library seconds per rep. */
static void report(const char *what, double *floor, double *lib, unsigned n,
		   double units, const char *unit)
{
	double ratios[MAXREPS], best_f = floor[0], best_l = lib[0], mf, ml;

	for (unsigned i = 0; i < n; i++) {
		ratios[i] = lib[i] / floor[i];
		if (floor[i] < best_f)
			best_f = floor[i];
		if (lib[i] < best_l)
			best_l = lib[i];
	}
	mf = median(floor, n);
	ml = median(lib, n);
	printf("%s: floor median %.3f ms (%.1f %s/s), library median %.3f ms "
	       "(%.1f %s/s)\n",
	       what, mf * 1e3, units / mf, unit, ml * 1e3, units / ml, unit);
	printf("%s: ratio of medians %.3f, best of each %.3f, paired %.3f "
	       "(%u reps)\n",
	       what, ml / mf, best_l / best_f, median(ratios, n), n);
}

/* ---- stream ----------------------------------------------------------- */

struct drain {
	int fd;
	uint64_t bytes;
};

static void *drain_thread(void *arg)
{
	struct drain *d = arg;
	static uint8_t buf[1 << 20];
	ssize_t r;

	while ((r = read(d->fd, buf, sizeof(buf))) > 0)
		d->bytes += (uint64_t)r;
	return NULL;
}

struct sink {
	int fd; /* where the stream goes */
	int rfd; /* pipe: the read end */
	pthread_t th;
	struct drain d;
};

static void sink_open(struct sink *s, struct env *e)
{
	if (!strcmp(opt.out, "pipe")) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0) {
			perror("pipe");
			exit(1);
		}
		s->fd = p[1];
		s->rfd = p[0];
		s->d.fd = p[0];
		s->d.bytes = 0;
		if (pthread_create(&s->th, NULL, drain_thread, &s->d)) {
			perror("pthread_create");
			exit(1);
		}
	} else {
		s->fd = memfd_create("stream", MFD_CLOEXEC);
		s->rfd = -1;
		if (s->fd < 0) {
			perror("memfd_create");
			exit(1);
		}
	}
	if (e->mk)
		mock_pass_fd(e->mk, s->fd);
}

static void sink_close(struct sink *s, struct env *e)
{
	if (e->mk)
		mock_unpass_fd(e->mk, s->fd);
	close(s->fd);
	if (s->rfd >= 0) {
		pthread_join(s->th, NULL);
		close(s->rfd);
	}
}

static void sink_rewind(struct sink *s)
{
	if (s->rfd < 0) {
		if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0) {
			perror("ftruncate");
			exit(1);
		}
	}
}

/* The floor: SET STOP_COPY ourselves, then read()/write() the data fd. */
static double raw_stream(struct env *e, struct sink *s, uint8_t *buf,
			 size_t bufsize, uint64_t *moved)
{
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_mig_state st;
	} q;
	int devfd = assign_device_get_fd(e->dev), dfd, r;
	double t0, t;
	ssize_t n;

	memset(&q, 0, sizeof(q));
	q.f.argsz = sizeof(q);
	q.f.flags = VFIO_DEVICE_FEATURE_SET |
		    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	q.st.device_state = VFIO_DEVICE_STATE_STOP_COPY;
	r = sys_ioctl(e->ctx, devfd, VFIO_DEVICE_FEATURE, &q);
	if (r < 0)
		die("SET STOP_COPY", r, e);
	dfd = q.st.data_fd;
	*moved = 0;
	t0 = now();
	while ((n = sys_read(e->ctx, dfd, buf, bufsize)) > 0) {
		size_t off = 0;

		while (off < (size_t)n) {
			ssize_t w = sys_write(e->ctx, s->fd, buf + off,
					      (size_t)n - off);

			if (w <= 0)
				die("write", (int)w, e);
			off += (size_t)w;
		}
		*moved += (uint64_t)n;
	}
	t = now() - t0;
	if (n < 0)
		die("read", (int)n, e);
	sys_close(e->ctx, dfd);
	q.st.device_state = VFIO_DEVICE_STATE_RUNNING;
	q.st.data_fd = -1;
	r = sys_ioctl(e->ctx, devfd, VFIO_DEVICE_FEATURE, &q);
	if (r < 0)
		die("SET RUNNING", r, e);
	return t;
}

static double lib_stream(struct env *e, struct assign_migration *m,
			 struct sink *s, uint64_t *moved)
{
	double t0, t;
	int r;

	r = assign_migration_set_state(m, ASSIGN_MIGRATION_STATE_STOP_COPY);
	if (r < 0)
		die("assign_migration_set_state", r, e);
	*moved = 0;
	t0 = now();
	r = assign_migration_save(m, s->fd, 0, moved);
	t = now() - t0;
	if (r != 1)
		die("assign_migration_save", r < 0 ? r : -EPROTO, e);
	r = assign_migration_set_state(m, ASSIGN_MIGRATION_STATE_RUNNING);
	if (r < 0)
		die("assign_migration_set_state", r, e);
	return t;
}

static void bench_stream(void)
{
	struct assign_migration_opts mo = {
		.size = sizeof(mo),
		.flags = opt.no_data_crc ? ASSIGN_MIGRATION_F_NO_DATA_CRC : 0,
		.record_size = opt.record,
	};
	double floor[MAXREPS], lib[MAXREPS];
	size_t bufsize = opt.record ? opt.record : 1 << 20;
	struct assign_migration *m;
	uint64_t mf = 0, ml = 0;
	struct sink s;
	struct env e;
	uint8_t *buf;
	int r;

	if (!opt.mock) {
		fprintf(stderr, "bench-migration: stream runs on the mock "
				"only\n");
		exit(2);
	}
	env_open(&e, true, false);
	memset(mock_mig_state(e.mk, "0000:00:03.0", NULL), 0x5a,
	       opt.state_mib * MiB);
	r = assign_migration_new(e.dev, &mo, &m);
	if (r < 0)
		die("assign_migration_new", r, &e);
	buf = malloc(bufsize);
	if (!buf)
		die("malloc", -ENOMEM, &e);
	sink_open(&s, &e);
	/* Warm up both sides once. */
	raw_stream(&e, &s, buf, bufsize, &mf);
	sink_rewind(&s);
	lib_stream(&e, m, &s, &ml);
	sink_rewind(&s);
	for (unsigned i = 0; i < opt.reps; i++) {
		if (i % 2) {
			lib[i] = lib_stream(&e, m, &s, &ml);
			sink_rewind(&s);
			floor[i] = raw_stream(&e, &s, buf, bufsize, &mf);
		} else {
			floor[i] = raw_stream(&e, &s, buf, bufsize, &mf);
			sink_rewind(&s);
			lib[i] = lib_stream(&e, m, &s, &ml);
		}
		sink_rewind(&s);
	}
	if (mf != ml) {
		fprintf(stderr,
			"bench-migration: floor moved %" PRIu64
			" bytes, library %" PRIu64 "\n",
			mf, ml);
		exit(1);
	}
	printf("stream: %" PRIu64 " MiB of device state into a %s, records of "
	       "%zu bytes, data CRC %s, mock kernel\n",
	       opt.state_mib, opt.out, bufsize, opt.no_data_crc ? "off" : "on");
	report("stream", floor, lib, opt.reps, (double)mf / MiB, "MiB");
	{
		double tp[MAXREPS];

		for (unsigned i = 0; i < opt.reps; i++)
			tp[i] = floor[i] / lib[i];
		printf("stream: throughput library/floor, paired: %.3f\n",
		       median(tp, opt.reps));
	}
	sink_close(&s, &e);
	free(buf);
	assign_migration_unref(m);
	env_close(&e);
}

/* ---- bitmap ------------------------------------------------------------ */

static int raw_bitmap(struct env *e, uint32_t hwpt, uint64_t iova, uint64_t len,
		      uint64_t *bm)
{
	uint64_t pages = len / PG, bytes = (pages + 63) / 64 * 8;

	memset(bm, 0, bytes);
	if (assign_iommu_get_backend(e->iommu) == ASSIGN_IOMMU_IOMMUFD) {
		struct iommu_hwpt_get_dirty_bitmap gb = {
			.size = sizeof(gb),
			.hwpt_id = hwpt,
			.iova = iova,
			.length = len,
			.page_size = PG,
			.data = (uintptr_t)bm,
		};

		return sys_ioctl(e->ctx, assign_iommu_get_fd(e->iommu),
				 IOMMU_HWPT_GET_DIRTY_BITMAP, &gb);
	} else {
		struct {
			struct vfio_iommu_type1_dirty_bitmap h;
			struct vfio_iommu_type1_dirty_bitmap_get g;
		} q;

		memset(&q, 0, sizeof(q));
		q.h.argsz = sizeof(q);
		q.h.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
		q.g.iova = iova;
		q.g.size = len;
		q.g.bitmap.pgsize = PG;
		q.g.bitmap.size = bytes;
		q.g.bitmap.data = (__u64 *)bm;
		return sys_ioctl(e->ctx, assign_iommu_get_fd(e->iommu),
				 VFIO_IOMMU_DIRTY_PAGES, &q);
	}
}

/* The HWPT the library's iommufd tracker made: the mock's newest id is
 * the one, and the real kernel answers the same ioctl for any HWPT id
 * of ours; look for it by trying ids downwards from a fresh IOAS. */
static uint32_t find_hwpt(struct env *e, uint64_t iova, uint64_t *bm)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	struct iommu_destroy d = { .size = sizeof(d) };
	int fd = assign_iommu_get_fd(e->iommu);

	if (sys_ioctl(e->ctx, fd, IOMMU_IOAS_ALLOC, &a) < 0)
		return 0;
	d.id = a.out_ioas_id;
	sys_ioctl(e->ctx, fd, IOMMU_DESTROY, &d);
	for (uint32_t id = a.out_ioas_id; id > 0; id--)
		if (raw_bitmap(e, id, iova, PG, bm) == 0)
			return id;
	return 0;
}

static void bench_bitmap(void)
{
	struct assign_dirty_opts o = { .size = sizeof(o),
				       .tracker = opt.tracker };
	struct assign_dirty_info info = { .size = sizeof(info) };
	double floor[MAXREPS], lib[MAXREPS], t0;
	uint64_t len = opt.map_mib * MiB, iova = 1 * GiB, *bm, *bm2;
	size_t bytes = (size_t)((len / PG + 63) / 64 * 8);
	struct assign_device *devs[1];
	struct assign_dirty *d;
	uint32_t hwpt = 0;
	struct env e;
	uint8_t *mem;
	int r;

	env_open(&e, false, opt.tracker == ASSIGN_DIRTY_TRACKER_DEVICE);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	bm = malloc(bytes);
	bm2 = malloc(bytes);
	if (mem == MAP_FAILED || !bm || !bm2)
		die("memory", -ENOMEM, &e);
	r = assign_iommu_map(e.iommu, iova, mem, len, ASSIGN_DMA_F_RW);
	if (r < 0)
		die("assign_iommu_map", r, &e);
	devs[0] = e.dev;
	o.devices = devs;
	o.ndevices = 1;
	r = assign_dirty_new(e.iommu, &o, &d);
	if (r < 0)
		die("assign_dirty_new", r, &e);
	assign_dirty_get_info(d, &info);
	if (info.tracker == ASSIGN_DIRTY_TRACKER_DEVICE) {
		fprintf(stderr, "bench-migration: no raw floor for device "
				"logging; use type1 or iommufd\n");
		exit(2);
	}
	if (info.tracker == ASSIGN_DIRTY_TRACKER_IOMMUFD) {
		hwpt = find_hwpt(&e, iova, bm);
		if (!hwpt)
			die("finding the HWPT", -ENOENT, &e);
	}
	/* Warm up; check both give the same bits. */
	r = raw_bitmap(&e, hwpt, iova, len, bm);
	if (r < 0)
		die("raw ioctl", r, &e);
	r = assign_dirty_get_bitmap(d, iova, len, bm2, bytes);
	if (r < 0)
		die("assign_dirty_get_bitmap", r, &e);
	if (info.precision == ASSIGN_DIRTY_PRECISION_ALL_MAPPED &&
	    memcmp(bm, bm2, bytes)) {
		fprintf(stderr, "bench-migration: the bitmaps differ\n");
		exit(1);
	}
	for (unsigned i = 0; i < opt.reps; i++) {
		for (int side = 0; side < 2; side++) {
			bool raw = (side == 0) == (i % 2 == 0);

			t0 = now();
			for (unsigned k = 0; k < FETCHES; k++) {
				if (raw)
					r = raw_bitmap(&e, hwpt, iova, len, bm);
				else
					r = assign_dirty_get_bitmap(
						d, iova, len, bm2, bytes);
				if (r < 0)
					die("fetch", r, &e);
			}
			(raw ? floor : lib)[i] = (now() - t0) / FETCHES;
		}
	}
	printf("bitmap: %" PRIu64 " MiB mapped as one mapping, %s tracker, "
	       "%s kernel\n",
	       opt.map_mib,
	       info.tracker == ASSIGN_DIRTY_TRACKER_TYPE1 ? "type1" : "iommufd",
	       opt.mock ? "mock" : "real");
	report("bitmap", floor, lib, opt.reps, (double)len / GiB, "GiB");
	assign_dirty_unref(d);
	assign_iommu_unmap(e.iommu, iova, len);
	munmap(mem, len);
	free(bm);
	free(bm2);
	env_close(&e);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench-migration [--mock | --device BDF] [--backend "
		"type1|iommufd]\n"
		"         [--reps N] [--state MiB] [--record BYTES] [--out "
		"pipe|file]\n"
		"         [--no-data-crc] [--map MiB] [--tracker "
		"type1|iommufd] stream|bitmap\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mock", no_argument, NULL, 'm' },
		{ "device", required_argument, NULL, 'd' },
		{ "backend", required_argument, NULL, 'b' },
		{ "reps", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 's' },
		{ "record", required_argument, NULL, 'R' },
		{ "out", required_argument, NULL, 'o' },
		{ "map", required_argument, NULL, 'M' },
		{ "tracker", required_argument, NULL, 't' },
		{ "no-data-crc", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			opt.mock = true;
			break;
		case 'd':
			opt.mock = false;
			opt.device = optarg;
			break;
		case 'b':
			opt.backend = !strcmp(optarg, "iommufd") ?
					      ASSIGN_IOMMU_IOMMUFD :
					      ASSIGN_IOMMU_TYPE1;
			break;
		case 'r':
			opt.reps = (unsigned)atoi(optarg);
			break;
		case 's':
			opt.state_mib = strtoull(optarg, NULL, 0);
			break;
		case 'R':
			opt.record = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			opt.out = optarg;
			break;
		case 'M':
			opt.map_mib = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			opt.no_data_crc = true;
			break;
		case 't':
			opt.tracker = !strcmp(optarg, "iommufd") ?
					      ASSIGN_DIRTY_TRACKER_IOMMUFD :
					      ASSIGN_DIRTY_TRACKER_TYPE1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || !opt.reps || opt.reps > MAXREPS)
		usage();
	if (opt.tracker == ASSIGN_DIRTY_TRACKER_IOMMUFD)
		opt.backend = ASSIGN_IOMMU_IOMMUFD;
	if (!strcmp(argv[optind], "stream"))
		bench_stream();
	else if (!strcmp(argv[optind], "bitmap"))
		bench_bitmap();
	else
		usage();
	return 0;
}
