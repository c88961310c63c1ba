// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_check.c - uloop check: is the cache consistent, and (with --source)
 * does every present block equal the image?
 *
 * Opening the cache already validates what the format can validate (both
 * header copies, regions, bitmap sector checksums, stray bitmap bits);
 * this reads every present block against its checksum (format 2) and,
 * with --source, compares it with the image (ulo_cache_verify()).  A
 * cache whose recorded image is not the source's current one is reported
 * as such: comparing it would only list differences that uloop would
 * never serve.  The command decides what to compare and prints; the
 * reading is the library's.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cache_verify.h"
#include "cli.h"
#include "util.h"

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

/* A bad block's line (the first CHECK_REPORT_MAX of them). */
static void check_report(const char *msg)
{
	cli_note("%s", msg);
}

int cmd_check(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_BITMAP, CLI_OPT_SOURCE, CLI_OPT_HELP, CLI_OPT_VERBOSE,
		CLI_OPT_SOURCE_NET,
		{ "ignore-identity", no_argument, NULL, OPT_IGNORE_IDENTITY },
		CLI_OPT_END
	};
	const struct ulo_verify_opts vo = {
		.report = check_report, .report_max = CHECK_REPORT_MAX,
	};
	const struct ulo_identity *id;
	struct ulo_source *src = NULL;
	struct ulo_verify_result vr;
	struct ulo_cache *c;
	const char *path;
	struct cli_opts o;
	bool laid_out;
	int ret;

	ret = cli_start_cache_cmd(argc, argv, lopts, check_usage, &o, &c);
	if (ret >= 0)
		return ret;
	ret = ULO_EXIT_FAIL;
	path = ulo_cache_path(c);
	id = ulo_cache_identity(c);
	laid_out = ulo_cache_is_laid_out(c);
	if (!o.source) {
		/* Format 2: every present block against its checksum. */
		bool csums = laid_out && ulo_cache_has_checksums(c);

		if (csums) {
			if (ulo_cache_verify(c, NULL, &vo, &vr)) {
				cli_fail();
				goto out;
			}
			if (vr.bad) {
				cli_note("cache %s: %" PRIu64 " of %" PRIu64
					 " present blocks fail their checksum or cannot be read",
					 path, vr.bad, vr.checked);
				goto out;
			}
		}
		printf("%s: consistent; %" PRIu64 " of %" PRIu64 " blocks present%s\n",
		       path, laid_out ? ulo_cache_count(c) : 0, ulo_cache_nblocks(c),
		       csums ? ", all matching their checksums" : "");
		ret = ULO_EXIT_OK;
		goto out;
	}
	if (cli_open_source(&o, o.source, &src))
		goto out;
	if (laid_out && o.ignore_identity && src->id.size != ulo_cache_image_size(c)) {
		cli_note("cache %s: image size %" PRIu64 ", %s has %" PRIu64,
			 path, ulo_cache_image_size(c), src->id.location, src->id.size);
		goto out;
	} else if (!laid_out || id->kind == ULO_ID_NONE || id->kind == ULO_ID_APP) {
		if (!ulo_cache_is_2007(c) || !laid_out) {
			printf("%s: consistent; holds no image (nothing to compare)\n",
			       path);
			ret = ULO_EXIT_OK;
			goto out;
		}
		/* A 2007 cache never recorded its image, and one made through
		 * the 2007 API knows only its size: compare by size. */
		if (ulo_cache_adopt_size(c, &src->id)) {
			cli_note("%s", ulo_errmsg());
			goto out;
		}
	} else if (!ulo_identity_same(id, &src->id) && !o.ignore_identity) {
		cli_note("cache %s: holds another image than %s (cache: %s %s; source: %s %s)",
			 path, src->id.location, ulo_id_kind_name(id->kind),
			 id->validator, ulo_id_kind_name(src->id.kind),
			 src->id.validator);
		goto out;
	}
	if (ulo_cache_verify(c, src, &vo, &vr)) {
		cli_fail();
		goto out;
	}
	if (vr.bad) {
		cli_note("cache %s: %" PRIu64 " of %" PRIu64 " present blocks differ from %s or fail their checksum",
			 path, vr.bad, vr.checked, src->id.location);
		goto out;
	}
	printf("%s: consistent; %" PRIu64 " of %" PRIu64 " blocks present, all equal to %s\n",
	       path, vr.checked, ulo_cache_nblocks(c), src->id.location);
	ret = ULO_EXIT_OK;
out:
	ulo_source_close(src);
	ulo_cache_close(c);
	return ret;
}
