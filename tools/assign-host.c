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

/* Exit codes (documented in docs/assign-host.1). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,      /* the operation failed */
	EXIT_USAGE = 2,     /* bad command line */
	EXIT_NOT_READY = 3, /* explain/check: cannot be assigned as it stands */
	EXIT_NODEV = 4,     /* no such device, driver or record */
	EXIT_BUSY = 5,      /* in use: interface up with addresses, VFs busy */
	EXIT_PERM = 6,      /* permission denied: run as root */
	EXIT_TIMEOUT = 7,   /* /dev/vfio/N did not appear in time */
};

static const char *prog = "assign-host";
static bool use_color;

struct global {
	const char *state_dir;
	const char *color;
	int verbose;
	bool json;
};

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

static int exit_code(int err)
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

static int fail(struct assign_ctx *ctx, int err, const char *what)
{
	const char *msg = ctx ? assign_ctx_get_last_error(ctx) : "";

	fprintf(stderr, "%s: %s: %s\n", prog, what,
		msg && *msg ? msg : strerror(-err));
	return exit_code(err);
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
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
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
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

static int cmd_list(struct assign_ctx *ctx, const struct global *g, int argc,
		    char **argv)
{
	struct assign_host_device_list *list = NULL;
	struct group_cache *cache = NULL;
	size_t n = 0, ncache = 0;
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
	n = list->count;
	if (json)
		printf("[");
	else
		printf("%s%-12s  %-9s %-6s %-14s %5s  %-6s %-10s %s%s\n", BOLD,
		       "ADDRESS", "VEN:DEV", "CLASS", "DRIVER", "GROUP",
		       "VIABLE", "NETDEV", "SRIOV", RESET);
	for (size_t i = 0; i < n; i++) {
		const struct assign_host_device *d = list->devices[i];
		int v = group_viable(ctx, &cache, &ncache, d->iommu_group);
		char sriov[40] = "-", ids[12], net[40] = "";

		snprintf(ids, sizeof(ids), "%04x:%04x", d->vendor, d->device);
		if (d->sriov_totalvfs)
			snprintf(sriov, sizeof(sriov), "PF %u/%u VFs",
				 d->sriov_numvfs, d->sriov_totalvfs);
		else if (d->physfn[0])
			snprintf(sriov, sizeof(sriov), "VF%d of %s",
				 d->vf_index, d->physfn);
		for (unsigned k = 0; k < d->n_netdevs; k++) {
			size_t len = strlen(net);
			snprintf(net + len, sizeof(net) - len, "%s%s",
				 k ? "," : "", d->netdevs[k]);
		}
		if (json) {
			printf("%s\n  {\"address\": ", i ? "," : "");
			json_str(d->address);
			printf(", \"vendor\": \"%04x\", \"device\": \"%04x\", "
			       "\"class\": \"%06x\", \"driver\": ",
			       d->vendor, d->device, d->class_code);
			if (d->driver[0])
				json_str(d->driver);
			else
				printf("null");
			printf(", \"driver_override\": ");
			if (d->driver_override[0])
				json_str(d->driver_override);
			else
				printf("null");
			printf(", \"iommu_group\": ");
			if (d->iommu_group >= 0)
				printf("%d", d->iommu_group);
			else
				printf("null");
			printf(", \"viable\": %s",
			       v < 0 ? "null" : v ? "true" : "false");
			printf(", \"bridge\": %s, \"netdevs\": [",
			       d->is_bridge ? "true" : "false");
			for (unsigned k = 0; k < d->n_netdevs; k++) {
				if (k)
					printf(", ");
				json_str(d->netdevs[k]);
			}
			printf("], \"sriov_totalvfs\": %u, \"sriov_numvfs\": %u",
			       d->sriov_totalvfs, d->sriov_numvfs);
			printf(", \"physfn\": ");
			if (d->physfn[0])
				json_str(d->physfn);
			else
				printf("null");
			printf(", \"vf_index\": ");
			if (d->vf_index >= 0)
				printf("%d", d->vf_index);
			else
				printf("null");
			printf(", \"vendor_name\": ");
			json_str(d->vendor_name);
			printf(", \"device_name\": ");
			json_str(d->device_name);
			printf("}");
			continue;
		}
		printf("%-12s  %-9s %06x %-14s ", d->address, ids,
		       d->class_code, d->driver[0] ? d->driver : "-");
		if (d->iommu_group >= 0)
			printf("%5d  ", d->iommu_group);
		else
			printf("%5s  ", "-");
		if (v < 0)
			printf("%-6s ", "-");
		else
			printf("%s%-6s%s ", v ? GREEN : RED, v ? "yes" : "no",
			       RESET);
		printf("%-10s %s\n", net[0] ? net : "-", sriov);
		if (d->device_name[0])
			printf("              %s%s%s\n",
			       d->vendor_name, d->vendor_name[0] ? " " : "",
			       d->device_name);
	}
	if (json)
		printf("%s]\n", n ? "\n" : "");
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
		       strerror(-r), assign_ctx_get_last_error(ctx));
	if (r == -EBUSY || r == 0)
		printf("  kernel (%s) verdict %s libassign's rules\n", how,
		       (r == -EBUSY) == predicted_busy ? "matches"
						       : "DIFFERS FROM");
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
}

