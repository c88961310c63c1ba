# SPDX-License-Identifier: GPL-2.0-or-later
"""CRC-32C (Castagnoli), as uloop's cache format uses it: for tests that
craft cache headers and bitmap sectors by hand (test-corrupt-cache.sh)."""


def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xffffffff
