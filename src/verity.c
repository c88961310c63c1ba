// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * verity.c - dm-verity hash trees (see verity.h).
 *
 * The layout follows the kernel's dm-verity (drivers/md/dm-verity-target.c,
 * verity_ctr): with B = log2(digests per hash block), the tree has the
 * fewest levels L with (data_blocks - 1) >> (B * L) == 0, level i holds
 * ceil(data_blocks / 2^(B * (i + 1))) blocks, and the levels are stored
 * from the top down after the superblock's block.  The build streams the
 * data once, keeping one partial hash block per level.
 */
#include "verity.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int ulo_verity_layout(const struct ulo_verity_params *p, struct ulo_verity_layout *l)
{
	unsigned bits, levels = 0;
	uint64_t pos = 1;

	memset(l, 0, sizeof(*l));
	if (!ulo_pow2_in(p->data_block_size, 512, 1 << 20) ||
	    !ulo_pow2_in(p->hash_block_size, 512, 1 << 20))
		return ulo_err(-EINVAL, "dm-verity: block sizes %" PRIu32 "/%" PRIu32
			       ": each must be a power of two from 512 to 1M",
			       p->data_block_size, p->hash_block_size);
	if (!p->data_blocks)
		return ulo_err(-EINVAL, "dm-verity: no data blocks");
	if (p->salt_size > ULO_VERITY_MAX_SALT)
		return ulo_err(-EINVAL, "dm-verity: a salt of %u bytes (at most %d)",
			       p->salt_size, ULO_VERITY_MAX_SALT);
	bits = (unsigned)__builtin_ctz(p->hash_block_size / ULO_SHA256_LEN);
	while (bits * levels < 64 && (p->data_blocks - 1) >> (bits * levels))
		levels++;
	if (levels > ULO_VERITY_MAX_LEVELS)
		return ulo_err(-EINVAL, "dm-verity: %u levels for %" PRIu64 " blocks (at most %d)",
			       levels, p->data_blocks, ULO_VERITY_MAX_LEVELS);
	l->levels = levels;
	for (int i = (int)levels - 1; i >= 0; i--) {
		unsigned sh = bits * (unsigned)(i + 1);
		uint64_t n = sh >= 64 ? 1 :
			(p->data_blocks >> sh) + !!(p->data_blocks & ((1ull << sh) - 1));

		l->level_start[i] = pos;
		l->level_blocks[i] = n;
		pos += n;
	}
	l->hash_blocks = pos;
	return 0;
}

