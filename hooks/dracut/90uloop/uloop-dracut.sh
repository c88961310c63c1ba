#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# uloop-dracut.sh - the boot library (/lib/uloop/cmdline.sh, boot.sh,
# dev.sh: the same as the other flavours') with dracut's side of its
# contract: console lines through dracut's info/warn, failures through
# die (rd.shell, rd.emergency decide what follows), udev's /dev/disk
# links, and the command line as dracut sees it (getcmdline: with
# /etc/cmdline.d).  Installed as /lib/uloop/dracut.sh; sourced by the
# cmdline hook, /sbin/ulooproot and the systemd generator, after
# dracut-lib.sh.

# shellcheck source=initramfs/lib/dev.sh
. /lib/uloop/dev.sh
# shellcheck source=initramfs/lib/cmdline.sh
. /lib/uloop/cmdline.sh
# shellcheck source=initramfs/lib/boot.sh
. /lib/uloop/boot.sh

uloop_say() { info "uloop: $*"; echo "uloop: $*" >/dev/console 2>/dev/null; }
uloop_warn() { warn "uloop: $*"; }
uloop_fail() { die "$*"; }
# shellcheck disable=SC2034  # read by boot.sh
ULOOP_UDEV=1

# uloop_dracut_parse [URL]: the parameters; URL (a DHCP root-path's, or
# netroot= as 40network hands it on) in place of the command line's.
uloop_dracut_parse() {
	uloop_parse_line "$(getcmdline)"
	[ -z "$1" ] || ULOOP_URL=$1
}
