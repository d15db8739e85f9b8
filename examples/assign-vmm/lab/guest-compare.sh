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

# the VMM under "timeout PID": timeout's child
vmm_pid() {
	for st in /proc/[0-9]*/stat; do
		read -r pid _ _ ppid _ <"$st" 2>/dev/null || continue
		[ "$ppid" = "$1" ] && { echo "$pid"; return; }
	done
	echo "$1"
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
	log=/tmp/$name.r$round.log
	t0=$(now)
	("$@" </dev/null 2>&1 & echo $! >/tmp/$name.pid; wait) | while IFS= read -r line; do
		echo "$(now) $line"
		case "$line" in
		*INNER-PING*) echo "$(now) RSS-KB $(rss "$(vmm_pid "$(cat /tmp/$name.pid)")")" ;;
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
	echo "BENCH vmm=$name round=$round init=${t_init:-none} ping=${t_ping:-none} rtt=${rtt:-none} rss_kb=${kb:-none} $extra" |
		tee -a /tmp/bench.lines
	if [ -n "$t_ping" ]; then
		result "compare-$name-r$round" PASS "init ${t_init}s, first ping reply ${t_ping}s"
	else
		result "compare-$name-r$round" FAIL "no ping reply"
	fi
}

# Each VMM gets 180 s (a boot takes about 15): a hung run ends with a
# FAIL line instead of stalling the lab until its own timeout.
run_qemu() {
	[ -x /lab/bin/qemu-system-x86_64 ] || return 0
	run qemu timeout -s INT 180 qemu-system-x86_64 -accel kvm -machine q35 -m 256M -smp 1 \
		-nodefaults -display none -serial stdio -no-reboot \
		-device vfio-pci,host="$bdf",romfile= \
		-kernel /lab/inner/vmlinuz -initrd /lab/inner/initrd.gz \
		-append "$append"
}
run_bzimage() {
	run assign-vmm-bzimage timeout -s INT 180 assign-vmm -v --kernel /lab/inner/vmlinuz \
		--initrd /lab/inner/initrd.gz --append "$append" --mem 256M \
		--device "$bdf"
}
run_vmlinux() {
	[ -f /lab/inner/vmlinux ] || return 0
	run assign-vmm-vmlinux timeout -s INT 180 assign-vmm -v --kernel /lab/inner/vmlinux \
		--initrd /lab/inner/initrd.gz --append "$append" --mem 256M \
		--device "$bdf"
}

# median of the numbers on stdin
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# Rounds (COMPARE_ROUNDS, default 3), the order reversed every other
# round: a VMM run leaves the lab guest's memory in a state the next one
# pays for (freed, fragmented), so no VMM should always come first.
rounds=${COMPARE_ROUNDS:-3}
: >/tmp/bench.lines
round=1
while [ $round -le "$rounds" ]; do
	if [ $((round % 2)) = 1 ]; then
		run_qemu; run_bzimage; run_vmlinux
	else
		run_vmlinux; run_bzimage; run_qemu
	fi
	round=$((round + 1))
done
# Per VMM, the median over the rounds; the ratio to QEMU's median
for v in qemu assign-vmm-bzimage assign-vmm-vmlinux; do
	grep -q "vmm=$v " /tmp/bench.lines || continue
	i=$(sed -n "s/^BENCH vmm=$v .*init=\([0-9.]*\) .*/\1/p" /tmp/bench.lines | median)
	p=$(sed -n "s/^BENCH vmm=$v .*ping=\([0-9.]*\) .*/\1/p" /tmp/bench.lines | median)
	echo "BENCH-MEDIAN vmm=$v rounds=$rounds init=$i ping=$p" | tee -a /tmp/bench.median
done
qi=$(sed -n 's/^BENCH-MEDIAN vmm=qemu .*init=\([0-9.]*\).*/\1/p' /tmp/bench.median 2>/dev/null)
if [ -n "$qi" ]; then
	for v in assign-vmm-bzimage assign-vmm-vmlinux; do
		vi=$(sed -n "s/^BENCH-MEDIAN vmm=$v .*init=\([0-9.]*\).*/\1/p" /tmp/bench.median)
		[ -n "$vi" ] && echo "BENCH-RATIO $v/qemu init=$(awk -v a="$vi" -v b="$qi" 'BEGIN { printf "%.2f", a / b }') (target <= 0.5)"
	done
fi
[ $fails = 0 ]
