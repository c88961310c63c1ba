// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-url.c - libFuzzer target for what uloop does with URLs a server
 * sends or a command line names: the redirect's Location resolved
 * against the URL it came from (ulo_http_redirect_target, libcurl's URL
 * API underneath), the response head as libcurl hands it over line by
 * line (ulo_http_header_cb: Location, Content-Range, ETag... kept whole
 * or refused), the IP-literal test that decides how a certificate is
 * checked (ulo_http_ip_literal), and the identity's "same URL but for
 * its query" rule (ulo_identity_at).
 *
 * The first byte picks the target and flags, the rest is split at NULs
 * into strings.  Contracts, each an abort when broken:
 *  - a redirect accepted leads to http:// or https://, never from https
 *    to http unless allowed, fits the buffer, holds no control character
 *    or blank (it becomes a request line), and resolving it against
 *    itself gives it again (the next hop starts from it);
 *  - the header callback returns the line's length or 0, and 0 only with
 *    a reason (bad_header, headers_too_big); every value kept is
 *    NUL-terminated within its field and holds no control character
 *    but a tab; a new status line forgets the last response's fields;
 *  - an IP literal round-trips through inet_ntop;
 *  - a location is always its own identity's (reflexive), and an ETag
 *    identity ignores the query but nothing else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "contract broken: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

static bool clean(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool value_ok(const char *v, size_t cap)
{
	const char *z = memchr(v, 0, cap);

	if (!z)
		return false;
	for (; v < z; v++)
		if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
			return false;
	return true;
}

static void fuzz_redirect(unsigned flags, const char *cur, const char *loc)
{
	char out[ULO_HTTP_URL_MAX], again[ULO_HTTP_URL_MAX], why[512 + 2 * ULO_HTTP_URL_MAX];
	size_t cap = flags & 2 ? 64 : sizeof(out);
	bool down = flags & 1;
	int r;

	r = ulo_http_redirect_target(cur, loc, down, out, cap, why, sizeof(why));
	if (r) {
		CHECK(r == -EPROTO && why[0]);
		return;
	}
	CHECK(strlen(out) < cap);
	CHECK(!strncasecmp(out, "http://", 7) || !strncasecmp(out, "https://", 8));
	CHECK(down || strncasecmp(cur, "https://", 8) || strncasecmp(out, "http://", 7));
	CHECK(clean(out));
	r = ulo_http_redirect_target(out, out, down, again, sizeof(again), why, sizeof(why));
	CHECK(r == 0 && !strcmp(again, out));
}

static void fuzz_headers(const uint8_t *d, size_t n)
{
	struct ulo_http_req *r = calloc(1, sizeof(*r));
	bool status;
	size_t i = 0;

	if (!r)
		return;
	r->retry_after = -1;
	while (i < n) {
		const uint8_t *nl = memchr(d + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (d + i)) + 1 : n - i, ret;
		char *line = malloc(len);	/* exact size, as libcurl's is not NUL-terminated */

		if (!line)
			break;
		memcpy(line, d + i, len);
		status = len >= 5 && !memcmp(line, "HTTP/", 5);
		r->bad_header[0] = '\0';
		ret = ulo_http_header_cb(line, 1, len, r);
		free(line);
		CHECK(ret == len || ret == 0);
		CHECK(value_ok(r->location, sizeof(r->location)));
		CHECK(value_ok(r->etag, sizeof(r->etag)));
		CHECK(value_ok(r->content_range, sizeof(r->content_range)));
		CHECK(value_ok(r->content_type, sizeof(r->content_type)));
		CHECK(value_ok(r->content_encoding, sizeof(r->content_encoding)));
		CHECK(value_ok(r->last_modified, sizeof(r->last_modified)));
		CHECK(r->retry_after >= -1 && r->retry_after <= 3600);
		CHECK(!r->has_location || r->location[0] || len);
		if (!ret) {
			CHECK(r->bad_header[0] || r->headers_too_big);
			break;
		}
		/* A new response (status line) forgets the last one's fields. */
		if (status)
			CHECK(!r->seen && !r->has_location && !r->has_etag &&
			      !r->has_content_range && !r->location[0]);
		i += len;
	}
	free(r);
}

static void fuzz_ip(const char *host)
{
	uint8_t a[16], b[16];
	char txt[INET6_ADDRSTRLEN + 2], br[INET6_ADDRSTRLEN + 4];
	size_t alen = 0, blen = 0;

	if (!ulo_http_ip_literal(host, a, &alen))
		return;
	CHECK(alen == 4 || alen == 16);
	CHECK(inet_ntop(alen == 4 ? AF_INET : AF_INET6, a, txt, sizeof(txt)));
	if (alen == 16)
		snprintf(br, sizeof(br), "[%s]", txt);
	else
		snprintf(br, sizeof(br), "%s", txt);
	CHECK(ulo_http_ip_literal(br, b, &blen) && blen == alen && !memcmp(a, b, alen));
}

static void fuzz_identity(const char *a, const char *b)
{
	struct ulo_identity *id = calloc(1, sizeof(*id));
	size_t qa = strcspn(a, "?#"), qb = strcspn(b, "?#");

	if (!id)
		return;
	if (strlen(a) >= sizeof(id->location))
		goto out;
	strcpy(id->location, a);
	for (int k = ULO_ID_NONE; k <= ULO_ID_KIND_MAX; k++) {
		id->kind = k;
		CHECK(ulo_identity_at(id, a));
		if (k == ULO_ID_HTTP_ETAG)
			CHECK(ulo_identity_at(id, b) == (qa == qb && !strncmp(a, b, qa)));
		else if (k != ULO_ID_VERITY)
			CHECK(ulo_identity_at(id, b) == !strcmp(a, b));
	}
out:
	free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *a, *b;

	if (!size)
		return 0;
	if (data[0] % 4 == 1) {
		fuzz_headers(data + 1, size - 1);
		return 0;
	}
	/* Two NUL-terminated strings: the input up to its first NUL, and
	 * what follows it. */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	s[size] = '\0';
	a = s;
	b = s + strlen(s) + 1;
	if (b > s + size)
		b = s + size;
	switch (data[0] % 4) {
	case 0:
		fuzz_redirect(data[0] >> 2, a, b);
		break;
	case 2:
		fuzz_ip(a);
		break;
	case 3:
		fuzz_identity(a, b);
		break;
	}
	free(s);
	return 0;
}
