#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly D3
# Memory pressure with the root on uloop (D3).  A Debian-kernel guest
# boots its root from nginx through the uloop initramfs (cold cache on a
# virtio disk), and in that root: a verifying reader reads every file of
# /data and checks its sha256, file after file, pass after pass (the page
# cache dropped before each), while memhog (tests/vm/memhog.c, as
# `stress-ng --vm 4 --vm-bytes 95%`) keeps 95% of the guest's RAM written
# by 4 workers through ULOOP_D3_SECS (60 s) of counted intervals,
# restarted when the OOM killer takes them.  The hung-task detector waits
# 10 s instead of 120.  Two guests at once, one initramfs: the root on
# /dev/nbd0 (rd.uloop.transport=nbd: every read goes through the daemon)
# and on /dev/uloop0 (kmod: the daemon serves the misses).
# Pass: the daemon is the initramfs's root-disk daemon (oom_score_adj
# -1000, memory locked) and is alive, same pid, at the end; it is not
# OOM-killed; reads complete in every 10 s interval of the pressure (a
# count, not a speed); no read error or wrong byte; no "blocked for more
# than" in the kernel log; the memory was really taken (memhog ran
# through every interval, its workers touched all of theirs, the OOM
# killer ran).
# Weaker than the catalogue: 60 s of pressure, not 10 minutes (TCG, CI's
# budget); ULOOP_D3_SECS=600 runs the catalogue's.  ULOOP_D3_BREAK=oom
# sets the daemon's oom_score_adj to 1000 first (the test must then fail).
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs gcc
vm_kernel
vm_uloop_ko
SECS=${ULOOP_D3_SECS:-60}
HOG=$top/build/test/memhog
[ -x "$HOG" ] || fail "missing $HOG (make test-bins)"

