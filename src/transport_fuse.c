// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * transport_fuse.c - a one-file, read-only FUSE filesystem on raw /dev/fuse.
 *
 * The mount's root inode is the file itself (rootmode=S_IFREG), mounted
 * over a regular file, so there is no directory to look anything up in:
 * the server answers INIT, GETATTR, OPEN, READ, RELEASE/FLUSH/FSYNC and
 * STATFS, and everything else with ENOSYS.  Writes are refused with EROFS
 * unless the owner gave a writer (ulo_fuse_writable(): a --read-write
 * device, its writes kept in memory or in a COW file): then WRITE goes to
 * it and FSYNC to its sync, which is what makes them durable.  The size
 * is fixed: a truncation is refused.
 *
 * Threads: each server thread polls the (non-blocking) /dev/fuse
 * descriptor and a stop pipe, reads one request, answers it, repeat.
 * Several threads give the kernel parallel reads (FUSE_ASYNC_READ).  A
 * read that fails in the engine is answered with EIO: never partial data.
 */
#include "transport_fuse.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/fuse.h>

#include "util.h"

#define ULO_FUSE_MAX_PAGES 256	/* 1 MiB reads */
#define ULO_FUSE_MAX_THREADS 16
#define ULO_FUSE_IN_BUF (64 * 1024)
#define ULO_FUSE_MAX_WRITE (32 * 1024)	/* fits ULO_FUSE_IN_BUF with headers */

struct ulo_fuse {
	char path[4096];
	int fd;			/* /dev/fuse */
	int stop_pipe[2];
	uint64_t size;
	uid_t uid;
	gid_t gid;
	bool created;		/* we created the mount-point file */
	bool stopping;		/* ulo_fuse_stop() runs */
	bool gone_told;		/* on_gone called */
	void (*on_gone)(void *ctx);
	void *gone_ctx;
	ulo_fuse_read_fn rd;
	ulo_fuse_write_fn wr;	/* NULL: read-only */
	ulo_fuse_sync_fn sync;
	void *ctx;
	pthread_t threads[ULO_FUSE_MAX_THREADS];
	unsigned nthreads;
	bool mounted;
};

/* Is a fuse.uloop filesystem mounted on @path?  (/proc/self/mounts) */
static bool ulo_fuse_mounted(const char *path)
{
	char line[4096], mnt[4096], type[64], *real = realpath(path, NULL);
	bool found = false;
	FILE *m = fopen("/proc/self/mounts", "re");

	while (m && real && !found && fgets(line, sizeof(line), m))
		found = sscanf(line, "%*s %4095s %63s", mnt, type) == 2 &&
			!strcmp(mnt, real) && !strcmp(type, "fuse.uloop");
	if (m)
		fclose(m);
	free(real);
	return found;
}

int ulo_fuse_mount(const char *path, uint64_t size, bool writable,
		   struct ulo_fuse **out)
{
	struct ulo_fuse *f;
	char opts[256], target[64 + PATH_MAX];
	struct stat st;
	int fd, ret;

	f = calloc(1, sizeof(*f));
	if (!f)
		return ulo_errno(-ENOMEM, "%s: fuse", path);
	f->stop_pipe[0] = f->stop_pipe[1] = -1;
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->size = size;
	f->uid = getuid();
	f->gid = getgid();
	if (ulo_fuse_mounted(path)) {
		ret = ulo_err(-EBUSY, "%s: already attached (a FUSE mount is on it)", path);
		goto out_free;
	}
	/* lstat: a dangling symlink is the user's, never ours to remove. */
	f->created = lstat(path, &st) < 0 && errno == ENOENT;
	/*
	 * Never through a symlink (root would mount over whatever a planted
	 * link names), and the mount goes on the very file checked here:
	 * through /proc/self/fd, not the path, which could be swapped for a
	 * link in between.
	 */
	fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0444);
	if (fd < 0 && errno == ELOOP) {
		ret = ulo_err(-ELOOP, "%s: a symlink; refusing to mount over what it points to (name the file itself)",
			      path);
		goto out_free;
	}
	if (fd < 0) {
		ret = ulo_errno(-errno, "%s: open (mount point)", path);
		goto out_free;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		ret = ulo_err(-EINVAL, "%s: the device path must be a regular file",
			      path);
		goto out_free;
	}
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (access(target, F_OK) < 0)	/* no /proc: the path it is */
		snprintf(target, sizeof(target), "%s", path);
	f->fd = open("/dev/fuse", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (f->fd < 0) {
		ret = ulo_errno(-errno, "/dev/fuse: open");
		close(fd);
		goto out_free;
	}
	if (pipe2(f->stop_pipe, O_CLOEXEC) < 0) {
		ret = ulo_errno(-errno, "fuse: pipe");
		close(fd);
		goto out_close;
	}
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=%o,user_id=%u,group_id=%u,allow_other,max_read=%u",
		 f->fd, S_IFREG | (writable ? 0644 : 0444), f->uid, f->gid,
		 ULO_FUSE_MAX_PAGES * 4096);
	ret = mount("uloop", target, "fuse.uloop",
		    MS_NOSUID | MS_NODEV | (writable ? 0 : MS_RDONLY),
		    opts);
	close(fd);
	if (ret < 0) {
		ret = ulo_errno(-errno, "%s: mount fuse", path);
		goto out_close;
	}
	f->mounted = true;
	*out = f;
	return 0;

