// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * memhog.c - memory pressure for a guest, as `stress-ng --vm N --vm-bytes
 * P%` makes it (the D3 case of the reliability catalogue), in a static
 * binary small enough for a busybox root.
 *
 *     memhog PERCENT WORKERS SECONDS
 *
 * WORKERS processes each map PERCENT/WORKERS of the machine's RAM
 * (MemTotal) as private anonymous memory and keep writing one byte of
 * every page of it, for ever: dirty anonymous pages that no swap can take,
 * so the kernel can only find memory by shrinking the page cache (the
 * root filesystem's pages among it: they must come back through the
 * uloop daemon) or, past that, by the OOM killer.  A worker that dies
 * (SIGKILL from the OOM killer) is started again, as stress-ng does, so
 * the pressure lasts SECONDS, or until SIGTERM; then every worker is
 * stopped.
 *
 * Design: the workers count each full pass over their memory in a shared
 * page, so the report says whether the pressure was real (the memory was
 * all touched, how often) and not merely asked for.  The parent polls its
 * children once a second (waitpid WNOHANG); SIGTERM only sets a flag that
 * loop reads (the sleep it interrupts ends early).  Its last line, on
 * stdout:
 *     memhog: W workers of M MiB (P% of T MiB), S s: F full passes, K workers killed, R restarted
 * (S: the seconds it ran).
 * Exit status 0, or 1 if no worker ever touched all its memory.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 64

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static long mem_total_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A worker: map, then write every page, pass after pass, until killed. */
static void worker(size_t bytes, volatile unsigned long *passes)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *p, v = 1;

	/* MAP_NORESERVE: let the kernel's overcommit heuristic, not an
	 * up-front refusal, decide; the OOM killer is part of the test. */
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "memhog: mmap %zu bytes: %s\n", bytes, strerror(errno));
		_exit(2);
	}
	for (;; v++) {
		for (size_t off = 0; off < bytes; off += page)
			p[off] = v;
		__atomic_fetch_add(passes, 1, __ATOMIC_RELAXED);
	}
}

static pid_t spawn(size_t bytes, volatile unsigned long *passes)
{
	pid_t pid = fork();

	if (pid == 0)
		worker(bytes, passes);
	return pid;
}

int main(int argc, char **argv)
{
	pid_t pids[MAX_WORKERS];
	volatile unsigned long *passes;
	unsigned long killed = 0, restarted = 0;
	long total_kib, pct, n, secs;
	size_t bytes;
	double start, end;
	int st;

	if (argc != 4 || (pct = atol(argv[1])) <= 0 || pct > 200 ||
	    (n = atol(argv[2])) <= 0 || n > MAX_WORKERS || (secs = atol(argv[3])) <= 0) {
		fprintf(stderr, "usage: memhog PERCENT WORKERS SECONDS\n");
		return 2;
	}
	total_kib = mem_total_kib();
	if (total_kib <= 0) {
		fprintf(stderr, "memhog: no MemTotal in /proc/meminfo\n");
		return 1;
	}
	bytes = (size_t)total_kib * 1024 / 100 * pct / n;
	passes = mmap(NULL, sizeof(*passes), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (passes == MAP_FAILED) {
		perror("memhog: mmap");
		return 1;
	}
	start = now_s();
	end = start + secs;
	for (long i = 0; i < n; i++)
		pids[i] = spawn(bytes, passes);
	/* After the forks: the workers keep SIGTERM's default (death). */
	signal(SIGTERM, on_term);
	while (!stop && now_s() < end) {
		sleep(1);
		for (long i = 0; i < n; i++) {
			if (pids[i] <= 0 || waitpid(pids[i], &st, WNOHANG) != pids[i])
				continue;
			if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
				killed++;
			else
				fprintf(stderr, "memhog: worker %d ended (status 0x%x)\n",
					(int)pids[i], st);
			pids[i] = spawn(bytes, passes);
			restarted++;
		}
	}
	for (long i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	/* Our own kills: not counted. */
	for (long i = 0; i < n; i++)
		if (pids[i] > 0)
			waitpid(pids[i], &st, 0);
	printf("memhog: %ld workers of %zu MiB (%ld%% of %ld MiB), %.0f s: %lu full passes, %lu workers killed, %lu restarted\n",
	       n, bytes >> 20, pct, total_kib >> 10, now_s() - start, *passes, killed, restarted);
	return *passes ? 0 : 1;
}
