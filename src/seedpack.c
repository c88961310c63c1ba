// SPDX-License-Identifier: GPL-2.0-or-later
/* seedpack.c - see seedpack.h. */
#include "seedpack.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zstd.h>

#include "seed.h"
#include "source.h"
#include "util.h"

#define ULO_PK_HDR 40		/* a run's record before its bytes */
#define ULO_PK_END UINT64_MAX
#define ULO_PK_CHUNK (1u << 20)	/* fetched at a time */
#define ULO_PK_PACED_CHUNK (16u << 10)	/* ...under a rate limit */
/* The window a pack is written with and the most a node accepts: 16 MiB
 * of memory on the node, whatever the pack says. */
#define ULO_PK_WINDOW_LOG 24

struct ulo_pk_rec {
	uint64_t blk, count;
	uint32_t prefix, suffix;
	uint64_t prefix_old, suffix_old;
};

static void ulo_pk_encode(const struct ulo_pk_rec *r, uint8_t *h)
{
	ulo_put_le64(h, r->blk);
	ulo_put_le64(h + 8, r->count);
	ulo_put_le32(h + 16, r->prefix);
	ulo_put_le64(h + 20, r->prefix_old);
	ulo_put_le32(h + 28, r->suffix);
	ulo_put_le64(h + 32, r->suffix_old);
}

static void ulo_pk_decode(const uint8_t *h, struct ulo_pk_rec *r)
{
	r->blk = ulo_get_le64(h);
	r->count = ulo_get_le64(h + 8);
	r->prefix = ulo_get_le32(h + 16);
	r->prefix_old = ulo_get_le64(h + 20);
	r->suffix = ulo_get_le32(h + 28);
	r->suffix_old = ulo_get_le64(h + 32);
}

/* Publish's side. */

struct ulo_pk_out {
	ZSTD_CCtx *z;
	int fd;
	const char *what;
	uint8_t *buf;
	size_t cap;
	uint64_t off;
};

static int ulo_pk_emit(struct ulo_pk_out *o, const void *p, size_t n, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { p, n, 0 };

	for (;;) {
		ZSTD_outBuffer out = { o->buf, o->cap, 0 };
		size_t left = ZSTD_compressStream2(o->z, &out, &in, end);
		int ret;

		if (ZSTD_isError(left))
			return ulo_err(-EIO, "%s: zstd: %s", o->what, ZSTD_getErrorName(left));
		ret = ulo_pwrite_full(o->fd, o->buf, out.pos, o->off);
		if (ret)
			return ulo_errno(ret, "%s: write at %" PRIu64, o->what, o->off);
		o->off += out.pos;
		if (end == ZSTD_e_end ? !left : in.pos == in.size)
			return 0;
	}
}

/* The record of gap [@b0, @b1): its edges that continue the old bytes
 * of the mapped blocks around it. */
static void ulo_pk_edges(const uint8_t *old, uint64_t old_len, const uint8_t *new,
			 const struct ulo_seedmap *m, uint64_t b0, uint64_t b1,
			 struct ulo_pk_rec *r)
{
	uint64_t bs = m->block_size, len = (b1 - b0) * bs, o;

	*r = (struct ulo_pk_rec){ .blk = b0, .count = b1 - b0 };
	if (b0 && !ulo_seedmap_find(m, b0 - 1, &o)) {
		uint64_t at = o + bs, p = 0;

		while (p < len && p < UINT32_MAX && at + p < old_len && new[b0 * bs + p] == old[at + p])
			p++;
		r->prefix = (uint32_t)p;
		r->prefix_old = at;
	}
	if (b1 < m->blocks && !ulo_seedmap_find(m, b1, &o)) {
		uint64_t q = 0;

		while (q < len - r->prefix && q < UINT32_MAX && q < o &&
		       new[b1 * bs - 1 - q] == old[o - 1 - q])
			q++;
		r->suffix = (uint32_t)q;
		r->suffix_old = o - q;
	}
}

