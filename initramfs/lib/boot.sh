# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# boot.sh - the uloop part of booting, once for the three initramfs
# flavours (the standalone /init, initramfs-tools' scripts/uloop,
# dracut's ulooproot); installed in each image as /lib/uloop/boot.sh,
# beside cmdline.sh (the parameters, read first by uloop_parse) and
# dev.sh (finding devices without udev).
#
# The steps, in the order a flavour calls them, each 0 or 1 after
# uloop_fail:
#   uloop_modules          the transports' modules (uloop.ko unless
#                          rd.uloop.transport=nbd or ublk, ublk_drv
#                          unless nbd or kmod, nbd)
#   uloop_prepare_cache    ULOOP_CACHEPATH from rd.uloop.cache: a raw
#                          partition, a file in its filesystem, or RAM
#                          (absent; or not found in 10 s, write-protected,
#                          unmountable: a warning, then RAM); then
#                          uloop_prepare_cow: ULOOP_COWPATH from
#                          rd.uloop.cow, a raw partition or a file in its
#                          filesystem (the cache's, mounted once; else on
#                          /run/uloop/cowfs)
#   uloop_attach_root      `uloop attach` (a cache uloop refuses gives way
#                          to RAM, a COW it refuses to none); ULOOP_RDEV,
#                          ULOOP_PID; uloop's notes
#                          and "root image on DEV, daemon pid N" on the
#                          console; for a manifest, dm-verity stacked on
#                          DEV (uloop verity), which ULOOP_RDEV becomes;
#                          ULOOP_FSDEV: the device the root filesystem
#                          is on, DEV or with rd.uloop.partition its
#                          partition (uloop_root_partition)
#   uloop_mount_image      the image (ULOOP_FSDEV) read-only on
#                          /run/uloop/lower; with a
#                          COW read-write there (ext4), and the root is
#                          that mount itself, as with rd.uloop.overlay=none
#                          (an image that will not mount so: detached and
#                          attached again without the COW)
#   uloop_mount_layer      the writable layer on /run/uloop/rw (and with
#                          rd.live.overlay.readonly the persistent one on
#                          /run/uloop/ro, read-only, under a RAM upper);
#                          none with a COW
#   uloop_mount_root DIR   the union of those on DIR; uloop_union prints
#                          it as "TYPE WHAT OPTIONS" for dracut's systemd
#                          generator, which mounts it as sysroot.mount
#   uloop_prepare_shutdown /run/initramfs/shutdown: the static uloop, which
#                          systemd-shutdown runs at poweroff (src/
#                          cmd_shutdown.c: the root's device detached, its
#                          cache committed); /run made exec for it
#   uloop_boot_metrics     at switch_root: one line on the console and in
#                          the kernel log, and /run/uloop/boot.json
#                          (attach and root times, bytes fetched, hits and
#                          misses, cold/warm/offline, profile), from what
#                          uloop_attach_root noted and `uloop status`
#
# What a flavour provides: uloop_say MSG (a console line, "uloop: MSG"),
# uloop_warn MSG (the same, a warning), uloop_fail MSG (stops the boot its
# way: a shell or reboot, dracut's die, initramfs-tools' panic; if it
# returns, so does the step, with 1), and ULOOP_UDEV=1 where udev makes
# /dev/disk/by-* (dracut, initramfs-tools).  Everything the steps mount
# lives under /run/uloop, which moves into the new root with /run; the
# daemon, a root-storage daemon (/etc/initrd-release), keeps serving.
#
# rd.uloop.cow (uloop attach --cow): the root's writes go to a UML COW on
# the flash, kept across boots, durable at each flush.  A COW that cannot
# be had (its device missing, write-protected or unmountable; refused by
# uloop: made over another image, the image changed on the server since,
# a partition holding other data; an image that will not mount
# read-write over it) is never written: one warning, and the boot goes
# on as without rd.uloop.cow (rd.uloop.overlay's RAM layer, or a
# read-only root), saying the writes will not persist.  A node that
# boots is worth more than one stopped for its writable layer, and
# nothing of the COW is lost: it is there for the next boot that can
# use it (or for uloop merge).  At shutdown /run/initramfs/shutdown
# (uloop shutdown) detaches the device once systemd has remounted the
# root read-only: the daemon's last flush, then it exits.

# Set here, never taken from the environment (which holds the kernel
# command line's unknown NAME=value words); tests set it after sourcing.
ULOOP_ATTACH_ERR=/run/uloop/attach.err
# What uloop_attach_root noted for uloop_boot_metrics (a file: in dracut
# another process runs that step); "KEY VALUE" lines.
ULOOP_METRICS=/run/uloop/boot.attach
ULOOP_BOOT_JSON=/run/uloop/boot.json
# The manifest key uloop-mkinitramfs --verity-key (and the hooks' options)
# pack into the image.
ULOOP_VERITY_KEY=/etc/uloop/verity.pub

uloop_is_mounted() { grep -q " $1 " /proc/mounts; }

# mount's complaint, the cause alone and on one line: util-linux adds a
# line ("dmesg(1) may have more information..."), and a kernel log
# record (dracut's die, warn) ends at the first newline.
uloop_why() { printf '%s\n' "$1" | sed -n '1{s/.*: //;p;}'; }

