#!/usr/bin/env python3
"""Core NATS throughput / latency benchmark: natsd versus the Go nats-server.

    python bench/core.py [--quick] [--only natsd|go] [--json out.json]

Starts each server in turn (127.0.0.1, a free port, a temp dir as cwd) and
measures, for payload sizes 16 B and 128 B:

  * pub-only        msgs/s published with no subscribers
  * 1->1 pub/sub    msgs/s received by one subscriber
  * 1->4 fan-out    msgs/s published, and msgs/s delivered to 4 subscribers
  * 1->4 queue      msgs/s delivered to one 4-member queue group
  * request/reply   p50 / p99 round-trip latency, sequential requests

The load generator runs in separate OS processes (multiprocessing, spawn),
talks the raw protocol over blocking sockets, sends large pre-built pipelined
PUB buffers with sendall(), and checks what subscribers receive by comparing
received chunks against a pre-built pattern of the (fixed-length) MSG frame
with bytes.startswith() (a memcmp) -- no per-message Python work at all.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"echo":false}\r\n'
PING = b"PING\r\n"
PONG = b"PONG\r\n"

DATA_SUBJ = "bench.data"  # the measured stream
END_SUBJ = "bench.end"  # end-of-stream sentinel, 0-byte payload, seen by every subscriber
REQ_SUBJ = "bench.req"
INBOX_SUBJ = "bench.inbox"
QUEUE = "bench.q"
DATA_SID = 1
END_SID = 2
SENTINEL = f"MSG {END_SUBJ} {END_SID} 0\r\n\r\n".encode()

SIZES = (16, 128)
FANOUT = 4
SEND_BLOCK = 4 << 20  # publisher sends the stream in pre-built blocks of ~4 MiB
RECV_SIZE = 1 << 20  # subscriber recv_into() buffer
NAP_BELOW = 64 << 10  # subscriber naps after a recv shorter than this ...
NAP_S = 0.001  # ... for this long, so it wakes ~2000x/s at most instead of per segment


def clock_ns() -> int:
    """System-wide monotonic clock: comparable between processes on one host."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def payload_bytes(size: int) -> bytes:
    return (b"0123456789abcdefghijklmnopqrstuvwxyz" * (size // 36 + 1))[:size]


def pub_frame(subject: str, size: int, reply: str | None = None) -> bytes:
    rp = f" {reply}" if reply else ""
    return f"PUB {subject}{rp} {size}\r\n".encode() + payload_bytes(size) + b"\r\n"


def msg_frame(subject: str, sid: int, size: int, reply: str | None = None) -> bytes:
    rp = f" {reply}" if reply else ""
    return f"MSG {subject} {sid}{rp} {size}\r\n".encode() + payload_bytes(size) + b"\r\n"


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- raw client helpers


def open_conn(port: int, timeout: float, subs: bytes = b"") -> socket.socket:
    """Connect, send CONNECT (+ optional SUBs) and PING, and wait for the PONG."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(CONNECT + subs + PING)
    buf = b""
    while not buf.endswith(PONG):
        chunk = s.recv(65536)
        if not chunk:
            raise BenchError(f"server closed the connection during handshake: {buf[-300:]!r}")
        buf += chunk
        if b"-ERR" in buf:
            raise BenchError(f"server error during handshake: {buf[-300:]!r}")
    return s


def kernel_timeouts(s: socket.socket, seconds: float) -> None:
    """Make s blocking, with SO_RCVTIMEO/SO_SNDTIMEO as the hang guard.

    A Python-level socket timeout makes every recv() a poll()+recv() pair, which on this kind of
    machine adds tens of microseconds to each wake-up (measurable in request/reply latency); a
    kernel timeout costs nothing per call.  A timed-out call raises OSError (EAGAIN).
    """
    s.settimeout(None)
    sec = int(seconds)
    tv = struct.pack("ll", sec, int((seconds - sec) * 1e6))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)


def cpu_s() -> float:
    return time.process_time()


# --------------------------------------------------------------------------- worker jobs


class StreamCheck:
    """Exact, cheap check of a subscriber's byte stream: FRAME* (+ server PINGs) + SENTINEL.

    Every data frame is identical (same subject, sid and payload), so the data must be FRAME
    repeated.  Each received chunk is compared in one memcmp (bytes.startswith) with a pre-built
    repetition of the frame, starting at the current phase inside the frame.  Only when that
    fails (a server PING -- the Go server sends one ~2 s after connect --, the end sentinel, or a
    genuine error) does the slow path bisect for the first mismatch and look at what is there.
    A PING or the sentinel split across chunks is carried over; since the sentinel starts like a
    data frame ("MSG "), a partial frame that turns out to be the sentinel's head is rewound.
    """

    def __init__(self, frame: bytes, sock: socket.socket | None):
        self.frame = frame
        self.flen = len(frame)
        self.pat = frame * (RECV_SIZE // self.flen + 4)
        self.sock = sock
        self.phase = 0  # position inside the current data frame
        self.data_bytes = 0  # data-frame bytes accepted so far
        self.carry = b""  # a partial PING / sentinel at the end of the previous chunk
        self.seen = 0  # stream bytes consumed before the current chunk (for messages)
        self.pings = 0
        self.done = False
        self.cp = next(i for i, (a, b) in enumerate(zip(frame, SENTINEL, strict=False)) if a != b)

    def feed(self, chunk) -> bool:
        """Consume one received chunk (bytes-like); True once the sentinel has been seen."""
        if self.carry:
            data = memoryview(self.carry + bytes(chunk))
            self.seen -= len(self.carry)
            self.carry = b""
        else:
            data = chunk
        n = len(data)
        if self.pat.startswith(data, self.phase):  # the fast path: all data frames
            self.phase = (self.phase + n) % self.flen
            self.data_bytes += n
            self.seen += n
            return False
        done = self._slow(data)
        self.seen += n
        return done

    def _slow(self, data) -> bool:
        pat, flen, n, i = self.pat, self.flen, len(data), 0
        while i < n:
            ph = self.phase
            hi = min(n - i, len(pat) - ph)
            if pat.startswith(data[i : i + hi], ph):
                m = hi
            else:  # bisect: data[i:i+lo] matches, data[i:i+hi] does not
                lo = 0
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if pat.startswith(data[i : i + mid], ph):
                        lo = mid
                    else:
                        hi = mid
                m = lo
            i += m
            self.data_bytes += m
            self.phase = (ph + m) % flen
            if i >= n:
                return False
            ph = self.phase
            if ph and ph > self.cp:
                raise BenchError(self._error(data, i))
            head = self.frame[:ph]  # counted as data, but really the start of the sentinel?
            want = len(SENTINEL) - ph
            rest = head + bytes(data[i : i + want])
            if rest.startswith(PING) and not ph:
                if self.sock is not None:
                    self.sock.sendall(PONG)
                self.pings += 1
                i += len(PING)
                continue
            if rest.startswith(SENTINEL):
                self.data_bytes -= ph
                self.phase = 0
                self.done = True
                return True  # anything after the sentinel is not ours to judge
            if i + want >= n and (PING.startswith(rest) or SENTINEL.startswith(rest)):
                self.data_bytes -= ph  # a partial PING or sentinel ends this chunk
                self.phase = 0
                self.carry = rest
                return False
            raise BenchError(self._error(data, i))
        return False

    def _error(self, data, i: int) -> str:
        lo = max(0, i - 40)
        got = bytes(data[lo : i + 60])
        return (
            f"unexpected bytes in the subscriber stream at offset {self.seen + i} (after "
            f"{self.data_bytes // self.flen} messages, phase {self.phase} in the "
            f"{self.flen}-byte frame): ...{got!r}...; frame is {self.frame!r}"
        )

    def messages(self) -> int:
        if self.phase or self.data_bytes % self.flen:
            raise BenchError(
                f"stream ended inside a data frame ({self.data_bytes} data bytes, {self.flen}-byte frames)"
            )
        return self.data_bytes // self.flen


def job_sub(ctl, port: int, size: int, queue: str | None, idle_timeout: float, deadline_s: float) -> dict:
    """Subscribe, report ready, then swallow (and check) the stream until the end sentinel."""
    q = f" {queue}" if queue else ""
    subs = f"SUB {DATA_SUBJ}{q} {DATA_SID}\r\nSUB {END_SUBJ} {END_SID}\r\n".encode()
    s = open_conn(port, idle_timeout, subs)
    try:
        kernel_timeouts(s, idle_timeout)
        check = StreamCheck(msg_frame(DATA_SUBJ, DATA_SID, size), s)
        ctl.send(("ready", None))
        c0 = cpu_s()
        buf = bytearray(RECV_SIZE)
        mv = memoryview(buf)
        t_first = None
        deadline = clock_ns() + int(deadline_s * 1e9)
        recv_into = s.recv_into
        feed = check.feed
        nap = time.sleep
        recvs = 0
        while True:
            n = recv_into(buf)
            t = clock_ns()
            if n == 0:
                raise BenchError(
                    f"server closed the subscriber connection after {check.data_bytes // check.flen} messages"
                )
            recvs += 1
            if t_first is None:
                t_first = t
            if feed(mv[:n]):
                break
            if t > deadline:
                raise BenchError(
                    f"subscriber deadline exceeded after {check.data_bytes // check.flen} messages"
                )
            if n < NAP_BELOW:
                nap(NAP_S)
        return {
            "msgs": check.messages(),
            "t_first": t_first,
            "t_end": t,
            "cpu": cpu_s() - c0,
            "pings": check.pings,
            "recvs": recvs,
        }
    finally:
        s.close()


def job_pub(ctl, port: int, size: int, n: int, idle_timeout: float) -> dict:
    """Publish n messages as pre-built pipelined blocks, then the sentinel, then PING/PONG."""
    frame = pub_frame(DATA_SUBJ, size)
    per_block = max(1, SEND_BLOCK // len(frame))
    block = frame * per_block
    reps, rem = divmod(n, per_block)
    tail = frame * rem + f"PUB {END_SUBJ} 0\r\n\r\n".encode() + PING
    s = open_conn(port, idle_timeout)
    try:
        kernel_timeouts(s, idle_timeout)
        c0 = cpu_s()
        sendall = s.sendall
        t0 = clock_ns()
        for _ in range(reps):
            sendall(block)
        sendall(tail)
        t_sent = clock_ns()
        buf = b""
        while PONG not in buf:  # (a server PING may come first)
            chunk = s.recv(4096)
            if not chunk:
                raise BenchError(f"server closed the publisher connection: {buf[-300:]!r}")
            buf += chunk
            if b"-ERR" in buf:
                raise BenchError(f"server error to publisher: {buf[-300:]!r}")
        t_pong = clock_ns()
        return {"t0": t0, "t_sent": t_sent, "t_pong": t_pong, "cpu": cpu_s() - c0}
    finally:
        s.close()


def job_responder(ctl, port: int, idle_timeout: float) -> dict:
    """Raw-socket responder: answer every request on REQ_SUBJ; a 0-byte request means stop."""
    s = open_conn(port, idle_timeout, f"SUB {REQ_SUBJ} 1\r\n".encode())
    try:
        kernel_timeouts(s, idle_timeout)
        ctl.send(("ready", None))
        c0 = cpu_s()
        buf = b""
        served = 0
        while True:
            while (i := buf.find(b"\r\n")) < 0:
                buf += _recv(s)
            hdr = buf[:i].split()
            if hdr[0] == b"PING":
                s.sendall(PONG)
                buf = buf[i + 2 :]
                continue
            if hdr[0] != b"MSG" or len(hdr) not in (4, 5):
                raise BenchError(f"responder: unexpected line {buf[:i]!r}")
            size = int(hdr[-1])
            need = i + 2 + size + 2
            while len(buf) < need:
                buf += _recv(s)
            payload = buf[i + 2 : i + 2 + size]
            buf = buf[need:]
            if size == 0:  # the requester's stop message (no reply subject)
                break
            if len(hdr) != 5:
                raise BenchError(f"responder: request without a reply subject: {hdr!r}")
            s.sendall(b"PUB %s %d\r\n%s\r\n" % (hdr[3], size, payload))
            served += 1
        return {"served": served, "cpu": cpu_s() - c0}
    finally:
        s.close()


def _recv(s: socket.socket) -> bytes:
    chunk = s.recv(65536)
    if not chunk:
        raise BenchError("server closed the connection")
    return chunk


def job_requester(ctl, port: int, size: int, n: int, warmup: int, idle_timeout: float) -> dict:
    """Sequential request/reply round trips; returns the n timed latencies in ns."""
    req = pub_frame(REQ_SUBJ, size, reply=INBOX_SUBJ)
    expect = msg_frame(INBOX_SUBJ, 1, size)
    elen = len(expect)
    s = open_conn(port, idle_timeout, f"SUB {INBOX_SUBJ} 1\r\n".encode())
    try:
        kernel_timeouts(s, idle_timeout)
        c0 = cpu_s()
        buf = bytearray(max(65536, elen * 2))
        mv = memoryview(buf)
        lat = []
        perf = time.perf_counter_ns
        for i in range(warmup + n):
            t = perf()
            s.sendall(req)
            got = 0
            while got < elen:
                k = s.recv_into(mv[got:])
                if not k:
                    raise BenchError("server closed the requester connection")
                got += k
                if mv[0] == 0x50 and got >= 6 and mv[:6] == PING:  # a server PING: answer, drop
                    s.sendall(PONG)
                    buf[: got - 6] = buf[6:got]
                    got -= 6
            dt = perf() - t
            if got == elen + len(PING) and mv[elen:got] == PING:
                s.sendall(PONG)
                got = elen
            if got != elen or mv[:elen] != expect:
                raise BenchError(f"requester: unexpected reply {bytes(mv[:got])[:200]!r}")
            if i >= warmup:
                lat.append(dt)
        s.sendall(f"PUB {REQ_SUBJ} 0\r\n\r\n".encode())
        return {"lat_ns": lat, "cpu": cpu_s() - c0}
    finally:
        s.close()


JOBS = {"sub": job_sub, "pub": job_pub, "responder": job_responder, "requester": job_requester}


def worker_main(conn) -> None:
    # The parent owns Ctrl-C handling and terminates workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        job, kw = msg
        try:
            conn.send(("done", JOBS[job](conn, **kw)))
        except Exception as e:  # report everything to the parent
            if isinstance(e, (BlockingIOError, TimeoutError)):
                detail = f"no progress within the idle timeout ({e})"
            elif isinstance(e, (BenchError, OSError)):
                detail = str(e)
            else:
                detail = traceback.format_exc()
            conn.send(("error", f"{job}: {type(e).__name__}: {detail}"))


# --------------------------------------------------------------------------- worker pool (parent side)


class Worker:
    def __init__(self, ctx, name: str):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker_main, args=(child,), name=name, daemon=True)
        self.proc.start()
        child.close()

    def start(self, job: str, **kw) -> None:
        self.conn.send((job, kw))

    def wait(self, expect: str, timeout: float):
        """Return the payload of the next message; raise BenchError on error or timeout."""
        if not self.conn.poll(timeout):
            raise TimeoutError(f"worker {self.proc.name} gave no answer within {timeout:.0f}s")
        kind, payload = self.conn.recv()
        if kind == "error":
            raise BenchError(payload)
        if kind != expect:
            raise BenchError(f"worker {self.proc.name}: expected {expect!r}, got {kind!r}")
        return payload

    def stop(self) -> None:
        try:
            if self.proc.is_alive():
                self.conn.send(None)
                self.proc.join(1.0)
        except (OSError, ValueError):
            pass
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2.0)
        self.conn.close()


class Pool:
    """Persistent worker processes (spawned once, reused for every measurement)."""

    def __init__(self, size: int):
        self.ctx = mp.get_context("spawn")
        self.size = size
        self.workers: list[Worker] = []
        self.reset()

    def reset(self) -> None:
        self.close()
        self.workers = [Worker(self.ctx, f"bench-w{i}") for i in range(self.size)]

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers = []


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _pdeathsig() -> None:  # runs in the child before exec: die with the bench (Linux)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int = 0
    proc: subprocess.Popen | None = None
    tmp: str = ""
    log_path: str = ""
    info: dict = field(default_factory=dict)

    def start(self, ready_timeout: float = 20.0) -> None:
        # a restart after halt() keeps the temp dir (and so the store) of the previous run
        self.tmp = self.tmp or tempfile.mkdtemp(prefix=f"bench-{self.name}-")
        self.port = free_port()
        self.log_path = os.path.join(self.tmp, "server.log")
        argv = self.argv + ["-a", HOST, "-p", str(self.port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.tmp,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_pdeathsig if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + ready_timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with code {self.proc.returncode} before it was "
                    f"ready:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0) as s:
                    s.settimeout(2.0)
                    line = b""
                    while b"\r\n" not in line:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        line += chunk
                    if line.startswith(b"INFO "):
                        self.info = json.loads(line[5 : line.index(b"\r\n")])
                        return
                    last = f"no INFO line, got {line[:200]!r}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.02)
        raise BenchError(
            f"{self.name} not ready on port {self.port} after {ready_timeout}s ({last})\n{self.log_tail()}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_s(self) -> float:
        """utime+stime of the server process, from /proc (0.0 where unavailable)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, AttributeError):
            return 0.0

    def log_tail(self, n: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        self.halt()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = ""

    def halt(self, grace: float = 5.0) -> None:
        """Stop the process (SIGTERM, SIGKILL after grace s) but keep its temp dir for a restart."""
        if self.proc is not None and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.proc.pid, sig)  # its own session: this group is only the server
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue


# --------------------------------------------------------------------------- measurements


@dataclass
class Config:
    target_s: float  # aim for this long per main measurement
    probe_min_s: float  # calibration probes grow until they last at least this long
    probe_start: int
    max_msgs: int
    repeat: int
    lat_n: int
    lat_warmup: int
    lat_rounds: int
    idle_timeout: float
    deadline_s: float


KINDS = {  # kind -> (number of subscribers, queue group)
    "pub": (0, None),
    "pubsub": (1, None),
    "fanout": (FANOUT, None),
    "queue": (FANOUT, QUEUE),
}


def throughput_once(pool: Pool, srv: Server, cfg: Config, kind: str, size: int, n: int) -> dict:
    nsubs, queue = KINDS[kind]
    pub, subs = pool.workers[0], pool.workers[1 : 1 + nsubs]
    wait = cfg.deadline_s + 30
    for w in subs:
        w.start(
            "sub",
            port=srv.port,
            size=size,
            queue=queue,
            idle_timeout=cfg.idle_timeout,
            deadline_s=cfg.deadline_s,
        )
    errors = []
    for w in subs:
        try:
            w.wait("ready", wait)
        except BenchError as e:
            errors.append(str(e))
    if errors:  # the subscribers that did get ready are blocked waiting for a stream: unblock them
        raise _Resync("; ".join(errors))
    cpu0 = srv.cpu_s()
    pub.start("pub", port=srv.port, size=size, n=n, idle_timeout=cfg.idle_timeout)
    results = []
    for w in [pub, *subs]:
        try:
            results.append(w.wait("done", wait))
        except BenchError as e:
            errors.append(str(e))
            results.append(None)
    server_cpu = srv.cpu_s() - cpu0
    if errors:
        raise BenchError("; ".join(errors))
    p, srs = results[0], results[1:]
    r = {
        "n": n,
        "server_cpu_s": round(server_cpu, 3),
        "loadgen_cpu_s": round(sum(x["cpu"] for x in results), 3),
    }
    pub_s = (p["t_pong"] - p["t0"]) / 1e9
    r["pub_s"] = pub_s
    r["pub_rate"] = n / pub_s
    if not srs:
        r["elapsed_s"] = pub_s
        r["rate"] = r["pub_rate"]
        return r
    t_end = max(x["t_end"] for x in srs)
    elapsed = (t_end - p["t0"]) / 1e9
    counts = [x["msgs"] for x in srs]
    r["elapsed_s"] = elapsed
    r["counts"] = counts
    r["server_pings"] = sum(x["pings"] for x in srs)
    r["sub_recvs"] = sum(x["recvs"] for x in srs)
    if queue:
        if sum(counts) != n:
            raise BenchError(
                f"queue group delivered {sum(counts)} messages in total, published {n} (members: {counts})"
            )
        r["rate"] = n / elapsed
    else:
        wrong = [c for c in counts if c != n]
        if wrong:
            raise BenchError(f"published {n}, subscribers received {counts}")
        r["rate"] = n * len(srs) / elapsed  # delivered msgs/s
        r["delivered_rate"] = r["rate"]
    return r


class _Resync(BenchError):
    """Workers are out of step with the parent; the pool must be restarted."""


def calibrate(pool: Pool, srv: Server, cfg: Config, kind: str, size: int) -> int:
    """Grow the message count until a run lasts probe_min_s; size the real run to ~target_s."""
    n = cfg.probe_start
    while True:
        probe = throughput_once(pool, srv, cfg, kind, size, n)
        if probe["elapsed_s"] >= cfg.probe_min_s or n >= cfg.max_msgs:
            break
        grow = cfg.probe_min_s * 1.5 / max(probe["elapsed_s"], 1e-4)
        n = min(cfg.max_msgs, int(n * min(max(grow, 2.0), 20.0)))
    per_s = probe["n"] / probe["elapsed_s"]
    return int(min(cfg.max_msgs, max(cfg.probe_start, per_s * cfg.target_s)))


def latency_once(pool: Pool, srv: Server, cfg: Config, size: int, n: int) -> dict:
    req, resp = pool.workers[0], pool.workers[1]
    wait = cfg.deadline_s + 30
    resp.start("responder", port=srv.port, idle_timeout=cfg.idle_timeout)
    resp.wait("ready", wait)
    cpu0 = srv.cpu_s()
    req.start(
        "requester", port=srv.port, size=size, n=n, warmup=cfg.lat_warmup, idle_timeout=cfg.idle_timeout
    )
    errors, results = [], []
    for w in (req, resp):
        try:
            results.append(w.wait("done", wait))
        except BenchError as e:
            errors.append(str(e))
    if errors:
        raise BenchError("; ".join(errors))
    if results[1]["served"] != n + cfg.lat_warmup:
        raise BenchError(f"responder served {results[1]['served']}, expected {n + cfg.lat_warmup}")
    return {
        "lat_ns": results[0]["lat_ns"],
        "server_cpu_s": srv.cpu_s() - cpu0,
        "loadgen_cpu_s": results[0]["cpu"] + results[1]["cpu"],
    }


def latency_stats(lat_ns: list[int]) -> dict:
    lat = sorted(lat_ns)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] / 1e3

    return {
        "n": len(lat),
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "min_us": lat[0] / 1e3,
        "max_us": lat[-1] / 1e3,
        "mean_us": sum(lat) / len(lat) / 1e3,
    }


