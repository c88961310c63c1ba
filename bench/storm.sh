#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# storm.sh - a boot storm: N diskless nodes powered on at once, against
# the origin alone and behind the configs/ cache tier (bench/storm-lib.sh
# says what a simulated node is).
#
# The boot: the demo root (bench/demo-root.sh) booted cold once in QEMU
# (TCG), its daemon's read trace taken with `uloop profile --times` (kept
# in build/demo next to the image).  The image is published with `uloop
# publish` (so every node verifies every block) on an origin nginx; each
# node attaches http://.../root.uloop on an empty cache and replays the
# trace at its recorded pace.
#
# Rows, for N in STORM_NODES ("10 50 100"):
#   lone             one node, origin alone: the bytes and time one boot costs
#   origin  N        N nodes on the origin alone
#   tier    N        N nodes through the cache tier (its cache empty at
#                    the start: the worst case, a rack's first boot)
#   limited N        N nodes on an origin shedding load (its LIMIT lines:
#                    rate STORM_LIMIT_RATE requests a second, 2 at a time):
#                    429 and 503 with Retry-After; the nodes back off
#   failover N       N nodes given a mirror; the origin is killed 1 s in
# STORM_NODES and STORM_SERVERS pick rows (the lone one is always run).
# Columns: nodes done, failed, p50/p99/max seconds from a node's start to
# its last read, origin egress (bytes the origin(s) sent) and that over
# one node's boot bytes, and 429/503 answers.
# Goals: behind the tier, egress <= 1.1x one node's boot bytes for any N;
# p99 at N = 100 within 2x the lone node; on the origin alone (limited or
# not) and through a failover, no node fails.
set -eu
ULOOP_TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$ULOOP_TOP/tests/integ/functions.sh"
. "$ULOOP_TOP/tests/integ/http-functions.sh"
. "$ULOOP_TOP/tests/vm/lib.sh"
. "$ULOOP_TOP/bench/storm-lib.sh"
requires_root
requires mksquashfs nginx cc curl
NODES=${STORM_NODES-10 50 100}
SERVERS=${STORM_SERVERS-origin tier limited failover}
LIMIT_RATE=${STORM_LIMIT_RATE:-50}
ulimit -n 65536 2>/dev/null || true

# The trace of one cold boot of the demo root.
vm_kernel
. "$ULOOP_TOP/bench/demo-root.sh"
trace=${img%.squashfs}.trace
if [ ! -s "$trace" ]; then
	echo "storm: recording the boot's read trace (one cold boot in QEMU, once)"
	vm_uloop_initrd "$T/initrd"
	truncate -s 256M "$T/flash"
	vm_boot trace "$T/initrd" "$T/flash" \
		"root=uloop:http://10.0.2.100/root.squashfs ip=dhcp rd.uloop.cache=/dev/vda demo.profile" ||
		{ tail -n 20 "$T/trace.log"; fail "the trace boot failed"; }
	tr -d '\r' <"$T/trace.log" | sed -n '/DEMO-PROFILE-BEGIN/,/DEMO-PROFILE-END/p' |
		sed '1d;$d' >"$trace.tmp"
	sed -n '6p' "$trace.tmp" | grep -q '^[0-9]* [0-9]* [0-9]*$' ||
		fail "the boot printed no read trace: $(head -n 8 "$trace.tmp")"
	mv "$trace.tmp" "$trace"
fi
storm_stop demo
storm_replay_build "$T/trace-replay"
mkdir -p "$T/www"
"$ULOOP_NET" publish "$img" "$T/www" --name root >/dev/null || fail "publish"
chmod -R a+rX "$T/www"
echo "storm: image $(fsize "$img") bytes; the boot reads $(storm_trace_bytes "$trace") bytes in $(sed -n '5s/extents //p' "$trace") extents over $(tail -n 1 "$trace" | awk '{ printf "%.1f", $3 / 1000 }') s; nodes start within ${STORM_SPREAD} s"

storm_origin origin "$T/www"
storm_origin mirror "$T/www"
storm_limited limited "$T/www" "$LIMIT_RATE"
o=http://127.0.0.1:$origin_port/root.uloop
m=http://127.0.0.1:$mirror_port/root.uloop
logs() { cat "$origin_log" "$mirror_log" "$limited_log"; }
clear_logs() { : >"$origin_log"; : >"$mirror_log"; : >"$limited_log"; }

: >"$T/rows"
row() {	# row LABEL N: after a storm_run
	logs >"$T/all.log"
	printf '%s %s %s %s %s %s %s %s %s\n' "$1" "$2" "$storm_ok" "$storm_failed" \
		"$storm_p50" "$storm_p99" "$storm_max" "$(body_bytes "$T/all.log")" \
		"$(awk '$6 == 429 || $6 == 503' "$T/all.log" | wc -l)" >>"$T/rows"
	[ "$storm_failed" -eq 0 ] || echo "storm: $1 $2: $storm_failed nodes failed, e.g. $storm_errors"
	echo "storm: $1 N=$2 done (p99 ${storm_p99} s)"
}

clear_logs
storm_run lone "$o" 1 "$trace"
row lone 1
for n in $NODES; do
	for s in $SERVERS; do
		clear_logs
		case $s in
		origin) storm_run origin "$o" "$n" "$trace" ;;
		tier)	storm_tier tier "$origin_port"
			storm_run tier "http://127.0.0.1:$tier_port/root.uloop" "$n" "$trace"
			storm_stop tier ;;
		limited) storm_run limited "http://127.0.0.1:$limited_port/root.uloop" "$n" "$trace" ;;
		failover)
			(sleep 1; storm_stop origin) &
			storm_run failover "$o" "$n" "$trace" --mirror "$m"
			wait
			storm_origin origin "$T/www"	# again, on a new port
			o=http://127.0.0.1:$origin_port/root.uloop ;;
		*)	fail "STORM_SERVERS: no '$s' (origin tier limited failover)" ;;
		esac
		row "$s" "$n"
	done
done

echo
echo "boot storm: $(sed -n '5s/extents //p' "$trace") extents, $(storm_trace_bytes "$trace") bytes read by the boot, $(nproc) cores, nodes start within ${STORM_SPREAD} s"
awk 'NR == 1 { lb = $8; lt = $5 }
	{ rows[NR] = $0 }
	END {
		printf "| %-9s | %4s | %4s | %6s | %6s | %6s | %6s | %12s | %8s | %7s |\n", "servers", "N", "done", "failed", "p50 s", "p99 s", "max s", "origin bytes", "x 1 boot", "429/503"
		print "|---|---|---|---|---|---|---|---|---|---|"
		for (i = 1; i <= NR; i++) {
			split(rows[i], f, " ")
			printf "| %-9s | %4d | %4d | %6d | %6.2f | %6.2f | %6.2f | %12.0f | %8.2f | %7d |\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[8] / lb, f[9]
		}
		printf "\nlone node: %.2f s, %d bytes\n", lt, lb
	}' "$T/rows"
awk 'NR == 1 { lb = $8; lt = $5 }
	$1 == "tier" { printf "goal: tier N=%d origin egress %.2fx one boot (<= 1.10): %s\n", $2, $8 / lb, $8 <= 1.1 * lb ? "met" : "MISSED" }
	$1 == "tier" && $2 == 100 { printf "goal: tier N=100 p99 %.2fx the lone node (<= 2): %s\n", $6 / lt, $6 <= 2 * lt ? "met" : "MISSED" }
	$1 != "lone" && $4 > 0 { printf "goal: %s N=%d: %d nodes failed: MISSED\n", $1, $2, $4 }' "$T/rows"
