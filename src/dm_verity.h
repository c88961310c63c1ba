/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dm_verity.h - a dm-verity target over a uloop device, made with the
 * kernel's device-mapper ioctls (no dmsetup or veritysetup needed in an
 * initramfs: the static uloop does it).
 *
 * The device is a verified image's: the image, then its hash file (the
 * superblock's block, then the tree), so data and hashes come from the
 * same device and the same cache (source.h, ulo_verity_info).  The
 * kernel then checks every block it reads, from the flash as from the
 * network, against the root hash given here.
 */
#ifndef ULOOP_DM_VERITY_H
#define ULOOP_DM_VERITY_H

#include <stddef.h>
#include <sys/types.h>

#include "source.h"

/* What the kernel does with a block that fails: dm-verity's modes. */
enum ulo_dm_verity_mode {
	ULO_DM_VERITY_EIO = 0,		/* the read fails (the default) */
	ULO_DM_VERITY_RESTART,		/* restart_on_corruption */
	ULO_DM_VERITY_PANIC,		/* panic_on_corruption */
};

/* "eio", "restart", "panic" into @out: 0 or -EINVAL. */
int ulo_dm_verity_mode_parse(const char *s, enum ulo_dm_verity_mode *out);

/*
 * Make the read-only dm device @name ("uloop-verity-uloop0") checking
 * @dev (a block device holding the image and its hash file as @vi says;
 * @vi->salt_hex must be set) and activate it.  @out gets its node,
 * "/dev/dm-N", once it exists.  0, or -errno with the message recorded
 * (dm-mod or dm-verity missing, the name taken, the table refused); a
 * device made but not activated is removed again.
 */
int ulo_dm_verity_create(const char *name, const char *dev,
			 const struct ulo_verity_info *vi,
			 enum ulo_dm_verity_mode mode, char *out, size_t cap);

/* Remove the dm device @name: 0, -ENXIO if there is none, -EBUSY if it is
 * open (mounted), or another -errno; the message recorded. */
int ulo_dm_remove(const char *name);

/* Remove the verity device uloop made over @dev, if there is one: 0 (none,
 * or removed), -EBUSY (in use: mounted), or another -errno; the message
 * recorded. */
int ulo_dm_verity_remove_over(const char *dev);

/* The name of the verity device uloop makes over @dev ("/dev/uloop0" ->
 * "uloop-verity-uloop0"). */
void ulo_dm_verity_name(const char *dev, char *out, size_t cap);

#endif
