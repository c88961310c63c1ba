#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R4
# The real User-Mode Linux tools on their own (Debian's uml-utilities and
# user-mode-linux): the baseline uloop's UML COW support is held to.
# uml_mkcow makes a V3 COW file over a 16 MiB image; UML (linux.uml, run
# here as a process) writes known sectors through it, the image stays as
# it was, and uml_moo merges the COW (to a new file, and in place with
# -d) into exactly the image plus the writes, computed here.  The same
# COW recast as V1 and V2 reads the same in UML and merges the same with
# uml_moo, and UML writes those too.  A backing file whose mtime or size
# no longer matches the header is refused by both, with the message
# checked here.  The UML part skips (77) where linux.uml cannot boot; the
# header and uml_moo checks before it run anyway.
#
# What these tools do on disk (seen with them, the write order with
# strace; cow_user.c and ubd_kern.c of the 6.1 kernel say the same), for
# uloop to copy:
# - uml_mkcow writes V3, big-endian, packed, 4128 bytes:
#     00000000: 4f4f 4f4d 0000 0003 6553 f100 0000 0000  magic, version 3,
#     00000010: 0100 0000 0000 0200 0000 1000 0000 0000  u32 mtime, u64
#     00000020: 2f74 6d70 2f2e 2e2e 2f62 6163 6b2e 696d  size, sectorsize
#   512, alignment 4096, cow_format 0, then path[4096]: the backing
#   file's absolute path (made absolute from the cwd), NUL-padded.  The
#   mtime is the backing file's, in whole seconds (u32).  Bitmap at
#   round_up(4128, 4096) = 8192, one bit a sector, bit n in byte n/8 at
#   1 << (n % 8); 4096 bytes for 16 MiB; data at round_up(8192 + 4096,
#   4096) = 12288, sector n at 12288 + 512 n; file size 12288 + 16 MiB,
#   sparse (only the header is allocated).
# - UML makes the same file when ubdN=COW,BACKING names a COW that does
#   not exist, except that the path field after its NUL is not zeroed
#   (junk from UML's allocator): a reader must stop at the first NUL.
# - UML writes a sector's data (pwrite at the data offset) and then the
#   bitmap: 16 bytes (two host-endian longs, the 128 bits around the
#   sector, from its in-memory copy of the bitmap) at bitmap offset +
#   8 * (sector / 64), one step back at the last word of the bitmap.  No
#   fsync between them; a FLUSH from the guest fsyncs the COW file only.
#   It never writes the backing file, nor rewrites a V1/V2 header.
# - A bit per 512-byte sector: with the guest's buffer size at 512 a
#   one-sector write sets one bit (at the default 4096, whole pages).
# - V1 (host-endian, 280 bytes, bitmap at 280) and V2 (big-endian, 4120
#   bytes, bitmap at 4120, unaligned) work in both UML and uml_moo; their
#   data start at the bitmap's end rounded up to a sector (4608 and
#   8704 for 16 MiB).
# - The check against the backing file: size first, then mtime, both from
#   stat(), in whole seconds (an mtime half a second off is accepted).  UML
#   prints "Size mismatch (HEADER vs FILE) of COW header vs backing file"
#   or "mtime mismatch (HEADER vs FILE) of COW header vs backing file" and
#   the device fails to open (EINVAL); uml_moo says the same with the
#   path in quotes after it and exits 1, writing nothing.
# - A bug of UML's own (Debian's 6.1 UML, ubd_kern.c do_io): a request
#   of several pages in which a page mixes COW and backing sectors reads
#   the pages after it from the wrong place (req->offset advances by the
#   length of the page's last run of sectors, not by the page), e.g.
#   sectors 8-31 return the bytes of 7-30 after a write of sector 0 alone
#   (UML's default read, with readahead, of the disk below).  Requests
#   of one page read right, and writes are not hit (a write's sectors all
#   go to the COW).  So the reads below go one page a request, and a COW
#   that UML is to read should get its bits a whole page at a time.
# - uml_moo -d (in place) takes -b only after -d: `uml_moo -b F -d COW`
#   opens "-d" as the COW file, though its usage shows that order.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/uml-functions.sh"
requires uml_mkcow uml_moo od truncate md5sum
MiB=1048576
size=$((16 * MiB))
mtime=1700000000

