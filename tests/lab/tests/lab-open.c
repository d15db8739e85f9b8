/* SPDX-License-Identifier: MIT */
/*
 * lab-open: the ways to get a device (docs/device.md), against the real
 * kernel in the lab guest. Public API only.
 *
 *   lab-open [--backend type1|iommufd] [--list] [TEST...]
 *
 * mdev: the kernel's mtty sample (own kernel): instances made and removed
 * through sysfs, opened by UUID and by path, its 16550 driven through its
 * I/O BAR region (a byte written to the transmit register comes back in
 * the receive buffer), its INTx delivered to an eventfd, and names that
 * lead nowhere refused. Adopt: the container, a group, an iommufd, a cdev
 * opened here as a helper would and handed to the library; fds of the
 * wrong kind or device refused. Handoff: the same over a real socket
 * pair. VF token: QEMU's nvme as an SR-IOV PF on vfio-pci (run-lab.sh
 * with its --qemu-arg, see tests/lab/tests/meson.build): a VF opens only
 * with the PF's token on the group path; on Linux 6.12's cdev path the
 * kernel asks none, and the library says so.
 */
#include "labtest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

struct lab {
	struct assign_ctx *ctx;
	enum assign_iommu_backend backend;
	const char *bname;
	char warned[512];
};

__attribute__((format(printf, 6, 0))) static void
capture(struct assign_ctx *ctx, int priority, const char *file, int line,
	const char *fn, const char *format, va_list args)
{
	struct lab *L = assign_ctx_get_log_data(ctx);

	(void)file;
	(void)line;
	(void)fn;
	if (priority <= LOG_WARNING)
		vsnprintf(L->warned, sizeof(L->warned), format, args);
}

static const char *lasterr(struct lab *L)
{
	const char *m = assign_ctx_get_last_error(L->ctx);

	return m && *m ? m : "(no message)";
}

static int new_iommu(struct lab *L, struct assign_iommu **ret)
{
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = L->backend };

	return assign_iommu_new(L->ctx, &o, ret);
}

/* ---- mdev --------------------------------------------------------------- */

/* An mtty instance of @ports ports; SKIP (and "") when the kernel has no
 * mtty. */
static bool mtty(const char *test, int ports, char *uuid)
{
	int r = lab_mtty_create(ports, uuid);

	if (r == -ENOENT) {
		lab_result(test, LAB_SKIP,
			   "no mtty (/sys/class/mdev_bus/mtty): the own "
			   "kernel builds it (SAMPLE_VFIO_MDEV_MTTY)");
		return false;
	}
	if (r < 0) {
		lab_result(test, LAB_FAIL, "cannot make an mtty-%d: %s", ports,
			   strerror(-r));
		return false;
	}
	return true;
}

static void t_mdev_open(struct lab *L)
{
	const char *T = "mdev-open";
	struct assign_device_info info = { .size = sizeof(info) };
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	char uuid[40], names[3][160], up[40];
	uint32_t id = 0;
	int r, ok = 0;

	if (!mtty(T, 2, uuid))
		return;
	for (size_t i = 0; i < 36; i++)
		up[i] = (char)(uuid[i] >= 'a' && uuid[i] <= 'f' ?
				       uuid[i] - 'a' + 'A' :
				       uuid[i]);
	up[36] = '\0';
	snprintf(names[0], sizeof(names[0]), "%s", up);
	snprintf(names[1], sizeof(names[1]), "/sys/bus/mdev/devices/%s", uuid);
	snprintf(names[2], sizeof(names[2]),
		 "/sys/devices/virtual/mtty/mtty/%s", uuid);
	r = new_iommu(L, &iommu);
	for (int i = 0; r == 0 && i < 3; i++) {
		r = assign_device_open(iommu, names[i], NULL, &dev);
		if (r < 0)
			break;
		r = assign_device_get_info(dev, &info);
		if (r == 0)
			r = assign_device_config_read(dev, 0, &id, 4);
		if (r == 0 && (info.bus != ASSIGN_DEVICE_BUS_MDEV ||
			       !(info.flags & ASSIGN_DEVICE_F_PCI) ||
			       assign_device_get_address(dev) ||
			       strcmp(assign_device_get_name(dev), uuid) ||
			       id != 0x32534348u))
			r = -EPROTO;
		if (r == 0)
			ok++;
		dev = assign_device_unref(dev);
	}
	if (r == 0 && assign_iommu_get_backend(iommu) != L->backend)
		r = -EPROTO;
	if (r == 0)
		lab_result(T, LAB_PASS,
			   "%s opened %d ways (UUID upper case, bus path, "
			   "device path) on %s: bus mdev, VFIO PCI API, config "
			   "4348:3253",
			   uuid, ok, L->bname);
	else
		lab_result(T, LAB_FAIL, "%s, way %d: %s (%s)", uuid, ok,
			   strerror(-r), lasterr(L));
	assign_iommu_unref(iommu);
	lab_mtty_remove(uuid);
}

