// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-bitmap.c - the block bitmap (bitmap.c).
 *
 * A set bit means "this block's data is in the cache": a bit set by
 * mistake serves garbage, a bit lost makes a block fetched again.  The
 * on-disk byte order must stay what the 2007 driver wrote (LSB first), the
 * end of a bitmap whose size is not a multiple of 64 must not leak bits,
 * and concurrent setters must never lose each other's bits.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "bitmap.h"
#include "util.h"
#include "unit.h"

static void test_init_free(void)
{
	struct ulo_bitmap b;

	CHECK_EQ(ulo_bitmap_init(&b, 0), 0);
	CHECK_EQ(b.nbits, 0);
	CHECK_EQ(b.nwords, 0);
	CHECK(b.w != NULL);
	CHECK_EQ(ulo_bitmap_count(&b), 0);
	CHECK_EQ(ulo_bitmap_next_set(&b, 0), 0);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 0), 0);
	CHECK(!ulo_bitmap_test(&b, 0));
	ulo_bitmap_set(&b, 0);	/* out of range: ignored */
	CHECK_EQ(ulo_bitmap_word(&b, 0), 0);
	ulo_bitmap_free(&b);
	CHECK(b.w == NULL);
	CHECK_EQ(b.nbits, 0);

	CHECK_EQ(ulo_bitmap_init(&b, 64), 0);
	CHECK_EQ(b.nwords, 1);
	ulo_bitmap_free(&b);
	CHECK_EQ(ulo_bitmap_init(&b, 65), 0);
	CHECK_EQ(b.nwords, 2);
	CHECK_EQ(ulo_bitmap_count(&b), 0);
	ulo_bitmap_free(&b);
}

static void test_set_test_clear(void)
{
	static const uint64_t bits[] = { 0, 1, 7, 8, 62, 63, 64, 65, 127, 128,
					 199 };
	struct ulo_bitmap b;

	CHECK_EQ(ulo_bitmap_init(&b, 200), 0);
	for (size_t i = 0; i < ULO_ARRAY_SIZE(bits); i++) {
		CHECK(!ulo_bitmap_test(&b, bits[i]));
		ulo_bitmap_set(&b, bits[i]);
		CHECK(ulo_bitmap_test(&b, bits[i]));
		CHECK_EQ(ulo_bitmap_count(&b), i + 1);
	}
	/* Nothing else got set. */
	for (uint64_t i = 0; i < 200; i++) {
		bool want = false;

		for (size_t k = 0; k < ULO_ARRAY_SIZE(bits); k++)
			want |= bits[k] == i;
		CHECK_EQ(ulo_bitmap_test(&b, i), want);
	}
	CHECK_EQ(ulo_bitmap_word(&b, 0), 1ull | 2 | 1u << 7 | 1u << 8 |
		 1ull << 62 | 1ull << 63);
	CHECK_EQ(ulo_bitmap_word(&b, 1), 1ull | 2 | 1ull << 63);
	CHECK_EQ(ulo_bitmap_word(&b, 2), 1ull);
	CHECK_EQ(ulo_bitmap_word(&b, 3), 1ull << (199 - 192));

	/* Setting twice is idempotent. */
	ulo_bitmap_set(&b, 63);
	CHECK_EQ(ulo_bitmap_count(&b), ULO_ARRAY_SIZE(bits));

	/* Out of range: set is ignored, test is false. */
	ulo_bitmap_set(&b, 200);
	ulo_bitmap_set(&b, 255);
	ulo_bitmap_set(&b, UINT64_MAX);
	CHECK(!ulo_bitmap_test(&b, 200));
	CHECK(!ulo_bitmap_test(&b, UINT64_MAX));
	CHECK_EQ(ulo_bitmap_word(&b, 3), 1ull << 7);
	CHECK_EQ(ulo_bitmap_count(&b), ULO_ARRAY_SIZE(bits));

	ulo_bitmap_clear(&b, 63);
	CHECK(!ulo_bitmap_test(&b, 63));
	CHECK(ulo_bitmap_test(&b, 62));
	CHECK(ulo_bitmap_test(&b, 64));
	ulo_bitmap_clear(&b, 63);	/* clearing a clear bit */
	ulo_bitmap_clear(&b, 5000);	/* out of range */
	CHECK_EQ(ulo_bitmap_count(&b), ULO_ARRAY_SIZE(bits) - 1);

	ulo_bitmap_clear_all(&b);
	CHECK_EQ(ulo_bitmap_count(&b), 0);
	for (uint64_t i = 0; i < b.nwords; i++)
		CHECK_EQ(ulo_bitmap_word(&b, i), 0);
	ulo_bitmap_free(&b);
}

