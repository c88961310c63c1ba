// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * uloopd-test.c - a test daemon and prober for uloop.ko, static so it runs
 * in a busybox guest.  It serves misses by copying the blocks that cover
 * them from an image file into the cache (the real daemon is uloop attach);
 * the other commands poke the interface where the tests need it.
 *
 *   uloopd-test serve IMAGE CACHE [options]   add a device (or --attach N)
 *       and serve it; prints /dev/uloopN once ready; SIGTERM: prints
 *       "served=N rejected=N expected-rejects=N" and exits
 *     --offset D --shift S --hold MS --index N --buffered --full (bitmap
 *     all set) --data (complete with ULOOP_C_DATA, cache untouched)
 *     --malformed (around every real completion, bad ones: each must be
 *     rejected with the right status) --ahead N (fetch N more blocks and
 *     SET_PRESENT them) --errno E (fail every miss with -E) --delay-ms N
 *     (wait before completing each batch)
 *     --csum (the CRC-32C of every 4 KiB span of the image at csum_offset,
 *     the page after the data, written at start and with every fetch)
 *     --fill (copy the whole image into the cache at start; with --full)
 *     --rot FIRST:COUNT (then spoil those blocks in the cache, bits kept)
 *     --stale (complete misses without fetching: the cache keeps its rot;
 *     ULOOP_C_DATA where the miss has ULOOP_M_DATA) --ignore-m-data (not
 *     even then)
 *   uloopd-test remove N         ULOOP_CTL_REMOVE; prints the errno name
 *   uloopd-test info N           ULOOP_CTL_INFO as key=value lines
 *   uloopd-test badioctl IMAGE CACHE    invalid arguments: each EINVAL (or
 *       the errno named), nothing created
 *   uloopd-test late IMAGE CACHE        a completion after the hold timeout
 *       is rejected (-ESTALE) and counted; the read got EIO
 *   uloopd-test verify DEV IMAGE SECS [BS]  random O_DIRECT reads compared
 *       with the image until SECS pass; exit 1 on any error or mismatch
 *   uloopd-test churn IMAGE CACHE N     N rounds of add, read, detach,
 *       attach, read, then a reader's readahead in flight (REMOVE EBUSY
 *       until its close is done), remove
 *   uloopd-test race IMAGE CACHE N      parallel add/remove (index -1 twice,
 *       40 under an opener, 0), N rounds each: no failure
 *     serve --clear-on-usr1 FIRST:COUNT  on SIGUSR1: CLEAR_PRESENT the
 *       blocks, spoil them in the cache, print "cleared FIRST COUNT"
 *   uloopd-test loop-dio DEV     switch a loop device to direct I/O (the
 *       bench's other loop; busybox losetup cannot)
 *   uloopd-test nonroot N        as uid 65534: the control node, the device
 *       and the control ioctls are refused
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/uloop.h>

#define CTL "/dev/" ULOOP_CONTROL_NAME
#define BATCH 64

static struct {
	int img, cache;
	uint64_t size, offset;
	unsigned int shift;
	int data, malformed, err, ahead, delay_ms;
	int stale, ignore_m_data;
	uint64_t clear_first, clear_count;
	uint64_t csum_offset;	/* 0: no checksums */
} S;
static volatile sig_atomic_t stop, clear_req;
static uint64_t served, rejected, expected_rejects;

static void die(const char *what)
{
	fprintf(stderr, "uloopd-test: %s: %s\n", what, strerror(errno));
	exit(1);
}

static const char *ename(int e)
{
	switch (e) {
	case 0: return "OK";
	case EINVAL: return "EINVAL";
	case EBUSY: return "EBUSY";
	case EBADF: return "EBADF";
	case ENODEV: return "ENODEV";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOENT: return "ENOENT";
	case ESTALE: return "ESTALE";
	case EEXIST: return "EEXIST";
	case EIO: return "EIO";
	case EFAULT: return "EFAULT";
	case EAGAIN: return "EAGAIN";
	case ENXIO: return "ENXIO";
	case ENODATA: return "ENODATA";
	default: return strerror(e);
	}
}

static int ctl_open(void)
{
	int fd = open(CTL, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die(CTL);
	return fd;
}

static void info_init(struct uloop_dev_info *di, int cache, uint64_t *bm, size_t bmlen)
{
	memset(di, 0, sizeof(*di));
	di->index = -1;
	di->cache_fd = cache;
	di->data_offset = S.offset;
	di->image_size = S.size;
	di->block_shift = S.shift;
	di->hold_timeout_ms = 5000;
	di->bitmap_addr = (uintptr_t)bm;
	di->bitmap_len = bm ? bmlen : 0;
}

/* CRC-32C (Castagnoli, reflected), as the daemon and the driver use it. */
static uint32_t crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
	static uint32_t table[256];
	unsigned int i, k;

	if (!table[1])
		for (i = 0; i < 256; i++) {
			uint32_t c = i;

			for (k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
			table[i] = c;
		}
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* The checksums of the image's spans over [a, b) (span-aligned a). */
static void write_csums(uint64_t a, uint64_t b)
{
	unsigned char buf[4096];
	unsigned char le[4];
	uint32_t c;
	ssize_t n;

	for (; a < b; a += 4096) {
		n = pread(S.img, buf, S.size - a < 4096 ? S.size - a : 4096, a);
		if (n <= 0)
			die("pread image");
		c = crc32c(0, buf, n);
		le[0] = c, le[1] = c >> 8, le[2] = c >> 16, le[3] = c >> 24;
		if (pwrite(S.cache, le, 4, S.csum_offset + a / 4096 * 4) != 4)
			die("pwrite checksum");
	}
}

/* Copy the blocks covering [off, off + len) from the image to the cache. */
static void fetch(uint64_t off, uint64_t len)
{
	uint64_t a0 = off & ~((1ULL << S.shift) - 1);
	uint64_t bs = 1ULL << S.shift;
	uint64_t a = off & ~(bs - 1), b = (off + len + bs - 1) & ~(bs - 1);
	static char *buf;
	ssize_t n;

	if (b > S.size)
		b = S.size;
	if (!buf && !(buf = malloc(1 << 20)))
		die("malloc");
	while (a < b) {
		size_t chunk = b - a > (1 << 20) ? 1 << 20 : b - a;

		n = pread(S.img, buf, chunk, a);
		if (n <= 0)
			die("pread image");
		if (pwrite(S.cache, buf, n, S.offset + a) != n)
			die("pwrite cache");
		a += n;
	}
	/* Before the completion marks them present, as the daemon does. */
	if (S.csum_offset)
		write_csums(a0, b);
}

/* Spoil blocks [first, first + count) in the cache, their bits kept. */
static void rot(uint64_t first, uint64_t count)
{
	size_t len = count << S.shift;
	char *junk = malloc(len);

	if (!junk)
		die("malloc");
	memset(junk, 0x5a, len);
	if (pwrite(S.cache, junk, len, S.offset + (first << S.shift)) != (ssize_t)len ||
	    fsync(S.cache))
		die("pwrite cache");
	free(junk);
}

static int complete(int sess, struct uloop_completion *c, unsigned int n,
		    struct uloop_complete *out)
{
	memset(out, 0, sizeof(*out));
	out->entries = (uintptr_t)c;
	out->count = n;
	return ioctl(sess, ULOOP_SESS_COMPLETE, out);
}

/* Fetch @n misses into the cache and complete them all with success. */
static void serve_misses(int sess, const struct uloop_miss *m, int n)
{
	struct uloop_completion c[64];
	struct uloop_complete res;
	int i;

	if (n > (int)(sizeof(c) / sizeof(c[0])))
		die("serve_misses: batch too large");
	memset(c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		fetch(m[i].offset, m[i].length);
		c[i].tag = m[i].tag;
		c[i].offset = m[i].offset;
		c[i].length = m[i].length;
	}
	if (complete(sess, c, n, &res))
		die("COMPLETE");
}

static void expect(struct uloop_completion *c, int want, const char *what)
{
	if (c->status != want) {
		fprintf(stderr, "uloopd-test: %s: status %d, expected %d\n",
			what, c->status, want);
		exit(1);
	}
}

/* Bad completions around a real one: each rejected with its status. */
static void malformed(int sess, struct uloop_miss *m, int after)
{
	struct uloop_completion c[6];
	struct uloop_complete r;
	int i;

	memset(c, 0, sizeof(c));
	for (i = 0; i < 6; i++) {
		c[i].tag = m->tag;
		c[i].offset = m->offset;
		c[i].length = m->length;
	}
	if (after) {	/* the real one went: a duplicate, twice */
		if (complete(sess, c, 2, &r))
			die("COMPLETE duplicate");
		rejected += r.rejected;
		expect(&c[0], -ESTALE, "duplicate");
		expect(&c[1], -ESTALE, "duplicate");
		expected_rejects += 2;
		return;
	}
	c[0].tag = (0x7ffffff0ULL << 32) | (m->tag & 0xffffffff);	/* never issued */
	c[1].length += 512;
	c[2].offset += 4096;
	c[3].flags = 0x80;
	c[4].reserved = 1;
	c[5].result = 5;
	if (complete(sess, c, 6, &r))
		die("COMPLETE malformed");
	rejected += r.rejected;
	expect(&c[0], -ENOENT, "unknown tag");
	for (i = 1; i < 6; i++)
		expect(&c[i], -EINVAL, "malformed");
	if (r.rejected != 6 || r.applied != 0) {
		fprintf(stderr, "uloopd-test: malformed batch: %u applied %u rejected\n",
			r.applied, r.rejected);
		exit(1);
	}
	expected_rejects += 6;
}

/*
 * The cache withdraws blocks (as after a failed fdatasync): clear their bits
 * first, then spoil their bytes in the cache, so that a read served from
 * the cache after this would be wrong and only a miss (fetched again from
 * the image) is right.
 */
static void withdraw(int sess)
{
	struct uloop_present pr = { .first_block = S.clear_first, .count = S.clear_count };
	size_t len = S.clear_count << S.shift;
	char *junk = malloc(len);

	if (!junk)
		die("malloc");
	if (ioctl(sess, ULOOP_SESS_CLEAR_PRESENT, &pr))
		die("CLEAR_PRESENT");
	memset(junk, 0xa5, len);
	if (pwrite(S.cache, junk, len, S.offset + (S.clear_first << S.shift)) != (ssize_t)len)
		die("pwrite cache");
	free(junk);
	printf("cleared %" PRIu64 " %" PRIu64 "\n", S.clear_first, S.clear_count);
	fflush(stdout);
}

static void serve(int sess)
{
	struct uloop_miss m[BATCH];
	struct uloop_completion c[2 * BATCH];
	struct uloop_complete r;
	static char *data;
	unsigned int i, n, k;
	ssize_t got;

	while (!stop) {
		struct pollfd p = { .fd = sess, .events = POLLIN };

		if (clear_req) {
			clear_req = 0;
			withdraw(sess);
		}

		if (poll(&p, 1, 200) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p.revents & (POLLHUP | POLLERR)) {
			fprintf(stderr, "uloopd-test: session hung up\n");
			return;
		}
		if (!(p.revents & POLLIN))
			continue;
		got = read(sess, m, sizeof(m));
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("read session");
		}
		n = got / sizeof(m[0]);
		memset(c, 0, sizeof(c));
		for (i = k = 0; i < n; i++) {
			if (S.malformed)
				malformed(sess, &m[i], 0);
			c[k].tag = m[i].tag;
			c[k].offset = m[i].offset;
			c[k].length = m[i].length;
			if (S.err) {
				c[k].result = -S.err;
			} else if (S.data || (S.stale && !S.ignore_m_data &&
					      (m[i].flags & ULOOP_M_DATA))) {
				if (!data && !(data = malloc(BATCH << 20)))
					die("malloc");
				if (pread(S.img, data + ((size_t)i << 20), m[i].length,
					  m[i].offset) != m[i].length)
					die("pread image");
				c[k].flags = ULOOP_C_DATA;
				c[k].data_addr = (uintptr_t)(data + ((size_t)i << 20));
			} else if (!S.stale) {
				fetch(m[i].offset, m[i].length);
			}
			k++;
			if (S.malformed) {	/* the same tag again in the batch */
				c[k] = c[k - 1];
				k++;
			}
		}
		if (S.delay_ms)
			usleep(S.delay_ms * 1000);
		if (complete(sess, c, k, &r))
			die("COMPLETE");
		for (i = 0; i < k; i++) {
			int want = S.malformed && (i & 1) ? -ESTALE : 0;

			expect(&c[i], want, "completion");
		}
		if (S.malformed)
			expected_rejects += n;
		served += r.applied;
		rejected += r.rejected;
		for (i = 0; S.malformed && i < n; i++)
			malformed(sess, &m[i], 1);
		for (i = 0; S.ahead && i < n; i++) {
			uint64_t first = (m[i].offset + m[i].length + (1ULL << S.shift) - 1) >> S.shift;
			uint64_t nb = (S.size + (1ULL << S.shift) - 1) >> S.shift;
			struct uloop_present pr = { .first_block = first, .count = S.ahead };

			if (first >= nb)
				continue;
			if (pr.count > nb - first)
				pr.count = nb - first;
			fetch(first << S.shift, pr.count << S.shift);
			if (ioctl(sess, ULOOP_SESS_SET_PRESENT, &pr))
				die("SET_PRESENT");
		}
	}
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	clear_req = 1;
}

static void open_files(const char *img, const char *cache)
{
	struct stat st;

	S.img = open(img, O_RDONLY | O_CLOEXEC);
	if (S.img < 0 || fstat(S.img, &st))
		die(img);
	S.size = st.st_size;
	S.cache = open(cache, O_RDWR | O_CLOEXEC);
	if (S.cache < 0)
		die(cache);
}

static int cmd_serve(int argc, char **argv)
{
	struct uloop_dev_info di;
	int attach = -1, index = -1, full = 0, i, ctl;
	unsigned int hold = 5000;
	uint64_t flags = 0, *bm = NULL, rot_first = 0, rot_count = 0;
	size_t bmlen = 0;
	int csum = 0, fill = 0;
	struct sigaction sa = { .sa_handler = on_term };

	open_files(argv[0], argv[1]);
	for (i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";

		if (!strcmp(o, "--offset")) S.offset = strtoull(v, NULL, 0), i++;
		else if (!strcmp(o, "--shift")) S.shift = atoi(v), i++;
		else if (!strcmp(o, "--hold")) hold = strtoul(v, NULL, 0), i++;
		else if (!strcmp(o, "--index")) index = atoi(v), i++;
		else if (!strcmp(o, "--attach")) attach = atoi(v), i++;
		else if (!strcmp(o, "--ahead")) S.ahead = atoi(v), i++;
		else if (!strcmp(o, "--errno")) S.err = atoi(v), i++;
		else if (!strcmp(o, "--delay-ms")) S.delay_ms = atoi(v), i++;
		else if (!strcmp(o, "--clear-on-usr1")) {
			if (sscanf(v, "%" SCNu64 ":%" SCNu64, &S.clear_first, &S.clear_count) != 2)
				return 2;
			i++;
		}
		else if (!strcmp(o, "--rot")) {
			if (sscanf(v, "%" SCNu64 ":%" SCNu64, &rot_first, &rot_count) != 2)
				return 2;
			i++;
		}
		else if (!strcmp(o, "--csum")) csum = 1;
		else if (!strcmp(o, "--fill")) fill = 1;
		else if (!strcmp(o, "--stale")) S.stale = 1;
		else if (!strcmp(o, "--ignore-m-data")) S.ignore_m_data = 1;
		else if (!strcmp(o, "--buffered")) flags |= ULOOP_F_BUFFERED;
		else if (!strcmp(o, "--full")) full = 1;
		else if (!strcmp(o, "--data")) S.data = 1;
		else if (!strcmp(o, "--malformed")) S.malformed = 1;
		else { fprintf(stderr, "uloopd-test: bad option %s\n", o); return 2; }
	}
	if (!S.shift)
		S.shift = 12;
	if (csum) {
		S.csum_offset = (S.offset + S.size + 4095) & ~4095ULL;
		write_csums(0, S.size);
	}
	if (fill)
		fetch(0, S.size);
	if (rot_count)
		rot(rot_first, rot_count);
	if (full) {
		uint64_t nb = (S.size + (1ULL << S.shift) - 1) >> S.shift;

		bmlen = (nb + 63) / 64 * 8;
		bm = malloc(bmlen);
		memset(bm, 0xff, bmlen);
	}
	ctl = ctl_open();
	info_init(&di, S.cache, bm, bmlen);
	di.flags = flags;
	di.hold_timeout_ms = hold;
	di.csum_offset = S.csum_offset;
	di.index = attach >= 0 ? attach : index;
	if (ioctl(ctl, attach >= 0 ? ULOOP_CTL_ATTACH : ULOOP_CTL_ADD, &di))
		die(attach >= 0 ? "ULOOP_CTL_ATTACH" : "ULOOP_CTL_ADD");
	close(ctl);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (S.clear_count) {
		struct sigaction su = { .sa_handler = on_usr1 };

		sigaction(SIGUSR1, &su, NULL);
	}
	printf("/dev/uloop%d\n", di.index);
	fflush(stdout);
	serve(di.session_fd);
	printf("served=%" PRIu64 " rejected=%" PRIu64 " expected-rejects=%" PRIu64 "\n",
	       served, rejected, expected_rejects);
	return rejected == expected_rejects ? 0 : 1;
}

static int cmd_remove(int index)
{
	struct uloop_dev_remove r = { .index = index };
	int ctl = ctl_open(), ret = ioctl(ctl, ULOOP_CTL_REMOVE, &r) ? errno : 0;

	printf("%s\n", ename(ret));
	return ret ? 1 : 0;
}

static int cmd_info(int index)
{
	struct uloop_dev_status st = { .index = index };
	int ctl = ctl_open();

	if (ioctl(ctl, ULOOP_CTL_INFO, &st))
		die("ULOOP_CTL_INFO");
	printf("state=%u flags=%llu blocks=%llu present=%llu hits=%llu misses=%llu "
	       "inflight=%llu held=%llu rejected=%llu failed=%llu hold=%u "
	       "csum_offset=%llu csum_errors=%llu\n",
	       st.state, (unsigned long long)st.flags, (unsigned long long)st.blocks,
	       (unsigned long long)st.present, (unsigned long long)st.hits,
	       (unsigned long long)st.misses, (unsigned long long)st.inflight,
	       (unsigned long long)st.held, (unsigned long long)st.rejected,
	       (unsigned long long)st.failed, st.hold_timeout_ms,
	       (unsigned long long)st.csum_offset, (unsigned long long)st.csum_errors);
	return 0;
}

static int bad_one(int ctl, unsigned long req, struct uloop_dev_info *di, int want,
		   const char *name)
{
	int e = ioctl(ctl, req, di) ? errno : 0;

	if (!e)
		close(di->session_fd);
	printf("%s %s: %s\n", e == want ? "ok" : "WRONG", name, ename(e));
	return e != want;
}

static int cmd_badioctl(void)
{
	int ctl = ctl_open(), bad = 0, pipefd[2], ro;
	struct uloop_dev_info di, good;
	uint64_t bm[1] = { 0 };
	struct uloop_dev_remove rm = { .index = 0 };
	struct uloop_dev_status st = { .index = 0 };

	S.shift = 12;
	info_init(&good, S.cache, NULL, 0);
#define CASE(req, want, name, mod) \
	do { di = good; mod; bad += bad_one(ctl, req, &di, want, name); } while (0)
	CASE(ULOOP_CTL_ADD, EINVAL, "unknown flag", di.flags = 1ULL << 40);
	CASE(ULOOP_CTL_ADD, EINVAL, "reserved set", di.reserved[2] = 1);
	CASE(ULOOP_CTL_ADD, EINVAL, "pad set", di.__pad = 1);
	CASE(ULOOP_CTL_ADD, EINVAL, "block_shift 11", di.block_shift = 11);
	CASE(ULOOP_CTL_ADD, EINVAL, "block_shift 21", di.block_shift = 21);
	CASE(ULOOP_CTL_ADD, EINVAL, "image_size 0", di.image_size = 0);
	CASE(ULOOP_CTL_ADD, EINVAL, "data_offset 100", di.data_offset = 100);
	CASE(ULOOP_CTL_ADD, EINVAL, "offset+size overflow", di.data_offset = ~0ULL << 10);
	CASE(ULOOP_CTL_ADD, EINVAL, "bitmap too short",
	     (di.bitmap_addr = (uintptr_t)bm, di.bitmap_len = 1));
	CASE(ULOOP_CTL_ADD, EINVAL, "bitmap_len without bitmap", di.bitmap_len = 4096);
	CASE(ULOOP_CTL_ADD, EFAULT, "bitmap unreadable",
	     (di.bitmap_addr = 8, di.bitmap_len = 1 << 20));
	CASE(ULOOP_CTL_ADD, EINVAL, "index -2", di.index = -2);
	{	/* the checksums: aligned, beside the data, inside the cache */
		uint64_t after = (S.size + 4095) & ~4095ULL;
		struct stat cst;

		if (fstat(S.cache, &cst))
			die("fstat cache");
		CASE(ULOOP_CTL_ADD, EINVAL, "csum_offset not a multiple of 4",
		     di.csum_offset = after + 2);
		CASE(ULOOP_CTL_ADD, EINVAL, "checksums over the data", di.csum_offset = 4096);
		CASE(ULOOP_CTL_ADD, EINVAL, "checksums ending in the data",
		     (di.data_offset = 1 << 20, di.csum_offset = (1 << 20) - 4));
		CASE(ULOOP_CTL_ADD, EINVAL, "checksums past the cache's end",
		     di.csum_offset = cst.st_size - 4);
	}
	CASE(ULOOP_CTL_ADD, EINVAL, "checksums overflow", di.csum_offset = ~3ULL);
	CASE(ULOOP_CTL_ADD, EBADF, "bad fd", di.cache_fd = 999);
	if (pipe(pipefd))
		die("pipe");
	CASE(ULOOP_CTL_ADD, EINVAL, "pipe as cache", di.cache_fd = pipefd[0]);
	ro = open("/dev/null", O_WRONLY);
	CASE(ULOOP_CTL_ADD, EINVAL, "char device as cache", di.cache_fd = ro);
	{	/* a cache file shorter than data_offset + image_size */
		int sm = open("/tmp/uloopd-test.small", O_RDWR | O_CREAT | O_TRUNC, 0600);

		if (sm < 0 || ftruncate(sm, S.size - 1))
			die("small cache");
		CASE(ULOOP_CTL_ADD, EINVAL, "cache file 1 byte short", di.cache_fd = sm);
		if (ftruncate(sm, S.size + 512))
			die("ftruncate");
		CASE(ULOOP_CTL_ADD, EINVAL, "cache file short at the offset",
		     (di.cache_fd = sm, di.data_offset = 1024));
		close(sm);
		unlink("/tmp/uloopd-test.small");
	}
	CASE(ULOOP_CTL_ATTACH, EINVAL, "attach index -1", di.index = -1);
	CASE(ULOOP_CTL_ATTACH, ENODEV, "attach no device", di.index = 77);
	rm.__pad = 1;
	bad += ioctl(ctl, ULOOP_CTL_REMOVE, &rm) == 0 || errno != EINVAL;
	printf("%s remove pad set: %s\n", errno == EINVAL ? "ok" : "WRONG", ename(errno));
	st.reserved[0] = 1;
	bad += ioctl(ctl, ULOOP_CTL_INFO, &st) == 0 || errno != EINVAL;
	printf("%s info reserved set: %s\n", errno == EINVAL ? "ok" : "WRONG", ename(errno));
	bad += ioctl(ctl, _IOWR(ULOOP_IOC_MAGIC, 0x3f, int), &ro) == 0 || errno != ENOTTY;
	printf("%s unknown ioctl: %s\n", errno == ENOTTY ? "ok" : "WRONG", ename(errno));

	/* A good device: its session refuses bad completions and ranges. */
	good.csum_offset = (S.size + 4095) & ~4095ULL;
	di = good;
	if (ioctl(ctl, ULOOP_CTL_ADD, &di))
		die("ULOOP_CTL_ADD");
	{
		struct uloop_complete c = { .entries = 0, .count = 0 };
		struct uloop_present p = { .first_block = 0, .count = 0 };
		uint64_t nb = (S.size + 4095) >> 12;
		struct uloop_dev_info again = good;

		st.index = di.index;
		st.reserved[0] = 0;
		if (ioctl(ctl, ULOOP_CTL_INFO, &st) || st.csum_offset != good.csum_offset) {
			bad++;
			printf("WRONG info csum_offset %llu, added with %llu\n",
			       (unsigned long long)st.csum_offset,
			       (unsigned long long)good.csum_offset);
		}
		bad += ioctl(di.session_fd, ULOOP_SESS_COMPLETE, &c) == 0 || errno != EINVAL;
		printf("complete count 0: %s\n", ename(errno));
		c.count = ULOOP_COMPLETE_MAX + 1;
		bad += ioctl(di.session_fd, ULOOP_SESS_COMPLETE, &c) == 0 || errno != EINVAL;
		printf("complete count max+1: %s\n", ename(errno));
		c.count = 1;
		c.entries = 8;
		bad += ioctl(di.session_fd, ULOOP_SESS_COMPLETE, &c) == 0 || errno != EFAULT;
		printf("complete unreadable: %s\n", ename(errno));
		bad += ioctl(di.session_fd, ULOOP_SESS_SET_PRESENT, &p) == 0 || errno != EINVAL;
		printf("present count 0: %s\n", ename(errno));
		p.first_block = nb - 1;
		p.count = 2;
		bad += ioctl(di.session_fd, ULOOP_SESS_SET_PRESENT, &p) == 0 || errno != EINVAL;
		printf("present past the end: %s\n", ename(errno));
		p.first_block = 1;
		p.count = ~0ULL;
		bad += ioctl(di.session_fd, ULOOP_SESS_SET_PRESENT, &p) == 0 || errno != EINVAL;
		printf("present overflow: %s\n", ename(errno));
		{	/* CLEAR_PRESENT: the same checks; a good one works */
			struct uloop_present q[] = {
				{ .first_block = 0, .count = 0 },
				{ .first_block = nb - 1, .count = 2 },
				{ .first_block = 1, .count = ~0ULL },
				{ .first_block = nb, .count = 1 },
				{ .first_block = 0, .count = 1, .reserved = { 0, 1 } },
			};
			unsigned int j;

			for (j = 0; j < sizeof(q) / sizeof(q[0]); j++) {
				int e = ioctl(di.session_fd, ULOOP_SESS_CLEAR_PRESENT, &q[j]) ? errno : 0;

				bad += e != EINVAL;
				printf("%s clear bad range %u: %s\n", e == EINVAL ? "ok" : "WRONG", j,
				       ename(e));
			}
			q[0].count = nb;
			j = ioctl(di.session_fd, ULOOP_SESS_CLEAR_PRESENT, &q[0]) ? errno : 0;
			bad += j != 0;
			printf("%s clear whole image: %s\n", j ? "WRONG" : "ok", ename(j));
		}
		again.index = di.index;
		bad += bad_one(ctl, ULOOP_CTL_ATTACH, &again, EBUSY, "attach with a live session");
		close(di.session_fd);
		again = good;
		again.index = di.index;
		again.image_size += 4096;
		bad += bad_one(ctl, ULOOP_CTL_ATTACH, &again, EINVAL, "attach other geometry");
		again.image_size -= 4096;
		again.csum_offset = 0;
		bad += bad_one(ctl, ULOOP_CTL_ATTACH, &again, EINVAL, "attach without its checksums");
		again.csum_offset = good.csum_offset;
		again.cache_fd = S.img;
		bad += bad_one(ctl, ULOOP_CTL_ATTACH, &again, EINVAL, "attach other cache");
		rm.index = di.index;
		rm.__pad = 0;
		if (ioctl(ctl, ULOOP_CTL_REMOVE, &rm)) {
			bad++;
			printf("WRONG remove: %s\n", ename(errno));
		}
	}
	printf("badioctl: %d wrong\n", bad);
	return bad ? 1 : 0;
}

/* A miss whose daemon goes away: EIO after the hold time; late completion. */
static int cmd_late(void)
{
	struct uloop_dev_info di;
	struct uloop_miss m;
	struct uloop_completion c;
	struct uloop_complete r;
	struct uloop_dev_remove rm;
	char dev[32];
	int ctl = ctl_open(), fd, st, sess2;
	pid_t pid;

	S.shift = 12;
	info_init(&di, S.cache, NULL, 0);
	di.hold_timeout_ms = 300;
	if (ioctl(ctl, ULOOP_CTL_ADD, &di))
		die("ULOOP_CTL_ADD");
	snprintf(dev, sizeof(dev), "/dev/uloop%d", di.index);
	pid = fork();
	if (!pid) {
		close(di.session_fd);	/* or the session outlives the parent's close */
		void *p;

		fd = open(dev, O_RDONLY | O_DIRECT);
		if (fd < 0 || posix_memalign(&p, 4096, 4096))
			_exit(3);
		_exit(pread(fd, p, 4096, 8192) < 0 && errno == EIO ? 0 : 1);
	}
	{
		struct pollfd p = { .fd = di.session_fd, .events = POLLIN };

		if (poll(&p, 1, 10000) != 1 ||
		    read(di.session_fd, &m, sizeof(m)) != sizeof(m))
			die("read miss");
	}
	close(di.session_fd);	/* the daemon is gone; the miss is held */
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "uloopd-test: held read did not fail with EIO\n");
		return 1;
	}
	printf("late: read failed with EIO after the hold time\n");
	di.index = di.index;
	if (ioctl(ctl, ULOOP_CTL_ATTACH, &di))
		die("ULOOP_CTL_ATTACH");
	sess2 = di.session_fd;
	memset(&c, 0, sizeof(c));
	c.tag = m.tag;
	c.offset = m.offset;
	c.length = m.length;
	if (complete(sess2, &c, 1, &r))
		die("COMPLETE");
	if (c.status != -ESTALE || r.rejected != 1) {
		fprintf(stderr, "uloopd-test: late completion: status %d\n", c.status);
		return 1;
	}
	printf("late: completion rejected with ESTALE\n");
	close(sess2);
	rm.index = di.index;
	memset(&rm, 0, sizeof(rm));
	rm.index = di.index;
	if (ioctl(ctl, ULOOP_CTL_REMOVE, &rm))
		die("ULOOP_CTL_REMOVE");
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static int cmd_verify(const char *dev, const char *img, int secs, size_t bs)
{
	int fd = open(dev, O_RDONLY | O_DIRECT), ifd = open(img, O_RDONLY);
	uint64_t size, end = now_ms() + secs * 1000ULL, n = 0, seed = getpid();
	struct stat st;
	char *a, *b;

	if (fd < 0 || ifd < 0 || ioctl(fd, BLKGETSIZE64, &size) || fstat(ifd, &st))
		die(dev);
	if (posix_memalign((void **)&a, 4096, bs) || !(b = calloc(1, bs)))
		die("malloc");
	while (now_ms() < end || !n) {
		uint64_t off;
		ssize_t got, want, have;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		off = ((seed >> 20) % (size / 512)) * 512;
		want = size - off < bs ? size - off : bs;
		got = pread(fd, a, want, off);
		if (got != want) {
			fprintf(stderr, "verify: %s at %" PRIu64 ": %zd: %s\n", dev, off,
				got, strerror(errno));
			return 1;
		}
		/* Past the image: zeros. */
		have = pread(ifd, b, want, off);
		if (have < 0)
			die(img);
		memset(b + have, 0, want - have);
		if (memcmp(a, b, want)) {
			fprintf(stderr, "verify: %s at %" PRIu64 ": data differs\n", dev, off);
			return 1;
		}
		n++;
	}
	printf("verify: %" PRIu64 " reads ok\n", n);
	return 0;
}

/* Add, read through a child, detach, attach, read, remove: N rounds. */
static int cmd_churn(int rounds)
{
	int ctl = ctl_open(), r, held = 0, sync[2];
	char dev[32], buf[65536];

	S.shift = 12;
	for (r = 0; r < rounds; r++) {
		struct uloop_dev_info di;
		struct uloop_dev_remove rm = { 0 };
		int fd, pass, st;
		pid_t pid;

		info_init(&di, S.cache, NULL, 0);
		di.hold_timeout_ms = 100;
		if (ioctl(ctl, ULOOP_CTL_ADD, &di))
			die("ULOOP_CTL_ADD");
		snprintf(dev, sizeof(dev), "/dev/uloop%d", di.index);
		for (pass = 0; pass < 2; pass++) {
			uint64_t off = ((uint64_t)(r * 7919 + pass * 104729) % (S.size / 65536)) * 65536;

			pid = fork();
			if (!pid) {
				close(di.session_fd);
				fd = open(dev, O_RDONLY);
				_exit(fd < 0 || pread(fd, buf, sizeof(buf), off) != sizeof(buf));
			}
			/* serve until the child is done */
			for (;;) {
				struct pollfd p = { .fd = di.session_fd, .events = POLLIN };
				struct uloop_miss m[8];
				ssize_t got;

				if (waitpid(pid, &st, WNOHANG) == pid)
					break;
				if (poll(&p, 1, 10) <= 0)
					continue;
				got = read(di.session_fd, m, sizeof(m));
				if (got <= 0)
					continue;
				serve_misses(di.session_fd, m, got / (ssize_t)sizeof(m[0]));
			}
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "churn: round %d pass %d: read failed\n", r, pass);
				return 1;
			}
			/* detach, then attach a new session */
			close(di.session_fd);
			di.index = di.index;
			if (ioctl(ctl, ULOOP_CTL_ATTACH, &di))
				die("ULOOP_CTL_ATTACH");
		}
		/*
		 * REMOVE with misses in flight: a reader starts readahead of
		 * blocks nobody fetched and closes the device; its last close
		 * waits for those reads.  REMOVE meanwhile is EBUSY (never a
		 * hang, never the reader's misses failed under it); then the
		 * misses are served (even rounds) or held by a closed session
		 * until the hold time fails them (odd rounds), the close
		 * returns and REMOVE works.
		 */
		if (pipe(sync))
			die("pipe");
		pid = fork();
		if (!pid) {
			uint64_t off = ((uint64_t)(r * 104729 + 1) % (S.size / 524288)) * 524288;

			close(di.session_fd);
			close(sync[0]);
			fd = open(dev, O_RDONLY);
			if (fd < 0 || readahead(fd, off, 524288))
				_exit(1);
			close(sync[1]);		/* the parent: "closing now" */
			_exit(close(fd) != 0);
		}
		close(sync[1]);
		{
			struct pollfd p = { .fd = di.session_fd, .events = POLLIN };
			struct uloop_miss m[64];
			ssize_t got = 0;
			char ch;
			int e;

			if (poll(&p, 1, 5000) == 1)
				got = read(di.session_fd, m, sizeof(m));
			if (got <= 0) {
				fprintf(stderr, "churn: round %d: no readahead miss\n", r);
				return 1;
			}
			/* until the reader is in its last close, waiting for them */
			if (read(sync[0], &ch, 1) < 0)
				die("read pipe");
			close(sync[0]);
			usleep(20000);
			rm.index = di.index;
			e = ioctl(ctl, ULOOP_CTL_REMOVE, &rm) ? errno : 0;
			if (e != EBUSY) {
				fprintf(stderr, "churn: round %d: REMOVE with misses in flight: %s\n",
					r, ename(e));
				return 1;
			}
			held++;
			if (r & 1) {
				close(di.session_fd);
				di.session_fd = -1;
			} else {
				serve_misses(di.session_fd, m, got / (ssize_t)sizeof(m[0]));
			}
			/* serve what else the readahead asked for until it is done */
			while (waitpid(pid, &st, WNOHANG) != pid) {
				p.fd = di.session_fd;
				if (di.session_fd < 0 || poll(&p, 1, 10) <= 0) {
					usleep(10000);
					continue;
				}
				got = read(di.session_fd, m, sizeof(m));
				if (got <= 0)
					continue;
				serve_misses(di.session_fd, m, got / (ssize_t)sizeof(m[0]));
			}
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "churn: round %d: readahead reader failed\n", r);
				return 1;
			}
		}
		if (di.session_fd >= 0)
			close(di.session_fd);
		rm.index = di.index;
		if (ioctl(ctl, ULOOP_CTL_REMOVE, &rm))
			die("ULOOP_CTL_REMOVE");
	}
	printf("churn: %d rounds ok, %d removes refused with misses in flight\n", rounds, held);
	return 0;
}

