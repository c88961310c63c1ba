// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ioctl-fuzz.c - a seeded random fuzzer of uloop.ko's userspace interface,
 * static so it runs in a busybox guest (tests/vm/test-vm-kmod-fuzz.sh).
 *
 *   ioctl-fuzz DIR [--seed S] [--calls N] [--procs P] [--readers R]
 *
 * Design.  One supervisor forks R readers and then P fuzzers, and cleans up
 * after them:
 *
 *  - a fuzzer plays control tool and forged daemon at once: ADD, ATTACH,
 *    REMOVE and INFO with plausible arguments (a real cache, a geometry
 *    that fits it, a bitmap of the right length), with one field or more
 *    spoilt, with the argument struct at NULL, unmapped, kernel or
 *    non-canonical addresses, read-only memory (the driver's write-back
 *    fails after the work is done: ADD must unwind) or straddling into an
 *    unmapped page; wrong fds for the cache (pipe, directory, char device,
 *    write-only, O_PATH, closed, a session); unknown ioctl numbers on every
 *    kind of fd; it reads misses from its sessions (sizes too small, bad
 *    buffers) and completes them right, wrongly and late: unknown tags,
 *    duplicates in and across batches, wrong lengths and offsets, bad
 *    results and flags, ULOOP_C_DATA from bad memory, batches whose count
 *    runs past their array; SET/CLEAR_PRESENT with ranges that overflow;
 *    sessions closed with misses handed out, and used after REMOVE;
 *    rmmod while devices exist (refused); the control and session fds in
 *    a child without CAP_SYS_ADMIN (control ioctls EPERM, node EACCES);
 *  - a reader opens, reads (buffered and O_DIRECT), holds, closes the
 *    block devices, asks for readahead, maps them, issues the block layer's
 *    ioctls and reads their sysfs counters, all at random, meanwhile;
 *  - at the end the supervisor attaches to every device left (with the
 *    cache pool: ATTACH tells which file is the device's), fails what is
 *    still waiting so the readers can finish, and REMOVEs every device:
 *    each REMOVE must work once no reader is left.
 *
 * Every call's result is checked against what the interface promises
 * (uloop.h): which errnos an ioctl may return, and with one fuzzer (P=1)
 * exact outcomes: a valid ADD on a free index works, a completion of a
 * handed-out miss is applied, one of an unknown tag is -ENOENT, a duplicate
 * -ESTALE, a malformed one -EINVAL; after every failed ioctl that named a
 * device, ULOOP_CTL_INFO must show it unchanged (geometry, flags, hold
 * time, session, and the present count, which the fuzzer models bit by
 * bit).  A broken promise prints the seed and the call number and ends the
 * run with status 1.  Kernel-side faults (oops, WARN, use after free under
 * slub_debug) are for the test to find in dmesg; leaks likewise.
 *
 * Replay: the same seed gives each process the same sequence of choices;
 * which reads of a reader meet which state of a device is up to the
 * scheduler, as in any fuzzer of concurrent code.
 *
 * The fuzzer never reads a uloop block device itself and never closes
 * one: a read may wait for a miss only it would serve, and a last close
 * waits for the device's readahead.  Session reads block only after poll()
 * said a miss is there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/blkpg.h>
#include <linux/fs.h>
#include <linux/uloop.h>

#define CTL "/dev/" ULOOP_CONTROL_NAME
#define NIDX 16			/* indices fuzzed and read: 0..NIDX-1 */
#define NSCAN 64		/* indices the cleanup looks at */
#define BYSTANDER 30		/* the test's well-behaved device */
#define MAXDEV 12		/* live devices a fuzzer keeps at most */
#define MAXMISS 512		/* handed-out misses remembered per device */
#define MAXSESS 24
#define MODEL_BITS 65536	/* present bits modelled up to this many blocks */
#define NPOOL 5
#define MAXPROC 8

/* ---- randomness: splitmix64, one stream per process ---- */

static uint64_t rs;

static uint64_t rnd(void)
{
	uint64_t z = (rs += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int chance(int pct)
{
	return (int)below(100) < pct;
}

/* ---- shared state: counters every process adds to, the stop flag ---- */

struct stats {
	uint64_t calls;		/* ioctls issued */
	uint64_t other;		/* read, poll, open, close, mmap... on our fds */
	uint64_t add_ok, add_fail, attach_ok, remove_ok, info_ok;
	uint64_t applied, rejected, misses_read;
	uint64_t reads_ok, reads_err, opens_ok;
	uint64_t violations;
};

static struct shared {
	volatile int stop;
	struct stats st[MAXPROC * 2 + 1];
} *sh;
static struct stats *me;
static int single;		/* one fuzzer: exact oracles */
static uint64_t seed;
static int who;

#define VIOLATION(...) violation(__LINE__, __VA_ARGS__)

static void __attribute__((format(printf, 2, 3))) violation(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "VIOLATION seed=%" PRIu64 " proc=%d call=%" PRIu64 " line=%d: ",
		seed, who, me->calls, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	me->violations++;
	exit(1);
}

/* Every ioctl goes through here: counted; returns 0 or the errno. */
static int xioctl(int fd, unsigned long req, void *arg)
{
	me->calls++;
	return ioctl(fd, req, arg) < 0 ? errno : 0;
}

static int in(int e, const int *set, int n)
{
	while (n--)
		if (set[n] == e)
			return 1;
	return 0;
}

#define ALLOWED(e, what, ...) do {					\
	static const int _s[] = { __VA_ARGS__ };			\
	if (!in(e, _s, sizeof(_s) / sizeof(_s[0])))			\
		VIOLATION("%s: unexpected %s", what, strerror(e));	\
} while (0)

/* ---- memory: where argument structs are put ---- */

static long pg;
static char *ro_page;		/* PROT_READ */
static char *edge;		/* a mapped page followed by an inaccessible one */
static char *gone;		/* an inaccessible page (PROT_NONE) */

enum place { P_OK, P_EDGE, P_NULL, P_GONE, P_KERNEL, P_NONCANON, P_RO };

/*
 * Where the @sz-byte struct @obj is passed: itself mostly, else a bad
 * address.  For P_EDGE and P_RO a copy is put there.  copyback() reads what
 * the kernel wrote back.
 */
static void *place(void *obj, size_t sz, enum place *how, int bad_pct)
{
	*how = chance(bad_pct) ? (enum place)(1 + below(6)) : P_OK;
	switch (*how) {
	case P_OK:
		return obj;
	case P_EDGE: {
		char *p = edge + pg - sz / 2 - below(sz / 2);

		memcpy(p, obj, edge + pg - p);
		return p;
	}
	case P_NULL:
		return NULL;
	case P_GONE:
		return gone + below(pg);
	case P_KERNEL:
		return (void *)(0xffff888000000000ULL + below(1 << 30));
	case P_NONCANON:
		return (void *)0x8000000000001000ULL;
	case P_RO:
		mprotect(ro_page, pg, PROT_READ | PROT_WRITE);
		memcpy(ro_page, obj, sz);
		mprotect(ro_page, pg, PROT_READ);
		return ro_page;
	}
	return obj;
}

/* An address for user data of @len bytes (bitmap, entries, C_DATA). */
static uint64_t bad_addr(size_t len)
{
	switch (below(5)) {
	case 0: return 0;
	case 1: return (uintptr_t)(gone + below(pg));
	case 2: return (uintptr_t)(edge + pg - (len > 1 ? 1 + below(len - 1) : 0));
	case 3: return 0xffffffff81000000ULL;
	default: return 0x8000000000000000ULL + below(1 << 20);
	}
}

/* An address where no byte is mapped. */
static uint64_t unmapped_addr(void)
{
	switch (below(4)) {
	case 0: return 0;
	case 1: return (uintptr_t)(gone + below(pg));
	case 2: return 0xffffffff81000000ULL;
	default: return 0x8000000000000000ULL + below(1 << 20);
	}
}

/* ---- the cache pool: every file a device may be made on ---- */

static struct cache {
	char path[256];
	int fd;
	uint64_t size;
} pool[NPOOL];
static int npool;
static int pipefd[2], nullfd, dirfd_, wronly, opath;

static uint64_t fsize(int fd)
{
	struct stat st;
	uint64_t sz = 0;

	if (fstat(fd, &st))
		return 0;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &sz))
			return 0;
		return sz;
	}
	return st.st_size;
}

