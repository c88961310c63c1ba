// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cache_umlcow.c - a cache kept as a User-Mode Linux COW file
 * (`--format uml-cow`).
 *
 * A UML COW file says, with a bit per 512-byte sector, which sectors it
 * holds in place of its backing file's.  A cache is the same thing with
 * one more promise: what it holds *is* the backing file's bytes.  So a
 * cache of a local image, laid out as UML COW V3 (cow_uml.h) with the
 * image's absolute path, size and mtime in its header, is a COW file that
 * UML boots from (ubdN=cache,image) and that uml_moo merges back into the
 * very same image, while uloop serves it as a cache of anything: a URL's
 * cache names the URL as its backing file, which only uloop can open.
 *
 * The cache's identity (kind, validator: ETag, root hash, the file's
 * inode and mtime) and its bind id go after the backing name's NUL, where
 * UML's readers never look: "uloop:cache:BINDID:KIND:VALIDATOR" (KIND a
 * number, BINDID 32 hex digits; "uloop:cache:none" while an image is
 * being dropped).  That tag is what makes the file a cache: a COW of
 * writes (--cow, uml_mkcow, UML) has none and is refused here, so its
 * writes are never mistaken for image bytes; cow.c refuses a cache as a
 * COW of writes the same way.
 *
 * Blocks: the cache's block b (block_size >= 4 KiB) is sectors
 * [b * spb, (b + 1) * spb), spb = block_size / 512, so a block is whole
 * bytes of the UML bitmap, all 0xff when present.  A block only some of
 * whose sectors have bits (UML wrote part of it? a torn bitmap page) is
 * not present.  The write order is the common one (cache.c): data
 * flushed before its bits, bits flushed before a commit counts; UML's
 * bitmap has no header to rewrite, so a commit writes only bits.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_internal.h"
#include "cow_uml.h"
#include "failpoint.h"
#include "util.h"

#define UC_TAG ULO_UML_CACHE_TAG

struct ulo_umlcow {
	struct ulo_uml_hdr h;
};

static struct ulo_umlcow *uc_priv(struct ulo_cache *c)
{
	if (!c->fmt_priv)
		c->fmt_priv = calloc(1, sizeof(struct ulo_umlcow));
	return c->fmt_priv;
}