uloop_modules() {
	case $ULOOP_TRANSPORT in nbd|ublk) ;; *) modprobe -q uloop 2>/dev/null ;; esac
	# Kernels since 6.0 may have it (Debian 13's 6.12; not 12's 6.1).
	case $ULOOP_TRANSPORT in nbd|kmod) ;; *) modprobe -q ublk_drv 2>/dev/null ;; esac
	modprobe -q nbd 2>/dev/null
	# For a manifest's root (uloop_verity_root); the kernel's sha256
	# comes with it.
	! uloop_is_manifest || modprobe -q dm-verity 2>/dev/null
	return 0
}

# The name udev gives a label or uuid under /dev/disk/by-*/: every byte
# but ASCII letters, digits and #+-.:=@_ (and non-ASCII, which udev keeps
# when it is valid UTF-8) as \xNN, so "/" and blanks can neither leave
# that directory nor name another link.
uloop_udev_enc() {
	_r=$1 _o=""
	while [ -n "$_r" ]; do
		_t=${_r#?}
		_c=${_r%"$_t"}
		_r=$_t
		case $_c in
		[A-Za-z0-9#+.:=@_-]) _o=$_o$_c ;;
		*)	_n=$(printf '%d' "'$_c")
			if [ "$_n" -ge 128 ] || [ "$_n" -lt 0 ]; then _o=$_o$_c
			else _o=$_o$(printf '\\x%02x' "$_n"); fi ;;
		esac
	done
	printf '%s\n' "$_o"
}

# uloop_find_dev SPEC: prints the device; 1 if none after 10 s (USB and
# some HBAs come late).  With udev, its /dev/disk links; without, a look
# through sysfs (dev.sh).
uloop_find_dev() {
	[ -n "$ULOOP_UDEV" ] || { dev_find "$1"; return; }
	case $1 in
	LABEL=*) _d=/dev/disk/by-label/$(uloop_udev_enc "${1#LABEL=}") ;;
	UUID=*) _d=/dev/disk/by-uuid/$(uloop_udev_enc "${1#UUID=}") ;;
	# udev names GPT and MBR PARTUUIDs in lower case; root= takes either.
	PARTUUID=*) _d=/dev/disk/by-partuuid/$(uloop_udev_enc "${1#PARTUUID=}" | tr A-F a-f) ;;
	PARTLABEL=*) _d=/dev/disk/by-partlabel/$(uloop_udev_enc "${1#PARTLABEL=}") ;;
	*) _d=$1 ;;
	esac
	_i=0
	while [ ! -b "$_d" ]; do
		[ $_i -ge 20 ] && return 1
		udevadm settle --timeout=1 --exit-if-exists="$_d" >/dev/null 2>&1
		[ -b "$_d" ] || sleep 0.5
		_i=$((_i + 1))
	done
	echo "$_d"
}

# uloop_mount_dev DEV DIR [OPTIONS]: its type named (blkid where the
# image has it, else dev.sh's magic), so the kernel loads the module; a
# mount without -t tries only the filesystems already loaded.  Prints
# mount's error on failure.
uloop_mount_dev() {
	_t=$(blkid -o value -s TYPE "$1" 2>/dev/null) || _t=""
	# (busybox's blkid, where it has one, takes no -o: its line is no type)
	case $_t in *[!a-z0-9_]*) _t="" ;; esac
	[ -n "$_t" ] || _t=$(dev_fstype "$1" 2>/dev/null)
	mount ${_t:+-t "$_t"} ${3:+-o "$3"} "$1" "$2" 2>&1
}

# SPEC[:/path] -> ULOOP_SPEC, ULOOP_PATH ("" for a bare device).
uloop_split() {
	ULOOP_SPEC=${1%%:/*} ULOOP_PATH=""
	[ "$ULOOP_SPEC" != "$1" ] && ULOOP_PATH=/${1#*:/}
	return 0
}

# The RAM cache: a tmpfs of its own, so a large image fills that and not
# /run (a full cache still serves, fetching what it cannot keep).
uloop_ram_cache() {
	mkdir -p /run/uloop/ram
	uloop_is_mounted /run/uloop/ram || mount -t tmpfs -o "$ULOOP_RAM_CACHE_OPTS" tmpfs /run/uloop/ram
	ULOOP_CACHEPATH=/run/uloop/ram/cache
}
uloop_no_flash() {
	uloop_warn "rd.uloop.cache=$ULOOP_CACHE: $*; booting with a cache in RAM (nothing persists)"
	uloop_ram_cache
}

uloop_prepare_cache() {
	ULOOP_CACHEPATH="" ULOOP_CACHEDEV=""
	mkdir -p /run/uloop
	uloop_cache_dev
	uloop_prepare_cow
	return 0
}
uloop_cache_dev() {
	[ -n "$ULOOP_CACHE" ] || { uloop_ram_cache; return 0; }
	uloop_split "$ULOOP_CACHE"
	if ! _dev=$(uloop_find_dev "$ULOOP_SPEC"); then
		uloop_no_flash "no such device after 10 s"
	elif _k=$(readlink -f "$_dev") && [ "$(cat "/sys/class/block/${_k##*/}/ro" 2>/dev/null)" = 1 ]; then
		uloop_no_flash "$_dev is read-only (write-protected?)"
	elif [ -z "$ULOOP_PATH" ]; then
		# A raw flash is held by its exclusive open, which udev's
		# probes (shared) never meet: no settling or retry needed.
		ULOOP_CACHEPATH=$_dev ULOOP_CACHEDEV=$_k
	else
		mkdir -p /run/uloop/flash
		if ! _m=$(uloop_mount_dev "$_dev" /run/uloop/flash); then
			uloop_no_flash "cannot mount $_dev: $(uloop_why "$_m")"
		elif ! mkdir -p "/run/uloop/flash${ULOOP_PATH%/*}" 2>/dev/null; then
			uloop_no_flash "cannot create ${ULOOP_PATH%/*} in $_dev"
		else
			ULOOP_CACHEPATH=/run/uloop/flash$ULOOP_PATH ULOOP_CACHEDEV=$_k
		fi
	fi
	return 0
}

