#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dracut-uloop-generator - with systemd in the initramfs, /sysroot is a
# mount unit: for root=uloop:URL (or netroot=uloop:URL) this writes
# sysroot.mount as the union /sbin/ulooproot prepares the layers of (the
# same uloop_union), ordered after dracut-initqueue.service, whose
# finished predicate is ulooproot's marker.  It goes to the early
# generator directory ($2) so it replaces the unit systemd-fstab-generator
# makes of root=, which takes "uloop:URL" for a device.

# shellcheck source=/dev/null  # dracut's own library
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh
# shellcheck source=hooks/dracut/90uloop/uloop-lib.sh
. /lib/uloop-lib.sh

root=$(getarg root=)
netroot=$(getarg netroot=)
[ "${root%%:*}" = uloop ] || [ "${netroot%%:*}" = uloop ] || exit 0
gen=$2
[ -n "$gen" ] || exit 1
mkdir -p "$gen/initrd-root-fs.target.requires"
uloop_opts
# shellcheck disable=SC2046  # TYPE WHAT OPTIONS
set -- $(uloop_union)
{
	echo "[Unit]"
	echo "Description=/sysroot: the uloop root"
	echo "Before=initrd-root-fs.target"
	echo "After=dracut-initqueue.service"
	echo "Wants=dracut-initqueue.service"
	echo "[Mount]"
	echo "Where=/sysroot"
	echo "What=$2"
	echo "Type=$1"
	echo "Options=$3"
} >"$gen/sysroot.mount"
ln -sf ../sysroot.mount "$gen/initrd-root-fs.target.requires/sysroot.mount"
exit 0
