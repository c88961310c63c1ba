#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly N1 H3
# Connections cut in the middle of an answer (lossy-relay.py between uloop
# and nginx): the 1st, 2nd or 5th answer cut at a random byte, anywhere or
# inside its header block, by a reset (RST) or by a close that looks like the
# server's own end (FIN: what a guest behind QEMU's user network sees of
# a reset).  Each is retried on a new connection and `uloop cat` gives
# the image, byte for byte.  Then answers cut at random (10%) with 50 ms
# of latency each, over a whole read.  (A cut inside the header block used
# to read as a "206 with no Content-Range" and fail the read for good.)
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires python3
mkdir -p "$T/www"
make_image "$T/www/img" $((3 * 1024 * 1024 + 17))
start_nginx web "$T/www"

through() {	# through RELAY-OPTIONS...: uloop cat over the relay, equal
	relay=$(free_port)
	python3 "$top/tests/integ/lossy-relay.py" --listen "$relay" --to "$web_http" \
		--log "$T/relay.log" "$@" &
	rpid=$!
	for _ in $(seq 50); do [ -s "$T/relay.log" ] && break; sleep 0.1; done
	rm -f "$T/c"
	rc=0
	$ULOOP cat "http://127.0.0.1:$relay/img" --cache "$T/c" >"$T/out" 2>"$T/err" || rc=$?
	kill "$rpid"
	wait "$rpid" 2>/dev/null || true
	[ $rc -eq 0 ] || fail "relay $*: uloop cat failed: $(cat "$T/err")"
	cmp -s "$T/out" "$T/www/img" || fail "relay $*: wrong bytes"
	grep -q "resets [1-9]" "$T/relay.log" || fail "relay $*: nothing was cut ($(cat "$T/relay.log"))"
	echo "relay $*: image right ($(cat "$T/relay.log"))"
}

for close in rst fin; do
	for k in 1 2 5; do
		for cut in any headers; do
			for seed in 1 2; do
				through --close $close --cut $cut --reset-at "$k" --seed $seed
			done
		done
	done
done
through --close fin --reset 0.1 --delay 50 --seed 4 --reset-at 2
