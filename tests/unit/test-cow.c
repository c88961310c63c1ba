// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-cow.c - UML COW files: the header codec (V1 both byte orders, V2,
 * V3, the 64-bit V3 layout, the layout numbers UML computes, what is
 * refused) and the writable stack of cow.c: writes read back over the
 * image, partial sectors merge with what is under them, the image is
 * never written, bits reach the disk only at a flush and after it,
 * snapshots freeze a layer, a changed image or lower layer is refused,
 * and threads writing and flushing at once lose nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cow.h"
#include "cow_uml.h"
#include "unit.h"
#include "util.h"

#define IMG (4 * 1024 * 1024)

static char dir[] = "/tmp/test-cow-XXXXXX";
static char img_path[PATH_MAX];
static uint8_t image[IMG];
static struct ulo_identity base_id;

static int base_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	int fd = open(img_path, O_RDONLY);
	int ret;

	(void)ctx;
	if (fd < 0)
		return -errno;
	ret = ulo_pread_full(fd, buf, len, off);
	close(fd);
	return ret;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void path_in(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

static int open_stack(const char *path, bool ro, struct ulo_cow **s)
{
	struct ulo_cow_opts o = {
		.path = path, .base = &base_id, .base_read = base_read,
		.readonly = ro,
	};

	return ulo_cow_open(&o, s);
}

static void test_v3_layout(void)
{
	struct ulo_uml_hdr h = { .version = 3, .size = 16 << 20,
				 .sector_size = 512, .alignment = 4096 }, d;
	uint8_t buf[ULO_UML_HDR_MAX];

	snprintf(h.backing, sizeof(h.backing), "/srv/root.img");
	CHECK_EQ(ulo_uml_layout(&h), 0);
	CHECK_EQ(h.header_len, 4128);
	CHECK_EQ(h.bitmap_offset, 8192);	/* 4128 rounded up to 4096 */
	CHECK_EQ(h.bitmap_len, 4096);		/* 32768 sectors */
	CHECK_EQ(h.data_offset, 12288);
	CHECK_EQ(h.covered, h.sectors);
	memset(buf, 0xee, sizeof(buf));
	CHECK_EQ(ulo_uml_encode(&h, buf), 0);
	/* Big-endian on disk: "OOOM", version 3. */
	CHECK(!memcmp(buf, "OOOM\0\0\0\3", 8));
	CHECK_EQ(ulo_uml_decode(buf, sizeof(buf), &d), 0);
	CHECK_EQ(d.version, 3);
	CHECK(!d.v3_64bit);
	CHECK_EQ(d.size, 16 << 20);
	CHECK_EQ(d.data_offset, 12288);
	CHECK(!strcmp(d.backing, "/srv/root.img"));
	CHECK_EQ(d.tag[0], 0);
}

static void test_v1_v2(void)
{
	struct ulo_uml_hdr h = { .version = 1, .size = 9 * 512, .sector_size = 512 }, d;
	uint8_t buf[ULO_UML_HDR_MAX] = { 0 };

	snprintf(h.backing, sizeof(h.backing), "/img");
	CHECK_EQ(ulo_uml_layout(&h), 0);
	/* UML's old rounding: 9 sectors get one byte, 8 bits. */
	CHECK_EQ(h.bitmap_offset, 280);
	CHECK_EQ(h.bitmap_len, 1);
	CHECK_EQ(h.covered, 8);
	CHECK_EQ(h.sectors, 9);
	CHECK_EQ(h.data_offset, 512);
	CHECK_EQ(ulo_uml_encode(&h, buf), 0);
	CHECK(!memcmp(buf, "MOOO\1\0\0\0", 8));	/* host (little) order */
	CHECK_EQ(ulo_uml_decode(buf, 280, &d), 0);
	CHECK_EQ(d.version, 1);
	CHECK_EQ(d.size, 9 * 512);
	CHECK(!strcmp(d.backing, "/img"));
	/* V1 from a big-endian host. */
	h.big_endian = true;
	CHECK_EQ(ulo_uml_encode(&h, buf), 0);
	CHECK(!memcmp(buf, "OOOM\0\0\0\1", 8));
	CHECK_EQ(ulo_uml_decode(buf, 280, &d), 0);
	CHECK_EQ(d.size, 9 * 512);
	CHECK_EQ(d.sector_size, 512);

	memset(&h, 0, sizeof(h));
	h.version = 2;
	h.size = 1 << 20;
	h.sector_size = 512;
	h.mtime = 0x12345678;
	snprintf(h.backing, sizeof(h.backing), "/v2");
	CHECK_EQ(ulo_uml_layout(&h), 0);
	CHECK_EQ(h.bitmap_offset, 4120);
	CHECK_EQ(h.data_offset, 4608);	/* 4120 + 256, rounded to 512 */
	CHECK_EQ(ulo_uml_encode(&h, buf), 0);
	CHECK_EQ(ulo_get_be32(buf + 4104), 0x12345678);
	CHECK_EQ(ulo_uml_decode(buf, 4120, &d), 0);
	CHECK_EQ(d.mtime, 0x12345678);
	/* Cut short. */
	CHECK_EQ(ulo_uml_decode(buf, 4000, &d), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "cut short");
}

/* The 64-bit layout, built by hand the way those binaries wrote it. */
static void test_v3_64bit(void)
{
	uint8_t buf[ULO_UML_HDR_MAX] = { 0 };
	struct ulo_uml_hdr d;

	ulo_put_be32(buf, ULO_UML_MAGIC);
	ulo_put_be32(buf + 4, 3);
	ulo_put_be32(buf + 8, 1700000000);	/* htonl() into 8 bytes */
	ulo_put_be64(buf + 16, 8 << 20);
	ulo_put_be32(buf + 24, 512);
	ulo_put_be32(buf + 28, 512);
	memcpy(buf + 36, "/old/root_fs", 12);
	CHECK_EQ(ulo_uml_decode(buf, sizeof(buf), &d), 0);
	CHECK(d.v3_64bit);
	CHECK_EQ(d.mtime, 1700000000);
	CHECK_EQ(d.size, 8 << 20);
	CHECK_EQ(d.bitmap_offset, 4608);	/* 4136 rounded to 512 */
	CHECK(!strcmp(d.backing, "/old/root_fs"));
	CHECK_EQ(ulo_uml_encode(&d, buf), -EINVAL);
}

static void test_refused(void)
{
	struct ulo_uml_hdr h = { .version = 3, .size = 1 << 20,
				 .sector_size = 512, .alignment = 512 }, d;
	uint8_t buf[ULO_UML_HDR_MAX], bad[ULO_UML_HDR_MAX];

	snprintf(h.backing, sizeof(h.backing), "/x");
	CHECK_EQ(ulo_uml_layout(&h), 0);
	CHECK_EQ(ulo_uml_encode(&h, buf), 0);

	memcpy(bad, buf, sizeof(bad));
	ulo_put_be32(bad + 4, 4);
	CHECK_EQ(ulo_uml_decode(bad, sizeof(bad), &d), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "version 4");
	memcpy(bad, buf, sizeof(bad));
	ulo_put_be32(bad + 20, 1000);
	CHECK_EQ(ulo_uml_decode(bad, sizeof(bad), &d), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "sector size 1000");
	memcpy(bad, buf, sizeof(bad));
	ulo_put_be32(bad + 24, 0);
	CHECK_EQ(ulo_uml_decode(bad, sizeof(bad), &d), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "alignment 0");
	memcpy(bad, buf, sizeof(bad));
	ulo_put_be32(bad + 28, 1);
	CHECK_EQ(ulo_uml_decode(bad, sizeof(bad), &d), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "cow_format 1");
	memcpy(bad, buf, sizeof(bad));
	ulo_put_be64(bad + 12, 0);
	CHECK_EQ(ulo_uml_decode(bad, sizeof(bad), &d), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "disk size 0");
	memcpy(bad, buf, sizeof(bad));
	memset(bad + 32, 'a', ULO_UML_NAME_V3);
	CHECK_EQ(ulo_uml_decode(bad, sizeof(bad), &d), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "no end");
	memcpy(bad, "QCOW", 4);
	CHECK(!ulo_uml_probe(bad, sizeof(bad)));
	CHECK_EQ(ulo_uml_decode(bad, sizeof(bad), &d), -EINVAL);
	/* A name that fills V1's field. */
	memset(&h, 0, sizeof(h));
	h.version = 1;
	h.size = 4096;
	h.sector_size = 512;
	memset(h.backing, 'b', 256);
	CHECK_EQ(ulo_uml_layout(&h), 0);
	CHECK_EQ(ulo_uml_encode(&h, buf), -ENAMETOOLONG);
}

static void test_tag(void)
{
	struct ulo_uml_hdr h = { .version = 3, .size = 1 << 20,
				 .sector_size = 512, .alignment = 4096 }, d;
	uint8_t buf[ULO_UML_HDR_MAX];

	snprintf(h.backing, sizeof(h.backing), "http://127.0.0.1/root.img");
	snprintf(h.tag, sizeof(h.tag), "uloop:etag:\"abc\"");
	CHECK_EQ(ulo_uml_layout(&h), 0);
	CHECK_EQ(ulo_uml_encode(&h, buf), 0);
	CHECK_EQ(ulo_uml_decode(buf, sizeof(buf), &d), 0);
	CHECK(!strcmp(d.backing, "http://127.0.0.1/root.img"));
	CHECK(!strcmp(d.tag, "uloop:etag:\"abc\""));
}

static void make_image(void)
{
	int fd;

	fill(image, IMG, 1);
	path_in(img_path, "image");
	fd = open(img_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(ulo_pwrite_full(fd, image, IMG, 0), 0);
	close(fd);
	memset(&base_id, 0, sizeof(base_id));
	base_id.kind = ULO_ID_FILE_MTIME;
	base_id.size = IMG;
	snprintf(base_id.location, sizeof(base_id.location), "%.2000s", img_path);
}

static bool image_untouched(void)
{
	static uint8_t buf[IMG];

	return !base_read(NULL, buf, 0, IMG) && !memcmp(buf, image, IMG);
}

/* Bit @sec of the COW's on-disk bitmap. */
static int disk_bit(const char *path, uint64_t sec)
{
	uint8_t hdr[ULO_UML_HDR_MAX], b;
	struct ulo_uml_hdr h;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || pread(fd, hdr, sizeof(hdr), 0) != sizeof(hdr) ||
	    ulo_uml_decode(hdr, sizeof(hdr), &h) ||
	    pread(fd, &b, 1, h.bitmap_offset + sec / 8) != 1) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return b >> (sec % 8) & 1;
}

static void test_stack_rw(void)
{
	static uint8_t want[IMG], got[IMG];
	uint8_t blk[8192];
	char cow[PATH_MAX];
	struct ulo_cow *s;

	path_in(cow, "rw.cow");
	CHECK_EQ(open_stack(cow, false, &s), 0);
	CHECK_EQ(ulo_cow_depth(s), 1);
	memcpy(want, image, IMG);
	/* Whole sectors, a part of one, a span across sector edges. */
	fill(blk, sizeof(blk), 7);
	CHECK_EQ(ulo_cow_write(s, blk, 4096, 4096), 0);
	memcpy(want + 4096, blk, 4096);
	CHECK_EQ(ulo_cow_write(s, blk, 100000, 10), 0);
	memcpy(want + 100000, blk, 10);
	CHECK_EQ(ulo_cow_write(s, blk + 5, 1000000 - 300, 5000), 0);
	memcpy(want + 1000000 - 300, blk + 5, 5000);
	CHECK_EQ(ulo_cow_write(s, blk, IMG - 512, 512), 0);
	memcpy(want + IMG - 512, blk, 512);
	CHECK_EQ(ulo_cow_write(s, blk, IMG - 10, 20), -EINVAL);
	CHECK_EQ(ulo_cow_read(s, got, 0, IMG), 0);
	CHECK(!memcmp(got, want, IMG));
	/* Not on disk before a flush; on disk after it. */
	CHECK_EQ(disk_bit(cow, 8), 0);
	CHECK_EQ(ulo_cow_flush(s), 0);
	CHECK_EQ(disk_bit(cow, 8), 1);
	CHECK_EQ(disk_bit(cow, 100000 / 512), 1);
	CHECK_EQ(disk_bit(cow, 0), 0);
	CHECK_EQ(ulo_cow_top_bytes(s), (8 + 1 + 11 + 1) * 512ull);
	ulo_cow_free(s);
	CHECK(image_untouched());

	CHECK_EQ(open_stack(cow, true, &s), 0);
	CHECK_EQ(ulo_cow_read(s, got, 0, IMG), 0);
	CHECK(!memcmp(got, want, IMG));
	CHECK_EQ(ulo_cow_write(s, blk, 0, 512), -EROFS);
	ulo_cow_free(s);
}

static void test_snapshot(void)
{
	uint8_t a[4096], b[4096], got[4096];
	char top[PATH_MAX], snap[PATH_MAX];
	struct ulo_cow *s;

	path_in(top, "base.cow");
	path_in(snap, "snap.cow");
	CHECK_EQ(open_stack(top, false, &s), 0);
	fill(a, sizeof(a), 11);
	fill(b, sizeof(b), 12);
	CHECK_EQ(ulo_cow_write(s, a, 0, 4096), 0);
	CHECK_EQ(ulo_cow_write(s, a, 8192, 4096), 0);
	CHECK_EQ(ulo_cow_snapshot(s, snap, -1), 0);
	CHECK_EQ(ulo_cow_depth(s), 2);
	CHECK_EQ(ulo_cow_snapshot(s, snap, -1), -EEXIST);
	CHECK_EQ(ulo_cow_write(s, b, 8192, 4096), 0);
	CHECK_EQ(ulo_cow_read(s, got, 0, 4096), 0);
	CHECK(!memcmp(got, a, 4096));
	CHECK_EQ(ulo_cow_read(s, got, 8192, 4096), 0);
	CHECK(!memcmp(got, b, 4096));
	ulo_cow_free(s);
	/* Reopened from the top: the whole stack; the frozen layer alone
	 * still has the old bytes. */
	CHECK_EQ(open_stack(snap, false, &s), 0);
	CHECK_EQ(ulo_cow_depth(s), 2);
	CHECK_EQ(ulo_cow_read(s, got, 8192, 4096), 0);
	CHECK(!memcmp(got, b, 4096));
	ulo_cow_free(s);
	CHECK_EQ(open_stack(top, true, &s), 0);
	CHECK_EQ(ulo_cow_read(s, got, 8192, 4096), 0);
	CHECK(!memcmp(got, a, 4096));
	ulo_cow_free(s);
	/* Writing the frozen layer again makes the stack over it stale. */
	CHECK_EQ(open_stack(top, false, &s), 0);
	CHECK_EQ(ulo_cow_write(s, b, 0, 4096), 0);
	ulo_cow_free(s);
	{
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1000000000, 0 } };

		CHECK_EQ(utimensat(AT_FDCWD, top, ts, 0), 0);
	}
	CHECK_EQ(open_stack(snap, true, &s), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "was modified after this COW was made");
	{
		struct ulo_cow_opts o = { .path = snap, .base = &base_id,
					  .readonly = true, .ignore_mtime = true };

		CHECK_EQ(ulo_cow_open(&o, &s), 0);
		ulo_cow_free(s);
	}
}

