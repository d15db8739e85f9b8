#!/bin/busybox sh
# /init of the guest that assign-vmm boots inside the lab (busybox only).
# Words on the kernel command line choose what it does, in this order:
#  - "badreq": /bin/viommu-badreq sends bad requests to the virtio-iommu
#    (virtio-pci unbound from it meanwhile) and prints INNER-BADREQ lines;
#  - "viommu": load virtio_iommu (it must come before the endpoints'
#    drivers) and print what the guest sees: INNER-VIOMMU (its kernel
#    messages), INNER-GROUP (each PCI device's IOMMU group and its type),
#    INNER-RESV (each group's reserved regions);
#  - "nested": load vfio-pci (type1 with allow_unsafe_interrupts: the
#    virtio-iommu remaps no interrupts), bind the edu to it and run
#    /bin/viommu-nested on it (INNER-NESTED lines);
#  - "nettest": load e1000e, wait for the assigned NIC's link by polling,
#    take an address by DHCP from QEMU's user network and ping its gateway
#    10.0.2.2 ("flood": then a ping flood, INNER-FLOOD);
#  - "serialtest": the assigned serial card (an mtty mdev) through the
#    stock 8250_pci driver, bytes looped back on interrupts;
#  - "msetoggle": put the assigned NIC's BAR0 over guest RAM and toggle
#    its decoding 100 times (the VMM's refusals must stay bounded).
# Then power off (ACPI S5), which ends the VMM with exit 0; with
# "endreboot" on the command line, or when the kernel has no ACPI
# (acpi=off), reboot instead, which ends it too. Modules other than e1000e
# are listed in /lib/modules/order (mk-inner-initrd.sh).
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
echo "INNER-INIT uptime=$(up) cpus=$(grep -c ^processor /proc/cpuinfo)"
# "bootlog": the kernel's log with its timestamps (kept even with "quiet",
# which only silences the console), to see where boot time goes
grep -qw bootlog /proc/cmdline && dmesg | sed 's/^/INNER-DMESG /'
has() { grep -qw "$1" /proc/cmdline; }
# load NAME...: these modules of /lib/modules/order, in its order
load() {
	while read -r name file; do
		for w in "$@"; do
			[ "$w" = "$name" ] || continue
			args=""
			[ "$name" = vfio_iommu_type1 ] && args=allow_unsafe_interrupts=1
			insmod "/lib/modules/$file" $args || echo "INNER-INSMOD $name failed"
		done
	done </lib/modules/order
}
# the PCI function of a vendor:device
find_pci() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = "$1" ] && { echo "${d##*/}"; return; }
	done
}
if has badreq && [ -x /bin/viommu-badreq ]; then
	vi=$(find_pci 0x1af4:0x1057)
	e1=$(find_pci 0x8086:0x10d3)
	[ -e "/sys/bus/pci/devices/$vi/driver" ] && echo "$vi" >"/sys/bus/pci/devices/$vi/driver/unbind"
	/bin/viommu-badreq "$vi" "$e1" $(sed -n 's/.*badreq_budget=\([0-9]*\).*/--budget \1/p' /proc/cmdline)
	echo "$vi" >/sys/bus/pci/drivers_probe
fi
# Each PCI device's IOMMU group, its type and reserved regions (a device
# joins its group when its driver binds: the VIOT path configures DMA at
# driver probe)
show_groups() {
	for d in /sys/bus/pci/devices/*; do
		g=$(basename "$(readlink "$d/iommu_group" 2>/dev/null)" 2>/dev/null)
		[ -n "$g" ] || continue
		echo "INNER-GROUP ${d##*/} $(cat "$d/vendor"):$(cat "$d/device") group=$g type=$(cat "/sys/kernel/iommu_groups/$g/type" 2>/dev/null)"
		while read -r rs re rt; do
			echo "INNER-RESV ${d##*/} $rs $re $rt"
		done <"/sys/kernel/iommu_groups/$g/reserved_regions"
	done
}
if has viommu; then
	echo "INNER-VIOMMU-LOAD uptime=$(up)"
	load virtio_iommu
	echo "INNER-VIOMMU-LOADED uptime=$(up)"
	dmesg | grep -iE "viot|virtio_iommu|viommu|iommu:" | sed 's/^/INNER-VIOMMU /'
	has bootlog && dmesg | tail -n 40 | sed 's/^/INNER-DMESG /'
fi
if has nested && [ -x /bin/viommu-nested ]; then
	load irqbypass vfio vfio_iommu_type1 vfio_pci_core vfio_pci
	edu=$(find_pci 0x1234:0x11e8)
	if [ -n "$edu" ]; then
		[ -e "/sys/bus/pci/devices/$edu/driver" ] && echo "$edu" >"/sys/bus/pci/devices/$edu/driver/unbind"
		echo vfio-pci >"/sys/bus/pci/devices/$edu/driver_override"
		echo "$edu" >/sys/bus/pci/drivers_probe
		i=0
		while [ ! -e "/dev/vfio/$(basename "$(readlink "/sys/bus/pci/devices/$edu/iommu_group")")" ] && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		ulimit -l unlimited
		show_groups
		# twice: the edu's group goes from its default domain to VFIO's
		# (translated) and back between the runs
		for n in 1 2; do
			/bin/viommu-nested "$edu"
			echo "INNER-NESTED-RC $? run $n, group type after: $(cat "/sys/bus/pci/devices/$edu/iommu_group/type")"
		done
	else
		echo "INNER-NESTED no edu"
	fi
