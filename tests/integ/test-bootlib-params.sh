#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly I1 I2
# The boot library's parameters (initramfs/lib/cmdline.sh, shared by the
# standalone /init, initramfs-tools and dracut), under dash and busybox
# ash: every form of every parameter either sets what it says or ends in
# exactly one line naming the parameter and the cause (uloop_check);
# unknown rd.uloop.* words and the standalone initramfs's own
# rd.uloop.reboot_delay are warnings in the hooks; switches are off only
# for =0/=no/=off; root= wins over netroot=; a value in double quotes is
# one word.  Then the words `uloop attach` gets for a full command line.
. "$(dirname "$0")/functions.sh"
requires dash busybox
bb=$T/bb
mkdir -p "$bb" "$T/fake"
busybox --install -s "$bb"
: >"$T/ca.pem"
U=root=uloop:http://h/r.sq

# Each case: CMDLINE|EXPECTED, EXPECTED being "ok VAR=VALUE..." (the
# check passes and each variable holds that value; VALUE has no blanks)
# or the one line uloop_check prints.
cat >"$T/cases" <<EOF
$U|ok ULOOP_URL=http://h/r.sq ULOOP_OVERLAY=tmpfs ULOOP_UNION=overlay ULOOP_FSTYPE=auto ULOOP_TRANSPORT=auto ULOOP_REBOOT_DELAY=30 INIT=/sbin/init
netroot=uloop:https://n/r.sq|ok ULOOP_URL=https://n/r.sq
netroot=uloop:http://n/x $U|ok ULOOP_URL=http://h/r.sq
$U netroot=uloop:http://n/x|ok ULOOP_URL=http://h/r.sq
root=/dev/sda1|root=: no uloop:URL given (root=uloop:https://server/root.squashfs)
root=uloop:ftp://x|root=uloop:ftp://x: not an http:// or https:// URL
root=uloop:http://|root=uloop:http://: not an http:// or https:// URL
root=|root=: empty value
$U rd.uloop.cache=LABEL=c|ok ULOOP_CACHE=LABEL=c
$U rd.uloop.cache=UUID=0a-1b:/var/c|ok ULOOP_CACHE=UUID=0a-1b:/var/c
$U rd.uloop.cache=PARTUUID=1234abcd-01|ok ULOOP_CACHE=PARTUUID=1234abcd-01
$U rd.uloop.cache=PARTLABEL=uloop-cache|ok ULOOP_CACHE=PARTLABEL=uloop-cache
$U rd.uloop.cache=/dev/vda:/c|ok ULOOP_CACHE=/dev/vda:/c
$U rd.uloop.cache=vda|rd.uloop.cache=vda: not LABEL=, UUID=, PARTUUID=, PARTLABEL= or /dev/x[:/path]
$U rd.uloop.cache=LABEL=|rd.uloop.cache=LABEL=: not LABEL=, UUID=, PARTUUID=, PARTLABEL= or /dev/x[:/path]
$U rd.uloop.cache=|rd.uloop.cache=: empty value
$U rd.uloop.cow=LABEL=flash:/root.cow|ok ULOOP_COW=LABEL=flash:/root.cow ULOOP_OVERLAY=tmpfs
$U rd.uloop.cow=PARTLABEL=uloop-cow|ok ULOOP_COW=PARTLABEL=uloop-cow
$U rd.uloop.cow=UUID=0a-1b:/var/root.cow rd.uloop.cache=UUID=0a-1b:/var/c|ok ULOOP_COW=UUID=0a-1b:/var/root.cow ULOOP_CACHE=UUID=0a-1b:/var/c
$U rd.uloop.cow=/dev/vdb rd.uloop.overlay=none rd.uloop.fstype=ext4 rd.uloop.transport=nbd|ok ULOOP_COW=/dev/vdb ULOOP_OVERLAY=none ULOOP_FSTYPE=ext4 ULOOP_TRANSPORT=nbd
$U rd.uloop.cow=/dev/vdb rd.uloop.overlay=tmpfs:size=64M|ok ULOOP_COW=/dev/vdb ULOOP_OVERLAY=tmpfs:size=64M
$U rd.uloop.cow="LABEL=my flash:/r.cow"|ok ULOOP_COW=LABEL=my_flash:/r.cow
$U rd.uloop.cow=vdb|rd.uloop.cow=vdb: not LABEL=, UUID=, PARTUUID=, PARTLABEL= or /dev/x[:/path]
$U rd.uloop.cow=:/root.cow|rd.uloop.cow=:/root.cow: not LABEL=, UUID=, PARTUUID=, PARTLABEL= or /dev/x[:/path]
$U rd.uloop.cow=|rd.uloop.cow=: empty value
$U rd.uloop.cow=/dev/vdb rd.uloop.overlay=LABEL=rw:/layer|rd.uloop.cow=/dev/vdb: rd.uloop.overlay=LABEL=rw:/layer is a second persistent layer (with a COW, rd.uloop.overlay is tmpfs[:size=N] or none: the layer of a boot without it)
$U rd.uloop.cow=/dev/vdb rd.uloop.fstype=squashfs|rd.uloop.cow=/dev/vdb: rd.uloop.fstype=squashfs is never written (a COW root is mounted read-write: ext4)
$U rd.uloop.cow=/dev/vdb rd.uloop.fstype=erofs|rd.uloop.cow=/dev/vdb: rd.uloop.fstype=erofs is never written (a COW root is mounted read-write: ext4)
$U rd.uloop.cow=/dev/vdb rd.uloop.transport=kmod|rd.uloop.cow=/dev/vdb: rd.uloop.transport=kmod is read-only (nbd, ublk or auto)
$U rd.uloop.cow=/dev/vdb rd.uloop.offline|rd.uloop.cow=/dev/vdb: not with rd.uloop.offline (the COW's image must be checked against the server)
root=uloop:http://h/v/root.uloop rd.uloop.cow=/dev/vdb|rd.uloop.cow=/dev/vdb: root=uloop:http://h/v/root.uloop is a manifest, whose root is on dm-verity, which written blocks fail (a COW needs a plain image)
$U rd.uloop.cow=/dev/vdb rd.uloop.cow=/dev/vdc|ok ULOOP_COW=/dev/vdc
$U rd.uloop.cache-size=512M|ok ULOOP_CACHE_SIZE=512M
$U rd.uloop.cache-size=128k|ok ULOOP_CACHE_SIZE=128k
$U rd.uloop.cache-size=131072|ok ULOOP_CACHE_SIZE=131072
$U rd.uloop.cache-size=999999999G|ok ULOOP_CACHE_SIZE=999999999G
$U rd.uloop.cache-size=131071|rd.uloop.cache-size=131071: not a size of at least 128K (N, Nk, Nm or Ng bytes)
$U rd.uloop.cache-size=127K|rd.uloop.cache-size=127K: not a size of at least 128K (N, Nk, Nm or Ng bytes)
$U rd.uloop.cache-size=0|rd.uloop.cache-size=0: not a size of at least 128K (N, Nk, Nm or Ng bytes)
$U rd.uloop.cache-size=1T|rd.uloop.cache-size=1T: not a size of at least 128K (N, Nk, Nm or Ng bytes)
$U rd.uloop.cache-size=9999999999G|rd.uloop.cache-size=9999999999G: not a size of at least 128K (N, Nk, Nm or Ng bytes)
$U rd.uloop.cache-size=99999999999999999999|rd.uloop.cache-size=99999999999999999999: not a size of at least 128K (N, Nk, Nm or Ng bytes)
$U rd.uloop.cache-size=-1M|rd.uloop.cache-size=-1M: not a size of at least 128K (N, Nk, Nm or Ng bytes)
$U rd.uloop.cache-size=|rd.uloop.cache-size=: empty value
$U rd.uloop.overlay=tmpfs:size=64M|ok ULOOP_OVERLAY=tmpfs:size=64M
$U rd.uloop.overlay=none|ok ULOOP_OVERLAY=none
$U rd.uloop.overlay=LABEL=rw:/layer|ok ULOOP_OVERLAY=LABEL=rw:/layer
$U rd.uloop.overlay=tmpfs:size=0|rd.uloop.overlay=tmpfs:size=0: not a size (N, Nk, Nm, Ng or N%, not 0)
$U rd.uloop.overlay=tmpfs:size=1G,exec|rd.uloop.overlay=tmpfs:size=1G,exec: not a size (N, Nk, Nm, Ng or N%, not 0)
$U rd.uloop.overlay=bogus|rd.uloop.overlay=bogus: not tmpfs[:size=N], none, or LABEL=/UUID=/PARTUUID=/PARTLABEL=/dev/x[:/path]
$U rd.uloop.union=aufs|ok ULOOP_UNION=aufs
$U rd.uloop.union=zfs|rd.uloop.union=zfs: not overlay or aufs
$U rd.uloop.fstype=erofs|ok ULOOP_FSTYPE=erofs
$U rd.uloop.fstype=xfs|rd.uloop.fstype=xfs: not auto, squashfs, erofs or ext4
$U rd.uloop.transport=kmod|ok ULOOP_TRANSPORT=kmod
$U rd.uloop.partition=2|ok ULOOP_PARTITION=2
$U rd.uloop.partition=256|ok ULOOP_PARTITION=256
$U rd.uloop.partition=PARTUUID=0FC63DAF-8483-4772-8E79-3D69D8477DE4|ok ULOOP_PARTITION=PARTUUID=0FC63DAF-8483-4772-8E79-3D69D8477DE4
$U rd.uloop.partition=PARTUUID=1234abcd-02|ok ULOOP_PARTITION=PARTUUID=1234abcd-02
$U rd.uloop.partition="PARTLABEL=root a"|ok ULOOP_PARTITION=PARTLABEL=root_a
$U rd.uloop.partition=2 rd.uloop.partition=3|ok ULOOP_PARTITION=3
$U|ok ULOOP_PARTITION=
$U rd.uloop.partition=0|rd.uloop.partition=0: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=02|rd.uloop.partition=02: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=257|rd.uloop.partition=257: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=300|rd.uloop.partition=300: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=1000|rd.uloop.partition=1000: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=-1|rd.uloop.partition=-1: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=p2|rd.uloop.partition=p2: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=/dev/vda2|rd.uloop.partition=/dev/vda2: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=LABEL=root|rd.uloop.partition=LABEL=root: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=PARTUUID=|rd.uloop.partition=PARTUUID=: not a partition number (1 to 256), PARTUUID=x or PARTLABEL=x
$U rd.uloop.partition=|rd.uloop.partition=: empty value
root=uloop:http://h/v/root.uloop rd.uloop.partition=2|rd.uloop.partition=2: root=uloop:http://h/v/root.uloop is a manifest, whose root is dm-verity over the whole image (no partitions: publish the partition's filesystem as the image)
$U rd.uloop.transport=ublk|ok ULOOP_TRANSPORT=ublk
$U rd.uloop.transport=fuse|rd.uloop.transport=fuse: not auto, kmod, nbd or ublk
$U rd.uloop.mirror=https://m/r.sq|ok ULOOP_MIRRORS=https://m/r.sq
$U rd.uloop.mirror=m/r.sq|rd.uloop.mirror=m/r.sq: not an http:// or https:// URL
$U rd.uloop.ca=$T/ca.pem|ok ULOOP_CA=$T/ca.pem
$U rd.uloop.ca=$T/none.pem|rd.uloop.ca=$T/none.pem: no such file in the initramfs
$U rd.uloop.ca=/dev/null|rd.uloop.ca=/dev/null: not a file packed in the initramfs
$U rd.uloop.ca=/proc/self/environ|rd.uloop.ca=/proc/self/environ: not a file packed in the initramfs
$U rd.uloop.ca=$T/../$(basename "$T")/ca.pem|rd.uloop.ca=$T/../$(basename "$T")/ca.pem: not a file packed in the initramfs
$U rd.uloop.ca=$T|rd.uloop.ca=$T: not a file packed in the initramfs
$U rd.uloop.pin=sha256//AAAA=|ok ULOOP_PINS=sha256//AAAA=
$U rd.uloop.pin=md5//AAAA|rd.uloop.pin=md5//AAAA: not sha256//BASE64
$U rd.uloop.pin=sha256//|rd.uloop.pin=sha256//: not sha256//BASE64
$U rd.uloop.offline|ok ULOOP_OFFLINE=1
$U rd.uloop.offline=1|ok ULOOP_OFFLINE=1
$U rd.uloop.offline rd.uloop.offline=0|ok ULOOP_OFFLINE=
$U rd.uloop.offline=no|ok ULOOP_OFFLINE=
$U rd.uloop.profile=http://h/boot.profile|ok ULOOP_PROFILE=http://h/boot.profile
$U rd.uloop.profile=/etc/uloop/boot.profile|ok ULOOP_PROFILE=/etc/uloop/boot.profile
$U rd.uloop.profile=http://h/p rd.uloop.profile=none|ok ULOOP_PROFILE=
$U rd.uloop.profile=boot.profile|rd.uloop.profile=boot.profile: not an http:// or https:// URL, a /path in the initramfs, or none
$U rd.uloop.profile=|rd.uloop.profile=: empty value
$U rd.uloop.hydrate|ok ULOOP_HYDRATE=-
$U rd.uloop.hydrate=8M|ok ULOOP_HYDRATE=8M
$U rd.uloop.hydrate=8M,jitter=300|ok ULOOP_HYDRATE=8M,jitter=300
$U rd.uloop.hydrate=max,jitter=5|ok ULOOP_HYDRATE=max,jitter=5
$U rd.uloop.hydrate=,jitter=5|ok ULOOP_HYDRATE=,jitter=5
$U rd.uloop.hydrate=0|ok ULOOP_HYDRATE=0
$U rd.uloop.hydrate=fast|rd.uloop.hydrate=fast: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)
$U rd.uloop.hydrate=8M,jitter=|rd.uloop.hydrate=8M,jitter=: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)
$U rd.uloop.hydrate=8M,jitter=5s|rd.uloop.hydrate=8M,jitter=5s: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)
$U rd.uloop.hydrate=8M,delay=5|rd.uloop.hydrate=8M,delay=5: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)
$U rd.uloop.hydrate=8M,jitter=86401|rd.uloop.hydrate=8M,jitter=86401: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)
$U rd.uloop.hydrate=,jitter=000001|rd.uloop.hydrate=,jitter=000001: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)
$U rd.uloop.hydrate=99999999999999999999|rd.uloop.hydrate=99999999999999999999: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)
$U rd.uloop.hydrate=9999999999G|rd.uloop.hydrate=9999999999G: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)
$U rd.uloop.hydrate=999999999G,jitter=86400|ok ULOOP_HYDRATE=999999999G,jitter=86400
$U rd.uloop.hydrate=8M rd.uloop.jitter=300|ok ULOOP_HYDRATE=8M,jitter=300
$U rd.uloop.jitter=60 rd.uloop.hydrate|ok ULOOP_HYDRATE=,jitter=60
$U rd.uloop.hydrate=8M,jitter=5 rd.uloop.jitter=300|ok ULOOP_HYDRATE=8M,jitter=5
$U rd.uloop.jitter=300|ok ULOOP_HYDRATE=
$U rd.uloop.hydrate=8M rd.uloop.jitter=5m|rd.uloop.jitter=5m: not a number of seconds up to 86400
$U rd.uloop.hydrate=8M rd.uloop.jitter=86401|rd.uloop.jitter=86401: not a number of seconds up to 86400
$U rd.uloop.hydrate=8M rd.uloop.jitter=86400|ok ULOOP_HYDRATE=8M,jitter=86400
$U rd.uloop.hydrate rd.uloop.jitter=|rd.uloop.jitter=: empty value
$U rd.uloop.hydrate=,|rd.uloop.hydrate=,: not RATE[,jitter=SECONDS] (RATE: N, Nk, Nm, Ng a second, 0 or max)
$U rd.uloop.debug=off|ok ULOOP_DEBUG=
$U rd.uloop.debug|ok ULOOP_DEBUG=1
$U rd.live.overlay.reset|ok ULOOP_RESET=1
$U rd.live.overlay.readonly=1|ok ULOOP_OVLRO=1
$U rd.live.overlay.readonly=0|ok ULOOP_OVLRO=
$U rd.uloop.reboot_delay=5|ok ULOOP_REBOOT_DELAY=5
$U rd.uloop.reboot_delay=5s|rd.uloop.reboot_delay=5s: not a number of seconds
$U init=/bin/sh|ok INIT=/bin/sh
$U init=|init=: empty value
$U ip=|ip=: empty value
$U BOOTIF=|BOOTIF=: empty value
$U rd.shell rd.break|ok SHELL_OK=1 BREAK=1
$U rd.uloop.fstype=xfs rd.uloop.union=zfs|rd.uloop.union=zfs: not overlay or aufs
$U rd.uloop.cache= rd.uloop.fstype=xfs|rd.uloop.cache=: empty value
$U rd.uloop.cache="LABEL=my cache"|ok ULOOP_CACHE=LABEL=my_cache
EOF

