#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The other ways to attach, in a guest:
#  - the nbd ioctl interface (forced: what kernels before 4.12 get);
#  - SIGTERM: the daemon detaches, commits, marks the cache clean and
#    removes its run state; `uloop status --json` lists live devices;
#  - ulohttp with the 2007 two-file layout on /dev/nbdN, and the 2007
#    readme's own command line on /dev/loop7: served on the device attach
#    picks, with a note saying so;
#  - ulobdev caching a (slow) block device, here a loop device;
#  - --read-write on an ext4 image: writes work and read back, live in
#    memory only (the cache stays a pure copy of the image, checked
#    against the server), and a read-only device refuses writes.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

mkdir -p "$T/www" "$T/tree"
cp -r /usr/share/doc/b* "$T/tree/" 2>/dev/null
dd if=/dev/urandom of="$T/tree/big.bin" bs=1M count=6 status=none
mksquashfs "$T/tree" "$T/www/root.sqfs" -no-progress -quiet -comp gzip >/dev/null
mkfs.ext4 -q -F -d "$T/tree" "$T/www/ext4.img" 32M
( cd "$T/tree" && find . -type f | sort | while read -r f; do sha256sum "$f"; done ) >"$T/expected"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
URL=http://10.0.2.100/root.sqfs

cat >"$T/guest.sh" <<G
verify() { mount -t squashfs -o ro "\$1" /mnt && (cd /mnt && sha256sum -c -s /expected.sha256) && umount /mnt; }
daemon_of() { sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "/run/uloop/\${1#/dev/}.json"; }

dev=\$(ULOOP_NBD_IOCTL=1 uloop attach $URL)
verify "\$dev" && echo "IOCTL OK \$dev"
uloop detach "\$dev" && [ ! -e "/sys/block/\${dev#/dev/}/pid" ] && echo "IOCTL DETACHED"

dev=\$(uloop attach $URL --cache /tmp/cn --device /dev/nbd3)
verify "\$dev" && echo "NATIVE OK"
uloop status --json | grep -q '"device":"/dev/nbd3"' && echo "STATUS LISTS"
pid=\$(daemon_of /dev/nbd3)
kill -TERM "\$pid"
while kill -0 "\$pid" 2>/dev/null; do sleep 0.1; done
uloop info /tmp/cn --json | grep -q '"clean":true' && echo "SIGTERM CLEAN"
[ ! -e /run/uloop/nbd3.json ] && echo "STATE REMOVED"
[ ! -e /sys/block/nbd3/pid ] && echo "DEVICE RELEASED"

ulohttp -b /tmp/b7 -c /tmp/c7 /dev/nbd1 $URL
verify /dev/nbd1 && echo "ULOHTTP OK"
uloop detach /dev/nbd1
uloop info /tmp/c7 --bitmap /tmp/b7 | grep -q "format:       2007" && echo "ULOHTTP 2007 LAYOUT"
uloop check /tmp/c7 --bitmap /tmp/b7 --source $URL >/dev/null && echo "ULOHTTP CHECK"

# The 2007 readme's own line names a loop device: served on today's.
dev=\$(ulohttp -b /tmp/b8 -c /tmp/c8 /dev/loop7 $URL 2>/tmp/n8)
cat /tmp/n8
verify "\$dev" && grep -q "/dev/loop7: the 2007 loop transfer hook is gone" /tmp/n8 && echo "ULOHTTP LOOP7 ON \$dev"
uloop detach "\$dev"

wget -q -O /tmp/img $URL
loop=\$(losetup -f)
losetup -r "\$loop" /tmp/img
ulobdev -c /tmp/c3 /dev/nbd2 "\$loop"
verify /dev/nbd2 && echo "ULOBDEV OK"
uloop detach /dev/nbd2
uloop info /tmp/c3 | grep -q "identity:     blkdev" && echo "ULOBDEV IDENTITY"

E=http://10.0.2.100/ext4.img
dev=\$(uloop attach \$E --cache /tmp/ce --read-write --device /dev/nbd4)
mount -t ext4 "\$dev" /mnt
echo hello >/mnt/new.txt
sync
[ "\$(cat /mnt/new.txt)" = hello ] && echo "RW WRITE OK"
umount /mnt
mount -t ext4 "\$dev" /mnt && [ "\$(cat /mnt/new.txt)" = hello ] && echo "RW REMOUNT OK"
(cd /mnt && sha256sum -c -s /expected.sha256) && echo "RW FILES OK"
umount /mnt
uloop detach "\$dev"
uloop check /tmp/ce --source \$E >/dev/null && echo "RW CACHE PURE"
dev=\$(uloop attach \$E --cache /tmp/ce --device /dev/nbd4)
if dd if=/dev/zero of="\$dev" bs=4096 count=1 oflag=direct 2>/dev/null; then echo "RO WROTE"; else echo "RO REFUSES WRITE"; fi
mount -t ext4 -o ro "\$dev" /mnt && [ ! -e /mnt/new.txt ] && echo "RW GONE AFTER DETACH"
umount /mnt
uloop detach "\$dev"
G
vm_initrd "$T/t.img" "$T/guest.sh" "$T/expected:/expected.sha256"
vm_boot transport "$T/t.img" || { tail -n 30 "$T/transport.log"; fail "guest failed"; }
for want in "IOCTL OK" "IOCTL DETACHED" "NATIVE OK" "STATUS LISTS" "SIGTERM CLEAN" \
	"STATE REMOVED" "DEVICE RELEASED" "ULOHTTP OK" "ULOHTTP 2007 LAYOUT" \
	"ULOHTTP CHECK" "ULOHTTP LOOP7 ON /dev/" "ULOBDEV OK" "ULOBDEV IDENTITY" "RW WRITE OK" "RW REMOUNT OK" \
	"RW FILES OK" "RW CACHE PURE" "RO REFUSES WRITE" "RW GONE AFTER DETACH"; do
	grep -q "$want" "$T/transport.log" || { tail -n 30 "$T/transport.log"; fail "no '$want'"; }
	echo "ok: $want"
done
