#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly C4
# An update finished by a daemon whose paths no longer lead to its files:
# what a root's daemon lives through at switch_root (it keeps the
# initramfs as its root while the flash's mount and /run move into the
# new root).  The flash (a tmpfs here) holds version 1's cache; the
# daemon attaches version 2, takes the cache to CACHE.seed and starts
# copying its blocks; the flash's mount is moved elsewhere, in a mount
# namespace of the test's own, while the copy is held at its start (the
# failpoint build's seed-copy pause: no timing).  When the copy is
# done the older version's file must be gone from the flash where it now
# is (it was left there for ever when the removal went by the path: the
# test-vm-update failure this covers, one boot in three), the device must
# be version 2, the cache must check out.
if [ -z "${ULOOP_TEST_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "requires root"; exit 77; }
	command -v unshare >/dev/null || { echo "requires unshare"; exit 77; }
	# A mount namespace whose mounts propagate nowhere: the move below
	# is the test's own (and a move under a shared mount is refused).
	ULOOP_TEST_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires_root
requires mksquashfs
[ -c /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }
[ -x "$ULOOP_FP" ] || { echo "requires the failpoint build ($ULOOP_FP)"; exit 77; }

mkdir -p "$T/www" "$T/tree" "$T/flash" "$T/moved"
random_files "$T/tree" 150
mksq() { mksquashfs "$T/tree" "$1" -noappend -quiet -comp gzip -no-progress >/dev/null || fail "mksquashfs $1"; }
mksq "$T/v1.sqfs"
for f in f40 f100; do head -c 3000 /dev/urandom >>"$T/tree/$f"; done
mksq "$T/v2.sqfs"

U=$ULOOP_NET
$U publish "$T/v1.sqfs" "$T/www" --name root >/dev/null || fail "publish v1"
start_nginx web "$T/www"
url="http://127.0.0.1:$web_http/root.uloop"
mount -t tmpfs -o size=64m flash "$T/flash" || fail "cannot mount a tmpfs"
on_exit "umount -l $T/flash 2>/dev/null; umount -l $T/moved 2>/dev/null; true"
$U hydrate "$url" --cache "$T/flash/c" --no-progress >/dev/null || fail "hydrate v1"
$U publish "$T/v2.sqfs" "$T/www" --name root >/dev/null || fail "publish v2"

ULOOP_FAILPOINT=seed-copy ULOOP_FAILPOINT_PAUSE=$T/paused \
	$ULOOP_FP attach "$url" --cache "$T/flash/c" --transport fuse --device "$T/dev" 2>"$T/err" >/dev/null ||
	fail "attach v2 failed: $(cat "$T/err")"
on_exit "rm -f $T/paused; $ULOOP detach $T/dev 2>/dev/null || umount -l $T/dev 2>/dev/null || true"
grep -q "update from the version on the flash" "$T/err" || fail "no update note: $(cat "$T/err")"
n=0
until [ -e "$T/paused" ]; do
	[ $n -lt 300 ] || fail "the copy never began"
	sleep 0.1
	n=$((n + 1))
done
mount --move "$T/flash" "$T/moved" || fail "cannot move the flash's mount"
[ -e "$T/moved/c.seed" ] || fail "no c.seed on the flash: $(ls "$T/moved")"
rm "$T/paused"

# The copy: done when the daemon says so (its run state, rewritten every
# second).
n=0
while $U status "$T/dev" --json | grep -q '"fill":"seeding"'; do
	[ $n -lt 600 ] || fail "still seeding after 60 s: $($U status "$T/dev" --json)"
	sleep 0.1
	n=$((n + 1))
done
$U status "$T/dev" --json | grep -q '"fill":"done"' || fail "the copy did not end well: $($U status "$T/dev" --json)"
[ ! -e "$T/moved/c.seed" ] || fail "the older version's cache is left on the flash after the copy: $(ls "$T/moved")"
[ -z "$(ls "$T/flash")" ] || fail "something was written where the flash was: $(ls "$T/flash")"
echo "ok: the older version's file removed from the flash after its mount moved"

mkdir -p "$T/m"
mount -t squashfs -o ro,loop "$T/dev" "$T/m" || fail "version 2 does not mount"
diff -r "$T/tree" "$T/m" >/dev/null || { umount "$T/m"; fail "the device is not version 2"; }
umount "$T/m"
$ULOOP detach "$T/dev" || fail "detach failed"
$U check "$T/moved/c" --source "$url" >/dev/null || fail "the cache does not check out"
echo "ok: version 2 served, its cache checks out"
