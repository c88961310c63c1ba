/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * unit.h - the smallest unit-test harness that does the job.
 *
 * A test file is a main() calling UNIT_RUN(fn) for each case; a failed
 * CHECK prints file:line and the expression and marks the case failed
 * (the case goes on, so one run shows every broken check).  main returns
 * unit_done(): 0 if all passed, 1 otherwise.  Built with ASan+UBSan by
 * the Makefile, so memory errors fail the test too.
 */
#ifndef ULOOP_UNIT_H
#define ULOOP_UNIT_H

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int unit_failed_checks;
static int unit_cases, unit_failed_cases;

#define CHECK(expr)							\
	do {								\
		if (!(expr)) {						\
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n",	\
				__FILE__, __LINE__, #expr);		\
			unit_failed_checks++;				\
		}							\
	} while (0)

#define CHECK_EQ(a, b)							\
	do {								\
		unsigned long long _a = (unsigned long long)(a);	\
		unsigned long long _b = (unsigned long long)(b);	\
		if (_a != _b) {						\
			fprintf(stderr, "  %s:%d: %s == %s failed: %llu != %llu\n", \
				__FILE__, __LINE__, #a, #b, _a, _b);	\
			unit_failed_checks++;				\
		}							\
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)					\
	do {								\
		if (!strstr((hay), (needle))) {				\
			fprintf(stderr, "  %s:%d: \"%s\" lacks \"%s\"\n", \
				__FILE__, __LINE__, (hay), (needle));	\
			unit_failed_checks++;				\
		}							\
	} while (0)

#define UNIT_RUN(fn)							\
	do {								\
		int _before = unit_failed_checks;			\
		unit_cases++;						\
		fn();							\
		if (unit_failed_checks != _before) {			\
			unit_failed_cases++;				\
			fprintf(stderr, "FAIL %s\n", #fn);		\
		} else {						\
			fprintf(stderr, "ok   %s\n", #fn);		\
		}							\
	} while (0)

static inline int unit_rm_one(const char *path, const struct stat *st, int flag,
			      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove a test's scratch directory and all in it. */
static inline void unit_rm_tree(const char *dir)
{
	nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int unit_done(void)
{
	fprintf(stderr, "%d cases, %d failed\n", unit_cases, unit_failed_cases);
	return unit_failed_cases ? 1 : 0;
}

#endif