make_image "$T/back.img" "$size"
touch -d "@$mtime" "$T/back.img"
cp -p "$T/back.img" "$T/back.orig"
make_image "$T/pat.bin" "$MiB"

# The guest's writes, "PAT:SECTOR:COUNT" (sectors of 512 bytes of
# pat.bin to the disk): one sector at 0; 3 inside one page; 5 across a
# 64-bit bitmap word; a 64 KiB run; the last sector (UML's step back at
# the end of the bitmap); sector 25 again (the last write wins).
writes="0:0:1 1:25:3 4:62:5 128:2048:128 300:32767:1 9:25:1"
cp "$T/back.orig" "$T/exp.img"
for w in $writes; do
	IFS=: read -r p s n <<EOF
$w
EOF
	dd if="$T/pat.bin" of="$T/exp.img" bs=512 skip="$p" seek="$s" count="$n" \
		conv=notrunc status=none
done
# The bitmap those writes leave: bytes 0, 3, 7-8, 256-271, 4095.
head -c 4096 /dev/zero >"$T/exp.bitmap"
setbyte() {
	# shellcheck disable=SC2059
	printf "\\$(printf %o "$2")" |
		dd of="$T/exp.bitmap" bs=1 seek="$1" conv=notrunc status=none
}
setbyte 0 1          # sector 0
setbyte 3 14         # sectors 25-27: bits 1-3
setbyte 7 192        # sectors 62-63
setbyte 8 7          # sectors 64-66
i=256
while [ "$i" -lt 272 ]; do setbyte "$i" 255; i=$((i + 1)); done # 2048-2175
setbyte 4095 128     # sector 32767

# uml_mkcow's header, field by field (see above).
(cd "$T" && uml_mkcow mk.cow back.img) || fail "uml_mkcow failed"
abs=$(cd "$T" && pwd -P)/back.img
[ "$(uml_be "$T/mk.cow" 0 4)" = $((0x4f4f4f4d)) ] || fail "magic: $(uml_be "$T/mk.cow" 0 4)"
[ "$(uml_be "$T/mk.cow" 4 4)" = 3 ] || fail "version: $(uml_be "$T/mk.cow" 4 4), not 3"
[ "$(uml_be "$T/mk.cow" 8 4)" = "$mtime" ] || fail "mtime: $(uml_be "$T/mk.cow" 8 4), not $mtime"
[ "$(uml_be "$T/mk.cow" 12 8)" = "$size" ] || fail "size: $(uml_be "$T/mk.cow" 12 8), not $size"
[ "$(uml_be "$T/mk.cow" 20 4)" = 512 ] || fail "sectorsize: $(uml_be "$T/mk.cow" 20 4)"
[ "$(uml_be "$T/mk.cow" 24 4)" = 4096 ] || fail "alignment: $(uml_be "$T/mk.cow" 24 4)"
[ "$(uml_be "$T/mk.cow" 28 4)" = 0 ] || fail "cow_format: $(uml_be "$T/mk.cow" 28 4)"
[ "$(uml_cow_backing "$T/mk.cow")" = "$abs" ] ||
	fail "backing path: '$(uml_cow_backing "$T/mk.cow")', not '$abs'"
[ "$(fsize "$T/mk.cow")" -eq $((12288 + size)) ] ||
	fail "uml_mkcow made $(fsize "$T/mk.cow") bytes, not 12288 + $size"
