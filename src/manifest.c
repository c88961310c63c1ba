// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * manifest.c - the manifest's text format (see manifest.h): written in
 * one fixed order, and read back only in that order, so that the bytes a
 * signature covers have one meaning.  Anything else (an unknown or
 * missing line, a value out of range, a file name with a '/') is refused
 * with the line and the cause.
 */
#include "manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static bool ulo_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* A plain file name of the manifest's directory: publish's characters
 * only, so no '/', no "..", nothing a URL would need to escape. */
static bool ulo_file_name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ulo_name_char(s[i]))
			return false;
	return true;
}

bool ulo_manifest_name_ok(const char *s)
{
	return ulo_file_name_ok(s, ULO_MANIFEST_NAME_MAX);
}

bool ulo_manifest_file_ok(const char *s)
{
	return ulo_file_name_ok(s, ULO_MANIFEST_FILE_MAX - 1);
}

int ulo_manifest_format(const struct ulo_manifest *m, char *buf, size_t cap)
{
	char salt[2 * ULO_VERITY_MAX_SALT + 1], root[2 * ULO_SHA256_LEN + 1];
	int n;

	ulo_hex(m->vp.salt, m->vp.salt_size, salt);
	ulo_hex(m->root, ULO_SHA256_LEN, root);
	n = snprintf(buf, cap,
		     ULO_MANIFEST_MAGIC "\n"
		     "name %s\n"
		     "version %" PRIu64 "\n"
		     "created %s\n"
		     "image %s\n"
		     "size %" PRIu64 "\n"
		     "data-block-size %" PRIu32 "\n"
		     "hash-block-size %" PRIu32 "\n"
		     "hash sha256\n"
		     "salt %s\n"
		     "root-hash %s\n"
		     "hash-tree %s\n",
		     m->name, m->version, m->created, m->image, m->size,
		     m->vp.data_block_size, m->vp.hash_block_size, salt, root,
		     m->hash_tree);
	for (unsigned i = 0; n >= 0 && (size_t)n < cap && i < m->nseeds; i++) {
		int k;

		ulo_hex(m->seeds[i].root, ULO_SHA256_LEN, root);
		k = snprintf(buf + n, cap - (size_t)n, "seed %" PRIu64 " %s %s\n",
			     m->seeds[i].version, root, m->seeds[i].file);
		n = k < 0 ? k : n + k;
	}
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

/* "YYYY-MM-DDTHH:MM:SSZ", digits where digits go. */
static bool ulo_created_ok(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	return true;
}

static bool ulo_u32_pow2(const char *v, uint32_t *out)
{
	const char *end;
	uint64_t x;

	if (!ulo_parse_u64(v, &x, &end) || *end || x < 512 || x > (1u << 20) ||
	    (x & (x - 1)))
		return false;
	*out = (uint32_t)x;
	return true;
}

/* "VERSION ROOTHEX FILE" of a seed line into the next of @m's seeds:
 * NULL, or why not. */
static const char *ulo_manifest_seed(const char *v, struct ulo_manifest *m)
{
	struct ulo_manifest_seed *s = &m->seeds[m->nseeds];
	char hex[2 * ULO_SHA256_LEN + 1];
	const char *end;

	if (m->nseeds == ULO_MANIFEST_MAX_SEEDS)
		return "more seed lines than a manifest may have (8)";
	if (!ulo_parse_u64(v, &s->version, &end) || *end != ' ' || !s->version ||
	    s->version >= m->version)
		return "not \"seed VERSION ROOTHASH FILE\" with an older version";
	v = end + 1;
	if (strlen(v) < 2 * ULO_SHA256_LEN + 2 || v[2 * ULO_SHA256_LEN] != ' ')
		return "not \"seed VERSION ROOTHASH FILE\" with 64 hex digits";
	memcpy(hex, v, 2 * ULO_SHA256_LEN);
	hex[2 * ULO_SHA256_LEN] = '\0';
	if (ulo_unhex(hex, s->root, ULO_SHA256_LEN))
		return "not \"seed VERSION ROOTHASH FILE\" with 64 hex digits";
	v += 2 * ULO_SHA256_LEN + 1;
	if (!ulo_file_name_ok(v, sizeof(s->file) - 1))
		return "the seed map is not a file name of the manifest's directory";
	snprintf(s->file, sizeof(s->file), "%s", v);
	m->nseeds++;
	return NULL;
}

int ulo_manifest_parse(const char *text, size_t len, const char *what,
		       struct ulo_manifest *out)
{
	static const char *const keys[] = {
		"name", "version", "created", "image", "size", "data-block-size",
		"hash-block-size", "hash", "salt", "root-hash", "hash-tree",
	};
	char line[1024];
	const char *why = NULL, *end;
	size_t pos = 0, start;
	bool bad, got;
	unsigned lineno = 1;

	memset(out, 0, sizeof(*out));
	if (len > ULO_MANIFEST_MAX_FILE)
		return ulo_err(-EINVAL, "%s: %zu bytes, larger than any manifest (%d KiB at most)",
			       what, len, ULO_MANIFEST_MAX_FILE >> 10);
	if (!ulo_next_line(text, len, &pos, line, sizeof(line), &bad) ||
	    strcmp(line, ULO_MANIFEST_MAGIC))
		return ulo_err(-EINVAL, "%s: not a uloop manifest (no \"%s\" line first)",
			       what, ULO_MANIFEST_MAGIC);
	for (size_t k = 0; k < ULO_ARRAY_SIZE(keys); k++) {
		size_t kl = strlen(keys[k]);
		const char *v = line + kl + 1;
		uint64_t x;

		lineno++;
		if (!ulo_next_line(text, len, &pos, line, sizeof(line), &bad)) {
			why = bad ? "a line too long, with a NUL, or cut short" : "the file ends early";
			goto refuse;
		}
		if (strncmp(line, keys[k], kl) || line[kl] != ' ') {
			why = "not the line expected here";
			goto refuse_key;
		}
		switch (k) {
		case 0:
			if (!ulo_manifest_name_ok(v))
				why = "not a name of 1 to 64 letters, digits, '.', '_' or '-'";
			else
				snprintf(out->name, sizeof(out->name), "%s", v);
			break;
		case 1:
			if (!ulo_parse_u64(v, &out->version, &end) || *end || !out->version)
				why = "not a version number from 1";
			break;
		case 2:
			if (!ulo_created_ok(v))
				why = "not a UTC time as YYYY-MM-DDTHH:MM:SSZ";
			else
				snprintf(out->created, sizeof(out->created), "%s", v);
			break;
		case 3:
		case 10:
			if (!ulo_file_name_ok(v, sizeof(out->image) - 1))
				why = "not a file name of the manifest's directory";
			else
				snprintf(k == 3 ? out->image : out->hash_tree,
					 sizeof(out->image), "%s", v);
			break;
		case 4:
			if (!ulo_parse_u64(v, &out->size, &end) || *end || !out->size)
				why = "not a size in bytes";
			break;
		case 5:
			if (!ulo_u32_pow2(v, &out->vp.data_block_size))
				why = "not a power of two from 512 to 1048576";
			break;
		case 6:
			if (!ulo_u32_pow2(v, &out->vp.hash_block_size))
				why = "not a power of two from 512 to 1048576";
			break;
		case 7:
			if (strcmp(v, "sha256"))
				why = "only sha256 is known";
			break;
		case 8:
			x = strlen(v) / 2;
			if (x > ULO_VERITY_MAX_SALT || ulo_unhex(v, out->vp.salt, x))
				why = "not a salt in hex, 256 bytes at most";
			else
				out->vp.salt_size = (uint16_t)x;
			break;
		case 9:
			if (ulo_unhex(v, out->root, ULO_SHA256_LEN))
				why = "not 64 hex digits";
			break;
		}
		if (why)
			goto refuse_key;
	}
	if (out->size % out->vp.data_block_size) {
		lineno = 6;
		why = "not a multiple of data-block-size";
		goto refuse_key;
	}
	out->vp.data_blocks = out->size / out->vp.data_block_size;
	for (;;) {
		start = pos;
		lineno++;
		got = ulo_next_line(text, len, &pos, line, sizeof(line), &bad);
		if (!got || strncmp(line, "seed ", 5))
			break;
		why = ulo_manifest_seed(line + 5, out);
		if (why)
			goto refuse;
	}
	if (got) {
		char alg[32], b64[sizeof(line)];
		int n;

		if (sscanf(line, "signature %31s %1023s", alg, b64) != 2 ||
		    strlen(line) != strlen("signature ") + strlen(alg) + 1 + strlen(b64)) {
			why = "not \"signature ALGORITHM BASE64\"";
			goto refuse;
		}
		n = ulo_unbase64(b64, out->sig, sizeof(out->sig));
		if (n <= 0) {
			why = "the signature is not base64 of at most 160 bytes";
			goto refuse;
		}
		snprintf(out->sig_alg, sizeof(out->sig_alg), "%s", alg);
		out->sig_len = (size_t)n;
		out->signed_len = start;
		lineno++;
		if (ulo_next_line(text, len, &pos, line, sizeof(line), &bad) || bad) {
			why = "more after the signature";
			goto refuse;
		}
	} else if (bad) {
		why = "a line too long, with a NUL, or cut short";
		goto refuse;
	}
	return 0;
refuse_key:
	return ulo_err(-EINVAL, "%s: line %u (%s): %s", what, lineno,
		       lineno - 2 < ULO_ARRAY_SIZE(keys) ? keys[lineno - 2] : "?", why);
refuse:
	return ulo_err(-EINVAL, "%s: line %u: %s", what, lineno, why);
}

static const char ulo_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void ulo_base64(const uint8_t *b, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0) |
			     (i + 2 < n ? b[i + 2] : 0);

		out[o++] = ulo_b64[v >> 18];
		out[o++] = ulo_b64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? ulo_b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? ulo_b64[v & 63] : '=';
	}
	out[o] = '\0';
}

int ulo_unbase64(const char *s, uint8_t *out, size_t cap)
{
	size_t len = strlen(s), n = 0;

	if (!len || len % 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		int pad = 0;

		for (int j = 0; j < 4; j++) {
			const char *c = s[i + j] ? strchr(ulo_b64, s[i + j]) : NULL;

			if (s[i + j] == '=' && i + 4 == len && j >= 2 &&
			    (j == 3 || s[i + 3] == '=')) {
				pad++;
				v <<= 6;
				continue;
			}
			if (!c || pad)
				return -EINVAL;
			v = v << 6 | (uint32_t)(c - ulo_b64);
		}
		for (int j = 0; j < 3 - pad; j++) {
			if (n == cap)
				return -EINVAL;
			out[n++] = (uint8_t)(v >> (16 - 8 * j));
		}
	}
	return (int)n;
}
