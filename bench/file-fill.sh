#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# file-fill.sh - hydrate throughput from a file source against its peers,
# measured in the same run (ratios, not absolute times), plus the bytes a
# kill -9 costs.
#
#   dd:   dd IMAGE > /dev/null           (read only: the ceiling)
#   dd:   dd IMAGE -> FILE, conv=fsync   (read + durable copy: the same job)
#   uloop hydrate IMAGE --cache C        (read + durable copy + bitmap)
#
# and the warm side, a full cache read back (every 4 KiB checked against
# its CRC-32C, O_DIRECT from the flash) against dd of the cache file:
#
#   dd C > /dev/null, iflag=direct       (the ceiling)
#   uloop export C -                     (what a hit costs)
#
# The source is in the page cache for all three (warmed first), so the
# figures compare the engines, not the disk.  Median of $RUNS runs.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
U=$top/build/uloop
MiB=${BENCH_MIB:-1024}
RUNS=${RUNS:-3}
d=$(mktemp -d /tmp/uloop-bench.XXXXXX)
T=$d
trap 'rm -rf "$d"' EXIT

head -c $((MiB * 1048576)) /dev/urandom >"$d/img"
cat "$d/img" >/dev/null

. "$(dirname "$0")/timing.sh"
do_cat() { dd if="$d/img" of=/dev/null bs=1M status=none; }
do_dd() { rm -f "$d/copy"; dd if="$d/img" of="$d/copy" bs=1M conv=fsync status=none; }
do_hydrate() { rm -f "$d/c"; "$U" hydrate "$d/img" --cache "$d/c" --no-progress "$@"; }
do_rawread() { dd if="$d/c" of=/dev/null bs=1M iflag=direct status=none; }
do_export() { "$U" export "$d/c" - >/dev/null; }

for i in $(seq "$RUNS"); do
	timeit do_cat >>"$d/t.cat"
	timeit do_dd >>"$d/t.dd"
	timeit do_hydrate >>"$d/t.h4"
	timeit do_hydrate --connections 1 >>"$d/t.h1"
	timeit do_rawread >>"$d/t.raw"
	timeit do_export >>"$d/t.exp"
done
rm -f "$d/copy"
tc=$(median <"$d/t.cat"); td=$(median <"$d/t.dd")
th=$(median <"$d/t.h4"); th1=$(median <"$d/t.h1")
tr=$(median <"$d/t.raw"); te=$(median <"$d/t.exp")
mbs() { echo "$MiB $1" | awk '{ printf "%.0f", $1 / $2 }'; }

echo "file-fill: $MiB MiB image in the page cache, median of $RUNS runs"
printf '%-36s %10s %10s %12s\n' "" "seconds" "MiB/s" "vs dd+fsync"
printf '%-36s %10s %10s %12s\n' "dd > /dev/null (read only)" "$tc" "$(mbs "$tc")" "$(ratio "$td" "$tc")"
printf '%-36s %10s %10s %12s\n' "dd conv=fsync (same job)" "$td" "$(mbs "$td")" "1.00"
printf '%-36s %10s %10s %12s\n' "uloop hydrate, 4 connections" "$th" "$(mbs "$th")" "$(ratio "$td" "$th")"
printf '%-36s %10s %10s %12s\n' "uloop hydrate, 1 connection" "$th1" "$(mbs "$th1")" "$(ratio "$td" "$th1")"
echo
printf '%-36s %10s %10s %12s\n' "warm: reading the cache back" "seconds" "MiB/s" "vs dd direct"
printf '%-36s %10s %10s %12s\n' "dd of the cache, iflag=direct" "$tr" "$(mbs "$tr")" "1.00"
printf '%-36s %10s %10s %12s\n' "uloop export (checksums checked)" "$te" "$(mbs "$te")" "$(ratio "$tr" "$te")"

# What a kill -9 costs: bytes read before the kill minus bytes kept.
rm -f "$d/c"
"$U" hydrate "$d/img" --cache "$d/c" --rate 100M --no-progress >/dev/null 2>&1 &
pid=$!
sleep 2.5
read_before=$(awk '/^rchar/ { print $2 }' "/proc/$pid/io")
kill -9 $pid
wait $pid 2>/dev/null || true
# Not piped: an info that failed gave no count, "kept 0", all "to fetch again".
"$U" info "$d/c" --json >"$d/info"
present=$(sed -n 's/.*"blocks_present":\([0-9]*\).*/\1/p' "$d/info")
kept=$((present * 65536))
lost=$((read_before > kept ? read_before - kept : 0))
echo
echo "kill -9 after 2.5 s at 100 MiB/s: read $(mbs 1 | awk -v b="$read_before" '{ printf "%.1f", b / 1048576 }') MiB, kept $((kept / 1048576)) MiB, to fetch again: $(echo "$lost" | awk '{ printf "%.1f", $1 / 1048576 }') MiB (bound: about 1 s of fetching)"
