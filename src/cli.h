/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cli.h - what the uloop commands share: option parsing, opening a source
 * and a bound cache, and the exit-status convention (0 ok, 1 failure,
 * 2 bad usage).  Only commands print and choose exit codes.
 */
#ifndef ULOOP_CLI_H
#define ULOOP_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bind.h"
#include "cache.h"
#include "engine.h"
#include "source.h"

#define ULO_EXIT_OK 0
#define ULO_EXIT_FAIL 1
#define ULO_EXIT_USAGE 2

/* Long-only option ids (short options use their character). */
enum {
	OPT_CACHE = 256, OPT_BITMAP, OPT_BLOCK_SIZE, OPT_CONNECTIONS,
	OPT_READAHEAD, OPT_RATE, OPT_PROGRESS, OPT_JSON, OPT_OFFLINE,
	OPT_WIPE, OPT_SOURCE, OPT_OFFSET, OPT_LENGTH, OPT_HELP, OPT_VERBOSE,
	OPT_NO_PROGRESS, OPT_CA, OPT_PIN, OPT_CERT, OPT_KEY, OPT_INSECURE,
	OPT_TIMEOUT, OPT_RETRIES, OPT_MIRROR, OPT_PROXY, OPT_ALLOW_HTTP_REDIRECT,
	OPT_STATS, OPT_IGNORE_IDENTITY, OPT_ROOT_HASH, OPT_VERITY_KEY, OPT_SEED,
	OPT_FORMAT, OPT_CACHE_SIZE,
};

/* Trust anchors used when --ca is not given (uloop-mkinitramfs puts the
 * CA bundle it is given here); nothing else is ever trusted implicitly. */
#define ULO_DEFAULT_CA "/etc/uloop/ca.pem"
/* The key a manifest's signature must verify with when --verity-key is not
 * given (uloop-mkinitramfs --verity-key puts it here). */
#define ULO_DEFAULT_VERITY_KEY "/etc/uloop/verity.pub"

/* The options of every command that reads a SOURCE over the network. */
#define CLI_OPT_SOURCE_NET \
	{ "ca", required_argument, NULL, OPT_CA }, \
	{ "pin", required_argument, NULL, OPT_PIN }, \
	{ "cert", required_argument, NULL, OPT_CERT }, \
	{ "key", required_argument, NULL, OPT_KEY }, \
	{ "insecure", no_argument, NULL, OPT_INSECURE }, \
	{ "timeout", required_argument, NULL, OPT_TIMEOUT }, \
	{ "retries", required_argument, NULL, OPT_RETRIES }, \
	{ "mirror", required_argument, NULL, OPT_MIRROR }, \
	{ "proxy", required_argument, NULL, OPT_PROXY }, \
	{ "allow-http-redirect", no_argument, NULL, OPT_ALLOW_HTTP_REDIRECT }, \
	{ "root-hash", required_argument, NULL, OPT_ROOT_HASH }, \
	{ "verity-key", required_argument, NULL, OPT_VERITY_KEY }

/* Their help text, for the usage() of those commands. */
#define CLI_HELP_SOURCE_NET \
	"  --ca FILE           trust these CAs (PEM) for https (default " ULO_DEFAULT_CA ")\n" \
	"  --pin sha256//B64   also require this public key (repeatable)\n" \
	"  --cert FILE --key FILE  TLS client certificate\n" \
	"  --insecure          no TLS verification at all (never the default)\n" \
	"  --timeout SECS      per-request deadline, retries included (default 60)\n" \
	"  --retries N         retries of transient errors per request (default 8)\n" \
	"  --mirror URL        the same image elsewhere (repeatable)\n" \
	"  --proxy URL         use this proxy (never taken from the environment)\n" \
	"  --allow-http-redirect  follow https -> http redirects\n" \
	"  --root-hash HEX     SOURCE is a manifest (NAME.uloop) whose root hash\n" \
	"                      must be HEX\n" \
	"  --verity-key FILE   ... whose signature must verify with this public\n" \
	"                      key (default " ULO_DEFAULT_VERITY_KEY ", if present)\n"


