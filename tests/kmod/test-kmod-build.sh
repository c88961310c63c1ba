#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# uloop.ko on the host: builds warning-free with W=1 against the headers of
# Debian's current kernel (the guests' kernel), Debian 13's and the newest
# backport's (in a trixie root); checkpatch --strict finds
# nothing in kmod/ (compat.h may compare LINUX_VERSION_CODE: that is its
# job); kernel-doc finds no undocumented item in the uapi header or in the
# non-static functions.
. "$(dirname "$0")/../integ/functions.sh"
requires perl make gcc
KVER=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -n 1)
[ -n "$KVER" ] || { echo "requires the linux-image-amd64 package index"; exit 77; }
CP=$("$top/tests/kmod/checkpatch-deps.sh") || exit $?

# W=1 in a copy of our own: the shared build dir is the guests' (no W=1).
rm -rf "$T/kmod"
cp -r "$top/kmod" "$T/kmod"
make -C "/usr/src/linux-headers-$KVER" M="$T/kmod" W=1 modules >"$T/build.log" 2>&1 ||
	{ cat "$T/build.log"; fail "build against $KVER failed"; }
if grep -E "warning:|error:" "$T/build.log"; then
	fail "W=1 build against $KVER has warnings"
fi
[ -s "$T/kmod/uloop.ko" ] || fail "no uloop.ko"
echo "ok: W=1 build against $KVER, no warning"

# The same against Debian 13's kernel (6.12: compat.h's 6.5, 6.9 and 6.10
# branches) and the newest of trixie-backports (today's kernel API: the
# 6.14 branch and what came after), each with the gcc its headers name,
# in a trixie root (trixie-root.sh).
tk=$("$top/tests/kmod/trixie-root.sh" --kvers) || exit $?
for k in $tk; do
	BUILD_KMOD_OUT=$T/kmod-$k "$top/tests/kmod/build-kmod.sh" "$k" W=1 >/dev/null ||
		fail "build against $k failed"
	if grep -E "warning:|error:" "$T/kmod-$k/build.log"; then
		fail "W=1 build against $k has warnings"
	fi
	modinfo -F vermagic "$T/kmod-$k/uloop.ko" | grep -q "^$k " ||
		fail "uloop.ko built for $k says $(modinfo -F vermagic "$T/kmod-$k/uloop.ko")"
	echo "ok: W=1 build against $k, no warning"
done

cd "$top/kmod" || exit 1
files=$(find . -name '*.[ch]' ! -name compat.h ! -name '*.mod.c' | sort)
# shellcheck disable=SC2086
perl "$CP" --strict --no-tree --terse --show-types -f $files Kbuild Makefile >"$T/cp.out" 2>&1 ||
	{ cat "$T/cp.out"; fail "checkpatch --strict"; }
perl "$CP" --strict --no-tree --terse --show-types \
	--ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON -f compat.h >"$T/cp2.out" 2>&1 ||
	{ cat "$T/cp2.out"; fail "checkpatch --strict compat.h"; }
echo "ok: checkpatch --strict: $(echo $files | wc -w) files clean"

KD=$(dirname "$CP")/kernel-doc
# shellcheck disable=SC2086
perl "$KD" -none include/uapi/linux/uloop.h $files compat.h >"$T/kd.out" 2>&1 ||
	echo "kernel-doc exited $?" >>"$T/kd.out"
# -none judges only the comments there are: an item with none passes it.
# So each struct of the uapi header and each non-static function (the
# global text symbols of the W=1 build's objects) is asked for by name,
# which warns "'NAME' not found" when it has no kernel-doc comment.
kdoc() {	# kdoc FILE NAME...
	_f=$1
	shift
	for _n in "$@"; do
		perl "$KD" -rst -sphinx-version 3.0 -function "$_n" "$_f" >/dev/null 2>>"$T/kd.out" ||
			echo "kernel-doc exited $? on $_n" >>"$T/kd.out"
		nitems=$((nitems + 1))
	done
}
nitems=0
# shellcheck disable=SC2046
kdoc include/uapi/linux/uloop.h $(sed -n 's/^struct \([a-z0-9_]*\) {.*/\1/p' include/uapi/linux/uloop.h)
nstructs=$nitems
for o in "$T"/kmod/uloop_*.o; do
	nm --defined-only "$o" >"$T/syms" || fail "nm $o failed"
	# shellcheck disable=SC2046
	kdoc "$(basename "$o" .o).c" $(awk '$2 == "T" && $3 != "init_module" && $3 != "cleanup_module" { print $3 }' "$T/syms")
done
if [ -s "$T/kd.out" ]; then
	cat "$T/kd.out"
	fail "kernel-doc warnings"
fi
[ "$nstructs" -gt 0 ] && [ "$nitems" -gt "$nstructs" ] ||
	fail "kernel-doc was asked for $nstructs structs and $((nitems - nstructs)) functions by name"
echo "ok: kernel-doc clean; $nstructs uapi structs and $((nitems - nstructs)) non-static functions documented"
