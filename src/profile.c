// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * profile.c - see profile.h.
 *
 * The parser is strict: the profile may come from a server, and a line it
 * does not understand means it was written by something else (or cut
 * short), so the whole file is refused and the attach goes on without it.
 * Extents past the image's end are refused too: a profile never makes the
 * daemon fetch what is not in the image.
 */
#include "profile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int ulo_profile_rec_init(struct ulo_profile_rec *r, uint64_t image_size,
			 uint64_t unit)
{
	memset(r, 0, sizeof(*r));
	r->unit = unit;
	r->nunits = ULO_DIV_ROUND_UP(image_size, unit);
	r->t0_ns = ulo_now_ns();
	if (ulo_bitmap_init(&r->seen, r->nunits))
		return ulo_errno(-ENOMEM, "boot profile: bitmap of %" PRIu64 " blocks",
				 r->nunits);
	pthread_mutex_init(&r->lock, NULL);
	return 0;
}

static bool ulo_rec_append(struct ulo_profile_rec *r, uint64_t u, uint64_t ms)
{
	struct ulo_extent *last = r->n ? &r->ext[r->n - 1] : NULL;

	if (last && last->start + last->n == u) {
		last->n++;
		return true;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct ulo_extent *x;

		if (cap > ULO_PROFILE_MAX_EXTENTS)
			cap = ULO_PROFILE_MAX_EXTENTS;
		if (r->n == cap)
			return false;
		x = realloc(r->ext, cap * sizeof(*x));
		if (!x)
			return false;
		r->ext = x;
		r->cap = cap;
	}
	r->ext[r->n].start = u;
	r->ext[r->n].n = 1;
	r->ext[r->n].ms = ms;
	r->n++;
	return true;
}

void ulo_profile_rec_note(struct ulo_profile_rec *r, uint64_t first, uint64_t n)
{
	uint64_t ms;

	if (!r->unit)
		return;
	ms = (ulo_now_ns() - r->t0_ns) / 1000000;
	pthread_mutex_lock(&r->lock);
	for (uint64_t u = first; u < first + n && u < r->nunits && !r->full; u++) {
		if (ulo_bitmap_test(&r->seen, u))
			continue;
		if (!ulo_rec_append(r, u, ms)) {
			/* Out of room: the order recorded so far stays good. */
			r->full = true;
			break;
		}
		ulo_bitmap_set(&r->seen, u);
		r->generation++;
	}
	pthread_mutex_unlock(&r->lock);
}

