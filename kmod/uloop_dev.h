/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The objects of uloop.ko and the contracts between its files.
 *
 *   uloop_ctl.c    module, /dev/uloop-control: ADD, ATTACH, REMOVE, INFO
 *   uloop_blk.c    blk-mq: hits served from the cache file in the kernel
 *   uloop_sess.c   session fds: misses out, completions in, hold timeout
 *   uloop_sysfs.c  /sys/block/uloopN/uloop/
 *   uloop_csum.c   hits checked against the cache's CRC-32Cs
 *
 * Lifetime: struct uloop_device is counted (kref).  The disk holds one
 * reference, dropped in .free_disk; each session holds one.  The last
 * reference frees the tag set, the cache file and the bitmap, which is why
 * the disk's reference is only dropped once the queue is gone.
 */
#ifndef ULOOP_DEV_H
#define ULOOP_DEV_H

#include <linux/blk-mq.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/uloop.h>

#define ULOOP_QUEUE_DEPTH	128
#define ULOOP_NR_HW_QUEUES	1
#define ULOOP_MAX_SECTORS	2048	/* 1 MiB: one largest block per miss */

/* Where a request is; every change is made under uloop_device.lock. */
enum uloop_cmd_state {
	ULOOP_CMD_IDLE,		/* not a miss: owned by whoever runs it */
	ULOOP_CMD_PENDING,	/* a miss on ->pending, not handed out */
	ULOOP_CMD_DELIVERED,	/* a miss on ->delivered, read by the daemon */
};

/**
 * struct uloop_cmd - per-request data (the blk-mq PDU)
 * @work: runs the cache read or the flush on uloop_wq
 * @iocb: the direct-I/O read of the cache file
 * @bvec: the request's segments when it has several bios, else NULL;
 *	freed when the request ends
 * @ret: bytes read or -errno, for the completion
 * @node: on ->pending or ->delivered (lock)
 * @tag: generation << 32 | slot while a miss (lock)
 * @state: enum uloop_cmd_state (lock)
 * @length: the miss's length (image bytes of the request)
 * @csum_fails: times this request's cache read failed its checksums
 * @verify: the cache read is done; the work item checks it next
 * @want_data: hand the miss out with ULOOP_M_DATA (lock)
 */
struct uloop_cmd {
	struct work_struct work;
	struct kiocb iocb;
	struct bio_vec *bvec;
	long ret;
	struct list_head node;
	u64 tag;
	enum uloop_cmd_state state;
	u32 length;
	u8 csum_fails;
	bool verify;
	bool want_data;
};

struct uloop_session;

/**
 * struct uloop_device - one /dev/uloopN
 * @index: N
 * @kref: see the lifetime note above
 * @disk: the block device
 * @set: its tag set
 * @cache: the cache file (our reference); fixed for the device's life
 * @data_offset: cache offset of image byte 0
 * @csum_offset: cache offset of the data's CRC-32Cs, 0 for none
 * @image_size: bytes
 * @block_shift: log2 of the cache block size
 * @nblocks: blocks of the image
 * @bitmap: present bits, little-endian bit order (the daemon's); changed
 *	only with atomic set_bit_le()/clear_bit_le(), so readers take no lock
 *	(see uloop_set_present() for the barriers)
 * @dio_align: alignment direct I/O on @cache needs, 0 if it has none
 * @flags: ULOOP_F_* (READ_ONCE: ATTACH may change it)
 * @hits: requests served at once from the cache file
 * @misses: requests queued to a daemon
 * @rejected: completion entries rejected
 * @failed: requests ended with an error
 * @csum_errors: spans of hits that did not match their CRC
 * @lock: protects the fields below it and uloop_cmd's node, tag, state
 * @session: the attached session or NULL
 * @pending: misses waiting to be read by a daemon, oldest first
 * @delivered: misses read by the daemon, not completed
 * @nr_pending: entries on @pending
 * @nr_delivered: entries on @delivered
 * @slots: the live miss of each slot (hw queue * depth + driver tag)
 * @last_gen: the generation of the newest tag
 * @hold_ms: hold time after the session closes (ULOOP_HOLD_FOREVER)
 * @hold_until: jiffies when the held misses fail
 * @expired: the hold time ran out; misses fail until ATTACH
 * @deleting: REMOVE has begun (set under the disk's open_mutex and @lock,
 *	the control mutex held); open() is refused, ATTACH, INFO and REMOVE
 *	see no device, the index stays taken until the disk is gone
 * @dead: REMOVE has failed every miss; new misses fail, sessions see ENODEV
 * @hold_work: fails held misses at @hold_until
 * @wq: session readers and pollers wait here
 */
struct uloop_device {
	int index;
	struct kref kref;
	struct gendisk *disk;
	struct blk_mq_tag_set set;
	struct file *cache;
	u64 data_offset;
	u64 csum_offset;
	u64 image_size;
	u32 block_shift;
	u64 nblocks;
	unsigned long *bitmap;
	unsigned int dio_align;
	u64 flags;
	atomic64_t hits;
	atomic64_t misses;
	atomic64_t rejected;
	atomic64_t failed;
	atomic64_t csum_errors;

	spinlock_t lock;	/* misses, session state: see below */
	struct uloop_session *session;
	struct list_head pending;
	struct list_head delivered;
	u32 nr_pending;
	u32 nr_delivered;
	struct uloop_cmd **slots;
	u32 last_gen;
	u32 hold_ms;
	unsigned long hold_until;
	bool expired;
	bool deleting;
	bool dead;
	struct delayed_work hold_work;
	wait_queue_head_t wq;
};

extern struct workqueue_struct *uloop_wq;
extern int uloop_major;
extern const struct attribute_group *uloop_attr_groups[];

/* uloop_ctl.c */
void uloop_put(struct uloop_device *ud);

/* uloop_blk.c */
int uloop_blk_create(struct uloop_device *ud);
void uloop_serve(struct uloop_cmd *cmd);
blk_status_t uloop_errno_status(int err);
void uloop_end(struct uloop_cmd *cmd, blk_status_t status);
u64 uloop_present_count(struct uloop_device *ud);

/* uloop_sess.c */
int uloop_sess_open(struct uloop_device *ud, struct file **filep);
blk_status_t uloop_miss(struct uloop_device *ud, struct uloop_cmd *cmd,
			unsigned int slot);
void uloop_take_all(struct uloop_device *ud, struct list_head *out);
void uloop_fail_all(struct uloop_device *ud, struct list_head *list);
void uloop_hold_expire(struct work_struct *work);
void uloop_set_present(struct uloop_device *ud, u64 first, u64 count);
void uloop_clear_present(struct uloop_device *ud, u64 first, u64 count);

/* uloop_csum.c */
void uloop_csum_verify(struct uloop_device *ud, struct uloop_cmd *cmd);

#endif /* ULOOP_DEV_H */
