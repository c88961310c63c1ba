// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_hydrate.c - uloop hydrate: fetch every missing block into the cache.
 *
 * The image is walked in 64 MiB windows handed to the engine as background
 * work; the engine bounds how much is queued, so memory stays flat however
 * large the image is.  Blocks already present are neither fetched nor
 * rewritten, so an interrupted hydrate resumes where it stopped.
 *
 * --seed stages a manifest's new version beside the cache (update.h):
 * into CACHE.next, taking what it shares with the version CACHE holds
 * from CACHE itself (read-only: the daemon serving it goes on), so that
 * the next boot of that version switches with nothing left to fetch.
 * An update's older version (CACHE.seed) is removed once a hydration
 * has taken all it had.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "failpoint.h"
#include "json.h"
#include "progress.h"
#include "seed.h"
#include "update.h"
#include "util.h"

#define HYDRATE_WINDOW (64ull << 20)

static void hydrate_usage(FILE *f)
{
	fputs("Usage: uloop hydrate SOURCE --cache PATH [options]\n"
	      "\n"
	      "Fetch every block of SOURCE that the cache does not hold yet.\n"
	      "\n"
	      "Options:\n"
	      "  --cache PATH        cache file or partition (created if missing)\n"
	      "  --bitmap PATH       use the 2007 layout: PATH is the bitmap file\n"
	      "  --block-size N      block size of a new cache (4K..1M, default 4K)\n"
	      CLI_HELP_FORMAT
	      "  --rate BYTES        fetch at most BYTES per second (e.g. 10M)\n"
	      "  --seed              SOURCE is a manifest's newer version than the cache\n"
	      "                      holds: stage it in PATH.next, taking the blocks the\n"
	      "                      two share from PATH (which a daemon may be serving);\n"
	      "                      the next attach of that version switches to it\n"
	      "  --connections N     parallel requests (default 4)\n"
	      "  --progress          show a progress bar (default: on a terminal)\n"
	      "  --no-progress       never show it\n"
	      "  --offline           keep (do not drop) a cache of another image\n"
	      "  --wipe              allow overwriting a file/device that is not a cache\n"
	      "  --json              print the result as JSON\n"
	      "  -v, --verbose       debug output\n"
	      CLI_HELP_SOURCE_NET, f);
}

