// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cow_pending.c - see cow_pending.h.
 *
 * The mirror file: a 4 KiB header (magic, the boot's id, the COW file's
 * identity) and then the bitmap, byte for byte as in the COW file.  It is
 * mapped shared, so a bit set is in the file the moment it is set, with
 * no system call: a write pays one atomic OR.  A mirror whose header does
 * not match is truncated and made anew: a crash while it is made leaves
 * a header that matches nothing, so nothing is applied from it.
 */
#include "cow_pending.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define PEND_MAGIC "ULOCOWPB"
#define PEND_HDR 4096

struct pend_hdr {
	char magic[8];
	char boot_id[40];
	uint64_t dev, ino;	/* the COW file (a device: its number, ino 0) */
	int64_t btime_sec;	/* its birth, where the file system keeps one */
	uint32_t btime_nsec;
	uint32_t pad;
	uint64_t size;		/* the disk size its header records */
	uint64_t bitmap_len;
	uint64_t header_fp;	/* FNV-1a of its header's fields */
};

struct ulo_cow_pending {
	char path[PATH_MAX];
	/* Its directory, held: the removal must find the file after the
	 * daemon's switch_root too (util.h, ulo_dir_hold). */
	int dirfd;
	uint8_t *map;
	size_t map_len;
	uint64_t bitmap_len;
};

/* The boot id, read once: a root's daemon has no /proc after switch_root
 * (a snapshot's mirror is made then), and the boot does not change. */
static void pend_boot_id(char *id, size_t len)
{
	static char boot[40];
	static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&mx);
	if (!boot[0]) {
		FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

		if (f) {
			if (!fgets(boot, sizeof(boot), f))
				boot[0] = 0;
			fclose(f);
		}
		boot[strcspn(boot, "\n")] = 0;
	}
	memset(id, 0, len);
	snprintf(id, len, "%s", boot);
	pthread_mutex_unlock(&mx);
}

static int pend_identity(int fd, struct pend_hdr *h)
{
	struct statx sx;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	memcpy(h->magic, PEND_MAGIC, sizeof(h->magic));
	pend_boot_id(h->boot_id, sizeof(h->boot_id));
	if (S_ISBLK(st.st_mode)) {
		h->dev = st.st_rdev;
		h->ino = 0;
	} else {
		h->dev = st.st_dev;
		h->ino = st.st_ino;
	}
	if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME)) {
		h->btime_sec = sx.stx_btime.tv_sec;
		h->btime_nsec = sx.stx_btime.tv_nsec;
	}
	return 0;
}

static uint64_t pend_fnv(uint64_t x, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		x = (x ^ b[i]) * 0x100000001b3ull;
	return x;
}

/* The header's fields that tell one COW file from another. */
static uint64_t pend_header_fp(const struct ulo_uml_hdr *h)
{
	uint64_t x = 0xcbf29ce484222325ull, v[5] = {
		h->version, h->mtime, h->size, h->sector_size, h->data_offset,
	};

	x = pend_fnv(x, v, sizeof(v));
	x = pend_fnv(x, h->backing, strlen(h->backing));
	return pend_fnv(x, h->tag, strlen(h->tag));
}

static int pend_open(const char *dir, int dirfd, int fd, const struct ulo_uml_hdr *h,
		     bool fresh, struct ulo_cow_pending **out);

int ulo_cow_pending_open(const char *dir, int fd, const struct ulo_uml_hdr *h,
			 bool fresh, struct ulo_cow_pending **out)
{
	return pend_open(dir, -1, fd, h, fresh, out);
}

int ulo_cow_pending_open_beside(const struct ulo_cow_pending *beside, int fd,
				const struct ulo_uml_hdr *h, bool fresh,
				struct ulo_cow_pending **out)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", beside->path);
	*strrchr(dir, '/') = 0;
	return pend_open(dir, beside->dirfd, fd, h, fresh, out);
}

