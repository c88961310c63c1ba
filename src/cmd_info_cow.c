// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_info_cow.c - `uloop info` of a UML COW file: its header as UML
 * reads it and the stack under it, layer by layer, down to the image.
 *
 * The file is told by its magic, never by its name: a COW made by
 * uml_mkcow or UML is shown the same as one uloop made.  The stack is
 * opened read-only without its image (UML's checks of each layer's
 * mtime and size still run), so a stack that UML or attach would refuse
 * is shown with the reason, and the command fails.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cow.h"
#include "json.h"
#include "util.h"

static void info_cow_layer_text(const struct ulo_cow *s, unsigned i)
{
	const struct ulo_uml_hdr *h = ulo_cow_header(s, i);
	uint64_t held = ulo_cow_layer_sectors(s, i);
	char a[32], b[32];

	printf("%s %s\n", i ? "under it:    " : "cow:         ", ulo_cow_path(s, i));
	printf("  format:     UML COW %s, %s-endian\n", ulo_uml_version_name(h),
	       h->big_endian ? "big" : "little");
	printf("  backing:    %s%s%s\n", h->backing, h->tag[0] ? ", " : "", h->tag);
	printf("  disk size:  %s (%" PRIu64 " bytes), backing mtime %" PRIu32 "\n",
	       ulo_fmt_size(h->size, a, sizeof(a)), h->size, h->mtime);
	printf("  sectors:    %" PRIu32 " bytes, alignment %" PRIu32 "\n",
	       h->sector_size, h->alignment);
	printf("  held:       %" PRIu64 " of %" PRIu64 " sectors (%s)%s\n", held, h->sectors,
	       ulo_fmt_size(held * h->sector_size, b, sizeof(b)),
	       h->covered < h->sectors ? ", the last ones without a bit (read-only)" : "");
	printf("  bitmap:     offset %" PRIu64 ", %" PRIu64 " bytes\n",
	       h->bitmap_offset, h->bitmap_len);
	printf("  data:       offset %" PRIu64 "\n", h->data_offset);
}

static void info_cow_json(const struct ulo_cow *s, const char *base)
{
	struct ulo_json j;

	ulo_json_init(&j, stdout);
	ulo_json_obj_begin(&j, NULL);
	ulo_json_str(&j, "cow", ulo_cow_path(s, 0));
	ulo_json_str(&j, "image", base);
	ulo_json_arr_begin(&j, "layers");
	for (unsigned i = 0; i < ulo_cow_depth(s); i++) {
		const struct ulo_uml_hdr *h = ulo_cow_header(s, i);

		ulo_json_obj_begin(&j, NULL);
		ulo_json_str(&j, "path", ulo_cow_path(s, i));
		ulo_json_str(&j, "format", "uml-cow");
		ulo_json_u64(&j, "version", h->version);
		ulo_json_bool(&j, "big_endian", h->big_endian);
		ulo_json_str(&j, "backing", h->backing);
		ulo_json_str(&j, "tag", h->tag);
		ulo_json_u64(&j, "size", h->size);
		ulo_json_u64(&j, "mtime", h->mtime);
		ulo_json_u64(&j, "sector_size", h->sector_size);
		ulo_json_u64(&j, "alignment", h->alignment);
		ulo_json_u64(&j, "sectors", h->sectors);
		ulo_json_u64(&j, "sectors_held", ulo_cow_layer_sectors(s, i));
		ulo_json_u64(&j, "bitmap_offset", h->bitmap_offset);
		ulo_json_u64(&j, "bitmap_length", h->bitmap_len);
		ulo_json_u64(&j, "data_offset", h->data_offset);
		ulo_json_obj_end(&j);
	}
	ulo_json_arr_end(&j);
	ulo_json_obj_end(&j);
	ulo_json_done(&j);
}

int cmd_info_cow(const char *path, bool json)
{
	struct ulo_cow_opts o = { .path = path, .readonly = true };
	char base[ULO_UML_NAME_V3];
	struct ulo_cow *s;
	uint64_t size;

	if (ulo_cow_find_base(path, base, sizeof(base), &size) || ulo_cow_open(&o, &s))
		return cli_fail();
	if (json) {
		info_cow_json(s, base);
	} else {
		for (unsigned i = 0; i < ulo_cow_depth(s); i++)
			info_cow_layer_text(s, i);
		printf("image:        %s\n", base);
	}
	ulo_cow_free(s);
	return ULO_EXIT_OK;
}