static void test_count(void)
{
	struct ulo_bitmap b;

	CHECK_EQ(ulo_bitmap_init(&b, 1000), 0);
	for (uint64_t i = 0; i < 1000; i += 3)
		ulo_bitmap_set(&b, i);
	CHECK_EQ(ulo_bitmap_count(&b), 334);
	for (uint64_t i = 0; i < 1000; i++)
		ulo_bitmap_set(&b, i);
	CHECK_EQ(ulo_bitmap_count(&b), 1000);
	ulo_bitmap_clear(&b, 999);
	ulo_bitmap_clear(&b, 0);
	CHECK_EQ(ulo_bitmap_count(&b), 998);
	ulo_bitmap_free(&b);
}

static void test_next(void)
{
	struct ulo_bitmap b;

	/* 130 bits: words of 64, 64 and a 2-bit tail. */
	CHECK_EQ(ulo_bitmap_init(&b, 130), 0);
	CHECK_EQ(ulo_bitmap_next_set(&b, 0), 130);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 0), 0);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 129), 129);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 130), 130);
	CHECK_EQ(ulo_bitmap_next_set(&b, 500), 130);

	ulo_bitmap_set(&b, 5);
	ulo_bitmap_set(&b, 64);
	ulo_bitmap_set(&b, 129);
	CHECK_EQ(ulo_bitmap_next_set(&b, 0), 5);
	CHECK_EQ(ulo_bitmap_next_set(&b, 5), 5);
	CHECK_EQ(ulo_bitmap_next_set(&b, 6), 64);	/* across a word */
	CHECK_EQ(ulo_bitmap_next_set(&b, 63), 64);
	CHECK_EQ(ulo_bitmap_next_set(&b, 64), 64);
	CHECK_EQ(ulo_bitmap_next_set(&b, 65), 129);	/* two words on */
	CHECK_EQ(ulo_bitmap_next_set(&b, 129), 129);
	CHECK_EQ(ulo_bitmap_next_set(&b, 130), 130);

	/* All set: next_clear runs to the end, never into the tail. */
	for (uint64_t i = 0; i < 130; i++)
		ulo_bitmap_set(&b, i);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 0), 130);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 100), 130);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 129), 130);
	ulo_bitmap_clear(&b, 63);
	ulo_bitmap_clear(&b, 128);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 0), 63);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 64), 128);
	CHECK_EQ(ulo_bitmap_next_clear(&b, 129), 130);
	ulo_bitmap_free(&b);

	/* Bits past nbits in the last word (put there by or_word) are not
	 * reported as set. */
	CHECK_EQ(ulo_bitmap_init(&b, 70), 0);
	ulo_bitmap_or_word(&b, 1, ~0ull << 6);
	CHECK_EQ(ulo_bitmap_next_set(&b, 0), 70);
	CHECK_EQ(ulo_bitmap_next_set(&b, 66), 70);
	ulo_bitmap_free(&b);

	/* A whole-word bitmap. */
	CHECK_EQ(ulo_bitmap_init(&b, 128), 0);
	ulo_bitmap_set(&b, 127);
	CHECK_EQ(ulo_bitmap_next_set(&b, 0), 127);
	CHECK_EQ(ulo_bitmap_next_set(&b, 128), 128);
	ulo_bitmap_free(&b);
}

static void test_store_encoding(void)
{
	struct ulo_bitmap b;
	uint8_t out[16];

	CHECK_EQ(ulo_bitmap_init(&b, 100), 0);
	ulo_bitmap_set(&b, 0);
	ulo_bitmap_set(&b, 9);
	ulo_bitmap_set(&b, 63);
	ulo_bitmap_set(&b, 64);
	ulo_bitmap_set(&b, 99);
	memset(out, 0xaa, sizeof(out));
	ulo_bitmap_store(&b, out, 0, 13);
	CHECK_EQ(out[0], 0x01);		/* bit 0 = byte 0 & 1 */
	CHECK_EQ(out[1], 0x02);		/* bit 9 = byte 1 & 2 */
	for (int i = 2; i < 7; i++)
		CHECK_EQ(out[i], 0);
	CHECK_EQ(out[7], 0x80);		/* bit 63 */
	CHECK_EQ(out[8], 0x01);		/* bit 64 */
	CHECK_EQ(out[12], 0x08);	/* bit 99 = byte 12 & 8 */
	CHECK_EQ(out[13], 0xaa);	/* nothing past len */

	/* A window in the middle: bytes 7..8. */
	memset(out, 0xaa, sizeof(out));
	ulo_bitmap_store(&b, out, 7, 2);
	CHECK_EQ(out[0], 0x80);
	CHECK_EQ(out[1], 0x01);
	CHECK_EQ(out[2], 0xaa);

	/* Past the end of the bitmap: zeros (padding of the 4 KiB page). */
	memset(out, 0xaa, sizeof(out));
	ulo_bitmap_store(&b, out, 12, 16);
	CHECK_EQ(out[0], 0x08);
	for (int i = 1; i < 16; i++)
		CHECK_EQ(out[i], 0);
	ulo_bitmap_free(&b);
}

