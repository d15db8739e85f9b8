#!/bin/sh
# Lab guest script: assign-vmm refuses bad input with one line naming the
# cause and the fix, a non-zero exit, and nothing left bound or pinned.
# Needs /lab/bin/assign-vmm and /lab/inner/vmlinuz (see run-chain.sh).
fails=0
result() {
	name=$1; verdict=$2; shift 2
	echo "LAB-RESULT $name $verdict $*"
	[ "$verdict" != FAIL ] || fails=$((fails + 1))
}
if [ "${LAB_KVM:-0}" != 1 ]; then
	result assign-vmm-badinput SKIP "no /dev/kvm in the lab guest"
	exit 0
fi
k=/lab/inner/vmlinuz
drv() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null; }
mlocked() { awk '/^Mlocked:/ {print $2}' /proc/meminfo; }

# bounded OUT ERR CMD...: runs CMD (stdin /dev/null) for at most 120 s
# and sets rc to its exit code; a CMD still running then is a hang: where
# its threads wait (and the kernel's blocked tasks) goes to the console,
# rc is "hung", and the script goes on without waiting for it.
bounded() {
	bout=$1 berr=$2; shift 2
	"$@" </dev/null >"$bout" 2>"$berr" &
	bpid=$!
	i=0
	while kill -0 $bpid 2>/dev/null && [ $i -lt 1200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 $bpid 2>/dev/null; then
		echo "HUNG: $* still runs after 120 s; its threads:"
		for t in /proc/$bpid/task/*; do
			echo "HUNG   ${t##*/}: $(cat "$t/wchan" 2>/dev/null), $(grep State "$t/status")"
			sed 's/^/HUNG     /' "$t/stack" 2>/dev/null
		done
		echo w >/proc/sysrq-trigger 2>/dev/null
		dmesg | tail -n 80 | sed 's/^/HUNG dmesg: /'
		kill -9 $bpid 2>/dev/null
		rc=hung
		return
	fi
	wait $bpid
	rc=$?
}

# case NAME EXPECT-IN-MESSAGE CMD...: runs CMD, wants rc != 0, exactly one
# line on stderr containing EXPECT, no leftover assign-vmm process.
case_() {
	name=$1 expect=$2; shift 2
	before=$(drv "${LAB_E1000E_0:-none}")
	bounded /dev/null /tmp/case.err "$@"
	err=$(cat /tmp/case.err)
	lines=$(printf '%s\n' "$err" | grep -c .)
	echo "$name: rc=$rc: $err"
	after=$(drv "${LAB_E1000E_0:-none}")
	if [ "$rc" = hung ]; then
		result "assign-vmm-bad-$name" FAIL "still running after 120 s (HUNG lines above)"
	elif [ $rc = 0 ]; then
		result "assign-vmm-bad-$name" FAIL "exit 0"
	elif [ "$lines" != 1 ]; then
		result "assign-vmm-bad-$name" FAIL "$lines lines of error"
	elif ! printf '%s' "$err" | grep -qi -- "$expect"; then
		result "assign-vmm-bad-$name" FAIL "message lacks '$expect'"
	elif [ "$before" != "$after" ]; then
		result "assign-vmm-bad-$name" FAIL "$LAB_E1000E_0 went from $before to $after"
	else
		result "assign-vmm-bad-$name" PASS "rc=$rc, one line"
	fi
}

m0=$(mlocked)
case_ no-kernel "no kernel" assign-vmm --mem 256M
case_ missing-kernel "cannot read kernel" assign-vmm --kernel /nonexistent
case_ corrupt-kernel "not a Linux kernel" assign-vmm --kernel /lab/inner/initrd.gz
case_ bad-mem "--mem" assign-vmm --kernel $k --mem 12X
case_ bad-address "not a PCI address" assign-vmm --kernel $k --device 00:zz.9
case_ no-device "no PCI device" assign-vmm --kernel $k --device 0000:00:1f.7
# the lab's bzImage cut short after 1 MiB, its header intact: refused at
# load (it used to boot, die in its decompressor and exit 0)
[ -f /lab/inner/truncated ] &&
	case_ truncated-bzimage "is truncated: its boot header says" assign-vmm --kernel /lab/inner/truncated
# a kernel that triple-faults before it prints anything: an error, not a
# guest reboot
[ -f /lab/inner/triplefault ] &&
	case_ triple-fault "triple-faulted before it wrote anything" assign-vmm --kernel /lab/inner/triplefault --mem 128M
