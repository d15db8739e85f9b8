#!/usr/bin/env bash
# Issue 6's benchmarks, in the lab (not in CI): QEMU and assign-vmm each
# boot the same inner Linux guest, initramfs and assigned e1000e in one lab
# run; prints BENCH lines (boot to init, first ping reply, ping round trip,
# resident memory outside guest RAM, VMM wake-ups per MSI-X interrupt).
# Usage: bench/vmm-compare.sh [BUILD_DIR]        (results: docs/benchmarks.md)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$top/build}" && pwd) exec "$top/examples/assign-vmm/lab/run-compare.sh"
