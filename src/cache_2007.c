// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cache_2007.c - the two-file layout of the 2007 ULOOP sample, so caches
 * made by ulohttp/ulobdev keep working.
 *
 * As the 2007 readme says: the cache file is the image itself (sparse,
 * its size rounded up to the page size); the bitmap file has one bit per
 * page (4 KiB), its size rounded up to the page size.  The 2007 code
 * computed that size with a truncating division; we size it with a proper
 * round-up and accept the older, shorter files too when no bit is lost.
 *
 * The record.  The 2007 files have no header, so nothing said which image
 * they held.  uloop keeps a record in an extended attribute of the bitmap
 * file, user.uloop.identity = "kind\nsize\nvalidator\nlocation\nbind-id",
 * where bind-id is random and new at every layout.  Kind 0 ("dropping")
 * means: this pair is uloop's, and no image is bound.  The record is what
 * proves a pair is uloop's to overwrite:
 *
 *   record with an image   a uloop cache of that image
 *   record "dropping"      uloop's, being laid out anew: lay it out
 *   no record, some bit    a cache made by the 2007 tools: adopted when
 *                          its size matches the image named
 *   both files empty       new
 *   anything else          somebody's files: refused without --wipe
 *
 * Dropping an image: the record becomes "dropping" (flushed) before the
 * bits are cleared; then the cache file is emptied (freeing the old data),
 * the bitmap and the cache file are sized for the new image, and the new
 * record is written last.  A crash anywhere in between leaves "dropping".
 * The data write order is the common one (cache.c).  On a filesystem
 * without user xattrs (an old tmpfs) there is no record: the pair works as
 * in 2007, cannot tell two images of the same size apart, and a crash in
 * the middle of a drop leaves files that need --wipe.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache_internal.h"
#include "failpoint.h"
#include "util.h"

#define ULO_2007_XATTR "user.uloop.identity"

struct ulo_2007_rec {
	bool present;		/* the attribute exists */
	bool supported;		/* the filesystem has user xattrs */
	struct ulo_identity id;	/* kind NONE: "dropping" */
	uint8_t bind_id[16];
};

static uint64_t ulo_2007_bitmap_size(uint64_t nblocks)
{
	return ULO_MAX(ULO_2007_PAGE,
		       ULO_ROUND_UP(ULO_DIV_ROUND_UP(nblocks, 8), ULO_2007_PAGE));
}

static int ulo_2007_get_rec(struct ulo_cache *c, struct ulo_2007_rec *rec)
{
	char buf[ULO_2007_REC_MAX + 1];
	ssize_t n;

	memset(rec, 0, sizeof(*rec));
	rec->supported = true;
	n = fgetxattr(c->bfd, ULO_2007_XATTR, buf, sizeof(buf) - 1);
	if (n < 0) {
		if (errno == ENOTSUP)
			rec->supported = false;
		else if (errno != ENODATA)
			return ulo_errno(-errno, "bitmap %s: fgetxattr %s",
					 c->bitmap_path, ULO_2007_XATTR);
		return 0;
	}
	if (ulo_2007_rec_decode(buf, n, &rec->id, rec->bind_id))
		return ulo_err(-EINVAL, "bitmap %s: malformed %s attribute (pass --wipe to start over)",
			       c->bitmap_path, ULO_2007_XATTR);
	rec->present = true;
	return 0;
}