/* mtty is a loopback: a byte written to the transmit register of a port
 * lands in its receive FIFO. */
static void t_mdev_serial(struct lab *L)
{
	const char *T = "mdev-serial";
	static const char msg[] = "libassign";
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	char uuid[40], got[2][sizeof(msg)];
	uint8_t lsr = 0, v;
	int r;

	if (!mtty(T, 2, uuid))
		return;
	memset(got, 0, sizeof(got));
	r = new_iommu(L, &iommu);
	if (r == 0)
		r = assign_device_open(iommu, uuid, NULL, &dev);
	for (uint32_t bar = 0; r == 0 && bar < 2; bar++) {
		v = 0x07; /* FIFO on, both cleared */
		r = assign_region_write(dev, bar, MTTY_FCR, &v, 1);
		for (size_t i = 0; r == 0 && i < strlen(msg); i++)
			r = assign_region_write(dev, bar, MTTY_RBR_THR, &msg[i],
						1);
		if (r == 0)
			r = assign_region_read(dev, bar, MTTY_LSR, &lsr, 1);
		if (r == 0 && !(lsr & MTTY_LSR_DR))
			r = -ENODATA;
		for (size_t i = 0; r == 0 && i < strlen(msg); i++)
			r = assign_region_read(dev, bar, MTTY_RBR_THR,
					       &got[bar][i], 1);
		if (r == 0 && strcmp(got[bar], msg))
			r = -EPROTO;
	}
	if (r == 0)
		lab_result(T, LAB_PASS,
			   "\"%s\" written to both ports' THR came back from "
			   "RBR (I/O BAR0 and BAR1 regions, %s)",
			   got[1], L->bname);
	else
		lab_result(T, LAB_FAIL, "%s (%s), got \"%s\"/\"%s\"",
			   strerror(-r), lasterr(L), got[0], got[1]);
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	lab_mtty_remove(uuid);
}

