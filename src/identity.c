// SPDX-License-Identifier: GPL-2.0-or-later
/* identity.c - comparing image identities. */
#include "identity.h"

#include <string.h>

/*
 * The same URL but for its query: a pre-signed URL's query (signature,
 * expiry) changes from boot to boot, its path does not.  An ETag is only
 * meaningful for one resource (RFC 9110 8.8.3), and nginx's, "mtime-size",
 * is the same for two different images of the same size and mtime.
 */
static bool ulo_same_resource(const char *a, const char *b)
{
	size_t la = strcspn(a, "?#"), lb = strcspn(b, "?#");

	return la == lb && !strncmp(a, b, la);
}

bool ulo_identity_same(const struct ulo_identity *a,
		       const struct ulo_identity *b)
{
	if (a->kind != b->kind || a->kind == ULO_ID_NONE)
		return false;
	if (a->size != b->size || strcmp(a->validator, b->validator))
		return false;
	return ulo_identity_at(a, b->location);
}

bool ulo_identity_at(const struct ulo_identity *id, const char *location)
{
	/* A root hash names every byte of the version wherever its manifest
	 * is: a pinned URL, another name, a mirror serve the same bytes. */
	if (id->kind == ULO_ID_VERITY)
		return true;
	if (id->kind == ULO_ID_HTTP_ETAG)
		return ulo_same_resource(id->location, location);
	return !strcmp(id->location, location);
}

const char *ulo_id_kind_name(enum ulo_id_kind kind)
{
	switch (kind) {
	case ULO_ID_NONE:
		return "none";
	case ULO_ID_FILE_MTIME:
		return "mtime";
	case ULO_ID_BLKDEV:
		return "blkdev";
	case ULO_ID_HTTP_ETAG:
		return "etag";
	case ULO_ID_HTTP_LASTMOD:
		return "last-modified";
	case ULO_ID_APP:
		return "libuloop";
	case ULO_ID_VERITY:
		return "root-hash";
	}
	return "unknown";
}
