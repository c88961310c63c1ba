#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: T3
# The initramfs's environment at its worst (T3): a root over https whose
# certificates can only be checked against the node's clock.
#
#  - the clock in 1970 (no RTC, a flat battery): uloop refuses https up
#    front, with one line saying the clock is before uloop was built; the
#    root is not mounted;
#  - the clock in 2068: the certificate is expired by it; the line says so
#    and names the clock; the root is not mounted;
#  - TLS is never turned off for it: nothing is fetched in either case;
#  - no entropy source but the CPU's jitter (no RDRAND, no virtio-rng): the
#    same boot with the right clock reaches the root;
#  - the right clock (control): the same initramfs and server boot.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
# A boot that fails ends within seconds: a hang is a failure, not a wait.
VM_TIMEOUT=${VM_TIMEOUT:-150}
vm_kernel

R=$T/root
vm_busybox_root "$R"
vm_root_init "$R/sbin/init" <<'INIT'
echo "ROOT-INIT-REACHED"
INIT
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
make_ca "$T/pki"
make_cert "$T/pki" node "IP:10.0.2.100"
start_nginx web "$T/www" "$T/pki/node.pem" "$T/pki/node.key"
VM_HTTP_PORT=$web_http
VM_HTTPS_PORT=$web_https
vm_uloop_initrd "$T/initrd" --ca "$T/pki/ca.pem"
APPEND="root=uloop:https://10.0.2.100/root.sqfs ip=dhcp"

boot() {	# boot NAME [QEMU-OPTIONS]: the https boot; 0 if the root ran
	: >"$web_log"
	VM_QEMU_PRE=${2:-}
	vm_boot "$1" "$T/initrd" "" "$APPEND" >/dev/null 2>&1 || true
	VM_QEMU_PRE=""
	grep -q ROOT-INIT-REACHED "$T/$1.log"
}

refused() {	# refused NAME LINE: no root, LINE on the console, no image byte
	! grep -q ROOT-INIT-REACHED "$T/$1.log" || fail "$1: the root ran"
	grep -q "$2" "$T/$1.log" || { grep -a uloop "$T/$1.log" | tail -n 8; fail "$1: no line '$2'"; }
	[ -z "$(image_fetches "$web_log")" ] || fail "$1: image bytes were fetched: $(cat "$web_log")"
	echo "$1: $(grep -a -o "$2.*" "$T/$1.log" | head -n 1 | cut -c1-160)"
}

boot past "-rtc base=1970-01-01T00:00:00" || true
refused past "the clock here says 1970-01-01 [0-9:]* UTC, more than a year before this uloop was built"
boot future "-rtc base=2068-06-01T00:00:00" || true
refused future "server certificate rejected: expired, by the clock here (20[0-9-]* [0-9:]* UTC"

s=$(date +%s)
cpu=$VM_CPU
VM_CPU=qemu64
boot noentropy || { tail -n 20 "$T/noentropy.log"; fail "no boot without RDRAND"; }
VM_CPU=$cpu
echo "no RDRAND, no virtio-rng: the https root reached in $(( $(date +%s) - s )) s"
boot right || { tail -n 20 "$T/right.log"; fail "the control boot (right clock) failed"; }
echo "the right clock: the same initramfs and server boot"
