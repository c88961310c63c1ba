#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly C4 E1
# The compact cache layout (--format compact, --cache-size N): the file
# grows with what was fetched, not with the image; it is known by its
# magic, not its name; check, info, export and hydrate work on it; under a
# size limit, random reads through it (eviction churn) all equal the image
# while the file never passes the limit; kill -9 during churn leaves a
# cache whose every present block is the image's.  On a real vfat
# filesystem (loop device, as root): a native cache past 4 GiB - 1 is
# refused pointing at --format compact, and a compact one under a limit
# serves an image larger than 4 GiB.  uloop.ko (--transport kmod) refuses
# a compact cache.
. "$(dirname "$0")/functions.sh"

size=$((24 * 1024 * 1024 + 4321))
make_image "$T/img" $size
limit=$((4 * 1024 * 1024))

range() {	# range FILE OFF LEN: those bytes of FILE on stdout
	tail -c +$(($2 + 1)) "$1" | head -c "$3"
}

# 1. Fetch order: one MiB read from the middle takes about one MiB of file.
$ULOOP cat "$T/img" --cache "$T/c" --format compact --offset $((16 << 20)) \
	--length $((1 << 20)) >"$T/got"
range "$T/img" $((16 << 20)) $((1 << 20)) | cmp - "$T/got" || fail "cat through a new compact cache"
$ULOOP info "$T/c" --json >"$T/info"
grep -q '"format":"compact"' "$T/info" || fail "info: not compact: $(cat "$T/info")"
present=$(json_get blocks_present <"$T/info")
fs=$(fsize "$T/c")
echo "compact after 1 MiB read: $present blocks present, file $fs bytes (image $size)"
# Readahead may fetch a few MiB more; a dense file would be the image's size.
[ "$fs" -lt $((size / 3)) ] || fail "a partly filled compact file is $fs bytes, not grown with what was fetched"

# 2. Known by its magic: the same file under another name is still compact;
# asking for native, or a size limit on a native cache, is refused.
cp "$T/c" "$T/renamed.native"
$ULOOP info "$T/renamed.native" | grep -q '^format: *compact' || fail "compact not known by its magic"
expect_fail 1 "its format is compact, not native" \
	$ULOOP hydrate "$T/img" --cache "$T/c" --format native --no-progress
$ULOOP hydrate "$T/img" --cache "$T/n" --no-progress >/dev/null
expect_fail 1 "--cache-size needs a compact one" \
	$ULOOP hydrate "$T/img" --cache "$T/n" --cache-size 8M --no-progress

# uloop.ko reads hits itself from the dense layout: a compact cache, an
# existing one or one --cache-size would make, is refused for kmod.
expect_fail 2 "cache $T/c is compact (blocks in fetch order); use --transport nbd" \
	$ULOOP attach "$T/img" --cache "$T/c" --transport kmod
expect_fail 2 "is compact (blocks in fetch order)" \
	$ULOOP attach "$T/img" --cache "$T/new" --cache-size 1M --transport kmod
[ ! -e "$T/new" ] || fail "a refused attach made a cache file"

# 3. Hydrate completes it; check and export agree with the image; the file
# is the image plus its index and checksums (36 bytes per 64 KiB slot).
$ULOOP hydrate "$T/img" --cache "$T/c" --no-progress >/dev/null
$ULOOP check "$T/c" --source "$T/img" >"$T/out" || fail "check: $(cat "$T/out")"
grep -q "consistent; 385 of 385\|all equal" "$T/out" || fail "check said $(cat "$T/out")"
$ULOOP export "$T/c" "$T/exp" >/dev/null
cmp "$T/img" "$T/exp" || fail "export of a complete compact cache differs from the image"
fs=$(fsize "$T/c")
echo "compact complete: file $fs bytes for a $size-byte image"
[ "$fs" -le $((size + 64 * 1024 + 64 * 1024)) ] || fail "complete compact file is $fs bytes"

# 4. Eviction churn under --cache-size 4M: seeded random ranges, each equal
# to the image, the file never past the limit.
awk -v n="${COMPACT_ROUNDS:-150}" -v size=$size 'BEGIN {
	srand(19);
	for (i = 0; i < n; i++) {
		off = int(rand() * size);
		len = rand() < 0.5 ? int(rand() * 65536) + 1 : int(rand() * 1500000) + 1;
		if (off + len > size) len = size - off;
		print off, len;
	}
}' >"$T/ranges"
rounds=0
while read -r off len; do
	rounds=$((rounds + 1))
	$ULOOP cat "$T/img" --cache "$T/l" --cache-size $limit --offset "$off" \
		--length "$len" >"$T/got" || fail "cat $off+$len under a limit"
	range "$T/img" "$off" "$len" | cmp -s - "$T/got" || fail "round $rounds: $off+$len differs from the image"
	fs=$(fsize "$T/l")
	[ "$fs" -le $limit ] || fail "round $rounds: the cache file is $fs bytes, past --cache-size $limit"
