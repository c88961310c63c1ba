#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: C1 C2; partly C3
# Power cuts at every flush (docs/cache-format.md, "The promise"): a guest
# keeps its cache on a raw device under dm-log-writes, which logs every
# write in the order the block layer lets it reach the flash.  Then the
# host replays the log (tests/vm/replay-writes.c) to the state right after
# each flush and to random cuts before the next one (any of the writes in
# between kept, lost or torn, as a volatile write cache may), and `uloop
# check --source` must find every present block equal to the image in
# each state, or no cache at all.  The random cuts are C2's volatile
# write cache dropped at a random moment, about 500 of them per run (the
# catalogue's dm-flakey loop asks for 200); test-vm-flakey does the same
# with dm-flakey's drop_writes and a daemon that restarts on the result.
#
# The guest's workload: a hydrate killed (-9) midway and run again to the
# end; the device attached (nbd) for another image, so the first one is
# dropped; reads; the daemon killed (-9) and restarted on the same device
# (recovery of an unclean stop); reads; a clean detach.
#
# The control: the same with the test build told to leave out the flushes
# before the bits (ULOOP_FAILPOINT=no-flush-before-bits): then some state
# must fail, or this test could not catch the bug it exists for.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
vm_kernel
REPLAY=$top/build/test/replay-writes
FP=$top/build/static-fp/uloop
[ -x "$REPLAY" ] && [ -x "$FP" ] || fail "missing $REPLAY or $FP (make test-bins)"

mkdir -p "$T/www"
make_image "$T/a" $((6 * 1024 * 1024 + 512))
make_image "$T/b" $((5 * 1024 * 1024))
$ULOOP publish "$T/a" "$T/www" --name a >/dev/null
$ULOOP publish "$T/b" "$T/www" --name b >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

# dmsetup (and its libraries) and the test build with failpoints.
vm_dm
extra="$VM_DM_FILES $FP:/bin/uloop-fp"

cat >"$T/guest.sh" <<'G'
export DM_DISABLE_UDEV=1
mode=$(cat /mode)
U=uloop
[ "$mode" = normal ] || { U=uloop-fp; export ULOOP_FAILPOINT=$mode; }
dmsetup create lw --table "0 $(blockdev --getsz /dev/vda) log-writes /dev/vda /dev/vdb"
c=/dev/mapper/lw
[ -b $c ] || { echo "no $c"; exit 1; }
dmsetup message lw 0 mark start
A=http://10.0.2.100/a.uloop B=http://10.0.2.100/b.uloop
$U hydrate $A --cache $c --block-size 4K --rate 1M --no-progress 2>/dev/null & p=$!
sleep 3.5
kill -9 $p
wait $p || true
$U hydrate $A --cache $c --no-progress
dev=$($U attach $B --cache $c --transport nbd --reconnect-timeout 60 --timeout 10)
reads() {	# reads N: N scattered 4 KiB reads of the device
	i=0
	while [ $i -lt "$1" ]; do
		dd if="$dev" of=/dev/null bs=4k count=1 skip=$(( (i * 97 + $2) % 1280 )) 2>/dev/null
		i=$((i + 1))
	done
}
reads 150 0
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' /run/uloop/nbd0.json)
kill -9 "$pid"
sleep 1
$U attach $B --cache $c --device "$dev" --timeout 10 >/dev/null
reads 150 7
$U detach "$dev"
dmsetup message lw 0 mark end
dmsetup remove lw
echo "WORKLOAD DONE"
G

# check.sh STATE: the state holds no cache, or a cache whose present
# blocks are all equal to the image it is bound to, or an unbound one.
cat >"$T/check.sh" <<C
out=\$($ULOOP check "\$1" --source http://127.0.0.1:$web_http/a.uloop 2>&1) && exit 0
case \$out in
*"no header magic"*) exit 0 ;;
*"holds another image"*)
	out=\$($ULOOP check "\$1" --source http://127.0.0.1:$web_http/b.uloop 2>&1) && exit 0 ;;
esac
case \$out in
*"holds another image"*) $ULOOP info "\$1" | grep -q "^image: *none recorded" && exit 0 ;;
esac
echo "\$out" >&2
exit 1
C

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
	truncate -s 16M "$T/zero"
	rc=0
	"$REPLAY" "$T/log" "$T/zero" "$T/state" --seed 7 --variants 16 -- \
		sh "$T/check.sh" "$T/state" >"$T/$1.replay" 2>&1 || rc=$?
	cat "$T/$1.replay"
}

run normal
[ $rc -eq 0 ] || fail "a state after a power cut was refused: $(tail -n 5 "$T/normal.replay")"
n=$(sed -n 's/.* \([0-9]*\) states checked.*/\1/p' "$T/normal.replay")
[ "${n:-0}" -ge 200 ] || fail "only ${n:-0} states checked: too few flushes to mean anything"
echo "every one of $n power-cut states holds only correct blocks"

run no-flush-before-bits
[ $rc -eq 1 ] || fail "without the flushes before the bits, no state was refused (exit $rc): this test cannot catch that bug"
echo "control: with the flushes left out, $(sed -n 's/.*, \([0-9]*\) refused.*/\1/p' "$T/no-flush-before-bits.replay") states were refused"
