// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cow.c - see cow.h.
 *
 * Each layer's bitmap is held in memory whole (a bit per 512-byte sector:
 * 256 KiB for 1 GiB of disk).  Lower layers never change; the top's bits
 * are set under bits_mx, after the write's data is in the file, and the
 * 4 KiB pages of its bitmap that changed are remembered.  A flush takes
 * those pages as they are (every bit in them belongs to a write whose
 * data has been written), syncs the data, writes the pages, and syncs
 * again: data before bit.  Bits are only ever set, never cleared, so a
 * page torn by a power cut holds old and new bits, both true.
 *
 * The files' locks: the writable top is locked twice, with flock()
 * against another uloop and with an open file description lock
 * (F_OFD_SETLK) against UML, whose ubd driver takes a POSIX record lock
 * (fcntl F_SETLK) of a COW it opens; the two kinds never see each other.
 * Frozen layers get the shared kinds of both, taken if they can be.
 *
 * The locks: @lock (read-write) keeps the stack's shape: reads, writes
 * and flushes hold it shared, a snapshot exclusive.  @flush_mx keeps two
 * flushes from writing their pages out of order.  @rmw_mx serialises
 * writes of part of a sector, which read the rest of it first.
 *
 * A new file (or an all-zero one: what a creation cut short leaves) is
 * laid out in place: its bitmap zeroed and synced, then the header
 * written and synced, so that no crash leaves a file with a header and a
 * bitmap of garbage.  A snapshot also fsyncs (not only fdatasyncs) the
 * frozen file, so that the mtime the new top records is the one a
 * reboot finds.
 */
#include "cow.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cow_pending.h"
#include "failpoint.h"
#include "util.h"

#define COW_PAGE 4096		/* bitmap bytes written as one unit */
#define COW_RUN_MAX (1u << 20)	/* bytes read from one layer at a time */

struct cow_layer {
	char path[PATH_MAX];	/* absolute */
	int fd;
	dev_t dev;
	ino_t ino;
	struct ulo_uml_hdr h;
	uint8_t *bits;		/* h.bitmap_len bytes */
	bool fresh;		/* laid out by this open */
};

struct ulo_cow {
	struct cow_layer *layer[ULO_COW_MAX_DEPTH];	/* [0]: the top */
	unsigned depth;
	uint64_t size;
	uint32_t ss;
	bool readonly;
	ulo_base_read_fn base_read;
	void *base_ctx;

	pthread_rwlock_t lock;
	pthread_mutex_t bits_mx;	/* the top's bits, dirty, held */
	pthread_mutex_t flush_mx;
	pthread_mutex_t rmw_mx;
	uint8_t *dirty;		/* a byte per COW_PAGE of the top's bitmap */
	uint64_t npages;
	uint64_t held;		/* sectors the top holds */
	uint64_t flushes;
	int error;		/* sticky -errno of a failed flush */
	struct ulo_cow_pending *pending;	/* the top's bits in tmpfs, or NULL */
	const char *pending_dir;
	uint64_t recovered;	/* sectors a dead daemon's mirror gave back */
};

static bool cow_bit(const struct cow_layer *l, uint64_t sec)
{
	if (sec >= l->h.covered)
		return false;
	return __atomic_load_n(&l->bits[sec >> 3], __ATOMIC_ACQUIRE) >> (sec & 7) & 1;
}

/* The highest layer holding @sec, or s->depth: the image. */
static unsigned cow_owner(const struct ulo_cow *s, uint64_t sec)
{
	unsigned i;

	for (i = 0; i < s->depth; i++)
		if (cow_bit(s->layer[i], sec))
			break;
	return i;
}

static uint64_t cow_file_size(int fd, const struct stat *st)
{
	uint64_t n;

	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, &n) ? 0 : n;
	return (uint64_t)st->st_size;
}

/* The last error, prefixed with the file it is about.  Copied first:
 * ulo_err formats into the very buffer ulo_errmsg() returns, and a
 * prefix written there overwrote the message before it was read
 * ("F: F: not one of 1, 2, 3" for "UML COW version 7 is not one of..."). */
static int cow_err_in(int err, const char *path)
{
	char why[1024];

	snprintf(why, sizeof(why), "%s", ulo_errmsg());
	return ulo_err(err, "%s: %s", path, why);
}

static void cow_layer_free(struct cow_layer *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->bits);
	free(l);
}

/*
 * UML's lock of a COW file: ubd takes a POSIX record lock of the whole
 * file (fcntl F_SETLK, a write lock on a COW it writes, a read lock on
 * its backing file) and will not open a file locked against it.  A
 * flock() alone is invisible to it: UML and uloop could both write one
 * COW, each from its own copy of the bitmap, UML's bitmap words wiping
 * out bits uloop set since UML read them.  An open file description lock
 * is a POSIX lock to UML (its F_SETLK fails on ours, ours on its), and it
 * belongs to this fd like the flock: closing another fd of the same file
 * (cow_is_cow_file() does) does not drop it, as it would a F_SETLK of
 * ours.  -EBUSY if held against us; a filesystem without POSIX locks
 * (ENOLCK) is left with the flock only.
 */
