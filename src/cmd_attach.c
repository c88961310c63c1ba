// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_attach.c - uloop attach: serve an image as a block device (uloop.ko
 * or NBD) or a file (FUSE), through the cache, as a daemon.
 *
 * Order matters: fork first (threads do not survive fork), then become a
 * root-storage daemon if we run from an initramfs, block the signals we
 * wait for (before any thread exists, so every thread inherits the mask),
 * then open source, cache and engine, start the transport, write the run
 * state, and only then tell the parent "ready": `uloop attach` returns
 * when the device can be mounted (and fails if SIGTERM came meanwhile).  The main thread then sleeps in
 * sigwait(): SIGTERM/SIGINT detach cleanly; SIGUSR1 comes from our own
 * watcher when the kernel ended the device (uloop detach, nbd-client -d).
 *
 * kmod: `auto` picks uloop.ko when a cache is used (the driver reads hits
 * from it), the device is not writable, and the module is there or loads
 * (modprobe runs before the fork: no session fd exists yet to leak).  A
 * kmod device still open at SIGTERM cannot be removed: it stays, holding
 * its misses, and so does its run state, so that the next attach of the
 * same image takes it over.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "daemon.h"
#include "fuse_dev.h"
#include "runstate.h"
#include "transport_kmod.h"
#include "transport_nbd.h"
#include "util.h"

#define ATTACH_DEAD_CONN_S 120

static void attach_usage(FILE *f)
{
	fputs("Usage: uloop attach SOURCE [--cache PATH] [--device DEV] [options]\n"
	      "\n"
	      "Serve SOURCE as a read-only block device through the cache and\n"
	      "print the device once it is ready (read-only unless --read-write).\n"
	      "Runs as a daemon unless\n"
	      "--foreground; `uloop detach DEV` or SIGTERM stops it cleanly.\n"
	      "\n"
	      "Options:\n"
	      "  --cache PATH        cache file or partition (none: fetch every time)\n"
	      "  --bitmap PATH       use the 2007 layout: PATH is the bitmap file\n"
	      "  --block-size N      block size of a new cache (4K..1M, default 64K)\n"
	      "  --device DEV        /dev/nbdN (nbd), /dev/uloopN (kmod), or a file to\n"
	      "                      serve (fuse); a device whose daemon died is taken over\n"
	      "  --transport T       auto (default: kmod with a cache if uloop.ko loads,\n"
	      "                      else nbd), kmod, nbd, fuse\n"
	      "  --connections N     parallel requests and nbd connections (default 4)\n"
	      "  --readahead N       readahead limit (default 1M)\n"
	      "  --reconnect-timeout SECS  how long the kernel keeps I/O waiting for a\n"
	      "                      restarted daemon (default 120)\n"
	      "  --foreground        do not daemonise\n"
	      "  --read-write        accept writes: kept in memory for the daemon's life,\n"
	      "                      never written to the cache or the source\n"
	      "  --write-limit N     memory for those writes (default 256M)\n"
	      "  --offline           keep (do not drop) a cache of another image\n"
	      "  --wipe              allow overwriting a file/device that is not a cache\n"
	      "  -v, --verbose       debug output\n"
	      CLI_HELP_SOURCE_NET, f);
}

enum { OPT_DEVICE = 400, OPT_TRANSPORT, OPT_FOREGROUND, OPT_READ_WRITE,
       OPT_RECONNECT, OPT_WRITE_LIMIT };

#define ATTACH_WRITE_LIMIT (256ull << 20)

struct attach {
	struct cli_opts o;
	const char *device, *transport;
	bool foreground;
	bool read_write;	/* writes kept in memory, never in the cache */
	uint64_t write_limit;
	unsigned dead_conn_s;
	struct ulo_source *src;
	struct ulo_cache *cache;
	struct ulo_engine *eng;
	struct ulo_nbd_dev *nbd;
	struct ulo_kmod_dev *kmod;
	unsigned hold_ms;	/* kmod: how long misses wait for a successor */
	struct ulo_fuse *fuse;
	char devpath[4096];
	volatile bool state_stop;
};

static void attach_warn(const char *msg)
{
	cli_note("attach: %s", msg);
}

