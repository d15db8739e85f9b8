#!/bin/bash
# run-lab.sh [options]
#
# Boots one lab VM (QEMU under TCG, q35 + emulated Intel IOMMU, two e1000e,
# one edu, one nvme; and behind a PCIe root port a multifunction pair, an
# e1000e (fn 0) and an edu (fn 1), without ACS, that share one IOMMU group: the edu is bound to
# vfio-pci, the e1000e stays on its host driver, so that group is not
# viable), binds the
# devices to vfio-pci in the guest, runs the
# guest script(s) and checks the result protocol on the serial console:
#   LAB-RESULT <name> PASS|FAIL|SKIP [detail]   one line per test
#   LAB-END rc=N                                 printed by the guest init
#   LAB-DIAG text                                what a failed test saw;
#                                                repeated on stderr when the
#                                                run fails (the last 60),
#                                                after the 30 console lines
#                                                before the first FAIL
# Exit status 0 only if LAB-END rc=0 was seen, at least one LAB-RESULT line
# appeared and none is FAIL. A QEMU that dies (an assertion, hw_error(), a
# signal) is named as such ("QEMU ABORTED", with its message) and fails the
# run; it is never retried.
#
# Options:
#   --kernel VARIANT     debian (default, or $LIBASSIGN_LAB_KERNEL) | backports | own
#   --add HOST[:GUEST]   copy a file or directory into the guest (repeatable).
#                        Default GUEST: /lab/bin/NAME for executables,
#                        /lab/NAME otherwise. ELF executables and .so files
#                        (also inside added directories) bring their shared
#                        libraries (ldd): system ones at their path,
#                        others (e.g. the build tree's libassign.so) in
#                        /lab/lib, which is on LD_LIBRARY_PATH in the guest.
#   --script FILE        guest shell script run after setup (repeatable)
#   --exec 'CMD'         guest command line run after the scripts (repeatable)
#                        Without --script/--exec, smoke.sh is run.
#   --timeout SEC        guest run time limit, default 600
#   --boot-timeout SEC   a boot with no LAB-INIT by then is a hung boot: it
#                        is killed and booted once more (default 240, or
#                        $LIBASSIGN_LAB_BOOT_TIMEOUT)
#   --mem SIZE           guest memory, default 2G
#   --smp N              guest CPUs, default 1 (see tests/lab/README.md,
#                        Known limits: TCG and kernel text patching)
#   --log FILE           copy of the serial console (default: a temp file,
#                        kept when the run fails)
#   --qemu-arg ARG       extra QEMU argument (repeatable)
#   --append ARGS        extra kernel command line
#   --no-bind            leave the devices on their host drivers
#   --no-iommu           no emulated IOMMU; switches on VFIO's unsafe
#                        no-IOMMU mode (needs a kernel with VFIO_NOIOMMU:
#                        --kernel own); groups are /dev/vfio/noiommu-N
#   --quiet              do not echo the console to stdout
#
# Inside the guest, /lab/env holds LAB_E1000E_0, LAB_E1000E_1, LAB_EDU,
# LAB_NVME (PCI addresses), *_GROUP (IOMMU group numbers), *_CDEV (vfio
# cdev nodes, own kernel), LAB_NV_EDU and LAB_NV_E1000E (the non-viable
# group fixture), LAB_KVM, LAB_IOMMUFD, ...; the scripts get them
# in their environment too.
set -euo pipefail
# The whole script is one compound command: bash parses it completely
# before running it, so editing the file during a run cannot break the run.
{

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LIBASSIGN_LAB_CACHE:-/var/cache/libassign-lab}

die() { echo "run-lab: ERROR: $*" >&2; exit 2; }
say() { echo "run-lab: $*" >&2; }

variant=${LIBASSIGN_LAB_KERNEL:-debian}
adds=()
scripts=()
execs=()
timeout=600
boot_timeout=${LIBASSIGN_LAB_BOOT_TIMEOUT:-240}
mem=2G
# One vCPU: with two, QEMU 7.2's multi-threaded TCG can leave one vCPU
# running a stale translation of code the other patched, and lab guests
# (and inner guests, whose vCPU threads move between the lab guest's
# CPUs) crashed or hung on it now and then (tests/lab/README.md).
smp=1
log=""
qemu_extra=()
append=""
bind=1
iommu=1
quiet=0

