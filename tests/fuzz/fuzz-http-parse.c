// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-http-parse.c - libFuzzer target for the HTTP fields uloop trusts.
 *
 * Every parser in http_parse.c gets the input (as a field line, as a
 * value), and what a parser accepts is checked against its contract:
 * an accepted Content-Range is ordered and within its total, an accepted
 * field splits inside the input, a strong ETag is quoted.  ASan and UBSan
 * watch the reads.  make fuzz runs it long; make check runs it briefly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: reading one byte past it is an ASan error. */
	char *s = malloc(size ? size : 1);
	const char *name, *value;
	uint64_t a, b, t;
	size_t nlen, vlen;
	bool unsat;

	if (!s)
		return 0;
	memcpy(s, data, size);
	if (!ulo_http_content_range(s, size, &a, &b, &t, &unsat) && !unsat &&
	    !(a <= b && b < t))
		abort();
	if (!ulo_http_uint(s, size, &a) && size == 0)
		abort();
	if (ulo_http_field(s, size, &name, &nlen, &value, &vlen)) {
		if (name != s || !nlen || value < s || value + vlen > s + size ||
		    memchr(name, ':', nlen))
			abort();
		/* What a field yields, the value parsers take too. */
		ulo_http_content_range(value, vlen, &a, &b, &t, &unsat);
		ulo_http_uint(value, vlen, &a);
		ulo_http_retry_after(value, vlen, 3600);
		if (ulo_http_etag_strong(value, vlen) &&
		    (vlen < 2 || value[0] == 'W'))
			abort();
		ulo_http_name_is(name, nlen, "Content-Range");
	}
	if (ulo_http_retry_after(s, size, 3600) > 3600)
		abort();
	free(s);
	return 0;
}
