#!/bin/bash
# prepare-kernel.sh [VARIANT]
#
# Makes a guest kernel for the lab available in the cache and prints the
# path of its directory on the last line of stdout. The directory holds:
#   vmlinuz         the kernel image
#   modules/        loadable modules (uncompressed .ko), may be empty
#   modules.lab     index: "name<TAB>path-relative-to-modules/<TAB>dep,dep"
#   kernel.info     variant, package, version
#
# VARIANT:
#   debian     (default) Debian 12's kernel, `apt-get download` + dpkg-deb -x
#   backports  bookworm-backports' 6.12 unsigned image, through a private
#              apt configuration derived from this machine's apt sources
#   own        built from linux-source-6.12 with tests/lab/own-kernel.config
#
# Cache: ${LIBASSIGN_LAB_CACHE:-/var/cache/libassign-lab}. Every entry is
# built in a temporary directory and renamed into place, so an interrupted
# run leaves nothing half-made behind. A lock serialises concurrent runs.
# Progress goes to stderr.
set -euo pipefail
# The whole script is one compound command: bash parses it completely
# before running it, so editing the file during a run cannot break the run.
{

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
variant=${1:-debian}
cache=${LIBASSIGN_LAB_CACHE:-/var/cache/libassign-lab}

log() { echo "prepare-kernel: $*" >&2; }
die() { echo "prepare-kernel: ERROR: $*" >&2; exit 1; }

need() {
	local tool=$1 pkg=$2
	command -v "$tool" >/dev/null 2>&1 ||
		die "'$tool' not found; install package '$pkg' (see tests/lab/deps.txt)"
}

mkdir -p "$cache/kernels" "$cache/tmp" 2>/dev/null ||
	die "cannot create cache dir $cache; create it writable for this user or set LIBASSIGN_LAB_CACHE"
[ -w "$cache/kernels" ] ||
	die "cache dir $cache/kernels is not writable; fix its permissions or set LIBASSIGN_LAB_CACHE"

# Leftovers of interrupted runs (never used: entries are renamed into
# place only when complete).
find "$cache/tmp" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + 2>/dev/null || true

exec 9>"$cache/kernels/.lock-$variant"
if ! flock -n 9; then
	log "another run is preparing '$variant'; waiting for its lock"
	flock 9
fi

tmp=""
cleanup() { if [ -n "$tmp" ] && [ -d "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT

# Write modules.lab for the tree under $1/modules (all .ko there).
index_modules() {
	local dir=$1 f name deps
	: >"$dir/modules.lab"
	need modinfo kmod
	while IFS= read -r f; do
		name=$(basename "$f" .ko)
		name=${name//-/_}
		deps=$(modinfo -F depends "$dir/modules/$f" 2>/dev/null || true)
		printf '%s\t%s\t%s\n' "$name" "$f" "$deps" >>"$dir/modules.lab"
	done < <(cd "$dir/modules" && find . -name '*.ko' -printf '%P\n' | sort)
}

# Unpack linux-image .deb $1 into entry dir $2 (vmlinuz, modules/).
unpack_image_deb() {
	local deb=$1 out=$2 x="$2/x" kver
	need dpkg-deb dpkg
	dpkg-deb -x "$deb" "$x"
	kver=$(ls "$x/lib/modules" 2>/dev/null | head -n1)
	[ -n "$kver" ] || die "no lib/modules in $deb; is it a linux-image package?"
	[ -f "$x/boot/vmlinuz-$kver" ] || die "no boot/vmlinuz-$kver in $deb"
	mv "$x/boot/vmlinuz-$kver" "$out/vmlinuz"
	mv "$x/lib/modules/$kver/kernel" "$out/modules"
	local n
	n=$(find "$out/modules" -name '*.ko.xz' | wc -l)
	if [ "$n" -gt 0 ]; then
		need xz xz-utils
		log "decompressing $n .ko.xz modules"
		find "$out/modules" -name '*.ko.xz' -print0 | xargs -0 -r -n 64 -P "$(nproc)" xz -d
	fi
	n=$(find "$out/modules" -name '*.ko.zst' | wc -l)
	[ "$n" -eq 0 ] || die "$n modules are .ko.zst; add zstd decompression to prepare-kernel.sh"
	rm -rf "$x"
	echo "kver=$kver" >>"$out/kernel.info"
	index_modules "$out"
}

# Install a finished entry ($1 = tmp dir, $2 = final dir) atomically.
publish() {
	local src=$1 dst=$2
	sync -f "$src" 2>/dev/null || true
	mv -T "$src" "$dst"
	tmp=""
}

# apt-get download PKG into the current dir, with extra apt options "$@".
apt_download() {
	local pkg=$1; shift
	need apt-get apt
	apt-get "$@" -o APT::Sandbox::User=root -q download "$pkg" >&2 ||
		die "apt-get download $pkg failed; check network access and run 'apt-get update'"
}

prepare_debian() {
	need apt-cache apt
	local pkg ver key dst
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	[ -n "$pkg" ] || die "apt-cache does not know linux-image-amd64's kernel; run 'apt-get update' (as root)"
	ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '/^Version:/{print $2; exit}')
	[ -n "$ver" ] || die "no candidate version for $pkg; run 'apt-get update'"
	key="debian-$pkg-$ver"
	dst="$cache/kernels/$key"
	if [ -f "$dst/vmlinuz" ]; then
		log "cached: $dst"
		echo "$dst"; return
	fi
	log "fetching $pkg $ver (not installing it)"
	tmp=$(mktemp -d "$cache/tmp/$key.XXXXXX")
	mkdir "$tmp/dl"
	(cd "$tmp/dl" && apt_download "$pkg")
	printf 'variant=debian\npackage=%s\nversion=%s\n' "$pkg" "$ver" >"$tmp/kernel.info"
	unpack_image_deb "$tmp"/dl/*.deb "$tmp"
	rm -rf "$tmp/dl"
	publish "$tmp" "$dst"
	log "ready: $dst"
	echo "$dst"
}

# Print "URI<TAB>Signed-By" of the machine's apt source for suite $1.
# Reads deb822 .sources files and one-line sources.list files.
find_apt_source() {
	local suite=$1 f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v want="$suite" '
			function flush() {
				if (uris != "" && (" " suites " ") ~ (" " want " ") && types ~ /(^| )deb( |$)/ && !done) {
					split(uris, u, " "); print u[1] "\t" signed; done = 1
				}
				uris = ""; suites = ""; types = ""; signed = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			tolower($1) == "uris:"      { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
			tolower($1) == "suites:"    { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
			tolower($1) == "types:"     { $1 = ""; types = $0 }
			tolower($1) == "signed-by:" { $1 = ""; signed = $0; sub(/^ +/, "", signed) }
			END { flush() }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v want="$suite" '
			/^[ \t]*#/ { next }
			$1 == "deb" {
				i = 2; opts = ""
				if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
				if ($(i + 1) == want) {
					signed = ""
					if (match(opts, /signed-by=[^] ]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
					print $i "\t" signed; exit
				}
			}
		' "$f"
	done
}

prepare_backports() {
	need apt-get apt
	local codename uri signed line aptdir sl pkg ver key dst
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release"
	line=$(find_apt_source "$codename" | head -n1)
	[ -n "$line" ] ||
		die "no apt source for suite '$codename' in /etc/apt/sources.list{,.d}; cannot derive the backports URI"
	uri=${line%%$'\t'*}
	signed=${line#*$'\t'}
	aptdir="$cache/apt-backports"
	mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/etc/sources.list.d" "$aptdir/etc/preferences.d"
	sl="$aptdir/etc/sources.list"
	if [ -n "$signed" ]; then
		echo "deb [signed-by=$signed] $uri $codename-backports main" >"$sl.new"
	else
		echo "deb $uri $codename-backports main" >"$sl.new"
	fi
	mv "$sl.new" "$sl"
	local -a aptopts=(
		-o "Dir::Etc::sourcelist=$sl"
		-o "Dir::Etc::sourceparts=$aptdir/etc/sources.list.d"
		-o "Dir::Etc::preferencesparts=$aptdir/etc/preferences.d"
		-o "Dir::State::lists=$aptdir/lists"
		-o "Dir::Cache=$aptdir/cache"
		-o "APT::Get::List-Cleanup=0"
	)
	# Refresh the private lists at most once a day.
	if [ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]; then
		log "updating private apt lists for $codename-backports (source derived from this machine's apt config)"
		if ! apt-get "${aptopts[@]}" -o APT::Sandbox::User=root -q update >&2; then
			if [ -n "$(find "$aptdir/lists" -maxdepth 1 -name '*Packages*' 2>/dev/null | head -n1)" ]; then
				log "WARNING: apt-get update of $codename-backports failed; using the older lists"
			else
				die "apt-get update of $codename-backports failed; check network access"
			fi
		fi
	fi
	pkg=$(apt-cache "${aptopts[@]}" depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-6\.1[2-9]|Depends: linux-image-[7-9]/{print $2; exit}')
	[ -n "$pkg" ] || die "$codename-backports has no linux-image-amd64 >= 6.12 in the private lists under $aptdir"
	pkg="$pkg-unsigned"
	ver=$(apt-cache "${aptopts[@]}" show --no-all-versions "$pkg" 2>/dev/null | awk '/^Version:/{print $2; exit}')
	[ -n "$ver" ] || die "no package $pkg in $codename-backports"
	key="backports-$pkg-$ver"
	dst="$cache/kernels/$key"
	if [ -f "$dst/vmlinuz" ]; then
		log "cached: $dst"
		echo "$dst"; return
	fi
	log "fetching $pkg $ver from $codename-backports (not installing it)"
	tmp=$(mktemp -d "$cache/tmp/$key.XXXXXX")
	mkdir "$tmp/dl"
	(cd "$tmp/dl" && apt_download "$pkg" "${aptopts[@]}")
	printf 'variant=backports\npackage=%s\nversion=%s\n' "$pkg" "$ver" >"$tmp/kernel.info"
	unpack_image_deb "$tmp"/dl/*.deb "$tmp"
	rm -rf "$tmp/dl"
	publish "$tmp" "$dst"
	log "ready: $dst"
	echo "$dst"
}

prepare_own() {
	local srcpkg=linux-source-6.12 tarball ver frag hash key dst src
	tarball=/usr/src/$srcpkg.tar.xz
	frag="$here/own-kernel.config"
	[ -f "$tarball" ] || die "$tarball missing; install package $srcpkg (see tests/lab/deps.txt)"
	[ -f "$frag" ] || die "config fragment $frag missing"
	ver=$(dpkg-query -W -f='${Version}' "$srcpkg" 2>/dev/null) ||
		die "package $srcpkg is not installed; apt-get install $srcpkg"
	hash=$( { cat "$frag"; echo "$srcpkg=$ver"; } | sha256sum | cut -c1-16)
	key="own-$ver-$hash"
	dst="$cache/kernels/$key"
	if [ -f "$dst/vmlinuz" ]; then
		log "cached: $dst"
		echo "$dst"; return
	fi
	for t in make gcc bc flex bison xz; do need "$t" "$t"; done
	[ -f /usr/include/libelf.h ] || die "libelf.h missing; apt-get install libelf-dev"
	[ -f /usr/include/openssl/ssl.h ] || die "openssl headers missing; apt-get install libssl-dev"
	tmp=$(mktemp -d "$cache/tmp/$key.XXXXXX")
	local blog="$tmp/build.log"
	log "building own kernel $key (minutes on 2 cores; log: $blog)"
	log "extracting $tarball"
	tar -C "$tmp" -xJf "$tarball"
	src=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -n1)
	[ -n "$src" ] || die "no linux-source-* directory in $tarball"
	local -a mk=(make -C "$src" ARCH=x86_64 -j"$(nproc)")
	{
		"${mk[@]}" tinyconfig
		"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$frag"
		"${mk[@]}" olddefconfig
	} >>"$blog" 2>&1 || die "kernel configuration failed; see $blog"
	# Every option the fragment asks for must really be set.
	local missing=() opt want got
	while IFS='=' read -r opt want; do
		got=$(grep -E "^$opt=" "$src/.config" | head -n1 | cut -d= -f2- || true)
		[ "$got" = "$want" ] || missing+=("$opt (wanted $want, got ${got:-unset})")
	done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=' "$frag")
	if [ "${#missing[@]}" -gt 0 ]; then
		printf 'prepare-kernel: ERROR: dropped by olddefconfig: %s\n' "${missing[@]}" >&2
		die "fix tests/lab/own-kernel.config (an option whose dependencies are off is dropped silently)"
	fi
	log "config ok; make bzImage"
	local t0=$SECONDS
	"${mk[@]}" bzImage >>"$blog" 2>&1 || { tail -n 30 "$blog" >&2; die "kernel build failed; see $blog"; }
	log "bzImage built in $((SECONDS - t0)) s"
	local out="$tmp/out"
	mkdir -p "$out/modules"
	cp "$src/arch/x86/boot/bzImage" "$out/vmlinuz"
	cp "$src/.config" "$out/config"
	cp "$blog" "$out/build.log"
	: >"$out/modules.lab"
	printf 'variant=own\npackage=%s\nversion=%s\nfragment-hash=%s\nkver=%s\n' \
		"$srcpkg" "$ver" "$hash" "$(cat "$src/include/config/kernel.release" 2>/dev/null || echo unknown)" \
		>"$out/kernel.info"
	mv -T "$out" "$dst.new.$$"
	mv -T "$dst.new.$$" "$dst"
	log "ready: $dst"
	echo "$dst"
}

case "$variant" in
debian) prepare_debian ;;
backports) prepare_backports ;;
own) prepare_own ;;
-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
*) die "unknown variant '$variant'; use debian, backports or own" ;;
esac
exit
}
