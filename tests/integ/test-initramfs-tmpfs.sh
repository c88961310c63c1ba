#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I2
# The RAM tmpfs mounts have explicit sizes (the boot library all three
# flavours share, under dash and busybox ash): the RAM cache at most 25%
# of RAM (and nosuid, nodev, noexec), the RAM writable layer rd.uloop.overlay=tmpfs:size=N or 50%;
# N must be a size (digits, one k/m/g/% at most, not 0, which means no
# limit for tmpfs) and nothing more (no ",exec,suid" smuggled into the
# mount options); the mounts themselves (a stand-in mount records them).
. "$(dirname "$0")/functions.sh"
requires dash busybox
bb=$T/bb
mkdir -p "$bb"
busybox --install -s "$bb"
good="64M 64m 1g 100k 50% 7 1048576"
bad="0 0M 00% 1G,exec 1G,mode=777 abc M 10x 5%% ,5 -1"
for sh in dash "$bb/sh"; do
	out=$("$sh" -c '
		. "$1/initramfs/lib/cmdline.sh"
		for g in $2; do uloop_size_ok "$g" || echo "refused good size $g"; done
		set -f
		for b in $3; do ! uloop_size_ok "$b" || echo "took bad size $b"; done
		set +f
		ULOOP_OVERLAY=tmpfs; echo "layer default: $(uloop_layer_opts)"
		ULOOP_OVERLAY=tmpfs:size=64M; echo "layer 64M: $(uloop_layer_opts)"
		echo "cache: $ULOOP_RAM_CACHE_OPTS"
	' sh "$top" "$good" "$bad" 2>&1) || fail "under $sh: $out"
	printf '%s\n' "$out" >"$T/out"
	! grep -e refused -e took "$T/out" || fail "under $sh: size check wrong"
	grep -qx "layer default: mode=0755,size=50%" "$T/out" || fail "under $sh: $(cat "$T/out")"
	grep -qx "layer 64M: mode=0755,size=64M" "$T/out" || fail "under $sh: $(cat "$T/out")"
	grep -qx "cache: mode=0700,nosuid,nodev,noexec,size=25%" "$T/out" || fail "under $sh: $(cat "$T/out")"
	# The RAM cache and RAM layer mounts, as they run.
	: >"$T/mounts"
	"$sh" -c '
		log=$2; mkdir() { :; }; mount() { echo "$*" >>"$log"; }
		uloop_fail() { echo "fail: $*" >>"$log"; }
		. "$1/initramfs/lib/cmdline.sh"; . "$1/initramfs/lib/boot.sh"
		uloop_ram_cache; ULOOP_OVERLAY=tmpfs:size=10%; uloop_layer /run/uloop/rw' \
		sh "$top" "$T/mounts" || fail "uloop_ram_cache failed"
	grep -qx -- "-t tmpfs -o mode=0700,nosuid,nodev,noexec,size=25% tmpfs /run/uloop/ram" "$T/mounts" &&
		grep -qx -- "-t tmpfs -o mode=0755,size=10% tmpfs /run/uloop/rw" "$T/mounts" ||
		fail "under $sh: the RAM mounts were: $(cat "$T/mounts")"
	echo "under $sh: sizes checked and explicit"
done
