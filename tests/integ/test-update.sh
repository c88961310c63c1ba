#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly C4
# Updates (docs/updates.md): a node whose cache holds version N of a
# manifest fetches only what version N+1 changed.  A squashfs rebuilt
# after a few files changed (everything after them shifts by bytes, not
# blocks) published by uloop publish with its seed map; served by nginx.
#
#   1. seeded hydrate: the changed blocks and a few leaf hash blocks are
#      all that is fetched; the old version's file is removed after
#   2. a lazy read takes the seed's blocks and leaves it for later
#   3. kill -9 in the middle of a seeded hydrate: both files check out,
#      the next run finishes
#   4. hydrate --seed stages N+1 beside a cache that stays N; the next
#      start switches to it and fetches no image byte; killed staging too
#   5. a lying seed map costs fetches, never a wrong byte
#   6. a version that shares nothing: no map, a cold start; a downgrade
#      (the old image published again) is an update like any other
#   7. a signed manifest: its seed lines are under the signature
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires mksquashfs

D=$T/www
mkdir -p "$D" "$T/tree"
random_files "$T/tree" 300
mksq() { mksquashfs "$T/tree" "$1" -noappend -quiet -comp gzip -no-progress >/dev/null || fail "mksquashfs $1"; }
mksq "$T/v1.sqfs"
# About 1% of the files change; one is added.
for f in f40 f150 f151; do head -c 3000 /dev/urandom >>"$T/tree/$f"; done
head -c 5000 /dev/urandom >"$T/tree/new"
mksq "$T/v2.sqfs"

U=$ULOOP_NET
$U publish "$T/v1.sqfs" "$D" --name root >/dev/null || fail "publish v1"
root1=$(sed -n 's/^root-hash //p' "$D/root.uloop")
start_nginx one "$D"
url="http://127.0.0.1:$one_http/root.uloop"
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" | head -n 1; }
hydrate() { $U hydrate "$@" --no-progress; }
# Bytes of a version's files (image, tree, seed map, pack) fetched since
# the log was emptied.
fetched() { awk '$2 ~ /^\/root-[0-9]+\./ && $3 != "bytes=0-0" { n += $NF } END { print n + 0 }' "$one_log"; }

hydrate "$url" --cache "$T/c1" >/dev/null || fail "hydrate v1"
cp "$D/root.uloop" "$D/v1.uloop"	# version 1's manifest, for a rollback
$U publish "$T/v2.sqfs" "$D" --name root >"$T/pub2" || fail "publish v2"
grep -q "^seed map from version 1: [0-9]* of [0-9]* blocks found in it" "$T/pub2" ||
	fail "publish made no seed map: $(cat "$T/pub2")"
grep -q "^seed 1 $root1 root-2.from-1.seed\$" "$D/root.uloop" ||
	fail "the manifest names no seed map from version 1: $(cat "$D/root.uloop")"
blocks=$(sed -n 's/^blocks //p' "$D/root-2.from-1.seed")
mapped=$(awk 'NR > 8 { n += $2 } END { print n }' "$D/root-2.from-1.seed")
changed=$(((blocks - mapped) * 4096))
echo "v2: $blocks blocks, $mapped in version 1 ($(grep -c '' "$D/root-2.from-1.seed") lines of map), $changed bytes changed"
[ $((mapped * 100 / blocks)) -ge 85 ] || fail "the map found only $mapped of $blocks blocks"
cat "$D/root-2.img" "$D/root-2.verity" >"$T/dev2"
tree2=$(fsize "$D/root-2.verity")
# The most the tree may cost: its levels above the leaves (loaded first)
# and one leaf hash block per 512 KiB with a changed block in it, which
# bounds it by one per changed block.
tree_max=$((tree2 / 100 + (blocks - mapped) * 4096 + 8192))

# 1. Seeded hydrate.
cp "$T/c1" "$T/c"
: >"$one_log"
hydrate "$url" --cache "$T/c" --json >"$T/j" 2>"$T/err" || fail "seeded hydrate failed: $(cat "$T/err")"
grep -q "update from the version on the flash (root hash $(echo "$root1" | cut -c1-16)...): [0-9]* of $blocks blocks" "$T/err" ||
	fail "no update note: $(cat "$T/err")"