# Without the COW: its filesystem unmounted (nothing of this boot goes
# near it), the root as rd.uloop.overlay makes it.
uloop_no_cow() {
	if [ "$ULOOP_OVERLAY" = none ]; then _w="a read-only root"
	else _w="the root's writes in RAM (they will not persist)"; fi
	uloop_warn "rd.uloop.cow=$ULOOP_COW: $*; booting with $_w, the COW left as it is"
	ULOOP_COWPATH="" ULOOP_COW_FELL=1
	! uloop_is_mounted /run/uloop/cowfs || umount /run/uloop/cowfs 2>/dev/null
	return 0
}

# ULOOP_COWPATH from rd.uloop.cow (after the cache: ULOOP_CACHEDEV is the
# flash the cache is on, resolved).  A file in the cache's filesystem is
# there (mounted once); a device the cache has raw, or its very file, is
# never shared.  uloop makes the COW in a missing or empty file, or on a
# device zeroed in its first MiB, and refuses anything else.
uloop_prepare_cow() {
	ULOOP_COWPATH="" ULOOP_COW_FELL=""
	[ -n "$ULOOP_COW" ] || return 0
	uloop_split "$ULOOP_COW"
	if ! _cd=$(uloop_find_dev "$ULOOP_SPEC"); then
		uloop_no_cow "no such device after 10 s"
		return 0
	fi
	_ck=$(readlink -f "$_cd")
	if [ "$(cat "/sys/class/block/${_ck##*/}/ro" 2>/dev/null)" = 1 ]; then
		uloop_no_cow "$_cd is read-only (write-protected?)"
		return 0
	fi
	if [ "$_ck" = "$ULOOP_CACHEDEV" ]; then
		case $ULOOP_CACHEPATH in /run/uloop/flash/*) ;; *)
			uloop_no_cow "$_cd is rd.uloop.cache's raw device"
			return 0 ;;
		esac
		[ -n "$ULOOP_PATH" ] || { uloop_no_cow "$_cd holds rd.uloop.cache's filesystem"; return 0; }
		_cdir=/run/uloop/flash
	elif [ -z "$ULOOP_PATH" ]; then
		ULOOP_COWPATH=$_cd
		return 0
	else
		mkdir -p /run/uloop/cowfs
		if ! _m=$(uloop_mount_dev "$_cd" /run/uloop/cowfs); then
			uloop_no_cow "cannot mount $_cd: $(uloop_why "$_m")"
			return 0
		fi
		_cdir=/run/uloop/cowfs
	fi
	if [ "$_cdir$ULOOP_PATH" = "$ULOOP_CACHEPATH" ]; then
		uloop_no_cow "$ULOOP_PATH is rd.uloop.cache's file"
	elif ! mkdir -p "$_cdir${ULOOP_PATH%/*}" 2>/dev/null; then
		uloop_no_cow "cannot create ${ULOOP_PATH%/*} in $_cd"
	else
		ULOOP_COWPATH=$_cdir$ULOOP_PATH
	fi
	return 0
}

# `uloop attach` with the parameters as words (never split further or
# globbed), in an environment of PATH alone: every initramfs init hands
# on the kernel command line's unknown NAME=value words as environment
# (ULOOP_* and the like must not reach the root daemon).  Prints the
# device; stderr to ULOOP_ATTACH_ERR.
uloop_attach() {
	set -- attach "$ULOOP_URL"
	[ -z "$ULOOP_CACHEPATH" ] || set -- "$@" --cache "$ULOOP_CACHEPATH"
	[ -z "$ULOOP_COWPATH" ] || set -- "$@" --cow "$ULOOP_COWPATH"
	_ifs=$IFS
	IFS=$NL
	set -f
	for _v in $ULOOP_MIRRORS; do set -- "$@" --mirror "$_v"; done
	# shellcheck disable=SC2153  # set by cmdline.sh's uloop_parse
	for _v in $ULOOP_PINS; do set -- "$@" --pin "$_v"; done
	set +f
	IFS=$_ifs
	[ -z "$ULOOP_CA" ] || set -- "$@" --ca "$ULOOP_CA"
	[ -z "$ULOOP_OFFLINE" ] || set -- "$@" --offline
	[ -z "$ULOOP_ROOTHASH" ] || set -- "$@" --root-hash "$ULOOP_ROOTHASH"
	# A key packed into the initramfs: only an image whose manifest it
	# verifies boots (a plain image URL is refused).
	[ ! -e "$ULOOP_VERITY_KEY" ] || set -- "$@" --verity-key "$ULOOP_VERITY_KEY"
	# A profile's and a hydration's blocks are kept in the cache: without
	# one (or offline) there is nothing to fetch them into.
	if [ -n "$ULOOP_CACHEPATH" ] && [ -z "$ULOOP_OFFLINE" ]; then
		[ -z "$ULOOP_PROFILE" ] || set -- "$@" --profile "$ULOOP_PROFILE"
		case $ULOOP_HYDRATE in
		"") ;;
		-) set -- "$@" --hydrate ;;
		*) set -- "$@" --hydrate="$ULOOP_HYDRATE" ;;
		esac
	fi
	# A compact cache that keeps the most recently read blocks in that
	# much flash (the boot profile's are never evicted).
	[ -z "$ULOOP_CACHEPATH" ] || [ -z "$ULOOP_CACHE_SIZE" ] ||
		set -- "$@" --cache-size "$ULOOP_CACHE_SIZE"
	[ "$ULOOP_TRANSPORT" = auto ] || set -- "$@" --transport "$ULOOP_TRANSPORT"
	[ -z "$ULOOP_DEBUG" ] || set -- "$@" -v
	env -i PATH="$PATH" uloop "$@" 2>"$ULOOP_ATTACH_ERR"
}

# uloop's error: its last line, without the "uloop: " prefix (notes and
# warnings come before it).
uloop_attach_err() {
	tail -n 1 "$ULOOP_ATTACH_ERR" | sed 's/^uloop: //' | grep . ||
		echo "uloop attach failed without a message (killed?)"
}

uloop_uptime() { cut -d' ' -f1 /proc/uptime; }
# uloop_json_num KEY: the number after "KEY": in the JSON on stdin, or 0
# (the keys asked for are unique in uloop's documents).
uloop_json_num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" | sed -n '1{p;q;}' | grep . || echo 0; }
uloop_json_str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | sed -n '1{p;q;}'; }

# What the cache holds before the attach: "BLOCKS CLEAN" (CLEAN: clean,
# unclean, or none for a cache that is new or not one yet).
uloop_cache_before() {
	if [ -z "$ULOOP_CACHEPATH" ] || [ ! -e "$ULOOP_CACHEPATH" ] ||
		! _i=$(uloop info "$ULOOP_CACHEPATH" --json 2>/dev/null); then
		echo "0 none"
		return 0
	fi
	case $_i in
	*'"clean":true'*) _c=clean ;;
	*'"clean":false'*) _c=unclean ;;
	*) _c=none ;;
	esac
	echo "$(echo "$_i" | uloop_json_num blocks_present) $_c"
}

# uloop_note_attach T0 BEFORE: the attach's figures for uloop_boot_metrics.
# Warm: the cache held blocks and still does (a cache of another image is
# dropped at attach); offline: uloop said it serves without its server.
uloop_note_attach() {
	_st=$(uloop status "$ULOOP_RDEV" --json 2>/dev/null)
	ULOOP_PID=$(echo "$_st" | uloop_json_num pid)
	_had=${2%% *}
	_now=$(echo "$_st" | uloop_json_num blocks_present)
	if grep -q "serving the cached image offline" "$ULOOP_ATTACH_ERR" 2>/dev/null; then _mode=offline
	elif [ "$_had" -gt 0 ] && [ "$_now" -ge "$_had" ]; then _mode=warm
	else _mode=cold; fi
	case $ULOOP_CACHEPATH in /run/uloop/ram/*) _kind=ram ;; *) _kind=flash ;; esac
	if [ -n "$ULOOP_COWPATH" ]; then _cow=$ULOOP_COWPATH
	elif [ -n "$ULOOP_COW" ]; then _cow=fallback
	else _cow=none; fi
	{
		echo "device $ULOOP_RDEV"
		echo "attach_start $1"
		echo "attached $(uloop_uptime)"
		echo "fetched_attach $(echo "$_st" | uloop_json_num bytes_fetched)"
		echo "present_before $_had"
		echo "last_shutdown ${2#* }"
		echo "mode $_mode"
		echo "cache $_kind"
		echo "cow $_cow"
	} >"$ULOOP_METRICS"
}

uloop_attach_root() {
	_t0=$(uloop_uptime)
	_before=$(uloop_cache_before)
	if ! ULOOP_RDEV=$(uloop_attach); then
		# A cache uloop refuses (another's data, a damaged header,
		# too small...) must not stop the boot: RAM will do.
		if [ -n "$ULOOP_CACHE" ] &&
			tail -n 1 "$ULOOP_ATTACH_ERR" | grep -q -e "^uloop: cache " -e "^uloop: bitmap "; then
			uloop_no_flash "$(uloop_attach_err)"
			_before="0 none"
			ULOOP_RDEV=$(uloop_attach)
		fi
	fi
	# A COW uloop refuses ("cow FILE: why": made over another image, the
	# image changed on the server since, a file or partition of other
	# data, in use) is left as it is: the boot goes on without it.
	if [ -z "$ULOOP_RDEV" ] && [ -n "$ULOOP_COWPATH" ] &&
		tail -n 1 "$ULOOP_ATTACH_ERR" | grep -q "^uloop: cow "; then
		uloop_no_cow "$(uloop_attach_err)"
		ULOOP_RDEV=$(uloop_attach)
	fi
	if [ -z "$ULOOP_RDEV" ]; then
		# uloop's own line names the URL when the server is the cause
		# ("URL: server answered 404"), else it is prefixed.
		_e=$(uloop_attach_err)
		case $_e in
		"$ULOOP_URL: "*) uloop_fail "root=uloop:$_e" ;;
		*) uloop_fail "root=uloop:$ULOOP_URL: $_e" ;;
		esac
		return 1
	fi
	# uloop's notes (offline, a mirror not used, a stale cache dropped,
	# a small flash...) belong on the console.
	while IFS= read -r _l; do uloop_say "${_l#uloop: }"; done <"$ULOOP_ATTACH_ERR"
	uloop_note_attach "$_t0" "$_before"
	uloop_say "root image on $ULOOP_RDEV, daemon pid $ULOOP_PID"
	# The daemon's binary goes away with the initramfs: a copy where the
	# booted system finds it (uloop status, detach) by name.
	mkdir -p /run/uloop/bin && cp "$(command -v uloop)" /run/uloop/bin/uloop 2>/dev/null
	uloop_verity_root || return 1
	uloop_root_partition
}

# The partitions of disk $1 (its name under /sys/class/block), one a
# line: "NUMBER NAME", by number.
uloop_partitions() {
	for _pp in "${DEV_SYS:-/sys}/class/block/$1"/*/partition; do
		[ -r "$_pp" ] || continue
		_pn=${_pp%/partition}
		echo "$(cat "$_pp") ${_pn##*/}"
	done | sort -n
}

# A partition's node: devtmpfs makes it with the partition, udev may
# still be making it (a /dev without devtmpfs); else from its numbers.
uloop_part_node() {
	[ -b "${DEV_DIR:-/dev}/$1" ] && return 0
	[ -z "$ULOOP_UDEV" ] ||
		udevadm settle --timeout=10 --exit-if-exists="${DEV_DIR:-/dev}/$1" >/dev/null 2>&1
	[ -b "${DEV_DIR:-/dev}/$1" ] && return 0
	_mm=$(cat "${DEV_SYS:-/sys}/class/block/$1/dev" 2>/dev/null) &&
		mknod "${DEV_DIR:-/dev}/$1" b "${_mm%%:*}" "${_mm#*:}" 2>/dev/null
	[ -b "${DEV_DIR:-/dev}/$1" ]
}

# What partition $2 of the image is called by rd.uloop.partition's form:
# its number, PARTUUID=x or PARTLABEL=x ($1: the number).
uloop_part_name() {
	case $ULOOP_PARTITION in
	PARTUUID=*) echo "PARTUUID=$(dev_partuuid "$2")" ;;
	PARTLABEL=*) echo "PARTLABEL=$(sed -n 's/^PARTNAME=//p' "${DEV_SYS:-/sys}/class/block/$2/uevent" 2>/dev/null)" ;;
	*) echo "$1" ;;
	esac
}

