#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# DKMS for real, on Debian 13:
#  1. `make install` puts uloop.ko's source under /usr/src/uloop-VERSION
#     with a dkms.conf that carries the Makefile's version;
#  2. in a Debian 13 root (an overlay over tests/kmod/trixie-root.sh's,
#     which stays as it was) that source is installed the same way and
#     tools/dkms-install.sh, what `make install` runs, registers it with
#     Debian 13's dkms and builds and installs it for every kernel there
#     with headers: 6.12 (the guests') and the newest backport (7.x); each
#     uloop.ko is under updates/dkms, made for its kernel; run again (a
#     reinstall of the same version) it rebuilds rather than fails;
#     Debian 12's dkms builds it for the 6.1 guests' headers;
#  3. a 6.12 guest boots root=uloop: from an initramfs that
#     uloop-mkinitramfs made from the kernel's module tree holding the
#     module DKMS built, found like any module (no --uloop-ko): uloop.ko
#     is loaded, auto picks it and the root's files read right;
#  4. dracut (--add uloop) takes the DKMS-built module from that tree too.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs unshare chroot
VM_KSERIES=trixie
vm_kernel
TR=$("$top/tests/kmod/trixie-root.sh") || exit $?
kvers=$("$top/tests/kmod/trixie-root.sh" --kvers)
ver=$(sed -n 's/^VERSION := *//p' "$top/Makefile")
[ -n "$ver" ] || fail "no VERSION in the Makefile"

# 1. The source where DKMS looks.
make -s -C "$top" install DESTDIR="$T/inst" PREFIX=/usr DKMS=no >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; fail "make install failed"; }
S=$T/inst/usr/src/uloop-$ver
for f in dkms.conf Kbuild Makefile compat.h uloop_blk.c uloop_dev.h include/uapi/linux/uloop.h; do
	[ -s "$S/$f" ] || fail "make install did not put $f in /usr/src/uloop-$ver"
done
grep -qx "PACKAGE_VERSION=\"$ver\"" "$S/dkms.conf" ||
	fail "dkms.conf does not carry version $ver: $(grep PACKAGE_VERSION "$S/dkms.conf")"
echo "ok: make install: /usr/src/uloop-$ver with dkms.conf version $ver"

# 2. DKMS in a Debian 13 root, twice (the second time: a reinstall).
mkdir -p "$T/ov/up" "$T/ov/work" "$T/ov/m"
dkms_run() {	# dkms_run LOG: install the source, run tools/dkms-install.sh
	# shellcheck disable=SC2016
	unshare -m sh -c '
		set -e
		mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/up,workdir=$2/work" "$2/m"
		mount -t proc proc "$2/m/proc"
		rm -rf "$2/m/usr/src/uloop-$5"
		cp -a "$3" "$2/m/usr/src/"
		cp "$4" "$2/m/tmp/dkms-install.sh"
		chroot "$2/m" sh /tmp/dkms-install.sh "$5"
		chroot "$2/m" dkms status uloop
	' sh "$TR" "$T/ov" "$S" "$top/tools/dkms-install.sh" "$ver" >"$1" 2>&1
}
for run in 1 2; do
	dkms_run "$T/dkms$run.log" || { cat "$T/dkms$run.log"; fail "dkms-install.sh (run $run) failed"; }
	for k in $kvers; do
		grep -q "^uloop/$ver, $k, x86_64: installed" "$T/dkms$run.log" ||
			{ cat "$T/dkms$run.log"; fail "run $run: dkms status does not say uloop/$ver is installed for $k"; }
	done
done
cat "$T/dkms2.log"
for k in $kvers; do
	ko=$(find "$T/ov/up/usr/lib/modules/$k/updates/dkms" -name 'uloop.ko*' 2>/dev/null | head -n 1)
	[ -n "$ko" ] || fail "no uloop.ko under /lib/modules/$k/updates/dkms"
	modinfo -F vermagic "$ko" | grep -q "^$k " ||
		fail "$ko is made for $(modinfo -F vermagic "$ko"), not $k"
	echo "ok: DKMS built and installed $(basename "$ko") for $k"
done

