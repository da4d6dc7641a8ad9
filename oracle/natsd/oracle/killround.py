"""kill -9 rounds: acknowledged publishes must survive a crash of the server.

One round (``run_round``):

1. start a server (natsd, or the Go server for comparison) with JetStream on a
   store directory that outlives the process; create stream ``Q`` on ``q.>``
   (file storage unless told otherwise);
2. ``writers`` nats-py connections publish distinct values, one at a time each,
   and record every attempt's outcome (``natsd.oracle.queuecheck.Attempt``);
3. once the writers together hold a random number of PubAcks (at least
   ``min_acks``), the server gets SIGKILL while the writers are mid-flight;
4. the server starts again on the same store directory and the stream is read
   back sequence by sequence ($JS.API.STREAM.MSG.GET);
5. ``queuecheck.check`` sorts every value: lost (prefix/middle/postfix per
   writer), recovered, unknown, unexpected, duplicated, wrong, reordered.

``run_rounds`` repeats with a seeded RNG and merges the reports. Nothing here
sleeps a fixed time: the kill is triggered by the acknowledgement count, and
the restart waits for the port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from natsd.oracle.procs import DEFAULT_HOST, ServerProcess, find_executable, free_port
from natsd.oracle.queuecheck import Attempt, QueueReport, Read, check, merge

__all__ = ["run_round", "run_rounds"]

PUBLISH_TIMEOUT = 2.0


def _argv(kind: str, port: int, store: Path) -> list[str]:
    if kind == "go":
        binary = find_executable("nats-server")
        if not binary:
            raise FileNotFoundError("nats-server binary not found")
        return [binary, "-a", DEFAULT_HOST, "-p", str(port), "-js", "-sd", str(store)]
    return [sys.executable, "-m", "natsd", "-a", DEFAULT_HOST, "-p", str(port), "-js", "-sd", str(store)]


def _start(kind: str, workdir: Path, store: Path) -> ServerProcess:
    last: Exception | None = None
    for _ in range(5):
        port = free_port()
        srv = ServerProcess(_argv(kind, port, store), port=port, workdir=workdir, name=kind)
        try:
            return srv.start(timeout=30.0)
        except Exception as e:  # the port was taken meanwhile: try another
            last = e
    assert last is not None
    raise last


async def _writer(w: int, url: str, attempts: list[Attempt], acked: list[int],
                  enough: asyncio.Event, tag: str) -> None:
    import nats
    from nats.js.errors import APIError

    nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0)
    js = nc.jetstream(timeout=PUBLISH_TIMEOUT)
    i = 0
    try:
        while not nc.is_closed:
            value = f"{tag}-{w}-{i}"
            try:
                ack = await js.publish(f"q.{w}", value.encode())
            except APIError:
                attempts.append(Attempt(w, i, value, "fail"))
            except asyncio.CancelledError:  # stopped while waiting: it may have landed
                attempts.append(Attempt(w, i, value, "unknown"))
                raise
            except Exception:  # timeout, connection lost: it may or may not have landed
                attempts.append(Attempt(w, i, value, "unknown"))
                if nc.is_closed or enough.is_set():
                    break
            else:
                attempts.append(Attempt(w, i, value, "ok", ack.seq))
                acked[0] += 1
                if acked[0] >= acked[1]:
                    enough.set()
            i += 1
    finally:
        # nats-py's close can wait on a dead socket: bound it
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), 5)


async def _read_back(url: str, stream: str = "Q") -> list[Read]:
    import nats

    nc = await nats.connect(url, allow_reconnect=False)
    try:
        info = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=10)).data)
        if "error" in info:
            if info["error"].get("err_code") == 10059:  # the stream itself is gone: all lost
                return []
            raise RuntimeError(f"stream {stream} after restart: {info['error']}")
        st = info["state"]
        reads: list[Read] = []
        for seq in range(st["first_seq"], st["last_seq"] + 1):
            body = json.dumps({"seq": seq}).encode()
            r = json.loads((await nc.request(f"$JS.API.STREAM.MSG.GET.{stream}", body, timeout=10)).data)
            if "error" in r:
                if r["error"].get("err_code") == 10037:  # no message found: a gap
                    continue
                raise RuntimeError(f"MSG.GET {seq}: {r['error']}")
            reads.append(Read(r["message"]["seq"], base64.b64decode(r["message"]["data"]).decode()))
        return reads
    finally:
        await nc.close()


async def run_round(rng: random.Random, *, kind: str = "natsd", writers: int = 4, min_acks: int = 20,
                    max_acks: int = 200, storage: str = "file", tag: str = "r") -> tuple[QueueReport, str]:
    """One crash round; returns the check and the restarted server's log tail."""
    workdir = Path(tempfile.mkdtemp(prefix="killround-"))
    store = workdir / "store"
    srv = None
    try:
        srv = _start(kind, workdir, store)
        import nats

        nc = await nats.connect(srv.url, allow_reconnect=False)
        try:
            js = nc.jetstream()
            from nats.js import api

            st = api.StorageType.FILE if storage == "file" else api.StorageType.MEMORY
            await js.add_stream(name="Q", subjects=["q.>"], storage=st)
        finally:
            await nc.close()
        attempts: list[Attempt] = []
        target = rng.randint(min_acks, max_acks)
        acked = [0, target]
        enough = asyncio.Event()
        tasks = [asyncio.create_task(_writer(w, srv.url, attempts, acked, enough, tag)) for w in range(writers)]
        waiter = asyncio.create_task(enough.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED, timeout=120)
        if not done:
            raise RuntimeError(f"writers got {acked[0]} of {target} PubAcks in 120 s")
        if waiter not in done:  # a writer stopped before the kill: report it
            waiter.cancel()
            for t in done:
                t.result()
        assert srv.proc is not None
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        _, stuck = await asyncio.wait(tasks, timeout=60)
        for t in stuck:  # a writer that never noticed the kill: its attempt stays unknown
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        srv.stop()
        srv = _start(kind, workdir, store)
        reads = await _read_back(srv.url)
        return check(attempts, reads), srv.log_tail()
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run_rounds(rounds: int, *, seed: int = 1, kind: str = "natsd", storage: str = "file",
               **kw) -> tuple[QueueReport, list[QueueReport]]:
    rng = random.Random(seed)
    reports = []
    # nats-py logs the expected connection resets of the killed server's clients
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    logging.getLogger("nats").setLevel(logging.CRITICAL)
    for n in range(rounds):
        rep, _log = asyncio.run(run_round(rng, kind=kind, storage=storage, tag=f"r{n}", **kw))
        reports.append(rep)
    return merge(reports), reports


if __name__ == "__main__":  # python -m natsd.oracle.killround [rounds] [natsd|go] [file|memory]
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    k = sys.argv[2] if len(sys.argv) > 2 else "natsd"
    s = sys.argv[3] if len(sys.argv) > 3 else "file"
    total, _ = run_rounds(n, kind=k, storage=s)
    print(total.summary())
    for bucket, examples in total.examples.items():
        print(f"  {bucket}: {examples}")
