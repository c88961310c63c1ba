#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `uloop attach -v` (rd.uloop.debug in the initramfs, whose attach.err is
# a file on a tmpfs): once the device is ready the daemon writes nothing
# more to the caller's stderr file (it went on for the daemon's life, the
# debug lines and curl's trace growing the file in RAM); its debug output
# goes to the kernel log.  A FUSE attach of an image from nginx (curl's
# trace is the bulk of -v), reads through it, and the stderr file's size
# before and after.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires_root
[ -e /dev/fuse ] || { echo "requires /dev/fuse"; exit 77; }
mkdir -p "$T/www"
make_image "$T/www/img" $((4 * 1048576))
start_nginx web "$T/www"
: >"$T/dev"
# shellcheck disable=SC2154  # web_http: start_nginx's
"$ULOOP" attach "http://127.0.0.1:$web_http/img" --cache "$T/cache" --transport fuse --device "$T/dev" -v \
	>"$T/out" 2>"$T/err" || { cat "$T/err"; fail "attach failed"; }
on_exit "$ULOOP detach $T/dev >/dev/null 2>&1"
before=$(wc -c <"$T/err")
[ "$before" -gt 0 ] || fail "-v wrote no debug output while attaching"
for i in 1 2 3; do dd if="$T/dev" of=/dev/null bs=64k skip=$((i * 10)) count=4 2>/dev/null; done
cmp -s "$T/dev" "$T/www/img" || fail "the device does not read as the image"
sleep 1
after=$(wc -c <"$T/err")
[ "$after" -eq "$before" ] ||
	{ tail -n 5 "$T/err"; fail "the daemon kept writing to the caller's stderr after ready: $before -> $after bytes"; }
echo "attach -v: $before bytes of debug output while attaching, none after ready"
