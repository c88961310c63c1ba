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
 * The 2007 layout has no header, so nothing recorded which image a cache
 * held.  We record the identity in an extended attribute of the bitmap
 * file (user.uloop.identity) where the filesystem allows it; a 2007 cache
 * without it is adopted when its size matches, as the 2007 readme asked
 * users to name the same URL again.  The write order is the common one
 * (cache.c): data, flush the cache file, then bits, flush the bitmap file.
 * Dropping an image first empties the bitmap file (no bit survives), then
 * removes the attribute, then lays both files out anew (truncation frees
 * the old data), then records the new identity; a cache with an empty
 * file counts as new, so a crash at any of these steps loses nothing.  A 2007 cache on a filesystem without user xattrs (old
 * tmpfs) cannot tell two images of the same size apart, exactly as in 2007.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache.h"
#include "failpoint.h"
#include "util.h"

#define ULO_2007_XATTR "user.uloop.identity"

static uint64_t ulo_2007_bitmap_size(uint64_t nblocks)
{
	return ULO_MAX(ULO_2007_PAGE,
		       ULO_ROUND_UP(ULO_DIV_ROUND_UP(nblocks, 8), ULO_2007_PAGE));
}

/* "kind\nsize\nvalidator\nlocation" */
static int ulo_2007_get_id(struct ulo_cache *c, struct ulo_identity *id)
{
	char buf[ULO_ID_LOCATION_MAX + ULO_ID_VALIDATOR_MAX + 64];
	char *p, *q, *r;
	ssize_t n;

	memset(id, 0, sizeof(*id));
	n = fgetxattr(c->bfd, ULO_2007_XATTR, buf, sizeof(buf) - 1);
	if (n < 0) {
		if (errno == ENODATA || errno == ENOTSUP)
			return 0;
		return ulo_errno(-errno, "bitmap %s: fgetxattr %s",
				 c->bitmap_path, ULO_2007_XATTR);
	}
	buf[n] = '\0';
	p = strchr(buf, '\n');
	q = p ? strchr(p + 1, '\n') : NULL;
	r = q ? strchr(q + 1, '\n') : NULL;
	if (!r || strlen(q + 1) == 0 || (size_t)(r - q - 1) >= ULO_ID_VALIDATOR_MAX ||
	    strlen(r + 1) >= ULO_ID_LOCATION_MAX)
		goto bad;
	*p = *q = *r = '\0';
	id->kind = strtoul(buf, NULL, 10);
	id->size = strtoull(p + 1, NULL, 10);
	if (id->kind == ULO_ID_NONE || id->kind > ULO_ID_KIND_MAX || !id->size)
		goto bad;
	memcpy(id->validator, q + 1, r - q);
	snprintf(id->location, sizeof(id->location), "%s", r + 1);
	return 0;
bad:
	return ulo_err(-EINVAL, "bitmap %s: malformed %s attribute",
		       c->bitmap_path, ULO_2007_XATTR);
}

static int ulo_2007_set_id(struct ulo_cache *c, const struct ulo_identity *id)
{
	char buf[ULO_ID_LOCATION_MAX + ULO_ID_VALIDATOR_MAX + 64];
	int n;

	n = snprintf(buf, sizeof(buf), "%d\n%" PRIu64 "\n%s\n%s", id->kind,
		     id->size, id->validator, id->location);
	if (fsetxattr(c->bfd, ULO_2007_XATTR, buf, n, 0) < 0) {
		/* No user xattrs here (e.g. an old tmpfs): the cache works as
		 * in 2007, trusting the user to name the same image. */
		if (errno == ENOTSUP)
			return 0;
		return ulo_errno(-errno, "bitmap %s: fsetxattr %s",
				 c->bitmap_path, ULO_2007_XATTR);
	}
	if (fsync(c->bfd) < 0)
		return ulo_errno(-errno, "bitmap %s: fsync", c->bitmap_path);
	return 0;
}

