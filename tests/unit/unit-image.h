/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * unit-image.h - test images for the cache tests: a byte pattern that
 * depends on the offset and an image number (@seed), so a block read at
 * the wrong offset or from the wrong image never passes for the right one;
 * and paths in a test's scratch directory.
 */
#ifndef ULOOP_UNIT_IMAGE_H
#define ULOOP_UNIT_IMAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The byte at image offset @off of test image number @seed. */
static inline uint8_t unit_pat(uint64_t off, unsigned seed)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull + seed * 0x632be59bd9b4e019ull;

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17));
}

static inline void unit_fill(uint8_t *buf, uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = unit_pat(off + i, seed);
}

static inline bool unit_is_pat(const uint8_t *buf, uint64_t off, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != unit_pat(off + i, seed))
			return false;
	return true;
}

/* @dir/@name, in one of 8 buffers used in turn (a call may hold a few). */
static inline const char *unit_path(const char *dir, const char *name)
{
	static char buf[8][PATH_MAX];
	static int i;
	char *p = buf[i++ % 8];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

#endif
