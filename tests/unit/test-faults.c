// SPDX-License-Identifier: MIT
/*
 * The fault-injection sweep (issue 2): a full open, map, irq, reset, close
 * sequence is run once to count its syscalls (N), then N more times with
 * call k failing, for several errnos, on each backend. Each run must
 *   - report the failure from the step that made the call (or recover: a
 *     step may legitimately survive a failed close, munmap or probe),
 *   - leave the objects usable: the failed step, retried without faults,
 *     succeeds, and so do the steps after it,
 *   - leak nothing: after the last unref the mock has no fd, no mmap (of a
 *     region or an anonymous reservation) and no DMA mapping left.
 * A second sweep injects the fault during teardown only (unref paths).
 *
 * FAULTS_VERBOSE=1 prints every injected fault and what the step returned.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <libassign/libassign.h>
#include <libassign/device.h>
#include <libassign/iommu.h>
#include <libassign/pci.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock.h"

#define DEV0 "0000:00:03.0"
#define DEV1 "0000:00:04.0" /* same group and bus as DEV0 */
#define DEV2 "0000:01:00.0" /* a group of its own */
#define DMA_IOVA 0x100000ull
#define DMA_LEN 0x10000ull

static const int errnos[] = { -EIO, -ENOMEM, -EBUSY, -EINTR };

struct run {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	enum assign_iommu_backend backend;
	struct assign_iommu *iommu;
	struct assign_device *dev;
	struct assign_device *dev2;
	void *bar0;
	void *mem;
	int efd[3];
};

typedef int (*step_fn)(struct run *r);

static int st_iommu_new(struct run *r)
{
	struct assign_iommu_opts o = { .size = sizeof(o), .backend = r->backend };

	if (r->backend == ASSIGN_IOMMU_NOIOMMU)
		o.flags = ASSIGN_IOMMU_F_ALLOW_NOIOMMU;
	return assign_iommu_new(r->ctx, &o, &r->iommu);
}

static int st_device_open(struct run *r)
{
	return assign_device_open(r->iommu, DEV0, NULL, &r->dev);
}

static int st_info(struct run *r)
{
	struct assign_device_info di = { .size = sizeof(di) };
	const struct assign_region_info *ri;
	struct assign_irq_info ii = { .size = sizeof(ii) };
	int ret;

	ret = assign_device_get_info(r->dev, &di);
	if (ret)
		return ret;
	ret = assign_device_get_region(r->dev, ASSIGN_PCI_BAR0_REGION, &ri);
	if (ret)
		return ret;
	return assign_device_get_irq_info(r->dev, ASSIGN_IRQ_MSIX, &ii);
}

static int st_geometry(struct run *r)
{
	const struct assign_iova_range *ranges;
	const struct assign_reserved_region *resv;
	uint64_t pg;
	size_t n;
	int ret;

	ret = assign_iommu_get_iova_ranges(r->iommu, &ranges, &n);
	if (ret)
		return ret;
	ret = assign_iommu_get_pgsizes(r->iommu, &pg);
	if (ret)
		return ret;
	return assign_iommu_get_reserved_regions(r->iommu, &resv, &n);
}

static int st_mmap(struct run *r)
{
	return assign_region_mmap(r->dev, ASSIGN_PCI_BAR0_REGION, &r->bar0);
}

static int st_config(struct run *r)
{
	struct assign_pci_bar bars[6] = { { .size = sizeof(bars[0]) } };
	uint32_t id;
	int ret;

	ret = assign_device_config_read(r->dev, 0, &id, sizeof(id));
	if (ret)
		return ret;
	if (id != 0x10d38086)
		return -EPROTO;
	return assign_device_get_bars(r->dev, bars);
}

static int st_map(struct run *r)
{
	return assign_iommu_map(r->iommu, DMA_IOVA, r->mem, DMA_LEN,
				ASSIGN_DMA_F_RW);
}

static int st_msix(struct run *r)
{
	return assign_irq_set_eventfds(r->dev, ASSIGN_IRQ_MSIX, 0, 2, r->efd);
}

static int st_msix_grow(struct run *r)
{
	return assign_irq_set_eventfds(r->dev, ASSIGN_IRQ_MSIX, 2, 1,
				       r->efd + 2);
}

static int st_reset(struct run *r)
{
	return assign_device_reset(r->dev);
}

