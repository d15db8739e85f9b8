#!/bin/bash
# run-chain.sh [run-lab.sh options...]
#
# The whole chain in the lab: builds nothing, expects a build tree
# (BUILD, default ./build) with examples/assign-vmm/assign-vmm. Prepares
# the Debian lab kernel, makes the inner initramfs, boots the lab
# (tests/lab/run-lab.sh) and runs guest-chain.sh in it: assign-vmm boots
# Linux on the lab's e1000e, DHCP, ping 10.0.2.2; then guest-badinput.sh,
# guest-variants.sh and guest-request.sh (the host takes the NIC back).
# Exit 0 when all passed. ASSIGN_VMM_CHAIN, _BADINPUT, _VARIANTS, _REQUEST=0
# leave those scripts out; more (--script, --kernel own, --add) go to
# run-lab.sh with the arguments.
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
# Bad kernels for guest-badinput.sh: the lab's bzImage cut short after
# 1 MiB (header intact), and a well-formed bzImage whose 64-bit entry is
# ud2 with no IDT: it triple-faults before printing anything.
head -c 1048576 "$kdir/vmlinuz" >"$work/truncated"
python3 - "$work/triplefault" <<'PY'
import struct, sys
setup = bytearray(5 * 512)                  # 4 setup sectors + boot sector
setup[0x1f1] = 4
struct.pack_into("<I", setup, 0x1f4, 8192 // 16)         # syssize
struct.pack_into("<H", setup, 0x1fe, 0xAA55)
setup[0x200:0x202] = b"\xeb\x66"
setup[0x202:0x206] = b"HdrS"
struct.pack_into("<H", setup, 0x206, 0x020f)             # protocol 2.15
setup[0x211] = 0x01                                      # LOADED_HIGH
struct.pack_into("<I", setup, 0x22c, 0x7fffffff)         # initrd_addr_max
struct.pack_into("<H", setup, 0x236, 0x1)                # 64-bit entry
struct.pack_into("<I", setup, 0x238, 2047)               # cmdline_size
struct.pack_into("<II", setup, 0x248, 0x400, 0x100)      # payload
struct.pack_into("<I", setup, 0x260, 0x100000)           # init_size
pm = bytearray(8192)
pm[0x200:0x202] = b"\x0f\x0b"                            # ud2
open(sys.argv[1], "wb").write(bytes(setup) + bytes(pm))
PY
scripts=()
[ "${ASSIGN_VMM_CHAIN:-1}" = 1 ] && scripts+=(--script "$here/guest-chain.sh")
[ "${ASSIGN_VMM_BADINPUT:-1}" = 1 ] && scripts+=(--script "$here/guest-badinput.sh")
if [ "${ASSIGN_VMM_VARIANTS:-1}" = 1 ]; then
	# it traces the VMM's memory calls
	strace=$(command -v strace) ||
		die "strace not found; install it: scripts/deps.sh (or apt-get install strace)"
	# and one inner guest has 3200 MiB (RAM above 4 GiB), pinned whole
	scripts+=(--mem 5G --add "$strace" --script "$here/guest-variants.sh")
fi
# last: it unbinds the NIC (and binds it back)
[ "${ASSIGN_VMM_REQUEST:-1}" = 1 ] && scripts+=(--script "$here/guest-request.sh")
exec "$top/tests/lab/run-lab.sh" --add "$vmm" \
	--add "$kernel:/lab/inner/vmlinuz" \
	--add "$work/inner.gz:/lab/inner/initrd.gz" \
	--add "$work/truncated:/lab/inner/truncated" \
	--add "$work/triplefault:/lab/inner/triplefault" \
	"${scripts[@]}" "$@"
