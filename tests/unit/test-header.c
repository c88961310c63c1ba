// SPDX-License-Identifier: GPL-2.0-or-later
// reliability: partly C3 R4
/*
 * test-header.c - the native cache header codec (cache_header.c).
 *
 * The header is the one place where uloop trusts bytes it finds on disk:
 * a field accepted by mistake lets a damaged or foreign file be used as a
 * cache (wrong blocks served), and a field refused by mistake throws a
 * good cache away.  So every check of ulo_header_decode() and
 * ulo_header_check_layout() is exercised on its own, with a valid CRC
 * where the CRC would otherwise hide the check, and ulo_header_pick() is
 * driven through the torn-write and one-slot-damaged cases it exists for.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cache_header.h"
#include "crc32c.h"
#include "util.h"
#include "unit.h"

#define IMG_SIZE (1024 * 1024 + 100)

static const char validator[] = "ino=1234567 mtime=1700000000.123456789";
static const char location[] = "/srv/images/disk with space.img";

static void fill_header(struct ulo_header *h, uint32_t shift, uint64_t size,
			uint64_t gen)
{
	memset(h, 0, sizeof(*h));
	h->version = ULO_HDR_VERSION;
	h->block_shift = shift;
	h->flags = ULO_HDR_F_CLEAN;
	h->image_size = size;
	ulo_header_layout(h);
	h->generation = gen;
	for (int i = 0; i < 16; i++)
		h->uuid[i] = 0xa0 + i;
	h->created = 1700000000;
	h->updated = 1700000123;
	h->id.kind = ULO_ID_FILE_MTIME;
	h->id.size = size;
	snprintf(h->id.validator, sizeof(h->id.validator), "%s", validator);
	snprintf(h->id.location, sizeof(h->id.location), "%s", location);
}

static bool header_eq(const struct ulo_header *a, const struct ulo_header *b)
{
	return a->version == b->version && a->compat == b->compat &&
	       a->incompat == b->incompat && a->block_shift == b->block_shift &&
	       a->flags == b->flags && a->image_size == b->image_size &&
	       a->bitmap_offset == b->bitmap_offset &&
	       a->bitmap_length == b->bitmap_length &&
	       a->data_offset == b->data_offset &&
	       a->data_length == b->data_length &&
	       a->generation == b->generation &&
	       !memcmp(a->uuid, b->uuid, sizeof(a->uuid)) &&
	       a->created == b->created && a->updated == b->updated &&
	       a->id.kind == b->id.kind && a->id.size == b->id.size &&
	       !strcmp(a->id.validator, b->id.validator) &&
	       !strcmp(a->id.location, b->id.location) &&
	       a->epoch.n == b->epoch.n &&
	       !memcmp(a->epoch.ext, b->epoch.ext, a->epoch.n * sizeof(a->epoch.ext[0]));
}

/* Recompute the slot CRC after patching a field. */
static void recrc(uint8_t *slot)
{
	ulo_put_le32(slot + ULO_HDR_CRC_OFF, ulo_crc32c(0, slot, ULO_HDR_CRC_OFF));
}

static void good_slot(uint8_t *slot)
{
	struct ulo_header h;

	fill_header(&h, 16, IMG_SIZE, 7);
	ulo_header_encode(&h, slot);
}

/* Decode must refuse @slot with @err and a cause mentioning @needle. */
static void expect_refused(const char *what, const uint8_t *slot, int err,
			   const char *needle)
{
	struct ulo_header h;
	char why[512] = "";
	int ret = ulo_header_decode(slot, &h, why, sizeof(why));

	if (ret != err || !strstr(why, needle))
		fprintf(stderr, "  case \"%s\": ret %d (want %d), why \"%s\"\n",
			what, ret, err, why);
	CHECK_EQ(ret, err);
	CHECK_STR_CONTAINS(why, needle);
}

/* Layout check must refuse @h with a cause mentioning @needle. */
static void expect_bad_layout(const char *what, const struct ulo_header *h,
			      uint64_t capacity, const char *needle)
{
	char why[512] = "";
	int ret = ulo_header_check_layout(h, capacity, why, sizeof(why));

	if (ret != -EINVAL || !strstr(why, needle))
		fprintf(stderr, "  case \"%s\": ret %d, why \"%s\"\n", what, ret,
			why);
	CHECK_EQ(ret, -EINVAL);
	CHECK_STR_CONTAINS(why, needle);
}

