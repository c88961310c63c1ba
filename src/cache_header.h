/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cache_header.h - the native cache header: encode, decode, validate.
 *
 * docs/cache-format.md is the specification; this is its only codec.
 * The header is one 4 KiB slot, kept twice (slot 0 at offset 0, slot 1 at
 * offset 4096); a write goes to the slot not holding the current generation
 * so a torn write can only damage the older copy.
 */
#ifndef ULOOP_CACHE_HEADER_H
#define ULOOP_CACHE_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity.h"

#define ULO_HDR_MAGIC "ULOOPC\r\n"	/* 8 bytes; \r\n catches text-mode damage */
#define ULO_HDR_VERSION 2	/* 2: checksums; 1 is still read */
#define ULO_HDR_SLOT_SIZE 4096
#define ULO_HDR_AREA (2 * ULO_HDR_SLOT_SIZE)	/* both slots */
#define ULO_HDR_CRC_OFF (ULO_HDR_SLOT_SIZE - 4)

#define ULO_MIN_BLOCK_SHIFT 12	/* 4 KiB */
#define ULO_MAX_BLOCK_SHIFT 20	/* 1 MiB */
#define ULO_BITMAP_ALIGN 4096

/*
 * Version 2 checksums (docs/cache-format.md): every 512-byte sector of the
 * on-disk bitmap holds 508 bytes of bits and the CRC-32C of them (a sector
 * is what a power cut writes whole, so a torn page leaves each sector old
 * or new, both valid); every 4 KiB of image data has the CRC-32C of its
 * bytes in the csum region, written with the data.
 */
#define ULO_BM_SECTOR 512
#define ULO_BM_SECTOR_BITS 508	/* bytes of bits per sector */
#define ULO_CSUM_SPAN 4096	/* image bytes per data checksum */

/* Header flags (must-understand: unknown flags are refused). */
#define ULO_HDR_F_CLEAN (1u << 0)	/* closed cleanly after a final commit */
#define ULO_HDR_F_ALL ULO_HDR_F_CLEAN

/* Feature bits.  Unknown compat bits are kept and ignored; an unknown
 * incompat bit means "do not open": the layout means something else. */
#define ULO_HDR_COMPAT_ALL 0ull
#define ULO_HDR_INCOMPAT_ALL 0ull

/*
 * The epoch: the blocks of the last commit, as sorted, disjoint extents,
 * written with the header before that commit's bits (docs/cache-format.md,
 * "Recovery after an unclean stop").  The commit goes in parts of at most
 * this many runs (cache.c), so it fits; ulo_epoch_from_words() still
 * records more as fewer, wider extents (a cover, never less) if asked.
 */
#define ULO_HDR_EPOCH_MAX 100

struct ulo_epoch {
	uint32_t n;		/* extents used */
	struct ulo_epoch_ext {
		uint64_t start, count;	/* blocks; count > 0 */
	} ext[ULO_HDR_EPOCH_MAX];
};

struct ulo_header {
	uint32_t version;
	uint64_t compat;	/* compatible feature bits */
	uint64_t incompat;	/* must-understand feature bits */
	uint32_t block_shift;	/* log2(block size) */
	uint32_t flags;		/* ULO_HDR_F_* */
	uint64_t image_size;	/* bytes */
	uint64_t bitmap_offset, bitmap_length;	/* bytes, 4 KiB aligned */
	uint64_t csum_offset, csum_length;	/* v2: bytes, 4 KiB aligned */
	uint64_t data_offset, data_length;	/* bytes, block aligned */
	uint64_t generation;	/* +1 per header write */
	uint8_t uuid[16];	/* random at creation */
	uint64_t created, updated;	/* unix seconds */
	struct ulo_identity id;	/* the bound image; kind NONE = unbound */
	struct ulo_epoch epoch;	/* v2: the last commit's blocks */
};

static inline uint64_t ulo_header_nblocks(const struct ulo_header *h)
{
	uint64_t bs = 1ull << h->block_shift;

	return h->image_size / bs + !!(h->image_size % bs);
}

/* Encode @h into a 4 KiB @slot, CRC included. */
void ulo_header_encode(const struct ulo_header *h, uint8_t *slot);

/*
 * Decode and validate one slot.  Returns 0, -ENODATA (no magic: not a
 * header), -EBADMSG (CRC mismatch), -EPROTONOSUPPORT (newer version or
 * unknown incompat feature) or -EINVAL (a field out of range).  On error,
 * @why gets the cause naming the field.
 */
int ulo_header_decode(const uint8_t *slot, struct ulo_header *h,
		      char *why, size_t whylen);

/*
 * Bounds and overlap checks of the regions against each other, the header
 * area and @capacity (bytes available in the file or device; UINT64_MAX if
 * unbounded).  0 or -EINVAL with @why naming the field.
 */
int ulo_header_check_layout(const struct ulo_header *h, uint64_t capacity,
			    char *why, size_t whylen);

/* Fill in the regions of @h for its version, image_size and block_shift. */
void ulo_header_layout(struct ulo_header *h);

/*
 * Record the runs of set bits in @words (@nw pairs of bitmap word index
 * and its bits, ascending) as @e: merged across words, then, if more than
 * ULO_HDR_EPOCH_MAX, joined across their smallest gaps until they fit.
 */
struct ulo_epoch_word {
	uint64_t wi, bits;
};
void ulo_epoch_from_words(struct ulo_epoch *e, const struct ulo_epoch_word *words,
			  size_t nw);

/* Bytes of the on-disk bitmap holding @nbits bits in version @version. */
uint64_t ulo_header_bitmap_bytes(uint32_t version, uint64_t nbits);

/*
 * Pick the newest valid of two slots (the 8 KiB header area).  Returns 0
 * with *@h and *@slot set, or the "best" error of the two with @why set
 * (-ENODATA only if neither slot has the magic).
 */
int ulo_header_pick(const uint8_t *area, struct ulo_header *h, int *slot,
		    char *why, size_t whylen);

/*
 * True if the 8 KiB header area is what a power cut leaves in the middle
 * of a cache's first layout on a device: copy 2 (generation 1's) torn,
 * copy 1 never written.  No bit was ever committed then (a commit writes
 * copy 1 before any bit), so nothing is lost by laying it out anew.
 */
bool ulo_header_first_write_torn(const uint8_t *area);

/*
 * A version 2 on-disk bitmap of @len bytes, as read from the cache: check
 * every 512-byte sector's CRC-32C and turn @bm, in place, into the dense
 * bits (bytes [0, len / 512 * 508), the rest zeroed).  A sector failing
 * its CRC gives zero bits (its blocks are fetched again); an all-zero
 * sector is an empty one.  Returns the number of sectors that failed.
 */
uint64_t ulo_header_bitmap_sectors(uint8_t *bm, uint64_t len);

/*
 * The 2007 layout's record (cache_2007.c), the bitmap file's extended
 * attribute: "kind\nsize\nvalidator\nlocation\nbind-id", bind-id 32
 * lowercase hex digits.  Decode @n bytes of @buf (which has room for one
 * more byte, a NUL, and is changed) into @id and the 16 bytes of
 * @bind_id.  0 or -EINVAL.
 */
#define ULO_2007_REC_MAX (ULO_ID_LOCATION_MAX + ULO_ID_VALIDATOR_MAX + 128)
int ulo_2007_rec_decode(char *buf, size_t n, struct ulo_identity *id,
			uint8_t *bind_id);

#endif