static int ulo_2007_load(struct ulo_cache *c)
{
	struct stat cs, bs;
	uint64_t stray;
	uint8_t *bm;
	int ret;

	if (fstat(c->fd, &cs) < 0)
		return ulo_errno(-errno, "cache %s: fstat", c->path);
	if (fstat(c->bfd, &bs) < 0)
		return ulo_errno(-errno, "bitmap %s: fstat", c->bitmap_path);
	/*
	 * Either file empty: no bit can claim data, so nothing is lost by
	 * laying the cache out anew.  This is also every state a crash can
	 * leave while an image is dropped (see ulo_2007_unbind).
	 */
	if (cs.st_size && c->bitmap_created && !c->wipe)
		return ulo_err(-EEXIST,
			       "cache %s: holds data but its bitmap %s is new; refusing to overwrite it (pass --wipe to reuse it)",
			       c->path, c->bitmap_path);
	if (!cs.st_size || !bs.st_size)
		return -ENODATA;
	if (cs.st_size % ULO_2007_PAGE || !cs.st_size)
		return ulo_err(-EINVAL,
			       "cache %s: size %lld is not a multiple of the page size (not a 2007 uloop cache?)",
			       c->path, (long long)cs.st_size);
	c->nblocks = cs.st_size / ULO_2007_PAGE;
	c->image_size = cs.st_size;
	c->data_offset = 0;
	/* The 2007 code sized the bitmap with cache/4096/8 (truncating). */
	if ((uint64_t)bs.st_size < ULO_MAX(ULO_2007_PAGE, c->nblocks / 8) ||
	    bs.st_size % ULO_2007_PAGE)
		return ulo_err(-EINVAL,
			       "bitmap %s: size %lld does not fit cache %s of %lld bytes",
			       c->bitmap_path, (long long)bs.st_size, c->path,
			       (long long)cs.st_size);
	/* A truncated 2007 bitmap grows when its last bits are written. */
	c->bitmap_bytes = ULO_MAX((uint64_t)bs.st_size,
				  ulo_2007_bitmap_size(c->nblocks));
	ret = ulo_2007_get_id(c, &c->id);
	if (ret)
		return ret;
	if (c->id.kind != ULO_ID_NONE) {
		if (ULO_ROUND_UP(c->id.size, ULO_2007_PAGE) != (uint64_t)cs.st_size)
			return ulo_err(-EINVAL,
				       "cache %s: size %lld does not match its recorded image size %" PRIu64,
				       c->path, (long long)cs.st_size, c->id.size);
		c->image_size = c->id.size;
	}
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
		return ulo_err(-EINVAL,
			       "bitmap %s: %" PRIu64 " bits set past the end of cache %s (corrupt or not its bitmap)",
			       c->bitmap_path, stray, c->path);
	for (uint64_t i = 0; i < c->durable.nwords; i++)
		c->present.w[i] = c->durable.w[i];
	return 0;
}

/*
 * Clear the bits before forgetting the identity: a 2007 cache without an
 * identity is adopted by size, so an identity-less cache must never keep
 * bits of the image being dropped.
 */
static int ulo_2007_unbind(struct ulo_cache *c)
{
	memset(&c->id, 0, sizeof(c->id));
	if (ftruncate(c->bfd, 0) < 0 || fsync(c->bfd) < 0)
		return ulo_errno(-errno, "bitmap %s: truncate", c->bitmap_path);
	if (fremovexattr(c->bfd, ULO_2007_XATTR) < 0 && errno != ENODATA &&
	    errno != ENOTSUP)
		return ulo_errno(-errno, "bitmap %s: fremovexattr", c->bitmap_path);
	if (fsync(c->bfd) < 0)
		return ulo_errno(-errno, "bitmap %s: fsync", c->bitmap_path);
	return 0;
}

static int ulo_2007_format(struct ulo_cache *c, const struct ulo_identity *id)
{
	uint64_t size = ULO_ROUND_UP(id->size, ULO_2007_PAGE);
	uint64_t nblocks = size / ULO_2007_PAGE;
	uint64_t bsize = ulo_2007_bitmap_size(nblocks);
	int ret;

	/* Truncating to 0 first frees the old image's data and bits. */
	if (ftruncate(c->bfd, 0) < 0 || ftruncate(c->bfd, (off_t)bsize) < 0 ||
	    fsync(c->bfd) < 0)
		return ulo_errno(-errno, "bitmap %s: resize", c->bitmap_path);
	ulo_failpoint("format-zeroed");
	if (ftruncate(c->fd, 0) < 0 || ftruncate(c->fd, (off_t)size) < 0 ||
	    fsync(c->fd) < 0)
		return ulo_errno(-errno, "cache %s: resize", c->path);
	ret = ulo_2007_set_id(c, id);
	if (ret)
		return ret;
	c->image_size = id->size;
	c->nblocks = nblocks;
	c->data_offset = 0;
	c->bitmap_bytes = bsize;
	c->id = *id;
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

/* No header: the identity is recorded once, when it is first known. */
static int ulo_2007_write_header(struct ulo_cache *c, bool clean)
{
	struct ulo_identity rec;
	int ret;

	(void)clean;
	if (c->id.kind == ULO_ID_NONE)
		return 0;
	ret = ulo_2007_get_id(c, &rec);
	if (ret || ulo_identity_same(&rec, &c->id))
		return ret;
	return ulo_2007_set_id(c, &c->id);
}

const struct ulo_cache_fmt ulo_cache_fmt_2007 = {
	.name = "2007",
	.load = ulo_2007_load,
	.unbind = ulo_2007_unbind,
	.format = ulo_2007_format,
	.write_bitmap = ulo_2007_write_bitmap,
	.sync_bitmap = ulo_2007_sync,
	.write_header = ulo_2007_write_header,
};