static void json_kv_str(const char *key, const char *val, bool comma)
{
	printf("%s\"%s\": ", comma ? ", " : "", key);
	if (val && *val)
		json_str(val);
	else
		printf("null");
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

/* explain --json: the same facts for programs. */
static int explain_json(struct assign_ctx *ctx, const struct global *g,
			const char *addr)
{
	struct assign_host_device *d = NULL;
	struct assign_host_group_report *rep = NULL;
	struct assign_host_opts o;
	char recdrv[ASSIGN_HOST_NAME_LEN], netmsg[512] = "";
	bool in_use = false, ready;
	int r;

	r = assign_host_device_get(ctx, addr, &d);
	if (r < 0)
		return fail(ctx, r, "explain");
	opts_init(&o, g);
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
	if (record_driver(ctx, d->address, &o, recdrv, sizeof(recdrv)) == 0)
		printf(", \"record\": {\"driver\": %s%s%s}",
		       recdrv[0] ? "\"" : "", recdrv[0] ? recdrv : "null",
		       recdrv[0] ? "\"" : "");
	else
		printf(", \"record\": null");
	printf(", \"bridge\": %s", d->is_bridge ? "true" : "false");
	json_kv_str("physfn", d->physfn, true);
	printf(", \"netdev_in_use\": %s", in_use ? "true" : "false");
	json_kv_str("netdev_message", netmsg, true);
	printf(", \"iommu_group\": ");
	if (rep) {
		printf("{\"id\": %d, \"viable\": %s, \"members\": [",
		       rep->group, rep->viable ? "true" : "false");
		for (size_t i = 0; i < rep->n_members; i++) {
			const struct assign_host_member *m = rep->members[i];
			printf("%s{", i ? ", " : "");
			json_kv_str("address", m->address, false);
			json_kv_str("driver", m->driver, true);
			printf(", \"class\": \"%06x\", \"bridge\": %s, "
			       "\"blocks\": %s, \"action\": \"%s\"",
			       m->class_code, m->is_bridge ? "true" : "false",
			       m->blocks ? "true" : "false",
			       action_name(m->action));
			json_kv_str("reason", m->reason, true);
			json_kv_str("fix", m->fix, true);
			printf("}");
		}
		printf("]}");
	} else {
		printf("null");
	}
	printf(", \"bound_to_vfio\": %s, \"ready\": %s}\n",
	       d->is_vfio ? "true" : "false", ready ? "true" : "false");
	assign_host_group_report_free(rep);
	assign_host_device_free(d);
	return ready ? EXIT_OK : EXIT_NOT_READY;
}

static int cmd_explain(struct assign_ctx *ctx, const struct global *g,
		       int argc, char **argv)
{
	struct assign_host_device *d = NULL;
	struct assign_host_group_report *rep = NULL;
	struct assign_host_opts o;
	char recdrv[ASSIGN_HOST_NAME_LEN];
	bool ok = true, busy = false, probe = false;
	int r;

	const char *addr = NULL;
	bool json = g->json;

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
	if (json)
		return explain_json(ctx, g, addr);
	r = assign_host_device_get(ctx, addr, &d);
	if (r < 0)
		return fail(ctx, r, "explain");
	printf("%s%s%s  %04x:%04x class %06x\n", BOLD, d->address, RESET,
	       d->vendor, d->device, d->class_code);
	if (d->device_name[0])
		printf("  %s%s%s\n", d->vendor_name,
		       d->vendor_name[0] ? " " : "", d->device_name);
	printf("  driver: %s%s%s%s\n", d->driver[0] ? d->driver : "(none)",
	       d->driver_override[0] ? " (driver_override " : "",
	       d->driver_override, d->driver_override[0] ? ")" : "");
	opts_init(&o, g);
	if (record_driver(ctx, d->address, &o, recdrv, sizeof(recdrv)) == 0)
		printf("  record: 'assign-host restore %s' gives it back to "
		       "%s\n",
		       d->address, recdrv[0] ? recdrv : "(no driver)");
	if (d->physfn[0])
		printf("  SR-IOV: VF %d of %s (set its MAC/VLAN before "
		       "binding: assign-host vf-config %s ...)\n",
		       d->vf_index, d->physfn, d->address);
	if (d->sriov_totalvfs)
		printf("  SR-IOV: PF with %u of %u VFs enabled\n",
		       d->sriov_numvfs, d->sriov_totalvfs);

	if (d->n_netdevs) {
		r = assign_host_netdev_check(ctx, d->address);
		if (r == -EBUSY) {
			printf("  %sIn use%s: %s\n", RED, RESET,
			       assign_ctx_get_last_error(ctx));
			printf("        (bind refuses it without --force)\n");
			busy = true;
		} else if (r == 0) {
			printf("  Network interface%s %s: not in use\n",
			       d->n_netdevs > 1 ? "s" : "", d->netdevs[0]);
		}
	}
	if (busy)
		ok = false;
	if (d->is_bridge) {
		printf("  %sNo%s: a bridge cannot be assigned; vfio-pci only "
		       "takes endpoint devices.\n",
		       RED, RESET);
		assign_host_device_free(d);
		return EXIT_NOT_READY;
	}
	if (d->iommu_group < 0) {
		printf("  %sNo%s: no IOMMU group. The IOMMU is off or "
		       "missing: enable VT-d/AMD-Vi in the firmware and boot "
		       "with intel_iommu=on (or amd_iommu=on).\n",
		       RED, RESET);
		assign_host_device_free(d);
		return EXIT_NOT_READY;
	}
	printf("  IOMMU group %d:\n", d->iommu_group);
	r = assign_host_group_report(ctx, d->iommu_group, &rep);
	if (r < 0) {
		assign_host_device_free(d);
		return fail(ctx, r, "explain");
	}
	for (size_t i = 0; i < rep->n_members; i++) {
		const struct assign_host_member *m = rep->members[i];
		bool self = !strcmp(m->address, d->address);

		printf("    %s %s%s%s  %-14s %s\n", self ? "*" : " ",
		       m->blocks ? RED : GREEN, m->address, RESET,
		       m->driver[0] ? m->driver : "(none)", m->reason);
		if (m->blocks && !self)
			printf("        fix: %s\n", m->fix);
	}
	if (!rep->viable) {
		ok = false;
		printf("  %sThe group is not viable%s: %zu device%s must "
		       "leave %s driver%s first (see the fixes above).\n",
		       RED, RESET, rep->n_blocking,
		       rep->n_blocking == 1 ? "" : "s",
		       rep->n_blocking == 1 ? "its" : "their",
		       "");
	}
	if (!d->is_vfio) {
		ok = false;
		printf("  The device itself is %s%s; bind it to vfio-pci:\n"
		       "        fix: assign-host bind %s\n",
		       d->driver[0] ? "bound to " : "without a driver",
		       d->driver, d->address);
	}
	if (ok)
		printf("  %sReady%s: the device can be opened through VFIO "
		       "(/dev/vfio/%d).\n",
		       GREEN, RESET, d->iommu_group);
	if (probe) {
		probe_kernel(ctx, d->address, !rep->viable, ASSIGN_IOMMU_TYPE1);
		/* With iommufd, binding the device's cdev claims the group's
		 * DMA ownership: the same rule, reached another way. */
		if (access("/dev/iommu", F_OK) == 0)
			probe_kernel(ctx, d->address, !rep->viable,
				     ASSIGN_IOMMU_IOMMUFD);
	}
	assign_host_group_report_free(rep);
	assign_host_device_free(d);
	return ok ? EXIT_OK : EXIT_NOT_READY;
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
	struct assign_host_vf_config cfg = { .size = sizeof(cfg) };
	const char *pf = NULL;
	long vfn = -1;
	long v;
	int c, r;

	optind = 0; /* glibc: re-initialise, permute again */
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_mac(optarg, cfg.mac) < 0)
				return usage_error("bad --mac '%s'", optarg);
			cfg.set |= ASSIGN_HOST_VF_F_MAC;
			break;
		case 'l':
			if (parse_int(optarg, 0, 4095, &v) < 0)
				return usage_error("bad --vlan '%s' (0-4095)",
						   optarg);
			cfg.vlan = (uint16_t)v;
			cfg.set |= ASSIGN_HOST_VF_F_VLAN;
			break;
		case 'q':
			if (parse_int(optarg, 0, 7, &v) < 0)
				return usage_error("bad --qos '%s' (0-7)",
						   optarg);
			cfg.qos = (uint8_t)v;
			cfg.set |= ASSIGN_HOST_VF_F_VLAN;
			break;
		case 's':
			if (parse_onoff(optarg, &cfg.spoofchk) < 0)
				return usage_error("bad --spoofchk '%s'",
						   optarg);
			cfg.set |= ASSIGN_HOST_VF_F_SPOOFCHK;
			break;
		case 't':
			if (parse_onoff(optarg, &cfg.trust) < 0)
				return usage_error("bad --trust '%s'", optarg);
			cfg.set |= ASSIGN_HOST_VF_F_TRUST;
			break;
		case 'k':
			if (!strcmp(optarg, "auto"))
				cfg.link_state = ASSIGN_HOST_VF_LINK_AUTO;
			else if (!strcmp(optarg, "enable"))
				cfg.link_state = ASSIGN_HOST_VF_LINK_ENABLE;
			else if (!strcmp(optarg, "disable"))
				cfg.link_state = ASSIGN_HOST_VF_LINK_DISABLE;
			else
				return usage_error("bad --link-state '%s'",
						   optarg);
			cfg.set |= ASSIGN_HOST_VF_F_LINK_STATE;
			break;
		case 'P':
			pf = optarg;
			break;
		case 'N':
			if (parse_int(optarg, 0, 65535, &vfn) < 0)
				return usage_error("bad --vf '%s'", optarg);
			break;
		default: /* getopt said what */
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return EXIT_USAGE;
		}
	}
	if (!pf != (vfn < 0))
		return usage_error("vf-config: give --pf and --vf together");
	if (pf ? optind != argc : optind != argc - 1)
		return usage_error("vf-config needs one VF ADDRESS, or --pf "
				   "IFNAME --vf N");
	if (!cfg.set)
		return usage_error("vf-config: give at least one setting");
	if (pf)
		r = assign_host_vf_configure_netdev(ctx, pf, (unsigned)vfn,
						    &cfg);
	else
		r = assign_host_vf_configure(ctx, argv[optind], &cfg);
	if (r < 0)
		return fail(ctx, r, "vf-config");
	return EXIT_OK;
}

