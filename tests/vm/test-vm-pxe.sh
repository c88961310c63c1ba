#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A node that knows only its NIC's firmware boots: no -kernel, an empty
# flash, BIOS (SeaBIOS) and then UEFI (OVMF).  QEMU's iPXE ROM gets an
# address and its boot file from the user network's DHCP and TFTP:
# configs/pxe/uloop.ipxe, as shipped but for its CHANGE lines, which
# fetches the kernel and the standalone uloop initramfs over HTTP from
# nginx and boots root=uloop:http://.../root.uloop (a published image).
# Cold, then warm from the same flash: the warm boot fetches no image
# byte.  (test-vm-pxe-loaders: PXELINUX, GRUB, ISC dhcpd; dracut's
# initramfs over PXE: test-vm-dracut.)
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pxe-lib.sh"
requires mksquashfs
vm_kernel

pxe_site "$T/www"
mkdir -p "$T/tftp"
pxe_ipxe http://10.0.2.100 "$T/tftp/uloop.ipxe"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
VM_PXE="$T/tftp:uloop.ipxe" pxe_boots pxe-bios "$web_log" ROOT-INIT-REACHED "ROOT FILES OK" "BOOTIF GIVEN"
echo "ok: BIOS PXE (SeaBIOS, iPXE ROM, configs/pxe/uloop.ipxe), cold and warm"
[ -e /usr/share/ovmf/OVMF.fd ] || fail "no /usr/share/ovmf/OVMF.fd (apt-get install ovmf)"
VM_FIRMWARE=/usr/share/ovmf/OVMF.fd VM_PXE="$T/tftp:uloop.ipxe" \
	pxe_boots pxe-uefi "$web_log" ROOT-INIT-REACHED "ROOT FILES OK" "BOOTIF GIVEN"
echo "ok: UEFI PXE (OVMF, iPXE's UEFI driver, the same script; the kernel's EFI stub), cold and warm"
