// SPDX-License-Identifier: MIT
/*
 * assign-host: prepare host PCI devices for VFIO with libassign.
 * Uses only the public API. See docs/assign-host.1.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <libassign/host.h>
#include <libassign/libassign.h>

#include "assign-host.h"
#include "escape.h"

const char *prog = "assign-host";
static bool use_color;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Prepare host PCI devices for assignment through VFIO.\n"
		"\n"
		"Commands:\n"
		"  list [--json]              devices with driver, IOMMU group and viability\n"
		"  explain ADDRESS [--probe] [--json]\n"
		"                             why ADDRESS can or cannot be assigned, and the fix;\n"
		"                             --probe also opens it through VFIO to compare\n"
		"  bind ADDRESS [--driver D] [--force] [--timeout MS] [--no-wait] [--group]\n"
		"                             hand ADDRESS to vfio-pci (or D), remembering its driver;\n"
		"                             --group also clears the rest of its IOMMU group\n"
		"  unbind ADDRESS [--force]   detach ADDRESS from its driver, remembering it\n"
		"  restore [--force] [ADDRESS...]\n"
		"                             give devices back their recorded driver (all if none);\n"
		"                             a device a process holds open is left alone unless --force\n"
		"  vf-config VF|--pf IFNAME --vf N [--mac MAC] [--vlan ID] [--qos N]\n"
		"            [--spoofchk on|off] [--trust on|off] [--link-state auto|enable|disable]\n"
		"                             program SR-IOV VF settings on the VF's PF\n"
		"  vf-show VF|--pf IFNAME --vf N\n"
		"                             the VF settings the PF's driver reports\n"
		"  set-numvfs PF N            enable N VFs on an SR-IOV PF (0 disables)\n"
		"  mdev-types [--json]        mediated device types the parents offer\n"
		"  mdev-list [--json]         mediated devices (mdevs) that exist\n"
		"  mdev-create TYPE [--parent P] [--uuid UUID]\n"
		"                             make an mdev; prints its UUID\n"
		"  mdev-remove UUID|PATH [--force]\n"
		"                             remove an mdev (refused while a process uses it)\n"
		"  explain UUID|PATH [--probe] why an mdev can or cannot be opened\n"
		"  handoff [--backend B] [--user U] [--memlock SIZE] [--timeout S] SOCKET DEVICE...\n"
		"                             open and check DEVICEs as root, hand their fds to\n"
		"                             the unprivileged VMM that connects to SOCKET\n"
		"\n"
		"Options:\n"
		"  -s, --state-dir DIR        records directory (default $ASSIGN_STATE_DIR or\n"
		"                             /run/libassign)\n"
		"      --json                 JSON output (list, explain, vf-show)\n"
		"      --color auto|always|never\n"
		"  -v, --verbose              more log output (repeat for debug)\n"
		"  -h, --help                 this help\n"
		"  -V, --version              print the version\n"
		"\n"
		"Exit status: 0 success, 1 failure, 2 usage error, 3 not assignable as it\n"
		"stands (explain), 4 no such device/driver/record, 5 busy (interface in\n"
		"use), 6 permission denied, 7 timeout. See assign-host(1).\n",
		prog);
}

int exit_code(int err)
{
	switch (err) {
	case 0:
		return EXIT_OK;
	case -ENODEV:
	case -ENOENT:
		return EXIT_NODEV;
	case -EBUSY:
		return EXIT_BUSY;
	case -EACCES:
	case -EPERM:
		return EXIT_PERM;
	case -ETIMEDOUT:
		return EXIT_TIMEOUT;
	case -EINVAL:
		return EXIT_USAGE;
	default:
		return EXIT_FAIL;
	}
}

/*
 * @s, which came from the host (sysfs, a record, the hardware database, an
 * interface name, or a library message quoting them), made safe for a
 * terminal (escape.h). Valid until 8 more calls: enough for one printf.
 */
static const char *tx(const char *s)
{
	static char bufs[8][1024];
	static unsigned next;
	char *b = bufs[next++ % 8];

	return esc_text(s, b, sizeof(bufs[0]));
}

int fail(struct assign_ctx *ctx, int err, const char *what)
{
	const char *msg = ctx ? assign_ctx_get_last_error(ctx) : "";

	fprintf(stderr, "%s: %s: %s\n", prog, what,
		msg && *msg ? tx(msg) : strerror(-err));
	return exit_code(err);
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return EXIT_USAGE;
}

static const char *c_on(const char *code)
{
	return use_color ? code : "";
}
#define GREEN c_on("\033[32m")
#define RED c_on("\033[31m")
#define BOLD c_on("\033[1m")
#define RESET c_on("\033[0m")

static void opts_init(struct assign_host_opts *o, const struct global *g)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->state_dir = g->state_dir;
}

/* ---- list ------------------------------------------------------------- */

struct group_cache {
	int group;
	int viable; /* 1, 0, -1 unknown */
};

