// SPDX-License-Identifier: GPL-2.0-or-later
// reliability: partly I3
/*
 * test-source-verity.c - the verity source (src/source_verity.c) over
 * files: a manifest, its image and its hash file written here (as publish
 * would), read back through ulo_source_open().  Trees of every shape (one
 * block: no hash blocks; one level; two levels), reads aligned or not and
 * across the image's end into the tree, a flipped byte in the image, in a
 * leaf and in the top level (refused, counted, never returned), hash
 * blocks read back through the peek hook instead of the file, trust
 * refused, and a plain file with a root hash refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "source.h"
#include "unit-image.h"
#include "unit.h"
#include "util.h"
#include "verity.h"

struct pub {
	char dir[64], manifest[128], image[128], tree[128];
	uint64_t blocks, img_size, tree_size;
	uint8_t *device;	/* image + hash file, as the source shows it */
	char root_hex[65];
};

static int img_read(void *ctx, uint64_t i, void *buf)
{
	(void)ctx;
	unit_fill(buf, i * 4096, 4096, 11);
	return 0;
}

static int tree_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct pub *p = ctx;

	memcpy(p->device + p->img_size + off, buf, len);
	return 0;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd))
		abort();
}

/* Publish a @blocks-block image into a new directory. */
static void publish(struct pub *p, uint64_t blocks)
{
	struct ulo_manifest m;
	struct ulo_verity_layout l;
	char text[4096];
	int n;

	memset(p, 0, sizeof(*p));
	strcpy(p->dir, "/tmp/uloop-unit-vsrc.XXXXXX");
	if (!mkdtemp(p->dir))
		abort();
	memset(&m, 0, sizeof(m));
	strcpy(m.name, "r");
	m.version = 1;
	strcpy(m.created, "2026-12-06T00:00:00Z");
	strcpy(m.image, "r-1.img");
	strcpy(m.hash_tree, "r-1.verity");
	m.vp.data_block_size = m.vp.hash_block_size = 4096;
	m.vp.data_blocks = blocks;
	m.vp.salt_size = 8;
	memcpy(m.vp.salt, "saltsalt", 8);
	m.size = blocks * 4096;
	CHECK_EQ(ulo_verity_layout(&m.vp, &l), 0);
	p->blocks = blocks;
	p->img_size = m.size;
	p->tree_size = l.hash_blocks * 4096;
	p->device = calloc(1, p->img_size + p->tree_size);
	for (uint64_t i = 0; i < blocks; i++)
		img_read(NULL, i, p->device + i * 4096);
	CHECK_EQ(ulo_verity_build(&m.vp, img_read, tree_write, p, m.root), 0);
	ulo_hex(m.root, 32, p->root_hex);
	n = ulo_manifest_format(&m, text, sizeof(text));
	CHECK(n > 0);
	snprintf(p->manifest, sizeof(p->manifest), "%s/r.uloop", p->dir);
	snprintf(p->image, sizeof(p->image), "%s/r-1.img", p->dir);
	snprintf(p->tree, sizeof(p->tree), "%s/r-1.verity", p->dir);
	write_file(p->manifest, text, (size_t)n);
	write_file(p->image, p->device, p->img_size);
	write_file(p->tree, p->device + p->img_size, p->tree_size);
}

static void unpublish(struct pub *p)
{
	unlink(p->manifest);
	unlink(p->image);
	unlink(p->tree);
	rmdir(p->dir);
	free(p->device);
}

/* Flip one byte of @path at @off. */
static void flip(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	if (fd < 0 || pread(fd, &b, 1, (off_t)off) != 1)
		abort();
	b ^= 0x40;
	if (pwrite(fd, &b, 1, (off_t)off) != 1 || close(fd))
		abort();
}

