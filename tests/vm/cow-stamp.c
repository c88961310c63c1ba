// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cow-stamp.c - a journalling writer and its checker, for the COW
 * power-cut test (tests/vm/test-vm-cow-power-loss.sh).
 *
 *   cow-stamp write DEV SEED GENS    (in the guest, on the COW device)
 *   cow-stamp check STATE SEED GENS  (on the host, on a replayed flash)
 *
 * The writer does GENS generations (COW_STAMP_PAUSE: see pause_until()).  Generation g writes 32 random 4 KiB
 * chunks (chunk 0 excepted) and syncs, then writes chunk 0, the commit
 * record saying "g", and syncs again.  Every 512-byte sector it writes
 * is stamped: what it is (data or commit), its own sector number, its
 * generation, the seed, bytes that follow from those, and a checksum of
 * it all, so a sector can be told whole and in its place, or not.  The
 * chunks of each generation follow from SEED, so the checker knows them.
 *
 * The checker reads STATE as the UML COW V3 file uloop made on the flash
 * (header, bitmap, data; the image under it is not needed) and holds it
 * to what a disk with a volatile write cache promises after a power cut:
 *   - every sector with its bit set holds a whole stamp of its own sector
 *     (never stale or torn data under a bit);
 *   - the commit record's highest generation G (any of its sectors: the
 *     record of g was written only once g's data was synced) says that
 *     every sector written by generations up to G is there, with that
 *     generation's stamp or a later one.
 * A STATE with no COW header yet (a cut before uloop laid it out) passes.
 * Exit 0: as promised; 1: not (the first broken sector said); 2: usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR 512
#define CHUNK 4096
#define PER_GEN 32
#define MAGIC_DATA "UCOWDATA"
#define MAGIC_COMMIT "UCOWCMIT"

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void stamp(uint8_t *s, const char *magic, uint64_t sector, uint64_t gen,
		  uint64_t seed)
{
	memcpy(s, magic, 8);
	put64(s + 8, sector);
	put64(s + 16, gen);
	put64(s + 24, seed);
	for (int i = 32; i < SECTOR - 8; i++)
		s[i] = (uint8_t)((sector * 131 + gen * 31 + (uint64_t)i) ^ (sector >> 8));
	put64(s + SECTOR - 8, fnv(s, SECTOR - 8));
}

/* The generation of a whole stamp of @sector with @magic, or 0. */
static uint64_t stamp_gen(const uint8_t *s, const char *magic, uint64_t sector,
			  uint64_t seed)
{
	if (memcmp(s, magic, 8) || get64(s + 8) != sector ||
	    get64(s + 24) != seed || get64(s + SECTOR - 8) != fnv(s, SECTOR - 8))
		return 0;
	return get64(s + 16);
}

/* The chunks generation @g writes (from the seed, in order). */
static void gen_chunks(uint64_t seed, uint64_t g, uint64_t nchunks, uint64_t *out)
{
	rng = seed * 0x9e3779b97f4a7c15ull + g * 0xbf58476d1ce4e5b9ull + 1;
	for (int i = 0; i < PER_GEN; i++)
		out[i] = 1 + next() % (nchunks - 1);
}

static int write_chunk(int fd, uint8_t *buf, const char *magic, uint64_t chunk,
		       uint64_t gen, uint64_t seed)
{
	for (int i = 0; i < CHUNK / SECTOR; i++)
		stamp(buf + i * SECTOR, magic, chunk * (CHUNK / SECTOR) + i, gen, seed);
	return pwrite(fd, buf, CHUNK, (off_t)(chunk * CHUNK)) == CHUNK ? 0 : -1;
}

/* COW_STAMP_PAUSE=G:FILE: after generation G's data is written, before
 * it is synced, say so and wait for FILE to exist: the test kills the
 * daemon there, with writes acknowledged and not yet flushed. */
static uint64_t pause_at;
static const char *pause_file;

static void pause_until(const char *file)
{
	printf("cow-stamp: paused before a sync\n");
	fflush(stdout);
	while (access(file, F_OK))
		usleep(100000);
}

