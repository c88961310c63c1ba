// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_snapshot.c - uloop snapshot DEV NEWCOW: start a new top COW layer
 * on an attached device, while it is in use.
 *
 * The daemon does it (runstate.h: the request file, then the sync
 * signal): it holds writes off, flushes the current top (data, bits, its
 * mtime), makes NEWCOW over it, and lets writes go on into NEWCOW.  The
 * old top is frozen from then on: a point in time to go back to (attach
 * --cow OLD) or to merge (uloop merge).  Nothing is lost if the power
 * goes meanwhile: the old top is durable before NEWCOW exists.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "runstate.h"
#include "util.h"

#define SNAPSHOT_TIMEOUT_MS 60000

static void snapshot_usage(FILE *f)
{
	fputs("Usage: uloop snapshot DEV NEWCOW\n"
	      "\n"
	      "Start a new top COW layer NEWCOW (a new file) on DEV, attached with\n"
	      "--cow, at a flush barrier while the device is in use: what was\n"
	      "written so far stays, frozen, in the layer below; what is written\n"
	      "from now on goes to NEWCOW.  Attach with --cow NEWCOW from then on.\n"
	      "\n"
	      "Options:\n"
	      "  -v, --verbose       debug output\n", f);
}

/* @path made absolute without it existing: its directory resolved. */
static int snapshot_abs(const char *path, char *out, size_t len)
{
	char d[PATH_MAX], b[PATH_MAX], real[PATH_MAX];

	snprintf(d, sizeof(d), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	if (!realpath(dirname(d), real))
		return ulo_errno(-errno, "%s: its directory", path);
	if ((size_t)snprintf(out, len, "%s/%s", strcmp(real, "/") ? real : "",
			     basename(b)) >= len)
		return ulo_err(-ENAMETOOLONG, "%s: name too long", path);
	return 0;
}

int cmd_snapshot(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_HELP, CLI_OPT_VERBOSE, CLI_OPT_END
	};
	char path[PATH_MAX];
	struct cli_opts o;
	struct stat st;
	int ret;

	ret = cli_parse(argc, argv, lopts, snapshot_usage, 2, "DEV and NEWCOW", &o);
	if (ret >= 0)
		return ret;
	if (snapshot_abs(argv[optind + 1], path, sizeof(path)))
		return cli_fail();
	if (lstat(path, &st) == 0) {
		cli_note("%s: exists; a snapshot starts a new file (never one that could be another stack's layer)",
			 path);
		return ULO_EXIT_FAIL;
	}
	if (ulo_runstate_snapshot(argv[optind], path, SNAPSHOT_TIMEOUT_MS))
		return cli_fail();
	printf("%s\n", path);
	return ULO_EXIT_OK;
}
