// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cache_native.c - the native cache format (docs/cache-format.md).
 *
 *   [0, 4K)     header slot 0     the two slots alternate by generation
 *   [4K, 8K)    header slot 1
 *   [8K, ...)   bitmap            1 bit per block, 4 KiB aligned
 *   [D, ...)    data              block i at D + i * block_size, D aligned
 *                                 to the block size
 *
 * The same layout lives in a regular (sparse) file or directly on a raw
 * partition.  Creating or re-creating a file cache builds it beside the old
 * one and renames it into place, so a crash leaves either the old cache or
 * the new one, never a file without a valid header.  On a partition there
 * is no rename: the old identity is forgotten first (unbind), then the
 * bitmap is zeroed and flushed, then the new header is written.  Each
 * layout gets a new random uuid: a reader without the lock (export,
 * check) compares it at the end to know no drop happened under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cache_internal.h"
#include "crc32c.h"
#include "devsig.h"
#include "failpoint.h"
#include "util.h"

struct ulo_native {
	struct ulo_header h;	/* the current header */
	bool have_header;	/* h came from disk or format() */
};

/*
 * May we lay a cache out over this, losing nothing?  A regular file: only
 * if it holds no data at all (empty or fully sparse, e.g. made with
 * truncate -s).  A device: if no signature of anything is on it and its
 * head is zero (devsig.c; what wipefs clears).  @what says what was found.
 */
static int ulo_native_blank(struct ulo_cache *c, uint64_t size, char *what,
			    size_t len)
{
	int ret;

	what[0] = '\0';
	if (!c->is_blkdev) {
		if (!(lseek(c->fd, 0, SEEK_DATA) < 0 && errno == ENXIO))
			snprintf(what, len, "a file with data in it");
		return 0;
	}
	ret = ulo_devsig_find(c->fd, size, what, len);
	if (ret)
		return ulo_errno(ret, "cache %s: probing for signatures", c->path);
	return 0;
}

/* The cache's geometry from header @h, which becomes the current one. */
static void ulo_native_adopt(struct ulo_cache *c, const struct ulo_header *h)
{
	struct ulo_native *n = c->fmt_priv;

	n->h = *h;
	n->have_header = true;
	c->image_size = h->image_size;
	c->nblocks = ulo_header_nblocks(h);
	c->data_offset = h->data_offset;
	c->csum_offset = h->csum_offset;
	/* In memory the bits are dense in either version. */
	c->bitmap_bytes = ULO_ROUND_UP(ulo_bitmap_disk_bytes(c->nblocks),
				       ULO_BITMAP_ALIGN);
	c->id = h->id;
	c->epoch = h->epoch;
	memcpy(c->bind_id, h->uuid, sizeof(c->bind_id));
}

/*
 * Format 2's bitmap sectors: 508 bytes of bits, then their CRC-32C.  An
 * all-zero sector is an empty one (a freshly laid out bitmap is zeros).
 */
static void ulo_native_encode_sector(const struct ulo_cache *c, uint64_t s,
				     uint8_t *out)
{
	uint64_t dense = ulo_bitmap_disk_bytes(c->nblocks);
	uint64_t off = s * ULO_BM_SECTOR_BITS;
	size_t len = off < dense ? ULO_MIN((uint64_t)ULO_BM_SECTOR_BITS, dense - off) : 0;

	memset(out, 0, ULO_BM_SECTOR);
	if (len)
		ulo_bitmap_store(&c->durable, out, off, len);
	ulo_put_le32(out + ULO_BM_SECTOR_BITS, ulo_crc32c(0, out, ULO_BM_SECTOR_BITS));
}

/* Check and compact the on-disk bitmap (ulo_header_bitmap_sectors), with
 * one warning for the sectors that failed. */
static void ulo_native_check_sectors(struct ulo_cache *c, uint8_t *bm,
				     uint64_t len)
{
	c->bm_csum_errors += ulo_header_bitmap_sectors(bm, len);
	if (c->bm_csum_errors)
		ulo_warn("cache %s: %" PRIu64 " bitmap sector%s failed %s checksum; the blocks %s covered are fetched again",
			 c->path, c->bm_csum_errors, c->bm_csum_errors == 1 ? "" : "s",
			 c->bm_csum_errors == 1 ? "its" : "their",
			 c->bm_csum_errors == 1 ? "it" : "they");
}

/* Rewrite every bitmap sector from the durable bits, and flush: damaged
 * sectors are made whole again (their bits cleared). */