static int group_viable(struct assign_ctx *ctx, struct group_cache **cache,
			size_t *n, int group)
{
	struct assign_host_group_report *rep = NULL;
	struct group_cache *nc;
	int v = -1;

	if (group < 0)
		return -1;
	for (size_t i = 0; i < *n; i++)
		if ((*cache)[i].group == group)
			return (*cache)[i].viable;
	if (assign_host_group_report(ctx, group, &rep) == 0)
		v = rep->viable;
	assign_host_group_report_free(rep);
	nc = realloc(*cache, (*n + 1) * sizeof(*nc));
	if (nc) {
		*cache = nc;
		nc[*n].group = group;
		nc[*n].viable = v;
		(*n)++;
	}
	return v;
}

static void json_str(const char *s)
{
	esc_json(stdout, s);
}

/* "key": "val", or null when @val is empty. */
static void json_kv_str(const char *key, const char *val, bool comma)
{
	printf("%s\"%s\": ", comma ? ", " : "", key);
	if (val && *val)
		json_str(val);
	else
		printf("null");
}

/* "key": n, or null when @n is negative. */
static void json_kv_int(const char *key, int n, bool comma)
{
	printf("%s\"%s\": ", comma ? ", " : "", key);
	if (n >= 0)
		printf("%d", n);
	else
		printf("null");
}

/* The driver @address's state record gives it back to ("" for none). */
static int record_driver(struct assign_ctx *ctx, const char *address,
			 const struct assign_host_opts *o, char *buf,
			 size_t size)
{
	struct assign_host_record *rec;
	int r = assign_host_record_get(ctx, address, o, &rec);

	if (r < 0)
		return r;
	snprintf(buf, size, "%s", rec->driver);
	assign_host_record_free(rec);
	return 0;
}

/* list --json: one device (@v: its group is viable, -1 unknown). */
static void list_json_device(const struct assign_host_device *d, int v,
			     bool first)
{
	printf("%s\n  {\"address\": ", first ? "" : ",");
	json_str(d->address);
	printf(", \"vendor\": \"%04x\", \"device\": \"%04x\", "
	       "\"class\": \"%06x\"",
	       d->vendor, d->device, d->class_code);
	json_kv_str("driver", d->driver, true);
	json_kv_str("driver_override", d->driver_override, true);
	json_kv_int("iommu_group", d->iommu_group, true);
	printf(", \"viable\": %s", v < 0 ? "null" : v ? "true" : "false");
	printf(", \"bridge\": %s, \"netdevs\": [",
	       d->is_bridge ? "true" : "false");
	for (unsigned k = 0; k < d->n_netdevs; k++) {
		if (k)
			printf(", ");
		json_str(d->netdevs[k]);
	}
	printf("], \"sriov_totalvfs\": %u, \"sriov_numvfs\": %u",
	       d->sriov_totalvfs, d->sriov_numvfs);
	json_kv_str("physfn", d->physfn, true);
	json_kv_int("vf_index", d->vf_index, true);
	printf(", \"vendor_name\": ");
	json_str(d->vendor_name);
	printf(", \"device_name\": ");
	json_str(d->device_name);
	printf("}");
}

static void list_text_header(void)
{
	printf("%s%-12s  %-9s %-6s %-14s %5s  %-6s %-10s %s%s\n", BOLD,
	       "ADDRESS", "VEN:DEV", "CLASS", "DRIVER", "GROUP", "VIABLE",
	       "NETDEV", "SRIOV", RESET);
}

/* list: one device as a table row (@v: its group is viable, -1 unknown),
 * its name on the next line. */
static void list_text_device(const struct assign_host_device *d, int v)
{
	char sriov[40] = "-", ids[12], net[40] = "";

	snprintf(ids, sizeof(ids), "%04x:%04x", d->vendor, d->device);
	if (d->sriov_totalvfs)
		snprintf(sriov, sizeof(sriov), "PF %u/%u VFs", d->sriov_numvfs,
			 d->sriov_totalvfs);
	else if (d->physfn[0])
		snprintf(sriov, sizeof(sriov), "VF%d of %s", d->vf_index,
			 tx(d->physfn));
	for (unsigned k = 0; k < d->n_netdevs; k++) {
		size_t len = strlen(net);

		snprintf(net + len, sizeof(net) - len, "%s%s", k ? "," : "",
			 tx(d->netdevs[k]));
	}
	printf("%-12s  %-9s %06x %-14s ", d->address, ids, d->class_code,
	       d->driver[0] ? tx(d->driver) : "-");
	if (d->iommu_group >= 0)
		printf("%5d  ", d->iommu_group);
	else
		printf("%5s  ", "-");
	if (v < 0)
		printf("%-6s ", "-");
	else
		printf("%s%-6s%s ", v ? GREEN : RED, v ? "yes" : "no", RESET);
	printf("%-10s %s\n", net[0] ? net : "-", sriov);
	if (d->device_name[0])
		printf("              %s%s%s\n", tx(d->vendor_name),
		       d->vendor_name[0] ? " " : "", tx(d->device_name));
}