/* Rewrite the run state every second; the last write is by the caller. */
static void *attach_state_thread(void *arg)
{
	struct attach *a = arg;
	struct ulo_runstate rs = {
		.device = a->devpath, .transport = a->transport,
		.pid = getpid(), .src = a->src, .cache = a->cache, .eng = a->eng,
		.started = time(NULL), .read_write = a->read_write,
	};

	/* The first write happened before "ready" (attach_ready). */
	for (;;) {
		for (int i = 0; i < 10 && !a->state_stop; i++)
			usleep(100000);
		if (a->state_stop)
			break;
		if (ulo_runstate_write(&rs))
			ulo_debug("attach", "%s", ulo_errmsg());
	}
	return NULL;
}

/* Point stderr at /dev/kmsg, else /dev/null (never the caller's file). */
static void attach_stderr_to_kmsg(void)
{
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/*
 * May we take over @device?  Only when its run state says its daemon is
 * dead and served this very image read-only, and we serve it read-only
 * too: then the filesystem on it goes on as if nothing happened.  (The
 * driver checks the backend id as well.)
 */
static bool attach_may_take_over(struct attach *a, char *why, size_t len)
{
	struct ulo_runstate_info ri;

	snprintf(why, len, "not attached by uloop");
	if (!a->device || ulo_runstate_read(a->device, &ri))
		return false;
	if (ri.alive)
		snprintf(why, len, "its daemon (pid %d) is running", (int)ri.pid);
	else if (ri.read_write || a->read_write)
		snprintf(why, len, "read-write devices are not taken over (acknowledged writes would be lost)");
	else if (ri.size != a->src->id.size || strcmp(ri.source, a->src->id.location) ||
		 strcmp(ri.validator, a->src->id.validator))
		snprintf(why, len, "it served another image (%.200s %.60s)", ri.source,
			 ri.validator);
	else
		return true;
	return false;
}

/* uloop devices looked at for a takeover or a cache in use. */
#define ULO_KMOD_SCAN 1024

/*
 * A uloop.ko device whose daemon died still reads its cache in the
 * kernel: binding that cache to another image would serve the new
 * image's bytes as the old one's.  Refuse that; the same image is fine
 * (attach_kmod takes the device over).
 */
static int attach_cache_guard(struct attach *a)
{
	struct ulo_runstate_info ri;
	int idx[ULO_KMOD_SCAN], n = ulo_kmod_devices(idx, ULO_KMOD_SCAN);
	char dev[32];

	for (int i = 0; i < n; i++) {
		snprintf(dev, sizeof(dev), "/dev/uloop%d", idx[i]);
		/* The same cache however it is spelt (by-label, by-id...). */
		if (ulo_runstate_read(dev, &ri) || ri.alive || !ulo_same_file(ri.cache, a->o.cache) ||
		    access(dev, F_OK) ||
		    (ri.size == a->src->id.size && !strcmp(ri.source, a->src->id.location) &&
		     !strcmp(ri.validator, a->src->id.validator)))
			continue;
		return ulo_err(-EBUSY, "cache %s: %s still serves another image from it (its daemon died): `uloop detach %s` first",
			       a->o.cache, dev, dev);
	}
	return 0;
}

/* The device ended from outside: wake the main thread. */
static void *attach_watch_thread(void *arg)
{
	struct attach *a = arg;

	if (a->kmod)
		ulo_kmod_wait(a->kmod);
	else
		ulo_nbd_wait(a->nbd);
	kill(getpid(), SIGUSR1);
	return NULL;
}

/* The FUSE file was unmounted from outside: wake the main thread. */
static void attach_fuse_gone(void *ctx)
{
	(void)ctx;
	kill(getpid(), SIGUSR1);
}

/*
 * --offline and the server cannot be reached: serve the cache alone, if it
 * holds every block of the image it is bound to (a partly cached image
 * would fail its first miss: better to say so now).
 */
static int attach_offline(struct attach *a, const char *url)
{
	struct ulo_cache_opts co = {
		.path = a->o.cache, .bitmap_path = a->o.bitmap,
	};
	char why[1024];
	int ret;

	snprintf(why, sizeof(why), "%s", ulo_errmsg());
	ret = ulo_cache_open(&co, &a->cache);
	if (ret)
		return ulo_err(ret, "%s; offline: %s", why, ulo_errmsg());
	if (!a->cache->laid_out || a->cache->id.kind == ULO_ID_NONE ||
	    ulo_cache_count(a->cache) < a->cache->nblocks)
		return ulo_err(-EIO, "%s; offline: cache %s holds %llu of %llu blocks, not the whole image",
			       why, a->cache->path,
			       (unsigned long long)(a->cache->laid_out ? ulo_cache_count(a->cache) : 0),
			       (unsigned long long)a->cache->nblocks);
	if (!ulo_identity_at(&a->cache->id, url))
		return ulo_err(-EINVAL, "%s; offline: cache %s holds %s, not %s",
			       why, a->cache->path, a->cache->id.location, url);
	ret = ulo_source_offline(&a->cache->id, &a->src);
	if (!ret)
		ret = ulo_cache_start_committer(a->cache, 0);
	if (!ret)
		attach_warn("server unreachable: serving the cached image offline");
	return ret;
}

static int attach_fuse_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	return ulo_engine_read(ctx, buf, off, len);
}

