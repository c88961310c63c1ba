# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# cmdline.sh - the kernel command line of a uloop boot: the one table of
# parameters, the parser, and the checks.  Shared by the three initramfs
# flavours (the standalone /init, initramfs-tools' scripts/uloop,
# dracut's 90uloop), installed in each image as /lib/uloop/cmdline.sh;
# boot.sh does the booting with what this file read.
#
# ULOOP_PARAMS: the table, a parameter a line: "NAME FLAVOURS", FLAVOURS
#   "all" or "init" (the standalone initramfs alone: the others bring
#   their own network, shell and reboot).  The parser below takes exactly
#   these names; tests/integ/test-bootlib-params.sh checks that the parser,
#   uloop.cmdline(7) and docs/initramfs.md all agree with it.
#
# cmdline_words LINE: the words of LINE, one a line, split exactly as the
#   kernel splits its command line (next_arg() in lib/cmdline.c): at
#   blanks (space, \t \n \v \f \r and the byte 0xa0) outside double
#   quotes; a '"' opening the word or its value is dropped, and then a '"'
#   closing the word; other quotes stay ("rd.uloop.cache=LABEL=my cache"
#   and rd.uloop.cache="LABEL=my cache" are LABEL=my cache, a"b c"d is
#   itself); a value-less "--" ends the parameters (the rest is init's).
#   Each word is printed as "w" PARAM[=VALUE], or, if it holds a newline
#   (possible inside quotes), as "n" and its text up to the newline: a
#   value is one line, and never leaks a second word.
#   tests/integ/test-kcmdline.sh checks it against a C port of next_arg().
#
# uloop_parse [FILE], uloop_parse_line TEXT: reads FILE (/proc/cmdline),
#   or TEXT (dracut's getcmdline, which adds /etc/cmdline.d), and sets
#   ULOOP_URL ULOOP_CACHE ULOOP_CACHE_SIZE ULOOP_COW ULOOP_OVERLAY ULOOP_UNION ULOOP_FSTYPE
#   ULOOP_PARTITION ULOOP_TRANSPORT ULOOP_MIRRORS ULOOP_CA ULOOP_PINS ULOOP_OFFLINE
#   ULOOP_PROFILE ULOOP_HYDRATE (set: hydrate; "-": no rate given)
#   ULOOP_ROOTHASH ULOOP_VERITY (dm-verity's mode: eio, restart, panic)
#   ULOOP_DEBUG ULOOP_RESET ULOOP_OVLRO ULOOP_REBOOT_DELAY, and for the
#   standalone /init IPS BOOTIF INIT SHELL_OK BREAK; ULOOP_WARN (unknown
#   rd.uloop.* words) and ULOOP_ERR (the first empty or malformed value:
#   the parser never stops the boot itself, uloop_check reports it).
#   ULOOP_WORDS is what cmdline_words made of TEXT.
#   MIRRORS, PINS, IPS and WARN are lists, one value a line.  Values are
#   data: only ever expanded quoted, or split at newlines with globbing
#   off.  root= wins over netroot=, wherever each stands (as dracut).
#
# uloop_check: 0, or prints the first problem as one line naming the
#   parameter ("rd.uloop.fstype=xfs: not auto, ...") and returns 1.  A
#   flavour that learns the URL elsewhere (dracut's DHCP root-path) sets
#   ULOOP_URL before calling it.
#
# uloop_warnings FLAVOUR: the warning lines for unknown rd.uloop.* words,
#   and for rd.uloop.* parameters the table gives to another flavour.

NL='
'