out_close:
	if (f->stop_pipe[0] >= 0) {
		close(f->stop_pipe[0]);
		close(f->stop_pipe[1]);
	}
	close(f->fd);
out_free:
	if (f->created)
		unlink(path);
	free(f);
	return ret;
}

int ulo_fuse_fd(const struct ulo_fuse *f)
{
	return f->fd;
}

static void ulo_fuse_reply(struct ulo_fuse *f, uint64_t unique, int err,
			   const void *data, size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + (err ? 0 : len),
		.error = err,
		.unique = unique,
	};
	struct iovec iov[2] = {
		{ &oh, sizeof(oh) },
		{ (void *)data, err ? 0 : len },
	};

	/* ENOENT: the request was interrupted and is gone; nothing to do. */
	if (writev(f->fd, iov, data && !err ? 2 : 1) < 0 && errno != ENOENT)
		ulo_debug("fuse", "writev reply: %s", strerror(errno));
}

static void ulo_fuse_attr(struct ulo_fuse *f, struct fuse_attr *a)
{
	time_t now = time(NULL);

	memset(a, 0, sizeof(*a));
	a->ino = FUSE_ROOT_ID;
	a->size = f->size;
	a->blocks = ULO_DIV_ROUND_UP(f->size, 512);
	a->atime = a->mtime = a->ctime = now;
	a->mode = S_IFREG | (f->wr ? 0644 : 0444);
	a->nlink = 1;
	a->uid = f->uid;
	a->gid = f->gid;
	a->blksize = 4096;
}

static void ulo_fuse_init(struct ulo_fuse *f, const struct fuse_in_header *ih,
			  const struct fuse_init_in *in)
{
	struct fuse_init_out out = { 0 };
	size_t len = sizeof(out);

	out.major = FUSE_KERNEL_VERSION;
	out.minor = ULO_MIN(in->minor, (uint32_t)FUSE_KERNEL_MINOR_VERSION);
	if (in->major != FUSE_KERNEL_VERSION) {
		/* Tell a newer kernel our major; it retries or gives up. */
		ulo_fuse_reply(f, ih->unique, in->major < 7 ? -EPROTO : 0, &out, 8);
		return;
	}
	out.max_readahead = in->max_readahead;
	out.flags = in->flags & (FUSE_ASYNC_READ | FUSE_MAX_PAGES);
	out.max_background = 64;
	out.congestion_threshold = 48;
	out.max_write = ULO_FUSE_MAX_WRITE;
	out.time_gran = 1;
	out.max_pages = ULO_FUSE_MAX_PAGES;
	if (out.minor < 23)
		len = FUSE_COMPAT_22_INIT_OUT_SIZE;
	ulo_fuse_reply(f, ih->unique, 0, &out, len);
}

static void ulo_fuse_read(struct ulo_fuse *f, const struct fuse_in_header *ih,
			  const struct fuse_read_in *in, uint8_t *buf)
{
	uint64_t off = in->offset;
	size_t len = ULO_MIN(in->size, (uint32_t)ULO_FUSE_MAX_PAGES * 4096);
	int ret;

	if (off >= f->size) {
		ulo_fuse_reply(f, ih->unique, 0, buf, 0);
		return;
	}
	len = ULO_MIN(len, f->size - off);
	ret = f->rd(f->ctx, buf, off, len);
	if (ret) {
		ulo_debug("fuse", "read %zu at %llu: %s", len,
			  (unsigned long long)off, ulo_errmsg());
		ulo_fuse_reply(f, ih->unique, -EIO, NULL, 0);
		return;
	}
	ulo_fuse_reply(f, ih->unique, 0, buf, len);
}

