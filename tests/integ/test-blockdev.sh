#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R1 I2
# The 2007 "ulobdev" case: the source is a block device and the cache is a
# raw partition (both loop devices here).  Hydrate, export, warm rerun; a
# device holding other data is refused unless --wipe; a device too small
# gets a clear error; the source device reformatted is a new image.
. "$(dirname "$0")/functions.sh"
requires_root
requires losetup

size=$((20 * 1024 * 1024))
make_image "$T/img" $size
head -c $((32 * 1024 * 1024)) /dev/zero >"$T/flash"
head -c $((4 * 1024 * 1024)) /dev/zero >"$T/tiny"
src=$(losetup -f --show -r "$T/img") || { echo "requires loop devices"; exit 77; }
on_exit "losetup -d $src"
dev=$(losetup -f --show "$T/flash")
on_exit "losetup -d $dev"
tiny=$(losetup -f --show "$T/tiny")
on_exit "losetup -d $tiny"

$ULOOP hydrate "$src" --cache "$dev" --json --no-progress >"$T/h1"
[ "$(json_get bytes_fetched <"$T/h1")" -eq $size ] || fail "cold fetch size"
$ULOOP info "$dev" | grep -q "identity:     blkdev" || fail "not a blkdev identity"
$ULOOP export "$dev" "$T/out"
cmp "$T/out" "$T/img" || fail "export from a raw partition differs"
$ULOOP hydrate "$src" --cache "$dev" --json --no-progress >"$T/h2"
[ "$(json_get bytes_fetched <"$T/h2")" -eq 0 ] || fail "warm run fetched bytes"
$ULOOP check "$dev" --source "$src"

# Too small for the image.
expect_fail 1 "too small" $ULOOP hydrate "$src" --cache "$tiny"

# Other data on the device: refused, untouched, unless --wipe.
head -c 65536 /dev/urandom | dd of="$tiny" bs=64K conv=notrunc status=none
dd if="$tiny" of="$T/tiny.before" bs=1M status=none
expect_fail 1 "holds other data" $ULOOP hydrate "$src" --cache "$tiny"
dd if="$tiny" bs=1M status=none | cmp -s - "$T/tiny.before" || fail "foreign device modified"

# The source device gets new contents: a new image, old blocks dropped.
losetup -d "$src"
head -c 65536 /dev/urandom | dd of="$T/img" bs=64K conv=notrunc status=none
src=$(losetup -f --show -r "$T/img")
on_exit "losetup -d $src"
$ULOOP hydrate "$src" --cache "$dev" --no-progress >/dev/null 2>"$T/err"
grep -q "dropped its" "$T/err" || fail "reformatted source not detected: $(cat "$T/err")"
$ULOOP export "$dev" "$T/out"
cmp "$T/out" "$T/img" || fail "export after a source change differs"
