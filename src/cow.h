/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cow.h - a persistent writable layer: a stack of UML COW files over the
 * image.
 *
 * The top file takes the device's writes; the files below it are frozen
 * (earlier snapshots); the image (read through the engine, so fetched
 * lazily and cached) is the bottom.  A sector reads from the highest
 * layer whose bit says it holds it.  Each file names the one below in its
 * header (cow_uml.h), so opening the top finds the whole stack; the
 * bottom one names the image (its path, or its URL with the image's
 * identity noted beside it).
 *
 * Durability is the cache's promise applied to writes: a write is put in
 * place at once and its bit set in memory (reads see it), but the on-disk
 * bit is written only at a flush, after the data is synced, and synced in
 * turn.  So after a crash or a power cut the file is consistent: every
 * sector whose bit is set holds what was written to it, the writes up to
 * the last completed flush are all there, and later ones may or may not
 * be (what a disk with a volatile write cache promises).
 *
 * Threads: read, write and flush may run from many threads at once;
 * snapshot waits for them and holds them off while it switches the top.
 */
#ifndef ULOOP_COW_H
#define ULOOP_COW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cow_uml.h"
#include "identity.h"
#include "ramwrites.h"	/* ulo_base_read_fn */

#define ULO_COW_MAX_DEPTH 16

struct ulo_cow;

struct ulo_cow_opts {
	const char *path;	/* the top COW file (created if missing) */
	/* The image at the bottom: its identity (location: absolute path or
	 * URL; size) and how to read it.  base_read may be NULL for a stack
	 * only inspected (info) or merged in place; base NULL: the bottom is
	 * not checked, nothing is created (an in-place merge's target). */
	const struct ulo_identity *base;
	/* The cache found other bytes at @base_differed_off under the
	 * base's identity (struct ulo_source's differed): an existing
	 * layer's recorded identity proves nothing, and it is refused. */
	bool base_differed;
	uint64_t base_differed_off;
	ulo_base_read_fn base_read;
	void *base_ctx;
	bool readonly;		/* no writes, no creation, no locks taken */
	/* Accept layers whose lower file's mtime moved: an in-place merge
	 * that stopped half-way writes the lower file before it is done
	 * (redoing it is safe: the upper layer still holds every sector). */
	bool ignore_mtime;
	/* A tmpfs directory (the run state's) where the top's bits are
	 * mirrored (cow_pending.h), so that writes acknowledged but not yet
	 * flushed survive the daemon's death in the same boot; NULL: not
	 * kept (a process that dies loses them, as a power cut would). */
	const char *pending_dir;
};

/*
 * Open (or, with a writable open of a missing or empty file, create as
 * UML COW V3 over o->base) the stack whose top is o->path.  Every layer is
 * checked as UML checks it (the file below exists, has the recorded size
 * and mtime) and against the image (same location and size; the
 * identity noted for a URL).  0 or -errno with a message naming the file.
 */
int ulo_cow_open(const struct ulo_cow_opts *o, struct ulo_cow **out);

/*
 * Open the stack under @path without knowing its image: follow the
 * backing names down to the first that is not a COW file, which is the
 * image (its location in @base_location, its size in *@size).  For
 * merge and info.
 */
int ulo_cow_find_base(const char *path, char *base_location, size_t len,
		      uint64_t *size);

int ulo_cow_read(struct ulo_cow *s, void *buf, uint64_t off, size_t len);
/* Writes go to the top; -EROFS for a read-only stack, -EIO after a
 * failed flush (nothing more is promised). */
int ulo_cow_write(struct ulo_cow *s, const void *buf, uint64_t off, size_t len);
/* Make every completed write durable (data, then its bits). */
int ulo_cow_flush(struct ulo_cow *s);
/*
 * Start a new top layer @path (which must not exist) over the current
 * one, at a barrier: writes completed before are in the old top, made
 * durable first; writes after go to the new one.  The old top is frozen.
 * @rootfd, if not -1, is the root @path is in (the asker's, when it is
 * not ours: runstate.h); the layer is named @path all the same.
 */
int ulo_cow_snapshot(struct ulo_cow *s, const char *path, int rootfd);

/* For merge: which of the top @k layers holds sector @sector (*@owner:
 * 0..@k-1, or @k: none of them), and for how many sectors from there,
 * at most @n, that stays so. */
uint64_t ulo_cow_run(struct ulo_cow *s, unsigned k, uint64_t sector,
		     uint64_t n, unsigned *owner);
/* Read sectors straight from layer @i's data (for merge). */
int ulo_cow_read_layer(struct ulo_cow *s, unsigned i, void *buf,
		       uint64_t sector, uint64_t n);

unsigned ulo_cow_depth(const struct ulo_cow *s);
/* Sectors layer @i holds (bits set). */
uint64_t ulo_cow_layer_sectors(const struct ulo_cow *s, unsigned i);
/* Is @path a UML COW file of writes (the magic, in either byte order,
 * and not a uloop cache's tag)? */
bool ulo_cow_is_cow_file(const char *path);
const char *ulo_cow_path(const struct ulo_cow *s, unsigned i);
const struct ulo_uml_hdr *ulo_cow_header(const struct ulo_cow *s, unsigned i);
uint64_t ulo_cow_size(const struct ulo_cow *s);
uint32_t ulo_cow_sector_size(const struct ulo_cow *s);
/* Bytes the top holds (sectors with a bit, times the sector size). */
uint64_t ulo_cow_top_bytes(struct ulo_cow *s);
/* Flushes done, and the sticky error of a failed one (0: none). */
uint64_t ulo_cow_flushes(struct ulo_cow *s);
int ulo_cow_error(struct ulo_cow *s);

/* What a status shows, taken at once (a snapshot may switch the top):
 * the top's path, the layers, the bytes the top holds. */
void ulo_cow_top_info(struct ulo_cow *s, char *top, size_t len,
		      unsigned *depth, uint64_t *bytes);

/* Flush (if writable) and close; errors are warned about. */
void ulo_cow_free(struct ulo_cow *s);

#endif