static void test_store_never_past_nbits(void)
{
	struct ulo_bitmap b;
	uint8_t out[24];

	/* Stray bits in the tail of the last word never reach the disk. */
	CHECK_EQ(ulo_bitmap_init(&b, 70), 0);
	ulo_bitmap_or_word(&b, 0, ~0ull);
	ulo_bitmap_or_word(&b, 1, ~0ull);
	memset(out, 0xaa, sizeof(out));
	ulo_bitmap_store(&b, out, 0, sizeof(out));
	for (int i = 0; i < 8; i++)
		CHECK_EQ(out[i], 0xff);
	CHECK_EQ(out[8], 0x3f);		/* bits 64..69 only */
	for (size_t i = 9; i < sizeof(out); i++)
		CHECK_EQ(out[i], 0);
	ulo_bitmap_free(&b);

	/* nbits a multiple of 8 but not 64. */
	CHECK_EQ(ulo_bitmap_init(&b, 16), 0);
	ulo_bitmap_or_word(&b, 0, ~0ull);
	memset(out, 0xaa, sizeof(out));
	ulo_bitmap_store(&b, out, 0, 4);
	CHECK_EQ(out[0], 0xff);
	CHECK_EQ(out[1], 0xff);
	CHECK_EQ(out[2], 0);
	CHECK_EQ(out[3], 0);
	ulo_bitmap_free(&b);

	/* One bit. */
	CHECK_EQ(ulo_bitmap_init(&b, 1), 0);
	ulo_bitmap_or_word(&b, 0, ~0ull);
	ulo_bitmap_store(&b, out, 0, 2);
	CHECK_EQ(out[0], 0x01);
	CHECK_EQ(out[1], 0);
	ulo_bitmap_free(&b);
}

static void test_load_store_round_trip(void)
{
	struct ulo_bitmap a, b;
	uint8_t bytes[40], again[40];
	uint64_t nbits = 301;	/* 37 full bytes + 5 bits */

	CHECK_EQ(ulo_bitmap_init(&a, nbits), 0);
	CHECK_EQ(ulo_bitmap_init(&b, nbits), 0);
	for (uint64_t i = 0; i < nbits; i++)
		if ((i * 7919) % 5 < 2 || i == nbits - 1)
			ulo_bitmap_set(&a, i);
	CHECK_EQ(ulo_bitmap_disk_bytes(nbits), 38);
	ulo_bitmap_store(&a, bytes, 0, sizeof(bytes));
	/* Fill b with junk first: load starts from clear. */
	for (uint64_t i = 0; i < nbits; i += 2)
		ulo_bitmap_set(&b, i);
	CHECK_EQ(ulo_bitmap_load(&b, bytes, sizeof(bytes)), 0);
	for (uint64_t i = 0; i < nbits; i++)
		CHECK_EQ(ulo_bitmap_test(&b, i), ulo_bitmap_test(&a, i));
	CHECK_EQ(ulo_bitmap_count(&b), ulo_bitmap_count(&a));
	ulo_bitmap_store(&b, again, 0, sizeof(again));
	CHECK(!memcmp(bytes, again, sizeof(bytes)));
	/* The encoding is LSB first, independent of the host. */
	for (uint64_t i = 0; i < nbits; i++)
		CHECK_EQ((bytes[i / 8] >> (i % 8)) & 1, ulo_bitmap_test(&a, i));

	/* Load decodes the documented byte order. */
	memset(bytes, 0, sizeof(bytes));
	bytes[0] = 0x01;	/* bit 0 */
	bytes[1] = 0x02;	/* bit 9 */
	bytes[8] = 0x80;	/* bit 71 */
	CHECK_EQ(ulo_bitmap_load(&b, bytes, sizeof(bytes)), 0);
	CHECK_EQ(ulo_bitmap_count(&b), 3);
	CHECK(ulo_bitmap_test(&b, 0));
	CHECK(ulo_bitmap_test(&b, 9));
	CHECK(ulo_bitmap_test(&b, 71));
	CHECK_EQ(ulo_bitmap_word(&b, 0), 1ull | 1ull << 9);
	CHECK_EQ(ulo_bitmap_word(&b, 1), 1ull << 7);

	/* A shorter buffer loads its bits and clears the rest. */
	memset(bytes, 0xff, sizeof(bytes));
	CHECK_EQ(ulo_bitmap_load(&b, bytes, 2), 0);
	CHECK_EQ(ulo_bitmap_count(&b), 16);
	CHECK(!ulo_bitmap_test(&b, 71));
	ulo_bitmap_free(&a);
	ulo_bitmap_free(&b);
}

