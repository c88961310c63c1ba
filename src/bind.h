/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bind.h - bind a cache to a source, identity and a sample of bytes (bind.c). */
#ifndef ULOOP_BIND_H
#define ULOOP_BIND_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "source.h"

/* Random present blocks compared with the source, besides the head. */
#define ULO_BIND_RANDOM 3

struct ulo_bind_info {
	enum ulo_bind_result res;
	uint64_t dropped;	/* blocks thrown away */
	uint64_t differ_off;	/* DIFFERED: an image offset that differed */
	unsigned sampled;	/* 4 KiB ranges compared with the source */
	struct ulo_recovery rec;	/* REUSED after an unclean stop */
};

/*
 * Bind @c to @src's image (ulo_cache_bind()); a cache kept as the same
 * image is then compared with @src on a sample of its present blocks, and
 * dropped (res ULO_BIND_DIFFERED) if any byte differs, or refused with
 * -ESTALE if @offline.  A sample the source cannot serve fails the bind:
 * nothing unverified is served.  A cache kept after an unclean stop first
 * has its last commit's blocks checked (ulo_cache_recover(), in @bi->rec).
 * Before the committer starts.
 */
int ulo_bind_source(struct ulo_cache *c, struct ulo_source *src, bool offline,
		    struct ulo_bind_info *bi);

#endif
