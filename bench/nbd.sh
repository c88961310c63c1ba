#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# nbd.sh - reads through /dev/nbdN (uloop over the kernel NBD driver) in a
# QEMU guest, cold (cache empty, image from nginx on the host) and warm
# (cache full), against a loop device on a local copy of the same image in
# the same guest run (on a virtio disk, like the cache): sequential 1 MiB
# reads and random 4 KiB reads, with
# O_DIRECT.  Prints ratios (nbd / loop) and the daemon's peak resident
# memory under that load (goal: <= 8 MiB).  Under TCG absolute figures are
# an emulator's; the ratios are the point.
set -eu
ULOOP_TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$ULOOP_TOP/tests/integ/functions.sh"
. "$ULOOP_TOP/tests/integ/http-functions.sh"
. "$ULOOP_TOP/tests/vm/lib.sh"
vm_kernel
RR=$ULOOP_TOP/build/bench/randread
[ -x "$RR" ] || fail "missing $RR (make bench)"
MiB=${BENCH_MIB:-64}
N=${BENCH_READS:-2000}

mkdir -p "$T/www"
make_image "$T/www/img" $((MiB * 1048576))
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
truncate -s $((MiB * 2))M "$T/flash" "$T/flash2"
cp "$T/www/img" "$T/local"	# /dev/vdc: the local copy

cat >"$T/guest.sh" <<G
run() {	# run LABEL DEV: sequential then random reads, caches dropped
	echo 3 >/proc/sys/vm/drop_caches
	echo "R \$1 seq \$(randread "\$2" seq 1048576)"
	echo 3 >/proc/sys/vm/drop_caches
	echo "R \$1 rand \$(randread "\$2" random $N 4096 42)"
}
loop=\$(losetup -f); losetup -r "\$loop" /dev/vdc
run loop "\$loop"
# Cold: each load on an empty cache of its own (vda, vdb).
dev=\$(uloop attach http://10.0.2.100/img --cache /dev/vdb)
echo 3 >/proc/sys/vm/drop_caches
echo "R cold rand \$(randread "\$dev" random $N 4096 42)"
uloop detach "\$dev"
dev=\$(uloop attach http://10.0.2.100/img --cache /dev/vda)
pid=\$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' /run/uloop/nbd0.json)
echo 3 >/proc/sys/vm/drop_caches
echo "R cold seq \$(randread "\$dev" seq 1048576)"
run warm "\$dev"
echo "RSS \$(sed -n 's/VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/\$pid/status)"
uloop detach "\$dev"
run loop2 "\$loop"
G
vm_initrd "$T/b.img" "$T/guest.sh" "$RR:/bin/randread"
VM_MEM=1024 vm_boot bench "$T/b.img" "$T/flash $T/flash2 $T/local" || { tail -n 20 "$T/bench.log"; fail "bench guest failed"; }

val() {	# val LABEL KIND FIELD
	sed -n "s/.*R $1 $2 reads=\([0-9]*\) bytes=\([0-9]*\) usec=\([0-9]*\).*/\1 \2 \3/p" "$T/bench.log" |
		awk -v f="$3" '{ if (f == "mbs") printf "%.1f", $2 / $3; else printf "%.0f", $1 * 1e6 / $3 }'
}
echo "nbd bench: $MiB MiB image, $N random 4 KiB reads, O_DIRECT, guest under TCG"
printf '%-10s %12s %12s %14s %14s\n' "" "seq MB/s" "rand IOPS" "seq vs loop" "rand vs loop"
for l in loop cold warm loop2; do
	s=$(val $l seq mbs); r=$(val $l rand iops)
	ls=$(val loop seq mbs); lr=$(val loop rand iops)
	printf '%-10s %12s %12s %14s %14s\n' "$l" "$s" "$r" \
		"$(echo "$s $ls" | awk '{ printf "%.2f", $1 / $2 }')" \
		"$(echo "$r $lr" | awk '{ printf "%.2f", $1 / $2 }')"
done
echo "daemon peak RSS: $(sed -n 's/.*RSS \([0-9]*\).*/\1/p' "$T/bench.log") KiB (goal <= 8192)"
