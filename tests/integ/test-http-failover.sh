#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly H1 H2 H3 H5 H7 N3
# Failover between the image's URL and its mirrors (hostile-server.py: one
# server, the same image at every /MODE/x, so /good/x and /MODE/x are two
# URLs of one image).  For each way a server can fail a data request:
# - as a mirror of a good primary, and as the primary of a good mirror,
#   a hydrate must finish (exit 0) with the exact image, in bounded time;
# - a permanent failure (an error status, 200 or 416 to a range, garbage,
#   a wrong range or length) drops that URL for the run: one warning
#   naming it and the cause, one data request to it, none after;
# - a hanging or trickling server (transient) costs one bounded attempt
#   at a time, never the request's whole deadline, and is not dropped;
# - with no other URL left the read fails (tested in test-http-hostile).
# A mirror that hangs at the probe costs a third of --timeout, not all.
. "$(dirname "$0")/functions.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || { requires python3; PY=python3; }
here=$(cd "$(dirname "$0")" && pwd)
size=$((1048576 + 123))

"$PY" "$here/hostile-server.py" --size $size --dump "$T/img" \
	>"$T/port" 2>"$T/log" &
on_exit "kill $! 2>/dev/null"
i=0
while [ ! -s "$T/port" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "server did not start: $(cat "$T/log")"
	sleep 0.1
done
base=http://127.0.0.1:$(head -n 1 "$T/port")
# One request at a time, so the counts below are exact.
# 64 KiB blocks: 17 reads, so a slow server is met more than once.
opts="--timeout 6 --retries 2 --connections 1 --readahead 0 --block-size 64K --no-progress"

# data_requests PATH: the data requests (not probes) the server saw for it.
data_requests() {
	grep "^REQ [0-9]* [0-9.]* GET $1 range=" "$T/log" |
		grep -vc " range=bytes=0-0 " || true
}

# run NAME WANT_DROP CAUSE PRIMARY MIRROR
run() {
	_n=$1 _drop=$2 _cause=$3 _p=$4 _m=$5
	_t0=$(date +%s)
	_rc=0
	# shellcheck disable=SC2086
	$ULOOP hydrate "$_p" --mirror "$_m" --cache "$T/$_n.c" $opts \
		>/dev/null 2>"$T/$_n.err" || _rc=$?
	_secs=$(($(date +%s) - _t0))
	echo "$_n: exit $_rc in ${_secs}s: $(cat "$T/$_n.err")"
	[ $_rc -eq 0 ] || { echo "$_n: exited $_rc" >>"$T/problems"; return 0; }
	[ $_secs -lt 20 ] || echo "$_n: took ${_secs}s" >>"$T/problems"
	if ! $ULOOP export "$T/$_n.c" "$T/$_n.out" >/dev/null 2>&1 ||
	    ! cmp -s "$T/$_n.out" "$T/img"; then
		echo "$_n: the hydrated image is not the image" >>"$T/problems"
	fi
	if [ "$_drop" = p ] || [ "$_drop" = m ]; then
		if [ "$_drop" = p ]; then _u=$_p _who=""; else _u=$_m _who="mirror "; fi
		[ "$(wc -l <"$T/$_n.err")" -eq 1 ] &&
			grep -Eq "^uloop: $_who$_u dropped: $_cause; going on with the other URLs\$" "$T/$_n.err" ||
			echo "$_n: expected one line 'uloop: $_who$_u dropped: $_cause...', got: $(cat "$T/$_n.err")" >>"$T/problems"
		_k=$(data_requests "${_u#"$base"}")
		[ "$_k" -eq 1 ] ||
			echo "$_n: $_k data requests to the dropped URL, expected 1" >>"$T/problems"
	else
		! grep -q dropped "$T/$_n.err" ||
			echo "$_n: a transient failure dropped a URL: $(cat "$T/$_n.err")" >>"$T/problems"
		# The server logs a request when its reply is over: a trickle's
		# when it notices the peer gone, a second or two later.
		_i=0
		until [ "$(data_requests "${_p#"$base"}")" -ge 1 ] &&
		    [ "$(data_requests "${_m#"$base"}")" -ge 1 ]; do
			_i=$((_i + 1))
			[ $_i -le 50 ] || {
				echo "$_n: the failing URL was never asked" >>"$T/problems"
				break
			}
			sleep 0.1
		done
	fi
}

# MODE CLASS CAUSE (an ERE; CLASS: drop = permanent, keep = transient)
cat >"$T/modes" <<EOF2
404 drop server answered 404
403 drop server answered 403
401 drop server answered 401
410 drop server answered 410
200 drop server answered 200 to a range request \(Range not supported\)
416 drop range not satisfiable \(416\)
cr-offbyone drop wrong range: asked [0-9]+-[0-9]+, got Content-Range 'bytes [0-9-]+/$size'
cl-short drop Content-Length does not match the [0-9]+ bytes of the range
garbage drop not an HTTP reply \(.*\)
multipart drop multipart reply to a single range .*
hang keep .
trickle keep .
EOF2
while read -r mode class cause; do
	d=$class
	[ "$class" = drop ] && d=m
	run "$mode-mirror" "$d" "$cause" "$base/good/m-$mode" "$base/$mode/m"
	[ "$class" = drop ] && d=p
	run "$mode-primary" "$d" "$cause" "$base/$mode/p" "$base/good/p-$mode"
done <"$T/modes"

# A mirror hanging at the probe is given up after a third of --timeout.
t0=$(date +%s)
$ULOOP hydrate "$base/good/probe" --mirror "$base/probe-hang/x" --cache "$T/ph.c" \
	--timeout 9 --no-progress >/dev/null 2>"$T/ph.err" ||
	echo "probe-hang: exited non-zero: $(cat "$T/ph.err")" >>"$T/problems"
secs=$(($(date +%s) - t0))
echo "probe-hang: ${secs}s: $(cat "$T/ph.err")"
[ $secs -le 6 ] || echo "probe-hang: took ${secs}s (bound 6 s)" >>"$T/problems"
grep -q "mirror $base/probe-hang/x not used: .*timed out or stalled" "$T/ph.err" ||
	echo "probe-hang: no notice: $(cat "$T/ph.err")" >>"$T/problems"

if [ -s "$T/problems" ]; then
	sed 's/^/FAIL: /' "$T/problems"
	fail "failover mishandled"
fi
echo "every failure mode failed over; permanent ones dropped, transient ones kept"
