#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The network and device forms of the kernel command line, on a node with
# two NICs where only the second reaches the server (the first answers
# DHCP too: picking it would fail the boot):
#  1. BOOTIF= picks the NIC to DHCP on; the cache is a raw GPT partition
#     found by PARTUUID= (given in upper case), the overlay another found
#     by PARTLABEL=; init= is an absolute symlink in an image without /run
#     (/init follows it inside the image and creates /run in the overlay);
#     udhcpc keeps running after switch_root to renew the lease; the
#     booted system has uloop (/run/uloop/bin/uloop status).
#  2. the kernel's ip=:::::eth1:dhcp form; warm: one 1-byte request, the
#     overlay persisted.
#  3. dracut's ip=eth1:dhcp; the flash is write-protected: a warning, and
#     the node boots with its cache in RAM.
#  4. a static ip= with hostname and DNS server, no rd.uloop.cache: the
#     cache lives in RAM.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs mkfs.ext4 sfdisk
vm_kernel

R=$T/root
vm_busybox_root "$R" data
rmdir "$R/run"
cp -r /usr/share/doc/d* "$R/data/" 2>/dev/null
ln -s /bin/realinit "$R/sbin/myinit"
vm_root_init "$R/bin/realinit" <<'INIT'
echo "ROOT-INIT-REACHED as $0"
[ -e /persist ] && echo "PERSISTED $(cat /persist)"
date +%s >/persist 2>/dev/null
ip -4 addr show eth1 | grep -q "inet 10.0.2.15/" && echo "ETH1 UP"
ip -4 addr show eth0 2>/dev/null | grep -q "inet " && echo "ETH0 HAS AN ADDRESS"
pidof udhcpc >/dev/null && echo "UDHCPC RUNNING"
echo "HOSTNAME $(hostname)"
/run/uloop/bin/uloop status | grep -q /dev/nbd0 && echo "STATUS OK"
echo "CACHE $(sed -n 's/.*"cache":"\([^"]*\)".*/\1/p' /run/uloop/nbd0.json)"
find /data -type f | head -n 50 | xargs cat >/dev/null && echo "DATA READ"
INIT
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
vm_uloop_initrd "$T/initrd"

# The flash: GPT, a raw cache partition and an ext4 overlay partition.
PU=3f6a8c1e-2b4d-4e5f-9a7b-0c1d2e3f4a5b
truncate -s 96M "$T/flash"
sfdisk -q "$T/flash" <<S
label: gpt
start=2048, size=131072, name="cachepart", uuid=$PU
start=133120, size=49152, name="ovlpart"
S
mkfs.ext4 -q -F "$T/ovl.ext4" 24M
dd if="$T/ovl.ext4" of="$T/flash" bs=512 seek=133120 conv=notrunc status=none

U="root=uloop:http://10.0.2.100/root.sqfs"
# A second NIC first (eth0): DHCP answers there, but no server behind it.
PRE="-netdev user,id=n1,restrict=on -device virtio-net-pci,netdev=n1"
MAC=52:54:00:12:34:99

boot() {	# boot NAME DISKS APPEND WANT...
	_n=$1 _d=$2 _a=$3
	shift 3
	: >"$web_log"
	VM_QEMU_PRE=$PRE VM_MAC=$MAC vm_boot "$_n" "$T/initrd" "$_d" "$_a" ||
		{ tail -n 30 "$T/$_n.log"; fail "$_n: boot failed"; }
	for _w in "$@"; do
		grep -qF "$_w" "$T/$_n.log" || { tail -n 30 "$T/$_n.log"; fail "$_n: no '$_w'"; }
	done
	! grep -q "ETH0 HAS AN ADDRESS" "$T/$_n.log" || fail "$_n: DHCP configured the wrong NIC"
	echo "$_n: ok; nginx sent $(body_bytes "$web_log") bytes in $(wc -l <"$web_log") requests"
}

boot cold "$T/flash" "$U BOOTIF=01-52-54-00-12-34-99 ip=dhcp rd.uloop.cache=PARTUUID=$(echo $PU | tr a-f A-F) rd.uloop.overlay=PARTLABEL=ovlpart init=/sbin/myinit" \
	"ROOT-INIT-REACHED as /sbin/myinit" "ETH1 UP" "UDHCPC RUNNING" "STATUS OK" "CACHE /dev/vda1" "DATA READ"
grep -q PERSISTED "$T/cold.log" && fail "cold: a fresh overlay had data"

boot warm "$T/flash" "$U ip=:::::eth1:dhcp rd.uloop.cache=PARTUUID=$PU rd.uloop.overlay=PARTLABEL=ovlpart init=/sbin/myinit" \
	"ETH1 UP" "PERSISTED" "CACHE /dev/vda1" "DATA READ"
[ -z "$(image_fetches "$web_log")" ] || fail "warm: fetched image bytes: $(cat "$web_log")"

boot readonly "$T/flash,readonly=on" "$U ip=eth1:dhcp rd.uloop.cache=PARTUUID=$PU init=/sbin/myinit" \
	"uloop: warning: rd.uloop.cache=PARTUUID=$PU: /dev/vda1 is read-only (write-protected?); booting with a cache in RAM (nothing persists)" \
	"ETH1 UP" "CACHE /run/uloop/ram/cache" "DATA READ"

boot static "" "$U ip=10.0.2.15::10.0.2.2:255.255.255.0:node7:eth1:none:10.0.2.3 rd.uloop.debug init=/sbin/myinit" \
	"network: eth1 10.0.2.15/255.255.255.0 (static, dns 10.0.2.3)" "ETH1 UP" "HOSTNAME node7" \
	"CACHE /run/uloop/ram/cache" "DATA READ"
echo "BOOTIF, ip= forms, PARTUUID/PARTLABEL, write-protected flash, RAM cache, init= symlink: ok"