got=$(fetched)
echo "seeded hydrate: fetched $got bytes (changed blocks: $changed, tree: $tree2, image: $(fsize "$D/root-2.img"))"
[ "$got" -le $((changed + tree_max)) ] || fail "fetched $got bytes for $changed changed: $(cat "$one_log")"
# Every block is the old version's or rebuilt from the pack.
[ "$(field seeded_bytes <"$T/j")" = $((blocks * 4096)) ] || fail "seeded_bytes is not the image: $(cat "$T/j")"
grep -q ' /root-2.from-1.pack ' "$one_log" || fail "the pack was not used: $(cat "$one_log")"
! grep ' /root-2.img ' "$one_log" | grep -qv 'bytes=0-0 ' || fail "image blocks fetched beside the pack: $(cat "$one_log")"
[ "$(field verify_failures <"$T/j")" = 0 ] || fail "verification failures: $(cat "$T/j")"
[ ! -e "$T/c.seed" ] || fail "the old version's cache was not removed after a complete hydrate"
$U export "$T/c" "$T/out" && cmp "$T/out" "$T/dev2" || fail "the updated cache is not version 2"
$U check "$T/c" --source "$url" >/dev/null || fail "check of the updated cache failed"
echo "ok: seeded hydrate"

# 2. A lazy read: the seed's blocks, the changed ones fetched, the seed kept.
cp "$T/c1" "$T/c"
: >"$one_log"
$U cat "$url" --cache "$T/c" --offset 1048576 --length 2097152 >"$T/part" 2>/dev/null || fail "lazy cat failed"
dd if="$D/root-2.img" bs=1M skip=1 count=2 2>/dev/null | cmp - "$T/part" || fail "lazy read differs from version 2"
[ -e "$T/c.seed" ] || fail "the seed went before its blocks were taken"
lazy=$(fetched)
[ "$lazy" -le $((changed + tree_max)) ] || fail "a lazy read of 2 MiB fetched $lazy bytes: $(cat "$one_log")"
$U check "$T/c" --source "$url" >/dev/null || fail "check after a lazy read failed"
$U check "$T/c.seed" >/dev/null || fail "the seed does not check out"
echo "ok: lazy read, $lazy bytes fetched for 2 MiB"

# 3. A crash at each step of an update (failpoints: SIGKILL there), and
# kill -9 at a moment of its own: both files check out, the next run
# finishes, nothing is left behind.
after_crash() {	# after_crash WHAT
	for f in "$T/c" "$T/c.seed"; do
		[ -e "$f" ] || continue
		$U check "$f" >/dev/null || fail "$1: $f does not check out"
	done
	[ ! -e "$T/c.seed" ] || $U info "$T/c.seed" | grep -q "$root1" || fail "$1: the seed is not version 1"
	hydrate "$url" --cache "$T/c" >/dev/null 2>"$T/err" || fail "$1: the next run failed: $(cat "$T/err")"
	$U export "$T/c" "$T/out" && cmp "$T/out" "$T/dev2" || fail "$1: not version 2 after"
	[ ! -e "$T/c.seed" ] || fail "$1: the seed was not removed after"
}
for fp in update-seed-renamed update-pack-flush update-seed-retire; do
	cp "$T/c1" "$T/c"
	rm -f "$T/c.seed"
	ULOOP_FAILPOINT=$fp $ULOOP_FP hydrate "$url" --cache "$T/c" --no-progress >/dev/null 2>&1 &&
		fail "failpoint $fp was not reached"
	after_crash "crash at $fp"
done
cp "$T/c1" "$T/c"
$U hydrate "$url" --cache "$T/c" --no-progress --rate 16K --connections 1 >/dev/null 2>&1 &
pid=$!
sleep 1
kill -9 $pid
wait $pid 2>/dev/null || :
[ -e "$T/c.seed" ] || fail "killed hydrate: no seed left (it ended before the kill?)"
after_crash "kill -9"
echo "ok: crashes in a seeded hydrate"

