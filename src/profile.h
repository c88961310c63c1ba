/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * profile.h - boot profiles: which blocks of an image a boot reads, in the
 * order it first reads them.
 *
 * A boot reads the same blocks in nearly the same order every time, on
 * every node of a class.  The attached daemon records that order (the
 * recorder below, fed by the engine), `uloop profile DEV` writes it out,
 * and the next cold attach given the profile (`--profile`) fetches those
 * blocks in that order, in large ranges over several connections, ahead
 * of the boot's own reads (fill.c).
 *
 * The format is text, small and diffable (docs/boot-profile.md):
 *
 *     uloop-profile 1
 *     size 212516864
 *     validator etag "5f2b-cab0000"
 *     unit 4096
 *     extents 2
 *     0 1
 *     51234 32
 *
 * `size` and `validator` (the identity kind's name and its text) tie the
 * profile to one image: a profile of another image or another version is
 * ignored with a note, never replayed.  `unit` is the granularity in
 * bytes (the recording cache's block size); each extent is "START COUNT"
 * in units, in first-use order.  `extents` counts them, so a truncated
 * file is refused rather than half replayed.
 *
 * An extent line may carry a third number, "START COUNT MS": when the
 * boot first read it, in milliseconds after the daemon began recording.
 * The daemon writes it (uloop profile --times prints it: the boot's read
 * trace with its timing, which bench/storm replays); replay ignores it.
 * Plain `uloop profile` leaves it out, so that older daemons, whose parser
 * wants two numbers, can replay what a newer one recorded.
 */
#ifndef ULOOP_PROFILE_H
#define ULOOP_PROFILE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bitmap.h"
#include "identity.h"

#define ULO_PROFILE_MAGIC "uloop-profile 1"
/* Extents recorded at most: 1.5 MiB of memory in the daemon, about 16 MiB of
 * file; a boot of a few hundred MB of scattered reads needs some 10,000. */
#define ULO_PROFILE_MAX_EXTENTS (64 * 1024)
/* A profile file larger than this is refused unread. */
#define ULO_PROFILE_MAX_FILE (16 << 20)

struct ulo_extent {
	uint64_t start, n;	/* units */
	uint64_t ms;		/* first read, ms after recording began */
};

struct ulo_profile {
	uint64_t size;		/* image bytes */
	enum ulo_id_kind kind;
	char validator[ULO_ID_VALIDATOR_MAX];
	uint64_t unit;		/* bytes, a power of two */
	struct ulo_extent *ext;
	size_t n;
};

/* ---- recording (thread-safe) ---- */

struct ulo_profile_rec {
	pthread_mutex_t lock;
	struct ulo_bitmap seen;	/* units already recorded */
	uint64_t unit, nunits;
	struct ulo_extent *ext;
	size_t n, cap;
	bool full;		/* hit ULO_PROFILE_MAX_EXTENTS: stopped */
	uint64_t t0_ns;		/* recording began (ulo_now_ns) */
	uint64_t generation;	/* bumps with every change */
};

int ulo_profile_rec_init(struct ulo_profile_rec *r, uint64_t image_size,
			 uint64_t unit);
/* Note a read of units [@first, @first + @n): the units not seen before
 * are appended in order (joined to the last extent when they follow it). */
void ulo_profile_rec_note(struct ulo_profile_rec *r, uint64_t first, uint64_t n);
/* A copy of what was recorded so far, for @id's image (ulo_profile_free). */
int ulo_profile_rec_snapshot(struct ulo_profile_rec *r,
			     const struct ulo_identity *id,
			     struct ulo_profile *out);
void ulo_profile_rec_free(struct ulo_profile_rec *r);

/* ---- the file ---- */

/* With @times, each extent's ms too (the trace; see the format above). */
int ulo_profile_write(const struct ulo_profile *p, bool times, FILE *f);
/* Parse @len bytes of @text; errors name @what (a path or URL) and the line. */
int ulo_profile_parse(const char *text, size_t len, const char *what,
		      struct ulo_profile *out);
/* Is @p a profile of @id's image?  If not, @why says how it differs. */
bool ulo_profile_matches(const struct ulo_profile *p,
			 const struct ulo_identity *id, char *why, size_t len);
void ulo_profile_free(struct ulo_profile *p);

/* ---- replay planning (pure) ---- */

/*
 * The profile's extents from *@pos on, as byte ranges to prefetch, in
 * order: a window of extents covering up to @window bytes is taken, sorted
 * by offset and merged where the gap between two is at most @gap bytes (a
 * small gap costs less fetched than another request), then written to
 * @out in offset order.  Returns how many (at most @cap), and advances
 * *@pos past the window; 0 once the profile is done.
 */
struct ulo_byte_range {
	uint64_t off, len;
};
size_t ulo_profile_plan(const struct ulo_profile *p, size_t *pos, uint64_t window,
			uint64_t gap, struct ulo_byte_range *out, size_t cap);

#endif