static int cmd_list(struct assign_ctx *ctx, const struct global *g, int argc,
		    char **argv)
{
	struct assign_host_device_list *list = NULL;
	struct group_cache *cache = NULL;
	size_t ncache = 0;
	bool json = g->json;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return usage_error("list: unknown argument '%s'",
					   argv[i]);
	}
	r = assign_host_list(ctx, &list);
	if (r < 0)
		return fail(ctx, r, "list");
	if (json)
		printf("[");
	else
		list_text_header();
	for (size_t i = 0; i < list->count; i++) {
		const struct assign_host_device *d = list->devices[i];
		int v = group_viable(ctx, &cache, &ncache, d->iommu_group);

		if (json)
			list_json_device(d, v, i == 0);
		else
			list_text_device(d, v);
	}
	if (json)
		printf("%s]\n", list->count ? "\n" : "");
	free(cache);
	assign_host_device_list_free(list);
	return EXIT_OK;
}

/* ---- explain ---------------------------------------------------------- */

/* Ask the kernel: open the device through VFIO (type1) and report what
 * it says, next to libassign's own verdict. */
static void probe_kernel(struct assign_ctx *ctx, const char *addr,
			 bool predicted_busy, enum assign_iommu_backend backend)
{
	struct assign_iommu_opts io = { .size = sizeof(io),
					.backend = backend };
	const char *how = backend == ASSIGN_IOMMU_IOMMUFD ? "iommufd" : "type1";
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	int r;

	r = assign_iommu_new(ctx, &io, &iommu);
	if (r == 0)
		r = assign_device_open(iommu, addr, NULL, &dev);
	if (r == 0)
		printf("  kernel (%s): opened %s through VFIO: the group is "
		       "viable\n",
		       how, addr);
	else
		printf("  kernel (%s): opening %s failed (%s): %s\n", how, addr,
		       strerror(-r), tx(assign_ctx_get_last_error(ctx)));
	if (r == -EBUSY || r == 0)
		printf("  kernel (%s) verdict %s libassign's rules\n", how,
		       (r == -EBUSY) == predicted_busy ? "matches"
						       : "DIFFERS FROM");
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
}

static const char *action_name(enum assign_host_action a)
{
	switch (a) {
	case ASSIGN_HOST_ACTION_BIND_VFIO:
		return "bind-vfio";
	case ASSIGN_HOST_ACTION_UNBIND:
		return "unbind";
	default:
		return "none";
	}
}

/* explain --json: one member of the group. */
static void json_member(const struct assign_host_member *m, bool first)
{
	printf("%s{", first ? "" : ", ");
	json_kv_str("address", m->address, false);
	json_kv_str("driver", m->driver, true);
	printf(", \"class\": \"%06x\", \"bridge\": %s, "
	       "\"blocks\": %s, \"action\": \"%s\"",
	       m->class_code, m->is_bridge ? "true" : "false",
	       m->blocks ? "true" : "false", action_name(m->action));
	json_kv_str("reason", m->reason, true);
	json_kv_str("fix", m->fix, true);
	printf("}");
}

/* explain --json: the IOMMU group and its members, or null. */
static void json_group(const struct assign_host_group_report *rep)
{
	printf(", \"iommu_group\": ");
	if (!rep) {
		printf("null");
		return;
	}
	printf("{\"id\": %d, \"viable\": %s, \"members\": [", rep->group,
	       rep->viable ? "true" : "false");
	for (size_t i = 0; i < rep->n_members; i++)
		json_member(rep->members[i], i == 0);
	printf("]}");
}

/* explain --json: the driver the state record gives the device back to. */
static void json_record(struct assign_ctx *ctx, const struct global *g,
			const char *address)
{
	struct assign_host_opts o;
	char recdrv[ASSIGN_HOST_NAME_LEN];

	opts_init(&o, g);
	if (record_driver(ctx, address, &o, recdrv, sizeof(recdrv)) == 0) {
		printf(", \"record\": {");
		json_kv_str("driver", recdrv, false);
		printf("}");
	} else {
		printf(", \"record\": null");
	}
}

