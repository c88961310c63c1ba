// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ramstore.c - fetched blocks kept in memory (see ramstore.h).
 *
 * One pointer per block, published with a release store once the block's
 * copy is complete, read with an acquire load: readers take no lock.
 * Writers serialize on a mutex only to keep the byte count and the budget
 * exact.
 */
#include "ramstore.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ulo_ramstore {
	uint64_t nblocks, block_size, image_size, budget;
	uint64_t bytes;		/* held; lock */
	pthread_mutex_t lock;
	uint8_t **blocks;	/* NULL or the block's bytes */
};

struct ulo_ramstore *ulo_ram_new(uint64_t nblocks, uint64_t block_size,
				 uint64_t image_size, uint64_t budget)
{
	struct ulo_ramstore *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->blocks = calloc(nblocks ? nblocks : 1, sizeof(*rs->blocks));
	if (!rs->blocks) {
		free(rs);
		return NULL;
	}
	rs->nblocks = nblocks;
	rs->block_size = block_size;
	rs->image_size = image_size;
	rs->budget = budget;
	pthread_mutex_init(&rs->lock, NULL);
	return rs;
}

void ulo_ram_free(struct ulo_ramstore *rs)
{
	if (!rs)
		return;
	for (uint64_t i = 0; i < rs->nblocks; i++)
		free(rs->blocks[i]);
	free(rs->blocks);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

static uint64_t ulo_ram_block_len(const struct ulo_ramstore *rs, uint64_t blk)
{
	uint64_t start = blk * rs->block_size;

	return rs->image_size - start < rs->block_size ? rs->image_size - start :
							  rs->block_size;
}

uint64_t ulo_ram_put(struct ulo_ramstore *rs, uint64_t blk, uint64_t n,
		     const uint8_t *buf)
{
	uint64_t added = 0;

	for (uint64_t i = 0; i < n && blk + i < rs->nblocks; i++) {
		uint64_t b = blk + i, len = ulo_ram_block_len(rs, b);
		uint8_t *copy;

		if (__atomic_load_n(&rs->blocks[b], __ATOMIC_ACQUIRE))
			continue;
		pthread_mutex_lock(&rs->lock);
		if (rs->blocks[b] || rs->bytes + len > rs->budget) {
			pthread_mutex_unlock(&rs->lock);
			continue;
		}
		copy = malloc(len);
		if (copy) {
			memcpy(copy, buf + i * rs->block_size, len);
			rs->bytes += len;
			__atomic_store_n(&rs->blocks[b], copy, __ATOMIC_RELEASE);
			added++;
		}
		pthread_mutex_unlock(&rs->lock);
	}
	return added;
}

bool ulo_ram_has(const struct ulo_ramstore *rs, uint64_t blk)
{
	return rs && blk < rs->nblocks &&
	       __atomic_load_n(&rs->blocks[blk], __ATOMIC_ACQUIRE);
}

bool ulo_ram_copy(const struct ulo_ramstore *rs, uint64_t blk, uint64_t off,
		  size_t len, uint8_t *dst)
{
	const uint8_t *p;
	uint64_t start = blk * rs->block_size;

	if (!rs || blk >= rs->nblocks || off < start ||
	    off + len > start + ulo_ram_block_len(rs, blk))
		return false;
	p = __atomic_load_n(&rs->blocks[blk], __ATOMIC_ACQUIRE);
	if (!p)
		return false;
	memcpy(dst, p + (off - start), len);
	return true;
}

uint64_t ulo_ram_bytes(const struct ulo_ramstore *rs)
{
	uint64_t n;

	if (!rs)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&rs->lock);
	n = rs->bytes;
	pthread_mutex_unlock((pthread_mutex_t *)&rs->lock);
	return n;
}

uint64_t ulo_ram_default_budget(uint64_t image_size)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t quarter = pages > 0 && psize > 0 ? (uint64_t)pages * psize / 4 : 0;

	return quarter < image_size ? quarter : image_size;
}
