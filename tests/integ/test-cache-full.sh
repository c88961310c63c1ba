#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: E1
# A cache on a filesystem too small for the image (a full flash): the
# command says so at once, naming the cache, and every byte read is still
# the image's; the first failed write is reported once; what was kept
# passes `check --source`; the next run reads the kept blocks locally and
# fetches only the rest.
. "$(dirname "$0")/functions.sh"
requires_root

size=$((24 * 1024 * 1024))
make_image "$T/img" $size
mkdir -p "$T/small"
mount -t tmpfs -o size=8m tmpfs "$T/small" || fail "cannot mount a tmpfs"
on_exit "umount '$T/small'"

$ULOOP cat "$T/img" --cache "$T/small/c" >"$T/got" 2>"$T/err" ||
	{ cat "$T/err"; fail "cat through a full cache failed"; }
cmp "$T/img" "$T/got" || fail "bytes read through a full cache differ from the image"
cat "$T/err"
grep -q "cache $T/small/c: its filesystem is [0-9]* MiB short of holding the rest of the image" "$T/err" ||
	fail "no shortfall note at start"
[ "$(grep -c 'pwrite of block [0-9]*: No space left on device' "$T/err")" -eq 1 ] ||
	fail "the failed write should be reported exactly once"
$ULOOP check "$T/small/c" --source "$T/img" || fail "the kept blocks are not the image's"
kept=$($ULOOP info "$T/small/c" --json | json_get blocks_present)
bs=$($ULOOP info "$T/small/c" --json | json_get block_size)
[ "$kept" -gt 0 ] || fail "nothing was kept"

# Again: still correct; the kept blocks are not fetched again.
$ULOOP cat "$T/img" --cache "$T/small/c" --stats >"$T/got" 2>"$T/err2" ||
	{ cat "$T/err2"; fail "second run failed"; }
cmp "$T/img" "$T/got" || fail "second run: bytes differ"
fetched=$(grep '^{' "$T/err2" | json_get bytes_fetched)
# (plus at most one readahead window queued before the first write failed)
[ "$fetched" -le $((size - kept * bs + 1048576)) ] ||
	fail "second run fetched $fetched bytes: the $kept kept blocks were fetched again"
echo "full cache: $kept blocks kept of $((size / bs)); reads correct both runs"
