/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stats.h - engine counters, as a struct and as JSON.
 *
 * Counters are updated with relaxed atomics by the engine's threads; a
 * snapshot (ulo_engine_stats) may be slightly inconsistent across fields
 * but each field is exact.  Latency buckets are powers of two of
 * microseconds: bucket i counts fetches that took [2^(i-1), 2^i) us
 * (bucket 0: under 1 us); the last bucket takes everything longer.
 */
#ifndef ULOOP_STATS_H
#define ULOOP_STATS_H

#include <stdint.h>

#include "json.h"

#define ULO_LAT_BUCKETS 28	/* up to 2^27 us ~ 134 s */

struct ulo_stats {
	uint64_t reads;		/* ulo_engine_read() calls */
	uint64_t bytes_served;	/* bytes returned by them */
	uint64_t hit_blocks;	/* blocks found in the cache */
	uint64_t miss_blocks;	/* blocks that had to be fetched or waited for */
	uint64_t joined_fetches;	/* misses served by a fetch already in flight */
	uint64_t fetches;	/* source requests made */
	uint64_t bytes_fetched;	/* bytes received from the source */
	uint64_t readahead_fetches;	/* of which readahead */
	uint64_t readahead_bytes;
	uint64_t retries;	/* retries reported by the source */
	uint64_t fetch_errors;	/* fetches that failed after retries */
	uint64_t cache_write_errors;	/* fetched blocks not stored */
	/* Damage on the flash (copied from the cache's counters): cached data
	 * whose CRC failed, reads the flash failed, blocks taken back and
	 * fetched again for either, bitmap sectors whose CRC failed at open;
	 * 1 once the flash is given up. */
	uint64_t cache_csum_errors;
	uint64_t cache_read_errors;
	uint64_t cache_refetched;
	uint64_t bitmap_csum_errors;
	uint64_t cache_given_up;
	/* 1 once new blocks are no longer kept: a commit or a write failed
	 * (read-only until the next start), or the flash is full. */
	uint64_t cache_write_failed;
	uint64_t cache_full;
	uint64_t ram_bytes;	/* held in RAM since the flash was given up */
	/* Fetches whose bytes failed verification against the hash tree
	 * (a manifest's source): never cached or served. */
	uint64_t verify_failures;
	/* Bytes taken from an older version on the flash instead of fetched
	 * (an update, seed.h); not in bytes_fetched. */
	uint64_t seeded_bytes;
	uint64_t fetch_lat_us[ULO_LAT_BUCKETS];
};

static inline void ulo_stat_add(uint64_t *ctr, uint64_t n)
{
	__atomic_fetch_add(ctr, n, __ATOMIC_RELAXED);
}

/* Bucket index for a latency of @us microseconds. */
unsigned ulo_lat_bucket(uint64_t us);
/* Approximate percentile (0..100) in microseconds: the bucket's upper bound. */
uint64_t ulo_lat_percentile(const struct ulo_stats *s, double pct);
/* Emit @s as a JSON object named @key (NULL: anonymous). */
void ulo_stats_json(struct ulo_json *j, const char *key,
		    const struct ulo_stats *s);

#endif
