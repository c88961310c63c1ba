#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R1 R2
# The source replaced by another file of the same size is a new image:
# detected, the old blocks dropped, never mixed with the new ones.  With
# --offline the old cache is kept and refused instead.  A source changed
# while being read fails the run, and every block that made it into the
# cache is from the old image.
. "$(dirname "$0")/functions.sh"

size=$((8 * 1024 * 1024))
make_image "$T/a" $size
make_image "$T/b" $size
cp "$T/a" "$T/img"

$ULOOP hydrate "$T/img" --cache "$T/c" --block-size 64K >/dev/null

# 1. Replaced by rename (new inode).
cp "$T/b" "$T/img.new"
mv "$T/img.new" "$T/img"
expect_fail 1 "holds another image" $ULOOP hydrate "$T/img" --cache "$T/c" --block-size 64K --offline
$ULOOP export "$T/c" "$T/out"
cmp "$T/out" "$T/a" || fail "--offline refusal changed the cache"
$ULOOP hydrate "$T/img" --cache "$T/c" --block-size 64K >/dev/null 2>"$T/err"
grep -q "held another image; dropped its 128 blocks" "$T/err" ||
	fail "no drop message: $(cat "$T/err")"
$ULOOP export "$T/c" "$T/out"
cmp "$T/out" "$T/b" || fail "cache mixes images after a rename"

# 2. Rewritten in place (same inode, new mtime), partly cached.
cp "$T/a" "$T/img2"
$ULOOP cat "$T/img2" --cache "$T/c2" --block-size 64K --length 1M >/dev/null
cat "$T/b" >"$T/img2"
$ULOOP cat "$T/img2" --cache "$T/c2" --block-size 64K --stats >"$T/out" 2>"$T/err"
grep -q "dropped its" "$T/err" || fail "in-place rewrite not detected"
cmp "$T/out" "$T/b" || fail "served old blocks after an in-place rewrite"

# 3. Changed while being read: the hydrate must stop with an error.
cp -p "$T/a" "$T/img3"
mtime=$(stat -c %.9Y "$T/img3")

$ULOOP hydrate "$T/img3" --cache "$T/c3" --block-size 64K --rate 2M --connections 2 \
	>"$T/h3" 2>"$T/e3" &
pid=$!
sleep 1
dd if="$T/b" of="$T/img3" bs=1M conv=notrunc status=none
rc=0
wait $pid || rc=$?
[ $rc -eq 1 ] || fail "hydrate over a changing source exited $rc: $(cat "$T/e3")"
grep -q "changed while in use" "$T/e3" || fail "wrong error: $(cat "$T/e3")"
# Every block the cache claims must be from the old image.
present=$($ULOOP info "$T/c3" --json | json_get blocks_present)
[ "$present" -gt 0 ] || fail "nothing was cached before the change"
$ULOOP check "$T/c3" --source "$T/a" --ignore-identity ||
	fail "a block of the new image was kept"
# Putting the old bytes and even the old mtime back is still a new image
# (ctime moved): the cache is dropped, not reused.
dd if="$T/a" of="$T/img3" bs=1M conv=notrunc status=none
touch -d "@$mtime" "$T/img3"
$ULOOP hydrate "$T/img3" --cache "$T/c3" --block-size 64K --no-progress >/dev/null 2>"$T/err"
grep -q "dropped its" "$T/err" || fail "restored mtime fooled the identity check"
echo "changed mid-read: stopped; $present blocks kept, all from the old image"
