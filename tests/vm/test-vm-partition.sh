#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Whole-disk images with a partition table, in Debian's kernel (its GPT
# and MBR parsers): the root is partition 2 of a GPT image served by
# nginx.  Boot 1, uloop.ko (the uloop initramfs, cache on the flash):
# rd.uloop.partition=2 mounts /dev/uloop0p2; /dev/uloop0p1 reads as the
# host's copy; the boot library finds p2 by its PARTLABEL.  In the same
# guest an MBR image (primary, extended, logical) attached over nbd, and
# over FUSE + losetup -P, has partitions 1 2 5 whose bytes are the
# host's; the library finds its logical partition by PARTUUID
# (SIGNATURE-05) and names what the image has for a partition it lacks;
# uloop status lists a device's partitions.
# Boot 2, nbd (RAM cache): rd.uloop.partition=PARTUUID=X (upper case)
# mounts /dev/nbd0p2.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs sfdisk gcc
vm_kernel
vm_uloop_ko

# The root, with the boot library's files for the lookups it checks.
R=$T/root
vm_busybox_root "$R" lib/uloop
cp "$top/initramfs/lib/dev.sh" "$top/initramfs/lib/cmdline.sh" "$top/initramfs/lib/boot.sh" "$R/lib/uloop/"
vm_root_init "$R/sbin/init" <<'INIT'
d=$(awk '$2 == "/run/uloop/lower" { print $1 }' /proc/mounts)
echo "ROOT ON $d"
# Partition numbers of disk $1, and one's sum against the host's.
parts() { for p in /sys/class/block/$1/*/partition; do cat "$p"; done | sort -n | tr '\n' ' '; }
same() { [ "$(sha256sum <"/dev/$2" | cut -d' ' -f1)" = "$(sed -n "s/^$1 //p" /expected)" ] && echo "SAME $1 $2"; }
# The boot library's lookup (its lines, then the device chosen).
lookup() {
	sh -c '. /lib/uloop/dev.sh; . /lib/uloop/cmdline.sh; . /lib/uloop/boot.sh
		uloop_say() { :; }; uloop_fail() { echo "LOOKUP-FAIL $*"; }
		ULOOP_RDEV=$1 ULOOP_PARTITION=$2
		uloop_root_partition && echo "LOOKUP $2 $ULOOP_FSDEV"' sh "$1" "$2"
}
disk=${d#/dev/}
disk=${disk%p2}
echo "PARTS $disk: $(parts "$disk")"
case $disk in uloop*)
	same gpt-1 "${disk}p1"
	lookup "/dev/$disk" PARTLABEL=uloop-root
	U=/run/uloop/bin/uloop
	echo "STATUS $disk:$($U status "/dev/$disk" | sed -n 's/^  partitions://p')"
	n=$($U attach http://10.0.2.100/mbr.img --transport nbd) && echo "MBR ON $n"
	n=${n#/dev/}
	echo "PARTS mbr-nbd: $(parts "$n")"
	same mbr-1 "${n}p1"
	same mbr-5 "${n}p5"
	lookup "/dev/$n" PARTUUID=5EED1E55-05
	lookup "/dev/$n" 3
	: >/run/mbr.fuse
	$U attach http://10.0.2.100/mbr.img --transport fuse --device /run/mbr.fuse >/dev/null &&
		losetup -r -P -f /run/mbr.fuse && l=$(losetup -a | sed -n 's|^/dev/\(loop[0-9]*\):.*mbr.fuse.*|\1|p')
	echo "PARTS mbr-fuse: $(parts "$l")"
	same mbr-5 "${l}p5" ;;
esac
INIT

# The images.  GPT: 1 a MiB of random bytes, 2 the root (squashfs).
# MBR: 1 and 5 (a logical one, in the extended 2) random.
mkdir -p "$T/www"
mksquashfs "$R" "$T/root.sq" -no-progress -quiet -all-root >/dev/null
sq=$(( ($(fsize "$T/root.sq") + 4095) / 4096 * 8 ))
uuid=0A1B2C3D-4E5F-4061-8293-A4B5C6D7E8F9
truncate -s $(( (4096 + sq) * 512 + 1048576 )) "$T/www/disk.img"
printf 'label: gpt\nstart=2048, size=2048, name=esp\nstart=4096, size=%s, name=uloop-root, uuid=%s\n' \
	"$sq" "$uuid" | sfdisk -q "$T/www/disk.img"
make_image "$T/p" 1048576
dd if="$T/p" of="$T/www/disk.img" bs=512 seek=2048 conv=notrunc status=none
echo "gpt-1 $(sha256sum <"$T/p" | cut -d' ' -f1)" >"$T/expected"
dd if="$T/root.sq" of="$T/www/disk.img" bs=512 seek=4096 conv=notrunc status=none
truncate -s 8M "$T/www/mbr.img"
printf 'label: dos\nlabel-id: 0x5eed1e55\nstart=2048, size=2048, type=83\nstart=4096, size=12000, type=5\nstart=6144, size=4096, type=83\n' |
	sfdisk -q "$T/www/mbr.img"
dd if="$T/p" of="$T/www/mbr.img" bs=512 seek=2048 conv=notrunc status=none
echo "mbr-1 $(sha256sum <"$T/p" | cut -d' ' -f1)" >>"$T/expected"
make_image "$T/p" 2097152
dd if="$T/p" of="$T/www/mbr.img" bs=512 seek=6144 conv=notrunc status=none
echo "mbr-5 $(sha256sum <"$T/p" | cut -d' ' -f1)" >>"$T/expected"
# The sums go in the root's own image: it was made above, so again.
cp "$T/expected" "$R/expected"
mksquashfs "$R" "$T/root.sq" -no-progress -quiet -all-root -noappend >/dev/null
[ $(( ($(fsize "$T/root.sq") + 511) / 512 )) -le "$sq" ] || fail "the root grew out of its partition"
dd if="$T/root.sq" of="$T/www/disk.img" bs=512 seek=4096 conv=notrunc status=none

start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
vm_uloop_initrd "$T/initrd" --uloop-ko "$KO" --add-modules "fuse loop"
truncate -s 64M "$T/flash"

vm_boot kmod "$T/initrd" "$T/flash" \
	"root=uloop:http://10.0.2.100/disk.img rd.uloop.cache=/dev/vda rd.uloop.partition=2" ||
	{ tail -n 30 "$T/kmod.log"; fail "kmod: boot failed"; }
vm_expect kmod "$T/kmod.log" \
	"uloop: root filesystem on /dev/uloop0p2 (rd.uloop.partition=2)" \
	"ROOT ON /dev/uloop0p2" "PARTS uloop0: 1 2 " "SAME gpt-1 uloop0p1" \
	"LOOKUP PARTLABEL=uloop-root /dev/uloop0p2" "STATUS uloop0: /dev/uloop0p1 /dev/uloop0p2" \
	"MBR ON /dev/nbd" "PARTS mbr-nbd: 1 2 5 " "SAME mbr-1 nbd[0-9]*p1" "SAME mbr-5 nbd[0-9]*p5" \
	"LOOKUP PARTUUID=5EED1E55-05 /dev/nbd[0-9]*p5" \
	"LOOKUP-FAIL rd.uloop.partition=3: /dev/nbd[0-9]* has no partition 3 (its partitions: 1, 2, 5)" \
	"PARTS mbr-fuse: 1 2 5 " "SAME mbr-5 loop[0-9]*p5" ||
	{ tail -n 40 "$T/kmod.log"; fail "kmod: a partition check failed"; }

vm_boot nbd "$T/initrd" "" \
	"root=uloop:http://10.0.2.100/disk.img rd.uloop.transport=nbd rd.uloop.partition=PARTUUID=$uuid" ||
	{ tail -n 30 "$T/nbd.log"; fail "nbd: boot failed"; }
vm_expect nbd "$T/nbd.log" \
	"uloop: root filesystem on /dev/nbd0p2 (rd.uloop.partition=PARTUUID=$uuid)" \
	"ROOT ON /dev/nbd0p2" "PARTS nbd0: 1 2 " ||
	{ tail -n 30 "$T/nbd.log"; fail "nbd: a partition check failed"; }
echo "partitions: a GPT image's root booted from uloop0p2 and, by PARTUUID, nbd0p2; an MBR image's partitions over nbd and FUSE are the host's"
