#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A real distribution userland boots through the standalone uloop
# initramfs: a minimal Debian 12 (tests/vm/debian-root.sh: the essential
# packages and systemd, cached between runs) as a squashfs from nginx,
# root=uloop:URL, the cache on the node's flash.  The checks are the ones
# every flavour gets (distro-lib.sh's distro_boot, as for dracut and
# initramfs-tools): systemd is PID 1 of Debian 12, / is a writable
# overlay on the device the daemon serves, the daemon the initramfs
# started (same PID, root storage) answers `uloop status`.  Cold, then
# warm from the same flash: nothing the cold boot fetched is fetched
# again; then a clean `systemctl poweroff` powers the node off.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
requires_root
vm_kernel
distro_setup
vm_uloop_initrd "$T/initrd"
A="root=uloop:$DISTRO_URL ip=dhcp rd.uloop.cache=/dev/vda systemd.show_status=1"
distro_boot debian-cold "$T/initrd" "$A"
distro_boot debian-warm "$T/initrd" "$A" warm
