#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2
# UML COW interop with the UML kernel itself (Debian's linux.uml, run here
# as a process), both ways, in one boot:
# - UML boots from a COW file uloop made: `uloop attach ROOT --cow
#   root.cow` over an ext2 root image, files written through the uloop
#   device (mounted here); UML, given root.cow alone (the backing file
#   is the one uloop's header names), boots from it, reads those files
#   right and writes its own; uloop then serves UML's files and a clean
#   filesystem, the very bytes uml_moo merges the COW into;
# - UML reads, one page a request, the bytes uloop wrote (random writes,
#   any offset and length) into V3, V1 and V2 COW files, and writes known
#   sectors over them; uloop then serves exactly uloop's writes plus
#   UML's, and so does uml_moo;
# - UML writes known sectors through a COW uml_mkcow made; uloop serves
#   exactly the image plus those writes;
# - a COW uloop is serving is refused by UML (ubd's POSIX lock of the
#   file), and one UML has open is refused by uloop.
# The images are never written.  Skips (77) where linux.uml cannot boot.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/uml-functions.sh"
requires_root
requires python3 uml_mkcow uml_moo mount umount e2fsck md5sum
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }
uml_available || exit 77

W="python3 $(dirname "$0")/cow-writes.py"
MiB=1048576
size=$((8 * MiB))
make_image "$T/data.img" "$size"
touch -d @1700000000 "$T/data.img"
cp -p "$T/data.img" "$T/data.orig"
make_image "$T/pat.bin" "$MiB"
mkdir "$T/mnt"

# attach COW IMAGE: the uloop device $T/dev of COW over IMAGE (writable).
attach() {
	$ULOOP attach "$2" --transport fuse --device "$T/dev" --cow "$1" >/dev/null
}
on_exit "umount $T/mnt 2>/dev/null || true; $ULOOP detach $T/dev 2>/dev/null || true"

# 1. A root filesystem written by uloop: root.cow made by uloop.
uml_rootfs "$T/root.img"
cp -p "$T/root.img" "$T/root.orig"
make_image "$T/blob.uloop" $((300 * 1024 + 123))
attach "$T/root.cow" "$T/root.img"
mount -o loop "$T/dev" "$T/mnt" || fail "cannot mount the root through uloop"
mkdir "$T/mnt/from-uloop"
cp "$T/blob.uloop" "$T/mnt/from-uloop/blob"
echo "written by uloop" >"$T/mnt/from-uloop/note"
umount "$T/mnt"
$ULOOP detach "$T/dev"
cmp -s "$T/root.img" "$T/root.orig" || fail "uloop wrote the root image"
[ "$(uml_cow_backing "$T/root.cow")" = "$(cd "$T" && pwd -P)/root.img" ] ||
	fail "root.cow names '$(uml_cow_backing "$T/root.cow")' as its backing file"

# 2. Data COWs over data.img, all of 8 MiB: u3.cow made by uloop; v1.cow
# and v2.cow blank V1 and V2 files (uml_mkcow's V3 recast), written by
# uloop; mk.cow made by uml_mkcow, left blank for UML.
(cd "$T" && uml_mkcow mk.cow data.img >/dev/null) || fail "uml_mkcow failed"
(cd "$T" && uml_mkcow blank.cow data.img >/dev/null) || fail "uml_mkcow failed"
uml_cow_recast "$T/blank.cow" 1 "$T/v1.cow"
uml_cow_recast "$T/blank.cow" 2 "$T/v2.cow"
seed=1
for c in u3 v1 v2; do
	cp "$T/data.img" "$T/m.$c"
	attach "$T/$c.cow" "$T/data.img"
	$W "$seed" 200 "$T/dev" "$T/m.$c"
	$ULOOP detach "$T/dev"
	seed=$((seed + 1))
done
cp "$T/data.img" "$T/m.mk"
cmp -s "$T/data.img" "$T/data.orig" || fail "uloop wrote data.img"

