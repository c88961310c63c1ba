#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2
# A device that holds someone's data is never formatted as a cache
# without --wipe, wherever its signature lives: btrfs keeps its superblock
# at 64 KiB (its first 64 KiB are zero), a GPT, swap, ext4, vfat, LUKS,
# an LVM physical volume, a bcache device and an unknown boot sector in
# the head.  Each is refused with the cause named, and the
# device is byte for byte unchanged; --wipe and a zeroed device are taken.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3 losetup unshare mkfs.btrfs mkswap mkfs.ext4 mkfs.vfat sfdisk

size=$((4 * 1024 * 1024))
make_image "$T/img" $size
flash_mib=128	# mkfs.btrfs wants more than 100 MiB

new_flash() {	# new_flash: a zeroed loop device in $dev
	rm -f "$T/flash"
	truncate -s ${flash_mib}M "$T/flash"
	dev=$(losetup -f --show "$T/flash") || { echo "requires loop devices"; exit 77; }
	on_exit "losetup -d $dev 2>/dev/null || true"
}

# mkfs.btrfs gives up ("cannot check mount status ...: Transport
# endpoint is not connected") when a mount's source is a loop device
# whose file it cannot stat, such as one on a FUSE mount whose daemon
# died: a job's leftover on a shared host, nothing of this test.  It
# runs in a mount namespace of its own with such mounts detached.
mkfs_btrfs() {
	unshare -m --propagation private sh -c '
	unreachable() {	# unreachable PATH: stat fails, and not for want of it
		e=$(stat -- "$1" 2>&1 >/dev/null) && return 1
		case $e in *"No such file"*) return 1 ;; esac
	}
	while read -r src dir _; do
		case $src in /*) ;; *) continue ;; esac
		f=/sys/class/block/${src##*/}/loop/backing_file
		if unreachable "$src" || { [ -b "$src" ] && [ -r "$f" ] &&
		    unreachable "$(cat "$f")"; }; then
			dir=$(printf "%b" "$dir")	# a space is \040 in the table
			echo "note: $dir ($src) left out of the view of mkfs.btrfs: $e" >&2
			umount -l "$dir"
		fi
	done </proc/self/mounts
	exec mkfs.btrfs "$@"' mkfs_btrfs "$@"
}

refused() {	# refused WHAT: hydrate must refuse $dev naming WHAT, change nothing
	sha=$(sha256sum <"$dev")
	expect_fail 1 "holds other data ($1" $ULOOP hydrate "$T/img" --cache "$dev" --no-progress
	[ "$(sha256sum <"$dev")" = "$sha" ] || fail "$1: the device was written to"
	losetup -d "$dev"
}

new_flash
mkfs_btrfs -q -f "$dev" >/dev/null
# The old check looked at the first 64 KiB only: show they are blank.
[ "$(head -c 65536 "$dev" | tr -d '\0' | wc -c)" -eq 0 ] ||
	echo "note: this mkfs.btrfs wrote into the first 64 KiB"
refused "btrfs signature at offset 65600"

new_flash
mkswap -q "$dev" >/dev/null 2>&1 || mkswap "$dev" >/dev/null
refused "swap"

new_flash
mkfs.ext4 -q -F "$dev"
refused "ext4"

new_flash
mkfs.vfat "$dev" >/dev/null
refused "vfat"

# A partition table (its protective MBR in the head, the GPT beyond).
new_flash
echo 'label: gpt
size=8M, type=linux' | sfdisk -q --no-reread "$dev" >/dev/null 2>&1
refused "gpt"

if command -v cryptsetup >/dev/null; then
	new_flash
	echo secret | cryptsetup luksFormat -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--type luks2 "$dev" - >/dev/null
	refused "crypto_LUKS"
else
	echo "note: no cryptsetup, LUKS not tried"
fi

# Signatures of tools this machine may not have, written by hand as
# their tools lay them out (libblkid judges them; their checksums are
# left wrong on purpose: a damaged LVM label is still someone's PV).
new_flash
python3 -c 'import struct, sys
f = open(sys.argv[1], "r+b"); f.seek(512)
f.write(b"LABELONE" + struct.pack("<QII", 1, 0, 32) + b"LVM2 001" + b"A" * 32)' "$dev"
refused "LVM2_member signature at offset 536"
new_flash
python3 -c 'import struct, sys
f = open(sys.argv[1], "r+b"); f.seek(4096)
f.write(struct.pack("<QQQ", 0, 8, 0) + bytes.fromhex("c68573f64e1a45ca8265f57f48ba6d81"))' "$dev"
refused "bcache signature at offset 4120"

# No signature anyone knows, but the head is not blank (a boot loader).
new_flash
head -c 446 /dev/urandom | dd of="$dev" conv=notrunc status=none
refused "non-zero data in its first 64 KiB"

# --wipe takes a btrfs device; a zeroed one needs nothing.
new_flash
mkfs_btrfs -q -f "$dev" >/dev/null
$ULOOP hydrate "$T/img" --cache "$dev" --wipe --no-progress >/dev/null
$ULOOP check "$dev" --source "$T/img"
losetup -d "$dev"
new_flash
$ULOOP hydrate "$T/img" --cache "$dev" --no-progress >/dev/null
$ULOOP check "$dev" --source "$T/img"
# And once it is a uloop cache, it is used again without --wipe.
$ULOOP hydrate "$T/img" --cache "$dev" --no-progress >/dev/null

# The 2007 layout keeps the image in a file: a device is refused.
losetup -d "$dev"
new_flash
expect_fail 1 "the 2007 layout (--bitmap) keeps the image in a regular file" \
	$ULOOP hydrate "$T/img" --cache "$dev" --bitmap "$T/bm" --no-progress
echo "signatures: all refused"
