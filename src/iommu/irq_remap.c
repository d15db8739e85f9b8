// SPDX-License-Identifier: MIT
/*
 * Whether the interrupts of the attached devices are remapped (their MSIs
 * isolated), asked where the kernel tells, per group:
 *
 * 1. The kernel's own check. vfio_iommu_type1 and iommufd refuse a group
 *    whose MSIs are not isolated (iommu_group_has_isolated_msi()) with
 *    EPERM unless their allow_unsafe_interrupts is set: when it reads N,
 *    every attached group passed that check: 1.
 * 2. When it reads Y the kernel let the groups in without checking. Then:
 *    a. the IOMMU of each attached group, as the kernel reports it: for an
 *       iommufd device, IOMMU_GET_HW_INFO gives the VT-d capability
 *       registers; otherwise sysfs does (bus/pci/devices/ADDR/iommu ->
 *       class/iommu/dmarN/intel-iommu/ecap). A unit without the interrupt
 *       remapping capability (ecap bit 3) cannot remap: 0.
 *    b. whether the kernel remaps at all: x86 turns remapping on for every
 *       IOMMU or for none, and then names every interrupt chip with an
 *       "IR-" prefix (IR-IO-APIC, IR-PCI-MSIX-...: kernel/irq/N/chip_name).
 *       None among the chips is 0 (intremap=off, or a unit without it);
 *       one is 1, unless a unit said it cannot.
 *    What does not decide (no chips to read, another architecture, an
 *    IOMMU that reports no registers) is -EOPNOTSUPP, not a guess.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include "core/sys.h"
#include "iommu/iommu.h"

/* VT-d extended capability register: Interrupt Remapping support. */
#define VTD_ECAP_IR (1ull << 3)
/* Interrupt chips looked at, at most: a few name the answer. */
#define MAX_CHIPS 256

/* 1 when @module's allow_unsafe_interrupts reads N (the kernel checked
 * isolation at attach), 0 when Y, -errno when it cannot be read. */
static int kernel_checked(struct assign_ctx *ctx, const char *module)
{
	char path[96], val[16];
	int r;

	snprintf(path, sizeof(path),
		 "module/%s/parameters/allow_unsafe_interrupts", module);
	r = sysfs_read(ctx, path, val, sizeof(val));
	if (r < 0)
		return r;
	return val[0] == 'N' || val[0] == 'n' || val[0] == '0';
}

/* The IOMMU unit's ecap.IR through IOMMU_GET_HW_INFO: 1, 0, or
 * -EOPNOTSUPP (an older kernel, or an IOMMU without VT-d registers). */
static int unit_ir_hw_info(const struct assign_iommu *iommu, uint32_t devid,
			   char *unit, size_t size)
{
	struct iommu_hw_info_vtd vtd;
	struct iommu_hw_info hi = {
		.size = sizeof(hi),
		.dev_id = devid,
		.data_len = sizeof(vtd),
		.data_uptr = (uintptr_t)&vtd,
	};
	int r;

	memset(&vtd, 0, sizeof(vtd));
	r = sys_ioctl(iommu->ctx, iommu->fd, IOMMU_GET_HW_INFO, &hi);
	if (r < 0 || hi.out_data_type != IOMMU_HW_INFO_TYPE_INTEL_VTD)
		return -EOPNOTSUPP;
	snprintf(unit, size, "the VT-d unit of iommufd device %" PRIu32, devid);
	return !!(vtd.ecap_reg & VTD_ECAP_IR);
}

/* The IOMMU unit of group @gid's devices through sysfs: 1, 0, or
 * -EOPNOTSUPP (no such link, not a VT-d unit). */
