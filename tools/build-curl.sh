#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-curl.sh OUTDIR MBEDTLSDIR - build a static libcurl for uloop from
# Debian's source (with Debian's security patches) against Debian's static
# nghttp2 and c-ares and the mbedTLS 3.6 in MBEDTLSDIR
# (tools/build-mbedtls.sh), into OUTDIR/{include,lib}.  OUTDIR lives
# outside the source tree (the Makefile names it after this script's and
# build-mbedtls.sh's hash), so a rebuild happens only when one changes.
#
# Only what uloop uses is built: HTTP and HTTPS, HTTP/2, c-ares (it reads
# /etc/hosts and /etc/resolv.conf itself, so a static binary resolves
# names in a bare initramfs, where glibc's NSS cannot be loaded), mbedTLS,
# proxies (used only when asked for).  Verbose strings stay: without them
# libcurl's error texts shrink to "Error", and uloop's messages must name
# the cause.  No CA bundle or path is compiled in:
# trust comes from uloop's options only.  No zlib: uloop refuses encoded
# bodies anyway.
set -eu
# Called from make's recipes, whose jobserver is not passed down: without
# this the inner make warns and builds one job at a time.
unset MAKEFLAGS MFLAGS

out=${1:?usage: build-curl.sh OUTDIR MBEDTLSDIR}
mbed=${2:?usage: build-curl.sh OUTDIR MBEDTLSDIR}
here=$(cd "$(dirname "$0")" && pwd)
[ -s "$out/lib/libcurl.a" ] && exit 0
[ -s "$mbed/lib/libmbedtls.a" ] ||
	{ echo "build-curl: no mbedTLS in $mbed (tools/build-mbedtls.sh builds it)" >&2; exit 1; }

need="libnghttp2-dev libc-ares-dev dpkg-dev pkg-config"
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ] || ! grep -rqs '^Types:.*deb-src\|^deb-src ' \
		/etc/apt/sources.list.d /etc/apt/sources.list; then
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		echo "build-curl: need root and apt-get to install:$missing and source packages" >&2
		exit 1
	fi
	# apt-get source needs a deb-src entry: mirror the machine's own deb
	# entries (deb822 or one-line form), whatever archive they name.
	if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list.d /etc/apt/sources.list; then
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -e "$f" ] || continue
			sed 's/^Types: *deb *$/Types: deb-src/' "$f" \
				>"/etc/apt/sources.list.d/uloop-src-$(basename "$f")"
		done
		if [ -s /etc/apt/sources.list ]; then
			sed -n 's/^deb /deb-src /p' /etc/apt/sources.list \
				>/etc/apt/sources.list.d/uloop-src.list
		fi
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	# shellcheck disable=SC2086
	[ -z "$missing" ] || apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends $missing >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/uloop-curl.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "build-curl: fetching Debian's curl source"
apt-get source -qq curl >/dev/null 2>&1 || apt-get source curl
src=$(find . -maxdepth 1 -type d -name 'curl-*' | head -n 1)
[ -n "$src" ] || { echo "build-curl: no curl source unpacked" >&2; exit 1; }
cd "$src"
# Debian 12's curl predates mbedTLS 3.6: tools/curl-mbedtls36.patch says what it changes.
patch -s -p1 <"$here/curl-mbedtls36.patch" ||
	{ echo "build-curl: tools/curl-mbedtls36.patch does not apply to $(basename "$src")" >&2; exit 1; }

echo "build-curl: configuring $(basename "$src") (mbedTLS, nghttp2, c-ares)"
# Small, and in sections the static link can drop one function at a time:
# the static uloop must fit an initramfs (target: 2 MiB stripped).
CFLAGS="-Os -g -ffunction-sections -fdata-sections" \
./configure --prefix="$out.tmp" --disable-shared --enable-static \
	--with-mbedtls="$mbed" --without-openssl --with-nghttp2 --enable-ares \
	--without-zlib --without-brotli --without-zstd --without-libpsl \
	--without-libidn2 --without-librtmp --without-libssh2 --without-libssh \
	--without-gssapi --without-ngtcp2 --without-nghttp3 --without-quiche \
	--without-hyper --without-ca-bundle --without-ca-path --without-ca-fallback \
	--disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
	--disable-telnet --disable-tftp --disable-pop3 --disable-imap \
	--disable-smb --disable-smtp --disable-gopher --disable-mqtt \
	--disable-ftp --disable-file --disable-manual --disable-ntlm \
	--disable-ntlm-wb --disable-cookies --disable-netrc --disable-alt-svc \
	--disable-hsts --disable-doh --disable-mime --disable-progress-meter \
	--disable-aws --disable-websockets --disable-unix-sockets \
	--disable-libcurl-option >configure.log 2>&1 ||
	{ tail -n 30 configure.log >&2; exit 1; }
grep -q 'SSL: *enabled (mbedTLS)' configure.log ||
	{ echo "build-curl: configure did not pick mbedTLS" >&2; exit 1; }
echo "build-curl: building libcurl"
make -C lib -j"$(nproc)" >make.log 2>&1 || { tail -n 30 make.log >&2; exit 1; }
make -C lib install >/dev/null
make -C include install >/dev/null
basename "$src" >"$out.tmp/VERSION"
dpkg-parsechangelog -l debian/changelog -S Version >>"$out.tmp/VERSION" 2>/dev/null || true
rm -rf "$out"
mv "$out.tmp" "$out"
echo "build-curl: $(head -n 1 "$out/VERSION") in $out"
