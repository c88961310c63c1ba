/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * seedpack.h - the changed blocks of an update, compressed: what a node
 * fetches instead of the blocks one range at a time when it wants all of
 * a new version (a hydration, a version staged ahead) (docs/updates.md).
 *
 * Publish writes one beside each seed map (NAME-V.from-U.pack, named by
 * the map's "pack" line).  It holds every run of new-version blocks the
 * map does not name, in block order, each as
 *
 *     le64 first block, le64 blocks,
 *     le32 prefix bytes, le64 prefix's old offset,
 *     le32 suffix bytes, le64 suffix's old offset,
 *     the bytes between prefix and suffix
 *
 * after the magic ULO_SEEDPACK_MAGIC and before an end record (first
 * block UINT64_MAX), the whole one zstd frame.  Prefix and suffix are
 * what the run's edges still share with the old image, byte for byte,
 * continuing the mapped blocks around it: a file that changed inside a
 * squashfs starts and ends in the middle of blocks, and the parts of
 * those blocks that did not change are copied on the node, not fetched.
 *
 * Like the map, a pack is a hint: every block rebuilt from it is checked
 * against the new version's tree before it is kept.
 */
#ifndef ULOOP_SEEDPACK_H
#define ULOOP_SEEDPACK_H

#include <stdint.h>

#include "seedmap.h"

#define ULO_SEEDPACK_MAGIC "uloop-pack 1\n"
#define ULO_SEEDPACK_LEVEL 19

struct ulo_source;
struct ulo_seed;

struct ulo_seedpack_stats {
	uint64_t runs;		/* changed runs */
	uint64_t literal;	/* bytes carried (before compression) */
	uint64_t edges;		/* bytes of changed blocks copied from the old */
	uint64_t size;		/* the pack's bytes (compressed) */
};

/*
 * Publish's side: the pack of @m's gaps (the new image @new, the old
 * @old), written to @fd (@what names it).  0 or -errno, message recorded.
 */
int ulo_seedpack_write(const uint8_t *old, uint64_t old_len, const uint8_t *new,
		       uint64_t new_len, const struct ulo_seedmap *m, int fd,
		       const char *what, struct ulo_seedpack_stats *st);
/* The same over files (read through mmap): the old image at @old_fd,
 * the new one at @new_fd (@m->blocks blocks). */
int ulo_seedpack_write_files(int old_fd, int new_fd, const struct ulo_seedmap *m,
			     int fd, const char *what, struct ulo_seedpack_stats *st);

/*
 * A node's side: read the pack @pack (a source: fetched in order, 1 MiB
 * at a time), rebuild its blocks from it and the old version (@seed), and
 * hand each to the seed (ulo_seed_put), calling @flush whenever the seed
 * holds ULO_SEEDPACK_FLUSH_BYTES of them and at the end: it must take
 * them into the cache (and ulo_seed_drop_puts).  Blocks whose edges the
 * old cache lacks are skipped (fetched later the usual way).  @pace (may
 * be NULL) is called before each fetch with its size (a rate limit).  *@blocks
 * gets the blocks handed over.  0 or -errno, message recorded.
 */
#define ULO_SEEDPACK_FLUSH_BYTES (8u << 20)
int ulo_seedpack_apply(struct ulo_source *pack, struct ulo_seed *seed,
		       int (*flush)(void *ctx), void (*pace)(void *ctx, uint64_t bytes),
		       void *ctx, uint64_t *blocks);

#endif