# rd.uloop.partition: ULOOP_FSDEV is partition N of the attached
# whole-disk image (GPT or MBR, as the kernel reads them), or the one of
# its own partitions with that PARTUUID (dev.sh) or PARTLABEL (the GPT
# entry's name): never a local disk's that happens to carry the same.
# The kernel reads the table at the disk's first open (uloop.ko's once
# its daemon serves, nbd's after its connect), which uloop attach made
# before it said ready; the open here only makes sure (an older uloop),
# and returns once the table is read, whoever began it: the partitions
# are all there and none is waited for.
uloop_root_partition() {
	ULOOP_FSDEV=$ULOOP_RDEV
	[ -n "$ULOOP_PARTITION" ] || return 0
	_pd=$(readlink -f "$ULOOP_RDEV")
	_pd=${_pd##*/}
	: <"$ULOOP_RDEV" 2>/dev/null
	_parts=$(uloop_partitions "$_pd")
	# dev.sh prints a PARTUUID in lower case; the parameter takes either.
	_want=$ULOOP_PARTITION
	case $_want in PARTUUID=*) _want=PARTUUID=$(echo "${_want#PARTUUID=}" | tr A-F a-f) ;; esac
	_pw=""
	while read -r _n _p; do
		[ -n "$_p" ] || continue
		[ "$(uloop_part_name "$_n" "$_p")" = "$_want" ] || continue
		_pw=$_p
		break
	done <<PARTS
$_parts
PARTS
	if [ -z "$_pw" ]; then
		if [ -z "$_parts" ]; then
			_have="it has no partition table the kernel reads: GPT or MBR"
		else
			_have="its partitions: $(echo "$_parts" | while read -r _n _p; do
				printf '%s, ' "$(uloop_part_name "$_n" "$_p")"; done | sed 's/, $//')"
		fi
		case $ULOOP_PARTITION in
		PARTUUID=*|PARTLABEL=*) uloop_fail "rd.uloop.partition=$ULOOP_PARTITION: no partition of $ULOOP_RDEV has it ($_have)" ;;
		*) uloop_fail "rd.uloop.partition=$ULOOP_PARTITION: $ULOOP_RDEV has no partition $ULOOP_PARTITION ($_have)" ;;
		esac
		return 1
	fi
	if ! uloop_part_node "$_pw"; then
		uloop_fail "rd.uloop.partition=$ULOOP_PARTITION: no node ${DEV_DIR:-/dev}/$_pw for partition $_pw of $ULOOP_RDEV"
		return 1
	fi
	ULOOP_FSDEV=${DEV_DIR:-/dev}/$_pw
	uloop_say "root filesystem on $ULOOP_FSDEV (rd.uloop.partition=$ULOOP_PARTITION)"
	return 0
}

