#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""delay-relay.py TARGET_PORT DELAY_MS - a TCP relay on 127.0.0.1 that adds
latency, for bench/peers.sh (the host kernel has no netem).

Listens on a free port of 127.0.0.1 and prints it on stdout (one line, once
it accepts).  Each accepted connection is relayed to 127.0.0.1:TARGET_PORT;
every chunk from the client is forwarded DELAY_MS after it arrived (in
order, each on its own deadline, so chunks are not delayed one after the
other), which delays every HTTP request by DELAY_MS.  The answers go back
as they come.  Runs until killed."""
import asyncio
import sys


async def copy_delayed(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def feed():
        while True:
            data = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                return

    task = asyncio.ensure_future(feed())
    try:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
    finally:
        task.cancel()


async def copy(reader, writer):
    while True:
        data = await reader.read(262144)
        if not data:
            if writer.can_write_eof():
                writer.write_eof()
            return
        writer.write(data)
        await writer.drain()


async def relay(creader, cwriter, port, delay):
    try:
        sreader, swriter = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        cwriter.close()
        return
    ups = asyncio.ensure_future(copy_delayed(creader, swriter, delay))
    downs = asyncio.ensure_future(copy(sreader, cwriter))
    try:
        await asyncio.wait([ups, downs], return_when=asyncio.FIRST_COMPLETED)
        # The client's end of a request is not the end of its answer: the
        # connection ends when the server's side does, or on an error.
        if ups.done() and ups.exception() is None and not downs.done():
            await downs
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        for t in (ups, downs):
            t.cancel()
        for w in (cwriter, swriter):
            w.close()


async def main():
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) / 1000.0
    server = await asyncio.start_server(
        lambda r, w: relay(r, w, port, delay), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write("usage: delay-relay.py TARGET_PORT DELAY_MS\n")
        sys.exit(2)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
