# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# distro-lib.sh - a Debian 12 root booted with uloop, through any of the
# three initramfs flavours (the standalone one, dracut, initramfs-tools),
# each checked the same way: source after lib.sh.
#
#   distro_setup              the Debian 12 root of debian-root.sh (cached)
#                             plus this file's checks as /uloop-test/run
#                             (which runs /uloop-test/setup first, where a
#                             test put one in $T/add/uloop-test),
#                             served by nginx as /debian.squashfs; a 256 MB
#                             flash ($T/flash); sets DISTRO_URL
#   distro_boot NAME INITRD APPEND [warm] [reboot]
#                             boots it (1 GB: systemd and a page cache; the
#                             disks are DISTRO_DISKS, default the flash) and
#                             checks what every flavour must do: systemd is
#                             PID 1 of Debian 12, / is an overlay on the
#                             device the daemon serves, writable (with
#                             DISTRO_ROOT=READ-WRITE: that device itself,
#                             ext4 read-write, as rd.uloop.cow makes it); the
#                             daemon is the one the initramfs started
#                             (same PID, '@' in argv[0]) and answers
#                             `uloop status`; /run/uloop/boot.json says
#                             cold or warm as it was, and sane figures.
#                             Once its checks are done the root runs
#                             `systemctl poweroff` (`systemctl reboot` with
#                             "reboot") at once, as a user would: the node
#                             goes down through uloop's
#                             /run/initramfs/shutdown, which detaches the
#                             image, the cache on the flash left clean.
#                             "warm": the whole boot, its shutdown
#                             included, fetched no image bytes (the boot
#                             before committed everything it fetched, its
#                             shutdown's reads too); its time is printed
#                             (bench/boot.sh measures speed, not a test).

# The initramfs prints "uloop: root image on DEV, daemon pid N" (the boot
# library's line, in every flavour); the root reports the PID it sees as
# "ULOOP-DISTRO: DAEMON PID N".

distro_setup() {
	requires mksquashfs mmdebstrap
	_rc=0
	_img=$(sh "$top/tests/vm/debian-root.sh") || _rc=$?
	[ "$_rc" -eq 0 ] || exit "$_rc"
	mkdir -p "$T/www" "$T/add/uloop-test"
	cat >"$T/add/uloop-test/run" <<'RUN'
#!/bin/sh
# Run by uloop-test.service (after local-fs.target), output on the console.
say() { echo "ULOOP-DISTRO: $*"; }
bad=0
no() { say "NOT OK: $*"; bad=1; }
say "UNIT REACHED at $(cut -d' ' -f1 /proc/uptime) s"
# A test's own preparation of the booted system (its files in /uloop-test).
if [ -x /uloop-test/setup ]; then /uloop-test/setup || no "/uloop-test/setup failed"; fi
[ "$(cat /proc/1/comm)" = systemd ] && say "PID1 IS SYSTEMD" || no "PID 1 is $(cat /proc/1/comm)"
. /etc/os-release
[ "$ID" = debian ] && [ "$VERSION_ID" = 12 ] && say "OS IS DEBIAN 12" || no "os-release: $PRETTY_NAME"
root=$(awk '$2 == "/" { print $3, $4 }' /proc/mounts | tail -n 1)
rootdev=$(awk '$2 == "/" { print $1 }' /proc/mounts | tail -n 1)
lowerdir=$(echo "$root" | sed -n 's/.*lowerdir=\([^,]*\).*/\1/p')
lowerdir=${lowerdir##*:}
lowerdev=$(awk -v d="$lowerdir" '$2 == d { print $1 }' /proc/mounts | tail -n 1)
state=""
for f in /run/uloop/*.json; do
	case $(cat "$f" 2>/dev/null) in *'"pid":'*) state=$(cat "$f"); break ;; esac
done
dev=$(echo "$state" | sed -n 's/.*"device":"\([^"]*\)".*/\1/p')
pid=$(echo "$state" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
say "root: $root; lower $lowerdir on $lowerdev; uloop serves $dev"
# A manifest's root: the lower layer on dm-verity over the uloop device.
case $lowerdev in /dev/dm-*)
	[ -n "$dev" ] && [ -e "/sys/block/${lowerdev#/dev/}/slaves/${dev#/dev/}" ] &&
		say "LOWER ON DM-VERITY $lowerdev OVER $dev" && lowerdev=$dev ;;
esac
case $root in
overlay\ *) [ -n "$dev" ] && [ "$lowerdev" = "$dev" ] && say "ROOT IS OVERLAY ON $dev" ||
	no "the lower layer $lowerdev is not the uloop device '$dev'" ;;
# rd.uloop.cow: the device itself, read-write.
ext4\ rw,*) [ -n "$dev" ] && [ "$rootdev" = "$dev" ] && say "ROOT IS READ-WRITE ON $dev" ||
	no "the read-write root $rootdev is not the uloop device '$dev'" ;;
