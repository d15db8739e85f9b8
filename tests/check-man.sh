#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Check the section-3 man pages docs/man generated:
#  - the kernel's kernel-doc reads every public header without a warning
#    (-Wall: also missing Return: sections and short descriptions);
#  - every symbol a version script exports has its page NAME.3, whose NAME
#    line names it;
#  - every page renders with groff without a warning.
# Usage: check-man.sh MAN3DIR PERL KERNEL_DOC LIB.sym... -- HEADER...
set -euo pipefail
man3=${1:?usage: check-man.sh MAN3DIR PERL KERNEL_DOC LIB.sym... -- HEADER...}
perl=${2:?perl} kdoc=${3:?kernel-doc}
shift 3
syms=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	syms+=("$1")
	shift
done
[ "${1:-}" = -- ] || { echo "check-man: no '--' before the headers"; exit 2; }
shift
[ $# -gt 0 ] && [ ${#syms[@]} -gt 0 ] || { echo "check-man: no headers or no version scripts"; exit 2; }
[ -d "$man3" ] || { echo "check-man: $man3 is not a directory (were the pages built?)"; exit 1; }

status=0
fail() { echo "check-man: $*"; status=1; }

# 1. kernel-doc reads the headers without a warning.
if ! warnings=$("$perl" "$kdoc" -none -Wall "$@" 2>&1) || [ -n "$warnings" ]; then
	fail "kernel-doc warns about the header comments (fix the comment, keep its meaning):"
	echo "$warnings"
fi

# 2. One page per exported symbol (the global entries of each script).
n=0
for sym in "${syms[@]}"; do
	while read -r s; do
		n=$((n + 1))
		page="$man3/$s.3"
		if [ ! -f "$page" ]; then
			fail "$s (exported by $(basename "$sym")) has no page $s.3: does its header comment start '/**' and read '$s() - ...'?"
		elif ! grep -q "^$s \\\\- " "$page"; then
			fail "$page does not name $s in its NAME section"
		fi
	done < <(sed -e 's#/\*.*\*/##g' "$sym" | awk '/global:/{g=1;next} /local:/{g=0} g' |
		tr -d ' \t;' | grep -v '^$' | sort -u)
done
[ "$n" -gt 0 ] || fail "no exported symbols found in ${syms[*]}"

# 3. Every page renders without a groff warning.
pages=$(find "$man3" -type f | wc -l)
if command -v groff >/dev/null; then
	for page in "$man3"/*; do
		out=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || fail "groff failed on $page"
		[ -z "$out" ] || fail "groff warns about $page: $out"
	done
	rendered="rendered with groff"
else
	rendered="NOT rendered (groff is not installed)"
fi

if [ "$status" = 0 ]; then
	echo "check-man: $n exported symbols have pages; $pages pages, $rendered"
	echo "1 passed, 0 failed"
else
	echo "0 passed, 1 failed"
fi
exit $status
