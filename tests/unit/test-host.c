// SPDX-License-Identifier: MIT
/*
 * Host preparation against a fake sysfs tree in a temporary directory.
 *
 * The tree has the shape of the real one (bus/pci/devices/ADDR links to
 * devices/pci0000:00/ADDR, driver and iommu_group links, kernel/
 * iommu_groups/N/devices, drivers with bind/unbind, drivers_probe). A thin
 * wrapper around the real syscall ops plays the kernel's part for the
 * binding files: unbind drops the driver link, drivers_probe honours
 * driver_override, bind checks the match, vfio-pci makes dev/vfio/N, and a
 * network driver's interface disappears while it is unbound.
 *
 * The netdev guard and the VF netlink path run for real in a private
 * network namespace (veth), skipped when the test cannot create one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sys.h"
#include "host/host.h"
#include "mock.h"
#include <libassign/host.h>

/* ---- the fake tree ---------------------------------------------------- */

struct fake {
	char root[128];
	char dev[256];
	char state[256];
	int rootfd;
	struct assign_ctx *ctx;
	struct {
		int fd;
		char path[256];
	} files[32];
	/* driver a device gets from drivers_probe without an override */
	struct {
		char addr[16];
		char driver[32];
		int group;
	} devs[16];
	size_t ndevs;
	bool vfio_refuses; /* vfio-pci probe fails */
	bool no_vfio_node; /* vfio-pci binds but no /dev/vfio/N appears */
	unsigned probes, unbinds, binds;
	/* fault injection: fail the n-th pwrite / openat from now (0: off) */
	unsigned fail_pwrite, fail_openat, n_pwrite, n_openat;
};

static struct fake *g_fake; /* for the ops wrapper */

static void wfile(struct fake *f, const char *rel, const char *content)
{
	char p[PATH_MAX];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(content, fp);
	fclose(fp);
}

static void rfile(struct fake *f, const char *rel, char *buf, size_t size)
{
	char p[PATH_MAX];
	FILE *fp;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	fp = fopen(p, "r");
	assert_non_null(fp);
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
}

static void mkdirs(struct fake *f, const char *rel)
{
	char p[PATH_MAX], *s;

	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	for (s = p + strlen(f->root) + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	}
	mkdir(p, 0755);
}

static void link_abs(struct fake *f, const char *target_rel, const char *rel)
{
	char t[PATH_MAX], p[PATH_MAX];

	snprintf(t, sizeof(t), "%s/%s", f->root, target_rel);
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	unlink(p);
	assert_int_equal(symlink(t, p), 0);
}

static bool exists(struct fake *f, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	return lstat(p, &st) == 0;
}

static void fake_driver(struct fake *f, const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "bus/pci/drivers/%s", name);
	mkdirs(f, p);
	snprintf(p, sizeof(p), "bus/pci/drivers/%s/bind", name);
	wfile(f, p, "");
	snprintf(p, sizeof(p), "bus/pci/drivers/%s/unbind", name);
	wfile(f, p, "");
}

static void set_driver_link(struct fake *f, const char *addr, const char *drv)
{
	char p[256], t[256];

	snprintf(p, sizeof(p), "devices/pci0000:00/%s/driver", addr);
	if (!drv) {
		char abs[PATH_MAX];
		snprintf(abs, sizeof(abs), "%s/%s", f->root, p);
		unlink(abs);
		return;
	}
	snprintf(t, sizeof(t), "bus/pci/drivers/%s", drv);
	link_abs(f, t, p);
}

/* A device; @group < 0: no IOMMU group; @native: what drivers_probe binds
 * without an override (NULL: nothing). */
