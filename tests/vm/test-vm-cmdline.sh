#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2
# A malformed kernel command line gets one clear console line naming the
# parameter and the cause, then a reboot (rd.uloop.reboot_delay=0 here, so
# the guest stops at once; rd.shell would give a shell), never a silent
# hang: the root's init never runs.  A cache that cannot be found, and an
# unknown rd.uloop.* word, are warnings: the node boots (with its cache in
# RAM).
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

R=$T/root
vm_busybox_root "$R"
printf '#!/bin/sh\necho "ROOT-INIT-REACHED"\necho "ULOOP-VM-RESULT 0"\n/bin/busybox poweroff -f\n' >"$R/sbin/init"
chmod +x "$R/sbin/init"
ln -s /nowhere/init "$R/sbin/dangling"
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
vm_uloop_initrd "$T/initrd"
U=uloop:http://10.0.2.100/root.sqfs

# NAME|APPEND|EXPECTED LINE (fixed string)
cat >"$T/cases" <<CASES
nourl|ip=dhcp rd.uloop.reboot_delay=0|uloop: root=: no uloop:URL given
scheme|root=uloop:ftp://10.0.2.100/x rd.uloop.reboot_delay=0|uloop: root=uloop:ftp://10.0.2.100/x: not an http:// or https:// URL
overlay|root=$U rd.uloop.overlay=bogus rd.uloop.reboot_delay=0|uloop: rd.uloop.overlay=bogus: not tmpfs[:size=N], none
union|root=$U rd.uloop.union=zfs rd.uloop.reboot_delay=0|uloop: rd.uloop.union=zfs: not overlay or aufs
aufs|root=$U rd.uloop.union=aufs rd.uloop.reboot_delay=0|uloop: rd.uloop.union=aufs: this kernel has no aufs
fstype|root=$U rd.uloop.fstype=ext4 rd.uloop.reboot_delay=0|uloop: rd.uloop.fstype=ext4: cannot mount /dev/nbd0: Invalid argument
missing|root=uloop:http://10.0.2.100/nope.sqfs rd.uloop.pin=sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= rd.uloop.reboot_delay=0|uloop: root=uloop:http://10.0.2.100/nope.sqfs: server answered 404
empty|root=$U rd.uloop.cache= rd.uloop.reboot_delay=0|uloop: rd.uloop.cache=: empty value
label|root=$U rd.uloop.cache=LABEL=nosuchlabel|uloop: warning: rd.uloop.cache=LABEL=nosuchlabel: no such device after 10 s; booting with a cache in RAM (nothing persists)
typo|root=$U rd.uloop.cahce=/dev/vda rd.uloop.reboot_delay=0|uloop: warning: rd.uloop.cahce=/dev/vda: unknown parameter, ignored
cachespec|root=$U rd.uloop.cache=flash rd.uloop.reboot_delay=0|uloop: rd.uloop.cache=flash: not LABEL=, UUID=, PARTUUID=, PARTLABEL= or /dev/x[:/path]
ipjunk|root=$U ip=foo rd.uloop.reboot_delay=0|uloop: ip=foo: not dhcp, DEV:dhcp, off, or CLIENT:SERVER:GW:MASK:HOST:DEV:AUTOCONF
ipaddr|root=$U ip=10.0.2.x::::::none rd.uloop.reboot_delay=0|uloop: ip=10.0.2.x::::::none: '10.0.2.x' is not an IPv4 address
ipdhcp6|root=$U ip=dhcp6 rd.uloop.reboot_delay=0|uloop: ip=dhcp6: not supported (dhcp, or a static address)
ipoff|root=$U ip=off rd.uloop.reboot_delay=0|uloop: ip=off: no network, and rd.uloop.offline=1 is not set
ipdev|root=$U ip=eth7:dhcp rd.uloop.reboot_delay=0|uloop: ip=eth7:dhcp: no interface eth7
bootif|root=$U BOOTIF=52:54:00:12:34:56 rd.uloop.reboot_delay=0|uloop: BOOTIF=52:54:00:12:34:56: not 01-aa-bb-cc-dd-ee-ff
noinit|root=$U init=/sbin/nothere rd.uloop.reboot_delay=0|uloop: init=/sbin/nothere: not in the image
dangling|root=$U init=/sbin/dangling rd.uloop.reboot_delay=0|uloop: init=/sbin/dangling: a dangling symlink in the image (to /nowhere/init)
relinit|root=$U init=sbin/init rd.uloop.reboot_delay=0|uloop: init=sbin/init: not an absolute path
pin|root=$U rd.uloop.pin=junk rd.uloop.reboot_delay=0|uloop: rd.uloop.pin=junk: not sha256//BASE64
CASES
# One case with the default delay: it must say it reboots.
echo "delay|root=uloop:ftp://x|uloop: rebooting in 30 s (rd.shell gives a shell instead)" >>"$T/cases"
# Four guests at a time (tokens in a FIFO): more only slows each down.
mkfifo "$T/slots"
exec 4<>"$T/slots"
for _ in 1 2 3 4; do echo >&4; done
while IFS='|' read -r name append want; do
	read -r _ <&4
	( VM_TIMEOUT=120 vm_boot "c-$name" "$T/initrd" "" "$append" >/dev/null 2>&1 || true
	  echo >&4 ) &
done <"$T/cases"
wait
n=0
while IFS='|' read -r name append want; do
	grep -qF "$want" "$T/c-$name.log" ||
		{ tail -n 15 "$T/c-$name.log"; fail "$name: no line '$want'"; }
	n=$((n + 1))
	echo "ok: $name: $(grep -F "$want" "$T/c-$name.log" | head -n 1)"
done <"$T/cases"
# The warnings boot on; every other case stopped the boot where it said
# so: no root init ran, and the reboot was announced.
while IFS='|' read -r name append want; do
	case $name in
	label|typo)
		grep -q ROOT-INIT-REACHED "$T/c-$name.log" || fail "$name: a warning stopped the boot" ;;
	*)
		! grep -q ROOT-INIT-REACHED "$T/c-$name.log" || fail "$name: the root's init ran after '$want'"
		case $name in delay) d=30 ;; *) d=0 ;; esac
		grep -qF "uloop: rebooting in $d s (rd.shell gives a shell instead)" "$T/c-$name.log" ||
			fail "$name: no reboot announced after '$want'" ;;
	esac
done <"$T/cases"
echo "$n command lines: clear messages"
