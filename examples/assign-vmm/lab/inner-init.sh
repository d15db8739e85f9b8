#!/bin/busybox sh
# /init of the guest that assign-vmm boots inside the lab (busybox only).
# With "nettest" on the kernel command line: load e1000e, wait for the
# assigned NIC's link by polling, take an address by DHCP from QEMU's user
# network and ping its gateway 10.0.2.2. Then power off (ACPI S5), which
# ends the VMM with exit 0; with "endreboot" on the command line, or when
# the kernel has no ACPI (acpi=off), reboot instead, which ends it too.
# With "msetoggle": put the assigned NIC's BAR0 over guest RAM and toggle
# its decoding 100 times (the VMM's refusals must stay bounded).
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
if grep -q nettest /proc/cmdline; then
	for d in /sys/bus/pci/devices/*; do
		echo "INNER-PCI ${d##*/} $(cat "$d/vendor"):$(cat "$d/device") class $(cat "$d/class")"
	done
	insmod /lib/modules/e1000e.ko && echo "INNER-E1000E uptime=$(up)"
	i=0
	while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
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