done <"$T/ranges"
$ULOOP info "$T/l" --json >"$T/info"
slots=$(json_get slots <"$T/info") present=$(json_get blocks_present <"$T/info")
echo "churn: $rounds reads under a $limit-byte limit: $slots slots, $present blocks present, file $(fsize "$T/l") bytes"
[ "$present" -le $((slots * 16)) ] || fail "$present blocks present in $slots slots"
$ULOOP check "$T/l" --source "$T/img" >"$T/out" || fail "check after churn: $(cat "$T/out")"
# What a limited cache lacks comes from the source.
$ULOOP export "$T/l" "$T/exp" --source "$T/img" >/dev/null
cmp "$T/img" "$T/exp" || fail "export --source of a limited cache differs from the image"

# 5. kill -9 during churn: each time the cache opens, every present block
# is the image's, and the file is still within its limit.
awk 'BEGIN { srand(23); for (i = 0; i < 12; i++) printf "%.3f\n", 0.02 + rand() * 0.6 }' >"$T/delays"
kills=0
while read -r delay; do
	rm -f "$T/stop"
	(
		while [ ! -f "$T/stop" ]; do
			$ULOOP cat "$T/img" --cache "$T/k" --cache-size $limit >/dev/null || exit 0
		done
	) &
	loop=$!
	sleep "$delay"
	# The cat running now (the loop's only child); the loop starts no
	# other after the stop file, so nothing writes while check reads.
	: >"$T/stop"
	pid=$(pgrep -P $loop -x uloop || true)
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
	wait $loop
	[ -f "$T/k" ] || continue
	$ULOOP check "$T/k" --source "$T/img" >"$T/out" 2>&1 || fail "check after kill -9: $(cat "$T/out")"
	fs=$(fsize "$T/k")
	[ "$fs" -le $limit ] || fail "after kill -9 the file is $fs bytes, past $limit"
done <"$T/delays"
echo "kill -9 during churn: $kills kills, each left a consistent cache"
[ $kills -gt 0 ] || fail "no cat was killed"

# 6. vfat: a real FAT32 filesystem on a loop device.
if [ "$(id -u)" -ne 0 ] || ! command -v mkfs.vfat >/dev/null || ! command -v losetup >/dev/null; then
	echo "vfat part skipped: needs root, mkfs.vfat and losetup"
	exit 0
fi
head -c $((96 * 1024 * 1024)) /dev/zero >"$T/fat.img"
mkfs.vfat -F 32 "$T/fat.img" >/dev/null
mkdir "$T/fat"
if ! mount -o loop "$T/fat.img" "$T/fat" 2>"$T/err"; then
	echo "vfat part skipped: mount -o loop: $(cat "$T/err")"
	exit 0
fi
on_exit "umount $T/fat"
# An image past 4 GiB, sparse here, with data at its start and past 4 GiB.
big=$((5 * 1024 * 1024 * 1024 + 12345))
truncate -s $big "$T/big"
head -c $((1 << 20)) /dev/urandom | dd of="$T/big" bs=1M conv=notrunc status=none
head -c $((3 << 20)) /dev/urandom | dd of="$T/big" bs=1M seek=$((4500)) conv=notrunc status=none
expect_fail 1 "use --format compact" \
	$ULOOP hydrate "$T/big" --cache "$T/fat/native" --no-progress
expect_fail 1 "vfat holds files of at most 4 GiB - 1 byte" \
	$ULOOP hydrate "$T/big" --cache "$T/fat/whole" --format compact --no-progress
flimit=$((16 * 1024 * 1024))
for r in "0 1048576" "$((4500 << 20)) 3145728" "$((big - 70000)) 70000" \
	"$((4 * 1024 * 1024 * 1024 - 5000)) 10000" "$((4500 << 20)) 3145728" "0 1048576"; do
	# shellcheck disable=SC2086
	set -- $r
	$ULOOP cat "$T/big" --cache "$T/fat/c" --cache-size $flimit --offset "$1" \
		--length "$2" >"$T/got" || fail "cat $1+$2 of a 5 GiB image through vfat"
	range "$T/big" "$1" "$2" | cmp -s - "$T/got" || fail "vfat: $1+$2 differs from the image"
done
fs=$(fsize "$T/fat/c")
[ "$fs" -le $flimit ] || fail "vfat: the compact file is $fs bytes, past $flimit"
$ULOOP check "$T/fat/c" --source "$T/big" >"$T/out" || fail "vfat check: $(cat "$T/out")"
echo "vfat: a $big-byte image through a compact cache of $fs bytes (limit $flimit): $(cat "$T/out")"
