// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * engine-file.c - the smallest program on the engine: a file source, a
 * cache bound to it, and every byte of the image read through them to
 * stdout.
 *
 *   engine-file IMAGE CACHE
 *
 * test-link-nocurl.sh links it against libuloop.a with -luloop -lblkid
 * -pthread and nothing else: a program that reads files must not need
 * libcurl.  It registers no source, so it also checks that an http:// URL
 * is refused as a source this program was built without, not opened.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "cache.h"
#include "engine.h"
#include "source.h"
#include "util.h"

#define CHUNK (256 * 1024)

int main(int argc, char **argv)
{
	struct ulo_source_opts so = { 0 };
	struct ulo_engine_opts eo = { 0 };
	struct ulo_cache_opts co = { .create = true };
	struct ulo_source *src = NULL, *web = NULL;
	struct ulo_cache *c = NULL;
	struct ulo_engine *e = NULL;
	struct ulo_bind_info bi;
	static char buf[CHUNK];
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: engine-file IMAGE CACHE\n");
		return 2;
	}
	ret = ulo_source_open("http://127.0.0.1:9/image", &so, &web);
	if (ret != -EPROTONOSUPPORT ||
	    !strstr(ulo_errmsg(), "built without the HTTP source")) {
		fprintf(stderr, "engine-file: an http:// URL gave %d: %s\n", ret,
			ret ? ulo_errmsg() : "opened");
		ulo_source_close(web);
		return 1;
	}
	co.path = argv[2];
	if (ulo_source_open(argv[1], &so, &src) || ulo_cache_open(&co, &c) ||
	    ulo_bind_source(c, src, false, &bi) ||
	    ulo_cache_start_committer(c, 0) || ulo_engine_new(src, c, &eo, &e))
		goto fail;
	for (uint64_t off = 0; off < src->id.size; off += CHUNK) {
		size_t len = ULO_MIN(CHUNK, src->id.size - off);

		if (ulo_engine_read(e, buf, off, len))
			goto fail;
		if (fwrite(buf, 1, len, stdout) != len) {
			fprintf(stderr, "engine-file: stdout: write failed\n");
			return 1;
		}
	}
	ulo_engine_free(e);
	e = NULL;
	if (ulo_cache_close(c)) {
		c = NULL;
		goto fail;
	}
	ulo_source_close(src);
	return fflush(stdout) ? 1 : 0;
fail:
	fprintf(stderr, "engine-file: %s\n", ulo_errmsg());
	ulo_engine_free(e);
	if (c)
		ulo_cache_close(c);
	ulo_source_close(src);
	return 1;
}
