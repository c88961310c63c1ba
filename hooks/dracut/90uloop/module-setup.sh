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
# put it), the boot library shared with the other flavours as /lib/uloop
# (ULOOP_BOOTLIB, or where make install put it), the CA bundle as /etc/uloop/ca.pem (the host's own
# /etc/uloop/ca.pem if it has one, else the distribution's bundle: uloop
# trusts that file without rd.uloop.ca), the host's /etc/uloop/verity.pub
# if it has one (then only a manifest it signs boots), the cmdline parser, the netroot
# handler /sbin/ulooproot, the systemd generator when dracut runs systemd,
# a pre-pivot hook (uloop's /run/initramfs/shutdown, the boot's figures),
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
	# ublk where the kernel has it (6.0 and later: Debian 13's, not 12's).
	hostonly='' instmods ublk_drv 2>/dev/null
	return 0
}

# `make install` writes its LIBDIR here; ULOOP_STATIC and ULOOP_BOOTLIB
# name other files (a tree that is not installed, as the tests use).
ULOOP_LIBDIR=@LIBDIR@

install() {
	_uloop=${ULOOP_STATIC:-$ULOOP_LIBDIR/uloop/uloop.static}
	_lib=${ULOOP_BOOTLIB:-$ULOOP_LIBDIR/uloop/initramfs/lib}
	# dracut goes on after a failed install(): an image without uloop
	# would boot to nothing, so the build stops here.
	if [ ! -x "$_uloop" ]; then
		dfatal "uloop: no static uloop at $_uloop (make static && make install; or set ULOOP_STATIC)"
		exit 1
	fi
	if [ ! -r "$_lib/boot.sh" ]; then
		dfatal "uloop: no boot library in $_lib (make install; or set ULOOP_BOOTLIB)"
		exit 1
	fi
	inst_simple "$_uloop" /usr/sbin/uloop
	for _f in dev.sh cmdline.sh boot.sh; do
		inst_simple "$_lib/$_f" "/lib/uloop/$_f"
	done
	inst_simple "$moddir/uloop-dracut.sh" /lib/uloop/dracut.sh
	if [ -r /etc/uloop/ca.pem ]; then
		inst_simple /etc/uloop/ca.pem
	elif [ -r /etc/ssl/certs/ca-certificates.crt ]; then
		inst_simple /etc/ssl/certs/ca-certificates.crt /etc/uloop/ca.pem
	fi
	# The key a manifest's signature must verify with: then only a
	# signed manifest boots (docs/verity.md).
	[ ! -r /etc/uloop/verity.pub ] || inst_simple /etc/uloop/verity.pub
	# od: the command line is split byte by byte (cmdline.sh), and dev.sh
	# reads a filesystem's magic with it.
	inst_multiple awk grep tail cat ip udevadm sync env sed tr readlink cp cut ln mv od
	# blkid names a cache or layer filesystem's type; dd reads the magic
	# where it is missing (dev.sh); dd and head read a partition's
	# PARTUUID from its table (rd.uloop.partition=PARTUUID=x).
	inst_multiple -o blkid dd head
	inst_hook cmdline 90 "$moddir/parse-uloop.sh"
	inst_script "$moddir/ulooproot.sh" /sbin/ulooproot
	inst_hook pre-pivot 90 "$moddir/uloop-pre-pivot.sh"
	inst_hook shutdown 30 "$moddir/uloop-shutdown.sh"
	if dracut_module_included systemd-initrd; then
		inst_script "$moddir/uloop-generator.sh" \
			"$systemdutildir/system-generators/dracut-uloop-generator"
	fi
	dracut_need_initqueue
}
