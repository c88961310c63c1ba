# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# cmdline.sh - the kernel command line of the uloop initramfs, and the
# root daemon's start.
#
# cmdline_words LINE: the words of LINE, one a line, split as the kernel
# splits its command line: at blanks, except inside double quotes, which
# are dropped (rd.uloop.cache="LABEL=my cache" is one word, its value
# LABEL=my cache).  A newline always separates.
#
# cmdline_parse [FILE]: reads FILE (/proc/cmdline) and sets URL, IPS,
# BOOTIF, INIT, CACHE, OVERLAY, UNION, FSTYPE, TRANSPORT, MIRRORS, CA,
# PINS, OFFLINE, DEBUG, SHELL_OK, BREAK, REBOOT_DELAY, WARN.  MIRRORS,
# PINS, IPS and WARN are lists, one value a line.  Values are data: they
# are only ever expanded quoted, or split at newlines with globbing off.
# Calls fail (from /init) for an empty value or a mirror that is no URL.
#
# root_attach: `uloop attach` of URL with the cache CACHEPATH ("" for
# none) and the options, in an environment of PATH alone (the kernel
# hands unknown NAME=value words of its command line to init as its
# environment: ULOOP_* and the like must not reach the root daemon).
# Its stderr goes to $ATTACH_ERR; prints the device.

NL='
'

cmdline_words() {
	_r=$1 _w="" _q="" _h=""
	while [ -n "$_r" ]; do
		_t=${_r#?}
		_c=${_r%"$_t"}
		_r=$_t
		case $_c in
		'"') if [ -n "$_q" ]; then _q=""; else _q=1; fi; _h=1 ;;
		"$NL") [ -z "$_h" ] || printf '%s\n' "$_w"; _w="" _h="" ;;
		' '|'	')
			if [ -n "$_q" ]; then _w=$_w$_c
			else [ -z "$_h" ] || printf '%s\n' "$_w"; _w="" _h=""; fi ;;
		*) _w=$_w$_c _h=1 ;;
		esac
	done
	[ -z "$_h" ] || printf '%s\n' "$_w"
}

# The variables are read by /init.
# shellcheck disable=SC2034
cmdline_parse() {
	URL="" IPS="" BOOTIF="" INIT=/sbin/init CACHE="" OVERLAY=tmpfs UNION=overlay FSTYPE=auto
	TRANSPORT=auto MIRRORS="" CA="" PINS="" OFFLINE="" DEBUG="" SHELL_OK="" BREAK="" WARN=""
	REBOOT_DELAY=30
	_rootgiven=""
	_cl=$(cat "${1:-/proc/cmdline}")
	# A here-document, not a pipe: the loop runs in this shell, so what
	# it sets stays set.
	while IFS= read -r arg; do
		# An empty rd.uloop.X= (its value, not its last character: a
		# base64 pin ends in '=').
		case $arg in rd.uloop.?*=*) [ -n "${arg#*=}" ] || fail "${arg%%=*}=: empty value" ;; esac
		case $arg in
		root=|netroot=|ip=|init=|BOOTIF=) fail "${arg%=}=: empty value" ;;
		# root= wins over netroot=, wherever each stands (as with dracut).
		root=uloop:*) URL=${arg#*=uloop:} _rootgiven=1 ;;
		netroot=uloop:*) [ -n "$_rootgiven" ] || URL=${arg#*=uloop:} ;;
		root=*|netroot=*) ;;
		ip=*) IPS="$IPS${IPS:+$NL}${arg#ip=}" ;;
		BOOTIF=*) BOOTIF=${arg#BOOTIF=} ;;
		init=*) INIT=${arg#init=} ;;
		rd.neednet|rd.neednet=*) ;;	# the network is always needed
		rd.uloop.cache=*) CACHE=${arg#*=} ;;
		rd.uloop.overlay=*) OVERLAY=${arg#*=} ;;
		rd.uloop.union=*) UNION=${arg#*=} ;;
		rd.uloop.fstype=*) FSTYPE=${arg#*=} ;;
		rd.uloop.transport=*) TRANSPORT=${arg#*=} ;;
		rd.uloop.mirror=http://*|rd.uloop.mirror=https://*) MIRRORS="$MIRRORS${MIRRORS:+$NL}${arg#*=}" ;;
		rd.uloop.mirror=*) fail "$arg: not an http:// or https:// URL" ;;
		rd.uloop.ca=*) CA=${arg#*=} ;;
		rd.uloop.pin=*) PINS="$PINS${PINS:+$NL}${arg#*=}" ;;
		# Switches: off only for =0, =no and =off (dracut's getargbool).
		rd.uloop.offline=0|rd.uloop.offline=no|rd.uloop.offline=off) OFFLINE="" ;;
		rd.uloop.offline|rd.uloop.offline=*) OFFLINE=1 ;;
		rd.uloop.debug=0|rd.uloop.debug=no|rd.uloop.debug=off) DEBUG="" ;;
		rd.uloop.debug|rd.uloop.debug=*) DEBUG=1 ;;
		rd.shell|rd.shell=1) SHELL_OK=1 ;;
		rd.break|rd.break=*) BREAK=1 ;;
		rd.uloop.reboot_delay=*)
			case ${arg#*=} in
			*[!0-9]*|"") ;;
			*) REBOOT_DELAY=${arg#*=} ;;
			esac ;;
		# A misspelt option would otherwise be ignored without a word.
		rd.uloop.*) WARN="$WARN${WARN:+$NL}$arg" ;;
		esac
	done <<EOF
$(cmdline_words "$_cl")
EOF
}

# A tmpfs size as mount takes it: digits, then k, m, g or % at most,
# not 0 (for tmpfs, no limit at all); nothing else (no ",more,options").
tmpfs_size_ok() {
	case $1 in [0-9]*) ;; *) return 1 ;; esac
	_z=${1%[kKmMgG%]}
	case $_z in *[!0-9]*) return 1 ;; *[1-9]*) return 0 ;; esac
	return 1
}

# The RAM tmpfs mounts' options, sizes explicit: the RAM cache at most a
# quarter of RAM (a full cache still serves, fetching what it cannot
# keep), the RAM writable layer rd.uloop.overlay=tmpfs:size=N, else half
# of RAM (tmpfs' own default, written out).
# shellcheck disable=SC2034  # read by /init
RAM_CACHE_OPTS=mode=0700,nosuid,nodev,noexec,size=25%
ram_layer_opts() {
	case $OVERLAY in
	tmpfs:size=*) echo "mode=0755,size=${OVERLAY#tmpfs:size=}" ;;
	*) echo "mode=0755,size=50%" ;;
	esac
}

ATTACH_ERR=/run/uloop/attach.err

root_attach() {
	set -- attach "$URL"
	[ -z "$CACHEPATH" ] || set -- "$@" --cache "$CACHEPATH"
	_ifs=$IFS
	IFS=$NL
	set -f
	for _v in $MIRRORS; do set -- "$@" --mirror "$_v"; done
	for _v in $PINS; do set -- "$@" --pin "$_v"; done
	set +f
	IFS=$_ifs
	[ -z "$CA" ] || set -- "$@" --ca "$CA"
	[ -z "$OFFLINE" ] || set -- "$@" --offline
	[ "$TRANSPORT" = auto ] || set -- "$@" --transport "$TRANSPORT"
	[ -z "$DEBUG" ] || set -- "$@" -v
	env -i PATH="$PATH" uloop "$@" 2>"$ATTACH_ERR"
}
