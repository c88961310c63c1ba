// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-cache-verify.c - a cache seen from outside: the query functions,
 * verify and export (cache_verify.c), and a 2007 cache's size adopted
 * for a comparison.
 *
 * Only public headers here (no cache_internal.h): what uloop's commands
 * may do with a cache, a test does the same way.  Caches are filled
 * through the cache API and damaged in their files, as flash would.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "cache_verify.h"
#include "source.h"
#include "util.h"
#include "unit.h"
#include "unit-image.h"

#define BS 65536u
#define IMG_SIZE (1024 * 1024 + 100)	/* 17 blocks of 64 KiB, last 100 B */
#define NBLK 17

static char tmpdir[] = "/tmp/uloop-unit-verify-XXXXXX";

static const char *tpath(const char *name)
{
	return unit_path(tmpdir, name);
}

static int rw_file_at(const char *path, void *buf, size_t len, uint64_t off,
		      bool write)
{
	int fd = open(path, write ? O_WRONLY | O_CREAT | O_CLOEXEC :
		      O_RDONLY | O_CLOEXEC, 0600);
	int ret;

	if (fd < 0)
		return -errno;
	ret = write ? ulo_pwrite_full(fd, buf, len, off) :
		ulo_pread_full(fd, buf, len, off);
	close(fd);
	return ret;
}

/* Flip one bit of the file at @off. */
static void flip(const char *path, uint64_t off)
{
	uint8_t b = 0;

	CHECK_EQ(rw_file_at(path, &b, 1, off, false), 0);
	b ^= 0x10;
	CHECK_EQ(rw_file_at(path, &b, 1, off, true), 0);
}

/* Image @seed of @size bytes in the file @path. */
static void make_image(const char *path, uint64_t size, unsigned seed)
{
	uint8_t *buf = malloc(size);

	unit_fill(buf, 0, size, seed);
	unlink(path);
	CHECK_EQ(rw_file_at(path, buf, size, 0, true), 0);
	free(buf);
}

static struct ulo_source *open_source(const char *path)
{
	struct ulo_source_opts o = { 0 };
	struct ulo_source *src = NULL;

	CHECK_EQ(ulo_source_open(path, &o, &src), 0);
	return src;
}

static struct ulo_cache *open_cache(const char *path, const char *bitmap,
				    bool readonly)
{
	struct ulo_cache_opts o = {
		.path = path, .bitmap_path = bitmap, .block_size = bitmap ? 0 : BS,
		.create = !readonly, .readonly = readonly,
	};
	struct ulo_cache *c = NULL;

	CHECK_EQ(ulo_cache_open(&o, &c), 0);
	return c;
}

/*
 * A native cache at @name bound to the image file @img (seed @seed),
 * holding blocks @from..@to of it, closed.
 */
static void make_cache(const char *name, const char *img, uint64_t from,
		       uint64_t to)
{
	struct ulo_source *src = open_source(img);
	struct ulo_cache *c = open_cache(tpath(name), NULL, false);
	enum ulo_bind_result res;
	uint8_t *buf = malloc(BS);

	if (!src || !c || !buf)
		goto out;
	CHECK_EQ(ulo_cache_bind(c, &src->id, false, &res, NULL), 0);
	for (uint64_t b = from; b <= to; b++) {
		size_t len = ulo_cache_block_len(c, b);

		CHECK_EQ(ulo_source_read(src, buf, b * BS, len, NULL), 0);
		CHECK_EQ(ulo_cache_write_blocks(c, b, buf, len), 0);
	}
out:
	free(buf);
	CHECK_EQ(ulo_cache_close(c), 0);
	ulo_source_close(src);
}

/* What verify reported, as a command would print it. */
static char reported[4][4096];
static unsigned nreported;

static void report(const char *msg)
{
	if (nreported < 4)
		snprintf(reported[nreported], sizeof(reported[0]), "%s", msg);
	nreported++;
}

