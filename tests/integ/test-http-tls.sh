#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: T2; partly T1
# The TLS matrix, against real nginx servers, with the binary initramfs
# images ship (static, mbedTLS): what must connect connects, and what must
# not fails with a clear error and caches nothing.  IP-literal hosts are
# checked against iPAddress subjectAltNames only (RFC 6125), which curl
# 7.88 with mbedTLS alone does not do.  TLS 1.3 where the server offers
# it (nginx here: 1.2 and 1.3), 1.2 where it does not.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"

mkdir -p "$T/www"
make_image "$T/www/img" $((3 * 1024 * 1024 + 7))
make_ca "$T/pki"
make_ca "$T/other"
P=$T/pki
make_cert "$P" good "DNS:localhost,IP:127.0.0.1"
make_cert "$P" dnsonly "DNS:localhost"
make_cert "$P" iptext "DNS:127.0.0.1"	# the address as a DNS name: wrong
make_cert "$P" elsewhere "DNS:example.invalid,IP:10.9.9.9"
make_cert "$P" expired "DNS:localhost,IP:127.0.0.1" expired
make_cert "$T/other" stranger "DNS:localhost,IP:127.0.0.1"
make_cert "$P" client "DNS:client"

for s in good dnsonly iptext elsewhere expired; do
	start_nginx "$s" "$T/www" "$P/$s.pem" "$P/$s.key"
done
start_nginx stranger "$T/www" "$T/other/stranger.pem" "$T/other/stranger.key"
start_nginx mtls "$T/www" "$P/good.pem" "$P/good.key" "$P/ca.pem"
NGINX_TLS_PROTOCOLS=TLSv1.2 start_nginx tls12 "$T/www" "$P/good.pem" "$P/good.key"

n=0
ok() {	# ok URL ARGS...: must fetch the image
	_u=$1
	shift
	rm -f "$T/c"
	$ULOOP_NET cat "$_u" --cache "$T/c" "$@" >"$T/out" 2>"$T/err" ||
		fail "$_u $*: $(cat "$T/err")"
	cmp -s "$T/out" "$T/www/img" || fail "$_u: wrong bytes"
	n=$((n + 1))
	echo "ok: $_u $*"
}
refused() {	# refused TEXT URL ARGS...: must fail naming TEXT, cache nothing
	_t=$1 _u=$2
	shift 2
	rm -f "$T/c"
	expect_fail 1 "$_t" $ULOOP_NET cat "$_u" --cache "$T/c" --retries 1 "$@"
	[ ! -s "$T/out" ] || fail "$_u: bytes were output"
	# A cache left behind opens and holds no block (one never laid out
	# has no count); a cache info cannot read counted as empty before.
	if [ -e "$T/c" ]; then
		$ULOOP info "$T/c" --json >"$T/info" 2>&1 || fail "$_u: the cache left behind: $(cat "$T/info")"
		_b=$(json_get blocks_present <"$T/info")
		[ "${_b:-0}" -eq 0 ] || fail "$_u: $_b blocks cached"
	fi
	n=$((n + 1))
}

CA="--ca $P/ca.pem"
# The protocol each server gets: mbedTLS 3.6 names the suite it agreed on.
suite() {	# suite URL: the cipher suite of a fetch of URL
	$ULOOP_NET cat "$1" --ca "$P/ca.pem" --length 4096 -v 2>&1 >/dev/null |
		sed -n 's/.*Handshake complete, cipher is //p' | head -n 1
}
s13=$(suite "https://localhost:$good_https/img")
case $s13 in TLS1-3-*) echo "ok: TLS 1.3 with a 1.2+1.3 server ($s13)" ;;
*) fail "a server offering TLS 1.3 got '$s13'" ;; esac
s12=$(suite "https://localhost:$tls12_https/img")
case $s12 in TLS-ECDHE-*) echo "ok: TLS 1.2 with a 1.2-only server ($s12)" ;;
*) fail "a TLS 1.2-only server got '$s12'" ;; esac
# shellcheck disable=SC2086
{
ok "https://localhost:$good_https/img" $CA
ok "https://127.0.0.1:$good_https/img" $CA
ok "https://localhost:$tls12_https/img" $CA
ok "https://127.0.0.1:$tls12_https/img" $CA
refused "no trust anchors" "https://localhost:$good_https/img"
refused "server certificate rejected (Cert verify failed: BADCERT_NOT_TRUSTED)" "https://localhost:$stranger_https/img" $CA
refused "server certificate rejected" "https://localhost:$elsewhere_https/img" $CA
# IP literal: a DNS-only certificate, and one whose DNS name merely reads
# like the address, must both fail; the iPAddress one above passed.
refused "server certificate rejected" "https://127.0.0.1:$dnsonly_https/img" $CA
refused "server certificate rejected" "https://127.0.0.1:$iptext_https/img" $CA
ok "https://localhost:$dnsonly_https/img" $CA
refused "server certificate rejected: expired, by the clock here" "https://localhost:$expired_https/img" $CA
refused "server certificate rejected: expired, by the clock here" "https://127.0.0.1:$expired_https/img" $CA

# Pins: the right one (among others: rotation), a wrong one alone.
good_pin=$(pin_of "$P/good.pem")
other_pin=$(pin_of "$T/other/stranger.pem")
ok "https://localhost:$good_https/img" $CA --pin "$good_pin"
ok "https://localhost:$good_https/img" $CA --pin "$other_pin" --pin "$good_pin"
refused "matches no --pin" "https://localhost:$good_https/img" $CA --pin "$other_pin"
expect_fail 2 "is not one sha256//BASE64 pin" $ULOOP_NET cat "https://localhost:$good_https/img" --pin md5//abc

# Client certificates: required by the mtls server.
refused "https://localhost:$mtls_https/img" "https://localhost:$mtls_https/img" $CA
ok "https://localhost:$mtls_https/img" $CA --cert "$P/client.pem" --key "$P/client.key"
expect_fail 1 "--cert and --key go together" $ULOOP_NET cat "https://localhost:$mtls_https/img" $CA --cert "$P/client.pem"

# --insecure is the only way to skip verification, and it works.
ok "https://localhost:$stranger_https/img" --insecure
}

# A CA bundle at the built-in default path is used without --ca.
if [ ! -e /etc/uloop/ca.pem ] && [ "$(id -u)" -eq 0 ]; then
	mkdir -p /etc/uloop
	cp "$P/ca.pem" /etc/uloop/ca.pem
	on_exit "rm -f /etc/uloop/ca.pem; rmdir /etc/uloop 2>/dev/null"
	ok "https://localhost:$good_https/img"
fi
echo "$n TLS cases as expected"
