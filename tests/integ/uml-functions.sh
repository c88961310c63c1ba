# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# uml-functions.sh - Debian's User-Mode Linux kernel (/usr/bin/linux.uml)
# as a guest for the UML COW tests; source after functions.sh.
#
# UML runs as an ordinary process of this machine: no emulator, no
# module, no root device of the host.  It needs ptrace of its own
# children and a temp directory it can map with PROT_EXEC (TMPDIR; we
# give it a private one under $T).  Its console is its stdout.
#
#   uml_available        0 if linux.uml boots here (the verdict is kept in
#                        $T, one probe boot a test); else prints why (a
#                        command missing, or UML's last words) and returns
#                        1: the caller skips its UML-boot part only
#   uml_rootfs IMG       a 16 MiB ext2 root (blocks of 4 KiB, see
#                        there): busybox-static and an /init
#                        that runs the script on the second disk (ubdb),
#                        prints its output between markers, syncs and
#                        powers off (UML exits)
#   uml_run DISK0 SCRIPT [UBD...]
#                        boot UML with ubd0=DISK0 as the root ("IMG", or
#                        "COW,BACKING" the UML way), SCRIPT as ubdb (read
#                        only), each UBD as ubd2, ubd3, ... (so /dev/ubdc,
#                        /dev/ubdd, ... in the guest; "r=FILE" passes
#                        UML's flags, here read-only); print what SCRIPT
#                        printed and return its exit status.  A guest that
#                        panics, hangs past the timeout or never reaches
#                        the end marker fails with the console log shown.
#                        The whole console log stays in $T/uml-console.log
#                        (UML's own messages, e.g. a COW header refused).
#   uml_be COW OFFSET WIDTH
#                        the unsigned big-endian number of WIDTH (4 or 8)
#                        bytes at OFFSET of a file
#   uml_cow_backing COW  the backing file a V3 header names (its path field
#                        up to the first NUL: UML leaves junk after it)
#   uml_cow_recast COW VERSION OUT
#                        OUT: the V3 COW file COW (sectors of 512, its size
#                        a multiple of 4 KiB) as a V1 or V2 file with the
#                        same backing, mtime, size, bitmap and data, laid
#                        out as UML's cow_user.c reads them: V1 host-endian
#                        (little-endian here) {magic, version, path[256],
#                        u32 mtime, u64 size, s32 sectorsize}, bitmap at
#                        280; V2 big-endian {magic, version, path[4096],
#                        mtime, size, sectorsize}, bitmap at 4120; data at
#                        the bitmap's end rounded up to a sector
#
# ULOOP_UML_TIMEOUT (seconds, 600 by default) only stops a hung guest: the
# tests never time anything.  Other tests share the cores, so it is long.

UML_BEGIN=@@uml-script-begin@@
UML_END=@@uml-script-end

uml_available() {
	if [ -s "$T/uml-verdict" ]; then
		[ "$(cat "$T/uml-verdict")" = ok ] && return 0
		cat "$T/uml-verdict"
		return 1
	fi
	for _ua_c in linux.uml busybox mke2fs file timeout; do
		if ! command -v "$_ua_c" >/dev/null 2>&1; then
			echo "requires $_ua_c" | tee "$T/uml-verdict"
			return 1
		fi
	done
	uml_rootfs "$T/uml-probe.img"
	echo 'echo uml-probe-ok' >"$T/uml-probe.sh"
	_ua_out=$(uml_run "$T/uml-probe.img" "$T/uml-probe.sh" 2>&1) || true
	if [ "$_ua_out" = uml-probe-ok ]; then
		echo ok >"$T/uml-verdict"
		return 0
	fi
	# The reason: the last lines UML printed (its startup checks name
	# what it lacks, e.g. "ptrace ... failed, errno = 1").
	{
		echo "linux.uml cannot boot here:"
		grep -v '^$' "$T/uml-console.log" 2>/dev/null | tail -n 8
	} >"$T/uml-verdict"
	rm -f "$T/uml-probe.img"
	cat "$T/uml-verdict"
	return 1
}