static void test_queries(void)
{
	const char *img = tpath("q.img");
	struct ulo_source *src;
	struct ulo_cache *c;
	char real[PATH_MAX];

	make_image(img, IMG_SIZE, 1);
	c = open_cache(tpath("q.cache"), NULL, false);
	if (!c)
		return;
	CHECK(!ulo_cache_is_laid_out(c));
	CHECK(realpath(tpath("q.cache"), real) != NULL);
	CHECK(!strcmp(ulo_cache_path(c), real));
	CHECK(!strcmp(ulo_cache_format_name(c), "native"));
	CHECK(ulo_cache_bitmap_path(c) == NULL);
	CHECK(!ulo_cache_is_2007(c));
	CHECK(ulo_cache_file_fd(c) >= 0);
	CHECK_EQ(ulo_cache_bitmap_fd(c), -1);
	src = open_source(img);
	if (src) {
		CHECK_EQ(ulo_cache_bind(c, &src->id, false,
					&(enum ulo_bind_result){ 0 }, NULL), 0);
		CHECK(ulo_cache_is_laid_out(c));
		CHECK(ulo_identity_same(ulo_cache_identity(c), &src->id));
	}
	CHECK_EQ(ulo_cache_block_size(c), BS);
	CHECK_EQ(ulo_cache_image_size(c), IMG_SIZE);
	CHECK_EQ(ulo_cache_nblocks(c), NBLK);
	CHECK(ulo_cache_has_checksums(c));
	CHECK(!ulo_cache_given_up(c));
	CHECK(!ulo_cache_full(c));
	CHECK(!ulo_cache_full(NULL));
	ulo_cache_close(c);
	ulo_source_close(src);
}

/*
 * Verify: a clean cache, then one block differing in the image (counted,
 * named) and one spoilt on the flash (a checksum: counted, named by the
 * cache's message, not compared).  Only the first report_max are named.
 */
static void test_verify(void)
{
	const char *img = tpath("v.img"), *p = tpath("v.cache");
	struct ulo_verify_opts o = { .report = report, .report_max = 10 };
	struct ulo_verify_result r = { 99, 99 };
	struct ulo_source *src;
	struct ulo_cache *c;
	uint64_t data;

	make_image(img, IMG_SIZE, 2);
	make_cache("v.cache", img, 3, NBLK - 1);	/* 14, the short one too */
	c = open_cache(p, NULL, true);
	src = open_source(img);
	if (!c || !src)
		goto out;
	nreported = 0;
	CHECK_EQ(ulo_cache_verify(c, NULL, &o, &r), 0);
	CHECK_EQ(r.checked, NBLK - 3);
	CHECK_EQ(r.bad, 0);
	CHECK_EQ(ulo_cache_verify(c, src, &o, &r), 0);
	CHECK_EQ(r.checked, NBLK - 3);
	CHECK_EQ(r.bad, 0);
	CHECK_EQ(nreported, 0);
	data = ulo_native_header(c)->data_offset;
	ulo_cache_close(c);
	ulo_source_close(src);

	/* The image's block 5 changes; the cache's block 9 rots. */
	flip(img, 5 * BS + 77);
	flip(p, data + 9 * BS + 4096 * 3);
	c = open_cache(p, NULL, true);
	src = open_source(img);
	if (!c || !src)
		goto out;
	CHECK_EQ(ulo_cache_verify(c, NULL, &o, &r), 0);
	CHECK_EQ(r.checked, NBLK - 3);
	CHECK_EQ(r.bad, 1);
	CHECK_EQ(nreported, 1);
	CHECK_STR_CONTAINS(reported[0], "block 9");
	CHECK_STR_CONTAINS(reported[0], "checksum mismatch");
	nreported = 0;
	CHECK_EQ(ulo_cache_verify(c, src, &o, &r), 0);
	CHECK_EQ(r.checked, NBLK - 3);
	CHECK_EQ(r.bad, 2);
	CHECK_EQ(nreported, 2);
	CHECK_STR_CONTAINS(reported[0], "block 9");
	CHECK_STR_CONTAINS(reported[0], "checksum mismatch");
	CHECK_STR_CONTAINS(reported[1], ": block 5 (offset 327680) differs from ");
	CHECK_STR_CONTAINS(reported[1], img);
	/* Only the first is named; both are counted. */
	nreported = 0;
	o.report_max = 1;
	CHECK_EQ(ulo_cache_verify(c, src, &o, &r), 0);
	CHECK_EQ(r.bad, 2);
	CHECK_EQ(nreported, 1);
	/* No opts: counted only. */
	CHECK_EQ(ulo_cache_verify(c, src, NULL, &r), 0);
	CHECK_EQ(r.bad, 2);
out:
	ulo_cache_close(c);
	ulo_source_close(src);
}