static int ulo_native_repair_sectors(struct ulo_cache *c)
{
	struct ulo_native *n = c->fmt_priv;
	uint8_t sec[ULO_BM_SECTOR];
	uint64_t nsec = n->h.bitmap_length / ULO_BM_SECTOR;
	int ret;

	for (uint64_t s = 0; s < nsec; s++) {
		ulo_native_encode_sector(c, s, sec);
		ret = ulo_pwrite_full(c->fd, sec, sizeof(sec),
				      n->h.bitmap_offset + s * ULO_BM_SECTOR);
		if (ret)
			return ulo_errno(ret, "cache %s: pwrite (bitmap repair)", c->path);
	}
	if (fdatasync(c->fd) < 0)
		return ulo_errno(-errno, "cache %s: fdatasync (bitmap repair)", c->path);
	return 0;
}

static int ulo_native_load(struct ulo_cache *c)
{
	uint8_t area[ULO_HDR_AREA] = { 0 };
	struct ulo_native *n;
	struct ulo_header h;
	uint64_t size, stray;
	uint8_t *bm;
	struct stat st;
	char why[512], what[256];
	int ret, slot;

	n = calloc(1, sizeof(*n));
	if (!n)
		return ulo_errno(-ENOMEM, "cache %s", c->path);
	c->fmt_priv = n;
	if (fstat(c->fd, &st) < 0)
		return ulo_errno(-errno, "cache %s: fstat", c->path);
	size = c->is_blkdev ? c->capacity : (uint64_t)st.st_size;
	if (!size)
		return -ENODATA;
	ret = ulo_pread_full(c->fd, area, ULO_MIN(size, sizeof(area)), 0);
	if (ret)
		return ulo_errno(ret, "cache %s: pread (header)", c->path);
	ret = ulo_header_pick(area, &h, &slot, why, sizeof(why));
	if (ret && ret != -ENODATA && c->wipe)
		return -ENODATA;	/* damaged: --wipe starts over */
	if (ret == -EBADMSG && ulo_header_first_write_torn(area))
		/* A power cut during the first layout: no bit was committed,
		 * and the half header is ours, not someone's data.  An empty
		 * cache, to readers too; a writer lays it out anew. */
		return -ENODATA;
	if (ret == -ENODATA) {
		if (c->wipe)
			return -ENODATA;
		ret = ulo_native_blank(c, size, what, sizeof(what));
		if (ret)
			return ret;
		if (!what[0])
			return -ENODATA;
		if (c->readonly)
			return ulo_err(-EINVAL, "cache %s: not a uloop cache (no header magic)",
				       c->path);
		return ulo_err(-EEXIST,
			       "cache %s: holds other data (%s), not a uloop cache; refusing to overwrite it (pass --wipe to reuse it)",
			       c->path, what);
	}
	if (ret)
		return ulo_err(ret, "cache %s: %s%s", c->path, why,
			       c->readonly ? "" : " (pass --wipe to start over)");
	ret = ulo_header_check_layout(&h, size, why, sizeof(why));
	if (ret && c->wipe)
		return -ENODATA;
	if (ret)
		return ulo_err(ret, "cache %s: %s%s", c->path, why,
			       c->readonly ? "" : " (pass --wipe to start over)");

	c->block_shift = h.block_shift;
	c->block_size = 1u << h.block_shift;
	ulo_native_adopt(c, &h);
	c->was_clean = h.flags & ULO_HDR_F_CLEAN;
	c->unchecked = !c->was_clean;
	c->open_generation = h.generation;
	/* Format 1 has no checksums: a writer lays it out anew (bind.c's
	 * ulo_cache_bind sees this, unbinds first, then formats). */
	c->needs_relayout = h.version < ULO_HDR_VERSION && !c->readonly;
	ret = ulo_cache_alloc_bitmaps(c);
	if (ret)
		return ret;
	bm = malloc(h.bitmap_length);
	if (!bm)
		return ulo_errno(-ENOMEM, "cache %s: bitmap buffer", c->path);
	ret = ulo_pread_full(c->fd, bm, h.bitmap_length, h.bitmap_offset);
	if (ret) {
		free(bm);
		return ulo_errno(ret, "cache %s: pread (bitmap)", c->path);
	}
	if (h.version >= 2)
		ulo_native_check_sectors(c, bm, h.bitmap_length);
	stray = ulo_bitmap_load(&c->durable, bm, c->bitmap_bytes);
	free(bm);
	if (c->bm_csum_errors && !c->readonly && !stray) {
		ret = ulo_native_repair_sectors(c);
		if (ret)
			return ret;
	}
	if (stray && c->wipe)
		return -ENODATA;
	if (stray)
		return ulo_err(-EINVAL,
			       "cache %s: bitmap has %" PRIu64 " bits set past the last block (corrupt)",
			       c->path, stray);
	/* An unbound cache (a crash while dropping an image) holds nothing
	 * usable: its leftover bits are not trusted by anyone. */
	if (c->id.kind != ULO_ID_NONE)
		for (uint64_t i = 0; i < c->durable.nwords; i++)
			c->present.w[i] = c->durable.w[i];
	return 0;
}

