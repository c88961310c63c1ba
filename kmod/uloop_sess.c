// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's side of a device: misses out, completions in.
 *
 * A miss is a read request some of whose blocks are not present.  It gets a
 * tag, generation << 32 | slot, where the slot is the request's place in the
 * tag set (hw queue * depth + driver tag) and the generation counts misses
 * of the device, so a tag from before a timeout or a completion never
 * matches the request that reuses the slot.  slots[] holds the live miss of
 * each slot; a completion is looked up there and must match the whole tag.
 *
 * State of a miss (uloop_cmd.state), all changes under uloop_device.lock:
 *
 *   queue_rq --> PENDING --read()--> DELIVERED --COMPLETE--> (taken)
 *                   ^                    |
 *                   +-- session closed --+
 *
 * "Taken" means removed from its list and from slots[] under the lock; the
 * one path that took it (a completion, the hold timeout, REMOVE) then owns
 * the request alone and ends it or serves it with the lock dropped.  That
 * is how the races are closed:
 *   - completion vs hold timeout vs REMOVE: whoever takes the miss first
 *     wins; the others no longer find it (a late completion gets -ESTALE);
 *   - completion vs session close: an ioctl holds a reference to its file,
 *     so release() cannot run while the session is completing;
 *   - close vs ATTACH: ATTACH is refused while ->session is set, and
 *     release() moves handed-out misses back to ->pending, in order, for
 *     the next session; the hold timer checks ->session and ->hold_until
 *     under the lock, so a timer armed by an earlier close never fails
 *     misses of a later one early;
 *   - REMOVE sets ->dead under the lock with every miss taken, before the
 *     disk is deleted: del_gendisk() then only waits for hits.
 * No lock is held across I/O, copy_{to,from}_user or a request's end.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/blk-mq.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "uloop_dev.h"

#define ULOOP_READ_MAX		256	/* misses per read() */
#define ULOOP_COMPLETE_CHUNK	64	/* completions copied in at a time */

struct uloop_session {
	struct uloop_device *ud;
};

static u32 uloop_tag_slot(u64 tag)
{
	return lower_32_bits(tag);
}

static u32 uloop_tag_gen(u64 tag)
{
	return upper_32_bits(tag);
}

/*
 * Was this generation ever handed out?  Generations count up from 1 and
 * wrap; anything "after" the newest is unknown.
 */
static bool uloop_gen_issued(struct uloop_device *ud, u32 gen)
{
	lockdep_assert_held(&ud->lock);
	return gen && (s32)(gen - ud->last_gen) <= 0;
}

/* Remove a miss from its list and slot: the caller owns it from now on. */
static void uloop_take(struct uloop_device *ud, struct uloop_cmd *cmd)
{
	lockdep_assert_held(&ud->lock);
	if (cmd->state == ULOOP_CMD_PENDING)
		ud->nr_pending--;
	else
		ud->nr_delivered--;
	list_del_init(&cmd->node);
	ud->slots[uloop_tag_slot(cmd->tag)] = NULL;
	cmd->state = ULOOP_CMD_IDLE;
}

/**
 * uloop_take_all() - take every miss, handed out or not
 * @ud: the device, its lock held
 * @out: where they go (end them with uloop_fail_all() once unlocked)
 */
void uloop_take_all(struct uloop_device *ud, struct list_head *out)
{
	struct uloop_cmd *cmd;

	lockdep_assert_held(&ud->lock);
	list_splice_tail_init(&ud->pending, &ud->delivered);
	list_for_each_entry(cmd, &ud->delivered, node) {
		ud->slots[uloop_tag_slot(cmd->tag)] = NULL;
		cmd->state = ULOOP_CMD_IDLE;
	}
	list_splice_tail_init(&ud->delivered, out);
	ud->nr_pending = 0;
	ud->nr_delivered = 0;
}

/**
 * uloop_fail_all() - end taken misses with EIO
 * @ud: the device, its lock not held
 * @list: misses from uloop_take_all()
 */