# A verified image (root=uloop:URL/NAME.uloop): dm-verity on the device,
# so the kernel checks every block the root reads, from the flash as from
# the network, against the root hash; ULOOP_RDEV becomes the dm device.
uloop_verity_root() {
	_r=$(uloop status "$ULOOP_RDEV" --json 2>/dev/null | uloop_json_str root_hash)
	[ -n "$_r" ] || return 0
	set -- verity "$ULOOP_RDEV" --mode "$ULOOP_VERITY"
	[ -z "$ULOOP_ROOTHASH" ] || set -- "$@" --root-hash "$ULOOP_ROOTHASH"
	if ! _v=$(uloop "$@" 2>&1); then
		uloop_fail "dm-verity over $ULOOP_RDEV: $(printf '%s\n' "$_v" | tail -n 1 | sed 's/^uloop: //')"
		return 1
	fi
	uloop_say "root image verified by dm-verity on $_v (root hash $_r; rd.uloop.verity=$ULOOP_VERITY)"
	ULOOP_RDEV=$_v
	return 0
}

uloop_mount_image() {
	mkdir -p /run/uloop/lower
	_m=""
	if [ -n "$ULOOP_COWPATH" ]; then
		# Read-write, straight from the device: its writes are the
		# COW's.  (squashfs and erofs, never written, are refused with
		# rd.uloop.cow by uloop_check; auto means ext4 here.)
		_m=$(mount -t ext4 -o rw "$ULOOP_FSDEV" /run/uloop/lower 2>&1) && return 0
		uloop_cow_unmountable "$(uloop_why "$_m")" || return 1
	fi
	if [ "$ULOOP_FSTYPE" = auto ]; then
		for _t in squashfs erofs ext4; do
			_m=$(mount -t "$_t" -o ro "$ULOOP_FSDEV" /run/uloop/lower 2>&1) && break
		done
	else
		_m=$(mount -t "$ULOOP_FSTYPE" -o ro "$ULOOP_FSDEV" /run/uloop/lower 2>&1)
	fi
	uloop_is_mounted /run/uloop/lower && return 0
	uloop_fail "rd.uloop.fstype=$ULOOP_FSTYPE: cannot mount $ULOOP_FSDEV: $(uloop_why "$_m") (not squashfs, erofs or ext4?)"
	return 1
}