/*
 * ADD and REMOVE in parallel: two processes with index -1, one with index
 * 40 while another opens and reads /dev/uloop40 over and over, one with
 * index 0 (which the -1 ones take too: EEXIST is its only allowed
 * failure).  REMOVE is retried while EBUSY.  Any other failure, an open
 * failing otherwise than ENOENT/ENXIO, or a read of an open device failing
 * is an error; dmesg is the caller's to check.
 */
static int race_remove(int ctl, int index)
{
	struct uloop_dev_remove rm = { .index = index };
	int tries;

	for (tries = 0; tries < 100000; tries++) {
		if (!ioctl(ctl, ULOOP_CTL_REMOVE, &rm))
			return 0;
		if (errno != EBUSY)
			return errno;
		usleep(100);
	}
	return EBUSY;
}

static int cmd_race(int rounds)
{
	uint64_t nb = (S.size + 4095) >> 12, *bm;
	size_t bmlen = (nb + 63) / 64 * 8;
	const int idx[4] = { -1, -1, 40, 0 };
	volatile int *done, *opens;
	pid_t pids[5];
	int p, st, bad = 0;

	S.shift = 12;
	bm = malloc(bmlen);
	done = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!bm || done == MAP_FAILED)
		die("alloc");
	memset(bm, 0xff, bmlen);
	*done = 0;
	opens = done + 1;
	*opens = 0;
	for (p = 0; p < 4; p++) {
		pids[p] = fork();
		if (pids[p])
			continue;
		{
			int ctl = ctl_open(), r, e, eexist = 0, fails = 0;

			for (r = 0; r < rounds; r++) {
				struct uloop_dev_info di;

				info_init(&di, S.cache, bm, bmlen);
				di.index = idx[p];
				if (ioctl(ctl, ULOOP_CTL_ADD, &di)) {
					e = errno;
					if (idx[p] == 0 && e == EEXIST) {
						eexist++;
						continue;
					}
					fprintf(stderr, "race %d: ADD index %d: %s\n", p, idx[p], ename(e));
					fails++;
					continue;
				}
				close(di.session_fd);
				if (idx[p] == 40) {	/* let the opener in: REMOVE races it */
					int o = *opens, t;

					for (t = 0; t < 100 && *opens == o; t++)
						usleep(100);
				}
				e = race_remove(ctl, di.index);
				if (e) {
					fprintf(stderr, "race %d: REMOVE %d: %s\n", p, di.index, ename(e));
					fails++;
				}
			}
			printf("race %d (index %d): %d rounds, %d EEXIST, %d failed\n",
			       p, idx[p], rounds, eexist, fails);
			if (idx[p] == 40)
				*done = 1;
			_exit(fails != 0);
		}
	}
	pids[4] = fork();
	if (!pids[4]) {	/* the opener of uloop40 */
		void *buf;
		int opened = 0, fails = 0;

		if (posix_memalign(&buf, 4096, 4096))
			_exit(1);
		while (!*done) {
			int fd = open("/dev/uloop40", O_RDONLY | O_DIRECT);

			if (fd < 0) {
				if (errno != ENOENT && errno != ENXIO) {
					fprintf(stderr, "race opener: open: %s\n", ename(errno));
					fails++;
				}
				continue;
			}
			opened++;
			(*opens)++;
			if (pread(fd, buf, 4096, 0) != 4096) {
				fprintf(stderr, "race opener: read of an open device: %s\n",
					ename(errno));
				fails++;
			}
			close(fd);
		}
		printf("race opener: %d opens, %d failed\n", opened, fails);
		_exit(fails != 0);
	}
	for (p = 0; p < 5; p++)
		if (waitpid(pids[p], &st, 0) != pids[p] || !WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	printf(bad ? "race: FAILED\n" : "race: clean\n");
	return bad != 0;
}