static void fake_device(struct fake *f, const char *addr, uint32_t vd,
			uint32_t cls, int group, const char *driver,
			const char *native)
{
	char d[128], p[256], v[32];

	snprintf(d, sizeof(d), "devices/pci0000:00/%s", addr);
	mkdirs(f, d);
	snprintf(p, sizeof(p), "%s/vendor", d);
	snprintf(v, sizeof(v), "0x%04x\n", vd >> 16);
	wfile(f, p, v);
	snprintf(p, sizeof(p), "%s/device", d);
	snprintf(v, sizeof(v), "0x%04x\n", vd & 0xffff);
	wfile(f, p, v);
	snprintf(p, sizeof(p), "%s/class", d);
	snprintf(v, sizeof(v), "0x%06x\n", cls);
	wfile(f, p, v);
	snprintf(p, sizeof(p), "%s/subsystem_vendor", d);
	wfile(f, p, "0x8086\n");
	snprintf(p, sizeof(p), "%s/subsystem_device", d);
	wfile(f, p, "0x0000\n");
	snprintf(p, sizeof(p), "%s/driver_override", d);
	wfile(f, p, "(null)\n");
	snprintf(p, sizeof(p), "bus/pci/devices/%s", addr);
	link_abs(f, d, p);
	if (group >= 0) {
		snprintf(p, sizeof(p), "kernel/iommu_groups/%d/devices", group);
		mkdirs(f, p);
		snprintf(p, sizeof(p), "kernel/iommu_groups/%d/devices/%s",
			 group, addr);
		link_abs(f, d, p);
		snprintf(v, sizeof(v), "kernel/iommu_groups/%d", group);
		snprintf(p, sizeof(p), "%s/iommu_group", d);
		link_abs(f, v, p);
	}
	if (driver)
		set_driver_link(f, addr, driver);
	assert_true(f->ndevs < 16);
	snprintf(f->devs[f->ndevs].addr, 16, "%s", addr);
	snprintf(f->devs[f->ndevs].driver, 32, "%s", native ? native : "");
	f->devs[f->ndevs].group = group;
	f->ndevs++;
	if (driver && !strcmp(driver, "vfio-pci") && group >= 0) {
		char node[PATH_MAX];
		snprintf(node, sizeof(node), "%s/vfio/%d", f->dev, group);
		close(open(node, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	}
}

static void fake_netdev(struct fake *f, const char *addr, const char *ifname)
{
	char p[256];

	snprintf(p, sizeof(p), "devices/pci0000:00/%s/net/%s", addr, ifname);
	mkdirs(f, p);
}

static int dev_index(struct fake *f, const char *addr)
{
	for (size_t i = 0; i < f->ndevs; i++)
		if (!strcmp(f->devs[i].addr, addr))
			return (int)i;
	return -1;
}

static void current(struct fake *f, const char *addr, char *buf, size_t size)
{
	char p[PATH_MAX], t[PATH_MAX];
	ssize_t n;

	snprintf(p, sizeof(p), "%s/devices/pci0000:00/%s/driver", f->root,
		 addr);
	n = readlink(p, t, sizeof(t) - 1);
	if (n < 0) {
		buf[0] = '\0';
		return;
	}
	t[n] = '\0';
	snprintf(buf, size, "%s", strrchr(t, '/') + 1);
}

static void override_of(struct fake *f, const char *addr, char *buf,
			size_t size)
{
	char p[256];

	snprintf(p, sizeof(p), "devices/pci0000:00/%s/driver_override", addr);
	rfile(f, p, buf, size);
}

/* The kernel's side of attaching @addr to @drv. */
static void attach(struct fake *f, const char *addr, const char *drv)
{
	int i = dev_index(f, addr);
	char a[PATH_MAX], b[PATH_MAX];

	set_driver_link(f, addr, drv);
	if (!strcmp(drv, "vfio-pci") && f->devs[i].group >= 0 &&
	    !f->no_vfio_node) {
		snprintf(a, sizeof(a), "%s/vfio/%d", f->dev, f->devs[i].group);
		close(open(a, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	}
	if (!strcmp(drv, f->devs[i].driver)) {
		/* The network driver's interface comes back. */
		snprintf(a, sizeof(a), "%s/devices/pci0000:00/%s/net.hidden",
			 f->root, addr);
		snprintf(b, sizeof(b), "%s/devices/pci0000:00/%s/net", f->root,
			 addr);
		rename(a, b);
	}
}

static void detach(struct fake *f, const char *addr, const char *drv)
{
	int i = dev_index(f, addr);
	char a[PATH_MAX], b[PATH_MAX];

	set_driver_link(f, addr, NULL);
	if (!strcmp(drv, "vfio-pci") && f->devs[i].group >= 0) {
		snprintf(a, sizeof(a), "%s/vfio/%d", f->dev, f->devs[i].group);
		unlink(a);
	}
	snprintf(a, sizeof(a), "%s/devices/pci0000:00/%s/net", f->root, addr);
	snprintf(b, sizeof(b), "%s/devices/pci0000:00/%s/net.hidden", f->root,
		 addr);
	rename(a, b);
}

static int fk_openat(void *data, int dirfd, const char *path, int flags)
{
	struct fake *f = g_fake;
	int fd;

	if (f->fail_openat && ++f->n_openat == f->fail_openat)
		return -EIO;
	fd = assign_sys_linux.openat(data, dirfd, path, flags);
	if (fd >= 0 && (flags & O_ACCMODE) == O_WRONLY) {
		for (size_t i = 0; i < ARRAY_SIZE(f->files); i++) {
			if (f->files[i].fd == 0) {
				f->files[i].fd = fd;
				snprintf(f->files[i].path,
					 sizeof(f->files[i].path), "%s", path);
				break;
			}
		}
	}
	return fd;
}

static int fk_close(void *data, int fd)
{
	for (size_t i = 0; i < ARRAY_SIZE(g_fake->files); i++)
		if (g_fake->files[i].fd == fd)
			g_fake->files[i].fd = 0;
	return assign_sys_linux.close(data, fd);
}

static ssize_t fk_pwrite(void *data, int fd, const void *buf, size_t count,
			 uint64_t offset)
{
	struct fake *f = g_fake;
	const char *path = NULL;
	char val[128], drv[64], ovr[64], *nl;
	size_t n = MIN(count, sizeof(val) - 1);
	ssize_t r;
	int i;

	if (f->fail_pwrite && ++f->n_pwrite == f->fail_pwrite)
		return -EIO;
	for (size_t k = 0; k < ARRAY_SIZE(f->files); k++)
		if (f->files[k].fd == fd && fd)
			path = f->files[k].path;
	memcpy(val, buf, n);
	val[n] = '\0';
	if ((nl = strchr(val, '\n')))
		*nl = '\0';
	if (!path)
		return assign_sys_linux.pwrite(data, fd, buf, count, offset);
	/* A sysfs attribute takes the whole value: no stale tail. */
	if (ftruncate(fd, 0) < 0)
		return -errno;

	if (strstr(path, "/driver_override")) {
		/* The kernel shows "(null)" when no override is set. */
		const char *shown = val[0] ? val : "(null)";
		r = assign_sys_linux.pwrite(data, fd, shown, strlen(shown), 0);
		return r < 0 ? r : (ssize_t)count;
	}
	if (!strcmp(path, "bus/pci/drivers_probe")) {
		f->probes++;
		i = dev_index(f, val);
		if (i < 0)
			return -ENODEV;
		current(f, val, drv, sizeof(drv));
		if (drv[0])
			return (ssize_t)count;
		override_of(f, val, ovr, sizeof(ovr));
		if (strcmp(ovr, "(null)")) {
			if (!strcmp(ovr, "vfio-pci") && f->vfio_refuses)
				return (ssize_t)count;
			char dp[160];
			snprintf(dp, sizeof(dp), "bus/pci/drivers/%s", ovr);
			if (exists(f, dp))
				attach(f, val, ovr);
		} else if (f->devs[i].driver[0]) {
			char dp[160];
			snprintf(dp, sizeof(dp), "bus/pci/drivers/%s",
				 f->devs[i].driver);
			if (exists(f, dp))
				attach(f, val, f->devs[i].driver);
		}
		return (ssize_t)count;
	}
	if (!strncmp(path, "bus/pci/drivers/", 16)) {
		char name[64];
		const char *slash = strchr(path + 16, '/');
		if (!slash)
			return -EINVAL;
		snprintf(name, sizeof(name), "%.*s", (int)(slash - path - 16),
			 path + 16);
		i = dev_index(f, val);
		if (i < 0)
			return -ENODEV;
		current(f, val, drv, sizeof(drv));
		if (!strcmp(slash, "/unbind")) {
			f->unbinds++;
			if (strcmp(drv, name))
				return -ENODEV;
			detach(f, val, name);
			return (ssize_t)count;
		}
		if (!strcmp(slash, "/bind")) {
			f->binds++;
			override_of(f, val, ovr, sizeof(ovr));
			if (drv[0])
				return -EBUSY;
			if (strcmp(ovr, "(null)") ? strcmp(ovr, name)
						  : strcmp(f->devs[i].driver, name))
				return -ENODEV;
			attach(f, val, name);
			return (ssize_t)count;
		}
	}
	return assign_sys_linux.pwrite(data, fd, buf, count, offset);
}

static struct assign_sys_ops fake_ops;

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	char p[PATH_MAX];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/test-host-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dev, sizeof(f->dev), "%s/dev", f->root);
	snprintf(f->state, sizeof(f->state), "%s/run/libassign", f->root);
	snprintf(p, sizeof(p), "%s/vfio", f->dev);
	mkdir(f->dev, 0755);
	mkdir(p, 0755);
	mkdirs(f, "bus/pci/devices");
	mkdirs(f, "bus/pci/drivers");
	mkdirs(f, "kernel/iommu_groups");
	wfile(f, "bus/pci/drivers_probe", "");
	f->rootfd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->rootfd >= 0);

	fake_ops = assign_sys_linux;
	fake_ops.openat = fk_openat;
	fake_ops.close = fk_close;
	fake_ops.pwrite = fk_pwrite;
	g_fake = f;
	assert_int_equal(assign_ctx_new(&f->ctx), 0);
	assert_int_equal(assign_ctx_set_sys(f->ctx, &fake_ops, NULL, f->rootfd),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	char cmd[PATH_MAX + 16];

	assign_ctx_unref(f->ctx);
	close(f->rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	g_fake = NULL;
	free(f);
	return 0;
}

static void opts_for(struct fake *f, struct assign_host_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->state_dir = f->state;
	o->dev_dir = f->dev;
	o->timeout_ms = 2000;
}

/* The standard host: a root port (pcieport) and a NIC (e1000e, tnic0) in
 * group 5, an unbound function in group 5, a GPU in group 6 (i915), the
 * host bridge without a group. */
static void standard_host(struct fake *f)
{
	fake_driver(f, "pcieport");
	fake_driver(f, "e1000e");
	fake_driver(f, "vfio-pci");
	fake_driver(f, "i915");
	fake_device(f, "0000:00:00.0", 0x80860d57, 0x060000, -1, NULL, NULL);
	fake_device(f, "0000:00:1c.0", 0x80869d10, 0x060400, 5, "pcieport",
		    "pcieport");
	fake_device(f, "0000:01:00.0", 0x808610d3, 0x020000, 5, "e1000e",
		    "e1000e");
	fake_device(f, "0000:01:00.1", 0x808610d3, 0x020000, 5, NULL, NULL);
	fake_device(f, "0000:00:02.0", 0x80863e92, 0x030000, 6, "i915",
		    "i915");
	fake_netdev(f, "0000:01:00.0", "tnic0");
}

/* ---- discovery -------------------------------------------------------- */

static void test_device_get(void **state)
{
	struct fake *f = *state;
	struct assign_host_device *d = NULL;

	standard_host(f);
	assert_int_equal(assign_host_device_get(f->ctx, "01:00.0", &d), 0);
	assert_string_equal(d->address, "0000:01:00.0");
	assert_int_equal(d->addr.bus, 1);
	assert_int_equal(d->vendor, 0x8086);
	assert_int_equal(d->device, 0x10d3);
	assert_int_equal(d->class_code, 0x020000);
	assert_int_equal(d->subsystem_vendor, 0x8086);
	assert_string_equal(d->driver, "e1000e");
	assert_string_equal(d->driver_override, "");
	assert_int_equal(d->iommu_group, 5);
	assert_false(d->is_bridge);
	assert_int_equal(d->n_netdevs, 1);
	assert_string_equal(d->netdevs[0], "tnic0");
	assert_int_equal(d->sriov_totalvfs, 0);
	assert_string_equal(d->physfn, "");
	assert_int_equal(d->vf_index, -1);
	assert_null(d->vfs);
	assign_host_device_free(d);

	assert_int_equal(assign_host_device_get(f->ctx, "0000:00:00.0", &d), 0);
	assert_true(d->is_bridge);
	assert_int_equal(d->iommu_group, -1);
	assert_string_equal(d->driver, "");
	assign_host_device_free(d);

	d = NULL;
	assert_int_equal(assign_host_device_get(f->ctx, "0000:09:00.0", &d),
			 -ENODEV);
	assert_null(d);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "0000:09:00.0"));
	assert_int_equal(assign_host_device_get(f->ctx, "zz:00.0", &d),
			 -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "not a PCI address"));
	assert_int_equal(assign_host_device_get(f->ctx, NULL, &d), -EINVAL);
	assert_null(assign_host_device_free(NULL));
}

static void test_list(void **state)
{
	struct fake *f = *state;
	struct assign_host_device_list *list = NULL;
	struct assign_host_device **devs;

	standard_host(f);
	assert_int_equal(assign_host_list(f->ctx, &list), 0);
	assert_int_equal(list->count, 5);
	devs = list->devices;
	assert_string_equal(devs[0]->address, "0000:00:00.0");
	assert_string_equal(devs[1]->address, "0000:00:02.0");
	assert_string_equal(devs[2]->address, "0000:00:1c.0");
	assert_string_equal(devs[3]->address, "0000:01:00.0");
	assert_string_equal(devs[4]->address, "0000:01:00.1");
	assert_true(devs[2]->is_bridge);
	assert_string_equal(devs[1]->driver, "i915");
	assert_false(devs[1]->is_vfio);
	assert_null(assign_host_device_list_free(list));
	assert_null(assign_host_device_list_free(NULL));
}

static void test_list_empty_bus(void **state)
{
	struct fake *f = *state;
	struct assign_host_device_list *list = NULL;

	assert_int_equal(assign_host_list(f->ctx, &list), 0);
	assert_int_equal(list->count, 0);
	assign_host_device_list_free(list);
}

