// SPDX-License-Identifier: GPL-2.0-or-later
/* source.c - choosing a source implementation by the location's form. */
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const struct ulo_source_ops *ulo_source_pick(const char *location)
{
	if (!strncasecmp(location, "http://", 7) || !strncasecmp(location, "https://", 8))
		return &ulo_source_http_ops;
	/* Any other scheme is a typo or unsupported, not a file name. */
	if (strstr(location, "://"))
		return NULL;
	return &ulo_source_file_ops;
}

int ulo_source_open(const char *location, const struct ulo_source_opts *opts,
		    struct ulo_source **out)
{
	const struct ulo_source_ops *ops = ulo_source_pick(location);
	struct ulo_source *src;
	int ret;

	if (!ops)
		return ulo_err(-EPROTONOSUPPORT,
			       "%s: unsupported scheme (http:// and https:// only)",
			       location);
	src = calloc(1, sizeof(*src));
	if (!src)
		return ulo_errno(-ENOMEM, "%s: allocating source", location);
	src->ops = ops;
	ret = ops->open(src, location, opts);
	if (ret < 0) {
		free(src);
		return ret;
	}
	*out = src;
	return 0;
}

int ulo_source_read(struct ulo_source *src, void *buf, uint64_t off,
		    size_t len, unsigned *retries)
{
	if (retries)
		*retries = 0;
	if (off > src->id.size || len > src->id.size - off)
		return ulo_err(-EINVAL, "%s: read of %zu bytes at %llu is past the end (%llu)",
			       src->id.location, len, (unsigned long long)off,
			       (unsigned long long)src->id.size);
	return src->ops->read(src, buf, off, len, retries);
}

static int ulo_offline_read(struct ulo_source *src, void *buf, uint64_t off,
			    size_t len, unsigned *retries)
{
	(void)buf;
	(void)retries;
	return ulo_err(-EIO, "%s: offline, and bytes %llu+%zu are not cached",
		       src->id.location, (unsigned long long)off, len);
}

static void ulo_offline_close(struct ulo_source *src)
{
	(void)src;
}

static const struct ulo_source_ops ulo_source_offline_ops = {
	.name = "offline",
	.read = ulo_offline_read,
	.close = ulo_offline_close,
};

int ulo_source_offline(const struct ulo_identity *id, struct ulo_source **out)
{
	struct ulo_source *src = calloc(1, sizeof(*src));

	if (!src)
		return ulo_errno(-ENOMEM, "offline source");
	src->ops = &ulo_source_offline_ops;
	src->id = *id;
	*out = src;
	return 0;
}

void ulo_source_close(struct ulo_source *src)
{
	if (!src)
		return;
	src->ops->close(src);
	free(src);
}
