#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly E2
# Damage on the flash under a cache (format 2 checksums): a flipped byte
# in cached data, a bit flipped in the bitmap, a read the flash fails.
# Nothing wrong is ever served: the block fails its CRC (or its read), is
# taken back, fetched again from the source and rewritten, counted in
# `uloop status`; `uloop check` names damaged blocks without a source; a
# flash that keeps failing is given up with one warning, and what is
# fetched from then on is kept in RAM (a daemon reads it once).
. "$(dirname "$0")/functions.sh"
requires python3

size=$((4 * 1024 * 1024))
make_image "$T/img" $size
$ULOOP hydrate "$T/img" --cache "$T/c" --block-size 64K --no-progress >/dev/null
data_off=$($ULOOP info "$T/c" | sed -n 's/^data: *offset \([0-9]*\),.*/\1/p')
[ -n "$data_off" ] || fail "no data offset in uloop info"

# 1. One byte of block 5.
flip_byte "$T/c" $((data_off + 5 * 65536 + 1000))
expect_fail 1 "block 5 (image offset 327680): checksum mismatch" $ULOOP check "$T/c"
$ULOOP cat "$T/img" --cache "$T/c" --block-size 64K >"$T/out" 2>"$T/err"
cmp "$T/out" "$T/img" || fail "served damaged data"
grep -q "block 5 (image offset 327680): checksum mismatch .*; fetched again from the source" "$T/err" ||
	fail "no warning: $(cat "$T/err")"
$ULOOP check "$T/c" | grep -q "64 of 64 blocks present, all matching their checksums" ||
	fail "block 5 not rewritten"
$ULOOP check "$T/c" --source "$T/img" >/dev/null

# 2. check with --source names a damaged block once, as damaged.
flip_byte "$T/c" $((data_off + 9 * 65536))
expect_fail 1 "1 of 64 present blocks differ from $T/img or fail their checksum" \
	$ULOOP check "$T/c" --source "$T/img"
grep -c "block 9" "$T/err" | grep -qx 1 || fail "block 9 reported $(grep -c 'block 9' "$T/err") times"
$ULOOP hydrate "$T/img" --cache "$T/c" --block-size 64K --no-progress >/dev/null 2>&1	# no read: still bad
$ULOOP cat "$T/img" --cache "$T/c" --block-size 64K --offset $((9 * 65536)) --length 65536 >"$T/out" 2>/dev/null
dd if="$T/img" bs=64K skip=9 count=1 status=none | cmp -s - "$T/out" || fail "block 9 served damaged"
$ULOOP check "$T/c" >/dev/null || fail "block 9 not rewritten"

# 3. A read the flash fails (an injected EIO under block 2's data).
ULOOP_FAILPOINT=cache-read-eio:3 $ULOOP_FP cat "$T/img" --cache "$T/c" --block-size 64K >"$T/out" 2>"$T/err"
cmp "$T/out" "$T/img" || fail "served data after a read error"
grep -q "Input/output error.*fetched again from the source" "$T/err" ||
	fail "no read-error warning: $(cat "$T/err")"

# 4. Through a daemon: the counters in uloop status.
if [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; then
	flip_byte "$T/c" $((data_off + 20 * 65536 + 5))
	$ULOOP attach "$T/img" --cache "$T/c" --block-size 64K --transport fuse --device "$T/dev" >/dev/null
	on_exit "$ULOOP detach $T/dev 2>/dev/null || true"
	cmp "$T/dev" "$T/img" || fail "the device served damaged data"
	sleep 1.5	# the run state is written every second
	$ULOOP status "$T/dev" >"$T/st"
	grep -q "flash:  1 checksum errors, 0 read errors, 1 blocks fetched again, 0 bitmap sectors bad" "$T/st" ||
		fail "status: $(cat "$T/st")"
	$ULOOP status "$T/dev" --json | grep -q '"cache_csum_errors":1' || fail "no JSON counter"
	$ULOOP detach "$T/dev"
	$ULOOP check "$T/c" --source "$T/img" >/dev/null
fi

# 5. A flash that keeps failing: 20 damaged blocks, given up after 16 with
# one warning; every byte still right.
i=30
while [ $i -lt 50 ]; do
	flip_byte "$T/c" $((data_off + i * 65536 + 77))
	i=$((i + 1))
done
$ULOOP cat "$T/img" --cache "$T/c" --block-size 64K >"$T/out" 2>"$T/err"
cmp "$T/out" "$T/img" || fail "served damaged data from a failing flash"
[ "$(grep -c "no longer used" "$T/err")" -eq 1 ] || fail "give-up warnings: $(cat "$T/err")"
# 5 faults are told at most, whoever meets them (a read, or the bind's
# sample of 3 random cached blocks, which may land on damaged ones): the
# kernel log would drop the give-up line after 10 (ULO_CACHE_TOLD_FAULTS).
[ "$(grep -c "fetched again from the source" "$T/err")" -le 5 ] || fail "more than 5 fault lines"
grep -q "no longer used (blocks fetched from now on are kept in RAM, at most [0-9]* MiB)" "$T/err" ||
	fail "the give-up warning does not say the blocks go to RAM: $(cat "$T/err")"

# 6. The same under a daemon: dropped to RAM, so what it read once after
# giving up is not fetched again (before, every read went to the source).
if [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; then
	$ULOOP hydrate "$T/img" --cache "$T/c2" --block-size 64K --no-progress >/dev/null
	i=30
	while [ $i -lt 50 ]; do
		flip_byte "$T/c2" $((data_off + i * 65536 + 77))
		i=$((i + 1))
	done
	$ULOOP attach "$T/img" --cache "$T/c2" --block-size 64K --transport fuse --device "$T/dev2" >/dev/null
	on_exit "$ULOOP detach $T/dev2 2>/dev/null || true"
	fetched() { sleep 1.5; $ULOOP status "$T/dev2" --json | sed -n 's/.*"bytes_fetched":\([0-9]*\).*/\1/p'; }
	# Read 1 gives up (the blocks it had from the flash are taken back);
	# read 2 fetches those once more, into RAM; read 3 fetches nothing.
	for n in 1 2 3; do
		echo 3 >/proc/sys/vm/drop_caches
		cmp "$T/dev2" "$T/img" || fail "the device served damaged data (read $n)"
		eval "f$n=\$(fetched)"
	done
	$ULOOP status "$T/dev2" >"$T/st"
	echo "given up: fetched $f1, $f2, $f3 bytes after reads 1-3"
	grep -q "given up, [1-9][0-9]* bytes kept in RAM" "$T/st" || fail "status: $(cat "$T/st")"
	[ -n "$f2" ] && [ "$f2" -gt 0 ] && [ "$f3" = "$f2" ] ||
		fail "read 3 fetched again ($f2 then $f3 bytes)"
	$ULOOP detach "$T/dev2"
fi
echo "damage found, refetched, never served"