/* @dirfd: @dir, held (-1: open it, made if missing). */
static int pend_open(const char *dir, int dirfd, int fd, const struct ulo_uml_hdr *h,
		     bool fresh, struct ulo_cow_pending **out)
{
	uint64_t bitmap_len = h->bitmap_len;
	struct ulo_cow_pending *p = calloc(1, sizeof(*p));
	struct pend_hdr want = { 0 }, have;
	struct stat st;
	int mfd = -1, ret;

	if (!p)
		return ulo_errno(-ENOMEM, "cow");
	p->dirfd = -1;
	ret = pend_identity(fd, &want);
	if (ret) {
		ulo_errno(ret, "cow: fstat");
		goto fail;
	}
	if (!want.boot_id[0]) {
		ret = ulo_err(-ENOENT, "cow: no boot id in /proc: unflushed writes could not be told from another boot's");
		goto fail;
	}
	want.size = h->size;
	want.bitmap_len = bitmap_len;
	want.header_fp = pend_header_fp(h);
	snprintf(p->path, sizeof(p->path), "%s/cow-%llx-%llx.bits", dir,
		 (unsigned long long)want.dev, (unsigned long long)want.ino);
	p->bitmap_len = bitmap_len;
	p->map_len = PEND_HDR + (size_t)bitmap_len;
	if (dirfd >= 0) {
		p->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
		if (p->dirfd < 0) {
			ret = ulo_errno(-errno, "%s", dir);
			goto fail;
		}
	} else if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		ret = ulo_errno(-errno, "%s: mkdir", dir);
		goto fail;
	} else {
		p->dirfd = ulo_dir_hold(p->path);
	}
	if (p->dirfd < 0) {
		ret = p->dirfd;
		goto fail;
	}
	mfd = openat(p->dirfd, strrchr(p->path, '/') + 1,
		     O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (mfd < 0 || fstat(mfd, &st) < 0) {
		ret = ulo_errno(-errno, "%s", p->path);
		goto fail;
	}
	if (fresh || (uint64_t)st.st_size != p->map_len ||
	    pread(mfd, &have, sizeof(have), 0) != (ssize_t)sizeof(have) ||
	    memcmp(&have, &want, sizeof(want))) {
		/* Nothing (or nothing of this file, or of this boot): anew. */
		if (ftruncate(mfd, 0) < 0 || ftruncate(mfd, (off_t)p->map_len) < 0)
			ret = -errno;
		else
			ret = ulo_pwrite_full(mfd, &want, sizeof(want), 0);
		if (ret) {
			ulo_errno(ret, "%s", p->path);
			goto fail;
		}
	}
	p->map = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p->map == MAP_FAILED) {
		p->map = NULL;
		ret = ulo_errno(-errno, "%s: mmap", p->path);
		goto fail;
	}
	close(mfd);
	*out = p;
	return 0;
fail:
	if (mfd >= 0)
		close(mfd);
	if (p->dirfd >= 0)
		close(p->dirfd);
	free(p);
	return ret;
}

uint8_t *ulo_cow_pending_bits(struct ulo_cow_pending *p)
{
	return p->map + PEND_HDR;
}

void ulo_cow_pending_sync(struct ulo_cow_pending *p, const uint8_t *bits)
{
	memcpy(p->map + PEND_HDR, bits, (size_t)p->bitmap_len);
}

void ulo_cow_pending_set(struct ulo_cow_pending *p, uint64_t sec, uint64_t n)
{
	uint8_t *b = p->map + PEND_HDR;

	for (uint64_t i = sec; i < sec + n; i++)
		__atomic_fetch_or(&b[i >> 3], (uint8_t)(1u << (i & 7)), __ATOMIC_RELEASE);
}

void ulo_cow_pending_close(struct ulo_cow_pending *p, bool flushed)
{
	if (!p)
		return;
	munmap(p->map, p->map_len);
	if (flushed)
		unlinkat(p->dirfd, strrchr(p->path, '/') + 1, 0);
	close(p->dirfd);
	free(p);
}
