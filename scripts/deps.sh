#!/usr/bin/env bash
# Install what libassign needs to build, test and run its lab on Debian 12.
# Idempotent: asks apt only for packages that are missing. Run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(
	# build
	gcc make meson ninja-build pkg-config
	libudev-dev libnl-3-dev libnl-route-3-dev
	# man pages: the kernel's scripts/kernel-doc (docs/man)
	linux-source-6.12
	# unit tests, sanitizers, fuzzing, benchmarks
	libcmocka-dev clang libclang-rt-14-dev llvm valgrind
	# the format check (scripts/check-format.sh: git clang-format)
	git clang-format
	# host tool and netns tests
	iproute2 udev
)
# The lab (QEMU guest kernels, initramfs, own kernel build)
while read -r p; do
	case "$p" in '' | '#'*) ;; *) pkgs+=("$p") ;; esac
done <"$here/tests/lab/deps.txt"

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run this script as root (apt-get needs it)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} packages"