static void test_round_trip(void)
{
	struct ulo_header h, d;
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	char why[256] = "";

	fill_header(&h, 16, IMG_SIZE, 0x0123456789abcdefull);
	h.compat = 0x8000000000000001ull;	/* unknown compat bits are kept */
	ulo_header_encode(&h, slot);
	CHECK_EQ(ulo_header_decode(slot, &d, why, sizeof(why)), 0);
	CHECK(header_eq(&h, &d));
	CHECK_EQ(d.compat, 0x8000000000000001ull);
	CHECK_EQ(d.generation, 0x0123456789abcdefull);
	CHECK(!strcmp(d.id.validator, validator));
	CHECK(!strcmp(d.id.location, location));

	/* The on-disk layout of the table in cache_header.c. */
	CHECK(!memcmp(slot, "ULOOPC\r\n", 8));
	CHECK_EQ(ulo_get_le32(slot + 8), 2);
	CHECK_EQ(ulo_get_le64(slot + 2448), h.csum_offset);
	CHECK_EQ(ulo_get_le64(slot + 2456), h.csum_length);
	CHECK_EQ(ulo_get_le32(slot + 12), 4096);
	CHECK_EQ(ulo_get_le64(slot + 16), 0x8000000000000001ull);
	CHECK_EQ(ulo_get_le32(slot + 32), 16);
	CHECK_EQ(ulo_get_le32(slot + 36), ULO_HDR_F_CLEAN);
	CHECK_EQ(ulo_get_le64(slot + 40), IMG_SIZE);
	CHECK_EQ(ulo_get_le64(slot + 48), h.bitmap_offset);
	CHECK_EQ(ulo_get_le64(slot + 56), h.bitmap_length);
	CHECK_EQ(ulo_get_le64(slot + 64), h.data_offset);
	CHECK_EQ(ulo_get_le64(slot + 72), h.data_length);
	CHECK_EQ(ulo_get_le64(slot + 80), 0x0123456789abcdefull);
	CHECK_EQ(slot[88], 0xa0);
	CHECK_EQ(slot[103], 0xaf);
	CHECK_EQ(ulo_get_le64(slot + 104), 1700000000);
	CHECK_EQ(ulo_get_le64(slot + 112), 1700000123);
	CHECK_EQ(ulo_get_le32(slot + 120), ULO_ID_FILE_MTIME);
	CHECK_EQ(ulo_get_le64(slot + 128), IMG_SIZE);
	CHECK_EQ(ulo_get_le16(slot + 136), strlen(location));
	CHECK_EQ(ulo_get_le16(slot + 138), strlen(validator));
	CHECK(!memcmp(slot + 144, validator, strlen(validator)));
	CHECK(!memcmp(slot + 400, location, strlen(location)));
	CHECK_EQ(ulo_get_le32(slot + ULO_HDR_CRC_OFF),
		 ulo_crc32c(0, slot, ULO_HDR_CRC_OFF));

	/* Encoding is deterministic: same header, same bytes. */
	{
		uint8_t again[ULO_HDR_SLOT_SIZE];

		memset(again, 0xee, sizeof(again));
		ulo_header_encode(&d, again);
		CHECK(!memcmp(slot, again, sizeof(slot)));
	}
}

static void test_round_trip_limits(void)
{
	struct ulo_header h, d;
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	char why[256] = "";

	/* Longest strings the format holds, all fields at odd values. */
	fill_header(&h, 20, 5ull << 40, UINT64_MAX);
	memset(h.id.validator, 'v', ULO_ID_VALIDATOR_MAX - 1);
	h.id.validator[ULO_ID_VALIDATOR_MAX - 1] = '\0';
	memset(h.id.location, 'l', ULO_ID_LOCATION_MAX - 1);
	h.id.location[ULO_ID_LOCATION_MAX - 1] = '\0';
	h.id.kind = ULO_ID_HTTP_LASTMOD;
	h.flags = 0;
	h.created = UINT64_MAX;
	h.updated = 0;
	ulo_header_encode(&h, slot);
	CHECK_EQ(ulo_header_decode(slot, &d, why, sizeof(why)), 0);
	CHECK(header_eq(&h, &d));
	CHECK_EQ(strlen(d.id.validator), ULO_ID_VALIDATOR_MAX - 1);
	CHECK_EQ(strlen(d.id.location), ULO_ID_LOCATION_MAX - 1);

	/* An unbound header: kind NONE, no size, no strings. */
	fill_header(&h, 12, 4096, 1);
	memset(&h.id, 0, sizeof(h.id));
	ulo_header_encode(&h, slot);
	CHECK_EQ(ulo_header_decode(slot, &d, why, sizeof(why)), 0);
	CHECK(header_eq(&h, &d));
	CHECK_EQ(d.id.kind, ULO_ID_NONE);

	/* Both ends of the block size range decode. */
	for (uint32_t shift = ULO_MIN_BLOCK_SHIFT; shift <= ULO_MAX_BLOCK_SHIFT;
	     shift++) {
		fill_header(&h, shift, IMG_SIZE, shift);
		ulo_header_encode(&h, slot);
		CHECK_EQ(ulo_header_decode(slot, &d, why, sizeof(why)), 0);
		CHECK(header_eq(&h, &d));
	}
}

static void test_layout(void)
{
	static const uint64_t sizes[] = {
		1, 511, 4095, 4096, 4097, 65535, 65536, 65537, IMG_SIZE,
		(1ull << 20) - 1, 1ull << 30, (1ull << 30) + 1,
		(100ull << 30) + 12345, 10ull << 40,
	};

	for (uint32_t shift = 12; shift <= 20; shift++) {
		uint64_t bs = 1ull << shift;

		for (size_t i = 0; i < ULO_ARRAY_SIZE(sizes); i++) {
			struct ulo_header h;
			uint64_t nb, need, end;
			char why[256] = "";

			fill_header(&h, shift, sizes[i], 1);
			nb = ulo_header_nblocks(&h);
			/* 508 bytes of bits per 512-byte sector */
			need = ((nb + 7) / 8 + 507) / 508 * 512;
			CHECK_EQ(nb, (sizes[i] + bs - 1) / bs);
			CHECK_EQ(h.bitmap_offset, 8192);
			CHECK_EQ(h.bitmap_length % 4096, 0);
			CHECK(h.bitmap_length >= need);
			CHECK(h.bitmap_length < need + 4096);	/* no waste */
			/* A CRC per 4 KiB of image, right after the bits. */
			CHECK_EQ(h.csum_offset, h.bitmap_offset + h.bitmap_length);
			CHECK_EQ(h.csum_length % 4096, 0);
			CHECK(h.csum_length >= (sizes[i] + 4095) / 4096 * 4);
			CHECK(h.csum_length < (sizes[i] + 4095) / 4096 * 4 + 4096);
			CHECK_EQ(h.data_offset % bs, 0);
			CHECK(h.data_offset >= h.csum_offset + h.csum_length);
			CHECK(h.data_offset < h.csum_offset + h.csum_length + bs);
			CHECK_EQ(h.data_length, nb * bs);
			CHECK(h.data_length >= sizes[i]);
			CHECK(h.data_length - sizes[i] < bs);
			end = h.data_offset + h.data_length;
			CHECK_EQ(ulo_header_check_layout(&h, end, why, sizeof(why)), 0);
			CHECK_EQ(ulo_header_check_layout(&h, UINT64_MAX, why,
							 sizeof(why)), 0);
		}
	}
}

