#!/bin/sh
# Guest script for the lab (tests/lab/run-lab.sh): runs bench-guestmem
# against the real vfio-pci of the lab guest. Usage on the host:
#   tests/lab/run-lab.sh --mem 3G --add build/bench/bench-guestmem \
#       --script bench/lab-bench.sh --timeout 1500
# BENCH_SET=pairs runs only the guest-IOMMU pairs variants.
# Prints the benchmark output and one LAB-RESULT line per benchmark.
ulimit -l unlimited 2>/dev/null || true
dev=${LAB_E1000E_0:-}
[ -n "$dev" ] || dev=${LAB_EDU:-}
rc=0
run() { # name args...
	name=$1; shift
	echo "### bench-guestmem --device $dev $*"
	if bench-guestmem --device "$dev" "$@"; then
		echo "LAB-RESULT $name PASS"
	else
		echo "LAB-RESULT $name FAIL"
		rc=1
	fi
}
echo "### $(uname -r), $(nproc) CPUs, device $dev"
if [ "${BENCH_SET:-all}" = all ]; then
	run bench-mapall --ram 512 --reps 5 mapall
	run bench-mapall-cold --ram 1024 --reps 3 --threads 2 mapall-cold
fi
run bench-pairs-0 --ops 5000 --reps 5 --resident 0 pairs
run bench-pairs-1000 --ops 5000 --reps 5 --resident 1000 pairs
run bench-pairs-0-df --ops 5000 --reps 5 --resident 0 --raw-dontfork pairs
exit $rc