static int ulo_native_write_slot(struct ulo_cache *c, int fd,
				 const struct ulo_header *h)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	uint64_t off = (h->generation & 1) * ULO_HDR_SLOT_SIZE;
	char why[512];
	int ret;

	/* Never write a header that would not open again. */
	ret = ulo_header_check_layout(h, c->capacity, why, sizeof(why));
	if (ret)
		return ulo_err(ret, "cache %s: refusing to write header: %s",
			       c->path, why);
	ulo_header_encode(h, slot);
	return ulo_cache_write_header_slot(c, fd, slot, off);
}

static int ulo_native_write_header(struct ulo_cache *c, bool clean)
{
	struct ulo_native *n = c->fmt_priv;
	struct ulo_header h = n->h;
	int ret;

	h.generation++;
	h.updated = (uint64_t)time(NULL);
	h.flags = clean ? ULO_HDR_F_CLEAN : 0;
	h.id = c->id;
	/* A clean header needs no epoch (nothing is recovered after a clean
	 * close), and without one a uloop from before the epoch reads it. */
	h.epoch = h.version >= 2 && !clean ? c->epoch : (struct ulo_epoch){ 0 };
	ret = ulo_native_write_slot(c, c->fd, &h);
	if (!ret)
		n->h = h;
	return ret;
}

static int ulo_native_unbind(struct ulo_cache *c)
{
	memset(&c->id, 0, sizeof(c->id));
	c->epoch.n = 0;
	return ulo_native_write_header(c, false);
}

/* ulo_cache_build_file()'s header step: the first slot, flushed. */
static int ulo_native_header_into(struct ulo_cache *c, int fd, const void *h)
{
	return ulo_native_write_slot(c, fd, h);
}

static int ulo_native_format(struct ulo_cache *c, const struct ulo_identity *id)
{
	struct ulo_native *n = c->fmt_priv;
	struct ulo_header h = { 0 };
	char why[512], a[32], b[32], d[32];
	int ret;

	h.version = ULO_HDR_VERSION;
	h.block_shift = c->block_shift;
	h.image_size = id->size;
	ulo_header_layout(&h);
	h.generation = n->have_header ? n->h.generation + 1 : 1;
	if (n->have_header)
		h.compat = n->h.compat;
	/* A new uuid per layout: readers holding the old one can tell. */
	if (getrandom(h.uuid, sizeof(h.uuid), 0) != sizeof(h.uuid))
		return ulo_errno(-errno, "cache %s: getrandom (uuid)", c->path);
	h.created = h.updated = (uint64_t)time(NULL);
	h.id = *id;
	if (ulo_header_check_layout(&h, c->capacity, why, sizeof(why)))
		return ulo_err(-ENOSPC,
			       "cache %s: too small: a %s image in %s blocks needs %s, the device has %s",
			       c->path, ulo_fmt_size(id->size, a, sizeof(a)),
			       ulo_fmt_size(c->block_size, b, sizeof(b)),
			       ulo_fmt_size(h.data_offset + h.data_length, d, sizeof(d)),
			       ulo_fmt_size(c->capacity, why, sizeof(why)));
	/* No sparse files there: the file is the image's size at once. */
	if (ulo_cache_fs_file_limit(c, h.data_offset + h.data_length, why, sizeof(why)))
		return ulo_err(-EFBIG, "cache %s: %s: a native cache is as large as the image; use --format compact (and --cache-size below 4G), whose file grows with what is fetched",
			       c->path, why);
	if (c->is_blkdev) {
		ret = ulo_pwrite_zeros(c->fd, h.bitmap_offset, h.bitmap_length);
		if (ret)
			ret = ulo_errno(ret, "cache %s: pwrite (clearing bitmap)", c->path);
		if (!ret && fdatasync(c->fd) < 0)
			ret = ulo_errno(-errno, "cache %s: fdatasync", c->path);
		if (ret)
			return ret;
		ulo_failpoint("format-zeroed");
		ret = ulo_native_write_slot(c, c->fd, &h);
	} else {
		ret = ulo_cache_build_file(c, h.data_offset + h.data_length, h.data_offset,
					   ulo_native_header_into, &h);
	}
	if (ret)
		return ret;
	ulo_native_adopt(c, &h);
	c->needs_relayout = false;
	return ulo_cache_alloc_bitmaps(c);
}

