#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `make install` into a DESTDIR: the commands, the 2007 names, the library,
# the initramfs builder on the PATH next to its /init and lib, the hooks
# told where those are; the
# installed builder makes an image holding /init, its lib, busybox and the
# static uloop, and the same image twice (reproducible).
. "$(dirname "$0")/functions.sh"
requires cpio zstd busybox depmod
[ -x "$top/build/static/uloop" ] || { echo "requires build/static/uloop (make static)"; exit 77; }
# Debian's kernel and its modules (fetched once into the dependency cache,
# shared with the VM tests): on a fresh machine this test fetches them.
. "$top/tests/vm/lib.sh"
vm_kernel
kroot=$KROOT
kver=$(ls "$kroot/lib/modules" | head -n 1)

make -s -C "$top" install DESTDIR="$T/inst" PREFIX=/usr >/dev/null || fail "make install failed"
for f in usr/bin/uloop usr/bin/ulohttp usr/bin/ulobdev usr/lib/libuloop.a \
	usr/include/uloop/libuloop.h usr/lib/uloop/uloop.static usr/sbin/uloop-mkinitramfs \
	usr/lib/uloop/initramfs/init usr/lib/uloop/initramfs/lib/net.sh usr/lib/uloop/initramfs/lib/dev.sh usr/lib/uloop/initramfs/lib/cmdline.sh usr/lib/uloop/initramfs/lib/boot.sh; do
	[ -e "$T/inst/$f" ] || fail "make install did not install /$f"
done
# The hooks look where this install put the static uloop and the boot library.
grep -qx "ULOOP_LIBDIR=/usr/lib" "$T/inst/usr/lib/dracut/modules.d/90uloop/module-setup.sh" &&
	grep -qx "libdir=/usr/lib" "$T/inst/usr/share/initramfs-tools/hooks/uloop" ||
	fail "make install did not write its LIBDIR into the dracut module and the initramfs-tools hook"
b=$T/inst/usr/sbin/uloop-mkinitramfs
"$b" --kver "$kver" --kmoddir "$kroot/lib/modules/$kver" --output "$T/a.img" >/dev/null ||
	fail "the installed uloop-mkinitramfs failed"
"$b" --kver "$kver" --kmoddir "$kroot/lib/modules/$kver" --output "$T/b.img" >/dev/null
cmp -s "$T/a.img" "$T/b.img" || fail "the same inputs gave different images"
zstd -dc "$T/a.img" | cpio -t --quiet >"$T/list"
for f in init lib/uloop/net.sh lib/uloop/dev.sh lib/uloop/cmdline.sh lib/uloop/boot.sh bin/busybox bin/uloop etc/uloop/udhcpc.sh etc/initrd-release; do
	grep -qx "$f" "$T/list" || fail "the image has no /$f"
done
rc=0; "$b" --kver "$kver" --kmoddir "$kroot/lib/modules/$kver" --output "$T/c.img" --uloop-ko /nonexistent.ko 2>"$T/err" || rc=$?
[ $rc -ne 0 ] && grep -q -- "--uloop-ko: /nonexistent.ko: not readable" "$T/err" || fail "a missing --uloop-ko was not refused clearly"
echo "install: $(find "$T/inst" -type f | wc -l) files; the installed builder makes $(stat -c %s "$T/a.img") bytes, reproducibly"
