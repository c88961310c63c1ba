// SPDX-License-Identifier: GPL-2.0-or-later
/* cmd_cat.c - uloop cat: read (part of) an image through the engine. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "util.h"

#define CAT_CHUNK (1u << 20)

static void cat_usage(FILE *f)
{
	fputs("Usage: uloop cat SOURCE [--cache PATH] [--offset N] [--length N]\n"
	      "\n"
	      "Write image bytes to standard output, through the cache if given\n"
	      "(missing blocks are fetched and kept).\n"
	      "\n"
	      "Options:\n"
	      "  --cache PATH        cache file or partition (created if missing)\n"
	      "  --bitmap PATH       use the 2007 layout: PATH is the bitmap file\n"
	      "  --block-size N      block size of a new cache (default 4K)\n"
	      CLI_HELP_FORMAT
	      "  --offset N          start here (default 0)\n"
	      "  --length N          this many bytes (default: to the end)\n"
	      "  --readahead N       readahead limit for sequential reads (default 1M)\n"
	      "  --connections N     parallel requests (default 4)\n"
	      "  --offline           keep (do not drop) a cache of another image\n"
	      "  --wipe              allow overwriting a file/device that is not a cache\n"
	      "  --stats             print the engine's counters as JSON to stderr\n"
	      "  -v, --verbose       debug output\n"
	      CLI_HELP_SOURCE_NET, f);
}

static int cat_write(const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ulo_errno(-errno, "stdout: write");
		}
		buf += n;
		len -= n;
	}
	return 0;
}

int cmd_cat(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_CACHE, CLI_OPT_BITMAP, CLI_OPT_BLOCK_SIZE, CLI_OPT_FORMAT,
		CLI_OPT_CONNECTIONS, CLI_OPT_READAHEAD, CLI_OPT_OFFLINE,
		CLI_OPT_WIPE, CLI_OPT_HELP, CLI_OPT_VERBOSE,
		CLI_OPT_SOURCE_NET,
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ "length", required_argument, NULL, OPT_LENGTH },
		{ "stats", no_argument, NULL, OPT_JSON },
		CLI_OPT_END
	};
	struct ulo_source *src = NULL;
	struct ulo_cache *c = NULL;
	struct ulo_engine *eng = NULL;
	uint8_t *buf = NULL;
	struct cli_opts o;
	uint64_t end;
	int ret;

	ret = cli_parse(argc, argv, lopts, cat_usage, 1, "one SOURCE", &o);
	if (ret >= 0)
		return ret;
	ret = ULO_EXIT_FAIL;
	if (cli_check_opts(&o))
		return ULO_EXIT_USAGE;
	if (cli_open_source(&o, argv[optind], &src))
		return ULO_EXIT_FAIL;
	if (o.offset > src->id.size ||
	    (o.have_length && o.length > src->id.size - o.offset)) {
		cli_note("%s: range %" PRIu64 "+%" PRIu64 " is past the end of the image (%" PRIu64
			 " bytes)", src->id.location, o.offset, o.length, src->id.size);
		goto out;
	}
	end = o.have_length ? o.offset + o.length : src->id.size;
	if (o.cache && cli_open_bound_cache(&o, src, &c))
		goto out;
	if (ulo_engine_new(src, c, &o.eng, &eng)) {
		cli_fail();
		goto out;
	}
	buf = malloc(CAT_CHUNK);
	if (!buf) {
		ulo_errno(-ENOMEM, "cat buffer");
		cli_fail();
		goto out;
	}
	for (uint64_t off = o.offset; off < end; off += CAT_CHUNK) {
		size_t len = ULO_MIN(CAT_CHUNK, end - off);

		if (ulo_engine_read(eng, buf, off, len) || cat_write(buf, len)) {
			cli_fail();
			goto out;
		}
	}
	if (o.json) {
		struct ulo_stats st;
		struct ulo_json j;

		ulo_engine_settle(eng);	/* the last blocks' writes counted */
		ulo_engine_stats(eng, &st);
		ulo_json_init(&j, stderr);
		ulo_stats_json(&j, NULL, &st);
		ulo_json_done(&j);
	}
	ret = ULO_EXIT_OK;
out:
	free(buf);
	ulo_engine_free(eng);
	cli_close_serving_cache(c);
	ulo_source_close(src);
	return ret;
}
