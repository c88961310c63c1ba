#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo.sh - uloop's job on a real image, cold then warm, with figures.
#
# Builds a squashfs of /usr/share (once; kept in build/demo), then:
#   1. cold:  a "boot" reads 300 scattered 128 KiB pieces through an empty
#             cache: only what is read (plus readahead) is fetched;
#   2. warm:  the same reads again: served from the cache, 0 bytes fetched;
#   3. fill:  hydrate fetches the rest in the background way;
#   4. warm hydrate fetches nothing; export is byte-identical to the image.
# The diskless QEMU boot demo replaces this once the boot path exists.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
U=$top/build/uloop
d=$top/build/demo
mkdir -p "$d"
img=$d/usr-share.squashfs

if [ ! -s "$img" ]; then
	echo "demo: building $img from /usr/share (once)..."
	mksquashfs /usr/share "$img.tmp" -comp zstd -no-progress -quiet \
		-processors "$(nproc)" >/dev/null
	mv "$img.tmp" "$img"
fi
size=$(stat -c %s "$img")
rm -f "$d/cache" "$d/cache.uloop-new"

# 300 pieces spread over the image, as a boot touches scattered files.
awk -v size="$size" 'BEGIN { srand(2007); for (i = 0; i < 300; i++)
	printf "%d\n", int(rand() * (size - 131072) / 4096) * 4096 }' >"$d/offsets"

reads() {	# reads: run the 300 reads; print bytes fetched
	fetched=0
	while read -r off; do
		# A failed read stops the demo: piped into sed, its empty count
		# added 0, and a warm pass of failed reads "fetched nothing".
		"$U" cat "$img" --cache "$d/cache" --offset "$off" --length 128K \
			--stats >/dev/null 2>"$d/stats" || { cat "$d/stats" >&2; exit 1; }
		f=$(sed -n 's/.*"bytes_fetched":\([0-9]*\).*/\1/p' "$d/stats")
		[ -n "$f" ] || { echo "demo: no bytes_fetched from uloop cat --stats" >&2; exit 1; }
		fetched=$((fetched + f))
	done <"$d/offsets"
	echo "$fetched"
}

now() { date +%s.%N; }
secs() { echo "$1 $2" | awk '{ printf "%.2f", $2 - $1 }'; }
mib() { echo "$1" | awk '{ printf "%.1f", $1 / 1048576 }'; }

t0=$(now); cold=$(reads); t1=$(now)
warm=$(reads); t2=$(now)
"$U" hydrate "$img" --cache "$d/cache" --json --no-progress >"$d/fill.json"; t3=$(now)
"$U" hydrate "$img" --cache "$d/cache" --json --no-progress >"$d/warmfill.json"; t4=$(now)
fill=$(sed -n 's/.*"bytes_fetched":\([0-9]*\).*/\1/p' "$d/fill.json")
warmfill=$(sed -n 's/.*"bytes_fetched":\([0-9]*\).*/\1/p' "$d/warmfill.json")
"$U" export "$d/cache" "$d/export.img"
cmp "$d/export.img" "$img"
rm -f "$d/export.img"

echo
echo "uloop demo: $(basename "$img"), $(mib "$size") MiB, 64 KiB blocks"
echo
printf '%-34s %10s %14s\n' "step" "seconds" "MiB fetched"
printf '%-34s %10s %14s\n' "cold: 300 scattered 128K reads" "$(secs "$t0" "$t1")" "$(mib "$cold")"
printf '%-34s %10s %14s\n' "warm: the same reads" "$(secs "$t1" "$t2")" "$(mib "$warm")"
printf '%-34s %10s %14s\n' "hydrate: fetch the rest" "$(secs "$t2" "$t3")" "$(mib "$fill")"
printf '%-34s %10s %14s\n' "warm hydrate" "$(secs "$t3" "$t4")" "$(mib "$warmfill")"
echo
echo "The reads asked for $(mib $((300 * 131072))) MiB; export of the cache equals the image."
"$U" info "$d/cache" | sed -n 's/^present: */cache: /p'
[ "$warm" -eq 0 ] && [ "$warmfill" -eq 0 ]
