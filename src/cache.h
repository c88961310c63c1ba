/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cache.h - the block cache on local flash: common API over format plug-ins.
 *
 * A cache maps image block i to a place in a file or on a device and keeps
 * three bitmaps: "present" (readable now), "pending" (written, not yet
 * durable) and "durable" (what the on-disk bitmap says).  cache.c holds the
 * write order; formats (cache_native.c, cache_2007.c) only know where their
 * bytes live.
 *
 * Threads: ulo_cache_present/read/write_blocks may be called from any
 * thread without locks.  commit, bind and close serialise on commit_lock.
 * Processes: one writer per cache (exclusive flock); read-only opens take
 * no lock and see a consistent on-disk state whatever the writer does.
 */
#ifndef ULOOP_CACHE_H
#define ULOOP_CACHE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bitmap.h"
#include "cache_header.h"
#include "identity.h"

#define ULO_DEFAULT_BLOCK_SIZE (64 * 1024)
#define ULO_DEFAULT_COMMIT_MS 1000
#define ULO_2007_PAGE 4096	/* the 2007 layout's block: a page */
/* Failed reads and checksums after which a flash is given up. */
#define ULO_CACHE_MAX_FAULTS 16

struct ulo_cache;

struct ulo_cache_opts {
	const char *path;	/* cache file or block device */
	const char *bitmap_path;	/* non-NULL: the 2007 two-file layout */
	uint32_t block_size;	/* new caches; 0 = default; must match old */
	bool readonly;		/* inspect only: never write, no lock */
	bool create;		/* create a missing file */
	bool wipe;		/* may format a device/file holding other data */
	bool offline;		/* refuse (do not drop) on an identity change */
};

/* Outcome of binding a cache to an image. */
enum ulo_bind_result {
	ULO_BIND_REUSED,	/* same image: present blocks kept */
	ULO_BIND_NEW,		/* empty cache laid out for the image */
	ULO_BIND_DROPPED,	/* another image was cached: dropped */
	ULO_BIND_ADOPTED,	/* 2007 cache without recorded identity */
	ULO_BIND_DIFFERED,	/* same identity, other bytes: dropped (bind.c) */
	ULO_BIND_UPGRADED,	/* same image in an old format: laid out anew */
};

struct ulo_cache_fmt;

struct ulo_cache {
	const struct ulo_cache_fmt *fmt;
	char path[PATH_MAX];
	char bitmap_path[PATH_MAX];	/* 2007 layout only */
	int fd;			/* cache file or device */
	int bfd;		/* 2007 bitmap file, else -1 */
	int dio_fd;		/* the same file O_DIRECT for data reads, or -1
				 * (no direct I/O there): ulo_cache_reopen_direct() */
	bool is_blkdev;
	bool readonly;
	bool wipe;
	uint64_t capacity;	/* device size; UINT64_MAX for files */

	/* Layout; fixed between bind/reset calls (under commit_lock). */
	bool laid_out;		/* false: new or empty cache */
	uint32_t block_size;
	uint32_t block_shift;
	uint64_t image_size;
	uint64_t nblocks;
	uint64_t data_offset;	/* cache offset of image offset 0 */
	uint64_t csum_offset;	/* CRC-32C per 4 KiB of data; 0: none */
	uint64_t bitmap_bytes;	/* dense bitmap bytes, 4 KiB pages */
	bool needs_relayout;	/* an old format: a writer lays it out anew */
	struct ulo_identity id;	/* bound image (kind NONE: unbound) */
	uint8_t bind_id[16];	/* random, new at every layout: readers
				 * check it to tell a drop happened */
	bool was_clean;		/* native: clean flag found at open */

	struct ulo_bitmap present;	/* lock-free */
	struct ulo_bitmap pending;	/* lock-free; drained by commit */
	struct ulo_bitmap durable;	/* protected by commit_lock */
	struct ulo_bitmap dirty;	/* 4 KiB bitmap pages to write; commit_lock */

	pthread_mutex_t commit_lock;
	int broken;		/* sticky -errno after a failed flush or
				 * bitmap write: nothing more is committed */
	int full;		/* sticky -errno after a failed data write
				 * (a full flash): no more blocks are taken,
				 * those already written are still committed */
	uint64_t commits;	/* successful commits with new bits */
	/* Damage found (atomics): bitmap sectors whose CRC failed at open,
	 * cached data whose CRC failed or whose read failed on a hit; blocks
	 * taken back for it.  After ULO_CACHE_MAX_FAULTS the flash is given
	 * up (ulo_cache_fault()). */
	uint64_t bm_csum_errors;
	uint64_t csum_errors;
	uint64_t read_errors;
	uint64_t refetched;
	int failed;		/* sticky -errno: the flash is given up */
	const char *giveup_note;	/* what happens then, for its warning
					 * (the engine's RAM store), or NULL */
	bool withdrawn;		/* bits cleared since the last bitmap write */
	uint64_t unkicked;	/* bytes written since the last write-out kick */

