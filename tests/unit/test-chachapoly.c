// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-chachapoly.c - the mbedTLS uloop builds (tools/build-mbedtls.sh)
 * computes ChaCha20, Poly1305 and their AEAD as RFC 8439 says.
 *
 * TLS 1.3's preferred suite runs through two uloop patches to mbedTLS:
 * tools/mbedtls-chacha20-simd.patch (ChaCha20 four blocks at a time with
 * SSE2, eight with AVX2, sixteen with AVX-512F) and
 * tools/mbedtls-poly1305-avx2.patch (Poly1305 four blocks at a time with
 * AVX2).  The wider paths run only where the CPU has them: the test says
 * which this machine took, so a log shows what was covered.  This test holds them to the RFC's
 * test vectors, and to one-block-at-a-time references written here from
 * RFC 8439 sections 2.3 and 2.5 (Poly1305 with plain multi-word
 * arithmetic, nothing shared with either patch), over lengths that take
 * every path (vector, one block, a partial block), split across calls at
 * odd places (what one call leaves over starts the next), with the
 * ChaCha20 block counter about to wrap at 2^32 and with the largest
 * clamped Poly1305 keys and all-ones messages (the carries' worst case).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/chacha20.h>
#include <mbedtls/chachapoly.h>
#include <mbedtls/poly1305.h>

#include "unit.h"

static uint32_t rotl(uint32_t v, int n)
{
	return (v << n) | (v >> (32 - n));
}

static void ref_qr(uint32_t *x, int a, int b, int c, int d)
{
	x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 16);
	x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 12);
	x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 8);
	x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 7);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* RFC 8439 2.3 and 2.4, one block at a time. */
static void ref_chacha20(const uint8_t key[32], const uint8_t nonce[12], uint32_t ctr,
			 const uint8_t *in, uint8_t *out, size_t len)
{
	uint32_t s[16], x[16];
	uint8_t ks[64];

	s[0] = 0x61707865; s[1] = 0x3320646e; s[2] = 0x79622d32; s[3] = 0x6b206574;
	for (int i = 0; i < 8; i++)
		s[4 + i] = le32(key + 4 * i);
	for (int i = 0; i < 3; i++)
		s[13 + i] = le32(nonce + 4 * i);
	for (size_t off = 0; off < len; off += 64, ctr++) {
		s[12] = ctr;
		memcpy(x, s, sizeof(x));
		for (int r = 0; r < 10; r++) {
			ref_qr(x, 0, 4, 8, 12); ref_qr(x, 1, 5, 9, 13);
			ref_qr(x, 2, 6, 10, 14); ref_qr(x, 3, 7, 11, 15);
			ref_qr(x, 0, 5, 10, 15); ref_qr(x, 1, 6, 11, 12);
			ref_qr(x, 2, 7, 8, 13); ref_qr(x, 3, 4, 9, 14);
		}
		for (int i = 0; i < 16; i++) {
			uint32_t w = x[i] + s[i];

			ks[4 * i] = (uint8_t)w;
			ks[4 * i + 1] = (uint8_t)(w >> 8);
			ks[4 * i + 2] = (uint8_t)(w >> 16);
			ks[4 * i + 3] = (uint8_t)(w >> 24);
		}
		for (size_t i = 0; i < 64 && off + i < len; i++)
			out[off + i] = in[off + i] ^ ks[i];
	}
}

/* RFC 8439 2.5: Poly1305 with numbers as ten 32-bit words, reduced by
 * folding what is above 2^130 back in times 5 until nothing is. */