#define CLI_OPT_CACHE { "cache", required_argument, NULL, OPT_CACHE }
#define CLI_OPT_BITMAP { "bitmap", required_argument, NULL, OPT_BITMAP }
#define CLI_OPT_BLOCK_SIZE { "block-size", required_argument, NULL, OPT_BLOCK_SIZE }
#define CLI_OPT_FORMAT { "format", required_argument, NULL, OPT_FORMAT }, \
	{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE }
#define CLI_HELP_FORMAT \
	"  --format F          a new cache's format: native (default), compact\n" \
	"                      (blocks in fetch order: no sparse file needed, vfat)\n" \
	"  --cache-size N      a compact cache that never grows past N bytes,\n" \
	"                      evicting the least recently read (never the boot\n" \
	"                      profile's blocks); implies --format compact\n"
#define CLI_OPT_CONNECTIONS { "connections", required_argument, NULL, OPT_CONNECTIONS }
#define CLI_OPT_READAHEAD { "readahead", required_argument, NULL, OPT_READAHEAD }
#define CLI_OPT_OFFLINE { "offline", no_argument, NULL, OPT_OFFLINE }
#define CLI_OPT_WIPE { "wipe", no_argument, NULL, OPT_WIPE }
#define CLI_OPT_SOURCE { "source", required_argument, NULL, OPT_SOURCE }
#define CLI_OPT_JSON { "json", no_argument, NULL, OPT_JSON }
#define CLI_OPT_HELP { "help", no_argument, NULL, 'h' }
#define CLI_OPT_VERBOSE { "verbose", no_argument, NULL, 'v' }
#define CLI_OPT_END { NULL, 0, NULL, 0 }

struct cli_opts {
	const char *cache;	/* --cache */
	const char *bitmap;	/* --bitmap: 2007 layout */
	const char *source;	/* --source */
	uint64_t block_size;	/* --block-size, 0 = default */
	enum ulo_cache_format format;	/* --format */
	uint64_t cache_size;	/* --cache-size, 0 = none */
	bool format_2007;	/* --format 2007 (with --bitmap) */
	struct ulo_engine_opts eng;	/* --connections, --readahead, --rate */
	bool offline;		/* --offline: never drop a cache */
	bool ignore_identity;	/* check: compare even another identity */
	bool wipe;		/* --wipe: may overwrite foreign data */
	bool stage;		/* hydrate --seed: stage a new version beside */
	bool json;
	int progress;		/* --progress 1, --no-progress 0, -1 auto */
	uint64_t offset, length;
	bool have_length;
	struct ulo_source_opts src;	/* --ca, --pin, --mirror... */
	char pins[2048];	/* --pin values joined with ';' */
};

extern const char *cli_cmd;	/* "hydrate", ... for messages */
extern char *cli_argv0;		/* the program's argv[0] (writable) */

void cli_opts_init(struct cli_opts *o);
/*
 * Parse a command's options (@lopts) into @o, which it initialises, and
 * check that @nargs operands (named @what for messages) follow (a negative
 * @nargs: at most -@nargs).  Returns
 * -1 to go on, or the exit status to return: 0 after --help (printed with
 * @usage), 2 on bad usage (explained).
 */
int cli_parse(int argc, char **argv, const struct option *lopts,
	      void (*usage)(FILE *f), int nargs, const char *what,
	      struct cli_opts *o);
/* The same, handing options cli_common_opt() does not know to @own, which
 * returns 1 if it took the option, 0 if unknown, or exits on a bad value. */
int cli_parse_own(int argc, char **argv, const struct option *lopts,
		  void (*usage)(FILE *f), int nargs, const char *what,
		  struct cli_opts *o,
		  int (*own)(int opt, const char *arg, void *ctx), void *ctx);
