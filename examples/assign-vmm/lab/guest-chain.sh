#!/bin/sh
# Lab guest script (tests/lab/run-lab.sh --script): assign-vmm boots a
# Linux guest on the lab's first e1000e (bound to vfio-pci by the lab init);
# the inner guest's stock e1000e driver takes an address by DHCP from
# QEMU's user network and pings 10.0.2.2. Every line the VMM prints is
# stamped with this guest's uptime, so times are from the VMM's start.
#
# Files (added by run-chain.sh): /lab/bin/assign-vmm, /lab/inner/vmlinuz,
# /lab/inner/initrd.gz. Environment: /lab/env (LAB_E1000E_0, LAB_KVM...).
# Optional: ASSIGN_VMM_ARGS (extra VMM options), ASSIGN_VMM_APPEND.

fails=0
result() { # name PASS|FAIL|SKIP detail...
	name=$1; verdict=$2; shift 2
	echo "LAB-RESULT $name $verdict $*"
	[ "$verdict" != FAIL ] || fails=$((fails + 1))
}
now() { cut -d' ' -f1 /proc/uptime; }

if [ "${LAB_KVM:-0}" != 1 ]; then
	result assign-vmm-chain SKIP "no /dev/kvm in the lab guest (kvm-amd not loaded?)"
	exit 0
fi
bdf=${LAB_E1000E_0:-}
if [ -z "$bdf" ] || [ "${LAB_E1000E_0_DRIVER:-}" != vfio-pci ]; then
	result assign-vmm-chain FAIL "no e1000e bound to vfio-pci (LAB_E1000E_0=$bdf driver=${LAB_E1000E_0_DRIVER:-none})"
	exit 1
fi
ulimit -l unlimited
append=${ASSIGN_VMM_APPEND:-"console=ttyS0 acpi=noirq panic=-1 quiet pci=noearly nettest"}
log=/tmp/assign-vmm.log
t0=$(now)
# the VMM's own messages go to a file of their own, so they cannot cut
# into the guest's console lines that the checks below look for; the
# library's debug log among them says each time KVM's GSI routing table
# is updated
{
	ASSIGN_LOG=debug run-bounded 300 assign-vmm -v --kernel /lab/inner/vmlinuz \
		--initrd /lab/inner/initrd.gz --append "$append" --mem 256M \
		--device "$bdf" ${ASSIGN_VMM_ARGS:-} </dev/null 2>/tmp/assign-vmm.err
	echo "VMM-RC $?"
} | while IFS= read -r line; do
	echo "$(now) $line"
done | tee "$log"
sed 's/^/VMM-STDERR /' /tmp/assign-vmm.err

# seconds from the VMM's start to the first line matching $1
at() { awk -v t0="$t0" -v pat="$1" 'index($0, pat) { printf "%.2f", $1 - t0; exit }' "$log"; }
has() { grep -q "$1" "$log"; }

rc=$(awk '/VMM-RC/ {print $NF}' "$log")
t_init=$(at INNER-INIT)
t_link=$(at "INNER-LINK carrier=1")
t_dhcp=$(at "INNER-DHCP 10.")
t_ping=$(at "bytes from 10.0.2.2")
t_end=$(at VMM-RC)
rtt=$(sed -n 's/.*round-trip min\/avg\/max = \([0-9.\/]*\) ms.*/\1/p' "$log" | tail -n1)

has INNER-INIT && result assign-vmm-boot PASS "inner init reached ${t_init}s after the VMM started" ||
	result assign-vmm-boot FAIL "the inner guest never reached init"
has "INNER-PCI .* 0x8086:0x10d3" && has "INNER-LINK carrier=1" &&
	result assign-vmm-e1000e PASS "stock e1000e drives the assigned NIC, link up at ${t_link}s" ||
	result assign-vmm-e1000e FAIL "assigned NIC not seen or no link"
has "INNER-DHCP 10." && result assign-vmm-dhcp PASS "$(sed -n 's/.*INNER-DHCP \([0-9.\/]*\).*/\1/p' "$log") at ${t_dhcp}s" ||
	result assign-vmm-dhcp FAIL "no DHCP lease"
has "INNER-PING ok" && result assign-vmm-ping PASS "first reply ${t_ping}s after the VMM started, rtt min/avg/max ${rtt} ms" ||
	result assign-vmm-ping FAIL "ping 10.0.2.2 failed"
routing=$(grep -c "GSI routing table to KVM" /tmp/assign-vmm.err)
has "INNER-IRQ" && ! grep "INNER-IRQ" "$log" | grep -q "IO-APIC" &&
	result assign-vmm-msix PASS "$(grep -c 'INNER-IRQ.*PCI-MSI' "$log") MSI-X vectors in use, KVM's GSI routing table updated $routing times in the whole run" ||
	result assign-vmm-msix FAIL "e1000e is not on MSI-X"
# the inner init ends with `poweroff -f`: ACPI S5 must end the VMM, exit 0
if [ "$rc" = 0 ] && grep -q "guest power-off (ACPI S5)" /tmp/assign-vmm.err; then
	result assign-vmm-poweroff PASS "VMM exited 0 on the guest's power-off (ACPI S5) after ${t_end}s"
else
	result assign-vmm-poweroff FAIL "VMM exit code ${rc:-none}, $(grep -c "power-off (ACPI S5)" /tmp/assign-vmm.err) power-off message(s)"
fi
# ECAM: the NIC's 4 KiB config space and its first extended capability
# (QEMU's e1000e has AER at 0x100)
c=$(sed -n 's/.*INNER-CFG [^ ]* size=\([0-9]*\) ext0=\([0-9a-f]*\).*/\1 \2/p' "$log" | head -n1)
[ "${c% *}" = 4096 ] && [ "$(printf %s "${c#* }" | tail -c 4)" = 0001 ] &&
	result assign-vmm-ecam PASS "NIC config space 4096 bytes through ECAM, AER at 0x100 ($c)" ||
	result assign-vmm-ecam FAIL "NIC config space: '${c:-none}'"
# the backend libassign picked: iommufd where the lab kernel has it and the
# NIC a vfio cdev, type1 otherwise; KVM's VFIO device took the group or
# the cdev
want=type1
[ -e /dev/iommu ] && [ -n "${LAB_E1000E_0_CDEV:-}" ] && want=iommufd
if grep -q "$bdf: opened on $want " /tmp/assign-vmm.err &&
	grep -q "$bdf: added to KVM's VFIO device" /tmp/assign-vmm.err; then
	result assign-vmm-backend PASS "$want; $(sed -n "s/.*$bdf: \(added to KVM's VFIO device.*\)/\1/p" /tmp/assign-vmm.err | head -n1)"
else
	result assign-vmm-backend FAIL "want $want: $(grep -E "$bdf: (opened|added|not added)" /tmp/assign-vmm.err | tr '\n' ';')"
fi
drv=$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver 2>/dev/null)" 2>/dev/null)
[ "$drv" = vfio-pci ] && result assign-vmm-restore PASS "$bdf still bound to vfio-pci" ||
	result assign-vmm-restore FAIL "$bdf is bound to '${drv:-nothing}' after the VMM"
if [ $fails = 0 ]; then
	echo "ASSIGN-VMM-CHAIN OK: VMM start -> inner init ${t_init}s, -> first ping reply ${t_ping}s, rtt ${rtt} ms, VMM exit ${t_end}s"
fi
[ $fails = 0 ]
