#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: D1; partly K3
# The daemon dies while its filesystem is mounted and busy (D1): a
# squashfs from nginx, mounted from the uloop device in a Debian-kernel
# guest, is read by a verifying reader (every file, over and over, each
# pass after dropping the page cache, each file's sha256 against the
# host's list), while the daemon is killed -9 at a random moment and a new
# `uloop attach` of the same image and cache takes the device over, as a
# supervisor would (0 to 1 s after the death), ULOOP_D1_ROUNDS times
# (100).  The first daemon runs as the initramfs starts it
# (/etc/initrd-release: a root-disk daemon); the successors are started
# without that file, as a supervisor in the real root would, and must
# become root-disk daemons all the same (oom_score_adj -1000, memory
# locked), since they serve the same device.  Two guests at once, one per
# transport:
#   nbd   /dev/nbd0; requests in flight on the dead daemon's sockets are
#         sent again to its successor after the driver's request timeout;
#   kmod  /dev/uloop0 (uloop.ko), 4 KiB blocks, no readahead, a cold cache:
#         misses are held in the kernel for the successor, hits are served
#         without any daemon.
# Pass, on each: every successor a root-disk daemon; no read error and no
# wrong byte in any pass; the device and the mount are there after every
# round; the reader completes a whole pass after the last round; `uloop check --source` of the cache is clean
# after a detach; dmesg holds no I/O error.  Printed: rounds, kills that
# caught requests in flight, passes and bytes verified, the guest's time.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs gcc python3
vm_kernel
vm_uloop_ko
ROUNDS=${ULOOP_D1_ROUNDS:-100}

mkdir -p "$T/www" "$T/tree"
cp -r /usr/share/doc/d* "$T/tree/" 2>/dev/null
# Incompressible data in 4 KiB squashfs blocks: the kmod guest's reads
# are 4 KiB misses, one at a time, so its cold cache fills over many
# rounds instead of in a few large reads.
dd if=/dev/urandom of="$T/tree/big1.bin" bs=1M count=8 status=none
dd if=/dev/urandom of="$T/tree/big2.bin" bs=1M count=8 status=none
mksquashfs "$T/tree" "$T/www/root.sqfs" -no-progress -quiet -comp gzip -b 4K >/dev/null
( cd "$T/tree" && find . -type f | sort | while read -r f; do sha256sum "$f"; done ) >"$T/expected"
du -sb --apparent-size "$T/tree" | cut -f1 >"$T/bytes"
echo "$ROUNDS" >"$T/rounds"
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

cat >"$T/guest.sh" <<'G'
set -u
URL=http://10.0.2.100/root.sqfs
MODE=$(cat /mode) ROUNDS=$(cat /rounds)
# The daemon as the initramfs starts it: a root-disk daemon ('@', memory
# locked, oom_score_adj -1000; uloop.ko holds its misses for ever).
touch /etc/initrd-release
if [ "$MODE" = kmod ]; then
	insmod /uloop.ko || exit 1
	DEV=/dev/uloop0 S=/sys/block/uloop0/uloop
	OPTS="--transport kmod --block-size 4K --readahead 0 --connections 2"
else
	# --timeout 2: what the dead daemon had in flight is sent again
	# after 17 s (the source's deadline + 15 s), not 75.
	DEV=/dev/nbd0
	OPTS="--transport nbd --device /dev/nbd0 --connections 2 --timeout 2"
fi
# shellcheck disable=SC2086
attach() { uloop attach $URL --cache /dev/vda $OPTS; }
pid_of() { sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "/run/uloop/${DEV#/dev/}.json"; }
# In flight: misses the driver holds or the daemon serves (kmod), or
# requests the nbd driver has sent and not seen answered.
busy() {
	if [ "$MODE" = kmod ]; then
		[ "$(cat $S/inflight)" -gt 0 ]
	else
		read -r r w </sys/block/nbd0/inflight
		[ $((r + w)) -gt 0 ]
	fi
}
there() {
	grep -q "^$DEV /mnt " /proc/mounts || return 1
	if [ "$MODE" = kmod ]; then [ -e /sys/block/uloop0 ]; else [ "$(cat /sys/block/nbd0/size)" -gt 0 ]; fi
}

dev=$(attach) || exit 1
[ "$dev" = "$DEV" ] || { echo "ATTACH GAVE $dev"; exit 1; }
mount -t squashfs -o ro "$DEV" /mnt || exit 1
pid=$(pid_of)
[ "$(cat /proc/"$pid"/oom_score_adj)" = -1000 ] && echo "ROOT DAEMON"
# The root is switched to: the successors start where there is no
# /etc/initrd-release.
rm /etc/initrd-release
rooted() {	# rooted PID: a root-disk daemon
	[ "$(cat /proc/"$1"/oom_score_adj)" = -1000 ] &&
		grep -q "VmLck:[[:space:]]*[1-9]" /proc/"$1"/status && head -c 1 /proc/"$1"/cmdline | grep -q @
}
start=$(cut -d. -f1 /proc/uptime)

# The verifying reader: every file, every pass, from the device (the page
# cache dropped first).  /tmp/after: a pass begun after the last round.
(
	p=0
	while :; do
		[ -e /tmp/after.done ] && break
		[ -e /tmp/rounds.done ] && touch /tmp/after
		echo 3 >/proc/sys/vm/drop_caches
		if (cd /mnt && sha256sum -c -s /expected.sha256 >/tmp/sum.out 2>&1); then
			p=$((p + 1))
			echo "$p" >/tmp/passes
			[ -e /tmp/after ] && touch /tmp/after.done
		else
			echo "READER FAILED in pass $((p + 1)):"
			head -n 5 /tmp/sum.out
			touch /tmp/reader.failed
			break
		fi
	done
) &
reader=$!

