#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly C2 C5
# A volatile write cache that loses power at a random moment (C2), in a
# guest, round after round: the cache is a raw device under device-mapper;
# a daemon serves the image over nbd to a reader that checks every read
# against the image; at a random moment the table becomes dm-flakey with
# drop_writes ("down": every write from then on is acknowledged and lost),
# the daemon runs on for a random short while, then the power is cut
# (kill -9; the device's page cache dropped), the table becomes plain
# linear again (the disk after the reboot), `uloop check --source` judges
# the state the cut left, and the daemon restarts on it: its start must
# say the cache was not closed cleanly and that its last commit's blocks
# match (C5), and every read after it must be right.  Every 8th round the
# whole device is read and checked, then the cache is wiped (a cold start,
# so the rounds keep fetching and committing instead of only hitting).
#
# Is drop_writes a power cut?  The disk after the cut holds exactly the
# writes the block layer submitted before the table went down (dmsetup
# suspend waits for those in flight; a write mapped after the resume is
# dropped): a prefix, in submission order, of what the daemon wrote.  A
# disk with a volatile cache may keep any subset of its unflushed writes
# (tests/vm/test-vm-power-loss.sh replays those); a prefix is one of them.
# What no real disk does is acknowledge a FLUSH and then lose the data
# before it, and serve reads of the platter instead of what it was just
# given; dm-flakey does both while down.  Neither breaks the daemon's
# order (data, flush, header, flush, bits, flush): each step starts only
# after the previous flush returned, so if any write of a later step was
# submitted before the cut, every write of the earlier steps was too, and
# whatever the daemon writes after the cut, trusting a lying flush, is
# lost whole.  They only make the moments after the cut a fiction: the
# daemon and the reader go on as if the disk still worked, which a node
# without power does not.  So nothing observed in that interval is a
# promise: reads finished after the table went down are counted apart
# (the daemon's reads of the cache then see the platter, and its
# checksums should make it fetch again; a wrong byte there is reported,
# not failed), and the daemon's beliefs die with it.  What must hold is
# everything after the reboot, and for that the host must forget what the
# "disk" lost: the daemon's page cache of the device (a real power cut
# empties RAM).  Its last close syncs the pages (into the dropped writes,
# still down) and drops them; blockdev --flushbufs and drop_caches make
# sure before the table is linear again.
#
# ULOOP_FLAKEY_ROUNDS: the number of rounds (default 24: about 4 minutes
# under TCG on a busy 2-core machine, 8-10 s a round; the catalogue's 200
# take about 35 minutes, hence "partly C2" above); ULOOP_FLAKEY_SEED: the
# guest's random seed (printed, so that a failing run can be repeated).
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
vm_kernel
vm_dm
VM_MODULES="$VM_MODULES dm_flakey"
ROUNDS=${ULOOP_FLAKEY_ROUNDS:-24}
SEED=${ULOOP_FLAKEY_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "rounds $ROUNDS, seed $SEED"

mkdir -p "$T/www"
make_image "$T/www/img" $((8 * 1024 * 1024))
sha256sum <"$T/www/img" | cut -d' ' -f1 >"$T/expected"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
echo "$ROUNDS $SEED" >"$T/params"

cat >"$T/guest.sh" <<'G'
export DM_DISABLE_UDEV=1
read -r ROUNDS SEED </params
RANDOM=$SEED
SZ=$(blockdev --getsz /dev/vda)
NB=2048		# 4 KiB blocks of the 8 MiB image
U=http://10.0.2.100/img
c=/dev/mapper/flash
dmsetup create flash --table "0 $SZ linear /dev/vda 0"
. /lib/guest-dm.sh
# The page cache writes back early and often (0.1 s): writes reach the
# disk in the kernel's order, not only at the daemon's flushes.
echo 10 >/proc/sys/vm/dirty_writeback_centisecs
echo 10 >/proc/sys/vm/dirty_expire_centisecs
same() {	# same OFF N: blocks [OFF, OFF+N) of the device equal the image's
	a=$(dd if="$dev" bs=4k skip="$1" count="$2" iflag=direct 2>/dev/null | sha256sum)
	b=$(dd if=/img bs=4k skip="$1" count="$2" 2>/dev/null | sha256sum)
	[ "$a" = "$b" ]
}
reader() {	# random reads of 1-16 blocks until /tmp/stop, each checked
	while [ ! -e /tmp/stop ]; do
		o=$((RANDOM % NB)) n=$((RANDOM % 16 + 1))
		[ $((o + n)) -le $NB ] || n=$((NB - o))
		if same $o $n; then echo "OK $o $n"; else echo "BAD $o $n"; fi >>/tmp/rlog
	done
}
dev="" wiped=1 recovered=0 rblocks=0 cutchecks=0 reads=0 ireads=0 iwrong=0 verified=0 full=0
r=1
while [ $r -le "$ROUNDS" ]; do
	# The (re)start: a new nbd device the first time, the same after.
	if [ -z "$dev" ]; then
		dev=$(uloop attach $U --cache $c --block-size 4K --transport nbd \
			--reconnect-timeout 120 --timeout 20 2>/tmp/err) ||
			{ cat /tmp/err; echo "ROUND $r: ATTACH FAILED"; exit 1; }
	else
		uloop attach $U --cache $c --device "$dev" --timeout 20 >/dev/null 2>/tmp/err ||
			{ cat /tmp/err; echo "ROUND $r: RESTART FAILED"; exit 1; }
	fi
	if [ $wiped = 0 ]; then
		if grep -q "not closed cleanly (generation [0-9]*); the [0-9]* blocks of its last commit match" /tmp/err; then
			recovered=$((recovered + 1))
			rblocks=$((rblocks + $(sed -n 's/.*; the \([0-9]*\) blocks of its last commit match.*/\1/p' /tmp/err)))
		else
			cat /tmp/err
			echo "ROUND $r: NO RECOVERY LINE"
			exit 1
		fi
	fi
	# Every read right after the restart: the last round's reads (most of
	# them cached, some only just), then the whole device every 8th round.
	if [ -s /tmp/rlog ]; then
		sed -n 's/^OK \([0-9]*\) \([0-9]*\)$/\1 \2/p' /tmp/rlog | tail -n 24 >/tmp/again
		while read -r o n; do
			same "$o" "$n" || { echo "ROUND $r: READ WRONG AFTER RESTART at block $o+$n"; exit 1; }
			verified=$((verified + 1))
		done </tmp/again
	fi
	if [ $((r % 8)) = 0 ]; then
		s=$(dd if="$dev" bs=64k iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ "$s" = "$(cat /expected)" ] || { echo "ROUND $r: DEVICE WRONG $s"; exit 1; }
		full=$((full + 1))
	fi
	pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "/run/uloop/${dev#/dev/}.json")
	[ -n "$pid" ] || { echo "ROUND $r: no daemon pid"; exit 1; }
	# Serve, then the table goes down at a random moment (0-2 s in).
	rm -f /tmp/stop /tmp/rlog
	reader &
	rp=$!
	sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	echo DOWN >>/tmp/rlog
	dm_table flash "0 $SZ flakey /dev/vda 0 0 1 1 drop_writes"
	# The daemon goes on for up to 1 s, its writes lost, then the cut.
	sleep "0.$((RANDOM % 10))"
	touch /tmp/stop
	wait $rp
	kill -9 "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	blockdev --flushbufs $c
	dm_table flash "0 $SZ linear /dev/vda 0"
	echo 3 >/proc/sys/vm/drop_caches
	# Reads finished before the cut must be right; after it, counted.
	if sed '/^DOWN$/q' /tmp/rlog | grep -q '^BAD'; then
		grep -n . /tmp/rlog | head -n 40
		echo "ROUND $r: READ WRONG BEFORE THE CUT"
		exit 1
	fi
	reads=$((reads + $(grep -c -e '^OK' -e '^BAD' /tmp/rlog || true)))
	ireads=$((ireads + $(sed '1,/^DOWN$/d' /tmp/rlog | grep -c . || true)))
	iwrong=$((iwrong + $(sed '1,/^DOWN$/d' /tmp/rlog | grep -c '^BAD' || true)))
	# The state the cut left, as the reboot finds it.
	uloop check $c --source $U >/tmp/check 2>&1 ||
		{ cat /tmp/check; echo "ROUND $r: CHECK FAILED AFTER THE CUT"; exit 1; }
	cutchecks=$((cutchecks + 1))
	wiped=0
	if [ $((r % 8)) = 0 ]; then
		dd if=/dev/zero of=$c bs=64k count=16 oflag=direct 2>/dev/null
		wiped=1
	fi
	echo "round $r: cut and checked"
	r=$((r + 1))
