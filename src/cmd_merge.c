// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_merge.c - uloop merge LAYER... (--output FILE | --in-place): flatten
 * a stack of COW files, uml_moo's job.
 *
 *   --output FILE  the whole disk as the stack shows it (the layers over
 *                  their image, fetched through the cache if given) into
 *                  FILE, a new file, made under a temporary name and
 *                  renamed when complete; sparse where the disk is zero
 *   --in-place     the sectors the LAYERs hold written into the layer
 *                  under the last of them: a COW file (its bits set,
 *                  flushed data first), or the image file itself when the
 *                  LAYERs reach the bottom (uml_moo -d)
 *
 * An in-place merge cut short is merged again: the LAYERs still hold
 * every sector, so reading the stack gives the same bytes whatever part
 * reached the layer below; that is why the LAYERs are opened without
 * UML's mtime check of the layer below (the merge moves its mtime).
 * Afterwards the LAYERs are no longer valid over it (that same check):
 * attach with --cow the layer merged into.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cow.h"
#include "util.h"

#define MERGE_CHUNK (1u << 20)

enum { OPT_OUTPUT = 500, OPT_IN_PLACE };

struct merge {
	const char *output;
	bool in_place;
};

static void merge_usage(FILE *f)
{
	fputs("Usage: uloop merge LAYER... (--output FILE | --in-place) [options]\n"
	      "\n"
	      "Flatten a stack of COW files (uml_moo's job).  LAYER is a COW file\n"
	      "(the top); more LAYERs name the layers under it, in order, to merge\n"
	      "with it.\n"
	      "\n"
	      "Options:\n"
	      "  --output FILE       write the whole disk, as the stack shows it, to\n"
	      "                      FILE (a new file, sparse where zero)\n"
	      "  --in-place          write what the LAYERs hold into the layer under\n"
	      "                      the last of them: a COW file, or the image file\n"
	      "                      itself (uml_moo -d); attach with --cow that layer\n"
	      "                      from then on\n"
	      "  --cache PATH        read the image through this cache (--output)\n"
	      "  --connections N     parallel requests (default 4)\n"
	      "  -v, --verbose       debug output\n"
	      CLI_HELP_SOURCE_NET, f);
}

static int merge_opt(int opt, const char *arg, void *ctx)
{
	struct merge *m = ctx;

	switch (opt) {
	case OPT_OUTPUT:
		m->output = arg;
		return 1;
	case OPT_IN_PLACE:
		m->in_place = true;
		return 1;
	}
	return 0;
}

static int merge_base_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	return ulo_engine_read(ctx, buf, off, len);
}

/* The LAYERs after the first must be the layers under it, in order. */
static int merge_check_layers(struct ulo_cow *s, char **layers, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		if (i >= ulo_cow_depth(s))
			return ulo_err(-EINVAL, "%s: not in the stack under %s (it has %u layers)",
				       layers[i], layers[0], ulo_cow_depth(s));
		if (!ulo_same_file(layers[i], ulo_cow_path(s, i)))
			return ulo_err(-EINVAL, "%s: not layer %u of %s's stack (that is %s)",
				       layers[i], i + 1, layers[0], ulo_cow_path(s, i));
	}
	return 0;
}

