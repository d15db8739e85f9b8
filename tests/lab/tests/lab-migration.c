/* SPDX-License-Identifier: MIT */
/*
 * lab-migration: dirty tracking and migration against the real kernel,
 * inside the lab guest (tests/lab/README.md). Public API only.
 *
 *   lab-migration --backend type1|iommufd [--list] [TEST...]
 *
 * type1: the dirty bitmap of a region QEMU's edu device writes by DMA
 * (VFIO_IOMMU_DIRTY_PAGES: every mapped page is reported, the written
 * one included, and the library says the precision is ALL_MAPPED), and
 * the bad requests the real kernel sees. iommufd (own kernel): the lab's
 * emulated Intel IOMMU has no dirty tracking, and the iommufd tracker
 * says so clearly and leaves the device working. Both: a device on
 * plain vfio-pci (the edu) has neither migration nor DMA logging, and
 * the library says so.
 *
 * Own kernel: the kernel's mtty sample is there, and an instance made
 * through sysfs gets its VFIO group and cdev (opening it through the
 * library is issue 14's: then the migration tests run on it).
 *
 * Each test prints one LAB-RESULT line; a test of the other backend is
 * not run. The edu comes from LAB_EDU.
 */
#include "labtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096u
#define XFER 2048u
#define IOVA UINT64_C(0x400000) /* below the edu's 28-bit DMA limit */
#define PAGES 16u

struct lab {
	struct assign_ctx *ctx;
	enum assign_iommu_backend backend;
	const char *bname;
	struct assign_iommu *iommu;
	struct assign_device *edu;
	uint8_t *buf;
};

static const char *errstr(int r)
{
	return strerror(r < 0 ? -r : r);
}

static const char *lasterr(struct lab *L)
{
	const char *m = assign_ctx_get_last_error(L->ctx);

	return m && *m ? m : "(no message)";
}

/* The edu on its own IOMMU object, PAGES pages mapped at IOVA. */
static int edu_open(struct lab *L, const char *T)
{
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = L->backend };
	const char *a = lab_env("LAB_EDU");
	int r;

	if (!a) {
		lab_result(T, LAB_FAIL, "LAB_EDU not set: not in the lab?");
		return -ENODEV;
	}
	L->buf = lab_alloc(PAGES * PAGE);
	if (!L->buf) {
		lab_result(T, LAB_FAIL, "out of memory");
		return -ENOMEM;
	}
	r = assign_iommu_new(L->ctx, &o, &L->iommu);
	if (r == 0)
		r = assign_device_open(L->iommu, a, NULL, &L->edu);
	if (r == 0)
		r = lab_enable_bus_master(L->edu);
	if (r == 0)
		r = assign_iommu_map(L->iommu, IOVA, L->buf, PAGES * PAGE,
				     ASSIGN_DMA_F_RW);
	if (r < 0)
		lab_result(T, LAB_FAIL, "edu %s on %s: %s: %s", a, L->bname,
			   errstr(r), lasterr(L));
	return r;
}

static void edu_close(struct lab *L)
{
	if (L->iommu)
		assign_iommu_unmap_all(L->iommu);
	assign_device_unref(L->edu);
	assign_iommu_unref(L->iommu);
	lab_free(L->buf, PAGES * PAGE);
	L->edu = NULL;
	L->iommu = NULL;
	L->buf = NULL;
}

static int edu_dma(struct lab *L, uint64_t src, uint64_t dst, uint32_t cnt,
		   bool to_ram)
{
	uint64_t t0 = lab_now_ms();
	uint32_t cmd = EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0), v;
	int r;

	if ((r = lab_wr32(L->edu, 0, EDU_DMA_SRC, (uint32_t)src)) < 0 ||
	    (r = lab_wr32(L->edu, 0, EDU_DMA_DST, (uint32_t)dst)) < 0 ||
	    (r = lab_wr32(L->edu, 0, EDU_DMA_CNT, cnt)) < 0 ||
	    (r = lab_wr32(L->edu, 0, EDU_DMA_CMD, cmd)) < 0)
		return r;
	do {
		if ((r = lab_rd32(L->edu, 0, EDU_DMA_CMD, &v)) < 0)
			return r;
		if (lab_now_ms() - t0 > 30000)
			return -ETIMEDOUT;
		if (v & EDU_DMA_START)
			lab_sleep_ms(5);
	} while (v & EDU_DMA_START);
	return 0;
}

/* The edu copies page 0 of the buffer into page @to by DMA (through its
 * own buffer); 0 when the bytes arrived. */