done
# The last restart, a whole read, a clean stop, and the check.
uloop attach $U --cache $c --device "$dev" --timeout 20 >/dev/null 2>/tmp/err ||
	{ cat /tmp/err; echo "LAST RESTART FAILED"; exit 1; }
[ $wiped = 1 ] || grep -q "not closed cleanly" /tmp/err || { cat /tmp/err; echo "LAST: NO RECOVERY LINE"; exit 1; }
s=$(dd if="$dev" bs=64k iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$s" = "$(cat /expected)" ] || { echo "LAST: DEVICE WRONG $s"; exit 1; }
uloop detach "$dev"
uloop check $c --source $U >/dev/null || { echo "LAST: CHECK FAILED"; exit 1; }
dmsetup remove flash
echo "FLAKEY DONE rounds $ROUNDS recovered $recovered rblocks $rblocks cutchecks $cutchecks reads $reads ireads $ireads iwrong $iwrong verified $verified full $full"
G

truncate -s 24M "$T/flash"
# shellcheck disable=SC2086
vm_initrd "$T/f.img" "$T/guest.sh" "$T/params:/params" "$T/www/img:/img" \
	"$T/expected:/expected" $VM_DM_FILES
t0=$(date +%s)
VM_TIMEOUT=$((600 + ROUNDS * 30))
vm_boot flakey "$T/f.img" "$T/flash" || { tail -n 40 "$T/flakey.log"; fail "guest failed (seed $SEED)"; }
line=$(grep -a "FLAKEY DONE" "$T/flakey.log") || { tail -n 40 "$T/flakey.log"; fail "no result (seed $SEED)"; }
# shellcheck disable=SC2086
set -- ${line#*FLAKEY DONE }
# rounds R recovered N rblocks N cutchecks N reads N ireads N iwrong N verified N full N
# Every restart but those after a wipe (rounds 1, 9, 17...) recovers.
[ "$4" -eq $((ROUNDS - (ROUNDS + 7) / 8)) ] || fail "$4 restarts recovered: $line"
[ "$8" -eq "$ROUNDS" ] || fail "not every cut state was checked: $line"
t1=$(date +%s)
echo "$ROUNDS power cuts in $((t1 - t0)) s: $4 unclean restarts recovered ($6 blocks of last commits checked, all matching),"
echo "$8 cut states passed uloop check --source, ${10} reads checked (${12} of them after the table went down, ${14} wrong there, not counted), ${16} re-read after a restart, ${18} whole-device reads"
