// SPDX-License-Identifier: GPL-2.0-or-later
/* json.c - see json.h. */
#include "json.h"

#include <inttypes.h>

void ulo_json_init(struct ulo_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->need_comma[0] = false;
}

static void ulo_json_escaped(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void ulo_json_key(struct ulo_json *j, const char *key)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
	if (key) {
		ulo_json_escaped(j->f, key);
		fputc(':', j->f);
	}
}

static void ulo_json_open(struct ulo_json *j, const char *key, char ch)
{
	ulo_json_key(j, key);
	fputc(ch, j->f);
	if (j->depth + 1 < ULO_JSON_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

void ulo_json_obj_begin(struct ulo_json *j, const char *key)
{
	ulo_json_open(j, key, '{');
}

void ulo_json_obj_end(struct ulo_json *j)
{
	fputc('}', j->f);
	if (j->depth)
		j->depth--;
}

void ulo_json_arr_begin(struct ulo_json *j, const char *key)
{
	ulo_json_open(j, key, '[');
}

void ulo_json_arr_end(struct ulo_json *j)
{
	fputc(']', j->f);
	if (j->depth)
		j->depth--;
}

void ulo_json_str(struct ulo_json *j, const char *key, const char *v)
{
	ulo_json_key(j, key);
	ulo_json_escaped(j->f, v ? v : "");
}

void ulo_json_u64(struct ulo_json *j, const char *key, uint64_t v)
{
	ulo_json_key(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void ulo_json_double(struct ulo_json *j, const char *key, double v)
{
	ulo_json_key(j, key);
	fprintf(j->f, "%.6g", v);
}

void ulo_json_bool(struct ulo_json *j, const char *key, bool v)
{
	ulo_json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

void ulo_json_done(struct ulo_json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}
