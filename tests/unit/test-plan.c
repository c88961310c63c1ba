// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-plan.c - fetch planning (plan.c): span coalescing and readahead.
 *
 * ulo_plan_spans() decides which source requests a read turns into: a
 * span that covers a present block fetches it again for nothing, a missed
 * block is served from nowhere, and a lost continuation (*next) skips part
 * of a read.  ulo_ra_update() decides how far past a read to prefetch.
 * Both are pure functions, so they are checked here exhaustively.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "plan.h"
#include "util.h"
#include "unit.h"

struct skipmap {
	const bool *skip;
	uint64_t n;
	uint64_t calls;
};

static bool skip_fn(void *ctx, uint64_t blk)
{
	struct skipmap *m = ctx;

	m->calls++;
	CHECK(blk < m->n);	/* never asked about blocks out of range */
	return blk < m->n ? m->skip[blk] : true;
}

static bool span_is(const struct ulo_span *s, uint64_t blk, uint64_t n)
{
	return s->blk == blk && s->n == n;
}

static void test_coalesce(void)
{
	/*          0  1  2  3  4  5  6  7  8  9 */
	bool sk[] = { 1, 0, 0, 0, 1, 1, 0, 1, 0, 0 };
	struct skipmap m = { sk, ULO_ARRAY_SIZE(sk), 0 };
	struct ulo_span out[8];
	uint64_t next = 0;
	size_t n;

	n = ulo_plan_spans(0, 9, 100, skip_fn, &m, out, 8, &next);
	CHECK_EQ(n, 3);
	CHECK(span_is(&out[0], 1, 3));
	CHECK(span_is(&out[1], 6, 1));
	CHECK(span_is(&out[2], 8, 2));
	CHECK_EQ(next, 10);

	/* A sub-range starting and ending inside runs. */
	n = ulo_plan_spans(2, 8, 100, skip_fn, &m, out, 8, &next);
	CHECK_EQ(n, 3);
	CHECK(span_is(&out[0], 2, 2));
	CHECK(span_is(&out[1], 6, 1));
	CHECK(span_is(&out[2], 8, 1));
	CHECK_EQ(next, 9);
}

static void test_nothing_skipped(void)
{
	bool sk[16] = { 0 };
	struct skipmap m = { sk, 16, 0 };
	struct ulo_span out[4];
	uint64_t next = 0;

	CHECK_EQ(ulo_plan_spans(0, 15, 64, skip_fn, &m, out, 4, &next), 1);
	CHECK(span_is(&out[0], 0, 16));
	CHECK_EQ(next, 16);
	/* Each block asked about once. */
	CHECK_EQ(m.calls, 16);
}

static void test_max_blocks(void)
{
	bool sk[20] = { 0 };
	struct skipmap m = { sk, 20, 0 };
	struct ulo_span out[8];
	uint64_t next = 0;
	size_t n;

	/* 10 missing blocks in runs of at most 4. */
	sk[10] = true;
	n = ulo_plan_spans(0, 9, 4, skip_fn, &m, out, 8, &next);
	CHECK_EQ(n, 3);
	CHECK(span_is(&out[0], 0, 4));
	CHECK(span_is(&out[1], 4, 4));
	CHECK(span_is(&out[2], 8, 2));
	CHECK_EQ(next, 10);

	/* A split run keeps going after a skipped block. */
	n = ulo_plan_spans(7, 19, 4, skip_fn, &m, out, 8, &next);
	CHECK_EQ(n, 4);
	CHECK(span_is(&out[0], 7, 3));
	CHECK(span_is(&out[1], 11, 4));
	CHECK(span_is(&out[2], 15, 4));
	CHECK(span_is(&out[3], 19, 1));
	CHECK_EQ(next, 20);

	/* max_blocks 1: one span per block; 0 behaves like 1. */
	n = ulo_plan_spans(0, 3, 1, skip_fn, &m, out, 8, &next);
	CHECK_EQ(n, 4);
	for (size_t i = 0; i < n; i++)
		CHECK(span_is(&out[i], i, 1));
	n = ulo_plan_spans(0, 3, 0, skip_fn, &m, out, 8, &next);
	CHECK_EQ(n, 4);
	for (size_t i = 0; i < n; i++)
		CHECK(span_is(&out[i], i, 1));
	CHECK_EQ(next, 4);
}