static void pool_setup(const char *dir)
{
	static const struct { const char *name; uint64_t size; } f[] = {
		{ "c-16m", 16 << 20 }, { "c-1m", 1 << 20 }, { "c-64k", 64 << 10 },
		{ "c-sparse", 64ULL << 30 }, { "lodev", 0 },
	};
	char buf[65536];
	unsigned int i, k;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		struct cache *c = &pool[npool];

		snprintf(c->path, sizeof(c->path), "%s/%s", dir, f[i].name);
		if (f[i].size) {
			int w = open(c->path, O_RDWR | O_CREAT | O_TRUNC, 0600);

			if (w < 0 || ftruncate(w, f[i].size)) {
				perror(c->path);
				exit(2);
			}
			/* Some data in the first MiB: hits read something. */
			for (k = 0; k < 16 && (uint64_t)(k + 1) * sizeof(buf) <= f[i].size; k++) {
				for (size_t j = 0; j < sizeof(buf); j += 8)
					*(uint64_t *)(buf + j) = rnd();
				if (pwrite(w, buf, sizeof(buf), k * sizeof(buf)) < 0)
					perror("pwrite");
			}
			close(w);
		}
		/* O_RDWR: the forged daemon writes blocks before completing. */
		c->fd = open(c->path, O_RDWR | O_CLOEXEC);
		if (c->fd < 0) {
			if (!f[i].size)
				continue;	/* no loop device: files only */
			perror(c->path);
			exit(2);
		}
		c->size = fsize(c->fd);
		npool++;
	}
	if (pipe(pipefd) || (nullfd = open("/dev/null", O_RDWR)) < 0 ||
	    (dirfd_ = open(dir, O_RDONLY | O_DIRECTORY)) < 0 ||
	    (wronly = open(pool[1].path, O_WRONLY)) < 0 ||
	    (opath = open(pool[0].path, O_PATH)) < 0) {
		perror("fds");
		exit(2);
	}
}

/* ---- the model of the devices a fuzzer made ---- */

struct miss {
	uint64_t tag, off;
	uint32_t len, flags;
};

struct dev {
	int used;
	int index;
	int cache;		/* pool index */
	uint64_t data_offset, image_size, csum_offset, nblocks, flags;
	uint32_t shift, hold;
	int sess;		/* our live session fd, or -1 */
	int bits_known;		/* model[] is exact */
	unsigned char *model;	/* present bits (nblocks <= MODEL_BITS) */
	struct miss del[MAXMISS];	/* handed out to us, not completed */
	int ndel;
	struct miss old[64];	/* completed, or handed out to a closed session */
	int nold;
	uint32_t max_gen;	/* newest generation seen in its misses */
};

static struct dev devs[MAXDEV];
static int ctl;
static int stale[MAXSESS], nstale;	/* session fds of removed devices */
static char *data_buf;		/* 1 MiB for ULOOP_C_DATA */

static struct dev *dev_by_index(int index)
{
	int i;

	for (i = 0; i < MAXDEV; i++)
		if (devs[i].used && devs[i].index == index)
			return &devs[i];
	return NULL;
}

static struct dev *pick_dev(int need_sess)
{
	int i, n = 0, k;

	for (i = 0; i < MAXDEV; i++)
		n += devs[i].used && (need_sess < 0 || (devs[i].sess >= 0) == need_sess);
	if (!n)
		return NULL;
	k = below(n);
	for (i = 0; i < MAXDEV; i++)
		if (devs[i].used && (need_sess < 0 || (devs[i].sess >= 0) == need_sess) && !k--)
			return &devs[i];
	return NULL;
}

static int ndevs(void)
{
	int i, n = 0;

	for (i = 0; i < MAXDEV; i++)
		n += devs[i].used;
	return n;
}

static void model_set(struct dev *d, uint64_t first, uint64_t count, int v)
{
	uint64_t i;

	if (!d->model)
		return;
	for (i = first; i < first + count; i++)
		if (v)
			d->model[i / 8] |= 1 << (i % 8);
		else
			d->model[i / 8] &= ~(1 << (i % 8));
}

static uint64_t model_count(struct dev *d)
{
	uint64_t i, n = 0;

	for (i = 0; i < d->nblocks; i++)
		n += d->model[i / 8] >> (i % 8) & 1;
	return n;
}

static void remember_old(struct dev *d, const struct miss *m)
{
	d->old[d->nold++ % 64] = *m;
	if (d->nold >= 128)
		d->nold = 64;
}

static void stale_push(int fd)
{
	if (nstale == MAXSESS) {
		close(stale[0]);
		memmove(stale, stale + 1, sizeof(int) * (MAXSESS - 1));
		nstale--;
	}
	stale[nstale++] = fd;
}

static void dev_forget(struct dev *d)
{
	if (d->sess >= 0)
		stale_push(d->sess);
	free(d->model);
	memset(d, 0, sizeof(*d));
}

/*
 * ULOOP_CTL_INFO of a modelled device after a failed ioctl named it: the
 * failure must have changed nothing (K4: validate, then commit).
 */
static void check_state(struct dev *d, const char *after)
{
	struct uloop_dev_status st;
	int e;

	if (!single || !d || !d->used)
		return;
	memset(&st, 0, sizeof(st));
	st.index = d->index;
	e = xioctl(ctl, ULOOP_CTL_INFO, &st);
	if (e)
		VIOLATION("INFO of uloop%d after %s: %s", d->index, after, strerror(e));
	if (st.data_offset != d->data_offset || st.image_size != d->image_size ||
	    st.block_shift != d->shift || st.csum_offset != d->csum_offset ||
	    st.blocks != d->nblocks || st.flags != d->flags ||
	    st.hold_timeout_ms != d->hold ||
	    !!(st.state & ULOOP_STATE_SESSION) != (d->sess >= 0))
		VIOLATION("uloop%d changed by a failed %s: flags %llx/%llx hold %u/%u state %u",
			  d->index, after, (unsigned long long)st.flags,
			  (unsigned long long)d->flags, st.hold_timeout_ms, d->hold, st.state);
	/* With checksums a reader's hit may clear bits: only then unknown. */
	if (d->model && d->bits_known && !d->csum_offset && st.present != model_count(d))
		VIOLATION("uloop%d present %llu, model %llu, after %s", d->index,
			  (unsigned long long)st.present,
			  (unsigned long long)model_count(d), after);
	me->info_ok++;
}

/* ---- plausible arguments ---- */

static int pick_cache(void)
{
	return below(npool);
}

/* A geometry that fits pool[c], mostly small so bitmaps stay small. */
static void plausible_info(struct uloop_dev_info *di, int c)
{
	uint64_t size = pool[c].size, room, bs, cs;

	memset(di, 0, sizeof(*di));
	di->index = chance(50) ? -1 : (int)below(NIDX);
	di->cache_fd = pool[c].fd;
	di->block_shift = 12 + below(9);
	bs = 1ULL << di->block_shift;
	di->data_offset = chance(50) ? 0 : below(size / 2 / 512) * 512;
	room = size - di->data_offset;
	if (chance(70))
		di->image_size = 1 + below(room < 64 * bs ? room : 64 * bs);
	else
		di->image_size = 1 + below(room);
	if (chance(10))
		di->image_size = room;
	di->flags = chance(30) ? ULOOP_F_BUFFERED : 0;
	switch (below(10)) {
	case 0: di->hold_timeout_ms = 0; break;
	case 1: case 2: di->hold_timeout_ms = 10; break;
	case 3: case 4: case 5: di->hold_timeout_ms = 200; break;
	case 6: di->hold_timeout_ms = ULOOP_HOLD_FOREVER; break;
	default: di->hold_timeout_ms = 2000; break;
	}
	/* Checksums after the data, when they fit. */
	cs = (di->image_size + 4095) / 4096 * 4;
	if (chance(25) && di->data_offset + di->image_size + cs + 4 <= size)
		di->csum_offset = (di->data_offset + di->image_size + 3) / 4 * 4;
	else if (chance(10) && di->data_offset >= cs)
		di->csum_offset = 0 + below((di->data_offset - cs) / 4 + 1) * 4;
	if (!di->csum_offset && chance(3))
		di->csum_offset = 0;
}

static uint64_t nblocks_of(const struct uloop_dev_info *di)
{
	return (di->image_size + (1ULL << di->block_shift) - 1) >> di->block_shift;
}

