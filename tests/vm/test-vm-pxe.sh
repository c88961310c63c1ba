#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A node that knows only its NIC's firmware boots: no -kernel, an empty
# flash, BIOS (SeaBIOS) and then UEFI (OVMF).  QEMU's iPXE ROM gets an
# address and its boot file from the user network's DHCP and TFTP:
# configs/pxe/uloop.ipxe, as shipped but for its CHANGE lines, which
# fetches the kernel and the standalone uloop initramfs over HTTP from
# nginx and boots root=uloop:http://.../root.uloop (a published image).
# Cold, then warm from the same flash: the warm boot fetches no image
# byte.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

R=$T/root
vm_data_root "$R"
vm_root_init "$R/sbin/init" <<'INIT'
echo "ROOT-INIT-REACHED pid $$"
(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
grep -q "BOOTIF=01-" /proc/cmdline && echo "BOOTIF GIVEN"
INIT
mkdir -p "$T/www/boot" "$T/tftp"
mksquashfs "$R" "$T/root.sqfs" -no-progress -quiet -all-root >/dev/null
"$ULOOP_NET" publish "$T/root.sqfs" "$T/www" --name root >/dev/null || fail "publish"
vm_uloop_initrd "$T/www/boot/initrd.img"
cp "$VMLINUZ" "$T/www/boot/vmlinuz"
chmod -R a+rX "$T/www"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

# The shipped script, its CHANGE lines set for this network.
sed -e 's|^set server .*|set server http://10.0.2.100|' \
	-e "s|^set extra .*|set extra $VM_APPEND_BASE|" \
	"$(dirname "$0")/../../configs/pxe/uloop.ipxe" >"$T/tftp/uloop.ipxe"
# pxe_boots FIRMWARE-NAME: cold, then warm from the same (new) flash.
pxe_boots() {
	rm -f "$T/flash"
	truncate -s 256M "$T/flash"
	for b in cold warm; do
		: >"$web_log"
		s=$(date +%s)
		VM_PXE="$T/tftp:uloop.ipxe" vm_boot "pxe-$1-$b" "" "$T/flash" ||
			{ tail -n 30 "$T/pxe-$1-$b.log"; cat "$web_log"; fail "$1 $b PXE boot failed"; }
		for want in ROOT-INIT-REACHED "ROOT FILES OK" "BOOTIF GIVEN"; do
			grep -q "$want" "$T/pxe-$1-$b.log" || { tail -n 30 "$T/pxe-$1-$b.log"; fail "$1 $b: no '$want'"; }
		done
		grep -q ' /boot/vmlinuz ' "$web_log" && grep -q ' /boot/initrd.img ' "$web_log" ||
			fail "$1 $b: kernel and initrd not fetched over HTTP: $(cat "$web_log")"
		echo "$1 $b PXE boot: $(( $(date +%s) - s )) s, nginx sent $(body_bytes "$web_log") bytes in $(wc -l <"$web_log") requests"
	done
	grep -v ' /boot/' "$web_log" >"$T/warm-image.log" || :
	[ -z "$(image_fetches "$T/warm-image.log" | grep ' /root-1\.img ')" ] ||
		fail "$1: warm PXE boot fetched image bytes: $(cat "$T/warm-image.log")"
}
pxe_boots bios
echo "ok: BIOS PXE (SeaBIOS, iPXE ROM, configs/pxe/uloop.ipxe), cold and warm"
[ -e /usr/share/ovmf/OVMF.fd ] || fail "no /usr/share/ovmf/OVMF.fd (apt-get install ovmf)"
VM_FIRMWARE=/usr/share/ovmf/OVMF.fd pxe_boots uefi
echo "ok: UEFI PXE (OVMF, iPXE's UEFI driver, the same script; the kernel's EFI stub), cold and warm"
