// SPDX-License-Identifier: MIT
/* Unit tests: context, logging, last error, PCI addresses, sysfs parsers,
 * VFIO capability-chain walking. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <cmocka.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "iommu/iommu.h"
#include "mock.h"

static void test_version(void **state)
{
	(void)state;
	assert_string_equal(assign_version(), LIBASSIGN_VERSION);
}

static void test_ctx_new_null(void **state)
{
	(void)state;
	assert_int_equal(assign_ctx_new(NULL), -EINVAL);
}

static void test_ctx_refcount(void **state)
{
	struct assign_ctx *ctx = NULL;

	(void)state;
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assert_non_null(ctx);
	assert_ptr_equal(assign_ctx_ref(ctx), ctx);
	assert_null(assign_ctx_unref(ctx));
	/* still alive: one reference left */
	assert_string_equal(assign_ctx_get_last_error(ctx), "");
	assert_null(assign_ctx_unref(ctx));
	assert_null(assign_ctx_unref(NULL));
	assert_null(assign_ctx_ref(NULL));
}

static void test_ctx_env_priority(void **state)
{
	struct assign_ctx *ctx;

	(void)state;
	setenv("ASSIGN_LOG", "debug", 1);
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assert_int_equal(assign_ctx_get_log_priority(ctx), LOG_DEBUG);
	assign_ctx_unref(ctx);
	setenv("ASSIGN_LOG", "4", 1);
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assert_int_equal(assign_ctx_get_log_priority(ctx), LOG_WARNING);
	assign_ctx_unref(ctx);
	setenv("ASSIGN_LOG", "err", 1);
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assert_int_equal(assign_ctx_get_log_priority(ctx), LOG_ERR);
	assign_ctx_unref(ctx);
	/* Unknown or unset: the default, warnings and worse. */
	setenv("ASSIGN_LOG", "nonsense", 1);
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assert_int_equal(assign_ctx_get_log_priority(ctx), LOG_WARNING);
	assign_ctx_unref(ctx);
	unsetenv("ASSIGN_LOG");
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assert_int_equal(assign_ctx_get_log_priority(ctx), LOG_WARNING);
	assign_ctx_unref(ctx);
}

struct captured {
	int calls;
	int priority;
	char msg[256];
	char fn[64];
};

__attribute__((format(printf, 6, 0))) static void
capture_log(struct assign_ctx *ctx, int priority, const char *file,
			int line, const char *fn, const char *format,
			va_list args)
{
	struct captured *c = assign_ctx_get_log_data(ctx);

	(void)file;
	(void)line;
	c->calls++;
	c->priority = priority;
	snprintf(c->fn, sizeof(c->fn), "%s", fn);
	vsnprintf(c->msg, sizeof(c->msg), format, args);
}

static void test_log_fn_and_priority(void **state)
{
	struct captured cap = { 0 };
	struct assign_ctx *ctx;

	(void)state;
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assign_ctx_set_log_fn(ctx, capture_log, &cap);
	assert_ptr_equal(assign_ctx_get_log_data(ctx), &cap);

	assign_ctx_set_log_priority(ctx, LOG_ERR);
	info(ctx, "hidden %d", 1);
	assert_int_equal(cap.calls, 0);

	assign_ctx_set_log_priority(ctx, LOG_INFO);
	info(ctx, "shown %d", 2);
	assert_int_equal(cap.calls, 1);
	assert_int_equal(cap.priority, LOG_INFO);
	assert_string_equal(cap.msg, "shown 2");
	assert_string_equal(cap.fn, "test_log_fn_and_priority");

	assign_ctx_set_log_priority(ctx, 99);
	assert_int_equal(assign_ctx_get_log_priority(ctx), LOG_DEBUG);
	assign_ctx_set_log_priority(ctx, -3);
	assert_int_equal(assign_ctx_get_log_priority(ctx), 0);

	/* NULL restores stderr; data is replaced */
	assign_ctx_set_log_fn(ctx, NULL, NULL);
	assert_null(assign_ctx_get_log_data(ctx));
	assign_ctx_unref(ctx);
}

