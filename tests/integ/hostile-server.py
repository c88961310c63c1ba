#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""hostile-server.py - an HTTP/1.1 server that misbehaves on purpose.

Usage: hostile-server.py [--size N] [--seed N] [--dump PATH]
                         [--tls CERT KEY]

Serves one deterministic image (--size bytes from a generator seeded with
--seed) at every URL /MODE/ANYTHING, on 127.0.0.1 and a port of the
kernel's choice, printed as the first line of standard output.  --dump
writes the image to PATH first, so a test can compare.  Every request is
logged to standard error as one line:

    REQ <n> <secs> GET /mode/x range=<Range or -> if-match=<If-Match or -> -> <status>[ retry-after=<secs>]

(<secs>: when the request had arrived, since the server started; the
line is written when the reply is over.)

Every mode answers the identity probe (a GET with "Range: bytes=0-0")
correctly: 206, "Content-Range: bytes 0-0/SIZE", "Content-Length: 1", a
strong ETag "v1" and a Last-Modified date (except nothing-strong, whose
probe gets only the weak ETag W/"v1").  If-Match other than "v1" (or *)
and If-Unmodified-Since other than that date get 412.  Any other range
(a "data request") is answered according to MODE:

  good            a correct 206 (keep-alive)
  200             200 OK with the whole image (Range ignored)
  cr-offbyone     Content-Range end one past the range (one short at the
                  image's end); body as asked
  cr-otherstart   Content-Range (and bytes) of a range starting elsewhere
  cr-othertotal   Content-Range total SIZE+4096: the image grew
  cr-star         206 with "Content-Range: bytes */SIZE"
  multipart       206 multipart/byteranges with the range as one part
  short-close     correct headers, half the body, then FIN
  reset           correct headers, part of the body, then RST
  trickle         correct headers, then one byte a second
  bigheaders      100,000 bytes of X-Pad-N headers, then a correct reply
  gzip            Content-Encoding: gzip, the range gzipped
  redirect-ftp    302 to ftp://127.0.0.1/x
  flaky-5xx       the first 2 requests for each URL and range get 503
                  (Retry-After: 1 on the first), then a correct 206
  404, 416, 412, 500-forever   that status, always
  401, 403, 410   that status, always
  garbage         not HTTP: an SSH banner and binary bytes, then FIN
  cl-short        a right Content-Range, Content-Length and body one short
  hang            reads the request, never answers (2 minutes at most)
  probe-hang      hang, for the probe too
  429-forever     429 with Retry-After: 1, always
  etag-change     the right bytes with ETag "v2"
  cr-padded       a right Content-Range followed by 200 blanks and junk
  longloc         every request: 302 to a 3000-byte absolute URL of this
                  server whose first 2047 bytes are /good/x?pad=aaa...
  noloc           every request: 302 without a Location
  lm-cr, etag-cr  the probe's Last-Modified (lm-cr: and no ETag) or ETag
                  holds a bare CR and a would-be header
  lm-junk         the probe has no ETag and "Last-Modified: yesterday"
  etag-junk       the probe's ETag is unquoted (v1), its Last-Modified good
  nothing-strong  the probe has no strong ETag and no Last-Modified
  (anything else) as good
"""
import argparse
import gzip
import random
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time

ETAG = '"v1"'
LAST_MODIFIED = "Tue, 01 Oct 2024 00:00:00 GMT"
HEAD_CAP = 65536

log_lock = threading.Lock()
req_no = 0


def log(msg):
    with log_lock:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()


def make_image(size, seed):
    rng = random.Random(seed)
    if hasattr(rng, "randbytes"):
        return rng.randbytes(size)
    return bytes(rng.getrandbits(8) for _ in range(size))


class Closed(Exception):
    """The connection is over (by the peer or by the mode)."""


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.buf = b""
        sock = self.request
        if self.server.tls:
            try:
                sock.settimeout(10)
                sock = self.server.tls.wrap_socket(sock, server_side=True)
                sock.settimeout(None)
            except (OSError, ssl.SSLError) as e:
                log("TLS handshake failed: %s" % e)
                self.sock = None
                return
        self.sock = sock

    def finish(self):
        if self.sock is not None and self.sock is not self.request:
            try:
                self.sock.close()
            except OSError:
                pass

    # --- reading a request -------------------------------------------
    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > HEAD_CAP:
                raise Closed()
            data = self.sock.recv(65536)
            if not data:
                raise Closed()
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise Closed()
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        # Request bodies are not expected (GET only); drop any.
        try:
            n = int(headers.get("content-length", "0") or 0)
        except ValueError:
            raise Closed()
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise Closed()
            self.buf += data
        self.buf = self.buf[n:]
        return parts[0], parts[1], headers

    # --- writing ------------------------------------------------------
    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            raise Closed()

    def head(self, status, reason, fields):
        lines = ["HTTP/1.1 %d %s" % (status, reason)]
        lines += ["%s: %s" % kv for kv in fields]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def reply(self, status, reason, fields, body=b""):
        fields = list(fields) + [("Content-Length", str(len(body)))]
        self.send(self.head(status, reason, fields) + body)
        for name, value in fields:
            if name == "Retry-After":
                return "%d retry-after=%s" % (status, value)
        return status

    def validators(self, etag=ETAG, lastmod=True):
        f = [("ETag", etag)]
        if lastmod:
            f.append(("Last-Modified", LAST_MODIFIED))
        return f

    def range_206(self, first, last, etag=ETAG, extra=()):
        img = self.server.image
        return self.reply(206, "Partial Content",
                          [("Content-Type", "application/octet-stream"),
                           ("Content-Range", "bytes %d-%d/%d" % (first, last, len(img)))]
                          + self.validators(etag) + list(extra),
                          img[first:last + 1])

    def hard_close(self):
        """Close now, with an RST instead of a FIN."""
        raw = self.sock
        try:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            raw.close()
        except OSError:
            pass
        raise Closed()

    # --- the modes ----------------------------------------------------
    def handle(self):
        if self.sock is None:
            return
        try:
            while True:
                self.handle_one()
        except Closed:
            pass
        except (OSError, ssl.SSLError):
            pass

    def handle_one(self):
        global req_no
        method, target, h = self.read_head()
        t = time.monotonic() - self.server.t0
        rng = h.get("range", "-")
        with log_lock:
            req_no += 1
            n = req_no
        status = None
        self.note = "?"
        try:
            status = self.respond(method, target, h)
        finally:
            if status is None:
                status = self.note
            log("REQ %d %.3f %s %s range=%s if-match=%s -> %s" %
                (n, t, method, target, rng,
                 h.get("if-match", "-"), status))
        if h.get("connection", "").lower() == "close":
            raise Closed()

    def respond(self, method, target, h):
        img = self.server.image
        size = len(img)
        path = target.split("?", 1)[0]
        mode = path.strip("/").split("/", 1)[0]
        if method != "GET":
            return self.reply(405, "Method Not Allowed", [("Allow", "GET")])
        rng = h.get("range")
        probe = rng is not None and rng.replace(" ", "") == "bytes=0-0"

        # Preconditions, for every request.
        im = h.get("if-match")
        if im is not None and im != "*" and ETAG not in [t.strip() for t in im.split(",")]:
            return self.reply(412, "Precondition Failed", [])
        ius = h.get("if-unmodified-since")
        if ius is not None and ius != LAST_MODIFIED:
            return self.reply(412, "Precondition Failed", [])

        # Modes whose probe is already wrong.
        if mode == "longloc":
            # An absolute Location of 3000+ bytes: cut at 2047 it would
            # still be a URL of this server (/good/...), fit to follow.
            loc = "http://%s/good/x?pad=%s" % (h.get("host", "127.0.0.1"), "a" * 3000)
            return self.reply(302, "Found", [("Location", loc)])
        if mode == "noloc":
            return self.reply(302, "Found", [])
        if probe and mode in ("lm-junk", "etag-junk"):
            if mode == "lm-junk":
                val = [("Last-Modified", "yesterday")]
            else:
                val = [("ETag", "v1"), ("Last-Modified", LAST_MODIFIED)]
            return self.reply(206, "Partial Content",
                              [("Content-Type", "application/octet-stream"),
                               ("Content-Range", "bytes 0-0/%d" % size)] + val,
                              img[0:1])
        if probe and mode in ("lm-cr", "etag-cr"):
            # A bare CR inside a validator: echoed into If-Match or
            # If-Unmodified-Since it would end that request line early.
            if mode == "lm-cr":
                val = [("Last-Modified", LAST_MODIFIED + "\rX-Injected: yes")]
            else:
                val = [("ETag", '"v1\rX-Injected: yes"'),
                       ("Last-Modified", LAST_MODIFIED)]
            return self.reply(206, "Partial Content",
                              [("Content-Type", "application/octet-stream"),
                               ("Content-Range", "bytes 0-0/%d" % size)] + val,
                              img[0:1])
        if probe and mode == "probe-hang":
            self.hang()
        if probe and mode == "probe-ra":
            return self.reply(503, "Service Unavailable", [("Retry-After", "3600")])
        if probe:
            if mode == "nothing-strong":
                val = [("ETag", 'W/"v1"')]
            else:
                val = self.validators()
            return self.reply(206, "Partial Content",
                              [("Content-Type", "application/octet-stream"),
                               ("Content-Range", "bytes 0-0/%d" % size)] + val,
                              img[0:1])

        if rng is None:
            return self.reply(200, "OK", self.validators(), img)
        first, last = self.parse_range(rng, size)
        if first is None:
            return self.reply(416, "Range Not Satisfiable",
                              [("Content-Range", "bytes */%d" % size)])
        want = last - first + 1
        data = img[first:last + 1]
        ok_fields = [("Content-Type", "application/octet-stream")]

        if mode == "200":
            return self.reply(200, "OK", ok_fields + self.validators(), img)
        if mode == "cr-offbyone":
            # One past the end asked for; one short at the image's end, so
            # the Content-Range stays well-formed (last < total).
            end = last + 1 if last + 1 < size else last - 1
            return self.reply(206, "Partial Content", ok_fields +
                              [("Content-Range", "bytes %d-%d/%d" % (first, end, size))]
                              + self.validators(), data)
        if mode == "cr-otherstart":
            # A valid range of the same length that starts elsewhere.
            other = max(0, first - 4096) if first else min(4096, size - want)
            return self.reply(206, "Partial Content", ok_fields +
                              [("Content-Range", "bytes %d-%d/%d" %
                                (other, other + want - 1, size))]
                              + self.validators(), img[other:other + want])
        if mode == "cr-othertotal":
            grown = img + bytes(4096)
            return self.reply(206, "Partial Content", ok_fields +
                              [("Content-Range", "bytes %d-%d/%d" % (first, last, size + 4096))]
                              + self.validators(), grown[first:last + 1])
        if mode == "cr-padded":
            # A right Content-Range, then 200 blanks and junk: the whole
            # value is malformed, though its first 127 bytes parse.
            return self.reply(206, "Partial Content", ok_fields +
                              [("Content-Range", "bytes %d-%d/%d%sjunk" %
                                (first, last, size, " " * 200))]
                              + self.validators(), data)
        if mode == "cr-star":
            return self.reply(206, "Partial Content", ok_fields +
                              [("Content-Range", "bytes */%d" % size)]
                              + self.validators(), data)
        if mode == "multipart":
            b = "HOSTILE_BOUNDARY_4f1c"
            body = (("--%s\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Range: bytes %d-%d/%d\r\n\r\n") % (b, first, last, size)
                    ).encode() + data + ("\r\n--%s--\r\n" % b).encode()
            return self.reply(206, "Partial Content",
                              [("Content-Type", "multipart/byteranges; boundary=" + b)]
                              + self.validators(), body)
        if mode in ("short-close", "reset"):
            hd = self.head(206, "Partial Content", ok_fields +
                           [("Content-Range", "bytes %d-%d/%d" % (first, last, size)),
                            ("Content-Length", str(want))] + self.validators())
            cut = want // 2 if mode == "short-close" else want // 4
            self.note = "206 %s after %d of %d bytes" % (mode, cut, want)
            self.send(hd + data[:cut])
            if mode == "reset":
                time.sleep(0.2)
                self.hard_close()
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise Closed()
        if mode == "trickle":
            hd = self.head(206, "Partial Content", ok_fields +
                           [("Content-Range", "bytes %d-%d/%d" % (first, last, size)),
                            ("Content-Length", str(want))] + self.validators())
            self.send(hd)
            for i in range(want):
                self.note = "206 trickle, peer gone after %d of %d bytes" % (i, want)
                self.send(data[i:i + 1])
                time.sleep(1)
            return 206
        if mode == "bigheaders":
            pad = [("X-Pad-%04d" % i, "p" * 88) for i in range(1000)]
            return self.range_206(first, last, extra=pad)
        if mode == "gzip":
            return self.reply(206, "Partial Content", ok_fields +
                              [("Content-Range", "bytes %d-%d/%d" % (first, last, size)),
                               ("Content-Encoding", "gzip")]
                              + self.validators(), gzip.compress(data))
        if mode == "redirect-ftp":
            return self.reply(302, "Found", [("Location", "ftp://127.0.0.1/x")])
        if mode == "flaky-5xx":
            key = (path, first, last)
            with self.server.lock:
                seen = self.server.counts.get(key, 0)
                self.server.counts[key] = seen + 1
            if seen == 0:
                return self.reply(503, "Service Unavailable", [("Retry-After", "1")])
            if seen == 1:
                return self.reply(503, "Service Unavailable", [])
            return self.range_206(first, last)
        if mode == "404":
            return self.reply(404, "Not Found", [], b"not here\n")
        if mode in ("401", "403", "410"):
            return self.reply(int(mode), "No", [], b"no\n")
        if mode == "garbage":
            # Not HTTP at all, then the connection closes.
            self.note = "garbage"
            self.send(b"SSH-2.0-OpenSSH_9.2\r\n" + bytes(range(256)) * 4)
            raise Closed()
        if mode == "cl-short":
            # Right range, one byte short, and Content-Length saying so.
            return self.reply(206, "Partial Content", ok_fields +
                              [("Content-Range", "bytes %d-%d/%d" % (first, last, size))]
                              + self.validators(), data[:-1])
        if mode in ("hang", "probe-hang"):
            self.hang()
        if mode == "416":
            return self.reply(416, "Range Not Satisfiable",
                              [("Content-Range", "bytes */%d" % size)])
        if mode == "412":
            return self.reply(412, "Precondition Failed", [])
        if mode == "429-forever":
            return self.reply(429, "Too Many Requests", [("Retry-After", "1")])
        if mode == "500-forever":
            return self.reply(500, "Internal Server Error", [], b"oops\n")
        if mode == "etag-change":
            return self.range_206(first, last, etag='"v2"')
        if mode in ("dblspace", "tab"):
            # A status line libcurl reads as 206 (its %3d skips blanks):
            # the data must be taken exactly as for a plain 206.
            sep = "  " if mode == "dblspace" else " \t"
            fields = [("Content-Range", "bytes %d-%d/%d" % (first, last, size)),
                      ("Content-Length", str(want))] + self.validators()
            head = ("HTTP/1.1%s206 Partial Content\r\n" % sep +
                    "".join("%s: %s\r\n" % kv for kv in fields) + "\r\n")
            self.send(head.encode("latin-1") + data)
            return 206
        if mode == "twocr":
            # Two Content-Ranges: which one would be believed?  Neither.
            other = min(first + 4096, size - want)
            return self.reply(206, "Partial Content",
                              [("Content-Range", "bytes %d-%d/%d" % (other, other + want - 1, size)),
                               ("Content-Range", "bytes %d-%d/%d" % (first, last, size))]
                              + self.validators(), img[other:other + want])
        if mode == "trailer":
            # A chunked 206 whose trailer tries to restate the range.
            other = min(first + 4096, size - want)
            head = self.head(206, "Partial Content",
                             [("Content-Range", "bytes %d-%d/%d" % (other, other + want - 1, size)),
                              ("Transfer-Encoding", "chunked"),
                              ("Trailer", "Content-Range")] + self.validators())
            body = b"%x\r\n" % want + img[other:other + want] + b"\r\n"
            body += b"0\r\nContent-Range: bytes %d-%d/%d\r\n\r\n" % (first, last, size)
            self.send(head + body)
            return 206
        if mode == "ra-hour":
            return self.reply(503, "Service Unavailable", [("Retry-After", "3600")])
        return self.range_206(first, last)

    def hang(self):
        """Read the request, never answer (until the peer goes away)."""
        self.note = "no answer"
        self.sock.settimeout(1)
        for _ in range(120):
            try:
                if not self.sock.recv(65536):
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        raise Closed()

    @staticmethod
    def parse_range(value, size):
        """(first, last) of "bytes=a-b" or "bytes=a-"; (None, None) if
        unsatisfiable or not a single range."""
        v = value.replace(" ", "")
        if not v.startswith("bytes=") or "," in v:
            return None, None
        a, sep, b = v[6:].partition("-")
        try:
            if not sep:
                return None, None
            if a == "":
                n = int(b)
                return (max(0, size - n), size - 1) if n > 0 else (None, None)
            first = int(a)
            last = int(b) if b else size - 1
        except ValueError:
            return None, None
        if first >= size or last < first:
            return None, None
        return first, min(last, size - 1)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1048576 + 123)
    ap.add_argument("--seed", type=int, default=20241001)
    ap.add_argument("--dump", metavar="PATH")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = ap.parse_args()

    image = make_image(a.size, a.seed)
    if a.dump:
        with open(a.dump, "wb") as f:
            f.write(image)
    srv = Server(("127.0.0.1", 0), Handler)
    srv.image = image
    srv.lock = threading.Lock()
    srv.counts = {}
    srv.t0 = time.monotonic()
    srv.tls = None
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.tls = ctx
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