static int st_msix_again(struct run *r)
{
	/* After a reset the library re-arms what it needs. */
	return assign_irq_set_eventfds(r->dev, ASSIGN_IRQ_MSIX, 0, 1, r->efd);
}

static int st_hot_reset_deps(struct run *r)
{
	struct assign_reset_dep deps[4] = { { .size = sizeof(deps[0]) } };
	size_t n;

	return assign_device_get_hot_reset_deps(r->dev, deps, 4, &n);
}

static int st_irq_disable(struct run *r)
{
	return assign_irq_disable(r->dev, ASSIGN_IRQ_MSIX);
}

/* A second device of the same group and bus: the group is shared, and a
 * hot reset needs both. */
static int st_device_open2(struct run *r)
{
	return assign_device_open(r->iommu, DEV1, NULL, &r->dev2);
}

static int st_hot_reset(struct run *r)
{
	return assign_device_hot_reset(r->dev);
}

static int st_intx(struct run *r)
{
	int ret = assign_irq_set_eventfds(r->dev, ASSIGN_IRQ_INTX, 0, 1,
					  r->efd);
	if (ret)
		return ret;
	return assign_irq_set_unmask_eventfd(r->dev, ASSIGN_IRQ_INTX,
					     r->efd[1]);
}

static int st_intx_mask(struct run *r)
{
	int ret = assign_irq_mask(r->dev, ASSIGN_IRQ_INTX, 0, 1);
	if (ret)
		return ret;
	ret = assign_irq_unmask(r->dev, ASSIGN_IRQ_INTX, 0, 1);
	if (ret)
		return ret;
	return assign_irq_trigger(r->dev, ASSIGN_IRQ_INTX, 0, 1);
}

static int st_intx_disable(struct run *r)
{
	return assign_irq_disable(r->dev, ASSIGN_IRQ_INTX);
}

static int st_req(struct run *r)
{
	return assign_irq_set_eventfds(r->dev, ASSIGN_IRQ_REQ, 0, 1,
				       r->efd + 2);
}

static int st_region_rw(struct run *r)
{
	uint32_t v = 0x12345678, back = 0;
	int ret;

	ret = assign_region_write(r->dev, 3 /* BAR3 */, 0x10, &v,
				  sizeof(v));
	if (ret)
		return ret;
	ret = assign_region_read(r->dev, 3 /* BAR3 */, 0x10, &back,
				 sizeof(back));
	if (ret)
		return ret;
	return back == v ? 0 : -EPROTO;
}

static int st_feature(struct run *r)
{
	int ret = assign_device_feature_probe(r->dev,
					      3 /* LOW_POWER_ENTRY */, ASSIGN_DEVICE_FEATURE_F_SET);
	return ret < 0 ? ret : 0;
}

/* The rest of the IOMMU API: queries, budgets, layout, several mappings at
 * once, everything off at once, the group handle. -EOPNOTSUPP where the
 * backend has no such thing counts as success. */
static int st_iommu_queries(struct run *r)
{
	struct assign_iova_range want[2] = {
		{ 0x40000000, 0x4fffffff }, { 0x100000000ull, 0x10fffffffull },
	};
	struct assign_conflict conflicts[4] = {
		{ .size = sizeof(conflicts[0]) },
	};
	size_t n;
	uint32_t avail;
	int ret;

	ret = assign_iommu_get_dma_avail(r->iommu, &avail);
	if (ret && ret != -EOPNOTSUPP)
		return ret;
	ret = assign_iommu_get_irq_remapping(r->iommu);
	if (ret < 0 && ret != -EOPNOTSUPP)
		return ret;
	ret = assign_iommu_check_memlock(r->iommu, DMA_LEN);
	if (ret)
		return ret;
	return assign_iommu_check_layout(r->iommu, want, 2, conflicts, 4, &n);
}

static int st_map_many(struct run *r)
{
	struct assign_dma_map maps[2] = {
		{ 0x40000000, r->mem, DMA_LEN / 2, ASSIGN_DMA_F_READ },
		{ 0x40100000, (uint8_t *)r->mem + DMA_LEN / 2, DMA_LEN / 2,
		  ASSIGN_DMA_F_RW },
	};
	return assign_iommu_map_many(r->iommu, maps, 2);
}

static int st_unmap_all(struct run *r)
{
	return assign_iommu_unmap_all(r->iommu);
}

