#!/bin/sh
# Lab guest script: the same inner guest (kernel, initramfs, assigned
# e1000e, DHCP, ping 10.0.2.2) under QEMU and under assign-vmm, in the
# same lab run. Prints BENCH lines, not timed assertions:
#   BENCH vmm=NAME init=S ping=S rtt=MIN/AVG/MAX rss_kb=N [wakeups=...]
# init and ping are seconds from the VMM's start to the inner guest's
# init and to the first ping reply; rss_kb is the VMM's resident memory
# outside the 256 MiB guest RAM mapping, sampled after the pings. Above
# each BENCH line: the inner guest's marks and, for assign-vmm, its -v
# timeline (its "assign-vmm:" lines), each stamped with the lab's uptime.
# Needs /lab/bin/assign-vmm, /lab/bin/qemu-system-x86_64 (its firmware in
# /lab/share/qemu and /lab/share/seabios: QEMU looks beside its binary),
# /lab/inner/{vmlinuz,vmlinux,initrd.gz}.
now() { cut -d' ' -f1 /proc/uptime; }
fails=0
result() {
	echo "LAB-RESULT $1 $2 $3"
	[ "$2" != FAIL ] || fails=$((fails + 1))
}
[ "${LAB_KVM:-0}" = 1 ] || { result assign-vmm-compare SKIP "no /dev/kvm"; exit 0; }
bdf=$LAB_E1000E_0
ulimit -l unlimited
# "stats": after the first pings, a 50-ping flood bracketed by reads of
# assign-vmm's statistics port (harmless under QEMU)
append="console=ttyS0 acpi=off panic=-1 quiet pci=noearly nettest hold stats"

# rss of a process outside mappings of 200 MiB or more (guest RAM)
rss() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { big = 0 }
	     /^Size:/ { big = ($2 >= 204800) }
	     /^Rss:/ { if (!big) s += $2 }
	     END { print s + 0 }' "/proc/$1/smaps" 2>/dev/null
}

# Let the lab guest settle before each VMM starts, so that no run pays for
# the one before: the previous VMM's memory freed and compacted into huge
# pages again (guest RAM is backed by transparent huge pages, and a fault
# in a fragmented memory compacts synchronously), nothing left running.
settle() {
	sync
	echo 1 >/proc/sys/vm/compact_memory 2>/dev/null || true
	sleep 2
}

# run NAME CMD...: run one VMM, stamp its lines, sample its memory
run() {
	name=$1; shift
	settle
	log=/tmp/$name.log
	t0=$(now)
	("$@" </dev/null 2>&1 & echo $! >/tmp/$name.pid; wait) | while IFS= read -r line; do
		echo "$(now) $line"
		case "$line" in
		*INNER-PING*) echo "$(now) RSS-KB $(rss "$(cat /tmp/$name.pid)")" ;;
		esac
	done >"$log"
	# assign-vmm -v: its own timeline (lines "assign-vmm: ..."), except
	# the library's debug chatter
	grep -E "INNER-|^[0-9.]+ assign-vmm: |RSS-KB|bytes from" "$log" |
		grep -v "assign-vmm: libassign: " | sed "s/^/$name: /"
	at() { awk -v t0="$t0" -v pat="$1" 'index($0, pat) { printf "%.2f", $1 - t0; exit }' "$log"; }
	t_init=$(at INNER-INIT)
	t_ping=$(at "bytes from 10.0.2.2")
	rtt=$(sed -n 's/.*round-trip min\/avg\/max = \([0-9.\/]*\) ms.*/\1/p' "$log" | head -n1)
	kb=$(awk '/RSS-KB/ {print $NF; exit}' "$log")
	extra="$(sed -n 's/.*INNER-STATS.*\(rtt=[0-9.\/]*\).*/flood_\1/p' "$log")"
	if grep -q "assign-vmm: stats" "$log"; then
		e0=$(grep "assign-vmm: stats" "$log" | sed -n '1s/.*exits \([0-9]*\).*/\1/p')
		e1=$(grep "assign-vmm: stats" "$log" | sed -n '2s/.*exits \([0-9]*\).*/\1/p')
		irq=$(sed -n 's/.*INNER-STATS eth0-interrupts=\([0-9]*\).*/\1/p' "$log")
		[ -n "$e0" ] && [ -n "$e1" ] &&
			extra="$extra wakeups=$((e1 - e0 - 1)) during ${irq:-?} eth0 MSI-X interrupts"
	fi
	echo "BENCH vmm=$name init=${t_init:-none} ping=${t_ping:-none} rtt=${rtt:-none} rss_kb=${kb:-none} $extra"
	if [ -n "$t_ping" ]; then
		result "compare-$name" PASS "init ${t_init}s, first ping reply ${t_ping}s"
	else
		result "compare-$name" FAIL "no ping reply"
	fi
}

if [ -x /lab/bin/qemu-system-x86_64 ]; then
	run qemu qemu-system-x86_64 -accel kvm -machine q35 -m 256M -smp 1 \
		-nodefaults -display none -serial stdio -no-reboot \
		-device vfio-pci,host="$bdf",romfile= \
		-kernel /lab/inner/vmlinuz -initrd /lab/inner/initrd.gz \
		-append "$append"
fi
run assign-vmm-bzimage assign-vmm -v --kernel /lab/inner/vmlinuz \
	--initrd /lab/inner/initrd.gz --append "$append" --mem 256M --device "$bdf"
if [ -f /lab/inner/vmlinux ]; then
	run assign-vmm-vmlinux assign-vmm -v --kernel /lab/inner/vmlinux \
		--initrd /lab/inner/initrd.gz --append "$append" \
		--mem 256M --device "$bdf"
fi
grep -h "^BENCH" /tmp/*.log 2>/dev/null
[ $fails = 0 ]