while [ $# -gt 0 ]; do
	opt=$1
	case "$opt" in
	--kernel|--add|--script|--exec|--timeout|--boot-timeout|--mem|--smp|--log|--qemu-arg|--append)
		[ $# -ge 2 ] || die "option $opt needs an argument"
		val=$2; shift 2 ;;
	--kernel=*|--add=*|--script=*|--exec=*|--timeout=*|--boot-timeout=*|--mem=*|--smp=*|--log=*|--qemu-arg=*|--append=*)
		val=${opt#*=}; opt=${opt%%=*}; shift ;;
	*) val=""; shift ;;
	esac
	case "$opt" in
	--kernel) variant=$val ;;
	--add) adds+=("$val") ;;
	--script) scripts+=("$val") ;;
	--exec) execs+=("$val") ;;
	--timeout) timeout=$val ;;
	--boot-timeout) boot_timeout=$val ;;
	--mem) mem=$val ;;
	--smp) smp=$val ;;
	--log) log=$val ;;
	--qemu-arg) qemu_extra+=("$val") ;;
	--append) append="$append $val" ;;
	--no-bind) bind=0 ;;
	--no-iommu) iommu=0 ;;
	--quiet) quiet=1 ;;
	-h|--help) sed -n '2,38p' "$0"; exit 0 ;;
	*) die "unknown option '$opt' (see --help)" ;;
	esac
done

