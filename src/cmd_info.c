// SPDX-License-Identifier: GPL-2.0-or-later
/* cmd_info.c - uloop info: the cache header and fill level. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cow.h"
#include "json.h"
#include "util.h"

/* Blocks the epoch's extents span (a cover: at least the commit's). */
static uint64_t info_epoch_blocks(const struct ulo_epoch *e)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < e->n; i++)
		n += e->ext[i].count;
	return n;
}

static void info_usage(FILE *f)
{
	fputs("Usage: uloop info CACHE|COW [--bitmap PATH] [--json]\n"
	      "\n"
	      "Show a cache's header, bound image and fill level; or a UML COW\n"
	      "file's header and the stack of COW files under it.\n"
	      "\n"
	      "Options:\n"
	      "  --bitmap PATH   CACHE is in the 2007 layout with this bitmap file\n"
	      "  --json          machine-readable output\n", f);
}

static const char *info_time(uint64_t t, char *buf, size_t len)
{
	return t ? ulo_utc((int64_t)t, ULO_UTC_ISO, buf, len) : "-";
}

static void info_uuid(const uint8_t *u, char *out)
{
	static const int dash[] = { 4, 6, 8, 10 };
	int k = 0;

	for (int i = 0; i < 16; i++) {
		for (int d = 0; d < 4; d++)
			if (dash[d] == i)
				out[k++] = '-';
		k += sprintf(out + k, "%02x", u[i]);
	}
}

static void info_json(const struct ulo_cache *c, const struct ulo_header *h)
{
	bool laid_out = ulo_cache_is_laid_out(c);
	uint64_t present = laid_out ? ulo_cache_count(c) : 0;
	uint64_t nblocks = ulo_cache_nblocks(c);
	const struct ulo_identity *id = ulo_cache_identity(c);
	const char *bitmap = ulo_cache_bitmap_path(c);
	struct ulo_compact_info ci;
	struct ulo_json j;
	char uuid[40];

	ulo_json_init(&j, stdout);
	ulo_json_obj_begin(&j, NULL);
	ulo_json_str(&j, "cache", ulo_cache_path(c));
	ulo_json_str(&j, "format", ulo_cache_format_name(c));
	if (bitmap)
		ulo_json_str(&j, "bitmap", bitmap);
	ulo_json_bool(&j, "laid_out", laid_out);
	if (laid_out) {
		ulo_json_u64(&j, "block_size", ulo_cache_block_size(c));
		ulo_json_u64(&j, "image_size", ulo_cache_image_size(c));
		ulo_json_u64(&j, "blocks", nblocks);
		ulo_json_u64(&j, "blocks_present", present);
		ulo_json_double(&j, "fill", nblocks ? (double)present / nblocks : 0);
		ulo_json_obj_begin(&j, "identity");
		ulo_json_str(&j, "kind", ulo_id_kind_name(id->kind));
		ulo_json_str(&j, "location", id->location);
		ulo_json_str(&j, "validator", id->validator);
		ulo_json_u64(&j, "size", id->size);
		ulo_json_obj_end(&j);
	}
	if (h) {
		info_uuid(h->uuid, uuid);
		ulo_json_str(&j, "uuid", uuid);
		ulo_json_u64(&j, "version", h->version);
		ulo_json_u64(&j, "generation", h->generation);
		ulo_json_bool(&j, "clean", h->flags & ULO_HDR_F_CLEAN);
		ulo_json_u64(&j, "last_commit_extents", h->epoch.n);
		ulo_json_u64(&j, "last_commit_blocks", info_epoch_blocks(&h->epoch));
		ulo_json_arr_begin(&j, "last_commit");
		for (uint32_t i = 0; i < h->epoch.n; i++) {
			ulo_json_obj_begin(&j, NULL);
			ulo_json_u64(&j, "start", h->epoch.ext[i].start);
			ulo_json_u64(&j, "count", h->epoch.ext[i].count);
			ulo_json_obj_end(&j);
		}
		ulo_json_arr_end(&j);
		ulo_json_u64(&j, "compat_features", h->compat);
		ulo_json_u64(&j, "incompat_features", h->incompat);
		ulo_json_u64(&j, "created", h->created);
		ulo_json_u64(&j, "updated", h->updated);
		ulo_json_u64(&j, "bitmap_offset", h->bitmap_offset);
		ulo_json_u64(&j, "bitmap_length", h->bitmap_length);
		ulo_json_u64(&j, "data_offset", h->data_offset);
		ulo_json_u64(&j, "data_length", h->data_length);
	}
	if (laid_out && !ulo_cache_compact_info(c, &ci)) {
		ulo_json_u64(&j, "slot_size", ci.slot_bytes);
		ulo_json_u64(&j, "slots", ci.slots);
		ulo_json_u64(&j, "slots_taken", ci.slots_taken);
		ulo_json_u64(&j, "slots_written", ci.slots_written);
		ulo_json_u64(&j, "file_size_max", ci.bytes_max);
		ulo_json_bool(&j, "size_limited", ci.limited);
	}
	ulo_json_obj_end(&j);
	ulo_json_done(&j);
}

