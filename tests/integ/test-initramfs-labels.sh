#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2
# LABEL=, UUID=, PARTUUID= and PARTLABEL= values are names, matched
# literally, never patterns: on a fake /sys with an EFI partition and a
# cache partition, initramfs/lib/dev.sh (under dash and busybox ash) finds
# PARTLABEL=cache and nothing for PARTLABEL=.*, PARTLABEL=c.che,
# PARTLABEL=[ce]* or PARTLABEL=* (a regular expression or a glob picked
# the EFI partition); the boot library (initramfs/lib/boot.sh, with
# udev: dracut, initramfs-tools) names the udev link of a value with
# udev's escaping ("/" and blanks as \xNN), so no value can walk out of
# /dev/disk/by-*/ or name another link.
. "$(dirname "$0")/functions.sh"
requires dash busybox
bb=$T/bb
mkdir -p "$bb"
busybox --install -s "$bb"

S=$T/sys D=$T/dev
mkdir -p "$D"
for p in vda1:EFI vda2:cache; do
	mkdir -p "$S/class/block/${p%%:*}"
	printf 'MAJOR=254\nMINOR=1\nDEVNAME=%s\nDEVTYPE=partition\nPARTN=1\nPARTNAME=%s\n' \
		"${p%%:*}" "${p#*:}" >"$S/class/block/${p%%:*}/uevent"
done

lookup() {	# lookup SHELL SPEC: what dev_lookup prints
	DEV_SYS=$S DEV_DIR=$D PATH=$bb:$PATH "$1" -c '. "$1"; dev_lookup "$2"' sh \
		"$top/initramfs/lib/dev.sh" "$2"
}
for sh in dash "$bb/sh"; do
	[ "$(lookup "$sh" PARTLABEL=cache)" = "$D/vda2" ] || fail "$sh: PARTLABEL=cache not found"
	[ "$(lookup "$sh" PARTLABEL=EFI)" = "$D/vda1" ] || fail "$sh: PARTLABEL=EFI not found"
	for v in '.*' 'c.che' '[ce]*' '*' 'EF.' '^EFI' 'cach'; do
		got=$(lookup "$sh" "PARTLABEL=$v") || true
		[ -z "$got" ] || fail "$sh: PARTLABEL=$v matched $got (a pattern, not a name)"
	done
	echo "dev.sh under $sh: PARTLABEL= matched literally"
done

# The boot library with udev: the /dev/disk link a value names.
enc() {	# enc SHELL VALUE
	"$1" -c '. "$1"; uloop_udev_enc "$2"' sh "$top/initramfs/lib/boot.sh" "$2"
}
for sh in dash "$bb/sh"; do
	for c in 'cache|cache' 'my cache|my\x20cache' '../../vda|..\x2f..\x2fvda' \
		'a/b|a\x2fb' 'x*y|x\x2ay' 'EFI-1.0_a:b=c@d#e+f|EFI-1.0_a:b=c@d#e+f' "it's|it\\x27s"; do
		got=$(enc "$sh" "${c%%|*}")
		[ "$got" = "${c#*|}" ] || fail "$sh: udev name of '${c%%|*}' is '$got', not '${c#*|}'"
	done
	echo "boot.sh under $sh: udev's escaping of label values"
done
