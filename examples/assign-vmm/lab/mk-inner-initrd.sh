#!/bin/bash
# mk-inner-initrd.sh KERNEL_DIR OUT.gz [MODULE...] [HOST:GUEST...]
#
# Builds the initramfs of the guest that assign-vmm boots in the lab:
# busybox-static, the e1000e module of the lab kernel (KERNEL_DIR as printed
# by tests/lab/prepare-kernel.sh) and inner-init.sh as /init. Further
# arguments: module names (virtio_iommu, vfio_pci...), copied with the
# modules they depend on into /lib/modules and listed, dependencies first,
# in /lib/modules/order (NAME FILE); and HOST:GUEST files copied in (static
# programs: the inner guest has no shared libraries).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "mk-inner-initrd: ERROR: $*" >&2; exit 2; }
[ $# -ge 2 ] || die "usage: mk-inner-initrd.sh KERNEL_DIR OUT.gz [MODULE...] [HOST:GUEST...]"
kdir=$1 out=$2
shift 2
[ -x /bin/busybox ] || die "/bin/busybox missing; install busybox-static"
declare -A path=() deps=() done_=()
while IFS=$'\t' read -r name p d; do
	path[$name]=$p
	deps[$name]=$d
done <"$kdir/modules.lab" 2>/dev/null || true
[ -n "${path[e1000e]:-}" ] && [ -f "$kdir/modules/${path[e1000e]}" ] ||
	die "no e1000e module in $kdir (modules.lab); prepare the lab kernel"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,etc,tmp,lib/modules}
cp /bin/busybox "$tmp/bin/busybox"
cp "$kdir/modules/${path[e1000e]}" "$tmp/lib/modules/e1000e.ko"
: >"$tmp/lib/modules/order"
add_module() {
	local name=${1//-/_} d
	[ -z "${done_[$name]:-}" ] || return 0
	[ -n "${path[$name]:-}" ] || die "no module $name in $kdir (built in, or not in this kernel?)"
	done_[$name]=1
	local IFS=,
	for d in ${deps[$name]}; do
		[ -n "$d" ] && add_module "$d"
	done
	cp "$kdir/modules/${path[$name]}" "$tmp/lib/modules/$name.ko"
	echo "$name $name.ko" >>"$tmp/lib/modules/order"
}
for a in "$@"; do
	case "$a" in
	*:*)
		mkdir -p "$tmp$(dirname "${a#*:}")"
		cp "${a%%:*}" "$tmp${a#*:}" ;;
	*) add_module "$a" ;;
	esac
done
cp "$here/inner-init.sh" "$tmp/init"
cp "$here/udhcpc.script" "$tmp/etc/udhcpc.script"
chmod 755 "$tmp/init" "$tmp/etc/udhcpc.script"
(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
