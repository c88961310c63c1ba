#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly D1 K3 E2
# uloop.ko in a Debian-kernel guest, served by tests/kmod/uloopd-test:
#  1. a squashfs through /dev/uloopN, cache on a raw virtio disk at a data
#     offset (direct-I/O hits): every file's checksum is right, cold;
#  2. the daemon killed (-9): every file again, warm, with no daemon: only
#     hits (sysfs hits moves, misses does not), held stays 0;
#  3. a new daemon ATTACHes under a verifying reader while the old one is
#     killed -9 over and over: no error, data right;
#  4. the same image with a cache file on tmpfs (buffered hits), misses
#     completed with ULOOP_C_DATA (nothing stored, nothing marked), blocks
#     withdrawn with CLEAR_PRESENT (read again as misses, right data) and
#     with readahead announced by SET_PRESENT;
#  4c. checksums of hits: blocks spoilt under their set bits are caught
#     (aligned and unaligned reads), refetched and served right; a daemon
#     that does not repair them is asked for its bytes; one that will not
#     give them gets EIO, never the spoilt bytes;
#  5. REMOVE is refused while mounted, rmmod while a device exists;
#     remove, rmmod work once free; nothing in dmesg.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs gcc
vm_kernel
vm_uloop_ko daemon

mkdir -p "$T/tree"
cp -r /usr/share/doc/d* "$T/tree/" 2>/dev/null
dd if=/dev/urandom of="$T/tree/big.bin" bs=1M count=6 status=none
mksquashfs "$T/tree" "$T/image.sqfs" -no-progress -quiet -comp gzip >/dev/null
# An image size that is not a multiple of 512: the tail reads as zeros.
head -c 1000 /dev/urandom >>"$T/image.sqfs"
( cd "$T/tree" && find . -type f | sort | while read -r f; do sha256sum "$f"; done ) >"$T/expected"
truncate -s 64M "$T/flash"

cat >"$T/guest.sh" <<'G'
set -u
insmod /uloop.ko
S=/sys/block/uloop0/uloop
check() { mount -t squashfs -o ro "$1" /mnt && (cd /mnt && sha256sum -c -s /expected.sha256) && umount /mnt; }
# The device is the image rounded up to 512 bytes; the rest reads as zeros.
# start ARGS...: a daemon in the background ($dpid), its device in $dev.
n=0
start() {
	n=$((n + 1))
	uloopd-test serve "$@" >/tmp/d.$n &
	dpid=$!
	while [ ! -s /tmp/d.$n ]; do sleep 0.1; done
	dev=$(head -n 1 /tmp/d.$n)
}
whole() {
	size=$(stat -c %s /image.sqfs)
	head -c "$size" "$1" | cmp - /image.sqfs &&
		[ "$(tail -c +$((size + 1)) "$1" | tr -d '\0' | wc -c)" = 0 ] &&
		[ $(($(blockdev --getsize64 "$1") - size)) = $((511 - (size + 511) % 512)) ] &&
		echo "WHOLE OK $2"
}

# 1. cold, raw disk cache at 1 MiB
start /image.sqfs /dev/vda --offset 1048576 --hold 60000
echo "direct_io=$(cat $S/direct_io) block_size=$(cat $S/block_size)"
check "$dev" && echo "COLD OK"
whole "$dev" cold
m1=$(cat $S/misses) h1=$(cat $S/hits)
echo "cold: misses=$m1 hits=$h1 present=$(cat $S/present)/$(cat $S/blocks)"
[ "$m1" -gt 0 ] && echo "COLD MISSES"

# 2. warm without a daemon
kill -9 $dpid; wait $dpid 2>/dev/null || true
[ "$(cat $S/daemon_attached)" = 0 ] && echo "DAEMON GONE"
echo 3 >/proc/sys/vm/drop_caches
check "$dev" && whole "$dev" warm && echo "WARM NO DAEMON OK"
m2=$(cat $S/misses) h2=$(cat $S/hits)
echo "warm: misses=$m2 hits=$h2 held=$(cat $S/held)"
[ "$m2" = "$m1" ] && [ "$h2" -gt "$h1" ] && [ "$(cat $S/held)" = 0 ] && echo "HITS IN KERNEL"

