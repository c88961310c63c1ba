#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-kmod.sh KVER [EXTRA MAKE ARGS] - build kmod/ out of the tree into
# build/kmod/KVER (against linux-headers-KVER) and print the path of
# uloop.ko.  Tests run side by side: a lock makes the first one build and
# the others wait for it; an unchanged tree is not rebuilt.  Exit 77 when
# the headers are not installed (tests/install-deps.sh installs them).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
kver=$1
shift
kdir=/usr/src/linux-headers-$kver
[ -d "$kdir" ] || { echo "requires linux-headers-$kver" >&2; exit 77; }
out=$top/build/kmod/$kver
mkdir -p "$out"
exec 9>"$out.lock"
flock 9
# A copy, so the source tree stays free of build products.
(cd "$top/kmod" && find . -type f ! -name '*.o' ! -name '*.ko' ! -name '*.cmd' \
	! -name '*.mod*' ! -name 'modules.order' ! -name 'Module.symvers' | cpio -pdmu --quiet "$out")
make -s -C "$kdir" M="$out" "$@" modules >"$out/build.log" 2>&1 || {
	cat "$out/build.log" >&2
	exit 1
}
echo "$out/uloop.ko"
