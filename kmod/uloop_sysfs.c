// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/block/uloopN/uloop/: the device's counters and geometry, read-only.
 * The group is added and removed with the disk, so a reader always finds
 * the device alive.  Values read without the lock may be a moment old; each
 * one is consistent by itself.
 */
#include <linux/blkdev.h>
#include <linux/device.h>
#include <linux/sysfs.h>

#include "uloop_dev.h"

static struct uloop_device *uloop_dev(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

#define ULOOP_ATTR(_name, _fmt, _expr)					\
static ssize_t _name##_show(struct device *dev,				\
			    struct device_attribute *attr, char *buf)	\
{									\
	struct uloop_device *ud = uloop_dev(dev);			\
									\
	return sysfs_emit(buf, _fmt "\n", _expr);			\
}									\
static DEVICE_ATTR_RO(_name)

ULOOP_ATTR(hits, "%lld", (long long)atomic64_read(&ud->hits));
ULOOP_ATTR(misses, "%lld", (long long)atomic64_read(&ud->misses));
ULOOP_ATTR(rejected, "%lld", (long long)atomic64_read(&ud->rejected));
ULOOP_ATTR(failed, "%lld", (long long)atomic64_read(&ud->failed));
ULOOP_ATTR(inflight, "%u", READ_ONCE(ud->nr_delivered));
ULOOP_ATTR(held, "%u", READ_ONCE(ud->session) ? 0 : READ_ONCE(ud->nr_pending));
ULOOP_ATTR(daemon_attached, "%d", READ_ONCE(ud->session) ? 1 : 0);
ULOOP_ATTR(expired, "%d", READ_ONCE(ud->expired) ? 1 : 0);
ULOOP_ATTR(hold_timeout_ms, "%u", READ_ONCE(ud->hold_ms));
ULOOP_ATTR(image_size, "%llu", (unsigned long long)ud->image_size);
ULOOP_ATTR(block_size, "%u", 1U << ud->block_shift);
ULOOP_ATTR(data_offset, "%llu", (unsigned long long)ud->data_offset);
ULOOP_ATTR(blocks, "%llu", (unsigned long long)ud->nblocks);
ULOOP_ATTR(present, "%llu", (unsigned long long)uloop_present_count(ud));
ULOOP_ATTR(csum_offset, "%llu", (unsigned long long)ud->csum_offset);
ULOOP_ATTR(csum_errors, "%lld", (long long)atomic64_read(&ud->csum_errors));
ULOOP_ATTR(direct_io, "%d",
	   ud->dio_align && !(READ_ONCE(ud->flags) & ULOOP_F_BUFFERED));

static struct attribute *uloop_attrs[] = {
	&dev_attr_hits.attr,
	&dev_attr_misses.attr,
	&dev_attr_rejected.attr,
	&dev_attr_failed.attr,
	&dev_attr_inflight.attr,
	&dev_attr_held.attr,
	&dev_attr_daemon_attached.attr,
	&dev_attr_expired.attr,
	&dev_attr_hold_timeout_ms.attr,
	&dev_attr_image_size.attr,
	&dev_attr_block_size.attr,
	&dev_attr_data_offset.attr,
	&dev_attr_blocks.attr,
	&dev_attr_present.attr,
	&dev_attr_direct_io.attr,
	&dev_attr_csum_offset.attr,
	&dev_attr_csum_errors.attr,
	NULL,
};

static const struct attribute_group uloop_attr_group = {
	.name	= "uloop",
	.attrs	= uloop_attrs,
};

const struct attribute_group *uloop_attr_groups[] = {
	&uloop_attr_group,
	NULL,
};
