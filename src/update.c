// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * update.c - see update.h.
 *
 * The order of the steps is what makes a power cut harmless:
 *
 *   0. C.seed holds the booted version (a manifest rolled back to it):
 *      C.seed -> C, replacing C (a newer version, which the older
 *      manifest has no map from).
 *   1. C.next holds the booted version: C -> C.seed, then C.next -> C.
 *      A cut between the two leaves no C and both others: step 1 again
 *      (C.next -> C) at the next start.  A C.next of another version
 *      (staged for one since replaced) is removed.
 *   2. C holds an older version with a map: C -> C.seed (an older C.seed
 *      is replaced: C was the newer of the two, so it shares more).  If
 *      the map cannot be had now (the server failed), C is still put
 *      aside, for the next start to ask again.
 *   3. C.seed is opened as the seed if the manifest maps its version;
 *      else it is of no use and removed (but kept when the map could not
 *      be fetched now).
 *
 * All of it under C's lock (and C.next's when it is touched): a daemon
 * serving C, or a staging writing C.next, is never renamed under.
 *
 * The directory is synced after each rename, so what the next start finds
 * is what this one did.  C itself is then bound by the caller: empty (a
 * new version's cache) or the staged one.
 */
#include "update.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "engine.h"
#include "failpoint.h"
#include "seed.h"
#include "seedmap.h"
#include "seedpack.h"
#include "source.h"
#include "util.h"

/* The identity of the cache at @path, if it is a laid-out uloop cache
 * (read-only: a daemon may hold it); *@complete (may be NULL): does it
 * hold every block? */
static bool ulo_update_identity_of(const char *path, struct ulo_identity *id,
				   bool *complete)
{
	struct ulo_cache_opts co = { .path = path, .readonly = true };
	struct ulo_cache *c;
	bool ok;

	if (access(path, F_OK))
		return false;
	if (ulo_cache_open(&co, &c))
		return false;
	ok = ulo_cache_is_laid_out(c) && !ulo_cache_is_2007(c);
	if (ok)
		*id = *ulo_cache_identity(c);
	if (ok && complete)
		*complete = ulo_cache_count(c) == ulo_cache_nblocks(c);
	ulo_cache_close(c);
	return ok;
}

static bool ulo_update_identity(const char *path, struct ulo_identity *id)
{
	return ulo_update_identity_of(path, id, NULL);
}

/* The root hash of a verity identity (hex), or NULL. */
static const char *ulo_update_root(const struct ulo_identity *id, char *hex)
{
	struct ulo_verity_info vi;

	if (ulo_verity_info_of(id, &vi))
		return NULL;
	memcpy(hex, vi.root_hex, sizeof(vi.root_hex));
	return hex;
}

static int ulo_update_rename(const char *from, const char *to)
{
	if (rename(from, to) < 0)
		return ulo_errno(-errno, "%s: rename to %s", from, to);
	return ulo_sync_dir_of(to);
}

/* The seed map from the version of @id to @src's into @map: 0, -ENOENT
 * (none for that version), or -errno. */
static int ulo_update_fetch_map(const char *path, const struct ulo_identity *id,
				struct ulo_source *src, struct ulo_seedmap *map)
{
	struct ulo_verity_info vi;
	int ret;

	if (ulo_verity_info_of(id, &vi))
		return -ENOENT;
	ret = ulo_source_fetch_seedmap(src, vi.root_hex, map);
	if (ret)
		return ret;
	if (map->old_size != vi.data_blocks * vi.data_block_size) {
		ulo_seedmap_free(map);
		return ulo_err(-EINVAL, "%s: the seed map is of an image of %" PRIu64
			       " bytes, the version on the flash has %" PRIu64, path,
			       map->old_size, vi.data_blocks * vi.data_block_size);
	}
	return 0;
}

/* Lock @path as a cache is locked (exclusive, not waiting): its fd;
 * -EBUSY if a uloop process holds it; else -errno (-ENOENT: none). */
static int ulo_update_lock(const char *path)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC), e;

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	return fd;
}

