/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cow_uml.h - the header of User-Mode Linux COW files (V1, V2, V3): decode,
 * encode, and where the bitmap and data lie.
 *
 * A UML COW file is a header naming its backing file (with that file's
 * mtime and size, so a changed backing file is refused), a bitmap of one
 * bit per sector (least significant bit first: sector s is bit s % 8 of
 * byte s / 8), and the sectors themselves at data_offset + s * sector_size,
 * in place, the file sparse where nothing was written.  The layouts, as
 * the UML kernel (arch/um/drivers/cow_user.c) reads them:
 *
 *   V1  host order   magic, version, backing[256], u32 mtime, u64 size,
 *                    s32 sector size: 280 bytes, bitmap right after
 *   V2  big-endian   magic, version, backing[4096], u32 mtime, u64 size,
 *                    s32 sector size: 4120 bytes, bitmap right after
 *   V3  big-endian   magic, version, u32 mtime, u64 size, u32 sector size,
 *                    u32 alignment, u32 cow_format (0: bitmap),
 *                    backing[4096]: 4128 bytes; bitmap and data each start
 *                    on a multiple of the alignment
 *   V3 as 64-bit binaries wrote it before 2006: the same with an 8-byte
 *                    mtime (its first 4 bytes the big-endian seconds) and
 *                    padding to 4136 bytes; told apart by the zero that
 *                    lands where a real V3's backing name starts ('/').
 *
 * V1 and V2 size their bitmap with UML's old rounding, one bit short per
 * started byte: a size that is not a multiple of 8 sectors leaves its last
 * sectors without a bit (@covered says how many have one).  What UML does
 * with them is undefined; uloop serves such a file read-only.
 *
 * uloop writes V3 (what UML and uml_mkcow write), and may note the
 * identity of a backing image that is not a local file (a URL: its ETag,
 * its root hash) in the backing field after the name's NUL, where UML's
 * readers (they copy up to the NUL) never look.
 */
#ifndef ULOOP_COW_UML_H
#define ULOOP_COW_UML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ULO_UML_MAGIC 0x4f4f4f4dU	/* "MOOO" as a host-order word */
#define ULO_UML_NAME_V1 256
#define ULO_UML_NAME_V2 4096
#define ULO_UML_NAME_V3 4096
#define ULO_UML_HDR_V1 280
#define ULO_UML_HDR_V2 4120
#define ULO_UML_HDR_V3 4128
#define ULO_UML_HDR_V3_64 4136
#define ULO_UML_HDR_MAX ULO_UML_HDR_V3_64	/* read this much to decode */
#define ULO_UML_TAG_PREFIX "uloop:"
#define ULO_UML_TAG_MAX 400	/* bytes of tag, incl. NUL */
/* The tag of a cache kept as a COW file (cache_umlcow.c): its sectors are
 * the image's own bytes, not writes. */
#define ULO_UML_CACHE_TAG ULO_UML_TAG_PREFIX "cache:"
/* What uloop and UML create: 512-byte sectors, data on 4 KiB (a page,
 * what UML's own ubd driver asks for; direct I/O friendly). */
#define ULO_UML_SECTOR 512
#define ULO_UML_ALIGN 4096

struct ulo_uml_hdr {
	unsigned version;	/* 1, 2 or 3 */
	bool v3_64bit;		/* the pre-2006 64-bit V3 layout */
	bool big_endian;	/* the magic's byte order */
	uint32_t mtime;		/* the backing file's, seconds */
	uint64_t size;		/* the backing file's, bytes: the disk's size */
	uint32_t sector_size;
	uint32_t alignment;	/* V3's field; V1, V2: the sector size */
	char backing[ULO_UML_NAME_V3];	/* NUL-terminated */
	char tag[ULO_UML_TAG_MAX];	/* after the name's NUL, or "" */

	/* Worked out from the above by decode and encode. */
	uint64_t header_len;
	uint64_t bitmap_offset;
	uint64_t bitmap_len;	/* bytes */
	uint64_t data_offset;	/* sector s at data_offset + s * sector_size */
	uint64_t sectors;	/* of the disk, the last one maybe partial */
	uint64_t covered;	/* sectors with a bit: <= sectors for V1, V2 */
};

/* Does @buf (@len bytes from offset 0) start with the COW magic, in
 * either byte order? */
bool ulo_uml_probe(const void *buf, size_t len);

/*
 * Decode the header in @buf (@len bytes read from offset 0; at least
 * ULO_UML_HDR_MAX unless the file is shorter) into @h, and check it: a
 * version, sector size, alignment, format and size uloop can serve
 * safely.  0, or -EINVAL with a message (ulo_errmsg()) saying which field
 * is wrong; the caller names the file.
 */
int ulo_uml_decode(const void *buf, size_t len, struct ulo_uml_hdr *h);

/*
 * Fill in @h's layout (header_len .. covered) from its version, size,
 * sector size and alignment, and check them as decode does.  0 or
 * -EINVAL with a message.
 */
int ulo_uml_layout(struct ulo_uml_hdr *h);

/*
 * Encode @h (laid out by ulo_uml_layout()) into @buf, which has room for
 * h->header_len bytes: V1 in @h's byte order, V2 and V3 big-endian,
 * cow_format 0.  -ENAMETOOLONG if the backing name and tag do not fit
 * the version's field (the tag alone is left out if only it does not).
 */
int ulo_uml_encode(const struct ulo_uml_hdr *h, void *buf);

/* Is @tag (a header's) that of a uloop cache, not of a COW of writes? */
bool ulo_uml_tag_is_cache(const char *tag);

/* "V3", "V3 (64-bit layout)", ... for messages. */
const char *ulo_uml_version_name(const struct ulo_uml_hdr *h);

#endif
