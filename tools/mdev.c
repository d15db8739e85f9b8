// SPDX-License-Identifier: MIT
/*
 * assign-host's mediated devices: mdev-types, mdev-list, mdev-create,
 * mdev-remove, and explain for an mdev. Public API only (<libassign/host.h>
 * for the mdev core's sysfs, libassign to probe through VFIO).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <libassign/host.h>
#include <libassign/libassign.h>

#include "assign-host.h"
#include "escape.h"

bool is_mdev_name(const char *name)
{
	struct assign_pci_addr a;

	if (!strncmp(name, "/sys/", 5))
		return true;
	return strlen(name) == 36 && assign_pci_addr_parse(name, &a) < 0 &&
	       name[8] == '-' && name[13] == '-' && name[18] == '-' &&
	       name[23] == '-';
}

/* A JSON string from sysfs, escaped (escape.h); null when empty. */
static void jstr(const char *key, const char *s, bool comma)
{
	printf("%s\"%s\": ", comma ? ", " : "", key);
	if (!s || !*s) {
		printf("null");
		return;
	}
	esc_json(stdout, s);
}

/* Text from sysfs for a terminal, escaped (escape.h). */
static const char *plain(const char *s, char *buf, size_t size)
{
	return esc_text(s, buf, size);
}

static int cmd_types(struct assign_ctx *ctx, bool json)
{
	struct assign_host_mdev_type_list *l = NULL;
	char a[80], b[80], c[80], d[80];
	int r;

	r = assign_host_mdev_types(ctx, &l);
	if (r < 0)
		return fail(ctx, r, "mdev-types");
	if (json) {
		printf("[");
		for (size_t i = 0; i < l->count; i++) {
			const struct assign_host_mdev_type *t = &l->types[i];

			printf("%s{", i ? ",\n " : "");
			jstr("parent", t->parent, false);
			jstr("type", t->type, true);
			jstr("name", t->name, true);
			jstr("device_api", t->device_api, true);
			jstr("description", t->description, true);
			printf(", \"available\": %u, \"instances\": %u}",
			       t->available, t->n_instances);
		}
		printf("]\n");
	} else if (!l->count) {
		printf("No mediated device types: no driver offers any (or "
		       "the mdev core is not loaded).\n");
	} else {
		printf("%-14s %-20s %-10s %9s %9s  %s\n", "PARENT", "TYPE",
		       "API", "AVAILABLE", "INSTANCES", "NAME");
		for (size_t i = 0; i < l->count; i++) {
			const struct assign_host_mdev_type *t = &l->types[i];

			printf("%-14s %-20s %-10s %9u %9u  %s\n",
			       plain(t->parent, a, sizeof(a)),
			       plain(t->type, b, sizeof(b)),
			       plain(t->device_api, d, sizeof(d)), t->available,
			       t->n_instances, plain(t->name, c, sizeof(c)));
		}
	}
	assign_host_mdev_type_list_free(l);
	return EXIT_OK;
}

static int cmd_list(struct assign_ctx *ctx, bool json)
{
	struct assign_host_mdev_list *l = NULL;
	char a[80], b[80], c[80];
	int r;

	r = assign_host_mdev_list(ctx, &l);
	if (r < 0)
		return fail(ctx, r, "mdev-list");
	if (json) {
		printf("[");
		for (size_t i = 0; i < l->count; i++) {
			const struct assign_host_mdev *m = &l->mdevs[i];

			printf("%s{", i ? ",\n " : "");
			jstr("uuid", m->uuid, false);
			jstr("parent", m->parent, true);
			jstr("type", m->type, true);
			jstr("driver", m->driver, true);
			printf(", \"iommu_group\": ");
			if (m->iommu_group >= 0)
				printf("%d", m->iommu_group);
			else
				printf("null");
			jstr("vfio_cdev", m->vfio_cdev, true);
			printf("}");
		}
		printf("]\n");
	} else if (!l->count) {
		printf("No mediated devices.\n");
	} else {
		printf("%-36s %-14s %-20s %-10s %5s  %s\n", "UUID", "PARENT",
		       "TYPE", "DRIVER", "GROUP", "CDEV");
		for (size_t i = 0; i < l->count; i++) {
			const struct assign_host_mdev *m = &l->mdevs[i];

			printf("%-36s %-14s %-20s %-10s %5d  %s\n", m->uuid,
			       plain(m->parent, a, sizeof(a)),
			       plain(m->type, b, sizeof(b)),
			       plain(m->driver[0] ? m->driver : "-", c,
				     sizeof(c)),
			       m->iommu_group,
			       m->vfio_cdev[0] ? m->vfio_cdev : "-");
		}
	}
	assign_host_mdev_list_free(l);
	return EXIT_OK;
}

static int cmd_create(struct assign_ctx *ctx, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "parent", required_argument, NULL, 'p' },
		{ "uuid", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	struct assign_host_mdev_opts o = { .size = sizeof(o) };
	struct assign_host_mdev *m = NULL;
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lopts, NULL)) != -1) {
		if (c == 'p')
			o.parent = optarg;
		else if (c == 'u')
			o.uuid = optarg;
		else
			return usage_error("mdev-create: unknown option or "
					   "missing argument");
	}
	if (optind + 1 != argc)
		return usage_error("mdev-create needs one TYPE (see "
				   "assign-host mdev-types)");
	r = assign_host_mdev_create(ctx, argv[optind], &o, &m);
	if (r < 0) {
		int code = fail(ctx, r, "mdev-create");

		/* no instance left or the UUID taken: busy; several
		 * parents: say which (usage) */
		if (r == -ENOSPC || r == -EEXIST)
			return EXIT_BUSY;
		return r == -ENOTUNIQ ? EXIT_USAGE : code;
	}
	printf("%s\n", m->uuid);
	assign_host_mdev_free(m);
	return EXIT_OK;
}

