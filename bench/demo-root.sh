# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# demo-root.sh - the demo root image, shared by demo.sh and boot.sh:
# busybox plus /usr/share/doc and /usr/share/man of this machine, as
# squashfs, built once into build/demo.  Its /sbin/init does what a boot
# does to a root (reads a few hundred files), prints the guest's uptime when
# it starts and when it is done, and the bytes it read, then powers off.
# For bench/boot.sh, on request on the kernel command line: demo.profile
# prints the boot profile the daemon took (uloop profile --times: the read
# trace, with when each extent was first read; between
# DEMO-PROFILE-BEGIN and -END), demo.hydrated waits until the daemon says
# the cache is complete (DEMO-HYDRATED and the uptime).  The initramfs's
# static uloop is /run/initramfs/shutdown in every flavour.
# Sets $img, and serves it as http://10.0.2.100/root.squashfs from nginx
# on 127.0.0.1 (VM_HTTP_PORT; the requests are logged in $demo_log).

d=$ULOOP_TOP/build/demo
img=$d/root-v6.squashfs
mkdir -p "$d"
if [ ! -s "$img" ]; then
	echo "demo: building the root image (once) into $img"
	R=$T/root
	vm_busybox_root "$R" etc usr/share
	cp -r /usr/share/doc /usr/share/man "$R/usr/share/" 2>/dev/null || true
	vm_root_init "$R/sbin/init" <<'INIT'
up=$(cut -d' ' -f1 /proc/uptime)
echo "DEMO-ROOT-INIT $up"
# What a boot reads: a few hundred files of the root.
find /usr/share/doc -name copyright | head -n 400 | xargs cat >/dev/null 2>&1
echo "DEMO-BOOTED $(cut -d' ' -f1 /proc/uptime)"
# Bytes the kernel read from the root's device, whichever it is.
for dev in uloop0 nbd0 vda loop0; do
	[ -r /sys/block/$dev/stat ] && [ "$(awk '{ print $3 }' /sys/block/$dev/stat)" -gt 0 ] &&
		echo "DEMO-READ $(awk '{ print $3 * 512 }' /sys/block/$dev/stat)" && break
done
[ -x /run/initramfs/shutdown ] && ln -s /run/initramfs/shutdown /tmp/uloop
if grep -q demo.profile /proc/cmdline; then
	echo DEMO-PROFILE-BEGIN
	/tmp/uloop profile --times "/dev/$dev"
	echo DEMO-PROFILE-END
fi
if grep -q demo.hydrated /proc/cmdline; then
	n=0
	until /tmp/uloop status "/dev/$dev" --json | grep -q '"fill":"done"'; do
		n=$((n + 1))
		[ $n -lt 900 ] || { echo "DEMO-HYDRATE-TIMEOUT"; break; }
		sleep 1
	done
	echo "DEMO-HYDRATED $(cut -d' ' -f1 /proc/uptime)"
fi
INIT
	mksquashfs "$R" "$img.tmp" -no-progress -quiet -all-root -comp zstd >/dev/null
	mv "$img.tmp" "$img"
fi
mkdir -p "$T/www"
ln -s "$img" "$T/www/root.squashfs"
start_nginx demo "$T/www"
VM_HTTP_PORT=$demo_http
