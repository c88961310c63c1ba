// SPDX-License-Identifier: GPL-2.0
/*
 * The block device: blk-mq queue, hits served in the kernel.
 *
 * A read whose cache blocks are all present (bits change atomically, so
 * the test takes no lock; see uloop_all_present() for the ordering) is a
 * hit: a work item on the unbound uloop_wq reads the cache file into the
 * request's pages.  Work items run in
 * parallel, and none of this may sleep in queue_rq, which is why the read
 * is not issued from there.  The read is direct and asynchronous (the
 * kiocb completes the request from the cache device's completion) when the
 * file supports direct I/O and the request is aligned for it, as loop's
 * direct-I/O mode does; otherwise it is a buffered read in the work item.
 *
 * With checksums (csum_offset), a hit's bytes are checked in the work
 * item once read, before the request ends (uloop_csum.c).
 *
 * Anything else that is a read is a miss: uloop_sess.c queues it to the
 * daemon, and a successful completion brings it back here through
 * uloop_serve() as a hit.  A flush fsyncs the cache file.  The device is
 * read-only: writes and other operations fail.
 *
 * The image's last cache block may end before the device does (capacity is
 * rounded up to 512 bytes) and a sparse cache file may end before the
 * image: reads stop at image_size and whatever is short is zero-filled.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bvec.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "compat.h"
#include "uloop_dev.h"

/* Image bytes of the request: it may run past image_size by < 512 bytes. */
static u32 uloop_image_bytes(struct uloop_device *ud, struct request *rq)
{
	u64 pos = blk_rq_pos(rq) << SECTOR_SHIFT;

	if (pos >= ud->image_size)
		return 0;
	return min_t(u64, blk_rq_bytes(rq), ud->image_size - pos);
}

static bool uloop_all_present(struct uloop_device *ud, struct request *rq,
			      u32 len)
{
	u64 pos = blk_rq_pos(rq) << SECTOR_SHIFT;
	unsigned long first = pos >> ud->block_shift;
	unsigned long last = (pos + len - 1) >> ud->block_shift;

	if (find_next_zero_bit_le(ud->bitmap, last + 1, first) <= last)
		return false;
	/*
	 * The bits were read without a lock: order that read before the cache
	 * read that follows, so the data the daemon wrote before setting them
	 * is seen (pairs with smp_mb__before_atomic() in uloop_set_present()).
	 */
	smp_rmb();
	return true;
}

/* Zero the request's bytes from @done on (short read, tail of the image). */
static void uloop_zero_from(struct request *rq, unsigned int done)
{
	struct req_iterator it;
	struct bio_vec bv;

	rq_for_each_segment(bv, rq, it) {
		if (done >= bv.bv_len) {
			done -= bv.bv_len;
			continue;
		}
		memzero_page(bv.bv_page, bv.bv_offset + done, bv.bv_len - done);
		done = 0;
	}
}

/**
 * uloop_errno_status() - the status a request fails with for an errno
 * @err: a negative errno: the daemon's result, a cache read's or fsync's
 *
 * Only plain errors pass through.  BLK_STS_AGAIN, _RESOURCE, _NOTSUPP,
 * _TIMEOUT, _TRANSPORT and the like mean something to REQ_NOWAIT and
 * io_uring callers, to dm-multipath and to retry logic above us, none of
 * which a failed fetch or cache read is: they all become BLK_STS_IOERR.
 *
 * Return: BLK_STS_MEDIUM for -ENODATA, BLK_STS_NOSPC for -ENOSPC, else
 * BLK_STS_IOERR (-EIO, -ENOLINK, -ETIMEDOUT, anything).
 */
blk_status_t uloop_errno_status(int err)
{
	switch (err) {
	case -ENODATA:
		return BLK_STS_MEDIUM;
	case -ENOSPC:
		return BLK_STS_NOSPC;
	default:
		return BLK_STS_IOERR;
	}
}

/**
 * uloop_end() - end a request, counting failures
 * @cmd: the request's PDU; owned by the caller (not on any miss list)
 * @status: its status
 */
void uloop_end(struct uloop_cmd *cmd, blk_status_t status)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct uloop_device *ud = rq->q->queuedata;

	if (status != BLK_STS_OK)
		atomic64_inc(&ud->failed);
	blk_mq_end_request(rq, status);
}