static void t_mdev_intx(struct lab *L)
{
	const char *T = "mdev-intx";
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	struct assign_irq_info ii = { .size = sizeof(ii) };
	char uuid[40];
	int64_t n1 = -1, n2 = -1, n3 = -1;
	uint8_t v;
	int efd, r;

	if (!mtty(T, 1, uuid))
		return;
	efd = lab_eventfd();
	r = efd < 0 ? efd : new_iommu(L, &iommu);
	if (r == 0)
		r = assign_device_open(iommu, uuid, NULL, &dev);
	if (r == 0)
		r = assign_device_get_irq_info(dev, ASSIGN_IRQ_INTX, &ii);
	if (r == 0)
		r = assign_irq_set_eventfds(dev, ASSIGN_IRQ_INTX, 0, 1, &efd);
	v = 0x07;
	if (r == 0)
		r = assign_region_write(dev, 0, MTTY_FCR, &v, 1);
	v = MTTY_IER_RDI;
	if (r == 0)
		r = assign_region_write(dev, 0, MTTY_IER, &v, 1);
	/* A byte in: RDI at the FIFO's trigger level (1). */
	v = 'x';
	if (r == 0)
		r = assign_region_write(dev, 0, MTTY_RBR_THR, &v, 1);
	if (r == 0)
		n1 = lab_eventfd_wait(efd, 2000);
	if (r == 0)
		r = assign_region_read(dev, 0, MTTY_RBR_THR, &v, 1);
	/* Masked by the kernel when it fired (AUTOMASKED): nothing until
	 * unmasked. */
	if (r == 0)
		r = assign_region_write(dev, 0, MTTY_RBR_THR, &v, 1);
	if (r == 0)
		n2 = lab_eventfd_wait(efd, 300);
	if (r == 0)
		r = assign_region_read(dev, 0, MTTY_RBR_THR, &v, 1);
	if (r == 0)
		r = assign_irq_unmask(dev, ASSIGN_IRQ_INTX, 0, 1);
	if (r == 0)
		r = assign_region_write(dev, 0, MTTY_RBR_THR, &v, 1);
	if (r == 0)
		n3 = lab_eventfd_wait(efd, 2000);
	if (r == 0 && n1 > 0 && n2 <= 0 && n3 > 0 &&
	    (ii.flags & ASSIGN_IRQ_F_AUTOMASKED))
		lab_result(T, LAB_PASS,
			   "RDI on INTx reached the eventfd, stayed masked "
			   "until assign_irq_unmask(), then came again (%s)",
			   L->bname);
	else
		lab_result(T, LAB_FAIL,
			   "r=%s (%s) irq flags %#x, eventfd %lld/%lld/%lld",
			   strerror(-r), lasterr(L), ii.flags, (long long)n1,
			   (long long)n2, (long long)n3);
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	if (efd >= 0)
		close(efd);
	lab_mtty_remove(uuid);
}

/* Names that lead nowhere a device VFIO opens, and an mdev removed. */
static void t_mdev_bad_names(struct lab *L)
{
	const char *T = "mdev-bad-names";
	static const struct {
		const char *name;
		int err;
		const char *words;
	} cases[] = {
		{ "83b8f4f2-509f-382f-3c1e-e6bfe0fa1099", -ENODEV, "no mdev" },
		{ "/sys/class/mdev_bus/mtty", -ENODEV, "an mdev parent" },
		{ "/tmp", -EINVAL, "outside /sys" },
		{ "/sys/bus/mdev/../pci", -EINVAL, "\"..\"" },
		{ "/sys/kernel/iommu_groups", -ENODEV, "outside /sys/devices" },
		{ "/sys/class/net/lo", -ENODEV, "class net" },
	};
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	char uuid[40], detail[200] = "";
	int r, bad = 0;

	if (!mtty(T, 1, uuid))
		return;
	r = new_iommu(L, &iommu);
	for (size_t i = 0; r == 0 && i < sizeof(cases) / sizeof(cases[0]);
	     i++) {
		int e = assign_device_open(iommu, cases[i].name, NULL, &dev);

		if (e != cases[i].err || !strstr(lasterr(L), cases[i].words)) {
			bad++;
			snprintf(detail, sizeof(detail), "%s: %d \"%s\"",
				 cases[i].name, e, lasterr(L));
			assign_device_unref(dev);
			dev = NULL;
		}
	}
	/* Gone is gone. */
	if (r == 0 && lab_mtty_remove(uuid) == 0 &&
	    assign_device_open(iommu, uuid, NULL, &dev) != -ENODEV) {
		bad++;
		snprintf(detail, sizeof(detail), "removed %s still opens: %s",
			 uuid, lasterr(L));
	}
	if (r == 0 && !bad)
		lab_result(T, LAB_PASS,
			   "a missing UUID, an mdev parent, paths outside /sys "
			   "or /sys/devices and a class device are refused, "
			   "each naming what it is; a removed mdev is gone");
	else
		lab_result(T, LAB_FAIL, "%d wrong: %s%s", bad, detail,
			   r ? strerror(-r) : "");
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
}

/* ---- adopting fds --------------------------------------------------------- */

