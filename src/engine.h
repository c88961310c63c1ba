/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * engine.h - reads through the cache, fetching what is missing.
 *
 * ulo_engine_read() returns present blocks from the cache; missing blocks
 * are coalesced into runs, extended by adaptive readahead, deduplicated
 * against fetches already in flight, and fetched in parallel by a pool of
 * worker threads, one source request each.  No lock is held across source
 * or cache I/O.  Fetched blocks are stored and marked by the cache (which
 * makes them durable in its write order); a read waits for neither: it
 * copies the run's bytes and returns while the worker writes them.
 */
#ifndef ULOOP_ENGINE_H
#define ULOOP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "profile.h"
#include "source.h"
#include "stats.h"

#define ULO_DEFAULT_CONNECTIONS 4
#define ULO_DEFAULT_READAHEAD (1024 * 1024)
#define ULO_DEFAULT_MAX_REQUEST (1024 * 1024)
#define ULO_MAX_CONNECTIONS 64
/* Readahead starts once a stream has read ULO_RA_TRIGGER bytes in a row,
 * at ULO_RA_INIT, doubling up to the readahead limit (plan.h).  Reading
 * every 20th file of a 212 MB squashfs (70 MiB read by the kernel)
 * fetched 85 MiB with a trigger of 512 KiB, 80 MiB with 2 MiB and 78 MiB
 * with no readahead at all; a long stream still gets it. */
#define ULO_RA_TRIGGER (2048 * 1024)
#define ULO_RA_INIT (128 * 1024)

struct ulo_engine;

struct ulo_engine_opts {
	unsigned connections;	/* parallel source requests; 0 = default */
	uint64_t readahead;	/* max readahead bytes; 0 = none */
	uint64_t readahead_trigger;	/* bytes a stream reads first; 0 = default */
	uint64_t max_request;	/* bytes per source request; 0 = default */
	uint64_t rate;		/* bytes/s cap on fetching; 0 = none */
	bool record_profile;	/* record the boot profile (profile.h) */
	bool demand_reserve;	/* keep a worker free for demand reads */
};

/* Start an engine over @src and @cache (NULL: no cache, fetch every time).
 * The cache must be bound to @src's identity. */
int ulo_engine_new(struct ulo_source *src, struct ulo_cache *cache,
		   const struct ulo_engine_opts *opts, struct ulo_engine **out);

/* Read image bytes [@off, @off + @len) into @buf: 0 or -errno (message
 * recorded).  -ESTALE: the image changed; nothing more will be fetched. */
int ulo_engine_read(struct ulo_engine *e, void *buf, uint64_t off, size_t len);

/*
 * Queue fetches for the missing blocks of [@off, @off + @len) in the
 * background (hydrate, a profile's replay).  Blocks while more than
 * 2 x connections runs (ulo_engine_set_bg_depth) are queued, so memory
 * stays bounded.  0, or the
 * first background error.  *@queued (may be NULL) gets the bytes queued.
 * With opts.demand_reserve, background runs never take the last free
 * worker: a demand read always finds one (with a single connection it
 * waits for one run at most).
 */
int ulo_engine_prefetch(struct ulo_engine *e, uint64_t off, uint64_t len,
			uint64_t *queued);

/*
 * How many background runs ulo_engine_prefetch() lets wait at once (0:
 * back to 2 x connections).  A profile's replay queues the whole profile:
 * a queued run costs no buffer until a worker takes it, and a demand read
 * of one of its blocks moves it to the front, whole, where a shallow
 * queue left the boot's reads to overtake the replay and fetch block by
 * block.  Hydration keeps the default: it is paced.
 */
void ulo_engine_set_bg_depth(struct ulo_engine *e, unsigned runs);

/* The boot profile recorded so far (engine opts.record_profile): every
 * block read, hit or miss, and every block read ahead, in first-use order.
 * -ENOENT if not recording. */
int ulo_engine_profile(struct ulo_engine *e, struct ulo_profile *out);
/* Bumps whenever the recorded profile grows. */
uint64_t ulo_engine_profile_generation(struct ulo_engine *e);

/* When the last demand read (ulo_engine_read) came, on ulo_now_ns()'s
 * clock; 0 if none yet. */
uint64_t ulo_engine_last_demand_ns(struct ulo_engine *e);

/* Wait until the rate limit (opts.rate) allows @bytes more fetched
 * outside the engine (an update's pack); at once without one.  Is there
 * a limit? */
void ulo_engine_pace(struct ulo_engine *e, uint64_t bytes);
bool ulo_engine_paced(const struct ulo_engine *e);

/* Image block size and count, as the engine splits the image. */
uint64_t ulo_engine_block_size(struct ulo_engine *e);

/*
 * Stop background work: queued background runs are dropped, fetches in
 * progress finish, ulo_engine_prefetch() returns -EINTR from now on.
 * Demand reads are not affected.  Safe from any thread.
 */
void ulo_engine_cancel(struct ulo_engine *e);

/* Wait for every background fetch; the first background error, if any. */
int ulo_engine_drain(struct ulo_engine *e);

/* Wait until no fetch is in flight: every block fetched so far is in the
 * cache (or its write failed) and counted.  For a caller that looks at the
 * cache or the statistics right after its reads. */
void ulo_engine_settle(struct ulo_engine *e);

void ulo_engine_stats(struct ulo_engine *e, struct ulo_stats *out);

/* Stop the workers (queued fetches are dropped) and free.  The source and
 * cache stay open: their owner closes them. */
void ulo_engine_free(struct ulo_engine *e);

#endif
