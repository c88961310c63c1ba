// SPDX-License-Identifier: GPL-2.0-or-later
// reliability: partly C1 C3 C4 E1
/*
 * test-cache-compact.c - the compact cache format (cache_compact.c)
 * against real files: blocks in fetch order with an index, a size limit
 * with least-recently-used eviction and pins, and the one promise under
 * eviction: a block is served only if its place holds its bytes.
 *
 * What reaches the file is checked, not only what the API says: the file
 * grows by slots in fetch order, index entries stay off disk until a
 * commit, an evicted slot's entry is free on disk (version + 1) before the
 * slot is written again, a crash at each step of an eviction leaves only
 * correct blocks, and an index entry that a lying flash put back over a
 * reused slot is caught by the seeded checksum.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "cache_header.h"
/* Internals: the slot geometry and the index entries on disk. */
#include "cache_internal.h"
#include "util.h"
#include "unit.h"
#include "unit-image.h"

#define BS 4096u
#define SLOT 65536u
#define PER (SLOT / BS)
#define NGROUPS 65
#define IMG_SIZE ((uint64_t)(NGROUPS - 1) * SLOT + 100)	/* last group: 100 B */
#define NBLK ((IMG_SIZE + BS - 1) / BS)
/* Header 8K, index 4K, checksums 4K, then 8 slots. */
#define LIMIT8 (16384 + 8 * SLOT)

static char tmpdir[] = "/tmp/uloop-unit-compact-XXXXXX";

static const char *tpath(const char *name)
{
	return unit_path(tmpdir, name);
}

static void make_id(struct ulo_identity *id, const char *val)
{
	memset(id, 0, sizeof(*id));
	id->kind = ULO_ID_FILE_MTIME;
	id->size = IMG_SIZE;
	snprintf(id->validator, sizeof(id->validator), "%s", val);
	snprintf(id->location, sizeof(id->location), "/srv/images/disk.img");
}

static int open_compact(const char *path, uint64_t limit, bool readonly,
			struct ulo_cache **c)
{
	struct ulo_cache_opts o = {
		.path = path, .block_size = BS, .create = !readonly,
		.readonly = readonly, .format = readonly ? ULO_FMT_ANY : ULO_FMT_COMPACT,
		.size_limit = readonly ? 0 : limit,
	};

	*c = NULL;
	return ulo_cache_open(&o, c);
}

/* Open, create and bind a compact cache of image "a". */
static struct ulo_cache *bound(const char *path, uint64_t limit)
{
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c;

	make_id(&id, "ino=1 mtime=1");
	if (open_compact(path, limit, false, &c))
		return NULL;
	if (ulo_cache_bind(c, &id, false, &res, NULL)) {
		char why[512];

		snprintf(why, sizeof(why), "%s", ulo_errmsg());
		ulo_cache_close(c);
		ulo_set_errmsg(why);
		return NULL;
	}
	return c;
}

/* Write group @g (its blocks, all) of image @seed. */
static int put_group(struct ulo_cache *c, uint64_t g, unsigned seed)
{
	uint64_t off = g * SLOT, len = ULO_MIN((uint64_t)SLOT, IMG_SIZE - off);
	uint8_t *buf = malloc(len);
	int ret;

	unit_fill(buf, off, len, seed);
	ret = ulo_cache_write_blocks(c, off / BS, buf, len);
	free(buf);
	return ret;
}

/* Every present block reads back as image @seed's bytes; how many. */
static uint64_t all_present_ok(struct ulo_cache *c, unsigned seed, bool *ok)
{
	uint8_t buf[BS];
	uint64_t n = 0;

	*ok = true;
	for (uint64_t b = 0; b < NBLK; b++) {
		uint64_t off = b * BS, len = ulo_cache_block_len(c, b);

		if (!ulo_cache_present(c, b))
			continue;
		n++;
		if (ulo_cache_read(c, buf, off, len) || !unit_is_pat(buf, off, len, seed)) {
			fprintf(stderr, "  block %llu: wrong or unreadable\n",
				(unsigned long long)b);
			*ok = false;
		}
	}
	return n;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? UINT64_MAX : (uint64_t)st.st_size;
}

static int read_at(const char *path, void *buf, size_t len, uint64_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = ulo_pread_full(fd, buf, len, off);
	close(fd);
	return ret;
}

static int write_at(const char *path, const void *buf, size_t len, uint64_t off)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = ulo_pwrite_full(fd, buf, len, off);
	close(fd);
	return ret;
}

