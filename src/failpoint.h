/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * failpoint.h - test-only crash points in the cache write order.
 *
 * Built only into the test binary (make builds build/test/uloop with
 * -DULOOP_FAILPOINTS); the installed uloop has none.  ULOOP_FAILPOINT=NAME:N
 * kills the process with SIGKILL the N-th time NAME is reached (N defaults
 * to 1), which is what a crash at that step looks like to the cache.  A few
 * points inject an error instead (their callers test ulo_failpoint_hit()
 * and fail as the system call would): data-sync-eio, cache-read-eio.
 * ULOOP_FAILPOINT=NAME of a mode (ulo_failpoint_mode()) changes a step
 * every time instead: no-flush-before-bits leaves out the commit's flushes
 * of the data and the header (and a COW flush's of the data), the bug a
 * power-cut test must catch (tests/vm/test-vm-power-loss.sh and
 * test-vm-cow-power-loss.sh run it as their control); no-cow-mirror keeps
 * a COW's bits only in memory, so a killed daemon's acknowledged writes
 * that were not flushed are lost (src/cow_pending.h says why they must
 * not be).
 *
 * ULOOP_FAILPOINT_PAUSE=FILE turns the armed crash point into a pause: the
 * process creates FILE, waits until FILE is gone, and goes on.  A test uses
 * the pause to change the world at that exact step (e.g. make the flash
 * fail writes in the middle of a commit, tests/vm/test-vm-commit-fail.sh)
 * without depending on timing: the step cannot pass before the test says.
 */
#ifndef ULOOP_FAILPOINT_H
#define ULOOP_FAILPOINT_H

#include <stdbool.h>

#ifdef ULOOP_FAILPOINTS
/* True when this is the armed hit of @name; the caller then does its partial
 * work (for a torn write) and calls ulo_failpoint_die(). */
bool ulo_failpoint_hit(const char *name);
void ulo_failpoint_die(void) __attribute__((noreturn));
/* True, every time, while ULOOP_FAILPOINT is exactly @name. */
bool ulo_failpoint_mode(const char *name);
/* With ULOOP_FAILPOINT_PAUSE set: announce, wait for the test, true. */
bool ulo_failpoint_pause(void);
#else
static inline bool ulo_failpoint_hit(const char *name)
{
	(void)name;
	return false;
}

static inline void ulo_failpoint_die(void)
{
}

static inline bool ulo_failpoint_mode(const char *name)
{
	(void)name;
	return false;
}

static inline bool ulo_failpoint_pause(void)
{
	return false;
}
#endif

/* Crash here if @name is armed (or pause, with ULOOP_FAILPOINT_PAUSE). */
static inline void ulo_failpoint(const char *name)
{
	if (ulo_failpoint_hit(name) && !ulo_failpoint_pause())
		ulo_failpoint_die();
}

#endif
