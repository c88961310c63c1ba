// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * engine.c - the fetch engine.
 *
 * Design notes
 *
 * A "run" is one source request for blocks [blk, blk + nblk).  Every run
 * not yet finished is on the in-flight list and has its blocks set in the
 * "busy" bitmap, so a reader wanting one of them joins the run (takes a
 * reference and waits) instead of fetching the block again.  Runs wait in
 * two queues: demand (a reader is waiting) before background (hydrate and
 * readahead); a reader that joins a queued background run moves it to the
 * demand queue, so a boot never waits behind a hydrate.
 *
 * Locking: e->lock protects the queues, the in-flight list, the busy
 * bitmap, the readahead state and the error latches.  It is never held
 * across source or cache I/O: a worker takes a run under the lock, drops
 * it, fetches into the run's own buffer, marks it fetched (its readers
 * copy from the buffer and go: a boot's read does not wait for the flash
 * write), stores the blocks in the cache (which sets their present bits),
 * and only then retakes the lock to mark the run done.  So a block is
 * always either present or busy or missing, never "done but invisible",
 * and readers copy from the run's buffer, so a cache that cannot be
 * written (full flash) still serves correct data.
 *
 * A source that reports -ESTALE (the image changed) latches the engine:
 * every later fetch fails the same way and nothing of the new image is
 * ever stored under the old identity.
 *
 * A flash given up (too many bad reads) is dropped to RAM: the first fetch
 * after that makes a store in memory (src/ramstore.h) and every fetch
 * keeps its blocks there, which readers then find as hits.  The cache's
 * one warning says so (its giveup_note).
 */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bitmap.h"
#include "plan.h"
#include "ramstore.h"
#include "util.h"

/* In this order: a reader waits for FETCHED or later. */
enum ulo_run_state { ULO_RUN_QUEUED, ULO_RUN_RUNNING, ULO_RUN_FETCHED, ULO_RUN_DONE };
enum ulo_queue_id { ULO_Q_NONE, ULO_Q_DEMAND, ULO_Q_BG };

struct ulo_run {
	uint64_t blk, nblk;	/* blocks fetched */
	uint64_t off;		/* image offset of blk */
	size_t len;		/* bytes: short at the image end */
	uint8_t *buf;		/* filled by the worker */
	enum ulo_run_state state;
	enum ulo_queue_id queue;
	bool background;	/* counted in bg_outstanding */
	bool readahead;
	bool counted_bg;	/* taken by a worker as background: bg_running */
	int err;		/* -errno once done, if failed */
	char *errmsg;
	unsigned refs;		/* queue/worker + each joined reader */
	struct ulo_run *qprev, *qnext;	/* queue links */
	struct ulo_run *iprev, *inext;	/* in-flight list links */
};

struct ulo_runq {
	struct ulo_run *head, *tail;
};

struct ulo_engine {
	struct ulo_source *src;
	struct ulo_cache *cache;	/* NULL: fetch every time */
	struct ulo_ramstore *ram;	/* once the flash is given up; atomic */
	uint64_t ram_budget;	/* bytes it may hold */
	char giveup_note[96];	/* the cache's warning, on giving up */
	uint32_t shift;
	uint64_t bs, image_size, nblocks;
	uint64_t max_blocks;	/* per request */
	struct ulo_ra_policy ra_pol;	/* bytes; max 0: no readahead */
	uint64_t rate;		/* bytes/s, 0 = unlimited */

	pthread_mutex_t lock;
	pthread_cond_t work_cv;	/* workers: a run was queued */
	pthread_cond_t done_cv;	/* readers/hydrate: a run finished */
	struct ulo_runq demand, bg;	/* lock */
	struct ulo_run *inflight;	/* lock */
	struct ulo_bitmap busy;	/* blocks of in-flight runs; lock */
	unsigned bg_outstanding;	/* background runs not done; lock */
	unsigned bg_limit;	/* lock */
	unsigned bg_limit_default;
	int bg_err;		/* first background failure; lock */
	char bg_msg[1024];
	int stale;		/* -ESTALE latch; lock */
	char stale_msg[1024];
	struct ulo_ra ra;	/* lock */
	unsigned bg_running;	/* background runs taken by workers; lock */
	bool demand_reserve;
	struct ulo_profile_rec rec;	/* when recording (rec.unit != 0) */
	bool stop;		/* lock */
	bool cancelled;		/* lock: no more background work */
	bool write_error_told;	/* atomic: the cache's write failure logged */

