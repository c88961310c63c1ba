#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Bad usage exits 2 naming the problem; failures exit 1 naming the object
# and the cause; --help exits 0.  Two processes on one cache: the second
# is told the cache is in use.
. "$(dirname "$0")/functions.sh"

make_image "$T/img" 1048576
expect_fail 2 "Usage: uloop COMMAND" $ULOOP
expect_fail 2 "unknown command 'frobnicate'" $ULOOP frobnicate
expect_fail 2 "--cache PATH is required" $ULOOP hydrate "$T/img"
expect_fail 2 "expected one SOURCE" $ULOOP hydrate --cache "$T/c"
expect_fail 2 "--rate: invalid value '12Q'" $ULOOP hydrate "$T/img" --cache "$T/c" --rate 12Q
expect_fail 2 "--block-size: 5000 is not a power of two" $ULOOP hydrate "$T/img" --cache "$T/c" --block-size 5000
expect_fail 2 "--block-size: invalid value '2M'" $ULOOP hydrate "$T/img" --cache "$T/c" --block-size 2M
expect_fail 2 "--connections: invalid value '0'" $ULOOP cat "$T/img" --connections 0
expect_fail 2 "--offset: invalid value '-5'" $ULOOP cat "$T/img" --offset -5
expect_fail 2 "unknown option" $ULOOP info "$T/c" --bogus
expect_fail 2 "expected CACHE and OUTPUT" $ULOOP export "$T/c"
expect_fail 1 "$T/nope: open: No such file or directory" $ULOOP hydrate "$T/nope" --cache "$T/c"
expect_fail 1 "$T/nope: open: No such file or directory" $ULOOP info "$T/nope"
expect_fail 1 "not a regular file or block device" $ULOOP cat /dev/null
: >"$T/empty"
expect_fail 1 "image is empty" $ULOOP cat "$T/empty"
# Through a file, not a pipe into grep: the exit status is checked too.
for cmd in hydrate info check export cat profile; do
	$ULOOP $cmd --help >"$T/help" || fail "$cmd --help exited $?"
	grep -q "Usage: uloop $cmd" "$T/help" || fail "$cmd --help: $(cat "$T/help")"
done
$ULOOP --help >"$T/help" || fail "uloop --help exited $?"
grep -q hydrate "$T/help" || fail "uloop --help: $(cat "$T/help")"
$ULOOP --version >"$T/help" || fail "uloop --version exited $?"
grep -q "^uloop " "$T/help" || fail "uloop --version: $(cat "$T/help")"

# An incomplete cache cannot be exported without a source.
$ULOOP cat "$T/img" --cache "$T/c" --length 1 --readahead 0 >/dev/null
expect_fail 1 "255 of 256 blocks missing; pass --source" $ULOOP export "$T/c" "$T/exported"
[ ! -e "$T/exported" ] || fail "a failed export left its output"
$ULOOP export "$T/c" "$T/exported" --source "$T/img"
cmp "$T/exported" "$T/img" || fail "export --source differs"

# One cache, two processes.
make_image "$T/big" $((64 * 1024 * 1024))
$ULOOP hydrate "$T/big" --cache "$T/cb" --rate 16M --no-progress >/dev/null &
pid=$!
on_exit "kill $pid 2>/dev/null"
sleep 0.5
expect_fail 1 "in use by another uloop process" $ULOOP hydrate "$T/big" --cache "$T/cb"
kill $pid
wait $pid 2>/dev/null || true

# SIGTERM stops a hydrate cleanly: exit 1, what came is kept, clean flag
# set, and the next run fetches only the rest.
rm -f "$T/cb"
$ULOOP hydrate "$T/big" --cache "$T/cb" --rate 16M --no-progress >/dev/null 2>"$T/err" &
pid=$!
sleep 1
kill -TERM $pid
rc=0
wait $pid || rc=$?
[ $rc -eq 1 ] || fail "hydrate exited $rc on SIGTERM"
grep -q "interrupted; .* blocks present, kept for the next run" "$T/err" ||
	fail "no interruption message: $(cat "$T/err")"
$ULOOP info "$T/cb" --json >"$T/info"
grep -q '"clean":true' "$T/info" || fail "not clean after SIGTERM"
kept=$(json_get blocks_present <"$T/info")
nblk=$(json_get blocks <"$T/info")
bs=$(json_get block_size <"$T/info")
[ "$kept" -gt 0 ] || fail "nothing kept"
$ULOOP hydrate "$T/big" --cache "$T/cb" --json --no-progress >"$T/h"
[ "$(json_get bytes_fetched <"$T/h")" -eq $(((nblk - kept) * bs)) ] ||
	fail "resume fetched $(json_get bytes_fetched <"$T/h"), expected the rest"
