#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# debian-root.sh - print the path of a minimal Debian 12 (bookworm) root
# with systemd as /sbin/init, as a zstd squashfs; build it first if the
# cache has none.  Needs root, mmdebstrap and the machine's own apt
# archive (the only network it uses).
#
# The image is cached as $ULOOP_DEPS/debian-root-HASH.squashfs (HASH: of
# this script), so a test run pays the build once and a change here
# rebuilds it.  Built in a temporary place and renamed into the cache:
# an interrupted build leaves no broken image behind.
#
# What is in it: the Essential:yes packages, systemd-sysv (systemd and
# /sbin/init) and usr-is-merged, all resolved together by apt (variant
# custom, merged /usr made by mmdebstrap's hook: without usr-is-merged in
# the same set, init-system-helpers pulls usrmerge and with it perl, 50 MB
# more).  Nothing else: no apt, no udev (nothing here needs device units
# or hotplug: the initramfs has mounted the root), no dbus (systemctl talks
# to PID 1 on its private socket), no getty (the test powers the guest off
# itself).  No docs, man pages or locales.  About 80 MB of files, a 24 MB
# squashfs, built in under a minute.
#
# For the tests: a oneshot unit uloop-test.service, after local-fs.target,
# runs /uloop-test/run with its output on the console when the image has
# that file.  Tests add /uloop-test to a copy of the image (mksquashfs
# appends a new top-level directory), so changing a test's checks never
# rebuilds this image.  The units that would wait for what this machine
# does not have (gettys on devices that udev would announce, logind
# without dbus) are masked.
set -eu

deps=${ULOOP_DEPS:-/var/cache/uloop-deps}
hash=$(sha256sum "$0" | cut -c1-12)
img=$deps/debian-root-$hash.squashfs
if [ -s "$img" ]; then
	echo "$img"
	exit 0
fi

say() { echo "debian-root: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "needs root to build $img"; exit 77; }
for c in mmdebstrap mksquashfs apt-get flock; do
	command -v "$c" >/dev/null 2>&1 || { say "requires $c"; exit 77; }
done
mkdir -p "$deps"
# One builder at a time; a second one waits, then finds the image.
exec 9>"$deps/debian-root.lock"
flock 9
if [ -s "$img" ]; then
	echo "$img"
	exit 0
fi
# What a killed build left behind (no other builder runs now).
rm -rf "$deps"/debian-root.tmp.*

# The machine's own Debian archive entries (debian-sources.sh).
. "$(dirname "$0")/debian-sources.sh"
sources=$(debian_sources) || exit 1

work=$(mktemp -d "$deps/debian-root.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
R=$work/root
start=$(date +%s)
say "building a Debian bookworm root with mmdebstrap"
echo "$sources" | mmdebstrap --mode=root --variant=custom \
	--include='?essential' --include=systemd-sysv,usr-is-merged \
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/lintian/*' \
	--dpkgopt='path-exclude=/usr/share/bash-completion/*' \
	--dpkgopt='path-exclude=/usr/share/zsh/*' \
	--quiet bookworm "$R" - >"$work/mmdebstrap.log" 2>&1 ||
	{ tail -n 30 "$work/mmdebstrap.log" >&2; say "mmdebstrap failed"; exit 1; }

# What a diskless test node needs and does not need.
echo uloop-debian >"$R/etc/hostname"
rm -f "$R/etc/resolv.conf"
rm -rf "$R/etc/apt" "$R/var/cache/apt" "$R/var/lib/apt" "$R/var/log"/*.log
# An empty machine-id would make this a first boot (systemd-firstboot asks
# questions on the console): the node gets a fixed one.
echo 0123456789abcdef0123456789abcdef >"$R/etc/machine-id"
for u in getty@.service serial-getty@.service console-getty.service \
	getty-static.service systemd-logind.service; do
	ln -sf /dev/null "$R/etc/systemd/system/$u"
done
cat >"$R/etc/systemd/system/uloop-test.service" <<'UNIT'
[Unit]
Description=uloop test checks
After=local-fs.target
ConditionPathExists=/uloop-test/run

[Service]
Type=oneshot
ExecStart=/uloop-test/run
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
ln -sf ../uloop-test.service "$R/etc/systemd/system/multi-user.target.wants/uloop-test.service"
ln -sf /lib/systemd/system/multi-user.target "$R/etc/systemd/system/default.target"

# No xattrs: the tree's only ones are the ACLs of /var/log/journal (which
# mksquashfs cannot store), there are no file capabilities.
mksquashfs "$R" "$work/root.squashfs" -comp zstd -no-xattrs \
	-no-progress -quiet >&2
mv "$work/root.squashfs" "$img"
say "built $img: $(du -sm "$R" | cut -f1) MB tree, $(( $(stat -c %s "$img") / 1048576 )) MB squashfs, $(( $(date +%s) - start )) s"
echo "$img"