*) no "/ is not an overlay: $root" ;;
esac
# What a boot before left in a persistent writable layer, then this boot's.
if [ -e /uloop-written ]; then say "FOUND WRITTEN $(cat /uloop-written)"; else say "NOTHING WRITTEN"; fi
w="w $(cat /proc/sys/kernel/random/boot_id)"
echo "$w" >/uloop-written && sync && [ "$(cat /uloop-written)" = "$w" ] && say "OVERLAY WRITABLE: $w" ||
	no "could not write /uloop-written"
if [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(head -c 1 "/proc/$pid/cmdline")" = @ ]; then
	say "DAEMON PID $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
	"/proc/$pid/exe" status | grep -q "pid $pid\$" && say "ULOOP STATUS OK" || no "uloop status"
else
	no "no root-storage uloop daemon (pid '$pid')"
fi
# The boot's figures (the boot library's, at switch_root).
if [ -r /run/uloop/boot.json ]; then say "BOOT JSON $(cat /run/uloop/boot.json)"; else no "no /run/uloop/boot.json"; fi
dmesg | grep -q "uloop: boot: " && say "BOOT LINE IN KERNEL LOG" || no "no 'uloop: boot:' line in the kernel log"
say "failed units: $(systemctl --no-legend --plain list-units --state=failed | awk '{ printf "%s ", $1 }')"
echo "ULOOP-VM-RESULT $bad"
# Straight on, as a user would: the shutdown must commit every block the
# daemon fetched (no waiting out its commit interval here).
if grep -q uloop.reboot /proc/cmdline; then systemctl reboot; else systemctl poweroff; fi
RUN
	chmod +x "$T/add/uloop-test/run"
	cp "$_img" "$T/www/debian.squashfs"
	mksquashfs "$T/add" "$T/www/debian.squashfs" -all-root -no-progress -quiet >/dev/null
	# The same root published (debian.uloop): DISTRO_VERITY_URL with
	# rd.uloop.roothash=$DISTRO_ROOTHASH boots it on dm-verity.
	"$ULOOP" publish "$T/www/debian.squashfs" "$T/www" --name debian >/dev/null ||
		fail "uloop publish of the Debian root failed"
	DISTRO_ROOTHASH=$(sed -n 's/^root-hash //p' "$T/www/debian.uloop")
	DISTRO_VERITY_URL=http://10.0.2.100/debian.uloop
	start_nginx web "$T/www"
	VM_HTTP_PORT=$web_http
	VM_MEM=1024
	# A Debian root with systemd under TCG, 4 guests on 2 cores: the
	# fresh-machine make check saw the root's test unit at 110-192 s of
	# uptime, and then its checks and poweroff ran past 300 s.  The bound
	# is for a hung boot, not a slow one.
	VM_TIMEOUT=${ULOOP_DISTRO_TIMEOUT:-600}
	truncate -s 256M "$T/flash"
	DISTRO_URL=http://10.0.2.100/debian.squashfs
}