/* Spoil one field of an argument (or several). */
static void spoil_info(struct uloop_dev_info *di)
{
	int n = 1 + below(3);

	while (n--) {
		switch (below(16)) {
		case 0: di->flags = rnd(); break;
		case 1: di->flags = 1ULL << below(64); break;
		case 2: di->reserved[below(3)] = rnd(); break;
		case 3: di->__pad = 1 + below(UINT32_MAX); break;
		case 4: di->block_shift = chance(50) ? below(64) : rnd(); break;
		case 5: di->image_size = chance(30) ? 0 : chance(50) ? ~0ULL - below(4096) : rnd(); break;
		case 6: di->data_offset = chance(30) ? 1 + below(511) : chance(50) ? ~0ULL - below(1 << 20) : rnd(); break;
		case 7: di->bitmap_len = chance(50) ? rnd() : below(64); break;
		case 8: di->bitmap_addr = bad_addr(di->bitmap_len); break;
		case 9: di->csum_offset = chance(50) ? rnd() : di->data_offset + below(di->image_size + 1); break;
		case 10: di->index = chance(50) ? (int)rnd() : chance(50) ? -2 : (1 << 20) - (int)below(2); break;
		case 11: di->session_fd = rnd(); break;	/* out only: ignored */
		case 12: di->hold_timeout_ms = rnd(); break;
		case 13: di->image_size = LLONG_MAX - below(1 << 20); di->data_offset = below(2) * 512; break;
		case 14: di->csum_offset = ~3ULL - 4 * below(4); break;
		default:
			switch (below(10)) {
			case 0: di->cache_fd = pipefd[below(2)]; break;
			case 1: di->cache_fd = nullfd; break;
			case 2: di->cache_fd = dirfd_; break;
			case 3: di->cache_fd = wronly; break;
			case 4: di->cache_fd = opath; break;
			case 5: di->cache_fd = -1 - below(3); break;
			case 6: di->cache_fd = 1000 + below(1000); break;
			case 7: di->cache_fd = ctl; break;
			case 8: di->cache_fd = nstale ? stale[below(nstale)] : INT_MAX; break;
			default: {
				struct dev *d = pick_dev(1);

				di->cache_fd = d ? d->sess : (int)rnd();
			}
			}
		}
	}
}

/* A bitmap for @nb blocks: right, too short, or at a bad address. */
static unsigned char *bitmap_for(struct uloop_dev_info *di, uint64_t nb, int *sane)
{
	size_t len = (nb + 7) / 8;
	unsigned char *bm;
	size_t i;

	*sane = 1;
	if (chance(40) || len > (1 << 22))
		return NULL;
	bm = malloc(len + 64);
	if (!bm)
		return NULL;
	for (i = 0; i < len + 64; i++)
		bm[i] = chance(50) ? rnd() : chance(50) ? 0xff : 0;
	di->bitmap_addr = (uintptr_t)bm;
	di->bitmap_len = len + (chance(20) ? below(64) : 0);
	if (chance(8)) {
		di->bitmap_len = len ? len - 1 : 0;
		*sane = 0;
	} else if (chance(8)) {
		di->bitmap_addr = bad_addr(len);
		*sane = 0;
	}
	return bm;
}

/* ---- control ioctls ---- */

static void op_add(void)
{
	struct uloop_dev_info di, *arg;
	unsigned char *bm;
	enum place how;
	int c = pick_cache(), sane, e, fresh = -1, spoilt = 0;
	struct dev *d, *slot = NULL;
	uint64_t nb;
	int i;

	for (i = 0; i < MAXDEV; i++)
		if (!devs[i].used) {
			slot = &devs[i];
			break;
		}
	plausible_info(&di, c);
	if (chance(30)) {
		/* A struct file of its own: a reference the driver must drop. */
		fresh = open(pool[c].path, O_RDONLY | O_CLOEXEC);
		me->other++;
		if (fresh >= 0)
			di.cache_fd = fresh;
	}
	nb = nblocks_of(&di);
	bm = bitmap_for(&di, nb, &sane);
	if (chance(35)) {
		spoil_info(&di);
		spoilt = 1;
	}
	if (!slot)
		di.index = chance(50) ? BYSTANDER : (int)below(NIDX);	/* taken */
	arg = place(&di, sizeof(di), &how, 12);
	e = xioctl(ctl, ULOOP_CTL_ADD, arg);
	if (fresh >= 0)
		close(fresh);
	ALLOWED(e, "ADD", 0, EINVAL, EFAULT, EBADF, EEXIST, ENOSPC, ENOMEM, EMFILE);
	if (e) {
		me->add_fail++;
		if (how == P_OK && !spoilt && sane && single && slot && e != ENOMEM &&
		    !(e == EEXIST && (dev_by_index(di.index) || di.index == BYSTANDER)))
			VIOLATION("valid ADD (cache %s, index %d, shift %u, offset %llu, size %llu, csum %llu) failed: %s",
				  pool[c].path, di.index, di.block_shift,
				  (unsigned long long)di.data_offset,
				  (unsigned long long)di.image_size,
				  (unsigned long long)di.csum_offset, strerror(e));
		if (how != P_OK && how != P_RO && e != EFAULT)
			VIOLATION("ADD from a bad address: %s", strerror(e));
		if (single && e == EEXIST && di.index >= 0) {
			/* Taken by a device we let go of: it must be there. */
			struct uloop_dev_status st = { .index = di.index };

			if (xioctl(ctl, ULOOP_CTL_INFO, &st))
				VIOLATION("ADD of uloop%d: EEXIST, but INFO finds none", di.index);
			spoilt = 1;
		}
		/* ADD failed late (write-back): nothing may be left. */
		if (single && how == P_RO && di.index >= 0 && !dev_by_index(di.index) &&
		    di.index != BYSTANDER && di.index < NIDX) {
			struct uloop_dev_status st = { .index = di.index };

			e = xioctl(ctl, ULOOP_CTL_INFO, &st);
			if (e != ENODEV)
				VIOLATION("failed ADD left uloop%d: INFO %s", di.index, strerror(e));
		}
		check_state(dev_by_index(di.index), "ADD");
		free(bm);
		return;
	}
	if (how != P_OK)
		VIOLATION("ADD with its struct at a bad address (%d) worked", how);
	me->add_ok++;
	d = slot;
	if (!d || di.index >= NSCAN) {
		/* Valid after all and made: remove at once. */
		struct uloop_dev_remove rm = { .index = di.index };

		close(di.session_fd);
		e = xioctl(ctl, ULOOP_CTL_REMOVE, &rm);
		ALLOWED(e, "REMOVE of an unmodelled device", 0, EBUSY, ENODEV);
		free(bm);
		return;
	}
	memset(d, 0, sizeof(*d));
	d->used = 1;
	d->index = di.index;
	d->cache = c;
	d->data_offset = di.data_offset;
	d->image_size = di.image_size;
	d->csum_offset = di.csum_offset;
	d->shift = di.block_shift;
	d->nblocks = nblocks_of(&di);
	d->flags = di.flags;
	d->hold = di.hold_timeout_ms;
	d->sess = di.session_fd;
	for (i = 0; i < npool; i++) {
		struct stat a, b;

		/* The cache may have been any pool file by a spoilt fd. */
		if (!fstat(di.cache_fd == fresh ? pool[c].fd : di.cache_fd, &a) &&
		    !fstat(pool[i].fd, &b) && a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
		    a.st_rdev == b.st_rdev)
			d->cache = i;
	}
	if (d->nblocks <= MODEL_BITS) {
		d->model = calloc(1, (d->nblocks + 7) / 8 + 1);
		d->bits_known = 1;
		if (d->model && di.bitmap_addr) {
			memcpy(d->model, (void *)(uintptr_t)di.bitmap_addr, (d->nblocks + 7) / 8);
			if (d->nblocks % 8)
				d->model[d->nblocks / 8] &= (1 << (d->nblocks % 8)) - 1;
		}
	}
	free(bm);
	if (single)
		check_state(d, "ADD (its own state)");
}

