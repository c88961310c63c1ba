#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The boot library's steps (initramfs/lib/boot.sh: cache, attach, image,
# writable layer, union), as all three initramfs flavours run them, on
# the host: each boot in a mount namespace of its own with a tmpfs on
# /run, real loop devices (a squashfs image, an ext4 "flash", a
# write-protected one) and real mounts; only `uloop attach` is a
# stand-in, which hands out the squashfs's loop device (or fails as uloop
# does: a cache it refuses, a 404).  Checked: the RAM cache; a cache file
# on the flash (SPEC:/path); a refused, a missing and a write-protected
# cache give way to RAM with one warning; LABEL= finds the flash; the attach failures and a
# wrong fstype end in one line naming the parameter; a persistent layer
# SPEC:/path keeps the root's writes on the flash, rd.live.overlay.readonly
# shows them without adding to them, rd.live.overlay.reset empties them;
# rd.uloop.overlay=none is the image read-only; aufs where the kernel has
# none is refused.
. "$(dirname "$0")/functions.sh"
requires_root
requires unshare mksquashfs mkfs.ext4 losetup
mkdir -p "$T/img/etc" "$T/fake" "$T/root"
echo "hello from the image" >"$T/img/etc/hello"
mksquashfs "$T/img" "$T/img.sq" -quiet -noappend >/dev/null
truncate -s 32M "$T/flash" "$T/wp"
label=ubl$$
mkfs.ext4 -q -F -L "$label" "$T/flash"
mkfs.ext4 -q -F "$T/wp"
img=$(losetup -f --show -r "$T/img.sq")
on_exit "losetup -d $img"
flash=$(losetup -f --show "$T/flash")
on_exit "losetup -d $flash"
wp=$(losetup -f --show -r "$T/wp")
on_exit "losetup -d $wp"

# uloop attach's stand-in: $T/mode says how it ends.
# (info: no cache yet; status: the state it wrote, as uloop's.)
cat >"$T/fake/uloop" <<F
#!/bin/sh
case \$1 in
info) exit 1 ;;
status) cat /run/uloop/0.json; exit 0 ;;
esac
printf '%s\n' "\$@" >"$T/args"
case \$(cat "$T/mode") in
refuse) case "\$*" in *"--cache /run/uloop/flash"*)
		echo "uloop: a note before the error" >&2
		echo "uloop: cache /run/uloop/flash/c: holds a filesystem (ext4)" >&2; exit 1 ;; esac ;;
404) echo "uloop: \$2: server answered 404" >&2; exit 1 ;;
nbd) echo "uloop: /dev/nbd0: cannot open: No such device" >&2; exit 1 ;;
esac
echo "uloop: mirror http://m/r not used: another image" >&2
echo '{"pid":4242}' >/run/uloop/0.json
echo $img
F
chmod +x "$T/fake/uloop"

# boot MODE CMDLINE: the steps in a namespace of their own; their lines
# (say/warn/fail), then the state: the cache path, the mounts under
# /run/uloop and the root, and the image's file as the root shows it.
boot() {
	echo "$1" >"$T/mode"
	printf '%s\n' "$2" >"$T/cmdline"
	PATH=$T/fake:$PATH unshare -m --propagation private sh -c '
		top=$1 T=$2
		mount -t tmpfs tmpfs /run
		. "$top/initramfs/lib/dev.sh"
		. "$top/initramfs/lib/cmdline.sh"
		. "$top/initramfs/lib/boot.sh"
		uloop_say() { echo "say: $*"; }
		uloop_warn() { echo "warn: $*"; }
		uloop_fail() { echo "fail: $*"; }
		uloop_parse "$T/cmdline"
		e=$(uloop_check) || { echo "fail: $e"; exit 0; }
		uloop_prepare_cache && uloop_attach_root && uloop_mount_image &&
			uloop_mount_layer && uloop_mount_root "$T/root" || exit 0
		echo "cachepath: $ULOOP_CACHEPATH"
		awk -v r="$T/root" "\$2 == r || \$2 ~ /^\/run\/uloop\// { print \"mount:\", \$2, \$3 }" /proc/mounts
		echo "root: $(cat "$T/root/etc/hello")"
		if [ -n "$WRITE" ]; then echo "$WRITE" >"$T/root/etc/written" || echo "write failed"; fi
		[ -f "$T/root/etc/written" ] && echo "root has: $(cat "$T/root/etc/written")"
		[ -x /run/uloop/bin/uloop ] && echo "binary kept"
		exit 0
	' sh "$top" "$T" >"$T/out" 2>&1 || fail "boot [$2]: $(cat "$T/out")"
}
has() {	# has LINE...: each line is in the output, whole
	for _l in "$@"; do
		grep -qxF -e "$_l" "$T/out" || fail "[$(cat "$T/cmdline")]: no line '$_l' in:
$(cat "$T/out")"
	done
}
hasnt() { ! grep -q -e "$1" "$T/out" || fail "[$(cat "$T/cmdline")]: '$1' in: $(cat "$T/out")"; }
U=root=uloop:http://h/r.sq

