/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cache_verify.h - reading a whole cache back: verify it (uloop check)
 * and write its image out (uloop export).  cache_verify.c.
 */
#ifndef ULOOP_CACHE_VERIFY_H
#define ULOOP_CACHE_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"

struct ulo_engine;
struct ulo_source;

struct ulo_verify_opts {
	/* Called with a line naming each of the first @report_max bad
	 * blocks (the rest are only counted); NULL: counted only. */
	void (*report)(const char *msg);
	unsigned report_max;
};

struct ulo_verify_result {
	uint64_t checked;	/* present blocks read */
	uint64_t bad;		/* of those: unreadable, failing their
				 * checksum, or differing from the source */
};

/*
 * Read every present block of @c (checked against its CRC-32C where the
 * format has them) and, with @src, compare it with the image.  A bad
 * block is counted in @r, not an error.  Then, as the cache is read
 * without its lock, check that it was not laid out anew meanwhile
 * (ulo_cache_check_binding()).  0, or -errno with the message set: the
 * source or memory failed, or -ESTALE.  The caller makes sure @src is
 * the image the cache holds.  A cache not laid out has nothing to read.
 */
int ulo_cache_verify(struct ulo_cache *c, struct ulo_source *src,
		     const struct ulo_verify_opts *o, struct ulo_verify_result *r);

struct ulo_export_opts {
	/* Read through this engine over the cache (what is missing is
	 * fetched, and so cached), or NULL: every block must be present. */
	struct ulo_engine *eng;
	const char *name;	/* the output, as messages name it */
	bool sync;		/* fsync @fd once written (a file, not a pipe) */
};

/*
 * Write the image (ulo_cache_image_size() bytes) to @fd from offset 0:
 * pwrite, or in order if @fd is a pipe.  Without an engine, the cache is
 * read without its lock and checked afterwards as ulo_cache_verify()
 * does.  0, or -errno with the message set (-ENODATA: blocks missing and
 * no engine).  The output is the caller's to create, rename or remove.
 */
int ulo_cache_export(struct ulo_cache *c, int fd, const struct ulo_export_opts *o);

#endif
