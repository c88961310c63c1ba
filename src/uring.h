/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * uring.h - the little of io_uring that the ublk transport needs, on the
 * raw system calls.
 *
 * Why not liburing: ublk needs one operation (IORING_OP_URING_CMD, with
 * 128-byte entries for its control commands), a submit-and-wait and a
 * completion loop; that is about a hundred lines over io_uring_setup(2)
 * and io_uring_enter(2).  Debian 12's liburing-dev (2.3) would do, but
 * it is one more static archive and build dependency for the small
 * binary, and its inline helpers hide the one thing worth seeing here:
 * the memory order of the ring's head and tail.
 *
 * A ring belongs to one thread at a time (ublk insists: a queue's
 * commands must all come from the thread that fetched its first ones).
 */
#ifndef ULOOP_URING_H
#define ULOOP_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/io_uring.h>

struct ulo_uring {
	int fd;
	unsigned sq_entries;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	uint8_t *sqes;
	size_t sqe_size;	/* 64, or 128 with IORING_SETUP_SQE128 */
	unsigned queued;	/* entries filled, not yet submitted */
	void *sq_map, *cq_map;
	size_t sq_map_len, cq_map_len, sqes_len;
};

/* A ring of @entries (a power of two) with @flags (IORING_SETUP_*):
 * 0 or -errno with a message (io_uring disabled: -EPERM/-ENOSYS). */
int ulo_uring_init(struct ulo_uring *r, unsigned entries, unsigned flags);
void ulo_uring_exit(struct ulo_uring *r);
/* A zeroed entry to fill, or NULL if the ring is full (submit first). */
struct io_uring_sqe *ulo_uring_sqe(struct ulo_uring *r);
/* The command area of @sqe (16 bytes, 80 with SQE128). */
static inline void *ulo_uring_cmd(struct io_uring_sqe *sqe)
{
	return sqe->cmd;
}
/* Submit what was filled and wait for at least @wait completions:
 * 0 or -errno (EINTR is retried). */
int ulo_uring_submit(struct ulo_uring *r, unsigned wait);
/* The next completion, or NULL; ulo_uring_seen() consumes it. */
struct io_uring_cqe *ulo_uring_peek(struct ulo_uring *r);
void ulo_uring_seen(struct ulo_uring *r);

#endif
