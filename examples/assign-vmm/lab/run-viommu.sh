#!/bin/bash
# run-viommu.sh [run-lab.sh options...]
#
# assign-vmm --viommu in the lab (guest-viommu.sh): needs a build tree
# (BUILD, default ./build) with examples/assign-vmm/{assign-vmm,
# viommu-nested,viommu-badreq}. The inner guest is Debian's backports 6.12
# kernel (virtio_iommu is a module there; Debian 12's 6.1 has none),
# booted as the vmlinux inside its bzImage, with an initramfs of its
# virtio_iommu, e1000e, nvme and vfio modules and the two test programs. The lab
# guest's kernel is run-lab.sh's choice: debian (the default: type1) or
# --kernel own (iommufd). Exit 0 when all passed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${BUILD:-$top/build}
die() { echo "run-viommu: ERROR: $*" >&2; exit 2; }
bin=$build/examples/assign-vmm
for p in assign-vmm viommu-nested viommu-badreq; do
	[ -x "$bin/$p" ] || die "$bin/$p not built; run: meson setup build && ninja -C build"
done
kdir=$("$top/tests/lab/prepare-kernel.sh" backports | tail -n1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/mk-inner-initrd.sh" "$kdir" "$work/inner.gz" virtio_iommu \
	irqbypass vfio vfio_iommu_type1 vfio_pci_core vfio_pci nvme \
	"$bin/viommu-nested:/bin/viommu-nested" \
	"$bin/viommu-badreq:/bin/viommu-badreq"
python3 "$here/extract-vmlinux.py" "$kdir/vmlinuz" "$work/vmlinux" ||
	die "cannot extract the vmlinux of $kdir/vmlinuz"
strip -s "$work/vmlinux" 2>/dev/null || true
# VIOMMU_RUNS: which of guest-viommu.sh's runs (default: all)
runs=()
if [ -n "${VIOMMU_RUNS:-}" ]; then
	echo "$VIOMMU_RUNS" >"$work/runs"
	runs=(--add "$work/runs:/lab/viommu-runs")
fi
exec "$top/tests/lab/run-lab.sh" --add "$bin/assign-vmm" \
	"${runs[@]}" \
	--add "$work/vmlinux:/lab/inner/vmlinuz" \
	--add "$work/inner.gz:/lab/inner/initrd.gz" \
	--script "$here/guest-viommu.sh" "$@"