static void test_set_error(void **state)
{
	struct captured cap = { 0 };
	struct assign_ctx *ctx;
	int r;

	(void)state;
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assign_ctx_set_log_fn(ctx, capture_log, &cap);
	r = set_error(ctx, -EBUSY, "group %d is not viable: %s", 7, "fix it");
	assert_int_equal(r, -EBUSY);
	assert_string_equal(assign_ctx_get_last_error(ctx),
			    "group 7 is not viable: fix it");
	/* Reported once, to the caller: not logged, even at LOG_INFO. */
	assign_ctx_set_log_priority(ctx, LOG_INFO);
	set_error(ctx, -EIO, "quiet");
	assert_int_equal(cap.calls, 0);
	assert_string_equal(assign_ctx_get_last_error(ctx), "quiet");
	assign_ctx_clear_last_error(ctx);
	assert_string_equal(assign_ctx_get_last_error(ctx), "");

	/* Traced at LOG_DEBUG, with where it failed. */
	assign_ctx_set_log_priority(ctx, LOG_DEBUG);
	set_error(ctx, -EIO, "traced %d", 3);
	assert_int_equal(cap.calls, 1);
	assert_int_equal(cap.priority, LOG_DEBUG);
	assert_string_equal(cap.fn, "test_set_error");
	assert_non_null(strstr(cap.msg, "traced 3"));
	assert_string_equal(assign_ctx_get_last_error(ctx), "traced 3");

	/* Long messages are truncated, not overflowed. */
	char big[2048];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	set_error(ctx, -EIO, "%s", big);
	assert_int_equal(strlen(assign_ctx_get_last_error(ctx)),
			 ASSIGN_ERROR_MAX - 1);
	assign_ctx_unref(ctx);
}

/* ---- the last error is per thread ------------------------------------ */

struct other {
	struct assign_ctx *ctx;
	const char *fail_with; /* set this as the thread's error, or NULL */
	char seen_before[64]; /* the thread's message before it failed */
	char seen_after[64]; /* and after */
	pthread_barrier_t *sync; /* if set: wait twice around the read */
	char seen_late[64]; /* read between the two waits */
};

static void *other_thread(void *arg)
{
	struct other *o = arg;

	snprintf(o->seen_before, sizeof(o->seen_before), "%s",
		 assign_ctx_get_last_error(o->ctx));
	if (o->fail_with)
		set_error(o->ctx, -EIO, "%s", o->fail_with);
	snprintf(o->seen_after, sizeof(o->seen_after), "%s",
		 assign_ctx_get_last_error(o->ctx));
	if (o->sync) {
		pthread_barrier_wait(o->sync);
		pthread_barrier_wait(o->sync);
		/* o->ctx may be a new context at the old one's address. */
		snprintf(o->seen_late, sizeof(o->seen_late), "%s",
			 assign_ctx_get_last_error(o->ctx));
	}
	return NULL;
}

static void run_other(struct other *o)
{
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, other_thread, o), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_last_error_per_thread(void **state)
{
	struct assign_ctx *ctx, *ctx2;
	struct other o = { 0 };
	const char *mine;

	(void)state;
	assert_int_equal(assign_ctx_new(&ctx), 0);
	assert_int_equal(assign_ctx_new(&ctx2), 0);
	set_error(ctx, -EBUSY, "main thread");
	mine = assign_ctx_get_last_error(ctx);
	assert_string_equal(mine, "main thread");

	/* Another thread starts with nothing and keeps its own message. */
	o.ctx = ctx;
	o.fail_with = "other thread";
	run_other(&o);
	assert_string_equal(o.seen_before, "");
	assert_string_equal(o.seen_after, "other thread");
	/* ... which never touched ours, nor the pointer we hold. */
	assert_string_equal(assign_ctx_get_last_error(ctx), "main thread");
	assert_string_equal(mine, "main thread");

	/* One thread, two contexts: two messages. */
	assert_string_equal(assign_ctx_get_last_error(ctx2), "");
	set_error(ctx2, -EIO, "second context");
	assert_string_equal(assign_ctx_get_last_error(ctx2), "second context");
	assert_string_equal(assign_ctx_get_last_error(ctx), "main thread");

	/* Clearing is per thread too. */
	o.fail_with = NULL;
	assign_ctx_clear_last_error(ctx);
	assert_string_equal(assign_ctx_get_last_error(ctx), "");
	set_error(ctx, -EIO, "again");
	run_other(&o);
	assert_string_equal(o.seen_before, "");
	assert_string_equal(assign_ctx_get_last_error(ctx), "again");
	assign_ctx_unref(ctx2);
	assign_ctx_unref(ctx);
}

