// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-crc32c.c - CRC-32C against published check values.
 *
 * The header CRC is the only thing that tells a torn or damaged header slot
 * from a good one, so the polynomial, the reflection and the pre/post
 * inversion must match the standard CRC-32C (RFC 3720 appendix B.4), and
 * chained calls must give the same result as one call.
 */
#include <stdint.h>
#include <string.h>

#include "crc32c.h"
#include "unit.h"

static void test_check_value(void)
{
	CHECK_EQ(ulo_crc32c(0, "123456789", 9), 0xe3069283u);
	/* One byte, computed by hand from the reflected polynomial. */
	CHECK_EQ(ulo_crc32c(0, "a", 1), 0xc1d04330u);
}

static void test_rfc3720_vectors(void)
{
	uint8_t buf[32];

	memset(buf, 0, sizeof(buf));
	CHECK_EQ(ulo_crc32c(0, buf, sizeof(buf)), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ(ulo_crc32c(0, buf, sizeof(buf)), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = i;
	CHECK_EQ(ulo_crc32c(0, buf, sizeof(buf)), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = 31 - i;
	CHECK_EQ(ulo_crc32c(0, buf, sizeof(buf)), 0x113fdb5cu);
}

/* The CPU's instruction (where used) and the tables agree on every length
 * and alignment, and on a 4 KiB block (what the cache checks). */
static void test_impls_agree(void)
{
	static uint8_t buf[4096 + 64];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245 + 12345;
		buf[i] = x >> 16;
	}
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len < 80; len++)
			CHECK_EQ(ulo_crc32c(7, buf + off, len),
				 ulo_crc32c_portable(7, buf + off, len));
	CHECK_EQ(ulo_crc32c(0, buf, 4096), ulo_crc32c_portable(0, buf, 4096));
	CHECK_EQ(ulo_crc32c_portable(0, "123456789", 9), 0xe3069283u);
}

static void test_empty(void)
{
	CHECK_EQ(ulo_crc32c(0, "", 0), 0);
	CHECK_EQ(ulo_crc32c(0, NULL, 0), 0);
	/* An empty chunk leaves a running CRC alone. */
	CHECK_EQ(ulo_crc32c(0xe3069283u, "", 0), 0xe3069283u);
	CHECK_EQ(ulo_crc32c(0x12345678u, NULL, 0), 0x12345678u);
}

static void test_chaining(void)
{
	static const char text[] =
		"uloop caches a disk image block by block on local flash";
	size_t len = strlen(text);
	uint32_t whole = ulo_crc32c(0, text, len);

	for (size_t split = 0; split <= len; split++) {
		uint32_t a = ulo_crc32c(0, text, split);
		uint32_t ab = ulo_crc32c(a, text + split, len - split);

		CHECK_EQ(ab, whole);
	}
	/* Byte by byte, too. */
	{
		uint32_t crc = 0;

		for (size_t i = 0; i < len; i++)
			crc = ulo_crc32c(crc, text + i, 1);
		CHECK_EQ(crc, whole);
	}
	CHECK_EQ(ulo_crc32c(ulo_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

static void test_sensitivity(void)
{
	uint8_t buf[4096];
	uint32_t base;

	memset(buf, 0x5a, sizeof(buf));
	base = ulo_crc32c(0, buf, sizeof(buf));
	/* Every single-bit flip anywhere in a header-sized buffer shows. */
	for (size_t i = 0; i < sizeof(buf); i++) {
		for (int k = 0; k < 8; k++) {
			buf[i] ^= 1u << k;
			if (ulo_crc32c(0, buf, sizeof(buf)) == base)
				CHECK(!"single-bit flip not detected");
			buf[i] ^= 1u << k;
		}
	}
	CHECK_EQ(ulo_crc32c(0, buf, sizeof(buf)), base);
}

int main(void)
{
	UNIT_RUN(test_check_value);
	UNIT_RUN(test_rfc3720_vectors);
	UNIT_RUN(test_impls_agree);
	UNIT_RUN(test_empty);
	UNIT_RUN(test_chaining);
	UNIT_RUN(test_sensitivity);
	return unit_done();
}
