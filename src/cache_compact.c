// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cache_compact.c - the compact cache format: blocks in fetch order with an
 * index, for flash whose filesystem has no sparse files (vfat), and for a
 * cache smaller than the image (--cache-size, least recently used out).
 *
 * DESIGN
 *
 * The native layout puts image block i at data_offset + i * block_size: on
 * a filesystem without holes the file is the image's size from the first
 * byte (vfat zero-fills a truncate), and past 4 GiB - 1 vfat cannot hold
 * it at all.  Here the image is cut in groups of E blocks (one slot, 64
 * KiB, or one block if blocks are larger), and a group gets the next slot
 * of the file when its first block is fetched: the file grows with what
 * was fetched, in fetch order.
 *
 *   [0, 8K)       two header slots   the native codec's fields (generation,
 *                                    identity, epoch, clean flag) under
 *                                    the magic "ULOOPK\r\n"
 *   [8K, ...)     index              32 bytes per slot: group + 1 (0: free),
 *                                    the group's present blocks (bits),
 *                                    the slot's version, CRC-32C
 *   [C, ...)      checksums          CRC-32C per 4 KiB of slot data, seeded
 *                                    with the image offset the data is of
 *   [D, ...)      slots              slot s at D + s * slot size; written
 *                                    only as far as slots were taken
 *
 * The index and checksum regions are sized at layout for the most slots
 * the cache may hold (the whole image, or what --cache-size leaves after
 * them) and written as zeros then, like native's bitmap: a commit must
 * never fail for want of space.  They cost 36 bytes per 64 KiB slot.
 *
 * The index entry plays the present bitmap's part: cache.c's write order
 * is kept as it is (data, flush, header naming the epoch, bits, flush),
 * and writing "bits" here means writing the index sectors whose entries'
 * bits changed (an entry lives in one 512-byte sector, 16 to a sector;
 * each has its own CRC, so a torn sector costs its entries, never a
 * wrong block).  cache.c finds where block i lives through locate().
 *
 * Eviction and slot reuse.  When no slot is free and the file is at its
 * size limit, a batch of the least recently read unpinned slots (1/16 of
 * them, at least 1, at most 256) is evicted: with readers and writers
 * shut out (map_rw taken for writing), their blocks lose their present,
 * pending and durable bits and their groups their slot; then their index
 * entries are written free, with the slot's version + 1, and flushed,
 * and only after that flush are the slots handed out again.  So a power
 * cut can never leave an entry naming the old group over the new group's
 * data.  Should a flash acknowledge a flush it did not do, the checksum
 * catches it anyway: each 4 KiB's CRC is seeded with its image offset, so
 * data of another group fails it on the first read (cache.c reads every
 * hit against its CRC) and is fetched again.
 *
 * Readers without the lock (info, check, export of a cache in use) keep
 * the index as read at open; at the end the entries of the slots they read
 * from must still be the same group and version on disk
 * (check_slots()), else what was read is not trusted.
 *
 * LRU: each read or write of a slot stamps it from a counter; eviction
 * takes the smallest stamps.  Stamps live in memory only: after a restart
 * every slot is equally old and the first evicted are the first fetched.
 * Pinned groups (ulo_cache_pin(): the boot profile's ranges) are never
 * evicted; when every slot holds pinned blocks the cache stops taking new
 * blocks (cache "full", one warning) instead of thrashing.
 *
 * A compact cache is a file only (a partition has no size to save: use
 * native there), and uloop.ko, which reads hits itself from the dense
 * layout, does not serve it (transport.c).  On vfat, a layout whose end
 * would pass 4 GiB - 1 is refused with a message: the file is not split.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cache_internal.h"
#include "crc32c.h"
#include "failpoint.h"
#include "util.h"

#define ULO_COMPACT_MAGIC "ULOOPK\r\n"
#define ULO_COMPACT_SLOT (64 * 1024)	/* or one block, if larger */
#define ULO_COMPACT_ENT 32
#define ULO_COMPACT_SECTOR 512
#define ULO_COMPACT_PER_SECTOR (ULO_COMPACT_SECTOR / ULO_COMPACT_ENT)
#define ULO_MSDOS_MAGIC 0x4d44		/* vfat's f_type */
#define ULO_VFAT_MAX_FILE 0xffffffffull	/* 4 GiB - 1 */

struct ulo_compact_ent {
	uint64_t group1;	/* in memory: the group the slot holds + 1 */
	uint64_t dgroup1;	/* on disk */
	uint64_t bits;		/* on disk: the group's blocks present */
	uint32_t version;	/* + 1 at every eviction */
};

struct ulo_compact {
	struct ulo_header h;
	bool have_header;
	uint32_t per;		/* blocks per slot (a power of two, <= 16) */
	uint32_t per_shift;
	uint64_t slot_bytes;
	uint64_t nslots;	/* the most the layout holds */
	uint64_t ngroups;
	uint64_t used;		/* slots taken so far: the file's data extent */
	uint32_t *map;		/* group -> slot + 1; 0: none (atomics) */
	struct ulo_compact_ent *ent;	/* per slot; under mx */
	uint64_t *stamp;	/* per slot: last use (atomics) */
	uint64_t tick;
	uint64_t *freel;	/* free slots below used; under mx */
	uint64_t nfree;
	uint8_t *pinned;	/* per group */
	uint64_t npinned;	/* groups pinned */
	uint8_t *dirty;		/* per index sector: to write */
	uint64_t evicted;	/* slots evicted since open */
	pthread_mutex_t mx;
	bool mx_init;
};

static uint64_t ulo_compact_slot_bytes(uint32_t block_shift)
{
	return ULO_MAX((uint64_t)ULO_COMPACT_SLOT, 1ull << block_shift);
}

/* The regions of a layout of @nslots slots (image_size, block_shift set). */
static void ulo_compact_layout(struct ulo_header *h, uint64_t nslots)
{
	uint64_t sb = ulo_compact_slot_bytes(h->block_shift);

	h->bitmap_offset = ULO_HDR_AREA;
	h->bitmap_length = ULO_ROUND_UP(nslots * ULO_COMPACT_ENT, 4096);
	h->csum_offset = h->bitmap_offset + h->bitmap_length;
	h->csum_length = ULO_ROUND_UP(nslots * (sb / ULO_CSUM_SPAN) * 4, 4096);
	h->data_offset = ULO_ROUND_UP(h->csum_offset + h->csum_length,
				      1ull << h->block_shift);
	h->data_length = nslots * sb;
}

static uint64_t ulo_compact_groups(uint64_t image_size, uint32_t block_shift)
{
	return ULO_DIV_ROUND_UP(image_size, ulo_compact_slot_bytes(block_shift));
}

/* The most slots that fit in @limit bytes (0: no limit: the whole image). */
static uint64_t ulo_compact_fit(uint64_t image_size, uint32_t block_shift,
				uint64_t limit)
{
	uint64_t ng = ulo_compact_groups(image_size, block_shift);
	uint64_t sb = ulo_compact_slot_bytes(block_shift), n;
	struct ulo_header h = { .block_shift = block_shift, .image_size = image_size };

	if (!limit)
		return ng;
	n = ULO_MIN(ng, limit / (sb + ULO_COMPACT_ENT + sb / 1024));
	for (;;) {
		ulo_compact_layout(&h, n + 1);
		if (n >= ng || h.data_offset + h.data_length > limit)
			break;
		n++;
	}
	for (; n; n--) {
		ulo_compact_layout(&h, n);
		if (h.data_offset + h.data_length <= limit)
			break;
	}
	return n;
}

/* The native codec's slot under our magic (and its CRC over it). */
static void ulo_compact_encode(const struct ulo_header *h, uint8_t *slot)
{
	ulo_header_encode(h, slot);
	memcpy(slot, ULO_COMPACT_MAGIC, 8);
	ulo_put_le32(slot + ULO_HDR_CRC_OFF, ulo_crc32c(0, slot, ULO_HDR_CRC_OFF));
}

static int ulo_compact_decode(const uint8_t *s, struct ulo_header *h,
			      char *why, size_t len)
{
	uint8_t t[ULO_HDR_SLOT_SIZE];
	uint32_t crc;

	if (memcmp(s, ULO_COMPACT_MAGIC, 8)) {
		snprintf(why, len, "no compact cache magic");
		return -ENODATA;
	}
	crc = ulo_get_le32(s + ULO_HDR_CRC_OFF);
	if (crc != ulo_crc32c(0, s, ULO_HDR_CRC_OFF)) {
		snprintf(why, len, "header CRC mismatch");
		return -EBADMSG;
	}
	/* The fields are the native header's: its decoder checks them. */
	memcpy(t, s, sizeof(t));
	memcpy(t, ULO_HDR_MAGIC, 8);
	ulo_put_le32(t + ULO_HDR_CRC_OFF, ulo_crc32c(0, t, ULO_HDR_CRC_OFF));
	return ulo_header_decode(t, h, why, len);
}

/* The newest valid of the two slots, as ulo_header_pick() does. */
static int ulo_compact_pick(const uint8_t *area, struct ulo_header *h,
			    char *why, size_t len)
{
	struct ulo_header cand[2];
	char w[2][256];
	int r[2];

	for (int i = 0; i < 2; i++)
		r[i] = ulo_compact_decode(area + i * ULO_HDR_SLOT_SIZE, &cand[i],
					  w[i], sizeof(w[i]));
	if (!r[0] || !r[1]) {
		*h = cand[r[0] ? 1 : r[1] ? 0 : cand[1].generation > cand[0].generation];
		return 0;
	}
	if (r[0] == -ENODATA && r[1] == -ENODATA) {
		snprintf(why, len, "no compact cache header");
		return -ENODATA;
	}
	snprintf(why, len, "header copies bad: %.200s; %.200s", w[0], w[1]);
	return r[0] != -ENODATA ? r[0] : r[1];
}

bool ulo_compact_magic(const uint8_t *area, size_t len)
{
	return (len >= 8 && !memcmp(area, ULO_COMPACT_MAGIC, 8)) ||
	       (len >= ULO_HDR_SLOT_SIZE + 8 &&
		!memcmp(area + ULO_HDR_SLOT_SIZE, ULO_COMPACT_MAGIC, 8));
}

/* Regions as uloop lays them out for the slots data_length says, within a
 * file of @size bytes (the slots' part may be shorter: it grows). */
static int ulo_compact_check_layout(const struct ulo_header *h, uint64_t size,
				    char *why, size_t len)
{
	uint64_t sb = ulo_compact_slot_bytes(h->block_shift);
	uint64_t n = h->data_length / sb;
	struct ulo_header want = *h;

	if (!h->image_size || !n || h->data_length % sb ||
	    n > ulo_compact_groups(h->image_size, h->block_shift)) {
		snprintf(why, len, "data_length %" PRIu64 " is not a number of slots for a %" PRIu64 "-byte image",
			 h->data_length, h->image_size);
		return -EINVAL;
	}
	ulo_compact_layout(&want, n);
	if (want.bitmap_offset != h->bitmap_offset ||
	    want.bitmap_length != h->bitmap_length ||
	    want.csum_offset != h->csum_offset ||
	    want.csum_length != h->csum_length ||
	    want.data_offset != h->data_offset) {
		snprintf(why, len, "regions are not the layout of %" PRIu64 " slots", n);
		return -EINVAL;
	}
	if (size < h->data_offset) {
		snprintf(why, len, "file of %" PRIu64 " bytes ends before its data area (%" PRIu64 ")",
			 size, h->data_offset);
		return -EINVAL;
	}
	return 0;
}

/* Entry @s as it goes to disk, into @out (32 bytes).  mx held. */
static void ulo_compact_encode_ent(const struct ulo_compact *p, uint64_t s,
				   uint8_t *out)
{
	const struct ulo_compact_ent *e = &p->ent[s];

	memset(out, 0, ULO_COMPACT_ENT);
	if (!e->group1 && !e->bits && !e->version)
		return;		/* never used: zeros, as laid out */
	ulo_put_le64(out, e->group1);
	ulo_put_le64(out + 8, e->group1 ? e->bits : 0);
	ulo_put_le32(out + 16, e->version);
	ulo_put_le32(out + 28, ulo_crc32c(0, out, 28));
}

/* The group's blocks in @b, as the bits of an entry. */
static uint64_t ulo_compact_group_bits(const struct ulo_cache *c,
				       const struct ulo_compact *p,
				       const struct ulo_bitmap *b, uint64_t g)
{
	uint64_t bits = 0, b0 = g << p->per_shift;

	for (uint32_t i = 0; i < p->per && b0 + i < c->nblocks; i++)
		if (ulo_bitmap_test(b, b0 + i))
			bits |= 1ull << i;
	return bits;
}

/* Write the dirty index sectors (no flush).  commit_lock held. */
static int ulo_compact_write_dirty(struct ulo_cache *c)
{
	struct ulo_compact *p = c->fmt_priv;
	uint64_t nsec = ULO_DIV_ROUND_UP(p->nslots, ULO_COMPACT_PER_SECTOR);
	uint8_t sec[ULO_COMPACT_SECTOR];
	int ret;

	for (uint64_t q = 0; q < nsec; q++) {
		if (!p->dirty[q])
			continue;
		memset(sec, 0, sizeof(sec));
		pthread_mutex_lock(&p->mx);
		for (uint64_t i = 0; i < ULO_COMPACT_PER_SECTOR; i++) {
			uint64_t s = q * ULO_COMPACT_PER_SECTOR + i;

			if (s >= p->nslots)
				break;
			ulo_compact_encode_ent(p, s, sec + i * ULO_COMPACT_ENT);
			p->ent[s].dgroup1 = p->ent[s].group1;
		}
		p->dirty[q] = 0;
		pthread_mutex_unlock(&p->mx);
		ret = ulo_pwrite_full(c->fd, sec, sizeof(sec),
				      p->h.bitmap_offset + q * ULO_COMPACT_SECTOR);
		if (ret)
			return ulo_errno(ret, "cache %s: pwrite (index)", c->path);
	}
	return 0;
}

static void ulo_compact_free(struct ulo_compact *p)
{
	free(p->map);
	free(p->ent);
	free(p->stamp);
	free(p->freel);
	free(p->pinned);
	free(p->dirty);
	p->map = NULL;
	p->ent = NULL;
	p->stamp = NULL;
	p->freel = NULL;
	p->pinned = NULL;
	p->dirty = NULL;
	p->nfree = p->used = p->npinned = 0;
}

/* Geometry and empty tables for header @h (which becomes the current). */
static int ulo_compact_adopt(struct ulo_cache *c, const struct ulo_header *h)
{
	struct ulo_compact *p = c->fmt_priv;

	ulo_compact_free(p);
	p->h = *h;
	p->have_header = true;
	c->block_shift = h->block_shift;
	c->block_size = 1u << h->block_shift;
	c->image_size = h->image_size;
	c->nblocks = ulo_header_nblocks(h);
	c->data_offset = h->data_offset;
	c->csum_offset = h->csum_offset;
	c->csum_seeded = true;
	c->bitmap_bytes = ULO_ROUND_UP(ulo_bitmap_disk_bytes(c->nblocks),
				       ULO_BITMAP_ALIGN);
	c->id = h->id;
	c->epoch = h->epoch;
	memcpy(c->bind_id, h->uuid, sizeof(c->bind_id));
	p->slot_bytes = ulo_compact_slot_bytes(h->block_shift);
	p->per = (uint32_t)(p->slot_bytes >> h->block_shift);
	p->per_shift = (uint32_t)__builtin_ctz(p->per);
	p->nslots = h->data_length / p->slot_bytes;
	p->ngroups = ulo_compact_groups(h->image_size, h->block_shift);
	p->map = calloc(p->ngroups, sizeof(*p->map));
	p->ent = calloc(p->nslots, sizeof(*p->ent));
	p->stamp = calloc(p->nslots, sizeof(*p->stamp));
	p->freel = calloc(p->nslots, sizeof(*p->freel));
	p->pinned = calloc(p->ngroups, 1);
	p->dirty = calloc(ULO_DIV_ROUND_UP(p->nslots, ULO_COMPACT_PER_SECTOR), 1);
	if (!p->map || !p->ent || !p->stamp || !p->freel || !p->pinned || !p->dirty)
		return ulo_errno(-ENOMEM, "cache %s: index tables", c->path);
	return ulo_cache_alloc_bitmaps(c);
}

static int ulo_compact_priv(struct ulo_cache *c)
{
	struct ulo_compact *p;

	if (c->fmt_priv)
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return ulo_errno(-ENOMEM, "cache %s", c->path);
	pthread_mutex_init(&p->mx, NULL);
	p->mx_init = true;
	c->fmt_priv = p;
	return 0;
}

static int ulo_compact_load(struct ulo_cache *c)
{
	uint8_t area[ULO_HDR_AREA] = { 0 };
	struct ulo_compact *p;
	struct ulo_header h;
	struct stat st;
	uint64_t size, bad = 0, top = 0, extent;
	uint8_t *idx;
	char why[512];
	int ret;

	ret = ulo_compact_priv(c);
	if (ret)
		return ret;
	p = c->fmt_priv;
	if (c->is_blkdev)
		return ulo_err(-EINVAL, "cache %s: a compact cache is a file; on a partition use the native format",
			       c->path);
	if (fstat(c->fd, &st) < 0)
		return ulo_errno(-errno, "cache %s: fstat", c->path);
	size = (uint64_t)st.st_size;
	if (!size)
		return -ENODATA;
	ret = ulo_pread_full(c->fd, area, ULO_MIN(size, sizeof(area)), 0);
	if (ret)
		return ulo_errno(ret, "cache %s: pread (header)", c->path);
	ret = ulo_compact_pick(area, &h, why, sizeof(why));
	if (ret == -ENODATA && !c->wipe) {
		if (!(lseek(c->fd, 0, SEEK_DATA) < 0 && errno == ENXIO))
			return ulo_err(-EEXIST,
				       "cache %s: holds other data, not a uloop cache; refusing to overwrite it (pass --wipe to reuse it)",
				       c->path);
		return -ENODATA;
	}
	if (!ret)
		ret = ulo_compact_check_layout(&h, size, why, sizeof(why));
	if (ret && c->wipe && !c->readonly)
		return -ENODATA;
	if (ret)
		return ulo_err(ret, "cache %s: %s%s", c->path, why,
			       c->readonly ? "" : " (pass --wipe to start over)");
	ret = ulo_compact_adopt(c, &h);
	if (ret)
		return ret;
	c->was_clean = h.flags & ULO_HDR_F_CLEAN;
	c->unchecked = !c->was_clean;
	c->open_generation = h.generation;

	idx = malloc(h.bitmap_length);
	if (!idx)
		return ulo_errno(-ENOMEM, "cache %s: index buffer", c->path);
	ret = ulo_pread_full(c->fd, idx, h.bitmap_length, h.bitmap_offset);
	if (ret) {
		free(idx);
		return ulo_errno(ret, "cache %s: pread (index)", c->path);
	}
	for (uint64_t s = 0; s < p->nslots; s++) {
		const uint8_t *e = idx + s * ULO_COMPACT_ENT;
		uint64_t g1 = ulo_get_le64(e), bits = ulo_get_le64(e + 8);
		uint64_t b0;

		if (ulo_all_zero(e, ULO_COMPACT_ENT))
			continue;
		top = s + 1;
		p->ent[s].version = ulo_get_le32(e + 16);
		/* A damaged entry, one past the image, or a second slot
		 * claiming a group: trusted for nothing (written free below). */
		b0 = g1 ? (g1 - 1) << p->per_shift : 0;
		if (ulo_get_le32(e + 28) != ulo_crc32c(0, e, 28) ||
		    !ulo_all_zero(e + 20, 8) || g1 > p->ngroups ||
		    (!g1 && bits) || (g1 && p->map[g1 - 1]) ||
		    (g1 && bits >> ULO_MIN((uint64_t)p->per, c->nblocks - b0))) {
			bad++;
			p->ent[s].dgroup1 = UINT64_MAX;	/* differs: rewritten */
			p->dirty[s / ULO_COMPACT_PER_SECTOR] = 1;
			continue;
		}
		p->ent[s].group1 = p->ent[s].dgroup1 = g1;
		p->ent[s].bits = bits;
		if (!g1)
			continue;
		p->map[g1 - 1] = (uint32_t)(s + 1);
		for (uint32_t i = 0; i < p->per; i++)
			if (bits >> i & 1)
				ulo_bitmap_set(&c->durable, b0 + i);
	}
	free(idx);
	/* Slots the file already covers count as taken (a slot written
	 * before a crash, its entry never committed, is reused from the
	 * free list rather than skipped). */
	extent = size > h.data_offset ?
		ULO_DIV_ROUND_UP(size - h.data_offset, p->slot_bytes) : 0;
	p->used = ULO_MIN(p->nslots, ULO_MAX(top, extent));
	for (uint64_t s = p->used; s-- > 0;)
		if (!p->ent[s].group1)
			p->freel[p->nfree++] = s;
	c->bm_csum_errors += bad;
	if (bad)
		ulo_warn("cache %s: %" PRIu64 " index entr%s failed %s checksum; the blocks %s named are fetched again",
			 c->path, bad, bad == 1 ? "y" : "ies", bad == 1 ? "its" : "their",
			 bad == 1 ? "it" : "they");
	if (bad && !c->readonly) {
		ret = ulo_compact_write_dirty(c);
		if (!ret && fdatasync(c->fd) < 0)
			ret = ulo_errno(-errno, "cache %s: fdatasync (index repair)", c->path);
		if (ret)
			return ret;
	}
	if (c->size_limit && !c->readonly &&
	    ulo_compact_fit(h.image_size, h.block_shift, c->size_limit) != p->nslots) {
		char a[32], b[32];

		ulo_warn("cache %s: its size limit is %s (set when it was made), not %s; kept as it is (remove the cache to change it)",
			 c->path, ulo_fmt_size(h.data_offset + h.data_length, a, sizeof(a)),
			 ulo_fmt_size(c->size_limit, b, sizeof(b)));
	}
	/* An unbound cache (a crash while dropping an image) serves nothing. */
	if (c->id.kind != ULO_ID_NONE)
		for (uint64_t i = 0; i < c->durable.nwords; i++)
			c->present.w[i] = c->durable.w[i];
	return 0;
}

static int ulo_compact_write_slot(struct ulo_cache *c, int fd,
				  const struct ulo_header *h)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	uint64_t off = (h->generation & 1) * ULO_HDR_SLOT_SIZE;

	ulo_compact_encode(h, slot);
	return ulo_cache_write_header_slot(c, fd, slot, off);
}