# 4. Staging beside a cache in use; then the next start.
cp "$T/c1" "$T/c"
: >"$one_log"
hydrate "$url" --cache "$T/c" --seed >"$T/out1" 2>"$T/err" || fail "hydrate --seed failed: $(cat "$T/err")"
grep -q "blocks of the new version are taken from $T/c\$" "$T/err" || fail "no staging note: $(cat "$T/err")"
grep -q "the next attach of this version switches to it" "$T/out1" || fail "no switch note: $(cat "$T/out1")"
staged=$(fetched)
[ "$staged" -le $((changed + tree_max)) ] || fail "staging fetched $staged bytes"
cmp "$T/c" "$T/c1" || fail "staging changed the cache in use"
$U export "$T/c.next" "$T/out" && cmp "$T/out" "$T/dev2" || fail "the staged cache is not version 2"
: >"$one_log"
hydrate "$url" --cache "$T/c" >/dev/null 2>&1 || fail "the start after staging failed"
[ "$(fetched)" = 0 ] || fail "the start after staging fetched $(fetched) bytes: $(cat "$one_log")"
[ ! -e "$T/c.next" ] && [ ! -e "$T/c.seed" ] || fail "staging files left: $(ls "$T")"
$U export "$T/c" "$T/out" && cmp "$T/out" "$T/dev2" || fail "after the switch: not version 2"
echo "ok: staged ($staged bytes), switched fetching nothing"
# Killed while staging: the next start takes what was staged.
cp "$T/c1" "$T/c"
$U hydrate "$url" --cache "$T/c" --no-progress --seed --rate 16K --connections 1 >/dev/null 2>&1 &
pid=$!
sleep 1
kill -9 $pid
wait $pid 2>/dev/null || :
cmp "$T/c" "$T/c1" || fail "killed staging changed the cache in use"
$U check "$T/c.next" --source "$url" >/dev/null || fail "killed staging: the staged cache does not check out"
: >"$one_log"
hydrate "$url" --cache "$T/c" >/dev/null 2>&1 || fail "the start after a killed staging failed"
[ "$(fetched)" -le $((changed + tree_max)) ] || fail "after a killed staging: $(fetched) bytes"
$U export "$T/c" "$T/out" && cmp "$T/out" "$T/dev2" || fail "after a killed staging: not version 2"
[ ! -e "$T/c.next" ] && [ ! -e "$T/c.seed" ] || fail "killed staging: files left: $(ls "$T")"
echo "ok: killed staging resumed"
# A crash between the switch's two renames.
cp "$T/c1" "$T/c"
hydrate "$url" --cache "$T/c" --seed >/dev/null 2>&1 || fail "staging again failed"
ULOOP_FAILPOINT=update-next-half $ULOOP_FP hydrate "$url" --cache "$T/c" --no-progress >/dev/null 2>&1 &&
	fail "failpoint update-next-half was not reached"
[ ! -e "$T/c" ] && [ -e "$T/c.next" ] && [ -e "$T/c.seed" ] || fail "update-next-half: not between the renames: $(ls "$T")"
: >"$one_log"
hydrate "$url" --cache "$T/c" >/dev/null 2>&1 || fail "the start after update-next-half failed"
[ "$(fetched)" = 0 ] || fail "after update-next-half: $(fetched) bytes fetched"
$U export "$T/c" "$T/out" && cmp "$T/out" "$T/dev2" || fail "after update-next-half: not version 2"
echo "ok: a crash inside the switch"
# A link to a cache is not staged beside (it would never be taken).
ln -s "$T/c1" "$T/clink"
hydrate "$url" --cache "$T/clink" --seed >/dev/null 2>"$T/err" && fail "a staging beside a link ran"
grep -q "clink: a symbolic link; stage beside the cache file itself" "$T/err" ||
	fail "no refusal of a link: $(cat "$T/err")"
[ ! -e "$T/clink.next" ] || fail "a staging beside a link left a file"

# 5a. A cache in use by another process (a daemon serving it) is not
# renamed under it: refused as before updates.
cp "$T/c1" "$T/c"
( exec 9<>"$T/c"; flock -x 9; exec sleep 30 ) &	# the lock dies with $!
holder=$!
sleep 0.3
hydrate "$url" --cache "$T/c" >/dev/null 2>"$T/err" && fail "a locked cache was updated"
grep -q "in use by another uloop process" "$T/err" || fail "no 'in use' refusal: $(cat "$T/err")"
[ ! -e "$T/c.seed" ] && cmp -s "$T/c" "$T/c1" || fail "a locked cache was renamed or changed"
kill $holder
wait $holder 2>/dev/null || :
echo "ok: a cache in use is left alone"
# 5b. The map cannot be had now (the server refuses it): the older
# version is kept aside for the next start, which uses it.
chmod 000 "$D/root-2.from-1.seed"
cp "$T/c1" "$T/c"
hydrate "$url" --cache "$T/c" >/dev/null 2>"$T/err" || fail "hydrate without its map failed: $(cat "$T/err")"
grep -q "no update from the version on the flash now (it is kept for the next start)" "$T/err" ||
	fail "no note of the map's failure: $(cat "$T/err")"
