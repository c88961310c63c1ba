// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_check.c - uloop check: is the cache consistent, and (with --source)
 * does every present block equal the image?
 *
 * Opening the cache already validates what the format can validate (both
 * header copies, regions, bitmap sector checksums, stray bitmap bits);
 * this reads every present block against its checksum (format 2) and,
 * with --source, compares it with the image, in 1 MiB pieces.  A cache whose recorded
 * image is not the source's current one is reported as such: comparing
 * it would only list differences that uloop would never serve.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

#define CHECK_CHUNK (1u << 20)
#define CHECK_REPORT_MAX 10

static void check_usage(FILE *f)
{
	fputs("Usage: uloop check CACHE [--bitmap PATH] [--source SOURCE] [--ignore-identity]\n"
	      "\n"
	      "Verify a cache's own consistency and, with --source, that every\n"
	      "present block equals the source.  Exit status 1 if not.\n"
	      "--ignore-identity compares even if SOURCE is not the image the\n"
	      "cache was filled from (a copy of it elsewhere, say).\n"
	      "\n"
	      "Options for a network SOURCE:\n"
	      CLI_HELP_SOURCE_NET, f);
}

/* Read present block @blk (checked against its CRC) into @buf, noting why
 * not.  0, 1 (damaged: counted in *@bad) or -errno. */
static int check_read_block(struct ulo_cache *c, uint64_t blk, uint8_t *buf,
			    uint64_t *bad)
{
	uint64_t at;
	int ret = ulo_cache_read_checked(c, buf, blk << c->block_shift,
					 ulo_cache_block_len(c, blk), &at);

	if (ret != -EBADMSG && ret != -EIO)
		return ret;
	if (*bad < CHECK_REPORT_MAX)
		cli_note("%s", ulo_errmsg());
	(*bad)++;
	return 1;
}

/*
 * Every present block: read from the flash and checked against its CRC
 * (format 2), and with @src compared with the image.  Runs of present
 * blocks are read in 1 MiB pieces; a piece that fails is read again block
 * by block to name each damaged one.
 */
static int check_blocks(struct ulo_cache *c, struct ulo_source *src,
			uint64_t *checked, uint64_t *bad)
{
	uint8_t *a = malloc(CHECK_CHUNK), *b = malloc(CHECK_CHUNK);
	uint64_t per = ULO_MAX(1, CHECK_CHUNK >> c->block_shift);
	uint64_t blk = ulo_bitmap_next_set(&c->present, 0);
	int ret = 0;

	*checked = *bad = 0;
	if (!a || !b) {
		ret = ulo_errno(-ENOMEM, "check buffers");
		goto out;
	}
	while (blk < c->nblocks) {
		uint64_t n = 1, off = blk << c->block_shift, at;
		bool damaged[CHECK_CHUNK / 4096] = { false };
		size_t len;

		while (n < per && blk + n < c->nblocks &&
		       ulo_cache_present(c, blk + n))
			n++;
		len = ULO_MIN(n << c->block_shift, c->image_size - off);
		ret = ulo_cache_read_checked(c, a, off, len, &at);
		if (ret == -EBADMSG || ret == -EIO) {
			for (uint64_t i = 0; i < n; i++) {
				ret = check_read_block(c, blk + i, a + (i << c->block_shift), bad);
				if (ret < 0)
					goto out;
				damaged[i] = ret;
			}
			ret = 0;
		}
		if (!ret && src)
			ret = ulo_source_read(src, b, off, len, NULL);
		if (ret)
			goto out;
		for (uint64_t i = 0; src && i < n; i++) {
			size_t bo = i << c->block_shift;
			size_t bl = ULO_MIN(c->block_size, len - bo);

			if (!damaged[i] && memcmp(a + bo, b + bo, bl)) {
				if (*bad < CHECK_REPORT_MAX)
					cli_note("cache %s: block %" PRIu64
						 " (offset %" PRIu64 ") differs from %s",
						 c->path, blk + i, off + bo,
						 src->id.location);
				(*bad)++;
			}
		}
		*checked += n;
		blk = ulo_bitmap_next_set(&c->present, blk + n);
	}
out:
	free(a);
	free(b);
	return ret;
}