/* Index entry @s on disk: its group + 1, bits, version. */
static void disk_ent(const char *path, uint64_t s, uint64_t *g1, uint64_t *bits,
		     uint32_t *ver)
{
	uint8_t e[32] = { 0 };

	CHECK_EQ(read_at(path, e, sizeof(e), 8192 + s * 32), 0);
	*g1 = ulo_get_le64(e);
	*bits = ulo_get_le64(e + 8);
	*ver = ulo_get_le32(e + 16);
}

/* Groups in fetch order, the file growing by one slot each; picked by
 * magic at open whatever the name; entries on disk only after a commit. */
static void test_fetch_order(void)
{
	const char *p = tpath("order.img");	/* a name that says nothing */
	struct ulo_cache *c = bound(p, 0);
	uint64_t g1, bits, base;
	uint32_t ver;
	bool ok;

	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_STR_CONTAINS(ulo_cache_format_name(c), "compact");
	base = file_size(p);
	CHECK_EQ(base, c->data_offset);	/* nothing fetched: no slot */
	CHECK_EQ(put_group(c, 40, 1), 0);
	CHECK_EQ(file_size(p), base + SLOT);
	CHECK_EQ(put_group(c, 3, 1), 0);
	CHECK_EQ(put_group(c, NGROUPS - 1, 1), 0);	/* the short last group */
	CHECK_EQ(file_size(p), base + 2 * SLOT + 4096);
	/* Not committed: the entries are still zero on disk. */
	disk_ent(p, 0, &g1, &bits, &ver);
	CHECK_EQ(g1, 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	disk_ent(p, 0, &g1, &bits, &ver);
	CHECK_EQ(g1, 41);	/* slot 0: the first group fetched */
	CHECK_EQ(bits, 0xffff);
	disk_ent(p, 1, &g1, &bits, &ver);
	CHECK_EQ(g1, 4);
	disk_ent(p, 2, &g1, &bits, &ver);
	CHECK_EQ(g1, NGROUPS);
	CHECK_EQ(bits, 1);
	CHECK_EQ(all_present_ok(c, 1, &ok), 2 * PER + 1);
	CHECK(ok);
	CHECK_EQ(ulo_cache_close(c), 0);

	CHECK_EQ(open_compact(p, 0, true, &c), 0);
	if (!c)
		return;
	CHECK_STR_CONTAINS(ulo_cache_format_name(c), "compact");
	CHECK_EQ(all_present_ok(c, 1, &ok), 2 * PER + 1);
	CHECK(ok);
	CHECK_EQ(ulo_cache_check_binding(c), 0);
	ulo_cache_close(c);
}

/* A native cache takes no --cache-size; a compact one no --format native. */
static void test_format_choice(void)
{
	struct ulo_cache_opts o = { .path = tpath("native.cache"), .create = true };
	struct ulo_identity id;
	enum ulo_bind_result res;
	struct ulo_cache *c;

	make_id(&id, "ino=1 mtime=1");
	CHECK_EQ(ulo_cache_open(&o, &c), 0);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_bind(c, &id, false, &res, NULL), 0);
	CHECK_EQ(ulo_cache_close(c), 0);
	o.size_limit = LIMIT8;
	CHECK_EQ(ulo_cache_open(&o, &c), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "--cache-size needs a compact one");
	c = bound(tpath("compact.cache"), 0);
	CHECK(c != NULL);
	ulo_cache_close(c);
	o.path = tpath("compact.cache");
	o.size_limit = 0;
	o.format = ULO_FMT_NATIVE;
	CHECK_EQ(ulo_cache_open(&o, &c), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "its format is compact, not native");
	/* Too small a limit for one slot: a clear refusal at layout. */
	c = bound(tpath("tiny.cache"), 20000);
	CHECK(c == NULL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "is too small");
}