/* explain --json: the same facts for programs. */
static int explain_json(struct assign_ctx *ctx, const struct global *g,
			const char *addr)
{
	struct assign_host_device *d = NULL;
	struct assign_host_group_report *rep = NULL;
	char netmsg[512] = "";
	bool in_use = false, ready;
	int r;

	r = assign_host_device_get(ctx, addr, &d);
	if (r < 0)
		return fail(ctx, r, "explain");
	if (d->iommu_group >= 0) {
		r = assign_host_group_report(ctx, d->iommu_group, &rep);
		if (r < 0) {
			assign_host_device_free(d);
			return fail(ctx, r, "explain");
		}
	}
	if (d->n_netdevs && assign_host_netdev_check(ctx, d->address) == -EBUSY) {
		in_use = true;
		snprintf(netmsg, sizeof(netmsg), "%s",
			 assign_ctx_get_last_error(ctx));
	}
	ready = !d->is_bridge && rep && rep->viable && d->is_vfio && !in_use;

	printf("{");
	json_kv_str("address", d->address, false);
	printf(", \"vendor\": \"%04x\", \"device\": \"%04x\", "
	       "\"class\": \"%06x\"",
	       d->vendor, d->device, d->class_code);
	json_kv_str("driver", d->driver, true);
	json_kv_str("driver_override", d->driver_override, true);
	json_record(ctx, g, d->address);
	printf(", \"bridge\": %s", d->is_bridge ? "true" : "false");
	json_kv_str("physfn", d->physfn, true);
	printf(", \"netdev_in_use\": %s", in_use ? "true" : "false");
	json_kv_str("netdev_message", netmsg, true);
	json_group(rep);
	printf(", \"bound_to_vfio\": %s, \"ready\": %s}\n",
	       d->is_vfio ? "true" : "false", ready ? "true" : "false");
	assign_host_group_report_free(rep);
	assign_host_device_free(d);
	return ready ? EXIT_OK : EXIT_NOT_READY;
}

/* explain: what the device is, its driver, its record, its SR-IOV
 * links. */
static void explain_identity(struct assign_ctx *ctx, const struct global *g,
			     const struct assign_host_device *d)
{
	struct assign_host_opts o;
	char recdrv[ASSIGN_HOST_NAME_LEN];

	printf("%s%s%s  %04x:%04x class %06x\n", BOLD, d->address, RESET,
	       d->vendor, d->device, d->class_code);
	if (d->device_name[0])
		printf("  %s%s%s\n", tx(d->vendor_name),
		       d->vendor_name[0] ? " " : "", tx(d->device_name));
	printf("  driver: %s%s%s%s\n", d->driver[0] ? tx(d->driver) : "(none)",
	       d->driver_override[0] ? " (driver_override " : "",
	       tx(d->driver_override), d->driver_override[0] ? ")" : "");
	opts_init(&o, g);
	if (record_driver(ctx, d->address, &o, recdrv, sizeof(recdrv)) == 0)
		printf("  record: 'assign-host restore %s' gives it back to "
		       "%s\n",
		       d->address, recdrv[0] ? tx(recdrv) : "(no driver)");
	if (d->physfn[0])
		printf("  SR-IOV: VF %d of %s (set its MAC/VLAN before "
		       "binding: assign-host vf-config %s ...)\n",
		       d->vf_index, tx(d->physfn), d->address);
	if (d->sriov_totalvfs)
		printf("  SR-IOV: PF with %u of %u VFs enabled\n",
		       d->sriov_numvfs, d->sriov_totalvfs);
}

/* explain: whether its network interfaces carry traffic; false when one
 * does (bind refuses the device then). */
static bool explain_netdevs(struct assign_ctx *ctx,
			    const struct assign_host_device *d)
{
	int r;

	if (!d->n_netdevs)
		return true;
	r = assign_host_netdev_check(ctx, d->address);
	if (r == -EBUSY) {
		printf("  %sIn use%s: %s\n", RED, RESET,
		       tx(assign_ctx_get_last_error(ctx)));
		printf("        (bind refuses it without --force)\n");
		return false;
	}
	if (r == 0)
		printf("  Network interface%s %s: not in use\n",
		       d->n_netdevs > 1 ? "s" : "", tx(d->netdevs[0]));
	return true;
}

/* explain: false, with the reason, for what can never be assigned: a
 * bridge, a device without an IOMMU group. */
static bool explain_assignable(const struct assign_host_device *d)
{
	if (d->is_bridge) {
		printf("  %sNo%s: a bridge cannot be assigned; vfio-pci only "
		       "takes endpoint devices.\n",
		       RED, RESET);
		return false;
	}
	if (d->iommu_group < 0) {
		printf("  %sNo%s: no IOMMU group. The IOMMU is off or "
		       "missing: enable VT-d/AMD-Vi in the firmware and boot "
		       "with intel_iommu=on (or amd_iommu=on).\n",
		       RED, RESET);
		return false;
	}
	return true;
}

/* explain: the members of the group, with the fix for each other member
 * that blocks it. */
static void explain_members(const struct assign_host_device *d,
			    const struct assign_host_group_report *rep)
{
	for (size_t i = 0; i < rep->n_members; i++) {
		const struct assign_host_member *m = rep->members[i];
		bool self = !strcmp(m->address, d->address);

		printf("    %s %s%s%s  %-14s %s\n", self ? "*" : " ",
		       m->blocks ? RED : GREEN, m->address, RESET,
		       m->driver[0] ? tx(m->driver) : "(none)", tx(m->reason));
		if (m->blocks && !self)
			printf("        fix: %s\n", tx(m->fix));
	}
}

/* explain: what still stands in the way; whether the device is ready
 * (@ok: nothing did so far). */