static int st_group(struct run *r)
{
	struct assign_group *g;
	int ret;

	if (assign_iommu_get_backend(r->iommu) == ASSIGN_IOMMU_IOMMUFD)
		return 0;
	ret = assign_iommu_get_group(r->iommu, 7, &g);
	if (ret)
		return ret;
	ret = assign_group_get_fd(g) >= 0 && assign_group_get_id(g) == 7 ? 0 : -EPROTO;
	assign_group_unref(g);
	return ret;
}

static int st_write_config(struct run *r)
{
	uint16_t cmd = 0x0006; /* memory space, bus master */

	return assign_device_config_write(r->dev, 0x04, &cmd, sizeof(cmd));
}

static int st_device_close2(struct run *r)
{
	r->dev2 = assign_device_unref(r->dev2);
	return 0;
}

static int st_unmap(struct run *r)
{
	return assign_iommu_unmap(r->iommu, DMA_IOVA, DMA_LEN);
}

static int st_munmap(struct run *r)
{
	int ret = assign_region_munmap(r->dev, ASSIGN_PCI_BAR0_REGION);
	if (ret == 0)
		r->bar0 = NULL;
	return ret;
}

/* Map again, so the teardown has DMA to undo. */
static int st_map_again(struct run *r)
{
	return assign_iommu_map(r->iommu, DMA_IOVA, r->mem, DMA_LEN,
				ASSIGN_DMA_F_RW);
}

/* @release: the step gives something back; when the seam call that
 * releases it fails, the resource is gone anyway (close(), munmap() as the
 * mock documents them), so the retry may find nothing left: -ENOENT. */
static const struct {
	const char *name;
	step_fn fn;
	bool release;
} steps[] = {
	{ "iommu_new", st_iommu_new, false },
	{ "device_open", st_device_open, false },
	{ "info", st_info, false },
	{ "geometry", st_geometry, false },
	{ "region_mmap", st_mmap, false },
	{ "config", st_config, false },
	{ "map", st_map, false },
	{ "msix", st_msix, false },
	{ "msix_grow", st_msix_grow, false },
	{ "reset", st_reset, false },
	{ "msix_again", st_msix_again, false },
	{ "hot_reset_deps", st_hot_reset_deps, false },
	{ "irq_disable", st_irq_disable, true },
	{ "device_open2", st_device_open2, false },
	{ "hot_reset", st_hot_reset, false },
	{ "intx", st_intx, false },
	{ "intx_mask", st_intx_mask, false },
	{ "intx_disable", st_intx_disable, true },
	{ "req", st_req, false },
	{ "region_rw", st_region_rw, false },
	{ "feature", st_feature, false },
	{ "device_close2", st_device_close2, false },
	{ "unmap", st_unmap, true },
	{ "region_munmap", st_munmap, true },
	{ "iommu_queries", st_iommu_queries, false },
	{ "map_many", st_map_many, false },
	{ "unmap_all", st_unmap_all, true },
	{ "group", st_group, false },
	{ "write_config", st_write_config, false },
	{ "map_again", st_map_again, false },
	{ "msix_last", st_msix, false },
};

static bool verbose;

/* Steps that need an IOMMU (skipped on the no-IOMMU backend). */
static bool needs_iommu(step_fn fn)
{
	return fn == st_geometry || fn == st_map || fn == st_unmap ||
	       fn == st_map_again || fn == st_iommu_queries ||
	       fn == st_map_many || fn == st_unmap_all;
}

static bool skip_step(const struct run *r, size_t i)
{
	return r->backend == ASSIGN_IOMMU_NOIOMMU && needs_iommu(steps[i].fn);
}

static const char *backend_name(enum assign_iommu_backend be)
{
	switch (be) {
	case ASSIGN_IOMMU_TYPE1:
		return "type1";
	case ASSIGN_IOMMU_IOMMUFD:
		return "iommufd";
	case ASSIGN_IOMMU_NOIOMMU:
		return "noiommu";
	default:
		return "auto";
	}
}