static void op_attach(void)
{
	struct uloop_dev_info di, *arg;
	struct dev *d = chance(80) ? pick_dev(0) : pick_dev(-1);
	unsigned char *bm;
	enum place how;
	int e, sane, spoilt = 0, fresh = -1, c;

	if (!d) {
		/* Nothing to attach to: a random index. */
		memset(&di, 0, sizeof(di));
		di.index = chance(50) ? BYSTANDER : (int)below(NIDX + 4) - 2;
		di.cache_fd = pool[0].fd;
		di.block_shift = 12;
		di.image_size = 4096;
		e = xioctl(ctl, ULOOP_CTL_ATTACH, &di);
		ALLOWED(e, "ATTACH", EINVAL, ENODEV, EBUSY);
		return;
	}
	c = chance(90) ? d->cache : pick_cache();
	memset(&di, 0, sizeof(di));
	di.index = d->index;
	di.cache_fd = pool[c].fd;
	if (chance(40)) {
		fresh = open(pool[c].path, O_RDONLY | O_CLOEXEC);
		me->other++;
		if (fresh >= 0)
			di.cache_fd = fresh;
	}
	di.data_offset = d->data_offset;
	di.image_size = d->image_size;
	di.block_shift = d->shift;
	di.csum_offset = d->csum_offset;
	di.flags = chance(30) ? ULOOP_F_BUFFERED : 0;
	di.hold_timeout_ms = chance(10) ? ULOOP_HOLD_FOREVER : below(3) * 100;
	bm = bitmap_for(&di, d->nblocks, &sane);
	if (chance(30)) {
		spoil_info(&di);
		spoilt = 1;
	}
	arg = place(&di, sizeof(di), &how, 10);
	e = xioctl(ctl, ULOOP_CTL_ATTACH, arg);
	if (fresh >= 0)
		close(fresh);
	ALLOWED(e, "ATTACH", 0, EINVAL, EFAULT, EBADF, EBUSY, ENODEV, ENOMEM, EMFILE);
	if (e) {
		if (single && how == P_OK && !spoilt && sane && d->sess < 0 && c == d->cache &&
		    e != ENOMEM)
			VIOLATION("valid ATTACH of uloop%d failed: %s", d->index, strerror(e));
		if (single && d->sess >= 0 && how == P_OK && !spoilt && sane && c == d->cache &&
		    e != EBUSY)
			VIOLATION("ATTACH of uloop%d with a session: %s", d->index, strerror(e));
		check_state(d, "ATTACH");
		free(bm);
		return;
	}
	if (how != P_OK)
		VIOLATION("ATTACH with its struct at a bad address (%d) worked", how);
	if (d->index != di.index) {
		/* A spoilt index named another device: ours, or not modelled. */
		d = dev_by_index(di.index);
		if (!d) {
			close(di.session_fd);
			free(bm);
			return;
		}
	}
	if (d->sess >= 0 && single)
		VIOLATION("ATTACH of uloop%d worked with a session attached", d->index);
	if (d->sess >= 0)
		stale_push(d->sess);
	me->attach_ok++;
	d->sess = di.session_fd;
	d->flags = di.flags;
	d->hold = di.hold_timeout_ms;
	if (d->model && di.bitmap_addr) {
		uint64_t i;

		for (i = 0; i < (d->nblocks + 7) / 8; i++)
			d->model[i] |= ((unsigned char *)(uintptr_t)di.bitmap_addr)[i];
		if (d->nblocks % 8)
			d->model[d->nblocks / 8] &= (1 << (d->nblocks % 8)) - 1;
	}
	free(bm);
	check_state(d, "ATTACH (its own state)");
}

static void op_remove(void)
{
	struct uloop_dev_remove rm, *arg;
	struct dev *d = chance(85) ? pick_dev(-1) : NULL;
	enum place how;
	int e, spoilt = 0;

	memset(&rm, 0, sizeof(rm));
	rm.index = d ? d->index : chance(30) ? BYSTANDER : (int)below(NIDX + 4) - 2;
	if (chance(10)) {
		spoilt = 1;
		if (chance(50))
			rm.__pad = 1 + below(100);
		else
			rm.reserved[below(2)] = rnd() | 1;
	}
	arg = place(&rm, sizeof(rm), &how, 8);
	e = xioctl(ctl, ULOOP_CTL_REMOVE, arg);
	ALLOWED(e, "REMOVE", 0, EINVAL, EFAULT, EBUSY, ENODEV);
	if (!e && rm.index == BYSTANDER)
		VIOLATION("REMOVE of the bystander uloop%d (open) worked", BYSTANDER);
	/* Read-only memory is fine: REMOVE writes nothing back. */
	if (!e && (spoilt || (how != P_OK && how != P_RO)))
		VIOLATION("REMOVE with a spoilt argument worked");
	if (e) {
		if (single && d && how == P_OK && !spoilt && e != EBUSY)
			VIOLATION("REMOVE of uloop%d: %s", d->index, strerror(e));
		check_state(d, "REMOVE");
		return;
	}
	me->remove_ok++;
	d = dev_by_index(rm.index);
	if (d)
		dev_forget(d);
	if (single) {
		struct uloop_dev_status st = { .index = rm.index };

		e = xioctl(ctl, ULOOP_CTL_INFO, &st);
		if (e != ENODEV)
			VIOLATION("uloop%d after REMOVE: INFO %s", rm.index, strerror(e));
	}
}

static void op_info(void)
{
	struct uloop_dev_status st, *arg;
	struct dev *d = chance(70) ? pick_dev(-1) : NULL;
	enum place how;
	int e, spoilt = 0;

	memset(&st, 0, sizeof(st));
	st.index = d ? d->index : chance(50) ? (int)below(NIDX + 20) - 2 :
		chance(50) ? INT_MIN : INT_MAX;
	if (chance(10)) {
		st.reserved[below(2)] = rnd() | 1;
		spoilt = 1;
	}
	if (chance(20))
		st.state = rnd(), st.hits = rnd(), st.present = rnd();	/* out fields */
	arg = place(&st, sizeof(st), &how, 10);
	e = xioctl(ctl, ULOOP_CTL_INFO, arg);
	ALLOWED(e, "INFO", 0, EINVAL, EFAULT, ENODEV);
	if (!e && (spoilt || how != P_OK))
		VIOLATION("INFO with a spoilt argument worked");
	if (single && d && !spoilt && how == P_OK && e)
		VIOLATION("INFO of uloop%d: %s", d->index, strerror(e));
	if (!e)
		me->info_ok++;
	if (single && d && !e)
		check_state(d, "INFO");
}

/* ---- the forged daemon ---- */

static void op_read_misses(void)
{
	struct dev *d = pick_dev(1);
	struct uloop_miss m[64];
	struct pollfd p;
	size_t len;
	ssize_t n;
	int i;

	if (!d)
		return;
	p.fd = d->sess;
	p.events = POLLIN;
	me->other++;
	if (poll(&p, 1, 0) < 0)
		VIOLATION("poll of a session: %s", strerror(errno));
	if (p.revents & (POLLHUP | POLLERR)) {
		if (single)
			VIOLATION("session of uloop%d hung up while attached", d->index);
		dev_forget(d);	/* another fuzzer removed it */
		return;
	}
	if (!(p.revents & POLLIN))
		return;
	switch (below(8)) {
	case 0: len = below(sizeof(m[0])); break;	/* too small: EINVAL */
	case 1: len = sizeof(m[0]); break;
	default: len = sizeof(m[0]) * (1 + below(64)) + below(sizeof(m[0])); break;
	}
	if (len > sizeof(m))
		len = sizeof(m);
	me->other++;
	if (chance(8)) {
		/* A bad buffer: the misses go back on the queue (EFAULT). */
		n = read(d->sess, (void *)(uintptr_t)unmapped_addr(), len);
		if (n >= 0 && len >= sizeof(m[0]))
			VIOLATION("read of misses into a bad buffer gave %zd", n);
		return;
	}
	n = read(d->sess, m, len);
	if (n < 0) {
		if (len < sizeof(m[0]) && errno == EINVAL)
			return;
		if (!single && errno == ENODEV) {
			dev_forget(d);
			return;
		}
		VIOLATION("read of misses (%zu bytes): %s", len, strerror(errno));
	}
	if (len < sizeof(m[0]) || n % sizeof(m[0]) || n == 0)
		VIOLATION("read of misses (%zu bytes) gave %zd", len, n);
	for (i = 0; i < n / (ssize_t)sizeof(m[0]); i++) {
		if (!m[i].length || m[i].offset >= d->image_size ||
		    m[i].length > d->image_size - m[i].offset || m[i].op != ULOOP_OP_READ ||
		    m[i].reserved || (m[i].tag & 0xffffffff) >= 128 || !(m[i].tag >> 32))
			VIOLATION("uloop%d: bad miss tag %llx offset %llu length %u", d->index,
				  (unsigned long long)m[i].tag,
				  (unsigned long long)m[i].offset, m[i].length);
		if ((uint32_t)(m[i].tag >> 32) - d->max_gen < 0x80000000U)
			d->max_gen = m[i].tag >> 32;
		if (d->ndel < MAXMISS) {
			d->del[d->ndel].tag = m[i].tag;
			d->del[d->ndel].off = m[i].offset;
			d->del[d->ndel].len = m[i].length;
			d->del[d->ndel].flags = m[i].flags;
			d->ndel++;
		} else if (single) {
			VIOLATION("more than %d misses handed out", MAXMISS);
		}
		me->misses_read++;
	}
}

