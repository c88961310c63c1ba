#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# rd.uloop.partition in the boot library (initramfs/lib/boot.sh's
# uloop_root_partition), under dash and busybox ash with busybox's tools,
# on the host: whole-disk images (GPT; MBR with a logical partition) on
# real loop devices whose partitions are real kernel partitions (partx
# adds them: this host's kernel parses no tables itself; the guest's
# parsers are tests/vm/test-vm-partition.sh's).  Checked: partition N
# and a PARTUUID (GPT, in upper case; MBR SSSSSSSS-NN of a logical
# partition) name the right node, and the root mounts from it; a number
# or PARTUUID the image lacks, and an image with no table, end in one
# line naming the device and the partitions it has; a /dev without the
# partition's node gets it from sysfs (mknod).
. "$(dirname "$0")/functions.sh"
requires_root
requires dash busybox unshare sfdisk partx losetup mksquashfs
bb=$T/bb
mkdir -p "$bb"
busybox --install -s "$bb"

# The root filesystem, in partition 2 of the GPT image and 5 of the MBR.
mkdir -p "$T/tree/etc"
echo "the root in a partition" >"$T/tree/etc/hello"
mksquashfs "$T/tree" "$T/root.sq" -quiet -noappend -all-root >/dev/null
sq_sectors=$(( ($(fsize "$T/root.sq") + 511) / 512 ))
uuid=0A1B2C3D-4E5F-4061-8293-A4B5C6D7E8F9
truncate -s 8M "$T/gpt.img"
printf 'label: gpt\nstart=2048, size=2048, name=esp\nstart=4096, size=%s, name=uloop-root, uuid=%s\n' \
	$((sq_sectors + 8)) "$uuid" | sfdisk -q "$T/gpt.img"
dd if="$T/root.sq" of="$T/gpt.img" bs=512 seek=4096 conv=notrunc status=none
truncate -s 8M "$T/mbr.img"
printf 'label: dos\nlabel-id: 0x5eed1e55\nstart=2048, size=2048, type=83\nstart=4096, size=12000, type=5\nstart=6144, size=%s, type=83\n' \
	$((sq_sectors + 8)) | sfdisk -q "$T/mbr.img"
dd if="$T/root.sq" of="$T/mbr.img" bs=512 seek=6144 conv=notrunc status=none

# attach VAR IMAGE: VAR is a loop device of IMAGE with its partitions,
# removed at exit (not in a $(...): its on_exit would be the subshell's).
attach() {
	_l=$(losetup -f --show -r "$2")
	on_exit "partx -d $_l 2>/dev/null; losetup -d $_l"
	partx -a "$_l" 2>/dev/null || true
	eval "$1=\$_l"
}
attach gpt "$T/gpt.img"
attach mbr "$T/mbr.img"
attach bare "$T/root.sq"
[ -b "${gpt}p2" ] && [ -b "${mbr}p5" ] || fail "partx made no ${gpt}p2 or ${mbr}p5"

# part SH DEV PARTITION [DEV_DIR]: uloop_root_partition's lines, and the
# device it chose ("dev: X").
part() {
	_path=$PATH
	case $1 in */bb/sh) _path=$bb ;; esac
	PATH=$_path "$1" -c '
		. "$1/initramfs/lib/dev.sh"; . "$1/initramfs/lib/cmdline.sh"; . "$1/initramfs/lib/boot.sh"
		[ -z "$4" ] || DEV_DIR=$4
		uloop_say() { echo "say: $*"; }
		uloop_fail() { echo "fail: $*"; }
		ULOOP_RDEV=$2 ULOOP_PARTITION=$3
		uloop_root_partition && echo "dev: $ULOOP_FSDEV"' sh "$top" "$2" "$3" "${4:-}"
}
# check SH DEV PARTITION WANT [DEV_DIR]: WANT is the last line.
check() {
	got=$(part "$1" "$2" "$3" "${5:-}" | tail -n 1)
	[ "$got" = "$4" ] || fail "$1: $2 rd.uloop.partition=$3: got [$got], want [$4]"
}

sig=5eed1e55
for sh in dash "$bb/sh"; do
	check "$sh" "$gpt" 2 "dev: ${gpt}p2"
	check "$sh" "$gpt" 1 "dev: ${gpt}p1"
	check "$sh" "$gpt" "PARTUUID=$uuid" "dev: ${gpt}p2"
	check "$sh" "$mbr" 5 "dev: ${mbr}p5"
	check "$sh" "$mbr" "PARTUUID=$sig-05" "dev: ${mbr}p5"
	check "$sh" "$mbr" "PARTUUID=$sig-01" "dev: ${mbr}p1"
	check "$sh" "$gpt" 3 "fail: rd.uloop.partition=3: $gpt has no partition 3 (its partitions: 1, 2)"
	check "$sh" "$mbr" 4 "fail: rd.uloop.partition=4: $mbr has no partition 4 (its partitions: 1, 2, 5)"
	lc=$(echo "$uuid" | tr A-F a-f)
	p1=$(sfdisk --part-uuid "$T/gpt.img" 1 | tr A-F a-f)
	check "$sh" "$gpt" PARTUUID=00000000-0000-0000-0000-000000000000 \
		"fail: rd.uloop.partition=PARTUUID=00000000-0000-0000-0000-000000000000: no partition of $gpt has it (its partitions: PARTUUID=$p1, PARTUUID=$lc)"
	check "$sh" "$bare" 1 "fail: rd.uloop.partition=1: $bare has no partition 1 (it has no partition table the kernel reads: GPT or MBR)"
	# No node for the partition in DEV_DIR (a /dev that is no devtmpfs):
	# made from sysfs, with the partition's own numbers.
	rm -rf "$T/dev"
	mkdir -p "$T/dev"
	mm=$(cat "/sys/class/block/${gpt#/dev/}/dev")
	mknod "$T/dev/${gpt#/dev/}" b "${mm%%:*}" "${mm#*:}"
	check "$sh" "$gpt" "PARTUUID=$uuid" "dev: $T/dev/${gpt#/dev/}p2" "$T/dev"
	[ "$(stat -c %t:%T "$T/dev/${gpt#/dev/}p2")" = "$(stat -c %t:%T "${gpt}p2")" ] ||
		fail "$sh: the node made for ${gpt#/dev/}p2 has other numbers than ${gpt}p2"
	echo "boot.sh under $sh: partition N and PARTUUID (GPT, MBR logical) found, missing ones named with what the image has, a missing node made"
done

# The step the flavours run: the root filesystem mounts from the
# partition (a mount namespace of its own, /run a tmpfs in it).
printf '%s\n' "root=uloop:http://h/disk.img rd.uloop.partition=PARTUUID=$uuid" >"$T/cmdline"
out=$(unshare -m sh -c '
	mount -t tmpfs tmpfs /run
	. "$1/initramfs/lib/dev.sh"; . "$1/initramfs/lib/cmdline.sh"; . "$1/initramfs/lib/boot.sh"
	uloop_say() { echo "say: $*"; }
	uloop_fail() { echo "fail: $*"; }
	uloop_parse "$2"
	ULOOP_RDEV=$3
	uloop_root_partition && uloop_mount_image && cat /run/uloop/lower/etc/hello' sh "$top" "$T/cmdline" "$gpt")
[ "$out" = "say: root filesystem on ${gpt}p2 (rd.uloop.partition=PARTUUID=$uuid)
the root in a partition" ] || fail "uloop_mount_image with rd.uloop.partition: [$out]"
echo "the root filesystem mounted from ${gpt}p2, found by its PARTUUID"
