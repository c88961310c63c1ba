#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R4
# A cache kept as a User-Mode Linux COW file (--format uml-cow): over a
# local image it fills as any cache does, `uloop info` knows it by its
# magic, and it is a real UML COW file: uml_moo merges it (half filled,
# then whole) into exactly the image.  Over an image nginx serves, a warm
# attach fetches nothing and `check --source` passes.  The image changed
# under it: dropped and laid out anew, never served stale.  A COW of
# writes (uml_mkcow's) is refused as a cache, a cache refused as a COW of
# writes, a native cache refused as --format uml-cow unless --wipe, which
# lays it out anew (and back and forth between the formats).  (test-failpoints
# and test-kill9 crash it at each step of the write order.)
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires_root
requires uml_moo uml_mkcow
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }

size=$((6 * 1024 * 1024 + 3 * 512))	# UML serves whole sectors
make_image "$T/img" $size
attach() {	# attach SOURCE CACHE [options]: FUSE at $T/dev
	_s=$1 _c=$2
	shift 2
	$ULOOP attach "$_s" --cache "$_c" --transport fuse --device "$T/dev" "$@" >/dev/null
}
on_exit "$ULOOP detach $T/dev 2>/dev/null || true"

# 1. A local image: half read, merged by uml_moo; then whole.
attach "$T/img" "$T/c.cow" --format uml-cow || fail "attach --format uml-cow"
dd if="$T/dev" of=/dev/null bs=64k count=40 2>/dev/null
$ULOOP detach "$T/dev"
$ULOOP info "$T/c.cow" >"$T/info" || fail "info: $(cat "$T/info")"
grep -q "format: *uml-cow" "$T/info" || fail "info: $(cat "$T/info")"
grep -q "image: *$T/img" "$T/info" || fail "info: $(cat "$T/info")"
half=$(sed -n 's/present: *\([0-9]*\) of.*/\1/p' "$T/info")
[ "$half" -gt 0 ] || fail "nothing cached: $(cat "$T/info")"
head -c 8 "$T/c.cow" | od -An -tx1 | tr -d ' \n' | grep -q '^4f4f4f4d00000003$' ||
	fail "not a UML COW V3 header"
uml_moo "$T/c.cow" "$T/moo.half" >/dev/null || fail "uml_moo refused the half-filled cache"
cmp "$T/moo.half" "$T/img" || fail "uml_moo merged the half-filled cache into other bytes"
attach "$T/img" "$T/c.cow" || fail "attach (its format from its magic)"
cmp "$T/dev" "$T/img" || fail "the device does not read as the image"
$ULOOP detach "$T/dev"
$ULOOP check "$T/c.cow" --source "$T/img" || fail "check"
$ULOOP info "$T/c.cow" | grep -q "present: *\([0-9]*\) of \1 blocks" || fail "not whole: $($ULOOP info "$T/c.cow")"
rm -f "$T/moo"
uml_moo "$T/c.cow" "$T/moo" >/dev/null || fail "uml_moo refused the whole cache"
cmp "$T/moo" "$T/img" || fail "uml_moo merged the whole cache into other bytes"
echo "local image: $half blocks, then all; uml_moo merges both into the image"

# 2. The image changed: the cache is laid out anew, never served stale.
dd if=/dev/urandom of="$T/img" bs=4096 count=16 conv=notrunc 2>/dev/null
touch -d '+1 minute' "$T/img"
attach "$T/img" "$T/c.cow" 2>"$T/err" || fail "attach after the change: $(cat "$T/err")"
cmp "$T/dev" "$T/img" || fail "served the old image's bytes"
$ULOOP detach "$T/dev"
echo "changed image: $(tr '\n' ' ' <"$T/err")"

# 3. Over HTTP: warm attach fetches nothing.
mkdir -p "$T/www"
cp "$T/img" "$T/www/img"
start_nginx web "$T/www"
url=http://127.0.0.1:$web_http/img
attach "$url" "$T/u.cow" --format uml-cow || fail "attach URL"
cmp "$T/dev" "$T/img" || fail "URL: the device does not read as the image"
$ULOOP detach "$T/dev"
: >"$web_log"
attach "$url" "$T/u.cow" || fail "warm attach URL"
cmp "$T/dev" "$T/img" || fail "URL warm: the device does not read as the image"
$ULOOP detach "$T/dev"
[ -z "$(image_fetches "$web_log")" ] || fail "the warm attach fetched: $(image_fetches "$web_log")"
$ULOOP check "$T/u.cow" --source "$url" || fail "check URL"
$ULOOP info "$T/u.cow" | grep -q "image: *$url" || fail "info URL: $($ULOOP info "$T/u.cow")"
echo "URL: warm attach fetched nothing, check passes"

# 4. Refusals.
(cd "$T" && uml_mkcow -f w.cow img >/dev/null) || fail "uml_mkcow"
expect_fail 1 "a UML COW file of writes (made by uml_mkcow, UML or --cow), not a cache" \
	$ULOOP attach "$T/img" --cache "$T/w.cow" --transport fuse --device "$T/dev"
expect_fail 1 "a uloop cache kept as a UML COW file (--format uml-cow)" \
	$ULOOP attach "$T/img" --cow "$T/c.cow" --transport fuse --device "$T/dev"
$ULOOP hydrate "$T/img" --cache "$T/n.cache" --no-progress >/dev/null
expect_fail 1 "its format is native, not uml-cow" \
	$ULOOP hydrate "$T/img" --cache "$T/n.cache" --format uml-cow --no-progress
# --wipe lays a cache of another format out anew in the one asked for,
# with nothing of the old one's state (compact's seeded checksums).
for f in uml-cow compact native uml-cow; do
	$ULOOP hydrate "$T/img" --cache "$T/n.cache" --format $f --wipe --no-progress >/dev/null ||
		fail "--format $f --wipe"
	$ULOOP info "$T/n.cache" | grep -q "format: *$f" || fail "--wipe did not make a $f cache"
	$ULOOP check "$T/n.cache" --source "$T/img" >/dev/null || fail "--format $f --wipe: check"
done
echo "--wipe: native -> uml-cow -> compact -> native -> uml-cow, each checked"
expect_fail 2 "--cache-size needs a compact cache, not --format uml-cow" \
	$ULOOP hydrate "$T/img" --cache "$T/x.cow" --format uml-cow --cache-size 1M
echo "uml-cow cache: all checks passed"
