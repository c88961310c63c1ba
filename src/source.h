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
	/* Ask the mirrors only if the primary cannot be reached (a
	 * manifest: the primary's names the version). */
	bool mirrors_as_fallback;
	bool verbose;		/* protocol trace to stderr */
	/* A whole-image fill (hydrate): throughput over latency, so
	 * HTTP/1.1 on each of the connections (http_client.h). */
	bool bulk;
	/* Trust for a manifest (source_verity.c): the root hash it must
	 * carry (hex), and/or the public key its signature must verify
	 * with; @sig_verify checks a signature (sign.h's ulo_sig_verify,
	 * which links mbedTLS: the uloop command sets it). */
	const char *root_hash;
	const char *verity_key;
	const char *default_verity_key;	/* used for a manifest, if it exists */
	int (*sig_verify)(const char *keyfile, const void *msg, size_t len,
			  const uint8_t *sig, size_t siglen);
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
	/*
	 * Optional, for sources with several servers (mirrors): read() that
	 * also says which server answered (*@server), and dropping a server
	 * whose bytes failed verification for the rest of the run (@why says
	 * how): true if a server is left to ask.
	 */
	int (*read_server)(struct ulo_source *src, void *buf, uint64_t off,
			   size_t len, unsigned *retries, unsigned *server);
	bool (*drop_server)(struct ulo_source *src, unsigned server,
			    const char *why);
};

/* Reads image bytes the cache holds already: 0, or -ENOENT if some are not
 * there (or cannot be read). */
typedef int (*ulo_source_peek_fn)(void *ctx, void *buf, uint64_t off,
				  size_t len);

struct ulo_source {
	const struct ulo_source_ops *ops;
	struct ulo_identity id;	/* set by open(); id.size is the image size */
	void *priv;		/* ops-private state */
	/* Set by the engine while it runs, for a source that reads back
	 * what it had fetched before (the verity source's hash blocks), and
	 * that keeps what it verified on its own (@store: whole cache blocks
	 * of [off, off + len) that the cache lacks are written), so that a
	 * warm start finds them. */
	ulo_source_peek_fn peek;
	void (*store)(void *ctx, const void *buf, uint64_t off, size_t len);
	void *peek_ctx;
	/* Fetches whose bytes failed verification (atomic). */
	uint64_t bad_blocks;
	/* Bytes read from an older version on the flash instead of fetched
	 * (a seed; atomic). */
	uint64_t seeded_bytes;
	/* Set by ulo_bind_source(): the cache held other bytes at
	 * @differed_off under this very identity (a server whose ETag or
	 * Last-Modified did not move when the image was replaced).  Nothing
	 * recorded against the identity alone (a COW's base) can be trusted
	 * to lie over these bytes. */
	bool differed;
	uint64_t differed_off;
};

/* Built in: any location without "://" (source_file.c). */
extern const struct ulo_source_ops ulo_source_file_ops;
/* Built in: a manifest, any location whose path ends in ".uloop"
 * (source_verity.c): the version it names, every fetched block verified. */
extern const struct ulo_source_ops ulo_source_verity_ops;
/* Is @location a manifest's (its path, before any query, ends in
 * ".uloop")? */
bool ulo_source_is_manifest(const char *location);
/* What dm-verity needs to check a verity source's device, which is the
 * image followed by its hash file (salt, name and version: from a live
 * manifest only; the salt is in the device's superblock too). */
struct ulo_verity_info {
	uint32_t data_block_size, hash_block_size;
	uint64_t data_blocks;
	uint64_t hash_start;	/* in hash blocks: the tree's first */
	char root_hex[65];
	char salt_hex[2 * 256 + 1];
	char name[65];
	uint64_t version;
};
/* From a verity identity (an offline cache's, too): 0, -ENOENT for
 * another kind, or -EINVAL (message recorded). */
int ulo_verity_info_of(const struct ulo_identity *id, struct ulo_verity_info *out);
/* The same for a source, with what its manifest says. */
int ulo_source_verity_info(const struct ulo_source *src,
			   struct ulo_verity_info *out);
/*
 * Updates (seed.h, docs/updates.md).  The seed map from the older version
 * of root hash @old_root_hex (hex) to a manifest's version: fetched from
 * where the manifest is (its mirrors too), parsed and checked to be that
 * map.  -ENOENT if the manifest names none for that version (or @src is
 * not a manifest's), else 0 or -errno with the message recorded.
 */
struct ulo_seedmap;
struct ulo_seed;
int ulo_source_fetch_seedmap(struct ulo_source *src, const char *old_root_hex,
			     struct ulo_seedmap *out);
/* The file @name of a manifest's directory (and its mirrors), opened as
 * a plain source with the manifest's options (an update's pack). */
int ulo_source_open_sibling(struct ulo_source *src, const char *name, struct ulo_source **out);
/* Let a manifest's source take blocks from @seed (it owns it from now
 * on, and closes one it had; on -EINVAL it is closed too). */
int ulo_source_set_seed(struct ulo_source *src, struct ulo_seed *seed);
/* The seed (borrowed: valid until it is taken back), or NULL. */
struct ulo_seed *ulo_source_seed(struct ulo_source *src);
/* Take the seed back (after the reads using it): the caller closes it. */
struct ulo_seed *ulo_source_take_seed(struct ulo_source *src);
/* Bytes of [@off, + @len) a read would take from the seed, not the
 * network (0 without one): what a rate limit must not count. */
uint64_t ulo_source_seeded_in(struct ulo_source *src, uint64_t off, uint64_t len);
/*
 * [@off, + @len) read from the older version on the flash, if the seed
 * holds all of it unchanged (its blocks at the same offsets, under leaf
 * hash blocks both versions share): what a warm read does, with no
 * fetch, digest or write.  0, or -ENOENT (no seed, or some block not
 * so): read it the usual way.
 */
int ulo_source_read_local(struct ulo_source *src, void *buf, uint64_t off, size_t len);

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
/* The same, never reading @location as a manifest (the verity source opens
 * the files a manifest names with it). */
int ulo_source_open_plain(const char *location, const struct ulo_source_opts *opts,
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