/* "BINDID:KIND:VALIDATOR" after the prefix; "none": no image bound. */
static int uc_parse_tag(const char *tag, struct ulo_identity *id, uint8_t *bind_id)
{
	const char *p = tag + strlen(UC_TAG);
	char *end;
	unsigned long kind;

	memset(bind_id, 0, 16);
	if (!strcmp(p, "none"))
		return 0;
	for (int i = 0; i < 16; i++) {
		unsigned v;

		if (sscanf(p + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		bind_id[i] = (uint8_t)v;
	}
	p += 32;
	if (*p++ != ':')
		return -EINVAL;
	kind = strtoul(p, &end, 10);
	if (end == p || *end != ':' || !kind || kind > ULO_ID_KIND_MAX)
		return -EINVAL;
	id->kind = (enum ulo_id_kind)kind;
	if (strlen(end + 1) >= sizeof(id->validator))
		return -EINVAL;
	snprintf(id->validator, sizeof(id->validator), "%s", end + 1);
	return 0;
}

static void uc_make_tag(char *tag, size_t len, const struct ulo_identity *id,
			const uint8_t *bind_id)
{
	int n;

	if (id->kind == ULO_ID_NONE) {
		snprintf(tag, len, UC_TAG "none");
		return;
	}
	n = snprintf(tag, len, UC_TAG);
	for (int i = 0; i < 16; i++)
		n += snprintf(tag + n, len - (size_t)n, "%02x", bind_id[i]);
	snprintf(tag + n, len - (size_t)n, ":%d:%s", (int)id->kind, id->validator);
}

/* Not ours to lay out: the reason, unless --wipe says to. */
static int uc_foreign(struct ulo_cache *c, const char *why)
{
	if (c->wipe)
		return -ENODATA;
	return ulo_err(-EEXIST, "cache %s: %s; refusing to overwrite it (pass --wipe to reuse it)",
		       c->path, why);
}

static bool uc_all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Is cache block @b whole in UML bitmap @bm (every sector's bit set)? */
static bool uc_block_whole(const struct ulo_cache *c, const struct ulo_uml_hdr *h,
			   const uint8_t *bm, uint64_t b)
{
	uint64_t spb = c->block_size / 512, s0 = b * spb;
	uint64_t s1 = ULO_MIN(s0 + spb, h->sectors);

	for (uint64_t s = s0; s < s1; s++) {
		if (!(s & 7) && s + 8 <= s1) {
			if (bm[s >> 3] != 0xff)
				return false;
			s += 7;
		} else if (!(bm[s >> 3] >> (s & 7) & 1)) {
			return false;
		}
	}
	return true;
}

static void uc_adopt(struct ulo_cache *c, const struct ulo_uml_hdr *h)
{
	c->image_size = h->size;
	c->nblocks = ULO_DIV_ROUND_UP(h->size, c->block_size);
	c->data_offset = h->data_offset;
	c->csum_offset = 0;
	c->bitmap_bytes = ULO_ROUND_UP(ULO_DIV_ROUND_UP(c->nblocks, 8), 4096);
	c->needs_relayout = false;
}

static int uc_load(struct ulo_cache *c)
{
	struct ulo_umlcow *u = uc_priv(c);
	uint8_t hdr[ULO_UML_HDR_MAX], *bm;
	struct ulo_uml_hdr h;
	uint64_t have = c->is_blkdev ? c->capacity : 0;
	struct stat st;
	ssize_t n;
	int ret;

	if (!u)
		return ulo_errno(-ENOMEM, "cache %s", c->path);
	if (c->block_size % 4096)
		return ulo_err(-EINVAL, "cache %s: a UML COW cache needs blocks of 4K or more", c->path);
	memset(hdr, 0, sizeof(hdr));
	n = pread(c->fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return ulo_errno(-errno, "cache %s: reading the header", c->path);
	if (!c->is_blkdev) {
		if (fstat(c->fd, &st) < 0)
			return ulo_errno(-errno, "cache %s: fstat", c->path);
		have = (uint64_t)st.st_size;
	}
	if (!n || uc_all_zero(hdr, (size_t)n))
		return -ENODATA;	/* new, or blank */
	if (!ulo_uml_probe(hdr, (size_t)n))
		return uc_foreign(c, "not a UML COW file (it holds other data)");
	if (ulo_uml_decode(hdr, (size_t)n, &h))
		return c->wipe ? -ENODATA :
			ulo_err(-EINVAL, "cache %s: %s", c->path, ulo_errmsg());
	if (!ulo_uml_tag_is_cache(h.tag))
		return c->wipe ? -ENODATA :
			ulo_err(-EINVAL, "cache %s: a UML COW file of writes (made by uml_mkcow, UML or --cow), not a cache: its sectors are not the image's; attach it with --cow",
				c->path);
	memset(&c->id, 0, sizeof(c->id));
	if (uc_parse_tag(h.tag, &c->id, c->bind_id))
		return c->wipe ? -ENODATA :
			ulo_err(-EINVAL, "cache %s: a malformed uloop tag in its backing field (pass --wipe to start over)",
				c->path);
	if (c->id.kind == ULO_ID_NONE)
		return -ENODATA;	/* ours, in the middle of a drop */
	if (h.version != 3 || h.sector_size != 512 || h.data_offset % 4096)
		return ulo_err(-EINVAL, "cache %s: UML COW %s with %u-byte sectors, data at %" PRIu64 ": a cache is V3, 512-byte sectors, data on 4 KiB",
			       c->path, ulo_uml_version_name(&h), h.sector_size, h.data_offset);
	if (strlen(h.backing) >= sizeof(c->id.location))
		return ulo_err(-EINVAL, "cache %s: its backing name is longer than an image location may be",
			       c->path);
	snprintf(c->id.location, sizeof(c->id.location), "%.*s",
		 (int)sizeof(c->id.location) - 1, h.backing);
	c->id.size = h.size;
	uc_adopt(c, &h);
	if (have < c->data_offset + c->nblocks * (uint64_t)c->block_size)
		return ulo_err(-EINVAL, "cache %s: cut short: %" PRIu64 " bytes, its last block ends at %" PRIu64,
			       c->path, have, c->data_offset + c->nblocks * (uint64_t)c->block_size);
	u->h = h;
	ret = ulo_cache_alloc_bitmaps(c);
	if (ret)
		return ret;
	bm = malloc(h.bitmap_len ? h.bitmap_len : 1);
	if (!bm)
		return ulo_errno(-ENOMEM, "cache %s: bitmap", c->path);
	ret = ulo_pread_full(c->fd, bm, h.bitmap_len, h.bitmap_offset);
	if (ret) {
		free(bm);
		return ulo_errno(ret, "cache %s: reading the bitmap", c->path);
	}
	for (uint64_t b = 0; b < c->nblocks; b++)
		if (uc_block_whole(c, &h, bm, b)) {
			ulo_bitmap_set(&c->durable, b);
			ulo_bitmap_set(&c->present, b);
		}
	free(bm);
	return 0;
}

/* Encode @h and write it at @fd's start, flushed. */
static int uc_write_hdr(struct ulo_cache *c, int fd, const void *arg)
{
	const struct ulo_uml_hdr *h = arg;
	uint8_t buf[ULO_UML_HDR_MAX];
	int ret;

	memset(buf, 0, sizeof(buf));
	if (ulo_uml_encode(h, buf))
		return ulo_err(-ENAMETOOLONG, "cache %s: the image's name and identity do not fit a UML COW header (4096 bytes)",
			       c->path);
	ret = ulo_pwrite_full(fd, buf, (size_t)h->header_len, 0);
	if (!ret && fdatasync(fd) < 0)
		ret = -errno;
	return ret ? ulo_errno(ret, "cache %s: writing the header", c->path) : 0;
}

/* The header for @id: what UML needs to open it over a local image. */
static int uc_header_for(struct ulo_cache *c, const struct ulo_identity *id,
			 const uint8_t *bind_id, struct ulo_uml_hdr *h)
{
	struct stat st;

	memset(h, 0, sizeof(*h));
	h->version = 3;
	h->big_endian = true;
	h->size = id->size;
	h->sector_size = 512;
	h->alignment = 4096;
	if (strlen(id->location) >= sizeof(h->backing))
		return ulo_err(-ENAMETOOLONG, "cache %s: the image's location is too long for a UML COW header",
			       c->path);
	snprintf(h->backing, sizeof(h->backing), "%s", id->location);
	/* UML checks a local backing file's mtime; a URL has none. */
	if (id->kind == ULO_ID_FILE_MTIME && stat(id->location, &st) == 0)
		h->mtime = (uint32_t)st.st_mtime;
	uc_make_tag(h->tag, sizeof(h->tag), id, bind_id);
	return ulo_uml_layout(h) ? ulo_err(-EINVAL, "cache %s: %s", c->path, ulo_errmsg()) : 0;
}

/* The header says "no image" before any bit goes: a crash from here on
 * leaves a file that is recognisably ours and holds nothing. */
static int uc_unbind(struct ulo_cache *c)
{
	struct ulo_umlcow *u = uc_priv(c);
	static const struct ulo_identity none;
	struct ulo_uml_hdr h = u->h;

	memset(&c->id, 0, sizeof(c->id));
	uc_make_tag(h.tag, sizeof(h.tag), &none, c->bind_id);
	return uc_write_hdr(c, c->fd, &h);
}

static int uc_format(struct ulo_cache *c, const struct ulo_identity *id)
{
	struct ulo_umlcow *u = uc_priv(c);
	uint64_t nblocks = ULO_DIV_ROUND_UP(id->size, c->block_size);
	struct ulo_uml_hdr h;
	uint8_t bind_id[16];
	char a[32], b[32];
	uint64_t end;
	int ret;

	if (!u)
		return ulo_errno(-ENOMEM, "cache %s", c->path);
	if (getrandom(bind_id, sizeof(bind_id), 0) != sizeof(bind_id))
		return ulo_errno(-errno, "cache %s: getrandom", c->path);
	ret = uc_header_for(c, id, bind_id, &h);
	if (ret)
		return ret;
	end = h.data_offset + nblocks * (uint64_t)c->block_size;
	if (c->is_blkdev) {
		if (end > c->capacity)
			return ulo_err(-ENOSPC, "cache %s: too small: a UML COW cache of a %s image needs %s, the device has %s",
				       c->path, ulo_fmt_size(id->size, a, sizeof(a)),
				       ulo_fmt_size(end, b, sizeof(b)),
				       ulo_fmt_size(c->capacity, a, sizeof(a)));
		/* In place: header cleared and bitmap zeroed first, flushed,
		 * the new header last. */
		ret = ulo_pwrite_zeros(c->fd, 0, h.data_offset);
		if (!ret && fdatasync(c->fd) < 0)
			ret = -errno;
		if (ret)
			return ulo_errno(ret, "cache %s: clearing the header and bitmap", c->path);
		ulo_failpoint("format-zeroed");
		ret = uc_write_hdr(c, c->fd, &h);
	} else {
		ret = ulo_cache_build_file(c, end, h.data_offset, uc_write_hdr, &h);
	}
	if (ret)
		return ret;
	u->h = h;
	c->id = *id;
	memcpy(c->bind_id, bind_id, sizeof(c->bind_id));
	uc_adopt(c, &h);
	return ulo_cache_alloc_bitmaps(c);
}

/* Dense bitmap bytes [@off, @off + @len) of blocks, as UML's bytes. */
static int uc_write_bitmap(struct ulo_cache *c, uint64_t off, const void *buf,
			   size_t len)
{
	struct ulo_umlcow *u = c->fmt_priv;
	uint64_t bpb = c->block_size / 4096;	/* UML bitmap bytes a block */
	uint64_t at = off * 8 * bpb, n;
	const uint8_t *src = buf;
	uint8_t *out;
	int ret;

	if (at >= u->h.bitmap_len)
		return 0;
	n = ULO_MIN((uint64_t)len * 8 * bpb, u->h.bitmap_len - at);
	out = malloc(n);
	if (!out)
		return ulo_errno(-ENOMEM, "cache %s: bitmap", c->path);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t blk = (at + i) / bpb - off * 8;

		out[i] = src[blk >> 3] >> (blk & 7) & 1 ? 0xff : 0;
	}
	ret = ulo_pwrite_full(c->fd, out, (size_t)n, u->h.bitmap_offset + at);
	free(out);
	return ret ? ulo_errno(ret, "cache %s: writing the bitmap", c->path) : 0;
}

static int uc_sync_bitmap(struct ulo_cache *c)
{
	if (fdatasync(c->fd) < 0)
		return ulo_errno(-errno, "cache %s: fdatasync", c->path);
	return 0;
}

/* No clean flag, no generation: UML's header changes only with the image
 * it is bound to (format, unbind). */
static int uc_write_header(struct ulo_cache *c, bool clean)
{
	(void)c;
	(void)clean;
	return 0;
}

static int uc_read_binding(struct ulo_cache *c, struct ulo_identity *id, uint8_t *bind_id)
{
	uint8_t hdr[ULO_UML_HDR_MAX];
	struct ulo_uml_hdr h;
	ssize_t n;

	memset(id, 0, sizeof(*id));
	memset(hdr, 0, sizeof(hdr));
	n = pread(c->fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return ulo_errno(-errno, "cache %s: reading the header", c->path);
	if (!ulo_uml_probe(hdr, (size_t)n) || ulo_uml_decode(hdr, (size_t)n, &h) ||
	    !ulo_uml_tag_is_cache(h.tag) || uc_parse_tag(h.tag, id, bind_id))
		return ulo_err(-EINVAL, "cache %s: no longer a UML COW cache", c->path);
	if (id->kind != ULO_ID_NONE) {
		snprintf(id->location, sizeof(id->location), "%.*s",
			 (int)sizeof(id->location) - 1, h.backing);
		id->size = h.size;
	}
	return 0;
}

static void uc_close(struct ulo_cache *c)
{
	free(c->fmt_priv);
	c->fmt_priv = NULL;
}

const struct ulo_cache_fmt ulo_cache_fmt_umlcow = {
	.name = "uml-cow",
	.load = uc_load,
	.unbind = uc_unbind,
	.format = uc_format,
	.write_bitmap = uc_write_bitmap,
	.sync_bitmap = uc_sync_bitmap,
	.write_header = uc_write_header,
	.read_binding = uc_read_binding,
	.close = uc_close,
};
