#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R4
# The 2007 two-file layout, exactly as the 2007 readme specifies: the
# cache file is the image (size rounded up to the page size) and the
# bitmap has one bit per 4 KiB page, LSB first, its size rounded up to the
# page size.  A cache made by the 2007 tools (no recorded identity) is
# adopted and completed.
. "$(dirname "$0")/functions.sh"

size=$((3 * 1024 * 1024 + 1000))	# 769 pages
make_image "$T/img" $size
$ULOOP cat "$T/img" --cache "$T/c" --bitmap "$T/b" --offset $((9 * 4096)) \
	--length 4096 --readahead 0 >"$T/page9"
[ "$(fsize "$T/c")" -eq $(((size + 4095) / 4096 * 4096)) ] ||
	fail "cache file is $(fsize "$T/c") bytes"
[ "$(fsize "$T/b")" -eq 4096 ] || fail "bitmap file is $(fsize "$T/b") bytes"
# Page 9 fetched alone with 4K blocks: bit 9 = byte 1, bit 1 (0x02).
bits=$(od -An -tx1 -N4 "$T/b" | tr -d ' ')
[ "$bits" = 00020000 ] || fail "bitmap starts $bits, expected 00020000"
# The data sits at its image offset in the cache file.
dd if="$T/c" bs=4096 skip=9 count=1 status=none | cmp - "$T/page9" ||
	fail "page 9 is not at its image offset in the cache file"

$ULOOP hydrate "$T/img" --cache "$T/c" --bitmap "$T/b" --no-progress >/dev/null
$ULOOP export "$T/c" --bitmap "$T/b" "$T/out"
cmp "$T/out" "$T/img" || fail "2007 export differs"
# 769 bits: 96 bytes of 0xff, then 0x01, then zeros.
[ "$(od -An -tx1 -j96 -N2 "$T/b" | tr -d ' ')" = 0100 ] || fail "bitmap tail wrong"

# A cache written the 2007 way, by hand: pages 0-7 and 100 present.
rm -f "$T/c" "$T/b"
dd if="$T/img" of="$T/c" bs=4096 count=8 status=none
dd if="$T/img" of="$T/c" bs=4096 skip=100 seek=100 count=1 conv=notrunc status=none
truncate -s $(((size + 4095) / 4096 * 4096)) "$T/c"
# The 2007 sizing: pages / 8 bytes (truncated), at least one page.
head -c 4096 /dev/zero >"$T/b"
printf '\377' | dd of="$T/b" bs=1 seek=0 conv=notrunc status=none
printf '\020' | dd of="$T/b" bs=1 seek=12 conv=notrunc status=none
$ULOOP info "$T/c" --bitmap "$T/b" | grep -q "present:      9 of 769" ||
	fail "2007 cache not read: $($ULOOP info "$T/c" --bitmap "$T/b")"
$ULOOP check "$T/c" --bitmap "$T/b" --source "$T/img"
$ULOOP hydrate "$T/img" --cache "$T/c" --bitmap "$T/b" --json --no-progress \
	>"$T/h" 2>"$T/err"
grep -q "adopted" "$T/err" || fail "no adoption notice: $(cat "$T/err")"
[ "$(json_get bytes_fetched <"$T/h")" -eq $((size - 9 * 4096)) ] ||
	fail "adoption refetched present pages: $(json_get bytes_fetched <"$T/h")"
$ULOOP export "$T/c" --bitmap "$T/b" "$T/out"
cmp "$T/out" "$T/img" || fail "adopted 2007 cache exports wrong data"
# From now on the identity is recorded: another image drops the cache.
make_image "$T/img2" $size
$ULOOP hydrate "$T/img2" --cache "$T/c" --bitmap "$T/b" --no-progress \
	>/dev/null 2>"$T/err"
grep -q "dropped its 769 blocks" "$T/err" || fail "2007 cache not rebound: $(cat "$T/err")"
$ULOOP export "$T/c" --bitmap "$T/b" "$T/out"
cmp "$T/out" "$T/img2" || fail "rebound 2007 cache differs"
expect_fail 2 "4K blocks" $ULOOP hydrate "$T/img" --cache "$T/c" --bitmap "$T/b" --block-size 64K

# Files that are not a 2007 cache are never overwritten without --wipe.
seq 1 2000 >"$T/important.txt"
cp "$T/important.txt" "$T/important.before"
expect_fail 1 "refusing to overwrite" $ULOOP hydrate "$T/img" --cache "$T/newcache" --bitmap "$T/important.txt"
cmp "$T/important.txt" "$T/important.before" || fail "a text file given as --bitmap was overwritten"
make_image "$T/precious.dat" 40960
cp "$T/precious.dat" "$T/precious.before"
: >"$T/empty.bm"
expect_fail 1 "refusing to overwrite" $ULOOP hydrate "$T/img" --cache "$T/precious.dat" --bitmap "$T/empty.bm"
cmp "$T/precious.dat" "$T/precious.before" || fail "a data file given as --cache was overwritten"
$ULOOP hydrate "$T/img" --cache "$T/precious.dat" --bitmap "$T/empty.bm" --wipe --no-progress >/dev/null
$ULOOP check "$T/precious.dat" --bitmap "$T/empty.bm" --source "$T/img"
expect_fail 2 "name the same file" $ULOOP hydrate "$T/img" --cache "$T/x" --bitmap "$T/x"

# An export that reads while another process lays the cache out for
# another image fails instead of writing a mix of both.
make_image "$T/big1" $((24 * 1024 * 1024))
make_image "$T/big2" $((24 * 1024 * 1024))
rm -f "$T/c" "$T/b"
$ULOOP hydrate "$T/big1" --cache "$T/c" --bitmap "$T/b" --no-progress >/dev/null
( rc=0; $ULOOP export "$T/c" --bitmap "$T/b" - 2>"$T/exp.err" || rc=$?; echo $rc >"$T/exp.rc" ) |
	( sleep 1; cat >"$T/exp.out" ) &
pid=$!
sleep 0.3
$ULOOP hydrate "$T/big2" --cache "$T/c" --bitmap "$T/b" --no-progress >/dev/null 2>&1
wait
[ "$(cat "$T/exp.rc")" -eq 1 ] || fail "export across a re-layout exited $(cat "$T/exp.rc")"
grep -q "laid out anew for another image" "$T/exp.err" || fail "export: $(cat "$T/exp.err")"
