#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly E1
# Boot options on real filesystems, two boots:
#  - rd.uloop.cache=LABEL=flash:/uloop/root.cache: the cache is a file in
#    an ext4 filesystem found by its label;
#  - rd.uloop.overlay=LABEL=ovl:/upper: the writable layer persists on
#    another partition (a file written in boot 1 is there in boot 2);
#  - ip=CLIENT::GW:MASK::DEV:none, a static address (no DHCP);
# and boot 2 fetches no image bytes.  Boot 3: the flash filesystem is too
# small for the image (a full flash): a warning on the console, and the
# node boots, every file read right.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs mkfs.ext4
vm_kernel

R=$T/root
vm_busybox_root "$R" data
cp -r /usr/share/doc/f* "$R/data/" 2>/dev/null
dd if=/dev/urandom of="$R/data/big.bin" bs=1M count=12 status=none
( cd "$R/data" && find . -type f | sort | xargs sha256sum ) >"$R/data.sha256"
vm_root_init "$R/sbin/init" <<'INIT'
echo "ROOT-INIT-REACHED"
[ -e /persist ] && echo "PERSISTED $(cat /persist)"
date +%s >/persist
ip -4 addr show eth0 | grep -q "inet 10.0.2.15/24" && echo "STATIC IP"
grep -q " /run/uloop/flash " /proc/mounts && echo "CACHE FILE FS MOUNTED"
[ -e /run/uloop/flash/uloop/root.cache ] && echo "CACHE FILE PRESENT"
(cd /data && sha256sum -c -s /data.sha256) && echo "DATA VERIFIED"
dmesg | grep 'uloop\[' | sed 's/^/KMSG /'  # the daemon's later warnings
INIT
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
vm_uloop_initrd "$T/initrd"
mkfs.ext4 -q -F -L flash "$T/flash.ext4" 128M
mkfs.ext4 -q -F -L ovl "$T/ovl.ext4" 64M
APPEND="root=uloop:http://10.0.2.100/root.sqfs ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:none"
APPEND="$APPEND rd.uloop.cache=LABEL=flash:/uloop/root.cache rd.uloop.overlay=LABEL=ovl:/upper"

for b in first second; do
	: >"$web_log"
	vm_boot "$b" "$T/initrd" "$T/flash.ext4 $T/ovl.ext4" "$APPEND" ||
		{ tail -n 30 "$T/$b.log"; fail "$b boot failed"; }
	for want in ROOT-INIT-REACHED "STATIC IP" "CACHE FILE FS MOUNTED" "CACHE FILE PRESENT"; do
		grep -q "$want" "$T/$b.log" || { tail -n 30 "$T/$b.log"; fail "$b: no '$want'"; }
	done
	echo "$b: nginx sent $(body_bytes "$web_log") bytes in $(wc -l <"$web_log") requests"
done
grep -q PERSISTED "$T/second.log" || fail "the overlay did not persist"
! grep -q PERSISTED "$T/first.log" || fail "a fresh overlay had data"
[ -z "$(image_fetches "$web_log")" ] || fail "second boot fetched image bytes: $(cat "$web_log")"

# A flash of 4 MiB for a ~13 MiB image.
mkfs.ext4 -q -F -L flash "$T/small.ext4" 4M
vm_boot small "$T/initrd" "$T/small.ext4" \
	"root=uloop:http://10.0.2.100/root.sqfs rd.uloop.cache=LABEL=flash:/c" ||
	{ tail -n 30 "$T/small.log"; fail "small flash: boot failed"; }
grep -q "uloop: cache /run/uloop/flash/c: its filesystem is [0-9]* MiB short of holding the rest of the image" "$T/small.log" ||
	{ tail -n 30 "$T/small.log"; fail "small flash: no warning on the console"; }
grep -q "KMSG .*uloop\[[0-9]*\]: cache /run/uloop/flash/c: pwrite of block [0-9]*: No space left on device" "$T/small.log" ||
	{ grep -a -e KMSG -e "uloop: " "$T/small.log" | tail -n 20; fail "small flash: the daemon's warning is not in the kernel log"; }
grep -q "DATA VERIFIED" "$T/small.log" || { tail -n 30 "$T/small.log"; fail "small flash: data not verified"; }
grep -q "DATA VERIFIED" "$T/second.log" || fail "second boot: data not verified"
echo "cache file by label, persistent overlay by label, static ip, full flash: ok"