static int ulo_fuse_sync(struct ulo_fuse *f)
{
	int ret = f->sync(f->ctx);

	if (ret)
		ulo_debug("fuse", "fsync: %s", ulo_errmsg());
	return ret ? -EIO : 0;
}

/* WRITE: the data follows its fuse_write_in in the request (@n bytes). */
static void ulo_fuse_write(struct ulo_fuse *f, const struct fuse_in_header *ih,
			   const struct fuse_write_in *in, size_t n)
{
	struct fuse_write_out out = { 0 };
	int ret;

	if (!f->wr) {
		ulo_fuse_reply(f, ih->unique, -EROFS, NULL, 0);
		return;
	}
	if (n < sizeof(*in) || in->size > n - sizeof(*in)) {
		ulo_fuse_reply(f, ih->unique, -EINVAL, NULL, 0);
		return;
	}
	if (in->offset > f->size || in->size > f->size - in->offset) {
		ulo_fuse_reply(f, ih->unique, -ENOSPC, NULL, 0);
		return;
	}
	ret = f->wr(f->ctx, (const uint8_t *)(in + 1), in->offset, in->size);
	if (ret) {
		ulo_debug("fuse", "write %u at %llu: %s", in->size,
			  (unsigned long long)in->offset, ulo_errmsg());
		ulo_fuse_reply(f, ih->unique, ret == -ENOSPC ? -ENOSPC : -EIO,
			       NULL, 0);
		return;
	}
	out.size = in->size;
	ulo_fuse_reply(f, ih->unique, 0, &out, sizeof(out));
}

/* SETATTR: times and modes are the kernel's to cache; the size is the
 * image's, fixed. */
static void ulo_fuse_setattr(struct ulo_fuse *f, const struct fuse_in_header *ih,
			     const struct fuse_setattr_in *in)
{
	struct fuse_attr_out out = { .attr_valid = 1 };

	if ((in->valid & FATTR_SIZE) && in->size != f->size) {
		ulo_fuse_reply(f, ih->unique, -EPERM, NULL, 0);
		return;
	}
	if (!f->wr) {
		ulo_fuse_reply(f, ih->unique, -EROFS, NULL, 0);
		return;
	}
	ulo_fuse_attr(f, &out.attr);
	ulo_fuse_reply(f, ih->unique, 0, &out, sizeof(out));
}

/* Answer one request.  Returns false when the filesystem is going away. */
static bool ulo_fuse_handle(struct ulo_fuse *f, const uint8_t *req, size_t n,
			    uint8_t *buf)
{
	const struct fuse_in_header *ih = (const void *)req;
	const void *arg = req + sizeof(*ih);

	if (n < sizeof(*ih))
		return true;
	switch (ih->opcode) {
	case FUSE_INIT:
		ulo_fuse_init(f, ih, arg);
		break;
	case FUSE_GETATTR: {
		struct fuse_attr_out out = { .attr_valid = 1 };

		ulo_fuse_attr(f, &out.attr);
		ulo_fuse_reply(f, ih->unique, 0, &out, sizeof(out));
		break;
	}
	case FUSE_OPEN: {
		const struct fuse_open_in *in = arg;
		struct fuse_open_out out = { .open_flags = FOPEN_KEEP_CACHE };

		if ((in->flags & O_ACCMODE) != O_RDONLY && !f->wr)
			ulo_fuse_reply(f, ih->unique, -EROFS, NULL, 0);
		else if (in->flags & O_TRUNC)
			ulo_fuse_reply(f, ih->unique, -EPERM, NULL, 0);
		else
			ulo_fuse_reply(f, ih->unique, 0, &out, sizeof(out));
		break;
	}
	case FUSE_READ:
		ulo_fuse_read(f, ih, arg, buf);
		break;
	case FUSE_STATFS: {
		struct fuse_statfs_out out = { 0 };

		out.st.bsize = out.st.frsize = 4096;
		out.st.blocks = ULO_DIV_ROUND_UP(f->size, 4096);
		out.st.files = 1;
		out.st.namelen = 255;
		ulo_fuse_reply(f, ih->unique, 0, &out, sizeof(out));
		break;
	}
	case FUSE_RELEASE:
	case FUSE_FLUSH:
		ulo_fuse_reply(f, ih->unique, 0, NULL, 0);
		break;
	case FUSE_FSYNC:
		ulo_fuse_reply(f, ih->unique, f->sync ? ulo_fuse_sync(f) : 0,
			       NULL, 0);
		break;
	case FUSE_SETATTR:
		ulo_fuse_setattr(f, ih, arg);
		break;
	case FUSE_WRITE:
		ulo_fuse_write(f, ih, arg, n - sizeof(*ih));
		break;
	case FUSE_LOOKUP:
		ulo_fuse_reply(f, ih->unique, -ENOENT, NULL, 0);
		break;
	case FUSE_OPENDIR:
		ulo_fuse_reply(f, ih->unique, -ENOTDIR, NULL, 0);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		/* No reply expected. */
		break;
	case FUSE_DESTROY:
		ulo_fuse_reply(f, ih->unique, 0, NULL, 0);
		return false;
	default:
		ulo_fuse_reply(f, ih->unique, -ENOSYS, NULL, 0);
		break;
	}
	return true;
}

