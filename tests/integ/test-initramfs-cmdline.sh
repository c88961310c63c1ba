#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly T4 I1
# Kernel command line values are data in the boot library all three
# flavours share (initramfs/lib/cmdline.sh and boot.sh; dracut's
# uloop-dracut.sh feeds it getcmdline), under dash and busybox ash: values with
# globs (/dev/*, sha256//*, http://m/*, a CA file named ca?.pem beside a
# ca1.pem), $(...), backticks and a newline in the file are parsed and
# handed to `uloop attach` as exactly the words they are, in a directory
# where each glob would match; nothing runs.  The daemon starts with an
# environment of PATH alone: ULOOP_NBD_IOCTL=1 and ULOOP_FAILPOINT in the
# caller's environment (where the kernel puts unknown NAME=value words of
# its command line) never reach it.  The parser splits as the kernel does: rd.uloop.cache="LABEL=my cache" is one value, and ip=*
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
	# The boot library, as the standalone /init and initramfs-tools run it.
	name="lib/cmdline.sh + boot.sh under $sh"
	PATH=$T/fake:/usr/bin:/bin "$sh" -c '
		. "$1/initramfs/lib/cmdline.sh"
		. "$1/initramfs/lib/boot.sh"
		. "$1/initramfs/lib/net.sh"
		uloop_parse "$2"
		e=$(uloop_check) || { echo "uloop_check: $e" >&2; exit 3; }
		ULOOP_CACHEPATH=$ULOOP_CACHE ULOOP_ATTACH_ERR=$3
		uloop_attach >/dev/null || exit 4
		# The kernel splits at blanks outside double quotes.
		printf "%s\n" "rd.uloop.cache=\"LABEL=my cache\" ip=*" >"$2.2"
		uloop_parse "$2.2"
		[ "$ULOOP_CACHE" = "LABEL=my cache" ] || { echo "rd.uloop.cache: [$ULOOP_CACHE]" >&2; exit 5; }
		debug() { :; }
		rc=0; net_up "$IPS" || rc=$?
		[ $rc -eq 2 ] && [ "$NET_ERR" = "ip=*: not dhcp, DEV:dhcp, off, or CLIENT:SERVER:GW:MASK:HOST:DEV:AUTOCONF" ] ||
			{ echo "ip=*: $rc $NET_ERR" >&2; exit 6; }
	' sh "$top" "$T/cmdline" "$T/err" || fail "$name: exit $?"
	check attach http://h/r.sq --cache '/dev/*' \
		--mirror 'http://m/$(touch${IFS}PWNED1)' --mirror 'http://m/`touch${IFS}PWNED2`' \
		--mirror 'http://m/*' --pin 'sha256//*' --ca "$ca" --offline --transport nbd

	# The dracut module's side (uloop-dracut.sh): the command line as
	# dracut-lib's getcmdline gives it, the URL of a DHCP root-path.
	name="dracut uloop-dracut.sh under $sh"
	mkdir -p "$T/root/lib/uloop"
	cp "$top"/initramfs/lib/*.sh "$T/root/lib/uloop/"
	sed "s,/lib/uloop/,$T/root/lib/uloop/," "$top/hooks/dracut/90uloop/uloop-dracut.sh" >"$T/root/lib/uloop/dracut.sh"
	PATH=$T/fake:/usr/bin:/bin "$sh" -c '
		CL=$2
		getcmdline() { cat "$CL"; }
		. "$1/lib/uloop/dracut.sh"
		uloop_dracut_parse http://dhcp/r.sq
		e=$(uloop_check) || { echo "uloop_check: $e" >&2; exit 3; }
		ULOOP_CACHEPATH=$ULOOP_CACHE ULOOP_ATTACH_ERR=$3
		uloop_attach >/dev/null || exit 4
	' sh "$T/root" "$T/cmdline" "$T/err" || fail "$name: exit $?"
	check attach http://dhcp/r.sq --cache '/dev/*' \
		--mirror 'http://m/$(touch${IFS}PWNED1)' --mirror 'http://m/`touch${IFS}PWNED2`' \
		--mirror 'http://m/*' --pin 'sha256//*' --ca "$ca" --offline --transport nbd
done
