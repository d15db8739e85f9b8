#!/bin/sh
# Guest script: host preparation with assign-host against the real kernel.
# Run with the devices left on their host drivers:
#   run-lab.sh --no-bind --add BUILD/tools/assign-host --script host-bind.sh
# Checks: the e1000e goes e1000e -> vfio-pci -> e1000e and its interface
# comes back; the netdev guard refuses an interface that is up with an
# address and takes it when forced; a crashed user's records are restored;
# explain reports the non-viable group behind the bridge (edu + e1000e)
# and agrees with the kernel (explain --probe opens the device); explain
# escapes what sysfs and records hold, a planted record is refused, the
# state directory is checked and nothing in it followed; with an
# SR-IOV PF in the guest (see the SR-IOV section), VFs are made and found.
# Prints LAB-RESULT lines; exit status 0 unless a check failed.

fails=0
result() { # name PASS|FAIL|SKIP detail...
	name=$1; verdict=$2; shift 2
	echo "LAB-RESULT $name $verdict $*"
	[ "$verdict" != FAIL ] || fails=$((fails + 1))
}
AH=assign-host
export ASSIGN_STATE_DIR=/run/libassign

drv() {
	if [ -e "/sys/bus/pci/devices/$1/driver" ]; then
		basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
	else
		echo none
	fi
}
ifname() { ls "/sys/bus/pci/devices/$1/net" 2>/dev/null | head -n 1; }
group() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
oneline() { echo "$*" | tr '\n' ' ' | cut -c1-300; }

command -v $AH >/dev/null || { result host-tool FAIL "assign-host not in PATH"; exit 1; }

bdf=${LAB_E1000E_0:-}
if [ -z "$bdf" ]; then
	result host-setup FAIL "no e1000e found"
	exit 1
fi
g=$(group "$bdf")

# --- list ---------------------------------------------------------------
out=$($AH list 2>&1); rc=$?
if [ $rc = 0 ] && echo "$out" | grep -q "^$bdf .*e1000e"; then
	result host-list PASS "$(echo "$out" | grep -c '^0000:') devices"
else
	result host-list FAIL "rc=$rc $(oneline "$out")"
fi
out=$($AH list --json 2>&1); rc=$?
if [ $rc = 0 ] && echo "$out" | grep -q "\"address\": \"$bdf\".*\"driver\": \"e1000e\".*\"iommu_group\": $g"; then
	result host-list-json PASS "group $g"
else
	result host-list-json FAIL "rc=$rc $(oneline "$out")"
fi

# --- start: e1000e with its interface --------------------------------------
if [ "$(drv "$bdf")" != e1000e ]; then
	result host-start FAIL "$bdf is on $(drv "$bdf"), expected e1000e (run with --no-bind)"
	exit 1
