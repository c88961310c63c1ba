/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transport_kmod.h - an engine served as /dev/uloopN by uloop.ko.
 *
 * The driver reads present blocks from the cache file itself; we only see
 * misses.  It needs a cache: with none there is no file for it to read
 * (callers pick nbd then).  See docs/kmod.md for the interface.
 *
 * Serving a miss (one per thread at a time, ulo_kmod_opts.threads of
 * them): ulo_engine_read() fetches the blocks and the cache pwrite()s them
 * before the engine marks the run done, so when it returns the data is in
 * the cache file, unless the cache refused it (full flash).  We then check
 * each block's present bit: all present -> COMPLETE with result 0 (the
 * driver serves them from the file from now on); any missing -> COMPLETE
 * with ULOOP_C_DATA and our buffer, and nothing is marked.  Never the
 * other way round: result 0 for a block not in the file would make the
 * driver serve whatever bytes the file holds there.
 *
 * Blocks the engine stores on its own (readahead) are announced with
 * SET_PRESENT from the cache's store hook, so their first read stays in
 * the kernel.
 *
 * Takeover: a device whose daemon died keeps serving hits and holds its
 * misses (hold_ms).  If the caller established from the run state that
 * the dead daemon served this image (@may_take_over), we ATTACH to it: the
 * driver checks the cache file and geometry, hands us the held misses
 * first, and the filesystem on it sees no error.
 */
#ifndef ULOOP_TRANSPORT_KMOD_H
#define ULOOP_TRANSPORT_KMOD_H

#include <stdbool.h>
#include <linux/uloop.h>	/* kmod/include/uapi: shared with the driver */

#include "cache.h"
#include "engine.h"

#define ULO_KMOD_CONTROL "/dev/uloop-control"

struct ulo_kmod_dev;

struct ulo_kmod_opts {
	int index;		/* N of /dev/uloopN, or -1: the driver picks */
	unsigned threads;	/* misses served in parallel, 1..64 */
	unsigned hold_ms;	/* misses wait this long for a new daemon;
				 * ULOOP_HOLD_FOREVER for a root disk */
	bool may_take_over;	/* the device's daemon is known dead and
				 * served this same image */
};

/* Is uloop.ko usable: the control node exists, or `modprobe uloop`
 * made it appear. */
bool ulo_kmod_available(void);

/* Create (or take over) the device and start serving its misses. */
int ulo_kmod_start(const struct ulo_kmod_opts *o, struct ulo_engine *eng,
		   struct ulo_cache *cache, struct ulo_kmod_dev **out);
/* "/dev/uloopN" */
const char *ulo_kmod_path(const struct ulo_kmod_dev *d);
/* True if an existing device was taken over (ATTACH, not ADD). */
bool ulo_kmod_took_over(const struct ulo_kmod_dev *d);
/* Block until the device is removed (uloop detach) or shut down. */
void ulo_kmod_wait(struct ulo_kmod_dev *d);
/*
 * Stop serving.  Unless @keep, remove the device first; if it is still
 * open (mounted) it stays, its misses held for a successor, and that is
 * reported (-EBUSY) but the threads stop all the same.
 */
int ulo_kmod_shutdown(struct ulo_kmod_dev *d, bool keep);
/* Free (closes the session) once the engine's workers are gone: its
 * store hook uses the session. */
void ulo_kmod_free(struct ulo_kmod_dev *d);

/* "/dev/uloopN" -> N, or -1 if @path is not a uloop device name. */
int ulo_kmod_index_of(const char *path);
/* ULOOP_CTL_REMOVE of device @index (uloop detach): 0 or -errno. */
int ulo_kmod_remove(int index);
/* The indexes of the uloop devices that exist (/sys/block/uloopN), in
 * ascending order, at most @max of them: their number. */
int ulo_kmod_devices(int *idx, int max);

#endif
