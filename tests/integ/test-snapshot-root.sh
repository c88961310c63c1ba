#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly N2
# `uloop snapshot` of a root's daemon after switch_root, as a booted node
# asks it: the daemon keeps the initramfs as its root, and /proc and /run
# moved into the new root, so its paths lead nowhere.  Here the daemon
# serves a --cow device (FUSE) in a mount namespace of the test's own
# where, once it is attached, empty file systems cover /proc and /run;
# `uloop snapshot DEV /snap.cow` runs chrooted into a directory of the
# test (/run/uloop bound in, a /proc of its own).  The new top must be
# that root's /snap.cow, named so by `uloop status`, never a file of the
# daemon's root; its bits' mirror must be in the real /run/uloop beside
# the first one (and gone after a clean stop); writes after the snapshot
# go to it, and the stack read back from it (its header names the frozen
# layer) is every write, before and after.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3 unshare nsenter chroot
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }
S=$top/build/static/uloop
[ -x "$S" ] || { echo "requires the static build ($S)"; exit 77; }

W="python3 $top/tests/integ/cow-writes.py"
make_image "$T/img" $((4 * 1024 * 1024))
cp "$T/img" "$T/model"
name=/uloop-snap-$$.cow
# Where the bug put it: the daemon's own root.
on_exit "rm -f $name"

unshare -m --propagation private sh -c '
	"$1" attach "$2/img" --transport fuse --device "$2/dev" --cow "$2/a.cow" >/dev/null &&
	mount -t tmpfs gone /proc && mount -t tmpfs gone /run' sh "$ULOOP" "$T" ||
	fail "attach in the namespace failed"
state=/run/uloop/$(echo "$T/dev" | tr / %).json
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$state")
[ -n "$pid" ] || fail "no daemon pid in $state"
on_exit "kill $pid 2>/dev/null || true"
in_ns() { nsenter -t "$pid" -m -- "$@"; }
in_ns $W 1 100 "$T/dev" "$T/model" || fail "writes before the snapshot failed"

R=$T/root
mkdir -p "$R/bin" "$R/proc" "$R/run/uloop" "$R/tmp"
cp "$S" "$R/bin/uloop"
unshare -m --propagation private sh -c '
	mount --bind /run/uloop "$1/run/uloop" && mount -t proc proc "$1/proc" &&
	exec chroot "$1" /bin/uloop snapshot "$2" "$3"' sh "$R" "$T/dev" "$name" \
	>"$T/out" 2>"$T/err" || fail "snapshot from the other root failed: $(cat "$T/err")"
[ "$(cat "$T/out")" = "$name" ] || fail "snapshot named '$(cat "$T/out")', not $name"
[ ! -e "$name" ] || fail "the new layer was made in the daemon's root ($name), not the asker's"
[ -s "$R$name" ] || fail "no new layer at $R$name: $(ls -l "$R")"
mirror=/run/uloop/$(stat -c '%d %i' "$R$name" | awk '{ printf "cow-%x-%x.bits", $1, $2 }')
[ -e "$mirror" ] || fail "the new layer's mirror is not in /run/uloop ($mirror): $(ls /run/uloop)"
sleep 1.5	# the run state is rewritten every second
grep -q "\"cow\":\"$name\"" "$state" || fail "status: the top is not $name: $(cat "$state")"
[ "$(json_get cow_layers <"$state")" -eq 2 ] || fail "status: layers: $(cat "$state")"
echo "ok: the snapshot asked from another root made that root's $name, its mirror in /run/uloop"

cp "$T/model" "$T/model.a"
in_ns $W 2 100 "$T/dev" "$T/model" || fail "writes after the snapshot failed"
in_ns cmp "$T/dev" "$T/model" || fail "the device does not read back its writes after the snapshot"
# A clean stop (what uloop's shutdown does): flushed, the mirror removed.
kill "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
	[ $i -lt 100 ] || fail "the daemon did not stop"
	sleep 0.1
	i=$((i + 1))
done
[ ! -e "$mirror" ] || fail "the new layer's mirror was left in /run/uloop after a clean stop"
$ULOOP merge "$T/a.cow" --output "$T/flat.a" || fail "merge of the frozen layer failed"
cmp "$T/flat.a" "$T/model.a" || fail "the frozen layer changed after the snapshot"
$ULOOP attach "$T/img" --transport fuse --device "$T/dev2" --cow "$R$name" >/dev/null ||
	fail "the new layer does not attach"
on_exit "$ULOOP detach $T/dev2 2>/dev/null || true"
cmp "$T/dev2" "$T/model" || fail "the stack from the new layer reads wrong"
$ULOOP detach "$T/dev2"
echo "ok: writes after the snapshot in the new layer; the stack from it reads every write"
