# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# fuzz-functions.sh - sourced by the tests/integ/test-fuzz-*.sh after
# functions.sh.
#
#   fuzz_regress NAME   every file of tests/fuzz/corpus-CORPUS once through
#                       build/fuzz/fuzz-NAME (CORPUS: NAME's first word),
#                       then a short run (FUZZ_SHORT_SECONDS, 20) from that
#                       corpus.  Skips without the harness (no clang).
#                       Any crash, sanitizer report or broken contract (the
#                       harnesses abort) fails the test, naming the input;
#                       a failing input is kept in build/fuzz (crash-*).

fuzz_regress() {
	_f=$top/build/fuzz/fuzz-$1
	_c=$top/tests/fuzz/corpus-${1%%-*}
	[ -x "$_f" ] || { echo "requires clang with libFuzzer (build/fuzz/fuzz-$1)"; exit 77; }
	[ -d "$_c" ] || fail "no corpus $_c"
	# UBSan only prints a report and goes on unless told to halt.
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	export UBSAN_OPTIONS
	# Files given by name run once each, in one process; a failing one is
	# named in the log ("Running: FILE" just before the report).
	_n=$(find "$_c" -type f | wc -l)
	"$_f" -artifact_prefix="$(dirname "$_f")/" "$_c"/* >"$T/one" 2>&1 || {
		tail -n 30 "$T/one"
		fail "fuzz-$1: corpus input $(grep '^Running: ' "$T/one" | tail -n 1 | sed 's/^Running: //') fails"
	}
	[ "$(grep -c '^Executed ' "$T/one")" -eq "$_n" ] || fail "fuzz-$1: not every corpus input ran"
	echo "fuzz-$1: $_n corpus inputs pass"
	mkdir -p "$T/corpus-$1"
	# The fuzzer's own status is the verdict; libFuzzer's crash status
	# is 77, this suite's skip, so any nonzero status is a failure here.
	_rc=0
	"$_f" -max_total_time="${FUZZ_SHORT_SECONDS:-20}" -print_final_stats=1 \
		-artifact_prefix="$(dirname "$_f")/" \
		"$T/corpus-$1" "$_c" >"$T/log" 2>&1 || _rc=$?
	if [ "$_rc" -ne 0 ]; then
		tail -n 40 "$T/log"
		fail "fuzz-$1 exited $_rc"
	fi
	grep -E '^stat::number_of_executed_units|^Done' "$T/log" || true
}
