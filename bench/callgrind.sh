#!/usr/bin/env bash
# Instructions the library itself executes per guest-IOMMU map and unmap,
# on the mock kernel. Usage: callgrind.sh PATH/TO/bench-guestmem [OPS [RESIDENT]]
#
# Callgrind collects only inside assign_guestmem_guest_map (then _unmap);
# the mock kernel's entry points (m_ioctl, m_madvise: the kernel's share)
# are subtracted from the inclusive cost. What is left is libassign (policy
# + IOMMU layer) plus the libc it calls (malloc, pthread mutex, memmove).
set -euo pipefail
bin=$1 ops=${2:-2000} resident=${3:-1000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

incl() { # FILE FUNCTION -> inclusive Ir of FUNCTION (0 if absent)
	callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
		awk -v f="$2" '{ for (i = 2; i <= NF; i++) if ($i ~ ("^" f "([ ]|$|\\[)") || $i ~ (":" f "$") || $i ~ (":" f " ")) { gsub(",", "", $1); print $1; exit } }' |
		head -1 | grep . || echo 0
}

for fn in assign_guestmem_guest_map assign_guestmem_guest_unmap; do
	out=$tmp/$fn.out
	valgrind --tool=callgrind --callgrind-out-file="$out" \
		--toggle-collect="$fn" "$bin" --mock --ops "$ops" \
		--resident "$resident" guest-loop >/dev/null 2>"$tmp/vg.log"
	total=$(incl "$out" "$fn")
	ioctl=$(incl "$out" m_ioctl)
	madv=$(incl "$out" m_madvise)
	lib=$((total - ioctl - madv))
	printf '%-28s ops %d resident %d: %d Ir/call total, %d in the mock kernel, %d in the library (target < 2000)\n' \
		"$fn" "$ops" "$resident" $((total / ops)) $(((ioctl + madv) / ops)) $((lib / ops))
done
