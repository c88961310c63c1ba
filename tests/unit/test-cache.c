// SPDX-License-Identifier: GPL-2.0-or-later
// reliability: E3; partly C3 C4 C5 C6 R4 E2
/*
 * test-cache.c - the cache layer (cache.c, cache_native.c, cache_2007.c)
 * against real files in a temporary directory.
 *
 * This is where uloop's one promise is kept: a block marked present on
 * disk has its data, and a cache never serves blocks of one image for
 * another.  So the tests check what reaches the files, not only what the
 * API reports: bits stay off the on-disk bitmap until a commit, an
 * identity change drops (or, offline, keeps and refuses) the blocks,
 * foreign or damaged files are refused with a message naming them, the
 * clean flag tells a clean close from a crash, and the 2007 two-file
 * layout keeps the sizes and bit order the 2007 driver used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache.h"
#include "cache_header.h"
/* Internals checked here that no function tells: commits made, the clean
 * flag found at open, the data offset, a partition's capacity. */
#include "cache_internal.h"
#include "crc32c.h"
#include "util.h"
#include "unit.h"
#include "unit-image.h"

#define BS 65536u
#define IMG_SIZE (1024 * 1024 + 100)	/* 17 blocks of 64 KiB, last 100 B */
#define NBLK 17

static char tmpdir[] = "/tmp/uloop-unit-cache-XXXXXX";

static const char *tpath(const char *name)
{
	return unit_path(tmpdir, name);
}

static void make_id(struct ulo_identity *id, uint64_t size, const char *val)
{
	memset(id, 0, sizeof(*id));
	id->kind = ULO_ID_FILE_MTIME;
	id->size = size;
	snprintf(id->validator, sizeof(id->validator), "%s", val);
	snprintf(id->location, sizeof(id->location), "/srv/images/disk.img");
}

static bool is_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

static int open_cache(const char *path, const char *bitmap, uint32_t bs,
		      bool create, bool readonly, bool wipe,
		      struct ulo_cache **c)
{
	struct ulo_cache_opts o = {
		.path = path, .bitmap_path = bitmap, .block_size = bs,
		.create = create, .readonly = readonly, .wipe = wipe,
	};

	*c = NULL;
	return ulo_cache_open(&o, c);
}

/* Write image blocks [@blk, @blk + @n) of image @seed through the cache. */
static int put_blocks(struct ulo_cache *c, uint64_t blk, uint64_t n,
		      unsigned seed)
{
	uint64_t off = blk * ulo_cache_block_size(c);
	uint64_t len = ULO_MIN(n * ulo_cache_block_size(c),
			       ulo_cache_image_size(c) - off);
	uint8_t *buf = malloc(len);
	int ret;

	unit_fill(buf, off, len, seed);
	ret = ulo_cache_write_blocks(c, blk, buf, len);
	free(buf);
	return ret;
}

/* Does the cache return image @seed's bytes for block @blk? */
static bool block_ok(struct ulo_cache *c, uint64_t blk, unsigned seed)
{
	uint64_t off = blk * ulo_cache_block_size(c);
	size_t len = ulo_cache_block_len(c, blk);
	uint8_t *buf = malloc(len);
	bool ok;

	ok = !ulo_cache_read(c, buf, off, len) && unit_is_pat(buf, off, len, seed);
	free(buf);
	return ok;
}

/* What the cache counted of the flash's damage. */
static struct ulo_cache_damage damage(const struct ulo_cache *c)
{
	struct ulo_cache_damage d;

	ulo_cache_damage(c, &d);
	return d;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? UINT64_MAX : (uint64_t)st.st_size;
}

static int read_file_at(const char *path, void *buf, size_t len, uint64_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = ulo_pread_full(fd, buf, len, off);
	close(fd);
	return ret;
}

static int write_file_at(const char *path, const void *buf, size_t len,
			 uint64_t off)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	int ret;

	if (fd < 0)
		return -errno;
	ret = ulo_pwrite_full(fd, buf, len, off);
	close(fd);
	return ret;
}

/* The header a fresh open would use, read straight from the file. */
static int disk_header(const char *path, struct ulo_header *h)
{
	uint8_t area[ULO_HDR_AREA];
	char why[512];
	int slot, ret = read_file_at(path, area, sizeof(area), 0);

	return ret ? ret : ulo_header_pick(area, h, &slot, why, sizeof(why));
}

/* One byte of the on-disk native bitmap. */
static int disk_bitmap_byte(const char *path, uint64_t i)
{
	struct ulo_header h;
	uint8_t b;

	if (disk_header(path, &h) ||
	    read_file_at(path, &b, 1, h.bitmap_offset + i))
		return -1;
	return b;
}

/* A native cache at @name bound to @id with blocks 0, 1, 5 and 16 of
 * image @seed, closed. */
static void make_native(const char *name, const struct ulo_identity *id,
			unsigned seed)
{
	struct ulo_cache *c;
	enum ulo_bind_result res;

	CHECK_EQ(open_cache(tpath(name), NULL, BS, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, id, false, &res, NULL), 0);
	CHECK_EQ(put_blocks(c, 0, 2, seed), 0);
	CHECK_EQ(put_blocks(c, 5, 1, seed), 0);
	CHECK_EQ(put_blocks(c, 16, 1, seed), 0);
	CHECK_EQ(ulo_cache_close(c), 0);
}

