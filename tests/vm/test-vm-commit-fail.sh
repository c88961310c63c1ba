#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: C6 E3; partly C5
# A commit that fails midway (C6), in a guest: the cache is a raw device
# under device-mapper, the daemon is the test build, and a failpoint pauses
# its commit thread at one step (ULOOP_FAILPOINT_PAUSE: the thread creates
# a file and waits until it is gone), while the table is swapped for
# dm-flakey with error_writes (every write fails from then on, reads pass):
#
#   commit-start    before the flush of the data: the flush fails
#   header-written  the new header written, not flushed: its flush fails
#   bits-written    the header flushed, the bits written: their flush fails
#
# Then the pause ends, and each time:
#  - the daemon says, once, in the kernel log, that the cache is read-only
#    from now on, naming the cache and the failed step;
#  - `uloop status` says so on its flash line;
#  - every read of the device is right (sha256 of all of it), the blocks
#    fetched from then on served and not kept;
#  - the flash heals (the table linear again) before the daemon stops: it
#    must still not mark the cache clean;
#  - on disk, the previous generation stands: the header the pause saw
#    (commit-start, bits-written: that one; header-written: the one before
#    it), and `uloop check --source` finds every block it claims right;
#  - the next start says the cache was not closed cleanly, at that
#    generation, and its last commit's blocks match (recovery); every read
#    right again; a clean stop; check again.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
vm_kernel
vm_dm
VM_MODULES="$VM_MODULES dm_flakey"
FP=$top/build/static-fp/uloop
[ -x "$FP" ] || fail "missing $FP (make test-bins)"

mkdir -p "$T/www"
make_image "$T/www/img" $((8 * 1024 * 1024))
sha256sum <"$T/www/img" | cut -d' ' -f1 >"$T/expected"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