/* The limit holds (8 slots); the least recently read go first. */
static void test_eviction_lru(void)
{
	const char *p = tpath("lru.cache");
	struct ulo_cache *c = bound(p, LIMIT8);
	struct ulo_compact_info ci;
	uint8_t buf[BS];
	uint64_t g1, bits;
	uint32_t ver;
	bool ok;

	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_compact_info(c, &ci), 0);
	CHECK_EQ(ci.slots, 8);
	CHECK(ci.limited);
	for (uint64_t g = 0; g < 8; g++)
		CHECK_EQ(put_group(c, g, 2), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	/* Group 0 read now: the least recently used is group 1. */
	CHECK_EQ(ulo_cache_read(c, buf, 0, BS), 0);
	CHECK_EQ(put_group(c, 20, 2), 0);
	CHECK(ulo_cache_present(c, 0));
	CHECK(!ulo_cache_present(c, 1 * PER));
	CHECK(ulo_cache_present(c, 2 * PER));
	CHECK(ulo_cache_present(c, 20 * PER));
	/* Group 1's slot (slot 1) is free on disk, one version on, and
	 * holds group 20 only after the next commit. */
	disk_ent(p, 1, &g1, &bits, &ver);
	CHECK_EQ(g1, 0);
	CHECK_EQ(ver, 1);
	CHECK_EQ(ulo_cache_commit(c), 0);
	disk_ent(p, 1, &g1, &bits, &ver);
	CHECK_EQ(g1, 21);
	CHECK_EQ(ver, 1);
	/* Churn through the whole image twice: never past the limit. */
	for (int round = 0; round < 2; round++)
		for (uint64_t g = 0; g < NGROUPS; g++) {
			CHECK_EQ(put_group(c, g, 2), 0);
			CHECK(file_size(p) <= LIMIT8);
		}
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK(ulo_cache_count(c) <= 8 * PER);
	CHECK(all_present_ok(c, 2, &ok) > 0);
	CHECK(ok);
	CHECK_EQ(ulo_cache_compact_info(c, &ci), 0);
	CHECK(ci.evicted >= 2 * NGROUPS - 8);
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK(file_size(p) <= LIMIT8);

	CHECK_EQ(open_compact(p, 0, true, &c), 0);
	if (!c)
		return;
	CHECK(all_present_ok(c, 2, &ok) > 0);
	CHECK(ok);
	ulo_cache_close(c);
}

/* Pinned groups stay; pins filling the cache stop it taking blocks. */
static void test_pins(void)
{
	const char *p = tpath("pins.cache");
	struct ulo_cache *c = bound(p, LIMIT8);

	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_pin(c, 0, 3 * SLOT), 0);	/* groups 0-2 */
	for (uint64_t g = 0; g < NGROUPS; g++)
		CHECK_EQ(put_group(c, g, 3), 0);
	for (uint64_t g = 0; g < 3; g++)
		CHECK(ulo_cache_present(c, g * PER));
	CHECK_EQ(ulo_cache_close(c), 0);

	c = bound(tpath("pins2.cache"), LIMIT8);
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(ulo_cache_pin(c, 0, 20 * SLOT), 0);	/* more than fits */
	for (uint64_t g = 0; g < 8; g++)
		CHECK_EQ(put_group(c, g, 3), 0);
	CHECK_EQ(put_group(c, 8, 3), ULO_CACHE_REFUSED);
	CHECK(ulo_cache_full(c));
	CHECK_EQ(ulo_cache_count(c), 8 * PER);	/* nothing thrown out */
	CHECK(ulo_cache_close(c) != 0);	/* "not all fetched blocks were kept" */
}

