// SPDX-License-Identifier: GPL-2.0-or-later
/* runstate.c - see runstate.h. */
#include "runstate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <unistd.h>

#include "json.h"
#include "stats.h"
#include "util.h"

void ulo_runstate_path(const char *device, char *out, size_t len)
{
	size_t n = snprintf(out, len, "%s/", ULO_RUNDIR);
	char abs[PATH_MAX];
	const char *p = device;

	/* A FUSE file named relative to here: the daemon recorded it
	 * absolute (it works from "/"). */
	if (*p != '/' && !ulo_abs_path(p, abs, sizeof(abs)))
		p = abs;
	/* /dev/nbd0 -> nbd0.json; any other path: '/' -> '%'. */
	if (!strncmp(p, "/dev/", 5) && !strchr(p + 5, '/'))
		p += 5;
	for (; *p && n + 6 < len; p++)
		out[n++] = *p == '/' ? '%' : *p;
	snprintf(out + n, len - n, ".json");
}

/*
 * The run-state directory, opened once: a daemon started in an initramfs
 * keeps the initramfs as its root after switch_root, while /run (moved
 * into the new root) is still this same directory.
 */
static int ulo_rundir_fd = -1;
/* /proc, held from the same moment (ulo_runstate_take_snapshot). */
static int ulo_proc_fd = -1;