int cmd_check(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_BITMAP, CLI_OPT_SOURCE, CLI_OPT_HELP, CLI_OPT_VERBOSE,
		CLI_OPT_SOURCE_NET,
		{ "ignore-identity", no_argument, NULL, OPT_IGNORE_IDENTITY },
		CLI_OPT_END
	};
	struct ulo_source *src = NULL;
	struct ulo_cache *c;
	uint64_t checked, bad;
	struct cli_opts o;
	int ret;

	ret = cli_start_cache_cmd(argc, argv, lopts, check_usage, &o, &c);
	if (ret >= 0)
		return ret;
	ret = ULO_EXIT_FAIL;
	if (!o.source) {
		/* Format 2: every present block against its checksum. */
		if (c->laid_out && c->csum_offset) {
			if (check_blocks(c, NULL, &checked, &bad) ||
			    ulo_cache_check_binding(c)) {
				cli_fail();
				goto out;
			}
			if (bad) {
				cli_note("cache %s: %" PRIu64 " of %" PRIu64
					 " present blocks fail their checksum or cannot be read",
					 c->path, bad, checked);
				goto out;
			}
		}
		printf("%s: consistent; %" PRIu64 " of %" PRIu64 " blocks present%s\n",
		       c->path, c->laid_out ? ulo_cache_count(c) : 0, c->nblocks,
		       c->laid_out && c->csum_offset ? ", all matching their checksums" : "");
		ret = ULO_EXIT_OK;
		goto out;
	}
	if (cli_open_source(&o, o.source, &src))
		goto out;
	if (c->laid_out && o.ignore_identity && src->id.size != c->image_size) {
		cli_note("cache %s: image size %" PRIu64 ", %s has %" PRIu64,
			 c->path, c->image_size, src->id.location, src->id.size);
		goto out;
	} else if (!c->laid_out || c->id.kind == ULO_ID_NONE || c->id.kind == ULO_ID_APP) {
		if (c->fmt != &ulo_cache_fmt_2007 || !c->laid_out) {
			printf("%s: consistent; holds no image (nothing to compare)\n",
			       c->path);
			ret = ULO_EXIT_OK;
			goto out;
		}
		/* A 2007 cache never recorded its image, and one made through
		 * the 2007 API knows only its size: compare by size. */
		if (ULO_ROUND_UP(src->id.size, ULO_2007_PAGE) !=
		    ULO_ROUND_UP(c->image_size, ULO_2007_PAGE)) {
			cli_note("cache %s: size %" PRIu64 " does not match %s (%" PRIu64 " bytes)",
				 c->path, c->image_size, src->id.location, src->id.size);
			goto out;
		}
		c->image_size = src->id.size;
	} else if (!ulo_identity_same(&c->id, &src->id) && !o.ignore_identity) {
		cli_note("cache %s: holds another image than %s (cache: %s %s; source: %s %s)",
			 c->path, src->id.location, ulo_id_kind_name(c->id.kind),
			 c->id.validator, ulo_id_kind_name(src->id.kind),
			 src->id.validator);
		goto out;
	}
	if (check_blocks(c, src, &checked, &bad) || ulo_cache_check_binding(c)) {
		cli_fail();
		goto out;
	}
	if (bad) {
		cli_note("cache %s: %" PRIu64 " of %" PRIu64 " present blocks differ from %s or fail their checksum",
			 c->path, bad, checked, src->id.location);
		goto out;
	}
	printf("%s: consistent; %" PRIu64 " of %" PRIu64 " blocks present, all equal to %s\n",
	       c->path, checked, c->nblocks, src->id.location);
	ret = ULO_EXIT_OK;
out:
	ulo_source_close(src);
	ulo_cache_close(c);
	return ret;
}
