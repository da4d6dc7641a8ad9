"""Consumers and KV: natsd vs the Go server in one run.

    .venv/bin/python bench/consumer.py [--messages N] [--size B] [--batch B] [--storage file|memory]
                                       [--kv N] [--only natsd|go]

For each server (started with -js, store in its temp dir):

- fill stream ``BENCH`` (``bench.>``) with N messages (not timed);
- pull: a durable pull consumer with explicit acks; pull requests of
  ``--batch`` (256) messages, every message acked (+ACK published to its reply
  subject) as it arrives, the next pull sent when a batch is complete; msgs/s
  over the whole stream;
- ordered: an ephemeral push consumer as nats-py's ordered consumer creates it
  (ack none, flow control, idle heartbeat, memory state, R1); flow-control
  requests are answered; msgs/s until all N arrived;
- kv: a KV bucket stream as nats-py's ``create_key_value`` makes it, then
  ``--kv`` puts (one in flight, PubAck awaited) and as many gets (direct get of
  the last message of the key, one in flight); ops/s each.

Every delivery is checked: the pull and ordered consumers must see stream
sequences 1..N in order (from the ack reply subject / the message count), the
KV get must return the value put. The ordered consumer's deliver subject is
subscribed literally: with only a wildcard subscription (``_O.*``) the Go
server (2.15.1) never delivered to it in our runs. The client is one process working on raw
frames, so it costs far less than either server.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from core import HOST, BenchError, Server  # noqa: E402

R, P, OD, K = b"1", b"2", b"3", b"4"  # sids of _R.*, _P.*, _O.d, _K.* (see run)
CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'


class Conn:
    """A raw client connection: frames in, parsed (kind, subject, reply, hdr, body) out."""

    def __init__(self, port: int, subs: list[str]) -> None:
        self.s = socket.create_connection((HOST, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pos = 0
        self.backlog: list = []  # messages that arrived while a request waited for its reply
        self._line()  # INFO
        subs_b = b"".join(b"SUB %s %d\r\n" % (s.encode(), i + 1) for i, s in enumerate(subs))
        self.s.sendall(CONNECT + subs_b + b"PING\r\n")
        while self._line() != b"PONG":
            pass

    def _fill(self) -> None:
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise BenchError("server closed the connection")
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0

    def _line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos:end]
                self.pos = end + 2
                return line
            self._fill()

    def _take(self, n: int) -> bytes:
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = self.buf[self.pos:self.pos + n]
        self.pos += n + 2
        return data

    def next(self) -> tuple[str, bytes, bytes | None, bytes, bytes]:
        """The next message: (kind, sid, reply or None, header block, body).

        By sid, not subject: JetStream delivers to the deliver subject (or the
        pull request's reply) with the message's own subject in the frame."""
        if self.backlog:
            return self.backlog.pop(0)
        return self._read()

    def _read(self) -> tuple[str, bytes, bytes | None, bytes, bytes]:
        while True:
            line = self._line()
            if line == b"PING":
                self.s.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"MSG "):
                parts = line.split(b" ")
                size = int(parts[-1])
                reply = parts[3] if len(parts) == 5 else None
                return "MSG", parts[2], reply, b"", self._take(size)
            if line.startswith(b"HMSG "):
                parts = line.split(b" ")
                hlen, size = int(parts[-2]), int(parts[-1])
                reply = parts[3] if len(parts) == 6 else None
                data = self._take(size)
                return "HMSG", parts[2], reply, data[:hlen], data[hlen:]
            if line.startswith(b"-ERR"):
                raise BenchError(line.decode())

    def request(self, subject: str, body: bytes) -> dict:
        self.s.sendall(b"PUB %s _R.r %d\r\n%s\r\n" % (subject.encode(), len(body), body))
        while True:
            m = self._read()
            if m[1] == R and m[2] is None:
                return json.loads(m[4])
            self.backlog.append(m)

    def api(self, subject: str, obj: dict) -> dict:
        resp = self.request(subject, json.dumps(obj).encode())
        if "error" in resp:
            raise BenchError(f"{subject}: {resp['error']}")
        return resp


def _fill_stream(c: Conn, n: int, size: int, storage: str) -> None:
    c.api("$JS.API.STREAM.CREATE.BENCH", {"name": "BENCH", "subjects": ["bench.>"], "storage": storage})
    payload = b"x" * size
    frame = b"PUB bench.x _R.a %d\r\n%s\r\n" % (size, payload)
    sent = acked = 0
    while acked < n:
        k = min(256 - (sent - acked), n - sent)
        if k > 0:
            c.s.sendall(frame * k)
            sent += k
        _, subj, _, _, data = c.next()
        if subj == R:
            if b'"error"' in data:
                raise BenchError(f"publish failed: {data[:200]!r}")
            acked += 1


def bench_pull(c: Conn, n: int, batch: int) -> float:
    c.api("$JS.API.CONSUMER.DURABLE.CREATE.BENCH.PULL",
          {"stream_name": "BENCH", "config": {"durable_name": "PULL", "ack_policy": "explicit",
                                              "max_ack_pending": -1}})
    got = 0
    t0 = time.perf_counter()
    while got < n:
        want = min(batch, n - got)
        req = json.dumps({"batch": want, "expires": 10_000_000_000}).encode()
        c.s.sendall(b"PUB $JS.API.CONSUMER.MSG.NEXT.BENCH.PULL _P.x %d\r\n%s\r\n" % (len(req), req))
        acks = []
        k = 0
        while k < want:
            kind, subj, reply, hdr, _ = c.next()
            if subj != P:
                continue
            if kind == "HMSG" and hdr.startswith(b"NATS/1.0 "):
                raise BenchError(f"status during pull: {hdr[:80]!r}")
            seq = int(reply.split(b".")[5])  # $JS.ACK.<stream>.<consumer>.<dlv>.<sseq>...
            if seq != got + 1:
                raise BenchError(f"pull delivered stream seq {seq}, expected {got + 1}")
            got += 1
            k += 1
            acks.append(b"PUB %s 4\r\n+ACK\r\n" % reply)
        c.s.sendall(b"".join(acks))
    dt = time.perf_counter() - t0
    info = c.api("$JS.API.CONSUMER.INFO.BENCH.PULL", {})
    c.s.sendall(b"PING\r\n")  # let the last acks land before reading the floor
    deadline = time.monotonic() + 10
    while info["ack_floor"]["stream_seq"] != n and time.monotonic() < deadline:
        info = c.api("$JS.API.CONSUMER.INFO.BENCH.PULL", {})
    if info["ack_floor"]["stream_seq"] != n:
        raise BenchError(f"ack floor {info['ack_floor']} after acking {n}")
    return n / dt


def bench_ordered(c: Conn, n: int) -> float:
    cfg = {"deliver_subject": "_O.d", "ack_policy": "none", "flow_control": True,
           "idle_heartbeat": 5_000_000_000, "mem_storage": True, "num_replicas": 1,
           "deliver_policy": "all", "max_deliver": 1, "inactive_threshold": 300_000_000_000}
    t0 = time.perf_counter()
    c.api("$JS.API.CONSUMER.CREATE.BENCH", {"stream_name": "BENCH", "config": cfg})
    got = 0
    while got < n:
        kind, subj, reply, hdr, _ = c.next()
        if subj != OD:
            continue
        if kind == "HMSG" and hdr.startswith(b"NATS/1.0 100"):
            if reply is not None:  # flow control request: answer it
                c.s.sendall(b"PUB %s 0\r\n\r\n" % reply)
            continue
        got += 1
    return n / (time.perf_counter() - t0)


def bench_kv(c: Conn, n: int, storage: str) -> tuple[float, float]:
    c.api("$JS.API.STREAM.CREATE.KV_B", {
        "name": "KV_B", "subjects": ["$KV.B.>"], "max_msgs_per_subject": 1, "discard": "new",
        "allow_rollup_hdrs": True, "deny_delete": True, "allow_direct": True, "storage": storage,
        "duplicate_window": 120_000_000_000, "num_replicas": 1})
    t0 = time.perf_counter()
    for i in range(n):
        val = b"v%d" % i
        c.s.sendall(b"PUB $KV.B.k%d _K.p %d\r\n%s\r\n" % (i, len(val), val))
        while True:
            _, subj, _, _, data = c.next()
            if subj == K:
                break
        if b'"error"' in data:
            raise BenchError(f"kv put failed: {data[:200]!r}")
    put = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(n):
        c.s.sendall(b"PUB $JS.API.DIRECT.GET.KV_B.$KV.B.k%d _K.g 0\r\n\r\n" % i)
        while True:
            _, subj, _, _, data = c.next()
            if subj == K:
                break
        if data != b"v%d" % i:
            raise BenchError(f"kv get k{i} returned {data[:80]!r}")
    get = n / (time.perf_counter() - t0)
    return put, get


def run(srv: Server, args) -> dict:
    c = Conn(srv.port, ["_R.*", "_P.*", "_O.d", "_K.*"])
    _fill_stream(c, args.messages, args.size, args.storage)
    out = {"pull msgs/s": bench_pull(c, args.messages, args.batch),
           "ordered msgs/s": bench_ordered(c, args.messages)}
    out["kv put ops/s"], out["kv get ops/s"] = bench_kv(c, args.kv, args.storage)
    c.s.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--kv", type=int, default=5_000)
    ap.add_argument("--storage", choices=("file", "memory"), default="file")
    ap.add_argument("--only", choices=("natsd", "go"))
    args = ap.parse_args(argv)
    go_bin = os.path.join(os.path.dirname(sys.executable), "nats-server")
    servers = [Server("natsd", [sys.executable, "-m", "natsd", "-js"]), Server("go", [go_bin, "-js"])]
    if args.only:
        servers = [s for s in servers if s.name == args.only]
    results: dict[str, dict] = {}
    try:
        for srv in servers:
            srv.argv += ["-sd", "store"]
            srv.start()
            try:
                results[srv.name] = run(srv, args)
            finally:
                srv.stop()
    except BenchError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    print(f"Consumers and KV, {args.storage} stream, {args.size} B payloads, {args.messages:,} msgs, "
          f"pull batch {args.batch}, {args.kv:,} KV ops")
    names = list(results)
    print(f"{'figure':<16}" + "".join(f"{n:>14}" for n in names) + (f"{'natsd/go':>10}" if len(names) == 2 else ""))
    for key in results[names[0]]:
        vals = [results[n][key] for n in names]
        ratio = f"{vals[0] / vals[1]:>10.3f}" if len(vals) == 2 else ""
        print(f"{key:<16}" + "".join(f"{v:>14,.0f}" for v in vals) + ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
