#!/bin/sh
# Lab guest script: assign-vmm --viommu (run-viommu.sh). The inner guest is
# Debian's backports 6.12 kernel with its virtio_iommu module; assign-vmm
# puts the lab's e1000e (and edu) behind its virtio-iommu, each device in
# a host address space of its own whose guest memory policy follows the
# guest's domains. Each VM run below prints its checks as LAB-RESULT lines:
#
#  strict   iommu.strict=1: the NIC in a translated domain (type DMA), its
#           group lists the host's reserved regions, DHCP and ping; then
#           the NIC's group switched to identity and back to DMA while the
#           guest runs, a ping after each (live policy switches)
#  lazy     iommu.strict=0 (DMA-FQ): DHCP and ping
#  pt       iommu.passthrough=1 (identity): DHCP and ping
#  nested   the edu bound to the inner guest's own vfio-pci; viommu-nested
#           (libassign inside the guest) moves bytes by DMA to and from
#           IOVAs it mapped and shows that DMA to IOVAs it did not map
#           does not land; run twice (the edu's group goes from its
#           identity default domain to VFIO's translated one and back);
#           then the NIC (identity) pings
#  nvme     QEMU's nvme (a 64-bit BAR holding its MSI-X table) in a
#           translated domain: BAR0 placed above 4 GiB, the stock nvme
#           driver reads its namespace (DMA through the virtio-iommu)
#  badreq   viommu-badreq sends bad requests, each must get its status and
#           change nothing; with type1, the host's DMA entry budget
#           (dma_entry_limit) is lowered first and a MAP past it must get
#           NOMEM; no host mapping may be left; then the guest's own
#           driver takes the device and the NIC pings
#
# Needs /lab/bin/assign-vmm, /lab/inner/vmlinuz (the backports vmlinux) and
# /lab/inner/initrd.gz (mk-inner-initrd.sh with virtio_iommu, the vfio
# modules, viommu-nested and viommu-badreq). VIOMMU_RUNS selects runs.
fails=0
result() {
	echo "LAB-RESULT $1 $2 $3"
	[ "$2" != FAIL ] || fails=$((fails + 1))
}
now() { cut -d' ' -f1 /proc/uptime; }
if [ "${LAB_KVM:-0}" != 1 ]; then
	result viommu FAIL "no /dev/kvm in the lab guest: the inner VM cannot run"
	exit 1
fi
nic=${LAB_E1000E_0:-}
if [ -z "$nic" ] || [ "${LAB_E1000E_0_DRIVER:-}" != vfio-pci ]; then
	result viommu FAIL "no e1000e on vfio-pci (LAB_E1000E_0=$nic)"
	exit 1
fi
ulimit -l unlimited
backend=type1
[ -e /dev/iommu ] && [ -n "${LAB_E1000E_0_CDEV:-}" ] && backend=iommufd
base="console=ttyS0 acpi=noirq panic=-1 quiet pci=noearly"
runs="strict lazy pt nested nvme badreq"
[ -f /lab/viommu-runs ] && runs=$(cat /lab/viommu-runs)
hostresv=$(awk '{print $1, $2, $3}' "/sys/kernel/iommu_groups/$LAB_E1000E_0_GROUP/reserved_regions")
echo "viommu: backend $backend, host reserved regions of $nic: $hostresv"

# vm NAME APPEND DEVICE...: one inner VM; its console and the VMM's
# messages (with -v) in /tmp/NAME.log, each line stamped with the lab's
# uptime
vm() {
	name=$1 append=$2
	shift 2
	devs=""
	for d in "$@"; do devs="$devs --device $d"; done
	t0=$(now)
	{
		run-bounded 400 assign-vmm -v --viommu --kernel /lab/inner/vmlinuz \
			--initrd /lab/inner/initrd.gz --mem 256M \
			--append "$base $append" $devs </dev/null 2>&1
		echo "VMM-RC $?"
	} | while IFS= read -r line; do echo "$(now) $line"; done >"/tmp/$name.log"
	grep -aE "INNER-|assign-vmm: (virtio|viommu|0000|guest|VM|mapping|cannot)|VMM-RC" "/tmp/$name.log" |
		grep -av "INNER-VIOMMU \[ *[0-9.]*\] \(Command\|Kernel command\|Unknown\)" | sed "s/^/$name: /"
	rc=$(awk '/VMM-RC/ {print $NF}' "/tmp/$name.log")
	if [ "$rc" = 0 ]; then
		result "viommu-$name-vmm" PASS "VMM exited 0 after $(awk -v t0="$t0" '/VMM-RC/ { printf "%.1f", $1 - t0 }' "/tmp/$name.log") s"
	else
		result "viommu-$name-vmm" FAIL "VMM exit ${rc:-none}"
	fi
}
has() { grep -aq "$2" "/tmp/$1.log"; }