static void *ulo_fuse_thread(void *arg)
{
	struct ulo_fuse *f = arg;
	uint8_t *req = malloc(ULO_FUSE_IN_BUF);
	uint8_t *buf = malloc(ULO_FUSE_MAX_PAGES * 4096);
	struct pollfd pfd[2] = {
		{ .fd = f->fd, .events = POLLIN },
		{ .fd = f->stop_pipe[0], .events = POLLIN },
	};

	while (req && buf) {
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		n = read(f->fd, req, ULO_FUSE_IN_BUF);
		if (n < 0) {
			/* EAGAIN: another thread took it; ENOENT: interrupted. */
			if (errno == EAGAIN || errno == EINTR || errno == ENOENT)
				continue;
			/* ENODEV: unmounted from outside: tell the owner
			 * (once), unless it is stopping us itself. */
			if (!__atomic_load_n(&f->stopping, __ATOMIC_ACQUIRE) &&
			    f->on_gone &&
			    !__atomic_exchange_n(&f->gone_told, true, __ATOMIC_ACQ_REL))
				f->on_gone(f->gone_ctx);
			break;
		}
		if (!ulo_fuse_handle(f, req, n, buf))
			break;
	}
	free(req);
	free(buf);
	return NULL;
}

int ulo_fuse_run(struct ulo_fuse *f, unsigned nthreads, ulo_fuse_read_fn rd,
		 void *ctx)
{
	struct stat st;
	int ret;

	f->rd = rd;
	f->ctx = ctx;
	nthreads = ULO_MAX(1u, ULO_MIN(nthreads, ULO_FUSE_MAX_THREADS));
	for (; f->nthreads < nthreads; f->nthreads++) {
		ret = pthread_create(&f->threads[f->nthreads], NULL,
				     ulo_fuse_thread, f);
		if (ret)
			return ulo_errno(-ret, "fuse: starting server thread");
	}
	/*
	 * The kernel makes the mount's root inode with size 0 (a mount knows
	 * no attributes) and learns the size from our GETATTR at the next
	 * stat().  A program that opens the file and never stats it (busybox
	 * losetup: LOOP_SET_FD takes i_size) got an empty device.  One stat
	 * now that the servers run sets it for everyone.
	 */
	if (stat(f->path, &st) < 0)
		ulo_debug("fuse", "%s: stat: %s", f->path, strerror(errno));
	return 0;
}

void ulo_fuse_writable(struct ulo_fuse *f, ulo_fuse_write_fn wr,
		       ulo_fuse_sync_fn sync)
{
	f->wr = wr;
	f->sync = sync;
}

void ulo_fuse_on_gone(struct ulo_fuse *f, void (*fn)(void *ctx), void *ctx)
{
	f->on_gone = fn;
	f->gone_ctx = ctx;
}

void ulo_fuse_stop(struct ulo_fuse *f)
{
	if (!f)
		return;
	__atomic_store_n(&f->stopping, true, __ATOMIC_RELEASE);
	if (f->mounted && umount2(f->path, 0) < 0 && errno == EBUSY)
		umount2(f->path, MNT_DETACH);
	if (write(f->stop_pipe[1], "x", 1) < 0)
		ulo_debug("fuse", "stop pipe: %s", strerror(errno));
	for (unsigned i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	close(f->stop_pipe[0]);
	close(f->stop_pipe[1]);
	close(f->fd);
	if (f->created)
		unlink(f->path);
	free(f);
}
