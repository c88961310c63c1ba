// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * source.c - choosing a source implementation by the location's form.
 *
 * The engine reaches sources only through this file, and this file names
 * one implementation only: the file source (files and block devices, libc
 * and nothing else), which takes every location without "://".  Any other
 * source is registered at run time by the program that wants it: the uloop
 * command registers the HTTP source in main().  So nothing in the engine,
 * the cache layer or the 2007 API refers to source_http.c, and a program
 * linked statically against libuloop.a without registering it pulls in no
 * libcurl, mbedTLS, nghttp2 or c-ares (tests/integ/test-link-nocurl.sh
 * links one).
 *
 * A registered source lists its URL schemes; "SCHEME://..." goes to the
 * first source registered for SCHEME (compared without case).  A location
 * with "://" that no source claims is a typo or a scheme this program does
 * not serve, never a file name: it is refused, naming the schemes that
 * are served, or saying the program was built without the HTTP source when
 * none are.
 *
 * A location whose path ends in ".uloop" is a manifest (uloop publish):
 * the verity source (source_verity.c) reads it, and the files it names,
 * through the sources above.
 *
 * The table is small and fixed (programs register one or two sources at
 * start-up) and guarded by a mutex, so opens from several threads see a
 * consistent table.
 */
#include "source.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define ULO_MAX_SOURCES 8

static pthread_mutex_t ulo_sources_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct ulo_source_ops *ulo_sources[ULO_MAX_SOURCES];
static unsigned ulo_nsources;

int ulo_source_register(const struct ulo_source_ops *ops)
{
	unsigned i;
	int ret = 0;

	if (!ops->schemes || !ops->schemes[0])
		return ulo_err(-EINVAL, "source %s: no URL scheme to register",
			       ops->name);
	pthread_mutex_lock(&ulo_sources_lock);
	for (i = 0; i < ulo_nsources && ulo_sources[i] != ops; i++)
		;
	if (i == ulo_nsources) {
		if (ulo_nsources < ULO_MAX_SOURCES)
			ulo_sources[ulo_nsources++] = ops;
		else
			ret = -ENOSPC;
	}
	pthread_mutex_unlock(&ulo_sources_lock);
	if (ret)
		return ulo_err(ret, "source %s: cannot register it (%d sources at most)",
			       ops->name, ULO_MAX_SOURCES);
	return 0;
}

/* Is @location "@scheme://..."? */
static bool ulo_scheme_is(const char *location, const char *scheme)
{
	size_t n = strlen(scheme);

	return !strncasecmp(location, scheme, n) && !strncmp(location + n, "://", 3);
}

bool ulo_source_is_manifest(const char *location)
{
	size_t n = strcspn(location, "?#");

	return n > 6 && !strncmp(location + n - 6, ".uloop", 6);
}

static const struct ulo_source_ops *ulo_source_pick(const char *location)
{
	const struct ulo_source_ops *ops = NULL;

	pthread_mutex_lock(&ulo_sources_lock);
	for (unsigned i = 0; i < ulo_nsources && !ops; i++)
		for (const char *const *s = ulo_sources[i]->schemes; *s; s++)
			if (ulo_scheme_is(location, *s)) {
				ops = ulo_sources[i];
				break;
			}
	pthread_mutex_unlock(&ulo_sources_lock);
	if (ops)
		return ops;
	/* Any other scheme is a typo or unsupported, not a file name. */
	if (strstr(location, "://"))
		return NULL;
	return &ulo_source_file_ops;
}

/* "http:// and https://": the schemes served, each once; "" if none. */
static void ulo_source_schemes(char *buf, size_t len)
{
	const char *names[4 * ULO_MAX_SOURCES];
	unsigned n = 0, k;
	size_t at = 0;

	pthread_mutex_lock(&ulo_sources_lock);
	for (unsigned i = 0; i < ulo_nsources; i++)
		for (const char *const *s = ulo_sources[i]->schemes;
		     *s && n < ULO_ARRAY_SIZE(names); s++) {
			for (k = 0; k < n && strcasecmp(names[k], *s); k++)
				;
			if (k == n)
				names[n++] = *s;
		}
	pthread_mutex_unlock(&ulo_sources_lock);
	buf[0] = '\0';
	for (unsigned i = 0; i < n && at < len; i++) {
		int w = snprintf(buf + at, len - at, "%s%s://",
				 !i ? "" : i + 1 < n ? ", " : " and ", names[i]);

		if (w < 0)
			break;
		at += w;
	}
}

