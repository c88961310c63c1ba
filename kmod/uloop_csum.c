// SPDX-License-Identifier: GPL-2.0
/*
 * Checksums of hits: a block read from the cache file is checked before it
 * completes a read.
 *
 * The daemon writes the CRC-32C of every 4 KiB of image data (a "span"; the
 * last one ends at image_size) into the cache file at csum_offset + 4 i,
 * with the data and before it marks the block present (cache format 2,
 * docs/cache-format.md).  Flash that rots, loses a sector or returns another
 * page then shows up here as a span whose CRC does not match, and the read
 * is not served from it.
 *
 * When: after the hit's read completed into the request's pages, in a work
 * item (the CRCs are read from the file, which may sleep; the direct read
 * completes in the cache device's completion context).  The request's range
 * need not start or end on a span (squashfs reads 1 KiB-aligned ranges):
 * the rest of the first and last span is read into a page of its own and
 * chained into the CRC, so no span is checked on part of its bytes.
 *
 * A mismatch (or a read of the CRCs or of those pieces that fails) clears
 * the bits of the blocks at fault and hands the request to the daemon as a
 * miss; the daemon's own checked read of the cache then finds the block bad
 * (it withdraws it and fetches it again, counting the fault) or good (the
 * flash answered differently this time), and completes the miss.  The
 * driver checks the served bytes again.  A request whose read fails twice
 * is handed out once more with ULOOP_M_DATA, for the daemon's bytes; a
 * third failure ends it with EIO.  Nothing that failed its CRC is ever
 * completed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bvec.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "compat.h"
#include "uloop_dev.h"

#define ULOOP_CSUM_SPAN		4096U

/* A request's walk over its spans, fed its bytes in image order. */
struct uloop_csum_walk {
	struct uloop_device *ud;
	const __le32 *want;	/* CRCs of the spans from @first */
	u64 first;		/* image offset of the first span */
	u64 off;		/* image offset of the next byte fed */
	u32 crc;		/* of the current span so far */
	u32 bad;		/* spans that did not match */
};

static void uloop_csum_feed(struct uloop_csum_walk *w, const u8 *p, u32 n)
{
	struct uloop_device *ud = w->ud;

	while (n) {
		u64 end = min_t(u64, round_down(w->off, ULOOP_CSUM_SPAN) + ULOOP_CSUM_SPAN,
				ud->image_size);
		u32 take = min_t(u64, n, end - w->off);
		u32 i, got, want;

		w->crc = uloop_crc32c(w->crc, p, take);
		w->off += take;
		p += take;
		n -= take;
		if (w->off != end)
			continue;
		i = (end - 1 - w->first) / ULOOP_CSUM_SPAN;
		got = ~w->crc;
		want = le32_to_cpu(w->want[i]);
		w->crc = ~0U;
		if (got == want)
			continue;
		w->bad++;
		atomic64_inc(&ud->csum_errors);
		pr_warn_ratelimited("uloop%d: cache block %llu (image offset %llu): checksum mismatch (stored %08x, read %08x)\n",
				    ud->index, (end - 1) >> ud->block_shift,
				    round_down(end - 1, ULOOP_CSUM_SPAN), want, got);
		uloop_clear_present(ud, (end - 1) >> ud->block_shift, 1);
	}
}

/*
 * Read image bytes [@off, @off + @n), @n <= PAGE_SIZE, into @page: direct
 * when the cache takes it (the data itself is read so; a buffered read
 * would leave a second copy in the page cache), else buffered.
 */
static int uloop_csum_piece(struct uloop_device *ud, struct page *page,
			    u64 off, u32 n)
{
	loff_t pos = ud->data_offset + off;
	unsigned int a = ud->dio_align;
	ssize_t ret;
	void *p;

	if (a && !(pos & (a - 1)) && round_up(n, a) <= PAGE_SIZE &&
	    !(READ_ONCE(ud->flags) & ULOOP_F_BUFFERED)) {
		struct bio_vec bv = {
			.bv_page = page, .bv_len = round_up(n, a), .bv_offset = 0,
		};
		struct iov_iter iter;
		struct kiocb kiocb;

		iov_iter_bvec(&iter, ITER_DEST, &bv, 1, bv.bv_len);
		init_sync_kiocb(&kiocb, ud->cache);
		kiocb.ki_pos = pos;
		kiocb.ki_flags |= IOCB_DIRECT;
		ret = ud->cache->f_op->read_iter(&kiocb, &iter);
		if (ret >= n)
			return 0;
		if (ret != -EINVAL)
			return ret < 0 ? ret : -EIO;
	}
	p = kmap_local_page(page);
	ret = kernel_read(ud->cache, p, n, &pos);
	kunmap_local(p);
	return ret == n ? 0 : ret < 0 ? ret : -EIO;
}