fi
i=0
while [ -z "$(ifname "$bdf")" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
if0=$(ifname "$bdf")
[ -n "$if0" ] && result host-start PASS "$bdf on e1000e as $if0, group $g" ||
	result host-start FAIL "$bdf has no interface"

out=$($AH explain "$bdf" 2>&1); rc=$?
if [ $rc = 3 ] && echo "$out" | grep -q "assign-host bind $bdf"; then
	result host-explain-bound PASS "exit 3, fix named"
else
	result host-explain-bound FAIL "rc=$rc $(oneline "$out")"
fi

# --- netdev guard -----------------------------------------------------------
ip link set "$if0" up
ip addr add 10.0.2.15/24 dev "$if0"
out=$($AH bind "$bdf" 2>&1); rc=$?
if [ $rc = 5 ] && echo "$out" | grep -q "$if0 of $bdf is up with 10.0.2.15/24" &&
	[ "$(drv "$bdf")" = e1000e ] && [ ! -e "$ASSIGN_STATE_DIR/$bdf" ]; then
	result host-guard-refuses PASS "exit 5: $(oneline "$out")"
else
	result host-guard-refuses FAIL "rc=$rc driver $(drv "$bdf") $(oneline "$out")"
fi

t0=$(cut -d' ' -f1 /proc/uptime)
out=$($AH bind --force "$bdf" 2>&1); rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
if [ $rc = 0 ] && [ "$(drv "$bdf")" = vfio-pci ] && [ -c "/dev/vfio/$g" ] &&
	grep -q '^driver=e1000e$' "$ASSIGN_STATE_DIR/$bdf" && [ -z "$(ifname "$bdf")" ]; then
	result host-bind-forced PASS "vfio-pci, /dev/vfio/$g, record kept, $t0 -> $t1 s"
else
	result host-bind-forced FAIL "rc=$rc driver $(drv "$bdf") $(oneline "$out")"
fi

out=$($AH explain "$bdf" --probe 2>&1); rc=$?
if [ $rc = 0 ] && echo "$out" | grep -q "kernel (type1): opened" &&
	echo "$out" | grep -q "verdict matches" && ! echo "$out" | grep -q DIFFERS; then
	result host-explain-ready PASS "exit 0, kernel agrees"
else
	result host-explain-ready FAIL "rc=$rc $(oneline "$out")"
fi

# --- a process holds the group open: restore names it instead of hanging ---
(exec 3<>"/dev/vfio/$g"; echo held >/tmp/held; sleep 600) &
holder=$!
i=0
while [ ! -e /tmp/held ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
out=$($AH restore "$bdf" 2>&1); rc=$?
if [ $rc = 5 ] && echo "$out" | grep -q "is open in process" &&
	[ "$(drv "$bdf")" = vfio-pci ] && [ -e "$ASSIGN_STATE_DIR/$bdf" ]; then
	result host-restore-in-use PASS "exit 5: $(oneline "$out")"
else
	result host-restore-in-use FAIL "rc=$rc driver $(drv "$bdf") $(oneline "$out")"
fi
kill $holder 2>/dev/null
wait $holder 2>/dev/null
rm -f /tmp/held

# --- restore: back to e1000e, the interface reappears -----------------------
out=$($AH restore "$bdf" 2>&1); rc=$?
i=0
while [ -z "$(ifname "$bdf")" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ $rc = 0 ] && [ "$(drv "$bdf")" = e1000e ] && [ -n "$(ifname "$bdf")" ] &&
	[ ! -e "$ASSIGN_STATE_DIR/$bdf" ] && [ ! -e "/dev/vfio/$g" ] &&
	[ "$(cat "/sys/bus/pci/devices/$bdf/driver_override")" = "(null)" ]; then
	result host-restore PASS "e1000e again as $(ifname "$bdf"), override cleared"
else
	result host-restore FAIL "rc=$rc driver $(drv "$bdf") if '$(ifname "$bdf")' $(oneline "$out")"
fi

# --- a user that died: restore with no arguments restores every record ------
bdf1=${LAB_E1000E_1:-}
$AH bind "$bdf" >/dev/null 2>&1
[ -n "$bdf1" ] && $AH bind "$bdf1" >/dev/null 2>&1
out=$($AH restore 2>&1); rc=$?
if [ $rc = 0 ] && [ "$(drv "$bdf")" = e1000e ] &&
	{ [ -z "$bdf1" ] || [ "$(drv "$bdf1")" = e1000e ]; } &&
	[ -z "$(ls "$ASSIGN_STATE_DIR" 2>/dev/null)" ]; then
	result host-restore-all PASS "$(oneline "$out")"
else
	result host-restore-all FAIL "rc=$rc $bdf $(drv "$bdf") ${bdf1:-} $(drv "${bdf1:-none}") $(oneline "$out")"
fi

# --- the non-viable group behind the bridge --------------------------------
nv=${LAB_NV_EDU:-}
nve=${LAB_NV_E1000E:-}
if [ -z "$nv" ] || [ -z "$nve" ]; then
	result host-nonviable SKIP "no edu/e1000e behind the bridge"
else
	ng=$(group "$nv")
	$AH bind "$nv" >/dev/null 2>&1
	out=$($AH explain "$nv" --probe 2>&1); rc=$?
	if [ $rc = 3 ] && echo "$out" | grep -q "group is not viable" &&
		echo "$out" | grep -q "$nve .*bound to $(drv "$nve")" &&
		echo "$out" | grep -q "fix: assign-host bind $nve" &&
		echo "$out" | grep -q "verdict matches" && ! echo "$out" | grep -q DIFFERS; then
		result host-explain-nonviable PASS "group $ng: $nve on $(drv "$nve") named, kernel agrees"
	else
		result host-explain-nonviable FAIL "rc=$rc $(oneline "$out")"
	fi
	echo "$out" | sed 's/^/LAB-INFO /'
	out=$($AH explain "$nv" --json 2>&1); rc=$?
	if [ $rc = 3 ] && echo "$out" | grep -q '"viable": false' &&
		echo "$out" | grep -q "\"address\": \"$nve\", \"driver\": \"e1000e\".*\"blocks\": true, \"action\": \"bind-vfio\"" &&
		echo "$out" | grep -q '"ready": false'; then
		result host-explain-json PASS "exit 3, $nve blocks, action bind-vfio"
	else
		result host-explain-json FAIL "rc=$rc $(oneline "$out")"
	fi

	# Follow the advice: bind the e1000e too; the group becomes viable
	# unless another member (the bridge) still blocks.
	$AH bind "$nve" >/dev/null 2>&1
	out=$($AH explain "$nv" --probe 2>&1); rc=$?
	if echo "$out" | grep -q "verdict matches" && ! echo "$out" | grep -q DIFFERS; then
		result host-explain-fixed PASS "rc=$rc after binding $nve; kernel agrees"
	else
		result host-explain-fixed FAIL "rc=$rc $(oneline "$out")"
	fi
	echo "$out" | sed 's/^/LAB-INFO /'
	$AH restore "$nv" "$nve" >/dev/null 2>&1
	if [ "$(drv "$nve")" = e1000e ] && [ "$(drv "$nv")" = none ]; then
		result host-nonviable-restore PASS "$nve e1000e, $nv no driver"
	else
		result host-nonviable-restore FAIL "$nve $(drv "$nve"), $nv $(drv "$nv")"
	fi

	# The same in one step: bind --group clears the group first.
	out=$($AH bind --group "$nv" 2>&1); rc=$?
	out2=$($AH explain "$nv" --probe 2>&1); rc2=$?
	if [ $rc = 0 ] && [ "$(drv "$nve")" = vfio-pci ] && [ "$(drv "$nv")" = vfio-pci ] &&
		[ $rc2 = 0 ] && echo "$out2" | grep -q "kernel (type1): opened"; then
		result host-bind-group PASS "$nv and $nve on vfio-pci, the kernel opens $nv"
	else
		result host-bind-group FAIL "rc=$rc $(oneline "$out") explain rc=$rc2 $(oneline "$out2")"
	fi
	out=$($AH restore "$nv" 2>&1); rc=$?
	if [ $rc = 0 ] && [ "$(drv "$nve")" = e1000e ] && [ "$(drv "$nv")" = none ] &&
		[ -z "$(ls "$ASSIGN_STATE_DIR" 2>/dev/null)" ]; then
		result host-bind-group-restore PASS "restore $nv: $nve e1000e again, $nv no driver"
	else
		result host-bind-group-restore FAIL "$nve $(drv "$nve"), $nv $(drv "$nv")"
	fi
fi

# --- hostile strings: what explain prints from sysfs and records -----------
# driver_override holds whatever root wrote (here a quote and a terminal
# escape), and a record could be planted with a driver name that closes
# the JSON string: explain must print neither as it is.
esc=$(printf '\033')
e1=${LAB_E1000E_1:-$bdf}
printf 'x"y\033[2J' >"/sys/bus/pci/devices/$e1/driver_override"
txt=$($AH explain "$e1" 2>&1)
js=$($AH explain "$e1" --json 2>&1)
case "$txt$js" in
*"$esc"*) result host-explain-escaped FAIL "a raw ESC reached the output: $(oneline "$txt" | tr -d '\033')" ;;
*)
	if echo "$txt" | grep -qF 'driver_override x"y\x1b[2J' &&
		echo "$js" | grep -qF '"driver_override": "x\"y\u001b[2J"'; then
		result host-explain-escaped PASS "text \\x1b, JSON \\u001b and \\\""
	else
		result host-explain-escaped FAIL "$(oneline "$txt") | $(oneline "$js")"
	fi ;;