static int cow_posix_lock(int fd, short type, const char *path)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return ulo_err(-EBUSY, "%s: in use by another program (a POSIX lock, as a UML kernel takes of its COW files)",
			       path);
	return 0;
}

/*
 * Lay out @h in @fd (a new file, or one whose header area is zero): the
 * bitmap zeroed and synced, the file sized, then the header, synced.
 */
static int cow_lay_out(int fd, const char *path, const struct ulo_uml_hdr *h,
		       bool blkdev, uint64_t have)
{
	uint8_t hdr[ULO_UML_HDR_MAX];
	uint64_t end = h->data_offset + h->size;
	int ret;

	if (blkdev && have < end) {
		char a[32], b[32];

		return ulo_err(-ENOSPC, "%s: too small for a COW of this image (%s, needs %s)",
			       path, ulo_fmt_size(have, a, sizeof(a)),
			       ulo_fmt_size(end, b, sizeof(b)));
	}
	if (blkdev)
		ret = ulo_pwrite_zeros(fd, h->bitmap_offset, h->bitmap_len);
	else
		ret = ftruncate(fd, (off_t)end) < 0 ? -errno : 0;
	if (!ret)
		ret = fdatasync(fd) < 0 ? -errno : 0;
	if (ret)
		return ulo_errno(ret, "%s: laying out the COW bitmap", path);
	ulo_failpoint("cow-created-bitmap");
	ret = ulo_uml_encode(h, hdr);
	if (ret)
		return cow_err_in(ret, path);
	ret = ulo_pwrite_full(fd, hdr, h->header_len, 0);
	if (!ret)
		ret = fsync(fd) < 0 ? -errno : 0;
	if (ret)
		return ulo_errno(ret, "%s: writing the COW header", path);
	return 0;
}

/* The header for a new top over a disk of @size whose lower part is
 * @backing (mtime @mtime), noting @tag. */
static int cow_new_header(struct ulo_uml_hdr *h, const char *backing,
			  uint32_t mtime, uint64_t size, uint32_t ss,
			  const char *tag)
{
	memset(h, 0, sizeof(*h));
	h->version = 3;
	h->big_endian = true;
	h->mtime = mtime;
	h->size = size;
	h->sector_size = ss;
	h->alignment = ULO_UML_ALIGN;
	if (strlen(backing) >= sizeof(h->backing))
		return ulo_err(-ENAMETOOLONG, "%s: name too long for a COW header (at most %zu bytes)",
			       backing, sizeof(h->backing) - 1);
	snprintf(h->backing, sizeof(h->backing), "%s", backing);
	if (tag)
		snprintf(h->tag, sizeof(h->tag), "%s", tag);
	return ulo_uml_layout(h);
}

/* A new regular file @path laid out as @h: made under a temporary name
 * and renamed into place, so that a crash never leaves half a COW there. */
static int cow_create_file(const char *path, const struct ulo_uml_hdr *h)
{
	char tmp[PATH_MAX + 8];
	int fd, ret;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp))
		return ulo_err(-ENAMETOOLONG, "%s: name too long", path);
	fd = ulo_create_fresh(AT_FDCWD, tmp, 0600);
	if (fd < 0)
		return ulo_errno(fd, "%s", tmp);
	ret = cow_lay_out(fd, tmp, h, false, 0);
	close(fd);
	if (!ret && rename(tmp, path) < 0)
		ret = ulo_errno(-errno, "%s: rename to %s", tmp, path);
	if (ret) {
		unlink(tmp);
		return ret;
	}
	return ulo_sync_dir_of(path);
}

/* Where a COW may be made without losing anything: a missing or empty
 * file, or a device whose first MiB is zero (as dd if=/dev/zero left it).
 * 1 if so, 0 if it holds something, -errno. */
static int cow_is_blank(const char *path)
{
	struct stat st;
	uint8_t *buf;
	int fd, ret;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? 1 : ulo_errno(-errno, "%s", path);
	if (S_ISREG(st.st_mode))
		return st.st_size == 0;
	if (!S_ISBLK(st.st_mode))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ulo_errno(-errno, "%s", path);
	buf = malloc(1 << 20);
	ret = buf ? ulo_pread_full(fd, buf, 1 << 20, 0) : -ENOMEM;
	if (!ret)
		ret = ulo_all_zero(buf, 1 << 20);
	else
		ret = ulo_errno(ret, "%s", path);
	free(buf);
	close(fd);
	return ret;
}

/*
 * Open one layer: header decoded and checked against the file's size,
 * bitmap read.  The top of a writable stack is opened read-write and
 * locked exclusively; with @create it is first made, as @create says,
 * if it is blank (cow_is_blank()).
 */
