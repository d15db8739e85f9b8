#!/bin/sh
# Lab guest script (own kernel, which builds the mtty sample):
#   sh lab-migrate.sh type1|iommufd
# assign-migrate moves a 2-port mtty's state, bytes left in its serial
# port's FIFO, into another instance, through a memfd and between two
# processes, then between two commands joined by a shell pipe (--role);
# a 1-byte-too-long message and a device that cannot migrate are refused.
backend=$1
fails=0
result() {
	echo "LAB-RESULT $backend-$1 $2 $3"
	[ "$2" != FAIL ] || fails=$((fails + 1))
}
types=/sys/class/mdev_bus/mtty/mdev_supported_types
if [ ! -d $types/mtty-2 ]; then
	result migrate FAIL "no mtty ($types): run with --kernel own"
	exit 1
fi
mk() {
	u=$(cat /proc/sys/kernel/random/uuid)
	echo "$u" >$types/mtty-2/create && echo "$u"
}
A=$(mk) && B=$(mk) || { result migrate FAIL "cannot make mtty-2 instances"; exit 1; }

run() { # name, expected text, a line the source must print, command...
	name=$1 want=$2 line=$3
	shift 3
	out=$("$@" 2>&1); rc=$?
	echo "$out"
	if [ $rc = 0 ] && echo "$out" | grep -q "read \"$want\" from port" &&
		echo "$out" | grep -q "pre-copy round 1" &&
		echo "$out" | grep -q "$line" &&
		echo "$out" | grep -q "device reset"; then
		result "$name" PASS "$(echo "$out" | grep "$line" | head -1)"
	else
		result "$name" FAIL "exit $rc: $(echo "$out" | tail -1)"
	fi
}
run migrate-file "file-mode" "stream complete" assign-migrate \
	--backend "$backend" --mode file --message file-mode "$A" "$B"
# Two processes: the source resets its device only after the destination
# said it runs (the downtime line is printed then).
run migrate-pipe "pipe-mode!" "was stopped for" assign-migrate \
	--backend "$backend" --mode pipe --message 'pipe-mode!' "$B" "$A"
# Two commands, as two VMMs on two hosts would be (no "running" answer
# back here, so the source resets its device once the stream is out).
out=$( (assign-migrate --backend "$backend" --role source --message roles \
	"$A" | assign-migrate --backend "$backend" --role dest --message roles \
	"$B") 2>&1); rc=$?
echo "$out"
if [ $rc = 0 ] && echo "$out" | grep -q 'read "roles" from port'; then
	result migrate-roles PASS "--role source | --role dest"
else
	result migrate-roles FAIL "exit $rc: $(echo "$out" | tail -1)"
fi
# Bad input: a message mtty's FIFO cannot hold; a device without migration.
out=$(assign-migrate --backend "$backend" --message 0123456789abcdefX \
	"$A" "$B" 2>&1); rc=$?
echo "$out"
[ $rc = 2 ] && echo "$out" | grep -q "FIFO holds 16" &&
	result migrate-long-message PASS "$out" ||
	result migrate-long-message FAIL "exit $rc: $out"
out=$(assign-migrate --backend "$backend" --mode file "$LAB_EDU" "$B" 2>&1); rc=$?
echo "$out"
[ $rc = 1 ] && echo "$out" | grep -q "cannot be migrated" &&
	result migrate-no-migration PASS "$(echo "$out" | tail -1)" ||
	result migrate-no-migration FAIL "exit $rc: $out"
echo 1 >/sys/bus/mdev/devices/"$A"/remove
echo 1 >/sys/bus/mdev/devices/"$B"/remove
[ $fails = 0 ]
