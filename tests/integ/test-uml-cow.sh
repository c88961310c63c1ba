#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2
# UML COW interop with the real tools of the 2004 thread (Debian's
# uml-utilities): a COW made by uml_mkcow is served and written by
# `uloop attach --cow`; uml_moo merges every COW uloop wrote (V3 that
# uloop made, uml_mkcow's V3, V2 and V1 made by hand to the kernel's
# layouts) into the same bytes as `uloop merge --output`, and
# `uml_moo -d` (in place) into the same image as `uloop merge --in-place`.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3 uml_mkcow uml_moo
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }

W="python3 $(dirname "$0")/cow-writes.py"
size=$((6 * 1024 * 1024 + 4096))
make_image "$T/img" $size
cp "$T/img" "$T/img.orig"

# write COW SEED: random writes through attach --cow COW into $T/m.COW.
write() {
	cp "$T/img" "$T/m.$1"
	$ULOOP attach "$T/img" --transport fuse --device "$T/dev" --cow "$T/$1" >/dev/null
	on_exit "$ULOOP detach $T/dev 2>/dev/null || true"
	$W "$2" 150 "$T/dev" "$T/m.$1"
	$ULOOP detach "$T/dev"
	cmp "$T/img" "$T/img.orig" || fail "$1: the image was written"
}

# both COW: uml_moo and uloop merge give the model's bytes.
both() {
	uml_moo "$T/$1" "$T/moo.$1" >"$T/moo.log" 2>&1 || fail "uml_moo $1: $(cat "$T/moo.log")"
	cmp "$T/moo.$1" "$T/m.$1" || fail "uml_moo merged $1 into other bytes than uloop wrote"
	$ULOOP merge "$T/$1" --output "$T/flat.$1"
	cmp "$T/flat.$1" "$T/m.$1" || fail "uloop merge of $1 differs"
	echo "$1: uml_moo and uloop merge agree"
}

# 1. uloop's own V3, and uml_mkcow's.
write u.cow 1
[ "$(head -c 8 "$T/u.cow" | od -An -tx1 | tr -d ' ')" = 4f4f4f4d00000003 ] ||
	fail "uloop did not make a big-endian V3 header"
both u.cow
(cd "$T" && uml_mkcow -f mk.cow img >/dev/null) || fail "uml_mkcow failed"
# Over the same image, uloop's header is uml_mkcow's, byte for byte: the
# backing file's absolute path, its mtime in seconds, alignment 4096.
cmp -n 4128 "$T/u.cow" "$T/mk.cow" || fail "uloop's V3 header is not uml_mkcow's"
write mk.cow 2
both mk.cow

# 2. V2 and V1 files, laid out as the kernel's cow_user.c reads them.
python3 - "$T/img" "$T" <<'EOF'
import os, struct, sys
img, out = sys.argv[1], sys.argv[2]
st = os.stat(img)
size, mtime = st.st_size, int(st.st_mtime)
bitmap = (size + 511) // (8 * 512)    # V1/V2's rounding
for name, hdr in (
        ("v2.cow", struct.pack(">II", 0x4f4f4f4d, 2) + img.encode().ljust(4096, b"\0")
         + struct.pack(">IQi", mtime, size, 512)),
        ("v1.cow", struct.pack("<II", 0x4f4f4f4d, 1) + img.encode().ljust(256, b"\0")
         + struct.pack("<IQi", mtime, size, 512))):
    data = (len(hdr) + bitmap + 511) // 512 * 512
    with open(os.path.join(out, name), "wb") as f:
        f.write(hdr)
        f.truncate(data + size)
EOF
write v2.cow 3
both v2.cow
write v1.cow 4
both v1.cow

# uloop info tells each file by its magic and counts the bits UML would.
for f in u.cow:V3:big mk.cow:V3:big v2.cow:V2:big v1.cow:V1:little; do
	set -- $(echo "$f" | tr : ' ')
	out=$($ULOOP info "$T/$1") || fail "info $1: $out"
	echo "$out" | grep -q "format: *UML COW $2, $3-endian" || fail "info $1: $out"
	bits=$(python3 -c '
import json, sys
j = json.load(sys.stdin)["layers"][0]
with open(sys.argv[1], "rb") as f:
    f.seek(j["bitmap_offset"])
    b = f.read(j["bitmap_length"])
print(j["sectors_held"], sum(bin(x).count("1") for x in b))' "$T/$1" <<J
$($ULOOP info "$T/$1" --json)
J
)
	[ "${bits% *}" = "${bits#* }" ] && [ "${bits% *}" -gt 0 ] || fail "info $1: held/bits $bits"
done
echo "info: V3, V2, V1 told apart; held sectors = bits set"

# 3. In place: uml_moo -d and uloop merge --in-place on copies.
for tool in moo uloop; do
	mkdir "$T/$tool"
	cp "$T/img.orig" "$T/$tool/img"
	# The same COW over each copy: its header names its own image.
	(cd "$T/$tool" && uml_mkcow -f c.cow img >/dev/null)
	cp "$T/$tool/img" "$T/$tool/model"
	$ULOOP attach "$T/$tool/img" --transport fuse --device "$T/dev" --cow "$T/$tool/c.cow" >/dev/null
	$W 5 150 "$T/dev" "$T/$tool/model"
	$ULOOP detach "$T/dev"
done
uml_moo -d "$T/moo/c.cow" >"$T/moo.log" 2>&1 || fail "uml_moo -d: $(cat "$T/moo.log")"
$ULOOP merge "$T/uloop/c.cow" --in-place
cmp "$T/moo/img" "$T/moo/model" || fail "uml_moo -d merged other bytes"
cmp "$T/uloop/img" "$T/moo/img" || fail "uloop merge --in-place differs from uml_moo -d"
echo "in place: uml_moo -d and uloop merge --in-place agree"
