// SPDX-License-Identifier: MIT
/*
 * The migration object (include/libassign/migration.h) against the mock
 * kernel's migration driver: probing, the path of arcs (checked against
 * the kernel's documented combination transitions and against the mock's
 * own derivation of the state machine), whole migrations through a
 * stream, PRE_COPY progress, recovery after failed arcs, every bad stream
 * (cut short, damaged, foreign, from another kind of device, from a newer
 * library, fed to a device not in RESUMING), the CRC-32C, and a
 * fault-injection sweep over a whole migration.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/vfio.h>

#include <libassign/libassign.h>

#include "core/core.h"
#include "device/device.h"
#include "mock.h"

#define SRC "0000:00:03.0"
#define DST "0000:00:04.0"
#define PLAIN "0000:00:05.0"
#define OTHER "0000:00:06.0"
#define NOP2P "0000:00:07.0"
#define ZERO "0000:00:08.0"
#define SMALL "0000:00:09.0"
#define BIGA "0000:00:0a.0"
#define BIGB "0000:00:0b.0"
/* Records of a whole MiB, as a real device's stream has them. */
#define BIG_SIZE (2 * 1024 * 1024 + 4321)
#define STATE_SIZE (40 * 1024 + 123)
#define ALLMIG                                                   \
	(ASSIGN_MIGRATION_F_STOP_COPY | ASSIGN_MIGRATION_F_P2P | \
	 ASSIGN_MIGRATION_F_PRE_COPY)
#define ST(x) ASSIGN_MIGRATION_STATE_##x

struct fx {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *src, *dst;
	struct assign_migration *msrc, *mdst;
	int fd; /* a memfd carrying the stream */
	unsigned long bad_ok; /* calls on unknown fds a test made on purpose */
};

static const char *err(struct fx *f)
{
	return assign_ctx_get_last_error(f->ctx);
}

#define assert_err_contains(f, s)                                          \
	do {                                                               \
		if (!strstr(err(f), (s)))                                  \
			fail_msg("last error \"%s\" lacks \"%s\"", err(f), \
				 (s));                                     \
	} while (0)

static void add(struct mock_kernel *mk, const char *addr, int group,
		uint32_t flags, uint16_t vendor, size_t size, bool zero)
{
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, addr, group);
	cfg.vendor = vendor;
	cfg.migration_flags = flags;
	cfg.mig_state_size = size;
	cfg.mig_precopy_zero = zero;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mock_kernel_new(&f->mk), 0);
	add(f->mk, SRC, 3, ALLMIG, 0x4348, STATE_SIZE, false);
	add(f->mk, DST, 4, ALLMIG, 0x4348, STATE_SIZE, false);
	add(f->mk, PLAIN, 5, 0, 0x8086, 0, false);
	add(f->mk, OTHER, 6, ALLMIG, 0x1234, STATE_SIZE, false);
	add(f->mk, NOP2P, 10, ASSIGN_MIGRATION_F_STOP_COPY, 0x4348, STATE_SIZE,
	    false);
	add(f->mk, ZERO, 11, ALLMIG, 0x4348, STATE_SIZE, true);
	add(f->mk, SMALL, 12, ALLMIG, 0x4348, 4096, false);
	add(f->mk, BIGA, 13, ALLMIG, 0x4348, BIG_SIZE, false);
	add(f->mk, BIGB, 14, ALLMIG, 0x4348, BIG_SIZE, false);
	assert_int_equal(mock_ctx_new(f->mk, &f->ctx), 0);
	assert_int_equal(assign_iommu_new(f->ctx, NULL, &f->iommu), 0);
	assert_int_equal(assign_device_open(f->iommu, SRC, NULL, &f->src), 0);
	assert_int_equal(assign_device_open(f->iommu, DST, NULL, &f->dst), 0);
	assert_int_equal(assign_migration_new(f->src, NULL, &f->msrc), 0);
	assert_int_equal(assign_migration_new(f->dst, NULL, &f->mdst), 0);
	f->fd = memfd_create("stream", MFD_CLOEXEC);
	assert_true(f->fd >= 0);
	assert_int_equal(mock_pass_fd(f->mk, f->fd), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assign_migration_unref(f->msrc);
	assign_migration_unref(f->mdst);
	assign_device_unref(f->src);
	assign_device_unref(f->dst);
	assign_iommu_unref(f->iommu);
	assign_ctx_unref(f->ctx);
	assert_int_equal(mock_open_fds(f->mk), 0);
	assert_int_equal(mock_mig_open_files(f->mk), 0);
	assert_int_equal(mock_bad_fd_calls(f->mk), f->bad_ok);
	close(f->fd);
	mock_kernel_free(f->mk);
	free(f);
	return 0;
}

static void fill_state(struct fx *f, const char *addr, uint8_t seed)
{
	size_t size;
	uint8_t *s = mock_mig_state(f->mk, addr, &size);

	assert_non_null(s);
	for (size_t i = 0; i < size; i++)
		s[i] = (uint8_t)(i * 31 + seed);
}

static void rewind_fd(struct fx *f)
{
	assert_int_equal(lseek(f->fd, 0, SEEK_SET), 0);
}

static void reset_stream(struct fx *f)
{
	assert_int_equal(ftruncate(f->fd, 0), 0);
	rewind_fd(f);
}

/* A whole saving session of @m into f->fd, with one PRE_COPY round when
 * the device has PRE_COPY. Returns the device data bytes. */
static uint64_t save_all(struct fx *f, struct assign_migration *m)
{
	uint64_t n = 0;

	if (assign_migration_get_flags(m) & ASSIGN_MIGRATION_F_PRE_COPY) {
		assert_int_equal(assign_migration_set_state(m, ST(PRE_COPY)),
				 0);
		assert_int_equal(assign_migration_save(m, f->fd, 0, &n), 0);
	}
	assert_int_equal(assign_migration_set_state(m, ST(STOP_COPY)), 0);
	assert_int_equal(assign_migration_save(m, f->fd, 0, &n), 1);
	assert_int_equal(assign_migration_set_state(m, ST(STOP)), 0);
	return n;
}

/* Load f->fd into @m to its end; the last result. */
static int load_all(struct assign_migration *m, int fd, uint64_t *n)
{
	int r;

	while ((r = assign_migration_load(m, fd, n)) == 0)
		;
	return r;
}

static off_t stream_len(struct fx *f)
{
	return lseek(f->fd, 0, SEEK_END);
}

/* ---- CRC-32C ---------------------------------------------------------- */

