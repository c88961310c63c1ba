/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * source.h - where image bytes come from.
 *
 * A source is an ops table plus its state.  open() learns the size and the
 * identity; read() returns exactly the bytes asked for or an error, and
 * must fail (never return data) once it notices the image is no longer the
 * one it opened: -ESTALE with a message saying so.  read() is called from
 * several threads at once.
 */
#ifndef ULOOP_SOURCE_H
#define ULOOP_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "identity.h"

struct ulo_source;

struct ulo_source_opts {
	unsigned timeout_s;	/* per-request deadline (network sources) */
	unsigned retries;	/* transient-error retries (network sources) */
};

struct ulo_source_ops {
	const char *name;
	int (*open)(struct ulo_source *src, const char *location,
		    const struct ulo_source_opts *opts);
	/*
	 * Read [@off, @off + @len) into @buf.  @retries (may be NULL) gets
	 * the number of retries this read needed.  0 or -errno with the
	 * message recorded.
	 */
	int (*read)(struct ulo_source *src, void *buf, uint64_t off,
		    size_t len, unsigned *retries);
	void (*close)(struct ulo_source *src);
};

struct ulo_source {
	const struct ulo_source_ops *ops;
	struct ulo_identity id;	/* set by open(); id.size is the image size */
	void *priv;		/* ops-private state */
};

extern const struct ulo_source_ops ulo_source_file_ops;

/* Open @location (a path to a file or block device; URLs come with the
 * HTTP source).  0 or -errno with the message recorded. */
int ulo_source_open(const char *location, const struct ulo_source_opts *opts,
		    struct ulo_source **out);
int ulo_source_read(struct ulo_source *src, void *buf, uint64_t off,
		    size_t len, unsigned *retries);
void ulo_source_close(struct ulo_source *src);

#endif
