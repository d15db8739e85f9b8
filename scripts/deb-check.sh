#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the Debian packages (debian/) and check them the way a user gets
# them: lintian without errors, then installed with apt into a clean Debian
# root (debootstrap minbase of the host's release), where assign-inspect and
# a program using libassign-host are built with pkg-config alone and run,
# and assign-host --version runs.
#
# Usage: scripts/deb-check.sh [--refresh]      (as root, on Debian 12)
#   --refresh   rebuild the cached clean root
# Environment:
#   LIBASSIGN_DEB_CACHE  where the clean root is cached
#                        (default /var/cache/libassign-deb-check)
#   DEB_BUILD_OPTIONS    passed on (parallel=N is added when unset)
#
# The mirror is the one apt is configured with (apt-get indextargets); the
# cached root is rebuilt when that changes, when its package list changes,
# and after 30 days. Build output goes to a temporary directory, never next
# to the source tree.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prog=deb-check
say() { echo "$prog: $*"; }
die() { echo "$prog: FAILED: $*" >&2; exit 1; }

refresh=0
case "${1:-}" in
"") ;;
--refresh) refresh=1 ;;
*) die "usage: scripts/deb-check.sh [--refresh]" ;;
esac
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and apt need it)"
start=$(date +%s)
elapsed() { echo "$(($(date +%s) - start)) s"; }

cache=${LIBASSIGN_DEB_CACHE:-/var/cache/libassign-deb-check}
# What the clean root holds besides minbase: a compiler and pkg-config, as a
# user building against the packages has. Everything else must come from
# the packages' own dependencies.
base_pkgs=gcc,libc6-dev,pkgconf

# --- Tools and build dependencies, from apt ------------------------------
export DEBIAN_FRONTEND=noninteractive
tools=(build-essential debhelper dpkg-dev debootstrap lintian)
missing=()
for p in "${tools[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]}"
fi
if ! (cd "$here" && dpkg-checkbuilddeps >/dev/null 2>&1); then
	say "installing the build dependencies of debian/control"
	apt-get build-dep -y -qq --no-install-recommends "$here" >/dev/null ||
		die "apt-get build-dep $here"
fi
(cd "$here" && dpkg-checkbuilddeps) || die "build dependencies still missing (above)"

