#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly E1
# A compact cache under --cache-size keeps the boot profile's blocks: the
# attached daemon (FUSE, against a real nginx on 127.0.0.1) with --profile
# replays the profile into a cache far smaller than the image, then the
# whole image is read through it (every byte equal to the image's; most
# slots are evicted several times over); after a detach and a new attach
# without a profile, the boot's reads fetch nothing: the profile's blocks
# were never evicted.  A profile larger than the cache is said once, and
# the device still reads right.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires_root
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }

mkdir -p "$T/www"
size=$((16 * 1024 * 1024))
make_image "$T/www/img" $size
start_nginx s "$T/www"
url=http://127.0.0.1:$s_http/img
dev=$T/dev
on_exit "$ULOOP detach '$dev' --force >/dev/null 2>&1"
limit=$((1024 * 1024))

attach() {	# attach CACHE [options]: the FUSE device $dev
	_c=$1
	shift
	$ULOOP_NET attach "$url" --cache "$_c" --transport fuse --device "$dev" "$@" \
		>/dev/null 2>"$T/attach.err" || fail "attach $*: $(cat "$T/attach.err")"
}
detach() { $ULOOP detach "$dev" >/dev/null || fail "detach failed"; }
field() { $ULOOP status "$dev" --json | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
wait_fill() {	# wait_fill STATE: the fill thread reaches STATE (60 s)
	for _i in $(seq 600); do
		[ "$(field fill)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "fill did not reach '$1' (it says '$(field fill)'; profile '$(field profile)')"
}
# The "boot": 4 KiB reads in four places far apart (four 64 KiB slots).
reads="700 3 4 2000 3001 9"
boot() {
	for b in $reads; do
		dd if="$dev" of=/dev/null bs=4096 skip="$b" count=1 iflag=direct status=none ||
			fail "read of block $b failed"
	done
}
# Every ranged request but the 1-byte probe (image_fetches would let a
# few 4 KiB ones pass as probes: here each is a block the cache lost).
image_reqs() { grep 'GET /img bytes=' "$s_log" | grep -vc 'bytes=0-0 ' || true; }

# Record the boot's profile.
attach "$T/c0"
boot
$ULOOP profile "$dev" --output "$T/prof" || fail "uloop profile failed"
detach

# A 1 MiB compact cache, the profile replayed into it, then the whole
# 16 MiB image read through it twice, checked.
attach "$T/c" --cache-size $limit --profile "$T/prof"
wait_fill done
[ "$(field profile)" = replayed ] || fail "profile: $(field profile)"
for round in 1 2; do
	cmp "$dev" "$T/www/img" || fail "round $round: the device differs from the image"
done
detach
fs=$(fsize "$T/c")
[ "$fs" -le $limit ] || fail "the cache file is $fs bytes, past --cache-size $limit"
$ULOOP info "$T/c" --json >"$T/info"
echo "after 2 x 16 MiB through a $limit-byte cache: file $fs bytes, $(json_get blocks_present <"$T/info") blocks present in $(json_get slots <"$T/info") slots"

# Attached again without a profile: the boot's blocks are still there.
attach "$T/c" --cache-size $limit
: >"$s_log"
boot
n=$(image_reqs)
detach
[ "$n" -eq 0 ] || fail "the boot's pinned blocks were evicted: $n fetches: $(cat "$s_log")"
echo "the boot's blocks survived the churn: the boot fetched nothing"

# Pinned blocks alone past the limit: said once; reads stay right.
awk 'NR <= 4 { print; next } NR == 5 { print "extents 1"; next } END { print "0 4096" }' \
	"$T/prof" >"$T/big.prof"
rm -f "$T/c2"
attach "$T/c2" --cache-size 256K --profile "$T/big.prof"
wait_fill done
cmp "$dev" "$T/www/img" || fail "with everything pinned the device differs from the image"
detach
fs=$(fsize "$T/c2")
[ "$fs" -le $((256 * 1024)) ] || fail "the cache file is $fs bytes, past 256K"
echo "a profile past the limit: the device still reads right, the file stayed at $fs bytes"
