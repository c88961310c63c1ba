#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly E4
# Descriptors and connections under a burst (E4), the FUSE transport (the
# host has no /dev/nbd) over nginx on 127.0.0.1:
#   1. `ulimit -n` too small for the daemon (16, 18): attach refuses with
#      the cause ("too many open files: the limit is N..."), leaves no
#      mount, no run state, no daemon.  (It used to attach at 18 and
#      serve every read seconds late: libcurl could not open its sockets
#      and the fetches were retried in silence.)  `uloop hydrate` too.
#      A soft limit too low under a high enough hard one is raised.
#   2. `ulimit -n 64`, --connections 8: fio, 8 jobs at iodepth 256, then
#      256 processes each with the device open and 200 `uloop status`
#      at the same time; every 4 KiB read verified by fio, the device
#      equal to the image after.  Sampled all along: connections to the
#      origin (at most what --connections allows), the daemon's
#      descriptors (below the limit; the same non-socket ones after as
#      before: none leaked), the FUSE requests waiting on it.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
. "$(dirname "$0")/exhaust-functions.sh"
requires_root
[ -e /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }

size=$((64 * 1048576))
conns=8
mkdir -p "$T/www"
fio_image "$T/www/img" $size
chmod a+r "$T/www/img"
start_nginx web "$T/www"
# shellcheck disable=SC2154  # web_http: start_nginx's
port=$web_http
url=http://127.0.0.1:$port/img

# attach_under SOFT HARD DEV CACHE [ARGS...]: attach with those limits.
attach_under() {
	_soft=$1 _hard=$2 _dev=$3 _cache=$4
	shift 4
	: >"$_dev"
	# shellcheck disable=SC3045  # dash's and busybox's ulimit have -S, -H
	(
		ulimit -S -n "$_soft"
		ulimit -H -n "$_hard"
		exec "$ULOOP_NET" attach "$url" --cache "$_cache" --transport fuse \
			--device "$_dev" "$@"
	)
}

daemon_pid() {
	"$ULOOP_NET" status "$1" --json | json_get pid
}

# 1. Too few descriptors: refused, with the cause, nothing left behind.
on_exit "$ULOOP_NET detach $T/small >/dev/null 2>&1"
for lim in 16 18; do
	expect_fail 1 "too many open files: the limit is $lim (ulimit -n)" \
		attach_under $lim $lim "$T/small" "$T/csmall"
	! grep -q " $T/small " /proc/self/mounts || fail "ulimit -n $lim: a FUSE mount was left on $T/small"
	! "$ULOOP_NET" status "$T/small" >/dev/null 2>&1 || fail "ulimit -n $lim: a run state was left for $T/small"
done
# hydrate likewise (11 open, 4 sockets and 2 spare).
# shellcheck disable=SC2016  # expanded by that sh
expect_fail 1 "too many open files: the limit is 14 (ulimit -n)" \
	sh -c 'ulimit -n 14; exec "$0" hydrate "$1" --cache "$2" --no-progress' \
	"$ULOOP_NET" "$url" "$T/chyd"
# The soft limit alone too low: raised (to what it needs, under the hard).
attach_under 20 64 "$T/soft" "$T/csoft" >/dev/null || fail "attach with soft limit 20, hard 64 failed"
on_exit "$ULOOP_NET detach $T/soft >/dev/null 2>&1"
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$(daemon_pid "$T/soft")/limits")
{ [ "$soft" -gt 20 ] && [ "$soft" -le 64 ]; } || fail "soft limit 20 (hard 64) became $soft"
echo "ok: soft limit 20 under a hard 64: raised to $soft"
"$ULOOP_NET" detach "$T/soft" >/dev/null

# 2. ulimit -n 64 under the burst.
attach_under 64 64 "$T/dev" "$T/cache" --connections $conns >/dev/null || fail "attach under ulimit -n 64 failed"
on_exit "$ULOOP_NET detach $T/dev >/dev/null 2>&1"
pid=$(daemon_pid "$T/dev")
[ -n "$pid" ] || fail "no daemon pid in the run state"
fd_kinds "$pid" | grep -v '\.tmp$' >"$T/fds.before"
fds0=$(grep -c . "$T/fds.before")
sampler_start "$pid" "$port" "$T/dev"

fio_load burst "$T/dev" $size --ioengine=libaio --iodepth=256 --numjobs=8

# Hundreds at once: 256 processes with the device open, reading; 200
# `uloop status` beside them (the run state is rewritten every second:
# never seen half-written).
fio_load clients "$T/dev" $size --ioengine=psync --numjobs=256 --io_size=2m &
fio_bg=$!
(
	i=0
	while [ $i -lt 200 ]; do
		"$ULOOP_NET" status "$T/dev" --json >"$T/st.$i" 2>&1 &
		i=$((i + 1))
	done
	wait
) &
st_bg=$!
wait $fio_bg || fail "the 256 concurrent readers failed"
wait $st_bg || :
i=0
while [ $i -lt 200 ]; do
	[ "$(json_get pid <"$T/st.$i")" = "$pid" ] || fail "uloop status $i of 200: $(head -c 300 "$T/st.$i")"
	i=$((i + 1))
done
echo "200 concurrent uloop status: every one read the run state"
sampler_stop

kill -0 "$pid" 2>/dev/null || fail "the daemon died under the load"
cmp "$T/dev" "$T/www/img" || fail "the device does not read as the image after the load"
"$ULOOP_NET" status "$T/dev" --json >"$T/st"
errs=$(sed -n 's/.*"fetch_errors":\([0-9]*\).*/\1/p' "$T/st")
[ "$errs" = 0 ] || fail "$errs fetch errors during the load"

# Connections: each of uloop's curl loops (one per CPU, at most the
# connection count and 8) may hold its share, rounded up, of
# --connections to one host (src/http_client.c).
cpus=$(nproc)
loops=$((cpus < conns ? cpus : conns))
[ $loops -le 8 ] || loops=8
bound=$((loops * ((conns + loops - 1) / loops)))
cmax=$(column_max 1) fmax=$(column_max 2) smax=$(column_max 3) qmax=$(column_max 4)
echo "$(wc -l <"$T/samples") samples: connections to the origin at most $cmax (bound $bound), daemon descriptors at most $fmax ($fds0 not sockets at start; limit 64), sockets at most $smax, FUSE requests waiting at most $(awk '$4 == "-" { u = 1 } END { print u ? "unknown" : "'"$qmax"'" }' "$T/samples")"
[ "$cmax" -ge 1 ] || fail "no connection to the origin was ever seen: the sampler sees nothing"
[ "$cmax" -le "$bound" ] || fail "$cmax connections to the origin at once, more than --connections $conns allows ($bound)"
[ "$fmax" -lt 64 ] || fail "the daemon reached its descriptor limit ($fmax of 64)"
fd_kinds "$pid" | grep -v '\.tmp$' >"$T/fds.after"
diff "$T/fds.before" "$T/fds.after" >&2 || fail "the daemon's descriptors (sockets aside) changed under the load: leaked or lost"
socks=$(find "/proc/$pid/fd" -mindepth 1 -lname 'socket:*' | wc -l)
echo "after: the same $fds0 descriptors besides sockets, $socks sockets"
"$ULOOP_NET" detach "$T/dev" >/dev/null || fail "detach after the load failed"
