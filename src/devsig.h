/* SPDX-License-Identifier: GPL-2.0-or-later */
/* devsig.h - signatures of other data on a device (devsig.c). */
#ifndef ULOOP_DEVSIG_H
#define ULOOP_DEVSIG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Look for anything that says the @size bytes behind @fd hold data: a
 * signature libblkid knows anywhere on it, or non-zero bytes in its head.
 * Returns 0 with @what set to a description of the first finding ("btrfs
 * signature at offset 65600"), or to "" when the device looks blank;
 * -errno when it cannot be read.
 */
int ulo_devsig_find(int fd, uint64_t size, char *what, size_t len);

#endif
