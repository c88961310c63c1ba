/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cache_internal.h - the cache's own state and its format plug-ins.
 *
 * cache.h is what the rest of uloop sees of a cache: an opaque handle and
 * functions.  This is what is behind it: struct ulo_cache, the ops table of
 * a format and the helpers the formats share.  It is private so that
 * the write order and the locking rules of cache.c hold: a field read or
 * written from outside (a command adopting a size, say) would bypass
 * them, and every field would become an interface to keep.
 *
 * Who includes it, and why:
 *
 *   cache.c           the common layer and its write order
 *   cache_native.c    the formats: where their bytes live
 *   cache_2007.c
 *   cache_compact.c
 *   cache_umlcow.c
 *   cache_verify.c    verify and export walk the present bitmap word by
 *                     word, skipping what is absent (cache_verify.h)
 *   bind.c            picks its sample from the present bitmap
 *   transport_kmod.c  uloop.ko reads hits from the cache itself: the
 *                     transport hands it the on-disk layout (data and
 *                     checksum offsets, block shift), the present bits
 *                     and a second open of the file; functions for each
 *                     would publish the layout to every user of cache.h
 *                     for the one that is the cache's reader in the kernel
 *   tests/unit/test-cache.c, test-engine.c  check internals no function
 *                     tells (commits, the clean flag, the data offset) or
 *                     break a cache as a full flash would
 *
 * cache_header.c does not: it is the header's codec and knows nothing of
 * struct ulo_cache.
 */
#ifndef ULOOP_CACHE_INTERNAL_H
#define ULOOP_CACHE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bitmap.h"
#include "cache.h"
#include "cache_header.h"
#include "identity.h"

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
	bool buffered;		/* no dio_fd, by request (ulo_cache_opts) */
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
	bool csum_seeded;	/* each CRC seeded with its image offset
				 * (compact: data in another's place fails) */
	uint64_t size_limit;	/* compact: --cache-size of a new layout */
	uint64_t bitmap_bytes;	/* dense bitmap bytes, 4 KiB pages */
	bool needs_relayout;	/* an old format: a writer lays it out anew */
	struct ulo_identity id;	/* bound image (kind NONE: unbound) */
	uint8_t bind_id[16];	/* random, new at every layout: readers
				 * check it to tell a drop happened */
	bool was_clean;		/* native: clean flag found at open */
	bool unchecked;		/* native: found not clean, not recovered nor
				 * laid out anew since: ulo_cache_recover()
				 * has work, and closing must not mark it clean */
	uint64_t open_generation;	/* native: the header's at open */
	/* native: the blocks of the last commit, as its header records them
	 * (written before its bits); commit_lock */
	struct ulo_epoch epoch;

	struct ulo_bitmap present;	/* lock-free */
	struct ulo_bitmap pending;	/* lock-free; drained by commit */
	struct ulo_bitmap durable;	/* protected by commit_lock */
	struct ulo_bitmap dirty;	/* 4 KiB bitmap pages to write; commit_lock */

	pthread_mutex_t commit_lock;
	/* Formats with locate() (compact): held for reading while a block's
	 * place is looked up and its bytes read or written, for writing while
	 * an eviction takes places away.  Lock order: commit_lock, map_rw. */
	pthread_rwlock_t map_rw;
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

	/*
	 * Formats whose blocks are not at data_offset + i * block_size
	 * (compact); NULL for the dense ones.  locate: where block @blk's
	 * bytes are, as an offset into the data area (its checksums are at
	 * the same offset's place in the csum region), and how many blocks
	 * from @blk on lie contiguously there (*@run on entry: the most the
	 * caller will read, 0 for no more than one place's worth: a format
	 * may count what lies beyond as read); with @alloc a block without a
	 * place gets one, -ENOSPC when none is free (evict, then again).
	 * map_rw held for reading, commit_lock not needed.
	 */
	int (*locate)(struct ulo_cache *c, uint64_t blk, bool alloc,
		      uint64_t *at, uint64_t *run);
	/* Make places free, durably, before any is written again
	 * (commit_lock held; takes map_rw for writing itself).  -ENOSPC:
	 * nothing may be evicted. */
	int (*evict)(struct ulo_cache *c);
	/* A lockless reader's last check that the places it read from were
	 * not given to other blocks meanwhile (-ESTALE). */
	int (*check_slots)(struct ulo_cache *c);
};

extern const struct ulo_cache_fmt ulo_cache_fmt_native;
extern const struct ulo_cache_fmt ulo_cache_fmt_2007;
extern const struct ulo_cache_fmt ulo_cache_fmt_compact;
extern const struct ulo_cache_fmt ulo_cache_fmt_umlcow;

/* Is this header area (@len bytes from offset 0) a compact cache's? */
bool ulo_compact_magic(const uint8_t *area, size_t len);
/* A compact cache's current header (the native codec's fields), or NULL. */
const struct ulo_header *ulo_compact_header(const struct ulo_cache *c);
/* Bytes the compact cache @c may still grow by. */
uint64_t ulo_compact_room(const struct ulo_cache *c);
/* -EFBIG, with @why naming the filesystem and its limit, if the
 * filesystem under @c's file cannot hold a file of @bytes (vfat). */
int ulo_cache_fs_file_limit(struct ulo_cache *c, uint64_t bytes, char *why,
			    size_t len);

/* Would a format 1 native cache fit in format 2 where it lies?  @why gets
 * the shortfall when not. */
bool ulo_native_upgrade_fits(struct ulo_cache *c, char *why, size_t len);

/*
 * (Re)open the O_DIRECT twin of the cache's fd, after the fd changed (a
 * re-layout renames a new file into place).  Without direct I/O (tmpfs,
 * no /proc) data reads are buffered.
 */
void ulo_cache_reopen_direct(struct ulo_cache *c);

/*
 * Lay a cache file out anew beside its name (NAME.uloop-new, owner and
 * mode copied from the old file, locked), rename it into place and flush
 * the directory, so a crash leaves the old cache or the new one, never a
 * file without a valid header: the file gets @size bytes, its first
 * @zero_len written as zeros (header and bitmap areas are not left
 * sparse: a full filesystem must never refuse a bitmap write later), then
 * @write_header(c, fd, ctx) writes and flushes the header.  On success
 * c->fd is the new file.  Every format that lays out a file uses it.
 */
int ulo_cache_build_file(struct ulo_cache *c, uint64_t size, uint64_t zero_len,
			 int (*write_header)(struct ulo_cache *c, int fd, const void *ctx),
			 const void *ctx);

/*
 * Write an encoded header slot (ULO_HDR_SLOT_SIZE bytes) at @off of @fd
 * and flush it, with the failpoints of a header write (header-torn: a
 * power cut in the middle of it; header-written, header-synced).
 */
int ulo_cache_write_header_slot(struct ulo_cache *c, int fd, const uint8_t *slot,
				uint64_t off);

/* Set up bitmaps for the current layout. */
int ulo_cache_alloc_bitmaps(struct ulo_cache *c);
void ulo_cache_free_bitmaps(struct ulo_cache *c);

#endif
