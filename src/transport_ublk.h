/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transport_ublk.h - an engine served as /dev/ublkbN by the kernel's ublk
 * driver (ublk_drv, Linux 6.0 and later built with CONFIG_BLK_DEV_UBLK).
 *
 * ublk is the upstream way to serve a block device from user space: the
 * driver hands each request to the daemon as the completion of an
 * io_uring command (FETCH_REQ) on /dev/ublkcN, with its descriptor in a
 * shared array, and takes the answer back with the next command
 * (COMMIT_AND_FETCH_REQ), no socket and no protocol in between.  The
 * data goes through a buffer per request slot (tag) whose address rides
 * in the command: the driver copies a write's bytes into it before it
 * tells us, and a read's out of it when we commit.  Devices are made,
 * started, stopped and removed with control commands on /dev/ublk-control
 * (uring.h: raw io_uring, 128-byte entries).
 *
 * Threads: one queue (the driver wants every command of a queue from one
 * thread), served by one thread that owns the ring; a read whose blocks
 * are all in the cache is answered there at once, anything else (a miss,
 * a write, a flush) goes to @workers threads, which hand the result back
 * through an eventfd the queue thread reads on its ring.  So up to
 * @workers misses are fetched in parallel, as with nbd's connections.
 *
 * Takeover: devices are made with UBLK_F_USER_RECOVERY and _REISSUE.
 * When the daemon dies, the driver quiesces the device and keeps its
 * requests, those we had taken included (reissued: a read, and a write
 * of the same bytes, may be done twice); a successor that the caller
 * allowed (@may_take_over: the run state says the dead daemon served
 * this image) runs START_USER_RECOVERY, fetches, and END_USER_RECOVERY:
 * the filesystem on it sees no error.  The driver checks nothing about
 * the image; we check the size and the read-only flag it was made with.
 */
#ifndef ULOOP_TRANSPORT_UBLK_H
#define ULOOP_TRANSPORT_UBLK_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "engine.h"
#include "wlayer.h"

#define ULO_UBLK_CONTROL "/dev/ublk-control"

struct ulo_ublk_dev;

struct ulo_ublk_opts {
	int index;		/* N of /dev/ublkbN, or -1: the driver picks */
	unsigned workers;	/* misses and writes served in parallel */
	struct ulo_wlayer *writes;	/* NULL: read-only; else writable, the
					 * writes kept there (not owned) */
	bool may_take_over;	/* the device's daemon is known dead and
				 * served this same image */
};

/* Is ublk usable: the control node exists, or `modprobe ublk_drv` made
 * it appear. */
bool ulo_ublk_available(void);

/* Make (or take over) the device for an image of @size bytes and serve
 * it; @cache may be NULL. */
int ulo_ublk_start(const struct ulo_ublk_opts *o, struct ulo_engine *eng,
		   struct ulo_cache *cache, uint64_t size, struct ulo_ublk_dev **out);
/* "/dev/ublkbN" */
const char *ulo_ublk_path(const struct ulo_ublk_dev *d);
/* True if an existing device was taken over (user recovery). */
bool ulo_ublk_took_over(const struct ulo_ublk_dev *d);
/* Block until the device is stopped from outside (uloop detach) or shut
 * down. */
void ulo_ublk_wait(struct ulo_ublk_dev *d);
/*
 * Stop serving.  Unless @keep, stop and remove the device; if it is still
 * held (mounted) it stays instead, quiesced with its requests held for a
 * successor, and that is reported (-EBUSY) but the threads stop all the
 * same.  Every thread has ended when this returns.
 */
int ulo_ublk_shutdown(struct ulo_ublk_dev *d, bool keep);
void ulo_ublk_free(struct ulo_ublk_dev *d);

/* "/dev/ublkbN" -> N, or -1 if @path is not a ublk device name. */
int ulo_ublk_index_of(const char *path);
/* uloop detach: STOP_DEV of device @index (its daemon, if alive, sees
 * the end and removes it), and with @del DEL_DEV too. */
int ulo_ublk_remove(int index, bool del);
/* The indexes of the ublk disks that exist (/sys/block/ublkbN), in
 * ascending order, at most @max of them: their number. */
int ulo_ublk_devices(int *idx, int max);

#endif