static void test_layout_values(void)
{
	struct ulo_header h;

	fill_header(&h, 16, 1, 1);
	CHECK_EQ(ulo_header_nblocks(&h), 1);
	CHECK_EQ(h.bitmap_offset, 8192);
	CHECK_EQ(h.bitmap_length, 4096);
	CHECK_EQ(h.data_offset, 65536);
	CHECK_EQ(h.data_length, 65536);

	fill_header(&h, 12, 1, 1);
	CHECK_EQ(h.bitmap_length, 4096);
	CHECK_EQ(h.csum_offset, 12288);
	CHECK_EQ(h.csum_length, 4096);
	CHECK_EQ(h.data_offset, 16384);
	CHECK_EQ(h.data_length, 4096);

	fill_header(&h, 20, 1, 1);
	CHECK_EQ(h.data_offset, 1 << 20);
	CHECK_EQ(h.data_length, 1 << 20);

	fill_header(&h, 16, IMG_SIZE, 1);
	CHECK_EQ(ulo_header_nblocks(&h), 17);
	CHECK_EQ(h.data_offset, 65536);
	CHECK_EQ(h.data_length, 17 * 65536);

	/* 1 GiB in 4 KiB blocks: 262144 bits = 32 KiB of bits, in 65
	 * sectors of 508 (33280 bytes, 9 pages); a CRC per 4 KiB: 1 MiB. */
	fill_header(&h, 12, 1ull << 30, 1);
	CHECK_EQ(h.bitmap_length, 36864);
	CHECK_EQ(h.csum_offset, 8192 + 36864);
	CHECK_EQ(h.csum_length, 1 << 20);
	CHECK_EQ(h.data_offset, 8192 + 36864 + (1 << 20));
	/* One more block: one more bit (still 65 sectors), one more CRC
	 * (one more page of them). */
	fill_header(&h, 12, (1ull << 30) + 1, 1);
	CHECK_EQ(h.bitmap_length, 36864);
	CHECK_EQ(h.csum_length, (1 << 20) + 4096);
	CHECK_EQ(h.data_offset, 8192 + 36864 + (1 << 20) + 4096);
	/* 10 TiB in 64 KiB blocks: 10 * 2^24 bits = 20 MiB of bits in 41283
	 * sectors (21139456 bytes); 10 GiB of CRCs (0.1 % of the data). */
	fill_header(&h, 16, 10ull << 40, 1);
	CHECK_EQ(h.bitmap_length, 21139456);
	CHECK_EQ(h.csum_length, 10ull << 30);
	CHECK_EQ(h.data_offset, 10758586368ull);
	CHECK_EQ(h.data_length, 10ull << 40);

	/* Format 1 (read, laid out anew by a writer): no CRCs, dense bits. */
	memset(&h, 0, sizeof(h));
	h.version = 1;
	h.block_shift = 12;
	h.image_size = 1ull << 30;
	ulo_header_layout(&h);
	CHECK_EQ(h.bitmap_length, 32768);
	CHECK_EQ(h.csum_offset, 0);
	CHECK_EQ(h.data_offset, 8192 + 32768);
}

static void test_bad_magic(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];

	good_slot(slot);
	slot[0] ^= 0x20;
	expect_refused("magic byte 0", slot, -ENODATA, "magic");
	good_slot(slot);
	slot[6] = '\n';		/* "\r\n" -> "\n\n": text-mode damage */
	expect_refused("magic CR", slot, -ENODATA, "magic");
	/* A valid CRC does not make a wrong magic acceptable. */
	good_slot(slot);
	memcpy(slot, "ULOOPD\r\n", 8);
	recrc(slot);
	expect_refused("magic recrc", slot, -ENODATA, "magic");
	memset(slot, 0, sizeof(slot));
	expect_refused("zero slot", slot, -ENODATA, "magic");
}

static void test_flipped_bytes(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE], orig[ULO_HDR_SLOT_SIZE];
	struct ulo_header h;
	char why[256];
	int bad_crc = 0, bad_magic = 0;

	good_slot(orig);
	for (size_t i = 0; i < ULO_HDR_SLOT_SIZE; i++) {
		static const uint8_t masks[] = { 0x01, 0x80, 0xff };

		for (size_t m = 0; m < ULO_ARRAY_SIZE(masks); m++) {
			int ret;

			memcpy(slot, orig, sizeof(slot));
			slot[i] ^= masks[m];
			why[0] = '\0';
			ret = ulo_header_decode(slot, &h, why, sizeof(why));
			if (i < 8) {
				/* Inside the magic: not a header at all. */
				if (ret != -ENODATA) {
					fprintf(stderr, "  byte %zu ^ %02x: %d\n",
						i, masks[m], ret);
					bad_magic++;
				}
			} else if (ret != -EBADMSG || !strstr(why, "CRC")) {
				fprintf(stderr, "  byte %zu ^ %02x: %d %s\n", i,
					masks[m], ret, why);
				bad_crc++;
			}
		}
	}
	CHECK_EQ(bad_magic, 0);
	CHECK_EQ(bad_crc, 0);
	memcpy(slot, orig, sizeof(slot));
	CHECK_EQ(ulo_header_decode(slot, &h, why, sizeof(why)), 0);
}