static void test_native_create(void)
{
	const char *p = tpath("new.cache");
	struct ulo_identity id;
	enum ulo_bind_result res = -1;
	uint64_t dropped = 99;
	const struct ulo_header *h;
	struct ulo_cache *c;
	uint8_t buf[BS];

	make_id(&id, IMG_SIZE, "ino=11 mtime=1700000000.5");
	CHECK_EQ(open_cache(p, NULL, BS, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK(!ulo_cache_is_laid_out(c));
	CHECK_EQ(file_size(p), 0);
	/* Nothing to write to before a bind. */
	CHECK_EQ(ulo_cache_write_blocks(c, 0, buf, BS), -EROFS);

	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, &dropped), 0);
	CHECK_EQ(res, ULO_BIND_NEW);
	CHECK_EQ(dropped, 0);
	CHECK(ulo_cache_is_laid_out(c));
	CHECK_EQ(ulo_cache_nblocks(c), NBLK);
	CHECK_EQ(ulo_cache_image_size(c), IMG_SIZE);
	CHECK_EQ(ulo_cache_block_size(c), BS);
	CHECK_EQ(ulo_cache_count(c), 0);
	CHECK_EQ(ulo_cache_block_len(c, 0), BS);
	CHECK_EQ(ulo_cache_block_len(c, NBLK - 1), 100);
	h = ulo_native_header(c);
	CHECK(h != NULL);
	if (h) {
		CHECK_EQ(h->block_shift, 16);
		CHECK_EQ(h->image_size, IMG_SIZE);
		CHECK_EQ(h->id.kind, ULO_ID_FILE_MTIME);
		CHECK(!strcmp(h->id.validator, id.validator));
		CHECK(!strcmp(h->id.location, id.location));
		CHECK_EQ(h->flags & ULO_HDR_F_CLEAN, 0);
		CHECK_EQ(file_size(p), h->data_offset + h->data_length);
	}
	/* The temporary file of the build-and-rename is gone. */
	CHECK_EQ(file_size(tpath("new.cache.uloop-new")), UINT64_MAX);

	CHECK_EQ(put_blocks(c, 0, 2, 1), 0);
	CHECK_EQ(put_blocks(c, 5, 1, 1), 0);
	CHECK_EQ(put_blocks(c, NBLK - 1, 1, 1), 0);	/* 100 bytes */
	CHECK_EQ(ulo_cache_count(c), 4);
	for (uint64_t b = 0; b < NBLK; b++)
		CHECK_EQ(ulo_cache_present(c, b), b <= 1 || b == 5 || b == 16);
	CHECK(block_ok(c, 0, 1));
	CHECK(block_ok(c, 1, 1));
	CHECK(block_ok(c, 5, 1));
	CHECK(block_ok(c, 16, 1));
	/* A read inside and across blocks. */
	CHECK_EQ(ulo_cache_read(c, buf, BS - 10, 1000), 0);
	CHECK(unit_is_pat(buf, BS - 10, 1000, 1));

	/* Malformed writes are refused and name the cache. */
	unit_fill(buf, 3 * BS, 100, 1);
	CHECK_EQ(ulo_cache_write_blocks(c, 3, buf, 100), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_EQ(ulo_cache_write_blocks(c, NBLK, buf, 100), -EINVAL);
	CHECK_EQ(ulo_cache_write_blocks(c, NBLK - 1, buf, BS + 100), -EINVAL);
	CHECK(!ulo_cache_present(c, 3));
	CHECK_EQ(ulo_cache_count(c), 4);

	CHECK_EQ(ulo_cache_close(c), 0);
}

static void test_native_reopen_reuse(void)
{
	const char *p = tpath("reuse.cache");
	struct ulo_identity id;
	enum ulo_bind_result res = -1;
	uint64_t dropped = 99;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=12 mtime=1700000001.0");
	make_native("reuse.cache", &id, 2);

	/* block_size 0: whatever the cache has. */
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK(ulo_cache_is_laid_out(c));
	CHECK(c->was_clean);
	CHECK_EQ(ulo_cache_block_size(c), BS);
	CHECK_EQ(ulo_cache_nblocks(c), NBLK);
	CHECK_EQ(ulo_cache_count(c), 4);
	CHECK(ulo_cache_present(c, 0) && ulo_cache_present(c, 1));
	CHECK(ulo_cache_present(c, 5) && ulo_cache_present(c, 16));
	CHECK(!ulo_cache_present(c, 2));
	CHECK(block_ok(c, 0, 2));
	CHECK(block_ok(c, 16, 2));
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, &dropped), 0);
	CHECK_EQ(res, ULO_BIND_REUSED);
	CHECK_EQ(dropped, 0);
	CHECK_EQ(ulo_cache_count(c), 4);
	CHECK(block_ok(c, 5, 2));
	/* Still usable: one more block. */
	CHECK_EQ(put_blocks(c, 7, 1, 2), 0);
	CHECK_EQ(ulo_cache_close(c), 0);

	CHECK_EQ(open_cache(p, NULL, BS, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_count(c), 5);
	CHECK(block_ok(c, 7, 2));
	CHECK_EQ(ulo_cache_close(c), 0);
}

static void test_native_offline_stale(void)
{
	const char *p = tpath("stale.cache");
	struct ulo_identity id, other;
	enum ulo_bind_result res = -1;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=13 mtime=1700000002.0");
	make_id(&other, IMG_SIZE, "ino=13 mtime=1700009999.0");
	make_native("stale.cache", &id, 3);

	CHECK_EQ(open_cache(p, NULL, BS, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &other, true, &res, NULL), -ESTALE);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "offline");
	CHECK_EQ(ulo_cache_count(c), 4);
	CHECK(block_ok(c, 5, 3));
	CHECK(!strcmp(ulo_cache_identity(c)->validator, id.validator));
	ulo_cache_close(c);

	/* Nothing was dropped on disk either. */
	CHECK_EQ(open_cache(p, NULL, BS, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_count(c), 4);
	CHECK(!strcmp(ulo_cache_identity(c)->validator, id.validator));
	CHECK(block_ok(c, 0, 3));
	/* Offline with the same image is fine. */
	CHECK_EQ(ulo_cache_bind(c, &id, true, &res, NULL), 0);
	CHECK_EQ(res, ULO_BIND_REUSED);
	CHECK_EQ(ulo_cache_close(c), 0);
}

