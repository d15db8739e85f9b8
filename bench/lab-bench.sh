#!/bin/sh
# Guest script for the lab (tests/lab/run-lab.sh): runs bench-guestmem
# against the real vfio-pci of the lab guest. Usage on the host:
#   tests/lab/run-lab.sh --smp 2 --mem 3G --add build/bench/bench-guestmem \
#       --script bench/lab-bench.sh --timeout 1500
# BENCH_SET=pairs runs only the guest-IOMMU pairs variants: put the line
# BENCH_SET=pairs in a file added as /lab/bench-set.
# Prints the benchmark output and one LAB-RESULT line per benchmark.
ulimit -l unlimited 2>/dev/null || true
dev=${LAB_E1000E_0:-}
[ -n "$dev" ] || dev=${LAB_EDU:-}
# The backend: /lab/backend when the host added one (--add FILE:/lab/backend
# holding type1 or iommufd), else the library's choice.
be=
[ -r /lab/backend ] && be="--backend $(cat /lab/backend)"
rc=0
run() { # name args...
	name=$1; shift
	echo "### bench-guestmem $be --device $dev $*"
	# shellcheck disable=SC2086
	if bench-guestmem $be --device "$dev" "$@"; then
		echo "LAB-RESULT $name PASS"
	else
		echo "LAB-RESULT $name FAIL"
		rc=1
	fi
}
echo "### $(uname -r), $(nproc) CPUs, device $dev"
[ -r /lab/bench-set ] && . /lab/bench-set
if [ "${BENCH_SET:-all}" = all ]; then
	run bench-mapall --ram 512 --reps 9 mapall
	run bench-mapall-cold --ram 1024 --reps 3 --threads 2 mapall-cold
fi
for round in 1 2; do
	run bench-pairs-0-r$round --ops 5000 --reps 11 --resident 0 pairs
	run bench-pairs-1000-r$round --ops 5000 --reps 11 --resident 1000 pairs
done
exit $rc
