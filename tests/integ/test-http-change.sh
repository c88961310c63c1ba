#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: R1 R2; partly R4
# The image atomically replaced on the web server (mv, as a publisher
# does): between runs the cache is dropped and the new image comes out
# whole; during a hydrate the run stops with "the image changed" on the
# first request that sees it (412 to If-Match), and every block it kept is
# the old image's.  --offline keeps a cache of the old image and refuses.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"

mkdir -p "$T/www"
size=$((32 * 1024 * 1024))
make_image "$T/a" $size
make_image "$T/b" $size
cp "$T/a" "$T/www/img"
start_nginx web "$T/www"
url="http://127.0.0.1:$web_http/img"

publish() {	# publish FILE: atomically replace the served image
	cp "$1" "$T/www/.img.new"
	touch -d "@$(( $(date +%s) + ${2:-0} ))" "$T/www/.img.new"
	mv "$T/www/.img.new" "$T/www/img"
}

# Between runs.
$ULOOP_NET hydrate "$url" --cache "$T/c" --block-size 64K --no-progress >/dev/null
publish "$T/b" 5
expect_fail 1 "holds another image" $ULOOP_NET hydrate "$url" --cache "$T/c" --block-size 64K --offline
$ULOOP_NET export "$T/c" "$T/out"
cmp -s "$T/out" "$T/a" || fail "--offline changed the cache"
$ULOOP_NET hydrate "$url" --cache "$T/c" --block-size 64K --no-progress >/dev/null 2>"$T/err"
grep -q "dropped its 512 blocks" "$T/err" || fail "no drop: $(cat "$T/err")"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/b" || fail "cache mixes images after a replacement"

# During a hydrate: slow it down, replace the image, it must stop.
publish "$T/a" 10
rm -f "$T/c"
: >"$web_log"
$ULOOP_NET hydrate "$url" --cache "$T/c" --block-size 64K --rate 8M --connections 2 \
	--no-progress >/dev/null 2>"$T/err" &
pid=$!
sleep 1
publish "$T/b" 20
rc=0
wait $pid || rc=$?
[ $rc -eq 1 ] || fail "hydrate across a replacement exited $rc: $(cat "$T/err")"
grep -q "precondition failed (412): the image changed on the server" "$T/err" ||
	fail "wrong error: $(cat "$T/err")"
grep -q " 412 " "$web_log" || fail "no 412 in the server log"
present=$($ULOOP info "$T/c" --json | json_get blocks_present)
[ "$present" -gt 0 ] && [ "$present" -lt 512 ] || fail "$present blocks kept"
$ULOOP check "$T/c" --source "$T/a" --ignore-identity >/dev/null ||
	fail "a block of the new image was cached under the old identity"
# ...and the next run drops those and fetches the new image whole.
$ULOOP_NET hydrate "$url" --cache "$T/c" --block-size 64K --no-progress >/dev/null 2>&1
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/b" || fail "after the replacement the new image is not whole"
echo "replaced mid-hydrate: stopped on 412; $present old blocks kept, all correct"


# Two different images with the same size and mtime have the same nginx
# ETag ("mtime-size"): the URL is part of the identity, so one is never
# served from the other's cache.
make_image "$T/www/one.img" $((4 * 1024 * 1024))
make_image "$T/www/two.img" $((4 * 1024 * 1024))
touch -d @1700000000 "$T/www/one.img" "$T/www/two.img"
rm -f "$T/c"
$ULOOP_NET hydrate "http://127.0.0.1:$web_http/one.img" --cache "$T/c" --block-size 64K --no-progress >/dev/null
$ULOOP_NET cat "http://127.0.0.1:$web_http/two.img" --cache "$T/c" --block-size 64K >"$T/out" 2>"$T/err"
cmp "$T/out" "$T/www/two.img" || fail "same ETag, another URL: served the other image"
grep -q "dropped its" "$T/err" || fail "same ETag, another URL: cache not dropped"
# ...while a pre-signed URL's changing query is the same image.
$ULOOP_NET hydrate "http://127.0.0.1:$web_http/two.img?sig=1" --cache "$T/c" --block-size 64K --json \
	--no-progress >"$T/h" 2>"$T/err"
[ "$(json_get bytes_fetched <"$T/h")" -eq 0 ] || fail "a new query string dropped the cache"
echo "ETag identity is per URL (query ignored)"
