#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Boot profiles and hydration in the attached daemon (docs/boot-profile.md),
# over FUSE against a real nginx on 127.0.0.1.
#
#  - the daemon records every block read, in first-use order, and
#    `uloop profile` prints it (to --output, replaced whole);
#  - a fresh cache attached with that profile (a file or a URL) fetches
#    its blocks by itself, in fewer and larger requests than the reads
#    that recorded it, and the same reads then fetch nothing;
#  - a profile of another image, of another version, cut short or not a
#    profile at all is ignored with one line saying why, and the device
#    works as without one;
#  - --hydrate fills the whole cache in the background and says so; the
#    image is then served with the server gone (--offline), or closing
#    every connection (after one quick try, not the default deadline's
#    retries); a rate is
#    kept to; a jitter wait ends at once on detach;
#  - bad options are usage errors; `uloop profile` of a device nobody
#    attached names the device.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires_root
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }

mkdir -p "$T/www"
make_image "$T/www/img" $((16 * 1024 * 1024))
make_image "$T/www/other" $((8 * 1024 * 1024))
start_nginx s "$T/www"
url=http://127.0.0.1:$s_http/img
dev=$T/dev
on_exit "$ULOOP detach '$dev' --force >/dev/null 2>&1"

attach() {	# attach CACHE [options]: the FUSE device $dev
	_c=$1
	shift
	$ULOOP_NET attach "$url" --cache "$_c" --transport fuse --device "$dev" "$@" \
		>/dev/null 2>"$T/attach.err" || fail "attach $*: $(cat "$T/attach.err")"
}

detach() { $ULOOP detach "$dev" >/dev/null || fail "detach failed"; }

