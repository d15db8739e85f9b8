#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Check that a Debian symbols file (debian/*.symbols) lists exactly the
# symbols of a version script (src/*.sym): each global symbol as
# NAME@NODE, each node as NODE@NODE, with the version of the release that
# added the node (LIBASSIGN_0.1 -> 0.1.0; one node per release,
# docs/api-conventions.md). dpkg-gensymbols checks the symbols file against
# the built library when the package is built; this catches a version
# script changed without the symbols file at every unit run.
# Usage: check-debian-symbols.sh LIB.sym PACKAGE.symbols
set -euo pipefail
sym=${1:?usage: check-debian-symbols.sh LIB.sym PACKAGE.symbols} symbols=${2:?PACKAGE.symbols}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Version script -> "NAME@NODE VERSION", comments removed.
awk '
	{
		line = $0
		out = ""
		while (line != "") {
			if (incomment) {
				i = index(line, "*/")
				if (!i) { line = ""; break }
				line = substr(line, i + 2); incomment = 0
			} else {
				i = index(line, "/*")
				if (!i) { out = out line; line = ""; break }
				out = out substr(line, 1, i - 1); line = substr(line, i + 2); incomment = 1
			}
		}
		gsub(/[ \t]/, "", out)
		if (out == "") next
		if (match(out, /^[A-Za-z_][A-Za-z0-9_.]*\{/)) {
			node = substr(out, 1, RLENGTH - 1)
			ver = node; sub(/^.*_/, "", ver); ver = ver ".0"
			print node "@" node " " ver
			global = 0
			next
		}
		if (out == "global:") { global = 1; next }
		if (out == "local:" || out ~ /^}/) { global = 0; next }
		if (global && node != "") {
			sub(/;$/, "", out)
			print out "@" node " " ver
		}
	}' "$sym" | LC_ALL=C sort >"$tmp/expected"

# Symbols file -> "NAME@NODE VERSION" (the lines that start with a space).
awk '/^ / { print $1 " " $2 }' "$symbols" | LC_ALL=C sort >"$tmp/listed"

[ -s "$tmp/expected" ] || { echo "check-debian-symbols: no symbols found in $sym"; exit 1; }
if ! diff -u "$tmp/expected" "$tmp/listed" >"$tmp/diff"; then
	echo "check-debian-symbols: $symbols does not match $sym (- in $(basename "$sym") only, + in $(basename "$symbols") only):"
	tail -n +3 "$tmp/diff" | grep '^[-+]'
	echo "0 passed, 1 failed"
	exit 1
fi
echo "check-debian-symbols: $(basename "$symbols") lists the $(wc -l <"$tmp/expected") symbols and nodes of $(basename "$sym")"
echo "1 passed, 0 failed"
