"""/healthz with JetStream: stream recovery and lookups as the Go server answers them.

Go's standalone healthz walks the store directory: a stream directory the
server did not recover is 503 'could not be recovered'; account, stream and
consumer names asked for must exist (404). Both servers get the same
questions and, where the damage is made in each server's own format, the
same damage. natsd also lists a stream whose recovery cut data under
``recovery`` while staying healthy (a natsd addition).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import nats
import pytest
from nats.js import api

from natsd.oracle.wire import HOST, launch

pytestmark = pytest.mark.asyncio

QUERIES = [
    "/healthz",
    "/healthz?details=true",
    "/healthz?account=$G",
    "/healthz?account=$G&stream=ORDERS",
    "/healthz?account=$G&stream=NOPE",
    "/healthz?account=$G&stream=NOPE&details=true",
    "/healthz?account=NOPE",
    "/healthz?account=$G&stream=ORDERS&consumer=NOPE",
    "/healthz?js-enabled-only=true",
    "/healthz?js-server-only=true",
]


def _get(port: int, path: str) -> tuple[int, dict]:
    url = f"http://{HOST}:{port}{path.replace('$', '%24')}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def get(srv, path: str) -> tuple[int, dict]:
    return await asyncio.to_thread(_get, srv.http_port, path)


async def _make_stream(srv, name: str = "ORDERS", n: int = 20) -> None:
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    try:
        js = nc.jetstream()
        await js.add_stream(name=name, subjects=[f"{name.lower()}.>"], storage=api.StorageType.FILE)
        for i in range(n):
            await js.publish(f"{name.lower()}.{i}", b"x" * 100)
    finally:
        await nc.close()


def _start_both(tmp_path: Path):
    return [launch(["-js", "-sd", str(tmp_path / k)], kind=k, monitor=True) for k in ("natsd", "go")]


async def test_healthz_lookups_match_go(tmp_path):
    servers = _start_both(tmp_path)
    try:
        answers = []
        for srv in servers:
            await _make_stream(srv)
            answers.append([await get(srv, q) for q in QUERIES])
        for q, ours, go in zip(QUERIES, *answers, strict=True):
            assert ours == go, (q, ours, go)
        assert answers[0][4][0] == 404  # the table is not all 200s
    finally:
        for srv in servers:
            srv.stop()


async def test_stream_that_was_not_recovered_is_503_like_go(tmp_path, start_server):
    servers = _start_both(tmp_path)
    try:
        for srv in servers:
            await _make_stream(srv)
    finally:
        for srv in servers:
            srv.stop()
    # damage each server's stream definition in its own format (Go: meta.inf + meta.sum checksum)
    (tmp_path / "natsd" / "jetstream" / "$G" / "streams" / "ORDERS" / "stream.json").write_text("{broken")
    (tmp_path / "go" / "jetstream" / "$G" / "streams" / "ORDERS" / "meta.inf").write_text("{broken")
    servers = [start_server.restart(s) for s in servers]
    for srv in servers:
        status, body = await get(srv, "/healthz")
        assert (status, body) == (503, {"status": "unavailable",
                                        "error": "JetStream stream '$G > ORDERS' could not be recovered"}), srv.kind
        status, body = await get(srv, "/healthz?details=true")
        assert status == 503, srv.kind
        assert body == {"status": "error", "errors": [{
            "type": "STREAM", "account": "$G", "stream": "ORDERS",
            "error": "JetStream stream '$G > ORDERS' could not be recovered"}]}, srv.kind


async def test_recovery_that_cut_data_stays_healthy_and_is_listed(tmp_path, start_server):
    store = tmp_path / "store"
    srv = start_server(["-js", "-sd", str(store)], monitor=True)
    await _make_stream(srv, n=50)
    assert await get(srv, "/healthz") == (200, {"status": "ok"})
    srv.stop()
    block = sorted((store / "jetstream" / "$G" / "streams" / "ORDERS" / "msgs").glob("*.blk"))[-1]
    raw = bytearray(block.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a flipped bit mid-block: recovery keeps the frames before it
    block.write_bytes(bytes(raw))
    srv = start_server.restart(srv)
    status, body = await get(srv, "/healthz")
    assert status == 200 and body["status"] == "ok"
    (loss,) = body["recovery"]
    assert loss["account"] == "$G" and loss["stream"] == "ORDERS"
    assert loss["truncated"] and loss["truncated"][0]["dropped_bytes"] > 0
    status, body = await get(srv, "/healthz?account=$G&stream=ORDERS")
    assert status == 200 and body["recovery"][0]["stream"] == "ORDERS"
