// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * transport_kmod.c - see transport_kmod.h.
 *
 * Threads: @threads servers poll the session fd (O_NONBLOCK) and a stop
 * pipe; each reads one miss, serves it, completes it, and polls again, so
 * up to @threads misses are fetched in parallel (the engine coalesces
 * neighbours and shares fetches already in flight).  Stop: one byte in
 * the pipe, never read, wakes every server for good.  The device removed
 * (POLLHUP/ENODEV on the session) ends the servers and wakes
 * ulo_kmod_wait().  The session fd stays open until ulo_kmod_free(): the
 * engine's workers may still announce stored blocks through it.
 */
#include "transport_kmod.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_internal.h"	/* uloop.ko reads the cache itself */
#include "util.h"

#define ULO_KMOD_MAX_THREADS 64

struct ulo_kmod_dev {
	int index;
	int sess;		/* session fd */
	int stop[2];		/* pipe: a byte in it stops the servers */
	char path[32];
	struct ulo_engine *eng;
	struct ulo_cache *cache;
	pthread_t thr[ULO_KMOD_MAX_THREADS];
	unsigned nthr;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool took_over;		/* ATTACHed to an existing device */
	bool gone;		/* the device was removed; lock */
	bool shut;		/* servers stopped; lock */
};

int ulo_kmod_index_of(const char *path)
{
	char *end;
	long n;

	if (strncmp(path, "/dev/uloop", 10) || path[10] < '0' || path[10] > '9')
		return -1;
	n = strtol(path + 10, &end, 10);
	return *end || n > 65535 ? -1 : (int)n;
}

static int ulo_kmod_ctl(unsigned long req, void *arg)
{
	int fd = open(ULO_KMOD_CONTROL, O_RDWR | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, req, arg) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

bool ulo_kmod_available(void)
{
	if (access(ULO_KMOD_CONTROL, F_OK) == 0)
		return true;
	/* The misc node appears with the module (devtmpfs). */
	return !ulo_modprobe("uloop") && access(ULO_KMOD_CONTROL, F_OK) == 0;
}

int ulo_kmod_devices(int *idx, int max)
{
	return ulo_block_devices("uloop", idx, max);
}

int ulo_kmod_remove(int index)
{
	struct uloop_dev_remove r = { .index = index };
	int ret;

	/* EBUSY also while a last close is still under way (an umount that
	 * just returned): give that a second before calling it "in use". */
	for (int i = 0; (ret = ulo_kmod_ctl(ULOOP_CTL_REMOVE, &r)) == -EBUSY && i < 20; i++)
		usleep(50000);
	return ret;
}

static void ulo_kmod_gone(struct ulo_kmod_dev *d)
{
	pthread_mutex_lock(&d->lock);
	d->gone = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->lock);
}

/* Every block of [off, off + len) is in the cache file. */
static bool ulo_kmod_stored(struct ulo_cache *c, uint64_t off, uint32_t len)
{
	for (uint64_t b = off >> c->block_shift; b <= (off + len - 1) >> c->block_shift; b++)
		if (!ulo_cache_present(c, b))
			return false;
	return true;
}

/* Serve one miss: 0, or -ENODEV once the device is gone. */
static int ulo_kmod_serve(struct ulo_kmod_dev *d, const struct uloop_miss *m)
{
	struct uloop_completion c = {
		.tag = m->tag, .offset = m->offset, .length = m->length,
	};
	struct uloop_complete cc = { .entries = (uintptr_t)&c, .count = 1 };
	void *buf = m->op == ULOOP_OP_READ ? malloc(m->length) : NULL;
	int ret = -EIO;

	if (buf)
		ret = ulo_engine_read(d->eng, buf, m->offset, m->length);
	if (ret) {
		/* The engine named the cause; the kernel only gets EIO. */
		ulo_warn("%s: read of %u bytes at %llu: %s", d->path, m->length,
			 (unsigned long long)m->offset,
			 buf ? ulo_errmsg() : "out of memory or not a read");
		c.result = -EIO;
	} else if ((m->flags & ULOOP_M_DATA) ||
		   !ulo_kmod_stored(d->cache, m->offset, m->length)) {
		/* Not in the file (full flash), or the driver's reads of the
		 * file failed their checksums twice: our bytes, nothing
		 * marked. */
		c.flags = ULOOP_C_DATA;
		c.data_addr = (uintptr_t)buf;
	}
	ret = ioctl(d->sess, ULOOP_SESS_COMPLETE, &cc) < 0 ? -errno : 0;
	free(buf);
	if (!ret && c.status)
		ulo_debug("kmod", "%s: completion of tag %llx rejected: %s", d->path,
			  (unsigned long long)m->tag, strerror(-c.status));
	return ret == -ENODEV ? ret : 0;
}

