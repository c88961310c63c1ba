/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transport.h - one interface over the ways an engine is served: as
 * /dev/uloopN by uloop.ko (transport_kmod), as /dev/nbdN by the kernel's
 * nbd driver (transport_nbd), as /dev/ublkbN by the kernel's ublk driver
 * (transport_ublk), or as a regular file through FUSE (transport_fuse).
 *
 * The policy lives here, not in the commands: which transport `auto`
 * picks (kmod when a cache is used read-only and uloop.ko loads, else
 * ublk where the kernel has it, else nbd), which combinations are refused, when a device whose daemon died
 * is taken over (its run state says it served this very image read-only,
 * and we serve it read-only too), which caches are off limits (one a dead
 * daemon's uloop.ko device still reads), how a device is detached, and
 * the driver's own counters.  Functions return 0 or -errno with a message
 * (ulo_errmsg()); -EINVAL from ulo_transport_choose() is a usage mistake.
 */
#ifndef ULOOP_TRANSPORT_H
#define ULOOP_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "cow.h"
#include "engine.h"
#include "source.h"

struct ulo_transport;

struct ulo_transport_opts {
	const char *kind;	/* "auto", "kmod", "nbd", "ublk" or "fuse" */
	const char *device;	/* /dev/nbdN, /dev/uloopN, /dev/ublkbN, a file
				 * (fuse), or NULL */
	const char *cache;	/* the cache's path, or NULL: none */
	bool read_write;	/* writes accepted (kept in memory, or in @cow) */
	uint64_t write_limit;	/* bytes of those writes in memory */
	struct ulo_cow *cow;	/* non-NULL: writes go to this COW stack
				 * (nbd, ublk, fuse; the caller frees it after
				 * ulo_transport_free()) */
	unsigned connections;	/* requests served in parallel */
	unsigned source_timeout_s;	/* the source's deadline (0: its default, 60) */
	unsigned dead_conn_s;	/* how long I/O waits for a restarted daemon */
	bool hold_forever;	/* a root disk: kmod misses wait however long */
	bool compact;		/* the cache is (or is made) compact: not kmod */
};

/*
 * Resolve o->kind "auto" (in place) and check the combination: kmod
 * needs a cache and uloop.ko, and is read-only; --device must
 * name the transport's kind of device.
 */
int ulo_transport_choose(struct ulo_transport_opts *o);

/*
 * Before the cache is opened: refuse a cache that a uloop.ko device whose
 * daemon died still reads, unless that device served @src's image (then
 * starting takes it over).
 */
int ulo_transport_guard_cache(const struct ulo_transport_opts *o,
			      const struct ulo_source *src);

/*
 * Serve @eng (reading @src's image through @cache, which may be NULL
 * except for kmod) with the chosen transport; without o->device a device
 * whose daemon died serving this image is taken over (kmod, ublk), else a new
 * one is made.  @gone(@ctx) is called, from another thread, when the
 * device is ended from outside (uloop detach, umount of the fuse file).
 */
int ulo_transport_start(const struct ulo_transport_opts *o, struct ulo_engine *eng,
			struct ulo_cache *cache, const struct ulo_source *src,
			void (*gone)(void *ctx), void *ctx, struct ulo_transport **out);
/* What is served: "/dev/nbdN", "/dev/uloopN", "/dev/ublkbN" or the fuse
 * file. */
const char *ulo_transport_path(const struct ulo_transport *t);
/* Did it take over the device of a root-disk daemon (run state's
 * root_storage)?  Then the caller is one too (ulo_root_storage_apply). */
bool ulo_transport_root_storage(const struct ulo_transport *t);
/* "kmod", "nbd", "ublk" or "fuse". */
const char *ulo_transport_kind(const struct ulo_transport *t);
/*
 * Stop serving (before the engine is freed).  1 if the device stays,
 * with its run state, for a successor: a uloop.ko device still open
 * (mounted) cannot be removed and holds its misses; a ublk device still
 * mounted is left quiesced, its requests held.
 */
int ulo_transport_stop(struct ulo_transport *t);
/* Free, once the engine is gone (kmod: its store hook uses the session). */
void ulo_transport_free(struct ulo_transport *t);

/*
 * uloop detach: stop serving @dev cleanly (its daemon commits the cache
 * and exits; we wait for it), refused while @dev is in use unless @force.
 */
int ulo_transport_detach(const char *dev, bool force);

/* The driver's own counters of @dev (kmod: its hits never reach us). */
#define ULO_TRANSPORT_NCOUNTERS 5
struct ulo_transport_counters {
	int n;
	const char *name[ULO_TRANSPORT_NCOUNTERS];
	char value[ULO_TRANSPORT_NCOUNTERS][24];	/* "?" if unreadable */
};
/* 0 and @out filled for a kmod device; -ENOTSUP for the others. */
int ulo_transport_counters(const char *dev, const char *kind,
			   struct ulo_transport_counters *out);

#endif
