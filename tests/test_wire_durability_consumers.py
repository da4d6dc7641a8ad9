"""Consumers of file streams survive restarts and crashes, through nats-py.

What a durable consumer has delivered, what was acknowledged and what is still
pending (with its delivery count) comes back after a graceful restart and
after kill -9: acknowledged messages are not delivered again, unacknowledged
ones are, counting on. Deleted consumers stay deleted. Each expectation holds
against the Go server too (NATSD_WIRE_SERVER=go), except where a test says so.
"""

from __future__ import annotations

import asyncio
import os
import signal

import nats
import pytest
from nats.js import api
from nats.js.errors import NotFoundError

from natsd.oracle.wire import HOST

pytestmark = pytest.mark.asyncio

ACK_WAIT = 2.0  # seconds: short, so the redelivery after the restart comes soon


async def _connect(srv):
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    return nc, nc.jetstream()


def _counters(info) -> tuple:
    return (info.delivered.consumer_seq, info.delivered.stream_seq, info.ack_floor.consumer_seq,
            info.ack_floor.stream_seq, info.num_ack_pending, info.num_redelivered, info.num_pending,
            info.num_waiting)


async def _worked_consumer(nc, js):
    """ORDERS with 8 messages; durable pull WORKER got 6 and acknowledged 1, 2, 3 and 5.

    Message 4 was delivered a second time before the restart (a nak), so it
    carries a redelivery count.
    """
    await js.add_stream(name="ORDERS", subjects=["orders.>"], storage=api.StorageType.FILE)
    for i in range(1, 9):
        await js.publish(f"orders.{i}", f"m{i}".encode())
    await js.add_consumer("ORDERS", api.ConsumerConfig(durable_name="WORKER", ack_policy=api.AckPolicy.EXPLICIT,
                                                       ack_wait=ACK_WAIT, description="survives"))
    sub = await js.pull_subscribe_bind("WORKER", stream="ORDERS")
    msgs = await sub.fetch(6, timeout=5)
    assert [m.metadata.sequence.stream for m in msgs] == [1, 2, 3, 4, 5, 6]
    for m in msgs:
        if m.metadata.sequence.stream in (1, 2, 3, 5):
            await m.ack_sync()
    await nc.request(msgs[3].reply, b"-NAK", timeout=5)  # a nak with a reply: taken before the next pull
    (again,) = await sub.fetch(1, timeout=5)
    assert (again.metadata.sequence.stream, again.metadata.num_delivered) == (4, 2)
    info = await js.consumer_info("ORDERS", "WORKER")
    assert _counters(info) == (7, 6, 3, 3, 2, 1, 2, 0)
    return info


async def _check_resumes(js, before) -> None:
    """After the restart: same counters; 4 and 6 come again counting on, then 7 and 8, never 1, 2, 3, 5."""
    info = await js.consumer_info("ORDERS", "WORKER")
    assert _counters(info) == _counters(before)
    assert info.created == before.created and info.config.description == "survives"
    assert info.config.ack_wait == ACK_WAIT
    sub = await js.pull_subscribe_bind("WORKER", stream="ORDERS")
    got = {}
    while len(got) < 4:  # redeliveries come once ack_wait has passed since the delivery before the restart
        for m in await sub.fetch(4 - len(got), timeout=10):
            seq = m.metadata.sequence.stream
            assert seq not in got, f"{seq} delivered twice after the restart"
            got[seq] = m.metadata.num_delivered
            await m.ack_sync()
    assert got == {4: 3, 6: 2, 7: 1, 8: 1}
    await js.publish("orders.9", b"m9")
    (m9,) = await sub.fetch(1, timeout=5)
    assert (m9.metadata.sequence.stream, m9.metadata.sequence.consumer, m9.metadata.num_delivered) == (9, 12, 1)
    await m9.ack_sync()
    info = await js.consumer_info("ORDERS", "WORKER")
    assert _counters(info) == (12, 9, 12, 9, 0, 0, 0, 0)


async def test_durable_pull_consumer_survives_graceful_restart(start_server, tmp_path):
    srv = start_server(["-js", "-sd", str(tmp_path / "store")])
    nc, js = await _connect(srv)
    try:
        before = await _worked_consumer(nc, js)
    finally:
        await nc.close()
    srv.stop()
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        await _check_resumes(js, before)
    finally:
        await nc.close()


