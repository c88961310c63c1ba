// SPDX-License-Identifier: GPL-2.0
/*
 * The module and /dev/uloop-control.
 *
 * Control ioctls (CAP_SYS_ADMIN) run one at a time under uloop_ctl_mutex,
 * which also guards the index IDR: ADD, ATTACH and REMOVE never see each
 * other half done.  Every argument is copied in and validated before any
 * state changes.
 *
 * ADD builds the whole device (tag set, disk, session) before add_disk()
 * and installs the session fd last, so a failure unwinds everything and a
 * success is complete.  The partition table is not read inside ADD (its
 * reads would be misses nobody serves yet) but at the disk's next open.
 * Each device pins the module (module unload with live devices is
 * refused); REMOVE drops that pin.
 *
 * REMOVE refuses an open device (EBUSY).  It checks the openers and marks
 * the device deleting under the disk's open_mutex (then its spinlock, the
 * order uloop_open() takes them in): the block layer counts an opener only
 * after ->open returned, under that mutex, so an open either completed
 * before the check (EBUSY) or sees deleting (ENXIO).  The mutex is only
 * tried: an open or a close in progress is EBUSY too (a last close waits
 * for the device's reads, held misses included, and only an ATTACH, which
 * needs uloop_ctl_mutex, or the hold time ends those).  It is dropped
 * before del_gendisk(), which takes it too.
 *
 * The index stays in the IDR, the device marked deleting, until the disk
 * is deleted and put: an ADD racing REMOVE gets another index (or EEXIST
 * for an explicit one) instead of registering a second uloopN while the
 * first is still in sysfs.  ATTACH, INFO and REMOVE treat a deleting device
 * as gone (ENODEV).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/major.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "uloop_dev.h"

struct workqueue_struct *uloop_wq;
int uloop_major;

static DEFINE_MUTEX(uloop_ctl_mutex);
static DEFINE_IDR(uloop_idr);		/* index -> device; uloop_ctl_mutex */

static void uloop_release(struct kref *kref)
{
	struct uloop_device *ud = container_of(kref, struct uloop_device, kref);

	if (ud->disk)
		blk_mq_free_tag_set(&ud->set);
	fput(ud->cache);
	kvfree(ud->bitmap);
	kfree(ud->slots);
	kfree(ud);
}

/**
 * uloop_put() - drop a reference to a device
 * @ud: the device; freed with its tag set, cache file and bitmap when this
 *	was the last reference
 */
void uloop_put(struct uloop_device *ud)
{
	kref_put(&ud->kref, uloop_release);
}

/* A user's bitmap: length checked, bits past the last block dropped. */
static unsigned long *uloop_bitmap_in(const struct uloop_dev_info *info,
				      u64 nblocks)
{
	size_t need = DIV_ROUND_UP(nblocks, BITS_PER_BYTE);
	unsigned long *map;
	u64 i;

	map = kvcalloc(BITS_TO_LONGS(nblocks), sizeof(long), GFP_KERNEL);
	if (!map)
		return ERR_PTR(-ENOMEM);
	if (info->bitmap_addr &&
	    copy_from_user(map, u64_to_user_ptr(info->bitmap_addr), need)) {
		kvfree(map);
		return ERR_PTR(-EFAULT);
	}
	for (i = nblocks; i < (u64)need * BITS_PER_BYTE; i++)
		__clear_bit_le(i, map);
	return map;
}

/* Bytes of the checksum region: a CRC-32C per 4 KiB of the image. */
static u64 uloop_csum_bytes(const struct uloop_dev_info *info)
{
	return DIV_ROUND_UP_ULL(info->image_size, 4096) * 4;
}