static int must_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static void t_adopt(struct lab *L)
{
	const char *T = "adopt";
	const char *edu = lab_env("LAB_EDU"),
		   *gdev = lab_env("LAB_EDU_GROUP_DEV");
	const char *cdev = lab_env("LAB_EDU_CDEV");
	struct assign_iommu *iommu = NULL;
	struct assign_group *g = NULL;
	struct assign_device *dev = NULL;
	uint32_t id = 0;
	int fd = -1, gfd = -1, cfd = -1, r;

	if (!edu || (L->backend == ASSIGN_IOMMU_TYPE1 ? !gdev : !cdev)) {
		lab_result(T, LAB_FAIL, "no LAB_EDU with its %s",
			   L->backend == ASSIGN_IOMMU_TYPE1 ? "group node" :
							      "cdev");
		return;
	}
	if (L->backend == ASSIGN_IOMMU_TYPE1) {
		fd = must_open("/dev/vfio/vfio");
		gfd = must_open(gdev);
		r = fd < 0 ? fd : gfd < 0 ? gfd : 0;
		if (r == 0)
			r = assign_iommu_new_from_fd(L->ctx, fd, NULL, &iommu);
		if (r == 0)
			fd = -1;
		if (r == 0)
			r = assign_group_new_from_fd(iommu, gfd, &g);
		if (r == 0)
			gfd = -1;
		if (r == 0)
			r = assign_device_open(iommu, edu, NULL, &dev);
	} else {
		fd = must_open("/dev/iommu");
		cfd = must_open(cdev);
		r = fd < 0 ? fd : cfd < 0 ? cfd : 0;
		if (r == 0)
			r = assign_iommu_new_from_fd(L->ctx, fd, NULL, &iommu);
		if (r == 0)
			fd = -1;
		if (r == 0)
			r = assign_device_open_fd(iommu, cfd, edu, NULL, &dev);
		if (r == 0)
			cfd = -1;
	}
	/* The edu's identification register through the adopted fds. */
	if (r == 0)
		r = lab_rd32(dev, 0, 0x0, &id);
	if (r == 0 && (id & 0xff) == 0xed) /* edu: 0x010000ed */
		lab_result(T, LAB_PASS,
			   "%s opened from %s fds handed in (%s), id %#x", edu,
			   L->backend == ASSIGN_IOMMU_TYPE1 ?
				   "container and group" :
				   "iommufd and cdev",
			   L->bname, id);
	else
		lab_result(T, LAB_FAIL, "%s (%s), id %#x", strerror(-r),
			   lasterr(L), id);
	assign_device_unref(dev);
	assign_group_unref(g);
	assign_iommu_unref(iommu);
	if (fd >= 0)
		close(fd);
	if (gfd >= 0)
		close(gfd);
	if (cfd >= 0)
		close(cfd);
}

