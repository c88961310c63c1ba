#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# uloop publish (docs/verity.md), against Debian's veritysetup:
#
#  - a published version is the image padded to 4 KiB blocks, and
#    `veritysetup verify` passes on it, its hash tree and the root hash
#    publish printed (and in the manifest); a changed byte fails it;
#  - each publish makes a new version and never touches an older one's
#    files; the manifest names the newest;
#  - a reader of the manifest during publishes only ever sees a whole
#    manifest naming files that exist (rename, not rewrite);
#  - two publishers at once both finish, on two versions;
#  - publish killed (-9) while it builds the tree leaves the manifest and
#    every published file as they were, and the next publish works;
#  - --prune N keeps the newest N versions;
#  - bad names, a missing or empty image, a missing DIR: one line saying so;
#  - --sign: openssl verifies the signature line over the manifest; a
#    P-384, RSA, encrypted, missing or public key is refused up front.
. "$(dirname "$0")/functions.sh"
requires veritysetup

D=$T/www
mkdir -p "$D"
make_image "$T/img" $((3 * 1024 * 1024 + 100))

field() { sed -n "s/^$1 //p" "$D/${2:-root}.uloop"; }

$ULOOP publish "$T/img" "$D" --name root >"$T/out" || fail "publish failed"
printed=$(sed -n 's/^root hash (dm-verity, sha256): \([0-9a-f]*\)$/\1/p' "$T/out")
grep -q "^  root=uloop:URL/root.uloop rd.uloop.roothash=[0-9a-f]\{64\}$" "$T/out" || fail "no kernel command line: $(cat "$T/out")"
[ "$printed" = "$(field root-hash)" ] || fail "printed root hash $printed, manifest $(field root-hash)"
[ "$(field version)" = 1 ] || fail "first version is $(field version)"
[ "$(field image)" = root-1.img ] && [ "$(field hash-tree)" = root-1.verity ] ||
	fail "manifest names $(field image) and $(field hash-tree)"
[ "$(stat -c %s "$D/root-1.img")" = $((3 * 1024 * 1024 + 4096)) ] ||
	fail "root-1.img is $(stat -c %s "$D/root-1.img") bytes, not the image padded to 4 KiB"
cmp -n $((3 * 1024 * 1024 + 100)) "$T/img" "$D/root-1.img" || fail "root-1.img differs from the image"
[ "$(tail -c 3996 "$D/root-1.img" | tr -d '\0' | wc -c)" = 0 ] || fail "the padding is not zeros"
veritysetup verify "$D/root-1.img" "$D/root-1.verity" "$printed" ||
	fail "veritysetup verify refused the published version"
cp "$D/root-1.img" "$T/bad.img"
flip_byte "$T/bad.img" 1234567
veritysetup verify "$T/bad.img" "$D/root-1.verity" "$printed" >/dev/null 2>&1 &&
	fail "veritysetup verify passed an image with a changed byte"
echo "version 1: veritysetup verify passes it, and fails it with one byte changed"

# New versions never touch older files; the manifest names the newest.
sum1=$(cat "$D/root-1.img" "$D/root-1.verity" | sha256sum)
make_image "$T/img2" $((2 * 1024 * 1024))
$ULOOP publish "$T/img2" "$D" --name root >/dev/null || fail "second publish failed"
[ "$(field version)" = 2 ] || fail "second version is $(field version)"
[ "$(cat "$D/root-1.img" "$D/root-1.verity" | sha256sum)" = "$sum1" ] || fail "version 1 changed"
veritysetup verify "$D/root-2.img" "$D/root-2.verity" "$(field root-hash)" || fail "version 2 does not verify"
echo "version 2: version 1's files untouched"

