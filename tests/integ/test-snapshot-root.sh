#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly N2
# `uloop snapshot` asked from another root than the daemon's: what a
# booted node does to its root's daemon, which kept the initramfs as its
# root at switch_root.  The daemon serves a --cow device from the host's
# root; `uloop snapshot DEV /snap.cow` runs chrooted into a directory of
# the test (its own mount namespace: /run/uloop bound in, a /proc).  The
# new top must be that root's /snap.cow (the directory's file), named so
# by `uloop status`, never a /snap.cow of the daemon's root; writes after
# the snapshot go to it, and the stack read back from it (its header
# names the frozen layer) is every write, before and after.
. "$(dirname "$0")/functions.sh"
requires_root
requires python3 unshare chroot
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }
S=$top/build/static/uloop
[ -x "$S" ] || { echo "requires the static build ($S)"; exit 77; }

W="python3 $(dirname "$0")/cow-writes.py"
make_image "$T/img" $((4 * 1024 * 1024))
cp "$T/img" "$T/model"
name=/uloop-snap-$$.cow
# Where the bug put it: the daemon's own root.
on_exit "rm -f $name"

$ULOOP attach "$T/img" --transport fuse --device "$T/dev" --cow "$T/a.cow" >/dev/null ||
	fail "attach failed"
on_exit "$ULOOP detach $T/dev 2>/dev/null || true"
$W 1 100 "$T/dev" "$T/model"

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
sleep 1.5	# the run state is rewritten every second
$ULOOP status "$T/dev" --json >"$T/st"
grep -q "\"cow\":\"$name\"" "$T/st" || fail "status: the top is not $name: $(cat "$T/st")"
[ "$(json_get cow_layers <"$T/st")" -eq 2 ] || fail "status: layers: $(cat "$T/st")"
echo "ok: the snapshot asked from another root made that root's $name"

cp "$T/model" "$T/model.a"
$W 2 100 "$T/dev" "$T/model"
cmp "$T/dev" "$T/model" || fail "the device does not read back its writes after the snapshot"
$ULOOP detach "$T/dev" || fail "detach failed"
$ULOOP merge "$T/a.cow" --output "$T/flat.a" || fail "merge of the frozen layer failed"
cmp "$T/flat.a" "$T/model.a" || fail "the frozen layer changed after the snapshot"
$ULOOP attach "$T/img" --transport fuse --device "$T/dev" --cow "$R$name" >/dev/null ||
	fail "the new layer does not attach"
cmp "$T/dev" "$T/model" || fail "the stack from the new layer reads wrong"
$ULOOP detach "$T/dev"
echo "ok: writes after the snapshot in the new layer; the stack from it reads every write"
