/* SPDX-License-Identifier: MIT */
/*
 * lab-hotreset: hot (secondary bus) resets against the real vfio-pci
 * driver, inside the lab guest. Uses the public API, and the escape
 * hatches to ask the kernel directly where the library refuses first.
 *
 *   lab-hotreset [--backend type1|iommufd] [TEST...]
 *
 * Devices on pcie.0 have no bus reset; these tests need devices behind a
 * PCIe root port (tests/lab/tests/meson.build adds them to QEMU):
 *  - an e1000e alone behind its own root port (reset_method "pm bus"):
 *    found among LAB_E1000E_*, the one whose reset methods include "bus";
 *  - the lab's multifunction pair behind a root port, LAB_NV_E1000E
 *    (function 0, on its host driver) and LAB_NV_EDU (function 1, on
 *    vfio-pci), one IOMMU group.
 * The type1 backend proves ownership with group fds, iommufd with the
 * zero-length form (ownership through the iommufd).
 */
#include "labtest.h"

#include <errno.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* e1000e registers that reset to 0 (82574 datasheet; QEMU's model) */
#define E_RDLEN 0x2808
#define E_TDLEN 0x3808
#define E_RDBAL 0x2800

struct lab {
	struct assign_ctx *ctx;
	enum assign_iommu_backend backend;
	const char *bname;
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

static int new_iommu(struct lab *L, struct assign_iommu **ret)
{
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = L->backend };

	return assign_iommu_new(L->ctx, &o, ret);
}

static void read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)size, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

static int write_sysfs(const char *path, const char *val)
{
	FILE *f = fopen(path, "we");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(val, f) < 0)
		r = -EIO;
	if (fclose(f) != 0 && !r)
		r = -errno;
	return r;
}

static void driver_of(const char *addr, char *buf, size_t size)
{
	char path[128], target[256];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0) {
		snprintf(buf, size, "none");
		return;
	}
	target[n] = '\0';
	base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	if (strlen(base) >= size)
		base = "?";
	memcpy(buf, base, strlen(base) + 1);
}

/* Move @addr to @driver ("" for none): vfio-pci through driver_override,
 * a host driver through its bind file with the override cleared. */
static int rebind(const char *addr, const char *driver)
{
	char path[128], now[64];

	driver_of(addr, now, sizeof(now));
	if (!strcmp(now, driver[0] ? driver : "none"))
		return 0;
	if (strcmp(now, "none")) {
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/driver/unbind", addr);
		if (write_sysfs(path, addr) < 0)
			return -EIO;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 addr);
	if (!strcmp(driver, "vfio-pci")) {
		write_sysfs(path, driver);
		write_sysfs("/sys/bus/pci/drivers_probe", addr);
	} else {
		write_sysfs(path, "\n");
		if (driver[0]) {
			snprintf(path, sizeof(path),
				 "/sys/bus/pci/drivers/%s/bind", driver);
			write_sysfs(path, addr);
		}
	}
	driver_of(addr, now, sizeof(now));
	return strcmp(now, driver[0] ? driver : "none") ? -EIO : 0;
}

/* The e1000e alone behind a root port: its reset methods include "bus". */
static const char *lone_e1000e(void)
{
	const char *n = lab_env("LAB_E1000E_COUNT");
	int count = n ? atoi(n) : 0;

	for (int i = 0; i < count; i++) {
		char var[32], path[128], methods[128];
		const char *a;

		snprintf(var, sizeof(var), "LAB_E1000E_%d", i);
		a = lab_env(var);
		if (!a)
			continue;
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/reset_method", a);
		read_line(path, methods, sizeof(methods));
		if (strstr(methods, "bus"))
			return a;
	}
	return NULL;
}

/*
 * The e1000e alone on its bus: registers written, the bus reset, the
 * registers back at their defaults and the interrupts the library had
 * enabled forgotten.
 */