int ulo_seedpack_write(const uint8_t *old, uint64_t old_len, const uint8_t *new,
		       uint64_t new_len, const struct ulo_seedmap *m, int fd,
		       const char *what, struct ulo_seedpack_stats *st)
{
	struct ulo_pk_out o = { .fd = fd, .what = what };
	uint8_t h[ULO_PK_HDR];
	struct ulo_pk_rec r;
	uint64_t at = 0, bs = m->block_size;
	int ret = 0;

	memset(st, 0, sizeof(*st));
	o.z = ZSTD_createCCtx();
	o.cap = ZSTD_CStreamOutSize();
	o.buf = malloc(o.cap);
	if (!o.z || !o.buf) {
		ret = ulo_errno(-ENOMEM, "%s", what);
		goto out;
	}
	ZSTD_CCtx_setParameter(o.z, ZSTD_c_compressionLevel, ULO_SEEDPACK_LEVEL);
	ZSTD_CCtx_setParameter(o.z, ZSTD_c_enableLongDistanceMatching, 1);
	ZSTD_CCtx_setParameter(o.z, ZSTD_c_windowLog, ULO_PK_WINDOW_LOG);
	ZSTD_CCtx_setParameter(o.z, ZSTD_c_checksumFlag, 1);
	ret = ulo_pk_emit(&o, ULO_SEEDPACK_MAGIC, strlen(ULO_SEEDPACK_MAGIC), ZSTD_e_continue);
	/* The gaps between runs, and after the last. */
	for (uint64_t i = 0; !ret && i <= m->nruns; i++) {
		uint64_t end = i < m->nruns ? m->runs[i].blk : new_len / bs;

		if (end > at) {
			ulo_pk_edges(old, old_len, new, m, at, end, &r);
			ulo_pk_encode(&r, h);
			ret = ulo_pk_emit(&o, h, sizeof(h), ZSTD_e_continue);
			if (!ret)
				ret = ulo_pk_emit(&o, new + at * bs + r.prefix,
						  (end - at) * bs - r.prefix - r.suffix, ZSTD_e_continue);
			st->runs++;
			st->literal += (end - at) * bs - r.prefix - r.suffix;
			st->edges += r.prefix + r.suffix;
		}
		if (i < m->nruns)
			at = m->runs[i].blk + m->runs[i].count;
	}
	if (!ret) {
		r = (struct ulo_pk_rec){ .blk = ULO_PK_END };
		ulo_pk_encode(&r, h);
		ret = ulo_pk_emit(&o, h, sizeof(h), ZSTD_e_end);
	}
	st->size = o.off;
out:
	ZSTD_freeCCtx(o.z);
	free(o.buf);
	return ret;
}

int ulo_seedpack_write_files(int old_fd, int new_fd, const struct ulo_seedmap *m,
			     int fd, const char *what, struct ulo_seedpack_stats *st)
{
	uint64_t new_len = m->blocks * m->block_size;
	void *old, *new;
	int ret = ulo_mmap_ro(old_fd, m->old_size, what, &old);

	if (ret)
		return ret;
	ret = ulo_mmap_ro(new_fd, new_len, what, &new);
	if (!ret) {
		ret = ulo_seedpack_write(old, m->old_size, new, new_len, m, fd, what, st);
		munmap(new, new_len);
	}
	munmap(old, m->old_size);
	return ret;
}

/* A node's side: the pack read in order, decompressed as it comes. */

struct ulo_pk_in {
	struct ulo_source *src;
	void (*pace)(void *ctx, uint64_t bytes);
	void *ctx;
	uint64_t off;		/* compressed bytes fetched */
	ZSTD_DCtx *z;
	uint8_t *ibuf, *obuf;
	ZSTD_inBuffer in;
	size_t ocap, opos, olen;
	bool ended;		/* the frame is complete */
};

/* Decompress some more into the empty output buffer, fetching the next
 * part of the pack when the input is used up. */
static int ulo_pk_step(struct ulo_pk_in *r)
{
	ZSTD_outBuffer out = { r->obuf, r->ocap, 0 };
	size_t left;

	if (r->in.pos == r->in.size) {
		size_t len = (size_t)ULO_MIN((uint64_t)(r->pace ? ULO_PK_PACED_CHUNK : ULO_PK_CHUNK),
					     r->src->id.size - r->off);
		int ret;

		if (!len)
			return ulo_err(-EINVAL, "%s: cut short", r->src->id.location);
		if (r->pace)
			r->pace(r->ctx, len);
		ret = ulo_source_read(r->src, r->ibuf, r->off, len, NULL);
		if (ret)
			return ret;
		r->off += len;
		r->in = (ZSTD_inBuffer){ r->ibuf, len, 0 };
	}
	left = ZSTD_decompressStream(r->z, &out, &r->in);
	if (ZSTD_isError(left))
		return ulo_err(-EINVAL, "%s: zstd: %s", r->src->id.location, ZSTD_getErrorName(left));
	r->ended = !left;
	r->opos = 0;
	r->olen = out.pos;
	return 0;
}

/* Exactly @n decompressed bytes into @buf. */
static int ulo_pk_read(struct ulo_pk_in *r, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		size_t k;
		int ret;

		if (r->opos < r->olen) {
			k = ULO_MIN(n, r->olen - r->opos);
			memcpy(p, r->obuf + r->opos, k);
			p += k;
			r->opos += k;
			n -= k;
			continue;
		}
		if (r->ended)
			return ulo_err(-EINVAL, "%s: ends in the middle of a record", r->src->id.location);
		ret = ulo_pk_step(r);
		if (ret)
			return ret;
	}
	return 0;
}

/* After the end record: the frame must end there, its checksum right
 * (zstd checks it at the frame's end, which a reader that stopped at the
 * last record would never reach). */
