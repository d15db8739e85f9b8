#!/bin/sh
# Lab guest script (run-viommu-bench.sh): the cost of a guest-visible
# IOMMU on the assigned e1000e, in one lab run, with the same inner guest
# (backports 6.12, busybox), initramfs and NIC:
#
#   avmm-mapall   assign-vmm without --viommu: all RAM mapped (IOVA = GPA)
#   avmm-lazy     assign-vmm --viommu, the guest in lazy mode (DMA-FQ)
#   avmm-strict   assign-vmm --viommu, strict mode
#   qemu-lazy     QEMU 7.2 (-accel kvm, q35) with virtio-iommu-pci and
#                 vfio-pci, lazy
#   qemu-strict   the same, strict
#   qemu-mapall   QEMU without a vIOMMU (reference)
#
# Each boots, takes a lease, pings 10.0.2.2 three times, then floods it
# (ping -A: the next request as soon as the reply is in, 1400 bytes, FLOOD
# packets). Prints, per run:
#   BENCH-VIOMMU vmm=NAME round=R init=S ping=S pps=N rtt=MIN/AVG/MAX
#       [maps=N unmaps=N host_maps=N host_unmaps=N]
# init and ping: seconds from the VMM's start to the inner init and to the
# first reply; pps: flood packets per second; the counts (assign-vmm with
# --viommu): virtio-iommu MAP and UNMAP requests during the flood and the
# host kernel map and unmap calls they cost (from the VMM's statistics port
# read before and after the flood). Then medians per VMM and the ratios.
# Rounds (VIOMMU_BENCH_ROUNDS, default 2) alternate the order.
now() { cut -d' ' -f1 /proc/uptime; }
[ "${LAB_KVM:-0}" = 1 ] || { echo "LAB-RESULT viommu-bench FAIL no /dev/kvm"; exit 1; }
nic=$LAB_E1000E_0
ulimit -l unlimited
[ -f /lab/bench.env ] && . /lab/bench.env
flood=${FLOOD:-400}
rounds=${VIOMMU_BENCH_ROUNDS:-2}
fails=0
: >/tmp/bench.lines

settle() {
	sync
	echo 1 >/proc/sys/vm/compact_memory 2>/dev/null || true
	sleep 2
}

# run NAME CMD...: one VMM; its stamped output in /tmp/NAME.rR.log
run() {
	name=$1; shift
	settle
	log=/tmp/$name.r$round.log
	t0=$(now)
	("$@" </dev/null 2>&1; echo "VMM-RC $?") | while IFS= read -r line; do
		echo "$(now) $line"
	done >"$log"
	at() { awk -v t0="$t0" -v pat="$1" 'index($0, pat) { printf "%.2f", $1 - t0; exit }' "$log"; }
	init=$(at INNER-INIT)
	ping=$(at "bytes from 10.0.2.2")
	fl=$(grep -a "INNER-FLOOD" "$log" | head -n1)
	pk=$(echo "$fl" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
	secs=$(echo "$fl" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')
	rtt=$(echo "$fl" | sed -n 's/.*rtt=\([0-9.\/]*\).*/\1/p')
	pps=$(awk -v p="${pk:-0}" -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.1f", p / s; else print "none" }')
	extra=""
	if grep -aq "viommu stats: requests" "$log"; then
		# the two reads bracket the flood: the differences
		extra=$(grep -a "viommu stats: \(requests\|endpoint\)" "$log" | awk '
			/requests/ { n++; m[n] = $0; sub(/.* map /, "", m[n]); sub(/,.*/, "", m[n])
			             u[n] = $0; sub(/.* unmap /, "", u[n]); sub(/,.*/, "", u[n])
			             k[n] = $0; sub(/.*notifies /, "", k[n]); sub(/,.*/, "", k[n])
			             b[n] = $0; sub(/.*busy /, "", b[n]); sub(/ us.*/, "", b[n]) }
			/endpoint/ { hm[n] = $0; sub(/.*host map calls /, "", hm[n]); sub(/,.*/, "", hm[n])
			             hu[n] = $0; sub(/.*host unmap calls /, "", hu[n]); sub(/[^0-9].*/, "", hu[n]) }
			END { if (n >= 2) printf "maps=%d unmaps=%d host_maps=%d host_unmaps=%d notifies=%d busy_us=%d",
			      m[2] - m[1], u[2] - u[1], hm[2] - hm[1], hu[2] - hu[1], k[2] - k[1], b[2] - b[1] }')
	fi
	grep -aE "INNER-(INIT|DHCP|PING|FLOOD|GROUP)|assign-vmm: (virtio-iommu|VM ready|.*guest (translates|bypasses)|.*mapped for DMA)" "$log" |
		sed "s/^/$name: /"
	echo "BENCH-VIOMMU vmm=$name round=$round init=${init:-none} ping=${ping:-none} pps=$pps rtt=${rtt:-none} $extra" |
		tee -a /tmp/bench.lines
	if [ -n "$ping" ] && [ -n "$pk" ] && [ "$pk" -gt 0 ]; then
		echo "LAB-RESULT viommu-bench-$name-r$round PASS init ${init}s, ping ${ping}s, $pps pps"
	else
		echo "LAB-RESULT viommu-bench-$name-r$round FAIL no ping or no flood"
		fails=$((fails + 1))
	fi
}

B="console=ttyS0 panic=-1 quiet pci=noearly nettest flood=$flood"
avmm() {
	name=$1 extra=$2 vi=$3
	run "$name" timeout -s INT 300 assign-vmm -v $vi --kernel /lab/inner/vmlinux \
		--initrd /lab/inner/initrd.gz --mem 256M --append "$B acpi=noirq $extra" \
		--device "$nic"
}
qemu() {
	name=$1 extra=$2 vi=$3
	[ -x /lab/bin/qemu-system-x86_64 ] || return 0
	run "$name" timeout -s INT 300 qemu-system-x86_64 -accel kvm -machine q35 -m 256M \
		-smp 1 -nodefaults -display none -serial stdio -no-reboot $vi \
		-device vfio-pci,host="$nic",romfile= -kernel /lab/inner/vmlinuz \
		-initrd /lab/inner/initrd.gz -append "$B $extra"
}
one_round() {
	for c in $1; do
		case $c in
		avmm-mapall) avmm avmm-mapall "" "" ;;
		avmm-lazy) avmm avmm-lazy "viommu iommu.strict=0" --viommu ;;
		avmm-strict) avmm avmm-strict "viommu iommu.strict=1" --viommu ;;
		qemu-lazy) qemu qemu-lazy "viommu iommu.strict=0" "-device virtio-iommu-pci" ;;
		qemu-strict) qemu qemu-strict "viommu iommu.strict=1" "-device virtio-iommu-pci" ;;
		qemu-mapall) qemu qemu-mapall "" "" ;;
		esac
	done
}
set_fwd="avmm-mapall avmm-lazy avmm-strict qemu-lazy qemu-strict qemu-mapall"
set_rev="qemu-mapall qemu-strict qemu-lazy avmm-strict avmm-lazy avmm-mapall"
round=1
while [ $round -le "$rounds" ]; do
	if [ $((round % 2)) = 1 ]; then one_round "$set_fwd"; else one_round "$set_rev"; fi
	round=$((round + 1))
