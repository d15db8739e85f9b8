#!/bin/sh
# Lab guest script: assign-vmm as an unprivileged user, with the NIC's
# VFIO fds handed over by a privileged helper (assign-host handoff), as a
# management stack runs its VMM. The user cannot open /dev/vfio or
# /dev/iommu; the helper raises its RLIMIT_MEMLOCK; the inner guest's
# stock e1000e takes an address by DHCP and pings. On each backend the
# lab kernel has (type1; iommufd on the own kernel).
# Files: /lab/bin/assign-vmm, /lab/bin/assign-host, /lab/inner/vmlinuz,
# /lab/inner/initrd.gz (run-chain.sh).
fails=0
result() {
	name=$1; verdict=$2; shift 2
	echo "LAB-RESULT $name $verdict $*"
	[ "$verdict" != FAIL ] || fails=$((fails + 1))
}
if [ "${LAB_KVM:-0}" != 1 ]; then
	result assign-vmm-handoff FAIL "no /dev/kvm in the lab guest: the unprivileged VMM cannot be run"
	exit 1
fi
bdf=${LAB_E1000E_0:-}
if [ -z "$bdf" ] || [ "${LAB_E1000E_0_DRIVER:-}" != vfio-pci ]; then
	result assign-vmm-handoff FAIL "no e1000e bound to vfio-pci"
	exit 1
fi
sock=/tmp/handoff.sock
append="console=ttyS0 acpi=noirq panic=-1 quiet pci=noearly nettest"

# An ordinary user, with KVM (as distributions give it to group kvm) and
# nothing else: /dev/vfio and /dev/iommu stay root's.
mkdir -p /etc
echo 'vmm:x:1000:1000:vmm:/tmp:/bin/sh' >>/etc/passwd
echo 'vmm:x:1000:' >>/etc/group
chgrp 1000 /dev/kvm && chmod 660 /dev/kvm
as_vmm() { su -s /bin/sh vmm -c "$*"; }

# The same user opening VFIO itself is refused: the group node (and
# /dev/iommu, the cdevs) are root's. (/dev/vfio/vfio, the container, is
# open to all by design: without a group it reaches nothing.)
nodes="${LAB_E1000E_0_GROUP_DEV:-/dev/vfio/none}"
[ -e /dev/iommu ] && nodes="$nodes /dev/iommu ${LAB_E1000E_0_CDEV:-}"
denied=0 tried=0
for n in $nodes; do
	tried=$((tried + 1))
	as_vmm "exec 3<>$n" 2>/dev/null || denied=$((denied + 1))
done
out2=$(as_vmm "ulimit -l 64; assign-vmm --kernel /lab/inner/vmlinuz --mem 128M --device $bdf" 2>&1 </dev/null); rc2=$?
if [ $tried -gt 0 ] && [ $denied = $tried ] && [ $rc2 != 0 ] && echo "$out2" | grep -q "permission denied opening /dev/"; then
	result assign-vmm-handoff-refused PASS "uid 1000: $nodes refused; assign-vmm --device $bdf: $(echo "$out2" | tail -n1)"
else
	result assign-vmm-handoff-refused FAIL "$denied of $tried nodes ($nodes) refused, VMM rc $rc2: $out2"
fi

backends=type1
[ -e /dev/iommu ] && backends="type1 iommufd"
for b in $backends; do
	# Without a raised limit, the VMM cannot pin 256 MiB: it says so.
	rm -f $sock
	assign-host handoff --backend $b --user 1000 --timeout 60 $sock "$bdf" >/tmp/helper.out 2>&1 &
	hp=$!
	i=0; while [ ! -S $sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	out=$(as_vmm "ulimit -l 64; exec assign-vmm --handoff $sock --kernel /lab/inner/vmlinuz --initrd /lab/inner/initrd.gz --mem 256M" 2>&1 </dev/null); rc=$?
	wait $hp; hrc=$?
	if [ $rc != 0 ] && [ $hrc = 0 ] && echo "$out" | grep -qi "memlock\|locked memory"; then
		result assign-vmm-handoff-$b-memlock PASS "without --memlock: $(echo "$out" | grep -i -m1 "locked memory\|memlock" | cut -c1-160)"
	else
		result assign-vmm-handoff-$b-memlock FAIL "VMM rc $rc, helper rc $hrc: $out $(cat /tmp/helper.out)"
	fi

	# With it, the guest boots on the NIC and pings.
	rm -f $sock
	assign-host handoff --backend $b --user 1000 --memlock 1G --timeout 60 $sock "$bdf" >/tmp/helper.out 2>&1 &
	hp=$!
	i=0; while [ ! -S $sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	t0=$(cut -d' ' -f1 /proc/uptime)
	as_vmm "ulimit -l 64; ASSIGN_LOG=info run-bounded 300 assign-vmm -v --handoff $sock --kernel /lab/inner/vmlinuz --initrd /lab/inner/initrd.gz --append '$append' --mem 256M" \
		</dev/null >/tmp/vmm.out 2>/tmp/vmm.err
	rc=$?
	wait $hp; hrc=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	sed "s/^/VMM-$b /" /tmp/vmm.out | grep INNER
	sed "s/^/HELPER-$b /" /tmp/helper.out
	grep -i "handed over\|backend\|mapped for DMA" /tmp/vmm.err | sed "s/^/VMM-STDERR-$b /"
	if [ $rc = 0 ] && [ $hrc = 0 ] && grep -q "INNER-PING ok" /tmp/vmm.out &&
		grep -q "handed over on $sock ($b)" /tmp/vmm.err &&
		grep -q "mapped for DMA" /tmp/vmm.err; then
		result assign-vmm-handoff-$b PASS "uid 1000 without /dev/vfio access booted the guest on $bdf ($b fds from assign-host handoff, RLIMIT_MEMLOCK raised to 1G by the helper): DHCP and ping in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
	else
		result assign-vmm-handoff-$b FAIL "VMM rc $rc, helper rc $hrc; $(tail -n3 /tmp/vmm.err | tr '\n' ' ')"
	fi
done
drv=$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver 2>/dev/null)" 2>/dev/null)
[ "$drv" = vfio-pci ] && [ ! -e $sock ] &&
	result assign-vmm-handoff-cleanup PASS "$bdf still on vfio-pci, the socket gone" ||
	result assign-vmm-handoff-cleanup FAIL "$bdf on '$drv', socket $(ls $sock 2>&1)"
[ $fails = 0 ]
