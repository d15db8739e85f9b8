// SPDX-License-Identifier: MIT
/*
 * Group viability, as the kernel decides it. Since Linux 5.19 VFIO asks
 * the IOMMU core whether the group's DMA ownership is claimed
 * (iommu_group_dma_owner_claimed() in VFIO_GROUP_GET_STATUS): a device
 * bound to a driver without driver_managed_dma claims it. Drivers that do
 * not: vfio-pci and its variants, pci-stub, pcieport. Devices without a
 * driver claim nothing. Before 5.19 vfio_dev_viable() allowed exactly
 * unbound devices and those same drivers, so one rule covers both.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sys.h"
#include "host/host.h"

static int cmp_member(const void *a, const void *b)
{
	const struct assign_host_member *const *x = a, *const *y = b;

	return strcmp((*x)->address, (*y)->address);
}

static void judge(struct assign_host_member *m)
{
	if (!m->driver[0]) {
		m->action = ASSIGN_HOST_ACTION_NONE;
		snprintf(m->reason, sizeof(m->reason),
			 "%s has no driver: fine", m->is_bridge ? "bridge" : "device");
		return;
	}
	if (pci_driver_kind(m->driver) != PCI_DRIVER_HOST) {
		m->action = ASSIGN_HOST_ACTION_NONE;
		snprintf(m->reason, sizeof(m->reason),
			 "bound to %s, which leaves DMA alone: fine", m->driver);
		return;
	}
	m->blocks = true;
	if (m->is_bridge) {
		m->action = ASSIGN_HOST_ACTION_UNBIND;
		snprintf(m->reason, sizeof(m->reason),
			 "bridge bound to %s, which owns DMA; bridges cannot "
			 "be given to vfio-pci",
			 m->driver);
		snprintf(m->fix, sizeof(m->fix),
			 "assign-host unbind %s  # or: echo %s > "
			 "/sys/bus/pci/drivers/%s/unbind",
			 m->address, m->address, m->driver);
		return;
	}
	m->action = ASSIGN_HOST_ACTION_BIND_VFIO;
	snprintf(m->reason, sizeof(m->reason),
		 "bound to %s, which owns DMA for the whole group", m->driver);
	snprintf(m->fix, sizeof(m->fix),
		 "assign-host bind %s  # or: echo vfio-pci > "
		 "/sys/bus/pci/devices/%s/driver_override; echo %s > "
		 "/sys/bus/pci/drivers/%s/unbind; echo %s > "
		 "/sys/bus/pci/drivers_probe",
		 m->address, m->address, m->address, m->driver, m->address);
}

/* The group member @name, judged; *ret is NULL for a member that is not
 * a PCI device (rare: those are not reported). */
static int member_read(struct assign_ctx *ctx, const char *name,
		       struct assign_host_member **ret)
{
	struct assign_host_member *m;
	struct assign_pci_addr a;
	uint64_t cls = 0;
	char p[160];
	int r;

	*ret = NULL;
	if (assign_pci_addr_parse(name, &a) < 0)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return set_error(ctx, -ENOMEM, "out of memory");
	if (assign_pci_addr_format(&a, m->address, sizeof(m->address)) < 0) {
		free(m);
		return 0;
	}
	snprintf(p, sizeof(p), "bus/pci/devices/%s/class", m->address);
	if (sysfs_read_u64(ctx, p, &cls) == 0)
		m->class_code = (uint32_t)cls & 0xffffff;
	m->is_bridge = (m->class_code >> 16) == 0x06;
	r = pci_dev_driver(ctx, m->address, m->driver, sizeof(m->driver));
	if (r < 0) {
		/* The message names the member: format it before the
		 * member holding its address is freed. */
		r = set_error(ctx, r, "cannot read the driver of %s: %s",
			      m->address, strerror(-r));
		free(m);
		return r;
	}
	judge(m);
	*ret = m;
	return 0;
}

ASSIGN_EXPORT int assign_host_group_report(struct assign_ctx *ctx, int group,
					   struct assign_host_group_report **ret)
{
	struct assign_host_group_report *rep;
	char path[96], **names = NULL;
	size_t cnt = 0;
	int r;