static void info_text(const struct ulo_cache *c, const struct ulo_header *h)
{
	bool laid_out = ulo_cache_is_laid_out(c);
	uint64_t present = laid_out ? ulo_cache_count(c) : 0;
	uint64_t nblocks = ulo_cache_nblocks(c);
	uint64_t bs = ulo_cache_block_size(c), size = ulo_cache_image_size(c);
	const struct ulo_identity *id = ulo_cache_identity(c);
	const char *bitmap = ulo_cache_bitmap_path(c);
	struct ulo_compact_info ci;
	char a[32], b[32], t[40];

	printf("cache:        %s\n", ulo_cache_path(c));
	printf("format:       %s%s%s\n", ulo_cache_format_name(c),
	       bitmap ? ", bitmap " : "", bitmap ? bitmap : "");
	if (!laid_out) {
		printf("state:        empty (laid out on first use)\n");
		return;
	}
	printf("block size:   %s\n", ulo_fmt_size(bs, a, sizeof(a)));
	printf("image size:   %s (%" PRIu64 " bytes)\n",
	       ulo_fmt_size(size, a, sizeof(a)), size);
	printf("present:      %" PRIu64 " of %" PRIu64 " blocks (%.1f%%), %s\n",
	       present, nblocks, nblocks ? 100.0 * present / nblocks : 0.0,
	       ulo_fmt_size(ULO_MIN(size, present * bs), b, sizeof(b)));
	if (id->kind == ULO_ID_NONE) {
		printf("image:        none recorded%s\n",
		       ulo_cache_is_2007(c) ?
		       " (2007 cache: adopted when its image is named)" :
		       " (unbound: any blocks are dropped on next use)");
	} else {
		printf("image:        %s\n", id->location);
		printf("identity:     %s %s\n", ulo_id_kind_name(id->kind),
		       id->validator[0] ? id->validator : "(size only)");
	}
	if (!h)
		return;
	info_uuid(h->uuid, t);
	printf("uuid:         %s\n", t);
	printf("version:      %u, features compat 0x%" PRIx64 " incompat 0x%" PRIx64 "\n",
	       h->version, h->compat, h->incompat);
	printf("generation:   %" PRIu64 "\n", h->generation);
	printf("shutdown:     %s\n", h->flags & ULO_HDR_F_CLEAN ? "clean" :
	       "not clean (in use, or it crashed: the next writer checks the last commit's blocks)");
	printf("last commit:  %" PRIu64 " blocks in %u extents\n",
	       info_epoch_blocks(&h->epoch), h->epoch.n);
	printf("created:      %s\n", info_time(h->created, t, sizeof(t)));
	printf("updated:      %s\n", info_time(h->updated, t, sizeof(t)));
	printf("%s       offset %" PRIu64 ", %" PRIu64 " bytes\n",
	       ulo_cache_compact_info(c, &ci) ? "bitmap:" : "index: ",
	       h->bitmap_offset, h->bitmap_length);
	printf("data:         offset %" PRIu64 ", %" PRIu64 " bytes\n",
	       h->data_offset, h->data_length);
	if (ulo_cache_compact_info(c, &ci))
		return;
	printf("slots:        %" PRIu64 " of %" PRIu64 " hold blocks, %" PRIu64 " written (%s each)\n",
	       ci.slots_taken, ci.slots, ci.slots_written, ulo_fmt_size(ci.slot_bytes, a, sizeof(a)));
	printf("size limit:   %s\n", ci.limited ?
	       ulo_fmt_size(ci.bytes_max, b, sizeof(b)) :
	       "none (room for the whole image: nothing is evicted)");
}

int cmd_info(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_BITMAP, CLI_OPT_JSON, CLI_OPT_HELP, CLI_OPT_VERBOSE,
		CLI_OPT_END
	};
	struct ulo_cache *c;
	struct cli_opts o;
	int ret;

	ret = cli_parse(argc, argv, lopts, info_usage, 1, "one CACHE", &o);
	if (ret >= 0)
		return ret;
	/* A UML COW file (--cow's, or UML's own), told by its magic. */
	if (!o.bitmap && ulo_cow_is_cow_file(argv[optind]))
		return cmd_info_cow(argv[optind], o.json);
	o.cache = argv[optind];
	if (cli_check_opts(&o))
		return ULO_EXIT_USAGE;
	if (cli_open_cache_ro(&o, &c))
		return ULO_EXIT_FAIL;
	ret = ULO_EXIT_FAIL;
	if (o.json)
		info_json(c, ulo_native_header(c));
	else
		info_text(c, ulo_native_header(c));
	ulo_cache_close(c);
	return ULO_EXIT_OK;
}
