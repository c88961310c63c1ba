#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""lossy-relay.py - a TCP relay on 127.0.0.1 that makes the network bad.

    lossy-relay.py --listen PORT --to PORT [--delay MS] [--jitter MS]
                   [--reset P] [--stall P] [--stall-secs S] [--seed N]
                   [--reset-at K] [--stall-at K] [--close rst|fin]
                   [--cut any|headers] [--log FILE]

Between uloop and a web server (N4 of the reliability catalogue: high
latency, loss and jitter).  Each answer the server starts (the first bytes
back after a request) waits DELAY +- JITTER ms, as a long round trip does;
then, with probability RESET, the connection is cut somewhere in that
answer (headers included; --cut headers: inside its header block): reset (RST), or with --close fin closed as if the
server were done, which is what a guest behind QEMU's user network sees, and with probability STALL it stops moving for STALL-SECS and
is then closed, as a path that black-holes packets does; the K-th answer
(--reset-at, --stall-at) is reset or stalled for certain.  Requests pass at
once.  The decisions come from --seed, so a run can be repeated.  Counts go
to --log as "connections N answers N resets N stalls N" when the relay
gets SIGTERM, and after every event.
"""
import argparse
import asyncio
import random
import signal
import socket
import struct
import sys

counts = {"connections": 0, "answers": 0, "resets": 0, "stalls": 0}


def write_log(path):
    if path:
        with open(path, "w") as f:
            f.write(" ".join(f"{k} {v}" for k, v in counts.items()) + "\n")


def reset(writer):
    """Close with RST, not FIN: SO_LINGER with a zero timeout."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def relay(args, rnd, creader, cwriter):
    counts["connections"] += 1
    try:
        sreader, swriter = await asyncio.open_connection("127.0.0.1", args.to)
    except OSError:
        cwriter.close()
        return
    asked = asyncio.Event()  # a request went up since the last answer began

    async def up():
        try:
            while data := await creader.read(65536):
                asked.set()
                swriter.write(data)
                await swriter.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            swriter.close()

    async def down():
        try:
            while data := await sreader.read(16384):
                if asked.is_set():  # the first bytes of an answer
                    asked.clear()
                    counts["answers"] += 1
                    n = counts["answers"]  # before the sleep: others count on
                    fate = rnd.random()
                    delay = args.delay + rnd.uniform(-args.jitter, args.jitter)
                    await asyncio.sleep(max(0.0, delay) / 1000)
                    reset_now = n == args.reset_at or (
                        n != args.stall_at and fate < args.reset)
                    stall_now = not reset_now and (
                        n == args.stall_at or
                        args.reset <= fate < args.reset + args.stall)
                    if reset_now:
                        counts["resets"] += 1
                        write_log(args.log)
                        # any: from nothing to all of this chunk; headers:
                        # at least a byte, short of the blank line
                        end = data.find(b"\r\n\r\n")
                        if args.cut == "headers" and end > 1:
                            cut = rnd.randrange(1, end)
                        else:
                            cut = rnd.randrange(len(data) + 1)
                        cwriter.write(data[:cut])
                        await cwriter.drain()
                        if args.close == "fin":
                            cwriter.close()
                        else:
                            reset(cwriter)
                        swriter.close()
                        return
                    if stall_now:
                        counts["stalls"] += 1
                        write_log(args.log)
                        await asyncio.sleep(args.stall_secs)
                        reset(cwriter)
                        swriter.close()
                        return
                cwriter.write(data)
                await cwriter.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            cwriter.close()

    try:
        await asyncio.gather(up(), down())
    except asyncio.CancelledError:
        pass  # the relay is stopping


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--to", type=int, required=True)
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--jitter", type=float, default=0)
    p.add_argument("--reset", type=float, default=0)
    p.add_argument("--stall", type=float, default=0)
    p.add_argument("--stall-secs", type=float, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--reset-at", type=int, default=0)
    p.add_argument("--stall-at", type=int, default=0)
    p.add_argument("--close", choices=("rst", "fin"), default="rst")
    p.add_argument("--cut", choices=("any", "headers"), default="any")
    p.add_argument("--log")
    args = p.parse_args()
    rnd = random.Random(args.seed)
    server = await asyncio.start_server(
        lambda r, w: relay(args, rnd, r, w), "127.0.0.1", args.listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    write_log(args.log)
    async with server:
        await stop.wait()
    write_log(args.log)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