esac
echo >"/sys/bus/pci/devices/$e1/driver_override"
mkdir -p "$ASSIGN_STATE_DIR"
printf 'driver=e1000e"}, "ready": true, "x": {"\n' >"$ASSIGN_STATE_DIR/$e1"
js=$($AH explain "$e1" --json 2>&1)
txt=$($AH restore "$e1" 2>&1); rc=$?
if [ "$(echo "$js" | grep -o '"ready"' | wc -l)" = 1 ] &&
	echo "$js" | grep -q '"record": null' && [ $rc != 0 ] &&
	echo "$txt" | grep -q "not a valid record" && [ "$(drv "$e1")" = e1000e ]; then
	result host-record-injection PASS "record ignored by explain, refused by restore: $(oneline "$txt")"
else
	result host-record-injection FAIL "restore rc=$rc $(oneline "$txt") | $(oneline "$js")"
fi
rm -f "$ASSIGN_STATE_DIR/$e1"

# --- the state directory: nobody else's, nothing followed ----------------
edu=${LAB_EDU:-}
mkdir -p /tmp/open-sd && chmod 0777 /tmp/open-sd
out=$(ASSIGN_STATE_DIR=/tmp/open-sd $AH bind "$edu" 2>&1); rc=$?
if [ $rc = 6 ] && echo "$out" | grep -q "writable by others" && [ "$(drv "$edu")" = none ]; then
	result host-state-dir-refused PASS "exit 6: $(oneline "$out")"
