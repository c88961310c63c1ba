// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ulo2007-example.c - a program written to the 2007 libuloop API.
 *
 * It serves a local image file the way the 2007 "ulobdev" sample served a
 * slow disk: store() copies the requested range from the backend into the
 * cache file, and libuloop does the rest.
 *
 *   ulo2007-example DEVICE BACKEND CACHE BITMAP
 *
 * DEVICE becomes a read-only file with BACKEND's contents (attach it with
 * "losetup -r" to get a block device); SIGTERM stops it cleanly.
 *
 * Build: cc -o ulo2007-example ulo2007-example.c -luloop -lblkid -pthread
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uloop/libuloop.h>

static int backend = -1;

static int store(unsigned long long start, int size, void *arg)
{
	char *buf = malloc(size);
	ssize_t n = -1;

	(void)arg;
	if (buf)
		n = pread(backend, buf, size, (off_t)start);
	if (n == size)
		n = pwrite(ulo_cache_fd, buf, size, (off_t)start);
	free(buf);
	return n == size ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct ulo_init init = { .dev_flags = O_RDONLY };
	struct stat st;

	if (argc != 5) {
		fprintf(stderr, "usage: %s DEVICE BACKEND CACHE BITMAP\n", argv[0]);
		return 2;
	}
	backend = open(argv[2], O_RDONLY);
	if (backend < 0 || fstat(backend, &st) < 0) {
		perror(argv[2]);
		return 1;
	}
	init.path[ULO_DEV] = argv[1];
	init.path[ULO_CACHE] = argv[3];
	init.path[ULO_BITMAP] = argv[4];
	init.size = st.st_size;
	if (ulo_init(&init)) {
		fprintf(stderr, "ulo_init: %s\n", ulo_errmsg());
		return 1;
	}
	printf("ready: %s serves %s (%llu bytes)\n", argv[1], argv[2],
	       uloop->tgt_size);
	fflush(stdout);
	if (ulo_loop(SIGTERM, store, NULL)) {
		fprintf(stderr, "ulo_loop: %s\n", ulo_errmsg());
		return 1;
	}
	return 0;
}