static void test_crc32c(void **state)
{
	uint8_t *buf = malloc(100000);
	size_t lens[] = { 0,
			  1,
			  7,
			  8,
			  9,
			  63,
			  4096,
			  3 * 8192 - 1,
			  3 * 8192,
			  3 * 8192 + 5,
			  6 * 8192 + 17,
			  100000 - 3 };

	(void)state;
	assert_non_null(buf);
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c_soft(0, "123456789", 9), 0xe3069283);
	for (size_t i = 0; i < 100000; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	for (size_t k = 0; k < ARRAY_SIZE(lens); k++)
		for (size_t off = 0; off < 3; off++) {
			size_t n = lens[k];
			uint32_t a = crc32c(0, buf + off, n);

			assert_int_equal(a, crc32c_soft(0, buf + off, n));
			/* Chaining equals one pass. */
			assert_int_equal(crc32c(crc32c(0, buf + off, n / 3),
						buf + off + n / 3, n - n / 3),
					 a);
		}
	free(buf);
}

/* ---- probing and options ---------------------------------------------- */

static void test_new(void **state)
{
	struct fx *f = *state;
	struct assign_migration *m = (void *)&m;
	struct assign_migration_opts o = { .size = sizeof(o) };
	struct assign_device *plain;

	assert_int_equal(assign_migration_get_flags(f->msrc), ALLMIG);
	assert_ptr_equal(assign_migration_get_device(f->msrc), f->src);
	assert_int_equal(assign_migration_get_flags(NULL), 0);
	assert_null(assign_migration_get_device(NULL));
	assert_int_equal(assign_device_open(f->iommu, PLAIN, NULL, &plain), 0);
	assert_int_equal(assign_migration_new(plain, NULL, &m), -EOPNOTSUPP);
	assert_err_contains(f, PLAIN " cannot be migrated: vfio-pci implements "
				     "no VFIO migration");
	assert_err_contains(f, "mtty");
	assert_ptr_equal(m, (void *)&m);
	assign_device_unref(plain);
	assert_int_equal(assign_migration_new(NULL, NULL, &m), -EINVAL);
	assert_int_equal(assign_migration_new(f->src, NULL, NULL), -EINVAL);
	o.flags = 0x4;
	assert_int_equal(assign_migration_new(f->src, &o, &m), -EINVAL);
	assert_err_contains(f, "ASSIGN_MIGRATION_F_NO_DATA_CRC");
	assert_err_contains(f, "unknown bits");
	o.flags = 0;
	o.record_size = 100;
	assert_int_equal(assign_migration_new(f->src, &o, &m), -EINVAL);
	assert_err_contains(f, "record_size 100");
	o.size = 3;
	assert_int_equal(assign_migration_new(f->src, &o, &m), -EINVAL);
	assert_ptr_equal(m, (void *)&m);
	/* References. */
	assert_ptr_equal(assign_migration_ref(f->msrc), f->msrc);
	assert_null(assign_migration_unref(f->msrc));
	assert_null(assign_migration_ref(NULL));
	assert_null(assign_migration_unref(NULL));
}

/* ---- paths ------------------------------------------------------------ */

/*
 * The combination transitions vfio_main.c's vfio_mig_get_next_state()
 * documents for a device with P2P and PRE_COPY (Linux 6.12), as test
 * data: the library's own search must find exactly these.
 */
static const struct {
	int n;
	enum assign_migration_state s[6];
} kernel_paths[] = {
	{ 3, { ST(PRE_COPY), ST(PRE_COPY_P2P), ST(STOP_COPY) } },
	{ 3, { ST(PRE_COPY), ST(RUNNING), ST(RUNNING_P2P) } },
	{ 4, { ST(PRE_COPY), ST(RUNNING), ST(RUNNING_P2P), ST(STOP) } },
	{ 5,
	  { ST(PRE_COPY), ST(RUNNING), ST(RUNNING_P2P), ST(STOP),
	    ST(RESUMING) } },
	{ 3, { ST(PRE_COPY_P2P), ST(RUNNING_P2P), ST(RUNNING) } },
	{ 3, { ST(PRE_COPY_P2P), ST(RUNNING_P2P), ST(STOP) } },
	{ 4, { ST(PRE_COPY_P2P), ST(RUNNING_P2P), ST(STOP), ST(RESUMING) } },
	{ 3, { ST(RESUMING), ST(STOP), ST(RUNNING_P2P) } },
	{ 4, { ST(RESUMING), ST(STOP), ST(RUNNING_P2P), ST(PRE_COPY_P2P) } },
	{ 4, { ST(RESUMING), ST(STOP), ST(RUNNING_P2P), ST(RUNNING) } },
	{ 5,
	  { ST(RESUMING), ST(STOP), ST(RUNNING_P2P), ST(RUNNING),
	    ST(PRE_COPY) } },
	{ 3, { ST(RESUMING), ST(STOP), ST(STOP_COPY) } },
	{ 3, { ST(RUNNING), ST(RUNNING_P2P), ST(PRE_COPY_P2P) } },
	{ 3, { ST(RUNNING), ST(RUNNING_P2P), ST(STOP) } },
	{ 4, { ST(RUNNING), ST(RUNNING_P2P), ST(STOP), ST(RESUMING) } },
	{ 4, { ST(RUNNING), ST(RUNNING_P2P), ST(STOP), ST(STOP_COPY) } },
	{ 3, { ST(RUNNING_P2P), ST(RUNNING), ST(PRE_COPY) } },
	{ 3, { ST(RUNNING_P2P), ST(STOP), ST(RESUMING) } },
	{ 3, { ST(RUNNING_P2P), ST(STOP), ST(STOP_COPY) } },
	{ 3, { ST(STOP), ST(RUNNING_P2P), ST(PRE_COPY_P2P) } },
	{ 3, { ST(STOP), ST(RUNNING_P2P), ST(RUNNING) } },
	{ 4, { ST(STOP), ST(RUNNING_P2P), ST(RUNNING), ST(PRE_COPY) } },
	{ 3, { ST(STOP_COPY), ST(STOP), ST(RESUMING) } },
	{ 3, { ST(STOP_COPY), ST(STOP), ST(RUNNING_P2P) } },
	{ 4, { ST(STOP_COPY), ST(STOP), ST(RUNNING_P2P), ST(RUNNING) } },
};

