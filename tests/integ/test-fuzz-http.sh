#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# A short libFuzzer run of the HTTP field parsers (make fuzz runs long):
# no crash, no sanitizer report, no broken contract (the harness aborts).
. "$(dirname "$0")/functions.sh"
f=$top/build/fuzz/fuzz-http-parse
[ -x "$f" ] || { echo "requires clang with libFuzzer (build/fuzz/fuzz-http-parse)"; exit 77; }
mkdir -p "$T/corpus"
"$f" -max_total_time="${FUZZ_SHORT_SECONDS:-20}" -print_final_stats=1 \
	"$T/corpus" "$top/tests/fuzz/corpus-http" 2>&1 | tail -n 12
