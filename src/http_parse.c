// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * http_parse.c - see http_parse.h.  Every function walks a (pointer,
 * length) pair and never reads past it; a NUL inside a value is just an
 * invalid byte.
 */
#include "http_parse.h"

#include <errno.h>
#include <string.h>

static bool ulo_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void ulo_trim(const char **v, size_t *len)
{
	while (*len && ulo_blank(**v)) {
		(*v)++;
		(*len)--;
	}
	while (*len && ulo_blank((*v)[*len - 1]))
		(*len)--;
}

static char ulo_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Digits at *@p (at least one), advancing it; -EINVAL on overflow/none. */
static int ulo_digits(const char **p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s == end || *s < '0' || *s > '9')
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = *s - '0';

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return 0;
}

int ulo_http_uint(const char *v, size_t len, uint64_t *out)
{
	const char *end;

	ulo_trim(&v, &len);
	end = v + len;
	if (ulo_digits(&v, end, out))
		return -EINVAL;
	return v == end ? 0 : -EINVAL;
}

int ulo_http_content_range(const char *v, size_t len, uint64_t *first,
			   uint64_t *last, uint64_t *total, bool *unsatisfied)
{
	static const char unit[] = "bytes";
	const char *end;

	*unsatisfied = false;
	ulo_trim(&v, &len);
	end = v + len;
	if (len < sizeof(unit))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(unit) - 1; i++)
		if (ulo_lower(v[i]) != unit[i])
			return -EINVAL;
	v += sizeof(unit) - 1;
	if (v == end || *v != ' ')
		return -EINVAL;
	while (v < end && *v == ' ')
		v++;
	if (v < end && *v == '*') {
		v++;
		if (v == end || *v++ != '/' || ulo_digits(&v, end, total) || v != end)
			return -EINVAL;
		*unsatisfied = true;
		return 0;
	}
	if (ulo_digits(&v, end, first) || v == end || *v++ != '-' ||
	    ulo_digits(&v, end, last) || v == end || *v++ != '/' ||
	    ulo_digits(&v, end, total) || v != end)
		return -EINVAL;
	if (*first > *last || *last >= *total)
		return -EINVAL;
	return 0;
}

bool ulo_http_field(const char *line, size_t len, const char **name,
		    size_t *nlen, const char **value, size_t *vlen)
{
	size_t i;

	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	if (!len || ulo_blank(line[0]))
		return false;
	for (i = 0; i < len && line[i] != ':'; i++) {
		char c = line[i];

		/* RFC 9110 token characters only. */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '!' || c == '#' || c == '$' || c == '%' || c == '&' ||
		      c == '\'' || c == '*' || c == '+' || c == '.' || c == '^' ||
		      c == '`' || c == '|' || c == '~'))
			return false;
	}
	if (i == 0 || i == len)
		return false;
	*name = line;
	*nlen = i;
	*value = line + i + 1;
	*vlen = len - i - 1;
	ulo_trim(value, vlen);
	return true;
}

bool ulo_http_name_is(const char *name, size_t nlen, const char *want)
{
	size_t i;

	for (i = 0; i < nlen; i++)
		if (!want[i] || ulo_lower(name[i]) != ulo_lower(want[i]))
			return false;
	return want[i] == '\0';
}

bool ulo_http_etag_valid(const char *v, size_t len, bool *weak)
{
	ulo_trim(&v, &len);
	*weak = len >= 2 && v[0] == 'W' && v[1] == '/';
	if (*weak) {
		v += 2;
		len -= 2;
	}
	if (len < 2 || v[0] != '"' || v[len - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		unsigned char c = v[i];

		/* etagc = %x21 / %x23-7E / obs-text */
		if (c == '"' || c < 0x21 || c == 0x7f)
			return false;
	}
	return true;
}

bool ulo_http_etag_strong(const char *v, size_t len)
{
	bool weak;

	return ulo_http_etag_valid(v, len, &weak) && !weak;
}

/* The @n-character word at *@p, one of @words (each @n long, packed);
 * its index, or -1.  Case-sensitive, as RFC 9110 5.6.7 says. */
static int ulo_word(const char **p, const char *end, const char *words,
		    size_t count, size_t n)
{
	if ((size_t)(end - *p) < n)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (!memcmp(*p, words + i * n, n)) {
			*p += n;
			return (int)i;
		}
	return -1;
}

/* Exactly @n digits (a leading blank instead of a zero when @blank), at
 * most @max. */
static bool ulo_num(const char **p, const char *end, size_t n, bool blank,
		    unsigned max, unsigned min)
{
	unsigned v = 0;

	if ((size_t)(end - *p) < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = (*p)[i];

		if (blank && i == 0 && c == ' ')
			continue;
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (unsigned)(c - '0');
	}
	*p += n;
	return v >= min && v <= max;
}

static bool ulo_lit(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *p) < n || memcmp(*p, lit, n))
		return false;
	*p += n;
	return true;
}

/* time-of-day = hour ":" minute ":" second (a leap second allowed). */
static bool ulo_tod(const char **p, const char *end)
{
	return ulo_num(p, end, 2, false, 23, 0) && ulo_lit(p, end, ":") &&
	       ulo_num(p, end, 2, false, 59, 0) && ulo_lit(p, end, ":") &&
	       ulo_num(p, end, 2, false, 60, 0);
}

bool ulo_http_date_valid(const char *v, size_t len)
{
	static const char days[] = "MonTueWedThuFriSatSun";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const char *const long_days[] = {
		"Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
		"Saturday", "Sunday",
	};
	const char *p, *end;

	ulo_trim(&v, &len);
	p = v;
	end = v + len;
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	if (ulo_word(&p, end, days, 7, 3) >= 0 && ulo_lit(&p, end, ", "))
		return ulo_num(&p, end, 2, false, 31, 1) && ulo_lit(&p, end, " ") &&
		       ulo_word(&p, end, months, 12, 3) >= 0 && ulo_lit(&p, end, " ") &&
		       ulo_num(&p, end, 4, false, 9999, 0) && ulo_lit(&p, end, " ") &&
		       ulo_tod(&p, end) && ulo_lit(&p, end, " GMT") && p == end;
	/* asctime-date: "Sun Nov  6 08:49:37 1994" */
	p = v;
	if (ulo_word(&p, end, days, 7, 3) >= 0 && ulo_lit(&p, end, " "))
		return ulo_word(&p, end, months, 12, 3) >= 0 && ulo_lit(&p, end, " ") &&
		       ulo_num(&p, end, 2, true, 31, 1) && ulo_lit(&p, end, " ") &&
		       ulo_tod(&p, end) && ulo_lit(&p, end, " ") &&
		       ulo_num(&p, end, 4, false, 9999, 0) && p == end;
	/* rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT" */
	for (size_t i = 0; i < 7; i++) {
		p = v;
		if (ulo_lit(&p, end, long_days[i]) && ulo_lit(&p, end, ", "))
			return ulo_num(&p, end, 2, false, 31, 1) && ulo_lit(&p, end, "-") &&
			       ulo_word(&p, end, months, 12, 3) >= 0 &&
			       ulo_lit(&p, end, "-") &&
			       ulo_num(&p, end, 2, false, 99, 0) && ulo_lit(&p, end, " ") &&
			       ulo_tod(&p, end) && ulo_lit(&p, end, " GMT") && p == end;
	}
	return false;
}

long ulo_http_retry_after(const char *v, size_t len, long cap)
{
	uint64_t s;

	if (ulo_http_uint(v, len, &s))
		return -1;
	return s > (uint64_t)cap ? cap : (long)s;
}
