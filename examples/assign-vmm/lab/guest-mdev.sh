#!/bin/sh
# Lab guest script: assign-vmm assigns an mdev (the kernel's mtty sample,
# own lab kernel) by its sysfs path; the inner guest's stock 8250_pci
# driver takes the virtual serial card and bytes written to its port come
# back (mtty loops them) on interrupts. assign-host makes, explains and
# removes the mdev. Files as for guest-handoff.sh.
fails=0
result() {
	name=$1; verdict=$2; shift 2
	echo "LAB-RESULT $name $verdict $*"
	[ "$verdict" != FAIL ] || fails=$((fails + 1))
}
if [ "${LAB_KVM:-0}" != 1 ]; then
	result assign-vmm-mdev FAIL "no /dev/kvm in the lab guest"
	exit 1
fi
if [ ! -d /sys/class/mdev_bus/mtty ]; then
	result assign-vmm-mdev FAIL "no mtty: needs the own lab kernel (SAMPLE_VFIO_MDEV_MTTY)"
	exit 1
fi
ulimit -l unlimited
assign-host mdev-types | sed 's/^/HOST /'
uuid=$(assign-host mdev-create mtty-2); rc=$?
out=$(assign-host explain "$uuid" --probe 2>&1); erc=$?
echo "$out" | sed 's/^/HOST /'
if [ $rc = 0 ] && [ $erc = 0 ] && echo "$out" | grep -q "Ready" &&
	assign-host mdev-list | grep -q "^$uuid .*mtty-2"; then
	result assign-host-mdev PASS "mdev-create mtty-2 made $uuid; explain --probe says it opens"
else
	result assign-host-mdev FAIL "create rc $rc, explain rc $erc: $out"
fi
append="console=ttyS0 acpi=noirq panic=-1 quiet pci=noearly serialtest"
ASSIGN_LOG=info run-bounded 300 assign-vmm -v --kernel /lab/inner/vmlinuz \
	--initrd /lab/inner/initrd.gz --append "$append" --mem 256M \
	--device "/sys/bus/mdev/devices/$uuid" </dev/null >/tmp/vmm.out 2>/tmp/vmm.err
rc=$?
grep INNER /tmp/vmm.out | sed 's/^/VMM /'
grep -i "INTx\|assigned at\|BAR" /tmp/vmm.err | sed 's/^/VMM-STDERR /'
tty=$(sed -n 's/.*INNER-SERIAL-TTY \([a-zA-Z0-9]*\).*/\1/p' /tmp/vmm.out)
# "INNER-IRQ  16:  3  IO-APIC ...": the counts follow the "16:"
irqs=$(awk '/INNER-IRQ/ { j = 1; while (j <= NF && $j != "INNER-IRQ") j++
	for (i = j + 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i }
	END { print s + 0 }' /tmp/vmm.out)
if [ $rc = 0 ] && grep -q "INNER-SERIAL-RX hello-mtty" /tmp/vmm.out && [ "$irqs" -gt 0 ]; then
	result assign-vmm-mdev PASS "the guest's 8250_pci drove mdev $uuid as $tty: \"hello-mtty\" came back, $irqs interrupts"
else
	result assign-vmm-mdev FAIL "VMM rc $rc, tty '${tty}', interrupts $irqs; $(grep INNER-SERIAL /tmp/vmm.out | tr '\n' ' ') $(tail -n3 /tmp/vmm.err | tr '\n' ' ')"
fi
out=$(assign-host mdev-remove "$uuid" 2>&1); rc=$?
if [ $rc = 0 ] && [ ! -e "/sys/bus/mdev/devices/$uuid" ]; then
	result assign-host-mdev-remove PASS "$uuid removed"
else
	result assign-host-mdev-remove FAIL "rc $rc: $out"
fi
[ $fails = 0 ]
