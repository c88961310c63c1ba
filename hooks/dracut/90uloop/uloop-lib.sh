#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# uloop-lib.sh - the rd.uloop.* options in dracut's initramfs, shared by
# the cmdline parser, /sbin/ulooproot and the systemd generator, so the
# three read the command line the same way (installed as /lib/uloop-lib.sh;
# needs dracut-lib.sh's getarg).
#
#   uloop_opts         sets ULOOP_CACHE OVERLAY UNION FSTYPE TRANSPORT
#                      MIRRORS CA PINS OFFLINE DEBUG RESET OVLRO from the
#                      command line (defaults as SPEC.md and the standalone
#                      initramfs: RAM overlay, overlay union, probe, auto)
#   uloop_check URL    0, or prints the first problem as one line naming
#                      the parameter ("rd.uloop.fstype=xfs: not ...") and 1
#   uloop_unknown      prints a warning line per unknown rd.uloop.* word
#   uloop_attach URL CACHE ERRFILE   starts the daemon (clean environment)
#   uloop_union        prints "TYPE WHAT OPTIONS": the root's final mount,
#                      on top of /run/uloop/lower (the image, read-only),
#                      /run/uloop/rw (the writable layer) and, with
#                      rd.live.overlay.readonly, /run/uloop/ro (the
#                      persistent layer, read-only, under a RAM upper)
#
# dracut's own overlay switches of 90overlayfs are honoured where they
# mean something here: rd.live.overlay.reset empties a persistent
# rd.uloop.overlay before use, rd.live.overlay.readonly keeps it read-only.

# The ULOOP_* variables are read by the scripts that source this file.
# shellcheck disable=SC2034

# An option given empty (rd.uloop.cache=) is a mistake, not "the default":
# uloop_getarg fails for it as for an absent one, and uloop_opts names
# the first empty rd.uloop.* in ULOOP_EMPTY for uloop_check (uloop_getarg
# runs in $(...): a variable it set would not outlive it).
uloop_getarg() {
	_v=$(getarg "$1=") && [ -n "$_v" ] && echo "$_v"
}

uloop_opts() {
	ULOOP_EMPTY=""
	set -f
	for _w in $(getcmdline); do
		# Its value empty, not its last character '=' (a base64 pin).
		case $_w in rd.uloop.?*=*) [ -n "${_w#*=}" ] || { ULOOP_EMPTY=${_w%%=*}; break; } ;; esac
	done
	set +f
	ULOOP_CACHE=$(uloop_getarg rd.uloop.cache) || ULOOP_CACHE=""
	ULOOP_OVERLAY=$(uloop_getarg rd.uloop.overlay) || ULOOP_OVERLAY=tmpfs
	ULOOP_UNION=$(uloop_getarg rd.uloop.union) || ULOOP_UNION=overlay
	ULOOP_FSTYPE=$(uloop_getarg rd.uloop.fstype) || ULOOP_FSTYPE=auto
	ULOOP_TRANSPORT=$(uloop_getarg rd.uloop.transport) || ULOOP_TRANSPORT=auto
	ULOOP_CA=$(uloop_getarg rd.uloop.ca) || ULOOP_CA=""
	ULOOP_MIRRORS=$(getargs rd.uloop.mirror=) || ULOOP_MIRRORS=""
	ULOOP_PINS=$(getargs rd.uloop.pin=) || ULOOP_PINS=""
	ULOOP_OFFLINE="" ULOOP_DEBUG="" ULOOP_RESET="" ULOOP_OVLRO=""
	getargbool 0 rd.uloop.offline && ULOOP_OFFLINE=1
	getargbool 0 rd.uloop.debug && ULOOP_DEBUG=1
	getargbool 0 rd.live.overlay.reset && ULOOP_RESET=1
	getargbool 0 rd.live.overlay.readonly && ULOOP_OVLRO=1
	return 0
}

