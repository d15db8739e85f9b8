#!/bin/bash
# run-compare.sh [run-lab.sh options...]
#
# In one lab run: QEMU, assign-vmm on the bzImage and assign-vmm on the
# extracted vmlinux each boot the same inner guest on the lab's e1000e
# (guest-compare.sh). Prints the BENCH lines. Needs a build tree (BUILD,
# default ./build) and qemu-system-x86 on the host. The serial log is kept
# in LOG (default /tmp/assign-vmm-compare.log).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${BUILD:-$top/build}
die() { echo "run-compare: ERROR: $*" >&2; exit 2; }
vmm=$build/examples/assign-vmm/assign-vmm
[ -x "$vmm" ] || die "$vmm not built; run: meson setup build && ninja -C build"
qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found; install qemu-system-x86"
kdir=$("$top/tests/lab/prepare-kernel.sh" debian | tail -n1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/mk-inner-initrd.sh" "$kdir" "$work/inner.gz"
extra=()
if python3 "$here/extract-vmlinux.py" "$kdir/vmlinuz" "$work/vmlinux"; then
	strip -s "$work/vmlinux" 2>/dev/null || true
	extra=(--add "$work/vmlinux:/lab/inner/vmlinux")
fi
log=${LOG:-/tmp/assign-vmm-compare.log}
set +e
# Two lab vCPUs, as for the numbers in docs/benchmarks.md (the tests run
# on one: tests/lab/README.md); a --smp given here overrides it.
"$top/tests/lab/run-lab.sh" --smp 2 --add "$vmm" --add "$qemu" \
	--add /usr/share/qemu:/lab/share/qemu --add /usr/share/seabios:/lab/share/seabios \
	--add "$kdir/vmlinuz:/lab/inner/vmlinuz" \
	--add "$work/inner.gz:/lab/inner/initrd.gz" "${extra[@]}" \
	--script "$here/guest-compare.sh" --log "$log" "$@"
rc=$?
grep -a "^BENCH" "$log" || true
exit $rc
