/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * offline.h - serving a cached image with its server out of reach
 * (uloop attach --offline, rd.uloop.offline).
 *
 * Only a cache that holds every block of the image it is bound to, and
 * that image is the one asked for, can stand in for the server: a partly
 * cached image would fail its first miss, so that is refused at once.
 */
#ifndef ULOOP_OFFLINE_H
#define ULOOP_OFFLINE_H

#include "cache.h"
#include "source.h"

/*
 * @why: the reason the server could not be used (prefixed to any error).
 * @root_hash (hex, or NULL): the root hash the node trusts (--root-hash):
 * the cache must hold that verified image.
 * On success *@cache is open with its committer started and *@src is a
 * source that knows the image's identity and fails every read.
 */
int ulo_open_offline(const struct ulo_cache_opts *co, const char *url, const char *why,
		     const char *root_hash, struct ulo_cache **cache, struct ulo_source **src);

#endif
