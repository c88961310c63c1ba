// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-cache-header.c - libFuzzer target for every decoder of bytes read
 * back from a cache (the flash is not trusted: a torn write, bit rot, a
 * disk that held something else, a hand-made file).
 *
 * The first input byte picks the decoder, the rest is its input:
 *
 *   0  ulo_header_decode of one 4 KiB slot.  The CRC is fixed up first
 *      (else nearly every input stops at the CRC check and the fields
 *      behind it are never reached); the input with its own CRC is
 *      decoded too.  An accepted header must hold what the decoder
 *      promises (block_shift in range, known flags, epoch extents
 *      non-empty, ascending, within the image; strings NUL-terminated at
 *      their length), must re-encode to the very same slot (no two slots
 *      decode alike: nothing accepted is ignored), and its layout check
 *      must accept only regions inside the capacity that do not overlap.
 *   1  ulo_header_pick and ulo_header_first_write_torn over an 8 KiB
 *      area (both slots CRC-fixed when byte 1 says so): the slot picked
 *      decodes by itself to what pick returned, with the higher
 *      generation when both are valid.
 *   2  ulo_header_bitmap_sectors over a version 2 bitmap: a sector with
 *      a valid CRC keeps its bits, the others give zeros, the tail is
 *      zeroed, the count of bad sectors is right.
 *   3  ulo_2007_rec_decode, the 2007 layout's record: an accepted record
 *      re-encodes to the same bytes (cache_2007.c writes it so).
 *   4  ulo_bitmap_load: bits past the bitmap are counted, never set.
 *
 * Every buffer is an exact-size heap copy, so a read past it is an ASan
 * error; a broken contract aborts.  make fuzz runs it long; make check
 * runs its corpus and a short run (tests/integ/test-fuzz-parsers.sh).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "cache_header.h"
#include "crc32c.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "contract broken: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

/* An exact-size heap copy of @n bytes of @p, zero-padded from @have. */
static uint8_t *copy(const uint8_t *p, size_t have, size_t n)
{
	uint8_t *b = calloc(1, n ? n : 1);

	if (b)
		memcpy(b, p, have < n ? have : n);
	return b;
}

static void fix_crc(uint8_t *slot)
{
	ulo_put_le32(slot + ULO_HDR_CRC_OFF, ulo_crc32c(0, slot, ULO_HDR_CRC_OFF));
}

/* What ulo_header_decode promises of a header it accepts. */
static void check_decoded(const uint8_t *slot, const struct ulo_header *h)
{
	uint8_t *again = malloc(ULO_HDR_SLOT_SIZE);
	struct ulo_header h2;
	char why[512];
	uint64_t nb, next = 0;

	CHECK(again);
	CHECK(h->version == 1 || h->version == ULO_HDR_VERSION);
	CHECK(h->block_shift >= ULO_MIN_BLOCK_SHIFT && h->block_shift <= ULO_MAX_BLOCK_SHIFT);
	CHECK(!(h->flags & ~ULO_HDR_F_ALL));
	CHECK(!(h->incompat & ~ULO_HDR_INCOMPAT_ALL));
	CHECK(h->id.kind <= ULO_ID_KIND_MAX);
	CHECK(memchr(h->id.validator, 0, sizeof(h->id.validator)));
	CHECK(memchr(h->id.location, 0, sizeof(h->id.location)));
	CHECK(h->id.kind == ULO_ID_NONE || h->id.size == h->image_size);
	CHECK(h->epoch.n <= ULO_HDR_EPOCH_MAX);
	CHECK(h->version >= 2 || h->epoch.n == 0);
	nb = ulo_header_nblocks(h);
	for (uint32_t i = 0; i < h->epoch.n; i++) {
		const struct ulo_epoch_ext *x = &h->epoch.ext[i];

		CHECK(x->count && x->start >= next && x->start < nb &&
		      x->count <= nb - x->start);
		next = x->start + x->count;
	}
	/* Canonical: nothing the decoder let through is lost on re-encoding. */
	ulo_header_encode(h, again);
	CHECK(!memcmp(again, slot, ULO_HDR_SLOT_SIZE));
	CHECK(ulo_header_decode(again, &h2, why, sizeof(why)) == 0);
	CHECK(!memcmp(&h2, h, sizeof(h2)));

	/* Whatever the capacity, a layout accepted lies inside it. */
	uint64_t caps[] = { UINT64_MAX, h->data_offset + h->data_length,
			    h->bitmap_offset + h->bitmap_length, 1 << 20, 0 };

	for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
		uint64_t cap = caps[k], bs = 1ull << h->block_shift;

		if (ulo_header_check_layout(h, cap, why, sizeof(why)))
			continue;
		CHECK(h->image_size);
		CHECK(h->bitmap_offset >= ULO_HDR_AREA && h->data_offset >= ULO_HDR_AREA);
		CHECK(h->bitmap_offset <= cap && h->bitmap_length <= cap - h->bitmap_offset);
		CHECK(h->data_offset <= cap && h->data_length <= cap - h->data_offset);
		CHECK(h->bitmap_offset + h->bitmap_length <= h->data_offset ||
		      h->data_offset + h->data_length <= h->bitmap_offset);
		CHECK(h->data_offset % bs == 0 && h->data_length / bs >= nb);
		CHECK(h->bitmap_length >= ulo_header_bitmap_bytes(h->version, nb));
		if (h->version >= 2) {
			CHECK(h->csum_offset <= cap && h->csum_length <= cap - h->csum_offset);
			CHECK(h->csum_length >= (h->image_size + ULO_CSUM_SPAN - 1) /
			      ULO_CSUM_SPAN * 4);
			/* The checksum region overlaps neither other one. */
			CHECK(h->csum_offset >= h->bitmap_offset + h->bitmap_length &&
			      h->csum_offset + h->csum_length <= h->data_offset);
		}
	}
	free(again);
}

