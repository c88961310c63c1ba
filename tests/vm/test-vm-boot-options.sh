#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Boot options on real filesystems, two boots:
#  - rd.uloop.cache=LABEL=flash:/uloop/root.cache: the cache is a file in
#    an ext4 filesystem found by its label;
#  - rd.uloop.overlay=LABEL=ovl:/upper: the writable layer persists on
#    another partition (a file written in boot 1 is there in boot 2);
#  - ip=CLIENT::GW:MASK::DEV:none, a static address (no DHCP);
# and boot 2 fetches no image bytes.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs mkfs.ext4
vm_kernel

R=$T/root
vm_busybox_root "$R" data
cp -r /usr/share/doc/f* "$R/data/" 2>/dev/null
cat >"$R/sbin/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
echo "ROOT-INIT-REACHED"
[ -e /persist ] && echo "PERSISTED $(cat /persist)"
date +%s >/persist
ip -4 addr show eth0 | grep -q "inet 10.0.2.15/24" && echo "STATIC IP"
grep -q " /run/uloop/flash " /proc/mounts && echo "CACHE FILE FS MOUNTED"
[ -e /run/uloop/flash/uloop/root.cache ] && echo "CACHE FILE PRESENT"
echo "ULOOP-VM-RESULT 0"
sleep 2
sync
poweroff -f
INIT
chmod +x "$R/sbin/init"
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
[ "$(wc -l <"$web_log")" -eq 1 ] || fail "second boot fetched image bytes: $(cat "$web_log")"
echo "cache file by label, persistent overlay by label, static ip: ok"