/* Checks that need no file: everything but cache_fd. */
static int uloop_info_valid(const struct uloop_dev_info *info, u64 *nblocks)
{
	u64 n;

	if (info->__pad || memchr_inv(info->reserved, 0, sizeof(info->reserved)))
		return -EINVAL;
	if (info->flags & ~ULOOP_F_ALL)
		return -EINVAL;
	if (info->block_shift < ULOOP_BLOCK_SHIFT_MIN ||
	    info->block_shift > ULOOP_BLOCK_SHIFT_MAX)
		return -EINVAL;
	if (!info->image_size || !IS_ALIGNED(info->data_offset, SECTOR_SIZE) ||
	    info->data_offset + info->image_size < info->data_offset ||
	    info->data_offset + info->image_size > LLONG_MAX)
		return -EINVAL;
	if (info->index < -1 || info->index >= (1 << MINORBITS))
		return -EINVAL;
	n = DIV_ROUND_UP_ULL(info->image_size, 1ULL << info->block_shift);
	/* test_bit_le() takes an int. */
	if (n > INT_MAX)
		return -EINVAL;
	if (info->bitmap_addr ? info->bitmap_len < DIV_ROUND_UP(n, BITS_PER_BYTE) :
	    info->bitmap_len)
		return -EINVAL;
	/* The checksums: 4 bytes a 4 KiB span, beside the data, not in it. */
	if (info->csum_offset &&
	    (!IS_ALIGNED(info->csum_offset, 4) ||
	     info->csum_offset > LLONG_MAX - uloop_csum_bytes(info) ||
	     (info->csum_offset + uloop_csum_bytes(info) > info->data_offset &&
	      info->csum_offset < info->data_offset + info->image_size)))
		return -EINVAL;
	*nblocks = n;
	return 0;
}

/*
 * The cache: a readable regular file or block device, not one of ours nor
 * a partition of one (a read would wait for itself), big enough for the image at its offset (a
 * file may be sparse, but not short: a short one is most likely the wrong
 * file or a wrong offset).
 */
static struct file *uloop_cache_in(const struct uloop_dev_info *info)
{
	struct file *file = fget(info->cache_fd);
	struct inode *inode;

	if (!file)
		return ERR_PTR(-EBADF);
	inode = file_inode(file);
	if (!(file->f_mode & FMODE_READ) || !file->f_op->read_iter)
		goto bad;
	if (S_ISBLK(inode->i_mode)) {
		/* Its disk's major: a partition of ours has the extended one. */
		if (I_BDEV(file->f_mapping->host)->bd_disk->major == uloop_major)
			goto bad;
	} else if (!S_ISREG(inode->i_mode)) {
		goto bad;
	}
	/* A block device's size is its mapping host's, a file's its own. */
	if (i_size_read(file->f_mapping->host) <
	    info->data_offset + info->image_size)
		goto bad;
	if (info->csum_offset && i_size_read(file->f_mapping->host) <
	    info->csum_offset + uloop_csum_bytes(info))
		goto bad;
	return file;
bad:
	fput(file);
	return ERR_PTR(-EINVAL);
}

/* Direct I/O alignment of the cache: its device's logical block size. */
static unsigned int uloop_dio_align(struct file *file)
{
	struct inode *inode = file->f_mapping->host;
	struct block_device *bdev;

	if (!(file->f_mode & FMODE_CAN_ODIRECT))
		return 0;
	if (S_ISBLK(inode->i_mode))
		bdev = I_BDEV(inode);
	else
		bdev = inode->i_sb->s_bdev;
	return bdev ? bdev_logical_block_size(bdev) : 0;
}

/* Same file, or the same block device through another node? */
static bool uloop_same_cache(struct file *a, struct file *b)
{
	struct inode *ia = file_inode(a), *ib = file_inode(b);

	if (S_ISBLK(ia->i_mode) || S_ISBLK(ib->i_mode))
		return S_ISBLK(ia->i_mode) && S_ISBLK(ib->i_mode) &&
			ia->i_rdev == ib->i_rdev;
	return ia == ib;
}

