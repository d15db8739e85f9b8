#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Section-3 manual pages from the kernel-doc comments of the public headers,
# made by the kernel's own scripts/kernel-doc and scripts/split-man.pl. Those
# scripts are not ours and are never copied into this tree: they are taken
# at build time from a Linux source tarball or tree (Debian: linux-source-6.12,
# /usr/src/linux-source-6.12.tar.xz).
#
#   kernel-doc-man.sh find
#       print the newest /usr/src/linux-source-*.tar.xz (nothing if none)
#   kernel-doc-man.sh extract SOURCE OUTDIR
#       copy scripts/kernel-doc and scripts/split-man.pl from SOURCE (a
#       linux-source tarball or a kernel tree) into OUTDIR
#   kernel-doc-man.sh generate PERL KERNEL_DOC SPLIT_MAN VERSION OUTDIR \
#           --lib LIB HEADER... [--lib LIB HEADER...]
#       write OUTDIR/NAME.3 for each documented function, NAME.3type for each
#       struct and enum, NAME.3const for each macro of the HEADERs, which
#       belong to the library LIB (named in the pages' LIBRARY section).
#       OUTDIR is replaced.
#
# The page date is SOURCE_DATE_EPOCH's (reproducible builds), else today.
set -euo pipefail
prog=kernel-doc-man
die() { echo "$prog: $*" >&2; exit 1; }

cmd_find() {
	local t
	t=$(ls -1 /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n1) || true
	[ -n "$t" ] && echo "$t"
	return 0
}

cmd_extract() {
	local src=${1:?SOURCE} out=${2:?OUTDIR} f
	mkdir -p "$out"
	rm -f "$out/kernel-doc" "$out/split-man.pl"
	if [ -d "$src" ]; then
		for f in kernel-doc split-man.pl; do
			[ -f "$src/scripts/$f" ] || die "$src/scripts/$f not found: is $src a Linux source tree?"
			cp "$src/scripts/$f" "$out/$f"
		done
	elif [ -f "$src" ]; then
		# Only the two scripts, stopping once both are read; '*' does not
		# cross a '/', so only the top directory's scripts/ matches.
		tar -xmf "$src" -C "$out" --wildcards --no-wildcards-match-slash \
			--occurrence=1 --strip-components=2 \
			'*/scripts/kernel-doc' '*/scripts/split-man.pl' ||
			die "cannot extract scripts/kernel-doc and scripts/split-man.pl from $src"
	else
		die "$src: no such file or directory (want a linux-source tarball or a kernel tree)"
	fi
	for f in kernel-doc split-man.pl; do
		[ -s "$out/$f" ] || die "$src has no scripts/$f"
	done
}

# Rewrite one page of split-man.pl (section 9, Linux's title) into ours.
# $1 page, $2 name, $3 section, $4 library, $5 header
fix_page() {
	local page=$1 name=$2 sect=$3 lib=$4 header=$5 link
	link="-l${lib#lib}"
	awk -v name="$name" -v sect="$sect" -v date="$date" -v version="$version" \
	    -v lib="$lib" -v link="$link" -v header="$header" '
	NR == 1 {
		printf ".TH \"%s\" %s \"%s\" \"%s %s\" \"%s Manual\"\n", name, sect, date, lib, version, lib
		next
	}
	# whatis and apropos index the NAME line: "assign_iommu_opts \- ...",
	# not "struct assign_iommu_opts \- ..." (the SYNOPSIS says struct).
	prev == ".SH NAME" { sub(/^(struct|enum|union) /, "") }
	{ prev = $0 }
	$0 == ".SH SYNOPSIS" {
		print ".SH LIBRARY"
		printf "%s (\\fI%s\\fP; \\fIpkg-config \\-\\-cflags \\-\\-libs %s\\fP)\n", lib, link, lib
		print
		print ".nf"
		printf ".B #include <libassign/%s>\n", header
		print ".fi"
		print ".PP"
		next
	}
	{ print }' "$page"
}

cmd_generate() {
	local perl=${1:?PERL} kdoc=${2:?KERNEL_DOC} split=${3:?SPLIT_MAN}
	version=${4:?VERSION}
	local out=${5:?OUTDIR}
	shift 5
	[ $# -gt 0 ] || die "no headers given"
	if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
		date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
	else
		date=$(date -u +%Y-%m-%d)
	fi
	local lib='' path header raw f title name sect n=0
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir "$tmp/out"
	while [ $# -gt 0 ]; do
		if [ "$1" = --lib ]; then
			lib=${2:?--lib needs a library name}
			shift 2
			continue
		fi
		path=$1
		shift
		[ -n "$lib" ] || die "$path: no --lib before it"
		[ -f "$path" ] || die "$path: no such header"
		header=$(basename "$path")
		raw="$tmp/raw-$header"
		rm -rf "$raw"
		# kernel-doc exits non-zero on comments it cannot parse: fatal,
		# a page silently missing is worse. Its warnings go to stderr.
		"$perl" "$kdoc" -man -no-doc-sections "$path" >"$tmp/$header.man" ||
			die "kernel-doc failed on $path (see above)"
		"$perl" "$split" "$raw" <"$tmp/$header.man" 2>"$tmp/split.log" ||
			{ cat "$tmp/split.log" >&2; die "split-man.pl failed on $path"; }
		for f in "$raw"/*.9; do
			[ -e "$f" ] || die "kernel-doc found no documented symbol in $path"
			title=$(basename "$f" .9)
			case "$title" in
			"struct "* | "enum "* | "union "*) name=${title#* } sect=3type ;;
			*[a-z]*) name=$title sect=3 ;;
			*) name=$title sect=3const ;;
			esac
			[ ! -e "$tmp/out/$name.$sect" ] ||
				die "two pages named $name.$sect ($path and another header)"
			fix_page "$f" "$name" "$sect" "$lib" "$header" >"$tmp/out/$name.$sect"
			n=$((n + 1))
		done
	done
	rm -rf "$out"
	mkdir -p "$(dirname "$out")"
	cp -r "$tmp/out" "$out"
	echo "$prog: $n pages in $out"
}

case "${1:-}" in
find) shift; cmd_find "$@" ;;
extract) shift; cmd_extract "$@" ;;
generate) shift; cmd_generate "$@" ;;
*) die "usage: $0 find | extract SOURCE OUTDIR | generate PERL KERNEL_DOC SPLIT_MAN VERSION OUTDIR --lib LIB HEADER..." ;;
esac
