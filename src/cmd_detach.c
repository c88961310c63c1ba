// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_detach.c - uloop detach DEV: stop serving a device, cleanly.
 *
 * A device still in use (mounted: the kernel refuses an exclusive open)
 * is not detached unless --force: cutting it would fail every I/O of the
 * filesystem on it.  For /dev/nbdN the driver is told to disconnect (which
 * also works when the daemon is gone); the daemon sees its connections
 * end, commits the cache, marks it clean and exits.  /dev/uloopN is
 * removed through uloop.ko's control node (the driver refuses while it is
 * open, even with --force); the daemon sees its session end and exits
 * the same way.  For a FUSE device the
 * daemon gets SIGTERM.  We wait (30 s at most) for the daemon to be gone.
 * The recorded pid is trusted only if it still runs uloop, and a stale
 * run state (its daemon dead) is cleaned up.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "cli.h"
#include "nbd_netlink.h"
#include "runstate.h"
#include "transport_kmod.h"
#include "transport_nbd.h"
#include "util.h"

#define DETACH_WAIT_MS 30000

enum { OPT_FORCE = 500 };

static void detach_usage(FILE *f)
{
	fputs("Usage: uloop detach DEV [--force]\n"
	      "\n"
	      "Stop serving DEV (/dev/nbdN, /dev/uloopN or a FUSE device file): the cache is\n"
	      "committed and marked clean.  Refused while DEV is in use (mounted)\n"
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

/* In use: mounted, or opened exclusively by someone. */
static bool detach_busy(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EBUSY;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_HELP, CLI_OPT_VERBOSE,
		{ "force", no_argument, NULL, OPT_FORCE },
		CLI_OPT_END
	};
	struct ulo_runstate_info ri;
	bool force = false, connected = false, have_state;
	struct cli_opts o;
	const char *dev;
	char sys[64];
	int index, kindex, ret;

	ret = cli_parse_own(argc, argv, lopts, detach_usage, 1, "one DEV", &o,
			    detach_opt, &force);
	if (ret >= 0)
		return ret;
	dev = argv[optind];
	have_state = !ulo_runstate_read(dev, &ri);
	index = ulo_nbd_index_of(dev);
	kindex = ulo_kmod_index_of(dev);
	if (kindex >= 0) {
		snprintf(sys, sizeof(sys), "/sys/block/uloop%d", kindex);
		if (access(sys, F_OK) < 0) {
			if (have_state)
				ulo_runstate_remove(dev);
			ulo_err(-ENODEV, "%s: no such device", dev);
			return cli_fail();
		}
	} else if (index >= 0) {
		snprintf(sys, sizeof(sys), "/sys/block/nbd%d", index);
		if (access(sys, F_OK) < 0) {
			ulo_err(-ENODEV, "%s: no such device", dev);
			return cli_fail();
		}
		if (ulo_nbd_nl_status(index, &connected))
			return cli_fail();
		if (!connected) {
			if (have_state)
				ulo_runstate_remove(dev);
			ulo_err(-ENOENT, "%s: not attached", dev);
			return cli_fail();
		}
	} else if (!have_state) {
		ulo_err(-ENOENT, "%s: not attached (no state in %s)", dev, ULO_RUNDIR);
		return cli_fail();
	}
	if (!force && detach_busy(dev)) {
		ulo_err(-EBUSY, "%s: in use (mounted?): unmount it first, or pass --force",
			dev);
		return cli_fail();
	}
	if (kindex >= 0) {
		ret = ulo_kmod_remove(kindex);
		if (ret) {
			ulo_errno(ret, "%s: %s", dev, ret == -EBUSY ?
				  "in use (open or mounted): uloop.ko refuses to remove it" :
				  "ULOOP_CTL_REMOVE");
			return cli_fail();
		}
	} else if (index >= 0) {
		if (ulo_nbd_nl_disconnect(index))
			return cli_fail();
	} else if (ri.alive) {
		if (kill(ri.pid, SIGTERM) < 0 && errno != ESRCH) {
			ulo_errno(-errno, "%s: signal daemon %d", dev, (int)ri.pid);
			return cli_fail();
		}
	} else {
		/* A FUSE daemon that died leaves its mount behind. */
		umount2(dev, MNT_DETACH);
	}
	for (int ms = 0; have_state && ri.alive && ulo_runstate_pid_alive(ri.pid);
	     ms += 50) {
		if (ms >= DETACH_WAIT_MS) {
			ulo_err(-ETIMEDOUT, "%s: daemon %d still running after %d s",
				dev, (int)ri.pid, DETACH_WAIT_MS / 1000);
			return cli_fail();
		}
		usleep(50000);
	}
	if (have_state && !ri.alive)
		ulo_runstate_remove(dev);	/* its daemon cannot any more */
	return ULO_EXIT_OK;
}
