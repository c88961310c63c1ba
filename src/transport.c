// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * transport.c - the transports behind one interface (transport.h), and
 * their policy: the `auto` choice, takeover, the cache guard, detach.
 *
 * Takeover: a device whose daemon died keeps its requests waiting (nbd:
 * dead_conn_s; uloop.ko: hold_ms) so that a successor can serve them and
 * the filesystem on it sees no error.  We take it over only when its run
 * state (/run/uloop) says that daemon is dead and served this very image
 * read-only, and we serve it read-only too; the drivers check their side
 * (nbd's backend id, uloop.ko's cache file and geometry).
 *
 * Stopping: nbd and kmod are shut down first (the watcher thread, which
 * waits on the device, then returns), then the engine may be freed, then
 * the transport: uloop.ko's session carries the engine's announcements
 * of blocks it stored, so it is closed last.
 */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "dm_verity.h"
#include "nbd_netlink.h"
#include "runstate.h"
#include "transport_fuse.h"
#include "transport_kmod.h"
#include "transport_nbd.h"
#include "transport_ublk.h"
#include "util.h"

/* uloop devices looked at for a takeover or a cache in use. */
#define ULO_KMOD_SCAN 1024
/* uloop detach waits this long for the daemon to be gone. */
#define ULO_DETACH_WAIT_MS 30000

struct ulo_transport {
	const char *kind;
	struct ulo_nbd_dev *nbd;
	struct ulo_kmod_dev *kmod;
	struct ulo_ublk_dev *ublk;
	struct ulo_fuse *fuse;
	void (*gone)(void *ctx);
	void *ctx;
	pthread_t watcher;
	bool watching;
	bool root;		/* took over a root-disk daemon's device */
	struct ulo_wlayer *writes;	/* --read-write: what was written */
	char path[4096];
};

int ulo_transport_choose(struct ulo_transport_opts *o)
{
	/* kmod, whose hits never leave the kernel, where it can serve;
	 * else ublk, where the kernel has it (6.0 and later): io_uring,
	 * no socket, no protocol, hits answered at once; else nbd, in
	 * every kernel.  A device named is served by its own kind. */
	if (!strcmp(o->kind, "auto")) {
		if (o->device)
			o->kind = ulo_kmod_index_of(o->device) >= 0 ? "kmod" :
				  ulo_ublk_index_of(o->device) >= 0 ? "ublk" : "nbd";
		else if (o->cache && !o->read_write && !o->compact && ulo_kmod_available())
			o->kind = "kmod";
		else
			o->kind = ulo_ublk_available() ? "ublk" : "nbd";
	}
	if (!strcmp(o->kind, "kmod")) {
		if (!o->cache)
			return ulo_err(-EINVAL, "--transport kmod needs --cache: uloop.ko reads cached blocks from it (use nbd without a cache)");
		if (o->read_write)
			return ulo_err(-EINVAL, "writes (--read-write, --cow): the kmod transport is read-only; use --transport nbd");
		if (o->compact)
			return ulo_err(-EINVAL, "--transport kmod: uloop.ko reads cached blocks itself from the native layout, and cache %s is compact (blocks in fetch order); use --transport nbd",
				       o->cache);
		if (o->device && ulo_kmod_index_of(o->device) < 0)
			return ulo_err(-EINVAL, "--device %s: the kmod transport serves /dev/uloopN",
				       o->device);
		if (!ulo_kmod_available())
			return ulo_err(-ENODEV, "%s: missing: uloop.ko is not loaded and `modprobe uloop` failed",
				       ULO_KMOD_CONTROL);
	}
	if (!strcmp(o->kind, "ublk")) {
		if (o->device && ulo_ublk_index_of(o->device) < 0)
			return ulo_err(-EINVAL, "--device %s: the ublk transport serves /dev/ublkbN",
				       o->device);
		if (!ulo_ublk_available())
			return ulo_err(-ENODEV, "%s: missing: this kernel has no ublk driver (ublk_drv is not loaded and `modprobe ublk_drv` failed; ublk needs Linux 6.0 or later built with CONFIG_BLK_DEV_UBLK): use --transport nbd",
				       ULO_UBLK_CONTROL);
	}
	if (strcmp(o->kind, "nbd") && strcmp(o->kind, "fuse") && strcmp(o->kind, "kmod") &&
	    strcmp(o->kind, "ublk"))
		return ulo_err(-EINVAL, "--transport: '%s' is not auto, nbd, fuse, kmod or ublk",
			       o->kind);
	return 0;
}