async def test_durable_pull_consumer_survives_kill_9(start_server, tmp_path, wire_kind):
    if wire_kind == "go":
        pytest.skip("Go writes consumer state in the background: a kill -9 can lose the last acks")
    srv = start_server(["-js", "-sd", str(tmp_path / "store")])
    nc, js = await _connect(srv)
    try:
        before = await _worked_consumer(nc, js)
    finally:
        await nc.close()
    os.kill(srv.pid, signal.SIGKILL)
    srv.stop()
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        await _check_resumes(js, before)
    finally:
        await nc.close()


async def test_deleted_consumers_stay_deleted_and_ephemerals_come_back(start_server, tmp_path):
    srv = start_server(["-js", "-sd", str(tmp_path / "store")])
    nc, js = await _connect(srv)
    try:
        await js.add_stream(name="ORDERS", subjects=["orders.>"], storage=api.StorageType.FILE)
        await js.add_stream(name="MEM", subjects=["mem.>"], storage=api.StorageType.MEMORY)
        for durable in ("KEEP", "GONE"):
            await js.add_consumer("ORDERS", api.ConsumerConfig(durable_name=durable, ack_policy=api.AckPolicy.EXPLICIT))
        await js.add_consumer("MEM", api.ConsumerConfig(durable_name="M"))
        # mem_storage (what nats-py's ordered consumers ask for) keeps a consumer in memory, even a durable
        await js.add_consumer("ORDERS", api.ConsumerConfig(durable_name="INMEM", mem_storage=True))
        eph = await js.add_consumer("ORDERS", api.ConsumerConfig(ack_policy=api.AckPolicy.EXPLICIT,
                                                                 inactive_threshold=600.0, filter_subject="orders.x"))
        assert await js.delete_consumer("ORDERS", "GONE")
        await js.publish("orders.x", b"one")
    finally:
        await nc.close()
    srv.stop()
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        names = sorted(c.name for c in await js.consumers_info("ORDERS"))
        assert names == sorted(["KEEP", eph.name])
        with pytest.raises(NotFoundError):
            await js.consumer_info("ORDERS", "GONE")
        info = await js.consumer_info("ORDERS", eph.name)
        assert info.config.durable_name is None and info.config.inactive_threshold == 600.0
        assert info.config.filter_subject == "orders.x" and info.num_pending == 1
        with pytest.raises(NotFoundError):  # memory streams (and their consumers) do not come back
            await js.consumer_info("MEM", "M")
        with pytest.raises(NotFoundError):
            await js.consumer_info("ORDERS", "INMEM")
    finally:
        await nc.close()
    os.kill(srv2.pid, signal.SIGKILL)
    srv2.stop()
    srv3 = await asyncio.to_thread(start_server.restart, srv2)
    nc, js = await _connect(srv3)
    try:
        assert await js.delete_consumer("ORDERS", "KEEP")
    finally:
        await nc.close()
    srv3.stop()
    srv4 = await asyncio.to_thread(start_server.restart, srv3)
    nc, js = await _connect(srv4)
    try:
        assert [c.name for c in await js.consumers_info("ORDERS")] == [eph.name]
    finally:
        await nc.close()


async def test_damaged_consumer_files_are_reported_not_trusted(start_server, tmp_path, wire_kind):
    if wire_kind == "go":
        pytest.skip("natsd's own file format (obs/<consumer>/consumer.json, state.0, state.1)")
    store = tmp_path / "store"
    srv = start_server(["-js", "-sd", str(store)])
    nc, js = await _connect(srv)
    try:
        await js.add_stream(name="ORDERS", subjects=["orders.>"], storage=api.StorageType.FILE)
        for i in range(3):
            await js.publish(f"orders.{i}", b"x")
        for durable in ("TORN", "BROKEN"):
            await js.add_consumer("ORDERS", api.ConsumerConfig(durable_name=durable, ack_policy=api.AckPolicy.EXPLICIT))
        sub = await js.pull_subscribe_bind("TORN", stream="ORDERS")
        for m in await sub.fetch(3, timeout=5):
            await m.ack_sync()
        assert _counters(await js.consumer_info("ORDERS", "TORN"))[:4] == (3, 3, 3, 3)
    finally:
        await nc.close()
    srv.stop()
    obs = store / "jetstream" / "$G" / "streams" / "ORDERS" / "obs"
    for slot in ("state.0", "state.1"):  # both copies of the state damaged (a disk that lies)
        state = obs / "TORN" / slot
        state.write_bytes(state.read_bytes()[:-7])
    definition = obs / "BROKEN" / "consumer.json"
    definition.write_bytes(definition.read_bytes().replace(b'"BROKEN"', b'"BROKEX"', 1))  # checksum no longer holds
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        # the state cannot be trusted: the consumer starts from its configuration, as a new one
        info = await js.consumer_info("ORDERS", "TORN")
        assert _counters(info) == (0, 0, 0, 0, 0, 0, 3, 0)
        with pytest.raises(NotFoundError):  # not served, and its directory left alone
            await js.consumer_info("ORDERS", "BROKEN")
        assert definition.exists()
    finally:
        await nc.close()


