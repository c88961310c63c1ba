#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# checkpatch-deps.sh - print the path of checkpatch.pl, extracted once from
# Debian's kernel source tarball (linux-source-6.1, installed by
# tests/install-deps.sh) into $ULOOP_DEPS/checkpatch-6.1 with the two data
# files it reads from its own directory.  Exit 77 without the tarball.
set -eu
deps=${ULOOP_DEPS:-/var/cache/uloop-deps}
dir=$deps/checkpatch-6.1
tarball=/usr/src/linux-source-6.1.tar.xz
if [ ! -s "$dir/checkpatch.pl" ]; then
	[ -e "$tarball" ] || { echo "requires linux-source-6.1 (for checkpatch.pl)" >&2; exit 77; }
	mkdir -p "$deps"
	tmp=$(mktemp -d "$deps/checkpatch.XXXXXX")
	tar -C "$tmp" --strip-components=2 -xJf "$tarball" \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch \
		linux-source-6.1/scripts/kernel-doc
	rm -rf "$dir"
	mv "$tmp" "$dir"
fi
echo "$dir/checkpatch.pl"