# checks common to the NIC runs: the driver found the VIOT, the NIC's group
# type, the host's reserved regions in the guest, the ping
nic_checks() {
	name=$1 type=$2
	if has "$name" "ACPI: VIOT" && has "$name" "virtio_iommu virtio0: page mask"; then
		result "viommu-$name-probe" PASS "$(sed -n 's/.*\(virtio_iommu virtio0: .*\)/\1/p' "/tmp/$name.log" | tr '\n' ';')"
	else
		result "viommu-$name-probe" FAIL "VIOT or virtio_iommu probe missing"
	fi
	g=$(sed -n 's/.*INNER-GROUP [^ ]* 0x8086:0x10d3 group=[0-9]* type=\([A-Za-z-]*\).*/\1/p' "/tmp/$name.log" | head -n1)
	[ "$g" = "$type" ] && result "viommu-$name-group" PASS "NIC in a group of type $g" ||
		result "viommu-$name-group" FAIL "NIC group type '${g:-none}', want $type"
	missing=""
	for r in $(echo "$hostresv" | awk '{print $1 "-" $2}'); do
		grep -aq "INNER-RESV [^ ]* ${r%-*} ${r#*-} " "/tmp/$name.log" || missing="$missing $r"
	done
	[ -n "$hostresv" ] && [ -z "$missing" ] &&
		result "viommu-$name-reserved" PASS "the NIC's group in the guest lists the host's reserved regions: $(echo "$hostresv" | tr '\n' ';')" ||
		result "viommu-$name-reserved" FAIL "missing in the guest:${missing:- (host lists none)}"
	c=$(sed -n 's/.*INNER-CFG [^ ]* size=\([0-9]*\) ext0=\([0-9a-f]*\).*/\1 \2/p' "/tmp/$name.log" | head -n1)
	[ "${c% *}" = 4096 ] && [ "$(printf %s "${c#* }" | tail -c 4)" = 0001 ] &&
		result "viommu-$name-ecam" PASS "NIC config space 4096 bytes, first extended capability AER ($c)" ||
		result "viommu-$name-ecam" FAIL "NIC config space: '${c:-none}' (want 4096 bytes, AER at 0x100)"
	if has "$name" "INNER-DHCP 10." && has "$name" "INNER-PING ok"; then
		result "viommu-$name-ping" PASS "DHCP $(sed -n 's/.*INNER-DHCP \([0-9./]*\).*/\1/p' "/tmp/$name.log"), ping 10.0.2.2 ok"
	else
		result "viommu-$name-ping" FAIL "no DHCP lease or ping"
	fi
}

for r in $runs; do
	f0=$fails
	case $r in
	strict)
		vm strict "viommu nettest switch iommu.strict=1" "$nic"
		nic_checks strict DMA
		has strict "the guest translates" && ! has strict "bus master enabled at .* waited" &&
			result viommu-strict-policy PASS "the NIC's host space follows the guest: $(grep -ac 'the guest translates' /tmp/strict.log) switch(es) to translated" ||
			result viommu-strict-policy FAIL "no switch to translated seen, or a bus master enable waited for map-all"
		if grep -aq "INNER-SWITCH identity type=identity ping=ok" /tmp/strict.log &&
			grep -aq "INNER-SWITCH DMA type=DMA ping=ok" /tmp/strict.log &&
			has strict "bypasses its IOMMU" && has strict "mapped for DMA at IOVA = GPA .* when the guest chose bypass"; then
			result viommu-strict-live-switch PASS "NIC translated -> identity (all RAM mapped at once) -> translated, a ping after each"
		else
			result viommu-strict-live-switch FAIL "$(grep -a 'INNER-SWITCH' /tmp/strict.log | tr '\n' ';')"
		fi
		;;
	lazy)
		vm lazy "viommu nettest iommu.strict=0" "$nic"
		nic_checks lazy DMA-FQ
		;;
	pt)
		vm pt "viommu nettest iommu.passthrough=1" "$nic"
		nic_checks pt identity
		;;
	nested)
		if [ -z "${LAB_EDU:-}" ]; then
			result viommu-nested FAIL "no edu in the lab"
			continue
		fi
		vm nested "viommu nested nettest iommu.passthrough=1" "$nic" "$LAB_EDU"
		for t in setup dma-roundtrip unmapped-iova unmapped-after-unmap still-working; do
			n=$(grep -ac "INNER-NESTED $t PASS" /tmp/nested.log)
			[ "$n" = 2 ] && result "viommu-nested-$t" PASS "$(grep -a "INNER-NESTED $t PASS" /tmp/nested.log | head -n1 | sed 's/.*PASS //')" ||
				result "viommu-nested-$t" FAIL "$n of 2 runs passed: $(grep -a "INNER-NESTED $t" /tmp/nested.log | tr '\n' ';')"
		done
		grep -aq "INNER-NESTED-RC 0 run 2, group type after: identity" /tmp/nested.log &&
			[ "$(grep -ac 'the guest translates' /tmp/nested.log)" -ge 2 ] &&
			result viommu-nested-switches PASS "edu identity -> translated -> identity -> translated -> identity; $(grep -ac 'the guest translates' /tmp/nested.log) switches to translated on the host" ||
			result viommu-nested-switches FAIL "$(grep -a 'INNER-NESTED-RC' /tmp/nested.log | tr '\n' ';')"
		has nested "INNER-PING ok" && result viommu-nested-nic PASS "NIC in identity pings beside" ||
			result viommu-nested-nic FAIL "no ping"
		;;
	nvme)
		if [ -z "${LAB_NVME:-}" ]; then
			result viommu-nvme FAIL "no nvme in the lab"
			continue
		fi
		vm nvme "viommu nvmetest iommu.strict=1" "$LAB_NVME"
		bar=$(sed -n 's/.*INNER-NVME [^ ]* bar0=\(0x[0-9a-f]*\).*/\1/p' /tmp/nvme.log)
		[ -n "$bar" ] && [ "$((bar >> 32))" -gt 0 ] &&
			result viommu-nvme-bar64 PASS "64-bit BAR0 at $bar, above 4 GiB" ||
			result viommu-nvme-bar64 FAIL "BAR0 at '${bar:-none}'"
		has nvme "INNER-NVME read ok" && grep -aq "INNER-GROUP [^ ]* 0x1b36:0x0010 group=[0-9]* type=DMA" /tmp/nvme.log &&
			result viommu-nvme-read PASS "the nvme driver read its namespace through a translated domain, $(sed -n 's/.*INNER-NVME .*\(irqs=[0-9]*\).*/\1/p' /tmp/nvme.log) vectors" ||
			result viommu-nvme-read FAIL "$(grep -a 'INNER-NVME\|INNER-GROUP' /tmp/nvme.log | tr '\n' ';')"
		;;
	badreq)
		budget=""
		if [ $backend = type1 ]; then
			limit=/sys/module/vfio_iommu_type1/parameters/dma_entry_limit
			old=$(cat $limit)
			# enough for the NIC's driver afterwards; the test's MAP
			# already holds one entry
			echo 1000 >$limit
			budget="badreq_budget=999"
		fi
		vm badreq "badreq $budget viommu nettest" "$nic"
		[ $backend = type1 ] && echo "$old" >$limit
		n=$(grep -ac "INNER-BADREQ [^ ]* PASS" /tmp/badreq.log)
		f=$(grep -a "INNER-BADREQ [^ ]* FAIL" /tmp/badreq.log | sed 's/.*INNER-BADREQ //' | tr '\n' ';')
		[ "$n" -ge 30 ] && [ -z "$f" ] &&
			result viommu-badreq-statuses PASS "$n bad or malformed requests answered as the spec says" ||
			result viommu-badreq-statuses FAIL "$n passed; failed: $f"
		if [ $backend = type1 ]; then
			grep -aq "INNER-BADREQ map-beyond-budget PASS" /tmp/badreq.log &&
				result viommu-badreq-budget PASS "$(sed -n 's/.*INNER-BADREQ map-beyond-budget PASS //p' /tmp/badreq.log)" ||
				result viommu-badreq-budget FAIL "no NOMEM past the host's DMA entries"
		else
			result viommu-badreq-budget SKIP "iommufd has no DMA entry limit to run past"
		fi
		grep -aq "viommu stats: endpoint 0x8: host mappings 0 (0 bytes)" /tmp/badreq.log &&
			result viommu-badreq-no-leak PASS "after the bad requests and the unmap: no host mapping left" ||
			result viommu-badreq-no-leak FAIL "$(grep -a 'viommu stats: endpoint' /tmp/badreq.log | head -n1)"
		has badreq "INNER-PING ok" && result viommu-badreq-after PASS "then the guest's driver took the device, the NIC pinged" ||
			result viommu-badreq-after FAIL "no ping after the bad requests"
		;;
	esac
	# a failed run: its last lines (inner console, VMM messages) as
	# LAB-DIAG lines, which run-lab.sh repeats on a failure: /tmp of the
	# lab guest is gone after the run
	if [ $fails != "$f0" ] && [ -f "/tmp/$r.log" ]; then
		echo "LAB-DIAG viommu-$r failed; the last 50 lines of its log:"
		tail -n 50 "/tmp/$r.log" | sed "s/^/LAB-DIAG $r: /"
	fi
done
for d in "$nic" ${LAB_EDU:-} ${LAB_NVME:-}; do
	drv=$(basename "$(readlink "/sys/bus/pci/devices/$d/driver" 2>/dev/null)" 2>/dev/null)
	[ "$drv" = vfio-pci ] || result viommu-restore FAIL "$d on '${drv:-nothing}' after the VMs"
done
[ $fails = 0 ]
