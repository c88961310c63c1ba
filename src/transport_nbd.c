// SPDX-License-Identifier: GPL-2.0-or-later
/* transport_nbd.c - see transport_nbd.h. */
#include "transport_nbd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/nbd.h>

#include "nbd_netlink.h"
#include "nbd_server.h"
#include "wlayer.h"
#include "util.h"

struct ulo_nbd_conn {
	struct ulo_nbd_dev *dev;
	int fd;			/* our end */
	pthread_t thread;
	bool started;
};

struct ulo_nbd_dev {
	int index;
	uint64_t image_size;	/* size is this rounded up to 512 */
	bool shut;		/* ulo_nbd_shutdown() done */
	int ctl_fd;		/* ioctl interface: the open /dev/nbdN, else -1 */
	pthread_t doit;		/* ioctl interface: NBD_DO_IT's thread */
	char path[32];
	bool took_over;
	uint64_t size;
	struct ulo_engine *eng;
	struct ulo_cache *cache;
	struct ulo_wlayer *writes;	/* writable devices only (not owned) */
	struct ulo_nbd_conn conn[ULO_NBD_MAX_CONNS];
	unsigned nconn;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned live;		/* serving threads still running; lock */
};

int ulo_nbd_index_of(const char *path)
{
	char *end;
	long n;

	if (strncmp(path, "/dev/nbd", 8) || !path[8])
		return -1;
	n = strtol(path + 8, &end, 10);
	return *end || n < 0 || n > 65535 ? -1 : (int)n;
}

/* The device is the image rounded up to whole 512-byte sectors: the
 * bytes past the image read as zeros. */
static int ulo_nbd_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	struct ulo_nbd_dev *d = ctx;
	size_t in = off < d->image_size ? ULO_MIN(len, d->image_size - off) : 0;

	if (in < len)
		memset((uint8_t *)buf + in, 0, len - in);
	return in ? ulo_engine_read(d->eng, buf, off, in) : 0;
}

/* FLUSH: everything fetched so far becomes durable in the cache. */
static int ulo_nbd_flush(void *ctx)
{
	struct ulo_nbd_dev *d = ctx;

	return d->cache ? ulo_cache_commit(d->cache) : 0;
}

static const struct ulo_nbd_ops ulo_nbd_engine_ops = {
	.read = ulo_nbd_read,
	.flush = ulo_nbd_flush,
};

/* A writable device: its writable layer (wlayer.h) over the engine.  The
 * device is the image rounded up to a sector: the tail reads as zeros and
 * takes no writes. */
static int ulo_nbd_ov_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	struct ulo_nbd_dev *d = ctx;
	size_t in = off < d->image_size ? ULO_MIN(len, d->image_size - off) : 0;

	if (in < len)
		memset((uint8_t *)buf + in, 0, len - in);
	return in ? ulo_wlayer_read(d->writes, buf, off, in) : 0;
}

static int ulo_nbd_ov_write(void *ctx, const void *buf, uint64_t off, size_t len)
{
	struct ulo_nbd_dev *d = ctx;

	if (off > d->image_size || len > d->image_size - off)
		return ulo_err(-ENOSPC, "nbd: write past the image's end");
	return ulo_wlayer_write(d->writes, buf, off, len);
}

static int ulo_nbd_ov_trim(void *ctx, uint64_t off, uint64_t len)
{
	struct ulo_nbd_dev *d = ctx;

	return ulo_wlayer_trim(d->writes, off, len);
}

/* FLUSH (and FUA, which the driver turns into one): what was written is
 * made durable (a COW), and what was fetched (the cache). */
static int ulo_nbd_ov_flush(void *ctx)
{
	struct ulo_nbd_dev *d = ctx;
	int ret = ulo_wlayer_flush(d->writes);

	return ret ? ret : ulo_nbd_flush(ctx);
}

static const struct ulo_nbd_ops ulo_nbd_rw_ops = {
	.read = ulo_nbd_ov_read,
	.flush = ulo_nbd_ov_flush,
	.write = ulo_nbd_ov_write,
	.trim = ulo_nbd_ov_trim,
};

/* The ioctl interface: NBD_DO_IT runs the device until it disconnects. */
static void *ulo_nbd_doit(void *arg)
{
	struct ulo_nbd_dev *d = arg;

	if (ioctl(d->ctl_fd, NBD_DO_IT) < 0 && errno != EPIPE)
		ulo_debug("nbd", "%s: NBD_DO_IT: %s", d->path, strerror(errno));
	ioctl(d->ctl_fd, NBD_CLEAR_QUE);
	ioctl(d->ctl_fd, NBD_CLEAR_SOCK);
	return NULL;
}

/* Is /dev/nbdN in use?  /sys/block/nbdN/pid exists while it runs. */
static bool ulo_nbd_busy(int index)
{
	char p[64];

	snprintf(p, sizeof(p), "/sys/block/nbd%d/pid", index);
	return access(p, F_OK) == 0;
}

