#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The man pages (docs/man) format without a warning (groff -man -ww) and
# each names what it documents.
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
