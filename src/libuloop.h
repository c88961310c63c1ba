/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libuloop.h - the 2007 ULOOP library API, kept for programs written to it.
 *
 *	struct ulo_init init = {
 *		.path = { [ULO_DEV] = "/run/img", [ULO_CACHE] = "/var/c",
 *			  [ULO_BITMAP] = "/var/b" },
 *		.dev_flags = O_RDONLY,
 *		.size = image_size,
 *	};
 *	if (ulo_init(&init))			// -1, errno set
 *		err(1, "ulo_init: %s", ulo_errmsg());
 *	ulo_loop(SIGTERM, store, arg);		// serves until SIGTERM
 *
 * store(start, size, arg) must put image bytes [start, start + size) into
 * ulo_cache_fd at offset start and return 0 (nonzero: that read fails with
 * EIO, the daemon goes on).  The cache and bitmap use the 2007 layout and
 * the library keeps the bitmap, in uloop's crash-safe write order.
 *
 * What changed since 2007, and why: the device is no longer a patched
 * /dev/loopN (the loop transfer hook it needed is gone from Linux).
 * path[ULO_DEV] names a regular file that libuloop turns into the image
 * with FUSE (attach it with "losetup -r" to get a block device).  This API
 * serves through FUSE only: /dev/nbdN and /dev/uloopN are `uloop attach`'s
 * (and ulohttp's, ulobdev's).
 * ulo_loop()'s @sig used to be the driver's wake-up signal; now requests
 * arrive on their own and @sig is the signal that stops the loop (it
 * returns 0 with the cache closed cleanly).  store() is called from one
 * thread at a time, as before.  See docs/libuloop.md.
 */
#ifndef ULOOP_LIBULOOP_H
#define ULOOP_LIBULOOP_H

#ifdef __cplusplus
extern "C" {
#endif

enum { ULO_DEV, ULO_CACHE, ULO_BITMAP, ULO_Last };

struct uloop {
	int fd[ULO_Last];	/* device (/dev/fuse), cache, bitmap */
	int pagesize;		/* block size of the 2007 layout: 4096 */
	unsigned long long tgt_size;	/* image size */
	unsigned long long cache_size;	/* cache file size (page multiple) */
};

extern const struct uloop *uloop;

#define ulo_dev_fd ({ uloop->fd[ULO_DEV]; })
#define ulo_cache_fd ({ uloop->fd[ULO_CACHE]; })
#define ulo_bitmap_fd ({ uloop->fd[ULO_BITMAP]; })

struct ulo_init {
	char *path[ULO_Last];	/* device file, cache file, bitmap file */
	int dev_flags;		/* O_RDONLY (read-only is all 2007 had) */
	unsigned long long size;	/* image size in bytes */
};

/* Open or create the cache and bitmap and expose the device.  0, or -1
 * with errno set and ulo_errmsg() naming the object and cause. */
int ulo_init(struct ulo_init *init);

typedef int (*ulo_cb_t)(unsigned long long start, int size, void *arg);

/* Serve the device until @sig arrives: 0, or -1 with errno set. */
int ulo_loop(int sig, ulo_cb_t store, void *arg);

/* The last error message of this thread (an addition to the 2007 API). */
const char *ulo_errmsg(void);

#ifdef __cplusplus
}
#endif

#endif