cmp -s -i $((32 + ${#abs})):0 -n $((12288 + size - 32 - ${#abs})) "$T/mk.cow" /dev/zero ||
	fail "uml_mkcow's file is not all zeros after the path"
head -c 4128 "$T/mk.cow" >"$T/mk.header"
uml_moo "$T/mk.cow" "$T/empty.img" >/dev/null || fail "uml_moo of a fresh COW failed"
cmp -s "$T/empty.img" "$T/back.orig" || fail "uml_moo of a fresh COW is not the image"
echo "uml_mkcow: V3 big-endian, sectors 512, alignment 4096, bitmap 8192, data 12288"

# uml_moo refuses a backing file that changed: mtime (a), size (b); a
# fraction of a second is no change (c).  These COWs go to UML below.
for x in a b c; do
	make_image "$T/$x.img" "$MiB"
	touch -d "@$mtime" "$T/$x.img"
	uml_mkcow "$T/$x.cow" "$T/$x.img" || fail "uml_mkcow $x failed"
done
touch -d @1600000000 "$T/a.img"
truncate -s $((MiB + 4096)) "$T/b.img"
touch -d "@$mtime" "$T/b.img"
touch -d "@$mtime.5" "$T/c.img"
moo_refuses() {
	_rc=0
	uml_moo "$T/$1.cow" "$T/$1-merged.img" >"$T/out" 2>"$T/err" || _rc=$?
	[ "$_rc" -eq 1 ] || fail "uml_moo $1.cow exited $_rc: $(cat "$T/out" "$T/err")"
	grep -qxF "$2 \"$T/$1.img\"" "$T/err" ||
		fail "uml_moo $1.cow said '$(cat "$T/err")', not '$2 \"$T/$1.img\"'"
	[ ! -e "$T/$1-merged.img" ] || fail "uml_moo $1.cow refused but wrote $1-merged.img"
}
moo_refuses a "mtime mismatch ($mtime vs 1600000000) of COW header vs backing file"
moo_refuses b "Size mismatch ($MiB vs $((MiB + 4096))) of COW header vs backing file"
uml_moo "$T/c.cow" "$T/c-merged.img" >/dev/null || fail "uml_moo refused an mtime off by 0.5 s"
cmp -s "$T/c-merged.img" "$T/c.img" || fail "uml_moo c.cow is not c.img"
echo "uml_moo: refuses a backing file with another mtime or size, seconds only"

uml_available || exit 77
uml_rootfs "$T/root.img"

# onepage DISK (in the guest): DISK's md5 as UML reads it one page a
# request: no readahead, requests of 4 KiB, its page cache dropped
# first (the device held open meanwhile, so nothing else drops it).
cat >"$T/onepage.sh" <<'EOF'
onepage() {
	exec 3<"/dev/$1"
	echo 0 >"/sys/block/$1/queue/read_ahead_kb"
	echo 4 >"/sys/block/$1/queue/max_sectors_kb"
	blockdev --flushbufs "/dev/$1"
	echo "$(dd if="/dev/$1" bs=4096 2>/dev/null | md5sum | cut -d' ' -f1)  /dev/$1"
	exec 3<&-
}
EOF

# Boot 1: the writes, through mk.cow and through uml.cow (UML makes it).
# The guest holds each disk open with a buffer size of 512, so every
# 512-byte write reaches UML as one sector (at the default 4096 the page
# cache writes whole pages).  Then it reads both disks back, its cache
# dropped: UML's read of a COW (sectors from both files in one page),
# one page a request: see the do_io bug above.  The default read (with
# readahead: requests of up to 64 sectors) is only reported.
{
	echo "set -e"
	for d in c d; do
		echo "exec 3</dev/ubd$d"
		echo "blockdev --setbsz 512 /dev/ubd$d"
		for w in $writes; do
			IFS=: read -r p s n <<EOF
$w
EOF
			echo "dd if=/dev/ubde of=/dev/ubd$d bs=512 skip=$p seek=$s count=$n conv=notrunc 2>/dev/null"
		done
		echo "sync"
		echo "exec 3<&-"
	done
	echo "exec 3</dev/ubdc"
	echo "blockdev --flushbufs /dev/ubdc"
	echo "echo \"\$(md5sum </dev/ubdc | cut -d' ' -f1)  multi-page\""
	echo "exec 3<&-"
	cat "$T/onepage.sh"
	echo "onepage ubdc"
	echo "onepage ubdd"
} >"$T/boot1.sh"
uml_run "$T/root.img" "$T/boot1.sh" "$T/mk.cow,$T/back.img" "$T/uml.cow,$T/back.img" \
	"r=$T/pat.bin" >"$T/boot1.out" || fail "boot 1: $(cat "$T/boot1.out")"
exp=$(md5sum <"$T/exp.img" | cut -d' ' -f1)
for d in c d; do
	grep -qx "$exp  /dev/ubd$d" "$T/boot1.out" ||
		fail "UML reads /dev/ubd$d as $(grep "ubd$d" "$T/boot1.out"), not the image plus the writes ($exp)"
done
if grep -qx "$exp  multi-page" "$T/boot1.out"; then
	echo "UML: multi-page reads of pages half in the COW are right (its do_io offset bug is fixed)"
else
	echo "UML: multi-page reads of pages half in the COW are wrong (its do_io offset bug, see above)"
fi
cmp -s "$T/back.img" "$T/back.orig" || fail "UML wrote the backing file"
[ "$(stat -c %Y "$T/back.img")" = "$mtime" ] || fail "the backing file's mtime changed"
cmp -s -n 4128 "$T/mk.header" "$T/mk.cow" || fail "UML rewrote mk.cow's header"
dd if="$T/mk.cow" bs=4096 skip=2 count=1 status=none | cmp -s - "$T/exp.bitmap" ||
	fail "mk.cow's bitmap after UML's writes: $(od -Ax -tx1 -j8192 -N4096 "$T/mk.cow" | grep -v ' 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00$')"
for s in 0 25 62 2175 32767; do
	cmp -s -i $((12288 + 512 * s)):$((512 * s)) -n 512 "$T/mk.cow" "$T/exp.img" ||
		fail "sector $s is not at 12288 + 512 * $s of mk.cow"
done
echo "UML wrote 6 runs through uml_mkcow's COW: sector bits, data at 12288 + 512 n, the image untouched"
# UML's own COW file: the same header fields and path, the same bitmap
# and data after the same writes; the rest of its path field is junk.
cmp -s -n $((32 + ${#abs} + 1)) "$T/uml.cow" "$T/mk.cow" ||
	fail "the COW UML made has another header: $(od -Ax -tx1 -N64 "$T/uml.cow")"
cmp -s -i 4128 "$T/uml.cow" "$T/mk.cow" ||
	fail "the COW UML made differs from uml_mkcow's after the same writes"
echo "UML made the COW uml_mkcow makes (its path field after the NUL is not zeroed)"

uml_moo "$T/mk.cow" "$T/merged.img" >/dev/null || fail "uml_moo failed"
cmp "$T/merged.img" "$T/exp.img" || fail "uml_moo's merge is not the image plus the writes"
cp -p "$T/back.orig" "$T/inplace.img"
cp "$T/mk.cow" "$T/inplace.cow"
uml_moo -d -b "$T/inplace.img" "$T/inplace.cow" >/dev/null || fail "uml_moo -d -b failed"
cmp "$T/inplace.img" "$T/exp.img" || fail "uml_moo -d's merge is not the image plus the writes"
echo "uml_moo: the merge, to a new file and in place, is the image plus the writes"

# The same COW as V1 and V2: uml_moo merges them into the same bytes.
for v in 1 2; do
	uml_cow_recast "$T/mk.cow" "$v" "$T/v$v.cow"
	uml_moo "$T/v$v.cow" "$T/v$v-merged.img" >/dev/null || fail "uml_moo of V$v failed"
	cmp "$T/v$v-merged.img" "$T/exp.img" || fail "uml_moo's merge of V$v is not the image plus the writes"
done
head -c 280 "$T/v1.cow" >"$T/v1.header"
head -c 4120 "$T/v2.cow" >"$T/v2.header"
echo "uml_moo: V1 and V2 merge into the same bytes"

# Boot 2: UML reads V3, V1, V2 (a fresh boot, nothing cached) and writes
# sector 5000 of V1 and V2; it refuses a.cow and b.cow; c.cow is fine.
cp "$T/onepage.sh" "$T/boot2.sh"
cat >>"$T/boot2.sh" <<'EOF'
for d in c d e h; do onepage ubd$d; done
for d in d e; do
	exec 3</dev/ubd$d
	blockdev --setbsz 512 /dev/ubd$d
	dd if=/dev/ubdc of=/dev/ubd$d bs=512 seek=5000 count=1 conv=notrunc 2>/dev/null
	sync
	exec 3<&-
done
for d in f g; do
	if dd if=/dev/ubd$d of=/dev/null bs=512 count=1 2>/dev/null; then
		echo "ubd$d: opened"
	else
		echo "ubd$d: refused"
	fi
done
EOF
uml_run "$T/root.img" "$T/boot2.sh" "$T/mk.cow,$T/back.img" "$T/v1.cow,$T/back.img" \
	"$T/v2.cow,$T/back.img" "$T/a.cow,$T/a.img" "$T/b.cow,$T/b.img" "$T/c.cow,$T/c.img" \
	>"$T/boot2.out" || fail "boot 2: $(cat "$T/boot2.out")"
for d in c d e; do
	grep -qx "$exp  /dev/ubd$d" "$T/boot2.out" ||
		fail "UML reads /dev/ubd$d as $(grep "ubd$d" "$T/boot2.out"), not the image plus the writes"
done
grep -qx "$(md5sum <"$T/c.img" | cut -d' ' -f1)  /dev/ubdh" "$T/boot2.out" ||
	fail "UML does not read c.cow (an mtime 0.5 s off) as c.img"
echo "UML: reads the V3, V1 and V2 files as the image plus the writes"
grep -qx "ubdf: refused" "$T/boot2.out" || fail "UML opened a.cow, its backing file's mtime changed"
grep -qx "ubdg: refused" "$T/boot2.out" || fail "UML opened b.cow, its backing file's size changed"
for m in "mtime mismatch ($mtime vs 1600000000) of COW header vs backing file" \
	"Size mismatch ($MiB vs $((MiB + 4096))) of COW header vs backing file" \
	"Failed to open '$T/a.cow', errno = 22" "Failed to open '$T/b.cow', errno = 22"; do
	grep -qxF "$m" "$T/uml-console.log" || fail "UML did not say '$m'"
done
echo "UML: refuses a backing file with another mtime or size (EINVAL), with uml_moo's words"

# UML's writes to V1 and V2: one bit (sector 5000: byte 625, bit 0) at
# each one's own bitmap offset, the header as it was, and uml_moo
# merges them into the image plus the writes plus that sector.
cp "$T/exp.img" "$T/exp2.img"
dd if="$T/pat.bin" of="$T/exp2.img" bs=512 seek=5000 count=1 conv=notrunc status=none
for v in 1:280 2:4120; do
	n=${v%:*} off=${v#*:}
	cmp -s -n "$off" "$T/v$n.header" "$T/v$n.cow" || fail "UML rewrote the V$n header"
	b=$(od -An -tu1 -j$((off + 625)) -N1 "$T/v$n.cow" | tr -d ' ')
	[ "$b" = 1 ] || fail "V$n: the bitmap byte of sector 5000 is $b, not 1"
	uml_moo "$T/v$n.cow" "$T/v$n-merged2.img" >/dev/null || fail "uml_moo of V$n failed"
	cmp "$T/v$n-merged2.img" "$T/exp2.img" || fail "V$n after UML's write: the merge is wrong"
done
echo "UML: writes V1 and V2 (bits at 280 and 4120), uml_moo merges them"

# Last, uml_moo -d on the backing file the header names.
uml_moo -d "$T/mk.cow" >/dev/null || fail "uml_moo -d failed"
cmp "$T/back.img" "$T/exp.img" || fail "uml_moo -d: the backing file is not the image plus the writes"
echo "uml_moo -d: the backing file is the image plus the writes"
