// SPDX-License-Identifier: GPL-2.0-or-later
/* plan.c - see plan.h. */
#include "plan.h"

size_t ulo_plan_spans(uint64_t first, uint64_t last, uint64_t max_blocks,
		      ulo_skip_fn skip, void *ctx, struct ulo_span *out,
		      size_t cap, uint64_t *next)
{
	uint64_t blk = first;
	size_t n = 0;

	if (!max_blocks)
		max_blocks = 1;
	while (blk <= last && n < cap) {
		bool ended = false;
		uint64_t start;

		if (skip(ctx, blk)) {
			blk++;
			continue;
		}
		start = blk++;
		while (blk <= last && blk - start < max_blocks && !ended) {
			ended = skip(ctx, blk);
			if (!ended)
				blk++;
		}
		out[n].blk = start;
		out[n].n = blk - start;
		n++;
		/* The block that ended the run was examined: step past it. */
		if (ended)
			blk++;
	}
	*next = blk;
	return n;
}

uint64_t ulo_ra_update(struct ulo_ra *ra, uint64_t off, uint64_t len,
		       const struct ulo_ra_policy *p)
{
	struct ulo_ra_stream *st = NULL, *lru = &ra->s[0];
	uint64_t end = off + len;

	ra->clock++;
	for (size_t i = 0; i < ULO_RA_STREAMS; i++) {
		struct ulo_ra_stream *c = &ra->s[i];

		if (c->used && off >= c->start && off <= c->next_off) {
			st = c;
			break;
		}
		if (c->used < lru->used)
			lru = c;
	}
	if (!st || off == 0) {
		/* A new stream (the image's first block is a probe, never
		 * the middle of one). */
		st = lru;
		st->start = off;
		st->next_off = end;
		st->run = len;
		st->window = 0;
		st->used = ra->clock;
		return 0;
	}
	if (end > st->next_off) {
		st->run += end - st->next_off;
		st->next_off = end;
	}
	st->start = off;
	st->used = ra->clock;
	if (st->run < p->trigger)
		return 0;
	st->window = st->window ? st->window * 2 : p->init;
	if (st->window > p->max)
		st->window = p->max;
	return st->window;
}
