#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: H2; partly R2 R3 H1 H3 H4 H5 H6 H7 N1
# Against a server that misbehaves on purpose (hostile-server.py: every
# mode answers the identity probe correctly, then gets data requests
# wrong in its own way), uloop takes only exact bytes: for each mode a cat
# of a range past byte 0 and a hydrate, each with a fresh cache, must
# - exit 0 (good, flaky-5xx) or 1 (every other mode), in bounded time
#   (a server busy forever: ten timeouts);
# - name the cause in its one line "uloop: URL: cause";
# - never write a wrong byte (stdout is a prefix of the right bytes);
# - mark no block present when it failed; when it succeeded, the output
#   is the image and every present block passes check --source;
# - retry transient errors (--retries 2: 3 attempts; a busy 429 or 503
#   until the deadline, whatever --retries), fail permanent ones
#   and a changed image at once (one attempt, from the server's log), and
#   never retry sooner than a Retry-After said.
# A few modes are run over https too when openssl is there.
. "$(dirname "$0")/functions.sh"

PY=/usr/bin/python3
if [ ! -x "$PY" ]; then
	requires python3
	PY=python3
fi
here=$(cd "$(dirname "$0")" && pwd)

size=$((1048576 + 123))
off=70000 len=5000
# cat's options: one block (1: 65536-131071), one request at a time.
catopts="--offset $off --length $len --readahead 0 --connections 1 --timeout 6 --retries 2"
netopts="--timeout 6 --retries 2"

# start_server NAME [--tls CERT KEY]: sets port; log in $T/NAME.log.
start_server() {
	_n=$1
	shift
	"$PY" "$here/hostile-server.py" --size $size --dump "$T/img" "$@" \
		>"$T/$_n.port" 2>"$T/$_n.log" &
	on_exit "kill $! 2>/dev/null"
	_i=0
	while [ ! -s "$T/$_n.port" ]; do
		_i=$((_i + 1))
		[ $_i -le 100 ] || fail "server $_n did not start: $(cat "$T/$_n.log")"
		sleep 0.1
	done
	port=$(head -n 1 "$T/$_n.port")
}

start_server http
base_http=http://127.0.0.1:$port
tlsopts=""
base_https=""
if command -v openssl >/dev/null 2>&1; then
	p=$T/pki
	mkdir -p "$p"
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		>"$p/srv.ext"
	if ! { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$p/ca.key" -out "$p/ca.pem" -days 30 \
		-subj "/CN=uloop hostile test CA" 2>/dev/null &&
	    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$p/srv.key" -out "$p/srv.csr" -subj "/CN=127.0.0.1" 2>/dev/null &&
	    openssl x509 -req -in "$p/srv.csr" -CA "$p/ca.pem" -CAkey "$p/ca.key" \
		-CAcreateserial -out "$p/srv.pem" -days 30 -extfile "$p/srv.ext" \
		2>/dev/null; }; then
		fail "could not make a test certificate"
	fi
	start_server https --tls "$p/srv.pem" "$p/srv.key"
	base_https=https://127.0.0.1:$port
	tlsopts="--ca $p/ca.pem"
else
	echo "no openssl: https modes not run"
fi
[ "$(fsize "$T/img")" -eq $size ] || fail "the server dumped no image"
tail -c +$((off + 1)) "$T/img" | head -c $len >"$T/want"

# problem MSG: note a failure of this mode and go on checking.
problem() {
	echo "FAIL: $*"
	echo "$*" >>"$d/problems"
}

# blocks CACHE: its present blocks (0 if it was never created).
blocks() {
	if [ -e "$1" ]; then
		$ULOOP info "$1" --json | json_get blocks_present
	else
		echo 0
	fi
}

# one_run WHAT RC PATTERN CMD...: run CMD (stdout $d/WHAT.out, stderr
# $d/WHAT.err) and check its exit status, time, and message.
one_run() {
	_w=$1 _want_rc=$2 _pat=$3
	shift 3
	_t0=$(date +%s)
	_rc=0
	"$@" >"$d/$_w.out" 2>"$d/$_w.err" || _rc=$?
	_secs=$(($(date +%s) - _t0))
	echo "$_w: exit $_rc in ${_secs}s: $(grep -v '^{' "$d/$_w.err" | head -n 3)"
	[ "$_rc" -eq "$_want_rc" ] ||
		problem "$_w: exited $_rc, expected $_want_rc: $* ($(head -c 300 "$d/$_w.err"))"
	# A busy server (429 forever) is waited out for ten timeouts (run_mode
	# gives it --timeout 2: 20 s).
	_bound=20
	case $* in *429-forever*) _bound=30 ;; esac
	[ "$_secs" -lt $_bound ] || problem "$_w: took ${_secs}s (bound: ${_bound}s): $*"
	[ "$_want_rc" -eq 0 ] && return 0
	[ "$(wc -l <"$d/$_w.err")" -eq 1 ] ||
		problem "$_w: expected one line on stderr, got: $(cat "$d/$_w.err")"
	grep -q "^uloop: $url: " "$d/$_w.err" ||
		problem "$_w: message does not start 'uloop: $url: ': $(cat "$d/$_w.err")"
	grep -Eq -- "$_pat" "$d/$_w.err" ||
		problem "$_w: said '$(cat "$d/$_w.err")', expected /$_pat/"
}

