// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-options.c - libFuzzer target for the C side of the command line:
 * the values the boot library passes from rd.uloop.* to `uloop attach`
 * (rd.uloop.hydrate=RATE[,jitter=S] becomes --hydrate=, sizes such as
 * --rate and --readahead), parsed by ulo_parse_hydrate and ulo_parse_size.
 * The kernel's tokenisation and the shell parser are tested apart
 * (tests/integ/test-kcmdline.sh); this is what uloop makes of a value.
 *
 * Contracts, each an abort when broken:
 *  - ulo_parse_size accepts exactly DIGITS[UNIT[i][B]] (UNIT one of
 *    KMGTPE, any case) whose value fits 64 bits, and gives that value
 *    (computed here independently, in 128 bits);
 *  - ulo_parse_hydrate accepts exactly "", "max", SIZE, or one of those
 *    (or nothing) followed by ",jitter=DIGITS" up to 86400, with that
 *    rate and jitter;
 *  - a value the boot library's check lets through (uloop_rate_ok in
 *    initramfs/lib/cmdline.sh, transcribed below) is one uloop attach
 *    takes: a boot never passes the check and then fails on --hydrate.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "contract broken: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

/* The size grammar, decided here without strtoull. */
static bool oracle_size(const char *s, uint64_t *out)
{
	size_t d = strspn(s, "0123456789");
	unsigned __int128 v = 0;
	const char *u = s + d, *units = "KMGTPE", *p;
	int shift = 0;

	if (!d)
		return false;
	for (size_t i = 0; i < d; i++) {
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > UINT64_MAX)
			return false;
	}
	if (*u) {
		char c = *u >= 'a' && *u <= 'z' ? (char)(*u - 32) : *u;

		p = strchr(units, c);
		if (!p || !c)
			return false;
		shift = 10 * (int)(p - units + 1);
		u++;
		if (*u == 'i' || *u == 'I')
			u++;
		if (*u == 'b' || *u == 'B')
			u++;
		if (*u)
			return false;
	}
	v <<= shift;
	if (v > UINT64_MAX)
		return false;
	*out = (uint64_t)v;
	return true;
}

/* uloop_rate_ok of cmdline.sh, transcribed: what the boot's check lets
 * through. */
static bool sh_rate_ok(const char *s)
{
	const char *comma = strchr(s, ',');
	size_t rl = comma ? (size_t)(comma - s) : strlen(s);

	if (comma) {
		const char *j = comma + 1;

		if (strncmp(j, "jitter=", 7) || !all_digits(j + 7, strlen(j + 7)))
			return false;
		/* At most 5 digits, at most 86400. */
		if (strlen(j + 7) > 5 || strtoul(j + 7, NULL, 10) > 86400)
			return false;
	}
	if (rl == 3 && !strncmp(s, "max", 3))
		return true;
	if (!rl)
		return comma != NULL;
	if (strchr("kKmMgG", s[rl - 1])) {
		/* A suffix: at most 9 digits before it. */
		return rl - 1 <= 9 && all_digits(s, rl - 1);
	}
	return rl <= 18 && all_digits(s, rl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t a, b, rate;
	unsigned jit;
	int r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	r = ulo_parse_size(s, &a);
	if (memchr(data, 0, size))	/* the C string ends early: judged as such */
		size = strlen(s);
	CHECK(!r == oracle_size(s, &b));
	CHECK(r || a == b);

	r = ulo_parse_hydrate(s, &rate, &jit);
	{
		const char *comma = strchr(s, ',');
		size_t rl = comma ? (size_t)(comma - s) : strlen(s);
		char head[64];
		bool ok = true;
		uint64_t want_rate = 0;
		unsigned long want_jit = 0;

		if (strlen(s) >= 64)
			ok = false;
		else {
			memcpy(head, s, rl);
			head[rl] = '\0';
			if (comma) {
				const char *j = comma + 1;

				ok = !strncmp(j, "jitter=", 7) && all_digits(j + 7, strlen(j + 7)) &&
				     oracle_size(j + 7, &b) && b <= 86400 &&
				     !strpbrk(j + 7, "KMGTPEkmgtpeiIbB");
				want_jit = ok ? (unsigned long)b : 0;
			}
			if (ok && rl && strcmp(head, "max"))
				ok = oracle_size(head, &want_rate);
			if (ok && !rl && !comma && *s)
				ok = false;
		}
		CHECK(!r == ok);
		if (!r) {
			CHECK(rate == want_rate && jit == want_jit && jit <= 86400);
		}
		/* What the boot's check passes, uloop takes. */
		if (sh_rate_ok(s))
			CHECK(!r);
	}
	free(s);
	return 0;
}
