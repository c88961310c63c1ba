#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# peers.sh - uloop side by side with its peers (httpfs2, nbdkit's curl
# plugin + cache filter under nbdfuse, httpdirfs): one host, one run, one
# squashfs image served by nginx on 127.0.0.1, the same workloads, several
# rounds.  Every tool exposes the image as a file through FUSE; `losetup
# -r` on that file and a read-only squashfs mount give the workloads.  Each
# figure is divided by its limit measured in the same round (a local copy
# of the image on the same disk, or curl), and the table shows the median
# of those per-round ratios: 1.00 is the limit, 2.00 twice as slow.
#
#   boot-like   mount, then read a fixed sample of the image's files
#               (every BENCH_BOOT_EVERY-th by path order: the kernel
#               reads about a fifth of the image); cold: fresh cache;
#               warm: the tool stopped and restarted on the same cache.
#               Bytes fetched (nginx's access log, from the tool's start)
#               against the bytes the kernel read from the loop device.
#   sequential  dd bs=1M of the whole FUSE file; cold against `curl -o`
#               to a file on the same disk plus its fsync, warm against
#               the local copy
#   random      BENCH_READS 4 KiB reads at random offsets (the same ones
#               every time), O_DIRECT, on the loop device (randread)
#   +latency    cold boot-like through a relay adding BENCH_DELAY_MS to
#               every request (bench/delay-relay.py)
#
# Page caches are dropped before every pass; the served copy lives in a
# tmpfs, as a server's RAM would hold it.  A pass longer than BENCH_CAP
# seconds is cut and shown as "timeout"; a tool that does not start is
# shown as "failed" with the reason under the table.
#
# Environment: ULOOP (the uloop binary, default build/uloop of this tree),
# ULOOP_ATTACH_OPTS (extra attach options, e.g. "--block-size 128K"),
# BENCH_ROUNDS (3), BENCH_IMAGE_MB (450; the image is built once from
# /usr into BENCH_CACHE, default build/bench), BENCH_READS (2000),
# BENCH_CAP (300), BENCH_DELAY_MS (20), BENCH_BOOT_EVERY (20),
# BENCH_TOOLS ("uloop httpfs2 nbdkit httpdirfs"; also uloop-verity: uloop
# reading the image published with its hash tree, every fetched block
# verified: the cost of verification).  Root; installs the
# peers with apt-get when they are missing.
set -eu