/* vf-show VF | --pf IFNAME --vf N: what the PF's driver reports. */
static int cmd_vf_show(struct assign_ctx *ctx, const struct global *g,
		       int argc, char **argv)
{
	struct assign_host_vf_config c = { .size = sizeof(c) };
	struct assign_host_device *vf = NULL, *pfd = NULL;
	char ifname[16] = "";
	long idx = -1;
	int r;

	if (argc == 5 && !strcmp(argv[1], "--pf") && !strcmp(argv[3], "--vf")) {
		snprintf(ifname, sizeof(ifname), "%s", argv[2]);
		if (parse_int(argv[4], 0, 65535, &idx) < 0)
			return usage_error("bad --vf '%s'", argv[4]);
	} else if (argc == 2) {
		r = assign_host_device_get(ctx, argv[1], &vf);
		if (r < 0)
			return fail(ctx, r, "vf-show");
		if (!vf->physfn[0] || vf->vf_index < 0) {
			fprintf(stderr, "%s: vf-show: %s is not an SR-IOV VF\n",
				prog, vf->address);
			assign_host_device_free(vf);
			return EXIT_NODEV;
		}
		idx = vf->vf_index;
		r = assign_host_device_get(ctx, vf->physfn, &pfd);
		if (r < 0) {
			assign_host_device_free(vf);
			return fail(ctx, r, "vf-show");
		}
		if (pfd->n_netdevs)
			snprintf(ifname, sizeof(ifname), "%s", pfd->netdevs[0]);
		if (!ifname[0]) {
			fprintf(stderr,
				"%s: vf-show: the PF %s of %s has no network "
				"interface\n",
				prog, pfd->address, vf->address);
			assign_host_device_free(pfd);
			assign_host_device_free(vf);
			return EXIT_NODEV;
		}
		assign_host_device_free(pfd);
		assign_host_device_free(vf);
	} else {
		return usage_error("vf-show needs a VF ADDRESS, or --pf IFNAME "
				   "--vf N");
	}
	r = assign_host_vf_get(ctx, ifname, (unsigned)idx, &c);
	if (r < 0)
		return fail(ctx, r, "vf-show");
	if (g->json) {
		printf("{\"pf\": ");
		json_str(ifname);
		printf(", \"vf\": %ld, \"mac\": \"%02x:%02x:%02x:%02x:%02x:%02x\"",
		       idx, c.mac[0], c.mac[1], c.mac[2], c.mac[3], c.mac[4],
		       c.mac[5]);
		if (c.set & ASSIGN_HOST_VF_F_VLAN)
			printf(", \"vlan\": %u, \"qos\": %u", c.vlan, c.qos);
		if (c.set & ASSIGN_HOST_VF_F_SPOOFCHK)
			printf(", \"spoofchk\": %s", c.spoofchk ? "true" : "false");
		if (c.set & ASSIGN_HOST_VF_F_TRUST)
			printf(", \"trust\": %s", c.trust ? "true" : "false");
		if (c.set & ASSIGN_HOST_VF_F_LINK_STATE)
			printf(", \"link_state\": \"%s\"",
			       c.link_state == ASSIGN_HOST_VF_LINK_ENABLE ? "enable"
			       : c.link_state == ASSIGN_HOST_VF_LINK_DISABLE
				       ? "disable"
				       : "auto");
		printf("}\n");
		return EXIT_OK;
	}
	printf("%s vf %ld: mac %02x:%02x:%02x:%02x:%02x:%02x", ifname, idx,
	       c.mac[0], c.mac[1], c.mac[2], c.mac[3], c.mac[4], c.mac[5]);
	if (c.set & ASSIGN_HOST_VF_F_VLAN)
		printf(" vlan %u qos %u", c.vlan, c.qos);
	if (c.set & ASSIGN_HOST_VF_F_SPOOFCHK)
		printf(" spoofchk %s", c.spoofchk ? "on" : "off");
	if (c.set & ASSIGN_HOST_VF_F_TRUST)
		printf(" trust %s", c.trust ? "on" : "off");
	if (c.set & ASSIGN_HOST_VF_F_LINK_STATE)
		printf(" link-state %s",
		       c.link_state == ASSIGN_HOST_VF_LINK_ENABLE ? "enable"
		       : c.link_state == ASSIGN_HOST_VF_LINK_DISABLE ? "disable"
								      : "auto");
	printf("\n");
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

int main(int argc, char **argv)
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
	struct global g = { .color = "auto" };
	struct assign_ctx *ctx = NULL;
	const char *cmd;
	int c, r, status;

	if (argv[0] && strrchr(argv[0], '/'))
		prog = strrchr(argv[0], '/') + 1;
	else if (argv[0])
		prog = argv[0];
	while ((c = getopt_long(argc, argv, "+s:vhV", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			g.state_dir = optarg;
			break;
		case 'C':
			g.color = optarg;
			break;
		case 'j':
			g.json = true;
			break;
		case 'v':
			g.verbose++;
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
	if (optind >= argc)
		return usage_error("no command given");
	if (!strcmp(g.color, "always"))
		use_color = true;
	else if (!strcmp(g.color, "never"))
		use_color = false;
	else if (!strcmp(g.color, "auto"))
		use_color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") &&
			    !(getenv("TERM") && !strcmp(getenv("TERM"), "dumb"));
	else
		return usage_error("--color takes auto, always or never");

	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}

	r = assign_ctx_new(&ctx);
	if (r < 0)
		return fail(NULL, r, "cannot create a libassign context");
	if (g.verbose && !getenv("ASSIGN_LOG"))
		assign_ctx_set_log_priority(ctx, g.verbose > 1 ? LOG_DEBUG
							       : LOG_INFO);
	/* Failures are printed once, by fail(); keep the library quiet at
	 * the error level unless asked for more. */
	if (!g.verbose && !getenv("ASSIGN_LOG"))
		assign_ctx_set_log_priority(ctx, LOG_CRIT);

	if (!strcmp(cmd, "list"))
		status = cmd_list(ctx, &g, argc, argv);
	else if (!strcmp(cmd, "explain"))
		status = cmd_explain(ctx, &g, argc, argv);
	else if (!strcmp(cmd, "bind"))
		status = cmd_bind(ctx, &g, argc, argv, false);
	else if (!strcmp(cmd, "unbind"))
		status = cmd_bind(ctx, &g, argc, argv, true);
	else if (!strcmp(cmd, "restore"))
		status = cmd_restore(ctx, &g, argc, argv);
	else if (!strcmp(cmd, "vf-config"))
		status = cmd_vf_config(ctx, argc, argv);
	else if (!strcmp(cmd, "vf-show"))
		status = cmd_vf_show(ctx, &g, argc, argv);
	else if (!strcmp(cmd, "set-numvfs"))
		status = cmd_set_numvfs(ctx, argc, argv);
	else
		status = usage_error("unknown command '%s'", cmd);
	assign_ctx_unref(ctx);
	if (fflush(stdout) != 0 && status == EXIT_OK)
		status = EXIT_FAIL;
	return status;
}