# The image does not mount read-write over its COW (not ext4; or what
# the COW holds is no filesystem the kernel takes): the COW is left as it
# is, the device detached, and the image attached again without it.
uloop_cow_unmountable() {
	if ! _e=$(uloop detach "$ULOOP_RDEV" 2>&1); then
		uloop_fail "rd.uloop.cow=$ULOOP_COW: cannot mount $ULOOP_RDEV read-write ($1), nor detach it: $(printf '%s\n' "$_e" | tail -n 1 | sed 's/^uloop: //')"
		return 1
	fi
	uloop_no_cow "cannot mount the image read-write over $ULOOP_COWPATH: $1"
	uloop_attach_root
}

# A writable layer on $1: RAM, or the persistent rd.uloop.overlay
# SPEC[:/path] ($2: mount options, "ro" for rd.live.overlay.readonly).
uloop_layer() {
	case $ULOOP_OVERLAY in
	tmpfs|tmpfs:size=*)
		mount -t tmpfs -o "$(uloop_layer_opts)" tmpfs "$1" && return 0
		uloop_fail "rd.uloop.overlay=$ULOOP_OVERLAY: cannot mount the RAM layer (bad size?)"
		return 1 ;;
	esac
	uloop_split "$ULOOP_OVERLAY"
	if ! _od=$(uloop_find_dev "$ULOOP_SPEC"); then
		uloop_fail "rd.uloop.overlay=$ULOOP_OVERLAY: no such device after 10 s"
		return 1
	fi
	if ! _m=$(uloop_mount_dev "$_od" "$1" "$2"); then
		uloop_fail "rd.uloop.overlay=$ULOOP_OVERLAY: cannot mount $_od: $(uloop_why "$_m")"
		return 1
	fi
	if [ -n "$ULOOP_PATH" ]; then
		if [ ! -d "$1$ULOOP_PATH" ] && [ -n "$2" ]; then
			uloop_fail "rd.live.overlay.readonly: rd.uloop.overlay=$ULOOP_OVERLAY: no $ULOOP_PATH in $_od (boot it writable once)"
			return 1
		fi
		if ! mkdir -p "$1$ULOOP_PATH" 2>/dev/null && [ ! -d "$1$ULOOP_PATH" ]; then
			uloop_fail "rd.uloop.overlay=$ULOOP_OVERLAY: cannot create $ULOOP_PATH in $_od"
			return 1
		fi
		if ! mount --bind "$1$ULOOP_PATH" "$1"; then
			uloop_fail "rd.uloop.overlay=$ULOOP_OVERLAY: cannot bind $ULOOP_PATH of $_od"
			return 1
		fi
	fi
	if [ -n "$ULOOP_RESET" ] && [ -z "$2" ]; then
		uloop_say "rd.live.overlay.reset: emptying the writable layer on $_od"
		rm -rf "$1/upper" "$1/work"
	fi
	return 0
}

