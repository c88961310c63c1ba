// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * randread.c - the benchmark's load generator for guests, which have only
 * busybox: N reads of BS bytes at random BS-aligned offsets (seeded, so
 * every device gets the same offsets), or one sequential pass, with
 * O_DIRECT so the page cache is not what is measured.  Prints
 * "reads=N bytes=B usec=T".
 *
 *   randread DEVICE random N BS SEED
 *   randread DEVICE seq BS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	uint64_t size, t0, n = 0, bytes = 0, seed;
	size_t bs;
	void *buf;
	int fd;

	if (argc < 4) {
		fprintf(stderr, "usage: randread DEV random N BS SEED | seq BS\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0) {
		perror(argv[1]);
		return 1;
	}
	bs = strtoul(argv[!strcmp(argv[2], "seq") ? 3 : 4], NULL, 0);
	if (!bs || posix_memalign(&buf, 4096, bs))
		return 1;
	t0 = now_us();
	if (!strcmp(argv[2], "seq")) {
		for (uint64_t off = 0; off + bs <= size; off += bs, n++) {
			if (pread(fd, buf, bs, off) != (ssize_t)bs) {
				perror("pread");
				return 1;
			}
			bytes += bs;
		}
	} else {
		uint64_t count = strtoull(argv[3], NULL, 0);

		seed = argc > 5 ? strtoull(argv[5], NULL, 0) : 1;
		for (; n < count; n++) {
			uint64_t off;

			/* xorshift64: same offsets for every device */
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			off = seed % (size / bs) * bs;
			if (pread(fd, buf, bs, off) != (ssize_t)bs) {
				perror("pread");
				return 1;
			}
			bytes += bs;
		}
	}
	printf("reads=%llu bytes=%llu usec=%llu\n", (unsigned long long)n,
	       (unsigned long long)bytes, (unsigned long long)(now_us() - t0));
	return 0;
}
