// SPDX-License-Identifier: MIT
/*
 * Binding through driver_override + drivers_probe, unbinding, and
 * restoring what a state record (records.c) says, so that a device gets
 * its driver back even after the process that took it died; and waiting
 * for /dev/vfio/N with a udev monitor. The struct assign_host_opts of
 * these calls and of the record calls is read here (host_opts_get()).
 *
 * sysfs is written through the seam (relative to ctx->sysfs_fd). The /dev
 * check and the look at /proc for users of a VFIO device are not kernel
 * objects the seam could fake, and use libc directly.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libudev.h>

#include "core/sys.h"
#include "host/host.h"

#define DEFAULT_STATE_DIR "/run/libassign"
#define DEFAULT_TIMEOUT_MS 5000

int host_opts_get(struct assign_ctx *ctx, const struct assign_host_opts *opts,
		  struct host_opts *out)
{
	struct assign_host_opts o;
	const char *env;
	int r;

	r = SIZED_IN(ctx, &o, opts, "assign_host_opts");
	if (r < 0)
		return r;
	if (o.flags & ~(ASSIGN_HOST_F_FORCE | ASSIGN_HOST_F_NO_WAIT |
			ASSIGN_HOST_F_NO_RECORD | ASSIGN_HOST_F_GROUP))
		return set_error(ctx, -EINVAL,
				 "unknown assign_host_opts flags 0x%x",
				 o.flags);
	if ((o.flags & ASSIGN_HOST_F_GROUP) && (o.flags & ASSIGN_HOST_F_NO_RECORD))
		return set_error(ctx, -EINVAL,
				 "ASSIGN_HOST_F_GROUP needs state records to undo "
				 "a partial group; drop ASSIGN_HOST_F_NO_RECORD");
	out->flags = o.flags;
	out->driver = o.driver && *o.driver ? o.driver : "vfio-pci";
	if (strchr(out->driver, '/') || strlen(out->driver) >= ASSIGN_HOST_NAME_LEN)
		return set_error(ctx, -EINVAL, "'%s' is not a driver name",
				 out->driver);
	out->timeout_ms = o.timeout_ms ? o.timeout_ms : DEFAULT_TIMEOUT_MS;
	/* Not from the environment of a setuid or otherwise elevated
	 * process: whoever started it would choose the records root acts
	 * on. */
	env = secure_getenv("ASSIGN_STATE_DIR");
	out->state_dir = o.state_dir ? o.state_dir
			 : env && *env ? env
				       : DEFAULT_STATE_DIR;
	out->dev_dir = o.dev_dir ? o.dev_dir : "/dev";
	out->owner = NULL;
	out->state_fd = -1;
	return 0;
}

/* The canonical form of @address and the effective options: what every
 * entry point taking a device address starts with. */
int host_addr_opts(struct assign_ctx *ctx, const char *address,
		   const struct assign_host_opts *opts,
		   char addr[ASSIGN_PCI_ADDR_LEN], struct host_opts *o)
{
	int r;

	r = host_canon_addr(ctx, address, addr);
	if (r < 0)
		return r;
	return host_opts_get(ctx, opts, o);
}

/* ---- waiting for /dev/vfio/N ------------------------------------------ */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A udev monitor of the vfio subsystem, NULL without one. With a udev
 * daemon it waits until the daemon has processed the event (permissions
 * set); without one (initramfs, containers), devtmpfs creates the node
 * before the kernel's uevent. */
static struct udev_monitor *vfio_monitor(struct udev *udev)
{
	struct udev_monitor *mon;
	const char *src;

	if (!udev)
		return NULL;
	src = access("/run/udev/control", F_OK) == 0 ? "udev" : "kernel";
	mon = udev_monitor_new_from_netlink(udev, src);
	if (mon && (udev_monitor_filter_add_match_subsystem_devtype(mon, "vfio",
								    NULL) < 0 ||
		    udev_monitor_enable_receiving(mon) < 0)) {
		udev_monitor_unref(mon);
		mon = NULL;
	}
	return mon;
}

