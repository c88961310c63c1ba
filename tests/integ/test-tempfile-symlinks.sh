#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Files uloop creates beside a name the user gave (the cache's re-layout
# file CACHE.uloop-new, export's OUTPUT.uloop-part) and the FUSE mount
# point are never reached through a symlink someone planted: root would
# truncate the link's target, chown it to the cache's owner, or mount over
# it.  Each target here is a root-only file that must come out unchanged.
. "$(dirname "$0")/functions.sh"
requires_root

make_image "$T/img" $((1024 * 1024))
victim() {	# victim NAME: a root-only secret file
	echo "root's secret" >"$T/$1"
	chmod 600 "$T/$1"
}
intact() {	# intact NAME: still root's, mode 600, same contents
	[ "$(stat -c '%u %a' "$T/$1")" = "0 600" ] ||
		fail "$1 became $(stat -c '%U %a' "$T/$1")"
	[ "$(cat "$T/$1")" = "root's secret" ] || fail "$1 was written"
}

# A cache owned by another user, laid out by root: the new file takes the
# old one's owner, and CACHE.uloop-new points at the secret.
victim secret1
: >"$T/cache"
chown 65534:65534 "$T/cache"
ln -s "$T/secret1" "$T/cache.uloop-new"
$ULOOP hydrate "$T/img" --cache "$T/cache" --no-progress >/dev/null
intact secret1
[ "$(stat -c %u "$T/cache")" = 65534 ] || fail "the cache lost its owner"
[ ! -e "$T/cache.uloop-new" ] || fail "the link is still there"
$ULOOP check "$T/cache" --source "$T/img"

# A leftover of a crash (a regular file) is replaced, not refused.
: >"$T/cache2"
echo leftover >"$T/cache2.uloop-new"
$ULOOP hydrate "$T/img" --cache "$T/cache2" --no-progress >/dev/null
$ULOOP check "$T/cache2" --source "$T/img"

# export OUTPUT: OUTPUT.uloop-part points at the secret.
victim secret2
ln -s "$T/secret2" "$T/out.uloop-part"
$ULOOP export "$T/cache" "$T/out"
intact secret2
cmp "$T/out" "$T/img" || fail "export differs"

# FUSE: the mount point given is a symlink to the secret.
if [ -c /dev/fuse ]; then
	victim secret3
	ln -s "$T/secret3" "$T/dev"
	expect_fail 1 "a symlink; refusing to mount over what it points to" \
		$ULOOP attach "$T/img" --transport fuse --device "$T/dev"
	intact secret3
	! grep -q "$T" /proc/self/mountinfo || fail "something is mounted in $T"
	# A plain file works.
	$ULOOP attach "$T/img" --transport fuse --device "$T/dev2" >/dev/null
	on_exit "$ULOOP detach $T/dev2 2>/dev/null || true"
	cmp "$T/dev2" "$T/img" || fail "the FUSE device differs"
	$ULOOP detach "$T/dev2"
else
	echo "note: no /dev/fuse, the mount point not tried"
fi
echo "no planted symlink followed"