enum kind { K_RIGHT, K_DATA, K_ERR, K_DUP, K_UNKNOWN, K_OLD, K_BADLEN, K_BADOFF,
	    K_RESERVED, K_FLAGS, K_RESULT, K_DATAFAULT, K_SLOT, K_NKINDS };

static void op_complete(void)
{
	struct dev *d = pick_dev(1);
	struct uloop_completion c[80], *ent;
	struct uloop_complete arg, *argp;
	enum kind kind[80];
	int taken[80];		/* index into d->del, or -1 */
	int src[80];		/* K_DUP: the entry copied */
	unsigned int n, i, j;
	enum place how;
	int e, spoilt = 0, whole = 1;

	if (!d)
		return;
	n = 1 + below(chance(80) ? 8 : 64);
	memset(c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		struct miss *m = d->ndel ? &d->del[below(d->ndel)] : NULL;
		enum kind k = below(100) < 45 ? K_RIGHT : (enum kind)below(K_NKINDS);

		taken[i] = -1;
		if (!m && (k == K_RIGHT || k == K_DATA || k == K_ERR || k == K_DUP ||
			   k == K_BADLEN || k == K_BADOFF || k == K_RESERVED || k == K_FLAGS ||
			   k == K_RESULT || k == K_DATAFAULT))
			k = K_UNKNOWN;
		/* A miss once per batch, unless duplicated on purpose. */
		if (m && k != K_DUP)
			for (j = 0; j < i; j++)
				if (taken[j] == m - d->del)
					k = K_DUP;
		if (k == K_DUP && !i)
			k = K_UNKNOWN;
		if ((k == K_OLD && !d->nold) || (k == K_SLOT && !d->max_gen))
			k = K_UNKNOWN;
		kind[i] = k;
		if (m) {
			c[i].tag = m->tag;
			c[i].offset = m->off;
			c[i].length = m->len;
		}
		switch (k) {
		case K_RIGHT:
			taken[i] = m - d->del;
			/* The daemon's fetch: some bytes into the cache, or none. */
			if (chance(30)) {
				uint64_t at = d->data_offset + m->off;
				uint32_t l = m->len > 65536 ? 65536 : m->len;

				me->other++;
				if (pwrite(pool[d->cache].fd, data_buf, l, at) < 0 &&
				    errno != EBADF && errno != ENOSPC)
					VIOLATION("pwrite cache: %s", strerror(errno));
			}
			break;
		case K_DATA:
			taken[i] = m - d->del;
			c[i].flags = ULOOP_C_DATA;
			c[i].data_addr = chance(20) ? (uintptr_t)ro_page : (uintptr_t)data_buf;
			if (c[i].data_addr == (uintptr_t)ro_page && m->len > (uint32_t)pg)
				c[i].data_addr = (uintptr_t)data_buf;
			break;
		case K_ERR:
			taken[i] = m - d->del;
			c[i].result = -(int)(1 + below(133));
			break;
		case K_DUP:
			src[i] = below(i);
			c[i] = c[src[i]];
			c[i].status = 0;
			break;
		case K_UNKNOWN:
			/* A generation never issued, or 0. */
			c[i].tag = (uint64_t)(chance(20) ? 0 : d->max_gen + 0x40000000U + below(1 << 20)) << 32 |
				below(chance(50) ? 128 : 1ULL << 32);
			if (!(c[i].tag >> 32))
				c[i].tag |= below(128);
			c[i].offset = rnd();
			c[i].length = rnd();
			break;
		case K_OLD: {
			struct miss *o = &d->old[below(d->nold < 64 ? d->nold : 64)];

			/* Handed out again to this session: not old then. */
			for (j = 0; j < (unsigned int)d->ndel; j++)
				if (d->del[j].tag == o->tag)
					break;
			if (j < (unsigned int)d->ndel) {
				kind[i] = K_UNKNOWN;
				c[i].tag = (uint64_t)(d->max_gen + 0x40000000U) << 32;
				break;
			}
			c[i].tag = o->tag;
			c[i].offset = o->off;
			c[i].length = o->len;
			break;
		}
		case K_BADLEN:
			c[i].length = chance(50) ? c[i].length + 1 + below(4096) : below(c[i].length);
			break;
		case K_BADOFF:
			c[i].offset += chance(50) ? 512 * (1 + below(64)) : 1 + rnd() % 511;
			break;
		case K_RESERVED:
			c[i].reserved = rnd() | 1;
			break;
		case K_FLAGS:
			c[i].flags = chance(50) ? 1U << (1 + below(31)) : ULOOP_C_DATA;
			if (c[i].flags == ULOOP_C_DATA)
				c[i].result = -5;	/* DATA with an error */
			break;
		case K_RESULT:
			c[i].result = chance(50) ? (int)(1 + below(INT_MAX)) : -4096 - (int)below(1 << 30);
			break;
		case K_DATAFAULT:
			taken[i] = m - d->del;
			c[i].flags = ULOOP_C_DATA;
			c[i].data_addr = bad_addr(m->len);
			break;
		case K_SLOT:
			/* An issued generation on a slot past the tag set. */
			c[i].tag = (uint64_t)d->max_gen << 32 | (128 + below(1ULL << 31));
			break;
		default:
			break;
		}
	}
	memset(&arg, 0, sizeof(arg));
	arg.entries = (uintptr_t)c;
	arg.count = n;
	if (chance(8)) {
		spoilt = 1;
		switch (below(5)) {
		case 0: arg.count = 0; break;
		case 1: arg.count = ULOOP_COMPLETE_MAX + 1 + below(1 << 20); break;
		case 2: arg.__pad = 1; break;
		case 3: arg.reserved[below(2)] = 1; break;
		default: arg.applied = rnd(); arg.rejected = rnd(); spoilt = 0; break;
		}
	}
	if (!spoilt && chance(8)) {
		/* The array at a bad place, or its tail running off the map. */
		whole = 0;
		if (chance(50)) {
			arg.entries = bad_addr(n * sizeof(c[0]));
		} else {
			ent = (struct uloop_completion *)(edge + pg) - (1 + below(n));
			memcpy(ent, c, (char *)(edge + pg) - (char *)ent);
			arg.entries = (uintptr_t)ent;
		}
	}
	argp = place(&arg, sizeof(arg), &how, 6);
	e = xioctl(d->sess, ULOOP_SESS_COMPLETE, argp);
	ALLOWED(e, "COMPLETE", 0, EINVAL, EFAULT, ENOMEM, ENODEV);
	if (e == ENODEV) {
		if (single)
			VIOLATION("COMPLETE on uloop%d's live session: ENODEV", d->index);
		dev_forget(d);	/* another fuzzer removed it */
		return;
	}
	if (e == EINVAL && !spoilt && how == P_OK)
		VIOLATION("COMPLETE of a sane batch: EINVAL");
	if (!e && (spoilt || how != P_OK))
		VIOLATION("COMPLETE with a spoilt argument worked");
	if (spoilt || (how != P_OK && how != P_RO && how != P_EDGE))
		return;		/* nothing applied */
	if (e || !whole || how != P_OK) {
		/*
		 * Some entries may have been applied, or none: which ones is
		 * not known (their statuses could not be written back).  Each
		 * is completed again, alone, with an error: applied now (0) or
		 * before (-ESTALE), nothing else.  Bits are no longer modelled.
		 */
		d->bits_known = 0;
		for (i = 0; i < n; i++)
			if (taken[i] >= 0 && d->del[taken[i]].tag) {
				struct miss *m = &d->del[taken[i]];
				struct uloop_completion one = {
					.tag = m->tag, .offset = m->off, .length = m->len,
					.result = -EIO,
				};
				struct uloop_complete a1 = { .entries = (uintptr_t)&one, .count = 1 };

				e = xioctl(d->sess, ULOOP_SESS_COMPLETE, &a1);
				if (single && (e || (one.status && one.status != -ESTALE)))
					VIOLATION("uloop%d: completing tag %llx again: %s, status %d",
						  d->index, (unsigned long long)m->tag, strerror(e),
						  one.status);
				remember_old(d, m);
				m->tag = 0;
			}
		goto compact;
	}
	if (arg.applied + arg.rejected != n)
		VIOLATION("COMPLETE: %u applied + %u rejected of %u", arg.applied, arg.rejected, n);
	for (i = 0; i < n; i++) {
		int want;

		ALLOWED(-c[i].status, "completion status", 0, ENOENT, ESTALE, EINVAL, EFAULT);
		switch (kind[i]) {
		case K_RIGHT: case K_DATA: case K_ERR: want = 0; break;
		case K_DATAFAULT: want = -EFAULT; break;
		case K_DUP: want = -ESTALE; break;
		case K_UNKNOWN: want = -ENOENT; break;
		case K_SLOT: want = -ESTALE; break;
		case K_OLD: want = c[i].status == -ENOENT ? -ENOENT : -ESTALE; break;
		default: want = -EINVAL; break;
		}
		/*
		 * A duplicate is judged as the entry it copies (the first of a
		 * chain of copies), except that once an entry before it took
		 * the miss (applied, or failed on its data) the lookup says
		 * -ESTALE; fields that are wrong whatever the tag (reserved,
		 * flags, result) are refused before any lookup.
		 */
		if (kind[i] == K_DUP) {
			unsigned int r = src[i];

			while (kind[r] == K_DUP)
				r = src[r];
			for (j = 0; j < i; j++)
				if (c[j].tag == c[i].tag &&
				    (!c[j].status || c[j].status == -EFAULT))
					break;
			if (kind[r] == K_RESERVED || kind[r] == K_FLAGS || kind[r] == K_RESULT)
				want = -EINVAL;
			else if (j == i)
				want = kind[r] == K_OLD ? c[i].status : c[r].status;
		}
		if (single && c[i].status != want)
			VIOLATION("uloop%d completion %u (kind %d, tag %llx): status %d, want %d",
				  d->index, i, kind[i], (unsigned long long)c[i].tag, c[i].status, want);
		if (c[i].status)
			me->rejected++;
		else
			me->applied++;
		if (!c[i].status && kind[i] == K_RIGHT) {
			struct miss *m = &d->del[taken[i]];
			uint64_t first = m->off >> d->shift;
			uint64_t last = (m->off + m->len - 1) >> d->shift;

			model_set(d, first, last - first + 1, 1);
		}
	}
	for (i = 0; i < n; i++)
		if (taken[i] >= 0 && d->del[taken[i]].tag && c[i].status != -EINVAL) {
			remember_old(d, &d->del[taken[i]]);
			d->del[taken[i]].tag = 0;
		}
compact:
	for (i = j = 0; i < (unsigned int)d->ndel; i++)
		if (d->del[i].tag)
			d->del[j++] = d->del[i];
	d->ndel = j;
	if (single && e)
		return;
	if (single && !chance(90))
		check_state(d, "COMPLETE");
}

