// SPDX-License-Identifier: GPL-2.0-or-later
/* progress.c - see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "util.h"

void ulo_progress_start(struct ulo_progress *p, int mode, uint64_t total,
			uint64_t done)
{
	p->on = mode > 0 || (mode < 0 && isatty(STDERR_FILENO));
	p->total = total;
	p->base = done;
	p->t0_ns = p->last_ns = ulo_now_ns();
}

void ulo_progress_update(struct ulo_progress *p, uint64_t done, bool force)
{
	char a[32], b[32], r[32];
	uint64_t now = ulo_now_ns();
	double secs = (now - p->t0_ns) / 1e9;
	unsigned pct = p->total ? (unsigned)(done * 100 / p->total) : 100;
	char bar[31];

	if (!p->on || (!force && now - p->last_ns < 100000000ull))
		return;
	p->last_ns = now;
	for (unsigned i = 0; i < 30; i++)
		bar[i] = i < pct * 30 / 100 ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %3u%% %s / %s  %s/s   ", bar, pct,
		ulo_fmt_size(done, a, sizeof(a)),
		ulo_fmt_size(p->total, b, sizeof(b)),
		ulo_fmt_size(secs > 0 ? (uint64_t)((done - p->base) / secs) : 0,
			     r, sizeof(r)));
	fflush(stderr);
}

void ulo_progress_end(struct ulo_progress *p)
{
	if (p->on)
		fputc('\n', stderr);
}
