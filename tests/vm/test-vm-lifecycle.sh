#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R4
# What must not happen to a device in use, in a guest:
#  - a second attach on a live /dev/nbdN is refused, the first goes on;
#  - a takeover is refused when the image changed or the device was
#    read-write (acknowledged writes would vanish);
#  - detach of a mounted device is refused (--force cuts it);
#  - attach, detach, attach back to back with one cache works (the run
#    state exists before attach returns; detach waits for the daemon);
#  - an image whose size is not a multiple of 512 is whole, zero-padded;
#  - a dead daemon's run state is cleaned up by detach.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

mkdir -p "$T/www" "$T/tree"
cp -r /usr/share/doc/c* "$T/tree/" 2>/dev/null
mksquashfs "$T/tree" "$T/www/a.sqfs" -no-progress -quiet >/dev/null
( cd "$T/tree" && find . -type f | sort | while read -r f; do sha256sum "$f"; done ) >"$T/expected"
make_image "$T/www/odd.img" 1049576	# 2049 sectors and 488 bytes: 2050 sectors
make_image "$T/www/b.img" 1048576
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
U=http://10.0.2.100

cat >"$T/guest.sh" <<G
set +e
verify() { (cd /mnt && sha256sum -c -s /expected.sha256); }
pid_of() { sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "/run/uloop/\${1#/dev/}.json"; }

dev=\$(uloop attach $U/a.sqfs --device /dev/nbd3)
mount -t squashfs -o ro /dev/nbd3 /mnt
uloop attach $U/a.sqfs --device /dev/nbd3 2>/tmp/e && echo "SECOND ATTACH ACCEPTED"
grep -q "in use" /tmp/e && echo "SECOND ATTACH REFUSED"
verify && echo "FIRST STILL SERVES"
uloop detach /dev/nbd3 2>/tmp/e || grep -q "in use (mounted?)" /tmp/e && echo "MOUNTED DETACH REFUSED"
verify && echo "STILL MOUNTED OK"
umount /mnt
uloop detach /dev/nbd3 && echo "DETACHED"

# A dead daemon, then another image on its device: refused.
cp /dev/null /tmp/x
dev=\$(uloop attach $U/a.sqfs --device /dev/nbd5 --reconnect-timeout 30)
kill -9 \$(pid_of /dev/nbd5)
sleep 1
uloop attach $U/b.img --device /dev/nbd5 2>/tmp/e && echo "OTHER IMAGE TAKEOVER ACCEPTED"
[ -s /tmp/e ] && echo "OTHER IMAGE TAKEOVER REFUSED: \$(cat /tmp/e)"
uloop attach $U/a.sqfs --device /dev/nbd5 >/dev/null && echo "SAME IMAGE TAKEOVER OK"
uloop detach /dev/nbd5 && echo "TAKEN OVER DETACHED"

# A read-write device is never taken over.
dev=\$(uloop attach $U/b.img --device /dev/nbd6 --read-write --reconnect-timeout 30)
kill -9 \$(pid_of /dev/nbd6)
sleep 1
uloop attach $U/b.img --device /dev/nbd6 --read-write 2>/tmp/e && echo "RW TAKEOVER ACCEPTED"
[ -s /tmp/e ] && echo "RW TAKEOVER REFUSED"
uloop detach /dev/nbd6 && [ ! -e /run/uloop/nbd6.json ] && echo "STALE STATE CLEANED"

# Back to back, one cache.
ok=0
for i in 1 2 3 4 5; do
	d=\$(uloop attach $U/a.sqfs --cache /tmp/c9 --device /dev/nbd9) &&
		[ -e /run/uloop/nbd9.json ] && uloop detach "\$d" && ok=\$((ok + 1))
done
[ \$ok = 5 ] && echo "BACK TO BACK OK"

# An odd size: every byte, then zeros to the sector's end.
d=\$(uloop attach $U/odd.img)
[ "\$(blockdev --getsize64 \$d)" = 1049600 ] && echo "ODD SIZE ROUNDED"
wget -q -O /tmp/odd $U/odd.img
head -c 1049576 \$d | cmp - /tmp/odd && echo "ODD BYTES OK"
[ "\$(tail -c 24 \$d | od -An -tx1 | tr -d ' \n' | tr -d 0)" = "" ] && echo "ODD TAIL ZERO"
uloop detach \$d
G
vm_initrd "$T/l.img" "$T/guest.sh" "$T/expected:/expected.sha256"
vm_boot life "$T/l.img" || { tail -n 30 "$T/life.log"; fail "guest failed"; }
for bad in "SECOND ATTACH ACCEPTED" "OTHER IMAGE TAKEOVER ACCEPTED" "RW TAKEOVER ACCEPTED"; do
	! grep -q "$bad" "$T/life.log" || { tail -n 40 "$T/life.log"; fail "$bad"; }
done
for want in "SECOND ATTACH REFUSED" "FIRST STILL SERVES" "MOUNTED DETACH REFUSED" \
	"STILL MOUNTED OK" "DETACHED" "OTHER IMAGE TAKEOVER REFUSED" \
	"SAME IMAGE TAKEOVER OK" "TAKEN OVER DETACHED" "RW TAKEOVER REFUSED" \
	"STALE STATE CLEANED" "BACK TO BACK OK" "ODD SIZE ROUNDED" "ODD BYTES OK" \
	"ODD TAIL ZERO"; do
	grep -q "$want" "$T/life.log" || { tail -n 40 "$T/life.log"; fail "no '$want'"; }
	echo "ok: $want"
done
grep "OTHER IMAGE TAKEOVER REFUSED" "$T/life.log"
