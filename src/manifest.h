/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest.h - the manifest `uloop publish` writes next to an image: what
 * a node needs to fetch one version of it and to verify every block.
 *
 * Text, one "key value" per line in a fixed order, every line ending in a
 * newline (docs/verity.md):
 *
 *     uloop-manifest 1
 *     name root
 *     version 3
 *     created 2026-12-05T19:03:00Z
 *     image root-3.img
 *     size 92696576
 *     data-block-size 4096
 *     hash-block-size 4096
 *     hash sha256
 *     salt 5f0c...(hex)
 *     root-hash 9a1e...(64 hex digits)
 *     hash-tree root-3.verity
 *     seed 2 77c0...(64 hex digits) root-3.from-2.seed   (0 to 8 lines)
 *     signature ecdsa-p256-sha256 MEUCIQ...(base64, DER)   (optional)
 *
 * `image` and `hash-tree` are file names in the manifest's own directory
 * (no '/'): the URL of each is the manifest's with its last component
 * replaced.  Files a manifest names are never rewritten (publish makes a
 * new version instead), so a node that resolved a manifest once reads
 * only immutable files after.  A `seed` line names the seed map
 * (seedmap.h) from an older version still published, by that version's
 * root hash: a node whose flash holds that version fetches only what
 * changed (docs/updates.md).  The signature, when present, is the last
 * line and covers every byte before it.
 */
#ifndef ULOOP_MANIFEST_H
#define ULOOP_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sha256.h"
#include "verity.h"

#define ULO_MANIFEST_MAGIC "uloop-manifest 1"
#define ULO_MANIFEST_MAX_FILE (64 << 10)
#define ULO_MANIFEST_NAME_MAX 64
#define ULO_MANIFEST_SIG_MAX 160	/* DER ECDSA P-256: 72 bytes at most */
#define ULO_MANIFEST_MAX_SEEDS 8
#define ULO_MANIFEST_FILE_MAX (ULO_MANIFEST_NAME_MAX + 32)

/* A seed map from an older version to this one. */
struct ulo_manifest_seed {
	uint64_t version;	/* the older version's */
	uint8_t root[ULO_SHA256_LEN];	/* ...and its root hash */
	char file[ULO_MANIFEST_FILE_MAX];
};

struct ulo_manifest {
	char name[ULO_MANIFEST_NAME_MAX + 1];
	uint64_t version;
	char created[32];	/* UTC, YYYY-MM-DDTHH:MM:SSZ */
	char image[ULO_MANIFEST_FILE_MAX];
	uint64_t size;		/* image bytes, a multiple of data_block_size */
	struct ulo_verity_params vp;	/* block sizes, data blocks, salt */
	uint8_t root[ULO_SHA256_LEN];
	char hash_tree[ULO_MANIFEST_FILE_MAX];
	struct ulo_manifest_seed seeds[ULO_MANIFEST_MAX_SEEDS];
	unsigned nseeds;
	/* The signature line, if any: its algorithm, its bytes, and how many
	 * bytes of the text before it it covers. */
	char sig_alg[32];
	uint8_t sig[ULO_MANIFEST_SIG_MAX];
	size_t sig_len;
	size_t signed_len;
};

/* Is @s usable as a published name: 1..64 of [A-Za-z0-9._-], not starting
 * with '.' or '-'. */
bool ulo_manifest_name_ok(const char *s);
/* Is @s a file name of the manifest's directory (a name as above, at
 * most ULO_MANIFEST_FILE_MAX - 1 long)? */
bool ulo_manifest_file_ok(const char *s);

/* The manifest's text without a signature line, into @buf: its length,
 * or -ENOSPC. */
int ulo_manifest_format(const struct ulo_manifest *m, char *buf, size_t cap);

/* Parse (strictly: every line, its order, its values) the text of a
 * manifest fetched from @what: 0, or -EINVAL naming @what, the line and
 * the cause. */
int ulo_manifest_parse(const char *text, size_t len, const char *what,
		       struct ulo_manifest *out);

/* Base64 (RFC 4648, padded) of @n bytes into @out (4 * ceil(n / 3) + 1);
 * decode: the byte count, or -EINVAL. */
void ulo_base64(const uint8_t *b, size_t n, char *out);
int ulo_unbase64(const char *s, uint8_t *out, size_t cap);

#endif