static void test_version(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];

	good_slot(slot);
	ulo_put_le32(slot + 8, 3);
	recrc(slot);
	expect_refused("version 3", slot, -EPROTONOSUPPORT, "version 3");
	good_slot(slot);
	ulo_put_le32(slot + 8, UINT32_MAX);
	recrc(slot);
	expect_refused("version max", slot, -EPROTONOSUPPORT, "version");
	good_slot(slot);
	ulo_put_le32(slot + 8, 0);
	recrc(slot);
	expect_refused("version 0", slot, -EINVAL, "version 0");
}

static void test_header_size(void)
{
	static const uint32_t bad[] = { 0, 512, 4095, 4097, 8192, UINT32_MAX };
	uint8_t slot[ULO_HDR_SLOT_SIZE];

	for (size_t i = 0; i < ULO_ARRAY_SIZE(bad); i++) {
		good_slot(slot);
		ulo_put_le32(slot + 12, bad[i]);
		recrc(slot);
		expect_refused("header_size", slot, -EINVAL, "header_size");
	}
}

static void test_features(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	struct ulo_header h;
	char why[256] = "";

	good_slot(slot);
	ulo_put_le64(slot + 24, 1);
	recrc(slot);
	expect_refused("incompat bit 0", slot, -EPROTONOSUPPORT, "feature");
	good_slot(slot);
	ulo_put_le64(slot + 24, 1ull << 63);
	recrc(slot);
	expect_refused("incompat bit 63", slot, -EPROTONOSUPPORT,
		       "0x8000000000000000");
	/* Unknown compat bits are fine. */
	good_slot(slot);
	ulo_put_le64(slot + 16, ~0ull);
	recrc(slot);
	CHECK_EQ(ulo_header_decode(slot, &h, why, sizeof(why)), 0);
	CHECK_EQ(h.compat, ~0ull);
}

static void test_flags(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	struct ulo_header h;
	char why[256] = "";

	good_slot(slot);
	ulo_put_le32(slot + 36, ULO_HDR_F_CLEAN | 2);
	recrc(slot);
	expect_refused("flag 2", slot, -EINVAL, "flags 0x2");
	good_slot(slot);
	ulo_put_le32(slot + 36, 1u << 31);
	recrc(slot);
	expect_refused("flag 31", slot, -EINVAL, "flags");
	good_slot(slot);
	ulo_put_le32(slot + 36, 0);
	recrc(slot);
	CHECK_EQ(ulo_header_decode(slot, &h, why, sizeof(why)), 0);
	CHECK_EQ(h.flags, 0);
}

static void test_block_shift(void)
{
	static const uint32_t bad[] = { 0, 11, 21, 32, 64, UINT32_MAX };
	uint8_t slot[ULO_HDR_SLOT_SIZE];

	for (size_t i = 0; i < ULO_ARRAY_SIZE(bad); i++) {
		good_slot(slot);
		ulo_put_le32(slot + 32, bad[i]);
		recrc(slot);
		expect_refused("block_shift", slot, -EINVAL, "block_shift");
	}
}

static void test_identity_kind(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];

	good_slot(slot);
	ulo_put_le32(slot + 120, 99);
	recrc(slot);
	expect_refused("kind 99", slot, -EINVAL, "identity kind 99");
	good_slot(slot);
	ulo_put_le32(slot + 120, ULO_ID_KIND_MAX + 1);
	recrc(slot);
	expect_refused("kind max+1", slot, -EINVAL, "identity kind");
}

static void test_reserved(void)
{
	static const size_t at[] = { 124, 127, 140, 143, 2468, 2471, 4072, 4091 };
	uint8_t slot[ULO_HDR_SLOT_SIZE];

	for (size_t i = 0; i < ULO_ARRAY_SIZE(at); i++) {
		good_slot(slot);
		slot[at[i]] = 1;
		recrc(slot);
		expect_refused("reserved", slot, -EINVAL, "reserved");
	}
	/* Format 1 has no checksum region: those bytes are reserved there. */
	good_slot(slot);
	ulo_put_le32(slot + 8, 1);
	slot[2448] = 1;
	recrc(slot);
	expect_refused("v1 csum field", slot, -EINVAL, "reserved");
}