# run_mode SCHEME MODE RC ATTEMPTS PATTERN: both runs against one mode.
# ATTEMPTS: data requests the cat must make ("-": not counted).
run_mode() {
	scheme=$1 mode=$2 want_rc=$3 pat=$5
	d=$T/$scheme-$mode
	mkdir -p "$d"
	base=$base_http
	[ "$scheme" = http ] || base=$base_https
	# shellcheck disable=SC2086
	set -- $tlsopts
	[ "$scheme" = https ] || set --

	case $mode in 429-forever) catopts="$catopts --timeout 2" netopts="$netopts --timeout 2" ;; esac
	url=$base/$mode/cat
	# shellcheck disable=SC2086
	one_run cat "$want_rc" "$pat" $ULOOP cat "$url" --cache "$d/c" --block-size 64K $catopts "$@" --stats
	# Not one wrong byte, whatever happened.
	n=$(fsize "$d/cat.out")
	if [ "$n" -gt $len ] || ! head -c "$n" "$T/want" | cmp -s - "$d/cat.out"; then
		problem "cat: wrote $n bytes that are not the image's bytes $off+$n"
	fi
	b=$(blocks "$d/c")
	if [ "$want_rc" -eq 0 ]; then
		cmp -s "$d/cat.out" "$T/want" || problem "cat: output is not the image's $off+$len"
		[ "$b" -eq 1 ] || problem "cat: $b blocks present, expected 1"
		# shellcheck disable=SC2086
		$ULOOP check "$d/c" --source "$url" $netopts "$@" >"$d/check.out" 2>&1 ||
			problem "cat: check --source failed: $(cat "$d/check.out")"
	else
		[ "$b" -eq 0 ] || problem "cat: failed, yet $b blocks are marked present"
		[ ! -e "$d/c" ] || $ULOOP check "$d/c" >"$d/check.out" 2>&1 ||
			problem "cat: the cache is inconsistent: $(cat "$d/check.out")"
	fi

	url=$base/$mode/hydrate
	# shellcheck disable=SC2086
	one_run hydrate "$want_rc" "$pat" $ULOOP hydrate "$url" --cache "$d/h" --block-size 64K \
		--no-progress $netopts "$@"
	b=$(blocks "$d/h")
	if [ "$want_rc" -eq 0 ]; then
		[ "$b" -eq 17 ] || problem "hydrate: $b blocks present, expected 17"
		if ! $ULOOP export "$d/h" "$d/exported" >"$d/export.out" 2>&1; then
			problem "hydrate: export failed: $(cat "$d/export.out")"
		elif ! cmp -s "$d/exported" "$T/img"; then
			problem "hydrate: the export is not the image"
		fi
		# shellcheck disable=SC2086
		$ULOOP check "$d/h" --source "$url" $netopts "$@" >"$d/check.out" 2>&1 ||
			problem "hydrate: check --source failed: $(cat "$d/check.out")"
	else
		[ "$b" -eq 0 ] || problem "hydrate: failed, yet $b blocks are marked present"
	fi
	: >"$d/done"
}

