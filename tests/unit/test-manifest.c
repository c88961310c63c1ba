// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-manifest.c - the manifest's text format (src/manifest.c): what
 * publish writes reads back the same, with and without a signature line;
 * every kind of bad manifest is refused naming the line and the cause;
 * base64 against RFC 4648's examples.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "unit.h"
#include "util.h"

static void sample(struct ulo_manifest *m)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->name, "root");
	m->version = 3;
	strcpy(m->created, "2026-12-05T19:03:00Z");
	strcpy(m->image, "root-3.img");
	m->size = 92696576;
	m->vp.data_block_size = m->vp.hash_block_size = 4096;
	m->vp.salt_size = 32;
	for (int i = 0; i < 32; i++) {
		m->vp.salt[i] = (uint8_t)(i * 7);
		m->root[i] = (uint8_t)(255 - i);
	}
	strcpy(m->hash_tree, "root-3.verity");
}

static void test_round_trip(void)
{
	struct ulo_manifest m, back;
	char text[4096];
	int n;

	sample(&m);
	n = ulo_manifest_format(&m, text, sizeof(text));
	CHECK(n > 0);
	CHECK_EQ(ulo_manifest_parse(text, (size_t)n, "m", &back), 0);
	CHECK(!strcmp(back.name, "root"));
	CHECK_EQ(back.version, 3);
	CHECK(!strcmp(back.created, m.created));
	CHECK(!strcmp(back.image, "root-3.img"));
	CHECK(!strcmp(back.hash_tree, "root-3.verity"));
	CHECK_EQ(back.size, m.size);
	CHECK_EQ(back.vp.data_blocks, m.size / 4096);
	CHECK_EQ(back.vp.salt_size, 32);
	CHECK(!memcmp(back.vp.salt, m.vp.salt, 32));
	CHECK(!memcmp(back.root, m.root, 32));
	CHECK_EQ(back.sig_len, 0);
	/* With a signature line: it covers every byte before it. */
	strcat(text, "signature ecdsa-p256-sha256 AAECAwQFBgcICQ==\n");
	CHECK_EQ(ulo_manifest_parse(text, strlen(text), "m", &back), 0);
	CHECK(!strcmp(back.sig_alg, "ecdsa-p256-sha256"));
	CHECK_EQ(back.sig_len, 10);
	CHECK_EQ(back.sig[9], 9);
	CHECK_EQ(back.signed_len, (size_t)n);
	CHECK_EQ(ulo_manifest_format(&m, text, 100), -ENOSPC);
}

/* Replace the first @from in the sample's text with @to; expect a refusal
 * holding @msg. */
static void refused(const char *from, const char *to, const char *msg)
{
	struct ulo_manifest m;
	char text[4096], out[4200], *p;
	int n;

	sample(&m);
	n = ulo_manifest_format(&m, text, sizeof(text));
	CHECK(n > 0);
	p = strstr(text, from);
	CHECK(p != NULL);
	if (!p)
		return;
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
	CHECK_EQ(ulo_manifest_parse(out, strlen(out), "http://s/root.uloop", &m), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), msg);
}

static void test_refused(void)
{
	refused("uloop-manifest 1", "uloop-manifest 2", "http://s/root.uloop: not a uloop manifest");
	refused("name root", "name ../root", "line 2 (name): not a name");
	refused("version 3", "version 0", "line 3 (version): not a version number");
	refused("version 3", "version 3x", "line 3 (version)");
	refused("created 2026-12-05T19:03:00Z", "created yesterday", "line 4 (created)");
	refused("image root-3.img", "image ../etc/passwd", "line 5 (image): not a file name");
	refused("image root-3.img", "image a/b", "line 5 (image)");
	refused("size 92696576", "size 92696577", "line 6 (size): not a multiple of data-block-size");
	refused("data-block-size 4096", "data-block-size 4095", "line 7 (data-block-size)");
	refused("hash sha256", "hash sha1", "line 9 (hash): only sha256");
	refused("salt 00", "salt 0", "line 10 (salt)");
	refused("root-hash ff", "root-hash f", "line 11 (root-hash)");
	refused("hash-tree root-3.verity", "hash-tree /tmp/x", "line 12 (hash-tree)");
	refused("size 92696576\n", "", "line 6 (size): not the line expected here");
	refused("hash-tree root-3.verity\n", "hash-tree root-3.verity", "line 12: a line too long, with a NUL, or cut short");
	refused("hash-tree root-3.verity\n", "", "line 12: the file ends early");
	refused("hash-tree root-3.verity\n", "hash-tree root-3.verity\nsignature x\n",
		"line 13: not \"signature ALGORITHM BASE64\"");
	refused("hash-tree root-3.verity\n", "hash-tree root-3.verity\nsignature x !!!!\n",
		"line 13: the signature is not base64");
	refused("hash-tree root-3.verity\n", "hash-tree root-3.verity\nsignature x AAAA\nname y\n",
		"line 14: more after the signature");
	refused("hash-tree root-3.verity\n", "hash-tree root-3.verity\nsignature x AAAA \n",
		"line 13: not \"signature");
}

/* Seed lines (an update's maps): read back in order, covered by the
 * signature, refused when malformed. */
