#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Kernel command line values are data in all three flavours (the
# standalone initramfs's lib/cmdline.sh, the initramfs-tools script, the
# dracut module's uloop-lib.sh), under dash and busybox ash: values with
# globs (/dev/*, sha256//*, http://m/*, a CA file named ca?.pem beside a
# ca1.pem), $(...), backticks and a newline in the file are parsed and
# handed to `uloop attach` as exactly the words they are, in a directory
# where each glob would match; nothing runs.  The daemon starts with an
# environment of PATH alone: ULOOP_NBD_IOCTL=1 and ULOOP_FAILPOINT in the
# caller's environment (where the kernel puts unknown NAME=value words of
# its command line) never reach it.  The standalone parser splits as the
# kernel does: rd.uloop.cache="LABEL=my cache" is one value, and ip=*
# reaches net.sh as "*".
. "$(dirname "$0")/functions.sh"
requires dash busybox
bb=$T/bb
mkdir -p "$bb" "$T/fake" "$T/cwd/sha256" "$T/cwd/http:/m"
busybox --install -s "$bb"
cd "$T/cwd"
touch sha256/x http:/m/x a b "ca?.pem" ca1.pem
cat >"$T/fake/uloop" <<F
#!/bin/sh
printf '%s\n' "\$@" >"$T/args"
env >"$T/env"
echo /dev/nbd0
F
printf '#!/bin/sh\nexit 0\n' >"$T/fake/ip"
chmod +x "$T/fake/uloop" "$T/fake/ip"
ca=$T/cwd/ca?.pem
# Literal text: what the kernel gets.
# shellcheck disable=SC2016
hostile='rd.uloop.cache=/dev/* rd.uloop.mirror=http://m/$(touch${IFS}PWNED1) rd.uloop.mirror=http://m/`touch${IFS}PWNED2`
rd.uloop.mirror=http://m/* rd.uloop.pin=sha256//* rd.uloop.transport=nbd rd.uloop.offline'
printf 'root=uloop:http://h/r.sq %s rd.uloop.ca=%s\n' "$hostile" "$ca" >"$T/cmdline"
export ULOOP_NBD_IOCTL=1 ULOOP_FAILPOINT=x

check() {	# check NAME: the words uloop got (file want), its environment
	printf '%s\n' "$@" >"$T/want"
	diff -u "$T/want" "$T/args" >&2 || fail "$name: uloop attach got other words"
	! grep -q '^ULOOP_' "$T/env" || fail "$name: the daemon's environment has $(grep '^ULOOP_' "$T/env" | tr '\n' ' ')"
	[ "$(sed -n 's/^PATH=//p' "$T/env")" = "$T/fake:/usr/bin:/bin" ] || fail "$name: the daemon's PATH is not the caller's"
	for f in PWNED1 PWNED2; do [ ! -e "$T/cwd/$f" ] || fail "$name: a value was run as a command ($f)"; done
	rm -f "$T/args" "$T/env"
	echo "$name: ok"
}

for sh in dash "$bb/sh"; do
	# The standalone initramfs.
	name="lib/cmdline.sh under $sh"
	PATH=$T/fake:/usr/bin:/bin "$sh" -c '
		fail() { echo "fail: $*" >&2; exit 3; }
		. "$1/initramfs/lib/cmdline.sh"
		. "$1/initramfs/lib/net.sh"
		cmdline_parse "$2"
		CACHEPATH=$CACHE ATTACH_ERR=$3
		root_attach >/dev/null || exit 4
		# The kernel splits at blanks outside double quotes.
		printf "%s\n" "rd.uloop.cache=\"LABEL=my cache\" ip=*" >"$2.2"
		cmdline_parse "$2.2"
		[ "$CACHE" = "LABEL=my cache" ] || { echo "rd.uloop.cache: [$CACHE]" >&2; exit 5; }
		debug() { :; }
		rc=0; net_up "$IPS" || rc=$?
		[ $rc -eq 2 ] && [ "$NET_ERR" = "ip=*: not dhcp, DEV:dhcp, off, or CLIENT:SERVER:GW:MASK:HOST:DEV:AUTOCONF" ] ||
			{ echo "ip=*: $rc $NET_ERR" >&2; exit 6; }
	' sh "$top" "$T/cmdline" "$T/err" || fail "$name: exit $?"
	check attach http://h/r.sq --cache '/dev/*' \
		--mirror 'http://m/$(touch${IFS}PWNED1)' --mirror 'http://m/`touch${IFS}PWNED2`' \
		--mirror 'http://m/*' --pin 'sha256//*' --ca "$ca" --offline --transport nbd

	# initramfs-tools' script (its own splitting: at blanks).
	name="initramfs-tools script under $sh"
	PATH=$T/fake:/usr/bin:/bin "$sh" -c '
		panic() { echo "panic: $*" >&2; exit 3; }
		. "$1/hooks/initramfs-tools/scripts/uloop"
		uloop_parse "$2"
		CACHEARG=$CACHE ULOOP_ATTACH_ERR=$3
		uloop_attach || exit 4
	' sh "$top" "$T/cmdline" "$T/err" || fail "$name: exit $?"
	check attach http://h/r.sq --cache '/dev/*' \
		--mirror 'http://m/$(touch${IFS}PWNED1)' --mirror 'http://m/`touch${IFS}PWNED2`' \
		--mirror 'http://m/*' --pin 'sha256//*' --offline --ca "$ca" --transport nbd

	# The dracut module, with stand-ins for dracut-lib's getarg family
	# (split at blanks, globbing off, as dracut does).
	name="dracut uloop-lib.sh under $sh"
	PATH=$T/fake:/usr/bin:/bin "$sh" -c '
		CL=$2
		getcmdline() { cat "$CL"; }
		getargs() {
			set -f; _r=""
			for _w in $(cat "$CL"); do case $_w in "$1"*) _r="$_r ${_w#"$1"}" ;; esac; done
			set +f; [ -n "$_r" ] && echo "${_r# }"
		}
		getarg() { _a=$(getargs "$1") || return 1; echo "${_a##* }"; }
		getargbool() {
			set -f
			for _w in $(cat "$CL"); do case $_w in "$2"|"$2"=1) set +f; return 0 ;; esac; done
			set +f; return 1
		}
		. "$1/hooks/dracut/90uloop/uloop-lib.sh"
		uloop_opts
		e=$(uloop_check http://h/r.sq) || { echo "uloop_check: $e" >&2; exit 3; }
		uloop_attach http://h/r.sq "$ULOOP_CACHE" "$3" >/dev/null || exit 4
	' sh "$top" "$T/cmdline" "$T/err" || fail "$name: exit $?"
	check attach http://h/r.sq --cache '/dev/*' \
		--mirror 'http://m/$(touch${IFS}PWNED1)' --mirror 'http://m/`touch${IFS}PWNED2`' \
		--mirror 'http://m/*' --pin 'sha256//*' --ca "$ca" --offline --transport nbd
done