/*
 * A thread failed on a context that another thread then freed; a new
 * context (malloc likely hands back the same address) must not show the
 * old context's message to that thread.
 */
static void test_last_error_not_keyed_by_address(void **state)
{
	pthread_barrier_t sync;
	struct other o = { 0 };
	struct assign_ctx *ctx;
	uintptr_t old;
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_barrier_init(&sync, NULL, 2), 0);
	assert_int_equal(assign_ctx_new(&ctx), 0);
	o.ctx = ctx;
	o.fail_with = "old context";
	o.sync = &sync;
	assert_int_equal(pthread_create(&t, NULL, other_thread, &o), 0);
	pthread_barrier_wait(&sync);
	assert_string_equal(o.seen_after, "old context");
	/* The thread still holds its entry for the old context. */
	old = (uintptr_t)ctx;
	assign_ctx_unref(ctx);
	/* Malloc usually hands the address back at once; try a few times
	 * (sanitizers' allocators never do, and any new context will do). */
	assert_int_equal(assign_ctx_new(&ctx), 0);
	for (int i = 0; i < 8 && (uintptr_t)ctx != old; i++) {
		assign_ctx_unref(ctx);
		assert_int_equal(assign_ctx_new(&ctx), 0);
	}
	o.ctx = ctx;
	pthread_barrier_wait(&sync);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_string_equal(o.seen_late, "");
	assign_ctx_unref(ctx);
	pthread_barrier_destroy(&sync);
}

/* ---- what is logged at the default priority ----------------------------- */

static struct assign_ctx *quiet_mock_ctx(struct mock_kernel **mk,
					 struct captured *cap)
{
	struct mock_device_cfg cfg;
	struct assign_ctx *ctx;
	char *env = getenv("ASSIGN_LOG");
	char saved[32] = "";

	/* The default, whatever the test runner sets. */
	if (env)
		snprintf(saved, sizeof(saved), "%s", env);
	unsetenv("ASSIGN_LOG");
	assert_int_equal(mock_kernel_new(mk), 0);
	mock_device_cfg_default(&cfg, "0000:00:03.0", 7);
	assert_int_equal(mock_add_device(*mk, &cfg), 0);
	assert_int_equal(mock_ctx_new(*mk, &ctx), 0);
	if (saved[0])
		setenv("ASSIGN_LOG", saved, 1);
	assert_int_equal(assign_ctx_get_log_priority(ctx), LOG_WARNING);
	assign_ctx_set_log_fn(ctx, capture_log, cap);
	return ctx;
}

static void test_failures_not_logged(void **state)
{
	struct captured cap = { 0 };
	struct mock_kernel *mk;
	struct assign_ctx *ctx = quiet_mock_ctx(&mk, &cap);
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = ASSIGN_IOMMU_IOMMUFD };
	struct assign_iommu *iommu;
	struct assign_device *dev = NULL;
	struct assign_group *group = NULL;

	(void)state;
	assert_int_equal(assign_iommu_new(ctx, &o, &iommu), 0);
	/* A failure: the return value and the message, no log line. */
	assert_int_equal(assign_device_open(iommu, "0000:00:99.0", NULL, &dev),
			 -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(ctx), "00:99.0"));
	assert_int_equal(cap.calls, 0);
	/* A query whose answer is "not supported" logs nothing either. */
	assert_int_equal(assign_device_open(iommu, "0000:00:03.0", NULL, &dev),
			 0);
	assert_int_equal(assign_iommu_get_group(iommu, 7, &group), -EOPNOTSUPP);
	assert_int_equal(cap.calls, 0);
	/* A lookup whose miss is an answer sets no error. */
	assign_ctx_clear_last_error(ctx);
	assert_null(iommu_find_group(iommu, 7));
	assert_string_equal(assign_ctx_get_last_error(ctx), "");
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	mock_kernel_free(mk);
}

