#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# compact.sh - the compact cache format against the native one on the
# same flash, in the same run (ratios, not absolute times):
#
#   fill:  uloop hydrate IMAGE --cache C [--format compact]
#   warm:  uloop export C - (every 4 KiB checked against its CRC-32C; the
#          compact file's blocks are where the index says)
#   churn: the same seeded random reads (uloop cat, one process a read)
#          through a native cache, a compact one without a limit, and a
#          compact one limited to a quarter of the image (--cache-size:
#          most reads evict), each starting empty
#
# The source is a file in the page cache (warmed first), so the figures
# compare the cache formats, not the disk or the network.  Median of
# $RUNS runs.  BENCH_MIB: the image's size (512).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
U=$top/build/uloop
MiB=${BENCH_MIB:-512}
RUNS=${RUNS:-3}
READS=${BENCH_READS:-200}
d=$(mktemp -d /tmp/uloop-bench.XXXXXX)
T=$d
trap 'rm -rf "$d"' EXIT

head -c $((MiB * 1048576)) /dev/urandom >"$d/img"
cat "$d/img" >/dev/null
limit=$((MiB * 1048576 / 4))

. "$(dirname "$0")/timing.sh"
do_hydrate() { rm -f "$d/c"; "$U" hydrate "$d/img" --cache "$d/c" --no-progress "$@"; }
do_export() { "$U" export "$d/c" - >/dev/null; }
# Seeded random reads: 1 MiB at a random 4 KiB-aligned place.
awk -v n="$READS" -v m=$((MiB * 256 - 256)) 'BEGIN {
	srand(11); for (i = 0; i < n; i++) print int(rand() * m) * 4096
}' >"$d/offs"
do_churn() {
	rm -f "$d/r"
	while read -r off; do
		"$U" cat "$d/img" --cache "$d/r" "$@" --offset "$off" --length 1048576 >/dev/null
	done <"$d/offs"
}

for i in $(seq "$RUNS"); do
	timeit do_hydrate >>"$d/t.fn"
	timeit do_export >>"$d/t.en"
	fn=$(stat -c %s "$d/c")
	timeit do_hydrate --format compact >>"$d/t.fc"
	timeit do_export >>"$d/t.ec"
	fc=$(stat -c %s "$d/c")
	timeit do_churn >>"$d/t.cn"
	timeit do_churn --format compact >>"$d/t.cc"
	timeit do_churn --cache-size $limit >>"$d/t.cl"
	"$U" info "$d/r" --json >"$d/info"
done
tfn=$(median <"$d/t.fn"); tfc=$(median <"$d/t.fc")
ten=$(median <"$d/t.en"); tec=$(median <"$d/t.ec")
tcn=$(median <"$d/t.cn"); tcc=$(median <"$d/t.cc"); tcl=$(median <"$d/t.cl")
mbs() { echo "$MiB $1" | awk '{ printf "%.0f", $1 / $2 }'; }
present=$(sed -n 's/.*"blocks_present":\([0-9]*\).*/\1/p' "$d/info")

echo "compact vs native: $MiB MiB image in the page cache, same flash, median of $RUNS runs"
printf '%-40s %10s %10s %12s\n' "fill (hydrate)" "seconds" "MiB/s" "vs native"
printf '%-40s %10s %10s %12s\n' "native" "$tfn" "$(mbs "$tfn")" "1.00"
printf '%-40s %10s %10s %12s\n' "compact" "$tfc" "$(mbs "$tfc")" "$(ratio "$tfn" "$tfc")"
printf '%-40s %10s %10s %12s\n' "warm read (export, checksums checked)" "" "" ""
printf '%-40s %10s %10s %12s\n' "native" "$ten" "$(mbs "$ten")" "1.00"
printf '%-40s %10s %10s %12s\n' "compact" "$tec" "$(mbs "$tec")" "$(ratio "$ten" "$tec")"
printf '%-40s %10s %10s %12s\n' "churn: $READS random 1 MiB reads" "seconds" "reads/s" "vs native"
rps() { echo "$READS $1" | awk '{ printf "%.1f", $1 / $2 }'; }
printf '%-40s %10s %10s %12s\n' "native" "$tcn" "$(rps "$tcn")" "1.00"
printf '%-40s %10s %10s %12s\n' "compact, no limit" "$tcc" "$(rps "$tcc")" "$(ratio "$tcn" "$tcc")"
printf '%-40s %10s %10s %12s\n' "compact, --cache-size $((limit >> 20))M (1/4)" "$tcl" "$(rps "$tcl")" "$(ratio "$tcn" "$tcl")"
echo "files when full: native $fn bytes, compact $fc bytes; limited after churn: $(stat -c %s "$d/r") bytes, $present blocks present"