/* Each refused with what it is, and still the caller's afterwards. */
static void t_adopt_refused(struct lab *L)
{
	const char *T = "adopt-refused";
	const char *edu = lab_env("LAB_EDU"), *e0 = lab_env("LAB_E1000E_0");
	const char *gdev = lab_env("LAB_EDU_GROUP_DEV");
	const char *cdev = lab_env("LAB_E1000E_0_CDEV");
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	struct assign_group *g = NULL;
	char detail[240] = "";
	int fds[2] = { -1, -1 }, fd, bad = 0, cases = 0;

#define EXPECT(call, err, words)                                          \
	do {                                                              \
		int e_ = (call);                                          \
		cases++;                                                  \
		if (e_ != (err) || !strstr(lasterr(L), (words))) {        \
			bad++;                                            \
			snprintf(detail, sizeof(detail), "%s: %d \"%s\"", \
				 #call, e_, lasterr(L));                  \
		}                                                         \
	} while (0)
	if (pipe2(fds, O_CLOEXEC) == 0) {
		EXPECT(assign_iommu_new_from_fd(L->ctx, fds[0], NULL, &iommu),
		       -EINVAL, "is a pipe");
		close(fds[0]);
		EXPECT(assign_iommu_new_from_fd(L->ctx, fds[0], NULL, &iommu),
		       -EBADF, "not open");
		close(fds[1]);
	}
	fd = gdev ? must_open(gdev) : -1;
	if (fd >= 0) {
		EXPECT(assign_iommu_new_from_fd(L->ctx, fd, NULL, &iommu),
		       -EINVAL, "not a VFIO container");
		close(fd);
	}
	if (L->backend == ASSIGN_IOMMU_IOMMUFD && cdev && edu && e0) {
		fd = must_open("/dev/iommu");
		if (fd >= 0 &&
		    assign_iommu_new_from_fd(L->ctx, fd, NULL, &iommu) == 0) {
			int c = must_open(cdev);

			EXPECT(assign_device_open_fd(iommu, c, edu, NULL, &dev),
			       -EINVAL, "belongs to another device");
			/* still ours: it binds now */
			EXPECT(assign_device_open_fd(iommu, c, e0, NULL, &dev),
			       0, "");
			dev = assign_device_unref(dev);
			if (gdev) {
				int gfd = must_open(gdev);

				EXPECT(assign_device_open_fd(iommu, gfd, NULL,
							     NULL, &dev),
				       -EINVAL, "not a vfio cdev");
				close(gfd);
			}
		} else if (fd >= 0) {
			close(fd);
		}
	}
	if (L->backend == ASSIGN_IOMMU_TYPE1 && gdev) {
		int c = must_open("/dev/vfio/vfio"), gfd = must_open(gdev);

		if (c >= 0 && gfd >= 0 &&
		    assign_iommu_new_from_fd(L->ctx, c, NULL, &iommu) == 0) {
			EXPECT(assign_group_new_from_fd(iommu, c, &g), -EINVAL,
			       "not a VFIO group");
			EXPECT(assign_group_new_from_fd(iommu, gfd, &g), 0, "");
			assign_group_unref(g);
		} else {
			if (c >= 0)
				close(c);
			if (gfd >= 0)
				close(gfd);
		}
	}
#undef EXPECT
	if (!bad && cases >= 4)
		lab_result(T, LAB_PASS,
			   "%d cases: a pipe, a closed fd, a group for a "
			   "container, %s refused by what they are (%s)",
			   cases,
			   L->backend == ASSIGN_IOMMU_TYPE1 ?
				   "a container for a group" :
				   "another device's cdev, a group for a "
				   "cdev",
			   L->bname);
	else
		lab_result(T, LAB_FAIL, "%d of %d wrong: %s", bad, cases,
			   detail);
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
}

/* The handoff through a real socket pair, in one process. */
static void t_handoff(struct lab *L)
{
	const char *T = "handoff";
	const char *edu = lab_env("LAB_EDU");
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = L->backend };
	struct assign_handoff *h = NULL, *got = NULL;
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	char uuid[40] = "";
	uint32_t id = 0;
	int sv[2] = { -1, -1 }, r, made;

	made = lab_mtty_create(1, uuid) == 0;
	r = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ?
		    -errno :
		    0;
	if (r == 0)
		r = assign_handoff_new(L->ctx, &o, &h);
	if (r == 0)
		r = assign_handoff_add_device(h, edu ? edu : "none");
	if (r == 0 && made)
		r = assign_handoff_add_device(h, uuid);
	if (r == 0)
		r = assign_handoff_send(h, sv[0]);
	h = assign_handoff_free(h);
	if (r == 0)
		r = assign_handoff_recv(L->ctx, sv[1], &got);
	if (r == 0)
		r = assign_iommu_new_from_handoff(L->ctx, got, &iommu);
	if (r == 0)
		r = assign_device_open(iommu, edu, NULL, &dev);
	if (r == 0)
		r = lab_rd32(dev, 0, 0x0, &id);
	dev = assign_device_unref(dev);
	if (r == 0 && made)
		r = assign_device_open(iommu, uuid, NULL, &dev);
	if (r == 0)
		lab_result(T, LAB_PASS,
			   "%s%s%s handed over a socket pair and opened by "
			   "name (%s, edu id %#x)",
			   edu, made ? " and mdev " : "", made ? uuid : "",
			   L->bname, id);
	else
		lab_result(T, LAB_FAIL, "%s (%s)", strerror(-r), lasterr(L));
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_handoff_free(got);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (made)
		lab_mtty_remove(uuid);
}

