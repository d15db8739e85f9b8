#!/bin/busybox sh
# /init of the lab guest (copied into the initramfs by run-lab.sh).
#
# Mounts the pseudo file systems, loads the modules listed in
# /lab/modules.order, binds the devices under test to vfio-pci, writes
# /lab/env, runs /lab/run.sh, prints "LAB-END rc=N" and powers off.
# Runs as PID 1 with busybox only.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /bin /sbin /usr/bin /usr/sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/lab/bin:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm /dev/hugepages /root
mount -t tmpfs tmpfs /dev/shm
mount -t hugetlbfs hugetlbfs /dev/hugepages 2>/dev/null

# Only emergencies on the console: kernel lines must not split LAB-RESULT
# lines. The full kernel log is printed on failure.
echo 1 >/proc/sys/kernel/printk
# Every magic SysRq key: run-lab.sh, at a timeout, asks the kernel for its
# blocked tasks and backtraces through the keyboard.
echo 1 >/proc/sys/kernel/sysrq 2>/dev/null || true

lab_end() {
	sync
	echo "LAB-END rc=$1"
	poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 5
	exit "$1"
}

echo "LAB-INIT kernel $(uname -r) uptime $(cut -d' ' -f1 /proc/uptime)s"

[ -f /lab/config ] && . /lab/config

# Modules: one path per line, dependencies first (resolved by run-lab.sh
# from the modules' depends= fields).
if [ -s /lab/modules.order ]; then
	while read -r mod args; do
		[ -n "$mod" ] || continue
		name=${mod##*/}; name=${name%.ko}
		if ! out=$(insmod "/lib/modules/lab/$mod" $args 2>&1); then
			case "$out" in
			*"File exists"*) ;;
			*) echo "LAB-INIT warning: insmod $name failed: $out" ;;
			esac
		fi
	done </lab/modules.order
fi

ulimit -l unlimited

env=/lab/env
: >"$env"
setenv() { echo "$1=$2" >>"$env"; export "$1=$2"; }

setenv LAB_KERNEL_VARIANT "${LAB_KERNEL_VARIANT:-unknown}"
setenv LAB_KERNEL_RELEASE "$(uname -r)"

# The devices under test, found by vendor:device in bus order.
e1000e_n=0
bind_list=""
nv_bind=""
for d in /sys/bus/pci/devices/*; do
	bdf=${d##*/}
	id="$(cat "$d/vendor"):$(cat "$d/device")"
	ngroup=$(ls "$d/iommu_group/devices" 2>/dev/null | wc -l)
	if [ "$ngroup" -gt 1 ]; then
		# A device sharing its group: the non-viable group fixture
		# (multifunction slot). The edu goes to vfio-pci, the e1000e
		# stays on its host driver.
		case "$id" in
		0x1234:0x11e8) setenv LAB_NV_EDU "$bdf"; nv_bind="$bdf" ;;
		0x8086:0x10d3) setenv LAB_NV_E1000E "$bdf" ;;
		esac
		continue
	fi
	case "$id" in
	0x8086:0x10d3) var=LAB_E1000E_$e1000e_n; e1000e_n=$((e1000e_n + 1)) ;;
	0x1234:0x11e8) var=LAB_EDU ;;
	0x1b36:0x0010) var=LAB_NVME ;;
	*) continue ;;
	esac
	setenv "$var" "$bdf"
	bind_list="$bind_list $var:$bdf"
done
setenv LAB_E1000E_COUNT "$e1000e_n"

bind_vfio() {
	local bdf=$1 d=/sys/bus/pci/devices/$1 drv
	if [ -e "$d/driver" ]; then
		drv=$(basename "$(readlink "$d/driver")")
		[ "$drv" = vfio-pci ] && return 0
		echo "$bdf" >"$d/driver/unbind" || return 1
	fi
	echo vfio-pci >"$d/driver_override" || return 1
	echo "$bdf" >/sys/bus/pci/drivers_probe 2>/dev/null
	[ -e "$d/driver" ] && [ "$(basename "$(readlink "$d/driver")")" = vfio-pci ]
}