static int ulo_compact_write_header(struct ulo_cache *c, bool clean)
{
	struct ulo_compact *p = c->fmt_priv;
	struct ulo_header h = p->h;
	int ret;

	h.generation++;
	h.updated = (uint64_t)time(NULL);
	h.flags = clean ? ULO_HDR_F_CLEAN : 0;
	h.id = c->id;
	h.epoch = clean ? (struct ulo_epoch){ 0 } : c->epoch;
	ret = ulo_compact_write_slot(c, c->fd, &h);
	if (!ret)
		p->h = h;
	return ret;
}

static int ulo_compact_unbind(struct ulo_cache *c)
{
	memset(&c->id, 0, sizeof(c->id));
	c->epoch.n = 0;
	return ulo_compact_write_header(c, false);
}

/* What the filesystem under @fd cannot hold in one file of @bytes, for
 * the message; NULL if it can. */
static const char *ulo_compact_fs_limit(int fd, uint64_t bytes)
{
	struct statfs fs;

	if (!fstatfs(fd, &fs) && fs.f_type == ULO_MSDOS_MAGIC && bytes > ULO_VFAT_MAX_FILE)
		return "vfat";
	return NULL;
}

int ulo_cache_fs_file_limit(struct ulo_cache *c, uint64_t bytes, char *why, size_t len)
{
	const char *fs = c->is_blkdev ? NULL : ulo_compact_fs_limit(c->fd, bytes);
	char a[32];

	if (!fs)
		return 0;
	snprintf(why, len, "%s holds files of at most 4 GiB - 1 byte (4294967295), and this cache would be %s",
		 fs, ulo_fmt_size(bytes, a, sizeof(a)));
	return -EFBIG;
}