/* Does a failed map fetch (or seed open) mean the older version is of no
 * use (no map for it, or a wrong one), rather than "not now" (the server
 * or the flash failed: the older version is kept for the next start)? */
static bool ulo_update_no_map(int err)
{
	return err == -ENOENT || err == -EINVAL;
}

int ulo_update_prepare(const char *cache, struct ulo_source *src, struct ulo_update *out)
{
	char seedp[PATH_MAX], nextp[PATH_MAX], have[65], want[65];
	struct ulo_identity cid, nid, sid;
	struct ulo_seedmap map = { 0 };
	struct stat st;
	bool has_c, has_map = false, complete = false;
	int ret, fd;

	memset(out, 0, sizeof(*out));
	out->lock_fd = -1;
	if (!ulo_update_root(&src->id, want))
		return 0;	/* not a manifest's version */
	/* A device, a symbolic link (renaming it would move the link, not
	 * the cache), or nothing we can look at: dropped on binding. */
	if (lstat(cache, &st) < 0 ? errno != ENOENT : !S_ISREG(st.st_mode))
		return 0;
	if ((size_t)snprintf(seedp, sizeof(seedp), "%s" ULO_UPDATE_SEED_SUFFIX, cache) >= sizeof(seedp) ||
	    (size_t)snprintf(nextp, sizeof(nextp), "%s" ULO_UPDATE_NEXT_SUFFIX, cache) >= sizeof(nextp))
		return 0;
	/* C's lock for the whole of it: a daemon serving C keeps it, and
	 * nothing is renamed under it (binding would say the same). */
	fd = ulo_update_lock(cache);
	if (fd == -EBUSY)
		return ulo_err(-EBUSY, "%s: in use by another uloop process", cache);
	out->lock_fd = fd >= 0 ? fd : -1;
	has_c = ulo_update_identity(cache, &cid);
	/* 0. Back to the version of the seed (a manifest rolled back): it is
	 * C again; C, of a version the old manifest has no map from, goes. */
	if (ulo_update_identity(seedp, &sid) && ulo_identity_same(&sid, &src->id) &&
	    !(has_c && ulo_identity_same(&cid, &src->id))) {
		ret = ulo_update_rename(seedp, cache);
		if (ret)
			return ret;
		has_c = ulo_update_identity(cache, &cid);
	}
	/* 1. A staged version: the booted one becomes C; another (staged
	 * for a version since replaced) is removed.  One being staged right
	 * now (locked) is left alone. */
	if (ulo_update_identity(nextp, &nid) && (fd = ulo_update_lock(nextp)) >= 0) {
		ret = 0;
		if (!ulo_identity_same(&nid, &src->id)) {
			if (unlink(nextp) < 0 && errno != ENOENT)
				ret = ulo_errno(-errno, "%s: remove", nextp);
		} else {
			if (has_c && !ulo_identity_same(&cid, &src->id)) {
				ret = ulo_update_rename(cache, seedp);
				if (!ret)
					ulo_failpoint("update-next-half");
			}
			if (!ret)
				ret = ulo_update_rename(nextp, cache);
			if (!ret) {
				out->from_next = true;
				has_c = ulo_update_identity_of(cache, &cid, &complete);
			}
		}
		close(fd);
		if (ret)
			return ret;
	}
	/* 2. The flash holds an older version: aside as the seed, if the
	 * manifest maps it (or the map cannot be asked for now: the next
	 * start asks again). */
	if (has_c && !ulo_identity_same(&cid, &src->id)) {
		ret = ulo_update_fetch_map(cache, &cid, src, &map);
		if (ret && ret != -ENOENT)
			snprintf(out->note, sizeof(out->note), "no update from the version on the flash%s: %.400s",
				 ulo_update_no_map(ret) ? "" : " now (it is kept for the next start)",
				 ulo_errmsg());
		if (!ret || !ulo_update_no_map(ret)) {
			int r = ulo_update_rename(cache, seedp);

			if (r) {
				/* Kept in place, it is dropped on binding. */
				snprintf(out->note, sizeof(out->note), "no update from the version on the flash: %.400s",
					 ulo_errmsg());
				ulo_seedmap_free(&map);
				return 0;
			}
			ulo_failpoint("update-seed-renamed");
			has_map = !ret;
		}
	}
	/* 3. The seed, if it is of use (a staged version that was completed
	 * needs nothing of it). */
	if (!ulo_update_identity(seedp, &sid)) {
		ulo_seedmap_free(&map);
		return 0;
	}
	ret = has_map ? 0 : complete ? -ENOENT : ulo_update_fetch_map(seedp, &sid, src, &map);
	if (!ret)
		ret = ulo_seed_open(seedp, &map, &out->seed);
	if (ret && !ulo_update_no_map(ret)) {
		if (!out->note[0])
			snprintf(out->note, sizeof(out->note), "%.200s not used now (kept for the next start): %.250s",
				 seedp, ulo_errmsg());
		return 0;
	}
	if (ret) {
		if (ret != -ENOENT && !out->note[0])
			snprintf(out->note, sizeof(out->note), "%.200s not used: %.290s", seedp, ulo_errmsg());
		/* Of no use to this version: its space back. */
		if (unlink(seedp) < 0 && errno != ENOENT)
			return ulo_errno(-errno, "%s: remove", seedp);
		return 0;
	}
	out->seed_available = ulo_seed_available(out->seed);
	ulo_update_root(&sid, have);
	snprintf(out->note, sizeof(out->note),
		 "update from the version on the flash (root hash %.16s...): %" PRIu64 " of %" PRIu64
		 " blocks of this version are taken from it%s", have, out->seed_available,
		 ulo_seed_map(out->seed)->blocks, out->from_next ? " (the staged version is used)" : "");
	return 0;
}

