#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run by `meson install` when installing without DESTDIR (meson.build): the
# libraries have just landed in LIBDIR, and programs find them through
# ld.so's cache, which only ldconfig updates. Packagers install into a
# DESTDIR, and their package manager runs ldconfig (Debian: a trigger).
# Usage: meson-ldconfig.sh LIBDIR
set -euo pipefail
libdir=${1:?usage: meson-ldconfig.sh LIBDIR}
if [ "$(id -u)" != 0 ]; then
	echo "ldconfig: not root, ld.so's cache is not updated; run 'ldconfig' as root" \
		"if programs do not find the libraries in $libdir"
	exit 0
fi
ldconfig_bin=$(command -v ldconfig || echo /sbin/ldconfig)
"$ldconfig_bin" || { echo "ldconfig: '$ldconfig_bin' failed" >&2; exit 1; }
if "$ldconfig_bin" -p | grep -qF " => $libdir/libassign.so.0"; then
	echo "ldconfig: ld.so's cache updated, it has $libdir/libassign.so.0"
else
	echo "ldconfig: $libdir is not in ld.so's search path (/etc/ld.so.conf):" \
		"the installed programs find the libraries through their RUNPATH;" \
		"others need an /etc/ld.so.conf.d entry or LD_LIBRARY_PATH"
fi
