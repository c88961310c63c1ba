#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# reliability-report.sh [RESULTS] - the reliability catalogue's coverage,
# read off one table: for each case of tests/reliability-cases.txt, the
# tests that name it and how they did.
#
# A test names its cases in a header line (within its first 5 lines):
#     # reliability: C5 R1; partly C4 E2
# "partly" marks cases it exercises less than the catalogue asks (fewer
# rounds, a process kill for a power cut, no verifying reader...).
# RESULTS holds "NAME PASS|FAIL|SKIP" lines as tests/run-tests.sh writes
# them (NAME like integ/test-kill9); a test not in it shows "not run".
# A case is covered when a test covering it in full passed, partly when
# only partial ones passed.  The last line counts them.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
results=${1:-$top/build/test-logs/results}
[ -r "$results" ] || results=/dev/null

tags=$(mktemp)
trap 'rm -f "$tags"' EXIT
for f in "$top"/tests/unit/test-*.c "$top"/tests/*/test-*.sh; do
	[ -e "$f" ] || continue
	dir=$(basename "$(dirname "$f")")
	name=$dir/$(basename "$f" | sed 's/\.[a-z]*$//')
	sed -n "1,5s/^.*reliability: *//p" "$f" | sed "s|^|$name |"
done >"$tags"

awk -v cases="$top/tests/reliability-cases.txt" -v results="$results" '
BEGIN {
	while ((getline l < results) > 0) {
		split(l, f, " ")
		res[f[1]] = f[2]
	}
}
# tags: NAME IDS... [; partly IDS...] (the ";" may end an ID: "R1;")
{
	partly = 0
	r = ($1 in res) ? res[$1] : "not run"
	for (i = 2; i <= NF; i++) {
		w = $i
		sub(/;$/, "", w)
		if (w == "partly" || w == "partly:") { partly = 1; continue }
		if (w == ";") continue
		if (w !~ /^[A-Z][0-9]$/) {
			printf "reliability-report: %s names \"%s\", not a case ID\n", $1, w > "/dev/stderr"
			bad = 1
			continue
		}
		cov[w] = cov[w] (cov[w] == "" ? "" : ", ") $1 (partly ? "*" : "") " " r
		if (!partly && r == "PASS") full[w] = 1
		if (r == "PASS") some[w] = 1
		if (r == "FAIL") failed[w] = 1
	}
}
END {
	print "Reliability cases (RELIABILITY.md; * covers it partly):"
	while ((getline l < cases) > 0) {
		if (l ~ /^#/ || l == "") continue
		id = substr(l, 1, 2)
		known[id] = 1
		printf "  %s\n", l
		printf "      %s\n", cov[id] == "" ? "(no test)" : cov[id]
		n++
		if (full[id]) nf++
		else if (some[id]) np++
		else nn++
		if (failed[id]) nx++
	}
	for (id in cov)
		if (!(id in known)) {
			printf "reliability-report: %s is not a case of %s\n", id, cases > "/dev/stderr"
			bad = 1
		}
	printf "reliability: %d cases: %d covered, %d partly, %d without a passing test; %d with a failed test\n",
		n, nf, np, nn, nx
	exit bad
}' "$tags"
