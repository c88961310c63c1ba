#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# parse-uloop.sh - dracut cmdline hook (priority 90): is the root ours?
#
#   root=uloop:URL             (root= wins over netroot=, as for nbd)
#   netroot=uloop:URL
#   root=dhcp + a DHCP root-path "uloop:URL": 40network's netroot sources
#                              cmdline/90*.sh again with $netroot set to
#                              the root-path, so this file is that parser too
#
# Sourced, not run: it sets rootok (and root, when only netroot= named
# the image) for dracut's checks, and checks every rd.uloop.* value now,
# so a typo fails before the network is brought up, with one line naming
# the parameter.  The root is attached by /sbin/ulooproot: 40network's
# netroot calls it when an interface is up (network-legacy,
# NetworkManager); with systemd-networkd nothing calls netroot handlers,
# so a job in the initqueue calls it once an address is configured.
# The initqueue is finished when ulooproot has made the root, or when it
# (or anything) died: dracut's die in a netroot handler ends only the
# handler, and the initqueue would wait out rd.retry (180 s) for a root
# nothing makes any more; finished, dracut's init finds no root mounted
# and goes to its emergency (rd.shell, rd.emergency) at once.

# shellcheck disable=SC2154  # hookdir: dracut's
# shellcheck source=/dev/null  # dracut's own library
type getarg >/dev/null 2>&1 || . /lib/dracut-lib.sh

[ -z "$root" ] && root=$(getarg root=)
if [ -z "$netroot" ]; then
	set -f
	for netroot in $(getargs netroot=); do
		[ "${netroot%%:*}" = uloop ] && break
	done
	set +f
	[ "${netroot%%:*}" = uloop ] || unset netroot
fi
if [ "${root%%:*}" = uloop ]; then
	[ -n "$netroot" ] && [ "$netroot" != "$root" ] &&
		warn "uloop: root=$root takes precedence over netroot=$netroot"
	netroot=$root
fi

if [ "${netroot%%:*}" = uloop ]; then
	# shellcheck source=hooks/dracut/90uloop/uloop-dracut.sh
	. /lib/uloop/dracut.sh
	uloop_dracut_parse "${netroot#uloop:}"
	_uerr=$(uloop_check) || die "$_uerr"
	uloop_warnings dracut | while IFS= read -r _w; do warn "uloop: $_w"; done
	# shellcheck disable=SC2034  # read by dracut's init and netroot
	rootok=1
	# Only netroot= named it: a root= for dracut's "no root=" check that
	# no other module claims (the generator and ulooproot know it).
	[ -z "$root" ] && root=uloop
	echo '[ -e /run/uloop/root.ready ] || [ -e /run/initramfs/.die ]' >"$hookdir/initqueue/finished/uloop.sh"
	if [ ! -x /sbin/ifup ] && command -v networkctl >/dev/null 2>&1; then
		/sbin/initqueue --name uloop-networkd --unique /sbin/ulooproot --poll "$netroot"
	fi
fi
