#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: E2
# A failing flash under a warm cache (E2), in a guest: the cache is a raw
# device under device-mapper, and after warm-up the table turns stretches
# of its data area into bad sectors (the error target; Debian 12's kernel
# has no dm-dust), as a dying flash's unreadable pages.  Every read of the
# attached device is checked against the image's sha256:
#
#  - a few bad sectors: each read of them fails, the block is fetched
#    again from the network (uloop status counts read errors and blocks
#    fetched again), the device reads right; writing the block back fails
#    too (the sectors stay bad), so the commit's flush fails and the cache
#    keeps no more blocks in that session (fsyncgate: never trusted after
#    a failed flush), and the next start recovers the last commit;
#  - bad sectors everywhere (sustained errors; 64 KiB blocks, so 60 of
#    them pass the fault budget of 16): the flash is given up with one
#    warning and the device still reads right;
#  - writes that fail (the same bad sectors on a cold cache): the blocks
#    are served from the network, the device reads right, the daemon
#    lives and detaches;
#  - the flash healthy again: `uloop check --source` finds every block it
#    claims right.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
vm_kernel
vm_dm

mkdir -p "$T/www"
make_image "$T/www/img" $((8 * 1024 * 1024))
sha256sum <"$T/www/img" | cut -d' ' -f1 >"$T/expected"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

cat >"$T/guest.sh" <<'G'
export DM_DISABLE_UDEV=1
SZ=$(blockdev --getsz /dev/vda)
dmsetup create flash --table "0 $SZ linear /dev/vda 0"
c=/dev/mapper/flash
U=http://10.0.2.100/img
session() {	# session NAME: attach, read it all (checked), status, detach
	dev=$(uloop attach $U --cache $c --block-size 64K --transport nbd --timeout 10)
	echo 3 >/proc/sys/vm/drop_caches
	sum=$(sha256sum <"$dev" | cut -d' ' -f1)
	[ "$sum" = "$(cat /expected)" ] && echo "$1: READS RIGHT" || echo "$1: READS WRONG $sum"
	# The counters of the run state, fresh (the commit it asks for fails
	# where a written block met a bad sector: said, not fatal here).
	uloop sync "$dev" 2>/dev/null || true
	uloop status "$dev" | sed -n "s/^ *flash: */$1: FLASH /p"
	uloop detach "$dev" && echo "$1: DETACHED"
}
# bad N: N bad stretches of 8 sectors, 64 KiB apart, in the data area
bad() {
	off=$(( $(uloop info $c | sed -n 's/^data: *offset \([0-9]*\),.*/\1/p') / 512 ))
	i=0 at=0
	{
		while [ $i -lt "$1" ]; do
			b=$((off + 256 + i * 128))
			[ $b -gt $at ] && echo "$at $((b - at)) linear /dev/vda $at"
			echo "$b 8 error"
			at=$((b + 8))
			i=$((i + 1))
		done
		echo "$at $((SZ - at)) linear /dev/vda $at"
	} >/tmp/table
	dmsetup suspend flash
	dmsetup reload flash /tmp/table
	dmsetup resume flash
}
healthy() {
	dmsetup suspend flash
	dmsetup reload flash --table "0 $SZ linear /dev/vda 0"
	dmsetup resume flash
}
session warm
bad 4
session few
healthy
uloop check $c --source $U >/dev/null && echo "few: CHECK CLEAN"
bad 60
session many
# The daemon's warnings go to the kernel log.
dmesg | grep -q "the flash is no longer used" && echo "many: GIVEN-UP WARNED"
healthy
uloop check $c --source $U >/dev/null && echo "many: CHECK CLEAN"
# Cold: a new cache laid out and left empty, then bad sectors under it:
# the blocks fetched there cannot be written.  A new device-mapper device
# (a new page cache): the write errors above, never synced after the flash
# was given up, would otherwise greet the next fdatasync on this one.
dmsetup remove flash
dmsetup create flash --table "0 $SZ linear /dev/vda 0"
dd if=/dev/zero of=$c bs=1M count=1 2>/dev/null
dev=$(uloop attach $U --cache $c --block-size 64K --transport nbd --timeout 10)
uloop detach "$dev"
bad 4
session cold
healthy
uloop check $c --source $U >/dev/null && echo "cold: CHECK CLEAN"
dmsetup remove flash
G

truncate -s 32M "$T/flash"
# shellcheck disable=SC2086
vm_initrd "$T/e.img" "$T/guest.sh" "$T/expected:/expected" $VM_DM_FILES
vm_boot flash "$T/e.img" "$T/flash" || { tail -n 30 "$T/flash.log"; fail "guest failed"; }
for want in "warm: READS RIGHT" "few: READS RIGHT" "few: CHECK CLEAN" \
	"many: READS RIGHT" "many: CHECK CLEAN" "cold: READS RIGHT" "cold: DETACHED" \
	"cold: CHECK CLEAN"; do
	grep -q "$want" "$T/flash.log" || { tail -n 40 "$T/flash.log"; fail "no '$want'"; }
done
! grep -q "READS WRONG" "$T/flash.log" || fail "a session read wrong bytes"
few=$(sed -n 's/.*few: FLASH .* \([0-9]*\) read errors, \([0-9]*\) blocks fetched again.*/\1 \2/p' "$T/flash.log")
[ "${few%% *}" -ge 1 ] || fail "few bad sectors: no read error counted: $(grep -a FLASH "$T/flash.log")"
grep -q "many: FLASH .*given up" "$T/flash.log" ||
	fail "sustained errors did not give the flash up: $(grep -a FLASH "$T/flash.log")"
grep -q "many: GIVEN-UP WARNED" "$T/flash.log" || fail "no warning that the flash was given up"
echo "few bad sectors: $few (read errors, blocks fetched again); many: given up; every read right"