static int do_write(const char *dev, uint64_t seed, uint64_t gens)
{
	const char *pause = getenv("COW_STAMP_PAUSE");

	if (pause && strchr(pause, ':')) {
		pause_at = strtoull(pause, NULL, 10);
		pause_file = strchr(pause, ':') + 1;
	}

	uint64_t size = 0, chunks[PER_GEN];
	uint8_t *buf;
	int fd = open(dev, O_RDWR | O_DIRECT);
	struct stat st;

	if (fd < 0 && errno == EINVAL)	/* a file where direct I/O is not */
		fd = open(dev, O_RDWR);
	if (fd >= 0 && ioctl(fd, BLKGETSIZE64, &size) < 0 && !fstat(fd, &st))
		size = (uint64_t)st.st_size;
	if (fd < 0 || size < 2 * CHUNK || posix_memalign((void **)&buf, CHUNK, CHUNK)) {
		perror(dev);
		return 2;
	}
	for (uint64_t g = 1; g <= gens; g++) {
		gen_chunks(seed, g, size / CHUNK, chunks);
		for (int i = 0; i < PER_GEN; i++)
			if (write_chunk(fd, buf, MAGIC_DATA, chunks[i], g, seed))
				goto fail;
		if (g == pause_at)
			pause_until(pause_file);
		if (fdatasync(fd))
			goto fail;
		if (write_chunk(fd, buf, MAGIC_COMMIT, 0, g, seed) || fdatasync(fd))
			goto fail;
	}
	printf("cow-stamp: %" PRIu64 " generations written and committed\n", gens);
	return 0;
fail:
	perror(dev);
	return 1;
}

static int do_check(const char *path, uint64_t seed, uint64_t gens)
{
	uint64_t size, sectors, bm_off, bm_len, data_off, align, committed = 0;
	uint64_t *need, chunks[PER_GEN], held = 0;
	uint8_t hdr[4128], *bits, *sec;
	struct stat st;
	FILE *f = fopen(path, "rb");

	if (!f || fstat(fileno(f), &st) || fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr)) {
		perror(path);
		return 2;
	}
	if (memcmp(hdr, "OOOM\0\0\0\3", 8))
		return 0;	/* no COW yet: nothing was promised */
	size = be(hdr + 12, 8);
	align = be(hdr + 24, 4);
	if (be(hdr + 20, 4) != SECTOR || !align || size % CHUNK)
		return fprintf(stderr, "%s: unexpected header\n", path), 1;
	sectors = size / SECTOR;
	bm_off = (4128 + align - 1) / align * align;
	bm_len = (sectors + 7) / 8;
	data_off = (bm_off + bm_len + align - 1) / align * align;
	bits = malloc(bm_len);
	sec = malloc(SECTOR);
	need = calloc(sectors, sizeof(*need));
	if (!bits || !sec || !need || fseeko(f, (off_t)bm_off, SEEK_SET) ||
	    fread(bits, 1, bm_len, f) != bm_len)
		return fprintf(stderr, "%s: bitmap unreadable\n", path), 1;
#define HELD(s) (bits[(s) / 8] >> ((s) % 8) & 1)
	/* Every sector under a bit: a whole stamp of its own; the commit
	 * record's highest generation. */
	for (uint64_t s = 0; s < sectors; s++) {
		uint64_t g;

		if (!HELD(s))
			continue;
		held++;
		if (fseeko(f, (off_t)(data_off + s * SECTOR), SEEK_SET) ||
		    fread(sec, 1, SECTOR, f) != SECTOR)
			return fprintf(stderr, "sector %" PRIu64 ": bit set past the file's end\n", s), 1;
		g = stamp_gen(sec, s < CHUNK / SECTOR ? MAGIC_COMMIT : MAGIC_DATA, s, seed);
		if (!g || g > gens)
			return fprintf(stderr, "sector %" PRIu64 ": bit set over data that is not a whole stamp of it (stale or torn)\n", s), 1;
		if (s < CHUNK / SECTOR && g > committed)
			committed = g;
	}
	/* Every sector the committed generations wrote is there. */
	for (uint64_t g = 1; g <= committed; g++) {
		gen_chunks(seed, g, size / CHUNK, chunks);
		for (int i = 0; i < PER_GEN; i++)
			for (uint64_t s = chunks[i] * 8; s < chunks[i] * 8 + 8; s++)
				need[s] = g;
	}
	for (uint64_t s = 0; s < sectors; s++) {
		if (!need[s])
			continue;
		if (!HELD(s))
			return fprintf(stderr, "sector %" PRIu64 ": written by generation %" PRIu64 ", committed (%" PRIu64 "), lost\n",
				       s, need[s], committed), 1;
		if (fseeko(f, (off_t)(data_off + s * SECTOR), SEEK_SET) ||
		    fread(sec, 1, SECTOR, f) != SECTOR ||
		    stamp_gen(sec, MAGIC_DATA, s, seed) < need[s])
			return fprintf(stderr, "sector %" PRIu64 ": older than generation %" PRIu64 ", committed\n",
				       s, need[s]), 1;
	}
	printf("committed %" PRIu64 ", %" PRIu64 " sectors held, all whole\n", committed, held);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "check"))
		return do_check(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
	if (argc == 5 && !strcmp(argv[1], "write"))
		return do_write(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
	fprintf(stderr, "usage: cow-stamp write DEV SEED GENS | check STATE SEED GENS\n");
	return 2;
}