static int ulo_nbd_ioctl_start(struct ulo_nbd_dev *d, int index, int sock,
			       const struct ulo_nbd_params *p)
{
	int ret;

	for (int i = index >= 0 ? index : 0; index < 0 || i == index; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/dev/nbd%d", i);
		if (access(path, F_OK) < 0)
			return ulo_err(-ENODEV, index >= 0 ? "%s: no such device" :
				       "nbd: no free /dev/nbdN (modprobe nbd nbds_max=N)", path);
		if (ulo_nbd_busy(i)) {
			if (index >= 0)
				return ulo_err(-EBUSY, "%s: in use", path);
			continue;
		}
		d->ctl_fd = open(path, O_RDWR | O_CLOEXEC);
		if (d->ctl_fd < 0)
			return ulo_errno(-errno, "%s: open", path);
		d->index = i;
		break;
	}
	snprintf(d->path, sizeof(d->path), "/dev/nbd%d", d->index);
	if (ioctl(d->ctl_fd, NBD_SET_BLKSIZE, (unsigned long)p->block_size) < 0 ||
	    ioctl(d->ctl_fd, NBD_SET_SIZE_BLOCKS, (unsigned long)(p->size / p->block_size)) < 0 ||
	    ioctl(d->ctl_fd, NBD_SET_TIMEOUT, (unsigned long)p->timeout_s) < 0 ||
	    ioctl(d->ctl_fd, NBD_SET_FLAGS, (unsigned long)p->server_flags) < 0 ||
	    ioctl(d->ctl_fd, NBD_SET_SOCK, (unsigned long)sock) < 0) {
		ret = ulo_errno(-errno, "%s: nbd ioctl", d->path);
		ioctl(d->ctl_fd, NBD_CLEAR_SOCK);
		goto out_close;
	}
	ret = pthread_create(&d->doit, NULL, ulo_nbd_doit, d);
	if (ret) {
		ret = ulo_errno(-ret, "%s: NBD_DO_IT thread", d->path);
		ioctl(d->ctl_fd, NBD_CLEAR_SOCK);
		goto out_close;
	}
	/* Ready once the driver runs the device (it publishes its pid). */
	for (int ms = 0; !ulo_nbd_busy(d->index); ms += 10) {
		if (ms >= 5000) {
			ioctl(d->ctl_fd, NBD_DISCONNECT);
			pthread_join(d->doit, NULL);
			ret = ulo_err(-ETIMEDOUT, "%s: the driver did not start the device",
				      d->path);
			goto out_close;
		}
		usleep(10000);
	}
	return 0;
out_close:
	close(d->ctl_fd);
	d->ctl_fd = -1;
	return ret;
}