/* The single arcs the kernel's table takes directly. */
static bool direct_arc(int a, int b)
{
	static const int arcs[][2] = {
		{ ST(STOP), ST(RUNNING_P2P) },
		{ ST(STOP), ST(STOP_COPY) },
		{ ST(STOP), ST(RESUMING) },
		{ ST(RUNNING), ST(RUNNING_P2P) },
		{ ST(RUNNING), ST(PRE_COPY) },
		{ ST(STOP_COPY), ST(STOP) },
		{ ST(RESUMING), ST(STOP) },
		{ ST(RUNNING_P2P), ST(STOP) },
		{ ST(RUNNING_P2P), ST(RUNNING) },
		{ ST(RUNNING_P2P), ST(PRE_COPY_P2P) },
		{ ST(PRE_COPY), ST(RUNNING) },
		{ ST(PRE_COPY), ST(PRE_COPY_P2P) },
		{ ST(PRE_COPY_P2P), ST(RUNNING_P2P) },
		{ ST(PRE_COPY_P2P), ST(PRE_COPY) },
		{ ST(PRE_COPY_P2P), ST(STOP_COPY) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(arcs); i++)
		if (arcs[i][0] == a && arcs[i][1] == b)
			return true;
	return false;
}

static void test_paths_match_kernel(void **state)
{
	struct fx *f = *state;
	enum assign_migration_state p[8];
	size_t n, checked = 0;

	for (int a = 1; a < 8; a++)
		for (int b = 1; b < 8; b++) {
			int r = assign_migration_get_path(f->msrc, a, b, p, 8,
							  &n);

			if (a == ST(STOP_COPY) &&
			    (b == ST(PRE_COPY) || b == ST(PRE_COPY_P2P))) {
				assert_int_equal(r, -EINVAL);
				assert_err_contains(f, "no arc leads from");
				continue;
			}
			assert_int_equal(r, 0);
			if (a == b) {
				assert_int_equal(n, 0);
				continue;
			}
			assert_int_equal(p[n - 1], b);
			if (direct_arc(a, b)) {
				assert_int_equal(n, 1);
				checked++;
				continue;
			}
			for (size_t k = 0; k < ARRAY_SIZE(kernel_paths); k++) {
				if ((int)kernel_paths[k].s[0] != a ||
				    (int)kernel_paths[k].s[kernel_paths[k].n -
							   1] != b)
					continue;
				assert_int_equal(n, kernel_paths[k].n - 1);
				for (size_t i = 0; i < n; i++)
					assert_int_equal(
						p[i], kernel_paths[k].s[i + 1]);
				checked++;
			}
		}
	/* 15 direct arcs and 25 combinations: every pair but the 7
	 * identities and the 2 blocked ones. */
	assert_int_equal(checked, 15 + ARRAY_SIZE(kernel_paths));
	assert_int_equal(15 + ARRAY_SIZE(kernel_paths), 49 - 7 - 2);
	/* Errors. */
	assert_int_equal(assign_migration_get_path(f->msrc, ST(ERROR), ST(STOP),
						   p, 8, &n),
			 -EINVAL);
	assert_int_equal(assign_migration_get_path(f->msrc, ST(STOP), 8, p, 8,
						   &n),
			 -EINVAL);
	assert_int_equal(assign_migration_get_path(f->msrc, ST(STOP),
						   ST(RUNNING), NULL, 8, &n),
			 -EINVAL);
	assert_int_equal(assign_migration_get_path(f->msrc, ST(STOP),
						   ST(RUNNING), p, 8, NULL),
			 -EINVAL);
	/* Sizing call: the count without an array. */
	assert_int_equal(assign_migration_get_path(f->msrc, ST(PRE_COPY),
						   ST(RESUMING), NULL, 0, &n),
			 0);
	assert_int_equal(n, 4);
}

/*
 * For each kind of device, every pair of states through the mock's
 * driver: the library takes exactly the arcs of its path, one SET each,
 * and the mock, which derives the machine on its own, agrees.
 */
static void walk_all(struct fx *f, const char *addr, uint32_t flags)
{
	struct assign_device *dev;
	struct assign_migration *m;
	enum assign_migration_state p[8], cur;
	unsigned before[8][8];
	size_t n;

	if (!strcmp(addr, SRC))
		dev = assign_device_ref(f->src); /* open once on iommufd */
	else
		assert_int_equal(assign_device_open(f->iommu, addr, NULL, &dev),
				 0);
	assert_int_equal(assign_migration_new(dev, NULL, &m), 0);
	assert_int_equal(assign_migration_get_flags(m), flags);
	for (int a = 1; a < 8; a++) {
		for (int b = 1; b < 8; b++) {
			unsigned long ioctls;

			if (a == ST(RESUMING) || b == ST(RESUMING))
				continue; /* needs a stream: test_migrate */
			if (assign_migration_get_path(m, a, b, p, 8, &n) < 0)
				continue; /* unsupported or blocked */
			/* Through STOP: STOP_COPY cannot reach PRE_COPY. */
			assert_int_equal(
				assign_migration_set_state(m, ST(STOP)), 0);
			assert_int_equal(assign_migration_set_state(m, a), 0);
			assert_int_equal(assign_migration_get_state(m, &cur),
					 0);
			assert_int_equal(cur, a);
			for (int x = 0; x < 8; x++)
				for (int y = 0; y < 8; y++)
					before[x][y] = mock_mig_arcs(
						f->mk, addr, x, y);
			ioctls = mock_calls(f->mk, MOCK_IOCTL);
			assert_int_equal(assign_migration_set_state(m, b), 0);
			/* One GET, then one SET per arc. */
			assert_int_equal(mock_calls(f->mk, MOCK_IOCTL) - ioctls,
					 1 + n);
			for (int x = 0; x < 8; x++)
				for (int y = 0; y < 8; y++) {
					unsigned want = 0;
					int from = a;

					for (size_t i = 0; i < n; i++) {
						if (from == x && (int)p[i] == y)
							want++;
						from = p[i];
					}
					assert_int_equal(mock_mig_arcs(f->mk,
								       addr, x,
								       y) -
								 before[x][y],
							 want);
				}
			assert_int_equal(mock_mig_get_state(f->mk, addr), b);
		}
	}
	assert_int_equal(assign_migration_set_state(m, ST(RUNNING)), 0);
	assign_migration_unref(m);
	assign_device_unref(dev);
}

static void test_walk_arcs(void **state)
{
	struct fx *f = *state;

	walk_all(f, SRC, ALLMIG);
	walk_all(f, NOP2P, ASSIGN_MIGRATION_F_STOP_COPY);
	/* Without P2P the driver sees RUNNING -> STOP directly. */
	assert_true(mock_mig_arcs(f->mk, NOP2P, ST(RUNNING), ST(STOP)) > 0);
	assert_int_equal(
		mock_mig_arcs(f->mk, NOP2P, ST(RUNNING), ST(RUNNING_P2P)), 0);
}

static void test_unsupported_targets(void **state)
{
	struct fx *f = *state;
	struct assign_device *dev;
	struct assign_migration *m;

	assert_int_equal(assign_device_open(f->iommu, NOP2P, NULL, &dev), 0);
	assert_int_equal(assign_migration_new(dev, NULL, &m), 0);
	assert_int_equal(assign_migration_set_state(m, ST(PRE_COPY)),
			 -EOPNOTSUPP);
	assert_err_contains(f, "does not support PRE_COPY (its migration "
			       "flags: STOP_COPY)");
	assert_int_equal(assign_migration_set_state(m, ST(RUNNING_P2P)),
			 -EOPNOTSUPP);
	assert_int_equal(assign_migration_set_state(m, ST(ERROR)), -EINVAL);
	assert_err_contains(f, "ERROR is not a state one can ask for");
	assert_int_equal(assign_migration_set_state(m, 12), -EINVAL);
	assert_int_equal(assign_migration_set_state(NULL, ST(STOP)), -EINVAL);
	/* The device did not move. */
	assert_int_equal(mock_mig_arcs_total(f->mk, NOP2P), 0);
	assign_migration_unref(m);
	assign_device_unref(dev);
	/* STOP_COPY never goes back to PRE_COPY. */
	assert_int_equal(assign_migration_set_state(f->msrc, ST(STOP_COPY)), 0);
	assert_int_equal(assign_migration_set_state(f->msrc, ST(PRE_COPY)),
			 -EINVAL);
	assert_err_contains(f, "cannot go from STOP_COPY to PRE_COPY");
	assert_int_equal(mock_mig_get_state(f->mk, SRC), ST(STOP_COPY));
	assert_int_equal(assign_migration_set_state(f->msrc, ST(RUNNING)), 0);
}

/* ---- whole migrations ------------------------------------------------- */

static void migrate(struct fx *f, uint32_t record_size, uint64_t max_bytes)
{
	struct assign_migration_opts o = { .size = sizeof(o),
					   .record_size = record_size };
	struct assign_migration_precopy pi = { .size = sizeof(pi) };
	struct assign_migration *ms, *md;
	uint64_t sent = 0, got = 0, est = 0;
	size_t size;
	uint8_t *a, *b;
	int r, rounds = 0;

	reset_stream(f);
	fill_state(f, SRC, 7);
	memset(mock_mig_state(f->mk, DST, NULL), 0, STATE_SIZE);
	assert_int_equal(assign_migration_new(f->src, &o, &ms), 0);
	assert_int_equal(assign_migration_new(f->dst, &o, &md), 0);
	assert_int_equal(assign_migration_get_data_size(ms, &est), 0);
	assert_int_equal(est, 16 + 8 + STATE_SIZE + 8);
	/* PRE_COPY rounds until the initial data is out. */
	assert_int_equal(assign_migration_set_state(ms, ST(PRE_COPY)), 0);
	assert_int_equal(assign_migration_get_precopy(ms, &pi), 0);
	assert_int_equal(pi.size, sizeof(pi));
	assert_int_equal(pi.initial_bytes, 16 + 8 + STATE_SIZE);
	do {
		assert_int_equal(
			assign_migration_save(ms, f->fd, max_bytes, &sent), 0);
		assert_int_equal(assign_migration_get_precopy(ms, &pi), 0);
		rounds++;
	} while (pi.initial_bytes);
	assert_true(!max_bytes || rounds > 1);
	/* The guest keeps running: the device changes its state. */
	assert_int_equal(mock_mig_state_write(f->mk, SRC, 100, "running", 7),
			 0);
	assert_int_equal(assign_migration_get_precopy(ms, &pi), 0);
	assert_int_equal(pi.dirty_bytes, 8 + 4096);
	assert_int_equal(assign_migration_save(ms, f->fd, 0, &sent), 0);
	/* Stop and copy the rest. */
	assert_int_equal(mock_mig_state_write(f->mk, SRC, 40000, "last", 4), 0);
	assert_int_equal(assign_migration_set_state(ms, ST(STOP_COPY)), 0);
	while ((r = assign_migration_save(ms, f->fd, max_bytes, &sent)) == 0)
		;
	assert_int_equal(r, 1);
	assert_int_equal(assign_migration_save(ms, f->fd, 0, &sent), -EINVAL);
	assert_err_contains(f, "is complete");
	assert_int_equal(assign_migration_set_state(ms, ST(STOP)), 0);
	/* The destination. */
	rewind_fd(f);
	assert_int_equal(assign_migration_set_state(md, ST(RESUMING)), 0);
	assert_int_equal(load_all(md, f->fd, &got), 1);
	assert_int_equal(got, sent);
	assert_int_equal(lseek(f->fd, 0, SEEK_CUR), stream_len(f));
	assert_int_equal(assign_migration_load(md, f->fd, &got), -EINVAL);
	assert_err_contains(f, "complete");
	assert_int_equal(assign_migration_set_state(md, ST(RUNNING)), 0);
	a = mock_mig_state(f->mk, SRC, &size);
	b = mock_mig_state(f->mk, DST, NULL);
	assert_memory_equal(a, b, size);
	assert_memory_equal(b + 100, "running", 7);
	assert_memory_equal(b + 40000, "last", 4);
	assert_int_equal(mock_mig_open_files(f->mk), 0);
	assert_int_equal(assign_migration_set_state(ms, ST(RUNNING)), 0);
	assign_migration_unref(ms);
	assign_migration_unref(md);
}

static void test_migrate(void **state)
{
	struct fx *f = *state;

	migrate(f, 0, 0);
	migrate(f, 4096, 0);
	migrate(f, 4096, 10000);
	/* RESUMING -> anything goes through STOP. */
	reset_stream(f);
	save_all(f, f->msrc);
	rewind_fd(f);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(RESUMING)), 0);
	assert_int_equal(load_all(f->mdst, f->fd, NULL), 1);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(PRE_COPY)), 0);
	assert_int_equal(mock_mig_arcs(f->mk, DST, ST(RESUMING), ST(STOP)), 4);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(RUNNING)), 0);
	assert_int_equal(assign_migration_set_state(f->msrc, ST(RUNNING)), 0);
}