static long uloop_ctl_add(struct uloop_dev_info __user *uarg)
{
	struct uloop_dev_info info;
	struct uloop_device *ud;
	struct file *sess;
	u64 nblocks;
	int ret, fd;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	ret = uloop_info_valid(&info, &nblocks);
	if (ret)
		return ret;
	ud = kzalloc(sizeof(*ud), GFP_KERNEL);
	if (!ud)
		return -ENOMEM;
	kref_init(&ud->kref);
	spin_lock_init(&ud->lock);
	INIT_LIST_HEAD(&ud->pending);
	INIT_LIST_HEAD(&ud->delivered);
	INIT_DELAYED_WORK(&ud->hold_work, uloop_hold_expire);
	init_waitqueue_head(&ud->wq);
	ud->data_offset = info.data_offset;
	ud->csum_offset = info.csum_offset;
	ud->image_size = info.image_size;
	ud->block_shift = info.block_shift;
	ud->nblocks = nblocks;
	ud->flags = info.flags;
	ud->hold_ms = info.hold_timeout_ms;
	ud->cache = uloop_cache_in(&info);
	if (IS_ERR(ud->cache)) {
		ret = PTR_ERR(ud->cache);
		kfree(ud);
		return ret;
	}
	ud->dio_align = uloop_dio_align(ud->cache);
	/* From here uloop_put() undoes whatever was set up. */
	ud->slots = kcalloc(ULOOP_QUEUE_DEPTH * ULOOP_NR_HW_QUEUES,
			    sizeof(*ud->slots), GFP_KERNEL);
	ud->bitmap = uloop_bitmap_in(&info, nblocks);
	if (IS_ERR(ud->bitmap)) {
		ret = PTR_ERR(ud->bitmap);
		ud->bitmap = NULL;
		goto out_put;
	}
	if (!ud->slots) {
		ret = -ENOMEM;
		goto out_put;
	}

	mutex_lock(&uloop_ctl_mutex);
	if (info.index >= 0)
		ret = idr_alloc(&uloop_idr, ud, info.index, info.index + 1,
				GFP_KERNEL);
	else
		ret = idr_alloc(&uloop_idr, ud, 0, 1 << MINORBITS, GFP_KERNEL);
	if (ret < 0) {
		if (ret == -ENOSPC)
			ret = info.index >= 0 ? -EEXIST : -ENOSPC;
		goto out_unlock;
	}
	ud->index = ret;
	ret = uloop_blk_create(ud);
	if (ret)
		goto out_idr;
	ret = uloop_sess_open(ud, &sess);
	if (ret)
		goto out_disk;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto out_sess;
	}
	ud->session = sess->private_data;
	info.index = ud->index;
	info.session_fd = fd;
	if (copy_to_user(uarg, &info, sizeof(info))) {
		ret = -EFAULT;
		goto out_fd;
	}
	ret = device_add_disk(NULL, ud->disk, uloop_attr_groups);
	if (ret)
		goto out_fd;
	/*
	 * The partition table is read at the next open of the disk (the
	 * block layer's GD_NEED_PART_SCAN, as nbd does after a connect), by
	 * whoever opens it: by then the daemon serves its session.  The
	 * daemon opens the disk itself once its servers run, so the scan
	 * never waits for a reader that may not come; udev's probe of the
	 * add event may come first, or before these bits: then that open
	 * scans, or the daemon's does.
	 */
	clear_bit(GD_SUPPRESS_PART_SCAN, &ud->disk->state);
	set_bit(GD_NEED_PART_SCAN, &ud->disk->state);
	__module_get(THIS_MODULE);
	mutex_unlock(&uloop_ctl_mutex);
	fd_install(fd, sess);
	return 0;

out_fd:
	put_unused_fd(fd);
	/* Never added: the session's release must not arm the hold timer. */
	ud->session = NULL;
	ud->dead = true;
out_sess:
	fput(sess);		/* its release drops its reference */
out_disk:
	put_disk(ud->disk);	/* not added: .free_disk is not called */
out_idr:
	idr_remove(&uloop_idr, ud->index);
out_unlock:
	mutex_unlock(&uloop_ctl_mutex);
out_put:
	uloop_put(ud);
	return ret;
}