/* Every byte of the device, read in pieces of @step at @first. */
static void read_all(struct pub *p, size_t step, uint64_t first)
{
	struct ulo_source_opts o = { 0 };
	struct ulo_source *s;
	uint64_t size = p->img_size + p->tree_size;
	uint8_t *buf = malloc(step);

	CHECK_EQ(ulo_source_open(p->manifest, &o, &s), 0);
	CHECK_EQ(s->id.kind, ULO_ID_VERITY);
	CHECK_EQ(s->id.size, size);
	CHECK(!strncmp(s->id.validator, p->root_hex, 64));
	for (uint64_t off = first; off < size; off += step) {
		size_t n = (size_t)ULO_MIN((uint64_t)step, size - off);

		CHECK_EQ(ulo_source_read(s, buf, off, n, NULL), 0);
		CHECK(!memcmp(buf, p->device + off, n));
	}
	CHECK_EQ(s->bad_blocks, 0);
	ulo_source_close(s);
	free(buf);
}

static void test_shapes(void)
{
	/* 1 block: no hash blocks; 100: one level; 300: two levels. */
	static const uint64_t sizes[] = { 1, 100, 128, 129, 300, 16385 };

	for (size_t i = 0; i < ULO_ARRAY_SIZE(sizes); i++) {
		struct pub p;

		publish(&p, sizes[i]);
		read_all(&p, 65536, 0);
		read_all(&p, 1000, 0);		/* unaligned, across the end */
		read_all(&p, 4096 * 3, 4096 * 2);
		unpublish(&p);
	}
}

/* A read of @off..+@len refused with @msg and counted, never returned. */
static void refused(struct pub *p, uint64_t off, size_t len, const char *msg)
{
	struct ulo_source_opts o = { 0 };
	struct ulo_source *s;
	uint8_t *buf = malloc(len);

	CHECK_EQ(ulo_source_open(p->manifest, &o, &s), 0);
	memset(buf, 0xee, len);
	CHECK_EQ(ulo_source_read(s, buf, off, len, NULL), -EIO);
	CHECK_STR_CONTAINS(ulo_errmsg(), msg);
	CHECK(s->bad_blocks >= 1);
	ulo_source_close(s);
	free(buf);
}

static void test_tampered(void)
{
	struct pub p;

	publish(&p, 300);	/* the hash file: superblock, 1 top block, 3 leaves */
	flip(p.image, 200 * 4096 + 5);
	refused(&p, 0, 300 * 4096, "data block 200 (bytes 819200+4096) does not match its hash");
	refused(&p, 200 * 4096, 1, "data block 200");
	/* Blocks under other leaves still read. */
	{
		struct ulo_source_opts o = { 0 };
		struct ulo_source *s;
		uint8_t buf[4096];

		CHECK_EQ(ulo_source_open(p.manifest, &o, &s), 0);
		CHECK_EQ(ulo_source_read(s, buf, 0, 4096, NULL), 0);
		CHECK(!memcmp(buf, p.device, 4096));
		ulo_source_close(s);
	}
	flip(p.image, 200 * 4096 + 5);	/* mended */
	flip(p.tree, 3 * 4096 + 40);	/* leaf 1: data blocks 128..255 */
	refused(&p, 130 * 4096, 4096, "hash block 3 does not match the tree of root hash");
	refused(&p, p.img_size + 3 * 4096, 4096, "hash block 3 does not match");
	flip(p.tree, 3 * 4096 + 40);
	flip(p.tree, 4096 + 7);		/* the top block */
	refused(&p, 0, 4096, "hash block 1 does not match the tree of root hash");
	flip(p.tree, 4096 + 7);
	read_all(&p, 65536, 0);
	unpublish(&p);
}

/* The peek hook: hash blocks from "the cache" (here the device image held
 * in memory), so the hash file is not read; a wrong byte there is caught
 * and the file read instead. */
static int peeks;
static uint8_t *peek_dev;

static int test_peek(void *ctx, void *buf, uint64_t off, size_t len)
{
	(void)ctx;
	peeks++;
	memcpy(buf, peek_dev + off, len);
	return 0;
}