static void test_native_dropped(void)
{
	const char *p = tpath("drop.cache");
	struct ulo_identity id, other, bigger;
	enum ulo_bind_result res = -1;
	uint64_t dropped = 0;
	uint8_t uuid[16];
	struct ulo_cache *c;
	uint8_t buf[BS];

	make_id(&id, IMG_SIZE, "ino=14 mtime=1700000003.0");
	make_id(&other, IMG_SIZE, "ino=14 mtime=1700000004.0");
	make_id(&bigger, 3 * IMG_SIZE, "ino=14 mtime=1700000005.0");
	make_native("drop.cache", &id, 4);

	CHECK_EQ(open_cache(p, NULL, BS, false, false, false, &c), 0);
	if (!c)
		return;
	memcpy(uuid, ulo_native_header(c)->uuid, sizeof(uuid));
	CHECK_EQ(ulo_cache_bind(c, &other, false, &res, &dropped), 0);
	CHECK_EQ(res, ULO_BIND_DROPPED);
	CHECK_EQ(dropped, 4);
	CHECK_EQ(ulo_cache_count(c), 0);
	for (uint64_t b = 0; b < NBLK; b++)
		CHECK(!ulo_cache_present(c, b));
	CHECK(!strcmp(ulo_cache_identity(c)->validator, other.validator));
	/* The old image's bytes are gone from the new layout's data area. */
	CHECK_EQ(ulo_pread_full(ulo_cache_file_fd(c), buf, BS, c->data_offset), 0);
	CHECK(is_zero(buf, BS));
	/* A new layout has a new uuid: lock-free readers can tell. */
	CHECK(memcmp(ulo_native_header(c)->uuid, uuid, sizeof(uuid)) != 0);
	CHECK_EQ(put_blocks(c, 2, 1, 5), 0);
	CHECK_EQ(ulo_cache_close(c), 0);

	CHECK_EQ(open_cache(p, NULL, BS, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_count(c), 1);
	CHECK(ulo_cache_present(c, 2) && !ulo_cache_present(c, 0));
	CHECK(block_ok(c, 2, 5));
	CHECK(!strcmp(ulo_cache_identity(c)->validator, other.validator));

	/* A bigger image: a new layout. */
	CHECK_EQ(ulo_cache_bind(c, &bigger, false, &res, &dropped), 0);
	CHECK_EQ(res, ULO_BIND_DROPPED);
	CHECK_EQ(dropped, 1);
	CHECK_EQ(ulo_cache_nblocks(c), 49);	/* ceil(3 * IMG_SIZE / 64 KiB) */
	CHECK_EQ(ulo_cache_image_size(c), 3ull * IMG_SIZE);
	CHECK_EQ(ulo_cache_count(c), 0);
	CHECK_EQ(ulo_cache_close(c), 0);
	/* Header + one bitmap page rounded to a block, then 49 blocks. */
	CHECK_EQ(file_size(p), BS + 49 * BS);
}

static void test_block_size_mismatch(void)
{
	const char *p = tpath("bs.cache");
	struct ulo_identity id;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=15 mtime=1700000006.0");
	make_native("bs.cache", &id, 6);

	CHECK_EQ(open_cache(p, NULL, 4096, false, false, false, &c), -EINVAL);
	CHECK(c == NULL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "block size is 65536, not 4096");
	CHECK_EQ(open_cache(p, NULL, 1 << 20, false, false, false, &c), -EINVAL);
	/* Not a power of two, too small, too big: refused up front. */
	CHECK_EQ(open_cache(p, NULL, 12345, false, false, false, &c), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "12345");
	CHECK_EQ(open_cache(p, NULL, 2048, false, false, false, &c), -EINVAL);
	CHECK_EQ(open_cache(p, NULL, 2 << 20, false, false, false, &c), -EINVAL);
	/* The cache itself is untouched. */
	CHECK_EQ(open_cache(p, NULL, BS, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_count(c), 4);
	CHECK_EQ(ulo_cache_close(c), 0);
}

static void test_commit_order(void)
{
	const char *p = tpath("commit.cache");
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_header h0, h1;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=16 mtime=1700000007.0");
	CHECK_EQ(open_cache(p, NULL, BS, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(disk_header(p, &h0), 0);

	CHECK_EQ(put_blocks(c, 3, 1, 7), 0);
	CHECK_EQ(put_blocks(c, 9, 1, 7), 0);
	/* Readable at once, but not on disk yet. */
	CHECK(ulo_cache_present(c, 3));
	CHECK(block_ok(c, 3, 7));
	CHECK_EQ(disk_bitmap_byte(p, 0), 0);
	CHECK_EQ(disk_bitmap_byte(p, 1), 0);

	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(disk_bitmap_byte(p, 0), 1 << 3);	/* block 3: byte 0 & 8 */
	CHECK_EQ(disk_bitmap_byte(p, 1), 1 << 1);	/* block 9: byte 1 & 2 */
	CHECK_EQ(disk_bitmap_byte(p, 2), 0);
	CHECK_EQ(disk_header(p, &h1), 0);
	CHECK(h1.generation > h0.generation);
	CHECK_EQ(c->commits, 1);

	/* The next block waits for the next commit. */
	CHECK_EQ(put_blocks(c, 16, 1, 7), 0);
	CHECK_EQ(disk_bitmap_byte(p, 2), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(disk_bitmap_byte(p, 2), 1);		/* block 16 */
	CHECK_EQ(disk_bitmap_byte(p, 0), 1 << 3);	/* kept */
	CHECK_EQ(c->commits, 2);
	/* Nothing new: no commit, no header write. */
	CHECK_EQ(disk_header(p, &h0), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(disk_header(p, &h1), 0);
	CHECK_EQ(h1.generation, h0.generation);
	CHECK_EQ(c->commits, 2);
	CHECK_EQ(ulo_cache_close(c), 0);
}

static void test_commit_on_close(void)
{
	const char *p = tpath("closecommit.cache");
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=17 mtime=1700000008.0");
	CHECK_EQ(open_cache(p, NULL, BS, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(put_blocks(c, 10, 1, 8), 0);
	CHECK_EQ(disk_bitmap_byte(p, 1), 0);
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK_EQ(disk_bitmap_byte(p, 1), 1 << 2);	/* block 10 */
}

/* What the withdraw hook was told: runs of blocks. */
static uint64_t wd_blk[8], wd_n[8];
static int wd_calls;

static void record_withdrawn(void *ctx, uint64_t blk, uint64_t n)
{
	(void)ctx;
	if (wd_calls < 8) {
		wd_blk[wd_calls] = blk;
		wd_n[wd_calls] = n;
	}
	wd_calls++;
}

/*
 * A flush that fails (a dying flash): the blocks written since the last
 * commit are taken back, present no more, never marked on disk, and the
 * withdraw hook hears of them as runs; blocks committed before stay.
 */
static void test_sync_error_withdraws(void)
{
	const char *p = tpath("syncerr.cache");
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c;

	make_id(&id, 128ull * BS, "ino=19 mtime=1700000009.5");	/* two bitmap words */
	CHECK_EQ(open_cache(p, NULL, BS, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(put_blocks(c, 1, 1, 5), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	ulo_cache_on_withdraw(c, record_withdrawn, NULL);
	CHECK_EQ(put_blocks(c, 3, 1, 6), 0);
	CHECK_EQ(put_blocks(c, 4, 1, 6), 0);
	CHECK_EQ(put_blocks(c, 63, 1, 6), 0);
	CHECK_EQ(put_blocks(c, 64, 1, 6), 0);	/* the next bitmap word */
	CHECK_EQ(put_blocks(c, 70, 1, 6), 0);
	setenv("ULOOP_FAILPOINT", "data-sync-eio", 1);
	CHECK(ulo_cache_commit(c) < 0);
	unsetenv("ULOOP_FAILPOINT");
	CHECK(ulo_cache_present(c, 1));
	for (uint64_t b = 3; b <= 70; b++)
		CHECK(!ulo_cache_present(c, b));
	CHECK_EQ(wd_calls, 4);
	CHECK_EQ(wd_blk[0], 3);
	CHECK_EQ(wd_n[0], 2);
	CHECK_EQ(wd_blk[1], 63);
	CHECK_EQ(wd_n[1], 1);
	CHECK_EQ(wd_blk[2], 64);
	CHECK_EQ(wd_n[2], 1);
	CHECK_EQ(wd_blk[3], 70);
	CHECK_EQ(wd_n[3], 1);
	CHECK_EQ(disk_bitmap_byte(p, 0), 1 << 1);	/* block 1 only */
	CHECK(ulo_cache_close(c) < 0);	/* says blocks were not kept */
	CHECK_EQ(disk_bitmap_byte(p, 0), 1 << 1);
}

/* A file of @len pseudo-random bytes. */
static void make_junk(const char *path, size_t len)
{
	uint8_t *buf = malloc(len);
	uint64_t x = 0x243f6a8885a308d3ull;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	unlink(path);
	CHECK_EQ(write_file_at(path, buf, len, 0), 0);
	free(buf);
}

static void test_foreign_data(void)
{
	const char *p = tpath("foreign.img");
	struct ulo_identity id;
	enum ulo_bind_result res = -1;
	uint8_t before[256], after[256];
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=18 mtime=1700000009.0");
	make_junk(p, 200000);
	CHECK_EQ(read_file_at(p, before, sizeof(before), 0), 0);

	CHECK_EQ(open_cache(p, NULL, BS, true, false, false, &c), -EEXIST);
	CHECK(c == NULL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "other data");
	CHECK_EQ(open_cache(p, NULL, BS, true, true, false, &c), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "not a uloop cache");
	/* Untouched by the refusals. */
	CHECK_EQ(file_size(p), 200000);
	CHECK_EQ(read_file_at(p, after, sizeof(after), 0), 0);
	CHECK(!memcmp(before, after, sizeof(before)));

	/* With wipe it becomes a cache. */
	CHECK_EQ(open_cache(p, NULL, BS, true, false, true, &c), 0);
	if (!c)
		return;
	CHECK(!ulo_cache_is_laid_out(c));
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(res, ULO_BIND_NEW);
	CHECK_EQ(ulo_cache_count(c), 0);
	CHECK_EQ(put_blocks(c, 4, 1, 9), 0);
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK_EQ(open_cache(p, NULL, BS, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_count(c), 1);
	CHECK(block_ok(c, 4, 9));
	CHECK_EQ(ulo_cache_close(c), 0);

	/* Written data, even zeros, is somebody's: refused without --wipe
	 * (reading a whole large file to prove it zero is not worth it). */
	p = tpath("zeros.img");
	unlink(p);
	CHECK_EQ(write_file_at(p, "", 1, 100000), 0);
	c = NULL;
	CHECK_EQ(open_cache(p, NULL, BS, true, false, false, &c), -EEXIST);
	CHECK(c == NULL);

	/* A fully sparse file (truncate -s) holds nothing: used as is. */
	p = tpath("sparse.img");
	unlink(p);
	CHECK_EQ(truncate(p, 0) == 0 || errno == ENOENT, 1);
	{
		int fd = open(p, O_CREAT | O_WRONLY, 0600);

		CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
		close(fd);
	}
	CHECK_EQ(open_cache(p, NULL, BS, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK(!ulo_cache_is_laid_out(c));
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(res, ULO_BIND_NEW);
	CHECK_EQ(ulo_cache_close(c), 0);
}

static void test_truncated(void)
{
	const char *p = tpath("trunc.cache");
	struct ulo_identity id;
	struct ulo_cache *c;
	uint64_t full;

	make_id(&id, IMG_SIZE, "ino=19 mtime=1700000010.0");
	make_native("trunc.cache", &id, 10);
	full = file_size(p);
	CHECK_EQ(full, 65536 + NBLK * 65536);

	/* One byte short of the data region. */
	CHECK_EQ(truncate(p, full - 1), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), -EINVAL);
	CHECK(c == NULL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "data region ends past the end");
	/* Read-only inspection refuses it the same way. */
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "data region");

	/* Only the header and part of the bitmap left. */
	CHECK_EQ(truncate(p, 8192 + 100), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "bitmap region ends past the end");

	/* Cut inside the second header slot. */
	CHECK_EQ(truncate(p, 6000), 0);
	CHECK(open_cache(p, NULL, 0, false, false, false, &c) < 0);
	CHECK(c == NULL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "past the end");
	/* Only the refusal: the file is left as it was. */
	CHECK_EQ(file_size(p), 6000);
}

static void test_damaged_header(void)
{
	const char *p = tpath("damaged.cache");
	struct ulo_identity id;
	struct ulo_cache *c;
	uint8_t b;

	make_id(&id, IMG_SIZE, "ino=20 mtime=1700000011.0");
	make_native("damaged.cache", &id, 11);

	/* One copy damaged: the other one is used. */
	CHECK_EQ(read_file_at(p, &b, 1, 500), 0);
	b ^= 0x40;
	CHECK_EQ(write_file_at(p, &b, 1, 500), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c), 0);
	if (c) {
		CHECK_EQ(ulo_cache_count(c), 4);
		CHECK(block_ok(c, 16, 11));
		ulo_cache_close(c);
	}
	/* Both: refused, and the message says so. */
	CHECK_EQ(read_file_at(p, &b, 1, 4096 + 500), 0);
	b ^= 0x40;
	CHECK_EQ(write_file_at(p, &b, 1, 4096 + 500), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), -EBADMSG);
	CHECK(c == NULL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "both header copies bad");
	/* --wipe starts a damaged cache over. */
	CHECK_EQ(open_cache(p, NULL, 0, false, false, true, &c), 0);
	if (c) {
		CHECK(!ulo_cache_is_laid_out(c));
		ulo_cache_close(c);
	}
}

static void test_stray_bits(void)
{
	const char *p = tpath("stray.cache");
	struct ulo_identity id;
	struct ulo_cache *c;
	uint8_t sec[512];

	make_id(&id, IMG_SIZE, "ino=21 mtime=1700000012.0");
	make_native("stray.cache", &id, 12);
	/* Bit 18, past the 17 blocks, in a sector whose CRC says so. */
	CHECK_EQ(read_file_at(p, sec, sizeof(sec), 8192), 0);
	sec[2] |= 0x04;
	ulo_put_le32(sec + 508, ulo_crc32c(0, sec, 508));
	CHECK_EQ(write_file_at(p, sec, sizeof(sec), 8192), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "past the last block");
}

/*
 * A flipped bit in the on-disk bitmap fails its sector's CRC: the sector
 * is trusted for nothing (its blocks are fetched again, never served from
 * data that may not be there), counted, and rewritten whole at open.
 */
static void test_bitmap_sector_crc(void)
{
	const char *p = tpath("bmcrc.cache");
	struct ulo_identity id;
	struct ulo_cache *c;
	uint8_t b;

	make_id(&id, IMG_SIZE, "ino=22 mtime=1700000013.0");
	make_native("bmcrc.cache", &id, 13);
	CHECK_EQ(read_file_at(p, &b, 1, 8192), 0);
	b ^= 0x08;	/* claims block 3, which was never stored */
	CHECK_EQ(write_file_at(p, &b, 1, 8192), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(damage(c).bitmap_csum_errors, 1);
	CHECK(!ulo_cache_present(c, 3));
	CHECK_EQ(ulo_cache_count(c), 0);	/* all 17 blocks share the sector */
	CHECK_EQ(ulo_cache_close(c), 0);
	/* Repaired: the next open finds a whole sector. */
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(damage(c).bitmap_csum_errors, 0);
	ulo_cache_close(c);
}

/*
 * Cached data that is not what was stored (bit rot, a flash returning
 * another page) fails its CRC on read: -EBADMSG naming the block, counted;
 * withdrawn, the block is missing (on disk too, after a commit) until it
 * is stored again.
 */
static void test_data_crc(void)
{
	const char *p = tpath("datacrc.cache");
	struct ulo_identity id;
	struct ulo_cache *c;
	uint8_t buf[BS], b;
	uint64_t bad = 0;

	make_id(&id, IMG_SIZE, "ino=23 mtime=1700000014.0");
	make_native("datacrc.cache", &id, 14);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	/* One byte of block 5, 4 KiB + 7 into it. */
	CHECK_EQ(read_file_at(p, &b, 1, c->data_offset + 5 * BS + 4096 + 7), 0);
	b ^= 1;
	CHECK_EQ(write_file_at(p, &b, 1, c->data_offset + 5 * BS + 4096 + 7), 0);
	/* Reads not touching that 4 KiB still pass. */
	CHECK_EQ(ulo_cache_read_checked(c, buf, 5 * BS, 4096, &bad), 0);
	CHECK_EQ(ulo_cache_read_checked(c, buf, 5 * BS + 8192, 100, &bad), 0);
	CHECK(unit_is_pat(buf, 5 * BS + 8192, 100, 14));
	/* Any that does fails, unaligned too. */
	CHECK_EQ(ulo_cache_read_checked(c, buf, 5 * BS, BS, &bad), -EBADMSG);
	CHECK_EQ(bad, 5);
	CHECK_STR_CONTAINS(ulo_errmsg(), "block 5");
	CHECK_STR_CONTAINS(ulo_errmsg(), "checksum mismatch");
	CHECK_EQ(ulo_cache_read_checked(c, buf, 5 * BS + 4100, 3, &bad), -EBADMSG);
	CHECK_EQ(damage(c).csum_errors, 0);	/* counted when taken back */
	CHECK(ulo_cache_fault(c, 5, -EBADMSG));
	CHECK(!ulo_cache_present(c, 5));
	/* A second reader that saw the same bad block: one fault. */
	CHECK(ulo_cache_fault(c, 5, -EBADMSG));
	CHECK_EQ(damage(c).csum_errors, 1);
	CHECK_EQ(damage(c).refetched, 1);
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(disk_bitmap_byte(p, 0) & 0x20, 0);	/* off on disk too */
	/* Stored again: whole and good. */
	CHECK_EQ(put_blocks(c, 5, 1, 14), 0);
	CHECK(block_ok(c, 5, 14));
	CHECK(block_ok(c, 16, 14));	/* the short last block */
	CHECK_EQ(ulo_cache_close(c), 0);
}

/* A flash that keeps failing is given up: nothing present, no writes. */
static void test_give_up(void)
{
	const char *p = tpath("giveup.cache");
	struct ulo_identity id;
	struct ulo_cache *c;
	bool used = true;

	make_id(&id, IMG_SIZE, "ino=24 mtime=1700000015.0");
	make_native("giveup.cache", &id, 15);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(put_blocks(c, 0, NBLK, 15), 0);
	/* The budget is 1 MiB of image, in blocks. */
	CHECK_EQ(ulo_cache_fault_budget(c),
		 ULO_CACHE_MAX_FAULTS * ULO_MAX(1u, ULO_CACHE_FAULT_UNIT / ulo_cache_block_size(c)));
	CHECK(ulo_cache_fault_budget(c) <= NBLK);
	for (uint64_t i = 0; i < ulo_cache_fault_budget(c) && used; i++)
		used = ulo_cache_fault(c, i, i % 2 ? -EIO : -EBADMSG);
	CHECK(!used);
	CHECK_EQ(damage(c).csum_errors + damage(c).read_errors, ulo_cache_fault_budget(c));
	CHECK(ulo_cache_given_up(c));
	CHECK_EQ(ulo_cache_count(c), 0);
	CHECK(ulo_cache_full(c));
	CHECK_EQ(put_blocks(c, 3, 1, 15), ULO_CACHE_REFUSED);
	ulo_cache_close(c);
}

/* A format 1 cache (as uloop wrote before checksums) at @p for @id in
 * 64 KiB blocks, block 0 marked present; its header in *@h. */
static void make_format1(const char *p, const struct ulo_identity *id,
			 struct ulo_header *h)
{
	uint8_t slot[ULO_HDR_SLOT_SIZE], one = 0x01;

	memset(h, 0, sizeof(*h));
	h->version = 1;
	h->block_shift = 16;
	h->image_size = id->size;
	ulo_header_layout(h);
	h->generation = 1;
	h->id = *id;
	ulo_header_encode(h, slot);
	CHECK_EQ(write_file_at(p, slot, sizeof(slot), 0), 0);
	CHECK_EQ(write_file_at(p, &one, 1, h->bitmap_offset), 0);
	CHECK_EQ(truncate(p, (off_t)(h->data_offset + h->data_length)), 0);
}

/* A format 1 cache (no checksums) is read as it is, and laid out anew in
 * format 2 by a writer binding it to its image. */
static void test_format1_upgrade(void)
{
	const char *p = tpath("v1.cache");
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_header h;
	struct ulo_cache *c;
	uint64_t dropped;

	make_id(&id, IMG_SIZE, "ino=25 mtime=1700000016.0");
	make_format1(p, &id, &h);
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c), 0);
	if (c) {
		CHECK(ulo_cache_present(c, 0));
		CHECK(!ulo_cache_has_checksums(c));
		ulo_cache_close(c);
	}
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, &dropped), 0);
	CHECK_EQ(res, ULO_BIND_UPGRADED);
	CHECK_EQ(dropped, 1);
	CHECK_EQ(ulo_native_header(c)->version, 2);
	CHECK(ulo_cache_has_checksums(c));
	CHECK_EQ(ulo_cache_count(c), 0);
	ulo_cache_close(c);
}

/* A format 1 cache where format 2 would not fit (a partition sized for
 * format 1: a 256 MiB image in 64 KiB blocks needs 256 KiB more of CRCs)
 * is kept as it is, never unbound first and then found too small. */
static void test_format1_no_room(void)
{
	const char *p = tpath("v1big.cache");
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_header h;
	struct ulo_cache *c;
	uint64_t dropped;

	make_id(&id, 256u << 20, "ino=26 mtime=1700000017.0");
	make_format1(p, &id, &h);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	c->capacity = h.data_offset + h.data_length;	/* as a partition's */
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, &dropped), 0);
	CHECK_EQ(res, ULO_BIND_REUSED);
	CHECK(ulo_cache_present(c, 0));
	CHECK_EQ(ulo_native_header(c)->version, 1);
	CHECK_EQ(ulo_native_header(c)->id.kind, id.kind);
	CHECK_EQ(ulo_cache_close(c), 0);
}

static void test_locked(void)
{
	const char *p = tpath("locked.cache");
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c, *c2;

	make_id(&id, IMG_SIZE, "ino=22 mtime=1700000013.0");
	make_native("locked.cache", &id, 13);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	/* One writer at a time. */
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c2), -EBUSY);
	CHECK(c2 == NULL);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "in use");

	/* Readers take no lock and see what the writer committed. */
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(put_blocks(c, 8, 1, 13), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c2), 0);
	if (c2) {
		CHECK_EQ(ulo_cache_count(c2), 4);	/* block 8 not yet */
		ulo_cache_close(c2);
	}
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c2), 0);
	if (c2) {
		CHECK_EQ(ulo_cache_count(c2), 5);
		CHECK(ulo_cache_present(c2, 8));
		CHECK(block_ok(c2, 8, 13));
		ulo_cache_close(c2);
	}
	CHECK_EQ(ulo_cache_close(c), 0);

	/* A reader does not keep a writer out. */
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c2), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	ulo_cache_close(c);
	ulo_cache_close(c2);

	/* A missing file is only created when asked. */
	CHECK_EQ(open_cache(tpath("missing.cache"), NULL, 0, false, false,
			    false, &c), -ENOENT);
	CHECK_STR_CONTAINS(ulo_errmsg(), tpath("missing.cache"));
	CHECK_EQ(file_size(tpath("missing.cache")), UINT64_MAX);
}

