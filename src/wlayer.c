// SPDX-License-Identifier: GPL-2.0-or-later
/* wlayer.c - see wlayer.h: each call goes to the one kind this layer is. */
#include "wlayer.h"

#include <errno.h>
#include <stdlib.h>

#include "util.h"

struct ulo_wlayer {
	struct ulo_ramwrites *ram;
	struct ulo_cow *cow;
};

int ulo_wlayer_ram(uint64_t size, uint64_t limit, ulo_base_read_fn base,
		   void *ctx, struct ulo_wlayer **out)
{
	struct ulo_wlayer *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return ulo_errno(-ENOMEM, "writes");
	ret = ulo_ramwrites_new(size, limit, base, ctx, &w->ram);
	if (ret) {
		free(w);
		return ret;
	}
	*out = w;
	return 0;
}

int ulo_wlayer_cow(struct ulo_cow *cow, struct ulo_wlayer **out)
{
	struct ulo_wlayer *w = calloc(1, sizeof(*w));

	if (!w)
		return ulo_errno(-ENOMEM, "writes");
	w->cow = cow;
	*out = w;
	return 0;
}

int ulo_wlayer_read(struct ulo_wlayer *w, void *buf, uint64_t off, size_t len)
{
	return w->cow ? ulo_cow_read(w->cow, buf, off, len)
		      : ulo_ramwrites_read(w->ram, buf, off, len);
}

int ulo_wlayer_write(struct ulo_wlayer *w, const void *buf, uint64_t off,
		     size_t len)
{
	return w->cow ? ulo_cow_write(w->cow, buf, off, len)
		      : ulo_ramwrites_write(w->ram, buf, off, len);
}

int ulo_wlayer_trim(struct ulo_wlayer *w, uint64_t off, uint64_t len)
{
	if (w->ram)
		ulo_ramwrites_trim(w->ram, off, len);
	return 0;
}

bool ulo_wlayer_trims(const struct ulo_wlayer *w)
{
	return w->ram != NULL;
}

int ulo_wlayer_flush(struct ulo_wlayer *w)
{
	return w->cow ? ulo_cow_flush(w->cow) : 0;
}

void ulo_wlayer_free(struct ulo_wlayer *w)
{
	if (!w)
		return;
	ulo_ramwrites_free(w->ram);
	free(w);
}
