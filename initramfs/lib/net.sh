# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# net.sh - the network of the uloop initramfs, from ip= and BOOTIF=.
#
# The forms (the kernel's, plus dracut's interface form):
#   ip=dhcp | on | any              DHCP on the interfaces with a link
#   ip=DEV:dhcp                     DHCP on DEV (dracut)
#   ip=CLIENT:SERVER:GW:MASK:HOST:DEV:AUTOCONF[:DNS0[:DNS1]]
#                                   static when AUTOCONF is none/off/static
#                                   or empty; DHCP on DEV (or any) when it is
#                                   dhcp/on/any (then CLIENT may be empty);
#                                   dracut's MTU[:MAC] in place of the DNS
#                                   servers is understood too
#   ip=off | none                   no network (only a full offline cache boots)
# Several ip= configure several interfaces.  BOOTIF=01-aa-bb-cc-dd-ee-ff
# (pxelinux IPAPPEND 2) restricts DHCP without a DEV to the interface the
# node booted from.  DHCP keeps running after the lease: udhcpc renews it
# (after switch_root its script is gone with the initramfs, so a renewal
# keeps the address as it is), and never takes the address away: the root
# is on the network.
#
# net_up IPS: 0 up (or ip=off), 1 no network could be brought up, 2 a spec
# is malformed.  NET_ERR says why; NET_OFF is set for ip=off.
# Needs: say, debug (from /init); NET_SYS (default /sys) for tests.

NET_SYS=${NET_SYS:-/sys}
NET_ERR=""
NET_OFF=""
NET_CARRIER_WAIT=${NET_CARRIER_WAIT:-10}	# seconds for a link to come up

# Interfaces other than lo, in name order.
net_devs() {
	for n in "$NET_SYS"/class/net/*; do
		[ -e "$n" ] && [ "${n##*/}" != lo ] && echo "${n##*/}"
	done
}

# The interface named by BOOTIF=, or nothing.
net_bootif_dev() {
	[ -n "${BOOTIF:-}" ] || return 0
	mac=$(echo "${BOOTIF#01-}" | tr 'A-F-' 'a-f:')
	for d in $(net_devs); do
		[ "$(cat "$NET_SYS/class/net/$d/address" 2>/dev/null)" = "$mac" ] && echo "$d" && return 0
	done
}

# Wait (up to 10 s) for interface $1, or for any interface when $1 is "".
net_wait_dev() {
	i=0
	while [ $i -lt 20 ]; do
		if [ -n "$1" ]; then
			[ -e "$NET_SYS/class/net/$1" ] && return 0
		elif [ -n "${BOOTIF:-}" ]; then
			[ -n "$(net_bootif_dev)" ] && return 0
		else
			[ -n "$(net_devs)" ] && return 0
		fi
		sleep 0.5
		i=$((i + 1))
	done
	return 1
}

net_carrier() { [ "$(cat "$NET_SYS/class/net/$1/carrier" 2>/dev/null)" = 1 ]; }

# DHCP on the given interfaces: the first with a link that gets a lease
# wins.  All are brought up first, so their links negotiate in parallel.
net_dhcp() {
	for d in "$@"; do ip link set "$d" up 2>/dev/null; done
	i=0
	while [ $i -lt $((NET_CARRIER_WAIT * 4)) ]; do
		for d in "$@"; do net_carrier "$d" && break 2; done
		sleep 0.25
		i=$((i + 1))
	done
	tried=""
	for d in "$@"; do
		net_carrier "$d" || continue
		tried="$tried $d"
		# No -q: once bound, udhcpc goes to the background and renews.
		if udhcpc -n -t 4 -T 2 -i "$d" -s /etc/uloop/udhcpc.sh \
			-p "/run/uloop/udhcpc.$d.pid" >/dev/null 2>&1; then
			debug "network: $d up (dhcp)"
			return 0
		fi
	done
	if [ -z "$tried" ]; then
		NET_ERR="no link on$(printf ' %s' "$@") after ${NET_CARRIER_WAIT} s"
	else
		NET_ERR="no DHCP answer on$tried"
	fi
	return 1
}

# The kernel's default netmask for an address without one (its class).
net_class_mask() {
	case ${1%%.*} in
	[0-9]|[0-9][0-9]|1[01][0-9]|12[0-7]) echo 8 ;;
	12[89]|1[3-8][0-9]|19[01]) echo 16 ;;
	*) echo 24 ;;
	esac
}

net_is_ipv4() {
	case $1 in
	*[!0-9.]*|*..*|.*|*.) return 1 ;;
	*.*.*.*) return 0 ;;
	esac
	return 1
}

