#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly C1 C4 C5
# Power-cut stand-in: kill -9 a hydrate at random moments, 50 times.  After
# every kill the cache opens, `check --source` finds every present block
# equal to the image, and the next run resumes (never starts over unless
# nothing had been committed).  The last run completes; export equals.
# Every native or compact start after a kill reads its last commit's
# blocks back (recovery after an unclean stop) and finds none bad.  The
# four layouts take turns: native, 2007, compact (its slots in fetch
# order; tests/integ/test-compact.sh kills it under a size limit) and
# uml-cow (a UML COW file).
. "$(dirname "$0")/functions.sh"

size=$((24 * 1024 * 1024 + 4321))
make_image "$T/img" $size
runs=${KILL9_RUNS:-60}

# Random delays (10..2500 ms) from a seeded generator.  Blocks are
# committed once a second (docs/cache-format.md): a kill before the first
# commit leaves nothing to check or resume from, so most kills land after
# one or two commits, at random moments of the commit cycle.  The rate
# keeps the image from being complete before the last kills.
awk -v n="$runs" 'BEGIN { srand(7); for (i = 0; i < n; i++) printf "%.3f\n", 0.01 + rand() * 2.49 }' >"$T/delays"
fmts="native 2007 compact uml-cow"
# Per layout: $T/had.FMT, the blocks present after its last kill;
# $T/partial.FMT, a line for each kill that left it partly hydrated.
for fmt in $fmts; do echo 0 >"$T/had.$fmt"; : >"$T/partial.$fmt"; done
i=0
while read -r delay; do
	i=$((i + 1))
	# The layouts in turn; small blocks make many commits.
	if [ $((i % 4)) -eq 2 ]; then
		fmt=2007 c=$T/c7 extra="--bitmap $T/b7" create=""
	elif [ $((i % 4)) -eq 3 ]; then
		fmt=compact c=$T/ck extra="" create="--format compact --block-size 16K"
	elif [ $((i % 4)) -eq 0 ]; then
		fmt=uml-cow c=$T/cu extra="" create="--format uml-cow --block-size 16K"
	else
		fmt=native c=$T/c extra="" create="--block-size 16K"
	fi
	# shellcheck disable=SC2086
	$ULOOP hydrate "$T/img" --cache "$c" $extra $create --rate 768K --connections 3 \
		--no-progress >/dev/null 2>"$T/err" &
	pid=$!
	sleep "$delay"
	kill -9 $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	# A kill is an unclean stop: a native start after one reads the last
	# commit's blocks, which a killed process (the page cache survives
	# it) never leaves bad.
	! grep -q "did not match their checksums" "$T/err" ||
		fail "run $i: a recovery after kill -9 found bad blocks: $(cat "$T/err")"
	grep -q "not closed cleanly" "$T/err" && echo "$i" >>"$T/recovered"
	[ -e "$c" ] || continue
	# shellcheck disable=SC2086
	$ULOOP check "$c" $extra --source "$T/img" >"$T/chk" 2>&1 ||
		fail "run $i (killed after ${delay}s): $(cat "$T/chk")"
	# Resumed, not started over: the blocks earlier runs committed are
	# still there (a run that dropped them shows fewer, at the latest
	# after a short run; the last run's count below is exact).
	# shellcheck disable=SC2086
	$ULOOP info "$c" $extra --json >"$T/info" || fail "run $i: info failed"
	now=$(json_get blocks_present <"$T/info")
	had=$(cat "$T/had.$fmt")
	[ "$now" -ge "$had" ] ||
		fail "run $i ($fmt, killed after ${delay}s): $now blocks present, $had before the run"
	echo "$now" >"$T/had.$fmt"
	if [ "$now" -gt 0 ] && [ "$now" -lt "$(json_get blocks <"$T/info")" ]; then
		echo "$i" >>"$T/partial.$fmt"
	fi
done <"$T/delays"
echo "$i kills, every cache consistent and never emptied; formats: $fmts"
[ -s "$T/recovered" ] || fail "no start after a kill said it recovered the last commit"
echo "$(wc -l <"$T/recovered") starts recovered the last commit after a kill, none found a bad block"
# Else the checks above only saw empty or complete caches.
for fmt in $fmts; do
	n=$(wc -l <"$T/partial.$fmt")
	[ "$n" -gt 0 ] || fail "$fmt: no kill left a partly hydrated cache"
	echo "$fmt: $n kills left a partly hydrated cache"
done

for c in $fmts; do
	case $c in
	native) set -- "$T/c" ;;
	compact) set -- "$T/ck" ;;
	uml-cow) set -- "$T/cu" ;;
	*) set -- "$T/c7" --bitmap "$T/b7" ;;
	esac
	$ULOOP info "$@" --json >"$T/info"
	bs=$(json_get block_size <"$T/info") blocks=$(json_get blocks <"$T/info")
	$ULOOP hydrate "$T/img" --cache "$@" --no-progress --json >"$T/h"
	# The last run starts from what the kills left and fetches only the
	# missing blocks: more than all of them but the last (which may be the
	# short one) and no more than all of them, whole.
	before=$(json_get blocks_present_before <"$T/h")
	fetched=$(json_get bytes_fetched <"$T/h")
	had=$(cat "$T/had.$c")
	[ "$before" -eq "$had" ] ||
		fail "$c: the last run found $before blocks present, the kills left $had"
	missing=$((blocks - before))
	[ "$fetched" -le $((missing * bs)) ] && { [ "$missing" -eq 0 ] ||
		[ "$fetched" -gt $(((missing - 1) * bs)) ]; } ||
		fail "$c: the last run fetched $fetched bytes for $missing missing blocks of $bs"
	[ "$(json_get blocks_present <"$T/h")" -eq "$blocks" ] ||
		fail "$c: the last run left $(json_get blocks_present <"$T/h") of $blocks blocks"
	$ULOOP export "$@" "$T/out"
	cmp "$T/out" "$T/img" || fail "$c: export after the kills differs"
	echo "$c: resumed from $before of $blocks blocks, fetched $fetched bytes"
done
