// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * seedmap_compute.c - publish's search for a new version's blocks in an
 * older one (seedmap.h says what the map is for).
 *
 * Design notes
 *
 * Two passes, both over images held in memory (publish maps them):
 *
 *  1. Same offset: block i of the new image against block i of the old.
 *     ext4 and erofs images updated in place keep most blocks where they
 *     were; this pass finds them with one memcmp each.
 *
 *  2. Any offset: the blocks left are put in a hash table by a rolling
 *     checksum (rsync's: two 16-bit sums, one of the bytes and one
 *     weighted by position, updated in O(1) as the window slides one
 *     byte), and a window slides over the old image byte by byte.  Where
 *     the checksum hits, the bytes are compared; a match maps every new
 *     block with those bytes and the window jumps a block ahead, where
 *     the next block of a shifted stretch is.  This is zsync's search,
 *     done once on the server instead of on every node: the node gets the
 *     answer, a few lines per change, instead of a checksum per block.
 *
 * New blocks with equal bytes (zero blocks, mostly) share one table entry,
 * so a stretch of zeros in the old image costs one comparison, not one
 * per zero block of the new.
 */
#include "seedmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "util.h"

#define ULO_NO_OFF UINT64_MAX

struct ulo_rs_entry {
	uint32_t weak;
	uint64_t blk;		/* first new block with these bytes */
	int64_t next;		/* same bucket */
	int64_t dup;		/* next new block with the same bytes */
	bool done;
};

struct ulo_rs_table {
	struct ulo_rs_entry *e;
	int64_t *bucket;	/* first entry, -1: none */
	uint64_t mask, n;
	uint64_t uniq;		/* entries in buckets: distinct bytes */
};

/* rsync's weak checksum of @len bytes: a in the low half, b in the high. */
static uint32_t ulo_rs_sum(const uint8_t *p, uint32_t len, uint32_t *a, uint32_t *b)
{
	uint32_t s1 = 0, s2 = 0;

	for (uint32_t i = 0; i < len; i++) {
		s1 += p[i];
		s2 += (len - i) * (uint32_t)p[i];
	}
	*a = s1 & 0xffff;
	*b = s2 & 0xffff;
	return *a | *b << 16;
}

static uint64_t ulo_rs_bucket(const struct ulo_rs_table *t, uint32_t weak)
{
	return ((uint64_t)weak * 0x9e3779b97f4a7c15ull >> 20) & t->mask;
}

static int ulo_rs_build(struct ulo_rs_table *t, const uint8_t *new, uint32_t bs,
			const uint64_t *map, uint64_t nblk)
{
	uint64_t left = 0, nb = 1;

	for (uint64_t i = 0; i < nblk; i++)
		left += map[i] == ULO_NO_OFF;
	while (nb < 2 * left)
		nb <<= 1;
	t->e = malloc((left ? left : 1) * sizeof(*t->e));
	t->bucket = malloc(nb * sizeof(*t->bucket));
	if (!t->e || !t->bucket)
		return -ENOMEM;
	memset(t->bucket, 0xff, nb * sizeof(*t->bucket));
	t->mask = nb - 1;
	t->n = 0;
	for (uint64_t i = 0; i < nblk; i++) {
		const uint8_t *p = new + i * bs;
		uint32_t a, b, w;
		uint64_t h;
		int64_t k;

		if (map[i] != ULO_NO_OFF)
			continue;
		w = ulo_rs_sum(p, bs, &a, &b);
		h = ulo_rs_bucket(t, w);
		for (k = t->bucket[h]; k >= 0; k = t->e[k].next)
			if (t->e[k].weak == w && !memcmp(new + t->e[k].blk * bs, p, bs))
				break;
		t->e[t->n] = (struct ulo_rs_entry){ .weak = w, .blk = i, .next = -1, .dup = -1 };
		if (k >= 0) {	/* same bytes as an entry: chained to it */
			t->e[t->n].dup = t->e[k].dup;
			t->e[k].dup = (int64_t)t->n;
		} else {
			t->e[t->n].next = t->bucket[h];
			t->bucket[h] = (int64_t)t->n;
			t->uniq++;
		}
		t->n++;
	}
	return 0;
}

