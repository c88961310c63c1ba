#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run-tests.sh DIR... - run every test in the given directories.
#
# A test is an executable tests/integ/test-*.sh, or a unit test
# build/asan/test-* built from tests/unit/test-*.c.  Exit 0 = pass,
# 77 = skip (the test prints why), anything else = fail.  Each test's
# output goes to build/test-logs/NAME.log and is shown when it fails.
# The tests of tests/vm run at the same time (each boots its guests one
# after another; under TCG a guest keeps one core busy), one per core,
# beside the other directories' tests, which run one at a time: while
# those run, the guests get one core less (see "The VM tests run beside").
# Before it, the reliability report (tests/reliability-report.sh): the
# whole table when every directory ran (make check), else its last line.
# The last line is always "N passed, N failed" (then "N skipped").
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
logs="$top/build/test-logs"
mkdir -p "$logs"
pass=0 fail=0 skip=0 failed=""
: >"$logs/results"	# NAME PASS|FAIL|SKIP, for the reliability report

report() {	# report NAME RC SECS
	name=$1 rc=$2 secs=$3
	log="$logs/$name.log"
	case $rc in
	0)	pass=$((pass + 1)); echo "PASS $name (${secs}s)"
		echo "$name PASS" >>"$logs/results" ;;
	77)	skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$log")"
		echo "$name SKIP" >>"$logs/results" ;;
	*)	fail=$((fail + 1)); failed="$failed $name"
		echo "$name FAIL" >>"$logs/results"
		echo "FAIL $name (exit $rc, ${secs}s); last lines of $log:"
		tail -n 30 "$log" | sed 's/^/    /' ;;
	esac
}

run_one() {
	name=$1
	shift
	log="$logs/$name.log"
	mkdir -p "$(dirname "$log")"
	start=$(date +%s)
	# Not the VM tests' token FIFO (fd 3): a test counts its descriptors
	# (test-exhaust-fds runs the daemon at ulimit -n 16).
	"$@" >"$log" 2>&1 3>&-
	report "$name" $? $(( $(date +%s) - start ))
}

# Start a test in the background; finish_bg reports them all, in order.
# At most ULOOP_VM_JOBS run at once (a FIFO holds that many tokens),
# by default one per core: each guest wants a core under TCG, and more
# at once only stretch every boot towards its timeout.  A test starts
# once the VM preparation ($prep) is done: it leaves .prepared.
bg="" nbg=0
make_slots() {	# make_slots N: the FIFO on fd 3 with N tokens
	slots=$logs/.slots
	rm -f "$slots"
	mkfifo "$slots"
	exec 3<>"$slots"
	rm -f "$slots"
	give "$1"
}
give() {	# give N: N more tokens
	i=0
	while [ "$i" -lt "$1" ]; do echo >&3; i=$((i + 1)); done
}
run_bg() {
	name=$1
	shift
	log="$logs/$name.log"
	mkdir -p "$(dirname "$log")"
	# In the order queued (the longest first): each waits for the one
	# before it to have its token, since a FIFO's readers are served in
	# no particular order.
	( while [ -n "$prep" ] && [ ! -e "$logs/.prepared" ]; do sleep 2; done
	  while [ "$nbg" -gt 0 ] && [ ! -e "$logs/.started.$((nbg - 1))" ]; do sleep 1; done
	  read -r _ <&3; : >"$logs/.started.$nbg"; start=$(date +%s)
	  "$@" >"$log" 2>&1 </dev/null 3>&-
	  echo "$? $(( $(date +%s) - start ))" >"$log.rc"; echo >&3 ) &
	bg="$bg $name"
	nbg=$((nbg + 1))
}
finish_bg() {
	wait
	for name in $bg; do
		read -r rc secs <"$logs/$name.log.rc"
		rm -f "$logs/$name.log.rc"
		report "$name" "$rc" "$secs"
	done
	bg=""
}

# Every VM test, queued (they wait for $prep and a token).
queue_vm() {
	dir=$1
	# The longest first (figures of a run on 2 cores), so the two
	# lanes end together rather than one waiting on a long test
	# started last; the rest in name order.
	first="initramfs-tools dracut-options daemon-kill dracut pxe-loaders
		verity kmod-fuzz flakey cmdline dkms update hooks-fail
		dracut-systemd clock memory-pressure boot debian"
	for t in $first; do
		[ -e "$top/$dir/test-vm-$t.sh" ] &&
			run_bg "$(basename "$dir")/test-vm-$t" sh "$top/$dir/test-vm-$t.sh"
	done
	for t in "$top/$dir"/test-*.sh; do
		[ -e "$t" ] || continue
		case " $(echo $first) " in *" $(basename "$t" .sh | sed 's/^test-vm-//') "*) continue ;; esac
		run_bg "$(basename "$dir")/$(basename "$t" .sh)" sh "$t"
	done
	# Again on Debian 13's kernel (6.12): the tests of what depends on
	# the kernel's API (uloop.ko) and a boot.  Named NAME@trixie.
	sed 's/#.*//' "$top/$dir/trixie-tests" >"$logs/.trixie-tests"
	while read -r t vars; do
		[ -n "$t" ] || continue
		# shellcheck disable=SC2086
		run_bg "$(basename "$dir")/test-vm-$t@trixie" \
			env VM_KSERIES=trixie $vars sh "$top/$dir/test-vm-$t.sh"
	done <"$logs/.trixie-tests"
}

# The VM tests run beside the others.  What the guests share (kernels,
# uloop.ko for them, the distribution trees: minutes on a fresh machine)
# is built first, in the background; meanwhile, and then while the unit,
# integ and kmod tests run one at a time (they leave a core idle most of
# the time), the guests get one core less than they have after.
jobs=${ULOOP_VM_JOBS:-$(nproc)}
vmdir="" others=""
for dir in "$@"; do
	case $dir in
	*vm*) vmdir=$dir ;;
	*) others="$others $dir" ;;
	esac
done
prep="" held=0
if [ -n "$vmdir" ]; then
	rm -f "$logs/.prepared" "$logs"/.started.*
	( sh "$top/$vmdir/prepare.sh" >"$logs/vm-prepare.log" 2>&1; : >"$logs/.prepared" ) &
	prep=$!
	[ -n "$others" ] && [ "$jobs" -gt 1 ] && held=1
	make_slots $((jobs - held))
	queue_vm "$vmdir"
fi

for dir in $others; do
	case $dir in
	*unit*)
		for src in "$top"/tests/unit/test-*.c; do
			[ -e "$src" ] || continue
			name=$(basename "$src" .c)
			run_one "unit/$name" "$top/build/asan/$name"
		done ;;
	*)
		for t in "$top/$dir"/test-*.sh; do
			[ -e "$t" ] || continue
			run_one "$(basename "$dir")/$(basename "$t" .sh)" sh "$t"
		done ;;
	esac
done

if [ -n "$vmdir" ]; then
	give "$held"
	wait "$prep"
	cat "$logs/vm-prepare.log"
	finish_bg
fi

if [ $# -ge 4 ]; then
	sh "$top/tests/reliability-report.sh" "$logs/results" || fail=$((fail + 1))
else
	sh "$top/tests/reliability-report.sh" "$logs/results" | tail -n 1
fi
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
