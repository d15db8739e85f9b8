#!/usr/bin/env bash
# Set up and run every test of libassign: the unit suite (cmocka against the
# mock kernel), the exported-ABI check, the install/pkg-config check, and
# the lab suite (the library against real vfio-pci inside QEMU guests).
# Usage: scripts/test.sh [--no-lab]      (run as root on Debian 12)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
lab=1
[ "${1:-}" = "--no-lab" ] && lab=0

scripts/deps.sh
builddir=${BUILDDIR:-build-test}
# -Dman=enabled: deps.sh installs kernel-doc, so the man pages and their
# test must not be skipped quietly.
if [ -d "$builddir" ]; then
	meson setup --reconfigure "$builddir" -Dwerror=true -Dman=enabled >/dev/null
else
	meson setup "$builddir" -Dwerror=true -Dman=enabled >/dev/null
fi
ninja -C "$builddir"

status=0
meson test -C "$builddir" --suite unit --print-errorlogs || status=1
tests/install-check.sh "$builddir" || status=1
if [ "$lab" = 1 ]; then
	meson test -C "$builddir" --suite lab --print-errorlogs || status=1
else
	echo "test.sh: WARNING: LAB SUITE NOT RUN (--no-lab): this is not a full test run" >&2
fi
if [ "$status" = 0 ]; then
	echo "test.sh: all suites passed"
else
	echo "test.sh: FAILED (see above)" >&2
fi
exit $status