static void test_clean_flag(void)
{
	const char *p = tpath("clean.cache");
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_header h;
	const struct ulo_header *hp;
	struct ulo_cache *c;
	uint64_t gen;

	make_id(&id, IMG_SIZE, "ino=23 mtime=1700000014.0");
	CHECK_EQ(open_cache(p, NULL, BS, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(disk_header(p, &h), 0);
	CHECK_EQ(h.flags & ULO_HDR_F_CLEAN, 0);
	CHECK_EQ(put_blocks(c, 1, 1, 14), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	/* Bound and committed, still open: a crash now is not clean. */
	CHECK_EQ(disk_header(p, &h), 0);
	CHECK_EQ(h.flags & ULO_HDR_F_CLEAN, 0);
	CHECK(!strcmp(h.id.validator, id.validator));
	CHECK_EQ(ulo_cache_close(c), 0);

	CHECK_EQ(disk_header(p, &h), 0);
	CHECK_EQ(h.flags & ULO_HDR_F_CLEAN, ULO_HDR_F_CLEAN);
	gen = h.generation;
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c), 0);
	if (!c)
		return;
	CHECK(c->was_clean);
	hp = ulo_native_header(c);
	CHECK(hp != NULL);
	if (hp) {
		CHECK_EQ(hp->flags & ULO_HDR_F_CLEAN, ULO_HDR_F_CLEAN);
		CHECK_EQ(hp->generation, gen);
	}
	CHECK_EQ(ulo_cache_count(c), 1);
	/* Read-only: no bind, no writes, nothing written at close. */
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), -EROFS);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_EQ(put_blocks(c, 2, 1, 14), -EROFS);
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK_EQ(disk_header(p, &h), 0);
	CHECK_EQ(h.generation, gen);
	CHECK_EQ(h.flags & ULO_HDR_F_CLEAN, ULO_HDR_F_CLEAN);

	/* Reusing it clears the flag on disk until the next close. */
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK(c->was_clean);
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(res, ULO_BIND_REUSED);
	CHECK_EQ(disk_header(p, &h), 0);
	CHECK_EQ(h.flags & ULO_HDR_F_CLEAN, 0);
	CHECK(h.generation > gen);
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK_EQ(disk_header(p, &h), 0);
	CHECK_EQ(h.flags & ULO_HDR_F_CLEAN, ULO_HDR_F_CLEAN);
}

