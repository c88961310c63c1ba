#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ulooproot NETIF NETROOT NEWROOT - dracut's netroot handler for
# netroot=uloop:URL (40network's netroot finds it by name), and
# ulooproot --poll NETROOT, the initqueue job that stands in for netroot
# with systemd-networkd: it returns at once until an interface has an
# IPv4 address, and the initqueue runs it again.
#
# What it does, as the standalone initramfs's /init (docs/initramfs.md):
#   1. the cache: rd.uloop.cache=SPEC[:/path] (a raw partition, or a file
#      in that filesystem); absent, not found in 10 s, write-protected,
#      unmountable or refused by uloop: a warning and a cache in RAM;
#   2. uloop attach (a root-storage daemon: /etc/initrd-release exists in
#      every dracut image; the booted system reaches its binary as
#      /proc/PID/exe);
#   3. the image read-only on /run/uloop/lower, the writable layer on
#      /run/uloop/rw (and /run/uloop/ro with rd.live.overlay.readonly);
#   4. without systemd, the union on $NEWROOT; with systemd,
#      dracut-uloop-generator's sysroot.mount mounts the same union (a
#      DHCP root-path came too late for the generator: a drop-in then);
#   5. /run/uloop/root.ready, the initqueue's finished predicate.
# /run (the daemon's state, the layers' mounts) moves into the new root
# at switch_root; the daemon keeps serving.  Every failure is dracut's
# die with one line naming the parameter; rd.shell / rd.emergency decide
# what follows.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck source=/dev/null  # dracut's own library
command -v getarg >/dev/null || . /lib/dracut-lib.sh
# shellcheck source=hooks/dracut/90uloop/uloop-lib.sh
. /lib/uloop-lib.sh

if [ "$1" = --poll ]; then
	netroot=$2
	netif=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ print $2; exit }')
	[ -n "$netif" ] || exit 0
else
	netif=$1 netroot=$2
	[ -n "$3" ] && NEWROOT=$3
fi
NEWROOT=${NEWROOT:-/sysroot}
[ -e /run/uloop/root.ready ] && exit 0
mkdir -p /run/uloop
# netroot runs once per interface that comes up: one attach.
mkdir /run/uloop/handler 2>/dev/null || exit 0

