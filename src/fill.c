// SPDX-License-Identifier: GPL-2.0-or-later
/* fill.c - see fill.h. */
#include "fill.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "failpoint.h"
#include "profile.h"
#include "seed.h"
#include "seedmap.h"
#include "util.h"

/* A replay window: extents covering this many bytes are sorted and
 * merged into ranges before they are queued. */
#define ULO_FILL_WINDOW (8 << 20)
/* Extents this close are fetched as one range, the gap with them: on a
 * link with a few ms of latency a request costs more than the bytes it
 * skips (docs/boot-profile.md has the figures: 32 KiB took 1.9x as long
 * at 20 ms, for 0.75x the bytes). */
#define ULO_FILL_GAP (256 << 10)
#define ULO_FILL_MAX_RANGES 4096
/* Hydration queues the image this much at a time. */
#define ULO_FILL_CHUNK (4 << 20)
/* A leaf's data blocks the seed lacks, at most, for the leaf to be
 * queued whole (its missing blocks fetched, its hash block computed):
 * 16 blocks of 4 KiB cost what 16 leaf hash blocks would. */
#define ULO_FILL_SEED_GAP 16
/* The older version's blocks are copied while the device has had no
 * demand read for this long: a boot's reads take them from the seed
 * anyway, and the copy (a read, a SHA-256 and a write per block) would
 * take the CPU from the boot. */
#define ULO_FILL_SEED_IDLE_NS (300 * 1000000ull)
/* An update's pack at most this large is fetched as the boot starts
 * (larger ones with --hydrate only): 32 MiB is a fraction of a second on
 * a LAN and far less than the round trips it saves. */
#define ULO_FILL_PACK_AT_BOOT (32ull << 20)

struct ulo_fill {
	struct ulo_engine *e;
	struct ulo_cache *c;
	struct ulo_identity id;
	struct ulo_fill_opts o;
	char *profile_loc;
	struct ulo_source_opts src_opts;
	pthread_t thr;
	pthread_mutex_t lock;
	pthread_cond_t cv;	/* stop */
	bool stop;		/* lock */
	struct ulo_fill_status st;	/* lock */
};

const char *ulo_fill_state_name(enum ulo_fill_state s)
{
	static const char *const names[] = { "idle", "seeding", "profile", "waiting",
					      "hydrating", "done", "stopped" };

	return s <= ULO_FILL_STOPPED ? names[s] : "?";
}

static void ulo_fill_note(struct ulo_fill *f, const char *fmt, ...)
	ULO_PRINTF(2, 3);
static void ulo_fill_note(struct ulo_fill *f, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (f->o.note)
		f->o.note(msg);
}

static void ulo_fill_set(struct ulo_fill *f, enum ulo_fill_state s)
{
	pthread_mutex_lock(&f->lock);
	f->st.state = s;
	pthread_mutex_unlock(&f->lock);
}

/* Sleep until @deadline_ns (ulo_now_ns clock) or a stop: true if stopped. */
static bool ulo_fill_sleep_until(struct ulo_fill *f, uint64_t deadline_ns)
{
	bool stop;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		uint64_t now = ulo_now_ns();
		struct timespec ts;

		if (now >= deadline_ns)
			break;
		/* ulo_now_ns is CLOCK_MONOTONIC, as the condvar's clock. */
		ts.tv_sec = deadline_ns / 1000000000ull;
		ts.tv_nsec = deadline_ns % 1000000000ull;
		pthread_cond_timedwait(&f->cv, &f->lock, &ts);
	}
	stop = f->stop;
	pthread_mutex_unlock(&f->lock);
	return stop;
}

static bool ulo_fill_stopping(struct ulo_fill *f)
{
	bool stop;

	pthread_mutex_lock(&f->lock);
	stop = f->stop;
	pthread_mutex_unlock(&f->lock);
	return stop;
}

/* Read the whole profile at @loc into a NUL-terminated buffer: through
 * the source layer, which opens a file as well as a URL (with the
 * image's TLS options) and names it in its errors. */
static int ulo_fill_read_profile(struct ulo_fill *f, char **out, size_t *len)
{
	const char *loc = f->profile_loc;
	struct ulo_source *src;
	uint64_t size;
	char *buf;
	int ret;

	ret = ulo_source_open_plain(loc, &f->src_opts, &src);
	if (ret)
		return ret;
	size = src->id.size;
	if (size > ULO_PROFILE_MAX_FILE) {
		ulo_source_close(src);
		return ulo_err(-EFBIG, "%s: %" PRIu64 " bytes, larger than any boot profile (%d MiB at most)",
			       loc, size, ULO_PROFILE_MAX_FILE >> 20);
	}
	buf = malloc(size + 1);
	ret = buf ? ulo_source_read(src, buf, 0, size, NULL)
		  : ulo_errno(-ENOMEM, "%s", loc);
	ulo_source_close(src);
	if (ret) {
		free(buf);
		return ret;
	}
	buf[size] = '\0';
	*out = buf;
	*len = size;
	return 0;
}

