# SPDX-License-Identifier: GPL-2.0-or-later
# timing.sh - the benches' clock, sourced: seconds of a command, medians
# and ratios of them.  Needs $T (the test helpers' temporary directory).

now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }
# timeit CMD...: the seconds CMD took, after earlier runs' writeback
# settled (sync); fails as CMD failed, showing its stderr: a failed run
# is not a fast one.
timeit() {
	sync
	_s=$(now)
	_rc=0
	"$@" >/dev/null 2>"$T/timeit.err" || _rc=$?
	_e=$(now)
	[ $_rc = 0 ] || { cat "$T/timeit.err" >&2; return $_rc; }
	echo "$_s $_e" | awk '{ printf "%.4f\n", $2 - $1 }'
}
