#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly E4
# The daemon in a memory cgroup of 32 MiB, no swap (E4's small RAM),
# under the burst of test-exhaust-fds (fio, 8 jobs at iodepth 256, then
# 256 readers at once), the FUSE transport over nginx on 127.0.0.1: no
# OOM kill, every 4 KiB read verified, the device equal to the image
# after; the cgroup's peak and the daemon's peak RSS are printed.
#
# The daemon's memory bound, with C connections (--connections, default
# 4; the FUSE transport runs C server threads) and requests of at most
# 1 MiB (src/engine.h): about 3 MiB of its own, and per connection
#   1 MiB + 64 KiB  a FUSE thread's reply and request buffers
#   256 KiB         a curl handle's receive buffer (src/http_client.c)
#   1 MiB           the run a worker fetches into (src/engine.c)
#   3 MiB           the runs a reader waits on and copies from: its own
#                   read (at most 1 MiB) and the two runs of others it may
#                   join at either end (at most 1 MiB each)
# so 3 + 5.3 * C MiB: 24 MiB at the default 4 (seen: about 19), 88 MiB
# at 16 (seen: 56).  Nothing else grows with the load: queued runs hold
# no buffer until a worker takes them (their bookkeeping is bounded by
# the image's block count), and FUSE queues the requests beyond C in the
# kernel, charged to the readers.  EXHAUST_CONNECTIONS=16 runs the same
# in the same 32 MiB: the OOM killer takes the daemon (the bound is real).
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
. "$(dirname "$0")/exhaust-functions.sh"
requires_root
[ -e /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }
conns=${EXHAUST_CONNECTIONS:-4}
limit=$((32 * 1048576))

# A child of our own memory cgroup: v2 (memory.max, memory.swap.max,
# memory.peak, memory.events) or v1 (memory.limit_in_bytes,
# memory.memsw.limit_in_bytes, memory.max_usage_in_bytes, oom_control).
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/uloop-test-$$
	v=2
elif [ -d /sys/fs/cgroup/memory ]; then
	cg=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)/uloop-test-$$
	v=1
else
	echo "requires a memory cgroup controller"
	exit 77
fi
mkdir "$cg" 2>/dev/null || { echo "requires a memory cgroup of our own: cannot make $cg"; exit 77; }
on_exit "rmdir $cg"
if [ $v = 2 ]; then
	[ -e "$cg/memory.max" ] || { echo "requires the memory controller in $(dirname "$cg")'s subtree_control"; exit 77; }
	echo $limit >"$cg/memory.max"
	[ ! -e "$cg/memory.swap.max" ] || echo 0 >"$cg/memory.swap.max"
else
	echo $limit >"$cg/memory.limit_in_bytes"
	# No swap: memory plus swap at the same limit (absent: no swap
	# accounting, and then the host's swap is off or unlimited).
	[ ! -e "$cg/memory.memsw.limit_in_bytes" ] || echo $limit >"$cg/memory.memsw.limit_in_bytes"
fi
cg_oom_kills() {
	if [ $v = 2 ]; then
		awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events"
	else
		awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control"
	fi
}
cg_peak() {
	if [ $v = 2 ]; then
		cat "$cg/memory.peak" 2>/dev/null || echo 0
	else
		cat "$cg/memory.max_usage_in_bytes"
	fi
}

size=$((64 * 1048576))
mkdir -p "$T/www"
fio_image "$T/www/img" $size
chmod a+r "$T/www/img"
start_nginx web "$T/www"
# shellcheck disable=SC2154  # web_http: start_nginx's
url=http://127.0.0.1:$web_http/img

# Started inside the cgroup (the subshell moves itself, then becomes
# uloop): every page the daemon ever touches is charged there.
: >"$T/dev"
(
	echo 0 >"$cg/cgroup.procs"
	exec "$ULOOP_NET" attach "$url" --cache "$T/cache" --transport fuse \
		--device "$T/dev" --connections "$conns"
) >/dev/null || fail "attach in the cgroup failed"
on_exit "$ULOOP_NET detach $T/dev >/dev/null 2>&1"
pid=$("$ULOOP_NET" status "$T/dev" --json | json_get pid)
grep -qx "$pid" "$cg/cgroup.procs" || fail "the daemon ($pid) is not in $cg"
sampler_start "$pid" "$web_http" "$T/dev"

# A daemon killed mid-load fails its readers (ECONNABORTED): fio says so.
(fio_load burst "$T/dev" $size --ioengine=libaio --iodepth=256 --numjobs=8) ||
	fail "the burst failed; OOM kills in the cgroup: $(cg_oom_kills)"
(fio_load clients "$T/dev" $size --ioengine=psync --numjobs=256 --io_size=2m) ||
	fail "the 256 readers failed; OOM kills in the cgroup: $(cg_oom_kills)"
sampler_stop

kills=$(cg_oom_kills)
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || :)
echo "cgroup v$v, limit $((limit >> 20)) MiB, $conns connections: peak $(($(cg_peak) >> 10)) KiB (page cache of the flash writes included), daemon's peak RSS ${hwm:-?} KiB, bound $((3 * 1024 + 53 * conns * 1024 / 10)) KiB, OOM kills $kills, connections at most $(column_max 1), FUSE requests waiting at most $(column_max 4)"
[ "$kills" = 0 ] || fail "$kills OOM kills in the daemon's cgroup"
kill -0 "$pid" 2>/dev/null || fail "the daemon is gone"
cmp "$T/dev" "$T/www/img" || fail "the device does not read as the image after the load"
"$ULOOP_NET" status "$T/dev" --json >"$T/st"
errs=$(sed -n 's/.*"fetch_errors":\([0-9]*\).*/\1/p' "$T/st")
[ "$errs" = 0 ] || fail "$errs fetch errors during the load"
"$ULOOP_NET" detach "$T/dev" >/dev/null || fail "detach failed"
