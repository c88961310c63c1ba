// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-verity.c - SHA-256 and dm-verity hash trees (src/sha256.c,
 * src/verity.c).
 *
 * SHA-256 against FIPS 180's examples and against itself fed in odd
 * pieces.  Trees against what Debian's veritysetup (cryptsetup 2.6)
 * wrote for the same images: `veritysetup format IMG HASH --salt=aabbccdd
 * --uuid=01234567-89ab-cdef-0123-456789abcdef` over unit_pat images
 * (seed 7) of 1, 129 and 16385 blocks of 4 KiB (no hash level, two, three)
 * gave the root hashes and the SHA-256 of the hash files below; and
 * --salt=- (no salt) for 129 blocks.  The layout, the superblock's round
 * trip and refusals, and read and write errors passed up.
 */
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "unit.h"
#include "unit-image.h"
#include "util.h"
#include "verity.h"

static void hex_of(const uint8_t *d, char *out)
{
	ulo_hex(d, ULO_SHA256_LEN, out);
}

static void check_sha(const void *msg, size_t len, const char *want)
{
	uint8_t d[ULO_SHA256_LEN];
	char h[65];

	ulo_sha256_2(msg, len, NULL, 0, d);
	hex_of(d, h);
	if (strcmp(h, want))
		fprintf(stderr, "  sha256 of %zu bytes: %s, want %s\n", len, h, want);
	CHECK(!strcmp(h, want));
}

