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
 * through sysfs gets its VFIO group and cdev. Its instances migrate
 * (mtty-*, both backends): every arc of the state machine walked on the
 * real driver, the targets the library refuses, a state saved and
 * resumed on its own device; and bad streams (cut, damaged, into a device
 * not in RESUMING, refused by the driver) each refused with the device
 * left usable. examples/migrate moves a state between two instances.
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
#include <sys/mman.h>
#include <sys/stat.h>
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

/* ---- migrating mtty instances (own kernel, both backends) ------------ */

#define ST(x) ASSIGN_MIGRATION_STATE_##x

static const char *sname(enum assign_migration_state s)
{
	static const char *const n[] = { "ERROR",    "STOP",
					 "RUNNING",  "STOP_COPY",
					 "RESUMING", "RUNNING_P2P",
					 "PRE_COPY", "PRE_COPY_P2P" };

	return (unsigned)s < 8 ? n[s] : "?";
}

/* One mtty instance on its own IOMMU object, with its migration object. */
struct mt {
	char uuid[40];
	struct assign_iommu *iommu;
	struct assign_device *dev;
	struct assign_migration *mig;
};

static bool own_kernel(const char *T)
{
	const char *v = lab_env("LAB_KERNEL_VARIANT");

	if (v && !strcmp(v, "own"))
		return true;
	lab_result(T, LAB_FAIL,
		   "needs the own kernel (mtty is built in there)");
	return false;
}

static int mt_open(struct lab *L, const char *T, int ports, struct mt *m)
{
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = L->backend };
	int r;

	memset(m, 0, sizeof(*m));
	r = lab_mtty_create(ports, m->uuid);
	if (r < 0) {
		m->uuid[0] = '\0';
		lab_result(T, LAB_FAIL, "making an mtty-%d: %s", ports,
			   errstr(r));
		return r;
	}
	r = assign_iommu_new(L->ctx, &o, &m->iommu);
	if (r == 0)
		r = assign_device_open(m->iommu, m->uuid, NULL, &m->dev);
	if (r == 0)
		r = assign_migration_new(m->dev, NULL, &m->mig);
	if (r < 0)
		lab_result(T, LAB_FAIL, "mtty %s on %s: %s: %s", m->uuid,
			   L->bname, errstr(r), lasterr(L));
	return r;
}

static void mt_close(struct mt *m)
{
	assign_migration_unref(m->mig);
	assign_device_unref(m->dev);
	assign_iommu_unref(m->iommu);
	if (m->uuid[0])
		lab_mtty_remove(m->uuid);
	memset(m, 0, sizeof(*m));
}

static int mt_state(struct mt *m, enum assign_migration_state *s)
{
	*s = ST(ERROR);
	return assign_migration_get_state(m->mig, s);
}

/* Port 0: FIFO on and cleared, then @msg written to THR (it loops back
 * into the receive FIFO). */
static int mt_put(struct mt *m, const char *msg)
{
	uint8_t v = 0x07;
	int r = assign_region_write(m->dev, 0, MTTY_FCR, &v, 1);

	for (; r == 0 && *msg; msg++)
		r = assign_region_write(m->dev, 0, MTTY_RBR_THR, msg, 1);
	return r;
}

/* Port 0's receive FIFO, drained into @out (@size bytes, NUL ended). */
static int mt_get(struct mt *m, char *out, size_t size)
{
	size_t n = 0;
	uint8_t lsr;
	int r;

	while ((r = assign_region_read(m->dev, 0, MTTY_LSR, &lsr, 1)) == 0 &&
	       (lsr & MTTY_LSR_DR) && n + 1 < size)
		r = assign_region_read(m->dev, 0, MTTY_RBR_THR, &out[n++], 1);
	out[n] = '\0';
	return r;
}

/* The serial port still loops bytes back: the device works. */
static bool mt_works(struct mt *m)
{
	char got[8];

	return mt_put(m, "ok") == 0 && mt_get(m, got, sizeof(got)) == 0 &&
	       !strcmp(got, "ok");
}

