// SPDX-License-Identifier: GPL-2.0-or-later
// reliability: partly R2 N2 E1
/*
 * test-engine.c - the fetch engine (engine.c) over an in-memory source and
 * a real cache file in a temporary directory.
 *
 * The engine is where a slow, remote image becomes a fast local one, and
 * where that could go wrong silently: a wrong byte served, a block fetched
 * twice (wasted bandwidth on a boot path), a failed fetch remembered as
 * present, or blocks of a replaced image mixed with the old one.  So the
 * test source here serves pseudo-random bytes and logs every request it
 * gets; the cases check the bytes returned, the exact requests made
 * (coalescing, dedup of fetches in flight, readahead), the cache's present
 * bits after errors, the -ESTALE latch, serving from the fetch buffer when
 * the cache cannot be written, the hydrate path (prefetch/drain), and that
 * many threads reading at once never make two requests for one block.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
/* To break a cache as a full flash does, and to see it stays broken. */
#include "cache_internal.h"
#include "engine.h"
#include "source.h"
#include "stats.h"
#include "util.h"
#include "unit.h"

static char tmpdir[] = "/tmp/uloop-unit-engine-XXXXXX";

/* ---- a small deterministic PRNG (xorshift64*) ---- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* A read length from 1 to @max, not past @room (the bytes left). */
static size_t rnd_len(uint64_t *s, uint64_t max, uint64_t room)
{
	uint64_t len = 1 + rnd(s) % max;

	return len < room ? len : room;
}

/* ---- the test source: an image in memory, every request logged ---- */

struct treq {
	uint64_t off;
	uint64_t len;
};

struct tsrc {
	struct ulo_source src;
	uint8_t *data;
	pthread_mutex_t mx;
	pthread_cond_t cv;
	struct treq *log;	/* every request in arrival order; mx */
	size_t nlog, cap;	/* mx */
	unsigned delay_us;	/* sleep this long in every request */
	bool fail;		/* -EIO for requests overlapping fail_off */
	uint64_t fail_off;
	long stale_after;	/* requests from this index on: -ESTALE; -1 never */
	bool stale_once;	/* ... only the one at stale_after */
	bool gated;		/* hold requests until tsrc_release(); mx */
	unsigned pass;		/* ... but let this many through; mx */
	unsigned at_gate;	/* requests held now; mx */
};

static int tsrc_open(struct ulo_source *src, const char *location,
		     const struct ulo_source_opts *opts)
{
	/* Never called: the tests build the source themselves. */
	return ulo_err(-EOPNOTSUPP, "%s: the test source is built in place",
		       location);
}

static int tsrc_read(struct ulo_source *src, void *buf, uint64_t off,
		     size_t len, unsigned *retries)
{
	struct tsrc *t = src->priv;
	unsigned delay;
	bool eio, stale;
	size_t idx;

	pthread_mutex_lock(&t->mx);
	if (t->nlog == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->log = realloc(t->log, t->cap * sizeof(*t->log));
		if (!t->log)
			abort();
	}
	idx = t->nlog++;
	t->log[idx].off = off;
	t->log[idx].len = len;
	if (t->gated) {
		t->at_gate++;
		while (t->gated && !t->pass)
			pthread_cond_wait(&t->cv, &t->mx);
		if (t->gated)
			t->pass--;
		t->at_gate--;
	}
	eio = t->fail && off <= t->fail_off && t->fail_off < off + len;
	stale = t->stale_after >= 0 && (long)idx >= t->stale_after &&
		(!t->stale_once || (long)idx == t->stale_after);
	delay = t->delay_us;
	pthread_mutex_unlock(&t->mx);

	if (delay)
		usleep(delay);
	if (eio)
		return ulo_err(-EIO, "test source: injected I/O error at offset %" PRIu64,
			       t->fail_off);
	if (stale)
		return ulo_err(-ESTALE, "test source: the image was replaced");
	memcpy(buf, t->data + off, len);
	return 0;
}

static void tsrc_close(struct ulo_source *src)
{
}

static const struct ulo_source_ops tsrc_ops = {
	.name = "test",
	.open = tsrc_open,
	.read = tsrc_read,
	.close = tsrc_close,
};

static void tsrc_release(struct tsrc *t)
{
	pthread_mutex_lock(&t->mx);
	t->gated = false;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mx);
}

/* Let @n held (or future) requests through the gate. */
static void tsrc_pass(struct tsrc *t, unsigned n)
{
	pthread_mutex_lock(&t->mx);
	t->pass += n;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mx);
}

static size_t tsrc_nreq(struct tsrc *t)
{
	size_t n;

	pthread_mutex_lock(&t->mx);
	n = t->nlog;
	pthread_mutex_unlock(&t->mx);
	return n;
}

static unsigned tsrc_at_gate(struct tsrc *t)
{
	unsigned n;

	pthread_mutex_lock(&t->mx);
	n = t->at_gate;
	pthread_mutex_unlock(&t->mx);
	return n;
}

/* Was exactly the request [@off, @off + @len) made (from index @from on)? */
static bool tsrc_has(struct tsrc *t, size_t from, uint64_t off, uint64_t len)
{
	bool found = false;

	pthread_mutex_lock(&t->mx);
	for (size_t i = from; i < t->nlog && !found; i++)
		found = t->log[i].off == off && t->log[i].len == len;
	pthread_mutex_unlock(&t->mx);
	return found;
}

static uint64_t tsrc_bytes(struct tsrc *t)
{
	uint64_t n = 0;

	pthread_mutex_lock(&t->mx);
	for (size_t i = 0; i < t->nlog; i++)
		n += t->log[i].len;
	pthread_mutex_unlock(&t->mx);
	return n;
}