static void test_sha256(void)
{
	static const char two_blocks[] =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct ulo_sha256 s;
	uint8_t *m = malloc(1000000), d1[32], d2[32];
	size_t pos = 0, step = 1;

	check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_sha(two_blocks, strlen(two_blocks),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	if (!m)
		abort();
	memset(m, 'a', 1000000);
	check_sha(m, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* The same bytes in pieces of 1, 2, ... 97 bytes, over block edges. */
	unit_fill(m, 0, 100000, 3);
	ulo_sha256_2(m, 100000, NULL, 0, d1);
	ulo_sha256_init(&s);
	while (pos < 100000) {
		size_t n = step < 100000 - pos ? step : 100000 - pos;

		ulo_sha256_update(&s, m + pos, n);
		pos += n;
		step = step % 97 + 1;
	}
	ulo_sha256_final(&s, d2);
	CHECK(!memcmp(d1, d2, 32));
	free(m);
}

static void test_layout(void)
{
	struct ulo_verity_params p = { .data_block_size = 4096, .hash_block_size = 4096 };
	struct ulo_verity_layout l;

	p.data_blocks = 1;
	CHECK_EQ(ulo_verity_layout(&p, &l), 0);
	CHECK_EQ(l.levels, 0);
	CHECK_EQ(l.hash_blocks, 1);
	p.data_blocks = 128;
	CHECK_EQ(ulo_verity_layout(&p, &l), 0);
	CHECK_EQ(l.levels, 1);
	CHECK_EQ(l.level_blocks[0], 1);
	CHECK_EQ(l.hash_blocks, 2);
	p.data_blocks = 16385;	/* 129 leaf blocks, 2, 1: the top first */
	CHECK_EQ(ulo_verity_layout(&p, &l), 0);
	CHECK_EQ(l.levels, 3);
	CHECK_EQ(l.level_start[2], 1);
	CHECK_EQ(l.level_blocks[2], 1);
	CHECK_EQ(l.level_start[1], 2);
	CHECK_EQ(l.level_blocks[1], 2);
	CHECK_EQ(l.level_start[0], 4);
	CHECK_EQ(l.level_blocks[0], 129);
	CHECK_EQ(l.hash_blocks, 133);
	p.data_blocks = 1ull << 40;	/* 4 PiB: still a handful of levels */
	CHECK_EQ(ulo_verity_layout(&p, &l), 0);
	CHECK_EQ(l.levels, 6);
	p.data_blocks = 0;
	CHECK_EQ(ulo_verity_layout(&p, &l), -EINVAL);
	p.data_blocks = 8;
	p.data_block_size = 3000;
	CHECK_EQ(ulo_verity_layout(&p, &l), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "power of two");
}

/* A hash file in memory, written at the builder's offsets. */
struct mem {
	unsigned seed;
	uint8_t *h;
	size_t cap, end;
	int fail_read_at, fail_write_at;	/* -1: never */
	int writes;
};

static int mem_read(void *ctx, uint64_t i, void *buf)
{
	struct mem *m = ctx;

	if ((int)i == m->fail_read_at)
		return ulo_err(-EIO, "test image: read error at block %d", m->fail_read_at);
	unit_fill(buf, i * 4096, 4096, m->seed);
	return 0;
}

static int mem_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct mem *m = ctx;

	if (m->writes++ == m->fail_write_at)
		return ulo_err(-ENOSPC, "test hash file: full");
	if (off + len > m->cap)
		abort();
	memcpy(m->h + off, buf, len);
	if (off + len > m->end)
		m->end = off + len;
	return 0;
}

static void check_tree(uint64_t blocks, bool salted, const char *want_root,
		       const char *want_file)
{
	struct ulo_verity_params p = { .data_block_size = 4096, .hash_block_size = 4096,
				       .data_blocks = blocks };
	struct mem m = { .seed = 7, .fail_read_at = -1, .fail_write_at = -1 };
	struct ulo_verity_layout l;
	struct ulo_verity_params back;
	uint8_t root[32], fd[32];
	char h[65];

	if (salted) {
		CHECK_EQ(ulo_unhex("aabbccdd", p.salt, 4), 0);
		p.salt_size = 4;
	}
	CHECK_EQ(ulo_unhex("0123456789abcdef0123456789abcdef", p.uuid, 16), 0);
	CHECK_EQ(ulo_verity_layout(&p, &l), 0);
	m.cap = l.hash_blocks * 4096;
	m.h = calloc(1, m.cap);
	if (!m.h)
		abort();
	CHECK_EQ(ulo_verity_build(&p, mem_read, mem_write, &m, root), 0);
	CHECK_EQ(m.end, m.cap);
	hex_of(root, h);
	if (strcmp(h, want_root))
		fprintf(stderr, "  %llu blocks: root %s, veritysetup's %s\n",
			(unsigned long long)blocks, h, want_root);
	CHECK(!strcmp(h, want_root));
	if (want_file) {
		ulo_sha256_2(m.h, m.end, NULL, 0, fd);
		hex_of(fd, h);
		CHECK(!strcmp(h, want_file));
	}
	/* The superblock reads back as what was built. */
	CHECK_EQ(ulo_verity_parse_superblock(m.h, "test", &back), 0);
	CHECK_EQ(back.data_blocks, blocks);
	CHECK_EQ(back.salt_size, p.salt_size);
	CHECK(!memcmp(back.salt, p.salt, p.salt_size));
	CHECK(!memcmp(back.uuid, p.uuid, 16));
	free(m.h);
}

static void test_tree_matches_veritysetup(void)
{
	check_tree(1, true, "de11d67aa9105798fefd65aae6e84ae089f324e2d06e1ed27ed10b64b7b4a003",
		   "e266e0a9bc062c9547d0ec240db8a06c0a75459887a4adb6d415dff34ce6559a");
	check_tree(129, true, "37b41dae94c5eec60f10fa0e204d6d699c8efbe4ffeee89851f32dc0edd43786",
		   "65c756c97fd3071e6caf419e0a8a8c5508fca2e9e7cdf57d58f42ac9eb3f8b91");
	check_tree(16385, true, "86c78bfc9f73777eeaf618d0a075468e2100ae445a46bb89c514603184ccb079",
		   "c23e1ee4670300583781cd7c8d39416b00689747967ef2500bf0480e57c03618");
	check_tree(129, false, "b3699a51d8454774391dbc4d491e1f73a512cbeabe67d9cbfc1ffee9f94dea93",
		   NULL);
}

static void test_superblock_refused(void)
{
	struct ulo_verity_params p = { .data_block_size = 4096, .hash_block_size = 4096,
				       .data_blocks = 10 }, back;
	uint8_t sb[ULO_VERITY_SB_SIZE];

	ulo_verity_superblock(&p, sb);
	CHECK_EQ(ulo_verity_parse_superblock(sb, "x.verity", &back), 0);
	sb[0] = 'V';
	CHECK_EQ(ulo_verity_parse_superblock(sb, "x.verity", &back), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "x.verity: not a dm-verity superblock");
	ulo_verity_superblock(&p, sb);
	memcpy(sb + 32, "sha1\0\0", 6);
	CHECK_EQ(ulo_verity_parse_superblock(sb, "x.verity", &back), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "'sha1'");
	ulo_verity_superblock(&p, sb);
	sb[80] = 0x01;
	sb[81] = 0x01;	/* 257 bytes of salt */
	CHECK_EQ(ulo_verity_parse_superblock(sb, "x.verity", &back), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "salt of 257 bytes");
	ulo_verity_superblock(&p, sb);
	memset(sb + 72, 0, 8);	/* no data blocks */
	CHECK_EQ(ulo_verity_parse_superblock(sb, "x.verity", &back), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "x.verity: dm-verity: no data blocks");
}

static void test_errors_passed_up(void)
{
	struct ulo_verity_params p = { .data_block_size = 4096, .hash_block_size = 4096,
				       .data_blocks = 300 };
	struct mem m = { .seed = 7, .fail_read_at = 200, .fail_write_at = -1 };
	uint8_t root[32];

	m.cap = 8 * 4096;
	m.h = calloc(1, m.cap);
	if (!m.h)
		abort();
	CHECK_EQ(ulo_verity_build(&p, mem_read, mem_write, &m, root), -EIO);
	CHECK_STR_CONTAINS(ulo_errmsg(), "read error at block 200");
	m.fail_read_at = -1;
	m.fail_write_at = 2;
	m.writes = 0;
	CHECK_EQ(ulo_verity_build(&p, mem_read, mem_write, &m, root), -ENOSPC);
	CHECK_STR_CONTAINS(ulo_errmsg(), "test hash file: full");
	free(m.h);
}

static void test_hex(void)
{
	uint8_t b[4];
	char h[9];

	CHECK_EQ(ulo_unhex("00fFa5", b, 3), 0);
	ulo_hex(b, 3, h);
	CHECK(!strcmp(h, "00ffa5"));
	CHECK_EQ(ulo_unhex("00ff", b, 3), -EINVAL);
	CHECK_EQ(ulo_unhex("00fg", b, 2), -EINVAL);
}

static void test_implementation(void)
{
	fprintf(stderr, "  SHA-256: %s\n", ulo_sha256_accelerated() ? "the CPU's SHA instructions" : "portable C");
	CHECK_EQ(ulo_sha256_accelerated(), !getenv("ULOOP_SHA256_PORTABLE") && ulo_sha256_accelerated());
}

static pid_t the_child;

/* The same cases with portable C, in the child. */
static void test_portable_child(void)
{
	int status = 0;

	CHECK_EQ(waitpid(the_child, &status, 0), the_child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	pid_t child = -1;

	/* Everything twice: with the CPU's SHA instructions (where it has
	 * them) here, with portable C in a child, forked before either
	 * hashed anything. */
	if (!getenv("ULOOP_SHA256_PORTABLE")) {
		fflush(NULL);
		child = fork();
		if (child < 0)
			return 1;
		if (child == 0)
			setenv("ULOOP_SHA256_PORTABLE", "1", 1);
	}
	UNIT_RUN(test_implementation);
	UNIT_RUN(test_sha256);
	UNIT_RUN(test_layout);
	UNIT_RUN(test_tree_matches_veritysetup);
	UNIT_RUN(test_superblock_refused);
	UNIT_RUN(test_errors_passed_up);
	UNIT_RUN(test_hex);
	if (child > 0) {
		the_child = child;
		UNIT_RUN(test_portable_child);
	}
	return unit_done();
}
