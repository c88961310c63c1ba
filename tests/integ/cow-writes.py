#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""cow-writes.py - random writes to a writable device and to a model of it.

    cow-writes.py SEED COUNT DEVICE MODEL [--no-sync]

Writes COUNT pieces of random bytes at random places (a third sector
aligned, the rest at any byte offset and length, some across sector and
page edges) to DEVICE and to MODEL at the same places, then fsyncs
DEVICE (what makes a COW's writes durable) unless --no-sync.  The same
SEED gives the same writes.  The tests then compare DEVICE with MODEL.
"""
import os
import random
import sys


def main():
    seed, count, dev, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sync = "--no-sync" not in sys.argv[5:]
    rnd = random.Random(seed)
    size = os.path.getsize(model)
    d = os.open(dev, os.O_RDWR)
    m = os.open(model, os.O_RDWR)
    for _ in range(count):
        if rnd.random() < 0.33:
            length = rnd.randint(1, 64) * 512
            off = rnd.randrange(0, (size - length) // 512 + 1) * 512
        else:
            length = rnd.randint(1, 20000)
            off = rnd.randrange(0, size - length + 1)
        data = rnd.randbytes(length)
        if os.pwrite(d, data, off) != length or os.pwrite(m, data, off) != length:
            sys.exit("short write")
    if sync:
        os.fsync(d)
    os.close(d)
    os.close(m)


if __name__ == "__main__":
    main()
