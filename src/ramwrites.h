/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ramwrites.h - the writes of a --read-write device, kept in memory.
 *
 * The cache holds the image and nothing else: a block written through the
 * device is kept here, in 4 KiB pages, for the daemon's lifetime, and reads
 * see it over the image.  So `uloop check --source` stays true of the
 * cache, and a reboot starts from the image again (the persistent writable
 * layer of a diskless node is overlayfs's upper directory, not this).
 */
#ifndef ULOOP_RAMWRITES_H
#define ULOOP_RAMWRITES_H

#include <stddef.h>
#include <stdint.h>

#define ULO_RAMWRITES_PAGE 4096

struct ulo_ramwrites;

/* Read image bytes under the written pages: 0 or -errno. */
typedef int (*ulo_base_read_fn)(void *ctx, void *buf, uint64_t off, size_t len);

/* The written pages of an image of @size bytes holding at most @limit bytes of
 * written pages (writes past it fail with -ENOSPC). */
int ulo_ramwrites_new(uint64_t size, uint64_t limit, ulo_base_read_fn base,
		    void *ctx, struct ulo_ramwrites **out);
int ulo_ramwrites_read(struct ulo_ramwrites *o, void *buf, uint64_t off, size_t len);
int ulo_ramwrites_write(struct ulo_ramwrites *o, const void *buf, uint64_t off,
		      size_t len);
/* Forget written pages wholly inside [off, off + len): they read as the
 * image again. */
void ulo_ramwrites_trim(struct ulo_ramwrites *o, uint64_t off, uint64_t len);
uint64_t ulo_ramwrites_bytes(struct ulo_ramwrites *o);
void ulo_ramwrites_free(struct ulo_ramwrites *o);

#endif
