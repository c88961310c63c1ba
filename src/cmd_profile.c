// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_profile.c - uloop profile DEV: the boot profile the attached daemon
 * recorded (docs/boot-profile.md).
 *
 * The daemon keeps the profile in memory; a sync (SIGUSR2, as `uloop
 * sync`: runstate.h) makes it write /run/uloop/NAME.profile, renamed into
 * place, before the run state that counts the sync answered: once that
 * count has moved, the file is the profile as of now, never one written
 * by an earlier call.  A daemon too old to answer is never signalled.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "profile.h"
#include "runstate.h"
#include "util.h"

#define PROFILE_WAIT_MS 10000

enum { OPT_OUTPUT = 600, OPT_TIMES };

struct profile_args {
	const char *out;
	bool times;
};

static void profile_usage(FILE *f)
{
	fputs("Usage: uloop profile DEV [--output FILE] [--times]\n"
	      "\n"
	      "Print the boot profile of DEV's daemon: every block read so far, in the\n"
	      "order first read.  Taken once the boot is done, it is what `uloop attach\n"
	      "--profile` (rd.uloop.profile=) fetches first on the next cold boot.\n"
	      "\n"
	      "Options:\n"
	      "  --output FILE       write it to FILE (replaced whole) instead of stdout\n"
	      "  --times             add to each extent when it was first read (ms after\n"
	      "                      the attach): the boot's read trace.  A uloop\n"
	      "                      without --times cannot replay such a profile\n", f);
}

static int profile_opt(int opt, const char *arg, void *ctx)
{
	struct profile_args *a = ctx;

	if (opt == OPT_OUTPUT)
		a->out = arg;
	else if (opt == OPT_TIMES)
		a->times = true;
	else
		return 0;
	return 1;
}

/* Copy @path, checked to be a profile, to @out (or stdout), with each
 * extent's time if @times. */
static int profile_copy(const char *path, const char *out, bool times)
{
	struct ulo_profile p;
	char *buf = NULL;
	size_t n = 0;
	FILE *in = fopen(path, "re"), *o;
	int ret;

	if (!in)
		return ulo_errno(-errno, "%s: open", path);
	buf = malloc(ULO_PROFILE_MAX_FILE + 1);
	if (buf)
		n = fread(buf, 1, ULO_PROFILE_MAX_FILE + 1, in);
	fclose(in);
	if (!buf)
		return ulo_errno(-ENOMEM, "%s", path);
	ret = ulo_profile_parse(buf, n, path, &p);
	free(buf);
	if (ret)
		return ret;
	if (!out) {
		ret = ulo_profile_write(&p, times, stdout);
	} else {
		char tmp[4200];
		int fd;

		snprintf(tmp, sizeof(tmp), "%s.uloop-new", out);
		unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		o = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!o) {
			ret = ulo_errno(-errno, "%s: create", tmp);
			if (fd >= 0)
				close(fd);
		} else {
			ret = ulo_profile_write(&p, times, o);
			if (!ret && fsync(fileno(o)) < 0)
				ret = ulo_errno(-errno, "%s: fsync", tmp);
			if (fclose(o) && !ret)
				ret = ulo_errno(-errno, "%s: write", tmp);
			if (!ret && rename(tmp, out) < 0)
				ret = ulo_errno(-errno, "%s: rename to %s", tmp, out);
			if (ret)
				unlink(tmp);
		}
	}
	ulo_profile_free(&p);
	return ret;
}

int cmd_profile(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_HELP, CLI_OPT_VERBOSE,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "times", no_argument, NULL, OPT_TIMES },
		CLI_OPT_END
	};
	struct ulo_runstate_info ri;
	struct profile_args a = { NULL, false };
	const char *dev;
	char path[4096];
	struct cli_opts o;
	int ret;

	ret = cli_parse_own(argc, argv, lopts, profile_usage, 1, "one DEV", &o,
			    profile_opt, &a);
	if (ret >= 0)
		return ret;
	dev = argv[optind];
	ret = ulo_runstate_read(dev, &ri);
	if (ret == -ENOENT) {
		cli_note("%s: not attached (no %s state)", dev, ULO_RUNDIR);
		return ULO_EXIT_FAIL;
	}
	if (ret) {
		cli_note("%s: reading its run state: %s", dev, strerror(-ret));
		return ULO_EXIT_FAIL;
	}
	if (!ri.alive) {
		cli_note("%s: its daemon (pid %d) is gone; the profile went with it",
			 dev, (int)ri.pid);
		return ULO_EXIT_FAIL;
	}
	/* A sync (SIGUSR2) writes the profile before the run state that
	 * says it answered: once ulo_runstate_sync() returns, the file is
	 * the profile as of now. */
	if (ulo_runstate_sync(dev, PROFILE_WAIT_MS))
		return cli_fail();
	ulo_runstate_profile_path(dev, a.times, path, sizeof(path));
	if (a.times && access(path, F_OK) < 0) {
		cli_note("%s: its daemon records no times (a uloop without profile --times)", dev);
		return ULO_EXIT_FAIL;
	}
	if (!strcmp(ri.transport, "kmod") && ri.present_at_start)
		cli_note("%s: the cache held %" PRIu64 " blocks when attached, and uloop.ko serves their reads without the daemon: the profile lacks those it did not read ahead (record one on a cold boot)",
			 dev, ri.present_at_start);
	return profile_copy(path, a.out, a.times) ? cli_fail() : ULO_EXIT_OK;
}
