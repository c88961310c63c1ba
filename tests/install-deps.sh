#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# install-deps.sh [demo] - install what the tests (or the demo) need from
# the distribution, skipping what is already there.  Debian/Ubuntu only;
# elsewhere it says what is missing and leaves it to the admin.
set -eu

# command:package pairs the tests use.
need="gcc:gcc make:make shellcheck:shellcheck sfdisk:fdisk mkfs.vfat:dosfstools cmp:diffutils losetup:mount od:coreutils nginx:nginx openssl:openssl clang:clang /usr/bin/python3:python3"
# The QEMU harness: the emulator, the guest's userland, module tools.
need="$need qemu-system-x86_64:qemu-system-x86 busybox:busybox-static nc:netcat-openbsd depmod:kmod cpio:cpio mksquashfs:squashfs-tools mkfs.ext4:e2fsprogs zstd:zstd file:file xz:xz-utils"
# A real distribution root for the boot tests (tests/vm/debian-root.sh).
need="$need mmdebstrap:mmdebstrap"
# Signatures a cache must never be laid over (test-cache-signatures).
need="$need mkfs.btrfs:btrfs-progs cryptsetup:cryptsetup-bin"
# Device-mapper in the guests: power cuts (dm-log-writes), bad sectors.
need="$need dmsetup:dmsetup"
# dracut for the dracut module's tests (network-legacy needs dhclient and
# arping); initramfs-tools is built in a chroot (tests/vm/itools-tree.sh).
need="$need dracut:dracut /usr/lib/dracut/modules.d/40network/netroot.sh:dracut-network dhclient:isc-dhcp-client arping:iputils-arping groff:groff-base"
# PXE on a boot network of the test's own (a namespace): DHCP and TFTP;
# ISC dhcpd; the PXELINUX and GRUB boot loaders (their files below).
need="$need dnsmasq:dnsmasq-base ip:iproute2 dhcpd:isc-dhcp-server grub-mknetdir:grub-common"
# UML's own COW tools, to read what uloop attach --cow writes (test-uml-cow,
# test-vm-cow-root).
need="$need uml_moo:uml-utilities"
# DKMS, as `make install` uses it (test-vm-dkms).
need="$need dkms:dkms"
# Squid as the cache tier (configs/squid).
need="$need squid:squid"
# A heavy parallel read load with verified data (test-exhaust).
need="$need fio:fio"
# User-Mode Linux and its COW tools, the reference for uloop's UML COW
# files (test-uml-tools): the UML kernel runs as a process, no emulator.
need="$need linux.uml:user-mode-linux uml_mkcow:uml-utilities"
[ "${1:-}" = demo ] && need="$need mksquashfs:squashfs-tools"

missing=""
for pair in $need; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
# uloop.ko: the guests' kernel headers, and checkpatch from the kernel source.
kver=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -n 1)
[ -z "$kver" ] || [ -d "/usr/src/linux-headers-$kver" ] || missing="$missing linux-headers-$kver"
# UEFI for the PXE tests, and the boot loaders' files (not commands).
for pair in /usr/share/ovmf/OVMF.fd:ovmf /usr/lib/PXELINUX/pxelinux.0:pxelinux \
	/usr/lib/syslinux/modules/bios/ldlinux.c32:syslinux-common \
	/usr/lib/grub/x86_64-efi/efinet.mod:grub-efi-amd64-bin; do
	[ -e "${pair%%:*}" ] || missing="$missing ${pair#*:}"
done
[ -e /usr/src/linux-source-6.1.tar.xz ] ||
	[ -s "${ULOOP_DEPS:-/var/cache/uloop-deps}/checkpatch-6.1/checkpatch.pl" ] ||
	missing="$missing linux-source-6.1"
# ASan/UBSan runtimes come with gcc on Debian; check by linking.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'int main(void){return 0;}' >"$tmp/a.c"
if ! cc -fsanitize=address,undefined -o "$tmp/a" "$tmp/a.c" 2>/dev/null; then
	missing="$missing libasan8 libubsan1"
fi
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: please install:$missing" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root to install:$missing" >&2
	exit 1
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
