// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * api2007.c - the 2007 ULOOP API on top of the engine.  Its header keeps
 * the 2007 name, libuloop.h (programs include <uloop/libuloop.h>); the
 * library it is part of, libuloop.a, is the whole of uloop's library.
 *
 * ulo_init() opens the 2007-layout cache through the cache layer, bound
 * to an identity of kind "libuloop" (the image is the program's and known
 * by its size only, as in 2007), and mounts the FUSE device.  ulo_loop()
 * runs an engine whose source is the program's store() callback: the
 * callback fills the cache file, the source reads the bytes back, and the
 * engine marks the bits in the common write order.  So a 2007 program gets
 * coalescing, in-flight deduplication and crash safety without changes.
 */
#include "libuloop.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "engine.h"
#include "transport_fuse.h"
#include "source.h"
#include "util.h"

#define ULO_2007_SERVER_THREADS 4

static struct uloop ulo_global = { .fd = { -1, -1, -1 } };
const struct uloop *uloop = &ulo_global;

static struct {
	struct ulo_cache *cache;
	struct ulo_fuse *fuse;
	struct ulo_source src;
	ulo_cb_t store;
	void *arg;
	pthread_mutex_t store_lock;	/* store() is not reentrant (2007) */
} ulo_lib = { .store_lock = PTHREAD_MUTEX_INITIALIZER };

static int ulo_fail(int err)
{
	errno = -err;
	return -1;
}

static int ulo_app_read(struct ulo_source *src, void *buf, uint64_t off,
			size_t len, unsigned *retries)
{
	int ret;

	(void)retries;
	pthread_mutex_lock(&ulo_lib.store_lock);
	ret = ulo_lib.store(off, (int)len, ulo_lib.arg);
	pthread_mutex_unlock(&ulo_lib.store_lock);
	if (ret)
		return ulo_err(-EIO, "libuloop: store(%" PRIu64 ", %zu) returned %d",
			       off, len, ret);
	/* The 2007 cache file is the image: store() wrote these bytes at
	 * their image offset. */
	ret = ulo_pread_full(ulo_cache_file_fd(ulo_lib.cache), buf, len, off);
	if (ret)
		return ulo_errno(ret, "cache %s: pread after store()",
				 ulo_cache_path(ulo_lib.cache));
	return 0;
}

static void ulo_app_close(struct ulo_source *src)
{
	(void)src;
}

static const struct ulo_source_ops ulo_app_ops = {
	.name = "libuloop",
	.read = ulo_app_read,
	.close = ulo_app_close,
};

int ulo_init(struct ulo_init *init)
{
	struct ulo_cache_opts co = { .create = true };
	enum ulo_bind_result res;
	struct ulo_identity *id = &ulo_lib.src.id;
	int ret;

	if (ulo_lib.cache)
		return ulo_fail(ulo_err(-EBUSY, "ulo_init: already initialised"));
	for (int i = 0; i < ULO_Last; i++)
		if (!init->path[i])
			return ulo_fail(ulo_err(-EINVAL, "ulo_init: path[%d] is NULL", i));
	if (!init->size)
		return ulo_fail(ulo_err(-EINVAL, "ulo_init: size is 0"));
	if ((init->dev_flags & O_ACCMODE) != O_RDONLY)
		return ulo_fail(ulo_err(-EROFS, "%s: only read-only devices are supported",
					init->path[ULO_DEV]));
	co.path = init->path[ULO_CACHE];
	co.bitmap_path = init->path[ULO_BITMAP];
	memset(id, 0, sizeof(*id));
	id->kind = ULO_ID_APP;
	id->size = init->size;
	snprintf(id->location, sizeof(id->location), "libuloop");
	ulo_lib.src.ops = &ulo_app_ops;

	ret = ulo_cache_open(&co, &ulo_lib.cache);
	if (ret)
		return ulo_fail(ret);
	ret = ulo_cache_bind(ulo_lib.cache, id, false, &res, NULL);
	if (ret)
		goto out_cache;
	ret = ulo_fuse_mount(init->path[ULO_DEV], init->size, false, &ulo_lib.fuse);
	if (ret)
		goto out_cache;
	ulo_global.fd[ULO_DEV] = ulo_fuse_fd(ulo_lib.fuse);
	ulo_global.fd[ULO_CACHE] = ulo_cache_file_fd(ulo_lib.cache);
	ulo_global.fd[ULO_BITMAP] = ulo_cache_bitmap_fd(ulo_lib.cache);
	ulo_global.pagesize = ULO_2007_PAGE;
	ulo_global.tgt_size = init->size;
	ulo_global.cache_size = ULO_ROUND_UP(init->size, ULO_2007_PAGE);
	return 0;

out_cache:
	ulo_cache_close(ulo_lib.cache);
	ulo_lib.cache = NULL;
	return ulo_fail(ret);
}

static int ulo_loop_sig;

/* The device file was unmounted from outside: end ulo_loop() cleanly. */
static void ulo_loop_gone(void *ctx)
{
	(void)ctx;
	kill(getpid(), ulo_loop_sig);
}

static int ulo_loop_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	return ulo_engine_read(ctx, buf, off, len);
}

int ulo_loop(int sig, ulo_cb_t store, void *arg)
{
	struct ulo_engine_opts eo = {
		.connections = 1, .readahead = ULO_DEFAULT_READAHEAD,
	};
	struct ulo_engine *eng = NULL;
	sigset_t set, old;
	int ret, got;

	if (!ulo_lib.cache)
		return ulo_fail(ulo_err(-EINVAL, "ulo_loop: call ulo_init first"));
	if (!store)
		return ulo_fail(ulo_err(-EINVAL, "ulo_loop: store is NULL"));
	ulo_lib.store = store;
	ulo_lib.arg = arg;
	/* Block @sig before any thread starts, so only sigwait() sees it. */
	sigemptyset(&set);
	sigaddset(&set, sig);
	ret = -pthread_sigmask(SIG_BLOCK, &set, &old);
	if (ret)
		return ulo_fail(ulo_errno(ret, "ulo_loop: signal %d", sig));
	ret = ulo_cache_start_committer(ulo_lib.cache, 0);
	if (!ret)
		ret = ulo_engine_new(&ulo_lib.src, ulo_lib.cache, &eo, &eng);
	ulo_loop_sig = sig;
	ulo_fuse_on_gone(ulo_lib.fuse, ulo_loop_gone, NULL);
	if (!ret)
		ret = ulo_fuse_run(ulo_lib.fuse, ULO_2007_SERVER_THREADS,
				   ulo_loop_read, eng);
	if (!ret) {
		while (sigwait(&set, &got) == 0 && got != sig)
			;
	}
	ulo_fuse_stop(ulo_lib.fuse);
	ulo_lib.fuse = NULL;
	ulo_engine_free(eng);
	if (ulo_cache_close(ulo_lib.cache) && !ret)
		ret = -EIO;
	ulo_lib.cache = NULL;
	for (int i = 0; i < ULO_Last; i++)
		ulo_global.fd[i] = -1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret ? ulo_fail(ret) : 0;
}
