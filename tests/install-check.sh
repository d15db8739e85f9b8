#!/usr/bin/env bash
# Install libassign into a scratch DESTDIR and build against the installed
# headers and libraries with pkg-config alone (no include or library path
# from the source tree):
#  - the device inspector, dynamically and statically (pkg-config --static);
#  - a program using libassign-host;
#  - the example of README.md ("Using the library");
# and check the split: libassign needs libc (and pthread) only, libudev and
# libnl are libassign-host's, and libassign's cflags name no libnl path.
# Usage: tests/install-check.sh BUILDDIR
set -euo pipefail
builddir=$(cd "${1:?usage: install-check.sh BUILDDIR}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
fail() { echo "install-check: $*"; echo "0 passed, 1 failed"; exit 1; }

meson install -C "$builddir" --destdir "$dest" --quiet >/dev/null
pcdir=$(dirname "$(find "$dest" -name libassign.pc | head -n1)")
[ -f "$pcdir/libassign.pc" ] || fail "no libassign.pc installed"
libdir=$(dirname "$(find "$dest" -name 'libassign.so.0' | head -n1)")
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest"

# The core library links libc and pthread only.
needed=$(readelf -d "$libdir/libassign.so.0" | awk '/NEEDED/ {print $5}')
case "$needed" in
*udev* | *libnl*) fail "libassign.so needs $(echo $needed)" ;;
esac
cflags=$(pkg-config --cflags libassign)
case "$cflags" in
*libnl* | *udev*) fail "libassign's cflags leak another library's path: $cflags" ;;
esac

# Headers must not need the kernel's uAPI headers or the source tree.
libs=$(pkg-config --libs libassign)
cc -std=c11 -Wall -Wextra -Werror -o "$dest/assign-inspect" \
	"$src/examples/inspect/assign-inspect.c" $cflags $libs
out=$(LD_LIBRARY_PATH="$libdir" "$dest/assign-inspect" --version)
case "$out" in
*"libassign $(pkg-config --modversion libassign)"*) ;;
*) fail "unexpected output: $out" ;;
esac

# README.md's example, as a reader would build it (in the compiler's
# default C dialect: it uses MAP_ANONYMOUS, which strict C11 hides).
python3 "$src/examples/readme/extract.py" "$src/README.md" "$dest/readme-example.c"
cc -Wall -Wextra -Werror -o "$dest/readme-example" \
	"$dest/readme-example.c" $cflags $libs ||
	fail "README.md's example does not build against the installed headers"

# Statically, with what pkg-config --static says and nothing else.
cc -std=c11 -Wall -Wextra -Werror -static -o "$dest/assign-inspect-static" \
	"$src/examples/inspect/assign-inspect.c" \
	$(pkg-config --static --cflags libassign) \
	$(pkg-config --static --libs libassign)
readelf -d "$dest/assign-inspect-static" | grep -q NEEDED &&
	fail "assign-inspect-static is not static"
out_static=$(env -u LD_LIBRARY_PATH "$dest/assign-inspect-static" --version)
[ "$out_static" = "$out" ] || fail "static build says '$out_static'"

# libassign-host: its own .so, .pc and header; it carries libudev and libnl.
if [ -f "$pcdir/libassign-host.pc" ]; then
	hneeded=$(readelf -d "$libdir/libassign-host.so.0" | awk '/NEEDED/ {print $5}')
	case "$hneeded" in
	*libudev*) ;;
	*) fail "libassign-host.so does not need libudev: $(echo $hneeded)" ;;
	esac
	case "$hneeded" in
	*libnl-route*) ;;
	*) fail "libassign-host.so does not need libnl-route: $(echo $hneeded)" ;;
	esac
	cc -std=c11 -Wall -Wextra -Werror -o "$dest/host-probe" "$src/tests/host-probe.c" \
		$(pkg-config --cflags --libs libassign-host)
	hout=$(LD_LIBRARY_PATH="$libdir" "$dest/host-probe") ||
		fail "host-probe failed"
	case "$hout" in
	*not-an-address*) ;;
	*) fail "host-probe: unexpected message: $hout" ;;
	esac
fi

# The section-3 pages (when built, -Dman): man finds every exported
# function's page in the installed tree.
man3=$(find "$dest" -type d -path '*/man/man3' | head -n1)
if [ -n "$man3" ]; then
	missing=0
	for s in $(sed -e 's#/\*.*\*/##g' "$src"/src/*.sym | awk '/global:/{g=1;next} /local:/{g=0} g' | tr -d ' \t;'); do
		if command -v man >/dev/null; then
			MANPATH=$(dirname "$man3") man -w "$s" >/dev/null 2>&1 || { echo "no man page for $s"; missing=1; }
		else
			[ -f "$man3/$s.3" ] || { echo "no man page for $s"; missing=1; }
		fi
	done
	[ "$missing" = 0 ] || fail "exported functions without an installed man page (above)"
	echo "install-check: every exported function has an installed man page"
else
	echo "install-check: man pages not built (-Dman, see CONTRIBUTING.md); not checked"
fi

# No public header may include <linux/...>.
if grep -rn '#include <linux/' "$dest"/usr/local/include/libassign/ 2>/dev/null; then
	fail "a public header includes a kernel header"
fi
echo "install-check: built assign-inspect (shared and static) and README.md's example with pkg-config only ($out)"
echo "1 passed, 0 failed"
