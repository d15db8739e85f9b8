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
	# (a check that lets a bad image through would boot it: bounded)
	out=$(timeout -k 5 30 "$vmm" "$@" </dev/null 2>&1); rc=$?
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

# printf escapes for the little-endian bytes of an integer: le BYTES VALUE
# (shell arithmetic is 64-bit two's complement: -48 is 0xff...d0)
le() {
	n=$1 v=$2 out=
	while [ "$n" -gt 0 ]; do
		out="$out\\$(printf %o $((v & 255)))"
		v=$((v >> 8)) n=$((n - 1))
	done
	printf %s "$out"
}
put() { printf "$2" | dd of="$1" bs=1 seek=$(($3)) conv=notrunc 2>/dev/null; }

# a fake bzImage header: bytes at offsets, rest zero
# fake FILE SIZE SETUP_SECTS VERSION_LO VERSION_HI XLOADFLAGS [SYSSIZE]
# (SYSSIZE, in 16-byte units, defaults to what follows the setup sectors)
fake() {
	head -c "$2" /dev/zero >"$1"
	sys=${7-$((($2 - ($3 + 1) * 512) / 16))}
	put "$1" "\\$(printf %o "$3")" 0x1f1
	put "$1" "$(le 4 "$sys")" 0x1f4
	put "$1" '\125\252' 0x1fe                 # boot flag 0xaa55
	put "$1" '\353\152' 0x200                 # jmp over the header
	put "$1" 'HdrS' 0x202
	put "$1" "\\$(printf %o "$4")\\$(printf %o "$5")" 0x206
	put "$1" "\\$(printf %o "$6")" 0x236
}

# a fake x86-64 vmlinux: ELF header and one PT_LOAD program header, 1 MiB
# of file. elf FILE PHOFF PHNUM P_OFFSET P_FILESZ P_PADDR ENTRY
elf() {
	head -c 1048576 /dev/zero >"$1"
	put "$1" '\177ELF\002\001\001' 0                  # 64-bit, LE
	put "$1" "$(le 2 2)$(le 2 62)$(le 4 1)$(le 8 "$7")" 16 # EXEC x86-64
	put "$1" "$(le 8 "$2")" 32                       # e_phoff
	put "$1" "$(le 2 64)$(le 2 56)$(le 2 "$3")" 52   # sizes, e_phnum
	put "$1" "$(le 4 1)$(le 4 7)$(le 8 "$4")" 64     # PT_LOAD, p_offset
	put "$1" "$(le 8 "$6")$(le 8 "$6")" 80           # p_vaddr, p_paddr
	put "$1" "$(le 8 "$5")$(le 8 "$5")" 96           # p_filesz, p_memsz
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
check device-twice 2 "--device 00:02.0 is given twice (also as 0000:00:02.0); give each device once" --kernel x --device 0000:00:02.0 --device 00:02.0
check device-twice-same 2 "--device 0000:00:03.0 is given twice" --kernel x --device 0000:00:03.0 --device 0000:00:04.0 --device 0000:00:03.0
check dma-map-ok 1 "cannot read kernel /nonexistent" --kernel /nonexistent --dma-map on-demand
check viommu-no-device 2 "--viommu puts assigned devices behind a virtio-iommu; give at least one --device" --kernel x --viommu
check viommu-ok 1 "cannot read kernel /nonexistent" --kernel /nonexistent --viommu --device 0000:00:03.0
check missing-kernel 1 "cannot read kernel /nonexistent" --kernel /nonexistent
check handoff-empty 2 "--handoff needs the helper's socket path" --kernel x --handoff ""
check viommu-handoff 2 "--viommu needs a host IOMMU object per device, --handoff hands over one for all; use one of them" --kernel x --viommu --handoff /tmp/s --device 0000:00:03.0
check dir-kernel 1 "cannot read kernel" --kernel "$tmp"
: >"$tmp/empty"
check empty-kernel 1 "empty or not a regular file" --kernel "$tmp/empty"
head -c 4096 /dev/urandom >"$tmp/junk"
check junk-kernel 1 "not a Linux kernel" --kernel "$tmp/junk"
head -c 300 /dev/urandom >"$tmp/small"
check small-kernel 1 "too small" --kernel "$tmp/small"
check elf-program 1 "not an x86-64 vmlinux" --kernel /bin/sh
fake "$tmp/old" 4096 4 2 2 1 1
check old-protocol 1 "boot protocol 2.02" --kernel "$tmp/old"
fake "$tmp/no64" 4096 4 15 2 0 1
check no-64bit-entry 1 "without a 64-bit" --kernel "$tmp/no64"
fake "$tmp/trunc" 4096 200 15 2 1 1
check truncated 1 "truncated" --kernel "$tmp/trunc"
# the header intact, the kernel after it cut short: says so before booting
fake "$tmp/cut" 8192 4 15 2 1 4096
check truncated-payload 1 "is truncated: its boot header says 4 setup sectors and 65536 bytes" --kernel "$tmp/cut"
fake "$tmp/nosize" 8192 4 15 2 1 0
check no-syssize 1 "gives no kernel size" --kernel "$tmp/nosize"
fake "$tmp/payload" 8192 4 15 2 1
put "$tmp/payload" "$(le 4 4096)$(le 4 4096)" 0x248
check payload-outside 1 "puts the compressed kernel" --kernel "$tmp/payload"
# ELF offsets whose sums wrap past 2^64 (they used to pass the checks and
# read outside the mapped file)
elf "$tmp/phoff" -48 1 4096 4096 0x1000000 0x1000000
check elf-phoff-wraps 1 "program headers (1 at offset 0xffffffffffffffd0) lie beyond" --kernel "$tmp/phoff"
elf "$tmp/poff" 64 1 -16 32 0x1000000 0x1000000
check elf-segment-wraps 1 "segment 0 runs past the end of the file" --kernel "$tmp/poff"
elf "$tmp/pbig" 64 1 4096 -4096 0x1000000 0x1000000
check elf-segment-huge 1 "segment 0 runs past the end of the file" --kernel "$tmp/pbig"
elf "$tmp/paddr" 64 1 4096 4096 -4096 0x1000000
check elf-paddr-wraps 1 "does not fit in the guest's low RAM" --kernel "$tmp/paddr"
elf "$tmp/entry" 64 1 4096 4096 0x1000000 0x2000000
check elf-entry-outside 1 "entry point 0x2000000 lies outside" --kernel "$tmp/entry"
elf "$tmp/vmlinux" 64 1 4096 4096 0x1000000 0x1000000
check elf-ok-bad-initrd 1 "cannot read initramfs /nonexistent" --kernel "$tmp/vmlinux" --initrd /nonexistent
fake "$tmp/ok" 8192 4 15 2 1
check missing-initrd 1 "cannot read initramfs /nonexistent" --kernel "$tmp/ok" --initrd /nonexistent
check long-cmdline 1 "shorten --append" --kernel "$tmp/ok" --append "$(head -c 300 /dev/zero | tr '\0' x)"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