# UML's writes, "PAT:SECTOR:COUNT" (sectors of pat.bin to the disk): one
# sector, 3 inside a page, 5 across a 64-bit word of the bitmap (UML
# writes its bitmap a pair of words at a time, from its own copy), a
# 64 KiB run, the last sector.  The expected disks: each model plus them.
writes="0:0:1 1:25:3 4:62:5 128:2048:128 300:16383:1"
for c in u3 v1 v2 mk; do
	cp "$T/m.$c" "$T/e.$c"
	for w in $writes; do
		IFS=: read -r p s n <<EOF
$w
EOF
		dd if="$T/pat.bin" of="$T/e.$c" bs=512 skip="$p" seek="$s" count="$n" \
			conv=notrunc status=none
	done
done

# lk.cow: served by uloop (writable) all through the boot, as ubdh.
$ULOOP attach "$T/data.img" --transport fuse --device "$T/dev2" --cow "$T/lk.cow" >/dev/null
on_exit "$ULOOP detach $T/dev2 2>/dev/null || true"

# The boot: root.cow as the root, u3, v1, v2, mk.cow as ubdc..ubdf,
# pat.bin as ubdg, lk.cow as ubdh, go.disk as ubdi.  The data disks are
# read one page a
# request (UML reads pages half in its COW wrong in longer requests: see
# test-uml-tools.sh), then written a sector at a time (buffer size 512).
# Last, the guest opens ubdc again (UML holds a disk's files, and their
# locks, only while the guest has it open), says so and waits for "go"
# on go.disk, written here once uloop has tried u3.cow.
cat >"$T/boot.sh" <<'EOF'
set -e
echo "root: $(md5sum </from-uloop/blob | cut -d' ' -f1) $(cat /from-uloop/note)"
mkdir /from-uml
dd if=/dev/ubdg of=/from-uml/blob bs=4096 count=100 2>/dev/null
echo "written by UML" >/from-uml/note
sync
for d in c d e f; do
	exec 3</dev/ubd$d
	echo 0 >/sys/block/ubd$d/queue/read_ahead_kb
	echo 4 >/sys/block/ubd$d/queue/max_sectors_kb
	blockdev --flushbufs /dev/ubd$d
	echo "ubd$d: $(dd if=/dev/ubd$d bs=4096 2>/dev/null | md5sum | cut -d' ' -f1)"
	blockdev --setbsz 512 /dev/ubd$d
EOF
for w in $writes; do
	IFS=: read -r p s n <<EOF
$w
EOF
	echo "	dd if=/dev/ubdg of=/dev/ubd\$d bs=512 skip=$p seek=$s count=$n conv=notrunc 2>/dev/null"
done >>"$T/boot.sh"
cat >>"$T/boot.sh" <<'EOF'
	sync
	exec 3<&-
done
if dd if=/dev/ubdh of=/dev/null bs=512 count=1 2>/dev/null; then
	echo "ubdh: opened"
else
	echo "ubdh: refused"
fi
exec 4</dev/ubdc 5</dev/ubdi
echo "@@uml-holds-its-disks@@"
until [ "$(blockdev --flushbufs /dev/ubdi; head -c 2 /dev/ubdi)" = go ]; do
	sleep 1
done
exec 4<&- 5<&-
EOF
head -c 4096 /dev/zero >"$T/go.disk"
uml_run "$T/root.cow" "$T/boot.sh" "$T/u3.cow" "$T/v1.cow" "$T/v2.cow" "$T/mk.cow" \
	"r=$T/pat.bin" "$T/lk.cow" "$T/go.disk" >"$T/boot.out" 2>"$T/boot.err" &
uml=$!
# Whatever happens here, the guest is let go, and gone before $T is.
on_exit "printf go | dd of=$T/go.disk conv=notrunc status=none; wait $uml"
# Until the guest holds its disks open (or UML is gone): no time limit
# but uml_run's own.
while ! grep -q '^@@uml-holds-its-disks@@' "$T/uml-console.raw" 2>/dev/null &&
	kill -0 "$uml" 2>/dev/null; do
	sleep 1
