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
# shellcheck source=hooks/dracut/90uloop/uloop-dracut.sh
. /lib/uloop/dracut.sh

root=$(getarg root=)
netroot=$(getarg netroot=)
[ "${root%%:*}" = uloop ] || [ "${netroot%%:*}" = uloop ] || exit 0
gen=$2
[ -n "$gen" ] || exit 1
# Only dracut-initqueue.service runs /sbin/ulooproot (module-setup.sh
# depends on dracut-systemd for it): without it the boot would wait for
# a root nothing attaches, without a word.
for _d in /etc/systemd/system /run/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
	[ -e "$_d/dracut-initqueue.service" ] && break
	_d=""
done
[ -n "$_d" ] || echo "<3>uloop: dracut-initqueue.service is not in this initramfs (dracut's dracut-systemd module): root=uloop cannot be attached" >/dev/kmsg 2>/dev/null
mkdir -p "$gen/initrd-root-fs.target.requires"
uloop_dracut_parse ""
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