ULOOP_TOP=$(cd "$(dirname "$0")/.." && pwd)
U=${ULOOP:-$ULOOP_TOP/build/uloop}
PROFILE=""	# uloop's --profile for the next start
case $U in /*) ;; *) U=$(pwd)/$U ;; esac
ULOOP_ATTACH_OPTS=${ULOOP_ATTACH_OPTS:-}
ROUNDS=${BENCH_ROUNDS:-3}
MB=${BENCH_IMAGE_MB:-450}
READS=${BENCH_READS:-2000}
CAP=${BENCH_CAP:-300}
DELAY=${BENCH_DELAY_MS:-20}
EVERY=${BENCH_BOOT_EVERY:-20}
CACHE=${BENCH_CACHE:-$ULOOP_TOP/build/bench}
case $CACHE in /*) ;; *) CACHE=$(pwd)/$CACHE ;; esac
TOOLS=${BENCH_TOOLS:-uloop httpfs2 nbdkit httpdirfs}
RR=$ULOOP_TOP/build/bench/randread
RELAY=$ULOOP_TOP/bench/delay-relay.py

[ "$(id -u)" -eq 0 ] || { echo "peers: needs root (loop devices, mounts, drop_caches)" >&2; exit 1; }
[ -x "$U" ] || { echo "peers: no uloop at $U (make, or set ULOOP)" >&2; exit 1; }
[ -x "$RR" ] || { echo "peers: no $RR (make build/bench/randread)" >&2; exit 1; }

# The peers and the tools, from the distribution, once.
need="nginx:nginx openssl:openssl curl:curl mksquashfs:squashfs-tools cpio:cpio"
need="$need losetup:mount timeout:coreutils /usr/bin/python3:python3"
need="$need httpfs2:httpfs2 httpdirfs:httpdirfs nbdkit:nbdkit nbdfuse:libnbd-bin fusermount3:fuse3"
missing=""
for pair in $need; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if [ -n "$missing" ]; then
	echo "peers: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	# shellcheck disable=SC2086
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
fi

# shellcheck disable=SC1091
. "$ULOOP_TOP/tests/integ/functions.sh"
# shellcheck disable=SC1091
. "$ULOOP_TOP/tests/integ/http-functions.sh"

: >"$T/loops"; : >"$T/pids"; : >"$T/ulodevs"; : >"$T/raw"; : >"$T/notes"
mkdir -p "$T/root"

# At exit: the squashfs mount, the loop devices, the uloop daemons, the
# other FUSE mounts, then whatever we started and the served tmpfs.
# (Registered first, so it runs after nginx is stopped.)
cleanup_all() {
	mountpoint -q "$T/root" && { umount "$T/root" 2>/dev/null || umount -l "$T/root"; }
	while read -r l; do losetup -d "$l" 2>/dev/null; done <"$T/loops"
	while read -r f; do
		"$U" detach "$f" >/dev/null 2>&1 || "$U" detach --force "$f" >/dev/null 2>&1
	done <"$T/ulodevs"
	awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	while read -r p; do kill "$p" 2>/dev/null; done <"$T/pids"
	return 0
}
on_exit cleanup_all

now() { date +%s.%N; }
sub() { echo "$1 $2" | awk '{ printf "%.3f", $2 - $1 }'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
rec() { echo "$ROUND $1 $2 $3" >>"$T/raw"; }	# rec TOOL METRIC VALUE
note() { echo "$*" >>"$T/notes"; echo "peers: $*" >&2; }
alive() {
	_s=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -n "$_s" ] && [ "$_s" != Z ]
}
reap() {	# reap PID [SECONDS]: wait for it to end, then kill -9
	_n=$((${2:-10} * 10))
	while alive "$1" && [ "$_n" -gt 0 ]; do sleep 0.1; _n=$((_n - 1)); done
	alive "$1" && kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}
logmark() { wc -l <"$LOG"; }
recf() {	# recf TOOL MARK BYTES-METRIC [REQUESTS-METRIC]: fetched since MARK
	case $P in
	*[!0-9.]*) rec "$1" "$3" "$P"; [ -z "${4:-}" ] || rec "$1" "$4" "$P"; return 0 ;;
	esac
	_fb=$(awk -v m="$2" 'NR > m { b += $NF } END { printf "%.0f", b }' "$LOG")
	_fn=$(awk -v m="$2" 'NR > m { n++ } END { print n + 0 }' "$LOG")
	rec "$1" "$3" "$_fb"
	[ -z "${4:-}" ] || rec "$1" "$4" "$_fn"
}

# --- The image, built once -------------------------------------------------
# Files of /usr (plain names only, so the lists need no quoting; none
# above a 20th of the image), a sample spread over all of it: taken in a
# fixed pseudo-random order until about MB megabytes of zstd squashfs
# (the compression ratio is guessed, then corrected from what came out);
# the boot-like list is every EVERY-th of its files in path order (every
# 20th: the kernel reads about a fifth of the image, fragments and
# metadata included).
img=$CACHE/peers-${MB}M.squashfs
if [ ! -s "$img" ]; then
	mkdir -p "$CACHE"
	echo "peers: building a $MB MB squashfs of files of /usr (once) into $img"
	find /usr -xdev -type f -size -$((MB * 1024 / 20))k -printf '%s %p\n' 2>/dev/null |
		LC_ALL=C grep -E '^[0-9]+ /usr/[A-Za-z0-9._/+@,=-]+$' | LC_ALL=C sort -k2 |
		awk 'BEGIN { srand(7) } { printf "%.9f %s\n", rand(), $0 }' | sort -k1,1 >"$T/all"
	ratio=2.5
	for attempt in 1 2 3 4; do
		awk -v want=$((MB * 1048576)) -v r="$ratio" '
			{ t += $2; print substr($3, 2); if (t >= want * r) exit }' "$T/all" |
			LC_ALL=C sort >"$T/files"
		rm -rf "$T/stage" "$img.tmp"
		mkdir "$T/stage"
		(cd / && cpio -pdml --quiet "$T/stage" <"$T/files")
		mksquashfs "$T/stage" "$img.tmp" -noappend -no-progress -quiet -all-root \
			-no-xattrs -comp zstd -Xcompression-level 8 >/dev/null
		got=$(fsize "$img.tmp")
		echo "peers: attempt $attempt: $(wc -l <"$T/files") files, $((got / 1048576)) MB"
		ok=$(awk -v g="$got" -v w=$((MB * 1048576)) 'BEGIN { print (g > 0.85 * w && g < 1.15 * w) }')
		[ "$ok" = 1 ] && break
		ratio=$(awk -v g="$got" -v w=$((MB * 1048576)) -v r="$ratio" 'BEGIN { print r * w / g }')
	done
	rm -rf "$T/stage" "$img.files"
	mv "$img.tmp" "$img"
fi
size=$(fsize "$img")
if [ ! -s "$img.files" ]; then
	_l=$(losetup -r -f --show "$img")
	echo "$_l" >>"$T/loops"
	mount -t squashfs -o ro "$_l" "$T/root"
	(cd "$T/root" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$img.files.tmp"
	umount "$T/root"
	losetup -d "$_l"
	mv "$img.files.tmp" "$img.files"
fi
list=$T/boot.list
awk -v n="$EVERY" '(NR - 1) % n == 0' "$img.files" >"$list"

# --- Servers ---------------------------------------------------------------
# The served copy in a tmpfs: dropping page caches must not make the
# server read its disk (a boot server keeps its image in RAM).
mkdir -p "$T/www"
copies=1
case " $TOOLS " in *" uloop-verity "*) copies=2 ;; esac
mount -t tmpfs -o size=$((copies * size / 1048576 + 64))m tmpfs "$T/www"
cp "$img" "$T/www/img"
# uloop-verity's: the image published with its hash tree and manifest.
case " $TOOLS " in *" uloop-verity "*)
	"$U" publish "$T/www/img" "$T/www" --name v >/dev/null || fail "uloop publish failed" ;;
esac
# nginx as packaged, one worker, sendfile; its access log ends each line
# with the body bytes sent.  httpfs2 and httpdirfs insist on
# "Accept-Ranges: bytes" in a 206, which nginx leaves out: it is added to
# the answers to a Range (uloop and curl do not look at it).
mkdir -p "$T/nginx/tmp"
chmod a+rx "$T" "$T/www"
PORT=$(free_port)
LOG=$T/nginx/access.log
cat >"$T/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 512; }
http {
	log_format peers '\$request_method \$uri \$http_range \$status \$body_bytes_sent';
	access_log $LOG peers;
	client_body_temp_path $T/nginx/tmp; proxy_temp_path $T/nginx/tmp;
	fastcgi_temp_path $T/nginx/tmp; uwsgi_temp_path $T/nginx/tmp;
	scgi_temp_path $T/nginx/tmp;
	sendfile on;
	keepalive_requests 1000000;
	map \$http_range \$peers_ar { "" ""; default bytes; }
	server { listen 127.0.0.1:$PORT; root $T/www; add_header Accept-Ranges \$peers_ar; }
}
CONF
nginx -c "$T/nginx/nginx.conf" || fail "nginx did not start: $(cat "$T/nginx/error.log")"
on_exit "kill \$(cat $T/nginx/nginx.pid) 2>/dev/null"
URL=http://127.0.0.1:$PORT/img
/usr/bin/python3 "$RELAY" "$PORT" "$DELAY" >"$T/relay.port" 2>"$T/relay.err" &
echo $! >>"$T/pids"
n=0
while [ ! -s "$T/relay.port" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
[ -s "$T/relay.port" ] || fail "the delaying relay did not start: $(cat "$T/relay.err")"
DURL=http://127.0.0.1:$(cat "$T/relay.port")/img

# --- Passes ----------------------------------------------------------------
# Each sets P (seconds, "timeout" or "failed") and, for boot, PK (bytes
# the kernel read from the loop device: the mount and the reads).
newloop() {
	_l=$(losetup -r -f --show "$1") || return 1
	echo "$_l" >>"$T/loops"
	echo "$_l"
}
dropdev() {	# dropdev LOOP: umount the image (if), detach the loop
	mountpoint -q "$T/root" && { umount "$T/root" 2>/dev/null || umount -l "$T/root"; }
	losetup -d "$1" 2>/dev/null || true
	grep -vx "$1" "$T/loops" >"$T/loops.n" || true
	mv "$T/loops.n" "$T/loops"
}
status_of() {	# status_of RC: the P of a pass that did not end well
	case $1 in 124 | 137) echo timeout ;; *) echo failed ;; esac
}
boot_pass() {	# boot_pass FILE
	P=failed PK=0
	L=$(newloop "$1") || { note "losetup on $1 failed"; return 0; }
	drop
	_k0=$(awk '{ printf "%.0f", $3 }' "/sys/block/${L#/dev/}/stat")
	_t0=$(now); _rc=0
	# shellcheck disable=SC2016	# sh -c's own arguments
	timeout -k 10 "$CAP" sh -c 'mount -t squashfs -o ro "$1" "$2" && cd "$2" && xargs cat <"$3" >/dev/null' \
		sh "$L" "$T/root" "$list" 2>"$T/pass.err" || _rc=$?
	_t1=$(now)
	PK=$(awk -v k="$_k0" '{ printf "%.0f", ($3 - k) * 512 }' "/sys/block/${L#/dev/}/stat")
	if [ $_rc -eq 0 ]; then P=$(sub "$_t0" "$_t1"); else P=$(status_of $_rc); fi
	[ $_rc -eq 0 ] || [ $_rc -eq 124 ] || note "boot pass on $1: exit $_rc: $(head -c 200 "$T/pass.err")"
	PASS_RC=$_rc
	[ $_rc -eq 0 ] && dropdev "$L"
	LAST_LOOP=$L
	return 0
}
seq_pass() {	# seq_pass FILE
	drop
	_t0=$(now); _rc=0
	timeout -k 10 "$CAP" dd if="$1" of=/dev/null bs=1M status=none 2>"$T/pass.err" || _rc=$?
	_t1=$(now)
	if [ $_rc -eq 0 ]; then P=$(sub "$_t0" "$_t1"); else P=$(status_of $_rc); fi
	[ $_rc -eq 0 ] || [ $_rc -eq 124 ] || note "sequential pass on $1: exit $_rc: $(head -c 200 "$T/pass.err")"
	PASS_RC=$_rc LAST_LOOP=""
}
rand_pass() {	# rand_pass FILE
	P=failed
	L=$(newloop "$1") || { note "losetup on $1 failed"; return 0; }
	drop
	_rc=0
	_o=$(timeout -k 10 "$CAP" "$RR" "$L" random "$READS" 4096 42 2>"$T/pass.err") || _rc=$?
	if [ $_rc -eq 0 ]; then
		P=$(echo "$_o" | sed -n 's/.*usec=\([0-9]*\).*/\1/p' | awk '{ printf "%.3f", $1 / 1e6 }')
	else
		P=$(status_of $_rc)
		[ $_rc -eq 124 ] || note "random pass on $1: exit $_rc: $(head -c 200 "$T/pass.err")"
	fi
	PASS_RC=$_rc
	[ $_rc -eq 0 ] && dropdev "$L"
	LAST_LOOP=$L
	return 0
}

