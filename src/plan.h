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
 * Sequential-read detection over a few streams at once (a boot reads
 * several files in parallel), in bytes.  A read continues a stream when it
 * starts inside the stream's last read or right after it (the kernel's own
 * readahead sends parallel reads that arrive slightly out of order).  A
 * stream earns readahead only once it has read @trigger bytes in a row:
 * the kernel already reads ahead a little for every file, and a boot's
 * reads are short runs (one small file each) that our readahead would
 * only over-fetch.  From then on the window doubles from @init up to @max
 * with every read that continues it.  A read that continues no stream
 * starts one in the slot used least recently.
 */
#define ULO_RA_STREAMS 8

struct ulo_ra_policy {
	uint64_t trigger;	/* bytes read in a row before any readahead */
	uint64_t init, max;	/* window, bytes */
};

struct ulo_ra_stream {
	uint64_t start;		/* of the stream's last read */
	uint64_t next_off;	/* where a sequential read would start */
	uint64_t run;		/* bytes read in a row */
	uint64_t window;	/* current readahead, bytes */
	uint64_t used;		/* ulo_ra.clock of its last read; 0 = free */
};

struct ulo_ra {
	struct ulo_ra_stream s[ULO_RA_STREAMS];
	uint64_t clock;
};

/* Account a read of [@off, @off + @len); returns the readahead window in
 * bytes past the read's end (0: none). */
uint64_t ulo_ra_update(struct ulo_ra *ra, uint64_t off, uint64_t len,
		       const struct ulo_ra_policy *p);

#endif
