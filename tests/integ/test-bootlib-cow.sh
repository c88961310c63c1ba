#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2
# rd.uloop.cow in the boot library (initramfs/lib/boot.sh), as the three
# initramfs flavours run its steps, on the host: each boot in a mount
# namespace of its own with a tmpfs on /run, real loop devices (an ext4
# image, two ext4 "flashes", a zeroed partition, a write-protected one, a
# squashfs image) and real mounts; only `uloop` is a stand-in, which
# hands out the image's loop device as the attached device (or refuses the
# COW as uloop does, "cow FILE: why").  Checked: the COW as a file in the
# cache's filesystem (mounted once), in a filesystem of its own, or a raw
# partition, named to `uloop attach --cow`; the root is then the image's
# own mount, read-write (no overlay), and a write reaches the device;
# boot.json and the boot line say so.  Each way a COW cannot be used (its
# device missing or write-protected, the cache's raw device, filesystem or
# file, refused by uloop, an image that does not mount read-write) is one
# warning naming rd.uloop.cow and the cause, no --cow at the attach that
# boots, the COW's own filesystem unmounted, and the root under the RAM
# layer (read-only with rd.uloop.overlay=none); boot.json says
# "fallback".  rd.live.overlay.reset is ignored with a COW, with a
# warning.
. "$(dirname "$0")/functions.sh"
requires_root
requires unshare mksquashfs mkfs.ext4 losetup debugfs
mkdir -p "$T/img/etc" "$T/fake" "$T/root"
echo "hello from the image" >"$T/img/etc/hello"
truncate -s 16M "$T/img.ext4"
mkfs.ext4 -q -F -d "$T/img" "$T/img.ext4"
mksquashfs "$T/img" "$T/img.sq" -quiet -noappend >/dev/null
truncate -s 32M "$T/flash" "$T/flash2" "$T/wp"
truncate -s 8M "$T/raw"
label=ubc$$
mkfs.ext4 -q -F -L "$label" "$T/flash"
mkfs.ext4 -q -F -L "${label}b" "$T/flash2"
mkfs.ext4 -q -F "$T/wp"
for f in img.ext4 img.sq flash flash2 raw; do
	d=$(losetup -f --show "$T/$f") || fail "losetup $f"
	on_exit "losetup -d $d"
	eval "dev_$(echo "$f" | tr . _)=\$d"
done
# shellcheck disable=SC2154  # set by the eval above
ext=$dev_img_ext4 sq=$dev_img_sq flash=$dev_flash flash2=$dev_flash2 raw=$dev_raw
wp=$(losetup -f --show -r "$T/wp")
on_exit "losetup -d $wp"

# uloop's stand-in.  $T/mode: "ok" hands out the ext4 image; "refuse"
# refuses any --cow as uloop refuses a COW over a changed image; "sq"
# hands out the squashfs image (which does not mount read-write).  Every
# attach's words are appended to $T/args, one attach a line.
cat >"$T/fake/uloop" <<F
#!/bin/sh
case \$1 in
info) exit 1 ;;
status) cat /run/uloop/0.json; exit 0 ;;
sync) exit 0 ;;
detach) echo "detach \$2" >>"$T/args"; exit 0 ;;
esac
echo "\$*" >>"$T/args"
cow=""
prev=""
for a in "\$@"; do [ "\$prev" = --cow ] && cow=\$a; prev=\$a; done
if [ -n "\$cow" ] && [ "\$(cat "$T/mode")" = refuse ]; then
	echo "uloop: cow \$cow: the image at http://h/r.sq changed since this COW was made over it (etag \"a\" then, \"b\" now): its writes would land on another image" >&2
	exit 1
fi
echo '{"pid":4242}' >/run/uloop/0.json
if [ "\$(cat "$T/mode")" = sq ]; then echo $sq; else echo $ext; fi
F
chmod +x "$T/fake/uloop"

