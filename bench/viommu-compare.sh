#!/usr/bin/env bash
# Issue 12's benchmarks, in the lab (not in CI): the cost of assign-vmm's
# virtio-iommu on the assigned e1000e (lazy and strict against map-all, and
# against QEMU 7.2's virtio-iommu-pci with vfio-pci), boot to init, and the
# host map/unmap calls per guest request, in one lab run; prints
# BENCH-VIOMMU lines. Run it alone on the machine's lab:
#   flock /tmp/libassign-lab.lock bench/viommu-compare.sh [BUILD_DIR]
# Results: docs/benchmarks.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$top/build}" && pwd) exec "$top/examples/assign-vmm/lab/run-viommu-bench.sh"
