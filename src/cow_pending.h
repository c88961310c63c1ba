/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cow_pending.h - the top COW layer's bits, mirrored in tmpfs so that
 * writes acknowledged but not yet flushed outlive the daemon.
 *
 * A COW write is acknowledged once its data is in the file (the page
 * cache); its bit reaches the file only at the next FLUSH (data before
 * bit).  A power cut may lose such a write: the block layer's contract
 * allows it, and the file system above re-issues or journals around it.
 * A daemon killed (-9, OOM) and started again on the same device is not
 * a power cut: the kernel above never learns, so a write it was told is
 * done must stay done.  The data is still in this kernel's page cache;
 * only the bits, in the dead daemon's memory, are gone.  So each bit is
 * also set in a file in tmpfs (the run-state directory), shared-mapped:
 * it outlives the process, and vanishes with the kernel, exactly like the
 * page cache it vouches for.  The next daemon on the same COW file, in
 * the same boot, ORs those bits in and flushes (data, then bits).
 *
 * The mirror file names the COW file's identity (device, inode, birth
 * time, a fingerprint of its header) and the boot (/proc's boot_id): a
 * mirror from another boot, or left by another file that had the same
 * inode or device number, is discarded, never applied.
 */
#ifndef ULOOP_COW_PENDING_H
#define ULOOP_COW_PENDING_H

#include <stdbool.h>
#include <stdint.h>

#include "cow_uml.h"

struct ulo_cow_pending;

/*
 * Open (or make) in @dir the mirror for the COW layer open as @fd, with
 * header @h (its fields are part of the identity: a device node reused
 * for another disk in the same boot has another COW on it).  @fresh:
 * the layer was just laid out (nothing of it can be pending).  On return
 * ulo_cow_pending_bits() holds the bits a dead predecessor left (all zero
 * when none); the caller merges them, flushes, then calls
 * ulo_cow_pending_sync() with its own bitmap.
 */
int ulo_cow_pending_open(const char *dir, int fd, const struct ulo_uml_hdr *h,
			 bool fresh, struct ulo_cow_pending **out);
/* The same, in the directory @beside's mirror is in (held open since it
 * was made: after the daemon's switch_root @dir's path leads elsewhere). */
int ulo_cow_pending_open_beside(const struct ulo_cow_pending *beside, int fd,
				const struct ulo_uml_hdr *h, bool fresh,
				struct ulo_cow_pending **out);

uint8_t *ulo_cow_pending_bits(struct ulo_cow_pending *p);

/* Make the mirror hold @bits (the layer's bitmap, every bit durable or
 * mirrored): after a recovery, before writes are taken. */
void ulo_cow_pending_sync(struct ulo_cow_pending *p, const uint8_t *bits);

/* Sectors [sec, sec + n) written: their data is in the file. */
void ulo_cow_pending_set(struct ulo_cow_pending *p, uint64_t sec, uint64_t n);

/* Close; @flushed: every bit is durable in the COW file, so the mirror
 * file is removed (else it stays, for the next daemon). */
void ulo_cow_pending_close(struct ulo_cow_pending *p, bool flushed);

#endif
