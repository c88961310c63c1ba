// SPDX-License-Identifier: GPL-2.0-or-later
/* cli.c - helpers shared by the uloop commands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_client.h"
#include "seed.h"
#include "sign.h"
#include "update.h"
#include "util.h"

const char *cli_cmd = "uloop";
char *cli_argv0;

void cli_opts_init(struct cli_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->eng.connections = ULO_DEFAULT_CONNECTIONS;
	o->eng.readahead = ULO_DEFAULT_READAHEAD;
	o->progress = -1;
}

int cli_parse(int argc, char **argv, const struct option *lopts,
	      void (*usage)(FILE *f), int nargs, const char *what,
	      struct cli_opts *o)
{
	return cli_parse_own(argc, argv, lopts, usage, nargs, what, o, NULL, NULL);
}

int cli_parse_own(int argc, char **argv, const struct option *lopts,
		  void (*usage)(FILE *f), int nargs, const char *what,
		  struct cli_opts *o,
		  int (*own)(int opt, const char *arg, void *ctx), void *ctx)
{
	int opt;

	cli_opts_init(o);
	opterr = 0;	/* our messages, not getopt's */
	while ((opt = getopt_long(argc, argv, ":hv", lopts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return ULO_EXIT_OK;
		}
		if (opt == ':')
			return cli_usage_error("%s needs a value", argv[optind - 1]);
		if (opt == '?' || (!cli_common_opt(opt, optarg, o) &&
				   !(own && own(opt, optarg, ctx))))
			return cli_usage_error("unknown option '%s'", argv[optind - 1]);
	}
	if (nargs >= 0 ? argc - optind != nargs : argc - optind > -nargs)
		return cli_usage_error("expected %s, got %d arguments", what,
				       argc - optind);
	return -1;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "uloop: %s: ", cli_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'uloop %s --help'.\n", cli_cmd);
	return ULO_EXIT_USAGE;
}

int cli_fail(void)
{
	fprintf(stderr, "uloop: %s\n", ulo_errmsg());
	return ULO_EXIT_FAIL;
}