static void t_alone(struct lab *L)
{
	const char *T = "hot-reset-restores-defaults";
	const char *a = lone_e1000e();
	struct assign_reset_dep deps[4] = { { .size = sizeof(deps[0]) } };
	struct assign_iommu *io = NULL;
	struct assign_device *d = NULL;
	uint32_t rdlen = 0, tdlen = 0, rdbal = 0;
	size_t n = 0;
	int r, efd = -1;

	if (!a) {
		lab_result(T, LAB_FAIL,
			   "no e1000e with a bus reset: run with an e1000e "
			   "behind its own pcie-root-port (see meson.build)");
		return;
	}
	r = new_iommu(L, &io);
	if (r == 0)
		r = assign_device_open(io, a, NULL, &d);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "open %s: %s: %s", a, errstr(r),
			   lasterr(L));
		goto out;
	}
	r = assign_device_get_hot_reset_deps(d, deps, 4, &n);
	if (r < 0 || n != 1 || !deps[0].owned) {
		lab_result(T, LAB_FAIL, "deps: %s, %zu device(s), owned %d: %s",
			   errstr(r), n, n ? deps[0].owned : -1, lasterr(L));
		goto out;
	}
	efd = lab_eventfd();
	if ((r = lab_wr32(d, 0, E_RDLEN, 0x1000)) < 0 ||
	    (r = lab_wr32(d, 0, E_TDLEN, 0x2000)) < 0 ||
	    (r = lab_wr32(d, 0, E_RDBAL, 0x12345000)) < 0 ||
	    (r = lab_rd32(d, 0, E_RDLEN, &rdlen)) < 0 ||
	    (r = lab_rd32(d, 0, E_TDLEN, &tdlen)) < 0 ||
	    (r = lab_rd32(d, 0, E_RDBAL, &rdbal)) < 0 ||
	    (r = assign_irq_set_eventfds(d, ASSIGN_IRQ_MSIX, 0, 1, &efd)) < 0) {
		lab_result(T, LAB_FAIL, "setting up: %s: %s", errstr(r),
			   lasterr(L));
		goto out;
	}
	if (rdlen != 0x1000 || tdlen != 0x2000 || rdbal != 0x12345000) {
		lab_result(T, LAB_FAIL, "writes did not stick: %x %x %x", rdlen,
			   tdlen, rdbal);
		goto out;
	}
	r = assign_device_hot_reset(d);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "assign_device_hot_reset(%s): %s: %s",
			   a, errstr(r), lasterr(L));
		goto out;
	}
	lab_rd32(d, 0, E_RDLEN, &rdlen);
	lab_rd32(d, 0, E_TDLEN, &tdlen);
	lab_rd32(d, 0, E_RDBAL, &rdbal);
	if (rdlen || tdlen || rdbal) {
		lab_result(T, LAB_FAIL,
			   "after the bus reset RDLEN 0x%x TDLEN "
			   "0x%x RDBAL 0x%x, want 0",
			   rdlen, tdlen, rdbal);
	} else if (assign_irq_get_enabled_count(d, ASSIGN_IRQ_MSIX) != 0) {
		lab_result(T, LAB_FAIL, "MSI-X still counted as enabled");
	} else {
		/* The device works afterwards. */
		r = lab_wr32(d, 0, E_RDLEN, 0x800);
		if (r == 0)
			r = lab_rd32(d, 0, E_RDLEN, &rdlen);
		if (r < 0 || rdlen != 0x800)
			lab_result(T, LAB_FAIL,
				   "after the reset: %s, RDLEN 0x%x", errstr(r),
				   rdlen);
		else
			lab_result(T, LAB_PASS,
				   "%s (%s): RDLEN 0x1000 TDLEN 0x2000 RDBAL "
				   "0x12345000 -> 0 across the bus reset; "
				   "MSI-X forgotten; usable again",
				   a, L->bname);
	}
out:
	if (efd >= 0)
		close(efd);
	assign_device_unref(d);
	assign_iommu_unref(io);
}

/* What the kernel says to the reset the library refuses: -EINVAL from
 * vfio_pci_dev_set_hot_reset() for a device it does not own. */
static int kernel_hot_reset(struct assign_device *d, struct assign_iommu *io)
{
	/* struct vfio_pci_hot_reset and room for one group fd after it */
	union {
		struct vfio_pci_hot_reset hr;
		uint8_t bytes[sizeof(struct vfio_pci_hot_reset) +
			      sizeof(int32_t)];
	} req;
	struct assign_group *g = NULL;
	int32_t fd;
	int r;

	memset(&req, 0, sizeof(req));
	req.hr.argsz = sizeof(req.hr);
	if (assign_iommu_get_backend(io) == ASSIGN_IOMMU_TYPE1) {
		r = assign_iommu_get_group(io, assign_device_get_group_id(d),
					   &g);
		if (r < 0)
			return r;
		fd = assign_group_get_fd(g);
		req.hr.argsz = sizeof(req);
		req.hr.count = 1;
		memcpy(req.bytes + sizeof(req.hr), &fd, sizeof(fd));
	}
	r = ioctl(assign_device_get_fd(d), VFIO_DEVICE_PCI_HOT_RESET, &req);
	r = r < 0 ? -errno : 0;
	assign_group_unref(g);
	return r;
}

/*
 * The multifunction pair: function 1 (edu) on vfio-pci, function 0
 * (e1000e) without a driver. The group is viable, the edu opens, but the
 * bus reset would reset the e1000e too, which nobody owns: the library
 * refuses, naming it, and the kernel agrees. With function 0 on vfio-pci
 * and open too, the reset goes through and resets it.
 */
