// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bind.c - bind a cache to a source: the identity, then a sample of bytes.
 *
 * The identity (size + ETag or Last-Modified, inode/mtime/ctime, device
 * fingerprint) decides whether a cache holds the source's image.  Over
 * HTTP it can lie: nginx's ETag is mtime-size, so an image replaced by
 * another of the same size with its mtime kept (cp -p, rsync -t, a build
 * that pins SOURCE_DATE_EPOCH) keeps its ETag and Last-Modified, and the
 * cache would serve old blocks beside new ones.  So a cache kept for the
 * same identity is also compared with the source on a sample of what it
 * holds, before anything is served:
 *
 *   - the first 4 KiB of the image, when cached: the superblock of every
 *     filesystem uloop mounts (squashfs, erofs, ext4) records its own
 *     creation time, size or inode count, so any rebuilt image differs
 *     there;
 *   - 4 KiB of each of ULO_BIND_RANDOM present blocks picked at random,
 *     new ones at every start, so a fleet booting daily covers the cache.
 *
 * The ranges are read in parallel (one round trip on a link with latency,
 * over the source's parallel connections).  Any difference drops the
 * cache (ULO_BIND_DIFFERED) or, offline, refuses it.  What a sample cannot
 * see is an image that differs from the cached one only in blocks it did
 * not pick; a manifest closes that (its identity is the root hash, which
 * names every byte: no sample is taken; docs/verity.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bind.h"
#include "cache_internal.h"
#include "util.h"

#define ULO_BIND_SPAN 4096	/* bytes compared per sample */

struct ulo_sample {
	struct ulo_source *src;
	uint64_t off;
	size_t len;
	uint8_t *buf;		/* the source's bytes */
	int ret;
	char msg[256];		/* the source's error, from its thread */
};

static void *ulo_sample_read(void *arg)
{
	struct ulo_sample *s = arg;

	s->ret = ulo_source_read(s->src, s->buf, s->off, s->len, NULL);
	if (s->ret)
		snprintf(s->msg, sizeof(s->msg), "%s", ulo_errmsg());
	return NULL;
}

/* A random 4 KiB-aligned range inside present block @blk. */
static void ulo_sample_in(struct ulo_cache *c, uint64_t blk, uint64_t rnd,
			  struct ulo_sample *s)
{
	uint64_t blen = ulo_cache_block_len(c, blk);
	uint64_t slots = ULO_DIV_ROUND_UP(blen, ULO_BIND_SPAN);

	s->off = (blk << c->block_shift) + (rnd % slots) * ULO_BIND_SPAN;
	s->len = ULO_MIN((uint64_t)ULO_BIND_SPAN,
			 (blk << c->block_shift) + blen - s->off);
}

/* Pick the sample: the head, then random present blocks.  Returns n. */
static unsigned ulo_sample_pick(struct ulo_cache *c, struct ulo_sample *s)
{
	uint64_t rnd[2 * ULO_BIND_RANDOM], picked[ULO_BIND_RANDOM + 1];
	unsigned n = 0;

	if (ulo_cache_present(c, 0)) {
		s[n].off = 0;
		s[n].len = ULO_MIN((uint64_t)ULO_BIND_SPAN, c->image_size);
		picked[n++] = 0;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return n;	/* no randomness: the head alone */
	for (unsigned i = 0; i < ULO_BIND_RANDOM; i++) {
		uint64_t blk = ulo_bitmap_next_set(&c->present,
						   rnd[2 * i] % c->nblocks);
		bool dup = false;

		if (blk >= c->nblocks)	/* none after it: wrap around */
			blk = ulo_bitmap_next_set(&c->present, 0);
		for (unsigned j = 0; j < n; j++)
			dup |= picked[j] == blk;
		if (blk >= c->nblocks || dup)
			continue;	/* a small cache: fewer samples */
		ulo_sample_in(c, blk, rnd[2 * i + 1], &s[n]);
		picked[n++] = blk;
	}
	return n;
}

/* Compare the sample with the source: 0 same, 1 different, or -errno. */
static int ulo_sample_compare(struct ulo_cache *c, struct ulo_source *src,
			      uint64_t *differ_off, unsigned *sampled)
{
	struct ulo_sample s[ULO_BIND_RANDOM + 1] = { 0 };
	pthread_t thr[ULO_BIND_RANDOM + 1];
	bool started[ULO_BIND_RANDOM + 1] = { false };
	uint8_t *mine = NULL;
	unsigned n = ulo_sample_pick(c, s);
	uint64_t bad;
	int ret = 0;

	*sampled = n;
	if (!n)
		return 0;
	mine = malloc(ULO_BIND_SPAN);
	for (unsigned i = 0; i < n; i++) {
		s[i].src = src;
		s[i].buf = malloc(ULO_BIND_SPAN);
		if (!s[i].buf || !mine) {
			ret = ulo_errno(-ENOMEM, "cache %s: sample buffers", c->path);
			goto out;
		}
	}
	/* Thread 0's read runs here; a failed pthread_create reads inline. */
	for (unsigned i = 1; i < n; i++)
		started[i] = !pthread_create(&thr[i], NULL, ulo_sample_read, &s[i]);
	ulo_sample_read(&s[0]);
	for (unsigned i = 1; i < n; i++) {
		if (started[i])
			pthread_join(thr[i], NULL);
		else
			ulo_sample_read(&s[i]);
	}
	for (unsigned i = 0; i < n && !ret; i++) {
		if (s[i].ret) {
			ret = ulo_err(s[i].ret,
				      "cache %s: cannot compare a sample of it with %s: %s",
				      c->path, src->id.location, s[i].msg);
			break;
		}
		ret = ulo_cache_read_checked(c, mine, s[i].off, s[i].len, &bad);
		if (ret && ret != -ENOMEM) {
			/* The flash's damage, not the image's change: that
			 * block is taken back and fetched again. */
			ulo_cache_fault(c, bad, ret);
			ret = 0;
			continue;
		}
		if (ret)
			break;
		if (memcmp(mine, s[i].buf, s[i].len)) {
			*differ_off = s[i].off;
			ret = 1;
		}
	}
out:
	for (unsigned i = 0; i < n; i++)
		free(s[i].buf);
	free(mine);
	return ret;
}

int ulo_bind_source(struct ulo_cache *c, struct ulo_source *src, bool offline,
		    struct ulo_bind_info *bi)
{
	int ret;

	memset(bi, 0, sizeof(*bi));
	ret = ulo_cache_bind(c, &src->id, offline, &bi->res, &bi->dropped);
	if (!ret && bi->res == ULO_BIND_REUSED)
		ret = ulo_cache_recover(c, &bi->rec);
	/* A root hash names every byte, and every fetched byte was checked
	 * against it: nothing to compare. */
	if (ret || (bi->res != ULO_BIND_REUSED && bi->res != ULO_BIND_ADOPTED) ||
	    !ulo_cache_count(c) || src->id.kind == ULO_ID_VERITY)
		return ret;
	ret = ulo_sample_compare(c, src, &bi->differ_off, &bi->sampled);
	if (ret <= 0)
		return ret;
	if (offline)
		return ulo_err(-ESTALE,
			       "cache %s: %s has the same size and %s as the cached image but other bytes at offset %" PRIu64 "; offline, so the cache is kept and not used",
			       c->path, src->id.location,
			       ulo_id_kind_name(src->id.kind), bi->differ_off);
	bi->res = ULO_BIND_DIFFERED;
	src->differed = true;
	src->differed_off = bi->differ_off;
	return ulo_cache_drop(c, &src->id, &bi->dropped);
}