/* Little-endian stores, as the superblock has them. */
static void ulo_put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t ulo_get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The superblock (cryptsetup's struct verity_sb), byte offsets. */
enum {
	ULO_VSB_SIG = 0,	/* "verity\0\0" */
	ULO_VSB_VERSION = 8,	/* 1 */
	ULO_VSB_HASH_TYPE = 12,	/* 1: salt first, digests padded to 2^n */
	ULO_VSB_UUID = 16,
	ULO_VSB_ALG = 32,	/* "sha256", NUL-padded to 32 */
	ULO_VSB_DBS = 64,
	ULO_VSB_HBS = 68,
	ULO_VSB_DATA_BLOCKS = 72,
	ULO_VSB_SALT_SIZE = 80,
	ULO_VSB_SALT = 88,	/* 256 bytes, then padding to 512 */
};

void ulo_verity_superblock(const struct ulo_verity_params *p, uint8_t *sb)
{
	memset(sb, 0, ULO_VERITY_SB_SIZE);
	memcpy(sb + ULO_VSB_SIG, "verity\0\0", 8);
	ulo_put_le(sb + ULO_VSB_VERSION, 1, 4);
	ulo_put_le(sb + ULO_VSB_HASH_TYPE, 1, 4);
	memcpy(sb + ULO_VSB_UUID, p->uuid, 16);
	memcpy(sb + ULO_VSB_ALG, "sha256", 6);
	ulo_put_le(sb + ULO_VSB_DBS, p->data_block_size, 4);
	ulo_put_le(sb + ULO_VSB_HBS, p->hash_block_size, 4);
	ulo_put_le(sb + ULO_VSB_DATA_BLOCKS, p->data_blocks, 8);
	ulo_put_le(sb + ULO_VSB_SALT_SIZE, p->salt_size, 2);
	memcpy(sb + ULO_VSB_SALT, p->salt, p->salt_size);
}

int ulo_verity_parse_superblock(const uint8_t *sb, const char *what,
				struct ulo_verity_params *p)
{
	struct ulo_verity_layout l;
	char alg[33];

	memset(p, 0, sizeof(*p));
	if (memcmp(sb + ULO_VSB_SIG, "verity\0\0", 8))
		return ulo_err(-EINVAL, "%s: not a dm-verity superblock (no \"verity\" signature)", what);
	if (ulo_get_le(sb + ULO_VSB_VERSION, 4) != 1 || ulo_get_le(sb + ULO_VSB_HASH_TYPE, 4) != 1)
		return ulo_err(-EINVAL, "%s: dm-verity superblock version %" PRIu64 ", hash type %" PRIu64
			       " (only 1 and 1 are read)", what,
			       ulo_get_le(sb + ULO_VSB_VERSION, 4), ulo_get_le(sb + ULO_VSB_HASH_TYPE, 4));
	memcpy(alg, sb + ULO_VSB_ALG, 32);
	alg[32] = '\0';
	if (strcmp(alg, "sha256"))
		return ulo_err(-EINVAL, "%s: dm-verity hash algorithm '%.32s' (only sha256 is read)",
			       what, alg);
	memcpy(p->uuid, sb + ULO_VSB_UUID, 16);
	p->data_block_size = (uint32_t)ulo_get_le(sb + ULO_VSB_DBS, 4);
	p->hash_block_size = (uint32_t)ulo_get_le(sb + ULO_VSB_HBS, 4);
	p->data_blocks = ulo_get_le(sb + ULO_VSB_DATA_BLOCKS, 8);
	p->salt_size = (uint16_t)ulo_get_le(sb + ULO_VSB_SALT_SIZE, 2);
	if (p->salt_size > ULO_VERITY_MAX_SALT)
		return ulo_err(-EINVAL, "%s: dm-verity salt of %u bytes (at most %d)", what,
			       p->salt_size, ULO_VERITY_MAX_SALT);
	memcpy(p->salt, sb + ULO_VSB_SALT, p->salt_size);
	if (ulo_verity_layout(p, &l)) {
		char why[256];

		snprintf(why, sizeof(why), "%s", ulo_errmsg());
		return ulo_err(-EINVAL, "%s: %s", what, why);
	}
	return 0;
}

void ulo_verity_digest(const struct ulo_verity_params *p, const void *block,
		       size_t len, uint8_t out[ULO_SHA256_LEN])
{
	ulo_sha256_2(p->salt, p->salt_size, block, len, out);
}

int ulo_verity_root_of_file(int fd, const char *what, struct ulo_verity_params *p,
			    uint8_t root[ULO_SHA256_LEN])
{
	struct ulo_verity_layout l;
	uint8_t sb[ULO_VERITY_SB_SIZE], *top;
	int ret = ulo_pread_full(fd, sb, sizeof(sb), 0);

	if (ret)
		return ulo_errno(ret, "%s: reading its superblock", what);
	ret = ulo_verity_parse_superblock(sb, what, p);
	if (!ret)
		ret = ulo_verity_layout(p, &l);
	if (ret)
		return ret;
	if (!l.levels)
		return ulo_err(-EINVAL, "%s: a tree of one data block has no top block", what);
	top = malloc(p->hash_block_size);
	if (!top)
		return ulo_errno(-ENOMEM, "%s", what);
	ret = ulo_pread_full(fd, top, p->hash_block_size,
			     l.level_start[l.levels - 1] * p->hash_block_size);
	if (ret)
		ret = ulo_errno(ret, "%s: reading its top hash block", what);
	else
		ulo_verity_digest(p, top, p->hash_block_size, root);
	free(top);
	return ret;
}

struct ulo_vbuild {
	const struct ulo_verity_params *p;
	struct ulo_verity_layout l;
	ulo_verity_write_fn write;
	void *ctx;
	uint8_t *blk[ULO_VERITY_MAX_LEVELS];	/* each level's partial block */
	size_t fill[ULO_VERITY_MAX_LEVELS];	/* bytes in it */
	uint64_t done[ULO_VERITY_MAX_LEVELS];	/* blocks written */
	uint8_t *root;
};

static int ulo_vbuild_add(struct ulo_vbuild *b, unsigned lv, const uint8_t *d);

/* Write level @lv's block (zero past its digests) and pass its digest up. */
static int ulo_vbuild_flush(struct ulo_vbuild *b, unsigned lv)
{
	uint32_t hbs = b->p->hash_block_size;
	uint8_t d[ULO_SHA256_LEN];
	int ret;

	if (b->done[lv] >= b->l.level_blocks[lv])
		return ulo_err(-EIO, "dm-verity: level %u overflows its %" PRIu64 " blocks",
			       lv, b->l.level_blocks[lv]);
	memset(b->blk[lv] + b->fill[lv], 0, hbs - b->fill[lv]);
	ret = b->write(b->ctx, (b->l.level_start[lv] + b->done[lv]) * hbs, b->blk[lv], hbs);
	if (ret)
		return ret;
	b->done[lv]++;
	b->fill[lv] = 0;
	ulo_verity_digest(b->p, b->blk[lv], hbs, d);
	if (lv + 1 == b->l.levels) {
		memcpy(b->root, d, ULO_SHA256_LEN);
		return 0;
	}
	return ulo_vbuild_add(b, lv + 1, d);
}

static int ulo_vbuild_add(struct ulo_vbuild *b, unsigned lv, const uint8_t *d)
{
	memcpy(b->blk[lv] + b->fill[lv], d, ULO_SHA256_LEN);
	b->fill[lv] += ULO_SHA256_LEN;
	return b->fill[lv] == b->p->hash_block_size ? ulo_vbuild_flush(b, lv) : 0;
}

int ulo_verity_build(const struct ulo_verity_params *p, ulo_verity_read_fn read,
		     ulo_verity_write_fn write, void *ctx,
		     uint8_t root[ULO_SHA256_LEN])
{
	struct ulo_vbuild b = { .p = p, .write = write, .ctx = ctx, .root = root };
	uint8_t d[ULO_SHA256_LEN];
	uint8_t *data = NULL, *sbb = NULL;
	int ret;

	ret = ulo_verity_layout(p, &b.l);
	if (ret)
		return ret;
	data = malloc(p->data_block_size);
	sbb = calloc(1, p->hash_block_size);
	ret = data && sbb ? 0 : ulo_errno(-ENOMEM, "dm-verity: buffers");
	for (unsigned i = 0; !ret && i < b.l.levels; i++)
		if (!(b.blk[i] = malloc(p->hash_block_size)))
			ret = ulo_errno(-ENOMEM, "dm-verity: buffers");
	if (ret)
		goto out;
	ulo_verity_superblock(p, sbb);
	ret = write(ctx, 0, sbb, p->hash_block_size);
	for (uint64_t i = 0; !ret && i < p->data_blocks; i++) {
		ret = read(ctx, i, data);
		if (ret)
			break;
		ulo_verity_digest(p, data, p->data_block_size, d);
		if (!b.l.levels)
			memcpy(root, d, ULO_SHA256_LEN);
		else
			ret = ulo_vbuild_add(&b, 0, d);
	}
	/* The partial blocks, bottom up: each flush may complete the next. */
	for (unsigned i = 0; !ret && i < b.l.levels; i++)
		if (b.fill[i])
			ret = ulo_vbuild_flush(&b, i);
	for (unsigned i = 0; !ret && i < b.l.levels; i++)
		if (b.done[i] != b.l.level_blocks[i])
			ret = ulo_err(-EIO, "dm-verity: level %u has %" PRIu64 " of its %" PRIu64 " blocks",
				      i, b.done[i], b.l.level_blocks[i]);
out:
	for (unsigned i = 0; i < b.l.levels; i++)
		free(b.blk[i]);
	free(data);
	free(sbb);
	return ret;
}

void ulo_hex(const uint8_t *b, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = x[b[i] >> 4];
		out[2 * i + 1] = x[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int ulo_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ulo_unhex(const char *s, uint8_t *b, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = ulo_nibble(s[2 * i]), lo = ulo_nibble(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