[ -e "$T/c.seed" ] || fail "the older version was dropped when its map could not be fetched"
chmod 644 "$D/root-2.from-1.seed"
hydrate "$url" --cache "$T/c" >/dev/null 2>&1 || fail "the next hydrate failed"
[ ! -e "$T/c.seed" ] || fail "the older version was not taken and removed on the next start"
echo "ok: a map that cannot be fetched now keeps the older version for the next start"
# 5c. Back to the older version (its manifest served again, a rollback)
# in the middle of an update: the seed is the version booted, and is C
# again; nothing fetched.
cp "$T/c1" "$T/c"
$U cat "$url" --cache "$T/c" --length 65536 >/dev/null 2>&1 || fail "a partial update failed"
[ -e "$T/c.seed" ] || fail "no seed after a partial update"
: >"$one_log"
$U cat "http://127.0.0.1:$one_http/v1.uloop" --cache "$T/c" --length 65536 >/dev/null 2>"$T/err" ||
	fail "reading version 1 again failed: $(cat "$T/err")"
[ "$(fetched)" = 0 ] || fail "back to version 1: $(fetched) bytes fetched: $(cat "$one_log") $(cat "$T/err")"
[ ! -e "$T/c.seed" ] || fail "back to version 1: the seed is still there"
cat "$D/root-1.img" "$D/root-1.verity" >"$T/dev1"
$U export "$T/c" "$T/out" && cmp "$T/out" "$T/dev1" || fail "back to version 1: the cache is not version 1 whole"
echo "ok: back to the older version in the middle of an update"

# 5. A lying map (every run pointed one byte off): right bytes, more fetched.
cp "$D/root-2.from-1.seed" "$T/map.good"
awk 'NR > 8 { $3 = $3 + 1 } { print }' "$T/map.good" >"$D/root-2.from-1.seed"
cp "$T/c1" "$T/c"
: >"$one_log"
hydrate "$url" --cache "$T/c" --json >"$T/j" 2>/dev/null || fail "hydrate with a lying map failed"
$U export "$T/c" "$T/out" && cmp "$T/out" "$T/dev2" || fail "a lying map made a wrong cache"
# (The pack's own blocks are right: they verify and are kept; so are the
# blocks of the leaves the versions share, at their own offsets, whatever
# the map says: the old leaf proves them.)
shared=0 i=0
while [ $((i * 524288)) -lt "$(fsize "$D/root-2.img")" ]; do
	dd if="$T/v1.sqfs" bs=512K skip=$i count=1 2>/dev/null >"$T/l1"
	dd if="$D/root-2.img" bs=512K skip=$i count=1 2>/dev/null | cmp -s - "$T/l1" &&
		shared=$((shared + $(fsize "$T/l1")))
	i=$((i + 1))
done
[ "$(field seeded_bytes <"$T/j")" -le $((changed + shared)) ] || fail "a lying map's blocks were taken: $(cat "$T/j")"
[ "$(field verify_failures <"$T/j")" = 0 ] || fail "the server was blamed for the map"
echo "ok: a lying map: $(fetched) bytes fetched, nothing wrong kept"
# A map that does not parse: a cold start, said so.
printf 'uloop-seed 1\nfrom x\n' >"$D/root-2.from-1.seed"
cp "$T/c1" "$T/c"
hydrate "$url" --cache "$T/c" >/dev/null 2>"$T/err" || fail "hydrate with a broken map failed"
grep -q "no update from the version on the flash: .*root-2.from-1.seed: line 2" "$T/err" ||
	fail "a broken map was not named: $(cat "$T/err")"