# The static form, or its DHCP variant.  $1 is the whole spec.
net_static() {
	spec=$1
	case $spec in
	*\[*) NET_ERR="ip=$spec: IPv6 addresses are not supported"; return 2 ;;
	esac
	old=$IFS
	IFS=:
	set -f
	# shellcheck disable=SC2086
	set -- $spec
	set +f
	IFS=$old
	client=${1:-} gw=${3:-} mask=${4:-} host=${5:-} dev=${6:-} auto=${7:-}
	f8=${8:-} f9=${9:-}
	case $auto in
	dhcp|on|any)
		if [ -n "$dev" ]; then
			net_wait_dev "$dev" || { NET_ERR="ip=$spec: no interface $dev"; return 1; }
			net_dhcp "$dev"
		else
			net_any_dhcp
		fi
		return ;;
	dhcp6|auto6|ibft|either6)
		NET_ERR="ip=$spec: $auto is not supported (dhcp, or a static address)"
		return 2 ;;
	none|off|static|"") ;;
	*) NET_ERR="ip=$spec: autoconf '$auto' is not none, off, static, dhcp, on or any"; return 2 ;;
	esac
	net_is_ipv4 "$client" || { NET_ERR="ip=$spec: '$client' is not an IPv4 address"; return 2; }
	[ -z "$gw" ] || net_is_ipv4 "$gw" || { NET_ERR="ip=$spec: gateway '$gw' is not an IPv4 address"; return 2; }
	case $mask in
	"") mask=$(net_class_mask "$client") ;;
	*.*) net_is_ipv4 "$mask" || { NET_ERR="ip=$spec: netmask '$mask' is not valid"; return 2; } ;;
	*[!0-9]*) NET_ERR="ip=$spec: netmask '$mask' is not valid"; return 2 ;;
	*) [ "$mask" -le 32 ] || { NET_ERR="ip=$spec: netmask '$mask' is not valid"; return 2; } ;;
	esac
	if [ -z "$dev" ]; then
		net_wait_dev "" || { NET_ERR="ip=$spec: no network interface"; return 1; }
		dev=$(net_bootif_dev)
		[ -n "$dev" ] || dev=$(net_devs | head -n 1)
	fi
	net_wait_dev "$dev" || { NET_ERR="ip=$spec: no interface $dev"; return 1; }
	# dracut's MTU[:MAC] or the kernel's DNS0[:DNS1] after autoconf.
	dns=""
	case $f8 in
	"") ;;
	*[!0-9]*) net_is_ipv4 "$f8" && dns=" $f8" ;;
	*) ip link set "$dev" mtu "$f8" || { NET_ERR="ip=$spec: cannot set mtu $f8 on $dev"; return 1; }
	   case $f9 in
	   ??:??:??:??:??:??) ip link set "$dev" address "$f9" ||
			{ NET_ERR="ip=$spec: cannot set address $f9 on $dev"; return 1; } ;;
	   esac
	   f9="" ;;
	esac
	[ -n "$f9" ] && net_is_ipv4 "$f9" && dns="$dns $f9"
	if ! ip link set "$dev" up || ! ip addr add "$client/$mask" dev "$dev"; then
		NET_ERR="ip=$spec: cannot set $client/$mask on $dev"
		return 1
	fi
	if [ -n "$gw" ]; then
		ip route replace default via "$gw" dev "$dev" ||
			{ NET_ERR="ip=$spec: cannot route via $gw"; return 1; }
	fi
	[ -z "$host" ] || hostname "$host"
	if [ -n "$dns" ]; then
		: >/etc/resolv.conf
		for s in $dns; do echo "nameserver $s" >>/etc/resolv.conf; done
	fi
	debug "network: $dev $client/$mask (static${dns:+, dns$dns})"
	return 0
}

# DHCP on every interface with a link (or on BOOTIF's).
net_any_dhcp() {
	net_wait_dev "" || { NET_ERR="no network interface (no driver for the NIC?)"; return 1; }
	b=$(net_bootif_dev)
	if [ -n "$b" ]; then
		net_dhcp "$b"
	else
		# shellcheck disable=SC2046
		net_dhcp $(net_devs)
	fi
}

# One ip= value.
# shellcheck disable=SC2034  # NET_OFF is read by /init
net_one() {
	case $1 in
	off|none) NET_OFF=1; return 0 ;;
	dhcp|on|any|"") net_any_dhcp ;;
	dhcp6|auto6|either6|ibft) NET_ERR="ip=$1: not supported (dhcp, or a static address)"; return 2 ;;
	*:*:*) net_static "$1" ;;
	*:dhcp|*:on|*:any)
		d=${1%:*}
		net_wait_dev "$d" || { NET_ERR="ip=$1: no interface $d"; return 1; }
		net_dhcp "$d" ;;
	*) NET_ERR="ip=$1: not dhcp, DEV:dhcp, off, or CLIENT:SERVER:GW:MASK:HOST:DEV:AUTOCONF"; return 2 ;;
	esac
}

# All ip= values in $1 (one a line, as cmdline.sh lists them; blanks
# separate too): up if any one came up.  Values are split, never globbed.
net_up() {
	ip link set lo up
	up=1
	errs=""
	set -f
	# shellcheck disable=SC2086  # split, with globbing off
	set -- ${1:-dhcp}
	set +f
	for spec in "$@"; do
		net_one "$spec"
		case $? in
		0) up=0 ;;
		2) return 2 ;;
		*) errs="${errs:+$errs; }$NET_ERR" ;;
		esac
	done
	NET_ERR=$errs
	return $up
}
