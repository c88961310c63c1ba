#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The other ways to attach, in a guest:
#  - the nbd ioctl interface (forced: what kernels before 4.12 get);
#  - SIGTERM: the daemon detaches, commits, marks the cache clean and
#    removes its run state; `uloop status --json` lists live devices;
#  - ulohttp with the 2007 two-file layout on /dev/nbdN;
#  - ulobdev caching a (slow) block device, here a loop device.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

mkdir -p "$T/www" "$T/tree"
cp -r /usr/share/doc/b* "$T/tree/" 2>/dev/null
dd if=/dev/urandom of="$T/tree/big.bin" bs=1M count=6 status=none
mksquashfs "$T/tree" "$T/www/root.sqfs" -no-progress -quiet -comp gzip >/dev/null
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

wget -q -O /tmp/img $URL
loop=\$(losetup -f)
losetup -r "\$loop" /tmp/img
ulobdev -c /tmp/c3 /dev/nbd2 "\$loop"
verify /dev/nbd2 && echo "ULOBDEV OK"
uloop detach /dev/nbd2
uloop info /tmp/c3 | grep -q "identity:     blkdev" && echo "ULOBDEV IDENTITY"
G
vm_initrd "$T/t.img" "$T/guest.sh" "$T/expected:/expected.sha256"
vm_boot transport "$T/t.img" || { tail -n 30 "$T/transport.log"; fail "guest failed"; }
for want in "IOCTL OK" "IOCTL DETACHED" "NATIVE OK" "STATUS LISTS" "SIGTERM CLEAN" \
	"STATE REMOVED" "DEVICE RELEASED" "ULOHTTP OK" "ULOHTTP 2007 LAYOUT" \
	"ULOHTTP CHECK" "ULOBDEV OK" "ULOBDEV IDENTITY"; do
	grep -q "$want" "$T/transport.log" || { tail -n 30 "$T/transport.log"; fail "no '$want'"; }
	echo "ok: $want"
done
