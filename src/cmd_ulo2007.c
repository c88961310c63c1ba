// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_ulo2007.c - the 2007 command lines, kept working:
 *
 *   ulohttp [-b bitmap] [-c cache] [-t timeout] DEVICE URL
 *   ulobdev [-b bitmap] [-c cache] DEVICE BACKEND_DEVICE
 *
 * Both become `uloop attach`: -c and -b give the 2007 two-file layout
 * (-c alone: a native cache), -t the per-request timeout in seconds.
 * DEVICE was /dev/loopN with the 2007 driver; it is /dev/uloopN now
 * (uloop.ko, the 2007 driver's heir: it needs -c), /dev/nbdN, or a file
 * (FUSE).  A 2007 command line naming /dev/loopN (the 2007 readme's own
 * example) gets the device `uloop attach` picks (/dev/uloopN with a cache
 * where uloop.ko loads, else /dev/nbdN), printed as attach prints it,
 * with a note saying so: the loop driver lost the transfer hook it used.
 * Like the 2007 tools they stay running as daemons.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* /dev/loopN: the 2007 driver's device, which no longer serves images. */
static bool ulo2007_loop_device(const char *dev)
{
	if (strncmp(dev, "/dev/loop", 9) || !dev[9])
		return false;
	for (dev += 9; *dev; dev++)
		if (!isdigit((unsigned char)*dev))
			return false;
	return true;
}

int cmd_ulo2007(int argc, char **argv, bool http)
{
	const char *bitmap = NULL, *cache = NULL, *timeout = NULL;
	char *av[32];
	int opt, n = 0;

	cli_cmd = http ? "ulohttp" : "ulobdev";
	opterr = 0;
	while ((opt = getopt(argc, argv, http ? ":b:c:t:h" : ":b:c:h")) != -1) {
		switch (opt) {
		case 'b':
			bitmap = optarg;
			break;
		case 'c':
			cache = optarg;
			break;
		case 't':
			timeout = optarg;
			break;
		case 'h':
			printf("Usage: %s\n", http ?
			       "ulohttp [-b bitmap] [-c cache] [-t timeout] DEVICE URL" :
			       "ulobdev [-b bitmap] [-c cache] DEVICE BACKEND_DEVICE");
			return ULO_EXIT_OK;
		default:
			return cli_usage_error("bad option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("expected DEVICE and %s", http ? "URL" : "BACKEND_DEVICE");
	if (bitmap && !cache)
		return cli_usage_error("-b needs -c (the 2007 layout is two files)");
	if (http && strncmp(argv[optind + 1], "http://", 7) &&
	    strncmp(argv[optind + 1], "https://", 8))
		return cli_usage_error("%s is not an http(s) URL", argv[optind + 1]);
	av[n++] = "attach";
	av[n++] = argv[optind + 1];
	if (ulo2007_loop_device(argv[optind])) {
		cli_note("%s: %s: the 2007 loop transfer hook is gone from Linux; serving on the device printed instead (uloop.ko's /dev/uloopN with -c where it loads, else /dev/nbdN)",
			 cli_cmd, argv[optind]);
	} else if (!strncmp(argv[optind], "/dev/uloop", 10)) {
		av[n++] = "--device";
		av[n++] = argv[optind];
		av[n++] = "--transport";
		av[n++] = "kmod";
	} else if (strncmp(argv[optind], "/dev/nbd", 8)) {
		av[n++] = "--device";
		av[n++] = argv[optind];
		av[n++] = "--transport";
		av[n++] = "fuse";
	} else {
		av[n++] = "--device";
		av[n++] = argv[optind];
	}
	if (cache) {
		av[n++] = "--cache";
		av[n++] = (char *)cache;
	}
	if (bitmap) {
		av[n++] = "--bitmap";
		av[n++] = (char *)bitmap;
	}
	if (timeout) {
		av[n++] = "--timeout";
		av[n++] = (char *)timeout;
	}
	av[n] = NULL;
	optind = 1;
	cli_cmd = "attach";
	return cmd_attach(n, av);
}