void uloop_fail_all(struct uloop_device *ud, struct list_head *list)
{
	struct uloop_cmd *cmd, *next;

	list_for_each_entry_safe(cmd, next, list, node) {
		list_del_init(&cmd->node);
		uloop_end(cmd, BLK_STS_IOERR);
	}
}

/**
 * uloop_miss() - queue a read to the daemon (from queue_rq)
 * @ud: the device
 * @cmd: the request, started, cmd->length set
 * @slot: its slot
 *
 * Return: BLK_STS_OK when queued (or held for a daemon to come), else the
 * status to fail it with: the device is being removed, or no daemon came
 * within the hold time.
 */
blk_status_t uloop_miss(struct uloop_device *ud, struct uloop_cmd *cmd,
			unsigned int slot)
{
	unsigned long flags;

	spin_lock_irqsave(&ud->lock, flags);
	if (ud->dead || (!ud->session && ud->expired)) {
		spin_unlock_irqrestore(&ud->lock, flags);
		atomic64_inc(&ud->failed);
		return BLK_STS_IOERR;
	}
	if (!++ud->last_gen)
		ud->last_gen = 1;
	cmd->tag = (u64)ud->last_gen << 32 | slot;
	cmd->state = ULOOP_CMD_PENDING;
	ud->slots[slot] = cmd;
	list_add_tail(&cmd->node, &ud->pending);
	ud->nr_pending++;
	spin_unlock_irqrestore(&ud->lock, flags);
	atomic64_inc(&ud->misses);
	wake_up(&ud->wq);
	return BLK_STS_OK;
}

/**
 * uloop_hold_expire() - the hold time after a session closed ran out
 * @work: uloop_device.hold_work
 *
 * Fails the held misses, and the ones to come until ATTACH.  Does nothing
 * if a daemon attached meanwhile; waits on if a later close moved the end.
 */
void uloop_hold_expire(struct work_struct *work)
{
	struct uloop_device *ud = container_of(to_delayed_work(work),
					       struct uloop_device, hold_work);
	unsigned long now = jiffies;
	LIST_HEAD(failed);
	u32 n;

	spin_lock_irq(&ud->lock);
	if (ud->dead || ud->session || ud->expired) {
		spin_unlock_irq(&ud->lock);
		return;
	}
	if (time_before(now, ud->hold_until)) {
		mod_delayed_work(system_wq, &ud->hold_work, ud->hold_until - now);
		spin_unlock_irq(&ud->lock);
		return;
	}
	ud->expired = true;
	n = ud->nr_pending + ud->nr_delivered;
	uloop_take_all(ud, &failed);
	spin_unlock_irq(&ud->lock);
	if (n)
		pr_warn_ratelimited("uloop%d: no daemon for %u ms: %u reads failed\n",
				    ud->index, ud->hold_ms, n);
	uloop_fail_all(ud, &failed);
}

/* Is this session the device's, and the device alive?  Lock held. */
static bool uloop_sess_live(struct uloop_session *s)
{
	lockdep_assert_held(&s->ud->lock);
	return s->ud->session == s && !s->ud->dead;
}

static bool uloop_sess_readable(struct uloop_session *s)
{
	struct uloop_device *ud = s->ud;
	bool ret;

	spin_lock_irq(&ud->lock);
	ret = !uloop_sess_live(s) || !list_empty(&ud->pending);
	spin_unlock_irq(&ud->lock);
	return ret;
}

/* read() failed to copy out: hand the misses back, at the front, in order. */
static void uloop_unread(struct uloop_device *ud, struct uloop_miss *recs,
			 unsigned int n)
{
	struct uloop_cmd *cmd;

	spin_lock_irq(&ud->lock);
	while (n--) {
		cmd = ud->slots[uloop_tag_slot(recs[n].tag)];
		if (!cmd || cmd->tag != recs[n].tag ||
		    cmd->state != ULOOP_CMD_DELIVERED)
			continue;
		list_move(&cmd->node, &ud->pending);
		cmd->state = ULOOP_CMD_PENDING;
		ud->nr_delivered--;
		ud->nr_pending++;
	}
	spin_unlock_irq(&ud->lock);
}

