#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# itools-tree.sh - print the path of a Debian 12 (bookworm) tree with
# initramfs-tools installed, to build initramfs-tools images in a chroot;
# build it first if the cache has none.  Needs root, mmdebstrap and the
# machine's own apt archive (the only network it uses).
#
# Why a chroot: dracut (which the dracut tests install on this machine)
# and initramfs-tools conflict as packages; the host keeps dracut, and
# update-initramfs/mkinitramfs run here, exactly as Debian ships them.
#
# Cached as $ULOOP_DEPS/itools-tree-HASH (HASH: of this script); built in
# a temporary place and renamed into the cache, so an interrupted build
# leaves nothing half-made behind.  What is in it: the essential packages,
# initramfs-tools (with klibc-utils, kmod, udev) and busybox (the
# initramfs's shell and tools), zstd (its compressor).  About 25 s.
set -eu

deps=${ULOOP_DEPS:-/var/cache/uloop-deps}
hash=$(sha256sum "$0" | cut -c1-12)
tree=$deps/itools-tree-$hash
if [ -x "$tree/usr/sbin/mkinitramfs" ]; then
	echo "$tree"
	exit 0
fi

say() { echo "itools-tree: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "needs root to build $tree"; exit 77; }
for c in mmdebstrap apt-get flock; do
	command -v "$c" >/dev/null 2>&1 || { say "requires $c"; exit 77; }
done
mkdir -p "$deps"
exec 9>"$deps/itools-tree.lock"
flock 9
if [ -x "$tree/usr/sbin/mkinitramfs" ]; then
	echo "$tree"
	exit 0
fi
rm -rf "$deps"/itools-tree.tmp.*

# The machine's own Debian archive entries (debian-sources.sh).
. "$(dirname "$0")/debian-sources.sh"
sources=$(debian_sources) || exit 1

work=$(mktemp -d "$deps/itools-tree.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
start=$(date +%s)
say "building a Debian bookworm tree with initramfs-tools (mmdebstrap)"
echo "$sources" | mmdebstrap --mode=root --variant=essential \
	--include=initramfs-tools,busybox,zstd,usr-is-merged \
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--quiet bookworm "$work/root" - >"$work/mmdebstrap.log" 2>&1 ||
	{ tail -n 30 "$work/mmdebstrap.log" >&2; say "mmdebstrap failed"; exit 1; }
rm -rf "$work/root/etc/apt" "$work/root/var/cache/apt" "$work/root/var/lib/apt/lists"
mv "$work/root" "$tree"
say "built $tree: $(du -sm "$tree" | cut -f1) MB, $(( $(date +%s) - start )) s"
echo "$tree"
