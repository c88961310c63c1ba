#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly C1 C2 R1 D2
# A writable root kept across reboots in a COW on the node's flash
# (rd.uloop.cow, uloop attach --cow), with the standalone initramfs: an
# ext4 root image served by nginx, root=uloop:URL with the cache and the
# COW as files in one filesystem on the flash (rd.uloop.cache=
# LABEL=flash:/cache rd.uloop.cow=LABEL=flash:/root.cow).  Four boots of
# one flash disk:
#   1. the root is the device itself, read-write (no overlay); it writes
#      files, syncs, and goes down as systemd-shutdown does (unmount,
#      remount the root read-only, pivot into /run/initramfs, exec uloop's
#      shutdown there): the device detached, the COW clean.  On the host,
#      the COW merged over the image (uml_moo, UML's own tool) is an ext4
#      that fsck finds clean, not needing recovery, and holds the files.
#   2. the files are there; more are written and synced, then the guest
#      writes on without syncing and QEMU is killed (a power cut): merged
#      on the host, the root needs only its journal replayed to be clean
#      (fsck), and holds every synced file, byte for byte.
#   3. after the power cut the node boots on the same COW: every synced
#      file is there.
#   4. the image replaced on the server: uloop refuses the COW (made over
#      the other image), the boot says so in a warning and comes up with
#      the new image under a RAM layer; the COW is not written (the same
#      bytes after as before).
# The image on the server is byte-identical after the writes.  boot.json
# names the COW, or "fallback".
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires_root
requires mkfs.ext4 e2fsck debugfs dumpe2fs uml_moo losetup
vm_kernel

# The root: busybox, files to check, /persist for the writes, and an init
# whose work test.mode= on the command line names.
R=$T/root
vm_data_root "$R"
mkdir -p "$R/persist"
cat >"$R/sbin/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
mode=$(sed -n 's/.*test\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
echo "ROOT-INIT-REACHED $mode"
echo "ROOT MOUNT $(awk '$2 == "/" { split($4, o, ","); print $1, $3, o[1] }' /proc/mounts)"
echo "BOOT JSON $(cat /run/uloop/boot.json)"
echo "IMAGE VERSION $(cat /version)"
(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
has() {	# has NAME: /persist/NAME is there, as its sum says
	[ -f "/persist/$1" ] && (cd /persist && sha256sum -c -s "$1.sum") && echo "HAS $1"
}
put() {	# put NAME KIB: random bytes and their sum
	dd if=/dev/urandom of="/persist/$1" bs=1k count="$2" 2>/dev/null
	(cd /persist && sha256sum "$1" >"$1.sum")
	echo "PUT $1 $(cut -d' ' -f1 "/persist/$1.sum")"
}
# As systemd-shutdown goes down: what can be unmounted is, the root is
# remounted read-only, then /run/initramfs/shutdown (uloop, linked there
# by the initramfs) runs as PID 1 in /run/initramfs.
down() {
	echo "ULOOP-VM-RESULT 0"
	cd /
	sync
	umount /run/uloop/lower 2>/dev/null
	mount -o remount,ro / && echo "ROOT REMOUNTED RO"
	mount --bind /run/initramfs /run/initramfs
	mkdir -p /run/initramfs/run
	mount --bind /run /run/initramfs/run
	cd /run/initramfs
	pivot_root . oldroot
	exec /shutdown reboot
}
case $mode in
first)
	put a 3072
	cp -a /data /persist/data
	(cd /persist/data && sha256sum -c -s /expected) && echo "COPIED DATA"
	sync
	echo "WROTE A"
	down ;;
cut)
	has a
	put b 2048
	mkdir /persist/dir && put dir/c 64
	sync
	echo "SYNCED B"
	# Writes that no sync covers, until the power goes.
	i=0
	while :; do
		dd if=/dev/urandom of="/persist/u$((i % 6))" bs=64k count=8 2>/dev/null
		i=$((i + 1))
		[ $i -eq 3 ] && echo "WRITING UNSYNCED"
	done ;;
after)
	has a
	has b
	has dir/c
	(cd /persist/data && sha256sum -c -s /expected) && echo "HAS DATA"
	down ;;
fallback)
	[ -e /persist/a ] || echo "NO A"
	echo x >/persist/ram && [ "$(cat /persist/ram)" = x ] && echo "RAM WRITE OK"
	down ;;
