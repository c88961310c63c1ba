// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * seedmap.c - the seed map's text format (seedmap.h): written by publish,
 * read by a node.  The parser is strict, like the manifest's: a map comes
 * from the network, and although a wrong one cannot make a node serve a
 * wrong byte (every seeded block is verified), one that names blocks out
 * of range or overlapping runs is refused whole, with the line and why.
 */
#include "seedmap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "util.h"
#include "verity.h"

int ulo_seedmap_add(struct ulo_seedmap *m, uint64_t blk, uint64_t count,
		    uint64_t old_off)
{
	struct ulo_seed_run *last = m->nruns ? &m->runs[m->nruns - 1] : NULL;

	if (!count)
		return 0;
	m->mapped += count;
	if (last && last->blk + last->count == blk &&
	    last->old_off + last->count * m->block_size == old_off) {
		last->count += count;
		return 0;
	}
	/* Grow by doubling: a run per changed spot of the image. */
	if (m->nruns == m->cap) {
		uint64_t cap = m->cap ? 2 * m->cap : 16;
		struct ulo_seed_run *r = realloc(m->runs, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		m->runs = r;
		m->cap = cap;
	}
	m->runs[m->nruns++] = (struct ulo_seed_run){ blk, count, old_off };
	return 0;
}

int ulo_seedmap_format(const struct ulo_seedmap *m, char **out, size_t *len)
{
	char from[2 * ULO_SHA256_LEN + 1], to[2 * ULO_SHA256_LEN + 1];
	size_t cap = 512 + m->nruns * 64, n;
	char *t = malloc(cap);

	if (!t)
		return -ENOMEM;
	ulo_hex(m->from, ULO_SHA256_LEN, from);
	ulo_hex(m->to, ULO_SHA256_LEN, to);
	n = (size_t)snprintf(t, cap,
			     ULO_SEEDMAP_MAGIC "\nfrom %s\nto %s\nblock-size %" PRIu32
			     "\nblocks %" PRIu64 "\nold-size %" PRIu64 "\npack %s %" PRIu64
			     "\nruns %" PRIu64 "\n",
			     from, to, m->block_size, m->blocks, m->old_size,
			     m->pack[0] ? m->pack : "-", m->pack[0] ? m->pack_size : 0, m->nruns);
	for (uint64_t i = 0; i < m->nruns; i++)
		n += (size_t)snprintf(t + n, cap - n, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
				      m->runs[i].blk, m->runs[i].count, m->runs[i].old_off);
	*out = t;
	*len = n;
	return 0;
}

/* "KEY VALUE" with a decimal VALUE. */
static bool ulo_seedmap_num(const char *line, const char *key, uint64_t *v)
{
	size_t kl = strlen(key);
	const char *end;

	return !strncmp(line, key, kl) && line[kl] == ' ' &&
	       ulo_parse_u64(line + kl + 1, v, &end) && !*end;
}

static bool ulo_seedmap_hash(const char *line, const char *key, uint8_t *h)
{
	size_t kl = strlen(key);

	return !strncmp(line, key, kl) && line[kl] == ' ' &&
	       strlen(line + kl + 1) == 2 * ULO_SHA256_LEN &&
	       !ulo_unhex(line + kl + 1, h, ULO_SHA256_LEN);
}

/* "pack NAME BYTES", or "pack - 0" for none. */
static bool ulo_seedmap_pack(const char *line, struct ulo_seedmap *m)
{
	char name[sizeof(m->pack)];
	const char *sp = strrchr(line, ' '), *end;
	size_t n;

	if (strncmp(line, "pack ", 5) || !sp || sp < line + 5)
		return false;
	n = (size_t)(sp - (line + 5));
	if (n >= sizeof(name))
		return false;
	memcpy(name, line + 5, n);
	name[n] = '\0';
	if (!ulo_parse_u64(sp + 1, &m->pack_size, &end) || *end)
		return false;
	if (!strcmp(name, "-"))
		return !m->pack_size;
	if (!ulo_manifest_file_ok(name) || !m->pack_size)
		return false;
	memcpy(m->pack, name, n + 1);
	return true;
}

/* "BLOCK COUNT OFFSET": a run of the map, checked against the header and
 * the run before it. */
static const char *ulo_seedmap_run(const char *line, struct ulo_seedmap *m,
				   struct ulo_seed_run *r)
{
	const char *p = line;
	uint64_t v[3];

	for (int i = 0; i < 3; i++) {
		if (!ulo_parse_u64(p, &v[i], &p) || *p != (i < 2 ? ' ' : '\0'))
			return "not \"BLOCK COUNT OFFSET\" in decimal";
		p++;
	}
	*r = (struct ulo_seed_run){ v[0], v[1], v[2] };
	if (!r->count)
		return "a run of no blocks";
	if (r->blk >= m->blocks || r->count > m->blocks - r->blk)
		return "blocks past the new image's end";
	if (m->nruns && r->blk < m->runs[m->nruns - 1].blk + m->runs[m->nruns - 1].count)
		return "out of order, or overlapping the run before it";
	if (r->count > m->old_size / m->block_size ||
	    r->old_off > m->old_size - r->count * m->block_size)
		return "bytes past the old image's end";
	return NULL;
}

int ulo_seedmap_parse(const char *text, size_t len, const char *what,
		      struct ulo_seedmap *out)
{
	char line[256];
	const char *why = NULL;
	size_t pos = 0;
	uint64_t bs = 0, nruns = 0;
	unsigned lineno = 0;
	bool bad = false, ok;

	memset(out, 0, sizeof(*out));
	if (len > ULO_SEEDMAP_MAX_FILE)
		return ulo_err(-EINVAL, "%s: %zu bytes, larger than any seed map (%u MiB at most)",
			       what, len, ULO_SEEDMAP_MAX_FILE >> 20);
	for (lineno = 1; lineno <= 8; lineno++) {
		if (!ulo_next_line(text, len, &pos, line, sizeof(line), &bad)) {
			why = bad ? "a line too long, with a NUL, or cut short" : "the file ends early";
			goto refuse;
		}
		switch (lineno) {
		case 1:
			ok = !strcmp(line, ULO_SEEDMAP_MAGIC);
			why = "not a uloop seed map (no \"" ULO_SEEDMAP_MAGIC "\" line first)";
			break;
		case 2:
			ok = ulo_seedmap_hash(line, "from", out->from);
			why = "not \"from\" and 64 hex digits";
			break;
		case 3:
			ok = ulo_seedmap_hash(line, "to", out->to);
			why = "not \"to\" and 64 hex digits";
			break;
		case 4:
			ok = ulo_seedmap_num(line, "block-size", &bs) && bs <= (1u << 20) &&
			     ulo_pow2_in((uint32_t)bs, 512, 1u << 20);
			out->block_size = (uint32_t)bs;
			why = "not \"block-size\" and a power of two from 512 to 1048576";
			break;
		case 5:
			ok = ulo_seedmap_num(line, "blocks", &out->blocks) && out->blocks &&
			     out->blocks <= UINT64_MAX / bs;
			why = "not \"blocks\" and a count of blocks";
			break;
		case 6:
			ok = ulo_seedmap_num(line, "old-size", &out->old_size);
			why = "not \"old-size\" and a size in bytes";
			break;
		case 7:
			ok = ulo_seedmap_pack(line, out);
			why = "not \"pack FILE BYTES\" (or \"pack - 0\") with a file of the manifest's directory";
			break;
		default:
			/* Each run takes at least 6 bytes of text: a count
			 * larger than the file allows is a lie. */
			ok = ulo_seedmap_num(line, "runs", &nruns) && nruns <= len / 6 &&
			     nruns <= out->blocks;
			why = "not \"runs\" and a count the file can hold";
			break;
		}
		if (!ok)
			goto refuse;
	}
	if (nruns) {
		out->runs = malloc(nruns * sizeof(*out->runs));
		if (!out->runs)
			return ulo_errno(-ENOMEM, "%s: %" PRIu64 " runs", what, nruns);
		out->cap = nruns;
	}
	for (; out->nruns < nruns; lineno++) {
		struct ulo_seed_run r;

		if (!ulo_next_line(text, len, &pos, line, sizeof(line), &bad)) {
			why = bad ? "a line too long, with a NUL, or cut short" : "the file ends early";
			goto refuse;
		}
		why = ulo_seedmap_run(line, out, &r);
		if (why)
			goto refuse;
		out->runs[out->nruns++] = r;
		out->mapped += r.count;
	}
	if (ulo_next_line(text, len, &pos, line, sizeof(line), &bad) || bad) {
		why = "more after the last run";
		goto refuse;
	}
	return 0;
refuse:
	ulo_seedmap_free(out);
	return ulo_err(-EINVAL, "%s: line %u: %s", what, lineno, why);
}

int ulo_seedmap_find(const struct ulo_seedmap *m, uint64_t blk, uint64_t *old_off)
{
	uint64_t lo = 0, hi = m->nruns;

	/* The last run starting at or before @blk. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (m->runs[mid].blk <= blk)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || blk >= m->runs[lo - 1].blk + m->runs[lo - 1].count)
		return -ENOENT;
	*old_off = m->runs[lo - 1].old_off + (blk - m->runs[lo - 1].blk) * m->block_size;
	return 0;
}

void ulo_seedmap_free(struct ulo_seedmap *m)
{
	free(m->runs);
	m->runs = NULL;
	m->nruns = m->cap = m->mapped = 0;
}