/* The epoch: full, it comes back; each malformed extent is refused. */
static void test_epoch(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	struct ulo_header h, back;
	char why[512];

	fill_header(&h, 12, 4096ull * 1000 + 1, 9);	/* 1001 blocks */
	h.epoch.n = ULO_HDR_EPOCH_MAX;
	for (uint32_t i = 0; i < ULO_HDR_EPOCH_MAX; i++)
		h.epoch.ext[i] = (struct ulo_epoch_ext){ i * 10, i == 99 ? 11 : 5 };
	ulo_header_encode(&h, slot);
	CHECK_EQ(ulo_header_decode(slot, &back, why, sizeof(why)), 0);
	CHECK(header_eq(&h, &back));
	CHECK_EQ(back.epoch.ext[99].start + back.epoch.ext[99].count, 1001);

	struct {
		const char *what;
		uint32_t n;
		uint64_t s0, c0, s1, c1;
		const char *needle;
	} bad[] = {
		{ "empty extent", 1, 3, 0, 0, 0, "epoch extent 0" },
		{ "past the end", 1, 1000, 2, 0, 0, "1001 blocks" },
		{ "start past the end", 1, 1001, 1, 0, 0, "epoch extent 0" },
		{ "count overflows", 1, 5, UINT64_MAX, 0, 0, "epoch extent 0" },
		{ "overlap", 2, 10, 5, 14, 1, "epoch extent 1" },
		{ "out of order", 2, 10, 5, 2, 1, "epoch extent 1" },
		{ "too many", ULO_HDR_EPOCH_MAX + 1, 0, 1, 0, 0, "epoch_count" },
	};
	for (size_t i = 0; i < ULO_ARRAY_SIZE(bad); i++) {
		fill_header(&h, 12, 4096ull * 1000 + 1, 9);
		ulo_header_encode(&h, slot);
		ulo_put_le32(slot + 2464, bad[i].n);
		ulo_put_le64(slot + 2472, bad[i].s0);
		ulo_put_le64(slot + 2480, bad[i].c0);
		ulo_put_le64(slot + 2488, bad[i].s1);
		ulo_put_le64(slot + 2496, bad[i].c1);
		recrc(slot);
		expect_refused(bad[i].what, slot, -EINVAL, bad[i].needle);
	}
	/* An extent beyond the count is not ignored. */
	fill_header(&h, 12, 4096ull * 1000 + 1, 9);
	h.epoch.n = 1;
	h.epoch.ext[0] = (struct ulo_epoch_ext){ 0, 1 };
	ulo_header_encode(&h, slot);
	ulo_put_le64(slot + 2488, 7);
	recrc(slot);
	expect_refused("stray extent", slot, -EINVAL, "unused epoch extents");
	/* Format 1 had no epoch. */
	good_slot(slot);
	ulo_put_le32(slot + 8, 1);
	ulo_put_le64(slot + 2448, 0);
	ulo_put_le64(slot + 2456, 0);
	ulo_put_le32(slot + 2464, 1);
	recrc(slot);
	expect_refused("v1 epoch", slot, -EINVAL, "reserved");
}

/* Bits of words -> extents: runs merged across words, joined across the
 * smallest gaps when more than fit, never fewer blocks than the bits. */
static void test_epoch_from_words(void)
{
	struct ulo_epoch_word w[3] = {
		{ 0, 0xf000000000000000ull },	/* 60..63 */
		{ 1, 0x3ull | (1ull << 10) },	/* 64..65, 74 */
		{ 5, 1ull << 63 },		/* 383 */
	};
	static struct ulo_epoch_word many[400];
	struct ulo_epoch e;

	ulo_epoch_from_words(&e, w, 3);
	CHECK_EQ(e.n, 3);
	CHECK_EQ(e.ext[0].start, 60);
	CHECK_EQ(e.ext[0].count, 6);
	CHECK_EQ(e.ext[1].start, 74);
	CHECK_EQ(e.ext[1].count, 1);
	CHECK_EQ(e.ext[2].start, 383);
	CHECK_EQ(e.ext[2].count, 1);
	ulo_epoch_from_words(&e, w, 0);
	CHECK_EQ(e.n, 0);

	/* 400 words of 3 runs each (gaps of 30 and 29 inside a word, 64 or
	 * 128 between words): 1200 runs into 100 extents, every block kept,
	 * and no 128 gap joined while 64 gaps stand. */
	for (size_t i = 0; i < 400; i++) {
		many[i].wi = i * 2 + (i % 8 == 7);	/* a longer gap each 8 */
		many[i].bits = 0x3ull | (0x3ull << 32) | (1ull << 63);
	}
	ulo_epoch_from_words(&e, many, 400);
	CHECK_EQ(e.n, ULO_HDR_EPOCH_MAX);
	for (size_t i = 0; i < 400; i++)
		for (unsigned b = 0; b < 64; b++) {
			uint64_t blk = many[i].wi * 64 + b;
			bool in = false;

			if (!((many[i].bits >> b) & 1))
				continue;
			for (uint32_t k = 0; k < e.n; k++)
				in |= blk >= e.ext[k].start &&
				      blk < e.ext[k].start + e.ext[k].count;
			if (!in)
				fprintf(stderr, "  block %llu not covered\n",
					(unsigned long long)blk);
			CHECK(in);
		}
	for (uint32_t k = 1; k < e.n; k++) {
		uint64_t gap = e.ext[k].start - e.ext[k - 1].start - e.ext[k - 1].count;

		CHECK(e.ext[k].start > e.ext[k - 1].start + e.ext[k - 1].count);
		CHECK(gap >= 64);
	}
}

static void test_string_lengths(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];

	good_slot(slot);
	ulo_put_le16(slot + 136, ULO_ID_LOCATION_MAX);
	recrc(slot);
	expect_refused("location_len 2048", slot, -EINVAL, "location 2048");
	good_slot(slot);
	ulo_put_le16(slot + 136, UINT16_MAX);
	recrc(slot);
	expect_refused("location_len 65535", slot, -EINVAL, "too long");
	good_slot(slot);
	ulo_put_le16(slot + 138, ULO_ID_VALIDATOR_MAX);
	recrc(slot);
	expect_refused("validator_len 256", slot, -EINVAL, "validator 256");
}

static void test_string_contents(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	size_t vlen = strlen(validator), llen = strlen(location);

	/* Embedded NUL: the length field and the string disagree. */
	good_slot(slot);
	slot[144 + 3] = '\0';
	recrc(slot);
	expect_refused("validator NUL", slot, -EINVAL, "identity strings");
	good_slot(slot);
	slot[400 + 5] = '\0';
	recrc(slot);
	expect_refused("location NUL", slot, -EINVAL, "identity strings");
	/* Nonzero bytes after the strings. */
	good_slot(slot);
	slot[144 + vlen] = 'x';
	recrc(slot);
	expect_refused("validator tail", slot, -EINVAL, "identity strings");
	good_slot(slot);
	slot[144 + 255] = 1;
	recrc(slot);
	expect_refused("validator last", slot, -EINVAL, "identity strings");
	good_slot(slot);
	slot[400 + llen] = 'x';
	recrc(slot);
	expect_refused("location tail", slot, -EINVAL, "identity strings");
	good_slot(slot);
	slot[400 + 2047] = 0x80;
	recrc(slot);
	expect_refused("location last", slot, -EINVAL, "identity strings");
	/* A length shorter than the stored string leaves bytes after it. */
	good_slot(slot);
	ulo_put_le16(slot + 138, vlen - 1);
	recrc(slot);
	expect_refused("validator_len short", slot, -EINVAL, "identity strings");
	good_slot(slot);
	ulo_put_le16(slot + 136, llen + 1);
	recrc(slot);
	expect_refused("location_len long", slot, -EINVAL, "identity strings");
}

