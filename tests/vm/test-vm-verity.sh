#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I3
# Verified diskless boots (the standalone initramfs; the boot library is
# the same in dracut and initramfs-tools): an image published with
# `uloop publish`, booted from its manifest over plain http://.
#
#   roothash   cold, rd.uloop.roothash: the root mounted from dm-verity
#              stacked on the uloop device (/dev/dm-0)
#   warm       the same flash: no image or tree bytes fetched
#   signed     a fresh flash, the key packed into the initramfs
#              (uloop-mkinitramfs --verity-key), no root hash given
#   otherkey   a manifest signed with another key: refused, one line
#   wrong      a wrong rd.uloop.roothash: refused, one line
#   plain      the key in the initramfs and a plain image URL: refused
#   tamper     the server flips a byte in every 512 KiB of the image, a
#              mirror serves it right: the boot completes, the refused
#              fetches counted in `uloop status`
#   flash      a byte of a cached block flipped on the flash (its cache
#              checksum made to match, so only dm-verity can tell): the
#              file reads fail with EIO in the guest, never wrong bytes;
#              with rd.uloop.verity=restart the machine restarts there
#   offline    the server down, rd.uloop.offline=1 with the root hash:
#              dm-verity from the cache alone
#   publish    a new version published while a node boots: it finishes
#              on its version; the next boot gets the new one
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

R=$T/root
vm_busybox_root "$R" etc data
cp -r /usr/share/doc/e* "$R/data/" 2>/dev/null
head -c 393216 /dev/urandom >"$R/data/big"	# incompressible: stored as is
( cd "$R/data" && find . -type f | sort | while read -r f; do sha256sum "$f"; done ) >"$R/expected"
vm_root_init "$R/sbin/init" <<'INIT'
echo "ROOT-INIT-REACHED pid $$"
echo "IMAGE VERSION $(cat /version)"
grep -q '^/dev/dm-[0-9]* /run/uloop/lower ' /proc/mounts && echo "LOWER ON DM-VERITY"
if grep -q test.flash /proc/cmdline; then
	# Every file but the damaged one still reads right; that one fails.
	if cat /data/big >/dev/null 2>/tmp/err; then
		echo "BIG READ WITHOUT ERROR $(sha256sum </data/big)"
	else
		echo "BIG READ FAILED: $(cat /tmp/err)"
	fi
	dmesg | grep -q 'verity.*corrupted' && echo "DM-VERITY CAUGHT IT"
	grep -v ' ./big$' /expected >/tmp/rest
	(cd /data && sha256sum -c -s /tmp/rest) && echo "OTHER FILES OK"
