#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I3
# Verify on fetch: a manifest URL (uloop publish) served by nginx, read
# through the cache with every fetched block checked against the hash
# tree.  Tampering servers (a flipped byte in a data block, in a leaf hash
# block, in a level above), a mirror that saves the run, a wrong root
# hash, signatures (right key, other key, unsigned, edited manifest), and
# a new version published while a node reads the old one.  Nothing that
# fails verification is ever cached or served.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"

D=$T/www
mkdir -p "$D"
size=$((5 * 1024 * 1024 + 100))
make_image "$T/img" $size
openssl ecparam -name prime256v1 -genkey -noout -out "$T/key.pem" 2>/dev/null
openssl ec -in "$T/key.pem" -pubout -out "$T/key.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/other.pem" 2>/dev/null
openssl ec -in "$T/other.pem" -pubout -out "$T/other.pub" 2>/dev/null
$ULOOP_NET publish "$T/img" "$D" --name root --sign "$T/key.pem" >"$T/pub.out" ||
	fail "publish failed"
root=$(sed -n 's/^root-hash //p' "$D/root.uloop")
grep -q "^  root=uloop:URL/root.uloop rd.uloop.roothash=$root\$" "$T/pub.out" ||
	fail "publish printed no manifest command line: $(cat "$T/pub.out")"
cat "$D/root-1.img" "$D/root-1.verity" >"$T/device"	# what a node's device is
start_nginx one "$D"
url="http://127.0.0.1:$one_http/root.uloop"

hydrate() {
	$ULOOP_NET hydrate "$@" --no-progress --json
}
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" | head -n 1; }

# 1. The whole version, verified: the device is the image and its tree.
hydrate "$url" --cache "$T/c" --root-hash "$root" >"$T/j" || fail "hydrate failed"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/device" || fail "the cached device is not image + hash tree"
cp "$T/c" "$T/c-full"	# a complete cache of version 1, for offline
[ "$(field verify_failures <"$T/j")" = 0 ] || fail "failures counted on good data: $(cat "$T/j")"
$ULOOP_NET info "$T/c" >"$T/info"
grep -q "$root" "$T/info" || fail "the cache is not bound to the root hash: $(cat "$T/info")"
# A warm run asks for the manifest and the two files' sizes, and no
# sample of the cache (the root hash names every byte).
: >"$one_log"
hydrate "$url" --cache "$T/c" --root-hash "$root" >/dev/null || fail "warm hydrate failed"
[ "$(grep -c ' /root-1\.' "$one_log")" = 2 ] && ! grep ' /root-1\.' "$one_log" | grep -qv 'bytes=0-0' ||
	fail "a warm run fetched image or tree bytes: $(cat "$one_log")"
echo "ok: verified hydrate, warm run fetches nothing"

# 2. Cat reads verified bytes too, signature checked with the right key.
$ULOOP_NET cat "$url" --verity-key "$T/key.pub" --length $size >"$T/out" || fail "cat failed"
cmp "$T/out" "$T/img" || fail "cat differs"

# 3. Trust refused: nothing of the manifest is read, nothing cached.
refused() {
	msg=$1
	shift
	rm -f "$T/cr"
	: >"$one_log"
	expect_fail 1 "$msg" $ULOOP_NET hydrate "$url" --cache "$T/cr" --no-progress "$@"
	grep -q ' /root-1\.' "$one_log" && fail "a refused manifest's files were read"
	[ ! -s "$T/cr" ] || [ "$($ULOOP_NET info "$T/cr" --json | json_get blocks_present)" = 0 ] ||
		fail "a refused manifest left blocks in the cache"
}
wrong=$(printf %s "$root" | tr 0-9a-f 1-9a-f0)
refused "root hash $root is not the trusted $wrong" --root-hash "$wrong"
refused "the signature does not verify with the key $T/other.pub" --verity-key "$T/other.pub"
refused "$T/key.pem: not a public key" --verity-key "$T/key.pem"
cp "$D/root.uloop" "$T/signed.uloop"
sed -i 's/^version 1$/version 9/' "$D/root.uloop"
refused "the signature does not verify with the key $T/key.pub" --verity-key "$T/key.pub"
sed '$d' "$T/signed.uloop" >"$D/root.uloop"	# the signature line cut
refused "not signed, and the key $T/key.pub must verify it" --verity-key "$T/key.pub"
cp "$T/signed.uloop" "$D/root.uloop"
expect_fail 1 "a root hash can only be checked through a manifest" \
	$ULOOP_NET cat "http://127.0.0.1:$one_http/root-1.img" --root-hash "$root"

