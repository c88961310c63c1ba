// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-ramstore.c - the RAM store of a given-up flash (ramstore.c).
 *
 * What it holds is served as the image: a block must come back byte for
 * byte (the image's last, short block too), a second put must not replace
 * what readers may be copying, the budget must hold exactly, and copies
 * outside a held block must be refused, never read past it.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "ramstore.h"
#include "unit.h"

#define BS 4096
#define IMG (10 * BS + 100)	/* 11 blocks, the last 100 bytes */

static uint8_t image[IMG];

static void fill(void)
{
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7 + i / 4096);
}

static void test_put_copy(void)
{
	struct ulo_ramstore *rs = ulo_ram_new(11, BS, IMG, IMG);
	uint8_t out[BS];

	CHECK(rs != NULL);
	CHECK(!ulo_ram_has(rs, 0));
	CHECK(!ulo_ram_copy(rs, 0, 0, 10, out));
	CHECK_EQ(ulo_ram_put(rs, 2, 3, image + 2 * BS), 3);
	CHECK(ulo_ram_has(rs, 2) && ulo_ram_has(rs, 4) && !ulo_ram_has(rs, 5));
	CHECK(ulo_ram_copy(rs, 3, 3 * BS + 10, 500, out));
	CHECK(!memcmp(out, image + 3 * BS + 10, 500));
	/* Not across a block's end, not before its start. */
	CHECK(!ulo_ram_copy(rs, 3, 3 * BS + 10, BS, out));
	CHECK(!ulo_ram_copy(rs, 3, 2 * BS, 10, out));
	/* The short last block. */
	CHECK_EQ(ulo_ram_put(rs, 10, 1, image + 10 * BS), 1);
	CHECK(ulo_ram_copy(rs, 10, 10 * BS, 100, out));
	CHECK(!memcmp(out, image + 10 * BS, 100));
	CHECK(!ulo_ram_copy(rs, 10, 10 * BS, 101, out));
	CHECK_EQ(ulo_ram_bytes(rs), 3 * BS + 100);
	/* Past the image: ignored. */
	CHECK_EQ(ulo_ram_put(rs, 11, 1, image), 0);
	CHECK(!ulo_ram_has(rs, 11));
	ulo_ram_free(rs);
	CHECK(!ulo_ram_has(NULL, 0));
	CHECK_EQ(ulo_ram_bytes(NULL), 0);
}

static void test_no_replace(void)
{
	struct ulo_ramstore *rs = ulo_ram_new(11, BS, IMG, IMG);
	uint8_t other[BS], out[BS];

	memset(other, 0xee, sizeof(other));
	CHECK_EQ(ulo_ram_put(rs, 1, 1, image + BS), 1);
	CHECK_EQ(ulo_ram_put(rs, 1, 1, other), 0);
	CHECK(ulo_ram_copy(rs, 1, BS, BS, out));
	CHECK(!memcmp(out, image + BS, BS));
	CHECK_EQ(ulo_ram_bytes(rs), BS);
	ulo_ram_free(rs);
}

static void test_budget(void)
{
	struct ulo_ramstore *rs = ulo_ram_new(11, BS, IMG, 2 * BS + 99);

	CHECK_EQ(ulo_ram_put(rs, 0, 4, image), 2);
	CHECK(ulo_ram_has(rs, 1) && !ulo_ram_has(rs, 2));
	/* 99 bytes left: the 100-byte last block does not fit either. */
	CHECK_EQ(ulo_ram_put(rs, 10, 1, image + 10 * BS), 0);
	CHECK_EQ(ulo_ram_bytes(rs), 2 * BS);
	ulo_ram_free(rs);
	CHECK(ulo_ram_default_budget(1000) == 1000);
	CHECK(ulo_ram_default_budget(UINT64_MAX) > 0);
	CHECK(ulo_ram_default_budget(UINT64_MAX) < UINT64_MAX);
}

struct racer {
	struct ulo_ramstore *rs;
	uint64_t added;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (uint64_t b = 0; b < 11; b++)
		r->added += ulo_ram_put(r->rs, b, 1, image + b * BS);
	return NULL;
}

static void test_threads(void)
{
	struct ulo_ramstore *rs = ulo_ram_new(11, BS, IMG, IMG);
	struct racer r[4];
	pthread_t t[4];
	uint64_t total = 0;
	uint8_t out[BS];

	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ .rs = rs };
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += r[i].added;
	}
	CHECK_EQ(total, 11);
	CHECK_EQ(ulo_ram_bytes(rs), IMG);
	for (uint64_t b = 0; b < 10; b++) {
		CHECK(ulo_ram_copy(rs, b, b * BS, BS, out));
		CHECK(!memcmp(out, image + b * BS, BS));
	}
	ulo_ram_free(rs);
}

int main(void)
{
	fill();
	UNIT_RUN(test_put_copy);
	UNIT_RUN(test_no_replace);
	UNIT_RUN(test_budget);
	UNIT_RUN(test_threads);
	return unit_done();
}