/* mtty answers PRE_COPY's temporary end with a read of 0. */
static void test_precopy_zero(void **state)
{
	struct fx *f = *state;
	struct assign_device *dev;
	struct assign_migration *m;
	uint64_t n = 0;

	assert_int_equal(assign_device_open(f->iommu, ZERO, NULL, &dev), 0);
	assert_int_equal(assign_migration_new(dev, NULL, &m), 0);
	reset_stream(f);
	n = save_all(f, m);
	assert_int_equal(n, 16 + 8 + STATE_SIZE + 8);
	rewind_fd(f);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(RESUMING)), 0);
	assert_int_equal(load_all(f->mdst, f->fd, NULL), 1);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(RUNNING)), 0);
	assert_int_equal(assign_migration_set_state(m, ST(RUNNING)), 0);
	assign_migration_unref(m);
	assign_device_unref(dev);
}

static void test_precopy_and_size_errors(void **state)
{
	struct fx *f = *state;
	struct assign_migration_precopy pi = { .size = sizeof(pi) };
	uint64_t n;

	assert_int_equal(assign_migration_get_precopy(f->msrc, &pi), -EINVAL);
	assert_err_contains(f, "is in RUNNING: PRE_COPY progress exists in "
			       "PRE_COPY and PRE_COPY_P2P only");
	pi.size = 0;
	assert_int_equal(assign_migration_get_precopy(f->msrc, &pi), -EINVAL);
	assert_int_equal(assign_migration_get_precopy(NULL, &pi), -EINVAL);
	assert_int_equal(assign_migration_get_data_size(f->msrc, NULL),
			 -EINVAL);
	assert_int_equal(assign_migration_get_data_size(NULL, &n), -EINVAL);
	mock_fail_nth(f->mk, MOCK_IOCTL, 0, 1, -ENOTTY);
	assert_int_equal(assign_migration_get_data_size(f->msrc, &n),
			 -EOPNOTSUPP);
	assert_err_contains(f, "cannot estimate");
	/* Saving outside the saving states. */
	assert_int_equal(assign_migration_save(f->msrc, f->fd, 0, NULL),
			 -EINVAL);
	assert_err_contains(f, "is in RUNNING; its state is read in PRE_COPY");
	assert_int_equal(assign_migration_save(f->msrc, -1, 0, NULL), -EINVAL);
	assert_int_equal(assign_migration_save(NULL, f->fd, 0, NULL), -EINVAL);
	assert_int_equal(stream_len(f), 0);
}

