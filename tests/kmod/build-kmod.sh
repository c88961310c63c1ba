#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-kmod.sh KVER [EXTRA MAKE ARGS] - build kmod/ out of the tree
# against linux-headers-KVER into build/kmod/KVER (or $BUILD_KMOD_OUT),
# with the build's output in build.log there, and print the path of
# uloop.ko.  Tests run side by side: a lock makes the first one build and
# the others wait for it; an unchanged tree is not rebuilt.  Exit 77 when
# the headers are not installed (tests/install-deps.sh installs them).
#
# A Debian 13 kernel (KVER ends in +deb13-amd64: trixie's, or the newest
# of trixie-backports) is built in a trixie root with the gcc its headers
# name (tests/kmod/trixie-root.sh): Debian 12's gcc-12 cannot.  The copy is made in that root and the results brought
# back, so callers find build/kmod/KVER/uloop.ko either way.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
kver=$1
shift
kdir=/usr/src/linux-headers-$kver
chroot=""
case $kver in
*+deb13-*)
	chroot=$("$top/tests/kmod/trixie-root.sh") || exit $?
	[ -d "$chroot$kdir" ] ||
		{ echo "requires linux-headers-$kver (trixie now has $("$top/tests/kmod/trixie-root.sh" --kvers))" >&2; exit 77; }
	;;
*)
	[ -d "$kdir" ] || { echo "requires linux-headers-$kver" >&2; exit 77; }
	;;
esac
out=${BUILD_KMOD_OUT:-$top/build/kmod/$kver}
mkdir -p "$out"
exec 9>"$out.lock"
flock 9
# A copy, so the source tree stays free of build products.
copy_source() {
	(cd "$top/kmod" && find . -type f ! -name '*.o' ! -name '*.ko' ! -name '*.cmd' \
		! -name '*.mod*' ! -name 'modules.order' ! -name 'Module.symvers' |
		cpio -pdmu --quiet "$1")
}
if [ -z "$chroot" ]; then
	copy_source "$out"
	make -s -C "$kdir" M="$out" "$@" modules >"$out/build.log" 2>&1 || {
		cat "$out/build.log" >&2
		exit 1
	}
else
	# A directory per output directory (so per checkout and kernel): two
	# checkouts never build in each other's copy; kept, so an unchanged
	# tree is not rebuilt.
	in=/build/$(echo "$out" | sha256sum | cut -c1-12)
	mkdir -p "$chroot$in"
	copy_source "$chroot$in"
	# /proc for objtool (7.x reads its stack limit there), mounted in
	# a mount namespace of the build's own: gone when the build ends.
	# shellcheck disable=SC2016
	unshare -m sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' \
		sh "$chroot" "$chroot" make -s -C "$kdir" M="$in" "$@" modules >"$out/build.log" 2>&1 || {
		cat "$out/build.log" >&2
		exit 1
	}
	# Replaced only when it changed, and by a rename: a test may be
	# copying the last one into its initramfs right now.
	for f in uloop.ko Module.symvers; do
		cmp -s "$chroot$in/$f" "$out/$f" && continue
		cp "$chroot$in/$f" "$out/$f.new"
		mv "$out/$f.new" "$out/$f"
	done
fi
echo "$out/uloop.ko"
