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
. "$(dirname "$0")/pxe-lib.sh"
requires mksquashfs
requires dnsmasq
requires ip
vm_kernel

pxe_site "$T/www"
mkdir -p "$T/tftp"
pxe_ipxe http://10.9.0.1 "$T/tftp/uloop.ipxe"
chmod a+rx "$T"
NS=uloop-pxe-$$
pxe_netns "$NS"

# The servers, from configs/ (the CHANGE lines set for this network).
sed -e "s|^tftp-root=.*|tftp-root=$T/tftp|" "$pxe_conf/pxe/dnsmasq-uloop.conf" >"$T/dnsmasq.conf"
pxe_dnsmasq "$NS" dnsmasq --conf-file="$T/dnsmasq.conf" --dhcp-leasefile="$T/leases" --log-dhcp
pxe_netns_boots "$NS" dnsmasq ROOT-INIT-REACHED "ROOT FILES OK" "BOOTIF GIVEN"
grep -q "sent .*/uloop.ipxe" "$T/dnsmasq.log" || fail "dnsmasq sent no uloop.ipxe: $(tail -n 20 "$T/dnsmasq.log")"
# Two leases asked for each boot (the firmware's, the initramfs's): one
# address, the node's MAC.
[ "$(grep -c 'DHCPACK' "$T/dnsmasq.log")" -ge 4 ] || fail "fewer DHCP exchanges than expected: $(grep DHCP "$T/dnsmasq.log")"
echo "ok: PXE through configs/pxe/dnsmasq-uloop.conf and configs/nginx/uloop-origin.conf, cold and warm"
