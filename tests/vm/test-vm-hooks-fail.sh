#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2
# Bad input to the distributions' hooks: dracut's 90uloop (network-legacy,
# dracut's own init) and the initramfs-tools script stop the boot with one
# console line naming the parameter or the image, and the cause; no root
# is mounted (the Debian root's test unit never runs), and the boot ends
# by itself: dracut says FATAL, and with rd.shell=0 its init exits (the
# image has no poweroff for rd.emergency=poweroff: that comes with
# dracut's shutdown module), the kernel panics and panic=-1 (vm_boot's)
# reboots; initramfs-tools panics, and panic=-1 reboots.  QEMU runs with
# -no-reboot: either way it exits.  Each case, each flavour:
#   fstype   rd.uloop.fstype=xfs: the parser refuses it, before the network
#   empty    rd.uloop.cache= (given empty): "empty value", not the default
#   missing  an image the server does not have: its URL and the 404
#            (with a TLS pin, whose base64 ends in '=': not "empty")
#   junk     4 MiB of random bytes served as the image: uloop attaches
#            it, no filesystem mounts it
# The images are those of test-vm-dracut.sh and
# test-vm-initramfs-tools.sh (distro-lib.sh), from the same nginx.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/distro-lib.sh"
requires_root
# A boot that fails ends within seconds: a hang is a failure, not a wait.
VM_TIMEOUT=${VM_TIMEOUT:-150}
vm_kernel
distro_setup
make_image "$T/www/junk.img" $((4 * 1024 * 1024))
distro_dracut "$T/dracut.img" "base udev-rules qemu network-legacy"
distro_itools "$T/itools.img"

# The cases: NAME, what the command line adds, the line the console
# must show (a basic regex, after the flavour's prefix; anchored at the
# end: a message spread over lines does not match).
CASES="fstype empty missing junk"
case_args() {
	case $1 in
	fstype) echo "root=uloop:$DISTRO_URL rd.uloop.fstype=xfs" ;;
	empty) echo "root=uloop:$DISTRO_URL rd.uloop.cache=" ;;
	missing) echo "root=uloop:http://10.0.2.100/missing.squashfs rd.uloop.pin=sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" ;;
	junk) echo "root=uloop:http://10.0.2.100/junk.img" ;;
	esac
}
case_line() {
	case $1 in
	fstype) echo 'rd\.uloop\.fstype=xfs: not auto, squashfs, erofs or ext4' ;;
	empty) echo 'rd\.uloop\.cache=: empty value' ;;
	missing) echo 'root=uloop:http://10\.0\.2\.100/missing\.squashfs: server answered 404' ;;
	junk) echo 'rd\.uloop\.fstype=auto: cannot mount /dev/[a-z0-9]*: [^:]* (not squashfs, erofs or ext4?)' ;;
	esac
}

# boots FLAVOUR INITRD APPEND: every case, two guests at a time (TCG: a
# guest keeps a core busy); vm_boot finds no ULOOP-VM-RESULT in these
# boots, as it should: its status is kept for the timeout (124).
boots() {
	_f=$1 _img=$2 _app=$3
	_n=0
	for _c in $CASES; do
		(
			_r=0
			vm_boot "$_f-$_c" "$_img" "" "$(case_args "$_c") $_app" >/dev/null 2>&1 || _r=$?
			echo "$_r" >"$T/$_f-$_c.rc"
		) &
		_n=$((_n + 1))
		[ $((_n % 2)) -ne 0 ] || wait
	done
	wait
}

# check FLAVOUR CASE PREFIX END: the case's line after PREFIX, END (the
# flavour's own words for a failed boot), no root's unit, no timeout.
check() {
	_f=$1 _c=$2 _l=$T/$1-$2.log
	tr -d '\r' <"$_l" >"$_l.txt"
	_bad=""
	_line=$(grep -a -m 1 -e "$3$(case_line "$_c")\$" "$_l.txt") || _bad="no line '$3$(case_line "$_c")'"
	grep -aq -F -e "$4" "$_l.txt" || _bad="$_bad${_bad:+; }no '$4'"
	! grep -aq "ULOOP-DISTRO: UNIT REACHED" "$_l.txt" || _bad="$_bad${_bad:+; }the root's unit ran"
	[ "$(cat "$T/$_f-$_c.rc")" != 124 ] || _bad="$_bad${_bad:+; }the boot did not end"
	if [ -n "$_bad" ]; then
		grep -a -i -e uloop -e dracut -e panic -e FATAL "$_l.txt" | tail -n 20
		fail "$_f-$_c: $_bad"
	fi
	echo "$_f-$_c: ok: ${_line#*] }"
}

s=$(date +%s)
boots dracut "$T/dracut.img" "ip=dhcp rd.shell=0 rd.emergency=poweroff"
for c in $CASES; do
	check dracut "$c" "dracut: FATAL: " "dracut: Refusing to continue"
done
boots itools "$T/itools.img" "ip=dhcp panic=-1"
for c in $CASES; do
	check itools "$c" "uloop: " "Rebooting automatically due to panic= boot argument"
done
# shellcheck disable=SC2086  # the cases are words
set -- $CASES
echo "$((2 * $#)) failed boots, $(( $(date +%s) - s )) s wall"