# MODE RC ATTEMPTS PATTERN (an ERE for grep -E)
cat >"$T/modes" <<EOF
good 0 1 .
flaky-5xx 0 3 .
200 1 1 server answered 200 to a range request \(Range not supported\)
cr-offbyone 1 1 wrong range: asked [0-9]+-[0-9]+, got Content-Range 'bytes [0-9]+-[0-9]+/$size'
cr-otherstart 1 1 wrong range: asked [0-9]+-[0-9]+, got Content-Range 'bytes [0-9]+-[0-9]+/$size'
cr-othertotal 1 1 the image is now $((size + 4096)) bytes, was $size; refusing its data
cr-star 1 1 206 with a malformed Content-Range 'bytes \*/$size'
multipart 1 1 multipart reply to a single range \(Content-Type: multipart/byteranges
short-close 1 3 giving up after 3 attempts: (short body|transfer closed with [0-9]+ bytes remaining|Failure when receiving data)
reset 1 3 giving up after 3 attempts: (Recv failure: Connection reset by peer|transfer closed with|Failure when receiving data|short body)
trickle 1 - timed out or stalled
bigheaders 1 1 response headers larger than 64 KiB
gzip 1 1 body is encoded \(Content-Encoding: gzip\); uloop never decodes
redirect-ftp 1 1 redirected \(302\) to ftp://127\.0\.0\.1/x
404 1 1 server answered 404$
416 1 1 range not satisfiable \(416\)$
412 1 1 precondition failed \(412\): the image changed on the server; refusing its data
429-forever 1 - giving up after ([4-9]|[1-9][0-9]) attempts: server answered 429 \(retry later\)
500-forever 1 3 giving up after 3 attempts: server answered 500$
etag-change 1 1 ETag is now "v2", was "v1"; refusing its data
nothing-strong 1 0 no strong ETag and no valid Last-Modified: .*; its ETag W/"v1" is weak$
dblspace 0 1 .
tab 0 1 .
twocr 1 1 malformed reply: Content-Range sent twice
trailer 1 1 malformed reply: trailer fields after the body
ra-hour 1 1 giving up after 1 attempts: server answered 503 \(Retry-After 3600 s\)
probe-ra 1 0 : giving up after 1 attempts: server answered 503 \(Retry-After 3600 s\)$
cr-padded 1 1 malformed reply: Content-Range longer than 127 bytes
longloc 1 0 malformed reply: Location longer than 2047 bytes
noloc 1 0 server answered 302 \(a redirect\) without a Location$
lm-cr 1 0 malformed reply: Last-Modified holds a control character \(0x0d\)
etag-cr 1 0 malformed reply: ETag holds a control character \(0x0d\)
lm-junk 1 0 its Last-Modified 'yesterday' is not an HTTP-date$
etag-junk 0 1 .
EOF
# Over https: the same checks for the modes where TLS changes the wire.
https_modes="good flaky-5xx short-close reset trickle cr-othertotal 200"

t0=$(date +%s)
pids=""
jobs=""
while read -r mode rc attempts pat; do
	for scheme in http https; do
		if [ "$scheme" = https ]; then
			[ -n "$base_https" ] || continue
			case " $https_modes " in *" $mode "*) ;; *) continue ;; esac
		fi
		(run_mode "$scheme" "$mode" "$rc" "$attempts" "$pat") \
			>"$T/job-$scheme-$mode.log" 2>&1 &
		pids="$pids $!"
		jobs="$jobs $scheme-$mode"
	done
done <"$T/modes"
for p in $pids; do
	wait "$p" || true
done
echo "all modes ran in $(($(date +%s) - t0))s"

failed=""
for j in $jobs; do
	scheme=${j%%-*} mode=${j#*-}
	log=$T/$scheme.log
	d=$T/$j
	echo "--- $j"
	cat "$T/job-$j.log"
	# What the server answered to the cat's data requests: those after
	# its probe, before the probe of the check that followed it.
	grep "^REQ [0-9]* [0-9.]* GET /$mode/cat " "$log" | sort -n -k 2 |
		awk '$6 == "range=bytes=0-0" { probes++; next } probes == 1 { print $9 }' |
		tr '\n' ' ' >"$d/statuses" || true
	attempts=$(awk -v m="$mode" '$1 == m { print $3 }' "$T/modes")
	got=$(wc -w <"$d/statuses")
	if [ "$attempts" != - ] && [ "$got" -ne "$attempts" ]; then
		problem "cat made $got data requests (statuses: $(cat "$d/statuses")), expected $attempts"
	fi
	if [ "$mode" = flaky-5xx ]; then
		[ "$(cat "$d/statuses")" = "503 503 206 " ] ||
			problem "cat: the server answered '$(cat "$d/statuses")', expected '503 503 206'"
		r=$(grep -v '^uloop' "$d/cat.err" | json_get retries)
		[ "${r:-0}" -gt 0 ] || problem "cat --stats counts no retries: $(cat "$d/cat.err")"
	fi
	if [ "$mode" = etag-junk ]; then
		grep -q "ignoring its ETag v1: not an entity-tag" "$d/cat.err" ||
			problem "cat: no notice of the ignored ETag: $(cat "$d/cat.err")"
	fi
	[ -e "$d/done" ] || problem "the checks stopped early (see above)"
	[ ! -e "$d/problems" ] || failed="$failed $j"
done

# Retry-After: no request for the same URL and range sooner than it said.
for scheme in http https; do
	[ -e "$T/$scheme.log" ] || continue
	awk -v s="$scheme" '$1 == "REQ" { key = s " " $5 " " $6
		if (key in ra && $3 - t[key] < ra[key] - 0.005)
			printf "%s: asked again %.3fs after \"Retry-After: %s\"\n",
				key, $3 - t[key], ra[key]
		delete ra[key]
		if ($10 ~ /^retry-after=/) { ra[key] = substr($10, 13); t[key] = $3 } }' \
		"$T/$scheme.log" >>"$T/early"
done
if [ -s "$T/early" ]; then
	echo "--- Retry-After"
	sed 's/^/FAIL: /' "$T/early"
	failed="$failed retry-after"
fi

[ -z "$failed" ] || fail "hostile modes mishandled:$failed"
echo "all $(echo "$jobs" | wc -w) mode runs ok"
