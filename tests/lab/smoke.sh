#!/bin/sh
# Guest script: checks that VFIO is really there in the lab guest.
# Runs under busybox sh with /lab/env in the environment; prints
# LAB-RESULT lines. Exit status: 0 unless a check failed.

fails=0
result() { # name PASS|FAIL|SKIP detail...
	name=$1; verdict=$2; shift 2
	echo "LAB-RESULT $name $verdict $*"
	[ "$verdict" != FAIL ] || fails=$((fails + 1))
}

if [ -c /dev/vfio/vfio ]; then
	result smoke-vfio-container PASS "/dev/vfio/vfio present"
else
	result smoke-vfio-container FAIL "/dev/vfio/vfio missing (vfio module not loaded?)"
fi

if [ "${LAB_E1000E_COUNT:-0}" -ge 2 ]; then
	result smoke-devices-found PASS "e1000e x$LAB_E1000E_COUNT, edu ${LAB_EDU:-none}, nvme ${LAB_NVME:-none}"
else
	result smoke-devices-found FAIL "expected 2 e1000e, found ${LAB_E1000E_COUNT:-0}"
fi

for var in LAB_E1000E_0 LAB_E1000E_1 LAB_EDU LAB_NVME; do
	eval bdf=\${$var:-}
	eval group=\${${var}_GROUP:-}
	eval driver=\${${var}_DRIVER:-}
	lname=$(echo "${var#LAB_}" | tr 'A-Z_' 'a-z-')
	if [ -z "$bdf" ]; then
		result "smoke-$lname" FAIL "device not found on the PCI bus"
		continue
	fi
	if [ -z "$group" ]; then
		result "smoke-$lname" FAIL "$bdf has no iommu_group (is the IOMMU on?)"
		continue
	fi
	if [ "$driver" != vfio-pci ]; then
		result "smoke-$lname" FAIL "$bdf is bound to '${driver:-nothing}', not vfio-pci"
		continue
	fi
	if [ ! -c "/dev/vfio/$group" ]; then
		result "smoke-$lname" FAIL "/dev/vfio/$group missing for $bdf"
		continue
	fi
	rr=/sys/kernel/iommu_groups/$group/reserved_regions
	if ! regions=$(cat "$rr" 2>&1); then
		result "smoke-$lname" FAIL "cannot read $rr: $regions"
		continue
	fi
	if ! echo "$regions" | grep -q '0x00000000fee00000 0x00000000feefffff msi'; then
		result "smoke-$lname" FAIL "$rr lacks the MSI window: $(echo "$regions" | tr '\n' ';')"
		continue
	fi
	result "smoke-$lname" PASS "$bdf group $group /dev/vfio/$group, $(echo "$regions" | wc -l) reserved regions"
done

if [ "${LAB_E1000E_0_GROUP:-x}" != "${LAB_E1000E_1_GROUP:-x}" ]; then
	result smoke-two-groups PASS "e1000e groups ${LAB_E1000E_0_GROUP:-?} and ${LAB_E1000E_1_GROUP:-?}"
else
	result smoke-two-groups FAIL "both e1000e share group ${LAB_E1000E_0_GROUP:-?}"
fi

if [ -n "${LAB_NV_GROUP:-}" ] && [ -c "/dev/vfio/$LAB_NV_GROUP" ] &&
	[ -n "${LAB_NV_E1000E_DRIVER:-}" ] && [ "$LAB_NV_E1000E_DRIVER" != vfio-pci ]; then
	result smoke-nonviable-fixture PASS "group $LAB_NV_GROUP: ${LAB_NV_EDU:-?} on vfio-pci, ${LAB_NV_E1000E:-?} on $LAB_NV_E1000E_DRIVER"
else
	result smoke-nonviable-fixture FAIL "group ${LAB_NV_GROUP:-?}: edu ${LAB_NV_EDU:-missing}, e1000e ${LAB_NV_E1000E:-missing} driver ${LAB_NV_E1000E_DRIVER:-none}"
fi

if [ -c /dev/kvm ]; then
	result smoke-kvm PASS "/dev/kvm present"
else
	result smoke-kvm FAIL "/dev/kvm missing (kvm_amd not loaded?)"
fi

if [ -c /dev/iommu ]; then
	if [ -n "${LAB_E1000E_0_CDEV:-}" ] && [ -c "$LAB_E1000E_0_CDEV" ]; then
		result smoke-iommufd PASS "/dev/iommu and $LAB_E1000E_0_CDEV present"
	else
		result smoke-iommufd FAIL "/dev/iommu present but no vfio cdev for ${LAB_E1000E_0:-e1000e}"
	fi
else
	result smoke-iommufd SKIP "kernel $(uname -r) has no IOMMUFD"
fi

[ "$fails" = 0 ]