/* Did the run state of @dev's dead daemon serve @src's image? */
static bool transport_same_image(const struct ulo_runstate_info *ri,
				 const struct ulo_source *src)
{
	return ri->size == src->id.size && !strcmp(ri->source, src->id.location) &&
	       !strcmp(ri->validator, src->id.validator);
}

/* Did @device's dead daemon keep its writes in the COW file this one
 * opened?  Then nothing it acknowledged is lost: the data is in the file
 * and the unflushed bits came back from the mirror (cow_pending.h). */
static bool transport_same_cow(const struct ulo_runstate_info *ri,
			       const struct ulo_transport_opts *o)
{
	return o->cow && ri->cow[0] && ulo_same_file(ri->cow, ulo_cow_path(o->cow, 0));
}

/* May we take over @device?  If not, @why says why; if so, @root says
 * whether its dead daemon served the root (a root-disk daemon). */
static bool transport_may_take_over(const struct ulo_transport_opts *o, const char *device,
				    const struct ulo_source *src, char *why, size_t len,
				    bool *root)
{
	struct ulo_runstate_info ri;

	*root = false;
	snprintf(why, len, "not attached by uloop");
	if (!device || ulo_runstate_read(device, &ri))
		return false;
	if (ri.alive)
		snprintf(why, len, "its daemon (pid %d) is running", (int)ri.pid);
	else if ((ri.read_write || o->read_write) && !transport_same_cow(&ri, o))
		snprintf(why, len, "%s", ri.cow[0] || o->cow
			 ? "a COW device is taken over only by a daemon on the same COW file"
			 : "read-write devices are not taken over (acknowledged writes would be lost; a --cow device is)");
	else if (!transport_same_image(&ri, src))
		snprintf(why, len, "it served another image (%.200s %.60s)", ri.source,
			 ri.validator);
	else {
		*root = ri.root_storage;
		return true;
	}
	return false;
}

/*
 * A uloop.ko device whose daemon died still reads its cache in the
 * kernel: binding that cache to another image would serve the new
 * image's bytes as the old one's.
 */
int ulo_transport_guard_cache(const struct ulo_transport_opts *o,
			      const struct ulo_source *src)
{
	struct ulo_runstate_info ri;
	int idx[ULO_KMOD_SCAN], n;
	char dev[32];

	if (!o->cache)
		return 0;
	n = ulo_kmod_devices(idx, ULO_KMOD_SCAN);
	for (int i = 0; i < n; i++) {
		snprintf(dev, sizeof(dev), "/dev/uloop%d", idx[i]);
		/* The same cache however it is spelt (by-label, by-id...). */
		if (ulo_runstate_read(dev, &ri) || ri.alive || !ulo_same_file(ri.cache, o->cache) ||
		    access(dev, F_OK) || transport_same_image(&ri, src))
			continue;
		return ulo_err(-EBUSY, "cache %s: %s still serves another image from it (its daemon died): `uloop detach %s` first",
			       o->cache, dev, dev);
	}
	return 0;
}

/* The device ended from outside: tell the owner. */
static void *transport_watch(void *arg)
{
	struct ulo_transport *t = arg;

	if (t->kmod)
		ulo_kmod_wait(t->kmod);
	else if (t->ublk)
		ulo_ublk_wait(t->ublk);
	else
		ulo_nbd_wait(t->nbd);
	t->gone(t->ctx);
	return NULL;
}

/*
 * Without --device, a uloop device whose daemon died serving this image
 * is taken over (the driver checks it is our cache file too), so a
 * restarted root daemon needs no arguments beyond the first ones.
 */