/* ulo_cache_build_file()'s header step: the first slot, flushed. */
static int ulo_compact_header_into(struct ulo_cache *c, int fd, const void *h)
{
	return ulo_compact_write_slot(c, fd, h);
}

static int ulo_compact_format(struct ulo_cache *c, const struct ulo_identity *id)
{
	struct ulo_compact *p;
	struct ulo_header h = { 0 };
	char why[512], a[32];
	uint64_t n;
	int ret;

	ret = ulo_compact_priv(c);
	if (ret)
		return ret;
	p = c->fmt_priv;
	if (c->is_blkdev)
		return ulo_err(-EINVAL, "cache %s: a compact cache is a file; on a partition use the native format",
			       c->path);
	/* Re-laid out for another image: the limit it was made with. */
	if (!c->size_limit && p->have_header &&
	    p->h.data_length / ulo_compact_slot_bytes(p->h.block_shift) <
	    ulo_compact_groups(p->h.image_size, p->h.block_shift))
		c->size_limit = p->h.data_offset + p->h.data_length;
	h.version = ULO_HDR_VERSION;
	h.block_shift = c->block_shift;
	h.image_size = id->size;
	n = ulo_compact_fit(id->size, c->block_shift, c->size_limit);
	if (!n) {
		ulo_compact_layout(&h, 1);
		return ulo_err(-ENOSPC, "cache %s: --cache-size %s is too small: a compact cache needs at least %s",
			       c->path, ulo_fmt_size(c->size_limit, a, sizeof(a)),
			       ulo_fmt_size(h.data_offset + h.data_length, why, sizeof(why)));
	}
	ulo_compact_layout(&h, n);
	if (ulo_cache_fs_file_limit(c, h.data_offset + h.data_length, why, sizeof(why)))
		return ulo_err(-EFBIG, "cache %s: %s; give --cache-size below 4G (rd.uloop.cache-size=), the compact cache then keeps the most recently read blocks",
			       c->path, why);
	h.generation = p->have_header ? p->h.generation + 1 : 1;
	if (getrandom(h.uuid, sizeof(h.uuid), 0) != sizeof(h.uuid))
		return ulo_errno(-errno, "cache %s: getrandom (uuid)", c->path);
	h.created = h.updated = (uint64_t)time(NULL);
	h.id = *id;

	/* Built beside the old file and renamed into place: a crash leaves
	 * the old cache or the new one.  Header, index and checksums are
	 * written, not sparse (none on vfat anyway); the slots come as they
	 * are fetched. */
	ret = ulo_cache_build_file(c, h.data_offset, h.data_offset,
				   ulo_compact_header_into, &h);
	if (ret)
		return ret;
	ulo_cache_free_bitmaps(c);
	return ulo_compact_adopt(c, &h);
}