	pthread_t committer;	/* periodic commit thread */
	bool committer_running;
	bool committer_stop;	/* protected by committer_mx */
	pthread_mutex_t committer_mx;
	pthread_cond_t committer_cv;
	unsigned commit_ms;

	/* Told of blocks [blk, blk + n) once stored and marked present, from
	 * the storing thread (uloop.ko learns of readahead this way); set by
	 * ulo_cache_on_store(). */
	void (*on_store)(void *ctx, uint64_t blk, uint64_t n);
	void *on_store_ctx;
	/* Called (commit_lock held) for blocks taken back after a failed
	 * flush: whoever serves them from the cache must stop; see
	 * ulo_cache_on_withdraw(). */
	void (*on_withdraw)(void *ctx, uint64_t blk, uint64_t n);
	void *on_withdraw_ctx;

	void *fmt_priv;
};

/*
 * A format: where the header, bitmap and data live.  Called with
 * commit_lock held (or before any other thread exists).
 */
struct ulo_cache_fmt {
	const char *name;
	/* Read an existing layout and durable bitmap.  -ENODATA: new/empty. */
	int (*load)(struct ulo_cache *c);
	/* Durably forget the bound identity (step 1 of dropping an image). */
	int (*unbind)(struct ulo_cache *c);
	/* Lay out an empty cache for @id, all bits clear, identity last. */
	int (*format)(struct ulo_cache *c, const struct ulo_identity *id);
	/* Write on-disk bitmap bytes [@off, @off + @len) (no flush). */
	int (*write_bitmap)(struct ulo_cache *c, uint64_t off, const void *buf,
			    size_t len);
	/* Make written bitmap bytes durable. */
	int (*sync_bitmap)(struct ulo_cache *c);
	/* Write and flush the header (@clean: the clean-shutdown flag). */
	int (*write_header)(struct ulo_cache *c, bool clean);
	/* Read the binding now on disk (identity and bind id), lock-free. */
	int (*read_binding)(struct ulo_cache *c, struct ulo_identity *id,
			    uint8_t *bind_id);
	void (*close)(struct ulo_cache *c);
};

extern const struct ulo_cache_fmt ulo_cache_fmt_native;
extern const struct ulo_cache_fmt ulo_cache_fmt_2007;

/* Open (and lock) a cache; a missing/empty one is created when asked. */
int ulo_cache_open(const struct ulo_cache_opts *opts, struct ulo_cache **out);

/*
 * Bind the cache to the image @id: keep it if it holds that image, else
 * drop it and lay it out anew (refused with -ESTALE if @offline).
 * @dropped (may be NULL) gets the number of blocks thrown away.
 */
int ulo_cache_bind(struct ulo_cache *c, const struct ulo_identity *id,
		   bool offline, enum ulo_bind_result *res, uint64_t *dropped);

/*
 * Drop whatever the cache holds and lay it out empty for @id, even when
 * the identity is the one it is bound to (its bytes were found to differ
 * from the source's: bind.c).  Before the committer starts.
 */
int ulo_cache_drop(struct ulo_cache *c, const struct ulo_identity *id,
		   uint64_t *dropped);

static inline bool ulo_cache_present(const struct ulo_cache *c, uint64_t blk)
{
	return ulo_bitmap_test(&c->present, blk);
}

/*
 * Read image bytes [@off, @off + @len), all of whose blocks are present,
 * each 4 KiB checked against its CRC-32C (format 2).  -EBADMSG (a checksum
 * failed) or -EIO/-errno (the flash failed the read), with *@bad_blk the
 * block at fault; the caller decides what becomes of the block
 * (ulo_cache_fault(), which counts it).  -ENOMEM is no fault of the flash.
 */
int ulo_cache_read_checked(struct ulo_cache *c, void *buf, uint64_t off,
			   size_t len, uint64_t *bad_blk);
/* The same for callers that only report the error. */
int ulo_cache_read(struct ulo_cache *c, void *buf, uint64_t off, size_t len);