i=0 caught=0 gone=0 unrooted=0
while [ $i -lt "$ROUNDS" ] && [ ! -e /tmp/reader.failed ]; do
	# A random moment: 0 to 0.9 s after the last takeover.
	sleep "0.$((RANDOM % 10))"
	busy && caught=$((caught + 1))
	kill -9 "$pid"
	# The supervisor sees its child gone (the pid no longer runs uloop)...
	while [ -e "/proc/$pid/exe" ] && readlink "/proc/$pid/exe" >/dev/null 2>&1; do sleep 0.05; done
	# ... and starts the same attach again within 2 s.
	sleep "0.$((RANDOM % 10))"
	there || gone=$((gone + 1))
	new=$(attach) || { echo "ATTACH FAILED in round $((i + 1))"; break; }
	[ "$new" = "$DEV" ] || { echo "TAKEOVER GAVE $new"; break; }
	pid=$(pid_of)
	rooted "$pid" || unrooted=$((unrooted + 1))
	there || gone=$((gone + 1))
	i=$((i + 1))
done
touch /tmp/rounds.done
wait $reader
end=$(cut -d. -f1 /proc/uptime)
echo "D1 $MODE: rounds $i of $ROUNDS, in flight at the kill $caught, passes $(cat /tmp/passes 2>/dev/null || echo 0), seconds $((end - start))"
[ "$MODE" = kmod ] && echo "kernel: misses $(cat $S/misses) hits $(cat $S/hits) held $(cat $S/held) failed $(cat $S/failed)"
[ $i = "$ROUNDS" ] && echo "ROUNDS DONE"
[ ! -e /tmp/reader.failed ] && [ -e /tmp/after.done ] && echo "READER CLEAN"
[ $gone = 0 ] && echo "DEVICE THERE"
echo "successors not root-disk daemons: $unrooted"
[ $unrooted = 0 ] && echo "SUCCESSORS ROOTED"
[ "$MODE" = nbd ] || [ "$(cat $S/failed)" = 0 ] && echo "NO FAILED REQUEST"
umount /mnt
uloop detach "$DEV" && uloop check /dev/vda --source $URL && echo "CACHE CLEAN"
bad="I/O error|SQUASHFS error|critical (target|medium)|WARNING:|BUG:|Oops|Call Trace"
dmesg | grep -E "$bad" | head -n 5
dmesg | grep -qE "$bad" || echo "DMESG CLEAN"
echo "driver lines in dmesg: $(dmesg | grep -cE "nbd0|uloop0"), of which timed out: $(dmesg | grep -c "timed out")"
G

# The kmod guest's misses go through a relay that delays each answer by
# 30 +- 20 ms, as a real network does: its cold cache then fills over the
# rounds, not in the first seconds, and kills keep catching misses in
# flight (after that its reads are hits, served with no daemon at all).
relay=$(free_port)
python3 "$top/tests/integ/lossy-relay.py" --listen "$relay" --to "$web_http" \
	--delay 30 --jitter 20 --log "$T/relay.log" &
rpid=$!
on_exit "kill $rpid 2>/dev/null"
truncate -s 128M "$T/flash-nbd"
truncate -s 128M "$T/flash-kmod"
for m in nbd kmod; do
	echo "$m" >"$T/mode-$m"
	vm_initrd "$T/$m.img" "$T/guest.sh" "$T/expected:/expected.sha256" "$KO:/uloop.ko" \
		"$T/mode-$m:/mode" "$T/rounds:/rounds"
done
s=$(date +%s)
# About 2-3 s a round under TCG, in each guest, and a cold pass of the
# kmod guest after the last round.
VM_TIMEOUT=$((ROUNDS * 10 + 600))
VM_MEM=768 vm_boot nbd "$T/nbd.img" "$T/flash-nbd" >"$T/nbd.out" 2>&1 &
nbd=$!
VM_HTTP_PORT=$relay VM_MEM=768 vm_boot kmod "$T/kmod.img" "$T/flash-kmod" >"$T/kmod.out" 2>&1 || true
wait $nbd || true
echo "wall time, both guests: $(( $(date +%s) - s )) s; $(cat "$T/bytes") bytes a pass"
bad=0
for m in nbd kmod; do
	cat "$T/$m.out"
	grep -aE "^(D1|kernel:|READER|ATTACH|TAKEOVER|driver lines|successors)" "$T/$m.log" || true
	passes=$(sed -n 's/^D1 .* passes \([0-9]*\),.*/\1/p' "$T/$m.log")
	echo "$m: bytes verified $(( ${passes:-0} * $(cat "$T/bytes") ))"
	vm_expect $m "$T/$m.log" "ROOT DAEMON" "SUCCESSORS ROOTED" "ROUNDS DONE" "READER CLEAN" \
		"DEVICE THERE" "NO FAILED REQUEST" "CACHE CLEAN" "DMESG CLEAN" || bad=1
done
[ $bad = 0 ] || { tail -n 30 "$T/nbd.log" "$T/kmod.log"; fail "D1 failed"; }
