/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ramstore.h - fetched blocks kept in memory, for a daemon whose flash was
 * given up.
 *
 * Once the cache has failed too often (src/cache.c, ulo_cache_fault()),
 * nothing more is read from the flash or written to it.  Without this,
 * every read after that went to the source, for the daemon's whole life:
 * a boot's working set fetched again and again.  The engine instead keeps
 * what it fetches here, as the boot scripts' RAM cache would have (a
 * node whose flash is missing boots on a cache in RAM), up to a byte
 * budget fixed when the store is made; a block that does not fit is
 * served and fetched again when read, as with a full flash.
 *
 * Blocks are only added, never replaced or removed while the store lives:
 * a reader that found a block here may copy it without a lock.  Nothing
 * here is ever written to disk.
 */
#ifndef ULOOP_RAMSTORE_H
#define ULOOP_RAMSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ulo_ramstore;

/* A store for @nblocks blocks of @block_size bytes (the last one of an
 * image of @image_size bytes short), holding at most @budget bytes;
 * NULL when out of memory. */
struct ulo_ramstore *ulo_ram_new(uint64_t nblocks, uint64_t block_size,
				 uint64_t image_size, uint64_t budget);
void ulo_ram_free(struct ulo_ramstore *rs);

/* Keep a copy of blocks [@blk, @blk + @n) from @buf (whole blocks, the
 * image's last one short).  Blocks held already are left as they are;
 * those over the budget are not kept.  Returns the blocks added. */
uint64_t ulo_ram_put(struct ulo_ramstore *rs, uint64_t blk, uint64_t n,
		     const uint8_t *buf);

/* Is block @blk held? */
bool ulo_ram_has(const struct ulo_ramstore *rs, uint64_t blk);

/* Copy @len bytes from @off (image offset) of held block @blk to @dst;
 * false if it is not held. */
bool ulo_ram_copy(const struct ulo_ramstore *rs, uint64_t blk, uint64_t off,
		  size_t len, uint8_t *dst);

/* Bytes held. */
uint64_t ulo_ram_bytes(const struct ulo_ramstore *rs);

/* The budget of a store for an image of @image_size bytes on this
 * machine: a quarter of its memory, at most the image. */
uint64_t ulo_ram_default_budget(uint64_t image_size);

#endif