static int transport_start_kmod(const struct ulo_transport_opts *o, struct ulo_engine *eng,
				struct ulo_cache *cache, const struct ulo_source *src,
				struct ulo_transport *t)
{
	/* Misses wait this long for a successor; a root disk's successor
	 * holds them however long, as its predecessor did. */
	const unsigned hold = o->hold_forever ? ULOOP_HOLD_FOREVER : o->dead_conn_s * 1000;
	struct ulo_kmod_opts ko = {
		.index = o->device ? ulo_kmod_index_of(o->device) : -1,
		.threads = o->connections,
		.hold_ms = hold,
	};
	int idx[ULO_KMOD_SCAN], n, ret;
	char why[512], dev[32];
	bool root;

	if (o->device) {
		ko.may_take_over = transport_may_take_over(o, o->device, src, why, sizeof(why),
							   &root);
		ko.hold_ms = root ? ULOOP_HOLD_FOREVER : hold;	/* root: a takeover */
		ret = ulo_kmod_start(&ko, eng, cache, &t->kmod);
		t->root = !ret && root && ulo_kmod_took_over(t->kmod);
		return ret == -EBUSY ? ulo_err(ret, "%s: in use: %s", o->device, why) : ret;
	}
	n = ulo_kmod_devices(idx, ULO_KMOD_SCAN);
	for (int i = 0; i < n; i++) {
		snprintf(dev, sizeof(dev), "/dev/uloop%d", idx[i]);
		if (!transport_may_take_over(o, dev, src, why, sizeof(why), &root))
			continue;
		ko.index = idx[i];
		ko.may_take_over = true;
		ko.hold_ms = root ? ULOOP_HOLD_FOREVER : hold;
		if (!ulo_kmod_start(&ko, eng, cache, &t->kmod)) {
			t->root = root;
			return 0;
		}
		ulo_debug("attach", "%s: no takeover: %s", dev, ulo_errmsg());
	}
	ko.hold_ms = hold;
	ko.index = -1;
	ko.may_take_over = false;
	return ulo_kmod_start(&ko, eng, cache, &t->kmod);
}

static int transport_start_nbd(const struct ulo_transport_opts *o, struct ulo_engine *eng,
			       struct ulo_cache *cache, const struct ulo_source *src,
			       struct ulo_transport *t)
{
	char backend[512], why[512];
	struct ulo_nbd_opts no = {
		.device = o->device,
		.connections = o->connections,
		/*
		 * Longer than the source's own deadline (retries included),
		 * so our EIO comes first: the driver would otherwise mark a
		 * healthy connection dead.  It is also how long the requests
		 * in flight when a daemon dies wait before the driver sends
		 * them again to its successor.
		 */
		.timeout_s = (o->source_timeout_s ? o->source_timeout_s : 60) + 15,
		.dead_conn_s = o->dead_conn_s,
		.backend = backend,
		.writes = t->writes,
	};
	bool root;
	int ret;

	/* The image and the mode: the driver gives a successor the device
	 * only for the same backend id. */
	snprintf(backend, sizeof(backend), "uloop %s %.200s %.40s %llu",
		 o->read_write ? "rw" : "ro", src->id.location, src->id.validator,
		 (unsigned long long)src->id.size);
	no.may_take_over = transport_may_take_over(o, o->device, src, why, sizeof(why), &root);
	ret = ulo_nbd_start(&no, eng, cache, src->id.size, &t->nbd);
	t->root = !ret && root && ulo_nbd_took_over(t->nbd);
	return ret == -EBUSY ? ulo_err(ret, "%s: in use: %s",
				       o->device ? o->device : "nbd device", why) : ret;
}

/*
 * As kmod: without --device, a ublk device whose daemon died serving this
 * image is taken over (the driver's user recovery), else a new one made.
 */
static int transport_start_ublk(const struct ulo_transport_opts *o, struct ulo_engine *eng,
				struct ulo_cache *cache, const struct ulo_source *src,
				struct ulo_transport *t)
{
	struct ulo_ublk_opts uo = {
		.index = o->device ? ulo_ublk_index_of(o->device) : -1,
		.workers = o->connections,
		.writes = t->writes,
	};
	int idx[ULO_KMOD_SCAN], n, ret;
	char why[512], dev[32];
	bool root;

