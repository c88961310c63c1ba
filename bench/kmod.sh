#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# kmod.sh - warm reads through uloop.ko in a QEMU guest, against the same
# cache read two other ways in the same guest run: a loop device on the
# cache partition at its data offset (losetup -o; buffered, as losetup
# makes it, and switched to direct I/O), and /dev/nbdN served by
# the real daemon (uloop attach).  The cache is a native cache on a virtio
# disk, filled once by uloop attach from nginx on the host.  Loads:
# sequential 1 MiB reads and random 4 KiB reads, O_DIRECT (bench/randread),
# each device measured twice, interleaved, best of two.  Prints ratios to
# loop; goal: uloop.ko >= 0.95x loop.  Absolute figures are an emulator's.
# uloop.ko is read three ways: "kmod" served by uloopd-test without
# checksums, "kmod-c" the same with them (the driver checks every hit
# against its CRC-32C: what that costs), "kmod-d" under the real daemon
# (checksums on, the cache's own bitmap).
# VM_KSERIES=trixie: the guest runs Debian 13's kernel (6.12), whose
# ublk_drv adds "ublk", the real daemon over /dev/ublkbN (uloop attach
# --transport ublk), in the same run.
set -eu
ULOOP_TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$ULOOP_TOP/tests/integ/functions.sh"
. "$ULOOP_TOP/tests/integ/http-functions.sh"
. "$ULOOP_TOP/tests/vm/lib.sh"
vm_kernel
RR=$ULOOP_TOP/build/bench/randread
D=$ULOOP_TOP/build/kmod/uloopd-test
[ -x "$RR" ] && [ -x "$D" ] || fail "missing $RR or $D (make bench)"
KO=$("$ULOOP_TOP/tests/kmod/build-kmod.sh" "$KVER") || exit $?
UBLK=""
if modprobe -S "$KVER" -d "$KROOT" --show-depends ublk_drv >/dev/null 2>&1; then
	UBLK=ublk
	VM_MODULES="$VM_MODULES ublk_drv"
fi
MiB=${BENCH_MIB:-64}
N=${BENCH_READS:-3000}

mkdir -p "$T/www"
make_image "$T/www/img" $((MiB * 1048576))
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
truncate -s $((MiB * 2))M "$T/flash"

cat >"$T/guest.sh" <<G
run() {	# run LABEL DEV
	echo 3 >/proc/sys/vm/drop_caches
	echo "R \$1 seq \$(randread "\$2" seq 1048576)"
	echo 3 >/proc/sys/vm/drop_caches
	echo "R \$1 rand \$(randread "\$2" random $N 4096 42)"
}
insmod /uloop.ko
# Fill the cache with the real daemon (cold), then read it warm over nbd.
dev=\$(uloop attach http://10.0.2.100/img --cache /dev/vda)
randread "\$dev" seq 1048576 >/dev/null
uloop detach "\$dev"
off=\$(uloop info /dev/vda --json | sed -n 's/.*"data_offset":\([0-9]*\).*/\1/p')
echo "data offset \$off"
truncate -s $((MiB * 1048576)) /tmp/size	# only its size: every block is present
loop=\$(losetup -f)
losetup -r -o "\$off" "\$loop" /dev/vda
dloop=\$(losetup -f)
losetup -r -o "\$off" "\$dloop" /dev/vda
uloopd-test loop-dio "\$dloop" && echo "loop-dio on"
uloopd-test serve /tmp/size /dev/vda --offset "\$off" --full >/tmp/d.out &
while [ ! -s /tmp/d.out ]; do sleep 0.1; done
udev=\$(cat /tmp/d.out)
# The same with checksums: uloopd-test writes the CRCs of the image's
# bytes (a copy of them in RAM) after the data on the flash.
dd if="\$loop" of=/tmp/img bs=1M count=$MiB 2>/dev/null
uloopd-test serve /tmp/img /dev/vda --offset "\$off" --full --csum >/tmp/c.out &
while [ ! -s /tmp/c.out ]; do sleep 0.1; done
cdev=\$(cat /tmp/c.out)
echo "kmod-c \$cdev csum_offset \$(cat /sys/block/\${cdev#/dev/}/uloop/csum_offset)"
echo "uloop.ko direct_io=\$(cat /sys/block/uloop0/uloop/direct_io)"
for pass in 1 2; do
	run loop "\$loop"
	run loop-dio "\$dloop"
	run kmod "\$udev"
	run kmod-c "\$cdev"
	dev=\$(uloop attach http://10.0.2.100/img --cache /dev/vda --transport kmod)
	run kmod-d "\$dev"
	echo "kmod-d \$dev misses \$(cat /sys/block/\${dev#/dev/}/uloop/misses)"
	uloop detach "\$dev"
	dev=\$(uloop attach http://10.0.2.100/img --cache /dev/vda --transport nbd)
	run nbd "\$dev"
	uloop detach "\$dev"
	if [ -n "$UBLK" ]; then
		dev=\$(uloop attach http://10.0.2.100/img --cache /dev/vda --transport ublk)
		run ublk "\$dev"
		uloop detach "\$dev"
	fi
done
echo "misses \$(cat /sys/block/uloop0/uloop/misses) hits \$(cat /sys/block/uloop0/uloop/hits)"
echo "kmod-c misses \$(cat /sys/block/\${cdev#/dev/}/uloop/misses) csum_errors \$(cat /sys/block/\${cdev#/dev/}/uloop/csum_errors)"
G
vm_initrd "$T/b.img" "$T/guest.sh" "$RR:/bin/randread" "$KO:/uloop.ko" "$D:/bin/uloopd-test"
VM_MEM=1024 vm_boot kmod-bench "$T/b.img" "$T/flash" ||
	{ tail -n 20 "$T/kmod-bench.log"; fail "bench guest failed"; }
grep -E "^(data offset|uloop.ko|misses|loop-dio|kmod-c|kmod-d)" "$T/kmod-bench.log" || true

best() {	# best LABEL KIND FIELD: the better of the two passes
	sed -n "s/.*R $1 $2 reads=\([0-9]*\) bytes=\([0-9]*\) usec=\([0-9]*\).*/\1 \2 \3/p" "$T/kmod-bench.log" |
		awk -v f="$3" '{ v = f == "mbs" ? $2 / $3 : $1 * 1e6 / $3; if (v > b) b = v }
			END { printf "%.1f", b }'
}
echo "kmod bench: $MiB MiB image, warm, $N random 4 KiB reads, O_DIRECT, guest under TCG"
printf '%-9s %12s %12s %14s %14s %18s\n' "" "seq MB/s" "rand IOPS" "seq vs loop" "rand vs loop" "vs loop-dio s/r"
ls=$(best loop seq mbs)
lr=$(best loop rand iops)
ds=$(best loop-dio seq mbs)
dr=$(best loop-dio rand iops)
for l in loop loop-dio kmod kmod-c kmod-d nbd $UBLK; do
	s=$(best $l seq mbs)
	r=$(best $l rand iops)
	printf '%-9s %12s %12s %14s %14s %18s\n' "$l" "$s" "$r" \
		"$(echo "$s $ls" | awk '{ printf "%.2f", $1 / $2 }')" \
		"$(echo "$r $lr" | awk '{ printf "%.2f", $1 / $2 }')" \
		"$(echo "$s $ds $r $dr" | awk '{ printf "%.2f/%.2f", $1 / $2, $3 / $4 }')"
done