static int edu_write_page(struct lab *L, unsigned to, uint8_t seed, char *why,
			  size_t size)
{
	uint8_t *src = L->buf, *dst = L->buf + (size_t)to * PAGE;
	int r;

	for (unsigned i = 0; i < XFER; i++)
		src[i] = (uint8_t)(i * 13 + seed);
	memset(dst, 0, XFER);
	r = edu_dma(L, IOVA, EDU_BUF, XFER, false);
	if (r == 0)
		r = edu_dma(L, EDU_BUF, IOVA + (uint64_t)to * PAGE, XFER, true);
	if (r < 0) {
		snprintf(why, size, "edu DMA: %s", errstr(r));
		return r;
	}
	if (memcmp(src, dst, XFER)) {
		snprintf(why, size, "the edu's DMA did not land in page %u",
			 to);
		return -EIO;
	}
	return 0;
}

static bool all_set(const uint64_t *bm, unsigned pages)
{
	for (unsigned i = 0; i < pages; i++)
		if (!(bm[i / 64] & (1ull << (i % 64))))
			return false;
	return true;
}

/* ---- type1 ----------------------------------------------------------- */

static void t_dirty_type1_edu(struct lab *L)
{
	const char *T = "dirty-type1-edu";
	struct assign_dirty_info info = { .size = sizeof(info) };
	struct assign_dirty *d = NULL;
	uint64_t bm[1];
	char why[128];
	int r;

	if (edu_open(L, T) < 0)
		goto out;
	r = assign_dirty_new(L->iommu, NULL, &d);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "assign_dirty_new: %s: %s", errstr(r),
			   lasterr(L));
		goto out;
	}
	if ((r = assign_dirty_get_info(d, &info)) < 0 ||
	    info.tracker != ASSIGN_DIRTY_TRACKER_TYPE1 ||
	    info.precision != ASSIGN_DIRTY_PRECISION_ALL_MAPPED ||
	    info.page_size != PAGE) {
		lab_result(T, LAB_FAIL,
			   "info: r=%d tracker %d precision %d page %" PRIu64
			   " (want type1, ALL_MAPPED, 4096)",
			   r, info.tracker, info.precision, info.page_size);
		goto out;
	}
	/* The start's snapshot, then the edu writes page 5 by DMA. */
	if ((r = assign_dirty_get_bitmap(d, IOVA, PAGES * PAGE, bm,
					 sizeof(bm))) < 0) {
		lab_result(T, LAB_FAIL, "first fetch: %s: %s", errstr(r),
			   lasterr(L));
		goto out;
	}
	if (edu_write_page(L, 5, 1, why, sizeof(why)) < 0) {
		lab_result(T, LAB_FAIL, "%s", why);
		goto out;
	}
	if ((r = assign_dirty_get_bitmap(d, IOVA, PAGES * PAGE, bm,
					 sizeof(bm))) < 0) {
		lab_result(T, LAB_FAIL, "fetch after DMA: %s: %s", errstr(r),
			   lasterr(L));
		goto out;
	}
	/* The written page is reported, and so is every other mapped page:
	 * the kernel cannot see the edu's writes (ALL_MAPPED, as the
	 * library said). */
	if (!(bm[0] & (1ull << 5)) || !all_set(bm, PAGES) || (bm[0] >> PAGES)) {
		lab_result(T, LAB_FAIL,
			   "bitmap 0x%016" PRIx64 ": want the 16 "
			   "mapped pages, page 5 (DMA-written) among them",
			   bm[0]);
		goto out;
	}
	/* Requests the kernel and the library refuse. */
	if ((r = assign_dirty_get_bitmap(d, IOVA + PAGE, PAGE, bm,
					 sizeof(bm))) != -EINVAL ||
	    !strstr(lasterr(L), "whole mappings")) {
		lab_result(T, LAB_FAIL, "a range cutting the mapping: %d (%s)",
			   r, lasterr(L));
		goto out;
	}
	if ((r = assign_dirty_get_bitmap(d, IOVA + PAGES * PAGE, PAGE, bm,
					 sizeof(bm))) != -ENOENT ||
	    !strstr(lasterr(L), "is not mapped")) {
		lab_result(T, LAB_FAIL, "an unmapped range: %d (%s)", r,
			   lasterr(L));
		goto out;
	}
	if ((r = assign_dirty_get_bitmap(d, IOVA + 512, PAGES * PAGE, bm,
					 sizeof(bm))) != -EINVAL) {
		lab_result(T, LAB_FAIL, "a misaligned range: %d (%s)", r,
			   lasterr(L));
		goto out;
	}
	if ((r = assign_dirty_stop(d)) < 0) {
		lab_result(T, LAB_FAIL, "stop: %s: %s", errstr(r), lasterr(L));
		goto out;
	}
	/* A second tracker starts after the first stopped, and DMA still
	 * works. */
	assign_dirty_unref(d);
	d = NULL;
	if ((r = assign_dirty_new(L->iommu, NULL, &d)) < 0 ||
	    (r = assign_dirty_get_bitmap(d, IOVA, PAGES * PAGE, bm,
					 sizeof(bm))) < 0 ||
	    edu_write_page(L, 9, 2, why, sizeof(why)) < 0) {
		lab_result(T, LAB_FAIL, "restart: %d %s %s", r, lasterr(L),
			   why);
		goto out;
	}
	lab_result(T, LAB_PASS,
		   "edu DMA into page 5 of 16 at IOVA 0x%" PRIx64
		   ": bitmap 0x%04" PRIx64 ", ALL_MAPPED as reported; "
		   "unmapped/cut/misaligned requests refused",
		   IOVA, bm[0]);
