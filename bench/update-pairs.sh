#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# update-pairs.sh - the image pairs bench/update.sh measures, built once
# and kept in $ULOOP_DEPS/update-pairs-HASH (HASH: this script's), whose
# path is printed.  Needs root (chroot, a loop mount) and Debian's archive
# (apt-get download).
#
#   a1.img a2.img   ext4 of a Debian root; a2 is a1 with libc6 and libc-bin
#                   upgraded inside it (mounted, dpkg -i: the allocator
#                   places the new files where it likes, as on a real node)
#   b1.img b2.img   squashfs of the same root, then rebuilt with mksquashfs
#                   after 1% of its files changed (every 100th file, a few
#                   hundred bytes appended): everything after a changed
#                   file shifts by bytes
#   c1.img c2.img   squashfs of the root with older versions of a few
#                   packages, then after they are upgraded (dpkg -i of the
#                   current versions: what apt-get upgrade does)
#
# The root is the one the VM tests boot (tests/vm/debian-root.sh).  The
# older versions are the newest the archive has below the root's, found
# with apt-cache madison at build time (none is written here: the archive
# moves).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
deps=${ULOOP_DEPS:-/var/cache/uloop-deps}
hash=$(sha256sum "$0" | cut -c1-12)
out=$deps/update-pairs-$hash
say() { echo "update-pairs: $*" >&2; }
if [ -s "$out/c2.img" ]; then
	echo "$out"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || { say "needs root"; exit 77; }
for c in unsquashfs mksquashfs mkfs.ext4 apt-get apt-cache dpkg-query chroot; do
	command -v $c >/dev/null 2>&1 || { say "requires $c"; exit 77; }
done
root_sq=$(sh "$top/tests/vm/debian-root.sh") || exit 1
mkdir -p "$deps"
exec 9>"$deps/update-pairs.lock"
flock 9
[ -s "$out/c2.img" ] && { echo "$out"; exit 0; }
work=$(mktemp -d "$deps/update-pairs.tmp.XXXXXX")
mnt=""
cleanup() {
	[ -n "$mnt" ] && umount "$mnt" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
W=$work
unsquashfs -q -d "$W/base" "$root_sq" >/dev/null
mksq() { mksquashfs "$1" "$2" -noappend -quiet -no-progress >/dev/null; }

# The packages upgraded in pair c (libc6 and libc-bin alone in pair a):
# those of the root with an older version in the archive.
mkdir -p "$W/old" "$W/new"
# The newest older version of @1..., the same for all (libc6 and libc-bin
# go together) that the archive really serves, downloaded to old/ and
# the current one to new/.
older() {
	cur=$(chroot "$W/base" dpkg-query -W -f '${Version}' "$1" 2>/dev/null) || return 1
	for v in $(apt-cache madison "$1" | awk '{ print $3 }' | sort -u | sort -rV); do
		dpkg --compare-versions "$v" lt "$cur" || continue
		ok=1
		for p in "$@"; do
			(cd "$W/old" && apt-get download -q "$p=$v" >/dev/null 2>&1) &&
				(cd "$W/new" && apt-get download -q "$p=$cur" >/dev/null 2>&1) || ok=0
		done
		if [ $ok = 1 ]; then
			say "$*: $v -> $cur"
			return 0
		fi
		for p in "$@"; do rm -f "$W/old/${p}_"* "$W/new/${p}_"*; done
	done
	return 1
}
older libc6 libc-bin || :
for p in liblzma5 libpcre2-8-0 libblkid1 libmount1 libsmartcols1 libuuid1 libfdisk1; do
	older $p || :
done
ls "$W/old"/libc6_* "$W/old"/libc-bin_* >/dev/null 2>&1 ||
	{ say "the archive has no older libc6 and libc-bin"; exit 1; }
# dpkg -i of .debs inside a root, the files then removed.
install_debs() {
	mkdir -p "$1/tmp/debs"
	cp "$2"/*.deb "$1/tmp/debs/"
	chroot "$1" sh -c 'dpkg -i /tmp/debs/*.deb' >"$W/dpkg.log" 2>&1 ||
		{ tail -n 20 "$W/dpkg.log" >&2; say "dpkg -i in $1 failed"; exit 1; }
	rm -rf "$1/tmp/debs"
}
# Version 1 of pairs a and c: the root with the older versions.
cp -a "$W/base" "$W/v1"
install_debs "$W/v1" "$W/old"

# a: ext4, libc6 and libc-bin upgraded in place.
kib=$(du -sk "$W/v1" | cut -f1)
mkfs.ext4 -q -b 4096 -d "$W/v1" -E root_owner=0:0 "$W/a1.img" $((kib * 3 / 2 + 65536))k >/dev/null
cp "$W/a1.img" "$W/a2.img"
mnt=$W/mnt
mkdir -p "$mnt" "$W/libc"
mount -o loop "$W/a2.img" "$mnt"
cp "$W/new"/libc6_* "$W/new"/libc-bin_* "$W/libc/"
install_debs "$mnt" "$W/libc"
umount "$mnt"
mnt=""

# b: 1% of the files changed.
mksq "$W/base" "$W/b1.img"
cp -a "$W/base" "$W/b2"
find "$W/b2" -type f | sort | awk 'NR % 100 == 0' | while read -r f; do
	head -c 300 /dev/urandom >>"$f"
done
mksq "$W/b2" "$W/b2.img"

# c: a few packages upgraded.
mksq "$W/v1" "$W/c1.img"
install_debs "$W/v1" "$W/new"
mksq "$W/v1" "$W/c2.img"

mkdir -p "$out.tmp"
mv "$W"/[abc][12].img "$out.tmp/"
ls "$W/new" >"$out.tmp/upgraded"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