	if (o->device) {
		uo.may_take_over = transport_may_take_over(o, o->device, src, why, sizeof(why),
							   &root);
		ret = ulo_ublk_start(&uo, eng, cache, src->id.size, &t->ublk);
		t->root = !ret && root && ulo_ublk_took_over(t->ublk);
		return ret == -EBUSY && !uo.may_take_over ?
		       ulo_err(ret, "%s: in use: %s", o->device, why) : ret;
	}
	n = ulo_ublk_devices(idx, ULO_KMOD_SCAN);
	for (int i = 0; i < n; i++) {
		snprintf(dev, sizeof(dev), "/dev/ublkb%d", idx[i]);
		if (!transport_may_take_over(o, dev, src, why, sizeof(why), &root))
			continue;
		uo.index = idx[i];
		uo.may_take_over = true;
		if (!ulo_ublk_start(&uo, eng, cache, src->id.size, &t->ublk)) {
			t->root = root;
			return 0;
		}
		ulo_debug("attach", "%s: no takeover: %s", dev, ulo_errmsg());
	}
	uo.index = -1;
	uo.may_take_over = false;
	return ulo_ublk_start(&uo, eng, cache, src->id.size, &t->ublk);
}

static int transport_fuse_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	return ulo_engine_read(ctx, buf, off, len);
}

static int transport_fuse_rw_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	return ulo_wlayer_read(ctx, buf, off, len);
}

static int transport_fuse_write(void *ctx, const void *buf, uint64_t off,
				size_t len)
{
	return ulo_wlayer_write(ctx, buf, off, len);
}

static int transport_fuse_sync(void *ctx)
{
	return ulo_wlayer_flush(ctx);
}

/* The writable layer's image: the engine's bytes. */
static int transport_base_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	return ulo_engine_read(ctx, buf, off, len);
}

static int transport_start_fuse(const struct ulo_transport_opts *o, struct ulo_engine *eng,
				const struct ulo_source *src, struct ulo_transport *t)
{
	int ret;

	if (!o->device)
		return ulo_err(-EINVAL, "attach: --transport fuse needs --device FILE");
	ret = ulo_fuse_mount(o->device, src->id.size, t->writes != NULL, &t->fuse);
	if (ret)
		return ret;
	ulo_fuse_on_gone(t->fuse, t->gone, t->ctx);
	if (t->writes) {
		ulo_fuse_writable(t->fuse, transport_fuse_write, transport_fuse_sync);
		return ulo_fuse_run(t->fuse, o->connections, transport_fuse_rw_read,
				    t->writes);
	}
	return ulo_fuse_run(t->fuse, o->connections, transport_fuse_read, eng);
}

/*
 * A new device's partition table is read at its first open: nbd's after
 * the connect (the driver's GD_NEED_PART_SCAN), uloop.ko's once ADD has
 * returned (kmod/uloop_ctl.c).  Open it once the servers run, so
 * /dev/nbdNpM and /dev/uloopNpM exist when attach says "ready", with or
 * without udev (which may have opened it before the scan was armed).
 * The open returns once the table is read (its misses are ours to
 * serve).  A device taken over keeps the partitions it has; a missing
 * node (no devtmpfs) leaves the scan to the first reader.
 */
static void transport_scan_partitions(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		ulo_debug("transport", "%s: open for the partition scan: %s", dev,
			  strerror(errno));
		return;
	}
	close(fd);
}

