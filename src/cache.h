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
 *
 * The handle is opaque: callers ask with functions, and what is behind it
 * (struct ulo_cache, the formats' ops table) is cache_internal.h's, so
 * that the write order and its locks are only cache.c's to keep.  Reading
 * a whole cache back (verify, export) is cache_verify.h's.
 */
#ifndef ULOOP_CACHE_H
#define ULOOP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache_header.h"
#include "identity.h"

#define ULO_DEFAULT_BLOCK_SIZE 4096
#define ULO_DEFAULT_COMMIT_MS 1000
#define ULO_2007_PAGE 4096	/* the 2007 layout's block: a page */
/* Failed reads and checksums after which a flash is given up, and how
 * many of them are told (each a warning line). */
#define ULO_CACHE_MAX_FAULTS 16
/* ...counted in units of this much image, whatever the block size: one
 * rotten sector of checksums (one per 4 KiB page) takes back 128 pages,
 * which must not be 16 times the faults with 4 KiB blocks that it is
 * with 64 KiB ones. */
#define ULO_CACHE_FAULT_UNIT (64 * 1024)
/* The faults told one by one, before the give-up's own warning.  Few: a
 * daemon's lines reach the kernel log through /dev/kmsg, which lets one
 * writer 10 lines in 5 s and drops the rest, and the line that says the
 * flash was given up must not be the one dropped (tests/vm/
 * test-vm-flash-errors.sh lost it, now and then, at 10). */
#define ULO_CACHE_TOLD_FAULTS 5

struct ulo_cache;

struct ulo_cache_opts {
	const char *path;	/* cache file or block device */
	const char *bitmap_path;	/* non-NULL: the 2007 two-file layout */
	uint32_t block_size;	/* new caches; 0 = default; must match old */
	bool readonly;		/* inspect only: never write, no lock */
	bool create;		/* create a missing file */
	bool wipe;		/* may format a device/file holding other data */
	bool offline;		/* refuse (do not drop) on an identity change */
	bool buffered;		/* data read through the page cache, not direct
				 * (an update's seed: ulo_cache_reopen_direct()) */
	/* A new cache's format (an existing one's is read from its magic;
	 * asking for another is refused): ULO_FMT_ANY is native. */
	enum ulo_cache_format {
		ULO_FMT_ANY, ULO_FMT_NATIVE, ULO_FMT_COMPACT, ULO_FMT_UMLCOW
	} format;
	/* --cache-size: a new cache is compact and never grows past this
	 * many bytes (index and data), evicting the least recently used. */
	uint64_t size_limit;
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

/* Is block @blk readable from the cache now? */
bool ulo_cache_present(const struct ulo_cache *c, uint64_t blk);

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
 * After an unclean stop (the header's clean flag was not set at open),
 * read the blocks its last commit wrote, as the header names them, against
 * their checksums; one that fails is taken back and fetched again.  Only a
 * writable native cache with checksums, bound and kept (call it after
 * ulo_cache_bind() said REUSED, before serving); once per open.  Returns
 * 0 with @r filled (r->ran false if there was nothing to do) or -ENOMEM.
 */
struct ulo_recovery {
	bool ran;
	uint64_t generation;	/* of the header read at open */
	uint32_t extents;	/* the epoch's */
	uint64_t checked;	/* present blocks read */
	uint64_t bad;		/* of them, taken back */
	char first[256];	/* the first one's error */
};
int ulo_cache_recover(struct ulo_cache *c, struct ulo_recovery *r);

/*
 * Block @blk failed a read or its checksum (@err, ulo_errmsg() saying
 * how): withdraw it, count it (once, however many readers saw it;
 * -EBADMSG a checksum, else a read error) and, for the first
 * ULO_CACHE_TOLD_FAULTS, warn that it is fetched again.  Returns
 * true while the cache is still used; after ulo_cache_fault_budget() the
 * flash is given up with one warning (no block present, no more writes)
 * and false is returned.
 */
bool ulo_cache_fault(struct ulo_cache *c, uint64_t blk, int err);
/* The faults (blocks) after which the flash is given up:
 * ULO_CACHE_MAX_FAULTS units of ULO_CACHE_FAULT_UNIT bytes. */
uint64_t ulo_cache_fault_budget(const struct ulo_cache *c);

/*
 * Store fetched image bytes [@blk * block_size, + @len) and mark the blocks
 * present (durable at the next commit).  @len covers whole blocks except at
 * the image end.  A failure (a full flash) makes the cache "full": later
 * writes fail fast and the caller serves from its buffer; the blocks
 * written before it are still committed.  Returns 0, a negative errno for a
 * write that failed (with a message), or ULO_CACHE_REFUSED, without a
 * message, when an earlier failure stopped the cache taking writes: with
 * several fetchers, only the write that failed is worth a line.
 */
#define ULO_CACHE_REFUSED 1
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

/* True once the cache takes no more blocks (full, or broken); false for
 * no cache (NULL). */
bool ulo_cache_full(const struct ulo_cache *c);

/* Number of present blocks. */
uint64_t ulo_cache_count(const struct ulo_cache *c);

/* Bytes of image covered by block @blk (the last block may be short). */
uint64_t ulo_cache_block_len(const struct ulo_cache *c, uint64_t blk);

/*
 * What a cache is, for those that name it, size it or report on it.  The
 * layout answers (block size, image size, blocks, checksums, identity)
 * mean something only once the cache is laid out; a new or empty cache
 * has none yet.  They hold between binds: only ulo_cache_bind(),
 * ulo_cache_drop() and ulo_cache_adopt_size() change them.
 */
const char *ulo_cache_path(const struct ulo_cache *c);	/* its real path */
const char *ulo_cache_format_name(const struct ulo_cache *c);	/* "native", "2007" */
/* The 2007 two-file layout: its bitmap file, else NULL. */
const char *ulo_cache_bitmap_path(const struct ulo_cache *c);
bool ulo_cache_is_2007(const struct ulo_cache *c);
bool ulo_cache_is_laid_out(const struct ulo_cache *c);
uint32_t ulo_cache_block_size(const struct ulo_cache *c);
uint64_t ulo_cache_image_size(const struct ulo_cache *c);
uint64_t ulo_cache_nblocks(const struct ulo_cache *c);
/* Every 4 KiB of data has its CRC-32C beside it (native format 2). */
bool ulo_cache_has_checksums(const struct ulo_cache *c);
/* The image it is bound to (kind ULO_ID_NONE: none recorded). */
const struct ulo_identity *ulo_cache_identity(const struct ulo_cache *c);

/*
 * The cache's file (or device) and, in the 2007 layout, its bitmap file
 * (else -1): the 2007 API hands both to the program (libuloop.h).  Data
 * lies at image offsets in a 2007 cache file; anything else goes through
 * the functions above.
 */
int ulo_cache_file_fd(const struct ulo_cache *c);
int ulo_cache_bitmap_fd(const struct ulo_cache *c);

/*
 * A 2007 cache records no image, and its files give the image's size only
 * rounded up to the page.  A reader comparing it with @id's image (uloop
 * check --source) takes that image's exact size when it rounds to the
 * same pages, so the last block is read and compared up to the image's
 * end and not over the page's padding, which the image does not have.
 * For this read-only open only: nothing is written (a writer's
 * ulo_cache_bind() records the image instead: ULO_BIND_ADOPTED).
 * -EINVAL, with a message, if the sizes differ, or the cache is open for
 * writing or is not a laid-out 2007 cache without a recorded image (kind
 * NONE, or APP: one made through the 2007 API knows only its size).
 */
int ulo_cache_adopt_size(struct ulo_cache *c, const struct ulo_identity *id);

/* Damage the flash did so far (uloop status), read from the counters. */
struct ulo_cache_damage {
	uint64_t bitmap_csum_errors;	/* bitmap sectors whose CRC failed at open */
	uint64_t csum_errors;	/* cached data that failed its CRC on a hit */
	uint64_t read_errors;	/* reads of cached data the flash failed */
	uint64_t refetched;	/* blocks taken back for it */
	bool given_up;		/* after ULO_CACHE_MAX_FAULTS: flash not used */
	/* New blocks are no longer kept, the ones held still served: a
	 * commit or write failed (read-only until the next start), or the
	 * flash is full. */
	bool write_failed;
	bool full;
};
void ulo_cache_damage(const struct ulo_cache *c, struct ulo_cache_damage *d);

/* The flash was given up (ulo_cache_fault()): nothing is read from it or
 * written to it any more. */
bool ulo_cache_given_up(const struct ulo_cache *c);

/*
 * What the give-up warning says happens next (the engine's RAM store), or
 * NULL for the default; @note must outlive the cache's use.  Before the
 * cache serves.
 */
void ulo_cache_set_giveup_note(struct ulo_cache *c, const char *note);

/*
 * Pin image bytes [@off, @off + @len): a compact cache never evicts them
 * (the boot profile's ranges).  After the cache is bound; nothing for
 * the dense formats, which evict nothing.
 */
int ulo_cache_pin(struct ulo_cache *c, uint64_t off, uint64_t len);

/* A compact cache with a size limit that has no free place left: more
 * blocks evict others (hydration stops there rather than churn). */
bool ulo_cache_at_limit(const struct ulo_cache *c);

/* A compact cache's index, for info and status; -EINVAL for another. */
struct ulo_compact_info {
	uint64_t slot_bytes;	/* a slot: 64 KiB, or a block if larger */
	uint64_t slots;		/* the most the layout holds */
	uint64_t slots_taken;	/* holding blocks now */
	uint64_t slots_written;	/* the file's data extent, in slots */
	uint64_t groups;	/* slots the whole image would take */
	uint64_t bytes_max;	/* the file's size with every slot written */
	bool limited;		/* slots < groups: evicts (--cache-size) */
	uint64_t evicted;	/* slots evicted since open */
	uint64_t pinned_groups;	/* slots' worth of image pinned */
};
int ulo_cache_compact_info(const struct ulo_cache *c, struct ulo_compact_info *ci);

/* Does the file at @path hold a compact cache (its magic)?  For choices
 * made before a cache is opened (the transport). */
bool ulo_cache_path_is_compact(const char *path);

/* The current header of a native or compact cache (for `uloop info`),
 * or NULL. */
const struct ulo_header *ulo_native_header(const struct ulo_cache *c);

#endif