async def test_workqueue_interest_push_and_paused_consumers_after_restart(start_server, tmp_path):
    srv = start_server(["-js", "-sd", str(tmp_path / "store")])
    nc, js = await _connect(srv)
    try:
        await js.add_stream(name="WQ", subjects=["wq.>"], storage=api.StorageType.FILE,
                            retention=api.RetentionPolicy.WORK_QUEUE)
        await js.add_stream(name="INT", subjects=["int.>"], storage=api.StorageType.FILE,
                            retention=api.RetentionPolicy.INTEREST)
        await js.add_consumer("WQ", api.ConsumerConfig(durable_name="JOBS", ack_policy=api.AckPolicy.EXPLICIT,
                                                       ack_wait=ACK_WAIT))
        for durable in ("A", "B"):
            await js.add_consumer("INT", api.ConsumerConfig(durable_name=durable, ack_policy=api.AckPolicy.EXPLICIT,
                                                            ack_wait=ACK_WAIT))
        await js.add_consumer("INT", api.ConsumerConfig(durable_name="PUSH", ack_policy=api.AckPolicy.EXPLICIT,
                                                        deliver_subject="push.out", ack_wait=ACK_WAIT))
        for i in range(4):
            await js.publish(f"wq.{i}", f"w{i}".encode())
            await js.publish(f"int.{i}", f"i{i}".encode())
        jobs = await js.pull_subscribe_bind("JOBS", stream="WQ")
        for m in (await jobs.fetch(2, timeout=5)):
            await m.ack_sync()
        for durable in ("A", "B"):  # both acknowledge 1; only A acknowledges 2
            sub = await js.pull_subscribe_bind(durable, stream="INT")
            for m in await sub.fetch(2, timeout=5):
                if durable == "A" or m.metadata.sequence.stream == 1:
                    await m.ack_sync()
        pushed = await nc.subscribe("push.out")
        for _ in range(4):  # PUSH acknowledges everything
            m = await pushed.next_msg(timeout=5)
            await nc.request(m.reply, b"", timeout=5)
        await pushed.unsubscribe()
        await nc.flush()
        await nc.request("$JS.API.CONSUMER.PAUSE.WQ.JOBS", b'{"pause_until": "2099-01-01T00:00:00Z"}', timeout=5)
        assert (await js.stream_info("WQ")).state.messages == 2
        assert (await js.stream_info("INT")).state.messages == 3
        push_before = _counters(await js.consumer_info("INT", "PUSH"))
    finally:
        await nc.close()
    srv.stop()
    srv2 = await asyncio.to_thread(start_server.restart, srv)
    nc, js = await _connect(srv2)
    try:
        info = await js.consumer_info("WQ", "JOBS")
        assert info.config.pause_until is not None and info.config.pause_until.startswith("2099-01-01")
        assert info.paused and _counters(info)[:4] == (2, 2, 2, 2)
        await nc.request("$JS.API.CONSUMER.PAUSE.WQ.JOBS", b"{}", timeout=5)  # resume
        jobs = await js.pull_subscribe_bind("JOBS", stream="WQ")
        msgs = await jobs.fetch(2, timeout=5)
        assert [m.data for m in msgs] == [b"w2", b"w3"]
        for m in msgs:
            await m.ack_sync()
        assert (await js.stream_info("WQ")).state.messages == 0
        # interest: 2 is still needed by B; acknowledging it removes it
        assert _counters(await js.consumer_info("INT", "PUSH")) == push_before
        b = await js.pull_subscribe_bind("B", stream="INT")
        got = {}
        while len(got) < 3:  # 3 and 4 at once; the redelivery of 2 after its ack_wait
            for m in await b.fetch(3 - len(got), timeout=10):
                got[m.metadata.sequence.stream] = m.metadata.num_delivered
                await m.ack_sync()
        assert got == {2: 2, 3: 1, 4: 1}
        assert (await js.stream_info("INT")).state.messages == 2
    finally:
        await nc.close()
