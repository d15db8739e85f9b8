#!/bin/bash
# run-viommu-bench.sh [run-lab.sh options...]
#
# The vIOMMU benchmark (guest-viommu-bench.sh) in one lab run: assign-vmm
# with and without --viommu and QEMU 7.2 with and without virtio-iommu-pci
# boot the same inner guest (backports 6.12) on the lab's e1000e and flood
# a ping. Needs a build tree (BUILD, default ./build) and qemu-system-x86
# on the host. The serial log is kept in LOG (default
# /tmp/assign-vmm-viommu-bench.log); the BENCH-VIOMMU lines are printed.
# FLOOD (packets) and VIOMMU_BENCH_ROUNDS are handed to the guest.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${BUILD:-$top/build}
die() { echo "run-viommu-bench: ERROR: $*" >&2; exit 2; }
vmm=$build/examples/assign-vmm/assign-vmm
[ -x "$vmm" ] || die "$vmm not built; run: meson setup build && ninja -C build"
qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found; install qemu-system-x86"
kdir=$("$top/tests/lab/prepare-kernel.sh" backports | tail -n1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/mk-inner-initrd.sh" "$kdir" "$work/inner.gz" virtio_iommu
python3 "$here/extract-vmlinux.py" "$kdir/vmlinuz" "$work/vmlinux" ||
	die "cannot extract the vmlinux of $kdir/vmlinuz"
strip -s "$work/vmlinux" 2>/dev/null || true
{
	echo "FLOOD=${FLOOD:-400}"
	echo "VIOMMU_BENCH_ROUNDS=${VIOMMU_BENCH_ROUNDS:-2}"
} >"$work/bench.env"
log=${LOG:-/tmp/assign-vmm-viommu-bench.log}
set +e
# Two lab vCPUs, as for the numbers in docs/benchmarks.md (the tests run
# on one: tests/lab/README.md); a --smp given here overrides it.
"$top/tests/lab/run-lab.sh" --smp 2 --add "$vmm" --add "$qemu" \
	--add /usr/share/qemu:/lab/share/qemu --add /usr/share/seabios:/lab/share/seabios \
	--add "$kdir/vmlinuz:/lab/inner/vmlinuz" --add "$work/vmlinux:/lab/inner/vmlinux" \
	--add "$work/inner.gz:/lab/inner/initrd.gz" --add "$work/bench.env:/lab/bench.env" \
	--script "$here/guest-viommu-bench.sh" --timeout 3000 --log "$log" "$@"
rc=$?
grep -a "^BENCH-VIOMMU" "$log" || true
exit $rc
