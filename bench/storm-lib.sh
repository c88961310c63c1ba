# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# storm-lib.sh - a boot storm on one machine, for bench/storm.sh and
# tests/integ/test-storm.sh (which source tests/integ/functions.sh and
# http-functions.sh first).
#
# A node is what a diskless node's initramfs runs, minus the kernel: a
# uloop daemon (`uloop attach URL --cache FILE`, its own empty cache, the
# FUSE transport so that a hundred of them need no nbd devices) and
# trace-replay reading the recorded boot's extents from its device at the
# times the boot read them.  N nodes start within STORM_SPREAD seconds
# (default 2: a rack powered on at once), each in a process of its own.
# The servers are configs/nginx as an admin installs them: the origin
# (uloop-origin.conf) and the cache tier (uloop-cache-tier.conf) on
# 127.0.0.1, only their CHANGE lines rendered.

STORM_SPREAD=${STORM_SPREAD:-2}
storm_conf=$ULOOP_TOP/configs/nginx

# storm_replay_build OUT: the node's reader.
storm_replay_build() {
	cc -O2 -Wall -o "$1" "$ULOOP_TOP/bench/trace-replay.c" || fail "cannot build trace-replay"
	storm_replay=$1
}

# storm_origin NAME ROOT [SED]: an origin site serving ROOT; extra sed
# lines (such as the load-shedding ones) in SED.  Sets NAME_port.
storm_origin() {
	_p=$(free_port)
	config_site "$1" "$storm_conf/uloop-origin.conf" \
		"s|listen 80;|listen 127.0.0.1:$_p;|; s|root /srv/uloop;|root $2;|; ${3:-}"
	eval "${1}_port=$_p"
}

# storm_limited NAME ROOT RATE [SED]: storm_origin with its LIMIT lines
# uncommented: RATE requests a second, 2 at a time, beyond that 429 and
# 503 with Retry-After; SED as storm_origin's (a smaller burst...).
storm_limited() {
	storm_origin "$1" "$2" "s|^\([[:space:]]*\)#\(.*\)# LIMIT\$|\1\2|; s|rate=[0-9]*r/s|rate=${3}r/s|; s|limit_conn uloop_conn [0-9]*|limit_conn uloop_conn 2|; ${4:-}"
}

# storm_tier NAME ORIGIN-PORT...: a cache tier with an empty cache in
# front of those origins (the first, then the others as backups).  Sets
# NAME_port.
storm_tier() {
	_n=$1 _p=$(free_port)
	shift
	rm -rf "$T/$_n-cache"
	mkdir -p "$T/$_n-cache"
	chmod a+rwx "$T/$_n-cache"
	_up="server 127.0.0.1:$1;"
	shift
	for _o in "$@"; do _up="$_up server 127.0.0.1:$_o backup;"; done
	config_site "$_n" "$storm_conf/uloop-cache-tier.conf" \
		"s|listen 80;|listen 127.0.0.1:$_p;|; s|/var/cache/nginx/uloop|$T/$_n-cache|; s|server origin.example.org:80;|$_up|"
	eval "${_n}_port=$_p"
}

# storm_stop NAME: stop the nginx NAME (its workers too).
storm_stop() {
	_pid=$(cat "$T/nginx-$1/nginx.pid" 2>/dev/null) || return 0
	kill "$_pid" 2>/dev/null || true
	_i=0
	while kill -0 "$_pid" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
}

_storm_cleanup_set=""
storm_cleanup() {
	for _d in "$T"/storm/*/n*/dev; do
		[ -e "$_d" ] && "$ULOOP_NET" detach "$_d" >/dev/null 2>&1
	done
	return 0
}

