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
		       uint64_t init, uint64_t max)
{
	if (off == ra->next_off && off != 0) {
		ra->window = ra->window ? ra->window * 2 : init;
		if (ra->window > max)
			ra->window = max;
	} else {
		/* Random, or the first read of the image (a superblock probe
		 * is no stream): no readahead until a second read follows. */
		ra->window = 0;
	}
	ra->next_off = off + len;
	return ra->window;
}