# A reader during publishes sees whole manifests naming existing files.
(
	while [ ! -e "$T/stop" ]; do
		cp "$D/root.uloop" "$T/seen" 2>/dev/null || continue
		[ "$(head -n 1 "$T/seen")" = "uloop-manifest 1" ] &&
			tail -n 1 "$T/seen" | grep -Eq '^(hash-tree root-[0-9]+\.verity|seed [0-9]+ [0-9a-f]{64} root-[0-9]+\.from-[0-9]+\.seed)$' ||
			{ echo "torn manifest:"; cat "$T/seen"; } >>"$T/reader.err"
		for v in $(sed -n 's/^image //p; s/^seed [0-9]* [0-9a-f]* //p' "$T/seen"); do
			[ -e "$D/$v" ] || echo "manifest names missing $v" >>"$T/reader.err"
		done
	done
) &
reader=$!
on_exit "touch $T/stop; kill $reader 2>/dev/null"
for i in 1 2 3 4 5 6; do
	$ULOOP publish "$T/img" "$D" --name root >/dev/null || fail "publish $i failed"
done
touch "$T/stop"
wait "$reader"
[ ! -s "$T/reader.err" ] || fail "a reader saw: $(head -n 5 "$T/reader.err")"
[ "$(field version)" = 8 ] || fail "after 8 publishes the version is $(field version)"
echo "8 versions: a reader never saw a torn manifest or a missing file"

# Two publishers at once: two versions, both whole.
$ULOOP publish "$T/img" "$D" --name root >"$T/a.out" &
a=$!
$ULOOP publish "$T/img2" "$D" --name root >"$T/b.out" || fail "concurrent publish b failed"
wait "$a" || fail "concurrent publish a failed"
va=$(sed -n 's/^published root version \([0-9]*\) .*/\1/p' "$T/a.out")
vb=$(sed -n 's/^published root version \([0-9]*\) .*/\1/p' "$T/b.out")
[ "$va" != "$vb" ] && [ -n "$va" ] && [ -n "$vb" ] || fail "concurrent publishes made versions '$va' and '$vb'"
for v in "$va" "$vb"; do
	[ -s "$D/root-$v.img" ] && [ -s "$D/root-$v.verity" ] || fail "version $v incomplete"
done
echo "two publishers at once: versions $va and $vb"

# Killed while building the tree: nothing published changes.
make_image "$T/big" $((192 * 1024 * 1024))
before=$(ls "$D" | sort | tr '\n' ' ')
msum=$(sha256sum <"$D/root.uloop")
$ULOOP publish "$T/big" "$D" --name root >/dev/null 2>&1 &
p=$!
for _i in $(seq 200); do
	ls -a "$D" | grep -q '^\.root-.*\.verity\.tmp$' && break
	sleep 0.05
done
kill -9 "$p"
wait "$p" 2>/dev/null || true
[ "$(sha256sum <"$D/root.uloop")" = "$msum" ] || fail "the manifest changed under a killed publish"
[ "$(ls "$D" | sort | tr '\n' ' ')" = "$before" ] || fail "a killed publish left published names: $(ls "$D")"
veritysetup verify "$D/$(field image)" "$D/$(field hash-tree)" "$(field root-hash)" ||
	fail "the current version does not verify after a killed publish"
$ULOOP publish "$T/img" "$D" --name root >/dev/null || fail "publish after a killed one failed"
ls -a "$D" | grep -q '\.tmp$' && fail "temporary files left: $(ls -a "$D")"
echo "killed while building the tree: manifest and files unchanged, the next publish cleans up"

# --prune keeps the newest N.
$ULOOP publish "$T/img" "$D" --name root --prune 2 >"$T/out" || fail "publish --prune failed"
grep -q "pruned" "$T/out" || fail "no pruned line: $(cat "$T/out")"
n=$(ls "$D" | grep -c '^root-[0-9]*\.img$')
[ "$n" = 2 ] || fail "--prune 2 left $n versions: $(ls "$D")"
top=$(field version)
[ -e "$D/root-$top.img" ] && [ -e "$D/root-$((top - 1)).img" ] || fail "--prune 2 did not keep the newest two"
echo "--prune 2: versions $((top - 1)) and $top kept"

# Another name next to it, named from the file.
cp "$T/img2" "$T/debian-12.squashfs"
$ULOOP publish "$T/debian-12.squashfs" "$D" >/dev/null || fail "publish with a default name failed"
[ "$(field version debian-12)" = 1 ] || fail "debian-12 starts at version $(field version debian-12)"