# What takes the root's writes, for the boot's figures: cow, ram, flash
# (a persistent rd.uloop.overlay) or none.
uloop_note_writes() { echo "writes $1" >>"$ULOOP_METRICS"; }

uloop_mount_layer() {
	if [ -n "$ULOOP_COWPATH" ]; then
		[ -z "$ULOOP_RESET" ] ||
			uloop_warn "rd.live.overlay.reset: ignored with rd.uloop.cow, which is kept (to start it over: remove the file, or zero the partition's first MiB)"
		uloop_note_writes cow
		return 0
	fi
	if [ "$ULOOP_OVERLAY" = none ]; then
		uloop_note_writes none
		return 0
	fi
	case $ULOOP_OVERLAY in
	tmpfs*) uloop_note_writes ram ;;
	*) if [ -n "$ULOOP_OVLRO" ]; then uloop_note_writes ram; else uloop_note_writes flash; fi ;;
	esac
	mkdir -p /run/uloop/rw
	case $ULOOP_OVERLAY in
	tmpfs*) uloop_layer /run/uloop/rw || return 1 ;;
	*)
		if [ -n "$ULOOP_OVLRO" ]; then
			mkdir -p /run/uloop/ro
			uloop_layer /run/uloop/ro ro || return 1
			# Read-only, it cannot be made: a layer never used
			# writable has nothing to show.
			if [ ! -d /run/uloop/ro/upper ]; then
				uloop_fail "rd.live.overlay.readonly: rd.uloop.overlay=$ULOOP_OVERLAY has no upper/ yet (boot it writable once)"
				return 1
			fi
			mount -t tmpfs -o mode=0755,size=50% tmpfs /run/uloop/rw
		else
			uloop_layer /run/uloop/rw || return 1
		fi ;;
	esac
	mkdir -p /run/uloop/rw/upper /run/uloop/rw/work
	if [ "$ULOOP_UNION" = aufs ]; then
		grep -qw aufs /proc/filesystems || modprobe -q aufs 2>/dev/null
		if ! grep -qw aufs /proc/filesystems; then
			uloop_fail "rd.uloop.union=aufs: this kernel has no aufs (use rd.uloop.union=overlay)"
			return 1
		fi
	fi
	return 0
}

# With a COW the root is the image's own mount, read-write (dracut's
# generator, which runs before the attach, says so from rd.uloop.cow;
# ulooproot corrects it where the COW was given up).
uloop_union() {
	if [ "$ULOOP_OVERLAY" = none ] || { [ -n "$ULOOP_COW" ] && [ -z "$ULOOP_COW_FELL" ]; }; then
		echo "none /run/uloop/lower bind"
		return 0
	fi
	_low=/run/uloop/lower
	[ -n "$ULOOP_OVLRO" ] && [ "${ULOOP_OVERLAY%%:*}" != tmpfs ] && _low=/run/uloop/ro/upper:$_low
	if [ "$ULOOP_UNION" = aufs ]; then
		_br=/run/uloop/rw/upper=rw
		_ifs=$IFS
		IFS=:
		for _l in $_low; do _br=$_br:$_l=ro; done
		IFS=$_ifs
		echo "aufs none br=$_br"
	else
		echo "overlay uloop lowerdir=$_low,upperdir=/run/uloop/rw/upper,workdir=/run/uloop/rw/work"
	fi
}

uloop_mount_root() {
	# shellcheck disable=SC2046  # TYPE WHAT OPTIONS, no blanks in any
	set -- "$1" $(uloop_union)
	_m=$(mount -t "$2" -o "$4" "$3" "$1" 2>&1) && return 0
	uloop_fail "rd.uloop.union=$ULOOP_UNION: cannot mount the root: $(uloop_why "$_m")"
	return 1
}