static void ref_poly1305(const uint8_t key[32], const uint8_t *m, size_t len, uint8_t tag[16])
{
	uint32_t r[4], acc[10] = { 0 };

	r[0] = le32(key) & 0x0fffffff;
	r[1] = le32(key + 4) & 0x0ffffffc;
	r[2] = le32(key + 8) & 0x0ffffffc;
	r[3] = le32(key + 12) & 0x0ffffffc;
	for (size_t off = 0; off < len; off += 16) {
		uint8_t blk[17] = { 0 };
		size_t n = len - off < 16 ? len - off : 16;
		uint64_t prod[10] = { 0 }, c = 0;

		memcpy(blk, m + off, n);
		blk[n] = 1;
		/* acc += block (n bytes and the 1 after them: below 2^129). */
		for (int i = 0; i < 5; i++) {
			uint32_t w = i < 4 ? le32(blk + 4 * i) : blk[16];

			c += (uint64_t)acc[i] + w;
			acc[i] = (uint32_t)c;
			c >>= 32;
		}
		/* acc *= r, schoolbook. */
		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 4; j++) {
				uint64_t p = (uint64_t)acc[i] * r[j];
				int k = i + j;

				prod[k] += (uint32_t)p;
				prod[k + 1] += p >> 32;
			}
		c = 0;
		for (int k = 0; k < 10; k++) {
			c += prod[k];
			acc[k] = (uint32_t)c;
			c >>= 32;
		}
		/* Fold: acc = (acc mod 2^130) + 5 (acc >> 130) until < 2^130. */
		for (;;) {
			uint32_t hi[6];
			int any = 0;

			for (int i = 0; i < 6; i++) {
				hi[i] = acc[i + 4] >> 2 | (i + 5 < 10 ? acc[i + 5] << 30 : 0);
				any |= hi[i] != 0;
			}
			if (!any)
				break;
			acc[4] &= 3;
			memset(acc + 5, 0, 5 * sizeof(acc[0]));
			c = 0;
			for (int i = 0; i < 10; i++) {
				c += (uint64_t)acc[i] + (i < 6 ? (uint64_t)hi[i] * 5 : 0);
				acc[i] = (uint32_t)c;
				c >>= 32;
			}
		}
	}
	/* acc < 2^130: take away p = 2^130 - 5 if acc >= p. */
	{
		uint32_t g[5];
		uint64_t c = 5;

		for (int i = 0; i < 5; i++) {
			c += acc[i];
			g[i] = (uint32_t)c;
			c >>= 32;
		}
		if (g[4] >> 2)	/* acc + 5 >= 2^130 */
			memcpy(acc, g, 4 * sizeof(acc[0]));
	}
	uint64_t c = 0;

	for (int i = 0; i < 4; i++) {
		c += (uint64_t)acc[i] + le32(key + 16 + 4 * i);
		tag[4 * i] = (uint8_t)c;
		tag[4 * i + 1] = (uint8_t)(c >> 8);
		tag[4 * i + 2] = (uint8_t)(c >> 16);
		tag[4 * i + 3] = (uint8_t)(c >> 24);
		c >>= 32;
	}
}