static void op_present(void)
{
	struct dev *d = pick_dev(1);
	struct uloop_present p, *arg;
	enum place how;
	int set = chance(50), e, fd, ok = 1;

	memset(&p, 0, sizeof(p));
	if (!d || chance(10)) {
		/* A removed device's session, or none. */
		fd = nstale ? stale[below(nstale)] : ctl;
		p.first_block = 0;
		p.count = 1;
		e = xioctl(fd, set ? ULOOP_SESS_SET_PRESENT : ULOOP_SESS_CLEAR_PRESENT, &p);
		ALLOWED(e, "PRESENT on a dead session", ENODEV, EINVAL, ENOTTY);
		return;
	}
	fd = d->sess;
	p.first_block = below(d->nblocks);
	p.count = 1 + below(d->nblocks - p.first_block);
	switch (below(12)) {
	case 0: p.count = 0; ok = 0; break;
	case 1: p.first_block = d->nblocks + below(100); ok = 0; break;
	case 2: p.count = d->nblocks - p.first_block + 1 + below(100); ok = 0; break;
	case 3: p.first_block = ~0ULL - below(4); p.count = 2 + below(8); ok = 0; break;
	case 4: p.count = ~0ULL - below(4); ok = 0; break;
	case 5: p.reserved[below(2)] = rnd() | 1; ok = 0; break;
	case 6: p.first_block = 0; p.count = d->nblocks; break;
	default: break;
	}
	arg = place(&p, sizeof(p), &how, 8);
	e = xioctl(fd, set ? ULOOP_SESS_SET_PRESENT : ULOOP_SESS_CLEAR_PRESENT, arg);
	ALLOWED(e, "PRESENT", 0, EINVAL, EFAULT, ENODEV);
	if (single && how == P_RO && ok && e)
		VIOLATION("PRESENT from read-only memory: %s", strerror(e));
	if (how == P_RO)
		how = P_OK;
	if (single && how == P_OK && ok != !e)
		VIOLATION("PRESENT [%llu +%llu] of %llu blocks: %s",
			  (unsigned long long)p.first_block, (unsigned long long)p.count,
			  (unsigned long long)d->nblocks, strerror(e));
	if (!e)
		model_set(d, p.first_block, p.count, set);
	else
		check_state(d, "PRESENT");
}

/* The session closed: what it held goes back to the queue, tags kept. */
static void op_close_session(void)
{
	struct dev *d = pick_dev(1);
	int i;

	if (!d)
		return;
	me->other++;
	close(d->sess);
	d->sess = -1;
	for (i = 0; i < d->ndel; i++)
		remember_old(d, &d->del[i]);
	d->ndel = 0;
	if (single && chance(30))
		check_state(d, "close of the session");
}

/* Unknown ioctl numbers, and the known ones on the wrong fds. */
static void op_wrong(void)
{
	static const unsigned long known[] = {
		ULOOP_CTL_ADD, ULOOP_CTL_ATTACH, ULOOP_CTL_REMOVE, ULOOP_CTL_INFO,
		ULOOP_SESS_COMPLETE, ULOOP_SESS_SET_PRESENT, ULOOP_SESS_CLEAR_PRESENT,
	};
	struct dev *d = pick_dev(1);
	unsigned long req;
	char buf[512];
	int fd, e, kind = below(5);

	memset(buf, 0, sizeof(buf));
	*(int *)buf = -1;	/* index -1: no control ioctl may act */
	if (kind == 0) {
		/* Our magic, another number, size or direction. */
		req = _IOC(below(4), ULOOP_IOC_MAGIC, chance(50) ? below(0x20) : below(256),
			   below(1 << 14));
	} else if (kind == 1) {
		req = (uint32_t)rnd();
	} else {
		req = known[below(sizeof(known) / sizeof(known[0]))];
	}
	switch (below(4)) {
	case 0: fd = ctl; break;
	case 1: fd = d ? d->sess : ctl; break;
	case 2: fd = nstale ? stale[below(nstale)] : ctl; break;
	default: fd = 900 + below(100); break;	/* not open */
	}
	/* The VFS's own ioctls (FIONBIO, FIOCLEX...) work on any fd. */
	if (req == FIONBIO || req == FIOCLEX || req == FIONCLEX || req == FIOASYNC ||
	    req == FIOQSIZE || req == FIFREEZE || req == FITHAW ||
	    req == FIGETBSZ || req == FICLONE || req == FICLONERANGE || req == FIDEDUPERANGE ||
	    req == FIONREAD || req == FIBMAP || _IOC_TYPE(req) == 'X' || _IOC_TYPE(req) == 'f')
		return;
	/* Not bad_addr(): a struct wholly inside its mapped page would be read. */
	e = xioctl(fd, req, chance(50) ? (void *)buf : (void *)(uintptr_t)unmapped_addr());
	if (fd >= 900) {
		ALLOWED(e, "ioctl on a closed fd", EBADF);
		return;
	}
	if (fd == ctl) {
		if (req == ULOOP_CTL_ADD || req == ULOOP_CTL_ATTACH || req == ULOOP_CTL_REMOVE ||
		    req == ULOOP_CTL_INFO) {
			ALLOWED(e, "control ioctl on zeroes", EINVAL, EFAULT, ENODEV, EBADF, 0, EEXIST);
			if (!e && req == ULOOP_CTL_INFO)
				return;
			if (!e)
				VIOLATION("control ioctl %lx on a zeroed struct worked", req);
		} else {
			ALLOWED(e, "other ioctl on the control node", ENOTTY);
		}
		return;
	}
	if (req == ULOOP_SESS_COMPLETE || req == ULOOP_SESS_SET_PRESENT ||
	    req == ULOOP_SESS_CLEAR_PRESENT) {
		ALLOWED(e, "session ioctl on zeroes", EINVAL, EFAULT, ENODEV);
		return;
	}
	ALLOWED(e, "other ioctl on a session", ENOTTY);
}