/* The stream fd cannot take the stream. */
static void test_save_fd_errors(void **state)
{
	struct fx *f = *state;
	int p[2];

	assert_int_equal(assign_migration_set_state(f->msrc, ST(STOP_COPY)), 0);
	/* An fd the library may not write (not passed to the mock). */
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(assign_migration_save(f->msrc, p[1], 0, NULL), -EBADF);
	assert_err_contains(f, "writing the migration stream header to fd");
	assert_int_equal(mock_bad_fd_calls(f->mk), 1);
	/* A non-blocking pipe nobody reads fills up. */
	assert_int_equal(mock_pass_fd(f->mk, p[1]), 0);
	assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
	assert_int_equal(assign_migration_save(f->msrc, p[1], 0, NULL),
			 -EAGAIN);
	assert_err_contains(f, "non-blocking");
	mock_unpass_fd(f->mk, p[1]);
	close(p[0]);
	close(p[1]);
	assert_int_equal(assign_migration_set_state(f->msrc, ST(RUNNING)), 0);
	f->bad_ok = 1;
}

/* ---- bad streams ------------------------------------------------------ */

static uint8_t *read_stream(struct fx *f, size_t *len)
{
	off_t n = stream_len(f);
	uint8_t *buf = malloc((size_t)n);

	assert_non_null(buf);
	assert_int_equal(pread(f->fd, buf, (size_t)n, 0), n);
	*len = (size_t)n;
	return buf;
}

static void write_stream(struct fx *f, const uint8_t *buf, size_t len)
{
	reset_stream(f);
	assert_int_equal(write(f->fd, buf, len), (ssize_t)len);
	rewind_fd(f);
}

static void put32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Load f->fd into DST from RESUMING; the result, the DST state after. */
static int try_load(struct fx *f, enum assign_migration_state *after)
{
	int r;

	assert_int_equal(assign_migration_set_state(f->mdst, ST(RESUMING)), 0);
	r = load_all(f->mdst, f->fd, NULL);
	assert_int_equal(assign_migration_get_state(f->mdst, after), 0);
	return r;
}

/* After a refused stream: usable, in RESUMING or reset to RUNNING. */
static void settle(struct fx *f, enum assign_migration_state after)
{
	if (after == ST(RESUMING))
		assert_int_equal(assign_migration_recover(f->mdst), 0);
	assert_int_equal(mock_mig_get_state(f->mk, DST), ST(RUNNING));
	assert_int_equal(mock_mig_open_files(f->mk), 0);
}

/* The record starting at @off of the stream @s (header at 0). */
static size_t next_record(const uint8_t *s, size_t off)
{
	uint32_t len = get32le(s + off + 16);

	return off + 24 + len + (len ? 4 : 0);
}

