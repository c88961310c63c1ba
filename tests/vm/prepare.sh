#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# prepare.sh - build what the VM tests share, once, before they start:
# Debian's kernel and modules, uloop.ko for it, the Debian 12 root
# (debian-root.sh), the initramfs-tools tree (itools-tree.sh), and Debian
# 13's kernel with uloop.ko built for it (tests/vm/trixie-tests).  Each is
# cached in $ULOOP_DEPS and skipped when there.
#
# Why first: the VM tests run several at a time, and on a fresh machine
# the first of them built these (two mmdebstrap runs, a kernel unpack, a
# module build) while the other guests booted.  On 2 cores the guests then
# got so little CPU that boots ran past their 300 s timeout.  Run by tests/run-tests.sh; a
# failure here is not a test failure (the tests build what is missing
# themselves, one builder at a time, and say why they cannot).
. "$(dirname "$0")/../integ/functions.sh"
. "$top/tests/vm/lib.sh"

step() {	# step NAME CMD...: run and time one preparation
	_n=$1 _s=$(date +%s)
	shift
	if "$@" >"$T/step.out" 2>&1; then
		echo "prepare: $_n ready ($(( $(date +%s) - _s )) s)"
	else
		echo "prepare: $_n not ready (the tests will say why):"
		tail -n 5 "$T/step.out"
	fi
}

step kernel vm_kernel
step uloop.ko "$top/tests/kmod/build-kmod.sh" "$KVER"
step debian-root sh "$top/tests/vm/debian-root.sh"
step itools-tree sh "$top/tests/vm/itools-tree.sh"
# Debian 13's kernel and uloop.ko for it (built with trixie's gcc-14 in a
# trixie root), for the tests named in tests/vm/trixie-tests.
VM_KSERIES=trixie
step "kernel (Debian 13)" vm_kernel
step "uloop.ko ($KVER)" "$top/tests/kmod/build-kmod.sh" "$KVER"
