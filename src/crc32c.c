// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * crc32c.c - table-driven CRC-32C.  The header is 4 KiB and checked once
 * per open or commit, so a byte-at-a-time table is fast enough and keeps
 * the code free of CPU feature detection.
 */
#include "crc32c.h"

#include <pthread.h>

#define ULO_CRC32C_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t ulo_crc_table[256];
static pthread_once_t ulo_crc_once = PTHREAD_ONCE_INIT;

static void ulo_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ ULO_CRC32C_POLY : c >> 1;
		ulo_crc_table[i] = c;
	}
}

uint32_t ulo_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&ulo_crc_once, ulo_crc_init);
	crc = ~crc;
	while (len--)
		crc = ulo_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
