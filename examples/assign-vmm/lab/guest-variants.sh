#!/bin/sh
# Lab guest script: assign-vmm variants beyond the main chain.
#  - two NICs (two IOMMU groups in one container, both in the KVM-VFIO
#    device), two vCPUs;
#  - INTx: the inner guest boots with pci=nomsi, so e1000e falls back to
#    its legacy interrupt, delivered through a resampling irqfd. This guest
#    ends with `reboot -f` ("endreboot"), not power-off: a reboot must end
#    the VMM with exit 0 too.
#  - RAM above 4 GiB: 3200 MiB of guest RAM (3 GiB below the PCI hole,
#    128 MiB from 4 GiB up; the lab guest needs 5G, run-chain.sh gives
#    it that) and three vCPUs, all RAM mapped for DMA at IOVA = GPA; the
#    guest's page allocator takes its Normal zone, the RAM above 4 GiB,
#    first, so the NIC's buffers are likely there;
#  - a quiet address space: while guest RAM is pinned in the background
#    (the default), no thread of the VMM maps, unmaps or reprotects
#    memory. Pinning holds the mmap lock for reading; a thread that asks
#    for it for writing waits, and the vCPUs' page faults wait behind it
#    (a vCPU thread's first malloc once stood the inner guest still for
#    0.6-0.9 s). Checked on the system calls (strace), not on time.
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
# RAM above 4 GiB (the split around the PCI hole), three vCPUs
need=$((3200 + 512))
have=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
if [ "$have" -lt "$need" ]; then
	result assign-vmm-high-ram FAIL "the lab guest has $have MiB, this check needs $need: run-lab.sh --mem 5G (run-chain.sh gives it)"
else
	run-bounded 600 assign-vmm -v --kernel /lab/inner/vmlinuz --initrd /lab/inner/initrd.gz \
		--append "$base" --mem 3200M --cpus 3 --device "$LAB_E1000E_0" </dev/null >/tmp/high.log 2>&1
	rc=$?
	sed 's/^/high-ram: /' /tmp/high.log | grep -E "INNER-(INIT|RAM|DHCP|PING)|assign-vmm: (guest RAM|VM ready|VM stopped)"
	# the e820 map must give the guest RAM from 4 GiB (0x100000000) up
	high=$(sed -n 's/.*INNER-RAM.* \(100000000-[0-9a-f]*\).*/\1/p' /tmp/high.log)
	if [ $rc = 0 ] && [ -n "$high" ] && grep -q "INNER-INIT .*cpus=3" /tmp/high.log &&
		grep -q "guest RAM (3200 MiB) mapped for DMA at IOVA = GPA" /tmp/high.log &&
		grep -q "INNER-PING ok" /tmp/high.log; then
		result assign-vmm-high-ram PASS "3200 MiB (guest RAM $high above 4 GiB), 3 vCPUs, all mapped for DMA, ping ok"
	else
		result assign-vmm-high-ram FAIL "rc=$rc, RAM above 4 GiB: '${high:-none}'; $(grep -aE 'INNER-(INIT|RAM|PING)' /tmp/high.log | tr '\n' ';')"
	fi
fi

# The quiet address space: every memory system call of every thread, the
# KVM and VFIO ioctls and the VMM's messages (stderr) in one trace. Two
# checks: (1) from the clone of the mapping thread (the last clone before
# "mapping guest RAM for DMA in the background") to the message that says
# it is done, no thread maps, unmaps or reprotects memory; (2) the vCPU
# threads (those that call KVM_RUN) never do, whenever the pinning runs
# (a guest that turns its vIOMMU to bypass pins all RAM again). madvise
# is left out: glibc's MADV_DONTNEED at a thread's exit takes the lock
# only for reading.
run-bounded 600 strace -f -qq -s 120 -o /tmp/mm.st -e trace=%memory,clone,clone3,write,ioctl \
	-e signal=none assign-vmm -v --kernel /lab/inner/vmlinuz --initrd /lab/inner/initrd.gz \
	--append "$base" --mem 256M --device "$LAB_E1000E_0" </dev/null >/tmp/quiet.log 2>&1
rc=$?
sed 's/^/quiet-mm: /' /tmp/quiet.log | grep -E "INNER-(INIT|PING)|assign-vmm: (mapping|guest RAM|VM stopped)"
verdict=$(awk '
	/ clone3?\(/ { last_clone = NR }
	/ (mmap|munmap|mprotect|mremap|brk)\(/ { mm[NR] = $0; tid[NR] = $1 }
	/ioctl\([0-9]+, KVM_RUN/ { vcpu[$1] = 1 }
	/write\(2, .*mapping guest RAM for DMA in the background/ { start = last_clone }
	/write\(2, .*mapped for DMA at IOVA = GPA/ { if (start && !end) end = NR }
	END {
		if (!start || !end) { print "FAIL no mapping window in the trace"; exit }
		for (i in mm) {
			if (i + 0 >= start && i + 0 <= end) { nwin++; if (!w) w = mm[i] }
			if (tid[i] in vcpu) { nv++; if (!v) v = mm[i] }
		}
		for (t in vcpu) nvcpu++
		if (nwin) print "FAIL " nwin " memory calls while pinning, e.g.: " w
		else if (nv) print "FAIL " nv " memory calls on vCPU threads, e.g.: " v
		else if (!nvcpu) print "FAIL no KVM_RUN in the trace"
		else print "PASS " end - start " traced calls while pinning, " nvcpu " vCPU thread(s): none maps, unmaps or reprotects memory"
	}' /tmp/mm.st)
if [ $rc = 0 ] && grep -q "INNER-PING ok" /tmp/quiet.log; then
	result assign-vmm-quiet-address-space "${verdict%% *}" "${verdict#* }"
else
	result assign-vmm-quiet-address-space FAIL "rc=$rc, no ping under strace; ${verdict#* }"
fi
[ $fails = 0 ]