void ulo_update_done(struct ulo_update *u)
{
	if (u->lock_fd >= 0)
		close(u->lock_fd);
	u->lock_fd = -1;
}

int ulo_update_stage(const char *cache, struct ulo_source *src, char *next,
		     struct ulo_seed **seed, char *note, size_t cap)
{
	struct ulo_identity cid;
	struct ulo_seedmap map;
	struct stat st;
	int ret;

	*seed = NULL;
	note[0] = '\0';
	if ((size_t)snprintf(next, PATH_MAX, "%s" ULO_UPDATE_NEXT_SUFFIX, cache) >= PATH_MAX)
		return ulo_err(-ENAMETOOLONG, "%s: path too long", cache);
	/* A link would be staged beside but never taken (ulo_update_prepare
	 * leaves links alone). */
	if (lstat(cache, &st) == 0 && S_ISLNK(st.st_mode))
		return ulo_err(-EINVAL, "%s: a symbolic link; stage beside the cache file itself",
			       cache);
	/* No cache yet, or one of this version: nothing to stage beside. */
	if (!ulo_update_identity(cache, &cid) || ulo_identity_same(&cid, &src->id))
		return 1;
	ret = ulo_update_fetch_map(cache, &cid, src, &map);
	if (!ret)
		ret = ulo_seed_open(cache, &map, seed);
	if (ret == -ENOENT)
		snprintf(note, cap, "%s: the manifest has no seed map from the version it holds: the version is staged whole",
			 cache);
	else if (ret)
		snprintf(note, cap, "%s not used: %s", cache, ulo_errmsg());
	else
		snprintf(note, cap, "%" PRIu64 " of %" PRIu64 " blocks of the new version are taken from %s",
			 ulo_seed_available(*seed), ulo_seed_map(*seed)->blocks, cache);
	return 0;
}

struct ulo_update_flush {
	struct ulo_engine *e;
	struct ulo_seed *seed;
	uint64_t per, dbs, blocks;
	bool whole;		/* queue whole leaves (all of the version wanted) */
};