void cli_note(const char *fmt, ...)
{
	va_list ap;

	fputs("uloop: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t cli_size(const char *name, const char *arg, uint64_t min,
			 uint64_t max)
{
	uint64_t v;

	if (ulo_parse_size(arg, &v) || v < min || v > max) {
		cli_usage_error("--%s: invalid value '%s' (want %" PRIu64 "..%" PRIu64
				", suffixes K, M, G allowed)", name, arg, min, max);
		exit(ULO_EXIT_USAGE);
	}
	return v;
}

int cli_common_opt(int opt, const char *arg, struct cli_opts *o)
{
	switch (opt) {
	case OPT_CACHE:
		o->cache = arg;
		return 1;
	case OPT_BITMAP:
		o->bitmap = arg;
		return 1;
	case OPT_SOURCE:
		o->source = arg;
		return 1;
	case OPT_BLOCK_SIZE:
		o->block_size = cli_size("block-size", arg, 4096, 1 << 20);
		if (o->block_size & (o->block_size - 1)) {
			cli_usage_error("--block-size: %s is not a power of two", arg);
			exit(ULO_EXIT_USAGE);
		}
		return 1;
	case OPT_FORMAT: {
		/* One row per format (the cache's file picks its own format
		 * by its magic; this one is for a new cache). */
		static const struct {
			const char *name;
			enum ulo_cache_format fmt;	/* ULO_FMT_ANY: 2007 */
		} fmts[] = {
			{ "native", ULO_FMT_NATIVE },
			{ "compact", ULO_FMT_COMPACT },
			{ "2007", ULO_FMT_ANY },
			{ "uml-cow", ULO_FMT_UMLCOW },
		};
		size_t i;

		for (i = 0; i < ULO_ARRAY_SIZE(fmts) && strcmp(arg, fmts[i].name); i++)
			;
		if (i == ULO_ARRAY_SIZE(fmts)) {
			cli_usage_error("--format: '%s' is not native, compact, 2007 or uml-cow", arg);
			exit(ULO_EXIT_USAGE);
		}
		o->format = fmts[i].fmt;
		o->format_2007 = !strcmp(arg, "2007");
		return 1;
	}
	case OPT_CACHE_SIZE:
		/* The least a compact layout takes: header, index and a slot. */
		o->cache_size = cli_size("cache-size", arg, 128 * 1024, UINT64_MAX);
		return 1;
	case OPT_CONNECTIONS:
		o->eng.connections = cli_size("connections", arg, 1,
					      ULO_MAX_CONNECTIONS);
		o->src.connections = o->eng.connections;
		return 1;
	case OPT_READAHEAD:
		o->eng.readahead = cli_size("readahead", arg, 0, 256ull << 20);
		return 1;
	case OPT_RATE:
		o->eng.rate = cli_size("rate", arg, 4096, UINT64_MAX);
		return 1;
	case OPT_OFFLINE:
		o->offline = true;
		return 1;
	case OPT_IGNORE_IDENTITY:
		o->ignore_identity = true;
		return 1;
	case OPT_WIPE:
		o->wipe = true;
		return 1;
	case OPT_SEED:
		o->stage = true;
		return 1;
	case OPT_JSON:
		o->json = true;
		return 1;
	case OPT_PROGRESS:
		o->progress = 1;
		return 1;
	case OPT_NO_PROGRESS:
		o->progress = 0;
		return 1;
	case OPT_OFFSET:
		o->offset = cli_size("offset", arg, 0, UINT64_MAX);
		return 1;
	case OPT_LENGTH:
		o->length = cli_size("length", arg, 0, UINT64_MAX);
		o->have_length = true;
		return 1;
	case OPT_CA:
		o->src.ca_file = arg;
		return 1;
	case OPT_PIN:
		if (strncmp(arg, "sha256//", 8) || !arg[8] || strchr(arg, ';') ||
		    strlen(o->pins) + strlen(arg) + 2 > sizeof(o->pins)) {
			cli_usage_error("--pin: '%s' is not one sha256//BASE64 pin", arg);
			exit(ULO_EXIT_USAGE);
		}
		if (o->pins[0])
			strcat(o->pins, ";");
		strcat(o->pins, arg);
		o->src.pins = o->pins;
		return 1;
	case OPT_CERT:
		o->src.cert = arg;
		return 1;
	case OPT_KEY:
		o->src.key = arg;
		return 1;
	case OPT_INSECURE:
		o->src.insecure = true;
		return 1;
	case OPT_TIMEOUT:
		o->src.timeout_s = cli_size("timeout", arg, 1, 86400);
		return 1;
	case OPT_RETRIES:
		o->src.retries = cli_size("retries", arg, 0, 1000);
		/* 0 means "default" to the library: ask for none explicitly. */
		if (!o->src.retries)
			o->src.retries = UINT_MAX;
		return 1;
	case OPT_MIRROR:
		if (o->src.nmirrors == ULO_MAX_MIRRORS) {
			cli_usage_error("--mirror: at most %d mirrors", ULO_MAX_MIRRORS);
			exit(ULO_EXIT_USAGE);
		}
		o->src.mirrors[o->src.nmirrors++] = arg;
		return 1;
	case OPT_PROXY:
		o->src.proxy = arg;
		return 1;
	case OPT_ALLOW_HTTP_REDIRECT:
		o->src.allow_downgrade = true;
		return 1;
	case OPT_ROOT_HASH:
		if (strlen(arg) != 64 || strspn(arg, "0123456789abcdefABCDEF") != 64) {
			cli_usage_error("--root-hash: '%s' is not 64 hex digits (a SHA-256)", arg);
			exit(ULO_EXIT_USAGE);
		}
		o->src.root_hash = arg;
		return 1;
	case OPT_VERITY_KEY:
		o->src.verity_key = arg;
		return 1;
	case 'v':
		ulo_debug_enable("all");
		o->src.verbose = true;
		return 1;
	}
	return 0;
}

int cli_check_opts(const struct cli_opts *o)
{
	if (o->bitmap && o->block_size && o->block_size != ULO_2007_PAGE)
		return cli_usage_error("--bitmap: the 2007 layout uses 4K blocks, not --block-size %" PRIu64,
				       o->block_size);
	if (o->bitmap && !o->cache)
		return cli_usage_error("--bitmap needs --cache");
	if (o->format_2007 && !o->bitmap)
		return cli_usage_error("--format 2007 needs --bitmap FILE (its bitmap file)");
	if (o->bitmap && (o->format == ULO_FMT_COMPACT || o->cache_size))
		return cli_usage_error("--bitmap (the 2007 layout) and %s: a cache has one format",
				       o->cache_size ? "--cache-size" : "--format compact");
	if ((o->format == ULO_FMT_NATIVE || o->format == ULO_FMT_UMLCOW) && o->cache_size)
		return cli_usage_error("--cache-size needs a compact cache, not --format %s",
				       o->format == ULO_FMT_NATIVE ? "native" : "uml-cow");
	if (o->bitmap && o->format == ULO_FMT_UMLCOW)
		return cli_usage_error("--bitmap (the 2007 layout) and --format uml-cow: a cache has one format");
	if ((o->format || o->cache_size) && !o->cache)
		return cli_usage_error("%s needs --cache", o->cache_size ? "--cache-size" : "--format");
	if (o->bitmap && o->cache) {
		struct stat a, b;

		if (!strcmp(o->bitmap, o->cache) ||
		    (!stat(o->bitmap, &a) && !stat(o->cache, &b) &&
		     a.st_dev == b.st_dev && a.st_ino == b.st_ino))
			return cli_usage_error("--cache and --bitmap name the same file");
	}
	return 0;
}

static pthread_t cli_sig_thread;
static bool cli_sig_running;
static int cli_sig_got;
static sigset_t cli_sig_set;

static void *cli_sig_main(void *arg)
{
	int sig;

	if (sigwait(&cli_sig_set, &sig) == 0 && sig != SIGUSR2) {
		__atomic_store_n(&cli_sig_got, sig, __ATOMIC_RELEASE);
		ulo_engine_cancel(arg);
	}
	return NULL;
}

void cli_block_signals(void)
{
	sigemptyset(&cli_sig_set);
	sigaddset(&cli_sig_set, SIGINT);
	sigaddset(&cli_sig_set, SIGTERM);
	sigaddset(&cli_sig_set, SIGUSR2);	/* cli_signals_done() */
	pthread_sigmask(SIG_BLOCK, &cli_sig_set, NULL);
}

int cli_cancel_on_signals(struct ulo_engine *e)
{
	int ret;

	ret = pthread_create(&cli_sig_thread, NULL, cli_sig_main, e);
	if (ret)
		return ulo_errno(-ret, "starting the signal thread");
	cli_sig_running = true;
	return 0;
}

void cli_signals_done(void)
{
	if (!cli_sig_running)
		return;
	pthread_kill(cli_sig_thread, SIGUSR2);
	pthread_join(cli_sig_thread, NULL);
	cli_sig_running = false;
}

int cli_signal_received(void)
{
	return __atomic_load_n(&cli_sig_got, __ATOMIC_ACQUIRE);
}

static void cli_notice(const char *msg)
{
	cli_note("%s", msg);
}

void cli_source_defaults(struct cli_opts *o)
{
	if (!o->src.ca_file && access(ULO_DEFAULT_CA, R_OK) == 0)
		o->src.ca_file = ULO_DEFAULT_CA;
	if (!o->src.connections)
		o->src.connections = o->eng.connections;
	/* The source's notes (a mirror not used, an ETag ignored) are the
	 * user's to read, on the command's stderr. */
	o->src.notice = cli_notice;
	/* A manifest's signature: checked with mbedTLS (sign.c); the key
	 * packed into an initramfs is the default for manifests. */
	o->src.sig_verify = ulo_sig_verify;
	o->src.default_verity_key = ULO_DEFAULT_VERITY_KEY;
}

int cli_open_source(struct cli_opts *o, const char *location,
		    struct ulo_source **out)
{
	cli_source_defaults(o);
	return ulo_source_open(location, &o->src, out) ? cli_fail() : 0;
}

void cli_note_bound_cache(struct ulo_cache *c, const struct ulo_source *src,
			  const struct ulo_bind_info *bi)
{
	uint64_t short_by;

	if (bi->rec.ran && !bi->rec.bad)
		cli_note("cache %s: not closed cleanly (generation %" PRIu64 "); the %" PRIu64
			 " blocks of its last commit match their checksums",
			 ulo_cache_path(c), bi->rec.generation, bi->rec.checked);
	else if (bi->rec.ran)
		cli_note("cache %s: not closed cleanly (generation %" PRIu64 "); %" PRIu64 " of the %" PRIu64
			 " blocks of its last commit did not match their checksums and are fetched again (the first: %s)",
			 ulo_cache_path(c), bi->rec.generation, bi->rec.bad, bi->rec.checked,
			 bi->rec.first);
	if (bi->res == ULO_BIND_DROPPED)
		cli_note("cache %s: held another image; dropped its %" PRIu64
			 " blocks, now caching %s", ulo_cache_path(c), bi->dropped,
			 src->id.location);
	else if (bi->res == ULO_BIND_DIFFERED)
		cli_note("cache %s: %s has the same size and %s as the cached image but other bytes at offset %" PRIu64
			 " (replaced with its timestamp kept?); dropped its %" PRIu64 " blocks",
			 ulo_cache_path(c), src->id.location,
			 ulo_id_kind_name(src->id.kind), bi->differ_off, bi->dropped);
	else if (bi->res == ULO_BIND_UPGRADED)
		cli_note("cache %s: format 1 (no checksums) laid out anew in format 2; its %" PRIu64
			 " blocks are fetched again", ulo_cache_path(c), bi->dropped);
	else if (bi->res == ULO_BIND_ADOPTED)
		cli_note("cache %s: 2007 cache without a recorded image; adopted for %s",
			 ulo_cache_path(c), src->id.location);
	/* A cache that cannot hold the image still serves: say so at once. */
	if (ulo_cache_shortfall(c, &short_by))
		cli_note("%s", ulo_errmsg());
	else if (short_by)
		cli_note("cache %s: its filesystem is %" PRIu64 " MiB short of holding "
			 "the rest of the image; what does not fit is fetched from the "
			 "source each time", ulo_cache_path(c),
			 ULO_DIV_ROUND_UP(short_by, 1 << 20));
}

void cli_close_serving_cache(struct ulo_cache *c)
{
	if (c && ulo_cache_close(c))
		cli_note("%s", ulo_errmsg());
}

int cli_bind_cache(const struct cli_opts *o, struct ulo_source *src,
		   struct ulo_cache **out)
{
	struct ulo_cache_opts co = {
		.path = o->cache, .bitmap_path = o->bitmap,
		.block_size = o->block_size, .create = true, .wipe = o->wipe,
		.format = o->format, .size_limit = o->cache_size,
	};
	struct ulo_update up = { 0 };
	struct ulo_bind_info bi;
	struct ulo_cache *c;
	char why[1024];
	int ret;

	/* A new version of a manifest: what the flash holds of an older one
	 * becomes its seed (update.h), instead of being dropped. */
	up.lock_fd = -1;
	if (!o->offline && !o->bitmap && !o->stage) {
		ret = ulo_update_prepare(o->cache, src, &up);
		if (ret) {
			ulo_update_done(&up);
			return ret;
		}
		if (up.note[0])
			cli_note("cache %s: %s", o->cache, up.note);
	}
	/* Let go just before the cache takes its own lock (flock locks of two
	 * opens of one file exclude each other, even in one process). */
	ulo_update_done(&up);
	ret = ulo_cache_open(&co, &c);
	if (ret) {
		ulo_seed_close(up.seed, false);
		return ret;
	}
	ret = ulo_bind_source(c, src, o->offline, &bi);
	if (!ret) {
		cli_note_bound_cache(c, src, &bi);
		ret = ulo_cache_start_committer(c, 0);
	}
	if (up.seed && ret)
		ulo_seed_close(up.seed, false);
	else if (up.seed && ulo_source_set_seed(src, up.seed))
		cli_note("cache %s: no update from the version on the flash: %s", o->cache,
			 ulo_errmsg());
	if (ret) {
		/* The cause, not what closing the cache may add to it. */
		snprintf(why, sizeof(why), "%s", ulo_errmsg());
		ulo_cache_close(c);
		return ulo_err(ret, "%s", why);
	}
	*out = c;
	return 0;
}

int cli_open_bound_cache(const struct cli_opts *o, struct ulo_source *src,
			 struct ulo_cache **out)
{
	return cli_bind_cache(o, src, out) ? cli_fail() : 0;
}

int cli_start_cache_cmd(int argc, char **argv, const struct option *lopts,
			void (*usage)(FILE *f), struct cli_opts *o,
			struct ulo_cache **out)
{
	int ret = cli_parse(argc, argv, lopts, usage, 1, "one CACHE", o);

	if (ret >= 0)
		return ret;
	o->cache = argv[optind];
	if (cli_check_opts(o))
		return ULO_EXIT_USAGE;
	return cli_open_cache_ro(o, out) ? ULO_EXIT_FAIL : -1;
}

int cli_open_cache_ro(const struct cli_opts *o, struct ulo_cache **out)
{
	struct ulo_cache_opts co = {
		.path = o->cache, .bitmap_path = o->bitmap, .readonly = true,
	};

	return ulo_cache_open(&co, out) ? cli_fail() : 0;
}

int cli_reserve_fds(const struct cli_opts *o, const struct ulo_source *src,
		    unsigned spare)
{
	unsigned c = o->eng.connections;
	unsigned more = spare;
	char why[96];

	if (strstr(src->id.location, "://"))
		more += ulo_http_socket_bound(c, 1 + o->src.nmirrors);
	snprintf(why, sizeof(why), "%u source connections and %u spare", c, spare);
	return ulo_fd_reserve(more, why);
}
