#!/bin/bash
# check-lab-timeout.sh [run-lab.sh options...]
#
# A test of run-lab.sh itself: a guest that hangs must fail the run by
# timeout, and what run-lab.sh writes to stderr (all that a CI log may
# keep) must show why: the console lines before the hang, the LAB-DIAG
# lines, the vCPU registers and the guest kernel's blocked tasks and
# backtraces (asked for by magic SysRq keys), and the summary line. The
# guest prints a LAB-DIAG line, then sleeps past the timeout given in the
# options (pass a short one).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$here/run-lab.sh" --exec 'echo LAB-DIAG check-lab-timeout: about to hang; sleep 3600' "$@" >"$out" 2>&1
rc=$?
cat "$out"
fail() {
	echo "check-lab-timeout: FAIL: $*" >&2
	exit 1
}
[ "$rc" != 0 ] || fail "run-lab.sh passed a run whose guest hung"
grep -q '^run-lab: TIMEOUT: ' "$out" || fail "no 'run-lab: TIMEOUT' line (exit $rc)"
grep -q '^run-lab: console: LAB-INIT ' "$out" || fail "no console lines from before the hang"
grep -q '^run-lab: diag: check-lab-timeout: about to hang' "$out" || fail "the guest's LAB-DIAG line was not repeated"
grep -q '^run-lab: stall: RIP=' "$out" || fail "no vCPU registers from QEMU's monitor"
grep -q '^run-lab: stall: sysrq: Show Blocked State' "$out" || fail "the guest kernel was not asked for its blocked tasks"
grep -q '^lab: 0 passed, 0 failed' "$out" || fail "no summary line"
echo "check-lab-timeout: ok: run-lab.sh failed (exit $rc) on the hang and said what the console showed"