static bool explain_verdict(const struct assign_host_device *d,
			    const struct assign_host_group_report *rep, bool ok)
{
	if (!rep->viable) {
		ok = false;
		printf("  %sThe group is not viable%s: %zu device%s must "
		       "leave %s driver%s first (see the fixes above).\n",
		       RED, RESET, rep->n_blocking,
		       rep->n_blocking == 1 ? "" : "s",
		       rep->n_blocking == 1 ? "its" : "their", "");
	}
	if (!d->is_vfio) {
		ok = false;
		printf("  The device itself is %s%s; bind it to vfio-pci:\n"
		       "        fix: assign-host bind %s\n",
		       d->driver[0] ? "bound to " : "without a driver",
		       tx(d->driver), d->address);
	}
	if (ok)
		printf("  %sReady%s: the device can be opened through VFIO "
		       "(/dev/vfio/%d).\n",
		       GREEN, RESET, d->iommu_group);
	return ok;
}

/* explain --probe: what the kernel says, through each backend there is. */
static void explain_probe(struct assign_ctx *ctx,
			  const struct assign_host_device *d,
			  const struct assign_host_group_report *rep)
{
	probe_kernel(ctx, d->address, !rep->viable, ASSIGN_IOMMU_TYPE1);
	/* With iommufd, binding the device's cdev claims the group's DMA
	 * ownership: the same rule, reached another way. */
	if (access("/dev/iommu", F_OK) == 0)
		probe_kernel(ctx, d->address, !rep->viable,
			     ASSIGN_IOMMU_IOMMUFD);
}

/* explain: why @addr can or cannot be assigned, and the fix. */
static int explain_text(struct assign_ctx *ctx, const struct global *g,
			const char *addr, bool probe)
{
	struct assign_host_device *d = NULL;
	struct assign_host_group_report *rep = NULL;
	bool ok;
	int r;

	r = assign_host_device_get(ctx, addr, &d);
	if (r < 0)
		return fail(ctx, r, "explain");
	explain_identity(ctx, g, d);
	ok = explain_netdevs(ctx, d);
	if (!explain_assignable(d)) {
		assign_host_device_free(d);
		return EXIT_NOT_READY;
	}
	printf("  IOMMU group %d:\n", d->iommu_group);
	r = assign_host_group_report(ctx, d->iommu_group, &rep);
	if (r < 0) {
		assign_host_device_free(d);
		return fail(ctx, r, "explain");
	}
	explain_members(d, rep);
	ok = explain_verdict(d, rep, ok);
	if (probe)
		explain_probe(ctx, d, rep);
	assign_host_group_report_free(rep);
	assign_host_device_free(d);
	return ok ? EXIT_OK : EXIT_NOT_READY;
}

static int cmd_explain(struct assign_ctx *ctx, const struct global *g, int argc,
		       char **argv)
{
	const char *addr = NULL;
	bool json = g->json, probe = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--probe"))
			probe = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-')
			return usage_error("explain: unknown option '%s'",
					   argv[i]);
		else if (addr)
			return usage_error("explain needs one ADDRESS");
		else
			addr = argv[i];
	}
	if (!addr)
		return usage_error("explain needs one ADDRESS");
	if (is_mdev_name(addr))
		return explain_mdev(ctx, g, addr, probe);
	if (json)
		return explain_json(ctx, g, addr);
	return explain_text(ctx, g, addr, probe);
}

