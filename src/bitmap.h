/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bitmap.h - a bitmap of blocks, safe to test and set from many threads.
 *
 * In memory: 64-bit words, bit i in word i / 64 at position i % 64, updated
 * with atomic operations so readers never take a lock.  On disk: bit i is
 * bit (i % 8) of byte i / 8 (LSB first), which is also what the 2007 ULOOP
 * driver wrote on little-endian machines; ulo_bitmap_load()/_store() convert
 * explicitly so big-endian hosts produce the same bytes.
 */
#ifndef ULOOP_BITMAP_H
#define ULOOP_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ulo_bitmap {
	uint64_t nbits;	/* number of valid bits */
	uint64_t nwords;	/* words allocated: ceil(nbits / 64) */
	uint64_t *w;	/* atomically accessed words */
};

/* Allocate an all-clear bitmap of @nbits bits: 0 or -ENOMEM. */
int ulo_bitmap_init(struct ulo_bitmap *b, uint64_t nbits);
void ulo_bitmap_free(struct ulo_bitmap *b);

bool ulo_bitmap_test(const struct ulo_bitmap *b, uint64_t i);
void ulo_bitmap_set(struct ulo_bitmap *b, uint64_t i);
void ulo_bitmap_clear(struct ulo_bitmap *b, uint64_t i);
void ulo_bitmap_clear_all(struct ulo_bitmap *b);
/* Atomically replace word @wi with @v and return its old value. */
uint64_t ulo_bitmap_xchg_word(struct ulo_bitmap *b, uint64_t wi, uint64_t v);
/* OR @v into word @wi. */
void ulo_bitmap_or_word(struct ulo_bitmap *b, uint64_t wi, uint64_t v);
uint64_t ulo_bitmap_word(const struct ulo_bitmap *b, uint64_t wi);

/* Number of set bits. */
uint64_t ulo_bitmap_count(const struct ulo_bitmap *b);
/* First set (clear) bit at or after @from, or b->nbits if none. */
uint64_t ulo_bitmap_next_set(const struct ulo_bitmap *b, uint64_t from);
uint64_t ulo_bitmap_next_clear(const struct ulo_bitmap *b, uint64_t from);

/* Size in bytes of the on-disk encoding of @nbits bits (unpadded). */
static inline uint64_t ulo_bitmap_disk_bytes(uint64_t nbits)
{
	return (nbits + 7) / 8;
}

/*
 * Load on-disk bytes [0, @len) into @b (bits beyond nbits are ignored).
 * Returns the number of set bits found beyond nbits in those bytes, which a
 * consistent cache never has.
 */
uint64_t ulo_bitmap_load(struct ulo_bitmap *b, const uint8_t *bytes, size_t len);
/* Encode on-disk bytes [@byte_off, @byte_off + @len) of @b into @out. */
void ulo_bitmap_store(const struct ulo_bitmap *b, uint8_t *out,
		      uint64_t byte_off, size_t len);

#endif