url=${netroot#uloop:}
uloop_opts
err=$(uloop_check "$url") || die "$err"
say() { info "uloop: $*"; echo "uloop: $*" >/dev/console 2>/dev/null; }
# mount's complaint, the cause alone and on one line: util-linux adds a
# line ("dmesg(1) may have more information..."), and a kernel log
# record (die, warn) ends at the first newline, with what followed it.
why() { echo "$1" | sed -n '1{s/.*: //;p;}'; }
say "root=uloop:$url through $netif"

ram_cache() {
	mkdir -p /run/uloop/ram
	ismounted /run/uloop/ram || mount -t tmpfs -o "$ULOOP_RAM_CACHE_OPTS" tmpfs /run/uloop/ram
	cachearg=/run/uloop/ram/cache
}
no_flash() {
	warn "uloop: rd.uloop.cache=$ULOOP_CACHE: $*; booting with a cache in RAM (nothing persists)"
	ram_cache
}
# The device for a SPEC, once udev has it (up to 10 s: USB and some HBAs
# come late).
find_dev() {
	_d=$(label_uuid_to_dev "$1")
	_i=0
	while [ ! -b "$_d" ]; do
		[ $_i -ge 20 ] && return 1
		udevadm settle --timeout=1 --exit-if-exists="$_d" >/dev/null 2>&1
		[ -b "$_d" ] || sleep 0.5
		_i=$((_i + 1))
	done
	echo "$_d"
}
# SPEC[:/path] -> spec, path ("" for a bare device).
split_spec() {
	spec=${1%%:/*} path=""
	[ "$spec" != "$1" ] && path=/${1#*:/}
}

cachearg=""
if [ -n "$ULOOP_CACHE" ]; then
	split_spec "$ULOOP_CACHE"
	if ! dev=$(find_dev "$spec"); then
		no_flash "no such device after 10 s"
	elif [ "$(cat "/sys/class/block/$(readlink -f "$dev" | sed 's,.*/,,')/ro" 2>/dev/null)" = 1 ]; then
		no_flash "$dev is read-only (write-protected?)"
	elif [ -z "$path" ]; then
		cachearg=$dev
	else
		mkdir -p /run/uloop/flash
		if ! merr=$(mount "$dev" /run/uloop/flash 2>&1); then
			no_flash "cannot mount $dev: $(why "$merr")"
		elif ! mkdir -p "/run/uloop/flash${path%/*}" 2>/dev/null; then
			no_flash "cannot create ${path%/*} in $dev"
		else
			cachearg=/run/uloop/flash$path
		fi
	fi
else
	ram_cache
fi

# The transports: uloop.ko where it was packed (auto prefers it), nbd.
[ "$ULOOP_TRANSPORT" = nbd ] || modprobe -q uloop 2>/dev/null
modprobe -q nbd 2>/dev/null

attach_err() {
	tail -n 1 /run/uloop/attach.err | sed 's/^uloop: //' | grep . ||
		echo "uloop attach failed without a message (killed?)"
}
# The line of a failed attach: uloop's own names the URL when the server
# is the cause ("URL: server answered 404"), else it is prefixed.
attach_fail() {
	_e=$(attach_err)
	case $_e in "$url: "*) die "root=uloop:$_e" ;; *) die "root=uloop:$url: $_e" ;; esac
}
# A raw flash is held by its exclusive open, which udev's probes (shared,
# not exclusive) never meet: no settling or retry needed.
attach() {
	rdev=$(uloop_attach "$url" "$cachearg" /run/uloop/attach.err)
}
if ! attach; then
	if [ -n "$ULOOP_CACHE" ] && tail -n 1 /run/uloop/attach.err | grep -q -e "^uloop: cache " -e "^uloop: bitmap "; then
		no_flash "$(attach_err)"
		attach || attach_fail
	else
		attach_fail
	fi
fi
# uloop's notes (a stale cache dropped, a mirror not used...) belong on
# the console.
while read -r line; do say "${line#uloop: }"; done </run/uloop/attach.err
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' /run/uloop/*.json 2>/dev/null)
pid=${pid%%[!0-9]*}
say "root image on $rdev, daemon pid $pid"
# With systemd, this runs inside dracut-initqueue.service, and so would
# the daemon: the booted system's systemd stops that unit (its file is
# gone after switch_root) by killing its whole cgroup, '@' or not.  The
# root cgroup is where a daemon started by a plain initramfs lives, and
# systemd leaves it alone until its final killing spree, which spares
# '@'.  (cgroup v2; v1 keeps systemd's tree under /sys/fs/cgroup/systemd.)
if [ -n "$DRACUT_SYSTEMD" ] && [ -n "$pid" ]; then
	for cg in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/systemd/cgroup.procs; do
		[ -w "$cg" ] && echo "$pid" >"$cg" 2>/dev/null && break
	done || warn "uloop: cannot move the daemon (pid $pid) to the root cgroup: systemd may stop it after switch_root"
fi

mkdir -p /run/uloop/lower /run/uloop/rw
merr=""
if [ "$ULOOP_FSTYPE" = auto ]; then
	for t in squashfs erofs ext4; do
		merr=$(mount -t "$t" -o ro "$rdev" /run/uloop/lower 2>&1) && break
	done
else
	merr=$(mount -t "$ULOOP_FSTYPE" -o ro "$rdev" /run/uloop/lower 2>&1)
fi
ismounted /run/uloop/lower ||
	die "rd.uloop.fstype=$ULOOP_FSTYPE: cannot mount $rdev: $(why "$merr") (not squashfs, erofs or ext4?)"

# The writable layer (mounted on $1): RAM, or a persistent SPEC[:/path].
layer() {
	case $ULOOP_OVERLAY in
	tmpfs|tmpfs:size=*) mount -t tmpfs -o "$(uloop_layer_opts)" tmpfs "$1" ||
		die "rd.uloop.overlay=$ULOOP_OVERLAY: cannot mount the RAM layer (bad size?)" ;;
	*)
		split_spec "$ULOOP_OVERLAY"
		odev=$(find_dev "$spec") || die "rd.uloop.overlay=$ULOOP_OVERLAY: no such device after 10 s"
		merr=$(mount ${2:+-o "$2"} "$odev" "$1" 2>&1) ||
			die "rd.uloop.overlay=$ULOOP_OVERLAY: cannot mount $odev: $(why "$merr")"
		if [ -n "$path" ]; then
			mkdir -p "$1$path" 2>/dev/null || [ -d "$1$path" ] ||
				die "rd.uloop.overlay=$ULOOP_OVERLAY: no $path in $odev"
			mount --bind "$1$path" "$1"
		fi
		if [ -n "$ULOOP_RESET" ] && [ -z "$2" ]; then
			say "rd.live.overlay.reset: emptying the writable layer on $odev"
			rm -rf "$1/upper" "$1/work"
		fi ;;
	esac
}
case $ULOOP_OVERLAY in
none) ;;
tmpfs*) layer /run/uloop/rw ;;
*)
	if [ -n "$ULOOP_OVLRO" ]; then
		mkdir -p /run/uloop/ro
		layer /run/uloop/ro ro
		# Read-only, it cannot be made: a layer never used writable has
		# nothing to show.
		[ -d /run/uloop/ro/upper ] ||
			die "rd.live.overlay.readonly: rd.uloop.overlay=$ULOOP_OVERLAY has no upper/ yet (boot it writable once)"
		mount -t tmpfs -o mode=0755,size=50% tmpfs /run/uloop/rw
	else
		layer /run/uloop/rw
	fi ;;
