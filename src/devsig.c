// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * devsig.c - does a device hold someone's data?  Asked before a cache is
 * laid out over a block device that carries no uloop header.
 *
 * Two tests, either of which refuses the device:
 *
 *  - libblkid (util-linux, linked statically into the initramfs binary) is
 *    asked for every signature it knows, the way wipefs(8) lists them:
 *    filesystems, swap, LUKS, LVM, md RAID, bcache, ZFS, partition tables
 *    and the rest, wherever they live (btrfs at 64 KiB, md 0.90/1.0 and ZFS
 *    labels at the end of the device, ...).  Signatures whose checksum is
 *    bad count too: a damaged filesystem still holds someone's data.
 *  - the first 64 KiB must be zero, as before: it catches what libblkid
 *    has no prober for (a boot loader, a raw dump) at the place most
 *    formats start.
 *
 * A device that passes both is blank as far as anyone can tell; wipefs -a
 * or dd of zeros makes any device pass.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devsig.h"
#include "util.h"

#define ULO_ZERO_SPAN (64 * 1024)	/* head bytes that must be zero */

/* Name the first signature libblkid finds, "" for none; -errno on error. */
static int ulo_devsig_blkid(int fd, uint64_t size, char *what, size_t len)
{
	const char *type = NULL, *off = NULL;
	blkid_probe pr;
	int ret = 0, rc;

	what[0] = '\0';
	pr = blkid_new_probe();
	if (!pr)
		return -ENOMEM;
	if (blkid_probe_set_device(pr, fd, 0, (blkid_loff_t)size) < 0) {
		ret = -EIO;
		goto out;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
					  BLKID_SUBLKS_MAGIC |
					  BLKID_SUBLKS_BADCSUM);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	/*
	 * blkid_do_probe() steps through every match, ambivalent ones
	 * included (blkid_do_safeprobe() would call two signatures "no
	 * answer"); the first one is enough to refuse.
	 */
	rc = blkid_do_probe(pr);
	if (rc < 0) {
		ret = -EIO;
		goto out;
	}
	if (rc == 0) {
		if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) < 0 &&
		    blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) < 0)
			type = "unknown signature";
		if (blkid_probe_lookup_value(pr, "SBMAGIC_OFFSET", &off, NULL) < 0 &&
		    blkid_probe_lookup_value(pr, "PTMAGIC_OFFSET", &off, NULL) < 0)
			off = NULL;
		if (off)
			snprintf(what, len, "%s signature at offset %s", type, off);
		else
			snprintf(what, len, "%s signature", type);
	}
out:
	blkid_free_probe(pr);
	return ret;
}

int ulo_devsig_find(int fd, uint64_t size, char *what, size_t len)
{
	size_t n = ULO_MIN(size, ULO_ZERO_SPAN);
	uint8_t *buf;
	int ret;

	ret = ulo_devsig_blkid(fd, size, what, len);
	if (ret || what[0])
		return ret;
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	ret = ulo_pread_full(fd, buf, n, 0);
	if (!ret && !ulo_all_zero(buf, n))
		snprintf(what, len, "non-zero data in its first %zu KiB", n / 1024);
	free(buf);
	return ret;
}
