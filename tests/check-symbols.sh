#!/usr/bin/env bash
# Check that a shared library exports exactly the global symbols of its
# version script, and that every one of them is documented in a public
# header. Usage: check-symbols.sh LIB.so LIB.sym
set -euo pipefail
lib=$1 sym=$2
incdir=$(cd "$(dirname "$sym")/../include/libassign" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sed 's/@.*//' |
	grep -v '^LIBASSIGN_' | sort -u >"$tmp/exported"
# Global entries: lines "name;" between "global:" and "local:", no comments.
sed -e 's#/\*.*\*/##g' "$sym" | awk '/global:/{g=1;next} /local:/{g=0} g' |
	tr -d ' \t;' | grep -v '^$' | sort -u >"$tmp/listed"

status=0
if ! diff -u "$tmp/listed" "$tmp/exported" >"$tmp/diff"; then
	echo "exported symbols differ from $sym (- listed only, + exported only):"
	cat "$tmp/diff"
	status=1
fi
while read -r s; do
	if ! grep -q "^ \* $s() - " "$incdir"/*.h; then
		echo "exported symbol $s has no kernel-doc comment ('$s() - ...') in include/libassign/"
		status=1
	fi
done <"$tmp/exported"
n=$(wc -l <"$tmp/exported")
if [ "$status" = 0 ]; then
	echo "symbols: $n exported, all listed in the version script and documented"
	echo "1 passed, 0 failed"
else
	echo "0 passed, 1 failed"
fi
exit $status