static long uloop_ctl_attach(struct uloop_dev_info __user *uarg)
{
	struct uloop_dev_info info;
	struct uloop_device *ud;
	unsigned long *map = NULL;
	struct file *cache, *sess = NULL;
	u64 nblocks, i;
	int ret, fd = -1;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	ret = uloop_info_valid(&info, &nblocks);
	if (ret)
		return ret;
	if (info.index < 0)
		return -EINVAL;
	cache = uloop_cache_in(&info);
	if (IS_ERR(cache))
		return PTR_ERR(cache);
	if (info.bitmap_addr) {
		map = uloop_bitmap_in(&info, nblocks);
		if (IS_ERR(map)) {
			fput(cache);
			return PTR_ERR(map);
		}
	}

	mutex_lock(&uloop_ctl_mutex);
	ud = idr_find(&uloop_idr, info.index);
	ret = -ENODEV;
	if (!ud || ud->deleting)
		goto out_unlock;
	ret = -EINVAL;
	if (!uloop_same_cache(ud->cache, cache) ||
	    info.data_offset != ud->data_offset ||
	    info.csum_offset != ud->csum_offset ||
	    info.image_size != ud->image_size ||
	    info.block_shift != ud->block_shift)
		goto out_unlock;
	ret = -EBUSY;
	/* Only ATTACH sets ->session, under our mutex: this stays true. */
	if (READ_ONCE(ud->session))
		goto out_unlock;
	ret = uloop_sess_open(ud, &sess);
	if (ret)
		goto out_unlock;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto out_unlock;
	}
	info.session_fd = fd;
	ret = -EFAULT;
	if (copy_to_user(uarg, &info, sizeof(info)))
		goto out_unlock;
	/* No session, so no completion sets bits while we add ours. */
	for (i = 0; map && i < BITS_TO_LONGS(nblocks); i++)
		ud->bitmap[i] |= map[i];

	spin_lock_irq(&ud->lock);
	ret = -ENODEV;
	if (!ud->dead) {
		ud->session = sess->private_data;
		ud->expired = false;
		WRITE_ONCE(ud->flags, info.flags);
		ud->hold_ms = info.hold_timeout_ms;
		cancel_delayed_work(&ud->hold_work);
		ret = 0;
	}
	spin_unlock_irq(&ud->lock);
out_unlock:
	mutex_unlock(&uloop_ctl_mutex);
	if (ret) {
		if (fd >= 0)
			put_unused_fd(fd);
		if (sess)
			fput(sess);
	} else {
		fd_install(fd, sess);
		wake_up_all(&ud->wq);
	}
	kvfree(map);
	fput(cache);
	return ret;
}

static long uloop_ctl_remove(struct uloop_dev_remove __user *uarg)
{
	struct uloop_dev_remove arg;
	struct uloop_device *ud;
	LIST_HEAD(failed);

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.__pad || arg.reserved[0] || arg.reserved[1] || arg.index < 0)
		return -EINVAL;
	mutex_lock(&uloop_ctl_mutex);
	ud = idr_find(&uloop_idr, arg.index);
	/* Only REMOVE sets ->deleting, under our mutex: stable here. */
	if (!ud || ud->deleting) {
		mutex_unlock(&uloop_ctl_mutex);
		return -ENODEV;
	}
	/*
	 * See the note at the top: openers are counted under open_mutex.  Its
	 * holder may be a last close waiting for its reads, misses included,
	 * which only a daemon's ATTACH (our mutex) or the hold time ends:
	 * never wait for it here.
	 */
	if (!mutex_trylock(&ud->disk->open_mutex)) {
		mutex_unlock(&uloop_ctl_mutex);
		return -EBUSY;
	}
	spin_lock_irq(&ud->lock);
	if (disk_openers(ud->disk)) {
		spin_unlock_irq(&ud->lock);
		mutex_unlock(&ud->disk->open_mutex);
		mutex_unlock(&uloop_ctl_mutex);
		return -EBUSY;
	}
	ud->deleting = true;
	ud->dead = true;
	uloop_take_all(ud, &failed);
	spin_unlock_irq(&ud->lock);
	mutex_unlock(&ud->disk->open_mutex);
	/* The IDR keeps pointing at @ud until the end: keep it alive. */
	kref_get(&ud->kref);
	mutex_unlock(&uloop_ctl_mutex);

	cancel_delayed_work_sync(&ud->hold_work);
	wake_up_all(&ud->wq);
	uloop_fail_all(ud, &failed);
	del_gendisk(ud->disk);
	put_disk(ud->disk);	/* .free_disk drops the disk's reference */

	/* uloopN is gone from sysfs and the bdev hash: the index is free. */
	mutex_lock(&uloop_ctl_mutex);
	idr_remove(&uloop_idr, arg.index);
	mutex_unlock(&uloop_ctl_mutex);
	uloop_put(ud);
	module_put(THIS_MODULE);
	return 0;
}