done
if grep -q '^@@uml-holds-its-disks@@' "$T/uml-console.raw" 2>/dev/null; then
	expect_fail 1 "$T/u3.cow: in use by another program (a POSIX lock" \
		"$ULOOP" attach "$T/data.img" --transport fuse --device "$T/dev" --cow "$T/u3.cow"
fi
printf go | dd of="$T/go.disk" conv=notrunc status=none
rc=0
wait "$uml" || rc=$?
[ "$rc" -eq 0 ] || fail "UML did not boot from uloop's COW: $(cat "$T/boot.err" "$T/boot.out")"
grep -q '^@@uml-holds-its-disks@@' "$T/boot.out" || fail "the guest never held its disks"
$ULOOP detach "$T/dev2"

# What UML read.
grep -qx "root: $(md5sum <"$T/blob.uloop" | cut -d' ' -f1) written by uloop" "$T/boot.out" ||
	fail "UML read the files uloop wrote as: $(grep '^root:' "$T/boot.out")"
echo "UML booted from root.cow (made and written by uloop) and read uloop's files"
set -- c:u3 d:v1 e:v2 f:mk
for x in "$@"; do
	d=${x%:*} c=${x#*:}
	grep -qx "ubd$d: $(md5sum <"$T/m.$c" | cut -d' ' -f1)" "$T/boot.out" ||
		fail "UML read $c.cow (ubd$d) as $(grep "^ubd$d:" "$T/boot.out"), not what was written to it"
done
echo "UML read the V3, V1 and V2 files uloop wrote as uloop wrote them"

# What uloop serves after UML's writes; uml_moo merges the same bytes.
for x in "$@"; do
	c=${x#*:}
	attach "$T/$c.cow" "$T/data.img"
	cmp "$T/dev" "$T/e.$c" || fail "uloop serves $c.cow, after UML's writes, wrong"
	$ULOOP detach "$T/dev"
	uml_moo "$T/$c.cow" "$T/moo.$c" >/dev/null || fail "uml_moo $c.cow failed"
	cmp "$T/moo.$c" "$T/e.$c" || fail "uml_moo merges $c.cow wrong"
done
echo "uloop serves UML's writes over uloop's (V3, V1, V2) and through uml_mkcow's COW"

attach "$T/root.cow" "$T/root.img"
e2fsck -fn "$T/dev" >"$T/fsck.out" 2>&1 ||
	fail "the root through uloop after UML's boot: $(cat "$T/fsck.out")"
mount -o ro,loop "$T/dev" "$T/mnt" || fail "cannot mount the root through uloop again"
cmp "$T/mnt/from-uloop/blob" "$T/blob.uloop" || fail "uloop's file changed"
head -c $((100 * 4096)) "$T/pat.bin" | cmp "$T/mnt/from-uml/blob" - ||
	fail "UML's file, through uloop, is not what UML wrote"
[ "$(cat "$T/mnt/from-uml/note")" = "written by UML" ] || fail "UML's note: $(cat "$T/mnt/from-uml/note")"
umount "$T/mnt"
cp "$T/dev" "$T/root.served"
$ULOOP detach "$T/dev"
uml_moo "$T/root.cow" "$T/root.moo" >/dev/null || fail "uml_moo root.cow failed"
cmp "$T/root.served" "$T/root.moo" || fail "uloop and uml_moo read root.cow differently"
echo "uloop serves UML's files from root.cow, a clean filesystem, uml_moo's bytes"

# UML and uloop on one COW: each refuses the file the other has open.
grep -qx "ubdh: refused" "$T/boot.out" || fail "UML opened lk.cow while uloop served it"
grep -qxF "Failed to lock '$T/lk.cow', err = 11" "$T/uml-console.log" ||
	fail "UML did not say why it refused lk.cow: $(grep -F lk.cow "$T/uml-console.log")"
echo "a COW uloop serves is refused by UML, and one UML has open by uloop"

cmp -s "$T/root.img" "$T/root.orig" || fail "the root image was written"
cmp -s "$T/data.img" "$T/data.orig" || fail "data.img was written"
[ "$(stat -c %Y "$T/data.img")" = 1700000000 ] || fail "data.img's mtime changed"
echo "uml-boot: all checks passed"
