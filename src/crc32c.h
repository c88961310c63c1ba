/* SPDX-License-Identifier: GPL-2.0-or-later */
/* crc32c.h - CRC-32C (Castagnoli), as used by ext4, btrfs and iSCSI. */
#ifndef ULOOP_CRC32C_H
#define ULOOP_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of @len bytes; chain calls by passing the previous result as @crc
 * (start with 0).  crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t ulo_crc32c(uint32_t crc, const void *buf, size_t len);
/* The same without the CPU's instruction (for the tests to compare). */
uint32_t ulo_crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
