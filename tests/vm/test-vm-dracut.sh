#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: D2
# dracut --add uloop, without systemd in the initramfs (dracut's own
# init, network-legacy: dhclient calls the netroot handler
# /sbin/ulooproot): a Debian 12 root (systemd) from nginx, the cache on
# the node's flash.  Cold (`systemctl poweroff` at once), then warm from
# the same flash (`systemctl reboot` at once): 0 image bytes, shutdown
# included.  Both boots: the daemon the initramfs started serves the
# root after switch_root (same PID); uloop's /run/initramfs/shutdown
# (the pre-pivot hook's) detaches the image at the end.  Then the root
# published with uloop publish, booted over PXE (iPXE, uloop.ipxe) from
# its manifest and root hash, cold then warm: on dm-verity over the uloop
# device.
# (tests/vm/distro-lib.sh has the checks.)
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
. "$(dirname "$0")/pxe-lib.sh"
requires_root
vm_kernel
distro_setup
distro_dracut "$T/initrd" "base udev-rules qemu network-legacy"
A="root=uloop:$DISTRO_URL ip=dhcp rd.uloop.cache=/dev/vda rd.shell=0"
distro_boot dracut-cold "$T/initrd" "$A"
distro_boot dracut-warm "$T/initrd" "$A" warm reboot
# The same root published (uloop publish), from its manifest with its
# root hash: mounted from dm-verity over the uloop device (a new image
# for the flash: cold), down through uloop's shutdown all the same.
# Booted over PXE: no -kernel; QEMU's iPXE ROM runs configs/pxe/uloop.ipxe
# (from the user network's TFTP), which fetches the kernel and this
# dracut initramfs from nginx.
mkdir -p "$T/www/boot" "$T/tftp"
cp "$VMLINUZ" "$T/www/boot/vmlinuz"
cp "$T/initrd" "$T/www/boot/initrd.img"
chmod -R a+rX "$T/www/boot"
pxe_ipxe http://10.0.2.100 "$T/tftp/uloop.ipxe" "$DISTRO_VERITY_URL" "rd.uloop.roothash=$DISTRO_ROOTHASH rd.shell=0"
VM_PXE="$T/tftp:uloop.ipxe" distro_boot dracut-verity "" "root=uloop:$DISTRO_VERITY_URL ip=dhcp rd.uloop.cache=/dev/vda rd.uloop.roothash=$DISTRO_ROOTHASH rd.shell=0"
grep -q ' /boot/initrd.img ' "$T/dracut-verity.all" || fail "dracut-verity: the initramfs did not come over HTTP"
grep -aq "ULOOP-DISTRO: LOWER ON DM-VERITY" "$T/dracut-verity.log" ||
	fail "dracut-verity: the root is not on dm-verity"
# Warm over PXE too: the kernel and initramfs come again, the image not.
VM_PXE="$T/tftp:uloop.ipxe" distro_boot dracut-verity-warm "" "root=uloop:$DISTRO_VERITY_URL ip=dhcp rd.uloop.cache=/dev/vda rd.uloop.roothash=$DISTRO_ROOTHASH rd.shell=0" warm
grep -q ' /boot/initrd.img ' "$T/dracut-verity-warm.all" || fail "dracut-verity-warm: the initramfs did not come over HTTP"
grep -aq "ULOOP-DISTRO: LOWER ON DM-VERITY" "$T/dracut-verity-warm.log" ||
	fail "dracut-verity-warm: the root is not on dm-verity"