static int cmd_remove(struct assign_ctx *ctx, int argc, char **argv)
{
	struct assign_host_opts o = { .size = sizeof(o) };
	const char *name = NULL;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--force"))
			o.flags |= ASSIGN_HOST_F_FORCE;
		else if (argv[i][0] == '-' && strncmp(argv[i], "/", 1))
			return usage_error("mdev-remove: unknown option '%s'",
					   argv[i]);
		else if (name)
			return usage_error("mdev-remove needs one UUID");
		else
			name = argv[i];
	}
	if (!name)
		return usage_error("mdev-remove needs one UUID or path");
	r = assign_host_mdev_remove(ctx, name, &o);
	if (r < 0)
		return fail(ctx, r, "mdev-remove");
	return EXIT_OK;
}

int cmd_mdev(struct assign_ctx *ctx, const struct global *g, const char *cmd,
	     int argc, char **argv)
{
	bool json = g->json;

	if (!strcmp(cmd, "mdev-types") || !strcmp(cmd, "mdev-list")) {
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--json"))
				return usage_error("%s takes only --json", cmd);
			json = true;
		}
		return !strcmp(cmd, "mdev-types") ? cmd_types(ctx, json) :
						    cmd_list(ctx, json);
	}
	if (!strcmp(cmd, "mdev-create"))
		return cmd_create(ctx, argc, argv);
	if (!strcmp(cmd, "mdev-remove"))
		return cmd_remove(ctx, argc, argv);
	return usage_error("unknown command '%s'", cmd);
}

/* explain --probe: open the mdev through VFIO on each backend there is,
 * and say what the kernel said. */
static bool probe_mdev(struct assign_ctx *ctx, const char *name,
		       enum assign_iommu_backend b)
{
	struct assign_iommu_opts o = { .size = sizeof(o), .backend = b };
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	const char *bn = b == ASSIGN_IOMMU_TYPE1 ? "type1" : "iommufd";
	int r;

	r = assign_iommu_new(ctx, &o, &iommu);
	if (r == 0)
		r = assign_device_open(iommu, name, NULL, &dev);
	if (r == 0)
		printf("  Probe (%s): opened through VFIO.\n", bn);
	else
		printf("  Probe (%s): refused: %s\n", bn,
		       assign_ctx_get_last_error(ctx));
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	return r == 0;
}

int explain_mdev(struct assign_ctx *ctx, const struct global *g,
		 const char *name, bool probe)
{
	struct assign_host_mdev *m = NULL;
	char a[80], b[80], c[80];
	bool ok = true;
	int r;

	r = assign_host_mdev_get(ctx, name, &m);
	if (r < 0)
		return fail(ctx, r, "explain");
	if (g->json) {
		printf("{");
		jstr("uuid", m->uuid, false);
		jstr("parent", m->parent, true);
		jstr("type", m->type, true);
		jstr("driver", m->driver, true);
		printf(", \"iommu_group\": ");
		if (m->iommu_group >= 0)
			printf("%d", m->iommu_group);
		else
			printf("null");
		jstr("vfio_cdev", m->vfio_cdev, true);
		printf(", \"ready\": %s}\n",
		       m->driver[0] && m->iommu_group >= 0 ? "true" : "false");
		ok = m->driver[0] && m->iommu_group >= 0;
		assign_host_mdev_free(m);
		return ok ? EXIT_OK : EXIT_NOT_READY;
	}
	printf("%s: mediated device of %s, type %s\n", m->uuid,
	       plain(m->parent, a, sizeof(a)), plain(m->type, b, sizeof(b)));
	if (m->driver[0]) {
		printf("  Driver: %s (the parent's: it registers the mdev with "
		       "VFIO)\n",
		       plain(m->driver, c, sizeof(c)));
	} else {
		ok = false;
		printf("  Driver: none: the driver of %s, which makes its "
		       "mdevs VFIO devices, is not bound\n",
		       a);
	}
	if (m->iommu_group >= 0)
		printf("  IOMMU group %d (made by VFIO for the mdev: no IOMMU "
		       "is involved, the parent does the device's DMA)\n",
		       m->iommu_group);
	else if (m->driver[0])
		printf("  No IOMMU group yet\n");
	if (m->vfio_cdev[0])
		printf("  vfio cdev: /dev/vfio/devices/%s (iommufd)\n",
		       m->vfio_cdev);
	if (ok)
		printf("  Ready: open it as %s or /sys/bus/mdev/devices/%s "
		       "(assign-vmm --device /sys/bus/mdev/devices/%s)\n",
		       m->uuid, m->uuid, m->uuid);
	if (probe) {
		ok &= probe_mdev(ctx, m->uuid, ASSIGN_IOMMU_TYPE1);
		if (m->vfio_cdev[0])
			ok &= probe_mdev(ctx, m->uuid, ASSIGN_IOMMU_IOMMUFD);
	}
	assign_host_mdev_free(m);
	return ok ? EXIT_OK : EXIT_NOT_READY;
}