R=$T/root
vm_busybox_root "$R" data etc
cp -r /usr/share/doc/e* "$R/data/" 2>/dev/null
# More data than the page cache keeps under the pressure (5% of 512 MiB),
# so the reader's files keep coming back through uloop; in files of 256
# KiB at most, so that an interval without a file verified means reads
# stopped, not one long file.
mkdir -p "$R/data/random"
dd if=/dev/urandom of="$T/random" bs=1M count=24 status=none
split -b 256K -d -a 3 "$T/random" "$R/data/random/r"
( cd "$R/data" && find . -type f | sort | while read -r f; do sha256sum "$f"; done ) >"$R/expected"
cp "$HOG" "$R/bin/memhog"
echo "$SECS" >"$R/etc/d3-secs"
echo "${ULOOP_D3_BREAK:-}" >"$R/etc/d3-break"
# The init of the root.  What watches and reports runs from a copy of
# busybox on a tmpfs, so that a root that no longer reads (the failure
# looked for) still gets its verdict out.
cat >"$R/sbin/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t tmpfs tmp /tmp
# (named busybox: it takes the applet from its first argument)
mkdir /tmp/bb
cp /bin/busybox /tmp/bb/busybox
B=/tmp/bb/busybox
echo "ROOT-INIT-REACHED"
echo "root device: $($B sed -n 's|^\(/dev/[a-z0-9]*\) /run/uloop/lower .*|\1|p' /proc/mounts)"
echo 10 >/proc/sys/kernel/hung_task_timeout_secs
secs=$(cat /etc/d3-secs)
pid=$($B sed -n 's/.*"pid":\([0-9]*\).*/\1/p' /run/uloop/*.json | $B head -n 1)
echo "daemon: pid $pid, $(cat /proc/"$pid"/cmdline | tr '\0' ' '), oom_score_adj $(cat /proc/"$pid"/oom_score_adj), $(grep VmLck /proc/"$pid"/status | tr -s ' \t' ' ')"
[ -n "$pid" ] && [ "$(cat /proc/"$pid"/oom_score_adj)" = -1000 ] && echo "DAEMON OOM -1000"
grep -q "VmLck:[[:space:]]*[1-9]" /proc/"$pid"/status && echo "DAEMON MLOCKED"
if [ "$(cat /etc/d3-break)" = oom ]; then
	echo 1000 >/proc/"$pid"/oom_score_adj
	echo "BROKEN ON PURPOSE: the daemon's oom_score_adj is 1000"
fi

# The verifying reader: each verified file adds a byte to /tmp/reads.
(
	cd /data || exit 1
	while [ ! -e /tmp/stop ]; do
		echo 3 >/proc/sys/vm/drop_caches
		while read -r sum f; do
			[ -e /tmp/stop ] && break
			got=$(sha256sum "$f")
			if [ "${got%% *}" = "$sum" ]; then
				echo >>/tmp/reads
			else
				echo "READ WRONG: $f: '$got'"
				touch /tmp/bad
			fi
		done </expected
	done
) &
: >/tmp/reads
# The pressure lasts until the intervals are counted (SIGTERM), so each
# is under it whole.
/bin/memhog 95 4 $((secs * 100)) >/tmp/hog.out 2>&1 &
hog=$!
$B sleep 5
n0=$($B wc -c </tmp/reads) zero=0 k=0 minavail= nohog=0
while [ $((k * 10)) -lt "$secs" ]; do
	$B sleep 10
	k=$((k + 1))
	n=$($B wc -c </tmp/reads)
	avail=$($B sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo)
	[ -z "$minavail" ] || [ "$avail" -lt "$minavail" ] && minavail=$avail
	echo "interval $k: $((n - n0)) files verified, MemAvailable $((avail / 1024)) MiB"
	[ $((n - n0)) -gt 0 ] || zero=$((zero + 1))
	[ -d /proc/$hog ] || nohog=$((nohog + 1))
	n0=$n
done
[ $zero = 0 ] && echo "READS PROGRESSED in $k intervals"
kill $hog
wait $hog
$B cat /tmp/hog.out
touch /tmp/stop
echo "files verified: $($B wc -c </tmp/reads); lowest MemAvailable $((minavail / 1024)) MiB"
[ -r /proc/pressure/memory ] && echo "memory pressure (PSI): $($B tr '\n' ' ' </proc/pressure/memory)"
# Counted, then compared: a count that could not be made is no pass.
$B dmesg >/tmp/dmesg
ooms=$($B grep -c "Out of memory: Killed process" /tmp/dmesg)
daemon_ooms=$($B grep -c "Killed process $pid " /tmp/dmesg)
hung=$($B grep -c "blocked for more than" /tmp/dmesg)
eio=$($B grep -c "I/O error" /tmp/dmesg)
echo "OOM kills: $ooms, of the daemon: $daemon_ooms; hung tasks: $hung; I/O errors: $eio"
$B grep -E "Killed process [0-9]* \([^m]|blocked for more than|I/O error" /tmp/dmesg | $B head -n 8
[ -n "$pid" ] && [ -d "/proc/$pid" ] && $B readlink "/proc/$pid/exe" >/dev/null && echo "DAEMON ALIVE"
[ -n "$pid" ] && [ "$daemon_ooms" = 0 ] && echo "DAEMON NOT OOM-KILLED"
[ "$ooms" -gt 0 ] && [ $nohog = 0 ] && $B grep -q "memhog: .* [1-9][0-9]* full passes" /tmp/hog.out && echo "PRESSURE REAL"
[ "$hung" = 0 ] && echo "NO HUNG TASK"
[ ! -e /tmp/bad ] && [ "$eio" = 0 ] && echo "NO READ ERROR"
echo "ULOOP-VM-RESULT 0"
$B sleep 2
$B poweroff -f
INIT
chmod +x "$R/sbin/init"
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http
vm_uloop_initrd "$T/initrd" --uloop-ko "$KO"
APPEND="root=uloop:http://10.0.2.100/root.sqfs rd.uloop.cache=/dev/vda"
truncate -s 128M "$T/flash-nbd"
truncate -s 128M "$T/flash-kmod"

VM_TIMEOUT=$((SECS * 3 + 400))
vm_boot nbd "$T/initrd" "$T/flash-nbd" "$APPEND rd.uloop.transport=nbd" >"$T/nbd.out" 2>&1 &
nbd=$!
vm_boot kmod "$T/initrd" "$T/flash-kmod" "$APPEND rd.uloop.transport=kmod" >"$T/kmod.out" 2>&1 || true
wait $nbd || true
bad=0
for m in nbd kmod; do
	cat "$T/$m.out"
	grep -aE "^(root device|daemon:|interval|memhog:|files verified|memory pressure|OOM kills|BROKEN|READ WRONG)|Killed process [0-9]* \([^m]|blocked for more|I/O error" \
		"$T/$m.log" | sed "s/^/$m: /"
	dev=/dev/nbd0
	[ $m = kmod ] && dev=/dev/uloop0
	vm_expect $m "$T/$m.log" "root device: $dev" "DAEMON OOM -1000" "DAEMON MLOCKED" "READS PROGRESSED" \
		"DAEMON ALIVE" "DAEMON NOT OOM-KILLED" "PRESSURE REAL" "NO HUNG TASK" "NO READ ERROR" || bad=1
done
[ $bad = 0 ] || { tail -n 30 "$T/nbd.log" "$T/kmod.log"; fail "D3 failed"; }
echo "memory pressure: $SECS s at 95% of RAM, root reads kept progressing on nbd and kmod, the daemon kept"