static int treq_cmp(const void *a, const void *b)
{
	const struct treq *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* True if no two requests asked for the same byte: no block fetched twice. */
static bool tsrc_no_overlap(struct tsrc *t)
{
	struct treq *s;
	bool ok = true;
	size_t n;

	pthread_mutex_lock(&t->mx);
	n = t->nlog;
	s = malloc((n ? n : 1) * sizeof(*s));
	if (!s)
		abort();
	memcpy(s, t->log, n * sizeof(*s));
	pthread_mutex_unlock(&t->mx);
	qsort(s, n, sizeof(*s), treq_cmp);
	for (size_t i = 1; i < n; i++) {
		if (s[i].off < s[i - 1].off + s[i - 1].len) {
			fprintf(stderr, "  overlapping requests: [%" PRIu64 ", +%" PRIu64
				") and [%" PRIu64 ", +%" PRIu64 ")\n",
				s[i - 1].off, s[i - 1].len, s[i].off, s[i].len);
			ok = false;
		}
	}
	free(s);
	return ok;
}

/* ---- an engine over the test source and (optionally) a real cache ---- */

struct env {
	struct tsrc t;
	struct ulo_cache *c;	/* NULL: no cache */
	struct ulo_engine *e;
	uint64_t size;
	uint32_t bs;		/* the engine's block size */
	bool quiet;		/* env_read: errors are expected */
	char path[PATH_MAX];
};

/* Source of @size random bytes, and a new cache of @bs blocks bound to it. */
static bool env_open(struct env *v, uint64_t size, uint32_t bs, bool cache)
{
	static unsigned seq;
	struct ulo_cache_opts co = { .block_size = bs, .create = true };
	enum ulo_bind_result res;
	uint64_t s;
	int ret;

	memset(v, 0, sizeof(*v));
	v->size = size;
	v->bs = cache ? bs : ULO_DEFAULT_BLOCK_SIZE;
	v->t.data = malloc(size);
	if (!v->t.data)
		abort();
	s = 0x1234567ull + ++seq;
	for (uint64_t i = 0; i < size; i += 8) {
		uint64_t x = rnd(&s);

		memcpy(v->t.data + i, &x, ULO_MIN(8, size - i));
	}
	pthread_mutex_init(&v->t.mx, NULL);
	pthread_cond_init(&v->t.cv, NULL);
	v->t.stale_after = -1;
	v->t.src.ops = &tsrc_ops;
	v->t.src.priv = &v->t;
	v->t.src.id.kind = ULO_ID_FILE_MTIME;
	v->t.src.id.size = size;
	snprintf(v->t.src.id.location, sizeof(v->t.src.id.location),
		 "/srv/test/image-%u.img", seq);
	snprintf(v->t.src.id.validator, sizeof(v->t.src.id.validator),
		 "ino=%u mtime=1700000000.000000001", 1000 + seq);
	if (!cache)
		return true;

	snprintf(v->path, sizeof(v->path), "%s/cache-%d-%u", tmpdir,
		 (int)getpid(), seq);
	co.path = v->path;
	ret = ulo_cache_open(&co, &v->c);
	CHECK_EQ(ret, 0);
	if (ret) {
		fprintf(stderr, "  %s\n", ulo_errmsg());
		return false;
	}
	ret = ulo_cache_bind(v->c, &v->t.src.id, false, &res, NULL);
	CHECK_EQ(ret, 0);
	CHECK_EQ(res, ULO_BIND_NEW);
	CHECK_EQ(ulo_cache_block_size(v->c), bs);
	return !ret;
}

static bool env_start(struct env *v, const struct ulo_engine_opts *o)
{
	int ret = ulo_engine_new(&v->t.src, v->c, o, &v->e);

	CHECK_EQ(ret, 0);
	if (ret)
		fprintf(stderr, "  %s\n", ulo_errmsg());
	return !ret;
}

static void env_close(struct env *v)
{
	ulo_engine_free(v->e);
	if (v->c) {
		bool broken = v->c->broken;
		int ret = ulo_cache_close(v->c);

		if (!broken)
			CHECK_EQ(ret, 0);
		unlink(v->path);
	}
	pthread_mutex_destroy(&v->t.mx);
	pthread_cond_destroy(&v->t.cv);
	free(v->t.log);
	free(v->t.data);
}

static struct ulo_stats env_stats(struct env *v)
{
	struct ulo_stats s;

	ulo_engine_stats(v->e, &s);
	return s;
}

/* Read [@off, @off + @len) through the engine: 0 if the bytes are right,
 * else the error (or 1 for wrong bytes). */
static int env_read(struct env *v, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	int ret;

	if (!buf)
		abort();
	memset(buf, 0xa5, len);
	ret = ulo_engine_read(v->e, buf, off, len);
	/* The read returns before its blocks are written: what the tests
	 * check next (the cache, the counts) is after that. */
	ulo_engine_settle(v->e);
	if (ret && !v->quiet)
		fprintf(stderr, "  read of %zu at %" PRIu64 ": %d %s\n", len,
			off, ret, ulo_errmsg());
	if (!ret && memcmp(buf, v->t.data + off, len)) {
		fprintf(stderr, "  wrong bytes in read of %zu at %" PRIu64 "\n",
			len, off);
		ret = 1;
	}
	free(buf);
	return ret;
}

static uint64_t nblocks_of(const struct env *v, uint64_t off, uint64_t len)
{
	return ((off + len - 1) / v->bs) - off / v->bs + 1;
}

/* Poll @cond for up to 10 s. */
#define WAIT_FOR(cond)							\
	({								\
		bool _ok = false;					\
		for (int _i = 0; _i < 10000 && !(_ok = (cond)); _i++)	\
			usleep(1000);					\
		_ok;							\
	})

/* ---- reader threads ---- */

struct reader {
	pthread_t th;
	struct env *v;
	uint64_t off;
	size_t len;
	int ret;
	char msg[256];	/* the thread's error message after the read */
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->ret = env_read(r->v, r->off, r->len);
	snprintf(r->msg, sizeof(r->msg), "%s", ulo_errmsg());
	return NULL;
}

static void reader_start(struct reader *r, struct env *v, uint64_t off,
			 size_t len)
{
	r->v = v;
	r->off = off;
	r->len = len;
	r->ret = -1;
	r->msg[0] = 0;
	if (pthread_create(&r->th, NULL, reader_main, r))
		abort();
}

/* ---- 1. read correctness ---- */

struct range {
	uint64_t off;
	size_t len;
};

static void test_read_correctness(void)
{
	const uint32_t bs = 4096;
	const uint64_t size = 1024 * 1024 + 777;	/* last block: 777 bytes */
	struct ulo_engine_opts o = { .connections = 4,
				     .max_request = 64 * 1024 };
	struct range rd[300] = {
		{ 0, 1 }, { bs - 1, 2 }, { 3 * bs + 5, 2 * bs },
		{ size - 1, 1 }, { size - 777, 777 }, { size - 800, 800 },
		{ size - 5000, 5000 }, { 7 * bs, bs }, { 100 * bs + 1, 9 * bs },
	};
	size_t nrd = 9, bad = 0, f1;
	uint64_t s = 42, blocks = 0, bytes = 0;
	struct ulo_stats s1, s2;
	struct env v;
	uint8_t dummy;

	for (; nrd < ULO_ARRAY_SIZE(rd); nrd++) {
		rd[nrd].off = rnd(&s) % size;
		rd[nrd].len = rnd_len(&s, 3 * bs + 100, size - rd[nrd].off);
	}
	if (!env_open(&v, size, bs, true))
		goto out;
	/* An engine refuses a cache bound to another image... */
	v.t.src.id.validator[0] ^= 1;
	CHECK_EQ(ulo_engine_new(&v.t.src, v.c, &o, &v.e), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "not bound to");
	v.t.src.id.validator[0] ^= 1;
	/* ... and more connections than it has room for. */
	o.connections = ULO_MAX_CONNECTIONS + 1;
	CHECK_EQ(ulo_engine_new(&v.t.src, v.c, &o, &v.e), -EINVAL);
	o.connections = 4;
	v.e = NULL;
	if (!env_start(&v, &o))
		goto out;

	for (size_t i = 0; i < nrd; i++) {
		int ret = env_read(&v, rd[i].off, rd[i].len);

		if (ret) {
			fprintf(stderr, "  pass 1 read %zu: %d %s\n", i, ret,
				ulo_errmsg());
			bad++;
		}
		blocks += nblocks_of(&v, rd[i].off, rd[i].len);
		bytes += rd[i].len;
	}
	CHECK_EQ(bad, 0);
	s1 = env_stats(&v);
	f1 = tsrc_nreq(&v.t);
	CHECK(f1 > 0);
	CHECK_EQ(s1.fetches, f1);
	CHECK_EQ(s1.bytes_fetched, tsrc_bytes(&v.t));
	CHECK_EQ(s1.reads, nrd);
	CHECK_EQ(s1.bytes_served, bytes);
	CHECK_EQ(s1.fetch_errors, 0);
	CHECK_EQ(s1.cache_write_errors, 0);
	CHECK_EQ(s1.readahead_fetches, 0);
	/* Without readahead each block is fetched once, when first read. */
	CHECK(tsrc_no_overlap(&v.t));
	CHECK_EQ(s1.miss_blocks, tsrc_bytes(&v.t) / bs + 1);	/* + short last */

	/* The same reads again: all from the cache, no request at all. */
	for (size_t i = 0; i < nrd; i++)
		if (env_read(&v, rd[i].off, rd[i].len))
			bad++;
	CHECK_EQ(bad, 0);
	s2 = env_stats(&v);
	CHECK_EQ(tsrc_nreq(&v.t), f1);
	CHECK_EQ(s2.fetches, s1.fetches);
	CHECK_EQ(s2.miss_blocks, s1.miss_blocks);
	CHECK_EQ(s2.hit_blocks - s1.hit_blocks, blocks);
	CHECK_EQ(s2.reads, 2 * nrd);
	CHECK_EQ(s2.bytes_served, 2 * bytes);

	/* The whole image (in pieces of at most 16 blocks: see
	 * test_many_runs), then reads past the end and empty ones. */
	for (uint64_t off = 0; off < size; off += 16 * bs)
		CHECK_EQ(env_read(&v, off, ULO_MIN(16 * bs, size - off)), 0);
	CHECK(tsrc_no_overlap(&v.t));
	CHECK_EQ(tsrc_bytes(&v.t), size);
	CHECK_EQ(ulo_cache_count(v.c), ulo_cache_nblocks(v.c));
	CHECK_EQ(ulo_engine_read(v.e, &dummy, size, 0), 0);
	CHECK_EQ(ulo_engine_read(v.e, &dummy, 5, 0), 0);
	CHECK_EQ(ulo_engine_read(v.e, &dummy, size, 1), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "past the end");
	CHECK_EQ(ulo_engine_read(v.e, &dummy, size + 4096, 1), -EINVAL);
	CHECK_EQ(ulo_engine_read(v.e, &dummy, 0, size + 1), -EINVAL);
	CHECK_EQ(ulo_engine_read(v.e, &dummy, UINT64_MAX, 1), -EINVAL);
out:
	env_close(&v);
}

/* ---- 2. coalescing ---- */

static void test_coalescing(void)
{
	const uint32_t bs = 4096;
	const uint64_t size = 64 * bs;
	struct ulo_engine_opts o = { .connections = 4,
				     .max_request = 1024 * 1024 };
	struct ulo_stats st;
	struct env v;

	/* 10 contiguous missing blocks: one request for exactly them. */
	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out1;
	CHECK_EQ(env_read(&v, 10 * bs, 10 * bs), 0);
	CHECK_EQ(tsrc_nreq(&v.t), 1);
	CHECK(tsrc_has(&v.t, 0, 10 * bs, 10 * bs));
	st = env_stats(&v);
	CHECK_EQ(st.fetches, 1);
	CHECK_EQ(st.miss_blocks, 10);
	CHECK_EQ(st.hit_blocks, 0);
	for (uint64_t b = 0; b < 64; b++)
		CHECK_EQ(ulo_cache_present(v.c, b), b >= 10 && b < 20);
	/* Unaligned ends still fetch whole blocks, once. */
	CHECK_EQ(env_read(&v, 30 * bs + 100, 3 * bs), 0);
	CHECK_EQ(tsrc_nreq(&v.t), 2);
	CHECK(tsrc_has(&v.t, 1, 30 * bs, 4 * bs));
out1:
	env_close(&v);

	/* The same with requests of at most 4 blocks: 4 + 4 + 2. */
	o.max_request = 4 * bs;
	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out2;
	CHECK_EQ(env_read(&v, 10 * bs, 10 * bs), 0);
	CHECK_EQ(tsrc_nreq(&v.t), 3);
	CHECK(tsrc_has(&v.t, 0, 10 * bs, 4 * bs));
	CHECK(tsrc_has(&v.t, 0, 14 * bs, 4 * bs));
	CHECK(tsrc_has(&v.t, 0, 18 * bs, 2 * bs));
	CHECK_EQ(env_stats(&v).fetches, 3);
out2:
	env_close(&v);

	/* Blocks 2 and 5 present: reading 0-9 fetches only the gaps. */
	o.max_request = 1024 * 1024;
	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out3;
	CHECK_EQ(env_read(&v, 2 * bs + 7, 10), 0);
	CHECK_EQ(env_read(&v, 5 * bs, bs), 0);
	CHECK_EQ(tsrc_nreq(&v.t), 2);
	CHECK(ulo_cache_present(v.c, 2));
	CHECK(ulo_cache_present(v.c, 5));
	st = env_stats(&v);
	CHECK_EQ(st.miss_blocks, 2);
	CHECK_EQ(st.hit_blocks, 0);
	CHECK_EQ(env_read(&v, 0, 10 * bs), 0);
	CHECK_EQ(tsrc_nreq(&v.t), 5);
	CHECK(tsrc_has(&v.t, 2, 0, 2 * bs));
	CHECK(tsrc_has(&v.t, 2, 3 * bs, 2 * bs));
	CHECK(tsrc_has(&v.t, 2, 6 * bs, 4 * bs));
	CHECK(tsrc_no_overlap(&v.t));
	st = env_stats(&v);
	CHECK_EQ(st.fetches, 5);
	CHECK_EQ(st.miss_blocks, 2 + 8);	/* hit_blocks: test_stats_exact */
out3:
	env_close(&v);
}

/* ---- 3. in-flight dedup ---- */

static void test_dedup(void)
{
	const uint32_t bs = 4096;
	const uint64_t size = 64 * bs;
	struct ulo_engine_opts o = { .connections = 4 };
	struct reader r[8];
	struct ulo_stats st;
	struct env v;
	size_t n0;

	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out;

	/* Eight readers of block 7 (different bytes of it) while the one
	 * request for it is held by the source. */
	v.t.gated = true;
	for (int i = 0; i < 8; i++)
		reader_start(&r[i], &v, 7 * bs + i * 100, bs - i * 100 - i);
	CHECK(WAIT_FOR(tsrc_at_gate(&v.t) == 1 &&
		       env_stats(&v).joined_fetches == 7));
	st = env_stats(&v);
	CHECK_EQ(st.reads, 0);
	CHECK_EQ(tsrc_nreq(&v.t), 1);
	tsrc_release(&v.t);
	for (int i = 0; i < 8; i++) {
		pthread_join(r[i].th, NULL);
		CHECK_EQ(r[i].ret, 0);
	}
	CHECK_EQ(tsrc_nreq(&v.t), 1);
	CHECK(tsrc_has(&v.t, 0, 7 * bs, bs));
	st = env_stats(&v);
	CHECK_EQ(st.fetches, 1);
	CHECK_EQ(st.joined_fetches, 7);
	CHECK_EQ(st.miss_blocks, 8);
	CHECK_EQ(st.reads, 8);
	CHECK(ulo_cache_present(v.c, 7));

	/* Overlapping multi-block ranges: blocks 30-33 are requested once
	 * in all, whoever asks first. */
	n0 = tsrc_nreq(&v.t);
	pthread_mutex_lock(&v.t.mx);
	v.t.gated = true;
	pthread_mutex_unlock(&v.t.mx);
	for (int i = 0; i < 8; i++)
		reader_start(&r[i], &v, 30 * bs + i * 1000,
			     2 * bs + (i % 3) * 100);
	/* Every range holds block 31: once it is in flight, each later
	 * reader joins at least one run. */
	CHECK(WAIT_FOR(tsrc_at_gate(&v.t) >= 1 &&
		       env_stats(&v).joined_fetches >= 7 + 7));
	tsrc_release(&v.t);
	for (int i = 0; i < 8; i++) {
		pthread_join(r[i].th, NULL);
		CHECK_EQ(r[i].ret, 0);
	}
	CHECK(tsrc_no_overlap(&v.t));
	CHECK_EQ(tsrc_bytes(&v.t) - bs, 4 * bs);	/* block 7 + 30..33 */
	CHECK(tsrc_nreq(&v.t) - n0 <= 4);
	for (uint64_t b = 30; b < 34; b++)
		CHECK(ulo_cache_present(v.c, b));
out:
	env_close(&v);
}

/* ---- 4. readahead ---- */

static void test_readahead(void)
{
	const uint32_t bs = 4096;
	const uint64_t size = 512 * bs;
	struct ulo_engine_opts o = { .connections = 4, .readahead = 16 * bs,
				     .readahead_trigger = 128 * bs };
	static const uint64_t random_blks[] = { 40, 3, 90, 17, 60, 5, 120, 33,
						200, 8 };
	struct ulo_stats st;
	struct env v;
	size_t n;

	/* Sequential in reads of 16 blocks: readahead starts once the
	 * stream has read the trigger's bytes (128 blocks, the 8th read),
	 * with a window of 16 blocks (the limit) past it; from then on every
	 * read is a hit.  Shorter streams (a small file) fetch only what
	 * they read. */
	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out1;
	for (uint64_t i = 0; i < 7; i++) {
		CHECK_EQ(env_read(&v, i * 16 * bs, 16 * bs), 0);
		CHECK_EQ(ulo_engine_drain(v.e), 0);
	}
	CHECK_EQ(tsrc_nreq(&v.t), 7);
	CHECK_EQ(env_stats(&v).readahead_fetches, 0);
	CHECK_EQ(env_read(&v, 7 * 16 * bs, 16 * bs), 0);
	CHECK_EQ(ulo_engine_drain(v.e), 0);
	CHECK_EQ(tsrc_nreq(&v.t), 9);
	CHECK(tsrc_has(&v.t, 0, 128 * bs, 16 * bs));
	st = env_stats(&v);
	CHECK_EQ(st.readahead_fetches, 1);
	CHECK_EQ(st.readahead_bytes, 16 * bs);
	for (uint64_t b = 128; b < 144; b++)
		CHECK(ulo_cache_present(v.c, b));
	CHECK(!ulo_cache_present(v.c, 144));
	for (uint64_t b = 128; b < 192; b++) {
		CHECK_EQ(env_read(&v, b * bs, bs), 0);
		CHECK_EQ(ulo_engine_drain(v.e), 0);
	}
	st = env_stats(&v);
	CHECK_EQ(st.miss_blocks, 128);
	CHECK_EQ(st.hit_blocks, 64);
	CHECK(st.readahead_fetches > 1);
	CHECK_EQ(st.fetches, 8 + st.readahead_fetches);
	CHECK(tsrc_no_overlap(&v.t));
	/* The window stays 16 blocks past the last read. */
	CHECK(ulo_cache_present(v.c, 191 + 16));
	CHECK(!ulo_cache_present(v.c, 191 + 17));
out1:
	env_close(&v);

	/* A stream of single blocks against a slow source, without waiting
	 * for the readahead: once the trigger is reached it is queued ahead
	 * of the reader, which never makes a request of its own again. */
	if (!env_open(&v, size, bs, true))
		goto out1b;
	v.t.delay_us = 1000;
	if (!env_start(&v, &o))
		goto out1b;
	for (uint64_t b = 0; b < 256; b++)
		CHECK_EQ(env_read(&v, b * bs, bs), 0);
	CHECK_EQ(ulo_engine_drain(v.e), 0);
	st = env_stats(&v);
	CHECK(st.readahead_fetches > 0);
	CHECK_EQ(st.fetches - st.readahead_fetches, 128);
	CHECK(tsrc_no_overlap(&v.t));
	CHECK(ulo_cache_present(v.c, 255 + 16));
out1b:
	env_close(&v);

	/* Random single-block reads: never a readahead. */
	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out2;
	for (size_t i = 0; i < ULO_ARRAY_SIZE(random_blks); i++) {
		CHECK_EQ(env_read(&v, random_blks[i] * bs, bs), 0);
		CHECK_EQ(ulo_engine_drain(v.e), 0);
	}
	n = ULO_ARRAY_SIZE(random_blks);
	CHECK_EQ(tsrc_nreq(&v.t), n);
	for (size_t i = 0; i < n; i++)
		CHECK(tsrc_has(&v.t, 0, random_blks[i] * bs, bs));
	st = env_stats(&v);
	CHECK_EQ(st.readahead_fetches, 0);
	CHECK_EQ(st.readahead_bytes, 0);
	CHECK_EQ(ulo_cache_count(v.c), n);
out2:
	env_close(&v);

	/* readahead = 0: a sequential reader gets exactly what it asks. */
	o.readahead = 0;
	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out3;
	for (uint64_t b = 0; b < 32; b++) {
		CHECK_EQ(env_read(&v, b * bs, bs), 0);
		CHECK_EQ(ulo_engine_drain(v.e), 0);
	}
	CHECK_EQ(tsrc_nreq(&v.t), 32);
	for (uint64_t b = 0; b < 32; b++)
		CHECK(tsrc_has(&v.t, 0, b * bs, bs));
	st = env_stats(&v);
	CHECK_EQ(st.readahead_fetches, 0);
	CHECK_EQ(st.miss_blocks, 32);
	CHECK_EQ(ulo_cache_count(v.c), 32);
out3:
	env_close(&v);

	/* A stream up to the end of an image with a short last block: the
	 * window is cut at the end, never a request past it.  (A trigger of
	 * two blocks: the second read starts the window.) */
	o.readahead = 16 * bs;
	o.readahead_trigger = 2 * bs;
	if (!env_open(&v, 40 * bs + 100, bs, true) || !env_start(&v, &o))
		goto out4;
	for (uint64_t off = 20 * bs; off < 40 * bs; off += bs) {
		CHECK_EQ(env_read(&v, off, bs), 0);
		CHECK_EQ(ulo_engine_drain(v.e), 0);
	}
	CHECK(tsrc_has(&v.t, 0, 22 * bs, 16 * bs));
	/* Past the first window only the newly uncovered block is asked,
	 * down to the short one at the end. */
	CHECK(tsrc_has(&v.t, 0, 38 * bs, bs));
	CHECK(tsrc_has(&v.t, 0, 40 * bs, 100));
	CHECK_EQ(env_read(&v, 40 * bs, 100), 0);
	st = env_stats(&v);
	CHECK_EQ(st.fetch_errors, 0);
	CHECK_EQ(st.hit_blocks, 19);
	CHECK_EQ(ulo_cache_count(v.c), 21);
	CHECK(tsrc_no_overlap(&v.t));
	CHECK_EQ(tsrc_bytes(&v.t), 20 * bs + 100);
out4:
	env_close(&v);
}

/* ---- 5. source errors and the -ESTALE latch ---- */

static void test_errors(void)
{
	const uint32_t bs = 4096;
	const uint64_t size = 64 * bs;
	struct ulo_engine_opts o = { .connections = 4 };
	uint8_t *buf = malloc(size);
	struct ulo_stats st;
	struct env v;
	size_t n;
	int ret;

	if (!buf)
		abort();
	/* -EIO for anything touching block 10. */
	if (!env_open(&v, size, bs, true))
		goto out1;
	v.t.fail = true;
	v.t.fail_off = 10 * bs + 123;
	if (!env_start(&v, &o))
		goto out1;
	ret = ulo_engine_read(v.e, buf, 8 * bs, 5 * bs);	/* blocks 8-12 */
	CHECK_EQ(ret, -EIO);
	CHECK_STR_CONTAINS(ulo_errmsg(), "injected I/O error at offset");
	CHECK_EQ(tsrc_nreq(&v.t), 1);
	CHECK(tsrc_has(&v.t, 0, 8 * bs, 5 * bs));
	/* Nothing of the failed request is marked present. */
	for (uint64_t b = 8; b < 13; b++)
		CHECK(!ulo_cache_present(v.c, b));
	CHECK_EQ(ulo_cache_count(v.c), 0);
	st = env_stats(&v);
	CHECK_EQ(st.fetch_errors, 1);
	CHECK_EQ(st.fetches, 1);
	CHECK_EQ(st.bytes_fetched, 0);
	CHECK_EQ(st.bytes_served, 0);
	/* Other reads work, also right next to the bad block. */
	CHECK_EQ(env_read(&v, 0, 4 * bs), 0);
	CHECK_EQ(env_read(&v, 9 * bs, bs), 0);
	CHECK_EQ(env_read(&v, 11 * bs, 2 * bs), 0);
	CHECK(ulo_cache_present(v.c, 9));
	CHECK(ulo_cache_present(v.c, 11));
	CHECK(!ulo_cache_present(v.c, 10));
	/* An error is not remembered: the block is asked for again. */
	n = tsrc_nreq(&v.t);
	CHECK_EQ(ulo_engine_read(v.e, buf, 10 * bs + 5, 3), -EIO);
	CHECK_EQ(tsrc_nreq(&v.t), n + 1);
	CHECK(tsrc_has(&v.t, n, 10 * bs, bs));
	CHECK(!ulo_cache_present(v.c, 10));
	CHECK_EQ(env_stats(&v).fetch_errors, 2);
	/* Readers joined to a failing fetch all get its error and message. */
	{
		struct reader r[4];

		n = tsrc_nreq(&v.t);
		v.quiet = true;
		pthread_mutex_lock(&v.t.mx);
		v.t.gated = true;
		pthread_mutex_unlock(&v.t.mx);
		for (int i = 0; i < 4; i++)
			reader_start(&r[i], &v, 10 * bs + i, 10);
		CHECK(WAIT_FOR(tsrc_at_gate(&v.t) == 1 &&
			       env_stats(&v).joined_fetches == 3));
		tsrc_release(&v.t);
		for (int i = 0; i < 4; i++) {
			pthread_join(r[i].th, NULL);
			CHECK_EQ(r[i].ret, -EIO);
			CHECK_STR_CONTAINS(r[i].msg, "injected I/O error");
		}
		CHECK_EQ(tsrc_nreq(&v.t), n + 1);
		CHECK_EQ(env_stats(&v).fetch_errors, 3);
		CHECK(!ulo_cache_present(v.c, 10));
		v.quiet = false;
	}
	pthread_mutex_lock(&v.t.mx);
	v.t.fail = false;
	pthread_mutex_unlock(&v.t.mx);
	CHECK_EQ(env_read(&v, 8 * bs, 5 * bs), 0);
	CHECK(ulo_cache_present(v.c, 10));
out1:
	env_close(&v);

	/* -ESTALE once (the 3rd request); the source would serve again
	 * afterwards, but the engine must not ask it. */
	if (!env_open(&v, size, bs, true))
		goto out2;
	v.t.stale_after = 2;
	v.t.stale_once = true;
	if (!env_start(&v, &o))
		goto out2;
	CHECK_EQ(env_read(&v, 0, bs), 0);
	CHECK_EQ(env_read(&v, 4 * bs, 2 * bs), 0);
	ret = ulo_engine_read(v.e, buf, 20 * bs, bs);
	CHECK_EQ(ret, -ESTALE);
	CHECK_STR_CONTAINS(ulo_errmsg(), "the image was replaced");
	CHECK(!ulo_cache_present(v.c, 20));
	n = tsrc_nreq(&v.t);
	CHECK_EQ(n, 3);
	/* Missing blocks: -ESTALE with the source's message, no request. */
	ulo_set_errmsg("");
	ret = ulo_engine_read(v.e, buf, 30 * bs, 10);
	CHECK_EQ(ret, -ESTALE);
	CHECK_STR_CONTAINS(ulo_errmsg(), "the image was replaced");
	CHECK_EQ(ulo_engine_read(v.e, buf, 20 * bs, bs), -ESTALE);
	CHECK_EQ(ulo_engine_read(v.e, buf, 0, 3 * bs), -ESTALE);
	CHECK_EQ(ulo_engine_prefetch(v.e, 0, size, NULL), -ESTALE);
	CHECK_EQ(tsrc_nreq(&v.t), n);
	CHECK_EQ(ulo_cache_count(v.c), 3);
	/* Present blocks are still served. */
	CHECK_EQ(env_read(&v, 0, bs), 0);
	CHECK_EQ(env_read(&v, 4 * bs + 17, bs), 0);
	CHECK_EQ(tsrc_nreq(&v.t), n);
	st = env_stats(&v);
	CHECK_EQ(st.fetches, 3);
	CHECK_EQ(st.fetch_errors, 1);
out2:
	env_close(&v);
	free(buf);
}

/* ---- 6. a cache that cannot be written ---- */

static void test_cache_broken(void)
{
	const uint32_t bs = 65536;
	const uint64_t size = 32 * bs + 1000;
	struct ulo_engine_opts o = { .connections = 4, .readahead = 8 * bs };
	struct ulo_stats st;
	struct env v;
	uint64_t s = 7;
	size_t n;

	if (!env_open(&v, size, bs, true))
		goto out;
	v.c->broken = -ENOSPC;	/* as after a failed write: flash full */
	if (!env_start(&v, &o))
		goto out;
	for (int i = 0; i < 50; i++) {
		uint64_t off = rnd(&s) % size;
		size_t len = rnd_len(&s, 2 * bs, size - off);

		CHECK_EQ(env_read(&v, off, len), 0);
	}
	CHECK_EQ(env_read(&v, size - 1000, 1000), 0);
	CHECK_EQ(ulo_engine_drain(v.e), 0);
	st = env_stats(&v);
	CHECK(st.cache_write_errors > 0);
	CHECK_EQ(st.cache_write_errors, st.fetches - st.fetch_errors);
	CHECK_EQ(st.fetch_errors, 0);
	CHECK_EQ(ulo_cache_count(v.c), 0);
	CHECK_EQ(st.hit_blocks, 0);
	/* Nothing was kept, so the same bytes are fetched again. */
	n = tsrc_nreq(&v.t);
	CHECK_EQ(env_read(&v, 3 * bs, 10), 0);
	CHECK(tsrc_nreq(&v.t) > n);
	CHECK_EQ(v.c->broken, -ENOSPC);
out:
	env_close(&v);
}

/* ---- 7. no cache ---- */

static void test_no_cache(void)
{
	const uint64_t bs = ULO_DEFAULT_BLOCK_SIZE;
	const uint64_t size = 1024 * 1024 + 1234;
	struct ulo_engine_opts o = { .connections = 4,
				     .readahead = 1024 * 1024 };
	struct ulo_stats st;
	struct env v;
	uint64_t s = 99, blocks = 0;
	int nreads = 0;

	if (!env_open(&v, size, bs, false) || !env_start(&v, &o))
		goto out;
	for (int i = 0; i < 100; i++, nreads++) {
		uint64_t off = rnd(&s) % size;
		size_t len = rnd_len(&s, 3 * bs, size - off);

		CHECK_EQ(env_read(&v, off, len), 0);
		/* One request, for exactly the blocks under the read. */
		CHECK_EQ(tsrc_nreq(&v.t), (size_t)nreads + 1);
		CHECK(tsrc_has(&v.t, nreads, off / bs * bs,
			       ULO_MIN(nblocks_of(&v, off, len) * bs,
				       size - off / bs * bs)));
		blocks += nblocks_of(&v, off, len);
	}
	/* A sequential reader: still one request per read, no readahead. */
	for (uint64_t off = 0; off < 16 * bs; off += bs, nreads++) {
		CHECK_EQ(env_read(&v, off, bs), 0);
		blocks++;
	}
	/* The same block twice is fetched twice. */
	CHECK_EQ(env_read(&v, 5, 10), 0);
	CHECK_EQ(env_read(&v, 5, 10), 0);
	nreads += 2;
	blocks += 2;
	CHECK_EQ(env_read(&v, size - 1234, 1234), 0);
	nreads++;
	blocks++;
	CHECK_EQ(ulo_engine_prefetch(v.e, 0, size, NULL), 0);
	CHECK_EQ(ulo_engine_drain(v.e), 0);
	CHECK_EQ(tsrc_nreq(&v.t), nreads);
	st = env_stats(&v);
	CHECK_EQ(st.fetches, nreads);
	CHECK_EQ(st.readahead_fetches, 0);
	CHECK_EQ(st.hit_blocks, 0);
	CHECK_EQ(st.miss_blocks, blocks);
out:
	env_close(&v);
}

/* ---- 8. prefetch and drain (hydrate) ---- */

struct rand_reader {
	pthread_t th;
	struct env *v;
	uint64_t seed;
	unsigned n, maxlen;
	unsigned bad;
	bool stop;	/* atomic */
	unsigned done;
};

static void *rand_reader_main(void *arg)
{
	struct rand_reader *r = arg;

	for (unsigned i = 0; i < r->n &&
	     !__atomic_load_n(&r->stop, __ATOMIC_RELAXED); i++) {
		uint64_t off = rnd(&r->seed) % r->v->size;
		size_t len = rnd_len(&r->seed, r->maxlen, r->v->size - off);

		if (env_read(r->v, off, len))
			r->bad++;
		r->done++;
	}
	return NULL;
}

static void test_prefetch(void)
{
	const uint32_t bs = 65536;
	const uint64_t size = 4 * 1024 * 1024 + 3000;
	struct ulo_engine_opts o = { .connections = 4,
				     .max_request = 4 * bs,
				     .readahead = 4 * bs };
	struct rand_reader rr = { .seed = 5, .n = 200, .maxlen = 3 * bs };
	struct ulo_stats st;
	struct env v;
	bool all;
	int ret;

	/* Whole image with a reader busy at the same time: every block
	 * present after the drain, and fetched exactly once. */
	if (!env_open(&v, size, bs, true))
		goto out1;
	v.t.delay_us = 300;
	if (!env_start(&v, &o))
		goto out1;
	rr.v = &v;
	if (pthread_create(&rr.th, NULL, rand_reader_main, &rr))
		abort();
	CHECK_EQ(ulo_engine_prefetch(v.e, 0, size, NULL), 0);
	CHECK_EQ(ulo_engine_drain(v.e), 0);
	pthread_join(rr.th, NULL);
	CHECK_EQ(rr.bad, 0);
	CHECK_EQ(rr.done, rr.n);
	CHECK_EQ(ulo_engine_drain(v.e), 0);	/* the reader's readahead */
	all = true;
	for (uint64_t b = 0; b < ulo_cache_nblocks(v.c); b++)
		all &= ulo_cache_present(v.c, b);
	CHECK(all);
	CHECK_EQ(ulo_cache_count(v.c), ULO_DIV_ROUND_UP(size, bs));
	st = env_stats(&v);
	CHECK_EQ(st.bytes_fetched, size);
	CHECK_EQ(tsrc_bytes(&v.t), size);
	CHECK(tsrc_no_overlap(&v.t));
	CHECK_EQ(st.fetch_errors, 0);
	CHECK_EQ(st.cache_write_errors, 0);
	/* Requests respect max_request. */
	pthread_mutex_lock(&v.t.mx);
	for (size_t i = 0; i < v.t.nlog; i++)
		CHECK(v.t.log[i].len <= 4 * bs);
	pthread_mutex_unlock(&v.t.mx);
	/* Hydrating a hydrated image asks nothing. */
	CHECK_EQ(ulo_engine_prefetch(v.e, 0, size, NULL), 0);
	CHECK_EQ(ulo_engine_drain(v.e), 0);
	CHECK_EQ(tsrc_bytes(&v.t), size);
	CHECK_EQ(env_read(&v, 0, size), 0);
	CHECK_EQ(tsrc_bytes(&v.t), size);
	/* Out of range and empty prefetches are no-ops. */
	CHECK_EQ(ulo_engine_prefetch(v.e, size, 100, NULL), 0);
	CHECK_EQ(ulo_engine_prefetch(v.e, 0, 0, NULL), 0);
out1:
	env_close(&v);

	/* A failing region: drain reports the source's error. */
	if (!env_open(&v, size, bs, true))
		goto out2;
	v.t.fail = true;
	v.t.fail_off = 2 * 1024 * 1024 + 5;
	if (!env_start(&v, &o))
		goto out2;
	ret = ulo_engine_prefetch(v.e, 0, size, NULL);
	CHECK(ret == 0 || ret == -EIO);
	ulo_set_errmsg("");
	CHECK_EQ(ulo_engine_drain(v.e), -EIO);
	CHECK_STR_CONTAINS(ulo_errmsg(), "injected I/O error at offset");
	CHECK(!ulo_cache_present(v.c, v.t.fail_off / bs));
	CHECK(env_stats(&v).fetch_errors >= 1);
	CHECK(tsrc_no_overlap(&v.t));
	/* The error sticks for later hydrates. */
	CHECK_EQ(ulo_engine_prefetch(v.e, 0, size, NULL), -EIO);
	CHECK_EQ(ulo_engine_drain(v.e), -EIO);
	/* Reads elsewhere still work. */
	CHECK_EQ(env_read(&v, 0, 3 * bs), 0);
	CHECK_EQ(env_read(&v, size - 100, 100), 0);
out2:
	env_close(&v);
}

/* ---- 9. many readers at once ---- */

/*
 * Rounds of 8 random readers (plus a sequential stream, so readahead runs
 * too) over a fresh 4 MiB image each, so most reads meet blocks that are
 * missing or in flight rather than a warm cache.
 */
static void stress_round(unsigned round, unsigned reads_per_thread)
{
	const uint32_t bs = 4096;
	const uint64_t size = 4 * 1024 * 1024;
	struct ulo_engine_opts o = { .connections = 4,
				     .max_request = 16 * bs,
				     .readahead = 32 * bs,
				     .readahead_trigger = 2 * bs };
	struct rand_reader rr[8];
	unsigned bad = 0, done = 0;
	struct ulo_stats st;
	struct env v;
	uint64_t off;

	if (!env_open(&v, size, bs, true))
		goto out;
	v.t.delay_us = 100;
	if (!env_start(&v, &o))
		goto out;
	/* Start a stream first, so readahead is certain to happen. */
	for (off = 0; off < 3 * bs; off += bs)
		if (env_read(&v, off, bs))
			bad++;
	for (int i = 0; i < 8; i++) {
		memset(&rr[i], 0, sizeof(rr[i]));
		rr[i].v = &v;
		rr[i].seed = 1000 * round + i + 1;
		rr[i].n = reads_per_thread;
		rr[i].maxlen = 3 * bs;
		if (pthread_create(&rr[i].th, NULL, rand_reader_main, &rr[i]))
			abort();
	}
	if (round % 2) {
		for (; off < 256 * bs; off += 2 * bs)
			if (env_read(&v, off, 2 * bs))
				bad++;
	} else {
		/* A hydrate racing the readers. */
		CHECK_EQ(ulo_engine_prefetch(v.e, 0, size, NULL), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(rr[i].th, NULL);
		bad += rr[i].bad;
		done += rr[i].done;
	}
	CHECK_EQ(ulo_engine_drain(v.e), 0);
	CHECK_EQ(bad, 0);
	CHECK_EQ(done, 8 * reads_per_thread);
	st = env_stats(&v);
	CHECK_EQ(st.fetch_errors, 0);
	CHECK_EQ(st.cache_write_errors, 0);
	CHECK(st.readahead_fetches > 0);
	/* The dedup guarantee: no byte was requested twice. */
	CHECK(tsrc_no_overlap(&v.t));
	CHECK_EQ(st.bytes_fetched, tsrc_bytes(&v.t));
	CHECK_EQ(st.fetches, tsrc_nreq(&v.t));
	CHECK_EQ(ulo_cache_count(v.c) * bs, tsrc_bytes(&v.t));
	/* And what the cache holds is the image. */
	for (off = 0; off < size; off += 16 * bs)
		CHECK_EQ(env_read(&v, off, 16 * bs), 0);
	CHECK(tsrc_no_overlap(&v.t));
	CHECK_EQ(tsrc_bytes(&v.t), size);
out:
	env_close(&v);
}

static void test_stress(void)
{
	for (unsigned round = 1; round <= 6; round++)
		stress_round(round, 150);
}

/* ---- 10. counters: each block of a read is one hit or one miss ---- */

static void test_stats_exact(void)
{
	const uint32_t bs = 4096;
	const uint64_t size = 256 * bs;
	struct ulo_engine_opts o = { .connections = 4 };
	struct ulo_stats st, st0;
	uint64_t s = 3, blocks = 0;
	struct env v;

	/* Blocks 2 and 5 present, then a read of blocks 0-9. */
	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out1;
	CHECK_EQ(env_read(&v, 2 * bs, bs), 0);
	CHECK_EQ(env_read(&v, 5 * bs, bs), 0);
	st0 = env_stats(&v);
	CHECK_EQ(env_read(&v, 0, 10 * bs), 0);
	st = env_stats(&v);
	CHECK_EQ(st.hit_blocks - st0.hit_blocks, 2);
	CHECK_EQ(st.miss_blocks - st0.miss_blocks, 8);
out1:
	env_close(&v);

	/* Random reads, one thread, no readahead. */
	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out2;
	for (int i = 0; i < 300; i++) {
		uint64_t off = rnd(&s) % size;
		size_t len = rnd_len(&s, 4 * bs, size - off);

		CHECK_EQ(env_read(&v, off, len), 0);
		blocks += nblocks_of(&v, off, len);
	}
	st = env_stats(&v);
	CHECK_EQ(st.hit_blocks + st.miss_blocks, blocks);
	CHECK_EQ(st.miss_blocks, tsrc_bytes(&v.t) / bs);
out2:
	env_close(&v);
}

/* ---- 11. one read that needs more than 16 runs ---- */

/*
 * Every other block present, then one read over 40 blocks: 20 runs of one
 * block to wait for.  Run in a child process so that a crash here is this
 * case failing rather than the end of the whole test.
 */
static int many_runs_child(void)
{
	const uint32_t bs = 4096;
	const uint64_t size = 64 * bs;
	struct ulo_engine_opts o = { .connections = 4 };
	struct env v;
	int ret = 1;

	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out;
	for (uint64_t b = 0; b < 40; b += 2)
		if (env_read(&v, b * bs, 1))
			goto out;
	if (env_read(&v, 0, 40 * bs))
		goto out;
	if (tsrc_nreq(&v.t) != 40 || !tsrc_no_overlap(&v.t))
		goto out;
	ret = 0;
out:
	env_close(&v);
	return ret;
}

static void test_many_runs(void)
{
	int status = -1;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		CHECK(pid >= 0);
		return;
	}
	if (!pid)
		_exit(many_runs_child());
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "  child: %s %d\n",
			WIFEXITED(status) ? "exit" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- 12. a reader goes before queued hydrate work ---- */

struct prefetcher {
	pthread_t th;
	struct env *v;
	int ret;
};

static void *prefetcher_main(void *arg)
{
	struct prefetcher *p = arg;

	p->ret = ulo_engine_prefetch(p->v->e, 0, p->v->size, NULL);
	if (!p->ret)
		p->ret = ulo_engine_drain(p->v->e);
	return NULL;
}

static void test_demand_first(void)
{
	const uint32_t bs = 4096;
	const uint64_t size = 64 * bs;
	struct ulo_engine_opts o = { .connections = 2,
				     .max_request = 4 * bs };
	struct prefetcher p = { .ret = -1 };
	struct reader r;
	struct env v;

	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out;
	/* Two workers: the hydrate queues 2 x 2 runs of 4 blocks in one go;
	 * the first two are held by the source, [8, 12) and [12, 16) wait. */
	v.t.gated = true;
	p.v = &v;
	if (pthread_create(&p.th, NULL, prefetcher_main, &p))
		abort();
	CHECK(WAIT_FOR(tsrc_at_gate(&v.t) == 2));
	/* A reader of block 13 joins the queued run and moves it first: the
	 * first worker let go takes it, not [8, 12). */
	reader_start(&r, &v, 13 * bs + 10, 100);
	CHECK(WAIT_FOR(env_stats(&v).joined_fetches == 1));
	tsrc_pass(&v.t, 1);
	CHECK(WAIT_FOR(tsrc_nreq(&v.t) == 3 && tsrc_at_gate(&v.t) == 2));
	tsrc_release(&v.t);
	pthread_join(r.th, NULL);
	CHECK_EQ(r.ret, 0);
	pthread_join(p.th, NULL);
	CHECK_EQ(p.ret, 0);
	pthread_mutex_lock(&v.t.mx);
	CHECK(v.t.nlog >= 3);
	if (v.t.nlog >= 3) {
		CHECK_EQ(v.t.log[2].off, 12 * bs);
		CHECK_EQ(v.t.log[2].len, 4 * bs);
	}
	pthread_mutex_unlock(&v.t.mx);
	CHECK_EQ(tsrc_nreq(&v.t), 16);
	CHECK(tsrc_no_overlap(&v.t));
	CHECK_EQ(ulo_cache_count(v.c), 64);
	CHECK_EQ(env_stats(&v).miss_blocks, 1);
out:
	env_close(&v);
}

/* ---- 12b. a deep background queue (a profile's replay) ---- */

static void test_bg_depth(void)
{
	const uint32_t bs = 4096;
	const uint64_t size = 64 * bs;
	struct ulo_engine_opts o = { .connections = 2,
				     .max_request = 4 * bs,
				     .demand_reserve = true };
	uint64_t queued = 0;
	struct reader r;
	struct env v;

	if (!env_open(&v, size, bs, true) || !env_start(&v, &o))
		goto out;
	/* With the source holding every request, the whole image (16 runs
	 * of 4 blocks) is queued at once: the call does not wait for the
	 * default 2 x 2 runs to finish.  One worker takes the first run, the
	 * other is kept for demand reads. */
	v.t.gated = true;
	ulo_engine_set_bg_depth(v.e, 16);
	CHECK_EQ(ulo_engine_prefetch(v.e, 0, size, &queued), 0);
	CHECK_EQ(queued, size);
	CHECK(WAIT_FOR(tsrc_at_gate(&v.t) == 1));
	/* A read near the end joins its queued run, whole, rather than
	 * fetching its block on its own ahead of the replay. */
	reader_start(&r, &v, 61 * bs, 100);
	CHECK(WAIT_FOR(env_stats(&v).joined_fetches == 1));
	CHECK(WAIT_FOR(tsrc_at_gate(&v.t) == 2));
	tsrc_release(&v.t);
	pthread_join(r.th, NULL);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(ulo_engine_drain(v.e), 0);
	ulo_engine_set_bg_depth(v.e, 0);
	CHECK_EQ(tsrc_nreq(&v.t), 16);
	CHECK(tsrc_no_overlap(&v.t));
	pthread_mutex_lock(&v.t.mx);
	CHECK(v.t.nlog >= 2);
	if (v.t.nlog >= 2) {
		CHECK_EQ(v.t.log[1].off, 60 * bs);
		CHECK_EQ(v.t.log[1].len, 4 * bs);
	}
	pthread_mutex_unlock(&v.t.mx);
	CHECK_EQ(ulo_cache_count(v.c), 64);
out:
	env_close(&v);
}

/* ---- 13. the rate cap ---- */

static void test_rate(void)
{
	const uint32_t bs = 65536;
	struct ulo_engine_opts o = { .connections = 4,
				     .rate = 2 * 1024 * 1024 };
	uint64_t t0, ms;
	struct env v;

	/* 8 requests of 64 KiB at 2 MiB/s: the last starts >= 7/32 s in. */
	if (!env_open(&v, 16 * bs, bs, true) || !env_start(&v, &o))
		goto out;
	t0 = ulo_now_ns();
	for (uint64_t b = 0; b < 16; b += 2)
		CHECK_EQ(env_read(&v, b * bs, 1), 0);
	ms = (ulo_now_ns() - t0) / 1000000;
	CHECK_EQ(tsrc_nreq(&v.t), 8);
	CHECK(ms >= 7 * 1000 / 32 - 5);
	if (ms < 7 * 1000 / 32 - 5)
		fprintf(stderr, "  8 requests in %" PRIu64 " ms\n", ms);
out:
	env_close(&v);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_read_correctness);
	UNIT_RUN(test_coalescing);
	UNIT_RUN(test_dedup);
	UNIT_RUN(test_readahead);
	UNIT_RUN(test_errors);
	UNIT_RUN(test_cache_broken);
	UNIT_RUN(test_no_cache);
	UNIT_RUN(test_prefetch);
	UNIT_RUN(test_stress);
	UNIT_RUN(test_stats_exact);
	UNIT_RUN(test_many_runs);
	UNIT_RUN(test_demand_first);
	UNIT_RUN(test_bg_depth);
	UNIT_RUN(test_rate);
	unit_rm_tree(tmpdir);
	return unit_done();
}