int ulo_profile_rec_snapshot(struct ulo_profile_rec *r,
			     const struct ulo_identity *id,
			     struct ulo_profile *out)
{
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->size = id->size;
	out->kind = id->kind;
	snprintf(out->validator, sizeof(out->validator), "%s", id->validator);
	out->unit = r->unit;
	pthread_mutex_lock(&r->lock);
	if (r->n) {
		out->ext = malloc(r->n * sizeof(*out->ext));
		if (out->ext) {
			memcpy(out->ext, r->ext, r->n * sizeof(*out->ext));
			out->n = r->n;
		} else {
			ret = ulo_errno(-ENOMEM, "boot profile: copy of %zu extents", r->n);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void ulo_profile_rec_free(struct ulo_profile_rec *r)
{
	if (!r->unit)
		return;
	ulo_bitmap_free(&r->seen);
	free(r->ext);
	pthread_mutex_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

/* A validator is quoted: it is server text (an ETag holds quotes and may
 * hold spaces); '"' and '\\' are escaped. */
static void ulo_put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int ulo_profile_write(const struct ulo_profile *p, bool times, FILE *f)
{
	fprintf(f, "%s\nsize %" PRIu64 "\nvalidator %s ", ULO_PROFILE_MAGIC,
		p->size, ulo_id_kind_name(p->kind));
	ulo_put_quoted(f, p->validator);
	fprintf(f, "\nunit %" PRIu64 "\nextents %zu\n", p->unit, p->n);
	for (size_t i = 0; i < p->n; i++) {
		fprintf(f, "%" PRIu64 " %" PRIu64, p->ext[i].start, p->ext[i].n);
		if (times)
			fprintf(f, " %" PRIu64, p->ext[i].ms);
		fputc('\n', f);
	}
	if (fflush(f) || ferror(f))
		return ulo_errno(-errno ? -errno : -EIO, "writing the boot profile");
	return 0;
}

static enum ulo_id_kind ulo_kind_by_name(const char *name)
{
	for (int k = 1; k <= ULO_ID_KIND_MAX; k++)
		if (!strcmp(ulo_id_kind_name(k), name))
			return k;
	return ULO_ID_NONE;
}

/* `validator KIND "TEXT"` */
static bool ulo_parse_validator(const char *s, struct ulo_profile *p)
{
	char kind[32];
	size_t i = 0, o = 0;

	while (*s && *s != ' ' && i + 1 < sizeof(kind))
		kind[i++] = *s++;
	kind[i] = '\0';
	p->kind = ulo_kind_by_name(kind);
	if (p->kind == ULO_ID_NONE || *s++ != ' ' || *s++ != '"')
		return false;
	for (; *s && *s != '"'; s++) {
		if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
			s++;
		if (o + 1 >= sizeof(p->validator))
			return false;
		p->validator[o++] = *s;
	}
	p->validator[o] = '\0';
	return *s == '"' && s[1] == '\0';
}

int ulo_profile_parse(const char *text, size_t len, const char *what,
		      struct ulo_profile *out)
{
	static const char *const keys[] = { "size ", "validator ", "unit ", "extents " };
	char line[ULO_ID_VALIDATOR_MAX * 2 + 64];
	uint64_t count = 0, v = 0;
	size_t pos = 0, lineno = 0;
	const char *end;
	bool bad;

	memset(out, 0, sizeof(*out));
	if (!ulo_next_line(text, len, &pos, line, sizeof(line), &bad) ||
	    strcmp(line, ULO_PROFILE_MAGIC))
		return ulo_err(-EINVAL, "%s: not a boot profile (no \"%s\" line first)",
			       what, ULO_PROFILE_MAGIC);
	lineno = 1;
	for (size_t k = 0; k < ULO_ARRAY_SIZE(keys); k++) {
		size_t kl = strlen(keys[k]);
		bool ok;

		lineno++;
		if (!ulo_next_line(text, len, &pos, line, sizeof(line), &bad) ||
		    strncmp(line, keys[k], kl))
			goto bad_line;
		if (k == 1) {
			ok = ulo_parse_validator(line + kl, out);
		} else {
			ok = ulo_parse_u64(line + kl, &v, &end) && !*end;
			if (k == 0)
				out->size = v;
			else if (k == 2)
				out->unit = v;
			else
				count = v;
		}
		if (!ok)
			goto bad_line;
	}
	if (out->unit < 512 || out->unit > (1u << 30) || (out->unit & (out->unit - 1)))
		return ulo_err(-EINVAL, "%s: line 4: unit %" PRIu64 " is not a power of two from 512 to 1G",
			       what, out->unit);
	if (count > ULO_PROFILE_MAX_EXTENTS)
		return ulo_err(-EINVAL, "%s: line 5: %" PRIu64 " extents, at most %d",
			       what, count, ULO_PROFILE_MAX_EXTENTS);
	out->ext = count ? malloc(count * sizeof(*out->ext)) : NULL;
	if (count && !out->ext)
		return ulo_errno(-ENOMEM, "%s: %" PRIu64 " extents", what, count);
	for (uint64_t i = 0; i < count; i++) {
		uint64_t units = ULO_DIV_ROUND_UP(out->size, out->unit);
		struct ulo_extent *x = &out->ext[i];

		lineno++;
		if (!ulo_next_line(text, len, &pos, line, sizeof(line), &bad))
			goto short_file;
		x->ms = 0;
		if (!ulo_parse_u64(line, &x->start, &end) || *end != ' ' ||
		    !ulo_parse_u64(end + 1, &x->n, &end) || !x->n ||
		    (*end == ' ' && (!ulo_parse_u64(end + 1, &x->ms, &end))) || *end)
			goto bad_line;
		if (x->start >= units || x->n > units - x->start) {
			ulo_profile_free(out);
			return ulo_err(-EINVAL, "%s: line %zu: extent past the image's end (%" PRIu64 " units of %" PRIu64 ")",
				       what, lineno, units, out->unit);
		}
		out->n++;
	}
	if (pos != len) {
		ulo_profile_free(out);
		return ulo_err(-EINVAL, "%s: line %zu: more than the %" PRIu64 " extents it announces",
			       what, lineno + 1, count);
	}
	return 0;

short_file:
	if (!bad) {
		size_t got = out->n;

		ulo_profile_free(out);
		return ulo_err(-EINVAL, "%s: %zu of the %" PRIu64 " extents it announces (cut short?)",
			       what, got, count);
	}
bad_line:
	ulo_profile_free(out);
	return ulo_err(-EINVAL, "%s: line %zu: not understood%s", what, lineno,
		       bad ? " (too long, no newline or a NUL byte)" : "");
}

bool ulo_profile_matches(const struct ulo_profile *p,
			 const struct ulo_identity *id, char *why, size_t len)
{
	if (p->size != id->size) {
		snprintf(why, len, "it is of an image of %" PRIu64 " bytes, this one has %" PRIu64,
			 p->size, id->size);
		return false;
	}
	if (p->kind != id->kind || strcmp(p->validator, id->validator)) {
		snprintf(why, len, "it is of another version (%s %s, this one is %s %s)",
			 ulo_id_kind_name(p->kind), p->validator,
			 ulo_id_kind_name(id->kind), id->validator);
		return false;
	}
	return true;
}

void ulo_profile_free(struct ulo_profile *p)
{
	free(p->ext);
	p->ext = NULL;
	p->n = 0;
}

static int ulo_range_cmp(const void *a, const void *b)
{
	const struct ulo_byte_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

size_t ulo_profile_plan(const struct ulo_profile *p, size_t *pos, uint64_t window,
			uint64_t gap, struct ulo_byte_range *out, size_t cap)
{
	uint64_t bytes = 0;
	size_t n = 0, m = 0;

	/* The window: whole extents, at least one, within @cap. */
	while (*pos < p->n && n < cap && (n == 0 || bytes < window)) {
		const struct ulo_extent *x = &p->ext[(*pos)++];

		out[n].off = x->start * p->unit;
		out[n].len = x->n * p->unit;
		if (out[n].off + out[n].len > p->size)
			out[n].len = p->size - out[n].off;
		bytes += out[n].len;
		n++;
	}
	if (!n)
		return 0;
	qsort(out, n, sizeof(*out), ulo_range_cmp);
	for (size_t i = 1; i < n; i++) {
		struct ulo_byte_range *last = &out[m];
		uint64_t end = last->off + last->len;

		if (out[i].off <= end + gap) {
			if (out[i].off + out[i].len > end)
				last->len = out[i].off + out[i].len - last->off;
		} else {
			out[++m] = out[i];
		}
	}
	return m + 1;
}