/*
 * Dense bitmap bytes [@off, @off + @len) changed: the entries of the
 * groups they cover take the durable bits (@buf, the dense bytes, is not
 * needed: c->durable is at hand, commit_lock held).
 */
static int ulo_compact_write_bitmap(struct ulo_cache *c, uint64_t off,
				    const void *buf, size_t len)
{
	struct ulo_compact *p = c->fmt_priv;
	uint64_t b0 = off * 8, b1 = ULO_MIN((off + len) * 8, c->nblocks);

	(void)buf;
	if (b0 >= b1)
		return 0;
	pthread_mutex_lock(&p->mx);
	for (uint64_t g = b0 >> p->per_shift; g <= (b1 - 1) >> p->per_shift; g++) {
		uint32_t s1 = __atomic_load_n(&p->map[g], __ATOMIC_ACQUIRE);
		uint64_t bits;

		if (!s1)
			continue;
		bits = ulo_compact_group_bits(c, p, &c->durable, g);
		if (bits != p->ent[s1 - 1].bits ||
		    p->ent[s1 - 1].dgroup1 != p->ent[s1 - 1].group1) {
			p->ent[s1 - 1].bits = bits;
			p->dirty[(s1 - 1) / ULO_COMPACT_PER_SECTOR] = 1;
		}
	}
	pthread_mutex_unlock(&p->mx);
	return ulo_compact_write_dirty(c);
}

