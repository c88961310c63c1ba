#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-mbedtls.sh OUTDIR - build static mbedTLS 3.6 for uloop from Debian
# 13's source (with Debian's patches) into OUTDIR/{include,lib}, the way
# tools/build-curl.sh builds libcurl from Debian 12's.  OUTDIR lives
# outside the tree (the Makefile names it after this script's hash), so
# a rebuild happens only when this script changes.
#
# Why not the machine's own: Debian 12 ships mbedTLS 2.28, which has no
# TLS 1.3 and decrypts at about 300 MB/s a core; an HTTPS fill then runs
# at 0.57x a curl download of the same file.  3.6 is the LTS branch with
# TLS 1.3; Debian 13's source is taken through tools/trixie-apt.sh, which
# never touches the host's apt configuration.
#
# Pinned: the upstream tarball's SHA-256 below must match the one
# Debian's .dsc names (apt-get source checks the .dsc's own sums against
# the signed index).  A new Debian upload with a new upstream release
# stops the build with a message naming both, for a person to review and
# move the pin; a Debian-only revision over the same tarball builds.
#
# ChaCha20-Poly1305 (the suites uloop offers first) gets vector paths:
# tools/mbedtls-chacha20-simd.patch and mbedtls-poly1305-avx2.patch say
# why and what.
#
# The configuration is upstream's default (TLS 1.2 and 1.3, AES-NI and
# PCLMUL found at run time, ChaCha20-Poly1305) plus pthread locking,
# as Debian builds it, minus what uloop never reaches: DTLS, the
# server side, SSL debug, early data, the key exchanges without
# forward secrecy or with pre-shared keys (TLS 1.2), certificate
# writing, and the ciphers no modern server offers first (ARIA,
# Camellia, DES, CCM, RIPEMD-160), the self tests, and mbedtls_net_*
# (curl 7.88's backend sends and receives through its own callbacks).
set -eu
# Called from make's recipes, whose jobserver is not passed down: without
# this the inner make warns and builds one job at a time.
unset MAKEFLAGS MFLAGS

PIN_VERSION=3.6.6
PIN_SHA256=8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a

out=${1:?usage: build-mbedtls.sh OUTDIR}
[ -s "$out/lib/libmbedtls.a" ] && exit 0
top=$(cd "$(dirname "$0")/.." && pwd)

for c in dpkg-source python3; do
	command -v "$c" >/dev/null 2>&1 ||
		{ echo "build-mbedtls: $c is needed (dpkg-dev, python3)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/uloop-mbedtls.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "build-mbedtls: fetching Debian 13's mbedtls source"
"$top/tools/trixie-apt.sh" apt-get source --download-only -qq mbedtls >apt.log 2>&1 ||
	{ cat apt.log >&2; echo "build-mbedtls: could not fetch Debian 13's mbedtls source" >&2; exit 1; }
orig=$(ls mbedtls_*.orig.tar.* 2>/dev/null | head -n 1)
[ -n "$orig" ] || { echo "build-mbedtls: no upstream tarball among: $(ls)" >&2; exit 1; }
ver=${orig#mbedtls_}
ver=${ver%.orig.tar.*}
sum=$(sha256sum "$orig" | cut -d' ' -f1)
if [ "$ver" != "$PIN_VERSION" ] || [ "$sum" != "$PIN_SHA256" ]; then
	echo "build-mbedtls: Debian 13 now ships mbedtls $ver ($orig, sha256 $sum);" \
		"tools/build-mbedtls.sh is pinned to $PIN_VERSION ($PIN_SHA256): review the new release and move the pin" >&2
	exit 1
fi
dpkg-source -x --no-check mbedtls_*.dsc src >dpkg-source.log 2>&1 ||
	{ cat dpkg-source.log >&2; exit 1; }
cd src
for p in mbedtls-chacha20-simd mbedtls-poly1305-avx2; do
	patch -s -p1 <"$top/tools/$p.patch" ||
		{ echo "build-mbedtls: tools/$p.patch does not apply to mbedtls $ver" >&2; exit 1; }
done

cfg="python3 scripts/config.py"
$cfg set MBEDTLS_THREADING_C
$cfg set MBEDTLS_THREADING_PTHREAD
for opt in MBEDTLS_SSL_PROTO_DTLS MBEDTLS_SSL_DTLS_ANTI_REPLAY \
	MBEDTLS_SSL_DTLS_HELLO_VERIFY MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE \
	MBEDTLS_SSL_DTLS_CONNECTION_ID MBEDTLS_SSL_DTLS_SRTP MBEDTLS_SSL_COOKIE_C \
	MBEDTLS_SSL_CACHE_C MBEDTLS_SSL_SRV_C MBEDTLS_SSL_TICKET_C \
	MBEDTLS_DEBUG_C MBEDTLS_CERTS_C MBEDTLS_SELF_TEST \
	MBEDTLS_ARIA_C MBEDTLS_CAMELLIA_C MBEDTLS_DES_C MBEDTLS_CCM_C \
	MBEDTLS_RIPEMD160_C \
	MBEDTLS_X509_CSR_PARSE_C MBEDTLS_X509_CSR_WRITE_C \
	MBEDTLS_X509_CRT_WRITE_C MBEDTLS_X509_CREATE_C MBEDTLS_PEM_WRITE_C \
	MBEDTLS_NET_C MBEDTLS_VERSION_FEATURES MBEDTLS_SSL_EARLY_DATA \
	MBEDTLS_KEY_EXCHANGE_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED \
	MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED \
	MBEDTLS_KEY_EXCHANGE_RSA_ENABLED MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED \
	MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED MBEDTLS_KEY_EXCHANGE_ECDH_RSA_ENABLED \
	MBEDTLS_KEY_EXCHANGE_ECJPAKE_ENABLED MBEDTLS_ECJPAKE_C; do
	$cfg unset "$opt"
done

echo "build-mbedtls: building mbedtls $ver"
# -O2, not -Os: the bulk cipher's speed is the reason for this build.
make -C library -j"$(nproc)" CC="${CC:-cc}" \
	CFLAGS="-O2 -g -ffunction-sections -fdata-sections" \
	libmbedcrypto.a libmbedx509.a libmbedtls.a >make.log 2>&1 ||
	{ tail -n 30 make.log >&2; exit 1; }
rm -rf "$out.tmp"
mkdir -p "$out.tmp/lib" "$out.tmp/include"
cp library/libmbedcrypto.a library/libmbedx509.a library/libmbedtls.a "$out.tmp/lib/"
cp -r include/mbedtls include/psa "$out.tmp/include/"
echo "mbedtls $ver $(dpkg-parsechangelog -S Version 2>/dev/null || true)" >"$out.tmp/VERSION"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "build-mbedtls: $(cat "$out/VERSION") in $out"