static void test_load_stray(void)
{
	struct ulo_bitmap b;
	uint8_t bytes[4096];

	/* 70 bits in a 4 KiB page: bits 70.. must be zero. */
	CHECK_EQ(ulo_bitmap_init(&b, 70), 0);
	memset(bytes, 0, sizeof(bytes));
	bytes[8] = 0x3f;
	CHECK_EQ(ulo_bitmap_load(&b, bytes, sizeof(bytes)), 0);
	CHECK_EQ(ulo_bitmap_count(&b), 6);
	bytes[8] = 0xff;	/* bits 70, 71 stray */
	CHECK_EQ(ulo_bitmap_load(&b, bytes, sizeof(bytes)), 2);
	CHECK_EQ(ulo_bitmap_count(&b), 6);	/* and not loaded */
	CHECK(!ulo_bitmap_test(&b, 70));
	bytes[4095] = 0x81;	/* far in the padding */
	CHECK_EQ(ulo_bitmap_load(&b, bytes, sizeof(bytes)), 4);
	memset(bytes, 0xff, sizeof(bytes));
	CHECK_EQ(ulo_bitmap_load(&b, bytes, sizeof(bytes)), 4096 * 8 - 70);
	CHECK_EQ(ulo_bitmap_count(&b), 70);
	/* Stray bits never land in the tail of the last word. */
	CHECK_EQ(ulo_bitmap_word(&b, 1), 0x3f);
	ulo_bitmap_free(&b);
}

static void test_word_ops(void)
{
	struct ulo_bitmap b;

	CHECK_EQ(ulo_bitmap_init(&b, 256), 0);
	ulo_bitmap_set(&b, 64 + 3);
	ulo_bitmap_set(&b, 64 + 40);
	CHECK_EQ(ulo_bitmap_xchg_word(&b, 1, 0), 1ull << 3 | 1ull << 40);
	CHECK_EQ(ulo_bitmap_word(&b, 1), 0);
	CHECK(!ulo_bitmap_test(&b, 67));
	CHECK_EQ(ulo_bitmap_xchg_word(&b, 1, 0xf0), 0);
	CHECK(ulo_bitmap_test(&b, 68));
	CHECK(!ulo_bitmap_test(&b, 67));
	CHECK_EQ(ulo_bitmap_xchg_word(&b, 1, 0), 0xf0);
	ulo_bitmap_or_word(&b, 2, 0x5);
	ulo_bitmap_or_word(&b, 2, 0x3);
	CHECK_EQ(ulo_bitmap_word(&b, 2), 0x7);
	CHECK(ulo_bitmap_test(&b, 128));
	CHECK(ulo_bitmap_test(&b, 130));
	CHECK_EQ(ulo_bitmap_count(&b), 3);
	CHECK_EQ(ulo_bitmap_word(&b, 0), 0);
	CHECK_EQ(ulo_bitmap_word(&b, 3), 0);
	ulo_bitmap_free(&b);
}

#define NTHREADS 4
#define MT_BITS (64 * 1024 + 13)

struct setter {
	struct ulo_bitmap *b;
	int t;
};

static void *setter_main(void *arg)
{
	struct setter *s = arg;

	/* Interleaved so that every word is shared by all threads. */
	for (uint64_t i = s->t; i < MT_BITS; i += NTHREADS)
		ulo_bitmap_set(s->b, i);
	return NULL;
}

static void test_threads(void)
{
	struct setter s[NTHREADS];
	pthread_t th[NTHREADS];
	struct ulo_bitmap b;

	for (int round = 0; round < 20; round++) {
		CHECK_EQ(ulo_bitmap_init(&b, MT_BITS), 0);
		for (int t = 0; t < NTHREADS; t++) {
			s[t].b = &b;
			s[t].t = t;
			CHECK_EQ(pthread_create(&th[t], NULL, setter_main, &s[t]), 0);
		}
		for (int t = 0; t < NTHREADS; t++)
			pthread_join(th[t], NULL);
		CHECK_EQ(ulo_bitmap_count(&b), MT_BITS);
		CHECK_EQ(ulo_bitmap_next_clear(&b, 0), MT_BITS);
		ulo_bitmap_free(&b);
	}
}

int main(void)
{
	UNIT_RUN(test_init_free);
	UNIT_RUN(test_set_test_clear);
	UNIT_RUN(test_count);
	UNIT_RUN(test_next);
	UNIT_RUN(test_store_encoding);
	UNIT_RUN(test_store_never_past_nbits);
	UNIT_RUN(test_load_store_round_trip);
	UNIT_RUN(test_load_stray);
	UNIT_RUN(test_word_ops);
	UNIT_RUN(test_threads);
	return unit_done();
}
