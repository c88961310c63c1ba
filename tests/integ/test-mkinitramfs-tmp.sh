#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# uloop-mkinitramfs runs as root, often with a shared TMPDIR: no file
# beside its private directory, and none beside its output, may be read or
# written.  The attack made deterministic: a mktemp first in PATH gives
# names an attacker predicted (XXXXXX -> FIXED), and every predictable
# neighbour is planted first: the name of the private directory plus .ko
# (the module list it used), .list, .tmp, and the output plus .tmp, each a
# symlink to a file of the "victim".  The builder must leave the victims
# as they were, and its image must be a file of its own, whose /init is
# initramfs/init and whose file list is that of a build in a private
# TMPDIR (the modules all there).
. "$(dirname "$0")/functions.sh"
requires cpio gzip busybox depmod modprobe
[ -x "$top/build/static/uloop" ] || { echo "requires build/static/uloop (make static)"; exit 77; }
# Debian's kernel and its modules (fetched once into the dependency cache,
# shared with the VM tests): on a fresh machine this test fetches them.
. "$top/tests/vm/lib.sh"
vm_kernel
kroot=$KROOT
kver=$(ls "$kroot/lib/modules" | head -n 1)
export ULOOP_STATIC="$top/build/static/uloop"
mk() {	# mk OUTPUT: build with gzip (fast)
	"$top/initramfs/uloop-mkinitramfs" --kver "$kver" --kmoddir "$kroot/lib/modules/$kver" \
		--compress gzip --output "$1" >/dev/null
}
list() { gzip -dc "$1" | cpio -t --quiet | LC_ALL=C sort; }

# The reference: a private TMPDIR, the real mktemp.
mkdir -p "$T/private"
TMPDIR=$T/private mk "$T/ref.img" || fail "the reference build failed"
list "$T/ref.img" >"$T/ref.list"
grep -q '/nbd\.ko' "$T/ref.list" || fail "the reference image has no nbd.ko"

# A predicting mktemp, and the planted neighbours.
mkdir -p "$T/fakebin" "$T/shared" "$T/out"
cat >"$T/fakebin/mktemp" <<'M'
#!/bin/sh
d=""
[ "$1" = -d ] && { d=1; shift; }
n=$(printf '%s' "${1:-${TMPDIR:-/tmp}/tmp.XXXXXXXXXX}" | sed 's/XXX*$/FIXED/')
if [ -n "$d" ]; then mkdir -m 0700 "$n" || exit 1
else (set -C; : >"$n") || exit 1; chmod 0600 "$n"; fi
echo "$n"
M
chmod +x "$T/fakebin/mktemp"
stage=$T/shared/uloop-initramfs.FIXED
for v in ko list tmp; do
	echo "victim $v" >"$T/victim.$v"
	ln -s "$T/victim.$v" "$stage.$v"
done
echo "victim out" >"$T/victim.out"
ln -s "$T/victim.out" "$T/out/initrd.img.tmp"
PATH=$T/fakebin:$PATH TMPDIR=$T/shared mk "$T/out/initrd.img" || fail "the build with a shared TMPDIR failed"

for v in ko list tmp out; do
	[ "$(cat "$T/victim.$v")" = "victim $v" ] ||
		fail "the builder wrote through a planted neighbour: victim.$v now holds $(wc -c <"$T/victim.$v") bytes"
done
[ -f "$T/out/initrd.img" ] && [ ! -L "$T/out/initrd.img" ] || fail "the output is not a file of its own"
list "$T/out/initrd.img" >"$T/got.list"
diff -u "$T/ref.list" "$T/got.list" >&2 || fail "the image's file list differs from a private build's"
gzip -dc "$T/out/initrd.img" | (mkdir -p "$T/x" && cd "$T/x" && cpio -id --quiet init)
cmp -s "$T/x/init" "$top/initramfs/init" || fail "the image's /init is not initramfs/init"
[ -z "$(ls -A "$T/shared" | grep -v -x -e uloop-initramfs.FIXED.ko -e uloop-initramfs.FIXED.list -e uloop-initramfs.FIXED.tmp)" ] ||
	fail "the builder left files in TMPDIR: $(ls -A "$T/shared")"
echo "mkinitramfs: planted neighbours of its private directory and output untouched; $(wc -l <"$T/got.list") entries, /init intact"

# --image: the lines to paste into configs/pxe, the iPXE kernel line the
# shipped uloop.ipxe's with its CHANGE lines set alike.
TMPDIR=$T/private "$top/initramfs/uloop-mkinitramfs" --kver "$kver" --kmoddir "$kroot/lib/modules/$kver" \
	--compress gzip --output "$T/lines.img" --image http://boot.example.org:8080/v/root.uloop \
	--cache LABEL=flash:/c >"$T/lines" || fail "--image: the build failed"
grep -q "copy /boot/vmlinuz-$kver and $T/lines.img to http://boot.example.org:8080/boot/" "$T/lines" ||
	fail "--image: no copy line: $(cat "$T/lines")"
grep -E '^(kernel|initrd) ' "$top/configs/pxe/uloop.ipxe" |
	sed -e 's|${image}|http://boot.example.org:8080/v/root.uloop|g' \
		-e 's|${server}|http://boot.example.org:8080|g' \
		-e 's|${cache}|LABEL=flash:/c|g' -e 's| ${extra}$||' >"$T/shipped"
grep -E '^    (kernel|initrd --name) ' "$T/lines" | sed 's/^    //' >"$T/printed"
diff -u "$T/shipped" "$T/printed" >&2 || fail "--image: the iPXE lines are not the shipped script's"
for want in "APPEND root=uloop:http://boot.example.org:8080/v/root.uloop ip=dhcp rd.uloop.cache=LABEL=flash:/c" \
	"IPAPPEND 2" "linux (http,boot.example.org:8080)/boot/vmlinuz root=uloop:" "initrd (http,boot.example.org:8080)/boot/initrd.img" \
	"(GRUB fetches plain http from port 80 of boot.example.org"; do
	grep -qF "$want" "$T/lines" || fail "--image: no '$want': $(cat "$T/lines")"
done
# (Not expect_fail: $T/out is a directory here.)
refused() {	# refused MESSAGE ARG...
	_m=$1
	shift
	! "$top/initramfs/uloop-mkinitramfs" --kver "$kver" --output "$T/x.img" "$@" 2>"$T/e" ||
		fail "mkinitramfs $*: not refused"
	grep -qF -- "$_m" "$T/e" || fail "mkinitramfs $*: said '$(cat "$T/e")', not '$_m'"
}
refused "--image: ftp://h/r is not an http:// or https:// URL" --image ftp://h/r
refused "--cache goes with --image" --cache /dev/vda
refused "no spaces or quotes" --image "http://h/r x"
echo "mkinitramfs --image: the boot lines for iPXE (the shipped script's), PXELINUX and GRUB"
