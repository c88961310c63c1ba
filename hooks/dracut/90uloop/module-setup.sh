#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# module-setup.sh - dracut module "uloop": root=uloop:URL, a remote
# image served as a local block device by the uloop daemon, its blocks
# cached on local flash, mounted read-only under a writable layer.
#
#   dracut --add uloop ...          (never picked by itself: check 255)
#
# What goes in: the static uloop (ULOOP_STATIC, or where make install
# puts it), the boot library shared with the other flavours as /lib/uloop
# (ULOOP_BOOTLIB, or where make install puts it), the CA bundle as /etc/uloop/ca.pem (the host's own
# /etc/uloop/ca.pem if it has one, else the distribution's bundle: uloop
# trusts that file without rd.uloop.ca), the cmdline parser, the netroot
# handler /sbin/ulooproot, the systemd generator when dracut runs systemd,
# a shutdown hook; the kernel side: nbd, uloop.ko where built, the image
# filesystems, overlay, dm-verity, and the cache's filesystems.
# Sourced by dracut's bash, written as POSIX sh like the hooks.

# dracut's own variables: dracutbasedir, moddir, systemdutildir.
# shellcheck disable=SC2154

check() {
	return 255
}

depends() {
	echo network
	# dracut's overlay module, where it has one (059: 90overlayfs).
	[ -d "$dracutbasedir/modules.d/90overlayfs" ] && echo overlayfs
	# With systemd in the image, the netroot handler runs from the
	# initqueue, which is dracut-systemd's dracut-initqueue.service:
	# "-m 'systemd systemd-initrd systemd-networkd uloop'" would
	# otherwise build an image that never attaches the root.  (As
	# 40network does, this reads the modules chosen so far: those of
	# lower numbers, systemd-initrd's 01 among them.)
	dracut_module_included systemd-initrd && echo dracut-systemd
	return 0
}

installkernel() {
	hostonly='' instmods nbd squashfs erofs overlay loop dm-verity ext4 vfat \
		nls_cp437 nls_iso8859_1 crc32c
	# uloop.ko only where it is built for this kernel (DKMS).
	hostonly='' instmods uloop 2>/dev/null
	return 0
}

install() {
	_uloop=${ULOOP_STATIC:-}
	for _c in /usr/lib/uloop/uloop.static /usr/local/lib/uloop/uloop.static; do
		[ -n "$_uloop" ] && break
		[ -x "$_c" ] && _uloop=$_c
	done
	if [ -z "$_uloop" ]; then
		derror "uloop: no static uloop (make install puts it in /usr/lib/uloop or /usr/local/lib/uloop; or set ULOOP_STATIC)"
		return 1
	fi
	inst_simple "$_uloop" /usr/sbin/uloop
	_lib=${ULOOP_BOOTLIB:-}
	for _c in /usr/lib/uloop/initramfs/lib /usr/local/lib/uloop/initramfs/lib; do
		[ -n "$_lib" ] && break
		[ -r "$_c/boot.sh" ] && _lib=$_c
	done
	if [ -z "$_lib" ] || [ ! -r "$_lib/boot.sh" ]; then
		derror "uloop: no boot library ${_lib:+in $_lib }(make install puts it in /usr/lib/uloop/initramfs/lib or /usr/local/lib/uloop/initramfs/lib; or set ULOOP_BOOTLIB)"
		return 1
	fi
	for _f in dev.sh cmdline.sh boot.sh; do
		inst_simple "$_lib/$_f" "/lib/uloop/$_f"
	done
	inst_simple "$moddir/uloop-dracut.sh" /lib/uloop/dracut.sh
	if [ -r /etc/uloop/ca.pem ]; then
		inst_simple /etc/uloop/ca.pem
	elif [ -r /etc/ssl/certs/ca-certificates.crt ]; then
		inst_simple /etc/ssl/certs/ca-certificates.crt /etc/uloop/ca.pem
	fi
	inst_multiple awk grep tail cat ip udevadm sync env sed tr readlink cp
	# blkid names a cache or layer filesystem's type; dd and od read
	# the magic where it is missing (dev.sh).
	inst_multiple -o blkid dd od
	inst_hook cmdline 90 "$moddir/parse-uloop.sh"
	inst_script "$moddir/ulooproot.sh" /sbin/ulooproot
	inst_hook shutdown 30 "$moddir/uloop-shutdown.sh"
	if dracut_module_included systemd-initrd; then
		inst_script "$moddir/uloop-generator.sh" \
			"$systemdutildir/system-generators/dracut-uloop-generator"
	fi
	dracut_need_initqueue
}