static void sriov_host(struct fake *f)
{
	fake_driver(f, "ixgbe");
	fake_driver(f, "ixgbevf");
	fake_driver(f, "vfio-pci");
	fake_device(f, "0000:03:00.0", 0x808610fb, 0x020000, 20, "ixgbe",
		    "ixgbe");
	fake_device(f, "0000:03:10.0", 0x808610ed, 0x020000, 21, "ixgbevf",
		    "ixgbevf");
	fake_device(f, "0000:03:10.2", 0x808610ed, 0x020000, 22, NULL,
		    "ixgbevf");
	wfile(f, "devices/pci0000:00/0000:03:00.0/sriov_totalvfs", "63\n");
	wfile(f, "devices/pci0000:00/0000:03:00.0/sriov_numvfs", "2\n");
	link_abs(f, "devices/pci0000:00/0000:03:10.0",
		 "devices/pci0000:00/0000:03:00.0/virtfn0");
	link_abs(f, "devices/pci0000:00/0000:03:10.2",
		 "devices/pci0000:00/0000:03:00.0/virtfn1");
	link_abs(f, "devices/pci0000:00/0000:03:00.0",
		 "devices/pci0000:00/0000:03:10.0/physfn");
	link_abs(f, "devices/pci0000:00/0000:03:00.0",
		 "devices/pci0000:00/0000:03:10.2/physfn");
}

static void test_sriov_discovery(void **state)
{
	struct fake *f = *state;
	struct assign_host_device *d = NULL;

	sriov_host(f);
	assert_int_equal(assign_host_device_get(f->ctx, "0000:03:00.0", &d), 0);
	assert_int_equal(d->sriov_totalvfs, 63);
	assert_int_equal(d->sriov_numvfs, 2);
	assert_int_equal(d->n_vfs, 2);
	assert_string_equal(d->vfs[0], "0000:03:10.0");
	assert_string_equal(d->vfs[1], "0000:03:10.2");
	assert_int_equal(d->vf_index, -1);
	assign_host_device_free(d);

	assert_int_equal(assign_host_device_get(f->ctx, "0000:03:10.2", &d), 0);
	assert_string_equal(d->physfn, "0000:03:00.0");
	assert_int_equal(d->vf_index, 1);
	assign_host_device_free(d);
}

static void test_sriov_numvfs(void **state)
{
	struct fake *f = *state;
	char buf[16];

	sriov_host(f);
	assert_int_equal(assign_host_sriov_set_numvfs(f->ctx, "03:00.0", 4), 0);
	rfile(f, "devices/pci0000:00/0000:03:00.0/sriov_numvfs", buf,
	      sizeof(buf));
	assert_string_equal(buf, "4");
	assert_int_equal(assign_host_sriov_set_numvfs(f->ctx, "03:00.0", 64),
			 -ERANGE);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "at most 63"));
	assert_int_equal(assign_host_sriov_set_numvfs(f->ctx, "03:10.0", 1),
			 -ENODEV);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "not an SR-IOV physical function"));
}

/* ---- viability -------------------------------------------------------- */

static void test_group_report(void **state)
{
	struct fake *f = *state;
	struct assign_host_group_report *rep = NULL;
	const struct assign_host_member *m;

	standard_host(f);
	assert_int_equal(assign_host_group_report(f->ctx, 5, &rep), 0);
	assert_int_equal(rep->group, 5);
	assert_int_equal(rep->n_members, 3);
	assert_false(rep->viable);
	assert_int_equal(rep->n_blocking, 1);

	m = rep->members[0];
	assert_string_equal(m->address, "0000:00:1c.0");
	assert_true(m->is_bridge);
	assert_false(m->blocks);
	assert_int_equal(m->action, ASSIGN_HOST_ACTION_NONE);
	assert_non_null(strstr(m->reason, "pcieport"));
	assert_string_equal(m->fix, "");

	m = rep->members[1];
	assert_string_equal(m->address, "0000:01:00.0");
	assert_true(m->blocks);
	assert_int_equal(m->action, ASSIGN_HOST_ACTION_BIND_VFIO);
	assert_non_null(strstr(m->reason, "bound to e1000e"));
	assert_non_null(strstr(m->fix, "assign-host bind 0000:01:00.0"));
	assert_non_null(strstr(m->fix, "driver_override"));

	m = rep->members[2];
	assert_string_equal(m->address, "0000:01:00.1");
	assert_false(m->blocks);
	assert_non_null(strstr(m->reason, "no driver"));
	assign_host_group_report_free(rep);

	assert_int_equal(assign_host_group_report(f->ctx, 99, &rep), -ENOENT);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "intel_iommu=on"));
	assert_null(assign_host_group_report_free(NULL));
}

static void test_group_rules(void **state)
{
	struct fake *f = *state;
	struct assign_host_group_report *rep = NULL;

	fake_driver(f, "vfio-pci");
	fake_driver(f, "pci-stub");
	fake_driver(f, "mlx5_vfio_pci");
	fake_driver(f, "shpchp");
	fake_device(f, "0000:02:00.0", 0x12341111, 0x020000, 7, "vfio-pci", NULL);
	fake_device(f, "0000:02:00.1", 0x12341111, 0x020000, 7, "pci-stub", NULL);
	fake_device(f, "0000:02:00.2", 0x15b3101e, 0x020000, 7, "mlx5_vfio_pci",
		    NULL);
	assert_int_equal(assign_host_group_report(f->ctx, 7, &rep), 0);
	assert_true(rep->viable);
	assert_int_equal(rep->n_blocking, 0);
	assign_host_group_report_free(rep);

	/* A conventional bridge bound to a driver that owns DMA: unbind. */
	fake_device(f, "0000:02:01.0", 0x12342222, 0x060400, 7, "shpchp", NULL);
	assert_int_equal(assign_host_group_report(f->ctx, 7, &rep), 0);
	assert_false(rep->viable);
	assert_int_equal(rep->members[3]->action, ASSIGN_HOST_ACTION_UNBIND);
	assert_non_null(strstr(rep->members[3]->fix, "unbind"));
	assert_non_null(strstr(rep->members[3]->reason, "bridge"));
	assign_host_group_report_free(rep);
}

struct host_thread {
	struct assign_ctx *ctx;
	const char *addr;
	int r;
	char msg[256];
};

static void *check_in_thread(void *arg)
{
	struct host_thread *h = arg;

	h->r = assign_host_check_device(h->ctx, h->addr);
	snprintf(h->msg, sizeof(h->msg), "%s",
		 assign_ctx_get_last_error(h->ctx));
	return NULL;
}

/* A failure in libassign-host is the calling thread's last error of the
 * context, like any other (test-split checks it across the two shared
 * libraries). */
static void test_host_error_per_thread(void **state)
{
	struct fake *f = *state;
	struct host_thread h = { .ctx = f->ctx, .addr = "0000:00:1f.9" };
	pthread_t t;

	assert_int_equal(assign_host_check_device(f->ctx, "not-a-device"),
			 -EINVAL);
	assert_string_equal(assign_ctx_get_last_error(f->ctx),
			    "'not-a-device' is not a PCI address; use the "
			    "form dddd:bb:dd.f as printed by lspci -D");
	assert_int_equal(pthread_create(&t, NULL, check_in_thread, &h), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(h.r, -EINVAL);
	assert_string_equal(h.msg, "'0000:00:1f.9' is not a PCI address; use "
				   "the form dddd:bb:dd.f as printed by "
				   "lspci -D");
	assert_string_equal(assign_ctx_get_last_error(f->ctx),
			    "'not-a-device' is not a PCI address; use the "
			    "form dddd:bb:dd.f as printed by lspci -D");
}

static void test_check_device(void **state)
{
	struct fake *f = *state;

	standard_host(f);
	fake_driver(f, "i801_smbus");
	fake_device(f, "0000:00:1f.0", 0x8086a304, 0x060100, 9, NULL, NULL);
	fake_device(f, "0000:00:1f.3", 0x8086a323, 0x0c0500, 9, "i801_smbus",
		    "i801_smbus");
	fake_device(f, "0000:00:1f.6", 0x808615bb, 0x020000, 9, "vfio-pci",
		    NULL);

	assert_int_equal(assign_host_check_device(f->ctx, "0000:00:1f.6"),
			 -EBUSY);
	assert_string_equal(assign_ctx_get_last_error(f->ctx),
			    "group 9 is not viable: 0000:00:1f.3 is bound to "
			    "i801_smbus; bind it to vfio-pci or unbind it "
			    "(assign-host bind/unbind), or assign-host bind "
			    "--group");
	assert_int_equal(assign_host_check_device(f->ctx, "0000:01:00.0"),
			 -ENODEV);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "bound to e1000e, not vfio-pci"));
	assert_int_equal(assign_host_check_device(f->ctx, "0000:01:00.1"),
			 -ENODEV);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "no driver"));
	assert_int_equal(assign_host_check_device(f->ctx, "0000:00:00.0"),
			 -ENOENT);
	assert_int_equal(assign_host_check_device(f->ctx, "0000:07:00.0"),
			 -ENODEV);

	/* Once the SMBus controller leaves its driver the group is fine. */
	set_driver_link(f, "0000:00:1f.3", NULL);
	assert_int_equal(assign_host_check_device(f->ctx, "0000:00:1f.6"), 0);
}

/* ---- binding and restoring -------------------------------------------- */

static void read_record(struct fake *f, const char *addr, char *buf,
			size_t size)
{
	char p[PATH_MAX], line[128];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->state, addr);
	fp = fopen(p, "r");
	assert_non_null(fp);
	buf[0] = '\0';
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, "driver", 6))
			strncat(buf, line, size - strlen(buf) - 1);
	fclose(fp);
}

static bool record_exists(struct fake *f, const char *addr)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", f->state, addr);
	return access(p, F_OK) == 0;
}

static bool node_exists(struct fake *f, int group)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/vfio/%d", f->dev, group);
	return access(p, F_OK) == 0;
}