out:
	assign_dirty_unref(d);
	edu_close(L);
}

/* ---- iommufd ---------------------------------------------------------- */

static void t_dirty_iommufd_unsupported(struct lab *L)
{
	const char *T = "dirty-iommufd-unsupported";
	struct assign_dirty_opts o = {
		.size = sizeof(o), .tracker = ASSIGN_DIRTY_TRACKER_IOMMUFD
	};
	struct assign_dirty *d = NULL;
	struct assign_device *devs[1];
	char why[128], msg[512];
	int r;

	if (edu_open(L, T) < 0)
		goto out;
	devs[0] = L->edu;
	o.devices = devs;
	o.ndevices = 1;
	r = assign_dirty_new(L->iommu, &o, &d);
	snprintf(msg, sizeof(msg), "%s", lasterr(L));
	if (r != -EOPNOTSUPP || !strstr(msg, "IOMMU_HW_CAP_DIRTY_TRACKING") ||
	    !strstr(msg, lab_env("LAB_EDU"))) {
		lab_result(T, LAB_FAIL,
			   "the IOMMUFD tracker on the emulated Intel IOMMU: "
			   "%d (want -EOPNOTSUPP naming the cause): %s",
			   r, msg);
		goto out;
	}
	/* AUTO has nothing else: the edu does no DMA logging either. */
	o.tracker = ASSIGN_DIRTY_TRACKER_AUTO;
	r = assign_dirty_new(L->iommu, &o, &d);
	if (r != -EOPNOTSUPP || !strstr(lasterr(L), "no dirty tracker") ||
	    !strstr(lasterr(L), "has no DMA logging")) {
		lab_result(T, LAB_FAIL, "AUTO: %d: %s", r, lasterr(L));
		goto out;
	}
	/* Nothing was left behind: the device still DMAs through the IOAS. */
	if (edu_write_page(L, 3, 7, why, sizeof(why)) < 0) {
		lab_result(T, LAB_FAIL, "after the refusal: %s", why);
		goto out;
	}
	lab_result(T, LAB_PASS, "%s", msg);
out:
	assign_dirty_unref(d);
	edu_close(L);
}

/* ---- both ------------------------------------------------------------- */

static void t_edu_no_migration(struct lab *L)
{
	const char *T = "edu-no-migration";
	struct assign_dirty_opts o = { .size = sizeof(o),
				       .tracker = ASSIGN_DIRTY_TRACKER_DEVICE };
	struct assign_migration *m = NULL;
	struct assign_dirty *d = NULL;
	struct assign_device *devs[1];
	char msg[512];
	int r;

	if (edu_open(L, T) < 0)
		goto out;
	r = assign_migration_new(L->edu, NULL, &m);
	snprintf(msg, sizeof(msg), "%s", lasterr(L));
	if (r != -EOPNOTSUPP || !strstr(msg, "cannot be migrated") ||
	    !strstr(msg, "vfio-pci")) {
		lab_result(T, LAB_FAIL, "assign_migration_new(edu): %d: %s", r,
			   msg);
		goto out;
	}
	devs[0] = L->edu;
	o.devices = devs;
	o.ndevices = 1;
	r = assign_dirty_new(L->iommu, &o, &d);
	if (r != -EOPNOTSUPP || !strstr(lasterr(L), "has no DMA logging")) {
		lab_result(T, LAB_FAIL, "the DEVICE tracker on the edu: %d: %s",
			   r, lasterr(L));
		goto out;
	}
	lab_result(T, LAB_PASS, "%s", msg);
out:
	assign_migration_unref(m);
	assign_dirty_unref(d);
	edu_close(L);
}

