// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_detach.c - uloop detach DEV: stop serving a device, cleanly.
 *
 * A device still in use (mounted: the kernel refuses an exclusive open)
 * is not detached unless --force: cutting it would fail every I/O of the
 * filesystem on it.  How each kind of device is stopped, and the wait for
 * its daemon, are the transport layer's (transport.c).
 */
#include <stdio.h>

#include "cli.h"
#include "transport.h"
#include "util.h"

enum { OPT_FORCE = 500 };

static void detach_usage(FILE *f)
{
	fputs("Usage: uloop detach DEV [--force]\n"
	      "\n"
	      "Stop serving DEV (/dev/nbdN, /dev/uloopN, /dev/ublkbN or a FUSE device\n"
	      "file): the cache is committed and marked clean.  Refused while DEV is in use (mounted)\n"
	      "unless --force, which fails the I/O of whatever uses it.\n", f);
}

static int detach_opt(int opt, const char *arg, void *ctx)
{
	(void)arg;
	if (opt != OPT_FORCE)
		return 0;
	*(bool *)ctx = true;
	return 1;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_HELP, CLI_OPT_VERBOSE,
		{ "force", no_argument, NULL, OPT_FORCE },
		CLI_OPT_END
	};
	bool force = false;
	struct cli_opts o;
	int ret;

	ret = cli_parse_own(argc, argv, lopts, detach_usage, 1, "one DEV", &o,
			    detach_opt, &force);
	if (ret >= 0)
		return ret;
	return ulo_transport_detach(argv[optind], force) ? cli_fail() : ULO_EXIT_OK;
}
