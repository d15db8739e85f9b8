#!/usr/bin/env bash
# The main job: boot a Linux guest with an assigned NIC.
#
#   scripts/demo.sh                 in the lab: a QEMU guest (TCG, emulated
#                                   Intel IOMMU, e1000e) runs assign-vmm, which
#                                   boots Linux on the e1000e through libassign;
#                                   that guest's stock e1000e driver takes a DHCP
#                                   lease and pings 10.0.2.2
#   scripts/demo.sh ADDRESS         the same VMM on this host with a real device
#                                   bound to vfio-pci (needs /dev/kvm, an IOMMU
#                                   and, for the stock initramfs, an e1000e-class
#                                   NIC; DEMO_KERNEL / DEMO_INITRD override the
#                                   guest kernel and initramfs)
#
# Installs what it needs (Debian 12, as root), builds, fetches a guest kernel
# with apt-get download (no install), and prints one success line with the
# timings. Exit code 0 on success.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
die() { echo "demo: ERROR: $*" >&2; exit 1; }
case "${1:-}" in
-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
addr=${1:-}
t_start=$(date +%s.%N)

scripts/deps.sh
build=${BUILDDIR:-build-demo}
if [ -d "$build" ]; then
	meson setup --reconfigure "$build" >/dev/null
else
	meson setup "$build" >/dev/null
fi
ninja -C "$build" examples/assign-vmm/assign-vmm tools/assign-host >/dev/null
vmm=$build/examples/assign-vmm/assign-vmm

if [ -z "$addr" ]; then
	log=$build/demo-lab.log
	echo "demo: booting the lab (QEMU, TCG); its guest runs assign-vmm on an assigned e1000e"
	set +e
	ASSIGN_VMM_BADINPUT=0 ASSIGN_VMM_VARIANTS=0 BUILD=$here/$build \
		examples/assign-vmm/lab/run-chain.sh --timeout 900 --quiet --log "$log"
	rc=$?
	set -e
	line=$(grep -a 'ASSIGN-VMM-CHAIN OK' "$log" | tail -n1 | sed 's/^.*ASSIGN-VMM-CHAIN OK: //' | tr -d '\r')
	total=$(echo "$(date +%s.%N) $t_start" | awk '{printf "%.0f", $1 - $2}')
	if [ "$rc" != 0 ] || [ -z "$line" ]; then
		grep -a 'LAB-RESULT' "$log" | grep -a FAIL >&2 || true
		die "the chain did not complete (console log: $log)"
	fi
	echo "demo: OK: Linux booted by assign-vmm drove the assigned e1000e, got a DHCP lease and pinged 10.0.2.2 ($line; whole demo ${total}s)"
	exit 0
fi

# A real device on this host.
[ -e /dev/kvm ] || die "no /dev/kvm on this host: load kvm-intel or kvm-amd"
"$build/tools/assign-host" explain "$addr" ||
	die "$addr cannot be assigned as it is: the lines above say why and what to run ($build/tools/assign-host)"
kdir=$(tests/lab/prepare-kernel.sh debian | tail -n1)
kernel=${DEMO_KERNEL:-$kdir/vmlinuz}
initrd=${DEMO_INITRD:-}
if [ -z "$initrd" ]; then
	initrd=$build/demo-inner.gz
	examples/assign-vmm/lab/mk-inner-initrd.sh "$kdir" "$initrd"
fi
echo "demo: assign-vmm boots $kernel with $addr assigned"
exec "$vmm" --kernel "$kernel" --initrd "$initrd" --mem 512M \
	--append "console=ttyS0 acpi=noirq panic=-1 quiet pci=noearly nettest" \
	--device "$addr"