# 2b. Debian 12's dkms on this machine for its 6.1 guests' headers, into
# trees of the test's own (--dkmstree, --sourcetree, --installtree): the
# machine's DKMS state and /lib/modules stay as they were (but for the
# signing key dkms makes once, as any first `dkms install` does).
k61=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -n 1)
if command -v dkms >/dev/null 2>&1 && [ -e "/lib/modules/$k61/build/Makefile" ]; then
	mkdir -p "$T/d61/tree" "$T/d61/inst/$k61"
	d61() { dkms --dkmstree "$T/d61/tree" --sourcetree "$T/inst/usr/src" \
		--installtree "$T/d61/inst" --no-depmod "$@"; }
	d61 install "uloop/$ver" -k "$k61" >"$T/d61.log" 2>&1 ||
		{ cat "$T/d61.log"; fail "dkms install uloop/$ver -k $k61 failed"; }
	d61 status uloop | grep -q "^uloop/$ver, $k61, x86_64: installed" ||
		{ d61 status uloop; fail "dkms status does not say uloop/$ver is installed for $k61"; }
	modinfo -F vermagic "$T/d61/inst/$k61/updates/dkms/uloop.ko" | grep -q "^$k61 " ||
		fail "DKMS's uloop.ko for $k61 is not made for it"
	echo "ok: DKMS (Debian 12) built and installed uloop.ko for $k61"
else
	fail "requires dkms and linux-headers-$k61 (tests/install-deps.sh)"
fi

# 3. The guests' kernel's module tree with the module DKMS installed (the
# kernel's own modules linked, not copied), as a Debian 13 machine has it.
ko=$(find "$T/ov/up/usr/lib/modules/$KVER/updates/dkms" -name 'uloop.ko*' | head -n 1)
[ -n "$ko" ] || fail "no uloop.ko for the guests' kernel $KVER"
KR=$T/kroot
mkdir -p "$KR/lib/modules"
cp -rs "$KROOT/lib/modules/$KVER" "$KR/lib/modules/"
mkdir -p "$KR/lib/modules/$KVER/updates/dkms"
cp "$ko" "$KR/lib/modules/$KVER/updates/dkms/"
depmod -b "$KR" "$KVER" || fail "depmod of the tree with the DKMS module failed"

R=$T/root
vm_busybox_root "$R" data
cp -r /usr/share/doc/g* "$R/data/" 2>/dev/null
( cd "$R/data" && find . -type f | sort | xargs sha256sum ) >"$R/expected"
vm_root_init "$R/sbin/init" <<'INIT'
grep -q "^/dev/uloop0 /run/uloop/lower " /proc/mounts && echo "ROOT ON ULOOP0"
(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
grep -q "^uloop " /proc/modules && echo "ULOOP.KO LOADED"
INIT
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
"$top/initramfs/uloop-mkinitramfs" --kver "$KVER" --kmoddir "$KR/lib/modules/$KVER" \
	--output "$T/initrd" >"$T/mkinitramfs.log" 2>&1 || { cat "$T/mkinitramfs.log"; fail "uloop-mkinitramfs failed"; }
if grep -q "uloop.ko is not built" "$T/mkinitramfs.log"; then
	cat "$T/mkinitramfs.log"
	fail "uloop-mkinitramfs did not find the module DKMS installed"
fi
zstd -dc "$T/initrd" 2>/dev/null | cpio -t --quiet 2>/dev/null | grep -q "updates/dkms/$(basename "$ko")$" ||
	gzip -dc "$T/initrd" 2>/dev/null | cpio -t --quiet 2>/dev/null | grep -q "updates/dkms/$(basename "$ko")$" ||
	fail "the initramfs has no updates/dkms/$(basename "$ko")"
echo "ok: uloop-mkinitramfs took updates/dkms/$(basename "$ko") from the kernel's module tree"
truncate -s 64M "$T/flash"
vm_boot dkms "$T/initrd" "$T/flash" "root=uloop:http://10.0.2.100/root.sqfs rd.uloop.cache=/dev/vda" ||
	{ tail -n 30 "$T/dkms.log"; fail "the boot with the DKMS module failed"; }
vm_expect boot "$T/dkms.log" "ULOOP.KO LOADED" "ROOT ON ULOOP0" "ROOT FILES OK" ||
	{ tail -n 30 "$T/dkms.log"; fail "the DKMS module did not serve the root"; }

# 4. dracut's module takes it from the same tree.
if command -v dracut >/dev/null 2>&1 && command -v lsinitrd >/dev/null 2>&1; then
	. "$top/tests/vm/distro-lib.sh"
	kroot_guest=$KROOT
	KROOT=$KR
	distro_dracut "$T/dracut.img" "base"
	KROOT=$kroot_guest
	lsinitrd "$T/dracut.img" 2>/dev/null | grep -q "updates/dkms/uloop.ko" ||
		fail "dracut --add uloop left out the module DKMS installed"
	echo "ok: dracut --add uloop took updates/dkms/$(basename "$ko")"
else
	echo "requires dracut for the last check"
	exit 77
fi
echo "DKMS: make install's source built by dkms for $kvers, a 6.12 boot on it: ok"
