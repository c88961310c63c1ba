/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * seed.h - an older version on the node's flash, read for the blocks a
 * new version shares with it (docs/updates.md).
 *
 * A seed is a cache of the old version, opened read-only, and the seed map
 * from that version to the new one (seedmap.h).  It answers "new data
 * block i, if the flash holds it": the map says where in the old image it
 * is, and the old cache must hold every block those bytes lie on.  It
 * vouches for nothing: the verity source checks each block it takes from
 * here against the new version's hash tree, as it checks a fetched one.
 *
 * Threads: ulo_seed_read() and ulo_seed_has() from any thread; close
 * after the last of them (the verity source holds a lock for that).
 */
#ifndef ULOOP_SEED_H
#define ULOOP_SEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seedmap.h"

struct ulo_seed;

/*
 * Open the cache at @path read-only as the seed for @map (taken: freed
 * with the seed, or on failure).  The cache must hold the map's old
 * version (its image @old_size bytes, checked by the caller against the
 * identity, which names the version).  0 or -errno, message recorded.
 */
int ulo_seed_open(const char *path, struct ulo_seedmap *map, struct ulo_seed **out);

/* New data block @blk from the old version: 0, or -ENOENT (the map does
 * not name it, the flash does not hold all of it, or reading it failed). */
int ulo_seed_read(struct ulo_seed *s, uint64_t blk, void *buf);
/* New data blocks [@blk, + @n) into @buf (@n blocks), those the seed
 * has: @got[i] set for each block read.  Stretches the old image holds
 * contiguously are read in one request (a block at a time, an update's
 * boot spent most of its time waiting on 4 KiB reads).  The blocks read. */
uint64_t ulo_seed_read_blocks(struct ulo_seed *s, uint64_t blk, uint64_t n, void *buf,
			      uint8_t *got);
/* Would ulo_seed_read() find @blk (without reading it)? */
bool ulo_seed_has(struct ulo_seed *s, uint64_t blk);

/* Old image bytes [@off, + @len), if the old cache holds them all:
 * 0 or -ENOENT. */
int ulo_seed_read_old(struct ulo_seed *s, uint64_t off, void *buf, size_t len);
/* The same for the old version's hash file (the cache keeps it after the
 * image: source_verity.c), @off from its start. */
int ulo_seed_read_old_tree(struct ulo_seed *s, uint64_t off, void *buf, size_t len);
/* Old image blocks at the same offsets as new data blocks [@blk, + @n),
 * those the old cache holds, whatever the map says: @want[i] (NULL: all)
 * says which to read, @got[i] (@got may be NULL) is set for each read, in
 * stretches as ulo_seed_read_blocks().  The blocks read.  Where the two
 * versions' leaf hash blocks are equal, these are the new version's. */
uint64_t ulo_seed_read_same(struct ulo_seed *s, uint64_t blk, uint64_t n, void *buf,
			    const uint8_t *want, uint8_t *got);

/*
 * New data block @blk, rebuilt from a pack (seedpack.h): held in memory
 * and given by ulo_seed_read() before the map, until ulo_seed_drop_puts()
 * (once the cache took them).  In rising block order.  0 or -ENOMEM /
 * -EINVAL (out of order).
 */
int ulo_seed_put(struct ulo_seed *s, uint64_t blk, const void *data);
/* The blocks put, in order (@n of them in *@blks: valid until dropped). */
const uint64_t *ulo_seed_puts(struct ulo_seed *s, uint64_t *n);
void ulo_seed_drop_puts(struct ulo_seed *s);

const struct ulo_seedmap *ulo_seed_map(const struct ulo_seed *s);
const char *ulo_seed_path(const struct ulo_seed *s);
/* Blocks the seed can give (mapped and on the flash), counted at open. */
uint64_t ulo_seed_available(const struct ulo_seed *s);

/* Does @cache (bound to the new version) hold every block the seed can
 * give?  Then the older version may go. */
struct ulo_cache;
bool ulo_seed_all_taken(struct ulo_seed *s, const struct ulo_cache *cache);

/* Close; with @remove, unlink the old version's cache file too (its
 * blocks were all taken: the new version's cache holds them now). */
int ulo_seed_close(struct ulo_seed *s, bool remove);

#endif
