"""JetStream publish on a memory stream: natsd vs the Go server in one run.

    .venv/bin/python bench/jetstream.py [--messages N] [--size B] [--window W]

For each server: start it with -js (store in its temp dir), create a memory
stream ``BENCH`` on ``bench.>``, then publish with a reply subject and count the
PubAcks:

- sync: one message in flight (publish, wait for its PubAck, repeat);
- async: up to ``--window`` (256) messages in flight on one connection.

Every PubAck is checked (``{"stream":"BENCH","seq":N}`` in order, no errors),
and the stream's message count is read back at the end. The client is one
process with pre-built frames, so it costs far less than the server.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from core import HOST, BenchError, Server  # noqa: E402

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'


class Conn:
    def __init__(self, port: int) -> None:
        self.s = socket.create_connection((HOST, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self._line()  # INFO
        self.s.sendall(CONNECT + b"SUB _A.* 1\r\nPING\r\n")
        while self._line() != b"PONG":
            pass

    def _fill(self) -> None:
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise BenchError("server closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def msg(self) -> bytes:
        """The next MSG payload (answers server PINGs on the way)."""
        while True:
            line = self._line()
            if line == b"PING":
                self.s.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"MSG "):
                size = int(line.rsplit(b" ", 1)[1])
                while len(self.buf) < size + 2:
                    self._fill()
                data, self.buf = self.buf[:size], self.buf[size + 2 :]
                return data
            if line.startswith(b"-ERR"):
                raise BenchError(line.decode())

    def request(self, subject: str, body: bytes) -> dict:
        self.s.sendall(b"PUB %s _A.r %d\r\n%s\r\n" % (subject.encode(), len(body), body))
        return json.loads(self.msg())


def _check_ack(data: bytes, seq: int) -> None:
    expect = b'{"stream":"BENCH","seq":%d}' % seq
    if data != expect:
        raise BenchError(f"unexpected PubAck {data[:200]!r}, wanted {expect!r}")


def run(srv: Server, n: int, size: int, window: int) -> dict:
    c = Conn(srv.port)
    cfg = {"name": "BENCH", "subjects": ["bench.>"], "storage": "memory"}
    resp = c.request("$JS.API.STREAM.CREATE.BENCH", json.dumps(cfg).encode())
    if "error" in resp:
        raise BenchError(f"stream create failed: {resp['error']}")
    frame = b"PUB bench.x _A.a %d\r\n%s\r\n" % (size, b"x" * size)
    out = {}
    seq = 0
    sync_n = max(1, n // 10)
    t0 = time.perf_counter()
    for _ in range(sync_n):
        c.s.sendall(frame)
        seq += 1
        _check_ack(c.msg(), seq)
    out["sync msgs/s"] = sync_n / (time.perf_counter() - t0)
    # async: the expected PubAck frames are built before the clock starts, so
    # checking them is one memcmp per read, not Python work per message.
    first = seq + 1
    frames = [b"MSG _A.a 1 %d\r\n%s\r\n" % (len(a), a)
              for a in (b'{"stream":"BENCH","seq":%d}' % q for q in range(first, first + n))]
    ends = list(itertools.accumulate(len(f) for f in frames))
    expected = b"".join(frames)
    pending = c.buf
    c.buf = b""
    t0 = time.perf_counter()
    sent = got = acked = 0
    while acked < n:
        room = window - (sent - acked)
        if room > 0 and sent < n:
            k = min(room, n - sent)
            c.s.sendall(frame * k)
            sent += k
        data = pending or c.s.recv(1 << 20)
        pending = b""
        if not data:
            raise BenchError("server closed the connection")
        if b"PING\r\n" in data:  # keepalive from the server; PubAcks never contain it
            data = data.replace(b"PING\r\n", b"")
            c.s.sendall(b"PONG\r\n")
        if expected[got : got + len(data)] != data:
            raise BenchError(f"unexpected PubAck bytes at offset {got}: {data[:120]!r}")
        got += len(data)
        acked = bisect.bisect_right(ends, got)
    out["async msgs/s"] = n / (time.perf_counter() - t0)
    info = c.request("$JS.API.STREAM.INFO.BENCH", b"")
    stored = info["state"]["messages"]
    if stored != sync_n + n:
        raise BenchError(f"stream holds {stored} messages, expected {sync_n + n}")
    c.s.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--window", type=int, default=256)
    args = ap.parse_args(argv)
    go_bin = os.path.join(os.path.dirname(sys.executable), "nats-server")
    servers = [Server("natsd", [sys.executable, "-m", "natsd", "-js"]), Server("go", [go_bin, "-js"])]
    results: dict[str, dict] = {}
    try:
        for srv in servers:
            srv.argv += ["-sd", "store"]
            srv.start()
            try:
                results[srv.name] = run(srv, args.messages, args.size, args.window)
            finally:
                srv.stop()
    except BenchError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    print(f"JetStream publish, memory stream, {args.size} B payloads, {args.messages:,} async msgs")
    print(f"{'figure':<14}{'natsd':>14}{'go':>14}{'natsd/go':>10}")
    for key in ("sync msgs/s", "async msgs/s"):
        a, b = results["natsd"][key], results["go"][key]
        print(f"{key:<14}{a:>14,.0f}{b:>14,.0f}{a / b:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