/* ---- VF token ------------------------------------------------------------ */

/* An SR-IOV PF (QEMU's nvme with sriov_max_vfs) into @pf. */
static bool find_pf(char *pf, size_t size)
{
	char cmd[] =
		"for d in /sys/bus/pci/devices/*; do "
		"[ \"$(cat $d/sriov_totalvfs 2>/dev/null || echo 0)\" -gt 0 ] "
		"&& echo ${d##*/} && break; done";
	FILE *p = popen(cmd, "r");
	bool ok = false;

	if (!p)
		return false;
	if (fgets(pf, (int)size, p)) {
		pf[strcspn(pf, "\n")] = '\0';
		ok = pf[0] != '\0';
	}
	pclose(p);
	return ok;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int open_token(struct assign_iommu *iommu, const char *name,
		      const char *token, struct assign_device **dev)
{
	struct assign_device_opts o = { .size = sizeof(o), .vf_token = token };

	return assign_device_open(iommu, name, &o, dev);
}

#define TOKEN "bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3"
#define TOKEN2 "bd8d9d2b-5a5f-4f5a-a211-f591514ba1f4"

static void t_vf_token(struct lab *L)
{
	const char *T = "vf-token";
	struct assign_iommu *iommu = NULL;
	struct assign_device *pf = NULL, *vf = NULL;
	char pfa[32], vfa[32] = "", detail[300] = "";
	int r, none = 0, wrong = 0, right = -1;
	FILE *f;

	if (!find_pf(pfa, sizeof(pfa))) {
		lab_result(T, LAB_FAIL,
			   "no SR-IOV PF: run with QEMU's nvme and "
			   "sriov_max_vfs (tests/lab/tests/meson.build)");
		return;
	}
	/* The PF on vfio-pci with SR-IOV allowed, one VF made. */
	if (sh("echo Y > /sys/module/vfio_pci/parameters/enable_sriov && "
	       "d=/sys/bus/pci/devices/%s; "
	       "[ \"$(basename $(readlink $d/driver))\" = vfio-pci ] || "
	       "{ [ -e $d/driver ] && echo %s > $d/driver/unbind; "
	       "echo vfio-pci > $d/driver_override; "
	       "echo %s > /sys/bus/pci/drivers_probe; }; "
	       "echo 1 > $d/sriov_numvfs",
	       pfa, pfa, pfa) != 0) {
		lab_result(T, LAB_FAIL, "cannot make a VF of %s on vfio-pci",
			   pfa);
		return;
	}
	snprintf(detail, sizeof(detail), "/sys/bus/pci/devices/%s/virtfn0",
		 pfa);
	{
		char link[256];
		ssize_t n = readlink(detail, link, sizeof(link) - 1);

		if (n > 0) {
			const char *base;

			link[n] = '\0';
			base = strrchr(link, '/') ? strrchr(link, '/') + 1 :
						    link;
			if (strlen(base) < sizeof(vfa))
				memcpy(vfa, base, strlen(base) + 1);
		}
	}
	for (int i = 0; i < 50 && vfa[0]; i++) { /* vfio-pci takes it */
		char p[128];

		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vfio-dev", vfa);
		if (access(p, F_OK) == 0 || L->backend == ASSIGN_IOMMU_TYPE1)
			break;
		lab_sleep_ms(100);
	}
	/* QEMU 7.2's nvme VFs stay offline until the PF's driver gives them
	 * queues (NVMe virtualization management): config space reads as
	 * all ones, and every open would wait 65 s for an FLR to finish.
	 * This test is about tokens; the VF gets no reset. */
	if (vfa[0])
		sh("echo > /sys/bus/pci/devices/%s/reset_method", vfa);
	r = vfa[0] ? new_iommu(L, &iommu) : -ENODEV;
	if (r == 0)
		r = open_token(iommu, pfa, NULL, &pf);
	if (r == 0)
		r = assign_device_set_vf_token(pf, TOKEN);
	if (r == 0) {
		none = open_token(iommu, vfa, NULL, &vf);
		vf = assign_device_unref(vf);
		snprintf(detail, sizeof(detail), "%s", lasterr(L));
		wrong = open_token(iommu, vfa, TOKEN2, &vf);
		vf = assign_device_unref(vf);
		L->warned[0] = '\0';
		right = open_token(iommu, vfa, TOKEN, &vf);
		if (right < 0)
			snprintf(detail, sizeof(detail), "%s", lasterr(L));
	}
	if (r == 0 && L->backend == ASSIGN_IOMMU_TYPE1 && none == -EACCES &&
	    wrong == -EACCES && right == 0)
		lab_result(T, LAB_PASS,
			   "VF %s of PF %s (vfio-pci, token set): no token "
			   "and a wrong one refused (-EACCES), the right one "
			   "opens it (group path)",
			   vfa, pfa);
	else if (r == 0 && L->backend == ASSIGN_IOMMU_IOMMUFD && right == 0 &&
		 strstr(L->warned, "took no VF token"))
		lab_result(T, LAB_PASS,
			   "VF %s of PF %s: Linux %s's cdev path asks no "
			   "token (none: %d, wrong: %d); the library opened it "
			   "and warned: %s",
			   vfa, pfa, "6.12", none, wrong, L->warned);
	else
		lab_result(
			T, LAB_FAIL,
			"r=%d (%s) none=%d wrong=%d right=%d: %s; warned: %s",
			r, lasterr(L), none, wrong, right, detail, L->warned);
	assign_device_unref(vf);
	assign_device_unref(pf);
	assign_iommu_unref(iommu);
	snprintf(detail, sizeof(detail), "/sys/bus/pci/devices/%s/sriov_numvfs",
		 pfa);
	f = fopen(detail, "we");
	if (f) {
		fputs("0", f);
		fclose(f);
	}
}

/* ---- main --------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*fn)(struct lab *);
} tests[] = {
	{ "mdev-open", t_mdev_open }, { "mdev-serial", t_mdev_serial },
	{ "mdev-intx", t_mdev_intx }, { "mdev-bad-names", t_mdev_bad_names },
	{ "adopt", t_adopt },	      { "adopt-refused", t_adopt_refused },
	{ "handoff", t_handoff },     { "vf-token", t_vf_token },
};

int main(int argc, char **argv)
{
	struct lab L = { .backend = ASSIGN_IOMMU_TYPE1, .bname = "type1" };
	int first = 1, r;

	for (; first < argc && argv[first][0] == '-'; first++) {
		if (!strcmp(argv[first], "--backend") && first + 1 < argc) {
			L.bname = argv[++first];
			if (!strcmp(L.bname, "iommufd"))
				L.backend = ASSIGN_IOMMU_IOMMUFD;
			else if (strcmp(L.bname, "type1"))
				return fprintf(stderr, "lab-open: backend "
						       "type1 or iommufd\n"),
				       2;
		} else if (!strcmp(argv[first], "--list")) {
			for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]);
			     i++)
				printf("%s\n", tests[i].name);
			return 0;
		} else {
			fprintf(stderr, "usage: lab-open [--backend type1|"
					"iommufd] [--list] [TEST...]\n");
			return 2;
		}
	}
	r = assign_ctx_new(&L.ctx);
	if (r < 0) {
		fprintf(stderr, "lab-open: assign_ctx_new: %s\n", strerror(-r));
		return 1;
	}
	assign_ctx_set_log_fn(L.ctx, capture, &L);
	assign_ctx_set_log_priority(L.ctx, LOG_WARNING);
	lab_set_prefix(L.bname);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		bool run = first == argc;

		for (int a = first; a < argc && !run; a++)
			run = strstr(tests[i].name, argv[a]) != NULL;
		if (run)
			tests[i].fn(&L);
	}
	assign_ctx_unref(L.ctx);
	return lab_failures() ? 1 : 0;
}