/* The VFS's side of a session fd: write, lseek, mmap, FIONBIO, fcntl. */
static void op_sess_misc(void)
{
	struct dev *d = pick_dev(1);
	int fd = d ? d->sess : nstale ? stale[below(nstale)] : -1, on;
	void *p;

	if (fd < 0)
		return;
	me->other++;
	switch (below(5)) {
	case 0:
		if (write(fd, "x", 1) >= 0)
			VIOLATION("write to a session worked");
		break;
	case 1:
		lseek(fd, rnd(), SEEK_SET);
		break;
	case 2:
		p = mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED)
			VIOLATION("mmap of a session worked");
		break;
	case 3:
		on = below(2);
		xioctl(fd, FIONBIO, &on);
		break;
	default:
		if (!d) {
			/* A read on a dead session: ENODEV at once, never a wait. */
			struct uloop_miss m;

			if (read(fd, &m, sizeof(m)) >= 0 || errno != ENODEV)
				VIOLATION("read of a removed device's session: %s", strerror(errno));
		}
		break;
	}
}

/* Another control fd now and then: opening it is part of the interface. */
static void op_reopen_ctl(void)
{
	int fd = open(CTL, chance(50) ? O_RDWR : O_RDONLY | O_NONBLOCK);

	me->other++;
	if (fd < 0)
		VIOLATION("open %s: %s", CTL, strerror(errno));
	close(ctl);
	ctl = fd;
}

/*
 * rmmod while devices exist (the bystander always does): refused, never
 * a module gone from under its devices.
 */
static void op_rmmod(void)
{
	me->other++;
	if (!syscall(SYS_delete_module, "uloop", O_NONBLOCK))
		VIOLATION("rmmod worked with devices");
	if (errno != EAGAIN && errno != EBUSY)
		VIOLATION("rmmod with devices: %s", strerror(errno));
}

/*
 * The control fd and a session fd handed to a process without
 * CAP_SYS_ADMIN (uid 65534): control ioctls are refused (EPERM) however
 * the fd was had, and the node itself cannot be opened.
 */
static void op_unprivileged(void)
{
	struct dev *d = pick_dev(1);
	pid_t pid;
	int status;

	me->other++;
	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		struct uloop_dev_status st = { .index = d ? d->index : 0 };
		struct uloop_dev_info di = { .index = -1 };
		struct uloop_dev_remove rm = { .index = d ? d->index : 0 };

		if (setgid(65534) || setuid(65534))
			_exit(3);
		if (ioctl(ctl, ULOOP_CTL_INFO, &st) == 0 || errno != EPERM ||
		    ioctl(ctl, ULOOP_CTL_ADD, &di) == 0 || errno != EPERM ||
		    ioctl(ctl, ULOOP_CTL_REMOVE, &rm) == 0 || errno != EPERM)
			_exit(1);
		if (open(CTL, O_RDWR) >= 0 || errno != EACCES)
			_exit(2);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		VIOLATION("unprivileged child: status %#x (1: a control ioctl not EPERM, "
			  "2: the node opened)", status);
	me->calls += 3;
}

static void fuzz(int calls)
{
	int i;

	ctl = open(CTL, O_RDWR);
	if (ctl < 0)
		VIOLATION("open %s: %s", CTL, strerror(errno));
	data_buf = malloc(1 << 20);
	for (i = 0; i < (1 << 20); i += 8)
		*(uint64_t *)(data_buf + i) = rnd();
	while (me->calls < (uint64_t)calls) {
		int r = below(1000);

		if (r < 90 || (r < 200 && ndevs() < 3))
			op_add();
		else if (r < 150)
			op_attach();
		else if (r < 230 || (r < 260 && ndevs() >= MAXDEV - 2))
			op_remove();
		else if (r < 300)
			op_info();
		else if (r < 520)
			op_read_misses();
		else if (r < 720)
			op_complete();
		else if (r < 800)
			op_present();
		else if (r < 830)
			op_close_session();
		else if (r < 940)
			op_wrong();
		else if (r < 990)
			op_sess_misc();
		else if (r < 996)
			op_reopen_ctl();
		else if (r < 998)
			op_rmmod();
		else
			op_unprivileged();
	}
}

/* ---- the readers ---- */

static sigjmp_buf bus_jmp;

/* A read fault on a mapped device that failed: SIGBUS, and on we go. */
static void on_bus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

static void reader(void)
{
	static const unsigned long blk[] = {
		BLKGETSIZE64, BLKSSZGET, BLKBSZGET, BLKFLSBUF, BLKRAGET, BLKRASET, BLKROGET,
		BLKRRPART, BLKPG, BLKDISCARD, BLKZEROOUT, BLKIOMIN, BLKIOOPT, BLKPBSZGET,
		BLKBSZSET, BLKROSET, BLKSECDISCARD, BLKGETSIZE, BLKFRAGET,
	};
	int fds[4] = { -1, -1, -1, -1 };
	char *buf, path[64];
	uint64_t arg8[4];
	int i;

	struct sigaction sa = { .sa_handler = on_bus };

	sigaction(SIGBUS, &sa, NULL);
	if (posix_memalign((void **)&buf, 4096, 1 << 20))
		exit(2);
	while (!sh->stop) {
		int r = below(100), k = below(4), fd = fds[k];
		int idx = chance(10) ? BYSTANDER : (int)below(NIDX);

		if (r < 25 || fd < 0) {
			if (fd >= 0) {
				close(fd);
				me->other++;
			}
			snprintf(path, sizeof(path), "/dev/uloop%d", idx);
			fds[k] = open(path, O_RDONLY | O_CLOEXEC | (chance(50) ? O_DIRECT : 0) |
				      (chance(10) ? O_NONBLOCK : 0) | (chance(5) ? O_EXCL : 0));
			me->other++;
			if (fds[k] >= 0)
				me->opens_ok++;
			continue;
		}
		if (r < 60) {
			int direct = fcntl(fd, F_GETFL) & O_DIRECT;
			uint64_t size = 0;
			size_t len;
			off_t off;
			ssize_t n;

			ioctl(fd, BLKGETSIZE64, &size);
			if (direct) {
				len = 512 * (1 + below(chance(50) ? 8 : 512));
				off = size ? below(size / 512 + 2) * 512 : 0;
			} else {
				len = 1 + below(chance(50) ? 4096 : 1 << 20);
				off = size ? below(size + 4096) : 0;
			}
			n = pread(fd, buf, len, off);
			me->other++;
			if (n < 0)
				me->reads_err++;
			else
				me->reads_ok++;
		} else if (r < 70) {
			close(fd);
			fds[k] = -1;
			me->other++;
		} else if (r < 76) {
			uint64_t size = 0;

			ioctl(fd, BLKGETSIZE64, &size);
			posix_fadvise(fd, size ? below(size) : 0, below(1 << 22),
				      chance(50) ? POSIX_FADV_WILLNEED : POSIX_FADV_DONTNEED);
			me->other++;
		} else if (r < 86) {
			unsigned long req = blk[below(sizeof(blk) / sizeof(blk[0]))];

			for (i = 0; i < 4; i++)
				arg8[i] = chance(50) ? 0 : rnd();
			me->other++;
			if (req == BLKROSET || req == BLKBSZSET)
				arg8[0] = below(2) ? 0 : 4096;
			/* Its argument is the value: a pointer would be a huge readahead. */
			if (req == BLKRASET)
				ioctl(fd, req, (unsigned long)below(1024));
			else
				ioctl(fd, req, chance(80) ? (void *)arg8 :
				      (void *)(uintptr_t)bad_addr(32));
		} else if (r < 92) {
			char attr[128], v[64];
			static const char *names[] = { "hits", "misses", "rejected", "failed",
				"inflight", "held", "daemon_attached", "expired", "present",
				"direct_io", "csum_errors", "blocks" };
			int a;

			snprintf(attr, sizeof(attr), "/sys/block/uloop%d/uloop/%s", idx,
				 names[below(sizeof(names) / sizeof(names[0]))]);
			a = open(attr, O_RDONLY);
			if (a >= 0) {
				if (read(a, v, sizeof(v)) < 0)
					me->reads_err++;
				close(a);
			}
			me->other++;
		} else if (r < 96) {
			uint64_t size = 0;
			char *p;

			ioctl(fd, BLKGETSIZE64, &size);
			if (size >= 4096) {
				p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd,
					 below(size / 4096) * 4096);
				if (p != MAP_FAILED) {
					/* A miss through a page fault (SIGBUS on EIO). */
					if (chance(50) && !sigsetjmp(bus_jmp, 1))
						(void)*(volatile char *)p;
					munmap(p, 4096);
				}
			}
			me->other++;
		} else {
			fsync(fd);
			me->other++;
		}
	}
	for (i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	exit(0);
}