static ssize_t uloop_sess_read(struct file *file, char __user *buf,
			       size_t count, loff_t *ppos)
{
	struct uloop_session *s = file->private_data;
	struct uloop_device *ud = s->ud;
	size_t max = min_t(size_t, count / sizeof(struct uloop_miss),
			   ULOOP_READ_MAX);
	struct uloop_miss *recs;
	struct uloop_cmd *cmd;
	unsigned int n = 0;
	ssize_t ret;

	if (!max)
		return -EINVAL;
	recs = kcalloc(max, sizeof(*recs), GFP_KERNEL);
	if (!recs)
		return -ENOMEM;
	for (;;) {
		spin_lock_irq(&ud->lock);
		if (!uloop_sess_live(s)) {
			spin_unlock_irq(&ud->lock);
			ret = -ENODEV;
			goto out;
		}
		while (n < max && !list_empty(&ud->pending)) {
			struct request *rq;

			cmd = list_first_entry(&ud->pending, struct uloop_cmd, node);
			rq = blk_mq_rq_from_pdu(cmd);
			list_move_tail(&cmd->node, &ud->delivered);
			cmd->state = ULOOP_CMD_DELIVERED;
			ud->nr_pending--;
			ud->nr_delivered++;
			recs[n].tag = cmd->tag;
			recs[n].offset = blk_rq_pos(rq) << SECTOR_SHIFT;
			recs[n].length = cmd->length;
			recs[n].op = ULOOP_OP_READ;
			recs[n].flags = cmd->want_data ? ULOOP_M_DATA : 0;
			n++;
		}
		spin_unlock_irq(&ud->lock);
		if (n)
			break;
		if (file->f_flags & O_NONBLOCK) {
			ret = -EAGAIN;
			goto out;
		}
		ret = wait_event_interruptible(ud->wq, uloop_sess_readable(s));
		if (ret)
			goto out;
	}
	ret = n * sizeof(*recs);
	if (copy_to_user(buf, recs, ret)) {
		uloop_unread(ud, recs, n);
		ret = -EFAULT;
	}
out:
	kfree(recs);
	return ret;
}

static __poll_t uloop_sess_poll(struct file *file, poll_table *wait)
{
	struct uloop_session *s = file->private_data;
	struct uloop_device *ud = s->ud;
	__poll_t mask = 0;

	poll_wait(file, &ud->wq, wait);
	spin_lock_irq(&ud->lock);
	if (!uloop_sess_live(s))
		mask = EPOLLHUP | EPOLLERR;
	else if (!list_empty(&ud->pending))
		mask = EPOLLIN | EPOLLRDNORM;
	spin_unlock_irq(&ud->lock);
	return mask;
}

/* Copy the daemon's bytes into the request; zero what is past the image. */
static int uloop_copy_data(struct request *rq, u64 addr, u32 len)
{
	const char __user *src = u64_to_user_ptr(addr);
	struct req_iterator it;
	struct bio_vec bv;
	unsigned int n, left;
	void *p;

	rq_for_each_segment(bv, rq, it) {
		n = min(bv.bv_len, len);
		p = kmap_local_page(bv.bv_page);
		left = n ? copy_from_user(p + bv.bv_offset, src, n) : 0;
		memset(p + bv.bv_offset + n, 0, bv.bv_len - n);
		kunmap_local(p);
		if (left)
			return -EFAULT;
		src += n;
		len -= n;
	}
	return 0;
}

/**
 * uloop_set_present() - mark cache blocks present
 * @ud: the device
 * @first: first block
 * @count: blocks, the range within the image (checked by the caller)
 *
 * The daemon wrote the blocks into the cache file before it asked for this.
 * set_bit_le() orders nothing: the barrier makes those writes (the page
 * cache copy, seen by buffered hits) visible before any bit is; it pairs
 * with the smp_rmb() after the lock-free test in uloop_blk.c.
 */
void uloop_set_present(struct uloop_device *ud, u64 first, u64 count)
{
	u64 i;

	/* The daemon's cache writes before the bits: see above. */
	smp_mb__before_atomic();
	for (i = first; i < first + count; i++) {
		set_bit_le(i, ud->bitmap);
		if (!(i & 0xffff))
			cond_resched();
	}
}

