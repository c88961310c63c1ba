/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sha256.h - SHA-256 (FIPS 180-4), for dm-verity hash trees (verity.h).
 *
 * libuloop's own, so the library keeps needing only libc and libblkid:
 * the daemon checks image blocks with it, and `uloop publish` builds
 * trees with it, in the same code the kernel's dm-verity checks against.
 */
#ifndef ULOOP_SHA256_H
#define ULOOP_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ULO_SHA256_LEN 32

struct ulo_sha256 {
	uint32_t h[8];
	uint64_t len;		/* bytes hashed so far */
	uint8_t buf[64];	/* a partial block: len % 64 bytes */
};

/* True when the CPU's SHA instructions do the work (ULOOP_SHA256_PORTABLE
 * in the environment forces portable C: tests compare the two). */
bool ulo_sha256_accelerated(void);

void ulo_sha256_init(struct ulo_sha256 *s);
void ulo_sha256_update(struct ulo_sha256 *s, const void *data, size_t len);
void ulo_sha256_final(struct ulo_sha256 *s, uint8_t out[ULO_SHA256_LEN]);

/* One call: SHA-256 of @a then @b (either may be empty). */
void ulo_sha256_2(const void *a, size_t alen, const void *b, size_t blen,
		  uint8_t out[ULO_SHA256_LEN]);

#endif
