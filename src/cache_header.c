// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cache_header.c - native cache header codec.
 *
 * Slot layout (little-endian; docs/cache-format.md has the table):
 *
 *    0  magic[8]          80  generation u64
 *    8  version u32        88  uuid[16]
 *   12  header_size u32   104  created u64
 *   16  compat u64        112  updated u64
 *   24  incompat u64      120  id_kind u32, 124 reserved u32
 *   32  block_shift u32   128  source_size u64
 *   36  flags u32         136  location_len u16, 138 validator_len u16,
 *   40  image_size u64         140 reserved u32
 *   48  bitmap_offset     144  validator[256]
 *   56  bitmap_length     400  location[2048]
 *   64  data_offset      2448  csum_offset u64, 2456 csum_length u64
 *   72  data_length      2464  epoch_count u32, 2468 reserved u32
 *                        2472  epoch extents: 100 x (start u64, count u64)
 *                        4072  reserved, zero
 *                        4092  crc32c of bytes 0..4091
 *
 * Every length and offset is checked with overflow-safe arithmetic; a
 * decoded header is only trusted after ulo_header_check_layout().
 */
#include "cache_header.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "util.h"

#define OFF_VALIDATOR 144
#define OFF_LOCATION 400
#define OFF_CSUM 2448		/* v2: csum_offset, csum_length */
#define OFF_EPOCH 2464		/* v2: epoch_count, reserved, extents */
#define OFF_EPOCH_EXT 2472
#define OFF_RESERVED (OFF_EPOCH_EXT + ULO_HDR_EPOCH_MAX * 16)

_Static_assert(OFF_RESERVED <= ULO_HDR_CRC_OFF, "epoch overlaps the CRC");

void ulo_header_encode(const struct ulo_header *h, uint8_t *s)
{
	size_t vlen = strnlen(h->id.validator, ULO_ID_VALIDATOR_MAX - 1);
	size_t llen = strnlen(h->id.location, ULO_ID_LOCATION_MAX - 1);

	memset(s, 0, ULO_HDR_SLOT_SIZE);
	memcpy(s, ULO_HDR_MAGIC, 8);
	ulo_put_le32(s + 8, h->version);
	ulo_put_le32(s + 12, ULO_HDR_SLOT_SIZE);
	ulo_put_le64(s + 16, h->compat);
	ulo_put_le64(s + 24, h->incompat);
	ulo_put_le32(s + 32, h->block_shift);
	ulo_put_le32(s + 36, h->flags);
	ulo_put_le64(s + 40, h->image_size);
	ulo_put_le64(s + 48, h->bitmap_offset);
	ulo_put_le64(s + 56, h->bitmap_length);
	ulo_put_le64(s + 64, h->data_offset);
	ulo_put_le64(s + 72, h->data_length);
	ulo_put_le64(s + 80, h->generation);
	ulo_put_le64(s + OFF_CSUM, h->csum_offset);
	ulo_put_le64(s + OFF_CSUM + 8, h->csum_length);
	memcpy(s + 88, h->uuid, 16);
	ulo_put_le64(s + 104, h->created);
	ulo_put_le64(s + 112, h->updated);
	ulo_put_le32(s + 120, h->id.kind);
	ulo_put_le64(s + 128, h->id.size);
	ulo_put_le16(s + 136, llen);
	ulo_put_le16(s + 138, vlen);
	memcpy(s + OFF_VALIDATOR, h->id.validator, vlen);
	memcpy(s + OFF_LOCATION, h->id.location, llen);
	ulo_put_le32(s + OFF_EPOCH, h->epoch.n);
	for (uint32_t i = 0; i < h->epoch.n && i < ULO_HDR_EPOCH_MAX; i++) {
		ulo_put_le64(s + OFF_EPOCH_EXT + 16 * i, h->epoch.ext[i].start);
		ulo_put_le64(s + OFF_EPOCH_EXT + 16 * i + 8, h->epoch.ext[i].count);
	}
	ulo_put_le32(s + ULO_HDR_CRC_OFF, ulo_crc32c(0, s, ULO_HDR_CRC_OFF));
}

static int ulo_why(char *why, size_t len, int err, const char *fmt, ...)
	ULO_PRINTF(4, 5);

