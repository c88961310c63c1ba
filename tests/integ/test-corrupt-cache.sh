#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R4
# Damaged caches are refused with a clear error naming the file and the
# cause, never a crash (the ASan+UBSan build runs too), never served.  A
# single damaged header copy is survived thanks to the other one.
. "$(dirname "$0")/functions.sh"

size=$((4 * 1024 * 1024 + 5))
make_image "$T/img" $size
$ULOOP hydrate "$T/img" --cache "$T/good" --block-size 64K --no-progress >/dev/null

poke() {	# poke FILE OFFSET BYTE-IN-OCTAL: overwrite one byte
	printf "\\$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

refused() {	# refused CAUSE: every command on $T/c fails with CAUSE
	for u in "$ULOOP" "$ULOOP_ASAN"; do
		expect_fail 1 "$1" "$u" info "$T/c"
		expect_fail 1 "$1" "$u" check "$T/c" --source "$T/img"
		expect_fail 1 "$1" "$u" export "$T/c" "$T/out"
		expect_fail 1 "$1" "$u" cat "$T/img" --cache "$T/c" --length 1
	done
	cmp -s "$T/c" "$T/c.before" || fail "a refused cache was modified"
}

damage() {	# damage OFFSET: invert the same byte in both header copies
	cp "$T/good" "$T/c"
	flip_byte "$T/c" "$1"
	flip_byte "$T/c" $(($1 + 4096))
	cp "$T/c" "$T/c.before"
}

# Field by field, in both copies.  (Unit tests cover each field with a
# valid CRC; here the CRC catches them first, which is what a user sees.)
damage 0
refused "not a uloop cache"
for off in 8 12 16 24 32 36 40 48 56 64 72 80 88 104 112 120 128 136 144 400 2448 4092 4095; do
	damage $off
	refused "CRC mismatch"
done

# --wipe starts a damaged cache over.
damage 12
$ULOOP hydrate "$T/img" --cache "$T/c" --block-size 64K --wipe --no-progress >/dev/null
$ULOOP check "$T/c" --source "$T/img" >/dev/null || fail "--wipe did not start over"

# Truncations.
for len in 100 4096 8191 65536 1000000; do
	head -c $len "$T/good" >"$T/c"
	cp "$T/c" "$T/c.before"
	refused "cache $T/c"
done

# Not a cache at all: refused, and never overwritten unless --wipe.
make_image "$T/c" 100000
cp "$T/c" "$T/c.before"
refused "not a uloop cache"
expect_fail 1 "refusing to overwrite" $ULOOP hydrate "$T/img" --cache "$T/c" --block-size 64K
cmp -s "$T/c" "$T/c.before" || fail "a foreign file was overwritten"
$ULOOP hydrate "$T/img" --cache "$T/c" --block-size 64K --wipe --no-progress >/dev/null
$ULOOP check "$T/c" --source "$T/img"

# One damaged copy: the other one carries on, data intact.
for slot in 0 4096; do
	cp "$T/good" "$T/c"
	flip_byte "$T/c" $((slot + 50))
	$ULOOP check "$T/c" --source "$T/img" >/dev/null ||
		fail "cache with one good header copy (bad copy at $slot) refused"
	$ULOOP export "$T/c" "$T/out"
	cmp "$T/out" "$T/img" || fail "export with one bad header copy differs"
done

# A bit flipped in the bitmap (here one past the last of the 65 blocks):
# its 512-byte sector fails its CRC, so none of the sector's bits is
# trusted; the blocks are missing, fetched again, never served unchecked.
cp "$T/good" "$T/c"
poke "$T/c" $((8192 + 9)) 001
$ULOOP info "$T/c" >"$T/out" 2>"$T/err" || fail "info refused a damaged bitmap sector"
grep -q "1 bitmap sector failed its checksum" "$T/err" || fail "no warning: $(cat "$T/err")"
grep -q "0 of 65 blocks" "$T/out" || fail "the damaged sector's bits were used: $(cat "$T/out")"
$ULOOP hydrate "$T/img" --cache "$T/c" --block-size 64K --no-progress >/dev/null 2>"$T/err"
$ULOOP check "$T/c" --source "$T/img" 2>"$T/err" || fail "not repaired: $(cat "$T/err")"
[ ! -s "$T/err" ] || fail "still damaged after a writer's open: $(cat "$T/err")"
# Bits past the last block in a sector whose CRC is right: made by hand.
cp "$T/good" "$T/c"
PYTHONPATH=$top/tests/integ python3 - "$T/c" <<'PY'
import sys
from crc32c import crc32c
with open(sys.argv[1], 'r+b') as f:
    f.seek(8192)
    sec = bytearray(f.read(512))
    sec[9] |= 1
    sec[508:512] = crc32c(bytes(sec[:508])).to_bytes(4, 'little')
    f.seek(8192)
    f.write(sec)
PY
cp "$T/c" "$T/c.before"
refused "bits set past the last block"

# The 2007 layout: a bitmap that does not fit its cache file.
$ULOOP hydrate "$T/img" --cache "$T/c7" --bitmap "$T/b7" --no-progress >/dev/null
head -c 12288 /dev/zero >>"$T/c7"
expect_fail 1 "does not match its recorded image size" $ULOOP info "$T/c7" --bitmap "$T/b7"
truncate -s 4095 "$T/c7"
expect_fail 1 "not a non-zero multiple of the page size" $ULOOP info "$T/c7" --bitmap "$T/b7"

# A header, CRC and all, whose regions are not the image's layout: a few
# KiB of sparse file claiming a 1.3 GB bitmap (uloop info read and counted
# it: 24 s, 1.3 GB of memory).  Refused from the header alone.
requires python3
cp "$T/good" "$T/c"
PYTHONPATH=$top/tests/integ python3 - "$T/c" <<'PY'
import struct, sys
from crc32c import crc32c
path = sys.argv[1]
with open(path, 'r+b') as f:
    area = bytearray(f.read(8192))
    blen = 1300 << 20
    doff = (8192 + blen + 65535) // 65536 * 65536
    for slot in (0, 4096):
        s = area[slot:slot + 4096]
        struct.pack_into('<QQ', s, 56, blen, doff)
        struct.pack_into('<I', s, 4092, crc32c(bytes(s[:4092])))
        area[slot:slot + 4096] = s
    f.seek(0)
    f.write(area)
    f.truncate(doff + 65 * 65536)
PY
cp "$T/c" "$T/c.before"
refused "are not the layout of a 4194309-byte image in 65536-byte blocks"