static void test_seeds(void)
{
	struct ulo_manifest m, back;
	char text[4096], bad[4200];
	const char *root = "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0";
	int n;

	sample(&m);
	m.nseeds = 2;
	m.seeds[0].version = 2;
	m.seeds[1].version = 1;
	memcpy(m.seeds[0].root, m.root, 32);
	memset(m.seeds[1].root, 0xab, 32);
	strcpy(m.seeds[0].file, "root-3.from-2.seed");
	strcpy(m.seeds[1].file, "root-3.from-1.seed");
	n = ulo_manifest_format(&m, text, sizeof(text));
	CHECK(n > 0);
	CHECK_STR_CONTAINS(text, "hash-tree root-3.verity\nseed 2 fffefd");
	CHECK_EQ(ulo_manifest_parse(text, (size_t)n, "m", &back), 0);
	CHECK_EQ(back.nseeds, 2);
	CHECK_EQ(back.seeds[0].version, 2);
	CHECK(!memcmp(back.seeds[0].root, m.root, 32));
	CHECK(!strcmp(back.seeds[1].file, "root-3.from-1.seed"));
	CHECK_EQ(back.seeds[1].root[31], 0xab);
	strcat(text, "signature ecdsa-p256-sha256 AAECAwQFBgcICQ==\n");
	CHECK_EQ(ulo_manifest_parse(text, strlen(text), "m", &back), 0);
	CHECK_EQ(back.signed_len, (size_t)n);
	/* A seed line after the signature is not covered: refused. */
	snprintf(bad, sizeof(bad), "%sseed 1 %s x.seed\n", text, root);
	CHECK_EQ(ulo_manifest_parse(bad, strlen(bad), "m", &back), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "more after the signature");
	/* Malformed ones. */
	n = ulo_manifest_format(&m, text, sizeof(text));
	{
		/* "seed VERSION " + the root's first @len digits + TAIL */
		static const struct {
			const char *version;
			int len;
			const char *tail, *msg;
		} lines[] = {
			{ "3", 64, " x.seed", "with an older version" },
			{ "0", 64, " x.seed", "with an older version" },
			{ "one", 64, " x.seed", "with an older version" },
			{ "1", 62, " x.seed", "64 hex digits" },
			{ "1", 64, " ../x.seed", "not a file name" },
			{ "1", 64, "", "64 hex digits" },
		};

		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			snprintf(bad, sizeof(bad), "%sseed %s %.*s%s\n", text, lines[i].version,
				 lines[i].len, root, lines[i].tail);
			CHECK_EQ(ulo_manifest_parse(bad, strlen(bad), "m", &back), -EINVAL);
			CHECK_STR_CONTAINS(ulo_errmsg(), lines[i].msg);
		}
	}
	/* At most 8. */
	strcpy(bad, text);
	for (int i = 0; i < 9; i++) {
		char line[160];

		snprintf(line, sizeof(line), "seed %d %s x%d.seed\n", 1 + i % 2, root, i);
		strcat(bad, line);
	}
	CHECK_EQ(ulo_manifest_parse(bad, strlen(bad), "m", &back), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "more seed lines than a manifest may have");
}

static void test_base64(void)
{
	static const char *const plain[] = { "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	uint8_t b[16];
	char s[16];

	for (int i = 0; i < 6; i++) {
		ulo_base64((const uint8_t *)plain[i], strlen(plain[i]), s);
		CHECK(!strcmp(s, coded[i]));
		CHECK_EQ(ulo_unbase64(coded[i], b, sizeof(b)), strlen(plain[i]));
		CHECK(!memcmp(b, plain[i], strlen(plain[i])));
	}
	CHECK_EQ(ulo_unbase64("Zm9", b, sizeof(b)), -EINVAL);
	CHECK_EQ(ulo_unbase64("Z=9v", b, sizeof(b)), -EINVAL);
	CHECK_EQ(ulo_unbase64("Zg=v", b, sizeof(b)), -EINVAL);
	CHECK_EQ(ulo_unbase64("Zg==Zg==", b, sizeof(b)), -EINVAL);
	CHECK_EQ(ulo_unbase64("Zm9vYmFy", b, 5), -EINVAL);
	CHECK_EQ(ulo_unbase64("", b, sizeof(b)), -EINVAL);
}

static void test_names(void)
{
	CHECK(ulo_manifest_name_ok("root"));
	CHECK(ulo_manifest_name_ok("debian-12_amd64.v2"));
	CHECK(!ulo_manifest_name_ok(""));
	CHECK(!ulo_manifest_name_ok(".hidden"));
	CHECK(!ulo_manifest_name_ok("-x"));
	CHECK(!ulo_manifest_name_ok("a/b"));
	CHECK(!ulo_manifest_name_ok("a b"));
	CHECK(!ulo_manifest_name_ok("0123456789012345678901234567890123456789012345678901234567890123456789"));
}

int main(void)
{
	UNIT_RUN(test_round_trip);
	UNIT_RUN(test_refused);
	UNIT_RUN(test_seeds);
	UNIT_RUN(test_base64);
	UNIT_RUN(test_names);
	return unit_done();
}