static void test_bad_streams(void **state)
{
	struct fx *f = *state;
	enum assign_migration_state after;
	unsigned resets;
	uint8_t *s, *c;
	size_t len, r1, r2;

	reset_stream(f);
	fill_state(f, SRC, 3);
	save_all(f, f->msrc);
	s = read_stream(f, &len);
	c = malloc(len + 64);
	assert_non_null(c);
	r1 = MIG_HDR_SIZE; /* first record: DATA of PRE_COPY */
	r2 = next_record(s, r1); /* the SYNC after it */
	assert_int_equal(get32le(s + r1), 1);
	assert_int_equal(get32le(s + r2), 2);

	/* Empty. */
	write_stream(f, s, 0);
	assert_int_equal(try_load(f, &after), -ENODATA);
	assert_err_contains(f, "empty or shorter than a header");
	assert_err_contains(f, "still in RESUMING");
	assert_int_equal(after, ST(RESUMING));
	/* The device got nothing: the right stream can follow. */
	write_stream(f, s, len);
	assert_int_equal(load_all(f->mdst, f->fd, NULL), 1);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(RUNNING)), 0);

	/* Cut short inside the header, at a record boundary, in a payload. */
	write_stream(f, s, 40);
	assert_int_equal(try_load(f, &after), -ENODATA);
	assert_err_contains(f, "inside the stream header");
	settle(f, after);
	resets = mock_reset_count(f->mk, DST);
	write_stream(f, s, r2 + 24);
	assert_int_equal(try_load(f, &after), -ENODATA);
	assert_err_contains(f, "without its end record: it was cut short");
	assert_err_contains(f, "so it was reset: it is RUNNING");
	assert_int_equal(after, ST(RUNNING));
	assert_int_equal(mock_reset_count(f->mk, DST), resets + 1);
	settle(f, after);
	write_stream(f, s, r1 + 100);
	assert_int_equal(try_load(f, &after), -ENODATA);
	assert_err_contains(f, "inside a record");
	assert_int_equal(after, ST(RESUMING)); /* no payload reached it */
	settle(f, after);

	/* Damaged: header, record header, payload. */
	memcpy(c, s, len);
	c[20] ^= 1;
	write_stream(f, c, len);
	assert_int_equal(try_load(f, &after), -EBADMSG);
	assert_err_contains(f, "stream header is damaged (CRC-32C mismatch)");
	settle(f, after);
	memcpy(c, s, len);
	c[r1 + 17] ^= 0x40;
	write_stream(f, c, len);
	assert_int_equal(try_load(f, &after), -EBADMSG);
	assert_err_contains(f, "record header at stream byte 108 is damaged");
	settle(f, after);
	memcpy(c, s, len);
	c[r1 + 24 + 1000] ^= 0x80;
	write_stream(f, c, len);
	assert_int_equal(try_load(f, &after), -EBADMSG);
	assert_err_contains(f, "record 0 (");
	assert_err_contains(f, "is damaged: CRC-32C mismatch");
	assert_int_equal(after, ST(RESUMING));
	settle(f, after);

	/* A record missing: sequence numbers give it away. */
	memcpy(c, s, r1);
	memcpy(c + r1, s + r2, len - r2);
	write_stream(f, c, len - (r2 - r1));
	assert_int_equal(try_load(f, &after), -EBADMSG);
	assert_err_contains(f, "record 1 where record 0 was due");
	settle(f, after);

	/* Foreign. */
	write_stream(
		f,
		(const uint8_t *)"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
				 "0123456789012345678901234567890123456789",
		66);
	assert_int_equal(try_load(f, &after), -EBADMSG);
	assert_err_contains(f, "not a libassign migration stream (it starts "
			       "47 45 54 20");
	settle(f, after);

	/* From a newer libassign. */
	memcpy(c, s, len);
	c[8] = 2;
	put32le(c + 60, crc32c(0, c, 60));
	write_stream(f, c, len);
	assert_int_equal(try_load(f, &after), -EPROTONOSUPPORT);
	assert_err_contains(f, "format version 2, newer than this libassign "
			       "reads (1)");
	settle(f, after);

	/* A record type this libassign does not know: refused, unless it
	 * says it is optional. */
	memcpy(c, s, len);
	put32le(c + r2, 9);
	put32le(c + r2 + 20, crc32c(0, c + r2, 20));
	write_stream(f, c, len);
	assert_int_equal(try_load(f, &after), -EPROTONOSUPPORT);
	assert_err_contains(f, "has type 9, which this libassign does not "
			       "know");
	settle(f, after);
	put32le(c + r2 + 4, 1); /* OPTIONAL */
	put32le(c + r2 + 20, crc32c(0, c + r2, 20));
	write_stream(f, c, len);
	assert_int_equal(try_load(f, &after), 1);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(RUNNING)), 0);

	/* The end record's totals. */
	memcpy(c, s, len);
	c[len - 4 - 16] ^= 1; /* data bytes */
	put32le(c + len - 4, crc32c(0, c + len - 4 - 16, 16));
	write_stream(f, c, len);
	assert_int_equal(try_load(f, &after), -EBADMSG);
	assert_err_contains(f, "records are missing");
	assert_int_equal(after, ST(RUNNING));
	settle(f, after);

	/* A record claiming more than a record holds. */
	memcpy(c, s, len);
	put32le(c + r1 + 16, (64u << 20) + 1);
	put32le(c + r1 + 20, crc32c(0, c + r1, 20));
	write_stream(f, c, len);
	assert_int_equal(try_load(f, &after), -EBADMSG);
	assert_err_contains(f, "more than a record holds");
	settle(f, after);
	free(c);
	free(s);
	assert_int_equal(assign_migration_set_state(f->msrc, ST(RUNNING)), 0);
}

static void test_wrong_device(void **state)
{
	struct fx *f = *state;
	enum assign_migration_state after;
	struct assign_device *other, *small;
	struct assign_migration *mo, *msm;

	/* A stream from another kind of device. */
	assert_int_equal(assign_device_open(f->iommu, OTHER, NULL, &other), 0);
	assert_int_equal(assign_migration_new(other, NULL, &mo), 0);
	reset_stream(f);
	save_all(f, mo);
	rewind_fd(f);
	assert_int_equal(try_load(f, &after), -EBADMSG);
	assert_err_contains(f, "stream from " OTHER);
	assert_err_contains(f, "made from a 1234:10d3 (subsystem 1234:10d3), "
			       "this device is a 4348:10d3");
	assert_err_contains(f, "received nothing and is still in RESUMING");
	settle(f, after);
	assign_migration_unref(mo);
	assign_device_unref(other);

	/* Same kind, but the device refuses the data (another state size,
	 * as mtty refuses a stream for another number of ports). The
	 * refused write may have been taken in (mtty counts the bytes of the
	 * header it refuses, and a second stream then fails), so the device
	 * is reset, though it took no byte. */
	assert_int_equal(assign_device_open(f->iommu, SMALL, NULL, &small), 0);
	assert_int_equal(assign_migration_new(small, NULL, &msm), 0);
	rewind_fd(f);
	reset_stream(f);
	save_all(f, f->msrc);
	rewind_fd(f);
	assert_int_equal(assign_migration_set_state(msm, ST(RESUMING)), 0);
	assert_int_equal(load_all(msm, f->fd, NULL), -EINVAL);
	assert_err_contains(f, "the device refused the data of record 0");
	assert_err_contains(f, "the device was given data, so it was reset");
	assert_int_equal(mock_mig_get_state(f->mk, SMALL), ST(RUNNING));
	assert_int_equal(assign_migration_get_state(msm, &after), 0);
	assert_int_equal(after, ST(RUNNING));
	/* Usable: a new session starts, and a reset ends it. */
	assert_int_equal(assign_migration_set_state(msm, ST(RESUMING)), 0);
	assert_int_equal(assign_migration_recover(msm), 0);
	assign_migration_unref(msm);
	assign_device_unref(small);

	/* A stream fed to a device not in RESUMING: nothing is read. */
	rewind_fd(f);
	assert_int_equal(assign_migration_load(f->mdst, f->fd, NULL), -EINVAL);
	assert_err_contains(f, "is in RUNNING, not RESUMING; move it there "
			       "first");
	assert_int_equal(lseek(f->fd, 0, SEEK_CUR), 0);
	assert_int_equal(assign_migration_load(f->mdst, -3, NULL), -EINVAL);
	assert_int_equal(assign_migration_load(NULL, f->fd, NULL), -EINVAL);
	assert_int_equal(assign_migration_set_state(f->msrc, ST(RUNNING)), 0);
}

