#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly H6 T4
# Over HTTP and HTTPS from a real nginx: hydrate + export is byte-exact,
# 1000 random cat ranges equal the image, a warm rerun sends no data (only
# the one-byte identity probe, read from nginx's access log), and a
# redirect is resolved once per run, not per block.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"

mkdir -p "$T/www"
size=$((48 * 1024 * 1024 + 999))
make_image "$T/www/img" $size
make_ca "$T/pki"
make_cert "$T/pki" localhost "DNS:localhost,IP:127.0.0.1"
start_nginx web "$T/www" "$T/pki/localhost.pem" "$T/pki/localhost.key"

for url in "http://127.0.0.1:$web_http/img" "https://localhost:$web_https/img"; do
	c=$T/c.$(echo "$url" | cut -d: -f1)
	: >"$web_log"
	$ULOOP_NET hydrate "$url" --cache "$c" --ca "$T/pki/ca.pem" --json \
		--no-progress >"$T/h"
	[ "$(json_get bytes_fetched <"$T/h")" -eq $size ] || fail "$url: cold fetch"
	[ "$(body_bytes "$web_log")" -eq $((size + 1)) ] ||
		fail "$url: server sent $(body_bytes "$web_log"), expected image + probe"
	$ULOOP_NET export "$c" "$T/out"
	cmp "$T/out" "$T/www/img" || fail "$url: export differs"
	# Keep-alive: far fewer connections than requests.  A fill is
	# HTTP/1.1 on each connection even over TLS (http_client.h: bulk).
	reqs=$(wc -l <"$web_log")
	conns=$(awk '{ print $5 }' "$web_log" | sort -u | wc -l)
	[ $((conns * 4)) -le "$reqs" ] || fail "$url: $reqs requests on $conns connections"
	grep -q " HTTP/2.0 " "$web_log" && fail "$url: hydrate used HTTP/2"
	echo "$url: $reqs requests on $conns connections ($(awk '{ print $4 }' "$web_log" | sort -u | tr '\n' ' '))"
	case $url in
	https*)
		# Reads (cat, a daemon's misses): HTTP/2 over TLS.
		: >"$web_log"
		$ULOOP_NET cat "$url" --ca "$T/pki/ca.pem" --offset 1048576 \
			--length 65536 >"$T/part" || fail "$url: cat failed"
		grep -q " HTTP/2.0 " "$web_log" || fail "HTTPS reads did not use HTTP/2"
		echo "$url: reads over $(awk '{ print $4 }' "$web_log" | sort -u | tr '\n' ' ')" ;;
	esac

	: >"$web_log"
	$ULOOP_NET hydrate "$url" --cache "$c" --ca "$T/pki/ca.pem" --json \
		--no-progress >"$T/h"
	[ "$(json_get bytes_fetched <"$T/h")" -eq 0 ] || fail "$url: warm fetch"
	# The probe (1 byte), then the sample the cache is compared on (bind.c):
	# the head and 3 random blocks, 4 KiB each, nothing else.
	grep -q " bytes=0-0 HTTP/[0-9.]* [0-9]* 206 1$" "$web_log" &&
		grep -q " bytes=0-4095 HTTP/[0-9.]* [0-9]* 206 4096$" "$web_log" &&
		[ "$(wc -l <"$web_log")" -le 5 ] &&
		[ "$(grep -vc " bytes=0-0 \| 206 4096$" "$web_log")" -eq 0 ] ||
		fail "$url: warm run asked more than the probe and the sample: $(cat "$web_log")"
	$ULOOP_NET check "$c" --source "$url" --ca "$T/pki/ca.pem" >/dev/null
	echo "$url: cold $size bytes, warm: the 1-byte probe only"
done

# Random ranges over HTTPS with keep-alive inside each run.
url="https://localhost:$web_https/img"
awk -v n=1000 -v size=$size 'BEGIN { srand(3);
	for (i = 0; i < n; i++) { off = int(rand() * size); len = int(rand() * 200000) + 1;
		if (off + len > size) len = size - off; print off, len } }' >"$T/ranges"
i=0
while read -r off len; do
	i=$((i + 1))
	if [ $((i % 2)) -eq 0 ]; then cache="--cache $T/cr"; else cache=""; fi
	# shellcheck disable=SC2086
	$ULOOP_NET cat "$url" $cache --ca "$T/pki/ca.pem" --offset "$off" \
		--length "$len" >"$T/got"
	tail -c +$((off + 1)) "$T/www/img" | head -c "$len" | cmp -s - "$T/got" ||
		fail "range $i ($off+$len) differs"
done <"$T/ranges"
$ULOOP_NET check "$T/cr" --source "$url" --ca "$T/pki/ca.pem"

# https -> http redirects are refused unless asked for.
expect_fail 1 "redirect from https to http://127.0.0.1:$web_http/img refused" \
	$ULOOP_NET cat "https://localhost:$web_https/down/img" --ca "$T/pki/ca.pem" --length 1
$ULOOP_NET cat "https://localhost:$web_https/down/img" --ca "$T/pki/ca.pem" \
	--allow-http-redirect --length 4096 >"$T/out" 2>"$T/err" ||
	fail "--allow-http-redirect did not follow: $(cat "$T/err")"
head -c 4096 "$T/www/img" | cmp - "$T/out" || fail "--allow-http-redirect read other bytes"

# Proxies come from --proxy only, never from the environment.
http_proxy=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 \
	$ULOOP_NET cat "http://127.0.0.1:$web_http/img" --length 4096 >/dev/null ||
	fail "a proxy was taken from the environment"
expect_fail 1 "127.0.0.1 port 9" $ULOOP_NET cat "http://127.0.0.1:$web_http/img" \
	--proxy http://127.0.0.1:9 --length 1 --retries 1 --timeout 3

# A redirect: resolved by the probe, data straight from the target.
: >"$web_log"
$ULOOP_NET hydrate "http://127.0.0.1:$web_http/r/img" --cache "$T/credir" \
	--no-progress >/dev/null
[ "$(grep -c '^GET /r/img ' "$web_log")" -eq 1 ] ||
	fail "the redirect was followed more than once: $(grep -c '^GET /r/img ' "$web_log")"
$ULOOP_NET export "$T/credir" "$T/out"
cmp "$T/out" "$T/www/img" || fail "export through a redirect differs"
$ULOOP_NET info "$T/credir" | grep -q "image:        http://127.0.0.1:$web_http/r/img" ||
	fail "the cache should name the URL as given"
