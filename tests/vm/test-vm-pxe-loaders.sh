#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The other boot loaders and DHCP server of configs/pxe, each as shipped
# but for its CHANGE lines, each booting a node with no -kernel and an
# empty flash, cold then warm (the warm boot fetches no image byte):
#
#   1. PXELINUX (BIOS): pxelinux.0 from the user network's TFTP,
#      pxelinux.cfg as pxelinux.cfg/default; the kernel and the initramfs
#      over TFTP; BOOTIF from IPAPPEND 2
#   2. GRUB (UEFI, OVMF): grub-mknetdir's core.efi from TFTP, grub.cfg;
#      the kernel and the initramfs over HTTP from nginx
#   3. ISC dhcpd (dhcpd-uloop.conf) on a boot network of the test's own
#      (a namespace; TFTP from dnsmasq with DHCP off), handing iPXE
#      uloop.ipxe
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pxe-lib.sh"
requires mksquashfs grub-mknetdir dhcpd dnsmasq ip
vm_kernel
for f in /usr/lib/PXELINUX/pxelinux.0 /usr/lib/syslinux/modules/bios/ldlinux.c32 \
	/usr/share/ovmf/OVMF.fd; do
	[ -e "$f" ] || fail "no $f (tests/install-deps.sh installs it)"
done

pxe_site "$T/www"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

# 1. PXELINUX.
P=$T/tftp-pxelinux
mkdir -p "$P/pxelinux.cfg" "$P/boot"
cp /usr/lib/PXELINUX/pxelinux.0 /usr/lib/syslinux/modules/bios/ldlinux.c32 "$P/"
cp "$T/www/boot/vmlinuz" "$T/www/boot/initrd.img" "$P/boot/"
sed -e "s|http://boot.example.org/|http://10.0.2.100/|; s| quiet$| $VM_APPEND_BASE|" \
	"$pxe_conf/pxe/pxelinux.cfg" >"$P/pxelinux.cfg/default"
grep -q "APPEND root=uloop:http://10.0.2.100/root.uloop .*$VM_APPEND_BASE" "$P/pxelinux.cfg/default" ||
	fail "pxelinux.cfg: its CHANGE lines moved"
# (Set and reset: a shell may keep a function call's assignments.)
PXE_KERNEL_BY=tftp VM_PXE="$P:pxelinux.0"
pxe_boots pxelinux "$web_log" ROOT-INIT-REACHED "ROOT FILES OK" "BOOTIF GIVEN"
PXE_KERNEL_BY=http
echo "ok: PXELINUX (BIOS), configs/pxe/pxelinux.cfg, cold and warm"

# 2. GRUB, UEFI.
G=$T/tftp-grub
grub-mknetdir --net-directory="$G" --subdir=grub -d /usr/lib/grub/x86_64-efi >"$T/mknetdir.log" 2>&1 ||
	fail "grub-mknetdir: $(cat "$T/mknetdir.log")"
[ -e "$G/grub/x86_64-efi/core.efi" ] || fail "grub-mknetdir wrote no core.efi: $(ls -R "$G" | head)"
sed -e "s|^set server=.*|set server=10.0.2.100|; s| quiet$| $VM_APPEND_BASE|" \
	"$pxe_conf/pxe/grub.cfg" >"$G/grub/grub.cfg"
grep -q "^set server=10.0.2.100" "$G/grub/grub.cfg" && grep -q "$VM_APPEND_BASE" "$G/grub/grub.cfg" ||
	fail "grub.cfg: its CHANGE lines moved"
VM_FIRMWARE=/usr/share/ovmf/OVMF.fd VM_PXE="$G:grub/x86_64-efi/core.efi"
pxe_boots grub "$web_log" ROOT-INIT-REACHED "ROOT FILES OK"
VM_FIRMWARE=
echo "ok: GRUB (UEFI), configs/pxe/grub.cfg, cold and warm"

# 3. ISC dhcpd on a network of our own.
D=$T/tftp-dhcpd
mkdir -p "$D"
pxe_ipxe http://10.9.0.1 "$D/uloop.ipxe"
chmod a+rx "$T"
NS=uloop-dhcpd-$$
pxe_netns "$NS"
cp "$pxe_conf/pxe/dhcpd-uloop.conf" "$T/dhcpd.conf"	# its network is the test's
: >"$T/dhcpd.leases"
ip netns exec "$NS" dhcpd -4 -q -cf "$T/dhcpd.conf" -lf "$T/dhcpd.leases" -pf "$T/dhcpd.pid" br0 \
	>"$T/dhcpd.out" 2>&1 || fail "dhcpd did not start: $(cat "$T/dhcpd.out")"
on_exit "kill \$(cat $T/dhcpd.pid 2>/dev/null) 2>/dev/null"
pxe_dnsmasq "$NS" tftp --port=0 --enable-tftp --tftp-root="$D" --interface=br0 --bind-interfaces
pxe_netns_boots "$NS" dhcpd ROOT-INIT-REACHED "ROOT FILES OK" "BOOTIF GIVEN"
grep -q "sent .*/uloop.ipxe" "$T/tftp.log" || fail "no uloop.ipxe sent over TFTP: $(cat "$T/tftp.log")"
[ "$(grep -c '^lease ' "$T/dhcpd.leases")" -ge 1 ] || fail "dhcpd gave no lease: $(cat "$T/dhcpd.leases")"
echo "ok: ISC dhcpd, configs/pxe/dhcpd-uloop.conf, cold and warm"
