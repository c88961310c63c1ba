#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly D2
# rd.uloop.cow through initramfs-tools and a real systemd: the Debian 12
# root of distro-lib.sh as an ext4 image (its squashfs unpacked into
# one), booted with initramfs-tools' image (hooks/initramfs-tools) and
# rd.uloop.cache=LABEL=flash:/cache rd.uloop.cow=LABEL=flash:/root.cow.
# One boot: systemd is PID 1 on the uloop device itself, read-write (no
# overlay), the daemon the initramfs started serves it; the root writes
# a file (synced) and runs `systemctl reboot`: systemd-shutdown remounts
# the root read-only and returns to uloop's /run/initramfs/shutdown, which
# detaches the device.  On the host: the COW on the flash, merged over the
# image by uml_moo, is an ext4 that fsck finds clean and not needing
# recovery, holding the file the root wrote.  (test-vm-cow-root does the
# power cut and the refused COW with the standalone initramfs.)
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
requires_root
requires mkfs.ext4 unsquashfs e2fsck debugfs dumpe2fs uml_moo losetup
vm_kernel
distro_setup
distro_itools "$T/initrd"

# The root as ext4, with room for the writes.
unsquashfs -q -n -d "$T/deb" "$T/www/debian.squashfs" >/dev/null || fail "unsquashfs"
mkfs.ext4 -q -F -L debian -d "$T/deb" "$T/www/debian.ext4" 512M >/dev/null
rm -rf "$T/deb"
cp --sparse=always "$T/www/debian.ext4" "$T/base.ext4"
touch -d @0 "$T/base.ext4"	# a COW over a URL records mtime 0 (UML's check)
sum0=$(sha256sum <"$T/www/debian.ext4")
rm -f "$T/flash"
truncate -s 512M "$T/flash"
mkfs.ext4 -q -F -L flash "$T/flash"

DISTRO_ROOT=READ-WRITE distro_boot itools-cow "$T/initrd" \
	"root=uloop:http://10.0.2.100/debian.ext4 ip=dhcp rd.uloop.cache=LABEL=flash:/cache rd.uloop.cow=LABEL=flash:/root.cow panic=-1" \
	"" reboot
grep -aq '"cow":"/run/uloop/flash/root.cow","writes":"cow"' "$T/itools-cow.log" ||
	fail "boot.json does not name the COW: $(grep -a "BOOT JSON" "$T/itools-cow.log")"
grep -aq "ULOOP-DISTRO: DAEMON PID [0-9]*: @.* --cow /run/uloop/flash/root.cow" "$T/itools-cow.log" ||
	fail "the daemon has no --cow: $(grep -a "DAEMON PID" "$T/itools-cow.log")"
grep -a "uloop: warning" "$T/itools-cow.log" && fail "a warning"
w=$(sed -n 's/.*ULOOP-DISTRO: OVERLAY WRITABLE: \(w [0-9a-f-]*\).*/\1/p' "$T/itools-cow.log")
[ -n "$w" ] || fail "the root wrote nothing"

# The COW as systemctl reboot left it.
l=$(losetup -f --show "$T/flash") || fail "losetup"
mkdir -p "$T/mnt"
mount -o ro "$l" "$T/mnt" || { losetup -d "$l"; fail "the flash does not mount"; }
cp --sparse=always "$T/mnt/root.cow" "$T/root.cow" || ok=no
umount "$T/mnt"
losetup -d "$l"
[ "${ok:-}" != no ] || fail "no root.cow on the flash"
uml_moo -b "$T/base.ext4" "$T/root.cow" "$T/merged.ext4" >"$T/moo.log" 2>&1 || fail "uml_moo: $(cat "$T/moo.log")"
dumpe2fs -h "$T/merged.ext4" 2>/dev/null | grep -q "^Filesystem features:.*needs_recovery" &&
	fail "after systemctl reboot the root's journal needs recovery: not shut down clean"
e2fsck -fn "$T/merged.ext4" >"$T/fsck.log" 2>&1 || fail "fsck of the root after systemctl reboot: $(cat "$T/fsck.log")"
got=$(debugfs -R "cat /uloop-written" "$T/merged.ext4" 2>/dev/null)
[ "$got" = "$w" ] || fail "the COW holds /uloop-written '$got', not the boot's '$w'"
[ "$(sha256sum <"$T/www/debian.ext4")" = "$sum0" ] || fail "the image on the server changed"
echo "itools-cow: systemd on the COW root, down through uloop's shutdown: the merged root clean, with the boot's write ($(du -k "$T/root.cow" | cut -f1) KiB COW)"
