// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cache.c - the cache's common layer and its write order.
 *
 * THE WRITE ORDER (the one promise: a bit on disk always has its data):
 *
 *   1. data     ulo_cache_write_blocks() pwrite()s fetched blocks and sets
 *               their "present" bit (readable at once, from the page cache)
 *               and their "pending" bit (not yet durable).
 *   2. flush    ulo_cache_commit() takes the pending bits and fdatasync()s
 *               the data.  If that fails the data may be gone: the bits are
 *               withdrawn from "present" and the cache turns read-only.
 *   3. header   the header (generation + 1, not clean) is written to the
 *               older of its two slots and flushed.  It names this commit's
 *               blocks (the epoch), before any of their bits is on disk.
 *   4. bits     only then are the bits ORed into the on-disk bitmap, page by
 *               page, and flushed.
 *   (3 and 4 run once per part of at most 100 runs of blocks, so that each
 *   header names its part exactly.)
 *
 * So after any crash the newest header names every block whose bit may
 * have reached the disk in the last commit, and a start after an unclean
 * stop reads those blocks against their checksums (ulo_cache_recover()):
 * a flash that acknowledged a flush it had not done costs those blocks a
 * fetch, not a wrong byte (dm-cache's CLEAN_SHUTDOWN, qcow2's dirty bit).
 *
 * Commits run every commit_ms (1 s) from a background thread, so after a
 * crash at most about one second of fetched blocks is fetched again, and no
 * block costs an fsync of its own.  Dropping an image runs the other way:
 * first the identity is forgotten on disk, then the bits are cleared, then
 * the new identity is written (see the formats' format()), so no moment
 * exists where old bits stand under a new identity.
 *
 * Crash points for the tests (failpoint.h): data-written, commit-start,
 * data-synced, header-torn, header-written, header-synced, bits-written,
 * bits-synced, unbind-written, format-zeroed.
 */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "cache_internal.h"
#include "cow_uml.h"
#include "crc32c.h"
#include "failpoint.h"
#include "util.h"

#define ULO_KICK_BYTES (8u << 20)

static void ulo_cache_withdrawn(struct ulo_cache *c, uint64_t wi, uint64_t bits);

int ulo_cache_alloc_bitmaps(struct ulo_cache *c)
{
	uint64_t pages = ULO_DIV_ROUND_UP(c->bitmap_bytes, ULO_BITMAP_ALIGN);

	if (ulo_bitmap_init(&c->present, c->nblocks) ||
	    ulo_bitmap_init(&c->pending, c->nblocks) ||
	    ulo_bitmap_init(&c->durable, c->nblocks) ||
	    ulo_bitmap_init(&c->dirty, pages)) {
		ulo_cache_free_bitmaps(c);
		return ulo_errno(-ENOMEM, "cache %s: allocating bitmaps", c->path);
	}
	return 0;
}

void ulo_cache_free_bitmaps(struct ulo_cache *c)
{
	ulo_bitmap_free(&c->present);
	ulo_bitmap_free(&c->pending);
	ulo_bitmap_free(&c->durable);
	ulo_bitmap_free(&c->dirty);
}

/*
 * One writer per cache: an exclusive flock.  Read-only users (info, check,
 * export without a source) take no lock, so they work on a cache in use:
 * the two header copies and the write order make any moment's on-disk
 * state a consistent one.
 */
static int ulo_cache_lock(struct ulo_cache *c, int fd, const char *path)
{
	if (c->readonly)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return ulo_err(-EBUSY, "%s: in use by another uloop process",
				       path);
		return ulo_errno(-errno, "%s: flock", path);
	}
	return 0;
}