# 3. kill -9 and ATTACH again under a verifying reader (cold again: the
#    disk cache is wiped through a fresh device on another offset)
uloopd-test remove 0
start /image.sqfs /dev/vda --offset 8388608 --hold 60000 --delay-ms 20
uloopd-test verify "$dev" /image.sqfs 12 16384 >/tmp/v.out 2>&1 &
vpid=$!
i=0 busy=0
while [ $i -lt 6 ]; do
	sleep 1
	# Misses handed out and not completed when it dies: the next daemon
	# gets them again.
	[ "$(cat $S/inflight)" -gt 0 ] && busy=$((busy + 1))
	kill -9 $dpid; wait $dpid 2>/dev/null || true
	n=$((n + 1))
	uloopd-test serve /image.sqfs /dev/vda --offset 8388608 --hold 60000 --delay-ms 20 \
		--attach 0 >/tmp/d.$n &
	dpid=$!
	i=$((i + 1))
done
wait $vpid && echo "REATTACH NO EIO $(cat /tmp/v.out)"
echo "killed with misses in flight: $busy of 6"
[ $busy -gt 0 ] && echo "KILLED IN FLIGHT"
cat /tmp/v.out
whole "$dev" reattach
echo "reattach: failed=$(cat $S/failed) misses=$(cat $S/misses) hits=$(cat $S/hits)"
[ "$(cat $S/failed)" = 0 ] && echo "REATTACH NO FAILED"
kill $dpid; wait $dpid || echo "DAEMON EXIT $?"

# 4. tmpfs cache (buffered), DATA completions, then SET_PRESENT readahead
uloopd-test remove 0
truncate -s 16M /tmp/cache
start /image.sqfs /tmp/cache --data
echo "tmpfs direct_io=$(cat $S/direct_io)"
check "$dev" && whole "$dev" data && [ "$(cat $S/present)" = 0 ] && echo "DATA OK"
kill $dpid; wait $dpid || echo "DAEMON EXIT $?"
uloopd-test remove 0

# 4b. CLEAR_PRESENT: blocks 8-9 read (a miss, then a hit), withdrawn by the
#     daemon (bits cleared, then the cache bytes spoilt): the next read is a
#     miss again and its data is the image's, not the cache's.  The
#     device's first open reads its partition table (misses of their own,
#     the blocks the kernel's parsers look at: 0, 1 and 3; uloop attach
#     opens a device so before it says ready): done before counting, on
#     blocks apart from those.
start /image.sqfs /tmp/cache --clear-on-usr1 8:2
rd() { dd if="$dev" bs=4096 skip=8 count=2 iflag=direct 2>/dev/null | cmp - /tmp/want; }
dd if=/image.sqfs of=/tmp/want bs=4096 skip=8 count=2 2>/dev/null
m1='' m2='' m3='' p1='' p2=''
: <"$dev"
m0=$(cat $S/misses)
rd && m1=$(cat $S/misses) && rd && m2=$(cat $S/misses) && p1=$(cat $S/present)
kill -USR1 $dpid
i=0
while ! grep -q cleared /tmp/d.$n && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
p2=$(cat $S/present)
rd && m3=$(cat $S/misses)
echo "clear: misses $m0 $m1 $m2 $m3 present $p1 $p2"
# dd reads the two blocks one at a time: two misses each time they are not present
[ "$m1" = $((m0 + 2)) ] && [ "$m2" = "$m1" ] && [ "$m3" = $((m2 + 2)) ] && [ "$p2" = $((p1 - 2)) ] &&
	rd && [ "$(cat $S/misses)" = "$m3" ] && echo "CLEARED IS A MISS"
kill $dpid; wait $dpid || echo "DAEMON EXIT $?"
uloopd-test remove 0

# 4c. checksums of hits (raw disk at 16 MiB, direct-I/O hits, the CRCs in
#     the page after the data): the cache filled and marked whole.
C="/image.sqfs /dev/vda --offset 16777216 --csum --fill --full"
stop() { kill $dpid; wait $dpid || echo "DAEMON EXIT $?"; uloopd-test remove 0 >/dev/null; }
errs() { cat $S/csum_errors; }
blk() { dd if="$dev" bs="$1" skip="$2" count=1 iflag=direct 2>/dev/null; }
dd if=/image.sqfs of=/tmp/want5 bs=4096 skip=5 count=1 2>/dev/null
dd if=/image.sqfs of=/tmp/want21k bs=1024 skip=21 count=1 2>/dev/null
start $C
echo "csum: offset=$(cat $S/csum_offset) data_offset=$(cat $S/data_offset)"
check "$dev" && whole "$dev" csum && [ "$(errs)" = 0 ] && [ "$(cat $S/misses)" = 0 ] &&
	echo "CSUM CLEAN"