/* The stack's disk into a new file @out. */
static int merge_output(struct ulo_cow *s, const char *out)
{
	char tmp[PATH_MAX + 8];
	uint64_t size = ulo_cow_size(s);
	uint8_t *buf = malloc(MERGE_CHUNK);
	int fd, ret = 0;

	for (unsigned i = 0; i < ulo_cow_depth(s); i++)
		if (ulo_same_file(out, ulo_cow_path(s, i)))
			ret = ulo_err(-EINVAL, "%s: is a layer of the stack (use --in-place)", out);
	if (!buf || ret) {
		free(buf);
		return ret ? ret : ulo_errno(-ENOMEM, "merge");
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	fd = ulo_create_fresh(AT_FDCWD, tmp, 0644);
	if (fd < 0) {
		free(buf);
		return ulo_errno(fd, "%s", tmp);
	}
	if (ftruncate(fd, (off_t)size) < 0)
		ret = ulo_errno(-errno, "%s: size", tmp);
	for (uint64_t off = 0; !ret && off < size; off += MERGE_CHUNK) {
		size_t n = (size_t)ULO_MIN((uint64_t)MERGE_CHUNK, size - off);

		ret = ulo_cow_read(s, buf, off, n);
		if (!ret && !ulo_all_zero(buf, n))
			ret = ulo_pwrite_full(fd, buf, n, off);
		if (ret && ret != -EIO)
			ulo_errno(ret, "%s", tmp);
	}
	if (!ret && fsync(fd) < 0)
		ret = ulo_errno(-errno, "%s: fsync", tmp);
	close(fd);
	if (!ret && rename(tmp, out) < 0)
		ret = ulo_errno(-errno, "%s: rename", out);
	if (ret)
		unlink(tmp);
	free(buf);
	return ret;
}

/* Write the top @k layers' sectors into @dst (a COW stack) or @fd (the
 * image file); *@moved gets the bytes. */
static int merge_down(struct ulo_cow *s, unsigned k, struct ulo_cow *dst,
		      int fd, const char *target, uint64_t *moved)
{
	uint32_t ss = ulo_cow_sector_size(s);
	uint64_t sectors = (ulo_cow_size(s) + ss - 1) / ss;
	uint8_t *buf = malloc(MERGE_CHUNK);
	int ret = 0;

	if (!buf)
		return ulo_errno(-ENOMEM, "merge");
	*moved = 0;
	for (uint64_t sec = 0; !ret && sec < sectors;) {
		unsigned owner;
		uint64_t run = ulo_cow_run(s, k, sec, MERGE_CHUNK / ss, &owner);
		uint64_t off = sec * ss;
		size_t len = (size_t)ULO_MIN(run * ss, ulo_cow_size(s) - off);

		if (owner < k) {
			ret = ulo_cow_read_layer(s, owner, buf, sec, run);
			if (!ret)
				ret = dst ? ulo_cow_write(dst, buf, off, len)
					  : ulo_pwrite_full(fd, buf, len, off);
			if (ret && !dst)
				ulo_errno(ret, "%s: writing", target);
			*moved += len;
		}
		sec += run;
	}
	if (!ret)
		ret = dst ? ulo_cow_flush(dst)
			  : fsync(fd) < 0 ? ulo_errno(-errno, "%s: fsync", target) : 0;
	free(buf);
	return ret;
}

static int merge_in_place(char **layers, unsigned k)
{
	struct ulo_cow_opts so = { .path = layers[0], .readonly = true,
				   .ignore_mtime = true };
	struct ulo_cow *s = NULL, *dst = NULL;
	char target[PATH_MAX];
	uint64_t moved = 0;
	int fd = -1, ret;

	ret = ulo_cow_open(&so, &s);
	if (!ret)
		ret = merge_check_layers(s, layers, k);
	if (ret)
		goto out;
	if (k < ulo_cow_depth(s)) {
		struct ulo_cow_opts to = { .path = ulo_cow_path(s, k),
					   .ignore_mtime = true };

		snprintf(target, sizeof(target), "%s", ulo_cow_path(s, k));
		ret = ulo_cow_open(&to, &dst);
	} else {
		struct stat st;

		snprintf(target, sizeof(target), "%s",
			 ulo_cow_header(s, k - 1)->backing);
		if (target[0] != '/') {
			ret = ulo_err(-EINVAL, "%s: its image is %s, not a file here: merge it into a file with --output",
				      ulo_cow_path(s, k - 1), target);
			goto out;
		}
		fd = open(target, O_RDWR | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			ret = ulo_errno(-errno, "%s", target);
			goto out;
		}
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size != ulo_cow_size(s)) {
			ret = ulo_err(-EINVAL, "%s: %llu bytes, the stack's disk has %llu: not its image",
				      target, (unsigned long long)st.st_size,
				      (unsigned long long)ulo_cow_size(s));
			goto out;
		}
	}
	if (!ret)
		ret = merge_down(s, k, dst, fd, target, &moved);
	if (!ret) {
		char sz[32];

		ulo_fmt_size(moved, sz, sizeof(sz));
		if (dst)
			cli_note("merged %s from %u layer%s into %s; attach with --cow %s from now on",
				 sz, k, k > 1 ? "s" : "", target, target);
		else
			cli_note("merged %s from %u layer%s into the image %s; the layers no longer match it (its mtime moved)",
				 sz, k, k > 1 ? "s" : "", target);
	}
out:
	if (fd >= 0)
		close(fd);
	ulo_cow_free(dst);
	ulo_cow_free(s);
	return ret;
}

static int merge_to_output(struct cli_opts *o, char **layers, unsigned k,
			   const char *output)
{
	struct ulo_source *src = NULL;
	struct ulo_cache *c = NULL;
	struct ulo_engine *eng = NULL;
	struct ulo_cow *s = NULL;
	char base[PATH_MAX];
	uint64_t size;
	int ret;

	ret = ulo_cow_find_base(layers[0], base, sizeof(base), &size);
	if (ret)
		return ret;
	ret = cli_open_source(o, base, &src);
	if (ret)
		return ret;
	if (o->cache)
		ret = cli_open_bound_cache(o, src, &c);
	if (!ret)
		ret = ulo_engine_new(src, c, &o->eng, &eng);
	if (!ret) {
		struct ulo_cow_opts so = { .path = layers[0], .readonly = true,
					   .base = &src->id,
					   .base_differed = src->differed,
					   .base_differed_off = src->differed_off,
					   .base_read = merge_base_read,
					   .base_ctx = eng };

		ret = ulo_cow_open(&so, &s);
	}
	if (!ret)
		ret = merge_check_layers(s, layers, k);
	if (!ret)
		ret = merge_output(s, output);
	ulo_cow_free(s);
	ulo_engine_free(eng);
	cli_close_serving_cache(c);
	ulo_source_close(src);
	return ret;
}

int cmd_merge(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_CACHE, CLI_OPT_CONNECTIONS, CLI_OPT_HELP, CLI_OPT_VERBOSE,
		CLI_OPT_SOURCE_NET,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "in-place", no_argument, NULL, OPT_IN_PLACE },
		CLI_OPT_END
	};
	struct merge m = { 0 };
	struct cli_opts o;
	unsigned k;
	int ret;

	ret = cli_parse_own(argc, argv, lopts, merge_usage, -ULO_COW_MAX_DEPTH,
			    "at most 16 LAYERs", &o, merge_opt, &m);
	if (ret >= 0)
		return ret;
	k = (unsigned)(argc - optind);
	if (!k)
		return cli_usage_error("which LAYER? (a COW file)");
	if (!m.output == !m.in_place)
		return cli_usage_error("--output FILE or --in-place (one of them)");
	if (m.in_place && o.cache)
		return cli_usage_error("--cache: an in-place merge reads no image");
	if (cli_check_opts(&o))
		return ULO_EXIT_USAGE;
	ret = m.in_place ? merge_in_place(argv + optind, k)
			 : merge_to_output(&o, argv + optind, k, m.output);
	/* > 0: the source's or the cache's opening said why already. */
	return ret < 0 ? cli_fail() : ret ? ULO_EXIT_FAIL : ULO_EXIT_OK;
}