static int ulo_cache_open_file(struct ulo_cache *c, const char *path, int *fdp,
			       bool create)
{
	int flags = (c->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int fd;

	/*
	 * A block device is opened O_EXCL at once: that is its lock (it also
	 * refuses a mounted one).  No flock on it, and no writable open to
	 * close first: udev re-probes a disk when a writable fd of it is
	 * closed and holds that event while someone has it flock()ed, so
	 * `udevadm settle` (dracut, initramfs-tools) would wait for the
	 * daemon's whole life.
	 */
	if (!c->readonly && stat(path, &st) == 0 && S_ISBLK(st.st_mode))
		flags |= O_EXCL;
	else if (create && !c->readonly)
		flags |= O_CREAT;
	fd = open(path, flags, 0600);
	if (fd < 0 && (flags & O_EXCL))
		return ulo_errno(-errno, "%s: open exclusively (mounted or in use?)", path);
	if (fd < 0)
		return ulo_errno(-errno, "%s %s: open", fdp == &c->bfd ? "bitmap" :
				 "cache", path);
	*fdp = fd;
	if (fstat(fd, &st) < 0)
		return ulo_errno(-errno, "%s: fstat", path);
	if (S_ISBLK(st.st_mode)) {
		if (fdp == &c->bfd)
			return ulo_err(-EINVAL, "%s: the 2007 bitmap must be a file",
				       path);
		c->is_blkdev = true;
		/* (replaced by a device between stat and open: no lock) */
		if (!c->readonly && !(flags & O_EXCL))
			return ulo_err(-EAGAIN, "%s: changed while being opened", path);
		if (ioctl(fd, BLKGETSIZE64, &c->capacity) < 0)
			return ulo_errno(-errno, "%s: ioctl BLKGETSIZE64", path);
		return 0;
	} else if (!S_ISREG(st.st_mode)) {
		return ulo_err(-EINVAL, "%s: not a regular file or block device",
			       path);
	}
	return ulo_cache_lock(c, fd, path);
}

int ulo_cache_open(const struct ulo_cache_opts *o, struct ulo_cache **out)
{
	struct ulo_cache *c;
	uint32_t bs = o->block_size;
	int ret;

	if (bs && (bs < 4096 || bs > (1u << ULO_MAX_BLOCK_SHIFT) || (bs & (bs - 1))))
		return ulo_err(-EINVAL,
			       "block size %u: must be a power of two from 4K to 1M",
			       bs);
	c = calloc(1, sizeof(*c));
	if (!c)
		return ulo_errno(-ENOMEM, "cache %s: allocating", o->path);
	c->fd = c->bfd = c->dio_fd = -1;
	c->readonly = o->readonly;
	c->buffered = o->buffered;
	c->wipe = o->wipe;
	c->capacity = UINT64_MAX;
	c->commit_ms = ULO_DEFAULT_COMMIT_MS;
	pthread_mutex_init(&c->commit_lock, NULL);
	pthread_rwlock_init(&c->map_rw, NULL);
	pthread_mutex_init(&c->committer_mx, NULL);
	{
		/* A wall-clock step (NTP at boot) must not stall commits. */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->committer_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	/* A symlinked cache: work on its target, so a re-layout's rename
	 * replaces the file itself and every name locks the same inode. */
	ret = ulo_abs_path(o->path, c->path, sizeof(c->path));
	if (ret) {
		ulo_errno(ret, "cache %s", o->path);
		goto out_free;
	}
	if (o->bitmap_path && (o->format == ULO_FMT_COMPACT || o->size_limit)) {
		ret = ulo_err(-EINVAL, "cache %s: the 2007 layout (a bitmap file) has no size limit and is not compact",
			      o->path);
		goto out_free;
	}
	if (o->format == ULO_FMT_UMLCOW && (o->bitmap_path || o->size_limit)) {
		ret = ulo_err(-EINVAL, "cache %s: a UML COW cache is one file holding the whole image: no bitmap file, no size limit",
			      o->path);
		goto out_free;
	}
	if (o->bitmap_path) {
		c->fmt = &ulo_cache_fmt_2007;
		snprintf(c->bitmap_path, sizeof(c->bitmap_path), "%s",
			 o->bitmap_path);
		if (bs && bs != ULO_2007_PAGE) {
			ret = ulo_err(-EINVAL,
				      "cache %s: the 2007 layout uses 4K blocks, not %u",
				      o->path, bs);
			goto out_free;
		}
		bs = ULO_2007_PAGE;
	} else {
		c->fmt = &ulo_cache_fmt_native;
	}
	c->size_limit = o->size_limit;
	c->block_size = bs ? bs : ULO_DEFAULT_BLOCK_SIZE;
	c->block_shift = __builtin_ctz(c->block_size);

	ret = ulo_cache_open_file(c, o->path, &c->fd, o->create);
	if (!ret && o->bitmap_path)
		ret = ulo_cache_open_file(c, o->bitmap_path, &c->bfd, o->create);
	if (ret)
		goto out_free;
	/* The format is the file's magic's, never its name's; a new (empty)
	 * file takes the one asked for. */
	if (!o->bitmap_path) {
		uint8_t area[ULO_HDR_AREA];
		ssize_t got = pread(c->fd, area, sizeof(area), 0);
		struct stat st;

		if (got >= 4 && ulo_uml_probe(area, (size_t)got))
			c->fmt = &ulo_cache_fmt_umlcow;
		else if (c->is_blkdev)
			;	/* native; a compact cache is a file */
		else if (got > 0 && ulo_compact_magic(area, (size_t)got))
			c->fmt = &ulo_cache_fmt_compact;
		else if ((o->format == ULO_FMT_COMPACT || o->size_limit) &&
			 !fstat(c->fd, &st) && !st.st_size)
			c->fmt = &ulo_cache_fmt_compact;
	}
	/* --wipe with a format asked for: whatever the file holds (another
	 * format's cache too) is laid out anew in that one; its load sees a
	 * foreign file, which --wipe makes "new". */
	if (o->wipe && !c->readonly && !o->bitmap_path) {
		if (o->format == ULO_FMT_UMLCOW)
			c->fmt = &ulo_cache_fmt_umlcow;
		else if ((o->format == ULO_FMT_COMPACT || o->size_limit) && !c->is_blkdev)
			c->fmt = &ulo_cache_fmt_compact;
		else if (o->format == ULO_FMT_NATIVE)
			c->fmt = &ulo_cache_fmt_native;
	}
	ret = c->fmt->load(c);
	if (ret == -ENODATA && c->fmt == &ulo_cache_fmt_native &&
	    o->format == ULO_FMT_UMLCOW) {
		/* New, blank, or --wipe: laid out as a UML COW file. */
		c->fmt->close(c);
		c->fmt = &ulo_cache_fmt_umlcow;
		ret = c->fmt->load(c);
	}
	if (ret == -ENODATA && c->fmt == &ulo_cache_fmt_native &&
	    (o->format == ULO_FMT_COMPACT || o->size_limit) && !c->is_blkdev) {
		/* Blank (sparse, or --wipe): laid out compact. */
		c->fmt->close(c);
		c->fmt = &ulo_cache_fmt_compact;
		ret = c->fmt->load(c);
	}
	if (!ret || ret == -ENODATA) {
		const char *want = o->format == ULO_FMT_COMPACT || o->size_limit ?
			"compact" : o->format == ULO_FMT_NATIVE ? "native" :
			o->format == ULO_FMT_UMLCOW ? "uml-cow" : NULL;

		bool to_compact = want && !strcmp(want, "compact");

		if (want && strcmp(want, c->fmt->name) && (!ret || c->is_blkdev)) {
			ret = ulo_err(-EINVAL, c->is_blkdev && to_compact ?
				      "cache %s: a device: a compact cache (--format compact, --cache-size) is a file; use the native format on a partition" :
				      o->size_limit && c->fmt == &ulo_cache_fmt_native ?
				      "cache %s: a native cache, which holds the whole image: --cache-size needs a compact one (remove the cache, or name a new file, to make one)" :
				      "cache %s: its format is %s, not %s; remove the cache (or pass --wipe) to change it",
				      o->path, c->fmt->name, want);
			goto out_free;
		}
	}
	if (ret == -ENODATA) {
		c->laid_out = false;
	} else if (ret) {
		goto out_free;
	} else {
		c->laid_out = true;
		if (o->block_size && o->block_size != c->block_size) {
			ret = ulo_err(-EINVAL,
				      "cache %s: block size is %u, not %u; remove the cache to change it",
				      o->path, c->block_size, o->block_size);
			goto out_free;
		}
	}
	ulo_cache_reopen_direct(c);
	*out = c;
	return 0;

out_free:
	if (c->fmt && c->fmt->close)
		c->fmt->close(c);
	pthread_rwlock_destroy(&c->map_rw);
	ulo_cache_free_bitmaps(c);
	if (c->fd >= 0)
		close(c->fd);
	if (c->bfd >= 0)
		close(c->bfd);
	free(c);
	return ret;
}

/*
 * Forget what the cache holds and lay it out empty for @id: the old
 * identity goes first (unbind), so no moment exists where old bits stand
 * under the new identity.  commit_lock held.
 */
static int ulo_cache_relayout(struct ulo_cache *c, const struct ulo_identity *id)
{
	int ret;

	if (c->laid_out) {
		ret = c->fmt->unbind(c);
		if (ret)
			return ret;
		ulo_failpoint("unbind-written");
	}
	ulo_cache_free_bitmaps(c);
	c->laid_out = false;
	ret = c->fmt->format(c, id);
	if (!ret) {
		c->laid_out = true;
		c->unchecked = false;	/* a new layout: no old block to check */
	}
	ulo_cache_reopen_direct(c);	/* a file cache is a new file now */
	return ret;
}

/*
 * Why data is read with O_DIRECT: a buffered read of the flash fills the
 * page cache with a second copy of what the block device above (nbd, the
 * filesystem on it) caches anyway, with the kernel's readahead on top,
 * and a kernel that zeroes every page it allocates (init_on_alloc=1,
 * Debian's default) pays for each.  Under QEMU/TCG on a loaded host that
 * zeroing, in the daemon's pread of /dev/vda, stalled warm boots for over
 * a minute (sysrq: clear_page_rep < folio_alloc < page_cache_ra_unbounded
 * < blkdev_read_iter).  Direct reads allocate nothing; the checksum
 * region stays buffered (4 bytes per 4 KiB).
 *
 * An update's seed (the older version's cache, read while the new one
 * fills) is read buffered: a boot's reads there are small and scattered
 * (the blocks of a changed leaf, between those the update moved), and
 * the kernel's readahead on the file turns most into page-cache hits
 * (pair a of bench/update.sh: 1034 reads, 150 ms -> 37 ms; a direct 4 KiB
 * read took 126 us on average amid the new cache's writes).  Its pages go
 * with the file when the update completes.
 */
int ulo_cache_write_header_slot(struct ulo_cache *c, int fd, const uint8_t *slot,
				uint64_t off)
{
	int ret;

	if (ulo_failpoint_hit("header-torn")) {
		/* A power cut in the middle of the sector write. */
		ulo_pwrite_full(fd, slot, 512, off);
		fdatasync(fd);
		ulo_failpoint_die();
	}
	ret = ulo_pwrite_full(fd, slot, ULO_HDR_SLOT_SIZE, off);
	if (ret)
		return ulo_errno(ret, "cache %s: pwrite (header)", c->path);
	ulo_failpoint("header-written");
	if (!ulo_failpoint_mode("no-flush-before-bits") && fdatasync(fd) < 0)
		return ulo_errno(-errno, "cache %s: fdatasync (header)", c->path);
	ulo_failpoint("header-synced");
	return 0;
}

int ulo_cache_build_file(struct ulo_cache *c, uint64_t size, uint64_t zero_len,
			 int (*write_header)(struct ulo_cache *c, int fd, const void *ctx),
			 const void *ctx)
{
	char tmp[PATH_MAX + 16];
	struct stat st;
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s.uloop-new", c->path);
	/* Never through a planted symlink: root chowns this file below. */
	fd = ulo_create_fresh(AT_FDCWD, tmp, 0600);
	if (fd < 0)
		return ulo_errno(fd, "cache %s: create", tmp);
	/* The new file takes the old one's place: its owner and mode too. */
	if (fstat(c->fd, &st) < 0 ||
	    (fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM) ||
	    fchmod(fd, st.st_mode & 07777) < 0) {
		ret = ulo_errno(-errno, "cache %s: copying owner and mode", tmp);
		goto out_unlink;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = ulo_errno(-errno, "cache %s: flock", tmp);
		goto out_unlink;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		ret = ulo_errno(-errno, "cache %s: ftruncate", tmp);
		goto out_unlink;
	}
	ret = ulo_pwrite_zeros(fd, 0, zero_len);
	if (ret) {
		ret = ulo_errno(ret, "cache %s: pwrite (header and bitmap)", tmp);
		goto out_unlink;
	}
	ulo_failpoint("format-zeroed");
	ret = write_header(c, fd, ctx);
	if (ret)
		goto out_unlink;
	if (rename(tmp, c->path) < 0) {
		ret = ulo_errno(-errno, "cache %s: rename from %s", c->path, tmp);
		goto out_unlink;
	}
	/* Until the directory is flushed, the rename may not survive. */
	close(c->fd);
	c->fd = fd;
	ret = ulo_sync_dir_of(c->path);
	return ret ? ulo_errno(ret, "cache %s: fsync of its directory", c->path) : 0;

out_unlink:
	unlink(tmp);
	close(fd);
	return ret;
}

void ulo_cache_reopen_direct(struct ulo_cache *c)
{
	char p[64];

	if (c->dio_fd >= 0)
		close(c->dio_fd);
	c->dio_fd = -1;
	if (c->fd < 0 || c->buffered)
		return;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", c->fd);
	c->dio_fd = open(p, O_RDONLY | O_DIRECT | O_CLOEXEC);
}

/* A 2007 cache file is its image rounded up to the page: is it @id's? */
static bool ulo_2007_same_pages(const struct ulo_cache *c,
				const struct ulo_identity *id)
{
	return ULO_ROUND_UP(id->size, ULO_2007_PAGE) ==
		ULO_ROUND_UP(c->image_size, ULO_2007_PAGE);
}

int ulo_cache_bind(struct ulo_cache *c, const struct ulo_identity *id,
		   bool offline, enum ulo_bind_result *res, uint64_t *dropped)
{
	uint64_t had = c->laid_out ? ulo_bitmap_count(&c->present) : 0;
	int ret = 0;

	if (dropped)
		*dropped = 0;
	if (c->readonly)
		return ulo_err(-EROFS, "cache %s: opened read-only", c->path);
	pthread_mutex_lock(&c->commit_lock);
	/* An old format is laid out anew, unless offline (then it serves as
	 * it is, unchecked, rather than be thrown away with no server) or
	 * format 2 would not fit (known before anything is unbound). */
	if (c->laid_out && ulo_identity_same(&c->id, id) && c->needs_relayout &&
	    !offline && c->fmt == &ulo_cache_fmt_native) {
		char why[256];

		if (!ulo_native_upgrade_fits(c, why, sizeof(why))) {
			ulo_warn("cache %s: kept in format 1, without checksums: %s",
				 c->path, why);
			c->needs_relayout = false;
		}
	}
	if (c->laid_out && ulo_identity_same(&c->id, id) &&
	    (!c->needs_relayout || offline)) {
		*res = ULO_BIND_REUSED;
		/* Not clean any more until ulo_cache_close(). */
		ret = c->fmt->write_header(c, false);
		goto out;
	}
	if (c->laid_out && c->id.kind == ULO_ID_NONE &&
	    c->fmt == &ulo_cache_fmt_2007 && ulo_2007_same_pages(c, id)) {
		/* A cache from the 2007 tools: they never recorded the image,
		 * the user named it again, as the 2007 readme asked. */
		*res = had ? ULO_BIND_ADOPTED : ULO_BIND_REUSED;
		c->image_size = id->size;
		c->id = *id;
		ret = c->fmt->write_header(c, false);
		goto out;
	}
	if (c->laid_out && c->id.kind != ULO_ID_NONE && offline) {
		/* A refusal, not damage: the cache stays usable as it is. */
		pthread_mutex_unlock(&c->commit_lock);
		return ulo_err(-ESTALE,
			      "cache %s: holds another image (%s %s, %" PRIu64 " bytes), not %s (%s %s); offline, so it is kept and not used",
			      c->path, ulo_id_kind_name(c->id.kind),
			      c->id.validator, c->id.size, id->location,
			      ulo_id_kind_name(id->kind), id->validator);
	}
	*res = c->laid_out && ulo_identity_same(&c->id, id) ? ULO_BIND_UPGRADED :
		c->laid_out && (had || c->id.kind != ULO_ID_NONE) ?
		ULO_BIND_DROPPED : ULO_BIND_NEW;
	if (dropped)
		*dropped = had;
	ret = ulo_cache_relayout(c, id);
out:
	if (ret)
		c->broken = ret;
	pthread_mutex_unlock(&c->commit_lock);
	return ret;
}

int ulo_cache_drop(struct ulo_cache *c, const struct ulo_identity *id,
		   uint64_t *dropped)
{
	int ret;

	if (c->readonly)
		return ulo_err(-EROFS, "cache %s: opened read-only", c->path);
	pthread_mutex_lock(&c->commit_lock);
	if (dropped)
		*dropped = c->laid_out ? ulo_bitmap_count(&c->present) : 0;
	ret = ulo_cache_relayout(c, id);
	if (ret)
		c->broken = ret;
	pthread_mutex_unlock(&c->commit_lock);
	return ret;
}

int ulo_cache_check_binding(struct ulo_cache *c)
{
	struct ulo_identity id;
	uint8_t bind_id[16];
	int ret;

	if (!c->laid_out)
		return 0;
	ret = c->fmt->read_binding(c, &id, bind_id);
	if (ret)
		return ret;
	if (memcmp(bind_id, c->bind_id, sizeof(bind_id)) ||
	    id.kind != c->id.kind || id.size != c->id.size ||
	    strcmp(id.validator, c->id.validator))
		return ulo_err(-ESTALE,
			       "cache %s: laid out anew for another image while it was being read; what was read is not used",
			       c->path);
	if (c->readonly && c->fmt->check_slots)
		return c->fmt->check_slots(c);
	return 0;
}

int ulo_cache_adopt_size(struct ulo_cache *c, const struct ulo_identity *id)
{
	if (!c->readonly)
		return ulo_err(-EINVAL, "cache %s: open for writing; bind it to the image instead",
			       c->path);
	if (!c->laid_out || c->fmt != &ulo_cache_fmt_2007 ||
	    (c->id.kind != ULO_ID_NONE && c->id.kind != ULO_ID_APP))
		return ulo_err(-EINVAL, "cache %s: not a 2007 cache without a recorded image",
			       c->path);
	if (!ulo_2007_same_pages(c, id))
		return ulo_err(-EINVAL, "cache %s: size %" PRIu64 " does not match %s (%" PRIu64 " bytes)",
			       c->path, c->image_size, id->location, id->size);
	/* Read-only: no committer, no header to write.  The blocks stay
	 * the same (same pages); only the last one ends earlier. */
	c->image_size = id->size;
	return 0;
}

/*
 * Each reading thread keeps one 4 KiB-aligned scratch buffer, grown as
 * needed: direct I/O wants aligned memory, and allocating it per read
 * (mmap, fault, zero, munmap for every 1 MiB) cost more than the read.
 */
static pthread_key_t ulo_scratch_key;
static pthread_once_t ulo_scratch_once = PTHREAD_ONCE_INIT;

struct ulo_scratch {
	void *p;
	size_t len;
};

static void ulo_scratch_free(void *v)
{
	struct ulo_scratch *sc = v;

	free(sc->p);
	free(sc);
}

static void ulo_scratch_init(void)
{
	pthread_key_create(&ulo_scratch_key, ulo_scratch_free);
}

static uint8_t *ulo_scratch(size_t len)
{
	struct ulo_scratch *sc;

	pthread_once(&ulo_scratch_once, ulo_scratch_init);
	sc = pthread_getspecific(ulo_scratch_key);
	if (!sc) {
		sc = calloc(1, sizeof(*sc));
		if (!sc || pthread_setspecific(ulo_scratch_key, sc)) {
			free(sc);
			return NULL;
		}
	}
	if (sc->len < len) {
		void *p;

		if (posix_memalign(&p, 4096, ULO_ROUND_UP(len, 65536)))
			return NULL;
		free(sc->p);
		sc->p = p;
		sc->len = ULO_ROUND_UP(len, 65536);
	}
	return sc->p;
}

/*
 * Where a dense layout keeps image offset x, in its data and checksum
 * regions, a non-dense one keeps it at x + @delta (a slot's place less
 * its image offset; 0 for the dense formats, unsigned wrap-around).
 */

/* The seed of the CRC of the 4 KiB at image offset @img: 0, or the
 * offset's own CRC (compact: a span in another's place fails). */
static uint32_t ulo_cache_csum_seed(const struct ulo_cache *c, uint64_t img)
{
	uint8_t le[8];

	if (!c->csum_seeded)
		return 0;
	ulo_put_le64(le, img);
	return ulo_crc32c(0, le, sizeof(le));
}

/*
 * Read image bytes [@a0, @a1) (@a0 4 KiB aligned) from the data area into
 * @al (4 KiB aligned, room for @a1 rounded up to 4 KiB): O_DIRECT in whole
 * 4 KiB sectors where the flash allows it (the data area runs past the
 * image's end to a whole block), else buffered.
 */
static int ulo_cache_pread_data(struct ulo_cache *c, uint8_t *al, uint64_t a0,
				uint64_t a1, uint64_t delta)
{
	int ret = -EINVAL;

	if (c->dio_fd >= 0 && !(c->data_offset & 4095))
		ret = ulo_pread_full(c->dio_fd, al, ULO_ROUND_UP(a1, 4096) - a0,
				     c->data_offset + a0 + delta);
	if (ret == -EINVAL)	/* no direct I/O, or larger sectors: buffered */
		ret = ulo_pread_full(c->fd, al, a1 - a0, c->data_offset + a0 + delta);
	if (!ret && ulo_failpoint_hit("cache-read-eio"))
		ret = -EIO;	/* (tests: a bad sector under the data) */
	return ret;
}

/*
 * Check image bytes [@a0, @a1) in @buf (4 KiB aligned at @a0, @a1 the
 * image's end or aligned) against their CRCs.  0, -EBADMSG with *@bad the
 * image offset of the first span at fault, or -errno.
 */
static int ulo_cache_check_spans(struct ulo_cache *c, const uint8_t *buf,
				 uint64_t a0, uint64_t a1, uint64_t delta,
				 uint64_t *bad)
{
	uint8_t stackc[256 * 4], *cs = stackc;
	size_t n = ULO_DIV_ROUND_UP(a1 - a0, ULO_CSUM_SPAN);
	int ret;

	if (n * 4 > sizeof(stackc)) {
		cs = malloc(n * 4);
		if (!cs)
			return -ENOMEM;
	}
	ret = ulo_pread_full(c->fd, cs, n * 4,
			     c->csum_offset + (a0 + delta) / ULO_CSUM_SPAN * 4);
	for (size_t i = 0; !ret && i < n; i++) {
		uint64_t at = i * ULO_CSUM_SPAN;
		uint32_t want = ulo_get_le32(cs + 4 * i);
		uint32_t got = ulo_crc32c(ulo_cache_csum_seed(c, a0 + at), buf + at,
					  ULO_MIN((uint64_t)ULO_CSUM_SPAN, a1 - a0 - at));

		if (got != want) {
			*bad = a0 + at;
			ret = ulo_err(-EBADMSG, "cache %s: block %" PRIu64 " (image offset %" PRIu64
				      "): checksum mismatch (stored %08x, computed %08x)",
				      c->path, (a0 + at) >> c->block_shift, a0 + at, want, got);
		}
	}
	if (cs != stackc)
		free(cs);
	return ret;
}

/* ulo_cache_read_checked() of bytes that lie at +@delta in the data area. */
static int ulo_cache_read_run(struct ulo_cache *c, void *buf, uint64_t off,
			      size_t len, uint64_t delta, uint64_t *bad_blk)
{
	uint64_t a0 = off & ~(uint64_t)(ULO_CSUM_SPAN - 1), bad = off;
	uint64_t a1 = ULO_MIN(ULO_ROUND_UP(off + len, ULO_CSUM_SPAN), c->image_size);
	uint8_t *al;
	int ret;

	*bad_blk = off >> c->block_shift;
	if (!len)
		return 0;
	/* Whole 4 KiB spans (what a CRC covers, what direct I/O reads) into
	 * the thread's aligned buffer, checked there, then copied out. */
	al = ulo_scratch(ULO_ROUND_UP(a1, 4096) - a0);
	if (!al)
		return ulo_errno(-ENOMEM, "cache %s: read buffer", c->path);
	ret = ulo_cache_pread_data(c, al, a0, a1, delta);
	if (!ret && c->csum_offset) {
		ret = ulo_cache_check_spans(c, al, a0, a1, delta, &bad);
		*bad_blk = bad >> c->block_shift;
		if (ret == -EBADMSG)
			return ret;
	}
	if (!ret) {
		memcpy(buf, al + (off - a0), len);
		return 0;
	}
	if (ret == -ENOMEM)
		return ulo_errno(ret, "cache %s: read buffer", c->path);
	/* Which block: the first whose own part of the range fails. */
	for (uint64_t b = off >> c->block_shift;
	     b <= (off + len - 1) >> c->block_shift; b++) {
		uint64_t b0 = ULO_MAX(b << c->block_shift, a0);
		uint64_t b1 = ULO_MIN(((b << c->block_shift) + ulo_cache_block_len(c, b)), a1);

		if (ulo_cache_pread_data(c, al, b0, b1, delta)) {
			*bad_blk = b;
			break;
		}
	}
	return ulo_errno(ret, "cache %s: pread of %zu bytes at image offset %" PRIu64 " (block %" PRIu64 ")",
			 c->path, len, off, *bad_blk);
}

/*
 * A non-dense format: piece by piece, each where locate() says, with
 * evictions shut out (map_rw) so no place is given to other blocks while
 * it is read.  A block found no longer present (evicted since the caller
 * looked) is -ESTALE: the caller fetches it (ulo_cache_fault() counts no
 * fault for it).
 */
static int ulo_cache_read_located(struct ulo_cache *c, uint8_t *buf, uint64_t off,
				  size_t len, uint64_t *bad_blk)
{
	uint64_t pos = off, end = off + len;
	int ret = 0;

	pthread_rwlock_rdlock(&c->map_rw);
	while (pos < end && !ret) {
		uint64_t blk = pos >> c->block_shift, at = 0, run = 0, stop;

		for (uint64_t b = blk; b <= (end - 1) >> c->block_shift && !ret; b++)
			if (!ulo_bitmap_test(&c->present, b)) {
				*bad_blk = b;
				ret = ulo_err(-ESTALE, "cache %s: block %" PRIu64 " was evicted",
					      c->path, b);
			}
		if (ret)
			break;
		run = ((end - 1) >> c->block_shift) + 1 - blk;	/* what is read */
		ret = c->fmt->locate(c, blk, false, &at, &run);
		if (ret) {
			*bad_blk = blk;
			ret = ulo_err(-ESTALE, "cache %s: block %" PRIu64 " has no place",
				      c->path, blk);
			break;
		}
		stop = ULO_MIN(end, (blk + run) << c->block_shift);
		ret = ulo_cache_read_run(c, buf + (pos - off), pos, (size_t)(stop - pos),
					 at - (blk << c->block_shift), bad_blk);
		pos = stop;
	}
	pthread_rwlock_unlock(&c->map_rw);
	return ret;
}

int ulo_cache_read_checked(struct ulo_cache *c, void *buf, uint64_t off,
			   size_t len, uint64_t *bad_blk)
{
	if (c->fmt->locate)
		return ulo_cache_read_located(c, buf, off, len, bad_blk);
	return ulo_cache_read_run(c, buf, off, len, 0, bad_blk);
}

int ulo_cache_read(struct ulo_cache *c, void *buf, uint64_t off, size_t len)
{
	uint64_t bad;

	return ulo_cache_read_checked(c, buf, off, len, &bad);
}

bool ulo_cache_withdraw(struct ulo_cache *c, uint64_t blk)
{
	bool was = false;

	pthread_mutex_lock(&c->commit_lock);
	if (ulo_bitmap_test(&c->present, blk)) {
		was = true;
		ulo_bitmap_clear(&c->present, blk);
		ulo_bitmap_clear(&c->pending, blk);
		if (ulo_bitmap_test(&c->durable, blk)) {
			ulo_bitmap_clear(&c->durable, blk);
			ulo_bitmap_set(&c->dirty, blk / 8 / ULO_BITMAP_ALIGN);
			c->withdrawn = true;
		}
		__atomic_fetch_add(&c->refetched, 1, __ATOMIC_RELAXED);
		if (c->on_withdraw)
			c->on_withdraw(c->on_withdraw_ctx, blk, 1);
	}
	pthread_mutex_unlock(&c->commit_lock);
	return was;
}

/* Read present blocks [@b, @end) of the epoch in stretches of up to 1 MiB. */
static int ulo_cache_recover_run(struct ulo_cache *c, uint8_t *buf, size_t bufsz,
				 uint64_t b, uint64_t end, struct ulo_recovery *r)
{
	while (b < end) {
		uint64_t e = b, bytes = 0, bad;
		int ret;

		if (!ulo_bitmap_test(&c->present, b)) {
			b++;
			continue;
		}
		while (e < end && ulo_bitmap_test(&c->present, e) &&
		       bytes + ulo_cache_block_len(c, e) <= bufsz)
			bytes += ulo_cache_block_len(c, e++);
		ret = ulo_cache_read_checked(c, buf, b << c->block_shift,
					     (size_t)bytes, &bad);
		if (ret == -ENOMEM)
			return ret;
		if (!ret) {
			r->checked += e - b;
			b = e;
			continue;
		}
		/* It is taken back.  A checksum mismatch names the first bad
		 * block, all before it passed; a failed read names the first
		 * block that cannot be read, those before it are not checked
		 * yet: they are, on their own. */
		if (!r->bad)
			snprintf(r->first, sizeof(r->first), "%s", ulo_errmsg());
		r->checked++;
		r->bad += ulo_cache_withdraw(c, bad);
		if (ret == -EBADMSG) {
			r->checked += bad - b;
		} else if (bad > b) {
			ret = ulo_cache_recover_run(c, buf, bufsz, b, bad, r);
			if (ret)
				return ret;
		}
		b = bad + 1;
	}
	return 0;
}

int ulo_cache_recover(struct ulo_cache *c, struct ulo_recovery *r)
{
	size_t bufsz = ULO_MAX((size_t)1 << 20, (size_t)c->block_size);
	struct ulo_epoch e;
	uint8_t *buf;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (c->readonly || !c->laid_out || !c->unchecked ||
	    !c->csum_offset || c->fmt == &ulo_cache_fmt_2007 ||
	    c->id.kind == ULO_ID_NONE)
		return 0;
	pthread_mutex_lock(&c->commit_lock);
	e = c->epoch;
	pthread_mutex_unlock(&c->commit_lock);
	c->unchecked = false;	/* once per open */
	r->ran = true;
	r->generation = c->open_generation;
	r->extents = e.n;
	buf = malloc(bufsz);
	if (!buf)
		return ulo_errno(-ENOMEM, "cache %s: recovery buffer", c->path);
	for (uint32_t i = 0; !ret && i < e.n; i++)
		ret = ulo_cache_recover_run(c, buf, bufsz, e.ext[i].start,
					    e.ext[i].start + e.ext[i].count, r);
	free(buf);
	if (ret)
		return ulo_errno(ret, "cache %s: recovery", c->path);
	return 0;
}

uint64_t ulo_cache_fault_budget(const struct ulo_cache *c)
{
	return ULO_CACHE_MAX_FAULTS *
	       ULO_MAX((uint64_t)1, ULO_CACHE_FAULT_UNIT / c->block_size);
}

bool ulo_cache_fault(struct ulo_cache *c, uint64_t blk, int err)
{
	char why[512];
	uint64_t faults;

	/* Evicted while it was read (compact): nothing wrong with the flash;
	 * the caller fetches it. */
	if (err == -ESTALE)
		return !__atomic_load_n(&c->failed, __ATOMIC_ACQUIRE);
	snprintf(why, sizeof(why), "%s", ulo_errmsg());
	/* Counted once per block taken back: readers that planned the same
	 * bad block before the first of them withdrew it are one fault. */
	if (!ulo_cache_withdraw(c, blk))
		return !__atomic_load_n(&c->failed, __ATOMIC_ACQUIRE);
	__atomic_fetch_add(err == -EBADMSG ? &c->csum_errors : &c->read_errors, 1,
			   __ATOMIC_RELAXED);
	faults = __atomic_load_n(&c->csum_errors, __ATOMIC_RELAXED) +
		 __atomic_load_n(&c->read_errors, __ATOMIC_RELAXED);
	/* Told here, whoever met it (a read, the bind's sample), so one
	 * budget covers them all: the first few, not one line per block of
	 * a rotting flash. */
	if (faults <= ULO_CACHE_TOLD_FAULTS)
		ulo_warn("%s; fetched again from the source", why);
	if (faults < ulo_cache_fault_budget(c))
		return true;
	pthread_mutex_lock(&c->commit_lock);
	if (!c->failed) {
		/* Given up: nothing more is read from it or written to it.
		 * Every block is taken back (uloop.ko too), so all reads go
		 * to the source from here on. */
		__atomic_store_n(&c->failed, err, __ATOMIC_SEQ_CST);
		__atomic_store_n(&c->broken, err, __ATOMIC_RELEASE);
		for (uint64_t wi = 0; wi < c->present.nwords; wi++) {
			uint64_t bits = ulo_bitmap_xchg_word(&c->present, wi, 0);

			ulo_bitmap_xchg_word(&c->pending, wi, 0);
			if (bits)
				ulo_cache_withdrawn(c, wi, bits);
		}
		ulo_warn("cache %s: %" PRIu64 " reads of it failed or did not match their checksums; the flash is no longer used (%s)",
			 c->path, faults, c->giveup_note ? c->giveup_note :
			 "every block is read from the source; nothing is kept");
	}
	pthread_mutex_unlock(&c->commit_lock);
	return false;
}

int ulo_cache_shortfall(struct ulo_cache *c, uint64_t *bytes)
{
	struct statvfs vfs;
	struct stat st;
	uint64_t need, avail;

	*bytes = 0;
	if (fstat(c->fd, &st) < 0)
		return ulo_errno(-errno, "cache %s: fstat", c->path);
	if (!S_ISREG(st.st_mode) || c->readonly || !c->laid_out)
		return 0;
	if (fstatvfs(c->fd, &vfs) < 0)
		return ulo_errno(-errno, "cache %s: statvfs", c->path);
	/* Sparse data: every block not yet present takes space when it comes. */
	need = (c->nblocks - ulo_bitmap_count(&c->present)) << c->block_shift;
	/* Compact: the file grows by its slots still to take, at most. */
	if (c->fmt == &ulo_cache_fmt_compact)
		need = ULO_MIN(need, ulo_compact_room(c));
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (need > avail)
		*bytes = need - avail;
	return 0;
}

bool ulo_cache_present(const struct ulo_cache *c, uint64_t blk)
{
	return ulo_bitmap_test(&c->present, blk);
}

bool ulo_cache_full(const struct ulo_cache *c)
{
	return c && (__atomic_load_n(&c->full, __ATOMIC_ACQUIRE) ||
		     __atomic_load_n(&c->broken, __ATOMIC_ACQUIRE));
}

uint64_t ulo_cache_count(const struct ulo_cache *c)
{
	return ulo_bitmap_count(&c->present);
}

uint64_t ulo_cache_block_len(const struct ulo_cache *c, uint64_t blk)
{
	uint64_t off = blk << c->block_shift;

	return c->image_size - off < c->block_size ? c->image_size - off :
		c->block_size;
}

const char *ulo_cache_path(const struct ulo_cache *c)
{
	return c->path;
}

const char *ulo_cache_format_name(const struct ulo_cache *c)
{
	return c->fmt->name;
}

const char *ulo_cache_bitmap_path(const struct ulo_cache *c)
{
	return c->bitmap_path[0] ? c->bitmap_path : NULL;
}

bool ulo_cache_is_2007(const struct ulo_cache *c)
{
	return c->fmt == &ulo_cache_fmt_2007;
}

bool ulo_cache_is_laid_out(const struct ulo_cache *c)
{
	return c->laid_out;
}

uint32_t ulo_cache_block_size(const struct ulo_cache *c)
{
	return c->block_size;
}

uint64_t ulo_cache_image_size(const struct ulo_cache *c)
{
	return c->image_size;
}

uint64_t ulo_cache_nblocks(const struct ulo_cache *c)
{
	return c->nblocks;
}

bool ulo_cache_has_checksums(const struct ulo_cache *c)
{
	return c->csum_offset != 0;
}

const struct ulo_identity *ulo_cache_identity(const struct ulo_cache *c)
{
	return &c->id;
}

int ulo_cache_file_fd(const struct ulo_cache *c)
{
	return c->fd;
}

int ulo_cache_bitmap_fd(const struct ulo_cache *c)
{
	return c->bfd;
}

void ulo_cache_damage(const struct ulo_cache *c, struct ulo_cache_damage *d)
{
	d->bitmap_csum_errors = c->bm_csum_errors;	/* counted at open */
	d->csum_errors = __atomic_load_n(&c->csum_errors, __ATOMIC_RELAXED);
	d->read_errors = __atomic_load_n(&c->read_errors, __ATOMIC_RELAXED);
	d->refetched = __atomic_load_n(&c->refetched, __ATOMIC_RELAXED);
	d->given_up = !!__atomic_load_n(&c->failed, __ATOMIC_RELAXED);
	d->write_failed = !!__atomic_load_n(&c->broken, __ATOMIC_RELAXED);
	d->full = !!__atomic_load_n(&c->full, __ATOMIC_RELAXED);
}

bool ulo_cache_given_up(const struct ulo_cache *c)
{
	return __atomic_load_n(&c->failed, __ATOMIC_ACQUIRE);
}

void ulo_cache_set_giveup_note(struct ulo_cache *c, const char *note)
{
	c->giveup_note = note;
}

/*
 * The CRC-32C of each 4 KiB of [@off, @off + @len) (the last span ends at
 * the image's end), into the csum region beside the data, before the
 * blocks are marked: the commit's flush makes both durable before a bit.
 */
static int ulo_cache_write_csums(struct ulo_cache *c, uint64_t off,
				 const uint8_t *buf, size_t len, uint64_t delta)
{
	uint8_t stackc[256 * 4], *cs = stackc;
	size_t n = ULO_DIV_ROUND_UP(len, ULO_CSUM_SPAN);
	int ret;

	if (!n)
		return 0;
	if (n * 4 > sizeof(stackc)) {
		cs = malloc(n * 4);
		if (!cs)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		size_t at = i * ULO_CSUM_SPAN;

		ulo_put_le32(cs + 4 * i, ulo_crc32c(ulo_cache_csum_seed(c, off + at), buf + at,
						    ULO_MIN((size_t)ULO_CSUM_SPAN, len - at)));
	}
	ret = ulo_pwrite_full(c->fd, cs, n * 4,
			      c->csum_offset + (off + delta) / ULO_CSUM_SPAN * 4);
	if (cs != stackc)
		free(cs);
	return ret;
}

/*
 * Free places in a non-dense format: evict under commit_lock (so no
 * commit runs between an eviction and its flush).  -ENOSPC, said once:
 * nothing may be evicted.
 */
static int ulo_cache_make_room(struct ulo_cache *c)
{
	int ret;

	pthread_mutex_lock(&c->commit_lock);
	ret = c->broken ? c->broken : c->fmt->evict(c);
	if (ret == -ENOSPC && !__atomic_load_n(&c->full, __ATOMIC_ACQUIRE)) {
		ulo_warn("cache %s: at its size limit and every block in it is pinned (the boot profile's); no new block is kept, nothing pinned is evicted: a larger --cache-size would keep more",
			 c->path);
		/* Set under the lock: one line, however many fetchers. */
		__atomic_store_n(&c->full, ret, __ATOMIC_RELEASE);
	} else if (ret && ret != -ENOSPC && !c->broken) {
		ulo_warn("%s; the cache is read-only from now on: the blocks it holds are still served, new ones are fetched and not kept",
			 ulo_errmsg());
		__atomic_store_n(&c->broken, ret, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&c->commit_lock);
	return ret;
}

/*
 * Store blocks [@blk, + @len) of a non-dense format: each piece where
 * locate() places it (evicting when no place is free), its checksums at
 * that place, its bits set before map_rw is let go: an eviction sees the
 * piece whole or not at all.
 */
static int ulo_cache_write_located(struct ulo_cache *c, uint64_t blk,
				   const uint8_t *buf, size_t len)
{
	uint64_t off = blk << c->block_shift, pos = off, end = off + len;
	int ret = 0;

	while (pos < end && !ret) {
		uint64_t b = pos >> c->block_shift, at, run = 0, stop, delta;

		pthread_rwlock_rdlock(&c->map_rw);
		ret = c->fmt->locate(c, b, true, &at, &run);
		if (ret == -ENOSPC) {
			pthread_rwlock_unlock(&c->map_rw);
			/* Its failure was told by ulo_cache_make_room(), once
			 * for all fetchers: refused, as after any such. */
			if (ulo_cache_make_room(c))
				return ULO_CACHE_REFUSED;
			ret = 0;
			continue;
		}
		if (ret) {
			pthread_rwlock_unlock(&c->map_rw);
			break;
		}
		stop = ULO_MIN(end, (b + run) << c->block_shift);
		delta = at - (b << c->block_shift);
		ret = ulo_pwrite_full(c->fd, buf + (pos - off), stop - pos,
				      c->data_offset + pos + delta);
		/* The image's short last block: its slot is written to a whole
		 * 4 KiB, so a direct read of it finds no end of file. */
		if (!ret && stop == c->image_size && stop % 4096)
			ret = ulo_pwrite_zeros(c->fd, c->data_offset + stop + delta,
					       ULO_ROUND_UP(stop, 4096) - stop);
		if (!ret && c->csum_offset)
			ret = ulo_cache_write_csums(c, pos, buf + (pos - off),
						    (size_t)(stop - pos), delta);
		for (uint64_t i = b; !ret && i < ULO_DIV_ROUND_UP(stop, c->block_size); i++) {
			ulo_bitmap_set(&c->pending, i);
			ulo_bitmap_set(&c->present, i);
		}
		pthread_rwlock_unlock(&c->map_rw);
		pos = stop;
	}
	return ret;
}

int ulo_cache_write_blocks(struct ulo_cache *c, uint64_t blk, const void *buf,
			   size_t len)
{
	uint64_t off = blk << c->block_shift;
	uint64_t n = ULO_DIV_ROUND_UP(len, c->block_size);
	int broken = __atomic_load_n(&c->broken, __ATOMIC_ACQUIRE);
	void (*hook)(void *ctx, uint64_t blk, uint64_t n);
	int ret;

	if (!broken)
		broken = __atomic_load_n(&c->full, __ATOMIC_ACQUIRE);
	if (c->readonly || !c->laid_out)
		return ulo_err(-EROFS, "cache %s: not writable", c->path);
	if (broken)
		return ULO_CACHE_REFUSED;
	if (blk >= c->nblocks || n > c->nblocks - blk ||
	    (len % c->block_size && off + len != c->image_size))
		return ulo_err(-EINVAL, "cache %s: bad write of %zu bytes at block %" PRIu64,
			       c->path, len, blk);
	if (c->fmt->locate)
		ret = ulo_cache_write_located(c, blk, buf, len);
	else
		ret = ulo_pwrite_full(c->fd, buf, len, c->data_offset + off);
	if (!ret && c->csum_offset && !c->fmt->locate)
		ret = ulo_cache_write_csums(c, off, buf, len, 0);
	if (ret == ULO_CACHE_REFUSED)
		/* No place could be made (every one holds pinned blocks, or
		 * an eviction failed): told once, by ulo_cache_make_room();
		 * the cache takes no more blocks, as when full. */
		return ret;
	if (ret) {
		/* This block is not marked; those written before it are whole
		 * and still get committed (a flush failure would stop that). */
		__atomic_store_n(&c->full, ret, __ATOMIC_RELEASE);
		return ulo_errno(ret, "cache %s: pwrite of block %" PRIu64,
				 c->path, blk);
	}
	ulo_failpoint("data-written");
	/*
	 * Every few MiB, start the write-out of what is dirty, so the commit's
	 * flush finds little left and fetching overlaps with writing.  Per
	 * write it would stall a single fetcher; never it leaves a 1 s burst.
	 */
	if (__atomic_add_fetch(&c->unkicked, len, __ATOMIC_RELAXED) >= ULO_KICK_BYTES) {
		__atomic_store_n(&c->unkicked, 0, __ATOMIC_RELAXED);
		sync_file_range(c->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	for (uint64_t i = 0; i < n && !c->fmt->locate; i++) {
		ulo_bitmap_set(&c->pending, blk + i);
		ulo_bitmap_set(&c->present, blk + i);
	}
	/* Given up while this write ran (ulo_cache_fault() sets failed, then
	 * clears every bit): these bits may have come after its sweep. */
	if (__atomic_load_n(&c->failed, __ATOMIC_SEQ_CST)) {
		for (uint64_t i = 0; i < n; i++) {
			ulo_bitmap_clear(&c->present, blk + i);
			ulo_bitmap_clear(&c->pending, blk + i);
		}
		return ulo_err(__atomic_load_n(&c->failed, __ATOMIC_RELAXED),
			       "cache %s: given up", c->path);
	}
	hook = __atomic_load_n(&c->on_store, __ATOMIC_ACQUIRE);
	if (hook)
		hook(c->on_store_ctx, blk, n);
	return 0;
}

void ulo_cache_on_store(struct ulo_cache *c,
			void (*fn)(void *ctx, uint64_t blk, uint64_t n), void *ctx)
{
	if (fn)
		c->on_store_ctx = ctx;
	__atomic_store_n(&c->on_store, fn, __ATOMIC_RELEASE);
}

void ulo_cache_on_withdraw(struct ulo_cache *c,
			   void (*fn)(void *ctx, uint64_t blk, uint64_t n), void *ctx)
{
	pthread_mutex_lock(&c->commit_lock);
	c->on_withdraw = fn;
	c->on_withdraw_ctx = ctx;
	pthread_mutex_unlock(&c->commit_lock);
}

/* The runs of set bits of bitmap word @wi, to the withdraw hook. */
static void ulo_cache_withdrawn(struct ulo_cache *c, uint64_t wi, uint64_t bits)
{
	unsigned b = 0;

	while (c->on_withdraw && bits >> b) {
		unsigned start, end;

		while (!(bits >> b & 1))
			b++;
		start = b;
		while (b < 64 && bits >> b & 1)
			b++;
		end = b;
		c->on_withdraw(c->on_withdraw_ctx, wi * 64 + start, end - start);
		if (b == 64)
			break;
	}
}

/* Take the pending bits: the blocks whose pwrite() has returned. */
static int ulo_cache_snapshot(struct ulo_cache *c, struct ulo_epoch_word **out,
			      size_t *count)
{
	struct ulo_epoch_word *s = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*count = 0;

	for (uint64_t wi = 0; wi < c->pending.nwords; wi++) {
		uint64_t bits;

		if (!ulo_bitmap_word(&c->pending, wi))
			continue;
		if (n == cap) {
			struct ulo_epoch_word *t;

			cap = cap ? cap * 2 : 64;
			t = realloc(s, cap * sizeof(*s));
			if (!t) {
				/* Put back what was taken; retry next time. */
				for (size_t i = 0; i < n; i++)
					ulo_bitmap_or_word(&c->pending, s[i].wi,
							   s[i].bits);
				free(s);
				return ulo_errno(-ENOMEM, "cache %s: commit", c->path);
			}
			s = t;
		}
		bits = ulo_bitmap_xchg_word(&c->pending, wi, 0);
		if (bits) {
			s[n].wi = wi;
			s[n].bits = bits;
			n++;
		}
	}
	*out = s;
	*count = n;
	return 0;
}

static int ulo_cache_write_dirty(struct ulo_cache *c)
{
	uint8_t page[ULO_BITMAP_ALIGN];
	uint64_t p;
	int ret;

	for (p = ulo_bitmap_next_set(&c->dirty, 0); p < c->dirty.nbits;
	     p = ulo_bitmap_next_set(&c->dirty, p + 1)) {
		uint64_t off = p * ULO_BITMAP_ALIGN;
		size_t len = ULO_MIN(ULO_BITMAP_ALIGN, c->bitmap_bytes - off);

		ulo_bitmap_store(&c->durable, page, off, len);
		ret = c->fmt->write_bitmap(c, off, page, len);
		if (ret)
			return ret;
		ulo_bitmap_clear(&c->dirty, p);
	}
	return 0;
}

/*
 * The end of the part of @s (@n words, ascending) that starts at @i: as
 * many words as hold at most ULO_HDR_EPOCH_MAX runs of set bits, a run
 * going on across adjacent words counted once; at least one word (a word
 * holds at most 32 runs).
 */
static size_t ulo_epoch_part_end(const struct ulo_epoch_word *s, size_t n,
				 size_t i)
{
	unsigned runs = 0;
	size_t j;

	for (j = i; j < n; j++) {
		unsigned r = (unsigned)__builtin_popcountll(s[j].bits & ~(s[j].bits << 1));

		if (j > i && s[j - 1].wi + 1 == s[j].wi &&
		    (s[j].bits & 1) && (s[j - 1].bits >> 63))
			r--;	/* the last word's run goes on */
		if (j > i && runs + r > ULO_HDR_EPOCH_MAX)
			break;
		runs += r;
	}
	return j;
}

static int ulo_cache_commit_locked(struct ulo_cache *c)
{
	struct ulo_epoch_word *s;
	size_t n;
	int ret;

	if (c->readonly || !c->laid_out)
		return 0;
	if (c->broken)
		return ulo_errno(c->broken, "cache %s: disabled after an earlier write error",
				 c->path);
	ret = ulo_cache_snapshot(c, &s, &n);
	if (ret)
		return ret;
	if (!n && !c->withdrawn)
		return 0;
	ulo_failpoint("commit-start");
	/* (data-sync-eio: tests make the flush fail as a dying flash would) */
	if ((!ulo_failpoint_mode("no-flush-before-bits") && fdatasync(c->fd) < 0) ||
	    (ulo_failpoint_hit("data-sync-eio") && (errno = EIO))) {
		/* The kernel may have dropped the pages: these blocks are not
		 * trustworthy, not even from memory.  Withdraw them. */
		ret = ulo_errno(-errno, "cache %s: fdatasync (data)", c->path);
		for (size_t i = 0; i < n; i++) {
			__atomic_fetch_and(&c->present.w[s[i].wi], ~s[i].bits,
					   __ATOMIC_RELEASE);
			ulo_cache_withdrawn(c, s[i].wi, s[i].bits);
		}
		goto out_broken;
	}
	ulo_failpoint("data-synced");
	/* Steps 3 and 4, part by part: each header names its part's blocks
	 * exactly (at most ULO_HDR_EPOCH_MAX runs, so never a cover that
	 * would make a recovery read the older blocks between them), and
	 * goes to disk before any of their bits.  A commit of bits cleared
	 * only is one part with an empty epoch. */
	for (size_t i = 0, j; i < n || (!n && !i); i = j) {
		j = ulo_epoch_part_end(s, n, i);
		ulo_epoch_from_words(&c->epoch, n ? s + i : NULL, j - i);
		ret = c->fmt->write_header(c, false);
		if (ret)
			goto out_broken;
		for (size_t k = i; k < j; k++) {
			ulo_bitmap_or_word(&c->durable, s[k].wi, s[k].bits);
			ulo_bitmap_set(&c->dirty, s[k].wi * 8 / ULO_BITMAP_ALIGN);
			/* Written and clean now: the page cache's copy of the
			 * data goes (reads are direct; see
			 * ulo_cache_reopen_direct()). */
			if (c->dio_fd >= 0 && !c->fmt->locate)
				posix_fadvise(c->fd, (off_t)(c->data_offset +
					      ((s[k].wi * 64) << c->block_shift)),
					      (off_t)(64ull << c->block_shift), POSIX_FADV_DONTNEED);
		}
		ret = ulo_cache_write_dirty(c);
		if (ret)
			goto out_broken;
		c->withdrawn = false;
		ulo_failpoint("bits-written");
		ret = c->fmt->sync_bitmap(c);
		if (ret)
			goto out_broken;
		ulo_failpoint("bits-synced");
		if (!n)
			break;
	}
	/* Non-dense: the slots' clean pages go all at once. */
	if (c->dio_fd >= 0 && c->fmt->locate && n)
		posix_fadvise(c->fd, (off_t)c->data_offset, 0, POSIX_FADV_DONTNEED);
	c->commits++;
	free(s);
	return 0;

out_broken:
	/*
	 * Said once, as a warning (the kernel log, for a daemon): until now a
	 * failed commit was only a debug line of the commit thread, and a node
	 * whose flash had stopped taking writes looked healthy while it fetched
	 * every new block for good.  The previous generation stays on disk (no
	 * header goes out after a failed flush, no bit before its header), the
	 * blocks already committed are still served, and the next start finds
	 * the header not clean and checks the last commit (ulo_cache_recover).
	 */
	if (!c->broken)
		ulo_warn("%s; the cache is read-only from now on: the blocks it holds are still served, new ones are fetched and not kept (the next start checks its last commit)",
			 ulo_errmsg());
	__atomic_store_n(&c->broken, ret, __ATOMIC_RELEASE);
	free(s);
	return ret;
}

int ulo_cache_commit(struct ulo_cache *c)
{
	int ret;

	pthread_mutex_lock(&c->commit_lock);
	ret = ulo_cache_commit_locked(c);
	pthread_mutex_unlock(&c->commit_lock);
	return ret;
}

static void *ulo_cache_committer(void *arg)
{
	struct ulo_cache *c = arg;
	struct timespec ts;

	pthread_mutex_lock(&c->committer_mx);
	while (!c->committer_stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += c->commit_ms / 1000;
		ts.tv_nsec += (long)(c->commit_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->committer_cv, &c->committer_mx, &ts);
		if (c->committer_stop)
			break;
		pthread_mutex_unlock(&c->committer_mx);
		if (ulo_cache_commit(c))
			ulo_debug("cache", "commit: %s", ulo_errmsg());
		pthread_mutex_lock(&c->committer_mx);
	}
	pthread_mutex_unlock(&c->committer_mx);
	return NULL;
}

int ulo_cache_start_committer(struct ulo_cache *c, unsigned interval_ms)
{
	int ret;

	if (c->readonly || c->committer_running)
		return 0;
	c->commit_ms = interval_ms ? interval_ms : ULO_DEFAULT_COMMIT_MS;
	ret = pthread_create(&c->committer, NULL, ulo_cache_committer, c);
	if (ret)
		return ulo_errno(-ret, "cache %s: starting commit thread", c->path);
	c->committer_running = true;
	return 0;
}

int ulo_cache_close(struct ulo_cache *c)
{
	int ret = 0;

	if (!c)
		return 0;
	if (c->committer_running) {
		pthread_mutex_lock(&c->committer_mx);
		c->committer_stop = true;
		pthread_cond_signal(&c->committer_cv);
		pthread_mutex_unlock(&c->committer_mx);
		pthread_join(c->committer, NULL);
	}
	pthread_mutex_lock(&c->commit_lock);
	if (!c->readonly && c->laid_out && !c->broken) {
		ret = ulo_cache_commit_locked(c);
		/* Clean only if its last unclean stop was recovered from: an
		 * offline run, which never binds, leaves that to the next. */
		if (!ret)
			ret = c->fmt->write_header(c, !c->unchecked);
	}
	if (!ret && (c->broken || c->full)) {
		/* Say so: blocks fetched since were not kept. */
		ret = ulo_errno(c->broken ? c->broken : c->full,
				"cache %s: not all fetched blocks were kept", c->path);
	}
	pthread_mutex_unlock(&c->commit_lock);
	if (c->fmt->close)
		c->fmt->close(c);
	ulo_cache_free_bitmaps(c);
	if (c->dio_fd >= 0)
		close(c->dio_fd);
	if (c->fd >= 0 && close(c->fd) < 0 && !ret)
		ret = ulo_errno(-errno, "cache %s: close", c->path);
	if (c->bfd >= 0 && close(c->bfd) < 0 && !ret)
		ret = ulo_errno(-errno, "bitmap %s: close", c->bitmap_path);
	pthread_mutex_destroy(&c->commit_lock);
	pthread_rwlock_destroy(&c->map_rw);
	pthread_mutex_destroy(&c->committer_mx);
	pthread_cond_destroy(&c->committer_cv);
	free(c);
	return ret;
}

bool ulo_cache_path_is_compact(const char *path)
{
	uint8_t area[ULO_HDR_AREA];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return false;
	got = pread(fd, area, sizeof(area), 0);
	close(fd);
	return got > 0 && ulo_compact_magic(area, (size_t)got);
}