/* The blocks put so far into the cache: their leaves queued whole when
 * all of the version is wanted (the hash blocks are then computed, not
 * fetched), else the stretches of blocks put (a boot: hashing the rest of
 * each leaf would slow it more than fetching its hash block). */
static int ulo_update_flush(void *ctx)
{
	struct ulo_update_flush *f = ctx;
	uint64_t n, q, last = UINT64_MAX;
	const uint64_t *blk = ulo_seed_puts(f->seed, &n);
	int ret = 0;

	for (uint64_t i = 0; !ret && i < n; i++) {
		uint64_t g = blk[i] / f->per, j = i + 1;

		if (!f->whole) {
			while (j < n && blk[j] == blk[j - 1] + 1)
				j++;
			ret = ulo_engine_prefetch(f->e, blk[i] * f->dbs, (blk[j - 1] - blk[i] + 1) * f->dbs, &q);
			i = j - 1;
			continue;
		}
		if (g == last)
			continue;
		last = g;
		ret = ulo_engine_prefetch(f->e, g * f->per * f->dbs,
					  ULO_MIN(f->per, f->blocks - g * f->per) * f->dbs, &q);
	}
	if (!ret)
		ret = ulo_engine_drain(f->e);
	ulo_seed_drop_puts(f->seed);
	ulo_failpoint("update-pack-flush");
	return ret;
}

static void ulo_update_pace(void *ctx, uint64_t bytes)
{
	struct ulo_update_flush *f = ctx;

	ulo_engine_pace(f->e, bytes);
}

int ulo_update_apply_pack(struct ulo_engine *e, struct ulo_cache *cache,
			  struct ulo_source *src, bool whole, uint64_t *blocks)
{
	struct ulo_seed *seed = ulo_source_seed(src);
	const struct ulo_seedmap *m;
	struct ulo_verity_info vi;
	struct ulo_update_flush f;
	struct ulo_source *pack;
	uint64_t at = 0, cbs, changed = 0, cached = 0;
	int ret;

	*blocks = 0;
	if (!seed || !cache || ulo_source_verity_info(src, &vi) || !ulo_seed_map(seed)->pack[0])
		return -ENOENT;
	m = ulo_seed_map(seed);
	cbs = ulo_cache_block_size(cache);
	/* Worth it while most of the changed blocks are still missing (a
	 * boot's first reads may have fetched a few; a resumed update has
	 * many, and fetches the rest one range at a time). */
	for (uint64_t i = 0; i <= m->nruns; i++) {
		uint64_t end = i < m->nruns ? m->runs[i].blk : m->blocks;

		for (uint64_t d = at; d < end; d++) {
			changed++;
			cached += ulo_cache_present(cache, d * m->block_size / cbs);
		}
		if (i < m->nruns)
			at = m->runs[i].blk + m->runs[i].count;
	}
	if (2 * cached > changed)
		return -ENOENT;
	ret = ulo_source_open_sibling(src, m->pack, &pack);
	if (ret)
		return ret;
	if (pack->id.size != m->pack_size) {
		ret = ulo_err(-EINVAL, "%s: %" PRIu64 " bytes, the seed map says %" PRIu64,
			      pack->id.location, pack->id.size, m->pack_size);
	} else {
		f = (struct ulo_update_flush){ .e = e, .seed = seed, .dbs = vi.data_block_size,
					       .per = vi.hash_block_size / ULO_SHA256_LEN,
					       .blocks = m->blocks, .whole = whole };
		/* Paced (in small requests) only under a rate limit: one round
		 * trip per MiB otherwise. */
		ret = ulo_seedpack_apply(pack, seed, ulo_update_flush,
					 ulo_engine_paced(e) ? ulo_update_pace : NULL, &f, blocks);
		ulo_seed_drop_puts(seed);
	}
	ulo_source_close(pack);
	return ret;
}
