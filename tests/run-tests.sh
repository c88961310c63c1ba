#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run-tests.sh DIR... - run every test in the given directories.
#
# A test is an executable tests/integ/test-*.sh, or a unit test
# build/asan/test-* built from tests/unit/test-*.c.  Exit 0 = pass,
# 77 = skip (the test prints why), anything else = fail.  Each test's
# output goes to build/test-logs/NAME.log and is shown when it fails.
# The last line is always "N passed, N failed" (then "N skipped").
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
logs="$top/build/test-logs"
mkdir -p "$logs"
pass=0 fail=0 skip=0 failed=""

run_one() {
	name=$1
	shift
	log="$logs/$name.log"
	mkdir -p "$(dirname "$log")"
	start=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	case $rc in
	0)	pass=$((pass + 1)); echo "PASS $name (${secs}s)" ;;
	77)	skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$log")" ;;
	*)	fail=$((fail + 1)); failed="$failed $name"
		echo "FAIL $name (exit $rc, ${secs}s); last lines of $log:"
		tail -n 30 "$log" | sed 's/^/    /' ;;
	esac
}

for dir in "$@"; do
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

[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