/*
 * kmod without --device: a uloop device whose daemon died serving this
 * image is taken over (the driver checks it is our cache file too), so a
 * restarted root daemon needs no arguments beyond the first ones.
 */
static int attach_kmod(struct attach *a)
{
	struct ulo_kmod_opts ko = {
		.index = a->device ? ulo_kmod_index_of(a->device) : -1,
		.threads = a->o.eng.connections,
		.hold_ms = a->hold_ms,
	};
	char why[512], dev[32];
	int idx[ULO_KMOD_SCAN], n, ret;

	if (a->device) {
		ko.may_take_over = attach_may_take_over(a, why, sizeof(why));
		ret = ulo_kmod_start(&ko, a->eng, a->cache, &a->kmod);
		return ret == -EBUSY ? ulo_err(ret, "%s: in use: %s", a->device, why) : ret;
	}
	a->device = dev;
	n = ulo_kmod_devices(idx, ULO_KMOD_SCAN);
	for (int i = 0; i < n && !a->kmod; i++) {
		snprintf(dev, sizeof(dev), "/dev/uloop%d", idx[i]);
		if (!attach_may_take_over(a, why, sizeof(why)))
			continue;
		ko.index = idx[i];
		ko.may_take_over = true;
		if (!ulo_kmod_start(&ko, a->eng, a->cache, &a->kmod))
			break;
		ulo_debug("attach", "%s: no takeover: %s", dev, ulo_errmsg());
	}
	a->device = NULL;
	if (a->kmod)
		return 0;
	ko.index = -1;
	ko.may_take_over = false;
	return ulo_kmod_start(&ko, a->eng, a->cache, &a->kmod);
}

static int attach_start(struct attach *a)
{
	if (!strcmp(a->transport, "kmod")) {
		int ret = attach_kmod(a);

		if (!ret)
			snprintf(a->devpath, sizeof(a->devpath), "%s", ulo_kmod_path(a->kmod));
		return ret;
	} else if (!strcmp(a->transport, "fuse")) {
		int ret;

		if (!a->device)
			return ulo_err(-EINVAL, "attach: --transport fuse needs --device FILE");
		ret = ulo_fuse_mount(a->device, a->src->id.size, &a->fuse);
		if (!ret)
			ulo_fuse_on_gone(a->fuse, attach_fuse_gone, NULL);
		if (!ret)
			ret = ulo_fuse_run(a->fuse, a->o.eng.connections,
					   attach_fuse_read, a->eng);
		snprintf(a->devpath, sizeof(a->devpath), "%s", a->device);
		return ret;
	} else {
		char backend[512], why[512];
		struct ulo_nbd_opts no = {
			.device = a->device,
			.connections = a->o.eng.connections,
			/*
			 * Longer than our own deadline (retries included), so
			 * our EIO comes first: the driver would otherwise mark
			 * a healthy connection dead.  It is also how long the
			 * requests in flight when a daemon dies wait before the
			 * driver sends them again to its successor.
			 */
			.timeout_s = (a->o.src.timeout_s ? a->o.src.timeout_s : 60) + 15,
			.dead_conn_s = a->dead_conn_s,
			.backend = backend,
			.write_limit = a->read_write ? a->write_limit : 0,
		};
		int ret;

		/* The image and the mode: the driver gives a successor the
		 * device only for the same backend id. */
		snprintf(backend, sizeof(backend), "uloop %s %.200s %.40s %llu",
			 a->read_write ? "rw" : "ro", a->src->id.location,
			 a->src->id.validator, (unsigned long long)a->src->id.size);
		no.may_take_over = attach_may_take_over(a, why, sizeof(why));
		ret = ulo_nbd_start(&no, a->eng, a->cache, a->src->id.size, &a->nbd);
		if (ret == -EBUSY)
			ret = ulo_err(ret, "%s: in use: %s", a->device, why);
		if (!ret)
			snprintf(a->devpath, sizeof(a->devpath), "%s", ulo_nbd_path(a->nbd));
		return ret;
	}
}

