#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# initramfs/lib/dev.sh under busybox (as in the initramfs), on real loop
# devices with GPT and MBR (with logical partitions) tables: PARTUUID= of
# every partition equals what util-linux's blkid reads, in either case;
# LABEL=, UUID= and /dev/ paths are found; a spec that does not exist is
# "not found" after its tries, a malformed one is refused.  (PARTLABEL=
# needs the kernel's own partition scan, which this host's kernel lacks:
# partx adds the partitions here; the VM boot tests cover PARTLABEL=.)
. "$(dirname "$0")/functions.sh"
requires_root
requires busybox sfdisk partx blkid losetup mkfs.ext4
bb=$T/bb
mkdir -p "$bb"
busybox --install -s "$bb"
lib=$top/initramfs/lib/dev.sh

in_bb() { PATH=$bb busybox sh -c ". '$lib'; $1"; }

attach() {	# attach IMAGE VAR: VAR=the loop device, with its partitions
	_l=$(losetup -f --show "$1") || fail "losetup $1"
	on_exit "partx -d $_l 2>/dev/null; losetup -d $_l"
	partx -a "$_l" || fail "partx -a $_l"
	eval "$2=\$_l"
}

truncate -s 64M "$T/gpt.img"
sfdisk -q "$T/gpt.img" <<'S'
label: gpt
size=8M, name="uloop-cache"
size=8M, name="overlay"
size=8M
S
attach "$T/gpt.img" gpt
mkfs.ext4 -q -L ulotest "${gpt}p2"

truncate -s 64M "$T/mbr.img"
sfdisk -q "$T/mbr.img" <<'S'
label: dos
label-id: 0xdeadbeef
size=8M, type=83
size=8M, type=83
type=5
size=8M, type=83
size=8M, type=83
S
attach "$T/mbr.img" mbr

n=0
for p in "${gpt}p1" "${gpt}p2" "${gpt}p3" "${mbr}p1" "${mbr}p2" "${mbr}p5" "${mbr}p6"; do
	[ -b "$p" ] || fail "$p: no such partition (loop partition scan)"
	want=$(blkid -p -s PART_ENTRY_UUID -o value "$p")
	[ -n "$want" ] || fail "$p: blkid gives no PARTUUID"
	got=$(in_bb "dev_partuuid ${p#/dev/}")
	[ "$got" = "$want" ] || fail "$p: PARTUUID '$got', blkid says '$want'"
	found=$(in_bb "dev_find PARTUUID=$(echo "$want" | tr a-f A-F) 1")
	[ "$found" = "$p" ] || fail "PARTUUID=$want (upper case): found '$found', not $p"
	n=$((n + 1))
done
[ "$(in_bb 'dev_find LABEL=ulotest 1')" = "${gpt}p2" ] || fail "LABEL=ulotest not found"
uuid=$(blkid -s UUID -o value "${gpt}p2")
[ "$(in_bb "dev_find UUID=$uuid 1")" = "${gpt}p2" ] || fail "UUID=$uuid not found"
[ "$(in_bb "dev_find ${gpt}p3 1")" = "${gpt}p3" ] || fail "${gpt}p3 not found by path"
rc=0; in_bb 'dev_find PARTUUID=00000000-0000-0000-0000-000000000000 2' || rc=$?
[ $rc -eq 1 ] || fail "a PARTUUID that is not there should be 'not found' (1)"
rc=0; in_bb 'dev_find BOGUS=x 1' || rc=$?
[ $rc -eq 2 ] || fail "a malformed spec should be refused (2)"
rc=0; in_bb 'dev_find PARTUUID= 1' || rc=$?
[ $rc -eq 2 ] || fail "an empty PARTUUID= should be refused (2)"
echo "dev.sh: $n partitions' PARTUUIDs equal blkid's (GPT, MBR with logical); labels, uuids, paths found"

# Filesystem types by magic (busybox has no blkid): what dev_mount names.
requires mkfs.vfat
mkfs.ext4 -q -F "$T/fs.ext4" 8M && [ "$(in_bb "dev_fstype $T/fs.ext4")" = ext4 ] || fail "ext4 not recognised"
truncate -s 8M "$T/fs.vfat" && mkfs.vfat "$T/fs.vfat" >/dev/null && [ "$(in_bb "dev_fstype $T/fs.vfat")" = vfat ] || fail "vfat not recognised"
truncate -s 8M "$T/fs.none" && [ -z "$(in_bb "dev_fstype $T/fs.none")" ] || fail "zeros recognised as a filesystem"
echo "dev.sh: ext4 and vfat recognised by magic, zeros by nothing"
