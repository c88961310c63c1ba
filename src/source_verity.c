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

	mo.nmirrors = 0;	/* the primary's manifest is the version */
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

/* Load (verify and keep) the leaf hash block with data block @d's digest. */
static int ulo_vsrc_need_leaf(struct ulo_source *src, uint64_t d, unsigned *retries)
{
	struct ulo_vsrc *v = src->priv;
	uint64_t leaf = d / v->per, first, n, hb;
	uint8_t *buf;
	int ret = 0;

	hb = v->l.level_start[0] + leaf;
	if (ulo_vsrc_is_loaded(v, hb))
		return 0;
	first = leaf - leaf % ULO_VSRC_LEAF_CHUNK;
	n = ULO_MIN((uint64_t)ULO_VSRC_LEAF_CHUNK, v->l.level_blocks[0] - first);
	first += v->l.level_start[0];
	buf = malloc(n * v->hbs);
	if (!buf)
		return ulo_errno(-ENOMEM, "%s: hash blocks", src->id.location);
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
	/* Another block of the chunk was bad, not the one needed. */
	if (ret && ulo_vsrc_is_loaded(v, hb))
		ret = 0;
out:
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
		int ret = ulo_vsrc_need_leaf(src, d, retries);

		if (ret)
			return ret;
	}
	return ulo_vsrc_fetch(src, v->img, buf, off, len, retries, ulo_vsrc_check_data);
}

static int ulo_vsrc_read_tree(struct ulo_source *src, uint8_t *buf, uint64_t off,
			      size_t len, unsigned *retries)
{
	struct ulo_vsrc *v = src->priv;
	uint64_t hb;
	bool all = true;
	int ret;

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
	ret = tree ? ulo_vsrc_read_tree(src, bounce, a, b - a, retries) :
		     ulo_vsrc_read_image(src, bounce, a, b - a, retries);
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
	buf = malloc(len);
	if (!buf)
		return ulo_errno(-ENOMEM, "%s: hash blocks", src->id.location);
	if (!src->peek || src->peek(src->peek_ctx, buf, v->img_size, len) ||
	    ulo_vsrc_check_top(v, 0, buf, len, why, sizeof(why)))
		ret = ulo_vsrc_fetch(src, v->tree, buf, 0, len, retries, ulo_vsrc_check_top);
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
	pthread_mutex_destroy(&v->lock);
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
