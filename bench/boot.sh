#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# boot.sh - the diskless boot against its alternatives, in one run (QEMU
# under TCG, Debian's current kernel, the demo root of bench/demo-root.sh):
#
#   cold    uloop, blank flash: root=uloop:URL rd.uloop.cache=/dev/vda;
#           the root prints the boot profile the daemon took (uloop
#           profile), served next to the image as root.profile
#   warm    uloop, the same flash again
#   profile uloop, blank flash, rd.uloop.profile=URL of that profile: the
#           daemon fetches the boot's blocks ahead of its reads
#   hydrate uloop, blank flash, rd.uloop.hydrate=8M,jitter=0: the daemon
#           fills the rest of the image behind the boot, at 8 MB/s; the
#           root waits until it says the cache is complete ("hydrated at")
#   offline the hydrated flash, rd.uloop.offline, no network (ip=off, and
#           the guest's server address leads nowhere)
#   *-ko    the same five with uloop.ko in the initramfs (hits served in
#           the kernel), when it builds for the guest kernel
#   cold+N, profile+N   cold and profile again with BENCH_DELAY_MS (20;
#           0: left out) added to every request by bench/delay-relay.py:
#           what a profile is for
#   local   the same squashfs on a local virtio disk, mounted directly
#   ram     "download the whole image to RAM first" (what dracut's livenet
#           does): wget to tmpfs, loop-mount
#
# For each: guest uptime when the root's init starts and when its reads are
# done, and the bytes fetched from the server.  Goals: warm within 1.1x of
# local; cold fetching at most 1.25x the bytes the boot read; a profile
# boot at +20 ms within 1.5x of local.
set -eu
ULOOP_TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$ULOOP_TOP/tests/integ/functions.sh"
. "$ULOOP_TOP/tests/integ/http-functions.sh"
. "$ULOOP_TOP/tests/vm/lib.sh"
requires mksquashfs
vm_kernel
. "$ULOOP_TOP/bench/demo-root.sh"

vm_uloop_initrd "$T/initrd"
truncate -s 256M "$T/flash"

# The alternatives boot the same root with a plain script: mount it, put
# a tmpfs overlay on it, chroot into its /sbin/init (which powers off).
cat >"$T/plain.sh" <<'G'
mkdir -p /lower /rw /newroot
if [ -b /dev/vda ] && grep -q local /proc/cmdline; then
	mount -t squashfs -o ro /dev/vda /lower
else
	wget -q -O /tmp/root.squashfs http://10.0.2.100/root.squashfs
	mount -t squashfs -o ro,loop /tmp/root.squashfs /lower
fi
mount -t tmpfs tmpfs /rw
mkdir -p /rw/u /rw/w
mount -t overlay -o lowerdir=/lower,upperdir=/rw/u,workdir=/rw/w overlay /newroot
for m in proc sys dev; do mount --bind /$m /newroot/$m; done
exec chroot /newroot /sbin/init
G
vm_initrd "$T/plain" "$T/plain.sh"