/* ---- the mtty sample (own kernel) ------------------------------------- */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static void t_mtty_sample(struct lab *L)
{
	const char *T = "mtty-sample";
	const char *types = "/sys/class/mdev_bus/mtty/mdev_supported_types";
	const char *uuid = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001";
	char path[PATH_MAX], link[PATH_MAX], cdev[64] = "", grp[32];
	const char *variant;
	struct dirent *de;
	DIR *dir;
	ssize_t n;
	int r;

	(void)L;
	variant = lab_env("LAB_KERNEL_VARIANT");
	if (!variant || strcmp(variant, "own")) {
		lab_result(T, LAB_FAIL,
			   "needs the own kernel (mtty is built "
			   "in there)");
		return;
	}
	snprintf(path, sizeof(path), "%s/mtty-2/create", types);
	r = write_file(path, uuid);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "creating a 2-port mtty at %s: %s",
			   path, errstr(r));
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/iommu_group",
		 uuid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		lab_result(T, LAB_FAIL, "%s: %s", path, strerror(errno));
		goto out;
	}
	link[n] = '\0';
	snprintf(grp, sizeof(grp), "%.31s",
		 strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	snprintf(path, sizeof(path), "/dev/vfio/%s", grp);
	if (access(path, F_OK) < 0) {
		lab_result(T, LAB_FAIL, "no %s for the mtty's group", path);
		goto out;
	}
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/vfio-dev", uuid);
	dir = opendir(path);
	while (dir && (de = readdir(dir)))
		if (!strncmp(de->d_name, "vfio", 4))
			snprintf(cdev, sizeof(cdev), "%.63s", de->d_name);
	if (dir)
		closedir(dir);
	if (!cdev[0]) {
		lab_result(T, LAB_FAIL, "no vfio cdev under %s", path);
		goto out;
	}
	lab_result(T, LAB_PASS,
		   "mtty %s: group /dev/vfio/%s, cdev "
		   "/dev/vfio/devices/%s",
		   uuid, grp, cdev);
out:
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/remove", uuid);
	write_file(path, "1");
}

struct test {
	const char *name;
	void (*fn)(struct lab *L);
	int backend; /* 0: both */
};

static const struct test tests[] = {
	{ "dirty-type1-edu", t_dirty_type1_edu, ASSIGN_IOMMU_TYPE1 },
	{ "dirty-iommufd-unsupported", t_dirty_iommufd_unsupported,
	  ASSIGN_IOMMU_IOMMUFD },
	{ "edu-no-migration", t_edu_no_migration, 0 },
	{ "mtty-sample", t_mtty_sample, ASSIGN_IOMMU_IOMMUFD },
};

static bool selected(int argc, char **argv, int first, const char *name)
{
	if (first >= argc)
		return true;
	for (int i = first; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct lab L = { .backend = ASSIGN_IOMMU_TYPE1, .bname = "type1" };
	int i, r, ran = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
			L.bname = argv[++i];
			if (!strcmp(L.bname, "type1"))
				L.backend = ASSIGN_IOMMU_TYPE1;
			else if (!strcmp(L.bname, "iommufd"))
				L.backend = ASSIGN_IOMMU_IOMMUFD;
			else {
				fprintf(stderr,
					"lab-migration: unknown "
					"backend %s\n",
					L.bname);
				return 2;
			}
		} else if (!strcmp(argv[i], "--list")) {
			for (size_t k = 0; k < sizeof(tests) / sizeof(tests[0]);
			     k++)
				puts(tests[k].name);
			return 0;
		} else {
			fprintf(stderr, "usage: lab-migration [--backend "
					"type1|iommufd] [--list] "
					"[TEST-SUBSTRING...]\n");
			return 2;
		}
	}
	lab_set_prefix(L.bname);
	r = assign_ctx_new(&L.ctx);
	if (r < 0) {
		lab_result("context", LAB_FAIL, "assign_ctx_new: %s",
			   errstr(r));
		return 1;
	}
	if (L.backend == ASSIGN_IOMMU_IOMMUFD &&
	    (!lab_env("LAB_IOMMUFD") || strcmp(lab_env("LAB_IOMMUFD"), "1"))) {
		/* Asked for iommufd on a kernel without it: a wrong setup. */
		lab_result("all", LAB_FAIL,
			   "kernel without IOMMUFD: run with --kernel own");
		assign_ctx_unref(L.ctx);
		return 1;
	}
	for (size_t k = 0; k < sizeof(tests) / sizeof(tests[0]); k++) {
		if (tests[k].backend && tests[k].backend != (int)L.backend)
			continue;
		if (!selected(argc, argv, i, tests[k].name))
			continue;
		tests[k].fn(&L);
		ran++;
	}
	if (!ran)
		lab_result("all", LAB_FAIL, "no test matched on %s", L.bname);
	assign_ctx_unref(L.ctx);
	return lab_failures() ? 1 : 0;
}