fi
if has nvmetest; then
	# "nvmetest": the assigned nvme: its BAR0 (64-bit), its driver, a
	# read of its namespace (DMA through whatever IOMMU is in front)
	load nvme_auth t10_pi crc64 crc64_rocksoft crc_t10dif crct10dif_common nvme_core nvme
	nv=$(find_pci 0x1b36:0x0010)
	i=0
	while [ ! -b /dev/nvme0n1 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	echo "INNER-NVME $nv bar0=$(head -n1 "/sys/bus/pci/devices/$nv/resource" | cut -d' ' -f1) irqs=$(grep -c nvme /proc/interrupts)"
	if dd if=/dev/nvme0n1 of=/tmp/nv bs=4096 count=4 2>/dev/null && [ "$(stat -c %s /tmp/nv)" = 16384 ]; then
		echo "INNER-NVME read ok"
	else
		echo "INNER-NVME read failed"
	fi
	has viommu && show_groups
fi
if has nettest; then
	for d in /sys/bus/pci/devices/*; do
		echo "INNER-PCI ${d##*/} $(cat "$d/vendor"):$(cat "$d/device") class $(cat "$d/class")"
	done
	# the guest's RAM as its kernel took it from the e820 map
	echo "INNER-RAM $(grep 'System RAM' /proc/iomem | sed 's/ : System RAM//' | tr -d ' ' | tr '\n' ' ')"
	insmod /lib/modules/e1000e.ko && echo "INNER-E1000E uptime=$(up)"
	i=0
	while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	has viommu && show_groups
	# the NIC's config space: 4096 bytes and its first extended
	# capability (QEMU's e1000e has AER at 0x100) when ECAM works
	nic=$(find_pci 0x8086:0x10d3)
	echo "INNER-CFG $nic size=$(stat -c %s "/sys/bus/pci/devices/$nic/config") ext0=$(dd if="/sys/bus/pci/devices/$nic/config" bs=4 skip=64 count=1 2>/dev/null | od -An -tx4 | tr -d ' ')"
	ifconfig lo 127.0.0.1 up
	ifconfig eth0 up
	i=0
	while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 400 ]; do
		sleep 0.05; i=$((i + 1))
	done
	echo "INNER-NETDEVS $(ls /sys/class/net | tr '\n' ' ')"
	echo "INNER-LINK carrier=$(cat /sys/class/net/eth0/carrier 2>/dev/null) uptime=$(up)"
	if udhcpc -s /etc/udhcpc.script -i eth0 -n -q -t 15 -T 2 >/dev/null 2>&1; then
		echo "INNER-DHCP $(ip -4 addr show eth0 | awk '/inet /{print $2}') uptime=$(up)"
	else
		echo "INNER-DHCP failed uptime=$(up)"
	fi
	if ping -c 3 -W 3 10.0.2.2; then
		echo "INNER-PING ok uptime=$(up)"
	else
		echo "INNER-PING failed uptime=$(up)"
	fi
	grep -E "eth0" /proc/interrupts | sed 's/^/INNER-IRQ /'
	if has switch; then
		# "switch": the NIC's group to identity (bypass) and back to
		# DMA (translated), each while the NIC is unbound, then ping
		# again: live policy switches of a device that was mastering
		nic=$(find_pci 0x8086:0x10d3)
		grp=/sys/bus/pci/devices/$nic/iommu_group
		for t in identity DMA; do
			echo "$nic" >"/sys/bus/pci/devices/$nic/driver/unbind"
			echo "$t" >"$grp/type" || echo "INNER-SWITCH $t refused"
			echo "$nic" >/sys/bus/pci/drivers/e1000e/bind
			ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
			# QEMU 7.2's e1000e took about 40 s to bring its link
			# up again after a rebind in the lab: wait for it
			i=0
			while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 90 ]; do
				sleep 1; i=$((i + 1))
			done
			echo "INNER-SWITCH-LINK $t after ${i}s"
			if ping -c 3 -W 5 10.0.2.2 >/dev/null 2>&1; then
				echo "INNER-SWITCH $t type=$(cat "$grp/type") ping=ok"
			else
				echo "INNER-SWITCH $t type=$(cat "$grp/type") ping=failed"
			fi
			has bootlog && { dmesg | tail -n 25 | sed 's/^/INNER-DMESG /'; grep eth0 /proc/interrupts | sed 's/^/INNER-IRQ /'; }
		done
	fi
	if has flood; then
		# "flood": back-to-back pings (-A: the next as soon as the reply
		# is in), bracketed by reads of assign-vmm's statistics port
		# 0x5e0 (it logs its counters, the virtio-iommu's among them)
		n=$(sed -n 's/.*flood=\([0-9]*\).*/\1/p' /proc/cmdline)
		dd if=/dev/port of=/dev/null bs=1 skip=1504 count=1 2>/dev/null
		t0=$(up)
		ping -q -A -c "${n:-500}" -s 1400 -W 2 10.0.2.2 >/tmp/flood 2>&1
		t1=$(up)
		dd if=/dev/port of=/dev/null bs=1 skip=1504 count=1 2>/dev/null
		echo "INNER-FLOOD $(grep -o '[0-9]* packets received' /tmp/flood) secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') rtt=$(sed -n 's/.*= \([0-9.\/]*\) ms/\1/p' /tmp/flood)"
	fi
	if grep -q stats /proc/cmdline; then
		# Bracket a ping flood with reads of assign-vmm's statistics
		# port 0x5e0 (1504): the VMM logs its exit count at each, so
		# the difference is how often the workload woke it.
		irqs() { awk '/eth0/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts; }
		i0=$(irqs)
		dd if=/dev/port of=/dev/null bs=1 skip=1504 count=1 2>/dev/null
		ping -q -c 50 -i 0.05 -W 2 10.0.2.2 >/tmp/flood 2>&1
		dd if=/dev/port of=/dev/null bs=1 skip=1504 count=1 2>/dev/null
		i1=$(irqs)
		echo "INNER-STATS eth0-interrupts=$((i1 - i0)) $(grep -o '[0-9]* packets received' /tmp/flood) rtt=$(sed -n 's/.*= \([0-9.\/]*\) ms/\1/p' /tmp/flood)"
	fi
fi
# With "serialtest": the assigned device is a serial card (the kernel's
# mtty mdev, a WCH CH352 to the guest): the stock 8250_pci driver takes
# it, and bytes written to its port come back (mtty loops them), on
# interrupts (INTx).
if grep -q serialtest /proc/cmdline; then
	sd=""
	for d in /sys/bus/pci/devices/*; do
		id="$(cat "$d/vendor"):$(cat "$d/device")"
		echo "INNER-PCI ${d##*/} $id class $(cat "$d/class")"
		[ "$id" = 0x4348:0x3253 ] && sd=$d
	done
	tty=$(ls "$sd/tty" 2>/dev/null | head -n1)
	echo "INNER-SERIAL-TTY ${tty:-none} $(dmesg | grep -m1 "${tty:-none} at")"
	if [ -n "$tty" ]; then
		stty -F "/dev/$tty" raw -echo 115200
		cat "/dev/$tty" >/tmp/rx &
		pid=$!
		sleep 0.5
		printf 'hello-mtty\n' >"/dev/$tty"
		i=0
		while ! grep -q hello-mtty /tmp/rx && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		# while the port is open: its interrupt is requested then
		grep "$tty" /proc/interrupts | sed 's/^/INNER-IRQ /'
		kill $pid
		echo "INNER-SERIAL-RX $(tr -d '\r\n' </tmp/rx)"
	fi