static void run_init(struct run *r, enum assign_iommu_backend be)
{
	struct mock_device_cfg cfg;

	memset(r, 0, sizeof(*r));
	r->backend = be;
	assert_int_equal(mock_kernel_new(&r->mk), 0);
	if (be == ASSIGN_IOMMU_NOIOMMU)
		mock_set_noiommu(r->mk, true);
	mock_device_cfg_default(&cfg, DEV0, 7);
	assert_int_equal(mock_add_device(r->mk, &cfg), 0);
	mock_device_cfg_default(&cfg, DEV1, 7);
	assert_int_equal(mock_add_device(r->mk, &cfg), 0);
	mock_device_cfg_default(&cfg, DEV2, 8);
	assert_int_equal(mock_add_device(r->mk, &cfg), 0);
	assert_int_equal(mock_ctx_new(r->mk, &r->ctx), 0);
	assign_ctx_set_log_priority(r->ctx, verbose ? LOG_DEBUG : 0);
	r->mem = mmap(NULL, DMA_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(r->mem != MAP_FAILED);
	for (int i = 0; i < 3; i++) {
		r->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(r->efd[i] >= 0);
	}
}

static void teardown_objects(struct run *r)
{
	r->dev2 = assign_device_unref(r->dev2);
	r->dev = assign_device_unref(r->dev);
	r->iommu = assign_iommu_unref(r->iommu);
}

static void check_clean(struct run *r, const char *what, unsigned long k,
			int err)
{
	size_t fds = mock_open_fds(r->mk), maps = mock_seam_mmaps(r->mk);
	size_t dma = mock_dma_count(r->mk);

	if (fds || maps || dma)
		fail_msg("%s: fault %d at call %lu leaked %zu fd(s), %zu "
			 "mmap(s), %zu DMA mapping(s)",
			 what, err, k, fds, maps, dma);
	if (mock_bad_fd_calls(r->mk))
		fail_msg("%s: fault %d at call %lu: %lu call(s) on fds already "
			 "closed or never opened (double close?)",
			 what, err, k, mock_bad_fd_calls(r->mk));
	assert_int_equal(mock_irq_enabled(r->mk, DEV0, ASSIGN_IRQ_MSIX), 0);
}

static void run_free(struct run *r)
{
	mock_fail_clear(r->mk);
	assign_ctx_unref(r->ctx);
	munmap(r->mem, DMA_LEN);
	for (int i = 0; i < 3; i++)
		close(r->efd[i]);
	mock_kernel_free(r->mk);
}

/*
 * Run every step, then unref everything. With @k > 0 the k-th seam call
 * fails with @err: counted from the start, or from the start of the
 * teardown when @in_teardown. Checks the rules above.
 */
static void sweep_one(enum assign_iommu_backend be, unsigned long k, int err,
		      bool in_teardown)
{
	const char *bname = backend_name(be);
	bool failed_once = false;
	struct run r;

	run_init(&r, be);
	if (k && !in_teardown)
		mock_fail_nth(r.mk, MOCK_ANY, 0, k, err);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		unsigned long before = mock_calls(r.mk, MOCK_ANY);
		int ret;

		if (skip_step(&r, i))
			continue;
		assign_ctx_clear_last_error(r.ctx);
		ret = steps[i].fn(&r);
		if (verbose && k && !in_teardown && before < k &&
		    mock_calls(r.mk, MOCK_ANY) >= k)
			printf("  %s k=%lu err=%d: step %s -> %d (%s)\n", bname,
			       k, err, steps[i].name, ret,
			       assign_ctx_get_last_error(r.ctx));
		if (ret == 0)
			continue;
		/* Only an injected fault may make a step fail. */
		if (!k || in_teardown || failed_once || before >= k ||
		    mock_calls(r.mk, MOCK_ANY) < k)
			fail_msg("%s: step %s failed (%d: %s) with no fault "
				 "injected in it (k=%lu err=%d)",
				 bname, steps[i].name, ret,
				 assign_ctx_get_last_error(r.ctx), k, err);
		failed_once = true;
		if (!assign_ctx_get_last_error(r.ctx)[0])
			fail_msg("%s: step %s failed (%d) without a message "
				 "(k=%lu err=%d)",
				 bname, steps[i].name, ret, k, err);
		/* The objects must still be usable: retry without faults. */
		mock_fail_clear(r.mk);
		ret = steps[i].fn(&r);
		if (ret == -ENOENT && steps[i].release)
			ret = 0;
		if (ret)
			fail_msg("%s: step %s failed again (%d: %s) after a "
				 "fault at call %lu (err %d): objects left "
				 "unusable",
				 bname, steps[i].name, ret,
				 assign_ctx_get_last_error(r.ctx), k, err);
	}
	if (!k || in_teardown) {
		/* The sequence itself worked. */
		assert_int_equal(mock_dma_count(r.mk),
				 be == ASSIGN_IOMMU_NOIOMMU ? 0 : 1);
		assert_int_equal(mock_fire_irq(r.mk, DEV0, ASSIGN_IRQ_MSIX, 1),
				 0);
	}
	mock_fail_clear(r.mk);
	if (in_teardown)
		mock_fail_nth(r.mk, MOCK_ANY, 0, k, err);
	teardown_objects(&r);
	check_clean(&r, bname, k, err);
	run_free(&r);
}

