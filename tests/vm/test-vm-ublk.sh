#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly D1
# The ublk transport (/dev/ublkbN) in one Debian 13 guest (6.12, which
# builds ublk_drv; Debian 12's 6.1 does not), on an image from nginx:
#  - read-only with a cache: the whole device is the image byte for byte,
#    the disk is read-only, `uloop status` says ublk, detach removes the
#    device and the daemon, and `uloop check --source` finds the cache clean;
#  - auto picks ublk where uloop.ko is absent;
#  - --read-write (in memory): written bytes read back over the image,
#    after the page cache is dropped;
#  - --cow: written, detached, attached again on the same COW file: the
#    writes are there, the rest is the image;
#  - SIGTERM while the device is mounted leaves it to a successor (reads
#    held meanwhile, then served); a dead daemon's device is detached;
#  - partitions: a GPT whole-disk image gives /dev/ublkbNp1 and p2, each
#    the host's bytes, listed by `uloop status`;
#  - takeover: a reader reads the whole device through a cold cache whose
#    misses come through a delaying relay; the daemon is killed -9 while
#    requests are in flight, a new `uloop attach` of the same image and
#    cache recovers the same device (the driver's user recovery), and the
#    reader finishes with the right bytes and no I/O error.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs python3 sfdisk
VM_KSERIES=trixie
vm_kernel
modprobe -S "$KVER" -d "$KROOT" --show-depends ublk_drv >/dev/null 2>&1 ||
	{ echo "the guest kernel $KVER has no ublk_drv"; exit 77; }
VM_MODULES="$VM_MODULES ublk_drv"

mkdir -p "$T/www" "$T/tree"
cp -r /usr/share/doc/c* "$T/tree/" 2>/dev/null
dd if=/dev/urandom of="$T/tree/big.bin" bs=1M count=12 status=none
# 4 KiB blocks, incompressible: the reader's misses are many small runs.
mksquashfs "$T/tree" "$T/www/root.sqfs" -no-progress -quiet -comp gzip -b 4K >/dev/null
# A GPT whole-disk image: two partitions of random bytes.
head -c $((4 * 1048576)) /dev/zero >"$T/www/disk.img"
printf 'label: gpt\nstart=2048, size=2048, name=one\nstart=4096, size=3072, name=two\n' |
	sfdisk -q "$T/www/disk.img"
head -c $((2048 * 512)) /dev/urandom >"$T/p1"
head -c $((3072 * 512)) /dev/urandom >"$T/p2"
dd if="$T/p1" of="$T/www/disk.img" bs=512 seek=2048 conv=notrunc status=none
dd if="$T/p2" of="$T/www/disk.img" bs=512 seek=4096 conv=notrunc status=none
start_nginx web "$T/www"
relay=$(free_port)
python3 "$top/tests/integ/lossy-relay.py" --listen "$relay" --to "$web_http" \
	--delay 30 --jitter 10 --log "$T/relay.log" &
rpid=$!
on_exit "kill $rpid 2>/dev/null"
# Port 80 is nginx itself; 443 (plain HTTP too) goes through the relay.
VM_HTTP_PORT=$web_http
VM_HTTPS_PORT=$relay

cat >"$T/guest.sh" <<'G'
set -u
URL=http://10.0.2.100/root.sqfs
SLOW=http://10.0.2.100:443/root.sqfs
pid_of() { sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "/run/uloop/${1#/dev/}.json"; }
gone() { ! [ -e "/sys/block/${1#/dev/}" ] && ! kill -0 "$2" 2>/dev/null; }

# Read-only, with a cache on the flash.
dev=$(uloop attach $URL --cache /dev/vda --transport ublk) || exit 1
case $dev in /dev/ublkb[0-9]*) echo "RO ATTACHED $dev" ;; esac
cmp "$dev" /img && echo "RO SAME BYTES"
[ "$(blockdev --getro "$dev")" = 1 ] && echo "RO DISK"
uloop status --json | grep -q "\"device\":\"$dev\",.*\"transport\":\"ublk\"" && echo "STATUS UBLK"
pid=$(pid_of "$dev")
uloop detach "$dev" && gone "$dev" "$pid" && echo "RO DETACHED"
uloop check /dev/vda --source $URL >/dev/null && echo "CACHE CLEAN"

# auto: no uloop.ko here, the kernel has ublk.
dev=$(uloop attach $URL --cache /dev/vda) || exit 1
case $dev in /dev/ublkb*) echo "AUTO UBLK" ;; esac
uloop detach "$dev"

# --read-write: in memory, over the image.
head -c 1048576 /dev/urandom >/tmp/pat
cp /img /tmp/exp
dd if=/tmp/pat of=/tmp/exp bs=1M seek=4 conv=notrunc 2>/dev/null
dev=$(uloop attach $URL --transport ublk --read-write) || exit 1
[ "$(blockdev --getro "$dev")" = 0 ] && echo "RW DISK"
dd if=/tmp/pat of="$dev" bs=1M seek=4 conv=fsync 2>/dev/null && echo "RW WRITTEN"
echo 3 >/proc/sys/vm/drop_caches
cmp "$dev" /tmp/exp && echo "RW READ BACK"
uloop detach "$dev"

