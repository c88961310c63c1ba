#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Power-cut stand-in: kill -9 a hydrate at random moments, 50 times.  After
# every kill the cache opens, `check --source` finds every present block
# equal to the image, and the next run resumes (never starts over unless
# nothing had been committed).  The last run completes; export equals.
. "$(dirname "$0")/functions.sh"

size=$((24 * 1024 * 1024 + 4321))
make_image "$T/img" $size
runs=${KILL9_RUNS:-50}

# Random delays (10..900 ms) from a seeded generator.
awk -v n="$runs" 'BEGIN { srand(7); for (i = 0; i < n; i++) printf "%.3f\n", 0.01 + rand() * 0.89 }' >"$T/delays"
fmts="native 2007"
i=0
while read -r delay; do
	i=$((i + 1))
	# Alternate the two layouts; small blocks make many commits.
	if [ $((i % 2)) -eq 0 ]; then
		c=$T/c7 extra="--bitmap $T/b7" create=""
	else
		c=$T/c extra="" create="--block-size 16K"
	fi
	# shellcheck disable=SC2086
	$ULOOP hydrate "$T/img" --cache "$c" $extra $create --rate 12M --connections 3 \
		--no-progress >/dev/null 2>"$T/err" &
	pid=$!
	sleep "$delay"
	kill -9 $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	[ -e "$c" ] || continue
	# shellcheck disable=SC2086
	$ULOOP check "$c" $extra --source "$T/img" >"$T/chk" 2>&1 ||
		fail "run $i (killed after ${delay}s): $(cat "$T/chk")"
done <"$T/delays"
echo "$i kills, every cache consistent; formats: $fmts"

for c in native 2007; do
	if [ $c = native ]; then set -- "$T/c"; else set -- "$T/c7" --bitmap "$T/b7"; fi
	$ULOOP hydrate "$T/img" --cache "$@" --no-progress >/dev/null
	$ULOOP export "$@" "$T/out"
	cmp "$T/out" "$T/img" || fail "$c: export after the kills differs"
done
