#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly C1 C2
# Power cuts at every flush of a COW layer (attach --cow): the promise of
# docs/cache-format.md, "The COW layer", that a FLUSH makes the written
# sectors and their bits durable, data before bit.  A guest keeps its COW
# on a raw device under dm-log-writes, which logs every write in the
# order the block layer lets it reach the flash; the host replays the log
# (tests/vm/replay-writes.c) to the state right after each flush and to
# random cuts before the next one (any of the writes in between kept,
# lost or torn, as a volatile write cache may).
#
# The guest's workload is tests/vm/cow-stamp.c's journalling writer on
# the uloop device: generations of stamped random 4 KiB writes, each
# synced, then a commit record synced.  Its checker reads each replayed
# COW file itself (header, bitmap, data) and refuses a state where a bit
# covers a sector that is not its own whole stamp, or where a committed
# generation's writes are missing.  Midway, with a generation written but
# not yet synced, the daemon is killed (-9) and started again on the same
# COW and device: the writes it had acknowledged but not flushed come back
# from its mirror of the bits in /run (src/cow_pending.h), or the commit
# after them would find them missing (shown by hand with the test build's
# ULOOP_FAILPOINT=no-cow-mirror as the mode: "committed 48, ... missing").
#
# The control: the same with the test build told to leave out the COW's
# flush of the data before its bits (ULOOP_FAILPOINT=no-flush-before-bits):
# then some state must be refused, or this test could not catch that bug.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
vm_kernel
REPLAY=$top/build/test/replay-writes
STAMP=$top/build/test/cow-stamp
FP=$top/build/static-fp/uloop
[ -x "$REPLAY" ] && [ -x "$STAMP" ] && [ -x "$FP" ] ||
	fail "missing $REPLAY, $STAMP or $FP (make test-bins)"

mkdir -p "$T/www"
make_image "$T/a" $((6 * 1024 * 1024))
$ULOOP publish "$T/a" "$T/www" --name a >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

vm_dm
extra="$VM_DM_FILES $FP:/bin/uloop-fp $STAMP:/bin/cow-stamp"

SEED=4242 GENS=48
cat >"$T/guest.sh" <<G
export DM_DISABLE_UDEV=1
mode=\$(cat /mode)
U=uloop
[ "\$mode" = normal ] || { U=uloop-fp; export ULOOP_FAILPOINT=\$mode; }
dmsetup create lw --table "0 \$(blockdev --getsz /dev/vda) log-writes /dev/vda /dev/vdb"
c=/dev/mapper/lw
[ -b \$c ] || { echo "no \$c"; exit 1; }
dmsetup message lw 0 mark start
A=http://10.0.2.100/a.uloop
dev=\$(\$U attach \$A --cow \$c --transport nbd --reconnect-timeout 60 --timeout 10) || exit 1
# Killed while the writer waits with generation 8 written, acknowledged
# and not yet synced; started again on the same COW and device.
COW_STAMP_PAUSE=8:/tmp/go cow-stamp write "\$dev" $SEED $GENS >/tmp/w.out & w=\$!
while kill -0 \$w 2>/dev/null && ! grep -q paused /tmp/w.out; do sleep 0.2; done
grep -q paused /tmp/w.out || { cat /tmp/w.out; echo "writer failed"; exit 1; }
pid=\$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' /run/uloop/nbd0.json)
kill -9 "\$pid"
sleep 1
\$U attach \$A --cow \$c --device "\$dev" --timeout 10 >/dev/null || { echo "restart failed"; exit 1; }
touch /tmp/go
wait \$w || { cat /tmp/w.out; echo "writer failed"; exit 1; }
\$U detach "\$dev"
dmsetup message lw 0 mark end
dmsetup remove lw
echo "WORKLOAD DONE"
G

run() {	# run MODE: the workload in a guest, then its log replayed
	echo "$1" >"$T/mode"
	rm -f "$T/flash" "$T/log"
	truncate -s 16M "$T/flash"
	truncate -s 128M "$T/log"
	# shellcheck disable=SC2086
	vm_initrd "$T/$1.img" "$T/guest.sh" "$T/mode:/mode" $extra
	vm_boot "$1" "$T/$1.img" "$T/flash $T/log" ||
		{ tail -n 30 "$T/$1.log"; fail "$1: guest failed"; }
	grep -q "WORKLOAD DONE" "$T/$1.log" || { tail -n 30 "$T/$1.log"; fail "$1: no workload"; }
	grep -a "not yet flushed then, taken back and flushed" "$T/$1.log" ||
		{ tail -n 30 "$T/$1.log"; fail "$1: the restarted daemon took back no unflushed writes"; }
	truncate -s 16M "$T/zero"
	rc=0
	"$REPLAY" "$T/log" "$T/zero" "$T/state" --seed 7 --variants 4 -- \
		"$STAMP" check "$T/state" $SEED $GENS >"$T/$1.replay" 2>&1 || rc=$?
	tail -n 3 "$T/$1.replay"
}

# The whole COW after the workload: every generation there.
run normal
[ $rc -eq 0 ] || fail "a state after a power cut was refused: $(tail -n 5 "$T/normal.replay")"
n=$(sed -n 's/.* \([0-9]*\) states checked.*/\1/p' "$T/normal.replay")
[ "${n:-0}" -ge 100 ] || fail "only ${n:-0} states checked: too few flushes to mean anything"
echo "every one of $n power-cut states of the COW holds only whole, committed writes"

run no-flush-before-bits
[ $rc -eq 1 ] || fail "without the flush before the bits, no state was refused (exit $rc): this test cannot catch that bug"
echo "control: with the flush left out, $(sed -n 's/.*, \([0-9]*\) refused.*/\1/p' "$T/no-flush-before-bits.replay") states were refused"
