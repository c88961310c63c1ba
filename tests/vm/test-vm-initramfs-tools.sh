#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: D2
# The initramfs-tools hook: Debian's mkinitramfs (in a chroot of
# itools-tree.sh: initramfs-tools and dracut do not install side by side)
# with hooks/initramfs-tools in place, MODULES=netboot (slim: network
# drivers, plus virtio_blk for the flash), boots the Debian 12 root from
# nginx with root=uloop:URL, the cache on the node's flash.  Cold, then
# warm (`systemctl reboot`): 0 image bytes, shutdown included
# (initramfs-tools has no way back at shutdown: the hook's mount_bottom
# links uloop's /run/initramfs/shutdown); all: the daemon started in
# the initramfs serves the root after run-init (same PID), and the node
# goes down through uloop's shutdown, the cache committed.  The root
# published with uloop publish, from its manifest and root hash: on
# dm-verity over the uloop device.
# Then rd.uloop.cache=LABEL=x:/path and rd.uloop.overlay=LABEL=x:/path
# (distro_paths), cold and warm, with the other spelling (boot=uloop
# netroot=uloop:URL, no root=).
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
requires_root
requires mkfs.ext4
vm_kernel
distro_setup
distro_itools "$T/initrd"
A="root=uloop:$DISTRO_URL ip=dhcp rd.uloop.cache=/dev/vda panic=-1"
distro_boot itools-cold "$T/initrd" "$A"
distro_boot itools-warm "$T/initrd" "$A" warm reboot
# The same root published (uloop publish), from its manifest with its
# root hash: mounted from dm-verity over the uloop device (a new image
# for the flash: cold), down through uloop's shutdown all the same.
distro_boot itools-verity "$T/initrd" "root=uloop:$DISTRO_VERITY_URL ip=dhcp rd.uloop.cache=/dev/vda rd.uloop.roothash=$DISTRO_ROOTHASH panic=-1"
grep -aq "ULOOP-DISTRO: LOWER ON DM-VERITY" "$T/itools-verity.log" ||
	fail "itools-verity: the root is not on dm-verity"
# SPEC:/path: the cache a file, the writable layer a directory, of one
# filesystem on a second disk; cold, then warm; the other spelling of the
# image: boot=uloop with netroot=, no root=.
distro_paths itools "$T/initrd" "boot=uloop netroot=uloop:$DISTRO_URL ip=dhcp panic=-1"
