#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R1 D1
# uloop attach over the kernel NBD driver, in a Debian-kernel guest:
#  1. cold: attach a squashfs from nginx with the cache on a virtio disk,
#     mount it, every file's checksum equals the host's;
#  2. warm, same disk: the same, and nginx sends only the 1-byte probe;
#  3. the image replaced on the server: detected, the new one is whole;
#  4. the daemon runs as a root-storage daemon (initrd-release: '@' in
#     argv[0], memory locked, oom_score_adj -1000), is killed with -9 in
#     the middle of reads and restarted on the same /dev/nbd0: the reads
#     see no I/O error and the data is right.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

mkdir -p "$T/www" "$T/tree1" "$T/tree2"
# Two small trees of real files; the second differs in every file.
cp -r /usr/share/doc/d* "$T/tree1/" 2>/dev/null
cp -r /usr/share/doc/a* "$T/tree2/" 2>/dev/null
dd if=/dev/urandom of="$T/tree1/big.bin" bs=1M count=8 status=none
dd if=/dev/urandom of="$T/tree2/big.bin" bs=1M count=8 status=none
for t in tree1 tree2; do
	mksquashfs "$T/$t" "$T/$t.sqfs" -no-progress -quiet -comp gzip >/dev/null
	( cd "$T/$t" && find . -type f | sort | while read -r f; do sha256sum "$f"; done ) >"$T/$t.sha256"
done
cp "$T/tree1.sqfs" "$T/www/root.sqfs"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
truncate -s 256M "$T/flash"

cat >"$T/check.sh" <<'G'
dev=$(uloop attach http://10.0.2.100/root.sqfs --cache /dev/vda --connections 2)
echo "attached $dev"
mount -t squashfs -o ro "$dev" /mnt
cd /mnt
sha256sum -c -s /expected.sha256
echo "CHECKSUMS OK $(wc -l < /expected.sha256) files"
cd /
umount /mnt
uloop detach "$dev"
uloop info /dev/vda | grep -E "present|identity"
G

boot() {	# boot NAME EXPECTED-SHA: one boot of check.sh
	: >"$web_log"
	vm_initrd "$T/$1.img" "$T/check.sh" "$2:/expected.sha256" || fail "initrd"
	vm_boot "$1" "$T/$1.img" "$T/flash" || { tail -n 25 "$T/$1.log"; fail "boot $1 failed"; }
	grep -q "CHECKSUMS OK" "$T/$1.log" || fail "boot $1: no checksum verdict"
	echo "$1: $(grep 'CHECKSUMS OK' "$T/$1.log"), nginx sent $(body_bytes "$web_log") bytes in $(wc -l <"$web_log") requests"
}

boot cold "$T/tree1.sha256"
[ "$(body_bytes "$web_log")" -gt 1000000 ] || fail "cold boot fetched too little"
boot warm "$T/tree1.sha256"
[ -z "$(image_fetches "$web_log")" ] ||
	fail "warm boot fetched data: $(cat "$web_log")"

# 3. The image replaced on the server between boots.
cp "$T/tree2.sqfs" "$T/www/.new" && touch -d "@$(( $(date +%s) + 5 ))" "$T/www/.new"
mv "$T/www/.new" "$T/www/root.sqfs"
boot replaced "$T/tree2.sha256"
grep -q "present:.*of" "$T/replaced.log" || fail "no info after replacement"

# 4. Root-storage daemon, kill -9 during reads, restart on the same device.
cat >"$T/kill.sh" <<'G'
touch /etc/initrd-release
# --timeout 10: requests in flight at the kill are resent after 25 s.
dev=$(uloop attach http://10.0.2.100/root.sqfs --cache /dev/vda --reconnect-timeout 60 --timeout 10)
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' /run/uloop/nbd0.json)
head -c 1 /proc/$pid/cmdline | grep -q @ && echo "ARGV0 @"
[ "$(cat /proc/$pid/oom_score_adj)" = -1000 ] && echo "OOM -1000"
grep -q "VmLck:[[:space:]]*[1-9]" /proc/$pid/status && echo "MLOCKED"
mount -t squashfs -o ro "$dev" /mnt
# Drop everything cached so the reads below go to the device again.
echo 3 > /proc/sys/vm/drop_caches
( cd /mnt && sha256sum -c -s /expected.sha256 && echo "READS OK" ) &
reader=$!
sleep 0.5
kill -9 "$pid"
sleep 1
uloop attach http://10.0.2.100/root.sqfs --cache /dev/vda --device "$dev" --timeout 10 >/dev/null
echo "RESTARTED"
wait $reader
umount /mnt
uloop detach "$dev"
dmesg | grep -c "I/O error" | sed 's/^/IOERRORS /'
G
# A fresh cache, so the reads after the kill really need the network.
truncate -s 0 "$T/flash" && truncate -s 256M "$T/flash"
vm_initrd "$T/kill.img" "$T/kill.sh" "$T/tree2.sha256:/expected.sha256"
vm_boot kill "$T/kill.img" "$T/flash" || { tail -n 25 "$T/kill.log"; fail "kill boot failed"; }
for want in "ARGV0 @" "OOM -1000" "MLOCKED" "RESTARTED" "READS OK" "IOERRORS 0"; do
	grep -q "$want" "$T/kill.log" || { tail -n 30 "$T/kill.log"; fail "kill boot: no '$want'"; }
done
echo "kill -9 + restart: $(grep -c 'GET ' "$web_log") requests, reads intact, no I/O error"