/**
 * uloop_clear_present() - mark cache blocks not present
 * @ud: the device
 * @first: first block
 * @count: blocks, the range within the image (checked by the caller)
 *
 * A read that tests the bits after this returns is a miss.  A read that
 * tested them before is in flight and may complete with what the file held.
 * The barrier orders the cleared bits before whatever the daemon does to
 * the cache file next (rewrite, punch, reuse).
 */
void uloop_clear_present(struct uloop_device *ud, u64 first, u64 count)
{
	u64 i;

	for (i = first; i < first + count; i++) {
		clear_bit_le(i, ud->bitmap);
		if (!(i & 0xffff))
			cond_resched();
	}
	/* Cleared bits before the daemon's next change to the cache. */
	smp_mb__after_atomic();
}

/* Validate one completion, then apply it.  Returns its status. */
static int uloop_complete_one(struct uloop_session *s, struct uloop_completion *c)
{
	struct uloop_device *ud = s->ud;
	u32 slot = uloop_tag_slot(c->tag);
	struct uloop_cmd *cmd;
	struct request *rq;
	u64 pos;
	int ret;

	if (c->reserved || (c->flags & ~ULOOP_C_ALL) || c->result > 0 ||
	    c->result < -MAX_ERRNO || (c->flags && c->result))
		return -EINVAL;
	spin_lock_irq(&ud->lock);
	if (!uloop_sess_live(s)) {
		spin_unlock_irq(&ud->lock);
		return -ENODEV;
	}
	cmd = slot < ud->set.queue_depth * ud->set.nr_hw_queues ?
		ud->slots[slot] : NULL;
	if (!cmd || cmd->tag != c->tag || cmd->state != ULOOP_CMD_DELIVERED) {
		ret = uloop_gen_issued(ud, uloop_tag_gen(c->tag)) &&
			(!cmd || cmd->tag != c->tag) ? -ESTALE : -ENOENT;
		spin_unlock_irq(&ud->lock);
		return ret;
	}
	rq = blk_mq_rq_from_pdu(cmd);
	pos = blk_rq_pos(rq) << SECTOR_SHIFT;
	if (c->offset != pos || c->length != cmd->length) {
		spin_unlock_irq(&ud->lock);
		return -EINVAL;
	}
	uloop_take(ud, cmd);
	spin_unlock_irq(&ud->lock);

	if (c->result) {
		uloop_end(cmd, uloop_errno_status(c->result));
	} else if (c->flags & ULOOP_C_DATA) {
		if (uloop_copy_data(rq, c->data_addr, c->length)) {
			uloop_end(cmd, BLK_STS_IOERR);
			return -EFAULT;
		}
		uloop_end(cmd, BLK_STS_OK);
	} else {
		/* Bits first: a read racing in now is a hit, as it should be. */
		uloop_set_present(ud, pos >> ud->block_shift,
				  ((pos + c->length - 1) >> ud->block_shift) -
				  (pos >> ud->block_shift) + 1);
		uloop_serve(cmd);
	}
	return 0;
}

