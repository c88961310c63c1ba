#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R1 D2
# The diskless boot with uloop.ko in the initramfs (uloop-mkinitramfs
# --uloop-ko): rd.uloop.transport=auto picks the module, the root is on
# /dev/uloop0 and every file reads right; the warm boot fetches no image
# bytes and its reads are hits served in the kernel (the driver's
# counters); the daemon lives on after switch_root; the image replaced on
# the server boots whole (the stale cache dropped, the kernel's bitmap
# with it).
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs gcc
vm_kernel
vm_uloop_ko

R=$T/root
vm_busybox_root "$R" data
cp -r /usr/share/doc/g* "$R/data/" 2>/dev/null
dd if=/dev/urandom of="$R/data/big.bin" bs=1M count=4 status=none
( cd "$R/data" && find . -type f | sort | xargs sha256sum ) >"$R/expected"
vm_root_init "$R/sbin/init" <<'INIT'
echo "ROOT-INIT-REACHED"
grep -q "^/dev/uloop0 /run/uloop/lower " /proc/mounts && echo "ROOT ON ULOOP0"
(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
S=/sys/block/uloop0/uloop
echo "KMOD hits $(cat $S/hits) misses $(cat $S/misses) daemon $(cat $S/daemon_attached)"
echo "IMAGE VERSION $(cat /version)"
[ -n "$(pidof uloop)" ] || ls -l /proc/[0-9]*/exe 2>/dev/null | grep -q uloop && echo "DAEMON ALIVE"
INIT
echo 1 >"$R/version"
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
echo 2 >"$R/version"
mksquashfs "$R" "$T/root2.sqfs" -no-progress -quiet -all-root >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
vm_uloop_initrd "$T/initrd" --uloop-ko "$KO"
truncate -s 256M "$T/flash"
APPEND="root=uloop:http://10.0.2.100/root.sqfs rd.uloop.cache=/dev/vda"

for b in cold warm replaced; do
	[ $b = replaced ] && cp "$T/root2.sqfs" "$T/www/root.sqfs"
	: >"$web_log"
	vm_boot "$b" "$T/initrd" "$T/flash" "$APPEND" || { tail -n 30 "$T/$b.log"; fail "$b: boot failed"; }
	for want in "ROOT ON ULOOP0" "ROOT FILES OK" "DAEMON ALIVE"; do
		grep -q "$want" "$T/$b.log" || { tail -n 30 "$T/$b.log"; fail "$b: no '$want'"; }
	done
	echo "$b: $(grep -a '^KMOD' "$T/$b.log"); nginx sent $(body_bytes "$web_log") bytes in $(wc -l <"$web_log") requests"
	image_fetches "$web_log" | wc -l >"$T/$b.requests"
done
[ "$(cat "$T/warm.requests")" -eq 0 ] || fail "warm: fetched image bytes"
[ "$(cat "$T/replaced.requests")" -gt 1 ] || fail "replaced: nothing fetched for the new image"
grep -q "IMAGE VERSION 2" "$T/replaced.log" || fail "replaced: the old image booted"
sed -n 's/^KMOD hits \([0-9]*\) misses \([0-9]*\).*/\1 \2/p' "$T/warm.log" | {
	read -r hits misses
	[ "$hits" -gt 0 ] && [ "$misses" -eq 0 ] || fail "warm: hits $hits misses $misses (all reads should be kernel hits)"
}
echo "uloop.ko boot: root on /dev/uloop0, warm reads all kernel hits, replaced image booted: ok"
