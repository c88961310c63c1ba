#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly D2
# The distributions' initramfs flavours over ublk on Debian 13's kernel
# (6.12, with ublk_drv): dracut --add uloop (dracut's own init,
# network-legacy) and initramfs-tools (Debian's mkinitramfs with
# hooks/initramfs-tools), each packing ublk_drv, boot the Debian 12 root
# from nginx with rd.uloop.transport=ublk: the root image is on
# /dev/ublkb0 and the distro checks of distro-lib.sh hold (systemd up,
# the initramfs's daemon serving the root after switch_root, uloop
# status, the boot's figures, down through uloop's shutdown).  One cold
# boot each (the warm path is the transport's, test-vm-boot-ublk.sh).
# About 10 minutes on 2 busy cores (the initramfs-tools image for 6.12
# alone takes 4, and no other test shares it): skipped unless
# ULOOP_TEST_DISTRO_UBLK=1, so that `make check` stays within its hour.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
requires_root
[ "${ULOOP_TEST_DISTRO_UBLK:-}" = 1 ] ||
	{ echo "about 10 minutes: ULOOP_TEST_DISTRO_UBLK=1 runs it"; exit 77; }
VM_KSERIES=trixie
vm_kernel
modprobe -S "$KVER" -d "$KROOT" --show-depends ublk_drv >/dev/null 2>&1 ||
	{ echo "the guest kernel $KVER has no ublk_drv"; exit 77; }
distro_setup
A="root=uloop:$DISTRO_URL ip=dhcp rd.uloop.cache=/dev/vda rd.uloop.transport=ublk rd.shell=0"
distro_dracut "$T/dracut.img" "base udev-rules qemu network-legacy"
distro_boot dracut-ublk "$T/dracut.img" "$A"
grep -aq "uloop: root image on /dev/ublkb0" "$T/dracut-ublk.log" ||
	{ grep -a "uloop:" "$T/dracut-ublk.log" | head; fail "dracut: the root is not on /dev/ublkb0"; }
echo "dracut: root on /dev/ublkb0"
truncate -s 0 "$T/flash" && truncate -s 256M "$T/flash"
distro_itools "$T/itools.img"
distro_boot itools-ublk "$T/itools.img" "$A"
grep -aq "uloop: root image on /dev/ublkb0" "$T/itools-ublk.log" ||
	{ grep -a "uloop:" "$T/itools-ublk.log" | head; fail "initramfs-tools: the root is not on /dev/ublkb0"; }
echo "initramfs-tools: root on /dev/ublkb0"