static void ulo_fill_replay(struct ulo_fill *f)
{
	struct ulo_byte_range *r = calloc(ULO_FILL_MAX_RANGES, sizeof(*r));
	struct ulo_profile p;
	char why[1024], *text = NULL;
	uint64_t total = 0, queued = 0, q;
	size_t len = 0, pos = 0, n;
	int ret;

	ret = r ? ulo_fill_read_profile(f, &text, &len) : -ENOMEM;
	if (!ret)
		ret = ulo_profile_parse(text, len, f->profile_loc, &p);
	free(text);
	if (ret) {
		ulo_fill_note(f, "boot profile not used: %s", ulo_errmsg());
		goto ignored;
	}
	if (!ulo_profile_matches(&p, &f->id, why, sizeof(why))) {
		ulo_fill_note(f, "boot profile %s not used: %s", f->profile_loc, why);
		ulo_profile_free(&p);
		goto ignored;
	}
	for (size_t i = 0; i < p.n; i++) {
		total += p.ext[i].n * p.unit;
		/* A compact cache never evicts what the boot reads. */
		ulo_cache_pin(f->c, p.ext[i].start * p.unit, p.ext[i].n * p.unit);
	}
	{
		struct ulo_compact_info ci;
		char a[32], b[32];

		if (!ulo_cache_compact_info(f->c, &ci) && ci.pinned_groups > ci.slots)
			ulo_fill_note(f, "boot profile %s: its blocks take %s of slots, more than the cache %s holds (%s): those past that are fetched at each boot; nothing pinned is evicted for them",
				      f->profile_loc,
				      ulo_fmt_size(ci.pinned_groups * ci.slot_bytes, a, sizeof(a)),
				      ulo_cache_path(f->c),
				      ulo_fmt_size(ci.slots * ci.slot_bytes, b, sizeof(b)));
	}
	pthread_mutex_lock(&f->lock);
	f->st.profile = "loaded";
	f->st.profile_bytes = total;
	pthread_mutex_unlock(&f->lock);
	ulo_engine_set_bg_depth(f->e, ULO_FILL_MAX_RANGES);
	while ((n = ulo_profile_plan(&p, &pos, ULO_FILL_WINDOW, ULO_FILL_GAP, r,
				     ULO_FILL_MAX_RANGES))) {
		for (size_t i = 0; i < n; i++) {
			ret = ulo_engine_prefetch(f->e, r[i].off, r[i].len, &q);
			queued += q;
			if (ret)
				break;
		}
		pthread_mutex_lock(&f->lock);
		f->st.profile_queued = queued;
		pthread_mutex_unlock(&f->lock);
		if (ret || ulo_fill_stopping(f))
			break;
	}
	ulo_engine_set_bg_depth(f->e, 0);
	ulo_profile_free(&p);
	free(r);
	if (ret && ret != -EINTR)
		ulo_fill_note(f, "boot profile replay stopped: %s", ulo_errmsg());
	pthread_mutex_lock(&f->lock);
	if (!ret)
		f->st.profile = "replayed";
	pthread_mutex_unlock(&f->lock);
	return;
ignored:
	free(r);
	pthread_mutex_lock(&f->lock);
	f->st.profile = "ignored";
	pthread_mutex_unlock(&f->lock);
}

/* 0 when done, else -errno (noted, or -EINTR when stopped). */
static int ulo_fill_hydrate(struct ulo_fill *f)
{
	uint64_t size = f->id.size, off, done = 0, q, t0;
	int ret = 0;

	if (f->o.jitter_s) {
		uint32_t r = 0;

		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
			r = (uint32_t)(ulo_now_ns() ^ (uint64_t)getpid());
		ulo_fill_set(f, ULO_FILL_WAIT);
		if (ulo_fill_sleep_until(f, ulo_now_ns() +
				(uint64_t)(r % (f->o.jitter_s * 1000ull + 1)) * 1000000ull))
			return -EINTR;
	}
	ulo_fill_set(f, ULO_FILL_HYDRATE);
	t0 = ulo_now_ns();
	for (off = 0; off < size; off += ULO_FILL_CHUNK) {
		if (ulo_cache_full(f->c)) {
			ulo_fill_note(f, "hydration stopped: the cache %s is full",
				      ulo_cache_path(f->c));
			return -ENOSPC;
		}
		/* A compact cache at its --cache-size: more would only evict
		 * the profile's and the boot's blocks' neighbours. */
		if (ulo_cache_at_limit(f->c)) {
			ulo_fill_note(f, "hydration stopped: the cache %s is at its size limit",
				      ulo_cache_path(f->c));
			return -ENOSPC;
		}
		ret = ulo_engine_prefetch(f->e, off, ULO_MIN((uint64_t)ULO_FILL_CHUNK, size - off), &q);
		if (ret)
			break;
		done += q;
		pthread_mutex_lock(&f->lock);
		f->st.hydrate_queued = done;
		pthread_mutex_unlock(&f->lock);
		/* Paced on what was queued: by the time the next chunk is
		 * queued, the rate allows for all of it. */
		if (f->o.rate &&
		    ulo_fill_sleep_until(f, t0 + done * 1000000000ull / f->o.rate))
			return -EINTR;
		if (ulo_fill_stopping(f))
			return -EINTR;
	}
	if (!ret)
		ret = ulo_engine_drain(f->e);
	if (ret && ret != -EINTR)
		ulo_fill_note(f, "hydration stopped: %s", ulo_errmsg());
	return ret;
}

