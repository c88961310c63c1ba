// SPDX-License-Identifier: GPL-2.0-or-later
/* seed.c - see seed.h. */
#include "seed.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "util.h"

struct ulo_seed {
	struct ulo_cache *old;
	struct ulo_seedmap map;
	uint64_t available;
	char path[PATH_MAX];
	int dirfd;	/* @path's directory, for the removal (util.h) */
	/* Blocks put (rebuilt from a pack), sorted: under @lock. */
	pthread_mutex_t lock;
	uint64_t *put_blk;
	uint8_t *put_data;
	uint64_t nput, capput;
};

/* The index of put block @blk, or -1.  Lock held. */
static int64_t ulo_seed_find_put(const struct ulo_seed *s, uint64_t blk)
{
	uint64_t lo = 0, hi = s->nput;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (s->put_blk[mid] < blk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nput && s->put_blk[lo] == blk ? (int64_t)lo : -1;
}

/* Does the old cache hold all of its bytes [@off, + @len), @len > 0? */
static bool ulo_seed_holds(struct ulo_seed *s, uint64_t off, uint64_t len)
{
	uint32_t cbs = ulo_cache_block_size(s->old);

	for (uint64_t b = off / cbs; b <= (off + len - 1) / cbs; b++)
		if (!ulo_cache_present(s->old, b))
			return false;
	return true;
}

/* Where new block @blk lies in the old image, if the old cache holds all
 * of it. */
static bool ulo_seed_where(struct ulo_seed *s, uint64_t blk, uint64_t *off)
{
	return !ulo_seedmap_find(&s->map, blk, off) && ulo_seed_holds(s, *off, s->map.block_size);
}

int ulo_seed_open(const char *path, struct ulo_seedmap *map, struct ulo_seed **out)
{
	/* Buffered: see ulo_cache_reopen_direct(). */
	struct ulo_cache_opts co = { .path = path, .readonly = true, .buffered = true };
	struct ulo_seed *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		ulo_seedmap_free(map);
		return ulo_errno(-ENOMEM, "%s", path);
	}
	s->map = *map;
	memset(map, 0, sizeof(*map));
	s->dirfd = -1;
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->path, sizeof(s->path), "%s", path);
	ret = ulo_cache_open(&co, &s->old);
	if (!ret) {
		s->dirfd = ulo_dir_hold(path);
		ret = s->dirfd < 0 ? s->dirfd : 0;
	}
	if (!ret && (!ulo_cache_is_laid_out(s->old) ||
		     ulo_cache_image_size(s->old) < s->map.old_size))
		ret = ulo_err(-EINVAL, "%s: not a cache of the older version the seed map is from",
			      path);
	if (ret) {
		ulo_seed_close(s, false);
		return ret;
	}
	for (uint64_t r = 0; r < s->map.nruns; r++)
		for (uint64_t i = 0; i < s->map.runs[r].count; i++) {
			uint64_t off;

			s->available += ulo_seed_where(s, s->map.runs[r].blk + i, &off);
		}
	*out = s;
	return 0;
}

/* Is @blk among the blocks put?  (None put, the common case of a boot's
 * reads: no lock taken.) */
