// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_attach.c - uloop attach: serve an image as a block device (uloop.ko,
 * ublk or NBD) or a file (FUSE), through the cache, as a daemon.
 *
 * The command's part: the options, the daemon's life, and the order of
 * things.  Fork first (threads do not survive fork), then become a
 * root-storage daemon if we run from an initramfs (or, once the transport
 * has started, if it took over a root-storage daemon's device), block
 * the signals we wait for (before any thread exists, so every thread
 * inherits the mask), then open source, cache and engine, start the
 * transport, write the run state, and only then tell the parent
 * "ready": `uloop attach` returns when the device can be mounted (and
 * fails if SIGTERM came meanwhile).
 * The main thread then sleeps in sigwait(): SIGTERM/SIGINT detach
 * cleanly; SIGUSR1 comes from the transport when the device was ended
 * from outside (uloop detach, nbd-client -d, umount of a fuse file);
 * SIGUSR2 is `uloop sync`: commit the cache now, and write the boot
 * profile recorded so far (`uloop profile`) with the run state
 * (attach_sync).  A boot profile given is replayed, and the image
 * hydrated, by fill.c.
 * Which transport, takeovers and the caches a dead uloop.ko device still
 * reads are transport.c's; --offline's fallback is offline.c's.
 */
#include <errno.h>
#include <limits.h>
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
#include "fill.h"
#include "update.h"
#include "offline.h"
#include "runstate.h"
#include "transport.h"
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
	      "  --block-size N      block size of a new cache (4K..1M, default 4K)\n"
	      CLI_HELP_FORMAT
	      "  --device DEV        /dev/nbdN (nbd), /dev/uloopN (kmod), /dev/ublkbN\n"
	      "                      (ublk), or a file to serve (fuse); a device whose\n"
	      "                      daemon died is taken over\n"
	      "  --transport T       auto (default: kmod with a cache if uloop.ko loads,\n"
	      "                      else ublk if the kernel has it, else nbd), kmod,\n"
	      "                      ublk, nbd, fuse\n"
	      "  --connections N     parallel requests and nbd connections (default 4)\n"
	      "  --readahead N       readahead limit (default 1M)\n"
	      "  --profile FILE|URL  a boot profile (uloop profile): fetch its blocks\n"
	      "                      first, in the order the boot reads them\n"
	      "  --hydrate[=RATE[,jitter=SECS]]  then fetch the rest of the image in the\n"
	      "                      background, at most RATE bytes/s (default: no\n"
	      "                      limit), starting after a random 0..SECS\n"
	      "  --reconnect-timeout SECS  how long the kernel keeps I/O waiting for a\n"
	      "                      restarted daemon (default 120)\n"
	      "  --foreground        do not daemonise\n"
	      "  --read-write        accept writes: kept in memory for the daemon's life,\n"
	      "                      never written to the cache or the source\n"
	      "  --write-limit N     memory for those writes (default 256M)\n"
	      "  --cow FILE          accept writes and keep them in FILE, a UML COW\n"
	      "                      file (made if missing or empty), across reboots;\n"
	      "                      a stack of them if FILE was made over another\n"
	      "                      (uloop snapshot); nbd, ublk or fuse\n"
	      "  --offline           keep (do not drop) a cache of another image\n"
	      "  --wipe              allow overwriting a file/device that is not a cache\n"
	      "  -v, --verbose       debug output\n"
	      CLI_HELP_SOURCE_NET, f);
}

enum { OPT_DEVICE = 400, OPT_TRANSPORT, OPT_FOREGROUND, OPT_READ_WRITE,
       OPT_RECONNECT, OPT_WRITE_LIMIT, OPT_PROFILE, OPT_HYDRATE, OPT_COW };

#define ATTACH_WRITE_LIMIT (256ull << 20)