uml_rootfs() {
	_ur=$T/uml-rootfs.d
	rm -rf "$_ur"
	mkdir -p "$_ur/bin" "$_ur/proc" "$_ur/sys" "$_ur/dev" "$_ur/tmp" "$_ur/mnt"
	# The static busybox only: the root must not need the host's libc.
	_ur_bb=$(command -v busybox)
	file -L "$_ur_bb" | grep -q 'statically linked' ||
		fail "uml_rootfs: $_ur_bb is not static (busybox-static)"
	cp "$_ur_bb" "$_ur/bin/busybox"
	for _ur_a in $("$_ur_bb" --list); do
		[ "$_ur_a" = busybox ] || ln -s busybox "$_ur/bin/$_ur_a"
	done
	# The kernel mounts devtmpfs itself (the UML kernel has
	# DEVTMPFS_MOUNT); mounting it again is harmless if it did not.
	# The script's status goes after the end marker, so uml_run knows
	# the script ran to its end (a guest that dies in the middle prints
	# no end marker).  poweroff -f: no init to signal, UML just exits.
	cat >"$_ur/init" <<EOF
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
[ -b /dev/ubdb ] || mount -t devtmpfs devtmpfs /dev
echo "$UML_BEGIN"
sh /dev/ubdb 2>&1
echo "$UML_END rc=\$?@@"
sync
mount -o remount,ro /
poweroff -f
EOF
	chmod 755 "$_ur/init"
	rm -f "$1"
	# Blocks of 4 KiB (mke2fs takes 1 KiB for so small a disk): every
	# write to the filesystem is then whole pages, so a COW under it (a
	# root booted as COW,IMAGE) never has a page half in the COW and
	# half in the image, which Debian's UML reads wrong in requests of
	# several pages (see test-uml-tools.sh).
	mke2fs -q -F -t ext2 -b 4096 -L umlroot -d "$_ur" "$1" 16M >/dev/null ||
		fail "uml_rootfs: mke2fs -d failed"
	rm -rf "$_ur"
}

uml_run() {
	_um_root=$1 _um_script=$2
	shift 2
	# The script as a disk: padded with newlines to whole pages (a ubd
	# disk is whole sectors, and the partition scan reads 4 KiB of it;
	# blank lines are nothing to sh).
	cp "$_um_script" "$T/uml-script.disk"
	_um_pad=$(( (4096 - $(fsize "$T/uml-script.disk") % 4096) % 4096 ))
	[ "$_um_pad" -eq 0 ] ||
		head -c "$_um_pad" /dev/zero | tr '\0' '\n' >>"$T/uml-script.disk"
	_um_args="ubd0=$_um_root ubd1r=$T/uml-script.disk"
	_um_n=2
	for _um_d in "$@"; do
		case $_um_d in
		[rsdct]=* | [rsdct][rsdct]=*) _um_args="$_um_args ubd$_um_n$_um_d" ;;
		*) _um_args="$_um_args ubd$_um_n=$_um_d" ;;
		esac
		_um_n=$((_um_n + 1))
	done
	mkdir -p "$T/uml-tmp"
	# con=null: no other consoles; con0: no input (/dev/null), output
	# to stdout (the log).  UML cannot poll /dev/null nor a regular
	# file and says "epollctl add err", harmlessly: writes still go.
	# timeout signals UML's whole process group (its helpers too).
	# uml_dir: its mconsole socket goes in $T, not in ~/.uml.
	_um_rc=0
	# shellcheck disable=SC2086
	TMPDIR=$T/uml-tmp timeout -k 30 "${ULOOP_UML_TIMEOUT:-600}" \
		linux.uml mem=64M uml_dir="$T/uml-tmp" $_um_args root=/dev/ubda rw init=/init \
		con=null con0=fd:0,fd:1 panic=0 </dev/null >"$T/uml-console.raw" 2>&1 ||
		_um_rc=$?
	tr -d '\r' <"$T/uml-console.raw" >"$T/uml-console.log"
	rm -f "$T/uml-console.raw"
	_um_end=$(sed -n "s/^$UML_END rc=\([0-9]*\)@@\$/\1/p" "$T/uml-console.log")
	if [ -z "$_um_end" ]; then
		tail -n 40 "$T/uml-console.log" >&2
		if [ "$_um_rc" -eq 124 ] || [ "$_um_rc" -eq 137 ]; then
			echo "uml_run: the guest did not finish in ${ULOOP_UML_TIMEOUT:-600} s" >&2
		else
			echo "uml_run: the guest stopped (exit $_um_rc) before its script ended" >&2
		fi
		return 1
	fi
	sed -n "/^$UML_BEGIN\$/,/^$UML_END rc=/p" "$T/uml-console.log" | sed '1d;$d'
	return "$_um_end"
}