# NAME FLAVOURS.  rd.live.overlay.* are dracut's own switches (90overlayfs),
# honoured by every flavour for a persistent rd.uloop.overlay.
ULOOP_PARAMS='root all
netroot all
rd.uloop.cache all
rd.uloop.cow all
rd.uloop.cache-size all
rd.uloop.overlay all
rd.uloop.union all
rd.uloop.fstype all
rd.uloop.partition all
rd.uloop.transport all
rd.uloop.mirror all
rd.uloop.ca all
rd.uloop.pin all
rd.uloop.offline all
rd.uloop.profile all
rd.uloop.hydrate all
rd.uloop.jitter all
rd.uloop.roothash all
rd.uloop.verity all
rd.uloop.debug all
rd.live.overlay.reset all
rd.live.overlay.readonly all
rd.uloop.reboot_delay init
ip init
BOOTIF init
init init
rd.neednet init
rd.shell init
rd.break init'

cmdline_words() {
	# Byte by byte, as octal numbers: what a shell makes of a multibyte
	# character (busybox ash takes UTF-8 whole) cannot matter, and the
	# kernel's 0xa0 (240) is found even inside one.  Each word is kept as
	# \0ooo escapes and printed with printf %b.
	_st="" _wo=$(printf '%s' "$1" | od -A n -v -t o1)
	for _b in $_wo; do
		if [ -z "$_st" ]; then
			case $_b in 011|012|013|014|015|040|240) continue ;; esac
			# A word starts; a '"' first is dropped, and opens a quote.
			_st=1 _iq="" _lq="" _e="" _p="" _v="" _n=0 _last=""
			if [ "$_b" = 042 ]; then _iq=1 _lq=1; continue; fi
		fi
		if [ -z "$_iq" ]; then
			case $_b in 011|012|013|014|015|040|240) cmdline_word || return 0; _st=""; continue ;; esac
		fi
		# The first '=' but the word's first byte splits param and value.
		if [ -z "$_e" ] && [ "$_n" -gt 0 ] && [ "$_b" = 075 ]; then
			_e=1
		elif [ -n "$_e" ]; then
			_v="$_v\\0$_b"
		else
			_p="$_p\\0$_b"
		fi
		if [ "$_b" = 042 ]; then if [ -n "$_iq" ]; then _iq=""; else _iq=1; fi; fi
		_n=$((_n + 1)) _last=$_b
	done
	[ -z "$_st" ] || cmdline_word || return 0
}

# The word cmdline_words collected, printed as the kernel reads it.
# Returns 1 for a value-less "--": the end of the parameters.
cmdline_word() {
	_z=""	# the word's last byte was dropped
	if [ -n "$_e" ]; then
		case $_v in '\0042'*)
			# A value opening with '"' loses it, and a '"' ending the word.
			_v=${_v#'\0042'}
			[ "$_last" != 042 ] || { _v=${_v%'\0042'}; _z=1; } ;;
		esac
	fi
	# A word that opened with '"' loses a '"' ending it too.
	if [ -n "$_lq" ] && [ -z "$_z" ] && [ "$_last" = 042 ]; then
		if [ -n "$_e" ]; then _v=${_v%'\0042'}; else _p=${_p%'\0042'}; fi
	fi
	[ -n "$_e" ] || [ "$_p" != '\0055\0055' ] || return 1
	_w=$_p
	[ -z "$_e" ] || _w="$_w\\0075$_v"
	case $_w in
	*'\0012'*) printf 'n%b\n' "${_w%%'\0012'*}" ;;
	*) printf 'w%b\n' "$_w" ;;
	esac
	return 0
}

# A switch given bare or =VALUE: off only for =0, =no and =off (dracut's
# getargbool).
uloop_bool() {
	case $1 in *=0|*=no|*=off) return 1 ;; esac
	return 0
}

# The first problem is the one reported: later ones would only repeat it.
uloop_err() { [ -n "$ULOOP_ERR" ] || ULOOP_ERR=$1; }