# 3b. Attached (FUSE here: no dm on this host): the device is image +
# tree, `uloop status` says what vouches for it, `uloop verity` refuses
# what it cannot stack on, with one line each.
if [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; then
	rm -f "$T/ca"
	$ULOOP_NET attach "$url" --root-hash "$root" --cache "$T/ca" --transport fuse \
		--device "$T/dev" >/dev/null 2>"$T/err" || fail "attach of a manifest: $(cat "$T/err")"
	on_exit "$ULOOP detach $T/dev 2>/dev/null"
	cmp "$T/dev" "$T/device" || fail "the attached device is not image + hash tree"
	$ULOOP status "$T/dev" >"$T/st"
	grep -q "verified: root hash $root (root version 1), 0 fetches refused" "$T/st" ||
		fail "status does not say what vouches for the device: $(cat "$T/st")"
	$ULOOP status "$T/dev" --json | grep -q "\"verity\":{\"root_hash\":\"$root\"" ||
		fail "no verity object in the run state"
	expect_fail 1 "$T/dev: not a block device" $ULOOP verity "$T/dev"
	expect_fail 1 "its image's root hash is $root, not the trusted $wrong; refusing it" \
		$ULOOP verity "$T/dev" --root-hash "$wrong"
	$ULOOP detach "$T/dev" || fail "detach failed"
	$ULOOP_NET attach "http://127.0.0.1:$one_http/root-1.img" --transport fuse \
		--device "$T/dev" >/dev/null 2>"$T/err" || fail "attach of the plain image: $(cat "$T/err")"
	expect_fail 1 "is not a verified image (attach a manifest, NAME.uloop)" $ULOOP verity "$T/dev"
	$ULOOP detach "$T/dev" || fail "detach failed"
	# Offline there is no manifest: the root hash trusted must be the
	# complete cache's, or it is not served.
	kill "$(cat "$T/nginx-one/nginx.pid")"
	while [ -e "$T/nginx-one/nginx.pid" ]; do sleep 0.1; done
	expect_fail 1 "not the trusted root hash $wrong" $ULOOP_NET attach "$url" --offline \
		--root-hash "$wrong" --cache "$T/c-full" --transport fuse --device "$T/dev"
	$ULOOP_NET attach "$url" --offline --root-hash "$root" --cache "$T/c-full" --transport fuse \
		--device "$T/dev" >/dev/null 2>"$T/err" || fail "offline attach: $(cat "$T/err")"
	grep -q "serving the cached image offline" "$T/err" || fail "not offline: $(cat "$T/err")"
	cmp "$T/dev" "$T/device" || fail "the offline device differs"
	$ULOOP detach "$T/dev" || fail "detach failed"
	nginx -c "$T/nginx-one/nginx.conf" || fail "nginx did not restart"
fi
expect_fail 1 "/dev/nbd99: not attached" $ULOOP verity /dev/nbd99
expect_fail 2 "--mode: 'off' is not eio, restart or panic" $ULOOP verity /dev/nbd0 --mode off
expect_fail 2 "--root-hash: 'abc' is not 64 hex digits" $ULOOP verity /dev/nbd0 --root-hash abc
echo "ok: attached manifest, status, uloop verity's refusals, offline with the root hash"

# 4. A tampering primary (a byte flipped in one block of every 512 KiB,
# so whichever range it is asked for is bad; same size and mtime: same
# ETag) with a good mirror: its bytes are refused, the server dropped,
# the mirror used, the failure counted; the cache ends up exact.
mkdir -p "$T/bad"
cp -p "$D"/root* "$T/bad/"
off=77
while [ $off -lt $size ]; do
	flip_byte "$T/bad/root-1.img" $off
	off=$((off + 512 * 1024 + 4096))
done
start_nginx bad "$T/bad"
bad="http://127.0.0.1:$bad_http/root.uloop"
rm -f "$T/c"
hydrate "$bad" --mirror "$url" --cache "$T/c" --root-hash "$root" >"$T/j" 2>"$T/err" ||
	fail "hydrate with a good mirror failed: $(cat "$T/err")"
[ "$(field verify_failures <"$T/j")" -ge 1 ] || fail "the bad block was not counted: $(cat "$T/j")"
grep -q "127.0.0.1:$bad_http/root-1.img dropped: data block [0-9]* (bytes [0-9]*+4096) does not match its hash" "$T/err" ||
	fail "the tampering server was not named: $(cat "$T/err")"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/device" || fail "a tampered byte reached the cache"
echo "ok: tampering primary refused, mirror used, counted"

# 5. The tampering server alone: the read fails with EIO, the bad block
# is never cached (the good server then fills the same cache exactly).
cp -p "$D/root-1.img" "$T/bad/"
flip_byte "$T/bad/root-1.img" $((3 * 1024 * 1024 + 77))
rm -f "$T/c"
expect_fail 1 "data block 768 (bytes 3145728+4096) does not match its hash" \
	$ULOOP_NET hydrate "$bad" --cache "$T/c" --no-progress --connections 1
[ "$($ULOOP_NET info "$T/c" --json | json_get blocks_present)" -gt 0 ] ||
	fail "nothing was cached before the refusal"
# The server mended (same file, same ETag): the same cache, kept, is
# completed; had the bad block been stored, the export would differ.
cp -p "$D/root-1.img" "$T/bad/"
hydrate "$bad" --cache "$T/c" >/dev/null 2>"$T/err" || fail "hydrate after a refusal failed"
grep -q dropped "$T/err" && fail "the cache was dropped: $(cat "$T/err")"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/device" || fail "the refused block was cached"

# 6. A tampered leaf hash block: the data it vouches for fails, nothing
# else does; with a mirror, the run completes.  A tampered level above
# the leaves fails at open, naming the root hash.
cp -p "$D"/root* "$T/bad/"
# 1281 data blocks: the superblock's block, one block of level 1, 11 leaves.
[ "$(fsize "$D/root-1.verity")" = $((13 * 4096)) ] || fail "unexpected tree size"
flip_byte "$T/bad/root-1.verity" $(( (2 + 4) * 4096 + 9 ))	# leaf 4: data blocks 512..639
rm -f "$T/c"
expect_fail 1 "hash block 6 does not match the tree of root hash $root" \
	$ULOOP_NET hydrate "$bad" --cache "$T/c" --no-progress --connections 1
hydrate "$bad" --mirror "$url" --cache "$T/c" >"$T/j" 2>"$T/err" ||
	fail "hydrate with a mirror past a bad leaf failed: $(cat "$T/err")"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/device" || fail "a tampered hash block reached the cache"
cp -p "$D"/root* "$T/bad/"
flip_byte "$T/bad/root-1.verity" $((4096 + 40))
expect_fail 1 "hash block 1 does not match the tree of root hash $root" \
	$ULOOP_NET cat "$bad" --length 4096
echo "ok: tampered hash tree refused (a leaf: its data only; level 1: every read)"

# 7. A new version published while a node reads the old one: the reader
# finishes on its version, whole; the next run gets the new one.
rm -f "$T/c"
make_image "$T/img2" $size
hydrate "$url" --cache "$T/c" --rate 2M >"$T/j" 2>"$T/err" &
pid=$!
sleep 0.8
$ULOOP_NET publish "$T/img2" "$D" --name root --sign "$T/key.pem" >/dev/null ||
	fail "second publish failed"
wait $pid || fail "the reader failed when a new version was published: $(cat "$T/err")"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/device" || fail "the reader did not finish on version 1"
hydrate "$url" --cache "$T/c" --verity-key "$T/key.pub" >/dev/null 2>"$T/err" ||
	fail "hydrate of version 2 failed: $(cat "$T/err")"
$ULOOP_NET export "$T/c" "$T/out"
cat "$D/root-2.img" "$D/root-2.verity" | cmp - "$T/out" ||
	fail "the next run did not get version 2"
echo "ok: a publish during a read: the reader stays on its version"