/* A cache laid out anew by a writer while it was read: -ESTALE, whatever
 * the blocks said. */
static void test_verify_relaid(void)
{
	const char *img = tpath("s.img"), *other = tpath("s2.img");
	struct ulo_verify_result r;
	struct ulo_cache *ro, *w;
	struct ulo_source *src;
	enum ulo_bind_result res;

	make_image(img, IMG_SIZE, 3);
	make_image(other, 2 * IMG_SIZE, 4);
	make_cache("s.cache", img, 0, 2);
	ro = open_cache(tpath("s.cache"), NULL, true);
	w = open_cache(tpath("s.cache"), NULL, false);
	src = open_source(other);
	if (!ro || !w || !src)
		goto out;
	CHECK_EQ(ulo_cache_bind(w, &src->id, false, &res, NULL), 0);
	CHECK_EQ(res, ULO_BIND_DROPPED);
	CHECK_EQ(ulo_cache_verify(ro, NULL, NULL, &r), -ESTALE);
	CHECK_STR_CONTAINS(ulo_errmsg(), "laid out anew");
out:
	ulo_cache_close(w);
	ulo_cache_close(ro);
	ulo_source_close(src);
}

static bool file_is_image(const char *path, uint64_t size, unsigned seed)
{
	uint8_t *buf = malloc(size + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = buf && fd >= 0 && read(fd, buf, size + 1) == (ssize_t)size &&
		unit_is_pat(buf, 0, size, seed);

	if (fd >= 0)
		close(fd);
	free(buf);
	return ok;
}

/* Export: every block present, to a file and to a pipe; a partial cache
 * without an engine is refused. */
static void test_export(void)
{
	const char *img = tpath("e.img"), *out = tpath("e.out");
	struct ulo_export_opts o = { .name = out, .sync = true };
	struct ulo_cache *c;
	int fd, pfd[2];
	pid_t pid;
	int st;

	make_image(img, IMG_SIZE, 5);
	make_cache("e.cache", img, 1, NBLK - 1);
	c = open_cache(tpath("e.cache"), NULL, true);
	if (!c)
		return;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ulo_cache_export(c, fd, &o), -ENODATA);
	CHECK_STR_CONTAINS(ulo_errmsg(), "1 of 17 blocks missing");
	ulo_cache_close(c);
	close(fd);

	make_cache("e.cache", img, 0, 0);
	c = open_cache(tpath("e.cache"), NULL, true);
	if (!c)
		return;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK_EQ(ulo_cache_export(c, fd, &o), 0);
	close(fd);
	CHECK(file_is_image(out, IMG_SIZE, 5));

	/* A pipe takes the bytes in order; a child reads and checks them. */
	CHECK_EQ(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		uint8_t *buf = malloc(IMG_SIZE);
		size_t got = 0;
		ssize_t n;

		close(pfd[1]);
		while (buf && got < IMG_SIZE &&
		       (n = read(pfd[0], buf + got, IMG_SIZE - got)) > 0)
			got += n;
		_exit(got == IMG_SIZE && read(pfd[0], &n, 1) == 0 &&
		      unit_is_pat(buf, 0, IMG_SIZE, 5) ? 0 : 1);
	}
	close(pfd[0]);
	o.name = "pipe";
	o.sync = false;
	CHECK_EQ(ulo_cache_export(c, pfd[1], &o), 0);
	close(pfd[1]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st));
	ulo_cache_close(c);
}

