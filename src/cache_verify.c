// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cache_verify.c - reading a whole cache back: verify it against its
 * checksums and a source (uloop check), write its image out (uloop
 * export).
 *
 * Both read a cache without its lock, as it stands: the write order makes
 * any moment's on-disk state a consistent one, so a cache in use can be
 * checked or exported.  What a lockless reader cannot see is another
 * process dropping the image and laying the cache out for another one
 * under it; so both end by comparing the binding on disk with the one
 * read at open (ulo_cache_check_binding()), and what was read is not
 * trusted if it changed.  An export through an engine holds the lock
 * (the engine's cache is bound) and needs no such check.
 *
 * Verify reads the runs of present blocks in 1 MiB pieces, walking the
 * present bitmap a word at a time (a sparsely filled cache of a large
 * image costs nothing per absent block); a piece that fails its read or
 * a checksum is read again block by block to name each damaged block.
 * Damaged and differing blocks are counted, not errors: verify fails
 * only when it cannot tell (the source or memory failed, the cache was
 * laid out anew).  Lines about the first few go to the caller's report
 * function; printing them is the command's business.
 *
 * This file is a client of the cache and of the engine (export reads
 * through one); of cache_internal.h it uses the present bitmap and the
 * geometry.
 */
#include "cache_verify.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_internal.h"
#include "engine.h"
#include "source.h"
#include "util.h"

#define ULO_VERIFY_CHUNK (1u << 20)
#define ULO_EXPORT_CHUNK (4u << 20)

/* Count a bad block; name it if it is among the first report_max. */
static void ulo_verify_bad(const struct ulo_verify_opts *o,
			   struct ulo_verify_result *r, const char *msg)
{
	if (o && o->report && r->bad < o->report_max)
		o->report(msg);
	r->bad++;
}

/* Read present block @blk (checked against its CRC) into @buf: 0, 1
 * (damaged: counted and reported) or -errno. */
static int ulo_verify_block(struct ulo_cache *c, uint64_t blk, uint8_t *buf,
			    const struct ulo_verify_opts *o,
			    struct ulo_verify_result *r)
{
	uint64_t at;
	int ret = ulo_cache_read_checked(c, buf, blk << c->block_shift,
					 ulo_cache_block_len(c, blk), &at);

	if (ret != -EBADMSG && ret != -EIO)
		return ret;
	ulo_verify_bad(o, r, ulo_errmsg());
	return 1;
}

/* Count block @blk, at image offset @off, as differing from @src. */
static void ulo_verify_differs(struct ulo_cache *c, struct ulo_source *src,
			       uint64_t blk, uint64_t off,
			       const struct ulo_verify_opts *o,
			       struct ulo_verify_result *r)
{
	/* The report's line: a path and a location may be long. */
	char msg[PATH_MAX + ULO_ID_LOCATION_MAX + 96];

	snprintf(msg, sizeof(msg), "cache %s: block %" PRIu64 " (offset %" PRIu64
		 ") differs from %s", c->path, blk, off, src->id.location);
	ulo_verify_bad(o, r, msg);
}

int ulo_cache_verify(struct ulo_cache *c, struct ulo_source *src,
		     const struct ulo_verify_opts *o, struct ulo_verify_result *r)
{
	uint8_t *a = NULL, *b = NULL;
	uint64_t per, blk;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (!c->laid_out)
		return 0;
	a = malloc(ULO_VERIFY_CHUNK);
	b = malloc(ULO_VERIFY_CHUNK);
	if (!a || !b) {
		ret = ulo_errno(-ENOMEM, "check buffers");
		goto out;
	}
	per = ULO_MAX(1, ULO_VERIFY_CHUNK >> c->block_shift);
	for (blk = ulo_bitmap_next_set(&c->present, 0); blk < c->nblocks;
	     blk = ulo_bitmap_next_set(&c->present, blk)) {
		uint64_t n = 1, off = blk << c->block_shift, at;
		bool damaged[ULO_VERIFY_CHUNK / 4096] = { false };
		size_t len;

		while (n < per && blk + n < c->nblocks &&
		       ulo_cache_present(c, blk + n))
			n++;
		len = ULO_MIN(n << c->block_shift, c->image_size - off);
		ret = ulo_cache_read_checked(c, a, off, len, &at);
		if (ret == -EBADMSG || ret == -EIO) {
			/* Which blocks: each read again on its own. */
			for (uint64_t i = 0; i < n; i++) {
				ret = ulo_verify_block(c, blk + i,
						       a + (i << c->block_shift), o, r);
				if (ret < 0)
					goto out;
				damaged[i] = ret;
			}
			ret = 0;
		}
		if (!ret && src)
			ret = ulo_source_read(src, b, off, len, NULL);
		if (ret)
			goto out;
		for (uint64_t i = 0; src && i < n; i++) {
			size_t bo = i << c->block_shift;
			size_t bl = ULO_MIN(c->block_size, len - bo);

			if (!damaged[i] && memcmp(a + bo, b + bo, bl))
				ulo_verify_differs(c, src, blk + i, off + bo, o, r);
		}
		r->checked += n;
		blk += n;
	}
out:
	free(a);
	free(b);
	return ret ? ret : ulo_cache_check_binding(c);
}

/* Write @len bytes of @buf at @off of @fd; a pipe takes them in order. */
static int ulo_export_write(int fd, const uint8_t *buf, size_t len,
			    uint64_t off)
{
	int ret = ulo_pwrite_full(fd, buf, len, off);

	if (ret != -ESPIPE)
		return ret;
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0)
			return -errno;
		done += n;
	}
	return 0;
}

int ulo_cache_export(struct ulo_cache *c, int fd, const struct ulo_export_opts *o)
{
	uint64_t have = c->laid_out ? ulo_cache_count(c) : 0;
	uint8_t *buf;
	int ret = 0;

	if (!o->eng && (!c->laid_out || have < c->nblocks))
		return ulo_err(-ENODATA, "cache %s: %" PRIu64 " of %" PRIu64 " blocks missing",
			       c->path, c->nblocks - have, c->nblocks);
	buf = malloc(ULO_EXPORT_CHUNK);
	if (!buf)
		return ulo_errno(-ENOMEM, "export buffer");
	for (uint64_t off = 0; off < c->image_size && !ret; off += ULO_EXPORT_CHUNK) {
		size_t len = ULO_MIN(ULO_EXPORT_CHUNK, c->image_size - off);

		ret = o->eng ? ulo_engine_read(o->eng, buf, off, len) :
			ulo_cache_read(c, buf, off, len);
		if (!ret) {
			ret = ulo_export_write(fd, buf, len, off);
			if (ret)
				ret = ulo_errno(ret, "%s: write", o->name);
		}
	}
	free(buf);
	if (!ret && o->sync && fsync(fd) < 0)
		ret = ulo_errno(-errno, "%s: fsync", o->name);
	if (!ret && !o->eng)
		ret = ulo_cache_check_binding(c);
	return ret;
}