# --- The tools -------------------------------------------------------------
# tool_start TOOL URL STATE: the image as a file, TF; 1 (reason in WHY)
# if it does not come up.  STATE holds the cache: the same STATE again is
# a restart on the same cache.
wait_file() {	# wait_file FILE PID...: 0 once FILE has the image's size
	_n=300
	while [ $_n -gt 0 ]; do
		[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" = "$size" ] && return 0
		for _p in $2; do alive "$_p" || return 1; done
		sleep 0.1; _n=$((_n - 1))
	done
	return 1
}
bg() {	# bg STATE NAME CMD...: start CMD in the background, log in STATE/NAME.log
	_s=$1 _nm=$2
	shift 2
	"$@" >"$_s/$_nm.log" 2>&1 &
	echo $! >"$_s/$_nm.pid"
	echo $! >>"$T/pids"
}
tool_start() {
	_tool=$1 _url=$2 S=$3
	mkdir -p "$S/mnt"
	WHY=""
	case $_tool in
	uloop|uloop-verity)
		TF=$S/dev
		# uloop-verity: the same image published (uloop publish), read
		# through its manifest: every fetched block checked.
		[ "$_tool" = uloop ] || _url=${_url%/img}/v.uloop
		# shellcheck disable=SC2086
		if ! "$U" attach "$_url" --cache "$S/cache" --transport fuse --device "$TF" \
			$ULOOP_ATTACH_OPTS ${PROFILE:+--profile "$PROFILE"} >"$S/attach.out" 2>"$S/attach.err"; then
			WHY=$(head -n 3 "$S/attach.err" | tr '\n' ' ')
			return 1
		fi
		echo "$TF" >>"$T/ulodevs"
		return 0 ;;
	httpfs2)
		TF=$S/mnt/img
		: >"$S/httpfs2.console"	# where it writes its messages
		bg "$S" httpfs2 httpfs2 -f -c "$S/httpfs2.console" "$_url" "$S/mnt" ;;
	nbdkit)
		TF=$S/mnt/img
		rm -f "$S/sock"
		# The cache filter keeps its cache in an unlinked file in TMPDIR.
		bg "$S" nbdkit env TMPDIR="$S" nbdkit -f -U "$S/sock" --filter=cache curl \
			url="$_url" cache-on-read=true
		_n=100
		while [ ! -S "$S/sock" ] && [ $_n -gt 0 ]; do
			alive "$(cat "$S/nbdkit.pid")" || break
			sleep 0.1; _n=$((_n - 1))
		done
		[ -S "$S/sock" ] || { WHY="nbdkit: $(tail -n 2 "$S/nbdkit.log" | tr '\n' ' ')"; return 1; }
		bg "$S" nbdfuse nbdfuse -r "$TF" --unix "$S/sock" ;;
	httpdirfs)
		TF=$S/mnt/img
		mkdir -p "$S/cache"
		bg "$S" httpdirfs httpdirfs -f --cache --cache-location "$S/cache" \
			--single-file-mode "$_url" "$S/mnt" ;;
	*)
		WHY="unknown tool $_tool"
		return 1 ;;
	esac
	_pids=$(cat "$S"/*.pid)
	if ! wait_file "$TF" "$_pids"; then
		WHY="$_tool: $(cat "$S"/*.log 2>/dev/null | tail -n 3 | tr '\n' ' ')"
		[ -n "${WHY#"$_tool: "}" ] || WHY="$_tool: the image did not appear as $TF"
		tool_kill "$_tool"
		return 1
	fi
	return 0
}
uloop_pid() {
	json_get pid <"/run/uloop/$(printf %s "$TF" | tr / %).json" 2>/dev/null
}
tool_stop() {	# tool_stop TOOL: unmount, let the tool end (commit its cache)
	case $1 in
	uloop|uloop-verity)
		_p=$(uloop_pid) || true
		"$U" detach "$TF" >/dev/null 2>"$S/detach.err" ||
			"$U" detach --force "$TF" >/dev/null 2>&1 || true
		[ -z "$_p" ] || reap "$_p" 30
		grep -vxF "$TF" "$T/ulodevs" >"$T/ulodevs.n" || true
		mv "$T/ulodevs.n" "$T/ulodevs" ;;
	*)
		umount "$S/mnt" 2>/dev/null || umount -l "$S/mnt" 2>/dev/null || true
		for _f in "$S"/nbdfuse.pid "$S"/httpfs2.pid "$S"/httpdirfs.pid "$S"/nbdkit.pid; do
			[ -e "$_f" ] || continue
			_p=$(cat "$_f")
			[ "$_f" = "$S/nbdkit.pid" ] && kill "$_p" 2>/dev/null
			reap "$_p" 10
			rm -f "$_f"
		done ;;
	esac
}
tool_kill() {	# tool_kill TOOL: after a timeout: end it hard, free the mounts
	case $1 in
	uloop|uloop-verity) _p=$(uloop_pid) || true; [ -z "$_p" ] || kill -9 "$_p" 2>/dev/null ;;
	*) for _f in "$S"/*.pid; do [ -e "$_f" ] && kill -9 "$(cat "$_f")" 2>/dev/null; done ;;
	esac
	sleep 1
	if [ -n "${LAST_LOOP:-}" ]; then dropdev "$LAST_LOOP"; LAST_LOOP=""; fi
	tool_stop "$1" 2>/dev/null || true
	case $1 in uloop|uloop-verity) umount -l "$TF" 2>/dev/null || true ;; esac
}
after_pass() {	# after_pass TOOL: a pass that did not end cleanly ends the tool
	[ "$PASS_RC" -eq 0 ] && return 0
	for _f in "$S"/*.log "$S"/*.console "$S"/attach.err; do
		[ -s "$_f" ] && note "  $1's ${_f##*/} ends: $(tail -c 300 "$_f" | tr -c '[:print:]' ' ')"
	done
	tool_kill "$1"
	return 1
}