static void test_peek_hook(void)
{
	struct ulo_source_opts o = { 0 };
	struct ulo_source *s;
	struct pub p;
	uint8_t buf[4096];

	publish(&p, 300);
	peek_dev = malloc(p.img_size + p.tree_size);
	memcpy(peek_dev, p.device, p.img_size + p.tree_size);
	unlink(p.tree);	/* not readable: only the peek can give the tree */
	write_file(p.tree, "", 0);
	CHECK(ulo_source_open(p.manifest, &o, &s) < 0);	/* the size is checked at open */
	write_file(p.tree, p.device + p.img_size, p.tree_size);
	CHECK_EQ(ulo_source_open(p.manifest, &o, &s), 0);
	flip(p.tree, 0);		/* the file's superblock now wrong */
	flip(p.tree, 2 * 4096 + 3);	/* and its first leaf */
	s->peek = test_peek;
	CHECK_EQ(ulo_source_read(s, buf, 5 * 4096, 4096, NULL), 0);
	CHECK(!memcmp(buf, p.device + 5 * 4096, 4096));
	CHECK(peeks >= 2);	/* the top, then the leaves */
	CHECK_EQ(s->bad_blocks, 0);
	ulo_source_close(s);
	/* A damaged "cache": the file is read instead, and is right again. */
	flip(p.tree, 0);
	flip(p.tree, 2 * 4096 + 3);
	peek_dev[p.img_size + 2 * 4096 + 3] ^= 1;
	CHECK_EQ(ulo_source_open(p.manifest, &o, &s), 0);
	s->peek = test_peek;
	CHECK_EQ(ulo_source_read(s, buf, 5 * 4096, 4096, NULL), 0);
	CHECK(!memcmp(buf, p.device + 5 * 4096, 4096));
	ulo_source_close(s);
	free(peek_dev);
	unpublish(&p);
}

static void test_trust(void)
{
	struct ulo_source_opts o = { 0 };
	struct ulo_source *s;
	struct pub p;
	char wrong[65];

	publish(&p, 10);
	o.root_hash = p.root_hex;
	CHECK_EQ(ulo_source_open(p.manifest, &o, &s), 0);
	ulo_source_close(s);
	strcpy(wrong, p.root_hex);
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	o.root_hash = wrong;
	CHECK_EQ(ulo_source_open(p.manifest, &o, &s), -EPERM);
	CHECK_STR_CONTAINS(ulo_errmsg(), "is not the trusted");
	o.root_hash = NULL;
	o.verity_key = "/nonexistent.pub";
	CHECK_EQ(ulo_source_open(p.manifest, &o, &s), -EPERM);
	CHECK_STR_CONTAINS(ulo_errmsg(), "not signed, and the key /nonexistent.pub must verify it");
	/* A plain file with a trust root is refused: only a manifest can
	 * be checked. */
	o.verity_key = NULL;
	o.root_hash = p.root_hex;
	CHECK_EQ(ulo_source_open(p.image, &o, &s), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "a root hash can only be checked through a manifest");
	unpublish(&p);
}

static void test_identity_info(void)
{
	struct ulo_source_opts o = { 0 };
	struct ulo_verity_info vi, vo;
	struct ulo_source *s;
	struct pub p;

	publish(&p, 300);
	CHECK_EQ(ulo_source_open(p.manifest, &o, &s), 0);
	CHECK_EQ(ulo_source_verity_info(s, &vi), 0);
	CHECK_EQ(vi.data_blocks, 300);
	CHECK_EQ(vi.hash_start, 301);
	CHECK(!strcmp(vi.salt_hex, "73616c7473616c74"));	/* "saltsalt" */
	CHECK(!strcmp(vi.name, "r"));
	/* Offline: the identity alone gives all but the salt. */
	CHECK_EQ(ulo_verity_info_of(&s->id, &vo), 0);
	CHECK_EQ(vo.hash_start, 301);
	CHECK(!strcmp(vo.root_hex, p.root_hex));
	CHECK_EQ(vo.salt_hex[0], '\0');
	ulo_source_close(s);
	{
		struct ulo_identity id = { .kind = ULO_ID_VERITY, .size = 10 };

		strcpy(id.validator, "abc:1:4096:4096");
		CHECK_EQ(ulo_verity_info_of(&id, &vo), -EINVAL);
		id.kind = ULO_ID_HTTP_ETAG;
		CHECK_EQ(ulo_verity_info_of(&id, &vo), -ENOENT);
	}
	unpublish(&p);
}

int main(void)
{
	UNIT_RUN(test_shapes);
	UNIT_RUN(test_tampered);
	UNIT_RUN(test_peek_hook);
	UNIT_RUN(test_trust);
	UNIT_RUN(test_identity_info);
	return unit_done();
}
