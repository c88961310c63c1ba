#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo.sh - `make demo`: a diskless node boots from a web server, cold, then
# warm from its flash.
#
# It builds a demo root image (busybox plus /usr/share/doc and
# /usr/share/man of this machine, as squashfs; kept in build/demo), serves
# it with nginx on 127.0.0.1, builds the uloop initramfs for Debian's
# current kernel, and boots a QEMU node (no disk image but a blank 256 MiB
# "flash") twice with root=uloop:http://10.0.2.100/root.squashfs and
# rd.uloop.cache=/dev/vda.  The node reaches nothing but that server.
# Prints boot time (to the root's init) and bytes fetched, cold and warm.
set -eu
ULOOP_TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$ULOOP_TOP/tests/integ/functions.sh"
. "$ULOOP_TOP/tests/integ/http-functions.sh"
. "$ULOOP_TOP/tests/vm/lib.sh"
requires mksquashfs
vm_kernel

. "$ULOOP_TOP/bench/demo-root.sh"
# uloop.ko too when it builds for that kernel (hits stay in the kernel).
ko="" tr=nbd
if KO=$("$ULOOP_TOP/tests/kmod/build-kmod.sh" "$KVER" 2>/dev/null); then
	ko="--uloop-ko $KO" tr=uloop.ko
else
	echo "demo: uloop.ko does not build for $KVER (linux-headers-$KVER?): the nbd transport serves the root"
fi
# shellcheck disable=SC2086
"$ULOOP_TOP/initramfs/uloop-mkinitramfs" --kver "$KVER" \
	--kmoddir "$KROOT/lib/modules/$KVER" --output "$d/initrd.img" $ko
truncate -s 0 "$d/flash"
truncate -s 256M "$d/flash"

row() {	# row NAME
	: >"$demo_log"
	vm_boot "$1" "$d/initrd.img" "$d/flash" \
		"root=uloop:http://10.0.2.100/root.squashfs ip=dhcp rd.uloop.cache=/dev/vda" ||
		{ tail -n 20 "$T/$1.log"; fail "the $1 boot failed"; }
	init=$(sed -n 's/.*DEMO-ROOT-INIT \([0-9.]*\).*/\1/p' "$T/$1.log")
	done=$(sed -n 's/.*DEMO-BOOTED \([0-9.]*\).*/\1/p' "$T/$1.log")
	printf '%-6s %14s %16s %14s %10s\n' "$1" "$init s" "$done s" \
		"$(body_bytes "$demo_log" | awk '{ printf "%.1f MiB", $1 / 1048576 }')" \
		"$(wc -l <"$demo_log")"
}
size=$(stat -L -c %s "$img")
echo
echo "uloop demo: a diskless node boots $(basename "$img") ($(echo "$size" | awk '{ printf "%.0f MiB", $1 / 1048576 }')) from nginx on 127.0.0.1"
echo "(QEMU under TCG, Debian kernel $KVER, guest uptime figures; transport: $tr)"
echo
printf '%-6s %14s %16s %14s %10s\n' "boot" "root's init" "boot's reads done" "fetched" "requests"
row cold
row warm
echo
echo "The warm boot asks the server one 1-byte question (is the image the same?),"
echo "compares 4 ranges of 4 KiB it holds with the server's (in parallel), and"
echo "reads everything else from its flash."