def _guard(pool: Pool, srv: Server, out: dict, key: str, log, fn):
    """Run fn(); on failure record the error under out[key], reset the workers, return None."""
    try:
        return fn()
    except (BenchError, TimeoutError, OSError) as e:
        msg = str(e)
        if not srv.alive():
            msg += f" [server died, exit code {srv.proc.returncode}]\n{srv.log_tail()}"
        out[key] = {"error": msg}
        log(f"  [{srv.name}] {key} FAILED: {msg}")
        pool.reset()  # some workers may still be mid-job; start from a clean slate
        return None


def run_all(pool: Pool, servers: list[Server], cfg: Config, log, results: dict) -> None:
    """Measure every figure on every live server, back to back (servers interleaved).

    Interleaving keeps the natsd/Go ratio honest on a shared machine whose background load
    drifts: each pair of figures is taken within seconds of each other.  Latency rounds
    alternate between the servers and their samples are pooled.  results is filled as we go,
    so an interrupted run keeps what it measured.
    """
    for size in SIZES:
        for kind in ("pub", "pubsub", "fanout", "queue", "reqrep"):
            key = f"{kind}/{size}"
            live = []
            for srv in servers:
                out = results[srv.name]
                if key in out:
                    continue
                if not srv.alive():
                    out[key] = {"error": f"server is not running (exit code {srv.proc.returncode})"}
                    continue
                live.append(srv)
            if kind == "reqrep":
                _measure_latency(pool, live, cfg, size, log, results)
            else:
                _measure_throughput(pool, live, cfg, kind, size, log, results)


