#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly H7 N3
# A small boot storm (bench/storm.sh is the large one): nodes, each a
# uloop daemon on its own empty cache replaying a boot's read trace,
# start within two seconds against the configs/nginx servers on
# 127.0.0.1.  A squashfs of Python's library is published; the trace is
# one boot-like pass over it, recorded on this host.
#
#   1. one node alone: the bytes and time one boot costs
#   2. STORM_N nodes on the origin alone: every one completes
#   3. the same behind the cache tier: every one completes, and the
#      origin sends no more than 1.1x what one node's boot fetched
#   4. the origin shedding load (its optional limit_req/limit_conn lines,
#      a rate far below the storm's): it answers 429 and 503 with
#      Retry-After, the nodes back off, and every one completes
#   5. the origin killed mid-storm, the nodes given a mirror: every one
#      completes, those that start after the kill included
# A node that completes read every block of the trace, each verified
# against the manifest's hash tree; one node's cache is then checked
# against the image.
set -eu
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires_root
requires nginx mksquashfs losetup cc
ULOOP_TOP=$(cd "$(dirname "$0")/../.." && pwd)
. "$ULOOP_TOP/bench/storm-lib.sh"
N=${STORM_N:-8}

storm_replay_build "$T/trace-replay"
lib=$(ls -d /usr/lib/python3.[0-9]* | head -n 1)
mksquashfs "$lib" "$T/root.squashfs" -no-progress -quiet -all-root >/dev/null
mkdir -p "$T/www"
$ULOOP_NET publish "$T/root.squashfs" "$T/www" --name root >/dev/null || fail "publish"
chmod -R a+rX "$T/www"
storm_record_trace "$T/root.squashfs" "$T/trace"
tb=$(storm_trace_bytes "$T/trace")
echo "image $(fsize "$T/root.squashfs") bytes; the trace reads $tb bytes in $(sed -n '5s/extents //p' "$T/trace") extents over $(tail -n 1 "$T/trace" | awk '{ print $3 }') ms"

storm_origin origin "$T/www"
olog=$origin_log
o="http://127.0.0.1:$origin_port"
all_ok() {	# all_ok WHAT
	[ "$storm_failed" -eq 0 ] || fail "$1: $storm_failed of the nodes failed: $storm_errors"
	echo "$1: $storm_ok nodes completed, p50 ${storm_p50}s, p99 ${storm_p99}s"
}

# 1. One node alone.
storm_run lone "$o/root.uloop" 1 "$T/trace"
all_ok "one node"
lone=$(body_bytes "$olog")
[ "$lone" -ge "$tb" ] || fail "one node fetched $lone bytes, less than the $tb its boot read"

# 2. The origin alone.
: >"$olog"
storm_run origin "$o/root.uloop" "$N" "$T/trace"
all_ok "origin alone"
echo "origin alone: the origin sent $(body_bytes "$olog") bytes ($N x $lone for one node)"

# 3. Behind the tier.
storm_tier tier "$origin_port"
: >"$olog"
storm_run tier "http://127.0.0.1:$tier_port/root.uloop" "$N" "$T/trace"
all_ok "behind the tier"
egress=$(body_bytes "$olog")
awk -v e="$egress" -v l="$lone" 'BEGIN { exit !(e <= 1.1 * l) }' ||
	fail "behind the tier the origin sent $egress bytes, more than 1.1x one node's $lone"
echo "behind the tier: the origin sent $egress bytes, $(awk -v e="$egress" -v l="$lone" 'BEGIN { printf "%.2f", e / l }')x one node's"
$ULOOP_NET check "$storm_dir/n0/cache" --source "$o/root.uloop" >"$T/check" 2>&1 ||
	fail "a node's cache is not the image: $(cat "$T/check")"
storm_stop tier

# 4. The origin sheds load: its LIMIT lines, at 50 requests a second.
storm_limited limited "$T/www" 50 's|burst=[0-9]*|burst=5|'
storm_run limited "http://127.0.0.1:$limited_port/root.uloop" "$N" "$T/trace"
all_ok "origin shedding load"
shed=$(awk '$6 == 429 || $6 == 503' "$limited_log" | wc -l)
[ "$shed" -gt 0 ] || fail "the limited origin never answered 429 or 503: the storm did not test backing off"
echo "origin shedding load: $shed answers 429 or 503, $(awk '$6 ~ /^2/' "$limited_log" | wc -l) served"
# What a node is told: 40 requests at once, some shed, each with a
# Retry-After.
i=0
while [ $i -lt 40 ]; do
	curl -s -D "$T/h$i" -o /dev/null -r 0-0 "http://127.0.0.1:$limited_port/root-1.img" &
	i=$((i + 1))
done
wait
cat "$T"/h[0-9]* | tr -d '\r' >"$T/h"
grep -q '^HTTP/1.1 \(429\|503\)' "$T/h" || fail "40 requests at once were all served"
awk '/^HTTP/ { if (s == 429 || s == 503) bad += !ra; s = $2; ra = 0; shed += s == 429 || s == 503 }
	/^Retry-After: [0-9]/ { ra = 1 }
	END { if (s == 429 || s == 503) bad += !ra; exit bad || !shed }' "$T/h" ||
	fail "a shed request has no Retry-After: $(cat "$T/h")"
storm_stop limited

# 5. The origin dies a second into the storm; the nodes have a mirror.
storm_origin mirror "$T/www"
(sleep 1; storm_stop origin) &
storm_run failover "$o/root.uloop" "$N" "$T/trace" --mirror "http://127.0.0.1:$mirror_port/root.uloop"
wait
all_ok "origin killed mid-storm"
[ "$(body_bytes "$mirror_log")" -gt 0 ] || fail "the mirror served nothing: the origin died too late"
echo "storm: all nodes booted in every case"
