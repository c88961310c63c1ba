// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sha256.c - SHA-256 as FIPS 180-4 defines it: 64-byte blocks, eight
 * 32-bit words of state, 64 rounds, the message padded with 0x80, zeros
 * and its length in bits (big-endian).  Portable C: the unit test checks
 * it against FIPS's examples and against a split-anywhere feed.
 */
#include "sha256.h"

#include <string.h>

static const uint32_t ulo_sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ulo_ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t ulo_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void ulo_sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;

	for (int i = 0; i < 16; i++)
		w[i] = ulo_be32(p + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ulo_ror(w[i - 15], 7) ^ ulo_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ulo_ror(w[i - 2], 17) ^ ulo_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3];
	e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t s1 = ulo_ror(e, 6) ^ ulo_ror(e, 11) ^ ulo_ror(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + s1 + ch + ulo_sha256_k[i] + w[i];
		uint32_t s0 = ulo_ror(a, 2) ^ ulo_ror(a, 13) ^ ulo_ror(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = s0 + maj;

		hh = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d;
	h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void ulo_sha256_init(struct ulo_sha256 *s)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
}

void ulo_sha256_update(struct ulo_sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t have = s->len % 64;

	if (!len)
		return;	/* @data may be NULL */
	s->len += len;
	if (have) {
		size_t take = 64 - have < len ? 64 - have : len;

		memcpy(s->buf + have, p, take);
		p += take;
		len -= take;
		if (have + take < 64)
			return;
		ulo_sha256_block(s->h, s->buf);
	}
	for (; len >= 64; p += 64, len -= 64)
		ulo_sha256_block(s->h, p);
	memcpy(s->buf, p, len);
}

void ulo_sha256_final(struct ulo_sha256 *s, uint8_t out[ULO_SHA256_LEN])
{
	uint64_t bits = s->len * 8;
	size_t have = s->len % 64;

	s->buf[have++] = 0x80;
	if (have > 56) {
		memset(s->buf + have, 0, 64 - have);
		ulo_sha256_block(s->h, s->buf);
		have = 0;
	}
	memset(s->buf + have, 0, 56 - have);
	for (int i = 0; i < 8; i++)
		s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	ulo_sha256_block(s->h, s->buf);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

void ulo_sha256_2(const void *a, size_t alen, const void *b, size_t blen,
		  uint8_t out[ULO_SHA256_LEN])
{
	struct ulo_sha256 s;

	ulo_sha256_init(&s);
	ulo_sha256_update(&s, a, alen);
	ulo_sha256_update(&s, b, blen);
	ulo_sha256_final(&s, out);
}
