#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R2
# A redirect is resolved once and its target reused; when the target stops
# working (a pre-signed URL expires, the image moves), uloop resolves the
# original URL again and carries on if it is still the same image, or
# stops with "the image changed" if it is not.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"

mkdir -p "$T/www/a" "$T/www/b"
size=$((24 * 1024 * 1024))
make_image "$T/www/a/img" $size
start_nginx web "$T/www"
conf=$T/nginx-web/nginx.conf site=$T/nginx-web/site.conf
# /latest/img redirects to /a/img while that exists, else to /b/img:
# decided per request, so moving files moves the target (a reload would
# not: old workers keep serving their keep-alive connections).
sed -i 's|location /r/ {|location = /latest/img { if (-f $document_root/a/img) { return 302 /a/img; } return 302 /b/img; }\n\t\tlocation /r/ {|' "$site"
nginx -c "$conf" -s reload
sleep 0.5
url="http://127.0.0.1:$web_http/latest/img"

: >"$web_log"
$ULOOP_NET hydrate "$url" --cache "$T/c" --rate 8M --no-progress >/dev/null 2>"$T/err" &
pid=$!
sleep 1
# The image moves (same file: same ETag); the old target now 404s.
mv "$T/www/a/img" "$T/www/b/img"
rc=0
wait $pid || rc=$?
[ $rc -eq 0 ] || fail "hydrate across a moved target exited $rc: $(cat "$T/err")"
grep -q "^GET /a/img .* 404 " "$web_log" || fail "the old target never failed"
[ "$(grep -c '^GET /latest/img ' "$web_log")" -eq 2 ] ||
	fail "expected the redirect resolved twice: $(grep '^GET /latest' "$web_log")"
grep -q "^GET /b/img .* 206 " "$web_log" || fail "the new target was not used"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/www/b/img" || fail "export after re-resolving differs"
echo "target moved mid-hydrate: re-resolved once, finished from the new target"

# Re-resolving to another image is an image change, not a silent switch.
rm -f "$T/c"
$ULOOP_NET hydrate "$url" --cache "$T/c" --rate 8M --no-progress >/dev/null 2>"$T/err" &
pid=$!
sleep 1
make_image "$T/www/new" $size
touch -d "@$(( $(date +%s) - 50 ))" "$T/www/new"
mv "$T/www/new" "$T/www/a/img"
rm "$T/www/b/img"
rc=0
wait $pid || rc=$?
[ $rc -eq 1 ] || fail "switch to another image exited $rc"
grep -q "the image changed on the server" "$T/err" || fail "wrong error: $(cat "$T/err")"
