#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2
# Files named relative to the caller's directory: the daemon works from
# "/", so attach resolves the image, the cache (not made yet), the COW
# and a FUSE device file before it detaches, and status, detach and the
# other commands that name a device find its run state the same way.
# Before, a new cache named "c" was laid out as /c, and a FUSE device
# named "dev" was taken for /dev.
. "$(dirname "$0")/functions.sh"
requires_root
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }

mkdir -p "$T/here"
make_image "$T/here/img" $((2 * 1024 * 1024))
name=uloop-rel-$$
[ ! -e "/$name.cache" ] || fail "/$name.cache exists already"
cd "$T/here" || fail "cd"
$ULOOP attach img --cache "$name.cache" --cow "$name.cow" --transport fuse \
	--device dev >/dev/null || fail "attach with relative names"
on_exit "$ULOOP detach $T/here/dev 2>/dev/null || true; rm -f /$name.cache /$name.cow"
cmp dev img || fail "the device does not read as the image"
$ULOOP status dev | grep -q "cache: *$T/here/$name.cache" || fail "status dev: $($ULOOP status dev 2>&1)"
printf 'written' | dd of=dev bs=512 seek=3 conv=notrunc,fsync 2>/dev/null || fail "write"
$ULOOP detach dev || fail "detach dev"
[ -s "$name.cache" ] && [ -s "$name.cow" ] || fail "the cache or the COW is not here: $(ls)"
[ ! -e "/$name.cache" ] && [ ! -e "/$name.cow" ] || fail "a file was made in /"
$ULOOP info "$name.cache" | grep -q "present: *512 of 512 blocks" || fail "info: $($ULOOP info "$name.cache")"
$ULOOP merge "$name.cow" --output flat || fail "merge"
[ "$(dd if=flat bs=512 skip=3 count=1 2>/dev/null | head -c 7)" = written ] || fail "the write is not in the COW"
echo "relative names: image, cache, COW and FUSE device resolved from the caller's directory"
