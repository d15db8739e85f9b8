#!/bin/sh
# Guest script for the lab (tests/lab/run-lab.sh): the dirty bitmap
# benchmark of bench-migration against the real type1 of the lab guest,
# over 1 GiB mapped for the edu. Usage on the host:
#   tests/lab/run-lab.sh --smp 2 --mem 3G --add build/bench/bench-migration \
#       --script bench/lab-bench-migration.sh --timeout 900
# Prints the benchmark output and one LAB-RESULT line per run.
ulimit -l unlimited 2>/dev/null || true
dev=${LAB_EDU:-}
rc=0
echo "### $(uname -r), $(nproc) CPUs, device $dev"
for round in 1 2; do
	echo "### bench-migration --device $dev --backend type1 --map 1024 --reps 11 bitmap"
	if bench-migration --device "$dev" --backend type1 --map 1024 \
		--reps 11 bitmap; then
		echo "LAB-RESULT bench-bitmap-type1-r$round PASS"
	else
		echo "LAB-RESULT bench-bitmap-type1-r$round FAIL"
		rc=1
	fi
done
exit $rc