static void t_not_owned(struct lab *L)
{
	const char *T = "hot-reset-names-not-owned";
	const char *edu = lab_env("LAB_NV_EDU"),
		   *nic = lab_env("LAB_NV_E1000E");
	const char *host = lab_env("LAB_NV_E1000E_DRIVER");
	struct assign_iommu *io = NULL;
	struct assign_device *d = NULL, *d0 = NULL;
	char msg[400] = "";
	uint32_t rdlen = 0;
	int r, k;

	if (!edu || !nic || !host) {
		lab_result(T, LAB_FAIL,
			   "the multifunction pair is missing "
			   "from /lab/env");
		return;
	}
	if (rebind(nic, "") < 0) {
		lab_result(T, LAB_FAIL, "cannot unbind %s from %s", nic, host);
		goto restore;
	}
	r = new_iommu(L, &io);
	if (r == 0)
		r = assign_device_open(io, edu, NULL, &d);
	if (r < 0) {
		lab_result(T, LAB_FAIL, "open %s with %s unbound: %s: %s", edu,
			   nic, errstr(r), lasterr(L));
		goto out;
	}
	assign_ctx_clear_last_error(L->ctx);
	r = assign_device_hot_reset(d);
	snprintf(msg, sizeof(msg), "%s", lasterr(L));
	k = kernel_hot_reset(d, io);
	if (r != -EPERM || !strstr(msg, nic + 5) || !strstr(msg, "no driver")) {
		lab_result(T, LAB_FAIL,
			   "with %s unbound: %s (want -EPERM naming "
			   "it): %s",
			   nic, errstr(r), msg);
		goto out;
	}
	if (k != -EINVAL) {
		lab_result(T, LAB_FAIL,
			   "the library refused (%s) but the kernel "
			   "said %s to the same reset",
			   msg, errstr(k));
		goto out;
	}
	/* Function 0 on vfio-pci and open on the same object: owned. */
	assign_device_unref(d);
	d = NULL;
	assign_iommu_unref(io);
	io = NULL;
	if (rebind(nic, "vfio-pci") < 0) {
		lab_result(T, LAB_FAIL, "cannot bind %s to vfio-pci", nic);
		goto out;
	}
	r = new_iommu(L, &io);
	if (r == 0)
		r = assign_device_open(io, nic, NULL, &d0);
	if (r == 0)
		r = assign_device_open(io, edu, NULL, &d);
	if (r == 0)
		r = lab_wr32(d0, 0, E_RDLEN, 0x1000);
	if (r == 0)
		r = assign_device_hot_reset(d);
	if (r == 0)
		r = lab_rd32(d0, 0, E_RDLEN, &rdlen);
	if (r < 0 || rdlen != 0) {
		lab_result(T, LAB_FAIL,
			   "both functions open: %s, e1000e RDLEN "
			   "0x%x after the reset: %s",
			   errstr(r), rdlen, lasterr(L));
		goto out;
	}
	lab_result(T, LAB_PASS,
		   "%s: %s; the kernel said %s too; with %s open "
		   "as well the reset went through (its RDLEN 0x1000 -> 0)",
		   L->bname, msg, errstr(k), nic);
out:
	assign_device_unref(d0);
	assign_device_unref(d);
	assign_iommu_unref(io);
restore:
	if (rebind(nic, host) < 0) {
		char now[64];

		driver_of(nic, now, sizeof(now));
		lab_result("hot-reset-restore", LAB_FAIL,
			   "%s is on %s, not back on %s", nic, now, host);
	}
}

struct test {
	const char *name;
	void (*fn)(struct lab *);
};

static const struct test tests[] = {
	{ "hot-reset-restores-defaults", t_alone },
	{ "hot-reset-names-not-owned", t_not_owned },
};

int main(int argc, char **argv)
{
	struct lab L = { .backend = ASSIGN_IOMMU_TYPE1, .bname = "type1" };
	int i, r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
			L.bname = argv[++i];
			if (!strcmp(L.bname, "type1"))
				L.backend = ASSIGN_IOMMU_TYPE1;
			else if (!strcmp(L.bname, "iommufd"))
				L.backend = ASSIGN_IOMMU_IOMMUFD;
			else
				goto usage;
		} else if (!strcmp(argv[i], "--list")) {
			for (size_t k = 0; k < sizeof(tests) / sizeof(*tests);
			     k++)
				puts(tests[k].name);
			return 0;
		} else {
			goto usage;
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
		lab_result(
			"all", LAB_FAIL,
			"kernel without IOMMUFD: run iommufd on --kernel own");
	} else {
		for (size_t k = 0; k < sizeof(tests) / sizeof(*tests); k++) {
			bool run = i >= argc;

			for (int a = i; a < argc; a++)
				run |= strstr(tests[k].name, argv[a]) != NULL;
			if (run)
				tests[k].fn(&L);
		}
	}
	assign_ctx_unref(L.ctx);
	return lab_failures() ? 1 : 0;
usage:
	fprintf(stderr, "usage: lab-hotreset [--backend type1|iommufd] "
			"[--list] [TEST...]\n");
	return 2;
}