# Bad input.
expect_fail 2 "--name: '../x' is not a name" $ULOOP publish "$T/img" "$D" --name ../x
expect_fail 2 "--name: '.hidden' is not a name" $ULOOP publish "$T/img" "$D" --name .hidden
expect_fail 2 "--prune: invalid value '0'" $ULOOP publish "$T/img" "$D" --prune 0
expect_fail 2 "expected IMAGE and DIR" $ULOOP publish "$T/img"
expect_fail 1 "$T/none: No such file or directory" $ULOOP publish "$T/none" "$D"
: >"$T/empty"
expect_fail 1 "$T/empty: empty: nothing to publish" $ULOOP publish "$T/empty" "$D"
expect_fail 1 "$T/nodir: No such file or directory" $ULOOP publish "$T/img" "$T/nodir"
expect_fail 1 "$T/img: Not a directory" $ULOOP publish "$T/img" "$T/img"
ls -a "$D" | grep -q '\.tmp$' && fail "a refused publish left a temporary file"
[ "$(ls "$D" | grep -c '^empty')" = 0 ] || fail "the empty image left files: $(ls "$D")"
echo "bad input: named, nothing left behind"

# --sign: an ECDSA P-256 signature over the manifest that openssl verifies.
requires openssl
openssl ecparam -name prime256v1 -genkey -noout -out "$T/key.pem" 2>/dev/null
openssl ec -in "$T/key.pem" -pubout -out "$T/pub.pem" 2>/dev/null
$ULOOP publish "$T/img" "$D" --name signed --sign "$T/key.pem" >"$T/out" || fail "publish --sign failed"
grep -q "manifest signed with $T/key.pem (ecdsa-p256-sha256)" "$T/out" || fail "no signed line: $(cat "$T/out")"
tail -n 1 "$D/signed.uloop" | grep -q '^signature ecdsa-p256-sha256 [A-Za-z0-9+/=]*$' ||
	fail "no signature line: $(tail -n 1 "$D/signed.uloop")"
head -n -1 "$D/signed.uloop" >"$T/signed-part"
tail -n 1 "$D/signed.uloop" | cut -d' ' -f3 | base64 -d >"$T/sig.der"
openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/sig.der" "$T/signed-part" >/dev/null ||
	fail "openssl does not verify the manifest's signature"
sed 's/^version 1$/version 9/' "$T/signed-part" >"$T/forged"
openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/sig.der" "$T/forged" >/dev/null 2>&1 &&
	fail "the signature verifies a changed manifest"
echo "--sign: openssl verifies the manifest's signature, and refuses it on a changed manifest"

# Keys that cannot sign are refused before anything is written.
openssl ecparam -name secp384r1 -genkey -noout -out "$T/p384.pem" 2>/dev/null
openssl genrsa -out "$T/rsa.pem" 2048 2>/dev/null
openssl ec -in "$T/key.pem" -aes128 -passout pass:secret -out "$T/enc.pem" 2>/dev/null
before=$(ls "$D" | sort | tr '\n' ' ')
expect_fail 1 "$T/p384.pem: not an ECDSA P-256 (prime256v1) key" $ULOOP publish "$T/img" "$D" --name signed --sign "$T/p384.pem"
expect_fail 1 "$T/rsa.pem: not an ECDSA P-256 (prime256v1) key" $ULOOP publish "$T/img" "$D" --name signed --sign "$T/rsa.pem"
expect_fail 1 "$T/enc.pem: the key is encrypted" $ULOOP publish "$T/img" "$D" --name signed --sign "$T/enc.pem"
expect_fail 1 "$T/nokey.pem: cannot read the signing key" $ULOOP publish "$T/img" "$D" --name signed --sign "$T/nokey.pem"
expect_fail 1 "$T/pub.pem: not a private key" $ULOOP publish "$T/img" "$D" --name signed --sign "$T/pub.pem"
[ "$(ls "$D" | sort | tr '\n' ' ')" = "$before" ] || fail "a refused key left files: $(ls "$D")"
echo "keys that cannot sign: refused, nothing written"
