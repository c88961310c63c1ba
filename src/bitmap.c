// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bitmap.c - atomic in-memory block bitmap and its on-disk byte encoding.
 *
 * Sets use release ordering and tests acquire ordering: a thread that sees
 * a block's "present" bit also sees the cache write that preceded it.
 */
#include "bitmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ulo_bitmap_init(struct ulo_bitmap *b, uint64_t nbits)
{
	b->nbits = nbits;
	b->nwords = (nbits + 63) / 64;
	b->w = calloc(b->nwords ? b->nwords : 1, sizeof(*b->w));
	return b->w ? 0 : -ENOMEM;
}

void ulo_bitmap_free(struct ulo_bitmap *b)
{
	free(b->w);
	b->w = NULL;
	b->nbits = b->nwords = 0;
}

bool ulo_bitmap_test(const struct ulo_bitmap *b, uint64_t i)
{
	if (i >= b->nbits)
		return false;
	return (__atomic_load_n(&b->w[i / 64], __ATOMIC_ACQUIRE) >> (i % 64)) & 1;
}

void ulo_bitmap_set(struct ulo_bitmap *b, uint64_t i)
{
	if (i < b->nbits)
		__atomic_fetch_or(&b->w[i / 64], 1ull << (i % 64), __ATOMIC_RELEASE);
}

void ulo_bitmap_clear(struct ulo_bitmap *b, uint64_t i)
{
	if (i < b->nbits)
		__atomic_fetch_and(&b->w[i / 64], ~(1ull << (i % 64)),
				   __ATOMIC_RELEASE);
}

void ulo_bitmap_clear_all(struct ulo_bitmap *b)
{
	for (uint64_t i = 0; i < b->nwords; i++)
		__atomic_store_n(&b->w[i], 0, __ATOMIC_RELEASE);
}

uint64_t ulo_bitmap_xchg_word(struct ulo_bitmap *b, uint64_t wi, uint64_t v)
{
	return __atomic_exchange_n(&b->w[wi], v, __ATOMIC_ACQ_REL);
}

void ulo_bitmap_or_word(struct ulo_bitmap *b, uint64_t wi, uint64_t v)
{
	__atomic_fetch_or(&b->w[wi], v, __ATOMIC_RELEASE);
}

uint64_t ulo_bitmap_word(const struct ulo_bitmap *b, uint64_t wi)
{
	return __atomic_load_n(&b->w[wi], __ATOMIC_ACQUIRE);
}

uint64_t ulo_bitmap_count(const struct ulo_bitmap *b)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < b->nwords; i++)
		n += __builtin_popcountll(ulo_bitmap_word(b, i));
	return n;
}

static uint64_t ulo_bitmap_scan(const struct ulo_bitmap *b, uint64_t from,
				bool want_set)
{
	while (from < b->nbits) {
		uint64_t w = ulo_bitmap_word(b, from / 64);

		if (!want_set)
			w = ~w;
		w &= ~0ull << (from % 64);
		if (w) {
			from = (from & ~63ull) + __builtin_ctzll(w);
			return from < b->nbits ? from : b->nbits;
		}
		from = (from & ~63ull) + 64;
	}
	return b->nbits;
}

uint64_t ulo_bitmap_next_set(const struct ulo_bitmap *b, uint64_t from)
{
	return ulo_bitmap_scan(b, from, true);
}

uint64_t ulo_bitmap_next_clear(const struct ulo_bitmap *b, uint64_t from)
{
	return ulo_bitmap_scan(b, from, false);
}

uint64_t ulo_bitmap_load(struct ulo_bitmap *b, const uint8_t *bytes, size_t len)
{
	uint64_t stray = 0;

	ulo_bitmap_clear_all(b);
	for (size_t i = 0; i < len; i++) {
		for (int k = 0; k < 8; k++) {
			uint64_t bit = (uint64_t)i * 8 + k;

			if (!((bytes[i] >> k) & 1))
				continue;
			if (bit < b->nbits)
				b->w[bit / 64] |= 1ull << (bit % 64);
			else
				stray++;
		}
	}
	return stray;
}

void ulo_bitmap_store(const struct ulo_bitmap *b, uint8_t *out,
		      uint64_t byte_off, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t bit = (byte_off + i) * 8;
		uint8_t v = 0;

		if (bit < b->nbits) {
			uint64_t w = ulo_bitmap_word(b, bit / 64);

			v = (uint8_t)(w >> (bit % 64));
			/* Never write bits past the end of the image. */
			if (b->nbits - bit < 8)
				v &= (1u << (b->nbits - bit)) - 1;
		}
		out[i] = v;
	}
}
