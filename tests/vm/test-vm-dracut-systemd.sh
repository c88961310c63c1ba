#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: D2
# dracut --add uloop with systemd in the initramfs (dracut-systemd,
# systemd-networkd: the initqueue job of 90uloop stands in for netroot,
# dracut-uloop-generator writes sysroot.mount): a Debian 12 root
# (systemd) from nginx, the cache on the node's flash.  Cold, then warm
# from the same flash (`systemctl reboot`): 0 image bytes, shutdown
# included.  Both boots: the daemon the initramfs started serves the
# root after switch_root (same PID; it left dracut-initqueue.service's
# cgroup, which the booted systemd stops) and uloop's
# /run/initramfs/shutdown detaches the image at the end.  The image is
# built without naming dracut-systemd: 90uloop depends on it where
# systemd is in.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
requires_root
vm_kernel
distro_setup
# No dracut-systemd in the list (a list a user can plausibly write): the
# uloop module must pull it in, as its handler runs from its initqueue.
distro_dracut "$T/initrd" "base udev-rules qemu systemd systemd-initrd systemd-networkd"
A="root=uloop:$DISTRO_URL ip=dhcp rd.uloop.cache=/dev/vda rd.shell=0"
distro_boot dracut-sd-cold "$T/initrd" "$A"
distro_boot dracut-sd-warm "$T/initrd" "$A" warm reboot
