// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-manifest.c - libFuzzer target for the texts uloop fetches from the
 * image's server and acts on: the manifest of a published version
 * (NAME.uloop: root hash, files, seeds, signature), the seed map of an
 * update, the boot profile (rd.uloop.profile=URL), and the base64 and hex
 * decoders under them.  A manifest is only trusted once its root hash or
 * signature is checked, but it is parsed before that: the parser is the
 * attack surface.
 *
 * The first byte picks the parser, the rest is the file.  Contracts:
 *  - manifest: what it accepts formats back to a text that parses to the
 *    same manifest; the signature covers every line that set a field
 *    (the signed prefix alone parses to the same fields); sizes, block
 *    sizes, seeds and the signature are within their documented bounds;
 *  - seed map: runs are non-empty, ascending, disjoint, inside both
 *    images; formatting and parsing again gives the same map; every run's
 *    blocks are found by ulo_seedmap_find and nothing else is;
 *  - profile: extents within the image (in units), formatting round-trip
 *    through ulo_profile_write;
 *  - base64 / hex: a decoded value encodes and decodes again to itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "profile.h"
#include "seedmap.h"
#include "util.h"
#include "verity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "contract broken: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

static bool same_fields(const struct ulo_manifest *a, const struct ulo_manifest *b)
{
	return !strcmp(a->name, b->name) && a->version == b->version &&
	       !strcmp(a->created, b->created) && !strcmp(a->image, b->image) &&
	       a->size == b->size && !memcmp(&a->vp, &b->vp, sizeof(a->vp)) &&
	       !memcmp(a->root, b->root, sizeof(a->root)) &&
	       !strcmp(a->hash_tree, b->hash_tree) && a->nseeds == b->nseeds &&
	       !memcmp(a->seeds, b->seeds, sizeof(a->seeds));
}

static void fuzz_manifest(const char *t, size_t n)
{
	struct ulo_manifest *m = malloc(sizeof(*m)), *m2 = malloc(sizeof(*m2));
	char *buf = malloc(ULO_MANIFEST_MAX_FILE);
	int len;

	if (!m || !m2 || !buf)
		goto out;
	if (ulo_manifest_parse(t, n, "fuzz", m))
		goto out;
	CHECK(m->version && m->size && m->vp.data_block_size >= 512 &&
	      m->vp.hash_block_size >= 512 && m->size % m->vp.data_block_size == 0 &&
	      m->vp.data_blocks * m->vp.data_block_size == m->size);
	CHECK(m->vp.salt_size <= ULO_VERITY_MAX_SALT);
	CHECK(m->nseeds <= ULO_MANIFEST_MAX_SEEDS);
	for (unsigned i = 0; i < m->nseeds; i++)
		CHECK(m->seeds[i].version && m->seeds[i].version < m->version &&
		      ulo_manifest_file_ok(m->seeds[i].file));
	CHECK(ulo_manifest_name_ok(m->name) && ulo_manifest_file_ok(m->image) &&
	      ulo_manifest_file_ok(m->hash_tree));
	CHECK(m->sig_len <= ULO_MANIFEST_SIG_MAX && m->signed_len <= n);
	CHECK(!m->sig_len == !m->sig_alg[0]);
	if (m->sig_len) {
		/* What the signature covers sets every field by itself. */
		CHECK(!ulo_manifest_parse(t, m->signed_len, "fuzz", m2));
		CHECK(same_fields(m, m2) && !m2->sig_len);
	}
	len = ulo_manifest_format(m, buf, ULO_MANIFEST_MAX_FILE);
	CHECK(len > 0);
	CHECK(!ulo_manifest_parse(buf, (size_t)len, "fuzz", m2));
	CHECK(same_fields(m, m2));
out:
	free(m);
	free(m2);
	free(buf);
}

