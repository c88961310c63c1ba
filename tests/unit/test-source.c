// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test-source.c - choosing a source (source.c): the registry of sources.
 *
 * The engine names no source but the file one, so what a location opens
 * depends on what the program registered.  What must hold: a path is a
 * file whatever is registered; a scheme goes to the source registered for
 * it, whatever its case; a scheme nobody serves is refused, never taken
 * for a file name, with a message naming the schemes served (exactly
 * today's "http:// and https:// only" for the uloop command) or, with
 * none, saying the program was built without the HTTP source.  The cases
 * run in order: the registry is the process's and only grows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source.h"
#include "util.h"
#include "unit.h"

static int fake_opens;

static int fake_open(struct ulo_source *src, const char *location,
		     const struct ulo_source_opts *opts)
{
	fake_opens++;
	src->id.size = 1;
	return 0;
}

static int fake_read(struct ulo_source *src, void *buf, uint64_t off,
		     size_t len, unsigned *retries)
{
	memset(buf, 'f', len);
	return 0;
}

static void fake_close(struct ulo_source *src)
{
}

static const char *const fake_schemes[] = { "fake", NULL };

static const struct ulo_source_ops fake_ops = {
	.name = "fake",
	.schemes = fake_schemes,
	.open = fake_open,
	.read = fake_read,
	.close = fake_close,
};

/* Opening @location must fail with -EPROTONOSUPPORT saying @msg. */
static void expect_refused(const char *location, const char *msg)
{
	struct ulo_source_opts o = { 0 };
	struct ulo_source *src = NULL;
	int ret = ulo_source_open(location, &o, &src);

	CHECK_EQ(ret, -EPROTONOSUPPORT);
	CHECK(!src);
	if (ret)
		CHECK(!strcmp(ulo_errmsg(), msg));
	if (ret && strcmp(ulo_errmsg(), msg))
		fprintf(stderr, "  got  \"%s\"\n  want \"%s\"\n", ulo_errmsg(), msg);
	ulo_source_close(src);
}

static void test_nothing_registered(void)
{
	struct ulo_source_opts o = { 0 };
	struct ulo_source *src = NULL;
	char path[] = "/tmp/uloop-test-source.XXXXXX";
	int fd = mkstemp(path);

	expect_refused("http://host/img", "http://host/img: this program was built "
		       "without the HTTP source (it reads files and block devices only)");
	expect_refused("HTTPS://host/img", "HTTPS://host/img: this program was built "
		       "without the HTTP source (it reads files and block devices only)");
	expect_refused("ftp://host/img", "ftp://host/img: unsupported scheme (files and "
		       "block devices only: this program was built without the HTTP source)");
	/* A path is a file, the file source always there. */
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "x", 1), 1);
	close(fd);
	CHECK_EQ(ulo_source_open(path, &o, &src), 0);
	CHECK(src && src->ops == &ulo_source_file_ops);
	CHECK(src && src->id.size == 1);
	ulo_source_close(src);
	unlink(path);
}

static void test_http_registered(void)
{
	CHECK_EQ(ulo_source_register(&ulo_source_http_ops), 0);
	/* What uloop says today, word for word. */
	expect_refused("ftp://host/img",
		       "ftp://host/img: unsupported scheme (http:// and https:// only)");
	/* Registering again changes nothing. */
	CHECK_EQ(ulo_source_register(&ulo_source_http_ops), 0);
	expect_refused("fake://thing",
		       "fake://thing: unsupported scheme (http:// and https:// only)");
}

static void test_another_source(void)
{
	struct ulo_source_opts o = { 0 };
	struct ulo_source *src = NULL;
	char b;

	CHECK_EQ(ulo_source_register(&fake_ops), 0);
	CHECK_EQ(ulo_source_open("FAKE://thing", &o, &src), 0);
	CHECK_EQ(fake_opens, 1);
	CHECK(src && src->ops == &fake_ops);
	CHECK(src && !ulo_source_read(src, &b, 0, 1, NULL) && b == 'f');
	ulo_source_close(src);
	/* Not a scheme: "fake:" + path is a file name (it does not exist). */
	src = NULL;
	CHECK(ulo_source_open("fake:thing", &o, &src) == -ENOENT);
	CHECK_EQ(fake_opens, 1);
	expect_refused("ftp://host/img",
		       "ftp://host/img: unsupported scheme (http://, https:// and fake:// only)");
}

static void test_bad_registrations(void)
{
	static const char *const none[] = { NULL };
	static struct ulo_source_ops noscheme = { .name = "none" };
	static struct ulo_source_ops many[16];
	struct ulo_source_opts o = { 0 };
	struct ulo_source *src = NULL;
	int ret = 0;

	CHECK_EQ(ulo_source_register(&noscheme), -EINVAL);
	CHECK_STR_CONTAINS(ulo_errmsg(), "source none: no URL scheme");
	noscheme.schemes = none;
	CHECK_EQ(ulo_source_register(&noscheme), -EINVAL);
	for (unsigned i = 0; i < ULO_ARRAY_SIZE(many) && !ret; i++) {
		many[i] = fake_ops;
		ret = ulo_source_register(&many[i]);
	}
	CHECK_EQ(ret, -ENOSPC);
	CHECK_STR_CONTAINS(ulo_errmsg(), "cannot register it");
	/* The first source registered for a scheme keeps it; the message
	 * names each scheme once. */
	CHECK_EQ(ulo_source_open("fake://thing", &o, &src), 0);
	CHECK(src && src->ops == &fake_ops);
	CHECK_EQ(fake_opens, 2);
	ulo_source_close(src);
	expect_refused("ftp://host/img",
		       "ftp://host/img: unsupported scheme (http://, https:// and fake:// only)");
}

int main(void)
{
	UNIT_RUN(test_nothing_registered);
	UNIT_RUN(test_http_registered);
	UNIT_RUN(test_another_source);
	UNIT_RUN(test_bad_registrations);
	return unit_done();
}
