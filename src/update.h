/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * update.h - a cache file meets a new version of its manifest
 * (docs/updates.md).
 *
 * Beside a cache file C, two more may be kept:
 *
 *   C        the cache the daemon serves: bound to the version it boots
 *   C.seed   an older version's cache, read for the blocks the new version
 *            shares with it (seed.h); removed once they are all taken
 *   C.next   a newer version staged in the background while C serves
 *            (uloop hydrate --seed); it becomes C when that version boots
 *
 * Each is a whole cache on its own, bound to its version (uloop check
 * reads any of them), and every step between them is one rename: a power
 * cut anywhere leaves files the next start picks up where this one was.
 * Only a native cache in a regular file takes part: a cache on a raw
 * partition or in the 2007 layout is dropped on a new version, as before.
 */
#ifndef ULOOP_UPDATE_H
#define ULOOP_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

struct ulo_seed;

/* The files beside @cache: "@cache.seed" and "@cache.next". */
#define ULO_UPDATE_SEED_SUFFIX ".seed"
#define ULO_UPDATE_NEXT_SUFFIX ".next"

struct ulo_update {
	int lock_fd;		/* C's lock, until it is bound (ulo_update_done) */
	struct ulo_seed *seed;	/* an older version to take blocks from */
	bool from_next;		/* C was the version staged in C.next */
	uint64_t seed_available;	/* blocks the seed can give */
	char note[512];		/* what was done, for the user ("" if nothing) */
};

/*
 * Before the cache at @cache is bound to @src (a manifest's version):
 * take a staged C.next of that version as C; if C holds an older version
 * the manifest has a seed map from, move it to C.seed; open C.seed as the
 * seed when it is usable (else remove it).  No cache file, another kind of
 * source or cache, or an older version without a map: nothing is done and
 * the cache is dropped on binding, as for any new image.  0, or -errno
 * with the message recorded (-EBUSY: another uloop process holds the
 * cache; a failed rename): a seed map that cannot be fetched only loses
 * the seed, with a note.  The cache stays locked until ulo_update_done(),
 * after it is bound.
 */
int ulo_update_prepare(const char *cache, struct ulo_source *src, struct ulo_update *out);
void ulo_update_done(struct ulo_update *u);

/*
 * Where a version is staged beside @cache (@cache.next), and the seed it
 * is staged from (@cache itself, when it holds an older version the
 * manifest has a map from; NULL in *@seed otherwise): for
 * `uloop hydrate --seed`, which runs beside the daemon serving @cache.
 * @next gets the path (PATH_MAX), @note what was found.  0; 1 if @cache
 * holds @src's version already (nothing to stage: hydrate it); or -errno,
 * message recorded.
 */
int ulo_update_stage(const char *cache, struct ulo_source *src, char *next,
		     struct ulo_seed **seed, char *note, size_t cap);

/*
 * An update's changed blocks from its pack (seedpack.h), for a node that
 * wants them (a hydration, staging, an attach): when the seed of @src
 * names a pack and @cache holds less than half of the blocks it carries
 * (a resumed update fetches what is left one range at a time), it is
 * fetched, its blocks rebuilt, and taken into the cache through @e 8 MiB
 * at a time (with @whole, the whole leaves of the tree around them, so
 * that their hash blocks are computed: for a hydration), each block
 * checked against the tree like any other.  *@blocks gets the blocks
 * rebuilt.  0; -ENOENT if there is no pack to use; or -errno, message
 * recorded (the blocks are then fetched the usual way).
 */
struct ulo_engine;
struct ulo_cache;
int ulo_update_apply_pack(struct ulo_engine *e, struct ulo_cache *cache,
			  struct ulo_source *src, bool whole, uint64_t *blocks);

#endif