static long uloop_sess_complete(struct uloop_session *s,
				struct uloop_complete __user *uarg)
{
	struct uloop_device *ud = s->ud;
	struct uloop_completion *c;
	struct uloop_complete arg;
	struct uloop_completion __user *ue;
	u32 done = 0, n, i;
	long ret = 0;
	int st;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.__pad || arg.reserved[0] || arg.reserved[1] || !arg.count ||
	    arg.count > ULOOP_COMPLETE_MAX)
		return -EINVAL;
	c = kmalloc_array(ULOOP_COMPLETE_CHUNK, sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	arg.applied = 0;
	arg.rejected = 0;
	ue = u64_to_user_ptr(arg.entries);
	while (done < arg.count) {
		n = min_t(u32, arg.count - done, ULOOP_COMPLETE_CHUNK);
		if (copy_from_user(c, ue + done, n * sizeof(*c))) {
			ret = -EFAULT;
			break;
		}
		for (i = 0; i < n; i++) {
			st = uloop_complete_one(s, &c[i]);
			if (st == -ENODEV) {
				ret = -ENODEV;
				break;
			}
			c[i].status = st;
			if (st) {
				arg.rejected++;
				atomic64_inc(&ud->rejected);
			} else {
				arg.applied++;
			}
		}
		if (copy_to_user(ue + done, c, i * sizeof(*c))) {
			ret = -EFAULT;
			break;
		}
		done += i;
		if (ret)
			break;
	}
	kfree(c);
	if (!ret && copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
	return ret;
}

/* SET_PRESENT and CLEAR_PRESENT: the same range, set or cleared. */
static long uloop_sess_present(struct uloop_session *s,
			       struct uloop_present __user *uarg, bool set)
{
	struct uloop_device *ud = s->ud;
	struct uloop_present p;
	bool live;

	if (copy_from_user(&p, uarg, sizeof(p)))
		return -EFAULT;
	if (p.reserved[0] || p.reserved[1] || !p.count ||
	    p.first_block >= ud->nblocks || p.count > ud->nblocks - p.first_block)
		return -EINVAL;
	spin_lock_irq(&ud->lock);
	live = uloop_sess_live(s);
	spin_unlock_irq(&ud->lock);
	if (!live)
		return -ENODEV;
	if (set)
		uloop_set_present(ud, p.first_block, p.count);
	else
		uloop_clear_present(ud, p.first_block, p.count);
	return 0;
}

static long uloop_sess_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	struct uloop_session *s = file->private_data;

	switch (cmd) {
	case ULOOP_SESS_COMPLETE:
		return uloop_sess_complete(s, (void __user *)arg);
	case ULOOP_SESS_SET_PRESENT:
		return uloop_sess_present(s, (void __user *)arg, true);
	case ULOOP_SESS_CLEAR_PRESENT:
		return uloop_sess_present(s, (void __user *)arg, false);
	default:
		return -ENOTTY;
	}
}

/*
 * The daemon is gone (exit, crash, or it closed the fd): its handed-out
 * misses go back to the front of the queue for the next daemon, and the
 * hold time starts.
 */
static int uloop_sess_release(struct inode *inode, struct file *file)
{
	struct uloop_session *s = file->private_data;
	struct uloop_device *ud = s->ud;
	struct uloop_cmd *cmd;

	spin_lock_irq(&ud->lock);
	if (ud->session == s) {
		ud->session = NULL;
		list_for_each_entry(cmd, &ud->delivered, node)
			cmd->state = ULOOP_CMD_PENDING;
		list_splice_init(&ud->delivered, &ud->pending);
		ud->nr_pending += ud->nr_delivered;
		ud->nr_delivered = 0;
		if (!ud->dead && ud->hold_ms != ULOOP_HOLD_FOREVER) {
			unsigned long delay = msecs_to_jiffies(ud->hold_ms);

			ud->hold_until = jiffies + delay;
			mod_delayed_work(system_wq, &ud->hold_work, delay);
		}
	}
	spin_unlock_irq(&ud->lock);
	wake_up_all(&ud->wq);
	kfree(s);
	uloop_put(ud);
	return 0;
}

static const struct file_operations uloop_sess_fops = {
	.owner		= THIS_MODULE,
	.read		= uloop_sess_read,
	.poll		= uloop_sess_poll,
	.unlocked_ioctl	= uloop_sess_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.release	= uloop_sess_release,
	.llseek		= noop_llseek,
};

/**
 * uloop_sess_open() - a new session of @ud, not attached yet
 * @ud: the device; the session takes a reference
 * @filep: the session's file
 *
 * The caller attaches it (uloop_device.session, under the lock) before it
 * can be used, and either installs it in an fd or fput()s it.
 *
 * Return: 0 or -errno.
 */
int uloop_sess_open(struct uloop_device *ud, struct file **filep)
{
	struct uloop_session *s;
	struct file *file;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->ud = ud;
	kref_get(&ud->kref);
	file = anon_inode_getfile("[uloop-session]", &uloop_sess_fops, s,
				  O_RDWR | O_CLOEXEC);
	if (IS_ERR(file)) {
		uloop_put(ud);
		kfree(s);
		return PTR_ERR(file);
	}
	*filep = file;
	return 0;
}
