// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cow_uml.c - see cow_uml.h.
 *
 * Decoding is strict where a wrong number would make uloop read or write
 * the wrong place (sector size, alignment, format, size) and lenient
 * where UML is (the backing name is whatever precedes its NUL).  The
 * field offsets are written out once each, in the tables below, so that
 * decode and encode cannot disagree.
 */
#include "cow_uml.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Largest values served: a sector of 64 KiB, a 1 MiB alignment and a
 * disk of 2^56 bytes are far past anything UML writes and keep every
 * offset below in 64 bits. */
#define UML_MAX_SECTOR 65536u
#define UML_MAX_ALIGN (1u << 20)
#define UML_MAX_SIZE (1ull << 56)

/* Where a version keeps its fields. */
struct uml_fields {
	unsigned name_off, name_len;
	unsigned mtime_off, size_off, sector_off;
	unsigned align_off, format_off;	/* 0: none (V1, V2) */
	unsigned header_len;
};

static const struct uml_fields uml_v1 = { 8, ULO_UML_NAME_V1, 264, 268, 276,
					  0, 0, ULO_UML_HDR_V1 };
static const struct uml_fields uml_v2 = { 8, ULO_UML_NAME_V2, 4104, 4108, 4116,
					  0, 0, ULO_UML_HDR_V2 };
static const struct uml_fields uml_v3 = { 32, ULO_UML_NAME_V3, 8, 12, 20,
					  24, 28, ULO_UML_HDR_V3 };
static const struct uml_fields uml_v3_64 = { 36, ULO_UML_NAME_V3, 8, 16, 24,
					     28, 32, ULO_UML_HDR_V3_64 };

static const struct uml_fields *uml_fields_of(const struct ulo_uml_hdr *h)
{
	if (h->version == 1)
		return &uml_v1;
	if (h->version == 2)
		return &uml_v2;
	return h->v3_64bit ? &uml_v3_64 : &uml_v3;
}

static uint32_t uml_get32(const uint8_t *p, bool be)
{
	return be ? ulo_get_be32(p) : ulo_get_le32(p);
}

static uint64_t uml_get64(const uint8_t *p, bool be)
{
	return be ? ulo_get_be64(p) : ulo_get_le64(p);
}

static void uml_put32(uint8_t *p, uint32_t v, bool be)
{
	if (be)
		ulo_put_be32(p, v);
	else
		ulo_put_le32(p, v);
}

static void uml_put64(uint8_t *p, uint64_t v, bool be)
{
	if (be)
		ulo_put_be64(p, v);
	else
		ulo_put_le64(p, v);
}

bool ulo_uml_probe(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	return len >= 4 && (ulo_get_le32(p) == ULO_UML_MAGIC ||
			    ulo_get_be32(p) == ULO_UML_MAGIC);
}

const char *ulo_uml_version_name(const struct ulo_uml_hdr *h)
{
	if (h->version == 1)
		return "V1";
	if (h->version == 2)
		return "V2";
	return h->v3_64bit ? "V3 (64-bit layout)" : "V3";
}

static uint64_t uml_round_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) / align * align;
}

int ulo_uml_layout(struct ulo_uml_hdr *h)
{
	const struct uml_fields *f;
	uint32_t ss = h->sector_size;

	if (h->version < 1 || h->version > 3)
		return ulo_err(-EINVAL, "UML COW version %u is not one of 1, 2, 3",
			       h->version);
	if (!ulo_pow2_in(ss, 512, UML_MAX_SECTOR))
		return ulo_err(-EINVAL, "UML COW %s: sector size %u is not a power of two in 512..64K",
			       ulo_uml_version_name(h), ss);
	if (h->version < 3)
		h->alignment = ss;
	if (!h->alignment || h->alignment > UML_MAX_ALIGN)
		return ulo_err(-EINVAL, "UML COW %s: alignment %u is not in 1..1M",
			       ulo_uml_version_name(h), h->alignment);
	if (!h->size || h->size > UML_MAX_SIZE)
		return ulo_err(-EINVAL, "UML COW %s: disk size %llu is not in 1..2^56",
			       ulo_uml_version_name(h),
			       (unsigned long long)h->size);
	f = uml_fields_of(h);
	h->header_len = f->header_len;
	h->sectors = (h->size + ss - 1) / ss;
	if (h->version < 3) {
		/* UML's old rounding: whole bytes of bits only. */
		h->bitmap_offset = f->header_len;
		h->bitmap_len = (h->size + ss - 1) / (8ull * ss);
		h->data_offset = uml_round_up(h->bitmap_offset + h->bitmap_len, ss);
		h->covered = ULO_MIN(h->sectors, h->bitmap_len * 8);
	} else {
		h->bitmap_offset = uml_round_up(f->header_len, h->alignment);
		h->bitmap_len = (h->sectors + 7) / 8;
		h->data_offset = uml_round_up(h->bitmap_offset + h->bitmap_len,
					      h->alignment);
		h->covered = h->sectors;
	}
	return 0;
}

