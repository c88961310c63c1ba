// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-seedmap.c - the seed map (src/seedmap.c, src/seedmap_compute.c):
 * publish's search finds a new version's blocks in the old one at the
 * same offset, shifted by any number of bytes, and among duplicates; the
 * text reads back the same; every kind of bad map is refused naming the
 * line and the cause.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "seedmap.h"
#include "unit.h"
#include "util.h"

#define BS 4096u

static void fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Every block the map names is, byte for byte, where it says. */
static void check_map_true(const struct ulo_seedmap *m, const uint8_t *old, uint64_t old_len,
			   const uint8_t *new)
{
	for (uint64_t r = 0; r < m->nruns; r++)
		for (uint64_t i = 0; i < m->runs[r].count; i++) {
			uint64_t off = m->runs[r].old_off + i * BS;

			CHECK(off + BS <= old_len);
			CHECK(!memcmp(old + off, new + (m->runs[r].blk + i) * BS, BS));
		}
}

static void test_same_offset(void)
{
	uint64_t n = 64, off;
	uint8_t *old = malloc(n * BS), *new = malloc(n * BS);
	struct ulo_seedmap m = { .block_size = BS };

	fill_random(old, n * BS, 1);
	memcpy(new, old, n * BS);
	new[10 * BS + 5] ^= 1;		/* blocks 10 and 40 changed */
	new[40 * BS] ^= 0x80;
	CHECK_EQ(ulo_seedmap_compute(old, n * BS, new, n * BS, BS, &m), 0);
	CHECK_EQ(m.mapped, n - 2);
	CHECK_EQ(m.nruns, 3);
	CHECK_EQ(ulo_seedmap_find(&m, 9, &off), 0);
	CHECK_EQ(off, 9 * BS);
	CHECK_EQ(ulo_seedmap_find(&m, 10, &off), -ENOENT);
	CHECK_EQ(ulo_seedmap_find(&m, 40, &off), -ENOENT);
	CHECK_EQ(ulo_seedmap_find(&m, 63, &off), 0);
	CHECK_EQ(ulo_seedmap_find(&m, 64, &off), -ENOENT);
	check_map_true(&m, old, n * BS, new);
	ulo_seedmap_free(&m);
	free(old);
	free(new);
}

/* Bytes inserted (and removed) in the middle: everything after is found
 * at its unaligned old offset, whatever the shift. */
static void test_shifted(void)
{
	static const int64_t shifts[] = { 1, 7, 513, 4095, 4097, -1, -333, -4095 };
	uint64_t n = 96;

	for (size_t k = 0; k < sizeof(shifts) / sizeof(shifts[0]); k++) {
		uint8_t *old = malloc(n * BS + 8192), *new = malloc(n * BS);
		struct ulo_seedmap m = { .block_size = BS };
		int64_t sh = shifts[k];
		uint64_t cut = 20 * BS + 100, old_len = (uint64_t)((int64_t)(n * BS) - sh), off;

		fill_random(old, old_len, 7 + (uint32_t)k);
		/* new = old[0, cut) + sh new bytes (or cut -sh bytes out) + rest */
		memcpy(new, old, cut);
		if (sh > 0) {
			fill_random(new + cut, (size_t)sh, 99);
			memcpy(new + cut + sh, old + cut, n * BS - cut - (uint64_t)sh);
		} else {
			memcpy(new + cut, old + cut - sh, n * BS - cut);
		}
		CHECK_EQ(ulo_seedmap_compute(old, old_len, new, n * BS, BS, &m), 0);
		check_map_true(&m, old, old_len, new);
		/* Blocks before the cut at the same offset; all whole blocks
		 * after the change somewhere. */
		CHECK_EQ(ulo_seedmap_find(&m, 0, &off), 0);
		CHECK_EQ(off, 0);
		CHECK_EQ(ulo_seedmap_find(&m, 19, &off), 0);
		CHECK_EQ(ulo_seedmap_find(&m, 20, &off), -ENOENT);
		CHECK_EQ(ulo_seedmap_find(&m, 23, &off), 0);
		CHECK_EQ(off, (uint64_t)(23 * (int64_t)BS - sh));
		CHECK(m.mapped >= n - 3);
		/* A shifted stretch is one run, not one per block. */
		CHECK(m.nruns <= 3);
		ulo_seedmap_free(&m);
		free(old);
		free(new);
	}
}

/* Equal blocks (zeros) in the new image all map; nothing else does when
 * the old image has nothing in common. */
static void test_duplicates_and_strangers(void)
{
	uint64_t n = 32, off;
	uint8_t *old = calloc(n, BS), *new = malloc(n * BS);
	struct ulo_seedmap m = { .block_size = BS };

	fill_random(old, 8 * BS, 3);	/* blocks 8.. of old are zeros */
	fill_random(new, n * BS, 4);
	memset(new + 3 * BS, 0, BS);
	memset(new + 17 * BS, 0, 2 * BS);
	CHECK_EQ(ulo_seedmap_compute(old, n * BS, new, n * BS, BS, &m), 0);
	CHECK_EQ(m.mapped, 3);
	CHECK_EQ(ulo_seedmap_find(&m, 3, &off), 0);
	CHECK(off >= 8 * BS);
	CHECK_EQ(ulo_seedmap_find(&m, 18, &off), 0);
	check_map_true(&m, old, n * BS, new);
	ulo_seedmap_free(&m);
	/* An old image shorter than a block: nothing found, no error. */
	CHECK_EQ(ulo_seedmap_compute(old, 100, new, n * BS, BS, &m), 0);
	CHECK_EQ(m.mapped, 0);
	free(old);
	free(new);
}