static int ulo_source_unsupported(const char *location)
{
	char served[256];

	ulo_source_schemes(served, sizeof(served));
	if (ulo_scheme_is(location, "http") || ulo_scheme_is(location, "https"))
		return ulo_err(-EPROTONOSUPPORT,
			       "%s: this program was built without the HTTP source "
			       "(it reads %s%sfiles and block devices only)", location,
			       served, *served ? " URLs, " : "");
	if (!*served)
		return ulo_err(-EPROTONOSUPPORT,
			       "%s: unsupported scheme (files and block devices only: "
			       "this program was built without the HTTP source)",
			       location);
	return ulo_err(-EPROTONOSUPPORT, "%s: unsupported scheme (%s only)",
		       location, served);
}

static int ulo_source_open_ops(const struct ulo_source_ops *ops, const char *location,
			       const struct ulo_source_opts *opts, struct ulo_source **out)
{
	struct ulo_source *src;
	int ret;

	if (!ops)
		return ulo_source_unsupported(location);
	src = calloc(1, sizeof(*src));
	if (!src)
		return ulo_errno(-ENOMEM, "%s: allocating source", location);
	src->ops = ops;
	ret = ops->open(src, location, opts);
	if (ret < 0) {
		free(src);
		return ret;
	}
	*out = src;
	return 0;
}

int ulo_source_open_plain(const char *location, const struct ulo_source_opts *opts,
			  struct ulo_source **out)
{
	return ulo_source_open_ops(ulo_source_pick(location), location, opts, out);
}

int ulo_source_open(const char *location, const struct ulo_source_opts *opts,
		    struct ulo_source **out)
{
	/* The verity source opens the files the manifest names as plain
	 * sources, by their own schemes. */
	if (ulo_source_is_manifest(location))
		return ulo_source_open_ops(&ulo_source_verity_ops, location, opts, out);
	/* A trust root asked for must not be skipped by naming the image. */
	if (opts && (opts->root_hash || opts->verity_key))
		return ulo_err(-EINVAL, "%s: a %s can only be checked through a manifest "
			       "(NAME.uloop, written by uloop publish), not a plain image",
			       location, opts->root_hash ? "root hash" : "verity key");
	return ulo_source_open_plain(location, opts, out);
}

int ulo_source_read(struct ulo_source *src, void *buf, uint64_t off,
		    size_t len, unsigned *retries)
{
	if (retries)
		*retries = 0;
	if (off > src->id.size || len > src->id.size - off)
		return ulo_err(-EINVAL, "%s: read of %zu bytes at %llu is past the end (%llu)",
			       src->id.location, len, (unsigned long long)off,
			       (unsigned long long)src->id.size);
	return src->ops->read(src, buf, off, len, retries);
}

static int ulo_offline_read(struct ulo_source *src, void *buf, uint64_t off,
			    size_t len, unsigned *retries)
{
	(void)buf;
	(void)retries;
	return ulo_err(-EIO, "%s: offline, and bytes %llu+%zu are not cached",
		       src->id.location, (unsigned long long)off, len);
}

static void ulo_offline_close(struct ulo_source *src)
{
	(void)src;
}

static const struct ulo_source_ops ulo_source_offline_ops = {
	.name = "offline",
	.read = ulo_offline_read,
	.close = ulo_offline_close,
};

int ulo_source_offline(const struct ulo_identity *id, struct ulo_source **out)
{
	struct ulo_source *src = calloc(1, sizeof(*src));

	if (!src)
		return ulo_errno(-ENOMEM, "offline source");
	src->ops = &ulo_source_offline_ops;
	src->id = *id;
	*out = src;
	return 0;
}

void ulo_source_close(struct ulo_source *src)
{
	if (!src)
		return;
	src->ops->close(src);
	free(src);
}