cp "$T/map.good" "$D/root-2.from-1.seed"
# A damaged pack: a byte flipped (zstd's checksum or the tree refuses it),
# or cut short: said so, the blocks fetched one range at a time.
cp "$D/root-2.from-1.pack" "$T/pack.good"
for damage in flip cut; do
	cp "$T/pack.good" "$D/root-2.from-1.pack"
	n=$(fsize "$T/pack.good")
	if [ $damage = flip ]; then
		flip_byte "$D/root-2.from-1.pack" $((n / 2))
	else
		head -c $((n / 2)) "$T/pack.good" >"$D/root-2.from-1.pack"
	fi
	cp "$T/c1" "$T/c"
	hydrate "$url" --cache "$T/c" >/dev/null 2>"$T/err" || fail "hydrate with a $damage pack failed: $(cat "$T/err")"
	grep -q "root-2.from-1.pack: .*; its blocks are fetched one range at a time" "$T/err" ||
		fail "a $damage pack was not named: $(cat "$T/err")"
	$U export "$T/c" "$T/out" && cmp "$T/out" "$T/dev2" || fail "a $damage pack made a wrong cache"
done
cp "$T/pack.good" "$D/root-2.from-1.pack"
echo "ok: damaged packs"

# 6. A version that shares nothing, then the old image again (downgrade).
make_image "$T/other" $((3 * 1024 * 1024))
$U publish "$T/other" "$D" --name root >"$T/pub3" || fail "publish v3"
grep -q "^no seed map from version 2: it shares no block with this one" "$T/pub3" ||
	fail "publish made a map from an unrelated version: $(cat "$T/pub3")"
hydrate "$url" --cache "$T/c" >/dev/null 2>"$T/err" || fail "hydrate of v3 failed"
grep -q "held another image; dropped" "$T/err" || fail "no cold start for a stranger: $(cat "$T/err")"
$U publish "$T/v1.sqfs" "$D" --name root >"$T/pub4" || fail "publish v4 (v1's image)"
grep -q "^seed map from version 1: $(($(fsize "$T/v1.sqfs") / 4096)) of" "$T/pub4" ||
	fail "v4 is not all of version 1: $(cat "$T/pub4")"
cp "$T/c" "$T/c3"	# version 3
cp "$T/c1" "$T/c"	# a node still on version 1 ...
: >"$one_log"
hydrate "$url" --cache "$T/c" >/dev/null 2>&1 || fail "v1 -> v4 failed"
tree4=$(fsize "$D/root-4.verity")
[ "$(fetched)" -le $((tree4 / 100 + 8192)) ] || fail "v1 -> v4 (the same image) fetched $(fetched) bytes"
cmp "$T/v1.sqfs" - <<-EOF2 2>/dev/null || :
EOF2
$U cat "$url" --cache "$T/c" --length "$(fsize "$T/v1.sqfs")" | cmp - "$T/v1.sqfs" ||
	fail "v4 read back is not v1's image"
echo "ok: a stranger starts cold; the old image again costs $(fetched) bytes"

# 7. Signed: the seed lines are under the signature.
openssl ecparam -name prime256v1 -genkey -noout -out "$T/key.pem" 2>/dev/null
openssl ec -in "$T/key.pem" -pubout -out "$T/key.pub" 2>/dev/null
$U publish "$T/v2.sqfs" "$D" --name root --sign "$T/key.pem" >/dev/null || fail "publish v5"
grep -q "^seed 4 " "$D/root.uloop" || fail "v5 has no map from v4"
cp "$T/c" "$T/c4"
: >"$one_log"
hydrate "$url" --cache "$T/c" --verity-key "$T/key.pub" >/dev/null 2>&1 || fail "signed update failed"
[ "$(fetched)" -le $((changed + tree_max)) ] || fail "signed v4 -> v5 fetched $(fetched) bytes"
sed 's/^seed 4 \([0-9a-f]*\) root-5.from-4.seed$/seed 4 \1 root-5.from-3.seed/' "$D/root.uloop" >"$T/m" &&
	cat "$T/m" >"$D/root.uloop"
cp "$T/c4" "$T/c"
hydrate "$url" --cache "$T/c" --verity-key "$T/key.pub" >/dev/null 2>"$T/err" &&
	fail "a manifest with an edited seed line was used"
grep -q "refusing it" "$T/err" || fail "no refusal of the edited manifest: $(cat "$T/err")"
echo "ok: signed seed lines"