/* Write the record (kind NONE: "dropping") and flush it. */
static int ulo_2007_set_rec(struct ulo_cache *c, const struct ulo_identity *id,
			    const uint8_t *bind_id)
{
	char buf[ULO_2007_REC_MAX];
	int n;

	n = snprintf(buf, sizeof(buf), "%d\n%" PRIu64 "\n%s\n%s\n", id->kind,
		     id->size, id->validator, id->location);
	for (int i = 0; i < 16; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%02x", bind_id[i]);
	if (fsetxattr(c->bfd, ULO_2007_XATTR, buf, n, 0) < 0) {
		if (errno == ENOTSUP)
			return 0;
		return ulo_errno(-errno, "bitmap %s: fsetxattr %s",
				 c->bitmap_path, ULO_2007_XATTR);
	}
	if (fsync(c->bfd) < 0)
		return ulo_errno(-errno, "bitmap %s: fsync", c->bitmap_path);
	return 0;
}

/* Not a cache we may take over: the reason, for the error message. */
static int ulo_2007_foreign(struct ulo_cache *c, const char *why)
{
	if (c->wipe)
		return -ENODATA;
	return ulo_err(-EEXIST, "cache %s, bitmap %s: %s; refusing to overwrite them (pass --wipe to reuse them)",
		       c->path, c->bitmap_path, why);
}

static int ulo_2007_load(struct ulo_cache *c)
{
	struct ulo_2007_rec rec;
	struct stat cs, bs;
	uint64_t stray, nblocks;
	uint8_t *bm;
	int ret;

	/* The image itself is the cache file: sized and emptied with
	 * ftruncate, which a device has no use for (and would take a
	 * device's st_size of 0 for a new, empty cache). */
	if (c->is_blkdev)
		return ulo_err(-EINVAL, "cache %s: the 2007 layout (--bitmap) keeps the image in a regular file, not on a device (leave out --bitmap for a raw partition)",
			       c->path);
	if (fstat(c->fd, &cs) < 0)
		return ulo_errno(-errno, "cache %s: fstat", c->path);
	if (fstat(c->bfd, &bs) < 0)
		return ulo_errno(-errno, "bitmap %s: fstat", c->bitmap_path);
	ret = ulo_2007_get_rec(c, &rec);
	if (ret)
		return c->wipe ? -ENODATA : ret;
	if (rec.present && rec.id.kind == ULO_ID_NONE)
		return -ENODATA;	/* ours, in the middle of a drop */
	if (!cs.st_size && !bs.st_size)
		return -ENODATA;	/* new */
	if (!cs.st_size || cs.st_size % ULO_2007_PAGE)
		return rec.present || c->readonly ?
			ulo_err(-EINVAL, "cache %s: size %lld is not a non-zero multiple of the page size (not a 2007 uloop cache?)",
				c->path, (long long)cs.st_size) :
			ulo_2007_foreign(c, "the cache file is not a 2007 cache (its size is not a multiple of the page size)");
	nblocks = cs.st_size / ULO_2007_PAGE;
	/* The 2007 code sized the bitmap with cache/4096/8 (truncating). */
	if ((uint64_t)bs.st_size < ULO_MAX(ULO_2007_PAGE, nblocks / 8) ||
	    bs.st_size % ULO_2007_PAGE)
		return rec.present || c->readonly ?
			ulo_err(-EINVAL, "bitmap %s: size %lld does not fit cache %s of %lld bytes",
				c->bitmap_path, (long long)bs.st_size, c->path,
				(long long)cs.st_size) :
			ulo_2007_foreign(c, "the bitmap file does not fit the cache file");
	if (rec.present &&
	    ULO_ROUND_UP(rec.id.size, ULO_2007_PAGE) != (uint64_t)cs.st_size) {
		if (c->wipe)
			return -ENODATA;
		return ulo_err(-EINVAL,
			       "cache %s: size %lld does not match its recorded image size %" PRIu64 " (pass --wipe to start over)",
			       c->path, (long long)cs.st_size, rec.id.size);
	}
	c->nblocks = nblocks;
	c->image_size = rec.present ? rec.id.size : (uint64_t)cs.st_size;
	c->data_offset = 0;
	/* A truncated 2007 bitmap grows when its last bits are written. */
	c->bitmap_bytes = ULO_MAX((uint64_t)bs.st_size,
				  ulo_2007_bitmap_size(c->nblocks));
	c->id = rec.id;
	memcpy(c->bind_id, rec.bind_id, sizeof(c->bind_id));
	ret = ulo_cache_alloc_bitmaps(c);
	if (ret)
		return ret;
	bm = malloc(bs.st_size);
	if (!bm)
		return ulo_errno(-ENOMEM, "bitmap %s", c->bitmap_path);
	ret = ulo_pread_full(c->bfd, bm, bs.st_size, 0);
	if (ret) {
		free(bm);
		return ulo_errno(ret, "bitmap %s: pread", c->bitmap_path);
	}
	stray = ulo_bitmap_load(&c->durable, bm, bs.st_size);
	free(bm);
	if (stray)
		return c->wipe ? -ENODATA : ulo_err(-EINVAL,
			       "bitmap %s: %" PRIu64 " bits set past the end of cache %s (corrupt or not its bitmap)",
			       c->bitmap_path, stray, c->path);
	if (!rec.present && rec.supported && !ulo_bitmap_count(&c->durable) &&
	    !c->readonly)
		return ulo_2007_foreign(c, "no uloop record and no block marked present");
	for (uint64_t i = 0; i < c->durable.nwords; i++)
		c->present.w[i] = c->durable.w[i];
	return 0;
}

/* Mark the pair "dropping" before any bit goes, so a crash from here on
 * leaves a pair that is recognisably ours and holds no image. */
static int ulo_2007_unbind(struct ulo_cache *c)
{
	static const struct ulo_identity none;
	int ret;

	memset(&c->id, 0, sizeof(c->id));
	ret = ulo_2007_set_rec(c, &none, c->bind_id);
	if (ret)
		return ret;
	if (ftruncate(c->bfd, 0) < 0)
		return ulo_errno(-errno, "bitmap %s: truncate", c->bitmap_path);
	if (fsync(c->bfd) < 0)
		return ulo_errno(-errno, "bitmap %s: fsync", c->bitmap_path);
	return 0;
}

static int ulo_2007_format(struct ulo_cache *c, const struct ulo_identity *id)
{
	static const struct ulo_identity none;
	uint64_t size = ULO_ROUND_UP(id->size, ULO_2007_PAGE);
	uint64_t nblocks = size / ULO_2007_PAGE;
	uint64_t bsize = ulo_2007_bitmap_size(nblocks);
	uint8_t bind_id[16];
	int ret;

	if (getrandom(bind_id, sizeof(bind_id), 0) != sizeof(bind_id))
		return ulo_errno(-errno, "cache %s: getrandom", c->path);
	/* Ours from here on, whatever was there (unbind did this already
	 * unless the pair was new or wiped). */
	ret = ulo_2007_set_rec(c, &none, bind_id);
	if (ret)
		return ret;
	if (ftruncate(c->fd, 0) < 0 || fsync(c->fd) < 0)
		return ulo_errno(-errno, "cache %s: truncate", c->path);
	if (ftruncate(c->bfd, 0) < 0 || ftruncate(c->bfd, (off_t)bsize) < 0)
		return ulo_errno(-errno, "bitmap %s: resize", c->bitmap_path);
	/* Written, not left sparse: a full filesystem must never be able to
	 * refuse a bitmap write later, which would stop every commit. */
	ret = ulo_pwrite_zeros(c->bfd, 0, bsize);
	if (ret)
		return ulo_errno(ret, "bitmap %s: pwrite", c->bitmap_path);
	if (fsync(c->bfd) < 0)
		return ulo_errno(-errno, "bitmap %s: fsync", c->bitmap_path);
	ulo_failpoint("format-zeroed");
	if (ftruncate(c->fd, (off_t)size) < 0 || fsync(c->fd) < 0)
		return ulo_errno(-errno, "cache %s: resize", c->path);
	ret = ulo_2007_set_rec(c, id, bind_id);
	if (ret)
		return ret;
	c->image_size = id->size;
	c->nblocks = nblocks;
	c->data_offset = 0;
	c->bitmap_bytes = bsize;
	c->id = *id;
	memcpy(c->bind_id, bind_id, sizeof(c->bind_id));
	return ulo_cache_alloc_bitmaps(c);
}

static int ulo_2007_write_bitmap(struct ulo_cache *c, uint64_t off,
				 const void *buf, size_t len)
{
	int ret = ulo_pwrite_full(c->bfd, buf, len, off);

	if (ret)
		return ulo_errno(ret, "bitmap %s: pwrite", c->bitmap_path);
	return 0;
}

static int ulo_2007_sync(struct ulo_cache *c)
{
	if (fdatasync(c->bfd) < 0)
		return ulo_errno(-errno, "bitmap %s: fdatasync", c->bitmap_path);
	return 0;
}

/* No header: the record is written when the image is first known (the
 * adoption of a 2007 cache), and otherwise only by format(). */
static int ulo_2007_write_header(struct ulo_cache *c, bool clean)
{
	struct ulo_2007_rec rec;
	int ret;

	(void)clean;
	if (c->id.kind == ULO_ID_NONE)
		return 0;
	ret = ulo_2007_get_rec(c, &rec);
	if (ret || (rec.present && ulo_identity_same(&rec.id, &c->id)))
		return ret;
	if (!rec.present && getrandom(c->bind_id, sizeof(c->bind_id), 0) !=
	    sizeof(c->bind_id))
		return ulo_errno(-errno, "cache %s: getrandom", c->path);
	return ulo_2007_set_rec(c, &c->id, c->bind_id);
}

static int ulo_2007_read_binding(struct ulo_cache *c, struct ulo_identity *id,
				 uint8_t *bind_id)
{
	struct ulo_2007_rec rec;
	int ret = ulo_2007_get_rec(c, &rec);

	*id = rec.id;
	memcpy(bind_id, rec.bind_id, sizeof(rec.bind_id));
	return ret;
}

const struct ulo_cache_fmt ulo_cache_fmt_2007 = {
	.name = "2007",
	.load = ulo_2007_load,
	.unbind = ulo_2007_unbind,
	.format = ulo_2007_format,
	.write_bitmap = ulo_2007_write_bitmap,
	.sync_bitmap = ulo_2007_sync,
	.write_header = ulo_2007_write_header,
	.read_binding = ulo_2007_read_binding,
};
