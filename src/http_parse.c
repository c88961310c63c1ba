// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * http_parse.c - see http_parse.h.  Every function walks a (pointer,
 * length) pair and never reads past it; a NUL inside a value is just an
 * invalid byte.
 */
#include "http_parse.h"

#include <errno.h>

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

bool ulo_http_etag_strong(const char *v, size_t len)
{
	ulo_trim(&v, &len);
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

long ulo_http_retry_after(const char *v, size_t len, long cap)
{
	uint64_t s;

	if (ulo_http_uint(v, len, &s))
		return -1;
	return s > (uint64_t)cap ? cap : (long)s;
}
