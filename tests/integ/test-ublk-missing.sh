#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The ublk transport on a kernel without the ublk driver (this host's, and
# Debian 12's 6.1): `attach --transport ublk` fails at once with a clear
# error naming /dev/ublk-control and the cause, before any daemon starts;
# the device name must be a ublk one; detach of a ublk device that does
# not exist says so.  (The transport itself runs in test-vm-ublk.sh, on
# Debian 13's 6.12.)
. "$(dirname "$0")/functions.sh"
requires_root

if [ -e /dev/ublk-control ] || modprobe -q ublk_drv 2>/dev/null; then
	echo "this kernel has ublk: nothing to check here"
	exit 77
fi
make_image "$T/img" $((1024 * 1024))

expect_fail 1 "/dev/ublk-control: missing: this kernel has no ublk driver" \
	$ULOOP attach "$T/img" --transport ublk --foreground
expect_fail 1 "use --transport nbd" $ULOOP attach "$T/img" --transport ublk \
	--cache "$T/cache" --read-write
[ ! -e "$T/cache" ] || fail "a cache was made for a transport that cannot start"
ls /run/uloop/*ublk* >/dev/null 2>&1 && fail "a run state was left behind"
expect_fail 2 "--device /dev/nbd0: the ublk transport serves /dev/ublkbN" \
	$ULOOP attach "$T/img" --transport ublk --device /dev/nbd0
expect_fail 2 "is not auto, nbd, fuse, kmod or ublk" \
	$ULOOP attach "$T/img" --transport ublkk
expect_fail 1 "/dev/ublkb7: no such device" $ULOOP detach /dev/ublkb7
echo "ublk missing: clear errors, nothing started"