static int ulo_native_write_bitmap(struct ulo_cache *c, uint64_t off,
				   const void *buf, size_t len)
{
	struct ulo_native *n = c->fmt_priv;
	uint8_t secs[(ULO_BITMAP_ALIGN / ULO_BM_SECTOR_BITS + 2) * ULO_BM_SECTOR];
	uint64_t s0, s1;
	int ret;

	if (n->h.version < 2) {
		ret = ulo_pwrite_full(c->fd, buf, len, n->h.bitmap_offset + off);
		goto out;
	}
	/* Dense bytes [off, off + len) live in these sectors, each encoded
	 * whole from the durable bits with its CRC (commit_lock held). */
	s0 = off / ULO_BM_SECTOR_BITS;
	s1 = (off + len - 1) / ULO_BM_SECTOR_BITS;
	s1 = ULO_MIN(s1, n->h.bitmap_length / ULO_BM_SECTOR - 1);
	for (uint64_t s = s0; s <= s1; s++)
		ulo_native_encode_sector(c, s, secs + (s - s0) * ULO_BM_SECTOR);
	ret = ulo_pwrite_full(c->fd, secs, (s1 - s0 + 1) * ULO_BM_SECTOR,
			      n->h.bitmap_offset + s0 * ULO_BM_SECTOR);
out:
	if (ret)
		return ulo_errno(ret, "cache %s: pwrite (bitmap)", c->path);
	return 0;
}

static int ulo_native_sync(struct ulo_cache *c)
{
	if (fdatasync(c->fd) < 0)
		return ulo_errno(-errno, "cache %s: fdatasync (bitmap)", c->path);
	return 0;
}

static void ulo_native_close(struct ulo_cache *c)
{
	free(c->fmt_priv);
	c->fmt_priv = NULL;
}

static int ulo_native_read_binding(struct ulo_cache *c, struct ulo_identity *id,
				   uint8_t *bind_id)
{
	uint8_t area[ULO_HDR_AREA];
	struct ulo_header h;
	char why[512];
	int slot, ret;

	ret = ulo_pread_full(c->fd, area, sizeof(area), 0);
	if (ret)
		return ulo_errno(ret, "cache %s: pread (header)", c->path);
	ret = ulo_header_pick(area, &h, &slot, why, sizeof(why));
	if (ret)
		return ulo_err(ret, "cache %s: %s", c->path, why);
	*id = h.id;
	memcpy(bind_id, h.uuid, sizeof(h.uuid));
	return 0;
}

const struct ulo_cache_fmt ulo_cache_fmt_native = {
	.name = "native",
	.load = ulo_native_load,
	.unbind = ulo_native_unbind,
	.format = ulo_native_format,
	.write_bitmap = ulo_native_write_bitmap,
	.sync_bitmap = ulo_native_sync,
	.write_header = ulo_native_write_header,
	.read_binding = ulo_native_read_binding,
	.close = ulo_native_close,
};

bool ulo_native_upgrade_fits(struct ulo_cache *c, char *why, size_t len)
{
	struct ulo_native *n = c->fmt_priv;
	struct ulo_header h = n->h;
	struct statvfs vfs;
	char a[32], b[32];

	h.version = ULO_HDR_VERSION;
	ulo_header_layout(&h);
	if (ulo_header_check_layout(&h, c->capacity, why, len)) {
		snprintf(why, len, "format 2 needs %s, the device has %s",
			 ulo_fmt_size(h.data_offset + h.data_length, a, sizeof(a)),
			 ulo_fmt_size(c->capacity, b, sizeof(b)));
		return false;
	}
	/* A file is laid out beside the old one: header, bitmap and
	 * checksums written (not sparse) before the rename. */
	if (!c->is_blkdev && !fstatvfs(c->fd, &vfs) &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < h.data_offset) {
		snprintf(why, len, "format 2 needs %s free beside it, the filesystem has %s",
			 ulo_fmt_size(h.data_offset, a, sizeof(a)),
			 ulo_fmt_size((uint64_t)vfs.f_bavail * vfs.f_frsize, b, sizeof(b)));
		return false;
	}
	return true;
}

/* For `uloop info`: the current header of a native cache, or NULL. */
const struct ulo_header *ulo_native_header(const struct ulo_cache *c)
{
	const struct ulo_native *n = c->fmt_priv;

	if (c->fmt == &ulo_cache_fmt_compact)
		return ulo_compact_header(c);
	return c->fmt == &ulo_cache_fmt_native && n && n->have_header ?
		&n->h : NULL;
}
