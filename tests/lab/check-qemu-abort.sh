#!/bin/bash
# check-qemu-abort.sh LAB-VFIO [run-lab.sh options...]
#
# A test of run-lab.sh itself: a lab run whose QEMU aborts must fail and
# say so by name ("QEMU ABORTED", with QEMU's own message), not pass for
# a guest that merely stopped talking, and not be retried. The guest runs
# `lab-vfio --abort-qemu`, which makes QEMU 7.2's edu call hw_error() (a
# DMA outside its buffer), a crash as sure as an emulator assertion.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { echo "usage: check-qemu-abort.sh LAB-VFIO [run-lab.sh options]" >&2; exit 2; }
lab_vfio=$1
shift
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$here/run-lab.sh" --add "$lab_vfio" --exec 'lab-vfio --abort-qemu' "$@" 2>"$err"
rc=$?
cat "$err"
named=$(grep -c '^run-lab: QEMU ABORTED (exit 134, killed by SIGABRT): qemu: hardware error: EDU: DMA range' "$err")
retried=$(grep -c 'booting once more' "$err")
if [ "$rc" = 0 ]; then
	echo "check-qemu-abort: FAIL: run-lab.sh passed a run whose QEMU aborted" >&2
	exit 1
elif [ "$named" != 1 ]; then
	echo "check-qemu-abort: FAIL: run-lab.sh failed (exit $rc) without naming the QEMU abort and its message" >&2
	exit 1
elif [ "$retried" != 0 ]; then
	echo "check-qemu-abort: FAIL: run-lab.sh retried after the abort" >&2
	exit 1
fi
echo "check-qemu-abort: ok: run-lab.sh failed (exit $rc) and named the abort with QEMU's message"
