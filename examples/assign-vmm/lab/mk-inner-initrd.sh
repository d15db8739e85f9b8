#!/bin/bash
# mk-inner-initrd.sh KERNEL_DIR OUT.gz
#
# Builds the initramfs of the guest that assign-vmm boots in the lab:
# busybox-static, the e1000e module of the lab kernel (KERNEL_DIR as printed
# by tests/lab/prepare-kernel.sh) and inner-init.sh as /init.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "mk-inner-initrd: ERROR: $*" >&2; exit 2; }
[ $# -eq 2 ] || die "usage: mk-inner-initrd.sh KERNEL_DIR OUT.gz"
kdir=$1 out=$2
[ -x /bin/busybox ] || die "/bin/busybox missing; install busybox-static"
ko=$(awk -F'\t' '$1 == "e1000e" {print $2}' "$kdir/modules.lab" 2>/dev/null || true)
[ -n "$ko" ] && [ -f "$kdir/modules/$ko" ] ||
	die "no e1000e module in $kdir (modules.lab); prepare the debian lab kernel"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,etc,tmp,lib/modules}
cp /bin/busybox "$tmp/bin/busybox"
cp "$kdir/modules/$ko" "$tmp/lib/modules/e1000e.ko"
cp "$here/inner-init.sh" "$tmp/init"
cp "$here/udhcpc.script" "$tmp/etc/udhcpc.script"
chmod 755 "$tmp/init" "$tmp/etc/udhcpc.script"
(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