static int memfd_with(const void *buf, size_t len)
{
	int fd = memfd_create("lab-mig", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if ((len && write(fd, buf, len) != (ssize_t)len) ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -EIO;
	}
	return fd;
}

/*
 * Save @m (RUNNING) into a buffer: PRE_COPY rounds while it has initial
 * data, then STOP_COPY to the end; the device is left in STOP. @dev_bytes
 * gets the device data the stream carries.
 */
static int mt_save(struct mt *m, uint8_t **buf, size_t *len, int *rounds,
		   uint64_t *dev_bytes, char *why, size_t wsize)
{
	struct assign_migration_precopy p = { .size = sizeof(p) };
	struct stat st;
	int fd, r;

	*buf = NULL;
	*rounds = 0;
	*dev_bytes = 0;
	fd = memfd_with(NULL, 0);
	if (fd < 0) {
		snprintf(why, wsize, "memfd: %s", errstr(fd));
		return fd;
	}
	r = assign_migration_set_state(m->mig, ST(PRE_COPY));
	while (r == 0 && *rounds < 8) {
		r = assign_migration_save(m->mig, fd, 0, dev_bytes);
		if (r == 0)
			r = assign_migration_get_precopy(m->mig, &p);
		++*rounds;
		if (r == 0 && !p.initial_bytes)
			break;
	}
	if (r == 0)
		r = assign_migration_set_state(m->mig, ST(STOP_COPY));
	while (r == 0)
		r = assign_migration_save(m->mig, fd, 0, dev_bytes);
	if (r == 1)
		r = assign_migration_set_state(m->mig, ST(STOP));
	if (r < 0) {
		snprintf(why, wsize, "saving: %s: %s", errstr(r),
			 assign_ctx_get_last_error(
				 assign_iommu_get_ctx(m->iommu)));
		close(fd);
		return r;
	}
	if (fstat(fd, &st) < 0 || !(*buf = malloc((size_t)st.st_size)) ||
	    pread(fd, *buf, (size_t)st.st_size, 0) != st.st_size) {
		snprintf(why, wsize, "reading the memfd back");
		free(*buf);
		*buf = NULL;
		close(fd);
		return -EIO;
	}
	*len = (size_t)st.st_size;
	close(fd);
	return 0;
}

/* Load @len bytes of @buf into @m (which must be in RESUMING): the
 * result of the last assign_migration_load(). */
static int mt_load(struct mt *m, const uint8_t *buf, size_t len, off_t *pos)
{
	int fd = memfd_with(buf, len), r;

	if (fd < 0)
		return fd;
	do
		r = assign_migration_load(m->mig, fd, NULL);
	while (r == 0);
	if (pos)
		*pos = lseek(fd, 0, SEEK_CUR);
	close(fd);
	return r;
}

struct arc_walk {
	enum assign_migration_state to;
	size_t arcs; /* the path's length from the state before */
};

/*
 * Every arc of the state machine on the real driver, one
 * assign_migration_set_state() per step, each checked with
 * assign_migration_get_state(); multi-arc targets against
 * assign_migration_get_path(); the targets the library refuses; a state
 * saved and resumed on the same device (STOP -> RESUMING -> STOP).
 */
static void t_mtty_arcs(struct lab *L)
{
	const char *T = "mtty-arcs";
	/* From RUNNING, through every arc of vfio.h at least once. */
	static const struct arc_walk walk[] = {
		{ ST(STOP), 2 }, /* RUNNING -> RUNNING_P2P -> STOP */
		{ ST(RUNNING), 2 },	 { ST(RUNNING_P2P), 1 },
		{ ST(STOP), 1 },	 { ST(RUNNING_P2P), 1 },
		{ ST(RUNNING), 1 },	 { ST(PRE_COPY), 1 },
		{ ST(PRE_COPY_P2P), 1 }, { ST(PRE_COPY), 1 },
		{ ST(RUNNING), 1 },	 { ST(RUNNING_P2P), 1 },
		{ ST(PRE_COPY_P2P), 1 }, { ST(RUNNING_P2P), 1 },
		{ ST(PRE_COPY_P2P), 1 }, { ST(STOP_COPY), 1 },
		{ ST(STOP), 1 },	 { ST(STOP_COPY), 1 },
		{ ST(RUNNING), 3 }, /* STOP_COPY -> STOP -> P2P -> RUNNING */
		{ ST(STOP_COPY), 3 },	 { ST(RESUMING), 2 },
	};
	enum assign_migration_state s, prev = ST(RUNNING), path[8];
	struct assign_migration_precopy p = { .size = sizeof(p) };
	struct mt m = { 0 };
	uint8_t *buf = NULL;
	uint64_t est = 0, moved = 0;
	size_t len = 0, n = 0, i;
	uint32_t flags;
	char why[256], refused[256], got[32];
	int r, rounds;

	if (!own_kernel(T) || mt_open(L, T, 2, &m) < 0)
		goto out;
	flags = assign_migration_get_flags(m.mig);
	if (flags != (ASSIGN_MIGRATION_F_STOP_COPY | ASSIGN_MIGRATION_F_P2P |
		      ASSIGN_MIGRATION_F_PRE_COPY)) {
		lab_result(T, LAB_FAIL,
			   "migration flags %#x: mtty offers STOP_COPY, P2P "
			   "and PRE_COPY",
			   flags);
		goto out;
	}
	if ((r = mt_state(&m, &s)) < 0 || s != ST(RUNNING)) {
		lab_result(T, LAB_FAIL, "a new mtty is in %s (%d), not RUNNING",
			   sname(s), r);
		goto out;
	}
	for (i = 0; i < sizeof(walk) / sizeof(walk[0]); i++) {
		r = assign_migration_get_path(m.mig, prev, walk[i].to, path, 8,
					      &n);
		if (r < 0 || n != walk[i].arcs || path[n - 1] != walk[i].to) {
			lab_result(T, LAB_FAIL,
				   "path %s -> %s: %d, %zu arcs (want %zu): %s",
				   sname(prev), sname(walk[i].to), r, n,
				   walk[i].arcs, lasterr(L));
			goto out;
		}
		r = assign_migration_set_state(m.mig, walk[i].to);
		if (r == 0)
			r = mt_state(&m, &s);
		if (r < 0 || s != walk[i].to) {
			lab_result(T, LAB_FAIL,
				   "%s -> %s: %s, device in %s: %s",
				   sname(prev), sname(walk[i].to), errstr(r),
				   sname(s), lasterr(L));
			goto out;
		}
		prev = walk[i].to;
	}
	/* RESUMING without data: mtty refuses to leave it (its state is
	 * incomplete), and the library resets the device. */
	r = assign_migration_set_state(m.mig, ST(STOP));
	snprintf(why, sizeof(why), "%s", lasterr(L));
	if (r >= 0 || mt_state(&m, &s) < 0 || s != ST(RUNNING) ||
	    !strstr(why, "RESUMING") || !strstr(why, "reset")) {
		lab_result(T, LAB_FAIL,
			   "RESUMING -> STOP with no data: %d, device in %s "
			   "(want refused, reset to RUNNING): %s",
			   r, sname(s), why);
		goto out;
	}
	/* Targets the library refuses, the device left where it was. */
	if ((r = assign_migration_set_state(m.mig, ST(ERROR))) != -EINVAL ||
	    mt_state(&m, &s) < 0 || s != ST(RUNNING)) {
		lab_result(T, LAB_FAIL, "target ERROR: %d (want -EINVAL): %s",
			   r, lasterr(L));
		goto out;
	}
	if ((r = assign_migration_set_state(m.mig, ST(STOP_COPY))) < 0 ||
	    (r = assign_migration_set_state(m.mig, ST(PRE_COPY))) != -EINVAL ||
	    mt_state(&m, &s) < 0 || s != ST(STOP_COPY)) {
		lab_result(T, LAB_FAIL,
			   "STOP_COPY -> PRE_COPY: %d, device in %s (want "
			   "-EINVAL, still STOP_COPY): %s",
			   r, sname(s), lasterr(L));
		goto out;
	}
	snprintf(refused, sizeof(refused), "%s", lasterr(L));
	if ((r = assign_migration_get_precopy(m.mig, &p)) != -EINVAL ||
	    (r = assign_migration_set_state(m.mig, ST(RUNNING))) < 0 ||
	    (r = assign_migration_save(m.mig, 1, 0, NULL)) != -EINVAL) {
		lab_result(T, LAB_FAIL,
			   "pre-copy info in STOP_COPY / save in RUNNING: %d "
			   "(want -EINVAL): %s",
			   r, lasterr(L));
		goto out;
	}
	/* STOP -> RESUMING -> STOP with a state: saved from this device, the
	 * FIFO drained, the state loaded back: the bytes are there again. */
	if ((r = assign_migration_get_data_size(m.mig, &est)) < 0 ||
	    (r = mt_put(&m, "arcs")) < 0 ||
	    (r = mt_save(&m, &buf, &len, &rounds, &moved, got, sizeof(got))) <
		    0) {
		lab_result(T, LAB_FAIL, "saving: %d %s: %s", r, got,
			   lasterr(L));
		goto out;
	}
	/* mtty's estimate is its whole state: the 24-byte header PRE_COPY
	 * gives, then the ports STOP_COPY adds. */
	if (!est || moved != est) {
		lab_result(T, LAB_FAIL,
			   "%" PRIu64 " bytes of device data moved, the "
			   "device estimated %" PRIu64,
			   moved, est);
		goto out;
	}
	if ((r = assign_migration_set_state(m.mig, ST(RUNNING))) < 0 ||
	    (r = mt_get(&m, got, sizeof(got))) < 0 || strcmp(got, "arcs") ||
	    (r = assign_migration_set_state(m.mig, ST(RESUMING))) < 0 ||
	    (r = mt_load(&m, buf, len, NULL)) != 1 ||
	    (r = assign_migration_set_state(m.mig, ST(STOP))) < 0 ||
	    (r = assign_migration_set_state(m.mig, ST(RUNNING))) < 0 ||
	    (r = mt_get(&m, got, sizeof(got))) < 0 || strcmp(got, "arcs")) {
		lab_result(T, LAB_FAIL,
			   "STOP -> RESUMING -> STOP with its own state: %d, "
			   "port holds \"%s\": %s",
			   r, got, lasterr(L));
		goto out;
	}
	if (!mt_works(&m)) {
		lab_result(T, LAB_FAIL, "the serial port no longer loops back");
		goto out;
	}
	lab_result(T, LAB_PASS,
		   "%s: every arc walked and read back; RESUMING without data "
		   "refused and reset (%s); ERROR and STOP_COPY -> PRE_COPY "
		   "refused (%s); own state saved (pre-copy rounds: %d, "
		   "%zu-byte stream, estimate %" PRIu64 ") and resumed",
		   L->bname, why, refused, rounds, len, est);
out:
	free(buf);
	mt_close(&m);
}

/* @len bytes of @buf with the byte at @at flipped (@at < 0: as is). */
static uint8_t *damaged(const uint8_t *buf, size_t len, long at)
{
	uint8_t *d = malloc(len);

	if (d) {
		memcpy(d, buf, len);
		if (at >= 0)
			d[at] ^= 0x5a;
	}
	return d;
}

/*
 * Bad streams into a real device: each refused with its errno and a
 * message naming the cause, the device in RESUMING when it got nothing
 * (and then still able to take a good stream), reset to RUNNING when it
 * had taken some (and its port still working); and a stream of a 2-port
 * instance that mtty's own check refuses in a 1-port one.
 */
static void t_mtty_bad_streams(struct lab *L)
{
	const char *T = "mtty-bad-streams";
	/* Stream offsets: the 108-byte header, then records of a 24-byte
	 * header, the payload and its 4-byte CRC. The first DATA record is
	 * PRE_COPY's 24 bytes of mtty header, 108..159. */
	static const struct {
		const char *what;
		long cut; /* the stream's length, < 0: all of it */
		long flip; /* a byte flipped, < 0: none */
		int err;
		const char *says;
		bool nothing; /* the device got no data */
	} bad[] = {
		{ "cut in its header", 60, -1, -ENODATA, "cut short", true },
		{ "cut after the first record", 160, -1, -ENODATA, "cut short",
		  false },
		{ "cut before its end record", -2, -1, -ENODATA, "cut short",
		  false },
		{ "a header byte flipped", -1, 20, -EBADMSG, "CRC", true },
		{ "a data byte flipped", -1, 140, -EBADMSG, "CRC", true },
		{ "the end record's CRC flipped", -1, -3, -EBADMSG, "", false },
	};
	enum assign_migration_state s = ASSIGN_MIGRATION_STATE_ERROR;
	struct mt a = { 0 }, b = { 0 }, one = { 0 };
	uint8_t *buf = NULL, *d = NULL;
	uint64_t moved;
	size_t len = 0;
	char why[512], got[32];
	off_t pos = -1;
	int r, rounds;

	if (!own_kernel(T) || mt_open(L, T, 2, &a) < 0 ||
	    mt_open(L, T, 2, &b) < 0 || mt_open(L, T, 1, &one) < 0)
		goto out;
	if ((r = mt_put(&a, "bad-streams")) < 0 ||
	    mt_save(&a, &buf, &len, &rounds, &moved, why, sizeof(why)) < 0) {
		lab_result(T, LAB_FAIL, "source: %d %s", r, why);
		goto out;
	}
	/* Into a device not in RESUMING: nothing read, nothing changed. */
	r = mt_load(&b, buf, len, &pos);
	if (r != -EINVAL || pos != 0 || !strstr(lasterr(L), "not RESUMING") ||
	    mt_state(&b, &s) < 0 || s != ST(RUNNING)) {
		lab_result(T, LAB_FAIL,
			   "a stream into a RUNNING device: %d, %lld bytes "
			   "read, device in %s (want -EINVAL, 0, RUNNING): %s",
			   r, (long long)pos, sname(s), lasterr(L));
		goto out;
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long cut = bad[i].cut, flip = bad[i].flip;
		/* -2: 40 bytes short, inside the end record; -3 for a flip:
		 * the stream's last byte, the end record's CRC. */
		size_t n = cut == -1 ? len : cut == -2 ? len - 40 : (size_t)cut;

		if (flip == -3)
			flip = (long)len - 1;
		d = damaged(buf, len, flip);
		if (!d ||
		    (r = assign_migration_set_state(b.mig, ST(RESUMING))) < 0) {
			lab_result(T, LAB_FAIL, "%s: RESUMING: %s", bad[i].what,
				   lasterr(L));
			goto out;
		}
		r = mt_load(&b, d, n, NULL);
		snprintf(why, sizeof(why), "%s", lasterr(L));
		free(d);
		d = NULL;
		if (r != bad[i].err || !strstr(why, bad[i].says) ||
		    mt_state(&b, &s) < 0 ||
		    s != (bad[i].nothing ? ST(RESUMING) : ST(RUNNING)) ||
		    !strstr(why, bad[i].nothing ? "received nothing" :
						  "was reset")) {
			lab_result(T, LAB_FAIL,
				   "%s: %d (want %d), device in %s: %s",
				   bad[i].what, r, bad[i].err, sname(s), why);
			goto out;
		}
		/* A device that got nothing takes a good stream next; a
		 * reset one runs on. */
		if (bad[i].nothing &&
		    ((r = mt_load(&b, buf, len, NULL)) != 1 ||
		     (r = assign_migration_set_state(b.mig, ST(RUNNING))) < 0 ||
		     (r = mt_get(&b, got, sizeof(got))) < 0 ||
		     strcmp(got, "bad-streams"))) {
			lab_result(T, LAB_FAIL,
				   "after \"%s\", a good stream: %d, port "
				   "holds \"%s\": %s",
				   bad[i].what, r, got, lasterr(L));
			goto out;
		}
		if (!mt_works(&b)) {
			lab_result(T, LAB_FAIL,
				   "after \"%s\" the port no longer works",
				   bad[i].what);
			goto out;
		}
		lab_result(T, LAB_PASS, "%s: %s", bad[i].what, why);
	}
	/* Same kind of device, other port count: mtty itself refuses the
	 * header, though it counts its bytes in; the library resets the
	 * device, after which it takes a stream of its own kind. */
	if ((r = assign_migration_set_state(one.mig, ST(RESUMING))) < 0 ||
	    (r = mt_load(&one, buf, len, NULL)) >= 0) {
		lab_result(T, LAB_FAIL,
			   "a 2-port state into a 1-port mtty: %d: %s", r,
			   lasterr(L));
		goto out;
	}
	snprintf(why, sizeof(why), "%s", lasterr(L));
	if (!strstr(why, "refused the data") || !strstr(why, "was reset") ||
	    mt_state(&one, &s) < 0 || s != ST(RUNNING)) {
		lab_result(T, LAB_FAIL,
			   "a 2-port state into a 1-port mtty: %d, device in "
			   "%s (want refused, reset to RUNNING): %s",
			   r, sname(s), why);
		goto out;
	}
	free(buf);
	buf = NULL;
	if ((r = mt_put(&one, "one")) < 0 ||
	    (r = mt_save(&one, &buf, &len, &rounds, &moved, got, sizeof(got))) <
		    0 ||
	    (r = assign_migration_set_state(one.mig, ST(RUNNING))) < 0 ||
	    (r = mt_get(&one, got, sizeof(got))) < 0 ||
	    (r = assign_migration_set_state(one.mig, ST(RESUMING))) < 0 ||
	    (r = mt_load(&one, buf, len, NULL)) != 1 ||
	    (r = assign_migration_set_state(one.mig, ST(RUNNING))) < 0 ||
	    (r = mt_get(&one, got, sizeof(got))) < 0 || strcmp(got, "one")) {
		lab_result(T, LAB_FAIL,
			   "the 1-port mtty after the refusal, its own state: "
			   "%d, port holds \"%s\": %s",
			   r, got, lasterr(L));
		goto out;
	}
	lab_result(T, LAB_PASS,
		   "%s: a stream into a RUNNING device refused unread; a "
		   "2-port state into a 1-port mtty: %s; then its own "
		   "state loaded",
		   L->bname, why);
out:
	free(d);
	free(buf);
	mt_close(&one);
	mt_close(&b);
	mt_close(&a);
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
	{ "mtty-arcs", t_mtty_arcs, 0 },
	{ "mtty-bad-streams", t_mtty_bad_streams, 0 },
};

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
		if (!lab_selected(argc, argv, i, tests[k].name))
			continue;
		tests[k].fn(&L);
		ran++;
	}
	if (!ran)
		lab_result("all", LAB_FAIL, "no test matched on %s", L.bname);
	assign_ctx_unref(L.ctx);
	return lab_failures() ? 1 : 0;
}
