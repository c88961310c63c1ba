// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_export.c - uloop export: write the cached image out as a plain image
 * (the "merge" of the UML COW thread's uml_moo).
 *
 * Without --source every block must be present; with it, missing blocks are
 * fetched through the engine (and so cached too).  The output is written
 * to OUTPUT.uloop-part and renamed into place only when complete, so a
 * failed export never leaves a plausible-looking partial image.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#define EXPORT_CHUNK (4u << 20)

static void export_usage(FILE *f)
{
	fputs("Usage: uloop export CACHE OUTPUT [--bitmap PATH] [--source SOURCE]\n"
	      "\n"
	      "Write the cached image to OUTPUT as a plain image file.  Every\n"
	      "block must be present unless --source is given to fetch the rest.\n"
	      "OUTPUT '-' writes to standard output.\n"
	      "\n"
	      "Options for a network SOURCE:\n"
	      CLI_HELP_SOURCE_NET, f);
}

typedef int (*export_read_fn)(void *ctx, void *buf, uint64_t off, size_t len);

static int export_from_cache(void *ctx, void *buf, uint64_t off, size_t len)
{
	return ulo_cache_read(ctx, buf, off, len);
}

static int export_from_engine(void *ctx, void *buf, uint64_t off, size_t len)
{
	return ulo_engine_read(ctx, buf, off, len);
}

static int export_write(int fd, const char *out, export_read_fn rd, void *ctx,
			uint64_t size)
{
	uint8_t *buf = malloc(EXPORT_CHUNK);
	int ret = 0;

	if (!buf)
		return ulo_errno(-ENOMEM, "export buffer");
	for (uint64_t off = 0; off < size && !ret; off += EXPORT_CHUNK) {
		size_t len = ULO_MIN(EXPORT_CHUNK, size - off);

		ret = rd(ctx, buf, off, len);
		if (!ret) {
			ret = ulo_pwrite_full(fd, buf, len, off);
			if (ret == -ESPIPE) {
				/* stdout is a pipe: write sequentially. */
				ret = 0;
				for (size_t done = 0; done < len && !ret;) {
					ssize_t n = write(fd, buf + done, len - done);

					if (n < 0)
						ret = -errno;
					else
						done += n;
				}
			}
			if (ret)
				ret = ulo_errno(ret, "%s: write", out);
		}
	}
	free(buf);
	return ret;
}

/* Make the rename durable: flush the directory holding @path. */
static int export_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int dfd, ret = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		ret = -errno;
	if (dfd >= 0)
		close(dfd);
	return ret;
}

int cmd_export(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_BITMAP, CLI_OPT_SOURCE, CLI_OPT_CONNECTIONS,
		CLI_OPT_HELP, CLI_OPT_VERBOSE, CLI_OPT_SOURCE_NET, CLI_OPT_END
	};
	struct ulo_source *src = NULL;
	struct ulo_cache *c = NULL;
	struct ulo_engine *eng = NULL;
	char part[PATH_MAX + 16];
	const char *out;
	struct cli_opts o;
	bool to_stdout;
	int fd = -1, ret;

	ret = cli_parse(argc, argv, lopts, export_usage, 2, "CACHE and OUTPUT", &o);
	if (ret >= 0)
		return ret;
	ret = ULO_EXIT_FAIL;
	o.cache = argv[optind];
	if (cli_check_opts(&o))
		return ULO_EXIT_USAGE;
	out = argv[optind + 1];
	to_stdout = !strcmp(out, "-");

	if (o.source) {
		/* Never drop the cache because the source moved on. */
		o.offline = true;
		o.eng.readahead = 0;
		if (cli_open_source(&o, o.source, &src) ||
		    cli_open_bound_cache(&o, src, &c))
			goto out;
		if (ulo_engine_new(src, c, &o.eng, &eng)) {
			cli_fail();
			goto out;
		}
	} else {
		uint64_t have;

		if (cli_open_cache_ro(&o, &c))
			goto out;
		have = c->laid_out ? ulo_cache_count(c) : 0;
		if (!c->laid_out || have < c->nblocks) {
			cli_note("cache %s: %" PRIu64 " of %" PRIu64
				 " blocks missing; pass --source to fetch them",
				 c->path, c->nblocks - have, c->nblocks);
			goto out;
		}
		if (c->fmt == &ulo_cache_fmt_2007 && c->id.kind == ULO_ID_NONE)
			cli_note("cache %s: image size not recorded (2007 cache); exporting %" PRIu64
				 " bytes, rounded up to the page size", c->path,
				 c->image_size);
	}

	if (to_stdout) {
		fd = STDOUT_FILENO;
	} else {
		snprintf(part, sizeof(part), "%s.uloop-part", out);
		fd = ulo_create_fresh(AT_FDCWD, part, 0644);
		if (fd < 0) {
			ulo_errno(fd, "%s: create", part);
			cli_fail();
			goto out;
		}
	}
	if (export_write(fd, to_stdout ? "stdout" : part,
			 eng ? export_from_engine : export_from_cache,
			 eng ? (void *)eng : (void *)c, c->image_size) ||
	    (!to_stdout && fsync(fd) < 0 &&
	     ulo_errno(-errno, "%s: fsync", part)) ||
	    /* Read without the lock: was the cache re-laid under us? */
	    (!eng && ulo_cache_check_binding(c))) {
		cli_fail();
		goto out_unlink;
	}
	if (!to_stdout) {
		close(fd);
		fd = -1;
		if (rename(part, out) < 0 || export_sync_dir(out)) {
			ulo_errno(-errno, "%s: rename from %s", out, part);
			cli_fail();
			goto out_unlink;
		}
	}
	ret = ULO_EXIT_OK;
	goto out;

out_unlink:
	if (!to_stdout)
		unlink(part);
out:
	if (fd >= 0 && !to_stdout)
		close(fd);
	ulo_engine_free(eng);
	cli_close_serving_cache(c);
	ulo_source_close(src);
	return ret;
}