/* The end of a cache read: cmd->ret holds bytes read or -errno. */
static void uloop_read_done(struct uloop_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct uloop_device *ud = rq->q->queuedata;
	long ret = cmd->ret;

	kfree(cmd->bvec);
	cmd->bvec = NULL;
	if (ret < 0) {
		pr_err_ratelimited("uloop%d: cache read at sector %llu: %ld\n",
				   ud->index, (unsigned long long)blk_rq_pos(rq),
				   ret);
		uloop_end(cmd, uloop_errno_status(ret));
		return;
	}
	if (ret < blk_rq_bytes(rq))
		uloop_zero_from(rq, ret);
	if (ud->csum_offset && uloop_image_bytes(ud, rq)) {
		/* Checked in process context: maybe in irq context here. */
		cmd->verify = true;
		queue_work(uloop_wq, &cmd->work);
		return;
	}
	uloop_end(cmd, BLK_STS_OK);
}

static void uloop_complete_rq(struct request *rq)
{
	uloop_read_done(blk_mq_rq_to_pdu(rq));
}

/* ki_complete: may run in the cache device's completion (irq) context. */
static void uloop_aio_done(struct kiocb *iocb, long ret)
{
	struct uloop_cmd *cmd = container_of(iocb, struct uloop_cmd, iocb);
	struct request *rq = blk_mq_rq_from_pdu(cmd);

	cmd->ret = ret;
	if (likely(!blk_should_fake_timeout(rq->q)))
		blk_mq_complete_request(rq);
}

/*
 * Point @iter at the request's pages.  A request of one bio uses the bio's
 * own bio_vec array; several bios need one array, kept in cmd->bvec until
 * the request ends since direct I/O uses it until then.
 */
static int uloop_iter(struct uloop_cmd *cmd, struct iov_iter *iter)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct req_iterator it;
	struct bio_vec bv, *vec;
	unsigned int nr = 0, i = 0;

	rq_for_each_bvec(bv, rq, it)
		nr++;
	if (rq->bio == rq->biotail) {
		struct bio *bio = rq->bio;
		const struct bio_vec *first = __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter);

		iov_iter_bvec(iter, ITER_DEST, first, nr, blk_rq_bytes(rq));
		/* How far into its first vector the bio starts (the iterator's
		 * field for it changed name; this helper did not).
		 */
		iter->iov_offset = mp_bvec_iter_offset(bio->bi_io_vec, bio->bi_iter) -
				   first->bv_offset;
		return 0;
	}
	vec = kmalloc_array(nr, sizeof(*vec), GFP_NOIO);
	if (!vec)
		return -ENOMEM;
	rq_for_each_bvec(bv, rq, it)
		vec[i++] = bv;
	cmd->bvec = vec;
	iov_iter_bvec(iter, ITER_DEST, vec, nr, blk_rq_bytes(rq));
	return 0;
}

static void uloop_read(struct uloop_device *ud, struct uloop_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	u32 len = uloop_image_bytes(ud, rq);
	loff_t pos = ud->data_offset + (blk_rq_pos(rq) << SECTOR_SHIFT);
	unsigned int mask = ud->dio_align - 1;
	struct file *file = ud->cache;
	struct iov_iter iter;
	ssize_t ret;

	cmd->ret = 0;
	if (!len)
		goto done;
	cmd->ret = uloop_iter(cmd, &iter);
	if (cmd->ret)
		goto done;
	iov_iter_truncate(&iter, len);
	if (ud->dio_align && !(READ_ONCE(ud->flags) & ULOOP_F_BUFFERED) &&
	    !((pos | len) & mask) && !(iov_iter_alignment(&iter) & mask)) {
		cmd->iocb = (struct kiocb) {
			.ki_filp = file,
			.ki_pos = pos,
			.ki_complete = uloop_aio_done,
			.ki_flags = IOCB_DIRECT,
		};
		ret = file->f_op->read_iter(&cmd->iocb, &iter);
		if (ret != -EIOCBQUEUED)
			uloop_aio_done(&cmd->iocb, ret);
		return;
	}
	cmd->ret = vfs_iter_read(file, &iter, &pos, 0);
done:
	uloop_read_done(cmd);
}

static void uloop_work(struct work_struct *work)
{
	struct uloop_cmd *cmd = container_of(work, struct uloop_cmd, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct uloop_device *ud = rq->q->queuedata;
	/* The cache may live on a device whose I/O waits for ours. */
	unsigned int noio = memalloc_noio_save();
	int ret;

	if (req_op(rq) == REQ_OP_FLUSH) {
		ret = vfs_fsync(ud->cache, 0);
		uloop_end(cmd, ret ? uloop_errno_status(ret) : BLK_STS_OK);
	} else if (cmd->verify) {
		cmd->verify = false;
		uloop_csum_verify(ud, cmd);
	} else {
		uloop_read(ud, cmd);
	}
	memalloc_noio_restore(noio);
}

/**
 * uloop_serve() - read a request whose blocks are present from the cache
 * @cmd: the request's PDU; owned by the caller (not on any miss list)
 */
void uloop_serve(struct uloop_cmd *cmd)
{
	queue_work(uloop_wq, &cmd->work);
}

static blk_status_t uloop_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct uloop_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct uloop_device *ud = rq->q->queuedata;
	u32 len;

	blk_mq_start_request(rq);
	cmd->csum_fails = 0;
	cmd->verify = false;
	cmd->want_data = false;
	switch (req_op(rq)) {
	case REQ_OP_READ:
		break;
	case REQ_OP_FLUSH:
		uloop_serve(cmd);
		return BLK_STS_OK;
	default:
		atomic64_inc(&ud->failed);
		return BLK_STS_IOERR;
	}
	len = uloop_image_bytes(ud, rq);
	if (!len || uloop_all_present(ud, rq, len)) {
		atomic64_inc(&ud->hits);
		uloop_serve(cmd);
		return BLK_STS_OK;
	}
	cmd->length = len;
	return uloop_miss(ud, cmd, hctx->queue_num * ud->set.queue_depth + rq->tag);
}