esac
[ "$ULOOP_OVERLAY" = none ] || mkdir -p /run/uloop/rw/upper /run/uloop/rw/work
if [ "$ULOOP_UNION" = aufs ] && ! grep -qw aufs /proc/filesystems && ! modprobe -q aufs; then
	die "rd.uloop.union=aufs: this kernel has no aufs (use rd.uloop.union=overlay)"
fi

# shellcheck disable=SC2046  # TYPE WHAT OPTIONS
set -- $(uloop_union)
if [ -z "$DRACUT_SYSTEMD" ]; then
	merr=$(mount -t "$1" -o "$3" "$2" "$NEWROOT" 2>&1) ||
		die "rd.uloop.union=$ULOOP_UNION: cannot mount the root: $(why "$merr")"
elif r=$(getarg root=); n=$(getarg netroot=); [ "${r%%:*}" != uloop ] && [ "${n%%:*}" != uloop ]; then
	# A DHCP root-path: the generator ran before it was known.
	mkdir -p /run/systemd/system/sysroot.mount.d
	printf '[Unit]\nAfter=dracut-initqueue.service\n[Mount]\nWhere=/sysroot\nWhat=%s\nType=%s\nOptions=%s\n' \
		"$2" "$1" "$3" >/run/systemd/system/sysroot.mount.d/uloop.conf
	systemctl --no-block daemon-reload
fi
: >/run/uloop/root.ready
# At poweroff the daemon should commit and exit before the power goes:
# dracut's shutdown hook (uloop-shutdown.sh) detaches the image, where
# the booted system restores the initramfs into /run/initramfs
# (dracut-shutdown.service).  systemd-shutdown goes back there only if
# /run/initramfs/shutdown is executable, and dracut's own init mounts
# /run noexec (systemd, in the initramfs or not, mounts it nosuid,nodev
# only): without dracut-systemd, remount it as systemd would.
need_shutdown
if [ -z "$DRACUT_SYSTEMD" ] && ! merr=$(mount -o remount,exec /run 2>&1); then
	warn "uloop: cannot remount /run exec ($(why "$merr")): at poweroff systemd will not return to the initramfs to detach the image"
fi
exit 0