static void *ulo_kmod_thread(void *arg)
{
	struct ulo_kmod_dev *d = arg;
	struct pollfd p[2] = {
		{ .fd = d->sess, .events = POLLIN },
		{ .fd = d->stop[0], .events = POLLIN },
	};
	struct uloop_miss m;

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			ulo_kmod_gone(d);
			break;
		}
		if (read(d->sess, &m, sizeof(m)) != sizeof(m)) {
			if (errno == EAGAIN || errno == EINTR)
				continue;	/* another server took it */
			ulo_kmod_gone(d);
			break;
		}
		if (ulo_kmod_serve(d, &m)) {
			ulo_kmod_gone(d);
			break;
		}
	}
	return NULL;
}

/* The cache's store hook: readahead blocks are served by the kernel too. */
static void ulo_kmod_stored_hook(void *ctx, uint64_t blk, uint64_t n)
{
	struct ulo_kmod_dev *d = ctx;
	struct uloop_present p = { .first_block = blk, .count = n };

	if (ioctl(d->sess, ULOOP_SESS_SET_PRESENT, &p) < 0)
		ulo_debug("kmod", "%s: SET_PRESENT: %s", d->path, strerror(errno));
}

/*
 * The cache took blocks back (a flush failed: the flash may not hold
 * them).  The driver reads the cache itself, so it must forget them too,
 * or it would serve whatever the flash has there.
 */
static void ulo_kmod_withdrawn_hook(void *ctx, uint64_t blk, uint64_t n)
{
	struct ulo_kmod_dev *d = ctx;
	struct uloop_present p = { .first_block = blk, .count = n };

	if (ioctl(d->sess, ULOOP_SESS_CLEAR_PRESENT, &p) < 0)
		ulo_warn("%s: blocks %" PRIu64 "+%" PRIu64 " were not written to the cache, "
			 "and the driver could not be told (CLEAR_PRESENT: %s): "
			 "it may serve stale data for them", d->path, blk, n, strerror(errno));
}

/*
 * The driver's own open of the cache.  Not our fd: the driver keeps its
 * file as long as the device lives, and with it our fd's O_EXCL claim on
 * a block device and our flock on a file, so that a restarted daemon
 * could open the cache no more.  The same file, checked by identity.
 */
static int ulo_kmod_cache_fd(struct ulo_cache *c)
{
	int fd = open(c->path, O_RDWR | O_CLOEXEC);
	struct stat a, b;

	if (fd < 0)
		return ulo_errno(-errno, "cache %s: open", c->path);
	if (fstat(fd, &a) || fstat(c->fd, &b) || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino) {
		close(fd);
		return ulo_err(-ESTALE, "cache %s: replaced while open", c->path);
	}
	return fd;
}

/* ADD, or ATTACH to a device whose daemon died. */
static int ulo_kmod_open(struct ulo_kmod_dev *d, const struct ulo_kmod_opts *o)
{
	struct ulo_cache *c = d->cache;
	struct uloop_dev_status st = { .index = o->index };
	uint64_t len = ulo_bitmap_disk_bytes(c->nblocks);
	struct uloop_dev_info di = {
		.index = o->index,
		.data_offset = c->data_offset, .image_size = c->image_size,
		.csum_offset = c->csum_offset,
		.bitmap_len = len, .block_shift = c->block_shift,
		.hold_timeout_ms = o->hold_ms,
	};
	unsigned long req = ULOOP_CTL_ADD;
	uint8_t *bm;
	int ret;

	if (c->block_shift < ULOOP_BLOCK_SHIFT_MIN || c->block_shift > ULOOP_BLOCK_SHIFT_MAX)
		return ulo_err(-EINVAL, "cache %s: block size %u: uloop.ko takes 4K to 1M",
			       c->path, c->block_size);
	if (o->index >= 0) {
		ret = ulo_kmod_ctl(ULOOP_CTL_INFO, &st);
		if (!ret && ((st.state & ULOOP_STATE_SESSION) || !o->may_take_over))
			return ulo_err(-EBUSY, "/dev/uloop%d: in use (%s)", o->index,
				       st.state & ULOOP_STATE_SESSION ?
				       "a daemon is attached" : "not a device we may take over");
		if (!ret)
			req = ULOOP_CTL_ATTACH;
		else if (ret != -ENODEV)
			return ulo_errno(ret, "%s: device %d", ULO_KMOD_CONTROL, o->index);
	}
	bm = malloc(len);
	if (!bm)
		return ulo_errno(-ENOMEM, "kmod: bitmap of %llu bytes", (unsigned long long)len);
	ulo_bitmap_store(&c->present, bm, 0, len);
	di.bitmap_addr = (uintptr_t)bm;
	di.cache_fd = ulo_kmod_cache_fd(c);
	if (di.cache_fd < 0) {
		free(bm);
		return di.cache_fd;
	}
	ret = ulo_kmod_ctl(req, &di);
	close(di.cache_fd);
	free(bm);
	if (ret == -EINVAL && req == ULOOP_CTL_ATTACH)
		return ulo_err(ret, "/dev/uloop%d: the driver refused the takeover (another cache file or geometry)",
			       o->index);
	if (ret)
		return ulo_errno(ret, "%s: %s", ULO_KMOD_CONTROL,
				 req == ULOOP_CTL_ADD ? "ULOOP_CTL_ADD" : "ULOOP_CTL_ATTACH");
	d->index = di.index;
	d->sess = di.session_fd;
	d->took_over = req == ULOOP_CTL_ATTACH;
	return 0;
}

