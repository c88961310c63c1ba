#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The boot library's last two steps (initramfs/lib/boot.sh), as the three
# flavours run them before switch_root, each boot in a mount namespace
# of its own with a tmpfs on /run (noexec, as initramfs-tools and dracut
# mount it) and files over /dev/kmsg and /dev/console; `uloop` is a
# stand-in that answers info (the cache before the attach), attach and
# status (the daemon's counters) as uloop does.
#   uloop_boot_metrics: /run/uloop/boot.json and one line on the console
#     and in the kernel log, with the attach and root times in order, the
#     bytes fetched by attach and by root, hits and misses, cold / warm /
#     offline, the last shutdown (clean or not), the profile ("none", or
#     the run state's); a cache of another image dropped at attach is
#     cold; `uloop status` does not take boot.json for a device.
#   uloop_prepare_shutdown: /run/initramfs/shutdown is uloop (the same
#     file as /run/uloop/bin/uloop), /run is exec; one already there is
#     left alone, with a warning.
. "$(dirname "$0")/functions.sh"
requires_root
requires unshare
mkdir -p "$T/fake"
: >"$T/cache"

# $T/mode: "BLOCKS_BEFORE CLEAN BLOCKS_AT_ATTACH [offline] [profile=P]".
cat >"$T/fake/uloop" <<F
#!/bin/sh
read -r before clean now rest <"$T/mode"
case \$1 in
sync) : >"$T/synced" ;;
info)
	[ "\$before" = none ] && exit 1
	echo "{\"blocks\":400,\"blocks_present\":\$before,\"clean\":\$clean}" ;;
attach)
	case " \$rest " in *" offline "*) echo "uloop: attach: server unreachable: serving the cached image offline" >&2 ;; esac
	echo /dev/fake0 ;;
status)
	prof=""
	case " \$rest " in *" profile="*) p=\$(echo " \$rest " | sed 's/.* profile=\([^ ]*\) .*/\1/'); prof="\"profile\":\"\$p\"," ;; esac
	f=12345
	[ -e /run/uloop/attached ] && f=9876543
	: >/run/uloop/attached
	echo "{\"device\":\"/dev/fake0\",\"transport\":\"nbd\",\"pid\":77,\$prof\"block_size\":65536,\"blocks\":400,\"blocks_present\":\$now,\"stats\":{\"hit_blocks\":321,\"miss_blocks\":45,\"bytes_fetched\":\$f}}" ;;
esac
F
chmod +x "$T/fake/uloop"

# boot MODE: attach, then the last steps; the outputs in $T/out, the json
# in $T/json, the kernel log's lines in $T/kmsg.
boot() {
	echo "$1" >"$T/mode"
	: >"$T/kmsg"
	: >"$T/console"
	PATH=$T/fake:$PATH unshare -m --propagation private sh -c '
		top=$1 T=$2
		mount -t tmpfs -o noexec tmpfs /run
		mount --bind "$T/kmsg" /dev/kmsg
		mount --bind "$T/console" /dev/console
		. "$top/initramfs/lib/dev.sh"
		. "$top/initramfs/lib/cmdline.sh"
		. "$top/initramfs/lib/boot.sh"
		uloop_say() { echo "say: $*"; }
		uloop_warn() { echo "warn: $*"; }
		uloop_fail() { echo "fail: $*"; }
		uloop_parse_line "root=uloop:http://h/r rd.uloop.cache=/dev/x"
		ULOOP_CACHEPATH=$T/cache
		mkdir -p /run/uloop
		uloop_attach_root || exit 0
		[ -n "$SHUTDOWN_THERE" ] && mkdir -p /run/initramfs && : >/run/initramfs/shutdown
		uloop_prepare_shutdown
		uloop_boot_metrics
		cp /run/uloop/boot.json "$T/json" 2>/dev/null
		[ /run/initramfs/shutdown -ef /run/uloop/bin/uloop ] && echo "shutdown is uloop"
		sed -n "s/^[^ ]* \/run [^ ]* \([^ ]*\).*/run: \1/p" /proc/mounts
		"$top/build/uloop" status 2>&1 | sed "s/^/status: /"
		exit 0
	' sh "$top" "$T" >"$T/out" 2>&1 || fail "boot [$1]: $(cat "$T/out")"
}
jget() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$T/json"; }
want() {	# want KEY VALUE
	[ "$(jget "$1")" = "$2" ] || fail "boot.json: $1 is '$(jget "$1")', not '$2': $(cat "$T/json"; cat "$T/out")"
}

boot "none none 1"
want mode cold
want last_shutdown none
want cache flash
want device /dev/fake0
want transport nbd
want fetched_attach_bytes 12345
want fetched_root_bytes 9876543
want hits 321
want misses 45
want profile none
want blocks_present_before 0
want blocks_present_root 1
[ -e "$T/synced" ] || fail "the figures were taken without a uloop sync (the daemon's state is up to a second old)"
awk -v a="$(jget attach_start_s)" -v b="$(jget attached_s)" -v r="$(jget root_s)" -v d="$(jget attach_time_s)" \
	'BEGIN { exit !(a > 0 && b >= a && r >= b && d >= 0) }' || fail "times out of order: $(cat "$T/json")"
line=$(sed -n 's/^<6>uloop: //p' "$T/kmsg")
case $line in
"boot: cold, attached at "*" s ("*" s), root at "*" s, fetched 12.3 kB by attach and 9.9 MB by root, hits 321 misses 45, profile none") ;;
*) fail "kernel log line: '$line'" ;;
esac
grep -qx "uloop: $line" "$T/console" || [ "$(cut -f1 /proc/sys/kernel/printk)" -gt 6 ] ||
	fail "no console line: $(cat "$T/console")"
grep -qx "shutdown is uloop" "$T/out" || fail "/run/initramfs/shutdown is not uloop: $(cat "$T/out")"
grep -q "^run: .*noexec" "$T/out" && fail "/run is still noexec: $(cat "$T/out")"
grep -qx "status: no device attached" "$T/out" || fail "uloop status took boot.json for a device: $(cat "$T/out")"
echo "cold: boot.json, the kernel log's and console's line; /run/initramfs/shutdown is uloop, /run exec"

boot "40 true 41"
want mode warm
want last_shutdown clean
want blocks_present_before 40
grep -q "^<6>uloop: boot: warm (last shutdown clean), " "$T/kmsg" || fail "warm: $(cat "$T/kmsg")"
boot "40 false 41 profile=http://h/p.prof"
want mode warm
want last_shutdown unclean
want profile http://h/p.prof
echo "warm: the last shutdown clean or not; the run state's profile"

boot "40 true 2"
want mode cold
boot "40 true 41 offline"
want mode offline
echo "a cache of another image dropped: cold; offline"

SHUTDOWN_THERE=1 boot "none none 1"
grep -q "^warn: /run/initramfs/shutdown is there already" "$T/out" || fail "no warning for a shutdown there: $(cat "$T/out")"
grep -qx "shutdown is uloop" "$T/out" && fail "replaced a shutdown there"
echo "a /run/initramfs/shutdown already there is left alone, with a warning"