static void unhex(const char *h, uint8_t *out)
{
	for (size_t i = 0; h[2 * i]; i++) {
		unsigned v;

		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static const char sunscreen[] =
	"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";

/* RFC 8439 2.4.2. */
static void test_rfc8439_encrypt(void)
{
	uint8_t key[32], nonce[12], out[114], want[114];

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	unhex("000000000000004a00000000", nonce);
	unhex("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
	      "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
	      "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
	      "5af90bbf74a35be6b40b8eedf2785e42874d", want);
	CHECK_EQ(mbedtls_chacha20_crypt(key, nonce, 1, 114, (const uint8_t *)sunscreen, out), 0);
	CHECK(!memcmp(out, want, sizeof(want)));
	ref_chacha20(key, nonce, 1, (const uint8_t *)sunscreen, out, 114);
	CHECK(!memcmp(out, want, sizeof(want)));
}

/* RFC 8439 2.8.2: the AEAD TLS uses. */
static void test_rfc8439_aead(void)
{
	uint8_t key[32], nonce[12], aad[12], out[114], tag[16], want_tag[16], back[114];
	mbedtls_chachapoly_context ctx;

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	unhex("070000004041424344454647", nonce);
	unhex("50515253c0c1c2c3c4c5c6c7", aad);
	unhex("1ae10b594f09e26a7e902ecbd0600691", want_tag);
	mbedtls_chachapoly_init(&ctx);
	CHECK_EQ(mbedtls_chachapoly_setkey(&ctx, key), 0);
	CHECK_EQ(mbedtls_chachapoly_encrypt_and_tag(&ctx, 114, nonce, aad, sizeof(aad),
						    (const uint8_t *)sunscreen, out, tag), 0);
	CHECK(!memcmp(tag, want_tag, 16));
	CHECK_EQ(out[0], 0xd3);
	CHECK_EQ(out[113], 0x16);
	CHECK_EQ(mbedtls_chachapoly_auth_decrypt(&ctx, 114, nonce, aad, sizeof(aad), tag,
						 out, back), 0);
	CHECK(!memcmp(back, sunscreen, 114));
	tag[3] ^= 1;
	CHECK(mbedtls_chachapoly_auth_decrypt(&ctx, 114, nonce, aad, sizeof(aad), tag,
					      out, back) != 0);
	mbedtls_chachapoly_free(&ctx);
}

/* Long inputs, whole and in pieces, against the ChaCha20 reference. */
static void test_chacha20_against_reference(void)
{
	static const size_t lens[] = { 0, 1, 63, 64, 65, 255, 256, 257, 511, 512, 513,
				       767, 768, 800, 1023, 1024, 4096 + 17, 16384, 16401 };
	static const uint32_t ctrs[] = { 0, 1, 0xfffffff9u, 0xfffffffdu, 0xffffffffu };
	size_t max = 16401;
	uint8_t *in = malloc(max), *want = malloc(max), *got = malloc(max);
	uint8_t key[32], nonce[12];

	srand(8439);
	for (size_t i = 0; i < max; i++)
		in[i] = (uint8_t)rand();
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (size_t ci = 0; ci < sizeof(ctrs) / sizeof(ctrs[0]); ci++) {
			size_t len = lens[li];

			for (int i = 0; i < 32; i++)
				key[i] = (uint8_t)rand();
			for (int i = 0; i < 12; i++)
				nonce[i] = (uint8_t)rand();
			ref_chacha20(key, nonce, ctrs[ci], in, want, len);
			memset(got, 0, len);
			CHECK_EQ(mbedtls_chacha20_crypt(key, nonce, ctrs[ci], len, in, got), 0);
			if (memcmp(got, want, len))
				fprintf(stderr, "  one call: %zu bytes from counter %u differ\n",
					len, ctrs[ci]);
			CHECK(!memcmp(got, want, len));

			/* The same in pieces: the leftover keystream of one
			 * call starts the next. */
			mbedtls_chacha20_context ctx;
			size_t off = 0, step = 1 + (len % 97);

			mbedtls_chacha20_init(&ctx);
			CHECK_EQ(mbedtls_chacha20_setkey(&ctx, key), 0);
			CHECK_EQ(mbedtls_chacha20_starts(&ctx, nonce, ctrs[ci]), 0);
			memset(got, 0, len);
			while (off < len) {
				size_t n = step < len - off ? step : len - off;

				CHECK_EQ(mbedtls_chacha20_update(&ctx, n, in + off, got + off), 0);
				off += n;
				/* Up to 3 KiB: the sixteen-block path too. */
				step = step * 7 % 3079 + 1;
			}
			mbedtls_chacha20_free(&ctx);
			if (memcmp(got, want, len))
				fprintf(stderr, "  in pieces: %zu bytes from counter %u differ\n",
					len, ctrs[ci]);
			CHECK(!memcmp(got, want, len));
		}
	}
	/* In place, as TLS decrypts a record. */
	memcpy(got, in, max);
	ref_chacha20(key, nonce, 7, in, want, max);
	CHECK_EQ(mbedtls_chacha20_crypt(key, nonce, 7, max, got, got), 0);
	CHECK(!memcmp(got, want, max));
	free(in);
	free(want);
	free(got);
}

/* RFC 8439 2.5.2. */
static void test_rfc8439_poly1305(void)
{
	static const char msg[] = "Cryptographic Forum Research Group";
	uint8_t key[32], tag[16], want[16];

	unhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b", key);
	unhex("a8061dc1305136c6c22b8baf0c0127a9", want);
	CHECK_EQ(mbedtls_poly1305_mac(key, (const uint8_t *)msg, 34, tag), 0);
	CHECK(!memcmp(tag, want, 16));
	ref_poly1305(key, (const uint8_t *)msg, 34, tag);
	CHECK(!memcmp(tag, want, 16));
}

/* Long messages, whole and in pieces, against the reference; keys with
 * the largest r the clamp allows and messages of all ones included. */
static void test_poly1305_against_reference(void)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 255, 256, 257, 271, 272,
				       1023, 1024, 1040, 4099, 16384, 16401 };
	size_t max = 16401;
	uint8_t *m = malloc(max), key[32], want[16], got[16];

	for (int kind = 0; kind < 4; kind++) {
		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			size_t len = lens[li];

			for (int i = 0; i < 32; i++)
				key[i] = kind & 1 ? 0xff : (uint8_t)rand();
			for (size_t i = 0; i < len; i++)
				m[i] = kind & 2 ? 0xff : (uint8_t)rand();
			ref_poly1305(key, m, len, want);
			CHECK_EQ(mbedtls_poly1305_mac(key, m, len, got), 0);
			if (memcmp(got, want, 16))
				fprintf(stderr, "  one call: %zu bytes (kind %d) differ\n", len, kind);
			CHECK(!memcmp(got, want, 16));

			mbedtls_poly1305_context ctx;
			size_t off = 0, step = 1 + (len % 89);

			mbedtls_poly1305_init(&ctx);
			CHECK_EQ(mbedtls_poly1305_starts(&ctx, key), 0);
			while (off < len) {
				size_t n = step < len - off ? step : len - off;

				CHECK_EQ(mbedtls_poly1305_update(&ctx, m + off, n), 0);
				off += n;
				step = step * 13 % 2053 + 1;
			}
			CHECK_EQ(mbedtls_poly1305_finish(&ctx, got), 0);
			mbedtls_poly1305_free(&ctx);
			if (memcmp(got, want, 16))
				fprintf(stderr, "  in pieces: %zu bytes (kind %d) differ\n", len, kind);
			CHECK(!memcmp(got, want, 16));
		}
	}
	free(m);
}

int main(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	fprintf(stderr, "vector paths on this CPU: ChaCha20 SSE2%s%s, Poly1305 %s\n",
		__builtin_cpu_supports("avx2") ? " AVX2" : "",
		__builtin_cpu_supports("avx512f") ? " AVX-512F" : "",
		__builtin_cpu_supports("avx2") ? "AVX2" : "none (one block at a time)");
#endif
	UNIT_RUN(test_rfc8439_encrypt);
	UNIT_RUN(test_rfc8439_aead);
	UNIT_RUN(test_chacha20_against_reference);
	UNIT_RUN(test_rfc8439_poly1305);
	UNIT_RUN(test_poly1305_against_reference);
	return unit_done();
}