for sh in dash "$bb/sh"; do
	n=0
	while IFS='|' read -r cl want; do
		n=$((n + 1))
		printf '%s\n' "$cl" >"$T/cmdline"
		got=$("$sh" -c '
			. "$1/initramfs/lib/cmdline.sh"
			uloop_parse "$2"
			if e=$(uloop_check); then
				printf "ok"
				for v in $3; do
					eval "x=\${${v%%=*}}"
					printf " %s=%s" "${v%%=*}" "$(printf %s "$x" | tr " " _)"
				done
				echo
			else
				echo "$e"
			fi' sh "$top" "$T/cmdline" "${want#ok}") || fail "$sh: [$cl]: exit $?"
		[ "$got" = "$want" ] || fail "$sh: [$cl]: got [$got], want [$want]"
	done <"$T/cases"
	echo "cmdline.sh under $sh: $n command lines, each set or refused with its line"

	# Warnings: an unknown rd.uloop.* word everywhere; reboot_delay
	# outside the standalone initramfs.
	printf '%s\n' "$U rd.uloop.cahce=/dev/vda rd.uloop.reboot_delay=5" >"$T/cmdline"
	w=$("$sh" -c '. "$1/initramfs/lib/cmdline.sh"; uloop_parse "$2"
		echo "init:"; uloop_warnings init; echo "hooks:"; uloop_warnings dracut' sh "$top" "$T/cmdline")
	[ "$w" = "init:
warning: rd.uloop.cahce=/dev/vda: unknown parameter, ignored
hooks:
warning: rd.uloop.cahce=/dev/vda: unknown parameter, ignored
warning: rd.uloop.reboot_delay=5: only the standalone uloop initramfs uses it, ignored" ] ||
		fail "$sh: warnings were: $w"
	echo "cmdline.sh under $sh: warnings for an unknown word and another flavour's parameter"
done

# A full command line: the words uloop attach gets, in order, and a
# clean environment.
cat >"$T/fake/uloop" <<F
#!/bin/sh
printf '%s\n' "\$@" >"$T/args"
env >"$T/env"
echo /dev/nbd0
F
chmod +x "$T/fake/uloop"
printf '%s\n' "$U rd.uloop.mirror=http://m1/r rd.uloop.pin=sha256//A= rd.uloop.mirror=https://m2/r rd.uloop.ca=$T/ca.pem rd.uloop.offline rd.uloop.transport=kmod rd.uloop.debug=1" >"$T/cmdline"
for sh in dash "$bb/sh"; do
	dev=$(ULOOP_X=1 PATH=$T/fake:/usr/bin:/bin "$sh" -c '
		. "$1/initramfs/lib/cmdline.sh"; . "$1/initramfs/lib/boot.sh"
		uloop_parse "$2"; ULOOP_CACHEPATH=/run/uloop/ram/cache ULOOP_ATTACH_ERR=$3
		uloop_attach' sh "$top" "$T/cmdline" "$T/err") || fail "$sh: uloop_attach failed"
	[ "$dev" = /dev/nbd0 ] || fail "$sh: uloop_attach printed [$dev]"
	printf '%s\n' attach http://h/r.sq --cache /run/uloop/ram/cache --mirror http://m1/r --mirror https://m2/r \
		--pin sha256//A= --ca "$T/ca.pem" --offline --transport kmod -v >"$T/want"
	diff -u "$T/want" "$T/args" >&2 || fail "$sh: uloop attach got other words"
	! grep -q '^ULOOP_' "$T/env" || fail "$sh: the daemon's environment has ULOOP_ words"
	# A profile and hydration, with a cache; not without one (nothing
	# to keep their blocks in: the RAM fallback), nor offline.
	for c in "rd.uloop.profile=http://h/p rd.uloop.hydrate=8M,jitter=9|/run/uloop/ram/cache|--profile http://h/p --hydrate=8M,jitter=9" \
		"rd.uloop.hydrate|/c|--hydrate" \
		"rd.uloop.cache-size=256M|/c|--cache-size 256M" \
		"rd.uloop.cache-size=256M||" \
		"rd.uloop.profile=http://h/p rd.uloop.hydrate||" \
		"rd.uloop.profile=http://h/p rd.uloop.offline|/c|--offline" \
		"rd.uloop.cow=/dev/vdb rd.uloop.transport=nbd|/c|--cow /run/uloop/flash/r.cow --transport nbd"; do
		printf '%s\n' "$U ${c%%|*}" >"$T/cmdline2"
		cp=${c#*|}
		cp=${cp%%|*}
		ULOOP_X=1 PATH=$T/fake:/usr/bin:/bin "$sh" -c '
			. "$1/initramfs/lib/cmdline.sh"; . "$1/initramfs/lib/boot.sh"
			uloop_parse "$2"; ULOOP_CACHEPATH=$4 ULOOP_ATTACH_ERR=$3
			[ -z "$ULOOP_COW" ] || ULOOP_COWPATH=/run/uloop/flash/r.cow
			uloop_attach' sh "$top" "$T/cmdline2" "$T/err" "$cp" >/dev/null || fail "$sh: uloop_attach failed"
		opts=${c##*|}
		want="attach http://h/r.sq${cp:+ --cache $cp}${opts:+ $opts}"
		got=$(tr '\n' ' ' <"$T/args")
		[ "$got" = "$want " ] || fail "$sh: ${c%%|*} with cache [$cp]: uloop attach got [$got], not [$want]"
	done
	echo "boot.sh under $sh: uloop attach gets the parameters as its options, in a clean environment"
done

# The one table, ULOOP_PARAMS: the parser takes exactly its rd.uloop.*
# and rd.live.overlay.* names, and uloop.cmdline(7) and docs/initramfs.md
# document exactly those (so none can be added to one and not the others).
names() { grep -o 'rd\.\(uloop\|live\.overlay\)\.[a-z_-]*[a-z_]' "$@" | sed 's/.*://' | sort -u; }
sh -c '. "$1/initramfs/lib/cmdline.sh"; printf "%s\n" "$ULOOP_PARAMS"' sh "$top" |
	awk '{ print $1 }' | grep '^rd\.\(uloop\|live\.overlay\)\.' | sort -u >"$T/table"
[ -s "$T/table" ] || fail "no rd.uloop.* names in ULOOP_PARAMS"
sed -n '/^uloop_parse_line()/,/^}/p' "$top/initramfs/lib/cmdline.sh" | grep -v '^[[:space:]]*#' |
	grep -o 'rd\.\(uloop\|live\.overlay\)\.[a-z_-]*[a-z_]' | sort -u >"$T/parser"
diff -u "$T/table" "$T/parser" >&2 || fail "the parser and ULOOP_PARAMS name different parameters"
for doc in docs/man/uloop.cmdline.7 docs/initramfs.md; do
	names "$top/$doc" >"$T/doc"
	diff -u "$T/table" "$T/doc" >&2 || fail "$doc and ULOOP_PARAMS name different parameters (+: only in $doc)"
done
# Each is known to the parser: none is warned about as unknown.
while read -r p; do
	printf '%s\n' "$U $p=1" >"$T/cmdline"
	w=$(sh -c '. "$1/initramfs/lib/cmdline.sh"; uloop_parse "$2"; uloop_warnings init' sh "$top" "$T/cmdline")
	[ -z "$w" ] || fail "$p: $w"
done <"$T/table"
echo "ULOOP_PARAMS: $(wc -l <"$T/table") rd.* parameters, the same in the parser, uloop.cmdline(7) and docs/initramfs.md"
