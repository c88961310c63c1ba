// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-ramwrites.c - the in-memory written pages of --read-write devices:
 * written bytes read back over the image, partial pages merge with the
 * image under them, trims give the image back, the memory limit holds,
 * concurrent writers and readers never see torn pages of other pages,
 * and the image itself (the base) is never written.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ramwrites.h"
#include "unit.h"
#include "util.h"

#define IMG (1024 * 1024 + 1000)	/* not a page multiple */

static uint8_t image[IMG];
static unsigned base_reads;

static int base_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	(void)ctx;
	if (off + len > IMG)
		return -EINVAL;
	__atomic_add_fetch(&base_reads, 1, __ATOMIC_RELAXED);
	memcpy(buf, image + off, len);
	return 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7);
}

static void test_read_through(void)
{
	struct ulo_ramwrites *o;
	static uint8_t buf[IMG];

	CHECK_EQ(ulo_ramwrites_new(IMG, 1 << 20, base_read, NULL, &o), 0);
	CHECK_EQ(ulo_ramwrites_read(o, buf, 0, IMG), 0);
	CHECK(!memcmp(buf, image, IMG));
	CHECK_EQ(ulo_ramwrites_bytes(o), 0);
	ulo_ramwrites_free(o);
}

static void test_write_read(void)
{
	static uint8_t want[IMG], buf[IMG];
	uint8_t data[10000];
	struct ulo_ramwrites *o;
	const struct { uint64_t off; size_t len; } w[] = {
		{ 0, 4096 }, { 5000, 100 }, { 8190, 10 }, { 65536, 10000 },
		{ IMG - 7, 7 }, { IMG - 5000, 5000 },
	};

	memcpy(want, image, IMG);
	CHECK_EQ(ulo_ramwrites_new(IMG, 1 << 20, base_read, NULL, &o), 0);
	for (size_t i = 0; i < ULO_ARRAY_SIZE(w); i++) {
		fill(data, w[i].len, i + 1);
		CHECK_EQ(ulo_ramwrites_write(o, data, w[i].off, w[i].len), 0);
		memcpy(want + w[i].off, data, w[i].len);
	}
	CHECK_EQ(ulo_ramwrites_read(o, buf, 0, IMG), 0);
	CHECK(!memcmp(buf, want, IMG));
	/* Odd windows too. */
	CHECK_EQ(ulo_ramwrites_read(o, buf, 4999, 3003), 0);
	CHECK(!memcmp(buf, want + 4999, 3003));
	/* The image under it was never touched. */
	for (size_t i = 0; i < IMG; i++)
		if (image[i] != (uint8_t)(i * 13 + 5)) {
			CHECK(!"base modified");
			break;
		}
	CHECK_EQ(ulo_ramwrites_write(o, data, IMG - 10, 11), -EINVAL);
	ulo_ramwrites_free(o);
}

static void test_trim(void)
{
	static uint8_t buf[3 * 4096];
	uint8_t data[3 * 4096];
	struct ulo_ramwrites *o;

	CHECK_EQ(ulo_ramwrites_new(IMG, 1 << 20, base_read, NULL, &o), 0);
	fill(data, sizeof(data), 9);
	CHECK_EQ(ulo_ramwrites_write(o, data, 4096, sizeof(data)), 0);
	CHECK_EQ(ulo_ramwrites_bytes(o), 3 * 4096);
	/* Only whole pages go: the partial ones at the edges stay. */
	ulo_ramwrites_trim(o, 4096 + 100, 2 * 4096);
	CHECK_EQ(ulo_ramwrites_bytes(o), 2 * 4096);
	CHECK_EQ(ulo_ramwrites_read(o, buf, 4096, sizeof(buf)), 0);
	CHECK(!memcmp(buf, data, 4096));
	CHECK(!memcmp(buf + 4096, image + 8192, 4096));
	CHECK(!memcmp(buf + 8192, data + 8192, 4096));
	/* A huge discard walks the table. */
	ulo_ramwrites_trim(o, 0, IMG);
	CHECK_EQ(ulo_ramwrites_bytes(o), 0);
	CHECK_EQ(ulo_ramwrites_read(o, buf, 4096, sizeof(buf)), 0);
	CHECK(!memcmp(buf, image + 4096, sizeof(buf)));
	ulo_ramwrites_free(o);
}