int ulo_transport_start(const struct ulo_transport_opts *o, struct ulo_engine *eng,
			struct ulo_cache *cache, const struct ulo_source *src,
			void (*gone)(void *ctx), void *ctx, struct ulo_transport **out)
{
	struct ulo_transport *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return ulo_errno(-ENOMEM, "attach: allocating the transport");
	t->kind = o->kind;
	t->gone = gone;
	t->ctx = ctx;
	if (o->cow)
		ret = ulo_wlayer_cow(o->cow, &t->writes);
	else if (o->read_write)
		ret = ulo_wlayer_ram(src->id.size, o->write_limit,
				     transport_base_read, eng, &t->writes);
	else
		ret = 0;
	if (ret) {
		*out = t;
		return ret;
	}
	if (!strcmp(o->kind, "kmod")) {
		ret = transport_start_kmod(o, eng, cache, src, t);
		if (!ret)
			snprintf(t->path, sizeof(t->path), "%s", ulo_kmod_path(t->kmod));
	} else if (!strcmp(o->kind, "ublk")) {
		ret = transport_start_ublk(o, eng, cache, src, t);
		if (!ret)
			snprintf(t->path, sizeof(t->path), "%s", ulo_ublk_path(t->ublk));
	} else if (!strcmp(o->kind, "fuse")) {
		ret = transport_start_fuse(o, eng, src, t);
		snprintf(t->path, sizeof(t->path), "%s", o->device ? o->device : "");
	} else {
		ret = transport_start_nbd(o, eng, cache, src, t);
		if (!ret)
			snprintf(t->path, sizeof(t->path), "%s", ulo_nbd_path(t->nbd));
	}
	if (!ret && ((t->kmod && !ulo_kmod_took_over(t->kmod)) ||
		     (t->nbd && !ulo_nbd_took_over(t->nbd))))
		transport_scan_partitions(t->path);
	if (!ret && (t->nbd || t->kmod || t->ublk) &&
	    !pthread_create(&t->watcher, NULL, transport_watch, t))
		t->watching = true;
	*out = t;
	return ret;
}

const char *ulo_transport_path(const struct ulo_transport *t)
{
	return t->path;
}

bool ulo_transport_root_storage(const struct ulo_transport *t)
{
	return t && t->root;
}

const char *ulo_transport_kind(const struct ulo_transport *t)
{
	return t->kind;
}

int ulo_transport_stop(struct ulo_transport *t)
{
	int stays = 0;

	if (!t)
		return 0;
	if (t->nbd)
		ulo_nbd_shutdown(t->nbd, false);
	/* Still open: the device stays, its misses held for a successor. */
	if (t->kmod && ulo_kmod_shutdown(t->kmod, false) == -EBUSY)
		stays = 1;
	if (t->ublk && ulo_ublk_shutdown(t->ublk, false) == -EBUSY)
		stays = 1;
	if (t->watching)
		pthread_join(t->watcher, NULL);
	t->watching = false;
	ulo_fuse_stop(t->fuse);
	t->fuse = NULL;
	return stays;
}

void ulo_transport_free(struct ulo_transport *t)
{
	if (!t)
		return;
	ulo_nbd_free(t->nbd);
	ulo_kmod_free(t->kmod);
	ulo_ublk_free(t->ublk);
	ulo_wlayer_free(t->writes);
	free(t);
}

/* In use: mounted, or opened exclusively by someone. */
static bool transport_busy(const char *dev)
{
	int fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EBUSY;
}

/*
 * /dev/nbdN: the driver is told to disconnect (which works with the
 * daemon gone too); /dev/uloopN: uloop.ko removes it (refused while it is
 * open, even with @force); a FUSE file: its daemon gets SIGTERM.  Either
 * way the daemon sees the end, commits the cache, marks it clean and
 * exits.  The recorded pid is trusted only if it still runs uloop, and a
 * stale run state (its daemon dead) is cleaned up.
 */
