/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API differences uloop.ko meets, in one place.
 *
 * Built and tested in guests on 6.1 (Debian 12) and 6.12 (Debian 13), and
 * built against the newest kernel of Debian 13's backports (7.x), every
 * build with W=1 and no warning (tests/kmod/test-kmod-build.sh).  So each
 * branch below is compiled on every test run (see docs/kmod.md).
 *
 *   6.5   block_device_operations.open takes (gendisk, blk_mode_t) instead
 *         of (block_device, fmode_t)                         ULOOP_OPEN_ARGS
 *   6.9   blk_mq_alloc_disk takes a struct queue_limits; the
 *         blk_queue_* setters are on their way out            uloop_alloc_disk
 *   6.10  the write cache and rotational flags moved into
 *         queue_limits.features                                uloop_alloc_disk
 *   6.14  BLK_MQ_F_SHOULD_MERGE is gone (merging is the default)
 *                                                             ULOOP_TAG_FLAGS
 *   later blk_mq_ops.init_request's NUMA node is an int       ULOOP_NUMA_NODE_T
 *         (found by its type, not by a version: see there); bvec_iter's
 *         bi_bvec_done became bi_offset (uloop_blk.c reads it through
 *         mp_bvec_iter_offset(), which every version has)
 */
#ifndef ULOOP_COMPAT_H
#define ULOOP_COMPAT_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "uloop.ko needs Linux 6.1 or newer"
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define ULOOP_OPEN_ARGS		struct gendisk *disk, blk_mode_t mode
#define ULOOP_OPEN_DISK		disk
#else
#define ULOOP_OPEN_ARGS		struct block_device *bdev, fmode_t mode
#define ULOOP_OPEN_DISK		bdev->bd_disk
#endif

/* No I/O scheduler by default: the cache device below has its own. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
#define ULOOP_TAG_FLAGS		BLK_MQ_F_NO_SCHED_BY_DEFAULT
#else
#define ULOOP_TAG_FLAGS		(BLK_MQ_F_SHOULD_MERGE | BLK_MQ_F_NO_SCHED_BY_DEFAULT)
#endif

/**
 * uloop_alloc_disk() - a disk on @set with uloop's queue limits
 * @set: the tag set
 * @data: queuedata
 * @max_sectors: largest request, in 512-byte sectors
 * @io_opt: the cache block size
 *
 * Logical blocks are 512 bytes whatever the cache's block size: the device
 * is a byte-exact view of the image.  The write cache flag is set so that a
 * flush of the device reaches the cache file; it is not rotational (from
 * 6.10 that is the default).
 *
 * Return: the disk, or an ERR_PTR.
 */
static inline struct gendisk *uloop_alloc_disk(struct blk_mq_tag_set *set,
					       void *data,
					       unsigned int max_sectors,
					       unsigned int io_opt)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct queue_limits lim = {
		.logical_block_size = SECTOR_SIZE,
		.physical_block_size = PAGE_SIZE,
		.io_opt = io_opt,
		.max_hw_sectors = max_sectors,
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
		.features = BLK_FEAT_WRITE_CACHE,
#endif
	};
	struct gendisk *disk = blk_mq_alloc_disk(set, &lim, data);

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 10, 0)
	if (!IS_ERR(disk)) {
		blk_queue_write_cache(disk->queue, true, false);
		blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
	}
#endif
	return disk;
#else
	struct gendisk *disk = blk_mq_alloc_disk(set, data);

	if (IS_ERR(disk))
		return disk;
	blk_queue_logical_block_size(disk->queue, SECTOR_SIZE);
	blk_queue_physical_block_size(disk->queue, PAGE_SIZE);
	blk_queue_io_opt(disk->queue, io_opt);
	blk_queue_max_hw_sectors(disk->queue, max_sectors);
	blk_queue_write_cache(disk->queue, true, false);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
	return disk;
#endif
}

/*
 * The type of blk_mq_ops.init_request's last argument, the NUMA node: an
 * unsigned int up to 6.12 at least, an int by 7.3.  Which release changed
 * it was not at hand, so the member's own type decides: int when
 * init_request is declared with one.
 */
#define ULOOP_INIT_REQUEST_INT_NODE					\
	int (*)(struct blk_mq_tag_set *, struct request *, unsigned int, int)
#define ULOOP_NUMA_NODE_T						\
	typeof(__builtin_choose_expr(					\
		__same_type(((struct blk_mq_ops *)NULL)->init_request,	\
			    (ULOOP_INIT_REQUEST_INT_NODE)NULL), 0, 0U))

/*
 * CRC-32C without the final inversion (the crc argument is the running
 * value, ~0 to start).  6.14 made crc32c() the library's one entry point,
 * in <linux/crc32.h>; before, __crc32c_le() of lib/crc32.c is it (built in
 * wherever CONFIG_CRC32 is, unlike libcrc32c, which would make uloop.ko
 * need the crypto modules in every initramfs).
 */
#include <linux/crc32.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
#define uloop_crc32c(crc, p, len)	crc32c(crc, p, len)
#else
#define uloop_crc32c(crc, p, len)	__crc32c_le(crc, p, len)
#endif

#endif /* ULOOP_COMPAT_H */
