#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly D2
# dracut --add uloop (network-legacy), what the plain boots of
# test-vm-dracut.sh do not reach: four boots of the Debian 12 root, the
# cache on the node's flash, the writable layer persistent on a second
# disk (rd.uloop.overlay=LABEL=uloop-rw), the root writing a file with
# its boot id there each boot.
#   1. root=dhcp: the image comes from the DHCP root-path
#      "uloop:http://...".  slirp has no root-path option, so the node
#      gets a second NIC whose only peer is dhcp-rootpath.py on 127.0.0.1
#      (it answers DHCP and nothing else); that NIC is the one the root
#      came through.  The layer is empty.
#   2. rd.live.overlay.readonly: boot 1's file is there; this boot's
#      writes go to RAM.  The root is one with dracut installed (its
#      shutdown service, put in place by /uloop-test/setup), and dracut's
#      shutdown asked for as another module would (need_shutdown): at
#      `systemctl poweroff` that service unpacks the image into
#      /run/initramfs, around uloop's own shutdown (cpio keeps that newer
#      file), which detaches the image, the cache committed.
#   3. the layer as it is: boot 1's file, not boot 2's.
#   4. rd.live.overlay.reset: the layer is emptied, no file.
# Boots 2-4 are warm: nothing fetched, shutdown included, and a clean
# poweroff through uloop's shutdown.
# Then rd.uloop.cache=LABEL=x:/path and rd.uloop.overlay=LABEL=x:/path
# (distro_paths), a cold boot: the files at their paths on the host (the
# warm boot over them is test-vm-initramfs-tools's, through the same boot
# library; the layer kept across boots, boots 1-4's).
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
requires_root
requires python3 mkfs.ext4
vm_kernel
distro_dracut "$T/initrd" "base udev-rules qemu network-legacy shutdown"

# The root as one with dracut installed (Fedora's, RHEL's): its shutdown
# service restores the image at poweroff (dracut-initramfs-restore finds
# it as /lib/modules/KVER/initrd; it needs cpio and, for this image, zstd).
S=$T/add/uloop-test/dracut
mkdir -p "$S"
cp /usr/lib/dracut/dracut-initramfs-restore /usr/lib/dracut/skipcpio \
	/lib/systemd/system/dracut-shutdown.service "$(command -v cpio)" "$(command -v zstd)" \
	"$T/initrd" "$S/" || fail "dracut's shutdown service is not on this machine"
cat >"$T/add/uloop-test/setup" <<'SETUP'
#!/bin/sh
d=/uloop-test/dracut
mkdir -p /usr/lib/dracut "/lib/modules/$(uname -r)"
cp "$d/dracut-initramfs-restore" "$d/skipcpio" /usr/lib/dracut/ &&
	cp "$d/cpio" "$d/zstd" /usr/bin/ &&
	cp "$d/initrd" "/lib/modules/$(uname -r)/initrd" &&
	cp "$d/dracut-shutdown.service" /etc/systemd/system/ &&
	: >/run/initramfs/.need_shutdown &&
	systemctl daemon-reload && systemctl start dracut-shutdown.service
SETUP
chmod +x "$T/add/uloop-test/setup"
distro_setup

truncate -s 64M "$T/rw"
mkfs.ext4 -q -L uloop-rw "$T/rw"
DISTRO_DISKS="$T/flash $T/rw"

python3 "$top/tests/vm/dhcp-rootpath.py" "uloop:$DISTRO_URL" >"$T/dhcp.port" 2>"$T/dhcp.log" &
dhcp=$!
on_exit "kill $dhcp"
i=0
until [ -s "$T/dhcp.port" ]; do
	if [ $i -ge 50 ] || ! kill -0 $dhcp 2>/dev/null; then
		cat "$T/dhcp.log"
		fail "dhcp-rootpath.py did not start"
	fi
	sleep 0.1
	i=$((i + 1))
