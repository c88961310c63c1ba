// SPDX-License-Identifier: GPL-2.0-or-later
/* main.c - the uloop command: dispatch to the subcommands. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"

#ifndef ULOOP_VERSION
#define ULOOP_VERSION "0.1"
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} cmds[] = {
	{ "attach", cmd_attach, "serve an image as a block device, through a cache" },
	{ "detach", cmd_detach, "stop serving a device" },
	{ "status", cmd_status, "show attached devices" },
	{ "profile", cmd_profile, "print the boot profile an attached daemon recorded" },
	{ "sync", cmd_sync, "commit a daemon's cache now" },
	{ "snapshot", cmd_snapshot, "start a new top COW layer on an attached device" },
	{ "merge", cmd_merge, "flatten a stack of COW files (uml_moo's job)" },
	{ "hydrate", cmd_hydrate, "fetch every missing block into a cache" },
	{ "info", cmd_info, "show a cache's header and fill level" },
	{ "check", cmd_check, "verify a cache (and its blocks against a source)" },
	{ "export", cmd_export, "write a cache out as a plain image" },
	{ "cat", cmd_cat, "read image bytes through the cache to stdout" },
	{ "publish", cmd_publish, "publish an image version with its hash tree and manifest" },
	{ "verity", cmd_verity, "stack dm-verity on a device attached from a manifest" },
};

static void usage(FILE *f)
{
	fputs("Usage: uloop COMMAND [options]\n\nCommands:\n", f);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].summary);
	fputs("\nSOURCE is an http(s) URL, a file or a block device, or a manifest\n"
	      "(NAME.uloop, written by publish) at either.  Sizes take\n"
	      "K, M, G suffixes.  Also runs as ulohttp and ulobdev (the 2007 tools).\n"
	      "'uloop COMMAND --help' describes a command's options.\n"
	      "Exit status: 0 success, 1 failure, 2 bad usage.\n", f);
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	cli_argv0 = argv[0];
	signal(SIGPIPE, SIG_IGN);
	/* The engine knows files only; this program fetches over HTTP too. */
	if (ulo_source_register(&ulo_source_http_ops)) {
		fprintf(stderr, "uloop: %s\n", ulo_errmsg());
		return ULO_EXIT_FAIL;
	}
	/* The 2007 tools, as links to this binary. */
	if (!strcmp(base, "ulohttp") || !strcmp(base, "ulobdev"))
		return cmd_ulo2007(argc, argv, !strcmp(base, "ulohttp"));
	/* systemd-shutdown's /run/initramfs/shutdown (boot.sh links it). */
	if (!strcmp(base, "shutdown"))
		return cmd_shutdown(argc, argv);
	/* A closed pipe (uloop cat | head) is an error return, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return ULO_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return ULO_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("uloop %s\n", ULOOP_VERSION);
		return ULO_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name)) {
			cli_cmd = cmds[i].name;
			return cmds[i].fn(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "uloop: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return ULO_EXIT_USAGE;
}
