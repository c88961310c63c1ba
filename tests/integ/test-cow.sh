#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2 N2
# The persistent writable layer (--cow), through a writable FUSE file:
# random writes (aligned or not) kept across detach and attach, over a
# local image and over one served by nginx through a cache; the image
# never written; a live snapshot stacks a new layer and the stack comes
# back from its top; merge flattens it (--output) or folds it down
# (--in-place, into a COW and into the image file, as uml_moo -d);
# a changed image or lower layer is refused, as UML refuses it, and so
# are a file holding other data and options that cannot go together.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires_root
requires python3
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }

W="python3 $(dirname "$0")/cow-writes.py"
size=$((8 * 1024 * 1024))
make_image "$T/img" $size
cp "$T/img" "$T/img.orig"
cp "$T/img" "$T/model"

attach() {	# attach DEV COW [SOURCE [options]]
	_dev=$1 _cow=$2
	shift 2
	$ULOOP attach "${@:-$T/img}" --transport fuse --device "$_dev" --cow "$_cow" >/dev/null
	on_exit "$ULOOP detach $_dev 2>/dev/null || true"
}

# 1. Writes over a local image, kept across a detach.
attach "$T/dev" "$T/a.cow"
$W 1 200 "$T/dev" "$T/model"
cmp "$T/dev" "$T/model" || fail "the device does not read back its writes"
$ULOOP detach "$T/dev"
cmp "$T/img" "$T/img.orig" || fail "the image was written"
attach "$T/dev" "$T/a.cow"
cmp "$T/dev" "$T/model" || fail "writes lost across detach and attach"
sleep 1.5	# the run state is rewritten every second
$ULOOP status "$T/dev" --json >"$T/st"
grep -q "\"cow\":\"$T/a.cow\"" "$T/st" || fail "status: no cow: $(cat "$T/st")"
[ "$(json_get cow_layers <"$T/st")" -eq 1 ] || fail "status: layers: $(cat "$T/st")"
[ "$(json_get cow_bytes <"$T/st")" -gt 0 ] || fail "status: cow bytes: $(cat "$T/st")"

# 2. A live snapshot: a new top over a.cow, a.cow frozen.
cp "$T/model" "$T/model.a"
$ULOOP snapshot "$T/dev" "$T/b.cow" | grep -qx "$T/b.cow" || fail "snapshot did not name its file"
expect_fail 1 "exists" $ULOOP snapshot "$T/dev" "$T/b.cow"
$W 2 100 "$T/dev" "$T/model"
sleep 1.5
$ULOOP status "$T/dev" --json >"$T/st"
[ "$(json_get cow_layers <"$T/st")" -eq 2 ] || fail "status after snapshot: $(cat "$T/st")"
$ULOOP detach "$T/dev"
attach "$T/dev" "$T/b.cow"
cmp "$T/dev" "$T/model" || fail "the stack b over a reads wrong"
$ULOOP detach "$T/dev"
$ULOOP merge "$T/a.cow" --output "$T/flat.a"
cmp "$T/flat.a" "$T/model.a" || fail "the frozen layer changed after the snapshot"
$ULOOP merge "$T/b.cow" "$T/a.cow" --output "$T/flat.b"
cmp "$T/flat.b" "$T/model" || fail "merge --output differs from the device"
expect_fail 1 "not layer 2" $ULOOP merge "$T/b.cow" "$T/b.cow" --output "$T/x"
expect_fail 2 "--output FILE or --in-place" $ULOOP merge "$T/b.cow"

# 3. In place: b into a, then a into (a copy of) the image.
$ULOOP merge "$T/b.cow" --in-place
attach "$T/dev" "$T/a.cow"
cmp "$T/dev" "$T/model" || fail "a after b was merged into it"
$ULOOP detach "$T/dev"
expect_fail 1 "was modified after this COW was made" $ULOOP attach "$T/img" \
	--transport fuse --device "$T/dev" --cow "$T/b.cow"