# The variables are read by boot.sh and the flavours.
# shellcheck disable=SC2034
uloop_parse_line() {
	ULOOP_URL="" ULOOP_CACHE="" ULOOP_CACHE_SIZE="" ULOOP_COW="" ULOOP_OVERLAY=tmpfs ULOOP_UNION=overlay ULOOP_FSTYPE=auto
	ULOOP_PARTITION="" ULOOP_TRANSPORT=auto ULOOP_MIRRORS="" ULOOP_CA="" ULOOP_PINS="" ULOOP_OFFLINE=""
	ULOOP_PROFILE="" ULOOP_HYDRATE="" ULOOP_ROOTHASH="" ULOOP_VERITY=eio
	ULOOP_DEBUG="" ULOOP_RESET="" ULOOP_OVLRO="" ULOOP_REBOOT_DELAY=30 ULOOP_WARN="" ULOOP_ERR=""
	ULOOP_GIVEN="" _jit=""
	IPS="" BOOTIF="" INIT=/sbin/init SHELL_OK="" BREAK=""
	_rootgiven=""
	ULOOP_WORDS=$(cmdline_words "$1")
	# A here-document, not a pipe: the loop runs in this shell, so what
	# it sets stays set.
	while IFS= read -r _a; do
		case $_a in
		n*)	# A newline inside a quoted value: refused for our names.
			_a=${_a#n}
			case ${_a%%=*} in rd.uloop.?*|rd.live.overlay.?*|root|netroot|ip|init|BOOTIF|rd.neednet|rd.shell|rd.break)
				uloop_err "${_a%%=*}: a newline in its value" ;;
			esac
			continue ;;
		esac
		_a=${_a#w}
		# An empty value (the value, not the last character: a base64
		# pin ends in '=').
		case $_a in *=*) [ -n "${_a#*=}" ] ||
			case ${_a%%=*} in rd.uloop.?*|rd.live.overlay.?*|root|netroot|ip|init|BOOTIF)
				uloop_err "$_a: empty value"; continue ;;
			esac ;;
		esac
		case $_a in rd.uloop.*) ULOOP_GIVEN="$ULOOP_GIVEN${ULOOP_GIVEN:+$NL}$_a" ;; esac
		case $_a in
		root=uloop:*) ULOOP_URL=${_a#*=uloop:} _rootgiven=1 ;;
		netroot=uloop:*) [ -n "$_rootgiven" ] || ULOOP_URL=${_a#*=uloop:} ;;
		root=*|netroot=*) ;;
		ip=*) IPS="$IPS${IPS:+$NL}${_a#ip=}" ;;
		BOOTIF=*) BOOTIF=${_a#BOOTIF=} ;;
		init=*) INIT=${_a#init=} ;;
		rd.neednet|rd.neednet=*) ;;	# the network is always needed
		rd.uloop.cache=*) ULOOP_CACHE=${_a#*=} ;;
		rd.uloop.cow=*) ULOOP_COW=${_a#*=} ;;
		rd.uloop.cache-size=*) ULOOP_CACHE_SIZE=${_a#*=} ;;
		rd.uloop.overlay=*) ULOOP_OVERLAY=${_a#*=} ;;
		rd.uloop.union=*) ULOOP_UNION=${_a#*=} ;;
		rd.uloop.fstype=*) ULOOP_FSTYPE=${_a#*=} ;;
		rd.uloop.partition=*) ULOOP_PARTITION=${_a#*=} ;;
		rd.uloop.transport=*) ULOOP_TRANSPORT=${_a#*=} ;;
		rd.uloop.mirror=http://?*|rd.uloop.mirror=https://?*)
			ULOOP_MIRRORS="$ULOOP_MIRRORS${ULOOP_MIRRORS:+$NL}${_a#*=}" ;;
		rd.uloop.mirror=*) uloop_err "$_a: not an http:// or https:// URL" ;;
		rd.uloop.ca=*) ULOOP_CA=${_a#*=} ;;
		rd.uloop.pin=sha256//?*) ULOOP_PINS="$ULOOP_PINS${ULOOP_PINS:+$NL}${_a#*=}" ;;
		rd.uloop.pin=*) uloop_err "$_a: not sha256//BASE64" ;;
		rd.uloop.offline|rd.uloop.offline=*) ULOOP_OFFLINE=""; uloop_bool "$_a" && ULOOP_OFFLINE=1 ;;
		rd.uloop.profile=none) ULOOP_PROFILE="" ;;
		rd.uloop.profile=*) ULOOP_PROFILE=${_a#*=} ;;
		rd.uloop.hydrate) ULOOP_HYDRATE=- ;;
		rd.uloop.hydrate=*) ULOOP_HYDRATE=${_a#*=} ;;
		rd.uloop.jitter=*)
			case ${_a#*=} in
			""|*[!0-9]*|??????*) uloop_err "$_a: not a number of seconds up to 86400" ;;
			*)	if [ "${_a#*=}" -le 86400 ]; then _jit=${_a#*=}
				else uloop_err "$_a: not a number of seconds up to 86400"; fi ;;
			esac ;;
		rd.uloop.roothash=*) ULOOP_ROOTHASH=${_a#*=} ;;
		rd.uloop.verity=*) ULOOP_VERITY=${_a#*=} ;;
		rd.uloop.debug|rd.uloop.debug=*) ULOOP_DEBUG=""; uloop_bool "$_a" && ULOOP_DEBUG=1 ;;
		rd.live.overlay.reset|rd.live.overlay.reset=*) ULOOP_RESET=""; uloop_bool "$_a" && ULOOP_RESET=1 ;;
		rd.live.overlay.readonly|rd.live.overlay.readonly=*) ULOOP_OVLRO=""; uloop_bool "$_a" && ULOOP_OVLRO=1 ;;
		rd.shell|rd.shell=1) SHELL_OK=1 ;;
		rd.break|rd.break=*) BREAK=1 ;;
		rd.uloop.reboot_delay=*)
			case ${_a#*=} in
			*[!0-9]*) uloop_err "$_a: not a number of seconds" ;;
			*) ULOOP_REBOOT_DELAY=${_a#*=} ;;
			esac ;;
		# A misspelt parameter would otherwise be ignored without a word.
		rd.uloop.*) ULOOP_WARN="$ULOOP_WARN${ULOOP_WARN:+$NL}$_a" ;;
		esac
	done <<EOF