static void test_bind_restore(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	struct assign_host_device *d = NULL;
	struct assign_host_record *hrec = NULL;
	char drv[64], rec[256];

	standard_host(f);
	opts_for(f, &o);
	/* tnic0 exists only in the fake tree, not in this network namespace:
	 * the guard lets it through. */
	assert_int_equal(assign_host_bind(f->ctx, "01:00.0", &o), 0);
	current(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "vfio-pci");
	override_of(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "vfio-pci");
	assert_int_equal(f->unbinds, 1);
	assert_int_equal(f->probes, 1);
	assert_true(node_exists(f, 5));
	read_record(f, "0000:01:00.0", rec, sizeof(rec));
	assert_string_equal(rec, "driver=e1000e\ndriver_override=\n");
	assert_int_equal(
		assign_host_record_get(f->ctx, "0000:01:00.0", &o, &hrec), 0);
	assert_string_equal(hrec->address, "0000:01:00.0");
	assert_string_equal(hrec->driver, "e1000e");
	assert_string_equal(hrec->driver_override, "");
	assert_string_equal(hrec->owner, "");
	assert_null(assign_host_record_free(hrec));
	/* The interface went away with the network driver. */
	assert_int_equal(assign_host_device_get(f->ctx, "01:00.0", &d), 0);
	assert_int_equal(d->n_netdevs, 0);
	assign_host_device_free(d);

	/* Binding again changes nothing and keeps the first record. */
	assert_int_equal(assign_host_bind(f->ctx, "01:00.0", &o), 0);
	assert_int_equal(f->probes, 1);
	read_record(f, "0000:01:00.0", rec, sizeof(rec));
	assert_string_equal(rec, "driver=e1000e\ndriver_override=\n");

	/* Group 5 is viable now: a root port, vfio-pci, an unbound device. */
	assert_int_equal(assign_host_check_device(f->ctx, "01:00.0"), 0);

	assert_int_equal(assign_host_restore(f->ctx, "0000:01:00.0", &o), 0);
	current(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "e1000e");
	override_of(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "(null)");
	assert_false(record_exists(f, "0000:01:00.0"));
	assert_false(node_exists(f, 5));
	assert_int_equal(assign_host_device_get(f->ctx, "01:00.0", &d), 0);
	assert_int_equal(d->n_netdevs, 1);
	assert_string_equal(d->netdevs[0], "tnic0");
	assign_host_device_free(d);

	assert_int_equal(assign_host_restore(f->ctx, "0000:01:00.0", &o),
			 -ENOENT);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "nothing to restore"));
}

static void test_restore_after_crash(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	struct assign_ctx *ctx2 = NULL;
	struct assign_host_record_list *recs = NULL;
	char drv[64];

	standard_host(f);
	opts_for(f, &o);
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.0", &o), 0);
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), 0);
	/* A device without a driver is recorded as "no driver". */
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.1", &o), 0);

	/* "The process died": a new context finds the records. */
	assert_int_equal(assign_ctx_new(&ctx2), 0);
	assert_int_equal(assign_ctx_set_sys(ctx2, &fake_ops, NULL, f->rootfd),
			 0);
	assert_int_equal(assign_host_records(ctx2, &o, &recs), 0);
	assert_int_equal(recs->count, 3);
	assert_string_equal(recs->addresses[0], "0000:00:02.0");
	assert_string_equal(recs->addresses[1], "0000:01:00.0");
	assert_string_equal(recs->addresses[2], "0000:01:00.1");
	for (size_t i = 0; i < recs->count; i++)
		assert_int_equal(
			assign_host_restore(ctx2, recs->addresses[i], &o), 0);
	assign_host_record_list_free(recs);
	current(f, "0000:00:02.0", drv, sizeof(drv));
	assert_string_equal(drv, "i915");
	current(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "e1000e");
	current(f, "0000:01:00.1", drv, sizeof(drv));
	assert_string_equal(drv, "");
	override_of(f, "0000:01:00.1", drv, sizeof(drv));
	assert_string_equal(drv, "(null)");
	assert_int_equal(assign_host_records(ctx2, &o, &recs), 0);
	assert_int_equal(recs->count, 0);
	assign_host_record_list_free(recs);
	assign_ctx_unref(ctx2);
}

static void test_bind_errors(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char drv[64];

	standard_host(f);
	opts_for(f, &o);

	/* No IOMMU group. */
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:00.0", &o), -ENOENT);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "IOMMU group"));
	/* No such device. */
	assert_int_equal(assign_host_bind(f->ctx, "0000:05:00.0", &o), -ENODEV);
	/* Driver not loaded. */
	o.driver = "vfio-pci-nope";
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.0", &o), -ENODEV);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "modprobe vfio-pci-nope"));
	o.driver = NULL;
	/* Bad options. */
	o.size = 1;
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.0", &o), -EINVAL);
	o.size = sizeof(o);
	o.flags = 0x80;
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.0", &o), -EINVAL);
	o.flags = 0;

	/* vfio-pci refuses the device: it goes back to e1000e, no record. */
	f->vfio_refuses = true;
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.0", &o), -EIO);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "dmesg"));
	current(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "e1000e");
	override_of(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "(null)");
	assert_false(record_exists(f, "0000:01:00.0"));
	f->vfio_refuses = false;

	/* The node never appears: -ETIMEDOUT, the device stays bound. */
	f->no_vfio_node = true;
	o.timeout_ms = 300;
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.0", &o),
			 -ETIMEDOUT);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "300 ms"));
	current(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "vfio-pci");
	assert_true(record_exists(f, "0000:01:00.0"));
	/* NO_WAIT does not look. */
	o.flags = ASSIGN_HOST_F_NO_WAIT;
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.0", &o), 0);
	o.flags = 0;
	f->no_vfio_node = false;

	/* The recorded driver is gone: restore fails, keeps the record. */
	{
		char cmd[PATH_MAX + 64];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s/bus/pci/drivers/e1000e'",
			 f->root);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(assign_host_restore(f->ctx, "0000:01:00.0", &o), -EIO);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "modprobe e1000e"));
	assert_true(record_exists(f, "0000:01:00.0"));
	fake_driver(f, "e1000e");
	assert_int_equal(assign_host_restore(f->ctx, "0000:01:00.0", &o), 0);
	current(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "e1000e");
	assert_false(record_exists(f, "0000:01:00.0"));
}

static void test_bind_group(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char drv[64];

	standard_host(f);
	opts_for(f, &o);
	/* 01:00.1 has no driver, its group sibling 01:00.0 is on e1000e. */
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.1", &o), 0);
	assert_int_equal(assign_host_check_device(f->ctx, "0000:01:00.1"),
			 -EBUSY);
	assert_int_equal(assign_host_restore(f->ctx, "0000:01:00.1", &o), 0);

	o.flags = ASSIGN_HOST_F_GROUP;
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.1", &o), 0);
	assert_int_equal(assign_host_check_device(f->ctx, "0000:01:00.1"), 0);
	current(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "vfio-pci");
	current(f, "0000:00:1c.0", drv, sizeof(drv));
	assert_string_equal(drv, "pcieport"); /* fine as it is */
	assert_true(record_exists(f, "0000:01:00.0"));
	assert_true(record_exists(f, "0000:01:00.1"));
	/* The member's record says whom it was moved for ... */
	{
		char rec[256], p[PATH_MAX], line[128];
		FILE *fp;

		snprintf(p, sizeof(p), "%s/0000:01:00.0", f->state);
		fp = fopen(p, "r");
		assert_non_null(fp);
		rec[0] = '\0';
		while (fgets(line, sizeof(line), fp))
			if (!strncmp(line, "for=", 4))
				strcat(rec, line);
		fclose(fp);
		assert_string_equal(rec, "for=0000:01:00.1\n");
	}
	/* ... so it goes back with that device. */
	assert_int_equal(assign_host_restore(f->ctx, "0000:01:00.1", &o), 0);
	assert_false(record_exists(f, "0000:01:00.0"));
	assert_false(record_exists(f, "0000:01:00.1"));
	current(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "e1000e");
	current(f, "0000:01:00.1", drv, sizeof(drv));
	assert_string_equal(drv, "");

	o.flags = ASSIGN_HOST_F_GROUP | ASSIGN_HOST_F_NO_RECORD;
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.1", &o), -EINVAL);
	o.flags = ASSIGN_HOST_F_GROUP;
	o.driver = "pci-stub";
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.1", &o), -EINVAL);
	o.driver = NULL;
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:00.0", &o), -ENOENT);
}

