/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http_parse.h - strict parsing of the HTTP response fields uloop trusts.
 *
 * Pure functions over untrusted bytes: no allocation, no locale, explicit
 * lengths, overflow-checked.  They are what tests/fuzz feeds.
 */
#ifndef ULOOP_HTTP_PARSE_H
#define ULOOP_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Content-Range of a single-range 206: "bytes FIRST-LAST/TOTAL" (RFC 9110
 * 14.4), optional blanks around the value, case-insensitive unit.  TOTAL
 * must be known ("*" refused) and FIRST <= LAST < TOTAL.  The unsatisfied
 * form "bytes * / TOTAL" (a 416's) sets *@unsatisfied and *@total only.
 * Returns 0 or -EINVAL.
 */
int ulo_http_content_range(const char *v, size_t len, uint64_t *first,
			   uint64_t *last, uint64_t *total, bool *unsatisfied);

/* A decimal header value (Content-Length): 0 or -EINVAL (blanks allowed
 * around, nothing else; overflow refused). */
int ulo_http_uint(const char *v, size_t len, uint64_t *out);

/*
 * Split a raw header line "Name: value\r\n" into name and trimmed value.
 * Returns false for lines that are not a field (status line, blank line,
 * obs-fold continuation, no colon, empty or malformed name).
 */
bool ulo_http_field(const char *line, size_t len, const char **name,
		    size_t *nlen, const char **value, size_t *vlen);

/* Case-insensitive compare of a field name. */
bool ulo_http_name_is(const char *name, size_t nlen, const char *want);

/*
 * An entity-tag (RFC 9110 8.8.3): [ "W/" ] DQUOTE *etagc DQUOTE, etagc
 * being %x21 / %x23-7E / obs-text (no blank, no control character).
 * *@weak tells whether it had the "W/" prefix: a weak tag never serves as
 * a strong validator (If-Match compares strongly).
 */
bool ulo_http_etag_valid(const char *v, size_t len, bool *weak);
/* A valid entity-tag without the "W/" prefix. */
bool ulo_http_etag_strong(const char *v, size_t len);

/*
 * An HTTP-date (RFC 9110 5.6.7): IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
 * GMT"), or one of the obsolete forms a recipient must accept (rfc850:
 * "Sunday, 06-Nov-94 08:49:37 GMT"; asctime: "Sun Nov  6 08:49:37 1994"),
 * exactly: names case-sensitive, fields in range.
 */
bool ulo_http_date_valid(const char *v, size_t len);

/*
 * Retry-After as delay-seconds (the HTTP-date form is treated as "unknown"
 * and returns -1, letting the caller's backoff decide).  Capped at @cap.
 */
long ulo_http_retry_after(const char *v, size_t len, long cap);

#endif