$ULOOP_WORDS
EOF
	# rd.uloop.jitter=S: the background fill starts after a random 0..S
	# seconds (a rack powered on at once does not hydrate at once),
	# unless rd.uloop.hydrate says its own.
	if [ -n "$_jit" ] && [ -n "$ULOOP_HYDRATE" ]; then
		case $ULOOP_HYDRATE in
		-) ULOOP_HYDRATE=",jitter=$_jit" ;;
		*,jitter=*) ;;
		*) ULOOP_HYDRATE="$ULOOP_HYDRATE,jitter=$_jit" ;;
		esac
	fi
	return 0
}

uloop_parse() { uloop_parse_line "$(cat "${1:-/proc/cmdline}")"; }

# A tmpfs size as mount takes it: digits, then k, m, g or % at most,
# not 0 (for tmpfs, no limit at all); nothing else (no ",more,options").
uloop_size_ok() {
	case $1 in [0-9]*) ;; *) return 1 ;; esac
	_z=${1%[kKmMgG%]}
	case $_z in *[!0-9]*) return 1 ;; *[1-9]*) return 0 ;; esac
	return 1
}

# Is ULOOP_URL a manifest's (uloop publish; its path, before any query,
# ends in .uloop)?  As uloop itself decides (src/source.c).
uloop_is_manifest() {
	case ${ULOOP_URL%%[?#]*} in *.uloop) return 0 ;; esac
	return 1
}

# SPEC[:/path] names a device the way root= does.
uloop_spec_ok() {
	case ${1%%:/*} in LABEL=?*|UUID=?*|PARTUUID=?*|PARTLABEL=?*|/dev/?*) return 0 ;; esac
	return 1
}

uloop_check() {
	[ -z "$ULOOP_ERR" ] || { echo "$ULOOP_ERR"; return 1; }
	case $ULOOP_URL in
	http://?*|https://?*) ;;
	"") echo "root=: no uloop:URL given (root=uloop:https://server/root.squashfs)"; return 1 ;;
	*) echo "root=uloop:$ULOOP_URL: not an http:// or https:// URL"; return 1 ;;
	esac
	[ -z "$ULOOP_CACHE" ] || uloop_spec_ok "$ULOOP_CACHE" ||
		{ echo "rd.uloop.cache=$ULOOP_CACHE: not LABEL=, UUID=, PARTUUID=, PARTLABEL= or /dev/x[:/path]"; return 1; }
	uloop_cow_check || return 1
	[ -z "$ULOOP_CACHE_SIZE" ] || uloop_cache_size_ok "$ULOOP_CACHE_SIZE" ||
		{ echo "rd.uloop.cache-size=$ULOOP_CACHE_SIZE: not a size of at least 128K (N, Nk, Nm or Ng bytes)"; return 1; }
	case $ULOOP_OVERLAY in
	tmpfs:size=*) uloop_size_ok "${ULOOP_OVERLAY#tmpfs:size=}" ||
		{ echo "rd.uloop.overlay=$ULOOP_OVERLAY: not a size (N, Nk, Nm, Ng or N%, not 0)"; return 1; } ;;
	tmpfs|none) ;;
	*) uloop_spec_ok "$ULOOP_OVERLAY" ||
		{ echo "rd.uloop.overlay=$ULOOP_OVERLAY: not tmpfs[:size=N], none, or LABEL=/UUID=/PARTUUID=/PARTLABEL=/dev/x[:/path]"; return 1; } ;;
	esac
	case $ULOOP_UNION in overlay|aufs) ;; *) echo "rd.uloop.union=$ULOOP_UNION: not overlay or aufs"; return 1 ;; esac
	case $ULOOP_FSTYPE in auto|squashfs|erofs|ext4) ;; *) echo "rd.uloop.fstype=$ULOOP_FSTYPE: not auto, squashfs, erofs or ext4"; return 1 ;; esac
	case $ULOOP_TRANSPORT in auto|kmod|nbd|ublk) ;; *) echo "rd.uloop.transport=$ULOOP_TRANSPORT: not auto, kmod, nbd or ublk"; return 1 ;; esac
	uloop_partition_check || return 1
	# Trust anchors come from the initramfs only: a regular file, never a
	# device (a disk an attacker could write) or what a mount brought in.
	case $ULOOP_CA in
	/dev/*|/proc/*|/sys/*|/run/*|/mnt/*|/media/*|*/../*|../*)
		echo "rd.uloop.ca=$ULOOP_CA: not a file packed in the initramfs"; return 1 ;;
	esac
	[ -z "$ULOOP_CA" ] || [ -r "$ULOOP_CA" ] || { echo "rd.uloop.ca=$ULOOP_CA: no such file in the initramfs"; return 1; }
	[ -z "$ULOOP_CA" ] || [ -f "$ULOOP_CA" ] || { echo "rd.uloop.ca=$ULOOP_CA: not a file packed in the initramfs"; return 1; }
	case $ULOOP_PROFILE in
	""|http://?*|https://?*|/?*) ;;
	*) echo "rd.uloop.profile=$ULOOP_PROFILE: not an http:// or https:// URL, a /path in the initramfs, or none"; return 1 ;;
	esac
	if [ -n "$ULOOP_ROOTHASH" ]; then
		case $ULOOP_ROOTHASH in
		*[!0-9a-fA-F]*) _h="" ;;
		*) _h=$ULOOP_ROOTHASH ;;
		esac
		[ ${#_h} -eq 64 ] ||
			{ echo "rd.uloop.roothash=$ULOOP_ROOTHASH: not 64 hex digits (a SHA-256 root hash, as uloop publish prints it)"; return 1; }
		uloop_is_manifest ||
			{ echo "rd.uloop.roothash: root=uloop:$ULOOP_URL is not a manifest (NAME.uloop, written by uloop publish): only a manifest can be checked"; return 1; }
	fi
	case $ULOOP_VERITY in eio|restart|panic) ;; *) echo "rd.uloop.verity=$ULOOP_VERITY: not eio, restart or panic"; return 1 ;; esac
	case $ULOOP_HYDRATE in ""|-) ;; *)
		uloop_rate_ok "$ULOOP_HYDRATE" ||
			{ echo "rd.uloop.hydrate=$ULOOP_HYDRATE: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)"; return 1; } ;;
	esac
	return 0
}

# rd.uloop.cow=SPEC[:/path]: the root read-write on the device, its
# writes in a UML COW file (uloop attach --cow) on the flash.  What cannot
# go with it is refused here, before anything is attached: a second
# persistent layer (the overlay stays, as the fallback's RAM layer or
# none), a read-only transport (uloop.ko), a filesystem the kernel never
# writes (squashfs, erofs), a manifest (dm-verity over a device whose
# blocks were written fails them), an offline boot (uloop cannot check
# that the COW's image is still the one served).
uloop_cow_check() {
	[ -n "$ULOOP_COW" ] || return 0
	uloop_spec_ok "$ULOOP_COW" ||
		{ echo "rd.uloop.cow=$ULOOP_COW: not LABEL=, UUID=, PARTUUID=, PARTLABEL= or /dev/x[:/path]"; return 1; }
	case $ULOOP_OVERLAY in tmpfs|tmpfs:size=*|none) ;; *)
		echo "rd.uloop.cow=$ULOOP_COW: rd.uloop.overlay=$ULOOP_OVERLAY is a second persistent layer (with a COW, rd.uloop.overlay is tmpfs[:size=N] or none: the layer of a boot without it)"
		return 1 ;;
	esac
	case $ULOOP_FSTYPE in squashfs|erofs)
		echo "rd.uloop.cow=$ULOOP_COW: rd.uloop.fstype=$ULOOP_FSTYPE is never written (a COW root is mounted read-write: ext4)"
		return 1 ;;
	esac
	[ "$ULOOP_TRANSPORT" != kmod ] ||
		{ echo "rd.uloop.cow=$ULOOP_COW: rd.uloop.transport=kmod is read-only (nbd, ublk or auto)"; return 1; }
	[ -z "$ULOOP_OFFLINE" ] ||
		{ echo "rd.uloop.cow=$ULOOP_COW: not with rd.uloop.offline (the COW's image must be checked against the server)"; return 1; }
	! uloop_is_manifest ||
		{ echo "rd.uloop.cow=$ULOOP_COW: root=uloop:$ULOOP_URL is a manifest, whose root is on dm-verity, which written blocks fail (a COW needs a plain image)"; return 1; }
	return 0
}

# rd.uloop.partition=N|PARTUUID=x|PARTLABEL=x: the root filesystem is a
# partition of a whole-disk image.  N as the kernel numbers partitions
# (1 to 256, DISK_MAX_PARTS); no leading 0, which N would not be named
# as.  A manifest's root is dm-verity over the whole image, and a
# device-mapper device is never scanned for partitions: refused.
uloop_partition_check() {
	case $ULOOP_PARTITION in
	"") return 0 ;;
	PARTUUID=?*|PARTLABEL=?*) ;;
	[1-9]|[1-9][0-9]|[1-2][0-9][0-9])
		[ "$ULOOP_PARTITION" -le 256 ] ||
			{ echo "rd.uloop.partition=$ULOOP_PARTITION: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x"; return 1; } ;;
	*) echo "rd.uloop.partition=$ULOOP_PARTITION: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x"; return 1 ;;
	esac
	! uloop_is_manifest ||
		{ echo "rd.uloop.partition=$ULOOP_PARTITION: root=uloop:$ULOOP_URL is a manifest, whose root is dm-verity over the whole image (no partitions: publish the partition's filesystem as the image)"; return 1; }
	return 0
}

# N[kmg] of rd.uloop.cache-size: what uloop attach --cache-size takes,
# at least 128K (the least a compact cache is), at most 9 digits before a
# suffix (18 without), so the shell's arithmetic cannot overflow.
uloop_cache_size_ok() {
	_cn=${1%[kKmMgG]}
	case $_cn in ""|*[!0-9]*|??????????????????[0-9]*) return 1 ;; esac
	[ "$_cn" = "$1" ] || case $_cn in ??????????*) return 1 ;; esac
	_cn=$(echo "$_cn" | sed 's/^0*//')
	_cn=${_cn:-0}
	case $1 in
	*[kK]) _cn=$((_cn * 1024)) ;;
	*[mM]) _cn=$((_cn * 1048576)) ;;
	*[gG]) _cn=$((_cn * 1073741824)) ;;
	esac
	[ "$_cn" -ge 131072 ]
}

