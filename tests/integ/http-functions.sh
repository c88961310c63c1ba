# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# http-functions.sh - real web servers for the HTTP tests; source after
# functions.sh.
#
#   free_port                   a free TCP port on 127.0.0.1
#   make_ca DIR                 DIR/ca.pem, DIR/ca.key: a throwaway CA
#   make_cert DIR NAME SAN [expired]
#                               DIR/NAME.pem + .key signed by DIR's CA;
#                               SAN like "DNS:localhost,IP:127.0.0.1"
#   pin_of CERT                 its sha256//BASE64 public-key pin
#   start_nginx NAME ROOT [CERT KEY [CLIENT_CA]]
#                               nginx serving ROOT on 127.0.0.1: sets
#                               NAME_http (port), NAME_https (if CERT),
#                               NAME_log (access log: "METHOD URI RANGE
#                               PROTOCOL CONNECTION STATUS BODY_BYTES" per
#                               line); /r/X redirects to /X, /down/X (on
#                               https) to http://.../X; killed at exit
#   nginx_with_site NAME SITE [COMMAND...]
#                               nginx with SITE (server blocks, e.g. a
#                               configs/nginx/ file rendered) in its http{},
#                               run under COMMAND (ip netns exec NS...):
#                               sets NAME_log as above; killed at exit
#   body_bytes LOG [URI]        body bytes sent (for URI), from LOG
#
# ULOOP_NET is the binary the network tests run: the static one when it
# has been built (it is what initramfs images ship), else build/uloop.
requires nginx openssl

ULOOP_NET=$ULOOP
[ -x "$top/build/static/uloop" ] && ULOOP_NET=$top/build/static/uloop

free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_ca() {
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/ca.key" -out "$1/ca.pem" -days 30 \
		-subj "/CN=uloop test CA $(basename "$1")" 2>/dev/null
}

make_cert() {
	_d=$1 _n=$2 _san=$3
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$_d/$_n.key" -out "$_d/$_n.csr" -subj "/CN=$_n" 2>/dev/null
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' \
		"$_san" >"$_d/$_n.ext"
	if [ "${4:-}" = expired ]; then
		# x509 -req has no start date: a one-file CA database does.
		mkdir -p "$_d/db.$_n"
		: >"$_d/db.$_n/index"
		cat >"$_d/db.$_n/ca.cnf" <<-CNF
		[ca]
		default_ca = t
		[t]
		database = $_d/db.$_n/index
		new_certs_dir = $_d/db.$_n
		serial = $_d/db.$_n/serial
		default_md = sha256
		policy = p
		copy_extensions = none
		[p]
		CN = supplied
		CNF
		echo 01 >"$_d/db.$_n/serial"
		openssl ca -batch -config "$_d/db.$_n/ca.cnf" -cert "$_d/ca.pem" \
			-keyfile "$_d/ca.key" -in "$_d/$_n.csr" -out "$_d/$_n.pem" \
			-startdate 20200101000000Z -enddate 20200102000000Z \
			-extfile "$_d/$_n.ext" -notext 2>/dev/null
	else
		openssl x509 -req -in "$_d/$_n.csr" -CA "$_d/ca.pem" -CAkey "$_d/ca.key" \
			-CAcreateserial -out "$_d/$_n.pem" -days 30 \
			-extfile "$_d/$_n.ext" 2>/dev/null
	fi
	[ -s "$_d/$_n.pem" ] || fail "could not make certificate $_n"
}

pin_of() {
	printf 'sha256//%s' "$(openssl x509 -in "$1" -pubkey -noout |
		openssl pkey -pubin -outform der 2>/dev/null |
		openssl dgst -sha256 -binary | base64)"
}