static void fuzz_seedmap(const char *t, size_t n)
{
	struct ulo_seedmap m, m2;
	uint64_t prev = 0, off, mapped = 0;
	char *txt = NULL;
	size_t len;

	if (ulo_seedmap_parse(t, n, "fuzz", &m))
		return;
	for (uint64_t i = 0; i < m.nruns; i++) {
		const struct ulo_seed_run *r = &m.runs[i];

		CHECK(r->count && r->blk >= prev && r->blk < m.blocks &&
		      r->count <= m.blocks - r->blk);
		CHECK(r->count <= m.old_size / m.block_size &&
		      r->old_off <= m.old_size - r->count * m.block_size);
		/* First, last and one past the run. */
		CHECK(!ulo_seedmap_find(&m, r->blk, &off) && off == r->old_off);
		CHECK(!ulo_seedmap_find(&m, r->blk + r->count - 1, &off) &&
		      off == r->old_off + (r->count - 1) * m.block_size);
		if (r->blk + r->count < m.blocks &&
		    (i + 1 == m.nruns || m.runs[i + 1].blk != r->blk + r->count))
			CHECK(ulo_seedmap_find(&m, r->blk + r->count, &off) == -ENOENT);
		prev = r->blk + r->count;
		mapped += r->count;
	}
	CHECK(mapped == m.mapped);
	if (!ulo_seedmap_format(&m, &txt, &len)) {
		CHECK(!ulo_seedmap_parse(txt, len, "fuzz", &m2));
		CHECK(!memcmp(m.from, m2.from, sizeof(m.from)) &&
		      !memcmp(m.to, m2.to, sizeof(m.to)) && m.block_size == m2.block_size &&
		      m.blocks == m2.blocks && m.old_size == m2.old_size &&
		      !strcmp(m.pack, m2.pack) && m.pack_size == m2.pack_size &&
		      m.nruns == m2.nruns &&
		      (!m.nruns || !memcmp(m.runs, m2.runs, m.nruns * sizeof(*m.runs))));
		ulo_seedmap_free(&m2);
		free(txt);
	}
	ulo_seedmap_free(&m);
}

static void fuzz_profile(const char *t, size_t n)
{
	struct ulo_profile p, p2;
	char *out = NULL;
	size_t olen = 0;
	FILE *f;

	if (ulo_profile_parse(t, n, "fuzz", &p))
		return;
	CHECK(p.unit && !(p.unit & (p.unit - 1)));
	CHECK(p.n <= ULO_PROFILE_MAX_EXTENTS);
	for (size_t i = 0; i < p.n; i++) {
		uint64_t units = p.size / p.unit + !!(p.size % p.unit);

		CHECK(p.ext[i].n && p.ext[i].start < units &&
		      p.ext[i].n <= units - p.ext[i].start);
	}
	f = open_memstream(&out, &olen);
	CHECK(f);
	CHECK(!ulo_profile_write(&p, false, f));
	fclose(f);
	CHECK(!ulo_profile_parse(out, olen, "fuzz", &p2));
	CHECK(p2.size == p.size && p2.kind == p.kind && p2.unit == p.unit &&
	      !strcmp(p2.validator, p.validator) && p2.n == p.n);
	for (size_t i = 0; i < p.n; i++)
		CHECK(p2.ext[i].start == p.ext[i].start && p2.ext[i].n == p.ext[i].n);
	ulo_profile_free(&p2);
	ulo_profile_free(&p);
	free(out);
}

static void fuzz_codecs(const char *t, size_t n)
{
	uint8_t bin[512], bin2[512];
	char enc[1024];
	int k;

	(void)n;
	k = ulo_unbase64(t, bin, sizeof(bin));
	if (k > 0) {
		CHECK((size_t)k <= sizeof(bin));
		ulo_base64(bin, (size_t)k, enc);
		CHECK(ulo_unbase64(enc, bin2, sizeof(bin2)) == k && !memcmp(bin, bin2, k));
	}
	if (strlen(t) % 2 == 0 && strlen(t) / 2 <= sizeof(bin) &&
	    !ulo_unhex(t, bin, strlen(t) / 2)) {
		ulo_hex(bin, strlen(t) / 2, enc);
		CHECK(!strcasecmp(enc, t));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t;

	if (!size)
		return 0;
	/* Exact size plus a NUL the parsers are not told about: a read
	 * past @size - 1 bytes that is not the NUL is an ASan error. */
	t = malloc(size);
	if (!t)
		return 0;
	memcpy(t, data + 1, size - 1);
	t[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		fuzz_manifest(t, size - 1);
		break;
	case 1:
		fuzz_seedmap(t, size - 1);
		break;
	case 2:
		fuzz_profile(t, size - 1);
		break;
	case 3:
		fuzz_codecs(t, size - 1);
		break;
	}
	free(t);
	return 0;
}