static void test_bind_group_rollback(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char drv[64];

	fake_driver(f, "vfio-pci");
	fake_driver(f, "i915");
	fake_driver(f, "shpchp");
	fake_device(f, "0000:06:00.0", 0x80863e92, 0x030000, 12, "i915", "i915");
	fake_device(f, "0000:06:01.0", 0x12342222, 0x060400, 12, "shpchp",
		    "shpchp");
	fake_device(f, "0000:06:02.0", 0x12341111, 0x020000, 12, NULL, NULL);
	opts_for(f, &o);
	o.flags = ASSIGN_HOST_F_GROUP;
	/* Writes: 06:00.0 override, unbind, probe; 06:01.0 unbind; then the
	 * target's override write (the 5th) fails. */
	f->fail_pwrite = 5;
	assert_int_equal(assign_host_bind(f->ctx, "0000:06:02.0", &o), -EIO);
	f->fail_pwrite = 0;
	current(f, "0000:06:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "i915");
	current(f, "0000:06:01.0", drv, sizeof(drv));
	assert_string_equal(drv, "shpchp");
	current(f, "0000:06:02.0", drv, sizeof(drv));
	assert_string_equal(drv, "");
	assert_false(record_exists(f, "0000:06:00.0"));
	assert_false(record_exists(f, "0000:06:01.0"));
	assert_false(record_exists(f, "0000:06:02.0"));

	/* Without the fault: bridge unbound, GPU on vfio-pci, target too. */
	assert_int_equal(assign_host_bind(f->ctx, "0000:06:02.0", &o), 0);
	current(f, "0000:06:01.0", drv, sizeof(drv));
	assert_string_equal(drv, "");
	assert_int_equal(assign_host_check_device(f->ctx, "0000:06:02.0"), 0);
	/* One restore puts the whole group back. */
	o.flags = 0;
	assert_int_equal(assign_host_restore(f->ctx, "0000:06:02.0", &o), 0);
	current(f, "0000:06:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "i915");
	current(f, "0000:06:01.0", drv, sizeof(drv));
	assert_string_equal(drv, "shpchp");
	assert_false(record_exists(f, "0000:06:00.0"));
}

/* A process holding /dev/vfio/N open keeps the device: restore and unbind
 * name it instead of blocking in the kernel; force goes ahead. */
static void test_in_use(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char node[PATH_MAX], drv[64];
	int pipefd[2];
	pid_t child;
	char c;

	standard_host(f);
	opts_for(f, &o);
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), 0);
	snprintf(node, sizeof(node), "%s/vfio/6", f->dev);
	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int fd = open(node, O_RDONLY);
		close(pipefd[0]);
		if (write(pipefd[1], "x", 1) != 1 || fd < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);

	assert_int_equal(assign_host_restore(f->ctx, "0000:00:02.0", &o),
			 -EBUSY);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "is open in process"));
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "vfio/6"));
	assert_true(record_exists(f, "0000:00:02.0"));
	assert_int_equal(assign_host_unbind(f->ctx, "0000:00:02.0", &o), -EBUSY);
	current(f, "0000:00:02.0", drv, sizeof(drv));
	assert_string_equal(drv, "vfio-pci");

	o.flags = ASSIGN_HOST_F_FORCE;
	assert_int_equal(assign_host_restore(f->ctx, "0000:00:02.0", &o), 0);
	current(f, "0000:00:02.0", drv, sizeof(drv));
	assert_string_equal(drv, "i915");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

static void test_no_record(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;

	standard_host(f);
	opts_for(f, &o);
	o.flags = ASSIGN_HOST_F_NO_RECORD;
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), 0);
	assert_false(record_exists(f, "0000:00:02.0"));
	assert_int_equal(assign_host_restore(f->ctx, "0000:00:02.0", &o),
			 -ENOENT);
}

static void test_unbind(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char drv[64], rec[256];

	standard_host(f);
	opts_for(f, &o);
	/* A device without a driver: nothing to do, nothing recorded. */
	assert_int_equal(assign_host_unbind(f->ctx, "0000:01:00.1", &o), 0);
	assert_false(record_exists(f, "0000:01:00.1"));

	assert_int_equal(assign_host_unbind(f->ctx, "0000:00:02.0", &o), 0);
	current(f, "0000:00:02.0", drv, sizeof(drv));
	assert_string_equal(drv, "");
	read_record(f, "0000:00:02.0", rec, sizeof(rec));
	assert_string_equal(rec, "driver=i915\ndriver_override=\n");
	/* The group (6) no longer has a blocking member. */
	assert_int_equal(assign_host_restore(f->ctx, "0000:00:02.0", &o), 0);
	current(f, "0000:00:02.0", drv, sizeof(drv));
	assert_string_equal(drv, "i915");
}

static void test_override_kept(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char drv[64];

	/* A device whose driver came from an override the admin set. */
	fake_driver(f, "vfio-pci");
	fake_driver(f, "uio_pci_generic");
	fake_device(f, "0000:04:00.0", 0x11112222, 0x010802, 3,
		    "uio_pci_generic", NULL);
	wfile(f, "devices/pci0000:00/0000:04:00.0/driver_override",
	      "uio_pci_generic\n");
	opts_for(f, &o);
	assert_int_equal(assign_host_bind(f->ctx, "0000:04:00.0", &o), 0);
	current(f, "0000:04:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "vfio-pci");
	assert_int_equal(assign_host_restore(f->ctx, "0000:04:00.0", &o), 0);
	current(f, "0000:04:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "uio_pci_generic");
	override_of(f, "0000:04:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "uio_pci_generic");
}

static void test_state_dir_env(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char dir[PATH_MAX + 8];

	standard_host(f);
	opts_for(f, &o);
	o.state_dir = NULL;
	snprintf(dir, sizeof(dir), "%s/envstate", f->root);
	setenv("ASSIGN_STATE_DIR", dir, 1);
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), 0);
	strcat(dir, "/0000:00:02.0");
	assert_int_equal(access(dir, F_OK), 0);
	assert_int_equal(assign_host_restore(f->ctx, "0000:00:02.0", &o), 0);
	assert_int_not_equal(access(dir, F_OK), 0);
	unsetenv("ASSIGN_STATE_DIR");
}

/* ---- the state directory and its records, trusted or not ------------ */

/* Write @text as the record of @addr, mode 0644. */
static void plant_record(struct fake *f, const char *addr, const char *text)
{
	char p[PATH_MAX];
	int fd;

	mkdirs(f, "run/libassign");
	snprintf(p, sizeof(p), "%s/%s", f->state, addr);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_state_dir_untrusted(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	struct assign_host_record_list *recs = NULL;
	struct assign_host_record *rec = NULL;
	char parent[PATH_MAX], drv[64], link[PATH_MAX + 8];
	unsigned unbinds;

	standard_host(f);
	opts_for(f, &o);
	snprintf(parent, sizeof(parent), "%s/run", f->root);

	/* Writable by others: refused, whatever the operation, before any
	 * sysfs write. */
	assert_int_equal(mkdir(parent, 0755), 0);
	assert_int_equal(mkdir(f->state, 0755), 0);
	assert_int_equal(chmod(f->state, 0777), 0);
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), -EPERM);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "is writable by others (mode 0777)"));
	assert_non_null(
		strstr(assign_ctx_get_last_error(f->ctx), "chmod go-w"));
	current(f, "0000:00:02.0", drv, sizeof(drv));
	assert_string_equal(drv, "i915");
	assert_int_equal(f->unbinds, 0);
	assert_int_equal(assign_host_restore(f->ctx, "0000:00:02.0", &o),
			 -EPERM);
	assert_int_equal(assign_host_records(f->ctx, &o, &recs), -EPERM);
	assert_null(recs);
	assert_int_equal(assign_host_record_get(f->ctx, "0000:00:02.0", &o,
						&rec),
			 -EPERM);
	assert_int_equal(chmod(f->state, 0775), 0);
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), -EPERM);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "writable by its group"));
	assert_int_equal(chmod(f->state, 0755), 0);

	/* A directory above it that others may rename entries in. */
	assert_int_equal(chmod(parent, 0777), 0);
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), -EPERM);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), parent));
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "without the sticky bit"));
	/* Sticky (as /tmp): only an entry's owner may rename it. */
	assert_int_equal(chmod(parent, 01777), 0);
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), 0);
	assert_int_equal(assign_host_restore(f->ctx, "0000:00:02.0", &o), 0);
	assert_int_equal(chmod(parent, 0755), 0);

	/* The state directory as a symbolic link is not followed. */
	snprintf(link, sizeof(link), "%s/link", parent);
	assert_int_equal(symlink(f->state, link), 0);
	o.state_dir = link;
	unbinds = f->unbinds;
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), -EPERM);
	assert_non_null(
		strstr(assign_ctx_get_last_error(f->ctx), "symbolic link"));
	assert_int_equal(f->unbinds, unbinds);

	/* Another user's directory (root can make one). */
	if (geteuid() == 0) {
		o.state_dir = f->state;
		assert_int_equal(chown(f->state, 65534, 65534), 0);
		assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o),
				 -EPERM);
		assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
				       "is owned by uid 65534"));
		assert_int_equal(chown(f->state, 0, 0), 0);
	}
}

/* The checks themselves, with the owners a test cannot make as any
 * user. */
static void test_state_dir_checks(void **state)
{
	struct fake *f = *state;
	struct stat st;
	uid_t other = geteuid() == 12345 ? 12346 : 12345;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFDIR | 0755;
	st.st_uid = geteuid();
	assert_int_equal(host_state_check(f->ctx, "/x/y", 0, &st), 0);
	st.st_uid = 0;
	assert_int_equal(host_state_check(f->ctx, "/x/y", 0, &st), 0);
	st.st_uid = other;
	assert_int_equal(host_state_check(f->ctx, "/x/y", 0, &st), -EPERM);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "is owned by uid 1234"));
	assert_non_null(
		strstr(assign_ctx_get_last_error(f->ctx), "cannot be trusted"));
	/* Above it: root's or ours, not writable by others unless sticky. */
	assert_int_equal(host_state_check(f->ctx, "/x/y", 1, &st), -EPERM);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "could swap the state directory"));
	st.st_uid = 0;
	st.st_mode = S_IFDIR | 01777;
	assert_int_equal(host_state_check(f->ctx, "/x/y", 1, &st), 0);
	st.st_mode = S_IFDIR | 0775;
	assert_int_equal(host_state_check(f->ctx, "/x/y", 2, &st), -EPERM);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "2 levels above /x/y"));
	st.st_mode = S_IFREG | 0755;
	assert_int_equal(host_state_check(f->ctx, "/x/y", 0, &st), -ENOTDIR);
}

