# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# dev.sh - find a block device by LABEL=, UUID=, PARTUUID=, PARTLABEL= or
# path, as the kernel's root= and util-linux's blkid name them.
#
# LABEL= and UUID= (of a filesystem) come from busybox's findfs.  The kernel
# publishes a partition's name (PARTNAME in its uevent) but not its uuid,
# and busybox has no PARTUUID, so that is read from the partition table: in
# a GPT, the entry's unique partition GUID (stored mixed-endian); on an MBR
# disk, the disk signature and the partition number, "SSSSSSSS-NN".
#
# dev_mount DEV DIR: mount a filesystem of any type the kernel can load.
#
# dev_find SPEC [TRIES]: prints /dev/NAME; waits (half a second a try, 20
# tries by default) for devices that come late (USB, some HBAs).  Returns
# 1 if not found, 2 if SPEC is not one of the forms.
# DEV_SYS and DEV_DIR (default /sys, /dev) are for tests.

DEV_SYS=${DEV_SYS:-/sys}
DEV_DIR=${DEV_DIR:-/dev}

# $3 bytes at offset $2 of file $1, as a little-endian number.
dev_le() {
	dd if="$1" bs=512 skip=$(($2 / 512)) count=2 2>/dev/null |
		od -A n -t u1 -j $(($2 % 512)) -N "$3" |
		awk '{ for (i = 1; i <= NF; i++) b[n++] = $i }
			END { v = 0; for (i = n - 1; i >= 0; i--) v = v * 256 + b[i]; printf "%.0f\n", v }'
}

# $3 bytes at offset $2 of file $1, as lowercase hex pairs, one per line.
dev_hex() {
	dd if="$1" bs=512 skip=$(($2 / 512)) count=2 2>/dev/null |
		od -A n -t x1 -j $(($2 % 512)) -N "$3" | tr -s ' \n' '\n' | sed '/^$/d'
}

# The PARTUUID of partition $1 (its name under /sys/class/block).
dev_partuuid() {
	[ -r "$DEV_SYS/class/block/$1/partition" ] || return 1
	num=$(cat "$DEV_SYS/class/block/$1/partition")
	disk=$(basename "$(dirname "$(readlink -f "$DEV_SYS/class/block/$1")")")
	[ -b "$DEV_DIR/$disk" ] || return 1
	ss=$(cat "$DEV_SYS/class/block/$disk/queue/logical_block_size" 2>/dev/null || echo 512)
	if [ "$(dd if="$DEV_DIR/$disk" bs="$ss" skip=1 count=1 2>/dev/null | head -c 8)" = "EFI PART" ]; then
		lba=$(dev_le "$DEV_DIR/$disk" $((ss + 72)) 8)
		count=$(dev_le "$DEV_DIR/$disk" $((ss + 80)) 4)
		esize=$(dev_le "$DEV_DIR/$disk" $((ss + 84)) 4)
		[ "$num" -le "$count" ] && [ "$esize" -ge 128 ] || return 1
		dev_hex "$DEV_DIR/$disk" $((lba * ss + (num - 1) * esize + 16)) 16 |
			awk '{ b[n++] = $1 }
				END { printf "%s%s%s%s-%s%s-%s%s-%s%s-%s%s%s%s%s%s\n",
					b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6],
					b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15] }'
	else
		[ "$(dev_hex "$DEV_DIR/$disk" 510 2 | tr -d '\n')" = 55aa ] || return 1
		printf '%08x-%02x\n' "$(dev_le "$DEV_DIR/$disk" 440 4)" "$num"
	fi
}

# One look for SPEC; prints the device or nothing.
dev_lookup() {
	case $1 in
	LABEL=*|UUID=*) findfs "$1" 2>/dev/null ;;
	PARTLABEL=*)
		for u in "$DEV_SYS"/class/block/*/uevent; do
			# A name, not a pattern: fixed-string, whole line.
			grep -qxF -e "PARTNAME=${1#PARTLABEL=}" "$u" 2>/dev/null &&
				echo "$DEV_DIR/$(basename "$(dirname "$u")")" && return
		done ;;
	PARTUUID=*)
		want=$(echo "${1#PARTUUID=}" | tr 'A-F' 'a-f')
		for p in "$DEV_SYS"/class/block/*; do
			[ -e "$p/partition" ] || continue
			[ "$(dev_partuuid "${p##*/}")" = "$want" ] && echo "$DEV_DIR/${p##*/}" && return
		done ;;
	/dev/*) [ -b "$DEV_DIR/${1#/dev/}" ] && echo "$DEV_DIR/${1#/dev/}" ;;
	esac
}

dev_find() {
	case $1 in
	LABEL=?*|UUID=?*|PARTLABEL=?*|PARTUUID=?*|/dev/?*) ;;
	*) return 2 ;;
	esac
	tries=${2:-20}
	while :; do
		d=$(dev_lookup "$1")
		[ -n "$d" ] && { echo "$d"; return 0; }
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.5
	done
}

# The filesystem on $1, from its superblock magic (busybox has no blkid).
dev_fstype() {
	if [ "$(dev_hex "$1" 1080 2 | tr -d '\n')" = 53ef ]; then echo ext4
	elif [ "$(dev_hex "$1" 0 4 | tr -d '\n')" = 58465342 ]; then echo xfs
	elif [ "$(dev_hex "$1" 1024 4 | tr -d '\n')" = 1020f5f2 ]; then echo f2fs
	elif [ "$(dd if="$1" bs=4096 skip=16 count=1 2>/dev/null | dd bs=1 skip=64 count=8 2>/dev/null)" = _BHRfS_M ]; then echo btrfs
	elif [ "$(dev_hex "$1" 510 2 | tr -d '\n')" = 55aa ] &&
		dd if="$1" bs=512 count=1 2>/dev/null | grep -q -e FAT12 -e FAT16 -e FAT32; then echo vfat
	fi
}

# Filesystem modules load when a mount names the type (fs-ext4...); a mount
# without one only tries what is loaded.  So: the type from its magic, then
# mount.  Prints mount's error on failure.
dev_mount() {
	t=$(dev_fstype "$1")
	if [ -n "$t" ]; then
		mount -t "$t" "$1" "$2" 2>&1
	else
		mount "$1" "$2" 2>&1
	fi
}
