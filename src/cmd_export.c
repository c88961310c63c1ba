// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_export.c - uloop export: write the cached image out as a plain image
 * (the "merge" of the UML COW thread's uml_moo).
 *
 * Without --source every block must be present; with it, missing blocks are
 * fetched through the engine (and so cached too).  The output is written
 * to OUTPUT.uloop-part and renamed into place only when complete, so a
 * failed export never leaves a plausible-looking partial image.  Reading
 * and writing the image is the library's (ulo_cache_export()); the part
 * file, its rename and what is printed are the command's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_verify.h"
#include "cli.h"
#include "util.h"

static void export_usage(FILE *f)
{
	fputs("Usage: uloop export CACHE OUTPUT [--bitmap PATH] [--source SOURCE]\n"
	      "\n"
	      "Write the cached image to OUTPUT as a plain image file.  Every\n"
	      "block must be present unless --source is given to fetch the rest.\n"
	      "OUTPUT '-' writes to standard output.\n"
	      "\n"
	      "Options for a network SOURCE:\n"
	      CLI_HELP_SOURCE_NET, f);
}

int cmd_export(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_BITMAP, CLI_OPT_SOURCE, CLI_OPT_CONNECTIONS,
		CLI_OPT_HELP, CLI_OPT_VERBOSE, CLI_OPT_SOURCE_NET, CLI_OPT_END
	};
	struct ulo_source *src = NULL;
	struct ulo_cache *c = NULL;
	struct ulo_engine *eng = NULL;
	struct ulo_export_opts eo;
	char part[PATH_MAX + 16];
	const char *out;
	struct cli_opts o;
	bool to_stdout;
	int fd = -1, ret;

	ret = cli_parse(argc, argv, lopts, export_usage, 2, "CACHE and OUTPUT", &o);
	if (ret >= 0)
		return ret;
	ret = ULO_EXIT_FAIL;
	o.cache = argv[optind];
	if (cli_check_opts(&o))
		return ULO_EXIT_USAGE;
	out = argv[optind + 1];
	to_stdout = !strcmp(out, "-");

	if (o.source) {
		/* Never drop the cache because the source moved on. */
		o.offline = true;
		o.eng.readahead = 0;
		if (cli_open_source(&o, o.source, &src) ||
		    cli_open_bound_cache(&o, src, &c))
			goto out;
		if (ulo_engine_new(src, c, &o.eng, &eng)) {
			cli_fail();
			goto out;
		}
	} else {
		uint64_t have, nblocks;
		bool laid_out;

		if (cli_open_cache_ro(&o, &c))
			goto out;
		laid_out = ulo_cache_is_laid_out(c);
		have = laid_out ? ulo_cache_count(c) : 0;
		nblocks = ulo_cache_nblocks(c);
		if (!laid_out || have < nblocks) {
			cli_note("cache %s: %" PRIu64 " of %" PRIu64
				 " blocks missing; pass --source to fetch them",
				 ulo_cache_path(c), nblocks - have, nblocks);
			goto out;
		}
		if (ulo_cache_is_2007(c) && ulo_cache_identity(c)->kind == ULO_ID_NONE)
			cli_note("cache %s: image size not recorded (2007 cache); exporting %" PRIu64
				 " bytes, rounded up to the page size", ulo_cache_path(c),
				 ulo_cache_image_size(c));
	}

	if (to_stdout) {
		fd = STDOUT_FILENO;
	} else {
		snprintf(part, sizeof(part), "%s.uloop-part", out);
		fd = ulo_create_fresh(AT_FDCWD, part, 0644);
		if (fd < 0) {
			ulo_errno(fd, "%s: create", part);
			cli_fail();
			goto out;
		}
	}
	eo.eng = eng;
	eo.name = to_stdout ? "stdout" : part;
	eo.sync = !to_stdout;
	if (ulo_cache_export(c, fd, &eo)) {
		cli_fail();
		goto out_unlink;
	}
	if (!to_stdout) {
		close(fd);
		fd = -1;
		if (rename(part, out) < 0 || ulo_sync_dir_of(out)) {
			ulo_errno(-errno, "%s: rename from %s", out, part);
			cli_fail();
			goto out_unlink;
		}
	}
	ret = ULO_EXIT_OK;
	goto out;

out_unlink:
	if (!to_stdout)
		unlink(part);
out:
	if (fd >= 0 && !to_stdout)
		close(fd);
	ulo_engine_free(eng);
	cli_close_serving_cache(c);
	ulo_source_close(src);
	return ret;
}