cp "$T/img" "$T/img.keep"
$ULOOP merge "$T/a.cow" --in-place
cmp "$T/img" "$T/model" || fail "merge --in-place into the image file"
expect_fail 1 "was modified after this COW was made" $ULOOP attach "$T/img" \
	--transport fuse --device "$T/dev" --cow "$T/a.cow"
cp "$T/img.keep" "$T/img"

# 4. What is refused, and left as it was.
head -c 65536 /dev/urandom >"$T/other"
cp "$T/other" "$T/other.orig"
expect_fail 1 "not a UML COW file (it holds other data" $ULOOP attach "$T/img" \
	--transport fuse --device "$T/dev" --cow "$T/other"
cmp "$T/other" "$T/other.orig" || fail "a foreign file was written"
# A COW of a version UML never made: its file and the reason, whole.
printf 'OOOM\000\000\000\007' >"$T/v7.cow"
head -c 4096 /dev/zero >>"$T/v7.cow"
expect_fail 1 "cow $T/v7.cow: UML COW version 7 is not one of 1, 2, 3" $ULOOP attach "$T/img" \
	--transport fuse --device "$T/dev" --cow "$T/v7.cow"
expect_fail 2 "--write-limit and --cow" $ULOOP attach "$T/img" --transport fuse \
	--device "$T/dev" --cow "$T/c.cow" --write-limit 1M
expect_fail 2 "the kmod transport is read-only" $ULOOP attach "$T/img" --cache "$T/cache" \
	--transport kmod --cow "$T/c.cow"
make_image "$T/img2" $((size / 2))
expect_fail 1 "a COW over $T/img, not over $T/img2" $ULOOP attach "$T/img2" \
	--transport fuse --device "$T/dev" --cow "$T/a.cow"
$ULOOP attach "$T/img" --transport fuse --device "$T/dev" >/dev/null
expect_fail 1 "attached without --cow" $ULOOP snapshot "$T/dev" "$T/d.cow"
$ULOOP detach "$T/dev"

# 5. Over an image served by nginx, through a cache: the COW notes the
# image's identity; a new image at the same URL is refused.
mkdir "$T/www"
cp "$T/img.orig" "$T/www/img"
start_nginx web "$T/www"
url="http://127.0.0.1:$web_http/img"
cp "$T/img.orig" "$T/model"
attach "$T/dev" "$T/h.cow" "$url" --cache "$T/hc"
$W 3 150 "$T/dev" "$T/model"
$ULOOP detach "$T/dev"
attach "$T/dev" "$T/h.cow" "$url" --cache "$T/hc"
cmp "$T/dev" "$T/model" || fail "writes over an HTTP image lost"
$ULOOP detach "$T/dev"
$ULOOP merge "$T/h.cow" --output "$T/flat.h" --cache "$T/hc"
cmp "$T/flat.h" "$T/model" || fail "merge of a COW over a URL"
grep -q "uloop:etag:" "$T/h.cow" || fail "no identity noted in the COW header"
# nginx's ETag is the file's mtime and size: a new image gets a later
# mtime here, or one made in the same second would keep the ETag.
old=$(stat -c %Y "$T/www/img")
make_image "$T/www/img" $size
touch -d "@$((old + 10))" "$T/www/img"
expect_fail 1 "changed since this COW was made over it" $ULOOP attach "$url" \
	--cache "$T/hc" --transport fuse --device "$T/dev" --cow "$T/h.cow"
# The same ETag over other bytes (a server whose ETag did not move): the
# cache finds it by its samples, and the COW is refused too.
cp "$T/img.orig" "$T/www/img"
touch -d "@$old" "$T/www/img"
attach "$T/dev" "$T/h.cow" "$url" --cache "$T/hc"
cmp "$T/dev" "$T/model" || fail "the image back at its ETag: writes lost"
$ULOOP detach "$T/dev"
make_image "$T/www/img" $size
touch -d "@$old" "$T/www/img"
expect_fail 1 "this COW was made over it (the same etag, other bytes at offset 0" $ULOOP attach "$url" \
	--cache "$T/hc" --transport fuse --device "$T/dev" --cow "$T/h.cow"
echo "cow: all checks passed"
