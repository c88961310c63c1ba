# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
#
# guest-dm.sh - sourced by the guest scripts of the device-mapper tests
# (vm_dm ships it as /lib/guest-dm.sh).
#
#   dm_table NAME TABLE   the live device NAME now maps TABLE: a disk that
#                         starts failing, dropping writes, or heals, at
#                         the moment the test says

dm_table() {
	# --nolockfs: a plain suspend syncs the device first (freeze_bdev), a
	# flush nobody asked for at the very moment the flash changes: the
	# pages a paused commit wrote would reach the disk before it fails,
	# and a power cut would come with a last flush of its own.
	dmsetup suspend --nolockfs "$1"
	dmsetup load "$1" --table "$2"
	dmsetup resume "$1"
}