/* Files in the state directory are never followed or truncated: a
 * symbolic link where the temporary record or the lock goes is not
 * written through. */
static void test_state_files_not_followed(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char tmp[PATH_MAX], target[PATH_MAX], lock[PATH_MAX];
	struct stat st;
	int fd;

	standard_host(f);
	opts_for(f, &o);
	mkdirs(f, "run/libassign");
	snprintf(target, sizeof(target), "%s/precious", f->root);
	fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	snprintf(tmp, sizeof(tmp), "%s/.0000:00:02.0.tmp.%ld", f->state,
		 (long)getpid());
	assert_int_equal(symlink(target, tmp), 0);
	snprintf(lock, sizeof(lock), "%s/.lock", f->state);
	snprintf(target, sizeof(target), "%s/created-by-root", f->root);
	assert_int_equal(symlink(target, lock), 0);

	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), 0);
	assert_true(record_exists(f, "0000:00:02.0"));
	/* The lock's target was not created; the planted file is intact. */
	assert_int_not_equal(access(target, F_OK), 0);
	snprintf(target, sizeof(target), "%s/precious", f->root);
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_size, 4);
	/* The stale temporary name is gone, the record a regular file. */
	assert_int_not_equal(access(tmp, F_OK), 0);
	assert_int_equal(assign_host_restore(f->ctx, "0000:00:02.0", &o), 0);
}

static void test_records_validated(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	struct assign_host_record *rec = NULL;
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "driver_override=\n", "no driver= line" },
		{ "driver=e1000e\ndriver=i915\n", "a key given twice" },
		{ "driver=../../evil\n", "a driver that is not a driver name" },
		{ "driver=e1000e\"}, \"x\": {\"\n",
		  "a driver that is not a driver name" },
		{ "driver=e1000e\ndriver_override=a b\n",
		  "a driver_override that is not a driver name" },
		{ "driver=e1000e\nfor=00:1c.0\n",
		  "a for= that is not a PCI address" },
		{ "driver=e1000e\nfor=0000:00:02.0\n",
		  "a for= naming the device itself" },
		{ "driver=e1000e\npid=12ab\n",
		  "a pid or time that is not a number" },
		{ "driver=e1000e\njunk\n", "a line without '='" },
	};
	char text[8192], p[PATH_MAX];
	char drv[64];

	standard_host(f);
	opts_for(f, &o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		plant_record(f, "0000:00:02.0", bad[i].text);
		assert_int_equal(assign_host_record_get(f->ctx, "0000:00:02.0",
							&o, &rec),
				 -EIO);
		assert_null(rec);
		assert_non_null(
			strstr(assign_ctx_get_last_error(f->ctx), bad[i].why));
		/* restore acts on nothing it cannot trust */
		assert_int_equal(
			assign_host_restore(f->ctx, "0000:00:02.0", &o), -EIO);
		assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
				       "not a valid record"));
		/* and bind and unbind do not take it for an earlier one */
		assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o),
				 -EIO);
		assert_int_equal(assign_host_unbind(f->ctx, "0000:00:02.0", &o),
				 -EIO);
	}
	current(f, "0000:00:02.0", drv, sizeof(drv));
	assert_string_equal(drv, "i915");
	/* Too long. */
	memset(text, '#', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	memcpy(text, "driver=i915\n", 12);
	plant_record(f, "0000:00:02.0", text);
	assert_int_equal(
		assign_host_record_get(f->ctx, "0000:00:02.0", &o, &rec), -EIO);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "more than 4096 bytes"));
	/* A symbolic link, a directory, a file others may write. */
	snprintf(p, sizeof(p), "%s/0000:00:02.0", f->state);
	unlink(p);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_int_equal(
		assign_host_record_get(f->ctx, "0000:00:02.0", &o, &rec), -EIO);
	assert_non_null(
		strstr(assign_ctx_get_last_error(f->ctx), "a symbolic link"));
	unlink(p);
	plant_record(f, "0000:00:02.0", "driver=i915\n");
	assert_int_equal(chmod(p, 0666), 0);
	assert_int_equal(
		assign_host_record_get(f->ctx, "0000:00:02.0", &o, &rec), -EIO);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "writable by its owner only"));
	/* Unknown keys of a later version and comments are fine. */
	plant_record(f, "0000:00:02.0",
		     "# comment\ndriver=i915\ndriver_override=\n"
		     "pid=1\ntime=2\nfuture=whatever\n");
	assert_int_equal(
		assign_host_record_get(f->ctx, "0000:00:02.0", &o, &rec), 0);
	assert_string_equal(rec->driver, "i915");
	assign_host_record_free(rec);
	unlink(p);
}

/* Records that name each other: a restore gives back the device and the
 * members moved for it, and stops there. */
