#!/usr/bin/env bash
# The soak loop of issue 7, in the lab (not in CI): open, map, DMA,
# interrupt, reset and close for SECONDS (default 600) on the real vfio-pci
# driver, with open fds, pinned pages and kernel DMA entries compared at
# start and end (bench/lab-soak.c).
# Usage: bench/lab-soak.sh [BUILD_DIR] [SECONDS] [type1|iommufd]
#   iommufd needs the lab's own kernel (chosen automatically).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
secs=${2:-600}
backend=${3:-type1}
kernel=debian
[ "$backend" = iommufd ] && kernel=own
exe=$build/bench/lab-soak
[ -x "$exe" ] || { echo "lab-soak.sh: $exe not built; run ninja -C $build" >&2; exit 2; }
exec "$top/tests/lab/run-lab.sh" --kernel "$kernel" --timeout $((secs + 300)) \
	--add "$exe" --exec "lab-soak --seconds $secs --backend $backend"
