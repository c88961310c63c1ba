// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_sync.c - uloop sync [DEV]: make a daemon commit its cache now.
 *
 * A daemon commits every second on its own; what it fetched in the last
 * second is fetched again after a power cut.  Before the power goes on
 * purpose (a shutdown that cannot detach the root) this commits it all
 * and returns once it is durable.  The request and the answer go through
 * the run state (runstate.h: SIGUSR2, then the "synced" count); a daemon
 * keeps serving.  Without DEV: every attached device.
 */
#include <stdio.h>

#include "cli.h"
#include "runstate.h"
#include "util.h"

#define SYNC_TIMEOUT_MS 30000

static void sync_usage(FILE *f)
{
	fputs("Usage: uloop sync [DEV]\n"
	      "\n"
	      "Commit the cache of DEV's daemon (without DEV: of every attached\n"
	      "device) now, and return once what it fetched so far is durable.\n"
	      "The daemon keeps serving.\n"
	      "\n"
	      "Options:\n"
	      "  -v, --verbose       debug output\n", f);
}

static int sync_one(const char *dev, void *ctx)
{
	int *failed = ctx;

	if (ulo_runstate_sync(dev, SYNC_TIMEOUT_MS)) {
		cli_fail();
		(*failed)++;
	}
	return 0;
}

int cmd_sync(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_HELP, CLI_OPT_VERBOSE, CLI_OPT_END
	};
	struct cli_opts o;
	int ret, failed = 0;

	ret = cli_parse(argc, argv, lopts, sync_usage, -1, "at most one DEV", &o);
	if (ret >= 0)
		return ret;
	if (optind < argc)
		sync_one(argv[optind], &failed);
	else if (ulo_runstate_each(sync_one, &failed))
		return cli_fail();
	return failed ? ULO_EXIT_FAIL : ULO_EXIT_OK;
}