distro_boot() {
	_n=$1 _i=$2 _a=$3 _w=${4:-} _verb=poweroff
	[ "${5:-}" = reboot ] && _verb=reboot _a="$_a uloop.reboot"
	: >"$web_log"
	_s=$(date +%s)
	_l=$T/$_n.log
	rm -f "$_l"
	# $_n.web: the requests until the root's checks are done; $_n.all: the
	# whole boot's, its shutdown's among them.
	vm_boot "$_n" "$_i" "${DISTRO_DISKS:-$T/flash}" "$_a" &
	_vm=$!
	while kill -0 "$_vm" 2>/dev/null && ! grep -aq "ULOOP-VM-RESULT" "$_l" 2>/dev/null; do
		sleep 0.2
	done
	cp "$web_log" "$T/$_n.web"
	wait "$_vm" ||
		{ grep -a -i -e ULOOP-DISTRO -e uloop -e dracut "$_l" | tail -n 40; fail "$_n: boot failed"; }
	cp "$web_log" "$T/$_n.all"
	for _want in "UNIT REACHED" "PID1 IS SYSTEMD" "OS IS DEBIAN 12" "ROOT IS ${DISTRO_ROOT:-OVERLAY} ON" \
		"OVERLAY WRITABLE" "DAEMON PID" "ULOOP STATUS OK" "BOOT JSON" "BOOT LINE IN KERNEL LOG"; do
		grep -aq "ULOOP-DISTRO: $_want" "$_l" || { tail -n 30 "$_l"; fail "$_n: no '$_want'"; }
	done
	_ipid=$(sed -n 's/.*uloop: root image on [^,]*, daemon pid \([0-9]*\).*/\1/p' "$_l" | head -n 1)
	_rpid=$(sed -n 's/.*ULOOP-DISTRO: DAEMON PID \([0-9]*\):.*/\1/p' "$_l" | head -n 1)
	[ -n "$_ipid" ] && [ "$_ipid" = "$_rpid" ] ||
		fail "$_n: the initramfs started daemon pid '$_ipid', the root has '$_rpid'"
	_unit=$(sed -n 's/.*UNIT REACHED at \([0-9.]*\) s.*/\1/p' "$_l")
	distro_boot_json "$_n" "${_w:-cold}"
	# Down through uloop's /run/initramfs/shutdown, as asked.
	if [ $_verb = reboot ]; then
		grep -aq "Reached target.*reboot.target" "$_l" && grep -aq "reboot: Restarting system" "$_l"
	else
		grep -aq "Reached target.*poweroff.target" "$_l" && grep -aq "reboot: Power down" "$_l"
	fi || { tail -n 30 "$_l"; fail "$_n: systemctl $_verb did not end the boot that way"; }
	grep -aq "uloop: shutdown: /dev/[a-z]*[0-9]* detached: cache committed" "$_l" ||
		{ grep -a -e "uloop" -e "shutdown" "$_l" | tail -n 20; fail "$_n: uloop's shutdown did not detach the image"; }
	case " $_a " in *" rd.uloop.cache=/dev/vda "*)
		"$ULOOP" info "$T/flash" --json | grep -q '"clean":true' ||
			fail "$_n: after systemctl $_verb the flash's cache is not clean: $("$ULOOP" info "$T/flash" 2>&1)" ;;
	esac
	_req=$(wc -l <"$T/$_n.web")
	_bytes=$(body_bytes "$T/$_n.web")
	_all=$(body_bytes "$T/$_n.all")
	if [ "$_w" = warm ]; then
		# The probe and the bind sample (src/bind.c) read cached ranges
		# on purpose: what follows judges the image fetches only (not
		# the kernel and initramfs a PXE boot loader fetched, /boot/).
		grep -v ' /boot/' "$T/$_n.all" >"$T/$_n.image" || :
		image_fetches "$T/$_n.image" >"$T/$_n.fetches"
		[ ! -s "$T/$_n.fetches" ] ||
			{ cat "$T/$_n.fetches"; fail "$_n: the warm boot fetched image bytes: $(body_bytes "$T/$_n.fetches") bytes in $(wc -l <"$T/$_n.fetches") requests (its shutdown's included)"; }
		# Its speed is bench/boot.sh's to measure: under TCG a guest's
		# uptime follows the host's load, so a test comparing two boots'
		# times fails on a busy host with nothing wrong (it did).
		echo "$_n: warm boot's unit at $_unit s of uptime (the boot before's at $DISTRO_PREV_UNIT s)"
	fi
	echo "$_n: ok: the unit at $_unit s of uptime, $(( $(date +%s) - _s )) s wall, $_bytes bytes in $_req requests ($_all with the shutdown), daemon pid $_ipid before and after switch_root, systemctl $_verb, cache committed"
	DISTRO_PREV_UNIT=$_unit
}

