#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A real distribution userland boots through the uloop initramfs: a
# minimal Debian 12 (tests/vm/debian-root.sh: the essential packages and
# systemd, cached between runs) as a squashfs from nginx, root=uloop:URL,
# the cache on the node's flash.  Debian's own /sbin/init (systemd) runs
# as PID 1 and starts a unit of the image, which reports on the console:
# PID 1 is systemd, the OS is Debian 12, / is an overlay whose lower
# layer is the device the uloop daemon serves, a file written under /
# reads back, the daemon (root-storage, still running from the emptied
# initramfs) answers `uloop status`.  Cold, then warm from the same flash:
# the warm boot fetches no image bytes.  Then a clean `systemctl poweroff`:
# systemd spares the root-storage daemon and powers the node off.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires_root
requires mksquashfs mmdebstrap
vm_kernel

# The image (built once, cached); a copy gets the checks as /uloop-test
# (mksquashfs appends a new top-level directory), so the cached image does
# not change when the checks do.
rc=0
img=$(sh "$(dirname "$0")/debian-root.sh") || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"
mkdir -p "$T/www" "$T/add/uloop-test"
cat >"$T/add/uloop-test/run" <<'RUN'
#!/bin/sh
# Run by uloop-test.service (systemd, after local-fs.target); stdout is
# the console.
say() { echo "ULOOP-DEBIAN: $*"; }
bad=0
no() { say "NOT OK: $*"; bad=1; }
say "UNIT REACHED at $(cut -d' ' -f1 /proc/uptime) s of uptime"
comm=$(cat /proc/1/comm)
[ "$comm" = systemd ] && say "PID1 IS SYSTEMD ($(readlink /proc/1/exe))" || no "PID 1 is '$comm'"
. /etc/os-release
[ "$ID" = debian ] && [ "$VERSION_ID" = 12 ] && say "OS IS DEBIAN 12: $PRETTY_NAME" ||
	no "os-release: $PRETTY_NAME"
# / is the overlay, its lower layer the device the daemon serves.
root=$(awk '$2 == "/" { print $3, $4 }' /proc/mounts | tail -n 1)
lowerdir=$(echo "$root" | sed -n 's/.*lowerdir=\([^,]*\).*/\1/p')
lowerdev=$(awk -v d="$lowerdir" '$2 == d { print $1 }' /proc/mounts | tail -n 1)
state=$(cat /run/uloop/*.json 2>/dev/null | head -n 1)
dev=$(echo "$state" | sed -n 's/.*"device":"\([^"]*\)".*/\1/p')
pid=$(echo "$state" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
say "root: $root; lower $lowerdir on $lowerdev; uloop serves $dev (pid $pid)"
case $root in
overlay\ *) [ -n "$dev" ] && [ "$lowerdev" = "$dev" ] &&
	say "ROOT IS OVERLAY ON $dev" || no "the lower layer $lowerdev is not the uloop device '$dev'" ;;
*) no "/ is not an overlay: $root" ;;
esac
# Writable: a file written as root under / reads back, from the upper layer.
echo "written $$" >/uloop-written && sync && [ "$(cat /uloop-written)" = "written $$" ] &&
	[ -e /run/uloop/rw/upper/uloop-written ] && say "OVERLAY WRITABLE" ||
	no "could not write and read back /uloop-written"
# The daemon: alive, marked as root storage ('@'), and its binary (deleted
# with the initramfs, still mapped) answers uloop status.
if [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(head -c 1 "/proc/$pid/cmdline")" = @ ]; then
	say "DAEMON ALIVE pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
	"/proc/$pid/exe" status | sed 's/^/ULOOP-DEBIAN: status: /'
	"/proc/$pid/exe" status | grep -q "pid $pid\$" && say "ULOOP STATUS OK" || no "uloop status"
else
	no "no root-storage uloop daemon (pid '$pid')"
fi
say "mounts: $(awk '$2 ~ /^\/(dev|run|proc|sys)$/ { printf "%s %s %s; ", $2, $3, $4 }' /proc/mounts)"
say "systemd units failed: $(systemctl --no-legend --plain list-units --state=failed | awk '{ printf "%s ", $1 }')"
echo "ULOOP-VM-RESULT $bad"
# The daemon commits its cache every second: give it two.
sleep 2
sync
if grep -q uloop.clean /proc/cmdline; then
	# (systemctl first asks logind over D-Bus, which this image lacks: it
	# says "Failed to connect to bus" and asks PID 1 directly.)
	systemctl poweroff
else
	poweroff -f
fi
RUN
chmod +x "$T/add/uloop-test/run"
cp "$img" "$T/www/debian.squashfs"
mksquashfs "$T/add" "$T/www/debian.squashfs" -all-root -no-progress -quiet >/dev/null
echo "image: $img, $(( $(fsize "$T/www/debian.squashfs") / 1048576 )) MB"

start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
vm_uloop_initrd "$T/initrd"
truncate -s 256M "$T/flash"
# A full userland: room for systemd, the overlay's tmpfs and the page cache.
VM_MEM=1024
APPEND="root=uloop:http://10.0.2.100/debian.squashfs ip=dhcp rd.uloop.cache=/dev/vda systemd.show_status=1"

for b in cold warm clean; do
	: >"$web_log"
	s=$(date +%s)
	a=$APPEND
	[ $b = clean ] && a="$a uloop.clean"
	vm_boot "debian-$b" "$T/initrd" "$T/flash" "$a" ||
		{ grep -a ULOOP-DEBIAN "$T/debian-$b.log"; tail -n 30 "$T/debian-$b.log"; fail "$b boot failed"; }
	for want in "UNIT REACHED" "PID1 IS SYSTEMD" "OS IS DEBIAN 12" "ROOT IS OVERLAY ON" \
		"OVERLAY WRITABLE" "DAEMON ALIVE" "ULOOP STATUS OK"; do
		grep -aq "ULOOP-DEBIAN: $want" "$T/debian-$b.log" ||
			{ tail -n 30 "$T/debian-$b.log"; fail "$b: no '$want'"; }
	done
	grep -a "ULOOP-DEBIAN" "$T/debian-$b.log" | sed "s/^/$b: /"
	echo "$b boot: systemd's unit at $(sed -n 's/.*UNIT REACHED at \([0-9.]*\) s.*/\1/p' "$T/debian-$b.log") s of guest uptime, $(( $(date +%s) - s )) s wall, nginx sent $(body_bytes "$web_log") bytes in $(wc -l <"$web_log") requests"
	if [ $b = warm ]; then
		[ -z "$(image_fetches "$web_log")" ] ||
			fail "warm boot fetched image bytes: $(head -n 5 "$web_log")"
	fi
done
grep -aq "reboot: Power down" "$T/debian-clean.log" ||
	{ tail -n 30 "$T/debian-clean.log"; fail "clean: systemctl poweroff did not power the node off"; }
echo "clean: systemctl poweroff powered the node off"
