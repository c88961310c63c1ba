#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: N4; partly N1
# A boot over a bad network (N4): between the guest and nginx a relay on
# 127.0.0.1 (tests/integ/lossy-relay.py) delays every answer by 150 +- 100
# ms and, at random (5% and 2% of answers; the 3rd and the 8th for
# certain), resets a connection in the middle of an answer or stalls it
# for 25 s (a black hole).  The standalone initramfs boots the
# root from the image over it, cold; the root's init checks the sha256 of
# every file it holds (a verifying reader over a mounted filesystem).
# Pass: the root is reached, every file right, no I/O error in the kernel
# log, the relay really did reset and stall connections.  The time next to
# a boot over the plain network is printed (the catalogue's "time recorded
# against the SLA").
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
requires mksquashfs
requires python3
vm_kernel

R=$T/root
vm_data_root "$R"
vm_root_init "$R/sbin/init" <<'INIT'
echo "ROOT-INIT-REACHED"
(cd /data && sha256sum -c -s /expected) && echo "ROOT FILES OK"
dmesg | grep -c "I/O error" | sed 's/^/IOERRORS /'
dmesg | grep "I/O error\|timed out\|uloop" | head -n 5
INIT
mkdir -p "$T/www"
mksquashfs "$R" "$T/www/root.sqfs" -no-progress -quiet -all-root >/dev/null
start_nginx web "$T/www"
vm_uloop_initrd "$T/initrd"
APPEND="root=uloop:http://10.0.2.100/root.sqfs ip=dhcp rd.uloop.cache=/dev/vda"

boot() {	# boot NAME PORT: a cold boot with the server at 127.0.0.1:PORT
	VM_HTTP_PORT=$2
	rm -f "$T/flash"
	truncate -s 64M "$T/flash"
	s=$(date +%s)
	vm_boot "$1" "$T/initrd" "$T/flash" "$APPEND" || { tail -n 30 "$T/$1.log"; fail "$1: boot failed"; }
	secs=$(( $(date +%s) - s ))
	for want in ROOT-INIT-REACHED "ROOT FILES OK" "IOERRORS 0"; do
		grep -q "$want" "$T/$1.log" || { grep -a "uloop\|I/O\|IOERR\|ROOT" "$T/$1.log" | tail -n 15; fail "$1: no '$want'"; }
	done
}

boot plain "$web_http"
plain=$secs
relay=$(free_port)
python3 "$top/tests/integ/lossy-relay.py" --listen "$relay" --to "$web_http" \
	--delay 150 --jitter 100 --reset 0.05 --stall 0.02 --stall-secs 25 --seed 3 \
	--reset-at 3 --stall-at 8 \
	--log "$T/relay.log" &
rpid=$!
on_exit "kill $rpid 2>/dev/null"
for _ in $(seq 50); do [ -s "$T/relay.log" ] && break; sleep 0.1; done
boot lossy "$relay"
kill "$rpid"
wait "$rpid" 2>/dev/null || true
read -r _ conns _ answers _ resets _ stalls <"$T/relay.log"
[ "$resets" -ge 1 ] && [ "$stalls" -ge 1 ] ||
	fail "the relay did not hurt the boot (connections $conns, answers $answers, resets $resets, stalls $stalls)"
echo "lossy network: root reached, every file right, no I/O error in ${secs} s (plain: ${plain} s); relay: $conns connections, $answers answers, $resets reset, $stalls stalled 25 s"