static int unit_ir_sysfs(struct assign_ctx *ctx, int gid, char *unit,
			 size_t size)
{
	char path[160], name[64], val[32], **devs = NULL, *end;
	unsigned long long ecap;
	size_t n = 0;
	int r;

	snprintf(path, sizeof(path), "kernel/iommu_groups/%d/devices", gid);
	if (sysfs_list(ctx, path, &devs, &n) < 0)
		return -EOPNOTSUPP;
	r = -EOPNOTSUPP;
	if (n) {
		/* A group's devices share their IOMMU unit. */
		snprintf(path, sizeof(path),
			 "kernel/iommu_groups/%d/devices/%s/iommu", gid,
			 devs[0]);
		if (sysfs_link_name(ctx, path, name, sizeof(name)) == 0) {
			snprintf(path, sizeof(path),
				 "class/iommu/%s/intel-iommu/ecap", name);
			if (sysfs_read(ctx, path, val, sizeof(val)) == 0) {
				errno = 0;
				ecap = strtoull(val, &end, 16);
				if (!errno && end != val && !*end) {
					snprintf(unit, size, "%s (group %d)",
						 name, gid);
					r = !!(ecap & VTD_ECAP_IR);
				}
			}
		}
	}
	strv_free(devs, n);
	return r;
}

/* Whether the kernel remaps interrupts, from the names of its interrupt
 * chips: 1, 0, or -EOPNOTSUPP. */
static int kernel_remaps(struct assign_ctx *ctx)
{
	char path[64], chip[64], **irqs = NULL;
	size_t n = 0, seen = 0;
	int r = -EOPNOTSUPP;

	if (sysfs_list(ctx, "kernel/irq", &irqs, &n) < 0)
		return -EOPNOTSUPP;
	for (size_t i = 0; i < n && seen < MAX_CHIPS; i++) {
		snprintf(path, sizeof(path), "kernel/irq/%s/chip_name",
			 irqs[i]);
		if (sysfs_read(ctx, path, chip, sizeof(chip)) < 0 || !chip[0])
			continue;
		seen++;
		if (!strncmp(chip, "IR-", 3)) {
			r = 1;
			break;
		}
	}
	strv_free(irqs, n);
#if defined(__x86_64__) || defined(__i386__)
	/* Elsewhere chips are not named so (an Arm ITS isolates MSIs under
	 * other names): no "IR-" there says nothing. */
	if (r < 0 && seen)
		r = 0;
#endif
	return r;
}

/* 2. above: the kernel did not check (@why says why we think so); look
 * at what it reports. */
static int probe(const struct assign_iommu *iommu, const char *why)
{
	struct assign_ctx *ctx = iommu->ctx;
	char unit[96] = "";
	int capable = 1, r;

	for (size_t i = 0; i < iommu->ndevices; i++) {
		r = -EOPNOTSUPP;
		if (iommu->dev_ids[i])
			r = unit_ir_hw_info(iommu, iommu->dev_ids[i], unit,
					    sizeof(unit));
		if (r < 0 && iommu->dev_groups[i] >= 0)
			r = unit_ir_sysfs(ctx, iommu->dev_groups[i], unit,
					  sizeof(unit));
		if (r == 0) {
			dbg(ctx,
			    "interrupts not remapped: %s has no "
			    "interrupt remapping (ecap.IR clear)",
			    unit);
			return 0;
		}
		if (r < 0)
			capable = r;
	}
	r = kernel_remaps(ctx);
	if (r == 0) {
		dbg(ctx, "interrupts not remapped: no interrupt chip of the "
			 "kernel remaps (no IR- chip in /sys/kernel/irq)");
		return 0;
	}
	if (r == 1) {
		dbg(ctx, "interrupts remapped: IR- interrupt chips, %s",
		    capable == 1 ? "every IOMMU unit capable" :
				   "IOMMU units not reported");
		return 1;
	}
	return set_error(ctx, -EOPNOTSUPP,
			 "cannot tell whether interrupts are remapped: %s, and "
			 "neither the IOMMU's capabilities nor the kernel's "
			 "interrupt chips (/sys/kernel/irq) say",
			 why);
}

int iommu_irq_remapping(const struct assign_iommu *iommu, const char *module)
{
	char why[160];
	int r;

	r = kernel_checked(iommu->ctx, module);
	if (r == 1)
		return 1;
	if (r == 0)
		snprintf(why, sizeof(why),
			 "%s allow_unsafe_interrupts is set, so the kernel "
			 "attached the device without checking",
			 module);
	else
		snprintf(why, sizeof(why),
			 "/sys/module/%s/parameters/allow_unsafe_interrupts "
			 "cannot be read (%s)",
			 module, strerror(-r));
	return probe(iommu, why);
}