/*
 * Take block @blk back: not present (uloop.ko is told), its bit cleared on
 * disk at the next commit, so it is fetched and stored again.
 */
bool ulo_cache_withdraw(struct ulo_cache *c, uint64_t blk);	/* was present */

/*
 * Block @blk failed a read or its checksum (@err): withdraw it, and count
 * it (once, however many readers saw it; -EBADMSG a checksum, else a read
 * error).  Returns
 * true while the cache is still used; after ULO_CACHE_MAX_FAULTS faults the
 * flash is given up with one warning (no block present, no more writes)
 * and false is returned.
 */
bool ulo_cache_fault(struct ulo_cache *c, uint64_t blk, int err);

/*
 * Store fetched image bytes [@blk * block_size, + @len) and mark the blocks
 * present (durable at the next commit).  @len covers whole blocks except at
 * the image end.  A failure (a full flash) makes the cache "full": later
 * writes fail fast and the caller serves from its buffer; the blocks
 * written before it are still committed.
 */
int ulo_cache_write_blocks(struct ulo_cache *c, uint64_t blk, const void *buf,
			   size_t len);

/* Set (or clear, @fn NULL) the store hook; safe while stores run, but
 * @ctx must stay valid until the last store that may call it returns. */
void ulo_cache_on_store(struct ulo_cache *c,
			void (*fn)(void *ctx, uint64_t blk, uint64_t n), void *ctx);

/*
 * Tell @fn about blocks the cache takes back: their flush failed, so the
 * flash may not hold them (a kernel reading the cache itself, uloop.ko,
 * must miss on them again).  NULL stops the calls.
 */
void ulo_cache_on_withdraw(struct ulo_cache *c,
			   void (*fn)(void *ctx, uint64_t blk, uint64_t n), void *ctx);

/* Make every block written so far durable, in the write order. */
int ulo_cache_commit(struct ulo_cache *c);

/* Commit every @interval_ms from a background thread. */
int ulo_cache_start_committer(struct ulo_cache *c, unsigned interval_ms);

/* Stop the committer, commit, mark clean (if writable and not broken),
 * unlock and free.  Returns the first error of that sequence. */
int ulo_cache_close(struct ulo_cache *c);

/*
 * For readers without the lock (export, check): 0 if the cache on disk is
 * still laid out for the image it had when opened, else -ESTALE (another
 * process dropped it and laid it out anew: what was read may mix images).
 */
int ulo_cache_check_binding(struct ulo_cache *c);

/*
 * Bytes of the image not yet cached that would not fit in the free space
 * of the filesystem holding the cache's data (0: it all fits, or the data
 * lives on a raw partition laid out for the whole image).  For a warning
 * at attach: a full flash still boots, fetching what it cannot keep.
 */
int ulo_cache_shortfall(struct ulo_cache *c, uint64_t *bytes);

/* True once the cache takes no more blocks (full, or broken). */
static inline bool ulo_cache_full(const struct ulo_cache *c)
{
	return c && (__atomic_load_n(&c->full, __ATOMIC_ACQUIRE) ||
		     __atomic_load_n(&c->broken, __ATOMIC_ACQUIRE));
}

/* Number of present blocks. */
static inline uint64_t ulo_cache_count(const struct ulo_cache *c)
{
	return ulo_bitmap_count(&c->present);
}

/* Bytes of image covered by block @blk (the last block may be short). */
static inline uint64_t ulo_cache_block_len(const struct ulo_cache *c,
					   uint64_t blk)
{
	uint64_t off = blk << c->block_shift;

	return c->image_size - off < c->block_size ? c->image_size - off :
		c->block_size;
}

/* Would a format 1 native cache fit in format 2 where it lies?  @why gets
 * the shortfall when not. */
bool ulo_native_upgrade_fits(struct ulo_cache *c, char *why, size_t len);

/* The current header of a native cache (for `uloop info`), or NULL. */
const struct ulo_header *ulo_native_header(const struct ulo_cache *c);

/*
 * (Re)open the O_DIRECT twin of the cache's fd, after the fd changed (a
 * re-layout renames a new file into place).  Without direct I/O (tmpfs,
 * no /proc) data reads are buffered.  Internal to the cache modules.
 */
void ulo_cache_reopen_direct(struct ulo_cache *c);

/* Internal to the cache modules: set up bitmaps for the current layout. */
int ulo_cache_alloc_bitmaps(struct ulo_cache *c);
void ulo_cache_free_bitmaps(struct ulo_cache *c);

#endif
