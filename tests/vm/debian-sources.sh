# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# debian-sources.sh - debian_sources: the machine's own Debian archive
# entries for bookworm amd64 main (-updates, -security too), as apt knows
# them, one "deb URI SUITE main" line each: no archive is named in the
# repo.  For the mmdebstrap trees of debian-root.sh and itools-tree.sh.
# Fails with a line on stderr if apt knows no bookworm main archive.
debian_sources() {
	apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || true
	# shellcheck disable=SC2016
	_src=$(apt-get indextargets 'Created-By: Packages' \
		--format '$(ORIGIN) $(ARCHITECTURE) $(RELEASE) $(COMPONENT) $(REPO_URI)' |
		awk '$1 == "Debian" && $2 == "amd64" && $4 == "main" &&
			$3 ~ /^bookworm(-updates|-security)?$/ { print "deb " $5 " " $3 " main" }' |
		sort -u)
	echo "$_src" | grep -q ' bookworm main$' || {
		echo "apt knows no Debian bookworm main archive (see /etc/apt/sources.list.d)" >&2
		return 1
	}
	echo "$_src"
}
