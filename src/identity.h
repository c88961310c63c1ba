/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * identity.h - what makes an image "the same image".
 *
 * A cache is bound to one identity; a source reporting another identity
 * means the image changed, and no block of the old one may be served with
 * blocks of the new one.  The validator is source-specific text: for files
 * the inode and mtime, for block devices a fingerprint, for HTTP the strong
 * ETag or the Last-Modified date, for a published version (a manifest) its
 * root hash, which names every byte.
 */
#ifndef ULOOP_IDENTITY_H
#define ULOOP_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

enum ulo_id_kind {
	ULO_ID_NONE = 0,	/* unbound cache */
	ULO_ID_FILE_MTIME = 1,	/* regular file: inode + mtime (ns) */
	ULO_ID_BLKDEV = 2,	/* block device: size + content fingerprint */
	ULO_ID_HTTP_ETAG = 3,	/* HTTP strong ETag */
	ULO_ID_HTTP_LASTMOD = 4,	/* HTTP Last-Modified */
	ULO_ID_APP = 5,		/* libuloop 2007 API: the program's image,
				 * known by size only (as in 2007) */
	ULO_ID_VERITY = 6,	/* a published version (manifest): its
				 * dm-verity root hash, in hex; the image is
				 * the version's image and hash tree */
	ULO_ID_KIND_MAX = ULO_ID_VERITY,
};

#define ULO_ID_LOCATION_MAX 2048	/* bytes incl. NUL */
#define ULO_ID_VALIDATOR_MAX 256	/* bytes incl. NUL */

struct ulo_identity {
	enum ulo_id_kind kind;
	uint64_t size;				/* image size in bytes */
	char validator[ULO_ID_VALIDATOR_MAX];
	char location[ULO_ID_LOCATION_MAX];	/* URL or absolute path */
};

/*
 * True if @a and @b name the same image: same kind, size and validator, and
 * the same location (for an ETag the same URL but for its query string;
 * for a root hash any: it names every byte wherever its manifest is).
 */
bool ulo_identity_same(const struct ulo_identity *a,
		       const struct ulo_identity *b);
/* Does @location name the image @id was taken from (for an ETag the same
 * URL but for its query string; for a root hash any location)? */
bool ulo_identity_at(const struct ulo_identity *id, const char *location);
/* "etag", "mtime", ... for messages and JSON. */
const char *ulo_id_kind_name(enum ulo_id_kind kind);

#endif
