#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# http-fill.sh - uloop's HTTP source against curl, same nginx, same run.
#
#   fill:    cold `uloop hydrate` of a BENCH_MIB (default 640) MiB image
#            vs curl's download of the same file, over HTTP and HTTPS;
#            both write a file and flush it (uloop flushes its cache;
#            curl's output is fsync'd by dd conv=fsync in the pipe).
#            The "tmpfs" rows take the disk out: both write into a
#            tmpfs (curl -o), so the figure is the network and TLS path.
#   verified: the same image published (uloop publish) and hydrated
#            through its manifest, every block checked against the hash
#            tree (the tree's 0.8% more bytes included), against the
#            plain hydrate in the same run: the cost of verification
#            (SHA-NI where the CPU has it; ULOOP_SHA256_PORTABLE=1 too).
#   latency: 200 random 4 KiB `uloop cat` vs 200 `curl --range` of the
#            same ranges (both start a process and connect each time).
# Prints seconds, MiB/s and uloop/curl ratios (goal: fill >= 0.9x curl).
set -eu

ULOOP_TOP=$(cd "$(dirname "$0")/.." && pwd)
# The test helpers: nginx, a throwaway CA, a temp dir removed at exit.
. "$ULOOP_TOP/tests/integ/functions.sh"
. "$ULOOP_TOP/tests/integ/http-functions.sh"
U=$ULOOP_NET
MiB=${BENCH_MIB:-640}
RUNS=${RUNS:-3}

mkdir -p "$T/www"
head -c $((MiB * 1048576)) /dev/urandom >"$T/www/img"
cat "$T/www/img" >/dev/null
"$U" publish "$T/www/img" "$T/www" --name v >/dev/null || fail "uloop publish failed"
make_ca "$T/pki"
make_cert "$T/pki" localhost "DNS:localhost,IP:127.0.0.1"
start_nginx b "$T/www" "$T/pki/localhost.pem" "$T/pki/localhost.key"
CA=$T/pki/ca.pem

. "$(dirname "$0")/timing.sh"
# curl fails on an HTTP error too (-f); its status, which the pipe into
# dd drops, is kept in a file: a failed curl is not a fast one.
curl_get() {
	rm -f "$T/dl" "$T/curl.rc"
	{ curl -sf --cacert "$CA" "$1" || echo $? >"$T/curl.rc"; } |
		dd of="$T/dl" bs=1M conv=fsync status=none
	[ ! -e "$T/curl.rc" ]
}
curl_get_tmpfs() {
	rm -f "$T/ram/dl"
	curl -sf --cacert "$CA" -o "$T/ram/dl" "$1"
}
ulo_get() {	# ulo_get URL [DIR]: a cold hydrate into DIR/c (default $T)
	rm -f "${2:-$T}/c"
	"$U" hydrate "$1" --cache "${2:-$T}/c" --ca "$CA" --no-progress
}
ulo_get_portable() {
	rm -f "$T/c"
	ULOOP_SHA256_PORTABLE=1 "$U" hydrate "$1" --cache "$T/c" --ca "$CA" --no-progress
}
mbs() { echo "$MiB $1" | awk '{ printf "%.0f", $1 / $2 }'; }

printf 'http-fill: %s MiB image, nginx on 127.0.0.1, median of %s runs\n\n' "$MiB" "$RUNS"
printf '%-28s %9s %9s %9s %9s %8s\n' "fill" "curl s" "curl MB/s" "uloop s" "uloop MB/s" "ratio"
# The tmpfs rows need room for two copies of the image.
mkdir -p "$T/ram"
mount -t tmpfs -o size=$((2 * MiB + 64))m uloop-bench "$T/ram" ||
	fail "cannot mount a tmpfs for the tmpfs rows (run as root)"
on_exit "umount $T/ram"
for row in http https "http (tmpfs)" "https (tmpfs)"; do
	case $row in
	https*) url="https://localhost:$b_https/img" ;;
	*) url="http://127.0.0.1:$b_http/img" ;;
	esac
	case $row in
	*tmpfs*) cget=curl_get_tmpfs dir=$T/ram ;;
	*) cget=curl_get dir=$T ;;
	esac
	: >"$T/tc"; : >"$T/tu"
	for i in $(seq "$RUNS"); do
		timeit $cget "$url" >>"$T/tc" || fail "curl $url failed (exit $(cat "$T/curl.rc" 2>/dev/null))"
		timeit ulo_get "$url" "$dir" >>"$T/tu" || fail "uloop hydrate $url failed"
	done
	tc=$(median <"$T/tc"); tu=$(median <"$T/tu")
	printf '%-28s %9s %9s %9s %9s %8s\n' "$row" "$tc" "$(mbs "$tc")" "$tu" "$(mbs "$tu")" "$(ratio "$tc" "$tu")"
done
rm -f "$T/ram/dl" "$T/ram/c"
# Verification: plain and manifest hydrates alternate, over http.
: >"$T/tp"; : >"$T/tv"; : >"$T/tq"
for i in $(seq "$RUNS"); do
	timeit ulo_get "http://127.0.0.1:$b_http/img" >>"$T/tp" || fail "plain hydrate failed"
	timeit ulo_get "http://127.0.0.1:$b_http/v.uloop" >>"$T/tv" || fail "verified hydrate failed"
	timeit ulo_get_portable "http://127.0.0.1:$b_http/v.uloop" >>"$T/tq" ||
		fail "verified hydrate (portable SHA-256) failed"
done
tp=$(median <"$T/tp"); tv=$(median <"$T/tv"); tq=$(median <"$T/tq")
echo
printf '%-34s %9s %9s %14s\n' "verify on fetch (http hydrate)" "s" "MB/s" "x plain"
printf '%-34s %9s %9s %14s\n' "plain image" "$tp" "$(mbs "$tp")" "1.00"
printf '%-34s %9s %9s %14s\n' "manifest, every block verified" "$tv" "$(mbs "$tv")" "$(ratio "$tv" "$tp")"
printf '%-34s %9s %9s %14s\n' "the same, portable SHA-256" "$tq" "$(mbs "$tq")" "$(ratio "$tq" "$tp")"
rm -f "$T/dl" "$T/c"

# Random 4 KiB reads: one process, one connection, one range each.
awk -v n=200 -v size=$((MiB * 1048576)) 'BEGIN { srand(11); for (i = 0; i < n; i++)
	print int(rand() * (size / 4096 - 1)) * 4096 }' >"$T/offs"
url="https://localhost:$b_https/img"
s=$(now)
while read -r off; do
	curl -sf --cacert "$CA" -r "$off-$((off + 4095))" "$url" >/dev/null
done <"$T/offs"
m=$(now)
while read -r off; do
	"$U" cat "$url" --ca "$CA" --offset "$off" --length 4096 >/dev/null
done <"$T/offs"
e=$(now)
echo
printf '%-28s %9s %9s %8s\n' "random 4 KiB read (https)" "curl ms" "uloop ms" "ratio"
echo "$s $m $e" | awk '{ c = ($2 - $1) * 5; u = ($3 - $2) * 5;
	printf "%-28s %9.2f %9.2f %8.2f\n", "per read, incl. process", c, u, c / u }'