esac
echo "ULOOP-VM-RESULT 1"
poweroff -f
INIT
chmod +x "$R/sbin/init"
echo 1 >"$R/version"
mkdir -p "$T/www"
mkfs.ext4 -q -F -L root -d "$R" "$T/www/root.ext4" 64M >/dev/null
# uml_moo's copy: a COW over a URL records mtime 0 for UML's check.
cp "$T/www/root.ext4" "$T/root1.ext4"
touch -d @0 "$T/root1.ext4"
echo 2 >"$R/version"
mkfs.ext4 -q -F -L root -d "$R" "$T/root2.ext4" 64M >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

vm_uloop_initrd "$T/initrd"
truncate -s 256M "$T/flash"
mkfs.ext4 -q -F -L flash "$T/flash"
APPEND="root=uloop:http://10.0.2.100/root.ext4 ip=dhcp rd.uloop.cache=LABEL=flash:/cache rd.uloop.cow=LABEL=flash:/root.cow"
sum0=$(sha256sum <"$T/www/root.ext4")

# cow TAG: the COW as the flash holds it now, to $T/TAG.cow (the flash
# copied, and mounted on the host: its own journal replayed).
cow() {
	cp --sparse=always "$T/flash" "$T/flash.$1"
	_l=$(losetup -f --show "$T/flash.$1") || fail "losetup"
	mkdir -p "$T/mnt"
	mount "$_l" "$T/mnt" || { losetup -d "$_l"; fail "$1: the flash does not mount"; }
	_ok=1
	cp --sparse=always "$T/mnt/root.cow" "$T/$1.cow" || _ok=""
	umount "$T/mnt"
	losetup -d "$_l"
	rm -f "$T/flash.$1"
	[ -n "$_ok" ] || fail "$1: no root.cow on the flash"
}
# merged TAG: the COW over the first image, merged by uml_moo (UML's
# own tool; -b: the image is a URL in the header), as $T/TAG.img.
merged() {
	uml_moo -b "$T/root1.ext4" "$T/$1.cow" "$T/$1.img" >"$T/moo.log" 2>&1 ||
		fail "$1: uml_moo: $(cat "$T/moo.log")"
}
# same TAG NAME SUM: /persist/NAME in the merged root has that sum.
same() {
	rm -f "$T/dump"
	debugfs -R "dump /persist/$2 $T/dump" "$T/$1.img" >/dev/null 2>&1
	[ -f "$T/dump" ] || fail "$1: no /persist/$2 in the root"
	[ "$(sha256sum <"$T/dump" | cut -d' ' -f1)" = "$3" ] || fail "$1: /persist/$2 is not what the guest wrote"
	rm -f "$T/dump"
}
# clean TAG: fsck finds the merged root clean, and not needing recovery
# (it was unmounted, or remounted read-only, before the device went).
clean() {
	dumpe2fs -h "$T/$1.img" 2>/dev/null | grep -q "^Filesystem features:.*needs_recovery" &&
		fail "$1: the root's journal needs recovery: it was not cleanly shut down"
	e2fsck -fn "$T/$1.img" >"$T/fsck.log" 2>&1 || fail "$1: fsck: $(cat "$T/fsck.log")"
}
put_sum() { sed -n "s|.*PUT $2 \([0-9a-f]*\).*|\1|p" "$T/$1.log" | tail -n 1; }

# took NAME START: the boot's wall time and the COW's size on the flash.
took() {
	echo "$1: $(( $(date +%s) - $2 )) s; COW $(du -k "$T/$1.cow" | cut -f1) KiB on the flash, nginx sent $(body_bytes "$web_log") bytes"
	: >"$web_log"
}

# 1. Writes, a clean shutdown.
s0=$(date +%s)
: >"$web_log"
vm_boot first "$T/initrd" "$T/flash" "$APPEND test.mode=first" ||
	{ tail -n 30 "$T/first.log"; fail "first boot failed"; }
vm_expect first "$T/first.log" "ROOT MOUNT /dev/nbd0 ext4 rw" "ROOT FILES OK" "IMAGE VERSION 1" \
	'"cow":"/run/uloop/flash/root.cow","writes":"cow"' "root read-write on the COW /run/uloop/flash/root.cow" \
	"COPIED DATA" "WROTE A" "ROOT REMOUNTED RO" "uloop: shutdown: /dev/nbd0 detached: cache committed" ||
	fail "first boot"
