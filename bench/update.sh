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
# bytes on every pair.  Then the boot after an update against a warm
# boot (below).  Root (the pairs need chroot and a loop mount; the boot,
# FUSE and a loop device).
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
	cp "$T/c1" "$T/c1.$pair"	# version 1 whole, for the boot below
	cp "$T/c" "$T/c2.$pair"		# version 2 whole (the last uloop run)
	echo "$ideal" >"$T/ideal.$pair"
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

# The boot after an update: every file of version 2 read through the
# device (attach --transport fuse, the image mounted read-only, the page
# cache dropped first), from the attach on: warm (a cache of version 2),
# update (a cache of version 1: the seed), and the time one curl takes to
# fetch as many bytes as the update changed.  Goal: update <= warm + fetch.
# ULOOP_ATTACH_OPTS: more attach options for both (e.g. "--readahead 0").
boot_read() {	# boot_read PAIR CACHE: seconds
	_t0=$(now)
	# shellcheck disable=SC2086
	$U attach "$base/$1/root.uloop" --cache "$2" --transport fuse --device "$T/dev" ${ULOOP_ATTACH_OPTS:-} \
		>/dev/null 2>"$T/attach.err" || { cat "$T/attach.err" >&2; return 1; }
	_l=$(losetup -r -f --show "$T/dev") || return 1
	mkdir -p "$T/mnt"
	if [ "$1" = a ]; then mount -o ro,noload "$_l" "$T/mnt"; else mount -o ro "$_l" "$T/mnt"; fi ||
		{ losetup -d "$_l"; $U detach "$T/dev" >/dev/null; return 1; }
	find "$T/mnt" -type f -exec cat {} + >/dev/null
	_t1=$(now)
	umount "$T/mnt"
	losetup -d "$_l"
	$U detach "$T/dev" >/dev/null 2>&1
	echo "$_t0 $_t1" | awk '{ printf "%.3f\n", $2 - $1 }'
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
printf '\nboot after an update: every file of version 2 read through a FUSE device, seconds from the attach (median of %s)\n\n' "$ROUNDS"
printf '%-5s | %7s %7s %7s | %11s | %s\n' pair warm update fetch "fetched MiB" "update <= warm + fetch"
bgoal=met
for pair in ${BENCH_PAIRS:-a b c}; do
	: >"$T/tw"; : >"$T/tu"; : >"$T/tf"
	for r in $(seq "$ROUNDS"); do
		cp "$T/c2.$pair" "$T/bc"; rm -f "$T/bc.seed"; drop
		boot_read $pair "$T/bc" >>"$T/tw" || fail "warm boot of $pair failed"
		cp "$T/c1.$pair" "$T/bc"; rm -f "$T/bc.seed"; drop
		: >"$u_log"
		boot_read $pair "$T/bc" >>"$T/tu" || fail "update boot of $pair failed"
		[ "$r" = 1 ] && logbytes >"$T/bu.$pair"
		n=$(cat "$T/ideal.$pair")
		timeit curl -sf -r "0-$((n - 1))" -o "$T/out.img" "$base/$pair/new.img" >>"$T/tf" ||
			fail "curl of $n bytes failed"
	done
	w=$(median <"$T/tw"); u=$(median <"$T/tu"); f=$(median <"$T/tf")
	ok=$(echo "$u $w $f" | awk '{ print ($1 <= $2 + $3) ? "yes" : "no" }')
	[ "$ok" = yes ] || bgoal=missed
	printf '%-5s | %7s %7s %7s | %11s | %s\n' "$pair" "$w" "$u" "$f" "$(mib "$(cat "$T/bu.$pair")")" "$ok"
done
echo "goal (the boot after an update no slower than a warm boot plus fetching the changed bytes): $bgoal"
