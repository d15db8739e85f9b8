#!/usr/bin/env bash
# Build the libFuzzer targets of fuzz/ with clang and run each one for a
# while, starting from its seed corpus in fuzz/corpus/<target>/.
#
# Usage: scripts/fuzz.sh [--ci] [--allow-known] [-t SECONDS] [TARGET...]
#   --ci          20 seconds per target (what .ci/run uses)
#   -t SECONDS    seconds per target (default 60)
#   --allow-known reproducers listed in fuzz/reproducers/KNOWN-OPEN (bugs
#                 reported, not fixed yet) may still crash; default: strict
#   TARGET        run only these (e.g. fuzz-vfio-caps); default: all built
# Environment: FUZZ_BUILDDIR (default build-fuzz), FUZZ_OUT (default
# $FUZZ_BUILDDIR/fuzz-out: working corpora, logs and crash artifacts),
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-fork=1 -ignore_crashes=1" to
# keep exploring past a known crash).
#
# Each target first replays fuzz/reproducers/<target>/* (inputs that once
# crashed it: every one must now run clean), then fuzzes from its seeds.
#
# Fails (exit 1) when any target crashes, hits a sanitizer report
# (ASan, UBSan, LeakSanitizer), times out on one input or runs out of
# memory. Installs nothing: scripts/deps.sh installs clang,
# libclang-rt-14-dev and llvm.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

secs=60
allow_known=0
targets=()
while [ $# -gt 0 ]; do
	case "$1" in
	--ci) secs=20 ;;
	--allow-known) allow_known=1 ;;
	-t) secs=$2; shift ;;
	-h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
	*) targets+=("$1") ;;
	esac
	shift
done

if ! command -v clang >/dev/null; then
	echo "fuzz.sh: clang not found; run scripts/deps.sh (as root) first" >&2
	exit 1
fi

builddir=${FUZZ_BUILDDIR:-build-fuzz}
out=${FUZZ_OUT:-$builddir/fuzz-out}
if [ -f "$builddir/build.ninja" ]; then
	meson configure "$builddir" -Dfuzz=enabled >/dev/null
else
	CC=clang meson setup "$builddir" -Dfuzz=enabled -Db_lundef=false \
		>/dev/null
fi
# Only the fuzz targets (and the library they instrument) are needed.
# -k 0: one target that no longer builds (say, the example VMM changed
# under fuzz-vmm) still lets the others run; the build failure counts.
build_failed=0
ninja -k 0 -C "$builddir" all-fuzz-targets >"$builddir/fuzz-build.log" 2>&1 || {
	grep -E 'FAILED:|error:' "$builddir/fuzz-build.log" | head -20 >&2
	echo "fuzz.sh: some fuzz targets failed to build (log: $builddir/fuzz-build.log)" >&2
	build_failed=1
}

if [ ${#targets[@]} -eq 0 ]; then
	for exe in "$builddir"/fuzz/fuzz-*; do
		[ -f "$exe" ] && [ -x "$exe" ] && targets+=("$(basename "$exe")")
	done
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets built" >&2
	exit 1
fi

# Sanitizers: every report is fatal, leaks included.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASSIGN_LOG=${ASSIGN_LOG:-0}

mkdir -p "$out"
pass=0
fail=$build_failed
failed=()
[ "$build_failed" = 1 ] && failed+=(build)
for t in "${targets[@]}"; do
	exe=$builddir/fuzz/$t
	if [ ! -x "$exe" ]; then
		echo "fuzz: $t: no such target" >&2
		fail=$((fail + 1)); failed+=("$t")
		continue
	fi
	work=$out/corpus/$t
	art=$out/artifacts/$t
	log=$out/$t.log
	mkdir -p "$work" "$art"
	seeds=()
	[ -d "fuzz/corpus/$t" ] && seeds+=("fuzz/corpus/$t")
	dict=()
	[ -f "fuzz/$t.dict" ] && dict+=("-dict=fuzz/$t.dict")
	# Known crashers first: each must run clean now.
	repro_bad=0
	if [ -d "fuzz/reproducers/$t" ]; then
		for f in "fuzz/reproducers/$t"/*; do
			[ -f "$f" ] || continue
			if ! { "$exe" -runs=1 "$f" >"$out/$t.repro.log" 2>&1; } 2>/dev/null; then
				if [ "$allow_known" = 1 ] &&
					grep -qx "$(basename "$f")" fuzz/reproducers/KNOWN-OPEN 2>/dev/null; then
					echo "fuzz: $t: known open bug still crashes: $f" >&2
					continue
				fi
				echo "fuzz: $t: reproducer $f still crashes:" >&2
				{ grep -E 'ERROR:|SUMMARY:|invariant failed|runtime error:' \
					"$out/$t.repro.log" || true; } | head -3 | sed 's/^/    /' >&2
				repro_bad=1
			fi
		done
	fi
	# New inputs go to $work (first directory); the seeds stay untouched.
	rc=0
	# (the braces keep bash's "Aborted" job message out of the output)
	{ "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" \
		${FUZZ_ARGS:-} "$work" "${seeds[@]}" >"$log" 2>&1; } 2>/dev/null ||
		rc=$?
	# (|| true: a target that dies before its first status line has none)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)
	cov=$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -1 | cut -d' ' -f2)
	ft=$({ grep -o 'ft: [0-9]*' "$log" || true; } | tail -1 | cut -d' ' -f2)
	ncorp=$(find "$work" -type f | wc -l)
	bad=0
	[ "$rc" -ne 0 ] && bad=1
	[ "$repro_bad" -ne 0 ] && bad=1
	grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' "$log" && bad=1
	if [ "$bad" = 0 ]; then
		pass=$((pass + 1))
		status=PASS
	else
		fail=$((fail + 1)); failed+=("$t")
		status=FAIL
	fi
	printf 'fuzz: %-4s %-28s %4ss runs=%s exec/s=%s cov=%s ft=%s corpus=%s\n' \
		"$status" "$t" "$secs" "${runs:-?}" "${eps:-?}" "${cov:-?}" \
		"${ft:-?}" "$ncorp"
	if [ "$status" = FAIL ]; then
		{ grep -E 'ERROR:|runtime error:|invariant failed|SUMMARY:|Test unit written' "$log" || true; } | head -8 | sed 's/^/    /' >&2
		echo "    full log: $log; reproduce: $exe $art/<crash-file>" >&2
	fi
done
echo "fuzz: $pass passed, $fail failed${failed:+ (${failed[*]})}"
[ "$fail" -eq 0 ]