/* ---- the supervisor's cleanup ---- */

/*
 * Every device left: attach (trying each pool file as its cache), fail
 * what waits so the readers finish.  Returns the devices found.
 */
static int drain(int *sess)
{
	int i, c, found = 0;

	for (i = 0; i < NSCAN; i++) {
		struct uloop_dev_status st = { .index = i };
		struct uloop_miss m[64];
		struct uloop_completion cc[64];
		struct uloop_complete arg;
		ssize_t n;
		int k;

		if (i == BYSTANDER || xioctl(ctl, ULOOP_CTL_INFO, &st))
			continue;
		found++;
		if (sess[i] < 0) {
			for (c = 0; c < npool && sess[i] < 0; c++) {
				struct uloop_dev_info di = {
					.index = i, .cache_fd = pool[c].fd,
					.data_offset = st.data_offset, .image_size = st.image_size,
					.block_shift = st.block_shift, .csum_offset = st.csum_offset,
					.hold_timeout_ms = 0,
				};

				if (!xioctl(ctl, ULOOP_CTL_ATTACH, &di)) {
					sess[i] = di.session_fd;
					fcntl(sess[i], F_SETFL, O_NONBLOCK);
				}
			}
			if (sess[i] < 0)
				continue;	/* a session still there, or held misses fail on time */
		}
		while ((n = read(sess[i], m, sizeof(m))) > 0) {
			memset(cc, 0, sizeof(cc));
			for (k = 0; k < n / (ssize_t)sizeof(m[0]); k++) {
				cc[k].tag = m[k].tag;
				cc[k].offset = m[k].offset;
				cc[k].length = m[k].length;
				cc[k].result = -EIO;
			}
			memset(&arg, 0, sizeof(arg));
			arg.entries = (uintptr_t)cc;
			arg.count = k;
			if (xioctl(sess[i], ULOOP_SESS_COMPLETE, &arg) || arg.applied != (uint32_t)k)
				VIOLATION("cleanup: COMPLETE of uloop%d: %s, %u of %d applied", i,
					  strerror(errno), arg.applied, k);
		}
	}
	return found;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	int procs = 2, readers = 2, calls = 100000, i, status, bad = 0, left;
	int sess[NSCAN];
	pid_t pids[MAXPROC * 2];
	uint64_t t0 = now_ms(), last;
	struct stats tot;

	if (argc < 2) {
		fprintf(stderr, "usage: ioctl-fuzz DIR [--seed S] [--calls N] [--procs P] [--readers R]\n");
		return 2;
	}
	seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
	for (i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--calls"))
			calls = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--procs"))
			procs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--readers"))
			readers = atoi(argv[i + 1]);
	}
	if (procs < 1 || procs > MAXPROC || readers < 0 || readers > MAXPROC) {
		fprintf(stderr, "ioctl-fuzz: 1 to %d fuzzers and readers\n", MAXPROC);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ioctl-fuzz: seed=%" PRIu64 " calls=%d procs=%d readers=%d\n",
	       seed, calls, procs, readers);
	single = procs == 1;
	pg = sysconf(_SC_PAGESIZE);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ro_page = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	edge = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gone = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || ro_page == MAP_FAILED || edge == MAP_FAILED || gone == MAP_FAILED)
		return 2;
	/*
	 * PROT_NONE, not unmapped: a hole would be where the next mmap (a
	 * large malloc) lands, and a "bad" address would then be good.
	 */
	mprotect(edge + pg, pg, PROT_NONE);
	me = &sh->st[MAXPROC * 2];
	rs = seed;
	pool_setup(argv[1]);

	/* Readers first: they inherit no session fd. */
	for (i = 0; i < readers + procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("fork");
			return 2;
		}
		if (!pids[i]) {
			who = i;
			me = &sh->st[i];
			rs = seed + 0x1000 * (i + 1);
			if (i < readers)
				reader();
			fuzz(calls / procs);
			exit(0);
		}
	}
	for (i = readers; i < readers + procs; i++) {
		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			printf("ioctl-fuzz: fuzzer %d ended with status %#x\n", i, status);
			bad = 1;
		}
	}
	printf("ioctl-fuzz: fuzzers done in %.1f s\n", (now_ms() - t0) / 1000.0);
	sh->stop = 1;

	/* Cleanup: serve (fail) what the readers wait for until they exit. */
	who = -1;
	ctl = open(CTL, O_RDWR);
	for (i = 0; i < NSCAN; i++)
		sess[i] = -1;
	left = readers;
	last = now_ms();
	while (left) {
		pid_t p = waitpid(-1, &status, WNOHANG);

		if (p > 0) {
			left--;
			last = now_ms();
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				printf("ioctl-fuzz: reader ended with status %#x\n", status);
				bad = 1;
			}
			continue;
		}
		drain(sess);
		/* A reader that no served miss frees in 10 minutes is stuck. */
		if (now_ms() - last > 600000) {
			printf("ioctl-fuzz: readers stuck\n");
			return 1;
		}
		usleep(20000);
	}
	drain(sess);
	for (i = 0; i < NSCAN; i++) {
		struct uloop_dev_remove rm = { .index = i };
		int e = i == BYSTANDER ? ENODEV : xioctl(ctl, ULOOP_CTL_REMOVE, &rm);

		if (e && e != ENODEV) {
			printf("ioctl-fuzz: final REMOVE of uloop%d: %s\n", i, strerror(e));
			bad = 1;
		}
		if (sess[i] >= 0)
			close(sess[i]);
	}
	memset(&tot, 0, sizeof(tot));
	for (i = 0; i <= MAXPROC * 2; i++) {
		uint64_t *a = (uint64_t *)&tot, *b = (uint64_t *)&sh->st[i];
		size_t k;

		for (k = 0; k < sizeof(tot) / sizeof(uint64_t); k++)
			a[k] += b[k];
	}
	printf("ioctl-fuzz: seed=%" PRIu64 " ioctls=%" PRIu64 " other-calls=%" PRIu64
	       " add=%" PRIu64 "/%" PRIu64 " attach=%" PRIu64 " remove=%" PRIu64
	       " info=%" PRIu64 " misses=%" PRIu64 " applied=%" PRIu64 " rejected=%" PRIu64
	       " reads=%" PRIu64 "/%" PRIu64 " opens=%" PRIu64 " violations=%" PRIu64
	       " in %.1f s\n",
	       seed, tot.calls, tot.other, tot.add_ok, tot.add_ok + tot.add_fail,
	       tot.attach_ok, tot.remove_ok, tot.info_ok, tot.misses_read, tot.applied,
	       tot.rejected, tot.reads_ok, tot.reads_ok + tot.reads_err, tot.opens_ok,
	       tot.violations, (now_ms() - t0) / 1000.0);
	return bad || tot.violations;
}