static int attach_opt(int opt, const char *arg, void *ctx)
{
	struct attach *a = ctx;
	char *end;
	long s;

	switch (opt) {
	case OPT_DEVICE:
		a->device = arg;
		return 1;
	case OPT_TRANSPORT:
		a->transport = arg;
		return 1;
	case OPT_FOREGROUND:
		a->foreground = true;
		return 1;
	case OPT_READ_WRITE:
		a->read_write = true;
		return 1;
	case OPT_WRITE_LIMIT:
		if (ulo_parse_size(arg, &a->write_limit) || a->write_limit < 4096) {
			cli_usage_error("--write-limit: invalid size '%s'", arg);
			exit(ULO_EXIT_USAGE);
		}
		return 1;
	case OPT_RECONNECT:
		s = strtol(arg, &end, 10);
		if (*end || s < 1 || s > 86400) {
			cli_usage_error("--reconnect-timeout: invalid value '%s' (1..86400)", arg);
			exit(ULO_EXIT_USAGE);
		}
		a->dead_conn_s = s;
		return 1;
	}
	return 0;
}

int cmd_attach(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_CACHE, CLI_OPT_BITMAP, CLI_OPT_BLOCK_SIZE,
		CLI_OPT_CONNECTIONS, CLI_OPT_READAHEAD, CLI_OPT_OFFLINE,
		CLI_OPT_WIPE, CLI_OPT_HELP, CLI_OPT_VERBOSE, CLI_OPT_SOURCE_NET,
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "foreground", no_argument, NULL, OPT_FOREGROUND },
		{ "read-write", no_argument, NULL, OPT_READ_WRITE },
		{ "reconnect-timeout", required_argument, NULL, OPT_RECONNECT },
		{ "write-limit", required_argument, NULL, OPT_WRITE_LIMIT },
		CLI_OPT_END
	};
	struct attach a = { .transport = "auto", .dead_conn_s = ATTACH_DEAD_CONN_S,
			    .write_limit = ATTACH_WRITE_LIMIT };
	pthread_t state_thr, watch_thr;
	bool watching = false, stated = false;
	int ready = -1, ret, sig;
	sigset_t set;

	ret = cli_parse_own(argc, argv, lopts, attach_usage, 1, "one SOURCE",
			    &a.o, attach_opt, &a);
	if (ret >= 0)
		return ret;
	if (cli_check_opts(&a.o))
		return ULO_EXIT_USAGE;
	if (!strcmp(a.transport, "auto"))
		a.transport = (a.device ? ulo_kmod_index_of(a.device) >= 0 :
			       a.o.cache && !a.read_write) &&
			      ulo_kmod_available() ? "kmod" : "nbd";
	if (!strcmp(a.transport, "kmod")) {
		if (!a.o.cache)
			return cli_usage_error("--transport kmod needs --cache: uloop.ko reads cached blocks from it (use nbd without a cache)");
		if (a.read_write)
			return cli_usage_error("--read-write: the kmod transport is read-only; use --transport nbd");
		if (a.device && ulo_kmod_index_of(a.device) < 0)
			return cli_usage_error("--device %s: the kmod transport serves /dev/uloopN",
					       a.device);
		if (!ulo_kmod_available()) {
			ulo_err(-ENODEV, "%s: missing: uloop.ko is not loaded and `modprobe uloop` failed",
				ULO_KMOD_CONTROL);
			return cli_fail();
		}
	}
	if (a.read_write && !strcmp(a.transport, "fuse"))
		return cli_usage_error("--read-write: the fuse transport is read-only; use nbd");
	if (strcmp(a.transport, "nbd") && strcmp(a.transport, "fuse") &&
	    strcmp(a.transport, "kmod"))
		return cli_usage_error("--transport: '%s' is not auto, nbd, fuse or kmod",
				       a.transport);

	if (!a.foreground) {
		ready = ulo_daemonize();
		if (ready < 0)
			return cli_fail();
	}
	/* A root disk's misses wait for a restarted daemon however long. */
	a.hold_ms = ulo_root_storage_daemon(cli_argv0, attach_warn) ?
		    ULOOP_HOLD_FOREVER : a.dead_conn_s * 1000;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	cli_source_defaults(&a.o);
	ulo_debug("attach", "opening %s", argv[optind]);
	ret = ulo_source_open(argv[optind], &a.o.src, &a.src);
	ulo_debug("attach", "source open: %d", ret);
	if (ret && a.o.offline && a.o.cache)
		ret = attach_offline(&a, argv[optind]);
	else if (!ret && a.o.cache) {
		struct ulo_cache_opts co = {
			.path = a.o.cache, .bitmap_path = a.o.bitmap,
			.block_size = a.o.block_size, .create = true, .wipe = a.o.wipe,
		};
		struct ulo_bind_info bi;

		ret = attach_cache_guard(&a);
		if (!ret)
			ret = ulo_cache_open(&co, &a.cache);
		if (!ret)
			ret = ulo_bind_source(a.cache, a.src, a.o.offline, &bi);
		if (!ret)
			cli_note_bound_cache(a.cache, a.src, &bi);
		if (!ret)
			ret = ulo_cache_start_committer(a.cache, 0);
		ulo_debug("attach", "cache open: %d", ret);
	}
	if (!ret)
		ret = ulo_engine_new(a.src, a.cache, &a.o.eng, &a.eng);
	if (!ret)
		ret = attach_start(&a);
	ulo_debug("attach", "device started: %d", ret);
	if (!ret) {
		/* The run state exists before anyone is told "ready": detach
		 * and status see the daemon from the first moment. */
		struct ulo_runstate rs = {
			.device = a.devpath, .transport = a.transport,
			.pid = getpid(), .src = a.src, .cache = a.cache,
			.eng = a.eng, .started = time(NULL),
			.read_write = a.read_write,
		};
		sigset_t pend;

		ret = ulo_runstate_write(&rs);
		/* A stop asked for while we started: do not say "ready". */
		if (!ret && !sigpending(&pend) &&
		    (sigismember(&pend, SIGTERM) || sigismember(&pend, SIGINT)))
			ret = ulo_err(-EINTR, "attach: stopped by a signal while starting");
	}
	if (ret) {
		ulo_daemon_fail(ready, ulo_errmsg());
		goto out;
	}
	if (!pthread_create(&state_thr, NULL, attach_state_thread, &a))
		stated = true;
	if ((a.nbd || a.kmod) &&
	    !pthread_create(&watch_thr, NULL, attach_watch_thread, &a))
		watching = true;
	ulo_daemon_ready(ready, a.devpath);
	/* From now on nobody reads our stderr: warnings go to the kernel log. */
	if (!a.foreground && ulo_warn_to_kmsg())
		ulo_debug("attach", "/dev/kmsg: %s", strerror(errno));
	/* -v keeps stderr for the daemon's life: where that is a file (the
	 * initramfs's attach.err, on a tmpfs) the debug output and curl's
	 * trace would grow it in RAM forever.  A daemon's debug output goes
	 * to the kernel log instead (a ring of fixed size, rate-limited),
	 * unless stderr is a terminal someone watches. */
	if (!a.foreground && !isatty(STDERR_FILENO))
		attach_stderr_to_kmsg();

	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		;	/* no configuration to reload */
	ret = 0;
out:
	a.state_stop = true;
	if (stated)
		pthread_join(state_thr, NULL);
	/* Disconnect, join the watcher (it waits on the device), then free. */
	if (a.nbd)
		ulo_nbd_shutdown(a.nbd, false);
	/* Still open: the device and its run state stay for a successor. */
	if (a.kmod && ulo_kmod_shutdown(a.kmod, false) == -EBUSY)
		a.devpath[0] = '\0';
	if (watching)
		pthread_join(watch_thr, NULL);
	ulo_nbd_free(a.nbd);
	ulo_fuse_stop(a.fuse);
	/* The engine's workers announce blocks through the kmod session. */
	ulo_engine_free(a.eng);
	ulo_kmod_free(a.kmod);
	if (a.cache && ulo_cache_close(a.cache))
		ulo_warn("%s", ulo_errmsg());
	ulo_source_close(a.src);
	if (a.devpath[0])
		ulo_runstate_remove(a.devpath);
	return ret ? ULO_EXIT_FAIL : ULO_EXIT_OK;
}