static long uloop_ctl_info(struct uloop_dev_status __user *uarg)
{
	struct uloop_dev_status st;
	struct uloop_device *ud;

	if (copy_from_user(&st, uarg, sizeof(st)))
		return -EFAULT;
	if (memchr_inv(st.reserved, 0, sizeof(st.reserved)))
		return -EINVAL;
	mutex_lock(&uloop_ctl_mutex);
	ud = idr_find(&uloop_idr, st.index);
	if (!ud || ud->deleting) {
		mutex_unlock(&uloop_ctl_mutex);
		return -ENODEV;
	}
	spin_lock_irq(&ud->lock);
	st.state = (ud->session ? ULOOP_STATE_SESSION : 0) |
		(ud->expired ? ULOOP_STATE_EXPIRED : 0);
	st.hold_timeout_ms = ud->hold_ms;
	st.inflight = ud->nr_delivered;
	st.held = ud->session ? 0 : ud->nr_pending;
	st.flags = ud->flags;
	spin_unlock_irq(&ud->lock);
	st.data_offset = ud->data_offset;
	st.image_size = ud->image_size;
	st.block_shift = ud->block_shift;
	st.blocks = ud->nblocks;
	st.present = uloop_present_count(ud);
	st.hits = atomic64_read(&ud->hits);
	st.misses = atomic64_read(&ud->misses);
	st.rejected = atomic64_read(&ud->rejected);
	st.failed = atomic64_read(&ud->failed);
	st.csum_offset = ud->csum_offset;
	st.csum_errors = atomic64_read(&ud->csum_errors);
	mutex_unlock(&uloop_ctl_mutex);
	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long uloop_ctl_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case ULOOP_CTL_ADD:
		return uloop_ctl_add(argp);
	case ULOOP_CTL_ATTACH:
		return uloop_ctl_attach(argp);
	case ULOOP_CTL_REMOVE:
		return uloop_ctl_remove(argp);
	case ULOOP_CTL_INFO:
		return uloop_ctl_info(argp);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations uloop_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= uloop_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice uloop_misc = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= ULOOP_CONTROL_NAME,
	.fops		= &uloop_ctl_fops,
	.mode		= 0600,
};

static int __init uloop_init(void)
{
	int ret;

	uloop_wq = alloc_workqueue("uloop", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!uloop_wq)
		return -ENOMEM;
	ret = register_blkdev(0, "uloop");
	if (ret < 0)
		goto out_wq;
	uloop_major = ret;
	ret = misc_register(&uloop_misc);
	if (ret)
		goto out_blkdev;
	return 0;

out_blkdev:
	unregister_blkdev(uloop_major, "uloop");
out_wq:
	destroy_workqueue(uloop_wq);
	return ret;
}

/* Every device pins the module, so none is left here. */
static void __exit uloop_exit(void)
{
	misc_deregister(&uloop_misc);
	unregister_blkdev(uloop_major, "uloop");
	destroy_workqueue(uloop_wq);
	idr_destroy(&uloop_idr);
}

module_init(uloop_init);
module_exit(uloop_exit);
MODULE_DESCRIPTION("block device served from a cache file, misses fetched by a daemon");
MODULE_LICENSE("GPL");
MODULE_VERSION("0.1");
