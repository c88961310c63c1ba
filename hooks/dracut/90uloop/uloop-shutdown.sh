#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# uloop-shutdown.sh - dracut shutdown hook, for when dracut's own
# shutdown runs from /run/initramfs (another module asked for it with
# need_shutdown, and the booted system's dracut-shutdown.service unpacked
# the image there) in place of uloop's (the static uloop as
# /run/initramfs/shutdown, linked by the pre-pivot hook: cpio leaves that
# newer file alone, so this runs only where it went missing).  It detaches
# the root image, so the daemon (spared by systemd's killing spree: '@'
# in its argv[0]) commits its cache, marks it clean and exits before the
# power goes; then it unmounts what uloop mounted under /run/uloop (the
# flash holding a cache file, a persistent writable layer), which nothing
# else unmounts: dracut powers off with -f -n.
#
# The booted system's /run (the daemon's state, the layers' mounts) is
# at /oldsys/run by now (dracut's shutdown moved it there); uloop reads
# its state in /run/uloop, so that is linked there if it is not seen.
# Sourced by dracut's shutdown loop, up to 40 passes: a non-zero return
# means "again" (a layer still mounted); the last pass ($final set)
# commits what the daemon fetched (uloop sync) where the image cannot
# be detached, and says why.

command -v uloop >/dev/null 2>&1 || return 0
if [ ! -e /run/uloop ] && [ -d /oldsys/run/uloop ]; then
	mkdir -p /run
	ln -s /oldsys/run/uloop /run/uloop
fi
_urc=0
for _us in /run/uloop/*.json; do
	[ -e "$_us" ] || continue
	_udev=$(sed -n 's/.*"device":"\([^"]*\)".*/\1/p' "$_us")
	[ -n "$_udev" ] || continue
	# Layers the pass before could not unmount yet (the image's mount
	# goes once the union above it is gone).
	awk -v d="$_udev" '$1 == d { print $2 }' /proc/mounts | while read -r _um; do
		umount "$_um" 2>/dev/null
	done
	if _uerr=$(uloop detach "$_udev" 2>&1); then
		echo "uloop: $_udev detached at shutdown: cache committed"
	else
		if [ -n "$final" ]; then
			echo "uloop: shutdown: ${_uerr#uloop: }"
			_uerr=$(uloop sync "$_udev" 2>&1) && _uerr="$_udev: cache committed, still attached"
			echo "uloop: shutdown: ${_uerr#uloop: }"
		fi
		_urc=1
	fi
done
[ $_urc -eq 0 ] || return 1
# The daemon is gone: its flash and the writable layers, deepest first
# (the reverse of /proc/mounts' order).
awk '$2 ~ /\/run\/uloop\// { m[n++] = $2 } END { while (n) print m[--n] }' /proc/mounts | while read -r _um; do
	umount "$_um" 2>/dev/null
done
_uleft=$(awk '$2 ~ /\/run\/uloop\// { printf " %s", $2 }' /proc/mounts)
[ -z "$_uleft" ] || echo "uloop: shutdown: still mounted:$_uleft"
sync
return 0