# storm_node DIR URL TRACE DELAY [ATTACH-OPTION...]: one node; its
# outcome, a line of trace-replay or "error ...", in DIR/result.
storm_node() {
	_d=$1 _url=$2 _trace=$3
	sleep "$4"
	shift 4
	mkdir -p "$_d"
	: >"$_d/dev"
	_t0=$(date +%s%N)
	if "$ULOOP_NET" attach "$_url" --cache "$_d/cache" --transport fuse \
		--device "$_d/dev" "$@" >"$_d/attach.log" 2>&1; then
		"$storm_replay" "$_trace" "$_d/dev" "$_t0" >"$_d/result" 2>&1 ||
			echo "error (replay) $(tail -n 1 "$_d/result")" >>"$_d/result"
		"$ULOOP_NET" status "$_d/dev" --json >"$_d/status.json" 2>/dev/null || :
		"$ULOOP_NET" detach "$_d/dev" >/dev/null 2>&1 || :
	else
		echo "error (attach) $(tail -n 1 "$_d/attach.log")" >"$_d/result"
	fi
}

# storm_run LABEL URL N TRACE [ATTACH-OPTION...]: N nodes at once, their
# starts spread evenly over STORM_SPREAD seconds; waits for all.  Sets
# storm_ok (nodes whose replay completed), storm_failed, storm_p50,
# storm_p99, storm_max (seconds from a node's start to its last read,
# nearest rank), storm_errors (the first failed node's outcome) and
# storm_dir.
storm_run() {
	_label=$1 _url=$2 _n=$3 _trace=$4
	shift 4
	[ -n "$_storm_cleanup_set" ] || { on_exit storm_cleanup; _storm_cleanup_set=1; }
	storm_dir=$T/storm/$_label-$_n
	rm -rf "$storm_dir"
	mkdir -p "$storm_dir"
	_i=0
	while [ $_i -lt "$_n" ]; do
		_delay=$(awk -v i=$_i -v n="$_n" -v s="$STORM_SPREAD" 'BEGIN { printf "%.3f", s * i / n }')
		storm_node "$storm_dir/n$_i" "$_url" "$_trace" "$_delay" "$@" &
		_i=$((_i + 1))
	done
	wait
	cat "$storm_dir"/n*/result >"$storm_dir/results" 2>/dev/null || :
	storm_ok=$(grep -c '^done ' "$storm_dir/results" || true)
	storm_failed=$((_n - storm_ok))
	storm_errors=$(grep -v '^done ' "$storm_dir/results" | head -n 1 || true)
	awk '$1 == "done" { print $2 }' "$storm_dir/results" | sort -n >"$storm_dir/times"
	_rank() { awk -v p="$1" '{ t[NR] = $1 } END { if (!NR) { print "-"; exit }
		r = int(p * NR); if (r < p * NR) r++; if (r < 1) r = 1; print t[r] }' "$storm_dir/times"; }
	storm_p50=$(_rank 0.5)
	storm_p99=$(_rank 0.99)
	storm_max=$(_rank 1)
}

# storm_record_trace IMG TRACE: a boot's read trace taken on this host:
# IMG (a squashfs) attached from its file through a fresh cache, mounted,
# a few hundred files read as a boot does, `uloop profile --times`.
storm_record_trace() {
	_d=$T/trace-rec
	mkdir -p "$_d/mnt"
	: >"$_d/dev"
	"$ULOOP_NET" attach "$1" --cache "$_d/cache" --transport fuse --device "$_d/dev" >/dev/null ||
		fail "trace: cannot attach $1"
	_loop=$(losetup -f --show -r "$_d/dev") || fail "trace: no loop device"
	mount -t squashfs -o ro "$_loop" "$_d/mnt" || fail "trace: cannot mount $1"
	find "$_d/mnt" -type f | awk 'NR % 7 == 0' | head -n 400 | xargs -r cat >/dev/null
	"$ULOOP_NET" profile "$_d/dev" --times --output "$2" || fail "trace: uloop profile --times"
	umount "$_d/mnt"
	losetup -d "$_loop"
	"$ULOOP_NET" detach "$_d/dev" >/dev/null
}

# storm_trace_bytes TRACE: the bytes a boot of this trace reads.
storm_trace_bytes() {
	awk '/^unit / { u = $2 } NR > 5 { n += $2 } END { print n * u }' "$1"
}