def _measure_throughput(pool, live, cfg, kind, size, log, results) -> None:
    key = f"{kind}/{size}"
    counts = {}
    for srv in live:
        n = _guard(
            pool, srv, results[srv.name], key, log, lambda srv=srv: calibrate(pool, srv, cfg, kind, size)
        )
        if n is not None:
            counts[srv.name] = n
    runs: dict[str, list] = {name: [] for name in counts}
    for _ in range(cfg.repeat):
        for srv in live:
            if srv.name not in counts or key in results[srv.name]:
                continue
            n = counts[srv.name]
            r = _guard(
                pool,
                srv,
                results[srv.name],
                key,
                log,
                lambda srv=srv, n=n: throughput_once(pool, srv, cfg, kind, size, n),
            )
            if r is None:
                continue
            runs[srv.name].append(r)
            log(
                f"  [{srv.name:>5}] {kind:<6} {size:>3}B n={n:>10,} {r['elapsed_s']:6.2f}s "
                f"{r['rate']:>12,.0f} msgs/s  (server cpu {r['server_cpu_s']:.2f}s, "
                f"load-gen cpu {r['loadgen_cpu_s']:.2f}s)"
            )
    for name, rs in runs.items():
        if key in results[name] or not rs:
            continue
        rs.sort(key=lambda x: x["rate"])
        med = dict(rs[len(rs) // 2])  # the median run
        med["runs"] = [x["rate"] for x in rs]
        results[name][key] = med


def _measure_latency(pool, live, cfg, size, log, results) -> None:
    key = f"reqrep/{size}"
    rounds = max(1, min(cfg.lat_rounds, cfg.lat_n))
    per_round = [cfg.lat_n // rounds + (1 if i < cfg.lat_n % rounds else 0) for i in range(rounds)]
    acc = {srv.name: {"lat_ns": [], "server_cpu_s": 0.0, "loadgen_cpu_s": 0.0} for srv in live}
    for n in per_round:
        for srv in live:
            if key in results[srv.name]:
                continue
            r = _guard(
                pool,
                srv,
                results[srv.name],
                key,
                log,
                lambda srv=srv, n=n: latency_once(pool, srv, cfg, size, n),
            )
            if r is not None:
                a = acc[srv.name]
                a["lat_ns"] += r["lat_ns"]
                a["server_cpu_s"] += r["server_cpu_s"]
                a["loadgen_cpu_s"] += r["loadgen_cpu_s"]
    for srv in live:
        if key in results[srv.name]:
            continue
        a = acc[srv.name]
        r = latency_stats(a["lat_ns"])
        r.update(
            rounds=rounds,
            server_cpu_s=round(a["server_cpu_s"], 3),
            loadgen_cpu_s=round(a["loadgen_cpu_s"], 3),
        )
        results[srv.name][key] = r
        log(
            f"  [{srv.name:>5}] reqrep {size:>3}B n={r['n']:>10,} p50 {r['p50_us']:8.1f}us  "
            f"p99 {r['p99_us']:8.1f}us  ({rounds} rounds, alternating servers)"
        )


# --------------------------------------------------------------------------- report


ROWS = [  # label, kind, field, unit, higher is better
    ("pub-only", "pub", "rate", "msgs/s", True),
    ("1->1 pub/sub (received)", "pubsub", "rate", "msgs/s", True),
    ("1->4 fan-out (published)", "fanout", "pub_rate", "msgs/s", True),
    ("1->4 fan-out (delivered)", "fanout", "delivered_rate", "msgs/s", True),
    ("1->4 queue group (delivered)", "queue", "rate", "msgs/s", True),
    ("req/reply p50", "reqrep", "p50_us", "us", False),
    ("req/reply p99", "reqrep", "p99_us", "us", False),
]


def fmt(v: float, unit: str) -> str:
    return f"{v:,.0f}" if unit == "msgs/s" else f"{v:,.1f}"


def table(results: dict, servers: list[str]) -> str:
    head = ["benchmark", "size", "unit", *servers]
    if len(servers) == 2:
        head.append(f"{servers[0]}/{servers[1]}")
    rows = [head]
    for size in SIZES:
        for label, kind, fld, unit, _hib in ROWS:
            row = [label, f"{size} B", unit]
            vals = []
            for s in servers:
                r = results.get(s, {}).get(f"{kind}/{size}")
                if r is None:
                    row.append("-")
                    vals.append(None)
                elif "error" in r:
                    row.append("FAILED")
                    vals.append(None)
                else:
                    row.append(fmt(r[fld], unit))
                    vals.append(r[fld])
            if len(servers) == 2:
                a, b = vals
                row.append(f"{a / b:.3f}" if a is not None and b else "-")
            rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for j, r in enumerate(rows):
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def server_argv(name: str, go_bin: str) -> list[str]:
    if name == "natsd":
        return [sys.executable, "-m", "natsd"]
    return [go_bin]


def main(argv: list[str] | None = None) -> int:
    default_go = str(Path(sys.executable).with_name("nats-server"))
    if not os.path.exists(default_go):
        default_go = shutil.which("nats-server") or default_go
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="short smoke run (well under a minute)")
    ap.add_argument("--only", choices=("natsd", "go"), help="benchmark a single server")
    ap.add_argument("--json", metavar="FILE", help="write all results (and raw runs) as JSON")
    ap.add_argument(
        "--seconds", type=float, help="target duration per throughput measurement (default 3, --quick 0.4)"
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs per throughput figure; the median is reported (default 1)"
    )
    ap.add_argument(
        "--requests", type=int, help="timed request/reply round trips (default 5000, --quick 1000)"
    )
    ap.add_argument("--go-server", default=default_go, help=f"nats-server binary (default {default_go})")
    args = ap.parse_args(argv)

    cfg = Config(
        target_s=args.seconds or (0.4 if args.quick else 3.0),
        probe_min_s=0.05 if args.quick else 0.2,
        probe_start=10_000,
        max_msgs=50_000_000,
        repeat=max(1, args.repeat),
        lat_n=args.requests or (1000 if args.quick else 5000),
        lat_warmup=100 if args.quick else 200,
        lat_rounds=2 if args.quick else 5,
        idle_timeout=20.0,
        deadline_s=120.0,
    )
    servers = [args.only] if args.only else ["natsd", "go"]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    results: dict = {}
    meta: dict = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "config": cfg.__dict__,
        "servers": {},
    }
    t_start = time.monotonic()
    pool = None
    started: list[Server] = []
    ready: list[Server] = []
    interrupted = False
    try:
        pool = Pool(1 + FANOUT)
        for name in servers:
            results[name] = {}
            srv = Server(name, server_argv(name, args.go_server))
            log(f"[{name}] starting {' '.join(srv.argv)}")
            started.append(srv)  # before start(): an interrupt mid-start must still stop it
            try:
                srv.start()
            except (BenchError, OSError) as e:
                log(f"[{name}] FAILED to start: {e}")
                srv.stop()
                results[name] = {
                    f"{k}/{s}": {"error": f"server did not start: {e}"}
                    for s in SIZES
                    for k in ("pub", "pubsub", "fanout", "queue", "reqrep")
                }
                continue
            ready.append(srv)
            meta["servers"][name] = {
                "argv": srv.argv,
                "version": srv.info.get("version"),
                "server_name": srv.info.get("server_name"),
            }
            log(f"[{name}] ready on {HOST}:{srv.port} (version {srv.info.get('version')})")
        run_all(pool, ready, cfg, log, results)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted")
    finally:
        for srv in started:
            srv.stop()
        if pool is not None:
            pool.close()

    meta["wall_s"] = round(time.monotonic() - t_start, 1)
    print()
    print(table(results, servers))
    print(
        f"\n(msgs/s: higher is better; latency in microseconds: lower is better; wall time {meta['wall_s']}s)"
    )
    failures: dict[tuple[str, str], list[str]] = {}
    for s, rs in results.items():
        for k, r in rs.items():
            if "error" in r:
                failures.setdefault((s, r["error"]), []).append(k)
    if failures:
        print("\nFAILURES:")
        for (s, e), keys in failures.items():
            print(f"  {s} [{', '.join(keys)}]:\n    " + "\n    ".join(e.strip().splitlines()[:12]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2, default=str)
    if interrupted:
        return 130
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
