#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: R1
# The web server configs of configs/nginx, as an admin installs them: the
# origin site (uloop-origin.conf) and the cache tier in front of it
# (uloop-cache-tier.conf), each in its own nginx on 127.0.0.1 with only
# the lines their comments say to change changed.
#
#   1. the origin's replies: ranges with Accept-Ranges (once), MIME and
#      caching headers per kind of file
#   2. nodes through the tier: right bytes; the origin sends each part of
#      the image once, however many nodes read it, at once or after
#   3. a new version is seen through the tier at once (the manifest is
#      never served stale), and costs the origin only what changed
#   4. a plain image (no manifest) replaced in place on the origin: once
#      the tier revalidates, a node sees the new one and drops the old
#      one's blocks (never mixes the two)
set -eu
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires nginx
requires curl

CONF=$(cd "$(dirname "$0")/../../configs/nginx" && pwd)
U=$ULOOP_NET
D=$T/origin-root
mkdir -p "$D"

op=$(free_port)
config_site origin "$CONF/uloop-origin.conf" "s|listen 80;|listen 127.0.0.1:$op;|; s|root /srv/uloop;|root $D;|"
olog=$origin_log
tp=$(free_port)
mkdir -p "$T/tier-cache"
chmod a+rwx "$T/tier-cache"
config_site tier "$CONF/uloop-cache-tier.conf" \
	"s|listen 80;|listen 127.0.0.1:$tp;|; s|/var/cache/nginx/uloop|$T/tier-cache|; s|server origin.example.org:80;|server 127.0.0.1:$op;|"
origin="http://127.0.0.1:$op" tier="http://127.0.0.1:$tp"
# Image bytes the origin sent (every file of the image but the manifest).
origin_bytes() { awk '$2 !~ /\.uloop$/ { n += $NF } END { print n + 0 }' "$olog"; }

chmod a+rx "$D"
make_image "$T/v1" $((6 * 1024 * 1024 + 12288))
$U publish "$T/v1" "$D" --name root >/dev/null || fail "publish v1"
chmod -R a+rX "$D"
size1=$(fsize "$D/root-1.img")

# 1. The origin's headers.
hdr() { curl -sf -D - -o /dev/null "$@" | tr -d '\r'; }
hdr -r 0-99 "$origin/root-1.img" >"$T/h"
grep -q '^HTTP/1.1 206' "$T/h" || fail "no 206 for a range: $(cat "$T/h")"
grep -q '^Accept-Ranges: bytes$' "$T/h" || fail "no Accept-Ranges on a 206: $(cat "$T/h")"
grep -q '^Content-Type: application/octet-stream$' "$T/h" || fail "image MIME: $(cat "$T/h")"
grep -q '^Cache-Control: public, max-age=31536000, immutable$' "$T/h" || fail "a version is not immutable: $(cat "$T/h")"
grep -q '^ETag: "' "$T/h" || fail "no ETag: $(cat "$T/h")"
hdr "$origin/root-1.verity" >"$T/h"
[ "$(grep -c '^Accept-Ranges:' "$T/h")" = 1 ] || fail "Accept-Ranges not once on a 200: $(cat "$T/h")"
hdr "$origin/root.uloop" >"$T/h"
grep -q '^Cache-Control: no-cache$' "$T/h" || fail "the manifest may be cached: $(cat "$T/h")"
grep -q '^Content-Type: text/plain$' "$T/h" || fail "manifest MIME: $(cat "$T/h")"
echo "ok: the origin's headers"

# 2. Nodes through the tier: four at once, then one more.
: >"$olog"
nodes_at_once 4 "$tier/root.uloop" "$D/root-1.img"
once=$(origin_bytes)
tree1=$(fsize "$D/root-1.verity")
echo "4 nodes at once: the origin sent $once bytes (image $size1, tree $tree1)"
# Each slice once; the last one short.
[ "$once" -le $((size1 + tree1)) ] || fail "the origin sent $once bytes for 4 nodes: $(cat "$olog")"
$U hydrate "$tier/root.uloop" --cache "$T/n4" --no-progress >/dev/null || fail "node 4"
[ "$(origin_bytes)" = "$once" ] || fail "a fifth node cost the origin $(($(origin_bytes) - once)) bytes"
echo "ok: the origin sends each slice once"

# 3. Version 2 through the tier: seen at once, the origin sends the change.
publish_v2 "$T/v1" "$D"
: >"$olog"
$U hydrate "$tier/root.uloop" --cache "$T/n0" --no-progress >/dev/null 2>"$T/e" || fail "v2 through the tier: $(cat "$T/e")"
grep -q "root hash $(sed -n 's/^root-hash //p' "$D/root.uloop" | cut -c1-16)\|update from the version" "$T/e" ||
	fail "the tier served a stale manifest: $(cat "$T/e")"
$U export "$T/n0" "$T/out" && cmp -n "$(fsize "$D/root-2.img")" "$T/out" "$D/root-2.img" || fail "node 0 is not version 2"
v2=$(origin_bytes)
echo "v2 through the tier: the origin sent $v2 bytes"
# The changed blocks' slices, the tree's slices, the seed map and
# pack: not the image.
[ "$v2" -le $((1048576 + $(fsize "$D/root-2.verity") + 65536)) ] || fail "v2 cost the origin $v2 bytes: $(cat "$olog")"
echo "ok: a new version is seen at once, and costs the origin the change"

# 4. A plain image replaced in place: a node never mixes the two.
make_image "$D/plain.img" $((3 * 1024 * 1024))
chmod a+r "$D/plain.img"
$U cat "$tier/plain.img" --cache "$T/p" --length 1048576 >/dev/null 2>&1 || fail "plain image through the tier"
make_image "$T/plain2" $((3 * 1024 * 1024))
cp "$T/plain2" "$D/plain.img.new" && touch -d '+1 hour' "$D/plain.img.new" && mv "$D/plain.img.new" "$D/plain.img"
chmod a+r "$D/plain.img"
sleep 11	# the tier's 10 s, then it revalidates
$U cat "$tier/plain.img" --cache "$T/p" >"$T/out" 2>"$T/e" || fail "the replaced plain image: $(cat "$T/e")"
grep -q "held another image; dropped its 256 blocks" "$T/e" || fail "the old image's blocks were kept: $(cat "$T/e")"
cmp -s "$T/out" "$T/plain2" || fail "a read after the replacement is not the new image"
echo "ok: a plain image replaced in place is never mixed"