static int cmd_nonroot(int index)
{
	struct uloop_dev_status st = { .index = index };
	char dev[32];
	int ctl = ctl_open(), bad = 0, fd;

	if (setgid(65534) || setuid(65534))
		die("setuid");
	fd = open(CTL, O_RDWR);
	bad += fd >= 0 || errno != EACCES;
	printf("nonroot open control: %s\n", fd >= 0 ? "OPENED" : ename(errno));
	bad += ioctl(ctl, ULOOP_CTL_INFO, &st) == 0 || errno != EPERM;
	printf("nonroot ioctl on root's fd: %s\n", ename(errno));
	snprintf(dev, sizeof(dev), "/dev/uloop%d", index);
	fd = open(dev, O_RDONLY);
	bad += fd >= 0 || errno != EACCES;
	printf("nonroot open %s: %s\n", dev, fd >= 0 ? "OPENED" : ename(errno));
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "serve") && argc >= 4)
		return cmd_serve(argc - 2, argv + 2);
	if (!strcmp(c, "remove") && argc == 3)
		return cmd_remove(atoi(argv[2]));
	if (!strcmp(c, "info") && argc == 3)
		return cmd_info(atoi(argv[2]));
	if (!strcmp(c, "badioctl") && argc == 4)
		return open_files(argv[2], argv[3]), cmd_badioctl();
	if (!strcmp(c, "late") && argc == 4)
		return open_files(argv[2], argv[3]), cmd_late();
	if (!strcmp(c, "verify") && argc >= 5)
		return cmd_verify(argv[2], argv[3], atoi(argv[4]),
				  argc > 5 ? strtoul(argv[5], NULL, 0) : 65536);
	if (!strcmp(c, "churn") && argc == 5)
		return open_files(argv[2], argv[3]), cmd_churn(atoi(argv[4]));
	if (!strcmp(c, "race") && argc == 5)
		return open_files(argv[2], argv[3]), cmd_race(atoi(argv[4]));
	if (!strcmp(c, "loop-dio") && argc == 3) {
		int fd = open(argv[2], O_RDONLY);

		if (fd < 0 || ioctl(fd, LOOP_SET_DIRECT_IO, 1UL))
			die(argv[2]);
		return 0;
	}
	if (!strcmp(c, "nonroot") && argc == 3)
		return cmd_nonroot(atoi(argv[2]));
	fprintf(stderr, "usage: see the comment atop uloopd-test.c\n");
	return 2;
}
