// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * trace-replay.c - one simulated node of bench/storm.sh: replays a boot's
 * read trace (`uloop profile --times`: each extent with when the boot
 * first read it) against the device its uloop daemon serves.
 *
 *   trace-replay TRACE DEVICE T0_NS
 *
 * T0_NS is the wall-clock time (CLOCK_REALTIME, ns) the node began its
 * attach, which is also when the recorded daemon's clock began: each
 * extent is read no sooner than T0 + its time, and no sooner than the read
 * before it is done (a boot's reads mostly wait on each other).  A boot
 * that is slowed by the server therefore ends late; one that is not ends
 * when the recorded boot did.  Reads are O_DIRECT (no readahead of the
 * page cache adds reads the boot did not make), at most 128 KiB each (the
 * size of a kernel's readahead).  Prints
 *
 *   done SECONDS BYTES READS
 *
 * SECONDS from T0 to the last read's end; or "error ..." and exits 1 on
 * the first failed read (a node whose boot would have failed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (128 * 1024)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	uint64_t now = now_ns();
	struct timespec ts;

	if (now >= t)
		return;
	ts.tv_sec = (time_t)((t - now) / 1000000000ull);
	ts.tv_nsec = (long)((t - now) % 1000000000ull);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	uint64_t size = 0, unit = 0, t0, start, n, ms, bytes = 0, reads = 0;
	char line[8192];
	FILE *f;
	void *buf;
	int fd, fields;

	if (argc != 4) {
		fprintf(stderr, "usage: trace-replay TRACE DEVICE T0_NS\n");
		return 2;
	}
	t0 = strtoull(argv[3], NULL, 10);
	f = fopen(argv[1], "r");
	if (!f) {
		printf("error %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* The header: magic, size, validator, unit, extents. */
	for (int i = 0; i < 5 && fgets(line, sizeof(line), f); i++) {
		sscanf(line, "size %" SCNu64, &size);
		sscanf(line, "unit %" SCNu64, &unit);
	}
	if (!size || !unit) {
		printf("error %s: not a boot profile\n", argv[1]);
		return 1;
	}
	fd = open(argv[2], O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		printf("error %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (posix_memalign(&buf, 4096, CHUNK))
		return 1;
	while (fgets(line, sizeof(line), f)) {
		fields = sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNu64, &start, &n, &ms);
		if (fields < 2) {
			printf("error %s: bad extent line '%s'\n", argv[1], line);
			return 1;
		}
		if (fields == 3)
			sleep_until(t0 + ms * 1000000ull);
		for (uint64_t off = start * unit, end = (start + n) * unit; off < end && off < size;) {
			size_t len = end - off < CHUNK ? (size_t)(end - off) : CHUNK;
			ssize_t got;

			/* O_DIRECT wants whole units; the image's last unit
			 * may be short: ask for it whole, take what comes. */
			got = pread(fd, buf, len, (off_t)off);
			if (got < 0 || (got == 0 && off < size)) {
				printf("error pread %s at %" PRIu64 ": %s\n", argv[2], off,
				       got < 0 ? strerror(errno) : "end of file");
				return 1;
			}
			off += (uint64_t)got;
			bytes += (uint64_t)got;
			reads++;
		}
	}
	printf("done %.3f %" PRIu64 " %" PRIu64 "\n", (double)(now_ns() - t0) / 1e9, bytes, reads);
	return 0;
}
