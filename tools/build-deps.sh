#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-deps.sh - install the distribution's build dependencies of uloop
# other than libcurl (tools/build-curl.sh builds that one): libblkid's
# static archive and headers (src/devsig.c asks it for signatures before a
# cache is laid out over a device) and libzstd's (src/seedpack.c: an
# update's changed blocks, compressed).  Skips what is there; Debian/Ubuntu.
set -eu

need="libblkid-dev:blkid/blkid.h libzstd-dev:zstd.h"
missing=""
for pair in $need; do
	pkg=${pair%%:*}
	hdr=${pair#*:}
	[ -e "/usr/include/$hdr" ] || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "build-deps: need root and apt-get to install:$missing" >&2
	exit 1
fi
echo "build-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
