#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: partly H8
# A short libFuzzer run of the HTTP field parsers (make fuzz runs long):
# no crash, no sanitizer report, no broken contract (the harness aborts).
. "$(dirname "$0")/functions.sh"
f=$top/build/fuzz/fuzz-http-parse
[ -x "$f" ] || { echo "requires clang with libFuzzer (build/fuzz/fuzz-http-parse)"; exit 77; }
mkdir -p "$T/corpus"
# UBSan only prints a report and goes on unless told to halt: the run
# must end at the first one.  The fuzzer's own status is the verdict (a
# pipe into tail lost it); libFuzzer's crash status is 77, this suite's
# skip, so any nonzero status is turned into a failure here.  The input
# that failed is kept in build/fuzz (crash-*), not in the current directory.
rc=0
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	"$f" -max_total_time="${FUZZ_SHORT_SECONDS:-20}" -print_final_stats=1 \
	-artifact_prefix="$(dirname "$f")/" \
	"$T/corpus" "$top/tests/fuzz/corpus-http" >"$T/log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	tail -n 40 "$T/log"
	fail "fuzz-http-parse exited $rc"
fi
tail -n 12 "$T/log"