grep -a "uloop: warning" "$T/first.log" && fail "first boot: a warning"
cow first
merged first
clean first
same first a "$(put_sum first a)"
took first "$s0"
echo "first boot: the root read-write on the COW; shut down clean (fsck of the merged root clean), the files in it"

# 2. A power cut: QEMU killed while the guest writes what no sync covers.
rm -f "$T/cut.pid"
s0=$(date +%s)
VM_QEMU_PRE="-pidfile $T/cut.pid" vm_boot cut "$T/initrd" "$T/flash" "$APPEND test.mode=cut" >/dev/null 2>&1 &
vmpid=$!
n=0
until grep -aq "WRITING UNSYNCED" "$T/cut.log" 2>/dev/null; do
	kill -0 $vmpid 2>/dev/null || { tail -n 30 "$T/cut.log"; fail "the power-cut boot ended before its unsynced writes"; }
	n=$((n + 1))
	[ $n -lt $((VM_TIMEOUT * 2)) ] || fail "no unsynced writes after ${VM_TIMEOUT}s"
	sleep 0.5
done
kill -9 "$(cat "$T/cut.pid")"
wait $vmpid || true
vm_expect cut "$T/cut.log" "ROOT MOUNT /dev/nbd0 ext4 rw" "HAS a" "SYNCED B" || fail "power-cut boot"
cow cut
merged cut
# The cut came while the root was mounted read-write: its journal must
# need replaying, or this was no power cut.
dumpe2fs -h "$T/cut.img" 2>/dev/null | grep -q "^Filesystem features:.*needs_recovery" ||
	fail "cut: the root was clean at the cut: the guest was not cut while writing"
e2fsck -E journal_only -y "$T/cut.img" >"$T/fsck.log" 2>&1 || [ $? -eq 1 ] ||
	fail "cut: the journal does not replay: $(cat "$T/fsck.log")"
e2fsck -fn "$T/cut.img" >"$T/fsck.log" 2>&1 || fail "cut: fsck after the journal's replay: $(cat "$T/fsck.log")"
same cut a "$(put_sum first a)"
same cut b "$(put_sum cut b)"
same cut dir/c "$(put_sum cut dir/c)"
took cut "$s0"
echo "power cut mid-writes: the merged root is clean once its journal is replayed, every synced file in it"

# 3. The boot after the power cut.
s0=$(date +%s)
vm_boot after "$T/initrd" "$T/flash" "$APPEND test.mode=after" ||
	{ tail -n 30 "$T/after.log"; fail "boot after the power cut failed"; }
vm_expect after "$T/after.log" "ROOT MOUNT /dev/nbd0 ext4 rw" "HAS a" "HAS b" "HAS dir/c" "HAS DATA" \
	"ROOT REMOUNTED RO" "uloop: shutdown: /dev/nbd0 detached: cache committed" || fail "boot after the power cut"
cow after
merged after
clean after
took after "$s0"
[ "$(sha256sum <"$T/www/root.ext4")" = "$sum0" ] || fail "the image on the server changed"
echo "after the power cut: every synced file there; the image on the server byte-identical"

# 4. The image replaced on the server: the COW refused, never written.
cp "$T/root2.ext4" "$T/www/.new" && touch -d "@$(( $(date +%s) + 5 ))" "$T/www/.new"
mv "$T/www/.new" "$T/www/root.ext4"
s0=$(date +%s)
vm_boot fallback "$T/initrd" "$T/flash" "$APPEND test.mode=fallback" ||
	{ tail -n 30 "$T/fallback.log"; fail "boot with a refused COW failed"; }
vm_expect fallback "$T/fallback.log" \
	"uloop: warning: rd.uloop.cow=LABEL=flash:/root.cow: cow /run/uloop/flash/root.cow: the image at http://10.0.2.100/root.ext4 changed since this COW was made over it" \
	"booting with the root's writes in RAM (they will not persist), the COW left as it is" \
	"ROOT MOUNT uloop overlay rw" "IMAGE VERSION 2" "ROOT FILES OK" "NO A" "RAM WRITE OK" \
	'"cow":"fallback","writes":"ram"' "COW not used: writes in ram" || fail "boot with a refused COW"
cow fallback
cmp "$T/after.cow" "$T/fallback.cow" || fail "the refused COW was written"
took fallback "$s0"
echo "the image replaced: the COW refused with a warning, the boot up in RAM, the COW's bytes unchanged"