static void test_base_checks(void)
{
	char cow[PATH_MAX], other[PATH_MAX], loc[PATH_MAX];
	struct ulo_cow *s;
	uint64_t size;
	int fd;

	path_in(cow, "checks.cow");
	CHECK_EQ(open_stack(cow, false, &s), 0);
	ulo_cow_free(s);
	CHECK_EQ(ulo_cow_find_base(cow, loc, sizeof(loc), &size), 0);
	CHECK(!strcmp(loc, img_path));
	CHECK_EQ(size, IMG);
	/* The image touched: refused as UML refuses it. */
	{
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { 2000000000, 0 } };

		CHECK_EQ(utimensat(AT_FDCWD, img_path, ts, 0), 0);
	}
	CHECK_EQ(open_stack(cow, false, &s), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "was modified after this COW was made");
	/* Another image: refused by name. */
	base_id.size = IMG / 2;
	CHECK_EQ(open_stack(cow, true, &s), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "an image of 4194304 bytes");
	base_id.size = IMG;
	/* A file holding other data is never made a COW. */
	path_in(other, "other");
	fd = open(other, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK_EQ(ulo_pwrite_full(fd, image, 8192, 0), 0);
	close(fd);
	CHECK_EQ(open_stack(other, false, &s), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "holds other data");
	make_image();	/* a fresh mtime for the tests after */
}