start_nginx() {
	_name=$1 _root=$2 _cert=${3:-} _key=${4:-} _cca=${5:-}
	_dir=$T/nginx-$_name
	mkdir -p "$_dir"
	# nginx's workers run as an unprivileged user: let them in.
	chmod a+rx "$T" "$_root"
	_http=$(free_port)
	_tls=""
	if [ -n "$_cert" ]; then
		_https=$(free_port)
		_tls="server { listen 127.0.0.1:$_https ssl http2; root $_root;
			ssl_certificate $_cert; ssl_certificate_key $_key;
			ssl_protocols ${NGINX_TLS_PROTOCOLS:-TLSv1.2 TLSv1.3};
			location /r/ { rewrite ^/r/(.*)\$ /\$1 redirect; }
			location /down/ { rewrite ^/down/(.*)\$ http://127.0.0.1:$_http/\$1 redirect; }"
		[ -n "$_cca" ] && _tls="$_tls ssl_verify_client on; ssl_client_certificate $_cca;"
		_tls="$_tls }"
		eval "${_name}_https=$_https"
	fi
	cat >"$_dir/site.conf" <<-CONF
	keepalive_requests 100000;
	server { listen 127.0.0.1:$_http; root $_root;
		location /r/ { rewrite ^/r/(.*)\$ /\$1 redirect; } }
	$_tls
	CONF
	nginx_with_site "$_name" "$_dir/site.conf"
	eval "${_name}_http=$_http"
}

# nginx_with_site NAME SITE [COMMAND...]: an nginx whose http{} holds SITE
# (server blocks: start_nginx's, or a configs/nginx/ file rendered for
# the test), its state under $T/nginx-NAME, started under COMMAND (e.g.
# ip netns exec NS); NAME_log is its access log, one request a line:
# METHOD URI RANGE PROTOCOL CONNECTION STATUS BODY-BYTES.
nginx_with_site() {
	_name=$1 _site=$2
	shift 2
	_dir=$T/nginx-$_name
	mkdir -p "$_dir/tmp"
	# nginx's workers run as an unprivileged user: let them in.
	chmod a+rx "$T"
	cat >"$_dir/nginx.conf" <<-CONF
	worker_processes 1;
	pid $_dir/nginx.pid;
	error_log $_dir/error.log;
	events { worker_connections 1024; }
	http {
		log_format ul '\$request_method \$uri \$http_range \$server_protocol \$connection \$status \$body_bytes_sent';
		access_log $_dir/access.log ul;
		client_body_temp_path $_dir/tmp; proxy_temp_path $_dir/tmp;
		fastcgi_temp_path $_dir/tmp; uwsgi_temp_path $_dir/tmp;
		scgi_temp_path $_dir/tmp;
		include $_site;
	}
	CONF
	"$@" nginx -t -q -c "$_dir/nginx.conf" 2>"$_dir/t.err" ||
		fail "nginx $_name: $_site does not load: $(cat "$_dir/t.err")"
	"$@" nginx -c "$_dir/nginx.conf" || fail "nginx $_name did not start: $(cat "$_dir/error.log")"
	on_exit "[ -e $_dir/nginx.pid ] && kill \$(cat $_dir/nginx.pid 2>/dev/null) 2>/dev/null"
	eval "${_name}_log=$_dir/access.log"
}

# config_site NAME SITE-FILE SED-SCRIPT: nginx_with_site with a
# configs/nginx/ file as an admin installs it: rendered by the sed script
# (the lines its comments say to CHANGE), nothing else touched.
config_site() {
	mkdir -p "$T/sites"
	sed "$3" "$2" >"$T/sites/$1.conf"
	nginx_with_site "$1" "$T/sites/$1.conf"
}

# nodes_at_once N URL IMAGE: N nodes hydrate URL at the same time, each
# into a cache of its own ($T/n0, $T/n1...), and each must end with
# IMAGE's bytes and no word on stderr.
nodes_at_once() {
	_i=0
	while [ $_i -lt "$1" ]; do
		$ULOOP_NET hydrate "$2" --cache "$T/n$_i" --no-progress >/dev/null 2>"$T/e$_i" &
		_i=$((_i + 1))
	done
	wait || :
	_i=0
	while [ $_i -lt "$1" ]; do
		[ -s "$T/n$_i" ] && ! grep -q . "$T/e$_i" || fail "node $_i: $(cat "$T/e$_i")"
		$ULOOP_NET export "$T/n$_i" "$T/out" && cmp -n "$(fsize "$3")" "$T/out" "$3" ||
			fail "node $_i's cache is not the image"
		_i=$((_i + 1))
	done
}

# publish_v2 V1 DIR: version 2 of the image V1 (8 KiB at block 700
# changed) published into DIR as root (version 1 there already).
publish_v2() {
	cp "$1" "$T/v2"
	head -c 8192 /dev/urandom | dd of="$T/v2" bs=4096 seek=700 conv=notrunc 2>/dev/null
	$ULOOP_NET publish "$T/v2" "$2" --name root >/dev/null || fail "publish v2"
	chmod -R a+rX "$2"
}

body_bytes() {
	awk -v uri="${2:-}" 'uri == "" || $2 == uri { n += $NF } END { printf "%.0f\n", n }' "$1"
}

# image_fetches LOG: the requests of an access log that fetched image
# blocks, i.e. all but the size probe (bytes=0-0) and the sample a kept
# cache is compared on before it serves (src/bind.c: at most 4 ranges of
# at most 4 KiB, the head among them).  A warm start prints nothing.
image_fetches() {
	awk '$3 == "bytes=0-0" { next }
		$3 ~ /^bytes=[0-9]+-[0-9]+$/ && s < 4 {
			split(substr($3, 7), r, "-")
			if (r[2] - r[1] < 4096) { s++; next }
		}
		{ print }' "$1"
}
