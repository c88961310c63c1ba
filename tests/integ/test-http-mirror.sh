#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: R3 N3; partly R2 H6
# Mirrors: requests are spread over servers serving the identical image;
# when the primary dies mid-hydrate the mirror carries on; a mirror that
# serves another image (another ETag) is refused and never used.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"

mkdir -p "$T/www" "$T/www2"
size=$((24 * 1024 * 1024 + 5))
make_image "$T/www/img" $size
cp -p "$T/www/img" "$T/www2/img"	# same bytes, same mtime: same ETag
make_image "$T/www3img" $size
start_nginx one "$T/www"
start_nginx two "$T/www2"
mkdir -p "$T/www3"
mv "$T/www3img" "$T/www3/img"
# nginx's ETag is "mtime-size": make the other image look other.
touch -d "@$(( $(date +%s) - 100 ))" "$T/www3/img"
start_nginx three "$T/www3"
u1="http://127.0.0.1:$one_http/img"
u2="http://127.0.0.1:$two_http/img"
u3="http://127.0.0.1:$three_http/img"

# Spreading: both servers send part of the data.
$ULOOP_NET hydrate "$u1" --mirror "$u2" --cache "$T/c" --no-progress >/dev/null
[ "$(body_bytes "$one_log")" -gt 0 ] && [ "$(body_bytes "$two_log")" -gt 1048576 ] ||
	fail "not spread: $(body_bytes "$one_log") / $(body_bytes "$two_log")"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/www/img" || fail "spread hydrate differs"

# A mirror with another image: refused with a notice, never asked for data.
: >"$three_log"
rm -f "$T/c"
$ULOOP_NET hydrate "$u1" --mirror "$u3" --cache "$T/c" --no-progress \
	>/dev/null 2>"$T/err"
grep -q "mirror $u3 not used: it serves another image" "$T/err" ||
	fail "no refusal notice: $(cat "$T/err")"
[ "$(grep -vc ' bytes=0-0 ' "$three_log")" -eq 0 ] || fail "the wrong mirror was asked for data"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/www/img" || fail "hydrate with a wrong mirror differs"

# Failover: the primary dies during the hydrate; the mirror finishes it.
rm -f "$T/c"
$ULOOP_NET hydrate "$u1" --mirror "$u2" --cache "$T/c" --rate 12M \
	--no-progress >/dev/null 2>"$T/err" &
pid=$!
sleep 0.7
kill "$(cat "$T/nginx-one/nginx.pid")"
rc=0
wait $pid || rc=$?
[ $rc -eq 0 ] || fail "failover hydrate exited $rc: $(cat "$T/err")"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/www/img" || fail "failover hydrate differs"

# The primary down from the start (an origin that died before this node
# booted): the mirror serves the image, after a note; with no server
# left it is an error naming both.  The primary's probe is as short as a
# mirror's: no retries for the whole request deadline.
rm -f "$T/c"
t0=$(date +%s)
$ULOOP_NET hydrate "$u1" --mirror "$u2" --cache "$T/c" --no-progress >/dev/null 2>"$T/err" ||
	fail "hydrate with the primary down failed: $(cat "$T/err")"
grep -q "$u1: giving up after 1 attempts: .*; trying its mirrors" "$T/err" || fail "no note of the primary down: $(cat "$T/err")"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/www/img" || fail "hydrate from the mirror alone differs"
[ $(( $(date +%s) - t0 )) -lt 15 ] || fail "the dead primary held the start up: it was retried before the mirror was asked"
expect_fail 1 "no mirror serves it either" $ULOOP_NET cat "$u1" --mirror "http://127.0.0.1:9/img" \
	--length 4096 --timeout 6

# A mirror that moves on to another image mid-run is dropped; the run
# finishes from the primary, whole and unmixed.
start_nginx two2 "$T/www2"
u22="http://127.0.0.1:$two2_http/img"
start_nginx one2 "$T/www"
u12="http://127.0.0.1:$one2_http/img"
rm -f "$T/c"
$ULOOP_NET hydrate "$u12" --mirror "$u22" --cache "$T/c" --rate 12M \
	--no-progress >/dev/null 2>"$T/err" &
pid=$!
sleep 0.7
make_image "$T/www2/new" $size
mv "$T/www2/new" "$T/www2/img"
rc=0
wait $pid || rc=$?
[ $rc -eq 0 ] || fail "a changing mirror ended the run ($rc): $(cat "$T/err")"
# Dropped, not merely outlived: its 412 names it (a run that never asked
# it again after the change would pass the checks below as well).
grep -q "mirror $u22 dropped: precondition failed (412): the image changed on the server" "$T/err" ||
	fail "the changing mirror was not dropped: $(cat "$T/err")"
$ULOOP_NET export "$T/c" "$T/out"
cmp "$T/out" "$T/www/img" || fail "a changing mirror's bytes got in"
# TLS is never silently downgraded: an http:// mirror of an https://
# image is an error; an https:// mirror redirecting to http:// is not used.
make_ca "$T/pki"
make_cert "$T/pki" srv "DNS:localhost,IP:127.0.0.1"
start_nginx tls "$T/www" "$T/pki/srv.pem" "$T/pki/srv.key"
ut="https://127.0.0.1:$tls_https/img"
: >"$one2_log"	# one2 serves the same files, over http
expect_fail 1 "uloop: mirror $u12 is http:// but the image is https://: refusing a downgrade" \
	$ULOOP_NET cat "$ut" --mirror "$u12" --ca "$T/pki/ca.pem" --length 4096
[ ! -s "$one2_log" ] || fail "the http:// mirror was asked: $(cat "$one2_log")"
udown="https://127.0.0.1:$tls_https/down/img"
$ULOOP_NET cat "$ut" --mirror "$udown" --ca "$T/pki/ca.pem" --length 4096 \
	>"$T/out" 2>"$T/err" || fail "cat with a downgrading mirror failed: $(cat "$T/err")"
grep -q "mirror $udown not used: .*redirect from https to http://.* refused" "$T/err" ||
	fail "no refusal of the downgrading mirror: $(cat "$T/err")"
cmp -n 4096 "$T/out" "$T/www/img" || fail "cat with a downgrading mirror differs"

echo "spread, refused a mismatched mirror, failed over, booted with the primary down, dropped a changing mirror, refused downgrades"

# uloop attach tells its caller the same as hydrate does: the refused
# mirror's notice is on its stderr (the initramfs shows it on the
# console), before the device is ready.
if [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; then
	rm -f "$T/c"
	$ULOOP_NET attach "$u2" --mirror "$u3" --cache "$T/c" --transport fuse \
		--device "$T/dev" >/dev/null 2>"$T/err" || fail "attach: $(cat "$T/err")"
	$ULOOP detach "$T/dev" || fail "detach failed"
	grep -q "mirror $u3 not used: it serves another image" "$T/err" ||
		fail "attach did not pass on the mirror's notice: $(cat "$T/err")"
	echo "attach: the refused mirror's notice reached its caller"
fi
