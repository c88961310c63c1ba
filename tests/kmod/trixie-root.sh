#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# trixie-root.sh [--kvers] - print the path of a Debian 13 (trixie) build
# root for out-of-tree modules; build it first if the cache has none.
# With --kvers, print the kernel versions it has headers for instead:
# the Debian 13 guests' kernel (linux-image-amd64 of trixie, 6.12) first,
# then the newest kernel of trixie-backports.  Needs root and mmdebstrap.
#
# Why a root of its own: trixie's kernel headers name gcc-14 and pass it
# flags Debian 12's gcc-12 does not know (-fmin-function-alignment), and
# their kbuild tools link trixie's libraries.  Building in a trixie tree
# with the compiler the headers ask for is what a Debian 13 machine does,
# so a warning seen here is one its users would see.  The newest
# backport (a 7.x kernel) is here so that uloop.ko is compiled against
# the kernel API of today too (tests/kmod/test-kmod-build.sh), and DKMS
# (tests/kmod/test-dkms.sh) runs in the same tree for the same reason.
#
# What is in it: apt's minimal set, the gcc the headers depend on, make,
# pahole (the headers make BTF for modules), kmod, dkms, and the headers.
# The headers' packages are unpacked (dpkg --unpack), not configured, so
# their dependency on the kernel image is never installed: its postinst
# would build an initramfs here for nothing, and headers need none.
# About 600 MB, built in two to four minutes; cached as
# $ULOOP_DEPS/trixie-root-HASH-KVERS (HASH: of this script), built in a
# temporary place and renamed into the cache; one for kernels trixie
# has moved past is removed.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
deps=${ULOOP_DEPS:-/var/cache/uloop-deps}
ta=$top/tools/trixie-apt.sh
say() { echo "trixie-root: $*" >&2; }
image_kver() {	# image_kver [/RELEASE]: the kernel linux-image-amd64 names
	"$ta" apt-cache depends "linux-image-amd64$1" 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n 1
}
guest=$(image_kver "")
newest=$(image_kver /trixie-backports)
[ -n "$guest" ] || { say "trixie's package index names no linux-image-amd64"; exit 77; }
kvers=$guest
[ -z "$newest" ] || [ "$newest" = "$guest" ] || kvers="$kvers $newest"
if [ "${1:-}" = --kvers ]; then
	echo "$kvers"
	exit 0
fi

hash=$(sha256sum "$0" | cut -c1-12)
root=$deps/trixie-root-$hash-$(echo "$kvers" | tr ' ' '_')
ready() {
	for _k in $kvers; do
		[ -s "$root/usr/src/linux-headers-$_k/Module.symvers" ] || return 1
	done
}
if ready; then
	echo "$root"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || { say "needs root to build $root"; exit 77; }
command -v mmdebstrap >/dev/null 2>&1 || { say "requires mmdebstrap"; exit 77; }
mkdir -p "$deps"
exec 9>"$deps/trixie-root.lock"
flock 9
if ready; then
	echo "$root"
	exit 0
fi
# A killed build's leftovers, and this script's roots for kernels trixie
# has moved past (another version of it may be in use by another tree).
rm -rf "$deps"/trixie-root.tmp.* "$deps/trixie-root-$hash"-*

work=$(mktemp -d "$deps/trixie-root.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
# Each kernel's headers: the arch package, its common part, its kbuild
# tools; and the compilers they name.
mkdir -p "$work/debs"
pkgs=""
for k in $kvers; do
	short=${k%-amd64}
	pkgs="$pkgs linux-headers-$k linux-headers-$short-common linux-kbuild-$short"
done
# shellcheck disable=SC2086
(cd "$work/debs" && "$ta" apt-get download -qq $pkgs) >"$work/dl.log" 2>&1 ||
	{ cat "$work/dl.log" >&2; say "could not download$pkgs from trixie"; exit 1; }
# shellcheck disable=SC2046,SC2086
gccs=$("$ta" apt-cache depends $(printf 'linux-headers-%s ' $kvers) |
	sed -n 's/^ *Depends: \(gcc-[0-9]*\(-for-host\)\{0,1\}\)$/\1/p' | sort -u | tr '\n' ',')

say "building a Debian trixie root for linux-headers of $kvers with mmdebstrap"
start=$(date +%s)
# The private sources file trixie-apt.sh keeps (it exists once it ran).
# The hook's $1 is mmdebstrap's, not ours.
# shellcheck disable=SC2016
mmdebstrap --mode=root --variant=apt \
	--include="${gccs}make,pahole,kmod,dkms,libelf1t64,libssl3t64,bc,patch" \
	--aptopt='APT::Install-Recommends "false"' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--customize-hook="copy-in $work/debs /tmp" \
	--customize-hook='chroot "$1" sh -c "dpkg --unpack /tmp/debs/*.deb && rm -rf /tmp/debs"' \
	--quiet trixie "$work/root" "$deps/trixie-apt/trixie.sources" >"$work/mmdebstrap.log" 2>&1 ||
	{ tail -n 30 "$work/mmdebstrap.log" >&2; say "mmdebstrap failed"; exit 1; }
for k in $kvers; do
	[ -s "$work/root/usr/src/linux-headers-$k/Module.symvers" ] ||
		{ say "no linux-headers-$k in the new root"; exit 1; }
done
mv "$work/root" "$root"
say "ready in $(($(date +%s) - start)) s: $root"
echo "$root"