static void test_source_size(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	struct ulo_header h;
	char why[256] = "";

	good_slot(slot);
	ulo_put_le64(slot + 128, IMG_SIZE + 1);
	recrc(slot);
	expect_refused("source_size", slot, -EINVAL, "source_size");
	good_slot(slot);
	ulo_put_le64(slot + 40, IMG_SIZE - 1);
	recrc(slot);
	expect_refused("image_size", slot, -EINVAL, "image_size");

	/* Unbound: no size and no strings allowed. */
	fill_header(&h, 16, IMG_SIZE, 3);
	memset(&h.id, 0, sizeof(h.id));
	ulo_header_encode(&h, slot);
	ulo_put_le64(slot + 128, IMG_SIZE);
	recrc(slot);
	expect_refused("unbound size", slot, -EINVAL, "source_size");
	ulo_header_encode(&h, slot);
	slot[400] = '/';
	ulo_put_le16(slot + 136, 1);
	recrc(slot);
	CHECK_EQ(ulo_header_decode(slot, &h, why, sizeof(why)), -EINVAL);
}

static void test_short_why(void)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE];
	struct ulo_header h;
	char why[9];

	/* A small message buffer truncates instead of overflowing. */
	memset(why, 'X', sizeof(why));
	good_slot(slot);
	slot[100] ^= 1;
	CHECK_EQ(ulo_header_decode(slot, &h, why, sizeof(why)), -EBADMSG);
	CHECK_EQ(strlen(why), 8);
	CHECK(!strcmp(why, "header C"));
}

static void test_check_layout_refusals(void)
{
	struct ulo_header g, h;
	uint64_t end;
	char why[256] = "";

	fill_header(&g, 16, IMG_SIZE, 1);
	end = g.data_offset + g.data_length;
	CHECK_EQ(ulo_header_check_layout(&g, end, why, sizeof(why)), 0);

	h = g;
	h.image_size = 0;
	expect_bad_layout("image_size 0", &h, UINT64_MAX, "image_size");

	h = g;
	h.bitmap_offset = 4096;
	expect_bad_layout("bitmap in header", &h, UINT64_MAX, "bitmap_offset");
	h.bitmap_offset = 0;
	expect_bad_layout("bitmap at 0", &h, UINT64_MAX, "bitmap_offset");
	h.bitmap_offset = 8192 + 512;
	expect_bad_layout("bitmap unaligned", &h, UINT64_MAX, "bitmap_offset");

	h = g;
	h.bitmap_length = 0;
	expect_bad_layout("bitmap empty", &h, UINT64_MAX, "bitmap_length");
	h.bitmap_length = 4095;
	expect_bad_layout("bitmap unaligned len", &h, UINT64_MAX, "bitmap_length");
	fill_header(&h, 12, (1ull << 30) + 1, 1);
	h.bitmap_length = 32768;	/* one bit short of a page too few */
	expect_bad_layout("bitmap short", &h, UINT64_MAX, "bitmap_length");

	h = g;
	h.data_offset = g.data_offset + 4096;
	h.data_length += 65536;
	expect_bad_layout("data unaligned", &h, UINT64_MAX, "data_offset");
	fill_header(&h, 12, 4096, 1);
	h.data_offset = 4096;	/* block aligned but in the header */
	expect_bad_layout("data in header", &h, UINT64_MAX, "data_offset");
	h.data_offset = 0;
	expect_bad_layout("data at 0", &h, UINT64_MAX, "data_offset");

	h = g;
	h.data_length = g.data_length - 65536;
	expect_bad_layout("data short", &h, UINT64_MAX, "data_length");
	h.data_length = g.data_length - 1;
	expect_bad_layout("data short by 1", &h, UINT64_MAX, "data_length");
	h.data_length = 0;
	expect_bad_layout("data empty", &h, UINT64_MAX, "data_length");

	/* Overlaps, both ways round. */
	h = g;
	h.bitmap_offset = g.data_offset;
	expect_bad_layout("bitmap on data", &h, UINT64_MAX, "overlap");
	h.bitmap_offset = g.data_offset + g.data_length - 4096;
	expect_bad_layout("bitmap at data end", &h, UINT64_MAX, "overlap");
	fill_header(&h, 12, 1 << 20, 1);
	h.data_offset = 8192;	/* data first: sound, but not uloop's layout */
	h.bitmap_offset = 8192 + h.data_length;
	expect_bad_layout("data first", &h, UINT64_MAX, "not the layout");
	h.bitmap_offset -= 4096;
	expect_bad_layout("data over bitmap", &h, UINT64_MAX, "overlap");

	/* Longer regions than the image needs: a few KiB of sparse file
	 * claimed a bitmap of 1.3 GB, which `uloop info` read and counted. */
	h = g;
	h.bitmap_length += 4096;
	h.data_offset = ULO_ROUND_UP(h.bitmap_offset + h.bitmap_length, 65536);
	expect_bad_layout("bitmap too long", &h, UINT64_MAX, "not the layout");
	h = g;
	h.bitmap_length = 1300ull << 20;
	h.data_offset = ULO_ROUND_UP(h.bitmap_offset + h.bitmap_length, 65536);
	expect_bad_layout("bitmap 1.3 GB", &h, UINT64_MAX, "not the layout");
	h = g;
	h.data_length += 65536;
	expect_bad_layout("data too long", &h, UINT64_MAX, "not the layout");
	h = g;
	h.data_offset += 65536;
	expect_bad_layout("data moved", &h, UINT64_MAX, "not the layout");

	/* Capacity. */
	expect_bad_layout("data past end", &g, end - 1, "data region");
	expect_bad_layout("bitmap past end", &g, 8192 + 4095, "bitmap region");
	expect_bad_layout("tiny capacity", &g, 4096, "past the end");
	expect_bad_layout("zero capacity", &g, 0, "past the end");
}

