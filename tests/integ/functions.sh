# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# functions.sh - sourced by every tests/integ/test-*.sh.
#
# Gives: $ULOOP (the build), $ULOOP_FP (the failpoint build), $ULOOP_ASAN
# (the ASan+UBSan build), $T (a private temp dir, removed on exit unless
# ULOOP_TEST_KEEP=1: then its path is printed, for the guests' logs), and
#   requires CMD...      skip (exit 77) unless each command exists
#   requires_root        skip unless root
#   on_exit CMD          run CMD at exit (cleanups run last-in first-out)
#   fail MSG             fail the test now
#   make_image F BYTES   random image of BYTES bytes
#   random_files DIR N   DIR/f0..f(N-1), 1 to 60 KiB of random bytes each
#   expect_fail RC TEXT CMD...  CMD must exit RC and say TEXT on stderr
#   json_get KEY         the number after "KEY": in the JSON on stdin
set -eu

top=${ULOOP_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
ULOOP=$top/build/uloop
ULOOP_FP=$top/build/test/uloop
ULOOP_ASAN=$top/build/asan/uloop
export ULOOP ULOOP_FP ULOOP_ASAN

T=$(mktemp -d /tmp/uloop-test.XXXXXX)
_cleanups=""

_run_cleanups() {
	for _c in $_cleanups; do
		eval "cleanup_$_c" || true
	done
	if [ "${ULOOP_TEST_KEEP:-}" = 1 ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

_ncleanup=0
on_exit() {
	_ncleanup=$((_ncleanup + 1))
	eval "cleanup_$_ncleanup() { $*; }"
	_cleanups="$_ncleanup $_cleanups"
}

requires() {
	for _r in "$@"; do
		command -v "$_r" >/dev/null 2>&1 || { echo "requires $_r"; exit 77; }
	done
}

requires_root() {
	[ "$(id -u)" -eq 0 ] || { echo "requires root"; exit 77; }
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Random bytes (squashfs cannot shrink them: every file is data an image
# must carry), sizes spread by a fixed stride.
random_files() {
	_i=0
	while [ $_i -lt "$2" ]; do
		head -c $((1024 + (_i * 7919) % 60000)) /dev/urandom >"$1/f$_i"
		_i=$((_i + 1))
	done
}

make_image() {
	head -c "$2" /dev/urandom >"$1"
}

# flip_byte FILE OFFSET: invert one byte, so it always changes (writing a
# fixed byte into random data leaves it as it was once in 256 runs), and
# keep the mtime, so a server still names the file by the same ETag.
flip_byte() {
	_fb=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
	[ -n "$_fb" ] || fail "flip_byte: $1 has no byte at offset $2"
	touch -r "$1" "$T/.flip-mtime"
	printf "\\$(printf '%o' $((_fb ^ 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
	touch -r "$T/.flip-mtime" "$1"
}

expect_fail() {
	_want_rc=$1 _want_msg=$2
	shift 2
	_rc=0
	"$@" >"$T/out" 2>"$T/err" || _rc=$?
	if [ "$_rc" -ne "$_want_rc" ]; then
		cat "$T/err" >&2
		fail "'$*' exited $_rc, expected $_want_rc"
	fi
	grep -qF -- "$_want_msg" "$T/err" ||
		fail "'$*' said '$(cat "$T/err")', expected '$_want_msg'"
	echo "ok (exit $_rc): $*: $(head -n 1 "$T/err")"
}

json_get() {
	sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" | head -n 1
}

# File size in bytes.
fsize() {
	stat -c %s "$1"
}
