#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Hydrate a random 64 MiB image from a file, export it: byte-identical.
# A second hydrate, and a full cat through the warm cache, read 0 bytes
# from the source.  Repeated for the smallest, default and largest block
# sizes, with an image size that is not a multiple of any of them.
. "$(dirname "$0")/functions.sh"

size=$((64 * 1024 * 1024 + 12345))
make_image "$T/img" $size

for bs in 4K 64K 1M; do
	c=$T/cache-$bs
	$ULOOP hydrate "$T/img" --cache "$c" --block-size $bs --json >"$T/h1"
	[ "$(json_get bytes_fetched <"$T/h1")" -eq $size ] ||
		fail "cold hydrate fetched $(json_get bytes_fetched <"$T/h1"), not $size"
	[ "$(json_get blocks_present <"$T/h1")" -eq "$(json_get blocks <"$T/h1")" ] ||
		fail "cache not full after hydrate"

	$ULOOP export "$c" "$T/out"
	cmp "$T/img" "$T/out" || fail "export differs from the image ($bs)"
	[ ! -e "$T/out.uloop-part" ] || fail "export left its partial file"

	$ULOOP hydrate "$T/img" --cache "$c" --json >"$T/h2"
	[ "$(json_get bytes_fetched <"$T/h2")" -eq 0 ] ||
		fail "warm hydrate fetched bytes"
	[ "$(json_get fetches <"$T/h2")" -eq 0 ] || fail "warm hydrate made requests"

	$ULOOP cat "$T/img" --cache "$c" --stats >"$T/cat" 2>"$T/stats"
	cmp "$T/img" "$T/cat" || fail "cat through the warm cache differs ($bs)"
	[ "$(json_get bytes_fetched <"$T/stats")" -eq 0 ] ||
		fail "warm cat fetched $(json_get bytes_fetched <"$T/stats") bytes"

	$ULOOP check "$c" --source "$T/img" >"$T/chk"
	grep -q "all equal" "$T/chk" || fail "check: $(cat "$T/chk")"
	$ULOOP info "$c" --json | grep -q '"clean":true' || fail "not clean after close"
	echo "block size $bs: ok"
done

# Export to a pipe works too: the bytes, and its exit status (which the
# pipe into cmp would lose on its own).
{ $ULOOP export "$T/cache-64K" - || echo $? >"$T/export.rc"; } | cmp - "$T/img" ||
	fail "export to stdout differs"
[ ! -e "$T/export.rc" ] || fail "export to stdout exited $(cat "$T/export.rc")"