static int ulo_why(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}

/* The epoch: at most ULO_HDR_EPOCH_MAX extents, each non-empty, within
 * the image, ascending and disjoint; the unused slots zero. */
static int ulo_header_decode_epoch(const uint8_t *s, struct ulo_header *h,
				   char *why, size_t whylen)
{
	uint64_t nblocks = ulo_header_nblocks(h), next = 0;
	uint32_t n = ulo_get_le32(s + OFF_EPOCH);

	if (ulo_get_le32(s + OFF_EPOCH + 4) || (h->version < 2 && n))
		return ulo_why(why, whylen, -EINVAL, "reserved field not zero");
	if (n > ULO_HDR_EPOCH_MAX)
		return ulo_why(why, whylen, -EINVAL,
			       "epoch_count %u, at most %u", n, ULO_HDR_EPOCH_MAX);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t start = ulo_get_le64(s + OFF_EPOCH_EXT + 16 * i);
		uint64_t count = ulo_get_le64(s + OFF_EPOCH_EXT + 16 * i + 8);

		if (!count || start < next || start >= nblocks ||
		    count > nblocks - start)
			return ulo_why(why, whylen, -EINVAL,
				       "epoch extent %u (blocks %llu, +%llu) empty, out of order or past the image's %llu blocks",
				       i, (unsigned long long)start,
				       (unsigned long long)count,
				       (unsigned long long)nblocks);
		h->epoch.ext[i].start = start;
		h->epoch.ext[i].count = count;
		next = start + count;
	}
	h->epoch.n = n;
	if (!ulo_all_zero(s + OFF_EPOCH_EXT + 16 * n,
			  (size_t)(ULO_HDR_EPOCH_MAX - n) * 16))
		return ulo_why(why, whylen, -EINVAL, "unused epoch extents not zero");
	return 0;
}