else
	(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
fi
# test.fill: read the whole device (image and tree), so the cache holds
# all of it, for the offline boot.
grep -q test.fill /proc/cmdline && cat /dev/nbd0 >/dev/null && echo "FILLED"
/run/uloop/bin/uloop status --json | sed -n 's/.*"verify_failures":\([0-9]*\).*/VERIFY FAILURES \1/p'
# The daemon's warnings go to the kernel log once it runs on its own;
# before, to the console (the host looks there too): the drop is logged
# during attach when the first read of a bad block comes then (the
# partition table's, read as attach opens the device).
dmesg | grep -q 'root-1.img dropped: data block [0-9]* (bytes [0-9]*+4096) does not match' &&
	echo "SERVER DROP LOGGED"
INIT
echo 1 >"$R/version"
mksquashfs "$R" "$T/v1.sqfs" -no-progress -quiet -all-root >/dev/null
echo 2 >"$R/version"
mksquashfs "$R" "$T/v2.sqfs" -no-progress -quiet -all-root >/dev/null

openssl ecparam -name prime256v1 -genkey -noout -out "$T/key.pem" 2>/dev/null
openssl ec -in "$T/key.pem" -pubout -out "$T/key.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/other.pem" 2>/dev/null
mkdir -p "$T/www"
$ULOOP_NET publish "$T/v1.sqfs" "$T/www" --name root --sign "$T/key.pem" >/dev/null ||
	fail "publish failed"
root=$(sed -n 's/^root-hash //p' "$T/www/root.uloop")
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

vm_uloop_initrd "$T/initrd"
vm_uloop_initrd "$T/initrd-key" --verity-key "$T/key.pub"
M="root=uloop:http://10.0.2.100/root.uloop ip=dhcp rd.uloop.cache=/dev/vda"

# boot NAME INITRD FLASH APPEND WANT...: a boot that must reach the root
# and print every WANT.
boot() {
	_n=$1 _i=$2 _f=$3 _a=$4
	shift 4
	vm_boot "$_n" "$_i" "$_f" "$_a" || { tail -n 30 "$T/$_n.log"; fail "$_n boot failed"; }
	for _w in ROOT-INIT-REACHED "$@"; do
		grep -q "$_w" "$T/$_n.log" || { tail -n 30 "$T/$_n.log"; fail "$_n: no '$_w'"; }
	done
}
# refused NAME INITRD APPEND LINE: a boot that stops with LINE.
refused() {
	vm_boot "$1" "$2" "$T/flash-$1" "$3 rd.uloop.reboot_delay=0" >/dev/null 2>&1 &&
		fail "$1: booted"
	grep -q "$4" "$T/$1.log" || { tail -n 20 "$T/$1.log"; fail "$1: no '$4'"; }
	grep -q ROOT-INIT-REACHED "$T/$1.log" && fail "$1: the root was reached"
	echo "$1: refused: $(grep -a -o "uloop: .*$4.*" "$T/$1.log" | head -n 1)"
}

truncate -s 256M "$T/flash"
: >"$web_log"
boot roothash "$T/initrd" "$T/flash" "$M rd.uloop.roothash=$root" \
	"LOWER ON DM-VERITY" "ROOT FILES OK" "IMAGE VERSION 1" "VERIFY FAILURES 0" \
	"root image verified by dm-verity on /dev/dm-0"
echo "roothash: cold boot on dm-verity, $(body_bytes "$web_log") bytes"
: >"$web_log"
boot warm "$T/initrd" "$T/flash" "$M rd.uloop.roothash=$root" "LOWER ON DM-VERITY" "ROOT FILES OK"
! grep ' /root-1\.' "$web_log" | grep -qv 'bytes=0-0' ||
	fail "warm boot fetched image or tree bytes: $(cat "$web_log")"
echo "warm: no image or tree bytes fetched ($(wc -l <"$web_log") requests: manifest and sizes)"

truncate -s 256M "$T/flash-signed"
boot signed "$T/initrd-key" "$T/flash-signed" "$M test.fill" "LOWER ON DM-VERITY" "ROOT FILES OK" FILLED
echo "signed: booted with the key from the initramfs (and filled the cache)"

truncate -s 256M "$T/flash-otherkey" "$T/flash-wrong" "$T/flash-plain"
wrong=$(printf %s "$root" | tr 0-9a-f 1-9a-f0)
refused wrong "$T/initrd" "$M rd.uloop.roothash=$wrong" "is not the trusted $wrong; refusing it"
refused plain "$T/initrd-key" "root=uloop:http://10.0.2.100/root-1.img ip=dhcp rd.uloop.cache=/dev/vda" \
	"a verity key can only be checked through a manifest"
cp "$T/www/root.uloop" "$T/root.uloop.good"
mkdir -p "$T/www-other"
$ULOOP_NET publish "$T/v1.sqfs" "$T/www-other" --name root --sign "$T/other.pem" >/dev/null
# The same version's manifest, signed by another key.
sed '$d' "$T/root.uloop.good" >"$T/www/root.uloop.new"
tail -n 1 "$T/www-other/root.uloop" >>"$T/www/root.uloop.new"
mv "$T/www/root.uloop.new" "$T/www/root.uloop"
refused otherkey "$T/initrd-key" "$M" "the signature does not verify with the key /etc/uloop/verity.pub"
cp "$T/root.uloop.good" "$T/www/root.uloop"
for f in otherkey wrong; do
	[ -z "$(tr -d '\0' <"$T/flash-$f" | head -c 1)" ] || fail "$f: the refused boot wrote to the flash"
done

# A tampering server (same files, same mtimes: same ETags) and a mirror.
mkdir -p "$T/bad"
cp -p "$T/www"/root* "$T/bad/"
python3 - "$T/bad/root-1.img" <<'PY'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as f:
    for off in range(77, st.st_size, 512 * 1024 + 4096):
        f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x20]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PY
start_nginx bad "$T/bad"
VM_HTTP_PORT=$bad_http
# The mirror: the good server, reached by the guest as 10.0.2.100:443
# (plain http there: the guest's second forwarded port).
VM_HTTPS_PORT=$web_http
truncate -s 256M "$T/flash-tamper"
boot tamper "$T/initrd" "$T/flash-tamper" \
	"$M rd.uloop.roothash=$root rd.uloop.mirror=http://10.0.2.100:443/root.uloop" \
	"ROOT FILES OK" "LOWER ON DM-VERITY"