uml_be() {
	od -An -tu"$3" --endian=big -j"$2" -N"$3" "$1" | tr -d ' '
}

uml_cow_backing() {
	dd if="$1" bs=32 skip=1 count=128 status=none | tr '\0' '\n' | head -n 1
}

# _uml_num N WIDTH ORDER: N as WIDTH raw bytes, "be" or "le".
_uml_num() {
	_un_i=0 _un_s=""
	while [ "$_un_i" -lt "$2" ]; do
		_un_b="\\$(printf %o $(( ($1 >> (8 * _un_i)) & 255 )))"
		if [ "$3" = le ]; then _un_s="$_un_s$_un_b"; else _un_s="$_un_b$_un_s"; fi
		_un_i=$((_un_i + 1))
	done
	# shellcheck disable=SC2059
	printf "$_un_s"
}

# _uml_path PATH LEN: PATH padded with NULs to LEN bytes.
_uml_path() {
	printf %s "$1"
	head -c $(($2 - ${#1})) /dev/zero
}

uml_cow_recast() {
	_uc_cow=$1 _uc_v=$2 _uc_out=$3
	if [ "$(uml_be "$_uc_cow" 0 4)" != $((0x4f4f4f4d)) ] ||
		[ "$(uml_be "$_uc_cow" 4 4)" != 3 ]; then
		fail "uml_cow_recast: $_uc_cow is not a big-endian V3 COW file"
	fi
	_uc_mt=$(uml_be "$_uc_cow" 8 4)
	_uc_size=$(uml_be "$_uc_cow" 12 8)
	_uc_ss=$(uml_be "$_uc_cow" 20 4)
	_uc_al=$(uml_be "$_uc_cow" 24 4)
	_uc_back=$(uml_cow_backing "$_uc_cow")
	# V1 and V2 size the bitmap with (size + ss - 1) / (8 * ss) bytes, one
	# short when the sector count is not a multiple of 8 (the "rounding
	# bug" V3 fixed): keep to sizes where all three agree.
	if [ "$_uc_ss" != 512 ] || [ $((_uc_size % 4096)) -ne 0 ]; then
		fail "uml_cow_recast: sectors of $_uc_ss, size $_uc_size: not recast"
	fi
	_uc_blen=$((_uc_size / 4096))
	_uc_boff=$(( (4128 + _uc_al - 1) / _uc_al * _uc_al ))
	_uc_doff=$(( (_uc_boff + _uc_blen + _uc_al - 1) / _uc_al * _uc_al ))
	case $_uc_v in
	1)
		{
			_uml_num $((0x4f4f4f4d)) 4 le
			_uml_num 1 4 le
			_uml_path "$_uc_back" 256
			_uml_num "$_uc_mt" 4 le
			_uml_num "$_uc_size" 8 le
			_uml_num 512 4 le
		} >"$_uc_out"
		;;
	2)
		{
			_uml_num $((0x4f4f4f4d)) 4 be
			_uml_num 2 4 be
			_uml_path "$_uc_back" 4096
			_uml_num "$_uc_mt" 4 be
			_uml_num "$_uc_size" 8 be
			_uml_num 512 4 be
		} >"$_uc_out"
		;;
	*) fail "uml_cow_recast: version $_uc_v" ;;
	esac
	_uc_nboff=$(fsize "$_uc_out")
	_uc_ndoff=$(( (_uc_nboff + _uc_blen + 511) / 512 * 512 ))
	dd if="$_uc_cow" of="$_uc_out" bs="$_uc_blen" iflag=skip_bytes oflag=seek_bytes \
		skip="$_uc_boff" seek="$_uc_nboff" count=1 conv=notrunc status=none
	dd if="$_uc_cow" of="$_uc_out" bs=64K iflag=skip_bytes,count_bytes \
		oflag=seek_bytes skip="$_uc_doff" seek="$_uc_ndoff" count="$_uc_size" \
		conv=notrunc,sparse status=none
	truncate -s $((_uc_ndoff + _uc_size)) "$_uc_out"
}
