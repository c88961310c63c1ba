#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A malformed kernel command line gets one clear console line naming the
# parameter and the cause, then a reboot (rd.uloop.reboot_delay=0 here, so
# the guest stops at once; rd.shell would give a shell), never a silent
# hang.  A cache
# that cannot be found is a warning: the node boots from the network.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
vm_kernel

R=$T/root
vm_busybox_root "$R"
printf '#!/bin/sh\necho "ROOT-INIT-REACHED"\necho "ULOOP-VM-RESULT 0"\n/bin/busybox poweroff -f\n' >"$R/sbin/init"
chmod +x "$R/sbin/init"
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
missing|root=uloop:http://10.0.2.100/nope.sqfs rd.uloop.reboot_delay=0|uloop: root=uloop:http://10.0.2.100/nope.sqfs: http://10.0.2.100/nope.sqfs: server answered 404
label|root=$U rd.uloop.cache=LABEL=nosuchlabel|uloop: warning: rd.uloop.cache=LABEL=nosuchlabel: no such device; booting without a cache
CASES
# One case with the default delay: it must say it reboots.
echo "delay|root=uloop:ftp://x|uloop: rebooting in 30 s (rd.shell gives a shell instead)" >>"$T/cases"
while IFS='|' read -r name append want; do
	( VM_TIMEOUT=120 vm_boot "c-$name" "$T/initrd" "" "$append" >/dev/null 2>&1 || true ) &
done <"$T/cases"
wait
n=0
while IFS='|' read -r name append want; do
	grep -qF "$want" "$T/c-$name.log" ||
		{ tail -n 15 "$T/c-$name.log"; fail "$name: no line '$want'"; }
	n=$((n + 1))
	echo "ok: $name: $(grep -F "$want" "$T/c-$name.log" | head -n 1)"
done <"$T/cases"
grep -q ROOT-INIT-REACHED "$T/c-label.log" || fail "a missing cache device stopped the boot"
echo "$n command lines: clear messages"