static int ulo_rundir(void)
{
	if (ulo_rundir_fd < 0) {
		if (mkdir(ULO_RUNDIR, 0755) < 0 && errno != EEXIST)
			return ulo_errno(-errno, "%s: mkdir", ULO_RUNDIR);
		ulo_rundir_fd = open(ULO_RUNDIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (ulo_rundir_fd < 0)
			return ulo_errno(-errno, "%s: open", ULO_RUNDIR);
		if (ulo_proc_fd < 0)
			ulo_proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	return ulo_rundir_fd;
}

/* The sync requests answered (runstate.h); the daemon is one process. */
static bool ulo_sync_on;
static uint64_t ulo_synced;
static char ulo_sync_err[256];
/* The state thread and a sync answer may write at once: one temporary. */
static pthread_mutex_t ulo_write_mx = PTHREAD_MUTEX_INITIALIZER;

void ulo_runstate_sync_enable(void)
{
	__atomic_store_n(&ulo_sync_on, true, __ATOMIC_RELEASE);
}

void ulo_runstate_synced(int err, const char *msg)
{
	pthread_mutex_lock(&ulo_write_mx);
	snprintf(ulo_sync_err, sizeof(ulo_sync_err), "%s", err ? msg : "");
	ulo_synced++;
	pthread_mutex_unlock(&ulo_write_mx);
}

/* Replace ULO_RUNDIR/@name by what @fill writes: to a temporary, then
 * renamed, so a reader sees a whole document or the previous one. */
static int ulo_rundir_replace(const char *name,
			      int (*fill)(FILE *f, const void *ctx), const void *ctx)
{
	char tmp[4200];
	int dfd = ulo_rundir(), fd, ret;
	FILE *f;

	if (dfd < 0)
		return dfd;
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = ulo_create_fresh(dfd, tmp, 0644);
	if (fd < 0)
		return ulo_errno(fd, "%s/%s: create", ULO_RUNDIR, tmp);
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return ulo_errno(-errno, "%s/%s: fdopen", ULO_RUNDIR, tmp);
	}
	ret = fill(f, ctx);
	if (fclose(f) != 0 && !ret)
		ret = ulo_errno(-errno, "%s/%s: write", ULO_RUNDIR, name);
	if (!ret && renameat(dfd, tmp, dfd, name) < 0)
		ret = ulo_errno(-errno, "%s/%s: rename", ULO_RUNDIR, name);
	if (ret)
		unlinkat(dfd, tmp, 0);
	return ret;
}

static int ulo_runstate_json(FILE *f, const void *ctx)
{
	const struct ulo_runstate *s = ctx;
	struct ulo_fill_status fs;
	struct ulo_verity_info vi;
	struct ulo_stats st;
	struct ulo_json j;

	ulo_engine_stats(s->eng, &st);
	ulo_fill_status(s->fill, &fs);
	ulo_json_init(&j, f);
	ulo_json_obj_begin(&j, NULL);
	ulo_json_str(&j, "device", s->device);
	ulo_json_str(&j, "transport", s->transport);
	ulo_json_bool(&j, "read_write", s->read_write);
	ulo_json_bool(&j, "root_storage", s->root_storage);
	ulo_json_u64(&j, "pid", s->pid);
	ulo_json_u64(&j, "started", s->started);
	if (__atomic_load_n(&ulo_sync_on, __ATOMIC_ACQUIRE)) {
		ulo_json_u64(&j, "synced", ulo_synced);
		if (ulo_sync_err[0])
			ulo_json_str(&j, "sync_error", ulo_sync_err);
	}
	ulo_json_str(&j, "source", s->src->id.location);
	ulo_json_obj_begin(&j, "identity");
	ulo_json_str(&j, "kind", ulo_id_kind_name(s->src->id.kind));
	ulo_json_str(&j, "validator", s->src->id.validator);
	ulo_json_u64(&j, "size", s->src->id.size);
	ulo_json_obj_end(&j);
	if (!ulo_source_verity_info(s->src, &vi)) {
		/* A published version, verified on fetch; what dm-verity needs
		 * to check the device (uloop verity). */
		ulo_json_obj_begin(&j, "verity");
		ulo_json_str(&j, "root_hash", vi.root_hex);
		ulo_json_str(&j, "salt", vi.salt_hex);
		ulo_json_u64(&j, "data_block_size", vi.data_block_size);
		ulo_json_u64(&j, "hash_block_size", vi.hash_block_size);
		ulo_json_u64(&j, "data_blocks", vi.data_blocks);
		ulo_json_u64(&j, "hash_start", vi.hash_start);
		if (vi.name[0]) {
			ulo_json_str(&j, "name", vi.name);
			ulo_json_u64(&j, "version", vi.version);
		}
		ulo_json_obj_end(&j);
	}
	if (s->cache) {
		ulo_json_str(&j, "cache", ulo_cache_path(s->cache));
		ulo_json_str(&j, "format", ulo_cache_format_name(s->cache));
		ulo_json_u64(&j, "block_size", ulo_cache_block_size(s->cache));
		ulo_json_u64(&j, "blocks", ulo_cache_nblocks(s->cache));
		ulo_json_u64(&j, "blocks_present", ulo_cache_count(s->cache));
		ulo_json_u64(&j, "blocks_present_at_start", s->present_at_start);
	}
	if (s->cow) {
		char top[4096];
		unsigned depth;
		uint64_t bytes;

		ulo_cow_top_info(s->cow, top, sizeof(top), &depth, &bytes);
		ulo_json_str(&j, "cow", top);
		ulo_json_u64(&j, "cow_layers", depth);
		ulo_json_u64(&j, "cow_bytes", bytes);
		ulo_json_bool(&j, "cow_failed", ulo_cow_error(s->cow) != 0);
	}
	/* The boot profile given (fill.h): none, loading, ignored,
	 * loaded (being replayed), replayed. */
	ulo_json_str(&j, "profile", fs.profile);
	ulo_json_str(&j, "profile_source", s->profile_source ? s->profile_source : "");
	ulo_json_u64(&j, "profile_bytes", fs.profile_bytes);
	ulo_json_u64(&j, "profile_fetched", fs.profile_queued);
	ulo_json_str(&j, "fill", ulo_fill_state_name(fs.state));
	ulo_json_u64(&j, "hydrate_fetched", fs.hydrate_queued);
	ulo_stats_json(&j, "stats", &st);
	ulo_json_obj_end(&j);
	ulo_json_done(&j);
	return ferror(f) ? -EIO : 0;
}

int ulo_runstate_write(const struct ulo_runstate *s)
{
	char path[4096];
	int ret;

	ulo_runstate_path(s->device, path, sizeof(path));
	pthread_mutex_lock(&ulo_write_mx);
	ret = ulo_rundir_replace(strrchr(path, '/') + 1, ulo_runstate_json, s);
	pthread_mutex_unlock(&ulo_write_mx);
	return ret;
}

void ulo_runstate_profile_path(const char *device, bool times, char *out, size_t len)
{
	const char *ext = times ? ".trace" : ".profile";

	ulo_runstate_path(device, out, len);
	/* NAME.json -> NAME.profile, NAME.trace */
	if (strlen(out) > 5 && strlen(out) - 5 + strlen(ext) < len)
		strcpy(out + strlen(out) - 5, ext);
}

static int ulo_runstate_profile_fill(FILE *f, const void *ctx)
{
	return ulo_profile_write(ctx, false, f);
}

static int ulo_runstate_trace_fill(FILE *f, const void *ctx)
{
	return ulo_profile_write(ctx, true, f);
}

/* Two files: the profile as every uloop reads it, and the same with each
 * extent's time (uloop profile --times), which an older uloop in the
 * root, reading what a newer initramfs daemon wrote, would refuse. */
int ulo_runstate_write_profile(const char *device, const struct ulo_profile *p)
{
	char path[4096];
	int ret;

	ulo_runstate_profile_path(device, true, path, sizeof(path));
	ret = ulo_rundir_replace(strrchr(path, '/') + 1, ulo_runstate_trace_fill, p);
	ulo_runstate_profile_path(device, false, path, sizeof(path));
	return ulo_rundir_replace(strrchr(path, '/') + 1, ulo_runstate_profile_fill, p) ?: ret;
}

void ulo_runstate_remove(const char *device)
{
	char path[4096];

	for (int i = 0; i < 3; i++) {
		if (i)
			ulo_runstate_profile_path(device, i == 2, path, sizeof(path));
		else
			ulo_runstate_path(device, path, sizeof(path));
		if (ulo_rundir_fd >= 0)
			unlinkat(ulo_rundir_fd, strrchr(path, '/') + 1, 0);
		else
			unlink(path);
	}
}

/* A field of our own JSON: the first occurrence of "key": (string or
 * scalar).  Enough for the flat top-level fields we wrote. */
void ulo_runstate_field(const char *json, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	out[0] = '\0';
	if (!p)
		return;
	p += strlen(pat);
	if (*p == '"') {
		for (p++; *p && *p != '"' && n + 1 < len; p++) {
			if (*p == '\\' && p[1])
				p++;
			out[n++] = *p;
		}
	} else {
		while (*p && *p != ',' && *p != '}' && n + 1 < len)
			out[n++] = *p++;
	}
	out[n] = '\0';
}

bool ulo_runstate_pid_alive(pid_t pid)
{
	char link[64], exe[4096];
	ssize_t n;
	const char *base;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return false;
	/* A recycled pid is some other program: look at what it runs. */
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n < 0)
		return errno == EACCES;	/* not ours to see: assume alive */
	exe[n] = '\0';
	base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	return strstr(base, "uloop") || strstr(base, "ulohttp") ||
	       strstr(base, "ulobdev");
}