static void test_check_layout_overflow(void)
{
	struct ulo_header g, h;
	char why[256] = "";

	fill_header(&g, 16, IMG_SIZE, 1);

	h = g;
	h.bitmap_offset = UINT64_MAX - 4095;	/* aligned, last page */
	expect_bad_layout("bitmap wraps", &h, UINT64_MAX, "bitmap region");
	h.bitmap_offset = 8192;
	h.bitmap_length = UINT64_MAX - 4095;
	expect_bad_layout("bitmap huge", &h, UINT64_MAX, "bitmap region");
	h.bitmap_length = 0ull - 8192;	/* ends exactly at 2^64 */
	expect_bad_layout("bitmap to 2^64", &h, UINT64_MAX, "bitmap region");

	h = g;
	h.data_offset = UINT64_MAX - 65535;	/* 64 KiB aligned */
	expect_bad_layout("data wraps", &h, UINT64_MAX, "data region");
	h = g;
	h.data_length = UINT64_MAX;
	expect_bad_layout("data huge", &h, UINT64_MAX, "data region");
	h.data_length = 0ull - h.data_offset;
	expect_bad_layout("data to 2^64", &h, UINT64_MAX, "data region");

	/* nblocks * block_size overflows. */
	fill_header(&h, 12, UINT64_MAX, 1);
	h.bitmap_length = ((1ull << 49) + 507) / 508 * 512 + 4096;
	h.bitmap_length &= ~4095ull;	/* enough sectors for 2^52 bits */
	h.data_offset = 8192 + h.bitmap_length;
	h.data_length = UINT64_MAX & ~4095ull;
	expect_bad_layout("image 2^64-1", &h, UINT64_MAX, "data_length");
	fill_header(&h, 20, UINT64_MAX - 5, 1);
	expect_bad_layout("image near 2^64", &h, UINT64_MAX, "data_length");

	/* Close to the limit but valid: the arithmetic does not wrap. */
	fill_header(&h, 20, 1ull << 62, 1);
	CHECK_EQ(ulo_header_check_layout(&h, UINT64_MAX, why, sizeof(why)), 0);
	CHECK_EQ(h.data_length, 1ull << 62);
}

static void two_slots(uint8_t *area, uint64_t gen0, uint64_t gen1)
{
	struct ulo_header h;

	fill_header(&h, 16, IMG_SIZE, gen0);
	ulo_header_encode(&h, area);
	fill_header(&h, 16, IMG_SIZE, gen1);
	ulo_header_encode(&h, area + ULO_HDR_SLOT_SIZE);
}

static void test_pick_newest(void)
{
	uint8_t area[ULO_HDR_AREA];
	struct ulo_header h;
	char why[512] = "";
	int slot = -1;

	two_slots(area, 6, 7);
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 1);
	CHECK_EQ(h.generation, 7);
	two_slots(area, 9, 8);
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 0);
	CHECK_EQ(h.generation, 9);
	/* Generations beyond 2^32 compare as 64-bit numbers. */
	two_slots(area, 1ull << 32, (1ull << 32) - 1);
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 0);
	CHECK_EQ(h.generation, 1ull << 32);
	/* A fresh cache: one slot written, the other all zero. */
	two_slots(area, 0, 1);
	memset(area, 0, ULO_HDR_SLOT_SIZE);
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 1);
	CHECK_EQ(h.generation, 1);
	CHECK(!strcmp(h.id.location, location));
}

static void test_pick_one_corrupt(void)
{
	uint8_t area[ULO_HDR_AREA];
	struct ulo_header h;
	char why[512] = "";
	int slot = -1;

	/* The newer copy is damaged: the older one is used. */
	two_slots(area, 10, 11);
	area[ULO_HDR_SLOT_SIZE + 200] ^= 0x10;
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 0);
	CHECK_EQ(h.generation, 10);
	two_slots(area, 13, 12);
	area[ULO_HDR_CRC_OFF] ^= 1;
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 1);
	CHECK_EQ(h.generation, 12);
	/* Refused by a field check (valid CRC), too. */
	two_slots(area, 13, 12);
	ulo_put_le32(area + 8, 0);
	recrc(area);
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 1);
}

