// SPDX-License-Identifier: GPL-2.0-or-later
/* failpoint.c - see failpoint.h.  Compiled only with -DULOOP_FAILPOINTS. */
#ifdef ULOOP_FAILPOINTS
#include "failpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long ulo_fp_count;	/* hits of the armed failpoint so far */
static const char *ulo_fp_armed;	/* the spec they were counted for */

bool ulo_failpoint_hit(const char *name)
{
	const char *spec = getenv("ULOOP_FAILPOINT");
	size_t n = strlen(name);
	long want = 1;

	if (!spec || strncmp(spec, name, n) || (spec[n] && spec[n] != ':'))
		return false;
	if (spec[n] == ':')
		want = strtol(spec + n + 1, NULL, 10);
	/* A newly armed failpoint counts from zero (tests arm several in
	 * turn in one process, and fork children that inherit the count). */
	if (__atomic_exchange_n(&ulo_fp_armed, spec, __ATOMIC_SEQ_CST) != spec)
		__atomic_store_n(&ulo_fp_count, 0, __ATOMIC_SEQ_CST);
	return __atomic_add_fetch(&ulo_fp_count, 1, __ATOMIC_SEQ_CST) == want;
}

bool ulo_failpoint_mode(const char *name)
{
	const char *spec = getenv("ULOOP_FAILPOINT");

	return spec && !strcmp(spec, name);
}

bool ulo_failpoint_pause(void)
{
	const char *f = getenv("ULOOP_FAILPOINT_PAUSE");
	int fd;

	if (!f || !*f)
		return false;
	/* Empty: its name is the whole message. */
	fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;	/* no way to tell the test: crash as asked */
	close(fd);
	/* Polled, not timed: the step waits as long as the test needs (a
	 * guest under TCG swaps a device-mapper table in seconds). */
	while (access(f, F_OK) == 0)
		usleep(10000);
	return true;
}

void ulo_failpoint_die(void)
{
	for (;;)
		kill(getpid(), SIGKILL);
}
#endif
