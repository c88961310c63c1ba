#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly D1 K3 E2
# The real daemon on uloop.ko: `uloop attach --transport kmod|auto` serving
# a squashfs from nginx, in a Debian-kernel guest:
#  1. auto, module not loaded: `modprobe uloop` loads it and kmod is
#     picked; /dev/uloop0 is printed; status shows it with the driver's
#     counters; every file's checksum is right (cold);
#  2. the daemon killed -9: every file again, warm, from the kernel alone
#     (sysfs hits moves, misses does not); then data and checksums
#     spoilt on the flash under the driver's hits: caught, fetched again,
#     served right, repaired, counted in `uloop status`;
#  3. a cold device on a second disk (4 KiB blocks, no readahead) read
#     and verified while its daemon is killed -9 and a new `uloop attach`
#     of the same image and cache takes it over, four times: no EIO, no
#     failed request, data right;
#  4. detach: refused while mounted; then the device, its daemon and its
#     run state are gone; the 2007 `ulohttp -c CACHE /dev/uloop1 URL`
#     serves on uloop.ko too; a uml-cow cache (a UML COW file) is served
#     by the kernel from hits alone, as native is, its daemon killed;
#  5. the refusals: kmod without a cache, kmod --read-write, a non-uloop
#     --device; auto without a cache picks nbd; dmesg clean.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs gcc
vm_kernel
vm_uloop_ko daemon

mkdir -p "$T/www" "$T/tree"
cp -r /usr/share/doc/d* "$T/tree/" 2>/dev/null
dd if=/dev/urandom of="$T/tree/big.bin" bs=1M count=12 status=none
mksquashfs "$T/tree" "$T/www/root.sqfs" -no-progress -quiet -comp gzip >/dev/null
( cd "$T/tree" && find . -type f | sort | while read -r f; do sha256sum "$f"; done ) >"$T/expected"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
truncate -s 64M "$T/flash1"
truncate -s 64M "$T/flash2"

cat >"$T/guest.sh" <<'G'
set -u
URL=http://10.0.2.100/root.sqfs
check() { mount -t squashfs -o ro "$1" /mnt && (cd /mnt && sha256sum -c -s /expected.sha256) && umount /mnt; }
k() { cat "/sys/block/$1/uloop/$2"; }
pid_of() { uloop status "$1" --json | sed -n 's/.*"pid":\([0-9]*\).*/\1/p'; }

# 1. auto: uloop.ko where modprobe finds it, not loaded
kv=$(uname -r)
mkdir -p "/lib/modules/$kv/extra"
cp /uloop.ko "/lib/modules/$kv/extra/"
echo "extra/uloop.ko:" >>"/lib/modules/$kv/modules.dep"
[ ! -e /dev/uloop-control ] && echo "NOT LOADED"
dev=$(uloop attach $URL --cache /dev/vda --connections 4)
echo "auto attached $dev"
[ "$dev" = /dev/uloop0 ] && echo "AUTO KMOD"
uloop status
uloop status | grep -q "^/dev/uloop0: kmod" && uloop status | grep -q "kernel: hits" && echo "STATUS KMOD"
check "$dev" && echo "COLD OK"
m1=$(k uloop0 misses) h1=$(k uloop0 hits)
echo "cold: misses=$m1 hits=$h1 present=$(k uloop0 present)/$(k uloop0 blocks)"

# 2. warm, the daemon killed
pid=$(pid_of "$dev")
kill -9 "$pid"
while [ "$(k uloop0 daemon_attached)" != 0 ]; do sleep 0.1; done
echo 3 >/proc/sys/vm/drop_caches
check "$dev" && echo "WARM NO DAEMON OK"
m2=$(k uloop0 misses) h2=$(k uloop0 hits)
echo "warm: misses=$m2 hits=$h2"
[ "$m2" = "$m1" ] && [ "$h2" -gt "$h1" ] && echo "HITS IN KERNEL"
uloop status | grep -q "daemon gone" && echo "STATUS GONE"
# The same attach again takes the device back (no --device needed).
dev=$(uloop attach $URL --cache /dev/vda --transport kmod)
[ "$dev" = /dev/uloop0 ] && [ "$(k uloop0 daemon_attached)" = 1 ] && echo "RETAKEN $dev"