/* ---- bind / unbind / restore ------------------------------------------ */

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int cmd_bind(struct assign_ctx *ctx, const struct global *g, int argc,
		    char **argv, bool unbind)
{
	static const struct option lopts[] = {
		{ "driver", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "no-record", no_argument, NULL, 'R' },
		{ "group", no_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	struct assign_host_opts o;
	const char *addr = NULL;
	long v;
	int c, r;

	opts_init(&o, g);
	optind = 0; /* glibc: re-initialise, permute again */
	while ((c = getopt_long(argc, argv, "d:ft:", lopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.driver = optarg;
			break;
		case 'f':
			o.flags |= ASSIGN_HOST_F_FORCE;
			break;
		case 't':
			if (parse_int(optarg, 1, INT_MAX, &v) < 0)
				return usage_error("bad --timeout '%s'",
						   optarg);
			o.timeout_ms = (int)v;
			break;
		case 'W':
			o.flags |= ASSIGN_HOST_F_NO_WAIT;
			break;
		case 'R':
			o.flags |= ASSIGN_HOST_F_NO_RECORD;
			break;
		case 'g':
			if (unbind)
				return usage_error("unbind has no --group");
			o.flags |= ASSIGN_HOST_F_GROUP;
			break;
		default: /* getopt said what */
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1)
		return usage_error("%s needs one ADDRESS", argv[0]);
	addr = argv[optind];
	if (unbind)
		r = assign_host_unbind(ctx, addr, &o);
	else
		r = assign_host_bind(ctx, addr, &o);
	if (r < 0)
		return fail(ctx, r, argv[0]);
	return EXIT_OK;
}

static int cmd_restore(struct assign_ctx *ctx, const struct global *g,
		       int argc, char **argv)
{
	struct assign_host_record_list *recs = NULL;
	struct assign_host_opts o;
	int status = EXIT_OK, r;

	opts_init(&o, g);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")) {
			o.flags |= ASSIGN_HOST_F_FORCE;
			memmove(&argv[i], &argv[i + 1],
				(size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		} else if (argv[i][0] == '-') {
			return usage_error("restore: unknown option '%s'",
					   argv[i]);
		}
	}
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			r = assign_host_restore(ctx, argv[i], &o);
			if (r < 0)
				status = fail(ctx, r, "restore");
		}
		return status;
	}
	r = assign_host_records(ctx, &o, &recs);
	if (r < 0)
		return fail(ctx, r, "restore");
	for (size_t i = 0; i < recs->count; i++) {
		r = assign_host_restore(ctx, recs->addresses[i], &o);
		if (r == -ENOENT)
			continue; /* went back with the device it was moved for */
		if (r < 0)
			status = fail(ctx, r, "restore");
		else if (g->verbose >= 0)
			printf("%s restored\n", recs->addresses[i]);
	}
	assign_host_record_list_free(recs);
	return status;
}

/* ---- SR-IOV ----------------------------------------------------------- */

static int parse_onoff(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "1") || !strcmp(s, "yes"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "0") || !strcmp(s, "no"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int parse_link_state(const char *s, enum assign_host_vf_link *out)
{
	if (!strcmp(s, "auto"))
		*out = ASSIGN_HOST_VF_LINK_AUTO;
	else if (!strcmp(s, "enable"))
		*out = ASSIGN_HOST_VF_LINK_ENABLE;
	else if (!strcmp(s, "disable"))
		*out = ASSIGN_HOST_VF_LINK_DISABLE;
	else
		return -EINVAL;
	return 0;
}

static const char *link_state_name(enum assign_host_vf_link l)
{
	return l == ASSIGN_HOST_VF_LINK_ENABLE	? "enable" :
	       l == ASSIGN_HOST_VF_LINK_DISABLE ? "disable" :
						  "auto";
}

/* vf-config: the VF and its settings from the command line. */
struct vf_config_args {
	struct assign_host_vf_config cfg;
	/* --pf IFNAME and --vf N: NULL and -1 when not given. */
	const char *pf;
	long vfn;
};

/* vf-config: one option @c with @arg into @a; EXIT_OK or EXIT_USAGE. */
static int vf_config_option(int c, const char *arg, struct vf_config_args *a)
{
	struct assign_host_vf_config *cfg = &a->cfg;
	long v;

	switch (c) {
	case 'm':
		if (parse_mac(arg, cfg->mac) < 0)
			return usage_error("bad --mac '%s'", arg);
		cfg->set |= ASSIGN_HOST_VF_F_MAC;
		return EXIT_OK;
	case 'l':
		if (parse_int(arg, 0, 4095, &v) < 0)
			return usage_error("bad --vlan '%s' (0-4095)", arg);
		cfg->vlan = (uint16_t)v;
		cfg->set |= ASSIGN_HOST_VF_F_VLAN;
		return EXIT_OK;
	case 'q':
		if (parse_int(arg, 0, 7, &v) < 0)
			return usage_error("bad --qos '%s' (0-7)", arg);
		cfg->qos = (uint8_t)v;
		cfg->set |= ASSIGN_HOST_VF_F_VLAN;
		return EXIT_OK;
	case 's':
		if (parse_onoff(arg, &cfg->spoofchk) < 0)
			return usage_error("bad --spoofchk '%s'", arg);
		cfg->set |= ASSIGN_HOST_VF_F_SPOOFCHK;
		return EXIT_OK;
	case 't':
		if (parse_onoff(arg, &cfg->trust) < 0)
			return usage_error("bad --trust '%s'", arg);
		cfg->set |= ASSIGN_HOST_VF_F_TRUST;
		return EXIT_OK;
	case 'k':
		if (parse_link_state(arg, &cfg->link_state) < 0)
			return usage_error("bad --link-state '%s'", arg);
		cfg->set |= ASSIGN_HOST_VF_F_LINK_STATE;
		return EXIT_OK;
	case 'P':
		a->pf = arg;
		return EXIT_OK;
	case 'N':
		if (parse_int(arg, 0, 65535, &a->vfn) < 0)
			return usage_error("bad --vf '%s'", arg);
		return EXIT_OK;
	default: /* getopt said what */
		fprintf(stderr, "Try '%s --help'.\n", prog);
		return EXIT_USAGE;
	}
}

static int cmd_vf_config(struct assign_ctx *ctx, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "mac", required_argument, NULL, 'm' },
		{ "vlan", required_argument, NULL, 'l' },
		{ "qos", required_argument, NULL, 'q' },
		{ "spoofchk", required_argument, NULL, 's' },
		{ "trust", required_argument, NULL, 't' },
		{ "link-state", required_argument, NULL, 'k' },
		{ "pf", required_argument, NULL, 'P' },
		{ "vf", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	struct vf_config_args a = { .cfg = { .size = sizeof(a.cfg) },
				    .vfn = -1 };
	int c, r;

	optind = 0; /* glibc: re-initialise, permute again */
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		r = vf_config_option(c, optarg, &a);
		if (r != EXIT_OK)
			return r;
	}
	if (!a.pf != (a.vfn < 0))
		return usage_error("vf-config: give --pf and --vf together");
	if (a.pf ? optind != argc : optind != argc - 1)
		return usage_error("vf-config needs one VF ADDRESS, or --pf "
				   "IFNAME --vf N");
	if (!a.cfg.set)
		return usage_error("vf-config: give at least one setting");
	if (a.pf)
		r = assign_host_vf_configure_netdev(ctx, a.pf, (unsigned)a.vfn,
						    &a.cfg);
	else
		r = assign_host_vf_configure(ctx, argv[optind], &a.cfg);
	if (r < 0)
		return fail(ctx, r, "vf-config");
	return EXIT_OK;
}

/* vf-show VF: the VF's index and its PF's interface; EXIT_OK or the exit
 * status of the failure. */
static int vf_show_locate(struct assign_ctx *ctx, const char *address,
			  char *ifname, size_t size, long *idx)
{
	struct assign_host_device *vf = NULL, *pfd = NULL;
	int r, status = EXIT_OK;

	r = assign_host_device_get(ctx, address, &vf);
	if (r < 0)
		return fail(ctx, r, "vf-show");
	if (!vf->physfn[0] || vf->vf_index < 0) {
		fprintf(stderr, "%s: vf-show: %s is not an SR-IOV VF\n", prog,
			vf->address);
		assign_host_device_free(vf);
		return EXIT_NODEV;
	}
	*idx = vf->vf_index;
	r = assign_host_device_get(ctx, vf->physfn, &pfd);
	if (r < 0) {
		assign_host_device_free(vf);
		return fail(ctx, r, "vf-show");
	}
	if (pfd->n_netdevs)
		snprintf(ifname, size, "%s", pfd->netdevs[0]);
	if (!ifname[0]) {
		fprintf(stderr,
			"%s: vf-show: the PF %s of %s has no network "
			"interface\n",
			prog, pfd->address, vf->address);
		status = EXIT_NODEV;
	}
	assign_host_device_free(pfd);
	assign_host_device_free(vf);
	return status;
}

static void vf_show_json(const char *ifname, long idx,
			 const struct assign_host_vf_config *c)
{
	printf("{\"pf\": ");
	json_str(ifname);
	printf(", \"vf\": %ld, \"mac\": \"%02x:%02x:%02x:%02x:%02x:%02x\"", idx,
	       c->mac[0], c->mac[1], c->mac[2], c->mac[3], c->mac[4],
	       c->mac[5]);
	if (c->set & ASSIGN_HOST_VF_F_VLAN)
		printf(", \"vlan\": %u, \"qos\": %u", c->vlan, c->qos);
	if (c->set & ASSIGN_HOST_VF_F_SPOOFCHK)
		printf(", \"spoofchk\": %s", c->spoofchk ? "true" : "false");
	if (c->set & ASSIGN_HOST_VF_F_TRUST)
		printf(", \"trust\": %s", c->trust ? "true" : "false");
	if (c->set & ASSIGN_HOST_VF_F_LINK_STATE)
		printf(", \"link_state\": \"%s\"",
		       link_state_name(c->link_state));
	printf("}\n");
}

static void vf_show_text(const char *ifname, long idx,
			 const struct assign_host_vf_config *c)
{
	printf("%s vf %ld: mac %02x:%02x:%02x:%02x:%02x:%02x", ifname, idx,
	       c->mac[0], c->mac[1], c->mac[2], c->mac[3], c->mac[4],
	       c->mac[5]);
	if (c->set & ASSIGN_HOST_VF_F_VLAN)
		printf(" vlan %u qos %u", c->vlan, c->qos);
	if (c->set & ASSIGN_HOST_VF_F_SPOOFCHK)
		printf(" spoofchk %s", c->spoofchk ? "on" : "off");
	if (c->set & ASSIGN_HOST_VF_F_TRUST)
		printf(" trust %s", c->trust ? "on" : "off");
	if (c->set & ASSIGN_HOST_VF_F_LINK_STATE)
		printf(" link-state %s", link_state_name(c->link_state));
	printf("\n");
}

/* vf-show VF | --pf IFNAME --vf N: what the PF's driver reports. */
static int cmd_vf_show(struct assign_ctx *ctx, const struct global *g,
		       int argc, char **argv)
{
	struct assign_host_vf_config c = { .size = sizeof(c) };
	char ifname[16] = "";
	long idx = -1;
	int r;

	if (argc == 5 && !strcmp(argv[1], "--pf") && !strcmp(argv[3], "--vf")) {
		snprintf(ifname, sizeof(ifname), "%s", argv[2]);
		if (parse_int(argv[4], 0, 65535, &idx) < 0)
			return usage_error("bad --vf '%s'", argv[4]);
	} else if (argc == 2) {
		r = vf_show_locate(ctx, argv[1], ifname, sizeof(ifname), &idx);
		if (r != EXIT_OK)
			return r;
	} else {
		return usage_error("vf-show needs a VF ADDRESS, or --pf IFNAME "
				   "--vf N");
	}
	r = assign_host_vf_get(ctx, ifname, (unsigned)idx, &c);
	if (r < 0)
		return fail(ctx, r, "vf-show");
	if (g->json)
		vf_show_json(ifname, idx, &c);
	else
		vf_show_text(ifname, idx, &c);
	return EXIT_OK;
}

static int cmd_set_numvfs(struct assign_ctx *ctx, int argc, char **argv)
{
	long v;
	int r;

	if (argc != 3 || parse_int(argv[2], 0, 65535, &v) < 0)
		return usage_error("set-numvfs needs a PF ADDRESS and a count");
	r = assign_host_sriov_set_numvfs(ctx, argv[1], (unsigned)v);
	if (r < 0)
		return fail(ctx, r, "set-numvfs");
	return EXIT_OK;
}

/* The global options before the command into @g. Returns -1 to go on,
 * else the exit status (--help, --version, a usage error). */
static int parse_global(int argc, char **argv, struct global *g)
{
	static const struct option lopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "color", required_argument, NULL, 'C' },
		{ "colour", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+s:vhV", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			g->state_dir = optarg;
			break;
		case 'C':
			g->color = optarg;
			break;
		case 'j':
			g->json = true;
			break;
		case 'v':
			g->verbose++;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("%s (libassign) %s\n", prog, assign_version());
			return EXIT_OK;
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return EXIT_USAGE;
		}
	}
	return -1;
}