static void test_warning_logged(void **state)
{
	struct captured cap = { 0 };
	struct mock_kernel *mk;
	struct assign_ctx *ctx = quiet_mock_ctx(&mk, &cap);
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = ASSIGN_IOMMU_NOIOMMU,
				       .flags = ASSIGN_IOMMU_F_ALLOW_NOIOMMU };
	struct assign_iommu *iommu;
	struct assign_device *dev = NULL;
	struct assign_group *g;

	(void)state;
	mock_set_noiommu(mk, true);
	/* Not failures, and nothing else tells the caller: warnings. */
	assert_int_equal(assign_iommu_new(ctx, &o, &iommu), 0);
	assert_int_equal(cap.calls, 1);
	assert_int_equal(cap.priority, LOG_WARNING);
	assert_non_null(strstr(cap.msg, "no-IOMMU"));
	assert_int_equal(assign_device_open(iommu, "0000:00:03.0", NULL, &dev),
			 0);
	assert_int_equal(cap.calls, 2);
	assert_int_equal(cap.priority, LOG_WARNING);
	assert_non_null(strstr(cap.msg, "0000:00:03.0 opened in no-IOMMU"));
	assert_string_equal(assign_ctx_get_last_error(ctx), "");
	/* Group lookups, a hit and a miss: neither sets an error. */
	g = iommu_find_group(iommu, 7);
	assert_non_null(g);
	assert_int_equal(assign_group_get_id(g), 7);
	assign_group_unref(g);
	assert_null(iommu_find_group(iommu, 8));
	assert_string_equal(assign_ctx_get_last_error(ctx), "");
	assert_int_equal(cap.calls, 2);
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	mock_kernel_free(mk);
}

static void test_pci_addr_parse(void **state)
{
	static const struct {
		const char *s;
		int r;
		uint16_t dom;
		uint8_t bus, dev, fn;
	} cases[] = {
		{ "0000:00:03.0", 0, 0, 0, 3, 0 },
		{ "00:1f.7", 0, 0, 0, 0x1f, 7 },
		{ "ABCD:EF:1F.3", 0, 0xabcd, 0xef, 0x1f, 3 },
		{ "1:2:3.4", 0, 1, 2, 3, 4 },
		{ "0000:00:20.0", -EINVAL, 0, 0, 0, 0 },
		{ "0000:00:03.8", -EINVAL, 0, 0, 0, 0 },
		{ "0000:00:03.0 ", -EINVAL, 0, 0, 0, 0 },
		{ "0000:00:03", -EINVAL, 0, 0, 0, 0 },
		{ "00000:00:03.0", -EINVAL, 0, 0, 0, 0 },
		{ "0000:000:03.0", -EINVAL, 0, 0, 0, 0 },
		{ ":00:03.0", -EINVAL, 0, 0, 0, 0 },
		{ "0000::03.0", -EINVAL, 0, 0, 0, 0 },
		{ "100:03.0", -EINVAL, 0, 0, 0, 0 },
		{ "", -EINVAL, 0, 0, 0, 0 },
		{ "g0:03.0", -EINVAL, 0, 0, 0, 0 },
		{ "0000:00:03.", -EINVAL, 0, 0, 0, 0 },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct assign_pci_addr a = { 0x1111, 0x22, 0x3, 0x4 };
		int r = assign_pci_addr_parse(cases[i].s, &a);

		if (r != cases[i].r)
			fail_msg("'%s': got %d, want %d", cases[i].s, r,
				 cases[i].r);
		if (r == 0) {
			assert_int_equal(a.domain, cases[i].dom);
			assert_int_equal(a.bus, cases[i].bus);
			assert_int_equal(a.dev, cases[i].dev);
			assert_int_equal(a.fn, cases[i].fn);
		} else {
			/* untouched on failure */
			assert_int_equal(a.domain, 0x1111);
			assert_int_equal(a.fn, 4);
		}
	}
	assert_int_equal(assign_pci_addr_parse(NULL, NULL), -EINVAL);
}

static void test_pci_addr_format(void **state)
{
	struct assign_pci_addr a = { 0xabcd, 0xef, 0x1f, 3 };
	char buf[ASSIGN_PCI_ADDR_LEN];
	char small[5] = "zzzz";

	(void)state;
	assert_int_equal(assign_pci_addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "abcd:ef:1f.3");
	assert_int_equal(assign_pci_addr_format(&a, small, sizeof(small)),
			 -ENOSPC);
	assert_string_equal(small, "");
	a.fn = 8;
	assert_int_equal(assign_pci_addr_format(&a, buf, sizeof(buf)), -EINVAL);
}