[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout wants seconds, got '$timeout'"
[[ "$boot_timeout" =~ ^[0-9]+$ ]] || die "--boot-timeout wants seconds, got '$boot_timeout'"
for t in qemu-system-x86_64:qemu-system-x86 cpio:cpio gzip:gzip ldd:libc-bin timeout:coreutils; do
	command -v "${t%%:*}" >/dev/null 2>&1 ||
		die "'${t%%:*}' not found; install package '${t#*:}' (see tests/lab/deps.txt)"
done
[ -x /bin/busybox ] && [[ "$(/bin/busybox 2>&1 || true)" == *BusyBox* ]] ||
	die "/bin/busybox missing; install package busybox-static"
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
file_is_static /bin/busybox || die "/bin/busybox is dynamically linked; install busybox-static (not busybox)"

for s in "${scripts[@]+"${scripts[@]}"}"; do
	[ -f "$s" ] || die "--script $s: no such file"
done
if [ ${#scripts[@]} -eq 0 ] && [ ${#execs[@]} -eq 0 ]; then
	scripts=("$here/smoke.sh")
fi

# 1. Kernel
kdir=$("$here/prepare-kernel.sh" "$variant" | tail -n1) ||
	die "prepare-kernel.sh $variant failed (see its messages above)"
[ -f "$kdir/vmlinuz" ] || die "prepare-kernel.sh gave '$kdir' without a vmlinuz"

# 2. Run directory and initramfs tree
mkdir -p "${TMPDIR:-/tmp}"
run=$(mktemp -d "${TMPDIR:-/tmp}/libassign-lab.XXXXXX")
keep_run=0
cleanup() {
	[ -n "${qpid:-}" ] && kill "$qpid" 2>/dev/null || true
	# the log follower holds inherited fds (a caller's flock on the lab
	# lock among them): it must not outlive us
	[ -n "${tailpid:-}" ] && kill "$tailpid" 2>/dev/null || true
	[ "$keep_run" = 1 ] || rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ -n "$log" ] || { log="$run/serial.log"; }
mkdir -p "$(dirname "$log")"
: >"$log"

root="$run/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,lab/bin,lib/modules/lab}
cp /bin/busybox "$root/bin/busybox"
cp "$here/guest-init.sh" "$root/init"
chmod 755 "$root/init"
# run-bounded: a command bounded in time, with the evidence when it hangs
cp "$here/run-bounded.sh" "$root/lab/bin/run-bounded"
chmod 755 "$root/lab/bin/run-bounded"
# kvm-hold: one KVM VM held for the guest's life (kvm-hold.c says why)
"${CC:-cc}" -static -O2 -Wall -Werror -o "$root/lab/bin/kvm-hold" "$here/kvm-hold.c" ||
	die "cannot build $here/kvm-hold.c (a C compiler and the static C library, packages gcc and libc6-dev)"

# Modules: wanted names, their dependencies first, from modules.lab.
declare -A mod_path=() mod_deps=() mod_done=()
order=()
while IFS=$'\t' read -r name path deps; do
	mod_path[$name]=$path
	mod_deps[$name]=$deps
done <"$kdir/modules.lab"
add_module() {
	local name=${1//-/_} d
	[ -z "${mod_done[$name]:-}" ] || return 0
	if [ -z "${mod_path[$name]:-}" ]; then
		return 1
	fi
	mod_done[$name]=1
	local IFS=,
	for d in ${mod_deps[$name]}; do
		[ -n "$d" ] && { add_module "$d" || say "warning: dependency $d of $name not in $kdir"; }
	done
	order+=("$name")
}
if [ ${#mod_path[@]} -gt 0 ]; then
	for m in vfio vfio_iommu_type1 vfio_pci kvm kvm_amd e1000e; do
		add_module "$m" || say "note: module $m not in $kdir (built in?)"
	done
fi
: >"$root/lab/modules.order"
for name in "${order[@]+"${order[@]}"}"; do
	p=${mod_path[$name]}
	mkdir -p "$root/lib/modules/lab/$(dirname "$p")"
	cp "$kdir/modules/$p" "$root/lib/modules/lab/$p"
	args=""
	[ "$name" = vfio ] && [ "$iommu" = 0 ] && args="enable_unsafe_noiommu_mode=1"
	echo "$p $args" >>"$root/lab/modules.order"
done

# Added files, with the shared libraries of ELF files.
declare -A lib_dirs=()
is_elf() { [ -f "$1" ] && [ "$(head -c4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
copy_libs() {
	local f=$1 line lib
	while read -r line; do
		lib=""
		case "$line" in
		*"=> not found"*) die "$f needs ${line%% *} which ldd cannot find; set LD_LIBRARY_PATH or fix the build" ;;
		*"=> /"*) lib=${line#*=> }; lib=${lib%% (*} ;;
		/*) lib=${line%% (*} ;;
		esac
		[ -n "$lib" ] || continue
		lib=$(echo "$lib" | tr -d '[:space:]')
		case "$(dirname "$lib")" in
		/lib|/lib64|/usr/lib|/lib/x86_64-linux-gnu|/usr/lib/x86_64-linux-gnu)
			# System libraries keep their path (the interpreter must).
			if [ ! -e "$root$lib" ]; then
				mkdir -p "$root$(dirname "$lib")"
				cp -L "$lib" "$root$lib"
			fi ;;
		*)
			# Build-tree libraries (found through RUNPATH on the host)
			# go to /lab/lib, which is on LD_LIBRARY_PATH in the guest.
			mkdir -p "$root/lab/lib"
			[ -e "$root/lab/lib/$(basename "$lib")" ] ||
				cp -L "$lib" "$root/lab/lib/$(basename "$lib")"
			lib_dirs[/lab/lib]=1 ;;
		esac
	done < <(ldd "$f" 2>/dev/null || true)
}
for a in "${adds[@]+"${adds[@]}"}"; do
	hostp=${a%%:*}
	if [ "$hostp" != "$a" ]; then guestp=${a#*:}; else guestp=""; fi
	[ -e "$hostp" ] || die "--add $hostp: no such file or directory"
	if [ -z "$guestp" ]; then
		if [ -f "$hostp" ] && [ -x "$hostp" ]; then
			guestp=/lab/bin/$(basename "$hostp")
		else
			guestp=/lab/$(basename "$hostp")
		fi
	fi
	[ "${guestp#/}" != "$guestp" ] || die "--add $a: guest path must be absolute"
	mkdir -p "$root$(dirname "$guestp")"
	cp -a -L "$hostp" "$root$guestp"
	if [ -d "$hostp" ]; then
		while IFS= read -r -d '' f; do
			is_elf "$f" && copy_libs "$f"
		done < <(find "$hostp" -type f -print0)
	elif is_elf "$hostp"; then
		copy_libs "$hostp"
	fi
done
if [ ${#lib_dirs[@]} -gt 0 ]; then
	(IFS=:; echo "${!lib_dirs[*]}") >"$root/lab/ld-paths"
fi

# The guest's run script: the --script files, then the --exec commands.
{
	echo '#!/bin/sh'
	echo 'rc=0'
	i=0
	for s in "${scripts[@]+"${scripts[@]}"}"; do
		cp "$s" "$root/lab/script$i.sh"
		echo "sh /lab/script$i.sh || { r=\$?; echo \"LAB-INIT script $(basename "$s") exited with \$r\"; [ \$rc != 0 ] || rc=\$r; }"
		i=$((i + 1))
	done
	for e in "${execs[@]+"${execs[@]}"}"; do
		printf '%s\n' "$e" >"$root/lab/exec$i.sh"
		echo "sh /lab/exec$i.sh || { r=\$?; echo \"LAB-INIT exec #$i exited with \$r\"; [ \$rc != 0 ] || rc=\$r; }"
		i=$((i + 1))
	done
	echo 'exit $rc'
} >"$root/lab/run.sh"
{
	echo "LAB_BIND=$bind"
	echo "LAB_KERNEL_VARIANT=$variant"
} >"$root/lab/config"

initrd="$run/initrd.gz"
(cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet | gzip -1 >"$initrd")

# 3. QEMU
nvme_img="$cache/nvme-1M.img"
if [ ! -f "$nvme_img" ]; then
	mkdir -p "$cache"
	tmpimg=$(mktemp "$cache/nvme.XXXXXX")
	truncate -s 1M "$tmpimg"
	mv -f "$tmpimg" "$nvme_img"
fi

# no_timer_check: under a loaded TCG host the IO-APIC timer check can
# fail ("timer doesn't work through Interrupt-remapped IO-APIC") and panic.
# nolapic_timer: QEMU 7.2's TCG lost the local APIC timer's interrupt now
# and then; a guest idle in NOHZ then slept until some other interrupt
# came (once 19 minutes: the clocksource watchdog saw 1166 s pass between
# two of its 0.5 s checks). The HPET is the clock event device instead.
cmdline="console=ttyS0 panic=-1 quiet loglevel=1 no_timer_check nolapic_timer"
if [ "$iommu" = 1 ]; then
	cmdline="$cmdline intel_iommu=on iommu=nopt"
else
	# No IOMMU: VFIO only binds with its unsafe no-IOMMU mode switched on
	# (built-in vfio reads it from the command line, the module from
	# modules.order).
	cmdline="$cmdline vfio.enable_unsafe_noiommu_mode=1"
fi
cmdline="$cmdline$append"

qemu=(qemu-system-x86_64
	-machine q35,kernel-irqchip=split -accel tcg -cpu max
	-m "$mem" -smp "$smp" -nographic -no-reboot
)
[ "$iommu" = 1 ] && qemu+=(-device intel-iommu,intremap=on,caching-mode=on)
qemu+=(
	-netdev user,id=n0 -device e1000e,netdev=n0,romfile=
	-netdev user,id=n1 -device e1000e,netdev=n1,romfile=
	-device edu
	-device pcie-root-port,id=labrp,chassis=1,addr=0x10
	-netdev user,id=n2 -device e1000e,netdev=n2,bus=labrp,addr=0.0,multifunction=on,romfile=
	-device edu,bus=labrp,addr=0.1,multifunction=on
	-drive "if=none,id=nvm0,format=raw,snapshot=on,file=$nvme_img"
	-device nvme,serial=libassign0,drive=nvm0
	-kernel "$kdir/vmlinuz" -initrd "$initrd" -append "$cmdline"
)
qemu+=("${qemu_extra[@]+"${qemu_extra[@]}"}")
# A monitor socket: at a timeout, what the guest was doing is asked of it
# (stall_diag) before QEMU is stopped.
monitor="$run/monitor.sock"
qemu+=(-monitor "unix:$monitor,server=on,wait=off")

# mon CMD...: sends each command to QEMU's monitor, prints its answers.
mon() {
	python3 - "$monitor" "$@" <<'PY' 2>/dev/null
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
def drain():
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    return out.decode(errors="replace")
drain()
for c in sys.argv[2:]:
    s.sendall(c.encode() + b"\n")
    time.sleep(0.3)
    sys.stdout.write(drain())
PY
}

# stall_diag: the guest did not finish in time. Before it is stopped, its
# vCPU registers go to $run/stall-registers.txt and the guest kernel is
# asked, by magic SysRq keys on its keyboard (guest-init.sh enables them),
# to raise its console log level and print its blocked tasks and every
# CPU's backtrace on the serial console: a lab guest that stalls (idle or
# spinning) then says where in the CI log (run-lab's "stall:" lines).
stall_diag() {
	mon "info registers" >"$run/stall-registers.txt" || true
	mon "sendkey alt-sysrq-9" "sendkey alt-sysrq-w" "sendkey alt-sysrq-l" >/dev/null || true
	sleep 10
}

# The emulator's lost timer (tests/lab/README.md, Known limits): under
# QEMU 7.2's TCG a lab guest has now and then stopped getting timer
# interrupts, on the local APIC timer and on the HPET alike, and slept,
# idle, until some other interrupt came (19 minutes once, a whole CI
# timeout another time). While the guest runs, run_qemu reads QEMU's count
# of timer interrupts raised at the IO-APIC (pin 0/2: the HPET in legacy
# mode, see nolapic_timer below) every 4 s. A lab guest's kernel programs
# its timer at least every 4 s, so a count that has not moved for 8 s is
# a stalled guest. watch_timer then records the vCPU and local APIC state
# and tries, one at a time, what can end such a stall: the monitor alone
# (it wakes QEMU's main loop, which runs overdue timers), a vCPU kick
# (stop/cont: a halted vCPU re-checks for a pending interrupt), a
# keyboard interrupt. Each stall is named on stderr ("EMULATOR STALL",
# with what ended it) and counted in the summary; it never ends the run.
# A stall none of them ended at once gets a vCPU kick and a keyboard
# interrupt every 4 s until its timer runs again (a line says when, or
# that the guest ran on to its end first), or runs into the timeout as
# before.
timer_irqs() {
	mon "info irq" | tr -d '\r' | awk '
		/^IRQ statistics for ioapic/ { f = 1; next }
		/^IRQ statistics/ { f = 0 }
		f && $1 ~ /^(0|2):$/ { s += $2; n++ }
		END { if (n) print s }'
}
stalls=0
# changed: the timer count moved since tick_n (sets tick_n, tick_at);
# status 1 when it did not, 2 when the monitor gave no count
changed() {
	local n
	n=$(timer_irqs 2>/dev/null) || n=""
	[ -n "$n" ] || return 2
	[ "$n" != "$tick_n" ] || return 1
	tick_n=$n tick_at=$SECONDS
}
# try_wake WAIT WHAT [MONITOR-COMMAND...]: sends the commands, waits WAIT
# seconds; if the timer ran meanwhile, how=WHAT
try_wake() {
	local wait=$1 what=$2
	shift 2
	[ $# = 0 ] || mon "$@" >/dev/null 2>&1 || true
	sleep "$wait"
	changed && how=$what
}
watch_timer() {
	local how st gap
	[ "$SECONDS" -ge "$tick_poll" ] || return 0
	tick_poll=$((SECONDS + 4))
	if [ "$tick_stuck" != 0 ]; then
		# a stall the first tries did not end: a vCPU kick and a
		# keyboard interrupt every 4 s until the count moves
		if changed; then
			echo "run-lab: EMULATOR STALL $stalls ended after $((SECONDS - tick_stuck))s more, $tick_tries more tries" >&2
			tick_stuck=0
		else
			mon "stop" "cont" "sendkey shift" >/dev/null 2>&1 || true
			tick_tries=$((tick_tries + 1))
		fi
		return 0
	fi
	changed
	[ $? = 1 ] && [ $((SECONDS - tick_at)) -ge 8 ] || return 0
	stalls=$((stalls + 1)) gap=$((SECONDS - tick_at))
	st=$(mon "info registers" "info lapic" 2>/dev/null | tr -d '\r' | awk '
		/^RIP=/ { for (i = 1; i <= NF; i++) if ($i ~ /^(RIP|RFL|HLT)=/) printf "%s ", $i }
		/^(IRR|ISR)/ { $1 = $1; printf "%s; ", $0 }
		/PPR/ { $1 = $1; printf "%s; ", $0 }')
	how=""
	try_wake 2 "the monitor alone (QEMU's main loop had slept past the guest's timer)" ||
		try_wake 2 "a vCPU kick (stop/cont: the halted vCPU had missed its wakeup)" stop cont ||
		try_wake 3 "a keyboard interrupt" "sendkey shift" || true
	if [ -n "$how" ]; then
		how="ended by $how"
	else
		how="not ended by the monitor, a vCPU kick or a keyboard interrupt; both again every 4 s"
		tick_stuck=$SECONDS tick_tries=0
	fi
	echo "run-lab: EMULATOR STALL $stalls at $((SECONDS - start))s in QEMU: no timer interrupt for ${gap}s; ${st}$how" >&2
}
# LIBASSIGN_LAB_TEST_STOP=SEC (check-lab-stall.sh only): the vCPU is
# stopped through the monitor SEC seconds after the guest booted, a stall
# watch_timer must find and end.
test_stop=${LIBASSIGN_LAB_TEST_STOP:-}

say "kernel $variant ($kdir), timeout ${timeout}s, serial log $log"
# A boot that never reaches the lab's init (no LAB-INIT line) within
# $boot_timeout seconds is a hung boot, not a test result: under a heavily
# loaded TCG host a kernel has been seen to stop silently before init. It is
# killed and booted once more, loudly, with the hung boot's log kept. A
# second hang fails the run. Nothing of the tests has run at that point,
# so no result can be hidden by the retry.
run_qemu() {
	local start=$SECONDS booted=0 booted_at=0
	qpid="" tailpid="" # globals: cleanup() stops them
	tick_n="" tick_at=0 tick_poll=0 tick_stuck=0 tick_tries=0 # watch_timer's
	: >"$log"
	rm -f "$monitor"
	# the timeout is run_qemu's (stall_diag first); timeout(1) is the net
	timeout -k 10 "$((timeout + 60))" "${qemu[@]}" </dev/null >"$log" 2>&1 &
	qpid=$!
	if [ "$quiet" != 1 ]; then
		tail -n +1 -f "$log" &
		tailpid=$!
	fi
	qrc=""
	while kill -0 "$qpid" 2>/dev/null; do
		if [ "$booted" = 0 ]; then
			if grep -aq 'LAB-INIT' "$log"; then
				booted=1 booted_at=$SECONDS
			elif [ $((SECONDS - start)) -ge "$boot_timeout" ]; then
				kill "$qpid" 2>/dev/null
				wait "$qpid" 2>/dev/null
				qrc=hang
				break
			fi
		fi
		if [ "$booted" = 1 ]; then
			if [ -n "$test_stop" ] && [ $((SECONDS - booted_at)) -ge "$test_stop" ]; then
				mon "stop" >/dev/null 2>&1 || true
				test_stop=""
			fi
			watch_timer
		fi
		if [ $((SECONDS - start)) -ge "$timeout" ]; then
			stall_diag
			kill "$qpid" 2>/dev/null
			wait "$qpid" 2>/dev/null
			qrc=124
			break
		fi
		sleep 1
	done
	if [ -z "$qrc" ]; then
		wait "$qpid"
		qrc=$?
		# a stall the first tries did not end, and the guest then ran
		# to its end before the next 4 s look at its timer
		if [ "$tick_stuck" != 0 ]; then
			echo "run-lab: EMULATOR STALL $stalls ended: the guest ran on to its end $((SECONDS - tick_stuck))s later, after $tick_tries more tries" >&2
		fi
	fi
	if [ -n "$tailpid" ]; then
		sleep 0.3
		kill "$tailpid" 2>/dev/null
		wait "$tailpid" 2>/dev/null
	fi
	qpid="" tailpid=""
	return 0
}
t0=$(date +%s.%N)
set +e
run_qemu
if [ "$qrc" = hang ]; then
	mv -f "$log" "$log.hang1"
	echo "run-lab: BOOT HANG: the guest kernel did not reach the lab's init within ${boot_timeout}s (log kept: $log.hang1); booting once more" >&2
	run_qemu
	if [ "$qrc" = hang ]; then
		echo "run-lab: BOOT HANG AGAIN: the guest kernel did not reach init in two boots (raise --boot-timeout on a slow host); serial log: $log" >&2
		qrc=hang
	fi
fi
set -e
t1=$(date +%s.%N)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

# 4. Verdict
clean=$(tr -d '\r' <"$log")
pass=$(grep -cE 'LAB-RESULT [^ ]+ PASS' <<<"$clean" || true)
fail=$(grep -cE 'LAB-RESULT [^ ]+ FAIL' <<<"$clean" || true)
skip=$(grep -cE 'LAB-RESULT [^ ]+ SKIP' <<<"$clean" || true)
endline=$(grep -oE 'LAB-END rc=[0-9]+' <<<"$clean" | tail -n1 || true)
status=0
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "run-lab: TIMEOUT: the guest did not finish within ${timeout}s (raise --timeout); serial log: $log" >&2
	status=1
fi
# QEMU itself died: an assertion or hw_error() (abort, exit 134), or
# another signal. That is no test result but a bug of the emulator, or of
# the state a test left an emulated device in: named, never retried.
qemu_died=""
if [[ "$qrc" =~ ^[0-9]+$ ]] && [ "$qrc" -gt 128 ] && [ "$qrc" != 137 ]; then
	qemu_died="killed by SIG$(kill -l $((qrc - 128)) 2>/dev/null || echo $((qrc - 128)))"
fi
qemu_why=$(grep -aE 'Assertion .* failed|qemu: hardware error:|^qemu-system-[a-z0-9_]+: ' <<<"$clean" | head -n1 || true)
if [ -n "$qemu_died" ] || { [ "$qrc" != 0 ] && [ -n "$qemu_why" ] && [ "$qrc" != 124 ]; }; then
	last=$(grep -oE 'LAB-RESULT [^ ]+ [A-Z]+' <<<"$clean" | tail -n1 || true)
	what="QEMU ABORTED"
	[ -n "$qemu_died" ] || what="QEMU FAILED"
	echo "run-lab: $what (exit $qrc${qemu_died:+, $qemu_died}): ${qemu_why:-no message from QEMU}; the emulator itself stopped, which is no test result (a QEMU bug, a device state it does not survive, or a bad QEMU option; docs/testing.md); last result before it: ${last:-none}; serial log: $log" >&2
	status=1
elif [ "$qrc" = hang ]; then
	status=1
elif [ -z "$endline" ]; then
	echo "run-lab: MISSING END MARKER: no 'LAB-END rc=N' on the console (guest crashed, hung or QEMU failed, qemu exit $qrc); serial log: $log" >&2
	status=1
elif [ "${endline#LAB-END rc=}" != 0 ]; then
	echo "run-lab: the guest script failed: $endline" >&2
	status=1
fi
if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$skip" -eq 0 ]; then
	echo "run-lab: NO RESULTS: no LAB-RESULT line appeared" >&2
	status=1
fi
if [ "$fail" -gt 0 ]; then
	grep -E 'LAB-RESULT [^ ]+ FAIL' <<<"$clean" | sed 's/^.*LAB-RESULT/run-lab: failed: LAB-RESULT/' >&2
	status=1
fi
if [ "$status" != 0 ]; then
	# what a CI log that keeps only stderr needs to say why: the console
	# lines before the first FAIL (or the last ones), then LAB-DIAG lines
	first=$(grep -naE 'LAB-RESULT [^ ]+ FAIL' <<<"$clean" | head -n1 | cut -d: -f1 || true)
	[ -n "$first" ] || first=$(grep -nam1 'sysrq: Show Blocked State' <<<"$clean" | cut -d: -f1 || true)
	[ -n "$first" ] || first=$(wc -l <<<"$clean")
	head -n "$((first - 1))" <<<"$clean" | grep -av 'LAB-DIAG ' | tail -n 30 |
		sed 's/^/run-lab: console: /' >&2 || true
	grep -aoE 'LAB-DIAG .*' <<<"$clean" | tail -n 60 | sed 's/^LAB-DIAG /run-lab: diag: /' >&2 || true
fi
if [ "$qrc" = 124 ]; then
	# stall_diag's answers: where the vCPU was, what the kernel said
	grep -aE '^(RIP|RSP|RAX|CR0)=' "$run/stall-registers.txt" 2>/dev/null |
		sed 's/^/run-lab: stall: /' >&2 || true
	sed -n '/sysrq: Show Blocked State/,$p' <<<"$clean" | head -n 200 |
		sed 's/^/run-lab: stall: /' >&2 || true
fi
if [ "$status" != 0 ] && [ "$log" = "$run/serial.log" ]; then
	keep_run=1
fi
if [ "$stalls" -gt 0 ]; then
	echo "run-lab: $stalls EMULATOR STALL(S) in this run (lines above): the guest's timer interrupts stopped under QEMU; a stall that was ended cost the run its seconds, not its results (tests/lab/README.md, Known limits)" >&2
fi
echo "lab: $pass passed, $fail failed, $skip skipped (kernel $variant, ${elapsed}s in QEMU)"
exit "$status"
exit
}