static int uloop_init_request(struct blk_mq_tag_set *set, struct request *rq,
			      unsigned int hctx_idx, ULOOP_NUMA_NODE_T numa_node)
{
	struct uloop_cmd *cmd = blk_mq_rq_to_pdu(rq);

	INIT_WORK(&cmd->work, uloop_work);
	INIT_LIST_HEAD(&cmd->node);
	cmd->state = ULOOP_CMD_IDLE;
	cmd->bvec = NULL;
	cmd->csum_fails = 0;
	cmd->verify = false;
	cmd->want_data = false;
	return 0;
}

static const struct blk_mq_ops uloop_mq_ops = {
	.queue_rq	= uloop_queue_rq,
	.complete	= uloop_complete_rq,
	.init_request	= uloop_init_request,
};

/* REMOVE may have decided; a racing open must not revive the device. */
static int uloop_open(ULOOP_OPEN_ARGS)
{
	struct uloop_device *ud = (ULOOP_OPEN_DISK)->private_data;
	int ret = 0;

	spin_lock_irq(&ud->lock);
	if (ud->deleting)
		ret = -ENXIO;
	spin_unlock_irq(&ud->lock);
	return ret;
}

static void uloop_free_disk(struct gendisk *disk)
{
	uloop_put(disk->private_data);
}

static const struct block_device_operations uloop_fops = {
	.owner		= THIS_MODULE,
	.open		= uloop_open,
	.free_disk	= uloop_free_disk,
};

/**
 * uloop_present_count() - blocks present in the driver's bitmap
 * @ud: the device
 *
 * Return: the number of bits set (bits past the last block are never set).
 */
u64 uloop_present_count(struct uloop_device *ud)
{
	return bitmap_weight(ud->bitmap, BITS_TO_LONGS(ud->nblocks) * BITS_PER_LONG);
}

/**
 * uloop_blk_create() - the tag set and the disk of a new device, not added
 * @ud: the device, its geometry set
 *
 * On success the disk holds a reference to @ud (given back in .free_disk
 * once the disk was added); on failure nothing is left allocated.
 *
 * Return: 0 or -errno.
 */
int uloop_blk_create(struct uloop_device *ud)
{
	struct gendisk *disk;
	int ret;

	ud->set.ops = &uloop_mq_ops;
	ud->set.nr_hw_queues = ULOOP_NR_HW_QUEUES;
	ud->set.queue_depth = ULOOP_QUEUE_DEPTH;
	ud->set.numa_node = NUMA_NO_NODE;
	ud->set.cmd_size = sizeof(struct uloop_cmd);
	ud->set.flags = ULOOP_TAG_FLAGS;
	ud->set.driver_data = ud;
	ret = blk_mq_alloc_tag_set(&ud->set);
	if (ret)
		return ret;
	disk = uloop_alloc_disk(&ud->set, ud, ULOOP_MAX_SECTORS,
				1U << ud->block_shift);
	if (IS_ERR(disk)) {
		blk_mq_free_tag_set(&ud->set);
		return PTR_ERR(disk);
	}
	disk->major = uloop_major;
	disk->first_minor = ud->index;
	/*
	 * Partitions, numbered from the extended range (major 259) as loop's
	 * are, so /dev/uloopN keeps minor N.  No scan inside ADD: add_disk()
	 * would read the table there, and those reads are misses the daemon,
	 * still in the ioctl, cannot serve.  uloop_ctl_add() arms the scan
	 * for the first open once the disk is added.
	 */
	disk->minors = 1;
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	disk->fops = &uloop_fops;
	disk->private_data = ud;
	snprintf(disk->disk_name, sizeof(disk->disk_name), "uloop%d", ud->index);
	set_capacity(disk, DIV_ROUND_UP_ULL(ud->image_size, SECTOR_SIZE));
	set_disk_ro(disk, true);
	ud->disk = disk;
	return 0;
}