static void fuzz_slot(const uint8_t *d, size_t n)
{
	uint8_t *slot = copy(d, n, ULO_HDR_SLOT_SIZE);
	struct ulo_header h;
	char why[512];
	int r;

	if (!slot)
		return;
	/* As read: any CRC. */
	r = ulo_header_decode(slot, &h, why, sizeof(why));
	CHECK(r == 0 || r == -ENODATA || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -EINVAL);
	CHECK(r || ulo_crc32c(0, slot, ULO_HDR_CRC_OFF) == ulo_get_le32(slot + ULO_HDR_CRC_OFF));
	if (!r)
		check_decoded(slot, &h);
	CHECK(!r || memchr(why, 0, sizeof(why)));
	/* With the magic and the CRC right: the fields are what is judged. */
	memcpy(slot, ULO_HDR_MAGIC, 8);
	fix_crc(slot);
	r = ulo_header_decode(slot, &h, why, sizeof(why));
	CHECK(r != -ENODATA && r != -EBADMSG);
	if (!r)
		check_decoded(slot, &h);
	free(slot);
}

static void fuzz_pick(const uint8_t *d, size_t n)
{
	uint8_t *area;
	struct ulo_header h, one;
	char why[512];
	int slot = -1, r, r0, r1;

	if (!n)
		return;
	area = copy(d + 1, n - 1, ULO_HDR_AREA);
	if (!area)
		return;
	if (d[0] & 1)
		fix_crc(area);
	if (d[0] & 2)
		fix_crc(area + ULO_HDR_SLOT_SIZE);
	r = ulo_header_pick(area, &h, &slot, why, sizeof(why));
	r0 = ulo_header_decode(area, &one, why, sizeof(why));
	r1 = ulo_header_decode(area + ULO_HDR_SLOT_SIZE, &one, why, sizeof(why));
	CHECK(!r == (!r0 || !r1));
	CHECK(r != -ENODATA || (r0 == -ENODATA && r1 == -ENODATA));
	if (!r) {
		struct ulo_header other;

		CHECK(slot == 0 || slot == 1);
		CHECK(ulo_header_decode(area + slot * ULO_HDR_SLOT_SIZE, &one, why,
					sizeof(why)) == 0);
		CHECK(!memcmp(&one, &h, sizeof(h)));
		if (!ulo_header_decode(area + (1 - slot) * ULO_HDR_SLOT_SIZE, &other,
				       why, sizeof(why)))
			CHECK(h.generation >= other.generation);
	}
	/* Torn first write: copy 1 without magic, copy 2 failing its CRC. */
	if (ulo_header_first_write_torn(area))
		CHECK(r0 == -ENODATA && r1 == -EBADMSG && r == -EBADMSG);
	free(area);
}