# distro_boot_json NAME MODE: the root's /run/uloop/boot.json (as it
# printed it) says MODE (cold or warm) and the figures are sane: times in
# order, bytes fetched (a cold boot some, a warm one at most the bind
# sample), hits, no profile; a warm boot's last shutdown was clean.
distro_boot_json() {
	_j=$(sed -n 's/.*ULOOP-DISTRO: BOOT JSON //p' "$T/$1.log" | tr -d '\r' | head -n 1)
	_jn() { echo "$_j" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
	_js() { echo "$_j" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
	[ "$(_js mode)" = "$2" ] || fail "$1: boot.json says mode '$(_js mode)', not $2: $_j"
	[ "$(_js profile)" = none ] || fail "$1: boot.json: profile '$(_js profile)', not none: $_j"
	awk -v a="$(_jn attach_start_s)" -v b="$(_jn attached_s)" -v r="$(_jn root_s)" \
		'BEGIN { exit !(a > 0 && b >= a && r >= b) }' || fail "$1: boot.json: times out of order: $_j"
	_fr=$(_jn fetched_root_bytes)
	if [ "$2" = warm ]; then
		[ "$(_js last_shutdown)" = clean ] || fail "$1: boot.json: the last shutdown was not clean: $_j"
		[ "$_fr" -le 65536 ] || fail "$1: boot.json: a warm boot fetched $_fr bytes: $_j"
	else
		# (The root's superblock and init's first pages: the rest of
		# the root is read after switch_root.)
		[ "$_fr" -gt 0 ] || fail "$1: boot.json: a cold boot fetched nothing by switch_root: $_j"
	fi
	[ "$(_jn hits)" -gt 0 ] || fail "$1: boot.json: no hits: $_j"
	grep -aq "uloop: boot: $2" "$T/$1.log" || fail "$1: no 'uloop: boot: $2' console line"
}

# distro_dracut OUT "MODULES": a generic (--no-hostonly) dracut image for
# $KVER with `--add uloop`, slim as dracut allows: its module list is
# MODULES (-m: no module the boot does not need), the NIC drivers are
# the guest's (virtio_net; --omit-drivers the rest of drivers/net, which
# dracut's kernel-network-modules packs whole: 40 of the image's 82 MB),
# zstd.  An admin gets the same with --hostonly on the node's hardware,
# or omit_drivers in dracut.conf.d (docs/dracut.md).  dracut is the
# machine's; its modules are copied to $T with hooks/dracut/90uloop
# beside them (dracutbasedir), so the test needs no `make install` and
# leaves /usr/lib/dracut alone.
distro_dracut() {
	requires dracut
	[ -d /usr/lib/dracut/modules.d/40network ] || { echo "requires dracut-network"; exit 77; }
	if [ ! -d "$T/dracut" ]; then
		cp -a /usr/lib/dracut "$T/dracut"
		cp -r "$top/hooks/dracut/90uloop" "$T/dracut/modules.d/"
	fi
	_omit=$(find "$KROOT/lib/modules/$KVER/kernel/drivers/net" -name '*.ko*' |
		sed 's,.*/,,; s,\.ko.*,,; s,-,_,g' | grep -v -x -e virtio_net -e net_failover -e failover |
		tr '\n' ' ')
	_s=$(date +%s)
	dracutbasedir=$T/dracut ULOOP_STATIC=$ULOOP_VM_BIN ULOOP_BOOTLIB=$top/initramfs/lib dracut --quiet --force \
		--no-hostonly --no-early-microcode --kver "$KVER" \
		--kmoddir "$KROOT/lib/modules/$KVER" -m "$2" --add uloop \
		--omit-drivers "$_omit" --compress zstd "$1" \
		>"$1.log" 2>&1 || { cat "$1.log"; fail "dracut failed"; }
	echo "dracut image ($2 + uloop): $(fsize "$1") bytes, built in $(( $(date +%s) - _s )) s"
}

# distro_itools OUT: an initramfs-tools image for $KVER with
# hooks/initramfs-tools in place, made by Debian's own mkinitramfs in a
# chroot of itools-tree.sh (initramfs-tools and dracut do not install
# side by side), MODULES=netboot (slim: the network drivers) plus
# virtio_blk for the flash.  The cached tree stays as it is: an overlay
# on $T/chroot takes the hooks, the static uloop and the kernel's
# modules (a read-only bind mount), and goes at exit.
distro_itools() {
	# The image depends only on what goes into it: the first test that
	# needs it builds it, the others (in the other lane, too) wait for
	# it and take a copy.  mkinitramfs takes minutes on a busy TCG host.
	_tree=$(sh "$top/tests/vm/itools-tree.sh") || exit $?
	_key=$( { echo "$KVER $_tree"; cat "$ULOOP_VM_BIN" "$top"/initramfs/lib/*.sh \
		"$top/tests/vm/distro-lib.sh"; find "$top/hooks/initramfs-tools" -type f | sort |
		xargs cat; } | sha256sum | cut -c1-16)
	_shared=$top/build/vm-shared/itools-$_key.img
	mkdir -p "$top/build/vm-shared"
	exec 8>"$top/build/vm-shared/itools.lock"
	flock 8
	if [ -s "$_shared" ]; then
		cp "$_shared" "$1"
		flock -u 8
		echo "initramfs-tools image (MODULES=netboot + uloop): $(fsize "$1") bytes, built by an earlier test"
		return 0
	fi
	_distro_itools_build "$1"
	rm -f "$top"/build/vm-shared/itools-*.img
	cp "$1" "$_shared.new" && mv "$_shared.new" "$_shared"
	flock -u 8
}

_distro_itools_build() {
	_c=$T/chroot
	if [ ! -d "$_c" ]; then
		mkdir -p "$_c" "$T/chroot.up" "$T/chroot.work"
		mount -t overlay -o "lowerdir=$_tree,upperdir=$T/chroot.up,workdir=$T/chroot.work" itools "$_c" ||
			fail "cannot mount an overlay on $_tree"
		on_exit "umount -R $_c"
		# hooks/initramfs-tools mirrors /usr/share/initramfs-tools.
		cp -r "$top/hooks/initramfs-tools/." "$_c/usr/share/initramfs-tools/"
		# As make install PREFIX=/usr writes it.
		sed -i 's|@LIBDIR@|/usr/lib|' "$_c/usr/share/initramfs-tools/hooks/uloop"
		mkdir -p "$_c/usr/lib/uloop" "$_c/lib/modules/$KVER"
		cp "$ULOOP_VM_BIN" "$_c/usr/lib/uloop/uloop.static"
		mkdir -p "$_c/usr/lib/uloop/initramfs/lib"
		cp "$top"/initramfs/lib/*.sh "$_c/usr/lib/uloop/initramfs/lib/"
		echo MODULES=netboot >"$_c/etc/initramfs-tools/conf.d/uloop-test"
		printf 'virtio_pci\nvirtio_blk\n' >>"$_c/etc/initramfs-tools/modules"
		# mkinitramfs checks the kernel's config for its compressor.
		mkdir -p "$_c/boot"
		cp "$KROOT/boot/config-$KVER" "$_c/boot/"
		mount --bind -o ro "$KROOT/lib/modules/$KVER" "$_c/lib/modules/$KVER"
		mount -t proc proc "$_c/proc"
	fi
	_s=$(date +%s)
	chroot "$_c" mkinitramfs -o /tmp/initrd.img "$KVER" >"$1.log" 2>&1 ||
		{ cat "$1.log"; fail "mkinitramfs failed"; }
	cp "$_c/tmp/initrd.img" "$1"
	echo "initramfs-tools image (MODULES=netboot + uloop): $(fsize "$1") bytes, built in $(( $(date +%s) - _s )) s"
}

# distro_paths PREFIX INITRD APPEND [cold]: rd.uloop.cache=SPEC:/path and
# rd.uloop.overlay=SPEC:/path, both in one ext4 filesystem on a second
# disk (LABEL=uloop-fs): a cold boot, then a warm one (with "cold": the
# cold one only).  The daemon's --cache is the file at that path (its
# command line, as the root sees it), the warm boot fetched nothing the
# cold one had (distro_boot warm: the cache file persisted and was
# used), the warm boot found the cold boot's file in the writable layer,
# and on the host the filesystem holds the cache (uloop info reads it)
# and the layer's upper/ at that path, with the last boot's file.
distro_paths() {
	_p=$1 _pi=$2 _pa=$3 _pboots="cold warm"
	[ "${4:-}" != cold ] || _pboots=cold
	truncate -s 128M "$T/fs"
	mkfs.ext4 -q -F -L uloop-fs "$T/fs"
	_pa="$_pa rd.uloop.cache=LABEL=uloop-fs:/var/cache/uloop/root.uc rd.uloop.overlay=LABEL=uloop-fs:/layers/node1"
	for _pw in $_pboots; do
		_pn=$_p-paths-$_pw
		DISTRO_DISKS="$T/flash $T/fs" distro_boot "$_pn" "$_pi" "$_pa" "$([ $_pw = warm ] && echo warm)"
		grep -aq "ULOOP-DISTRO: DAEMON PID [0-9]*: @.* --cache /run/uloop/flash/var/cache/uloop/root.uc " "$T/$_pn.log" ||
			{ grep -a -e "DAEMON PID" -e "uloop:" "$T/$_pn.log" | tail -n 20
			  fail "$_pn: the daemon's cache is not the file /var/cache/uloop/root.uc of LABEL=uloop-fs"; }
	done
	_w1=$(sed -n 's/.*ULOOP-DISTRO: OVERLAY WRITABLE: \(w [0-9a-f-]*\).*/\1/p' "$T/$_p-paths-cold.log")
	_w2=$_w1
	if [ "$_pboots" != cold ]; then
		_w2=$(sed -n 's/.*ULOOP-DISTRO: OVERLAY WRITABLE: \(w [0-9a-f-]*\).*/\1/p' "$T/$_p-paths-warm.log")
		_f2=$(sed -n 's/.*ULOOP-DISTRO: FOUND WRITTEN \(w [0-9a-f-]*\).*/\1/p' "$T/$_p-paths-warm.log")
		[ -n "$_w1" ] && [ "$_f2" = "$_w1" ] ||
			fail "$_p-paths-warm: found '$_f2' in the layer, not the cold boot's '$_w1'"
	fi
	mkdir -p "$T/fs.mnt"
	# noload: the guest powered off with it mounted (no journal replay).
	mount -o loop,ro,noload "$T/fs" "$T/fs.mnt" || fail "cannot mount the guest's filesystem"
	_info=$("$ULOOP" info "$T/fs.mnt/var/cache/uloop/root.uc" 2>&1) || _info="FAILED: $_info"
	_up=$(cat "$T/fs.mnt/layers/node1/upper/uloop-written" 2>/dev/null)
	_top=$(ls -A "$T/fs.mnt" | tr '\n' ' ')
	umount "$T/fs.mnt"
	case $_info in FAILED*) fail "$_p-paths: no uloop cache at /var/cache/uloop/root.uc: $_info (the filesystem has: $_top)" ;; esac
	# The file on a filesystem the shutdown detached lazily: closed
	# cleanly all the same (the filesystem went when the daemon did).
	echo "$_info" | grep -q "^shutdown: *clean$" ||
		fail "$_p-paths: the cache file was not closed cleanly: $_info"
	[ -n "$_w2" ] && [ "$_up" = "$_w2" ] ||
		fail "$_p-paths: /layers/node1/upper/uloop-written holds '$_up', not the last boot's '$_w2' (the filesystem has: $_top)"
	echo "$_p-paths: ok: the cache file and the layer at their paths in LABEL=uloop-fs; $(echo "$_info" | grep -i -m 1 -e fill -e present)"
}
