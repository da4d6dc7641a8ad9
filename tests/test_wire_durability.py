"""File streams survive restarts and crashes, through nats-py as users see them.

The store directory lives in pytest's tmp_path (outside the server's work dir),
so a restarted server (same argv, same port) finds it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal

import nats
import pytest
from nats.js import api
from nats.js.errors import NotFoundError

from natsd.oracle.killround import run_round
from natsd.oracle.wire import HOST

pytestmark = pytest.mark.asyncio


async def _connect(srv):
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    return nc, nc.jetstream()


async def _fill(js, n: int, stream: str = "ORDERS") -> list[int]:
    await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"], storage=api.StorageType.FILE,
                        max_msgs_per_subject=100, description="durable")
    seqs = []
    for i in range(n):
        ack = await js.publish(f"{stream.lower()}.{i % 3}", f"m{i}".encode(), headers={"Nats-Msg-Id": f"id{i}"})
        seqs.append(ack.seq)
    return seqs


async def _contents(js, stream: str = "ORDERS") -> list[tuple[int, str, bytes]]:
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            m = await js.get_msg(stream, seq)
        except NotFoundError:
            continue
        out.append((m.seq, m.subject, m.data))
    return out


async def test_file_stream_survives_graceful_restart(start_server, tmp_path):
    srv = start_server(["-js", "-sd", str(tmp_path / "store")])
    nc, js = await _connect(srv)
    try:
        await _fill(js, 30)
        await js.delete_msg("ORDERS", 5)
        await js.purge_stream("ORDERS", subject="orders.2")
        before_info = await js.stream_info("ORDERS")
        before = await _contents(js)
        await js.add_stream(name="MEM", subjects=["mem.>"], storage=api.StorageType.MEMORY)
    finally:
        await nc.close()
    srv.stop()
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        info = await js.stream_info("ORDERS")
        assert info.config.description == "durable" and info.config.max_msgs_per_subject == 100
        assert info.state == before_info.state
        assert await _contents(js) == before
        # dedupe ids survive too, and new publishes continue the sequence
        dup = await js.publish("orders.0", b"again", headers={"Nats-Msg-Id": "id28"})  # orders.1: not purged
        assert dup.duplicate and dup.seq == 29
        assert (await js.publish("orders.0", b"next")).seq == 31
        # memory streams are not brought back, as on a standalone Go server
        with pytest.raises(NotFoundError):
            await js.stream_info("MEM")
    finally:
        await nc.close()


async def test_deleted_file_stream_stays_deleted_after_restart(start_server, tmp_path):
    store = tmp_path / "store"
    srv = start_server(["-js", "-sd", str(store)])
    nc, js = await _connect(srv)
    try:
        await _fill(js, 3)
        await _fill(js, 2, stream="KEEP")
        assert await js.delete_stream("ORDERS")
    finally:
        await nc.close()
    srv.stop()
    assert not os.path.exists(store / "jetstream" / "$G" / "streams" / "ORDERS")
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        assert [s.config.name for s in await js.streams_info()] == ["KEEP"]
    finally:
        await nc.close()


async def test_acknowledged_messages_survive_kill_9(start_server, tmp_path):
    srv = start_server(["-js", "-sd", str(tmp_path / "store")])
    nc, js = await _connect(srv)
    try:
        acked = await _fill(js, 50)
        before = await _contents(js)
    finally:
        await nc.close()
    os.kill(srv.pid, signal.SIGKILL)
    srv.stop()
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        assert await _contents(js) == before and [s for s, _, _ in before] == acked
    finally:
        await nc.close()


async def test_encrypted_store_restarts_with_its_key_and_refuses_a_wrong_one(start_server, tmp_path):
    store = tmp_path / "store"
    conf = "jetstream {{ store_dir: '{store}', key: '{key}', cipher: aes }}"
    srv = start_server(config=conf.format(store=store, key="s3cret-key"))
    nc, js = await _connect(srv)
    try:
        await _fill(js, 10)
        before = await _contents(js)
    finally:
        await nc.close()
    srv.stop()
    blocks = list((store / "jetstream" / "$G" / "streams" / "ORDERS" / "msgs").glob("*.blk"))
    assert blocks and all(b"m1" not in p.read_bytes() for p in blocks)  # nothing in the clear
    snapshot = {p: p.read_bytes() for p in blocks}

    wrong = start_server(config=conf.format(store=store, key="other-key"))
    nc, js = await _connect(wrong)
    try:
        with pytest.raises(NotFoundError):  # not served, and not touched
            await js.stream_info("ORDERS")
    finally:
        await nc.close()
    assert "could not be recovered" in wrong.log_tail()
    wrong.stop()
    assert {p: p.read_bytes() for p in blocks} == snapshot

    right = start_server(config=conf.format(store=store, key="s3cret-key"))
    nc, js = await _connect(right)
    try:
        assert await _contents(js) == before
    finally:
        await nc.close()


async def test_kill_rounds_lose_nothing_acknowledged():
    """Publishers running with acks; SIGKILL; restart: the queue checker finds
    nothing lost, unexpected, duplicated, wrong or reordered (a few rounds here;
    ``python -m natsd.oracle.killround 50`` for the long form)."""
    rng = random.Random(7)
    for n in range(int(os.environ.get("NATSD_KILL_ROUNDS", "3"))):
        rep, log = await run_round(rng, tag=f"t{n}", min_acks=20, max_acks=150)
        assert rep.acknowledged >= 20
        assert rep.valid, f"{rep.summary()}\n{rep.examples}\n{log}"


async def test_kill_round_checker_sees_losses_of_a_memory_stream():
    """The same round on a memory stream must report every acknowledged message
    lost: the check can fail."""
    rep, _ = await run_round(random.Random(3), storage="memory", min_acks=10, max_acks=20)
    assert not rep.valid and rep.lost == rep.acknowledged >= 10
