/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wlayer.h - the writable layer of a --read-write device, one face for the
 * transports (nbd, fuse) over its two kinds:
 *
 *   in memory  written pages kept for the daemon's life (ramwrites.c):
 *              a reboot starts from the image again
 *   on flash   a stack of UML COW files (cow.c, --cow): kept across
 *              reboots, durable at each flush
 *
 * Both read the image under what was written through the engine (so
 * from the cache, fetching what it lacks).  Offsets are inside the image.
 */
#ifndef ULOOP_WLAYER_H
#define ULOOP_WLAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cow.h"
#include "ramwrites.h"

struct ulo_wlayer;

/* Written pages in memory, at most @limit bytes of them, over @base. */
int ulo_wlayer_ram(uint64_t size, uint64_t limit, ulo_base_read_fn base,
		   void *ctx, struct ulo_wlayer **out);
/* Over the COW stack @cow (its owner frees it, after this layer). */
int ulo_wlayer_cow(struct ulo_cow *cow, struct ulo_wlayer **out);

int ulo_wlayer_read(struct ulo_wlayer *w, void *buf, uint64_t off, size_t len);
int ulo_wlayer_write(struct ulo_wlayer *w, const void *buf, uint64_t off,
		     size_t len);
/* Forget what was written in [off, off + len) (a discard): in memory
 * only; a COW keeps it (its bits are never cleared). */
int ulo_wlayer_trim(struct ulo_wlayer *w, uint64_t off, uint64_t len);
bool ulo_wlayer_trims(const struct ulo_wlayer *w);
/* Make what was written durable: a COW's flush (nothing in memory). */
int ulo_wlayer_flush(struct ulo_wlayer *w);
void ulo_wlayer_free(struct ulo_wlayer *w);

#endif