/*
 * Handle an option every command may share.  Returns 1 if handled, 0 if
 * not one of them; exits with status 2 on a bad value.
 */
int cli_common_opt(int opt, const char *arg, struct cli_opts *o);
/* "uloop: CMD: message" to stderr; returns ULO_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "uloop: <library message>" to stderr; returns ULO_EXIT_FAIL. */
int cli_fail(void);
/* "uloop: message" to stderr (no exit status implied). */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Options that contradict each other: print and return ULO_EXIT_USAGE. */
int cli_check_opts(const struct cli_opts *o);
/* Fill in what the user left out of @o's source options: the default CA
 * (if installed) and the connection count of the engine. */
void cli_source_defaults(struct cli_opts *o);
/* Open @location as a source with @o's network options (its notes on
 * stderr), or print why. */
int cli_open_source(struct cli_opts *o, const char *location,
		    struct ulo_source **out);
/*
 * Close the cache of a command whose job is serving the image (cat,
 * export, attach), not filling the cache: blocks it could not keep (a full
 * flash) are a note, not a failure.  What it did keep is correct either way.
 */
void cli_close_serving_cache(struct ulo_cache *c);
/* The notes on a freshly bound cache: an image dropped (another identity,
 * or the same one with other bytes) or adopted, a filesystem too small for
 * the rest of the image. */
void cli_note_bound_cache(struct ulo_cache *c, const struct ulo_source *src,
			  const struct ulo_bind_info *bi);
/*
 * Open (creating) the cache of @o, bind it to @src, report what happened
 * to an existing cache, and start the periodic committer: 0, or -errno
 * with the message set (cli_bind_cache), or printed (cli_open_bound_cache,
 * which returns the exit status).
 */
int cli_bind_cache(const struct cli_opts *o, struct ulo_source *src,
		   struct ulo_cache **out);
int cli_open_bound_cache(const struct cli_opts *o, struct ulo_source *src,
			 struct ulo_cache **out);
/* Open the cache of @o read-only for inspection. */
int cli_open_cache_ro(const struct cli_opts *o, struct ulo_cache **out);
/*
 * Before a long run: room for the descriptors it will open
 * (ulo_fd_reserve): a network source's sockets (ulo_http_socket_bound,
 * its mirrors counted) and @spare more (a resolver's socket; a daemon's
 * run state rewrite, a profile).  0, or -EMFILE with the message set.
 */
int cli_reserve_fds(const struct cli_opts *o, const struct ulo_source *src,
		    unsigned spare);
/*
 * The start of every command whose first operand is a CACHE opened for
 * inspection (info, check): parse, name the cache, check the options,
 * open it.  -1 to go on (*@out set), else the exit status.
 */
int cli_start_cache_cmd(int argc, char **argv, const struct option *lopts,
			void (*usage)(FILE *f), struct cli_opts *o,
			struct ulo_cache **out);

/*
 * Block SIGINT and SIGTERM; call before any thread starts, so every
 * thread inherits the mask and none dies of the default action.
 */
void cli_block_signals(void);
/*
 * Cancel @e's background work when SIGINT or SIGTERM arrives (from a
 * thread of its own), so the command ends by closing its cache cleanly.
 * cli_signals_done() stops that thread.
 */
int cli_cancel_on_signals(struct ulo_engine *e);
void cli_signals_done(void);
/* The signal that cancelled the work, or 0. */
int cli_signal_received(void);

/* Commands. */
int cmd_hydrate(int argc, char **argv);
int cmd_info(int argc, char **argv);
/* info of a UML COW file (cmd_info_cow.c) */
int cmd_info_cow(const char *path, bool json);
int cmd_check(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_verity(int argc, char **argv);
/* Run as /run/initramfs/shutdown by systemd-shutdown (PID 1). */
int cmd_shutdown(int argc, char **argv);
/* ulohttp (@http) and ulobdev, argv as the 2007 tools had it. */
int cmd_ulo2007(int argc, char **argv, bool http);

#endif