boot ok "$U"
has "say: mirror http://m/r not used: another image" "say: root image on $img, daemon pid 4242" \
	"cachepath: /run/uloop/ram/cache" "mount: /run/uloop/ram tmpfs" "mount: /run/uloop/lower squashfs" \
	"mount: /run/uloop/rw tmpfs" "mount: $T/root overlay" "root: hello from the image" "binary kept"
grep -qx -- "--cache" "$T/args" && sed -n '/^--cache$/{n;p;}' "$T/args" | grep -qx /run/uloop/ram/cache ||
	fail "the RAM cache was not uloop's --cache: $(cat "$T/args")"
hasnt "^warn:"
echo "default: a RAM cache, the image under a RAM layer, uloop's notes and the daemon line"

boot ok "$U rd.uloop.cache=$flash:/var/c"
has "cachepath: /run/uloop/flash/var/c" "mount: /run/uloop/flash ext4" "root: hello from the image"
sed -n '/^--cache$/{n;p;}' "$T/args" | grep -qx /run/uloop/flash/var/c || fail "--cache was not the file: $(cat "$T/args")"
echo "rd.uloop.cache=DEV:/path: the cache is that file in the flash's filesystem"

boot ok "$U rd.uloop.cache=LABEL=$label:/c"
has "cachepath: /run/uloop/flash/c" "mount: /run/uloop/flash ext4"
boot ok "$U rd.uloop.cache=LABEL=$label-none:/c"
has "warn: rd.uloop.cache=LABEL=$label-none:/c: no such device after 10 s; booting with a cache in RAM (nothing persists)" \
	"cachepath: /run/uloop/ram/cache"
echo "rd.uloop.cache=LABEL=: found by its label; a missing one: one warning, then RAM"

boot refuse "$U rd.uloop.cache=$flash:/c"
has "warn: rd.uloop.cache=$flash:/c: cache /run/uloop/flash/c: holds a filesystem (ext4); booting with a cache in RAM (nothing persists)" \
	"cachepath: /run/uloop/ram/cache" "root: hello from the image"
echo "a cache uloop refuses: one warning, then RAM"

boot ok "$U rd.uloop.cache=$wp"
has "warn: rd.uloop.cache=$wp: $wp is read-only (write-protected?); booting with a cache in RAM (nothing persists)" \
	"cachepath: /run/uloop/ram/cache"
echo "a write-protected flash: one warning, then RAM"

boot 404 "$U"
has "fail: root=uloop:http://h/r.sq: server answered 404"
hasnt "^mount:"
boot nbd "$U"
has "fail: root=uloop:http://h/r.sq: /dev/nbd0: cannot open: No such device"
echo "attach failures: one line naming the URL"

boot ok "$U rd.uloop.fstype=erofs"
grep -qx "fail: rd.uloop.fstype=erofs: cannot mount $img: .* (not squashfs, erofs or ext4?)" "$T/out" ||
	fail "fstype=erofs: $(cat "$T/out")"
echo "a wrong fstype: one line naming it"

WRITE="boot one" boot ok "$U rd.uloop.overlay=$flash:/layer"
has "mount: /run/uloop/rw ext4" "root has: boot one"
export WRITE
WRITE="boot two" boot ok "$U rd.uloop.overlay=$flash:/layer rd.live.overlay.readonly"
has "mount: /run/uloop/ro ext4" "mount: /run/uloop/rw tmpfs" "root has: boot two"
WRITE="" boot ok "$U rd.uloop.overlay=$flash:/layer"
has "root has: boot one"
echo "rd.uloop.overlay=DEV:/path keeps the root's writes; rd.live.overlay.readonly shows them, keeps none"
WRITE="" boot ok "$U rd.uloop.overlay=$flash:/layer rd.live.overlay.reset"
has "say: rd.live.overlay.reset: emptying the writable layer on $flash"
hasnt "root has:"
WRITE="" boot ok "$U rd.uloop.overlay=$flash:/fresh rd.live.overlay.readonly"
has "fail: rd.live.overlay.readonly: rd.uloop.overlay=$flash:/fresh: no /fresh in $flash (boot it writable once)"
mkdir "$T/mnt"
mount "$flash" "$T/mnt" && mkdir "$T/mnt/empty" && umount "$T/mnt" || fail "cannot make /empty on the flash"
WRITE="" boot ok "$U rd.uloop.overlay=$flash:/empty rd.live.overlay.readonly"
has "fail: rd.live.overlay.readonly: rd.uloop.overlay=$flash:/empty has no upper/ yet (boot it writable once)"
echo "rd.live.overlay.reset empties the layer; readonly refuses a layer never used"

WRITE="x" boot ok "$U rd.uloop.overlay=none"
has "mount: $T/root squashfs" "root: hello from the image" "write failed"
echo "rd.uloop.overlay=none: the image read-only"

if ! grep -qw aufs /proc/filesystems && ! modprobe -q aufs 2>/dev/null; then
	WRITE="" boot ok "$U rd.uloop.union=aufs"
	has "fail: rd.uloop.union=aufs: this kernel has no aufs (use rd.uloop.union=overlay)"
	echo "rd.uloop.union=aufs without aufs: one line"
fi