# 2b. rot on the flash behind everyone's back: 4 KiB of data (image offset
#     4 MiB) and a sector of checksums (those of image offsets 5-5.5 MiB),
#     hits before, spoilt on /dev/vda: the driver catches each, the
#     daemon's own checked read withdraws the blocks and fetches them again;
#     the reads are right, and read again they are hits with no new error.
do=$(k uloop0 data_offset) co=$(k uloop0 csum_offset)
echo "rot: data_offset $do csum_offset $co"
rd() { dd if=/dev/uloop0 bs=4096 skip="$1" count="$2" iflag=direct 2>/dev/null; }
dd if=/image.sqfs of=/tmp/w1 bs=4096 skip=1024 count=1 2>/dev/null
dd if=/image.sqfs of=/tmp/w2 bs=4096 skip=1280 count=128 2>/dev/null
rd 1024 1 >/dev/null
rd 1280 128 >/dev/null
head -c 4096 /dev/urandom >/tmp/junk
if [ "$co" -gt 0 ] && [ $((do % 512)) = 0 ] && [ $((co % 512)) = 0 ] &&
	dd if=/tmp/junk of=/dev/vda bs=512 seek=$(((do + 4194304) / 512)) count=8 oflag=direct conv=notrunc 2>/dev/null &&
	dd if=/tmp/junk of=/dev/vda bs=512 seek=$(((co + 5120) / 512)) count=1 oflag=direct conv=notrunc 2>/dev/null; then
	e0=$(k uloop0 csum_errors)
	rd 1024 1 | cmp - /tmp/w1 && rd 1280 128 | cmp - /tmp/w2 && echo "ROT READ RIGHT"
	e1=$(k uloop0 csum_errors) m1=$(k uloop0 misses)
	rd 1024 1 | cmp - /tmp/w1 && rd 1280 128 | cmp - /tmp/w2 &&
		[ "$(k uloop0 misses)" = "$m1" ] && [ "$(k uloop0 csum_errors)" = "$e1" ] && echo "ROT REPAIRED"
	# dd reads 4 KiB at a time: the first read of each block catches it
	# (the data's block, then each block of the checksums' 512 KiB), and
	# its refetch rewrites the block's data and every checksum of it.
	bad=$((1 + 524288 / $(k uloop0 block_size)))
	echo "rot: kernel csum_errors $e0 -> $e1, $bad blocks spoilt"
	[ $((e1 - e0)) = "$bad" ] && echo "ROT CAUGHT"
	# The run state the status reads is written with each commit (1 s).
	i=0
	until uloop status | grep -q "flash:  $bad checksum errors" || [ $i -ge 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	uloop status | grep -e "kernel:" -e "flash:"
	uloop status | grep -q "kernel:.* csum_errors $e1" &&
		uloop status | grep -q "flash:  $bad checksum errors, 0 read errors, $bad blocks fetched again" &&
		echo "ROT IN STATUS"
	dmesg | grep -q "uloop0: cache block .*checksum mismatch" && echo "ROT LOGGED"
fi

# 3. kill -9 and takeover under a verifying reader, cold
dev=$(uloop attach $URL --cache /dev/vdb --transport kmod --block-size 4K --readahead 0 --connections 2)
echo "second device $dev"
uloopd-test verify "$dev" /image.sqfs 14 16384 >/tmp/v.out 2>&1 &
vpid=$!
i=0 busy=0
while [ $i -lt 4 ]; do
	sleep 2
	[ "$(k uloop1 inflight)" -gt 0 ] && busy=$((busy + 1))
	kill -9 "$(pid_of "$dev")"
	sleep 0.3
	new=$(uloop attach $URL --cache /dev/vdb --transport kmod --block-size 4K --readahead 0 --connections 2)
	[ "$new" = "$dev" ] || echo "TAKEOVER GAVE $new"
	i=$((i + 1))
done
wait $vpid && echo "RESTART NO EIO $(cat /tmp/v.out)"
cat /tmp/v.out
echo "killed with misses in flight: $busy of 4; failed=$(k uloop1 failed) misses=$(k uloop1 misses) hits=$(k uloop1 hits)"
[ "$(k uloop1 failed)" = 0 ] && echo "RESTART NO FAILED"

# 4. detach
mount -t squashfs -o ro /dev/uloop0 /mnt
uloop detach /dev/uloop0 2>/tmp/e || { cat /tmp/e; echo "DETACH MOUNTED REFUSED"; }
umount /mnt
pid=$(pid_of /dev/uloop1)
uloop detach /dev/uloop1 && [ ! -e /sys/block/uloop1 ] && ! kill -0 "$pid" 2>/dev/null &&
	! uloop status /dev/uloop1 >/dev/null 2>&1 && echo "DETACHED"
uloop detach /dev/uloop0 && echo "DETACHED 0"
uloop status

# 4b. the 2007 command line on uloop.ko's device (docs/kmod.md)
dev=$(ulohttp -c /dev/vda /dev/uloop1 $URL)
[ "$dev" = /dev/uloop1 ] && check /dev/uloop1 && uloop status /dev/uloop1 | grep -q "^/dev/uloop1: kmod" &&
	echo "ULOHTTP KMOD"
uloop detach /dev/uloop1

# 4c. a uml-cow cache (a UML COW file on /dev/vdb, laid out anew over
#     the native one there): uloop.ko serves its hits itself, as native's
dev=$(uloop attach $URL --cache /dev/vdb --format uml-cow --wipe --transport kmod)
n=${dev#/dev/}
check "$dev" && echo "UMLCOW COLD OK"
uloop info /dev/vdb | grep -q "format: *uml-cow" && echo "UMLCOW FORMAT"
kill -9 "$(pid_of "$dev")"
i=0
while [ "$(k "$n" daemon_attached)" != 0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
echo 3 >/proc/sys/vm/drop_caches
m1=$(k "$n" misses)
check "$dev" && [ "$(k "$n" misses)" = "$m1" ] && echo "UMLCOW HITS IN KERNEL"
dev=$(uloop attach $URL --cache /dev/vdb --transport kmod)
uloop detach "$dev"

# 5. refusals, and auto without a cache
uloop attach $URL --transport kmod 2>&1 | grep -q "needs --cache" && echo "NO CACHE REFUSED"
uloop attach $URL --cache /dev/vda --transport kmod --read-write 2>&1 |
	grep -q "read-only; use --transport nbd" && echo "RW REFUSED"
uloop attach $URL --cache /dev/vda --transport kmod --device /dev/nbd0 2>&1 |
	grep -q "serves /dev/uloopN" && echo "NBD DEVICE REFUSED"
dev=$(uloop attach $URL)
case $dev in /dev/nbd*) echo "AUTO NO CACHE NBD $dev" ;; esac
uloop detach "$dev"
rmmod uloop && echo "RMMOD OK"
dmesg | grep -E "WARNING|BUG|Oops|Call Trace|uloop" || true
dmesg | grep -qE "WARNING|BUG|Oops|Call Trace" || echo "DMESG CLEAN"
G
vm_initrd "$T/t.img" "$T/guest.sh" "$T/expected:/expected.sha256" "$KO:/uloop.ko" \
	"$D:/bin/uloopd-test" "$T/www/root.sqfs:/image.sqfs"
VM_MEM=1024 vm_boot kmod-daemon "$T/t.img" "$T/flash1 $T/flash2" ||
	{ tail -n 40 "$T/kmod-daemon.log"; fail "guest failed"; }
grep -E "^(auto|cold|warm|rot|second|killed|RESTART|TAKEOVER|  kernel|  flash)" "$T/kmod-daemon.log" || true
for want in "NOT LOADED" "AUTO KMOD" "STATUS KMOD" "COLD OK" "WARM NO DAEMON OK" "HITS IN KERNEL" \
	"STATUS GONE" "RETAKEN /dev/uloop0" "ROT READ RIGHT" "ROT REPAIRED" "ROT CAUGHT" \
	"ROT IN STATUS" "ROT LOGGED" "RESTART NO EIO" "RESTART NO FAILED" \
	"DETACH MOUNTED REFUSED" "DETACHED" "DETACHED 0" "ULOHTTP KMOD" \
	"UMLCOW COLD OK" "UMLCOW FORMAT" "UMLCOW HITS IN KERNEL" "NO CACHE REFUSED" "RW REFUSED" \
	"NBD DEVICE REFUSED" "AUTO NO CACHE NBD" "RMMOD OK" "DMESG CLEAN"; do
	grep -q "$want" "$T/kmod-daemon.log" || { tail -n 40 "$T/kmod-daemon.log"; fail "no '$want'"; }
	echo "ok: $want"
done
! grep -q "TAKEOVER GAVE" "$T/kmod-daemon.log" || fail "a takeover made another device"
