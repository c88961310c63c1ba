#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The man pages (docs/man) format without a warning (groff -man -ww) and
# each names what it documents; uloop(8) documents every command `uloop
# --help` lists and every option each command's --help lists (so an
# option cannot be added to the code and not to the page).
. "$(dirname "$0")/functions.sh"
requires groff
n=0
for f in "$top"/docs/man/*.[78]; do
	out=$(groff -man -ww -z "$f" 2>&1) || fail "$f: groff failed: $out"
	[ -z "$out" ] || fail "$f: groff warns: $out"
	name=$(basename "$f" | sed 's/\.[78]$//')
	LC_ALL=C groff -man -Tutf8 "$f" 2>/dev/null | grep -q "$name" || fail "$f: does not name $name"
	n=$((n + 1))
done
[ "$n" -ge 3 ] || fail "expected 3 man pages, found $n"
echo "man: $n pages format cleanly"

# The commands of `uloop --help`, and each one's options.
man=$(sed 's/\\-/-/g' "$top/docs/man/uloop.8")
cmds=$("$ULOOP" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }')
[ -n "$cmds" ] || fail "uloop --help lists no commands"
nopt=0
for c in $cmds; do
	printf '%s\n' "$man" | grep -q "^\.B uloop $c\$" || fail "uloop.8: no synopsis line for 'uloop $c'"
	opts=$("$ULOOP" "$c" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
	[ -n "$opts" ] || fail "uloop $c --help lists no options"
	for o in $opts; do
		printf '%s\n' "$man" | grep -q -e "$o\\([^a-z-]\\|\$\\)" || fail "uloop.8: uloop $c's option $o is not documented"
		nopt=$((nopt + 1))
	done
done
echo "uloop.8: $(echo "$cmds" | wc -w) commands and their $nopt options documented"