int ulo_transport_detach(const char *dev, bool force)
{
	int index = ulo_nbd_index_of(dev), kindex = ulo_kmod_index_of(dev), ret;
	int uindex = ulo_ublk_index_of(dev);
	struct ulo_runstate_info ri;
	bool connected = false, have_state = !ulo_runstate_read(dev, &ri);
	char sys[64];

	if (kindex >= 0) {
		snprintf(sys, sizeof(sys), "/sys/block/uloop%d", kindex);
		if (access(sys, F_OK) < 0) {
			if (have_state)
				ulo_runstate_remove(dev);
			return ulo_err(-ENODEV, "%s: no such device", dev);
		}
	} else if (uindex >= 0) {
		snprintf(sys, sizeof(sys), "/sys/block/ublkb%d", uindex);
		if (access(sys, F_OK) < 0) {
			if (have_state)
				ulo_runstate_remove(dev);
			return ulo_err(-ENODEV, "%s: no such device", dev);
		}
	} else if (index >= 0) {
		snprintf(sys, sizeof(sys), "/sys/block/nbd%d", index);
		if (access(sys, F_OK) < 0)
			return ulo_err(-ENODEV, "%s: no such device", dev);
		ret = ulo_nbd_nl_status(index, &connected);
		if (ret)
			return ret;
		if (!connected) {
			if (have_state)
				ulo_runstate_remove(dev);
			return ulo_err(-ENOENT, "%s: not attached", dev);
		}
	} else if (!have_state) {
		return ulo_err(-ENOENT, "%s: not attached (no state in %s)", dev, ULO_RUNDIR);
	}
	/* The dm-verity device uloop verity stacked on it goes first (and
	 * if it is mounted, the device is in use). */
	ret = ulo_dm_verity_remove_over(dev);
	if (ret && !force)
		return ret;
	/* Cutting a device in use would fail every I/O of the filesystem. */
	if (!force && transport_busy(dev))
		return ulo_err(-EBUSY, "%s: in use (mounted?): unmount it first, or pass --force",
			       dev);
	if (kindex >= 0) {
		ret = ulo_kmod_remove(kindex);
		if (ret)
			return ulo_errno(ret, "%s: %s", dev, ret == -EBUSY ?
					 "in use (open or mounted): uloop.ko refuses to remove it" :
					 "ULOOP_CTL_REMOVE");
	} else if (uindex >= 0) {
		/* A live daemon sees the device stop and removes it; a dead
		 * one's is removed here. */
		ret = ulo_ublk_remove(uindex, !(have_state && ri.alive));
		if (ret)
			return ulo_errno(ret, "%s: STOP_DEV", dev);
	} else if (index >= 0) {
		ret = ulo_nbd_nl_disconnect(index);
		if (ret)
			return ret;
	} else if (ri.alive) {
		if (kill(ri.pid, SIGTERM) < 0 && errno != ESRCH)
			return ulo_errno(-errno, "%s: signal daemon %d", dev, (int)ri.pid);
	} else {
		/* A FUSE daemon that died leaves its mount behind. */
		umount2(dev, MNT_DETACH);
	}
	for (int ms = 0; have_state && ri.alive && ulo_runstate_pid_alive(ri.pid); ms += 50) {
		if (ms >= ULO_DETACH_WAIT_MS)
			return ulo_err(-ETIMEDOUT, "%s: daemon %d still running after %d s",
				       dev, (int)ri.pid, ULO_DETACH_WAIT_MS / 1000);
		usleep(50000);
	}
	if (have_state && !ri.alive)
		ulo_runstate_remove(dev);	/* its daemon cannot any more */
	return 0;
}

int ulo_transport_counters(const char *dev, const char *kind,
			   struct ulo_transport_counters *out)
{
	static const char *const k[ULO_TRANSPORT_NCOUNTERS] = {
		"hits", "misses", "held", "failed", "csum_errors",
	};
	char p[320];

	if (strcmp(kind, "kmod") || strncmp(dev, "/dev/", 5))
		return -ENOTSUP;
	out->n = ULO_TRANSPORT_NCOUNTERS;
	for (int i = 0; i < out->n; i++) {
		FILE *f;

		out->name[i] = k[i];
		snprintf(out->value[i], sizeof(out->value[i]), "?");
		snprintf(p, sizeof(p), "/sys/block/%s/uloop/%s", dev + 5, k[i]);
		f = fopen(p, "re");
		if (!f)
			continue;
		if (fgets(out->value[i], sizeof(out->value[i]), f))
			out->value[i][strcspn(out->value[i], "\n")] = '\0';
		else
			snprintf(out->value[i], sizeof(out->value[i]), "?");
		fclose(f);
	}
	return 0;
}