static void test_cap_continuation(void)
{
	/*          0  1  2  3  4  5  6  7  8  9 10 11 */
	bool sk[] = { 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1 };
	struct skipmap m = { sk, ULO_ARRAY_SIZE(sk), 0 };
	struct ulo_span out[2], all[16];
	uint64_t next = 0, from = 0;
	size_t n, total = 0;

	n = ulo_plan_spans(0, 11, 2, skip_fn, &m, out, 2, &next);
	CHECK_EQ(n, 2);
	CHECK(span_is(&out[0], 0, 1));
	CHECK(span_is(&out[1], 2, 1));
	CHECK(next > 2 && next <= 4);

	/* Repeating from *next yields exactly the uncapped plan. */
	while (from <= 11) {
		n = ulo_plan_spans(from, 11, 2, skip_fn, &m, out, 2, &next);
		CHECK(next > from);
		if (next <= from)
			break;
		for (size_t i = 0; i < n && total < ULO_ARRAY_SIZE(all); i++)
			all[total++] = out[i];
		from = next;
	}
	CHECK_EQ(from, 12);
	CHECK_EQ(total, 6);
	CHECK(span_is(&all[0], 0, 1));
	CHECK(span_is(&all[1], 2, 1));
	CHECK(span_is(&all[2], 4, 1));
	CHECK(span_is(&all[3], 6, 1));
	CHECK(span_is(&all[4], 8, 2));
	CHECK(span_is(&all[5], 10, 1));

	/* cap 0: nothing planned, nothing consumed. */
	n = ulo_plan_spans(4, 11, 2, skip_fn, &m, out, 0, &next);
	CHECK_EQ(n, 0);
	CHECK_EQ(next, 4);
}

static void test_all_skipped(void)
{
	bool sk[10];
	struct skipmap m = { sk, 10, 0 };
	struct ulo_span out[4];
	uint64_t next = 0;

	memset(sk, 1, sizeof(sk));
	memset(out, 0xee, sizeof(out));
	CHECK_EQ(ulo_plan_spans(0, 9, 8, skip_fn, &m, out, 4, &next), 0);
	CHECK_EQ(next, 10);
	CHECK_EQ(m.calls, 10);
	CHECK_EQ(out[0].blk, 0xeeeeeeeeeeeeeeeeull);	/* untouched */
}

static void test_single_block(void)
{
	bool sk[8] = { 0 };
	struct skipmap m = { sk, 8, 0 };
	struct ulo_span out[4];
	uint64_t next = 0;

	CHECK_EQ(ulo_plan_spans(5, 5, 8, skip_fn, &m, out, 4, &next), 1);
	CHECK(span_is(&out[0], 5, 1));
	CHECK_EQ(next, 6);
	sk[5] = true;
	CHECK_EQ(ulo_plan_spans(5, 5, 8, skip_fn, &m, out, 4, &next), 0);
	CHECK_EQ(next, 6);
	/* The last block of the range is the last block of the image. */
	CHECK_EQ(ulo_plan_spans(7, 7, 8, skip_fn, &m, out, 1, &next), 1);
	CHECK(span_is(&out[0], 7, 1));
	CHECK_EQ(next, 8);
}

/* Trigger 4 KiB x 3, window 8 KiB doubling to 64 KiB. */
static const struct ulo_ra_policy pol = { 3 * 4096, 8192, 65536 };

static void test_ra_first_read(void)
{
	struct ulo_ra ra = { 0 };

	/* The first read of the image (a probe) gets no readahead, however
	 * long, and a read from 0 always starts a stream anew. */
	CHECK_EQ(ulo_ra_update(&ra, 0, 65536, &pol), 0);
	CHECK_EQ(ulo_ra_update(&ra, 0, 65536, &pol), 0);
	CHECK_EQ(ulo_ra_update(&ra, 65536, 4096, &pol), 8192);
	/* Nor does a first read elsewhere. */
	memset(&ra, 0, sizeof(ra));
	CHECK_EQ(ulo_ra_update(&ra, 1 << 20, 65536, &pol), 0);
}

