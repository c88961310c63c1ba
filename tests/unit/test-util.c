// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-util.c - size parsing and formatting, error messages, the
 * little-endian codec and the JSON writer.
 *
 * These are small, but each one faces the user or the disk: a size parsed
 * wrong makes a cache of the wrong size, a message without its cause
 * leaves the user guessing, a codec slip corrupts every header, and the
 * --json output is read by scripts that break on one stray comma.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

static void expect_size(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeef;
	int ret = ulo_parse_size(s, &v);

	if (ret || v != want)
		fprintf(stderr, "  parse \"%s\": ret %d, value %llu\n", s, ret,
			(unsigned long long)v);
	CHECK_EQ(ret, 0);
	CHECK_EQ(v, want);
}

static void expect_bad_size(const char *s)
{
	uint64_t v = 0xdeadbeef;
	int ret = ulo_parse_size(s, &v);

	if (ret != -EINVAL)
		fprintf(stderr, "  parse \"%s\": ret %d, value %llu\n", s, ret,
			(unsigned long long)v);
	CHECK_EQ(ret, -EINVAL);
	CHECK_EQ(v, 0xdeadbeef);	/* untouched on error */
}

static void test_parse_size_ok(void)
{
	expect_size("0", 0);
	expect_size("4096", 4096);
	expect_size("64K", 64 * 1024);
	expect_size("64k", 64 * 1024);
	expect_size("4M", 4ull << 20);
	expect_size("1G", 1ull << 30);
	expect_size("1KiB", 1024);
	expect_size("2MB", 2ull << 20);
	expect_size("3g", 3ull << 30);
	expect_size("2T", 2ull << 40);
	expect_size("1kb", 1024);
	expect_size("7mib", 7ull << 20);
	expect_size("0K", 0);
	expect_size("18446744073709551615", UINT64_MAX);
	/* The largest value each suffix allows. */
	expect_size("17179869183G", 17179869183ull << 30);
	expect_size("15E", 15ull << 60);
}