# boot MODE CMDLINE: the steps in a namespace of their own, then the
# boot's figures; their lines (say/warn/fail) and the state: the mounts
# under /run/uloop and the root, the image's file as the root shows it,
# whether a write to the root took, boot.json, and the console line.
boot() {
	echo "$1" >"$T/mode"
	printf '%s\n' "$2" >"$T/cmdline"
	: >"$T/args"
	: >"$T/console"
	PATH=$T/fake:$PATH unshare -m --propagation private sh -c '
		top=$1 T=$2
		mount -t tmpfs tmpfs /run
		mount --bind "$T/console" /dev/console
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
		uloop_boot_metrics
		awk -v r="$T/root" "\$2 == r || \$2 ~ /^\/run\/uloop\// { split(\$4, o, \",\"); print \"mount:\", \$2, \$3, o[1] }" /proc/mounts
		echo "root: $(cat "$T/root/etc/hello")"
		if echo "$WRITE" >"$T/root/etc/written" 2>/dev/null; then echo "write took"; else echo "write failed"; fi
		echo "json: $(cat /run/uloop/boot.json)"
		sed -n "s/^uloop: boot: .*, profile none/line:/p" "$T/console"
		exit 0
	' sh "$top" "$T" >"$T/out" 2>&1 || fail "boot [$2]: $(cat "$T/out")"
}
has() {	# has LINE...: each line is in the output, whole
	for _l in "$@"; do
		grep -qxF -e "$_l" "$T/out" || fail "[$(cat "$T/cmdline")]: no line '$_l' in:
$(cat "$T/out")
attach: $(cat "$T/args")"
	done
}
hasnt() { ! grep -q -e "$1" "$T/out" || fail "[$(cat "$T/cmdline")]: '$1' in: $(cat "$T/out")"; }
json() {	# json KEY VALUE
	grep -q "^json: .*\"$1\":\"$2\"" "$T/out" || fail "[$(cat "$T/cmdline")]: boot.json has no $1 $2: $(grep '^json:' "$T/out")"
}
# the attach that booted: its --cow, or "none"
cowarg() { tail -n 1 "$T/args" | sed -n 's/.* --cow \([^ ]*\).*/\1/p' | grep . || echo none; }
# The root under the RAM layer, the COW given up.
fellback() {
	[ "$(cowarg)" = none ] || fail "[$(cat "$T/cmdline")]: the boot attached with --cow $(cowarg)"
	has "mount: /run/uloop/rw tmpfs rw" "mount: $T/root overlay rw" "root: hello from the image" "write took" \
		"line:, COW not used: writes in ram"
	hasnt "mount: /run/uloop/cowfs"
	json cow fallback
	json writes ram
}
U=root=uloop:http://h/r.sq
export WRITE=""

# 1. A file in the cache's filesystem: mounted once; the root is the
# image's mount, read-write; a write reaches the device.
WRITE="written through the COW" boot ok "$U rd.uloop.cache=$flash:/c rd.uloop.cow=LABEL=$label:/cow/root.cow"
[ "$(cowarg)" = /run/uloop/flash/cow/root.cow ] || fail "--cow was $(cowarg): $(cat "$T/args")"
has "mount: /run/uloop/flash ext4 rw" "mount: /run/uloop/lower ext4 rw" "mount: $T/root ext4 rw" \
	"root: hello from the image" "write took" "line:, root read-write on the COW /run/uloop/flash/cow/root.cow"
[ "$(grep -c "^mount: /run/uloop/flash " "$T/out")" -eq 1 ] || fail "the flash mounted twice: $(cat "$T/out")"
hasnt "^warn:"
hasnt "mount: .* overlay"
hasnt "mount: /run/uloop/cowfs"
json cow /run/uloop/flash/cow/root.cow
json writes cow
sync
debugfs -R "cat /etc/written" "$T/img.ext4" 2>/dev/null | grep -qx "written through the COW" ||
	fail "the root's write did not reach the device"
echo "rd.uloop.cow=LABEL=x:/path on the cache's filesystem: mounted once, --cow FILE, the root read-write on the device"

# 2. A filesystem of its own; 3. a raw partition.
boot ok "$U rd.uloop.cache=$flash:/c rd.uloop.cow=LABEL=${label}b:/d/r.cow"
[ "$(cowarg)" = /run/uloop/cowfs/d/r.cow ] || fail "--cow was $(cowarg)"
has "mount: /run/uloop/cowfs ext4 rw" "mount: $T/root ext4 rw"
boot ok "$U rd.uloop.cow=$raw"
[ "$(cowarg)" = "$raw" ] || fail "--cow was $(cowarg)"
has "mount: $T/root ext4 rw" "mount: /run/uloop/ram tmpfs rw"
json cow "$raw"
echo "rd.uloop.cow on a filesystem of its own, and a raw partition"