boot() {	# boot NAME INITRD DISK APPEND
	: >"$demo_log"
	vm_boot "$1" "$2" "$3" "$4" || { tail -n 20 "$T/$1.log"; fail "$1 boot failed"; }
	init=$(sed -n 's/.*DEMO-ROOT-INIT \([0-9.]*\).*/\1/p' "$T/$1.log")
	done=$(sed -n 's/.*DEMO-BOOTED \([0-9.]*\).*/\1/p' "$T/$1.log")
	read=$(sed -n 's/.*DEMO-READ \([0-9]*\).*/\1/p' "$T/$1.log")
	hyd=$(sed -n 's/.*DEMO-HYDRATED \([0-9.]*\).*/\1/p' "$T/$1.log")
	grep -q DEMO-HYDRATE-TIMEOUT "$T/$1.log" && hyd=timeout
	echo "$1 $init $done $(body_bytes "$demo_log") $read ${hyd:--}" >>"$T/rows"
}
# take_profile LOG: the profile the cold boot's root printed, served as
# http://10.0.2.100/root.profile.
take_profile() {
	tr -d '\r' <"$1" | sed -n '/DEMO-PROFILE-BEGIN/,/DEMO-PROFILE-END/p' |
		sed '1d;$d' >"$T/www/root.profile"
	head -n 1 "$T/www/root.profile" | grep -q '^uloop-profile ' ||
		fail "the cold boot printed no boot profile: $(grep -A3 DEMO-PROFILE-BEGIN "$1")"
}
: >"$T/rows"
U="root=uloop:http://10.0.2.100/root.squashfs ip=dhcp rd.uloop.cache=/dev/vda"
P="rd.uloop.profile=http://10.0.2.100/root.profile"
H="rd.uloop.hydrate=8M,jitter=0 demo.hydrated"
O="root=uloop:http://10.0.2.100/root.squashfs ip=off rd.uloop.cache=/dev/vda rd.uloop.offline"
uloop_rows() {	# uloop_rows SUFFIX INITRD
	truncate -s 0 "$T/flash$1" && truncate -s 256M "$T/flash$1"
	boot "cold$1" "$2" "$T/flash$1" "$U demo.profile"
	[ -n "$1" ] || take_profile "$T/cold.log"
	boot "warm$1" "$2" "$T/flash$1" "$U"
	truncate -s 0 "$T/flash$1" && truncate -s 256M "$T/flash$1"
	boot "profile$1" "$2" "$T/flash$1" "$U $P"
	truncate -s 0 "$T/flash$1" && truncate -s 256M "$T/flash$1"
	boot "hydrate$1" "$2" "$T/flash$1" "$U $H"
	VM_HTTP_PORT=9	# the discard port: nothing listens there
	boot "offline$1" "$2" "$T/flash$1" "$O"
	VM_HTTP_PORT=$demo_http
}
uloop_rows "" "$T/initrd"
if KO=$("$ULOOP_TOP/tests/kmod/build-kmod.sh" "$KVER" 2>/dev/null); then
	vm_uloop_initrd "$T/initrd-ko" --uloop-ko "$KO"
	uloop_rows -ko "$T/initrd-ko"
else
	echo "boot bench: uloop.ko does not build for $KVER; its rows are left out"
fi
DELAY=${BENCH_DELAY_MS:-20}
if [ "$DELAY" -gt 0 ]; then
	/usr/bin/python3 "$ULOOP_TOP/bench/delay-relay.py" "$demo_http" "$DELAY" >"$T/relay.port" 2>"$T/relay.err" &
	echo $! >"$T/relay.pid"
	on_exit "kill $(cat "$T/relay.pid") 2>/dev/null"
	n=0
	while [ ! -s "$T/relay.port" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
	[ -s "$T/relay.port" ] || fail "the delaying relay did not start: $(cat "$T/relay.err")"
	VM_HTTP_PORT=$(cat "$T/relay.port")
	truncate -s 0 "$T/flash" && truncate -s 256M "$T/flash"
	boot "cold+$DELAY" "$T/initrd" "$T/flash" "$U"
	truncate -s 0 "$T/flash" && truncate -s 256M "$T/flash"
	boot "profile+$DELAY" "$T/initrd" "$T/flash" "$U $P"
	VM_HTTP_PORT=$demo_http
fi
boot local "$T/plain" "$img" "local"
boot ram "$T/plain" "" ""

echo "boot bench: $(basename "$img") ($(stat -L -c %s "$img" | awk '{ printf "%.0f MiB", $1 / 1048576 }')), boot profile $(stat -c %s "$T/www/root.profile") bytes, guest uptime in seconds, TCG"
printf '%-11s %8s %8s %12s %13s %11s %12s\n' "boot" "init at" "done at" "fetched MiB" "dev read MiB" "done/local" "hydrated at"
ld=$(awk '$1 == "local" { print $3 }' "$T/rows")
while read -r n i d f r h; do
	printf '%-11s %8s %8s %12.1f %13.1f %11.2f %12s\n' "$n" "$i" "$d" \
		"$(echo "$f" | awk '{ print $1 / 1048576 }')" "$(echo "$r" | awk '{ print $1 / 1048576 }')" \
		"$(echo "$d $ld" | awk '{ print $1 / $2 }')" "$h"
done <"$T/rows"
awk '$1 ~ /^cold(-ko)?$/ { printf "%s boot fetched %.2fx the bytes the kernel read from the device (goal <= 1.25)\n", $1, $4 / $5 }' "$T/rows"
awk -v l="$ld" '$1 ~ /^warm/ { printf "%s boot took %.2fx the local disk (goal <= 1.1) and fetched %d bytes\n", $1, $3 / l, $4 }' "$T/rows"
awk '$1 ~ /^offline/ { printf "%s boot fetched %d bytes (goal 0)\n", $1, $4 }' "$T/rows"
awk -v l="$ld" '$1 ~ /^(cold|profile)\+/ { printf "%s boot took %.2fx the local disk%s\n", $1, $3 / l, $1 ~ /^profile/ ? " (goal <= 1.5)" : "" }' "$T/rows"