done
port=$(cat "$T/dhcp.port")

# written NAME: what the root found in the layer ("" for nothing), and
# what it wrote.
found() { sed -n 's/.*ULOOP-DISTRO: FOUND WRITTEN \(w [0-9a-f-]*\).*/\1/p' "$T/$1.log"; }
wrote() { sed -n 's/.*ULOOP-DISTRO: OVERLAY WRITABLE: \(w [0-9a-f-]*\).*/\1/p' "$T/$1.log"; }
detached() {
	grep -aq "uloop: shutdown: /dev/[a-z0-9]* detached: cache committed" "$T/$1.log" ||
		{ grep -a -e uloop -e dracut "$T/$1.log" | tail -n 20; fail "$1: uloop's shutdown did not detach the image"; }
	! grep -a "uloop-shutdown.sh: " "$T/$1.log" || fail "$1: the shutdown hook's shell complained"
}

A="rd.uloop.cache=/dev/vda rd.uloop.overlay=LABEL=uloop-rw rd.shell=0"
VM_QEMU_PRE="-netdev dgram,id=dh,local.type=inet,local.host=127.0.0.1,local.port=0,remote.type=inet,remote.host=127.0.0.1,remote.port=$port -device virtio-net-pci,netdev=dh" \
	distro_boot dhcp-rootpath "$T/initrd" "root=dhcp ip=dhcp $A"
grep -q "DHCP ACK" "$T/dhcp.log" || fail "the node never took a lease from dhcp-rootpath.py"
grep -aq "uloop: root=uloop:$DISTRO_URL through eth0" "$T/dhcp-rootpath.log" ||
	{ grep -a uloop "$T/dhcp-rootpath.log"; fail "dhcp-rootpath: the root did not come through the DHCP root-path's NIC (eth0)"; }
grep -aq "ULOOP-DISTRO: NOTHING WRITTEN" "$T/dhcp-rootpath.log" || fail "dhcp-rootpath: the new layer was not empty"
w1=$(wrote dhcp-rootpath)
echo "dhcp-rootpath: ok: root-path uloop:$DISTRO_URL from DHCP on eth0; wrote '$w1' to the layer"

R="root=uloop:$DISTRO_URL ip=dhcp $A"
distro_boot overlay-readonly "$T/initrd" "$R rd.live.overlay.readonly" warm
[ "$(found overlay-readonly)" = "$w1" ] ||
	fail "overlay-readonly: found '$(found overlay-readonly)' in the layer, not boot 1's '$w1'"
detached overlay-readonly
echo "overlay-readonly: ok: found '$w1'; uloop's shutdown detached the image, dracut's unpacked around it"

distro_boot overlay-kept "$T/initrd" "$R" warm
[ "$(found overlay-kept)" = "$w1" ] ||
	fail "overlay-kept: found '$(found overlay-kept)', not boot 1's '$w1' (rd.live.overlay.readonly wrote to the layer?)"
detached overlay-kept
echo "overlay-kept: ok: found '$w1' again (boot 2's '$(wrote overlay-readonly)' stayed in RAM)"

distro_boot overlay-reset "$T/initrd" "$R rd.live.overlay.reset" warm
grep -aq "ULOOP-DISTRO: NOTHING WRITTEN" "$T/overlay-reset.log" ||
	fail "overlay-reset: found '$(found overlay-reset)' after rd.live.overlay.reset"
grep -aq "rd.live.overlay.reset: emptying the writable layer" "$T/overlay-reset.log" ||
	fail "overlay-reset: no line saying the layer was emptied"
detached overlay-reset
echo "overlay-reset: ok: the layer was emptied"

# SPEC:/path (distro_paths): the cache a file, the writable layer a
# directory, of one filesystem on another disk; a cold boot.
distro_paths dracut "$T/initrd" "root=uloop:$DISTRO_URL ip=dhcp rd.shell=0" cold
