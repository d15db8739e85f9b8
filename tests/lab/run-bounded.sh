#!/bin/sh
# run-bounded SECONDS COMMAND [ARG...]  (in the lab guest: /lab/bin/run-bounded)
#
# Run COMMAND; when it is still there after SECONDS, say so on the
# console with what each of its threads waits on (state, wchan, kernel
# stack), then SIGTERM it, and SIGKILL it 20 s later. A hung VMM thus
# ends its test with a FAIL and the evidence, instead of holding the lab
# guest until run-lab.sh's timeout says only that the guest hung (a VMM
# that blocks its signals for a signalfd ignores timeout's SIGTERM while
# its main loop is stuck). Exit status: COMMAND's (143 or 137 when it
# had to be stopped).
secs=${1:?usage: run-bounded SECONDS COMMAND [ARG...]}
shift
"$@" &
pid=$!
# The watchdog keeps none of the caller's fds (a pipe held open by its
# sleep would keep the caller's reader waiting), and takes its sleep
# with it when it is stopped.
(
	trap 'kill "$sp" 2>/dev/null; exit 0' TERM
	sleep "$secs" &
	sp=$!
	wait "$sp"
	kill -0 "$pid" 2>/dev/null || exit 0
	{
		echo "LAB-HUNG $1 (pid $pid) still running after ${secs}s; its threads:"
		for t in /proc/"$pid"/task/*; do
			echo "LAB-HUNG   task ${t##*/} $(cat "$t/comm" 2>/dev/null)" \
				"state=$(cut -d' ' -f3 "$t/stat" 2>/dev/null)" \
				"wchan=$(cat "$t/wchan" 2>/dev/null)"
			sed 's/^/LAB-HUNG     /' "$t/stack" 2>/dev/null
		done
	} >>/dev/console 2>&1
	kill -TERM "$pid" 2>/dev/null
	sleep 20
	kill -0 "$pid" 2>/dev/null || exit 0
	echo "LAB-HUNG $1 (pid $pid) ignored SIGTERM for 20 s: SIGKILL" >>/dev/console
	kill -KILL "$pid" 2>/dev/null
) </dev/null >/dev/null 2>&1 &
watchdog=$!
wait "$pid"
rc=$?
kill "$watchdog" 2>/dev/null
exit $rc