# --- Work area -------------------------------------------------------------
work=$(mktemp -d /tmp/libassign-deb-check.XXXXXX)
root="$work/root"
cleanup() {
	local m
	# Unmount whatever is mounted inside the root before deleting it, and
	# never delete across a mount point.
	if [ -d "$root" ]; then
		for m in $(awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/self/mounts | sort -r); do
			umount -l "$m" || echo "$prog: could not unmount $m" >&2
		done
		if awk -v r="$root" '$2 == r || index($2, r "/") == 1 {f=1} END {exit !f}' /proc/self/mounts; then
			echo "$prog: $root still has mounts; left in place" >&2
			return
		fi
	fi
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# --- 1. Build the packages ---------------------------------------------------
version=$(cd "$here" && dpkg-parsechangelog -SVersion)
upstream=${version%-*}
srcdir="$work/libassign-$upstream"
mkdir -p "$srcdir"
if git -C "$here" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# The working tree's files, committed or not, without ignored ones.
	(cd "$here" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -xf - -C "$srcdir"
else
	(cd "$here" && tar --exclude='./build*' --exclude=./obj-* -cf - .) | tar -xf - -C "$srcdir"
fi
if [[ " ${DEB_BUILD_OPTIONS:-} " != *" parallel="* ]]; then
	DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} parallel=$(nproc)"
fi
export DEB_BUILD_OPTIONS
say "building the packages ($version, DEB_BUILD_OPTIONS='$DEB_BUILD_OPTIONS')"
if ! (cd "$srcdir" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
	tail -n 60 "$work/build.log" >&2
	cp "$work/build.log" /tmp/libassign-deb-check-build.log
	die "dpkg-buildpackage failed (last lines above; whole log in /tmp/libassign-deb-check-build.log)"
fi
grep -E '^(Ok|Fail|Skipped|Timeout): ' "$work/build.log" | tr -s ' ' | paste -sd' ' |
	sed "s/^/$prog: unit suite during the build: /" || say "unit suite not run (nocheck)"
changes=$(ls "$work"/libassign_*.changes)
debs=()
for f in "$work"/*.deb; do
	case "$f" in *-dbgsym_*) ;; *) debs+=("$f") ;; esac
done
[ ${#debs[@]} = 5 ] || die "expected 5 packages, got: ${debs[*]##*/}"
say "built ${debs[*]##*/} ($(elapsed))"

# --- 2. lintian ---------------------------------------------------------------
lintian --fail-on error "$changes" >"$work/lintian.log" 2>&1 || {
	cat "$work/lintian.log" >&2
	die "lintian reports errors (above)"
}
grep -v '^running with root privileges' "$work/lintian.log" || true
say "lintian: $(grep -c '^E:' "$work/lintian.log" || true) errors, $(grep -c '^W:' "$work/lintian.log" || true) warnings ($(elapsed))"

# --- 3. The clean root, cached ---------------------------------------------
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$suite" ] || die "no VERSION_CODENAME in /etc/os-release"
arch=$(dpkg --print-architecture)
# The Debian archives apt uses: "URI SUITE COMPONENT" per line.
apt-get indextargets --format '$(ORIGIN) $(REPO_URI) $(RELEASE) $(COMPONENT)' \
	'Identifier: Packages' | awk '$1 == "Debian" {print $2, $3, $4}' | sort -u >"$work/archives"
mirror=$(awk -v s="$suite" '$2 == s {print $1; exit}' "$work/archives")
[ -n "$mirror" ] || die "apt has no Debian archive for $suite (apt-get indextargets); run apt-get update"
awk '{c[$1 " " $2] = c[$1 " " $2] " " $3} END {for (k in c) print "deb " k c[k]}' \
	"$work/archives" | sort >"$work/sources.list"
key=$(printf '%s\n' "$suite" "$arch" "$base_pkgs" | cat - "$work/sources.list" | sha256sum | cut -c1-12)
tarball="$cache/root-$suite-$arch-$key.tar"
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9
if [ -f "$tarball" ] && { [ "$refresh" = 1 ] || [ -n "$(find "$tarball" -mtime +30)" ]; }; then
	say "dropping the cached root $tarball"
	rm -f "$tarball"
fi
if [ ! -f "$tarball" ]; then
	say "creating the clean root: debootstrap --variant=minbase $suite from $mirror (once; cached in $cache)"
	rm -f "$cache"/root-*.tar
	mkdir "$root"
	if ! debootstrap --variant=minbase --include="$base_pkgs" "$suite" "$root" "$mirror" \
		>"$work/debootstrap.log" 2>&1; then
		tail -n 30 "$work/debootstrap.log" >&2
		[ -f "$root/debootstrap/debootstrap.log" ] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
		die "debootstrap failed (above)"
	fi
	cp "$work/sources.list" "$root/etc/apt/sources.list"
	chroot "$root" apt-get clean
	rm -rf "$root"/var/lib/apt/lists/*
	tar --numeric-owner -C "$root" -cf "$tarball.tmp" . || die "cannot write $tarball"
	mv "$tarball.tmp" "$tarball"
	say "cached the clean root in $tarball ($(du -sh "$tarball" | cut -f1), $(elapsed))"
else
	mkdir "$root"
	tar --numeric-owner -C "$root" -xf "$tarball" || die "cannot unpack $tarball"
	say "clean root unpacked from $tarball ($(elapsed))"
fi
flock -u 9

# --- 4. Install the packages into it and build against them ---------------
mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/tmp/check"
cp "${debs[@]}" "$root/tmp/check/"
cp "$here/examples/inspect/assign-inspect.c" "$here/tests/host-probe.c" "$root/tmp/check/"
cat >"$root/tmp/check/run.sh" <<'EOF'
set -euo pipefail
cd /tmp/check
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
apt-get update -qq
apt-get install -y -qq --no-install-recommends ./*.deb >apt.log 2>&1 ||
	{ cat apt.log; echo "apt-get install of the packages failed"; exit 1; }
echo "installed: $(dpkg-query -W -f='${Package} ' libassign0 libassign-dev libassign-host0 libassign-host-dev assign-host)"
version=$(pkg-config --modversion libassign)

# Dynamically and statically, with what pkg-config says and nothing else.
cc -std=c11 -Wall -Wextra -Werror -o assign-inspect assign-inspect.c \
	$(pkg-config --cflags --libs libassign)
out=$(./assign-inspect --version)
echo "assign-inspect --version: $out"
case "$out" in *"libassign $version"*) ;; *) echo "unexpected: $out"; exit 1 ;; esac
cc -std=c11 -Wall -Wextra -Werror -static -o assign-inspect-static assign-inspect.c \
	$(pkg-config --static --cflags --libs libassign)
[ "$(./assign-inspect-static --version)" = "$out" ] || { echo "static build differs"; exit 1; }

cc -std=c11 -Wall -Wextra -Werror -o host-probe host-probe.c \
	$(pkg-config --cflags --libs libassign-host)
hout=$(./host-probe) || { echo "host-probe failed: $hout"; exit 1; }
case "$hout" in *not-an-address*) ;; *) echo "host-probe: unexpected: $hout"; exit 1 ;; esac
echo "host-probe: $hout"

aout=$(assign-host --version)
echo "assign-host --version: $aout"
case "$aout" in *"$version"*) ;; *) echo "unexpected: $aout"; exit 1 ;; esac

# The man pages landed where man looks.
for page in /usr/share/man/man3/assign_iommu_map.3.gz \
	/usr/share/man/man3/assign_host_bind.3.gz /usr/share/man/man1/assign-host.1.gz; do
	[ -f "$page" ] || { echo "missing $page"; exit 1; }
done
echo "man3 pages: $(dpkg -L libassign-dev | grep -c '/man3/.') in libassign-dev," \
	"$(dpkg -L libassign-host-dev | grep -c '/man3/.') in libassign-host-dev"
EOF
chroot "$root" /bin/bash /tmp/check/run.sh 2>&1 | sed "s/^/$prog: [root] /" ||
	die "the packages do not work in a clean $suite root (above)"
say "all checks passed ($(elapsed))"