field() { $ULOOP status "$dev" --json | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

wait_fill() {	# wait_fill STATE: the fill thread reaches STATE (30 s)
	for _i in $(seq 300); do
		[ "$(field fill)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "fill did not reach '$1' (it says '$(field fill)'; profile '$(field profile)')"
}

# The "boot": reads of 4 KiB blocks, scattered and in a fixed order
# (the last one comes back to the first block: no new entry).
reads="700 3 4 5 2000 1200 1201 3000 9 700"
boot() {
	for b in $reads; do
		[ "$b" != 3000 ] || sleep "${pause:-0}"
		dd if="$dev" of=/dev/null bs=4096 skip="$b" count=1 iflag=direct status=none ||
			fail "read of block $b failed"
	done
}

image_reqs() { image_fetches "$s_log" | wc -l; }

# 1. Record, print.
attach "$T/c1"
pause=0.4 boot
$ULOOP profile "$dev" >"$T/p1" || fail "uloop profile failed"
# --times: each extent's first read, in ms after the attach; the reads
# before the pause and after it are that far apart.
$ULOOP profile "$dev" --times >"$T/trace" || fail "uloop profile --times failed"
sed -n '6,$p' "$T/trace" | awk 'NF != 3 || $3 < last { bad = 1 } { last = $3 }
	$1 == 1200 { a = $3 } $1 == 3000 { b = $3 }
	END { exit bad || b - a < 400 || b - a > 5000 }' ||
	fail "--times: not the reads' times: $(cat "$T/trace")"
awk 'NR <= 5 { print; next } { print $1, $2 }' "$T/trace" | cmp -s - "$T/p1" ||
	fail "--times: other extents than the profile's: $(cat "$T/trace")"
$ULOOP profile "$dev" --output "$T/p2" || fail "uloop profile --output failed"
cmp -s "$T/p1" "$T/p2" || fail "--output wrote another profile than stdout"
detach
etag=$(sed -n 's/^validator etag //p' "$T/p1")
[ -n "$etag" ] || fail "profile has no etag validator: $(head -5 "$T/p1")"
printf 'uloop-profile 1\nsize %s\nvalidator etag %s\nunit 4096\nextents 6\n700 1\n3 3\n2000 1\n1200 2\n3000 1\n9 1\n' \
	$((16 * 1024 * 1024)) "$etag" >"$T/want"
diff -u "$T/want" "$T/p1" >&2 || fail "the profile is not the reads in first-use order"
echo "recorded: 10 reads as 6 extents in first-use order"

# 2. Replay from a file: the blocks come by themselves, then the same
# reads fetch nothing.
: >"$s_log"
attach "$T/c2" --profile "$T/p1"
wait_fill done
[ "$(field profile)" = replayed ] || fail "profile: $(field profile)"
n=$(image_reqs)
[ "$n" -ge 1 ] && [ "$n" -lt 6 ] || fail "the replay took $n requests (the boot's reads took 6 or more)"
got=$($ULOOP status "$dev" --json | json_get profile_fetched)
[ "$got" -ge $((9 * 4096)) ] || fail "the replay fetched $got bytes, less than the profile's 9 blocks"
: >"$s_log"
boot
[ "$(image_reqs)" -eq 0 ] || fail "after the replay the boot still fetched: $(image_fetches "$s_log")"
detach
echo "replayed from a file: $n requests before the boot, none during it"

# ...and from a URL.
cp "$T/p1" "$T/www/img.profile"
attach "$T/c3" --profile "$url.profile"
wait_fill done
[ "$(field profile)" = replayed ] || fail "profile from a URL: $(field profile)"
: >"$s_log"
boot
[ "$(image_reqs)" -eq 0 ] || fail "after the replay from a URL the boot still fetched"
detach
echo "replayed from a URL"

# 3. Profiles that must not be used: each noted, the device as without.
sed 's/^size .*/size 33554432/' "$T/p1" >"$T/p-size"
sed 's/^validator etag .*/validator etag "\\"other\\""/' "$T/p1" >"$T/p-version"
head -n 8 "$T/p1" >"$T/p-short"
printf '<html>404</html>\n' >"$T/p-html"
sed 's/^700 1$/99999 1/' "$T/p1" >"$T/p-past"
for case in "size|an image of 33554432 bytes, this one has 16777216" \
	"version|another version" "short|3 of the 6 extents it announces" \
	"html|not a boot profile" "past|line 6: extent past the image's end" \
	"missing|open: No such file"; do
	name=${case%%|*}
	rm -f "$T/c4"
	$ULOOP_NET attach "$url" --cache "$T/c4" --transport fuse --device "$dev" \
		--profile "$T/p-$name" --foreground >/dev/null 2>"$T/fg.err" &
	fg=$!
	for _i in $(seq 100); do
		grep -q "profile" "$T/fg.err" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "boot profile.*not used: .*${case#*|}" "$T/fg.err" ||
		fail "profile '$name': no note saying '${case#*|}': $(cat "$T/fg.err")"
	for _i in $(seq 50); do	# the run state is rewritten every second
		[ "$(field profile)" = ignored ] && break
		sleep 0.1
	done
	[ "$(field profile)" = ignored ] || fail "profile '$name': status says $(field profile)"
	dd if="$dev" of="$T/b" bs=4096 skip=5 count=1 status=none
	dd if="$T/www/img" bs=4096 skip=5 count=1 status=none | cmp -s - "$T/b" ||
		fail "profile '$name': the device serves wrong data"
	detach
	wait "$fg" || fail "profile '$name': the daemon failed: $(cat "$T/fg.err")"
done
echo "profiles of another image or version, cut short, not one, past the end, missing: ignored with a note"

# 4. Hydration: complete, said, then served without the server.
: >"$s_log"
$ULOOP_NET attach "$url" --cache "$T/c5" --transport fuse --device "$dev" \
	--profile "$T/p1" --hydrate --foreground >/dev/null 2>"$T/fg.err" &
fg=$!
sleep 0.5
wait_fill done
cmp -s "$dev" "$T/www/img" || fail "the hydrated device differs from the image"
$ULOOP info "$T/c5" | grep -q "4096 of 4096 blocks" || fail "not every block cached: $($ULOOP info "$T/c5")"
detach
wait "$fg"
grep -q "hydrated: every block of $url is in the cache" "$T/fg.err" || fail "no hydrated note: $(cat "$T/fg.err")"
b=$(body_bytes "$s_log")
[ "$b" -le $((16 * 1024 * 1024 + 64 * 1024)) ] || fail "hydration fetched $b bytes for a 16 MiB image"
kill "$(cat "$T/nginx-s/nginx.pid")"
sleep 0.3
attach "$T/c5" --offline
cmp -s "$dev" "$T/www/img" || fail "the hydrated cache served offline differs from the image"
detach
# A server that closes every connection at once (what a guest's forward
# to a server that is down does): --offline gives it one quick try (5 s,
# one retry), not the default deadline's retries (16 s).
python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); print("up", flush=True)
while True: s.accept()[0].close()' "$s_http" >"$T/silent.out" 2>&1 &
silent=$!
on_exit "kill $silent 2>/dev/null"
for _i in $(seq 50); do [ -s "$T/silent.out" ] && break; sleep 0.1; done
grep -q up "$T/silent.out" || fail "the closing server did not start: $(cat "$T/silent.out")"
t0=$(date +%s)
attach "$T/c5" --offline
t1=$(date +%s)
grep -q "serving the cached image offline" "$T/attach.err" || fail "closing server: not served offline: $(cat "$T/attach.err")"
[ $((t1 - t0)) -le 10 ] || fail "closing server: --offline attach took $((t1 - t0)) s (the quick try is 5 s at most)"
cmp -s "$dev" "$T/www/img" || fail "closing server: the cache served offline differs from the image"
detach
kill "$silent"
wait "$silent" 2>/dev/null || true
start_nginx s "$T/www"
url=http://127.0.0.1:$s_http/img
echo "hydrated: the whole image once ($b bytes), then served with the server gone"

# A rate is kept to: at 1M/s the first 4 MiB chunk is all there is for
# the first 4 s; reads meanwhile are right.  A jitter wait ends on detach.
attach "$T/c6" --hydrate=1M
sleep 1.5
[ "$(field fill)" = hydrating ] || fail "--hydrate=1M: fill is $(field fill)"
got=$($ULOOP status "$dev" --json | json_get hydrate_fetched)
[ "$got" -le $((4 * 1024 * 1024)) ] || fail "--hydrate=1M queued $got bytes in 1.5 s"
dd if="$dev" of="$T/b" bs=4096 skip=3000 count=1 status=none
dd if="$T/www/img" bs=4096 skip=3000 count=1 status=none | cmp -s - "$T/b" || fail "read during hydration: wrong data"
detach
attach "$T/c7" --hydrate=8M,jitter=3600
wait_fill waiting
start=$(date +%s)
detach
[ $(($(date +%s) - start)) -le 5 ] || fail "detach waited for the jitter"
echo "hydration: the rate kept ($got bytes queued in 1.5 s at 1M/s), a jitter wait ended by detach"

# 5. Usage and errors.
expect_fail 2 "--profile needs a cache" $ULOOP attach "$url" --transport fuse --device "$dev" --profile "$T/p1"
expect_fail 2 "--hydrate: invalid value 'fast'" $ULOOP attach "$url" --cache "$T/c8" --hydrate=fast
expect_fail 2 "--hydrate and --offline" $ULOOP attach "$url" --cache "$T/c8" --hydrate --offline
expect_fail 1 "$T/nodev: not attached" $ULOOP profile "$T/nodev"
expect_fail 2 "one DEV" $ULOOP profile
echo "usage errors and an unattached device: named"