else
	result host-state-dir-refused FAIL "rc=$rc driver $(drv "$edu") $(oneline "$out")"
fi
mkdir -p /tmp/sd && chmod 0700 /tmp/sd && rm -f /tmp/victim
ln -sf /tmp/victim /tmp/sd/.lock
out=$(ASSIGN_STATE_DIR=/tmp/sd $AH bind --no-wait "$edu" 2>&1); rc=$?
out2=$(ASSIGN_STATE_DIR=/tmp/sd $AH restore "$edu" 2>&1); rc2=$?
if [ $rc = 0 ] && [ $rc2 = 0 ] && [ ! -e /tmp/victim ] && [ "$(drv "$edu")" = none ] &&
	[ ! -e "/tmp/sd/$edu" ]; then
	result host-state-no-follow PASS "bound and restored; the .lock symlink's target not created"
else
	result host-state-no-follow FAIL "bind rc=$rc $(oneline "$out") restore rc=$rc2 $(oneline "$out2") victim $(ls /tmp/victim 2>&1)"
fi
rm -rf /tmp/open-sd /tmp/sd /tmp/victim

# --- SR-IOV, the PCI side: a PF such as QEMU's nvme with sriov_max_vfs ------
# (run-lab.sh --qemu-arg -device --qemu-arg pcie-root-port,id=srp,chassis=2
#  --qemu-arg -device --qemu-arg nvme-subsys,id=nvs0 --qemu-arg -device
#  --qemu-arg nvme,serial=sriov0,subsys=nvs0,bus=srp,sriov_max_vfs=2,
#  sriov_vq_flexible=4,sriov_vi_flexible=2). Its PF gets vfio-pci (with
# enable_sriov), VFs are made and found, vf-config explains that an nvme PF
# has no network interface, the VFs are removed and the PF restored.
pf=""
for d in /sys/bus/pci/devices/*; do
	t=$(cat "$d/sriov_totalvfs" 2>/dev/null)
	if [ -n "$t" ] && [ "$t" -ge 2 ]; then pf=${d##*/}; break; fi
done
esp=/sys/module/vfio_pci/parameters/enable_sriov
if [ -z "$pf" ]; then
	result host-sriov SKIP "no SR-IOV PF with 2 VFs (see the run-lab.sh arguments in host-bind.sh)"
elif [ ! -w "$esp" ]; then
	result host-sriov SKIP "vfio-pci has no enable_sriov (kernel without PCI_IOV)"
