#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly D2
# The diskless boot over ublk, on Debian 13's kernel (6.12, with
# ublk_drv), with the standalone initramfs (initramfs/uloop-mkinitramfs,
# which packs ublk_drv where the kernel has it): cold with
# rd.uloop.transport=ublk, then warm with rd.uloop.transport=auto, which
# picks ublk where there is no uloop.ko.  Each time the root is on
# /dev/ublkb0 and every file reads right, and the daemon lives on after
# switch_root; the warm boot fetches no image bytes.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
VM_KSERIES=trixie
vm_kernel
modprobe -S "$KVER" -d "$KROOT" --show-depends ublk_drv >/dev/null 2>&1 ||
	{ echo "the guest kernel $KVER has no ublk_drv"; exit 77; }

R=$T/root
vm_data_root "$R"
vm_root_init "$R/sbin/init" <<'INIT'
echo "ROOT-INIT-REACHED"
grep -q "^/dev/ublkb0 /run/uloop/lower " /proc/mounts && echo "ROOT ON UBLKB0"
(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
for p in /proc/[0-9]*; do
	grep -q "attach" "$p/cmdline" 2>/dev/null && head -c 1 "$p/cmdline" | grep -q @ &&
		echo "DAEMON ALIVE AFTER SWITCH_ROOT"
done
grep -q '"transport":"ublk"' /run/uloop/ublkb0.json && echo "RUN STATE UBLK"
INIT
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
vm_uloop_initrd "$T/initrd"
truncate -s 128M "$T/flash"
APPEND="root=uloop:http://10.0.2.100/root.sqfs ip=dhcp rd.uloop.cache=/dev/vda"

for b in cold warm; do
	tr=ublk
	[ $b = warm ] && tr=auto
	: >"$web_log"
	s=$(date +%s)
	vm_boot "$b" "$T/initrd" "$T/flash" "$APPEND rd.uloop.transport=$tr" ||
		{ tail -n 30 "$T/$b.log"; fail "$b boot failed"; }
	vm_expect "$b" "$T/$b.log" ROOT-INIT-REACHED "ROOT ON UBLKB0" "ROOT FILES OK" \
		"DAEMON ALIVE AFTER SWITCH_ROOT" "RUN STATE UBLK" ||
		{ tail -n 30 "$T/$b.log"; fail "$b: rd.uloop.transport=$tr"; }
	echo "$b boot (rd.uloop.transport=$tr): $(( $(date +%s) - s )) s, nginx sent $(body_bytes "$web_log") bytes in $(wc -l <"$web_log") requests"
done
[ -z "$(image_fetches "$web_log")" ] || fail "warm boot fetched image bytes: $(cat "$web_log")"
echo "ublk boot: root on /dev/ublkb0, cold (ublk) and warm (auto), warm fetched nothing: ok"
