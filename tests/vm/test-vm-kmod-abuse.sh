#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly K2 K3 K4
# uloop.ko against a hostile or clumsy daemon and users, in a guest:
#  1. malformed completions at a high rate around every real one (unknown
#     tag, wrong length, wrong offset, unknown flag, reserved field, bad
#     result, duplicates in and across batches): each rejected with its
#     status and counted in sysfs, the data still right under a verifying
#     reader;
#  2. a completion after the hold timeout: the read got EIO, the late
#     completion is rejected (ESTALE); then misses fail at once (expired)
#     until a daemon ATTACHes, which recovers the device;
#  3. a daemon's error (result -EIO, or -EAGAIN, -ENOMEM, -ETIMEDOUT which
#     must not become the block layer's special statuses) reaches the
#     reader as EIO;
#  4. invalid ioctl arguments each refused with their errno, nothing made;
#  5. add, read, detach, attach, read, a reader's readahead in flight
#     (REMOVE refused until its close is done), remove: hundreds of rounds
#     while another device is read under a verifying reader; then ADD and
#     REMOVE racing in four processes, one index under an opener;
#  6. non-root: the control node, its ioctls and the device are refused;
#  and no oops, WARN or BUG in dmesg at the end.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/lib.sh"
vm_kernel
vm_uloop_ko daemon
ROUNDS=${KMOD_CHURN_ROUNDS:-400}
RACE_ROUNDS=${KMOD_RACE_ROUNDS:-300}

head -c $((6 * 1048576 + 3000)) /dev/urandom >"$T/image"

cat >"$T/guest.sh" <<G
set -u
insmod /uloop.ko
n=0
start() {
	n=\$((n + 1))
	uloopd-test serve "\$@" >/tmp/d.\$n &
	dpid=\$!
	while [ ! -s /tmp/d.\$n ]; do sleep 0.1; done
	dev=\$(head -n 1 /tmp/d.\$n)
	S=/sys/block/\${dev#/dev/}/uloop
}

# 1. malformed completions
truncate -s 16M /tmp/c1
start /image /tmp/c1 --malformed
uloopd-test verify "\$dev" /image 10 8192 && echo "MALFORMED DATA OK"
kill \$dpid
wait \$dpid && echo "MALFORMED ALL REJECTED \$(tail -n 1 /tmp/d.\$n)"
echo "malformed: sysfs rejected=\$(cat \$S/rejected) misses=\$(cat \$S/misses)"
want=\$(sed -n 's/.*expected-rejects=\([0-9]*\).*/\1/p' /tmp/d.\$n)
[ "\$(cat \$S/rejected)" = "\$want" ] && [ "\$want" -gt 1000 ] && echo "REJECTED COUNTED"
uloopd-test remove 0

# 2. late completion, expiry, recovery
truncate -s 16M /tmp/c2
uloopd-test late /image /tmp/c2 && echo "LATE REJECTED"
start /image /tmp/c2 --hold 200
kill -9 \$dpid; wait \$dpid 2>/dev/null || true
sleep 1
[ "\$(cat \$S/expired)" = 1 ] && echo "EXPIRED"
dd if=\$dev of=/dev/null bs=4096 count=1 skip=100 iflag=direct 2>/dev/null || echo "EXPIRED FAILS AT ONCE"
start /image /tmp/c2 --attach 0
[ "\$(cat \$S/expired)" = 0 ] && uloopd-test verify \$dev /image 2 && echo "RECOVERED"
kill \$dpid; wait \$dpid || true
uloopd-test remove 0

# 3. the daemon's error: -EIO, and -EAGAIN, -ENOMEM, -ETIMEDOUT (which the
#    block layer would take for its own statuses) reach the reader as EIO
for e in 5 11 12 110; do
	start /image /tmp/c2 --errno \$e
	if dd if=\$dev of=/dev/null bs=4096 count=1 iflag=direct 2>/tmp/dd.err; then
		echo "DAEMON ERROR \$e NOT SEEN"
	elif grep -q "Input/output error" /tmp/dd.err; then
		echo "DAEMON ERROR \$e EIO"
	else
		echo "DAEMON ERROR \$e WRONG: \$(cat /tmp/dd.err)"
	fi
	kill \$dpid; wait \$dpid || true
	uloopd-test remove 0
done

# 4. bad ioctls
uloopd-test badioctl /image /tmp/c2 && echo "BADIOCTL OK"
[ ! -e /sys/block/uloop0 ] && [ ! -e /sys/block/uloop1 ] && echo "NOTHING LEFT"

# 5. churn under I/O on another device
truncate -s 16M /tmp/c3 /tmp/c4
start /image /tmp/c3 --index 9
uloopd-test verify \$dev /image 3600 16384 >/tmp/v.out 2>&1 &
vpid=\$!
t0=\$(date +%s)
uloopd-test churn /image /tmp/c4 $ROUNDS && echo "CHURN OK"
echo "churn: $ROUNDS rounds in \$((\$(date +%s) - t0)) s"
kill \$vpid 2>/dev/null
wait \$vpid 2>/dev/null || true
grep -q "data differs\|Input/output" /tmp/v.out || echo "CHURN IO OK"
cat /tmp/v.out

# 5b. ADD and REMOVE racing (index -1 twice, an explicit index under an
#     opener, an index the others take): nothing fails, nothing in dmesg
truncate -s 16M /tmp/c5
uloopd-test race /image /tmp/c5 $RACE_ROUNDS && echo "RACE OK"

# 6. non-root
uloopd-test nonroot 9 && echo "NONROOT REFUSED"
kill \$dpid; wait \$dpid || true
uloopd-test remove 9
rmmod uloop && echo "RMMOD OK"
dmesg | grep -E "WARNING|BUG|Oops|Call Trace|uloop" || true
dmesg | grep -qE "WARNING|BUG|Oops|Call Trace" || echo "DMESG CLEAN"
G
vm_initrd "$T/t.img" "$T/guest.sh" "$KO:/uloop.ko" "$D:/bin/uloopd-test" "$T/image:/image"
vm_boot kmod-abuse "$T/t.img" || { tail -n 40 "$T/kmod-abuse.log"; fail "guest failed"; }
grep -E "^(malformed|churn|late|ok |WRONG|verify|race|DAEMON ERROR|clear)" "$T/kmod-abuse.log" || true
for want in "MALFORMED DATA OK" "MALFORMED ALL REJECTED" "REJECTED COUNTED" "LATE REJECTED" \
	"EXPIRED" "EXPIRED FAILS AT ONCE" "RECOVERED" "DAEMON ERROR 5 EIO" "DAEMON ERROR 11 EIO" \
	"DAEMON ERROR 12 EIO" "DAEMON ERROR 110 EIO" "BADIOCTL OK" "NOTHING LEFT" "CHURN OK" \
	"CHURN IO OK" "RACE OK" "NONROOT REFUSED" "RMMOD OK" "DMESG CLEAN"; do
	grep -q "$want" "$T/kmod-abuse.log" || { tail -n 40 "$T/kmod-abuse.log"; fail "no '$want'"; }
	echo "ok: $want"
done