else
	echo Y >"$esp"
	out=$($AH bind "$pf" 2>&1); rc=$?
	out2=$($AH set-numvfs "$pf" 2 2>&1); rc2=$?
	vf0=$(basename "$(readlink "/sys/bus/pci/devices/$pf/virtfn0" 2>/dev/null)" 2>/dev/null)
	vf1=$(basename "$(readlink "/sys/bus/pci/devices/$pf/virtfn1" 2>/dev/null)" 2>/dev/null)
	js=$($AH list --json 2>&1)
	if [ $rc = 0 ] && [ $rc2 = 0 ] && [ -n "$vf0" ] && [ -n "$vf1" ] &&
		echo "$js" | grep -q "\"address\": \"$pf\".*\"sriov_numvfs\": 2" &&
		echo "$js" | grep -q "\"address\": \"$vf0\".*\"physfn\": \"$pf\", \"vf_index\": 0" &&
		echo "$js" | grep -q "\"address\": \"$vf1\".*\"physfn\": \"$pf\", \"vf_index\": 1"; then
		result host-sriov-numvfs PASS "$pf: VFs $vf0 ($(drv "$vf0")) $vf1 ($(drv "$vf1"))"
	else
		result host-sriov-numvfs FAIL "bind rc=$rc $(oneline "$out") set-numvfs rc=$rc2 $(oneline "$out2") vf0=$vf0"
	fi
	$AH list | grep -E "^($pf|$vf0|$vf1) " | sed 's/^/LAB-INFO /'
	out=$($AH explain "$vf0" 2>&1); rc=$?
	if echo "$out" | grep -q "SR-IOV: VF 0 of $pf"; then
		result host-sriov-explain PASS "$vf0 is VF 0 of $pf (rc=$rc)"
	else
		result host-sriov-explain FAIL "rc=$rc $(oneline "$out")"
	fi
	out=$($AH vf-config "$vf0" --mac 52:54:00:12:34:56 --vlan 10 2>&1); rc=$?
	if [ $rc = 4 ] && echo "$out" | grep -q "has no network interface"; then
		result host-sriov-vfconfig PASS "exit 4: $(oneline "$out")"
	else
		result host-sriov-vfconfig FAIL "rc=$rc $(oneline "$out")"
	fi
	out=$($AH set-numvfs "$pf" 0 2>&1); rc=$?
	out2=$($AH restore "$pf" 2>&1); rc2=$?
	if [ $rc = 0 ] && [ ! -e "/sys/bus/pci/devices/$pf/virtfn0" ] && [ $rc2 = 0 ] &&
		[ "$(drv "$pf")" = none ]; then
		result host-sriov-cleanup PASS "VFs removed, $pf back to no driver"
	else
		result host-sriov-cleanup FAIL "numvfs rc=$rc $(oneline "$out") restore rc=$rc2 $(oneline "$out2") driver $(drv "$pf")"
	fi
fi

# --- VF settings for real: netdevsim (a kernel with NETDEVSIM and DEBUG_FS;
# the lab's kernels lack it, see docs/host.md for a private build) ----------
nsb=/sys/bus/netdevsim
if [ ! -w "$nsb/new_device" ]; then
	result host-vf-netdevsim SKIP "no netdevsim in kernel $(uname -r)"
else
	echo "77 1" >"$nsb/new_device"
	nd=$nsb/devices/netdevsim77
	i=0
	while [ -z "$(ls "$nd/net" 2>/dev/null)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	ifn=$(ls "$nd/net" 2>/dev/null | head -n 1)
	echo 2 >"$nd/sriov_numvfs"
	out=$($AH vf-config --pf "$ifn" --vf 1 --mac 52:54:00:aa:bb:01 --vlan 100 --qos 3 \
		--spoofchk on --trust on --link-state disable 2>&1); rc=$?
	show=$($AH vf-show --pf "$ifn" --vf 1 2>&1); rc2=$?
	if [ $rc = 0 ] && [ $rc2 = 0 ] && echo "$show" | grep -q \
		"vf 1: mac 52:54:00:aa:bb:01 vlan 100 qos 3 spoofchk on trust on link-state disable"; then
		result host-vf-netdevsim PASS "$show"
	else
		result host-vf-netdevsim FAIL "rc=$rc $(oneline "$out") show rc=$rc2 $(oneline "$show")"
	fi
	show=$($AH vf-show --pf "$ifn" --vf 0 2>&1); rc=$?
	if [ $rc = 0 ] && echo "$show" | grep -q "vf 0: mac 00:00:00:00:00:00"; then
		result host-vf-netdevsim-other PASS "VF 0 untouched: $show"
	else
		result host-vf-netdevsim-other FAIL "rc=$rc $(oneline "$show")"
	fi
	out=$($AH vf-config --pf "$ifn" --vf 5 --trust on 2>&1); rc=$?
	if [ $rc != 0 ] && echo "$out" | grep -q "VF 5"; then
		result host-vf-netdevsim-novf PASS "exit $rc: $(oneline "$out")"
	else
		result host-vf-netdevsim-novf FAIL "rc=$rc $(oneline "$out")"
	fi
	echo 0 >"$nd/sriov_numvfs"
	echo 77 >"$nsb/del_device"
fi

[ "$fails" = 0 ]
