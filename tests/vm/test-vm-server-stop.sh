#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly N2
# The web server goes away in the middle of a session: reads of blocks not
# cached are retried, then fail with a clear I/O error (never wrong data,
# never a hang); once the server is back, reads succeed again on the same
# device.  Host and guest take turns through the serial console.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/../integ/http-functions.sh"
. "$(dirname "$0")/lib.sh"
vm_kernel

mkdir -p "$T/www"
make_image "$T/www/img" $((32 * 1024 * 1024))
start_nginx web "$T/www"
VM_HTTP_PORT=$web_http

cat >"$T/guest.sh" <<'G'
dev=$(uloop attach http://10.0.2.100/img --cache /tmp/c --timeout 6 --retries 3 --readahead 0)
dd if="$dev" of=/tmp/a bs=64k count=4 2>/dev/null && echo "FIRST READ OK"
echo "STOP-NOW"
sleep 4
start=$(date +%s)
if dd if="$dev" of=/tmp/b bs=64k count=4 skip=200 2>/tmp/err; then
	echo "UNEXPECTED SUCCESS"
else
	echo "READ FAILED after $(( $(date +%s) - start ))s: $(head -n 1 /tmp/err)"
fi
echo "START-NOW"
sleep 4
dd if="$dev" of=/tmp/b bs=64k count=4 skip=300 2>/dev/null && echo "RECOVERED"
uloop detach "$dev"
uloop check /tmp/c --source http://10.0.2.100/img >/dev/null && echo "CACHE CORRECT"
G
vm_initrd "$T/s.img" "$T/guest.sh"
vm_boot stop "$T/s.img" &
vm=$!

wait_for() {	# wait_for TEXT SECONDS
	for _ in $(seq $(( $2 * 5 ))); do
		grep -q "$1" "$T/stop.log" 2>/dev/null && return 0
		sleep 0.2
	done
	fail "guest never said '$1': $(tail -n 5 "$T/stop.log")"
}
wait_for STOP-NOW 120
kill "$(cat "$T/nginx-web/nginx.pid")"
wait_for START-NOW 120
nginx -c "$T/nginx-web/nginx.conf"
rc=0
wait $vm || rc=$?
[ $rc -eq 0 ] || { tail -n 20 "$T/stop.log"; fail "guest failed ($rc)"; }
for want in "FIRST READ OK" "READ FAILED" "RECOVERED" "CACHE CORRECT"; do
	grep -q "$want" "$T/stop.log" || { tail -n 20 "$T/stop.log"; fail "no '$want'"; }
done
grep "READ FAILED" "$T/stop.log"