int ulo_runstate_read(const char *device, struct ulo_runstate_info *out)
{
	char path[4096], buf[16384], v[64];
	size_t n;
	FILE *f;

	memset(out, 0, sizeof(*out));
	ulo_runstate_path(device, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	ulo_runstate_field(buf, "pid", v, sizeof(v));
	out->pid = (pid_t)strtol(v, NULL, 10);
	out->alive = ulo_runstate_pid_alive(out->pid);
	ulo_runstate_field(buf, "read_write", v, sizeof(v));
	out->read_write = !strcmp(v, "true");
	ulo_runstate_field(buf, "root_storage", v, sizeof(v));
	out->root_storage = !strcmp(v, "true");
	ulo_runstate_field(buf, "source", out->source, sizeof(out->source));
	ulo_runstate_field(buf, "kind", out->kind, sizeof(out->kind));
	ulo_runstate_field(buf, "validator", out->validator, sizeof(out->validator));
	ulo_runstate_field(buf, "salt", out->salt, sizeof(out->salt));
	ulo_runstate_field(buf, "cache", out->cache, sizeof(out->cache));
	ulo_runstate_field(buf, "cow", out->cow, sizeof(out->cow));
	ulo_runstate_field(buf, "size", v, sizeof(v));
	out->size = strtoull(v, NULL, 10);
	ulo_runstate_field(buf, "transport", out->transport, sizeof(out->transport));
	ulo_runstate_field(buf, "blocks_present_at_start", v, sizeof(v));
	out->present_at_start = strtoull(v, NULL, 10);
	return 0;
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

/* @device's state document into @buf: 0 or -errno. */
static int ulo_runstate_slurp(const char *device, char *buf, size_t len)
{
	char path[4096];
	size_t n;
	FILE *f;

	ulo_runstate_path(device, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

int ulo_runstate_sync(const char *device, int timeout_ms)
{
	char buf[16384], v[64], err[256];
	uint64_t before;
	pid_t pid;
	int ret;

	ret = ulo_runstate_slurp(device, buf, sizeof(buf));
	if (ret)
		return ulo_err(ret, "%s: not attached (no state in %s)",
			       device, ULO_RUNDIR);
	ulo_runstate_field(buf, "pid", v, sizeof(v));
	pid = (pid_t)strtol(v, NULL, 10);
	if (!ulo_runstate_pid_alive(pid))
		return ulo_err(-ESRCH, "%s: its daemon (pid %d) is gone", device, (int)pid);
	ulo_runstate_field(buf, "synced", v, sizeof(v));
	if (!v[0])
		return ulo_err(-ENOTSUP, "%s: its daemon (pid %d) cannot sync (an older uloop); `uloop detach` commits its cache",
			       device, (int)pid);
	before = strtoull(v, NULL, 10);
	if (kill(pid, SIGUSR2) < 0)
		return ulo_errno(-errno, "%s: signal daemon %d", device, (int)pid);
	for (int ms = 0; ms < timeout_ms; ms += 20) {
		usleep(20000);
		/* Gone with its state: it detached, which commits too. */
		if (ulo_runstate_slurp(device, buf, sizeof(buf)) == -ENOENT)
			return ulo_runstate_pid_alive(pid) ? 0 :
				ulo_err(-ESRCH, "%s: its daemon (pid %d) ended", device, (int)pid);
		ulo_runstate_field(buf, "synced", v, sizeof(v));
		if (strtoull(v, NULL, 10) <= before) {
			if (!ulo_runstate_pid_alive(pid))
				return ulo_err(-ESRCH, "%s: its daemon (pid %d) ended before it committed",
					       device, (int)pid);
			continue;
		}
		ulo_runstate_field(buf, "sync_error", err, sizeof(err));
		return err[0] ? ulo_err(-EIO, "%s: %s", device, err) : 0;
	}
	return ulo_err(-ETIMEDOUT, "%s: its daemon (pid %d) did not commit within %d s",
		       device, (int)pid, timeout_ms / 1000);
}

/* NAME.json -> NAME.snapshot */
static void ulo_runstate_snapshot_path(const char *device, char *out, size_t len)
{
	ulo_runstate_path(device, out, len);
	if (strlen(out) > 5 && strlen(out) - 5 + strlen(".snapshot") < len)
		strcpy(out + strlen(out) - 5, ".snapshot");
}

int ulo_runstate_snapshot(const char *device, const char *newcow, int timeout_ms)
{
	char path[4096], tmp[4200], buf[16384], top[1024];
	FILE *f;
	int ret;

	ret = ulo_runstate_slurp(device, buf, sizeof(buf));
	if (ret)
		return ulo_err(ret, "%s: not attached (no state in %s)",
			       device, ULO_RUNDIR);
	ulo_runstate_field(buf, "cow", top, sizeof(top));
	if (!top[0])
		return ulo_err(-EINVAL, "%s: attached without --cow: no COW stack to snapshot",
			       device);
	ulo_runstate_snapshot_path(device, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return ulo_errno(-errno, "%s", tmp);
	/* Our pid: the daemon opens the path from our root (its own may be
	 * the initramfs, runstate.h). */
	fprintf(f, "%s\n%d\n", newcow, (int)getpid());
	if (fclose(f) || rename(tmp, path) < 0) {
		ret = ulo_errno(-errno, "%s", path);
		unlink(tmp);
		return ret;
	}
	ret = ulo_runstate_sync(device, timeout_ms);
	unlink(path);	/* not taken: a daemon gone or too slow */
	if (ret)
		return ret;
	if (ulo_runstate_slurp(device, buf, sizeof(buf)))
		return ulo_err(-ESRCH, "%s: detached during the snapshot", device);
	ulo_runstate_field(buf, "cow", top, sizeof(top));
	if (strcmp(top, newcow))
		return ulo_err(-EIO, "%s: the daemon did not take the snapshot (its top is %s)",
			       device, top);
	return 0;
}

/* Process @pid's root if it is not ours (O_PATH), else -1. */
static int ulo_other_root(int pid)
{
	char rel[64];
	struct stat ours, theirs;
	int fd;

	if (pid <= 0 || ulo_proc_fd < 0)
		return -1;
	snprintf(rel, sizeof(rel), "%d/root", pid);
	fd = openat(ulo_proc_fd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (stat("/", &ours) == 0 && fstat(fd, &theirs) == 0 &&
	    ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino) {
		close(fd);
		return -1;
	}
	return fd;
}

bool ulo_runstate_take_snapshot(const char *device, char *name, size_t len, int *rootfd)
{
	char path[4096], pid[32] = "";
	FILE *f;
	int fd;
	bool got = false;

	ulo_runstate_snapshot_path(device, path, sizeof(path));
	/* Through the held directory: after switch_root the path leads
	 * elsewhere (see ulo_rundir_fd). */
	if (ulo_rundir() < 0)
		return false;
	fd = openat(ulo_rundir_fd, strrchr(path, '/') + 1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	f = fd < 0 ? NULL : fdopen(fd, "r");
	if (!f) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (fgets(name, (int)len, f)) {
		name[strcspn(name, "\n")] = 0;
		got = name[0] == '/';
		if (!fgets(pid, sizeof(pid), f))
			pid[0] = 0;
	}
	fclose(f);
	unlinkat(ulo_rundir_fd, strrchr(path, '/') + 1, 0);
	/* No pid (an older uloop asked), or the asker is gone: its path as
	 * it is, the open says what is wrong. */
	*rootfd = got ? ulo_other_root(atoi(pid)) : -1;
	return got;
}

int ulo_runstate_each(int (*fn)(const char *device, void *ctx), void *ctx)
{
	char path[4096], buf[16384], dev[4096];
	struct dirent *de;
	int ret = 0;
	DIR *d = opendir(ULO_RUNDIR);

	if (!d)
		return errno == ENOENT ? 0 : ulo_errno(-errno, "%s: open", ULO_RUNDIR);
	while (!ret && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		FILE *f;
		size_t n;

		if (l < 6 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", ULO_RUNDIR, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		ulo_runstate_field(buf, "device", dev, sizeof(dev));
		if (!strstr(buf, "\"pid\":") || !dev[0])
			continue;	/* not a device's state (boot.json) */
		ret = fn(dev, ctx);
	}
	closedir(d);
	return ret;
}
