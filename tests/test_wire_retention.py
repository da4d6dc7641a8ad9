"""Stream retention with consumers, through nats-py as users see it: interest
streams keep a message until every interested consumer acked it, workqueue
streams drop it at the ack and keep their consumers apart, and max_consumers
refuses one consumer too many.

Each expectation holds against the Go server too (NATSD_WIRE_SERVER=go); the
differential test runs the same scenarios on natsd and Go and compares.
"""

from __future__ import annotations

import nats
import pytest
from nats.js import api
from nats.js.errors import APIError

from natsd.oracle.wire import HOST, run_on_natsd_and_go

pytestmark = pytest.mark.asyncio


@pytest.fixture
def js_server(start_server, tmp_path):
    return start_server(["-js", "-sd", str(tmp_path / "store")])


async def _messages(js, stream: str) -> tuple[int, int, int]:
    state = (await js.stream_info(stream)).state
    return state.messages, state.first_seq, state.last_seq


async def _interest(srv) -> list:
    """Two consumers on an interest stream, one filtered: what the stream keeps."""
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    js = nc.jetstream()
    out: list = []
    try:
        await js.add_stream(
            name="I", subjects=["i.*"], storage=api.StorageType.MEMORY, retention=api.RetentionPolicy.INTEREST
        )
        await js.publish("i.a", b"before")  # no consumer yet: sequence used, nothing kept
        out.append(await _messages(js, "I"))
        only_a = await js.pull_subscribe("i.a", durable="A", stream="I")
        every = await js.pull_subscribe("i.*", durable="E", stream="I")
        for subject in ("i.a", "i.b", "i.a"):
            await js.publish(subject, b"m")
        out.append(await _messages(js, "I"))
        for m in await every.fetch(3, timeout=2):
            await m.ack_sync()
        out.append(await _messages(js, "I"))  # i.b is gone, the i.a messages wait for A
        first, second = await only_a.fetch(2, timeout=2)
        await second.ack_sync()
        out.append(await _messages(js, "I"))
        await first.ack_sync()
        out.append(await _messages(js, "I"))
        await js.publish("i.b", b"m")
        await js.publish("i.a", b"m")
        out.append(await _messages(js, "I"))
        await js.delete_consumer("I", "E")  # nobody is interested in i.b any more
        out.append(await _messages(js, "I"))
    finally:
        await nc.close()
    return out


async def _workqueue(srv) -> list:
    """A workqueue stream: the ack removes; consumers must not overlap."""
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    js = nc.jetstream()
    out: list = []
    try:
        await js.add_stream(
            name="W",
            subjects=["w.*"],
            storage=api.StorageType.MEMORY,
            retention=api.RetentionPolicy.WORK_QUEUE,
        )
        for subject in ("w.a", "w.b", "w.a"):
            await js.publish(subject, b"job")
        a = await js.pull_subscribe("w.a", durable="A", stream="W")
        for cfg in (
            api.ConsumerConfig(durable_name="B", filter_subject="w.*", ack_policy=api.AckPolicy.EXPLICIT),
            api.ConsumerConfig(durable_name="C", ack_policy=api.AckPolicy.EXPLICIT),
            api.ConsumerConfig(durable_name="D", filter_subject="w.b", ack_policy=api.AckPolicy.ALL),
        ):
            try:
                await js.add_consumer("W", cfg)
                out.append("created")
            except APIError as e:
                out.append((e.code, e.err_code, e.description))
        jobs = await a.fetch(2, timeout=2)
        out.append(await _messages(js, "W"))  # delivered is not done
        await jobs[1].ack_sync()
        out.append(await _messages(js, "W"))
        await jobs[0].term()
        await nc.flush()
        out.append(await _messages(js, "W"))
    finally:
        await nc.close()
    return out


async def _max_consumers(srv) -> list:
    nc = await nats.connect(f"nats://{HOST}:{srv.port}", allow_reconnect=False)
    js = nc.jetstream()
    out: list = []
    try:
        await js.add_stream(name="M", subjects=["m"], storage=api.StorageType.MEMORY, max_consumers=1)
        await js.add_consumer("M", api.ConsumerConfig(durable_name="A", ack_policy=api.AckPolicy.EXPLICIT))
        try:
            await js.add_consumer(
                "M", api.ConsumerConfig(durable_name="B", ack_policy=api.AckPolicy.EXPLICIT)
            )
            out.append("created")
        except APIError as e:
            out.append((e.code, e.err_code, e.description))
        await js.delete_consumer("M", "A")
        await js.add_consumer("M", api.ConsumerConfig(durable_name="B", ack_policy=api.AckPolicy.EXPLICIT))
        out.append((await js.stream_info("M")).state.consumer_count)
    finally:
        await nc.close()
    return out


async def test_interest_stream_keeps_a_message_until_every_interested_consumer_acked(js_server):
    assert await _interest(js_server) == [
        (0, 2, 1),  # skipped for lack of interest: the sequence is used
        (3, 2, 4),
        (2, 2, 4),  # E acked all three; i.b had no other interest
        (1, 2, 4),  # A acked the second i.a
        (0, 5, 4),
        (2, 5, 6),
        (1, 6, 6),  # E deleted: i.b (seq 5) goes, i.a stays for A
    ]


async def test_workqueue_stream_removes_on_ack_and_keeps_consumers_apart(js_server):
    assert await _workqueue(js_server) == [
        (400, 10100, "filtered consumer not unique on workqueue stream"),
        (400, 10099, "multiple non-filtered consumers not allowed on workqueue stream"),
        (400, 10098, "workqueue stream requires explicit ack"),
        (3, 1, 3),
        (2, 1, 3),  # the ack of w.a (seq 3) removed it
        (1, 2, 3),  # a terminated message is done with too
    ]


async def test_max_consumers_refuses_one_consumer_too_many(js_server):
    assert await _max_consumers(js_server) == [(400, 10026, "maximum consumers limit reached"), 1]


@pytest.mark.differential
async def test_retention_with_consumers_matches_the_go_server(tmp_path, wire_kind):
    if wire_kind == "go":
        pytest.skip("compares natsd with Go")

    async def scenario(srv) -> list:
        return [await _interest(srv), await _workqueue(srv), await _max_consumers(srv)]

    got = await run_on_natsd_and_go(scenario, tmp_path)
    assert got["natsd"] == got["go"]