static void test_limit(void)
{
	uint8_t data[4096] = { 1 };
	struct ulo_ramwrites *o;

	CHECK_EQ(ulo_ramwrites_new(IMG, 4 * 4096, base_read, NULL, &o), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(ulo_ramwrites_write(o, data, (uint64_t)i * 8192, 4096), 0);
	CHECK_EQ(ulo_ramwrites_write(o, data, 100 * 4096, 4096), -ENOSPC);
	CHECK_STR_CONTAINS(ulo_errmsg(), "used up");
	/* Rewriting a page it has is fine. */
	CHECK_EQ(ulo_ramwrites_write(o, data, 0, 4096), 0);
	ulo_ramwrites_trim(o, 0, 4096);
	CHECK_EQ(ulo_ramwrites_write(o, data, 100 * 4096, 4096), 0);
	ulo_ramwrites_free(o);
}

static struct ulo_ramwrites *shared;

static void *writer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint8_t page[4096], back[4096];

	/* Each thread owns every 4th page; its pages always read back whole. */
	for (int round = 0; round < 50; round++)
		for (uint64_t pg = id; pg < 200; pg += 4) {
			fill(page, sizeof(page), (unsigned)(pg * 100 + round));
			if (ulo_ramwrites_write(shared, page, pg * 4096, 4096) ||
			    ulo_ramwrites_read(shared, back, pg * 4096, 4096) ||
			    memcmp(page, back, 4096))
				return (void *)1;
		}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[4];
	void *r;
	int bad = 0;

	CHECK_EQ(ulo_ramwrites_new(IMG, 8 << 20, base_read, NULL, &shared), 0);
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, writer, (void *)i);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(ulo_ramwrites_bytes(shared), 200 * 4096);
	ulo_ramwrites_free(shared);
}

static volatile bool race_stop;

static void *trimmer(void *arg)
{
	(void)arg;
	while (!race_stop)
		ulo_ramwrites_trim(shared, 0, 4 * 4096);
	return NULL;
}

/* A write racing a trim of the same page: never a write into a page the
 * trim freed (the review's SIGSEGV), and afterwards the page holds the
 * write or the image, nothing else. */
static void test_write_trim_race(void)
{
	uint8_t page[4096], back[4096];
	pthread_t t;
	int bad = 0;

	CHECK_EQ(ulo_ramwrites_new(IMG, 1 << 20, base_read, NULL, &shared), 0);
	pthread_create(&t, NULL, trimmer, NULL);
	fill(page, sizeof(page), 77);
	for (int i = 0; i < 20000; i++) {
		/* Partial writes: they merge with the image under the page. */
		if (ulo_ramwrites_write(shared, page + 100, 4096 + 100, 200))
			bad++;
	}
	race_stop = true;
	pthread_join(t, NULL);
	CHECK_EQ(bad, 0);
	CHECK_EQ(ulo_ramwrites_read(shared, back, 4096, 4096), 0);
	CHECK(!memcmp(back, image + 4096, 100));
	CHECK(!memcmp(back + 300, image + 4096 + 300, 4096 - 300));
	ulo_ramwrites_free(shared);
}

/* Write/trim churn on one page does not grow the table without bound. */
static void test_churn(void)
{
	uint8_t page[4096] = { 3 };

	CHECK_EQ(ulo_ramwrites_new(IMG, 1 << 20, base_read, NULL, &shared), 0);
	for (int i = 0; i < 200000; i++) {
		CHECK_EQ(ulo_ramwrites_write(shared, page, (uint64_t)(i % 200) * 4096, 4096), 0);
		ulo_ramwrites_trim(shared, (uint64_t)(i % 200) * 4096, 4096);
	}
	CHECK_EQ(ulo_ramwrites_bytes(shared), 0);
	ulo_ramwrites_free(shared);
}

int main(void)
{
	for (size_t i = 0; i < IMG; i++)
		image[i] = (uint8_t)(i * 13 + 5);
	UNIT_RUN(test_read_through);
	UNIT_RUN(test_write_read);
	UNIT_RUN(test_trim);
	UNIT_RUN(test_limit);
	UNIT_RUN(test_threads);
	UNIT_RUN(test_write_trim_race);
	UNIT_RUN(test_churn);
	return unit_done();
}
