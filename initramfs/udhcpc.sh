#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# udhcpc's script in the uloop initramfs: address, route, DNS.
# udhcpc passes interface, ip, mask, router, dns, domain in the environment.
#
# udhcpc stays after the lease to renew it, past switch_root: the root is
# served over this address.  So the address is never taken away: a renewal
# with the same address changes nothing, a new address is added before the
# old one goes, and a lost lease (deconfig) leaves the address in place.
# shellcheck disable=SC2154
case $1 in
deconfig)
	ip link set "$interface" up ;;
bound|renew)
	new="$ip/${mask:-24}"
	if ! ip -4 addr show dev "$interface" | grep -q "inet $new "; then
		ip addr add "$new" dev "$interface"
		ip -4 addr show dev "$interface" | sed -n 's/.*inet \([0-9.\/]*\) .*/\1/p' |
			while read -r a; do
				[ "$a" = "$new" ] || ip addr del "$a" dev "$interface"
			done
	fi
	[ -n "${router:-}" ] && ip route replace default via "${router%% *}" dev "$interface"
	if [ -n "${dns:-}" ]; then
		: >/etc/resolv.conf.new
		for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf.new; done
		[ -n "${domain:-}" ] && echo "search $domain" >>/etc/resolv.conf.new
		mv /etc/resolv.conf.new /etc/resolv.conf
	fi
	;;
esac
exit 0
