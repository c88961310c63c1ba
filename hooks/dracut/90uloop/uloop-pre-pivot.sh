#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# uloop-pre-pivot.sh - dracut pre-pivot hook (priority 90), the last
# moment before switch_root, with and without systemd in the initramfs:
# for a root /sbin/ulooproot attached, the boot library's last two steps
# (as in the other flavours): uloop's own /run/initramfs/shutdown, which
# systemd-shutdown runs at poweroff to commit the cache and detach the
# image, and the boot's figures (a console and kernel log line,
# /run/uloop/boot.json).  Sourced by dracut.

if [ -e /run/uloop/root.ready ]; then
	# shellcheck source=hooks/dracut/90uloop/uloop-dracut.sh
	. /lib/uloop/dracut.sh
	uloop_prepare_shutdown
	uloop_boot_metrics
fi
