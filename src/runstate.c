// SPDX-License-Identifier: GPL-2.0-or-later
/* runstate.c - see runstate.h. */
#include "runstate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "stats.h"
#include "util.h"

void ulo_runstate_path(const char *device, char *out, size_t len)
{
	size_t n = snprintf(out, len, "%s/", ULO_RUNDIR);
	const char *p = device;

	/* /dev/nbd0 -> nbd0.json; any other path: '/' -> '%'. */
	if (!strncmp(p, "/dev/", 5) && !strchr(p + 5, '/'))
		p += 5;
	for (; *p && n + 6 < len; p++)
		out[n++] = *p == '/' ? '%' : *p;
	snprintf(out + n, len - n, ".json");
}

int ulo_runstate_write(const struct ulo_runstate *s)
{
	char path[4096], tmp[4200];
	struct ulo_stats st;
	struct ulo_json j;
	FILE *f;

	if (mkdir(ULO_RUNDIR, 0755) < 0 && errno != EEXIST)
		return ulo_errno(-errno, "%s: mkdir", ULO_RUNDIR);
	ulo_runstate_path(s->device, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return ulo_errno(-errno, "%s: open", tmp);
	ulo_engine_stats(s->eng, &st);
	ulo_json_init(&j, f);
	ulo_json_obj_begin(&j, NULL);
	ulo_json_str(&j, "device", s->device);
	ulo_json_str(&j, "transport", s->transport);
	ulo_json_u64(&j, "pid", s->pid);
	ulo_json_u64(&j, "started", s->started);
	ulo_json_str(&j, "source", s->src->id.location);
	ulo_json_obj_begin(&j, "identity");
	ulo_json_str(&j, "kind", ulo_id_kind_name(s->src->id.kind));
	ulo_json_str(&j, "validator", s->src->id.validator);
	ulo_json_u64(&j, "size", s->src->id.size);
	ulo_json_obj_end(&j);
	if (s->cache) {
		ulo_json_str(&j, "cache", s->cache->path);
		ulo_json_str(&j, "format", s->cache->fmt->name);
		ulo_json_u64(&j, "block_size", s->cache->block_size);
		ulo_json_u64(&j, "blocks", s->cache->nblocks);
		ulo_json_u64(&j, "blocks_present", ulo_cache_count(s->cache));
	}
	ulo_stats_json(&j, "stats", &st);
	ulo_json_obj_end(&j);
	ulo_json_done(&j);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return ulo_errno(-errno, "%s: write", path);
	}
	return 0;
}

void ulo_runstate_remove(const char *device)
{
	char path[4096];

	ulo_runstate_path(device, path, sizeof(path));
	unlink(path);
}

pid_t ulo_runstate_pid(const char *device)
{
	char path[4096], buf[8192], *p;
	size_t n;
	FILE *f;

	ulo_runstate_path(device, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strstr(buf, "\"pid\":");
	return p ? (pid_t)strtol(p + 6, NULL, 10) : 0;
}