struct attach {
	struct cli_opts o;
	struct ulo_transport_opts to;
	struct ulo_source *src;
	struct ulo_cache *cache;
	struct ulo_engine *eng;
	struct ulo_transport *tr;
	const char *cow_path;	/* --cow */
	struct ulo_cow *cow;
	bool write_limit_given;
	struct ulo_fill_opts fo;
	struct ulo_fill *fill;
	struct ulo_runstate rs;	/* what the state files say */
	bool foreground;
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

	/* The first write happened before "ready". */
	for (;;) {
		for (int i = 0; i < 10 && !a->state_stop; i++)
			usleep(100000);
		if (a->state_stop)
			break;
		if (ulo_runstate_write(&a->rs))
			ulo_debug("attach", "%s", ulo_errmsg());
	}
	return NULL;
}

/*
 * The COW's part of a sync: a snapshot asked for (`uloop snapshot`:
 * runstate.h) starts a new top at a flush barrier; else a flush.
 */
static int attach_snapshot(struct attach *a)
{
	char path[4096];
	int ret, rootfd;

	if (!ulo_runstate_take_snapshot(a->devpath, path, sizeof(path), &rootfd))
		return ulo_cow_flush(a->cow);
	ret = ulo_cow_snapshot(a->cow, path, rootfd);
	if (rootfd >= 0)
		close(rootfd);
	if (ret)
		ulo_warn("%s: snapshot: %s", a->devpath, ulo_errmsg());
	else
		attach_warn(path);
	return ret;
}

/* The COW stack's image: the engine's bytes. */
static int attach_cow_base(void *ctx, void *buf, uint64_t off, size_t len)
{
	return ulo_engine_read(ctx, buf, off, len);
}

/*
 * `uloop sync` and `uloop profile` (SIGUSR2): commit what the cache holds
 * now, rather than at the committer's next turn, write the boot profile
 * recorded so far, and say so in the run state at once, its counters
 * fresh (a shutdown and the boot's figures wait for it; runstate.h).
 */
static void attach_sync(struct attach *a)
{
	int ret = a->cow ? attach_snapshot(a) : 0;
	struct ulo_profile p;

	if (!ret && a->cache)
		ret = ulo_cache_commit(a->cache);
	ulo_runstate_synced(ret, ret ? ulo_errmsg() : "");
	if (!ulo_engine_profile(a->eng, &p) &&
	    ulo_runstate_write_profile(a->devpath, &p))
		ulo_warn("%s: boot profile: %s", a->devpath, ulo_errmsg());
	ulo_profile_free(&p);
	if (ulo_runstate_write(&a->rs))
		ulo_debug("attach", "%s", ulo_errmsg());
}

/* --offline: the server's one quick chance (see attach_open()). */
#define ATTACH_OFFLINE_PROBE_S 5

/* Serve @url from the cache alone; the reason the server could not be
 * used is the message recorded by the failed open. */
static int attach_offline(struct attach *a, const char *url)
{
	struct ulo_cache_opts co = { .path = a->o.cache, .bitmap_path = a->o.bitmap };
	char why[1024];
	int ret;

	snprintf(why, sizeof(why), "%s", ulo_errmsg());
	ret = ulo_open_offline(&co, url, why, a->o.src.root_hash, &a->cache, &a->src);
	if (!ret)
		attach_warn("server unreachable: serving the cached image offline");
	return ret;
}

/*
 * Open the image's source and bind the cache to it.  With --offline and a
 * cache, the server first gets one quick try (ATTACH_OFFLINE_PROBE_S
 * seconds, one retry; --timeout or --retries given keep theirs): a full
 * cache serves without it, and a boot with the server down or no network
 * at all otherwise waited out the default deadline's retries for nothing
 * (17 s of a 21 s boot in bench/boot.sh's offline row).  A server that
 * answers is opened again with the usual deadlines, which the daemon
 * keeps for its life; a cache that cannot serve offline gives the server
 * its full deadline after all.
 */