static int cow_layer_open(const char *path, bool writable,
			  const struct ulo_uml_hdr *create, struct cow_layer **out)
{
	struct cow_layer *l;
	uint8_t hdr[ULO_UML_HDR_MAX];
	struct stat st;
	uint64_t have;
	int ret;
	ssize_t n;
	bool fresh = false;

	if (create) {
		ret = cow_is_blank(path);
		if (ret < 0)
			return ret;
		fresh = ret > 0;
		if (ret) {
			if (stat(path, &st) == 0 && S_ISBLK(st.st_mode))
				ret = 0;	/* laid out in place, below */
			else if ((ret = cow_create_file(path, create)))
				return ret;
			else
				create = NULL;
		} else {
			create = NULL;
		}
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return ulo_errno(-ENOMEM, "%s", path);
	l->fresh = fresh;
	l->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (l->fd < 0) {
		ret = ulo_errno(-errno, "%s", path);
		goto fail;
	}
	if (!realpath(path, l->path)) {
		ret = ulo_errno(-errno, "%s", path);
		goto fail;
	}
	if (writable && flock(l->fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK
			? ulo_err(-EBUSY, "%s: in use by another uloop (locked)", path)
			: ulo_errno(-errno, "%s: flock", path);
		goto fail;
	}
	if (writable && (ret = cow_posix_lock(l->fd, F_WRLCK, path)))
		goto fail;
	if (fstat(l->fd, &st) < 0) {
		ret = ulo_errno(-errno, "%s", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		ret = ulo_err(-EINVAL, "%s: not a file or a block device", path);
		goto fail;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	have = cow_file_size(l->fd, &st);
	if (create) {
		/* A blank device: laid out where it is, header last. */
		ret = cow_lay_out(l->fd, path, create, true, have);
		if (ret)
			goto fail;
	}
	memset(hdr, 0, sizeof(hdr));
	n = pread(l->fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		ret = ulo_errno(-errno, "%s: reading the header", path);
		goto fail;
	}
	if (!ulo_uml_probe(hdr, (size_t)n)) {
		ret = ulo_err(-EINVAL, "%s: not a UML COW file (it holds other data; a COW is made only in a new or empty file, or on a device zeroed in its first MiB)",
			      path);
		goto fail;
	}
	if (ulo_uml_decode(hdr, (size_t)n, &l->h)) {
		ret = cow_err_in(-EINVAL, path);
		goto fail;
	}
	if (ulo_uml_tag_is_cache(l->h.tag)) {
		ret = ulo_err(-EINVAL, "%s: a uloop cache kept as a UML COW file (--format uml-cow): its sectors are the image's, not writes; use it with --cache",
			      path);
		goto fail;
	}
	if (have < l->h.bitmap_offset + l->h.bitmap_len) {
		ret = ulo_err(-EINVAL, "%s: cut short: %llu bytes, its bitmap ends at %llu",
			      path, (unsigned long long)have,
			      (unsigned long long)(l->h.bitmap_offset + l->h.bitmap_len));
		goto fail;
	}
	if (writable && l->h.covered < l->h.sectors) {
		ret = ulo_err(-EINVAL, "%s: UML COW %s whose bitmap has no bit for the last %llu sectors (UML's old rounding): it can be read, not written; put a new layer over it (uloop snapshot, or --cow NEW.cow over it)",
			      path, ulo_uml_version_name(&l->h),
			      (unsigned long long)(l->h.sectors - l->h.covered));
		goto fail;
	}
	l->bits = calloc(1, l->h.bitmap_len ? l->h.bitmap_len : 1);
	if (!l->bits) {
		ret = ulo_errno(-ENOMEM, "%s: bitmap", path);
		goto fail;
	}
	ret = ulo_pread_full(l->fd, l->bits, l->h.bitmap_len, l->h.bitmap_offset);
	if (ret) {
		ulo_errno(ret, "%s: reading the bitmap", path);
		goto fail;
	}
	*out = l;
	return 0;
fail:
	cow_layer_free(l);
	return ret;
}

/* The tag a COW over a non-file image notes: its identity. */
static void cow_tag_of(const struct ulo_identity *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s:%s", ULO_UML_TAG_PREFIX,
		 ulo_id_kind_name(id->kind), id->validator);
}

static bool cow_base_is_file(const struct ulo_identity *id)
{
	return id->location[0] == '/';
}

/* The mtime UML records for a backing file: seconds, 32 bits. */
static int cow_mtime_of(const char *path, uint32_t *mtime)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return ulo_errno(-errno, "%s", path);
	*mtime = (uint32_t)st.st_mtime;
	return 0;
}

/* Is the bottom layer @l over the image @id? */
static int cow_check_base(const struct cow_layer *l, const struct ulo_cow_opts *o)
{
	const struct ulo_identity *id = o->base;
	bool ignore_mtime = o->ignore_mtime;
	bool file = cow_base_is_file(id);
	char tag[ULO_UML_TAG_MAX];

	if (file ? !ulo_same_file(l->h.backing, id->location)
		 : !ulo_identity_at(id, l->h.backing))
		return ulo_err(-EINVAL, "%s: a COW over %s, not over %s",
			       l->path, l->h.backing, id->location);
	if (l->h.size != id->size)
		return ulo_err(-EINVAL, "%s: a COW over an image of %llu bytes; %s has %llu now: its writes would land on another image",
			       l->path, (unsigned long long)l->h.size,
			       id->location, (unsigned long long)id->size);
	if (file && id->kind == ULO_ID_FILE_MTIME && !ignore_mtime) {
		uint32_t m = 0;
		int ret = cow_mtime_of(id->location, &m);

		if (ret)
			return ret;
		if (m != l->h.mtime)
			return ulo_err(-EINVAL, "%s: %s was modified after this COW was made over it (mtime %u, the COW expects %u): its writes would land on another image",
				       l->path, id->location, m, l->h.mtime);
	}
	if (!file && l->h.tag[0]) {
		cow_tag_of(id, tag, sizeof(tag));
		if (strcmp(tag, l->h.tag))
			return ulo_err(-EINVAL, "%s: the image at %s changed since this COW was made over it (%s then, %s now): its writes would land on another image",
				       l->path, id->location,
				       l->h.tag + strlen(ULO_UML_TAG_PREFIX),
				       tag + strlen(ULO_UML_TAG_PREFIX));
		if (o->base_differed)
			return ulo_err(-EINVAL, "%s: the image at %s changed since this COW was made over it (the same %s, other bytes at offset %llu than the cache held): its writes would land on another image",
				       l->path, id->location, ulo_id_kind_name(id->kind),
				       (unsigned long long)o->base_differed_off);
	}
	return 0;
}

/* Is @lower what @upper was made over (UML's checks: size and mtime)? */
static int cow_check_lower(const struct cow_layer *upper,
			   const struct cow_layer *lower, bool ignore_mtime)
{
	struct stat st;

	if (fstat(lower->fd, &st) < 0)
		return ulo_errno(-errno, "%s", lower->path);
	if (lower->h.size != upper->h.size)
		return ulo_err(-EINVAL, "%s: made over a disk of %llu bytes; %s is one of %llu",
			       upper->path, (unsigned long long)upper->h.size,
			       lower->path, (unsigned long long)lower->h.size);
	if (lower->h.sector_size != upper->h.sector_size)
		return ulo_err(-EINVAL, "%s: %u-byte sectors over %s's %u: a stack has one sector size",
			       upper->path, upper->h.sector_size, lower->path,
			       lower->h.sector_size);
	if (!ignore_mtime && (uint32_t)st.st_mtime != upper->h.mtime)
		return ulo_err(-EINVAL, "%s: %s was modified after this COW was made over it (mtime %u, the COW expects %u)",
			       upper->path, lower->path, (uint32_t)st.st_mtime,
			       upper->h.mtime);
	return 0;
}

bool ulo_cow_is_cow_file(const char *path)
{
	uint8_t hdr[ULO_UML_HDR_MAX];
	struct ulo_uml_hdr h;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = pread(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (n < 4 || !ulo_uml_probe(hdr, (size_t)n))
		return false;
	/* A cache kept as a COW file (--format uml-cow) is a cache. */
	return ulo_uml_decode(hdr, (size_t)n, &h) || !ulo_uml_tag_is_cache(h.tag);
}

static int cow_push_lower(struct ulo_cow *s, const char *path,
			  bool ignore_mtime)
{
	struct cow_layer *l, *up = s->layer[s->depth - 1];
	int ret;

	if (s->depth == ULO_COW_MAX_DEPTH)
		return ulo_err(-ELOOP, "%s: a stack deeper than %u layers (a loop?)",
			       s->layer[0]->path, ULO_COW_MAX_DEPTH);
	ret = cow_layer_open(path, false, NULL, &l);
	if (ret)
		return ret;
	for (unsigned i = 0; i < s->depth; i++)
		if (s->layer[i]->dev == l->dev && s->layer[i]->ino == l->ino) {
			cow_layer_free(l);
			return ulo_err(-ELOOP, "%s: its stack comes back to %s (a loop)",
				       s->layer[0]->path, path);
		}
	/* A frozen layer is shared: another stack may be over it too. */
	if (!s->readonly) {
		flock(l->fd, LOCK_SH | LOCK_NB);
		/* And UML may not write it meanwhile (best effort, as above). */
		cow_posix_lock(l->fd, F_RDLCK, path);
	}
	ret = cow_check_lower(up, l, ignore_mtime);
	if (ret) {
		cow_layer_free(l);
		return ret;
	}
	s->layer[s->depth++] = l;
	return 0;
}

static int cow_alloc_dirty(struct ulo_cow *s)
{
	const struct cow_layer *t = s->layer[0];

	free(s->dirty);
	s->npages = (t->h.bitmap_len + COW_PAGE - 1) / COW_PAGE;
	s->dirty = calloc(1, s->npages ? s->npages : 1);
	if (!s->dirty)
		return ulo_errno(-ENOMEM, "%s: bitmap", t->path);
	s->held = 0;
	for (uint64_t i = 0; i < t->h.bitmap_len; i++)
		s->held += (uint64_t)__builtin_popcount(t->bits[i]);
	return 0;
}

static struct ulo_cow *cow_alloc(void)
{
	struct ulo_cow *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->bits_mx, NULL);
	pthread_mutex_init(&s->flush_mx, NULL);
	pthread_mutex_init(&s->rmw_mx, NULL);
	return s;
}

static int cow_flush_locked(struct ulo_cow *s, bool full_sync);

/* Mirror the top's bits in tmpfs (cow_pending.h), first taking back what
 * a daemon that died on this file in this boot had acknowledged: its
 * data is in the page cache, its bits only in the mirror.  They are
 * flushed (data, then bits) before anything else happens. */
static int cow_pending_start(struct ulo_cow *s)
{
	struct cow_layer *t = s->layer[0];
	const uint8_t *pb;
	uint64_t got = 0;
	int ret;

	ret = ulo_cow_pending_open(s->pending_dir, t->fd, &t->h,
				   t->fresh, &s->pending);
	if (ret)
		return ret;
	pb = ulo_cow_pending_bits(s->pending);
	for (uint64_t i = 0; i < t->h.bitmap_len; i++) {
		uint8_t add = (uint8_t)(pb[i] & ~t->bits[i]);

		if (!add)
			continue;
		t->bits[i] |= add;
		s->dirty[i / COW_PAGE] = 1;
		got += (uint64_t)__builtin_popcount(add);
	}
	if (got) {
		s->held += got;
		ret = cow_flush_locked(s, false);
		if (ret)
			return ret;
		s->recovered = got;
		ulo_warn("%s: %llu sectors written before its last daemon stopped, not yet flushed then, taken back and flushed",
			 t->path, (unsigned long long)got);
	}
	ulo_cow_pending_sync(s->pending, t->bits);
	return 0;
}

int ulo_cow_open(const struct ulo_cow_opts *o, struct ulo_cow **out)
{
	struct ulo_cow *s = cow_alloc();
	struct ulo_uml_hdr create;
	struct cow_layer *top;
	char tag[ULO_UML_TAG_MAX];
	int ret;

	if (!s)
		return ulo_errno(-ENOMEM, "%s", o->path);
	s->readonly = o->readonly;
	s->base_read = o->base_read;
	s->base_ctx = o->base_ctx;
	if (!o->readonly && o->base) {
		uint32_t mtime = 0;

		if (cow_base_is_file(o->base)) {
			tag[0] = 0;
			if (o->base->kind == ULO_ID_FILE_MTIME) {
				ret = cow_mtime_of(o->base->location, &mtime);
				if (ret)
					goto fail;
			}
		} else {
			cow_tag_of(o->base, tag, sizeof(tag));
		}
		ret = cow_new_header(&create, o->base->location, mtime,
				     o->base->size, ULO_UML_SECTOR, tag);
		if (ret)
			goto fail;
	}
	ret = cow_layer_open(o->path, !o->readonly,
			     o->readonly || !o->base ? NULL : &create, &top);
	if (ret)
		goto fail;
	s->layer[s->depth++] = top;
	/* Down the stack: a backing name that is a COW file is a layer. */
	while (!(o->base && cow_base_is_file(o->base) &&
		 ulo_same_file(s->layer[s->depth - 1]->h.backing, o->base->location)) &&
	       ulo_cow_is_cow_file(s->layer[s->depth - 1]->h.backing)) {
		ret = cow_push_lower(s, s->layer[s->depth - 1]->h.backing,
				     o->ignore_mtime);
		if (ret)
			goto fail;
	}
	if (o->base) {
		ret = cow_check_base(s->layer[s->depth - 1], o);
		if (ret)
			goto fail;
	}
	s->size = top->h.size;
	s->ss = top->h.sector_size;
	ret = cow_alloc_dirty(s);
	if (ret)
		goto fail;
	s->pending_dir = o->pending_dir;
	/* (no-cow-mirror: the test build shows what the mirror is for) */
	if (!o->readonly && o->pending_dir && !ulo_failpoint_mode("no-cow-mirror")) {
		ret = cow_pending_start(s);
		if (ret)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	ulo_cow_free(s);
	return ret;
}

int ulo_cow_find_base(const char *path, char *base_location, size_t len,
		      uint64_t *size)
{
	char cur[PATH_MAX];

	snprintf(cur, sizeof(cur), "%s", path);
	for (unsigned depth = 0; depth <= ULO_COW_MAX_DEPTH; depth++) {
		struct cow_layer *l;
		int ret = cow_layer_open(cur, false, NULL, &l);

		if (ret)
			return ret;
		*size = l->h.size;
		snprintf(base_location, len, "%s", l->h.backing);
		snprintf(cur, sizeof(cur), "%s", l->h.backing);
		cow_layer_free(l);
		if (!ulo_cow_is_cow_file(cur))
			return 0;
	}
	return ulo_err(-ELOOP, "%s: a stack deeper than %u layers (a loop?)",
		       path, ULO_COW_MAX_DEPTH);
}

/* Read [off, off + len) (inside the disk) through the stack; @lock held. */
static int cow_read_locked(struct ulo_cow *s, uint8_t *buf, uint64_t off,
			   size_t len)
{
	while (len) {
		uint64_t sec = off / s->ss, end = off + len;
		unsigned who = cow_owner(s, sec);
		uint64_t stop = (sec + 1) * s->ss;
		size_t n;
		int ret;

		while (stop < end && stop - off < COW_RUN_MAX &&
		       cow_owner(s, stop / s->ss) == who)
			stop += s->ss;
		n = (size_t)(ULO_MIN(stop, end) - off);
		if (who < s->depth) {
			const struct cow_layer *l = s->layer[who];

			ret = ulo_pread_full(l->fd, buf, n, l->h.data_offset + off);
			if (ret)
				return ulo_errno(ret, "%s: reading written sectors", l->path);
		} else if (s->base_read) {
			ret = s->base_read(s->base_ctx, buf, off, n);
			if (ret)
				return ret;
		} else {
			return ulo_err(-EIO, "%s: reading the image under it: no image given",
				       s->layer[0]->path);
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int cow_check_range(const struct ulo_cow *s, uint64_t off, size_t len)
{
	if (off > s->size || len > s->size - off)
		return ulo_err(-EINVAL, "%s: bytes %llu+%zu past the disk's end (%llu)",
			       s->layer[0]->path, (unsigned long long)off, len,
			       (unsigned long long)s->size);
	return 0;
}

int ulo_cow_read(struct ulo_cow *s, void *buf, uint64_t off, size_t len)
{
	int ret = cow_check_range(s, off, len);

	if (ret)
		return ret;
	pthread_rwlock_rdlock(&s->lock);
	ret = cow_read_locked(s, buf, off, len);
	pthread_rwlock_unlock(&s->lock);
	return ret;
}

/* The top holds sectors [sec, sec + n) now: their data is in the file. */
static void cow_set_bits(struct ulo_cow *s, uint64_t sec, uint64_t n)
{
	struct cow_layer *t = s->layer[0];

	pthread_mutex_lock(&s->bits_mx);
	for (uint64_t i = sec; i < sec + n; i++) {
		uint8_t m = (uint8_t)(1u << (i & 7));

		if (t->bits[i >> 3] & m)
			continue;
		__atomic_fetch_or(&t->bits[i >> 3], m, __ATOMIC_RELEASE);
		s->dirty[(i >> 3) / COW_PAGE] = 1;
		s->held++;
		if (s->pending)
			ulo_cow_pending_set(s->pending, i, 1);
	}
	pthread_mutex_unlock(&s->bits_mx);
}

static int cow_write_sectors(struct ulo_cow *s, const void *buf, uint64_t sec,
			     uint64_t n)
{
	struct cow_layer *t = s->layer[0];
	int ret = ulo_pwrite_full(t->fd, buf, n * s->ss,
				  t->h.data_offset + sec * s->ss);

	if (ret)
		return ulo_errno(ret, "%s: writing", t->path);
	cow_set_bits(s, sec, n);
	return 0;
}

/* Part of a sector: the rest of it read through the stack first. */
static int cow_write_part(struct ulo_cow *s, const uint8_t *src, uint64_t off,
			  size_t len)
{
	uint64_t sec = off / s->ss, start = sec * s->ss;
	size_t in = (size_t)ULO_MIN((uint64_t)s->ss, s->size - start);
	uint8_t *tmp = calloc(1, s->ss);
	int ret;

	if (!tmp)
		return ulo_errno(-ENOMEM, "cow");
	pthread_mutex_lock(&s->rmw_mx);
	ret = cow_read_locked(s, tmp, start, in);
	if (!ret) {
		memcpy(tmp + (off - start), src, len);
		ret = cow_write_sectors(s, tmp, sec, 1);
	}
	pthread_mutex_unlock(&s->rmw_mx);
	free(tmp);
	return ret;
}

int ulo_cow_write(struct ulo_cow *s, const void *buf, uint64_t off, size_t len)
{
	const uint8_t *p = buf;
	int ret = cow_check_range(s, off, len);

	if (ret)
		return ret;
	if (s->readonly)
		return ulo_err(-EROFS, "%s: opened read-only", s->layer[0]->path);
	pthread_rwlock_rdlock(&s->lock);
	if (__atomic_load_n(&s->error, __ATOMIC_ACQUIRE)) {
		ret = ulo_err(-EIO, "%s: a flush failed before: no more writes are taken",
			      s->layer[0]->path);
		goto out;
	}
	while (len && !ret) {
		uint64_t in = off % s->ss;
		size_t n;

		if (in || len < s->ss) {
			n = (size_t)ULO_MIN((uint64_t)len, s->ss - in);
			ret = cow_write_part(s, p, off, n);
		} else {
			n = len - len % s->ss;
			n = ULO_MIN(n, (size_t)COW_RUN_MAX);
			ret = cow_write_sectors(s, p, off / s->ss, n / s->ss);
		}
		p += n;
		off += n;
		len -= n;
	}
out:
	pthread_rwlock_unlock(&s->lock);
	return ret;
}

/* Flush the top: @lock held (shared, or exclusive by a snapshot). */
static int cow_flush_locked(struct ulo_cow *s, bool full_sync)
{
	struct cow_layer *t = s->layer[0];
	uint64_t *which = NULL, n = 0;
	uint8_t *pages = NULL;
	int ret = 0;

	pthread_mutex_lock(&s->flush_mx);
	if (s->error) {
		ret = ulo_err(-EIO, "%s: a flush failed before", t->path);
		goto out;
	}
	/* Take the changed pages as they are now: every bit in them is of
	 * a write whose data is in the file already. */
	pthread_mutex_lock(&s->bits_mx);
	for (uint64_t i = 0; i < s->npages; i++)
		n += s->dirty[i];
	if (n) {
		which = malloc(n * sizeof(*which));
		pages = malloc(n * COW_PAGE);
	}
	if (n && (!which || !pages)) {
		pthread_mutex_unlock(&s->bits_mx);
		ret = ulo_errno(-ENOMEM, "%s: flush", t->path);
		goto out;
	}
	n = 0;
	for (uint64_t i = 0; i < s->npages; i++) {
		if (!s->dirty[i])
			continue;
		s->dirty[i] = 0;
		which[n] = i;
		memcpy(pages + n * COW_PAGE, t->bits + i * COW_PAGE,
		       (size_t)ULO_MIN((uint64_t)COW_PAGE, t->h.bitmap_len - i * COW_PAGE));
		n++;
	}
	pthread_mutex_unlock(&s->bits_mx);

	/* The test build's control for the power-cut test leaves this
	 * flush out: the bug that test exists to catch. */
	if (ulo_failpoint_hit("cow-sync-eio"))
		ret = -EIO;
	else if (ulo_failpoint_mode("no-flush-before-bits"))
		ret = 0;
	else if ((full_sync ? fsync(t->fd) : fdatasync(t->fd)) < 0)
		ret = -errno;
	if (ret) {
		ulo_errno(ret, "%s: syncing written data", t->path);
		goto failed;
	}
	ulo_failpoint("cow-data-synced");
	for (uint64_t i = 0; i < n && !ret; i++) {
		uint64_t at = which[i] * COW_PAGE;

		ret = ulo_pwrite_full(t->fd, pages + i * COW_PAGE,
				      (size_t)ULO_MIN((uint64_t)COW_PAGE, t->h.bitmap_len - at),
				      t->h.bitmap_offset + at);
		if (!i)
			ulo_failpoint("cow-bits-written");
	}
	if (!ret && n && fdatasync(t->fd) < 0)
		ret = -errno;
	if (ret) {
		ulo_errno(ret, "%s: writing the bitmap", t->path);
		goto failed;
	}
	if (n)
		ulo_failpoint("cow-bits-synced");
	s->flushes++;
	goto out;
failed:
	/* What was written since the last flush may be lost; say so once
	 * and take no more writes (a later flush could not promise them). */
	ulo_warn("%s: %s; the COW takes no more writes", t->path, ulo_errmsg());
	__atomic_store_n(&s->error, ret, __ATOMIC_RELEASE);
	/* A sync that failed may have dropped the data (and a later sync,
	 * of another process, would not say so: fsyncgate): no daemon after
	 * this one may take the mirror's bits for it. */
	pthread_mutex_lock(&s->bits_mx);
	ulo_cow_pending_close(s->pending, true);
	s->pending = NULL;
	pthread_mutex_unlock(&s->bits_mx);
out:
	pthread_mutex_unlock(&s->flush_mx);
	free(which);
	free(pages);
	return ret;
}

int ulo_cow_flush(struct ulo_cow *s)
{
	int ret;

	if (s->readonly)
		return 0;
	pthread_rwlock_rdlock(&s->lock);
	ret = cow_flush_locked(s, false);
	pthread_rwlock_unlock(&s->lock);
	return ret;
}

static int cow_snapshot_here(struct ulo_cow *s, const char *path, const char *where);

int ulo_cow_snapshot(struct ulo_cow *s, const char *path, int rootfd)
{
	int cwd, ret;

	if (rootfd < 0)
		return cow_snapshot_here(s, path, path);
	/*
	 * Another root's path: resolved from that root as our working
	 * directory for the while (every other name this process opens is
	 * absolute, so no other thread's open sees the change; chroot()
	 * would be for good, and openat() reaches only the first file of
	 * the several a layer's making opens by name).  A ".." cannot climb
	 * out: the asker resolved the directory already (snapshot_abs()).
	 */
	if (path[0] != '/' || !path[1])
		return ulo_err(-EINVAL, "%s: not an absolute file name", path);
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return ulo_errno(-errno, "snapshot: the working directory");
	if (fchdir(rootfd) < 0) {
		ret = ulo_errno(-errno, "%s: the asking process's root", path);
	} else {
		ret = cow_snapshot_here(s, path, path + 1);
		if (fchdir(cwd) < 0 && !ret)
			ret = ulo_errno(-errno, "snapshot: back to the working directory");
	}
	close(cwd);
	return ret;
}

/* The snapshot, the new layer made as @where (@path, or relative to our
 * working directory). */
static int cow_snapshot_here(struct ulo_cow *s, const char *path, const char *where)
{
	struct cow_layer *old = s->layer[0], *l;
	struct ulo_cow_pending *pending = NULL;
	struct ulo_uml_hdr h;
	struct stat st;
	int fd, ret;

	if (s->readonly)
		return ulo_err(-EROFS, "%s: opened read-only", old->path);
	if (s->depth == ULO_COW_MAX_DEPTH)
		return ulo_err(-EMLINK, "%s: the stack has %u layers already, the most there may be; merge some (uloop merge)",
			       path, ULO_COW_MAX_DEPTH);
	/* A new file, never one that exists: it could be another's layer. */
	fd = open(where, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return ulo_errno(-errno, "%s", path);
	close(fd);
	pthread_rwlock_wrlock(&s->lock);
	/* The barrier: every write completed is in the old top, durably,
	 * mtime included (the new top records it). */
	ret = cow_flush_locked(s, true);
	if (!ret && fstat(old->fd, &st) < 0)
		ret = ulo_errno(-errno, "%s", old->path);
	if (!ret)
		ret = cow_new_header(&h, old->path, (uint32_t)st.st_mtime,
				     s->size, s->ss, NULL);
	if (!ret)
		ret = cow_layer_open(where, true, &h, &l);
	/* Named as the asker named it (realpath() of a relative name is the
	 * path from our root). */
	if (!ret && where != path)
		snprintf(l->path, sizeof(l->path), "%s", path);
	/* Beside the old top's mirror: its directory is held (after the
	 * daemon's switch_root the path leads elsewhere). */
	if (!ret && (s->pending || s->pending_dir)) {
		ret = s->pending
			? ulo_cow_pending_open_beside(s->pending, l->fd, &l->h, true, &pending)
			: ulo_cow_pending_open(s->pending_dir, l->fd, &l->h, true, &pending);
		if (ret)
			cow_layer_free(l);
	}
	if (ret) {
		unlink(where);
		goto out;
	}
	memmove(&s->layer[1], &s->layer[0], s->depth * sizeof(s->layer[0]));
	s->layer[0] = l;
	s->depth++;
	flock(old->fd, LOCK_SH | LOCK_NB);	/* frozen: shared from now on */
	cow_posix_lock(old->fd, F_RDLCK, old->path);
	/* The old top is flushed whole: its mirror has nothing to give. */
	ulo_cow_pending_close(s->pending, true);
	s->pending = pending;
	ret = cow_alloc_dirty(s);
out:
	pthread_rwlock_unlock(&s->lock);
	return ret;
}

/* The highest of layers [0, @k) holding @sec, or @k. */
static unsigned cow_owner_upto(const struct ulo_cow *s, unsigned k, uint64_t sec)
{
	unsigned i;

	for (i = 0; i < k; i++)
		if (cow_bit(s->layer[i], sec))
			break;
	return i;
}

uint64_t ulo_cow_run(struct ulo_cow *s, unsigned k, uint64_t sector,
		     uint64_t n, unsigned *owner)
{
	uint64_t run = 1;

	*owner = cow_owner_upto(s, k, sector);
	while (run < n && cow_owner_upto(s, k, sector + run) == *owner)
		run++;
	return run;
}

int ulo_cow_read_layer(struct ulo_cow *s, unsigned i, void *buf,
		       uint64_t sector, uint64_t n)
{
	const struct cow_layer *l = s->layer[i];
	uint64_t off = sector * s->ss;
	uint64_t len = ULO_MIN(n * s->ss, s->size - off);
	int ret = ulo_pread_full(l->fd, buf, (size_t)len, l->h.data_offset + off);

	return ret ? ulo_errno(ret, "%s: reading written sectors", l->path) : 0;
}

unsigned ulo_cow_depth(const struct ulo_cow *s)
{
	return s->depth;
}

const char *ulo_cow_path(const struct ulo_cow *s, unsigned i)
{
	return s->layer[i]->path;
}

const struct ulo_uml_hdr *ulo_cow_header(const struct ulo_cow *s, unsigned i)
{
	return &s->layer[i]->h;
}

uint64_t ulo_cow_size(const struct ulo_cow *s)
{
	return s->size;
}

uint32_t ulo_cow_sector_size(const struct ulo_cow *s)
{
	return s->ss;
}

uint64_t ulo_cow_top_bytes(struct ulo_cow *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->bits_mx);
	n = s->held * s->ss;
	pthread_mutex_unlock(&s->bits_mx);
	return n;
}

void ulo_cow_top_info(struct ulo_cow *s, char *top, size_t len,
		      unsigned *depth, uint64_t *bytes)
{
	pthread_rwlock_rdlock(&s->lock);
	snprintf(top, len, "%s", s->layer[0]->path);
	*depth = s->depth;
	*bytes = ulo_cow_top_bytes(s);
	pthread_rwlock_unlock(&s->lock);
}

uint64_t ulo_cow_flushes(struct ulo_cow *s)
{
	return __atomic_load_n(&s->flushes, __ATOMIC_RELAXED);
}

int ulo_cow_error(struct ulo_cow *s)
{
	return __atomic_load_n(&s->error, __ATOMIC_ACQUIRE);
}

void ulo_cow_free(struct ulo_cow *s)
{
	if (!s)
		return;
	if (!s->readonly && s->depth && ulo_cow_flush(s))
		ulo_warn("%s", ulo_errmsg());
	/* Flushed, or failed: the mirror has nothing to vouch for (a
	 * failed flush may have lost data the mirror's bits would claim). */
	ulo_cow_pending_close(s->pending, true);
	for (unsigned i = 0; i < s->depth; i++)
		cow_layer_free(s->layer[i]);
	free(s->dirty);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->bits_mx);
	pthread_mutex_destroy(&s->flush_mx);
	pthread_mutex_destroy(&s->rmw_mx);
	free(s);
}

uint64_t ulo_cow_layer_sectors(const struct ulo_cow *s, unsigned i)
{
	const struct cow_layer *l = s->layer[i];
	uint64_t n = 0;

	for (uint64_t b = 0; b < l->h.bitmap_len; b++)
		n += (uint64_t)__builtin_popcount(__atomic_load_n(&l->bits[b], __ATOMIC_RELAXED));
	return n;
}
