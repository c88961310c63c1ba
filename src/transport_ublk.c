// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * transport_ublk.c - see transport_ublk.h.
 *
 * A tag (request slot) is, at any time, in one of three places: with the
 * driver (FETCHING: its command waits for a request), with us (SERVING:
 * inline, queued for a worker, or being served), or gone (DEAD: the
 * driver aborted its command, the device is stopping).  The queue thread
 * ends once every tag is dead (the device was stopped: by our shutdown,
 * or from outside by uloop detach), or, for a device left to a successor,
 * once no worker holds a request any more.
 *
 * Stop: STOP_DEV (on the control ring, from the caller's thread) makes
 * the driver finish the requests we hold (we still answer them), delete
 * the disk and abort every fetch; then the threads end, our descriptors
 * are closed, and DEL_DEV removes the device (the asynchronous kind where
 * the kernel has it: the synchronous one waits for every opener of the
 * disk to close it).  A device left to a successor gets no STOP_DEV: our
 * ring's end cancels the fetches, and the driver quiesces the device.
 */
#include "transport_ublk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ublk_uapi.h"
#include "uring.h"
#include "util.h"

/* Requests in flight, and the largest one (the driver splits bigger
 * ones): 32 x 1 MiB of buffers at most, touched only as deep as the
 * kernel's parallelism and its requests' sizes go (the root daemon locks
 * what it touches).  1 MiB, not 256 KiB: a warm sequential read ran at
 * 0.84x nbd's with 256 KiB requests, answered one after the other, and
 * at 1.08x with 1 MiB (bench/kmod.sh on 6.12). */
#define UBLK_DEPTH 32
#define UBLK_MAX_IO (1024u << 10)
#define UBLK_MAX_WORKERS 64
/* How long a successor waits for the driver to let go of a dead
 * daemon's device (its ring torn down, the device quiesced). */
#define UBLK_RECOVERY_WAIT_MS 30000
/* The eventfd's read on the queue ring; tags are 0..depth-1. */
#define UBLK_EFD_DATA UINT64_MAX

enum { TAG_FETCHING, TAG_SERVING, TAG_DEAD };

struct ublk_tag {
	uint16_t tag;
	uint8_t state;		/* queue thread only */
	uint8_t op;
	uint32_t flags;
	uint64_t off;
	uint32_t len;
	int result;		/* bytes, or -errno */
	uint8_t *buf;
	struct ublk_tag *next;	/* the workers' queue, or the done list */
};

struct ulo_ublk_dev {
	int index;
	char path[32];
	bool took_over;
	int ctl_fd;		/* /dev/ublk-control */
	struct ulo_uring ctl;	/* its ring (SQE128); the caller's thread */
	bool encoded;		/* ioctl-encoded command numbers */
	bool added;		/* ADD_DEV (or a takeover) done: DEL_DEV at the end */
	bool stopped;		/* STOP_DEV done, or the device stopped from outside */
	int cdev;		/* /dev/ublkcN */
	void *descs;		/* the driver's descriptors, read-only */
	size_t descs_len;
	uint8_t *bufs;
	size_t bufs_len;
	uint32_t buf_size;
	unsigned depth;
	struct ublk_tag *tags;
	struct ulo_engine *eng;
	struct ulo_cache *cache;
	struct ulo_wlayer *writes;
	uint64_t image_size;	/* the device is this rounded up to 512 */
	int efd;
	uint64_t efd_val;	/* the eventfd read's buffer */
	pthread_t qthr;
	bool qstarted;
	pthread_t wthr[UBLK_MAX_WORKERS];
	unsigned nworkers;
	pthread_mutex_t lock;
	pthread_cond_t cv;	/* jobs for the workers; lock */
	pthread_cond_t state_cv;	/* ready, gone, shut; lock */
	struct ublk_tag *jobs, *jobs_tail;	/* lock */
	struct ublk_tag *done;	/* lock */
	bool workers_stop;	/* lock */
	bool leaving;		/* keep the device: stop taking requests; lock */
	bool ready;		/* the queue thread fetched (or failed); lock */
	int ready_err;
	bool gone;		/* the queue thread ended; lock */
	bool shut;		/* ulo_ublk_shutdown() done; lock */
};

int ulo_ublk_index_of(const char *path)
{
	char *end;
	long n;

	if (strncmp(path, "/dev/ublkb", 10) || path[10] < '0' || path[10] > '9')
		return -1;
	n = strtol(path + 10, &end, 10);
	return *end || n > 65535 ? -1 : (int)n;
}

bool ulo_ublk_available(void)
{
	if (access(ULO_UBLK_CONTROL, F_OK) == 0)
		return true;
	return !ulo_modprobe("ublk_drv") && access(ULO_UBLK_CONTROL, F_OK) == 0;
}

int ulo_ublk_devices(int *idx, int max)
{
	return ulo_block_devices("ublkb", idx, max);
}

/* ---- control commands ---- */

struct ublk_ctl {
	int fd;
	struct ulo_uring ring;
	bool encoded;
};

static const char *ublk_cmd_name(unsigned nr)
{
	switch (nr) {
	case UBLK_CMD_GET_DEV_INFO: return "GET_DEV_INFO";
	case UBLK_CMD_ADD_DEV: return "ADD_DEV";
	case UBLK_CMD_DEL_DEV: return "DEL_DEV";
	case UBLK_CMD_START_DEV: return "START_DEV";
	case UBLK_CMD_STOP_DEV: return "STOP_DEV";
	case UBLK_CMD_SET_PARAMS: return "SET_PARAMS";
	case UBLK_CMD_GET_PARAMS: return "GET_PARAMS";
	case UBLK_CMD_START_USER_RECOVERY: return "START_USER_RECOVERY";
	case UBLK_CMD_END_USER_RECOVERY: return "END_USER_RECOVERY";
	case ULO_UBLK_CMD_GET_FEATURES: return "GET_FEATURES";
	case ULO_UBLK_CMD_DEL_DEV_ASYNC: return "DEL_DEV_ASYNC";
	default: return "?";
	}
}

/* One control command, waited for: its result (0 or -errno). */
static int ublk_ctrl(int fd, struct ulo_uring *ring, bool encoded, unsigned nr,
		     uint32_t dev_id, uint64_t data, void *buf, uint16_t len)
{
	struct io_uring_sqe *sqe = ulo_uring_sqe(ring);
	struct ublksrv_ctrl_cmd *c;
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;	/* one command at a time: never */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	if (!encoded)
		sqe->cmd_op = nr;
	else if (nr == UBLK_CMD_GET_DEV_INFO || nr == UBLK_CMD_GET_PARAMS ||
		 nr == ULO_UBLK_CMD_GET_FEATURES || nr == ULO_UBLK_CMD_DEL_DEV_ASYNC)
		sqe->cmd_op = ULO_UBLK_IOR(nr);
	else
		sqe->cmd_op = ULO_UBLK_IOWR(nr);
	c = ulo_uring_cmd(sqe);
	c->dev_id = dev_id;
	c->queue_id = (uint16_t)-1;
	c->len = len;
	c->addr = (uintptr_t)buf;
	c->data[0] = data;
	ret = ulo_uring_submit(ring, 1);
	if (ret)
		return ret;
	cqe = ulo_uring_peek(ring);
	if (!cqe)
		return -EIO;
	ret = cqe->res;
	ulo_uring_seen(ring);
	ulo_debug("ublk", "%s of device %d: %d", ublk_cmd_name(nr), (int)dev_id, ret);
	return ret;
}

static int ublk_cmd(struct ulo_ublk_dev *d, unsigned nr, uint64_t data, void *buf,
		    uint16_t len)
{
	return ublk_ctrl(d->ctl_fd, &d->ctl, d->encoded, nr, (uint32_t)d->index, data, buf,
			 len);
}

/*
 * Open the control node and its ring, and learn how to speak to this
 * driver: GET_FEATURES (encoded) answers on kernels that take encoded
 * commands; older ones (before 6.5) answer it with an error and take
 * the legacy numbers.
 */
static int ublk_ctl_open(int *fd, struct ulo_uring *ring, bool *encoded)
{
	uint64_t features = 0;
	int ret;

	*fd = open(ULO_UBLK_CONTROL, O_RDWR | O_CLOEXEC);
	if (*fd < 0)
		return ulo_errno(-errno, "%s: open (ublk: is ublk_drv loaded?)",
				 ULO_UBLK_CONTROL);
	ret = ulo_uring_init(ring, 4, IORING_SETUP_SQE128);
	if (ret) {
		close(*fd);
		*fd = -1;
		return ulo_err(ret, "ublk: %s", ulo_errmsg());
	}
	ret = ublk_ctrl(*fd, ring, true, ULO_UBLK_CMD_GET_FEATURES, 0, 0, &features,
			UBLK_FEATURES_LEN);
	*encoded = !ret && (features & UBLK_F_CMD_IOCTL_ENCODE);
	ulo_debug("ublk", "features %#llx (%s commands)", (unsigned long long)features,
		  *encoded ? "encoded" : "legacy");
	return 0;
}

/* ---- serving ---- */

/* All of [off, off + len) in the cache: answered on the queue thread. */
static bool ublk_cached(struct ulo_ublk_dev *d, uint64_t off, uint64_t len)
{
	uint32_t bs;

	if (!d->cache || !len)
		return false;
	bs = ulo_cache_block_size(d->cache);
	for (uint64_t b = off / bs; b <= (off + len - 1) / bs; b++)
		if (!ulo_cache_present(d->cache, b))
			return false;
	return true;
}

/* FLUSH: what was written becomes durable (a COW), and what was fetched
 * (the cache). */
static int ublk_flush(struct ulo_ublk_dev *d)
{
	int ret = d->writes ? ulo_wlayer_flush(d->writes) : 0;

	if (!ret && d->cache)
		ret = ulo_cache_commit(d->cache);
	return ret;
}

/* Serve one request into t->result: its bytes, 0, or -errno. */
static void ublk_serve(struct ulo_ublk_dev *d, struct ublk_tag *t)
{
	uint64_t in = t->off < d->image_size ? ULO_MIN(t->len, d->image_size - t->off) : 0;
	const char *what = "read";
	int ret = 0;

	switch (t->op) {
	case UBLK_IO_OP_READ:
		/* The device is the image rounded up to a sector: zeros. */
		if (in < t->len)
			memset(t->buf + in, 0, t->len - in);
		if (in)
			ret = d->writes ? ulo_wlayer_read(d->writes, t->buf, t->off, in) :
					  ulo_engine_read(d->eng, t->buf, t->off, in);
		break;
	case UBLK_IO_OP_WRITE:
		what = "write";
		if (!d->writes)
			ret = ulo_err(-EROFS, "read-only device");
		else if (in < t->len)
			ret = ulo_err(-ENOSPC, "write past the image's end");
		else
			ret = ulo_wlayer_write(d->writes, t->buf, t->off, t->len);
		/* FUA: this write durable before it is acknowledged. */
		if (!ret && (t->flags & UBLK_IO_F_FUA))
			ret = ulo_wlayer_flush(d->writes);
		break;
	case UBLK_IO_OP_FLUSH:
		what = "flush";
		ret = ublk_flush(d);
		break;
	case UBLK_IO_OP_DISCARD:
		what = "discard";
		ret = d->writes && ulo_wlayer_trims(d->writes) ?
		      (in ? ulo_wlayer_trim(d->writes, t->off, in) : 0) :
		      ulo_err(-EOPNOTSUPP, "discard not offered");
		break;
	default:
		what = "request";
		ret = ulo_err(-EOPNOTSUPP, "operation %u not offered", t->op);
		break;
	}
	if (ret) {
		/* The engine named the cause; the kernel only gets the errno. */
		ulo_warn("%s: %s of %u bytes at %llu: %s", d->path, what, t->len,
			 (unsigned long long)t->off, ulo_errmsg());
		t->result = ret == -EROFS || ret == -ENOSPC || ret == -EOPNOTSUPP ? ret : -EIO;
	} else {
		t->result = t->op == UBLK_IO_OP_READ || t->op == UBLK_IO_OP_WRITE ?
			    (int)t->len : 0;
	}
}

static void *ublk_worker(void *arg)
{
	struct ulo_ublk_dev *d = arg;
	const uint64_t one = 1;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct ublk_tag *t;

		while (!d->jobs && !d->workers_stop)
			pthread_cond_wait(&d->cv, &d->lock);
		if (!d->jobs)
			break;
		t = d->jobs;
		d->jobs = t->next;
		pthread_mutex_unlock(&d->lock);
		ublk_serve(d, t);
		pthread_mutex_lock(&d->lock);
		t->next = d->done;
		d->done = t;
		/* Wake the queue thread (its ring reads the eventfd). */
		if (write(d->efd, &one, sizeof(one)) < 0)
			ulo_debug("ublk", "eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Queue @t's next command: FETCH_REQ, or COMMIT_AND_FETCH_REQ with its
 * result. */
static int ublk_queue_cmd(struct ulo_ublk_dev *d, struct ulo_uring *r, struct ublk_tag *t,
			  bool commit)
{
	struct io_uring_sqe *sqe = ulo_uring_sqe(r);
	struct ublksrv_io_cmd *c;
	unsigned nr = commit ? UBLK_IO_COMMIT_AND_FETCH_REQ : UBLK_IO_FETCH_REQ;

	if (!sqe)
		return -EBUSY;	/* depth + 1 entries: never */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = d->cdev;
	sqe->cmd_op = d->encoded ? ULO_UBLK_IO(nr) : nr;
	sqe->user_data = t->tag;
	c = ulo_uring_cmd(sqe);
	c->q_id = 0;
	c->tag = t->tag;
	c->result = commit ? t->result : -1;
	c->addr = (uintptr_t)t->buf;
	t->state = TAG_FETCHING;
	return 0;
}

static int ublk_arm_efd(struct ulo_ublk_dev *d, struct ulo_uring *r)
{
	struct io_uring_sqe *sqe = ulo_uring_sqe(r);

	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_READ;
	sqe->fd = d->efd;
	sqe->addr = (uintptr_t)&d->efd_val;
	sqe->len = sizeof(d->efd_val);
	sqe->off = (uint64_t)-1;	/* no file position: an eventfd */
	sqe->user_data = UBLK_EFD_DATA;
	return 0;
}

static void ublk_set_ready(struct ulo_ublk_dev *d, int err)
{
	pthread_mutex_lock(&d->lock);
	d->ready = true;
	d->ready_err = err;
	pthread_cond_broadcast(&d->state_cv);
	pthread_mutex_unlock(&d->lock);
}

/* A request arrived on @t: answer it here if its blocks are cached,
 * else give it to a worker.  Not while leaving: it stays with us, and
 * the driver gives it to the successor. */
static void ublk_take(struct ulo_ublk_dev *d, struct ulo_uring *r, struct ublk_tag *t,
		      unsigned *busy)
{
	const struct ublksrv_io_desc *iod = (const struct ublksrv_io_desc *)d->descs + t->tag;
	bool leaving;

	t->state = TAG_SERVING;
	t->op = ublksrv_get_op(iod);
	t->flags = ublksrv_get_flags(iod);
	t->off = iod->start_sector << 9;
	t->len = iod->nr_sectors << 9;
	pthread_mutex_lock(&d->lock);
	leaving = d->leaving;
	pthread_mutex_unlock(&d->lock);
	if (leaving)
		return;
	if (!d->writes && t->op == UBLK_IO_OP_READ && t->off + t->len <= d->image_size &&
	    ublk_cached(d, t->off, t->len)) {
		ublk_serve(d, t);
		ublk_queue_cmd(d, r, t, true);
		return;
	}
	(*busy)++;
	pthread_mutex_lock(&d->lock);
	t->next = NULL;
	if (d->jobs)
		d->jobs_tail->next = t;
	else
		d->jobs = t;
	d->jobs_tail = t;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->lock);
}

static void *ublk_queue_thread(void *arg)
{
	struct ulo_ublk_dev *d = arg;
	struct ulo_uring r;
	unsigned live = d->depth, busy = 0, entries = 1;
	bool efd_armed = true;
	int ret;

	while (entries < d->depth + 1)
		entries <<= 1;
	ret = ulo_uring_init(&r, entries, 0);
	if (ret) {
		ublk_set_ready(d, ulo_err(ret, "ublk: %s", ulo_errmsg()));
		goto out;
	}
	for (unsigned i = 0; i < d->depth; i++)
		ublk_queue_cmd(d, &r, &d->tags[i], false);
	ublk_arm_efd(d, &r);
	/* The driver takes FETCH_REQ as it is submitted: an error is
	 * already among the completions when this returns. */
	ret = ulo_uring_submit(&r, 0);
	if (!ret) {
		struct io_uring_cqe *cqe = ulo_uring_peek(&r);

		if (cqe && cqe->user_data != UBLK_EFD_DATA && cqe->res < 0)
			ret = cqe->res;
	}
	if (ret) {
		ublk_set_ready(d, ulo_errno(ret, "/dev/ublkc%d: FETCH_REQ", d->index));
		goto out_ring;
	}
	ublk_set_ready(d, 0);
	while (live) {
		struct io_uring_cqe *cqe;
		bool leaving, woken = false;

		ret = ulo_uring_submit(&r, 1);
		if (ret) {
			ulo_warn("%s: io_uring_enter: %s", d->path, strerror(-ret));
			break;
		}
		while ((cqe = ulo_uring_peek(&r))) {
			uint64_t data = cqe->user_data;
			int res = cqe->res;

			ulo_uring_seen(&r);
			if (data == UBLK_EFD_DATA) {
				efd_armed = false;
				woken = true;
				continue;
			}
			if (data >= d->depth)
				continue;
			if (res == UBLK_IO_RES_OK) {
				ublk_take(d, &r, &d->tags[data], &busy);
				continue;
			}
			/* Aborted (the device stops), or refused. */
			if (res != UBLK_IO_RES_ABORT)
				ulo_debug("ublk", "%s: tag %u: %s", d->path, (unsigned)data,
					  strerror(-res));
			if (d->tags[data].state != TAG_DEAD) {
				d->tags[data].state = TAG_DEAD;
				live--;
			}
		}
		if (woken) {
			struct ublk_tag *t;

			pthread_mutex_lock(&d->lock);
			t = d->done;
			d->done = NULL;
			leaving = d->leaving;
			pthread_mutex_unlock(&d->lock);
			for (; t; t = t->next) {
				busy--;
				ublk_queue_cmd(d, &r, t, true);
			}
		} else {
			pthread_mutex_lock(&d->lock);
			leaving = d->leaving;
			pthread_mutex_unlock(&d->lock);
		}
		/* Leaving: what the workers hold is answered, the rest of
		 * the requests stay for the successor. */
		if (leaving && !busy)
			break;
		if (!efd_armed && !ublk_arm_efd(d, &r))
			efd_armed = true;
	}
	/* Answers queued but not submitted yet go before the ring ends. */
	ulo_uring_submit(&r, 0);
out_ring:
	ulo_uring_exit(&r);
out:
	pthread_mutex_lock(&d->lock);
	d->gone = true;
	pthread_cond_broadcast(&d->state_cv);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* ---- the device ---- */

static int ublk_set_params(struct ulo_ublk_dev *d)
{
	struct ublk_params p;

	memset(&p, 0, sizeof(p));
	p.len = sizeof(p);
	p.types = UBLK_PARAM_TYPE_BASIC;
	/* A volatile cache with FUA: flushes and FUA writes reach us (the
	 * COW's and the cache's durability). */
	p.basic.attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA |
			(d->writes ? 0 : UBLK_ATTR_READ_ONLY);
	/* 512-byte sectors, as nbd and loop: any filesystem mounts. */
	p.basic.logical_bs_shift = 9;
	p.basic.physical_bs_shift = 12;
	p.basic.io_min_shift = 9;
	p.basic.io_opt_shift = 12;
	p.basic.max_sectors = d->buf_size >> 9;
	p.basic.dev_sectors = ULO_DIV_ROUND_UP(d->image_size, 512);
	if (d->writes && ulo_wlayer_trims(d->writes)) {
		p.types |= UBLK_PARAM_TYPE_DISCARD;
		p.discard.discard_granularity = 4096;
		p.discard.max_discard_sectors = UINT32_MAX >> 9;
		p.discard.max_discard_segments = 1;
	}
	return ublk_cmd(d, UBLK_CMD_SET_PARAMS, 0, &p, sizeof(p));
}

/* ADD_DEV: a new device, its number chosen by the driver or o->index. */
static int ublk_add(struct ulo_ublk_dev *d)
{
	struct ublksrv_ctrl_dev_info info;
	int ret;

	memset(&info, 0, sizeof(info));
	info.nr_hw_queues = 1;
	info.queue_depth = UBLK_DEPTH;
	info.max_io_buf_bytes = UBLK_MAX_IO;
	info.dev_id = (uint32_t)d->index;
	info.ublksrv_pid = getpid();
	info.flags = UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE |
		     (d->encoded ? UBLK_F_CMD_IOCTL_ENCODE : 0);
	ret = ublk_cmd(d, UBLK_CMD_ADD_DEV, 0, &info, sizeof(info));
	if (ret == -EEXIST)
		return ulo_err(ret, "/dev/ublkb%d: in use (another ublk device has that number)",
			       d->index);
	if (ret)
		return ulo_errno(ret, "%s: ADD_DEV", ULO_UBLK_CONTROL);
	d->added = true;
	d->index = (int)info.dev_id;
	d->depth = info.queue_depth;
	d->buf_size = info.max_io_buf_bytes;
	if (!(info.flags & UBLK_F_USER_RECOVERY))
		ulo_debug("ublk", "/dev/ublkb%d: no user recovery: no takeover", d->index);
	ret = ublk_set_params(d);
	return ret ? ulo_errno(ret, "/dev/ublkb%d: SET_PARAMS", d->index) : 0;
}

/*
 * A device whose daemon died: is it one we may serve (made with
 * recovery, one queue, our size and mode), then START_USER_RECOVERY,
 * which the driver refuses (EBUSY) until the dead daemon's ring and
 * descriptors are gone and the device is quiesced.
 */
static int ublk_recover(struct ulo_ublk_dev *d, const struct ublksrv_ctrl_dev_info *info)
{
	struct ublk_params p;
	int ret;

	if (!(info->flags & UBLK_F_USER_RECOVERY) || info->nr_hw_queues != 1 ||
	    !info->queue_depth || info->queue_depth > 4096 || !info->max_io_buf_bytes)
		return ulo_err(-EBUSY, "/dev/ublkb%d: not a device uloop can take over (made without user recovery, or not by uloop)",
			       d->index);
	memset(&p, 0, sizeof(p));
	p.len = sizeof(p);
	p.types = UBLK_PARAM_TYPE_BASIC;
	ret = ublk_cmd(d, UBLK_CMD_GET_PARAMS, 0, &p, sizeof(p));
	if (ret)
		return ulo_errno(ret, "/dev/ublkb%d: GET_PARAMS", d->index);
	if (p.basic.dev_sectors != ULO_DIV_ROUND_UP(d->image_size, 512) ||
	    !(p.basic.attrs & UBLK_ATTR_READ_ONLY) != !!d->writes)
		return ulo_err(-EINVAL, "/dev/ublkb%d: it serves another size or mode (%llu sectors, %s)",
			       d->index, (unsigned long long)p.basic.dev_sectors,
			       p.basic.attrs & UBLK_ATTR_READ_ONLY ? "read-only" : "read-write");
	for (int ms = 0;; ms += 100) {
		ret = ublk_cmd(d, UBLK_CMD_START_USER_RECOVERY, 0, NULL, 0);
		if (ret != -EBUSY || ms >= UBLK_RECOVERY_WAIT_MS)
			break;
		usleep(100000);
	}
	if (ret)
		return ulo_errno(ret, "/dev/ublkb%d: START_USER_RECOVERY%s", d->index,
				 ret == -EBUSY ? " (the dead daemon's device was not released)" : "");
	d->added = true;
	d->took_over = true;
	d->depth = info->queue_depth;
	d->buf_size = info->max_io_buf_bytes;
	return 0;
}

/* /dev/ublkcN: devtmpfs makes it as the device is added. */
static int ublk_open_cdev(struct ulo_ublk_dev *d)
{
	char p[32];

	snprintf(p, sizeof(p), "/dev/ublkc%d", d->index);
	for (int ms = 0;; ms += 10) {
		d->cdev = open(p, O_RDWR | O_CLOEXEC);
		if (d->cdev >= 0)
			return 0;
		if (errno != ENOENT || ms >= 2000)
			break;
		usleep(10000);
	}
	return ulo_errno(-errno, "%s: open%s", p,
			 errno == ENOENT ? " (is devtmpfs mounted on /dev?)" : "");
}

static int ublk_map(struct ulo_ublk_dev *d)
{
	long page = sysconf(_SC_PAGESIZE);

	d->descs_len = ULO_ROUND_UP(d->depth * sizeof(struct ublksrv_io_desc), (size_t)page);
	d->descs = mmap(NULL, d->descs_len, PROT_READ, MAP_SHARED | MAP_POPULATE, d->cdev,
			UBLKSRV_CMD_BUF_OFFSET);
	if (d->descs == MAP_FAILED) {
		d->descs = NULL;
		return ulo_errno(-errno, "/dev/ublkc%d: mmap of the descriptors", d->index);
	}
	d->bufs_len = (size_t)d->depth * d->buf_size;
	d->bufs = mmap(NULL, d->bufs_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (d->bufs == MAP_FAILED) {
		d->bufs = NULL;
		return ulo_errno(-errno, "ublk: %zu bytes of buffers", d->bufs_len);
	}
	d->tags = calloc(d->depth, sizeof(*d->tags));
	if (!d->tags)
		return ulo_errno(-ENOMEM, "ublk: tags");
	for (unsigned i = 0; i < d->depth; i++) {
		d->tags[i].tag = (uint16_t)i;
		d->tags[i].buf = d->bufs + (size_t)i * d->buf_size;
	}
	return 0;
}

/* The workers and the queue thread; returns once the queue fetched. */
static int ublk_run(struct ulo_ublk_dev *d, unsigned workers)
{
	int ret;

	for (d->nworkers = 0; d->nworkers < workers; d->nworkers++) {
		ret = pthread_create(&d->wthr[d->nworkers], NULL, ublk_worker, d);
		if (ret)
			return ulo_errno(-ret, "ublk: starting a worker");
	}
	ret = pthread_create(&d->qthr, NULL, ublk_queue_thread, d);
	if (ret)
		return ulo_errno(-ret, "ublk: starting the queue thread");
	d->qstarted = true;
	pthread_mutex_lock(&d->lock);
	while (!d->ready)
		pthread_cond_wait(&d->state_cv, &d->lock);
	ret = d->ready_err;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* End the threads: the queue thread once the device stopped (or, when
 * leaving, once the workers' requests are answered), then the workers. */
static void ublk_join(struct ulo_ublk_dev *d, bool leave)
{
	const uint64_t one = 1;

	if (d->qstarted) {
		if (leave) {
			pthread_mutex_lock(&d->lock);
			d->leaving = true;
			pthread_mutex_unlock(&d->lock);
			if (write(d->efd, &one, sizeof(one)) < 0)
				ulo_debug("ublk", "eventfd: %s", strerror(errno));
		}
		pthread_join(d->qthr, NULL);
		d->qstarted = false;
	}
	pthread_mutex_lock(&d->lock);
	d->workers_stop = true;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < d->nworkers; i++)
		pthread_join(d->wthr[i], NULL);
	d->nworkers = 0;
}

/* Our descriptors of the device closed: the driver lets go of it. */
static void ublk_release(struct ulo_ublk_dev *d)
{
	if (d->descs)
		munmap(d->descs, d->descs_len);
	d->descs = NULL;
	if (d->bufs)
		munmap(d->bufs, d->bufs_len);
	d->bufs = NULL;
	if (d->cdev >= 0)
		close(d->cdev);
	d->cdev = -1;
}

/* STOP_DEV (the fetches end), the threads, our descriptors, DEL_DEV. */
static int ublk_teardown(struct ulo_ublk_dev *d)
{
	int ret = 0;

	if (d->added && !d->stopped) {
		ret = ublk_cmd(d, UBLK_CMD_STOP_DEV, 0, NULL, 0);
		if (ret)
			ulo_errno(ret, "%s: STOP_DEV", d->path);
		d->stopped = true;
	}
	ublk_join(d, false);
	ublk_release(d);
	if (d->added) {
		int r = d->encoded ? ublk_cmd(d, ULO_UBLK_CMD_DEL_DEV_ASYNC, 0, NULL, 0) : -EOPNOTSUPP;

		if (r == -EOPNOTSUPP || r == -EINVAL)
			r = ublk_cmd(d, UBLK_CMD_DEL_DEV, 0, NULL, 0);
		if (r && r != -ENODEV && !ret)
			ret = ulo_errno(r, "%s: DEL_DEV", d->path);
		d->added = false;
	}
	return ret;
}

int ulo_ublk_start(const struct ulo_ublk_opts *o, struct ulo_engine *eng,
		   struct ulo_cache *cache, uint64_t size, struct ulo_ublk_dev **out)
{
	unsigned workers = ULO_MIN(ULO_MAX(o->workers, 1u), UBLK_MAX_WORKERS);
	struct ublksrv_ctrl_dev_info info;
	struct ulo_ublk_dev *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return ulo_errno(-ENOMEM, "ublk: device");
	d->index = o->index;
	d->eng = eng;
	d->cache = cache;
	d->writes = o->writes;
	d->image_size = size;
	d->cdev = -1;
	d->ctl.fd = -1;
	d->ctl_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cv, NULL);
	pthread_cond_init(&d->state_cv, NULL);
	d->efd = eventfd(0, EFD_CLOEXEC);
	if (d->efd < 0) {
		ret = ulo_errno(-errno, "ublk: eventfd");
		goto fail;
	}
	ret = ublk_ctl_open(&d->ctl_fd, &d->ctl, &d->encoded);
	if (ret)
		goto fail;
	memset(&info, 0, sizeof(info));
	ret = o->index >= 0 ? ublk_cmd(d, UBLK_CMD_GET_DEV_INFO, 0, &info, sizeof(info)) :
			      -ENODEV;
	if (!ret && !o->may_take_over)
		ret = ulo_err(-EBUSY, "/dev/ublkb%d: in use (served by pid %d, or not a device we may take over)",
			      o->index, (int)info.ublksrv_pid);
	else if (!ret)
		ret = ublk_recover(d, &info);
	else if (ret == -ENODEV)
		ret = ublk_add(d);
	else
		ret = ulo_errno(ret, "/dev/ublkb%d: GET_DEV_INFO", o->index);
	if (ret)
		goto fail;
	snprintf(d->path, sizeof(d->path), "/dev/ublkb%d", d->index);
	ret = ublk_open_cdev(d);
	if (!ret)
		ret = ublk_map(d);
	if (!ret)
		ret = ublk_run(d, workers);
	if (ret)
		goto fail;
	/* The queue has fetched: the driver starts the disk (and reads its
	 * partition table, which our threads answer). */
	ret = ublk_cmd(d, d->took_over ? UBLK_CMD_END_USER_RECOVERY : UBLK_CMD_START_DEV,
		       (uint64_t)getpid(), NULL, 0);
	if (ret) {
		ret = ulo_errno(ret, "%s: %s", d->path,
				d->took_over ? "END_USER_RECOVERY" : "START_DEV");
		goto fail;
	}
	*out = d;
	return 0;

fail:
	{
		/* Keep the message: the teardown's commands may set theirs. */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", ulo_errmsg());
		/* A device taken over is left as it was found (quiesced, for
		 * another try); one we made goes. */
		if (d->took_over) {
			ublk_join(d, true);
			ublk_release(d);
			d->added = false;
		} else {
			ublk_teardown(d);
		}
		ulo_ublk_free(d);
		ulo_set_errmsg(msg);
	}
	return ret;
}

const char *ulo_ublk_path(const struct ulo_ublk_dev *d)
{
	return d->path;
}

bool ulo_ublk_took_over(const struct ulo_ublk_dev *d)
{
	return d->took_over;
}

void ulo_ublk_wait(struct ulo_ublk_dev *d)
{
	pthread_mutex_lock(&d->lock);
	while (!d->gone && !d->shut)
		pthread_cond_wait(&d->state_cv, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

/* Held exclusively (mounted, or a holder such as dm-verity). */
static bool ublk_held(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EBUSY;
}

int ulo_ublk_shutdown(struct ulo_ublk_dev *d, bool keep)
{
	bool gone;
	int ret = 0;

	if (!d)
		return 0;
	pthread_mutex_lock(&d->lock);
	gone = d->gone;
	if (d->shut) {
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	pthread_mutex_unlock(&d->lock);
	/* Ended from outside (STOP_DEV by uloop detach): remove it. */
	if (gone)
		d->stopped = true;
	if (!gone && !keep && ublk_held(d->path)) {
		ulo_warn("%s: still in use: left to a restarted daemon (requests held)", d->path);
		keep = true;
		ret = -EBUSY;
	}
	if (keep && !gone) {
		ublk_join(d, true);
		ublk_release(d);
		d->added = false;	/* the successor's now */
	} else {
		int r = ublk_teardown(d);

		ret = ret ? ret : r;
	}
	pthread_mutex_lock(&d->lock);
	d->shut = true;
	pthread_cond_broadcast(&d->state_cv);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void ulo_ublk_free(struct ulo_ublk_dev *d)
{
	if (!d)
		return;
	if (d->ctl.fd >= 0)
		ulo_uring_exit(&d->ctl);
	if (d->ctl_fd >= 0)
		close(d->ctl_fd);
	if (d->efd >= 0)
		close(d->efd);
	free(d->tags);
	pthread_cond_destroy(&d->cv);
	pthread_cond_destroy(&d->state_cv);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int ulo_ublk_remove(int index, bool del)
{
	struct ulo_uring ring;
	bool encoded;
	int fd, ret;

	ret = ublk_ctl_open(&fd, &ring, &encoded);
	if (ret)
		return ret;
	ret = ublk_ctrl(fd, &ring, encoded, UBLK_CMD_STOP_DEV, (uint32_t)index, 0, NULL, 0);
	if (!ret && del) {
		ret = encoded ? ublk_ctrl(fd, &ring, encoded, ULO_UBLK_CMD_DEL_DEV_ASYNC,
					  (uint32_t)index, 0, NULL, 0) : -EOPNOTSUPP;
		if (ret == -EOPNOTSUPP || ret == -EINVAL)
			ret = ublk_ctrl(fd, &ring, encoded, UBLK_CMD_DEL_DEV, (uint32_t)index, 0,
					NULL, 0);
	}
	ulo_uring_exit(&ring);
	close(fd);
	return ret;
}