/* Without data CRCs: the stream says so, the reader follows, and record
 * headers are still checked. */
static void test_no_data_crc(void **state)
{
	struct fx *f = *state;
	struct assign_migration_opts o = {
		.size = sizeof(o),
		.flags = ASSIGN_MIGRATION_F_NO_DATA_CRC,
	};
	enum assign_migration_state after;
	struct assign_migration *m;
	size_t len, with_crc;
	uint8_t *s;

	reset_stream(f);
	save_all(f, f->msrc);
	with_crc = (size_t)stream_len(f);
	fill_state(f, SRC, 5);
	assert_int_equal(assign_migration_new(f->src, &o, &m), 0);
	reset_stream(f);
	save_all(f, m);
	s = read_stream(f, &len);
	/* Flags 1 in the header; 4 bytes less per DATA record (two). */
	assert_int_equal(s[12], 1);
	assert_int_equal(len, with_crc - 2 * 4);
	write_stream(f, s, len);
	assert_int_equal(try_load(f, &after), 1);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(RUNNING)), 0);
	assert_memory_equal(mock_mig_state(f->mk, SRC, NULL),
			    mock_mig_state(f->mk, DST, NULL), STATE_SIZE);
	/* A damaged record header is still refused. */
	s[MIG_HDR_SIZE + 9] ^= 4;
	write_stream(f, s, len);
	assert_int_equal(try_load(f, &after), -EBADMSG);
	assert_err_contains(f, "record header at stream byte 108 is damaged");
	settle(f, after);
	free(s);
	assign_migration_unref(m);
	assert_int_equal(assign_migration_set_state(f->msrc, ST(RUNNING)), 0);
}

/* Several records of the default size (1 MiB): each DATA record's
 * trailing CRC is its payload's, checked here by a CRC of the test's own,
 * the stream loads byte for byte, and one flipped bit is refused. */
static void test_large_records(void **state)
{
	struct fx *f = *state;
	struct assign_device *da, *db;
	struct assign_migration *ma, *mb;
	size_t len, size, off, ndata = 0;
	uint8_t *s, *a;

	assert_int_equal(assign_device_open(f->iommu, BIGA, NULL, &da), 0);
	assert_int_equal(assign_device_open(f->iommu, BIGB, NULL, &db), 0);
	assert_int_equal(assign_migration_new(da, NULL, &ma), 0);
	assert_int_equal(assign_migration_new(db, NULL, &mb), 0);
	a = mock_mig_state(f->mk, BIGA, &size);
	for (size_t i = 0; i < size; i++)
		a[i] = (uint8_t)(i * 131 + (i >> 12));
	reset_stream(f);
	save_all(f, ma);
	s = read_stream(f, &len);
	/* Every DATA record's trailing CRC is its payload's. */
	for (off = MIG_HDR_SIZE; off < len; off = next_record(s, off)) {
		uint32_t rlen = get32le(s + off + 16);

		if (get32le(s + off) != 1)
			continue;
		assert_true(rlen <= 1024 * 1024);
		assert_int_equal(crc32c_soft(0, s + off + MIG_REC_HDR_SIZE,
					     rlen),
				 get32le(s + off + MIG_REC_HDR_SIZE + rlen));
		ndata++;
	}
	assert_int_equal(off, len);
	assert_true(ndata >= 3);
	/* It loads, byte for byte. */
	assert_int_equal(assign_migration_set_state(mb, ST(RESUMING)), 0);
	rewind_fd(f);
	assert_int_equal(load_all(mb, f->fd, NULL), 1);
	assert_int_equal(assign_migration_set_state(mb, ST(RUNNING)), 0);
	assert_memory_equal(mock_mig_state(f->mk, BIGB, NULL), a, size);
	/* One bit flipped in the middle of the first MiB: refused. */
	s[MIG_HDR_SIZE + MIG_REC_HDR_SIZE + 512 * 1024] ^= 0x10;
	write_stream(f, s, len);
	rewind_fd(f);
	assert_int_equal(assign_migration_set_state(mb, ST(RESUMING)), 0);
	assert_int_equal(load_all(mb, f->fd, NULL), -EBADMSG);
	assert_err_contains(f, "is damaged: CRC-32C mismatch");
	assert_int_equal(assign_migration_recover(mb), 0);
	free(s);
	assign_migration_unref(ma);
	assign_migration_unref(mb);
	assign_device_unref(da);
	assign_device_unref(db);
}

/* ---- failures and ERROR ----------------------------------------------- */