static void sample(struct ulo_seedmap *m)
{
	memset(m, 0, sizeof(*m));
	memset(m->from, 0x11, 32);
	memset(m->to, 0x22, 32);
	m->block_size = BS;
	m->blocks = 1000;
	m->old_size = 990 * BS + 17;
	CHECK_EQ(ulo_seedmap_add(m, 0, 10, 0), 0);
	CHECK_EQ(ulo_seedmap_add(m, 10, 5, 10 * BS), 0);	/* merges */
	CHECK_EQ(ulo_seedmap_add(m, 20, 100, 30 * BS + 17), 0);
	for (uint64_t i = 0; i < 40; i++)	/* grows past its first array */
		CHECK_EQ(ulo_seedmap_add(m, 200 + 2 * i, 1, i * BS), 0);
}

static void test_round_trip(void)
{
	struct ulo_seedmap m, back;
	char *text;
	size_t len;
	uint64_t off;

	sample(&m);
	CHECK_EQ(m.nruns, 42);
	CHECK_EQ(m.mapped, 155);
	CHECK_EQ(ulo_seedmap_format(&m, &text, &len), 0);
	CHECK_EQ(ulo_seedmap_parse(text, len, "s", &back), 0);
	CHECK_EQ(back.nruns, 42);
	CHECK_EQ(back.mapped, 155);
	CHECK_EQ(back.blocks, 1000);
	CHECK_EQ(back.old_size, m.old_size);
	CHECK(!memcmp(back.from, m.from, 32) && !memcmp(back.to, m.to, 32));
	CHECK_EQ(back.pack[0], 0);
	ulo_seedmap_free(&back);
	free(text);
	strcpy(m.pack, "root-2.from-1.pack");
	m.pack_size = 12345;
	CHECK_EQ(ulo_seedmap_format(&m, &text, &len), 0);
	CHECK_EQ(ulo_seedmap_parse(text, len, "s", &back), 0);
	CHECK(!strcmp(back.pack, "root-2.from-1.pack"));
	CHECK_EQ(back.pack_size, 12345);
	CHECK_EQ(ulo_seedmap_find(&back, 14, &off), 0);
	CHECK_EQ(off, 14 * BS);
	CHECK_EQ(ulo_seedmap_find(&back, 119, &off), 0);
	CHECK_EQ(off, 30 * BS + 17 + 99 * BS);
	CHECK_EQ(ulo_seedmap_find(&back, 120, &off), -ENOENT);
	CHECK_EQ(ulo_seedmap_find(&back, 201, &off), -ENOENT);
	CHECK_EQ(ulo_seedmap_find(&back, 278, &off), 0);
	CHECK_EQ(off, 39 * BS);
	ulo_seedmap_free(&back);
	ulo_seedmap_free(&m);
	free(text);
}

/* The sample's text with the first @from replaced by @to: refused with
 * @msg. */
static void refused(const char *from, const char *to, const char *msg)
{
	struct ulo_seedmap m, back;
	char *text, *out, *p;
	size_t len;

	sample(&m);
	CHECK_EQ(ulo_seedmap_format(&m, &text, &len), 0);
	ulo_seedmap_free(&m);
	p = strstr(text, from);
	CHECK(p != NULL);
	if (p) {
		out = malloc(len + strlen(to) + 1);
		sprintf(out, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
		CHECK_EQ(ulo_seedmap_parse(out, strlen(out), "http://s/x.seed", &back), -EINVAL);
		CHECK_STR_CONTAINS(ulo_errmsg(), "http://s/x.seed: line ");
		CHECK_STR_CONTAINS(ulo_errmsg(), msg);
		free(out);
	}
	free(text);
}

static void test_refused(void)
{
	refused("uloop-seed 1", "uloop-seed 2", "line 1: not a uloop seed map");
	refused("from 1111", "from 111", "line 2: not \"from\"");
	refused("to 2222", "to zz22", "line 3: not \"to\"");
	refused("block-size 4096", "block-size 4000", "line 4");
	refused("blocks 1000", "blocks 0", "line 5");
	refused("old-size ", "old-size -", "line 6");
	refused("pack - 0", "pack -", "line 7: not \"pack FILE BYTES\"");
	refused("pack - 0", "pack - 5", "line 7");
	refused("pack - 0", "pack ../x 5", "line 7");
	refused("pack - 0", "pack x.pack 0", "line 7");
	refused("runs 42", "runs 43", "the file ends early");
	refused("runs 42", "runs 99999999", "line 8: not \"runs\" and a count the file can hold");
	refused("runs 42", "runs 41", "more after the last run");
	refused("0 15 0\n", "0 0 0\n", "line 9: a run of no blocks");
	refused("0 15 0\n", "0 15\n", "line 9: not \"BLOCK COUNT OFFSET\"");
	refused("0 15 0\n", "0 15 0 \n", "line 9: not \"BLOCK COUNT OFFSET\"");
	refused("20 100 ", "10 100 ", "line 10: out of order, or overlapping");
	refused("20 100 ", "20 1000 ", "line 10: blocks past the new image's end");
	refused("20 100 122897", "20 100 3932160", "line 10: bytes past the old image's end");
	refused("278 1 159744\n", "278 1 159744", "line 50: a line too long, with a NUL, or cut short");
}

int main(void)
{
	UNIT_RUN(test_same_offset);
	UNIT_RUN(test_shifted);
	UNIT_RUN(test_duplicates_and_strangers);
	UNIT_RUN(test_round_trip);
	UNIT_RUN(test_refused);
	return unit_done();
}