static void test_pick_both_bad(void)
{
	uint8_t area[ULO_HDR_AREA];
	struct ulo_header h;
	char why[512] = "";
	int slot = -1, ret;

	two_slots(area, 4, 5);
	area[300] ^= 1;		/* slot 0: CRC */
	ulo_put_le32(area + ULO_HDR_SLOT_SIZE + 32, 30);	/* slot 1: shift */
	recrc(area + ULO_HDR_SLOT_SIZE);
	ret = ulo_header_pick(area, &h, &slot, why, sizeof(why));
	CHECK(ret == -EBADMSG || ret == -EINVAL);
	CHECK_STR_CONTAINS(why, "both");
	CHECK_STR_CONTAINS(why, "CRC");
	CHECK_STR_CONTAINS(why, "block_shift 30");

	/* One damaged, the other never written: the damage is reported. */
	two_slots(area, 4, 5);
	memset(area, 0, ULO_HDR_SLOT_SIZE);
	ulo_put_le32(area + ULO_HDR_SLOT_SIZE + 8, 3);
	recrc(area + ULO_HDR_SLOT_SIZE);
	ret = ulo_header_pick(area, &h, &slot, why, sizeof(why));
	CHECK_EQ(ret, -EPROTONOSUPPORT);
	CHECK_STR_CONTAINS(why, "version 3");
	two_slots(area, 4, 5);
	memset(area + ULO_HDR_SLOT_SIZE, 0, ULO_HDR_SLOT_SIZE);
	area[1000] ^= 4;
	ret = ulo_header_pick(area, &h, &slot, why, sizeof(why));
	CHECK_EQ(ret, -EBADMSG);
	CHECK_STR_CONTAINS(why, "CRC");
}

static void test_pick_no_magic(void)
{
	uint8_t area[ULO_HDR_AREA];
	struct ulo_header h;
	char why[512] = "";
	int slot = -1;

	memset(area, 0, sizeof(area));
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), -ENODATA);
	CHECK_STR_CONTAINS(why, "no uloop cache header");
	for (size_t i = 0; i < sizeof(area); i++)
		area[i] = (uint8_t)(i * 131 + 7);
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), -ENODATA);
}

/* A cut in the first layout's header write: copy 2 torn, copy 1 blank. */
static void test_first_write_torn(void)
{
	uint8_t area[ULO_HDR_AREA] = { 0 }, slot[ULO_HDR_SLOT_SIZE];
	struct ulo_header h;

	fill_header(&h, 16, IMG_SIZE, 1);
	ulo_header_encode(&h, slot);
	memcpy(area + ULO_HDR_SLOT_SIZE, slot, 512);	/* one sector landed */
	CHECK(ulo_header_first_write_torn(area));
	/* Copy 1 holds a header: a real cache, damaged; not this case. */
	fill_header(&h, 16, IMG_SIZE, 2);
	ulo_header_encode(&h, area);
	CHECK(!ulo_header_first_write_torn(area));
	/* Copy 2 whole: not torn. */
	memset(area, 0, ULO_HDR_SLOT_SIZE);
	memcpy(area + ULO_HDR_SLOT_SIZE, slot, ULO_HDR_SLOT_SIZE);
	CHECK(!ulo_header_first_write_torn(area));
	/* Copy 1 torn, copy 2 blank: generation 1 never goes to copy 1. */
	memset(area, 0, sizeof(area));
	memcpy(area, slot, 512);
	CHECK(!ulo_header_first_write_torn(area));
}

static void test_pick_torn(void)
{
	uint8_t area[ULO_HDR_AREA], slot_new[ULO_HDR_SLOT_SIZE];
	struct ulo_header h;
	char why[512] = "";
	int slot = -1;

	/* Generation 6 goes to slot 0 (over generation 4); the power goes
	 * after its first sector. */
	two_slots(area, 4, 5);
	fill_header(&h, 16, IMG_SIZE, 6);
	h.flags = 0;
	ulo_header_encode(&h, slot_new);
	memcpy(area, slot_new, 512);
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 1);
	CHECK_EQ(h.generation, 5);
	CHECK_EQ(h.flags, ULO_HDR_F_CLEAN);

	/* Generation 7 goes to slot 1 (over 5) while slot 0 holds 6. */
	two_slots(area, 6, 5);
	fill_header(&h, 16, IMG_SIZE, 7);
	snprintf(h.id.location, sizeof(h.id.location), "/elsewhere");
	ulo_header_encode(&h, slot_new);
	memcpy(area + ULO_HDR_SLOT_SIZE, slot_new, 512);
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 0);
	CHECK_EQ(h.generation, 6);
	CHECK(!strcmp(h.id.location, location));

	/* Torn the other way: the tail written, the first sector old. */
	two_slots(area, 4, 5);
	fill_header(&h, 16, IMG_SIZE, 6);
	ulo_header_encode(&h, slot_new);
	memcpy(area + 512, slot_new + 512, ULO_HDR_SLOT_SIZE - 512);
	CHECK_EQ(ulo_header_pick(area, &h, &slot, why, sizeof(why)), 0);
	CHECK_EQ(slot, 1);
	CHECK_EQ(h.generation, 5);
}

int main(void)
{
	UNIT_RUN(test_round_trip);
	UNIT_RUN(test_round_trip_limits);
	UNIT_RUN(test_layout);
	UNIT_RUN(test_layout_values);
	UNIT_RUN(test_bad_magic);
	UNIT_RUN(test_flipped_bytes);
	UNIT_RUN(test_version);
	UNIT_RUN(test_header_size);
	UNIT_RUN(test_features);
	UNIT_RUN(test_flags);
	UNIT_RUN(test_block_shift);
	UNIT_RUN(test_identity_kind);
	UNIT_RUN(test_reserved);
	UNIT_RUN(test_epoch);
	UNIT_RUN(test_epoch_from_words);
	UNIT_RUN(test_string_lengths);
	UNIT_RUN(test_string_contents);
	UNIT_RUN(test_source_size);
	UNIT_RUN(test_short_why);
	UNIT_RUN(test_check_layout_refusals);
	UNIT_RUN(test_check_layout_overflow);
	UNIT_RUN(test_pick_newest);
	UNIT_RUN(test_pick_one_corrupt);
	UNIT_RUN(test_pick_both_bad);
	UNIT_RUN(test_pick_no_magic);
	UNIT_RUN(test_pick_torn);
	UNIT_RUN(test_first_write_torn);
	return unit_done();
}