static int ulo_compact_sync(struct ulo_cache *c)
{
	if (fdatasync(c->fd) < 0)
		return ulo_errno(-errno, "cache %s: fdatasync (index)", c->path);
	return 0;
}

/*
 * Where block @blk lives: its byte in the slot area and the blocks from it
 * on that lie there contiguously.  With @alloc a group without a slot gets
 * the next free one (-ENOSPC: none, evict first).  map_rw held for reading.
 */
static int ulo_compact_locate(struct ulo_cache *c, uint64_t blk, bool alloc,
			      uint64_t *at, uint64_t *run)
{
	struct ulo_compact *p = c->fmt_priv;
	uint64_t g = blk >> p->per_shift, s, want = *run;
	uint32_t s1 = __atomic_load_n(&p->map[g], __ATOMIC_ACQUIRE);

	if (!s1 && !alloc)
		return -ENOENT;
	if (!s1) {
		pthread_mutex_lock(&p->mx);
		s1 = p->map[g];
		if (!s1) {
			if (p->nfree)
				s = p->freel[--p->nfree];
			else if (p->used < p->nslots)
				s = p->used++;
			else
				s = UINT64_MAX;
			if (s != UINT64_MAX) {
				p->ent[s].group1 = g + 1;
				s1 = (uint32_t)(s + 1);
				__atomic_store_n(&p->map[g], s1, __ATOMIC_RELEASE);
			}
		}
		pthread_mutex_unlock(&p->mx);
		if (!s1)
			return -ENOSPC;
	}
	s = s1 - 1;
	__atomic_store_n(&p->stamp[s], __atomic_add_fetch(&p->tick, 1, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	*at = s * p->slot_bytes + ((blk & (p->per - 1)) << c->block_shift);
	*run = p->per - (blk & (p->per - 1));
	/* A read goes on through the groups that lie in the next slots (a
	 * hydration's, fetched in order): one pread, not one a slot.  As far
	 * as the caller reads (what it does not read is not used: its
	 * slots' LRU stamps stay), at most 16 MiB. */
	for (uint64_t g2 = g + 1; !alloc && g2 < p->ngroups && *run < want &&
	     (*run << c->block_shift) < (16u << 20) &&
	     __atomic_load_n(&p->map[g2], __ATOMIC_ACQUIRE) == s1 + (g2 - g); g2++) {
		__atomic_store_n(&p->stamp[s + (g2 - g)],
				 __atomic_add_fetch(&p->tick, 1, __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
		*run += p->per;
	}
	return 0;
}

struct ulo_compact_cand {
	uint64_t stamp, slot;
};

static int ulo_compact_cand_cmp(const void *a, const void *b)
{
	const struct ulo_compact_cand *x = a, *y = b;

	if (x->stamp != y->stamp)
		return x->stamp < y->stamp ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Clear the bits of group @g's blocks in every bitmap; tell uloop.ko's
 * hook (it never serves a compact cache, but the rule is the rule). */
static void ulo_compact_unmark(struct ulo_cache *c, struct ulo_compact *p, uint64_t g)
{
	uint64_t b0 = g << p->per_shift;

	for (uint32_t i = 0; i < p->per && b0 + i < c->nblocks; i++) {
		bool was = ulo_bitmap_test(&c->present, b0 + i);

		ulo_bitmap_clear(&c->present, b0 + i);
		ulo_bitmap_clear(&c->pending, b0 + i);
		ulo_bitmap_clear(&c->durable, b0 + i);
		if (was && c->on_withdraw)
			c->on_withdraw(c->on_withdraw_ctx, b0 + i, 1);
	}
}

/*
 * Free a batch of the least recently used unpinned slots, durably, before
 * any of them is written again.  commit_lock held.  0 (maybe someone else
 * freed some meanwhile), -ENOSPC (every slot holds pinned blocks) or the
 * write's error.
 */
static int ulo_compact_evict(struct ulo_cache *c)
{
	struct ulo_compact *p = c->fmt_priv;
	struct ulo_compact_cand *cand;
	uint64_t n = 0, k, *victims;
	int ret;

	cand = malloc(p->nslots * sizeof(*cand));
	victims = malloc(p->nslots * sizeof(*victims));
	if (!cand || !victims) {
		free(cand);
		free(victims);
		return ulo_errno(-ENOMEM, "cache %s: eviction", c->path);
	}
	pthread_rwlock_wrlock(&c->map_rw);
	if (p->nfree || p->used < p->nslots) {
		pthread_rwlock_unlock(&c->map_rw);
		free(cand);
		free(victims);
		return 0;
	}
	for (uint64_t s = 0; s < p->used; s++) {
		uint64_t g1 = p->ent[s].group1;

		if (g1 && !p->pinned[g1 - 1])
			cand[n++] = (struct ulo_compact_cand){ p->stamp[s], s };
	}
	if (!n) {
		pthread_rwlock_unlock(&c->map_rw);
		free(cand);
		free(victims);
		return -ENOSPC;
	}
	k = ULO_MIN(n, ULO_MIN((uint64_t)256, ULO_MAX((uint64_t)1, p->nslots / 16)));
	qsort(cand, n, sizeof(*cand), ulo_compact_cand_cmp);
	pthread_mutex_lock(&p->mx);
	for (uint64_t i = 0; i < k; i++) {
		uint64_t s = cand[i].slot, g = p->ent[s].group1 - 1;

		ulo_compact_unmark(c, p, g);
		__atomic_store_n(&p->map[g], 0, __ATOMIC_RELEASE);
		p->ent[s].group1 = 0;
		p->ent[s].bits = 0;
		p->ent[s].version++;
		p->dirty[s / ULO_COMPACT_PER_SECTOR] = 1;
		victims[i] = s;
	}
	pthread_mutex_unlock(&p->mx);
	pthread_rwlock_unlock(&c->map_rw);
	free(cand);
	ret = ulo_compact_write_dirty(c);
	ulo_failpoint("evict-written");
	if (!ret && fdatasync(c->fd) < 0)
		ret = ulo_errno(-errno, "cache %s: fdatasync (eviction)", c->path);
	if (ret) {
		/* Not known free on disk: these slots are never reused. */
		free(victims);
		return ret;
	}
	ulo_failpoint("evict-synced");
	pthread_mutex_lock(&p->mx);
	for (uint64_t i = 0; i < k; i++)
		p->freel[p->nfree++] = victims[i];
	p->evicted += k;
	pthread_mutex_unlock(&p->mx);
	free(victims);
	return 0;
}

/*
 * A lockless reader's last check: the slots it read from still hold the
 * same group, never evicted since (same version), on disk.
 */
static int ulo_compact_check_slots(struct ulo_cache *c)
{
	struct ulo_compact *p = c->fmt_priv;
	uint64_t len = p->h.bitmap_length;
	uint8_t *idx = malloc(len);
	int ret;

	if (!idx)
		return ulo_errno(-ENOMEM, "cache %s: index buffer", c->path);
	ret = ulo_pread_full(c->fd, idx, len, p->h.bitmap_offset);
	for (uint64_t s = 0; !ret && s < p->nslots; s++) {
		const uint8_t *e = idx + s * ULO_COMPACT_ENT;

		if (p->ent[s].group1 &&
		    (ulo_get_le64(e) != p->ent[s].group1 ||
		     ulo_get_le32(e + 16) != p->ent[s].version))
			ret = ulo_err(-ESTALE,
				      "cache %s: slot %" PRIu64 " was evicted and reused while it was being read; what was read is not used",
				      c->path, s);
	}
	free(idx);
	if (ret && ret != -ESTALE)
		return ulo_errno(ret, "cache %s: pread (index)", c->path);
	return ret;
}

static void ulo_compact_close(struct ulo_cache *c)
{
	struct ulo_compact *p = c->fmt_priv;

	if (!p)
		return;
	ulo_compact_free(p);
	if (p->mx_init)
		pthread_mutex_destroy(&p->mx);
	free(p);
	c->fmt_priv = NULL;
}

static int ulo_compact_read_binding(struct ulo_cache *c, struct ulo_identity *id,
				    uint8_t *bind_id)
{
	uint8_t area[ULO_HDR_AREA];
	struct ulo_header h;
	char why[512];
	int ret;

	ret = ulo_pread_full(c->fd, area, sizeof(area), 0);
	if (ret)
		return ulo_errno(ret, "cache %s: pread (header)", c->path);
	ret = ulo_compact_pick(area, &h, why, sizeof(why));
	if (ret)
		return ulo_err(ret, "cache %s: %s", c->path, why);
	*id = h.id;
	memcpy(bind_id, h.uuid, sizeof(h.uuid));
	return 0;
}

const struct ulo_cache_fmt ulo_cache_fmt_compact = {
	.name = "compact",
	.load = ulo_compact_load,
	.unbind = ulo_compact_unbind,
	.format = ulo_compact_format,
	.write_bitmap = ulo_compact_write_bitmap,
	.sync_bitmap = ulo_compact_sync,
	.write_header = ulo_compact_write_header,
	.read_binding = ulo_compact_read_binding,
	.close = ulo_compact_close,
	.locate = ulo_compact_locate,
	.evict = ulo_compact_evict,
	.check_slots = ulo_compact_check_slots,
};

int ulo_cache_pin(struct ulo_cache *c, uint64_t off, uint64_t len)
{
	struct ulo_compact *p = c->fmt_priv;
	uint64_t g0, g1;

	if (c->fmt != &ulo_cache_fmt_compact || !c->laid_out || !len ||
	    off >= c->image_size)
		return 0;
	len = ULO_MIN(len, c->image_size - off);
	g0 = off / p->slot_bytes;
	g1 = (off + len - 1) / p->slot_bytes;
	pthread_mutex_lock(&p->mx);
	for (uint64_t g = g0; g <= g1; g++)
		if (!p->pinned[g]) {
			p->pinned[g] = 1;
			p->npinned++;
		}
	pthread_mutex_unlock(&p->mx);
	return 0;
}

int ulo_cache_compact_info(const struct ulo_cache *c, struct ulo_compact_info *ci)
{
	struct ulo_compact *p = c->fmt_priv;

	memset(ci, 0, sizeof(*ci));
	if (c->fmt != &ulo_cache_fmt_compact || !p || !p->have_header)
		return -EINVAL;
	pthread_mutex_lock(&p->mx);
	ci->slot_bytes = p->slot_bytes;
	ci->slots = p->nslots;
	ci->slots_taken = p->used - p->nfree;
	ci->slots_written = p->used;
	ci->groups = p->ngroups;
	ci->bytes_max = p->h.data_offset + p->h.data_length;
	ci->limited = p->nslots < p->ngroups;
	ci->evicted = p->evicted;
	ci->pinned_groups = p->npinned;
	pthread_mutex_unlock(&p->mx);
	return 0;
}

uint64_t ulo_compact_room(const struct ulo_cache *c)
{
	struct ulo_compact *p = c->fmt_priv;
	uint64_t left;

	pthread_mutex_lock(&p->mx);
	left = (p->nslots - p->used) * p->slot_bytes;
	pthread_mutex_unlock(&p->mx);
	return left;
}

const struct ulo_header *ulo_compact_header(const struct ulo_cache *c)
{
	const struct ulo_compact *p = c->fmt_priv;

	return c->fmt == &ulo_cache_fmt_compact && p && p->have_header ? &p->h : NULL;
}

bool ulo_cache_at_limit(const struct ulo_cache *c)
{
	struct ulo_compact *p = c ? c->fmt_priv : NULL;
	bool at;

	if (!c || c->fmt != &ulo_cache_fmt_compact || !p || !p->have_header)
		return false;
	pthread_mutex_lock(&p->mx);
	at = p->nslots < p->ngroups && !p->nfree && p->used == p->nslots;
	pthread_mutex_unlock(&p->mx);
	return at;
}
