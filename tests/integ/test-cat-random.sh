#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# 1000 random ranges read with `uloop cat` (half through a cache that fills
# as it goes, half without a cache) equal the image byte for byte; at the
# end the partly filled cache passes `check --source`.
. "$(dirname "$0")/functions.sh"

size=$((16 * 1024 * 1024 + 777))
make_image "$T/img" $size

# Offsets and lengths from a seeded generator: reproducible failures.
awk -v n=1000 -v size=$size 'BEGIN {
	srand(42);
	for (i = 0; i < n; i++) {
		off = int(rand() * size);
		r = rand();
		len = r < 0.3 ? int(rand() * 512) + 1 : r < 0.9 ? int(rand() * 300000) + 1 : int(rand() * 3000000) + 1;
		if (off + len > size) len = size - off;
		print off, len;
	}
}' >"$T/ranges"

i=0
while read -r off len; do
	i=$((i + 1))
	tail -c +$((off + 1)) "$T/img" | head -c "$len" >"$T/want"
	if [ $((i % 2)) -eq 0 ]; then
		$ULOOP cat "$T/img" --cache "$T/c" --offset "$off" --length "$len" >"$T/got"
	else
		$ULOOP cat "$T/img" --offset "$off" --length "$len" >"$T/got"
	fi
	cmp -s "$T/want" "$T/got" || fail "range $i ($off+$len) differs"
done <"$T/ranges"
[ $i -eq 1000 ] || fail "ran $i ranges"

$ULOOP check "$T/c" --source "$T/img"
present=$($ULOOP info "$T/c" --json | json_get blocks_present)
echo "1000 ranges equal; cache holds $present blocks"
[ "$present" -gt 0 ] || fail "cache stayed empty"

# Edge ranges: the last byte, an empty read, past the end.
$ULOOP cat "$T/img" --cache "$T/c" --offset $((size - 1)) --length 1 >"$T/got"
tail -c 1 "$T/img" | cmp - "$T/got" || fail "last byte differs"
$ULOOP cat "$T/img" --offset $size --length 0 >"$T/got"
[ ! -s "$T/got" ] || fail "empty read returned bytes"
expect_fail 1 "past the end" $ULOOP cat "$T/img" --offset $((size - 1)) --length 2
