"""JetStream publish and restart: natsd vs the Go server in one run.

    .venv/bin/python bench/jetstream.py [--messages N] [--file-messages N] [--size B]
        [--window W] [--fill-mb MB] [--fill-size B] [--skip-restart]

Servers (each with JetStream, its store in its own temp dir):

- ``natsd``: default durability, group commit (one fsync per loop turn,
  before that turn's PubAcks are written);
- ``go``: Go's default, ``sync_interval: 2m`` (PubAck before fsync);
- ``go-always``: Go with ``jetstream { sync_interval: always }`` (a config
  file written into the temp dir), an fsync per write.

For a memory stream (natsd vs go) and a file stream (natsd vs go and
go-always), create stream ``BENCH`` on ``bench.>``, then publish with a reply
subject and count the PubAcks:

- sync: one message in flight (publish, wait for its PubAck, repeat), a
  tenth of the message count;
- async: up to ``--window`` (256) messages in flight on one connection.

Every PubAck is checked (``{"stream":"BENCH","seq":N}`` in order, no errors),
and the stream's message count is read back at the end. The client is one
process with pre-built frames, so it costs far less than the server.

Restart (natsd vs go): fill a file stream with ``--fill-mb`` of payload
(``--fill-size`` bytes each), stop the server (SIGTERM, graceful), start it
on the same store, and time from process start until ``STREAM.INFO``
answers with every message. The default is 1024 MB.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from core import HOST, BenchError, Server  # noqa: E402

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
GO_ALWAYS_CONF = "jetstream {\n  store_dir: store\n  sync_interval: always\n}\n"


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

    def create(self, storage: str) -> None:
        cfg = {"name": "BENCH", "subjects": ["bench.>"], "storage": storage}
        resp = self.request("$JS.API.STREAM.CREATE.BENCH", json.dumps(cfg).encode())
        if "error" in resp:
            raise BenchError(f"stream create failed: {resp['error']}")

    def messages(self) -> int:
        return self.request("$JS.API.STREAM.INFO.BENCH", b"")["state"]["messages"]


def _check_ack(data: bytes, seq: int) -> None:
    expect = b'{"stream":"BENCH","seq":%d}' % seq
    if data != expect:
        raise BenchError(f"unexpected PubAck {data[:200]!r}, wanted {expect!r}")


def publish_async(c: Conn, frame: bytes, first: int, n: int, window: int) -> float:
    """Publish n frames with up to window in flight; return the seconds taken.

    The expected PubAck frames are built before the clock starts, so checking
    them is one memcmp per read, not Python work per message.
    """
    frames = [b"MSG _A.a 1 %d\r\n%s\r\n" % (len(a), a)
              for a in (b'{"stream":"BENCH","seq":%d}' % q for q in range(first, first + n))]
    ends = list(itertools.accumulate(len(f) for f in frames))
    expected = b"".join(frames)
    del frames
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
    return time.perf_counter() - t0


def run(srv: Server, storage: str, n: int, size: int, window: int) -> dict:
    c = Conn(srv.port)
    c.create(storage)
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
    out["async msgs/s"] = n / publish_async(c, frame, seq + 1, n, window)
    stored = c.messages()
    if stored != sync_n + n:
        raise BenchError(f"stream holds {stored} messages, expected {sync_n + n}")
    c.request("$JS.API.STREAM.DELETE.BENCH", b"")
    c.s.close()
    return out


def restart(srv: Server, fill_bytes: int, size: int, window: int) -> dict:
    """Fill a file stream, stop the server, and time its restart until STREAM.INFO is complete."""
    srv.start()
    c = Conn(srv.port)
    c.create("file")
    n = max(1, fill_bytes // size)
    frame = b"PUB bench.x _A.a %d\r\n%s\r\n" % (size, os.urandom(size // 2).hex().encode()[:size])
    fill_s = publish_async(c, frame, 1, n, window)
    c.s.close()
    srv.halt(grace=120.0)
    t0 = time.perf_counter()
    srv.start(ready_timeout=600.0)
    while True:
        c = Conn(srv.port)
        try:
            resp = c.request("$JS.API.STREAM.INFO.BENCH", b"")
        finally:
            c.s.close()
        got = resp.get("state", {}).get("messages")
        if got == n:
            break
        if time.perf_counter() - t0 > 600:
            raise BenchError(f"after restart the stream answers {resp}, expected {n} messages")
        time.sleep(0.01)
    return {"messages": n, "fill s": fill_s, "restart s": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000, help="async msgs, memory stream")
    ap.add_argument("--file-messages", type=int, default=20_000, help="async msgs, file stream")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--fill-mb", type=int, default=1024, help="payload MB for the restart figure")
    ap.add_argument("--fill-size", type=int, default=4096, help="payload bytes per fill message")
    ap.add_argument("--skip-restart", action="store_true")
    args = ap.parse_args(argv)
    go_bin = os.path.join(os.path.dirname(sys.executable), "nats-server")
    natsd = Server("natsd", [sys.executable, "-m", "natsd", "-js", "-sd", "store"])
    go = Server("go", [go_bin, "-js", "-sd", "store"])
    go_always = Server("go-always", [go_bin, "-js", "-c", "always.conf"])
    results: dict[tuple[str, str], dict] = {}
    restarts: dict[str, dict] = {}
    try:
        for srv in (natsd, go, go_always):
            if srv is go_always:
                # the config file lives in the server's temp dir: create it before starting
                srv.tmp = tempfile.mkdtemp(prefix="bench-go-always-")
                with open(os.path.join(srv.tmp, "always.conf"), "w") as f:
                    f.write(GO_ALWAYS_CONF)
            srv.start()
            try:
                if srv is not go_always:
                    results[(srv.name, "memory")] = run(srv, "memory", args.messages, args.size, args.window)
                results[(srv.name, "file")] = run(srv, "file", args.file_messages, args.size, args.window)
            finally:
                srv.stop()
        if not args.skip_restart:
            for srv in (natsd, go):
                try:
                    restarts[srv.name] = restart(srv, args.fill_mb << 20, args.fill_size, args.window)
                finally:
                    srv.stop()
    except BenchError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        for srv in (natsd, go, go_always):
            srv.stop()
    print(f"JetStream publish, {args.size} B payloads; async msgs: memory {args.messages:,}, "
          f"file {args.file_messages:,}; sync msgs: a tenth of that")
    print(f"{'figure':<20}{'natsd':>12}{'go':>12}{'go-always':>12}{'natsd/go':>10}{'natsd/always':>14}")
    for storage in ("memory", "file"):
        for key in ("sync msgs/s", "async msgs/s"):
            a, b = results[("natsd", storage)][key], results[("go", storage)][key]
            row = f"{storage + ' ' + key:<20}{a:>12,.0f}{b:>12,.0f}"
            c = results.get(("go-always", storage), {}).get(key)
            row += f"{c:>12,.0f}" if c else f"{'-':>12}"
            row += f"{a / b:>10.3f}" + (f"{a / c:>14.3f}" if c else f"{'-':>14}")
            print(row)
    if restarts:
        r = restarts["natsd"]
        print(f"\nRestart, file stream of {args.fill_mb} MB ({r['messages']:,} msgs of {args.fill_size} B), "
              "process start -> STREAM.INFO with every message")
        print(f"{'figure':<20}{'natsd':>12}{'go':>12}{'natsd/go':>10}")
        for key in ("fill s", "restart s"):
            a, b = restarts["natsd"][key], restarts["go"][key]
            print(f"{key:<20}{a:>12.2f}{b:>12.2f}{a / b:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
