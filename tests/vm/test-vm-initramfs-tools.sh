#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The initramfs-tools hook: Debian's mkinitramfs (in a chroot of
# itools-tree.sh: initramfs-tools and dracut do not install side by side)
# with hooks/initramfs-tools in place, MODULES=netboot (slim: network
# drivers, plus virtio_blk for the flash), boots the Debian 12 root from
# nginx with root=uloop:URL, the cache on the node's flash.  Cold, then
# warm: 0 image bytes; both: the daemon started in the initramfs serves
# the root after run-init (same PID), `systemctl poweroff` powers off.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
requires_root
vm_kernel
distro_setup
rc=0
tree=$(sh "$(dirname "$0")/itools-tree.sh") || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"

# The cached tree stays as it is: an overlay takes this test's files.
C=$T/chroot
mkdir -p "$C" "$T/up" "$T/work"
mount -t overlay -o "lowerdir=$tree,upperdir=$T/up,workdir=$T/work" itools "$C" ||
	fail "cannot mount an overlay on $tree"
on_exit "umount -R $C"
s=$(date +%s)
it=$C/usr/share/initramfs-tools
cp "$top/hooks/initramfs-tools/hooks/uloop" "$it/hooks/uloop"
cp "$top/hooks/initramfs-tools/scripts/uloop" "$it/scripts/uloop"
cp "$top/hooks/initramfs-tools/scripts/init-top/uloop" "$it/scripts/init-top/uloop"
mkdir -p "$C/usr/lib/uloop" "$C/lib/modules/$KVER"
cp "$ULOOP_VM_BIN" "$C/usr/lib/uloop/uloop.static"
echo MODULES=netboot >"$C/etc/initramfs-tools/conf.d/uloop-test"
printf 'virtio_pci\nvirtio_blk\n' >>"$C/etc/initramfs-tools/modules"
# mkinitramfs checks the kernel's config for its compressor.
mkdir -p "$C/boot"
cp "$KROOT/boot/config-$KVER" "$C/boot/"
mount --bind -o ro "$KROOT/lib/modules/$KVER" "$C/lib/modules/$KVER"
mount -t proc proc "$C/proc"
chroot "$C" mkinitramfs -o /tmp/initrd.img "$KVER" >"$T/mkinitramfs.log" 2>&1 ||
	{ cat "$T/mkinitramfs.log"; fail "mkinitramfs failed"; }
cp "$C/tmp/initrd.img" "$T/initrd"
echo "initramfs-tools image (MODULES=netboot + uloop): $(fsize "$T/initrd") bytes, built in $(( $(date +%s) - s )) s"
A="root=uloop:$DISTRO_URL ip=dhcp rd.uloop.cache=/dev/vda panic=-1"
distro_boot itools-cold "$T/initrd" "$A"
distro_boot itools-warm "$T/initrd" "$A" warm
