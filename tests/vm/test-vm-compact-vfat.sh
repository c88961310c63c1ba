#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly E1
# The compact cache on a real FAT32 partition (vfat: no sparse files, files
# of at most 4 GiB - 1), in a Debian-kernel guest, for an image larger than
# 4 GiB served by nginx, with --cache-size smaller than the image:
#  1. a native cache there is refused pointing at --format compact, and a
#     compact one without a limit is refused naming vfat and its limit;
#  2. attach (auto: nbd, a compact cache is not uloop.ko's), read 48 MiB
#     from the start and the 64 MiB past the 4 GiB line (3.5 times the
#     limit: eviction): their md5s equal the image's; the cache file stays
#     within the limit; `uloop check --source` finds every present block
#     the image's (the whole 4 GiB is not read: about 20 minutes of TCG);
#  3. eviction churn: seeded random 1 MiB reads across the image, each
#     equal to the image's bytes there;
#  4. a second boot on the same flash keeps the cache: the last pieces read
#     come from it (nginx sends almost nothing) and are still right.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mkfs.vfat sfdisk md5sum
vm_kernel
# vfat and the code pages its mount asks for.
VM_MODULES="$VM_MODULES vfat nls_cp437 nls_ascii"
# About 170 MiB read under TCG (3.5 MB/s with other guests on the same
# cores): more than lib.sh's default, which is for a boot.
VM_TIMEOUT=${VM_COMPACT_TIMEOUT:-1800}

mkdir -p "$T/www"
mib=1048576
# 4 GiB + 64 MiB + a tail, mostly zeros (sparse here), with random MiBs
# at the start, around the 4 GiB line, past it and at the end.  The tail
# is whole 512-byte sectors (a block device ends at one), not a whole
# 4 KiB block nor a 64 KiB slot.
size=$((4096 * mib + 64 * mib + 12800))
img=$T/www/big.img
truncate -s $size "$img"
for at in 0 7 1000 2047 4095 4096 4100 4150; do
	head -c $mib /dev/urandom | dd of="$img" bs=$mib seek=$at conv=notrunc status=none
done
tail_at=$((size - 12800 - 40000))
head -c 52800 /dev/urandom | dd of="$img" bs=1 seek=$tail_at conv=notrunc status=none
head48=$(dd if="$img" bs=$mib count=48 status=none | md5sum | cut -d' ' -f1)
past4g=$(dd if="$img" bs=$mib skip=4096 count=64 status=none | md5sum | cut -d' ' -f1)
# The churn: seeded MiB indexes; the guest reads each and sums it.
nmib=$((size / mib))
awk -v n="${VM_COMPACT_PIECES:-60}" -v m=$nmib 'BEGIN {
	srand(4);
	split("0 7 1000 2047 4095 4096 4100 4150", hot, " ");
	for (i = 0; i < n; i++)
		print (rand() < 0.5 ? hot[int(rand() * 8) + 1] : int(rand() * m));
}' >"$T/pieces"
while read -r p; do
	echo "$p $(dd if="$img" bs=$mib skip="$p" count=1 status=none | md5sum | cut -d' ' -f1)"
done <"$T/pieces" >"$T/pieces.md5"
tail -n 12 "$T/pieces.md5" >"$T/last.md5"

start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
# The flash: one FAT32 partition from 1 MiB on.
limit=$((32 * mib))
truncate -s 256M "$T/flash"
echo 'start=2048, type=c' | sfdisk -q "$T/flash"
mkfs.vfat -F 32 --offset=2048 "$T/flash" $(((256 - 1) * 1024)) >/dev/null

