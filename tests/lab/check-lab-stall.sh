#!/bin/bash
# check-lab-stall.sh [run-lab.sh options...]
#
# A test of run-lab.sh itself: a lab guest whose timer interrupts stop
# (what QEMU 7.2's TCG has done now and then, tests/lab/README.md) must be
# found while it runs, named on stderr with its vCPU and local APIC state,
# and woken, and the run must go on to its result. The stall is made by
# stopping the vCPU through QEMU's monitor (LIBASSIGN_LAB_TEST_STOP): no
# timer interrupt is raised while it is stopped, and of run-lab.sh's ways
# to end a stall, the vCPU kick (stop/cont) is the one that ends it.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
LIBASSIGN_LAB_TEST_STOP=5 "$here/run-lab.sh" \
	--exec 'sleep 40; echo LAB-RESULT stall-watch PASS after the stop' "$@" >"$out" 2>&1
rc=$?
cat "$out"
fail() {
	echo "check-lab-stall: FAIL: $*" >&2
	exit 1
}
[ "$rc" = 0 ] || fail "run-lab.sh failed (exit $rc) on a run whose stall it should have ended"
line=$(grep -m1 '^run-lab: EMULATOR STALL 1 at ' "$out") || fail "no 'run-lab: EMULATOR STALL 1' line"
grep -q 'no timer interrupt for [0-9]*s;' <<<"$line" || fail "the stall line does not say how long: $line"
grep -q 'RIP=[0-9a-f]* ' <<<"$line" || fail "the stall line has no vCPU registers: $line"
grep -q 'IRR ' <<<"$line" || fail "the stall line has no local APIC state: $line"
grep -q 'ended by a vCPU kick' <<<"$line" || fail "the stall was not ended by the vCPU kick: $line"
grep -q '^run-lab: 1 EMULATOR STALL(S) in this run' "$out" || fail "no stall count in the summary"
grep -q '^lab: 1 passed, 0 failed' "$out" || fail "the guest did not go on to its result"
echo "check-lab-stall: ok: run-lab.sh found the stopped timer, woke the guest and said so"