/* Feed image bytes [@off, @off + @n) (@n <= PAGE_SIZE) from the cache. */
static int uloop_csum_feed_piece(struct uloop_csum_walk *w, u64 off, u32 n)
{
	struct page *page;
	void *p;
	int ret;

	if (!n)
		return 0;
	page = alloc_page(GFP_NOIO);
	if (!page)
		return -ENOMEM;
	ret = uloop_csum_piece(w->ud, page, off, n);
	if (!ret) {
		p = kmap_local_page(page);
		uloop_csum_feed(w, p, n);
		kunmap_local(p);
	}
	__free_page(page);
	return ret;
}

/*
 * Check image bytes [@pos, @pos + @len) of @rq, read into its pages.
 * Returns 0 when every span matched, -EBADMSG when some did not (their
 * blocks' bits cleared), or the -errno of a read it needed (nothing
 * cleared).
 */
static int uloop_csum_check(struct uloop_device *ud, struct request *rq,
			    u64 pos, u32 len)
{
	u64 first = round_down(pos, ULOOP_CSUM_SPAN);
	u64 last = min_t(u64, round_up(pos + len, ULOOP_CSUM_SPAN), ud->image_size);
	u32 nspans = DIV_ROUND_UP(last - first, ULOOP_CSUM_SPAN);
	struct uloop_csum_walk w = {
		.ud = ud, .first = first, .off = first, .crc = ~0U,
	};
	loff_t cpos = ud->csum_offset + first / ULOOP_CSUM_SPAN * 4;
	struct req_iterator it;
	struct bio_vec bv;
	u32 left = len;
	__le32 *want;
	ssize_t got;
	int ret;

	want = kmalloc_array(nspans, sizeof(*want), GFP_NOIO);
	if (!want)
		return -ENOMEM;
	got = kernel_read(ud->cache, want, nspans * sizeof(*want), &cpos);
	ret = got == nspans * sizeof(*want) ? 0 : got < 0 ? got : -EIO;
	w.want = want;
	if (!ret)
		ret = uloop_csum_feed_piece(&w, first, pos - first);
	rq_for_each_segment(bv, rq, it) {
		u32 n = min(bv.bv_len, left);
		void *p;

		if (ret || !n)
			break;
		p = kmap_local_page(bv.bv_page);
		uloop_csum_feed(&w, p + bv.bv_offset, n);
		kunmap_local(p);
		left -= n;
	}
	if (!ret)
		ret = uloop_csum_feed_piece(&w, pos + len, last - (pos + len));
	kfree(want);
	if (ret)
		return ret;
	return w.bad ? -EBADMSG : 0;
}

/**
 * uloop_csum_verify() - check a hit just read, then end it or pass it on
 * @ud: the device (its csum_offset set)
 * @cmd: the request, its image bytes read into its pages; owned by the
 *	caller (not on any miss list)
 *
 * Runs in a work item.  Ends the request, or queues it to the daemon as a
 * miss (see the note atop this file).
 */
void uloop_csum_verify(struct uloop_device *ud, struct uloop_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	u64 pos = blk_rq_pos(rq) << SECTOR_SHIFT;
	u32 len = min_t(u64, blk_rq_bytes(rq), ud->image_size - pos);
	blk_status_t st;
	int ret;

	ret = uloop_csum_check(ud, rq, pos, len);
	if (!ret) {
		uloop_end(cmd, BLK_STS_OK);
		return;
	}
	if (ret != -EBADMSG) {
		/*
		 * The check itself could not be made: the daemon reads (and
		 * checks) these blocks instead, so take them all back.
		 */
		pr_warn_ratelimited("uloop%d: checksums of image bytes %llu+%u: %d; asking the daemon\n",
				    ud->index, pos, len, ret);
		uloop_clear_present(ud, pos >> ud->block_shift,
				    ((pos + len - 1) >> ud->block_shift) -
				    (pos >> ud->block_shift) + 1);
	}
	if (++cmd->csum_fails > 2) {
		pr_err_ratelimited("uloop%d: image bytes %llu+%u failed their checksums after the daemon served them twice: I/O error\n",
				   ud->index, pos, len);
		uloop_end(cmd, BLK_STS_IOERR);
		return;
	}
	cmd->length = len;
	cmd->want_data = cmd->csum_fails == 2;
	st = uloop_miss(ud, cmd, rq->mq_hctx->queue_num * ud->set.queue_depth + rq->tag);
	if (st != BLK_STS_OK)
		blk_mq_end_request(rq, st);	/* uloop_miss() counted it */
}