static void test_parse_size_bad(void)
{
	expect_bad_size("");
	expect_bad_size("-1");
	expect_bad_size("+1");
	expect_bad_size(" 1");
	expect_bad_size("12Q");
	expect_bad_size("K");
	expect_bad_size("KiB");
	expect_bad_size("1.5M");
	expect_bad_size("99999999999999999999");
	expect_bad_size("18446744073709551616");
	expect_bad_size("17179869184G");
	expect_bad_size("16E");
	expect_bad_size("1KK");
	expect_bad_size("1KiBB");
	expect_bad_size("1 K");
	expect_bad_size("1K ");
	expect_bad_size("0x10");
	expect_bad_size("4096\n");
	CHECK_EQ(ulo_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

/*
 * strtoull() skips any leading white space and then takes a sign, so the
 * up-front check for '-', '+' and ' ' must not be the only guard: "\t-1"
 * is a negative number, not 2^64 - 1.
 */
static void test_parse_size_leading_space(void)
{
	expect_bad_size("\t-1");
	expect_bad_size("\n-1");
	expect_bad_size("\t+5");
	expect_bad_size("\t5");
	expect_bad_size("\v4K");
}

static void test_fmt_size(void)
{
	static const struct {
		uint64_t n;
		const char *s;
	} cases[] = {
		{ 0, "0 B" },
		{ 1, "1 B" },
		{ 1023, "1023 B" },
		{ 1024, "1 KiB" },
		{ 1536, "1.5 KiB" },
		{ 65536, "64 KiB" },
		{ 1ull << 20, "1 MiB" },
		{ 1048576 + 104858, "1.1 MiB" },
		{ 3ull << 29, "1.5 GiB" },
		{ 1ull << 40, "1 TiB" },
		{ 1ull << 50, "1 PiB" },
		{ 1ull << 60, "1024 PiB" },	/* PiB is the largest unit */
		{ UINT64_MAX, "16384 PiB" },
	};
	char buf[32], small[5];

	for (size_t i = 0; i < ULO_ARRAY_SIZE(cases); i++) {
		memset(buf, 'x', sizeof(buf));
		CHECK(ulo_fmt_size(cases[i].n, buf, sizeof(buf)) == buf);
		if (strcmp(buf, cases[i].s))
			fprintf(stderr, "  fmt %llu: \"%s\", want \"%s\"\n",
				(unsigned long long)cases[i].n, buf, cases[i].s);
		CHECK(!strcmp(buf, cases[i].s));
	}
	/* A short buffer truncates. */
	ulo_fmt_size(65536, small, sizeof(small));
	CHECK(!strcmp(small, "64 K"));
}

static void test_err_messages(void)
{
	char big[2000];

	CHECK_EQ(ulo_err(-EINVAL, "cache %s: bad %d", "/x/y", 42), -EINVAL);
	CHECK(!strcmp(ulo_errmsg(), "cache /x/y: bad 42"));
	CHECK_EQ(ulo_errno(-ENOENT, "%s: open", "/nope"), -ENOENT);
	CHECK(!strcmp(ulo_errmsg(), "/nope: open: No such file or directory"));
	CHECK_EQ(ulo_errno(-EIO, "read"), -EIO);
	CHECK_STR_CONTAINS(ulo_errmsg(), "read: ");
	CHECK_STR_CONTAINS(ulo_errmsg(), strerror(EIO));
	/* ulo_err never appends a cause. */
	ulo_err(-EIO, "plain");
	CHECK(!strcmp(ulo_errmsg(), "plain"));
	ulo_set_errmsg("carried over");
	CHECK(!strcmp(ulo_errmsg(), "carried over"));

	/* Overlong messages are truncated, never overflow. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ulo_errno(-EIO, "%s", big);
	CHECK(strlen(ulo_errmsg()) < 1024);
	CHECK(strlen(ulo_errmsg()) > 1000);
	ulo_set_errmsg(big);
	CHECK(strlen(ulo_errmsg()) < 1024);
}

static void *other_thread(void *arg)
{
	(void)arg;
	ulo_err(-EIO, "worker message");
	return strdup(ulo_errmsg());
}

static void test_err_per_thread(void)
{
	pthread_t t;
	void *msg = NULL;

	ulo_err(-EINVAL, "main message");
	CHECK_EQ(pthread_create(&t, NULL, other_thread, NULL), 0);
	pthread_join(t, &msg);
	CHECK(msg && !strcmp(msg, "worker message"));
	CHECK(!strcmp(ulo_errmsg(), "main message"));
	free(msg);
}

static void test_le_codec(void)
{
	uint8_t b[8];

	ulo_put_le16(b, 0x1234);
	CHECK_EQ(b[0], 0x34);
	CHECK_EQ(b[1], 0x12);
	CHECK_EQ(ulo_get_le16(b), 0x1234);
	ulo_put_le32(b, 0x89abcdefu);
	CHECK_EQ(b[0], 0xef);
	CHECK_EQ(b[3], 0x89);
	CHECK_EQ(ulo_get_le32(b), 0x89abcdefu);
	ulo_put_le64(b, 0x0123456789abcdefull);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(b[i], (0x0123456789abcdefull >> (8 * i)) & 0xff);
	CHECK_EQ(ulo_get_le64(b), 0x0123456789abcdefull);

	/* High bits survive (no sign extension on the way back). */
	ulo_put_le16(b, 0xffff);
	CHECK_EQ(ulo_get_le16(b), 0xffff);
	ulo_put_le32(b, 0x80000001u);
	CHECK_EQ(ulo_get_le32(b), 0x80000001u);
	ulo_put_le64(b, 0x8000000080000000ull);
	CHECK_EQ(ulo_get_le64(b), 0x8000000080000000ull);
	ulo_put_le64(b, UINT64_MAX);
	CHECK_EQ(ulo_get_le64(b), UINT64_MAX);
	for (uint64_t v = 1; v; v <<= 1) {
		ulo_put_le64(b, v);
		CHECK_EQ(ulo_get_le64(b), v);
	}
}

static char *json_run(void (*fn)(struct ulo_json *j))
{
	struct ulo_json j;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	if (!f)
		return strdup("");
	ulo_json_init(&j, f);
	fn(&j);
	fclose(f);
	return buf;
}

static void json_nested(struct ulo_json *j)
{
	ulo_json_obj_begin(j, NULL);
	ulo_json_u64(j, "a", 1);
	ulo_json_obj_begin(j, "b");
	ulo_json_str(j, "s", "q\"b\\n\nc\x01" "d\te\x7f");
	ulo_json_bool(j, "t", true);
	ulo_json_bool(j, "f", false);
	ulo_json_arr_begin(j, "arr");
	ulo_json_u64(j, NULL, 1);
	ulo_json_u64(j, NULL, UINT64_MAX);
	ulo_json_obj_begin(j, NULL);
	ulo_json_str(j, "k\"ey", NULL);
	ulo_json_obj_end(j);
	ulo_json_arr_begin(j, NULL);
	ulo_json_arr_end(j);
	ulo_json_arr_end(j);
	ulo_json_obj_end(j);
	ulo_json_double(j, "d", 1.5);
	ulo_json_obj_begin(j, "empty");
	ulo_json_obj_end(j);
	ulo_json_str(j, "last", "x");
	ulo_json_obj_end(j);
	ulo_json_done(j);
}

static void json_array_top(struct ulo_json *j)
{
	ulo_json_arr_begin(j, NULL);
	ulo_json_str(j, NULL, "a");
	ulo_json_obj_begin(j, NULL);
	ulo_json_u64(j, "n", 0);
	ulo_json_obj_end(j);
	ulo_json_obj_begin(j, NULL);
	ulo_json_obj_end(j);
	ulo_json_arr_end(j);
	ulo_json_done(j);
}

static void test_json(void)
{
	char *out = json_run(json_nested);

	static const char want[] =
		"{\"a\":1,\"b\":{\"s\":\"q\\\"b\\\\n\\nc\\u0001d\\te\\u007f\","
		"\"t\":true,\"f\":false,"
		"\"arr\":[1,18446744073709551615,{\"k\\\"ey\":\"\"},[]]},"
		"\"d\":1.5,\"empty\":{},\"last\":\"x\"}\n";

	if (strcmp(out, want))
		fprintf(stderr, "  got:  %s  want: %s", out, want);
	CHECK(!strcmp(out, want));
	free(out);

	out = json_run(json_array_top);
	CHECK(!strcmp(out, "[\"a\",{\"n\":0},{}]\n"));
	free(out);
}

/* Same file however it is named; different files, and unknown paths. */
static void test_same_file(void)
{
	char dir[] = "/tmp/uloop-unit.XXXXXX", a[64], b[64], l[64], h[64];
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(l, sizeof(l), "%s/l", dir);
	snprintf(h, sizeof(h), "%s/h", dir);
	CHECK((f = fopen(a, "w")) != NULL && fclose(f) == 0);
	CHECK((f = fopen(b, "w")) != NULL && fclose(f) == 0);
	CHECK(symlink(a, l) == 0);
	CHECK(link(a, h) == 0);
	CHECK(ulo_same_file(a, a));
	CHECK(ulo_same_file(a, l));
	CHECK(ulo_same_file(l, h));
	CHECK(!ulo_same_file(a, b));
	CHECK(ulo_same_file("/nonexistent/x", "/nonexistent/x"));
	CHECK(!ulo_same_file("/nonexistent/x", a));
	CHECK(!ulo_same_file("/dev/null", a));
	unlink(a), unlink(b), unlink(l), unlink(h), rmdir(dir);
}

/* One UTC formatter for headers, manifests and error lines: both styles,
 * and a time gmtime cannot break down (a header from a corrupt cache)
 * still reads as a number, never as an empty or stale buffer. */
static void test_utc(void)
{
	char buf[48];

	CHECK(strcmp(ulo_utc(1796615134, ULO_UTC_ISO, buf, sizeof(buf)), "2026-12-07T03:45:34Z") == 0);
	CHECK(strcmp(ulo_utc(1796615134, ULO_UTC_TEXT, buf, sizeof(buf)), "2026-12-07 03:45:34 UTC") == 0);
	CHECK(strcmp(ulo_utc(0, ULO_UTC_TEXT, buf, sizeof(buf)), "1970-01-01 00:00:00 UTC") == 0);
	CHECK(strcmp(ulo_utc(INT64_MAX, ULO_UTC_ISO, buf, sizeof(buf)), "9223372036854775807 s after 1970") == 0);
	CHECK(strcmp(ulo_utc(1796615134, ULO_UTC_ISO, buf, 8), "1796615") == 0);	/* cut, terminated */
}

int main(void)
{
	UNIT_RUN(test_parse_size_ok);
	UNIT_RUN(test_parse_size_bad);
	UNIT_RUN(test_parse_size_leading_space);
	UNIT_RUN(test_fmt_size);
	UNIT_RUN(test_err_messages);
	UNIT_RUN(test_err_per_thread);
	UNIT_RUN(test_le_codec);
	UNIT_RUN(test_json);
	UNIT_RUN(test_same_file);
	UNIT_RUN(test_utc);
	return unit_done();
}