# --- A round -----------------------------------------------------------------
fail_all() {	# fail_all TOOL WHY METRIC...
	_ft=$1 _w=$2
	shift 2
	note "round $ROUND: $_ft: failed: $_w"
	for _fm in "$@"; do rec "$_ft" "$_fm" failed; done
}
local_round() {
	boot_pass "$img"; rec local boot "$P"; rec local bootk "$PK"
	seq_pass "$img"; rec local seq "$P"
	rand_pass "$img"; rec local rand "$P"
	rm -f "$T/dl"; drop
	_t0=$(now)
	if curl -sf -o "$T/dl" "$URL" && sync "$T/dl"; then rec curl seq "$(sub "$_t0" "$(now)")"
	else rec curl seq failed; note "round $ROUND: curl failed"; fi
	rm -f "$T/dl"
}
tool_round() {	# tool_round TOOL
	_t=$1 _b=$T/s-$1-$ROUND
	# Boot-like, cold then warm.
	_m=$(logmark)
	if tool_start "$_t" "$URL" "$_b-boot"; then
		boot_pass "$TF"
		rec "$_t" cboot "$P"; rec "$_t" cbootk "$PK"
		recf "$_t" "$_m" cbootf cbootn
		# uloop: this cold pass's boot profile, for the delayed pass.
		[ "$_t" != uloop ] || "$U" profile "$TF" --output "$T/boot.profile" ||
			rm -f "$T/boot.profile"
		if after_pass "$_t"; then
			tool_stop "$_t"
			_m=$(logmark)
			if tool_start "$_t" "$URL" "$_b-boot"; then
				boot_pass "$TF"; rec "$_t" wboot "$P"
				recf "$_t" "$_m" wbootf
				after_pass "$_t" && tool_stop "$_t"
			else
				fail_all "$_t" "restart: $WHY" wboot wbootf
			fi
		else
			rec "$_t" wboot skipped; rec "$_t" wbootf skipped
		fi
	else
		fail_all "$_t" "$WHY" cboot cbootk cbootf cbootn wboot wbootf
	fi
	rm -rf "$_b-boot"
	# Random 4 KiB reads, cold then warm.
	if tool_start "$_t" "$URL" "$_b-rand"; then
		rand_pass "$TF"; rec "$_t" crand "$P"
		if after_pass "$_t"; then
			tool_stop "$_t"
			if tool_start "$_t" "$URL" "$_b-rand"; then
				rand_pass "$TF"; rec "$_t" wrand "$P"
				after_pass "$_t" && tool_stop "$_t"
			else
				fail_all "$_t" "restart: $WHY" wrand
			fi
		else
			rec "$_t" wrand skipped
		fi
	else
		fail_all "$_t" "$WHY" crand wrand
	fi
	rm -rf "$_b-rand"
	# Sequential, cold then warm.
	_m=$(logmark)
	if tool_start "$_t" "$URL" "$_b-seq"; then
		seq_pass "$TF"; rec "$_t" cseq "$P"
		recf "$_t" "$_m" cseqf
		if after_pass "$_t"; then
			tool_stop "$_t"
			if tool_start "$_t" "$URL" "$_b-seq"; then
				seq_pass "$TF"; rec "$_t" wseq "$P"
				after_pass "$_t" && tool_stop "$_t"
			else
				fail_all "$_t" "restart: $WHY" wseq
			fi
		else
			rec "$_t" wseq skipped
		fi
	else
		fail_all "$_t" "$WHY" cseq cseqf wseq
	fi
	rm -rf "$_b-seq"
	# Boot-like, cold, every request delayed.
	_m=$(logmark)
	if tool_start "$_t" "$DURL" "$_b-delay"; then
		boot_pass "$TF"; rec "$_t" dboot "$P"
		recf "$_t" "$_m" dbootf dbootn
		after_pass "$_t" && tool_stop "$_t"
	else
		fail_all "$_t" "$WHY" dboot dbootf dbootn
	fi
	rm -rf "$_b-delay"
	# uloop again, with the profile of its cold pass: fetched ahead of
	# the reads (docs/boot-profile.md).  Timed from the attach, as the
	# replay starts there.
	if [ "$_t" = uloop ] && [ -s "$T/boot.profile" ]; then
		_m=$(logmark)
		_t0=$(now)
		PROFILE=$T/boot.profile
		_ok=0
		tool_start "$_t" "$DURL" "$_b-pdelay" || _ok=$?
		PROFILE=""
		if [ "$_ok" -eq 0 ]; then
			boot_pass "$TF"
			case $P in [0-9]*) P=$(sub "$_t0" "$(now)") ;; esac
			rec "$_t" pdboot "$P"
			recf "$_t" "$_m" pdbootf pdbootn
			after_pass "$_t" && tool_stop "$_t"
		else
			fail_all "$_t" "$WHY" pdboot pdbootf pdbootn
		fi
		rm -rf "$_b-pdelay"
	fi
	return 0
}

