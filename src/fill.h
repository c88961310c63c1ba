/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fill.h - what the attached daemon fetches on its own: a boot profile's
 * blocks first, then (hydration) the rest of the image.
 *
 * One thread per attached daemon.  It loads the profile (a file or a URL,
 * fetched with the image's TLS options), checks it is of this image, and
 * queues its blocks in first-use order, a window at a time, as background
 * runs of the engine: a demand read always goes first (it jumps the queue
 * and finds a worker kept free for it), so the replay runs just ahead of
 * the boot and never in its way.  Then, with hydration asked for, it waits
 * a random part of the jitter (so a fleet booted at once does not fill at
 * once) and queues the whole image, paced to the rate, until every block
 * is cached: the node can then boot without its server.
 *
 * Before both, an update (a seed: seed.h) copies what the new version
 * shares with the older one on the flash: the seed's blocks are queued
 * like a hydration's, the source reads them locally and checks them, and
 * once all are in the cache the older version's file is removed.  It
 * works while the device is idle (ULO_FILL_SEED_IDLE_NS without a demand
 * read): the boot's own reads take their blocks from the seed anyway.  A leaf
 * of the tree with few blocks the seed lacks (ULO_FILL_SEED_GAP) is
 * queued whole, so that its leaf hash block is computed, not fetched:
 * the few blocks fetched are the changed ones, wanted anyway.
 *
 * Nothing here is fatal to the device: a profile that cannot be had or is
 * of another image is ignored with one note; a hydration that fails stops
 * with one note.
 */
#ifndef ULOOP_FILL_H
#define ULOOP_FILL_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "engine.h"
#include "source.h"

struct ulo_fill;

struct ulo_fill_opts {
	const char *profile;	/* path or URL; NULL: none */
	const struct ulo_source_opts *src_opts;	/* to fetch a profile URL */
	bool hydrate;
	uint64_t rate;		/* hydration, bytes/s; 0 = no limit */
	unsigned jitter_s;	/* hydration starts after a random 0..jitter_s */
	void (*note)(const char *msg);	/* one line each for the user */
	/* A manifest's source with a seed (ulo_source_seed): taken first,
	 * then the seed is retired and its file removed.  The changed blocks
	 * come first from the update's pack (when small, or with hydration)
	 * through @apply_pack (update.h's ulo_update_apply_pack: it links zstd, so
	 * the command sets it). */
	struct ulo_source *seed_src;
	int (*apply_pack)(struct ulo_engine *e, struct ulo_cache *c,
			  struct ulo_source *src, bool whole, uint64_t *blocks);
};

/* What the fill is doing, for the run state. */
enum ulo_fill_state {
	ULO_FILL_IDLE,		/* nothing asked */
	ULO_FILL_SEED,		/* an update: taking the older version's blocks */
	ULO_FILL_PROFILE,	/* replaying the profile */
	ULO_FILL_WAIT,		/* hydration: waiting out the jitter */
	ULO_FILL_HYDRATE,	/* hydration: fetching */
	ULO_FILL_DONE,		/* all asked for is done */
	ULO_FILL_STOPPED,	/* stopped by an error (noted) */
};

struct ulo_fill_status {
	enum ulo_fill_state state;
	const char *profile;	/* "none", "ignored", "loaded", "replayed" */
	uint64_t profile_bytes;	/* bytes the profile names */
	uint64_t profile_queued;	/* of them, fetched by the replay */
	uint64_t hydrate_queued;	/* bytes fetched by hydration */
	bool complete;		/* every block of the image is cached */
};

/* Start the thread (nothing to do: *@out = NULL and 0). */
int ulo_fill_start(struct ulo_engine *e, struct ulo_cache *c,
		   const struct ulo_identity *id, const struct ulo_fill_opts *o,
		   struct ulo_fill **out);
void ulo_fill_status(struct ulo_fill *f, struct ulo_fill_status *out);
const char *ulo_fill_state_name(enum ulo_fill_state s);
/* Stop (background fetches in progress finish) and free.  NULL is fine. */
void ulo_fill_stop(struct ulo_fill *f);


#endif