static bool have_xattr(const char *path)
{
	char buf[4096];

	return getxattr(path, "user.uloop.identity", buf, sizeof(buf)) > 0;
}

static void test_2007_layout(void)
{
	const char *p = tpath("c2007.img"), *bp = tpath("c2007.bitmap");
	struct ulo_identity id, other;
	enum ulo_bind_result res = -1;
	uint64_t pages = (IMG_SIZE + 4095) / 4096;	/* 257 */
	uint8_t bm[4096], page[4096];
	struct ulo_cache *c;
	bool xattr;

	make_id(&id, IMG_SIZE, "ino=24 mtime=1700000015.0");
	make_id(&other, IMG_SIZE, "ino=24 mtime=1700000016.0");
	CHECK_EQ(open_cache(p, bp, 65536, true, false, false, &c), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "4K");
	CHECK_EQ(open_cache(p, bp, 0, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK(!ulo_cache_is_laid_out(c));
	CHECK(ulo_native_header(c) == NULL);
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(res, ULO_BIND_NEW);
	CHECK_EQ(ulo_cache_block_size(c), 4096);
	CHECK_EQ(ulo_cache_nblocks(c), pages);
	CHECK_EQ(file_size(p), ULO_ROUND_UP((uint64_t)IMG_SIZE, 4096));
	CHECK_EQ(file_size(bp), ULO_MAX(4096, ULO_ROUND_UP((pages + 7) / 8, 4096)));
	CHECK_EQ(file_size(bp), 4096);
	xattr = have_xattr(bp);

	CHECK_EQ(put_blocks(c, 2, 1, 15), 0);
	CHECK_EQ(put_blocks(c, 9, 1, 15), 0);
	CHECK_EQ(put_blocks(c, pages - 1, 1, 15), 0);	/* 100 bytes */
	/* The cache file is the image: data at the image offset. */
	CHECK_EQ(read_file_at(p, page, 4096, 2 * 4096), 0);
	CHECK(unit_is_pat(page, 2 * 4096, 4096, 15));
	CHECK_EQ(read_file_at(p, page, 100, (pages - 1) * 4096), 0);
	CHECK(unit_is_pat(page, (pages - 1) * 4096, 100, 15));
	CHECK(block_ok(c, 9, 15));

	CHECK_EQ(read_file_at(bp, bm, sizeof(bm), 0), 0);
	CHECK(is_zero(bm, sizeof(bm)));	/* not before the commit */
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(read_file_at(bp, bm, sizeof(bm), 0), 0);
	CHECK_EQ(bm[0], 0x04);		/* block 2 */
	CHECK_EQ(bm[1], 0x02);		/* block 9 */
	CHECK_EQ(bm[32], 0x01);		/* block 256 */
	bm[0] = bm[1] = bm[32] = 0;
	CHECK(is_zero(bm, sizeof(bm)));
	CHECK_EQ(file_size(bp), 4096);
	CHECK_EQ(ulo_cache_close(c), 0);

	/* Reopened: the bits and (with xattrs) the identity are back. */
	CHECK_EQ(open_cache(p, bp, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK(ulo_cache_is_laid_out(c));
	CHECK_EQ(ulo_cache_count(c), 3);
	CHECK(ulo_cache_present(c, 2) && ulo_cache_present(c, 9));
	CHECK(ulo_cache_present(c, pages - 1));
	CHECK(block_ok(c, pages - 1, 15));
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(res, xattr ? ULO_BIND_REUSED : ULO_BIND_ADOPTED);
	CHECK_EQ(ulo_cache_count(c), 3);
	if (xattr) {
		uint64_t dropped = 0;

		CHECK_EQ(ulo_cache_bind(c, &other, true, &res, NULL), -ESTALE);
		CHECK_STR_CONTAINS(ulo_errmsg(), p);
		CHECK_EQ(ulo_cache_count(c), 3);
		ulo_cache_close(c);
		CHECK_EQ(open_cache(p, bp, 0, false, false, false, &c), 0);
		if (!c)
			return;
		CHECK_EQ(ulo_cache_bind(c, &other, false, &res, &dropped), 0);
		CHECK_EQ(res, ULO_BIND_DROPPED);
		CHECK_EQ(dropped, 3);
		CHECK_EQ(ulo_cache_count(c), 0);
		/* Bits and data of the old image are gone from the files. */
		CHECK_EQ(read_file_at(bp, bm, sizeof(bm), 0), 0);
		CHECK(is_zero(bm, sizeof(bm)));
		CHECK_EQ(read_file_at(p, page, 4096, 2 * 4096), 0);
		CHECK(is_zero(page, 4096));
		CHECK_EQ(file_size(p), ULO_ROUND_UP((uint64_t)IMG_SIZE, 4096));
	}
	CHECK_EQ(ulo_cache_close(c), 0);
}

static void test_2007_big_bitmap(void)
{
	const char *p = tpath("big2007.img"), *bp = tpath("big2007.bitmap");
	uint64_t size = (200ull << 20) + 5;
	uint64_t pages = (size + 4095) / 4096;	/* 51201 */
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c;
	uint8_t b;

	make_id(&id, size, "ino=25 mtime=1700000017.0");
	CHECK_EQ(open_cache(p, bp, 0, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(res, ULO_BIND_NEW);
	CHECK_EQ(pages, 51201);
	CHECK_EQ(file_size(p), ULO_ROUND_UP(size, 4096));
	CHECK_EQ(file_size(bp), ULO_MAX(4096, ULO_ROUND_UP((pages + 7) / 8, 4096)));
	CHECK_EQ(file_size(bp), 8192);
	/* The last block (5 bytes) lives in the second bitmap page. */
	CHECK_EQ(put_blocks(c, pages - 1, 1, 16), 0);
	CHECK_EQ(put_blocks(c, 0, 1, 16), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(read_file_at(bp, &b, 1, (pages - 1) / 8), 0);
	CHECK_EQ(b, 1u << ((pages - 1) % 8));
	CHECK_EQ(read_file_at(bp, &b, 1, 0), 0);
	CHECK_EQ(b, 1);
	CHECK_EQ(file_size(bp), 8192);
	CHECK_EQ(ulo_cache_close(c), 0);
}

/* A cache file as the 2007 tools left it: no identity attribute. */
static void make_2007_files(const char *p, const char *bp, uint64_t pages,
			    uint64_t bitmap_size)
{
	unlink(p);
	unlink(bp);
	CHECK_EQ(write_file_at(p, "", 1, pages * 4096 - 1), 0);
	CHECK_EQ(write_file_at(bp, "", 1, bitmap_size - 1), 0);
}

static void test_2007_adopt(void)
{
	const char *p = tpath("old2007.img"), *bp = tpath("old2007.bitmap");
	uint64_t pages = 257;
	struct ulo_identity id, other;
	enum ulo_bind_result res = -1;
	uint64_t dropped = 0;
	struct ulo_cache *c;
	uint8_t b = 0x21;	/* blocks 0 and 5 */

	make_2007_files(p, bp, pages, 4096);
	CHECK_EQ(write_file_at(bp, &b, 1, 0), 0);
	make_id(&id, IMG_SIZE, "ino=26 mtime=1700000018.0");
	CHECK_EQ(open_cache(p, bp, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK(ulo_cache_is_laid_out(c));
	CHECK_EQ(ulo_cache_identity(c)->kind, ULO_ID_NONE);
	CHECK_EQ(ulo_cache_nblocks(c), pages);
	CHECK_EQ(ulo_cache_count(c), 2);
	CHECK(ulo_cache_present(c, 0) && ulo_cache_present(c, 5));
	/* Same size (to the page): adopted, bits kept. */
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, &dropped), 0);
	CHECK_EQ(res, ULO_BIND_ADOPTED);
	CHECK_EQ(dropped, 0);
	CHECK_EQ(ulo_cache_count(c), 2);
	CHECK_EQ(ulo_cache_image_size(c), IMG_SIZE);
	CHECK_EQ(ulo_cache_close(c), 0);

	/* Another size: dropped, nothing kept. */
	make_2007_files(p, bp, pages, 4096);
	CHECK_EQ(write_file_at(bp, &b, 1, 0), 0);
	make_id(&other, 2 * IMG_SIZE, "ino=27 mtime=1700000019.0");
	CHECK_EQ(open_cache(p, bp, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &other, false, &res, &dropped), 0);
	CHECK_EQ(res, ULO_BIND_DROPPED);
	CHECK_EQ(dropped, 2);
	CHECK_EQ(ulo_cache_count(c), 0);
	CHECK_EQ(file_size(p), ULO_ROUND_UP(2ull * IMG_SIZE, 4096));
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK_EQ(read_file_at(bp, &b, 1, 0), 0);
	CHECK_EQ(b, 0);
}

static void test_2007_short_bitmap(void)
{
	const char *p = tpath("short2007.img"), *bp = tpath("short2007.bitmap");
	uint64_t pages = 32769;	/* needs 4097 bitmap bytes; 2007 made 4096 */
	struct ulo_identity id;
	enum ulo_bind_result res = -1;
	struct ulo_cache *c;
	uint8_t b = 0;

	make_2007_files(p, bp, pages, 4096);
	/* Page 0 present: what makes it a 2007 cache and not just files. */
	b = 0x01;
	CHECK_EQ(write_file_at(bp, &b, 1, 0), 0);
	make_id(&id, pages * 4096, "ino=28 mtime=1700000020.0");
	CHECK_EQ(open_cache(p, bp, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_nblocks(c), pages);
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(res, ULO_BIND_ADOPTED);
	CHECK_EQ(put_blocks(c, pages - 1, 1, 20), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	/* The last bit lives past the 2007 file's end: the file grows. */
	CHECK_EQ(file_size(bp), 8192);
	CHECK_EQ(read_file_at(bp, &b, 1, 4096), 0);
	CHECK_EQ(b, 0x01);
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK_EQ(open_cache(p, bp, 0, false, true, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_count(c), 2);
	CHECK(ulo_cache_present(c, pages - 1));
	CHECK(block_ok(c, pages - 1, 20));
	ulo_cache_close(c);

	/* A bitmap too short to be this cache's: not a cache, refused. */
	make_2007_files(p, bp, 65537, 4096);	/* 2007 made 8192 */
	CHECK_EQ(open_cache(p, bp, 0, false, false, false, &c), -EEXIST);
	ulo_cache_close(c);
	CHECK_STR_CONTAINS(ulo_errmsg(), bp);
	CHECK_STR_CONTAINS(ulo_errmsg(), "does not fit");
	/* So is a cache file that is not a whole number of pages. */
	make_2007_files(p, bp, 2, 4096);
	CHECK_EQ(truncate(p, 5000), 0);
	CHECK_EQ(open_cache(p, bp, 0, false, false, false, &c), -EEXIST);
	ulo_cache_close(c);
	CHECK_STR_CONTAINS(ulo_errmsg(), p);
	CHECK_STR_CONTAINS(ulo_errmsg(), "page size");
	/* And bits past the last page. */
	make_2007_files(p, bp, 257, 4096);
	b = 0x02;	/* bit 257 */
	CHECK_EQ(write_file_at(bp, &b, 1, 32), 0);
	CHECK_EQ(open_cache(p, bp, 0, false, false, false, &c), -EINVAL);
	ulo_cache_close(c);
	CHECK_STR_CONTAINS(ulo_errmsg(), bp);
	CHECK_STR_CONTAINS(ulo_errmsg(), "past the end");
}

/*
 * Run @fn in a child that dies with SIGKILL at failpoint @fp (NULL: @fn
 * ends with _exit, no close).  Returns true if it died as planned.
 */
static bool crash_child(const char *fp, void (*fn)(const char *),
			const char *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return false;
	if (!pid) {
		if (fp)
			setenv("ULOOP_FAILPOINT", fp, 1);
		fn(arg);
		_exit(fp ? 3 : 0);	/* a failpoint that never fired */
	}
	if (waitpid(pid, &status, 0) != pid)
		return false;
	return fp ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL :
		WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void child_commit_then_write(const char *p)
{
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=29 mtime=1700000021.0");
	if (open_cache(p, NULL, BS, true, false, false, &c) ||
	    ulo_cache_bind(c, &id, false, &res, NULL) ||
	    put_blocks(c, 1, 1, 21) || ulo_cache_commit(c) ||
	    put_blocks(c, 2, 1, 21))
		_exit(2);
	/* Killed here: block 2 was written but never committed. */
}

static void child_commit(const char *p)
{
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=29 mtime=1700000021.0");
	if (open_cache(p, NULL, BS, false, false, false, &c) ||
	    ulo_cache_bind(c, &id, false, &res, NULL) ||
	    put_blocks(c, 3, 1, 21))
		_exit(2);
	ulo_cache_commit(c);	/* dies at the failpoint */
}

static void child_drop(const char *p)
{
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=29 mtime=1700009999.0");
	if (open_cache(p, NULL, BS, false, false, false, &c))
		_exit(2);
	ulo_cache_bind(c, &id, false, &res, NULL);	/* dies in it */
}

static void child_two_commits(const char *p)
{
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c;

	unlink(p);
	make_id(&id, IMG_SIZE, "ino=31 mtime=1700000031.0");
	if (open_cache(p, NULL, BS, true, false, false, &c) ||
	    ulo_cache_bind(c, &id, false, &res, NULL) ||
	    put_blocks(c, 2, 3, 31) || ulo_cache_commit(c) ||
	    put_blocks(c, 7, 2, 31) || ulo_cache_commit(c))
		_exit(2);
	/* Gone without a close: not clean; the last commit is blocks 7-8. */
}

/* Reopen @p as a writer bound to its image, and run the recovery. */
static struct ulo_cache *recover(const char *p, struct ulo_recovery *r)
{
	struct ulo_identity id;
	enum ulo_bind_result res = -1;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=31 mtime=1700000031.0");
	memset(r, 0xff, sizeof(*r));
	if (open_cache(p, NULL, 0, false, false, false, &c) ||
	    ulo_cache_bind(c, &id, false, &res, NULL) || res != ULO_BIND_REUSED ||
	    ulo_cache_recover(c, r)) {
		CHECK(!"reopen and recover");
		ulo_cache_close(c);
		return NULL;
	}
	return c;
}

/* A commit of more runs than a header names goes in parts, each header
 * naming its part exactly: 150 runs (every other block, 32 to a bitmap
 * word) make two headers, words 0-2 (96 runs) and 3-4 (54). */
static void test_commit_parts(void)
{
	const char *p = tpath("parts.cache");
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_header h0, h1;
	struct ulo_cache *c;

	make_id(&id, 4096 * 400, "ino=41 mtime=1700000041.0");
	CHECK_EQ(open_cache(p, NULL, 4096, true, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(disk_header(p, &h0), 0);
	for (uint64_t b = 0; b < 300; b += 2)
		CHECK_EQ(put_blocks(c, b, 1, 41), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(disk_header(p, &h1), 0);
	CHECK_EQ(h1.generation, h0.generation + 2);
	CHECK_EQ(h1.epoch.n, 54);
	for (uint32_t i = 0; i < h1.epoch.n; i++) {
		CHECK_EQ(h1.epoch.ext[i].count, 1);
		CHECK_EQ(h1.epoch.ext[i].start, 192 + 2 * i);
	}
	CHECK_EQ(ulo_cache_count(c), 150);
	ulo_cache_close(c);
}

/* C5: after an unclean stop the last commit's blocks are read against
 * their checksums, and only those; a clean stop skips it. */
static void test_recover(void)
{
	const char *p = tpath("recover.cache");
	struct ulo_recovery r;
	struct ulo_header h;
	struct ulo_cache *c;
	uint8_t x = 0x5a, buf[BS];
	uint64_t bad;

	CHECK(crash_child(NULL, child_two_commits, p));
	CHECK_EQ(disk_header(p, &h), 0);
	CHECK_EQ(h.flags & ULO_HDR_F_CLEAN, 0);
	c = recover(p, &r);
	if (!c)
		return;
	CHECK(r.ran);
	CHECK_EQ(r.generation, h.generation);
	CHECK_EQ(r.extents, 1);
	CHECK_EQ(r.checked, 2);
	CHECK_EQ(r.bad, 0);
	CHECK_EQ(ulo_cache_count(c), 5);
	/* Once per open. */
	CHECK_EQ(ulo_cache_recover(c, &r), 0);
	CHECK(!r.ran);
	ulo_cache_close(c);

	/* Clean now: nothing to do. */
	c = recover(p, &r);
	if (!c)
		return;
	CHECK(!r.ran);
	ulo_cache_close(c);

	/* Opened and closed without a bind (an offline run): not recovered,
	 * so not marked clean either; the next bind still recovers. */
	CHECK(crash_child(NULL, child_two_commits, p));
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK_EQ(disk_header(p, &h), 0);
	CHECK_EQ(h.flags & ULO_HDR_F_CLEAN, 0);
	c = recover(p, &r);
	if (!c)
		return;
	CHECK(r.ran);
	CHECK_EQ(r.bad, 0);
	ulo_cache_close(c);
	/* A clean header carries no epoch (an older uloop reads it). */
	CHECK_EQ(disk_header(p, &h), 0);
	CHECK(h.flags & ULO_HDR_F_CLEAN);
	CHECK_EQ(h.epoch.n, 0);

	/* A flash that lost block 8 of the last commit (and block 3 of an
	 * earlier one): 8 is taken back at the start, 3 is left to the
	 * read path's check. */
	CHECK(crash_child(NULL, child_two_commits, p));
	CHECK_EQ(disk_header(p, &h), 0);
	CHECK_EQ(write_file_at(p, &x, 1, h.data_offset + 8 * BS + 77), 0);
	CHECK_EQ(write_file_at(p, &x, 1, h.data_offset + 3 * BS + 77), 0);
	c = recover(p, &r);
	if (!c)
		return;
	CHECK(r.ran);
	CHECK_EQ(r.checked, 2);
	CHECK_EQ(r.bad, 1);
	CHECK_STR_CONTAINS(r.first, "block 8");
	CHECK(!ulo_cache_present(c, 8));
	CHECK(ulo_cache_present(c, 7));
	CHECK(ulo_cache_present(c, 3));
	CHECK_EQ(ulo_cache_read_checked(c, buf, 3 * BS, BS, &bad), -EBADMSG);
	CHECK_EQ(bad, 3);
	/* Its bit goes at the next commit: closed, block 8 stays missing. */
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c), 0);
	if (!c)
		return;
	CHECK(!ulo_cache_present(c, 8));
	CHECK_EQ(ulo_cache_count(c), 4);
	ulo_cache_close(c);
}

static void test_crash(void)
{
	const char *p = tpath("crash.cache");
	struct ulo_identity id, other;
	enum ulo_bind_result res = -1;
	struct ulo_header h0, h1;
	struct ulo_cache *c;

	make_id(&id, IMG_SIZE, "ino=29 mtime=1700000021.0");
	make_id(&other, IMG_SIZE, "ino=29 mtime=1700009999.0");

	/* Process gone without a close: committed blocks only, not clean. */
	CHECK(crash_child(NULL, child_commit_then_write, p));
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c), 0);
	if (!c)
		return;
	CHECK(!c->was_clean);
	CHECK(ulo_cache_present(c, 1));
	CHECK(!ulo_cache_present(c, 2));
	CHECK_EQ(ulo_cache_count(c), 1);
	CHECK(block_ok(c, 1, 21));
	ulo_cache_close(c);

	/* Killed after the data, before any bit: the block is not there. */
	CHECK(crash_child("data-synced", child_commit, p));
	CHECK_EQ(disk_bitmap_byte(p, 0), 1 << 1);
	CHECK_EQ(disk_header(p, &h0), 0);

	/* A torn header write in a commit (the bind's header is the first
	 * write): the other copy is used; the commit's bits were never
	 * written, since its header goes first. */
	CHECK(crash_child("header-torn:2", child_commit, p));
	CHECK_EQ(disk_header(p, &h1), 0);
	CHECK_EQ(h1.generation, h0.generation + 1);	/* the bind's header */
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c), 0);
	if (!c)
		return;
	CHECK(!ulo_cache_present(c, 3));
	CHECK(!strcmp(ulo_cache_identity(c)->validator, id.validator));
	ulo_cache_close(c);

	/* Killed once the bits are on disk: the header already names the
	 * commit's block (the epoch), and the block is there. */
	CHECK(crash_child("bits-synced", child_commit, p));
	CHECK_EQ(disk_header(p, &h1), 0);
	CHECK_EQ(h1.epoch.n, 1);
	CHECK_EQ(h1.epoch.ext[0].start, 3);
	CHECK_EQ(h1.epoch.ext[0].count, 1);
	CHECK_EQ(open_cache(p, NULL, 0, false, true, false, &c), 0);
	if (!c)
		return;
	CHECK(ulo_cache_present(c, 3));
	ulo_cache_close(c);

	/* Killed in the middle of dropping the image: the old bits are not
	 * served, under either identity. */
	CHECK(crash_child("unbind-written", child_drop, p));
	CHECK_EQ(open_cache(p, NULL, 0, false, false, false, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_identity(c)->kind, ULO_ID_NONE);
	CHECK_EQ(ulo_cache_count(c), 0);
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK(res == ULO_BIND_NEW || res == ULO_BIND_DROPPED);
	CHECK_EQ(ulo_cache_count(c), 0);
	CHECK_EQ(ulo_cache_close(c), 0);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_native_create);
	UNIT_RUN(test_native_reopen_reuse);
	UNIT_RUN(test_native_offline_stale);
	UNIT_RUN(test_native_dropped);
	UNIT_RUN(test_block_size_mismatch);
	UNIT_RUN(test_commit_order);
	UNIT_RUN(test_commit_on_close);
	UNIT_RUN(test_sync_error_withdraws);
	UNIT_RUN(test_foreign_data);
	UNIT_RUN(test_truncated);
	UNIT_RUN(test_damaged_header);
	UNIT_RUN(test_stray_bits);
	UNIT_RUN(test_bitmap_sector_crc);
	UNIT_RUN(test_data_crc);
	UNIT_RUN(test_give_up);
	UNIT_RUN(test_format1_upgrade);
	UNIT_RUN(test_format1_no_room);
	UNIT_RUN(test_locked);
	UNIT_RUN(test_clean_flag);
	UNIT_RUN(test_2007_layout);
	UNIT_RUN(test_2007_big_bitmap);
	UNIT_RUN(test_2007_adopt);
	UNIT_RUN(test_2007_short_bitmap);
	UNIT_RUN(test_crash);
	UNIT_RUN(test_recover);
	UNIT_RUN(test_commit_parts);
	unit_rm_tree(tmpdir);
	return unit_done();
}
