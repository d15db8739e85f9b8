#!/bin/sh
# Lab guest script: assign-vmm variants beyond the main chain.
#  - two NICs (two IOMMU groups in one container, both in the KVM-VFIO
#    device), two vCPUs;
#  - INTx: the inner guest boots with pci=nomsi, so e1000e falls back to
#    its legacy interrupt, delivered through a resampling irqfd. This guest
#    ends with `reboot -f` ("endreboot"), not power-off: a reboot must end
#    the VMM with exit 0 too.
# Each still takes a DHCP lease and pings 10.0.2.2 over the first NIC.
fails=0
result() {
	echo "LAB-RESULT $1 $2 $3"
	[ "$2" != FAIL ] || fails=$((fails + 1))
}
[ "${LAB_KVM:-0}" = 1 ] || { result assign-vmm-variants SKIP "no /dev/kvm"; exit 0; }
ulimit -l unlimited
base="console=ttyS0 acpi=noirq panic=-1 quiet pci=noearly nettest"

if [ -n "${LAB_E1000E_1:-}" ] && [ "${LAB_E1000E_1_DRIVER:-}" = vfio-pci ]; then
	# --dma-map on-demand: mapped when the first of the two NICs enables
	# bus mastering (the main chain maps in the background, the default)
	run-bounded 600 assign-vmm -v --dma-map on-demand --kernel /lab/inner/vmlinuz \
		--initrd /lab/inner/initrd.gz --append "$base" --mem 256M --cpus 2 \
		--device "$LAB_E1000E_0" --device "$LAB_E1000E_1" </dev/null >/tmp/two.log 2>&1
	rc=$?
	sed 's/^/two-nics: /' /tmp/two.log | grep -E "INNER|assign-vmm: (guest|VM|mapping|.*bus master)"
	n=$(grep -c "INNER-PCI .*0x8086:0x10d3" /tmp/two.log)
	if [ $rc = 0 ] && [ "$n" = 2 ] && grep -q "INNER-NETDEVS.*eth1" /tmp/two.log &&
		grep -q "mapped for DMA at IOVA = GPA in .* on demand" /tmp/two.log &&
		grep -q "INNER-PING ok" /tmp/two.log && grep -q "INNER-INIT .*cpus=2" /tmp/two.log; then
		result assign-vmm-two-nics PASS "2 assigned e1000e, 2 vCPUs, RAM mapped on demand, ping ok"
	else
		result assign-vmm-two-nics FAIL "rc=$rc, $n e1000e seen"
	fi
else
	result assign-vmm-two-nics SKIP "no second e1000e on vfio-pci"
fi

# --dma-map before-boot: all guest RAM mapped before the first vCPU runs
run-bounded 600 assign-vmm -v --dma-map before-boot --kernel /lab/inner/vmlinuz --initrd /lab/inner/initrd.gz \
	--append "$base pci=nomsi endreboot" --mem 256M --device "$LAB_E1000E_0" </dev/null >/tmp/intx.log 2>&1
rc=$?
sed 's/^/intx: /' /tmp/intx.log | grep -E "INNER|assign-vmm: (guest|VM stopped)"
if [ $rc = 0 ] && grep -q "INNER-IRQ.*IO-APIC.*eth0" /tmp/intx.log && grep -q "INNER-PING ok" /tmp/intx.log &&
	grep -q "mapped for DMA at IOVA = GPA in .* before boot" /tmp/intx.log; then
	result assign-vmm-intx PASS "e1000e on INTx ($(grep 'INNER-IRQ' /tmp/intx.log | awk '{print $3}') interrupts), RAM mapped before boot, ping ok"
else
	result assign-vmm-intx FAIL "rc=$rc"
fi
if [ $rc = 0 ] && grep -q "INNER-DONE" /tmp/intx.log && grep -q "assign-vmm: guest reset" /tmp/intx.log; then
	result assign-vmm-reboot PASS "VMM exited 0 on the guest's reboot -f ($(sed -n 's/.*assign-vmm: \(guest reset[^)]*)\).*/\1/p' /tmp/intx.log | head -n1))"
else
	result assign-vmm-reboot FAIL "rc=$rc after the guest's reboot -f"
fi
[ $fails = 0 ]
