// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * source_file.c - images in local files and on block devices (the 2007
 * "ulobdev" case: cache a slow disk onto flash).
 *
 * Identity: a regular file is identified by its inode number, mtime and
 * ctime (ns), so "cp new old" (same inode, new times), "mv new old" (new
 * inode) and even an in-place rewrite that puts the old mtime back
 * (rsync --inplace -t, touch -r: ctime still moves) are a new image on the
 * next open.  While open, every read is followed by an fstat(): if size,
 * mtime or ctime moved, the bytes just read may belong to either version
 * and the read fails with -ESTALE instead of returning them.
 *
 * A block device has no such times.  It is identified by its size and a
 * CRC-32C fingerprint of its first and last 64 KiB (where filesystems keep
 * their superblocks: what changes when it is reformatted), and it is
 * opened O_EXCL, so it cannot be mounted while it is being cached.  Raw
 * writes to it cannot be seen: as in 2007, a device being cached must not
 * be written.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "crc32c.h"
#include "source.h"
#include "util.h"

#define ULO_FP_SPAN (64 * 1024)

struct ulo_file_src {
	int fd;
	bool is_blkdev;
	struct timespec mtime, ctime;	/* at open, regular files only */
	off_t size;
};

static int ulo_file_fingerprint(struct ulo_source *src, int fd, uint64_t size,
				uint32_t *fp)
{
	size_t span = size < ULO_FP_SPAN ? size : ULO_FP_SPAN;
	uint8_t *buf = malloc(span ? span : 1);
	int ret;

	if (!buf)
		return ulo_errno(-ENOMEM, "%s: fingerprint buffer", src->id.location);
	ret = ulo_pread_full(fd, buf, span, 0);
	if (!ret) {
		fp[0] = ulo_crc32c(0, buf, span);
		ret = ulo_pread_full(fd, buf, span, size - span);
		fp[1] = ulo_crc32c(0, buf, span);
	}
	free(buf);
	if (ret < 0)
		return ulo_errno(ret, "%s: pread (fingerprint)", src->id.location);
	return 0;
}

static int ulo_file_open(struct ulo_source *src, const char *location,
			 const struct ulo_source_opts *opts)
{
	struct ulo_file_src *f;
	struct stat st;
	char *abs;
	int ret;

	(void)opts;
	f = calloc(1, sizeof(*f));
	if (!f)
		return ulo_errno(-ENOMEM, "%s: allocating source", location);
	f->fd = open(location, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		ret = ulo_errno(-errno, "%s: open", location);
		goto out_free;
	}
	if (fstat(f->fd, &st) == 0 && S_ISBLK(st.st_mode)) {
		/* Exclusive: nobody mounts it while its blocks are cached. */
		close(f->fd);
		f->fd = open(location, O_RDONLY | O_CLOEXEC | O_EXCL);
		if (f->fd < 0) {
			ret = ulo_errno(-errno, "%s: open exclusively (mounted or in use?)",
					location);
			goto out_free;
		}
	}
	abs = realpath(location, NULL);
	snprintf(src->id.location, sizeof(src->id.location), "%s",
		 abs ? abs : location);
	free(abs);
	if (fstat(f->fd, &st) < 0) {
		ret = ulo_errno(-errno, "%s: fstat", location);
		goto out_close;
	}
	if (S_ISREG(st.st_mode)) {
		f->mtime = st.st_mtim;
		f->ctime = st.st_ctim;
		f->size = st.st_size;
		src->id.kind = ULO_ID_FILE_MTIME;
		src->id.size = st.st_size;
		snprintf(src->id.validator, sizeof(src->id.validator),
			 "ino=%" PRIu64 " mtime=%lld.%09ld ctime=%lld.%09ld",
			 (uint64_t)st.st_ino, (long long)st.st_mtim.tv_sec,
			 st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec,
			 st.st_ctim.tv_nsec);
	} else if (S_ISBLK(st.st_mode)) {
		uint64_t size;
		uint32_t fp[2] = { 0, 0 };

		if (ioctl(f->fd, BLKGETSIZE64, &size) < 0) {
			ret = ulo_errno(-errno, "%s: ioctl BLKGETSIZE64", location);
			goto out_close;
		}
		f->is_blkdev = true;
		src->id.kind = ULO_ID_BLKDEV;
		src->id.size = size;
		ret = ulo_file_fingerprint(src, f->fd, size, fp);
		if (ret < 0)
			goto out_close;
		snprintf(src->id.validator, sizeof(src->id.validator),
			 "size=%" PRIu64 " fp=%08x%08x", size, fp[0], fp[1]);
	} else {
		ret = ulo_err(-EINVAL, "%s: not a regular file or block device",
			      location);
		goto out_close;
	}
	if (!src->id.size) {
		ret = ulo_err(-EINVAL, "%s: image is empty", location);
		goto out_close;
	}
	src->priv = f;
	return 0;

out_close:
	close(f->fd);
out_free:
	free(f);
	return ret;
}

static int ulo_file_read(struct ulo_source *src, void *buf, uint64_t off,
			 size_t len, unsigned *retries)
{
	struct ulo_file_src *f = src->priv;
	struct stat st;
	int ret;

	(void)retries;
	ret = ulo_pread_full(f->fd, buf, len, off);
	if (ret < 0 && ret != -EIO)
		return ulo_errno(ret, "%s: pread at %" PRIu64, src->id.location, off);
	if (f->is_blkdev)
		return ret < 0 ? ulo_errno(ret, "%s: pread at %" PRIu64,
					   src->id.location, off) : 0;
	if (fstat(f->fd, &st) < 0)
		return ulo_errno(-errno, "%s: fstat", src->id.location);
	if (st.st_size != f->size || st.st_mtim.tv_sec != f->mtime.tv_sec ||
	    st.st_mtim.tv_nsec != f->mtime.tv_nsec ||
	    st.st_ctim.tv_sec != f->ctime.tv_sec ||
	    st.st_ctim.tv_nsec != f->ctime.tv_nsec)
		return ulo_err(-ESTALE,
			       "%s: image changed while in use (size, mtime or ctime moved); refusing its data",
			       src->id.location);
	if (ret < 0)
		return ulo_errno(ret, "%s: short read at %" PRIu64,
				 src->id.location, off);
	return 0;
}

static void ulo_file_close(struct ulo_source *src)
{
	struct ulo_file_src *f = src->priv;

	if (!f)
		return;
	close(f->fd);
	free(f);
	src->priv = NULL;
}

const struct ulo_source_ops ulo_source_file_ops = {
	.name = "file",
	.open = ulo_file_open,
	.read = ulo_file_read,
	.close = ulo_file_close,
};