struct writer {
	struct ulo_cow *s;
	unsigned id;
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	uint8_t buf[4096];

	for (unsigned i = 0; i < 64; i++) {
		uint64_t off = ((uint64_t)i * 8 + w->id) * 4096;

		fill(buf, sizeof(buf), w->id * 1000 + i);
		if (ulo_cow_write(w->s, buf, off, sizeof(buf)))
			return (void *)1;
		if (i % 8 == 0 && ulo_cow_flush(w->s))
			return (void *)1;
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[8];
	struct writer w[8];
	char cow[PATH_MAX];
	struct ulo_cow *s;
	uint8_t buf[4096], got[4096];
	void *r;

	path_in(cow, "threads.cow");
	CHECK_EQ(open_stack(cow, false, &s), 0);
	for (unsigned i = 0; i < 8; i++) {
		w[i] = (struct writer){ s, i };
		pthread_create(&t[i], NULL, writer_thread, &w[i]);
	}
	for (unsigned i = 0; i < 8; i++) {
		pthread_join(t[i], &r);
		CHECK(r == NULL);
	}
	CHECK_EQ(ulo_cow_flush(s), 0);
	ulo_cow_free(s);
	CHECK_EQ(open_stack(cow, true, &s), 0);
	for (unsigned id = 0; id < 8; id++)
		for (unsigned i = 0; i < 64; i++) {
			fill(buf, sizeof(buf), id * 1000 + i);
			CHECK_EQ(ulo_cow_read(s, got, ((uint64_t)i * 8 + id) * 4096, 4096), 0);
			CHECK(!memcmp(buf, got, 4096));
		}
	ulo_cow_free(s);
}

/*
 * A daemon killed after acknowledging writes it had not flushed: a child
 * writes and dies (_exit, no flush).  With the mirror in a run-state
 * directory, the next open takes the writes back and flushes them; a
 * third open, without a mirror, finds them durable.  Without a mirror
 * they are lost, as a power cut would lose them (the control).
 */
static pid_t crash_after_writes(const char *path, const char *pending, unsigned seed)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct ulo_cow_opts o = {
			.path = path, .base = &base_id, .base_read = base_read,
			.pending_dir = pending,
		};
		struct ulo_cow *s;
		uint8_t buf[8192];

