#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# boot.sh - the diskless boot against its alternatives, in one run (QEMU
# under TCG, Debian's current kernel, the demo root of bench/demo-root.sh):
#
#   cold    uloop, blank flash: root=uloop:URL rd.uloop.cache=/dev/vda
#   warm    uloop, the same flash again
#   cold-ko, warm-ko   the same with uloop.ko in the initramfs (hits served
#           in the kernel), when it builds for the guest kernel
#   local   the same squashfs on a local virtio disk, mounted directly
#   ram     "download the whole image to RAM first" (what dracut's livenet
#           does): wget to tmpfs, loop-mount
#
# For each: guest uptime when the root's init starts and when its reads are
# done, and the bytes fetched from the server.  Goals: warm within 1.1x of
# local; cold fetching at most 1.25x the bytes the boot read.
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
	echo "$1 $init $done $(body_bytes "$demo_log") $read" >>"$T/rows"
}
: >"$T/rows"
U="root=uloop:http://10.0.2.100/root.squashfs ip=dhcp rd.uloop.cache=/dev/vda"
boot cold "$T/initrd" "$T/flash" "$U"
boot warm "$T/initrd" "$T/flash" "$U"
if KO=$("$ULOOP_TOP/tests/kmod/build-kmod.sh" "$KVER" 2>/dev/null); then
	vm_uloop_initrd "$T/initrd-ko" --uloop-ko "$KO"
	truncate -s 256M "$T/flash-ko"
	boot cold-ko "$T/initrd-ko" "$T/flash-ko" "$U"
	boot warm-ko "$T/initrd-ko" "$T/flash-ko" "$U"
else
	echo "boot bench: uloop.ko does not build for $KVER; its rows are left out"
fi
boot local "$T/plain" "$img" "local"
boot ram "$T/plain" "" ""

echo "boot bench: $(basename "$img") ($(stat -L -c %s "$img" | awk '{ printf "%.0f MiB", $1 / 1048576 }')), guest uptime in seconds, TCG"
printf '%-8s %10s %10s %12s %14s %12s\n' "boot" "init at" "done at" "fetched MiB" "dev read MiB" "done/local"
ld=$(awk '$1 == "local" { print $3 }' "$T/rows")
while read -r n i d f r; do
	printf '%-8s %10s %10s %12.1f %14.1f %12.2f\n' "$n" "$i" "$d" \
		"$(echo "$f" | awk '{ print $1 / 1048576 }')" "$(echo "$r" | awk '{ print $1 / 1048576 }')" \
		"$(echo "$d $ld" | awk '{ print $1 / $2 }')"
done <"$T/rows"
awk '$1 == "cold" { printf "cold boot fetched %.2fx the bytes the kernel read from the device (goal <= 1.25)\n", $4 / $5 }' "$T/rows"
awk -v l="$ld" '$1 ~ /^warm/ { printf "%s boot took %.2fx the local disk (goal <= 1.1)\n", $1, $3 / l }' "$T/rows"