# 8. An image updated in place (ext4, erofs): the new version is salted
# like the old, so a leaf whose 128 blocks did not change is the old
# leaf, and the boot reads those blocks from the flash as a warm one
# does: not an image byte fetched for them.  A version salted otherwise
# (published where the older tree could not be read) is still right.
F=$T/flat
mkdir -p "$F"
make_image "$T/f1" $((4 * 1024 * 1024))
cp "$T/f1" "$T/f2"
printf 'changed' | dd of="$T/f2" bs=1 seek=$((3 * 1024 * 1024 + 100)) conv=notrunc 2>/dev/null
$U publish "$T/f1" "$F" --name flat >/dev/null || fail "publish flat v1"
salt() { dd if="$1" bs=1 skip=88 count=32 2>/dev/null | od -An -tx1 | tr -d ' \n'; }
furl="http://127.0.0.1:$one_http/flat/flat.uloop"
mv "$F" "$D/flat"
hydrate "$furl" --cache "$T/f1c" >/dev/null || fail "hydrate flat v1"
$U publish "$T/f2" "$D/flat" --name flat >/dev/null || fail "publish flat v2"
[ "$(salt "$D/flat/flat-2.verity")" = "$(salt "$D/flat/flat-1.verity")" ] ||
	fail "version 2 is not salted like version 1"
img_fetched() { awk -v f="$1" '$2 == f && $3 != "bytes=0-0" { n += $NF } END { print n + 0 }' "$one_log"; }
# The map made to lie (every run at the old image's second byte): the
# shared leaves do not need it.
cp "$D/flat/flat-2.from-1.seed" "$T/fmap"
awk 'NR > 8 { $3 = 1 } { print }' "$T/fmap" >"$D/flat/flat-2.from-1.seed"
cp "$T/f1c" "$T/fc"
: >"$one_log"
$U cat "$furl" --cache "$T/fc" --length $((2 * 1024 * 1024)) --stats >"$T/part" 2>"$T/err" || fail "cat of flat v2 failed: $(cat "$T/err")"
cp "$T/fmap" "$D/flat/flat-2.from-1.seed"
head -c $((2 * 1024 * 1024)) "$T/f2" | cmp - "$T/part" || fail "flat v2's first 2 MiB differ"
# Counted as what they are: hits, served.
[ "$(field bytes_served <"$T/err")" = $((2 * 1024 * 1024)) ] && [ "$(field hit_blocks <"$T/err")" = 512 ] ||
	fail "reads from the older version miscounted: $(cat "$T/err")"
[ "$(img_fetched /flat/flat-2.img)" = 0 ] || fail "unchanged leaves fetched image bytes: $(cat "$one_log")"
# (The tree's superblock and the level above the leaves, 4 KiB each, are
# what every start loads.)
[ "$(img_fetched /flat/flat-2.verity)" -le 8192 ] || fail "unchanged leaves fetched their hash blocks: $(cat "$one_log")"
# All of it: the changed block is all the image that is fetched.
: >"$one_log"
$U cat "$furl" --cache "$T/fc" --length $((4 * 1024 * 1024)) | cmp - "$T/f2" || fail "flat v2 read back differs"
[ "$(img_fetched /flat/flat-2.img)" = 4096 ] || fail "more than the changed block fetched: $(cat "$one_log")"
echo "ok: in place: salted alike, unchanged leaves read from the flash, only the changed block fetched"
$U check "$T/fc" --source "$furl" >/dev/null || fail "check of flat v2 failed"
# Salted otherwise: the older tree unreadable when version 3 is published.
cp "$T/f2" "$T/f3"
printf 'again' | dd of="$T/f3" bs=1 seek=100 conv=notrunc 2>/dev/null
mv "$D/flat/flat-2.verity" "$T/v2.verity"
$U publish "$T/f3" "$D/flat" --name flat >/dev/null 2>&1
mv "$T/v2.verity" "$D/flat/flat-2.verity"
[ -s "$D/flat/flat-3.verity" ] || fail "publish flat v3 failed"
[ "$(salt "$D/flat/flat-3.verity")" != "$(salt "$D/flat/flat-2.verity")" ] || fail "v3 took a salt it could not read"
cp "$T/fc" "$T/fc3"
$U cat "$furl" --cache "$T/fc3" --length $((4 * 1024 * 1024)) | cmp - "$T/f3" || fail "flat v3 (salted otherwise) read back differs"
$U check "$T/fc3" --source "$furl" >/dev/null || fail "check of flat v3 failed"
echo "ok: a version salted otherwise is read right"
