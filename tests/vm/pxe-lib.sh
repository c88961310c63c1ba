# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# pxe-lib.sh - what the PXE tests share (after functions.sh,
# http-functions.sh and lib.sh, with vm_kernel done): a node that knows
# only its NIC's firmware, booted with the files of configs/pxe and
# configs/nginx as shipped but for their CHANGE lines.
#
#   pxe_site WWW              a published test root (root.uloop) with the
#                             kernel and the standalone uloop initramfs
#                             under WWW/boot; the root's init prints
#                             ROOT-INIT-REACHED, ROOT FILES OK (its files'
#                             sums) and BOOTIF GIVEN (when it was)
#   pxe_ipxe SERVER OUT [IMAGE [EXTRA]]
#                             configs/pxe/uloop.ipxe for SERVER (a URL),
#                             the image SERVER/root.uloop or IMAGE, more
#                             kernel parameters EXTRA
#   pxe_netns NS              a boot network of the test's own: network
#                             namespace NS, a bridge br0 at 10.9.0.1/24 and
#                             the node's tap0 on it (pxe_netdev); removed
#                             at exit
#   pxe_dnsmasq NS NAME ARG...  dnsmasq with ARGs in pxe_netns NS, its
#                             log $T/NAME.log; stopped at exit
#   pxe_origin NS WWW         configs/nginx/uloop-origin.conf serving WWW
#                             at 10.9.0.1:80 in pxe_netns NS (origin_log)
#   pxe_netns_boots NS NAME WANT...  pxe_origin NS (serving $T/www), then pxe_boots NAME
#                             from the NIC on pxe_netns NS's tap (its DHCP
#                             and TFTP the caller's)
#   pxe_boots NAME WEBLOG WANT...  cold, then warm from the same new
#                             flash, as vm_boot NAME-cold/-warm with the
#                             VM_ settings of the caller; each boot must
#                             print every WANT and fetch the kernel and the
#                             initramfs over HTTP (WEBLOG, nginx's log),
#                             unless PXE_KERNEL_BY=tftp; the warm one no
#                             image byte
pxe_conf=$top/configs
pxe_netdev="tap,id=n0,ifname=tap0,script=no,downscript=no"

pxe_site() {
	_r=$T/pxe-root
	vm_data_root "$_r"
	vm_root_init "$_r/sbin/init" <<-'INIT'
	echo "ROOT-INIT-REACHED pid $$"
	(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
	grep -q "BOOTIF=01-" /proc/cmdline && echo "BOOTIF GIVEN"
	INIT
	mkdir -p "$1/boot"
	mksquashfs "$_r" "$T/pxe-root.sqfs" -no-progress -quiet -all-root >/dev/null
	"$ULOOP_NET" publish "$T/pxe-root.sqfs" "$1" --name root >/dev/null || fail "publish"
	vm_uloop_initrd "$1/boot/initrd.img"
	cp "$VMLINUZ" "$1/boot/vmlinuz"
	chmod -R a+rX "$1"
}

pxe_ipxe() {
	sed -e "s|^set server .*|set server $1|" \
		-e "s|^set image .*|set image ${3:-\${server\}/root.uloop}|" \
		-e "s|^set extra .*|set extra $VM_APPEND_BASE ${4:-}|" \
		"$pxe_conf/pxe/uloop.ipxe" >"$2"
	chmod a+r "$2"
}

pxe_netns() {
	ip netns add "$1" || fail "ip netns add $1"
	on_exit "ip netns del $1"
	for _c in "ip link set lo up" "ip link add br0 type bridge" \
		"ip addr add 10.9.0.1/24 dev br0" "ip tuntap add dev tap0 mode tap" \
		"ip link set tap0 master br0" "ip link set tap0 up" "ip link set br0 up"; do
		# shellcheck disable=SC2086
		ip netns exec "$1" $_c || fail "namespace $1: $_c failed"
	done
}

pxe_dnsmasq() {
	_ns=$1 _n=$2
	shift 2
	ip netns exec "$_ns" dnsmasq --pid-file="$T/$_n.pid" --user=root --log-facility="$T/$_n.log" "$@" ||
		fail "dnsmasq ($_n) did not start: $(cat "$T/$_n.log" 2>/dev/null)"
	on_exit "kill \$(cat $T/$_n.pid 2>/dev/null) 2>/dev/null"
}

pxe_origin() {
	sed -e "s|listen 80;|listen 10.9.0.1:80;|; s|root /srv/uloop;|root $2;|" \
		"$pxe_conf/nginx/uloop-origin.conf" >"$T/origin.conf"
	nginx_with_site origin "$T/origin.conf" ip netns exec "$1"
}

pxe_netns_boots() {
	_pn_ns=$1 _pn_n=$2
	shift 2
	pxe_origin "$_pn_ns" "$T/www"
	VM_WRAP="ip netns exec $_pn_ns" VM_NETDEV=$pxe_netdev VM_PXE=x:x \
		pxe_boots "$_pn_n" "$origin_log" "$@"
}

# (Its variables are its own: vm_boot's are _name, _log...)
pxe_boots() {
	_pb_n=$1 _pb_log=$2
	shift 2
	rm -f "$T/flash"
	truncate -s 256M "$T/flash"
	for _pb_b in cold warm; do
		: >"$_pb_log"
		_pb_s=$(date +%s)
		vm_boot "$_pb_n-$_pb_b" "" "$T/flash" ||
			{ tail -n 30 "$T/$_pb_n-$_pb_b.log"; cat "$_pb_log"; fail "$_pb_n $_pb_b: the boot failed"; }
		for _pb_w in "$@"; do
			grep -q "$_pb_w" "$T/$_pb_n-$_pb_b.log" ||
				{ tail -n 30 "$T/$_pb_n-$_pb_b.log"; fail "$_pb_n $_pb_b: no '$_pb_w'"; }
		done
		[ "${PXE_KERNEL_BY:-http}" = tftp ] ||
			{ grep -q ' /boot/vmlinuz ' "$_pb_log" && grep -q ' /boot/initrd.img ' "$_pb_log"; } ||
			fail "$_pb_n $_pb_b: kernel and initramfs not fetched over HTTP: $(cat "$_pb_log")"
		echo "$_pb_n $_pb_b: $(( $(date +%s) - _pb_s )) s, nginx sent $(body_bytes "$_pb_log") bytes in $(wc -l <"$_pb_log") requests"
	done
	grep -v ' /boot/' "$_pb_log" >"$T/warm-image.log" || :
	[ -z "$(image_fetches "$T/warm-image.log" | grep ' /root-1\.img ')" ] ||
		fail "$_pb_n: the warm boot fetched image bytes: $(cat "$T/warm-image.log")"
}
