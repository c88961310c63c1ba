/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * verity.h - dm-verity hash trees, in the on-disk format the kernel's
 * dm-verity target and cryptsetup's veritysetup use (hash type 1, with a
 * superblock), so that what `uloop publish` writes is checked by the
 * kernel on a node and by `veritysetup verify` anywhere.
 *
 * The tree: every data block's digest is SHA-256(salt || block); the
 * digests are packed into hash blocks (128 to a 4 KiB block, the rest of
 * the block zero), those blocks are hashed the same way into the level
 * above, until one block is left; the root hash is the digest of that
 * block.  The hash file is the 512-byte superblock, padded to a hash block,
 * then the levels, the top one first (as the kernel lays them out).  An
 * image of one data block has no hash blocks: its root hash is the
 * block's digest.
 */
#ifndef ULOOP_VERITY_H
#define ULOOP_VERITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

#define ULO_VERITY_SB_SIZE 512
#define ULO_VERITY_MAX_SALT 256
#define ULO_VERITY_MAX_LEVELS 16

struct ulo_verity_params {
	uint32_t data_block_size;	/* bytes, a power of two, 512..1 MiB */
	uint32_t hash_block_size;	/* bytes, a power of two, 512..1 MiB */
	uint64_t data_blocks;
	uint8_t salt[ULO_VERITY_MAX_SALT];
	uint16_t salt_size;
	uint8_t uuid[16];	/* the superblock's; any value */
};

/* Where each level lives in the hash file, in hash blocks from its start
 * (the superblock's block is block 0). */
struct ulo_verity_layout {
	unsigned levels;	/* 0: one data block, no hash blocks */
	uint64_t level_start[ULO_VERITY_MAX_LEVELS];	/* [0] = the leaves */
	uint64_t level_blocks[ULO_VERITY_MAX_LEVELS];
	uint64_t hash_blocks;	/* the superblock's block and the tree */
};

/* Check @p and compute its layout: 0 or -EINVAL (message recorded). */
int ulo_verity_layout(const struct ulo_verity_params *p, struct ulo_verity_layout *l);

/* The superblock for @p, ULO_VERITY_SB_SIZE bytes. */
void ulo_verity_superblock(const struct ulo_verity_params *p, uint8_t *sb);

/* Parse a superblock: 0, or -EINVAL naming @what and the field. */
int ulo_verity_parse_superblock(const uint8_t *sb, const char *what,
				struct ulo_verity_params *p);

/* SHA-256(salt || @block) of one data or hash block. */
void ulo_verity_digest(const struct ulo_verity_params *p, const void *block,
		       size_t len, uint8_t out[ULO_SHA256_LEN]);

/*
 * Build the tree over the data that @read returns (data block @i, whole,
 * into @buf; 0 or -errno with the message recorded) and hand every hash
 * block, the superblock's block first, to @write (@off: bytes from the
 * start of the hash file; 0 or -errno).  Blocks are written as they are
 * done, leaves first: a caller writes them at their offsets (pwrite).
 * @root gets the root hash.
 */
typedef int (*ulo_verity_read_fn)(void *ctx, uint64_t i, void *buf);
typedef int (*ulo_verity_write_fn)(void *ctx, uint64_t off, const void *buf,
				   size_t len);
int ulo_verity_build(const struct ulo_verity_params *p, ulo_verity_read_fn read,
		     ulo_verity_write_fn write, void *ctx,
		     uint8_t root[ULO_SHA256_LEN]);

/*
 * The root hash of the hash file open at @fd (@what names it): its
 * superblock read, the top block hashed.  @p gets the superblock's
 * parameters.  0, or -EINVAL/-errno with the message recorded (an image
 * of one data block has no top block to hash: -EINVAL).
 */
int ulo_verity_root_of_file(int fd, const char *what, struct ulo_verity_params *p,
			    uint8_t root[ULO_SHA256_LEN]);

/* Hex of @n bytes into @out (2n + 1 bytes); parse it back: 0 or -EINVAL. */
void ulo_hex(const uint8_t *b, size_t n, char *out);
int ulo_unhex(const char *s, uint8_t *b, size_t n);

#endif