static int attach_open(struct attach *a, const char *url)
{
	bool quick = a->o.offline && a->o.cache && !a->o.src.timeout_s &&
		     !a->o.src.retries;
	struct ulo_source_opts qo = a->o.src;
	int ret;

	qo.timeout_s = ATTACH_OFFLINE_PROBE_S;
	qo.retries = 1;
	ret = ulo_source_open(url, quick ? &qo : &a->o.src, &a->src);
	if (!ret && quick) {
		ulo_source_close(a->src);
		a->src = NULL;
		ret = ulo_source_open(url, &a->o.src, &a->src);
	}
	if (ret && a->o.offline && a->o.cache) {
		ret = attach_offline(a, url);
		if (ret && quick) {
			ulo_debug("attach", "not servable offline (%s): the server's full deadline",
				  ulo_errmsg());
			ret = ulo_source_open(url, &a->o.src, &a->src);
			if (ret)
				return attach_offline(a, url);
		}
		if (ret || a->cache)
			return ret;
	}
	if (ret || !a->o.cache)
		return ret;
	ret = ulo_transport_guard_cache(&a->to, a->src);
	if (!ret)
		ret = cli_bind_cache(&a->o, a->src, &a->cache);
	return ret;
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

/* The device was ended from outside: wake the main thread. */
static void attach_gone(void *ctx)
{
	(void)ctx;
	kill(getpid(), SIGUSR1);
}

static int attach_opt(int opt, const char *arg, void *ctx)
{
	struct attach *a = ctx;
	char *end;
	long s;

	switch (opt) {
	case OPT_DEVICE:
		a->to.device = arg;
		return 1;
	case OPT_TRANSPORT:
		a->to.kind = arg;
		return 1;
	case OPT_FOREGROUND:
		a->foreground = true;
		return 1;
	case OPT_READ_WRITE:
		a->to.read_write = true;
		return 1;
	case OPT_PROFILE:
		a->fo.profile = arg;
		return 1;
	case OPT_HYDRATE:
		a->fo.hydrate = true;
		if (ulo_parse_hydrate(arg, &a->fo.rate, &a->fo.jitter_s)) {
			cli_usage_error("--hydrate: invalid value '%s' (RATE[,jitter=SECONDS], RATE a size per second, 0 or max for no limit)",
					arg);
			exit(ULO_EXIT_USAGE);
		}
		return 1;
	case OPT_COW:
		a->cow_path = arg;
		a->to.read_write = true;
		return 1;
	case OPT_WRITE_LIMIT:
		a->write_limit_given = true;
		if (ulo_parse_size(arg, &a->to.write_limit) || a->to.write_limit < 4096) {
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
		a->to.dead_conn_s = s;
		return 1;
	}
	return 0;
}

int cmd_attach(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_CACHE, CLI_OPT_BITMAP, CLI_OPT_BLOCK_SIZE, CLI_OPT_FORMAT,
		CLI_OPT_CONNECTIONS, CLI_OPT_READAHEAD, CLI_OPT_OFFLINE,
		CLI_OPT_WIPE, CLI_OPT_HELP, CLI_OPT_VERBOSE, CLI_OPT_SOURCE_NET,
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "foreground", no_argument, NULL, OPT_FOREGROUND },
		{ "read-write", no_argument, NULL, OPT_READ_WRITE },
		{ "reconnect-timeout", required_argument, NULL, OPT_RECONNECT },
		{ "write-limit", required_argument, NULL, OPT_WRITE_LIMIT },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "hydrate", optional_argument, NULL, OPT_HYDRATE },
		{ "cow", required_argument, NULL, OPT_COW },
		CLI_OPT_END
	};
	struct attach a = {
		.to = { .kind = "auto", .dead_conn_s = ATTACH_DEAD_CONN_S,
			.write_limit = ATTACH_WRITE_LIMIT },
	};
	pthread_t state_thr;
	uint64_t present0 = 0;
	bool stated = false;
	int ready = -1, ret, sig;
	sigset_t set;

	ret = cli_parse_own(argc, argv, lopts, attach_usage, 1, "one SOURCE",
			    &a.o, attach_opt, &a);
	if (ret >= 0)
		return ret;
	if (cli_check_opts(&a.o))
		return ULO_EXIT_USAGE;
	if ((a.fo.profile || a.fo.hydrate) && !a.o.cache)
		return cli_usage_error("%s needs a cache (--cache): what it fetches is kept there",
				       a.fo.profile ? "--profile" : "--hydrate");
	if (a.cow_path && a.write_limit_given)
		return cli_usage_error("--write-limit and --cow: writes are kept in the COW file, not in memory");
	if (a.cow_path && a.o.offline)
		return cli_usage_error("--cow and --offline: a COW needs its image's identity, which an offline start cannot check");
	if ((a.fo.profile || a.fo.hydrate) && a.o.offline)
		return cli_usage_error("%s and --offline: an offline image fetches nothing",
				       a.fo.profile ? "--profile" : "--hydrate");
	/* The daemon records the boot profile (uloop profile), and a
	 * replay or hydration never takes the worker a boot's read needs. */
	a.o.eng.record_profile = true;
	a.o.eng.demand_reserve = true;
	a.to.cache = a.o.cache;
	/* uloop.ko reads the dense layout itself: not a compact cache. */
	a.to.compact = a.o.cache && !a.o.bitmap &&
		(a.o.format == ULO_FMT_COMPACT || a.o.cache_size ||
		 ulo_cache_path_is_compact(a.o.cache));
	a.to.connections = a.o.eng.connections;
	a.to.source_timeout_s = a.o.src.timeout_s;
	ret = ulo_transport_choose(&a.to);
	if (ret == -EINVAL)
		return cli_usage_error("%s", ulo_errmsg());
	if (ret)
		return cli_fail();

	/* The daemon works from "/": the files named relative to here are
	 * resolved now (the cache's may not exist yet). */
	{
		const char *src = argv[optind];
		const char **rel[] = { &a.o.cache, &a.o.bitmap, &a.cow_path, &a.to.device, &src };
		static char abs[5][PATH_MAX];

		/* A source is a file unless it is a URL (scheme://). */
		if (strstr(src, "://"))
			src = NULL;
		for (unsigned i = 0; i < 5; i++) {
			if (!*rel[i] || **rel[i] == '/')
				continue;
			ret = ulo_abs_path(*rel[i], abs[i], sizeof(abs[i]));
			if (ret) {
				ulo_errno(ret, "%s", *rel[i]);
				return cli_fail();
			}
			*rel[i] = abs[i];
		}
		a.to.cache = a.o.cache;
		if (src)
			argv[optind] = (char *)src;
	}
	if (!a.foreground) {
		ready = ulo_daemonize();
		if (ready < 0)
			return cli_fail();
	}
	/* A root disk's misses wait for a restarted daemon however long. */
	a.to.hold_forever = ulo_root_storage_daemon(cli_argv0, attach_warn);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ulo_runstate_sync_enable();

	cli_source_defaults(&a.o);
	ulo_debug("attach", "opening %s", argv[optind]);
	ret = attach_open(&a, argv[optind]);
	ulo_debug("attach", "source and cache open: %d", ret);
	if (!ret)
		ret = ulo_engine_new(a.src, a.cache, &a.o.eng, &a.eng);
	if (!ret && a.cow_path) {
		struct ulo_cow_opts wo = {
			.path = a.cow_path, .base = &a.src->id,
			.base_differed = a.src->differed,
			.base_differed_off = a.src->differed_off,
			.base_read = attach_cow_base, .base_ctx = a.eng,
			.pending_dir = ULO_RUNDIR,
		};

		ret = ulo_cow_open(&wo, &a.cow);
		a.to.cow = a.cow;
		/* "cow FILE: why", as a refused cache says "cache FILE: why":
		 * the boot library tells a refused COW (another image's, a
		 * file of other data) from a failed boot by that word, and
		 * boots without it rather than not at all. */
		if (ret) {
			char why[sizeof(a.devpath)];

			snprintf(why, sizeof(why), "%s", ulo_errmsg());
			ret = ulo_err(ret, "cow %s", why);
		}
	}
	if (!ret)
		ret = ulo_transport_start(&a.to, a.eng, a.cache, a.src, attach_gone, NULL, &a.tr);
	if (a.tr)
		snprintf(a.devpath, sizeof(a.devpath), "%s", ulo_transport_path(a.tr));
	/* The successor of a root-disk daemon serves the root as it did,
	 * wherever the supervisor started it (the real root has no
	 * /etc/initrd-release): locked, never the OOM killer's pick, and
	 * its own successor told so by the run state. */
	if (!ret && !a.to.hold_forever && ulo_transport_root_storage(a.tr)) {
		ulo_root_storage_apply(cli_argv0, attach_warn);
		a.to.hold_forever = true;
	}
	ulo_debug("attach", "device started: %d", ret);
	if (!ret && a.cache)
		present0 = ulo_cache_count(a.cache);
	if (!ret && a.cache && !a.o.offline) {
		/* Replay and hydration start with the device: the boot's
		 * first reads find the profile's fetches under way. */
		a.fo.src_opts = &a.o.src;
		a.fo.note = attach_warn;
		a.fo.seed_src = a.src;	/* an update's older version, if any */
		a.fo.apply_pack = ulo_update_apply_pack;
		ret = ulo_fill_start(a.eng, a.cache, &a.src->id, &a.fo, &a.fill);
	}
	/* Too few descriptors is an error now, never fetches silently
	 * retried for want of a socket.  Spare: a resolver's socket, the
	 * run state's rewrite, a profile's, and /proc (held with the run
	 * state's directory from its first write on: runstate.c). */
	if (!ret)
		ret = cli_reserve_fds(&a.o, a.src, 4);
	if (!ret) {
		/* The run state exists before anyone is told "ready": detach
		 * and status see the daemon from the first moment. */
		sigset_t pend;

		a.rs = (struct ulo_runstate){
			.device = a.devpath, .transport = a.to.kind,
			.pid = getpid(), .src = a.src, .cache = a.cache,
			.cow = a.cow,
			.eng = a.eng, .started = time(NULL),
			.read_write = a.to.read_write,
			.root_storage = a.to.hold_forever,
			.present_at_start = present0, .fill = a.fill,
			.profile_source = a.fo.profile,
		};
		ret = ulo_runstate_write(&a.rs);
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

	/* SIGHUP: no configuration to reload. */
	while (sigwait(&set, &sig) == 0 && (sig == SIGHUP || sig == SIGUSR2))
		if (sig == SIGUSR2)
			attach_sync(&a);
	ret = 0;
out:
	a.state_stop = true;
	if (stated)
		pthread_join(state_thr, NULL);
	/* Before the engine goes: the fill queues its fetches. */
	ulo_fill_stop(a.fill);
	/* A device still open stays, with its run state, for a successor. */
	if (ulo_transport_stop(a.tr) > 0)
		a.devpath[0] = '\0';
	/* After the transport's stop (its threads use the engine), before
	 * its free (uloop.ko's session carries the engine's stores). */
	ulo_engine_free(a.eng);
	ulo_transport_free(a.tr);
	/* After the transport, whose writes it takes: the last flush. */
	ulo_cow_free(a.cow);
	if (a.cache && ulo_cache_close(a.cache))
		ulo_warn("%s", ulo_errmsg());
	ulo_source_close(a.src);
	if (a.devpath[0])
		ulo_runstate_remove(a.devpath);
	return ret ? ULO_EXIT_FAIL : ULO_EXIT_OK;
}