static bool crash_child(const char *fp, void (*fn)(const char *), const char *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return false;
	if (!pid) {
		setenv("ULOOP_FAILPOINT", fp, 1);
		fn(arg);
		_exit(3);	/* the failpoint never fired */
	}
	if (waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/* Fill 8 slots, commit, then churn: evictions, reuse, commits. */
static void child_churn(const char *p)
{
	struct ulo_cache *c = bound(p, LIMIT8);

	if (!c)
		_exit(4);
	for (uint64_t g = 0; g < 8; g++)
		if (put_group(c, g, 4))
			_exit(5);
	if (ulo_cache_commit(c))
		_exit(6);
	for (uint64_t g = 8; g < NGROUPS; g++) {
		if (put_group(c, g, 4))
			_exit(7);
		if (g % 3 == 0 && ulo_cache_commit(c))
			_exit(8);
	}
	_exit(9);
}

/* A crash at each step of eviction and reuse leaves only right blocks. */
static void test_crash_eviction(void)
{
	static const char *const fps[] = {
		"evict-written:1", "evict-written:3", "evict-synced:1",
		"evict-synced:2", "data-written:12", "data-synced:3",
		"bits-written:4", "header-written:5", "header-torn:4",
	};
	const char *p = tpath("crash.cache");

	for (size_t i = 0; i < ULO_ARRAY_SIZE(fps); i++) {
		struct ulo_cache *c;
		struct ulo_recovery r;
		bool ok;

		unlink(p);
		if (!crash_child(fps[i], child_churn, p)) {
			fprintf(stderr, "  %s: did not die there\n", fps[i]);
			CHECK(0);
		}
		CHECK_EQ(open_compact(p, 0, true, &c), 0);
		if (!c)
			continue;
		all_present_ok(c, 4, &ok);
		if (!ok)
			fprintf(stderr, "  after %s\n", fps[i]);
		CHECK(ok);
		ulo_cache_close(c);
		/* A writer after the crash recovers the last commit. */
		c = bound(p, LIMIT8);
		CHECK(c != NULL);
		if (!c)
			continue;
		CHECK_EQ(ulo_cache_recover(c, &r), 0);
		CHECK(r.ran);
		CHECK_EQ(r.bad, 0);
		all_present_ok(c, 4, &ok);
		CHECK(ok);
		CHECK_EQ(put_group(c, 30, 4), 0);
		CHECK_EQ(ulo_cache_close(c), 0);
	}
}

/*
 * A flash that kept an old index entry over a reused slot (a lost flush):
 * the entry says group 1, the slot holds group 20's bytes.  The checksums
 * are seeded with the image offset, so group 1 is not served from there.
 */
static void test_stale_entry(void)
{
	const char *p = tpath("stale.cache");
	struct ulo_cache *c = bound(p, LIMIT8);
	uint8_t old[32], buf[BS];
	uint64_t bad;
	bool ok;

	CHECK(c != NULL);
	if (!c)
		return;
	for (uint64_t g = 0; g < 8; g++)
		CHECK_EQ(put_group(c, g, 5), 0);
	CHECK_EQ(ulo_cache_commit(c), 0);
	CHECK_EQ(read_at(p, old, sizeof(old), 8192 + 0 * 32), 0);	/* slot 0: group 0 */
	CHECK_EQ(put_group(c, 20, 5), 0);	/* evicts group 0, reuses slot 0 */
	CHECK(!ulo_cache_present(c, 0));
	CHECK_EQ(ulo_cache_close(c), 0);
	CHECK_EQ(write_at(p, old, sizeof(old), 8192), 0);	/* the lie */

	CHECK_EQ(open_compact(p, 0, true, &c), 0);
	if (!c)
		return;
	CHECK(ulo_cache_present(c, 0));	/* the index claims it... */
	CHECK_EQ(ulo_cache_read_checked(c, buf, 0, BS, &bad), -EBADMSG);
	CHECK_EQ(bad, 0);	/* ...its checksum refuses it */
	ulo_cache_close(c);
	/* And a damaged entry costs its group, nothing else. */
	old[3] ^= 0x40;
	CHECK_EQ(write_at(p, old, sizeof(old), 8192), 0);
	CHECK_EQ(open_compact(p, 0, true, &c), 0);
	if (!c)
		return;
	CHECK(!ulo_cache_present(c, 0));
	CHECK(!ulo_cache_present(c, 20 * PER));
	CHECK(all_present_ok(c, 5, &ok) > 0);
	CHECK(ok);
	ulo_cache_close(c);
}

/* A reader without the lock learns that a slot it read was reused. */
static void test_reader_sees_reuse(void)
{
	const char *p = tpath("reader.cache");
	struct ulo_cache *w = bound(p, LIMIT8), *r;

	CHECK(w != NULL);
	if (!w)
		return;
	for (uint64_t g = 0; g < 8; g++)
		CHECK_EQ(put_group(w, g, 6), 0);
	CHECK_EQ(ulo_cache_commit(w), 0);
	CHECK_EQ(open_compact(p, 0, true, &r), 0);
	if (!r) {
		ulo_cache_close(w);
		return;
	}
	CHECK_EQ(ulo_cache_check_binding(r), 0);
	CHECK_EQ(put_group(w, 30, 6), 0);	/* evicts: versions change */
	CHECK_EQ(ulo_cache_commit(w), 0);
	CHECK_EQ(ulo_cache_check_binding(r), -ESTALE);
	CHECK_STR_CONTAINS(ulo_errmsg(), "evicted and reused");
	ulo_cache_close(r);
	CHECK_EQ(ulo_cache_close(w), 0);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	UNIT_RUN(test_fetch_order);
	UNIT_RUN(test_format_choice);
	UNIT_RUN(test_eviction_lru);
	UNIT_RUN(test_pins);
	UNIT_RUN(test_crash_eviction);
	UNIT_RUN(test_stale_entry);
	UNIT_RUN(test_reader_sees_reuse);
	unit_rm_tree(tmpdir);
	return unit_done();
}