# At poweroff systemd-shutdown, once it has killed all but root storage
# and unmounted what it could, pivots into /run/initramfs and runs its
# shutdown when that is executable: the static uloop, linked (one copy
# in RAM) from where uloop_attach_root put it, does the rest
# (src/cmd_shutdown.c).  Without it the daemon is never told: the blocks
# of its last second (the shutdown's own reads among them) are lost and
# fetched again at every boot.  initramfs-tools and dracut's own init
# mount /run noexec, where systemd would not: it must be exec for that.
uloop_prepare_shutdown() {
	mkdir -p /run/initramfs/oldroot
	if [ -e /run/initramfs/shutdown ]; then
		uloop_warn "/run/initramfs/shutdown is there already: it, not uloop, will end the boot (the cache keeps only what was committed)"
	elif ! ln /run/uloop/bin/uloop /run/initramfs/shutdown 2>/dev/null &&
		! cp /run/uloop/bin/uloop /run/initramfs/shutdown; then
		uloop_warn "cannot put uloop in /run/initramfs: at poweroff the last blocks fetched are not committed"
		return 0
	fi
	if awk '$2 == "/run" && $4 ~ /(^|,)noexec(,|$)/ { f = 1 } END { exit !f }' /proc/mounts &&
		! _m=$(mount -o remount,exec /run 2>&1); then
		uloop_warn "cannot remount /run exec ($(uloop_why "$_m")): at poweroff the last blocks fetched are not committed"
	fi
	return 0
}

# Seconds between two uptimes, and a byte count for people.
uloop_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
uloop_bytes() {
	awk -v n="$1" 'BEGIN { if (n < 1000) printf "%d B", n
		else if (n < 1000000) printf "%.1f kB", n / 1000
		else printf "%.1f MB", n / 1000000 }'
}

uloop_metric() { sed -n "s/^$1 //p" "$ULOOP_METRICS"; }

# The boot's figures, when the root is about to take over: KEY VALUE lines
# of ULOOP_METRICS, the daemon's counters now, uloop.ko's where it serves.
# hits/misses: uloop.ko's requests (served from the flash in the kernel /
# sent to the daemon), else the engine's blocks.
uloop_boot_metrics() {
	[ -r "$ULOOP_METRICS" ] || return 0
		_dev=$(uloop_metric device)
	_t0=$(uloop_metric attach_start) _t1=$(uloop_metric attached) _t2=$(uloop_uptime)
	# The daemon rewrites its state every second: a sync rewrites it now
	# (and commits what the initramfs read, should the node go down early).
	uloop sync "$_dev" 2>/dev/null
	_st=$(uloop status "$_dev" --json 2>/dev/null)
	_tr=$(echo "$_st" | uloop_json_str transport)
	_prof=$(echo "$_st" | uloop_json_str profile)
	_fa=$(uloop_metric fetched_attach)
	_fr=$(echo "$_st" | uloop_json_num bytes_fetched)
	_hb=$(echo "$_st" | uloop_json_num hit_blocks)
	_mb=$(echo "$_st" | uloop_json_num miss_blocks)
	_sys=/sys/block/${_dev#/dev/}/uloop
	if [ "$_tr" = kmod ] && [ -r "$_sys/hits" ]; then
		_h=$(cat "$_sys/hits") _m=$(cat "$_sys/misses")
	else
		_h=$_hb _m=$_mb
	fi
	_mode=$(uloop_metric mode) _last=$(uloop_metric last_shutdown)
	_cow=$(uloop_metric cow) _wr=$(uloop_metric writes)
	{
		printf '{"device":"%s","transport":"%s","mode":"%s","cache":"%s","cow":"%s","writes":"%s",' \
			"$_dev" "$_tr" "$_mode" "$(uloop_metric cache)" "${_cow:-none}" "${_wr:-ram}"
		printf '"last_shutdown":"%s","attach_start_s":%s,"attached_s":%s,"root_s":%s,' \
			"$_last" "$_t0" "$_t1" "$_t2"
		printf '"attach_time_s":%s,"fetched_attach_bytes":%s,"fetched_root_bytes":%s,' \
			"$(uloop_secs "$_t0" "$_t1")" "$_fa" "$_fr"
		printf '"blocks_present_before":%s,"blocks_present_root":%s,"block_size":%s,' \
			"$(uloop_metric present_before)" "$(echo "$_st" | uloop_json_num blocks_present)" \
			"$(echo "$_st" | uloop_json_num block_size)"
		printf '"hits":%s,"misses":%s,"hit_blocks":%s,"miss_blocks":%s,"profile":"%s"}\n' \
			"$_h" "$_m" "$_hb" "$_mb" "${_prof:-none}"
	} >"$ULOOP_BOOT_JSON.tmp" && mv "$ULOOP_BOOT_JSON.tmp" "$ULOOP_BOOT_JSON"
	_ls=""
	[ "$_last" = none ] || _ls=" (last shutdown $_last)"
	_l="boot: $_mode$_ls, attached at $_t1 s ($(uloop_secs "$_t0" "$_t1") s), root at $_t2 s, fetched $(uloop_bytes "$_fa") by attach and $(uloop_bytes "$_fr") by root, hits $_h misses $_m, profile ${_prof:-none}"
	case $_cow in
	/*) _l="$_l, root read-write on the COW $_cow" ;;
	fallback) _l="$_l, COW not used: writes in ${_wr:-ram}" ;;
	esac
	# The kernel log (dmesg), at info level; the console unless the kernel
	# prints that level there itself.
	echo "<6>uloop: $_l" >/dev/kmsg 2>/dev/null
	[ "$(cut -f1 /proc/sys/kernel/printk 2>/dev/null)" -gt 6 ] 2>/dev/null ||
		{ echo "uloop: $_l" >/dev/console; } 2>/dev/null || echo "uloop: $_l"
	return 0
}