static void test_reserved_regions_parse(void **state)
{
	struct assign_reserved_region *r = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(
		parse_reserved_regions(
			"0x00000000fee00000 0x00000000feefffff msi\n"
			"0x0000000000000000 0x0000000000000fff direct-relaxable\n",
			&r, &n),
		0);
	assert_int_equal(n, 2);
	/* sorted by start */
	assert_int_equal(r[0].start, 0);
	assert_int_equal(r[0].last, 0xfff);
	assert_string_equal(r[0].type, "direct-relaxable");
	assert_int_equal(r[1].start, 0xfee00000);
	assert_int_equal(r[1].last, 0xfeefffff);
	assert_string_equal(r[1].type, "msi");
	free(r);

	r = NULL;
	assert_int_equal(parse_reserved_regions("", &r, &n), 0);
	assert_int_equal(n, 0);
	free(r);

	assert_int_equal(parse_reserved_regions("0x10 0x0 msi\n", &r, &n),
			 -EIO); /* end before start */
	assert_int_equal(parse_reserved_regions("0x10 0x20\n", &r, &n), -EIO);
	assert_int_equal(parse_reserved_regions("0x10 0x20 msi extra\n", &r,
						&n),
			 -EIO);
	assert_int_equal(parse_reserved_regions("garbage\n", &r, &n), -EIO);
}

/* A region-info-like buffer with a capability chain. */
struct fake_info {
	struct vfio_region_info info;
	unsigned char caps[64];
};

static void put_cap(void *buf, size_t off, uint16_t id, uint32_t next)
{
	struct vfio_info_cap_header h = { .id = id, .version = 1,
					  .next = next };
	memcpy((unsigned char *)buf + off, &h, sizeof(h));
}

static int count_cb(const void *cap, size_t off, size_t avail, void *data)
{
	(void)cap;
	(void)off;
	(void)avail;
	(*(int *)data)++;
	return 0;
}

static void test_cap_chain(void **state)
{
	struct fake_info f;
	size_t minsz = sizeof(f.info), len = sizeof(f);
	int cnt = 0;

	(void)state;
	memset(&f, 0, sizeof(f));
	put_cap(&f, minsz, 3, (uint32_t)minsz + 16);
	put_cap(&f, minsz + 16, 5, 0);
	assert_int_equal(vfio_cap_find(&f, len, minsz, (uint32_t)minsz, 5, 8),
			 (int)minsz + 16);
	assert_int_equal(vfio_cap_find(&f, len, minsz, (uint32_t)minsz, 3, 8),
			 (int)minsz);
	assert_int_equal(vfio_cap_find(&f, len, minsz, (uint32_t)minsz, 9, 8),
			 -ENOENT);
	assert_int_equal(vfio_cap_foreach(&f, len, minsz, (uint32_t)minsz,
					  count_cb, &cnt),
			 0);
	assert_int_equal(cnt, 2);

	/* a capability whose body would run past the buffer */
	assert_int_equal(vfio_cap_find(&f, len, minsz, (uint32_t)minsz, 5,
				       len - minsz),
			 -EPROTO);

	/* a loop: second points back at the first */
	put_cap(&f, minsz + 16, 5, (uint32_t)minsz);
	assert_int_equal(vfio_cap_find(&f, len, minsz, (uint32_t)minsz, 9, 8),
			 -EPROTO);
	/* a self loop */
	put_cap(&f, minsz, 3, (uint32_t)minsz);
	assert_int_equal(vfio_cap_find(&f, len, minsz, (uint32_t)minsz, 9, 8),
			 -EPROTO);
	/* pointing inside the fixed part */
	assert_int_equal(vfio_cap_find(&f, len, minsz, 4, 3, 8), -EPROTO);
	/* out of bounds and misaligned */
	assert_int_equal(vfio_cap_find(&f, len, minsz, (uint32_t)len, 3, 8),
			 -EPROTO);
	assert_int_equal(vfio_cap_find(&f, len, minsz, (uint32_t)minsz + 2, 3,
				       8),
			 -EPROTO);
	assert_int_equal(vfio_cap_find(&f, len, minsz, 0xfffffff0u, 3, 8),
			 -EPROTO);
	/* no chain at all */
	assert_int_equal(vfio_cap_find(&f, len, minsz, 0, 3, 8), -ENOENT);
}