bind_ok=1
for item in $bind_list; do
	var=${item%%:*}; bdf=${item#*:}
	d=/sys/bus/pci/devices/$bdf
	if [ "${LAB_BIND:-1}" = 1 ]; then
		if ! bind_vfio "$bdf"; then
			echo "LAB-INIT error: binding $bdf ($var) to vfio-pci failed"
			bind_ok=0
		fi
	fi
	if [ -e "$d/iommu_group" ]; then
		setenv "${var}_GROUP" "$(basename "$(readlink "$d/iommu_group")")"
	fi
	if [ -e "$d/driver" ]; then
		setenv "${var}_DRIVER" "$(basename "$(readlink "$d/driver")")"
	fi
done

if [ -n "$nv_bind" ] && [ "${LAB_BIND:-1}" = 1 ]; then
	d=/sys/bus/pci/devices/$nv_bind
	bind_vfio "$nv_bind" || echo "LAB-INIT warning: binding $nv_bind (LAB_NV_EDU) to vfio-pci failed"
	[ -e "$d/iommu_group" ] && setenv LAB_NV_GROUP "$(basename "$(readlink "$d/iommu_group")")"
	if [ -n "${LAB_NV_E1000E:-}" ] && [ -e "/sys/bus/pci/devices/$LAB_NV_E1000E/driver" ]; then
		setenv LAB_NV_E1000E_DRIVER "$(basename "$(readlink "/sys/bus/pci/devices/$LAB_NV_E1000E/driver")")"
	fi
fi

# devtmpfs creates nodes asynchronously from the binding: wait for them.
if [ "${LAB_BIND:-1}" = 1 ]; then
	for item in $bind_list; do
		var=${item%%:*}
		eval g=\${${var}_GROUP:-}
		[ -n "$g" ] || continue
		i=0
		while [ ! -e "/dev/vfio/$g" ] && [ ! -e "/dev/vfio/noiommu-$g" ] && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		if [ -e "/dev/vfio/$g" ]; then
			setenv "${var}_GROUP_DEV" "/dev/vfio/$g"
		elif [ -e "/dev/vfio/noiommu-$g" ]; then
			setenv "${var}_GROUP_DEV" "/dev/vfio/noiommu-$g"
		else
			echo "LAB-INIT error: /dev/vfio/$g for $var did not appear"
		fi
	done
fi

# vfio cdev nodes (only with CONFIG_VFIO_DEVICE_CDEV; 6.1 has the sysfs
# vfio-dev directory but no node).
for item in $bind_list; do
	var=${item%%:*}; bdf=${item#*:}
	for c in /sys/bus/pci/devices/$bdf/vfio-dev/vfio*; do
		[ -e "$c" ] || continue
		i=0
		while [ ! -c "/dev/vfio/devices/${c##*/}" ] && [ -e /dev/iommu ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
		[ -c "/dev/vfio/devices/${c##*/}" ] && setenv "${var}_CDEV" "/dev/vfio/devices/${c##*/}"
	done
done

# One KVM VM held from here on (tests/lab/kvm-hold.c): inner VMs then
# flip no static keys, whose text patching QEMU 7.2's TCG can get wrong
# with another vCPU running (the lab guest stalled). The other CPUs are
# offline while it is made, so that one patch races with no one.
if [ -e /dev/kvm ] && [ -x /lab/bin/kvm-hold ]; then
	off=""
	for c in /sys/devices/system/cpu/cpu[1-9]*/online; do
		[ -f "$c" ] && [ "$(cat "$c")" = 1 ] && echo 0 >"$c" && off="$off $c"
	done
	/lab/bin/kvm-hold || echo "LAB-INIT warning: kvm-hold failed; inner VMs may stall the lab guest"
	for c in $off; do echo 1 >"$c" || echo "LAB-INIT error: cannot put ${c%/online} back online"; done
fi

setenv LAB_BOUND "$([ "${LAB_BIND:-1}" = 1 ] && echo "$bind_ok" || echo 0)"
setenv LAB_IOMMUFD "$([ -e /dev/iommu ] && echo 1 || echo 0)"
setenv LAB_KVM "$([ -e /dev/kvm ] && echo 1 || echo 0)"
setenv LAB_NOIOMMU "$([ -e /sys/module/vfio/parameters/enable_unsafe_noiommu_mode ] &&
	cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode | grep -q Y && echo 1 || echo 0)"
[ -f /lab/ld-paths ] && setenv LD_LIBRARY_PATH "$(cat /lab/ld-paths)"

echo "LAB-INIT ready uptime $(cut -d' ' -f1 /proc/uptime)s; environment:"
sed 's/^/LAB-INIT   /' "$env"

cd /tmp
rc=0
if [ -f /lab/run.sh ]; then
	sh /lab/run.sh
	rc=$?
fi
if [ "$rc" != 0 ]; then
	echo "LAB-INIT guest script failed with rc=$rc; kernel log tail:"
	dmesg | tail -n 40 | sed 's/^/LAB-DMESG /'
fi
lab_end "$rc"