int ulo_header_decode(const uint8_t *s, struct ulo_header *h,
		      char *why, size_t whylen)
{
	uint32_t crc, size;
	size_t llen, vlen;

	memset(h, 0, sizeof(*h));
	if (memcmp(s, ULO_HDR_MAGIC, 8))
		return ulo_why(why, whylen, -ENODATA, "no uloop cache magic");
	crc = ulo_get_le32(s + ULO_HDR_CRC_OFF);
	if (crc != ulo_crc32c(0, s, ULO_HDR_CRC_OFF))
		return ulo_why(why, whylen, -EBADMSG,
			       "header CRC mismatch (stored %08x, computed %08x)",
			       crc, ulo_crc32c(0, s, ULO_HDR_CRC_OFF));
	h->version = ulo_get_le32(s + 8);
	if (h->version != ULO_HDR_VERSION && h->version != 1)
		return ulo_why(why, whylen, h->version > ULO_HDR_VERSION ?
			       -EPROTONOSUPPORT : -EINVAL,
			       "header version %u not supported (this uloop reads %u)",
			       h->version, ULO_HDR_VERSION);
	size = ulo_get_le32(s + 12);
	if (size != ULO_HDR_SLOT_SIZE)
		return ulo_why(why, whylen, -EINVAL,
			       "header_size %u, expected %u", size, ULO_HDR_SLOT_SIZE);
	h->compat = ulo_get_le64(s + 16);
	h->incompat = ulo_get_le64(s + 24);
	if (h->incompat & ~ULO_HDR_INCOMPAT_ALL)
		return ulo_why(why, whylen, -EPROTONOSUPPORT,
			       "unknown must-understand feature bits (incompat) 0x%llx (cache made by a newer uloop?)",
			       (unsigned long long)(h->incompat & ~ULO_HDR_INCOMPAT_ALL));
	h->block_shift = ulo_get_le32(s + 32);
	if (h->block_shift < ULO_MIN_BLOCK_SHIFT ||
	    h->block_shift > ULO_MAX_BLOCK_SHIFT)
		return ulo_why(why, whylen, -EINVAL,
			       "block_shift %u out of range (%u..%u: 4 KiB to 1 MiB)",
			       h->block_shift, ULO_MIN_BLOCK_SHIFT, ULO_MAX_BLOCK_SHIFT);
	h->flags = ulo_get_le32(s + 36);
	if (h->flags & ~ULO_HDR_F_ALL)
		return ulo_why(why, whylen, -EINVAL, "unknown flags 0x%x",
			       h->flags & ~ULO_HDR_F_ALL);
	h->image_size = ulo_get_le64(s + 40);
	h->bitmap_offset = ulo_get_le64(s + 48);
	h->bitmap_length = ulo_get_le64(s + 56);
	h->data_offset = ulo_get_le64(s + 64);
	h->data_length = ulo_get_le64(s + 72);
	h->generation = ulo_get_le64(s + 80);
	h->csum_offset = ulo_get_le64(s + OFF_CSUM);
	h->csum_length = ulo_get_le64(s + OFF_CSUM + 8);
	if (h->version == 1 && (h->csum_offset || h->csum_length))
		return ulo_why(why, whylen, -EINVAL, "reserved field not zero");
	memcpy(h->uuid, s + 88, 16);
	h->created = ulo_get_le64(s + 104);
	h->updated = ulo_get_le64(s + 112);
	h->id.kind = ulo_get_le32(s + 120);
	if (h->id.kind > ULO_ID_KIND_MAX)
		return ulo_why(why, whylen, -EINVAL, "unknown identity kind %u",
			       h->id.kind);
	if (ulo_get_le32(s + 124) || ulo_get_le32(s + 140))
		return ulo_why(why, whylen, -EINVAL, "reserved field not zero");
	h->id.size = ulo_get_le64(s + 128);
	llen = ulo_get_le16(s + 136);
	vlen = ulo_get_le16(s + 138);
	if (llen >= ULO_ID_LOCATION_MAX || vlen >= ULO_ID_VALIDATOR_MAX)
		return ulo_why(why, whylen, -EINVAL,
			       "identity string too long (location %zu, validator %zu)",
			       llen, vlen);
	memcpy(h->id.validator, s + OFF_VALIDATOR, vlen);
	memcpy(h->id.location, s + OFF_LOCATION, llen);
	if (strlen(h->id.validator) != vlen || strlen(h->id.location) != llen ||
	    !ulo_all_zero(s + OFF_VALIDATOR + vlen, ULO_ID_VALIDATOR_MAX - vlen) ||
	    !ulo_all_zero(s + OFF_LOCATION + llen, ULO_ID_LOCATION_MAX - llen) ||
	    !ulo_all_zero(s + OFF_RESERVED, ULO_HDR_CRC_OFF - OFF_RESERVED))
		return ulo_why(why, whylen, -EINVAL,
			       "identity strings malformed or reserved bytes not zero");
	if (h->id.kind == ULO_ID_NONE && (h->id.size || llen || vlen))
		return ulo_why(why, whylen, -EINVAL,
			       "unbound header (id_kind 0) with source_size, location or validator set");
	if (h->id.kind != ULO_ID_NONE && h->id.size != h->image_size)
		return ulo_why(why, whylen, -EINVAL,
			       "source_size %llu does not match image_size %llu",
			       (unsigned long long)h->id.size,
			       (unsigned long long)h->image_size);
	return ulo_header_decode_epoch(s, h, why, whylen);
}

/* Sort key for joining extents: the gap after extent i. */
struct ulo_gap {
	uint64_t len;
	size_t i;
};

static int ulo_gap_cmp(const void *a, const void *b)
{
	const struct ulo_gap *x = a, *y = b;

	return x->len < y->len ? -1 : x->len > y->len;
}

/* Append run [start, start + count) to @runs (growing), merging a run
 * that continues the last. */
static int ulo_runs_add(struct ulo_epoch_ext **runs, size_t *n, size_t *cap,
			uint64_t start, uint64_t count)
{
	if (*n && (*runs)[*n - 1].start + (*runs)[*n - 1].count == start) {
		(*runs)[*n - 1].count += count;
		return 0;
	}
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct ulo_epoch_ext *t = realloc(*runs, nc * sizeof(**runs));

		if (!t)
			return -ENOMEM;
		*runs = t;
		*cap = nc;
	}
	(*runs)[(*n)++] = (struct ulo_epoch_ext){ start, count };
	return 0;
}

