#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# configs/squid/uloop-cache-tier.conf, as shipped but for its CHANGE
# lines (and where this test keeps Squid's pid, logs and cache), in
# front of configs/nginx/uloop-origin.conf, both on 127.0.0.1:
#
#   1. four nodes at once through Squid get the right bytes; the origin
#      sends the version whole, once (Squid caches whole files); a fifth
#      node costs it nothing but the manifest's revalidation
#   2. a new version is seen through Squid at once (the manifest is
#      revalidated), and its files are fetched once
set -eu
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/http-functions.sh"
requires_root
requires nginx squid
CONF=$(cd "$(dirname "$0")/../../configs" && pwd)
U=$ULOOP_NET
D=$T/origin-root
mkdir -p "$D"
chmod a+rx "$D"

op=$(free_port)
config_site origin "$CONF/nginx/uloop-origin.conf" "s|listen 80;|listen 127.0.0.1:$op;|; s|root /srv/uloop;|root $D;|"
olog=$origin_log
origin_bytes() { awk '$2 !~ /\.uloop$/ { n += $NF } END { print n + 0 }' "$olog"; }

sp=$(free_port)
S=$T/squid
mkdir -p "$S/cache" "$S/log"
chmod -R a+rwx "$S"
{
	sed -e "s|^http_port 3128 accel defaultsite=origin.example.org|http_port 127.0.0.1:$sp accel defaultsite=127.0.0.1:$op|" \
		-e "s|^cache_peer origin.example.org parent 80 |cache_peer 127.0.0.1 parent $op |" \
		-e "s|^cache_dir aufs /var/spool/squid-uloop 50000 |cache_dir aufs $S/cache 500 |" \
		-e "s|^coredump_dir .*|coredump_dir $S|" -e "s|^cache_mem 512 MB|cache_mem 32 MB|" \
		"$CONF/squid/uloop-cache-tier.conf"
	echo "pid_filename $S/squid.pid"
	echo "access_log stdio:$S/log/access.log"
	echo "cache_log $S/log/cache.log"
	echo "cache_store_log none"
	echo "shutdown_lifetime 0 seconds"
} >"$S/squid.conf"
grep -q "^http_port 127.0.0.1:$sp " "$S/squid.conf" && grep -q "^cache_peer 127.0.0.1 parent $op " "$S/squid.conf" &&
	grep -q "^cache_dir aufs $S/cache " "$S/squid.conf" || fail "the shipped squid config's CHANGE lines moved"
squid -k parse -f "$S/squid.conf" >"$S/parse.log" 2>&1 || fail "squid does not take the config: $(tail -n 5 "$S/parse.log")"
squid -z -N -f "$S/squid.conf" >"$S/z.log" 2>&1 || fail "squid -z: $(tail -n 5 "$S/z.log")"
squid -f "$S/squid.conf" || fail "squid did not start: $(tail -n 5 "$S/log/cache.log")"
squid_stop() {
	_p=$(cat "$S/squid.pid" 2>/dev/null) || return 0
	squid -k shutdown -f "$S/squid.conf" >/dev/null 2>&1
	_i=0
	while kill -0 "$_p" 2>/dev/null && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill -9 "$_p" 2>/dev/null
	pkill -9 -f "squid.* -f $S/squid.conf" 2>/dev/null
	return 0
}
on_exit squid_stop
tier="http://127.0.0.1:$sp"
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$tier/")" != 000 ]; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "squid does not answer: $(tail -n 5 "$S/log/cache.log")"
	sleep 0.2
done

make_image "$T/v1" $((6 * 1024 * 1024 + 12288))
$U publish "$T/v1" "$D" --name root >/dev/null || fail "publish v1"
chmod -R a+rX "$D"
size1=$(fsize "$D/root-1.img")
tree1=$(fsize "$D/root-1.verity")
: >"$olog"

# 1. Four nodes at once.
nodes_at_once 4 "$tier/root.uloop" "$D/root-1.img"
once=$(origin_bytes)
echo "4 nodes at once through Squid: the origin sent $once bytes (image $size1, tree $tree1)"
[ "$once" -le $((size1 + tree1)) ] || fail "the origin sent $once bytes for 4 nodes: $(cat "$olog")"
$U hydrate "$tier/root.uloop" --cache "$T/n4" --no-progress >/dev/null || fail "node 4"
[ "$(origin_bytes)" = "$once" ] || fail "a fifth node cost the origin $(($(origin_bytes) - once)) bytes"
grep -q ' /root.uloop .* 304 \| /root.uloop .* 200 ' "$olog" || fail "the manifest was not asked of the origin: $(cat "$olog")"
echo "ok: the origin sends each version once"

# 2. Version 2: seen at once, its files fetched once.
publish_v2 "$T/v1" "$D"
: >"$olog"
$U hydrate "$tier/root.uloop" --cache "$T/n0" --no-progress >/dev/null 2>"$T/e" || fail "v2 through Squid: $(cat "$T/e")"
$U export "$T/n0" "$T/out" && cmp -n "$(fsize "$D/root-2.img")" "$T/out" "$D/root-2.img" ||
	fail "node 0 is not version 2: Squid served a stale manifest? $(cat "$T/e")"
$U hydrate "$tier/root.uloop" --cache "$T/n1" --no-progress >/dev/null 2>"$T/e" || fail "v2, node 1: $(cat "$T/e")"
v2=$(origin_bytes)
echo "v2 through Squid for 2 nodes: the origin sent $v2 bytes"
[ "$v2" -le $(($(fsize "$D/root-2.img") + $(fsize "$D/root-2.verity") + 3 * 65536)) ] ||
	fail "v2 cost the origin $v2 bytes: $(cat "$olog")"
echo "ok: a new version is seen at once through Squid, its files fetched once"