static bool ulo_seed_is_put(struct ulo_seed *s, uint64_t blk)
{
	bool put;

	if (!__atomic_load_n(&s->nput, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&s->lock);
	put = ulo_seed_find_put(s, blk) >= 0;
	pthread_mutex_unlock(&s->lock);
	return put;
}

bool ulo_seed_has(struct ulo_seed *s, uint64_t blk)
{
	uint64_t off;

	return ulo_seed_is_put(s, blk) || ulo_seed_where(s, blk, &off);
}

int ulo_seed_read(struct ulo_seed *s, uint64_t blk, void *buf)
{
	uint64_t off, bad;
	int64_t i;

	pthread_mutex_lock(&s->lock);
	i = ulo_seed_find_put(s, blk);
	if (i >= 0)
		memcpy(buf, s->put_data + (uint64_t)i * s->map.block_size, s->map.block_size);
	pthread_mutex_unlock(&s->lock);
	if (i >= 0)
		return 0;
	if (!ulo_seed_where(s, blk, &off) ||
	    ulo_cache_read_checked(s->old, buf, off, s->map.block_size, &bad))
		return -ENOENT;
	return 0;
}

/* At most this much old image is read at once. */
#define ULO_SEED_READ_MAX (1u << 20)

uint64_t ulo_seed_read_blocks(struct ulo_seed *s, uint64_t blk, uint64_t n, void *buf,
			      uint8_t *got)
{
	uint32_t bs = s->map.block_size;
	uint8_t *p = buf;
	uint64_t done = 0, i = 0;

	while (i < n) {
		uint64_t off, o2, j, bad;
		bool put = ulo_seed_is_put(s, blk + i);

		if (put || !ulo_seed_where(s, blk + i, &off)) {
			got[i] = put && !ulo_seed_read(s, blk + i, p + i * bs);
			done += got[i];
			i++;
			continue;
		}
		/* The stretch whose old bytes follow each other. */
		for (j = i + 1; j < n && (j - i) * bs < ULO_SEED_READ_MAX; j++)
			if (ulo_seed_is_put(s, blk + j) || !ulo_seed_where(s, blk + j, &o2) ||
			    o2 != off + (j - i) * bs)
				break;
		if (!ulo_cache_read_checked(s->old, p + i * bs, off, (size_t)(j - i) * bs, &bad)) {
			memset(got + i, 1, j - i);
			done += j - i;
		} else {
			for (uint64_t k = i; k < j; k++) {	/* one by one: the good ones */
				got[k] = !ulo_seed_read(s, blk + k, p + k * bs);
				done += got[k];
			}
		}
		i = j;
	}
	return done;
}

int ulo_seed_read_old(struct ulo_seed *s, uint64_t off, void *buf, size_t len)
{
	uint64_t bad;

	if (!len)
		return 0;
	if (off + len > s->map.old_size || !ulo_seed_holds(s, off, len))
		return -ENOENT;
	return ulo_cache_read_checked(s->old, buf, off, len, &bad) ? -ENOENT : 0;
}

int ulo_seed_read_old_tree(struct ulo_seed *s, uint64_t off, void *buf, size_t len)
{
	uint64_t at = s->map.old_size + off, bad;

	if (!len || at + len > ulo_cache_image_size(s->old) || !ulo_seed_holds(s, at, len))
		return -ENOENT;
	return ulo_cache_read_checked(s->old, buf, at, len, &bad) ? -ENOENT : 0;
}

uint64_t ulo_seed_read_same(struct ulo_seed *s, uint64_t blk, uint64_t n, void *buf,
			    const uint8_t *want, uint8_t *got)
{
	uint32_t bs = s->map.block_size;
	uint64_t done = 0;

	for (uint64_t i = 0; i < n;) {
		uint64_t j = i;

		while (j < n && (j - i) * bs < ULO_SEED_READ_MAX && (!want || want[j]) &&
		       (blk + j + 1) * bs <= s->map.old_size && ulo_seed_holds(s, (blk + j) * bs, bs))
			j++;
		if (j == i) {
			i++;
			continue;
		}
		if (!ulo_seed_read_old(s, (blk + i) * bs, (uint8_t *)buf + i * bs, (j - i) * bs)) {
			if (got)
				memset(got + i, 1, j - i);
			done += j - i;
		}
		i = j;
	}
	return done;
}

int ulo_seed_put(struct ulo_seed *s, uint64_t blk, const void *data)
{
	uint32_t bs = s->map.block_size;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	if (s->nput && s->put_blk[s->nput - 1] >= blk) {
		ret = -EINVAL;
	} else if (s->nput == s->capput) {
		uint64_t cap = s->capput ? 2 * s->capput : 256;
		uint64_t *b = realloc(s->put_blk, cap * sizeof(*b));
		uint8_t *d = b ? realloc(s->put_data, cap * bs) : NULL;

		if (b)
			s->put_blk = b;
		if (d) {
			s->put_data = d;
			s->capput = cap;
		} else {
			ret = -ENOMEM;
		}
	}
	if (!ret) {
		s->put_blk[s->nput] = blk;
		memcpy(s->put_data + s->nput * bs, data, bs);
		s->nput++;
	}
	pthread_mutex_unlock(&s->lock);
	return ret ? ulo_err(ret, "%s: holding block %" PRIu64, s->path, blk) : 0;
}

const uint64_t *ulo_seed_puts(struct ulo_seed *s, uint64_t *n)
{
	*n = s->nput;
	return s->put_blk;
}

void ulo_seed_drop_puts(struct ulo_seed *s)
{
	pthread_mutex_lock(&s->lock);
	s->nput = 0;
	pthread_mutex_unlock(&s->lock);
}

bool ulo_seed_all_taken(struct ulo_seed *s, const struct ulo_cache *cache)
{
	uint32_t cbs = ulo_cache_block_size(cache);

	if (ulo_cache_full(cache))
		return false;
	for (uint64_t r = 0; r < s->map.nruns; r++)
		for (uint64_t i = 0; i < s->map.runs[r].count; i++) {
			uint64_t b = s->map.runs[r].blk + i;

			if (ulo_seed_has(s, b) &&
			    !ulo_cache_present(cache, b * s->map.block_size / cbs))
				return false;
		}
	return true;
}

const struct ulo_seedmap *ulo_seed_map(const struct ulo_seed *s)
{
	return &s->map;
}

const char *ulo_seed_path(const struct ulo_seed *s)
{
	return s->path;
}

uint64_t ulo_seed_available(const struct ulo_seed *s)
{
	return s->available;
}

int ulo_seed_close(struct ulo_seed *s, bool remove)
{
	int ret = 0;

	if (!s)
		return 0;
	/* By the directory held since the open, and only if the name is
	 * still this file: the daemon may be past switch_root by now. */
	if (remove && s->old && s->dirfd >= 0)
		ret = ulo_unlink_held(s->dirfd, s->path, ulo_cache_file_fd(s->old));
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->old)
		ulo_cache_close(s->old);
	ulo_seedmap_free(&s->map);
	pthread_mutex_destroy(&s->lock);
	free(s->put_blk);
	free(s->put_data);
	free(s);
	return ret;
}