/* Read (and trace) the events the monitor has queued. */
static void monitor_drain(struct assign_ctx *ctx, struct udev_monitor *mon)
{
	struct udev_device *ud;

	while ((ud = udev_monitor_receive_device(mon))) {
		dbg(ctx, "udev: %s %s", udev_device_get_action(ud) ?: "?",
		    udev_device_get_syspath(ud) ?: "?");
		udev_device_unref(ud);
	}
}

/* Poll until @node exists or the deadline (0: none) passes. */
static int poll_node(struct assign_ctx *ctx, const struct host_opts *o,
		     const char *node, struct udev_monitor *mon)
{
	int fd = mon ? udev_monitor_get_fd(mon) : -1;
	long long deadline = 0;

	if (o->timeout_ms > 0)
		deadline = now_ms() + o->timeout_ms;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left;
		int slice = 250;

		/* Checked after the monitor is set up, so no event is lost
		 * between the check and the poll; the slice only guards
		 * against a udev that never sends the event. */
		if (access(node, F_OK) == 0)
			return 0;
		if (o->timeout_ms > 0) {
			left = deadline - now_ms();
			if (left <= 0)
				return set_error(ctx, -ETIMEDOUT,
						 "%s did not appear within %d "
						 "ms; is vfio-pci loaded and "
						 "the device bound to it? (see "
						 "dmesg)",
						 node, o->timeout_ms);
			if (left < slice)
				slice = (int)left;
		}
		if (poll(&pfd, fd >= 0 ? 1 : 0, slice) > 0 && mon)
			monitor_drain(ctx, mon);
	}
}

static int wait_node(struct assign_ctx *ctx, const struct host_opts *o,
		     int group)
{
	struct udev_monitor *mon;
	struct udev *udev;
	char node[512];
	int r;

	snprintf(node, sizeof(node), "%s/vfio/%d", o->dev_dir, group);
	if (access(node, F_OK) == 0)
		return 0;
	udev = udev_new();
	mon = vfio_monitor(udev);
	if (!mon)
		dbg(ctx, "no udev monitor; checking %s periodically", node);
	r = poll_node(ctx, o, node, mon);
	udev_monitor_unref(mon);
	udev_unref(udev);
	return r;
}

ASSIGN_EXPORT int assign_host_wait_vfio(struct assign_ctx *ctx, int group,
					const struct assign_host_opts *opts)
{
	struct host_opts o;
	int r;

	if (!ctx || group < 0)
		return -EINVAL;
	r = host_opts_get(ctx, opts, &o);
	if (r < 0)
		return r;
	return wait_node(ctx, &o, group);
}

/* ---- bind / unbind / restore ------------------------------------------ */