static void test_ra_trigger(void)
{
	struct ulo_ra ra = { 0 };
	static const uint64_t want[] = { 0, 0, 8192, 16384, 32768, 65536, 65536 };
	uint64_t off = 1 << 20;

	/* Short runs (a small file) never get readahead: two reads of
	 * 4 KiB are under the trigger, the third reaches it. */
	for (size_t i = 0; i < ULO_ARRAY_SIZE(want); i++) {
		CHECK_EQ(ulo_ra_update(&ra, off, 4096, &pol), want[i]);
		off += 4096;
	}
	/* One read as long as the trigger starts nothing by itself... */
	memset(&ra, 0, sizeof(ra));
	CHECK_EQ(ulo_ra_update(&ra, 1 << 20, 3 * 4096, &pol), 0);
	/* ...but the next read of the stream does. */
	CHECK_EQ(ulo_ra_update(&ra, (1 << 20) + 3 * 4096, 100, &pol), 8192);
}

static void test_ra_streams(void)
{
	struct ulo_ra ra = { 0 };
	uint64_t a = 1 << 20, b = 8 << 20;

	/* Two files read in turns: each is its own stream. */
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(ulo_ra_update(&ra, a, 4096, &pol), 0);
		CHECK_EQ(ulo_ra_update(&ra, b, 4096, &pol), 0);
		a += 4096;
		b += 4096;
	}
	CHECK_EQ(ulo_ra_update(&ra, a, 4096, &pol), 8192);
	CHECK_EQ(ulo_ra_update(&ra, b, 4096, &pol), 8192);
	/* The kernel's parallel readahead: a read inside the last one
	 * (arrived late) continues the stream without growing it. */
	CHECK_EQ(ulo_ra_update(&ra, a, 2048, &pol), 16384);
	/* A jump forward is a new stream. */
	CHECK_EQ(ulo_ra_update(&ra, a + (1 << 20), 4096, &pol), 0);
}

static void test_ra_lru(void)
{
	struct ulo_ra ra = { 0 };
	uint64_t base = 1 << 20;

	/* Stream 0 reaches the trigger, then ULO_RA_STREAMS other streams
	 * start: the one used least recently (stream 0) is the one given up. */
	for (int i = 0; i < 3; i++)
		ulo_ra_update(&ra, base + i * 4096, 4096, &pol);
	for (int s = 1; s <= ULO_RA_STREAMS; s++)
		CHECK_EQ(ulo_ra_update(&ra, base + s * (16 << 20), 4096, &pol), 0);
	CHECK_EQ(ulo_ra_update(&ra, base + 3 * 4096, 4096, &pol), 0);
}

static void test_ra_cap(void)
{
	struct ulo_ra ra = { 0 };
	struct ulo_ra_policy p = { 4096, 3 * 4096, 20 * 4096 };
	uint64_t off = 4096, w = 0;

	for (int i = 0; i < 100; i++) {
		w = ulo_ra_update(&ra, off, 4096, &p);
		CHECK(w <= 20 * 4096);
		off += 4096;
	}
	CHECK_EQ(w, 20 * 4096);	/* 3, 6, 12, then capped, not 24 */
}

int main(void)
{
	UNIT_RUN(test_coalesce);
	UNIT_RUN(test_nothing_skipped);
	UNIT_RUN(test_max_blocks);
	UNIT_RUN(test_cap_continuation);
	UNIT_RUN(test_all_skipped);
	UNIT_RUN(test_single_block);
	UNIT_RUN(test_ra_first_read);
	UNIT_RUN(test_ra_trigger);
	UNIT_RUN(test_ra_streams);
	UNIT_RUN(test_ra_lru);
	UNIT_RUN(test_ra_cap);
	return unit_done();
}