done

# the median of the numbers on stdin; a run without a value ("none", a
# failed run) is left out, never counted as 0
median() {
	grep -E '^[0-9.]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "none" }'
}
field() { # vmm field
	sed -n "s/^BENCH-VIOMMU vmm=$1 .* $2=\([0-9.]*\).*/\1/p" /tmp/bench.lines | median
}
for v in avmm-mapall avmm-lazy avmm-strict qemu-lazy qemu-strict qemu-mapall; do
	grep -q "vmm=$v " /tmp/bench.lines || continue
	echo "BENCH-VIOMMU-MEDIAN vmm=$v rounds=$rounds init=$(field $v init) ping=$(field $v ping) pps=$(field $v pps) maps=$(field $v maps) unmaps=$(field $v unmaps) host_maps=$(field $v host_maps) host_unmaps=$(field $v host_unmaps) notifies=$(field $v notifies) busy_us=$(field $v busy_us)" |
		tee -a /tmp/bench.median
done
ratio() { # label a b field
	a=$(sed -n "s/^BENCH-VIOMMU-MEDIAN vmm=$2 .* $4=\([0-9.]*\).*/\1/p" /tmp/bench.median)
	b=$(sed -n "s/^BENCH-VIOMMU-MEDIAN vmm=$3 .* $4=\([0-9.]*\).*/\1/p" /tmp/bench.median)
	[ -n "$a" ] && [ -n "$b" ] &&
		echo "BENCH-VIOMMU-RATIO $1 $4 $(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "none" }')"
}
ratio lazy/mapall avmm-lazy avmm-mapall pps
ratio strict/mapall avmm-strict avmm-mapall pps
ratio avmm/qemu-lazy avmm-lazy qemu-lazy pps
ratio avmm/qemu-strict avmm-strict qemu-strict pps
ratio viommu/mapall-init avmm-lazy avmm-mapall init
ratio avmm/qemu-mapall-init avmm-mapall qemu-mapall init
ratio avmm/qemu-mapall-ping avmm-mapall qemu-mapall ping
# Where a packet's extra time under the vIOMMU goes: the VMM serving the
# requests (host map/unmap calls included) against the rest (the exits to
# the VMM and back, and the guest's own IOMMU driver).
base=$(sed -n "s/^BENCH-VIOMMU-MEDIAN vmm=avmm-mapall .* pps=\([0-9.]*\) .*/\1/p" /tmp/bench.median)
for v in avmm-lazy avmm-strict; do
	sed -n "s/^BENCH-VIOMMU-MEDIAN vmm=$v .* pps=\([0-9.]*\) .* notifies=\([0-9.]*\) busy_us=\([0-9.]*\).*/\1 \2 \3/p" /tmp/bench.median |
		while read -r pps n busy; do
			awk -v v="$v" -v p="$pps" -v b="$base" -v n="$n" -v u="$busy" -v f="$flood" 'BEGIN {
				if (p > 0 && b > 0 && f > 0)
					printf "BENCH-VIOMMU-COST %s per packet: %.0f us more than map-all, of it %.0f us serving %.2f notifications in the VMM\n",
					       v, 1e6 / p - 1e6 / b, u / f, n / f }'
		done
done
for v in avmm-lazy avmm-strict; do
	sed -n "s/^BENCH-VIOMMU-MEDIAN vmm=$v .*maps=\([0-9.]*\) unmaps=\([0-9.]*\) host_maps=\([0-9.]*\) host_unmaps=\([0-9.]*\).*/\1 \2 \3 \4/p" /tmp/bench.median |
		awk -v v="$v" '{ if ($1 + $2 > 0) printf "BENCH-VIOMMU-CALLS %s host calls per guest request %.2f (%d maps + %d unmaps -> %d + %d)\n", v, ($3 + $4) / ($1 + $2), $1, $2, $3, $4 }'
done
[ $fails = 0 ]