static void fuzz_sectors(const uint8_t *d, size_t n)
{
	uint8_t *bm = copy(d, n, n), *orig = copy(d, n, n);
	uint64_t nsec = n / ULO_BM_SECTOR, bad = 0, got;

	if (!bm || !orig)
		goto out;
	got = ulo_header_bitmap_sectors(bm, n);
	for (uint64_t s = 0; s < nsec; s++) {
		const uint8_t *p = orig + s * ULO_BM_SECTOR;
		uint32_t crc = ulo_get_le32(p + ULO_BM_SECTOR_BITS);
		bool ok = crc == ulo_crc32c(0, p, ULO_BM_SECTOR_BITS) ||
			  (!crc && ulo_all_zero(p, ULO_BM_SECTOR_BITS));

		bad += !ok;
		if (ok)
			CHECK(!memcmp(bm + s * ULO_BM_SECTOR_BITS, p, ULO_BM_SECTOR_BITS));
		else
			CHECK(ulo_all_zero(bm + s * ULO_BM_SECTOR_BITS, ULO_BM_SECTOR_BITS));
	}
	CHECK(got == bad);
	CHECK(ulo_all_zero(bm + nsec * ULO_BM_SECTOR_BITS, n - nsec * ULO_BM_SECTOR_BITS));
out:
	free(bm);
	free(orig);
}

static void fuzz_2007_rec(const uint8_t *d, size_t n)
{
	char *buf, again[ULO_2007_REC_MAX + 1];
	struct ulo_identity id;
	uint8_t bind[16];
	int len;

	if (n > ULO_2007_REC_MAX)
		return;	/* fgetxattr reads at most that much */
	buf = (char *)copy(d, n, n + 1);
	if (!buf)
		return;
	if (!ulo_2007_rec_decode(buf, n, &id, bind)) {
		CHECK(id.kind <= ULO_ID_KIND_MAX);
		CHECK(id.kind == ULO_ID_NONE || id.size);
		CHECK(strlen(id.validator) < ULO_ID_VALIDATOR_MAX);
		CHECK(strlen(id.location) < ULO_ID_LOCATION_MAX);
		/* The record cache_2007.c writes for it is these very bytes:
		 * the decoder takes nothing it would not write. */
		len = snprintf(again, sizeof(again), "%d\n%" PRIu64 "\n%s\n%s\n", id.kind,
			       id.size, id.validator, id.location);
		for (int i = 0; i < 16; i++)
			len += snprintf(again + len, sizeof(again) - len, "%02x", bind[i]);
		CHECK((size_t)len == n && !memcmp(again, d, n));
	}
	free(buf);
}

static void fuzz_bitmap_load(const uint8_t *d, size_t n)
{
	struct ulo_bitmap b;
	uint64_t nbits, stray, set = 0;

	if (n < 2)
		return;
	nbits = d[0] | (uint64_t)d[1] << 8;	/* up to 65535 bits */
	d += 2;
	n -= 2;
	if (ulo_bitmap_init(&b, nbits))
		return;
	stray = ulo_bitmap_load(&b, d, n);
	for (size_t i = 0; i < n; i++)
		set += __builtin_popcount(d[i]);
	CHECK(ulo_bitmap_count(&b) + stray == set);
	for (uint64_t i = 0; i < nbits; i++)
		CHECK(ulo_bitmap_test(&b, i) == (i / 8 < n && (d[i / 8] >> (i % 8) & 1)));
	ulo_bitmap_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fuzz_slot(data + 1, size - 1);
		break;
	case 1:
		fuzz_pick(data + 1, size - 1);
		break;
	case 2:
		fuzz_sectors(data + 1, size - 1);
		break;
	case 3:
		fuzz_2007_rec(data + 1, size - 1);
		break;
	case 4:
		fuzz_bitmap_load(data + 1, size - 1);
		break;
	}
	return 0;
}
