#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ulooproot NETIF NETROOT NEWROOT - dracut's netroot handler for
# netroot=uloop:URL (40network's netroot finds it by name), and
# ulooproot --poll NETROOT, the initqueue job that stands in for netroot
# with systemd-networkd: it returns at once until an interface has an
# IPv4 address, and the initqueue runs it again.
#
# The uloop part (cache, attach, image, writable layer, union) is the
# boot library's, as in the other flavours (/lib/uloop/boot.sh, through
# uloop-dracut.sh).  What is dracut's own, here: the netroot contract
# (once per boot, whichever interface came up), the daemon's move out of
# dracut-initqueue.service's cgroup, the root on $NEWROOT without
# systemd, or dracut-uloop-generator's sysroot.mount with it (a DHCP
# root-path came too late for the generator: a drop-in then),
# /run/uloop/root.ready (the initqueue's finished predicate).  Every failure is dracut's die with one line naming the
# parameter; rd.shell / rd.emergency decide what follows.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck source=/dev/null  # dracut's own library
command -v getarg >/dev/null || . /lib/dracut-lib.sh
# shellcheck source=hooks/dracut/90uloop/uloop-dracut.sh
. /lib/uloop/dracut.sh

if [ "$1" = --poll ]; then
	netroot=$2
	netif=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ print $2; exit }')
	[ -n "$netif" ] || exit 0
else
	netif=$1 netroot=$2
	[ -n "$3" ] && NEWROOT=$3
fi
NEWROOT=${NEWROOT:-/sysroot}
[ -e /run/uloop/root.ready ] && exit 0
mkdir -p /run/uloop
# netroot runs once per interface that comes up: one attach.
mkdir /run/uloop/handler 2>/dev/null || exit 0

uloop_dracut_parse "${netroot#uloop:}"
err=$(uloop_check) || die "$err"
uloop_say "root=uloop:$ULOOP_URL through $netif"
uloop_prepare_cache
uloop_modules
uloop_attach_root
pid=$ULOOP_PID
# With systemd, this runs inside dracut-initqueue.service, and so would
# the daemon: the booted system's systemd stops that unit (its file is
# gone after switch_root) by killing its whole cgroup, '@' or not.  The
# root cgroup is where a daemon started by a plain initramfs lives, and
# systemd leaves it alone until its final killing spree, which spares
# '@'.  (cgroup v2; v1 keeps systemd's tree under /sys/fs/cgroup/systemd.)
if [ -n "$DRACUT_SYSTEMD" ] && [ -n "$pid" ]; then
	for cg in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/systemd/cgroup.procs; do
		[ -w "$cg" ] && echo "$pid" >"$cg" 2>/dev/null && break
	done || warn "uloop: cannot move the daemon (pid $pid) to the root cgroup: systemd may stop it after switch_root"
fi

uloop_mount_image
uloop_mount_layer
if [ -z "$DRACUT_SYSTEMD" ]; then
	uloop_mount_root "$NEWROOT"
elif r=$(getarg root=); n=$(getarg netroot=); { [ "${r%%:*}" != uloop ] && [ "${n%%:*}" != uloop ]; } ||
	[ -n "$ULOOP_COW_FELL" ]; then
	# A DHCP root-path: the generator ran before it was known; or
	# rd.uloop.cow given up: the generator made the root the image's
	# read-write mount, which is now read-only under a RAM layer.
	# shellcheck disable=SC2046  # TYPE WHAT OPTIONS
	set -- $(uloop_union)
	mkdir -p /run/systemd/system/sysroot.mount.d
	printf '[Unit]\nAfter=dracut-initqueue.service\n[Mount]\nWhere=/sysroot\nWhat=%s\nType=%s\nOptions=%s\n' \
		"$2" "$1" "$3" >/run/systemd/system/sysroot.mount.d/uloop.conf
	systemctl --no-block daemon-reload
fi
: >/run/uloop/root.ready
# At poweroff uloop's own /run/initramfs/shutdown (prepared by the
# pre-pivot hook, uloop-pre-pivot.sh) commits the cache and detaches the
# image.  dracut's need_shutdown is not asked for: the booted system
# would unpack this whole image into /run/initramfs for it
# (dracut-shutdown.service), where a diskless root has no image to unpack.
exit 0
