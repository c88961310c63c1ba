#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dkms-install.sh VERSION [SRCDIR] - what `make install` does on the
# machine itself once uloop.ko's source is in SRCDIR/uloop-VERSION
# (default /usr/src): register it with DKMS and build and install it for
# every kernel of this machine that has its headers (/lib/modules/K/build),
# so the initramfs builders (uloop-mkinitramfs, the dracut module, the
# initramfs-tools hook) find it with modprobe like any other module.  DKMS
# builds it again for each kernel installed later (AUTOINSTALL).
#
# Without dkms it says how to get it and succeeds: the nbd transport
# serves the root without uloop.ko.  A kernel whose build fails is named
# and the others still get the module; the status is 1 then.
set -u

ver=${1:?usage: dkms-install.sh VERSION [SRCDIR]}
src=${2:-/usr/src}/uloop-$ver
say() { echo "dkms-install: $*" >&2; }
[ -s "$src/dkms.conf" ] || { say "$src/dkms.conf: missing (make install puts it there)"; exit 1; }
if ! command -v dkms >/dev/null 2>&1; then
	say "dkms is not installed; uloop.ko's source is in $src."
	say "Install dkms (apt-get install dkms) and run: dkms install uloop/$ver"
	exit 0
fi
# The same version again (a rebuilt tree): DKMS keeps what it built of
# the last one, so that is removed first and everything built anew.
if [ -n "$(dkms status uloop/"$ver" 2>/dev/null)" ]; then
	dkms remove uloop/"$ver" --all >/dev/null 2>&1 ||
		{ say "dkms remove uloop/$ver failed"; exit 1; }
fi
dkms add uloop/"$ver" >/dev/null || { say "dkms add uloop/$ver failed"; exit 1; }
rc=0 built=""
for build in /lib/modules/*/build; do
	[ -e "$build/Makefile" ] || continue
	k=$(basename "$(dirname "$build")")
	if dkms install uloop/"$ver" -k "$k" >"${TMPDIR:-/tmp}/uloop-dkms.$$" 2>&1; then
		built="$built $k"
	else
		say "building uloop.ko for $k failed:"
		tail -n 20 "${TMPDIR:-/tmp}/uloop-dkms.$$" >&2
		rc=1
	fi
	rm -f "${TMPDIR:-/tmp}/uloop-dkms.$$"
done
if [ -n "$built" ]; then
	say "uloop.ko $ver built and installed for:$built"
else
	say "uloop/$ver registered; no kernel here has headers yet: DKMS builds it when one does"
fi
exit $rc