static void test_error_recovery(void **state)
{
	struct fx *f = *state;
	struct assign_migration_opts o = {
		.size = sizeof(o), .flags = ASSIGN_MIGRATION_F_NO_RESET
	};
	struct assign_migration_precopy pi = { .size = sizeof(pi) };
	enum assign_migration_state s;
	struct assign_migration *m;
	unsigned resets = mock_reset_count(f->mk, SRC);

	/* An arc fails and the device stays where it was. */
	mock_mig_fail_arc(f->mk, SRC, ST(RUNNING_P2P), ST(STOP), -EBUSY, false);
	assert_int_equal(assign_migration_set_state(f->msrc, ST(STOP_COPY)),
			 -EBUSY);
	assert_err_contains(f, "moving " SRC " to STOP_COPY failed at the arc "
			       "RUNNING_P2P -> STOP: Device or resource busy; "
			       "it is in RUNNING_P2P");
	assert_int_equal(assign_migration_get_state(f->msrc, &s), 0);
	assert_int_equal(s, ST(RUNNING_P2P));
	/* An arc fails into ERROR: the library resets the device. */
	assert_int_equal(assign_migration_set_state(f->msrc, ST(STOP_COPY)), 0);
	mock_mig_fail_arc(f->mk, SRC, ST(STOP_COPY), ST(STOP), -EIO, true);
	assert_int_equal(assign_migration_set_state(f->msrc, ST(RUNNING)),
			 -EIO);
	assert_err_contains(f, "it went to ERROR, so it was reset: it is "
			       "RUNNING, its internal state lost");
	assert_int_equal(mock_reset_count(f->mk, SRC), resets + 1);
	assert_int_equal(mock_mig_get_state(f->mk, SRC), ST(RUNNING));
	assert_int_equal(mock_mig_open_files(f->mk), 0);

	/* With NO_RESET the device stays in ERROR, and every call says so. */
	assert_int_equal(assign_migration_new(f->src, &o, &m), 0);
	assert_int_equal(assign_migration_set_state(m, ST(PRE_COPY)), 0);
	mock_mig_fail_arc(f->mk, SRC, MOCK_MIG_ANY, ST(PRE_COPY_P2P), -EIO,
			  true);
	assert_int_equal(assign_migration_set_state(m, ST(STOP_COPY)), -EIO);
	assert_err_contains(f, "it is in ERROR: assign_migration_recover() "
			       "resets it");
	assert_int_equal(mock_mig_get_state(f->mk, SRC), ST(ERROR));
	assert_int_equal(assign_migration_set_state(m, ST(RUNNING)), -EIO);
	assert_err_contains(f, "is in the migration state ERROR; reset it "
			       "with assign_migration_recover() first");
	assert_int_equal(assign_migration_save(m, f->fd, 0, NULL), -EIO);
	assert_int_equal(assign_migration_load(m, f->fd, NULL), -EIO);
	assert_int_equal(assign_migration_get_precopy(m, &pi), -EIO);
	assert_int_equal(assign_migration_get_state(m, &s), 0);
	assert_int_equal(s, ST(ERROR));
	assert_int_equal(assign_migration_recover(m), 0);
	assert_int_equal(mock_mig_get_state(f->mk, SRC), ST(RUNNING));
	assert_int_equal(assign_migration_recover(NULL), -EINVAL);
	/* A reset made behind the object's back ends its session. */
	assert_int_equal(assign_migration_set_state(m, ST(PRE_COPY)), 0);
	assert_int_equal(mock_mig_open_files(f->mk), 1);
	assert_int_equal(assign_device_reset(f->src), 0);
	assert_int_equal(assign_migration_get_state(m, &s), 0);
	assert_int_equal(s, ST(RUNNING));
	assert_int_equal(mock_mig_open_files(f->mk), 0);
	assign_migration_unref(m);
	assert_int_equal(assign_migration_set_state(f->msrc, ST(RUNNING)), 0);

	/* The destination refuses the data on RESUMING -> STOP. */
	reset_stream(f);
	save_all(f, f->msrc);
	rewind_fd(f);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(RESUMING)), 0);
	assert_int_equal(load_all(f->mdst, f->fd, NULL), 1);
	mock_mig_fail_arc(f->mk, DST, ST(RESUMING), ST(STOP), -EINVAL, false);
	assert_int_equal(assign_migration_set_state(f->mdst, ST(RUNNING)),
			 -EINVAL);
	assert_err_contains(f, "it refused the data it was given, so it was "
			       "reset");
	assert_int_equal(mock_mig_get_state(f->mk, DST), ST(RUNNING));
	assert_int_equal(assign_migration_set_state(f->msrc, ST(RUNNING)), 0);
}

/* ---- fault injection -------------------------------------------------- */

/* A whole migration; the first failure's errno, or 0. */
static int one_migration(struct fx *f, struct assign_migration *ms,
			 struct assign_migration *md)
{
	uint64_t n = 0;
	int r;

	reset_stream(f);
	if ((r = assign_migration_set_state(ms, ST(PRE_COPY))) < 0 ||
	    (r = assign_migration_save(ms, f->fd, 0, &n)) < 0 ||
	    (r = assign_migration_set_state(ms, ST(STOP_COPY))) < 0 ||
	    (r = assign_migration_save(ms, f->fd, 0, &n)) < 0 ||
	    (r = assign_migration_set_state(ms, ST(STOP))) < 0)
		return r;
	rewind_fd(f);
	if ((r = assign_migration_set_state(md, ST(RESUMING))) < 0)
		return r;
	while ((r = assign_migration_load(md, f->fd, &n)) == 0)
		;
	if (r < 0)
		return r;
	if ((r = assign_migration_set_state(md, ST(RUNNING))) < 0 ||
	    (r = assign_migration_set_state(ms, ST(RUNNING))) < 0)
		return r;
	return 0;
}

static void test_fault_sweep(void **state)
{
	struct fx *f = *state;
	unsigned long calls, k;
	size_t size;

	fill_state(f, SRC, 9);
	calls = mock_calls(f->mk, MOCK_ANY);
	assert_int_equal(one_migration(f, f->msrc, f->mdst), 0);
	calls = mock_calls(f->mk, MOCK_ANY) - calls;
	assert_true(calls > 10);
	for (k = 1; k <= calls; k++) {
		struct assign_migration *ms, *md;
		int r;

		assert_int_equal(assign_migration_new(f->src, NULL, &ms), 0);
		assert_int_equal(assign_migration_new(f->dst, NULL, &md), 0);
		assign_ctx_clear_last_error(f->ctx);
		mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
		r = one_migration(f, ms, md);
		mock_fail_clear(f->mk);
		if (r < 0 && !*err(f))
			fail_msg("call %lu failed (%d) without a message", k,
				 r);
		/* Whatever failed, the devices can be brought back and
		 * migrate again. */
		if (mock_mig_get_state(f->mk, SRC) != ST(RUNNING) &&
		    assign_migration_set_state(ms, ST(RUNNING)) < 0)
			assert_int_equal(assign_migration_recover(ms), 0);
		if (mock_mig_get_state(f->mk, DST) != ST(RUNNING) &&
		    assign_migration_set_state(md, ST(RUNNING)) < 0)
			assert_int_equal(assign_migration_recover(md), 0);
		assign_migration_unref(ms);
		assign_migration_unref(md);
		assert_int_equal(mock_mig_open_files(f->mk), 0);
		assert_int_equal(mock_bad_fd_calls(f->mk), 0);
	}
	memset(mock_mig_state(f->mk, DST, &size), 0, STATE_SIZE);
	assert_int_equal(one_migration(f, f->msrc, f->mdst), 0);
	assert_memory_equal(mock_mig_state(f->mk, SRC, NULL),
			    mock_mig_state(f->mk, DST, NULL), size);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test_setup_teardown(test_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths_match_kernel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_walk_arcs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unsupported_targets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precopy_zero, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_precopy_and_size_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_fd_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_streams, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrong_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_large_records, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_data_crc, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_error_recovery, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault_sweep, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
