#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly R1 D2
# Diskless boot end to end with the standalone initramfs
# (initramfs/uloop-mkinitramfs): root=uloop:URL from nginx, the cache on a
# virtio disk (the node's flash), an overlay on tmpfs, switch_root into the
# image's /sbin/init.  Cold, then warm from the same flash: the warm boot
# fetches no image bytes (one 1-byte validation request).  The uloop
# daemon is still serving after switch_root.  Then: the image replaced on
# the server boots whole (the stale cache dropped); a fully cached image
# boots with the server down and rd.uloop.offline=1; and the root comes
# over HTTPS with the CA in the initramfs (uloop-mkinitramfs --ca).
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

# A small root: busybox, an init that reports and powers off, some files.
R=$T/root
vm_data_root "$R"
vm_root_init "$R/sbin/init" <<'INIT'
echo "ROOT-INIT-REACHED pid $$"
(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
echo hello >/written-by-root && [ "$(cat /written-by-root)" = hello ] && echo "OVERLAY WRITABLE"
echo "IMAGE VERSION $(cat /version)"
# test.fill: read the whole image, so the cache holds all of it.
grep -q test.fill /proc/cmdline && cat /dev/nbd0 >/dev/null && echo "FILLED"
for p in /proc/[0-9]*; do
	grep -q "attach" "$p/cmdline" 2>/dev/null && head -c 1 "$p/cmdline" | grep -q @ &&
		echo "DAEMON ALIVE AFTER SWITCH_ROOT $(basename "$p")"
done
[ -e /run/uloop/nbd0.json ] && echo "RUN STATE KEPT"
INIT
echo 1 >"$R/version"
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
echo 2 >"$R/version"
mksquashfs "$R" "$T/root2.sqfs" -no-progress -quiet -all-root >/dev/null
make_ca "$T/pki"
make_cert "$T/pki" node "IP:10.0.2.100"
start_nginx web "$T/www" "$T/pki/node.pem" "$T/pki/node.key"
VM_HTTP_PORT=$web_http
VM_HTTPS_PORT=$web_https

vm_uloop_initrd "$T/initrd"
truncate -s 256M "$T/flash"
APPEND="root=uloop:http://10.0.2.100/root.sqfs ip=dhcp rd.uloop.cache=/dev/vda"

for b in cold warm; do
	: >"$web_log"
	s=$(date +%s)
	vm_boot "$b" "$T/initrd" "$T/flash" "$APPEND" ||
		{ tail -n 30 "$T/$b.log"; fail "$b boot failed"; }
	for want in ROOT-INIT-REACHED "ROOT FILES OK" "OVERLAY WRITABLE" \
		"DAEMON ALIVE AFTER SWITCH_ROOT" "RUN STATE KEPT"; do
		grep -q "$want" "$T/$b.log" || { tail -n 30 "$T/$b.log"; fail "$b: no '$want'"; }
	done
	echo "$b boot: $(( $(date +%s) - s )) s, nginx sent $(body_bytes "$web_log") bytes in $(wc -l <"$web_log") requests"
done
[ -z "$(image_fetches "$web_log")" ] ||
	fail "warm boot fetched image bytes: $(cat "$web_log")"

# The image replaced on the server: the new one boots, whole.
cp "$T/root2.sqfs" "$T/www/.new" && touch -d "@$(( $(date +%s) + 5 ))" "$T/www/.new"
mv "$T/www/.new" "$T/www/root.sqfs"
vm_boot replaced "$T/initrd" "$T/flash" "$APPEND test.fill" ||
	{ tail -n 30 "$T/replaced.log"; fail "replaced-image boot failed"; }
grep -q "IMAGE VERSION 2" "$T/replaced.log" && grep -q "ROOT FILES OK" "$T/replaced.log" &&
	grep -q FILLED "$T/replaced.log" || { tail -n 20 "$T/replaced.log"; fail "replaced image not booted whole"; }
echo "replaced: version 2 booted, cache filled"

# The server down: offline boot from the full cache.
kill "$(cat "$T/nginx-web/nginx.pid")"
vm_boot offline "$T/initrd" "$T/flash" "$APPEND rd.uloop.offline=1" ||
	{ tail -n 30 "$T/offline.log"; fail "offline boot failed"; }
grep -q "serving the cached image offline" "$T/offline.log" &&
	grep -q "IMAGE VERSION 2" "$T/offline.log" && grep -q "ROOT FILES OK" "$T/offline.log" ||
	{ grep -a "uloop" "$T/offline.log" | head -n 8; fail "no offline boot"; }
echo "offline: booted from the cache with the server down"
nginx -c "$T/nginx-web/nginx.conf"

# HTTPS with the CA in the initramfs (an IP-literal host: the certificate
# holds IP:10.0.2.100).
vm_uloop_initrd "$T/initrd-ca" --ca "$T/pki/ca.pem"
vm_boot https "$T/initrd-ca" "" "root=uloop:https://10.0.2.100/root.sqfs ip=dhcp" ||
	{ tail -n 30 "$T/https.log"; fail "https boot failed"; }
grep -q "IMAGE VERSION 2" "$T/https.log" || fail "https boot: no root"
echo "https: booted with the CA from the initramfs"