/* Wait until the device has been idle ULO_FILL_SEED_IDLE_NS: true if
 * stopped meanwhile. */
static bool ulo_fill_wait_idle(struct ulo_fill *f)
{
	for (;;) {
		uint64_t now = ulo_now_ns(), last = ulo_engine_last_demand_ns(f->e);

		if (now - last >= ULO_FILL_SEED_IDLE_NS || last > now)
			return ulo_fill_stopping(f);
		if (ulo_fill_sleep_until(f, last + ULO_FILL_SEED_IDLE_NS))
			return true;
	}
}

/* Queue leaf @g's blocks the seed has (all of the leaf when it lacks
 * few).  0 or the engine's error. */
static int ulo_fill_seed_leaf(struct ulo_fill *f, struct ulo_seed *seed, uint64_t g,
			      uint64_t per, uint64_t dbs)
{
	const struct ulo_seedmap *m = ulo_seed_map(seed);
	uint64_t a = g * per, b = ULO_MIN(a + per, m->blocks), has = 0, q;
	int ret = 0;

	for (uint64_t d = a; d < b; d++)
		has += ulo_seed_has(seed, d);
	if (!has)
		return 0;
	if (b - a - has <= ULO_FILL_SEED_GAP)
		return ulo_engine_prefetch(f->e, a * dbs, (b - a) * dbs, &q);
	for (uint64_t d = a; !ret && d < b;) {
		uint64_t e = d;

		while (e < b && ulo_seed_has(seed, e))
			e++;
		if (e > d)
			ret = ulo_engine_prefetch(f->e, d * dbs, (e - d) * dbs, &q);
		d = e + 1;
	}
	return ret;
}

/* An update: every block the seed has, into the cache; then the seed is
 * retired and the older version's file removed. */
static int ulo_fill_seed(struct ulo_fill *f)
{
	struct ulo_source *src = f->o.seed_src;
	struct ulo_seed *seed = ulo_source_seed(src);
	struct ulo_verity_info vi;
	const struct ulo_seedmap *m;
	struct ulo_stats st;
	uint64_t per, last = UINT64_MAX;
	char a[32], b[32];
	int ret = 0;

	if (!seed || ulo_source_verity_info(src, &vi))
		return 0;
	m = ulo_seed_map(seed);
	per = vi.hash_block_size / ULO_SHA256_LEN;
	ulo_fill_set(f, ULO_FILL_SEED);
	/* (A test holds the copy here to move the flash away first.) */
	ulo_failpoint("seed-copy");
	/* The changed blocks, compressed in one request, first: when all of
	 * the version is wanted, or when the pack is small, so that a boot
	 * finds them here instead of fetching each where it reads it (one
	 * round trip per stretch of changed blocks). */
	if (f->o.apply_pack && (f->o.hydrate || m->pack_size <= ULO_FILL_PACK_AT_BOOT)) {
		uint64_t n;
		int r = f->o.apply_pack(f->e, f->c, src, f->o.hydrate, &n);

		if (r && r != -ENOENT)
			ulo_fill_note(f, "update: %s; the changed blocks are fetched one range at a time",
				      ulo_errmsg());
	}
	for (uint64_t r = 0; r < m->nruns; r++) {
		for (uint64_t g = m->runs[r].blk / per;
		     g <= (m->runs[r].blk + m->runs[r].count - 1) / per; g++) {
			if (g == last)
				continue;
			last = g;
			if (ulo_fill_wait_idle(f))
				goto drain;
			ret = ulo_fill_seed_leaf(f, seed, g, per, vi.data_block_size);
			if (ret || ulo_fill_stopping(f))
				goto drain;
		}
	}
	ret = 0;
drain:
	if (!ret)
		ret = ulo_engine_drain(f->e);
	if (!ret && ulo_fill_stopping(f))
		ret = -EINTR;
	if (ret) {
		if (ret != -EINTR)
			ulo_fill_note(f, "update: taking the older version's blocks stopped: %s; %s is kept for the next start",
				      ulo_errmsg(), ulo_seed_path(seed));
		return ret;
	}
	/* The older version goes once the cache holds all it could give,
	 * durably (a power cut right after must not lose what was copied). */
	ret = ulo_cache_commit(f->c);
	if (ret || !ulo_seed_all_taken(seed, f->c)) {
		ulo_fill_note(f, "update: %s is kept: %s", ulo_seed_path(seed),
			      ret ? ulo_errmsg() : "the cache does not hold all of its blocks (full?)");
		return ret ? ret : -ENOSPC;
	}
	ulo_engine_stats(f->e, &st);
	seed = ulo_source_take_seed(src);
	ulo_fill_note(f, "update: %s of %s taken from the older version on the flash, %s fetched so far",
		      ulo_fmt_size(st.seeded_bytes, a, sizeof(a)), f->id.location,
		      ulo_fmt_size(st.bytes_fetched, b, sizeof(b)));
	if (ulo_seed_close(seed, true))
		ulo_fill_note(f, "update: %s", ulo_errmsg());
	return 0;
}