int cmd_hydrate(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_CACHE, CLI_OPT_BITMAP, CLI_OPT_BLOCK_SIZE, CLI_OPT_FORMAT,
		CLI_OPT_CONNECTIONS, CLI_OPT_READAHEAD, CLI_OPT_OFFLINE,
		CLI_OPT_WIPE, CLI_OPT_JSON, CLI_OPT_HELP, CLI_OPT_VERBOSE,
		CLI_OPT_SOURCE_NET,
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "seed", no_argument, NULL, OPT_SEED },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		CLI_OPT_END
	};
	struct ulo_source *src = NULL;
	struct ulo_cache *cache = NULL;
	struct ulo_engine *eng = NULL;
	struct ulo_progress prog;
	struct ulo_stats st;
	struct cli_opts o;
	uint64_t t0, had, size, off, len, split;
	struct ulo_verity_info vi;
	char next[PATH_MAX];
	struct ulo_seed *seed = NULL;
	bool staged = false;
	double secs;
	int ret;

	ret = cli_parse(argc, argv, lopts, hydrate_usage, 1, "one SOURCE", &o);
	if (ret >= 0)
		return ret;
	ret = ULO_EXIT_FAIL;
	if (!o.cache)
		return cli_usage_error("--cache PATH is required");
	if (cli_check_opts(&o))
		return ULO_EXIT_USAGE;
	cli_block_signals();
	/* Every block, as fast as it comes: HTTP/1.1 on each connection. */
	o.src.bulk = true;
	if (cli_open_source(&o, argv[optind], &src))
		return ULO_EXIT_FAIL;
	if (o.stage) {
		char note[512];
		int r = ulo_update_stage(o.cache, src, next, &seed, note, sizeof(note));

		if (r < 0) {
			cli_fail();
			goto out;
		}
		if (note[0])
			cli_note("%s", note);
		staged = r == 0;
		if (staged)
			o.cache = next;
	}
	if (cli_open_bound_cache(&o, src, &cache)) {
		ulo_seed_close(seed, false);
		goto out;
	}
	if (seed && ulo_source_set_seed(src, seed))
		cli_note("%s", ulo_errmsg());
	seed = NULL;	/* the source's now */
	o.eng.readahead = 0;	/* hydrate reads everything anyway */
	if (ulo_engine_new(src, cache, &o.eng, &eng)) {
		cli_fail();
		goto out;
	}
	/* Short of descriptors, every fetch would wait out a retry. */
	if (cli_reserve_fds(&o, src, 2)) {	/* a resolver's socket, one more */
		cli_fail();
		goto out;
	}
	/* Ctrl-C or SIGTERM: stop fetching, keep what came, close cleanly. */
	if (cli_cancel_on_signals(eng)) {
		cli_fail();
		goto out;
	}
	size = src->id.size;
	had = ulo_cache_count(cache);
	t0 = ulo_now_ns();
	ulo_progress_start(&prog, o.progress, size,
			   ULO_MIN(size, had * ulo_cache_block_size(cache)));
	/* An update's changed blocks come compressed in its pack, if it has
	 * one; what that does not give is fetched below as usual. */
	if (ulo_source_seed(src)) {
		uint64_t n;
		int r = ulo_update_apply_pack(eng, cache, src, true, &n);

		if (r && r != -ENOENT)
			cli_note("%s; its blocks are fetched one range at a time", ulo_errmsg());
	}
	/* An update fills the image before its tree: the leaves of the blocks
	 * at hand are then computed, not fetched. */
	split = size;
	if (ulo_source_seed(src) && !ulo_source_verity_info(src, &vi))
		split = vi.data_blocks * vi.data_block_size;
	for (off = 0; off < size; off += len) {
		len = ULO_MIN(HYDRATE_WINDOW, (off < split ? split : size) - off);
		/* A compact cache at its --cache-size: more would only evict
		 * what this run fetched. */
		if (ulo_cache_at_limit(cache)) {
			char a[32];

			cli_note("cache %s: at its size limit with %s of the image; hydration stops here (what is read later evicts the least recently read)",
				 ulo_cache_path(cache), ulo_fmt_size(ulo_cache_count(cache) *
				 ulo_cache_block_size(cache), a, sizeof(a)));
			break;
		}
		if ((off == split && ulo_engine_drain(eng)) ||
		    ulo_engine_prefetch(eng, off, len, NULL)) {
			ulo_progress_end(&prog);
			ulo_engine_drain(eng);
			if (cli_signal_received())
				cli_note("%s: interrupted; %" PRIu64 " of %" PRIu64
					 " blocks present, kept for the next run",
					 ulo_cache_path(cache), ulo_cache_count(cache),
					 ulo_cache_nblocks(cache));
			else
				cli_fail();
			goto out;
		}
		ulo_progress_update(&prog, ULO_MIN(size, ulo_cache_count(cache) *
				    ulo_cache_block_size(cache)), false);
	}
	if (ulo_engine_drain(eng) || cli_signal_received()) {
		ulo_progress_end(&prog);
		if (cli_signal_received())
			cli_note("%s: interrupted; %" PRIu64 " of %" PRIu64
				 " blocks present, kept for the next run",
				 ulo_cache_path(cache), ulo_cache_count(cache),
				 ulo_cache_nblocks(cache));
		else
			cli_fail();
		goto out;
	}
	ulo_progress_update(&prog, size, true);
	ulo_progress_end(&prog);
	ulo_engine_stats(eng, &st);
	/* All the older version had is in the cache now: a staging's seed
	 * is the cache a daemon serves (kept), an update's is removed, once
	 * the cache holds its blocks durably. */
	if (ulo_source_seed(src)) {
		bool all = !ulo_cache_commit(cache) && ulo_seed_all_taken(ulo_source_seed(src), cache);

		ulo_failpoint("update-seed-retire");
		if (ulo_seed_close(ulo_source_take_seed(src), !staged && all))
			cli_note("%s", ulo_errmsg());
	}
	ulo_engine_free(eng);
	eng = NULL;
	if (ulo_cache_commit(cache)) {
		cli_fail();
		goto out;
	}
	secs = (ulo_now_ns() - t0) / 1e9;
	if (o.json) {
		struct ulo_json j;

		ulo_json_init(&j, stdout);
		ulo_json_obj_begin(&j, NULL);
		ulo_json_str(&j, "source", src->id.location);
		ulo_json_str(&j, "cache", ulo_cache_path(cache));
		ulo_json_u64(&j, "image_size", size);
		ulo_json_u64(&j, "blocks", ulo_cache_nblocks(cache));
		ulo_json_u64(&j, "blocks_present_before", had);
		ulo_json_u64(&j, "blocks_present", ulo_cache_count(cache));
		ulo_json_double(&j, "seconds", secs);
		ulo_stats_json(&j, "stats", &st);
		ulo_json_obj_end(&j);
		ulo_json_done(&j);
	} else {
		char a[32], b[32];

		printf("%s: %" PRIu64 "/%" PRIu64 " blocks present; fetched %s in %" PRIu64
		       " requests, %.2f s (%s/s)\n", ulo_cache_path(cache),
		       ulo_cache_count(cache), ulo_cache_nblocks(cache),
		       ulo_fmt_size(st.bytes_fetched, a, sizeof(a)), st.fetches,
		       secs, ulo_fmt_size(secs > 0 ? (uint64_t)(st.bytes_fetched / secs) : 0,
					  b, sizeof(b)));
		if (st.seeded_bytes)
			printf("%s: %s taken from the older version on the flash%s\n",
			       ulo_cache_path(cache), ulo_fmt_size(st.seeded_bytes, a, sizeof(a)),
			       staged ? "; the next attach of this version switches to it" : "");
	}
	ret = ULO_EXIT_OK;
out:
	cli_signals_done();
	ulo_engine_free(eng);
	if (cache && ulo_cache_close(cache) && ret == ULO_EXIT_OK)
		ret = cli_fail();
	ulo_source_close(src);
	return ret;
}
