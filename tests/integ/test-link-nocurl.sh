#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Programs on libuloop.a link without libcurl, the way docs/libuloop.md
# says: the archive refers to no curl, mbedTLS or HTTP-source symbol
# (sources are registered, src/source.c); the 2007 example builds against
# the installed header and library with the documented line; a program on
# the engine with a file source (engine-file.c) links with the same
# libraries, reads an image through a cache, and is told an http:// URL
# needs the HTTP source it was built without.  A program that does name
# the HTTP source and forgets libcurl fails to link (the check has teeth),
# and the uloop command, which registers it, names the schemes it serves.
. "$(dirname "$0")/functions.sh"
requires cc nm make
lib=$top/build/libuloop.a
[ -f "$lib" ] || fail "missing $lib (make)"
libs="-luloop -lblkid -pthread"

grep -qF "link \`$libs\`" "$top/docs/libuloop.md" ||
	fail "docs/libuloop.md does not tell programs to link \`$libs\`"
grep -qF "ulo2007-example.c $libs" "$top/docs/examples/ulo2007-example.c" ||
	fail "the example's Build: line is not \`$libs\`"

# Not piped into grep: a failed nm listed nothing, so nothing matched.
# Its list must show the references the archive does have (libblkid's).
nm -A --undefined-only "$lib" >"$T/syms" || fail "nm $lib failed"
grep -q ' U blkid_' "$T/syms" || fail "nm lists no reference to libblkid in $lib: $(head -n 5 "$T/syms")"
grep -E ' U (curl_|mbedtls_|nghttp2_|ares_|ulo_http_|ulo_tls_|ulo_source_http_ops$)' "$T/syms" >"$T/nm" || true
[ ! -s "$T/nm" ] || fail "libuloop.a refers to the HTTP source or its libraries:
$(cat "$T/nm")"

# The 2007 example, against what make install installs.
make -s -C "$top" install DESTDIR="$T/inst" PREFIX=/usr >/dev/null || fail "make install failed"
[ ! -e "$T/inst/usr/lib/libuloop-http.a" ] || fail "libuloop-http.a was installed"
# shellcheck disable=SC2086
cc -I"$T/inst/usr/include" -o "$T/ulo2007-example" "$top/docs/examples/ulo2007-example.c" \
	-L"$T/inst/usr/lib" $libs 2>"$T/cc.err" ||
	fail "the 2007 example does not link with $libs: $(cat "$T/cc.err")"
echo "ok: cc ulo2007-example.c $libs (installed header and library)"

# The engine with a file source and a cache, the same libraries.
cflags="-std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I$top/src"
# shellcheck disable=SC2086
cc $cflags -o "$T/engine-file" "$top/tests/integ/engine-file.c" -L"$top/build" $libs 2>"$T/cc.err" ||
	fail "the engine with a file source does not link with $libs: $(cat "$T/cc.err")"
if command -v ldd >/dev/null && ldd "$T/engine-file" | grep -Ei 'curl|mbed|nghttp|cares'; then
	fail "engine-file loads the HTTP libraries"
fi
echo "ok: cc engine-file.c $libs"
make_image "$T/img" $((3 * 1024 * 1024 + 5))
"$T/engine-file" "$T/img" "$T/c" >"$T/out" || fail "engine-file failed"
cmp "$T/out" "$T/img" || fail "engine-file read other bytes"
"$T/engine-file" "$T/img" "$T/c" >"$T/out" || fail "engine-file failed warm"
cmp "$T/out" "$T/img" || fail "engine-file read other bytes warm"
$ULOOP check "$T/c" --source "$T/img" >/dev/null || fail "engine-file left a cache that does not check"

# Naming the HTTP source without its libraries cannot link: what a
# libuloop.a whose source.c named it would do to every program above.
cat >"$T/http.c" <<'EOF'
#include "source.h"
int main(void)
{
	return ulo_source_register(&ulo_source_http_ops);
}
EOF
# shellcheck disable=SC2086
if cc $cflags -o "$T/http" "$T/http.c" -L"$top/build" -luloop-http $libs 2>"$T/cc.err"; then
	fail "a program naming the HTTP source linked without libcurl"
fi
grep -q "undefined reference to .curl_" "$T/cc.err" ||
	fail "the HTTP source without libcurl failed otherwise: $(head -n 5 "$T/cc.err")"
echo "ok: naming the HTTP source needs libcurl"

expect_fail 1 "ftp://host/img: unsupported scheme (http:// and https:// only)" \
	$ULOOP cat ftp://host/img
