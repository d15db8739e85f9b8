#!/bin/sh
# Lab guest script (tests/lab/run-lab.sh --script): hello-vmm runs its tiny
# guest against the lab's edu device. The edu's ID register (BAR 0 offset 0)
# reads 0x010000ed; its liveness register (offset 4) returns the inverse of
# what was written.
fails=0
result() {
	echo "LAB-RESULT $1 $2 $3"
	[ "$2" != FAIL ] || fails=$((fails + 1))
}
if [ "${LAB_KVM:-0}" != 1 ] || [ -z "${LAB_EDU:-}" ]; then
	result hello-vmm SKIP "needs /dev/kvm and the edu device in the lab guest"
	exit 0
fi
out=$(hello-vmm "$LAB_EDU" 0 0 2>&1); echo "$out"
echo "$out" | grep -q "the guest read 0x010000ed" &&
	result hello-vmm-read PASS "guest read the edu ID register 0x010000ed" ||
	result hello-vmm-read FAIL "guest did not read the edu ID"
out=$(hello-vmm "$LAB_EDU" 0 4 0x12345678 2>&1); echo "$out"
echo "$out" | grep -q "the guest then read 0xedcba987" &&
	result hello-vmm-write PASS "edu liveness register inverted the guest's write" ||
	result hello-vmm-write FAIL "no inverted read-back"
out=$(hello-vmm 0000:00:1f.7 2>&1); rc=$?; echo "$out"
[ $rc != 0 ] && echo "$out" | grep -q "hello-vmm:" &&
	result hello-vmm-bad-address PASS "one-line error for a missing device" ||
	result hello-vmm-bad-address FAIL "no error for a missing device"
[ $fails = 0 ]
