/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * json.h - a minimal streaming JSON writer for --json output.
 *
 * Commas and nesting are tracked here so callers write keys and values in
 * order and cannot produce invalid JSON; strings are escaped per RFC 8259.
 */
#ifndef ULOOP_JSON_H
#define ULOOP_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define ULO_JSON_DEPTH 16

struct ulo_json {
	FILE *f;
	int depth;
	bool need_comma[ULO_JSON_DEPTH];
};

void ulo_json_init(struct ulo_json *j, FILE *f);
/* @key is NULL inside arrays and for the top level. */
void ulo_json_obj_begin(struct ulo_json *j, const char *key);
void ulo_json_obj_end(struct ulo_json *j);
void ulo_json_arr_begin(struct ulo_json *j, const char *key);
void ulo_json_arr_end(struct ulo_json *j);
void ulo_json_str(struct ulo_json *j, const char *key, const char *v);
void ulo_json_u64(struct ulo_json *j, const char *key, uint64_t v);
void ulo_json_double(struct ulo_json *j, const char *key, double v);
void ulo_json_bool(struct ulo_json *j, const char *key, bool v);
/* Ends the document with a newline. */
void ulo_json_done(struct ulo_json *j);

#endif
