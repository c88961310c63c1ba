#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The RAM tmpfs mounts have explicit sizes in all three flavours (dash and
# busybox ash): the RAM cache at most 25% of RAM (and nosuid, nodev,
# noexec), the RAM writable layer rd.uloop.overlay=tmpfs:size=N or 50%;
# N must be a size (digits, one k/m/g/% at most, not 0, which means no
# limit for tmpfs) and nothing more (no ",exec,suid" smuggled into the
# mount options).  For the initramfs-tools script, the mount itself (a
# stand-in mount records its arguments).
. "$(dirname "$0")/functions.sh"
requires dash busybox
bb=$T/bb
mkdir -p "$bb"
busybox --install -s "$bb"
good="64M 64m 1g 100k 50% 7 1048576"
bad="0 0M 00% 1G,exec 1G,mode=777 abc M 10x 5%% ,5 -1"
for sh in dash "$bb/sh"; do
	for fl in standalone itools dracut; do
		case $fl in
		standalone) src=initramfs/lib/cmdline.sh ok=tmpfs_size_ok layer=ram_layer_opts var=OVERLAY cache=RAM_CACHE_OPTS ;;
		itools) src=hooks/initramfs-tools/scripts/uloop ok=uloop_size_ok layer=uloop_layer_opts var=OVERLAY cache=ULOOP_RAM_CACHE_OPTS ;;
		dracut) src=hooks/dracut/90uloop/uloop-lib.sh ok=uloop_size_ok layer=uloop_layer_opts var=ULOOP_OVERLAY cache=ULOOP_RAM_CACHE_OPTS ;;
		esac
		out=$("$sh" -c '
			. "$1"; ok=$2 layer=$3 var=$4 cache=$5
			for g in $6; do $ok "$g" || echo "refused good size $g"; done
			set -f
			for b in $7; do ! $ok "$b" || echo "took bad size $b"; done
			set +f
			eval "$var=tmpfs"; echo "layer default: $($layer)"
			eval "$var=tmpfs:size=64M"; echo "layer 64M: $($layer)"
			eval "echo \"cache: \$$cache\""
		' sh "$top/$src" $ok $layer $var $cache "$good" "$bad" 2>&1) || fail "$fl under $sh: $out"
		printf '%s\n' "$out" >"$T/out"
		! grep -e refused -e took "$T/out" || fail "$fl under $sh: size check wrong"
		grep -qx "layer default: mode=0755,size=50%" "$T/out" || fail "$fl under $sh: $(cat "$T/out")"
		grep -qx "layer 64M: mode=0755,size=64M" "$T/out" || fail "$fl under $sh: $(cat "$T/out")"
		grep -qx "cache: mode=0700,nosuid,nodev,noexec,size=25%" "$T/out" || fail "$fl under $sh: $(cat "$T/out")"
	done
	# The initramfs-tools script's RAM cache mount, as it runs.
	: >"$T/mounts"
	"$sh" -c '
		log=$2; panic() { exit 3; }; mkdir() { :; }; mount() { echo "$*" >>"$log"; }
		. "$1"; uloop_ram_cache' sh "$top/hooks/initramfs-tools/scripts/uloop" "$T/mounts" || fail "uloop_ram_cache failed"
	grep -qx -- "-t tmpfs -o mode=0700,nosuid,nodev,noexec,size=25% tmpfs /run/uloop/ram" "$T/mounts" ||
		fail "initramfs-tools under $sh: the RAM cache mount was: $(cat "$T/mounts")"
	echo "under $sh: sizes checked and explicit in the three flavours"
done
