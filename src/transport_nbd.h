/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transport_nbd.h - an engine served as /dev/nbdN by the kernel nbd driver.
 *
 * Each connection is a socketpair: the driver gets one end, a thread of
 * ours serves the other (ulo_nbd_serve).  The driver spreads requests over
 * the connections, so N connections serve N requests in parallel.  If the
 * device is already connected when we start, and the caller has
 * established that its daemon died serving this same image read-only
 * (@may_take_over; the driver holds its requests for dead_conn_s seconds),
 * we hand it new sockets with RECONFIGURE instead: the filesystem on it
 * sees no error.  Any other connected device is refused as in use.  The
 * image is served rounded up to whole 512-byte sectors, zero-filled.
 *
 * Kernels without the netlink interface (before 4.12) get the old ioctl
 * one: one connection, NBD_DO_IT blocking in a thread of its own, no
 * takeover.  ULOOP_NBD_IOCTL=1 forces it (to test it on new kernels).
 */
#ifndef ULOOP_TRANSPORT_NBD_H
#define ULOOP_TRANSPORT_NBD_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "engine.h"
#include "wlayer.h"

#define ULO_NBD_MAX_CONNS 16

struct ulo_nbd_dev;

struct ulo_nbd_opts {
	const char *device;	/* "/dev/nbdN", or NULL: the driver picks */
	unsigned connections;	/* 1..ULO_NBD_MAX_CONNS */
	unsigned timeout_s;	/* per request, in the driver */
	unsigned dead_conn_s;	/* requests wait this long for a new daemon */
	const char *backend;	/* for /sys/block/nbdN/backend */
	struct ulo_wlayer *writes;	/* NULL: read-only; else writable, the
					 * writes kept there (the caller frees
					 * it after ulo_nbd_free()) */
	bool may_take_over;	/* the device's daemon is known dead and
				 * served this same image read-only */
};

int ulo_nbd_start(const struct ulo_nbd_opts *o, struct ulo_engine *eng,
		  struct ulo_cache *cache, uint64_t size,
		  struct ulo_nbd_dev **out);
/* "/dev/nbdN" */
const char *ulo_nbd_path(const struct ulo_nbd_dev *d);
/* True if an existing device was taken over (RECONFIGURE). */
bool ulo_nbd_took_over(const struct ulo_nbd_dev *d);
/* Block until every connection has ended (disconnect, or the driver
 * gave up on us). */
void ulo_nbd_wait(struct ulo_nbd_dev *d);
/* Disconnect (unless @keep: leave the device to a successor) and wait
 * for the serving threads; ulo_nbd_wait() returns from then on. */
int ulo_nbd_shutdown(struct ulo_nbd_dev *d, bool keep);
/* Free, after ulo_nbd_shutdown() and once nobody waits any more. */
void ulo_nbd_free(struct ulo_nbd_dev *d);

/* "/dev/nbdN" -> N, or -1 if @path is not an nbd device name. */
int ulo_nbd_index_of(const char *path);

#endif
