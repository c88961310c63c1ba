#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# udhcpc's script in the uloop initramfs: set address, route, DNS.
# udhcpc passes interface, ip, mask, router, dns, domain in the environment.
# shellcheck disable=SC2154
case $1 in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "${router:-}" ] && ip route add default via "${router%% *}" dev "$interface"
	: >/etc/resolv.conf
	for d in ${dns:-}; do echo "nameserver $d" >>/etc/resolv.conf; done
	[ -n "${domain:-}" ] && echo "search $domain" >>/etc/resolv.conf
	;;
esac
exit 0
