// SPDX-License-Identifier: GPL-2.0-or-later
/* test-http-parse.c - the validators uloop echoes back to servers. */
#include "http_parse.h"

#include <string.h>

#include "unit.h"

static bool etag(const char *v, bool *weak)
{
	return ulo_http_etag_valid(v, strlen(v), weak);
}

static bool date(const char *v)
{
	return ulo_http_date_valid(v, strlen(v));
}

static void test_etag(void)
{
	bool weak = true;

	CHECK(etag("\"v1\"", &weak) && !weak);
	CHECK(etag("\"\"", &weak) && !weak);
	CHECK(etag(" \"5f2b-1a\" ", &weak) && !weak);
	CHECK(etag("W/\"v1\"", &weak) && weak);
	CHECK(etag("\"\xe9t\xe9\"", &weak));	/* obs-text */
	CHECK(!etag("v1", &weak));		/* unquoted */
	CHECK(!etag("\"v1", &weak));
	CHECK(!etag("\"", &weak));
	CHECK(!etag("w/\"v1\"", &weak));	/* W is case-sensitive */
	CHECK(!etag("W/v1", &weak));
	CHECK(!etag("\"a\"b\"", &weak));
	CHECK(!etag("\"a b\"", &weak));
	CHECK(!etag("\"v1\rX-Injected: yes\"", &weak));
	CHECK(!etag("\"v1\nX\"", &weak));
	CHECK(!etag("\"a\x7f\"", &weak));
	CHECK(!etag("\"a\tb\"", &weak));
	CHECK(!ulo_http_etag_valid("\"a\0b\"", 5, &weak));
	CHECK(ulo_http_etag_strong("\"v1\"", 4));
	CHECK(!ulo_http_etag_strong("W/\"v1\"", 6));
	CHECK(!ulo_http_etag_strong("v1", 2));
}

static void test_date(void)
{
	CHECK(date("Sun, 06 Nov 1994 08:49:37 GMT"));
	CHECK(date("Tue, 01 Oct 2024 00:00:00 GMT"));
	CHECK(date(" Tue, 01 Oct 2024 00:00:00 GMT "));
	CHECK(date("Sunday, 06-Nov-94 08:49:37 GMT"));
	CHECK(date("Sun Nov  6 08:49:37 1994"));
	CHECK(date("Sun Nov 16 08:49:37 1994"));
	CHECK(date("Sat, 31 Dec 2016 23:59:60 GMT"));	/* leap second */

	CHECK(!date(""));
	CHECK(!date("yesterday"));
	CHECK(!date("1727740800"));
	CHECK(!date("Tue, 01 Oct 2024 00:00:00 GMT\rX-Injected: yes"));
	CHECK(!date("Tue, 01 Oct 2024 00:00:00\r GMT"));
	CHECK(!date("Tue, 01 Oct 2024 00:00:00 GMT junk"));
	CHECK(!date("Tue, 01 Oct 2024 00:00:00 UTC"));
	CHECK(!date("tue, 01 Oct 2024 00:00:00 GMT"));
	CHECK(!date("Tue, 1 Oct 2024 00:00:00 GMT"));
	CHECK(!date("Tue, 01 Okt 2024 00:00:00 GMT"));
	CHECK(!date("Tue, 32 Oct 2024 00:00:00 GMT"));
	CHECK(!date("Tue, 00 Oct 2024 00:00:00 GMT"));
	CHECK(!date("Tue, 01 Oct 2024 24:00:00 GMT"));
	CHECK(!date("Tue, 01 Oct 2024 00:60:00 GMT"));
	CHECK(!date("Tue, 01 Oct 24 00:00:00 GMT"));
	CHECK(!date("Tue,01 Oct 2024 00:00:00 GMT"));
	CHECK(!date("Sunday, 06-Nov-1994 08:49:37 GMT"));
	CHECK(!date("Sun Nov 6 08:49:37 1994"));
	CHECK(!ulo_http_date_valid("Tue, 01 Oct 2024 00:00:00 GMT", 20));
	CHECK(!ulo_http_date_valid("Tue, 01 Oct 2024\0 00:00:00 GMT", 30));
}

int main(void)
{
	UNIT_RUN(test_etag);
	UNIT_RUN(test_date);
	return unit_done();
}
