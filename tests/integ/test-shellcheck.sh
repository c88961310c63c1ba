#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The shell that ships (the initramfs /init, its DHCP script, the builder,
# the distribution hooks) passes ShellCheck at every severity, as POSIX sh:
# it runs under busybox ash and dash, where a bashism is a boot failure.
# The tests and benches pass at severity "error".
. "$(dirname "$0")/functions.sh"
requires shellcheck
cd "$top" || exit 1
shipped="initramfs/init initramfs/udhcpc.sh initramfs/uloop-mkinitramfs initramfs/lib/net.sh initramfs/lib/dev.sh initramfs/lib/cmdline.sh initramfs/lib/boot.sh"
for f in $(find hooks -type f 2>/dev/null | sort); do
	head -n 1 "$f" | grep -q '^#!.*sh' && shipped="$shipped $f"
done
# shellcheck disable=SC2086
shellcheck -x -s sh $shipped || fail "shipped shell has ShellCheck findings"
# shellcheck disable=SC2046
shellcheck -s sh -S error $(ls tests/*/*.sh bench/*.sh tools/*.sh) ||
	fail "tests or benches have ShellCheck errors"
echo "shellcheck: $(echo "$shipped" | wc -w) shipped scripts clean"