uloop_check() {
	case $1 in
	http://?*|https://?*) ;;
	"") echo "root=uloop:: no URL (root=uloop:https://server/root.squashfs)"; return 1 ;;
	*) echo "root=uloop:$1: not an http:// or https:// URL"; return 1 ;;
	esac
	[ -z "$ULOOP_EMPTY" ] || { echo "$ULOOP_EMPTY=: empty value"; return 1; }
	if [ -n "$ULOOP_CACHE" ]; then
		case ${ULOOP_CACHE%%:/*} in
		LABEL=?*|UUID=?*|PARTUUID=?*|PARTLABEL=?*|/dev/?*) ;;
		*) echo "rd.uloop.cache=$ULOOP_CACHE: not LABEL=, UUID=, PARTUUID=, PARTLABEL= or /dev/x[:/path]"; return 1 ;;
		esac
	fi
	case $ULOOP_OVERLAY in
	tmpfs:size=*) uloop_size_ok "${ULOOP_OVERLAY#tmpfs:size=}" ||
		{ echo "rd.uloop.overlay=$ULOOP_OVERLAY: not a size (N, Nk, Nm, Ng or N%, not 0)"; return 1; } ;;
	tmpfs|none) ;;
	LABEL=?*|UUID=?*|PARTUUID=?*|PARTLABEL=?*|/dev/?*) ;;
	*) echo "rd.uloop.overlay=$ULOOP_OVERLAY: not tmpfs[:size=N], none, or LABEL=/UUID=/PARTUUID=/PARTLABEL=/dev/x[:/path]"; return 1 ;;
	esac
	case $ULOOP_UNION in overlay|aufs) ;; *) echo "rd.uloop.union=$ULOOP_UNION: not overlay or aufs"; return 1 ;; esac
	case $ULOOP_FSTYPE in auto|squashfs|erofs|ext4) ;; *) echo "rd.uloop.fstype=$ULOOP_FSTYPE: not auto, squashfs, erofs or ext4"; return 1 ;; esac
	case $ULOOP_TRANSPORT in auto|kmod|nbd) ;; *) echo "rd.uloop.transport=$ULOOP_TRANSPORT: not auto, kmod or nbd"; return 1 ;; esac
	set -f
	for _m in $ULOOP_MIRRORS; do
		case $_m in http://?*|https://?*) ;; *) set +f; echo "rd.uloop.mirror=$_m: not an http:// or https:// URL"; return 1 ;; esac
	done
	for _p in $ULOOP_PINS; do
		case $_p in sha256//?*) ;; *) set +f; echo "rd.uloop.pin=$_p: not sha256//BASE64"; return 1 ;; esac
	done
	set +f
	[ -z "$ULOOP_CA" ] || [ -r "$ULOOP_CA" ] || { echo "rd.uloop.ca=$ULOOP_CA: no such file in the initramfs"; return 1; }
	return 0
}

uloop_unknown() {
	read -r _cl </proc/cmdline
	set -f
	for _w in $_cl; do
		case ${_w%%=*} in
		rd.uloop.cache|rd.uloop.overlay|rd.uloop.union|rd.uloop.fstype) ;;
		rd.uloop.transport|rd.uloop.mirror|rd.uloop.ca|rd.uloop.pin) ;;
		rd.uloop.offline|rd.uloop.debug) ;;
		rd.uloop.*) echo "$_w: unknown parameter, ignored" ;;
		esac
	done
	set +f
}

# uloop_attach URL CACHE ERRFILE: uloop attach with the options of
# uloop_opts, each value one word (never split further or globbed), in an
# environment of PATH alone: dracut's init hands on its own, which holds
# the kernel command line's unknown NAME=value words (ULOOP_* and the like
# must not reach the root daemon).  Prints the device; stderr to ERRFILE.
uloop_attach() {
	_e=$3
	set -- attach "$1" --cache "$2"
	set -f
	for _v in $ULOOP_MIRRORS; do set -- "$@" --mirror "$_v"; done
	for _v in $ULOOP_PINS; do set -- "$@" --pin "$_v"; done
	set +f
	[ -z "$ULOOP_CA" ] || set -- "$@" --ca "$ULOOP_CA"
	[ -z "$ULOOP_OFFLINE" ] || set -- "$@" --offline
	[ "$ULOOP_TRANSPORT" = auto ] || set -- "$@" --transport "$ULOOP_TRANSPORT"
	[ -z "$ULOOP_DEBUG" ] || set -- "$@" -v
	env -i PATH="$PATH" uloop "$@" 2>"$_e"
}

# A tmpfs size as mount takes it: digits, then k, m, g or % at most,
# not 0 (for tmpfs, no limit at all); nothing else (no ",more,options").
uloop_size_ok() {
	case $1 in [0-9]*) ;; *) return 1 ;; esac
	_z=${1%[kKmMgG%]}
	case $_z in *[!0-9]*) return 1 ;; *[1-9]*) return 0 ;; esac
	return 1
}

# The RAM tmpfs mounts' options, sizes explicit (docs/initramfs.md): the
# RAM cache at most a quarter of RAM, the RAM layer tmpfs:size=N or half.
ULOOP_RAM_CACHE_OPTS=mode=0700,nosuid,nodev,noexec,size=25%
uloop_layer_opts() {
	case $ULOOP_OVERLAY in
	tmpfs:size=*) echo "mode=0755,size=${ULOOP_OVERLAY#tmpfs:size=}" ;;
	*) echo "mode=0755,size=50%" ;;
	esac
}

uloop_union() {
	if [ "$ULOOP_OVERLAY" = none ]; then
		echo "none /run/uloop/lower bind"
		return 0
	fi
	_low=/run/uloop/lower
	[ -n "$ULOOP_OVLRO" ] && [ "${ULOOP_OVERLAY%%:*}" != tmpfs ] && _low=/run/uloop/ro/upper:$_low
	if [ "$ULOOP_UNION" = aufs ]; then
		_br=/run/uloop/rw/upper=rw
		_old=$IFS
		IFS=:
		for _l in $_low; do _br=$_br:$_l=ro; done
		IFS=$_old
		echo "aufs none br=$_br"
	else
		echo "overlay uloop lowerdir=$_low,upperdir=/run/uloop/rw/upper,workdir=/run/uloop/rw/work"
	fi
}
