#!/usr/bin/env bash
# Install libassign into a scratch DESTDIR and build the device inspector
# example against the installed headers and library using pkg-config alone
# (no include path or library path from the source tree).
# Usage: tests/install-check.sh BUILDDIR
set -euo pipefail
builddir=$(cd "${1:?usage: install-check.sh BUILDDIR}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$builddir" --destdir "$dest" --quiet >/dev/null
pcdir=$(dirname "$(find "$dest" -name libassign.pc | head -n1)")
[ -f "$pcdir/libassign.pc" ] || { echo "install-check: no libassign.pc installed"; exit 1; }
libdir=$(dirname "$(find "$dest" -name 'libassign.so.0' | head -n1)")

export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest"
cflags=$(pkg-config --cflags libassign)
libs=$(pkg-config --libs libassign)
# Headers must not need the kernel's uAPI headers or the source tree.
cc -std=c11 -Wall -Wextra -Werror -o "$dest/assign-inspect" \
	"$src/examples/inspect/assign-inspect.c" $cflags $libs
out=$(LD_LIBRARY_PATH="$libdir" "$dest/assign-inspect" --version)
case "$out" in
*"libassign $(pkg-config --modversion libassign)"*) ;;
*) echo "install-check: unexpected output: $out"; exit 1 ;;
esac
# No public header may include <linux/...>.
if grep -rn '#include <linux/' "$dest"/usr/local/include/libassign/ 2>/dev/null; then
	echo "install-check: a public header includes a kernel header"; exit 1
fi
echo "install-check: built assign-inspect with pkg-config only ($out)"
echo "1 passed, 0 failed"