void ulo_epoch_from_words(struct ulo_epoch *e, const struct ulo_epoch_word *words,
			  size_t nw)
{
	struct ulo_epoch_ext *runs = NULL;
	struct ulo_gap *gaps = NULL;
	bool *join = NULL, nomem = false;
	size_t n = 0, cap = 0;
	uint64_t first = UINT64_MAX, last = 0;

	memset(e, 0, sizeof(*e));
	for (size_t w = 0; w < nw; w++) {
		uint64_t bits = words[w].bits, base = words[w].wi * 64;
		unsigned b = 0, start;

		while (b < 64 && bits >> b) {
			while (!((bits >> b) & 1))
				b++;
			start = b;
			while (b < 64 && ((bits >> b) & 1))
				b++;
			first = ULO_MIN(first, base + start);
			last = base + b;
			if (!nomem)
				nomem = ulo_runs_add(&runs, &n, &cap, base + start,
						     b - start) != 0;
		}
	}
	if (first == UINT64_MAX)
		goto out;
	if (n > ULO_HDR_EPOCH_MAX && !nomem) {
		gaps = malloc((n - 1) * sizeof(*gaps));
		join = calloc(n, sizeof(*join));
		nomem = !gaps || !join;
	}
	if (nomem) {	/* no memory to do better: one extent covers all */
		e->n = 1;
		e->ext[0] = (struct ulo_epoch_ext){ first, last - first };
		goto out;
	}
	if (n > ULO_HDR_EPOCH_MAX) {
		/* Join each run to the next across the n - MAX smallest gaps:
		 * MAX extents, covering the fewest blocks not committed. */
		for (size_t i = 0; i + 1 < n; i++)
			gaps[i] = (struct ulo_gap){
				runs[i + 1].start - runs[i].start - runs[i].count, i };
		qsort(gaps, n - 1, sizeof(*gaps), ulo_gap_cmp);
		for (size_t k = 0; k < n - ULO_HDR_EPOCH_MAX; k++)
			join[gaps[k].i] = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (i && join && join[i - 1]) {
			struct ulo_epoch_ext *x = &e->ext[e->n - 1];

			x->count = runs[i].start + runs[i].count - x->start;
		} else {
			e->ext[e->n++] = runs[i];
		}
	}
out:
	free(runs);
	free(gaps);
	free(join);
}

/* a + b > limit, without overflow. */
static bool ulo_past(uint64_t a, uint64_t b, uint64_t limit)
{
	return a > limit || b > limit - a;
}

