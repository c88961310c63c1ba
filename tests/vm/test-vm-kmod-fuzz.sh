#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly K1 K2 K3 K4
# uloop.ko under tests/vm/ioctl-fuzz (a seeded random fuzzer of its ioctls,
# session reads and completions, with readers of its block devices
# meanwhile) in a Debian-kernel guest booted with slub_debug=FZPU (red
# zones, poisoning and allocation tracking on every slab cache: this
# kernel has neither KASAN nor kmemleak).  Two cycles of insmod, fuzz,
# remove everything, rmmod: one fuzzer with exact oracles (each ioctl's
# outcome, INFO unchanged after every failed ioctl), then two racing.
# Each cycle checks:
#  - the fuzzer's oracles held, and every device could be removed once its
#    readers were gone;
#  - a bystander device served by a well-behaved daemon (uloopd-test) and
#    read by a verifying reader all along: every byte right, no error;
#  - no leak: the live slab objects allocated with uloop.ko on the stack
#    (debugfs slab/*/alloc_traces) are back to what they were after
#    insmod, but for the sysfs nodes of the disks (counted apart: about
#    one cycle of two racing fuzzers in three leaves a removed disk's
#    /sys/block/uloopN link and its directory held, through every
#    reclaim, on 6.1 and 6.12 alike, an open question: the disk, its
#    queue and our device are freed); the tmpfs holding every cache file (and the node of the loop
#    device used as a block-device cache) can be unmounted, so no
#    reference to a cache file is left; rmmod works;
#  - dmesg: no WARNING, BUG, Oops, general protection, slub report,
#    refcount or list corruption, hung task, lockdep line.
# KMOD_FUZZ_SEED replays a run (the seed is printed); KMOD_FUZZ_CALLS is
# the ioctls of each cycle: 30000 by default, so that a run makes about
# 100000 calls (60000 ioctls, and about 0.6 other calls, reads, opens,
# mmaps, per ioctl), about 4 minutes of fuzzing under TCG beside other
# guests.
. "$(dirname "$0")/../integ/functions.sh"
. "$(dirname "$0")/lib.sh"
vm_kernel
vm_uloop_ko daemon
# Generous: the fuzz takes minutes under TCG beside other guests.
VM_TIMEOUT=1800
VM_MEM=768
F=$top/build/test/ioctl-fuzz
[ -x "$F" ] || fail "missing $F (make test-bins)"
SEED=${KMOD_FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
CALLS=${KMOD_FUZZ_CALLS:-30000}
echo "kmod-fuzz: seed $SEED (KMOD_FUZZ_SEED=$SEED replays it), $CALLS ioctls a cycle"

head -c $((3 * 1048576 + 1000)) /dev/urandom >"$T/image"

cat >"$T/guest.sh" <<G
set -u
# The readers' I/O errors are many: into the (large) log, not the console.
dmesg -n 1
mount -t debugfs none /sys/kernel/debug
# Live objects allocated with uloop.ko on the stack, summed over every
# slab cache (slub_debug=U records each allocation's stack), but for what
# the module's init made (its workqueue, control node, major: they live
# until rmmod) and the sysfs nodes the block layer made for a disk
# (kernfs nodes, their names, the radix nodes of kernfs's id allocator):
# those live as long as the VFS holds them, and the id allocator's nodes
# as long as anybody's id is in their range.  A leaked disk or device
# still shows: its gendisk, queue, tag set and our own allocations are
# counted.  objs sysfs: those sysfs nodes alone; objs dump: every
# allocation, the sysfs ones too.
objs() {
	cat /sys/kernel/debug/slab/*/alloc_traces 2>/dev/null | awk -v mode="\${1:-}" '
		function end() {
			if (!hit || init) return
			if (mode == "dump") print rec
			else if ((mode == "sysfs") == kernfs) s += n
		}
		/^ *[0-9]+ / { end(); n = \$1; rec = \$0; hit = /\[uloop\]/; init = 0; kernfs = 0; next }
		{ rec = rec "\n" \$0 }
		/\[uloop\]/ { hit = 1 }
		/do_init_module/ { init = 1 }
		/__kernfs_new_node/ { kernfs = 1 }
		END { end(); if (mode != "dump") print s + 0 }'
}
mem() { awk '/^(MemAvailable|Slab):/ { printf "%s %s ", \$1, \$2 } END { print "" }' /proc/meminfo; }
echo "before: \$(mem)"

cycle() {	# cycle NAME SEED PROCS
	echo "== cycle \$1: seed \$2, \$3 fuzzer(s)"
	insmod /uloop.ko || return 1
	t=\$(date +%s)
	# Twice alike (see the count after the fuzz below).
	base=\$(objs) b=
	while [ "\$b" != "\$base" ]; do b=\$base base=\$(objs); done
	sbase=\$(objs sysfs)
	echo "\$1: slab allocation traces read (twice) in \$((\$(date +%s) - t)) s"
	echo "\$1: uloop objects after insmod: \$base"
	[ -e /sys/kernel/debug/slab/kmalloc-64/alloc_traces ] && echo "\$1 TRACKING ON"
	mkdir -p /fuzz
	mount -t tmpfs -o size=128m fuzz /fuzz
	# A block device as a cache too: a loop device whose node is on /fuzz.
	truncate -s 8M /fuzz/lo.img
	losetup /dev/loop0 /fuzz/lo.img && mknod /fuzz/lodev b 7 0

	# The bystander: a sane daemon, a verifying reader, an fd holding it.
	truncate -s 8M /tmp/by.cache
	rm -f /tmp/by.out
	uloopd-test serve /image /tmp/by.cache --index 30 --hold 60000 >/tmp/by.out 2>&1 &
	bpid=\$!
	while [ ! -s /tmp/by.out ]; do sleep 0.1; done
	exec 7</dev/uloop30
	rm -f /tmp/stop /tmp/verify.bad
	( n=0; while [ ! -e /tmp/stop ]; do
		uloopd-test verify /dev/uloop30 /image 2 4096 >/dev/null 2>>/tmp/verify.err ||
			echo bad >>/tmp/verify.bad
		n=\$((n + 1))
	done; echo "\$n" >/tmp/verify.rounds ) &
	vpid=\$!

	t0=\$(date +%s)
	rc=0
	ioctl-fuzz /fuzz --seed \$2 --calls $CALLS --procs \$3 --readers 2 >/tmp/fz.out 2>&1 || rc=\$?
	echo "\$1: fuzz exit \$rc in \$((\$(date +%s) - t0)) s"
	grep -v ' procs=' /tmp/fz.out | tail -n 20
	[ \$rc = 0 ] && echo "\$1 FUZZ OK"
	touch /tmp/stop
	wait \$vpid
	echo "\$1: bystander verified in \$(cat /tmp/verify.rounds) rounds"
	[ ! -e /tmp/verify.bad ] && echo "\$1 BYSTANDER OK"
	cat /tmp/verify.err 2>/dev/null | tail -n 3
	exec 7<&-
	kill \$bpid; wait \$bpid || echo "\$1: bystander daemon exit \$?"
	uloopd-test remove 30 >/dev/null || echo "\$1: bystander not removed"

	# The readers looked up sysfs files of the devices: the dentries
	# cached for them (/sys/block/uloopN, a link kernfs invalidates only
	# at its next lookup) hold the devices' sysfs nodes until reclaim,
	# and a dentry just used survives one reclaim pass.  Objects freed
	# after an RCU grace period or by a work item: wait for them to
	# settle (a leak never does).  A walk of the slabs may miss a slab
	# the allocator holds at that moment: the count must be the base
	# twice in a row.
	i=0 same=0 now=
	while [ \$same -lt 2 ] && [ \$i -lt 15 ]; do
		[ \$i = 0 ] || sleep 2
		echo 2 >/proc/sys/vm/drop_caches
		now=\$(objs)
		if [ "\$now" = "\$base" ]; then same=\$((same + 1)); else same=0; fi
		i=\$((i + 1))
	done
	echo "\$1: uloop objects after removing every device: \$now (after insmod: \$base; \$i reclaim rounds)"
	[ "\$now" = "\$base" ] && echo "\$1 NO LEAKED OBJECTS"
	[ "\$now" = "\$base" ] || { ls /sys/block; objs dump | head -n 80; }
	# For the record: sysfs nodes of removed disks still held, and who
	# could hold them (a process in or on /sys).
	n=\$(objs sysfs)
	echo "\$1: sysfs nodes made in ADD still held: \$n (after insmod: \$sbase)"
	[ "\$n" = "\$sbase" ] || ls -l /proc/[0-9]*/cwd /proc/[0-9]*/fd 2>/dev/null | grep ' -> /sys/' | head -n 10
	losetup -d /dev/loop0
	umount /fuzz && echo "\$1 NO CACHE FILE HELD"
	rmmod uloop && echo "\$1 RMMOD OK"
	echo "\$1: \$(mem)"
}

cycle one $SEED 1
cycle two $((SEED + 1)) 2
# WARN, BUG (slub's reports start with it too), oops, GPF, refcount_t and
# list corruption, hung tasks, lockdep, UBSAN.
bad="WARNING:|BUG[: ]|Oops|general protection|refcount_t|corruption|blocked for more than"
bad="\$bad|circular locking|lockdep|Call Trace|RIP:|UBSAN|Poison overwritten|Redzone"
dmesg | grep -E "\$bad" || echo "DMESG CLEAN"
G
vm_initrd "$T/t.img" "$T/guest.sh" "$KO:/uloop.ko" "$D:/bin/uloopd-test" "$F:/bin/ioctl-fuzz" \
	"$T/image:/image"
vm_boot kmod-fuzz "$T/t.img" "" "slub_debug=FZPU log_buf_len=16M" || {
	tail -n 60 "$T/kmod-fuzz.log"
	fail "guest failed (seed $SEED)"
}
grep -E "^(==|before|one|two|ioctl-fuzz|VIOLATION)" "$T/kmod-fuzz.log" || true
for c in one two; do
	for want in "TRACKING ON" "FUZZ OK" "BYSTANDER OK" "NO LEAKED OBJECTS" "NO CACHE FILE HELD" \
		"RMMOD OK"; do
		grep -q "^$c $want" "$T/kmod-fuzz.log" ||
			{ tail -n 60 "$T/kmod-fuzz.log"; fail "cycle $c: no '$want' (seed $SEED)"; }
		echo "ok: $c $want"
	done
done
grep -q "DMESG CLEAN" "$T/kmod-fuzz.log" || { tail -n 60 "$T/kmod-fuzz.log"; fail "dmesg (seed $SEED)"; }
echo "ok: DMESG CLEAN"
