#!/bin/bash
# run-chain.sh [run-lab.sh options...]
#
# The whole chain in the lab: builds nothing, expects a build tree
# (BUILD, default ./build) with examples/assign-vmm/assign-vmm. Prepares
# the Debian lab kernel, makes the inner initramfs, boots the lab
# (tests/lab/run-lab.sh) and runs guest-chain.sh in it: assign-vmm boots
# Linux on the lab's e1000e, DHCP, ping 10.0.2.2. Exit 0 when all passed.
# ASSIGN_VMM_CHAIN, _BADINPUT, _VARIANTS=0 leave those scripts out; more
# (--script, --kernel own, --add) go to run-lab.sh with the arguments.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${BUILD:-$top/build}
die() { echo "run-chain: ERROR: $*" >&2; exit 2; }
vmm=$build/examples/assign-vmm/assign-vmm
[ -x "$vmm" ] || die "$vmm not built; run: meson setup build && ninja -C build"
kdir=$("$top/tests/lab/prepare-kernel.sh" debian | tail -n1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/mk-inner-initrd.sh" "$kdir" "$work/inner.gz"
# The inner kernel: the vmlinux inside the bzImage when it can be had (the
# VMM then skips the decompressor), else the bzImage itself.
kernel=$kdir/vmlinuz
if [ "${ASSIGN_VMM_BZIMAGE:-0}" != 1 ] &&
	python3 "$here/extract-vmlinux.py" "$kdir/vmlinuz" "$work/vmlinux" 2>/dev/null; then
	strip -s "$work/vmlinux" 2>/dev/null || true
	kernel=$work/vmlinux
fi
scripts=()
[ "${ASSIGN_VMM_CHAIN:-1}" = 1 ] && scripts+=(--script "$here/guest-chain.sh")
[ "${ASSIGN_VMM_BADINPUT:-1}" = 1 ] && scripts+=(--script "$here/guest-badinput.sh")
[ "${ASSIGN_VMM_VARIANTS:-1}" = 1 ] && scripts+=(--script "$here/guest-variants.sh")
exec "$top/tests/lab/run-lab.sh" --add "$vmm" \
	--add "$kernel:/lab/inner/vmlinuz" \
	--add "$work/inner.gz:/lab/inner/initrd.gz" \
	"${scripts[@]}" "$@"