# the same with "quiet": a kernel that runs prints nothing either, so the
# VMM must not say that the kernel did not start
[ -f /lab/inner/triplefault ] &&
	case_ triple-fault-quiet 'its command line has "quiet", so its kernel may have been running' \
		assign-vmm --kernel /lab/inner/triplefault --mem 128M --append "console=ttyS0 quiet"
# one device twice, by two spellings: said before anything is opened
case_ device-twice "is given twice" assign-vmm --kernel $k --device "$LAB_E1000E_0" --device "${LAB_E1000E_0#0000:}"
# more RAM than the lab guest has (memlock is unlimited here): all of it
# would be pinned; refused before the guest runs, with the sizes
case_ mem-too-big "MemAvailable" assign-vmm --kernel $k --mem 100G --device "$LAB_E1000E_0"
[ -n "${LAB_NV_E1000E:-}" ] &&
	case_ not-vfio "vfio-pci" assign-vmm --kernel $k --device "$LAB_NV_E1000E"
[ -n "${LAB_NV_EDU:-}" ] &&
	case_ non-viable "viable" assign-vmm --kernel $k --device "$LAB_NV_EDU"
# Root has CAP_IPC_LOCK, which lets pinning past RLIMIT_MEMLOCK through
# (in the kernel and in libassign): drop it with a user namespace, where
# the capability no longer counts for the initial namespace's pinning.
if unshare -U -r true 2>/dev/null; then
	case_ memlock "memlock\|ulimit\|locked" unshare -U -r sh -c "ulimit -l 1024; exec assign-vmm --kernel $k --mem 256M --device $LAB_E1000E_0"
else
	result assign-vmm-bad-memlock SKIP "no user namespaces to drop CAP_IPC_LOCK"
fi

# A guest that puts the NIC's BAR0 over its own RAM and toggles its
# decoding 100 times (inner-init.sh "msetoggle"): 100 refused placements,
# at most 13 lines about them (the 1st-10th, 20th, 40th, 80th).
bounded /tmp/flood.out /tmp/flood.err assign-vmm --kernel $k \
	--initrd /lab/inner/initrd.gz --mem 128M --device "$LAB_E1000E_0" \
	--append "console=ttyS0 acpi=noirq panic=-1 quiet pci=noearly msetoggle"
frc=$rc
toggled=$(sed -n 's/.*INNER-MSETOGGLE .* toggled \([0-9]*\) times.*/\1/p' /tmp/flood.out)
said=$(grep -c "which overlaps low guest RAM" /tmp/flood.err)
echo "guest-log-flood: rc=$frc, toggled ${toggled:-0} times, $said lines: $(tail -n 1 /tmp/flood.err)"
if [ "$frc" = 0 ] && [ "${toggled:-0}" = 100 ] && [ "$said" -ge 1 ] && [ "$said" -le 13 ] &&
	grep -q "overlaps low guest RAM.*(80 times)" /tmp/flood.err; then
	result assign-vmm-guest-log-bounded PASS "100 refused BAR placements, $said lines, the last counting 80"
else
	result assign-vmm-guest-log-bounded FAIL "rc=$frc, toggled ${toggled:-0}, $said lines about the refused BAR"
fi

# the device in use by another VMM
assign-vmm --kernel $k --append "console=ttyS0 acpi=off quiet shell" --mem 128M \
	--device "$LAB_E1000E_0" </dev/null >/dev/null 2>&1 &
holder=$!
i=0
while [ $i -lt 100 ] && ! ls -l /proc/$holder/fd 2>/dev/null | grep -q vfio; do sleep 0.1; i=$((i + 1)); done
case_ in-use "busy\|in use\|already" assign-vmm --kernel $k --mem 128M --device "$LAB_E1000E_0"
kill -TERM $holder 2>/dev/null
wait $holder
hrc=$?
[ $hrc = 143 ] && result assign-vmm-sigterm PASS "VMM stopped by SIGTERM, exit 143" ||
	result assign-vmm-sigterm FAIL "exit $hrc after SIGTERM"
m1=$(mlocked)
[ "$(drv "$LAB_E1000E_0")" = vfio-pci ] &&
	result assign-vmm-bad-cleanup PASS "$LAB_E1000E_0 still on vfio-pci, Mlocked ${m0} -> ${m1} kB" ||
	result assign-vmm-bad-cleanup FAIL "$LAB_E1000E_0 on $(drv "$LAB_E1000E_0")"
[ $fails = 0 ]