/* Seam calls made by the sequence and by the teardown. */
static void count_calls(enum assign_iommu_backend be, unsigned long *seq,
			unsigned long *down)
{
	struct run r;

	run_init(&r, be);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
		if (!skip_step(&r, i) && steps[i].fn(&r))
			fail_msg("fault-free run: step %s failed: %s",
				 steps[i].name, assign_ctx_get_last_error(r.ctx));
	*seq = mock_calls(r.mk, MOCK_ANY);
	teardown_objects(&r);
	*down = mock_calls(r.mk, MOCK_ANY) - *seq;
	check_clean(&r, "fault-free", 0, 0);
	run_free(&r);
}

static void sweep(enum assign_iommu_backend be)
{
	unsigned long n, nt;

	count_calls(be, &n, &nt);
	print_message("%s: %lu seam calls in the sequence, %lu in teardown\n",
		      backend_name(be), n, nt);
	assert_true(n > 0 && nt > 0);
	sweep_one(be, 0, 0, false);
	for (size_t e = 0; e < ARRAY_SIZE(errnos); e++) {
		for (unsigned long k = 1; k <= n; k++)
			sweep_one(be, k, errnos[e], false);
		for (unsigned long k = 1; k <= nt; k++)
			sweep_one(be, k, errnos[e], true);
	}
}

static void test_sweep_type1(void **state)
{
	(void)state;
	sweep(ASSIGN_IOMMU_TYPE1);
}

static void test_sweep_iommufd(void **state)
{
	(void)state;
	sweep(ASSIGN_IOMMU_IOMMUFD);
}

static void test_sweep_noiommu(void **state)
{
	(void)state;
	sweep(ASSIGN_IOMMU_NOIOMMU);
}

static void test_sweep_auto(void **state)
{
	(void)state;
	sweep(ASSIGN_IOMMU_AUTO);
}

/* One targeted case per ioctl kind: the k-th VFIO_IOMMU_MAP_DMA fails in
 * the middle of a map_many and the ones already made are rolled back. */
static void test_map_many_rollback(void **state)
{
	struct run r;
	struct assign_dma_map maps[4];

	(void)state;
	run_init(&r, ASSIGN_IOMMU_TYPE1);
	assert_int_equal(st_iommu_new(&r), 0);
	assert_int_equal(st_device_open(&r), 0);
	for (int i = 0; i < 4; i++) {
		maps[i].vaddr = (uint8_t *)r.mem + i * 0x4000;
		maps[i].iova = DMA_IOVA + (uint64_t)i * 0x100000;
		maps[i].size = 0x4000;
		maps[i].flags = ASSIGN_DMA_F_RW;
	}
	for (unsigned long k = 1; k <= 4; k++) {
		mock_fail_nth(r.mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA,
			      k, -ENOMEM);
		assert_int_equal(assign_iommu_map_many(r.iommu, maps, 4), -ENOMEM);
		assert_int_equal(mock_dma_count(r.mk), 0);
		mock_fail_clear(r.mk);
	}
	assert_int_equal(assign_iommu_map_many(r.iommu, maps, 4), 0);
	assert_int_equal(mock_dma_count(r.mk), 4);
	teardown_objects(&r);
	check_clean(&r, "map_many", 0, 0);
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_many_rollback),
		cmocka_unit_test(test_sweep_type1),
		cmocka_unit_test(test_sweep_iommufd),
		cmocka_unit_test(test_sweep_noiommu),
		cmocka_unit_test(test_sweep_auto),
	};
	const char *v = getenv("FAULTS_VERBOSE");

	verbose = v && *v && *v != '0';
	return cmocka_run_group_tests(tests, NULL, NULL);
}
