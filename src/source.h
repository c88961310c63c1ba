/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * source.h - where image bytes come from.
 *
 * A source is an ops table plus its state.  open() learns the size and the
 * identity; read() returns exactly the bytes asked for or an error, and
 * must fail (never return data) once it notices the image is no longer the
 * one it opened: -ESTALE with a message saying so.  read() is called from
 * several threads at once.
 *
 * Files and block devices are built in.  Other sources are registered by
 * the program that wants them (ulo_source_register), never named by the
 * engine, so a program that does not register the HTTP source does not
 * link libcurl (source.c says more).
 */
#ifndef ULOOP_SOURCE_H
#define ULOOP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity.h"

struct ulo_source;

#define ULO_MAX_MIRRORS 8

/* Options of network sources (a file source ignores them). */
struct ulo_source_opts {
	unsigned timeout_s;	/* per-request deadline, retries included */
	unsigned retries;	/* retries of transient errors per request */
	unsigned connections;	/* parallel connections per server */
	const char *ca_file;	/* TLS trust anchors (PEM) */
	const char *pins;	/* "sha256//B64;sha256//B64..." */
	const char *cert, *key;	/* TLS client certificate and key */
	bool insecure;		/* no TLS verification (--insecure only) */
	const char *proxy;	/* explicit proxy; never from the environment */
	bool allow_downgrade;	/* follow an https -> http redirect */
	const char *mirrors[ULO_MAX_MIRRORS];	/* same image elsewhere */
	unsigned nmirrors;
	bool verbose;		/* protocol trace to stderr */
	/* Told things the user should know (a mirror refused...). */
	void (*notice)(const char *msg);
};

struct ulo_source_ops {
	const char *name;
	/* URL schemes served, without "://", NULL-terminated ("http",
	 * "https", NULL): what ulo_source_register() routes here. */
	const char *const *schemes;
	int (*open)(struct ulo_source *src, const char *location,
		    const struct ulo_source_opts *opts);
	/*
	 * Read [@off, @off + @len) into @buf.  @retries (may be NULL) gets
	 * the number of retries this read needed.  0 or -errno with the
	 * message recorded.
	 */
	int (*read)(struct ulo_source *src, void *buf, uint64_t off,
		    size_t len, unsigned *retries);
	void (*close)(struct ulo_source *src);
};

struct ulo_source {
	const struct ulo_source_ops *ops;
	struct ulo_identity id;	/* set by open(); id.size is the image size */
	void *priv;		/* ops-private state */
};

/* Built in: any location without "://" (source_file.c). */
extern const struct ulo_source_ops ulo_source_file_ops;
/* http:// and https:// (source_http.c): naming it links libcurl, mbedTLS,
 * nghttp2 and c-ares (libuloop-http.a); the uloop command registers it. */
extern const struct ulo_source_ops ulo_source_http_ops;

/*
 * Make @ops serve the URL schemes it lists, for every later
 * ulo_source_open() of this process.  Registering the same ops again does
 * nothing; a scheme already served keeps its first source.  Call it before
 * opening sources (it is thread-safe, but an open racing it may not see
 * it).  0, or -errno with the message recorded (no schemes, table full).
 */
int ulo_source_register(const struct ulo_source_ops *ops);

/* Open @location: "SCHEME://..." for a registered source, else a path to
 * a file or a block device.  0 or -errno with the message recorded; a
 * scheme nobody registered is -EPROTONOSUPPORT, naming those served. */
int ulo_source_open(const char *location, const struct ulo_source_opts *opts,
		    struct ulo_source **out);
int ulo_source_read(struct ulo_source *src, void *buf, uint64_t off,
		    size_t len, unsigned *retries);
/*
 * A source that is only an identity (the image a complete cache holds),
 * for booting with the server unreachable: every read fails with EIO, so
 * the engine serves the cache and nothing else.
 */
int ulo_source_offline(const struct ulo_identity *id, struct ulo_source **out);
void ulo_source_close(struct ulo_source *src);

#endif
