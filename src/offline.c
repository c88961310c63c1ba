// SPDX-License-Identifier: GPL-2.0-or-later
/* offline.c - a whole cached image served without its server (offline.h). */
#include "offline.h"

#include <errno.h>
#include <strings.h>

#include "util.h"

int ulo_open_offline(const struct ulo_cache_opts *co, const char *url, const char *why,
		     const char *root_hash, struct ulo_cache **cache, struct ulo_source **src)
{
	struct ulo_verity_info vi;
	const struct ulo_identity *id;
	struct ulo_cache *c;
	uint64_t nblocks;
	bool laid_out;
	int ret;

	*cache = NULL;
	ret = ulo_cache_open(co, &c);
	if (ret)
		return ulo_err(ret, "%s; offline: %s", why, ulo_errmsg());
	*cache = c;
	id = ulo_cache_identity(c);
	laid_out = ulo_cache_is_laid_out(c);
	nblocks = ulo_cache_nblocks(c);
	if (!laid_out || id->kind == ULO_ID_NONE || ulo_cache_count(c) < nblocks)
		return ulo_err(-EIO, "%s; offline: cache %s holds %llu of %llu blocks, not the whole image",
			       why, ulo_cache_path(c),
			       (unsigned long long)(laid_out ? ulo_cache_count(c) : 0),
			       (unsigned long long)nblocks);
	if (!ulo_identity_at(id, url))
		return ulo_err(-EINVAL, "%s; offline: cache %s holds %s, not %s",
			       why, ulo_cache_path(c), id->location, url);
	/* No manifest to check: the root hash the node trusts must be the
	 * cache's, or a tampered flash could name another tree. */
	if (root_hash && (ulo_verity_info_of(id, &vi) || strcasecmp(vi.root_hex, root_hash)))
		return ulo_err(-EPERM, "%s; offline: cache %s holds %s %s, not the trusted root hash %s",
			       why, ulo_cache_path(c), ulo_id_kind_name(id->kind), id->validator,
			       root_hash);
	ret = ulo_source_offline(id, src);
	if (!ret)
		ret = ulo_cache_start_committer(c, 0);
	return ret;
}
