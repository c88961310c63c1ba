#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# reliability: I1
# The boot library's command-line parser (initramfs/lib/cmdline.sh) against
# the kernel's own tokeniser, under dash and busybox ash.  kcmdline (a C
# port of the kernel's next_arg(), tests/integ/kcmdline.c) prints, for each
# command line, its words and what uloop_parse_line must set for them (last
# value wins, lists in order, an empty value or a newline in one of uloop's
# parameters an error); the shell must print the very same bytes.  Inputs:
# the checked-in generated corpus (tests/fuzz/corpus-kcmdline/generated.txt:
# quotes every way, repeats, values up to 2 KiB, tabs, newlines, \r, 0xa0
# and other non-UTF-8 bytes, "--", empty values, '=' in values), fresh
# cases from a new seed each run (KCMDLINE_SEED, KCMDLINE_CASES), and a
# table in the manner of dracut's getarg tests (getarg.txt), whose values
# the C model must give too.  A failing fresh case is kept in build/fuzz.
. "$(dirname "$0")/functions.sh"
requires dash busybox od
k=$top/build/test/kcmdline
[ -x "$k" ] || fail "no $k (make test-bins)"
c=$top/tests/fuzz/corpus-kcmdline
bb=$T/bb
mkdir -p "$bb"
busybox --install -s "$bb"

# The shell side: each case decoded (printf %b; an x keeps trailing
# blanks from the command substitution), parsed, printed as kcmdline
# prints it.
cat >"$T/drive.sh" <<'D'
. "$1/initramfs/lib/cmdline.sh"
n=0
while IFS= read -r l; do
	n=$((n + 1))
	cl=$(printf '%bx' "$l")
	cl=${cl%x}
	printf '#case %d\n' "$n"
	uloop_parse_line "$cl"
	[ -z "$ULOOP_WORDS" ] || printf '%s\n' "$ULOOP_WORDS"
	echo --
	printf 'URL=%s\nCACHE=%s\nOVERLAY=%s\nUNION=%s\nFSTYPE=%s\nTRANSPORT=%s\n' \
		"$ULOOP_URL" "$ULOOP_CACHE" "$ULOOP_OVERLAY" "$ULOOP_UNION" "$ULOOP_FSTYPE" "$ULOOP_TRANSPORT"
	printf 'CA=%s\nROOTHASH=%s\nVERITY=%s\nPROFILE=%s\nHYDRATE=%s\nINIT=%s\n' \
		"$ULOOP_CA" "$ULOOP_ROOTHASH" "$ULOOP_VERITY" "$ULOOP_PROFILE" "$ULOOP_HYDRATE" "$INIT"
	printf 'BOOTIF=%s\nREBOOT_DELAY=%s\nMIRRORS=%s\nPINS=%s\nIPS=%s\nWARN=%s\n' \
		"$BOOTIF" "$ULOOP_REBOOT_DELAY" "$ULOOP_MIRRORS" "$ULOOP_PINS" "$IPS" "$ULOOP_WARN"
	printf 'OFFLINE=%s\nDEBUG=%s\nRESET=%s\nOVLRO=%s\nSHELL=%s\nBREAK=%s\nERR=%s\n' \
		"$ULOOP_OFFLINE" "$ULOOP_DEBUG" "$ULOOP_RESET" "$ULOOP_OVLRO" "$SHELL_OK" "$BREAK" "${ULOOP_ERR:+1}"
done <"$2"
D

# Case N of a CASES file, decoded, for a failure message.
show_case() {
	sed -n "$2p" "$1" | cut -c1-400
}

# differ NAME CASES: kcmdline and both shells give the same bytes.
differ() {
	"$k" all "$2" >"$T/want"
	ncases=$(wc -l <"$2")
	for sh in dash "$bb/sh"; do
		"$sh" "$T/drive.sh" "$top" "$2" >"$T/got" || fail "$sh: the parser exited $? on $1"
		if ! cmp -s "$T/want" "$T/got"; then
			first=$(diff -a "$T/want" "$T/got" | head -n 1 | sed 's/[^0-9].*//')
			cn=$(head -n "$first" "$T/want" | grep -c '^#case ')
			printf 'first difference, case %s of %s (bytes as \\0ooo):\n' "$cn" "$1" >&2
			show_case "$2" "$cn" >&2
			diff -a "$T/want" "$T/got" | head -n 20 | cut -c1-200 >&2
			[ -z "${3:-}" ] || cp "$2" "$3"
			fail "$sh: $1: the parser and the kernel's tokenisation differ${3:+ (cases kept in $3)}"
		fi
		echo "$1: $ncases command lines, identical to the kernel's reading under $sh"
	done
}

# 1. The checked-in corpus: every case, both shells.
differ generated.txt "$c/generated.txt"

# 2. Fresh cases from a new seed (printed: KCMDLINE_SEED=S repeats them).
seed=${KCMDLINE_SEED:-$(od -A n -N 4 -t u4 /dev/urandom | tr -d ' ')}
"$k" gen "$seed" "${KCMDLINE_CASES:-500}" >"$T/fresh"
mkdir -p "$top/build/fuzz"
differ "seed $seed" "$T/fresh" "$top/build/fuzz/kcmdline-failed-$seed.txt"

# 3. The table: each VAR=VALUE as expected, from kcmdline's model and from
# both shells (which must agree with it byte for byte, as above).
grep -v '^#' "$c/getarg.txt" | sed 's/|.*//' >"$T/table"
differ getarg.txt "$T/table"
"$k" all "$T/table" >"$T/want"
# VAR=VALUE lines of each case, a list's lines joined by '|'.
awk '/^#case /{ n = $2; vars = 0; next } /^--$/{ vars = 1; next }
	vars && /^[A-Z_]+=/{ if (line != "") print line; line = n " " $0; next }
	vars { line = line "|" $0 } END { if (line != "") print line }' "$T/want" >"$T/vals"
n=0
grep -v '^#' "$c/getarg.txt" | while IFS= read -r t; do
	n=$((n + 1))
	for want in ${t#*|}; do
		w=$(printf '%bx' "$want")
		w=${w%x}
		grep -qxF "$n $w" "$T/vals" ||
			fail "getarg.txt case $n [${t%%|*}]: want $want, got: $(grep "^$n ${want%%=*}=" "$T/vals" | cut -c1-200)"
	done
done
echo "getarg.txt: $(wc -l <"$T/table") table cases, each value as expected"