static void test_restore_records_cycle(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char drv[64];

	standard_host(f);
	opts_for(f, &o);
	fake_driver(f, "pci-stub");
	/* All on vfio-pci, as after a group bind; then records that say
	 * 01:00.0 was moved for 01:00.1, 01:00.1 for 01:00.0, and 00:02.0
	 * for 01:00.1. */
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.0", &o), 0);
	assert_int_equal(assign_host_bind(f->ctx, "0000:01:00.1", &o), 0);
	assert_int_equal(assign_host_bind(f->ctx, "0000:00:02.0", &o), 0);
	plant_record(f, "0000:01:00.0", "driver=e1000e\nfor=0000:01:00.1\n");
	plant_record(f, "0000:01:00.1", "driver=\nfor=0000:01:00.0\n");
	plant_record(f, "0000:00:02.0", "driver=i915\nfor=0000:01:00.1\n");
	assert_int_equal(assign_host_restore(f->ctx, "0000:01:00.0", &o), 0);
	/* 01:00.0 and its member 01:00.1 are back; 00:02.0 belonged to the
	 * member, not to 01:00.0, and stays where it is. */
	current(f, "0000:01:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "e1000e");
	current(f, "0000:01:00.1", drv, sizeof(drv));
	assert_string_equal(drv, "");
	current(f, "0000:00:02.0", drv, sizeof(drv));
	assert_string_equal(drv, "vfio-pci");
	assert_true(record_exists(f, "0000:00:02.0"));
	assert_int_equal(assign_host_restore(f->ctx, "0000:00:02.0", &o), 0);
}

static void test_wait_vfio(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char node[PATH_MAX];

	opts_for(f, &o);
	o.timeout_ms = 200;
	assert_int_equal(assign_host_wait_vfio(f->ctx, 42, &o), -ETIMEDOUT);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "vfio/42"));
	snprintf(node, sizeof(node), "%s/vfio/42", f->dev);
	close(open(node, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	assert_int_equal(assign_host_wait_vfio(f->ctx, 42, &o), 0);
	assert_int_equal(assign_host_wait_vfio(f->ctx, -1, &o), -EINVAL);
}

/* Fail each sysfs write (then each sysfs open) of a bind in turn: the
 * bind either succeeds or leaves the device as it was, without a record.
 * Then the same for a restore: a failing restore keeps its record, and a
 * second restore finishes the job. */
static void test_fault_sweep(void **state)
{
	for (int phase = 0; phase < 4; phase++) {
		bool restore = phase >= 2, writes = !(phase & 1);
		bool done = false;

		for (unsigned k = 1; !done && k < 64; k++) {
			void *st = NULL;
			struct fake *f;
			struct assign_host_opts o;
			char drv[64];
			int r;

			setup(&st);
			f = st;
			standard_host(f);
			opts_for(f, &o);
			if (restore)
				assert_int_equal(assign_host_bind(
							 f->ctx, "0000:01:00.0",
							 &o),
						 0);
			if (writes)
				f->fail_pwrite = k;
			else
				f->fail_openat = k;
			if (!restore) {
				r = assign_host_bind(f->ctx, "0000:01:00.0",
						     &o);
				current(f, "0000:01:00.0", drv, sizeof(drv));
				if (r == 0) {
					assert_string_equal(drv, "vfio-pci");
					assert_true(record_exists(
						f, "0000:01:00.0"));
					assert_true(node_exists(f, 5));
				} else {
					assert_string_equal(drv, "e1000e");
					override_of(f, "0000:01:00.0", drv,
						    sizeof(drv));
					assert_string_equal(drv, "(null)");
					assert_false(record_exists(
						f, "0000:01:00.0"));
					assert_false(node_exists(f, 5));
				}
			} else {
				r = assign_host_restore(f->ctx, "0000:01:00.0",
							&o);
				if (r < 0) {
					assert_true(record_exists(
						f, "0000:01:00.0"));
					f->fail_pwrite = f->fail_openat = 0;
					assert_int_equal(
						assign_host_restore(
							f->ctx, "0000:01:00.0",
							&o),
						0);
				}
				current(f, "0000:01:00.0", drv, sizeof(drv));
				assert_string_equal(drv, "e1000e");
				override_of(f, "0000:01:00.0", drv, sizeof(drv));
				assert_string_equal(drv, "(null)");
				assert_false(record_exists(f, "0000:01:00.0"));
			}
			if (r < 0)
				assert_string_not_equal(
					assign_ctx_get_last_error(f->ctx), "");
			else
				done = (writes ? f->n_pwrite : f->n_openat) < k;
			teardown(&st);
		}
		assert_true(done);
	}
}

/* ---- against the mock kernel (tests/mock) ------------------------------ */

/* The mock's sysfs acts on bind/unbind/drivers_probe/driver_override and
 * its VFIO enforces viability: the library's verdicts must agree with what
 * opening the device through VFIO says. */
static void test_mock_bind_open(void **state)
{
	struct mock_kernel *mk = NULL;
	struct mock_device_cfg cfg;
	struct assign_ctx *ctx = NULL;
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	struct assign_host_device *hd = NULL;
	struct assign_host_opts o;
	struct assign_iommu_opts iopts = { .size = sizeof(iopts),
					   .backend = ASSIGN_IOMMU_TYPE1 };
	char dir[] = "/tmp/test-host-mock-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(mock_kernel_new(&mk), 0);
	mock_device_cfg_default(&cfg, "0000:00:03.0", 3);
	cfg.driver = "e1000e";
	cfg.vendor = 0x8086;
	cfg.device = 0x10d3;
	cfg.class_code = 0x020000;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
	mock_device_cfg_default(&cfg, "0000:00:03.1", 3);
	cfg.driver = "snd_hda_intel";
	cfg.class_code = 0x040300;
	assert_int_equal(mock_add_device(mk, &cfg), 0);
	mock_device_cfg_default(&cfg, "0000:00:04.0", 4);
	cfg.driver = "vfio-pci";
	assert_int_equal(mock_add_device(mk, &cfg), 0);
	assert_int_equal(mock_ctx_new(mk, &ctx), 0);

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.state_dir = dir;
	o.flags = ASSIGN_HOST_F_NO_WAIT; /* the mock has no /dev */

	assert_int_equal(assign_host_device_get(ctx, "0000:00:03.0", &hd), 0);
	assert_string_equal(hd->driver, "e1000e");
	assert_int_equal(hd->vendor, 0x8086);
	assert_int_equal(hd->class_code, 0x020000);
	assert_int_equal(hd->iommu_group, 3);
	hd = assign_host_device_free(hd);
	assert_int_equal(assign_host_check_device(ctx, "0000:00:04.0"), 0);
	assert_int_equal(assign_host_check_device(ctx, "0000:00:03.0"), -ENODEV);

	assert_int_equal(assign_host_bind(ctx, "0000:00:03.0", &o), 0);
	assert_int_equal(assign_host_device_get(ctx, "0000:00:03.0", &hd), 0);
	assert_string_equal(hd->driver, "vfio-pci");
	hd = assign_host_device_free(hd);

	/* 03.1 still on its host driver: both say "not viable". */
	assert_int_equal(assign_host_check_device(ctx, "0000:00:03.0"), -EBUSY);
	assert_non_null(strstr(assign_ctx_get_last_error(ctx),
			       "0000:00:03.1 is bound to snd_hda_intel"));
	/* type1: the group's viability (the mock does not model the DMA
	 * ownership claim of an iommufd bind yet). */
	assert_int_equal(assign_iommu_new(ctx, &iopts, &iommu), 0);
	assert_int_equal(assign_device_open(iommu, "0000:00:03.0", NULL, &dev),
			 -EBUSY);

	assert_int_equal(assign_host_bind(ctx, "0000:00:03.1", &o), 0);
	assert_int_equal(assign_host_check_device(ctx, "0000:00:03.0"), 0);
	assert_int_equal(assign_device_open(iommu, "0000:00:03.0", NULL, &dev),
			 0);
	/* In use: the mock's vfio-pci refuses to let go. */
	assert_int_equal(assign_host_restore(ctx, "0000:00:03.0", &o), -EBUSY);
	assert_non_null(strstr(assign_ctx_get_last_error(ctx), "in use"));
	dev = assign_device_unref(dev);
	iommu = assign_iommu_unref(iommu);

	assert_int_equal(assign_host_restore(ctx, "0000:00:03.0", &o), 0);
	assert_int_equal(assign_host_restore(ctx, "0000:00:03.1", &o), 0);
	assert_int_equal(assign_host_device_get(ctx, "0000:00:03.1", &hd), 0);
	assert_string_equal(hd->driver, "snd_hda_intel");
	assert_string_equal(hd->driver_override, "");
	hd = assign_host_device_free(hd);
	assert_int_equal(assign_host_device_get(ctx, "0000:00:03.0", &hd), 0);
	assert_string_equal(hd->driver, "e1000e");
	hd = assign_host_device_free(hd);

	assign_ctx_unref(ctx);
	mock_kernel_free(mk);
	rmdir(dir);
}

/* Mediated devices: types, instances, create and remove, on the mock's
 * mtty-like parent; and what a VMM then opens. */
static void test_mock_mdev(void **state)
{
	struct mock_kernel *mk = NULL;
	struct mock_device_cfg cfg;
	struct assign_ctx *ctx = NULL;
	struct assign_host_mdev_type_list *types = NULL;
	struct assign_host_mdev_list *list = NULL;
	struct assign_host_mdev *m = NULL, *m2 = NULL;
	struct assign_host_mdev_opts mo = { .size = sizeof(mo) };
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	char path[600], made[ASSIGN_HOST_UUID_LEN];
	const char *u0 = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001";

	(void)state;
	assert_int_equal(mock_kernel_new(&mk), 0);
	assert_int_equal(mock_ctx_new(mk, &ctx), 0);
	/* No mdev core yet: no types, no devices, and no error. */
	assert_int_equal(assign_host_mdev_types(ctx, &types), 0);
	assert_int_equal(types->count, 0);
	types = assign_host_mdev_type_list_free(types);
	mock_device_cfg_default(&cfg, u0, 20);
	cfg.bus = "mdev";
	cfg.driver = "mtty";
	assert_int_equal(mock_add_device(mk, &cfg), 0);

	assert_int_equal(assign_host_mdev_types(ctx, &types), 0);
	assert_int_equal(types->count, 1);
	assert_string_equal(types->types[0].parent, "mtty");
	assert_string_equal(types->types[0].type, "mtty-1");
	assert_string_equal(types->types[0].name, "Single port serial");
	assert_string_equal(types->types[0].device_api, "vfio-pci");
	assert_int_equal(types->types[0].available, 23);
	assert_int_equal(types->types[0].n_instances, 1);
	types = assign_host_mdev_type_list_free(types);

	/* Made with a UUID of ours, and with a random one. */
	mo.uuid = "83B8F4F2-509F-382F-3C1E-E6BFE0FA1002";
	assert_int_equal(assign_host_mdev_create(ctx, "mtty-1", &mo, &m), 0);
	assert_string_equal(m->uuid, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002");
	assert_string_equal(m->parent, "mtty");
	assert_string_equal(m->type, "mtty-1");
	assert_string_equal(m->driver, "mtty");
	assert_true(m->iommu_group >= 0);
	assert_string_not_equal(m->vfio_cdev, "");
	mo.uuid = NULL;
	assert_int_equal(assign_host_mdev_create(ctx, "mtty-1", &mo, &m2), 0);
	assert_int_equal(strlen(m2->uuid), 36);
	assert_int_equal(m2->uuid[14], '4'); /* version 4 */
	snprintf(made, sizeof(made), "%s", m2->uuid);
	m2 = assign_host_mdev_free(m2);
	assert_int_equal(assign_host_mdev_list(ctx, &list), 0);
	assert_int_equal(list->count, 3);
	list = assign_host_mdev_list_free(list);

	/* Refusals. */
	assert_int_equal(assign_host_mdev_create(ctx, "mtty-7", NULL, NULL),
			 -ENOENT);
	assert_non_null(strstr(assign_ctx_get_last_error(ctx),
			       "no parent offers mdev type mtty-7 (the types "
			       "there are: mtty-1)"));
	mo.parent = "i915";
	assert_int_equal(assign_host_mdev_create(ctx, "mtty-1", &mo, NULL),
			 -ENOENT);
	mo.parent = NULL;
	mo.uuid = "nope";
	assert_int_equal(assign_host_mdev_create(ctx, "mtty-1", &mo, NULL),
			 -EINVAL);
	mo.uuid = m->uuid;
	assert_int_equal(assign_host_mdev_create(ctx, "mtty-1", &mo, NULL),
			 -EEXIST);
	mo.uuid = NULL;
	snprintf(path, sizeof(path),
		 "%s/class/mdev_bus/mtty/mdev_supported_types/mtty-1/"
		 "available_instances",
		 mock_sysfs_root(mk));
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs("0\n", f);
		fclose(f);
	}
	assert_int_equal(assign_host_mdev_create(ctx, "mtty-1", &mo, NULL),
			 -ENOSPC);
	assert_non_null(strstr(assign_ctx_get_last_error(ctx),
			       "no instance of mtty-1 left"));

	/* What a VMM opens, by path; and not removed while open. */
	assert_int_equal(assign_iommu_new(ctx, NULL, &iommu), 0);
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s", m->uuid);
	assert_int_equal(assign_device_open(iommu, path, NULL, &dev), 0);
	assert_int_equal(assign_host_mdev_remove(ctx, m->uuid, NULL), -EBUSY);
	dev = assign_device_unref(dev);
	iommu = assign_iommu_unref(iommu);
	assert_int_equal(assign_host_mdev_get(ctx, path, &m2), 0);
	assert_string_equal(m2->uuid, m->uuid);
	m2 = assign_host_mdev_free(m2);
	assert_int_equal(assign_host_mdev_remove(ctx, path, NULL), 0);
	assert_int_equal(assign_host_mdev_get(ctx, m->uuid, &m2), -ENODEV);
	assert_int_equal(assign_host_mdev_remove(ctx, made, NULL), 0);
	assert_int_equal(assign_host_mdev_remove(ctx, "0000:00:03.0", NULL),
			 -ENODEV);
	assert_int_equal(assign_host_mdev_list(ctx, &list), 0);
	assert_int_equal(list->count, 1);
	assert_string_equal(list->mdevs[0].uuid, u0);
	list = assign_host_mdev_list_free(list);
	m = assign_host_mdev_free(m);
	assign_ctx_unref(ctx);
	assert_int_equal(mock_open_fds(mk), 0);
	mock_kernel_free(mk);
}

/* ---- netdev guard and VF settings, for real in a network namespace ----- */

static bool g_netns;

static int sh(const char *cmd)
{
	char full[512];

	snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
	return system(full);
}

static void need_netns(void)
{
	static bool tried;

	if (!tried) {
		tried = true;
		if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0 &&
		    sh("ip link add v0 type veth peer name v1") == 0 &&
		    sh("ip link set v1 up") == 0)
			g_netns = true;
	}
	if (!g_netns)
		skip();
}

