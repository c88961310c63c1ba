#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly E4
# A node with 256 MiB of RAM (E4's small machine) boots its root from
# uloop (the standalone initramfs, kernel NBD, the cache on a virtio
# disk), and its init reads 64 files of 1 MiB at once, cold, then again
# after dropping the page cache (from the flash), 64 readers at a time:
# every file's sum right, no OOM kill or allocation failure in the kernel
# log, the daemon alive; its peak RSS and the memory left are printed.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
VM_MEM=256
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

R=$T/root
vm_busybox_root "$R" etc data
i=0
while [ $i -lt 64 ]; do
	head -c 1048576 /dev/urandom >"$R/data/f$i"
	i=$((i + 1))
done
( cd "$R/data" && sha256sum f* ) >"$R/expected"
vm_root_init "$R/sbin/init" <<'INIT'
mount -t proc proc /proc 2>/dev/null
echo "MEMTOTAL $(awk '/^MemTotal/ { print $2 }' /proc/meminfo) kB"
burst() {
	cd /data
	for f in f*; do sha256sum "$f" >"/tmp/sum.$f" & done
	wait
	cat /tmp/sum.f* | sort >/tmp/got
	sort /expected | cmp -s - /tmp/got && echo "BURST $1 OK"
	rm -f /tmp/sum.* /tmp/got
	cd /
}
burst cold
sync
echo 3 >/proc/sys/vm/drop_caches
burst warm
for p in /proc/[0-9]*; do
	grep -q "attach" "$p/cmdline" 2>/dev/null && head -c 1 "$p/cmdline" | grep -q @ &&
		echo "DAEMON ALIVE $(awk '/^VmHWM/ { print $2 }' "$p/status") kB peak RSS"
done
echo "MEMAVAILABLE $(awk '/^MemAvailable/ { print $2 }' /proc/meminfo) kB"
dmesg | grep -qi "out of memory\|oom-kill\|page allocation failure" && echo "OOM SEEN"
INIT
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
start_nginx web "$T/www"
# shellcheck disable=SC2034,SC2154  # VM_HTTP_PORT: lib.sh's; web_http: start_nginx's
VM_HTTP_PORT=$web_http

vm_uloop_initrd "$T/initrd"
truncate -s 256M "$T/flash"
vm_boot exhaust "$T/initrd" "$T/flash" \
	"root=uloop:http://10.0.2.100/root.sqfs ip=dhcp rd.uloop.cache=/dev/vda" ||
	{ tail -n 30 "$T/exhaust.log"; fail "the boot failed"; }
for want in "MEMTOTAL" "BURST cold OK" "BURST warm OK" "DAEMON ALIVE"; do
	grep -q "$want" "$T/exhaust.log" || { tail -n 30 "$T/exhaust.log"; fail "no '$want'"; }
done
! grep -q "OOM SEEN" "$T/exhaust.log" || { grep -ai "oom\|out of memory\|allocation failure" "$T/exhaust.log" | head -n 5; fail "the kernel ran out of memory"; }
# shellcheck disable=SC2154  # web_log: start_nginx's
echo "256 MiB node: $(grep -ao 'MEMTOTAL.*' "$T/exhaust.log"), 64 readers at once cold and warm, every sum right; $(grep -ao 'DAEMON ALIVE.*' "$T/exhaust.log"); $(grep -ao 'MEMAVAILABLE.*' "$T/exhaust.log") after; nginx sent $(body_bytes "$web_log") bytes in $(wc -l <"$web_log") requests"