cat >"$T/boot1.sh" <<G
mkdir -p /fat
mount -t vfat /dev/vda1 /fat
grep -q ' /fat vfat ' /proc/mounts && echo "VFAT MOUNTED"
url=http://10.0.2.100/big.img
if uloop attach \$url --cache /fat/native >/tmp/out 2>/tmp/err; then echo "NATIVE ATTACHED"; else cat /tmp/err; fi
grep -q "use --format compact" /tmp/err && echo "NATIVE REFUSED"
if uloop attach \$url --cache /fat/whole --format compact >/tmp/out 2>/tmp/err; then echo "WHOLE ATTACHED"; else cat /tmp/err; fi
grep -q "vfat holds files of at most 4 GiB - 1 byte" /tmp/err && echo "UNLIMITED REFUSED"
dev=\$(uloop attach \$url --cache /fat/cache --cache-size $limit --connections 2)
echo "attached \$dev"
got=\$(dd if=\$dev bs=1M count=48 status=none | md5sum | cut -d' ' -f1)
[ "\$got" = $head48 ] && echo "HEAD MD5 OK" || echo "first 48 MiB md5 \$got, the image's $head48"
got=\$(dd if=\$dev bs=1M skip=4096 count=64 status=none | md5sum | cut -d' ' -f1)
[ "\$got" = $past4g ] && echo "PAST 4G MD5 OK" || echo "64 MiB past 4 GiB md5 \$got, the image's $past4g"
bad=0 n=0
while read -r p want; do
	n=\$((n + 1))
	got=\$(dd if=\$dev bs=1M skip=\$p count=1 iflag=direct status=none | md5sum | cut -d' ' -f1)
	[ "\$got" = "\$want" ] || { bad=\$((bad + 1)); echo "piece \$p differs"; }
done </pieces.md5
echo "CHURN \$n pieces, \$bad bad"
uloop detach \$dev
echo "FILE SIZE \$(stat -c %s /fat/cache)"
[ "\$(stat -c %s /fat/cache)" -le $limit ] && echo "WITHIN LIMIT"
uloop info /fat/cache | grep -E "format|present|slots"
uloop check /fat/cache --source \$url && echo "CHECK OK"
umount /fat
G

cat >"$T/boot2.sh" <<G
mkdir -p /fat
mount -t vfat /dev/vda1 /fat
dev=\$(uloop attach http://10.0.2.100/big.img --cache /fat/cache --cache-size $limit --connections 2)
bad=0
while read -r p want; do
	got=\$(dd if=\$dev bs=1M skip=\$p count=1 iflag=direct status=none | md5sum | cut -d' ' -f1)
	[ "\$got" = "\$want" ] || { bad=\$((bad + 1)); echo "piece \$p differs"; }
done </last.md5
echo "WARM \$bad bad"
uloop detach \$dev
[ "\$(stat -c %s /fat/cache)" -le $limit ] && echo "WITHIN LIMIT"
umount /fat
G

vm_initrd "$T/boot1.img" "$T/boot1.sh" "$T/pieces.md5:/pieces.md5" || fail "initrd"
vm_boot boot1 "$T/boot1.img" "$T/flash" || { tail -n 30 "$T/boot1.log"; fail "boot 1 failed"; }
vm_expect boot1 "$T/boot1.log" "VFAT MOUNTED" "NATIVE REFUSED" "UNLIMITED REFUSED" \
	"HEAD MD5 OK" "PAST 4G MD5 OK" "CHURN ${VM_COMPACT_PIECES:-60} pieces, 0 bad" "WITHIN LIMIT" "CHECK OK" ||
	{ tail -n 30 "$T/boot1.log"; fail "boot 1"; }
grep -q "NATIVE ATTACHED\|WHOLE ATTACHED" "$T/boot1.log" && fail "a cache vfat cannot hold was attached"
echo "boot 1: $(grep -E 'FILE SIZE|present:|slots:' "$T/boot1.log" | tr -d '\r' | tr '\n' ' ')"
echo "boot 1: nginx sent $(body_bytes "$web_log") bytes for a $size-byte image"

: >"$web_log"
vm_initrd "$T/boot2.img" "$T/boot2.sh" "$T/last.md5:/last.md5" || fail "initrd"
vm_boot boot2 "$T/boot2.img" "$T/flash" || { tail -n 30 "$T/boot2.log"; fail "boot 2 failed"; }
vm_expect boot2 "$T/boot2.log" "WARM 0 bad" "WITHIN LIMIT" || { tail -n 30 "$T/boot2.log"; fail "boot 2"; }
sent=$(body_bytes "$web_log")
echo "boot 2: 12 recently read MiBs read again, nginx sent $sent bytes"
# Kept: far less than the 12 MiB they are (readahead past them may fetch a little).
[ "$sent" -lt $((4 * mib)) ] || fail "the second boot fetched $sent bytes: the cache was not kept"