int ulo_kmod_start(const struct ulo_kmod_opts *o, struct ulo_engine *eng,
		   struct ulo_cache *cache, struct ulo_kmod_dev **out)
{
	unsigned n = ULO_MIN(ULO_MAX(o->threads, 1u), ULO_KMOD_MAX_THREADS);
	struct ulo_kmod_dev *d;
	int ret;

	if (!cache)
		return ulo_err(-EINVAL, "kmod: uloop.ko needs a cache (--cache)");
	d = calloc(1, sizeof(*d));
	if (!d)
		return ulo_errno(-ENOMEM, "kmod: device");
	d->eng = eng;
	d->cache = cache;
	d->sess = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cv, NULL);
	if (pipe2(d->stop, O_CLOEXEC) < 0) {
		ret = ulo_errno(-errno, "kmod: pipe");
		goto out_free;
	}
	ret = ulo_kmod_open(d, o);
	if (ret)
		goto out_pipe;
	snprintf(d->path, sizeof(d->path), "/dev/uloop%d", d->index);
	fcntl(d->sess, F_SETFL, O_NONBLOCK);
	ulo_cache_on_store(cache, ulo_kmod_stored_hook, d);
	ulo_cache_on_withdraw(cache, ulo_kmod_withdrawn_hook, d);
	for (d->nthr = 0; d->nthr < n; d->nthr++) {
		ret = pthread_create(&d->thr[d->nthr], NULL, ulo_kmod_thread, d);
		if (ret) {
			ulo_errno(-ret, "kmod: pthread_create");
			ulo_kmod_shutdown(d, d->took_over);
			ulo_kmod_free(d);
			return -ret;
		}
	}
	*out = d;
	return 0;

out_pipe:
	close(d->stop[0]);
	close(d->stop[1]);
out_free:
	free(d);
	return ret;
}

bool ulo_kmod_took_over(const struct ulo_kmod_dev *d)
{
	return d->took_over;
}

const char *ulo_kmod_path(const struct ulo_kmod_dev *d)
{
	return d->path;
}

void ulo_kmod_wait(struct ulo_kmod_dev *d)
{
	pthread_mutex_lock(&d->lock);
	while (!d->gone && !d->shut)
		pthread_cond_wait(&d->cv, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

int ulo_kmod_shutdown(struct ulo_kmod_dev *d, bool keep)
{
	int ret = 0;

	if (!d || d->shut)
		return 0;
	/* Remove first, while the servers still answer: it refuses an open
	 * device, which then keeps its misses for a successor. */
	if (!keep && !d->gone) {
		ret = ulo_kmod_remove(d->index);
		if (ret == -ENODEV)
			ret = 0;
		if (ret == -EBUSY)
			ulo_warn("%s: still in use: left to a restarted daemon (misses held)",
				 d->path);
		else if (ret)
			ulo_errno(ret, "%s: ULOOP_CTL_REMOVE", d->path);
	}
	if (write(d->stop[1], "", 1) < 0)
		ret = ret ? ret : -errno;
	for (unsigned i = 0; i < d->nthr; i++)
		pthread_join(d->thr[i], NULL);
	pthread_mutex_lock(&d->lock);
	d->shut = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void ulo_kmod_free(struct ulo_kmod_dev *d)
{
	if (!d)
		return;
	ulo_cache_on_store(d->cache, NULL, NULL);
	ulo_cache_on_withdraw(d->cache, NULL, NULL);
	close(d->sess);
	close(d->stop[0]);
	close(d->stop[1]);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
