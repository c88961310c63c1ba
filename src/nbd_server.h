/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd_server.h - the server side of the NBD transmission phase.
 *
 * The kernel's nbd driver is the client: it sends requests on a socket we
 * handed it and expects replies.  One call serves one socket until the
 * kernel disconnects it; the caller runs one per connection.
 */
#ifndef ULOOP_NBD_SERVER_H
#define ULOOP_NBD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ULO_NBD_MAX_REQUEST (32u << 20)	/* kernel sends at most max_sectors */

struct ulo_nbd_ops {
	/* Read image bytes: 0 or -errno. */
	int (*read)(void *ctx, void *buf, uint64_t off, size_t len);
	/* Make what was written durable: 0 or -errno. */
	int (*flush)(void *ctx);
	/* A writable export: store image bytes (NULL: read-only, EPERM). */
	int (*write)(void *ctx, const void *buf, uint64_t off, size_t len);
	/* Discard a range (NULL: EPERM). */
	int (*trim)(void *ctx, uint64_t off, uint64_t len);
};

/*
 * Serve requests on @fd for an image of @size bytes until the client
 * sends NBD_CMD_DISC or closes (returns 0), or the socket fails (-errno).
 * Writes and trims are refused with EPERM unless @ops has them.
 */
int ulo_nbd_serve(int fd, uint64_t size, const struct ulo_nbd_ops *ops,
		  void *ctx);

#endif