/*
 * The rules for structs that can grow (core/sized.c): an options struct
 * from an older caller (shorter) reads as zero past its end, one from a
 * newer caller (longer) must be zero past what the library knows; an
 * output struct is filled up to the shorter of the two sizes and says how
 * much was filled.
 */
struct sized_v2 {
	size_t size;
	uint32_t a;
	uint32_t b;
	uint64_t c;
};

static void test_sized_in(void **state)
{
	struct assign_ctx *ctx;
	struct sized_v2 out;
	struct {
		struct sized_v2 v2;
		uint64_t newer;
	} in = { { sizeof(in), 1, 2, 3 }, 0 };

	(void)state;
	assert_int_equal(assign_ctx_new(&ctx), 0);
	/* NULL: all defaults (zero), size set to what the library knows. */
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(sized_in(ctx, &out, sizeof(out), NULL, "t"), 0);
	assert_int_equal(out.size, sizeof(out));
	assert_true(out.a == 0 && out.b == 0 && out.c == 0);
	/* A newer caller whose extra field is zero is fine. */
	assert_int_equal(sized_in(ctx, &out, sizeof(out), &in, "t"), 0);
	assert_true(out.a == 1 && out.b == 2 && out.c == 3);
	assert_int_equal(out.size, sizeof(out));
	/* ...not when it is set. */
	in.newer = 1;
	assert_int_equal(sized_in(ctx, &out, sizeof(out), &in, "t"), -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(ctx),
			       "fields this libassign"));
	in.newer = 0;
	/* An older caller covering a and b only: c reads as 0. */
	in.v2.size = offsetof(struct sized_v2, c);
	assert_int_equal(sized_in(ctx, &out, sizeof(out), &in, "t"), 0);
	assert_true(out.a == 1 && out.b == 2 && out.c == 0);
	/* Garbage sizes. */
	in.v2.size = 4;
	assert_int_equal(sized_in(ctx, &out, sizeof(out), &in, "t"), -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(ctx),
			       "set .size = sizeof(struct t)"));
	in.v2.size = ASSIGN_SIZED_MAX + 1;
	assert_int_equal(sized_in(ctx, &out, sizeof(out), &in, "t"), -EINVAL);
	assign_ctx_unref(ctx);
}

static void test_sized_out(void **state)
{
	struct sized_v2 lib = { sizeof(lib), 1, 2, 3 };
	struct {
		struct sized_v2 v2;
		uint64_t newer;
	} big;
	struct {
		size_t size;
		uint32_t a;
		uint32_t guard;
	} small;

	(void)state;
	assert_int_equal(sized_out_check(NULL, NULL, "t"), -EINVAL);
	memset(&big, 0x5a, sizeof(big));
	big.v2.size = sizeof(big);
	assert_int_equal(sized_out_check(NULL, &big, "t"), 0);
	SIZED_OUT_FILL(&big, &lib);
	/* A newer caller learns how much the library filled. */
	assert_int_equal(big.v2.size, sizeof(lib));
	assert_true(big.v2.a == 1 && big.v2.b == 2 && big.v2.c == 3);
	assert_true(big.newer == 0x5a5a5a5a5a5a5a5aull);
	/* An older caller gets what it knows, nothing past it. */
	memset(&small, 0x5a, sizeof(small));
	small.size = offsetof(__typeof__(small), guard);
	SIZED_OUT_FILL(&small, &lib);
	assert_int_equal(small.size, offsetof(__typeof__(small), guard));
	assert_int_equal(small.a, 1);
	assert_int_equal(small.guard, 0x5a5a5a5a);
	small.size = 0;
	assert_int_equal(sized_out_check(NULL, &small, "t"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_ctx_new_null),
		cmocka_unit_test(test_ctx_refcount),
		cmocka_unit_test(test_ctx_env_priority),
		cmocka_unit_test(test_log_fn_and_priority),
		cmocka_unit_test(test_set_error),
		cmocka_unit_test(test_last_error_per_thread),
		cmocka_unit_test(test_last_error_not_keyed_by_address),
		cmocka_unit_test(test_failures_not_logged),
		cmocka_unit_test(test_warning_logged),
		cmocka_unit_test(test_pci_addr_parse),
		cmocka_unit_test(test_pci_addr_format),
		cmocka_unit_test(test_reserved_regions_parse),
		cmocka_unit_test(test_cap_chain),
		cmocka_unit_test(test_sized_in),
		cmocka_unit_test(test_sized_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
