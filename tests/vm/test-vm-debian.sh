#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: D2
# A real distribution userland boots through the standalone uloop
# initramfs: a minimal Debian 12 (tests/vm/debian-root.sh: the essential
# packages and systemd, cached between runs) as a squashfs from nginx,
# root=uloop:URL, the cache on the node's flash.  The checks are the ones
# every flavour gets (distro-lib.sh's distro_boot, as for dracut and
# initramfs-tools): systemd is PID 1 of Debian 12, / is a writable
# overlay on the device the daemon serves, the daemon the initramfs
# started (same PID, root storage) answers `uloop status`, the boot's
# figures are in /run/uloop/boot.json.  Every boot ends with a
# `systemctl poweroff` or `reboot` the moment the root is up, through
# uloop's /run/initramfs/shutdown.  Cold over nbd (poweroff), warm over
# uloop.ko (reboot), warm again over nbd (poweroff), all from the same
# flash: each warm boot, shutdown included, fetches no image bytes.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
requires_root
vm_kernel
vm_uloop_ko
distro_setup
vm_uloop_initrd "$T/initrd" --uloop-ko "$KO"
A="root=uloop:$DISTRO_URL ip=dhcp rd.uloop.cache=/dev/vda systemd.show_status=1"
# nbd first: its kernel scans the device for partitions (uloop.ko's
# device has none to scan), reading blocks a uloop.ko boot never reads.
distro_boot debian-cold "$T/initrd" "$A rd.uloop.transport=nbd"
grep -aq "root image on /dev/nbd0" "$T/debian-cold.log" || fail "debian-cold: the root is not on /dev/nbd0"
distro_boot debian-warm "$T/initrd" "$A" warm reboot
grep -aq "root image on /dev/uloop0" "$T/debian-warm.log" || fail "debian-warm: the root is not on uloop.ko's /dev/uloop0"
distro_boot debian-nbd "$T/initrd" "$A rd.uloop.transport=nbd" warm