fi
if grep -qw msetoggle /proc/cmdline; then
	# A guest that puts the assigned NIC's BAR0 over its own RAM (1 MiB)
	# and toggles Memory Space Enable 100 times: the VMM refuses each
	# placement and must not say so 100 times (its messages are bounded)
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x8086:0x10d3 ] || continue
		printf '\000\000\020\000' | dd of="$d/config" bs=4 seek=4 count=1 conv=notrunc 2>/dev/null
		i=0
		while [ $i -lt 100 ]; do
			printf '\002\000' | dd of="$d/config" bs=2 seek=2 count=1 conv=notrunc 2>/dev/null
			printf '\000\000' | dd of="$d/config" bs=2 seek=2 count=1 conv=notrunc 2>/dev/null
			i=$((i + 1))
		done
		echo "INNER-MSETOGGLE ${d##*/} toggled $i times uptime=$(up)"
	done
fi
grep -q hold /proc/cmdline && sleep 2
grep -q shell /proc/cmdline && setsid cttyhack sh
if grep -q nettest /proc/cmdline; then
	# The NICs down (causes masked) and a pause before power-off turns
	# MSI-X off: QEMU 7.2's e1000e, under the lab, aborts when MSI-X goes
	# off while a throttling timer armed by an interrupt is pending
	# (docs/reliability.md, V9). The pause ends by a later timer of the
	# same clock, so those timers have run by then.
	for n in /sys/class/net/eth*; do
		[ -e "$n" ] && ifconfig "${n##*/}" down
	done
	sleep 0.2
fi
echo "INNER-DONE uptime=$(up)"
if grep -qw endreboot /proc/cmdline || [ ! -d /sys/firmware/acpi ]; then
	reboot -f
fi
poweroff -f
