/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * seedmap.h - where a new version's blocks lie in an older version: the
 * seed map `uloop publish` writes for each version it keeps, and that a
 * node holding the old version on its flash uses to fetch only the rest
 * (docs/updates.md).
 *
 * A map is runs of new-version data blocks, each found whole, byte for
 * byte, in the old image at a byte offset that need not be aligned (a
 * squashfs rebuilt after a file changed shifts everything after it by
 * any number of bytes):
 *
 *     uloop-seed 1
 *     from 9a1e...(the old version's root hash)
 *     to 3b77...(the new version's root hash)
 *     block-size 4096
 *     blocks 22631              the new image's data blocks
 *     old-size 92696576         the old image's bytes
 *     pack root-3.from-2.pack 81920    its changed blocks, compressed
 *     runs 3
 *     0 1200 0                  NEW_BLOCK COUNT OLD_BYTE_OFFSET
 *     1203 21000 4931417
 *     ...
 *
 * Runs are sorted and do not overlap; blocks no run names are the ones
 * the new version changed (or the ones publish could not find); the pack
 * (seedpack.h; "pack - 0": none) holds them for a node that wants them
 * all.  A map is
 * a hint, never trusted: every block a node takes from its old version is
 * verified against the new version's hash tree before it is used, so a
 * wrong map costs fetches, never a wrong byte.
 */
#ifndef ULOOP_SEEDMAP_H
#define ULOOP_SEEDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

#define ULO_SEEDMAP_MAGIC "uloop-seed 1"
/* A map larger than this is refused (a run a line of at most ~60 bytes:
 * over a million runs, far more than any real update has). */
#define ULO_SEEDMAP_MAX_FILE (64u << 20)

struct ulo_seed_run {
	uint64_t blk;		/* first new-version data block */
	uint64_t count;		/* blocks */
	uint64_t old_off;	/* where block @blk starts in the old image */
};

struct ulo_seedmap {
	uint8_t from[ULO_SHA256_LEN], to[ULO_SHA256_LEN];
	uint32_t block_size;
	uint64_t blocks;	/* new image's data blocks */
	uint64_t old_size;	/* old image's bytes */
	char pack[96];		/* the pack's file name, "" if none */
	uint64_t pack_size;
	struct ulo_seed_run *runs;
	uint64_t nruns, cap;
	uint64_t mapped;	/* blocks in all runs */
};

/* Append run [@blk, + @count) -> @old_off, merging it with the last run
 * when it continues it: 0 or -ENOMEM.  Runs must come in block order. */
int ulo_seedmap_add(struct ulo_seedmap *m, uint64_t blk, uint64_t count,
		    uint64_t old_off);

/* The map's text, malloc'ed, into *@out (*@len bytes): 0 or -ENOMEM. */
int ulo_seedmap_format(const struct ulo_seedmap *m, char **out, size_t *len);

/* Parse (strictly) a map fetched from @what: 0, or -EINVAL naming @what,
 * the line and the cause (-ENOMEM). */
int ulo_seedmap_parse(const char *text, size_t len, const char *what,
		      struct ulo_seedmap *out);

/* Where new block @blk starts in the old image: 0, or -ENOENT if no run
 * names it. */
int ulo_seedmap_find(const struct ulo_seedmap *m, uint64_t blk, uint64_t *old_off);

void ulo_seedmap_free(struct ulo_seedmap *m);

/*
 * Publish's side: find the new image's data blocks of @bs bytes in the
 * old image (both whole in memory, @new_len a multiple of @bs) and
 * append them to @m as runs (its other fields are the caller's).  Blocks
 * at the same offset are compared first; the rest are looked for at
 * every byte offset of the old image, with a rolling checksum (rsync's,
 * zsync's) that only blocks whose checksum matches are compared byte for
 * byte.  0 or -ENOMEM.
 */
int ulo_seedmap_compute(const uint8_t *old, uint64_t old_len, const uint8_t *new,
			uint64_t new_len, uint32_t bs, struct ulo_seedmap *m);

/*
 * The same over files: the old image open at @old_fd (@old_what names it
 * in messages) and the new one at @new_fd, @new_len bytes (a multiple of
 * @bs), both read through mmap.  Fills @m's runs, block size, blocks and
 * old size (from and to are the caller's).  0 or -errno, message recorded.
 */
int ulo_seedmap_compute_files(int old_fd, const char *old_what, int new_fd,
			      const char *new_what, uint64_t new_len, uint32_t bs,
			      struct ulo_seedmap *m);

#endif
