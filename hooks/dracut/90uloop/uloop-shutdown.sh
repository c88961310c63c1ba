#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# uloop-shutdown.sh - dracut shutdown hook.  ulooproot asks for the
# initramfs at shutdown (need_shutdown): where the booted system has
# dracut's shutdown service, systemd-shutdown returns here once the root
# is unmounted, and this detaches the root image, so the daemon (spared
# by systemd's killing spree: '@' in its argv[0]) commits its cache and
# exits before the power goes.  Best effort: a failure only costs the
# blocks of the last second, fetched again next boot.

command -v uloop >/dev/null 2>&1 || exit 0
for s in /run/uloop/*.json /oldroot/run/uloop/*.json; do
	[ -e "$s" ] || continue
	dev=$(sed -n 's/.*"device":"\([^"]*\)".*/\1/p' "$s")
	[ -n "$dev" ] && uloop detach "$dev" >/dev/null 2>&1
done
exit 0