static int dev_path(char *buf, size_t size, const char *addr, const char *attr)
{
	int n = snprintf(buf, size, "bus/pci/devices/%s/%s", addr, attr);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int sysfs_err(struct assign_ctx *ctx, int r, const char *what,
		     const char *path)
{
	if (r == -EACCES || r == -EPERM)
		return set_error(ctx, r,
				 "%s: permission denied writing /sys/%s; run "
				 "as root",
				 what, path);
	return set_error(ctx, r, "%s: writing /sys/%s failed: %s", what, path,
			 strerror(-r));
}

static int write_override(struct assign_ctx *ctx, const char *addr,
			  const char *val)
{
	char path[160];

	dev_path(path, sizeof(path), addr, "driver_override");
	/* "\n" clears the override (the kernel's rule for an empty write). */
	return sysfs_write(ctx, path, val && *val ? val : "\n");
}

/* write_override(), failing with a message that @what names. */
static int set_override(struct assign_ctx *ctx, const char *addr,
			const char *val, const char *what)
{
	char path[160];
	int r;

	r = write_override(ctx, addr, val);
	if (r < 0) {
		dev_path(path, sizeof(path), addr, "driver_override");
		return sysfs_err(ctx, r, what, path);
	}
	return 0;
}

static int unbind_from(struct assign_ctx *ctx, const char *addr,
		       const char *driver)
{
	char path[160];
	int r;

	snprintf(path, sizeof(path), "bus/pci/drivers/%s/unbind", driver);
	r = sysfs_write(ctx, path, addr);
	if (r == -ENODEV || r == -ENOENT) {
		/* Unbound meanwhile. */
		char now[ASSIGN_HOST_NAME_LEN];
		if (pci_dev_driver(ctx, addr, now, sizeof(now)) == 0 && !now[0])
			return 0;
	}
	if (r == -EBUSY)
		return set_error(ctx, r,
				 "%s will not let go of %s: the device is in "
				 "use (open through VFIO by a VMM?); stop its "
				 "user first",
				 driver, addr);
	if (r < 0)
		return sysfs_err(ctx, r, "unbinding the current driver", path);
	return 0;
}

/* Is a process (other than this one) holding @node open? Returns its pid
 * and fills @comm, 0 if none. Reads /proc directly: processes are not a
 * sysfs object the seam could fake. */
pid_t host_node_user(const char *node, char *comm, size_t size)
{
	pid_t self = getpid(), found = 0;
	struct dirent *pe;
	DIR *proc;

	proc = opendir("/proc");
	if (!proc)
		return 0;
	while (!found && (pe = readdir(proc))) {
		char fddir[64], link[600];
		struct dirent *fe;
		char *end;
		long pid;
		DIR *fds;

		pid = strtol(pe->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		snprintf(fddir, sizeof(fddir), "/proc/%ld/fd", pid);
		fds = opendir(fddir);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			ssize_t n = readlinkat(dirfd(fds), fe->d_name, link,
					       sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (!strcmp(link, node)) {
				found = (pid_t)pid;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	if (found) {
		char p[64];
		FILE *f;

		snprintf(p, sizeof(p), "/proc/%ld/comm", (long)found);
		comm[0] = '\0';
		if ((f = fopen(p, "re"))) {
			if (fgets(comm, (int)size, f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
	}
	return found;
}

/* Unbinding vfio-pci from a device a process has open blocks in the
 * kernel until that process lets go (vfio-pci sends it a request
 * interrupt meanwhile): refuse instead, naming the process. */
static int check_vfio_users(struct assign_ctx *ctx, const struct host_opts *o,
			    const char *addr, const char *cur)
{
	char node[600], comm[64], path[160], **ents = NULL;
	size_t cnt = 0;
	pid_t pid = 0;
	int group;

	if (pci_driver_kind(cur) != PCI_DRIVER_VFIO || (o->flags & ASSIGN_HOST_F_FORCE))
		return 0;
	group = pci_dev_group(ctx, addr);
	if (group >= 0) {
		snprintf(node, sizeof(node), "%s/vfio/%d", o->dev_dir, group);
		pid = host_node_user(node, comm, sizeof(comm));
	}
	snprintf(path, sizeof(path), "bus/pci/devices/%s/vfio-dev", addr);
	if (!pid && sysfs_list(ctx, path, &ents, &cnt) == 0) {
		for (size_t i = 0; i < cnt && !pid; i++) {
			snprintf(node, sizeof(node), "%s/vfio/devices/%s",
				 o->dev_dir, ents[i]);
			pid = host_node_user(node, comm, sizeof(comm));
		}
		strv_free(ents, cnt);
	}
	if (!pid)
		return 0;
	return set_error(ctx, -EBUSY,
			 "%s is in use: %s is open in process %ld (%s); stop "
			 "it first, or force (the kernel then waits for it to "
			 "let go)",
			 addr, node, (long)pid, comm[0] ? comm : "?");
}

static int current_driver(struct assign_ctx *ctx, const char *addr, char *buf,
			  size_t size)
{
	int r = pci_dev_driver(ctx, addr, buf, size);

	if (r < 0)
		return set_error(ctx, r, "cannot read the driver of %s: %s",
				 addr, strerror(-r));
	return 0;
}

/* @addr's IOMMU group, or -ENOENT with the fix when it has none. */
static int vfio_group_of(struct assign_ctx *ctx, const char *addr)
{
	int group = pci_dev_group(ctx, addr);

	if (group < 0)
		return set_error(ctx, -ENOENT,
				 "%s has no IOMMU group, so vfio-pci cannot "
				 "take it; boot with intel_iommu=on or "
				 "amd_iommu=on",
				 addr);
	return group;
}

/* Bind @addr to @driver: explicitly through its bind file, else through
 * drivers_probe (which honours driver_override). */
static int probe_to(struct assign_ctx *ctx, const char *addr,
		    const char *driver, bool explicit_bind)
{
	char path[160], now[ASSIGN_HOST_NAME_LEN];
	int r = -1;

	if (explicit_bind) {
		snprintf(path, sizeof(path), "bus/pci/drivers/%s/bind", driver);
		r = sysfs_write(ctx, path, addr);
		if (r < 0)
			dbg(ctx, "bind via %s: %s", path, strerror(-r));
	}
	if (r < 0) {
		r = sysfs_write(ctx, "bus/pci/drivers_probe", addr);
		if (r < 0)
			dbg(ctx, "drivers_probe for %s: %s", addr,
			    strerror(-r));
	}
	if (pci_dev_driver(ctx, addr, now, sizeof(now)) < 0)
		return -EIO;
	if (strcmp(now, driver))
		return r == -EACCES || r == -EPERM ? r : -EIO;
	return 0;
}

/* Binding one device does not make its group viable when other members
 * keep host drivers: say so now rather than at VFIO_GROUP_GET_STATUS. */
static void warn_not_viable(struct assign_ctx *ctx, int group)
{
	struct assign_host_group_report *rep = NULL;
	char saved[ASSIGN_ERROR_MAX];

	if (!assign_log_enabled(ctx, LOG_WARNING))
		return;
	assign_error_save(ctx, saved);
	if (assign_host_group_report(ctx, group, &rep) == 0) {
		for (size_t i = 0; i < rep->n_members; i++)
			if (rep->members[i]->blocks)
				warn(ctx,
				     "group %d is not viable yet: %s is bound "
				     "to %s; %s",
				     group, rep->members[i]->address,
				     rep->members[i]->driver,
				     rep->members[i]->action ==
						     ASSIGN_HOST_ACTION_UNBIND ?
					     "unbind it" :
					     "bind it to vfio-pci or unbind "
					     "it");
	}
	assign_host_group_report_free(rep);
	assign_error_restore(ctx, saved);
}

static int bind_one(struct assign_ctx *ctx, const char *addr,
		    const struct host_opts *o);
static int unbind_locked(struct assign_ctx *ctx, const char *addr,
			 const struct host_opts *oo);
static int restore_one(struct assign_ctx *ctx, const char *addr,
		       const struct host_opts *oo);

/* Clear the other blocking members of @addr's group, then bind @addr; on
 * failure restore the members done. */
static int bind_group(struct assign_ctx *ctx, const char *addr, int group,
		      const struct host_opts *o)
{
	struct assign_host_group_report *rep = NULL;
	struct host_opts mo = *o;
	size_t done = 0;
	bool *did;
	int r;

	r = assign_host_group_report(ctx, group, &rep);
	if (r < 0)
		return r;
	did = calloc(rep->n_members + 1, sizeof(*did));
	if (!did) {
		assign_host_group_report_free(rep);
		return set_error(ctx, -ENOMEM, "out of memory");
	}
	mo.flags &= ~ASSIGN_HOST_F_GROUP;
	mo.flags |= ASSIGN_HOST_F_NO_WAIT;
	mo.owner = addr;
	for (size_t i = 0; i < rep->n_members; i++) {
		const struct assign_host_member *m = rep->members[i];

		if (!m->blocks || !strcmp(m->address, addr))
			continue;
		if (m->action == ASSIGN_HOST_ACTION_UNBIND) {
			struct host_opts uo = mo;

			uo.flags &= ASSIGN_HOST_F_FORCE;
			r = unbind_locked(ctx, m->address, &uo);
		} else {
			r = bind_one(ctx, m->address, &mo);
		}
		if (r < 0)
			break;
		did[i] = true;
		done++;
	}
	/* The device itself, last: the group is viable by then. */
	if (r >= 0) {
		mo.flags = o->flags & ~ASSIGN_HOST_F_GROUP;
		mo.owner = NULL;
		r = bind_one(ctx, addr, &mo);
	}
	if (r < 0 && done) {
		char saved[ASSIGN_ERROR_MAX];
		struct host_opts ro = mo;

		ro.flags = 0;
		assign_error_save(ctx, saved);
		for (size_t i = 0; i < rep->n_members; i++)
			if (did[i])
				restore_one(ctx, rep->members[i]->address, &ro);
		assign_error_restore(ctx, saved);
	}
	if (r >= 0 && done)
		notice(ctx, "group %d: %zu other member%s cleared for %s",
		       group, done, done == 1 ? "" : "s", addr);
	free(did);
	assign_host_group_report_free(rep);
	return r < 0 ? r : 0;
}

static int bind_locked(struct assign_ctx *ctx, const char *addr,
		       const struct host_opts *oo)
{
	struct host_opts o = *oo;
	int r;

	if (o.flags & ASSIGN_HOST_F_GROUP) {
		int group;

		if (pci_driver_kind(o.driver) != PCI_DRIVER_VFIO)
			return set_error(ctx, -EINVAL,
					 "ASSIGN_HOST_F_GROUP binds to vfio-pci, "
					 "not %s",
					 o.driver);
		r = host_check_exists(ctx, addr);
		if (r < 0)
			return r;
		group = vfio_group_of(ctx, addr);
		if (group < 0)
			return group;
		return bind_group(ctx, addr, group, &o);
	}
	return bind_one(ctx, addr, &o);
}

/* @addr exists and @driver is loaded; for vfio-pci *group is @addr's
 * IOMMU group. */
static int bind_check(struct assign_ctx *ctx, const char *addr,
		      const char *driver, bool vfio, int *group)
{
	char path[160];
	int r;

	r = host_check_exists(ctx, addr);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "bus/pci/drivers/%s", driver);
	if (sysfs_exists(ctx, path) < 0)
		return set_error(ctx, -ENODEV,
				 "driver %s is not loaded; run 'modprobe %s'",
				 driver, driver);
	if (!vfio)
		return 0;
	*group = vfio_group_of(ctx, addr);
	return *group < 0 ? *group : 0;
}

/* Record the driver @addr had before its first change; *recorded says
 * whether this call wrote the record. An older record is kept: it knows
 * the first driver. */
static int bind_record(struct assign_ctx *ctx, const struct host_opts *o,
		       const char *addr, const char *cur, const char *override,
		       bool *recorded)
{
	struct host_record rec;
	int r;

	if (o->flags & ASSIGN_HOST_F_NO_RECORD)
		return 0;
	r = host_record_read_msg(ctx, o, addr, &rec,
				 "remove it or restore by hand");
	if (r == -ENOENT) {
		r = host_record_create(ctx, o, addr, cur, override);
		*recorded = r == 0;
		return r;
	}
	return r < 0 ? r : 0;
}

/* A failed probe: driver_override back to @override, and @addr back to
 * @cur (away from any driver that took it meanwhile). */
static void bind_undo(struct assign_ctx *ctx, const char *addr, const char *cur,
		      const char *override)
{
	char now[ASSIGN_HOST_NAME_LEN];

	write_override(ctx, addr, override);
	if (!cur[0])
		return;
	if (pci_dev_driver(ctx, addr, now, sizeof(now)) == 0 && now[0] &&
	    strcmp(now, cur))
		unbind_from(ctx, addr, now);
	probe_to(ctx, addr, cur, true);
}

/* Move @addr from @cur to o->driver: driver_override, unbind, probe.
 * On failure what was done is undone. */
static int bind_switch(struct assign_ctx *ctx, const struct host_opts *o,
		       const char *addr, const char *cur, const char *override)
{
	int r;

	r = set_override(ctx, addr, o->driver, "setting driver_override");
	if (r < 0)
		return r;
	if (cur[0]) {
		r = unbind_from(ctx, addr, cur);
		if (r < 0) {
			write_override(ctx, addr, override);
			return r;
		}
	}
	r = probe_to(ctx, addr, o->driver, false);
	if (r == -EACCES || r == -EPERM)
		r = sysfs_err(ctx, r, "probing", "bus/pci/drivers_probe");
	else if (r < 0)
		r = set_error(ctx, -EIO, "%s did not take %s (see dmesg); %s",
			      o->driver, addr,
			      cur[0] ? "gave it back to its driver" :
				       "left it without a driver");
	if (r < 0)
		bind_undo(ctx, addr, cur, override);
	return r;
}

/* vfio-pci: wait for /dev/vfio/N unless told not to. */
static int bind_wait(struct assign_ctx *ctx, const struct host_opts *o,
		     bool vfio, int group)
{
	if (vfio && !(o->flags & ASSIGN_HOST_F_NO_WAIT))
		return wait_node(ctx, o, group);
	return 0;
}

static int bind_one(struct assign_ctx *ctx, const char *addr,
		    const struct host_opts *o)
{
	char cur[ASSIGN_HOST_NAME_LEN], override[ASSIGN_HOST_NAME_LEN];
	bool recorded = false, vfio;
	int r, group = -1;

	vfio = pci_driver_kind(o->driver) == PCI_DRIVER_VFIO;
	r = bind_check(ctx, addr, o->driver, vfio, &group);
	if (r < 0)
		return r;
	r = current_driver(ctx, addr, cur, sizeof(cur));
	if (r < 0)
		return r;
	if (!strcmp(cur, o->driver)) {
		info(ctx, "%s is already bound to %s", addr, o->driver);
		return bind_wait(ctx, o, vfio, group);
	}
	if (cur[0] && !(o->flags & ASSIGN_HOST_F_FORCE)) {
		r = assign_host_netdev_check(ctx, addr);
		if (r < 0)
			return r;
	}
	r = check_vfio_users(ctx, o, addr, cur);
	if (r < 0)
		return r;
	host_read_override(ctx, addr, override, sizeof(override));
	r = bind_record(ctx, o, addr, cur, override, &recorded);
	if (r < 0)
		return r;
	r = bind_switch(ctx, o, addr, cur, override);
	if (r < 0) {
		if (recorded)
			host_record_remove(o, addr);
		return r;
	}
	notice(ctx, "%s: %s -> %s", addr, cur[0] ? cur : "(none)", o->driver);
	if (vfio)
		warn_not_viable(ctx, group);
	return bind_wait(ctx, o, vfio, group);
}

static int unbind_locked(struct assign_ctx *ctx, const char *addr,
			 const struct host_opts *oo)
{
	char cur[ASSIGN_HOST_NAME_LEN], override[ASSIGN_HOST_NAME_LEN];
	struct host_opts o = *oo;
	struct host_record rec;
	bool recorded = false;
	int r;

	r = host_check_exists(ctx, addr);
	if (r < 0)
		return r;
	r = current_driver(ctx, addr, cur, sizeof(cur));
	if (r < 0)
		return r;
	if (!cur[0])
		return 0;
	if (!(o.flags & ASSIGN_HOST_F_FORCE)) {
		r = assign_host_netdev_check(ctx, addr);
		if (r < 0)
			return r;
	}
	if (!(o.flags & ASSIGN_HOST_F_NO_RECORD)) {
		r = host_record_read_msg(ctx, &o, addr, &rec,
					 "remove it or restore by hand");
		if (r < 0 && r != -ENOENT)
			return r;
		if (r == -ENOENT) {
			host_read_override(ctx, addr, override,
					   sizeof(override));
			r = host_record_create(ctx, &o, addr, cur, override);
			if (r < 0)
				return r;
			recorded = true;
		}
	}
	r = check_vfio_users(ctx, &o, addr, cur);
	if (r >= 0)
		r = unbind_from(ctx, addr, cur);
	if (r < 0) {
		if (recorded)
			host_record_remove(&o, addr);
		return r;
	}
	notice(ctx, "%s: unbound from %s", addr, cur);
	return 0;
}

/*
 * Give @addr back to the driver its record names; its group members are
 * restore_members()'s. A member's own members are never restored:
 * a group bind moves the members of one device only (they never own
 * others), and records that named each other would otherwise have a
 * restore go round them for ever when one cannot be removed.
 */
static int restore_one(struct assign_ctx *ctx, const char *addr,
		       const struct host_opts *oo)
{
	char cur[ASSIGN_HOST_NAME_LEN];
	struct host_opts o = *oo;
	struct host_record rec;
	int r;

	r = host_record_read_msg(ctx, &o, addr, &rec,
				 "remove it and bind the driver by hand");
	if (r == -ENOENT)
		return set_error(ctx, r,
				 "no state record for %s in %s: nothing to "
				 "restore",
				 addr, o.state_dir);
	if (r < 0)
		return r;
	r = host_check_exists(ctx, addr);
	if (r < 0) {
		host_record_remove(&o, addr);
		return r;
	}
	r = current_driver(ctx, addr, cur, sizeof(cur));
	if (r < 0)
		return r;
	if (cur[0] && strcmp(cur, rec.driver)) {
		r = check_vfio_users(ctx, &o, addr, cur);
		if (r < 0)
			return r;
		r = unbind_from(ctx, addr, cur);
		if (r < 0)
			return r;
	}
	r = set_override(ctx, addr, rec.override, "restoring driver_override");
	if (r < 0)
		return r;
	if (rec.driver[0] && strcmp(cur, rec.driver)) {
		r = probe_to(ctx, addr, rec.driver, true);
		if (r < 0) {
			if (r == -EACCES || r == -EPERM)
				return sysfs_err(ctx, r, "binding",
						 "bus/pci/drivers_probe");
			return set_error(ctx, -EIO,
					 "%s did not take %s back (see dmesg; "
					 "is the module loaded? try 'modprobe "
					 "%s'); the record in %s is kept",
					 rec.driver, addr, rec.driver,
					 o.state_dir);
		}
	}
	host_record_remove(&o, addr);
	notice(ctx, "%s: restored to %s", addr,
	       rec.driver[0] ? rec.driver : "(no driver)");
	return 0;
}

/* The group members a group bind moved for @owner go back with it. */
static int restore_members(struct assign_ctx *ctx, const char *owner,
			   const struct host_opts *o)
{
	struct assign_host_record_list *recs = NULL;
	struct host_record rec;
	int r, first = 0;

	r = host_record_list(ctx, o, &recs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < recs->count; i++) {
		const char *addr = recs->addresses[i];

		if (host_record_read(o, addr, &rec) < 0 ||
		    strcmp(rec.owner, owner))
			continue;
		r = restore_one(ctx, addr, o);
		if (r < 0 && !first)
			first = r;
	}
	assign_host_record_list_free(recs);
	return first;
}

static int restore_locked(struct assign_ctx *ctx, const char *addr,
			  const struct host_opts *o)
{
	int r = restore_one(ctx, addr, o);

	return r < 0 ? r : restore_members(ctx, addr, o);
}

/* ---- the public entry points: one bind/unbind/restore at a time --------- */

typedef int (*host_op)(struct assign_ctx *, const char *,
		       const struct host_opts *);

static int run_locked(struct assign_ctx *ctx, const char *address,
		      const struct assign_host_opts *opts, host_op op)
{
	char addr[ASSIGN_PCI_ADDR_LEN], saved[ASSIGN_ERROR_MAX];
	struct host_opts o;
	int r, lock;

	if (!ctx)
		return -EINVAL;
	r = host_addr_opts(ctx, address, opts, addr, &o);
	if (r < 0)
		return r;
	assign_error_save(ctx, saved);
	r = host_state_open(ctx, &o, true, &o.state_fd);
	if (r == -EPERM || r == -ENOTDIR)
		return r; /* a directory someone else could have written */
	if (r < 0)
		/* None that can be made (not root, say): go ahead unlocked;
		 * writing a record, if one is needed, says why it cannot. */
		assign_error_restore(ctx, saved);
	lock = host_state_lock(&o);
	r = op(ctx, addr, &o);
	host_state_unlock(lock);
	host_state_close(o.state_fd);
	return r;
}

ASSIGN_EXPORT int assign_host_bind(struct assign_ctx *ctx, const char *address,
				   const struct assign_host_opts *opts)
{
	return run_locked(ctx, address, opts, bind_locked);
}

ASSIGN_EXPORT int assign_host_unbind(struct assign_ctx *ctx,
				     const char *address,
				     const struct assign_host_opts *opts)
{
	return run_locked(ctx, address, opts, unbind_locked);
}

ASSIGN_EXPORT int assign_host_restore(struct assign_ctx *ctx,
				      const char *address,
				      const struct assign_host_opts *opts)
{
	return run_locked(ctx, address, opts, restore_locked);
}
