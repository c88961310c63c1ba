// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * uring.c - see uring.h.
 *
 * The rings are shared with the kernel: we write the submission tail and
 * the completion head, it writes the others.  Our tail is published with
 * a release store once the entries are filled; the completion tail is read
 * with an acquire load before the entries it covers.  One mapping per
 * area (the rings, the entries), as io_uring_setup(2) describes; kernels
 * with IORING_FEAT_SINGLE_MMAP would take one, two are valid everywhere.
 */
#include "uring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

static int uring_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int uring_enter(int fd, unsigned submit, unsigned wait, unsigned flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

int ulo_uring_init(struct ulo_uring *r, unsigned entries, unsigned flags)
{
	struct io_uring_params p;
	uint8_t *sq, *cq;

	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	r->fd = uring_setup(entries, &p);
	if (r->fd < 0) {
		int err = -errno;

		r->fd = -1;
		/* kernel.io_uring_disabled, or a kernel built without it. */
		return ulo_errno(err, "io_uring_setup%s", err == -EPERM || err == -ENOSYS ?
				 " (io_uring disabled on this kernel: sysctl kernel.io_uring_disabled)" : "");
	}
	r->sq_entries = p.sq_entries;
	r->sqe_size = flags & IORING_SETUP_SQE128 ? 128 : 64;
	r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	r->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	r->sqes_len = p.sq_entries * r->sqe_size;
	r->sq_map = mmap(NULL, r->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			 r->fd, IORING_OFF_SQ_RING);
	r->cq_map = mmap(NULL, r->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			 r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       r->fd, IORING_OFF_SQES);
	if (r->sq_map == MAP_FAILED || r->cq_map == MAP_FAILED || r->sqes == MAP_FAILED) {
		int err = ulo_errno(-errno, "io_uring: mapping the rings");

		ulo_uring_exit(r);
		return err;
	}
	sq = r->sq_map;
	cq = r->cq_map;
	r->sq_head = (unsigned *)(sq + p.sq_off.head);
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

void ulo_uring_exit(struct ulo_uring *r)
{
	if (r->sq_map && r->sq_map != MAP_FAILED)
		munmap(r->sq_map, r->sq_map_len);
	if (r->cq_map && r->cq_map != MAP_FAILED)
		munmap(r->cq_map, r->cq_map_len);
	if (r->sqes && r->sqes != MAP_FAILED)
		munmap(r->sqes, r->sqes_len);
	if (r->fd >= 0)
		close(r->fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

struct io_uring_sqe *ulo_uring_sqe(struct ulo_uring *r)
{
	unsigned head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	unsigned tail = *r->sq_tail + r->queued;
	struct io_uring_sqe *sqe;
	unsigned idx;

	if (tail - head >= r->sq_entries)
		return NULL;
	idx = tail & *r->sq_mask;
	sqe = (struct io_uring_sqe *)(r->sqes + (size_t)idx * r->sqe_size);
	memset(sqe, 0, r->sqe_size);
	r->sq_array[idx] = idx;
	r->queued++;
	return sqe;
}

int ulo_uring_submit(struct ulo_uring *r, unsigned wait)
{
	unsigned pending;

	if (r->queued)
		__atomic_store_n(r->sq_tail, *r->sq_tail + r->queued, __ATOMIC_RELEASE);
	r->queued = 0;
	/* Entries a previous call left (the kernel stops at one it could
	 * not take) go with this one: all between its head and our tail. */
	pending = *r->sq_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	for (;;) {
		if (uring_enter(r->fd, pending, wait, wait ? IORING_ENTER_GETEVENTS : 0) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
		pending = *r->sq_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	}
}

struct io_uring_cqe *ulo_uring_peek(struct ulo_uring *r)
{
	unsigned head = *r->cq_head;

	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return NULL;
	return &r->cqes[head & *r->cq_mask];
}

void ulo_uring_seen(struct ulo_uring *r)
{
	__atomic_store_n(r->cq_head, *r->cq_head + 1, __ATOMIC_RELEASE);
}