int ulo_header_check_layout(const struct ulo_header *h, uint64_t capacity,
			    char *why, size_t whylen)
{
	uint64_t bs = 1ull << h->block_shift;
	uint64_t nblocks = ulo_header_nblocks(h);

	if (!h->image_size)
		return ulo_why(why, whylen, -EINVAL, "image_size is 0");
	if (h->bitmap_offset < ULO_HDR_AREA || h->bitmap_offset % ULO_BITMAP_ALIGN)
		return ulo_why(why, whylen, -EINVAL,
			       "bitmap_offset %llu overlaps the header or is not 4 KiB aligned",
			       (unsigned long long)h->bitmap_offset);
	if (h->bitmap_length % ULO_BITMAP_ALIGN ||
	    h->bitmap_length < ulo_header_bitmap_bytes(h->version, nblocks))
		return ulo_why(why, whylen, -EINVAL,
			       "bitmap_length %llu too small for %llu blocks or not 4 KiB aligned",
			       (unsigned long long)h->bitmap_length,
			       (unsigned long long)nblocks);
	if (h->data_offset < ULO_HDR_AREA || h->data_offset % bs)
		return ulo_why(why, whylen, -EINVAL,
			       "data_offset %llu overlaps the header or is not block aligned",
			       (unsigned long long)h->data_offset);
	if (nblocks > UINT64_MAX / bs || h->data_length < nblocks * bs)
		return ulo_why(why, whylen, -EINVAL,
			       "data_length %llu too small for image_size %llu",
			       (unsigned long long)h->data_length,
			       (unsigned long long)h->image_size);
	if (ulo_past(h->bitmap_offset, h->bitmap_length, capacity))
		return ulo_why(why, whylen, -EINVAL,
			       "bitmap region ends past the end of the cache (%llu bytes)",
			       (unsigned long long)capacity);
	if (ulo_past(h->data_offset, h->data_length, capacity))
		return ulo_why(why, whylen, -EINVAL,
			       "data region ends past the end of the cache (%llu bytes)",
			       (unsigned long long)capacity);
	if (!(h->bitmap_offset + h->bitmap_length <= h->data_offset ||
	      h->data_offset + h->data_length <= h->bitmap_offset))
		return ulo_why(why, whylen, -EINVAL,
			       "bitmap region and data region overlap");
	if (h->version >= 2 && ulo_past(h->csum_offset, h->csum_length, capacity))
		return ulo_why(why, whylen, -EINVAL,
			       "checksum region ends past the end of the cache (%llu bytes)",
			       (unsigned long long)capacity);
	/*
	 * The regions follow from image_size and block_shift alone, and
	 * uloop never wrote anything else: a header that says otherwise was
	 * made by hand, and trusting its lengths would let a few KiB of
	 * sparse file claim a bitmap of gigabytes (read and counted by every
	 * `uloop info`).
	 */
	{
		struct ulo_header want = *h;

		ulo_header_layout(&want);
		if (want.bitmap_offset != h->bitmap_offset ||
		    want.bitmap_length != h->bitmap_length ||
		    want.csum_offset != h->csum_offset ||
		    want.csum_length != h->csum_length ||
		    want.data_offset != h->data_offset ||
		    want.data_length != h->data_length)
			return ulo_why(why, whylen, -EINVAL,
				       "regions (bitmap %llu+%llu, data %llu+%llu) are not the layout of a %llu-byte image in %llu-byte blocks (bitmap %llu+%llu, data %llu+%llu)",
				       (unsigned long long)h->bitmap_offset,
				       (unsigned long long)h->bitmap_length,
				       (unsigned long long)h->data_offset,
				       (unsigned long long)h->data_length,
				       (unsigned long long)h->image_size,
				       (unsigned long long)bs,
				       (unsigned long long)want.bitmap_offset,
				       (unsigned long long)want.bitmap_length,
				       (unsigned long long)want.data_offset,
				       (unsigned long long)want.data_length);
	}
	return 0;
}

uint64_t ulo_header_bitmap_bytes(uint32_t version, uint64_t nbits)
{
	uint64_t bytes = (nbits + 7) / 8;

	if (version >= 2)	/* 508 bytes of bits per 512-byte sector */
		bytes = ULO_DIV_ROUND_UP(bytes, ULO_BM_SECTOR_BITS) * ULO_BM_SECTOR;
	return bytes;
}

void ulo_header_layout(struct ulo_header *h)
{
	uint64_t bs = 1ull << h->block_shift;
	uint64_t nblocks = ulo_header_nblocks(h);
	uint64_t end;

	h->bitmap_offset = ULO_HDR_AREA;
	h->bitmap_length = ULO_ROUND_UP(ulo_header_bitmap_bytes(h->version, nblocks),
					ULO_BITMAP_ALIGN);
	end = h->bitmap_offset + h->bitmap_length;
	h->csum_offset = h->csum_length = 0;
	if (h->version >= 2) {
		h->csum_offset = end;
		h->csum_length = ULO_ROUND_UP(ULO_DIV_ROUND_UP(h->image_size, ULO_CSUM_SPAN) * 4,
					      ULO_BITMAP_ALIGN);
		end = h->csum_offset + h->csum_length;
	}
	h->data_offset = ULO_ROUND_UP(end, bs);
	h->data_length = nblocks * bs;
}

bool ulo_header_first_write_torn(const uint8_t *area)
{
	struct ulo_header h;
	char w[256];

	return ulo_header_decode(area, &h, w, sizeof(w)) == -ENODATA &&
	       ulo_header_decode(area + ULO_HDR_SLOT_SIZE, &h, w, sizeof(w)) == -EBADMSG;
}