# --cow: kept in the file across a detach.
dd if=/tmp/pat of=/tmp/exp bs=1M seek=8 conv=notrunc 2>/dev/null
dev=$(uloop attach $URL --cache /dev/vda --transport ublk --cow /tmp/w.cow) || exit 1
dd if=/tmp/pat of="$dev" bs=1M seek=4 conv=fsync 2>/dev/null &&
	dd if=/tmp/pat of="$dev" bs=1M seek=8 conv=fsync 2>/dev/null && echo "COW WRITTEN"
uloop detach "$dev" || exit 1
dev=$(uloop attach $URL --cache /dev/vda --transport ublk --cow /tmp/w.cow) || exit 1
cmp "$dev" /tmp/exp && echo "COW READ BACK"
uloop detach "$dev"

# SIGTERM while mounted: the device stays, quiesced, its reads held
# until the next daemon takes it over.
dev=$(uloop attach $URL --cache /dev/vda --transport ublk) || exit 1
mount -t squashfs -o ro "$dev" /mnt || exit 1
pid=$(pid_of "$dev")
kill "$pid"
while [ -e "/proc/$pid" ]; do sleep 0.05; done
[ -e "/sys/block/${dev#/dev/}" ] && grep -q "^$dev /mnt " /proc/mounts && echo "LEFT MOUNTED"
echo 3 >/proc/sys/vm/drop_caches
(find /mnt -type f -exec cat {} + >/dev/null && echo "HELD READS DONE") >/tmp/held 2>&1 &
held=$!
new=$(uloop attach $URL --cache /dev/vda --transport ublk) || exit 1
[ "$new" = "$dev" ] && echo "SUCCESSOR ON $new"
wait $held
cat /tmp/held
umount /mnt
# A dead daemon's device: detach removes it.
pid=$(pid_of "$dev")
kill -9 "$pid"
while [ -e "/proc/$pid" ]; do sleep 0.05; done
uloop detach "$dev" && ! [ -e "/sys/block/${dev#/dev/}" ] && echo "DEAD DETACHED"

# Partitions of a whole-disk image (the driver reads the table when the
# device starts, from the daemon's queue).
dev=$(uloop attach http://10.0.2.100/disk.img --transport ublk) || exit 1
cmp "${dev}p1" /p1 && cmp "${dev}p2" /p2 && echo "PARTITIONS SAME BYTES"
uloop status "$dev" | grep -q "partitions: ${dev}p1 ${dev}p2\$" && echo "STATUS PARTITIONS"
uloop detach "$dev"

# Takeover: killed -9 in the middle of a cold read.
dev=$(uloop attach $SLOW --cache /dev/vdb --transport ublk --readahead 0 --block-size 4K) ||
	exit 1
pid=$(pid_of "$dev")
(cmp "$dev" /img && echo "READER SAME BYTES") >/tmp/reader 2>&1 &
reader=$!
# Requests in flight (the driver counts them): kill then.  The reader
# is mid-read whatever the count says (it reads the whole device).
n=0 f=0
while [ $n -lt 3000 ]; do
	read -r r w <"/sys/block/${dev#/dev/}/inflight"
	f=$((r + w))
	[ $f = 0 ] || break
	sleep 0.01
	n=$((n + 1))
done
echo "in flight at the kill: $f"
kill -0 $reader 2>/dev/null && [ ! -s /tmp/reader ] && echo "READER MID-READ"
kill -9 "$pid"
while [ -e "/proc/$pid" ]; do sleep 0.05; done
new=$(uloop attach $SLOW --cache /dev/vdb --transport ublk --readahead 0 --block-size 4K) ||
	exit 1
if [ "$new" = "$dev" ] && [ "$(pid_of "$dev")" != "$pid" ]; then
	echo "TAKEN OVER $new"
else
	# Not taken over: the old device holds the reader's requests for
	# ever; ending it fails them, and the test, at once.
	echo "NOT TAKEN OVER: $new"
	uloop detach "$new"
	uloop detach "$dev" --force
fi
wait $reader
cat /tmp/reader
uloop detach "$dev"
dmesg | grep -E "I/O error|blk_update_request|WARNING:|BUG:|Call Trace" | head -n 5
dmesg | grep -qE "I/O error|blk_update_request|WARNING:|BUG:|Call Trace" || echo "DMESG CLEAN"
G

truncate -s 64M "$T/flash1" "$T/flash2"
vm_initrd "$T/ublk.img" "$T/guest.sh" "$T/www/root.sqfs:/img" "$T/p1:/p1" "$T/p2:/p2"
s=$(date +%s)
VM_MEM=768 vm_boot ublk "$T/ublk.img" "$T/flash1 $T/flash2" || true
echo "wall time: $(( $(date +%s) - s )) s"
grep -a "in flight at the kill" "$T/ublk.log" || true
vm_expect ublk "$T/ublk.log" "RO ATTACHED" "RO SAME BYTES" "RO DISK" "STATUS UBLK" \
	"RO DETACHED" "CACHE CLEAN" "AUTO UBLK" "RW DISK" "RW WRITTEN" "RW READ BACK" \
	"COW WRITTEN" "COW READ BACK" "LEFT MOUNTED" "SUCCESSOR ON" "HELD READS DONE" \
	"DEAD DETACHED" "PARTITIONS SAME BYTES" "STATUS PARTITIONS" "READER MID-READ" "TAKEN OVER" "READER SAME BYTES" \
	"DMESG CLEAN" || { tail -n 40 "$T/ublk.log"; fail "ublk"; }
