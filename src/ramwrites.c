// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ramwrites.c - see ramwrites.h.
 *
 * Pages live in an open-addressing hash table keyed by page number (grown
 * at 3/4 full; deleted slots marked, reused on insert).  One rwlock: reads
 * of the table are shared; a write copies into its page under the
 * exclusive lock.  A partial-page write first reads the rest of the page
 * from the image (without the lock), so the page is whole from then on.
 */
#include "ramwrites.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define ULO_EMPTY UINT64_MAX
#define ULO_GONE (UINT64_MAX - 1)

struct ulo_slot {
	uint64_t page;		/* ULO_EMPTY, ULO_GONE or a page number */
	uint8_t *data;
};

struct ulo_ramwrites {
	uint64_t size, limit;
	ulo_base_read_fn base;
	void *ctx;
	pthread_rwlock_t lock;
	struct ulo_slot *slot;	/* lock */
	size_t cap, used, pages;	/* lock; used counts GONE slots too */
};

static size_t ulo_hash(uint64_t page, size_t cap)
{
	return (size_t)((page * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static struct ulo_slot *ulo_find(struct ulo_ramwrites *o, uint64_t page)
{
	for (size_t i = ulo_hash(page, o->cap), n = 0; n < o->cap;
	     i = (i + 1) & (o->cap - 1), n++) {
		if (o->slot[i].page == ULO_EMPTY)
			return NULL;
		if (o->slot[i].page == page)
			return &o->slot[i];
	}
	return NULL;
}

/* Rehash into a table twice the size, or the same size when most used
 * slots are only deleted ones (write/trim churn must not grow it). */
static int ulo_grow(struct ulo_ramwrites *o)
{
	size_t cap = o->pages * 4 < o->cap ? o->cap : o->cap * 2;
	struct ulo_slot *s = malloc(cap * sizeof(*s)), *old = o->slot;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		s[i].page = ULO_EMPTY;
	for (size_t i = 0; i < o->cap; i++) {
		size_t j;

		if (old[i].page >= ULO_GONE)
			continue;
		for (j = ulo_hash(old[i].page, cap); s[j].page != ULO_EMPTY;
		     j = (j + 1) & (cap - 1))
			;
		s[j] = old[i];
	}
	free(old);
	o->slot = s;
	o->cap = cap;
	o->used = o->pages;
	return 0;
}

/* The page's slot, created (with @fill as content) if missing. */
static int ulo_insert(struct ulo_ramwrites *o, uint64_t page, uint8_t *fill,
		      struct ulo_slot **out)
{
	struct ulo_slot *s = ulo_find(o, page);
	size_t i;

	if (s) {
		*out = s;
		return 0;
	}
	if ((o->pages + 1) * ULO_RAMWRITES_PAGE > o->limit)
		return -ENOSPC;
	if ((o->used + 1) * 4 > o->cap * 3 && ulo_grow(o))
		return -ENOMEM;
	for (i = ulo_hash(page, o->cap); o->slot[i].page < ULO_GONE;
	     i = (i + 1) & (o->cap - 1))
		;
	if (o->slot[i].page == ULO_EMPTY)
		o->used++;
	o->slot[i].page = page;
	o->slot[i].data = fill;
	o->pages++;
	*out = &o->slot[i];
	return 0;
}

int ulo_ramwrites_new(uint64_t size, uint64_t limit, ulo_base_read_fn base,
		    void *ctx, struct ulo_ramwrites **out)
{
	struct ulo_ramwrites *o = calloc(1, sizeof(*o));

	if (!o)
		return ulo_errno(-ENOMEM, "--read-write: the written pages");
	o->size = size;
	o->limit = limit;
	o->base = base;
	o->ctx = ctx;
	o->cap = 64;
	o->slot = malloc(o->cap * sizeof(*o->slot));
	if (!o->slot) {
		free(o);
		return ulo_errno(-ENOMEM, "--read-write: the written pages");
	}
	for (size_t i = 0; i < o->cap; i++)
		o->slot[i].page = ULO_EMPTY;
	pthread_rwlock_init(&o->lock, NULL);
	*out = o;
	return 0;
}

int ulo_ramwrites_read(struct ulo_ramwrites *o, void *buf, uint64_t off, size_t len)
{
	uint8_t *p = buf;
	uint64_t end = off + len;
	int ret;

	/* The image first, then the written pages over it. */
	ret = o->base(o->ctx, buf, off, len);
	if (ret)
		return ret;
	pthread_rwlock_rdlock(&o->lock);
	if (o->pages) {
		for (uint64_t pg = off / ULO_RAMWRITES_PAGE; pg * ULO_RAMWRITES_PAGE < end; pg++) {
			struct ulo_slot *s = ulo_find(o, pg);
			uint64_t ps = pg * ULO_RAMWRITES_PAGE;
			uint64_t a = ULO_MAX(ps, off), b = ULO_MIN(ps + ULO_RAMWRITES_PAGE, end);

			if (s)
				memcpy(p + (a - off), s->data + (a - ps), b - a);
		}
	}
	pthread_rwlock_unlock(&o->lock);
	return 0;
}

int ulo_ramwrites_write(struct ulo_ramwrites *o, const void *buf, uint64_t off,
		      size_t len)
{
	const uint8_t *p = buf;
	uint64_t end = off + len;
	int ret = 0;

	if (off > o->size || len > o->size - off)
		return ulo_err(-EINVAL, "--read-write: write past the end");
	for (uint64_t pg = off / ULO_RAMWRITES_PAGE; pg * ULO_RAMWRITES_PAGE < end && !ret; pg++) {
		uint64_t ps = pg * ULO_RAMWRITES_PAGE;
		uint64_t a = ULO_MAX(ps, off), b = ULO_MIN(ps + ULO_RAMWRITES_PAGE, end);
		size_t plen = ULO_MIN((uint64_t)ULO_RAMWRITES_PAGE, o->size - ps);
		uint8_t *fill = NULL;
		struct ulo_slot *s;

		/* Under the write lock the page either exists (write into it)
		 * or we bring a whole new one, read from the image without
		 * the lock; a trim in between sends us round again. */
		for (;;) {
			pthread_rwlock_wrlock(&o->lock);
			s = ulo_find(o, pg);
			if (s || fill)
				break;
			pthread_rwlock_unlock(&o->lock);
			fill = calloc(1, ULO_RAMWRITES_PAGE);
			if (!fill)
				return ulo_errno(-ENOMEM, "--read-write: page");
			if ((a != ps || b - ps != plen) && (ret = o->base(o->ctx, fill, ps, plen))) {
				free(fill);
				return ret;
			}
		}
		if (!s) {
			ret = ulo_insert(o, pg, fill, &s);
			if (ret)
				free(fill);
		} else {
			free(fill);
		}
		if (!ret)
			memcpy(s->data + (a - ps), p + (a - off), b - a);
		pthread_rwlock_unlock(&o->lock);
	}
	if (ret == -ENOSPC)
		return ulo_err(ret, "--read-write: the %llu MiB of memory for writes are used up",
			       (unsigned long long)(o->limit >> 20));
	return ret ? ulo_errno(ret, "--read-write") : 0;
}

void ulo_ramwrites_trim(struct ulo_ramwrites *o, uint64_t off, uint64_t len)
{
	uint64_t first = ULO_DIV_ROUND_UP(off, ULO_RAMWRITES_PAGE);
	uint64_t end = (off + len) / ULO_RAMWRITES_PAGE;

	pthread_rwlock_wrlock(&o->lock);
	if (end > first && end - first > o->cap) {
		/* A big discard (mkfs, fstrim): walk the table, not the range. */
		for (size_t i = 0; i < o->cap; i++) {
			struct ulo_slot *s = &o->slot[i];

			if (s->page < ULO_GONE && s->page >= first && s->page < end) {
				free(s->data);
				s->data = NULL;
				s->page = ULO_GONE;
				o->pages--;
			}
		}
	} else {
		for (uint64_t pg = first; pg < end && o->pages; pg++) {
			struct ulo_slot *s = ulo_find(o, pg);

			if (s) {
				free(s->data);
				s->data = NULL;
				s->page = ULO_GONE;
				o->pages--;
			}
		}
	}
	pthread_rwlock_unlock(&o->lock);
}

uint64_t ulo_ramwrites_bytes(struct ulo_ramwrites *o)
{
	uint64_t n;

	pthread_rwlock_rdlock(&o->lock);
	n = (uint64_t)o->pages * ULO_RAMWRITES_PAGE;
	pthread_rwlock_unlock(&o->lock);
	return n;
}

void ulo_ramwrites_free(struct ulo_ramwrites *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->cap; i++)
		if (o->slot[i].page < ULO_GONE)
			free(o->slot[i].data);
	free(o->slot);
	pthread_rwlock_destroy(&o->lock);
	free(o);
}
