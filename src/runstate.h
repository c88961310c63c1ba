/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runstate.h - /run/uloop/NAME.json, one per attached device.
 *
 * The daemon rewrites its file every second (write to a temporary, then
 * rename: a reader sees a whole document or the previous one) with its
 * pid, device, transport, source, cache, identity, fill level and engine
 * counters; `uloop status` and `uloop detach` read it.  NAME is the
 * device's path with '/' turned into '%' (a FUSE device is any file).
 * On SIGUSR2 the daemon writes NAME.profile beside it, the boot profile
 * recorded so far, which `uloop profile` prints.
 * Other files there (the boot's boot.json) have no "pid": not devices.
 *
 * Sync: a daemon that answers SIGUSR2 (uloop attach) says so with a
 * "synced" count in its state: the sync requests it answered, each by
 * committing its cache, then rewriting its state at once ("sync_error"
 * says why the last commit failed).  `uloop sync` reads the count, sends
 * SIGUSR2, and waits for the count to pass what it read; a state without
 * the field belongs to a daemon that would die of SIGUSR2 (its default
 * action), so it is never sent one.
 */
#ifndef ULOOP_RUNSTATE_H
#define ULOOP_RUNSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache.h"
#include "cow.h"
#include "engine.h"
#include "fill.h"
#include "profile.h"
#include "source.h"

#define ULO_RUNDIR "/run/uloop"

struct ulo_runstate {
	const char *device;
	const char *transport;
	pid_t pid;
	struct ulo_source *src;
	struct ulo_cache *cache;	/* may be NULL */
	struct ulo_cow *cow;		/* --cow's stack, or NULL */
	struct ulo_engine *eng;
	long started;		/* unix seconds */
	bool read_write;
	bool root_storage;	/* serves the root: a successor is one too */
	uint64_t present_at_start;	/* cached blocks when attached */
	struct ulo_fill *fill;	/* may be NULL */
	const char *profile_source;	/* --profile, or NULL */
};

/* What a run state says, read back (for takeover, detach, status). */
struct ulo_runstate_info {
	pid_t pid;
	bool alive;		/* the pid is a running uloop */
	bool read_write;
	bool root_storage;	/* a root-disk daemon (daemon.h) */
	char source[2048];
	char kind[32];		/* the identity's kind ("etag", "root-hash"...) */
	char validator[256];
	char salt[2 * 256 + 1];	/* a verified image's (hex), "" if none */
	char cache[1024];	/* "" without a cache */
	char cow[1024];		/* the top COW file, "" without one */
	char transport[16];
	uint64_t size;
	uint64_t present_at_start;
};

/* The state file of @device. */
void ulo_runstate_path(const char *device, char *out, size_t len);
int ulo_runstate_write(const struct ulo_runstate *s);
/* NAME.profile beside NAME.json: the boot profile `uloop profile` reads. */
/* NAME.profile, or with @times NAME.trace (each extent with its time). */
void ulo_runstate_profile_path(const char *device, bool times, char *out, size_t len);
int ulo_runstate_write_profile(const char *device, const struct ulo_profile *p);
void ulo_runstate_remove(const char *device);
/* The pid recorded for @device: 0 if none, or -errno. */
pid_t ulo_runstate_pid(const char *device);
/* A top-level field of a run-state document (string or scalar), as
 * text; "" if absent. */
void ulo_runstate_field(const char *json, const char *key, char *out, size_t len);
/* Read @device's run state: 0, -ENOENT if none, or -errno. */
int ulo_runstate_read(const char *device, struct ulo_runstate_info *out);
/* Is @pid a running uloop process (not a recycled pid)? */
bool ulo_runstate_pid_alive(pid_t pid);

/* This process answers SIGUSR2 (blocked, and waited for): its states say
 * "synced" from now on. */
void ulo_runstate_sync_enable(void);
/* A sync request was answered: @err is the commit's result (0 or
 * -errno), @msg its message when it failed. */
void ulo_runstate_synced(int err, const char *msg);
/* Ask @device's daemon to commit its cache now and wait (at most
 * @timeout_ms) until it did: 0, or -errno with a message. */
int ulo_runstate_sync(const char *device, int timeout_ms);
/*
 * `uloop snapshot`: ask @device's daemon to start a new top COW layer at
 * @newcow (an absolute path), at a flush barrier, and wait (at most
 * @timeout_ms) until it answered; 0 once the run state names @newcow as
 * its top, or -errno with the daemon's reason.  The request is a file
 * beside the run state (NAME.snapshot), answered with the sync (SIGUSR2).
 */
int ulo_runstate_snapshot(const char *device, const char *newcow, int timeout_ms);
/*
 * The daemon's side: the path a snapshot request names (@name, as the
 * asking process sees it), taken (the file removed); false if none is
 * pending.  *@rootfd: -1, or, when the asker's root is not ours, that
 * root (an O_PATH descriptor, the caller closes it): a root's daemon
 * keeps the initramfs as its root after switch_root, where the booted
 * system's paths lead nowhere or somewhere else.  The asker's root is
 * reached through the /proc this process held from its first run state
 * (at switch_root /proc moves away too).
 */
bool ulo_runstate_take_snapshot(const char *device, char *name, size_t len, int *rootfd);

/* Call @fn with the device of every run state in ULO_RUNDIR (those of
 * live and dead daemons); stops at, and returns, the first non-zero. */
int ulo_runstate_each(int (*fn)(const char *device, void *ctx), void *ctx);

#endif