static void *ulo_fill_main(void *arg)
{
	struct ulo_fill *f = arg;
	int ret = 0;

	if (f->o.seed_src)
		ulo_fill_seed(f);
	if (f->profile_loc) {
		ulo_fill_set(f, ULO_FILL_PROFILE);
		ulo_fill_replay(f);
	}
	if (f->o.hydrate && !ulo_fill_stopping(f)) {
		ret = ulo_fill_hydrate(f);
		if (!ret && ulo_cache_count(f->c) == ulo_cache_nblocks(f->c))
			ulo_fill_note(f, "hydrated: every block of %s is in the cache %s; it can be served without its server",
				      f->id.location, ulo_cache_path(f->c));
		else if (!ret)
			ulo_fill_note(f, "hydration ended with %" PRIu64 " of %" PRIu64 " blocks cached (the rest could not be stored)",
				      ulo_cache_count(f->c), ulo_cache_nblocks(f->c));
	}
	pthread_mutex_lock(&f->lock);
	f->st.state = ret ? ULO_FILL_STOPPED : ULO_FILL_DONE;
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int ulo_fill_start(struct ulo_engine *e, struct ulo_cache *c,
		   const struct ulo_identity *id, const struct ulo_fill_opts *o,
		   struct ulo_fill **out)
{
	struct ulo_fill *f;
	pthread_condattr_t ca;
	int ret;

	*out = NULL;
	if (!o->profile && !o->hydrate && !(o->seed_src && ulo_source_seed(o->seed_src)))
		return 0;
	if (!c)
		return ulo_err(-EINVAL, "%s: a boot profile and hydration need a cache (--cache)",
			       id->location);
	f = calloc(1, sizeof(*f));
	if (!f)
		return ulo_errno(-ENOMEM, "fill");
	f->e = e;
	f->c = c;
	f->id = *id;
	f->o = *o;
	if (o->src_opts)
		f->src_opts = *o->src_opts;
	/* The image's mirrors are the image's, not the profile's. */
	f->src_opts.nmirrors = 0;
	/* A profile is a hint, never trusted for bytes: no manifest rules. */
	f->src_opts.root_hash = NULL;
	f->src_opts.verity_key = NULL;
	f->src_opts.connections = 1;
	if (o->profile && !(f->profile_loc = strdup(o->profile))) {
		free(f);
		return ulo_errno(-ENOMEM, "fill");
	}
	f->st.profile = o->profile ? "loading" : "none";
	/* What it is about to do, from the first run state on. */
	f->st.state = o->seed_src && ulo_source_seed(o->seed_src) ? ULO_FILL_SEED :
		      o->profile ? ULO_FILL_PROFILE :
		      o->jitter_s ? ULO_FILL_WAIT : ULO_FILL_HYDRATE;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	ret = pthread_create(&f->thr, NULL, ulo_fill_main, f);
	if (ret) {
		free(f->profile_loc);
		free(f);
		return ulo_errno(-ret, "fill: starting its thread");
	}
	*out = f;
	return 0;
}

void ulo_fill_status(struct ulo_fill *f, struct ulo_fill_status *out)
{
	if (!f) {
		memset(out, 0, sizeof(*out));
		out->profile = "none";
		return;
	}
	pthread_mutex_lock(&f->lock);
	*out = f->st;
	pthread_mutex_unlock(&f->lock);
	out->complete = ulo_cache_count(f->c) == ulo_cache_nblocks(f->c);
}

void ulo_fill_stop(struct ulo_fill *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
	/* Wakes a replay or hydration blocked in ulo_engine_prefetch(). */
	ulo_engine_cancel(f->e);
	pthread_join(f->thr, NULL);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cv);
	free(f->profile_loc);
	free(f);
}
