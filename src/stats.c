// SPDX-License-Identifier: GPL-2.0-or-later
/* stats.c - latency buckets and JSON for engine counters. */
#include "stats.h"

unsigned ulo_lat_bucket(uint64_t us)
{
	unsigned b = us ? 64 - __builtin_clzll(us) : 0;

	return b < ULO_LAT_BUCKETS ? b : ULO_LAT_BUCKETS - 1;
}

uint64_t ulo_lat_percentile(const struct ulo_stats *s, double pct)
{
	uint64_t total = 0, seen = 0;

	for (unsigned i = 0; i < ULO_LAT_BUCKETS; i++)
		total += s->fetch_lat_us[i];
	if (!total)
		return 0;
	for (unsigned i = 0; i < ULO_LAT_BUCKETS; i++) {
		seen += s->fetch_lat_us[i];
		if ((double)seen * 100.0 >= pct * (double)total)
			return 1ull << i;
	}
	return 1ull << (ULO_LAT_BUCKETS - 1);
}

void ulo_stats_json(struct ulo_json *j, const char *key,
		    const struct ulo_stats *s)
{
	unsigned last = 0;

	ulo_json_obj_begin(j, key);
	ulo_json_u64(j, "reads", s->reads);
	ulo_json_u64(j, "bytes_served", s->bytes_served);
	ulo_json_u64(j, "hit_blocks", s->hit_blocks);
	ulo_json_u64(j, "miss_blocks", s->miss_blocks);
	ulo_json_u64(j, "joined_fetches", s->joined_fetches);
	ulo_json_u64(j, "fetches", s->fetches);
	ulo_json_u64(j, "bytes_fetched", s->bytes_fetched);
	ulo_json_u64(j, "readahead_fetches", s->readahead_fetches);
	ulo_json_u64(j, "readahead_bytes", s->readahead_bytes);
	ulo_json_u64(j, "retries", s->retries);
	ulo_json_u64(j, "fetch_errors", s->fetch_errors);
	ulo_json_u64(j, "cache_write_errors", s->cache_write_errors);
	ulo_json_u64(j, "cache_csum_errors", s->cache_csum_errors);
	ulo_json_u64(j, "cache_read_errors", s->cache_read_errors);
	ulo_json_u64(j, "cache_refetched", s->cache_refetched);
	ulo_json_u64(j, "bitmap_csum_errors", s->bitmap_csum_errors);
	ulo_json_u64(j, "cache_given_up", s->cache_given_up);
	ulo_json_u64(j, "cache_write_failed", s->cache_write_failed);
	ulo_json_u64(j, "cache_full", s->cache_full);
	ulo_json_u64(j, "ram_bytes", s->ram_bytes);
	ulo_json_u64(j, "verify_failures", s->verify_failures);
	ulo_json_u64(j, "seeded_bytes", s->seeded_bytes);
	ulo_json_u64(j, "fetch_p50_us", ulo_lat_percentile(s, 50));
	ulo_json_u64(j, "fetch_p99_us", ulo_lat_percentile(s, 99));
	/* Histogram: "le_us" upper bounds with counts, trailing zeros cut. */
	for (unsigned i = 0; i < ULO_LAT_BUCKETS; i++)
		if (s->fetch_lat_us[i])
			last = i + 1;
	ulo_json_arr_begin(j, "fetch_latency_us");
	for (unsigned i = 0; i < last; i++) {
		ulo_json_obj_begin(j, NULL);
		ulo_json_u64(j, "le", 1ull << i);
		ulo_json_u64(j, "count", s->fetch_lat_us[i]);
		ulo_json_obj_end(j);
	}
	ulo_json_arr_end(j);
	ulo_json_obj_end(j);
}
