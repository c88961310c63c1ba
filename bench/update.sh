#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# update.sh - what an image update costs a node that holds the old
# version, against the tools people use for it, same nginx, same run,
# same image pairs (bench/update-pairs.sh: ext4 with a package upgraded
# in place, squashfs rebuilt after 1% of the files changed, squashfs of a
# Debian root before and after a few packages were upgraded):
#
#   full     curl of the new image
#   zsync    zsyncmake on the server (its default block size), then
#            zsync -i OLD: fetches the .zsync and the blocks it lacks
#   casync   casync make (blob index, default chunks) into a chunk store,
#            then casync extract --seed=OLD: the index and missing chunks
#   uloop    uloop publish of both versions (the new one's seed map from
#            the old), a node cache holding the old version whole, then
#            `uloop hydrate` of the new: the manifest, the seed map, the
#            tree blocks it cannot compute and the changed blocks.  No
#            step ahead of that (the others need the .zsync or index too,
#            all counted).
#
# Bytes are the nginx log's (bodies of every request each tool made);
# times the median of BENCH_ROUNDS runs (default 3), each tool writing
# the whole new version to a file (zsync, casync, curl) or the cache
# (uloop).  "ideal" is the new version's 4 KiB blocks found nowhere in
# the old one (publish's search).  Goal: uloop <= min(zsync, casync) in
# bytes on every pair.  Root (the pairs need chroot and a loop mount).
set -eu

ULOOP_TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$ULOOP_TOP/tests/integ/functions.sh"
. "$ULOOP_TOP/tests/integ/http-functions.sh"
U=$ULOOP_NET
ROUNDS=${BENCH_ROUNDS:-3}
for c in zsync zsyncmake casync curl; do
	command -v $c >/dev/null 2>&1 || { echo "bench/update: requires $c (apt-get install zsync casync curl)" >&2; exit 77; }
done
P=$(sh "$ULOOP_TOP/bench/update-pairs.sh") || fail "the image pairs could not be built"

W=$T/www
mkdir -p "$W"
start_nginx u "$W"
base="http://127.0.0.1:$u_http"
. "$(dirname "$0")/timing.sh"
logbytes() { awk '{ n += $NF } END { print n + 0 }' "$u_log"; }
mib() { echo "$1" | awk '{ printf "%.2f", $1 / 1048576 }'; }

printf 'update: bytes fetched (MiB) and seconds (median of %s) to update a node from version 1 to 2\n\n' "$ROUNDS"
printf '%-5s %8s %7s | %13s | %13s | %13s | %13s | %s\n' pair "image" "ideal" \
	"full" "zsync" "casync" "uloop" "uloop/min(zsync,casync)"
printf '%-5s %8s %7s | %6s %6s | %6s %6s | %6s %6s | %6s %6s |\n' "" MiB MiB \
	MiB s MiB s MiB s MiB s
goal=met
for pair in ${BENCH_PAIRS:-a b c}; do
	D=$W/$pair
	mkdir -p "$D"
	old=$P/${pair}1.img new=$P/${pair}2.img
	cp "$new" "$D/new.img"
	# Server side, not measured: what each tool publishes.
	$U publish "$old" "$D" --name root >/dev/null || fail "publish $old"
	rm -f "$T/c1"
	$U hydrate "$base/$pair/root.uloop" --cache "$T/c1" --no-progress >/dev/null || fail "hydrate v1 of $pair"
	$U publish "$new" "$D" --name root >"$T/pub" || fail "publish $new"
	blocks=$(sed -n 's/^blocks //p' "$D/root-2.from-1.seed")
	mapped=$(awk 'NR > 8 { n += $2 } END { print n }' "$D/root-2.from-1.seed")
	ideal=$(((blocks - mapped) * 4096))
	(cd "$D" && zsyncmake -u new.img -o new.img.zsync new.img >/dev/null 2>&1) || fail "zsyncmake"
	casync make --store="$D/store.castr" "$D/new.caibx" "$D/new.img" >/dev/null 2>&1 || fail "casync make"
	for tool in full zsync casync uloop; do
		: >"$T/t"
		for r in $(seq "$ROUNDS"); do
			rm -rf "$T/out" "$T/out.img" "$T/c" "$T/c.seed" "$T/zs"
			mkdir -p "$T/zs"
			: >"$u_log"
			case $tool in
			full) timeit curl -sfo "$T/out.img" "$base/$pair/new.img" >>"$T/t" ;;
			zsync) (cd "$T/zs" && timeit zsync -q -i "$old" -o "$T/out.img" "$base/$pair/new.img.zsync") >>"$T/t" ;;
			casync) timeit casync extract --store="$base/$pair/store.castr" --seed="$old" \
					"$base/$pair/new.caibx" "$T/out.img" >>"$T/t" ;;
			uloop) cp "$T/c1" "$T/c"
				timeit $U hydrate "$base/$pair/root.uloop" --cache "$T/c" --no-progress >>"$T/t" ;;
			esac || fail "$tool on pair $pair failed"
			[ "$r" = 1 ] && logbytes >"$T/b.$tool" && cp "$u_log" "$T/log.$pair.$tool"
			# Every tool must have made the new version.
			if [ $tool = uloop ]; then
				$U cat "$base/$pair/root.uloop" --cache "$T/c" --length "$(fsize "$new")" 2>/dev/null |
					cmp -s - "$new" || fail "uloop's cache is not $new"
			else
				cmp -s "$T/out.img" "$new" || fail "$tool did not make $new"
			fi
		done
		median <"$T/t" >"$T/s.$tool"
	done
	best=$(cat "$T/b.zsync" "$T/b.casync" | sort -n | head -n 1)
	ratio=$(echo "$(cat "$T/b.uloop") $best" | awk '{ printf "%.2f", $1 / $2 }')
	[ "$(cat "$T/b.uloop")" -le "$best" ] || goal=missed
	printf '%-5s %8s %7s | %6s %6s | %6s %6s | %6s %6s | %6s %6s | %s\n' "$pair" \
		"$(mib "$(fsize "$new")")" "$(mib $ideal)" \
		"$(mib "$(cat "$T/b.full")")" "$(cat "$T/s.full")" \
		"$(mib "$(cat "$T/b.zsync")")" "$(cat "$T/s.zsync")" \
		"$(mib "$(cat "$T/b.casync")")" "$(cat "$T/s.casync")" \
		"$(mib "$(cat "$T/b.uloop")")" "$(cat "$T/s.uloop")" "$ratio"
done
echo
echo "pairs: a = ext4, libc6 and libc-bin upgraded in place; b = squashfs, 1% of files changed;"
echo "       c = squashfs of a Debian root, $(wc -l <"$P/upgraded") packages upgraded ($(sed 's/_.*//' "$P/upgraded" | tr '\n' ' '))"
[ -n "${BENCH_KEEP_LOGS:-}" ] && cp "$T"/log.* "$BENCH_KEEP_LOGS/"
echo "goal (uloop fetches no more than zsync or casync on every pair): $goal"
