/* SPDX-License-Identifier: GPL-2.0-or-later */
/* progress.h - a one-line progress bar on stderr for long commands. */
#ifndef ULOOP_PROGRESS_H
#define ULOOP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct ulo_progress {
	bool on;
	uint64_t total;
	uint64_t t0_ns, last_ns;
	uint64_t base;		/* done at start: excluded from the rate */
};

/* @mode: 1 always, 0 never, -1 when stderr is a terminal. */
void ulo_progress_start(struct ulo_progress *p, int mode, uint64_t total,
			uint64_t done);
/* Redraw at most 10 times a second (always when @force). */
void ulo_progress_update(struct ulo_progress *p, uint64_t done, bool force);
void ulo_progress_end(struct ulo_progress *p);

#endif