cat >"$T/guest.sh" <<'G'
export DM_DISABLE_UDEV=1
SZ=$(blockdev --getsz /dev/vda)
U=http://10.0.2.100/img
c=/dev/mapper/flash
dmsetup create flash --table "0 $SZ linear /dev/vda 0"
. /lib/guest-dm.sh
gen() { uloop info $c | sed -n 's/^generation: *\([0-9]*\).*/\1/p'; }
# wait_for N CMD...: until CMD succeeds, N times 0.2 s at most (a bound
# against a hang, not a deadline: what it waits for takes a second or two).
wait_for() {
	n=$1 i=0
	shift
	until "$@"; do
		i=$((i + 1))
		[ $i -lt "$n" ] || { echo "NEVER: $*"; return 1; }
		sleep 0.2
	done
}
warned() { dmesg | grep -q "the cache is read-only from now on"; }
# Nothing is written back before the daemon's own flushes: a page that
# reached the disk early would make the flush after the swap succeed.
echo 360000 >/proc/sys/vm/dirty_expire_centisecs
echo 360000 >/proc/sys/vm/dirty_writeback_centisecs
whole() {	# whole NAME: every byte of the device, against the image
	s=$(dd if="$dev" bs=64k iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$s" = "$(cat /expected)" ] && echo "$1: READS RIGHT" || echo "$1: READS WRONG $s"
}
for fp in commit-start:1 header-written:2 bits-written:1; do
	step=${fp%%:*}
	# A cache with the first quarter of the image, closed cleanly.
	dd if=/dev/zero of=$c bs=64k count=16 oflag=direct 2>/dev/null
	dev=$(uloop attach $U --cache $c --block-size 4K --transport nbd --timeout 20)
	dd if="$dev" of=/dev/null bs=64k count=32 iflag=direct 2>/dev/null
	uloop detach "$dev"
	# The test build, paused at its first commit's STEP (header-written:
	# the second header write; the first marks the cache in use).
	rm -f /tmp/pause
	dmesg -c >/dev/null
	dev=$(ULOOP_FAILPOINT=$fp ULOOP_FAILPOINT_PAUSE=/tmp/pause uloop-fp attach $U --cache $c \
		--block-size 4K --transport nbd --timeout 20)
	# Reads of blocks not cached yet until a commit reaches the step.
	o=32
	while [ ! -e /tmp/pause ] && [ $o -lt 128 ]; do
		dd if="$dev" of=/dev/null bs=64k skip=$o count=1 iflag=direct 2>/dev/null
		o=$((o + 1))
	done
	wait_for 1500 [ -e /tmp/pause ]
	seen=$(gen)
	dm_table flash "0 $SZ flakey /dev/vda 0 0 1 1 error_writes"
	rm /tmp/pause
	# The warning, then every read right (blocks fetched, not kept).
	wait_for 300 warned || true
	dmesg | grep "the cache is read-only from now on" | sed "s/^/$step: LOG /"
	whole "$step: failed"
	uloop status "$dev" | sed -n "s/^/$step: STATUS /p"
	# The flash heals; the daemon stops: not clean all the same.
	dm_table flash "0 $SZ linear /dev/vda 0"
	uloop detach "$dev" 2>&1 | sed "s/^/$step: DETACH /" || true
	echo 3 >/proc/sys/vm/drop_caches
	echo "$step: GENERATION seen $seen after $(gen)"
	uloop check $c --source $U >/dev/null 2>&1 && echo "$step: CHECK CLEAN"
	dev=$(uloop attach $U --cache $c --transport nbd --timeout 20 2>/tmp/err)
	sed "s/^/$step: RESTART /" /tmp/err
	whole "$step: restarted"
	uloop detach "$dev"
	uloop check $c --source $U >/dev/null 2>&1 && echo "$step: CHECK CLEAN AGAIN"
done
dmsetup remove flash
G

truncate -s 24M "$T/flash"
# shellcheck disable=SC2086
vm_initrd "$T/c.img" "$T/guest.sh" "$T/expected:/expected" "$FP:/bin/uloop-fp" $VM_DM_FILES
VM_TIMEOUT=900
vm_boot commit "$T/c.img" "$T/flash" || { tail -n 40 "$T/commit.log"; fail "guest failed"; }
L=$T/commit.log
! grep -aq "READS WRONG" "$L" || fail "a read was wrong: $(grep -a "READS WRONG" "$L")"
for step in commit-start header-written bits-written; do
	for want in "failed: READS RIGHT" "restarted: READS RIGHT" "CHECK CLEAN" "CHECK CLEAN AGAIN"; do
		grep -aq "$step: $want" "$L" || { grep -a "$step:" "$L"; fail "$step: no '$want'"; }
	done
	log=$(grep -a "$step: LOG " "$L" || true)
	n=$(grep -ac "$step: LOG " "$L" || true)
	[ "$n" -eq 1 ] || fail "$step: $n read-only warnings, not one: $log"
	echo "$log" | grep -q "cache /dev/mapper/flash: fdatasync (.*): Input/output error; the cache is read-only" ||
		fail "$step: the warning does not name the cache and the failed flush: $log"
	grep -aq "$step: STATUS .*flash: .*; read-only: a write failed" "$L" ||
		fail "$step: uloop status does not say the cache is read-only: $(grep -a "$step: STATUS" "$L")"
	# shellcheck disable=SC2046
	set -- $(sed -n "s/.*$step: GENERATION seen \([0-9]*\) after \([0-9]*\).*/\1 \2/p" "$L")
	[ $# -eq 2 ] || fail "$step: no generation line"
	want=$1
	[ "$step" != header-written ] || want=$(($1 - 1))
	[ "${2:-x}" = "$want" ] ||
		fail "$step: generation $2 on disk after the failed commit, the previous one is $want"
	grep -aq "$step: RESTART .*not closed cleanly (generation $want); the [0-9]* blocks of its last commit match" "$L" ||
		{ grep -a "$step:" "$L"; fail "$step: the next start did not recover generation $want"; }
	# bits-written: the header made it, none of the bits did.
	[ "$step" != bits-written ] || grep -aq "$step: RESTART .*; the 0 blocks of its last commit" "$L" ||
		fail "$step: a bit of the failed commit reached the disk"
	echo "$step: $(echo "$log" | sed 's/.*uloop\[[0-9]*\]: //'); generation $want kept; recovered; every read right"
done