/* --color: whether to color the output. */
static int set_color(const char *color)
{
	if (!strcmp(color, "always"))
		use_color = true;
	else if (!strcmp(color, "never"))
		use_color = false;
	else if (!strcmp(color, "auto"))
		use_color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") &&
			    !(getenv("TERM") && !strcmp(getenv("TERM"), "dumb"));
	else
		return usage_error("--color takes auto, always or never");
	return EXIT_OK;
}

/* The library's context, as loud as -v asks. */
static int open_ctx(const struct global *g, struct assign_ctx **ctx)
{
	int r;

	r = assign_ctx_new(ctx);
	if (r < 0)
		return fail(NULL, r, "cannot create a libassign context");
	if (g->verbose && !getenv("ASSIGN_LOG"))
		assign_ctx_set_log_priority(*ctx, g->verbose > 1 ? LOG_DEBUG :
								   LOG_INFO);
	return EXIT_OK;
}

static int run_command(struct assign_ctx *ctx, const struct global *g,
		       const char *cmd, int argc, char **argv)
{
	if (!strcmp(cmd, "list"))
		return cmd_list(ctx, g, argc, argv);
	if (!strcmp(cmd, "explain"))
		return cmd_explain(ctx, g, argc, argv);
	if (!strcmp(cmd, "bind"))
		return cmd_bind(ctx, g, argc, argv, false);
	if (!strcmp(cmd, "unbind"))
		return cmd_bind(ctx, g, argc, argv, true);
	if (!strcmp(cmd, "restore"))
		return cmd_restore(ctx, g, argc, argv);
	if (!strcmp(cmd, "vf-config"))
		return cmd_vf_config(ctx, argc, argv);
	if (!strcmp(cmd, "vf-show"))
		return cmd_vf_show(ctx, g, argc, argv);
	if (!strcmp(cmd, "set-numvfs"))
		return cmd_set_numvfs(ctx, argc, argv);
	if (!strncmp(cmd, "mdev-", 5))
		return cmd_mdev(ctx, g, cmd, argc, argv);
	if (!strcmp(cmd, "handoff"))
		return cmd_handoff(ctx, argc, argv);
	return usage_error("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
	struct global g = { .color = "auto" };
	struct assign_ctx *ctx = NULL;
	const char *cmd;
	int status;

	if (argv[0] && strrchr(argv[0], '/'))
		prog = strrchr(argv[0], '/') + 1;
	else if (argv[0])
		prog = argv[0];
	status = parse_global(argc, argv, &g);
	if (status >= 0)
		return status;
	if (optind >= argc)
		return usage_error("no command given");
	status = set_color(g.color);
	if (status != EXIT_OK)
		return status;

	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	status = open_ctx(&g, &ctx);
	if (status != EXIT_OK)
		return status;
	status = run_command(ctx, &g, cmd, argc, argv);
	assign_ctx_unref(ctx);
	if (fflush(stdout) != 0 && status == EXIT_OK)
		status = EXIT_FAIL;
	return status;
}
