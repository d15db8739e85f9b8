#!/bin/bash
# loop-lab.sh [-C BUILD] [-n RUNS] [-o DIR] [-- MESON-TEST-ARGS...]
#
# Runs the whole lab suite RUNS times in a row, unattended, to show that
# it does not flake. Each run is `meson test -C BUILD --suite lab` (or the
# meson test arguments after --) under the lab lock (flock on
# $LIBASSIGN_LAB_LOCK, default /tmp/libassign-lab.lock), so other lab runs
# on the machine wait for it between runs and it waits for them. Nothing
# is retried: a run with one failed test is a failed run.
#
# Keeps in DIR (default BUILD/lab-loop-DATE): each run's meson output and
# test log, and the serial logs of the tests that failed. Prints one line
# per run, then the summary, for instance
#   lab-loop: 10 runs in a row: 10 passed, 0 failed; failed tests: none;
#   QEMU aborts: 0; emulator stalls: 0; 1h52m in all
# (one line). Emulator stalls are the "EMULATOR STALL" lines of run-lab.sh
# (tests/lab/README.md, Known limits): counted, per run and in all, though
# they do not fail a run. Exit 0 only when every run passed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)

build=$top/build
runs=10
out=""
margs=(--suite lab)
die() { echo "lab-loop: ERROR: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case "$1" in
	-C) build=$2; shift 2 ;;
	-n) runs=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	--) shift; margs=("$@"); break ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "-n wants a number of runs, got '$runs'"
[ -f "$build/build.ninja" ] || die "$build is not a configured build dir (meson setup $build)"
command -v flock >/dev/null || die "flock not found (package util-linux)"
build=$(cd "$build" && pwd)
out=${out:-$build/lab-loop-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out" || die "cannot make $out"
lock=${LIBASSIGN_LAB_LOCK:-/tmp/libassign-lab.lock}

fmt_time() { printf '%dh%02dm%02ds' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }

# scan MODE LOG: one run's tests from meson's JSON test log, one line
# each. MODE failures: the tests that did not pass, "NAME RESULT[
# QEMU-ABORT: message]". MODE stalls: the emulator stalls run-lab.sh
# found (its "EMULATOR STALL N at" lines, tests/lab/README.md), "NAME
# COUNT"; lab-stall-woken makes one on purpose and is left out.
scan() {
	python3 - "$1" "$2" <<'PY'
import json, re, sys
mode = sys.argv[1]
for line in open(sys.argv[2], encoding="utf-8", errors="replace"):
    try:
        t = json.loads(line)
    except ValueError:
        continue
    name = t.get("name", "?").split(" / ")[-1]
    lines = ((t.get("stdout") or "") + (t.get("stderr") or "")).splitlines()
    if mode == "stalls":
        n = sum(1 for l in lines
                if re.match(r"run-lab: EMULATOR STALL [0-9]+ at ", l))
        if n and name != "lab-stall-woken":
            print(name, n)
    elif t.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL"):
        why = [l for l in lines
               if l.startswith("run-lab: QEMU ABORTED") or
               l.startswith("run-lab: QEMU FAILED")]
        print(name, t.get("result"),
              ("QEMU-ABORT: " + why[0][len("run-lab: "):]) if why else "")
PY
}

echo "lab-loop: $runs runs of 'meson test -C $build ${margs[*]}', logs in $out"
pass=0 fail=0 aborts=0 stalls=0
declare -A failed_tests=()
t_all=$SECONDS
for i in $(seq 1 "$runs"); do
	t0=$SECONDS
	flock "$lock" meson test -C "$build" --logbase "lab-loop-$i" "${margs[@]}" \
		>"$out/run-$i.out" 2>&1
	rc=$?
	dt=$((SECONDS - t0))
	log=$build/meson-logs/lab-loop-$i.json
	cp -f "$build/meson-logs/lab-loop-$i.txt" "$out/" 2>/dev/null
	ok=$(sed -n 's/^Ok: *//p' "$out/run-$i.out" | tail -n1 | tr -d ' ')
	bad="" st=""
	[ -f "$log" ] && bad=$(scan failures "$log") && st=$(scan stalls "$log")
	note=""
	if [ -n "$st" ]; then
		n=$(awk '{ s += $2 } END { print s + 0 }' <<<"$st")
		stalls=$((stalls + n))
		note="; $n emulator stall(s): $(tr '\n' ' ' <<<"$st" | sed 's/ $//')"
	fi
	if [ "$rc" = 0 ] && [ -z "$bad" ]; then
		pass=$((pass + 1))
		echo "lab-loop: run $i/$runs: PASS (${ok:-?} tests ok) in $(fmt_time $dt)$note"
		continue
	fi
	fail=$((fail + 1))
	[ -n "$bad" ] || bad="meson-test exit $rc (see $out/run-$i.out)"
	echo "lab-loop: run $i/$runs: FAIL in $(fmt_time $dt)$note:"
	while IFS= read -r line; do
		echo "lab-loop:     $line"
		name=${line%% *}
		failed_tests[$name]=$((${failed_tests[$name]:-0} + 1))
		case "$line" in *QEMU-ABORT:*) aborts=$((aborts + 1)) ;; esac
		# the failed test's serial logs (its --log under the build dir,
		# and a hung boot's .hang1)
		find "$build" -name "$name.log*" -type f 2>/dev/null |
			while read -r f; do
				cp -f "$f" "$out/run-$i-$(basename "$f")"
			done
	done <<<"$bad"
done
list=""
for t in "${!failed_tests[@]}"; do
	list="$list${list:+, }$t (${failed_tests[$t]}x)"
done
echo "lab-loop: $runs runs in a row: $pass passed, $fail failed; failed tests: ${list:-none}; QEMU aborts: $aborts; emulator stalls: $stalls; $(fmt_time $((SECONDS - t_all))) in all"
[ "$fail" = 0 ]