grep -aq -e "SERVER DROP LOGGED" \
	-e '^uloop: http://10.0.2.100/root-1.img dropped: data block [0-9]* (bytes [0-9]*+4096) does not match' \
	"$T/tamper.log" || fail "tamper: the server's bad block was not logged (kernel log or console)"
n=$(sed -n 's/.*VERIFY FAILURES \([0-9]*\).*/\1/p' "$T/tamper.log")
[ "${n:-0}" -ge 1 ] || fail "tamper: refused fetches not counted ($n)"
echo "tamper: the server's bad blocks refused ($n), the mirror used"
VM_HTTP_PORT=$web_http
VM_HTTPS_PORT=""

# A flipped byte in a cached block of /data/big on the flash, its CRC
# made to match: only dm-verity can tell.
info=$($ULOOP_NET info "$T/flash" --json)
data_off=$(echo "$info" | sed -n 's/.*"data_offset":\([0-9]*\).*/\1/p')
python3 - "$T/flash" "$T/v1.sqfs" "$R/data/big" "$top/tests/integ" "$data_off" <<'PY'
import struct, sys
flash, img, big, lib, data_off = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
sys.path.insert(0, lib)
from crc32c import crc32c
at = open(img, "rb").read().find(open(big, "rb").read()[8192:8192 + 256])
assert at > 0, "big not found stored raw in the image"
blk = at // 4096
with open(flash, "r+b") as f:
    csum_off, = struct.unpack_from("<Q", f.read(4096), 2448)
    assert csum_off, "no checksums in the cache"
    f.seek(data_off + blk * 4096); b = bytearray(f.read(4096))
    b[at % 4096 + 100] ^= 0x01
    f.seek(data_off + blk * 4096); f.write(b)
    f.seek(csum_off + 4 * blk); f.write(struct.pack("<I", crc32c(bytes(b))))
PY
boot flash "$T/initrd" "$T/flash" "$M rd.uloop.roothash=$root test.flash" \
	"BIG READ FAILED" "DM-VERITY CAUGHT IT" "OTHER FILES OK"
grep -q "BIG READ WITHOUT ERROR" "$T/flash.log" && fail "flash: the damaged file read without an error"
echo "flash: the flipped byte gave EIO in the guest (dm-verity), the rest read right"
# The same with rd.uloop.verity=restart: dm-verity restarts the machine
# (QEMU runs with -no-reboot: it stops) at the bad block.
vm_boot restart "$T/initrd" "$T/flash" "$M rd.uloop.roothash=$root rd.uloop.verity=restart test.flash" \
	>/dev/null 2>&1 && fail "restart: the boot went on past the bad block"
grep -aq "verity.*corrupted" "$T/restart.log" && grep -aq "reboot: Restarting system" "$T/restart.log" &&
	! grep -aq "BIG READ" "$T/restart.log" ||
	{ tail -n 20 "$T/restart.log"; fail "restart: dm-verity did not restart the machine"; }
echo "restart: rd.uloop.verity=restart restarted the machine at the bad block"

# The server down: the signed boot's flash (filled), offline, dm-verity
# from the cache alone against the root hash given.
kill "$(cat "$T/nginx-web/nginx.pid")"
boot offline "$T/initrd" "$T/flash-signed" "$M rd.uloop.roothash=$root rd.uloop.offline=1" \
	"serving the cached image offline" "LOWER ON DM-VERITY" "ROOT FILES OK"
echo "offline: dm-verity over the cache alone"
nginx -c "$T/nginx-web/nginx.conf"

# A new version published while a node boots (once it has read the
# manifest): it finishes on version 1; the next boot gets version 2.
truncate -s 256M "$T/flash-pub"
: >"$web_log"
(
	while ! grep -q ' /root-1\.img ' "$web_log"; do sleep 0.2; done
	$ULOOP_NET publish "$T/v2.sqfs" "$T/www" --name root --sign "$T/key.pem" >"$T/publish2.out" 2>&1
) &
watcher=$!
boot pub1 "$T/initrd-key" "$T/flash-pub" "$M" "IMAGE VERSION 1" "ROOT FILES OK"
wait $watcher
grep -q "published root version 2" "$T/publish2.out" || fail "publish during the boot: $(cat "$T/publish2.out")"
grep -q ' /root-2\.' "$web_log" && fail "the booting node read version 2's files"
boot pub2 "$T/initrd-key" "$T/flash-pub" "$M" "IMAGE VERSION 2" "ROOT FILES OK" "LOWER ON DM-VERITY"
echo "publish: the booting node finished on version 1, the next boot got version 2"