/* The table's entry whose bytes are the old image's at @p, not yet found:
 * its index, or -1. */
static int64_t ulo_rs_lookup(const struct ulo_rs_table *t, const uint8_t *new,
			     uint32_t bs, uint32_t w, const uint8_t *p)
{
	for (int64_t k = t->bucket[ulo_rs_bucket(t, w)]; k >= 0; k = t->e[k].next)
		if (t->e[k].weak == w && !t->e[k].done &&
		    !memcmp(new + t->e[k].blk * bs, p, bs))
			return k;
	return -1;
}

static void ulo_rs_search(struct ulo_rs_table *t, const uint8_t *old, uint64_t old_len,
			  const uint8_t *new, uint32_t bs, uint64_t *map)
{
	uint64_t pos = 0, found = 0;
	uint32_t a = 0, b = 0;
	bool fresh = true;

	while (pos + bs <= old_len && found < t->uniq) {
		int64_t k;

		if (fresh) {
			ulo_rs_sum(old + pos, bs, &a, &b);
			fresh = false;
		}
		k = ulo_rs_lookup(t, new, bs, a | b << 16, old + pos);
		if (k >= 0) {
			t->e[k].done = true;
			found++;
			for (int64_t d = k; d >= 0; d = t->e[d].dup)
				map[t->e[d].blk] = pos;
			pos += bs;
			fresh = true;
			continue;
		}
		if (pos + bs == old_len)
			break;
		/* Slide one byte: drop old[pos], take old[pos + bs]. */
		a = (a - old[pos] + old[pos + bs]) & 0xffff;
		b = (b - bs * (uint32_t)old[pos] + a) & 0xffff;
		pos++;
	}
}

int ulo_seedmap_compute(const uint8_t *old, uint64_t old_len, const uint8_t *new,
			uint64_t new_len, uint32_t bs, struct ulo_seedmap *m)
{
	uint64_t nblk = new_len / bs;
	struct ulo_rs_table t = { 0 };
	uint64_t *map = malloc((nblk ? nblk : 1) * sizeof(*map));
	int ret = 0;

	if (!map)
		return -ENOMEM;
	for (uint64_t i = 0; i < nblk; i++)
		map[i] = (i + 1) * bs <= old_len && !memcmp(old + i * bs, new + i * bs, bs) ?
			 i * bs : ULO_NO_OFF;
	if (old_len >= bs) {
		ret = ulo_rs_build(&t, new, bs, map, nblk);
		if (!ret)
			ulo_rs_search(&t, old, old_len, new, bs, map);
	}
	for (uint64_t i = 0; !ret && i < nblk; i++)
		if (map[i] != ULO_NO_OFF)
			ret = ulo_seedmap_add(m, i, 1, map[i]);
	free(t.e);
	free(t.bucket);
	free(map);
	return ret;
}

int ulo_seedmap_compute_files(int old_fd, const char *old_what, int new_fd,
			      const char *new_what, uint64_t new_len, uint32_t bs,
			      struct ulo_seedmap *m)
{
	struct stat st;
	void *old, *new;
	int ret;

	if (fstat(old_fd, &st) < 0)
		return ulo_errno(-errno, "%s: stat", old_what);
	if (!st.st_size || !new_len || new_len % bs)
		return ulo_err(-EINVAL, "%s, %s: no blocks of %u bytes to compare",
			       old_what, new_what, bs);
	ret = ulo_mmap_ro(old_fd, (uint64_t)st.st_size, old_what, &old);
	if (ret)
		return ret;
	ret = ulo_mmap_ro(new_fd, new_len, new_what, &new);
	if (ret) {
		munmap(old, (size_t)st.st_size);
		return ret;
	}
	m->block_size = bs;
	m->blocks = new_len / bs;
	m->old_size = (uint64_t)st.st_size;
	ret = ulo_seedmap_compute(old, m->old_size, new, new_len, bs, m);
	if (ret)
		ret = ulo_errno(ret, "%s, %s: seed map", old_what, new_what);
	munmap(new, new_len);
	munmap(old, (size_t)st.st_size);
	return ret;
}