	if (!ctx || !ret || group < 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "kernel/iommu_groups/%d/devices", group);
	r = sysfs_list(ctx, path, &names, &cnt);
	if (r == -ENOENT)
		return set_error(ctx, r,
				 "IOMMU group %d does not exist; is the IOMMU "
				 "on? (boot with intel_iommu=on or amd_iommu=on)",
				 group);
	if (r < 0)
		return set_error(ctx, r, "cannot list IOMMU group %d: %s",
				 group, strerror(-r));
	rep = calloc(1, sizeof(*rep));
	if (!rep || (cnt && !(rep->members = calloc(cnt, sizeof(*rep->members))))) {
		free(rep);
		strv_free(names, cnt);
		return set_error(ctx, -ENOMEM, "out of memory");
	}
	rep->group = group;
	for (size_t i = 0; i < cnt; i++) {
		struct assign_host_member *m;

		r = member_read(ctx, names[i], &m);
		if (r < 0) {
			assign_host_group_report_free(rep);
			strv_free(names, cnt);
			return r;
		}
		if (!m)
			continue;
		rep->members[rep->n_members++] = m;
		if (m->blocks)
			rep->n_blocking++;
	}
	strv_free(names, cnt);
	if (rep->n_members)
		qsort(rep->members, rep->n_members, sizeof(*rep->members),
		      cmp_member);
	rep->viable = rep->n_blocking == 0;
	*ret = rep;
	return 0;
}

ASSIGN_EXPORT struct assign_host_group_report *
assign_host_group_report_free(struct assign_host_group_report *report)
{
	if (report) {
		for (size_t i = 0; i < report->n_members; i++)
			free(report->members[i]);
		free(report->members);
		free(report);
	}
	return NULL;
}

/* @addr must be bound to vfio-pci (or a variant). */
static int check_vfio_driver(struct assign_ctx *ctx, const char *addr)
{
	char drv[ASSIGN_HOST_NAME_LEN];
	int r;

	r = pci_dev_driver(ctx, addr, drv, sizeof(drv));
	if (r < 0)
		return set_error(ctx, r, "cannot read the driver of %s: %s",
				 addr, strerror(-r));
	if (pci_driver_kind(drv) == PCI_DRIVER_VFIO)
		return 0;
	if (!drv[0])
		return set_error(ctx, -ENODEV,
				 "%s has no driver; bind it to "
				 "vfio-pci: assign-host bind %s",
				 addr, addr);
	return set_error(ctx, -ENODEV,
			 "%s is bound to %s, not vfio-pci; bind it: "
			 "assign-host bind %s",
			 addr, drv, addr);
}

/* -EBUSY naming the first member of @rep that blocks it, 0 if none. */
static int blocking_error(struct assign_ctx *ctx,
			  const struct assign_host_group_report *rep)
{
	for (size_t i = 0; i < rep->n_members; i++) {
		const struct assign_host_member *m = rep->members[i];
		char more[48] = "";

		if (!m->blocks)
			continue;
		if (rep->n_blocking > 1)
			snprintf(more, sizeof(more), " (and %zu more)",
				 rep->n_blocking - 1);
		return set_error(
			ctx, -EBUSY,
			"group %d is not viable: %s is bound to %s%s; %s",
			rep->group, m->address, m->driver, more,
			m->action == ASSIGN_HOST_ACTION_UNBIND ?
				"unbind it (assign-host unbind), or "
				"assign-host bind --group" :
				"bind it to vfio-pci or unbind it "
				"(assign-host bind/unbind), or "
				"assign-host bind --group");
	}
	return 0;
}

ASSIGN_EXPORT int assign_host_check_device(struct assign_ctx *ctx,
					   const char *address)
{
	struct assign_host_group_report *rep = NULL;
	char addr[ASSIGN_PCI_ADDR_LEN];
	int r, group;

	if (!ctx)
		return -EINVAL;
	r = host_canon_addr(ctx, address, addr);
	if (r < 0)
		return r;
	r = host_check_exists(ctx, addr);
	if (r < 0)
		return r;
	group = pci_dev_group(ctx, addr);
	if (group < 0)
		return set_error(ctx, -ENOENT,
				 "%s has no IOMMU group: the IOMMU is off or "
				 "missing; boot with intel_iommu=on or "
				 "amd_iommu=on",
				 addr);
	r = check_vfio_driver(ctx, addr);
	if (r < 0)
		return r;
	r = assign_host_group_report(ctx, group, &rep);
	if (r < 0)
		return r;
	r = blocking_error(ctx, rep);
	assign_host_group_report_free(rep);
	return r;
}