		fill(buf, sizeof(buf), seed);
		if (ulo_cow_open(&o, &s) || ulo_cow_write(s, buf, 65536, sizeof(buf)) ||
		    ulo_cow_write(s, buf, 1000, 100))
			_exit(1);
		_exit(0);	/* killed: no flush, no free */
	}
	return pid;
}

static int count_files(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *de;
	int n = 0;

	while (dp && (de = readdir(dp)))
		n += de->d_name[0] != '.';
	if (dp)
		closedir(dp);
	return n;
}

static void test_crash_mirror(void)
{
	char p[PATH_MAX], q[PATH_MAX], pend[PATH_MAX];
	uint8_t want[8192], got[8192], part[100];
	struct ulo_cow_opts o = {
		.base = &base_id, .base_read = base_read, .pending_dir = pend,
	};
	struct ulo_cow *s;
	int st;

	path_in(p, "crash.cow");
	path_in(q, "crash-nomirror.cow");
	path_in(pend, "run");
	fill(want, sizeof(want), 77);
	CHECK(waitpid(crash_after_writes(p, pend, 77), &st, 0) > 0 && st == 0);
	o.path = p;
	CHECK_EQ(ulo_cow_open(&o, &s), 0);
	CHECK_EQ(ulo_cow_read(s, got, 65536, sizeof(got)), 0);
	CHECK(!memcmp(got, want, sizeof(got)));
	CHECK_EQ(ulo_cow_read(s, part, 1000, sizeof(part)), 0);
	CHECK(!memcmp(part, want, sizeof(part)));
	ulo_cow_free(s);
	/* Flushed at that open: durable, and the mirror is gone. */
	CHECK_EQ(disk_bit(p, 65536 / 512), 1);
	CHECK_EQ(count_files(pend), 0);
	CHECK_EQ(open_stack(p, true, &s), 0);
	CHECK_EQ(ulo_cow_read(s, got, 65536, sizeof(got)), 0);
	CHECK(!memcmp(got, want, sizeof(got)));
	ulo_cow_free(s);

	/* The control: no mirror, the acknowledged writes are gone. */
	CHECK(waitpid(crash_after_writes(q, NULL, 77), &st, 0) > 0 && st == 0);
	CHECK_EQ(open_stack(q, false, &s), 0);
	CHECK_EQ(ulo_cow_read(s, got, 65536, sizeof(got)), 0);
	CHECK(!memcmp(got, image + 65536, sizeof(got)));
	ulo_cow_free(s);

	/* A mirror left for one file is not applied to a new file made
	 * where it was: the new COW holds nothing. */
	CHECK(waitpid(crash_after_writes(p, pend, 78), &st, 0) > 0 && st == 0);
	CHECK_EQ(unlink(p), 0);
	CHECK_EQ(ulo_cow_open(&o, &s), 0);
	CHECK_EQ(ulo_cow_read(s, got, 65536, sizeof(got)), 0);
	CHECK(!memcmp(got, image + 65536, sizeof(got)));
	ulo_cow_free(s);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	make_image();
	UNIT_RUN(test_v3_layout);
	UNIT_RUN(test_v1_v2);
	UNIT_RUN(test_v3_64bit);
	UNIT_RUN(test_refused);
	UNIT_RUN(test_tag);
	UNIT_RUN(test_stack_rw);
	UNIT_RUN(test_snapshot);
	UNIT_RUN(test_base_checks);
	UNIT_RUN(test_threads);
	UNIT_RUN(test_crash_mirror);
	unit_rm_tree(dir);
	return unit_done();
}