stop
#   Blocks 5-7 rot under their set bits: a 1 KiB read inside block 5 (the
#   rest of its span read and checked too), then the whole device: each
#   bad span is caught once, refetched by the daemon, and served right;
#   read again, they are hits with no error.
start $C --rot 5:3
e1='' e2='' m2=''
blk 1024 21 | cmp - /tmp/want21k && e1=$(errs)
whole "$dev" rot && e2=$(errs) && m2=$(cat $S/misses)
echo 3 >/proc/sys/vm/drop_caches
whole "$dev" rot-again
echo "csum rot: errors $e1 $e2 $(errs) misses $m2 $(cat $S/misses) hits $(cat $S/hits)"
[ "$e1" = 1 ] && [ "$e2" = 3 ] && [ "$(errs)" = 3 ] && [ "$(cat $S/misses)" = "$m2" ] &&
	dmesg | grep -q "uloop0: cache block 5 .*checksum mismatch" && echo "CSUM ROT REPAIRED"
stop
#   A daemon that completes the miss without repairing the cache: the
#   second bad read asks for its bytes (ULOOP_M_DATA), which are served.
start $C --rot 5:1 --stale
blk 4096 5 | cmp - /tmp/want5 && echo "csum stale: errors $(errs)" && [ "$(errs)" = 2 ] &&
	echo "CSUM DAEMON DATA"
stop
#   One that does not even then: EIO, never the rotten bytes.
start $C --rot 5:1 --stale --ignore-m-data
! blk 4096 5 >/tmp/got5 && [ ! -s /tmp/got5 ] && echo "csum stubborn: errors $(errs)" &&
	[ "$(errs)" = 3 ] && echo "CSUM EIO"
stop
start /image.sqfs /tmp/cache --ahead 16 --shift 16
check "$dev" && whole "$dev" ahead && echo "AHEAD OK misses=$(cat $S/misses) hits=$(cat $S/hits)"

# 5. refusals
mount -t squashfs -o ro "$dev" /mnt
[ "$(uloopd-test remove 0)" = EBUSY ] && echo "REMOVE MOUNTED REFUSED"
umount /mnt
kill $dpid; wait $dpid || echo "DAEMON EXIT $?"
rmmod uloop 2>/dev/null || echo "RMMOD REFUSED"
[ "$(uloopd-test remove 0)" = OK ] && echo "REMOVED"
[ ! -e /sys/block/uloop0 ] && echo "DEVICE GONE"
rmmod uloop && echo "RMMOD OK"
dmesg | grep -E "WARNING|BUG|Oops|Call Trace|uloop" || true
dmesg | grep -qE "WARNING|BUG|Oops|Call Trace" || echo "DMESG CLEAN"
G
vm_initrd "$T/t.img" "$T/guest.sh" "$T/expected:/expected.sha256" "$KO:/uloop.ko" \
	"$D:/bin/uloopd-test" "$T/image.sqfs:/image.sqfs"
vm_boot kmod "$T/t.img" "$T/flash" || { tail -n 40 "$T/kmod.log"; fail "guest failed"; }
grep -E "^(cold|warm|reattach|direct_io|tmpfs|verify|AHEAD|killed|clear|csum)" "$T/kmod.log" || true
for want in "COLD OK" "WHOLE OK cold" "COLD MISSES" "DAEMON GONE" "WARM NO DAEMON OK" \
	"HITS IN KERNEL" "REATTACH NO EIO" "KILLED IN FLIGHT" "WHOLE OK reattach" "REATTACH NO FAILED" \
	"DATA OK" "CLEARED IS A MISS" "CSUM CLEAN" "CSUM ROT REPAIRED" "CSUM DAEMON DATA" "CSUM EIO" "AHEAD OK" "REMOVE MOUNTED REFUSED" "RMMOD REFUSED" "REMOVED" \
	"DEVICE GONE" "RMMOD OK" "DMESG CLEAN"; do
	grep -q "$want" "$T/kmod.log" || { tail -n 40 "$T/kmod.log"; fail "no '$want'"; }
	echo "ok: $want"
done