# RATE[,jitter=SECONDS] of rd.uloop.hydrate.  Nothing uloop attach
# would refuse passes (tests/fuzz/fuzz-options.c holds uloop to this):
# jitter up to 86400 s, a RATE that fits 64 bits (at most 9 digits
# before a suffix, 18 without).
uloop_rate_ok() {
	_rr=${1%%,*}
	if [ "$_rr" != "$1" ]; then
		_rj=${1#*,}
		case $_rj in jitter=[0-9]*) ;; *) return 1 ;; esac
		case ${_rj#jitter=} in *[!0-9]*|??????*) return 1 ;; esac
		[ "${_rj#jitter=}" -le 86400 ] || return 1
	fi
	case $_rr in
	max) return 0 ;;
	"") [ "$_rr" != "$1" ]; return ;;	# ",jitter=S": no limit
	esac
	case ${_rr%[kKmMgG]} in ""|*[!0-9]*) return 1 ;; esac
	case $_rr in
	*[kKmMgG]) case $_rr in ???????????*) return 1 ;; esac ;;
	*) case $_rr in ???????????????????*) return 1 ;; esac ;;
	esac
	return 0
}

# $1: the flavour ("init", or anything else for the hooks).
uloop_warnings() {
	[ -z "$ULOOP_WARN" ] || printf '%s\n' "$ULOOP_WARN" | while IFS= read -r _w; do
		echo "warning: $_w: unknown parameter, ignored"
	done
	# The standalone /init's own (the table says which): elsewhere the
	# host's initramfs decides.
	[ "$1" = init ] && return 0
	printf '%s\n' "$ULOOP_GIVEN" | while IFS= read -r _w; do
		case $NL$ULOOP_PARAMS$NL in
		*"$NL${_w%%=*} init$NL"*) echo "warning: $_w: only the standalone uloop initramfs uses it, ignored" ;;
		esac
	done
}

# The RAM tmpfs mounts' options, sizes explicit: the RAM cache at most a
# quarter of RAM (a full cache still serves, fetching what it cannot
# keep), the RAM writable layer rd.uloop.overlay=tmpfs:size=N, else half
# of RAM (tmpfs' own default, written out).
# shellcheck disable=SC2034  # read by boot.sh
ULOOP_RAM_CACHE_OPTS=mode=0700,nosuid,nodev,noexec,size=25%
uloop_layer_opts() {
	case $ULOOP_OVERLAY in
	tmpfs:size=*) echo "mode=0755,size=${ULOOP_OVERLAY#tmpfs:size=}" ;;
	*) echo "mode=0755,size=50%" ;;
	esac
}