	pthread_t workers[ULO_MAX_CONNECTIONS];
	unsigned nworkers;

	pthread_mutex_t rate_lock;
	uint64_t rate_next_ns;	/* rate_lock */
	uint64_t last_demand_ns;	/* the last ulo_engine_read() (atomic) */

	struct ulo_stats st;	/* atomics */
};

static void ulo_q_push(struct ulo_runq *q, struct ulo_run *r, enum ulo_queue_id id)
{
	r->queue = id;
	r->qnext = NULL;
	r->qprev = q->tail;
	if (q->tail)
		q->tail->qnext = r;
	else
		q->head = r;
	q->tail = r;
}

static void ulo_q_del(struct ulo_runq *q, struct ulo_run *r)
{
	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		q->head = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		q->tail = r->qprev;
	r->qprev = r->qnext = NULL;
	r->queue = ULO_Q_NONE;
}

static void ulo_run_put(struct ulo_run *r)
{
	if (--r->refs)
		return;
	free(r->buf);
	free(r->errmsg);
	free(r);
}

/* Find the in-flight run holding @blk.  Lock held. */
static struct ulo_run *ulo_find_run(struct ulo_engine *e, uint64_t blk)
{
	if (!ulo_bitmap_test(&e->busy, blk))
		return NULL;
	for (struct ulo_run *r = e->inflight; r; r = r->inext)
		if (blk >= r->blk && blk < r->blk + r->nblk)
			return r;
	return NULL;
}

static struct ulo_ramstore *ulo_ram(struct ulo_engine *e)
{
	return __atomic_load_n(&e->ram, __ATOMIC_ACQUIRE);
}

static bool ulo_is_present(struct ulo_engine *e, uint64_t blk)
{
	return (e->cache && ulo_cache_present(e->cache, blk)) ||
	       ulo_ram_has(ulo_ram(e), blk);
}

/* The RAM store of a given-up flash, made on first use (NULL: no memory
 * for it; the blocks are then fetched each time).  Lock not held. */
static struct ulo_ramstore *ulo_ram_get(struct ulo_engine *e)
{
	struct ulo_ramstore *rs = ulo_ram(e);

