// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * crc32c.c - CRC-32C (Castagnoli), as the kernel's crc32c() and iSCSI
 * compute it.
 *
 * Every cached 4 KiB is checked on every read (docs/cache-format.md), so
 * this is on the hit path: x86-64's SSE4.2 crc32 instruction (8 bytes a
 * cycle) where the CPU has it, else slicing-by-8 tables (8 bytes a step,
 * about 4x the byte-at-a-time table).  Both give the same values; the
 * unit test checks them against each other and known vectors.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define ULO_CRC32C_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t ulo_crc_table[8][256];
static pthread_once_t ulo_crc_once = PTHREAD_ONCE_INIT;
static uint32_t (*ulo_crc_impl)(uint32_t crc, const uint8_t *p, size_t len);

static uint32_t ulo_crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = ulo_crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);	/* byte 0 in the low bits: */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		v = __builtin_bswap64(v);
#endif
		v ^= crc;
		crc = ulo_crc_table[7][v & 0xff] ^
		      ulo_crc_table[6][(v >> 8) & 0xff] ^
		      ulo_crc_table[5][(v >> 16) & 0xff] ^
		      ulo_crc_table[4][(v >> 24) & 0xff] ^
		      ulo_crc_table[3][(v >> 32) & 0xff] ^
		      ulo_crc_table[2][(v >> 40) & 0xff] ^
		      ulo_crc_table[1][(v >> 48) & 0xff] ^
		      ulo_crc_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = ulo_crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t ulo_crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

static void ulo_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ ULO_CRC32C_POLY : c >> 1;
		ulo_crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			ulo_crc_table[t][i] = ulo_crc_table[0][ulo_crc_table[t - 1][i] & 0xff] ^
					      (ulo_crc_table[t - 1][i] >> 8);
	ulo_crc_impl = ulo_crc32c_sw;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		ulo_crc_impl = ulo_crc32c_hw;
#endif
}

uint32_t ulo_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&ulo_crc_once, ulo_crc_init);
	return ~ulo_crc_impl(~crc, buf, len);
}

uint32_t ulo_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&ulo_crc_once, ulo_crc_init);
	return ~ulo_crc32c_sw(~crc, buf, len);
}
