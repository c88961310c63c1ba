// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_status.c - uloop status [DEV] [--json]: what is attached.
 *
 * Reads the run state the daemons keep in /run/uloop (refreshed every
 * second).  A state whose daemon is gone is shown as such, not hidden.
 * For a uloop.ko device the driver's own counters are shown too
 * (transport.c reads them): its hits never reach the daemon.  The
 * partitions the kernel found in a whole-disk image are listed from
 * sysfs (a FUSE file has none: its loop device has them).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runstate.h"
#include "transport.h"
#include "util.h"

static void status_usage(FILE *f)
{
	fputs("Usage: uloop status [DEV] [--json]\n"
	      "\n"
	      "Show attached devices: source, cache, fill, identity and the\n"
	      "engine's counters.\n", f);
}

static int status_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n'))
		buf[--n] = '\0';
	return 0;
}

/* A partition: its number and name (/sys/class/block/DISK/NAME/partition). */
struct status_part {
	int num;
	char name[64];
};

static int status_part_cmp(const void *a, const void *b)
{
	return ((const struct status_part *)a)->num - ((const struct status_part *)b)->num;
}

/* "  partitions: /dev/X1 /dev/X2" for a block device @dev that has them. */
static void status_partitions(const char *dev)
{
	struct status_part p[256];
	const char *disk = strrchr(dev, '/');
	char dir[300], path[600], num[16];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (!disk || strncmp(dev, "/dev/", 5))
		return;
	snprintf(dir, sizeof(dir), "/sys/class/block/%s", disk + 1);
	d = opendir(dir);
	if (!d)
		return;
	while (n < sizeof(p) / sizeof(p[0]) && (de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len >= sizeof(p[0].name))
			continue;
		snprintf(path, sizeof(path), "%s/%s/partition", dir, de->d_name);
		if (status_read(path, num, sizeof(num)))
			continue;
		p[n].num = atoi(num);
		memcpy(p[n].name, de->d_name, len + 1);
		n++;
	}
	closedir(d);
	if (!n)
		return;
	qsort(p, n, sizeof(p[0]), status_part_cmp);
	printf("  partitions:");
	for (size_t i = 0; i < n; i++)
		printf(" /dev/%s", p[i].name);
	putchar('\n');
}

static void status_line(const char *json)
{
	char dev[256], tr[16], pid[16], src[512], cache[512], blocks[32],
	     present[32], fetched[32], root[80];
	struct ulo_transport_counters kc;
	bool alive;

	ulo_runstate_field(json, "device", dev, sizeof(dev));
	ulo_runstate_field(json, "transport", tr, sizeof(tr));
	ulo_runstate_field(json, "pid", pid, sizeof(pid));
	ulo_runstate_field(json, "source", src, sizeof(src));
	ulo_runstate_field(json, "cache", cache, sizeof(cache));
	ulo_runstate_field(json, "blocks", blocks, sizeof(blocks));
	ulo_runstate_field(json, "blocks_present", present, sizeof(present));
	ulo_runstate_field(json, "bytes_fetched", fetched, sizeof(fetched));
	alive = ulo_runstate_pid_alive(atoi(pid));
	printf("%s: %s, pid %s%s\n", dev, tr, pid, alive ? "" : " (daemon gone)");
	printf("  source: %s\n", src);
	if (cache[0])
		printf("  cache:  %s, %s of %s blocks present\n", cache, present, blocks);
	else
		printf("  cache:  none\n");
	printf("  fetched: %s bytes\n", fetched[0] ? fetched : "0");
	status_partitions(dev);
	{
		char seeded[32];

		ulo_runstate_field(json, "seeded_bytes", seeded, sizeof(seeded));
		if (seeded[0] && strcmp(seeded, "0"))
			printf("  update: %s bytes taken from the older version on the flash\n", seeded);
	}
	ulo_runstate_field(json, "root_hash", root, sizeof(root));
	if (root[0]) {
		char name[80], ver[32], bad[32], what[160] = "";

		ulo_runstate_field(json, "name", name, sizeof(name));
		ulo_runstate_field(json, "version", ver, sizeof(ver));
		ulo_runstate_field(json, "verify_failures", bad, sizeof(bad));
		if (name[0])
			snprintf(what, sizeof(what), " (%s version %s)", name, ver);
		printf("  verified: root hash %s%s, %s fetches refused (bytes not matching it)\n",
		       root, what, bad[0] ? bad : "0");
	}
	if (cache[0]) {
		static const char *const f[] = { "cache_csum_errors", "cache_read_errors",
						 "cache_refetched", "bitmap_csum_errors" };
		char v[4][32], up[8], ram[32], wf[8], full[8], gave[96] = "";

		for (int i = 0; i < 4; i++)
			ulo_runstate_field(json, f[i], v[i], sizeof(v[i]));
		ulo_runstate_field(json, "cache_given_up", up, sizeof(up));
		ulo_runstate_field(json, "ram_bytes", ram, sizeof(ram));
		ulo_runstate_field(json, "cache_write_failed", wf, sizeof(wf));
		ulo_runstate_field(json, "cache_full", full, sizeof(full));
		/* The worst state wins: given up reads nothing from the flash,
		 * the other two still serve what it holds. */
		if (atoi(up))
			snprintf(gave, sizeof(gave), "; given up, %s bytes kept in RAM",
				 ram[0] ? ram : "0");
		else if (atoi(wf))
			snprintf(gave, sizeof(gave), "; read-only: a write failed, new blocks are not kept until the next start");
		else if (atoi(full))
			snprintf(gave, sizeof(gave), "; full: new blocks are not kept");
		printf("  flash:  %s checksum errors, %s read errors, %s blocks fetched again, %s bitmap sectors bad%s\n",
		       v[0][0] ? v[0] : "0", v[1][0] ? v[1] : "0", v[2][0] ? v[2] : "0",
		       v[3][0] ? v[3] : "0", gave);
	}
	if (!ulo_transport_counters(dev, tr, &kc)) {
		printf("  kernel:");
		for (int i = 0; i < kc.n; i++)
			printf(" %s %s", kc.name[i], kc.value[i]);
		putchar('\n');
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_JSON, CLI_OPT_HELP, CLI_OPT_VERBOSE, CLI_OPT_END
	};
	static char buf[65536];
	struct dirent *de;
	struct cli_opts o;
	char path[4096];
	int ret, n = 0;
	DIR *d;

	ret = cli_parse(argc, argv, lopts, status_usage, -1, "at most one DEV", &o);
	if (ret >= 0)
		return ret;
	if (optind < argc) {
		ulo_runstate_path(argv[optind], path, sizeof(path));
		if (status_read(path, buf, sizeof(buf))) {
			ulo_err(-ENOENT, "%s: not attached (no state in %s)",
				argv[optind], ULO_RUNDIR);
			return cli_fail();
		}
		if (o.json)
			printf("%s\n", buf);
		else
			status_line(buf);
		return ULO_EXIT_OK;
	}
	d = opendir(ULO_RUNDIR);
	if (o.json)
		fputs("[", stdout);
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 6 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", ULO_RUNDIR, de->d_name);
		/* Not a device's state (boot.json: the boot's metrics). */
		if (status_read(path, buf, sizeof(buf)) || !strstr(buf, "\"pid\":"))
			continue;
		if (o.json)
			printf("%s%s", n ? "," : "", buf);
		else
			status_line(buf);
		n++;
	}
	if (d)
		closedir(d);
	if (o.json)
		fputs("]\n", stdout);
	else if (!n)
		printf("no device attached\n");
	return ULO_EXIT_OK;
}
