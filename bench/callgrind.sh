#!/usr/bin/env bash
# Instructions the library itself executes per guest-IOMMU map and unmap,
# on the mock kernel.
# Usage: callgrind.sh PATH/TO/bench-guestmem [OPS [RESIDENT]]
#
# Callgrind collects only inside assign_guestmem_guest_map (then _unmap).
# The mock kernel's entry points (m_ioctl, m_madvise: what the kernel would
# do) are subtracted from the inclusive cost; what is left is libassign (the
# policy and the IOMMU layer under it) with the libc it calls (malloc,
# pthread mutex, memmove, the madvise wrapper). The IOMMU layer's share is
# the inclusive cost of its map or unmap entry point the policy calls (the
# costliest one that appears), less the mock kernel.
set -eu
bin=$1 ops=${2:-2000} resident=${3:-1000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

incl() { # ANNOTATION FUNCTION -> inclusive Ir of FUNCTION (0 if absent)
	local v
	v=$(grep -E "[:]$2 \[" "$1" | head -n 1 | awk '{gsub(",", "", $1); print $1}')
	echo "${v:-0}"
}

for fn in assign_guestmem_guest_map assign_guestmem_guest_unmap; do
	out=$tmp/$fn.out
	valgrind --tool=callgrind --callgrind-out-file="$out" \
		--toggle-collect="$fn" "$bin" --mock --ops "$ops" \
		--resident "$resident" guest-loop >/dev/null 2>"$tmp/vg.log" || {
		cat "$tmp/vg.log" >&2
		exit 1
	}
	callgrind_annotate --inclusive=yes --threshold=100 "$out" \
		>"$tmp/$fn.txt" 2>/dev/null
	calls=$ops
	# The resident mappings are made with guest_map too.
	[ "$fn" = assign_guestmem_guest_map ] && calls=$((ops + resident))
	total=$(incl "$tmp/$fn.txt" "$fn")
	kernel=$(($(incl "$tmp/$fn.txt" m_ioctl) + $(incl "$tmp/$fn.txt" m_madvise)))
	iommu=$(incl "$tmp/$fn.txt" "(assign_iommu_(map|unmap)|iommu_map_prepared|iommu_map_many_prepared|iommu_unmap_mapping)")
	printf '%s: %d calls (%d resident mappings): per call %d Ir in all, %d in the mock kernel, %d in libassign (%d of them in the IOMMU layer below the policy); target < 2000\n' \
		"$fn" "$calls" "$resident" $((total / calls)) $((kernel / calls)) \
		$(((total - kernel) / calls)) $(((iommu - kernel) / calls))
done