int ulo_header_pick(const uint8_t *area, struct ulo_header *h, int *slot,
		    char *why, size_t whylen)
{
	struct ulo_header cand[2];
	char w[2][256];
	int r[2];

	for (int i = 0; i < 2; i++)
		r[i] = ulo_header_decode(area + i * ULO_HDR_SLOT_SIZE, &cand[i],
					 w[i], sizeof(w[i]));
	if (!r[0] || !r[1]) {
		int best = r[0] ? 1 : r[1] ? 0 :
			   cand[1].generation > cand[0].generation;

		*h = cand[best];
		*slot = best;
		return 0;
	}
	/* Report the more specific failure: a damaged header beats "no magic". */
	if (r[0] == -ENODATA && r[1] == -ENODATA)
		return ulo_why(why, whylen, -ENODATA, "no uloop cache header");
	if (r[0] == -ENODATA)
		return ulo_why(why, whylen, r[1], "header copy 2: %s", w[1]);
	if (r[1] == -ENODATA)
		return ulo_why(why, whylen, r[0], "header copy 1: %s", w[0]);
	return ulo_why(why, whylen, r[0], "both header copies bad: %s; %s",
		       w[0], w[1]);
}

uint64_t ulo_header_bitmap_sectors(uint8_t *bm, uint64_t len)
{
	uint64_t nsec = len / ULO_BM_SECTOR, bad = 0;

	for (uint64_t s = 0; s < nsec; s++) {
		uint8_t *p = bm + s * ULO_BM_SECTOR;
		uint32_t crc = ulo_get_le32(p + ULO_BM_SECTOR_BITS);
		bool zero = !crc && ulo_all_zero(p, ULO_BM_SECTOR_BITS);

		/* A sector whose CRC fails (bit rot, a flipped bit, a sector
		 * the flash lost) is trusted for nothing: its blocks count as
		 * missing and are fetched again. */
		if (!zero && crc != ulo_crc32c(0, p, ULO_BM_SECTOR_BITS)) {
			memset(p, 0, ULO_BM_SECTOR_BITS);
			bad++;
		}
		/* Dense: sector s's bits go to byte s * 508 (memmove: the
		 * target is never past the source). */
		memmove(bm + s * ULO_BM_SECTOR_BITS, p, ULO_BM_SECTOR_BITS);
	}
	/* What compaction left behind is no bits of anyone's. */
	memset(bm + nsec * ULO_BM_SECTOR_BITS, 0, len - nsec * ULO_BM_SECTOR_BITS);
	return bad;
}

static int ulo_hexdigit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A decimal number as uloop writes one ("%d", "%" PRIu64): digits only,
 * no sign, no leading zero, no junk after, no overflow, at most @max. */
static bool ulo_rec_number(const char *s, uint64_t max, uint64_t *out)
{
	const char *end;

	return ulo_parse_u64(s, out, &end) && !*end && !(s[0] == '0' && s[1]) &&
	       *out <= max;
}

int ulo_2007_rec_decode(char *buf, size_t n, struct ulo_identity *id,
			uint8_t *bind_id)
{
	char *f[5], *p = buf;
	uint64_t kind;

	memset(id, 0, sizeof(*id));
	if (n > ULO_2007_REC_MAX)
		return -EINVAL;
	buf[n] = '\0';
	if (strlen(buf) != n)	/* a NUL inside: bytes after it would be ignored */
		return -EINVAL;
	for (int i = 0; i < 5; i++) {
		f[i] = p;
		p = i < 4 ? strchr(p, '\n') : NULL;
		if (i < 4 && !p)
			return -EINVAL;
		if (p)
			*p++ = '\0';
	}
	/* Strictly what ulo_2007_set_rec writes: strtoul() would read
	 * "300&00" as 300 and "-1" as the largest size, so a damaged record
	 * would name another image instead of being refused. */
	if (!ulo_rec_number(f[0], ULO_ID_KIND_MAX, &kind) ||
	    !ulo_rec_number(f[1], UINT64_MAX, &id->size))
		return -EINVAL;
	id->kind = (enum ulo_id_kind)kind;
	if (strlen(f[4]) != 32 ||
	    strlen(f[2]) >= ULO_ID_VALIDATOR_MAX || strlen(f[3]) >= ULO_ID_LOCATION_MAX ||
	    (id->kind != ULO_ID_NONE && !id->size))
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		int hi = ulo_hexdigit(f[4][2 * i]), lo = ulo_hexdigit(f[4][2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		bind_id[i] = hi << 4 | lo;
	}
	strcpy(id->validator, f[2]);
	strcpy(id->location, f[3]);
	return 0;
}
