#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# trixie-apt.sh apt-get|apt-cache ARGS... - run apt-get or apt-cache
# against Debian 13 (trixie) without touching the machine's own apt
# configuration: a private sources file and private lists and archive
# cache under $ULOOP_DEPS/trixie-apt, passed to this one call only.
#
# Why: uloop is built and tested on Debian 12, but Debian 13's kernel
# (6.12, with ublk) and its mbedTLS 3.6 source are what the current
# platform needs (tools/build-mbedtls.sh, tests/vm/lib.sh vm_kernel with
# VM_KSERIES=trixie).  Adding trixie to /etc/apt would let an upgrade
# pull half a release onto the host.
#
# The mirror is the one the machine already uses for Debian (its deb822
# or one-line entries), so nothing here names a host.  trixie-backports is
# listed for the newest kernel's headers (tests/kmod/test-kmod-build.sh
# compiles uloop.ko against them); apt never takes a backport unless
# asked by name or /trixie-backports, so the candidates stay trixie's.  The index is
# refreshed when it is older than a day (ULOOP_TRIXIE_REFRESH=1: now).
set -eu

[ $# -ge 1 ] || { echo "usage: trixie-apt.sh apt-get|apt-cache ARGS..." >&2; exit 2; }
tool=$1
shift
case $tool in
apt-get|apt-cache) ;;
*) echo "trixie-apt: $tool: not apt-get or apt-cache" >&2; exit 2 ;;
esac

dir=${ULOOP_DEPS:-/var/cache/uloop-deps}/trixie-apt
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"

# The machine's Debian mirror and security mirror, from its own entries.
mirrors() {
	{
		sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
		sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | tr ' ' '\n' | grep -E '^(https?|file)://' | sort -u
}
main="" sec=""
for u in $(mirrors); do
	case $u in
	*debian-security*) [ -n "$sec" ] || sec=${u%/} ;;
	*/debian|*/debian/) [ -n "$main" ] || main=${u%/} ;;
	esac
done
[ -n "$main" ] || { echo "trixie-apt: no Debian mirror in /etc/apt to take trixie from" >&2; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
{
	printf 'Types: deb deb-src\nURIs: %s\nSuites: trixie trixie-updates trixie-backports\nComponents: main\nSigned-By: %s\n' \
		"$main" "$keyring"
	[ -z "$sec" ] ||
		printf '\nTypes: deb deb-src\nURIs: %s\nSuites: trixie-security\nComponents: main\nSigned-By: %s\n' \
			"$sec" "$keyring"
} >"$dir/sources.tmp"
if cmp -s "$dir/sources.tmp" "$dir/trixie.sources" 2>/dev/null; then
	rm -f "$dir/sources.tmp"
else
	mv "$dir/sources.tmp" "$dir/trixie.sources"
	rm -f "$dir/updated"
fi

# Nothing of trixie is installed as far as these calls know (an empty
# status), so download and source never weigh the host's packages.
opts="-o Dir::Etc::sourcelist=$dir/trixie.sources -o Dir::Etc::sourceparts=/nonexistent
-o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir/cache
-o Dir::State::status=/dev/null -o APT::Sandbox::User=root"

# Several tests may ask at once: one refreshes, the others wait.
exec 9>"$dir.lock"
flock 9
if [ "${ULOOP_TRIXIE_REFRESH:-0}" = 1 ] || [ ! -e "$dir/updated" ] ||
	[ -n "$(find "$dir/updated" -mmin +1440)" ]; then
	# shellcheck disable=SC2086
	apt-get $opts -qq update >"$dir/update.log" 2>&1 ||
		{ cat "$dir/update.log" >&2; echo "trixie-apt: could not read trixie's package index" >&2; exit 1; }
	touch "$dir/updated"
fi
flock -u 9
# shellcheck disable=SC2086
exec "$tool" $opts "$@"
