#!/bin/sh
# Lab guest script: the host takes an assigned device back while a guest
# uses it. assign-vmm boots Linux on the lab's first e1000e, whose driver
# takes a DHCP lease and pings; then the lab guest unbinds the NIC from
# vfio-pci. The kernel signals VFIO's device request; assign-vmm must stop
# the VM, release the device (the unbind then returns) and exit 3 with one
# line saying why. Afterwards the NIC goes back to vfio-pci for whatever
# runs next.
#
# The inner guest drives the NIC on INTx (pci=nomsi): QEMU 7.2's e1000e
# aborts when an MSI-X throttling timer fires after MSI-X was turned off,
# and a VMM that lets go of a busy device turns MSI-X off at any moment
# (docs/reliability.md, "VMM and lab").
fails=0
result() {
	echo "LAB-RESULT $1 $2 $3"
	[ "$2" != FAIL ] || fails=$((fails + 1))
}
now() { cut -d' ' -f1 /proc/uptime; }
drv() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null; }
[ "${LAB_KVM:-0}" = 1 ] || { result assign-vmm-device-request SKIP "no /dev/kvm"; exit 0; }
bdf=${LAB_E1000E_0:-}
if [ -z "$bdf" ] || [ "$(drv "$bdf")" != vfio-pci ]; then
	result assign-vmm-device-request FAIL "no e1000e on vfio-pci (LAB_E1000E_0=$bdf, driver $(drv "$bdf"))"
	exit 1
fi
ulimit -l unlimited

assign-vmm --kernel /lab/inner/vmlinuz --initrd /lab/inner/initrd.gz \
	--append "console=ttyS0 acpi=noirq panic=-1 quiet pci=noearly pci=nomsi nettest shell" \
	--mem 256M --device "$bdf" </dev/null >/tmp/req.out 2>/tmp/req.err &
vmm=$!
# the guest's driver has the NIC up and has pinged once it says so
i=0
while [ $i -lt 3000 ] && kill -0 $vmm 2>/dev/null && ! grep -q "INNER-PING" /tmp/req.out; do
	sleep 0.1
	i=$((i + 1))
done
if ! grep -q "INNER-PING ok" /tmp/req.out; then
	kill -TERM $vmm 2>/dev/null
	wait $vmm
	sed 's/^/request: /' /tmp/req.err
	result assign-vmm-device-request FAIL "the inner guest never pinged over the NIC"
	exit 1
fi

# The unbind waits for the VMM to let go. 60 s is this test's timeout: a
# VMM that ignores the request would keep it waiting for as long as the
# VM runs (the kernel asks again every 10 s); it is then stopped here, so
# the unbind can finish and the lab go on.
t0=$(now)
(echo "$bdf" >/sys/bus/pci/drivers/vfio-pci/unbind) &
ub=$!
i=0
while [ $i -lt 600 ] && kill -0 $ub 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
t1=$(now)
hung=0
if kill -0 $ub 2>/dev/null; then
	hung=1
	kill -TERM $vmm 2>/dev/null
fi
wait $ub
wait $vmm
vrc=$?
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
lines=$(grep -c . /tmp/req.err)
echo "request: unbind returned after ${took}s, VMM exit $vrc, $lines line(s): $(cat /tmp/req.err)"
if [ $hung = 0 ] && [ $vrc = 3 ] && [ "$lines" = 1 ] &&
	grep -q "the host wants this device back" /tmp/req.err && [ -z "$(drv "$bdf")" ]; then
	result assign-vmm-device-request PASS "unbind from vfio-pci returned ${took}s after it began: the VMM stopped the VM, released $bdf, exit 3, one line"
else
	result assign-vmm-device-request FAIL "hung=$hung (60 s), exit $vrc, $lines line(s), driver now '$(drv "$bdf")'"
fi

# back to vfio-pci (driver_override still says so) for what runs next
echo "$bdf" >/sys/bus/pci/drivers_probe 2>/dev/null
if [ "$(drv "$bdf")" = vfio-pci ] && [ -e "/dev/vfio/${LAB_E1000E_0_GROUP:-none}" ]; then
	result assign-vmm-device-request-rebind PASS "$bdf back on vfio-pci, /dev/vfio/$LAB_E1000E_0_GROUP there"
else
	result assign-vmm-device-request-rebind FAIL "$bdf on '$(drv "$bdf")' after drivers_probe"
fi
[ $fails = 0 ]
