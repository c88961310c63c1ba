#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# uloop sync: a daemon (a FUSE attach of a file) commits its cache when
# asked, answers through its run state ("synced" counts the answers, its
# counters fresh) and keeps serving; `uloop sync` without DEV does every
# device.  A daemon whose state has no "synced" (an older uloop, to which
# SIGUSR2 is fatal) is refused, not signalled; a device not attached is
# an error naming it.  In a mount namespace with a /run/uloop of its own:
# the daemons of other runs on this machine are none of its business.
if [ -z "${ULOOP_SYNC_NS:-}" ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	mkdir -p /run/uloop
	exec env ULOOP_SYNC_NS=1 unshare -m --propagation private \
		sh -c 'mount -t tmpfs -o mode=0755 tmpfs /run/uloop && exec sh "$0"' "$0"
fi
. "$(dirname "$0")/functions.sh"
requires_root
requires unshare
[ -e /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }
make_image "$T/img" $((4 * 1048576))
: >"$T/dev"
"$ULOOP" attach "$T/img" --cache "$T/cache" --transport fuse --device "$T/dev" >/dev/null ||
	fail "attach failed"
on_exit "$ULOOP detach $T/dev >/dev/null 2>&1"
synced() { "$ULOOP" status "$T/dev" --json | json_get synced; }
[ "$(synced)" = 0 ] || fail "a new daemon's state says synced $(synced), not 0"
dd if="$T/dev" of=/dev/null bs=64k skip=20 count=4 2>/dev/null
"$ULOOP" sync "$T/dev" || fail "uloop sync DEV failed"
[ "$(synced)" = 1 ] || fail "after uloop sync: synced $(synced), not 1"
"$ULOOP" status "$T/dev" --json | grep -q '"bytes_fetched":[1-9]' ||
	fail "the state after a sync does not count the bytes fetched: $("$ULOOP" status "$T/dev" --json)"
"$ULOOP" sync || fail "uloop sync (every device) failed"
[ "$(synced)" = 2 ] || fail "after uloop sync without DEV: synced $(synced), not 2"
cmp -s "$T/dev" "$T/img" || fail "the device does not read as the image after the syncs"
echo "sync: answered through the run state, counters fresh; the daemon serves on"

# An older daemon: a state without "synced", its pid a live "uloop".
cp "$(command -v sleep)" "$T/uloop-old"
"$T/uloop-old" 60 &
old=$!
on_exit "kill $old 2>/dev/null"
state=/run/uloop/$(echo "$T/old" | tr / %).json
printf '{"device":"%s","transport":"fuse","pid":%d}\n' "$T/old" "$old" >"$state"
on_exit "rm -f '$state'"
expect_fail 1 "cannot sync (an older uloop)" "$ULOOP" sync "$T/old"
kill -0 "$old" || fail "uloop sync signalled a daemon that cannot sync"
rm -f "$state"
expect_fail 1 "$T/nope: not attached" "$ULOOP" sync "$T/nope"
echo "sync: an older daemon is not signalled; a device not attached is named"
