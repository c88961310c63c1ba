// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-profile.c - boot profiles (profile.c) and the hydrate option
 * (fill.c's parser).
 *
 * What must hold: the recorder keeps first-use order and each block once,
 * joining neighbours into extents, and stops (keeping what it has) when
 * full, each extent with the time of its first read; what is written
 * parses back the same, with or without those times; a profile that is cut
 * short, has a stray line, an extent past the image or any other damage
 * is refused with its line named, never half used; a profile of another
 * image or version does not match; the replay plan merges what is close
 * within a window, in offset order, never past the image's end, and
 * covers every extent exactly once across windows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fill.h"
#include "profile.h"
#include "util.h"
#include "unit.h"

static const struct ulo_identity img = {
	.kind = ULO_ID_HTTP_ETAG, .size = 100 * 4096 + 10,
	.validator = "\"5f2b-a\\\"b\"", .location = "http://h/img",
};

static void test_record(void)
{
	struct ulo_profile_rec r;
	struct ulo_profile p;

	CHECK_EQ(ulo_profile_rec_init(&r, img.size, 4096), 0);
	ulo_profile_rec_note(&r, 0, 1);
	ulo_profile_rec_note(&r, 50, 3);
	ulo_profile_rec_note(&r, 53, 2);	/* joins 50..52 */
	ulo_profile_rec_note(&r, 0, 2);		/* 0 seen: only 1, after 54 */
	ulo_profile_rec_note(&r, 2, 1);		/* joins 1 */
	ulo_profile_rec_note(&r, 99, 5);	/* cut at the image end: 99, 100 */
	ulo_profile_rec_note(&r, 51, 1);	/* seen */
	CHECK_EQ(ulo_profile_rec_snapshot(&r, &img, &p), 0);
	CHECK_EQ(p.n, 4);
	CHECK(p.n == 4 && p.ext[0].start == 0 && p.ext[0].n == 1);
	CHECK(p.n == 4 && p.ext[1].start == 50 && p.ext[1].n == 5);
	CHECK(p.n == 4 && p.ext[2].start == 1 && p.ext[2].n == 2);
	CHECK(p.n == 4 && p.ext[3].start == 99 && p.ext[3].n == 2);
	CHECK_EQ(p.size, img.size);
	CHECK_EQ(p.unit, 4096);
	ulo_profile_free(&p);
	ulo_profile_rec_free(&r);
}

static void test_record_full(void)
{
	struct ulo_profile_rec r;
	struct ulo_profile p;
	uint64_t units = 3 * (uint64_t)ULO_PROFILE_MAX_EXTENTS;

	/* Every other block: one extent each, until the cap. */
	CHECK_EQ(ulo_profile_rec_init(&r, units * 512, 512), 0);
	for (uint64_t u = 0; u < units; u += 2)
		ulo_profile_rec_note(&r, u, 1);
	CHECK(r.full);
	CHECK_EQ(ulo_profile_rec_snapshot(&r, &img, &p), 0);
	CHECK_EQ(p.n, ULO_PROFILE_MAX_EXTENTS);
	CHECK(p.n && p.ext[p.n - 1].start == 2 * (uint64_t)(ULO_PROFILE_MAX_EXTENTS - 1));
	ulo_profile_free(&p);
	ulo_profile_rec_free(&r);
}

/* Write @p to a string (the caller frees). */
static char *to_text_times(const struct ulo_profile *p, bool times, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		abort();
	CHECK_EQ(ulo_profile_write(p, times, f), 0);
	fclose(f);
	return buf;
}

static char *to_text(const struct ulo_profile *p, size_t *len)
{
	return to_text_times(p, false, len);
}

/* The recorder stamps each new extent with the ms since it began; an
 * extent that grows keeps its first time; --times writes them and they
 * parse back; plain output leaves them out (an older parser wants two
 * numbers a line). */
static void test_times(void)
{
	struct ulo_profile_rec r;
	struct ulo_profile p, q;
	size_t len;
	char *text;

	CHECK_EQ(ulo_profile_rec_init(&r, img.size, 4096), 0);
	ulo_profile_rec_note(&r, 10, 1);
	usleep(30000);
	ulo_profile_rec_note(&r, 11, 1);	/* joins 10: keeps its time */
	ulo_profile_rec_note(&r, 40, 2);
	CHECK_EQ(ulo_profile_rec_snapshot(&r, &img, &p), 0);
	CHECK_EQ(p.n, 2);
	CHECK(p.n == 2 && p.ext[0].ms < 30 && p.ext[1].ms >= 30 && p.ext[1].ms < 5000);
	p.ext[0].ms = 7;
	p.ext[1].ms = 1234;
	text = to_text_times(&p, true, &len);
	CHECK_STR_CONTAINS(text, "extents 2\n10 2 7\n40 2 1234\n");
	CHECK_EQ(ulo_profile_parse(text, len, "p", &q), 0);
	CHECK(q.n == 2 && q.ext[0].ms == 7 && q.ext[1].start == 40 && q.ext[1].ms == 1234);
	ulo_profile_free(&q);
	free(text);
	text = to_text(&p, &len);
	CHECK_STR_CONTAINS(text, "extents 2\n10 2\n40 2\n");
	CHECK_EQ(ulo_profile_parse(text, len, "p", &q), 0);
	CHECK(q.n == 2 && q.ext[0].ms == 0 && q.ext[1].ms == 0);
	ulo_profile_free(&q);
	free(text);
	ulo_profile_free(&p);
	ulo_profile_rec_free(&r);
}

static void test_roundtrip(void)
{
	struct ulo_extent ext[] = { { 7, 3, 0 }, { 0, 1, 0 }, { 99, 2, 0 } };
	struct ulo_profile p = { .size = img.size, .kind = img.kind, .unit = 4096,
				 .ext = ext, .n = 3 }, q;
	char why[256];
	size_t len;
	char *text;

	snprintf(p.validator, sizeof(p.validator), "%s", img.validator);
	text = to_text(&p, &len);
	CHECK_STR_CONTAINS(text, "uloop-profile 1\nsize 409610\nvalidator etag \"\\\"5f2b-a\\\\\\\"b\\\"\"\nunit 4096\nextents 3\n7 3\n0 1\n99 2\n");
	CHECK_EQ(ulo_profile_parse(text, len, "p", &q), 0);
	CHECK_EQ(q.n, 3);
	CHECK(q.n == 3 && q.ext[0].start == 7 && q.ext[2].n == 2);
	CHECK(!strcmp(q.validator, img.validator));
	CHECK(ulo_profile_matches(&q, &img, why, sizeof(why)));
	ulo_profile_free(&q);
	free(text);
}

static void expect_refused(const char *text, const char *msg)
{
	struct ulo_profile q;

	CHECK_EQ(ulo_profile_parse(text, strlen(text), "http://h/boot.profile", &q), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "http://h/boot.profile: ");
	CHECK_STR_CONTAINS(ulo_errmsg(), msg);
	CHECK(!q.ext);
}

static void test_refused(void)
{
#define HEAD "uloop-profile 1\nsize 409610\nvalidator etag \"x\"\nunit 4096\n"
	expect_refused("", "not a boot profile");
	expect_refused("<html>404</html>\n", "not a boot profile");
	expect_refused("uloop-profile 2\n", "not a boot profile");
	expect_refused(HEAD "extents 2\n0 1\n", "1 of the 2 extents");
	expect_refused(HEAD "extents 2\n0 1\n5 1", "line 7: not understood (too long, no newline");
	expect_refused(HEAD "extents 1\n0 1\n5 1\n", "line 7: more than the 1 extents");
	expect_refused(HEAD "extents 1\n0 0\n", "line 6: not understood");
	expect_refused(HEAD "extents 1\n-1 1\n", "line 6: not understood");
	expect_refused(HEAD "extents 1\n0  1\n", "line 6: not understood");
	expect_refused(HEAD "extents 1\n0 1 \n", "line 6: not understood");
	expect_refused(HEAD "extents 1\n0 1 5 6\n", "line 6: not understood");
	expect_refused(HEAD "extents 1\n0 1 x\n", "line 6: not understood");
	expect_refused(HEAD "extents 1\n100 2\n", "line 6: extent past the image's end");
	expect_refused(HEAD "extents 1\n18446744073709551615 2\n", "past the image's end");
	expect_refused(HEAD "extents 1\n99999999999999999999 1\n", "line 6: not understood");
	expect_refused(HEAD "extents 99999999\n", "at most");
	expect_refused("uloop-profile 1\nsize 409610\nvalidator etag \"x\"\nunit 4000\nextents 0\n",
		       "not a power of two");
	expect_refused("uloop-profile 1\nsize 409610\nvalidator nonsense \"x\"\nunit 4096\nextents 0\n",
		       "line 3: not understood");
	expect_refused("uloop-profile 1\nsize 409610\nvalidator etag \"x\nunit 4096\nextents 0\n",
		       "line 3: not understood");
	expect_refused("uloop-profile 1\nunit 4096\n", "line 2: not understood");
	{
		char nul[] = HEAD "extents 1\n0 1\n";

		nul[3] = '\0';
		CHECK_EQ(ulo_profile_parse(nul, sizeof(nul) - 1, "x", &(struct ulo_profile){ 0 }), -EINVAL);
	}
#undef HEAD
}

static void test_matches(void)
{
	struct ulo_profile p = { .size = img.size, .kind = img.kind, .unit = 4096 };
	struct ulo_identity other = img;
	char why[512];

	snprintf(p.validator, sizeof(p.validator), "%s", img.validator);
	CHECK(ulo_profile_matches(&p, &img, why, sizeof(why)));
	other.size++;
	CHECK(!ulo_profile_matches(&p, &other, why, sizeof(why)));
	CHECK_STR_CONTAINS(why, "an image of 409610 bytes, this one has 409611");
	other = img;
	snprintf(other.validator, sizeof(other.validator), "\"new\"");
	CHECK(!ulo_profile_matches(&p, &other, why, sizeof(why)));
	CHECK_STR_CONTAINS(why, "another version");
	other = img;
	other.kind = ULO_ID_HTTP_LASTMOD;
	CHECK(!ulo_profile_matches(&p, &other, why, sizeof(why)));
}

static void test_plan(void)
{
	/* First-use order: 50, 10, 12, 30, then 99 (the short last unit). */
	struct ulo_extent ext[] = { { 50, 2, 0 }, { 10, 1, 0 }, { 12, 1, 0 }, { 30, 4, 0 },
				    { 100, 1, 0 }, { 0, 1, 0 } };
	struct ulo_profile p = { .size = img.size, .unit = 4096, .ext = ext, .n = 6 };
	struct ulo_byte_range r[8];
	size_t pos = 0, n;

	/* A window of just over 3 units' bytes takes 50, 10, 12 (extents
	 * are taken while the window is not yet full): sorted, 10 and 12
	 * merged (a gap of one unit), 50 alone. */
	n = ulo_profile_plan(&p, &pos, 3 * 4096 + 1, 4096, r, 8);
	CHECK_EQ(n, 2);
	CHECK_EQ(pos, 3);
	CHECK(n == 2 && r[0].off == 10 * 4096 && r[0].len == 3 * 4096);
	CHECK(n == 2 && r[1].off == 50 * 4096 && r[1].len == 2 * 4096);
	/* The next window: 30..33, then 100 (10 bytes, the image's end). */
	n = ulo_profile_plan(&p, &pos, 4 * 4096, 0, r, 8);
	CHECK_EQ(n, 1);
	CHECK(r[0].off == 30 * 4096 && r[0].len == 4 * 4096);
	n = ulo_profile_plan(&p, &pos, 1, 0, r, 8);
	CHECK(n == 1 && r[0].off == 100 * 4096 && r[0].len == 10);
	n = ulo_profile_plan(&p, &pos, 1 << 30, 1 << 30, r, 8);
	CHECK(n == 1 && r[0].off == 0 && r[0].len == 4096);
	CHECK_EQ(ulo_profile_plan(&p, &pos, 1 << 30, 0, r, 8), 0);
	/* A cap of ranges ends the window early; nothing is lost. */
	pos = 0;
	n = ulo_profile_plan(&p, &pos, 1 << 30, 0, r, 2);
	CHECK_EQ(n, 2);
	CHECK_EQ(pos, 2);
	/* Without a gap, neighbours still merge; overlaps too. */
	{
		struct ulo_extent e2[] = { { 5, 2, 0 }, { 7, 1, 0 }, { 4, 2, 0 } };
		struct ulo_profile p2 = { .size = img.size, .unit = 4096, .ext = e2, .n = 3 };

		pos = 0;
		n = ulo_profile_plan(&p2, &pos, 1 << 30, 0, r, 8);
		CHECK(n == 1 && r[0].off == 4 * 4096 && r[0].len == 4 * 4096);
	}
}

static void test_hydrate_spec(void)
{
	uint64_t rate;
	unsigned j;

	CHECK_EQ(ulo_parse_hydrate(NULL, &rate, &j), 0);
	CHECK(rate == 0 && j == 0);
	CHECK_EQ(ulo_parse_hydrate("8M", &rate, &j), 0);
	CHECK(rate == 8 << 20 && j == 0);
	CHECK_EQ(ulo_parse_hydrate("1G,jitter=30", &rate, &j), 0);
	CHECK(rate == 1ull << 30 && j == 30);
	CHECK_EQ(ulo_parse_hydrate("max,jitter=5", &rate, &j), 0);
	CHECK(rate == 0 && j == 5);
	CHECK_EQ(ulo_parse_hydrate(",jitter=5", &rate, &j), 0);
	CHECK(rate == 0 && j == 5);
	CHECK_EQ(ulo_parse_hydrate("0", &rate, &j), 0);
	CHECK_EQ(rate, 0);
	CHECK_EQ(ulo_parse_hydrate("fast", &rate, &j), -EINVAL);
	CHECK_EQ(ulo_parse_hydrate("8M,jitter=", &rate, &j), -EINVAL);
	CHECK_EQ(ulo_parse_hydrate("8M,jitter=-1", &rate, &j), -EINVAL);
	CHECK_EQ(ulo_parse_hydrate("8M,jitter=1x", &rate, &j), -EINVAL);
	CHECK_EQ(ulo_parse_hydrate("8M,jitter=100000", &rate, &j), -EINVAL);
	CHECK_EQ(ulo_parse_hydrate("8M,delay=5", &rate, &j), -EINVAL);
	CHECK_EQ(ulo_parse_hydrate(",", &rate, &j), -EINVAL);
}

int main(void)
{
	UNIT_RUN(test_record);
	UNIT_RUN(test_record_full);
	UNIT_RUN(test_roundtrip);
	UNIT_RUN(test_times);
	UNIT_RUN(test_refused);
	UNIT_RUN(test_matches);
	UNIT_RUN(test_plan);
	UNIT_RUN(test_hydrate_spec);
	return unit_done();
}
