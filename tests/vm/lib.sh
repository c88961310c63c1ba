# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# lib.sh - the QEMU harness for tests/vm/test-*.sh; source after
# tests/integ/functions.sh (and http-functions.sh for a web server).
#
#   vm_kernel                 sets KVER, VMLINUZ, KROOT: Debian's current
#                             kernel (resolved from linux-image-amd64 each
#                             run, never a fixed version), downloaded and
#                             unpacked once into $ULOOP_DEPS; Debian 12's
#                             (6.1), or with VM_KSERIES=trixie Debian 13's
#                             (6.12, tools/trixie-apt.sh), whose modules
#                             are unpacked from .ko.xz so every initramfs
#                             builder here treats both alike
#   vm_initrd OUT SCRIPT [FILE:GUESTPATH]...
#                             an initramfs: busybox-static, the static
#                             uloop, the modules uloop needs, our /init,
#                             and SCRIPT as /test.sh (run as root, POSIX
#                             sh); extra files copied in
#   vm_boot NAME INITRD [DISKS] [APPEND]
#                             boot it under TCG with user networking
#                             (VM_PXE=DIR:FILE: from the NIC instead;
#                             VM_FIRMWARE=OVMF.fd: UEFI; VM_NETDEV and
#                             VM_WRAP: another network, e.g. a tap in a
#                             network namespace)
#                             (restrict=on: the guest reaches nothing but
#                             10.0.2.100:80 and :443, forwarded to
#                             $VM_HTTP_PORT and $VM_HTTPS_PORT on
#                             127.0.0.1); the serial console goes to
#                             $T/NAME.log; DISKS (space separated raw
#                             files) are /dev/vda, /dev/vdb...; returns the
#                             guest script's exit status (124 on timeout)
#   vm_busybox_root DIR [SUBDIR]...
#                             the skeleton of a root image: busybox as
#                             /bin/busybox and /bin/sh, the mount points
#                             switch_root needs, and SUBDIRs
#   vm_data_root DIR          the same with files under /data and their
#                             sums in /expected, for the root to check
#   vm_dm                     device-mapper for a guest: the modules, and
#                             dmsetup's files for vm_initrd in VM_DM_FILES
#   vm_expect NAME LOG LINE...
#                             every LINE in a guest's LOG, each said ok or
#                             FAIL; status 1 if one is missing
#   vm_uloop_initrd OUT [OPTION]...
#                             the uloop initramfs (initramfs/
#                             uloop-mkinitramfs) for $KVER, quietly
#
# Guests run in parallel where a test starts several (vm_boot ... &):
# under TCG one guest uses one core.
#
# ULOOP_VM_DEBUG=PREFIX: the guests' kernels log at level 7 (the
# backtrace of a soft lockup reaches the console), sysrq is on, and each
# guest has a QEMU monitor on the unix socket PREFIX.NAME (e.g.
# `echo "sendkey alt-sysrq-l" | nc -U -q1 PREFIX.NAME`: every CPU's
# backtrace).  VM_TB_SIZE: TCG's translation cache in MiB (below).

VM_MODULES="nbd squashfs virtio_net virtio_blk virtio_pci loop overlay fuse ext4 erofs"
VM_TIMEOUT=${VM_TIMEOUT:-300}
VM_MEM=${VM_MEM:-512}
# A CPU with RDRAND, as every x86 server of the last decade has: the kernel
# seeds its RNG from it at once (Debian trusts the CPU), where the default
# qemu64 leaves TLS and c-ares waiting a second for jitter entropy.
VM_CPU=${VM_CPU:-qemu64,+rdrand}
# TCG's translation cache, MiB.  QEMU 7.2 keeps every block it translated
# from a guest page on a list of that page, walked from the head to unlink
# each block when the page is written; its default cache (1 GiB) is
# flushed so rarely that the lists of a cold Debian boot's code pages
# (every process, at its own ASLR address, translates libc again) grow
# long enough to make that quadratic: when such a page is reused and
# zeroed (init_on_alloc=1) the guest stopped inside one `rep stosq` of
# clear_page for 21-35 s (perf: 90% of the vCPU thread in that list walk),
# its watchdog reported soft lockups and nbd timed out.  128 MiB flushes
# often enough; nothing a real node runs.
VM_TB_SIZE=${VM_TB_SIZE:-128}

requires qemu-system-x86_64 busybox nc modprobe depmod cpio