static void *ulo_nbd_thread(void *arg)
{
	struct ulo_nbd_conn *c = arg;
	struct ulo_nbd_dev *d = c->dev;

	if (ulo_nbd_serve(c->fd, d->size, d->writes ? &ulo_nbd_rw_ops :
			  &ulo_nbd_engine_ops, d))
		ulo_debug("nbd", "%s: %s", d->path, ulo_errmsg());
	pthread_mutex_lock(&d->lock);
	d->live--;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int ulo_nbd_start(const struct ulo_nbd_opts *o, struct ulo_engine *eng,
		  struct ulo_cache *cache, uint64_t size,
		  struct ulo_nbd_dev **out)
{
	struct ulo_nbd_params p = {
		.size = ULO_ROUND_UP(size, 512),
		/* 512-byte sectors, as loop: any filesystem block size
		 * mounts (ext4 with 1 KiB blocks refuses 4 KiB sectors), and
		 * the page cache still reads in pages. */
		.block_size = 512,
		.server_flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY |
				NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN,
		.timeout_s = o->timeout_s,
		.dead_conn_s = o->dead_conn_s,
		.backend = o->backend,
	};
	int theirs[ULO_NBD_MAX_CONNS];
	struct ulo_nbd_dev *d;
	bool connected = false;
	unsigned n = ULO_MAX(1u, ULO_MIN(o->connections, (unsigned)ULO_NBD_MAX_CONNS));
	int index = -1, ret;

	if (o->device) {
		index = ulo_nbd_index_of(o->device);
		if (index < 0)
			return ulo_err(-EINVAL, "%s: not an nbd device (/dev/nbdN)",
				       o->device);
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return ulo_errno(-ENOMEM, "nbd");
	d->eng = eng;
	d->cache = cache;
	d->image_size = size;
	d->size = p.size;
	d->ctl_fd = -1;
	d->writes = o->writes;
	if (d->writes) {
		p.server_flags &= ~(uint64_t)NBD_FLAG_READ_ONLY;
		if (ulo_wlayer_trims(d->writes))
			p.server_flags |= NBD_FLAG_SEND_TRIM;
	}
	if (getenv("ULOOP_NBD_IOCTL"))
		n = 1;	/* the ioctl interface takes one socket */
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cv, NULL);
	for (d->nconn = 0; d->nconn < n; d->nconn++) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			ret = ulo_errno(-errno, "nbd: socketpair");
			goto out_close;
		}
		d->conn[d->nconn].dev = d;
		d->conn[d->nconn].fd = sv[0];
		theirs[d->nconn] = sv[1];
	}
	if (getenv("ULOOP_NBD_IOCTL")) {
		ret = -ENOENT;
	} else if (index >= 0) {
		ret = ulo_nbd_nl_status(index, &connected);
	} else {
		ret = 0;
	}
	if (!ret && connected && !o->may_take_over) {
		ret = ulo_err(-EBUSY, "/dev/nbd%d: in use (connected by another process)",
			      index);
	} else if (!ret && connected) {
		ret = ulo_nbd_nl_reconfigure(index, theirs, n, &p);
		if (ret == -EINVAL)
			ret = ulo_err(-EINVAL, "/dev/nbd%d: the driver refused the takeover (it serves another image or mode, or is not uloop's)",
				      index);
		d->took_over = !ret;
	} else if (!ret) {
		ret = ulo_nbd_nl_connect(index, theirs, n, &p, &index);
	}
	if (ret == -ENOENT) {
		/* No netlink interface: the ioctls, one connection. */
		for (unsigned i = 1; i < d->nconn; i++) {
			close(theirs[i]);
			close(d->conn[i].fd);
		}
		d->nconn = 1;
		ret = ulo_nbd_ioctl_start(d, index, theirs[0], &p);
		index = d->index;
	}
	/* The driver holds its own references to its ends now. */
	for (unsigned i = 0; i < d->nconn; i++)
		close(theirs[i]);
	if (ret)
		goto out_ours;
	d->index = index;
	snprintf(d->path, sizeof(d->path), "/dev/nbd%d", index);
	for (unsigned i = 0; i < d->nconn; i++) {
		ret = pthread_create(&d->conn[i].thread, NULL, ulo_nbd_thread,
				     &d->conn[i]);
		if (ret) {
			ulo_errno(-ret, "%s: starting a server thread", d->path);
			/* Never disconnect a device taken over from another. */
			ulo_nbd_shutdown(d, d->took_over);
			ulo_nbd_free(d);
			return -ret;
		}
		d->conn[i].started = true;
		pthread_mutex_lock(&d->lock);
		d->live++;
		pthread_mutex_unlock(&d->lock);
	}
	*out = d;
	return 0;

out_close:
	for (unsigned i = 0; i < d->nconn; i++)
		close(theirs[i]);
out_ours:
	for (unsigned i = 0; i < d->nconn; i++)
		close(d->conn[i].fd);
	free(d);
	return ret;
}

const char *ulo_nbd_path(const struct ulo_nbd_dev *d)
{
	return d->path;
}

bool ulo_nbd_took_over(const struct ulo_nbd_dev *d)
{
	return d->took_over;
}

void ulo_nbd_wait(struct ulo_nbd_dev *d)
{
	pthread_mutex_lock(&d->lock);
	while (d->live)
		pthread_cond_wait(&d->cv, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

int ulo_nbd_shutdown(struct ulo_nbd_dev *d, bool keep)
{
	int ret = 0;

	if (!d || d->shut)
		return 0;
	d->shut = true;
	if (keep) {
		/* Closing our ends kills the connections; the driver then
		 * keeps the requests for a successor (dead_conn_s). */
		for (unsigned i = 0; i < d->nconn; i++)
			shutdown(d->conn[i].fd, SHUT_RDWR);
	} else if (d->ctl_fd >= 0) {
		if (ioctl(d->ctl_fd, NBD_DISCONNECT) < 0)
			ret = ulo_errno(-errno, "%s: NBD_DISCONNECT", d->path);
		for (unsigned i = 0; i < d->nconn; i++)
			shutdown(d->conn[i].fd, SHUT_RDWR);
	} else {
		ret = ulo_nbd_nl_disconnect(d->index);
		if (ret) {
			for (unsigned i = 0; i < d->nconn; i++)
				shutdown(d->conn[i].fd, SHUT_RDWR);
		}
	}
	for (unsigned i = 0; i < d->nconn; i++)
		if (d->conn[i].started)
			pthread_join(d->conn[i].thread, NULL);
	if (d->ctl_fd >= 0) {
		pthread_join(d->doit, NULL);
		close(d->ctl_fd);
		d->ctl_fd = -1;
	}
	return ret;
}

void ulo_nbd_free(struct ulo_nbd_dev *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->nconn; i++)
		close(d->conn[i].fd);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cv);
	free(d);
}