/* The name, and a tag of ours after its NUL, from a backing field. */
static int uml_get_name(struct ulo_uml_hdr *h, const uint8_t *field, unsigned len)
{
	const uint8_t *nul = memchr(field, 0, len), *tag;
	size_t rest;

	if (!nul)
		return ulo_err(-EINVAL, "UML COW %s: the backing file name has no end",
			       ulo_uml_version_name(h));
	memcpy(h->backing, field, (size_t)(nul - field) + 1);
	h->tag[0] = 0;
	tag = nul + 1;
	rest = len - (size_t)(tag - field);
	if (rest > strlen(ULO_UML_TAG_PREFIX) &&
	    !memcmp(tag, ULO_UML_TAG_PREFIX, strlen(ULO_UML_TAG_PREFIX))) {
		const uint8_t *end = memchr(tag, 0, ULO_MIN(rest, (size_t)ULO_UML_TAG_MAX));

		if (end)
			memcpy(h->tag, tag, (size_t)(end - tag) + 1);
	}
	return 0;
}

int ulo_uml_decode(const void *buf, size_t len, struct ulo_uml_hdr *h)
{
	const uint8_t *p = buf;
	const struct uml_fields *f;
	bool be;
	int ret;

	memset(h, 0, sizeof(*h));
	if (!ulo_uml_probe(buf, len))
		return ulo_err(-EINVAL, "not a UML COW file (no COW magic)");
	be = ulo_get_be32(p) == ULO_UML_MAGIC;
	h->big_endian = be;
	if (len < 8)
		return ulo_err(-EINVAL, "UML COW header cut short (%zu bytes)", len);
	h->version = uml_get32(p + 4, be);
	if (h->version < 1 || h->version > 3)
		return ulo_err(-EINVAL, "UML COW version %u is not one of 1, 2, 3",
			       h->version);
	/* UML reads V2 and V3 fields big-endian whatever the magic's order;
	 * V1 was written in its host's order, the magic's. */
	if (h->version > 1)
		be = true;
	if (h->version == 3 && len >= 36 && !ulo_get_le32(p + 32))
		h->v3_64bit = true;
	f = uml_fields_of(h);
	if (len < f->header_len)
		return ulo_err(-EINVAL, "UML COW %s header cut short (%zu of %u bytes)",
			       ulo_uml_version_name(h), len, f->header_len);
	/* The 64-bit layout's mtime: its first 4 bytes, big-endian. */
	h->mtime = h->v3_64bit ? ulo_get_be32(p + f->mtime_off)
			       : uml_get32(p + f->mtime_off, be);
	h->size = uml_get64(p + f->size_off, be);
	h->sector_size = uml_get32(p + f->sector_off, be);
	if (f->align_off) {
		uint32_t fmt = uml_get32(p + f->format_off, be);

		h->alignment = uml_get32(p + f->align_off, be);
		if (fmt)
			return ulo_err(-EINVAL, "UML COW %s: cow_format %u is not 0 (a bitmap), the only one defined",
				       ulo_uml_version_name(h), fmt);
	}
	ret = uml_get_name(h, p + f->name_off, f->name_len);
	if (ret)
		return ret;
	return ulo_uml_layout(h);
}

int ulo_uml_encode(const struct ulo_uml_hdr *h, void *buf)
{
	const struct uml_fields *f = uml_fields_of(h);
	bool be = h->version > 1 || h->big_endian;
	uint8_t *p = buf;
	size_t name = strlen(h->backing), tag = strlen(h->tag);

	if (h->v3_64bit)
		return ulo_err(-EINVAL, "the 64-bit V3 layout is read, never written");
	if (name + 1 > f->name_len)
		return ulo_err(-ENAMETOOLONG, "backing file name of %zu bytes does not fit UML COW %s (at most %u)",
			       name, ulo_uml_version_name(h), f->name_len - 1);
	memset(p, 0, f->header_len);
	uml_put32(p, ULO_UML_MAGIC, be);
	uml_put32(p + 4, h->version, be);
	memcpy(p + f->name_off, h->backing, name);
	if (tag && name + 1 + tag + 1 <= f->name_len)
		memcpy(p + f->name_off + name + 1, h->tag, tag);
	uml_put32(p + f->mtime_off, h->mtime, be);
	uml_put64(p + f->size_off, h->size, be);
	uml_put32(p + f->sector_off, h->sector_size, be);
	if (f->align_off)
		uml_put32(p + f->align_off, h->alignment, be);
	return 0;
}

bool ulo_uml_tag_is_cache(const char *tag)
{
	return !strncmp(tag, ULO_UML_CACHE_TAG, strlen(ULO_UML_CACHE_TAG));
}