static void test_netdev_guard(void **state)
{
	struct fake *f = *state;
	struct assign_host_opts o;
	char drv[64];
	const char *msg;

	need_netns();
	fake_driver(f, "veth-ish");
	fake_driver(f, "vfio-pci");
	fake_device(f, "0000:05:00.0", 0x808610d3, 0x020000, 11, "veth-ish",
		    "veth-ish");
	fake_netdev(f, "0000:05:00.0", "v0");
	opts_for(f, &o);

	/* Down, no address: fine. */
	assert_int_equal(sh("ip link set v0 down"), 0);
	assert_int_equal(assign_host_netdev_check(f->ctx, "0000:05:00.0"), 0);
	/* Up without addresses (IPv6 link-local only): fine. */
	assert_int_equal(sh("ip link set v0 up"), 0);
	assert_int_equal(assign_host_netdev_check(f->ctx, "0000:05:00.0"), 0);
	/* Up with an address and a route: refused, named. */
	assert_int_equal(sh("ip addr add 10.77.0.1/24 dev v0"), 0);
	assert_int_equal(sh("ip route add 10.88.0.0/16 via 10.77.0.2"), 0);
	assert_int_equal(assign_host_netdev_check(f->ctx, "0000:05:00.0"),
			 -EBUSY);
	msg = assign_ctx_get_last_error(f->ctx);
	assert_non_null(strstr(msg, "v0 of 0000:05:00.0 is up with"));
	assert_non_null(strstr(msg, "10.77.0.1/24"));
	assert_non_null(strstr(msg, "10.88.0.0/16 via 10.77.0.2"));
	assert_non_null(strstr(msg, "ip link set v0 down"));

	assert_int_equal(assign_host_bind(f->ctx, "0000:05:00.0", &o), -EBUSY);
	current(f, "0000:05:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "veth-ish");
	assert_false(record_exists(f, "0000:05:00.0"));
	assert_int_equal(assign_host_unbind(f->ctx, "0000:05:00.0", &o), -EBUSY);

	/* Forced: taken. */
	o.flags = ASSIGN_HOST_F_FORCE;
	assert_int_equal(assign_host_bind(f->ctx, "0000:05:00.0", &o), 0);
	current(f, "0000:05:00.0", drv, sizeof(drv));
	assert_string_equal(drv, "vfio-pci");
	assert_int_equal(assign_host_restore(f->ctx, "0000:05:00.0", &o), 0);

	/* Routes alone count too. */
	assert_int_equal(sh("ip addr flush dev v0"), 0);
	assert_int_equal(assign_host_netdev_check(f->ctx, "0000:05:00.0"), 0);
	assert_int_equal(sh("ip route add 10.99.0.0/16 dev v0"), 0);
	assert_int_equal(assign_host_netdev_check(f->ctx, "0000:05:00.0"),
			 -EBUSY);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "1 route"));
	assert_int_equal(sh("ip link set v0 down"), 0);
	assert_int_equal(assign_host_netdev_check(f->ctx, "0000:05:00.0"), 0);
}

static void test_vf_config(void **state)
{
	struct fake *f = *state;
	struct assign_host_vf_config cfg = { .size = sizeof(cfg) };

	sriov_host(f);
	/* Argument checks need no netlink. */
	cfg.set = ASSIGN_HOST_VF_F_VLAN;
	cfg.vlan = 4096;
	assert_int_equal(assign_host_vf_configure(f->ctx, "03:10.0", &cfg),
			 -EINVAL);
	cfg.vlan = 100;
	cfg.qos = 8;
	assert_int_equal(assign_host_vf_configure(f->ctx, "03:10.0", &cfg),
			 -EINVAL);
	cfg.qos = 0;
	cfg.set = ASSIGN_HOST_VF_F_MAC;
	memcpy(cfg.mac, "\x01\x02\x03\x04\x05\x06", 6);
	assert_int_equal(assign_host_vf_configure(f->ctx, "03:10.0", &cfg),
			 -EINVAL);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "multicast"));
	cfg.set = 1u << 9;
	assert_int_equal(assign_host_vf_configure(f->ctx, "03:10.0", &cfg),
			 -EINVAL);
	cfg.set = 0;
	assert_int_equal(assign_host_vf_configure(f->ctx, "03:10.0", &cfg),
			 -EINVAL);
	assert_int_equal(assign_host_vf_configure(f->ctx, "03:10.0", NULL),
			 -EINVAL);
	memcpy(cfg.mac, "\x52\x54\x00\x12\x34\x56", 6);
	cfg.set = ASSIGN_HOST_VF_F_MAC | ASSIGN_HOST_VF_F_VLAN |
		  ASSIGN_HOST_VF_F_SPOOFCHK | ASSIGN_HOST_VF_F_TRUST |
		  ASSIGN_HOST_VF_F_LINK_STATE;
	cfg.vlan = 100;
	cfg.qos = 3;
	cfg.spoofchk = true;
	cfg.link_state = ASSIGN_HOST_VF_LINK_ENABLE;
	/* Not a VF. */
	assert_int_equal(assign_host_vf_configure(f->ctx, "03:00.0", &cfg),
			 -ENODEV);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "not an SR-IOV VF"));
	/* The PF has no interface. */
	assert_int_equal(assign_host_vf_configure(f->ctx, "03:10.2", &cfg),
			 -ENODEV);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx),
			       "has no network interface"));
}

static void test_vf_config_netlink(void **state)
{
	struct fake *f = *state;
	struct assign_host_vf_config cfg = { .size = sizeof(cfg) };
	int r;

	need_netns();
	sriov_host(f);
	/* The PF's interface is a veth: the kernel parses the VF request and
	 * answers that the driver has no VF support. */
	fake_netdev(f, "0000:03:00.0", "v1");
	memcpy(cfg.mac, "\x52\x54\x00\x12\x34\x56", 6);
	cfg.set = ASSIGN_HOST_VF_F_MAC | ASSIGN_HOST_VF_F_VLAN;
	cfg.vlan = 100;
	r = assign_host_vf_configure(f->ctx, "0000:03:10.2", &cfg);
	assert_int_equal(r, -EOPNOTSUPP);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "v1"));
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "VF 1"));

	/* By interface name. */
	assert_int_equal(assign_host_vf_configure_netdev(f->ctx, "v1", 0, &cfg),
			 -EOPNOTSUPP);
	assert_int_equal(assign_host_vf_configure_netdev(f->ctx, "nosuch0", 0,
							 &cfg),
			 -ENODEV);
	assert_int_equal(assign_host_vf_configure_netdev(f->ctx, "a/b", 0, &cfg),
			 -EINVAL);
	/* Read back: a veth has no VFs to report. */
	struct assign_host_vf_config got = { .size = sizeof(got) };
	assert_int_equal(assign_host_vf_get(f->ctx, "v1", 0, &got), -ENOENT);
	assert_non_null(strstr(assign_ctx_get_last_error(f->ctx), "no VF 0"));
	assert_int_equal(assign_host_vf_get(f->ctx, "nosuch0", 0, &got),
			 -ENODEV);
	got.size = 0;
	assert_int_equal(assign_host_vf_get(f->ctx, "v1", 0, &got), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_device_get),
		T(test_list),
		T(test_list_empty_bus),
		T(test_sriov_discovery),
		T(test_sriov_numvfs),
		T(test_group_report),
		T(test_group_rules),
		T(test_check_device),
		T(test_host_error_per_thread),
		T(test_bind_restore),
		T(test_restore_after_crash),
		T(test_bind_errors),
		T(test_no_record),
		T(test_in_use),
		T(test_bind_group),
		T(test_bind_group_rollback),
		T(test_unbind),
		T(test_override_kept),
		T(test_state_dir_env),
		T(test_state_dir_untrusted),
		T(test_state_dir_checks),
		T(test_state_files_not_followed),
		T(test_records_validated),
		T(test_restore_records_cycle),
		T(test_wait_vfio),
		cmocka_unit_test(test_fault_sweep),
		cmocka_unit_test(test_mock_bind_open),
		cmocka_unit_test(test_mock_mdev),
		T(test_vf_config),
		T(test_netdev_guard),
		T(test_vf_config_netlink),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
