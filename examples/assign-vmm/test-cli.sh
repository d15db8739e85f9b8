#!/bin/sh
# test-cli.sh ASSIGN_VMM: command-line and input checks that need neither
# KVM nor a device (inputs are checked before /dev/kvm is opened). Each
# bad input must exit non-zero with one line naming the cause.
vmm=${1:?usage: test-cli.sh PATH-TO-assign-vmm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

# check NAME EXPECTED-RC EXPECTED-TEXT ARGS...
check() {
	name=$1 want=$2 text=$3; shift 3
	out=$("$vmm" "$@" </dev/null 2>&1); rc=$?
	lines=$(printf '%s\n' "$out" | grep -c .)
	if [ "$rc" != "$want" ]; then
		echo "FAIL $name: exit $rc, wanted $want: $out"; fail=$((fail + 1))
	elif ! printf '%s' "$out" | grep -q -- "$text"; then
		echo "FAIL $name: output lacks '$text': $out"; fail=$((fail + 1))
	elif [ "$want" != 0 ] && [ "$lines" != 1 ] && [ "$want" != 2 -o "$lines" -gt 2 ]; then
		echo "FAIL $name: $lines lines: $out"; fail=$((fail + 1))
	else
		echo "ok   $name"; pass=$((pass + 1))
	fi
}

# a fake bzImage header: bytes at offsets, rest zero
# fake FILE SIZE SETUP_SECTS VERSION_LO VERSION_HI XLOADFLAGS
fake() {
	head -c "$2" /dev/zero >"$1"
	put() { printf "$2" | dd of="$1" bs=1 seek=$(($3)) conv=notrunc 2>/dev/null; }
	put "$1" "\\$(printf %o "$3")" 0x1f1
	put "$1" '\125\252' 0x1fe                 # boot flag 0xaa55
	put "$1" '\353\152' 0x200                 # jmp over the header
	put "$1" 'HdrS' 0x202
	put "$1" "\\$(printf %o "$4")\\$(printf %o "$5")" 0x206
	put "$1" "\\$(printf %o "$6")" 0x236
}

check help 0 "Usage: assign-vmm" --help
check no-kernel 2 "no kernel given"
check bad-option 2 "Try 'assign-vmm --help'" --bogus
check extra-arg 2 "unexpected argument" --kernel x y
check missing-arg 2 "option --kernel needs an argument" --kernel
check mem-newline 2 "--mem 1?G: not a size" --kernel x --mem "$(printf '1\nG')"
check mem-junk 2 "--mem abc: not a size" --kernel x --mem abc
check mem-small 2 "from 64M to 1T" --kernel x --mem 10M
check mem-odd 2 "whole number of MiB" --kernel x --mem 100000K
check cpus-zero 2 "from 1 to" --kernel x --cpus 0
check cpus-many 2 "from 1 to" --kernel x --cpus 65
check dma-map-bad 2 "--dma-map sometimes: give background, on-demand or before-boot" --kernel x --dma-map sometimes
check dma-map-ok 1 "cannot read kernel /nonexistent" --kernel /nonexistent --dma-map on-demand
check viommu-no-device 2 "--viommu puts assigned devices behind a virtio-iommu; give at least one --device" --kernel x --viommu
check viommu-ok 1 "cannot read kernel /nonexistent" --kernel /nonexistent --viommu --device 0000:00:03.0
check missing-kernel 1 "cannot read kernel /nonexistent" --kernel /nonexistent
check dir-kernel 1 "cannot read kernel" --kernel "$tmp"
: >"$tmp/empty"
check empty-kernel 1 "empty or not a regular file" --kernel "$tmp/empty"
head -c 4096 /dev/urandom >"$tmp/junk"
check junk-kernel 1 "not a Linux kernel" --kernel "$tmp/junk"
head -c 300 /dev/urandom >"$tmp/small"
check small-kernel 1 "too small" --kernel "$tmp/small"
check elf-program 1 "not an x86-64 vmlinux" --kernel /bin/sh
fake "$tmp/old" 4096 4 2 2 1
check old-protocol 1 "boot protocol 2.02" --kernel "$tmp/old"
fake "$tmp/no64" 4096 4 15 2 0
check no-64bit-entry 1 "without a 64-bit" --kernel "$tmp/no64"
fake "$tmp/trunc" 4096 200 15 2 1
check truncated 1 "truncated" --kernel "$tmp/trunc"
fake "$tmp/ok" 8192 4 15 2 1
check missing-initrd 1 "cannot read initramfs /nonexistent" --kernel "$tmp/ok" --initrd /nonexistent
check long-cmdline 1 "shorten --append" --kernel "$tmp/ok" --append "$(head -c 300 /dev/zero | tr '\0' x)"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