	if (rs)
		return rs;
	pthread_mutex_lock(&e->lock);
	rs = e->ram;
	if (!rs) {
		rs = ulo_ram_new(e->nblocks, e->bs, e->image_size, e->ram_budget);
		__atomic_store_n(&e->ram, rs, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&e->lock);
	return rs;
}

/* Create and queue a run.  Lock held.  Returns it with one reference (the
 * queue's), or NULL on allocation failure. */
static struct ulo_run *ulo_run_queue(struct ulo_engine *e, uint64_t blk,
				     uint64_t n, bool background, bool readahead)
{
	struct ulo_run *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->blk = blk;
	r->nblk = n;
	r->off = blk << e->shift;
	r->len = ULO_MIN(n << e->shift, e->image_size - r->off);
	r->refs = 1;
	r->background = background;
	r->readahead = readahead;
	r->state = ULO_RUN_QUEUED;
	r->inext = e->inflight;
	if (e->inflight)
		e->inflight->iprev = r;
	e->inflight = r;
	for (uint64_t i = 0; i < n; i++)
		ulo_bitmap_set(&e->busy, blk + i);
	if (background) {
		e->bg_outstanding++;
		ulo_q_push(&e->bg, r, ULO_Q_BG);
	} else {
		ulo_q_push(&e->demand, r, ULO_Q_DEMAND);
	}
	pthread_cond_signal(&e->work_cv);
	return r;
}

/* Lock held. */
static void ulo_run_finish(struct ulo_engine *e, struct ulo_run *r)
{
	r->state = ULO_RUN_DONE;
	if (r->counted_bg) {
		e->bg_running--;
		/* A worker kept for demand may take background work again. */
		if (e->bg.head)
			pthread_cond_signal(&e->work_cv);
	}
	if (r->iprev)
		r->iprev->inext = r->inext;
	else
		e->inflight = r->inext;
	if (r->inext)
		r->inext->iprev = r->iprev;
	for (uint64_t i = 0; i < r->nblk; i++)
		ulo_bitmap_clear(&e->busy, r->blk + i);
	if (r->background) {
		e->bg_outstanding--;
		/* Readahead is a guess: its failure is no hydrate's failure. */
		if (r->err && !e->bg_err && r->err != -ECANCELED &&
		    !r->readahead) {
			e->bg_err = r->err;
			snprintf(e->bg_msg, sizeof(e->bg_msg), "%s",
				 r->errmsg ? r->errmsg : "");
		}
	}
	pthread_cond_broadcast(&e->done_cv);
	ulo_run_put(r);
}

static void ulo_rate_wait(struct ulo_engine *e, size_t len)
{
	uint64_t now, start;
	struct timespec ts;

	if (!e->rate)
		return;
	pthread_mutex_lock(&e->rate_lock);
	now = ulo_now_ns();
	start = ULO_MAX(now, e->rate_next_ns);
	e->rate_next_ns = start + (uint64_t)len * 1000000000ull / e->rate;
	pthread_mutex_unlock(&e->rate_lock);
	if (start > now) {
		ts.tv_sec = (start - now) / 1000000000ull;
		ts.tv_nsec = (start - now) % 1000000000ull;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

uint64_t ulo_engine_last_demand_ns(struct ulo_engine *e)
{
	return __atomic_load_n(&e->last_demand_ns, __ATOMIC_RELAXED);
}

bool ulo_engine_paced(const struct ulo_engine *e)
{
	return e->rate != 0;
}

void ulo_engine_pace(struct ulo_engine *e, uint64_t bytes)
{
	ulo_rate_wait(e, (size_t)bytes);
}

/* Fetch @r into its buffer.  Lock not held. */
static int ulo_run_fetch(struct ulo_engine *e, struct ulo_run *r)
{
	unsigned retries = 0;
	uint64_t t0;
	int ret;

	r->buf = malloc(r->len);
	if (!r->buf)
		return ulo_errno(-ENOMEM, "%s: buffer for %zu bytes",
				 e->src->id.location, r->len);
	/* The rate is the network's: what an update's seed gives is local. */
	if (e->rate)
		ulo_rate_wait(e, r->len - ulo_source_seeded_in(e->src, r->off, r->len));
	t0 = ulo_now_ns();
	ret = ulo_source_read(e->src, r->buf, r->off, r->len, &retries);
	ulo_stat_add(&e->st.fetch_lat_us[ulo_lat_bucket((ulo_now_ns() - t0) / 1000)], 1);
	ulo_stat_add(&e->st.fetches, 1);
	ulo_stat_add(&e->st.retries, retries);
	if (ret) {
		ulo_stat_add(&e->st.fetch_errors, 1);
		return ret;
	}
	ulo_stat_add(&e->st.bytes_fetched, r->len);
	if (r->readahead) {
		ulo_stat_add(&e->st.readahead_fetches, 1);
		ulo_stat_add(&e->st.readahead_bytes, r->len);
	}
	return 0;
}

/* Store fetched @r in the cache (or RAM).  Lock not held. */
static void ulo_run_store(struct ulo_engine *e, struct ulo_run *r)
{
	if (e->cache && ulo_cache_given_up(e->cache)) {
		struct ulo_ramstore *rs = ulo_ram_get(e);

		if (rs)
			ulo_ram_put(rs, r->blk, r->nblk, r->buf);
	} else if (e->cache) {
		int ret = ulo_cache_write_blocks(e->cache, r->blk, r->buf, r->len);

		/* Served from the buffer anyway; the block is fetched again
		 * next time.  Only the write that failed is worth a line (the
		 * cache refuses the rest after it: a full flash), and only
		 * the first such, should two fetchers fail at once. */
		if (!ret || ulo_cache_given_up(e->cache))
			return;
		__atomic_add_fetch(&e->st.cache_write_errors, 1, __ATOMIC_RELAXED);
		if (ret < 0 && !__atomic_exchange_n(&e->write_error_told, true, __ATOMIC_RELAXED))
			ulo_warn("%s; blocks not yet cached are fetched from the source each time",
				 ulo_errmsg());
	}
}

static void *ulo_worker(void *arg)
{
	struct ulo_engine *e = arg;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		struct ulo_run *r = e->demand.head;
		int ret;

		/* The last free worker is kept for demand reads: a boot's
		 * read never waits for a hydrate's or a profile's fetch to
		 * finish (unless there is only one worker). */
		if (!r && (!e->demand_reserve || e->nworkers == 1 ||
			   e->bg_running + 1 < e->nworkers))
			r = e->bg.head;
		if (e->stop)
			break;
		if (!r) {
			pthread_cond_wait(&e->work_cv, &e->lock);
			continue;
		}
		ulo_q_del(r->queue == ULO_Q_BG ? &e->bg : &e->demand, r);
		r->state = ULO_RUN_RUNNING;
		r->counted_bg = r->background;
		if (r->counted_bg)
			e->bg_running++;
		if (e->stale) {
			r->err = e->stale;
			r->errmsg = strdup(e->stale_msg);
			ulo_run_finish(e, r);
			continue;
		}
		pthread_mutex_unlock(&e->lock);

		ret = ulo_run_fetch(e, r);
		if (!ret) {
			/* Its readers go now; the flash write is not theirs to
			 * wait for.  The run stays in flight (busy) until the
			 * blocks are present, so a new reader joins it rather
			 * than fetch them again. */
			pthread_mutex_lock(&e->lock);
			r->state = ULO_RUN_FETCHED;
			pthread_cond_broadcast(&e->done_cv);
			pthread_mutex_unlock(&e->lock);
			ulo_run_store(e, r);
		}

		pthread_mutex_lock(&e->lock);
		if (ret) {
			r->err = ret;
			r->errmsg = strdup(ulo_errmsg());
			if (ret == -ESTALE && !e->stale) {
				e->stale = ret;
				snprintf(e->stale_msg, sizeof(e->stale_msg), "%s",
					 ulo_errmsg());
			}
		}
		ulo_run_finish(e, r);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/*
 * The source's peek (source.h): bytes the cache holds, for a source that
 * reads back what it fetched before (the verity source's hash blocks, so
 * a warm node fetches none).  Anything not plainly there (a block missing
 * or being fetched, a checksum failing) is -ENOENT: the source fetches it
 * itself, and the engine finds the fault when it reads the block.
 */
static int ulo_engine_peek(void *ctx, void *buf, uint64_t off, size_t len)
{
	struct ulo_engine *e = ctx;
	uint64_t bad;

	if (!len || off + len > e->image_size)
		return -ENOENT;
	for (uint64_t b = off >> e->shift; b <= (off + len - 1) >> e->shift; b++)
		if (!ulo_cache_present(e->cache, b))
			return -ENOENT;
	return ulo_cache_read_checked(e->cache, buf, off, len, &bad) ? -ENOENT : 0;
}

/*
 * The source's store (source.h): bytes it verified on its own (the verity
 * source's hash blocks, fetched or computed), kept like fetched ones.
 * Blocks present or in flight are left alone; one that a run starts to
 * fetch right after the check is written twice with the same bytes.
 */
static void ulo_engine_store(void *ctx, const void *buf, uint64_t off, size_t len)
{
	struct ulo_engine *e = ctx;
	uint64_t end = ULO_MIN(off + len, e->image_size);

	for (uint64_t blk = ULO_DIV_ROUND_UP(off, e->bs); blk < e->nblocks; blk++) {
		uint64_t at = blk << e->shift, n = ULO_MIN((uint64_t)e->bs, e->image_size - at);
		bool take;

		if (at + n > end)
			break;
		pthread_mutex_lock(&e->lock);
		take = !ulo_is_present(e, blk) && !ulo_bitmap_test(&e->busy, blk);
		pthread_mutex_unlock(&e->lock);
		if (take && !ulo_cache_given_up(e->cache))
			ulo_cache_write_blocks(e->cache, blk, (const uint8_t *)buf + (at - off), n);
	}
}

int ulo_engine_new(struct ulo_source *src, struct ulo_cache *cache,
		   const struct ulo_engine_opts *o, struct ulo_engine **out)
{
	struct ulo_engine *e;
	unsigned n = o->connections ? o->connections : ULO_DEFAULT_CONNECTIONS;
	uint64_t maxreq = o->max_request ? o->max_request : ULO_DEFAULT_MAX_REQUEST;
	int ret;

	if (n > ULO_MAX_CONNECTIONS)
		return ulo_err(-EINVAL, "%u connections: at most %u", n,
			       ULO_MAX_CONNECTIONS);
	if (cache && (!ulo_cache_is_laid_out(cache) ||
		      !ulo_identity_same(ulo_cache_identity(cache), &src->id)))
		return ulo_err(-EINVAL, "cache %s: not bound to %s",
			       ulo_cache_path(cache), src->id.location);
	e = calloc(1, sizeof(*e));
	if (!e)
		return ulo_errno(-ENOMEM, "engine");
	e->src = src;
	e->cache = cache;
	e->image_size = src->id.size;
	e->bs = cache ? ulo_cache_block_size(cache) : ULO_DEFAULT_BLOCK_SIZE;
	e->shift = __builtin_ctzll(e->bs);
	e->nblocks = ULO_DIV_ROUND_UP(e->image_size, e->bs);
	if (cache) {
		e->ram_budget = ulo_ram_default_budget(e->image_size);
		snprintf(e->giveup_note, sizeof(e->giveup_note),
			 "blocks fetched from now on are kept in RAM, at most %" PRIu64 " MiB",
			 e->ram_budget >> 20);
		ulo_cache_set_giveup_note(cache, e->giveup_note);
	}
	e->max_blocks = ULO_MAX((uint64_t)1, maxreq >> e->shift);
	/* Readahead only makes sense when there is a cache to keep it in. */
	e->ra_pol.max = cache ? o->readahead : 0;
	e->ra_pol.init = ULO_MIN(e->ra_pol.max, ULO_RA_INIT);
	e->ra_pol.trigger = o->readahead_trigger ? o->readahead_trigger : ULO_RA_TRIGGER;
	e->rate = o->rate;
	e->bg_limit = e->bg_limit_default = 2 * n;
	e->demand_reserve = o->demand_reserve;
	if (o->record_profile && ulo_profile_rec_init(&e->rec, e->image_size, e->bs)) {
		free(e);
		return -ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->rate_lock, NULL);
	pthread_cond_init(&e->work_cv, NULL);
	pthread_cond_init(&e->done_cv, NULL);
	if (ulo_bitmap_init(&e->busy, e->nblocks)) {
		free(e);
		return ulo_errno(-ENOMEM, "engine: busy bitmap");
	}
	if (cache) {
		src->peek = ulo_engine_peek;
		src->store = ulo_engine_store;
		src->peek_ctx = e;
	}
	for (e->nworkers = 0; e->nworkers < n; e->nworkers++) {
		ret = pthread_create(&e->workers[e->nworkers], NULL, ulo_worker, e);
		if (ret) {
			ulo_engine_free(e);
			return ulo_errno(-ret, "engine: starting worker thread");
		}
	}
	*out = e;
	return 0;
}

/* What a reader collects while planning: the runs it will wait for. */
struct ulo_read_ctx {
	struct ulo_engine *e;
	struct ulo_run **waits;	/* starts as @stackw, moves to the heap */
	struct ulo_run **stackw;
	size_t nwaits, cap;
	int err;
};

static int ulo_ctx_add(struct ulo_read_ctx *x, struct ulo_run *r)
{
	if (x->nwaits == x->cap) {
		size_t cap = x->cap * 2;
		struct ulo_run **w = malloc(cap * sizeof(*w));

		if (!w)
			return -ENOMEM;
		memcpy(w, x->waits, x->nwaits * sizeof(*w));
		if (x->waits != x->stackw)
			free(x->waits);
		x->waits = w;
		x->cap = cap;
	}
	r->refs++;
	x->waits[x->nwaits++] = r;
	return 0;
}

/* Skip predicate for a reader: present blocks are hits; blocks of a run in
 * flight are joined.  Lock held. */
static bool ulo_read_skip(void *ctx, uint64_t blk)
{
	struct ulo_read_ctx *x = ctx;
	struct ulo_engine *e = x->e;
	struct ulo_run *r;

	if (ulo_is_present(e, blk)) {
		ulo_stat_add(&e->st.hit_blocks, 1);
		return true;
	}
	r = ulo_find_run(e, blk);
	if (!r)
		return false;
	ulo_stat_add(&e->st.miss_blocks, 1);
	for (size_t i = 0; i < x->nwaits; i++)
		if (x->waits[i] == r)
			return true;
	ulo_stat_add(&e->st.joined_fetches, 1);
	if (r->queue == ULO_Q_BG) {
		/* Someone waits for it now: jump the hydrate queue. */
		ulo_q_del(&e->bg, r);
		ulo_q_push(&e->demand, r, ULO_Q_DEMAND);
		pthread_cond_signal(&e->work_cv);
	}
	if (ulo_ctx_add(x, r))
		x->err = -ENOMEM;
	return true;
}

/* Skip predicate for background work: anything present or in flight. */
static bool ulo_bg_skip(void *ctx, uint64_t blk)
{
	struct ulo_engine *e = ctx;

	return ulo_is_present(e, blk) || ulo_bitmap_test(&e->busy, blk);
}

static void ulo_queue_readahead(struct ulo_engine *e, uint64_t off,
				size_t len, uint64_t last)
{
	uint64_t w = e->ra_pol.max ? ulo_ra_update(&e->ra, off, len, &e->ra_pol) : 0;
	struct ulo_span sp[8];
	uint64_t blk = last + 1, end, next;
	size_t n;

	/* Readahead lives in the cache: a full one would throw it away
	 * and fetch it again when it is read. */
	if (!w || blk >= e->nblocks || e->stale || ulo_cache_full(e->cache))
		return;
	end = ULO_MIN(e->nblocks - 1, last + ULO_DIV_ROUND_UP(w, e->bs));
	while (blk <= end) {
		n = ulo_plan_spans(blk, end, e->max_blocks, ulo_bg_skip, e, sp,
				   ULO_ARRAY_SIZE(sp), &next);
		for (size_t i = 0; i < n; i++) {
			struct ulo_run *r = ulo_run_queue(e, sp[i].blk, sp[i].n,
							  true, true);
			if (!r)
				return;
			/* uloop.ko serves these blocks' reads in the kernel,
			 * unseen here: what is read ahead is in the profile. */
			if (e->rec.unit)
				ulo_profile_rec_note(&e->rec, sp[i].blk, sp[i].n);
		}
		blk = next;
	}
}

/* Copy [off, off + len) to @buf from the runs waited for and the cache. */
static int ulo_read_copy(struct ulo_engine *e, struct ulo_read_ctx *x,
			 uint8_t *buf, uint64_t off, size_t len)
{
	uint64_t pos = off, end = off + len;

	while (pos < end) {
		uint64_t blk = pos >> e->shift, stop;
		struct ulo_run *r = NULL;

		for (size_t i = 0; i < x->nwaits && !r; i++)
			if (blk >= x->waits[i]->blk &&
			    blk < x->waits[i]->blk + x->waits[i]->nblk)
				r = x->waits[i];
		if (r) {
			if (r->err) {
				ulo_set_errmsg(r->errmsg ? r->errmsg : "fetch failed");
				return r->err;
			}
			stop = ULO_MIN(end, r->off + r->len);
			memcpy(buf + (pos - off), r->buf + (pos - r->off), stop - pos);
		} else if (ulo_ram_has(ulo_ram(e), blk)) {
			/* Held in RAM (the flash given up): never removed. */
			stop = ULO_MIN(end, (blk + 1) << e->shift);
			ulo_ram_copy(ulo_ram(e), blk, pos, stop - pos, buf + (pos - off));
		} else {
			int ret;

			/* Present when planned: take the longest such stretch. */
			stop = ULO_MIN(end, (blk + 1) << e->shift);
			while (stop < end) {
				uint64_t nb = stop >> e->shift;
				bool waited = false;

				for (size_t i = 0; i < x->nwaits && !waited; i++)
					waited = nb >= x->waits[i]->blk &&
						 nb < x->waits[i]->blk + x->waits[i]->nblk;
				if (waited)
					break;
				stop = ULO_MIN(end, (nb + 1) << e->shift);
			}
			uint64_t bad;

			ret = ulo_cache_read_checked(e->cache, buf + (pos - off), pos,
						     stop - pos, &bad);
			if (ret == -ENOMEM)
				return ret;
			if (ret) {
				/* The flash failed it or it is not what was
				 * stored: take the block back and read again,
				 * which fetches it from the source. */
				ulo_cache_fault(e->cache, bad, ret);
				return -EAGAIN;
			}
		}
		pos = stop;
	}
	return 0;
}

/* One pass of ulo_engine_read(): -EAGAIN when a cached block turned out
 * bad and was taken back (the next pass fetches it). */
static int ulo_engine_read_once(struct ulo_engine *e, void *buf, uint64_t off,
				size_t len)
{
	struct ulo_run *stackw[16];
	struct ulo_read_ctx x = { .e = e, .waits = stackw, .stackw = stackw,
				  .cap = ULO_ARRAY_SIZE(stackw) };
	struct ulo_span sp[8];
	uint64_t first, last, blk, next;
	int ret = 0;

	first = off >> e->shift;
	last = (off + len - 1) >> e->shift;

	pthread_mutex_lock(&e->lock);
	for (blk = first; blk <= last && !x.err; blk = next) {
		size_t n = ulo_plan_spans(blk, last, e->max_blocks, ulo_read_skip,
					  &x, sp, ULO_ARRAY_SIZE(sp), &next);

		for (size_t i = 0; i < n && !x.err; i++) {
			struct ulo_run *r;

			ulo_stat_add(&e->st.miss_blocks, sp[i].n);
			r = ulo_run_queue(e, sp[i].blk, sp[i].n, false, false);
			if (!r || ulo_ctx_add(&x, r))
				x.err = -ENOMEM;
		}
	}
	if (!x.err)
		ulo_queue_readahead(e, off, len, last);
	for (size_t i = 0; i < x.nwaits; i++)
		while (x.waits[i]->state < ULO_RUN_FETCHED)
			pthread_cond_wait(&e->done_cv, &e->lock);
	pthread_mutex_unlock(&e->lock);

	if (x.err)
		ret = ulo_errno(x.err, "%s: planning a read", e->src->id.location);
	else
		ret = ulo_read_copy(e, &x, buf, off, len);

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < x.nwaits; i++)
		ulo_run_put(x.waits[i]);
	pthread_mutex_unlock(&e->lock);
	if (x.waits != stackw)
		free(x.waits);
	return ret;
}

int ulo_engine_read(struct ulo_engine *e, void *buf, uint64_t off, size_t len)
{
	uint64_t nblk, passes;
	int ret;

	if (off > e->image_size || len > e->image_size - off)
		return ulo_err(-EINVAL, "%s: read of %zu bytes at %" PRIu64
			       " is past the end of the image (%" PRIu64 " bytes)",
			       e->src->id.location, len, off, e->image_size);
	if (!len)
		return 0;
	nblk = ((off + len - 1) >> e->shift) - (off >> e->shift) + 1;
	__atomic_store_n(&e->last_demand_ns, ulo_now_ns(), __ATOMIC_RELAXED);
	if (e->rec.unit)
		ulo_profile_rec_note(&e->rec, off >> e->shift, nblk);
	/* An update's boot: what the older version on the flash holds
	 * unchanged is read from there, as a warm read is (no fetch, no
	 * digest, no write); the fill copies it into the cache while the
	 * device is idle (fill.c). */
	if (!ulo_source_read_local(e->src, buf, off, len)) {
		ulo_stat_add(&e->st.hit_blocks, nblk);
		ulo_stat_add(&e->st.reads, 1);
		ulo_stat_add(&e->st.bytes_served, len);
		return 0;
	}
	/* Each -EAGAIN took a block back, which the next pass copies from
	 * its fetch, never from the flash: at most one pass per block. */
	passes = nblk + 1;
	do
		ret = ulo_engine_read_once(e, buf, off, len);
	while (ret == -EAGAIN && --passes);
	if (ret == -EAGAIN) {
		/* Blocks taken back kept coming back bad (re-marked between
		 * passes by another fetch, and failing again): the source
		 * still has the bytes, so read them from it directly. */
		ret = ulo_source_read(e->src, buf, off, len, NULL);
		ulo_stat_add(&e->st.fetches, 1);
		if (!ret)
			ulo_stat_add(&e->st.bytes_fetched, len);
	}
	ulo_stat_add(&e->st.reads, 1);
	if (!ret)
		ulo_stat_add(&e->st.bytes_served, len);
	return ret;
}

int ulo_engine_prefetch(struct ulo_engine *e, uint64_t off, uint64_t len,
			uint64_t *queued)
{
	uint64_t bytes = 0;
	uint64_t blk, last, next;
	struct ulo_span sp;
	int ret = 0;

	if (!e->cache || !len)
		return 0;
	if (off >= e->image_size)
		return 0;
	len = ULO_MIN(len, e->image_size - off);
	blk = off >> e->shift;
	last = (off + len - 1) >> e->shift;
	pthread_mutex_lock(&e->lock);
	while (blk <= last) {
		while (e->bg_outstanding >= e->bg_limit && !e->bg_err &&
		       !e->stale && !e->cancelled)
			pthread_cond_wait(&e->done_cv, &e->lock);
		if (e->cancelled) {
			ret = ulo_err(-EINTR, "%s: interrupted", e->src->id.location);
			break;
		}
		if (e->stale || e->bg_err) {
			ret = e->stale ? e->stale : e->bg_err;
			ulo_set_errmsg(e->stale ? e->stale_msg : e->bg_msg);
			break;
		}
		if (ulo_plan_spans(blk, last, e->max_blocks, ulo_bg_skip, e, &sp,
				   1, &next)) {
			struct ulo_run *r = ulo_run_queue(e, sp.blk, sp.n, true, false);

			if (!r) {
				ret = ulo_errno(-ENOMEM, "engine: queueing a fetch");
				break;
			}
			bytes += r->len;
		}
		blk = next;
	}
	pthread_mutex_unlock(&e->lock);
	if (queued)
		*queued = bytes;
	return ret;
}

int ulo_engine_profile(struct ulo_engine *e, struct ulo_profile *out)
{
	if (!e->rec.unit)
		return ulo_err(-ENOENT, "%s: no boot profile recorded", e->src->id.location);
	return ulo_profile_rec_snapshot(&e->rec, &e->src->id, out);
}

uint64_t ulo_engine_profile_generation(struct ulo_engine *e)
{
	uint64_t g;

	if (!e->rec.unit)
		return 0;
	pthread_mutex_lock(&e->rec.lock);
	g = e->rec.generation;
	pthread_mutex_unlock(&e->rec.lock);
	return g;
}

void ulo_engine_set_bg_depth(struct ulo_engine *e, unsigned runs)
{
	pthread_mutex_lock(&e->lock);
	e->bg_limit = runs ? runs : e->bg_limit_default;
	pthread_cond_broadcast(&e->done_cv);
	pthread_mutex_unlock(&e->lock);
}

uint64_t ulo_engine_block_size(struct ulo_engine *e)
{
	return e->bs;
}

void ulo_engine_cancel(struct ulo_engine *e)
{
	struct ulo_run *r, *next;

	pthread_mutex_lock(&e->lock);
	e->cancelled = true;
	for (r = e->bg.head; r; r = next) {
		next = r->qnext;
		ulo_q_del(&e->bg, r);
		r->err = -ECANCELED;
		ulo_run_finish(e, r);
	}
	pthread_cond_broadcast(&e->done_cv);
	pthread_mutex_unlock(&e->lock);
}

void ulo_engine_settle(struct ulo_engine *e)
{
	pthread_mutex_lock(&e->lock);
	while (e->inflight)
		pthread_cond_wait(&e->done_cv, &e->lock);
	pthread_mutex_unlock(&e->lock);
}

int ulo_engine_drain(struct ulo_engine *e)
{
	int ret;

	pthread_mutex_lock(&e->lock);
	while (e->bg_outstanding)
		pthread_cond_wait(&e->done_cv, &e->lock);
	ret = e->bg_err;
	if (ret)
		ulo_set_errmsg(e->bg_msg);
	pthread_mutex_unlock(&e->lock);
	return ret;
}

void ulo_engine_stats(struct ulo_engine *e, struct ulo_stats *out)
{
	const uint64_t *src = (const uint64_t *)&e->st;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	if (e->cache) {
		struct ulo_cache_damage d;

		ulo_cache_damage(e->cache, &d);
		out->cache_csum_errors = d.csum_errors;
		out->cache_read_errors = d.read_errors;
		out->cache_refetched = d.refetched;
		out->bitmap_csum_errors = d.bitmap_csum_errors;
		out->cache_given_up = d.given_up;
		out->cache_write_failed = d.write_failed;
		out->cache_full = d.full;
	}
	out->ram_bytes = ulo_ram_bytes(ulo_ram(e));
	out->verify_failures = __atomic_load_n(&e->src->bad_blocks, __ATOMIC_RELAXED);
	/* The source read these from an older version on the flash: the
	 * engine asked for them, the network did not carry them. */
	out->seeded_bytes = __atomic_load_n(&e->src->seeded_bytes, __ATOMIC_RELAXED);
	out->bytes_fetched -= ULO_MIN(out->bytes_fetched, out->seeded_bytes);
}

void ulo_engine_free(struct ulo_engine *e)
{
	struct ulo_run *r;

	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_broadcast(&e->work_cv);
	pthread_mutex_unlock(&e->lock);
	for (unsigned i = 0; i < e->nworkers; i++)
		pthread_join(e->workers[i], NULL);
	if (e->src->peek_ctx == e) {
		e->src->peek = NULL;
		e->src->store = NULL;
		e->src->peek_ctx = NULL;
	}
	pthread_mutex_lock(&e->lock);
	while ((r = e->demand.head ? e->demand.head : e->bg.head)) {
		ulo_q_del(r->queue == ULO_Q_BG ? &e->bg : &e->demand, r);
		r->err = -ECANCELED;
		ulo_run_finish(e, r);
	}
	pthread_mutex_unlock(&e->lock);
	ulo_bitmap_free(&e->busy);
	ulo_profile_rec_free(&e->rec);
	ulo_ram_free(e->ram);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->rate_lock);
	pthread_cond_destroy(&e->work_cv);
	pthread_cond_destroy(&e->done_cv);
	free(e);
}
