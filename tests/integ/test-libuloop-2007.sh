#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A program written to the 2007 libuloop API (docs/examples) serves an
# image: read through the device file and through a loop device on it,
# stopped by its signal with a clean cache, restarted warm.
. "$(dirname "$0")/functions.sh"
requires_root
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }
ex=$top/build/examples/ulo2007-example
[ -x "$ex" ] || fail "missing $ex (make test-bins)"

size=$((12 * 1024 * 1024 + 3))
make_image "$T/img" $size

start() {
	"$ex" "$T/dev" "$T/img" "$T/c" "$T/b" >"$T/ex.out" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		grep -q ready "$T/ex.out" && return 0
		kill -0 $pid 2>/dev/null || fail "example died: $(cat "$T/ex.out")"
		sleep 0.1
	done
	fail "example did not become ready"
}
stop() {
	kill -TERM $pid
	rc=0
	wait $pid || rc=$?
	[ $rc -eq 0 ] || fail "example exited $rc on SIGTERM: $(cat "$T/ex.out")"
	! grep -q " $T/dev " /proc/mounts || fail "device still mounted"
}
on_exit 'kill -9 $pid 2>/dev/null; umount -l "$T/dev" 2>/dev/null'

start
[ "$(fsize "$T/dev")" -eq $size ] || fail "device size $(fsize "$T/dev")"
cmp "$T/dev" "$T/img" || fail "device content differs"
stop
$ULOOP info "$T/c" --bitmap "$T/b" | grep -q "present:      3073 of 3073" ||
	fail "cache not full: $($ULOOP info "$T/c" --bitmap "$T/b")"
$ULOOP check "$T/c" --bitmap "$T/b" --source "$T/img"

# Warm: the backend is gone, yet everything reads from the cache.
mv "$T/img" "$T/img.moved"
touch "$T/img"
truncate -s $size "$T/img"
start
if command -v losetup >/dev/null && loop=$(losetup -f --show -r "$T/dev" 2>/dev/null); then
	on_exit "losetup -d $loop"
	# A loop device ends at the last whole 512-byte sector.
	cmp -n $((size / 512 * 512)) "$loop" "$T/img.moved" || fail "loop device over the FUSE file differs"
	losetup -d "$loop"
else
	cmp "$T/dev" "$T/img.moved" || fail "warm device content differs"
fi
stop
