#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# PXE as on a real boot network: a network namespace of our own holding
# a bridge, the node's tap, dnsmasq with configs/pxe/dnsmasq-uloop.conf
# (DHCP and TFTP, as shipped but for its CHANGE lines) and nginx with
# configs/nginx/uloop-origin.conf.  The node (no -kernel, an empty flash)
# gets its address and configs/pxe/uloop.ipxe from dnsmasq, the kernel,
# the initramfs and the image from nginx, and its own address again from
# dnsmasq in the initramfs.  Cold, then warm.  Nothing leaves the
# namespace.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
requires dnsmasq
requires ip
vm_kernel
CONF=$(cd "$(dirname "$0")/../../configs" && pwd)

R=$T/root
vm_data_root "$R"
vm_root_init "$R/sbin/init" <<'INIT'
echo "ROOT-INIT-REACHED pid $$"
(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
INIT
W=$T/www
mkdir -p "$W/boot" "$T/tftp"
mksquashfs "$R" "$T/root.sqfs" -no-progress -quiet -all-root >/dev/null
"$ULOOP_NET" publish "$T/root.sqfs" "$W" --name root >/dev/null || fail "publish"
vm_uloop_initrd "$W/boot/initrd.img"
cp "$VMLINUZ" "$W/boot/vmlinuz"
chmod -R a+rX "$W" "$T"

# The namespace: a bridge at 10.9.0.1 and the node's tap on it.
NS=uloop-pxe-$$
ip netns add "$NS" || fail "ip netns add"
on_exit "ip netns del $NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
nsx ip link add br0 type bridge
nsx ip addr add 10.9.0.1/24 dev br0
nsx ip tuntap add dev tap0 mode tap
nsx ip link set tap0 master br0
nsx ip link set tap0 up
nsx ip link set br0 up

# The servers, from configs/ (the CHANGE lines set for this network).
sed -e "s|^tftp-root=.*|tftp-root=$T/tftp|" "$CONF/pxe/dnsmasq-uloop.conf" >"$T/dnsmasq.conf"
nsx dnsmasq --conf-file="$T/dnsmasq.conf" --pid-file="$T/dnsmasq.pid" --user=root \
	--dhcp-leasefile="$T/leases" --log-facility="$T/dnsmasq.log" --log-dhcp ||
	fail "dnsmasq did not start: $(cat "$T/dnsmasq.log" 2>/dev/null)"
on_exit "kill \$(cat $T/dnsmasq.pid 2>/dev/null) 2>/dev/null"
sed -e "s|listen 80;|listen 10.9.0.1:80;|; s|root /srv/uloop;|root $W;|" "$CONF/nginx/uloop-origin.conf" >"$T/origin.conf"
nginx_with_site origin "$T/origin.conf" ip netns exec "$NS"
log=$origin_log
sed -e 's|^set server .*|set server http://10.9.0.1|' \
	-e "s|^set extra .*|set extra $VM_APPEND_BASE|" \
	"$CONF/pxe/uloop.ipxe" >"$T/tftp/uloop.ipxe"
chmod a+r "$T/tftp/uloop.ipxe"

truncate -s 256M "$T/flash"
for b in cold warm; do
	: >"$log"
	s=$(date +%s)
	VM_WRAP="ip netns exec $NS" VM_NETDEV="tap,id=n0,ifname=tap0,script=no,downscript=no" VM_PXE=x:x \
		vm_boot "dnsmasq-$b" "" "$T/flash" ||
		{ tail -n 30 "$T/dnsmasq-$b.log"; tail -n 20 "$T/dnsmasq.log"; fail "$b boot failed"; }
	for want in ROOT-INIT-REACHED "ROOT FILES OK"; do
		grep -q "$want" "$T/dnsmasq-$b.log" || { tail -n 30 "$T/dnsmasq-$b.log"; fail "$b: no '$want'"; }
	done
	grep -q "sent .*/uloop.ipxe" "$T/dnsmasq.log" || fail "$b: dnsmasq sent no uloop.ipxe: $(tail -n 20 "$T/dnsmasq.log")"
	echo "$b boot through dnsmasq: $(( $(date +%s) - s )) s, nginx sent $(body_bytes "$log") bytes in $(wc -l <"$log") requests"
done
# Two leases asked for each boot (the firmware's, the initramfs's): one
# address, the node's MAC.
[ "$(grep -c 'DHCPACK' "$T/dnsmasq.log")" -ge 4 ] || fail "fewer DHCP exchanges than expected: $(grep DHCP "$T/dnsmasq.log")"
grep -v ' /boot/' "$log" >"$T/warm-image.log" || :
[ -z "$(image_fetches "$T/warm-image.log" | grep ' /root-1\.img ')" ] ||
	fail "warm boot fetched image bytes: $(cat "$T/warm-image.log")"
echo "ok: PXE through configs/pxe/dnsmasq-uloop.conf and configs/nginx/uloop-origin.conf, cold and warm"