static int ulo_pk_finish(struct ulo_pk_in *r)
{
	while (!r->ended || r->opos < r->olen) {
		int ret;

		if (r->opos < r->olen)
			return ulo_err(-EINVAL, "%s: more after its end record", r->src->id.location);
		ret = ulo_pk_step(r);
		if (ret)
			return ret;
	}
	return 0;
}

/* Bytes [@at, + @n) of run @rec's block bytes (0 = the run's start) into
 * @dst: the edges from the old image (false if it lacks them), the
 * middle from the pack (always read, so the stream stays in step). */
static int ulo_pk_fill(struct ulo_pk_in *r, struct ulo_seed *seed, const struct ulo_pk_rec *rec,
		       uint64_t len, uint64_t at, uint8_t *dst, size_t n, bool *ok)
{
	while (n) {
		uint64_t k;
		int ret = 0;

		if (at < rec->prefix) {
			k = ULO_MIN((uint64_t)n, rec->prefix - at);
			*ok = *ok && !ulo_seed_read_old(seed, rec->prefix_old + at, dst, (size_t)k);
		} else if (at < len - rec->suffix) {
			k = ULO_MIN((uint64_t)n, len - rec->suffix - at);
			ret = ulo_pk_read(r, dst, (size_t)k);
		} else {
			k = n;
			*ok = *ok && !ulo_seed_read_old(seed, rec->suffix_old + (at - (len - rec->suffix)),
						       dst, (size_t)k);
		}
		if (ret)
			return ret;
		at += k;
		dst += k;
		n -= (size_t)k;
	}
	return 0;
}

int ulo_seedpack_apply(struct ulo_source *pack, struct ulo_seed *seed,
		       int (*flush)(void *ctx), void (*pace)(void *ctx, uint64_t bytes),
		       void *ctx, uint64_t *blocks)
{
	const struct ulo_seedmap *m = ulo_seed_map(seed);
	struct ulo_pk_in r = { .src = pack, .pace = pace, .ctx = ctx };
	uint64_t bs = m->block_size, next = 0, held = 0;
	char magic[sizeof(ULO_SEEDPACK_MAGIC) - 1];
	uint8_t h[ULO_PK_HDR], *blk = malloc(bs);
	const char *what = pack->id.location;
	int ret;

	*blocks = 0;
	r.z = ZSTD_createDCtx();
	r.ocap = ZSTD_DStreamOutSize();
	r.ibuf = malloc(ULO_PK_CHUNK);
	r.obuf = malloc(r.ocap);
	if (!r.z || !r.ibuf || !r.obuf || !blk) {
		ret = ulo_errno(-ENOMEM, "%s", what);
		goto out;
	}
	ZSTD_DCtx_setParameter(r.z, ZSTD_d_windowLogMax, ULO_PK_WINDOW_LOG);
	ret = ulo_pk_read(&r, magic, sizeof(magic));
	if (!ret && memcmp(magic, ULO_SEEDPACK_MAGIC, sizeof(magic)))
		ret = ulo_err(-EINVAL, "%s: not a uloop pack", what);
	while (!ret) {
		struct ulo_pk_rec rec;
		uint64_t len;

		ret = ulo_pk_read(&r, h, sizeof(h));
		if (ret)
			break;
		ulo_pk_decode(h, &rec);
		if (rec.blk == ULO_PK_END) {
			ret = ulo_pk_finish(&r);
			break;
		}
		len = rec.count * bs;
		if (rec.blk < next || !rec.count || rec.blk >= m->blocks ||
		    rec.count > m->blocks - rec.blk ||
		    (uint64_t)rec.prefix + rec.suffix > len ||
		    rec.prefix_old > m->old_size || rec.prefix > m->old_size - rec.prefix_old ||
		    rec.suffix_old > m->old_size || rec.suffix > m->old_size - rec.suffix_old) {
			ret = ulo_err(-EINVAL, "%s: a run of blocks %" PRIu64 "+%" PRIu64
				      " that does not fit the map", what, rec.blk, rec.count);
			break;
		}
		next = rec.blk + rec.count;
		for (uint64_t j = 0; !ret && j < rec.count; j++) {
			bool ok = true;

			ret = ulo_pk_fill(&r, seed, &rec, len, j * bs, blk, bs, &ok);
			if (ret || !ok)
				continue;
			ret = ulo_seed_put(seed, rec.blk + j, blk);
			if (!ret && ++held * bs >= ULO_SEEDPACK_FLUSH_BYTES) {
				ret = flush(ctx);
				*blocks += held;
				held = 0;
			}
		}
	}
	if (!ret && held) {
		ret = flush(ctx);
		*blocks += held;
	}
out:
	ZSTD_freeDCtx(r.z);
	free(r.ibuf);
	free(r.obuf);
	free(blk);
	return ret;
}
