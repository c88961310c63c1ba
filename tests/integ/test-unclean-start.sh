#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: C5
# An unclean stop is noticed and recovered from (docs/cache-format.md,
# "Recovery after an unclean stop"):
#
#  - SIGTERM: the cache is closed clean; the next start checks nothing and
#    says nothing about it;
#  - SIGKILL: the header says not clean and names the last commit's blocks;
#    the next start reads those against their checksums and says so, with
#    0 bad, and the generation it found;
#  - a flash that lost a block of the last commit (a byte flipped in it
#    after the kill): that block alone is taken back and fetched again at
#    the start (4 KiB), the cache checks out against the image;
#  - a block of an older commit damaged the same way is not read by the
#    recovery (its cost is the last commit's extents); the read path's own
#    check finds it.
. "$(dirname "$0")/functions.sh"

[ -x "$ULOOP_FP" ] || fail "missing $ULOOP_FP (make test-bins)"
size=$((32 * 1024 * 1024 + 100))
make_image "$T/img" $size

info() { $ULOOP info "$T/c" --json >"$T/info" || fail "info failed"; }
clean() { grep -q '"clean":true' "$T/info"; }

run_then() {	# run_then SIGNAL: hydrate at a rate, send SIGNAL after 2.5 s
	$ULOOP hydrate "$T/img" --cache "$T/c" --block-size 4K --rate 1M \
		--no-progress >/dev/null 2>"$T/err" &
	pid=$!
	sleep 2.5
	kill -"$1" $pid
	wait $pid 2>/dev/null || true
}

killed_at() {	# killed_at FAILPOINT [OPTION]...: a new cache, hydrate killed there
	_fp=$1
	shift
	rm -f "$T/c"
	rc=0
	ULOOP_FAILPOINT=$_fp $ULOOP_FP hydrate "$T/img" --cache "$T/c" --block-size 4K \
		--no-progress "$@" >/dev/null 2>&1 || rc=$?
	[ $rc -eq 137 ] || fail "hydrate was not killed at $_fp (exit $rc)"
	info
	data_off=$($ULOOP info "$T/c" | sed -n 's/^data: *offset \([0-9]*\),.*/\1/p')
}

# 1. SIGTERM: clean; the next start is silent about it.
run_then TERM
info
clean || fail "after SIGTERM the cache is not marked clean: $(cat "$T/info")"
run_then TERM
! grep -q "not closed cleanly" "$T/err" || fail "a clean cache was recovered: $(cat "$T/err")"
echo "SIGTERM: closed clean; the next start checked nothing"

# 2. SIGKILL: not clean, the epoch recorded; the next start checks it.
run_then KILL
info
! clean || fail "after SIGKILL the cache says clean"
gen=$(json_get generation <"$T/info")
n=$(json_get last_commit_blocks <"$T/info")
[ "$n" -gt 0 ] || fail "the header names no blocks of the last commit: $(cat "$T/info")"
run_then TERM
grep -q "not closed cleanly (generation $gen); the [0-9]* blocks of its last commit match their checksums" "$T/err" ||
	fail "no recovery line after SIGKILL: $(cat "$T/err")"
$ULOOP check "$T/c" --source "$T/img" >/dev/null || fail "check after the recovery"
echo "SIGKILL: the next start read the last commit's blocks ($n named), all good"

# 3. Killed once the first commit's bits are on disk (a first commit: every
# present block is the epoch's); a block of it loses a byte (the flash lied
# about the flush).
killed_at bits-synced:1
present=$(json_get blocks_present <"$T/info")
[ "$(json_get last_commit_blocks <"$T/info")" -ge "$present" ] ||
	fail "the epoch names $(json_get last_commit_blocks <"$T/info") blocks, the commit wrote $present"
# The first extent's first block.
blk=$(sed -n 's/.*"last_commit":\[{"start":\([0-9]*\),.*/\1/p' "$T/info")
[ -n "$blk" ] || fail "no epoch extents in uloop info --json: $(cat "$T/info")"
flip_byte "$T/c" $((data_off + blk * 4096 + 5))
$ULOOP hydrate "$T/img" --cache "$T/c" --no-progress --json >"$T/h" 2>"$T/err" ||
	fail "hydrate after the kill: $(cat "$T/err")"
grep -q "1 of the $present blocks of its last commit did not match their checksums and are fetched again (the first: .*block $blk " "$T/err" ||
	fail "the damaged block was not named: $(cat "$T/err")"
[ "$(json_get bytes_fetched <"$T/h")" = 4096 ] ||
	fail "fetched $(json_get bytes_fetched <"$T/h") bytes, not the one block"
$ULOOP check "$T/c" --source "$T/img" >/dev/null || fail "check after recovering block $blk"
echo "a lost block of the last commit: taken back at the start, 4 KiB fetched"

# 4. Three commits; block 0 (the first) damaged, the kill after the third.
killed_at bits-synced:3 --rate 2M
last=$(json_get last_commit_blocks <"$T/info")
present=$(json_get blocks_present <"$T/info")
[ "$last" -lt "$present" ] || fail "the last commit ($last blocks) is all there is ($present)"
flip_byte "$T/c" $((data_off + 5))
run_then TERM
grep -q "the $last blocks of its last commit match their checksums" "$T/err" ||
	fail "not just the last commit's $last blocks read at the start, or one was bad: $(cat "$T/err")"
# The start's sample of the cache may read block 0 (and fetch it again);
# else `uloop check` finds it.  Either way a read found it, not recovery.
if ! grep -q "block 0 (image offset 0): checksum mismatch.*fetched again" "$T/err"; then
	expect_fail 1 "block 0 (image offset 0): checksum mismatch" $ULOOP check "$T/c"
fi
echo "an older commit's damage: left to the read path, which finds it"