vm_kernel() {
	_deps=${ULOOP_DEPS:-/var/cache/uloop-deps}
	case ${VM_KSERIES:=bookworm} in
	bookworm) _apt="" ;;
	trixie) _apt=$top/tools/trixie-apt.sh ;;
	*) fail "VM_KSERIES=$VM_KSERIES: not bookworm or trixie" ;;
	esac
	KVER=$($_apt apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -n 1)
	[ -n "$KVER" ] || { echo "requires the linux-image-amd64 package index of $VM_KSERIES (apt-get update)"; exit 77; }
	_kd=$_deps/kernel-$KVER
	KROOT=$_kd/root
	VMLINUZ=$KROOT/boot/vmlinuz-$KVER
	if [ ! -s "$KROOT/lib/modules/$KVER/modules.dep" ]; then
		# The VM tests start in parallel: on a fresh machine they all
		# came here at once and removed each other's half-extracted
		# trees (18 of 18 failed).  One fetches, the others wait.
		mkdir -p "$_kd"
		(
			flock 9
			[ -s "$KROOT/lib/modules/$KVER/modules.dep" ] && exit 0
			( cd "$_kd" && rm -f ./*.deb && $_apt apt-get download -qq "linux-image-$KVER" ) ||
				exit 1
			rm -rf "$KROOT.tmp"
			dpkg-deb -x "$_kd"/linux-image-*.deb "$KROOT.tmp" || exit 1
			# Debian 13 ships its modules under /usr/lib (merged /usr)
			# and xz-compressed; busybox's insmod and the copies the
			# builders make want them where Debian 12 has them, plain.
			if [ ! -e "$KROOT.tmp/lib" ] && [ -d "$KROOT.tmp/usr/lib/modules" ]; then
				ln -s usr/lib "$KROOT.tmp/lib"
			fi
			find "$KROOT.tmp/lib/modules/$KVER" -name '*.ko.xz' -print0 |
				xargs -0 -r xz -d || exit 1
			depmod -b "$KROOT.tmp" "$KVER" || exit 1
			rm -rf "$KROOT"
			mv "$KROOT.tmp" "$KROOT"
		) 9>"$_kd.lock" || fail "could not download and unpack linux-image-$KVER"
	fi
	[ -s "$VMLINUZ" ] || fail "no kernel at $VMLINUZ"
}

# The part of the initramfs that is the same for every test, built once.
_vm_base() {
	_b=$T/vm-base
	[ -d "$_b" ] && return 0
	mkdir -p "$_b/bin" "$_b/sbin" "$_b/usr/bin" "$_b/usr/sbin" "$_b/etc" \
		"$_b/proc" "$_b/sys" "$_b/dev" "$_b/run" "$_b/tmp" "$_b/mnt"
	cp "$(command -v busybox)" "$_b/bin/busybox"
	cp "$ULOOP_VM_BIN" "$_b/bin/uloop"
	ln -s uloop "$_b/bin/ulohttp"
	ln -s uloop "$_b/bin/ulobdev"
	for m in $VM_MODULES; do
		modprobe -S "$KVER" -d "$KROOT" --show-depends "$m" |
			awk '$1 == "insmod" { print $2 }'
	done | sort -u | while read -r ko; do
		_rel=${ko#"$KROOT"/}
		mkdir -p "$_b/$(dirname "$_rel")"
		cp "$ko" "$_b/$_rel"
	done
	cp "$KROOT/lib/modules/$KVER/modules.order" "$KROOT/lib/modules/$KVER/modules.builtin" \
		"$KROOT/lib/modules/$KVER/modules.builtin.modinfo" \
		"$_b/lib/modules/$KVER/" 2>/dev/null || true
	depmod -b "$_b" "$KVER"
	echo "$VM_MODULES" >"$_b/etc/modules"
	cat >"$_b/etc/udhcpc.sh" <<'DHCP'
#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "$router"
exit 0
DHCP
	chmod +x "$_b/etc/udhcpc.sh"
	cat >"$_b/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /run
mount -t tmpfs tmp /tmp
echo /sbin/modprobe >/proc/sys/kernel/modprobe
for m in $(cat /etc/modules); do modprobe "$m" || echo "ULOOP-VM: modprobe $m failed"; done
ip link set lo up
ip link set eth0 up 2>/dev/null && udhcpc -q -n -t 5 -i eth0 -s /etc/udhcpc.sh >/dev/null 2>&1
echo "ULOOP-VM: up, kernel $(uname -r)"
sh -e /test.sh
echo "ULOOP-VM-RESULT $?"
sync
poweroff -f
INIT
	chmod +x "$_b/init"
	( cd "$_b" && find . | sort | cpio -o -H newc --quiet | gzip -1 ) >"$T/vm-base.cpio.gz"
}

vm_busybox_root() {
	_r=$1
	shift
	mkdir -p "$_r/bin" "$_r/sbin" "$_r/dev" "$_r/proc" "$_r/sys" "$_r/run" "$_r/tmp"
	for _s in "$@"; do
		mkdir -p "$_r/$_s"
	done
	cp "$(command -v busybox)" "$_r/bin/busybox"
	ln -s busybox "$_r/bin/sh"
}

# vm_data_root DIR: a busybox root (vm_busybox_root) with files to check
# under /data (some of the host's docs) and their sums in /expected:
# `(cd /data && sha256sum -c -s /expected)` in the root's init says
# whether every byte came through.
vm_data_root() {
	vm_busybox_root "$1" etc data
	cp -r /usr/share/doc/e* "$1/data/" 2>/dev/null
	( cd "$1/data" && find . -type f | sort | while read -r _f; do sha256sum "$_f"; done ) >"$1/expected"
}

# vm_root_init FILE: the init of a test root: busybox's applets, the
# checks read from stdin, then the verdict and a power-off that leaves the
# daemon its commit interval (1 s; poweroff -f at once would lose what the
# last second fetched, by design).
vm_root_init() {
	{
		printf '#!/bin/sh\n/bin/busybox --install -s /bin\n'
		cat
		printf 'echo "ULOOP-VM-RESULT 0"\nsleep 2\nsync\npoweroff -f\n'
	} >"$1"
	chmod +x "$1"
}

# vm_uloop_ko [daemon]: uloop.ko built for the guest's kernel ($KO; the
# test is skipped, 77, without its headers); with "daemon", the static
# test daemon too ($D).
vm_uloop_ko() {
	KO=$("$top/tests/kmod/build-kmod.sh" "$KVER") || exit $?
	[ "${1:-}" = daemon ] || return 0
	D=$top/build/kmod/uloopd-test
	[ -x "$D" ] || fail "missing $D (make test-bins)"
}

# vm_expect NAME LOG LINE...: each LINE must be in the guest's LOG; prints
# "ok: NAME: LINE" or "FAIL: NAME: no 'LINE'" for each, and fails (status 1)
# if one is missing, after naming all of them (a test with two guests says
# what each lacked before it stops).
vm_expect() {
	_n=$1 _l=$2 _r=0
	shift 2
	for _w in "$@"; do
		if grep -aq "$_w" "$_l"; then
			echo "ok: $_n: $_w"
		else
			echo "FAIL: $_n: no '$_w'"
			_r=1
		fi
	done
	return $_r
}

# vm_dm: device-mapper in a guest: its modules join VM_MODULES, and
# VM_DM_FILES holds the FILE:GUESTPATH pairs (for vm_initrd) of dmsetup and
# the libraries it loads, at their paths, and /lib/guest-dm.sh (dm_table,
# tests/vm/guest-dm.sh).  The guest runs dmsetup with
# DM_DISABLE_UDEV=1 (no udev there: libdevmapper makes /dev/mapper/NAME).
vm_dm() {
	requires dmsetup
	VM_MODULES="$VM_MODULES dm_mod dm_log_writes"
	_dm=$(command -v dmsetup)
	VM_DM_FILES="$top/tests/vm/guest-dm.sh:/lib/guest-dm.sh $_dm:/sbin/dmsetup $(ldd "$_dm" |
		awk '$2 == "=>" && $3 ~ /^\// { print $3 ":" $3 } $1 ~ /^\// { print $1 ":" $1 }' |
		tr '\n' ' ')"
}

vm_uloop_initrd() {
	_o=$1
	shift
	"$top/initramfs/uloop-mkinitramfs" --kver "$KVER" \
		--kmoddir "$KROOT/lib/modules/$KVER" --output "$_o" "$@" >/dev/null
}

vm_initrd() {
	_out=$1 _script=$2
	shift 2
	_vm_base
	_o=$T/vm-overlay.$$
	rm -rf "$_o"
	mkdir -p "$_o"
	cp "$_script" "$_o/test.sh"
	for _f in "$@"; do
		mkdir -p "$_o/$(dirname "${_f#*:}")"
		cp "${_f%%:*}" "$_o/${_f#*:}"
	done
	# Two concatenated archives: the kernel unpacks both.
	( cd "$_o" && find . | cpio -o -H newc --quiet | gzip -1 ) >"$_o.cpio.gz"
	cat "$T/vm-base.cpio.gz" "$_o.cpio.gz" >"$_out"
	rm -rf "$_o" "$_o.cpio.gz"
}

# The kernel command line every guest starts with (a PXE guest's comes
# from its boot script, which puts this first too).
VM_APPEND_BASE="console=ttyS0 panic=-1 loglevel=4 no_timer_check"

vm_boot() {
	_name=$1 _initrd=$2 _disk=${3:-} _append=${4:-}
	_log=$T/$_name.log
	_pxe="" _boot=""
	set -- -accel "tcg,tb-size=$VM_TB_SIZE" -cpu "$VM_CPU" -m "$VM_MEM" -smp 1 -nodefaults -no-reboot \
		-display none -serial "file:$_log" ${ULOOP_VM_DEBUG:+-monitor unix:$ULOOP_VM_DEBUG.$_name,server,nowait}
	# VM_FIRMWARE: the machine's firmware (OVMF.fd: UEFI), SeaBIOS else.
	# VM_PXE=DIR:FILE: no kernel given; the NIC's firmware (QEMU's iPXE
	# ROM, a BIOS and a UEFI driver in one) boots first, taking FILE from
	# the user network's TFTP server (DIR); INITRD and APPEND are then the
	# boot script's.
	[ -z "${VM_FIRMWARE:-}" ] || set -- "$@" -bios "$VM_FIRMWARE"
	if [ -n "${VM_PXE:-}" ]; then
		_pxe=",tftp=${VM_PXE%%:*},bootfile=${VM_PXE#*:}" _boot=",bootindex=0"
	else
		set -- "$@" -kernel "$VMLINUZ" -initrd "$_initrd" \
			-append "$VM_APPEND_BASE $_append ${ULOOP_VM_DEBUG:+loglevel=7 sysrq_always_enabled}"
	fi
	# no_timer_check: under TCG on a busy host the kernel's check of the
	# timer interrupt can fail and panic ("IO-APIC + timer doesn't work").
	# The kernel's own defaults otherwise, init_on_alloc=1 among them (the
	# stalls it seemed to cause were TCG's: VM_TB_SIZE above).
	# VM_QEMU_PRE: more devices, before the server's NIC (an extra NIC
	# there becomes eth0, the server's eth1).  VM_MAC: the server NIC's MAC.
	# shellcheck disable=SC2086
	set -- "$@" ${VM_QEMU_PRE:-} \
		-netdev "${VM_NETDEV:-user,id=n0,restrict=on$_pxe,guestfwd=tcp:10.0.2.100:80-cmd:nc 127.0.0.1 ${VM_HTTP_PORT:-9},guestfwd=tcp:10.0.2.100:443-cmd:nc 127.0.0.1 ${VM_HTTPS_PORT:-9}}" \
		-device "virtio-net-pci,netdev=n0${VM_MAC:+,mac=$VM_MAC}$_boot"
	# A disk is FILE, or FILE,OPTIONS (e.g. readonly=on).
	for _d in $_disk; do
		set -- "$@" -drive "file=$_d,if=virtio,format=raw"
	done
	_rc=0
	# VM_WRAP: a command QEMU runs under (ip netns exec NS: the guest's
	# network is a tap there, VM_NETDEV=tap,id=n0,...).
	# shellcheck disable=SC2086
	timeout "$VM_TIMEOUT" ${VM_WRAP:-} qemu-system-x86_64 "$@" </dev/null >"$T/$_name.qemu" 2>&1 || _rc=$?
	if [ $_rc -eq 124 ]; then
		echo "vm $_name: timed out after ${VM_TIMEOUT}s; last console lines:" >&2
		tail -n 20 "$_log" >&2
		return 124
	fi
	_res=$(sed -n 's/.*ULOOP-VM-RESULT \([0-9]*\).*/\1/p' "$_log" | tail -n 1)
	if [ -z "$_res" ]; then
		echo "vm $_name: no result (qemu exit $_rc); last console lines:" >&2
		tail -n 30 "$_log" >&2
		cat "$T/$_name.qemu" >&2
		return 1
	fi
	return "$_res"
}

ULOOP_VM_BIN=${ULOOP_VM_BIN:-$top/build/static/uloop}
[ -x "$ULOOP_VM_BIN" ] || fail "missing $ULOOP_VM_BIN (make static)"