/*
 * A 2007 cache of the 2007 tools: no image recorded, its size the image's
 * rounded up to the page.  Compared with an image, it takes the image's
 * exact size when the pages match; not otherwise, and not a native cache.
 */
static void test_2007_adopt_size(void)
{
	const char *p = tpath("old.img"), *bp = tpath("old.bitmap");
	const char *img = tpath("a.img"), *big = tpath("a2.img");
	uint64_t pages = ULO_DIV_ROUND_UP(IMG_SIZE, 4096);	/* 257 */
	struct ulo_verify_result r;
	struct ulo_source *src = NULL, *src2 = NULL;
	struct ulo_cache *c, *w;
	uint8_t bm[4096] = { 0x01 };	/* page 0 */
	uint8_t *buf = malloc(4096);

	/* Pages 0 and 256 of the image, the last one padded with zeros. */
	unit_fill(buf, 0, 4096, 6);
	CHECK_EQ(rw_file_at(p, buf, 4096, 0, true), 0);
	unit_fill(buf, 256 * 4096, 100, 6);
	memset(buf + 100, 0, 4096 - 100);
	CHECK_EQ(rw_file_at(p, buf, 4096, 256 * 4096, true), 0);
	bm[256 / 8] = 1u << (256 % 8);
	CHECK_EQ(rw_file_at(bp, bm, sizeof(bm), 0, true), 0);
	make_image(img, IMG_SIZE, 6);
	make_image(big, IMG_SIZE + 4096, 6);

	c = open_cache(p, bp, true);
	src = open_source(img);
	src2 = open_source(big);
	if (!c || !src || !src2)
		goto out;
	CHECK(ulo_cache_is_2007(c));
	CHECK(!strcmp(ulo_cache_format_name(c), "2007"));
	CHECK(ulo_cache_bitmap_path(c) && !strcmp(ulo_cache_bitmap_path(c), bp));
	CHECK(ulo_cache_bitmap_fd(c) >= 0);
	CHECK(!ulo_cache_has_checksums(c));
	CHECK_EQ(ulo_cache_identity(c)->kind, ULO_ID_NONE);
	CHECK_EQ(ulo_cache_image_size(c), pages * 4096);
	CHECK_EQ(ulo_cache_block_len(c, pages - 1), 4096);
	CHECK_EQ(ulo_cache_adopt_size(c, &src2->id), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "does not match");
	CHECK_EQ(ulo_cache_image_size(c), pages * 4096);
	CHECK_EQ(ulo_cache_adopt_size(c, &src->id), 0);
	CHECK_EQ(ulo_cache_image_size(c), IMG_SIZE);
	CHECK_EQ(ulo_cache_nblocks(c), pages);
	CHECK_EQ(ulo_cache_block_len(c, pages - 1), 100);
	CHECK_EQ(ulo_cache_verify(c, src, NULL, &r), 0);
	CHECK_EQ(r.checked, 2);
	CHECK_EQ(r.bad, 0);

	/* Only for readers: a writer binds instead. */
	w = open_cache(p, bp, false);
	if (w) {
		CHECK_EQ(ulo_cache_adopt_size(w, &src->id), -EINVAL);
		CHECK_STR_CONTAINS(ulo_errmsg(), "open for writing");
		ulo_cache_close(w);
	}
	ulo_cache_close(c);
	/* A native cache records its image: nothing to adopt. */
	make_cache("n.cache", img, 0, 0);
	c = open_cache(tpath("n.cache"), NULL, true);
	if (c) {
		CHECK_EQ(ulo_cache_adopt_size(c, &src->id), -EINVAL);
		CHECK_STR_CONTAINS(ulo_errmsg(), "not a 2007 cache");
	}
out:
	free(buf);
	ulo_cache_close(c);
	ulo_source_close(src);
	ulo_source_close(src2);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_queries);
	UNIT_RUN(test_verify);
	UNIT_RUN(test_verify_relaid);
	UNIT_RUN(test_export);
	UNIT_RUN(test_2007_adopt_size);
	unit_rm_tree(tmpdir);
	return unit_done();
}
