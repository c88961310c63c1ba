// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_detach.c - uloop detach DEV: stop serving a device, cleanly.
 *
 * For /dev/nbdN the driver is told to disconnect (which also works when
 * the daemon is gone); the daemon sees its connections end, commits the
 * cache, marks it clean and exits.  For a FUSE device the daemon gets
 * SIGTERM.  Either way we wait (30 s at most) for the daemon to be gone.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nbd_netlink.h"
#include "runstate.h"
#include "transport_nbd.h"
#include "util.h"

#define DETACH_WAIT_MS 30000

static void detach_usage(FILE *f)
{
	fputs("Usage: uloop detach DEV\n"
	      "\n"
	      "Stop serving DEV (/dev/nbdN or a FUSE device file): the cache is\n"
	      "committed and marked clean.  Fails if DEV is still in use.\n", f);
}

int cmd_detach(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_HELP, CLI_OPT_VERBOSE, CLI_OPT_END
	};
	struct cli_opts o;
	const char *dev;
	pid_t pid;
	int index, ret;

	ret = cli_parse(argc, argv, lopts, detach_usage, 1, "one DEV", &o);
	if (ret >= 0)
		return ret;
	dev = argv[optind];
	pid = ulo_runstate_pid(dev);
	index = ulo_nbd_index_of(dev);
	if (index >= 0) {
		if (ulo_nbd_nl_disconnect(index))
			return cli_fail();
	} else if (pid > 0) {
		if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
			ulo_errno(-errno, "%s: signal daemon %d", dev, (int)pid);
			return cli_fail();
		}
	} else {
		ulo_err(-ENOENT, "%s: not attached (no state in %s)", dev, ULO_RUNDIR);
		return cli_fail();
	}
	for (int ms = 0; pid > 0 && kill(pid, 0) == 0; ms += 50) {
		if (ms >= DETACH_WAIT_MS) {
			ulo_err(-ETIMEDOUT, "%s: daemon %d still running after %d s",
				dev, (int)pid, DETACH_WAIT_MS / 1000);
			return cli_fail();
		}
		usleep(50000);
	}
	return ULO_EXIT_OK;
}
