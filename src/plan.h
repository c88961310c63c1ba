/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan.h - deciding what to fetch: coalescing and adaptive readahead.
 *
 * Pure functions (no I/O, no locks) so the policy is unit-tested alone.
 */
#ifndef ULOOP_PLAN_H
#define ULOOP_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A run of blocks [blk, blk + n). */
struct ulo_span {
	uint64_t blk;
	uint64_t n;
};

/* True if block @blk needs no fetch (present, or already being fetched).
 * Called exactly once per examined block, so it may count or act. */
typedef bool (*ulo_skip_fn)(void *ctx, uint64_t blk);

/*
 * Coalesce the blocks of [@first, @last] that @skip does not skip into
 * runs of at most @max_blocks blocks, in order.  Writes at most @cap spans
 * and returns how many; *@next gets the first block not yet examined
 * (@last + 1 when all were).
 */
size_t ulo_plan_spans(uint64_t first, uint64_t last, uint64_t max_blocks,
		      ulo_skip_fn skip, void *ctx, struct ulo_span *out,
		      size_t cap, uint64_t *next);

/*
 * Sequential-read detection, one stream.  A read that starts where the
 * previous one ended doubles the window (from @init up to @max blocks); any
 * other read resets it to 0.  Linux's readahead does the same at a coarser
 * scale; ours only decides how far past a read to prefetch.
 */
struct ulo_ra {
	uint64_t next_off;	/* where a sequential read would start */
	uint64_t window;	/* current readahead, in blocks */
};

/* Account a read of [@off, @off + @len); returns the window in blocks. */
uint64_t ulo_ra_update(struct ulo_ra *ra, uint64_t off, uint64_t len,
		       uint64_t init, uint64_t max);

#endif
