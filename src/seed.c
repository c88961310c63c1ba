// SPDX-License-Identifier: GPL-2.0-or-later
/* seed.c - see seed.h. */
#include "seed.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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
};

/* Where new block @blk lies in the old image, if the old cache holds all
 * of it. */
static bool ulo_seed_where(struct ulo_seed *s, uint64_t blk, uint64_t *off)
{
	uint32_t cbs = ulo_cache_block_size(s->old);

	if (ulo_seedmap_find(&s->map, blk, off))
		return false;
	for (uint64_t b = *off / cbs; b <= (*off + s->map.block_size - 1) / cbs; b++)
		if (!ulo_cache_present(s->old, b))
			return false;
	return true;
}

int ulo_seed_open(const char *path, struct ulo_seedmap *map, struct ulo_seed **out)
{
	struct ulo_cache_opts co = { .path = path, .readonly = true };
	struct ulo_seed *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		ulo_seedmap_free(map);
		return ulo_errno(-ENOMEM, "%s", path);
	}
	s->map = *map;
	memset(map, 0, sizeof(*map));
	snprintf(s->path, sizeof(s->path), "%s", path);
	ret = ulo_cache_open(&co, &s->old);
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

bool ulo_seed_has(struct ulo_seed *s, uint64_t blk)
{
	uint64_t off;

	return ulo_seed_where(s, blk, &off);
}

int ulo_seed_read(struct ulo_seed *s, uint64_t blk, void *buf)
{
	uint64_t off, bad;

	if (!ulo_seed_where(s, blk, &off) ||
	    ulo_cache_read_checked(s->old, buf, off, s->map.block_size, &bad))
		return -ENOENT;
	return 0;
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
	if (s->old)
		ulo_cache_close(s->old);
	if (remove && unlink(s->path) < 0 && errno != ENOENT)
		ret = ulo_errno(-errno, "%s: remove", s->path);
	ulo_seedmap_free(&s->map);
	free(s);
	return ret;
}
