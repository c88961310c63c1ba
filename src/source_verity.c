// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * source_verity.c - a published version, read through its manifest, every
 * fetched byte verified against its dm-verity hash tree.
 *
 * Design notes
 *
 * The location is a manifest (uloop publish; manifest.h), read once at
 * open through the plain sources (a file or HTTP).  Trust: with a root
 * hash given (--root-hash, rd.uloop.roothash) the manifest must carry that
 * root hash; with a key given (--verity-key, the key packed into the
 * initramfs) its signature must verify under it.  A manifest that fails
 * either is refused before anything of it is read, so nothing of it is
 * cached.  With neither, the manifest is taken as the server gave it
 * (TLS vouches for the server); docs/verity.md says what that protects.
 *
 * The source is the version's image followed by its hash file, one device:
 *
 *     [0, size)                 the image (data blocks)
 *     [size, size + tree)       the hash file: superblock block, levels
 *
 * so the cache keeps the tree with the image, and dm-verity stacks on the
 * same block device (hash_start = size / hash block + 1).  The identity is
 * the root hash (ULO_ID_VERITY), with the tree's geometry so that an
 * offline node can stack dm-verity from the cache alone:
 * "ROOTHEX:DATA_BLOCKS:DATA_BLOCK_SIZE:HASH_BLOCK_SIZE".  The root hash
 * names every byte, so a cache of it needs no sample compared at bind.
 *
 * Every read is verified before it is returned, so the engine never
 * caches or serves a byte the tree does not vouch for:
 *
 *   - data blocks: SHA-256(salt || block) against their leaf digest;
 *   - hash blocks: against their digest one level up; the top block
 *     against the root hash.
 *
 * The levels above the leaves are small (1/128 of the leaves each) and
 * are loaded and verified with the superblock before the first read, from
 * the cache when it holds them, else from the server.  Leaves are
 * loaded when a data block needs them, ULO_VSRC_LEAF_CHUNK hash blocks
 * (128 KiB of hashes for 16 MiB of data) at a time: from the cache when
 * it holds them (the engine's peek; a warm node fetches none), else from
 * the hash file on the server, verified against level 1 either way.  A
 * boot's reads are scattered over the image, so they need most leaves:
 * 8 at a time cost bench/peers' boot-like pass 105 more requests, a
 * serial round trip each.  Verified hash blocks stay in memory (the
 * buffer is the tree's size, 1/128 of the image, filled as needed), and
 * reads of the device's tree region are served from there when loaded.
 *
 * A block that does not verify is counted (src->bad_blocks, in `uloop
 * status`) and the server that sent it dropped if another is left
 * (read_server/drop_server: mirrors), and the read asked again; the last
 * server's bad bytes fail the read with EIO.
 *
 * Updates (a seed: seed.h, docs/updates.md).  When the node's flash holds
 * an older version, data blocks the seed map finds there are read from it
 * instead of fetched, and checked the same way.  Their leaves need not be
 * fetched either: a leaf hash block is the digests of its 128 data
 * blocks, so when all of them are at hand (in the read, or in the seed)
 * the node computes it and checks it against level 1, which vouches for
 * all 128 blocks at once.  A leaf whose blocks are partly neither is
 * fetched, alone; so is, with its neighbours (ULO_VSRC_LEAF_CHUNK), one
 * that a read covers less than a quarter of (hashing its other blocks
 * would cost a boot more than 4 KiB of hashes).  A seeded block that
 * fails its check (the map is a hint, the old flash may rot) is fetched
 * instead.  Cheaper still, where both versions are salted alike (publish
 * keeps the salt): a leaf equal to the older version's leaf of the same
 * index (read from the seed's tree, one digest against level 1) says its
 * 128 blocks did not move or change, and they are served from the seed
 * as a warm cache's are, map or no map (ulo_source_read_local: no fetch,
 * digest or write).  A read of the tree region fetches the leaves that
 * changed rather than computing them (ulo_vsrc_read_tree).
 */
#include "source.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "seed.h"
#include "seedmap.h"
#include "util.h"
#include "verity.h"

#define ULO_VSRC_LEAF_CHUNK 32
#define ULO_VSRC_URL_MAX ULO_ID_LOCATION_MAX

struct ulo_vsrc {
	struct ulo_source *img, *tree;
	struct ulo_manifest m;
	struct ulo_verity_layout l;
	uint64_t img_size, tree_size;
	uint32_t dbs, hbs, per;		/* per: digests in a hash block */
	uint64_t first_lazy;		/* hash blocks before it: loaded at open */
	uint8_t *tree_buf;		/* the hash file, where loaded */
	uint8_t *loaded;		/* per hash block: 1 once verified */
	pthread_mutex_t lock;
	char root_hex[2 * ULO_SHA256_LEN + 1];
	/* An older version to take blocks from: read under seed_lock's read
	 * side, taken away under its write side. */
	struct ulo_seed *seed;
	pthread_rwlock_t seed_lock;
	/* The seed's leaves (its hash file, on the flash), where salted like
	 * this version's: hash blocks [old_leaf_start, + old_leaves) of it;
	 * none if not.  @leaf_same, per leaf of this version: 0 not known
	 * yet, 1 equal to the seed's (ulo_vsrc_leaf_same), 2 not; under
	 * @lock, set up with the seed. */
	uint64_t old_leaf_start, old_leaves;
	uint8_t *leaf_same;
	/* One reader loads the top of the tree; the others wait for it
	 * instead of fetching it too. */
	pthread_mutex_t top_lock;
	pthread_mutex_t leaf_lock;	/* the same for leaves */
	/* What it was opened with, to fetch a seed map the same way (the
	 * strings are the caller's, alive while the source is). */
	struct ulo_source_opts opts;
};

/* @location with its last path component replaced by @name. */
static int ulo_vsrc_sibling(const char *location, const char *name, char *out,
			    size_t cap)
{
	size_t path = strcspn(location, "?#");
	size_t dir = path;

	while (dir && location[dir - 1] != '/')
		dir--;
	if (dir + strlen(name) + 1 > cap)
		return ulo_err(-ENAMETOOLONG, "%s: URL too long", location);
	memcpy(out, location, dir);
	strcpy(out + dir, name);
	return 0;
}

/* Read the whole manifest at @location (a plain source). */
static int ulo_vsrc_fetch_manifest(const char *location,
				   const struct ulo_source_opts *o,
				   char **text, size_t *len)
{
	struct ulo_source_opts mo = *o;
	struct ulo_source *s;
	int ret;

	/* The primary's manifest is the version: the mirrors' are asked
	 * only if it cannot be reached (then the first that answers names
	 * the version). */
	mo.mirrors_as_fallback = true;
	mo.root_hash = mo.verity_key = NULL;	/* checked on its text */
	ret = ulo_source_open_plain(location, &mo, &s);
	if (ret)
		return ret;
	if (s->id.size > ULO_MANIFEST_MAX_FILE || !s->id.size) {
		ret = ulo_err(-EINVAL, "%s: %" PRIu64 " bytes is not a manifest (at most %d)",
			      location, s->id.size, ULO_MANIFEST_MAX_FILE);
		goto out;
	}
	*len = s->id.size;
	*text = malloc(*len + 1);
	if (!*text) {
		ret = ulo_errno(-ENOMEM, "%s", location);
		goto out;
	}
	ret = ulo_source_read(s, *text, 0, *len, NULL);
	if (ret) {
		free(*text);
		*text = NULL;
	} else {
		(*text)[*len] = '\0';
	}
out:
	ulo_source_close(s);
	return ret;
}

/* Refuse a manifest the node's trust does not vouch for. */
static int ulo_vsrc_trust(const char *location, const struct ulo_source_opts *opts,
			  const struct ulo_manifest *m, const char *text)
{
	struct ulo_source_opts oo = *opts, *o = &oo;

	if (!o->verity_key && o->default_verity_key &&
	    access(o->default_verity_key, F_OK) == 0)
		o->verity_key = o->default_verity_key;
	if (o->root_hash) {
		uint8_t want[ULO_SHA256_LEN];
		char have[2 * ULO_SHA256_LEN + 1];

		if (strlen(o->root_hash) != 2 * ULO_SHA256_LEN ||
		    ulo_unhex(o->root_hash, want, sizeof(want)))
			return ulo_err(-EINVAL, "root hash %.80s: not %d hex digits (a SHA-256)",
				       o->root_hash, 2 * ULO_SHA256_LEN);
		if (memcmp(want, m->root, sizeof(want))) {
			ulo_hex(m->root, sizeof(m->root), have);
			return ulo_err(-EPERM, "%s: root hash %s is not the trusted %s; refusing it",
				       location, have, o->root_hash);
		}
	}
	if (o->verity_key) {
		int ret;

		if (!m->sig_len)
			return ulo_err(-EPERM, "%s: not signed, and the key %s must verify it; refusing it",
				       location, o->verity_key);
		if (!o->sig_verify)
			return ulo_err(-EPROTONOSUPPORT, "%s: this program was built without signature checking",
				       location);
		ret = o->sig_verify(o->verity_key, text, m->signed_len, m->sig, m->sig_len);
		if (ret) {
			char why[512];

			snprintf(why, sizeof(why), "%s", ulo_errmsg());
			return ulo_err(ret == -EBADMSG ? -EPERM : ret, "%s: %s; refusing it",
				       location, why);
		}
	}
	return 0;
}

/* The digest that vouches for hash block @j of level @k. */
static const uint8_t *ulo_vsrc_expected(struct ulo_vsrc *v, unsigned k, uint64_t j)
{
	if (k + 1 == v->l.levels)
		return v->m.root;
	return v->tree_buf + (v->l.level_start[k + 1] + j / v->per) * v->hbs +
	       (j % v->per) * ULO_SHA256_LEN;
}

/* Which level hash block @hb (of the hash file) is on, and its index. */
static unsigned ulo_vsrc_level_of(const struct ulo_vsrc *v, uint64_t hb, uint64_t *j)
{
	for (unsigned k = 0; k < v->l.levels; k++)
		if (hb >= v->l.level_start[k] &&
		    hb < v->l.level_start[k] + v->l.level_blocks[k]) {
			*j = hb - v->l.level_start[k];
			return k;
		}
	*j = 0;
	return v->l.levels;	/* the superblock's block */
}

static bool ulo_vsrc_is_loaded(struct ulo_vsrc *v, uint64_t hb)
{
	bool r;

	pthread_mutex_lock(&v->lock);
	r = v->loaded[hb];
	pthread_mutex_unlock(&v->lock);
	return r;
}

/*
 * Hash block @hb of the hash file, its bytes at @blk: does it verify (a
 * block loaded already, the superblock's among them: is it the one
 * loaded)?  A verified block is kept.  Its parent must be loaded.
 */
static bool ulo_vsrc_check_hash_block(struct ulo_vsrc *v, uint64_t hb, const uint8_t *blk)
{
	uint8_t d[ULO_SHA256_LEN];
	uint64_t j;
	unsigned k = ulo_vsrc_level_of(v, hb, &j);
	bool ok;

	if (ulo_vsrc_is_loaded(v, hb))
		return !memcmp(v->tree_buf + hb * v->hbs, blk, v->hbs);
	if (k == v->l.levels)
		return false;	/* the superblock's: loaded before any read */
	ulo_verity_digest(&v->m.vp, blk, v->hbs, d);
	ok = !memcmp(d, ulo_vsrc_expected(v, k, j), sizeof(d));
	if (ok) {
		pthread_mutex_lock(&v->lock);
		if (!v->loaded[hb]) {
			memcpy(v->tree_buf + hb * v->hbs, blk, v->hbs);
			v->loaded[hb] = 1;
		}
		pthread_mutex_unlock(&v->lock);
	}
	return ok;
}

/* Hash blocks [@hb, + @n), verified and loaded, into the cache (the
 * engine's store) for a warm start: those not loaded are skipped. */
static void ulo_vsrc_keep(struct ulo_source *src, uint64_t hb, uint64_t n)
{
	struct ulo_vsrc *v = src->priv;

	for (uint64_t i = hb; src->store && i < hb + n; i++)
		if (ulo_vsrc_is_loaded(v, i))
			src->store(src->peek_ctx, v->tree_buf + i * v->hbs,
				   v->img_size + i * v->hbs, v->hbs);
}

/* Read @len bytes at @off from @s, asking again elsewhere while what comes
 * back fails @check (which says which block and why in @why). */
typedef int (*ulo_vsrc_check_fn)(struct ulo_vsrc *v, uint64_t off, const uint8_t *buf,
				 size_t len, char *why, size_t cap);

static int ulo_vsrc_fetch(struct ulo_source *src, struct ulo_source *s, void *buf,
			  uint64_t off, size_t len, unsigned *retries,
			  ulo_vsrc_check_fn check)
{
	struct ulo_vsrc *v = src->priv;
	char why[512];

	for (;;) {
		unsigned server = 0, r = 0;
		int ret = s->ops->read_server ?
			s->ops->read_server(s, buf, off, len, &r, &server) :
			ulo_source_read(s, buf, off, len, &r);
		bool again;

		if (retries)
			*retries += r;
		if (ret)
			return ret;
		if (!check(v, off, buf, len, why, sizeof(why)))
			return 0;
		__atomic_fetch_add(&src->bad_blocks, 1, __ATOMIC_RELAXED);
		again = s->ops->drop_server && s->ops->drop_server(s, server, why);
		if (!again)
			return ulo_err(-EIO, "%s: %s; refused", s->id.location, why);
	}
}

/* Hash blocks of the hash file's [@off, + @len), whole blocks: each one
 * checked (those that verify are kept, even beside one that does not). */
static int ulo_vsrc_check_tree(struct ulo_vsrc *v, uint64_t off, const uint8_t *buf,
			       size_t len, char *why, size_t cap)
{
	int ret = 0;

	for (size_t at = 0; at < len; at += v->hbs) {
		uint64_t hb = (off + at) / v->hbs;

		if (!ulo_vsrc_check_hash_block(v, hb, buf + at) && !ret) {
			snprintf(why, cap, "hash block %" PRIu64 " does not match the tree of root hash %s",
				 hb, v->root_hex);
			ret = -1;
		}
	}
	return ret;
}

/* Load (verify and keep) the leaf hash block with data block @d's digest,
 * with those around it in a chunk of @chunk (a power of two). */
static int ulo_vsrc_need_leaf(struct ulo_source *src, uint64_t d, unsigned *retries,
			      uint64_t chunk)
{
	struct ulo_vsrc *v = src->priv;
	uint64_t leaf = d / v->per, first, n, hb;
	uint8_t *buf;
	int ret = 0;

	hb = v->l.level_start[0] + leaf;
	if (ulo_vsrc_is_loaded(v, hb))
		return 0;
	/* One reader loads leaves at a time; the others find them loaded
	 * (several workers fetched the same chunk at once). */
	pthread_mutex_lock(&v->leaf_lock);
	if (ulo_vsrc_is_loaded(v, hb)) {
		pthread_mutex_unlock(&v->leaf_lock);
		return 0;
	}
	first = leaf - leaf % chunk;
	n = ULO_MIN(chunk, v->l.level_blocks[0] - first);
	first += v->l.level_start[0];
	/* Not the ends of the chunk that are loaded already (an update's
	 * computed leaves): only what is missing is fetched. */
	while (first < hb && ulo_vsrc_is_loaded(v, first)) {
		first++;
		n--;
	}
	while (first + n - 1 > hb && ulo_vsrc_is_loaded(v, first + n - 1))
		n--;
	buf = malloc(n * v->hbs);
	if (!buf) {
		pthread_mutex_unlock(&v->leaf_lock);
		return ulo_errno(-ENOMEM, "%s: hash blocks", src->id.location);
	}
	/* A warm node has them on the flash: the cache's bytes are checked
	 * like the server's (a flipped bit there is fetched again). */
	if (src->peek && !src->peek(src->peek_ctx, buf, v->img_size + first * v->hbs,
				    n * v->hbs)) {
		for (uint64_t i = 0; i < n; i++)
			ulo_vsrc_check_hash_block(v, first + i, buf + i * v->hbs);
		if (ulo_vsrc_is_loaded(v, hb))
			goto out;
	}
	ret = ulo_vsrc_fetch(src, v->tree, buf, first * v->hbs, n * v->hbs, retries,
			     ulo_vsrc_check_tree);
	ulo_vsrc_keep(src, first, n);
	/* Another block of the chunk was bad, not the one needed. */
	if (ret && ulo_vsrc_is_loaded(v, hb))
		ret = 0;
out:
	pthread_mutex_unlock(&v->leaf_lock);
	free(buf);
	return ret;
}

/* Data blocks at image offset [@off, + @len), whole blocks; their leaves
 * loaded. */
static int ulo_vsrc_check_data(struct ulo_vsrc *v, uint64_t off, const uint8_t *buf,
			       size_t len, char *why, size_t cap)
{
	for (size_t at = 0; at < len; at += v->dbs) {
		uint64_t d = (off + at) / v->dbs;
		uint8_t got[ULO_SHA256_LEN];
		const uint8_t *want;

		ulo_verity_digest(&v->m.vp, buf + at, v->dbs, got);
		/* A one-block image has no tree: the root is its digest. */
		want = !v->l.levels ? v->m.root :
		       v->tree_buf + (v->l.level_start[0] + d / v->per) * v->hbs +
		       (d % v->per) * ULO_SHA256_LEN;
		if (memcmp(got, want, sizeof(got))) {
			snprintf(why, cap, "data block %" PRIu64 " (bytes %" PRIu64 "+%" PRIu32
				 ") does not match its hash (root hash %s)", d,
				 d * v->dbs, v->dbs, v->root_hex);
			return -1;
		}
	}
	return 0;
}

static int ulo_vsrc_read_image(struct ulo_source *src, uint8_t *buf, uint64_t off,
			       size_t len, unsigned *retries)
{
	struct ulo_vsrc *v = src->priv;

	for (uint64_t d = off / v->dbs; v->l.levels && d < (off + len) / v->dbs;
	     d += v->per - d % v->per) {
		int ret = ulo_vsrc_need_leaf(src, d, retries, ULO_VSRC_LEAF_CHUNK);

		if (ret)
			return ret;
	}
	return ulo_vsrc_fetch(src, v->img, buf, off, len, retries, ulo_vsrc_check_data);
}

/* The data blocks of leaf @g: [*@a, *@b). */
static void ulo_vsrc_leaf_span(const struct ulo_vsrc *v, uint64_t g, uint64_t *a, uint64_t *b)
{
	*a = g * v->per;
	*b = ULO_MIN(*a + v->per, v->m.vp.data_blocks);
}

/*
 * Leaf @g computed from its data blocks: those of the read (@buf holds
 * blocks [@first, @first + @n); @n may be 0), the cache's (checked when
 * stored) and the seed's for the rest, checked against level 1 and kept
 * if it verifies, with the seed's blocks it proved.  False if a block is
 * none of them or the leaf does not verify (a seeded block was not what
 * the map said).
 */
static bool ulo_vsrc_compute_leaf(struct ulo_source *src, uint64_t g, const uint8_t *buf,
				  uint64_t first, uint64_t n)
{
	struct ulo_vsrc *v = src->priv;
	uint64_t a, b;
	uint8_t *leaf = calloc(1, v->hbs), *tmp = malloc((size_t)v->per * v->dbs);
	uint8_t *got = calloc(v->per, 1);
	bool ok = leaf && tmp && got;

	ulo_vsrc_leaf_span(v, g, &a, &b);
	/* The blocks outside the read: the seed's first, in stretches. */
	if (ok && v->seed) {
		uint64_t x = ULO_MIN(ULO_MAX(first, a), b), y = ULO_MAX(ULO_MIN(first + n, b), x);

		if (!n)
			x = y = b;
		ulo_seed_read_blocks(v->seed, a, x - a, tmp, got);
		ulo_seed_read_blocks(v->seed, y, b - y, tmp + (y - a) * v->dbs, got + (y - a));
	}
	for (uint64_t d = a; ok && d < b; d++) {
		const uint8_t *blk = tmp + (d - a) * v->dbs;

		if (d >= first && d < first + n)
			blk = buf + (d - first) * v->dbs;
		else if (!got[d - a] &&
			 (!src->peek || src->peek(src->peek_ctx, tmp + (d - a) * v->dbs, d * v->dbs, v->dbs)))
			ok = false;
		if (ok)
			ulo_verity_digest(&v->m.vp, blk, v->dbs, leaf + (d - a) * ULO_SHA256_LEN);
	}
	ok = ok && ulo_vsrc_check_hash_block(v, v->l.level_start[0] + g, leaf);
	/* The leaf proved the blocks taken from the seed as well: kept now
	 * (the engine's store), so that reading them later is a hit, not a
	 * second read of the seed and a second digest. */
	for (uint64_t d = a; ok && src->store && d < b;) {
		uint64_t e = d;

		while (e < b && got[e - a] && !(e >= first && e < first + n))
			e++;
		if (e > d)
			src->store(src->peek_ctx, tmp + (d - a) * v->dbs, d * v->dbs, (e - d) * v->dbs);
		d = e + 1;
	}
	free(leaf);
	free(tmp);
	free(got);
	return ok;
}

/*
 * Is leaf @g equal to the seed's leaf of that index?  Then so are their
 * digests one by one, salted alike: the old version's blocks at the
 * leaf's offsets are this version's, vouched for by the leaf as a warm
 * cache's are (a warm read hashes nothing either; dm-verity in the node
 * checks both).  An ext4 or erofs updated in place keeps most leaves.
 * The seed's leaf, read from its flash, is checked against level 1 (one
 * digest, not the 128 of computing the leaf) and loaded and kept; a leaf
 * loaded already is compared.  Under seed_lock's read side.
 */
static bool ulo_vsrc_leaf_same(struct ulo_source *src, uint64_t g)
{
	struct ulo_vsrc *v = src->priv;
	uint64_t hb = v->l.level_start[0] + g;
	uint8_t state = 2, *old;
	bool same = false;

	pthread_mutex_lock(&v->lock);
	if (v->leaf_same)
		state = v->leaf_same[g];
	pthread_mutex_unlock(&v->lock);
	if (state)
		return state == 1;
	/* Not decided before the level above is loaded (it proves the old
	 * leaf): a no then would stand for good. */
	if (!ulo_vsrc_is_loaded(v, 0))
		return false;
	old = g < v->old_leaves ? malloc(v->hbs) : NULL;
	if (old && !ulo_seed_read_old_tree(v->seed, (v->old_leaf_start + g) * v->hbs, old, v->hbs)) {
		bool was = ulo_vsrc_is_loaded(v, hb);

		same = ulo_vsrc_check_hash_block(v, hb, old);
		if (same && !was)
			ulo_vsrc_keep(src, hb, 1);
	}
	free(old);
	pthread_mutex_lock(&v->lock);
	v->leaf_same[g] = same ? 1 : 2;
	pthread_mutex_unlock(&v->lock);
	return same;
}

/* Can leaf @g be computed from the read's blocks and the seed's? */
static bool ulo_vsrc_leaf_computable(struct ulo_vsrc *v, uint64_t g, uint64_t first,
				     uint64_t n)
{
	uint64_t a, b;

	ulo_vsrc_leaf_span(v, g, &a, &b);
	for (uint64_t d = a; d < b; d++)
		if ((d < first || d >= first + n) && !ulo_seed_has(v->seed, d))
			return false;
	return true;
}

/*
 * The seeded read of whole data blocks [@off, + @len): what the seed has
 * is read from it, the rest fetched in runs, the leaves computed where
 * they can be and fetched where not, then every block checked; a seeded
 * block that fails is fetched, a fetched one that fails is a bad server's
 * (ulo_vsrc_fetch's handling).  Under seed_lock's read side.
 */
static int ulo_vsrc_read_seeded(struct ulo_source *src, uint8_t *buf, uint64_t off,
				size_t len, unsigned *retries)
{
	struct ulo_vsrc *v = src->priv;
	uint64_t first = off / v->dbs, n = len / v->dbs, seeded = 0, g0 = first / v->per;
	uint8_t *from_seed, *same, *proven = NULL;
	unsigned *server;
	char why[512];
	int ret = 0;

	if (!n)
		return 0;
	from_seed = calloc(n, 1);
	same = calloc(n, 1);
	server = calloc(n, sizeof(*server));

	if (!from_seed || !same || !server) {
		ret = ulo_errno(-ENOMEM, "%s", src->id.location);
		goto out;
	}
	/* Blocks under leaves the versions share: the old ones at the same
	 * offsets, proven (@same).  The rest where the map says. */
	for (uint64_t g = g0; g <= (first + n - 1) / v->per; g++) {
		uint64_t a, b;

		ulo_vsrc_leaf_span(v, g, &a, &b);
		if (ulo_vsrc_leaf_same(src, g))
			for (uint64_t d = ULO_MAX(a, first); d < ULO_MIN(b, first + n); d++)
				from_seed[d - first] = 1;	/* here: wanted */
	}
	ulo_seed_read_same(v->seed, first, n, buf, from_seed, same);
	for (uint64_t i = 0; i < n;) {
		uint64_t j = i;

		while (j < n && !same[j])
			j++;
		if (j > i)
			ulo_seed_read_blocks(v->seed, first + i, j - i, buf + i * v->dbs, from_seed + i);
		for (i = j; i < n && same[i]; i++)
			from_seed[i] = 1;
	}
	/* Leaves that cannot be computed: fetched now, one each.  So are
	 * those of a read covering little of its leaf (a boot reading files
	 * here and there): computing one hashes all its 128 blocks, which
	 * costs more than 4 KiB of hashes fetched with their neighbours. */
	for (uint64_t g = first / v->per; !ret && g <= (first + n - 1) / v->per; g++) {
		uint64_t a, b;

		if (ulo_vsrc_is_loaded(v, v->l.level_start[0] + g))
			continue;
		ulo_vsrc_leaf_span(v, g, &a, &b);
		if (!ulo_vsrc_leaf_computable(v, g, first, n))
			ret = ulo_vsrc_need_leaf(src, g * v->per, retries, 1);
		else if (4 * (ULO_MIN(b, first + n) - ULO_MAX(a, first)) < b - a)
			ret = ulo_vsrc_need_leaf(src, g * v->per, retries, ULO_VSRC_LEAF_CHUNK);
	}
	/* The blocks the seed does not have, fetched in runs. */
	for (uint64_t i = 0; !ret && i < n;) {
		uint64_t j = i;
		unsigned r = 0, sv = 0;

		if (from_seed[i]) {
			i++;
			continue;
		}
		while (j < n && !from_seed[j])
			j++;
		ret = v->img->ops->read_server ?
		      v->img->ops->read_server(v->img, buf + i * v->dbs, (first + i) * v->dbs,
					       (j - i) * v->dbs, &r, &sv) :
		      ulo_source_read(v->img, buf + i * v->dbs, (first + i) * v->dbs,
				      (j - i) * v->dbs, &r);
		if (retries)
			*retries += r;
		for (; i < j; i++)
			server[i] = sv;
	}
	/* The other leaves, computed; one that does not verify is fetched.
	 * A leaf computed from the read's bytes that matched level 1 proved
	 * them: their digests are its entries (@proven, by leaf). */
	proven = calloc((first + n - 1) / v->per - g0 + 1, 1);
	if (!proven)
		ret = ulo_errno(-ENOMEM, "%s", src->id.location);
	for (uint64_t g = g0; !ret && g <= (first + n - 1) / v->per; g++)
		if (!ulo_vsrc_is_loaded(v, v->l.level_start[0] + g)) {
			if (ulo_vsrc_compute_leaf(src, g, buf, first, n)) {
				proven[g - g0] = 1;
				ulo_vsrc_keep(src, v->l.level_start[0] + g, 1);
			} else {
				ret = ulo_vsrc_need_leaf(src, g * v->per, retries, 1);
			}
		}
	/* Every block against its leaf. */
	for (uint64_t i = 0; !ret && i < n; i++) {
		uint8_t *blk = buf + i * v->dbs;

		if (proven[(first + i) / v->per - g0] || same[i] ||
		    !ulo_vsrc_check_data(v, (first + i) * v->dbs, blk, v->dbs, why, sizeof(why))) {
			seeded += from_seed[i];
			continue;
		}
		if (!from_seed[i]) {
			__atomic_fetch_add(&src->bad_blocks, 1, __ATOMIC_RELAXED);
			if (!v->img->ops->drop_server ||
			    !v->img->ops->drop_server(v->img, server[i], why)) {
				ret = ulo_err(-EIO, "%s: %s; refused", v->img->id.location, why);
				break;
			}
		}
		/* The seed's bytes were not the block (or the server's were
		 * bad and it is dropped): fetched, checked, retried. */
		ret = ulo_vsrc_fetch(src, v->img, blk, (first + i) * v->dbs, v->dbs, retries,
				     ulo_vsrc_check_data);
	}
	if (!ret)
		__atomic_fetch_add(&src->seeded_bytes, seeded * v->dbs, __ATOMIC_RELAXED);
out:
	free(proven);
	free(same);
	free(from_seed);
	free(server);
	return ret;
}

static int ulo_vsrc_read_tree(struct ulo_source *src, uint8_t *buf, uint64_t off,
			      size_t len, unsigned *retries)
{
	struct ulo_vsrc *v = src->priv;
	uint64_t hb;
	bool all = true;
	int ret;

	/* An update takes the leaves the versions share from the flash.  The
	 * others are fetched, all in one request, not computed: a read of
	 * the tree (the kernel probing the device's end, dm-verity) comes
	 * before the data's, and computing a changed leaf then reads its 128
	 * blocks from the flash, here and there (a boot's first 50 ms went
	 * on a probe computing 32 leaves).  Data reads compute theirs. */
	pthread_rwlock_rdlock(&v->seed_lock);
	for (hb = off / v->hbs; v->seed && v->l.levels >= 2 && hb < (off + len) / v->hbs; hb++)
		if (hb >= v->l.level_start[0] && hb < v->l.level_start[0] + v->l.level_blocks[0] &&
		    !ulo_vsrc_is_loaded(v, hb))
			ulo_vsrc_leaf_same(src, hb - v->l.level_start[0]);
	pthread_rwlock_unlock(&v->seed_lock);
	for (hb = off / v->hbs; hb < (off + len) / v->hbs && all; hb++)
		all = ulo_vsrc_is_loaded(v, hb);
	if (all) {
		memcpy(buf, v->tree_buf + off, len);	/* immutable once loaded */
		return 0;
	}
	/* Leaves first need their parents: loaded at open. */
	ret = ulo_vsrc_fetch(src, v->tree, buf, off, len, retries, ulo_vsrc_check_tree);
	return ret;
}

/* One region, whole blocks of it (an unaligned read goes through a bounce
 * buffer: every byte returned comes from a verified block). */
static int ulo_vsrc_read_region(struct ulo_source *src, uint8_t *buf, uint64_t off,
				size_t len, unsigned *retries, bool tree)
{
	struct ulo_vsrc *v = src->priv;
	uint32_t bs = tree ? v->hbs : v->dbs;
	uint64_t a = off - off % bs, b = ULO_ROUND_UP(off + len, (uint64_t)bs);
	uint8_t *bounce = buf;
	int ret;

	if (a != off || b != off + len) {
		bounce = malloc(b - a);
		if (!bounce)
			return ulo_errno(-ENOMEM, "%s", src->id.location);
	}
	if (tree) {
		ret = ulo_vsrc_read_tree(src, bounce, a, b - a, retries);
	} else {
		pthread_rwlock_rdlock(&v->seed_lock);
		ret = v->seed && v->l.levels >= 2 ?
		      ulo_vsrc_read_seeded(src, bounce, a, b - a, retries) :
		      ulo_vsrc_read_image(src, bounce, a, b - a, retries);
		pthread_rwlock_unlock(&v->seed_lock);
	}
	if (bounce != buf) {
		if (!ret)
			memcpy(buf, bounce + (off - a), len);
		free(bounce);
	}
	return ret;
}

/* The hash file's first blocks: the superblock's, which must describe the
 * manifest's tree, and the levels above the leaves (all of the tree, if it
 * has one level), verified top down and kept. */
static int ulo_vsrc_check_top(struct ulo_vsrc *v, uint64_t off, const uint8_t *buf,
			      size_t len, char *why, size_t cap)
{
	struct ulo_verity_params sb;

	(void)off;
	(void)len;
	if (ulo_verity_parse_superblock(buf, "superblock", &sb) ||
	    sb.data_block_size != v->dbs || sb.hash_block_size != v->hbs ||
	    sb.data_blocks != v->m.vp.data_blocks || sb.salt_size != v->m.vp.salt_size ||
	    memcmp(sb.salt, v->m.vp.salt, sb.salt_size)) {
		snprintf(why, cap, "its superblock does not describe the manifest's tree (root hash %s)",
			 v->root_hex);
		return -1;
	}
	for (int k = (int)v->l.levels - 1; k >= 0; k--) {
		if (v->l.level_start[k] >= v->first_lazy)
			break;
		for (uint64_t j = 0; j < v->l.level_blocks[k]; j++) {
			uint64_t hb = v->l.level_start[k] + j;

			if (!ulo_vsrc_check_hash_block(v, hb, buf + hb * v->hbs)) {
				snprintf(why, cap, "hash block %" PRIu64 " does not match the tree of root hash %s",
					 hb, v->root_hex);
				return -1;
			}
		}
	}
	pthread_mutex_lock(&v->lock);
	if (!v->loaded[0]) {
		memcpy(v->tree_buf, buf, v->hbs);
		v->loaded[0] = 1;
	}
	pthread_mutex_unlock(&v->lock);
	return 0;
}

/*
 * Load the top of the tree before the first read that needs it: from the
 * cache if it holds it (a warm node fetches nothing), else from the
 * server.  Not at open, when there is no cache to look in yet.
 */
static int ulo_vsrc_need_top(struct ulo_source *src, unsigned *retries)
{
	struct ulo_vsrc *v = src->priv;
	size_t len = v->first_lazy * v->hbs;
	char why[512];
	uint8_t *buf;
	int ret = 0;

	if (ulo_vsrc_is_loaded(v, 0))
		return 0;
	pthread_mutex_lock(&v->top_lock);
	if (ulo_vsrc_is_loaded(v, 0)) {
		pthread_mutex_unlock(&v->top_lock);
		return 0;
	}
	buf = malloc(len);
	if (!buf) {
		pthread_mutex_unlock(&v->top_lock);
		return ulo_errno(-ENOMEM, "%s: hash blocks", src->id.location);
	}
	if (!src->peek || src->peek(src->peek_ctx, buf, v->img_size, len) ||
	    ulo_vsrc_check_top(v, 0, buf, len, why, sizeof(why))) {
		ret = ulo_vsrc_fetch(src, v->tree, buf, 0, len, retries, ulo_vsrc_check_top);
		if (!ret)
			ulo_vsrc_keep(src, 0, v->first_lazy);
	}
	pthread_mutex_unlock(&v->top_lock);
	free(buf);
	return ret;
}

static int ulo_vsrc_read(struct ulo_source *src, void *buf, uint64_t off,
			 size_t len, unsigned *retries)
{
	struct ulo_vsrc *v = src->priv;
	uint8_t *p = buf;
	int ret = ulo_vsrc_need_top(src, retries);

	if (!ret && off < v->img_size) {
		size_t n = (size_t)ULO_MIN((uint64_t)len, v->img_size - off);

		ret = ulo_vsrc_read_region(src, p, off, n, retries, false);
		p += n;
		off += n;
		len -= n;
	}
	if (!ret && len)
		ret = ulo_vsrc_read_region(src, p, off - v->img_size, len, retries, true);
	return ret;
}

static void ulo_vsrc_free(struct ulo_vsrc *v)
{
	ulo_source_close(v->img);
	ulo_source_close(v->tree);
	free(v->tree_buf);
	free(v->loaded);
	free(v->leaf_same);
	ulo_seed_close(v->seed, false);
	pthread_mutex_destroy(&v->lock);
	pthread_rwlock_destroy(&v->seed_lock);
	pthread_mutex_destroy(&v->top_lock);
	pthread_mutex_destroy(&v->leaf_lock);
	free(v);
}

/* Open the file @name of the manifest's directory, and of each mirror's. */
static int ulo_vsrc_open_file(const char *location, const struct ulo_source_opts *o,
			      const char *name, struct ulo_source **out)
{
	static const size_t cap = ULO_VSRC_URL_MAX;
	struct ulo_source_opts fo = *o;
	char *urls = malloc((ULO_MAX_MIRRORS + 1) * cap);
	int ret;

	fo.root_hash = fo.verity_key = NULL;	/* checked on the manifest */
	if (!urls)
		return ulo_errno(-ENOMEM, "%s", location);
	ret = ulo_vsrc_sibling(location, name, urls, cap);
	for (unsigned i = 0; !ret && i < o->nmirrors; i++) {
		ret = ulo_vsrc_sibling(o->mirrors[i], name, urls + (i + 1) * cap, cap);
		fo.mirrors[i] = urls + (i + 1) * cap;
	}
	if (!ret)
		ret = ulo_source_open_plain(urls, &fo, out);
	free(urls);
	return ret;
}

static int ulo_vsrc_open(struct ulo_source *src, const char *location,
			 const struct ulo_source_opts *opts)
{
	static const struct ulo_source_opts defaults;
	const struct ulo_source_opts *o = opts ? opts : &defaults;
	struct ulo_vsrc *v;
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (strlen(location) >= ULO_ID_LOCATION_MAX)
		return ulo_err(-ENAMETOOLONG, "%.64s...: URL too long", location);
	v = calloc(1, sizeof(*v));
	if (!v)
		return ulo_errno(-ENOMEM, "%s", location);
	pthread_mutex_init(&v->lock, NULL);
	{
		/* Writers first: taking the seed back (ulo_source_take_seed)
		 * must not wait for a moment without a read. */
		pthread_rwlockattr_t ra;

		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&v->seed_lock, &ra);
		pthread_rwlockattr_destroy(&ra);
	}
	pthread_mutex_init(&v->top_lock, NULL);
	pthread_mutex_init(&v->leaf_lock, NULL);
	ret = ulo_vsrc_fetch_manifest(location, o, &text, &len);
	if (!ret)
		ret = ulo_manifest_parse(text, len, location, &v->m);
	if (!ret)
		ret = ulo_vsrc_trust(location, o, &v->m, text);
	free(text);
	if (!ret)
		ret = ulo_verity_layout(&v->m.vp, &v->l);
	if (ret)
		goto fail;
	ulo_hex(v->m.root, sizeof(v->m.root), v->root_hex);
	v->dbs = v->m.vp.data_block_size;
	v->hbs = v->m.vp.hash_block_size;
	v->per = v->hbs / ULO_SHA256_LEN;
	v->img_size = v->m.size;
	v->tree_size = v->l.hash_blocks * v->hbs;
	if (v->img_size % v->hbs) {
		ret = ulo_err(-EINVAL, "%s: an image of %" PRIu64 " bytes is not whole hash blocks (%" PRIu32 ")",
			      location, v->img_size, v->hbs);
		goto fail;
	}
	v->first_lazy = v->l.levels >= 2 ? v->l.level_start[0] : v->l.hash_blocks;
	v->tree_buf = calloc(v->l.hash_blocks, v->hbs);
	v->loaded = calloc(v->l.hash_blocks, 1);
	if (!v->tree_buf || !v->loaded) {
		ret = ulo_errno(-ENOMEM, "%s: %" PRIu64 " hash blocks", location, v->l.hash_blocks);
		goto fail;
	}
	v->opts = *o;
	ret = ulo_vsrc_open_file(location, o, v->m.image, &v->img);
	if (!ret && v->img->id.size != v->img_size)
		ret = ulo_err(-EINVAL, "%s: %" PRIu64 " bytes, but the manifest %s says %" PRIu64,
			      v->img->id.location, v->img->id.size, location, v->img_size);
	if (!ret)
		ret = ulo_vsrc_open_file(location, o, v->m.hash_tree, &v->tree);
	if (!ret && v->tree->id.size != v->tree_size)
		ret = ulo_err(-EINVAL, "%s: %" PRIu64 " bytes, but the manifest %s makes its tree %" PRIu64,
			      v->tree->id.location, v->tree->id.size, location, v->tree_size);
	if (ret)
		goto fail;
	src->priv = v;
	src->id.kind = ULO_ID_VERITY;
	src->id.size = v->img_size + v->tree_size;
	snprintf(src->id.validator, sizeof(src->id.validator), "%s:%" PRIu64 ":%" PRIu32 ":%" PRIu32,
		 v->root_hex, v->m.vp.data_blocks, v->dbs, v->hbs);
	snprintf(src->id.location, sizeof(src->id.location), "%s", location);
	return 0;
fail:
	ulo_vsrc_free(v);
	return ret;
}

static void ulo_vsrc_close(struct ulo_source *src)
{
	ulo_vsrc_free(src->priv);
}

const struct ulo_source_ops ulo_source_verity_ops = {
	.name = "manifest",
	.open = ulo_vsrc_open,
	.read = ulo_vsrc_read,
	.close = ulo_vsrc_close,
};

int ulo_verity_info_of(const struct ulo_identity *id, struct ulo_verity_info *out)
{
	char root[2 * ULO_SHA256_LEN + 1];
	unsigned long long blocks;
	unsigned dbs, hbs;
	uint8_t bin[ULO_SHA256_LEN];
	int n = -1;

	memset(out, 0, sizeof(*out));
	if (id->kind != ULO_ID_VERITY)
		return -ENOENT;
	if (sscanf(id->validator, "%64[0-9a-f]:%llu:%u:%u%n", root, &blocks, &dbs, &hbs, &n) != 4 ||
	    n != (int)strlen(id->validator) || strlen(root) != 2 * ULO_SHA256_LEN ||
	    ulo_unhex(root, bin, sizeof(bin)) || !blocks || !ulo_pow2_in(dbs, 512, 1 << 20) ||
	    !ulo_pow2_in(hbs, 512, 1 << 20) || (blocks * dbs) % hbs ||
	    blocks * dbs >= id->size)
		return ulo_err(-EINVAL, "%s: not a verified image's identity (%s %s)",
			       id->location, ulo_id_kind_name(id->kind), id->validator);
	out->data_block_size = dbs;
	out->hash_block_size = hbs;
	out->data_blocks = blocks;
	out->hash_start = blocks * dbs / hbs + 1;
	memcpy(out->root_hex, root, sizeof(root));
	return 0;
}

int ulo_source_verity_info(const struct ulo_source *src, struct ulo_verity_info *out)
{
	const struct ulo_vsrc *v;
	int ret = ulo_verity_info_of(&src->id, out);

	if (ret || src->ops != &ulo_source_verity_ops)
		return ret;
	v = src->priv;
	ulo_hex(v->m.vp.salt, v->m.vp.salt_size, out->salt_hex);
	out->version = v->m.version;
	snprintf(out->name, sizeof(out->name), "%s", v->m.name);
	return 0;
}

int ulo_source_fetch_seedmap(struct ulo_source *src, const char *old_root_hex,
			     struct ulo_seedmap *out)
{
	const struct ulo_manifest_seed *ms = NULL;
	struct ulo_source *f;
	struct ulo_vsrc *v;
	uint8_t root[ULO_SHA256_LEN];
	char *text = NULL;
	size_t len;
	int ret;

	memset(out, 0, sizeof(*out));
	if (src->ops != &ulo_source_verity_ops)
		return -ENOENT;
	v = src->priv;
	if (ulo_unhex(old_root_hex, root, sizeof(root)))
		return -ENOENT;
	for (unsigned i = 0; i < v->m.nseeds && !ms; i++)
		if (!memcmp(v->m.seeds[i].root, root, sizeof(root)))
			ms = &v->m.seeds[i];
	if (!ms)
		return -ENOENT;
	ret = ulo_vsrc_open_file(src->id.location, &v->opts, ms->file, &f);
	if (ret)
		return ret;
	if (f->id.size > ULO_SEEDMAP_MAX_FILE) {
		ret = ulo_err(-EINVAL, "%s: %" PRIu64 " bytes, larger than any seed map",
			      f->id.location, f->id.size);
		goto out;
	}
	len = (size_t)f->id.size;
	text = malloc(len + 1);
	if (!text) {
		ret = ulo_errno(-ENOMEM, "%s", f->id.location);
		goto out;
	}
	ret = ulo_source_read(f, text, 0, len, NULL);
	if (!ret)
		ret = ulo_seedmap_parse(text, len, f->id.location, out);
	if (!ret && (memcmp(out->from, root, sizeof(root)) || memcmp(out->to, v->m.root, sizeof(root)) ||
		     out->block_size != v->dbs || out->blocks != v->m.vp.data_blocks)) {
		ulo_seedmap_free(out);
		ret = ulo_err(-EINVAL, "%s: not the seed map from root hash %.16s... to this version (%.16s...)",
			      f->id.location, old_root_hex, v->root_hex);
	}
out:
	free(text);
	ulo_source_close(f);
	return ret;
}

/*
 * Where the seed's leaves are, if its tree is salted like this version's
 * (publish salts a version like the one before it) and its superblock is
 * on the flash: nothing there is trusted, a leaf is used only once it
 * checks against this version's level 1.  Seed lock's write side held.
 */
static void ulo_vsrc_old_leaves(struct ulo_vsrc *v)
{
	uint64_t leaves = v->l.levels ? v->l.level_blocks[0] : 0;
	struct ulo_verity_params op;
	struct ulo_verity_layout ol;
	uint8_t *sb = malloc(v->hbs);

	v->old_leaves = 0;
	if (!v->leaf_same && leaves)
		v->leaf_same = malloc(leaves);
	if (v->leaf_same)
		memset(v->leaf_same, 0, leaves);
	if (sb && v->leaf_same && !ulo_seed_read_old_tree(v->seed, 0, sb, v->hbs) &&
	    !ulo_verity_parse_superblock(sb, ulo_seed_path(v->seed), &op) &&
	    op.data_block_size == v->dbs && op.hash_block_size == v->hbs &&
	    op.data_blocks * v->dbs == ulo_seed_map(v->seed)->old_size &&
	    op.salt_size == v->m.vp.salt_size && !memcmp(op.salt, v->m.vp.salt, op.salt_size) &&
	    !ulo_verity_layout(&op, &ol) && ol.levels) {
		v->old_leaf_start = ol.level_start[0];
		v->old_leaves = ol.level_blocks[0];
	}
	free(sb);
}

int ulo_source_set_seed(struct ulo_source *src, struct ulo_seed *seed)
{
	struct ulo_vsrc *v;

	if (src->ops != &ulo_source_verity_ops) {
		ulo_seed_close(seed, false);
		return ulo_err(-EINVAL, "%s: only a manifest's version takes blocks from an older one",
			       src->id.location);
	}
	v = src->priv;
	if (ulo_seed_map(seed)->block_size != v->dbs) {
		ulo_seed_close(seed, false);
		return ulo_err(-EINVAL, "%s: a seed of %u-byte blocks for %u-byte data blocks",
			       src->id.location, ulo_seed_map(seed)->block_size, v->dbs);
	}
	pthread_rwlock_wrlock(&v->seed_lock);
	ulo_seed_close(v->seed, false);
	v->seed = seed;
	ulo_vsrc_old_leaves(v);
	pthread_rwlock_unlock(&v->seed_lock);
	return 0;
}

struct ulo_seed *ulo_source_take_seed(struct ulo_source *src)
{
	struct ulo_seed *seed;
	struct ulo_vsrc *v;

	if (src->ops != &ulo_source_verity_ops)
		return NULL;
	v = src->priv;
	pthread_rwlock_wrlock(&v->seed_lock);
	seed = v->seed;
	v->seed = NULL;
	pthread_rwlock_unlock(&v->seed_lock);
	return seed;
}

struct ulo_seed *ulo_source_seed(struct ulo_source *src)
{
	struct ulo_vsrc *v;
	struct ulo_seed *seed;

	if (src->ops != &ulo_source_verity_ops)
		return NULL;
	v = src->priv;
	pthread_rwlock_rdlock(&v->seed_lock);
	seed = v->seed;
	pthread_rwlock_unlock(&v->seed_lock);
	return seed;
}

int ulo_source_read_local(struct ulo_source *src, void *buf, uint64_t off, size_t len)
{
	struct ulo_vsrc *v;
	uint64_t first, n;
	unsigned retries = 0;
	int ret = -ENOENT;

	if (src->ops != &ulo_source_verity_ops)
		return -ENOENT;
	v = src->priv;
	if (!len || off % v->dbs || len % v->dbs || off + len > v->img_size)
		return -ENOENT;
	first = off / v->dbs;
	n = len / v->dbs;
	pthread_rwlock_rdlock(&v->seed_lock);
	/* Leaves are checked against the level above them: the top first
	 * (a failure is the read's to report, on the usual path). */
	if (v->seed && v->old_leaves && !ulo_vsrc_need_top(src, &retries)) {
		bool same = true;

		for (uint64_t g = first / v->per; same && g <= (first + n - 1) / v->per; g++)
			same = ulo_vsrc_leaf_same(src, g);
		if (same && ulo_seed_read_same(v->seed, first, n, buf, NULL, NULL) == n)
			ret = 0;
	}
	pthread_rwlock_unlock(&v->seed_lock);
	return ret;
}

uint64_t ulo_source_seeded_in(struct ulo_source *src, uint64_t off, uint64_t len)
{
	struct ulo_vsrc *v;
	uint64_t n = 0;

	if (src->ops != &ulo_source_verity_ops)
		return 0;
	v = src->priv;
	pthread_rwlock_rdlock(&v->seed_lock);
	for (uint64_t d = off / v->dbs; v->seed && d < ULO_DIV_ROUND_UP(off + len, v->dbs) &&
	     d < v->m.vp.data_blocks; d++)
		n += ulo_seed_has(v->seed, d) ? v->dbs : 0;
	pthread_rwlock_unlock(&v->seed_lock);
	return ULO_MIN(n, len);
}

int ulo_source_open_sibling(struct ulo_source *src, const char *name, struct ulo_source **out)
{
	struct ulo_vsrc *v;

	if (src->ops != &ulo_source_verity_ops)
		return ulo_err(-EINVAL, "%s: not a manifest's version", src->id.location);
	v = src->priv;
	return ulo_vsrc_open_file(src->id.location, &v->opts, name, out);
}