# --- Report ------------------------------------------------------------------
print_round() {	# the raw figures of round $1
	awk -v r="$1" -v tools="$TOOLS" '
		$1 == r { v[$2 " " $3] = $4 }
		function mb(x) { return x ~ /^[0-9.]+$/ ? sprintf("%.1f", x / 1e6) : x }
		END {
			printf "round %s: local boot-like %s s (kernel read %s MB), seq %s s, random %s s; curl -o + fsync %s s\n",
				r, v["local boot"], mb(v["local bootk"]), v["local seq"], v["local rand"], v["curl seq"]
			printf "  %-10s %8s %8s %6s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %6s\n", "tool",
				"cboot s", "fetch MB", "reqs", "krnl MB", "wboot s", "fetch MB", "crand s", "wrand s",
				"cseq s", "fetch MB", "wseq s", "dboot s", "fetch MB", "reqs"
			n = split(tools, t, " ")
			for (i = 1; i <= n; i++) {
				k = t[i] " "
				printf "  %-10s %8s %8s %6s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %6s\n", t[i],
					v[k "cboot"], mb(v[k "cbootf"]), v[k "cbootn"], mb(v[k "cbootk"]),
					v[k "wboot"], mb(v[k "wbootf"]), v[k "crand"], v[k "wrand"],
					v[k "cseq"], mb(v[k "cseqf"]), v[k "wseq"], v[k "dboot"],
					mb(v[k "dbootf"]), v[k "dbootn"]
			}
		}' "$T/raw"
}
print_table() {
	awk -v tools="$TOOLS" -v rounds="$ROUNDS" -v delay="$DELAY" '
		{ v[$1 " " $2 " " $3] = $4 }
		function num(x) { return x ~ /^[0-9.]+$/ }
		# median over the rounds of tool/den; den is "local X", "curl X" or "self X"
		function cell(tool, m, den,   r, a, n, x, d, bad, i, j, s) {
			n = 0; bad = ""
			for (r = 1; r <= rounds; r++) {
				x = v[r " " tool " " m]
				split(den, dd, " ")
				d = v[r " " (dd[1] == "self" ? tool : dd[1]) " " dd[2]]
				if (num(x) && num(d) && d + 0 > 0) a[++n] = x / d
				else if (bad == "") bad = (num(x) ? "failed" : x)
			}
			if (n == 0) return bad == "" ? "-" : bad
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { s = a[i]; a[i] = a[j]; a[j] = s }
			s = sprintf("%.2f", n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
			if (n < rounds) s = s " (" n "/" rounds ")"
			return s
		}
		function raw(tool, m, scale,   r, a, n, i, j, s) {
			n = 0
			for (r = 1; r <= rounds; r++) if (num(v[r " " tool " " m])) a[++n] = v[r " " tool " " m]
			if (n == 0) return "-"
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { s = a[i]; a[i] = a[j]; a[j] = s }
			return sprintf(scale == 1 ? "%.0f" : "%.1f", a[int((n + 1) / 2)] / scale)
		}
		# A warm pass that fetched more than half of the cold one kept no cache.
		function nocache(tool, w, c) {
			w = raw(tool, "wbootf", 1); c = raw(tool, "cbootf", 1)
			return num(w) && num(c) && w + 0 > (c + 0) / 2 ? " (no cache)" : ""
		}
		function row(label, m, den, warm,   i) {
			printf "| %s |", label
			for (i = 1; i <= nt; i++)
				printf " %s |", cell(t[i], m, den) (warm ? nocache(t[i]) : "")
			printf "\n"
		}
		END {
			nt = split(tools, t, " ")
			printf "| metric (median of per-round ratios, %d rounds) |", rounds
			for (i = 1; i <= nt; i++) printf " %s |", t[i] == "nbdkit" ? "nbdkit curl+cache" : t[i]
			printf "\n|---|"
			for (i = 1; i <= nt; i++) printf "---|"
			printf "\n"
			row("cold boot-like time, x local disk", "cboot", "local boot", 0)
			row("cold boot-like bytes fetched, x bytes the kernel read", "cbootf", "self cbootk", 0)
			row("warm boot-like (restart on the same cache), x local", "wboot", "local boot", 1)
			row("cold sequential read, x curl -o + fsync", "cseq", "curl seq", 0)
			row("warm sequential read, x local disk", "wseq", "local seq", 1)
			printf "| 4 KiB random reads, cold / warm, x local O_DIRECT |"
			for (i = 1; i <= nt; i++)
				printf " %s / %s |", cell(t[i], "crand", "local rand"), cell(t[i], "wrand", "local rand") nocache(t[i])
			printf "\n"
			row("+" delay " ms per request: cold boot-like, x local", "dboot", "local boot", 0)
			row("+" delay " ms, with a boot profile (uloop): cold boot-like from attach, x local", "pdboot", "local boot", 0)
			printf "| (raw) cold boot-like requests |"
			for (i = 1; i <= nt; i++) printf " %s |", raw(t[i], "cbootn", 1)
			printf "\n| (raw) cold boot-like MB fetched / kernel MB read |"
			for (i = 1; i <= nt; i++) printf " %s / %s |", raw(t[i], "cbootf", 1e6), raw(t[i], "cbootk", 1e6)
			printf "\n| (raw) warm boot-like MB fetched |"
			for (i = 1; i <= nt; i++) printf " %s |", raw(t[i], "wbootf", 1e6)
			printf "\n| (raw) +" delay " ms cold boot-like requests |"
			for (i = 1; i <= nt; i++) printf " %s |", raw(t[i], "dbootn", 1)
			printf "\n| (raw) +" delay " ms with a profile: requests, MB fetched |"
			for (i = 1; i <= nt; i++) printf " %s, %s |", raw(t[i], "pdbootn", 1), raw(t[i], "pdbootf", 1e6)
			printf "\n"
		}' "$T/raw"
}

# --- Run -------------------------------------------------------------------
nfiles=$(wc -l <"$list")
echo "peers bench: $(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) cores"
echo "image: $img, $size bytes, $(wc -l <"$img.files") files; boot-like list: $nfiles files (every ${EVERY}th)"
echo "rounds $ROUNDS, random reads $READS x 4 KiB, cap ${CAP} s per pass, +${DELAY} ms relay"
echo "versions:"
echo "  uloop      $U: $("$U" --version 2>&1 | head -n 1)" \
	"(tree $(git -C "$ULOOP_TOP" rev-parse --short HEAD 2>/dev/null || echo ?))" \
	"--transport fuse $ULOOP_ATTACH_OPTS"
echo "  httpfs2    $(httpfs2 2>&1 | sed -n 's/.*Version: *\([^ ]*\).*/\1/p' | head -n 1)"
echo "  nbdkit     $(nbdkit --version 2>&1 | head -n 1), curl plugin, cache filter (cache-on-read=true); nbdfuse $(nbdfuse --version 2>&1 | head -n 1 | awk '{ print $NF }')"
echo "  httpdirfs  $(httpdirfs --version 2>&1 | head -n 1 | awk '{ print $NF }') (--cache --single-file-mode)"
echo "  nginx      $(nginx -v 2>&1 | sed 's/.*nginx\///'); $(curl --version | head -n 1 | cut -d' ' -f1-2); $(python3 --version)"
echo

start=$(now)
ROUND=1
while [ "$ROUND" -le "$ROUNDS" ]; do
	local_round
	# The tools in a rotated order each round.
	order=$(echo "$TOOLS" | awk -v r="$ROUND" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }')
	for tool in $order; do
		tool_round "$tool"
	done
	print_round "$ROUND"
	echo
	ROUND=$((ROUND + 1))
done

echo "peers bench: $(sub "$start" "$(now)") s; $MB MB-class image ($size bytes), $ROUNDS rounds"
print_table
if [ -s "$T/notes" ]; then
	echo
	echo "notes:"
	sed 's/^/  /' "$T/notes"
fi
cp "$T/raw" "$CACHE/peers-last.raw"
echo "raw figures: $CACHE/peers-last.raw"