# 4. What cannot be a COW: a warning each, and the RAM layer.
fb="booting with the root's writes in RAM (they will not persist), the COW left as it is"
boot ok "$U rd.uloop.cow=LABEL=$label-none:/r.cow"
has "warn: rd.uloop.cow=LABEL=$label-none:/r.cow: no such device after 10 s; $fb"
fellback
boot ok "$U rd.uloop.cow=$wp:/r.cow"
has "warn: rd.uloop.cow=$wp:/r.cow: $wp is read-only (write-protected?); $fb"
fellback
boot ok "$U rd.uloop.cache=$raw rd.uloop.cow=$raw"
has "warn: rd.uloop.cow=$raw: $raw is rd.uloop.cache's raw device; $fb"
fellback
boot ok "$U rd.uloop.cache=$flash:/c rd.uloop.cow=$flash"
has "warn: rd.uloop.cow=$flash: $flash holds rd.uloop.cache's filesystem; $fb"
fellback
boot ok "$U rd.uloop.cache=$flash:/c rd.uloop.cow=LABEL=$label:/c"
has "warn: rd.uloop.cow=LABEL=$label:/c: /c is rd.uloop.cache's file; $fb"
fellback
echo "a missing or write-protected COW device, the cache's device, filesystem or file: a warning, the RAM layer"

# 5. Refused by uloop: tried once with --cow, then booted without it, the
# COW's filesystem unmounted.
boot refuse "$U rd.uloop.cache=$flash:/c rd.uloop.cow=LABEL=${label}b:/r.cow"
has "warn: rd.uloop.cow=LABEL=${label}b:/r.cow: cow /run/uloop/cowfs/r.cow: the image at http://h/r.sq changed since this COW was made over it (etag \"a\" then, \"b\" now): its writes would land on another image; $fb"
head -n 1 "$T/args" | grep -q -- "--cow /run/uloop/cowfs/r.cow" || fail "the first attach had no --cow: $(cat "$T/args")"
[ "$(wc -l <"$T/args")" -eq 2 ] || fail "not two attaches: $(cat "$T/args")"
fellback
boot refuse "$U rd.uloop.cow=$raw rd.uloop.overlay=none"
has "warn: rd.uloop.cow=$raw: cow $raw: the image at http://h/r.sq changed since this COW was made over it (etag \"a\" then, \"b\" now): its writes would land on another image; booting with a read-only root, the COW left as it is" \
	"mount: $T/root ext4 ro" "write failed"
json writes none
echo "a COW uloop refuses: one warning, booted without it (RAM layer; read-only with rd.uloop.overlay=none)"

# 6. An image that does not mount read-write (squashfs): detached, then
# attached again without the COW.
boot sq "$U rd.uloop.cow=$raw"
has "mount: /run/uloop/lower squashfs ro" "mount: $T/root overlay rw" "write took"
grep -q "^warn: rd.uloop.cow=$raw: cannot mount the image read-write over $raw: .*; $fb\$" "$T/out" ||
	fail "no warning for an image that does not mount read-write: $(cat "$T/out")"
[ "$(sed -n 2p "$T/args")" = "detach $sq" ] || fail "not detached before the second attach: $(cat "$T/args")"
[ "$(wc -l <"$T/args")" -eq 3 ] && [ "$(cowarg)" = none ] || fail "attaches: $(cat "$T/args")"
echo "an image that does not mount read-write over the COW: detached, attached again without it"

# 7. rd.live.overlay.reset is not for a COW.
boot ok "$U rd.uloop.cow=$raw rd.live.overlay.reset"
has "warn: rd.live.overlay.reset: ignored with rd.uloop.cow, which is kept (to start it over: remove the file, or zero the partition's first MiB)" \
	"mount: $T/root ext4 rw"
echo "rd.live.overlay.reset with a COW: ignored, with a warning"
